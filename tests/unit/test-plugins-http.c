/*
 * test-plugins-http.c: the http_get built-in (plugins/tool-http-get.c)
 * against a tiny HTTP server that the test runs on a thread of its own.
 *
 * The server listens on one port at 127.0.0.1, ::1 and, when the test
 * could make itself a private network namespace, at 198.51.100.1 too (a
 * documentation address the guard treats as public, added to the
 * namespace's loopback interface).  It counts the connections it accepts
 * and remembers the paths requested, so each refusal is checked twice:
 * by the tool's message and by the server never having been asked.  In
 * the private namespace nothing can leave the machine either; without
 * one (no privileges for it) the tests that need a public address are
 * skipped with a message and the others run as they are.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

#define PUBLIC_ADDR "198.51.100.1"

/* The test server. */
static struct {
	int fds[3];
	int nfds;
	int wake[2];
	uint16_t port;
	pthread_t thread;
	atomic_int accepted;
	pthread_mutex_t lock;
	char paths[1024]; /* requested paths, space-separated */
} srv;

static int have_netns;

/* ---- the private network ------------------------------------------------- */

static int
write_proc(const char *path, const char *text)
{
	int fd, ok;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Moves the process (still single-threaded) into a new network namespace
 * with lo up and PUBLIC_ADDR on it.  Returns 0, or -1 when it cannot.
 */
static int
netns_enter(void)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int s;

	if (unshare(CLONE_NEWNET) != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
			return -1;
		snprintf(map, sizeof map, "0 %lu 1", (unsigned long)uid);
		if (write_proc("/proc/self/uid_map", map) != 0)
			return -1;
		write_proc("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %lu 1", (unsigned long)gid);
		if (write_proc("/proc/self/gid_map", map) != 0)
			return -1;
	}
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		goto fail;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo:1");
	sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, PUBLIC_ADDR, &sin->sin_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
		goto fail;
	close(s);
	return 0;
fail:
	close(s);
	return -1;
}

/* ---- the server -------------------------------------------------------------- */

static void
srv_send(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the client went away: fine for /big */
		data += n;
		len -= (size_t)n;
	}
}

static void
srv_reply(int fd, const char *status, const char *headers, const char *body,
    size_t len)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof head,
	    "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, headers, len);
	srv_send(fd, head, (size_t)n);
	srv_send(fd, body, len);
}

