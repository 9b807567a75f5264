/*
 * ctl-tool.c: `agentctl tool NAME [JSON | -]`: calls one tool
 * (tools.call) with JSON arguments (default {}; "-" reads them from
 * standard input) and prints its text; with --json the result object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit tool_exec(struct ctl_ctx *ctx, int argc, char **argv);
static json_t *tool_args(
    struct ctl_ctx *ctx, const char *arg, enum ctl_exit *rc);

const struct ctl_cmd ctl_cmd_tool = {
	.name = "tool",
	.usage = "NAME [JSON | -]",
	.summary = "call a tool with JSON arguments and print its text",
	.min_args = 1,
	.max_args = 2,
	.exec = tool_exec,
};

/* Reads the arguments: JSON text, or standard input for "-". */
static json_t *
tool_args(struct ctl_ctx *ctx, const char *arg, enum ctl_exit *rc)
{
	struct buf in;
	char chunk[65536];
	json_error_t jerr;
	json_t *args;
	size_t n;

	buf_init(&in, CTL_MAX_PARAMS);
	if (strcmp(arg, "-") == 0) {
		while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
			if (buf_add(&in, chunk, n) != 0) {
				ctl_warn(ctx,
				    "arguments on standard input exceed %d "
				    "bytes",
				    CTL_MAX_PARAMS);
				buf_free(&in);
				*rc = CTL_EXIT_USAGE;
				return NULL;
			}
		}
		if (ferror(stdin)) {
			ctl_warn(ctx, "cannot read standard input: %s",
			    strerror(errno));
			buf_free(&in);
			*rc = CTL_EXIT_ERROR;
			return NULL;
		}
		args = json_loadb(in.data != NULL ? in.data : "", in.len,
		    JSON_REJECT_DUPLICATES, &jerr);
	} else {
		args = json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
	}
	buf_free(&in);
	if (args == NULL) {
		*rc = ctl_usage_error(ctx,
		    "the arguments are not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(args)) {
		json_decref(args);
		*rc =
		    ctl_usage_error(ctx, "the arguments must be a JSON object");
		return NULL;
	}
	return args;
}

static enum ctl_exit
tool_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *args, *params, *result;
	enum ctl_exit rc = CTL_EXIT_OK;
	const char *text;

	if (*argv[0] == '\0' || !utf8_valid(argv[0], strlen(argv[0])))
		return ctl_usage_error(ctx, "NAME must be a tool name");
	if (argc == 2) {
		if ((args = tool_args(ctx, argv[1], &rc)) == NULL)
			return rc;
	} else {
		args = json_object();
	}
	params = json_pack("{s:s, s:o}", "name", argv[0], "arguments", args);
	if (params == NULL)
		fatalx("%s: cannot build the params", __func__);
	rc = ctl_request(ctx, "tools.call", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
	} else {
		text = json_string_value(json_object_get(result, "text"));
		if (text != NULL) {
			ctl_print_text(stdout, text, strlen(text));
			if (*text == '\0' || text[strlen(text) - 1] != '\n')
				putchar('\n');
		}
		if (json_is_true(json_object_get(result, "truncated")))
			ctl_warn(ctx, "the output was cut at the size limit");
	}
	json_decref(result);
	return CTL_EXIT_OK;
}
