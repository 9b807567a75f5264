/*
 * rpc-runs-list.c: runs.list, the runs in flight and the last finished
 * ones, newest first: {"runs": [{run_id, agent, state, input, trace_id,
 * created_ms, elapsed_ms, ending}], "active", "max_runs"}.
 */
#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int runs_list_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_runs_list = {
	.name = "runs.list",
	.description = "Lists the runs in flight and the last finished ones.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = runs_list_exec,
};

static int
runs_list_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	dmn_request_reply(req, agent_runtime_runs_json(dmn_agent_runtime(a)));
	return 0;
}
