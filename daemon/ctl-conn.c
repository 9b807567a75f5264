/*
 * ctl-conn.c: agentctl's connection to the daemon.  It speaks NDJSON
 * JSON-RPC 2.0 over a Unix stream socket in the blocking style (send a
 * request, read until its response) but never blocks without a limit:
 * the socket is non-blocking and every wait goes through poll(2) with the
 * time left before the deadline.  Lines from the daemon are capped at
 * CTL_MAX_LINE bytes.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/protocol.h"
#include "daemon/sockpath.h"
#include "daemon/util.h"

struct ctl_conn {
	int fd;
	char *path;     /* the socket's path, for messages */
	int timeout_ms; /* per call; 0 is no limit */
	json_int_t next_id;
	struct buf in;   /* bytes read but not yet consumed */
	size_t scanned;  /* bytes of in known to hold no '\n' */
	size_t line_end; /* bytes the returned line used, '\n' too */
	int broken;      /* a call failed midway: no more calls */
};

static uint64_t conn_deadline(int timeout_ms);
static int conn_wait(
    struct ctl_conn *conn, short events, uint64_t deadline, char **cause);
static int conn_send(struct ctl_conn *conn, const char *data, size_t len,
    uint64_t deadline, char **cause);
static char *conn_read_line(
    struct ctl_conn *conn, size_t *len, uint64_t deadline, char **cause);
static void conn_consume(struct ctl_conn *conn);
static int conn_reply(struct ctl_conn *conn, json_t *msg, json_int_t id,
    ctl_notify_fn *notify, void *arg, json_t **result, json_t **error,
    char **cause);
static int conn_id_matches(json_t *id, json_int_t want);

/* Returns the monotonic time in milliseconds at which a wait gives up. */
static uint64_t
conn_deadline(int timeout_ms)
{
	if (timeout_ms <= 0)
		return UINT64_MAX;
	return clock_mono_ms() + (uint64_t)timeout_ms;
}

/* Waits until the socket is ready for events or the deadline passes. */
static int
conn_wait(struct ctl_conn *conn, short events, uint64_t deadline, char **cause)
{
	struct pollfd pfd;
	uint64_t now;
	int ms, n;

	for (;;) {
		if (deadline == UINT64_MAX) {
			ms = -1;
		} else {
			now = clock_mono_ms();
			if (now >= deadline)
				break;
			ms = deadline - now > INT_MAX ? INT_MAX
			                              : (int)(deadline - now);
		}
		pfd.fd = conn->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "poll on %s: %s", conn->path,
			    strerror(errno));
			return -1;
		}
		/* POLLHUP and POLLERR: let the next read or write say why. */
		if (n > 0)
			return 0;
	}
	xasprintf(cause, "no reply from %s within %d ms", conn->path,
	    conn->timeout_ms);
	return -1;
}

struct ctl_conn *
ctl_conn_open(const char *path, int timeout_ms, char **cause)
{
	struct ctl_conn *conn;
	struct sockaddr_un sun;
	socklen_t len;
	uint64_t deadline = conn_deadline(timeout_ms);
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int fd, saved;

	if (dmn_socket_addr(path, &sun, &len, cause) != 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return NULL;
	}
	/*
	 * A non-blocking connect(2) to a Unix socket whose backlog is full
	 * fails with EAGAIN and queues nothing, so retry until the deadline.
	 */
	while (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && clock_mono_ms() < deadline) {
			nanosleep(&ts, NULL);
			continue;
		}
		saved = errno;
		close(fd);
		if (saved == ENOENT || saved == ECONNREFUSED) {
			xasprintf(cause,
			    "cannot connect to %s: %s (is agentd running?)",
			    path, strerror(saved));
		} else {
			xasprintf(cause, "cannot connect to %s: %s", path,
			    strerror(saved));
		}
		return NULL;
	}

	conn = xcalloc(1, sizeof *conn);
	conn->fd = fd;
	conn->path = xstrdup(path);
	conn->timeout_ms = timeout_ms;
	conn->next_id = 1;
	buf_init(&conn->in, CTL_MAX_LINE + 1);
	/* Allocate now, so that the buffer's data is never NULL. */
	if (buf_add(&conn->in, "", 0) != 0)
		fatalx("%s: empty buffer refused", __func__);
	return conn;
}

