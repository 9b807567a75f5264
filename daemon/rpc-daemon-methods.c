/*
 * rpc-daemon-methods.c: daemon.methods lists the methods this daemon
 * serves, with their one-line descriptions, sorted by name.
 */
#include <jansson.h>

#include "daemon/daemon-int.h"

static int daemon_methods_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_daemon_methods = {
	.name = "daemon.methods",
	.description = "Lists the methods this daemon serves, with a line "
	               "on each.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = daemon_methods_exec,
};

static int
daemon_methods_exec(struct dmn_request *req, char **cause)
{
	const struct dmn_ctx *ctx = dmn_request_ctx(req);
	json_t *list;

	(void)cause;
	list = json_array();
	for (size_t i = 0; i < ctx->nmethods; i++) {
		const struct dmn_method *m = ctx->methods[i];

		if ((m->flags & DMN_METHOD_DEBUG) != 0 &&
		    !ctx->config->debug_methods)
			continue;
		json_array_append_new(list,
		    json_pack("{s:s, s:s}", "name", m->name, "description",
		        m->description));
	}
	dmn_request_reply(req, json_pack("{s:o}", "methods", list));
	return 0;
}
