/*
 * test-daemon-envelope.c: the JSON-RPC engine's fast paths
 * (daemon/jsonrpc.c, request.c): the plain road that reads a request's
 * envelope without building JSON values (dmn_envelope_scan()), the
 * encoder that writes answers without jansson's per-call allocations
 * (dmn_json_encode()), and the inline free of requests answered on the
 * loop thread.  The rest of the engine is in test-daemon-rpc.c.
 *
 * The rule that matters: the plain road and the full road answer every
 * line the same, byte for byte.  tests/fuzz/fuzz-jsonrpc.c checks it on
 * random input; here it is checked on chosen cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

extern const struct dmn_method dmn_method_daemon_ping;

/* One test's world: a session whose output lines are kept as text. */
struct world {
	struct event_base *base;
	struct dmn_queue *queue;
	struct dmn_pool *pool;
	struct dmn_config *config;
	struct dmn_ctx ctx;
	struct dmn_session s;
	struct buf out; /* lines written, each with its '\n' */
	int baseline;
};

/* ---- methods only these tests serve ------------------------------------ */

static int
echo_exec(struct dmn_request *req, char **cause)
{
	json_t *params = dmn_request_params(req);

	(void)cause;
	dmn_request_reply(req, json_pack("{s:O?}", "params", params));
	return 0;
}

static const struct dmn_method method_echo = {
	.name = "test.echo",
	.description = "Answers with its params.",
	.exec = echo_exec,
};

/* Answers with a string that is not UTF-8: a handler's bug. */
static int
bad_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	dmn_request_reply(req, json_stringn_nocheck("\xff\xfe", 2));
	return 0;
}

static const struct dmn_method method_bad = {
	.name = "test.bad",
	.description = "Answers with a result that cannot be encoded.",
	.exec = bad_exec,
};

static void
later_cb(void *arg)
{
	dmn_request_reply(arg, json_true());
}

/* Answers from the loop's queue, as a worker's answer arrives. */
static int
later_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	dmn_queue_push(dmn_request_ctx(req)->queue, later_cb, req);
	return 0;
}

static const struct dmn_method method_later = {
	.name = "test.later",
	.description = "Answers from the queue.",
	.exec = later_exec,
};

static const struct dmn_method *const methods[] = {
	&dmn_method_daemon_ping,
	&method_bad,
	&method_echo,
	&method_later,
};

/* ---- the world ---------------------------------------------------------- */

static void
out_write(struct dmn_session *s, const char *line, size_t len)
{
	struct world *w = s->owner;

	assert_null(memchr(line, '\n', len));
	assert_int_equal(buf_add(&w->out, line, len), 0);
	assert_int_equal(buf_add(&w->out, "\n", 1), 0);
}

static size_t
out_queued(struct dmn_session *s)
{
	(void)s;
	return 0;
}

static int
setup(void **state)
{
	struct world *w;
	char *cause = NULL;

	w = xcalloc(1, sizeof *w);
	w->base = event_base_new();
	assert_non_null(w->base);
	w->queue = dmn_queue_new(w->base);
	w->pool = dmn_pool_new(w->queue, 1, &cause);
	assert_non_null(w->pool);
	w->config = dmn_config_new();
	w->config->max_depth = 8;
	dmn_ctx_init(&w->ctx, w->base, w->queue, w->pool, w->config);
	w->ctx.methods = methods;
	w->ctx.nmethods = sizeof methods / sizeof methods[0];
	dmn_session_init(&w->s, &w->ctx);
	w->s.id = 1;
	w->s.write = out_write;
	w->s.queued = out_queued;
	w->s.owner = w;
	buf_init(&w->out, SIZE_MAX);
	w->baseline =
	    event_base_get_num_events(w->base, EVENT_BASE_COUNT_ADDED);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	dmn_session_detach(&w->s);
	assert_int_equal(dmn_pool_stop(w->pool, 5000), 0);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	dmn_queue_run(w->queue);
	assert_int_equal(atomic_load(&w->ctx.live), 0);
	assert_int_equal(
	    event_base_get_num_events(w->base, EVENT_BASE_COUNT_ADDED),
	    w->baseline);
	dmn_pool_free(w->pool);
	dmn_queue_free(w->queue);
	dmn_ctx_free(&w->ctx);
	event_base_free(w->base);
	dmn_config_free(w->config);
	buf_free(&w->out);
	free(w);
	return 0;
}

