/*
 * test-daemon-wire.c: the real agentd over a real socket: ping, status,
 * methods, batches, notifications, errors and the connection limits
 * (message size, nesting, connections, idle timeout), half closes and
 * clients that vanish mid-request.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

/* Seconds each test may take, daemon start and stop included. */
#define TEST_LIMIT 60

#define PING "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":%d}"

static struct harness_daemon *
start(const char *config)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;

	opts.config = config;
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	return d;
}

/* Stops the daemon, which must exit 0, and frees it. */
static void
stop(struct harness_daemon *d)
{
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

/* Receives one message and checks it is an error with code and id. */
static json_t *
expect_error(struct harness_conn *c, int code, const char *id)
{
	json_t *msg, *want, *data;

	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_int_equal(harness_error_code(msg), code);
	want = json_loads(id, JSON_DECODE_ANY, NULL);
	assert_true(json_equal(json_object_get(msg, "id"), want));
	json_decref(want);
	data =
	    json_incref(json_object_get(json_object_get(msg, "error"), "data"));
	assert_true(json_is_object(data));
	json_decref(msg);
	return data;
}

/* Sends a ping with id and checks the answer. */
static void
ping(struct harness_conn *c, int id)
{
	char buf[128];
	json_t *msg;

	snprintf(buf, sizeof buf, PING, id);
	assert_int_equal(harness_send_line(c, buf), 0);
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), id);
	assert_true(json_is_true(
	    json_object_get(json_object_get(msg, "result"), "pong")));
	json_decref(msg);
}

static void
test_ping_status_methods(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *resp, *r, *m;
	size_t i;
	int found = 0;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start(NULL);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	ping(c, 1);

	resp = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS);
	assert_non_null(resp);
	r = harness_result(resp);
	assert_string_equal(
	    json_string_value(json_object_get(r, "version")), AGENTD_VERSION);
	assert_int_equal(json_integer_value(json_object_get(r, "pid")), d->pid);
	assert_true(json_integer_value(json_object_get(r, "uptime_ms")) >= 0);
	assert_string_equal(
	    json_string_value(json_object_get(r, "socket")), d->socket);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(r, "connections"), "open")),
	    1);
	assert_true(json_array_size(json_object_get(r, "methods")) >= 3);
	json_decref(resp);

	resp =
	    harness_call(c, "daemon.methods", json_object(), HARNESS_REPLY_MS);
	assert_non_null(resp);
	json_array_foreach(
	    json_object_get(harness_result(resp), "methods"), i, m)
	{
		assert_true(json_is_string(json_object_get(m, "description")));
		if (strcmp(json_string_value(json_object_get(m, "name")),
		        "daemon.ping") == 0)
			found = 1;
		/* Debug methods stay hidden unless the config says so. */
		assert_string_not_equal(
		    json_string_value(json_object_get(m, "name")),
		    "daemon.sleep");
	}
	assert_true(found);
	json_decref(resp);
	harness_conn_close(c);
	stop(d);
}

static void
test_batch_and_notifications(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *msg, *item;
	size_t i;
	int ok = 0, errs = 0;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("debug_methods yes\n");
	c = harness_conn_open(d->socket);
	assert_non_null(c);

	/* A notification gets nothing: the next line answers the ping. */
	assert_int_equal(
	    harness_send_line(
	        c, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"}"),
	    0);
	ping(c, 1);

	/* A batch: two answers, one error, a notification. */
	assert_int_equal(
	    harness_send_line(c,
	        "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	        "\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":"
	        "\"daemon.ping\"},{\"jsonrpc\":\"2.0\",\"method\":"
	        "\"daemon.sleep\",\"params\":{\"ms\":50},\"id\":2},"
	        "{\"jsonrpc\":\"2.0\",\"method\":\"x.y\","
	        "\"id\":\"e\"}]"),
	    0);
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_true(json_is_array(msg));
	assert_int_equal(json_array_size(msg), 3);
	json_array_foreach(msg, i, item)
	{
		if (json_object_get(item, "result") != NULL)
			ok++;
		else if (harness_error_code(item) == DMN_ERR_METHOD_NOT_FOUND)
			errs++;
	}
	assert_int_equal(ok, 2);
	assert_int_equal(errs, 1);
	json_decref(msg);

	/* A batch of notifications gets nothing at all. */
	assert_int_equal(
	    harness_send_line(c,
	        "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"},"
	        "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]"),
	    0);
	ping(c, 2);
	/* The empty batch is one error object. */
	assert_int_equal(harness_send_line(c, "[]"), 0);
	json_decref(expect_error(c, DMN_ERR_INVALID_REQUEST, "null"));
	harness_conn_close(c);
	stop(d);
}

