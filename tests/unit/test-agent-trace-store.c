/*
 * test-agent-trace-store.c: the trace store around the recorder
 * (agent/trace.c, agent/trace-store.c, agent/trace-otlp.c): a span tree
 * rebuilt from JSONL equals what was recorded; a file cut mid-line
 * (at every byte of its last lines and around every line end) reads back
 * every whole span, and the next span appended after a torn line is not
 * lost; fsync policies; retention by size and age; trace.list filters;
 * the OTLP/JSON export's field names and types; lines that read as spans
 * but carry odd members (ids that are not hex, a parent that is not a
 * string, attributes that are not an object or nest 40 deep).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/eval.h"
#include "agent/trace.h"
#include "daemon/util.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test-agent-trace-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char *cmd;

	(void)state;
	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static char *
trace_path(const char *id)
{
	char *p;

	xasprintf(&p, "%s/%s.jsonl", dir, id);
	return p;
}

/* Writes text as the whole content of path. */
static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* Reads a whole file into a new string; *len gets its size. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/*
 * Records a span under parent (NULL: the root) and what it should read
 * back as into expect: {span_id: {parent, name, kind, attributes}}.
 */
static struct agent_span *
record(struct agent_tracer *t, struct agent_span *parent, const char *name,
    enum agent_span_kind kind, json_t *expect)
{
	struct agent_span *s;

	if (parent == NULL)
		s = agent_span_root(t, name, kind, NULL);
	else
		s = agent_span_child(parent, name, kind);
	json_object_set_new(expect, agent_span_id(s),
	    json_pack("{s:o, s:s, s:s, s:{}}", "parent",
	        parent != NULL ? json_string(agent_span_id(parent))
	                       : json_null(),
	        "name", name, "kind", agent_span_kind_name(kind),
	        "attributes"));
	return s;
}

/* Sets an attribute on the span and in its expected record. */
static void
expect_attr(
    struct agent_span *s, json_t *expect, const char *key, json_t *value)
{
	json_object_set(
	    json_object_get(
	        json_object_get(expect, agent_span_id(s)), "attributes"),
	    key, value);
	agent_span_attr(s, key, value);
}

/*
 * Walks a rebuilt tree: every node must match its record, hang under
 * the recorded parent, and be seen once.  Returns the nodes seen.
 */
static size_t
check_tree(json_t *nodes, const char *parent, json_t *expect, json_t *seen)
{
	json_t *v, *e;
	const char *id, *pid;
	size_t i, n = 0;

	json_array_foreach(nodes, i, v)
	{
		id = json_string_value(json_object_get(v, "span_id"));
		assert_non_null(id);
		e = json_object_get(expect, id);
		assert_non_null(e);
		assert_null(json_object_get(seen, id));
		json_object_set_new(seen, id, json_true());
		pid = json_string_value(json_object_get(e, "parent"));
		if (parent == NULL)
			assert_null(pid);
		else
			assert_string_equal(pid, parent);
		assert_string_equal(
		    json_string_value(json_object_get(v, "name")),
		    json_string_value(json_object_get(e, "name")));
		assert_string_equal(
		    json_string_value(json_object_get(v, "kind")),
		    json_string_value(json_object_get(e, "kind")));
		assert_true(json_equal(json_object_get(v, "attributes"),
		    json_object_get(e, "attributes")));
		/* Children are sorted by start: never earlier than a sibling. */
		if (i > 0)
			assert_true(json_integer_value(
			                json_object_get(v, "start_ns")) >=
			    json_integer_value(json_object_get(
			        json_array_get(nodes, i - 1), "start_ns")));
		n += 1 +
		    check_tree(
		        json_object_get(v, "children"), id, expect, seen);
	}
	return n;
}

/* Records a three-level tree of 1 + 3 + 3*3 spans; returns its id. */
static void
record_tree(struct agent_tracer *t, json_t *expect, char id[33])
{
	struct agent_span *root, *step, *leaf;
	char name[32];

	root = record(t, NULL, "invoke_agent react", AGENT_SPAN_RUN, expect);
	strcpy(id, agent_span_trace_id(root));
	expect_attr(root, expect, "gen_ai.agent.name", json_string("react"));
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "react.step %d", i);
		step = record(t, root, name, AGENT_SPAN_STEP, expect);
		expect_attr(step, expect, "agentd.step", json_integer(i));
		for (int j = 0; j < 3; j++) {
			snprintf(name, sizeof name, "leaf %d.%d", i, j);
			leaf = record(t, step, name,
			    j == 0 ? AGENT_SPAN_LLM : AGENT_SPAN_TOOL, expect);
			expect_attr(leaf, expect, "gen_ai.usage.output_tokens",
			    json_integer(10 * i + j));
			expect_attr(leaf, expect, "agentd.tokens_per_s",
			    json_real(0.5 + j));
			expect_attr(leaf, expect, "gen_ai.request.stop",
			    json_pack("[s, s]", "\nObservation:", "ü"));
			expect_attr(leaf, expect, "agentd.nested",
			    json_pack("{s:b, s:n}", "flag", j == 1, "none"));
			agent_span_end(leaf);
		}
		agent_span_end(step);
	}
	agent_span_end(root);
}

