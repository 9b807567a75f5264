/*
 * rpc-run-get.c: run.get, one run's record: its summary, params and, once
 * it ended, the result agent.run answered.  Params: {"run_id"}.  Error
 * -32001 for a run the daemon does not know (or no longer keeps).
 */
#include <stdlib.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int run_get_check(const json_t *, char **);
static int run_get_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_run_get = {
	.name = "run.get",
	.description = "Returns one run: its state, params and result.",
	.flags = 0,
	.check = run_get_check,
	.exec = run_get_exec,
};

static int
run_get_check(const json_t *params, char **cause)
{
	return dmn_params_string(params, "run_id", cause);
}

static int
run_get_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	enum agent_err err;
	const char *id;
	json_t *v;
	char *why = NULL;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	id = json_string_value(
	    json_object_get(dmn_request_params(req), "run_id"));
	v = agent_runtime_run_json(dmn_agent_runtime(a), id, &err, &why);
	if (v == NULL) {
		dmn_agent_error(req, err, why,
		    json_pack(
		        "{s:s}", "hint", "runs.list lists the runs kept"));
		free(why);
		return 0;
	}
	dmn_request_reply(req, v);
	return 0;
}
