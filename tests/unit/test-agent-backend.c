/*
 * test-agent-backend.c: the model backend interface (agent/backend.c),
 * the scripted test backend (agent/backend-scripted.c) and the local
 * engine backend (agent/backend-local.c) on a small random-weight GGUF
 * model: scripts and their errors, stop strings across tokens, the stop
 * line, text held back from streaming, max tokens and the context,
 * cancellation, fork, mark and rewind, KV reuse, and concurrent sessions
 * whose decode steps the scheduler batches.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/backend.h"
#include "daemon/util.h"
#include "tests/unit/infer-fixture.h"

static struct agent_backend *
scripted(const char *script)
{
	char *cause = NULL;
	struct agent_backend *b;

	b = agent_backend_scripted_new(
	    script, strlen(script), "t.json", &cause);
	if (b == NULL)
		fail_msg("%s", cause);
	return b;
}

static void
expect_script_error(const char *script, const char *needle)
{
	char *cause = NULL;

	assert_null(agent_backend_scripted_new(
	    script, strlen(script), "t.json", &cause));
	assert_non_null(cause);
	if (strstr(cause, needle) == NULL || strstr(cause, "t.json") == NULL)
		fail_msg("'%s' lacks '%s'", cause, needle);
	free(cause);
}

static void
test_script_errors(void **state)
{
	char *cause = NULL;

	(void)state;
	expect_script_error("{\"outputs\": [", "t.json:1:");
	expect_script_error("[]", "must be a JSON object");
	expect_script_error(
	    "{\"outputs\": [], \"x\": 1}", "unknown member \"x\"");
	expect_script_error("{}", "either");
	expect_script_error("{\"outputs\": [], \"scripts\": []}", "either");
	expect_script_error("{\"scripts\": []}", "non-empty");
	expect_script_error("{\"outputs\": [1]}", "outputs[0]");
	expect_script_error("{\"outputs\": [[\"a\", 2]]}", "token 1");
	expect_script_error(
	    "{\"outputs\": [{\"finish\": \"stop\"}]}", "\"finish\"");
	expect_script_error(
	    "{\"outputs\": [{\"delay_ms\": -1}]}", "\"delay_ms\"");
	expect_script_error("{\"outputs\": [{\"text\": \"a\", \"tokens\": "
	                    "[\"b\"]}]}",
	    "without");
	expect_script_error("{\"outputs\": [{\"what\": 1}]}", "\"what\"");
	expect_script_error("{\"n_ctx\": 0, \"outputs\": []}", "n_ctx");
	expect_script_error("{\"kv_reuse\": 1, \"outputs\": []}", "kv_reuse");
	expect_script_error(
	    "{\"scripts\": [{\"match\": 1, \"outputs\": []}]}", "match");
	expect_script_error("{\"outputs\": [], \"outputs\": []}", "t.json");
	assert_null(agent_backend_scripted_open("/nonexistent.json", &cause));
	assert_non_null(strstr(cause, "/nonexistent.json"));
	free(cause);
	cause = NULL;
	assert_null(agent_backend_open("scripted:/", &cause));
	assert_non_null(strstr(cause, "not a regular file"));
	free(cause);
	cause = NULL;
	assert_null(agent_backend_open(NULL, &cause));
	free(cause);
}

/* Collects streamed text. */
static void
on_token(void *arg, const char *text, size_t len)
{
	buf_add(arg, text, len);
}

