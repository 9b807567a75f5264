/*
 * rpc-trace-list.c: trace.list, the traces of the store, newest first.
 * Params (all optional): {"since", "until" (nanoseconds since the epoch,
 * bounding a trace's start), "agent", "outcome" ("ok", "error" or
 * "incomplete"), "limit" (1 to AGENT_TRACE_LIST_MAX)}.  Result:
 * {"traces": [{trace_id, name, agent, outcome, start_ns, end_ns,
 * duration_ms, span_count, input_tokens, output_tokens, skipped_lines,
 * bytes}], "truncated"}, as agent_trace_list() builds it.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int trace_list_check(const json_t *, char **);
static int trace_list_exec(struct dmn_request *, char **);
static void trace_list_work(void *);

const struct dmn_method dmn_method_trace_list = {
	.name = "trace.list",
	.description = "Lists stored traces, newest first, by time, agent "
	               "and outcome.",
	.flags = 0,
	.check = trace_list_check,
	.exec = trace_list_exec,
};

static int
trace_list_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v;

	if (params == NULL)
		return 0;
	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object");
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				xasprintf(cause,
				    "\"%s\" must be nanoseconds since the "
				    "epoch (a non-negative integer)",
				    key);
				return -1;
			}
		} else if (strcmp(key, "limit") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > AGENT_TRACE_LIST_MAX) {
				xasprintf(cause,
				    "\"limit\" must be an integer from 1 to %d",
				    AGENT_TRACE_LIST_MAX);
				return -1;
			}
		} else if (strcmp(key, "agent") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > 64) {
				xasprintf(cause,
				    "\"agent\" must be a name of 1 to 64 "
				    "characters");
				return -1;
			}
		} else if (strcmp(key, "outcome") == 0) {
			if (!json_is_string(v) ||
			    (strcmp(json_string_value(v), "ok") != 0 &&
			        strcmp(json_string_value(v), "error") != 0 &&
			        strcmp(json_string_value(v), "incomplete") !=
			            0)) {
				xasprintf(cause,
				    "\"outcome\" must be \"ok\", \"error\" or "
				    "\"incomplete\"");
				return -1;
			}
		} else {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
	}
	return 0;
}

/* Listing reads trace files: it runs on a worker. */
struct trace_list_job {
	struct dmn_request *req;
	struct agent_runtime *rt;
};

static void
trace_list_work(void *arg)
{
	struct trace_list_job *job = arg;
	struct agent_trace_filter f;
	const json_t *p = dmn_request_params(job->req);
	json_t *v;
	char *dir, *why = NULL;

	memset(&f, 0, sizeof f);
	f.since_ns = (uint64_t)json_integer_value(json_object_get(p, "since"));
	f.until_ns = (uint64_t)json_integer_value(json_object_get(p, "until"));
	f.agent = json_string_value(json_object_get(p, "agent"));
	f.outcome = json_string_value(json_object_get(p, "outcome"));
	f.limit = (size_t)json_integer_value(json_object_get(p, "limit"));
	dir = agent_runtime_trace_dir(job->rt, &why);
	v = dir != NULL ? agent_trace_list(dir, &f, &why) : NULL;
	if (v == NULL) {
		dmn_agent_error(job->req,
		    dir != NULL ? AGENT_ERR_PARAMS : AGENT_ERR_UNKNOWN_RUN, why,
		    NULL);
		free(why);
	} else {
		dmn_request_reply(job->req, v);
	}
	free(dir);
	free(job);
}

static int
trace_list_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct trace_list_job *job;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->rt = dmn_agent_runtime(a);
	if (dmn_pool_submit(dmn_request_pool(req), trace_list_work, NULL, job,
	        cause) != 0) {
		free(job);
		return -1;
	}
	return 0;
}
