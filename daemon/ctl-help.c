/*
 * ctl-help.c: `agentctl help [COMMAND]`: the commands with their
 * arguments and a line each, or one command's usage.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/ctl-int.h"

static enum ctl_exit help_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_help = {
	.name = "help",
	.usage = "[COMMAND]",
	.summary = "list the commands, or show how to use one",
	.min_args = 0,
	.max_args = 1,
	.exec = help_exec,
};

static enum ctl_exit
help_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	const struct ctl_cmd *cmd;
	char synopsis[128];
	int found = 0;

	if (argc == 0) {
		printf("usage: agentctl [-j] [-s PATH] [-t MS] COMMAND "
		       "[ARG...]\n\ncommands:\n");
	}
	for (size_t i = 0; ctl_cmds[i] != NULL; i++) {
		cmd = ctl_cmds[i];
		if (argc == 1 && strcmp(argv[0], cmd->name) != 0)
			continue;
		found = 1;
		snprintf(synopsis, sizeof synopsis, "%s%s%s", cmd->name,
		    *cmd->usage != '\0' ? " " : "", cmd->usage);
		if (argc == 1) {
			printf("usage: agentctl [OPTION...] %s\n%s\n", synopsis,
			    cmd->summary);
		} else {
			printf("  %-28s %s\n", synopsis, cmd->summary);
		}
	}
	if (!found) {
		return ctl_usage_error(ctx,
		    "unknown command '%s'; 'agentctl help' lists them",
		    argv[0]);
	}
	if (argc == 0)
		printf("\nSee agentctl(1) for the options and exit status.\n");
	return CTL_EXIT_OK;
}
