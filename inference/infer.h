/*
 * infer.h: the public interface of the inference engine.
 *
 * The engine runs GGUF models (the files llama.cpp, Ollama and LM Studio
 * use) on the CPU.  Its objects:
 *
 *  - A model (struct infer_model): loaded once from a GGUF file by mmap,
 *    read-only afterwards and shared by every thread.  It owns the
 *    weights, the tokenizer, the chat template and a pool of worker
 *    threads that every forward pass runs on.
 *  - A sequence (struct infer_seq): one token stream and its KV cache.
 *    Tokens are fed in batches (prefill), decoded one at a time, decoded
 *    together with other sequences in one forward pass, truncated back to
 *    n tokens, and forked into an independent copy.
 *  - A sampler (struct infer_sampler): turns logits into a token with
 *    greedy or seeded random sampling, temperature, top-k, top-p, min-p,
 *    repetition penalty and logit bias, and reports the log-probability
 *    of the chosen token.
 *  - A thread pool (struct infer_pool): persistent workers that split a
 *    job by rows.
 *
 * Conventions.  Functions that can fail return -1 or NULL and, when the
 * failure comes from input (a file, a token id, a size), set *cause to an
 * allocated message naming what and where; the caller frees it.  cause
 * may be NULL when the caller does not want the message.  Every _free
 * accepts NULL.  The engine never prints: messages go to the callback set
 * with infer_log_set().
 *
 * Threads.  A model may be used from any thread.  Forward passes (feed,
 * decode, batched decode) on any sequences of one model are serialised by
 * the model: each runs on all the model's worker threads in turn.  A
 * sequence or a sampler must not be used by two threads at once.
 *
 * Determinism.  Work is split by whole output rows and attention heads,
 * so every value is computed by one thread in a fixed order: logits are
 * bit-identical whatever the thread count, and a seeded sampler repeats
 * its choices exactly.
 */
#ifndef AGENTD_INFERENCE_INFER_H
#define AGENTD_INFERENCE_INFER_H

#include <stddef.h>
#include <stdint.h>

/* ---- logging ---------------------------------------------------------- */

/* Levels, numbered as syslog(3) and sd-daemon(3) number them. */
enum infer_log_level {
	INFER_LOG_ERR = 3,
	INFER_LOG_WARN = 4,
	INFER_LOG_INFO = 6,
	INFER_LOG_DEBUG = 7,
};

/*
 * Sends the engine's log lines (without a trailing newline) to fn, with
 * arg as its last argument; fn may be called from any thread, but never
 * concurrently with itself.  NULL silences the engine, which is the
 * default.  Set it before loading a model.
 */
void infer_log_set(
    void (*fn)(enum infer_log_level level, const char *msg, void *arg),
    void *arg);

/* ---- thread pool ------------------------------------------------------ */

struct infer_pool;

/*
 * Starts a pool of n_threads threads in all (the calling thread counts as
 * one, so n_threads - 1 workers are created); n_threads <= 0 means the
 * number of online CPUs.  Returns a new pool (caller frees), or NULL.
 */
struct infer_pool *infer_pool_new(int n_threads, char **cause);

/* Stops and joins the workers.  Accepts NULL. */
void infer_pool_free(struct infer_pool *pool);

/* Returns the number of threads a job runs on. */
int infer_pool_size(const struct infer_pool *pool);

/*
 * Runs fn(arg, ith, nth) on every thread of the pool, ith from 0 to
 * nth - 1 (0 on the calling thread), and returns when all have returned.
 * Jobs from different threads are serialised.  fn must not call
 * infer_pool_run on the same pool.
 */
void infer_pool_run(struct infer_pool *pool,
    void (*fn)(void *arg, int ith, int nth), void *arg);

/* ---- model ------------------------------------------------------------ */

struct infer_model;

struct infer_model_params {
	/* Threads for forward passes; <= 0: the number of online CPUs. */
	int n_threads;
	/*
	 * The most tokens a sequence may hold, and the context of a new
	 * sequence when infer_seq_new is given 0; 0 here: the trained
	 * context, at most 4096.
	 */
	uint32_t n_ctx;
	/* Most tokens in one forward pass (longer feeds are split); 0: 512. */
	uint32_t n_batch;
	/* Load metadata and the tokenizer only (vocabulary-only files). */
	int vocab_only;
};

/* Fills params with the defaults (all zero). */
void infer_model_params_init(struct infer_model_params *params);