static void
test_stops(void **state)
{
	static const char *const stops[] = { "\nObservation:", "STOP" };
	struct agent_backend *b;
	struct agent_session *s;
	struct agent_gen_params p;
	struct agent_gen_result r;
	struct buf streamed;
	char *cause = NULL;
	const char *text;

	(void)state;
	b = scripted("{\"outputs\": ["
	             "[\"Action Input: {}\", \"\\nObs\", \"ervation: x\"],"
	             "\"a b STOP c\","
	             "\"Thought: t\\nFinal Answer: 42\\nmore text\","
	             "[\"no \", \"\\nObserv\", \"e this\"],"
	             "{\"text\": \"one two three\", \"finish\": \"length\"}]}");
	s = agent_session_new(b, &cause);
	assert_int_equal(agent_session_append(s, "P\n", 2, NULL, &cause), 0);
	memset(&p, 0, sizeof p);
	p.stop = stops;
	p.n_stop = 2;
	p.stop_line_prefix = "Final Answer:";
	p.on_token = on_token;
	buf_init(&streamed, SIZE_MAX);
	p.arg = &streamed;

	/* A stop string across three tokens: never streamed, not kept. */
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "Action Input: {}");
	assert_int_equal(r.finish, AGENT_FINISH_STOP);
	assert_int_equal(r.stop_index, 0);
	assert_int_equal(r.tokens, 3);
	assert_string_equal(streamed.data, "Action Input: {}");
	agent_gen_result_clear(&r);

	/* The second stop string. */
	buf_reset(&streamed);
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "a b ");
	assert_int_equal(r.stop_index, 1);
	assert_string_equal(streamed.data, "a b ");
	agent_gen_result_clear(&r);

	/* The stop line: the Final Answer line ends it, "\n" included. */
	buf_reset(&streamed);
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "Thought: t\nFinal Answer: 42\n");
	assert_int_equal(r.finish, AGENT_FINISH_STOP);
	assert_int_equal(r.stop_index, -1);
	assert_string_equal(streamed.data, r.text);
	agent_gen_result_clear(&r);

	/* Held back while it might be a stop, released when it is not. */
	buf_reset(&streamed);
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "no \nObserve this");
	assert_int_equal(r.finish, AGENT_FINISH_EOS);
	assert_string_equal(streamed.data, r.text);
	agent_gen_result_clear(&r);

	/* The script says the output ends by length. */
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_int_equal(r.finish, AGENT_FINISH_LENGTH);
	agent_gen_result_clear(&r);

	/* The session holds exactly what was returned. */
	text = agent_scripted_text(s, NULL);
	assert_string_equal(text,
	    "P\nAction Input: {}a b Thought: t\nFinal "
	    "Answer: 42\nno \nObserve thisone two three");

	/* Out of script. */
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), -1);
	assert_non_null(strstr(cause, "no output for call 6"));
	free(cause);
	buf_free(&streamed);
	agent_session_free(s);
	agent_backend_unref(b);
}

