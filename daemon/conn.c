/*
 * conn.c: one client connection.
 *
 * A connection is a socket, a framer and a JSON-RPC session.  Bytes are
 * read straight into the framer; each line goes to the session, whose
 * answers come back through conn_write() into an output buffer.  Output
 * is flushed with one writev() when a batch of input has been handled (or
 * at once for an answer that arrives later); only what the socket does
 * not take waits for a write event.  So a request costs a read and a
 * write, and no event changes while clients keep up.
 *
 * Back-pressure: while more than max_output_bytes wait to be sent, or
 * DMN_CONN_MAX_PENDING requests wait for answers, the connection stops
 * reading (and so stops taking requests); it resumes when the output has
 * drained or answers have come.  A client that lets more than twice
 * max_output_bytes pile up (answers to requests it had already sent, or
 * notifications) is dropped, as is one whose output makes no progress for
 * idle_timeout_ms.
 *
 * The end of input is a half close: requests already read are still
 * answered, then the connection closes.  A peer that closed completely
 * (poll() says POLLHUP) is gone: its requests are cancelled at once.
 *
 * Connections are reference counted on the loop thread; the free is
 * queued, never done inside a callback of the connection.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

/* Bytes read into the framer at a time. */
#define CONN_CHUNK 16384
/* Reads per turn of the loop, so that one client cannot starve others. */
#define CONN_READS 64

struct dmn_conn {
	struct dmn_session s;
	struct dmn_ctx *ctx;
	int fd;
	struct event *rev;   /* readable; added while reading */
	struct event *wev;   /* writable; added while output waits */
	struct event *timer; /* idle */
	struct evbuffer *out;
	struct dmn_framer framer;
	uint64_t id;
	int refs;
	int reading;      /* rev is added */
	int writing;      /* wev is added */
	int closed;       /* detached; the free is queued */
	int closing;      /* sending what is queued, then closing */
	int eof;          /* the peer sent all it will send */
	int draining;     /* shutdown: no new requests */
	int processing;   /* inside conn_process() */
	int again;        /* conn_process() must run once more */
	uint64_t last_ms; /* last input or output progress */
};

#define conn_ref(c)   conn_ref1(c, __func__)
#define conn_unref(c) conn_unref1(c, __func__)

static void conn_ref1(struct dmn_conn *, const char *);
static void conn_unref1(struct dmn_conn *, const char *);
static void conn_free_cb(void *);
static void conn_refuse(struct dmn_ctx *, int, uint64_t, int, json_t *);
static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_write_cb(evutil_socket_t, short, void *);
static void conn_timer_cb(evutil_socket_t, short, void *);
static void conn_arm(struct dmn_conn *, uint64_t);
static void conn_reading(struct dmn_conn *, int);
static void conn_process(struct dmn_conn *);
static void conn_process_once(struct dmn_conn *);
static int conn_read(struct dmn_conn *);
static int conn_blocked(struct dmn_conn *);
static void conn_flush(struct dmn_conn *);
static void conn_check_done(struct dmn_conn *);
static void conn_close_after_flush(struct dmn_conn *);
static void conn_shut(struct dmn_conn *, const char *);
static void conn_write(struct dmn_session *, const char *, size_t);
static size_t conn_queued(struct dmn_session *);
static void conn_wake(struct dmn_session *);
static int conn_peer_gone(struct dmn_conn *);

