/*
 * test-daemon-rpc.c: the JSON-RPC engine (daemon/jsonrpc.c, request.c),
 * the method table (rpc.c and the rpc-*.c methods), the locked queue and
 * the worker pool, driven through a session whose output lines are
 * captured instead of written to a socket.
 *
 * Each test sets up a real event base, queue and pool, and at the end
 * checks that no request is left alive and that the base holds no more
 * events than right after set-up.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

/* One test's world. */
struct world {
	struct event_base *base;
	struct dmn_queue *queue;
	struct dmn_pool *pool;
	struct dmn_config *config;
	struct dmn_ctx ctx;
	struct dmn_session s;
	json_t *out; /* array of the lines written, parsed */
	int wakes;
	int baseline; /* events added right after set-up */
};

static struct world *W;

/* ---- methods only these tests serve ------------------------------------ */

static int
fail_exec(struct dmn_request *req, char **cause)
{
	(void)req;
	xasprintf(cause, "the test method failed on purpose");
	return -1;
}

static const struct dmn_method method_fail = {
	.name = "test.fail",
	.description = "Fails without answering.",
	.check = NULL,
	.exec = fail_exec,
};

static int
twice_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	dmn_request_reply(req, json_string("first"));
	return 0;
}

static const struct dmn_method method_twice = {
	.name = "test.twice",
	.description = "Answers at once, from exec().",
	.check = NULL,
	.exec = twice_exec,
};

/* Work that answers from a worker thread after some notifications. */
static void
async_work(void *arg)
{
	struct dmn_request *req = arg;
	json_t *params = dmn_request_params(req);
	json_int_t n = json_integer_value(json_object_get(params, "notes"));
	struct timespec ts = { 0, 2000000 };

	for (json_int_t i = 0; i < n; i++)
		dmn_request_notify(
		    req, "test.note", json_pack("{s:I}", "i", i));
	nanosleep(&ts, NULL);
	if (json_object_get(params, "error") != NULL)
		dmn_request_error(req, DMN_ERR_TIMEOUT, NULL,
		    json_pack("{s:s}", "detail", "slow"));
	else
		dmn_request_reply(req, json_pack("{s:b}", "async", 1));
}

static int
async_exec(struct dmn_request *req, char **cause)
{
	return dmn_pool_submit(
	    dmn_request_pool(req), async_work, NULL, req, cause);
}

static const struct dmn_method method_async = {
	.name = "test.async",
	.description = "Answers from a worker thread.",
	.check = NULL,
	.exec = async_exec,
};

/* Holds requests until the test answers them. */
static struct dmn_request *held[8];
static size_t nheld;

static int
hold_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	held[nheld++] = req;
	return 0;
}

static const struct dmn_method method_hold = {
	.name = "test.hold",
	.description = "Answers when the test says.",
	.check = NULL,
	.exec = hold_exec,
};

/* ---- the world ---------------------------------------------------------- */

static void
cap_write(struct dmn_session *s, const char *line, size_t len)
{
	json_error_t err;
	json_t *msg;

	(void)s;
	/* One line, no newline inside. */
	assert_null(memchr(line, '\n', len));
	msg = json_loadb(line, len, JSON_DECODE_ANY, &err);
	if (msg == NULL)
		fail_msg("daemon wrote bad JSON: %s", err.text);
	json_array_append_new(W->out, msg);
}

static size_t
cap_queued(struct dmn_session *s)
{
	(void)s;
	return 0;
}

static void
cap_wake(struct dmn_session *s)
{
	(void)s;
	W->wakes++;
}

static const struct dmn_method *all_methods[64];

static int
setup(void **state)
{
	struct world *w;
	char *cause = NULL;
	size_t n = 0;

	w = xcalloc(1, sizeof *w);
	W = w;
	w->base = event_base_new();
	assert_non_null(w->base);
	w->queue = dmn_queue_new(w->base);
	w->pool = dmn_pool_new(w->queue, 2, &cause);
	assert_non_null(w->pool);
	w->config = dmn_config_new();
	w->config->max_batch = 8;
	w->config->max_depth = 8;
	dmn_ctx_init(&w->ctx, w->base, w->queue, w->pool, w->config);
	for (size_t i = 0; i < dmn_nmethods; i++)
		all_methods[n++] = dmn_methods[i];
	all_methods[n++] = &method_fail;
	all_methods[n++] = &method_twice;
	all_methods[n++] = &method_async;
	all_methods[n++] = &method_hold;
	w->ctx.methods = all_methods;
	w->ctx.nmethods = n;
	dmn_session_init(&w->s, &w->ctx);
	w->s.id = 1;
	w->s.write = cap_write;
	w->s.queued = cap_queued;
	w->s.wake = cap_wake;
	w->out = json_array();
	nheld = 0;
	w->baseline =
	    event_base_get_num_events(w->base, EVENT_BASE_COUNT_ADDED);
	*state = w;
	return 0;
}