static void
test_limits(void **state)
{
	struct agent_backend *b;
	struct agent_session *s;
	struct agent_gen_params p;
	struct agent_gen_result r;
	atomic_int cancel;
	char *cause = NULL;

	(void)state;
	b = scripted("{\"n_ctx\": 6, \"outputs\": [\"a b c d e f g\", \"a b c "
	             "d\", \"x y\", \"z\"]}");
	assert_int_equal(agent_backend_n_ctx(b), 6);
	assert_int_equal(agent_backend_count(b, "Thought: I know\n", 16), 4);
	s = agent_session_new(b, &cause);
	memset(&p, 0, sizeof p);
	p.max_tokens = 3;
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "a b c ");
	assert_int_equal(r.finish, AGENT_FINISH_LENGTH);
	assert_int_equal(r.tokens, 3);
	agent_gen_result_clear(&r);
	/* The context (6 tokens, 3 used) cuts the next one. */
	p.max_tokens = 0;
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "a b c ");
	assert_int_equal(r.finish, AGENT_FINISH_LENGTH);
	agent_gen_result_clear(&r);
	/* A full context refuses an append, changing nothing. */
	assert_int_equal(agent_session_append(s, "more", 4, NULL, &cause), -1);
	assert_non_null(strstr(cause, "do not fit"));
	free(cause);
	cause = NULL;
	assert_int_equal(agent_session_length(s), 6);
	/* Invalid UTF-8 is refused. */
	assert_int_equal(agent_session_rewind(s, 0, &cause), 0);
	assert_int_equal(agent_session_append(s, "\xc3(", 2, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	/* Cancelled before the first token. */
	atomic_init(&cancel, 1);
	p.cancel = &cancel;
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_int_equal(r.finish, AGENT_FINISH_CANCELLED);
	assert_int_equal(r.tokens, 0);
	agent_gen_result_clear(&r);
	/* A deadline in the past is the same. */
	p.cancel = NULL;
	p.deadline_ns = 1;
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_int_equal(r.finish, AGENT_FINISH_CANCELLED);
	agent_gen_result_clear(&r);
	agent_session_free(s);
	agent_backend_unref(b);
}

static void
test_fork_rewind_match(void **state)
{
	struct agent_backend *b;
	struct agent_session *s, *f;
	struct agent_gen_params p;
	struct agent_gen_result r;
	struct agent_append_result ar;
	uint64_t m;
	char *cause = NULL;

	(void)state;
	b = scripted("{\"kv_reuse\": true, \"scripts\": ["
	             "{\"match\": \"apples\", \"outputs\": [\"A1\", \"A2\"]},"
	             "{\"outputs\": [\"D1\", \"D2\"]}]}");
	assert_int_equal(agent_backend_caps(b), AGENT_CAP_KV_REUSE);
	assert_string_equal(agent_backend_kind(b), "scripted");
	s = agent_session_new(b, &cause);
	assert_int_equal(
	    agent_session_append(s, "two apples ", 11, &ar, &cause), 0);
	assert_int_equal(ar.computed, 2);
	assert_int_equal(ar.reused, 0);
	memset(&p, 0, sizeof p);
	m = agent_session_mark(s);
	f = agent_session_fork(s, &cause);
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "A1");
	assert_int_equal(r.prompt_computed, 0);
	agent_gen_result_clear(&r);
	/* The fork is independent: same script, its own count. */
	assert_int_equal(agent_session_generate(f, &p, &r, &cause), 0);
	assert_string_equal(r.text, "A1");
	agent_gen_result_clear(&r);
	assert_int_equal(agent_session_generate(f, &p, &r, &cause), 0);
	assert_string_equal(r.text, "A2");
	agent_gen_result_clear(&r);
	assert_string_equal(agent_scripted_text(s, NULL), "two apples A1");
	assert_string_equal(agent_scripted_text(f, NULL), "two apples A1A2");
	/* Rewind to the mark; a mark past the end is refused. */
	assert_int_equal(agent_session_rewind(s, m, &cause), 0);
	assert_string_equal(agent_scripted_text(s, NULL), "two apples ");
	assert_int_equal(agent_session_rewind(s, 1000, &cause), -1);
	assert_non_null(strstr(cause, "past"));
	free(cause);
	cause = NULL;
	agent_session_free(f);
	agent_session_free(s);

	/* No match: the default script. */
	s = agent_session_new(b, &cause);
	assert_int_equal(agent_session_generate(s, &p, &r, &cause), 0);
	assert_string_equal(r.text, "D1");
	agent_gen_result_clear(&r);
	agent_session_free(s);
	agent_backend_unref(b);
}

/* ---- the local engine ------------------------------------------------ */

static const struct fx local_fx = { "llama", INFER_TYPE_F32, 4, 2, 4, 2, 64, 0,
	NULL, NULL, NULL, 11, 1 };

static char *
gen(struct agent_session *s, uint32_t n, const char *const *stops,
    size_t n_stop, struct agent_gen_result *out)
{
	struct agent_gen_params p;
	struct agent_gen_result r;
	char *cause = NULL, *text;

	memset(&p, 0, sizeof p);
	p.max_tokens = n;
	p.stop = stops;
	p.n_stop = n_stop;
	if (agent_session_generate(s, &p, &r, &cause) != 0)
		fail_msg("generate: %s", cause);
	text = xstrdup(r.text);
	if (out != NULL) {
		*out = r;
		out->text = NULL;
	}
	agent_gen_result_clear(&r);
	return text;
}

