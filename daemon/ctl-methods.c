/*
 * ctl-methods.c: `agentctl methods`: every method the daemon serves, with
 * its one-line description (daemon.methods).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"

static enum ctl_exit methods_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_methods = {
	.name = "methods",
	.usage = "",
	.summary = "list the methods the daemon serves",
	.min_args = 0,
	.max_args = 0,
	.exec = methods_exec,
};

static enum ctl_exit
methods_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *result, *list, *item, *name, *desc;
	enum ctl_exit rc;
	size_t i, width = 0;

	(void)argc;
	(void)argv;
	rc = ctl_request(ctx, "daemon.methods", NULL, &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
		json_decref(result);
		return CTL_EXIT_OK;
	}

	/* {"methods": [{"name", "description"}, ...]}, or the bare list. */
	list =
	    json_is_array(result) ? result : json_object_get(result, "methods");
	if (!json_is_array(list)) {
		ctl_warn(ctx, "daemon.methods returned no list of methods");
		json_decref(result);
		return CTL_EXIT_UNREACHABLE;
	}
	json_array_foreach(list, i, item)
	{
		name = json_object_get(item, "name");
		if (json_is_string(name) && json_string_length(name) > width)
			width = json_string_length(name);
	}
	json_array_foreach(list, i, item)
	{
		name = json_object_get(item, "name");
		desc = json_object_get(item, "description");
		if (!json_is_string(name)) {
			ctl_warn(
			    ctx, "daemon.methods: item %zu has no name", i);
			json_decref(result);
			return CTL_EXIT_UNREACHABLE;
		}
		ctl_print_text(
		    stdout, json_string_value(name), json_string_length(name));
		if (json_is_string(desc)) {
			printf("%*s",
			    (int)(width - json_string_length(name) + 2), "");
			ctl_print_text(stdout, json_string_value(desc),
			    json_string_length(desc));
		}
		putchar('\n');
	}
	json_decref(result);
	return CTL_EXIT_OK;
}