/* Runs the loop until the queue is empty and the pool idle. */
static void
settle(struct world *w)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 2000; i++) {
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		if (dmn_pool_busy(w->pool) == 0 &&
		    dmn_pool_queued(w->pool) == 0 &&
		    dmn_queue_run(w->queue) == 0)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("the loop did not settle");
}

static int
teardown(void **state)
{
	struct world *w = *state;

	dmn_session_detach(&w->s);
	assert_int_equal(dmn_pool_stop(w->pool, 5000), 0);
	/* Let the loop take any activation still pending. */
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
	json_decref(w->out);
	free(w);
	W = NULL;
	return 0;
}

/* Feeds one line and settles. */
static void
line(struct world *w, const char *text)
{
	dmn_session_line(&w->s, text, strlen(text));
	settle(w);
}

/* The only output since the last call (asserts there is exactly one). */
static json_t *
take_one(struct world *w)
{
	json_t *msg;

	if (json_array_size(w->out) != 1)
		fail_msg(
		    "want 1 output line, have %zu", json_array_size(w->out));
	msg = json_incref(json_array_get(w->out, 0));
	json_array_clear(w->out);
	return msg;
}

/* Checks an error response: code, and id (as JSON text). */
static void
expect_error(json_t *msg, int code, const char *id)
{
	json_t *want_id;
	json_t *err = json_object_get(msg, "error");

	assert_non_null(err);
	assert_string_equal(
	    json_string_value(json_object_get(msg, "jsonrpc")), "2.0");
	assert_int_equal(
	    json_integer_value(json_object_get(err, "code")), code);
	assert_true(json_is_string(json_object_get(err, "message")));
	assert_true(json_is_object(json_object_get(err, "data")));
	assert_null(json_object_get(msg, "result"));
	want_id = json_loads(id, JSON_DECODE_ANY, NULL);
	assert_non_null(want_id);
	assert_true(json_equal(json_object_get(msg, "id"), want_id));
	json_decref(want_id);
}

/* Sends text, expects one error with code and id; returns its data. */
static json_t *
error_of(struct world *w, const char *text, int code, const char *id)
{
	json_t *msg, *data;

	line(w, text);
	msg = take_one(w);
	expect_error(msg, code, id);
	data =
	    json_incref(json_object_get(json_object_get(msg, "error"), "data"));
	json_decref(msg);
	return data;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_ping_and_ids(void **state)
{
	struct world *w = *state;
	static const char *ids[] = { "1", "-7", "\"abc\"", "null", "1.5",
		"\"\"", "9007199254740993" };
	char buf[256];
	json_t *msg, *id;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		snprintf(buf, sizeof buf,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
		    "\"id\":%s}",
		    ids[i]);
		line(w, buf);
		msg = take_one(w);
		assert_true(json_is_true(
		    json_object_get(json_object_get(msg, "result"), "pong")));
		id = json_loads(ids[i], JSON_DECODE_ANY, NULL);
		assert_true(json_equal(json_object_get(msg, "id"), id));
		assert_null(json_object_get(msg, "error"));
		json_decref(id);
		json_decref(msg);
	}
	/* params may be {} or []; the order of members does not matter. */
	line(w,
	    "{\"id\":2,\"params\":{},\"method\":\"daemon.ping\","
	    "\"jsonrpc\":\"2.0\"}");
	json_decref(take_one(w));
	line(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":[],"
	    "\"id\":3}");
	json_decref(take_one(w));
}

static void
test_notifications(void **state)
{
	struct world *w = *state;

	/* No answer, not even for errors a valid notification meets. */
	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"}");
	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}");
	line(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":[1]}");
	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\"}");
	line(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\","
	    "\"params\":{\"notes\":3}}");
	assert_int_equal(json_array_size(w->out), 0);
	assert_int_equal(w->ctx.requests_total, 3);
	/* But an invalid request without an id is answered, with null. */
	json_decref(error_of(w, "{\"method\":\"daemon.ping\"}",
	    DMN_ERR_INVALID_REQUEST, "null"));
}

