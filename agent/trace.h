/*
 * trace.h: the span recorder behind every run's evaluation trace
 * (DESIGN.md "Traces").
 *
 * A trace is a tree of spans.  A span has a trace id (32 lower-case hex
 * digits), a span id (16), its parent's span id (none for the root), a
 * name, a kind (run, strategy, step, llm, tool, parse, vote, judge),
 * start and end times, a status and attributes named after the
 * OpenTelemetry GenAI semantic conventions where one exists
 * (gen_ai.operation.name, gen_ai.request.model, gen_ai.usage.input_tokens,
 * gen_ai.usage.output_tokens, gen_ai.tool.name, ...).  Ids come from
 * OpenSSL's RAND_bytes() in W3C trace-context form, and a client may
 * continue its own trace by passing a traceparent.
 *
 * The store is a folder holding one file per trace, <trace_id>.jsonl.
 * When a span ends it is appended to its trace's file as one JSON line
 * with a single write(2) on a descriptor opened with O_APPEND, so lines
 * from concurrent runs never interleave and a crash can at worst leave
 * the last line torn; readers skip a torn or malformed line and keep
 * every whole one.  A line:
 *
 *   {"trace_id":"4bf9...","span_id":"00f0...","parent_span_id":null,
 *    "name":"agent.run","kind":"run","start_ns":1700000000000000000,
 *    "end_ns":1700000000500000000,"status":"ok","attributes":{...}}
 *
 * start_ns and end_ns are wall-clock nanoseconds since the epoch (as
 * OTLP wants them); status is "ok" or "error", and an error span has a
 * "status_message".  Children end before their parents, so a file lists
 * a trace bottom-up.
 *
 * Threads: the tracer may be shared by every thread; one span must be
 * used by one thread at a time.  Errors follow the house rule: -1 or NULL
 * plus an allocated *cause naming what and where.
 */
#ifndef AGENTD_AGENT_TRACE_H
#define AGENTD_AGENT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct agent_span;
struct agent_tracer;

#define AGENT_TRACE_ID_HEX 32
#define AGENT_SPAN_ID_HEX  16
/* The largest trace file trace.get reads. */
#define AGENT_TRACE_MAX_FILE (64 * 1024 * 1024)
/* Spans nested deeper than this read back as roots. */
#define AGENT_TRACE_MAX_DEPTH 64
/* The largest span line written; bigger attributes are cut first. */
#define AGENT_SPAN_MAX_LINE (1024 * 1024)

/* Span kinds, as DESIGN.md names them. */
enum agent_span_kind {
	AGENT_SPAN_RUN = 0,
	AGENT_SPAN_STRATEGY,
	AGENT_SPAN_STEP,
	AGENT_SPAN_LLM,
	AGENT_SPAN_TOOL,
	AGENT_SPAN_PARSE,
	AGENT_SPAN_VOTE,
	AGENT_SPAN_JUDGE,
};

/* Returns "run", "strategy", "step", "llm", "tool", "parse", ... */
const char *agent_span_kind_name(enum agent_span_kind kind);
/* Parses a kind name; returns 0, or -1 when unknown. */
int agent_span_kind_parse(const char *name, enum agent_span_kind *kind);

/*
 * Opens the store in folder dir, creating it (mode 0700) when missing.
 * With fsync_each, every line is fsync()ed before agent_span_end()
 * returns.  Returns a new tracer (free with agent_tracer_free()), or NULL
 * with *cause.
 */
struct agent_tracer *agent_tracer_new(
    const char *dir, int fsync_each, char **cause);
/* Frees the tracer; spans still open must not end afterwards.  NULL ok. */
void agent_tracer_free(struct agent_tracer *t);
/* The store's folder (borrowed). */
const char *agent_tracer_dir(const struct agent_tracer *t);

/*
 * Checks a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>", lower case,
 * neither id all zeros).  Returns 0 and copies the trace id and the
 * parent span id (NUL-terminated) into the arrays when they are not NULL,
 * or -1 with *cause saying what is wrong.
 */
int agent_traceparent_parse(
    const char *s, char trace_id[33], char span_id[17], char **cause);
/* Checks a trace id: 32 lower-case hex digits, not all zeros. */
int agent_trace_id_valid(const char *s);

/*
 * Starts the root span of a run.  tracer may be NULL: the span then has
 * ids and may carry attributes, but nothing is written.  traceparent
 * (may be NULL) continues a client's trace: the span joins that trace id
 * with the client's span as its parent; it must have passed
 * agent_traceparent_parse().  Returns the span (ended, and freed, by
 * agent_span_end()).
 */
struct agent_span *agent_span_root(struct agent_tracer *tracer,
    const char *name, enum agent_span_kind kind, const char *traceparent);
/* Starts a child of parent, in its trace and its store. */
struct agent_span *agent_span_child(
    struct agent_span *parent, const char *name, enum agent_span_kind kind);

/* Ids (borrowed, NUL-terminated hex, valid while the span lives). */
const char *agent_span_trace_id(const struct agent_span *s);
const char *agent_span_id(const struct agent_span *s);

/*
 * Sets an attribute, replacing one of the same key; takes ownership of
 * value (NULL is ignored).  The _str, _int and _real forms copy.
 */
void agent_span_attr(struct agent_span *s, const char *key, json_t *value);
void agent_span_attr_str(
    struct agent_span *s, const char *key, const char *value);
void agent_span_attr_int(struct agent_span *s, const char *key, int64_t value);
void agent_span_attr_real(struct agent_span *s, const char *key, double value);
/* Marks the span failed with a message (the last one wins). */
void agent_span_error(struct agent_span *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Ends the span: stamps its end, appends its line to the store and frees
 * it.  A write that fails is logged, never fatal.  NULL is accepted.
 */
void agent_span_end(struct agent_span *s);

/*
 * Reads every whole span of a trace file (path), in file order, as a new
 * JSON array; *skipped (may be NULL) counts the torn or malformed lines
 * left out.  Returns NULL with *cause when the file cannot be read.
 */
json_t *agent_trace_read(const char *path, size_t *skipped, char **cause);
/*
 * Builds the tree of spans (a borrowed array as agent_trace_read()
 * returns): each span object gains "children", sorted by start_ns then
 * span_id; spans whose parent is not in the array are roots, and so are
 * spans whose parent chain loops or runs deeper than
 * AGENT_TRACE_MAX_DEPTH (a damaged file must still read as a finite
 * tree).  Returns a new array of the roots.
 */
json_t *agent_trace_tree(json_t *spans);
/*
 * trace.get: the trace with id trace_id from the tracer's store as
 * {"trace_id", "spans": <tree>, "span_count", "skipped_lines"}.  Returns
 * NULL with *cause ("unknown trace '...'" when there is none; set
 * *unknown to 1 then, when unknown is not NULL).
 */
json_t *agent_trace_get(
    struct agent_tracer *t, const char *trace_id, int *unknown, char **cause);

#endif /* AGENTD_AGENT_TRACE_H */