static void
test_tree_equals_recorded(void **state)
{
	struct agent_tracer *t;
	json_t *expect = json_object(), *spans, *tree, *seen = json_object();
	char id[33], *path, *cause = NULL;
	size_t skipped = 99;

	(void)state;
	t = agent_tracer_new(dir, AGENT_TRACE_FSYNC_NEVER, &cause);
	assert_non_null(t);
	record_tree(t, expect, id);
	path = trace_path(id);
	spans = agent_trace_read(path, &skipped, &cause);
	assert_non_null(spans);
	assert_int_equal(skipped, 0);
	assert_int_equal(json_array_size(spans), 13);
	tree = agent_trace_tree(spans);
	assert_int_equal(json_array_size(tree), 1);
	assert_int_equal(check_tree(tree, NULL, expect, seen), 13);
	assert_int_equal(json_object_size(seen), json_object_size(expect));
	json_decref(tree);
	json_decref(spans);
	json_decref(seen);
	json_decref(expect);
	free(path);
	agent_tracer_free(t);
}

/* Counts the whole lines ('\n'-ended, non-empty) in text[0..len). */
static size_t
whole_lines(const char *text, size_t len)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n') {
			if (i > start)
				n++;
			start = i + 1;
		}
	}
	return n;
}

static void
test_cut_mid_line(void **state)
{
	struct agent_tracer *t;
	struct agent_span *s;
	json_t *expect = json_object(), *spans;
	char id[33], *path, *text, *cause = NULL;
	size_t len, skipped, tail;

	(void)state;
	t = agent_tracer_new(dir, AGENT_TRACE_FSYNC_ALWAYS, &cause);
	assert_non_null(t);
	record_tree(t, expect, id);
	path = trace_path(id);
	text = read_file(path, &len);

	/*
	 * A cut reads back exactly the whole lines before it: every cut in
	 * the last two lines and around every line end, every 13th byte
	 * elsewhere (each cut rewrites the file, which is slow on some file
	 * systems).
	 */
	tail = len;
	for (int nl = 0; tail > 0 && nl < 3; tail--) {
		if (text[tail - 1] == '\n')
			nl++;
	}
	for (size_t cut = 0; cut <= len; cut++) {
		if (cut < tail && cut % 13 != 0 && text[cut] != '\n' &&
		    (cut == 0 || text[cut - 1] != '\n'))
			continue;
		write_file(path, text, cut);
		spans = agent_trace_read(path, &skipped, &cause);
		assert_non_null(spans);
		assert_int_equal(
		    json_array_size(spans), whole_lines(text, cut));
		assert_int_equal(
		    skipped, cut == 0 || text[cut - 1] == '\n' ? 0 : 1);
		json_decref(spans);
	}

	/* Cut mid-line, then append: the new span is not lost. */
	free(path);
	/* The next span joins the cut file through its traceparent. */
	path = trace_path("0123456789abcdef0123456789abcdef");
	write_file(path, text, len - 10);
	s = agent_span_root(t, "after the crash", AGENT_SPAN_RUN,
	    "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01");
	agent_span_end(s);
	spans = agent_trace_read(path, &skipped, &cause);
	assert_non_null(spans);
	assert_int_equal(skipped, 1);
	assert_int_equal(json_array_size(spans), 13);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(spans, 12), "name")),
	    "after the crash");
	json_decref(spans);
	free(text);
	free(path);
	json_decref(expect);
	agent_tracer_free(t);
}

