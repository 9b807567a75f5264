/*
 * test-agent-daemon.c: the agent runtime through the real agentd over a
 * real socket, on the scripted backend (agentd.conf's scripted_model):
 * agent.run with streaming (events in order, then the response), run.get,
 * runs.list and trace.get on the run it made, 8 concurrent runs that all
 * finish, agent.cancel and a client that goes away mid-run, the tools
 * methods and their errors, plugins.reload, and agentctl run, tools,
 * tool, agents and cancel against the same daemon.
 */
#include <sys/stat.h>

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

#include "daemon/protocol.h"
#include "tests/common/harness.h"

#define TEST_LIMIT 120

static char sdir[HARNESS_DIR_MAX];
static struct harness_daemon *d;

static const char script[] =
    "{\"scripts\": ["
    "{\"match\": \"Question: slow\", \"outputs\": [{\"text\": \"Thought: "
    "this takes a long while to say and it goes on and on and on and on "
    "and on and on and on and on and on and on and on and on and on and "
    "on and on and on and on and on and on and on and on and on and on "
    "and on and on\", \"delay_ms\": 50}]},"
    "{\"outputs\": [{\"text\": \"Thought: I need to compute.\\nAction: "
    "calc\\nAction Input: {\\\"expression\\\": \\\"17*23-45\\\"}\\n"
    "Observation: 1\", \"delay_ms\": 2}, \"Thought: I know the answer\\n"
    "Final Answer: 346\\n\"]}]}";

static int
setup(void **state)
{
	char path[PATH_MAX + 32], *conf, *kb;
	struct harness_opts opts;

	(void)state;
	harness_time_limit(TEST_LIMIT * 4);
	assert_int_equal(harness_tmpdir(sdir), 0);
	snprintf(path, sizeof path, "%s/script.json", sdir);
	assert_int_equal(harness_write_file(path, script), 0);
	/* Relative paths in a config resolve against its folder. */
	kb = realpath(harness_srcdir(), NULL);
	assert_non_null(kb);
	snprintf(path, sizeof path, "%s/tests/fixtures/kb", kb);
	free(kb);
	kb = strdup(path);
	snprintf(path, sizeof path, "%s/script.json", sdir);
	if (asprintf(&conf,
	        "scripted_model %s\ntrace_dir %s/traces\nkb_dir %s\n"
	        "workers 8\ntool_timeout_ms 5000\nagents_dir %s/none\n",
	        path, sdir, kb, sdir) < 0)
		fail();
	memset(&opts, 0, sizeof opts);
	opts.config = conf;
	d = harness_daemon_start(&opts);
	free(conf);
	free(kb);
	assert_non_null(d);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
	harness_rmtree(sdir);
	return 0;
}

static struct harness_conn *
conn(void)
{
	struct harness_conn *c = harness_conn_open(d->socket);

	assert_non_null(c);
	return c;
}

/* Sends agent.run with id and params (taken). */
static void
send_run(struct harness_conn *c, int id, json_t *params)
{
	json_t *req;
	char *line;

	req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", id,
	    "method", "agent.run", "params", params);
	line = json_dumps(req, JSON_COMPACT);
	assert_int_equal(harness_send_line(c, line), 0);
	free(line);
	json_decref(req);
}