struct dmn_conn *
dmn_conn_new(struct dmn_ctx *ctx, int fd)
{
	const struct dmn_config *cfg = ctx->config;
	struct dmn_conn *c;
	struct ucred cred;
	socklen_t len = sizeof cred;
	uint64_t id = ++ctx->conns_total;
	json_t *data;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("client %llu: SO_PEERCRED: %s", (unsigned long long)id,
		    strerror(errno));
		ctx->conns_refused++;
		close(fd);
		return NULL;
	}
	if (ctx->nsessions >= cfg->max_connections) {
		log_warn("client %llu: pid %ld uid %lu refused: %zu "
		         "connections open (max_connections)",
		    (unsigned long long)id, (long)cred.pid,
		    (unsigned long)cred.uid, ctx->nsessions);
		conn_refuse(ctx, fd, id, DMN_ERR_LIMIT,
		    dmn_rpc_limit_data(
		        "max_connections", cfg->max_connections));
		return NULL;
	}
	if (!dmn_config_allows(cfg, cred.uid, cred.gid, geteuid())) {
		log_warn("client %llu: pid %ld uid %lu gid %lu refused: not "
		         "in allow_uid or allow_gid",
		    (unsigned long long)id, (long)cred.pid,
		    (unsigned long)cred.uid, (unsigned long)cred.gid);
		data = json_pack("{s:s, s:I, s:I}", "detail",
		    "this user and group are not in the daemon's allow_uid "
		    "or allow_gid",
		    "uid", (json_int_t)cred.uid, "gid", (json_int_t)cred.gid);
		conn_refuse(ctx, fd, id, DMN_ERR_DENIED, data);
		return NULL;
	}

	c = xcalloc(1, sizeof *c);
	c->ctx = ctx;
	c->fd = fd;
	c->id = id;
	c->refs = 1;
	c->rev =
	    event_new(ctx->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev =
	    event_new(ctx->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->timer = evtimer_new(ctx->base, conn_timer_cb, c);
	c->out = evbuffer_new();
	if (c->rev == NULL || c->wev == NULL || c->timer == NULL ||
	    c->out == NULL)
		fatalx("client %llu: cannot allocate events",
		    (unsigned long long)id);
	dmn_session_init(&c->s, ctx);
	c->s.id = id;
	c->s.pid = cred.pid;
	c->s.uid = cred.uid;
	c->s.gid = cred.gid;
	c->s.write = conn_write;
	c->s.queued = conn_queued;
	c->s.wake = conn_wake;
	c->s.owner = c;
	dmn_framer_init(&c->framer, cfg->max_message_bytes);
	conn_reading(c, 1);
	c->last_ms = clock_mono_ms();
	conn_arm(c, cfg->idle_timeout_ms);
	log_info("client %llu: connected: pid %ld uid %lu gid %lu",
	    (unsigned long long)id, (long)cred.pid, (unsigned long)cred.uid,
	    (unsigned long)cred.gid);
	return c;
}

/* Sends one error line to a client we will not serve, and closes it. */
static void
conn_refuse(struct dmn_ctx *ctx, int fd, uint64_t id, int code, json_t *data)
{
	char *line;
	size_t len;

	ctx->conns_refused++;
	line = dmn_rpc_error_line(code, NULL, data);
	len = strlen(line);
	line = xrealloc(line, len + 2);
	line[len++] = '\n';
	line[len] = '\0';
	/* A fresh socket's buffer is empty: one small send fits. */
	if (send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug(
		    "client %llu: %s", (unsigned long long)id, strerror(errno));
	free(line);
	close(fd);
}

static void
conn_ref1(struct dmn_conn *c, const char *from)
{
	c->refs++;
	log_debug("client %llu: ref %d (%s)", (unsigned long long)c->id,
	    c->refs, from);
}

static void
conn_unref1(struct dmn_conn *c, const char *from)
{
	AGENTD_ASSERT(c->refs > 0);
	c->refs--;
	log_debug("client %llu: unref %d (%s)", (unsigned long long)c->id,
	    c->refs, from);
	if (c->refs == 0)
		dmn_queue_push(c->ctx->queue, conn_free_cb, c);
}

/* The deferred free: closes the socket. */
static void
conn_free_cb(void *arg)
{
	struct dmn_conn *c = arg;

	AGENTD_ASSERT(c->closed);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	evbuffer_free(c->out);
	dmn_framer_free(&c->framer);
	close(c->fd);
	free(c);
}

/* Closes now: the session is detached and its requests cancelled. */
static void
conn_shut(struct dmn_conn *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->s.npending > 0)
		log_info("client %llu: closed (%s); %zu requests cancelled",
		    (unsigned long long)c->id, why, c->s.npending);
	else
		log_info(
		    "client %llu: closed (%s)", (unsigned long long)c->id, why);
	dmn_session_detach(&c->s);
	event_del(c->rev);
	event_del(c->wev);
	evtimer_del(c->timer);
	c->reading = c->writing = 0;
	/* Nobody waits for what is left. */
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	conn_unref(c);
}

void
dmn_conn_close(struct dmn_conn *c)
{
	conn_shut(c, "shutdown");
}

void
dmn_conn_drain(struct dmn_conn *c)
{
	if (c->closed)
		return;
	c->draining = 1;
	conn_reading(c, 0);
	conn_check_done(c);
}

void
dmn_conn_reconfigure(struct dmn_conn *c)
{
	const struct dmn_config *cfg = c->ctx->config;

	if (c->closed)
		return;
	dmn_framer_set_max(&c->framer, cfg->max_message_bytes);
	conn_arm(c, cfg->idle_timeout_ms);
	conn_process(c);
}

struct dmn_conn *
dmn_conn_from_session(struct dmn_session *s)
{
	return s->owner;
}

/* (Re)starts the idle timer; 0 stops it. */
static void
conn_arm(struct dmn_conn *c, uint64_t ms)
{
	struct timeval tv;

	if (ms == 0) {
		evtimer_del(c->timer);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Starts or stops watching for input. */
static void
conn_reading(struct dmn_conn *c, int on)
{
	if (on && !c->reading && !c->eof && !c->closed) {
		event_add(c->rev, NULL);
		c->reading = 1;
	} else if (!on && c->reading) {
		event_del(c->rev);
		c->reading = 0;
	}
}

/* Returns 1 if the peer closed its end completely (not a half close). */
static int
conn_peer_gone(struct dmn_conn *c)
{
	struct pollfd pfd;

	pfd.fd = c->fd;
	pfd.events = 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)) != 0)
		return 1;
	return 0;
}