static void
test_fsync_policy(void **state)
{
	struct agent_tracer *t;
	struct agent_span *s;
	enum agent_trace_fsync p;
	json_t *spans;
	char *path, *cause = NULL, id[33];

	(void)state;
	assert_int_equal(agent_trace_fsync_parse("never", &p), 0);
	assert_int_equal(p, AGENT_TRACE_FSYNC_NEVER);
	assert_int_equal(agent_trace_fsync_parse("always", &p), 0);
	assert_int_equal(p, AGENT_TRACE_FSYNC_ALWAYS);
	assert_int_equal(agent_trace_fsync_parse("everysec", &p), 0);
	assert_int_equal(p, AGENT_TRACE_FSYNC_EVERYSEC);
	assert_int_equal(agent_trace_fsync_parse("sometimes", &p), -1);
	assert_string_equal(
	    agent_trace_fsync_name(AGENT_TRACE_FSYNC_EVERYSEC), "everysec");

	assert_null(agent_tracer_new(dir, 3, &cause));
	assert_non_null(strstr(cause, "fsync policy"));
	free(cause);
	cause = NULL;

	t = agent_tracer_new(dir, AGENT_TRACE_FSYNC_EVERYSEC, &cause);
	assert_non_null(t);
	for (int i = 0; i < 3; i++) {
		s = agent_span_root(t, "r", AGENT_SPAN_RUN, NULL);
		strcpy(id, agent_span_trace_id(s));
		agent_span_end(s);
	}
	agent_tracer_sync(t);
	path = trace_path(id);
	spans = agent_trace_read(path, NULL, &cause);
	assert_non_null(spans);
	assert_int_equal(json_array_size(spans), 1);
	json_decref(spans);
	free(path);
	agent_tracer_free(t);
}

/* Writes a trace file of size bytes whose mtime is age_s seconds ago. */
static void
make_old(const char *id, size_t bytes, time_t age_s)
{
	struct timespec ts[2];
	char *path = trace_path(id), *text = xmalloc(bytes);

	memset(text, '\n', bytes);
	write_file(path, text, bytes);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age_s;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(text);
	free(path);
}

static int
exists(const char *id)
{
	char *path = trace_path(id);
	int rc = access(path, F_OK) == 0;

	free(path);
	return rc;
}

static void
test_retention(void **state)
{
	char *cause = NULL, *other;
	size_t removed = 99;
	const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	const char *c = "cccccccccccccccccccccccccccccccc";
	const char *d = "dddddddddddddddddddddddddddddddd";

	(void)state;
	make_old(a, 100, 10); /* newest */
	make_old(b, 100, 100);
	make_old(c, 100, 1000);
	make_old(d, 100, 100000); /* oldest */
	xasprintf(&other, "%s/notes.txt", dir);
	write_file(other, "keep", 4);

	/* No limits: nothing goes. */
	assert_int_equal(agent_trace_prune(
	                     dir, 0, 0, (uint64_t)time(NULL), &removed, &cause),
	    0);
	assert_int_equal(removed, 0);
	/* By age: older than an hour. */
	assert_int_equal(agent_trace_prune(dir, 0, 3600, (uint64_t)time(NULL),
	                     &removed, &cause),
	    0);
	assert_int_equal(removed, 1);
	assert_false(exists(d));
	assert_true(exists(c));
	/* By size: 250 bytes keep the two newest. */
	assert_int_equal(agent_trace_prune(dir, 250, 0, (uint64_t)time(NULL),
	                     &removed, &cause),
	    0);
	assert_int_equal(removed, 1);
	assert_true(exists(a));
	assert_true(exists(b));
	assert_false(exists(c));
	assert_int_equal(access(other, F_OK), 0);
	free(other);

	/* A folder that cannot be read is an error naming it. */
	assert_int_equal(
	    agent_trace_prune("/nonexistent/traces", 1, 0, 0, &removed, &cause),
	    -1);
	assert_non_null(strstr(cause, "/nonexistent/traces"));
	free(cause);
}

/* Writes a one-span trace: a run by agent, with a status and start. */
static void
make_trace(
    const char *id, const char *agent, int error, int64_t start_ns, int root)
{
	char *path = trace_path(id), *line;

	xasprintf(&line,
	    "{\"trace_id\":\"%s\",\"span_id\":\"1111111111111111\","
	    "\"parent_span_id\":\"2222222222222222\",\"name\":\"llm\","
	    "\"kind\":\"llm\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64
	    ",\"status\":\"ok\",\"attributes\":{}}\n"
	    "%s{\"trace_id\":\"%s\",\"span_id\":\"2222222222222222\","
	    "\"parent_span_id\":null,\"name\":\"invoke_agent %s\","
	    "\"kind\":\"run\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64
	    ",\"status\":\"%s\",%s\"attributes\":{\"gen_ai.agent.name\":"
	    "\"%s\",\"gen_ai.usage.input_tokens\":40,"
	    "\"gen_ai.usage.output_tokens\":2}}\n",
	    id, start_ns + 10, start_ns + 20, root ? "" : "#", id, agent,
	    start_ns, start_ns + 1000000000, error ? "error" : "ok",
	    error ? "\"status_message\":\"max steps\"," : "", agent);
	write_file(path, line, strlen(line));
	free(line);
	free(path);
}