static void
test_stream(void **state)
{
	struct harness_conn *c = conn();
	json_t *msg, *p, *types = json_array(), *r, *res;
	const char *run_id = NULL;
	char rid[64] = "", tid[64] = "";
	json_int_t seq = -1;
	int n_tokens = 0;

	(void)state;
	send_run(c, 41,
	    json_pack("{s:s, s:b}", "input", "What is 17*23-45?", "stream", 1));
	for (;;) {
		msg = harness_recv(c, HARNESS_REPLY_MS);
		assert_non_null(msg);
		if (json_object_get(msg, "id") != NULL)
			break;
		assert_string_equal(
		    json_string_value(json_object_get(msg, "method")),
		    "agent.event");
		p = json_object_get(msg, "params");
		assert_int_equal(
		    json_integer_value(json_object_get(p, "request_id")), 41);
		assert_int_equal(
		    json_integer_value(json_object_get(p, "seq")), seq + 1);
		seq++;
		run_id = json_string_value(json_object_get(p, "run_id"));
		assert_non_null(run_id);
		snprintf(rid, sizeof rid, "%s", run_id);
		if (strcmp(json_string_value(json_object_get(p, "type")),
		        "token") == 0)
			n_tokens++;
		else
			json_array_append_new(types,
			    json_string(
			        json_string_value(json_object_get(p, "type"))));
		json_decref(msg);
	}
	/* Every event came before the one response. */
	res = harness_result(msg);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(res, "answer")), "346");
	assert_string_equal(
	    json_string_value(json_object_get(res, "ending")), "final_answer");
	assert_string_equal(
	    json_string_value(json_object_get(res, "run_id")), rid);
	snprintf(tid, sizeof tid, "%s",
	    json_string_value(json_object_get(res, "trace_id")));
	json_decref(msg);
	assert_true(n_tokens > 5);
	{
		const char *want[] = { "start", "step", "thought", "action",
			"observation", "step", "thought", "final" };
		char *got = json_dumps(types, JSON_COMPACT);

		assert_int_equal(json_array_size(types), 8);
		for (size_t i = 0; i < 8; i++)
			if (strcmp(json_string_value(json_array_get(types, i)),
			        want[i]) != 0)
				fail_msg("events: %s", got);
		free(got);
	}
	json_decref(types);

	/* run.get, runs.list and trace.get know the run. */
	r = harness_call(
	    c, "run.get", json_pack("{s:s}", "run_id", rid), HARNESS_REPLY_MS);
	assert_string_equal(
	    json_string_value(json_object_get(harness_result(r), "state")),
	    "done");
	json_decref(r);
	r = harness_call(c, "runs.list", NULL, HARNESS_REPLY_MS);
	assert_true(
	    json_array_size(json_object_get(harness_result(r), "runs")) >= 1);
	json_decref(r);
	r = harness_call(c, "trace.get", json_pack("{s:s}", "trace_id", tid),
	    HARNESS_REPLY_MS);
	res = harness_result(r);
	assert_non_null(res);
	assert_true(
	    json_integer_value(json_object_get(res, "span_count")) >= 10);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(res, "spans"), 0), "kind")),
	    "run");
	json_decref(r);
	r = harness_call(c, "trace.get",
	    json_pack("{s:s}", "trace_id", "0123456789abcdef0123456789abcdef"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_RUN);
	json_decref(r);
	r = harness_call(c, "run.get", json_pack("{s:s}", "run_id", "ghost"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_RUN);
	json_decref(r);
	harness_conn_close(c);
}

/* Eight runs at once, on eight connections: all finish. */
static void
test_concurrent(void **state)
{
	struct harness_conn *c[8];
	json_t *msg, *res;
	char ids[8][32];

	(void)state;
	for (int i = 0; i < 8; i++) {
		c[i] = conn();
		send_run(c[i], 100 + i,
		    json_pack("{s:s}", "input", "What is 17*23-45?"));
	}
	for (int i = 0; i < 8; i++) {
		msg = harness_recv(c[i], 30000);
		assert_non_null(msg);
		assert_int_equal(
		    json_integer_value(json_object_get(msg, "id")), 100 + i);
		res = harness_result(msg);
		assert_non_null(res);
		assert_string_equal(
		    json_string_value(json_object_get(res, "ending")),
		    "final_answer");
		snprintf(ids[i], sizeof ids[i], "%s",
		    json_string_value(json_object_get(res, "run_id")));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
		json_decref(msg);
		harness_conn_close(c[i]);
	}
}

/* Reads notifications until the run's start event; returns its run id. */
static void
read_start(struct harness_conn *c, char *rid, size_t size)
{
	json_t *msg, *p;

	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	p = json_object_get(msg, "params");
	assert_string_equal(
	    json_string_value(json_object_get(p, "type")), "start");
	snprintf(
	    rid, size, "%s", json_string_value(json_object_get(p, "run_id")));
	json_decref(msg);
}

static void
test_cancel(void **state)
{
	struct harness_conn *a = conn(), *b = conn();
	json_t *r, *msg;
	char rid[64];
	struct timespec t0, t1;
	double ms;

	(void)state;
	send_run(a, 7, json_pack("{s:s, s:b}", "input", "slow", "stream", 1));
	read_start(a, rid, sizeof rid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = harness_call(b, "agent.cancel", json_pack("{s:s}", "run_id", rid),
	    HARNESS_REPLY_MS);
	assert_true(
	    json_is_true(json_object_get(harness_result(r), "cancelled")));
	json_decref(r);
	/* The response comes within a token or two. */
	for (;;) {
		msg = harness_recv(a, 5000);
		assert_non_null(msg);
		if (json_object_get(msg, "id") != NULL)
			break;
		json_decref(msg);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms < 1500);
	assert_string_equal(
	    json_string_value(json_object_get(harness_result(msg), "ending")),
	    "cancelled");
	json_decref(msg);
	r = harness_call(b, "agent.cancel", json_pack("{s:s}", "run_id", rid),
	    HARNESS_REPLY_MS);
	assert_false(
	    json_is_true(json_object_get(harness_result(r), "cancelled")));
	json_decref(r);
	r = harness_call(b, "agent.cancel",
	    json_pack("{s:s}", "run_id", "nope"), HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_RUN);
	json_decref(r);

	/* A client that goes away cancels its run. */
	send_run(a, 8, json_pack("{s:s, s:b}", "input", "slow", "stream", 1));
	read_start(a, rid, sizeof rid);
	harness_conn_close(a);
	for (int i = 0; i < 100; i++) {
		const char *state_s, *ending;
		json_t *res;

		r = harness_call(b, "run.get",
		    json_pack("{s:s}", "run_id", rid), HARNESS_REPLY_MS);
		res = harness_result(r);
		state_s = json_string_value(json_object_get(res, "state"));
		if (strcmp(state_s, "done") == 0) {
			ending =
			    json_string_value(json_object_get(res, "ending"));
			assert_string_equal(ending, "cancelled");
			json_decref(r);
			break;
		}
		json_decref(r);
		assert_true(i < 99);
		usleep(20000);
	}
	harness_conn_close(b);
}

static void
test_tools_methods(void **state)
{
	struct harness_conn *c = conn();
	json_t *r, *res, *t;
	size_t i;
	int calc = 0, kb = 0;
	json_int_t ntools;

	(void)state;
	r = harness_call(c, "tools.list", NULL, HARNESS_REPLY_MS);
	ntools = (json_int_t)json_array_size(
	    json_object_get(harness_result(r), "tools"));
	json_array_foreach(json_object_get(harness_result(r), "tools"), i, t)
	{
		const char *name =
		    json_string_value(json_object_get(t, "name"));

		const char *source =
		    json_string_value(json_object_get(t, "source"));

		calc += strcmp(name, "calc") == 0;
		kb += strcmp(name, "kb_search") == 0;
		assert_true(json_is_object(json_object_get(t, "parameters")));
		/* The built-ins, and the example plugins the build put in
		 * the default plugin folder. */
		if (strcmp(name, "calc") == 0 || strcmp(name, "kb_search") == 0)
			assert_string_equal(source, "builtin");
		else
			assert_true(strcmp(source, "builtin") == 0 ||
			    strcmp(source, "c") == 0 ||
			    strcmp(source, "lua") == 0);
	}
	assert_int_equal(calc, 1);
	assert_int_equal(kb, 1);
	json_decref(r);

	r = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:s}}", "name", "calc", "arguments",
	        "expression", "2^10"),
	    HARNESS_REPLY_MS);
	res = harness_result(r);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(res, "text")), "1024");
	json_decref(r);
	r = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:s}}", "name", "calc", "arguments",
	        "expression", "1/0"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_TOOL_FAILED);
	json_decref(r);
	r = harness_call(c, "tools.call", json_pack("{s:s}", "name", "ghost"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_NAME);
	json_decref(r);
	r = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:i}}", "name", "calc", "arguments", "x", 1),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_TOOL_ARGS);
	json_decref(r);
	r = harness_call(
	    c, "tools.call", json_pack("{s:i}", "name", 1), HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_INVALID_PARAMS);
	json_decref(r);

	r = harness_call(c, "agents.list", NULL, HARNESS_REPLY_MS);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(harness_result(r), "agents"), 0),
	        "name")),
	    "react");
	json_decref(r);
	r = harness_call(c, "plugins.reload", NULL, HARNESS_REPLY_MS);
	res = harness_result(r);
	assert_non_null(res);
	assert_int_equal(
	    json_integer_value(json_object_get(res, "tools")), ntools);
	assert_true(
	    json_integer_value(json_object_get(res, "generation")) >= 2);
	json_decref(r);

	/* agent.run's refusals. */
	r = harness_call(c, "agent.run",
	    json_pack("{s:s, s:s}", "input", "x", "agent", "ghost"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_NAME);
	json_decref(r);
	r = harness_call(c, "agent.run", json_pack("{s:i}", "max_steps", 2),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_INVALID_PARAMS);
	json_decref(r);
	r = harness_call(c, "agent.run",
	    json_pack("{s:s, s:[s]}", "input", "x", "tools", "ghost"),
	    HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_UNKNOWN_NAME);
	json_decref(r);
	harness_conn_close(c);
}

