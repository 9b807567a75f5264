/*
 * test-agentctl-client.c: the real agentctl binary against a scripted
 * server on a private socket, so that the client's side of the protocol
 * is tested with replies no well-behaved daemon sends: notifications
 * before the response, errors with data, wrong ids, garbage, a reply past
 * the line limit, a server that hangs up or never answers.  It also
 * checks the exit statuses and that each request is one valid JSON-RPC
 * 2.0 line.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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

extern char **environ;

/* How long any one step may take before the test fails. */
#define STEP_MS 20000

/* What the scripted server does with each request. */
struct script {
	const char *reply; /* sent per request; "@ID@" becomes its id */
	int hang_up;       /* close without answering */
	int silent;        /* answer nothing; wait for the client */
	size_t flood;      /* send this many bytes without a newline */
	int once;          /* close after the first reply */
};

/* One agentctl run: its exit status, output and the requests it sent. */
struct run {
	int rc;
	char *out;
	char *err;
	json_t *requests; /* array of the parsed request lines */
	double secs;
};

static char tmp_dir[PATH_MAX];
static char sock_path[PATH_MAX + 16];
static char ctl_path[PATH_MAX];
static int listen_fd = -1;

static char *slurp(const char *path);
static int wait_fd(int fd, short events, int ms);
static char *read_line(int fd, char *buf, size_t cap, size_t *have);
static void send_all(int fd, const char *data, size_t len);
static void serve(const struct script *s, struct run *r);
static void run_ctl(const struct script *s, struct run *r, ...);
static void run_free(struct run *r);
static void assert_contains(const char *hay, const char *needle);

/* Returns the whole file (caller frees). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	return data;
}

/* Returns 1 when fd is ready, 0 on timeout. */
static int
wait_fd(int fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, ms);
	} while (n == -1 && errno == EINTR);
	assert_true(n >= 0);
	return n;
}

/*
 * Reads until buf holds a full line; returns it NUL-terminated (the rest
 * stays in buf), or NULL when the peer closed first.
 */
static char *
read_line(int fd, char *buf, size_t cap, size_t *have)
{
	char *nl, *line;
	ssize_t n;
	size_t len;

	for (;;) {
		nl = memchr(buf, '\n', *have);
		if (nl != NULL) {
			len = (size_t)(nl - buf);
			line = strndup(buf, len);
			assert_non_null(line);
			memmove(buf, nl + 1, *have - len - 1);
			*have -= len + 1;
			return line;
		}
		assert_true(*have < cap);
		if (!wait_fd(fd, POLLIN, STEP_MS))
			fail_msg("agentctl sent no complete line in time");
		n = read(fd, buf + *have, cap - *have);
		if (n == -1 && errno == ECONNRESET)
			return NULL;
		assert_true(n >= 0);
		if (n == 0)
			return NULL;
		*have += (size_t)n;
	}
}

/* Writes everything, or stops quietly when the client has gone. */
static void
send_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			return;
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