static size_t
list_count(const struct agent_trace_filter *f, json_t **out)
{
	char *cause = NULL;
	json_t *v = agent_trace_list(dir, f, &cause);

	assert_non_null(v);
	*out = v;
	return json_array_size(json_object_get(v, "traces"));
}

static void
test_list(void **state)
{
	struct agent_trace_filter f;
	json_t *v, *t;
	char *cause = NULL;
	int64_t base = 1700000000000000000LL;

	(void)state;
	make_trace("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "react", 0, base, 1);
	make_trace("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "react", 1,
	    base + 2000000000LL, 1);
	make_trace("cccccccccccccccccccccccccccccccc", "planner", 0,
	    base + 4000000000LL, 1);
	/* A run still going: only a child line is whole. */
	make_trace("dddddddddddddddddddddddddddddddd", "react", 0,
	    base + 6000000000LL, 0);

	memset(&f, 0, sizeof f);
	assert_int_equal(list_count(&f, &v), 4);
	assert_false(json_is_true(json_object_get(v, "truncated")));
	json_decref(v);

	f.agent = "react";
	assert_int_equal(list_count(&f, &v), 2);
	json_decref(v);
	f.agent = NULL;

	f.outcome = "error";
	assert_int_equal(list_count(&f, &v), 1);
	t = json_array_get(json_object_get(v, "traces"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "trace_id")),
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_string_equal(
	    json_string_value(json_object_get(t, "status_message")),
	    "max steps");
	assert_int_equal(
	    json_integer_value(json_object_get(t, "duration_ms")), 1000);
	assert_int_equal(
	    json_integer_value(json_object_get(t, "input_tokens")), 40);
	assert_int_equal(
	    json_integer_value(json_object_get(t, "output_tokens")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(t, "span_count")), 2);
	json_decref(v);

	f.outcome = "incomplete";
	assert_int_equal(list_count(&f, &v), 1);
	t = json_array_get(json_object_get(v, "traces"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "trace_id")),
	    "dddddddddddddddddddddddddddddddd");
	json_decref(v);
	f.outcome = NULL;

	/* By start time: only the ones starting in [base+1s, base+5s]. */
	f.since_ns = (uint64_t)base + 1000000000ULL;
	f.until_ns = (uint64_t)base + 5000000000ULL;
	assert_int_equal(list_count(&f, &v), 2);
	json_decref(v);
	f.since_ns = f.until_ns = 0;

	f.limit = 3;
	assert_int_equal(list_count(&f, &v), 3);
	assert_true(json_is_true(json_object_get(v, "truncated")));
	json_decref(v);
	f.limit = 0;

	f.outcome = "maybe";
	assert_null(agent_trace_list(dir, &f, &cause));
	assert_non_null(strstr(cause, "maybe"));
	free(cause);
}

/* The value of attribute key in an OTLP KeyValue list, or NULL. */
static json_t *
otlp_attr(json_t *attrs, const char *key)
{
	json_t *kv;
	size_t i;

	json_array_foreach(attrs, i, kv)
	{
		if (strcmp(json_string_value(json_object_get(kv, "key")),
		        key) == 0)
			return json_object_get(kv, "value");
	}
	return NULL;
}