static void
test_errors_keep_connection(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *data;
	char deep[400];

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start(NULL);
	c = harness_conn_open(d->socket);
	assert_non_null(c);

	/* Parse error, then a valid request on the same connection. */
	assert_int_equal(
	    harness_send_line(c, "{\"jsonrpc\":\"2.0\",\"meth"), 0);
	json_decref(expect_error(c, DMN_ERR_PARSE, "null"));
	ping(c, 1);

	/* Invalid UTF-8 says where. */
	assert_int_equal(harness_send_line(c, "[\"ok\",\"\xc3\x28\"]"), 0);
	data = expect_error(c, DMN_ERR_PARSE, "null");
	assert_int_equal(
	    json_integer_value(json_object_get(data, "offset")), 7);
	assert_int_equal(json_integer_value(json_object_get(data, "line")), 3);
	json_decref(data);
	ping(c, 2);

	/* Nesting past max_depth (64 by default). */
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	assert_int_equal(harness_send(c, deep, sizeof deep), 0);
	assert_int_equal(harness_send(c, "\r\n", 2), 0);
	data = expect_error(c, DMN_ERR_LIMIT, "null");
	assert_string_equal(
	    json_string_value(json_object_get(data, "limit")), "max_depth");
	assert_int_equal(json_integer_value(json_object_get(data, "max")),
	    DMN_DEFAULT_MAX_DEPTH);
	json_decref(data);
	ping(c, 3);

	/* Other invalid requests, then CRLF and blank lines. */
	assert_int_equal(harness_send_line(c,
	                     "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	                     "\"params\":\"x\",\"id\":7}"),
	    0);
	json_decref(expect_error(c, DMN_ERR_INVALID_REQUEST, "7"));
	assert_int_equal(
	    harness_send_line(c,
	        "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.status\","
	        "\"params\":{\"x\":1},\"id\":\"p\"}"),
	    0);
	json_decref(expect_error(c, DMN_ERR_INVALID_PARAMS, "\"p\""));
	assert_int_equal(harness_send(c, "\n\r\n  \n", 6), 0);
	ping(c, 4);
	harness_conn_close(c);
	stop(d);
}

static void
test_oversized(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *data;
	char *big;
	int n;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("max_message_bytes 1024\n");
	big = malloc(4096);
	assert_non_null(big);
	memset(big, ' ', 4096);
	memcpy(big, "[\"", 2);

	/* A whole line too long: error, then the daemon closes. */
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	ping(c, 1);
	/* One send: the daemon may close as soon as it has seen enough. */
	big[2000] = '\n';
	assert_int_equal(harness_send(c, big, 2001), 0);
	big[2000] = ' ';
	data = expect_error(c, DMN_ERR_LIMIT, "null");
	assert_string_equal(json_string_value(json_object_get(data, "limit")),
	    "max_message_bytes");
	assert_int_equal(
	    json_integer_value(json_object_get(data, "max")), 1024);
	json_decref(data);
	assert_true(harness_wait_eof(c, HARNESS_REPLY_MS));
	harness_conn_close(c);

	/* An endless line: the error comes before any '\n'. */
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	assert_int_equal(harness_send(c, big, 4096), 0);
	json_decref(expect_error(c, DMN_ERR_LIMIT, "null"));
	assert_true(harness_wait_eof(c, HARNESS_REPLY_MS));
	harness_conn_close(c);

	/* Exactly the cap is fine (blanks after the JSON count). */
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	memset(big, ' ', 1024);
	n = snprintf(big, 1024, PING, 9);
	big[n] = ' ';
	assert_int_equal(harness_send(c, big, 1024), 0);
	assert_int_equal(harness_send(c, "\n", 1), 0);
	data = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(harness_result(data));
	json_decref(data);
	harness_conn_close(c);
	free(big);
	stop(d);
}