/* Accepts agentctl's connection and plays the script until it leaves. */
static void
serve(const struct script *s, struct run *r)
{
	static char buf[1 << 20];
	json_error_t jerr;
	json_t *req;
	char *line, *reply, *at, *id, *chunk;
	size_t have = 0, off;
	int fd;

	if (!wait_fd(listen_fd, POLLIN, STEP_MS))
		return; /* it never connected: its exit status says why */
	fd = accept(listen_fd, NULL, NULL);
	assert_true(fd >= 0);

	while ((line = read_line(fd, buf, sizeof buf, &have)) != NULL) {
		req = json_loads(line, 0, &jerr);
		if (req == NULL)
			fail_msg(
			    "request '%s' is not JSON: %s", line, jerr.text);
		free(line);
		json_array_append_new(r->requests, req);
		if (s->hang_up)
			break;
		if (s->silent)
			continue;
		if (s->flood > 0) {
			chunk = malloc(1 << 20);
			assert_non_null(chunk);
			memset(chunk, 'x', 1 << 20);
			for (off = 0; off < s->flood; off += 1 << 20)
				send_all(fd, chunk, 1 << 20);
			free(chunk);
			break;
		}
		/* The reply with every "@ID@" replaced by the request's id. */
		id = json_dumps(json_object_get(req, "id"), JSON_ENCODE_ANY);
		assert_non_null(id);
		reply = calloc(1, strlen(s->reply) * (strlen(id) + 1) + 1);
		assert_non_null(reply);
		for (const char *p = s->reply; *p != '\0';) {
			at = strstr(p, "@ID@");
			if (at == NULL) {
				strcat(reply, p);
				break;
			}
			strncat(reply, p, (size_t)(at - p));
			strcat(reply, id);
			p = at + 4;
		}
		send_all(fd, reply, strlen(reply));
		free(reply);
		free(id);
		if (s->once)
			break;
	}
	close(fd);
}

/*
 * Runs agentctl -s SOCK with the NULL-terminated arguments against the
 * script (NULL: no server at all) and records what happened.
 */
