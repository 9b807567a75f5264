/*
 * scorer-tool.c: scorers written as tools (Lua tools, C plugins).
 *
 * A scorer name that is not built in may name a tool of the run's tool
 * set.  The tool is called with the candidate as its arguments
 * ({"input": string, "steps": array, "answer": string}, "answer" left
 * out for a state without one), so its schema says what it reads; its
 * output must start with the score, a number, and may go on with the
 * reason ("0.8 the arithmetic checks out").  A tool that fails, or whose
 * output does not start with a finite number, fails the scorer with a
 * message naming it.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/strategy.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

/* The time one scoring call may take. */
#define SCORER_TOOL_TIMEOUT_MS 10000

int
agent_scorer_tool(void *arg, const char *name, const json_t *candidate,
    double *score, char **reason, char **cause)
{
	struct plug_set *set = arg;
	const char *p;
	char *text = NULL, *end;
	json_t *args;
	size_t len;
	int is_error;

	if (set == NULL || plug_set_find(set, name) == NULL)
		return 1;
	args = json_deep_copy(candidate);
	if (args == NULL)
		fatalx("%s: out of memory", __func__);
	if (json_is_null(json_object_get(args, "answer")))
		json_object_del(args, "answer");
	agent_tool_invoke(set, NULL, 0, name, args, SCORER_TOOL_TIMEOUT_MS, 0,
	    NULL, NULL, &text, &is_error);
	json_decref(args);
	if (is_error) {
		xasprintf(cause, "scorer '%s' failed: %s", name, text);
		free(text);
		return -1;
	}
	*score = strtod(text, &end);
	if (end == text || !isfinite(*score)) {
		xasprintf(cause,
		    "scorer '%s' must answer with a number first, not '%.40s'",
		    name, text);
		free(text);
		return -1;
	}
	for (p = end; isspace((unsigned char)*p); p++)
		;
	len = strlen(p);
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	*reason = len > 0 ? xstrndup(p, len) : NULL;
	free(text);
	return 0;
}
