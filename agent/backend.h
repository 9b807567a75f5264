/*
 * backend.h: the model backend interface (DESIGN.md "Model backend").
 *
 * Strategies and the ReAct loop reach a model only through this header.
 * Three backends implement it: the local GGUF engine (backend-local.c,
 * over inference/infer.h), a later remote OpenAI-compatible one, and the
 * scripted test backend (backend-scripted.c), which replays model outputs
 * from a file so that every branch of the loop can be driven
 * deterministically.  Nothing above this interface knows which backend
 * it talks to.
 *
 * A backend (struct agent_backend) is the model: loaded once, shared by
 * every run, reference counted.  A session (struct agent_session) is one
 * conversation state: the text fed so far and, for the local engine, the
 * sequence and its KV cache.  The contract every backend keeps:
 *
 *  - The session's text is exactly what was appended plus what generate
 *    returned.  When generation stops at a stop string, the stop string
 *    and whatever followed it are not part of the session: a backend with
 *    a KV cache rewinds to the token boundary at or before the cut and
 *    feeds the remaining bytes again with the next append (DESIGN.md:
 *    "Tokens the model generated past the end of Action Input are
 *    rewound, to the token boundary, before the observation is
 *    appended").
 *  - mark() names the current length; rewind() goes back to a mark taken
 *    earlier on the same session (or on the session it was forked from,
 *    before the fork).  A mark past the current length is refused.
 *  - fork() makes an independent session with the same text; the two
 *    never affect each other afterwards.
 *  - A backend without a KV cache (caps lacks AGENT_CAP_KV_REUSE)
 *    emulates fork and rewind by keeping text and recomputes the prompt
 *    on every generate; its usage figures say so (prompt tokens computed,
 *    none reused), and traces show it.
 *
 * Threads: a backend may be used from any thread; one session must not be
 * used by two threads at once.  Cancellation: generate() checks the
 * params' cancel flag and deadline between tokens and ends with
 * AGENT_FINISH_CANCELLED within one token of either tripping.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause that
 * says what and where; the caller frees it.
 */
#ifndef AGENTD_AGENT_BACKEND_H
#define AGENTD_AGENT_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct agent_backend;
struct agent_session;

/* Capabilities, as agent_backend_caps() reports them. */
#define AGENT_CAP_KV_REUSE 0x1 /* sessions keep their KV: appends reuse it */
#define AGENT_CAP_LOGPROBS 0x2 /* generate reports log-probabilities */
#define AGENT_CAP_BATCH    0x4 /* concurrent generations share forwards */
#define AGENT_CAP_CHAT     0x8 /* prompts go in the chat template's turn */

/* Why a generation ended. */
enum agent_finish {
	AGENT_FINISH_STOP = 0,  /* a stop string or the stop line ended it */
	AGENT_FINISH_LENGTH,    /* max_tokens (or the context) ran out */
	AGENT_FINISH_EOS,       /* the model ended its text */
	AGENT_FINISH_CANCELLED, /* the cancel flag or the deadline tripped */
};

/* Returns "stop", "length", "eos" or "cancelled". */
const char *agent_finish_name(enum agent_finish finish);

/*
 * A logit bias.  text is tokenized without special tokens and bias is
 * added to the logit of its first token; -INFINITY bans it.  Backends
 * without logits (the scripted one) ignore it.
 */
struct agent_logit_bias {
	const char *text;
	float bias;
};

/*
 * What to generate.  Zero means the default for every number: max_tokens
 * 1024 (AGENT_DEFAULT_MAX_TOKENS), temperature 0 (greedy), top_k 0 (off),
 * top_p 0 (off, as 1), min_p 0, repeat_penalty 0 (off, as 1), seed 0.
 * All pointers are borrowed for the call.
 */