/* Waits until daemon.status, asked on c, counts n open connections. */
static void
wait_open(struct harness_conn *c, int n)
{
	json_t *resp;
	int open = -1;

	for (int i = 0; i < 500 && open != n; i++) {
		if (i > 0)
			usleep(10000);
		resp = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS);
		assert_non_null(resp);
		open = (int)json_integer_value(json_object_get(
		    json_object_get(harness_result(resp), "connections"),
		    "open"));
		json_decref(resp);
	}
	assert_int_equal(open, n);
}

static void
test_connection_limit(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c[3];
	json_t *data;
	char creds[128];

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("max_connections 2\n");
	c[0] = harness_conn_open(d->socket);
	assert_non_null(c[0]);
	/* The start-up probe's connection must be gone first. */
	wait_open(c[0], 1);
	c[1] = harness_conn_open(d->socket);
	assert_non_null(c[1]);
	ping(c[0], 1);
	ping(c[1], 1);
	/* The third is accepted, told why, and closed. */
	c[2] = harness_conn_open(d->socket);
	assert_non_null(c[2]);
	data = expect_error(c[2], DMN_ERR_LIMIT, "null");
	assert_string_equal(json_string_value(json_object_get(data, "limit")),
	    "max_connections");
	assert_int_equal(json_integer_value(json_object_get(data, "max")), 2);
	json_decref(data);
	assert_true(harness_wait_eof(c[2], HARNESS_REPLY_MS));
	harness_conn_close(c[2]);
	/* A slot frees when a client leaves. */
	harness_conn_close(c[1]);
	wait_open(c[0], 1);
	c[1] = harness_conn_open(d->socket);
	assert_non_null(c[1]);
	ping(c[1], 2);
	harness_conn_close(c[0]);
	harness_conn_close(c[1]);
	/* Each connection's credentials are logged. */
	snprintf(creds, sizeof creds, "connected: pid %ld uid %lu gid %lu",
	    (long)getpid(), (unsigned long)getuid(), (unsigned long)getgid());
	assert_true(harness_daemon_log_has(d, creds));
	stop(d);
}

static void
test_idle_timeout(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *data;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("idle_timeout_ms 300\ndebug_methods yes\n");
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	ping(c, 1);
	/* A request longer than the timeout is not idleness. */
	data = harness_call(
	    c, "daemon.sleep", json_pack("{s:i}", "ms", 700), HARNESS_REPLY_MS);
	assert_non_null(harness_result(data));
	json_decref(data);
	/* Then silence: an error line and the end. */
	data = expect_error(c, DMN_ERR_LIMIT, "null");
	assert_string_equal(json_string_value(json_object_get(data, "limit")),
	    "idle_timeout_ms");
	assert_int_equal(json_integer_value(json_object_get(data, "max")), 300);
	json_decref(data);
	assert_true(harness_wait_eof(c, HARNESS_REPLY_MS));
	harness_conn_close(c);
	stop(d);
}

static void
test_async_and_half_close(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("debug_methods yes\n");
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	/* Notifications from a worker come before the answer, in order. */
	assert_int_equal(harness_send_line(c,
	                     "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	                     "\"params\":{\"ms\":100,\"ticks\":3},\"id\":5}"),
	    0);
	for (int i = 1; i <= 3; i++) {
		msg = harness_recv(c, HARNESS_REPLY_MS);
		assert_non_null(msg);
		assert_string_equal(
		    json_string_value(json_object_get(msg, "method")),
		    "daemon.tick");
		assert_int_equal(json_integer_value(json_object_get(
		                     json_object_get(msg, "params"), "tick")),
		    i);
		json_decref(msg);
	}
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), 5);
	assert_true(json_integer_value(json_object_get(
	                harness_result(msg), "slept_ms")) >= 100);
	json_decref(msg);

	/* Send, then shut the write side: the answer still comes. */
	assert_int_equal(harness_send_line(c,
	                     "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	                     "\"params\":{\"ms\":200},\"id\":6}"),
	    0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), 6);
	assert_non_null(harness_result(msg));
	json_decref(msg);
	assert_true(harness_wait_eof(c, HARNESS_REPLY_MS));
	harness_conn_close(c);
	stop(d);
}

