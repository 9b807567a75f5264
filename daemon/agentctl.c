/*
 * agentctl.c: the command-line client of agentd.  It parses the global
 * options, finds the command in the table below, and gives it a context
 * through which it sends requests; each command lives in its own
 * daemon/ctl-<name>.c.  Adding a command is one file and one line here.
 *
 *   agentctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARG...]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/sockpath.h"
#include "daemon/util.h"

/* The commands, sorted by name. */
const struct ctl_cmd *const ctl_cmds[] = {
	&ctl_cmd_agents,
	&ctl_cmd_call,
	&ctl_cmd_cancel,
	&ctl_cmd_eval,
	&ctl_cmd_help,
	&ctl_cmd_methods,
	&ctl_cmd_ping,
	&ctl_cmd_run,
	&ctl_cmd_status,
	&ctl_cmd_tool,
	&ctl_cmd_tools,
	&ctl_cmd_trace,
	NULL,
};

static void usage(FILE *f);
static const struct ctl_cmd *cmd_find(const char *name);
static void print_error(
    const struct ctl_ctx *ctx, const char *method, json_t *error);
static int parse_timeout(const char *arg, int *ms);

/* Prints the synopsis and the global options. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentctl [-j] [-s PATH] [-t MS] COMMAND [ARG...]\n"
	    "  -s, --socket PATH  the daemon's socket (default: "
	    "$AGENTD_SOCKET, ...)\n"
	    "  -j, --json         print results as raw JSON, one per line\n"
	    "  -t, --timeout MS   wait at most MS ms for each reply "
	    "(default %d; 0: forever)\n"
	    "  -h, --help         print this help; -V, --version: the "
	    "version\n"
	    "commands (agentctl help for more):",
	    CTL_DEFAULT_TIMEOUT_MS);
	for (size_t i = 0; ctl_cmds[i] != NULL; i++)
		fprintf(f, " %s", ctl_cmds[i]->name);
	fputc('\n', f);
}

/* Returns the command called name, or NULL. */
static const struct ctl_cmd *
cmd_find(const char *name)
{
	for (size_t i = 0; ctl_cmds[i] != NULL; i++) {
		if (strcmp(ctl_cmds[i]->name, name) == 0)
			return ctl_cmds[i];
	}
	return NULL;
}

void
ctl_warn(const struct ctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (ctx != NULL && ctx->cmd != NULL)
		fprintf(stderr, "agentctl: %s: ", ctx->cmd);
	else
		fputs("agentctl: ", stderr);
	/* Messages quote the daemon's words: keep its escapes harmless. */
	ctl_print_text(stderr, msg, strlen(msg));
	fputc('\n', stderr);
	free(msg);
}

enum ctl_exit
ctl_usage_error(const struct ctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	ctl_warn(ctx, "%s", msg);
	free(msg);
	if (ctx != NULL && ctx->cmd != NULL) {
		fprintf(stderr, "usage: agentctl [OPTION...] %s%s%s\n",
		    ctx->cmd, *ctx->usage != '\0' ? " " : "", ctx->usage);
	} else {
		fputs("usage: agentctl [-j] [-s PATH] [-t MS] COMMAND "
		      "[ARG...]\n(agentctl --help for more)\n",
		    stderr);
	}
	return CTL_EXIT_USAGE;
}

/*
 * Reports an error response: with --json the error object as one line,
 * otherwise its message and code, then its data laid out below.
 */
static void
print_error(const struct ctl_ctx *ctx, const char *method, json_t *error)
{
	json_t *data = json_object_get(error, "data");

	fflush(stdout);
	if (ctx->json) {
		json_dumpf(error, stderr, JSON_COMPACT | JSON_ENCODE_ANY);
		fputc('\n', stderr);
		return;
	}
	ctl_warn(ctx, "%s: %s (error %" JSON_INTEGER_FORMAT ")", method,
	    json_string_value(json_object_get(error, "message")),
	    json_integer_value(json_object_get(error, "code")));
	if (data != NULL && !json_is_null(data)) {
		if (json_is_object(data) || json_is_array(data)) {
			ctl_print_human(stderr, data, 2);
		} else {
			fputs("  data: ", stderr);
			ctl_print_human(stderr, data, 0);
		}
	}
}

