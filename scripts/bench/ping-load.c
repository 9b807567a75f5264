/*
 * ping-load.c: a load generator for agentd, in the manner of
 * redis-benchmark -t ping.  It opens CONNS connections to the daemon's
 * socket on one libevent loop; each sends daemon.ping requests in batches
 * of DEPTH (1: no pipelining), writing a batch only when every reply to
 * the previous one has arrived, which is what redis-benchmark -P does.
 * A reply's latency runs from the write of its batch to its arrival.
 *
 *   ping-load [-k] [-c CONNS] [-d SECONDS | -n REQUESTS] [-P DEPTHS]
 *             [-s PATH]
 *
 * For each depth in DEPTHS (comma-separated; default "1,16") it prints
 * requests/s and the p50/p99/max latency; -k prints key=value lines for
 * scripts instead.  Replies are checked cheaply (the id and a "result"
 * member), so that the client spends its CPU time on the load rather than
 * on parsing; any other reply ends the run with an error.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/sockpath.h"
#include "daemon/util.h"

#define LOAD_MAX_CONNS  10000
#define LOAD_MAX_DEPTH  4096
#define LOAD_MAX_DEPTHS 16
/* A reply longer than this is not a ping's. */
#define LOAD_MAX_REPLY 4096

struct load;

/* One connection and its batch in flight. */
struct load_conn {
	struct load *load;
	struct bufferevent *bev;
	int index;
	uint64_t next_id;  /* the id the next reply must carry */
	uint64_t sent_id;  /* the next id to send */
	uint64_t batch_ns; /* when the batch was written */
	int pending;       /* replies the batch still awaits */
};

/* One pass: every connection at one depth. */
struct load {
	struct event_base *base;
	struct event *timer;
	struct sockaddr_un sun;
	socklen_t sunlen;
	struct load_conn *conns;
	int nconns;
	int depth;
	uint64_t budget; /* requests left to send; -n mode */
	int timed;       /* -d mode: send until the timer */
	int stopping;    /* the timer fired: send no more */
	int connected;
	uint64_t due;  /* replies that end the pass */
	uint64_t done; /* replies received */
	uint64_t start_ns, end_ns;
	uint32_t *lat; /* latency of each reply, in us */
	size_t nlat, lat_size;
	int failed;
};

static void load_fail(struct load *l, struct load_conn *c, const char *fmt, ...)
    printflike(3, 4);
static void load_send_batch(struct load_conn *c);
static int load_reply(struct load_conn *c, const char *line, size_t len);
static void load_read_cb(struct bufferevent *bev, void *arg);
static void load_event_cb(struct bufferevent *bev, short what, void *arg);
static void load_timer_cb(evutil_socket_t fd, short what, void *arg);
static int load_run(struct load *l, double seconds, uint64_t requests);
static int cmp_u32(const void *a, const void *b);
static uint32_t percentile(const uint32_t *v, size_t n, double p);
static long parse_num(const char *arg, const char *what, long min, long max);
static void usage(void);

/* Reports a failure and stops the loop; the pass then fails. */
static void
load_fail(struct load *l, struct load_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	l->failed = 1;
	fprintf(
	    stderr, "ping-load: connection %d: ", c != NULL ? c->index : -1);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	event_base_loopbreak(l->base);
}

/* Writes the next batch: up to depth requests, as one write. */
static void
load_send_batch(struct load_conn *c)
{
	struct load *l = c->load;
	char req[LOAD_MAX_DEPTH * 64], *p = req;
	int n = l->depth;

	if (l->stopping)
		return;
	if (!l->timed) {
		if (l->budget == 0)
			return;
		if ((uint64_t)n > l->budget)
			n = (int)l->budget;
		l->budget -= (uint64_t)n;
	}
	for (int i = 0; i < n; i++) {
		p += snprintf(p, 64,
		    "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
		    ",\"method\":\"daemon.ping\"}\n",
		    c->sent_id++);
	}
	c->pending = n;
	c->batch_ns = clock_mono_ns();
	if (bufferevent_write(c->bev, req, (size_t)(p - req)) != 0)
		load_fail(l, c, "cannot queue a batch");
}

/*
 * Checks one reply: it must carry the next id in order and a result.
 * Returns 0, or -1 after load_fail().
 */
