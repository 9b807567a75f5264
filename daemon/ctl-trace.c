/*
 * ctl-trace.c: `agentctl trace show ID`, `agentctl trace list [--agent A]
 * [--outcome ok|error|incomplete] [--since SECONDS] [--limit N]` and
 * `agentctl trace export ID...`.
 *
 * show draws trace.get's tree: one line per span with its kind, start
 * offset from the root, duration, tokens and throughput for model calls,
 * and the error of a failed span.  list prints trace.list as a table
 * (--since takes seconds back from now).  export prints trace.export's
 * OTLP/JSON TracesData as one line, ready for a collector's /v1/traces.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit trace_exec(struct ctl_ctx *ctx, int argc, char **argv);
static enum ctl_exit trace_show(struct ctl_ctx *, int, char **);
static enum ctl_exit trace_list(struct ctl_ctx *, int, char **);
static enum ctl_exit trace_export(struct ctl_ctx *, int, char **);
static void show_span(json_t *, json_int_t, const char *, int, int);
static void print_str(const char *);
static int parse_count(const char *, long long, long long *);

const struct ctl_cmd ctl_cmd_trace = {
	.name = "trace",
	.usage = "show ID | list [--agent A] [--outcome O] [--since S] "
	         "[--limit N] | export ID...",
	.summary = "show a trace as a tree, list traces, export as OTLP/JSON",
	.min_args = 1,
	.max_args = -1,
	.exec = trace_exec,
};

static enum ctl_exit
trace_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	if (strcmp(argv[0], "show") == 0)
		return trace_show(ctx, argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return trace_list(ctx, argc - 1, argv + 1);
	if (strcmp(argv[0], "export") == 0)
		return trace_export(ctx, argc - 1, argv + 1);
	return ctl_usage_error(ctx, "unknown subcommand '%s'", argv[0]);
}

/* Prints a string from the daemon, escaped; "?" for NULL. */
static void
print_str(const char *s)
{
	if (s == NULL)
		s = "?";
	ctl_print_text(stdout, s, strlen(s));
}

