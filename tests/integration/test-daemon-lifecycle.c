/*
 * test-daemon-lifecycle.c: the real agentd's life: command line, config
 * errors with FILE:LINE, the socket (mode, stale file, live instance,
 * systemd activation), sd_notify READY/STATUS/WATCHDOG/STOPPING, SIGHUP
 * reloads good and bad, and SIGTERM/SIGINT shutdowns that let requests
 * finish or, past the deadline, cancel them.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/protocol.h"
#include "tests/common/harness.h"

#define TEST_LIMIT 60

/* A batch of n pings, as one line (static buffer). */
static const char *
batch_of(int n)
{
	static char buf[4096];
	size_t len = 0;

	buf[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "%s{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
		    "\"id\":%d}",
		    i == 0 ? "" : ",", i + 1);
	buf[len++] = ']';
	buf[len] = '\0';
	return buf;
}

/* Sends a batch of n pings; returns 1 if answered, 0 if refused. */
static int
batch_ok(struct harness_conn *c, int n)
{
	json_t *msg;
	int ok;

	assert_int_equal(harness_send_line(c, batch_of(n)), 0);
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	ok = json_is_array(msg) && (int)json_array_size(msg) == n;
	if (!ok)
		assert_int_equal(harness_error_code(msg), DMN_ERR_LIMIT);
	json_decref(msg);
	return ok;
}

static void
ping(struct harness_conn *c)
{
	json_t *msg = harness_call(c, "daemon.ping", NULL, HARNESS_REPLY_MS);

	assert_non_null(msg);
	assert_non_null(harness_result(msg));
	json_decref(msg);
}

/* Runs agentd with args; returns its status and output. */
static int
run_agentd(const char *a1, const char *a2, const char *a3, char **output)
{
	char path[PATH_MAX];
	char *argv[5] = { path, (char *)(uintptr_t)a1, (char *)(uintptr_t)a2,
		(char *)(uintptr_t)a3, NULL };

	snprintf(path, sizeof path, "%s/agentd", harness_out());
	return harness_run(argv, NULL, 20000, output);
}

static void
test_command_line(void **state)
{
	char dir[HARNESS_DIR_MAX], conf[PATH_MAX], want[PATH_MAX + 64];
	char *out;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(run_agentd("-V", NULL, NULL, &out), 0);
	assert_non_null(strstr(out, "agentd " AGENTD_VERSION));
	free(out);
	assert_int_equal(run_agentd("--help", NULL, NULL, &out), 0);
	assert_non_null(strstr(out, "--check-config"));
	free(out);
	assert_int_equal(run_agentd("--bogus", NULL, NULL, &out), 2);
	assert_non_null(strstr(out, "usage:"));
	free(out);
	assert_int_equal(run_agentd("-l", "loud", NULL, &out), 2);
	assert_non_null(strstr(out, "unknown log level 'loud'"));
	free(out);
	assert_int_equal(run_agentd("extra", NULL, NULL, &out), 2);
	free(out);

	assert_int_equal(harness_tmpdir(dir), 0);
	snprintf(conf, sizeof conf, "%s/agentd.conf", dir);
	/* --check-config: a good file, a bad one (FILE:LINE), none. */
	assert_int_equal(harness_write_file(conf, "# ok\nmax_batch 4\n"), 0);
	assert_int_equal(run_agentd("--check-config", "-c", conf, &out), 0);
	snprintf(want, sizeof want, "%s: configuration OK", conf);
	assert_non_null(strstr(out, want));
	free(out);
	assert_int_equal(harness_write_file(conf,
	                     "max_batch 4\n"
	                     "max_depth many\n"),
	    0);
	assert_int_equal(run_agentd("--check-config", "-c", conf, &out), 1);
	snprintf(want, sizeof want,
	    "%s:2: max_depth: 'many' is not a non-negative integer", conf);
	assert_non_null(strstr(out, want));
	free(out);
	snprintf(want, sizeof want, "%s/none.conf", dir);
	assert_int_equal(run_agentd("--check-config", "-c", want, &out), 1);
	assert_non_null(strstr(out, "No such file or directory"));
	free(out);
	assert_int_equal(harness_rmtree(dir), 0);
}