static int
load_reply(struct load_conn *c, const char *line, size_t len)
{
	struct load *l = c->load;
	const char *id;
	char *end;
	uint64_t got, us;

	id = memmem(line, len, "\"id\":", 5);
	if (id == NULL || memmem(line, len, "\"result\"", 8) == NULL) {
		load_fail(l, c, "unexpected reply: %.*s", (int)len, line);
		return -1;
	}
	got = strtoull(id + 5, &end, 10);
	if (end == id + 5 || got != c->next_id) {
		load_fail(l, c, "reply has id '%.20s'; expected %" PRIu64,
		    id + 5, c->next_id);
		return -1;
	}
	c->next_id++;
	if (c->pending <= 0) {
		load_fail(l, c, "a reply to no request: %.*s", (int)len, line);
		return -1;
	}
	c->pending--;

	us = (clock_mono_ns() - c->batch_ns) / 1000;
	if (l->nlat == l->lat_size) {
		l->lat_size = l->lat_size == 0 ? 65536 : l->lat_size * 2;
		l->lat = xreallocarray(l->lat, l->lat_size, sizeof *l->lat);
	}
	l->lat[l->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	l->done++;
	return 0;
}

static void
load_read_cb(struct bufferevent *bev, void *arg)
{
	struct load_conn *c = arg;
	struct load *l = c->load;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t avail, off = 0;
	const char *data, *nl;

	avail = evbuffer_get_length(in);
	data = (const char *)evbuffer_pullup(in, -1);
	while (off < avail) {
		nl = memchr(data + off, '\n', avail - off);
		if (nl == NULL)
			break;
		if (load_reply(c, data + off, (size_t)(nl - (data + off))) != 0)
			return;
		off = (size_t)(nl - data) + 1;
	}
	evbuffer_drain(in, off);
	if (evbuffer_get_length(in) > LOAD_MAX_REPLY) {
		load_fail(l, c, "a reply longer than %d bytes", LOAD_MAX_REPLY);
		return;
	}

	if (c->pending == 0)
		load_send_batch(c);
	if (l->done == l->due)
		event_base_loopbreak(l->base);
}

static void
load_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct load_conn *c = arg;
	struct load *l = c->load;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* Start everyone together, once all are connected. */
		if (++l->connected == l->nconns) {
			l->start_ns = clock_mono_ns();
			for (int i = 0; i < l->nconns; i++)
				load_send_batch(&l->conns[i]);
		}
		return;
	}
	if (what & BEV_EVENT_EOF) {
		load_fail(l, c,
		    "closed by the daemon after %" PRIu64 " replies",
		    c->next_id - 1);
	} else if (what & BEV_EVENT_ERROR) {
		load_fail(l, c, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
}

static void
load_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct load *l = arg;

	(void)fd;
	(void)what;
	l->stopping = 1;
	event_base_loopbreak(l->base);
}

/*
 * Runs one pass: for seconds (when > 0) or until requests replies have
 * arrived.  Returns 0, or -1 after printing why.
 */
