/*
 * test-agent-model.c: models.list and model.generate through the real
 * agentd over a real socket, on three daemons:
 *
 *  - a scripted model (agentd.conf's scripted_model): the text, stop
 *    strings, max_tokens, chat messages, streaming (every token as an
 *    agent.event before the response, in order, adding up to the text),
 *    timeouts, a prompt past the context, every params error, and
 *    clients that go away mid-generation (their workers come free);
 *  - no model (a model path that does not exist) and none of the
 *    optional folders (agents, Lua tools, plugins, knowledge base,
 *    traces): the daemon starts and serves the built-in calc,
 *    models.list says why there is no model, model.generate and
 *    agent.run answer -32003;
 *  - the local engine on a fixture GGUF model (tests/fixtures/models/):
 *    greedy generation is repeatable, streamed tokens add up to the text
 *    and usage counts the tokens.
 */
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

#define TEST_LIMIT 240

static char sdir[HARNESS_DIR_MAX];
static struct harness_daemon *d;

/*
 * "slow" emits 100 tokens 100 ms apart (10 s): long enough that only a
 * cancelled or timed-out generation ends early.
 */
static const char script_head[] =
    "{\"model\": \"tiny-script\", \"n_ctx\": 64, \"scripts\": ["
    "{\"match\": \"Once upon\", \"outputs\": [\"a time there was a fox.\\n"
    "The end\"]},"
    "{\"match\": \"user: hi\\nassistant: \", \"outputs\": [\"hello "
    "there\"]},"
    "{\"match\": \"slow\", \"outputs\": [{\"delay_ms\": 100, \"text\": \"";

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
start_daemon(const char *conf)
{
	struct harness_opts opts;

	memset(&opts, 0, sizeof opts);
	opts.config = conf;
	d = harness_daemon_start(&opts);
	return d != NULL ? 0 : -1;
}

static int
setup_scripted(void **state)
{
	char path[PATH_MAX + 32], *conf, *script;
	size_t len;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(harness_tmpdir(sdir), 0);
	/* The slow output: "w " 100 times. */
	len = strlen(script_head);
	script = malloc(len + 200 + 64);
	assert_non_null(script);
	memcpy(script, script_head, len);
	for (int i = 0; i < 100; i++) {
		script[len++] = 'w';
		script[len++] = ' ';
	}
	strcpy(script + len, "\"}]}]}");
	snprintf(path, sizeof path, "%s/script.json", sdir);
	assert_int_equal(harness_write_file(path, script), 0);
	free(script);
	if (asprintf(&conf,
	        "scripted_model %s\ntrace_dir %s/traces\nworkers 2\n"
	        "max_runs 4\nagents_dir %s/none\nlua_tools_dir %s/none\n",
	        path, sdir, sdir, sdir) < 0)
		fail();
	assert_int_equal(start_daemon(conf), 0);
	free(conf);
	return 0;
}

static int
setup_none(void **state)
{
	char *conf;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(harness_tmpdir(sdir), 0);
	/* Every optional folder is missing too: the daemon still starts. */
	if (asprintf(&conf,
	        "model %s/no-such-model.gguf\ntrace_dir %s/none/traces\n"
	        "agents_dir %s/none\nlua_tools_dir %s/none\n"
	        "plugin_dir %s/none\nkb_dir %s/none\n",
	        sdir, sdir, sdir, sdir, sdir, sdir) < 0)
		fail();
	assert_int_equal(start_daemon(conf), 0);
	free(conf);
	return 0;
}

