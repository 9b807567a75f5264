/*
 * rpc-agents-list.c: agents.list, the agents agent.run accepts: the
 * built-in "react" and the Lua agents of agents_dir, in name order:
 * {"agents": [{name, description, source, path (Lua only)}]}.
 */
#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int agents_list_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_agents_list = {
	.name = "agents.list",
	.description = "Lists the agents: the built-in ReAct loop and the "
	               "Lua agents.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = agents_list_exec,
};

static int
agents_list_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	dmn_request_reply(req, agent_runtime_agents_json(dmn_agent_runtime(a)));
	return 0;
}