/*
 * Loads a GGUF model: maps the file, reads the hyperparameters of its
 * architecture, checks every tensor's type and shape, builds the
 * tokenizer and starts the worker threads.  params may be NULL for the
 * defaults.  Returns a new model (caller frees with infer_model_free), or
 * NULL with *cause naming the file and what is wrong.
 */
struct infer_model *infer_model_load(
    const char *path, const struct infer_model_params *params, char **cause);

/*
 * Unmaps and frees a model and its threads.  Every sequence of the model
 * must have been freed first.  Accepts NULL.
 */
void infer_model_free(struct infer_model *model);

/* What a loaded model is.  Strings are borrowed from the model. */
struct infer_model_info {
	const char *path;
	const char *arch;      /* general.architecture */
	const char *name;      /* general.name, or "" */
	const char *type_name; /* the weights' main type, e.g. "Q4_K" */
	uint32_t n_vocab;
	uint32_t n_ctx_train; /* {arch}.context_length */
	uint32_t n_ctx;       /* default context of a sequence */
	uint32_t n_batch;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim_k;
	uint32_t head_dim_v;
	uint32_t n_ff;     /* dense FFN width (0 if none) */
	uint32_t n_expert; /* 0 for a dense model */
	uint32_t n_expert_used;
	uint32_t n_ff_exp;        /* width of one expert's FFN */
	uint32_t n_ff_shexp;      /* width of the shared expert (0 if none) */
	uint64_t n_params;        /* elements in all weight tensors */
	uint64_t n_params_active; /* elements used per token */
	uint64_t weight_bytes;    /* bytes of all weight tensors */
	uint64_t weight_bytes_active; /* bytes read per decoded token */
	int n_threads;
	int vocab_only;
};

/* Returns the model's description (borrowed, valid while it lives). */
const struct infer_model_info *infer_model_info(
    const struct infer_model *model);

/* ---- tokenizer -------------------------------------------------------- */

/* Flags for infer_tokenize and infer_detokenize. */
#define INFER_TOK_ADD_SPECIAL 0x1 /* add BOS/EOS as the metadata asks */
#define INFER_TOK_SPECIAL     0x2 /* special tokens: parse / render them */
#define INFER_TOK_CONTINUE    0x4 /* detokenize: the ids continue a text */

/*
 * Splits len bytes of UTF-8 text into token ids.  With
 * INFER_TOK_ADD_SPECIAL, BOS (and EOS) are added when the model's
 * metadata asks for them; with INFER_TOK_SPECIAL, control tokens written
 * in the text (such as "<|im_start|>") become their ids, otherwise they
 * are tokenized as plain text.  Returns a new array of *n ids (caller
 * frees; not NULL even when *n is 0), or NULL.
 */
int32_t *infer_tokenize(const struct infer_model *model, const char *text,
    size_t len, int flags, size_t *n, char **cause);

/*
 * Turns n ids back into text.  Control tokens give their text only with
 * INFER_TOK_SPECIAL.  The ids are taken to start a text: for a
 * SentencePiece vocabulary that puts a space in front of every text it
 * encodes (tokenizer.ggml.add_space_prefix), that space is dropped from
 * the first piece that has text (with INFER_TOK_SPECIAL that may be the
 * BOS token's, as llama.cpp renders it), so that text -> ids -> text gives
 * the text back.  With INFER_TOK_CONTINUE the ids continue a text (a
 * generated reply, one token shown alone) and every piece keeps its
 * spaces.  Byte-level BPE vocabularies decode the same either way.
 * Returns a new NUL-terminated string of *len bytes (caller frees), or
 * NULL for an id out of range.
 */
char *infer_detokenize(const struct infer_model *model, const int32_t *ids,
    size_t n, int flags, size_t *len, char **cause);

/*
 * Streaming detokenization: hands out the text of generated tokens piece
 * by piece, always as valid UTF-8.  The tokens continue a text (as with
 * INFER_TOK_CONTINUE), so SentencePiece pieces keep their spaces.  Bytes
 * of a character split across tokens are held back until it completes;
 * bytes that can never form a character become U+FFFD.  Initialise with infer_detok_init; the state
 * owns no memory.
 */
struct infer_detok {
	const struct infer_model *model;
	int flags; /* INFER_TOK_SPECIAL renders control tokens */
	int started;
	size_t n_pending;
	unsigned char pending[4];
};

void infer_detok_init(
    struct infer_detok *dt, const struct infer_model *model, int flags);

/*
 * Returns the output room that infer_detok_push and infer_detok_flush may
 * need for one token: 3 * (the longest token text + 4) bytes.
 */
size_t infer_detok_max(const struct infer_model *model);

