/*
 * runtime.h: the daemon's side of the agent runtime: the tool registry
 * (built-in tools, C plugins, Lua tools) and the agent runtime (model,
 * Lua agents, runs, traces), built from agentd.conf and reachable from
 * every method through dmn_ctx's agent member.  Only daemon/ includes
 * it; the method files rpc-tools-*.c, rpc-agent*.c, rpc-runs-list.c,
 * rpc-run-get.c, rpc-trace-get.c and rpc-plugins-reload.c use it.
 */
#ifndef AGENTD_DAEMON_RUNTIME_H
#define AGENTD_DAEMON_RUNTIME_H

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"

struct plug_registry;

/*
 * Builds the registry and the runtime from c: loads the tools, the model
 * and the Lua agents (so it may take a while; call it before the loop
 * runs).  A missing model, ReAct template, tool folder or trace folder
 * is logged and leaves runs failing, tools missing or runs untraced, so
 * that the daemon starts without its data directory; only a registry
 * config that cannot work fails it.  Returns NULL with *cause.
 */
struct dmn_agent *dmn_agent_new(const struct dmn_config *c, char **cause);
/*
 * Frees everything.  Every run must have ended: call it after the worker
 * pool stopped.  NULL is accepted.
 */
void dmn_agent_free(struct dmn_agent *a);
/*
 * Reloads tools, plugins, Lua agents and the model from c on the worker
 * pool (SIGHUP).  The settings are copied at once, so c may go away.
 * Errors are logged; the running tools and agents stay.
 */
void dmn_agent_reload_async(
    struct dmn_agent *a, struct dmn_pool *pool, const struct dmn_config *c);
/*
 * plugins.reload: as dmn_agent_reload_async(), answering req when done
 * with {"tools", "generation", "agents"} or an error.  Returns 0, or -1
 * with *cause when the job could not be queued (req is then unanswered).
 */
int dmn_agent_reload_request(struct dmn_agent *a, struct dmn_request *req,
    const struct dmn_config *c, char **cause);

/* The registry and the runtime (borrowed, valid until dmn_agent_free). */
struct plug_registry *dmn_agent_registry(struct dmn_agent *a);
struct agent_runtime *dmn_agent_runtime(struct dmn_agent *a);

/*
 * For methods: the agent runtime of the daemon serving req.  Returns it,
 * or NULL after answering req with -32003 (no runtime in this daemon).
 */
struct dmn_agent *dmn_agent_of(struct dmn_request *req);
/*
 * Answers req with the JSON-RPC error that an agent_err maps to, with
 * cause as the data's "detail"; extra (taken; may be NULL) is merged into
 * the data.
 */
void dmn_agent_error(struct dmn_request *req, enum agent_err err,
    const char *cause, json_t *extra);
/*
 * model.generate's slots: at most max (the config's max_runs) calls in
 * flight, apart from the runs.  begin() takes one and returns 0, or -1
 * with *cause when all are taken; end() gives it back.  Any thread.
 */
int dmn_agent_generate_begin(struct dmn_agent *a, size_t max, char **cause);
void dmn_agent_generate_end(struct dmn_agent *a);
/*
 * Reads a required string member of params for a method's check():
 * returns 0, or -1 with *cause naming it.
 */
int dmn_params_string(const json_t *params, const char *name, char **cause);

#endif /* AGENTD_DAEMON_RUNTIME_H */
