/*
 * server.c: the daemon around the event loop.
 *
 * It owns the event base, the queue into the loop, the worker pool, the
 * listening socket and the signal, watchdog and shutdown timers.
 *
 * Shutdown (SIGTERM, SIGINT): stop accepting and remove the socket file,
 * stop reading requests, close idle connections, and wait for the
 * requests in flight.  When shutdown_timeout_ms passes first, the pending
 * requests are cancelled and answered with -32005; a second later
 * whatever is left is closed.  Then the loop ends, the pool is joined and
 * everything is freed.
 *
 * Reload (SIGHUP): read the config again.  A bad one is logged and the old
 * one stays.  Limits and the log level apply at once, to open connections
 * too; what cannot change live (the socket, its mode, the worker count)
 * keeps its running value and is logged as needing a restart.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/runtime.h"
#include "daemon/sockpath.h"
#include "daemon/util.h"

/* How often shutdown checks whether it is done. */
#define STOP_POLL_MS 20
/* After the deadline's cancellations, how long answers may take to go. */
#define STOP_GRACE_MS 1000
/* How long accepting pauses after running out of descriptors. */
#define ACCEPT_BACKOFF_MS 1000
/* How often STATUS= is refreshed (only when it changed). */
#define STATUS_MS 5000
/* How long the pool may take to finish after the loop ends. */
#define POOL_JOIN_MS 5000

struct dmn_server {
	char *config_file; /* -c, or NULL */
	char *socket_flag; /* -s, or NULL */
	int log_level_flag;
	struct dmn_config *config;
	struct event_base *base;
	struct dmn_queue *queue;
	struct dmn_pool *pool;
	struct dmn_ctx ctx;
	struct dmn_listener listener;
	char *socket_path;

	struct event *accept_ev;
	struct event *accept_retry;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;
	struct event *watchdog;
	struct event *status_timer;
	struct event *stop_timer;
	char *last_status;

	int stop_phase; /* 0 running, 1 draining, 2 cancelled */
	uint64_t stop_deadline;
	int stuck; /* pool threads would not stop: leave memory */
};

static void server_accept_cb(evutil_socket_t, short, void *);
static void server_accept_retry_cb(evutil_socket_t, short, void *);
static void server_signal_cb(evutil_socket_t, short, void *);
static void server_watchdog_cb(evutil_socket_t, short, void *);
static void server_status_cb(evutil_socket_t, short, void *);
static void server_stop_cb(evutil_socket_t, short, void *);
static void server_stop(struct dmn_server *, int);
static void server_reload(struct dmn_server *);
static void server_notify_status(struct dmn_server *, int);
static void server_add_timer(struct event *, uint64_t);
static void server_options(const struct dmn_server *, struct dmn_options *);

struct dmn_config *
dmn_options_config(const struct dmn_options *opts, char **cause)
{
	struct stat st;

	if (opts->config_file != NULL)
		return dmn_config_load(opts->config_file, cause);
	if (stat(DMN_CONFIG_PATH, &st) == 0)
		return dmn_config_load(DMN_CONFIG_PATH, cause);
	if (errno != ENOENT) {
		xasprintf(cause, "%s: %s", DMN_CONFIG_PATH, strerror(errno));
		return NULL;
	}
	return dmn_config_new();
}

int
dmn_options_apply(
    const struct dmn_options *opts, struct dmn_config *c, char **cause)
{
	char *path;

	/* -s beats the config's socket, which beats the environment. */
	path = dmn_socket_path(
	    opts->socket != NULL ? opts->socket : c->socket, cause);
	if (path == NULL)
		return -1;
	free(c->socket);
	c->socket = path;
	if (opts->log_level != -1)
		c->log_level = opts->log_level;
	return 0;
}

/* Rebuilds the options from what the server kept. */
static void
server_options(const struct dmn_server *srv, struct dmn_options *opts)
{
	opts->config_file = srv->config_file;
	opts->socket = srv->socket_flag;
	opts->log_level = srv->log_level_flag;
}

static void
server_add_timer(struct event *ev, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(ev, &tv);
}