/*
 * Decodes token id and writes to out the text that is now complete.
 * Returns the number of bytes written, or -1 when id is out of range or
 * cap is below infer_detok_max() (nothing is consumed then).
 */
int infer_detok_push(
    struct infer_detok *dt, int32_t id, char *out, size_t cap, char **cause);

/*
 * Ends the stream: writes U+FFFD when bytes of an unfinished character
 * are held (at most 3 bytes) and returns the count written.
 */
size_t infer_detok_flush(struct infer_detok *dt, char *out, size_t cap);

/* Returns the number of tokens in the vocabulary. */
uint32_t infer_vocab_size(const struct infer_model *model);

/* Returns the beginning-of-sequence token id, or -1 if the model has none. */
int32_t infer_token_bos(const struct infer_model *model);

/* Returns the end-of-sequence token id, or -1. */
int32_t infer_token_eos(const struct infer_model *model);

/* Returns 1 when INFER_TOK_ADD_SPECIAL adds BOS for this model, else 0. */
int infer_token_adds_bos(const struct infer_model *model);

/*
 * Returns 1 when id ends generation (EOS, end-of-turn and the like, as
 * the vocabulary marks them), else 0.
 */
int infer_token_is_eog(const struct infer_model *model, int32_t id);

/*
 * Returns the raw text of token id as the vocabulary stores it
 * (borrowed), or NULL for an id out of range.
 */
const char *infer_token_text(const struct infer_model *model, int32_t id);

/* ---- chat templates --------------------------------------------------- */

/* One chat message; role is "system", "user" or "assistant". */
struct infer_chat_msg {
	const char *role;
	const char *content;
};

/*
 * Renders messages with the chat template family recognised from the
 * model's tokenizer.chat_template (ChatML/Qwen, Llama 3, Mistral,
 * Granite, or a generic fallback); with add_assistant, the text ends with
 * the header of an assistant turn.  A model without a template gets the
 * contents joined as raw completion text.  Returns a new string (caller
 * frees), or NULL.
 */
char *infer_chat_render(const struct infer_model *model,
    const struct infer_chat_msg *msgs, size_t n, int add_assistant,
    char **cause);

/*
 * Renders messages as infer_chat_render does and tokenizes the result:
 * the template's markers become their special tokens while the messages'
 * contents stay plain text (a "<|im_end|>" typed in a message cannot end
 * its turn), and BOS is added when the metadata asks for it.  Returns a
 * new array of *n ids (caller frees), or NULL.
 */
int32_t *infer_chat_tokenize(const struct infer_model *model,
    const struct infer_chat_msg *msgs, size_t n, int add_assistant,
    size_t *n_ids, char **cause);

/* Returns the name of the recognised template family (borrowed). */
const char *infer_chat_family(const struct infer_model *model);

/* ---- sequences -------------------------------------------------------- */

struct infer_seq;

/*
 * Creates an empty sequence of the model with room for n_ctx tokens
 * (0: the model's default).  Its KV cache and activations are reserved
 * here, once; pages are committed as tokens arrive.  Returns a new
 * sequence (caller frees), or NULL.
 */
struct infer_seq *infer_seq_new(
    struct infer_model *model, uint32_t n_ctx, char **cause);

/* Frees a sequence and its KV cache.  Accepts NULL. */
void infer_seq_free(struct infer_seq *seq);

/* Returns the number of tokens in the sequence (its KV cache). */
uint32_t infer_seq_len(const struct infer_seq *seq);

/* Returns the most tokens the sequence can hold. */
uint32_t infer_seq_ctx(const struct infer_seq *seq);

/* Returns the sequence's tokens (borrowed, valid until it changes). */
const int32_t *infer_seq_tokens(const struct infer_seq *seq);

/*
 * Appends n tokens and runs them through the model, in batches of at
 * most n_batch tokens.  Afterwards infer_seq_logits gives the logits
 * after the last token.  Fails, changing nothing, when an id is out of
 * range or the tokens do not fit in the context.
 */
int infer_seq_feed(
    struct infer_seq *seq, const int32_t *tokens, size_t n, char **cause);

/*
 * As infer_seq_feed, but also writes the logits after every token to
 * logits, n rows of infer_vocab_size floats (for perplexity and scoring).
 */
int infer_seq_feed_all(struct infer_seq *seq, const int32_t *tokens, size_t n,
    float *logits, char **cause);

/*
 * Sets a function that infer_seq_feed and infer_seq_feed_all call before
 * each batch of tokens (NULL clears it).  When it returns nonzero the
 * feed stops with the error "cancelled after N of M tokens": the batches
 * already run stay in the sequence, with the logits after their last
 * token.  A long prompt can thus be cancelled every n_batch tokens.
 * Forks do not inherit it.
 */