static int
setup_local(void **state)
{
	char *conf, *src;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(harness_tmpdir(sdir), 0);
	src = realpath(harness_srcdir(), NULL);
	assert_non_null(src);
	if (asprintf(&conf,
	        "model %s/tests/fixtures/models/llama-q8_0.gguf\n"
	        "trace_dir %s/traces\nagents_dir %s/none\n",
	        src, sdir, sdir) < 0)
		fail();
	free(src);
	assert_int_equal(start_daemon(conf), 0);
	free(conf);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
	d = NULL;
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

/* Calls model.generate with params (taken); returns the response. */
static json_t *
generate(struct harness_conn *c, json_t *params)
{
	json_t *r = harness_call(c, "model.generate", params, 20000);

	assert_non_null(r);
	return r;
}

/* The result's member as a string, or fails. */
static const char *
res_str(json_t *r, const char *key)
{
	const char *s =
	    json_string_value(json_object_get(harness_result(r), key));

	if (s == NULL)
		fail_msg(
		    "no string \"%s\" in %s", key, json_dumps(r, JSON_COMPACT));
	return s;
}

static json_int_t
usage(json_t *r, const char *key)
{
	return json_integer_value(
	    json_object_get(json_object_get(harness_result(r), "usage"), key));
}

static void
test_models_list_scripted(void **state)
{
	struct harness_conn *c = conn();
	json_t *r, *models, *m;

	(void)state;
	r = harness_call(c, "models.list", NULL, HARNESS_REPLY_MS);
	assert_non_null(r);
	models = json_object_get(harness_result(r), "models");
	assert_int_equal(json_array_size(models), 1);
	m = json_array_get(models, 0);
	assert_string_equal(
	    json_string_value(json_object_get(m, "name")), "tiny-script");
	assert_string_equal(
	    json_string_value(json_object_get(m, "kind")), "scripted");
	assert_int_equal(json_integer_value(json_object_get(m, "n_ctx")), 64);
	assert_true(json_is_true(json_object_get(m, "default")));
	assert_true(json_is_array(json_object_get(m, "caps")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(m, "spec")), "script.json"));
	json_decref(r);
	/* It takes no params. */
	r = harness_call(
	    c, "models.list", json_pack("{s:i}", "x", 1), HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_INVALID_PARAMS);
	json_decref(r);
	/* And daemon.methods lists both methods. */
	r = harness_call(c, "daemon.methods", NULL, HARNESS_REPLY_MS);
	{
		char *s = json_dumps(r, JSON_COMPACT);

		assert_non_null(strstr(s, "\"models.list\""));
		assert_non_null(strstr(s, "\"model.generate\""));
		free(s);
	}
	json_decref(r);
	harness_conn_close(c);
}

static void
test_generate_text(void **state)
{
	struct harness_conn *c = conn();
	json_t *r;

	(void)state;
	/* The whole output: it ends with the script's end of text. */
	r = generate(c, json_pack("{s:s}", "prompt", "Once upon"));
	assert_string_equal(
	    res_str(r, "text"), "a time there was a fox.\nThe end");
	assert_string_equal(res_str(r, "finish_reason"), "eos");
	assert_string_equal(res_str(r, "model"), "tiny-script");
	assert_int_equal(usage(r, "completion_tokens"), 9);
	assert_int_equal(usage(r, "prompt_tokens_computed") +
	        usage(r, "prompt_tokens_reused"),
	    2);
	assert_int_equal(json_integer_value(
	                     json_object_get(harness_result(r), "stop_index")),
	    -1);
	assert_null(json_object_get(harness_result(r), "logprob_sum"));
	json_decref(r);

	/* A stop string: the text ends before it. */
	r = generate(c,
	    json_pack("{s:s, s:[s,s]}", "prompt", "Once upon", "stop", "zebra",
	        "fox"));
	assert_string_equal(res_str(r, "text"), "a time there was a ");
	assert_string_equal(res_str(r, "finish_reason"), "stop");
	assert_int_equal(json_integer_value(
	                     json_object_get(harness_result(r), "stop_index")),
	    1);
	json_decref(r);

	/* max_tokens. */
	r = generate(c,
	    json_pack("{s:s, s:i, s:b}", "prompt", "Once upon", "max_tokens", 2,
	        "logprobs", 1));
	assert_string_equal(res_str(r, "text"), "a time ");
	assert_string_equal(res_str(r, "finish_reason"), "length");
	assert_int_equal(usage(r, "completion_tokens"), 2);
	assert_true(
	    json_is_number(json_object_get(harness_result(r), "logprob_sum")));
	json_decref(r);

	/* Chat messages go through the model's template. */
	r = generate(c,
	    json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content",
	        "hi"));
	assert_string_equal(res_str(r, "text"), "hello there");
	json_decref(r);
	harness_conn_close(c);
}