struct agent_gen_params {
	uint32_t max_tokens;
	/* Generation stops before the first of these (n_stop strings). */
	const char *const *stop;
	size_t n_stop;
	/*
	 * When not NULL: once a line of the generated text starts with
	 * this prefix, generation stops at the end of that line, the '\n'
	 * included in the text (DESIGN.md: "once a line starts with
	 * Final Answer:, at the next \n").
	 */
	const char *stop_line_prefix;
	const struct agent_logit_bias *bias;
	size_t n_bias;
	double temperature;
	uint32_t top_k;
	double top_p;
	double min_p;
	double repeat_penalty;
	uint64_t seed;
	int logprobs; /* sum the chosen tokens' log-probabilities */

	/* Non-zero: stop (AGENT_FINISH_CANCELLED).  May be NULL. */
	const atomic_int *cancel;
	/* clock_mono_ns() past which generation stops; 0: none. */
	uint64_t deadline_ns;

	/*
	 * Called with the text of each token as it is generated (valid
	 * UTF-8, possibly empty when a character spans tokens), on the
	 * generating thread.  Text past a stop string is never passed.
	 * May be NULL.
	 */
	void (*on_token)(void *arg, const char *text, size_t len);
	void *arg;
};

#define AGENT_DEFAULT_MAX_TOKENS 1024

/*
 * What a generation produced.  text is malloc()ed UTF-8, NUL-terminated,
 * len bytes: what the session gained (stop strings excluded).
 * prompt_computed and prompt_reused count the prompt tokens this call
 * had to run through the model before generating and those it found
 * already in the cache (a backend without a KV cache computes the whole
 * prompt every time).  ttft_ns is the time to the first token,
 * tokens_per_s the decode speed.
 */
struct agent_gen_result {
	char *text;
	size_t len;
	uint32_t tokens;
	enum agent_finish finish;
	int stop_index; /* which stop string ended it, or -1 */
	double logprob_sum;
	uint32_t prompt_computed;
	uint32_t prompt_reused;
	uint64_t ttft_ns;
	double tokens_per_s;
};

/* Frees the text and zeroes the result; NULL is accepted. */
void agent_gen_result_clear(struct agent_gen_result *res);

/* What an append did: tokens run through the model and tokens reused. */
struct agent_append_result {
	uint32_t computed;
	uint32_t reused;
};

/* A chat message for agent_backend_chat_render(). */
struct agent_chat_msg {
	const char *role; /* "system", "user" or "assistant" */
	const char *content;
};

/*
 * The implementation side: each backend fills one static const ops
 * struct and embeds struct agent_backend and struct agent_session at the
 * start of its own structs (the helpers below fill them).  Every member
 * is required except chat_render and destroy.
 */
struct agent_backend_ops {
	const char *kind; /* "local", "scripted", "remote" */
	struct agent_session *(*session_new)(
	    struct agent_backend *b, char **cause);
	void (*session_free)(struct agent_session *s);
	int (*append)(struct agent_session *s, const char *text, size_t len,
	    struct agent_append_result *res, char **cause);
	int (*generate)(struct agent_session *s,
	    const struct agent_gen_params *params, struct agent_gen_result *res,
	    char **cause);
	struct agent_session *(*fork)(struct agent_session *s, char **cause);
	uint64_t (*mark)(struct agent_session *s);
	int (*rewind)(struct agent_session *s, uint64_t mark, char **cause);
	/* Tokens the session holds, and the most it may hold. */
	uint32_t (*length)(struct agent_session *s);
	uint32_t (*n_ctx)(struct agent_backend *b);
	/* How many tokens text would take (for the context budget). */
	uint32_t (*count)(
	    struct agent_backend *b, const char *text, size_t len);
	/* Optional: the chat template; NULL renders "role: content\n". */
	char *(*chat_render)(struct agent_backend *b,
	    const struct agent_chat_msg *msgs, size_t n, int add_assistant,
	    char **cause);
	/* Frees the backend's own state when the last reference goes. */
	void (*destroy)(struct agent_backend *b);
};

/*
 * The common head of every backend and session.  Implementations set
 * these with agent_backend_init() and agent_session_init(); callers
 * treat them as opaque.
 */
struct agent_backend {
	const struct agent_backend_ops *ops;
	atomic_uint refs;
	int caps;
	char *name; /* the model's name, for traces: gen_ai.request.model */
};

