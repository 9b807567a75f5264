/*
 * rpc-agent-cancel.c: agent.cancel, asks a run to stop.  Params:
 * {"run_id"}.  The run stops within one token of the model, or abandons
 * the tool call it waits for, and agent.run answers with ending
 * "cancelled".  Result: {"run_id", "cancelled": true, or false when the
 * run had already ended}.  Error -32001 for an unknown run.
 */
#include <stdlib.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int agent_cancel_check(const json_t *, char **);
static int agent_cancel_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_agent_cancel = {
	.name = "agent.cancel",
	.description = "Cancels a run; it ends as \"cancelled\".",
	.flags = 0,
	.check = agent_cancel_check,
	.exec = agent_cancel_exec,
};

static int
agent_cancel_check(const json_t *params, char **cause)
{
	return dmn_params_string(params, "run_id", cause);
}

static int
agent_cancel_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	const char *id;
	char *why = NULL;
	int running = 0;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	id = json_string_value(
	    json_object_get(dmn_request_params(req), "run_id"));
	if (agent_runtime_cancel(dmn_agent_runtime(a), id, &running, &why) !=
	    0) {
		dmn_agent_error(req, AGENT_ERR_UNKNOWN_RUN, why,
		    json_pack("{s:s}", "hint", "runs.list lists the runs"));
		free(why);
		return 0;
	}
	dmn_request_reply(
	    req, json_pack("{s:s, s:b}", "run_id", id, "cancelled", running));
	return 0;
}
