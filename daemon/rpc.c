/*
 * rpc.c: the method table.
 *
 * Every JSON-RPC method is one file, daemon/rpc-<noun>-<verb>.c, that
 * exports one struct dmn_method; this table lists them all, sorted by
 * name, and daemon.methods serves it.  Adding a method is adding its file,
 * one extern line and one entry below.
 */
#include <string.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

extern const struct dmn_method dmn_method_agent_cancel;
extern const struct dmn_method dmn_method_agent_run;
extern const struct dmn_method dmn_method_agents_list;
extern const struct dmn_method dmn_method_daemon_methods;
extern const struct dmn_method dmn_method_daemon_ping;
extern const struct dmn_method dmn_method_daemon_sleep;
extern const struct dmn_method dmn_method_daemon_status;
extern const struct dmn_method dmn_method_eval_run;
extern const struct dmn_method dmn_method_model_generate;
extern const struct dmn_method dmn_method_models_list;
extern const struct dmn_method dmn_method_plugins_reload;
extern const struct dmn_method dmn_method_run_get;
extern const struct dmn_method dmn_method_runs_list;
extern const struct dmn_method dmn_method_tools_call;
extern const struct dmn_method dmn_method_tools_list;
extern const struct dmn_method dmn_method_trace_export;
extern const struct dmn_method dmn_method_trace_get;
extern const struct dmn_method dmn_method_trace_list;

/* Sorted by name; tests/unit/test-daemon-rpc.c checks it. */
const struct dmn_method *const dmn_methods[] = {
	&dmn_method_agent_cancel,
	&dmn_method_agent_run,
	&dmn_method_agents_list,
	&dmn_method_daemon_methods,
	&dmn_method_daemon_ping,
	&dmn_method_daemon_sleep,
	&dmn_method_daemon_status,
	&dmn_method_eval_run,
	&dmn_method_model_generate,
	&dmn_method_models_list,
	&dmn_method_plugins_reload,
	&dmn_method_run_get,
	&dmn_method_runs_list,
	&dmn_method_tools_call,
	&dmn_method_tools_list,
	&dmn_method_trace_export,
	&dmn_method_trace_get,
	&dmn_method_trace_list,
};
const size_t dmn_nmethods = sizeof dmn_methods / sizeof dmn_methods[0];

const struct dmn_method *
dmn_method_find(const struct dmn_method *const *tab, size_t n, const char *name,
    size_t len, int debug)
{
	for (size_t i = 0; i < n; i++) {
		const struct dmn_method *m = tab[i];

		if (strlen(m->name) != len || memcmp(m->name, name, len) != 0)
			continue;
		if ((m->flags & DMN_METHOD_DEBUG) != 0 && !debug)
			return NULL;
		return m;
	}
	return NULL;
}

int
dmn_params_none(const json_t *params, char **cause)
{
	if (params == NULL)
		return 0;
	if (json_is_object(params) && json_object_size(params) == 0)
		return 0;
	if (json_is_array(params) && json_array_size(params) == 0)
		return 0;
	xasprintf(cause, "this method takes no params");
	return -1;
}
