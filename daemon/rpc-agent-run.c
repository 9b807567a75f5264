/*
 * rpc-agent-run.c: agent.run, runs an agent on a task (DESIGN.md "Method
 * shapes").  Params: {"input", "agent" ("react"), "tools" (all),
 * "max_steps" (8), "max_tokens" (1024 per model call), "timeout_ms"
 * (120000), "temperature", "top_k", "top_p", "min_p", "seed", "stream"
 * (false), "traceparent", "strategy" (docs/strategies.md; the result
 * then has a "strategy" report)}.  The run executes on a worker; with "stream"
 * the client gets agent.event notifications ({run_id, request_id, seq,
 * branch, type, ...}: start, step, token, thought, action, observation,
 * final) before the response.  Result: {run_id, trace_id, agent, answer,
 * ending, error (unless final_answer), steps, usage}.  Errors: -32007
 * unknown agent or tool, -32002 too many runs, -32003 no model.
 */
#include <stdlib.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

/* What a run's hooks need: the request and whether to stream. */
struct run_job {
	struct dmn_request *req;
	struct agent_run *run;
	int stream;
};

static int agent_run_check(const json_t *, char **);
static int agent_run_exec(struct dmn_request *, char **);
static void run_job_work(void *);
static void run_hook_event(void *, json_t *);
static void run_hook_done(void *, json_t *);
static int run_hook_gone(void *);

const struct dmn_method dmn_method_agent_run = {
	.name = "agent.run",
	.description = "Runs an agent on a task; streams agent.event "
	               "notifications with \"stream\": true.",
	.flags = 0,
	.check = agent_run_check,
	.exec = agent_run_exec,
};

static int
agent_run_check(const json_t *params, char **cause)
{
	return agent_run_params_check(params, cause);
}

static void
run_hook_event(void *arg, json_t *params)
{
	struct run_job *job = arg;
	const json_t *id;

	if (!job->stream) {
		json_decref(params);
		return;
	}
	id = dmn_request_id(job->req);
	json_object_set_new(params, "request_id",
	    id != NULL ? json_deep_copy(id) : json_null());
	dmn_request_notify(job->req, "agent.event", params);
}

static void
run_hook_done(void *arg, json_t *result)
{
	struct run_job *job = arg;

	dmn_request_reply(job->req, result);
}

static int
run_hook_gone(void *arg)
{
	struct run_job *job = arg;

	return dmn_request_cancelled(job->req);
}

/* On a worker: the whole run, then the job goes. */
static void
run_job_work(void *arg)
{
	struct run_job *job = arg;

	agent_run_execute(job->run);
	agent_run_unref(job->run);
	free(job);
}

static int
agent_run_exec(struct dmn_request *req, char **cause)
{
	struct agent_run_hooks hooks;
	struct dmn_agent *a;
	struct run_job *job;
	enum agent_err err;
	char *why = NULL;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->stream =
	    json_is_true(json_object_get(dmn_request_params(req), "stream"));
	hooks.arg = job;
	hooks.event = run_hook_event;
	hooks.done = run_hook_done;
	hooks.gone = run_hook_gone;
	job->run = agent_run_new(
	    dmn_agent_runtime(a), dmn_request_params(req), &hooks, &err, &why);
	if (job->run == NULL) {
		dmn_agent_error(req, err, why, NULL);
		free(why);
		free(job);
		return 0;
	}
	if (dmn_pool_submit(
	        dmn_request_pool(req), run_job_work, NULL, job, cause) != 0) {
		agent_run_abort(job->run, *cause);
		agent_run_unref(job->run);
		free(job);
		return -1;
	}
	return 0;
}
