/*
 * rpc-tools-list.c: tools.list, the tools the daemon offers, in name
 * order: {"tools": [{name, description, parameters, source}]}.
 */
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

static int tools_list_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_tools_list = {
	.name = "tools.list",
	.description = "Lists the tools: name, description, JSON Schema of "
	               "the arguments, source.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = tools_list_exec,
};

static int
tools_list_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct plug_set *set;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	set = plug_registry_get(dmn_agent_registry(a));
	dmn_request_reply(req, plug_set_list_json(set));
	plug_set_unref(set);
	return 0;
}
