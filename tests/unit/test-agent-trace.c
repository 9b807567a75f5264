/*
 * test-agent-trace.c: the span recorder and the JSONL store
 * (agent/trace.c): W3C ids and traceparent, the round trip from spans to
 * lines to the tree trace.get returns, torn and malformed lines, loops
 * and deep chains in a damaged file, unknown traces, and concurrent
 * writers that never interleave within a line.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/trace.h"
#include "daemon/util.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test-agent-trace-XXXXXX");
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

static void
append_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "ab");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_ids(void **state)
{
	char tid[33], sid[17], hex[33], *cause = NULL;

	(void)state;
	agent_random_hex(hex, 16);
	assert_int_equal(strlen(hex), 32);
	assert_true(agent_trace_id_valid(hex));
	assert_false(agent_trace_id_valid("00000000000000000000000000000000"));
	assert_false(agent_trace_id_valid("4BF92F3577B34DA6A3CE929D0E0E4736"));
	assert_false(agent_trace_id_valid("4bf92f"));

	assert_int_equal(agent_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e"
	                                         "0e4736-00f067aa0ba902b7-01",
	                     tid, sid, &cause),
	    0);
	assert_string_equal(tid, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(sid, "00f067aa0ba902b7");
	{
		static const char *const bad[] = {
			"",
			"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
			"01",
			"00-00000000000000000000000000000000-00f067aa0ba902b7-"
			"01",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-"
			"01",
			"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-"
			"01",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
			"0x",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
			"01-",
			"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
			"01",
		};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			cause = NULL;
			assert_int_equal(
			    agent_traceparent_parse(bad[i], NULL, NULL, &cause),
			    -1);
			assert_non_null(strstr(cause, "traceparent"));
			free(cause);
		}
	}
}

/* Spans to lines to a tree, and back to what was recorded. */
static void
test_round_trip(void **state)
{
	struct agent_tracer *t;
	struct agent_span *root, *step, *llm, *tool;
	json_t *tr, *spans, *r, *kids, *s, *attrs;
	char *cause = NULL, id[33], rid[17], sid[17];
	int unknown = -1;

	(void)state;
	t = agent_tracer_new(dir, 1, &cause);
	assert_non_null(t);
	assert_string_equal(agent_tracer_dir(t), dir);
	root = agent_span_root(t, "invoke_agent react", AGENT_SPAN_RUN, NULL);
	strcpy(id, agent_span_trace_id(root));
	strcpy(rid, agent_span_id(root));
	agent_span_attr_str(root, "gen_ai.agent.name", "react");
	step = agent_span_child(root, "react.step", AGENT_SPAN_STEP);
	strcpy(sid, agent_span_id(step));
	llm = agent_span_child(step, "text_completion m", AGENT_SPAN_LLM);
	agent_span_attr_int(llm, "gen_ai.usage.output_tokens", 7);
	agent_span_attr_real(llm, "agentd.tokens_per_s", 12.5);
	agent_span_attr_str(llm, "agentd.completion", "ünïcödé \"quoted\"\n");
	agent_span_attr_int(llm, "gen_ai.usage.output_tokens", 8);
	agent_span_end(llm);
	tool = agent_span_child(step, "execute_tool calc", AGENT_SPAN_TOOL);
	agent_span_error(tool, "division by %s", "zero");
	agent_span_end(tool);
	agent_span_end(step);
	agent_span_end(root);

	tr = agent_trace_get(t, id, &unknown, &cause);
	assert_non_null(tr);
	assert_int_equal(unknown, 0);
	assert_string_equal(
	    json_string_value(json_object_get(tr, "trace_id")), id);
	assert_int_equal(
	    json_integer_value(json_object_get(tr, "span_count")), 4);
	assert_int_equal(
	    json_integer_value(json_object_get(tr, "skipped_lines")), 0);
	spans = json_object_get(tr, "spans");
	assert_int_equal(json_array_size(spans), 1);
	r = json_array_get(spans, 0);
	assert_string_equal(
	    json_string_value(json_object_get(r, "span_id")), rid);
	assert_true(json_is_null(json_object_get(r, "parent_span_id")));
	assert_string_equal(
	    json_string_value(json_object_get(r, "kind")), "run");
	assert_string_equal(
	    json_string_value(json_object_get(r, "status")), "ok");
	assert_true(json_integer_value(json_object_get(r, "end_ns")) >=
	    json_integer_value(json_object_get(r, "start_ns")));
	kids = json_object_get(r, "children");
	assert_int_equal(json_array_size(kids), 1);
	s = json_array_get(kids, 0);
	assert_string_equal(
	    json_string_value(json_object_get(s, "parent_span_id")), rid);
	kids = json_object_get(s, "children");
	assert_int_equal(json_array_size(kids), 2);
	/* Children in start order: the llm span began first. */
	s = json_array_get(kids, 0);
	assert_string_equal(
	    json_string_value(json_object_get(s, "name")), "text_completion m");
	attrs = json_object_get(s, "attributes");
	assert_int_equal(json_integer_value(json_object_get(
	                     attrs, "gen_ai.usage.output_tokens")),
	    8);
	assert_true(json_real_value(
	                json_object_get(attrs, "agentd.tokens_per_s")) == 12.5);
	assert_string_equal(
	    json_string_value(json_object_get(attrs, "agentd.completion")),
	    "ünïcödé \"quoted\"\n");
	s = json_array_get(kids, 1);
	assert_string_equal(
	    json_string_value(json_object_get(s, "status")), "error");
	assert_string_equal(
	    json_string_value(json_object_get(s, "status_message")),
	    "division by zero");
	assert_string_equal(
	    json_string_value(json_object_get(s, "parent_span_id")), sid);
	json_decref(tr);

	/* A torn last line and garbage lines are skipped; whole ones stay. */
	{
		char *path = trace_path(id);

		append_text(path,
		    "not json\n{\"trace_id\":\"x\"}\n\n"
		    "{\"trace_id\":\"a\",\"span_id\":\"b\",\"name\":"
		    "\"n\",\"kind\":\"bogus\",\"start_ns\":1,"
		    "\"end_ns\":2}\n{\"trace_id\":\"");
		free(path);
	}
	tr = agent_trace_get(t, id, NULL, &cause);
	assert_non_null(tr);
	assert_int_equal(
	    json_integer_value(json_object_get(tr, "span_count")), 4);
	assert_int_equal(
	    json_integer_value(json_object_get(tr, "skipped_lines")), 4);
	json_decref(tr);
	agent_tracer_free(t);
}