/* Runs agentctl -s SOCK with the arguments (NULL-terminated). */
static int
ctl(char **out, ...)
{
	char path[PATH_MAX], *argv[16];
	const char *a;
	va_list ap;
	int n = 0;

	snprintf(path, sizeof path, "%s/agentctl", harness_out());
	argv[n++] = path;
	argv[n++] = (char *)(uintptr_t) "-s";
	argv[n++] = d->socket;
	va_start(ap, out);
	while ((a = va_arg(ap, const char *)) != NULL && n < 15)
		argv[n++] = (char *)(uintptr_t)a;
	va_end(ap);
	argv[n] = NULL;
	return harness_run(argv, NULL, 30000, out);
}

/* The params run.get reports for run_id (*params: a new reference). */
static void
r_params(const char *run_id, json_t **params)
{
	struct harness_conn *c = conn();
	json_t *r;

	assert_non_null(run_id);
	r = harness_call(c, "run.get", json_pack("{s:s}", "run_id", run_id),
	    HARNESS_REPLY_MS);
	*params = json_incref(
	    json_object_get(json_object_get(harness_result(r), "params"),
	        "max_tokens") != NULL
	        ? json_object_get(harness_result(r), "params")
	        : NULL);
	if (*params == NULL)
		fail_msg("run.get: %s", json_dumps(r, JSON_COMPACT));
	json_decref(r);
	harness_conn_close(c);
}

