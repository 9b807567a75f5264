/*
 * rpc-daemon-sleep.c: daemon.sleep, a debugging method served only with
 * "debug_methods yes".  It waits on a worker thread, sending "daemon.tick"
 * notifications on the way if asked, and answers from that thread: the
 * whole path a long method takes (worker pool, notifications, an answer
 * from another thread, cancellation) with no model behind it.
 *
 * Params: {"ms": 0..60000, "ticks": 0..100 (default 0)}.
 * Result: {"slept_ms": N}.  Error -32005 when its client went away or the
 * daemon passed its shutdown deadline first.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

#define SLEEP_MAX_MS    60000
#define SLEEP_MAX_TICKS 100

struct sleep_job {
	struct dmn_request *req;
	uint64_t ms;
	uint64_t ticks;
};

static int sleep_member(
    const json_t *, const char *, uint64_t, int, uint64_t *, char **);
static int daemon_sleep_check(const json_t *, char **);
static int daemon_sleep_exec(struct dmn_request *, char **);
static void daemon_sleep_work(void *);

const struct dmn_method dmn_method_daemon_sleep = {
	.name = "daemon.sleep",
	.description = "Waits ms milliseconds on a worker, sending ticks "
	               "(debugging).",
	.flags = DMN_METHOD_DEBUG,
	.check = daemon_sleep_check,
	.exec = daemon_sleep_exec,
};

/* Reads an integer member in [0, max]; absent gives 0 unless required. */
static int
sleep_member(const json_t *params, const char *name, uint64_t max, int required,
    uint64_t *out, char **cause)
{
	json_t *v = json_object_get(params, name);

	*out = 0;
	if (v == NULL) {
		if (!required)
			return 0;
		xasprintf(cause, "\"%s\" is required", name);
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max) {
		xasprintf(cause, "\"%s\" must be an integer from 0 to %llu",
		    name, (unsigned long long)max);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int
daemon_sleep_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v;
	uint64_t n;

	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object with \"ms\"");
		return -1;
	}
	/* jansson's iterators take a non-const pointer but only read. */
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, "ms") != 0 && strcmp(key, "ticks") != 0) {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
	}
	if (sleep_member(params, "ms", SLEEP_MAX_MS, 1, &n, cause) != 0 ||
	    sleep_member(params, "ticks", SLEEP_MAX_TICKS, 0, &n, cause) != 0)
		return -1;
	return 0;
}

static int
daemon_sleep_exec(struct dmn_request *req, char **cause)
{
	struct sleep_job *job;
	json_t *params = dmn_request_params(req);

	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->ms = (uint64_t)json_integer_value(json_object_get(params, "ms"));
	job->ticks =
	    (uint64_t)json_integer_value(json_object_get(params, "ticks"));
	if (dmn_pool_submit(dmn_request_pool(req), daemon_sleep_work, NULL, job,
	        cause) != 0) {
		free(job);
		return -1;
	}
	return 0;
}

/* On a worker: sleep in short steps, watching the cancel flag. */
static void
daemon_sleep_work(void *arg)
{
	struct sleep_job *job = arg;
	struct timespec ts;
	uint64_t start = clock_mono_ms(), elapsed, wait, sent = 0;

	for (;;) {
		if (dmn_request_cancelled(job->req)) {
			dmn_request_error(job->req, DMN_ERR_CANCELLED, NULL,
			    json_pack("{s:s}", "detail",
			        "the client went away or the daemon is "
			        "stopping"));
			break;
		}
		elapsed = clock_mono_ms() - start;
		/* Tick k of n is due at ms * k / n. */
		while (sent < job->ticks &&
		    elapsed * job->ticks >= job->ms * (sent + 1)) {
			sent++;
			dmn_request_notify(job->req, "daemon.tick",
			    json_pack("{s:I, s:I}", "tick", (json_int_t)sent,
			        "of", (json_int_t)job->ticks));
		}
		if (elapsed >= job->ms) {
			dmn_request_reply(job->req,
			    json_pack(
			        "{s:I}", "slept_ms", (json_int_t)elapsed));
			break;
		}
		wait = job->ms - elapsed < 5 ? job->ms - elapsed : 5;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)wait * 1000000L;
		nanosleep(&ts, NULL);
	}
	free(job);
}