static void
test_bad_config_at_start(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	char want[PATH_MAX + 64];
	struct stat st;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.config = "max_batch 4\n\nworkers 4\nunknown_thing yes\n";
	opts.no_wait = 1;
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	assert_int_equal(harness_daemon_wait(d, 20000), 1);
	snprintf(want, sizeof want, "%s:4: unknown directive 'unknown_thing'",
	    d->config);
	assert_true(harness_daemon_log_has(d, want));
	/* It never created its socket. */
	assert_int_equal(stat(d->socket, &st), -1);
	harness_daemon_free(d);
}

static void
test_socket_files(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d, *d2;
	char dir[HARNESS_DIR_MAX], path[PATH_MAX];
	struct sockaddr_un sun;
	struct harness_conn *c;
	struct stat st;
	int fd;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(harness_tmpdir(dir), 0);
	snprintf(path, sizeof path, "%s/stale.sock", dir);

	/* A socket file nobody listens on is stale: removed, replaced. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	opts.socket = path;
	opts.config = "socket_mode 0600\n";
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	assert_true(harness_daemon_log_has(d, "removed a stale socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A live one belongs to another instance: refused. */
	opts.no_wait = 1;
	opts.config = NULL;
	d2 = harness_daemon_start(&opts);
	assert_non_null(d2);
	assert_int_equal(harness_daemon_wait(d2, 20000), 1);
	assert_true(harness_daemon_log_has(
	    d2, "another agentd is already listening there"));
	harness_daemon_free(d2);
	/* The first is untouched. */
	c = harness_conn_open(path);
	assert_non_null(c);
	ping(c);
	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
	/* Its file went with it. */
	assert_int_equal(stat(path, &st), -1);

	/* Something that is not a socket is never removed. */
	assert_int_equal(harness_write_file(path, "precious\n"), 0);
	d2 = harness_daemon_start(&opts);
	assert_non_null(d2);
	assert_int_equal(harness_daemon_wait(d2, 20000), 1);
	assert_true(harness_daemon_log_has(d2, "exists and is not a socket"));
	harness_daemon_free(d2);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* The default mode is 0660. */
	d = harness_daemon_start(NULL);
	assert_non_null(d);
	assert_int_equal(stat(d->socket, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
	assert_int_equal(harness_rmtree(dir), 0);
}

static void
test_notify_and_watchdog(void **state)
{
	static const char *const env[] = { "WATCHDOG_USEC=200000", NULL };
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	char *msg, want[64];

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.notify = 1;
	opts.env = env;
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	msg = harness_daemon_notify_wait(d, "READY=1", 10000);
	assert_non_null(msg);
	snprintf(want, sizeof want, "MAINPID=%ld", (long)d->pid);
	assert_non_null(strstr(msg, want));
	assert_non_null(strstr(msg, "STATUS=Listening on "));
	free(msg);
	/* WATCHDOG=1 every 100 ms: several within a second. */
	for (int i = 0; i < 3; i++) {
		msg = harness_daemon_notify_wait(d, "WATCHDOG=1", 2000);
		assert_non_null(msg);
		free(msg);
	}
	assert_int_equal(harness_daemon_signal(d, SIGTERM), 0);
	msg = harness_daemon_notify_wait(d, "STOPPING=1", 10000);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(harness_daemon_wait(d, 20000), 0);
	harness_daemon_free(d);
}

static void
test_sighup_reload(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *c;
	char want[PATH_MAX + 128];
	char *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.config = "max_batch 2\n";
	opts.notify = 1;
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	free(harness_daemon_notify_wait(d, "READY=1", 10000));
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	assert_true(batch_ok(c, 2));
	assert_false(batch_ok(c, 3));

	/* A good config applies at once, to open connections too. */
	assert_int_equal(
	    harness_daemon_write_config(d, "max_batch 5\nsocket_mode 0600\n"),
	    0);
	assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
	msg = harness_daemon_notify_wait(d, "RELOADING=1", 10000);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(
	    harness_daemon_log_wait(d, "configuration reloaded", 10000), 0);
	assert_true(batch_ok(c, 5));
	assert_false(batch_ok(c, 6));
	/* What cannot change live is logged and keeps its value. */
	assert_true(harness_daemon_log_has(d,
	    "socket_mode: changed from 0660 to 0600; it takes effect at the "
	    "next restart"));

	/* A bad config is logged with FILE:LINE; the old one stays. */
	assert_int_equal(harness_daemon_write_config(d,
	                     "max_batch 9\n"
	                     "max_batch 10\n"),
	    0);
	assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
	snprintf(want, sizeof want,
	    "reload failed; keeping the running configuration: %s:2: "
	    "max_batch: given twice (first on line 1)",
	    d->config);
	assert_int_equal(harness_daemon_log_wait(d, want, 10000), 0);
	assert_true(batch_ok(c, 5));
	assert_false(batch_ok(c, 6));
	ping(c);
	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	harness_daemon_free(d);
}

static void
test_sigterm_lets_requests_finish(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *c, *idle;
	struct stat st;
	json_t *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.config = "debug_methods yes\n";
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	idle = harness_conn_open(d->socket);
	assert_non_null(idle);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	assert_int_equal(harness_send_line(c,
	                     "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	                     "\"params\":{\"ms\":600},\"id\":42}"),
	    0);
	/* Answered first, so the sleep is surely under way. */
	ping(c);
	assert_int_equal(harness_daemon_signal(d, SIGTERM), 0);
	/* The idle client is let go at once; the busy one gets its answer. */
	assert_true(harness_wait_eof(idle, HARNESS_REPLY_MS));
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), 42);
	assert_non_null(harness_result(msg));
	json_decref(msg);
	assert_true(harness_wait_eof(c, HARNESS_REPLY_MS));
	assert_int_equal(harness_daemon_wait(d, 20000), 0);
	/* The socket file is gone; nobody can connect. */
	assert_int_equal(stat(d->socket, &st), -1);
	assert_int_equal(harness_connect(d->socket), -1);
	assert_true(harness_daemon_log_has(d, "stopped"));
	harness_conn_close(c);
	harness_conn_close(idle);
	harness_daemon_free(d);
}

