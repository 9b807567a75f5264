/*
 * rpc-plugins-reload.c: plugins.reload, reloads the tools (built-ins, C
 * plugins, Lua tools) and the Lua agents from the running configuration,
 * on a worker, as SIGHUP does.  Runs in flight keep the tools and agents
 * they started with.  Result: {"tools": N, "generation": G, "agents": N}.
 */
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int plugins_reload_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_plugins_reload = {
	.name = "plugins.reload",
	.description = "Reloads tools, plugins and Lua agents without "
	               "dropping runs in flight.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = plugins_reload_exec,
};

static int
plugins_reload_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	return dmn_agent_reload_request(
	    a, req, dmn_request_ctx(req)->config, cause);
}