/* Feeds one line, runs the queue, and returns the output (caller frees). */
static char *
answer(struct world *w, const char *line)
{
	buf_reset(&w->out);
	dmn_session_line(&w->s, line, strlen(line));
	dmn_queue_run(w->queue);
	return xstrdup(w->out.len > 0 ? w->out.data : "");
}

/* ---- the plain road ----------------------------------------------------- */

static void
test_scan_plain(void **state)
{
	struct dmn_envelope env;
	const char *line;

	(void)state;
	line = "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1}";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.method_len, 11);
	assert_memory_equal(env.method, "daemon.ping", 11);
	assert_null(env.params);
	assert_int_equal(env.id_kind, DMN_ENVELOPE_ID_INTEGER);
	assert_int_equal(env.id_int, 1);
	assert_int_equal(env.depth, 1);

	/* Any order, white space anywhere JSON allows it, params nested. */
	line =
	    " \t{ \"id\" : \"a b\" ,\"params\":{\"x\":[1,{\"y\":\"]}\\\"\"}]},"
	    "\r\n\"method\":\"m.v\", \"jsonrpc\":\"2.0\"} \r";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.id_kind, DMN_ENVELOPE_ID_STRING);
	assert_int_equal(env.id_len, 3);
	assert_memory_equal(env.id_str, "a b", 3);
	assert_int_equal(
	    env.params_len, strlen("{\"x\":[1,{\"y\":\"]}\\\"\"}]}"));
	assert_memory_equal(
	    env.params, "{\"x\":[1,{\"y\":\"]}\\\"\"}]}", env.params_len);
	assert_int_equal(env.depth, 4);

	/* null and negative ids, up to 18 digits; notifications. */
	line = "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":null}";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.id_kind, DMN_ENVELOPE_ID_NULL);
	line = "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":"
	       "-999999999999999999}";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.id_int, -999999999999999999LL);
	line = "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":0}";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.id_int, 0);
	line = "{\"method\":\"a\",\"params\":[],\"jsonrpc\":\"2.0\"}";
	assert_int_equal(dmn_envelope_scan(line, strlen(line), &env), 0);
	assert_int_equal(env.id_kind, DMN_ENVELOPE_ID_NONE);
	assert_int_equal(env.params_len, 2);
	assert_int_equal(env.depth, 2);
}

/* Lines the plain road leaves to the full one. */
static void
test_scan_fallback(void **state)
{
	static const char *const lines[] = {
		"",
		"   ",
		"[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}]",
		"{}",
		"1",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}x",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1} {}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1,}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\" \"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\" 1}",
		/* members missing, repeated, unknown, or of a wrong kind */
		"{\"method\":\"a\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1,\"id\":2}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"method\":\"b\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"stream\":true}",
		"{\"jsonrpc\":\"1.0\",\"method\":\"a\",\"id\":1}",
		"{\"jsonrpc\":2.0,\"method\":\"a\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":null}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":\"[]\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[1,2}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[\"]\"}",
		/* ids the plain road does not read */
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1.5}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1e3}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":01}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":-}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":"
		"1000000000000000000}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":true}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":nul}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":nullx}",
		/* escapes, control characters, non-ASCII in names and ids */
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0062\",\"id\":1}",
		"{\"js\\u006frpc\":\"2.0\",\"method\":\"a\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":\"\\n\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\tb\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"\xc3\xa9\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":\"\xc3\xa9\"}",
	};
	struct dmn_envelope env;

	(void)state;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if (dmn_envelope_scan(lines[i], strlen(lines[i]), &env) != -1)
			fail_msg("scanned as plain: %s", lines[i]);
	}
}