struct agent_session {
	struct agent_backend *backend;
};

/* For implementations: fills the head (one reference, name copied). */
void agent_backend_init(struct agent_backend *b,
    const struct agent_backend_ops *ops, int caps, const char *name);
/* For implementations: ties a session to its backend (takes a ref). */
void agent_session_init(struct agent_session *s, struct agent_backend *b);
/* For implementations: drops the session's backend reference. */
void agent_session_fini(struct agent_session *s);

/*
 * Opens a backend from a model spec: "scripted:FILE" opens the scripted
 * test backend on FILE (see backend-scripted.c for the format); anything
 * else is a GGUF path for the local engine.  Returns a backend with one
 * reference, or NULL with *cause.
 */
struct agent_backend *agent_backend_open(const char *spec, char **cause);
/* Takes a reference; returns b. */
struct agent_backend *agent_backend_ref(struct agent_backend *b);
/* Drops a reference; the last frees the backend.  NULL is accepted. */
void agent_backend_unref(struct agent_backend *b);
/* The AGENT_CAP_* bits, the backend's kind and its model's name. */
int agent_backend_caps(const struct agent_backend *b);
const char *agent_backend_kind(const struct agent_backend *b);
const char *agent_backend_name(const struct agent_backend *b);
/* The most tokens a session may hold. */
uint32_t agent_backend_n_ctx(struct agent_backend *b);
/* The number of tokens text would take. */
uint32_t agent_backend_count(
    struct agent_backend *b, const char *text, size_t len);
/*
 * Renders chat messages with the model's template (the generic
 * "role: content\n" lines when it has none); with add_assistant the text
 * ends where the assistant's turn begins.  Returns a new string.
 */
char *agent_backend_chat_render(struct agent_backend *b,
    const struct agent_chat_msg *msgs, size_t n, int add_assistant,
    char **cause);

/* A new empty session (caller frees with agent_session_free()). */
struct agent_session *agent_session_new(struct agent_backend *b, char **cause);
/* Frees a session; NULL is accepted. */
void agent_session_free(struct agent_session *s);
/*
 * Feeds len bytes of UTF-8 text.  res (may be NULL) receives the tokens
 * computed and reused.  Fails, changing nothing, when the text would not
 * fit in the context.
 */
int agent_session_append(struct agent_session *s, const char *text, size_t len,
    struct agent_append_result *res, char **cause);
/*
 * Generates a continuation (see struct agent_gen_params).  Returns 0 with
 * *res filled (the caller clears it), or -1 with *cause when the backend
 * could not generate at all; cancellation and limits are not failures but
 * finish reasons.
 */
int agent_session_generate(struct agent_session *s,
    const struct agent_gen_params *params, struct agent_gen_result *res,
    char **cause);
/* A new independent session with the same text (caller frees). */
struct agent_session *agent_session_fork(struct agent_session *s, char **cause);
/* The current position, for agent_session_rewind(). */
uint64_t agent_session_mark(struct agent_session *s);
/* Goes back to an earlier mark; -1 with *cause for a mark past the end. */
int agent_session_rewind(struct agent_session *s, uint64_t mark, char **cause);
/* Tokens the session holds. */
uint32_t agent_session_length(struct agent_session *s);
/* The backend of a session (borrowed). */
struct agent_backend *agent_session_backend(struct agent_session *s);

/*
 * The scripted test backend (backend-scripted.c).  Opens FILE, a JSON
 * script of model outputs; see that file's header for the format.
 */
struct agent_backend *agent_backend_scripted_open(
    const char *path, char **cause);
/*
 * The same from JSON text already in memory (what names the script in
 * messages).  Returns a backend with one reference, or NULL with *cause.
 */
struct agent_backend *agent_backend_scripted_new(
    const char *text, size_t len, const char *what, char **cause);
/*
 * The text a scripted session holds (borrowed until the session
 * changes), for tests; NULL when s is not a scripted session.
 */
const char *agent_scripted_text(struct agent_session *s, size_t *len);

#endif /* AGENTD_AGENT_BACKEND_H */
