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
 * When span lines reach the disk (the trace_fsync directive):
 *  - never: the kernel writes them back when it likes; a machine crash
 *    may lose the last few seconds of spans (a daemon crash loses none);
 *  - always: every line is fsync()ed before agent_span_end() returns;
 *  - everysec: a span end that finds the last sync a second old or more
 *    syncs the store's file system (syncfs(2)), so a machine crash loses
 *    at most the spans written since the last such span end, or since
 *    the last agent_tracer_sync().
 * The values 0 and 1 keep the meaning of the older fsync_each flag.
 */
enum agent_trace_fsync {
	AGENT_TRACE_FSYNC_NEVER = 0,
	AGENT_TRACE_FSYNC_ALWAYS = 1,
	AGENT_TRACE_FSYNC_EVERYSEC = 2,
};

/* Returns "never", "always" or "everysec". */
const char *agent_trace_fsync_name(enum agent_trace_fsync policy);
/* Parses a policy name; returns 0, or -1 when unknown. */
int agent_trace_fsync_parse(const char *name, enum agent_trace_fsync *policy);

/*
 * Opens the store in folder dir, creating it (mode 0700) when missing,
 * with fsync policy fsync_policy (an enum agent_trace_fsync).  Returns a
 * new tracer (free with agent_tracer_free()), or NULL with *cause.
 */
struct agent_tracer *agent_tracer_new(
    const char *dir, int fsync_policy, char **cause);
/*
 * Sets the store's retention: trace files are removed, oldest (by last
 * write) first, while the store holds more than max_bytes, and once
 * their last write is more than max_age_s seconds old; 0 means no limit.
 * The store is pruned now and then at most once a minute, when a root
 * span ends.  A file still being written may go when max_bytes is
 * smaller than one trace.
 */
void agent_tracer_set_retention(
    struct agent_tracer *t, uint64_t max_bytes, uint64_t max_age_s);
/* Syncs what was written under the everysec policy; logs a failure. */
void agent_tracer_sync(struct agent_tracer *t);
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

/*
 * Removes trace files (<32 hex>.jsonl; nothing else is touched) from dir
 * by the retention rule agent_tracer_set_retention() describes, with
 * now_s as the current time in seconds since the epoch.  *removed (may
 * be NULL) counts the files removed.  Returns 0, or -1 with *cause when
 * the folder cannot be read; a file that cannot be removed is logged and
 * skipped.
 */
int agent_trace_prune(const char *dir, uint64_t max_bytes, uint64_t max_age_s,
    uint64_t now_s, size_t *removed, char **cause);

/*
 * trace.list's filter.  since_ns and until_ns (0: no bound) bound a
 * trace's start; agent (NULL: any) is the root span's gen_ai.agent.name;
 * outcome (NULL: any) is "ok", "error" or "incomplete" (no root span yet:
 * the run is still going, or the daemon died during it).  At most limit
 * traces (0: AGENT_TRACE_LIST_MAX) are listed.
 */
struct agent_trace_filter {
	uint64_t since_ns;
	uint64_t until_ns;
	const char *agent;
	const char *outcome;
	size_t limit;
};
#define AGENT_TRACE_LIST_MAX 1000

/*
 * trace.list: the traces of the store in folder dir that pass f, newest
 * first, as {"traces": [{"trace_id", "name", "agent", "outcome",
 * "status_message" (errors only), "start_ns", "end_ns", "duration_ms",
 * "span_count", "input_tokens", "output_tokens", "skipped_lines",
 * "bytes"}], "truncated": bool}.  A file that cannot be read is logged
 * and left out.  Returns a new object, or NULL with *cause when the
 * folder cannot be read or the filter is invalid.
 */
json_t *agent_trace_list(
    const char *dir, const struct agent_trace_filter *f, char **cause);
/*
 * The summary trace.list gives of one trace (spans: a borrowed array as
 * agent_trace_read() returns).  Returns a new object; trace_id is NULL
 * only when spans is empty.
 */
json_t *agent_trace_summary(const json_t *spans);

/*
 * Converts spans (a borrowed array as agent_trace_read() returns, from
 * one trace or several) into one OTLP/JSON TracesData object: one
 * resourceSpans (service.name service) with one scopeSpans (scope
 * "agentd", version) holding every span.  Ids stay hex; kind is an
 * integer (run: SERVER 2, llm: CLIENT 3, others INTERNAL 1); times are
 * decimal strings of nanoseconds; attributes become KeyValue lists of
 * typed AnyValues (integers as strings, objects as kvlistValue, arrays
 * as arrayValue, null left out); the span kind is kept as the attribute
 * agentd.span.kind; status is {"code": 1 OK or 2 ERROR, "message"}.
 * Returns a new object.
 */
json_t *agent_trace_otlp(
    const json_t *spans, const char *service, const char *version);
/*
 * Reads the traces named in ids (a borrowed array of trace id strings)
 * from the store in folder dir and converts them as agent_trace_otlp().
 * Returns a new object, or NULL with *cause (*unknown set to 1, when
 * unknown is not NULL, for a trace that does not exist).
 */
json_t *agent_trace_export(const char *dir, const json_t *ids,
    const char *service, const char *version, int *unknown, char **cause);

#endif /* AGENTD_AGENT_TRACE_H */