/* agentctl against the same daemon, its output piped (no colour). */
static void
test_agentctl(void **state)
{
	char *out = NULL;
	int rc;

	(void)state;
	{
		rc = ctl(&out, "run", "What is 17*23-45?", NULL);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, "Action: calc\n"));
		assert_non_null(strstr(out, "Observation: 346\n"));
		assert_non_null(strstr(out, "Answer: 346\n"));
		assert_null(strchr(out, '\033'));
		free(out);
	}
	{
		json_t *last;
		char *nl;

		rc = ctl(
		    &out, "run", "--json", "--max-steps", "1", "What?", NULL);
		/* One step is not enough: max_steps, exit 1. */
		assert_int_equal(rc, 1);
		out[strlen(out) - 1] = '\0';
		nl = strrchr(out, '\n');
		last = json_loads(nl != NULL ? nl + 1 : out, 0, NULL);
		assert_non_null(last);
		assert_string_equal(
		    json_string_value(json_object_get(last, "ending")),
		    "max_steps");
		json_decref(last);
		free(out);
	}
	{
		rc = ctl(
		    &out, "tool", "calc", "{\"expression\": \"6*7\"}", NULL);
		assert_int_equal(rc, 0);
		assert_string_equal(out, "42\n");
		free(out);
	}
	{
		rc = ctl(&out, "tools", NULL);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, "calc "));
		assert_non_null(strstr(out, "kb_search "));
		free(out);
	}
	{
		rc = ctl(&out, "agents", NULL);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, "react "));
		free(out);
	}
	{
		rc = ctl(&out, "cancel", "ghost", NULL);
		assert_int_equal(rc, 1);
		assert_non_null(strstr(out, "unknown run 'ghost'"));
		free(out);
	}
	{
		rc = ctl(&out, "run", "--bogus", "x", NULL);
		assert_int_equal(rc, 2);
		free(out);
	}
	{
		json_t *last, *params;
		char *nl;

		/* --set reaches agent.run: 3 tokens cut the first plan. */
		rc = ctl(&out, "run", "--json", "--set", "max_tokens=3",
		    "--set", "temperature=0", "What is 17*23-45?", NULL);
		assert_int_equal(rc, 1);
		out[strlen(out) - 1] = '\0';
		nl = strrchr(out, '\n');
		last = json_loads(nl != NULL ? nl + 1 : out, 0, NULL);
		assert_non_null(last);
		assert_string_equal(
		    json_string_value(json_object_get(last, "ending")),
		    "error");
		assert_non_null(
		    strstr(json_string_value(json_object_get(last, "error")),
		        "max_tokens (3)"));
		/* run.get shows the params as sent: a number, not a string. */
		r_params(json_string_value(json_object_get(last, "run_id")),
		    &params);
		assert_int_equal(
		    json_integer_value(json_object_get(params, "max_tokens")),
		    3);
		json_decref(params);
		json_decref(last);
		free(out);
	}
	{
		/* A --set the daemon does not know: its -32602, exit 1. */
		rc = ctl(&out, "run", "--set", "bogus=1", "x", NULL);
		assert_int_equal(rc, 1);
		assert_non_null(strstr(out, "bogus"));
		free(out);
	}
	{
		/*
		 * Strategy settings need --strategy NAME: "n" and
		 * "strategy.n" alone are usage errors.
		 */
		static const char *const bad[] = { "max_tokens", "=3",
			"input=x", "stream=true", "strategy.n=3", "n=3",
			"early_stop=false", "strategy=cot", "a..b=1" };

		/* Usage errors: nothing is sent. */
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			rc = ctl(&out, "run", "--set", bad[i], "x", NULL);
			if (rc != 2)
				fail_msg(
				    "--set %s: exit %d: %s", bad[i], rc, out);
			free(out);
		}
	}
	{
		/* --strategy errors: an unknown name, a foreign setting. */
		static const char *const bad[][2] = {
			{ "bogus", "max_tokens=3" },
			{ "cot", "n=3" },
			{ "budget", "breadth=2" },
			{ "tot", "strategy.name=cot" },
			{ "self_consistency", "budget.n.x.y.z=1" },
		};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			rc = ctl(&out, "run", "--strategy", bad[i][0], "--set",
			    bad[i][1], "x", NULL);
			if (rc != 2 || strstr(out, "usage:") == NULL)
				fail_msg("--strategy %s --set %s: exit %d: %s",
				    bad[i][0], bad[i][1], rc, out);
			free(out);
		}
		/* A value the daemon refuses: its -32602, exit 1. */
		rc = ctl(&out, "run", "--strategy", "self_consistency", "--set",
		    "n=0", "x", NULL);
		assert_int_equal(rc, 1);
		assert_non_null(strstr(out, "strategy.n must be"));
		free(out);
	}
}