static void
run_ctl(const struct script *s, struct run *r, ...)
{
	posix_spawn_file_actions_t fa;
	char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
	char *argv[32];
	struct timespec t0, t1, nap = { 0, 5 * 1000 * 1000 };
	const char *arg;
	va_list ap;
	pid_t pid, got;
	int argc = 0, status, waited = 0;

	memset(r, 0, sizeof *r);
	r->requests = json_array();
	argv[argc++] = ctl_path;
	argv[argc++] = (char *)(uintptr_t) "-s";
	argv[argc++] = sock_path;
	va_start(ap, r);
	while ((arg = va_arg(ap, const char *)) != NULL) {
		assert_true(argc < 31);
		argv[argc++] = (char *)(uintptr_t)arg;
	}
	va_end(ap);
	argv[argc] = NULL;

	snprintf(out_path, sizeof out_path, "%s/out", tmp_dir);
	snprintf(err_path, sizeof err_path, "%s/err", tmp_dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(
	    &fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(
	    &fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(
	    posix_spawn(&pid, ctl_path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);

	if (s != NULL)
		serve(s, r);

	/* Wait for it, by its pid, but never for ever. */
	for (;;) {
		got = waitpid(pid, &status, WNOHANG);
		assert_true(got >= 0);
		if (got == pid)
			break;
		if (waited++ > STEP_MS / 5) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("agentctl did not exit in time");
		}
		nanosleep(&nap, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Without a script nobody should have connected; drop any who did. */
	if (s == NULL && wait_fd(listen_fd, POLLIN, 0)) {
		close(accept(listen_fd, NULL, NULL));
		fail_msg("agentctl connected though it should not have");
	}
	r->secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!WIFEXITED(status))
		fail_msg("agentctl died with signal %d", WTERMSIG(status));
	r->rc = WEXITSTATUS(status);
	r->out = slurp(out_path);
	r->err = slurp(err_path);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	json_decref(r->requests);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' not found in:\n%s", needle, hay);
}

/* Each request is one line of JSON-RPC 2.0 with an integer id. */
static void
test_request_shape(void **state)
{
	struct script s = {
		.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":{}}\n",
	};
	struct run r;
	json_t *req;

	(void)state;
	run_ctl(&s, &r, "call", "x.y", "{\"a\":[1,2]}", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(r.requests), 1);
	req = json_array_get(r.requests, 0);
	assert_string_equal(
	    json_string_value(json_object_get(req, "jsonrpc")), "2.0");
	assert_string_equal(
	    json_string_value(json_object_get(req, "method")), "x.y");
	assert_true(json_is_integer(json_object_get(req, "id")));
	assert_int_equal(json_array_size(json_object_get(
	                     json_object_get(req, "params"), "a")),
	    2);
	run_free(&r);

	/* No params given: none sent. */
	run_ctl(&s, &r, "call", "x.y", NULL);
	assert_int_equal(r.rc, 0);
	req = json_array_get(r.requests, 0);
	assert_null(json_object_get(req, "params"));
	run_free(&r);
}

/* Notifications before the response reach the output, in order. */
static void
test_notifications_first(void **state)
{
	struct script s = {
		.reply = "{\"jsonrpc\":\"2.0\",\"method\":\"agent.event\","
		         "\"params\":{\"seq\":1}}\n"
		         "\r\n"
		         "{\"jsonrpc\":\"2.0\",\"method\":\"agent.event\","
		         "\"params\":{\"seq\":2}}\r\n"
		         "{\"jsonrpc\":\"2.0\",\"id\":@ID@,"
		         "\"result\":{\"answer\":42}}\n",
	};
	struct run r;
	json_t *v;
	json_error_t jerr;
	char *line, *save = NULL;
	int n = 0;

	(void)state;
	run_ctl(&s, &r, "--json", "call", "agent.run", "{}", NULL);
	assert_int_equal(r.rc, 0);
	for (line = strtok_r(r.out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		v = json_loads(line, 0, &jerr);
		if (v == NULL)
			fail_msg("--json line '%s': %s", line, jerr.text);
		if (n < 2) {
			assert_int_equal(
			    json_integer_value(json_object_get(
			        json_object_get(v, "params"), "seq")),
			    n + 1);
		} else {
			assert_int_equal(
			    json_integer_value(json_object_get(v, "answer")),
			    42);
		}
		json_decref(v);
		n++;
	}
	assert_int_equal(n, 3);
	run_free(&r);
}

/* An error response: exit 1, message, code and data on stderr. */
static void
test_error_response(void **state)
{
	struct script s = {
		.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"error\":{\"code\":"
		         "-32601,\"message\":\"Method not found\",\"data\":"
		         "{\"method\":\"no.such\",\"hint\":\"see "
		         "daemon.methods\"}}}\n",
	};
	struct run r;
	json_t *v;

	(void)state;
	run_ctl(&s, &r, "call", "no.such", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "");
	assert_contains(r.err, "no.such: Method not found (error -32601)");
	assert_contains(r.err, "hint:");
	assert_contains(r.err, "see daemon.methods");
	run_free(&r);

	/* With --json the error object itself, on one line. */
	run_ctl(&s, &r, "--json", "call", "no.such", NULL);
	assert_int_equal(r.rc, 1);
	v = json_loads(r.err, 0, NULL);
	assert_non_null(v);
	assert_int_equal(
	    json_integer_value(json_object_get(v, "code")), -32601);
	json_decref(v);
	run_free(&r);

	/* The daemon's words cannot drive the terminal. */
	s.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"error\":{\"code\":1,"
	          "\"message\":\"\\u001b[31mred\",\"data\":{\"k\":"
	          "\"\\u001b]0;title\\u0007\"}}}\n";
	run_ctl(&s, &r, "status", NULL);
	assert_int_equal(r.rc, 1);
	assert_contains(r.err, "\\x1b[31mred (error 1)");
	assert_contains(r.err, "k: \\x1b]0;title\\x07");
	assert_null(strchr(r.err, 0x1b));
	assert_null(strchr(r.err, 0x07));
	run_free(&r);

	/* An error with a null id (the daemon could not read ours). */
	s.reply = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
	          "-32700,\"message\":\"Parse error\"}}\n";
	run_ctl(&s, &r, "status", NULL);
	assert_int_equal(r.rc, 1);
	assert_contains(r.err, "Parse error (error -32700)");
	run_free(&r);
}

/* Replies that break the protocol: exit 3 with a message that says how. */
static void
test_bad_replies(void **state)
{
	static const struct {
		const char *reply;
		const char *message;
	} cases[] = {
		{ "this is not json\n", "not valid JSON" },
		{ "[1,2]\n", "not a JSON object" },
		{ "{\"id\":@ID@,\"result\":1}\n", "\"jsonrpc\": \"2.0\"" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":@ID@}\n", "neither" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":1,"
		  "\"error\":{}}\n",
		    "both" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":1}\n",
		    "has id 999; expected" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":1}\n",
		    "has id \"1\"" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"error\":{\"code\":"
		  "\"x\",\"message\":\"m\"}}\n",
		    "integer \"code\"" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":7}\n", "non-string method" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"x\"}\n",
		    "clients take none" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":1,"
		  "\"result\":2}\n",
		    "duplicate" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":1}",
		    "mid-line" },
	};
	struct script s = { .once = 1 };
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s.reply = cases[i].reply;
		run_ctl(&s, &r, "status", NULL);
		if (r.rc != 3 || strstr(r.err, cases[i].message) == NULL) {
			fail_msg("reply %s: exit %d, stderr '%s', wanted 3 "
			         "and '%s'",
			    cases[i].reply, r.rc, r.err, cases[i].message);
		}
		assert_string_equal(r.out, "");
		run_free(&r);
	}
}

/* A server that hangs up, or never answers, or floods. */
static void
test_broken_server(void **state)
{
	struct script s = { .hang_up = 1 };
	struct run r;

	(void)state;
	run_ctl(&s, &r, "ping", NULL);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "closed the connection before answering");
	run_free(&r);

	memset(&s, 0, sizeof s);
	s.silent = 1;
	run_ctl(&s, &r, "--timeout", "300", "ping", NULL);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "no reply from");
	assert_contains(r.err, "within 300 ms");
	assert_true(r.secs >= 0.29 && r.secs < 10);
	run_free(&r);

	/* 65 MiB without a newline passes the 64 MiB line cap. */
	memset(&s, 0, sizeof s);
	s.flood = (size_t)65 << 20;
	run_ctl(&s, &r, "status", NULL);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "longer than the 67108864-byte limit");
	run_free(&r);
}

/* No server at all. */
static void
test_no_server(void **state)
{
	struct run r;
	char saved[sizeof sock_path];

	(void)state;
	memcpy(saved, sock_path, sizeof saved);
	snprintf(sock_path, sizeof sock_path, "%s/absent.sock", tmp_dir);
	run_ctl(NULL, &r, "ping", NULL);
	memcpy(sock_path, saved, sizeof saved);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "absent.sock");
	assert_contains(r.err, "is agentd running?");
	run_free(&r);
}

