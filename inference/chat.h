/*
 * chat.h: chat templates.
 *
 * A GGUF file's tokenizer.chat_template is a Jinja template.  Rather than
 * run Jinja, the engine recognises the family a template belongs to from
 * marker substrings of its text (the way llama.cpp does) and renders the
 * family's format itself:
 *
 *   chatml            <|im_start|>ROLE\nCONTENT<|im_end|>\n ...
 *                     generation prompt <|im_start|>assistant\n
 *                     (Qwen 2/3, Qwen MoE, OLMoE-instruct, many others)
 *   llama3            <|start_header_id|>ROLE<|end_header_id|>\n\n
 *                     CONTENT(trimmed)<|eot_id|> ...
 *                     generation prompt
 *                     <|start_header_id|>assistant<|end_header_id|>\n\n
 *   mistral-v1/v3/v3-tekken/v7/v7-tekken, llama2 (+ -sys, -sys-bos,
 *   -sys-strip)       the [INST] ... [/INST] formats, as llama.cpp
 *                     renders them (no generation prompt: the assistant
 *                     text follows [/INST] directly)
 *   granite           <|start_of_role|>ROLE<|end_of_role|>CONTENT
 *                     <|end_of_text|>\n ...
 *                     generation prompt <|start_of_role|>assistant
 *                     <|end_of_role|> (no newline, as IBM's templates)
 *   generic           any other template: "System: ...\n\nUser: ...\n\n"
 *                     and the generation prompt "Assistant:"
 *   raw               no template: the contents, one after the other,
 *                     exactly as given (plain completion)
 *
 * What the families leave out: the BOS token (the tokenizer adds it when
 * the vocabulary asks, see INFER_TOK_ADD_SPECIAL), default system prompts
 * and dates that some templates insert, tool-call syntax.  Trimming, where
 * a family trims, removes ASCII white space (" \t\n\v\f\r").
 *
 * Rendering also reports where each message's content lies in the text,
 * so that the caller can tokenize the template's markers as special
 * tokens while the contents stay plain text (infer_tok_encode_ranges):
 * a message that contains "<|im_end|>" then cannot end its turn early.
 */
#ifndef AGENTD_INFERENCE_CHAT_H
#define AGENTD_INFERENCE_CHAT_H

#include <stddef.h>

#include "inference/infer.h"
#include "inference/tokenizer.h"

/* Template families. */
enum infer_chat_tmpl {
	INFER_CHAT_RAW = 0,
	INFER_CHAT_CHATML,
	INFER_CHAT_LLAMA3,
	INFER_CHAT_LLAMA2,
	INFER_CHAT_LLAMA2_SYS,
	INFER_CHAT_LLAMA2_SYS_BOS,
	INFER_CHAT_LLAMA2_SYS_STRIP,
	INFER_CHAT_MISTRAL_V1,
	INFER_CHAT_MISTRAL_V3,
	INFER_CHAT_MISTRAL_V3_TEKKEN,
	INFER_CHAT_MISTRAL_V7,
	INFER_CHAT_MISTRAL_V7_TEKKEN,
	INFER_CHAT_GRANITE,
	INFER_CHAT_GENERIC,
	INFER_CHAT_COUNT
};

/*
 * Recognises the family of the template text tmpl (len bytes; need not
 * be NUL-terminated).  A family's name (as infer_chat_tmpl_name gives
 * it) is also accepted as the whole text.  NULL or an empty text gives
 * INFER_CHAT_RAW; a template of no known family INFER_CHAT_GENERIC.
 */
enum infer_chat_tmpl infer_chat_detect(const char *tmpl, size_t len);

/* The family's name: "chatml", "llama3", "mistral-v7", ..., "raw". */
const char *infer_chat_tmpl_name(enum infer_chat_tmpl t);

/*
 * The family named name (as infer_chat_tmpl_name gives it); returns 0, or
 * -1 with *cause listing the names.
 */
int infer_chat_tmpl_from_name(
    const char *name, enum infer_chat_tmpl *t, char **cause);

/*
 * Renders n messages with family t; with add_assistant, the text ends
 * with what opens an assistant turn (families that have one).  Roles:
 * any word of ASCII letters, digits, '_' and '-' for the families that
 * write the role as text (chatml, llama3, granite, generic); "system",
 * "user" or "assistant" for the [INST] families.  When content is not
 * NULL it receives a new array (caller frees) of *n_content ranges, the
 * place of each message's content in the text, in order (empty contents
 * included).  Returns a new NUL-terminated string of *len bytes (caller
 * frees), or NULL with *cause naming the message and what is wrong.
 */
char *infer_chat_apply(enum infer_chat_tmpl t,
    const struct infer_chat_msg *msgs, size_t n, int add_assistant, size_t *len,
    struct infer_tok_range **content, size_t *n_content, char **cause);

#endif /* AGENTD_INFERENCE_CHAT_H */