struct dmn_server *
dmn_server_new(
    const struct dmn_options *opts, struct dmn_config *config, char **cause)
{
	struct dmn_server *srv;
	struct event_config *evcfg;
	uint64_t usec = 0;
	size_t workers;
	long ncpu;

	srv = xcalloc(1, sizeof *srv);
	srv->listener.fd = -1;
	srv->config = config;
	if (opts->config_file != NULL)
		srv->config_file = xstrdup(opts->config_file);
	if (opts->socket != NULL)
		srv->socket_flag = xstrdup(opts->socket);
	srv->log_level_flag = opts->log_level;
	log_level = config->log_level;

	/*
	 * The changelist folds an event added and deleted in one turn of
	 * the loop into no epoll_ctl() at all.
	 */
	if ((evcfg = event_config_new()) == NULL)
		fatalx("cannot allocate the event configuration");
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	srv->base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	if (srv->base == NULL) {
		xasprintf(cause, "cannot create the event base");
		goto fail;
	}
	srv->queue = dmn_queue_new(srv->base);
	workers = config->workers;
	if (workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		workers = ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : (size_t)ncpu;
	}
	if ((srv->pool = dmn_pool_new(srv->queue, workers, cause)) == NULL)
		goto fail;
	dmn_ctx_init(&srv->ctx, srv->base, srv->queue, srv->pool, config);
	if ((srv->ctx.agent = dmn_agent_new(config, cause)) == NULL)
		goto fail;

	if (dmn_listener_open(&srv->listener, config->socket,
	        config->socket_mode, cause) != 0)
		goto fail;
	if (srv->listener.path != NULL)
		srv->socket_path = xstrdup(srv->listener.path);
	srv->ctx.socket_path = srv->socket_path;

	srv->accept_ev = event_new(srv->base, srv->listener.fd,
	    EV_READ | EV_PERSIST, server_accept_cb, srv);
	srv->accept_retry = evtimer_new(srv->base, server_accept_retry_cb, srv);
	srv->sig_term = evsignal_new(srv->base, SIGTERM, server_signal_cb, srv);
	srv->sig_int = evsignal_new(srv->base, SIGINT, server_signal_cb, srv);
	srv->sig_hup = evsignal_new(srv->base, SIGHUP, server_signal_cb, srv);
	srv->status_timer =
	    event_new(srv->base, -1, EV_PERSIST, server_status_cb, srv);
	srv->stop_timer =
	    event_new(srv->base, -1, EV_PERSIST, server_stop_cb, srv);
	if (srv->accept_ev == NULL || srv->accept_retry == NULL ||
	    srv->sig_term == NULL || srv->sig_int == NULL ||
	    srv->sig_hup == NULL || srv->status_timer == NULL ||
	    srv->stop_timer == NULL)
		fatalx("cannot allocate events");
	if (event_add(srv->accept_ev, NULL) != 0 ||
	    event_add(srv->sig_term, NULL) != 0 ||
	    event_add(srv->sig_int, NULL) != 0 ||
	    event_add(srv->sig_hup, NULL) != 0) {
		xasprintf(cause, "cannot add the listener and signal events");
		goto fail;
	}
	if (getenv("NOTIFY_SOCKET") != NULL)
		server_add_timer(srv->status_timer, STATUS_MS);

	/* WATCHDOG=1 at half the interval systemd asked for. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		srv->watchdog = event_new(
		    srv->base, -1, EV_PERSIST, server_watchdog_cb, srv);
		if (srv->watchdog == NULL)
			fatalx("cannot allocate the watchdog event");
		server_add_timer(
		    srv->watchdog, usec / 2000 > 0 ? usec / 2000 : 1);
		log_info("watchdog: every %llu ms",
		    (unsigned long long)(usec / 2000));
	}
	return srv;

fail:
	dmn_server_free(srv);
	return NULL;
}

int
dmn_server_run(struct dmn_server *srv)
{
	struct dmn_session *s, *s1;

	log_notice("agentd %s: pid %ld, socket %s, %zu workers, config %s",
	    AGENTD_VERSION, (long)getpid(),
	    srv->socket_path != NULL ? srv->socket_path : "(inherited)",
	    dmn_pool_threads(srv->pool),
	    srv->config->file != NULL ? srv->config->file
	                              : "(built-in defaults)");
	sd_notifyf(0, "READY=1\nSTATUS=Listening on %s\nMAINPID=%lu",
	    srv->socket_path != NULL ? srv->socket_path : "an inherited socket",
	    (unsigned long)getpid());

	if (event_base_dispatch(srv->base) == -1)
		log_err("the event loop failed");

	/* The loop ended: close what is left, then stop the workers. */
	TAILQ_FOREACH_SAFE(s, &srv->ctx.sessions, entry, s1)
		dmn_conn_close(dmn_conn_from_session(s));
	if (dmn_pool_stop(srv->pool, POOL_JOIN_MS) != 0) {
		log_err("worker threads did not stop; exiting without "
		        "cleaning up");
		srv->stuck = 1;
		return 0;
	}
	dmn_queue_run(srv->queue);
	if (atomic_load(&srv->ctx.live) != 0)
		log_err("%zu requests were never answered",
		    atomic_load(&srv->ctx.live));
	log_notice("stopped");
	return 0;
}