static void
test_shutdown_deadline(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *msg;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	opts.config = "debug_methods yes\nshutdown_timeout_ms 200\n";
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	c = harness_conn_open(d->socket);
	assert_non_null(c);
	assert_int_equal(harness_send_line(c,
	                     "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.sleep\","
	                     "\"params\":{\"ms\":30000},\"id\":\"long\"}"),
	    0);
	ping(c);
	/* SIGINT is a shutdown too. */
	assert_int_equal(harness_daemon_signal(d, SIGINT), 0);
	msg = harness_recv(c, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_string_equal(
	    json_string_value(json_object_get(msg, "id")), "long");
	assert_int_equal(harness_error_code(msg), DMN_ERR_CANCELLED);
	json_decref(msg);
	assert_int_equal(harness_daemon_wait(d, 20000), 0);
	assert_true(harness_daemon_log_has(d, "shutdown_timeout_ms (200)"));
	harness_conn_close(c);
	harness_daemon_free(d);
}

static void
test_socket_activation(void **state)
{
	struct harness_opts opts = { 0 };
	struct harness_daemon *d;
	char dir[HARNESS_DIR_MAX], path[PATH_MAX];
	struct sockaddr_un sun;
	struct harness_conn *c;
	struct stat st;
	json_t *msg;
	int fd;

	(void)state;
	harness_time_limit(TEST_LIMIT);
	assert_int_equal(harness_tmpdir(dir), 0);
	snprintf(path, sizeof path, "%s/activated.sock", dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(fd, 16), 0);

	opts.activate = 1;
	opts.listen_fd = fd;
	opts.socket = path; /* where the harness waits; -s is ignored */
	d = harness_daemon_start(&opts);
	assert_non_null(d);
	close(fd);
	/* Our listener answers the harness at once: wait for the daemon. */
	assert_int_equal(
	    harness_daemon_log_wait(d, "(from systemd)", 20000), 0);
	assert_int_equal(
	    harness_daemon_log_wait(d, "agentd " AGENTD_VERSION, 20000), 0);
	c = harness_conn_open(path);
	assert_non_null(c);
	msg = harness_call(c, "daemon.status", NULL, HARNESS_REPLY_MS);
	assert_non_null(msg);
	assert_string_equal(
	    json_string_value(json_object_get(harness_result(msg), "socket")),
	    path);
	json_decref(msg);
	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 20000), 0);
	/* systemd's socket is never unlinked. */
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	harness_daemon_free(d);
	assert_int_equal(harness_rmtree(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_bad_config_at_start),
		cmocka_unit_test(test_socket_files),
		cmocka_unit_test(test_notify_and_watchdog),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_sigterm_lets_requests_finish),
		cmocka_unit_test(test_shutdown_deadline),
		cmocka_unit_test(test_socket_activation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