/* ping: several round trips on one connection, then a summary. */
static void
test_ping(void **state)
{
	struct script s = {
		.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":"
		         "\"pong\"}\n",
	};
	struct run r;
	json_t *v;

	(void)state;
	run_ctl(&s, &r, "ping", "3", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(r.requests), 3);
	assert_contains(r.out, "seq=1 time=");
	assert_contains(r.out, "seq=3 time=");
	assert_contains(r.out, "3 pings: min/avg/max = ");
	/* Ids differ from one request to the next. */
	assert_false(
	    json_equal(json_object_get(json_array_get(r.requests, 0), "id"),
	        json_object_get(json_array_get(r.requests, 1), "id")));
	run_free(&r);

	run_ctl(&s, &r, "--json", "ping", NULL);
	assert_int_equal(r.rc, 0);
	v = json_loads(r.out, 0, NULL);
	assert_non_null(v);
	assert_true(json_is_real(json_object_get(v, "time_ms")));
	assert_string_equal(
	    json_string_value(json_object_get(v, "result")), "pong");
	json_decref(v);
	run_free(&r);
}

/* status and methods lay results out for people, escaping controls. */
static void
test_human_output(void **state)
{
	struct script s = {
		.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":{"
		         "\"version\":\"0.1.0\",\"pid\":42,\"uptime_ms\":"
		         "200000,\"up\":true,"
		         "\"evil\":\"a\\u001b[2Jb\\u009bc\","
		         "\"limits\":{\"max_message\":1048576},"
		         "\"methods\":[\"daemon.ping\",\"daemon.status\"]}}\n",
	};
	struct run r;

	(void)state;
	run_ctl(&s, &r, "status", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "agentd 0.1.0, pid 42, up 3m 20s\n");
	assert_null(strstr(r.out, "uptime_ms"));
	assert_contains(r.out, "up:      yes\n");
	assert_contains(r.out, "a\\x1b[2Jb\\u009bc");
	assert_null(strchr(r.out, 0x1b));
	assert_contains(r.out, "limits:\n  max_message: 1048576\n");
	assert_contains(r.out, "methods: daemon.ping, daemon.status\n");
	run_free(&r);

	s.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":{\"methods\":"
	          "[{\"name\":\"daemon.ping\",\"description\":\"Answers.\"},"
	          "{\"name\":\"daemon.methods\",\"description\":\"Lists.\"}"
	          "]}}\n";
	run_ctl(&s, &r, "methods", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out,
	    "daemon.ping     Answers.\n"
	    "daemon.methods  Lists.\n");
	run_free(&r);

	s.reply = "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"result\":{\"m\":1}}\n";
	run_ctl(&s, &r, "methods", NULL);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "no list of methods");
	run_free(&r);
}

