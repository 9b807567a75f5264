/*
 * ctl-call.c: `agentctl call METHOD [PARAMS]`: sends any request, with
 * PARAMS as JSON text (or "-" to read it from standard input), and prints
 * the result as JSON.  The daemon, not the client, judges the params.
 * Notifications that arrive first are printed as they come.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit call_exec(struct ctl_ctx *ctx, int argc, char **argv);
static json_t *call_params(
    struct ctl_ctx *ctx, const char *arg, enum ctl_exit *rc);

const struct ctl_cmd ctl_cmd_call = {
	.name = "call",
	.usage = "METHOD [PARAMS | -]",
	.summary = "send any request; PARAMS is JSON (- reads stdin)",
	.min_args = 1,
	.max_args = 2,
	.exec = call_exec,
};

/*
 * Parses the params argument (or standard input for "-").  Returns a new
 * reference, or NULL after reporting the problem, with *rc set.
 */
static json_t *
call_params(struct ctl_ctx *ctx, const char *arg, enum ctl_exit *rc)
{
	struct buf in;
	char chunk[65536];
	json_error_t jerr;
	json_t *params;
	const char *what = "PARAMS";
	size_t n;

	buf_init(&in, CTL_MAX_PARAMS);
	if (strcmp(arg, "-") == 0) {
		what = "standard input";
		while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
			if (buf_add(&in, chunk, n) != 0) {
				ctl_warn(ctx,
				    "params on standard input exceed %d bytes",
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
		if (in.len == 0) {
			buf_free(&in);
			*rc = ctl_usage_error(ctx, "standard input is empty");
			return NULL;
		}
		params = json_loadb(in.data, in.len,
		    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	} else {
		params = json_loads(
		    arg, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	}
	buf_free(&in);
	if (params == NULL) {
		*rc = ctl_usage_error(ctx,
		    "%s is not valid JSON: %s (line %d, column %d)", what,
		    jerr.text, jerr.line, jerr.column);
	}
	return params;
}

static enum ctl_exit
call_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params = NULL, *result;
	enum ctl_exit rc;

	if (*argv[0] == '\0')
		return ctl_usage_error(ctx, "METHOD is empty");
	if (!utf8_valid(argv[0], strlen(argv[0])))
		return ctl_usage_error(ctx, "METHOD is not valid UTF-8");
	if (argc == 2) {
		params = call_params(ctx, argv[1], &rc);
		if (params == NULL)
			return rc;
	}
	rc = ctl_request(ctx, argv[0], params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_print_json(ctx, stdout, result);
	json_decref(result);
	return CTL_EXIT_OK;
}