static void
test_otlp(void **state)
{
	struct agent_tracer *t;
	struct agent_span *root, *llm, *tool;
	json_t *ids, *out, *spans, *s, *v, *res;
	char id[33], rid[17], *cause = NULL;
	const char *key;
	size_t i;
	int unknown = 0, seen_root = 0, seen_llm = 0, seen_tool = 0;

	(void)state;
	t = agent_tracer_new(dir, 0, &cause);
	assert_non_null(t);
	root = agent_span_root(t, "invoke_agent react", AGENT_SPAN_RUN, NULL);
	strcpy(id, agent_span_trace_id(root));
	strcpy(rid, agent_span_id(root));
	llm = agent_span_child(root, "text_completion m", AGENT_SPAN_LLM);
	agent_span_attr_int(llm, "gen_ai.usage.output_tokens", 12);
	agent_span_attr_real(llm, "agentd.ttft_ms", 1.5);
	agent_span_attr(
	    llm, "gen_ai.response.finish_reasons", json_pack("[s]", "stop"));
	agent_span_attr(
	    llm, "agentd.obj", json_pack("{s:b, s:n}", "x", 1, "y"));
	agent_span_end(llm);
	tool = agent_span_child(root, "execute_tool calc", AGENT_SPAN_TOOL);
	agent_span_error(tool, "bad input");
	agent_span_end(tool);
	agent_span_end(root);

	ids = json_pack("[s]", id);
	out = agent_trace_export(dir, ids, "agentd", "1.2.3", &unknown, &cause);
	assert_non_null(out);
	/* Only the TracesData names at each level. */
	assert_int_equal(json_object_size(out), 1);
	res = json_array_get(json_object_get(out, "resourceSpans"), 0);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(
	        otlp_attr(json_object_get(
	                      json_object_get(res, "resource"), "attributes"),
	            "service.name"),
	        "stringValue")),
	    "agentd");
	s = json_array_get(json_object_get(res, "scopeSpans"), 0);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(s, "scope"), "version")),
	    "1.2.3");
	spans = json_object_get(s, "spans");
	assert_int_equal(json_array_size(spans), 3);
	json_array_foreach(spans, i, s)
	{
		json_object_foreach(s, key, v)
		{
			assert_true(strcmp(key, "traceId") == 0 ||
			    strcmp(key, "spanId") == 0 ||
			    strcmp(key, "parentSpanId") == 0 ||
			    strcmp(key, "name") == 0 ||
			    strcmp(key, "kind") == 0 ||
			    strcmp(key, "startTimeUnixNano") == 0 ||
			    strcmp(key, "endTimeUnixNano") == 0 ||
			    strcmp(key, "attributes") == 0 ||
			    strcmp(key, "status") == 0);
		}
		assert_string_equal(
		    json_string_value(json_object_get(s, "traceId")), id);
		assert_int_equal(
		    strlen(json_string_value(json_object_get(s, "spanId"))),
		    16);
		assert_true(json_is_integer(json_object_get(s, "kind")));
		assert_true(
		    json_is_string(json_object_get(s, "startTimeUnixNano")));
		assert_true(strtoull(json_string_value(json_object_get(
		                         s, "startTimeUnixNano")),
		                NULL, 10) > 1600000000000000000ULL);
		assert_true(json_is_integer(
		    json_object_get(json_object_get(s, "status"), "code")));
		key = json_string_value(json_object_get(s, "name"));
		if (strcmp(key, "invoke_agent react") == 0) {
			seen_root = 1;
			assert_null(json_object_get(s, "parentSpanId"));
			assert_int_equal(
			    json_integer_value(json_object_get(s, "kind")), 2);
		} else {
			assert_string_equal(json_string_value(json_object_get(
			                        s, "parentSpanId")),
			    rid);
		}
		if (strcmp(key, "text_completion m") == 0) {
			seen_llm = 1;
			assert_int_equal(
			    json_integer_value(json_object_get(s, "kind")), 3);
			v = json_object_get(s, "attributes");
			assert_string_equal(
			    json_string_value(json_object_get(
			        otlp_attr(v, "gen_ai.usage.output_tokens"),
			        "intValue")),
			    "12");
			assert_true(json_real_value(json_object_get(
			                otlp_attr(v, "agentd.ttft_ms"),
			                "doubleValue")) == 1.5);
			assert_string_equal(
			    json_string_value(json_object_get(
			        json_array_get(
			            json_object_get(
			                json_object_get(otlp_attr(v,
			                                    "gen_ai.response."
			                                    "finish_reasons"),
			                    "arrayValue"),
			                "values"),
			            0),
			        "stringValue")),
			    "stop");
			/* A kvlist, with the null member left out. */
			v = json_object_get(
			    json_object_get(
			        otlp_attr(v, "agentd.obj"), "kvlistValue"),
			    "values");
			assert_int_equal(json_array_size(v), 1);
			assert_true(json_is_true(json_object_get(
			    json_object_get(json_array_get(v, 0), "value"),
			    "boolValue")));
			assert_string_equal(
			    json_string_value(json_object_get(
			        otlp_attr(json_object_get(s, "attributes"),
			            "agentd.span.kind"),
			        "stringValue")),
			    "llm");
		}
		if (strcmp(key, "execute_tool calc") == 0) {
			seen_tool = 1;
			assert_int_equal(
			    json_integer_value(json_object_get(s, "kind")), 1);
			v = json_object_get(s, "status");
			assert_int_equal(
			    json_integer_value(json_object_get(v, "code")), 2);
			assert_string_equal(
			    json_string_value(json_object_get(v, "message")),
			    "bad input");
		}
	}
	assert_true(seen_root && seen_llm && seen_tool);
	json_decref(out);
	json_decref(ids);

	/* Unknown and malformed ids. */
	ids = json_pack("[s]", "0123456789abcdef0123456789abcdef");
	assert_null(
	    agent_trace_export(dir, ids, "agentd", "1", &unknown, &cause));
	assert_int_equal(unknown, 1);
	assert_non_null(strstr(cause, "unknown trace"));
	free(cause);
	json_decref(ids);
	ids = json_pack("[s, i]", id, 5);
	assert_null(
	    agent_trace_export(dir, ids, "agentd", "1", &unknown, &cause));
	assert_int_equal(unknown, 0);
	assert_non_null(strstr(cause, "trace id 1"));
	free(cause);
	json_decref(ids);
	agent_tracer_free(t);
}