/* Counts the agent.event lines of --json output per branch. */
static void
count_branches(const char *out, int *steps, size_t n)
{
	const char *line = out, *nl;
	json_t *ev, *p;
	json_int_t b;

	memset(steps, 0, n * sizeof *steps);
	for (; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		ev = json_loadb(line, (size_t)(nl - line), 0, NULL);
		assert_non_null(ev);
		p = json_object_get(ev, "params");
		if (json_is_object(p) &&
		    strcmp(json_string_value(json_object_get(p, "type")),
		        "step") == 0) {
			b = json_integer_value(json_object_get(p, "branch"));
			assert_true(b >= 0 && (size_t)b < n);
			steps[b]++;
		}
		json_decref(ev);
	}
}

/*
 * agentctl run --strategy self_consistency --set n=3: the strategy object
 * reaches agent.run (run.get shows it), the three branches decode (their
 * events carry branch 0..2) and vote, and the report comes back.
 */
static void
test_agentctl_strategy(void **state)
{
	json_t *last, *params, *st, *votes;
	int steps[4];
	char *out = NULL, *nl;
	int rc;

	(void)state;
	rc = ctl(&out, "run", "--json", "--strategy", "self_consistency",
	    "--set", "n=3", "--set", "early_stop=false", "--set",
	    "max_tokens=256", "What is 17*23-45?", NULL);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, out);
	count_branches(out, steps, 4);
	/* Two steps each: calc, then the answer. */
	assert_int_equal(steps[0], 2);
	assert_int_equal(steps[1], 2);
	assert_int_equal(steps[2], 2);
	assert_int_equal(steps[3], 0);
	out[strlen(out) - 1] = '\0';
	nl = strrchr(out, '\n');
	last = json_loads(nl != NULL ? nl + 1 : out, 0, NULL);
	assert_non_null(last);
	assert_string_equal(
	    json_string_value(json_object_get(last, "answer")), "346");
	st = json_object_get(last, "strategy");
	assert_string_equal(
	    json_string_value(json_object_get(st, "name")), "self_consistency");
	assert_int_equal(json_integer_value(json_object_get(st, "n")), 3);
	assert_int_equal(json_integer_value(json_object_get(st, "decoded")), 3);
	votes = json_object_get(st, "votes");
	assert_int_equal(json_array_size(votes), 1);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(votes, 0), "count")),
	    3);
	assert_true(json_real_value(json_object_get(st, "agreement")) == 1.0);
	/* The params as sent: numbers and booleans, not strings. */
	r_params(json_string_value(json_object_get(last, "run_id")), &params);
	st = json_object_get(params, "strategy");
	assert_string_equal(
	    json_string_value(json_object_get(st, "name")), "self_consistency");
	assert_int_equal(json_integer_value(json_object_get(st, "n")), 3);
	assert_true(json_is_false(json_object_get(st, "early_stop")));
	assert_int_equal(json_object_size(st), 3);
	json_decref(params);
	json_decref(last);
	free(out);

	/* For people: one line per branch event, then the report. */
	rc = ctl(&out, "run", "--strategy", "self_consistency", "--set", "n=3",
	    "--set", "early_stop=false", "What is 17*23-45?", NULL);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, out);
	assert_non_null(strstr(out, "[2] Observation: 346\n"));
	assert_non_null(strstr(out, "Answer: 346\n"));
	assert_non_null(strstr(out, "strategy: n=3, decoded=3"));
	free(out);

	/*
	 * temperature is the branches' for self_consistency but the run's
	 * for cot; a dotted key fills a nested object.
	 */
	rc = ctl(&out, "run", "--json", "--strategy", "cot", "--set",
	    "temperature=0.5", "--set", "budget.min_thinking_tokens=0", "--set",
	    "max_tokens=256", "What is 17*23-45?", NULL);
	/* The script runs out once budget forcing reads the answer: exit 1. */
	if (rc != 0 && rc != 1)
		fail_msg("exit %d: %s", rc, out);
	out[strlen(out) - 1] = '\0';
	nl = strrchr(out, '\n');
	last = json_loads(nl != NULL ? nl + 1 : out, 0, NULL);
	assert_non_null(last);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(last, "strategy"), "name")),
	    "cot");
	r_params(json_string_value(json_object_get(last, "run_id")), &params);
	assert_true(
	    json_real_value(json_object_get(params, "temperature")) == 0.5);
	st = json_object_get(params, "strategy");
	assert_int_equal(json_object_size(st), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(st, "budget"), "min_thinking_tokens")),
	    0);
	json_decref(params);
	json_decref(last);
	free(out);
	rc = ctl(&out, "run", "--json", "--strategy", "self_consistency",
	    "--set", "n=2", "--set", "temperature=0.5", "--set",
	    "max_tokens=256", "What is 17*23-45?", NULL);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, out);
	out[strlen(out) - 1] = '\0';
	nl = strrchr(out, '\n');
	last = json_loads(nl != NULL ? nl + 1 : out, 0, NULL);
	assert_non_null(last);
	r_params(json_string_value(json_object_get(last, "run_id")), &params);
	assert_true(
	    json_real_value(json_object_get(params, "temperature")) == 0.0);
	assert_true(
	    json_real_value(json_object_get(
	        json_object_get(params, "strategy"), "temperature")) == 0.5);
	json_decref(params);
	json_decref(last);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_tools_methods),
		cmocka_unit_test(test_agentctl),
		cmocka_unit_test(test_agentctl_strategy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