static void
test_parse_errors(void **state)
{
	struct world *w = *state;
	json_t *data;

	data = error_of(w, "{\"jsonrpc\":\"2.0\",", DMN_ERR_PARSE, "null");
	assert_true(json_is_string(json_object_get(data, "detail")));
	assert_true(json_is_integer(json_object_get(data, "offset")));
	json_decref(data);
	json_decref(error_of(w, "nonsense", DMN_ERR_PARSE, "null"));
	json_decref(error_of(w, "{\"a\":1} {\"b\":2}", DMN_ERR_PARSE, "null"));
	data = error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\",\"id\":1}",
	    DMN_ERR_PARSE, "null");
	assert_string_equal(json_string_value(json_object_get(data, "detail")),
	    "\\u0000 is not accepted in strings");
	json_decref(data);
	/* Duplicate members are ambiguous: refused. */
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1,"
	    "\"id\":2}",
	    DMN_ERR_PARSE, "null"));
}

static void
test_invalid_requests(void **state)
{
	struct world *w = *state;
	json_t *data;

	json_decref(error_of(w, "1", DMN_ERR_INVALID_REQUEST, "null"));
	json_decref(error_of(w, "\"x\"", DMN_ERR_INVALID_REQUEST, "null"));
	json_decref(error_of(w, "null", DMN_ERR_INVALID_REQUEST, "null"));
	/* jsonrpc missing or wrong; the id is kept when it is valid. */
	json_decref(error_of(w, "{\"method\":\"daemon.ping\",\"id\":4}",
	    DMN_ERR_INVALID_REQUEST, "4"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"1.0\",\"method\":\"daemon.ping\",\"id\":\"q\"}",
	    DMN_ERR_INVALID_REQUEST, "\"q\""));
	json_decref(
	    error_of(w, "{\"jsonrpc\":2.0,\"method\":\"daemon.ping\",\"id\":5}",
	        DMN_ERR_INVALID_REQUEST, "5"));
	/* method missing or not a string. */
	json_decref(error_of(
	    w, "{\"jsonrpc\":\"2.0\",\"id\":6}", DMN_ERR_INVALID_REQUEST, "6"));
	json_decref(error_of(w, "{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":7}",
	    DMN_ERR_INVALID_REQUEST, "7"));
	/* params not structured. */
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":1,"
	    "\"id\":8}",
	    DMN_ERR_INVALID_REQUEST, "8"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":null,\"id\":9}",
	    DMN_ERR_INVALID_REQUEST, "9"));
	/* Bad ids are not echoed. */
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":{}}",
	    DMN_ERR_INVALID_REQUEST, "null"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":[1]}",
	    DMN_ERR_INVALID_REQUEST, "null"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":true}",
	    DMN_ERR_INVALID_REQUEST, "null"));
	/* Unknown members are named. */
	data = error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1,"
	    "\"stream\":true}",
	    DMN_ERR_INVALID_REQUEST, "1");
	assert_string_equal(
	    json_string_value(json_object_get(data, "member")), "stream");
	json_decref(data);
}

static void
test_method_errors(void **state)
{
	struct world *w = *state;
	json_t *data;

	data =
	    error_of(w, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":1}",
	        DMN_ERR_METHOD_NOT_FOUND, "1");
	assert_string_equal(
	    json_string_value(json_object_get(data, "method")), "no.such");
	json_decref(data);
	/* A prefix of a name, and a debug method while they are off. */
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.pin\",\"id\":2}",
	    DMN_ERR_METHOD_NOT_FOUND, "2"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	    "\"params\":{\"ms\":1},\"id\":3}",
	    DMN_ERR_METHOD_NOT_FOUND, "3"));
	data = error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":[1],"
	    "\"id\":4}",
	    DMN_ERR_INVALID_PARAMS, "4");
	assert_string_equal(json_string_value(json_object_get(data, "detail")),
	    "this method takes no params");
	json_decref(data);
	data = error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\",\"id\":5}",
	    DMN_ERR_INTERNAL, "5");
	assert_string_equal(json_string_value(json_object_get(data, "detail")),
	    "the test method failed on purpose");
	json_decref(data);
	/* With debug methods on, daemon.sleep checks its params. */
	w->config->debug_methods = 1;
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	    "\"params\":{\"ms\":-1},\"id\":6}",
	    DMN_ERR_INVALID_PARAMS, "6"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	    "\"params\":{\"ms\":1,\"x\":1},\"id\":7}",
	    DMN_ERR_INVALID_PARAMS, "7"));
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\",\"id\":8}",
	    DMN_ERR_INVALID_PARAMS, "8"));
}