static void
test_unknown(void **state)
{
	struct agent_tracer *t;
	char *cause = NULL;
	int unknown = 0;

	(void)state;
	t = agent_tracer_new(dir, 0, &cause);
	assert_null(agent_trace_get(
	    t, "0123456789abcdef0123456789abcdef", &unknown, &cause));
	assert_int_equal(unknown, 1);
	assert_non_null(strstr(cause, "unknown trace"));
	free(cause);
	cause = NULL;
	unknown = 0;
	assert_null(agent_trace_get(t, "../../etc/passwd", &unknown, &cause));
	assert_int_equal(unknown, 1);
	assert_non_null(strstr(cause, "not a trace id"));
	free(cause);
	cause = NULL;
	agent_tracer_free(t);

	/* A folder that cannot be made says where. */
	assert_null(agent_tracer_new("/proc/no/such/traces", 0, &cause));
	assert_non_null(strstr(cause, "/proc/no/such/traces"));
	free(cause);
}

/* Loops and deep chains in a damaged file still read as a finite tree. */
static void
test_damaged_tree(void **state)
{
	static const char id[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	char *path = trace_path(id), *cause = NULL;
	struct buf b;
	json_t *spans, *roots, *node;
	size_t depth = 0;

	(void)state;
	buf_init(&b, SIZE_MAX);
#define LINE(sid, pid, start)                                                \
	buf_printf(&b,                                                       \
	    "{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_span_id\":%s," \
	    "\"name\":\"n\",\"kind\":\"step\",\"start_ns\":%d,"              \
	    "\"end_ns\":%d,\"status\":\"ok\",\"attributes\":{}}\n",          \
	    id, sid, pid, start, start + 1)
	/* A loop of two, and one that is its own parent. */
	LINE("1000000000000001", "\"1000000000000002\"", 1);
	LINE("1000000000000002", "\"1000000000000001\"", 2);
	LINE("1000000000000003", "\"1000000000000003\"", 3);
	/* A chain 100 deep. */
	for (int i = 0; i < 100; i++) {
		char sid[17], pid[20];

		snprintf(sid, sizeof sid, "20000000000000%02d", i);
		if (i == 0)
			snprintf(pid, sizeof pid, "null");
		else
			snprintf(
			    pid, sizeof pid, "\"20000000000000%02d\"", i - 1);
		LINE(sid, pid, 10 + i);
	}
#undef LINE
	append_text(path, b.data);
	buf_free(&b);

	spans = agent_trace_read(path, NULL, &cause);
	assert_non_null(spans);
	assert_int_equal(json_array_size(spans), 103);
	roots = agent_trace_tree(spans);
	/* The loop is broken once, the self-parent is a root, the chain is
	 * cut at the depth limit into two trees. */
	assert_int_equal(json_array_size(roots), 4);
	node = json_array_get(roots, 2);
	while (json_array_size(json_object_get(node, "children")) > 0) {
		node = json_array_get(json_object_get(node, "children"), 0);
		depth++;
	}
	assert_int_equal(depth, AGENT_TRACE_MAX_DEPTH - 1);
	json_decref(roots);
	json_decref(spans);
	free(path);
}

/* A client's traceparent: same trace id, the client's span as parent. */
static void
test_traceparent_root(void **state)
{
	struct agent_tracer *t;
	struct agent_span *root;
	json_t *tr, *r;
	char *cause = NULL;

	(void)state;
	t = agent_tracer_new(dir, 0, &cause);
	root = agent_span_root(t, "run", AGENT_SPAN_RUN,
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	assert_string_equal(
	    agent_span_trace_id(root), "0af7651916cd43dd8448eb211c80319c");
	agent_span_end(root);
	tr = agent_trace_get(
	    t, "0af7651916cd43dd8448eb211c80319c", NULL, &cause);
	assert_non_null(tr);
	r = json_array_get(json_object_get(tr, "spans"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(r, "parent_span_id")),
	    "b7ad6b7169203331");
	json_decref(tr);

	/* A bad one is ignored: a fresh trace. */
	root = agent_span_root(t, "run", AGENT_SPAN_RUN, "00-zz");
	assert_true(agent_trace_id_valid(agent_span_trace_id(root)));
	agent_span_end(root);
	agent_tracer_free(t);
}

struct writer {
	struct agent_span *parent;
	int n;
};

static void *
writer_thread(void *arg)
{
	struct writer *w = arg;
	char big[3000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < w->n; i++) {
		struct agent_span *s =
		    agent_span_child(w->parent, "w", AGENT_SPAN_TOOL);

		agent_span_attr_str(s, "big", big);
		agent_span_end(s);
	}
	return NULL;
}

/* Concurrent writers to one trace: every line whole. */
static void
test_concurrent_writers(void **state)
{
	struct agent_tracer *t;
	struct agent_span *root;
	struct writer w[4];
	pthread_t tid[4];
	json_t *spans;
	char *cause = NULL, *path;
	size_t skipped = 9;

	(void)state;
	t = agent_tracer_new(dir, 0, &cause);
	root = agent_span_root(t, "run", AGENT_SPAN_RUN, NULL);
	for (int i = 0; i < 4; i++) {
		w[i].parent = root;
		w[i].n = 200;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, writer_thread, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	path = trace_path(agent_span_trace_id(root));
	agent_span_end(root);
	spans = agent_trace_read(path, &skipped, &cause);
	assert_non_null(spans);
	assert_int_equal(skipped, 0);
	assert_int_equal(json_array_size(spans), 801);
	json_decref(spans);
	free(path);
	agent_tracer_free(t);
}

/* Spans without a store still work (the loop's unit tests use them). */
static void
test_no_store(void **state)
{
	struct agent_span *root, *c;

	(void)state;
	root = agent_span_root(NULL, "r", AGENT_SPAN_RUN, NULL);
	c = agent_span_child(root, "c", AGENT_SPAN_PARSE);
	assert_string_equal(agent_span_trace_id(c), agent_span_trace_id(root));
	assert_string_not_equal(agent_span_id(c), agent_span_id(root));
	agent_span_attr(c, "k", NULL);
	agent_span_end(c);
	agent_span_end(root);
	agent_span_end(NULL);
	assert_string_equal(agent_span_kind_name(AGENT_SPAN_JUDGE), "judge");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_damaged_tree),
		cmocka_unit_test(test_traceparent_root),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_no_store),
	};

	log_level = LOG_LEVEL_ERR;
	return cmocka_run_group_tests(tests, setup, teardown);
}