/* Answers one request on fd, by path. */
static void
srv_serve(int fd)
{
	static const char html[] =
	    "<!DOCTYPE html><html><head><title>T</title>"
	    "<style>p { color: red }</style></head><body>"
	    "<h1>Title</h1><p>One &amp; two &lt;3</p>"
	    "<script>if (a < b) { x(); }</script>"
	    "<p title=\"a > b\">Caf&eacute;? &#233; &#x263A; &hellip;</p>"
	    "<!-- a comment <p>hidden</p> -->"
	    "<ul><li>a</li><li>b</li></ul>"
	    "<table><tr><td>1</td><td>2</td></tr></table>"
	    "</body></html>";
	char req[8192], loc[256], path[256], *big;
	size_t len = 0;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5000) != 1)
			return;
		n = recv(fd, req + len, sizeof req - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
		if (len == sizeof req - 1)
			return;
	}
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	pthread_mutex_lock(&srv.lock);
	len = strlen(srv.paths);
	snprintf(srv.paths + len, sizeof srv.paths - len, "%s ", path);
	pthread_mutex_unlock(&srv.lock);

	if (strcmp(path, "/hello") == 0)
		srv_reply(fd, "200 OK", "Content-Type: text/plain\r\n",
		    "hello from the test server\n", 27);
	else if (strcmp(path, "/big") == 0) {
		len = 1024 * 1024;
		big = xmalloc(len);
		for (size_t i = 0; i < len; i++)
			big[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
		srv_reply(
		    fd, "200 OK", "Content-Type: text/plain\r\n", big, len);
		free(big);
	} else if (strcmp(path, "/html") == 0)
		srv_reply(fd, "200 OK",
		    "Content-Type: text/html; charset=utf-8\r\n", html,
		    sizeof html - 1);
	else if (strcmp(path, "/latin1") == 0)
		srv_reply(fd, "200 OK",
		    "Content-Type: text/plain; charset=ISO-8859-1\r\n",
		    "caf\xe9 \xbd", 6);
	else if (strcmp(path, "/badutf8") == 0)
		srv_reply(fd, "200 OK", "Content-Type: text/plain\r\n",
		    "a\xff"
		    "b\xc3",
		    4);
	else if (strcmp(path, "/binary") == 0)
		srv_reply(
		    fd, "200 OK", "Content-Type: image/png\r\n", "\x89PNG", 4);
	else if (strcmp(path, "/json") == 0)
		srv_reply(fd, "200 OK", "Content-Type: application/json\r\n",
		    "{\"a\": 1}", 8);
	else if (strcmp(path, "/redirect-loopback") == 0) {
		snprintf(loc, sizeof loc,
		    "Location: http://127.0.0.1:%u/hello\r\n", srv.port);
		srv_reply(fd, "302 Found", loc, "", 0);
	} else if (strcmp(path, "/redirect-localhost") == 0) {
		snprintf(loc, sizeof loc,
		    "Location: http://localhost:%u/hello\r\n", srv.port);
		srv_reply(fd, "302 Found", loc, "", 0);
	} else if (strcmp(path, "/redirect-hello") == 0)
		srv_reply(
		    fd, "301 Moved Permanently", "Location: /hello\r\n", "", 0);
	else if (strcmp(path, "/redirect-file") == 0)
		srv_reply(
		    fd, "302 Found", "Location: file:///etc/passwd\r\n", "", 0);
	else if (strcmp(path, "/loop") == 0)
		srv_reply(
		    fd, "307 Temporary Redirect", "Location: /loop\r\n", "", 0);
	else if (strcmp(path, "/slow") == 0) {
		/* Never answer; wait for the client to give up. */
		pfd.fd = fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, 5000);
	} else
		srv_reply(fd, "404 Not Found", "Content-Type: text/plain\r\n",
		    "no such page\n", 13);
}

static void *
srv_main(void *arg)
{
	struct pollfd pfd[4];
	int fd;

	(void)arg;
	for (;;) {
		for (int i = 0; i < srv.nfds; i++) {
			pfd[i].fd = srv.fds[i];
			pfd[i].events = POLLIN;
		}
		pfd[srv.nfds].fd = srv.wake[0];
		pfd[srv.nfds].events = POLLIN;
		if (poll(pfd, (nfds_t)srv.nfds + 1, -1) <= 0)
			continue;
		if (pfd[srv.nfds].revents != 0)
			return NULL;
		for (int i = 0; i < srv.nfds; i++) {
			if (pfd[i].revents == 0)
				continue;
			fd = accept4(srv.fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd == -1)
				continue;
			atomic_fetch_add(&srv.accepted, 1);
			srv_serve(fd);
			close(fd);
		}
	}
}