enum ctl_exit
ctl_connect(struct ctl_ctx *ctx)
{
	char *cause = NULL;

	if (ctx->socket_path == NULL) {
		ctx->socket_path = dmn_socket_path(ctx->socket_flag, &cause);
		if (ctx->socket_path == NULL) {
			ctl_warn(ctx, "%s", cause);
			free(cause);
			return ctx->socket_flag != NULL ? CTL_EXIT_USAGE
			                                : CTL_EXIT_UNREACHABLE;
		}
	}
	if (ctx->conn == NULL) {
		ctx->conn =
		    ctl_conn_open(ctx->socket_path, ctx->timeout_ms, &cause);
		if (ctx->conn == NULL) {
			ctl_warn(ctx, "%s", cause);
			free(cause);
			return CTL_EXIT_UNREACHABLE;
		}
	}
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_request(
    struct ctl_ctx *ctx, const char *method, json_t *params, json_t **result)
{
	json_t *error = NULL;
	char *cause = NULL;
	enum ctl_exit status;
	int rc;

	*result = NULL;
	if ((status = ctl_connect(ctx)) != CTL_EXIT_OK)
		return status;
	if (ctx->notify != NULL) {
		rc = ctl_conn_call(ctx->conn, method, params, ctx->notify,
		    ctx->notify_arg, result, &error, &cause);
	} else {
		rc = ctl_conn_call(ctx->conn, method, params, ctl_print_notify,
		    ctx, result, &error, &cause);
	}
	if (rc != 0) {
		ctl_warn(ctx, "%s: %s", method, cause);
		free(cause);
		return CTL_EXIT_UNREACHABLE;
	}
	if (error != NULL) {
		print_error(ctx, method, error);
		json_decref(error);
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

/* Parses a --timeout value: milliseconds, 0 to INT_MAX. */
static int
parse_timeout(const char *arg, int *ms)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < 0 || v > INT_MAX)
		return -1;
	*ms = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_ctx ctx;
	const struct ctl_cmd *cmd;
	enum ctl_exit rc;
	int ch, nargs;

	memset(&ctx, 0, sizeof ctx);
	ctx.timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
	/* Errors only: the client shares the daemon's logger. */
	log_level = LOG_LEVEL_ERR;

	/* "+": options end at the command, which may take its own. */
	opterr = 0;
	while (
	    (ch = getopt_long(argc, argv, "+:hjs:t:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'j':
			ctx.json = 1;
			break;
		case 's':
			ctx.socket_flag = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &ctx.timeout_ms) != 0) {
				return ctl_usage_error(NULL,
				    "--timeout: '%s' is not a number of "
				    "milliseconds (0 to %d)",
				    optarg, INT_MAX);
			}
			break;
		case 'V':
			printf("agentctl %s\n", AGENTD_VERSION);
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error(
			    NULL, "%s needs an argument", argv[optind - 1]);
		default:
			/* optopt names a short option, even in a cluster. */
			if (optopt != 0) {
				return ctl_usage_error(
				    NULL, "unknown option '-%c'", optopt);
			}
			return ctl_usage_error(
			    NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(NULL, "no command given");
	if ((cmd = cmd_find(argv[optind])) == NULL) {
		return ctl_usage_error(NULL,
		    "unknown command '%s'; 'agentctl help' lists them",
		    argv[optind]);
	}
	ctx.cmd = cmd->name;
	ctx.usage = cmd->usage;
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args)
		return ctl_usage_error(&ctx, "too few arguments");
	if (cmd->max_args >= 0 && nargs > cmd->max_args)
		return ctl_usage_error(&ctx, "too many arguments");

	rc = cmd->exec(&ctx, nargs, argv + optind + 1);

	ctl_conn_free(ctx.conn);
	free(ctx.socket_path);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warn(NULL, "cannot write the output: %s", strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_ERROR;
	}
	return rc;
}
