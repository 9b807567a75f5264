/*
 * ctl-tools.c: `agentctl tools`: the tools the daemon offers (tools.list),
 * one per line: name, source and description; with --json the result
 * as it came, schemas included.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit tools_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_tools = {
	.name = "tools",
	.usage = "",
	.summary = "list the tools: name, source, description",
	.min_args = 0,
	.max_args = 0,
	.exec = tools_exec,
};

static enum ctl_exit
tools_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *result, *t;
	enum ctl_exit rc;
	const char *s;
	size_t i, width = 4;

	(void)argc;
	(void)argv;
	rc = ctl_request(ctx, "tools.list", NULL, &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
		json_decref(result);
		return CTL_EXIT_OK;
	}
	json_array_foreach(json_object_get(result, "tools"), i, t)
	{
		s = json_string_value(json_object_get(t, "name"));
		if (s != NULL && strlen(s) > width)
			width = strlen(s);
	}
	json_array_foreach(json_object_get(result, "tools"), i, t)
	{
		const char *name =
		    json_string_value(json_object_get(t, "name"));
		const char *src =
		    json_string_value(json_object_get(t, "source"));
		const char *desc =
		    json_string_value(json_object_get(t, "description"));

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