void
ctl_conn_free(struct ctl_conn *conn)
{
	if (conn == NULL)
		return;
	close(conn->fd);
	buf_free(&conn->in);
	free(conn->path);
	free(conn);
}

/* Writes all of data, waiting for room as needed. */
static int
conn_send(struct ctl_conn *conn, const char *data, size_t len,
    uint64_t deadline, char **cause)
{
	ssize_t n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a daemon gone away is an error, not SIGPIPE. */
		n = send(conn->fd, data, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (conn_wait(conn, POLLOUT, deadline, cause) !=
				    0)
					return -1;
				continue;
			}
			xasprintf(cause, "cannot send to %s: %s", conn->path,
			    strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Returns the next line (without its '\n' or a '\r' before it), pointing
 * into the input buffer and NUL-terminated there; *len is its length.  It
 * stays valid until conn_consume() drops it.
 */
static char *
conn_read_line(
    struct ctl_conn *conn, size_t *len, uint64_t deadline, char **cause)
{
	struct buf *in = &conn->in;
	char chunk[65536], *nl;
	size_t room;
	ssize_t n;

	for (;;) {
		nl = memchr(
		    in->data + conn->scanned, '\n', in->len - conn->scanned);
		if (nl != NULL) {
			*nl = '\0';
			conn->line_end = (size_t)(nl - in->data) + 1;
			*len = conn->line_end - 1;
			if (*len > 0 && in->data[*len - 1] == '\r')
				in->data[--*len] = '\0';
			return in->data;
		}
		conn->scanned = in->len;
		if (in->len > CTL_MAX_LINE) {
			xasprintf(cause,
			    "reply from %s is longer than the %d-byte limit",
			    conn->path, CTL_MAX_LINE);
			return NULL;
		}

		/*
		 * The cap is one byte over the line limit: read no more than
		 * fits, so that nothing read is ever dropped, and let the
		 * check above report a line that passes the limit.
		 */
		room = in->cap - in->len;
		n = recv(conn->fd, chunk,
		    room < sizeof chunk ? room : sizeof chunk, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (conn_wait(conn, POLLIN, deadline, cause) !=
				    0)
					return NULL;
				continue;
			}
			xasprintf(cause, "cannot read from %s: %s", conn->path,
			    strerror(errno));
			return NULL;
		}
		if (n == 0) {
			if (in->len > 0) {
				xasprintf(cause,
				    "%s closed the connection mid-line "
				    "(%zu bytes without a newline)",
				    conn->path, in->len);
			} else {
				xasprintf(cause,
				    "%s closed the connection before "
				    "answering",
				    conn->path);
			}
			return NULL;
		}
		if (buf_add(in, chunk, (size_t)n) != 0)
			fatalx("%s: buffer cap miscounted", __func__);
	}
}

/* Drops the line conn_read_line() returned, keeping what follows it. */
static void
conn_consume(struct ctl_conn *conn)
{
	struct buf *in = &conn->in;
	size_t used = conn->line_end;

	AGENTD_ASSERT(used > 0 && used <= in->len);
	memmove(in->data, in->data + used, in->len - used);
	in->len -= used;
	in->data[in->len] = '\0';
	conn->scanned = 0;
	conn->line_end = 0;
}

/* Returns 1 if the message's id is the integer want. */
static int
conn_id_matches(json_t *id, json_int_t want)
{
	return id != NULL && json_is_integer(id) &&
	    json_integer_value(id) == want;
}

/*
 * Handles one message from the daemon while waiting for the response to
 * request id.  Returns 1 when msg was that response (and sets *result or
 * *error), 0 when it was a notification (passed to notify), or -1 with
 * *cause set when it is not valid JSON-RPC 2.0 or answers someone else.
 */
static int
conn_reply(struct ctl_conn *conn, json_t *msg, json_int_t id,
    ctl_notify_fn *notify, void *arg, json_t **result, json_t **error,
    char **cause)
{
	json_t *version, *method, *params, *rid, *res, *err, *code, *text;
	char *shown;

	if (!json_is_object(msg)) {
		xasprintf(
		    cause, "reply from %s is not a JSON object", conn->path);
		return -1;
	}
	version = json_object_get(msg, "jsonrpc");
	if (!json_is_string(version) ||
	    strcmp(json_string_value(version), DMN_JSONRPC_VERSION) != 0) {
		xasprintf(cause, "reply from %s lacks \"jsonrpc\": \"2.0\"",
		    conn->path);
		return -1;
	}
	method = json_object_get(msg, "method");
	rid = json_object_get(msg, "id");
	if (method != NULL) {
		if (!json_is_string(method)) {
			xasprintf(cause,
			    "notification from %s has a non-string method",
			    conn->path);
			return -1;
		}
		if (rid != NULL) {
			xasprintf(cause,
			    "%s sent a request ('%s'); clients take none",
			    conn->path, json_string_value(method));
			return -1;
		}
		params = json_object_get(msg, "params");
		if (notify != NULL)
			notify(json_string_value(method), params, arg);
		return 0;
	}

	res = json_object_get(msg, "result");
	err = json_object_get(msg, "error");
	if ((res == NULL) == (err == NULL)) {
		xasprintf(cause,
		    "reply from %s has %s of \"result\" and \"error\"",
		    conn->path, res == NULL ? "neither" : "both");
		return -1;
	}
	/*
	 * With one request in flight, an error with a null id (the daemon
	 * could not read our id) is still the answer to it.
	 */
	if (!conn_id_matches(rid, id) && !(err != NULL && json_is_null(rid))) {
		shown = rid == NULL ? NULL : json_dumps(rid, JSON_ENCODE_ANY);
		xasprintf(cause,
		    "reply from %s has id %.64s; expected "
		    "%" JSON_INTEGER_FORMAT,
		    conn->path, shown != NULL ? shown : "(none)", id);
		free(shown);
		return -1;
	}
	if (err != NULL) {
		code = json_object_get(err, "code");
		text = json_object_get(err, "message");
		if (!json_is_object(err) || !json_is_integer(code) ||
		    !json_is_string(text)) {
			xasprintf(cause,
			    "error from %s lacks an integer \"code\" or a "
			    "string \"message\"",
			    conn->path);
			return -1;
		}
		*error = json_incref(err);
		return 1;
	}
	*result = json_incref(res);
	return 1;
}

int
ctl_conn_call(struct ctl_conn *conn, const char *method, json_t *params,
    ctl_notify_fn *notify, void *arg, json_t **result, json_t **error,
    char **cause)
{
	uint64_t deadline = conn_deadline(conn->timeout_ms);
	json_t *req, *msg;
	json_error_t jerr;
	json_int_t id;
	char *text, *line;
	size_t len, lineno = 0;
	int rc;

	*result = NULL;
	*error = NULL;
	if (conn->broken) {
		xasprintf(cause, "connection to %s is unusable", conn->path);
		return -1;
	}
	id = conn->next_id++;
	req = json_pack("{s:s, s:I, s:s}", "jsonrpc", DMN_JSONRPC_VERSION, "id",
	    (json_int_t)id, "method", method);
	if (req == NULL) {
		/* jansson refuses strings that are not UTF-8. */
		xasprintf(cause, "method name is not valid UTF-8");
		return -1;
	}
	if (params != NULL)
		json_object_set(req, "params", params);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL) {
		xasprintf(cause, "%s: parameters cannot be encoded", method);
		return -1;
	}
	/* From here a failure leaves the stream in an unknown state. */
	conn->broken = 1;
	len = strlen(text);
	text[len] = '\n'; /* json_dumps ends it with a NUL we can reuse */
	rc = conn_send(conn, text, len + 1, deadline, cause);
	free(text);
	if (rc != 0)
		return -1;

	for (;;) {
		if ((line = conn_read_line(conn, &len, deadline, cause)) ==
		    NULL)
			return -1;
		lineno++;
		if (len == 0) {
			conn_consume(conn);
			continue;
		}
		msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
		if (msg == NULL) {
			xasprintf(cause,
			    "reply %zu from %s is not valid JSON: %s at "
			    "column %d",
			    lineno, conn->path, jerr.text, jerr.column);
			return -1;
		}
		conn_consume(conn);
		rc = conn_reply(
		    conn, msg, id, notify, arg, result, error, cause);
		json_decref(msg);
		if (rc == -1)
			return -1;
		if (rc == 1)
			break;
	}
	conn->broken = 0;
	return 0;
}