static void
test_limits(void **state)
{
	struct world *w = *state;
	json_t *data;
	char buf[512];

	/* max_depth is 8 here; the envelope counts. */
	data = error_of(w, "[[[[[[[[[1]]]]]]]]]", DMN_ERR_LIMIT, "null");
	assert_string_equal(
	    json_string_value(json_object_get(data, "limit")), "max_depth");
	assert_int_equal(json_integer_value(json_object_get(data, "max")), 8);
	json_decref(data);
	line(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":[[[[[[]]]]]],\"id\":1}");
	expect_error(json_array_get(w->out, 0), DMN_ERR_INVALID_PARAMS, "1");
	json_array_clear(w->out);
	/* max_batch is 8. */
	buf[0] = '\0';
	strcat(buf, "[");
	for (int i = 0; i < 9; i++)
		strcat(buf, i == 0 ? "1" : ",1");
	strcat(buf, "]");
	data = error_of(w, buf, DMN_ERR_LIMIT, "null");
	assert_string_equal(
	    json_string_value(json_object_get(data, "limit")), "max_batch");
	assert_int_equal(json_integer_value(json_object_get(data, "max")), 8);
	assert_int_equal(json_integer_value(json_object_get(data, "got")), 9);
	json_decref(data);
}

static void
test_batches(void **state)
{
	struct world *w = *state;
	json_t *msg, *item;
	size_t i;
	int seen[5] = { 0 };

	/* Empty batch: one error object, not an array. */
	json_decref(error_of(w, "[]", DMN_ERR_INVALID_REQUEST, "null"));
	/* Invalid items each get an error in the array. */
	line(w, "[1,2,3]");
	msg = take_one(w);
	assert_true(json_is_array(msg));
	assert_int_equal(json_array_size(msg), 3);
	json_array_foreach(msg, i, item)
	    expect_error(item, DMN_ERR_INVALID_REQUEST, "null");
	json_decref(msg);
	/* Mixed: answers, errors, a notification (no answer). */
	line(w,
	    "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":2},"
	    "{\"foo\":\"boo\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\","
	    "\"params\":{\"notes\":0},\"id\":3},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":7,\"id\":4}]");
	msg = take_one(w);
	assert_true(json_is_array(msg));
	assert_int_equal(json_array_size(msg), 5);
	json_array_foreach(msg, i, item)
	{
		json_t *id = json_object_get(item, "id");
		int k = json_is_null(id) ? 0 : (int)json_integer_value(id);

		seen[k]++;
		switch (k) {
		case 1:
			assert_non_null(json_object_get(item, "result"));
			break;
		case 2:
			expect_error(item, DMN_ERR_METHOD_NOT_FOUND, "2");
			break;
		case 3:
			assert_true(json_is_true(json_object_get(
			    json_object_get(item, "result"), "async")));
			break;
		case 4:
		case 0:
			expect_error(item, DMN_ERR_INVALID_REQUEST,
			    k == 0 ? "null" : "4");
			break;
		}
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(seen[i], 1);
	json_decref(msg);
	/* Only notifications: nothing at all. */
	line(w,
	    "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\","
	    "\"params\":{\"notes\":2}}]");
	assert_int_equal(json_array_size(w->out), 0);
}

static void
test_async_and_notify(void **state)
{
	struct world *w = *state;
	json_t *msg;

	line(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\","
	    "\"params\":{\"notes\":4},\"id\":\"r\"}");
	/* Notifications first, in order, then the answer. */
	assert_int_equal(json_array_size(w->out), 5);
	for (int i = 0; i < 4; i++) {
		msg = json_array_get(w->out, (size_t)i);
		assert_string_equal(
		    json_string_value(json_object_get(msg, "method")),
		    "test.note");
		assert_null(json_object_get(msg, "id"));
		assert_int_equal(json_integer_value(json_object_get(
		                     json_object_get(msg, "params"), "i")),
		    i);
	}
	msg = json_array_get(w->out, 4);
	assert_string_equal(json_string_value(json_object_get(msg, "id")), "r");
	assert_true(json_is_true(
	    json_object_get(json_object_get(msg, "result"), "async")));
	json_array_clear(w->out);
	assert_true(w->wakes > 0);
	/* An application error from a worker. */
	json_decref(error_of(w,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\","
	    "\"params\":{\"error\":1},\"id\":9}",
	    DMN_ERR_TIMEOUT, "9"));
	assert_int_equal(w->s.npending, 0);
}