/* Listens on addr (of family af) at port (0: any); returns the fd. */
static int
srv_listen(int af, const char *addr, uint16_t *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (af == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(*port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		len = sizeof *sin;
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(*port);
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		len = sizeof *sin6;
	}
	if ((fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(af == AF_INET ? sin->sin_port : sin6->sin6_port);
	return fd;
}

static int
srv_start(void **state)
{
	uint16_t port = 0;
	int fd;

	(void)state;
	memset(&srv, 0, sizeof srv);
	pthread_mutex_init(&srv.lock, NULL);
	if ((fd = srv_listen(AF_INET, "127.0.0.1", &port)) == -1)
		return -1;
	srv.fds[srv.nfds++] = fd;
	srv.port = port;
	/* ::1 may be missing (IPv6 off); the tests say so if they need it. */
	if ((fd = srv_listen(AF_INET6, "::1", &port)) != -1)
		srv.fds[srv.nfds++] = fd;
	if (have_netns) {
		if ((fd = srv_listen(AF_INET, PUBLIC_ADDR, &port)) == -1)
			return -1;
		srv.fds[srv.nfds++] = fd;
	}
	if (pipe2(srv.wake, O_CLOEXEC) != 0)
		return -1;
	return pthread_create(&srv.thread, NULL, srv_main, NULL) == 0 ? 0 : -1;
}

static int
srv_stop(void **state)
{
	(void)state;
	if (write(srv.wake[1], "x", 1) != 1)
		return -1;
	pthread_join(srv.thread, NULL);
	for (int i = 0; i < srv.nfds; i++)
		close(srv.fds[i]);
	close(srv.wake[0]);
	close(srv.wake[1]);
	pthread_mutex_destroy(&srv.lock);
	return 0;
}

/* Forgets what the server saw. */
static void
srv_reset(void)
{
	atomic_store(&srv.accepted, 0);
	pthread_mutex_lock(&srv.lock);
	srv.paths[0] = '\0';
	pthread_mutex_unlock(&srv.lock);
}

static void
srv_expect_paths(const char *want)
{
	pthread_mutex_lock(&srv.lock);
	assert_string_equal(srv.paths, want);
	pthread_mutex_unlock(&srv.lock);
}

/* ---- calling the tool ----------------------------------------------------------- */

/* A config with http_get on and the given settings. */
static struct plug_config
config_http(int allow_private)
{
	struct plug_config c;

	memset(&c, 0, sizeof c);
	c.http_enabled = 1;
	c.http_allow_private = allow_private;
	c.http_timeout_ms = 5000;
	return c;
}

/*
 * Fetches url with the built-in under config; returns the text (caller
 * frees) and the error flag in *is_error.
 */
static char *
fetch_with(const struct plug_config *config, const char *url,
    const atomic_int *cancel, int *is_error)
{
	const struct plug_builtin *b = &plug_builtin_http_get;
	struct plug_result res;
	struct plug_call call;
	json_t *args;
	void *st = NULL;
	char *cause = NULL;

	assert_int_equal(b->init(config, &st, &cause), 0);
	memset(&res, 0, sizeof res);
	memset(&call, 0, sizeof call);
	call.tool = "http_get";
	call.max_output_bytes = PLUG_DEFAULT_MAX_OUTPUT;
	call.cancel = cancel;
	args = json_pack("{s:s}", "url", url);
	b->call(st, args, &call, &res);
	json_decref(args);
	b->free(st);
	assert_non_null(res.text);
	*is_error = res.is_error;
	return res.text;
}

/* Expects an error whose text holds every part given, in order. */
static void
expect_error(const struct plug_config *config, const char *url, ...)
{
	const char *part, *p;
	va_list ap;
	char *text;
	int is_error;

	text = fetch_with(config, url, NULL, &is_error);
	fprintf(stderr, "%s -> %s\n", url, text);
	assert_true(is_error);
	p = text;
	va_start(ap, url);
	while ((part = va_arg(ap, const char *)) != NULL) {
		p = strstr(p, part);
		if (p == NULL)
			fail_msg("'%s' has no '%s'", text, part);
		p += strlen(part);
	}
	va_end(ap);
	free(text);
}

static void
expect_text(const struct plug_config *config, const char *url, const char *want)
{
	char *text;
	int is_error;

	text = fetch_with(config, url, NULL, &is_error);
	fprintf(stderr, "%s -> %s\n", url, text);
	assert_string_equal(text, want);
	assert_false(is_error);
	free(text);
}

static char *
url_of(const char *host, const char *path)
{
	char *url;

	xasprintf(&url, "http://%s:%u%s", host, srv.port, path);
	return url;
}

/* ---- tests ---------------------------------------------------------------------- */

/* Loopback by address, v4 and v6, and by name: never connected to. */
static void
test_refuses_loopback(void **state)
{
	struct plug_config c = config_http(0);
	char *url;

	(void)state;
	srv_reset();
	url = url_of("127.0.0.1", "/hello");
	expect_error(&c, url, "refused to connect to the URL (", url,
	    "): 127.0.0.1 is a loopback address", NULL);
	free(url);
	url = url_of("[::1]", "/hello");
	expect_error(&c, url, "::1 is a loopback address", NULL);
	free(url);
	url = url_of("localhost", "/hello");
	expect_error(
	    &c, url, "refused to connect", "is a loopback address", NULL);
	free(url);
	url = url_of("[::ffff:127.0.0.1]", "/hello");
	expect_error(&c, url, "::ffff:127.0.0.1 is a loopback address", NULL);
	free(url);
	url = url_of("127.1.2.3", "/hello");
	expect_error(&c, url, "127.1.2.3 is a loopback address", NULL);
	free(url);
	assert_int_equal(atomic_load(&srv.accepted), 0);
	srv_expect_paths("");
}

/* Every other class of address the guard knows, refused before connect. */
static void
test_refuses_private(void **state)
{
	static const struct {
		const char *host;
		const char *why;
	} cases[] = {
		{ "10.1.2.3", "10.1.2.3 is a private address" },
		{ "172.16.0.1", "172.16.0.1 is a private address" },
		{ "172.31.255.254", "is a private address" },
		{ "192.168.1.1", "192.168.1.1 is a private address" },
		{ "100.64.0.1", "is a shared (carrier-grade NAT) address" },
		{ "169.254.169.254",
		    "169.254.169.254 is a link-local address" },
		{ "0.0.0.0", "0.0.0.0 is an unspecified address" },
		{ "224.0.0.1", "224.0.0.1 is a multicast address" },
		{ "255.255.255.255", "is a reserved address" },
		{ "[::]", ":: is an unspecified address" },
		{ "[fe80::1]", "fe80::1 is a link-local address" },
		{ "[fc00::1]", "fc00::1 is a private (unique local) address" },
		{ "[fd12:3456::1]", "is a private (unique local) address" },
		{ "[ff02::1]", "ff02::1 is a multicast address" },
		{ "[::ffff:10.0.0.1]", "::ffff:10.0.0.1 is a private address" },
		{ "[::ffff:169.254.1.1]", "is a link-local address" },
		{ "[64:ff9b::7f00:1]", "is a loopback address" },
		{ "[2002:c0a8:101::1]", "is a private address" },
	};
	struct plug_config c = config_http(0);
	char *url;

	(void)state;
	srv_reset();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		xasprintf(&url, "http://%s:%u/", cases[i].host, srv.port);
		expect_error(&c, url, "refused to connect to the URL",
		    cases[i].why, NULL);
		free(url);
	}
	assert_int_equal(atomic_load(&srv.accepted), 0);
}

/* A public page that redirects to loopback: the second hop is refused. */
static void
test_refuses_redirect_to_loopback(void **state)
{
	struct plug_config c = config_http(0);
	char *url, *target;

	(void)state;
	if (!have_netns)
		skip(); /* main() said why */
	srv_reset();
	/* The public address itself is fine... */
	url = url_of(PUBLIC_ADDR, "/hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
	srv_expect_paths("/hello ");

	/* ...but not where it redirects to: the server sees one request. */
	srv_reset();
	url = url_of(PUBLIC_ADDR, "/redirect-loopback");
	target = url_of("127.0.0.1", "/hello");
	expect_error(&c, url, "refused to connect to a redirect (", target,
	    "): 127.0.0.1 is a loopback address", NULL);
	free(url);
	free(target);
	srv_expect_paths("/redirect-loopback ");
	assert_int_equal(atomic_load(&srv.accepted), 1);

	/* Nor a name that resolves there. */
	srv_reset();
	url = url_of(PUBLIC_ADDR, "/redirect-localhost");
	expect_error(&c, url, "refused to connect to a redirect (", "localhost",
	    "is a loopback address", NULL);
	free(url);
	srv_expect_paths("/redirect-localhost ");
}

/* With private addresses allowed by the config, fetches work. */
static void
test_fetch_allowed(void **state)
{
	struct plug_config c = config_http(1);
	char *url;

	(void)state;
	srv_reset();
	url = url_of("127.0.0.1", "/hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
	url = url_of("localhost", "/hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
	url = url_of("127.0.0.1", "/redirect-hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
	url = url_of("127.0.0.1", "/json");
	expect_text(&c, url, "{\"a\": 1}");
	free(url);
	srv_expect_paths("/hello /hello /redirect-hello /hello /json ");

	/* The same fetch for other callers (Lua's agentd module). */
	{
		struct plug_result res;
		struct plug_call call;

		memset(&res, 0, sizeof res);
		memset(&call, 0, sizeof call);
		url = url_of("127.0.0.1", "/hello");
		plug_http_fetch(&c, url, &call, &res);
		free(url);
		assert_string_equal(res.text, "hello from the test server\n");
		assert_false(res.is_error);
		plug_result_clear(&res);
	}
}

/* The size cap aborts the transfer and says so at the end of the text. */
static void
test_size_cap(void **state)
{
	struct plug_config c = config_http(1);
	static const char note[] =
	    "\n[truncated: the page is larger than 1000 bytes]";
	char *url, *text;
	size_t len;
	int is_error;

	(void)state;
	c.http_max_bytes = 1000;
	url = url_of("127.0.0.1", "/big");
	text = fetch_with(&c, url, NULL, &is_error);
	free(url);
	assert_false(is_error);
	len = strlen(text);
	assert_true(len <= 1000);
	assert_true(len > 1000 - sizeof note);
	assert_string_equal(text + len - (sizeof note - 1), note);
	assert_memory_equal(text, "abcdefghijklmnopqrstuvwxyzabcdefghijkl", 38);
	assert_int_equal(text[63], '\n');
	free(text);

	/* A small page under the cap is whole, with no note. */
	url = url_of("127.0.0.1", "/hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
}

/* HTML becomes text; other charsets and bad bytes become UTF-8. */
static void
test_text(void **state)
{
	struct plug_config c = config_http(1);
	char *url;

	(void)state;
	url = url_of("127.0.0.1", "/html");
	expect_text(&c, url,
	    "Title\n\nOne & two <3\n\nCaf\xc3\xa9? \xc3\xa9 \xe2\x98\xba "
	    "\xe2\x80\xa6\n\na\n\nb\n\n1 2");
	free(url);
	url = url_of("127.0.0.1", "/latin1");
	expect_text(&c, url, "caf\xc3\xa9 \xc2\xbd");
	free(url);
	url = url_of("127.0.0.1", "/badutf8");
	expect_text(&c, url,
	    "a\xef\xbf\xbd"
	    "b\xef\xbf\xbd");
	free(url);
	url = url_of("127.0.0.1", "/binary");
	expect_error(&c, url, "the page is image/png, not text", NULL);
	free(url);
	url = url_of("127.0.0.1", "/nothing-here");
	expect_error(&c, url, "HTTP status 404 from ", "/nothing-here", NULL);
	free(url);
}

/* Redirect limits, schemes, URLs and the host allow-list. */
static void
test_urls_and_redirects(void **state)
{
	struct plug_config c = config_http(1);
	const char *hosts[] = { "localhost", ".example.com" };
	char *url;

	(void)state;
	c.http_max_redirects = 3;
	srv_reset();
	url = url_of("127.0.0.1", "/loop");
	expect_error(&c, url, "too many redirects (more than 3)", NULL);
	free(url);
	srv_expect_paths("/loop /loop /loop /loop ");

	url = url_of("127.0.0.1", "/redirect-file");
	expect_error(&c, url,
	    "redirect refused: only http and https URLs are allowed, not "
	    "'file:///etc/passwd'",
	    NULL);
	free(url);
	expect_error(&c, "ftp://127.0.0.1/x",
	    "only http and https URLs are allowed, not 'ftp://127.0.0.1/x'",
	    NULL);
	expect_error(&c, "file:///etc/passwd", "only http and https", NULL);
	expect_error(&c, "not a url", "'not a url' is not a valid URL", NULL);
	expect_error(&c, "http://", "is not a valid URL", NULL);

	/* Only the allowed hosts, for the URL and each redirect. */
	c.http_allow_hosts = hosts;
	c.n_http_allow_hosts = 2;
	srv_reset();
	url = url_of("127.0.0.1", "/hello");
	expect_error(
	    &c, url, "host '127.0.0.1' is not in the allowed hosts", NULL);
	free(url);
	expect_error(&c, "http://notlocalhost/",
	    "host 'notlocalhost' is not in the allowed hosts", NULL);
	expect_error(&c, "http://example.org/",
	    "host 'example.org' is not in the allowed hosts", NULL);
	expect_error(&c, "http://badexample.com/",
	    "host 'badexample.com' is not in the allowed hosts", NULL);
	assert_int_equal(atomic_load(&srv.accepted), 0);
	url = url_of("LocalHost", "/hello");
	expect_text(&c, url, "hello from the test server\n");
	free(url);
	url = url_of("localhost", "/redirect-loopback");
	expect_error(&c, url,
	    "redirect refused: host '127.0.0.1' is not in the allowed hosts",
	    NULL);
	free(url);
	srv_expect_paths("/hello /redirect-loopback ");
}

/* The time limit and cancellation both end a fetch that hangs. */
struct canceller {
	atomic_int *flag;
};

static void *
cancel_later(void *arg)
{
	struct canceller *cn = arg;
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	atomic_store(cn->flag, 1);
	return NULL;
}

static void
test_time_limits(void **state)
{
	struct plug_config c = config_http(1);
	struct canceller cn;
	atomic_int flag;
	pthread_t th;
	uint64_t t0;
	char *url, *text;
	int is_error;

	(void)state;
	c.http_timeout_ms = 300;
	url = url_of("127.0.0.1", "/slow");
	t0 = clock_mono_ms();
	expect_error(&c, url, "timed out after 300 ms", NULL);
	assert_true(clock_mono_ms() - t0 < 3000);

	c.http_timeout_ms = 10000;
	atomic_init(&flag, 0);
	cn.flag = &flag;
	t0 = clock_mono_ms();
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &cn), 0);
	text = fetch_with(&c, url, &flag, &is_error);
	pthread_join(th, NULL);
	assert_true(is_error);
	assert_string_equal(text, "cancelled");
	assert_true(clock_mono_ms() - t0 < 3000);
	free(text);
	free(url);
}

/* The tool in a registry: on only when enabled, with DESIGN.md's text. */
static void
test_registry(void **state)
{
	struct plug_config c = config_http(1);
	struct plug_registry *r;
	struct plug_result res;
	struct plug_set *s;
	struct plug_tool *t;
	json_t *args;
	char *cause = NULL, *line, *url;

	(void)state;
	c.http_enabled = 0;
	r = plug_registry_new(&c, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	assert_null(plug_set_find(s, "http_get"));
	plug_set_unref(s);

	c.http_enabled = 1;
	assert_int_equal(plug_registry_reload(r, &c, &cause), 0);
	s = plug_registry_get(r);
	t = plug_set_find(s, "http_get");
	assert_non_null(t);
	line = plug_tool_prompt_line(t);
	assert_string_equal(line,
	    "http_get: Fetches a web page over HTTP or HTTPS and returns its "
	    "text. Arguments: {\"additionalProperties\":false,\"properties\":"
	    "{\"url\":{\"type\":\"string\"}},\"required\":[\"url\"],"
	    "\"type\":\"object\"}");
	free(line);
	url = url_of("127.0.0.1", "/hello");
	args = json_pack("{s:s}", "url", url);
	free(url);
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), 0);
	json_decref(args);
	assert_string_equal(res.text, "hello from the test server\n");
	plug_result_clear(&res);
	plug_set_unref(s);
	plug_registry_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_loopback),
		cmocka_unit_test(test_refuses_private),
		cmocka_unit_test(test_refuses_redirect_to_loopback),
		cmocka_unit_test(test_fetch_allowed),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_urls_and_redirects),
		cmocka_unit_test(test_time_limits),
		cmocka_unit_test(test_registry),
	};

	/* Before any thread: a namespace applies to the caller only. */
	have_netns = netns_enter() == 0;
	if (!have_netns)
		fprintf(stderr,
		    "note: no private network namespace (%s); tests that need "
		    "a public address are skipped\n",
		    strerror(errno));
	alarm(120);
	return cmocka_run_group_tests(tests, srv_start, srv_stop);
}