void infer_seq_set_abort(
    struct infer_seq *seq, int (*fn)(void *arg), void *arg);

/*
 * Returns the logits after the sequence's last token (infer_vocab_size
 * floats, borrowed until the sequence changes), or NULL when they are not
 * known: the sequence is empty, or it was truncated (to get them back,
 * truncate one token further and feed that token again).
 */
const float *infer_seq_logits(const struct infer_seq *seq);

/*
 * Appends one token to each of n sequences and runs them all in one
 * forward pass, so every weight is read once for the whole batch.  The
 * sequences must be distinct and belong to one model.  Afterwards each
 * sequence's logits are those after its new token.  Fails, changing
 * nothing, when an id is out of range, a sequence is full, or n exceeds
 * the model's n_batch.
 */
int infer_decode_batch(struct infer_seq *const *seqs, const int32_t *tokens,
    size_t n, char **cause);

/*
 * Drops every token after the first n (n <= length).  The logits are
 * unknown afterwards unless n equals the length.
 */
int infer_seq_truncate(struct infer_seq *seq, uint32_t n, char **cause);

/*
 * Returns a new sequence with the same tokens, KV cache and logits that
 * shares nothing mutable with seq (caller frees), or NULL.
 */
struct infer_seq *infer_seq_fork(const struct infer_seq *seq, char **cause);

/* ---- sampler ---------------------------------------------------------- */

/* Adds bias to one token's logit; -INFINITY bans the token. */
struct infer_logit_bias {
	int32_t token;
	float bias;
};

struct infer_sampler_params {
	float temperature;    /* <= 0: greedy (the highest logit, lowest id) */
	uint32_t top_k;       /* keep the k most likely; 0: off */
	float top_p;          /* keep the smallest set with mass >= p; 1: off */
	float min_p;          /* drop p < min_p * p_max; 0: off */
	float repeat_penalty; /* llama.cpp's penalty; 1: off */
	uint32_t repeat_last_n; /* tokens of history it looks at */
	uint64_t seed;          /* the random stream */
	const struct infer_logit_bias *logit_bias; /* copied by _new */
	size_t n_logit_bias;
};

struct infer_sampler;

/*
 * Fills params with the defaults: greedy, top_k 0, top_p 1, min_p 0,
 * repeat_penalty 1, repeat_last_n 64, seed 0, no bias.
 */
void infer_sampler_params_init(struct infer_sampler_params *params);

/*
 * Creates a sampler for a vocabulary of n_vocab tokens, checking the
 * parameters (ranges, bias token ids).  Returns a new sampler (caller
 * frees), or NULL.
 */
struct infer_sampler *infer_sampler_new(
    const struct infer_sampler_params *params, uint32_t n_vocab, char **cause);

/* Frees a sampler.  Accepts NULL. */
void infer_sampler_free(struct infer_sampler *s);

/*
 * Chooses the next token from n_vocab logits (not modified), in this
 * order: logit bias, repetition penalty over the history, then greedy, or
 * top-k, top-p, min-p (all on the distribution at temperature 1, as
 * llama.cpp's default chain does), temperature and a seeded draw.  The
 * chosen token
 * joins the history.  When logprob is not NULL it receives the natural
 * log-probability of the token under the model's distribution after bias
 * and penalty (softmax at temperature 1, before any truncation).  Returns
 * the token, or -1 when every token is banned.
 */
int32_t infer_sampler_sample(
    struct infer_sampler *s, const float *logits, float *logprob);

/* Adds a token (a prompt token, say) to the repetition history. */
void infer_sampler_accept(struct infer_sampler *s, int32_t token);

/* Clears the history and restarts the random stream from the seed. */
void infer_sampler_reset(struct infer_sampler *s);

/*
 * Returns a new sampler in the same state as s (history and random
 * stream), for a forked sequence (caller frees), or NULL.
 */
struct infer_sampler *infer_sampler_clone(
    const struct infer_sampler *s, char **cause);

/*
 * Stop strings.  Looks for the earliest occurrence of any of the n stop
 * strings in text[0, len).  Returns 1 and sets *at to its offset if one
 * occurs; otherwise returns 0 and sets *at to the length of the longest
 * prefix that no stop string can overlap, i.e. the bytes that are safe to
 * hand out while more text may follow.  Empty stop strings are ignored.
 */
int infer_stop_find(const char *text, size_t len, const char *const *stops,
    size_t n, size_t *at);

#endif /* AGENTD_INFERENCE_INFER_H */