static void
test_generate_stream(void **state)
{
	struct harness_conn *c = conn();
	json_t *req, *msg, *p, *res;
	json_int_t seq = -1;
	char text[256] = "", *line;
	const char *type;
	int n_tokens = 0, started = 0;

	(void)state;
	req = json_pack("{s:s, s:i, s:s, s:{s:s, s:b}}", "jsonrpc", "2.0", "id",
	    77, "method", "model.generate", "params", "prompt", "Once upon",
	    "stream", 1);
	line = json_dumps(req, JSON_COMPACT);
	assert_int_equal(harness_send_line(c, line), 0);
	free(line);
	json_decref(req);
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
		    json_integer_value(json_object_get(p, "request_id")), 77);
		assert_true(json_is_null(json_object_get(p, "run_id")));
		assert_int_equal(
		    json_integer_value(json_object_get(p, "seq")), seq + 1);
		seq++;
		type = json_string_value(json_object_get(p, "type"));
		assert_non_null(type);
		if (strcmp(type, "start") == 0) {
			assert_int_equal(n_tokens, 0);
			assert_string_equal(
			    json_string_value(json_object_get(p, "model")),
			    "tiny-script");
			started = 1;
		} else {
			assert_string_equal(type, "token");
			assert_true(started);
			strncat(text,
			    json_string_value(json_object_get(p, "text")),
			    sizeof text - strlen(text) - 1);
			n_tokens++;
		}
		json_decref(msg);
	}
	res = harness_result(msg);
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), 77);
	assert_string_equal(
	    json_string_value(json_object_get(res, "text")), text);
	assert_string_equal(text, "a time there was a fox.\nThe end");
	assert_true(n_tokens >= 2);
	json_decref(msg);
	harness_conn_close(c);
}

