/*
 * rpc-trace-export.c: trace.export, traces as OTLP/JSON.  Params:
 * {"trace_id"} or {"trace_ids": [...]} (1 to TRACE_EXPORT_MAX ids, each
 * 32 lower-case hex).  Result: one OTLP TracesData object
 * ({"resourceSpans": [...]}) holding every span of the traces, which an
 * OpenTelemetry collector's OTLP/HTTP JSON receiver (POST /v1/traces)
 * accepts as it is (docs/traces.md).  Error -32001 for an unknown trace.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

#define TRACE_EXPORT_MAX 100

static int trace_export_check(const json_t *, char **);
static int trace_export_exec(struct dmn_request *, char **);
static void trace_export_work(void *);

const struct dmn_method dmn_method_trace_export = {
	.name = "trace.export",
	.description = "Returns traces as OTLP/JSON TracesData.",
	.flags = 0,
	.check = trace_export_check,
	.exec = trace_export_exec,
};

static int
trace_export_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v, *id;
	size_t i;
	int have = 0;

	if (!json_is_object(params)) {
		xasprintf(cause,
		    "params must be {\"trace_id\"} or "
		    "{\"trace_ids\"}");
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, "trace_id") == 0) {
			if (!json_is_string(v) ||
			    !agent_trace_id_valid(json_string_value(v))) {
				xasprintf(cause,
				    "\"trace_id\" must be 32 lower-case hex "
				    "digits");
				return -1;
			}
		} else if (strcmp(key, "trace_ids") == 0) {
			if (!json_is_array(v) || json_array_size(v) == 0 ||
			    json_array_size(v) > TRACE_EXPORT_MAX) {
				xasprintf(cause,
				    "\"trace_ids\" must be an array of 1 to "
				    "%d trace ids",
				    TRACE_EXPORT_MAX);
				return -1;
			}
			json_array_foreach(v, i, id)
			{
				if (!json_is_string(id) ||
				    !agent_trace_id_valid(
				        json_string_value(id))) {
					xasprintf(cause,
					    "\"trace_ids\"[%zu] must be 32 "
					    "lower-case hex digits",
					    i);
					return -1;
				}
			}
		} else {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
		have++;
	}
	if (have != 1) {
		xasprintf(cause,
		    "give exactly one of \"trace_id\" and \"trace_ids\"");
		return -1;
	}
	return 0;
}

/* Export reads trace files: it runs on a worker. */
struct trace_export_job {
	struct dmn_request *req;
	struct agent_runtime *rt;
};

static void
trace_export_work(void *arg)
{
	struct trace_export_job *job = arg;
	const json_t *p = dmn_request_params(job->req);
	json_t *ids, *v = NULL;
	char *dir, *why = NULL;
	int unknown = 0;

	ids = json_object_get(p, "trace_ids");
	if (ids != NULL)
		json_incref(ids);
	else
		ids = json_pack("[O]", json_object_get(p, "trace_id"));
	dir = agent_runtime_trace_dir(job->rt, &why);
	if (dir != NULL)
		v = agent_trace_export(
		    dir, ids, "agentd", AGENTD_VERSION, &unknown, &why);
	if (v == NULL) {
		dmn_agent_error(job->req,
		    dir == NULL || unknown ? AGENT_ERR_UNKNOWN_RUN
		                           : AGENT_ERR_INTERNAL,
		    why, NULL);
		free(why);
	} else {
		dmn_request_reply(job->req, v);
	}
	json_decref(ids);
	free(dir);
	free(job);
}

static int
trace_export_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct trace_export_job *job;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->rt = dmn_agent_runtime(a);
	if (dmn_pool_submit(dmn_request_pool(req), trace_export_work, NULL, job,
	        cause) != 0) {
		free(job);
		return -1;
	}
	return 0;
}