static void
test_answer_twice(void **state)
{
	struct world *w = *state;
	json_t *msg;

	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":1}");
	assert_int_equal(json_array_size(w->out), 0);
	assert_int_equal(nheld, 1);
	assert_int_equal(w->s.npending, 1);
	/* A reference of our own keeps it past its answer. */
	dmn_request_ref(held[0]);
	assert_false(dmn_request_is_notification(held[0]));
	assert_string_equal(dmn_request_method(held[0]), "test.hold");
	assert_int_equal(json_integer_value(dmn_request_id(held[0])), 1);
	dmn_request_reply(held[0], json_integer(42));
	dmn_request_error(held[0], DMN_ERR_INTERNAL, NULL, json_object());
	dmn_request_reply(held[0], json_integer(43));
	settle(w);
	msg = take_one(w);
	assert_int_equal(
	    json_integer_value(json_object_get(msg, "result")), 42);
	json_decref(msg);
	dmn_request_unref(held[0]);
	settle(w);
	assert_int_equal(atomic_load(&w->ctx.live), 0);
	/* A method that answers in exec, then once more. */
	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.twice\",\"id\":2}");
	msg = take_one(w);
	assert_string_equal(
	    json_string_value(json_object_get(msg, "result")), "first");
	json_decref(msg);
}

static void
test_client_gone(void **state)
{
	struct world *w = *state;

	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":1}");
	line(w,
	    "[{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":2},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":3}]");
	assert_int_equal(nheld, 2);
	assert_int_equal(w->s.npending, 2);
	assert_false(dmn_request_cancelled(held[0]));
	dmn_session_detach(&w->s);
	dmn_session_detach(&w->s); /* twice is fine */
	assert_true(dmn_request_cancelled(held[0]));
	assert_true(dmn_request_cancelled(held[1]));
	/* Answers and notifications now go into the void. */
	dmn_request_notify(held[0], "test.note", json_object());
	dmn_request_reply(held[0], json_true());
	dmn_request_error(held[1], DMN_ERR_CANCELLED, NULL, NULL);
	settle(w);
	assert_int_equal(json_array_size(w->out), 0);
	assert_int_equal(atomic_load(&w->ctx.live), 0);
}

static void
test_cancel_all(void **state)
{
	struct world *w = *state;
	json_t *msg;

	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":1}");
	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":2}");
	dmn_request_ref(held[0]);
	dmn_session_cancel_all(&w->s, "stopping");
	settle(w);
	assert_int_equal(json_array_size(w->out), 2);
	for (size_t i = 0; i < 2; i++) {
		msg = json_array_get(w->out, i);
		expect_error(msg, DMN_ERR_CANCELLED, i == 0 ? "1" : "2");
	}
	assert_true(dmn_request_cancelled(held[0]));
	assert_true(dmn_request_cancelled(held[1]));
	assert_int_equal(w->s.npending, 0);
	/* The handlers still own their references: the requests live. */
	settle(w);
	assert_int_equal(atomic_load(&w->ctx.live), 2);
	assert_string_equal(dmn_request_method(held[1]), "test.hold");
	/* Their late answers are dropped, and release them. */
	dmn_request_reply(held[0], json_true());
	dmn_request_error(held[1], DMN_ERR_INTERNAL, NULL, NULL);
	dmn_request_unref(held[0]);
	settle(w);
	assert_int_equal(json_array_size(w->out), 2);
	assert_int_equal(atomic_load(&w->ctx.live), 0);
}