static void
test_local(void **state)
{
	char *path = fx_write(&local_fx), *cause = NULL, *a, *b2, *c, *d;
	struct agent_backend *b;
	struct agent_session *s, *f;
	struct agent_append_result ar;
	struct agent_gen_result r;
	const char *stops[1];
	char stop[3];
	uint64_t m;

	(void)state;
	b = agent_backend_open(path, &cause);
	if (b == NULL)
		fail_msg("%s", cause);
	assert_string_equal(agent_backend_kind(b), "local");
	assert_true((agent_backend_caps(b) & AGENT_CAP_KV_REUSE) != 0);
	assert_int_equal(agent_backend_n_ctx(b), FX_CTX);

	s = agent_session_new(b, &cause);
	assert_int_equal(
	    agent_session_append(s, "Question: hi\n", 13, &ar, &cause), 0);
	assert_true(ar.computed > 0);
	assert_int_equal(ar.reused, 0);
	m = agent_session_mark(s);
	a = gen(s, 8, NULL, 0, &r);
	assert_true(r.tokens > 0);
	/* Greedy and rewound: the same text again, from the cache. */
	assert_int_equal(agent_session_rewind(s, m, &cause), 0);
	b2 = gen(s, 8, NULL, 0, NULL);
	assert_string_equal(a, b2);
	/* A fork continues alike. */
	assert_int_equal(agent_session_rewind(s, m, &cause), 0);
	f = agent_session_fork(s, &cause);
	assert_non_null(f);
	c = gen(f, 8, NULL, 0, NULL);
	assert_string_equal(a, c);
	/* A second append reuses what the session holds. */
	assert_int_equal(agent_session_append(f, "x", 1, &ar, &cause), 0);
	assert_true(ar.reused > 0);
	agent_session_free(f);

	/* A stop string inside the greedy text cuts it there, and the
	 * session continues from the cut exactly. */
	if (strlen(a) >= 4) {
		memcpy(stop, a + 2, 2);
		stop[2] = '\0';
		stops[0] = stop;
		d = gen(s, 8, stops, 1, &r);
		assert_int_equal(r.finish, AGENT_FINISH_STOP);
		assert_true(strlen(d) <= 2);
		assert_memory_equal(d, a, strlen(d));
		free(d);
	}
	assert_true(agent_session_length(s) <= FX_CTX);
	/* Filling the context ends by length. */
	d = gen(s, 1000, NULL, 0, &r);
	assert_true(
	    r.finish == AGENT_FINISH_LENGTH || r.finish == AGENT_FINISH_EOS);
	free(d);
	free(a);
	free(b2);
	free(c);
	agent_session_free(s);
	agent_backend_unref(b);
	unlink(path);
	free(path);
}

struct worker {
	struct agent_backend *b;
	char *text;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct agent_session *s;
	char *cause = NULL;

	s = agent_session_new(w->b, &cause);
	if (s == NULL ||
	    agent_session_append(s, "Question: hi\n", 13, NULL, &cause) != 0)
		return NULL;
	w->text = gen(s, 16, NULL, 0, NULL);
	agent_session_free(s);
	return NULL;
}

/* Concurrent sessions finish and agree with a lone one. */
static void
test_local_concurrent(void **state)
{
	char *path = fx_write(&local_fx), *cause = NULL;
	struct agent_backend *b;
	struct worker w[4], one;
	pthread_t tid[4];

	(void)state;
	b = agent_backend_open(path, &cause);
	assert_non_null(b);
	one.b = b;
	one.text = NULL;
	worker_main(&one);
	assert_non_null(one.text);
	for (int i = 0; i < 4; i++) {
		w[i].b = b;
		w[i].text = NULL;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_non_null(w[i].text);
		assert_string_equal(w[i].text, one.text);
		free(w[i].text);
	}
	free(one.text);
	agent_backend_unref(b);
	unlink(path);
	free(path);

	/* A file that is no model says so. */
	assert_null(agent_backend_open("/etc/hostname", &cause));
	assert_non_null(cause);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_errors),
		cmocka_unit_test(test_stops),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_fork_rewind_match),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_local_concurrent),
	};

	log_level = LOG_LEVEL_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