/*
 * Lines that read as spans but carry odd members: list, export and the
 * tree must stay well formed, and the export must leave out what OTLP
 * cannot carry.
 */
static void
test_hostile_lines(void **state)
{
	const char *id = "abcdefabcdefabcdefabcdefabcdef12";
	struct agent_trace_filter f;
	char *path = trace_path(id), *cause = NULL, *text, *deep;
	json_t *ids, *out, *spans, *list, *tree;
	size_t skipped = 0;
	int unknown = 0;

	(void)state;
	/* Attributes nested 40 deep. */
	deep = xstrdup("1");
	for (int i = 0; i < 40; i++) {
		char *next;

		xasprintf(&next, "{\"k\":[%s]}", deep);
		free(deep);
		deep = next;
	}
	xasprintf(&text,
	    "{\"trace_id\":\"%s\",\"span_id\":\"zz\",\"name\":\"bad id\","
	    "\"kind\":\"tool\",\"start_ns\":5,\"end_ns\":1}\n"
	    "{\"trace_id\":\"%s\",\"span_id\":\"1111111111111111\","
	    "\"parent_span_id\":7,\"name\":\"odd\",\"kind\":\"run\","
	    "\"start_ns\":-3,\"end_ns\":9,\"status\":5,"
	    "\"attributes\":[1,2]}\n"
	    "{\"trace_id\":\"%s\",\"span_id\":\"2222222222222222\","
	    "\"parent_span_id\":\"1111111111111111\",\"name\":\"deep\","
	    "\"kind\":\"llm\",\"start_ns\":1,\"end_ns\":2,"
	    "\"status\":\"error\",\"attributes\":{\"a\":%s,\"n\":null}}\n",
	    id, id, id, deep);
	write_file(path, text, strlen(text));
	free(text);
	free(deep);

	spans = agent_trace_read(path, &skipped, &cause);
	assert_non_null(spans);
	assert_int_equal(json_array_size(spans), 3);
	tree = agent_trace_tree(spans);
	assert_non_null(tree);
	json_decref(tree);
	/* The evaluation report reads such spans too. */
	list = json_pack("[{s:s, s:b, s:f, s:O}]", "id", "x", "pass", 1,
	    "wall_ms", 1.0, "spans", spans);
	out = agent_eval_report(list);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(out, "components"), "model"),
	        "errors")),
	    1);
	text = agent_eval_markdown(out);
	assert_non_null(text);
	free(text);
	json_decref(out);
	json_decref(list);
	json_decref(spans);

	memset(&f, 0, sizeof f);
	list = agent_trace_list(dir, &f, &cause);
	assert_non_null(list);
	assert_int_equal(json_array_size(json_object_get(list, "traces")), 1);
	json_decref(list);

	ids = json_pack("[s]", id);
	out = agent_trace_export(dir, ids, "agentd", "1", &unknown, &cause);
	assert_non_null(out);
	spans = json_object_get(
	    json_array_get(
	        json_object_get(
	            json_array_get(json_object_get(out, "resourceSpans"), 0),
	            "scopeSpans"),
	        0),
	    "spans");
	/* The span whose id is not hex is left out. */
	assert_int_equal(json_array_size(spans), 2);
	json_decref(out);
	json_decref(ids);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_tree_equals_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cut_mid_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fsync_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_otlp, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_hostile_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