/* Parses a decimal integer from 0 to max. */
static int
parse_count(const char *s, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Draws span v and its children: prefix is the tree drawing of its
 * ancestors, last whether v is its parent's last child, root whether v
 * is a root (drawn without a branch).
 */
static void
show_span(json_t *v, json_int_t t0, const char *prefix, int last, int root)
{
	json_t *attrs = json_object_get(v, "attributes"), *kids, *k, *x;
	json_int_t start = json_integer_value(json_object_get(v, "start_ns"));
	json_int_t end = json_integer_value(json_object_get(v, "end_ns"));
	const char *kind = json_string_value(json_object_get(v, "kind"));
	const char *status = json_string_value(json_object_get(v, "status"));
	char *sub;
	size_t i, n;

	printf("%s%s", prefix, root ? "" : last ? "`- " : "|- ");
	print_str(json_string_value(json_object_get(v, "name")));
	printf("  [%s] +%.1fms %.1fms", kind != NULL ? kind : "?",
	    (double)(start - t0) / 1e6, (double)(end - start) / 1e6);
	x = json_object_get(attrs, "gen_ai.usage.input_tokens");
	if (json_is_integer(x))
		printf(" in=%lld", (long long)json_integer_value(x));
	x = json_object_get(attrs, "gen_ai.usage.output_tokens");
	if (json_is_integer(x))
		printf(" out=%lld", (long long)json_integer_value(x));
	x = json_object_get(attrs, "agentd.prompt_tokens_reused");
	if (json_is_integer(x) && json_integer_value(x) > 0)
		printf(" reused=%lld", (long long)json_integer_value(x));
	x = json_object_get(attrs, "agentd.ttft_ms");
	if (json_is_number(x))
		printf(" ttft=%.1fms", json_number_value(x));
	x = json_object_get(attrs, "agentd.tokens_per_s");
	if (json_is_number(x))
		printf(" %.1ftok/s", json_number_value(x));
	if (status != NULL && strcmp(status, "error") == 0) {
		printf("  ERROR: ");
		print_str(
		    json_string_value(json_object_get(v, "status_message")));
	}
	putchar('\n');

	xasprintf(&sub, "%s%s", prefix, root ? "" : last ? "   " : "|  ");
	kids = json_object_get(v, "children");
	n = json_array_size(kids);
	json_array_foreach(kids, i, k)
	{
		show_span(k, t0, sub, i + 1 == n, 0);
	}
	free(sub);
}

static enum ctl_exit
trace_show(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params, *result, *roots, *r;
	enum ctl_exit rc;
	size_t i;
	json_int_t t0 = 0;

	if (argc != 1)
		return ctl_usage_error(ctx, "trace show takes one trace id");
	params = json_pack("{s:s}", "trace_id", argv[0]);
	rc = ctl_request(ctx, "trace.get", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
		json_decref(result);
		return CTL_EXIT_OK;
	}
	roots = json_object_get(result, "spans");
	json_array_foreach(roots, i, r)
	{
		json_int_t s =
		    json_integer_value(json_object_get(r, "start_ns"));

		if (i == 0 || s < t0)
			t0 = s;
	}
	printf("trace ");
	print_str(json_string_value(json_object_get(result, "trace_id")));
	printf(": %lld spans",
	    (long long)json_integer_value(
	        json_object_get(result, "span_count")));
	if (json_integer_value(json_object_get(result, "skipped_lines")) > 0)
		printf(", %lld damaged lines skipped",
		    (long long)json_integer_value(
		        json_object_get(result, "skipped_lines")));
	putchar('\n');
	json_array_foreach(roots, i, r)
	{
		show_span(r, t0, "", 1, 1);
	}
	json_decref(result);
	return CTL_EXIT_OK;
}

static enum ctl_exit
trace_list(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params, *result, *t;
	enum ctl_exit rc;
	long long n;
	char when[32];
	time_t secs;
	struct tm tm;
	size_t i;

	params = json_object();
	for (int a = 0; a < argc; a++) {
		if (a + 1 >= argc) {
			json_decref(params);
			return ctl_usage_error(
			    ctx, "%s needs a value", argv[a]);
		}
		if (strcmp(argv[a], "--agent") == 0) {
			json_object_set_new(
			    params, "agent", json_string(argv[++a]));
		} else if (strcmp(argv[a], "--outcome") == 0) {
			json_object_set_new(
			    params, "outcome", json_string(argv[++a]));
		} else if (strcmp(argv[a], "--limit") == 0) {
			if (parse_count(argv[++a], INT_MAX, &n) != 0) {
				json_decref(params);
				return ctl_usage_error(
				    ctx, "--limit takes a count");
			}
			json_object_set_new(params, "limit", json_integer(n));
		} else if (strcmp(argv[a], "--since") == 0) {
			if (parse_count(argv[++a], 100LL * 365 * 86400, &n) !=
			    0) {
				json_decref(params);
				return ctl_usage_error(
				    ctx, "--since takes seconds back from now");
			}
			json_object_set_new(params, "since",
			    json_integer(
			        (json_int_t)(time(NULL) - n) * 1000000000LL));
		} else {
			json_decref(params);
			return ctl_usage_error(
			    ctx, "unknown option '%s'", argv[a]);
		}
	}
	rc = ctl_request(ctx, "trace.list", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctx->json) {
		ctl_print_json(ctx, stdout, result);
		json_decref(result);
		return CTL_EXIT_OK;
	}
	json_array_foreach(json_object_get(result, "traces"), i, t)
	{
		secs = (time_t)(json_integer_value(
		                    json_object_get(t, "start_ns")) /
		    1000000000LL);
		if (localtime_r(&secs, &tm) == NULL ||
		    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(when, sizeof when, "?");
		print_str(json_string_value(json_object_get(t, "trace_id")));
		printf("  %s  %-10s  ", when,
		    json_string_value(json_object_get(t, "outcome")) != NULL
		        ? json_string_value(json_object_get(t, "outcome"))
		        : "?");
		print_str(json_string_value(json_object_get(t, "agent")));
		printf("  %lldms  %lld spans  %lld+%lld tokens\n",
		    (long long)json_integer_value(
		        json_object_get(t, "duration_ms")),
		    (long long)json_integer_value(
		        json_object_get(t, "span_count")),
		    (long long)json_integer_value(
		        json_object_get(t, "input_tokens")),
		    (long long)json_integer_value(
		        json_object_get(t, "output_tokens")));
	}
	if (json_is_true(json_object_get(result, "truncated")))
		printf("(more traces: raise --limit or narrow the filter)\n");
	json_decref(result);
	return CTL_EXIT_OK;
}

static enum ctl_exit
trace_export(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params, *ids, *result;
	enum ctl_exit rc;
	char *text;

	if (argc < 1)
		return ctl_usage_error(ctx, "trace export takes trace ids");
	ids = json_array();
	for (int a = 0; a < argc; a++)
		json_array_append_new(ids, json_string(argv[a]));
	params = json_pack("{s:o}", "trace_ids", ids);
	rc = ctl_request(ctx, "trace.export", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;
	/* One compact line, whatever --json says: it is for a collector. */
	text = json_dumps(result, JSON_COMPACT);
	json_decref(result);
	if (text == NULL) {
		ctl_warn(ctx, "cannot encode the export");
		return CTL_EXIT_ERROR;
	}
	fputs(text, stdout);
	putchar('\n');
	free(text);
	return CTL_EXIT_OK;
}
