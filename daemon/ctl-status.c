/*
 * ctl-status.c: `agentctl status`: the daemon's version, pid, uptime,
 * connections and methods (daemon.status), laid out for people.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static void status_print(json_t *result);
static enum ctl_exit status_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_status = {
	.name = "status",
	.usage = "",
	.summary = "show the daemon's version, pid, uptime and load",
	.min_args = 0,
	.max_args = 0,
	.exec = status_exec,
};

/*
 * Prints a headline ("agentd 0.1.0, pid 42, up 3m 4s") from the version,
 * pid and uptime_ms members, then every other member as they come.
 */
static void
status_print(json_t *result)
{
	json_t *rest, *version, *pid, *uptime;
	char *up;

	version = json_object_get(result, "version");
	pid = json_object_get(result, "pid");
	uptime = json_object_get(result, "uptime_ms");
	if (!json_is_string(version) || !json_is_integer(pid)) {
		ctl_print_human(stdout, result, 0);
		return;
	}
	fputs("agentd ", stdout);
	ctl_print_text(
	    stdout, json_string_value(version), json_string_length(version));
	printf(", pid %" JSON_INTEGER_FORMAT, json_integer_value(pid));
	if (json_is_number(uptime)) {
		up = ctl_format_duration(json_number_value(uptime));
		printf(", up %s", up);
		free(up);
	}
	putchar('\n');

	/* A shallow copy: the members stay shared, the object is ours. */
	rest = json_copy(result);
	if (rest == NULL)
		fatalx("%s: cannot copy the status", __func__);
	json_object_del(rest, "version");
	json_object_del(rest, "pid");
	if (json_is_number(uptime))
		json_object_del(rest, "uptime_ms");
	ctl_print_human(stdout, rest, 0);
	json_decref(rest);
}

static enum ctl_exit
status_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *result;
	enum ctl_exit rc;

	(void)argc;
	(void)argv;
	rc = ctl_request(ctx, "daemon.status", NULL, &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json)
		ctl_print_json(ctx, stdout, result);
	else
		status_print(result);
	json_decref(result);
	return CTL_EXIT_OK;
}
