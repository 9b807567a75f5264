/*
 * rpc-daemon-status.c: daemon.status reports what the daemon is and how
 * busy it is: version, pid, uptime, socket, config, connections (with
 * their queued output), requests, workers and the methods it serves.
 */
#include <unistd.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/paths.h"
#include "daemon/util.h"

static int daemon_status_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_daemon_status = {
	.name = "daemon.status",
	.description = "Reports version, pid, uptime, connections, requests, "
	               "workers and methods.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = daemon_status_exec,
};

static int
daemon_status_exec(struct dmn_request *req, char **cause)
{
	struct dmn_ctx *ctx = dmn_request_ctx(req);
	const struct dmn_config *cfg = ctx->config;
	struct dmn_session *s;
	json_t *result, *conns, *reqs, *workers, *methods;
	size_t paused = 0, output = 0, pending = 0;

	(void)cause;
	TAILQ_FOREACH(s, &ctx->sessions, entry) {
		if (s->paused)
			paused++;
		if (s->queued != NULL)
			output += s->queued(s);
		pending += s->npending;
	}
	conns = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "open",
	    (json_int_t)ctx->nsessions, "max", (json_int_t)cfg->max_connections,
	    "total", (json_int_t)ctx->conns_total, "refused",
	    (json_int_t)ctx->conns_refused, "paused", (json_int_t)paused,
	    "output_bytes", (json_int_t)output);
	reqs = json_pack("{s:I, s:I, s:I}", "total",
	    (json_int_t)ctx->requests_total, "pending", (json_int_t)pending,
	    "live", (json_int_t)atomic_load(&ctx->live));
	workers = json_pack("{s:I, s:I, s:I}", "threads",
	    (json_int_t)dmn_pool_threads(ctx->pool), "busy",
	    (json_int_t)dmn_pool_busy(ctx->pool), "queued",
	    (json_int_t)dmn_pool_queued(ctx->pool));
	methods = json_array();
	for (size_t i = 0; i < ctx->nmethods; i++) {
		const struct dmn_method *m = ctx->methods[i];

		if ((m->flags & DMN_METHOD_DEBUG) == 0 || cfg->debug_methods)
			json_array_append_new(methods, json_string(m->name));
	}
	result = json_object();
	json_object_set_new(result, "version", json_string(AGENTD_VERSION));
	json_object_set_new(result, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(result, "uptime_ms",
	    json_integer((json_int_t)(clock_mono_ms() - ctx->start_ms)));
	json_object_set_new(result, "socket",
	    ctx->socket_path != NULL ? json_string(ctx->socket_path)
	                             : json_null());
	json_object_set_new(result, "config",
	    cfg->file != NULL ? json_string(cfg->file) : json_null());
	json_object_set_new(result, "datadir", json_string(dmn_datadir));
	json_object_set_new(
	    result, "log_level", json_string(log_level_name(log_level)));
	json_object_set_new(result, "stopping", json_boolean(ctx->stopping));
	json_object_set_new(result, "connections", conns);
	json_object_set_new(result, "requests", reqs);
	json_object_set_new(result, "workers", workers);
	json_object_set_new(result, "methods", methods);
	dmn_request_reply(req, result);
	return 0;
}
