/*
 * rpc-tools-call.c: tools.call, calls one tool directly, as the ReAct
 * loop would, on a worker.  Params: {"name", "arguments": {...} (default
 * {})}.  Result: {"tool", "text", "truncated"}.  Errors: -32007 for an
 * unknown tool (data lists the tools), -32008 for arguments that fail the
 * tool's schema (data says where), -32004 when the tool itself failed
 * (data carries its text).  The call is limited by tool_timeout_ms, and
 * abandoned when the client goes away.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

struct call_job {
	struct dmn_request *req;
	struct plug_set *set;
	struct plug_tool *tool;
	json_t *args;
	struct plug_limits limits;
};

static int tools_call_check(const json_t *, char **);
static int tools_call_exec(struct dmn_request *, char **);
static void tools_call_work(void *);

const struct dmn_method dmn_method_tools_call = {
	.name = "tools.call",
	.description = "Calls a tool with JSON arguments and returns its "
	               "text.",
	.flags = 0,
	.check = tools_call_check,
	.exec = tools_call_exec,
};

static int
tools_call_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v;

	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object with \"name\"");
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, "name") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0) {
				xasprintf(
				    cause, "\"name\" must be a tool name");
				return -1;
			}
		} else if (strcmp(key, "arguments") == 0) {
			if (!json_is_object(v)) {
				xasprintf(cause,
				    "\"arguments\" must be a JSON object");
				return -1;
			}
		} else {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
	}
	if (json_object_get(params, "name") == NULL) {
		xasprintf(cause, "\"name\" is required");
		return -1;
	}
	return 0;
}

static int
tools_call_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct call_job *job;
	json_t *params = dmn_request_params(req), *args;
	const char *name;
	char *why = NULL, *names;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->set = plug_registry_get(dmn_agent_registry(a));
	name = json_string_value(json_object_get(params, "name"));
	job->tool = plug_set_find(job->set, name);
	if (job->tool == NULL) {
		names = plug_set_names(job->set);
		xasprintf(&why, "unknown tool '%s'", name);
		dmn_request_error(req, DMN_ERR_UNKNOWN_NAME, NULL,
		    json_pack("{s:s, s:s}", "detail", why, "tools", names));
		free(why);
		free(names);
		goto done;
	}
	args = json_object_get(params, "arguments");
	job->args = args != NULL ? json_deep_copy(args) : json_object();
	if (plug_tool_validate(job->tool, job->args, &why) != 0) {
		dmn_request_error(req, DMN_ERR_TOOL_ARGS, NULL,
		    json_pack("{s:s, s:s, s:O}", "detail", why, "tool", name,
		        "parameters", plug_tool_schema(job->tool)));
		free(why);
		goto done;
	}
	job->limits.timeout_ms =
	    (uint32_t)dmn_request_ctx(req)->config->tool_timeout_ms;
	if (dmn_pool_submit(dmn_request_pool(req), tools_call_work, NULL, job,
	        cause) != 0) {
		json_decref(job->args);
		plug_set_unref(job->set);
		free(job);
		return -1;
	}
	return 0;

done:
	json_decref(job->args);
	plug_set_unref(job->set);
	free(job);
	return 0;
}

/* On a worker: the call itself. */
static void
tools_call_work(void *arg)
{
	struct call_job *job = arg;
	struct plug_result res;
	const char *name = plug_tool_name(job->tool);
	char *why = NULL;

	memset(&res, 0, sizeof res);
	if (plug_tool_call(
	        job->tool, job->args, &job->limits, NULL, &res, &why) != 0) {
		dmn_request_error(job->req, DMN_ERR_TOOL_ARGS, NULL,
		    json_pack("{s:s, s:s}", "detail", why, "tool", name));
		free(why);
	} else if (res.is_error) {
		dmn_request_error(job->req, DMN_ERR_TOOL_FAILED, NULL,
		    json_pack("{s:s, s:s, s:s}", "detail", "the tool failed",
		        "tool", name, "text", res.text));
	} else {
		dmn_request_reply(job->req,
		    json_pack("{s:s, s:s%, s:b}", "tool", name, "text",
		        res.text, res.len, "truncated", res.truncated));
	}
	plug_result_clear(&res);
	json_decref(job->args);
	plug_set_unref(job->set);
	free(job);
}
