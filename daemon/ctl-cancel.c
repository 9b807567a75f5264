/*
 * ctl-cancel.c: `agentctl cancel RUN`: asks a run to stop (agent.cancel).
 * Prints whether it was still running; exit 1 for an unknown run.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit cancel_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_cancel = {
	.name = "cancel",
	.usage = "RUN",
	.summary = "cancel a run (agent.cancel)",
	.min_args = 1,
	.max_args = 1,
	.exec = cancel_exec,
};

static enum ctl_exit
cancel_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params, *result;
	enum ctl_exit rc;

	(void)argc;
	if (*argv[0] == '\0' || !utf8_valid(argv[0], strlen(argv[0])))
		return ctl_usage_error(ctx, "RUN must be a run id");
	params = json_pack("{s:s}", "run_id", argv[0]);
	rc = ctl_request(ctx, "agent.cancel", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
	} else {
		ctl_print_text(stdout, argv[0], strlen(argv[0]));
		puts(json_is_true(json_object_get(result, "cancelled"))
		        ? ": cancelled"
		        : ": had already ended");
	}
	json_decref(result);
	return CTL_EXIT_OK;
}