static void
test_table(void **state)
{
	(void)state;
	assert_true(dmn_nmethods >= 4);
	for (size_t i = 0; i < dmn_nmethods; i++) {
		const struct dmn_method *m = dmn_methods[i];
		const char *dot = strchr(m->name, '.');

		/* "noun.verb", lowercase, sorted, each findable. */
		assert_non_null(dot);
		assert_true(dot > m->name && dot[1] != '\0');
		assert_null(strchr(dot + 1, '.'));
		assert_true(strspn(m->name, "abcdefghijklmnopqrstuvwxyz._") ==
		    strlen(m->name));
		if (i > 0)
			assert_true(
			    strcmp(dmn_methods[i - 1]->name, m->name) < 0);
		/* One line of description. */
		assert_true(strlen(m->description) > 10);
		assert_null(strchr(m->description, '\n'));
		assert_non_null(m->check);
		assert_non_null(m->exec);
		assert_ptr_equal(dmn_method_find(dmn_methods, dmn_nmethods,
		                     m->name, strlen(m->name), 1),
		    m);
	}
	assert_null(
	    dmn_method_find(dmn_methods, dmn_nmethods, "daemon.pingx", 12, 1));
	assert_null(
	    dmn_method_find(dmn_methods, dmn_nmethods, "daemon.ping", 10, 1));
	assert_non_null(
	    dmn_method_find(dmn_methods, dmn_nmethods, "daemon.ping", 11, 0));
	assert_null(
	    dmn_method_find(dmn_methods, dmn_nmethods, "daemon.sleep", 12, 0));
}

static void
test_daemon_methods(void **state)
{
	struct world *w = *state;
	json_t *msg, *list, *status;
	size_t i;

	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.methods\",\"id\":1}");
	msg = take_one(w);
	list = json_object_get(json_object_get(msg, "result"), "methods");
	assert_true(json_is_array(list));
	/* Our table here: the real methods but sleep, then the test ones. */
	assert_int_equal(json_array_size(list), dmn_nmethods - 1 + 4);
	for (i = 0; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);

		assert_true(json_is_string(json_object_get(m, "name")));
		assert_true(json_is_string(json_object_get(m, "description")));
		assert_string_not_equal(
		    json_string_value(json_object_get(m, "name")),
		    "daemon.sleep");
	}
	json_decref(msg);

	line(w, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.status\",\"id\":2}");
	msg = take_one(w);
	status = json_object_get(msg, "result");
	assert_string_equal(
	    json_string_value(json_object_get(status, "version")),
	    AGENTD_VERSION);
	assert_true(json_integer_value(json_object_get(status, "pid")) > 0);
	assert_true(json_is_integer(json_object_get(status, "uptime_ms")));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(status, "connections"), "open")),
	    1);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(status, "workers"), "threads")),
	    2);
	assert_int_equal(json_array_size(json_object_get(status, "methods")),
	    dmn_nmethods - 1 + 4);
	json_decref(msg);
}

static void
test_error_messages(void **state)
{
	static const int codes[] = { DMN_ERR_PARSE, DMN_ERR_INVALID_REQUEST,
		DMN_ERR_METHOD_NOT_FOUND, DMN_ERR_INVALID_PARAMS,
		DMN_ERR_INTERNAL, DMN_ERR_LIMIT, DMN_ERR_UNKNOWN_RUN,
		DMN_ERR_OVERLOADED, DMN_ERR_MODEL, DMN_ERR_TOOL_FAILED,
		DMN_ERR_CANCELLED, DMN_ERR_TIMEOUT, DMN_ERR_UNKNOWN_NAME,
		DMN_ERR_TOOL_ARGS, DMN_ERR_DENIED };
	size_t n = sizeof codes / sizeof codes[0];
	json_t *data;
	char *line;

	(void)state;
	/* The spec's messages for its codes; a distinct one for each. */
	assert_string_equal(
	    dmn_rpc_error_message(DMN_ERR_PARSE), "Parse error");
	assert_string_equal(
	    dmn_rpc_error_message(DMN_ERR_INVALID_REQUEST), "Invalid Request");
	assert_string_equal(dmn_rpc_error_message(DMN_ERR_METHOD_NOT_FOUND),
	    "Method not found");
	assert_string_equal(
	    dmn_rpc_error_message(DMN_ERR_INVALID_PARAMS), "Invalid params");
	assert_string_equal(
	    dmn_rpc_error_message(DMN_ERR_INTERNAL), "Internal error");
	for (size_t i = 0; i < n; i++) {
		assert_string_not_equal(
		    dmn_rpc_error_message(codes[i]), "Error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(dmn_rpc_error_message(codes[i]),
			    dmn_rpc_error_message(codes[j]));
	}
	/* Application codes count down from -32000. */
	for (size_t i = 5; i < n; i++)
		assert_int_equal(codes[i], -32000 - (int)(i - 5));
	/* The line sent to refused connections. */
	line = dmn_rpc_error_line(
	    DMN_ERR_LIMIT, NULL, dmn_rpc_limit_data("max_connections", 3));
	data = json_loads(line, 0, NULL);
	assert_non_null(data);
	assert_true(json_is_null(json_object_get(data, "id")));
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(data, "error"), "data"),
	        "max")),
	    3);
	json_decref(data);
	free(line);
}