/* Command-line mistakes exit 2 before anything is sent. */
static void
test_usage(void **state)
{
	static const char *const bad[][4] = {
		{ "call", NULL },
		{ "call", "x.y", "{bad", NULL },
		{ "call", "x.y", "{\"a\":1,\"a\":2}", NULL },
		{ "call", "", NULL },
		{ "call", "bad\xff.utf8", NULL },
		{ "ping", "0", NULL },
		{ "ping", "1x", NULL },
		{ "status", "extra", NULL },
		{ "nonsense", NULL },
		{ "--timeout", "-5", "ping", NULL },
		{ "--bogus", "ping", NULL },
		{ "help", "nonsense", NULL },
		{ NULL },
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		run_ctl(
		    NULL, &r, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		if (r.rc != 2 || r.err[0] == '\0') {
			fail_msg("case %zu (%s %s): exit %d, stderr '%s'", i,
			    bad[i][0] != NULL ? bad[i][0] : "(none)",
			    bad[i][1] != NULL ? bad[i][1] : "", r.rc, r.err);
		}
		assert_contains(r.err, "usage: agentctl");
		run_free(&r);
	}

	/* A socket path too long for sun_path is the flag's fault. */
	run_ctl(NULL, &r, "-s",
	    "/a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/and/"
	    "on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/agentd.sock",
	    "ping", NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "the limit is 107");
	run_free(&r);

	run_ctl(NULL, &r, "help", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "ping [COUNT]");
	run_free(&r);
}

static int
setup(void **state)
{
	struct sockaddr_un sun;
	const char *out = getenv("OUT");

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(ctl_path, sizeof ctl_path, "%s/agentctl",
	    out != NULL ? out : "build");
	if (access(ctl_path, X_OK) != 0) {
		fprintf(stderr, "%s: %s\n", ctl_path, strerror(errno));
		return -1;
	}
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test-agentctl.XXXXXX");
	if (mkdtemp(tmp_dir) == NULL)
		return -1;
	snprintf(sock_path, sizeof sock_path, "%s/s.sock", tmp_dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd == -1 ||
	    bind(listen_fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    listen(listen_fd, 8) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char path[PATH_MAX + 16];

	(void)state;
	close(listen_fd);
	unlink(sock_path);
	snprintf(path, sizeof path, "%s/out", tmp_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/err", tmp_dir);
	unlink(path);
	rmdir(tmp_dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_notifications_first),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_broken_server),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_human_output),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