void
dmn_server_free(struct dmn_server *srv)
{
	if (srv == NULL || srv->stuck)
		return;
	if (srv->pool != NULL && dmn_pool_stop(srv->pool, POOL_JOIN_MS) != 0)
		return;
	dmn_pool_free(srv->pool);
	dmn_agent_free(srv->ctx.agent);
	dmn_listener_close(&srv->listener);
	if (srv->accept_ev != NULL)
		event_free(srv->accept_ev);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->sig_term != NULL)
		event_free(srv->sig_term);
	if (srv->sig_int != NULL)
		event_free(srv->sig_int);
	if (srv->sig_hup != NULL)
		event_free(srv->sig_hup);
	if (srv->watchdog != NULL)
		event_free(srv->watchdog);
	if (srv->status_timer != NULL)
		event_free(srv->status_timer);
	if (srv->stop_timer != NULL)
		event_free(srv->stop_timer);
	dmn_queue_free(srv->queue);
	dmn_ctx_free(&srv->ctx);
	if (srv->base != NULL)
		event_base_free(srv->base);
	dmn_config_free(srv->config);
	free(srv->socket_path);
	free(srv->config_file);
	free(srv->socket_flag);
	free(srv->last_status);
	free(srv);
}

/* Takes the connections waiting, a bounded number per turn. */
static void
server_accept_cb(evutil_socket_t lfd, short events, void *arg)
{
	struct dmn_server *srv = arg;
	int fd;

	(void)events;
	for (int i = 0; i < 64; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Back off instead of spinning on the error. */
				log_warn("accept: %s; pausing for %d ms",
				    strerror(errno), ACCEPT_BACKOFF_MS);
				event_del(srv->accept_ev);
				server_add_timer(
				    srv->accept_retry, ACCEPT_BACKOFF_MS);
				return;
			default:
				log_warn("accept: %s", strerror(errno));
				return;
			}
		}
		dmn_conn_new(&srv->ctx, fd);
	}
}

static void
server_accept_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dmn_server *srv = arg;

	(void)fd;
	(void)events;
	if (srv->ctx.stopping)
		return;
	log_info("accept: resuming");
	event_add(srv->accept_ev, NULL);
}

static void
server_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct dmn_server *srv = arg;

	(void)events;
	if (sig == SIGHUP)
		server_reload(srv);
	else
		server_stop(srv, (int)sig);
}

static void
server_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* Sends STATUS= when it changed (or always, if force). */
static void
server_notify_status(struct dmn_server *srv, int force)
{
	struct dmn_session *s;
	size_t pending = 0;
	char *status;

	TAILQ_FOREACH(s, &srv->ctx.sessions, entry)
		pending += s->npending;
	xasprintf(&status,
	    "STATUS=%s; %zu connections, %zu requests pending, %zu of %zu "
	    "workers busy",
	    srv->ctx.stopping ? "Shutting down" : "Serving", srv->ctx.nsessions,
	    pending, dmn_pool_busy(srv->pool), dmn_pool_threads(srv->pool));
	if (force || srv->last_status == NULL ||
	    strcmp(status, srv->last_status) != 0) {
		sd_notify(0, status);
		free(srv->last_status);
		srv->last_status = status;
	} else
		free(status);
}

static void
server_status_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	server_notify_status(arg, 0);
}