static int
load_run(struct load *l, double seconds, uint64_t requests)
{
	struct timeval tv;
	struct load_conn *c;
	int fd;

	if ((l->base = event_base_new()) == NULL) {
		fprintf(stderr, "ping-load: event_base_new failed\n");
		return -1;
	}
	l->conns = xcalloc((size_t)l->nconns, sizeof *l->conns);
	l->timed = seconds > 0;
	l->budget = requests;
	l->due = l->timed ? UINT64_MAX : requests;
	for (int i = 0; i < l->nconns; i++) {
		c = &l->conns[i];
		c->load = l;
		c->index = i;
		c->next_id = c->sent_id = 1;
		fd = socket(
		    AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			fatal("socket");
		c->bev =
		    bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			fatalx("bufferevent_socket_new failed");
		bufferevent_setcb(c->bev, load_read_cb, NULL, load_event_cb, c);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(c->bev,
		        (struct sockaddr *)&l->sun, (int)l->sunlen) != 0) {
			fprintf(stderr, "ping-load: cannot connect to %s: %s\n",
			    l->sun.sun_path, strerror(errno));
			l->failed = 1;
			break;
		}
	}
	if (!l->failed && l->timed) {
		l->timer = evtimer_new(l->base, load_timer_cb, l);
		tv.tv_sec = (time_t)seconds;
		tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
		/* The clock starts once all are connected; near enough. */
		evtimer_add(l->timer, &tv);
	}
	if (!l->failed)
		event_base_dispatch(l->base);
	l->end_ns = clock_mono_ns();

	for (int i = 0; i < l->nconns; i++) {
		if (l->conns[i].bev != NULL)
			bufferevent_free(l->conns[i].bev);
	}
	free(l->conns);
	if (l->timer != NULL)
		event_free(l->timer);
	event_base_free(l->base);
	if (!l->failed && l->connected < l->nconns) {
		fprintf(stderr, "ping-load: only %d of %d connected\n",
		    l->connected, l->nconns);
		l->failed = 1;
	}
	return l->failed ? -1 : 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Returns the p-th percentile (0..100) of n sorted values. */
static uint32_t
percentile(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)((p / 100.0) * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

static long
parse_num(const char *arg, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr,
		    "ping-load: %s '%s' is not a number from %ld "
		    "to %ld\n",
		    what, arg, min, max);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ping-load [-k] [-c CONNS] [-d SECONDS | -n REQUESTS] "
	    "[-P DEPTHS] [-s PATH]\n"
	    "  -c CONNS     concurrent connections (default 32)\n"
	    "  -d SECONDS   run each pass this long\n"
	    "  -n REQUESTS  or until this many replies (default 200000)\n"
	    "  -P DEPTHS    pipeline depths, comma-separated (default 1,16)\n"
	    "  -s PATH      the daemon's socket (default as agentctl's)\n"
	    "  -k           print key=value lines for scripts\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct load l;
	const char *flag = NULL;
	char *path, *cause = NULL, *list = xstrdup("1,16"), *tok, *save;
	int depths[LOAD_MAX_DEPTHS], ndepths = 0, conns = 32, keyval = 0;
	int ch, rc = 0;
	long secs = 0, requests = 200000;
	double elapsed;

	while ((ch = getopt(argc, argv, "c:d:kn:P:s:")) != -1) {
		switch (ch) {
		case 'c':
			conns =
			    (int)parse_num(optarg, "CONNS", 1, LOAD_MAX_CONNS);
			break;
		case 'd':
			secs = parse_num(optarg, "SECONDS", 1, 3600);
			break;
		case 'k':
			keyval = 1;
			break;
		case 'n':
			requests = parse_num(optarg, "REQUESTS", 1, LONG_MAX);
			break;
		case 'P':
			free(list);
			list = xstrdup(optarg);
			break;
		case 's':
			flag = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (ndepths == LOAD_MAX_DEPTHS) {
			fprintf(stderr, "ping-load: more than %d depths\n",
			    LOAD_MAX_DEPTHS);
			return 2;
		}
		depths[ndepths++] =
		    (int)parse_num(tok, "DEPTH", 1, LOAD_MAX_DEPTH);
	}
	free(list);
	if (ndepths == 0)
		usage();

	if ((path = dmn_socket_path(flag, &cause)) == NULL) {
		fprintf(stderr, "ping-load: %s\n", cause);
		free(cause);
		return 2;
	}

	for (int d = 0; d < ndepths && rc == 0; d++) {
		memset(&l, 0, sizeof l);
		if (dmn_socket_addr(path, &l.sun, &l.sunlen, &cause) != 0)
			fatalx("%s", cause);
		l.nconns = conns;
		l.depth = depths[d];
		if (load_run(&l, (double)secs, (uint64_t)requests) != 0) {
			rc = 1;
			free(l.lat);
			break;
		}
		elapsed = (double)(l.end_ns - l.start_ns) / 1e9;
		qsort(l.lat, l.nlat, sizeof *l.lat, cmp_u32);
		if (keyval) {
			printf("conns=%d depth=%d requests=%" PRIu64
			       " seconds=%.3f rps=%.0f p50_ms=%.3f "
			       "p99_ms=%.3f max_ms=%.3f\n",
			    conns, l.depth, l.done, elapsed,
			    (double)l.done / elapsed,
			    percentile(l.lat, l.nlat, 50) / 1000.0,
			    percentile(l.lat, l.nlat, 99) / 1000.0,
			    percentile(l.lat, l.nlat, 100) / 1000.0);
		} else {
			printf("daemon.ping, %d connections, depth %d: %" PRIu64
			       " requests in %.2f s = %.0f requests/s; "
			       "latency p50 %.3f ms, p99 %.3f ms, max %.3f "
			       "ms\n",
			    conns, l.depth, l.done, elapsed,
			    (double)l.done / elapsed,
			    percentile(l.lat, l.nlat, 50) / 1000.0,
			    percentile(l.lat, l.nlat, 99) / 1000.0,
			    percentile(l.lat, l.nlat, 100) / 1000.0);
		}
		fflush(stdout);
		free(l.lat);
	}
	free(path);
	return rc;
}
