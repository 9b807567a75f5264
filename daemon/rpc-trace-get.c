/*
 * rpc-trace-get.c: trace.get, one run's trace read back from the JSONL
 * store as a tree of spans.  Params: {"trace_id"} (32 lower-case hex, as
 * agent.run's result gives it).  Result: {"trace_id", "spans": [root
 * spans, each with "children"], "span_count", "skipped_lines"}.  Error
 * -32001 for an unknown trace.
 */
#include <stdlib.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int trace_get_check(const json_t *, char **);
static int trace_get_exec(struct dmn_request *, char **);
static void trace_get_work(void *);

const struct dmn_method dmn_method_trace_get = {
	.name = "trace.get",
	.description = "Returns a run's trace as a tree of spans.",
	.flags = 0,
	.check = trace_get_check,
	.exec = trace_get_exec,
};

static int
trace_get_check(const json_t *params, char **cause)
{
	return dmn_params_string(params, "trace_id", cause);
}

/*
 * Reading a trace file is a little I/O, bounded by AGENT_TRACE_MAX_FILE;
 * it stays off the loop on a worker all the same.
 */
struct trace_job {
	struct dmn_request *req;
	struct agent_runtime *rt;
};

static void
trace_get_work(void *arg)
{
	struct trace_job *job = arg;
	enum agent_err err;
	const char *id;
	json_t *v;
	char *why = NULL;

	id = json_string_value(
	    json_object_get(dmn_request_params(job->req), "trace_id"));
	v = agent_runtime_trace_get(job->rt, id, &err, &why);
	if (v == NULL) {
		dmn_agent_error(job->req, err, why, NULL);
		free(why);
	} else {
		dmn_request_reply(job->req, v);
	}
	free(job);
}

static int
trace_get_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct trace_job *job;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->rt = dmn_agent_runtime(a);
	if (dmn_pool_submit(
	        dmn_request_pool(req), trace_get_work, NULL, job, cause) != 0) {
		free(job);
		return -1;
	}
	return 0;
}