static void
test_generate_limits(void **state)
{
	struct harness_conn *c = conn();
	long long t0;
	json_t *r, *data;
	char big[4096];

	(void)state;
	/* A timeout ends the text early, as "cancelled". */
	t0 = now_ms();
	r = generate(
	    c, json_pack("{s:s, s:i}", "prompt", "slow", "timeout_ms", 300));
	assert_string_equal(res_str(r, "finish_reason"), "cancelled");
	assert_true(now_ms() - t0 < 5000);
	assert_true(strlen(res_str(r, "text")) < 20);
	json_decref(r);

	/* A prompt past the context (64 tokens) is refused. */
	big[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(big, "word ");
	r = generate(c, json_pack("{s:s}", "prompt", big));
	assert_int_equal(harness_error_code(r), DMN_ERR_INVALID_PARAMS);
	data = json_object_get(json_object_get(r, "error"), "data");
	assert_int_equal(
	    json_integer_value(json_object_get(data, "n_ctx")), 64);
	assert_non_null(json_string_value(json_object_get(data, "detail")));
	json_decref(r);
	harness_conn_close(c);
}

static void
test_generate_bad_params(void **state)
{
	static const char *const bad[] = {
		"{}",
		"[]",
		"{\"prompt\": \"a\", \"messages\": [{\"role\": \"user\", "
		"\"content\": \"b\"}]}",
		"{\"prompt\": 3}",
		"{\"prompt\": \"a\", \"max_tokens\": 0}",
		"{\"prompt\": \"a\", \"max_tokens\": 1.5}",
		"{\"prompt\": \"a\", \"max_tokens\": 1000001}",
		"{\"prompt\": \"a\", \"temperature\": 11}",
		"{\"prompt\": \"a\", \"temperature\": \"hot\"}",
		"{\"prompt\": \"a\", \"top_p\": -0.1}",
		"{\"prompt\": \"a\", \"min_p\": 2}",
		"{\"prompt\": \"a\", \"top_k\": -1}",
		"{\"prompt\": \"a\", \"seed\": -1}",
		"{\"prompt\": \"a\", \"timeout_ms\": 0}",
		"{\"prompt\": \"a\", \"stop\": \"x\"}",
		"{\"prompt\": \"a\", \"stop\": [\"\"]}",
		"{\"prompt\": \"a\", \"stop\": [1]}",
		"{\"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\","
		"\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\","
		"\"15\",\"16\",\"17\"]}",
		"{\"prompt\": \"a\", \"stream\": 1}",
		"{\"prompt\": \"a\", \"logprobs\": \"yes\"}",
		"{\"prompt\": \"a\", \"bogus\": 1}",
		"{\"messages\": []}",
		"{\"messages\": {}}",
		"{\"messages\": [{\"role\": \"god\", \"content\": \"x\"}]}",
		"{\"messages\": [{\"role\": \"user\"}]}",
		"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", "
		"\"name\": \"y\"}]}",
		"{\"messages\": [\"user: x\"]}",
	};
	struct harness_conn *c = conn();
	json_t *r, *params;
	json_error_t jerr;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		params = json_loads(bad[i], 0, &jerr);
		if (params == NULL)
			fail_msg("case %zu: %s", i, jerr.text);
		r = generate(c, params);
		if (harness_error_code(r) != DMN_ERR_INVALID_PARAMS)
			fail_msg("case %zu (%s): %s", i, bad[i],
			    json_dumps(r, JSON_COMPACT));
		assert_non_null(json_string_value(json_object_get(
		    json_object_get(json_object_get(r, "error"), "data"),
		    "detail")));
		json_decref(r);
	}
	/* And the daemon still answers. */
	r = harness_call(c, "daemon.ping", NULL, HARNESS_REPLY_MS);
	assert_non_null(harness_result(r));
	json_decref(r);
	harness_conn_close(c);
}

/*
 * Clients that start a 10 s generation and go away: with 2 workers, the
 * next generation must not wait for theirs to end.
 */
static void
test_generate_client_gone(void **state)
{
	struct harness_conn *gone[3], *c;
	long long t0;
	json_t *r;
	char line[256];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		gone[i] = conn();
		snprintf(line, sizeof line,
		    "{\"jsonrpc\": \"2.0\", \"id\": %zu, \"method\": "
		    "\"model.generate\", \"params\": {\"prompt\": \"slow\", "
		    "\"stream\": true}}",
		    i);
		assert_int_equal(harness_send_line(gone[i], line), 0);
	}
	/* Each has started: its first event arrived. */
	for (size_t i = 0; i < 2; i++) {
		r = harness_recv(gone[i], HARNESS_REPLY_MS);
		assert_non_null(r);
		json_decref(r);
	}
	for (size_t i = 0; i < 3; i++)
		harness_conn_close(gone[i]);
	t0 = now_ms();
	c = conn();
	r = generate(c, json_pack("{s:s}", "prompt", "Once upon"));
	assert_string_equal(res_str(r, "finish_reason"), "eos");
	json_decref(r);
	assert_true(now_ms() - t0 < 5000);
	harness_conn_close(c);
}

/* daemon.status's count of dispatched requests (this one included). */
static json_int_t
requests_total(struct harness_conn *c)
{
	json_t *r = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS);
	json_int_t n;

	assert_non_null(r);
	n = json_integer_value(json_object_get(
	    json_object_get(harness_result(r), "requests"), "total"));
	json_decref(r);
	return n;
}

