/*
 * tokenizer.h: the engine's tokenizers, built from a GGUF vocabulary.
 *
 * Two kinds, named by the GGUF key tokenizer.ggml.model:
 *
 *  - "gpt2": byte-level BPE.  Text is first split into pre-tokens by the
 *    regular expressions of the pre-tokenizer named by tokenizer.ggml.pre
 *    (compiled with PCRE2 in UTF and Unicode-property mode, JIT when
 *    available), applied one after the other as the Hugging Face
 *    tokenizers' "Split ... Isolated" steps do: every match and every gap
 *    between matches becomes a piece of its own, and the next expression
 *    splits each piece further.  Each byte of a piece is then mapped to a
 *    printable character (GPT-2's bytes_to_unicode table) and the pairs
 *    of tokenizer.ggml.merges are applied, lowest rank (earliest in the
 *    list) first and leftmost first among equal ranks.
 *  - "llama": SentencePiece-style BPE.  Spaces become U+2581, a space is
 *    put in front of the text (and after each special token) when
 *    add_space_prefix is on, and adjacent pieces are merged highest score
 *    first; a character with no token of its own is spelt with byte
 *    tokens "<0xNN>" (byte fallback), or the unknown token.
 *
 * Special tokens.  Tokens typed CONTROL, USER_DEFINED or UNKNOWN are never
 * produced by merges.  USER_DEFINED tokens are always recognised in text;
 * CONTROL and UNKNOWN tokens (such as "<|im_start|>") only when the caller
 * asks with INFER_TOK_SPECIAL.  Where several could match, the leftmost
 * one wins, and the longest among those starting there.
 *
 * Invalid UTF-8.  Encoding never fails because of the bytes of the text.
 * A byte that does not belong to a well-formed UTF-8 sequence (a stray
 * continuation byte, a truncated sequence, an overlong form, a surrogate,
 * a code point past U+10FFFF) is a piece of its own: the pre-tokenizer
 * regular expressions run only on the well-formed stretches between such
 * bytes, and the byte itself becomes its byte token (byte-level BPE) or
 * its "<0xNN>" token (SentencePiece), so that decoding gives back exactly
 * the bytes that were encoded.  Without such a token the unknown token is
 * used, or the byte is dropped when there is none.  (A few vocabularies,
 * DeepSeek's among them, hold the characters of the bytes that never
 * occur in UTF-8, C0 C1 F5..FF, only as added tokens; as in llama.cpp,
 * those tokens are used, and they decode to the character.)
 *
 * Decoding.  infer_tok_decode() gives back raw bytes (text -> ids -> text
 * is the identity for byte-level BPE, and for SentencePiece once the
 * leading space is stripped with INFER_TOK_STRIP_SPACE).  A stream
 * (struct infer_tok_stream) hands out text token by token and always
 * valid UTF-8: bytes of a character split across tokens are held back
 * until it completes, and bytes that can never form a character become
 * U+FFFD, one per maximal ill-formed subsequence (Unicode 15, section
 * 3.9).
 *
 * A tokenizer is immutable once built: any number of threads may use it
 * at the same time.  It copies everything it needs, so the arrays and the
 * GGUF file it was built from may go away afterwards.
 */
#ifndef AGENTD_INFERENCE_TOKENIZER_H
#define AGENTD_INFERENCE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "inference/gguf.h"
#include "inference/infer.h"

/*
 * Flags for encoding and decoding.  INFER_TOK_ADD_SPECIAL (add BOS/EOS
 * as the vocabulary asks) and INFER_TOK_SPECIAL (recognise control tokens
 * in text; render them when decoding) come from infer.h.
 */
/* Decoding: drop the space the SentencePiece prefix rule put in front. */
#define INFER_TOK_STRIP_SPACE 0x100

/* The tokenizer kinds (tokenizer.ggml.model). */
enum infer_tok_model {
	INFER_TOK_MODEL_BPE = 1, /* "gpt2": byte-level BPE */
	INFER_TOK_MODEL_SPM = 2, /* "llama": SentencePiece-style BPE */
};

/* Token types, numbered as tokenizer.ggml.token_type numbers them. */
enum infer_tok_type {
	INFER_TOK_TYPE_UNDEFINED = 0,
	INFER_TOK_TYPE_NORMAL = 1,
	INFER_TOK_TYPE_UNKNOWN = 2,
	INFER_TOK_TYPE_CONTROL = 3,
	INFER_TOK_TYPE_USER_DEFINED = 4,
	INFER_TOK_TYPE_UNUSED = 5,
	INFER_TOK_TYPE_BYTE = 6,
};

/* A string that need not be NUL-terminated. */
struct infer_tok_str {
	const char *s;
	size_t len;
};

/* A byte range of a text. */
struct infer_tok_range {
	size_t off;
	size_t len;
};