static void
conn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	conn_process(arg);
}

/* The socket takes output again. */
static void
conn_write_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dmn_conn *c = arg;

	(void)fd;
	(void)events;
	conn_ref(c);
	conn_flush(c);
	/* Drained: a paused or finishing connection may move on. */
	if (!c->closed && !c->writing)
		conn_process(c);
	conn_unref(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dmn_conn *c = arg;
	uint64_t timeout = c->ctx->config->idle_timeout_ms, now, idle;
	size_t out;

	(void)fd;
	(void)events;
	if (c->closed || timeout == 0)
		return;
	now = clock_mono_ms();
	idle = now - c->last_ms;
	if (idle < timeout) {
		conn_arm(c, timeout - idle);
		return;
	}
	out = evbuffer_get_length(c->out);
	if (out > 0) {
		log_notice("client %llu: %zu bytes unread for %llu ms",
		    (unsigned long long)c->id, out, (unsigned long long)idle);
		conn_shut(c, "not reading");
		return;
	}
	if (c->s.npending > 0) {
		/* Waiting for a long answer is not being idle. */
		if (conn_peer_gone(c)) {
			conn_shut(c, "peer went away");
			return;
		}
		c->last_ms = now;
		conn_arm(c, timeout);
		return;
	}
	log_info("client %llu: idle for %llu ms", (unsigned long long)c->id,
	    (unsigned long long)idle);
	conn_ref(c);
	dmn_session_error(&c->s, NULL, DMN_ERR_LIMIT, NULL,
	    dmn_rpc_limit_data("idle_timeout_ms", timeout));
	c->last_ms = now;
	conn_close_after_flush(c);
	if (!c->closed)
		conn_arm(c, timeout);
	conn_unref(c);
}

/*
 * Handles what the client sent, writes the answers, and goes on while
 * that unblocks more; then closes if nothing is left to do.
 */
static void
conn_process(struct dmn_conn *c)
{
	if (c->closed)
		return;
	if (c->processing) {
		c->again = 1;
		return;
	}
	conn_ref(c);
	c->processing = 1;
	for (;;) {
		c->again = 0;
		conn_process_once(c);
		if (c->closed)
			break;
		conn_flush(c);
		if (c->closed)
			break;
		if (!c->again && !(c->s.paused && !conn_blocked(c)))
			break;
	}
	c->processing = 0;
	conn_check_done(c);
	conn_unref(c);
}

static int
conn_blocked(struct dmn_conn *c)
{
	return evbuffer_get_length(c->out) > c->ctx->config->max_output_bytes ||
	    c->s.npending >= DMN_CONN_MAX_PENDING;
}

/*
 * Reads once into the framer.  Returns 2 if it filled the space (more may
 * be waiting), 1 if fewer bytes came or the input ended, 0 if none were
 * waiting, -1 if the connection was closed.
 */
static int
conn_read(struct dmn_conn *c)
{
	ssize_t n;
	char *p;

	p = dmn_framer_space(&c->framer, CONN_CHUNK);
	do
		n = read(c->fd, p, CONN_CHUNK);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		dmn_framer_commit(&c->framer, (size_t)n);
		return n == CONN_CHUNK ? 2 : 1;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_shut(c, strerror(errno));
		return -1;
	}
	/* The end of input: a half close, or the peer is gone. */
	if (conn_peer_gone(c)) {
		conn_shut(c, "peer went away");
		return -1;
	}
	log_debug("client %llu: end of input", (unsigned long long)c->id);
	conn_reading(c, 0);
	c->eof = 1;
	dmn_framer_eof(&c->framer);
	return 1;
}