/* Whether the daemon's workers are idle, with nothing queued. */
static int
idle(struct harness_conn *c)
{
	json_t *r = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS),
	       *w;
	int yes;

	assert_non_null(r);
	w = json_object_get(harness_result(r), "workers");
	assert_non_null(w);
	yes = json_integer_value(json_object_get(w, "busy")) == 0 &&
	    json_integer_value(json_object_get(w, "queued")) == 0;
	json_decref(r);
	return yes;
}

/*
 * max_runs (4) generations in flight, queued ones included: the next is
 * refused with -32002; once their clients go, generations work again.
 */
static void
test_generate_overload(void **state)
{
	struct harness_conn *busy[4], *c;
	json_int_t before;
	long long t0;
	json_t *r;
	char line[256];

	(void)state;
	c = conn();
	/* Earlier tests' cancelled generations hold slots until they end. */
	t0 = now_ms();
	while (!idle(c)) {
		assert_true(now_ms() - t0 < 5000);
		usleep(10000);
	}
	before = requests_total(c);
	for (size_t i = 0; i < 4; i++) {
		busy[i] = conn();
		snprintf(line, sizeof line,
		    "{\"jsonrpc\": \"2.0\", \"id\": %zu, \"method\": "
		    "\"model.generate\", \"params\": {\"prompt\": \"slow\"}}",
		    i);
		assert_int_equal(harness_send_line(busy[i], line), 0);
	}
	/* Wait until the daemon dispatched the four (and our statuses). */
	t0 = now_ms();
	for (json_int_t n = 1; requests_total(c) < before + 4 + n; n++) {
		assert_true(now_ms() - t0 < 5000);
		usleep(10000);
	}
	r = generate(c, json_pack("{s:s}", "prompt", "Once upon"));
	assert_int_equal(harness_error_code(r), DMN_ERR_OVERLOADED);
	assert_non_null(
	    strstr(json_string_value(json_object_get(
	               json_object_get(json_object_get(r, "error"), "data"),
	               "detail")),
	        "max_runs"));
	json_decref(r);
	for (size_t i = 0; i < 4; i++)
		harness_conn_close(busy[i]);
	/* The slots come back within a token or so of each. */
	t0 = now_ms();
	for (;;) {
		r = generate(c, json_pack("{s:s}", "prompt", "Once upon"));
		if (harness_error_code(r) == 0)
			break;
		assert_int_equal(harness_error_code(r), DMN_ERR_OVERLOADED);
		json_decref(r);
		assert_true(now_ms() - t0 < 5000);
		usleep(50000);
	}
	assert_string_equal(res_str(r, "finish_reason"), "eos");
	json_decref(r);
	harness_conn_close(c);
}

static void
test_no_model(void **state)
{
	struct harness_conn *c = conn();
	json_t *r, *res, *data;

	(void)state;
	r = harness_call(c, "models.list", NULL, HARNESS_REPLY_MS);
	res = harness_result(r);
	assert_non_null(res);
	assert_int_equal(json_array_size(json_object_get(res, "models")), 0);
	assert_non_null(strstr(json_string_value(json_object_get(res, "error")),
	    "no-such-model.gguf"));
	json_decref(r);
	r = generate(c, json_pack("{s:s}", "prompt", "hello"));
	assert_int_equal(harness_error_code(r), DMN_ERR_MODEL);
	data = json_object_get(json_object_get(r, "error"), "data");
	assert_non_null(strstr(
	    json_string_value(json_object_get(data, "detail")), "no model"));
	json_decref(r);

	/* Without its folders the daemon serves what it has: calc. */
	r = harness_call(c, "tools.list", NULL, HARNESS_REPLY_MS);
	res = harness_result(r);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(res, "tools"), 0), "name")),
	    "calc");
	json_decref(r);
	r = harness_call(c, "agents.list", NULL, HARNESS_REPLY_MS);
	assert_int_equal(
	    json_array_size(json_object_get(harness_result(r), "agents")), 1);
	json_decref(r);
	r = harness_call(
	    c, "agent.run", json_pack("{s:s}", "input", "x"), HARNESS_REPLY_MS);
	assert_int_equal(harness_error_code(r), DMN_ERR_MODEL);
	json_decref(r);
	harness_conn_close(c);
}