static void
test_disconnect_mid_request(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c, *c2;
	json_t *resp, *reqs;
	int live = -1;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = start("debug_methods yes\n");
	for (int i = 0; i < 5; i++) {
		c = harness_conn_open(d->socket);
		assert_non_null(c);
		assert_int_equal(harness_send_line(c,
		                     "{\"jsonrpc\":\"2.0\",\"method\":"
		                     "\"daemon.sleep\",\"params\":{\"ms\":"
		                     "5000},\"id\":1}"),
		    0);
		/* A batch, half answered, then gone as well. */
		assert_int_equal(harness_send_line(c,
		                     "[{\"jsonrpc\":\"2.0\",\"method\":"
		                     "\"daemon.sleep\",\"params\":{\"ms\":"
		                     "3000},\"id\":2},{\"jsonrpc\":\"2.0\","
		                     "\"method\":\"daemon.ping\",\"id\":3}]"),
		    0);
		harness_conn_close(c);
	}
	/* The daemon notices, cancels the work, and keeps serving. */
	assert_int_equal(
	    harness_daemon_log_wait(d, "requests cancelled", HARNESS_REPLY_MS),
	    0);
	c2 = harness_conn_open(d->socket);
	assert_non_null(c2);
	ping(c2, 1);
	/* Cancelled workers end long before their 5 s: only our request
	 * stays alive. */
	for (int i = 0; i < 200 && live != 1; i++) {
		resp =
		    harness_call(c2, "daemon.status", NULL, HARNESS_REPLY_MS);
		assert_non_null(resp);
		reqs = json_object_get(harness_result(resp), "requests");
		live = (int)json_integer_value(json_object_get(reqs, "live"));
		json_decref(resp);
		usleep(10000);
	}
	assert_int_equal(live, 1);
	harness_conn_close(c2);
	stop(d);
}

/*
 * In a child that becomes uid (and gid), connects and sends a ping;
 * returns 0 if it was served, 9 if it was refused with -32009, else 1.
 */
static int
client_as(const char *path, uid_t uid)
{
	struct harness_conn *c;
	json_t *msg;
	pid_t pid;
	int status, rc = 1;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (setgid(uid) != 0 || setuid(uid) != 0)
			_exit(2);
		if ((c = harness_conn_open(path)) == NULL)
			_exit(3);
		/* A refused client may find the socket closed already:
		 * the send can fail, the error line is there to read. */
		(void)harness_send_line(c,
		    "{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"daemon.ping\",\"id\":1}");
		if ((msg = harness_recv(c, HARNESS_REPLY_MS)) != NULL) {
			if (harness_result(msg) != NULL)
				rc = 0;
			else if (harness_error_code(msg) == DMN_ERR_DENIED &&
			    json_is_null(json_object_get(msg, "id")))
				rc = 9;
		}
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_allow_list(void **state)
{
	struct harness_daemon *d;
	struct harness_conn *c;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	if (geteuid() != 0)
		skip(); /* other users' clients need root to fake */
	d = start("socket_mode 0666\nallow_uid 4242\nallow_gid 4343\n");
	/* Let other users reach the socket in our private folder. */
	assert_int_equal(chmod(d->dir, 0711), 0);
	assert_int_equal(client_as(d->socket, 4242), 0);
	assert_int_equal(client_as(d->socket, 4343), 0);
	assert_int_equal(client_as(d->socket, 4444), 9);
	assert_true(harness_daemon_log_has(
	    d, "uid 4444 gid 4444 refused: not in allow_uid or allow_gid"));
	/* Root always is. */
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	ping(c, 1);
	harness_conn_close(c);
	stop(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_status_methods),
		cmocka_unit_test(test_batch_and_notifications),
		cmocka_unit_test(test_errors_keep_connection),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_async_and_half_close),
		cmocka_unit_test(test_disconnect_mid_request),
		cmocka_unit_test(test_allow_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