static void
conn_process_once(struct dmn_conn *c)
{
	const struct dmn_config *cfg = c->ctx->config;
	enum dmn_frame r;
	const char *line;
	size_t len;
	uint64_t lineno, now = 0;
	json_t *data;
	int reads = 0, more = 1;

	for (;;) {
		if (c->closed || c->closing || c->draining)
			return;
		if (conn_blocked(c)) {
			if (!c->s.paused) {
				log_debug("client %llu: paused: %zu bytes "
				          "queued, %zu requests pending",
				    (unsigned long long)c->id,
				    evbuffer_get_length(c->out), c->s.npending);
				c->s.paused = 1;
				conn_reading(c, 0);
			}
			return;
		}
		if (c->s.paused) {
			log_debug(
			    "client %llu: resumed", (unsigned long long)c->id);
			c->s.paused = 0;
			conn_reading(c, 1);
		}
		r = dmn_framer_next(&c->framer, &line, &len, &lineno);
		switch (r) {
		case DMN_FRAME_LINE:
			/* A whole line is progress; one clock read per pass. */
			if (now == 0)
				now = clock_mono_ms();
			c->last_ms = now;
			dmn_session_line(&c->s, line, len);
			break;
		case DMN_FRAME_TOO_LONG:
			log_info("client %llu: line %llu longer than %zu bytes",
			    (unsigned long long)c->id,
			    (unsigned long long)lineno, cfg->max_message_bytes);
			data = dmn_rpc_limit_data(
			    "max_message_bytes", cfg->max_message_bytes);
			json_object_set_new(
			    data, "line", json_integer((json_int_t)lineno));
			dmn_session_error(
			    &c->s, NULL, DMN_ERR_LIMIT, NULL, data);
			conn_close_after_flush(c);
			return;
		case DMN_FRAME_BAD_UTF8:
			data = json_pack("{s:s, s:I, s:I}", "detail",
			    "the line is not valid UTF-8", "line",
			    (json_int_t)lineno, "offset", (json_int_t)len);
			dmn_session_error(
			    &c->s, NULL, DMN_ERR_PARSE, NULL, data);
			break;
		case DMN_FRAME_MORE:
			/*
			 * After a short read the socket is most likely empty:
			 * rather than a read that says EAGAIN, wait for the
			 * (level-triggered) event, as for what is left after
			 * CONN_READS reads.
			 */
			if (c->eof || !more || reads++ == CONN_READS)
				return;
			switch (conn_read(c)) {
			case 2:
				break;
			case 1:
				more = 0;
				break;
			default:
				return;
			}
			break;
		}
	}
}

/* Writes what the socket takes; watches for room if some is left. */
static void
conn_flush(struct dmn_conn *c)
{
	int n;

	while (evbuffer_get_length(c->out) > 0) {
		n = evbuffer_write(c->out, c->fd);
		if (n > 0) {
			c->last_ms = clock_mono_ms();
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_shut(c, n == -1 ? strerror(errno) : "write failed");
		return;
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (!c->writing) {
			event_add(c->wev, NULL);
			c->writing = 1;
		}
	} else if (c->writing) {
		event_del(c->wev);
		c->writing = 0;
	}
}

/* Closes when there is nothing left to do. */
static void
conn_check_done(struct dmn_conn *c)
{
	if (c->closed || c->processing)
		return;
	if (c->closing) {
		if (evbuffer_get_length(c->out) == 0)
			conn_shut(c, "done");
		return;
	}
	if (c->s.npending > 0)
		return;
	if (c->draining) {
		conn_close_after_flush(c);
		return;
	}
	if (c->eof && !c->s.paused && dmn_framer_buffered(&c->framer) == 0)
		conn_close_after_flush(c);
}

/* Takes no more input; closes once the output is sent. */
static void
conn_close_after_flush(struct dmn_conn *c)
{
	if (c->closed)
		return;
	c->closing = 1;
	conn_reading(c, 0);
	if (!c->processing)
		conn_flush(c);
	if (!c->closed && evbuffer_get_length(c->out) == 0 && !c->processing)
		conn_shut(c, "done");
}

/* The session's writer: one line and its '\n' into the output. */
static void
conn_write(struct dmn_session *s, const char *line, size_t len)
{
	struct dmn_conn *c = s->owner;
	size_t queued, hard;

	if (c->closed)
		return;
	queued = evbuffer_get_length(c->out);
	hard = 2 * c->ctx->config->max_output_bytes;
	if (queued > 0 && (len >= hard || queued > hard - len - 1)) {
		log_warn("client %llu: more than %zu bytes queued and not "
		         "read",
		    (unsigned long long)c->id, hard);
		conn_shut(c, "output limit");
		return;
	}
	if (evbuffer_add(c->out, line, len) != 0 ||
	    evbuffer_add(c->out, "\n", 1) != 0)
		fatalx("client %llu: out of memory queueing output",
		    (unsigned long long)c->id);
	/* Inside conn_process() the flush comes once all input is read. */
	if (!c->processing)
		conn_flush(c);
}

static size_t
conn_queued(struct dmn_session *s)
{
	struct dmn_conn *c = s->owner;

	return c->closed ? 0 : evbuffer_get_length(c->out);
}

/* An answer was delivered: a paused or finishing connection may move. */
static void
conn_wake(struct dmn_session *s)
{
	struct dmn_conn *c = s->owner;

	if (c->closed || c->processing)
		return;
	if (c->s.paused)
		conn_process(c);
	else
		conn_check_done(c);
}