static void
test_local(void **state)
{
	struct harness_conn *c = conn();
	json_t *r, *r2, *m, *req, *msg, *p;
	char text[4096] = "", *line;
	int n_events = 0;

	(void)state;
	r = harness_call(c, "models.list", NULL, HARNESS_REPLY_MS);
	m = json_array_get(json_object_get(harness_result(r), "models"), 0);
	assert_non_null(m);
	assert_string_equal(
	    json_string_value(json_object_get(m, "kind")), "local");
	assert_true(json_integer_value(json_object_get(m, "n_ctx")) > 0);
	json_decref(r);

	/* Greedy: the same prompt twice gives the same text. */
	r = generate(c,
	    json_pack("{s:s, s:i, s:f}", "prompt", "Hello world", "max_tokens",
	        8, "temperature", 0.0));
	r2 = generate(c,
	    json_pack("{s:s, s:i, s:b}", "prompt", "Hello world", "max_tokens",
	        8, "logprobs", 1));
	assert_string_equal(res_str(r, "text"), res_str(r2, "text"));
	assert_true(usage(r, "completion_tokens") >= 1);
	assert_true(usage(r, "completion_tokens") <= 8);
	if (usage(r, "completion_tokens") < 8)
		assert_string_equal(res_str(r, "finish_reason"), "eos");
	else
		assert_string_equal(res_str(r, "finish_reason"), "length");
	assert_true(usage(r, "prompt_tokens_computed") >= 2);
	assert_true(json_real_value(json_object_get(
	                harness_result(r2), "logprob_sum")) <= 0.0);

	/* Streamed, the tokens add up to the same text. */
	req = json_pack("{s:s, s:i, s:s, s:{s:s, s:i, s:b}}", "jsonrpc", "2.0",
	    "id", 5, "method", "model.generate", "params", "prompt",
	    "Hello world", "max_tokens", 8, "stream", 1);
	line = json_dumps(req, JSON_COMPACT);
	assert_int_equal(harness_send_line(c, line), 0);
	free(line);
	json_decref(req);
	for (;;) {
		msg = harness_recv(c, 20000);
		assert_non_null(msg);
		if (json_object_get(msg, "id") != NULL)
			break;
		p = json_object_get(msg, "params");
		if (strcmp(json_string_value(json_object_get(p, "type")),
		        "token") == 0)
			strncat(text,
			    json_string_value(json_object_get(p, "text")),
			    sizeof text - strlen(text) - 1);
		n_events++;
		json_decref(msg);
	}
	assert_string_equal(res_str(msg, "text"), text);
	assert_string_equal(res_str(r, "text"), text);
	assert_true(n_events >= 2);
	json_decref(msg);
	json_decref(r);
	json_decref(r2);
	harness_conn_close(c);
}

int
main(void)
{
	const struct CMUnitTest scripted[] = {
		cmocka_unit_test(test_models_list_scripted),
		cmocka_unit_test(test_generate_text),
		cmocka_unit_test(test_generate_stream),
		cmocka_unit_test(test_generate_limits),
		cmocka_unit_test(test_generate_bad_params),
		cmocka_unit_test(test_generate_client_gone),
		cmocka_unit_test(test_generate_overload),
	};
	const struct CMUnitTest none[] = {
		cmocka_unit_test(test_no_model),
	};
	const struct CMUnitTest local[] = {
		cmocka_unit_test(test_local),
	};
	int rc = 0;

	rc |= cmocka_run_group_tests_name(
	    "scripted", scripted, setup_scripted, teardown);
	rc |= cmocka_run_group_tests_name("none", none, setup_none, teardown);
	rc |=
	    cmocka_run_group_tests_name("local", local, setup_local, teardown);
	return rc != 0 ? 1 : 0;
}