/*
 * The same request spelled for each road gets the same bytes back; the
 * full road's spelling escapes one letter (of the method, or of a string
 * id after what a parse error points at), which the plain road refuses
 * to read.
 */
static void
test_roads_agree(void **state)
{
	static const char *const pairs[][2] = {
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.pin\\u0067\","
		    "\"id\":1}" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":"
		  "-123456789012345678}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.pin\\u0067\","
		    "\"id\":-123456789012345678}" },
		{ "{\"id\":\"x "
		  "y\",\"method\":\"daemon.ping\",\"jsonrpc\":\"2.0\"}",
		    "{\"id\":\"x y\",\"method\":\"daemon.pin\\u0067\","
		    "\"jsonrpc\":\"2.0\"}" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":"
		  "null}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.pin\\u0067\","
		    "\"id\":null}" },
		/* Errors found after the envelope: same text either way. */
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
		  "\"params\":[1],\"id\":2}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.pin\\u0067\","
		    "\"params\":[1],\"id\":2}" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":3}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"no.suc\\u0068\","
		    "\"id\":3}" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		  "{\"a\":[1,2.5,\"\\u00e9\\n\",null,{}],\"b\":-0.0},\"id\":4}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"test.ech\\u006f\","
		    "\"params\":{\"a\":[1,2.5,\"\\u00e9\\n\",null,{}],"
		    "\"b\":-0.0},\"id\":4}" },
		/* Params that do not parse: the plain road gives up. */
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		  "[1,,2],\"id\":\"5\"}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		    "[1,,2],\"id\":\"\\u0035\"}" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		  "{\"k\":1,\"k\":2},\"id\":\"6\"}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		    "{\"k\":1,\"k\":2},\"id\":\"\\u0036\"}" },
		/* Too deep (max_depth is 8 here, the envelope counts). */
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		  "[[[[[[[[]]]]]]]],\"id\":\"7\"}",
		    "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":"
		    "[[[[[[[[]]]]]]]],\"id\":\"\\u0037\"}" },
	};
	struct world *w = *state;
	char *plain, *full, want[64];

	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		plain = answer(w, pairs[i][0]);
		full = answer(w, pairs[i][1]);
		if (strcmp(plain, full) != 0 || plain[0] == '\0')
			fail_msg(
			    "case %zu:\n plain %s full  %s", i, plain, full);
		free(plain);
		free(full);
	}
	/* And the exact bytes of the common answer. */
	plain = answer(w, pairs[0][0]);
	assert_string_equal(plain,
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"pong\":true},\"id\":1}\n");
	free(plain);
	/* Parse errors have a null id, whatever the line's id. */
	plain = answer(w, pairs[7][0]);
	assert_non_null(strstr(plain, "\"code\":-32700"));
	assert_non_null(strstr(plain, "\"id\":null}"));
	free(plain);
	/* A depth error names the offset of the bracket too deep. */
	plain = answer(w, pairs[9][0]);
	assert_non_null(strstr(plain, "\"limit\":\"max_depth\""));
	snprintf(want, sizeof want, "\"offset\":%zu",
	    (size_t)(strchr(pairs[9][0], '[') - pairs[9][0]) + 7);
	assert_non_null(strstr(plain, want));
	free(plain);
}

/* ---- requests freed inline ---------------------------------------------- */