static void
server_reload(struct dmn_server *srv)
{
	struct dmn_options opts;
	struct dmn_config *old = srv->config, *c;
	struct dmn_session *s, *s1;
	char *cause = NULL, *was, *now;

	if (srv->ctx.stopping)
		return;
	sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
	server_options(srv, &opts);
	log_notice("SIGHUP: reloading %s",
	    opts.config_file != NULL ? opts.config_file : "the configuration");
	c = dmn_options_config(&opts, &cause);
	if (c != NULL && dmn_options_apply(&opts, c, &cause) != 0) {
		dmn_config_free(c);
		c = NULL;
	}
	if (c == NULL) {
		log_err("reload failed; keeping the running configuration: %s",
		    cause);
		free(cause);
		sd_notify(0, "READY=1");
		server_notify_status(srv, 1);
		return;
	}
	for (size_t i = 0; i < dmn_ndirectives; i++) {
		const struct dmn_directive *d = &dmn_directives[i];

		if ((d->flags & DMN_DIRECTIVE_RESTART) == 0 ||
		    dmn_config_equal(d, old, c))
			continue;
		was = dmn_config_value(d, old);
		now = dmn_config_value(d, c);
		log_warn("%s: changed from %s to %s; it takes effect at the "
		         "next restart",
		    d->name, was, now);
		free(was);
		free(now);
		dmn_config_copy_value(d, c, old);
	}
	srv->config = c;
	srv->ctx.config = c;
	dmn_agent_reload_async(srv->ctx.agent, srv->pool, c);
	log_level = c->log_level;
	TAILQ_FOREACH_SAFE(s, &srv->ctx.sessions, entry, s1)
		dmn_conn_reconfigure(dmn_conn_from_session(s));
	dmn_config_free(old);
	log_notice("configuration reloaded from %s",
	    c->file != NULL ? c->file : "built-in defaults");
	sd_notify(0, "READY=1");
	server_notify_status(srv, 1);
}

static void
server_stop(struct dmn_server *srv, int sig)
{
	struct dmn_session *s, *s1;

	if (srv->ctx.stopping) {
		log_notice("%s: already shutting down", strsignal(sig));
		return;
	}
	srv->ctx.stopping = 1;
	srv->stop_phase = 1;
	srv->stop_deadline = clock_mono_ms() + srv->config->shutdown_timeout_ms;
	log_notice("%s: shutting down (waiting up to %llu ms for requests)",
	    strsignal(sig),
	    (unsigned long long)srv->config->shutdown_timeout_ms);
	sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");

	/* Stop accepting: the socket file goes now (if it is ours). */
	event_del(srv->accept_ev);
	event_del(srv->accept_retry);
	dmn_listener_close(&srv->listener);
	event_del(srv->sig_hup);

	TAILQ_FOREACH_SAFE(s, &srv->ctx.sessions, entry, s1)
		dmn_conn_drain(dmn_conn_from_session(s));
	server_add_timer(srv->stop_timer, STOP_POLL_MS);
	server_stop_cb(-1, 0, srv);
}

/* Shutdown's progress: done, deadline, or the end of the grace. */
static void
server_stop_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dmn_server *srv = arg;
	struct dmn_session *s, *s1;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)events;
	if (srv->ctx.nsessions == 0 && atomic_load(&srv->ctx.live) == 0 &&
	    dmn_pool_busy(srv->pool) == 0 && dmn_pool_queued(srv->pool) == 0) {
		event_base_loopbreak(srv->base);
		return;
	}
	if (srv->stop_phase == 1 && now >= srv->stop_deadline) {
		srv->stop_phase = 2;
		log_warn("shutdown_timeout_ms (%llu) passed: cancelling what "
		         "is left",
		    (unsigned long long)srv->config->shutdown_timeout_ms);
		TAILQ_FOREACH_SAFE(s, &srv->ctx.sessions, entry, s1)
			dmn_session_cancel_all(
			    s, "the daemon is shutting down");
		return;
	}
	if (srv->stop_phase == 2 && now >= srv->stop_deadline + STOP_GRACE_MS) {
		log_warn("shutdown: closing %zu connections, %zu requests "
		         "still running",
		    srv->ctx.nsessions, atomic_load(&srv->ctx.live));
		event_base_loopbreak(srv->base);
	}
}