/* ---- the pool and the queue on their own -------------------------------- */

struct job {
	int id;
	int worked;
	int done;
	pthread_t worker;
};

static int done_order[64];
static int ndone;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void
job_work(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
	j->worked = 1;
	j->worker = pthread_self();
}

static void
job_done(void *arg)
{
	struct job *j = arg;

	/* Done callbacks run on the loop thread, after the work. */
	assert_true(pthread_equal(pthread_self(), W->ctx.loop_thread));
	assert_true(j->worked);
	j->done = 1;
	done_order[ndone++] = j->id;
}

static void
test_pool(void **state)
{
	struct world *w = *state;
	struct job jobs[32];
	char *cause = NULL;

	memset(jobs, 0, sizeof jobs);
	ndone = 0;
	assert_int_equal(dmn_pool_threads(w->pool), 2);
	/* Hold the workers so that jobs queue up. */
	pthread_mutex_lock(&gate);
	for (int i = 0; i < 32; i++) {
		jobs[i].id = i;
		assert_int_equal(dmn_pool_submit(w->pool, job_work, job_done,
		                     &jobs[i], &cause),
		    0);
	}
	assert_true(dmn_pool_queued(w->pool) + dmn_pool_busy(w->pool) == 32);
	/* A stop that times out while a job blocks reports it. */
	assert_int_equal(dmn_pool_stop(w->pool, 50), -1);
	assert_int_equal(
	    dmn_pool_submit(w->pool, job_work, NULL, &jobs[0], &cause), -1);
	assert_string_equal(cause, "worker pool: shutting down");
	free(cause);
	pthread_mutex_unlock(&gate);
	/* Queued jobs still run when stopping; then the threads go. */
	assert_int_equal(dmn_pool_stop(w->pool, 5000), 0);
	assert_int_equal(dmn_queue_run(w->queue), 32);
	for (int i = 0; i < 32; i++) {
		assert_true(jobs[i].done);
		assert_false(pthread_equal(jobs[i].worker, w->ctx.loop_thread));
	}
	assert_int_equal(dmn_pool_threads(w->pool), 0);
	assert_int_equal(dmn_pool_busy(w->pool), 0);
	assert_null(dmn_pool_new(w->queue, 0, &cause));
	assert_string_equal(cause, "worker pool: 0 threads (1 to 1024)");
	free(cause);
}

struct pusher {
	struct dmn_queue *q;
	int base;
};

static int pushed[4 * 500];
static int npushed;

static void
push_cb(void *arg)
{
	pushed[npushed++] = (int)(intptr_t)arg;
}

static void *
push_main(void *arg)
{
	struct pusher *p = arg;

	for (int i = 0; i < 500; i++)
		dmn_queue_push(p->q, push_cb, (void *)(intptr_t)(p->base + i));
	return NULL;
}

static void
test_queue_threads(void **state)
{
	struct world *w = *state;
	struct pusher p[4];
	pthread_t t[4];
	int last[4] = { -1, -1, -1, -1 };

	npushed = 0;
	for (int i = 0; i < 4; i++) {
		p[i].q = w->queue;
		p[i].base = i * 1000;
		assert_int_equal(
		    pthread_create(&t[i], NULL, push_main, &p[i]), 0);
	}
	/* The loop wakes for pushes from other threads. */
	while (npushed < 2000)
		event_base_loop(w->base, EVLOOP_ONCE);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* Each thread's items arrive in the order pushed. */
	for (int i = 0; i < 2000; i++) {
		int who = pushed[i] / 1000;

		assert_true(pushed[i] % 1000 > last[who]);
		last[who] = pushed[i] % 1000;
	}
	assert_int_equal(dmn_queue_run(w->queue), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_ping_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_notifications, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_parse_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_invalid_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_method_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_async_and_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_answer_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cancel_all, setup, teardown),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test_setup_teardown(
		    test_daemon_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queue_threads, setup, teardown),
	};

	log_level = LOG_LEVEL_ERR - 1; /* quiet: errors are expected */
	if (evthread_use_pthreads() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