static void
test_inline_free(void **state)
{
	struct world *w = *state;
	const char *ping =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1}";
	const char *batch =
	    "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":2}]";
	const char *later =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.later\",\"id\":3}";

	/* Answered in exec(): gone when the line returns, queue untouched. */
	dmn_session_line(&w->s, ping, strlen(ping));
	assert_int_equal(atomic_load(&w->ctx.live), 0);
	assert_int_equal(w->s.npending, 0);
	assert_int_equal(dmn_queue_run(w->queue), 0);
	dmn_session_line(&w->s, batch, strlen(batch));
	assert_int_equal(atomic_load(&w->ctx.live), 0);
	assert_int_equal(dmn_queue_run(w->queue), 0);
	/* Answered later: alive until then, and freed by that callback. */
	buf_reset(&w->out);
	dmn_session_line(&w->s, later, strlen(later));
	assert_int_equal(atomic_load(&w->ctx.live), 1);
	assert_int_equal(w->s.npending, 1);
	assert_int_equal(w->out.len, 0);
	assert_int_equal(dmn_queue_run(w->queue), 2);
	assert_int_equal(atomic_load(&w->ctx.live), 0);
	assert_string_equal(
	    w->out.data, "{\"jsonrpc\":\"2.0\",\"result\":true,\"id\":3}\n");
}

/* A result that cannot be encoded still gets an answer: -32603. */
static void
test_unencodable(void **state)
{
	struct world *w = *state;
	char *out;

	out =
	    answer(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.bad\",\"id\":9}");
	assert_string_equal(out,
	    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":"
	    "\"Internal error\",\"data\":{\"detail\":\"the answer could not "
	    "be encoded as JSON\"}},\"id\":9}\n");
	free(out);
}

/* ---- the encoder -------------------------------------------------------- */

/* dmn_json_encode() and jansson agree on value v (taken). */
static void
expect_same(json_t *v)
{
	struct buf b;
	char *want;

	assert_non_null(v);
	want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(want);
	buf_init(&b, SIZE_MAX);
	assert_int_equal(dmn_json_encode(&b, v), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
	free(want);
	json_decref(v);
}

static void
test_encode(void **state)
{
	static const char *const texts[] = {
		"null",
		"true",
		"false",
		"0",
		"-1",
		"9223372036854775807",
		"-9223372036854775808",
		"1.5",
		"-0.0",
		"1e300",
		"0.1",
		"\"\"",
		"\"plain\"",
		"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0001 \\u001f \\u007f\"",
		"\"\\u00e9 \\u20ac \\ud83d\\ude00\"",
		"[]",
		"{}",
		"[1,[2,[3,{}]],{\"a\":{\"b\":[]}}]",
		"{\"z\":1,\"a\":2,\"m\":{\"\\n\":null}}",
	};
	json_t *v, *inner;
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		expect_same(json_loads(texts[i], JSON_DECODE_ANY, NULL));
	/* Embedded NULs, and keys that need escapes. */
	expect_same(json_stringn("a\0b", 3));
	v = json_object();
	json_object_set_new(v, "k\"\x01", json_integer(1));
	expect_same(v);

	/* A string that is not UTF-8 is refused, as jansson refuses it. */
	buf_init(&b, SIZE_MAX);
	v = json_pack("[s, o]", "ok", json_stringn_nocheck("\xc3\x28", 2));
	assert_int_equal(dmn_json_encode(&b, v), -1);
	assert_null(json_dumps(v, JSON_COMPACT));
	json_decref(v);
	/* So is nesting past 2048 (what jansson's parser allows). */
	v = json_array();
	for (int i = 0; i < 2048; i++) {
		inner = json_array();
		json_array_append_new(inner, v);
		v = inner;
	}
	buf_reset(&b);
	assert_int_equal(dmn_json_encode(&b, v), -1);
	json_decref(v);
	buf_free(&b);
	/* And a full buffer. */
	buf_init(&b, 8);
	v = json_pack("{s:s}", "key", "a long value");
	assert_int_equal(dmn_json_encode(&b, v), -1);
	json_decref(v);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_plain),
		cmocka_unit_test(test_scan_fallback),
		cmocka_unit_test_setup_teardown(
		    test_roads_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_inline_free, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unencodable, setup, teardown),
		cmocka_unit_test(test_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
