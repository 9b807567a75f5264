/*
 * rpc-models-list.c: models.list, the model the daemon serves:
 * {"models": [{name, kind, spec, n_ctx, caps, default}]}, or an empty
 * list and "error" saying why there is none (no GGUF file found, a file
 * that failed to load).  The model is the one agent.run and
 * model.generate use; a reload (SIGHUP, plugins.reload) may replace it.
 */
#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static int models_list_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_models_list = {
	.name = "models.list",
	.description = "Lists the model the daemon serves, with its context "
	               "size and capabilities.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = models_list_exec,
};

static int
models_list_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;

	(void)cause;
	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	dmn_request_reply(req, agent_runtime_models_json(dmn_agent_runtime(a)));
	return 0;
}
