/*
 * agent-int.h: declarations shared between the files of agent/ (and its
 * unit tests).  No other module includes it.
 */
#ifndef AGENTD_AGENT_AGENT_INT_H
#define AGENTD_AGENT_AGENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "daemon/util.h"

/* ---- backend.c: what every backend's generate() shares ----------------- */

/*
 * The text of one generation as it grows token by token: it finds stop
 * strings (also when they span tokens) and the end of a stop line, holds
 * back text that may still turn out to be the start of a stop string,
 * and passes the rest to the params' on_token as it becomes final.
 */
struct agent_gen_text {
	const struct agent_gen_params *params;
	struct buf text;   /* what was generated, cut at a stop when found */
	size_t streamed;   /* bytes already passed to on_token */
	size_t line_start; /* start of the last line not yet judged */
	int stop_index;    /* the stop string found, or -1 */
	int stopped;       /* a stop string or the stop line ended it */
};

/* Starts an empty text for params (borrowed until _free). */
void agent_gen_text_init(
    struct agent_gen_text *g, const struct agent_gen_params *params);
/*
 * Adds a token's text.  Returns 1 when a stop was found (the text is then
 * cut there and nothing more may be added), else 0; -1 when the text
 * would pass max_bytes (a backend's cap on one generation's output).
 */
int agent_gen_text_push(
    struct agent_gen_text *g, const char *s, size_t len, size_t max_bytes);
/* The generation is over: passes what is still held back to on_token. */
void agent_gen_text_flush(struct agent_gen_text *g);
/* Moves the text into res (text and len) and frees the rest. */
void agent_gen_text_finish(
    struct agent_gen_text *g, struct agent_gen_result *res);
/* Frees the text (when it was not moved into a result). */
void agent_gen_text_free(struct agent_gen_text *g);

/* The most bytes one generation may produce in any backend. */
#define AGENT_GEN_MAX_BYTES (4 * 1024 * 1024)

/* Returns 1 when params' cancel flag is set or its deadline passed. */
int agent_gen_stopped(const struct agent_gen_params *params);

/* The local engine (backend-local.c): opens a GGUF model. */
struct agent_backend *agent_backend_local_open(const char *path, char **cause);

/* ---- trace.c ------------------------------------------------------------ */

/*
 * Fills out with n random bytes as 2n lower-case hex digits and a NUL
 * (OpenSSL RAND_bytes; never all zeros).  Aborts when the generator
 * fails, which only a broken system does.
 */
void agent_random_hex(char *out, size_t n);

/* ---- react.c ------------------------------------------------------------ */

/*
 * Calls a tool the way the loop's act phase does, for Lua agents'
 * ctx.tool: looks name up in set (restricted to names when not NULL),
 * validates args and runs it on a thread of its own under timeout_ms
 * and cancel, abandoning it when either trips.  Fills *text (malloc()ed)
 * and *is_error; never fails.
 */
void agent_tool_invoke(struct plug_set *set, const char *const *names,
    size_t n_names, const char *name, const json_t *args, uint32_t timeout_ms,
    uint64_t deadline_ns, const atomic_int *cancel, struct agent_span *parent,
    char **text, int *is_error);

/*
 * Waits up to timeout_ms for tool threads (abandoned calls included) to
 * finish; returns how many still run.
 */
unsigned int agent_tools_drain(uint64_t timeout_ms);

#endif /* AGENTD_AGENT_AGENT_INT_H */
