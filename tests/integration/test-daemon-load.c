/*
 * test-daemon-load.c: the real agentd under load: 200 clients at once,
 * deep pipelining through a small output cap (back-pressure must pause
 * and resume without losing or reordering anything), and a client that
 * never reads (the daemon's queue for it stays bounded, everyone else is
 * still served, and the daemon finally drops it).
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include "tests/common/harness.h"

#define TEST_LIMIT 120
#define CLIENTS    200
#define PIPELINED  20000

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *
status_of(struct harness_conn *c)
{
	json_t *resp = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS);

	assert_non_null(resp);
	assert_non_null(harness_result(resp));
	return resp;
}

static json_int_t
conn_figure(json_t *resp, const char *name)
{
	return json_integer_value(json_object_get(
	    json_object_get(harness_result(resp), "connections"), name));
}

static void
test_200_clients(void **state)
{
	struct harness_daemon *d;
	struct harness_conn **c;
	char buf[160];
	json_t *msg;
	int open = 0;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	d = harness_daemon_start(NULL);
	assert_non_null(d);
	c = calloc(CLIENTS, sizeof *c);
	assert_non_null(c);
	for (int i = 0; i < CLIENTS; i++) {
		c[i] = harness_conn_open(d->socket);
		assert_non_null(c[i]);
	}
	for (int round = 0; round < 3; round++) {
		/* Every client asks before any reads. */
		for (int i = 0; i < CLIENTS; i++) {
			snprintf(buf, sizeof buf,
			    "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
			    "\"id\":%d}",
			    i % 2 ? "daemon.ping" : "daemon.methods",
			    round * CLIENTS + i);
			assert_int_equal(harness_send_line(c[i], buf), 0);
		}
		for (int i = 0; i < CLIENTS; i++) {
			msg = harness_recv(c[i], HARNESS_REPLY_MS);
			assert_non_null(msg);
			assert_int_equal(
			    json_integer_value(json_object_get(msg, "id")),
			    round * CLIENTS + i);
			assert_non_null(harness_result(msg));
			json_decref(msg);
		}
	}
	/* All of them are open at once (the start-up probe may linger). */
	for (int i = 0; i < 100 && open != CLIENTS; i++) {
		msg = status_of(c[0]);
		open = (int)conn_figure(msg, "open");
		json_decref(msg);
		if (open != CLIENTS)
			usleep(10000);
	}
	assert_int_equal(open, CLIENTS);
	for (int i = 0; i < CLIENTS; i++)
		harness_conn_close(c[i]);
	free(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

static void
test_pipelining_backpressure(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *c;
	struct pollfd pfd;
	char *out, *line;
	size_t len = 0, sent = 0;
	long long deadline;
	int next = 1, n;
	json_t *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	/* A tiny output cap: the daemon pauses and resumes many times. */
	opts.config = "max_output_bytes 4096\n";
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	out = malloc((size_t)PIPELINED * 80);
	assert_non_null(out);
	for (int i = 1; i <= PIPELINED; i++)
		len += (size_t)sprintf(out + len,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
		    "\"id\":%d}\n",
		    i);
	assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	deadline = now_ms() + 60000;
	while (next <= PIPELINED && now_ms() < deadline) {
		pfd.fd = c->fd;
		pfd.events = POLLIN | (sent < len ? POLLOUT : 0);
		assert_true(poll(&pfd, 1, 1000) >= 0);
		if ((pfd.revents & POLLOUT) != 0) {
			ssize_t w =
			    send(c->fd, out + sent, len - sent, MSG_NOSIGNAL);

			assert_true(w > 0 || errno == EAGAIN);
			if (w > 0)
				sent += (size_t)w;
		}
		if ((pfd.revents & POLLIN) == 0)
			continue;
		/* Answers come in order, none lost. */
		while ((line = harness_recv_line(c, 0)) != NULL) {
			msg = json_loads(line, 0, NULL);
			assert_non_null(msg);
			n = (int)json_integer_value(json_object_get(msg, "id"));
			if (n != next)
				fail_msg(
				    "answer %d came when %d was due", n, next);
			assert_non_null(harness_result(msg));
			json_decref(msg);
			free(line);
			next++;
		}
	}
	assert_int_equal(next, PIPELINED + 1);
	assert_true(harness_daemon_log_has(d, "paused"));
	assert_true(harness_daemon_log_has(d, "resumed"));
	free(out);
	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

static void
test_client_never_reads(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *flood, *c;
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.methods\","
	                  "\"id\":1}\n";
	size_t reqlen = strlen(req), total = 0;
	long long quiet_since, start;
	long rss0, rss1;
	const char *san = getenv("SAN");
	json_t *st;
	ssize_t w;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.config = "max_output_bytes 65536\nidle_timeout_ms 3000\n";
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	flood = harness_conn_open(d->socket);
	assert_non_null(flood);
	assert_int_equal(fcntl(flood->fd, F_SETFL, O_NONBLOCK), 0);
	rss0 = harness_daemon_rss_kb(d);

	/* Write requests, never read, until the daemon stops taking them
	 * (the socket stays full for half a second). */
	start = now_ms();
	quiet_since = 0;
	while (now_ms() - start < 20000) {
		w = send(flood->fd, req, reqlen, MSG_NOSIGNAL);
		if (w > 0) {
			total += (size_t)w;
			quiet_since = 0;
			continue;
		}
		assert_true(errno == EAGAIN);
		if (quiet_since == 0)
			quiet_since = now_ms();
		else if (now_ms() - quiet_since > 500)
			break;
		usleep(1000);
	}
	assert_true(quiet_since != 0);
	assert_true(total > 0);

	/* The daemon stopped reading once its queue for the client passed
	 * the cap (it resumes only when the queue is empty), and the queue
	 * stays under the hard limit, twice the cap. */
	st = status_of(c);
	assert_int_equal(conn_figure(st, "paused"), 1);
	assert_true(conn_figure(st, "output_bytes") > 0);
	assert_true(conn_figure(st, "output_bytes") <= 2 * 65536);
	assert_true(harness_daemon_log_has(d, "paused"));
	json_decref(st);
	/* Others are still served. */
	for (int i = 0; i < 20; i++) {
		st = harness_call(c, "daemon.ping", NULL, HARNESS_REPLY_MS);
		assert_non_null(harness_result(st));
		json_decref(st);
	}
	rss1 = harness_daemon_rss_kb(d);
	/* Sanitizers keep freed memory in quarantine; judge plain builds. */
	if ((san == NULL || strcmp(san, "1") != 0) && rss0 > 0 && rss1 > 0)
		assert_true(rss1 - rss0 < 16 * 1024);

	/* After idle_timeout_ms without progress it is dropped. */
	harness_conn_close(c);
	assert_int_equal(
	    harness_daemon_log_wait(d, "closed (not reading)", 20000), 0);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	st = status_of(c);
	assert_int_equal(conn_figure(st, "open"), 1);
	assert_int_equal(conn_figure(st, "paused"), 0);
	json_decref(st);
	harness_conn_close(flood);
	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

static void
test_out_of_descriptors(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *c[48];
	int served[48], nserved = 0, late = 0;
	char buf[128];
	json_t *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	/* Room for a handful of clients only. */
	opts.nofile = 32;
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	for (int i = 0; i < 48; i++) {
		c[i] = harness_conn_open(d->socket);
		assert_non_null(c[i]);
		snprintf(buf, sizeof buf,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
		    "\"id\":%d}",
		    i);
		assert_int_equal(harness_send_line(c[i], buf), 0);
	}
	for (int i = 0; i < 48; i++) {
		msg = harness_recv(c[i], i < 8 ? HARNESS_REPLY_MS : 200);
		served[i] = msg != NULL;
		nserved += served[i];
		json_decref(msg);
	}
	/* Some were served, the rest wait in the backlog. */
	assert_true(nserved >= 8);
	assert_true(nserved < 48);
	assert_int_equal(harness_daemon_log_wait(d, "pausing for", 5000), 0);
	/* Descriptors come back: after its back-off the daemon takes the
	 * waiting clients. */
	for (int i = 0; i < 48; i++) {
		if (served[i]) {
			harness_conn_close(c[i]);
			c[i] = NULL;
		}
	}
	for (int i = 0; i < 48; i++) {
		if (c[i] == NULL)
			continue;
		msg = harness_recv(c[i], HARNESS_REPLY_MS);
		assert_non_null(msg);
		assert_non_null(harness_result(msg));
		json_decref(msg);
		/* Closing frees a descriptor for the next in line. */
		harness_conn_close(c[i]);
		late++;
	}
	assert_int_equal(late, 48 - nserved);
	assert_true(harness_daemon_log_has(d, "accept: resuming"));
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_200_clients),
		cmocka_unit_test(test_pipelining_backpressure),
		cmocka_unit_test(test_client_never_reads),
		cmocka_unit_test(test_out_of_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