/*
 * What a tokenizer is built from: the vocabulary as plain arrays, the way
 * a GGUF file stores it.  Ids are indexes into tokens[]; an id of -1
 * means "none".
 */
struct infer_tok_params {
	/* Names the source in messages (a file name); may be NULL. */
	const char *name;
	enum infer_tok_model model;
	/*
	 * The pre-tokenizer (tokenizer.ggml.pre) of a BPE vocabulary; NULL
	 * or "" means "gpt-2".  Ignored for SPM.
	 */
	const char *pre;

	size_t n_tokens;
	const struct infer_tok_str *tokens; /* n_tokens token texts */
	const float *scores;  /* n_tokens, or NULL (all 0); SPM merges */
	const int32_t *types; /* n_tokens enum infer_tok_type, or NULL */

	/* BPE merges, "left right" each, rank = index; NULL for SPM. */
	size_t n_merges;
	const struct infer_tok_str *merges;

	int32_t bos, eos, eot, eom, unk, pad, sep;
	/* 1 or 0, or -1 for the kind's default. */
	int add_bos, add_eos, add_space_prefix;

	/*
	 * Optional: receives one line (naming the source) for each oddity
	 * that is tolerated (see infer_tok_new).  Called only while
	 * building.
	 */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

struct infer_tok;

/* Fills params with an empty vocabulary: every id -1, defaults -1. */
void infer_tok_params_init(struct infer_tok_params *params);

/*
 * Builds a tokenizer from params, checking it: a known kind and
 * pre-tokenizer, at least one token, no duplicate token texts, every
 * merge of the form "left right", and BOS/EOS present when the
 * vocabulary itself asks for them to be added (add_bos/add_eos 1).  As
 * llama.cpp does, it tolerates (and reports to warn) special ids out of
 * range (taken as none), unknown token types (taken as undefined), empty
 * tokens (never matched) and merges whose parts or result are not tokens
 * (skipped: they could never produce a token); a default add_bos yields
 * to a missing BOS.  SentencePiece vocabularies without ids get llama.cpp's defaults
 * (<unk> 0, <s> 1, </s> 2).  Without an EOT id, the first of
 * "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>",
 * "<|end_of_text|>", "<end_of_turn>" in the vocabulary is the EOT; such
 * end-of-turn tokens typed NORMAL are made CONTROL.  Returns a new
 * tokenizer (caller frees), or NULL with *cause naming the source, the
 * item and what is wrong.
 */
struct infer_tok *infer_tok_new(
    const struct infer_tok_params *params, char **cause);

/*
 * Builds a tokenizer from the tokenizer.ggml.* metadata of an open GGUF
 * file (vocabulary-only files too).  warn/warn_arg as in params (may be
 * NULL).  Returns a new tokenizer (caller frees), or NULL with *cause
 * naming the file and the key.
 */
struct infer_tok *infer_tok_from_gguf(const struct infer_gguf *g,
    void (*warn)(void *arg, const char *msg), void *warn_arg, char **cause);

/* Frees a tokenizer.  Accepts NULL. */
void infer_tok_free(struct infer_tok *tok);

/*
 * Splits len bytes of text into token ids.  flags: INFER_TOK_ADD_SPECIAL
 * adds BOS (and EOS) when the vocabulary asks for them;
 * INFER_TOK_SPECIAL recognises control tokens written in the text.
 * Returns a new array of *n ids (caller frees; never NULL on success,
 * even when *n is 0), or NULL when memory runs out or the regular
 * expression engine gives up (a resource limit), with *cause set.
 */
int32_t *infer_tok_encode(const struct infer_tok *tok, const char *text,
    size_t len, int flags, size_t *n, char **cause);

/*
 * As infer_tok_encode(), but special tokens are never recognised inside
 * the n_plain ranges of the text (sorted, not overlapping): a chat
 * template's markers are parsed while the messages' contents, which may
 * come from anywhere, stay plain text.  The ids are otherwise exactly
 * those of infer_tok_encode().
 */
int32_t *infer_tok_encode_ranges(const struct infer_tok *tok, const char *text,
    size_t len, int flags, const struct infer_tok_range *plain, size_t n_plain,
    size_t *n, char **cause);

/*
 * Splits len bytes of plain text (special tokens are not looked for)
 * into the pieces that merges run on, as offsets into text: the
 * pre-tokenizer's pieces and the lone ill-formed bytes for BPE; the whole
 * text for SPM.  For tests and tools.  Returns a new array of *n ranges
 * (caller frees; never NULL on success), or NULL with *cause set.
 */
struct infer_tok_range *infer_tok_split(const struct infer_tok *tok,
    const char *text, size_t len, size_t *n, char **cause);

/*
 * Returns the bytes token id stands for when decoded (borrowed, valid
 * while the tokenizer lives; not NUL-terminated) and their count in *len;
 * control and unknown tokens have their text only with INFER_TOK_SPECIAL
 * in flags, unused tokens none.  Returns NULL (with *len 0) for an id out
 * of range.
 */
const char *infer_tok_piece(
    const struct infer_tok *tok, int32_t id, int flags, size_t *len);

/*
 * Turns n ids into text: the pieces one after the other, raw bytes (not
 * checked for UTF-8).  flags: INFER_TOK_SPECIAL renders control tokens;
 * INFER_TOK_STRIP_SPACE drops one leading space from the first non-empty
 * piece when the vocabulary adds a space prefix (SentencePiece), for ids
 * that begin a text.  Returns a new NUL-terminated string of *len bytes
 * (caller frees), or NULL for an id out of range (named in *cause).
 */
char *infer_tok_decode(const struct infer_tok *tok, const int32_t *ids,
    size_t n, int flags, size_t *len, char **cause);

/*
 * Streaming decoder state; owns no memory.  Initialise with
 * infer_tok_stream_init().
 */
struct infer_tok_stream {
	int flags;
	int started;      /* a non-empty piece was seen */
	size_t n_pending; /* bytes held back, 0..3 */
	unsigned char pending[4];
};

/* The most bytes one push or flush can write (see infer_tok_stream_push). */
#define INFER_TOK_STREAM_MAX(maxpiece) (3 * ((maxpiece) + 4))

/* Starts a stream; flags as for infer_tok_decode(). */
void infer_tok_stream_init(struct infer_tok_stream *st, int flags);

/*
 * Decodes token id and writes to out the valid UTF-8 text that is now
 * complete: held bytes and the token's bytes, less the bytes of a
 * character that may still complete with the next token, with U+FFFD for
 * each maximal ill-formed subsequence.  Returns the number of bytes
 * written, or -1 when id is out of range or cap is below
 * INFER_TOK_STREAM_MAX(infer_tok_max_piece(tok)) (nothing is consumed).
 */
int infer_tok_stream_push(const struct infer_tok *tok,
    struct infer_tok_stream *st, int32_t id, char *out, size_t cap,
    char **cause);

/*
 * Ends the stream: writes U+FFFD if bytes of an unfinished character are
 * held (at most 3 bytes of out) and returns the count; the stream is then
 * empty and may be reused.
 */
size_t infer_tok_stream_flush(
    struct infer_tok_stream *st, char *out, size_t cap);

/* The number of tokens. */
uint32_t infer_tok_n_vocab(const struct infer_tok *tok);

/* The kind, and the pre-tokenizer's canonical name ("" for SPM). */
enum infer_tok_model infer_tok_model(const struct infer_tok *tok);
const char *infer_tok_pre_name(const struct infer_tok *tok);

/* The longest piece any token decodes to, in bytes. */
size_t infer_tok_max_piece(const struct infer_tok *tok);

/* Special ids, each -1 when the vocabulary has none. */
int32_t infer_tok_bos(const struct infer_tok *tok);
int32_t infer_tok_eos(const struct infer_tok *tok);
int32_t infer_tok_eot(const struct infer_tok *tok);
int32_t infer_tok_unk(const struct infer_tok *tok);
int32_t infer_tok_pad(const struct infer_tok *tok);
/* The token that encodes "\n" alone, or -1. */
int32_t infer_tok_newline(const struct infer_tok *tok);

/* Whether encoding with INFER_TOK_ADD_SPECIAL adds BOS, EOS. */
int infer_tok_adds_bos(const struct infer_tok *tok);
int infer_tok_adds_eos(const struct infer_tok *tok);

/*
 * Returns 1 when id ends generation: EOS, EOT, EOM, and tokens whose text
 * marks an end of turn or text ("<|eot_id|>", "<|im_end|>",
 * "<|endoftext|>", "<|end_of_text|>", "<end_of_turn>", "<|end|>",
 * "<|eom_id|>", "<EOT>"); else 0 (also for an id out of range).
 */
int infer_tok_is_eog(const struct infer_tok *tok, int32_t id);

/*
 * The raw text of token id as the vocabulary stores it (borrowed,
 * NUL-terminated), its type, and its score; NULL, INFER_TOK_TYPE_UNDEFINED
 * and 0 for an id out of range.
 */
const char *infer_tok_text(const struct infer_tok *tok, int32_t id);
enum infer_tok_type infer_tok_type(const struct infer_tok *tok, int32_t id);
float infer_tok_score(const struct infer_tok *tok, int32_t id);

/* The id of the token whose raw text is s (len bytes), or -1. */
int32_t infer_tok_find(const struct infer_tok *tok, const char *s, size_t len);

#endif /* AGENTD_INFERENCE_TOKENIZER_H */
