/*
 * ctl-agents.c: `agentctl agents`: the agents agent.run accepts
 * (agents.list), one per line: name, source and description.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit agents_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_agents = {
	.name = "agents",
	.usage = "",
	.summary = "list the agents: name, source, description",
	.min_args = 0,
	.max_args = 0,
	.exec = agents_exec,
};

static enum ctl_exit
agents_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *result, *a;
	enum ctl_exit rc;
	const char *s;
	size_t i, width = 5;

	(void)argc;
	(void)argv;
	rc = ctl_request(ctx, "agents.list", NULL, &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
		json_decref(result);
		return CTL_EXIT_OK;
	}
	json_array_foreach(json_object_get(result, "agents"), i, a)
	{
		s = json_string_value(json_object_get(a, "name"));
		if (s != NULL && strlen(s) > width)
			width = strlen(s);
	}
	json_array_foreach(json_object_get(result, "agents"), i, a)
	{
		const char *name =
		    json_string_value(json_object_get(a, "name"));
		const char *src =
		    json_string_value(json_object_get(a, "source"));
		const char *desc =
		    json_string_value(json_object_get(a, "description"));

		if (name == NULL)
			continue;
		ctl_print_text(stdout, name, strlen(name));
		printf("%*s  %-7s  ", (int)(width - strlen(name)), "",
		    src != NULL ? src : "?");
		if (desc != NULL)
			ctl_print_text(stdout, desc, strlen(desc));
		putchar('\n');
	}
	json_decref(result);
	return CTL_EXIT_OK;
}
