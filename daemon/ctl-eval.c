/*
 * ctl-eval.c: `agentctl eval DATASET.jsonl [--agent A] [--strategy S]
 * [--set KEY=VALUE]... [--concurrency N] [--scorer TYPE] [--tolerance X]
 * [--ignore-case] [--scorer-tool NAME] [--judge AGENT [--rubric TEXT]]
 * [--report FILE]` and `agentctl eval DATASET.jsonl --compare SPEC...
 * [--chart FILE.svg]`.
 *
 * agentctl reads the dataset itself (one JSON object {"id", "input",
 * "expected"} per line; blank lines skipped; an item without "id" takes
 * its line number) and sends the items with eval.run, so the daemon
 * never opens a user's path.  While it runs, eval.progress drives a
 * progress bar on standard error (when it is a terminal; a line per item
 * otherwise).  The report prints as Markdown, or as JSON with --json;
 * --report FILE also writes the JSON report there.  --set KEY=VALUE adds
 * an agent.run param or a strategy setting for every item, as for
 * `agentctl run` (ctl_strategy_build()).
 * --scorer-tool NAME scores with a tool of the daemon (a Lua scorer is a
 * Lua tool), called with {"input", "answer", "expected"}; --judge AGENT
 * has the agent judge each answer (the LLM judge), with --rubric TEXT.
 *
 * --compare [LABEL=]NAME[:KEY=VALUE[,KEY=VALUE]...], given once per
 * configuration (NAME a strategy or "none"; LABEL names it in the
 * output, by default the whole text), runs the dataset once per
 * configuration, one after the other, and prints them side by side:
 * accuracy with its interval, tokens and wall time per item, and their
 * ratios to the first configuration.  --chart FILE.svg draws accuracy
 * against tokens (ctl-chart.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static enum ctl_exit eval_exec(struct ctl_ctx *ctx, int argc, char **argv);
static json_t *eval_load(const struct ctl_ctx *, const char *);
static void eval_progress(const char *, json_t *, void *);
static json_t *eval_params(const struct ctl_ctx *, json_t *, const char *,
    const char *const *, size_t);
static json_t *eval_configs(const struct ctl_ctx *, json_t *,
    const char *const *, size_t, const char *const *, size_t);
static enum ctl_exit eval_compare(
    struct ctl_ctx *, json_t *, const char *, const char *, const char *);
static void eval_compare_md(FILE *, const char *, json_t *);
static int eval_write(const struct ctl_ctx *, const char *, const char *);

const struct ctl_cmd ctl_cmd_eval = {
	.name = "eval",
	.usage = "DATASET.jsonl [--agent A] [--strategy S] [--set K=V]... "
	         "[--concurrency N] [--scorer exact|numeric|regex|contains] "
	         "[--tolerance X] [--ignore-case] [--scorer-tool NAME] "
	         "[--judge AGENT [--rubric TEXT]] [--report FILE] "
	         "[--compare [LABEL=]NAME[:K=V,...]]... [--chart FILE.svg]",
	.summary = "evaluate an agent on a JSONL dataset; print the report",
	.min_args = 1,
	.max_args = -1,
	.exec = eval_exec,
};

/* Reads the dataset into a new array of items, or NULL after a message. */
static json_t *
eval_load(const struct ctl_ctx *ctx, const char *path)
{
	json_t *items = NULL, *v;
	json_error_t jerr;
	struct stat st;
	char *text = NULL, *p, *nl, *end;
	size_t have = 0, line = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ctl_warn(ctx, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		ctl_warn(ctx, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > CTL_MAX_PARAMS) {
		ctl_warn(ctx, "%s: larger than %d bytes", path, CTL_MAX_PARAMS);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (have < (size_t)st.st_size) {
		n = read(fd, text + have, (size_t)st.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	text[have] = '\0';
	items = json_array();
	for (p = text, end = text + have; p < end; p = nl + 1) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		while (p < nl && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == nl)
			continue;
		v = json_loadb(
		    p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr);
		if (v == NULL) {
			ctl_warn(ctx, "%s:%zu: %s", path, line, jerr.text);
			goto fail;
		}
		if (!json_is_object(v) ||
		    !json_is_string(json_object_get(v, "input")) ||
		    json_object_get(v, "expected") == NULL) {
			ctl_warn(ctx,
			    "%s:%zu: an item must be {\"id\", \"input\": "
			    "string, \"expected\"}",
			    path, line);
			json_decref(v);
			goto fail;
		}
		if (json_object_get(v, "id") == NULL)
			json_object_set_new(
			    v, "id", json_integer((json_int_t)line));
		json_array_append_new(items, v);
	}
	if (json_array_size(items) == 0) {
		ctl_warn(ctx, "%s: no items", path);
		goto fail;
	}
	goto out;

fail:
	json_decref(items);
	items = NULL;
out:
	free(text);
	close(fd);
	return items;
}

/* eval.progress: a bar on a terminal, else one line per item. */
static void
eval_progress(const char *method, json_t *params, void *arg)
{
	json_int_t done, total, passed;
	int tty = *(int *)arg, width = 30, fill;

	if (strcmp(method, "eval.progress") != 0)
		return;
	done = json_integer_value(json_object_get(params, "done"));
	total = json_integer_value(json_object_get(params, "total"));
	passed = json_integer_value(json_object_get(params, "passed"));
	if (total <= 0)
		return;
	if (tty) {
		fill = (int)(done * width / total);
		fprintf(stderr, "\r[%.*s%*s] %lld/%lld, %lld passed", fill,
		    "##############################", width - fill, "",
		    (long long)done, (long long)total, (long long)passed);
		if (done == total)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "eval: %lld/%lld done, %lld passed\n",
		    (long long)done, (long long)total, (long long)passed);
	}
	fflush(stderr);
}

/*
 * A shallow copy of base (items, agent, scorer, concurrency) with the
 * strategy and the --set params of one configuration, built by
 * ctl_strategy_build(); NULL after a usage message.
 */
static json_t *
eval_params(const struct ctl_ctx *ctx, json_t *base, const char *strategy,
    const char *const *sets, size_t n_sets)
{
	json_t *params, *set, *st;
	char *cause;

	set = json_object();
	if (ctl_strategy_build(strategy, sets, n_sets, set, &st, &cause) != 0) {
		ctl_usage_error(ctx, "%s", cause);
		free(cause);
		json_decref(set);
		return NULL;
	}
	params = json_copy(base);
	if (st != NULL)
		json_object_set_new(params, "strategy", st);
	if (json_object_size(set) > 0)
		json_object_set(params, "set", set);
	json_decref(set);
	return params;
}

/* Writes text to path; 0, or -1 after a message. */
static int
eval_write(const struct ctl_ctx *ctx, const char *path, const char *text)
{
	FILE *f;
	int bad;

	if ((f = fopen(path, "w")) == NULL) {
		ctl_warn(ctx, "%s: %s", path, strerror(errno));
		return -1;
	}
	bad = fputs(text, f) == EOF;
	bad |= fclose(f) != 0;
	if (bad) {
		ctl_warn(ctx, "%s: cannot write", path);
		return -1;
	}
	return 0;
}

/* A number inside the chain report, by two keys (the second optional). */
static double
eval_num(json_t *chain, const char *k1, const char *k2)
{
	json_t *v = json_object_get(chain, k1);

	if (k2 != NULL)
		v = json_object_get(v, k2);
	return json_number_value(v);
}

/* One compared configuration's figures, as the table and chart show them. */
static json_t *
eval_point(json_t *config, struct ctl_chart_point *pt)
{
	json_t *chain, *ci;
	double n;

	chain = json_object_get(json_object_get(config, "report"), "chain");
	ci = json_object_get(chain, "ci95");
	n = eval_num(chain, "items", NULL);
	pt->label = json_string_value(json_object_get(config, "label"));
	pt->tokens = n > 0 ? eval_num(chain, "tokens", "output") / n : 0;
	pt->accuracy = eval_num(chain, "success_rate", NULL);
	pt->ci_low = json_number_value(json_array_get(ci, 0));
	pt->ci_high = json_number_value(json_array_get(ci, 1));
	return chain;
}

/* The comparison as a Markdown table; ratios are to the first row. */
static void
eval_compare_md(FILE *f, const char *dataset, json_t *configs)
{
	struct ctl_chart_point pt, first;
	double wall0 = 0, wall;
	json_t *c, *chain;
	struct buf b;
	size_t i;

	buf_init(&b, CTL_MAX_PARAMS);
	buf_printf(&b, "## Comparison on %s\n\n", dataset);
	buf_puts(&b,
	    "| configuration | items | passed | accuracy | 95% interval "
	    "| tokens/item | output tokens/item | output vs first "
	    "| wall ms/item | wall vs first |\n"
	    "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
	    "| ---: |\n");
	json_array_foreach(configs, i, c)
	{
		chain = eval_point(c, &pt);
		wall = eval_num(chain, "wall_ms", "mean");
		if (i == 0) {
			first = pt;
			wall0 = wall;
		}
		buf_printf(&b,
		    "| %s | %.0f | %.0f | %.1f%% | %.1f%% to %.1f%% | %.1f | "
		    "%.1f | %.2f× | %.1f | %.2f× |\n",
		    pt.label, eval_num(chain, "items", NULL),
		    eval_num(chain, "passed", NULL), 100.0 * pt.accuracy,
		    100.0 * pt.ci_low, 100.0 * pt.ci_high,
		    eval_num(
		        json_object_get(chain, "tokens"), "per_item", "mean"),
		    pt.tokens,
		    first.tokens > 0 ? pt.tokens / first.tokens : 0.0, wall,
		    wall0 > 0 ? wall / wall0 : 0.0);
	}
	ctl_print_text(f, b.data, b.len);
	buf_free(&b);
}

/*
 * The --compare configurations "[LABEL=]NAME[:KEY=VALUE,...]" (NAME a
 * strategy, or "none" for the plain agent) as an array of {"label",
 * "params"}, each params a copy of base with the global --set options
 * first and the configuration's own after them; NULL after a usage
 * message.  All are checked before anything runs.
 */
static json_t *
eval_configs(const struct ctl_ctx *ctx, json_t *base, const char *const *sets,
    size_t n_sets, const char *const *specs, size_t n_specs)
{
	const char **all, *label;
	json_t *configs, *params = NULL;
	char *copy, *name, *spec_sets, *p, *tok;
	size_t n_all;

	configs = json_array();
	for (size_t i = 0; i < n_specs; i++) {
		copy = xstrdup(specs[i]);
		spec_sets = strchr(copy, ':');
		if (spec_sets != NULL)
			*spec_sets++ = '\0';
		/* "LABEL=NAME..." when the part before the ':' has a '='. */
		label = specs[i];
		name = copy;
		if ((p = strchr(copy, '=')) != NULL) {
			*p = '\0';
			label = copy;
			name = p + 1;
		}
		all = xreallocarray(
		    NULL, n_sets + strlen(specs[i]) + 1, sizeof *all);
		memcpy(all, sets, n_sets * sizeof *sets);
		n_all = n_sets;
		for (p = spec_sets;
		     p != NULL && (tok = strsep(&p, ",")) != NULL;) {
			if (*tok != '\0')
				all[n_all++] = tok;
		}
		if (*name == '\0' || *label == '\0')
			ctl_usage_error(ctx,
			    "--compare '%s': give [LABEL=]NAME[:KEY=VALUE,...] "
			    "with NAME a strategy or none",
			    specs[i]);
		else {
			params = eval_params(ctx, base,
			    strcmp(name, "none") == 0 ? NULL : name, all,
			    n_all);
		}
		if (params != NULL)
			json_array_append_new(configs,
			    json_pack("{s:s, s:o}", "label", label, "params",
			        params));
		free(all);
		free(copy);
		if (params == NULL) {
			json_decref(configs);
			return NULL;
		}
		params = NULL;
	}
	return configs;
}

/*
 * --compare: one eval.run per configuration of eval_configs(), one after
 * the other, then the table, the JSON and the chart.
 */
static enum ctl_exit
eval_compare(struct ctl_ctx *ctx, json_t *configs, const char *dataset,
    const char *report_path, const char *chart_path)
{
	static const char *const keys[] = { "strategy", "set" };
	struct ctl_chart_point pts[CTL_COMPARE_MAX];
	json_t *c, *params, *result, *rows, *row, *v, *out;
	enum ctl_exit rc = CTL_EXIT_OK;
	char *svg, *title;
	size_t i, n = json_array_size(configs);

	rows = json_array();
	json_array_foreach(configs, i, c)
	{
		params = json_object_get(c, "params");
		fprintf(stderr, "eval: configuration %zu/%zu: %s\n", i + 1, n,
		    json_string_value(json_object_get(c, "label")));
		rc = ctl_request(ctx, "eval.run", params, &result);
		if (rc != CTL_EXIT_OK)
			goto out;
		row = json_pack("{s:O}", "label", json_object_get(c, "label"));
		for (size_t k = 0; k < 2; k++) {
			if ((v = json_object_get(params, keys[k])) != NULL)
				json_object_set(row, keys[k], v);
		}
		json_object_set(
		    row, "report", json_object_get(result, "report"));
		json_array_append_new(rows, row);
		json_decref(result);
	}

	out =
	    json_pack("{s:s, s:O}", "dataset", dataset, "configurations", rows);
	if (report_path != NULL &&
	    json_dump_file(out, report_path, JSON_INDENT(2)) != 0) {
		ctl_warn(ctx, "%s: cannot write the report", report_path);
		rc = CTL_EXIT_ERROR;
	}
	if (chart_path != NULL) {
		json_array_foreach(rows, i, row) eval_point(row, &pts[i]);
		xasprintf(&title, "Accuracy against tokens: %s", dataset);
		svg = ctl_chart_svg(pts, json_array_size(rows), title);
		if (eval_write(ctx, chart_path, svg) != 0)
			rc = CTL_EXIT_ERROR;
		free(svg);
		free(title);
	}
	if (ctx->json)
		ctl_print_json(ctx, stdout, out);
	else
		eval_compare_md(stdout, dataset, rows);
	json_decref(out);
out:
	json_decref(rows);
	return rc;
}

static enum ctl_exit
eval_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	const char *dataset = NULL, *report_path = NULL, *chart_path = NULL;
	const char *strategy_name = NULL, *opt, *text;
	const char **sets, *specs[CTL_COMPARE_MAX];
	json_t *base, *params = NULL, *configs = NULL, *scorer, *items, *c;
	json_t *result;
	enum ctl_exit rc = CTL_EXIT_USAGE;
	size_t n_sets = 0, n_specs = 0, i;
	char *end;
	long conc;
	double tol;
	int tty = isatty(STDERR_FILENO);

	sets = xreallocarray(NULL, (size_t)argc + 1, sizeof *sets);
	base = json_object();
	scorer = json_pack("{s:s}", "type", "exact");
	for (int a = 0; a < argc; a++) {
		opt = argv[a];
		if (opt[0] != '-') {
			if (dataset != NULL) {
				ctl_usage_error(ctx, "one dataset only");
				goto out;
			}
			dataset = opt;
			continue;
		}
		if (strcmp(opt, "--ignore-case") == 0) {
			json_object_set_new(
			    scorer, "case_sensitive", json_false());
			continue;
		}
		if (a + 1 >= argc) {
			ctl_usage_error(ctx, "%s needs a value", opt);
			goto out;
		}
		if (strcmp(opt, "--agent") == 0) {
			json_object_set_new(
			    base, "agent", json_string(argv[++a]));
		} else if (strcmp(opt, "--strategy") == 0) {
			strategy_name = argv[++a];
		} else if (strcmp(opt, "--set") == 0) {
			sets[n_sets++] = argv[++a];
		} else if (strcmp(opt, "--compare") == 0) {
			if (n_specs == CTL_COMPARE_MAX) {
				ctl_usage_error(ctx,
				    "at most %d --compare configurations",
				    CTL_COMPARE_MAX);
				goto out;
			}
			specs[n_specs++] = argv[++a];
		} else if (strcmp(opt, "--chart") == 0) {
			chart_path = argv[++a];
		} else if (strcmp(opt, "--concurrency") == 0) {
			errno = 0;
			conc = strtol(argv[++a], &end, 10);
			if (errno != 0 || *end != '\0' || conc < 1 ||
			    conc > 32) {
				ctl_usage_error(ctx,
				    "--concurrency takes a count from 1 to 32");
				goto out;
			}
			json_object_set_new(
			    base, "concurrency", json_integer(conc));
		} else if (strcmp(opt, "--scorer") == 0) {
			json_object_set_new(
			    scorer, "type", json_string(argv[++a]));
		} else if (strcmp(opt, "--tolerance") == 0) {
			errno = 0;
			tol = strtod(argv[++a], &end);
			if (errno != 0 || *end != '\0' || !(tol >= 0)) {
				ctl_usage_error(
				    ctx, "--tolerance takes a number >= 0");
				goto out;
			}
			json_object_set_new(
			    scorer, "tolerance", json_real(tol));
		} else if (strcmp(opt, "--scorer-tool") == 0) {
			json_object_clear(scorer);
			json_object_set_new(
			    scorer, "type", json_string("tool"));
			json_object_set_new(
			    scorer, "name", json_string(argv[++a]));
		} else if (strcmp(opt, "--judge") == 0) {
			json_object_del(scorer, "case_sensitive");
			json_object_del(scorer, "tolerance");
			json_object_del(scorer, "name");
			json_object_set_new(
			    scorer, "type", json_string("judge"));
			json_object_set_new(
			    scorer, "agent", json_string(argv[++a]));
		} else if (strcmp(opt, "--rubric") == 0) {
			json_object_set_new(
			    scorer, "rubric", json_string(argv[++a]));
		} else if (strcmp(opt, "--report") == 0) {
			report_path = argv[++a];
		} else {
			ctl_usage_error(ctx, "unknown option '%s'", opt);
			goto out;
		}
	}
	if (dataset == NULL) {
		ctl_usage_error(ctx, "no dataset");
		goto out;
	}
	if (n_specs > 0 && strategy_name != NULL) {
		ctl_usage_error(ctx,
		    "--strategy and --compare do not mix: name each "
		    "configuration's strategy in its --compare");
		goto out;
	}
	if (n_specs == 0 && chart_path != NULL) {
		ctl_usage_error(ctx, "--chart needs --compare");
		goto out;
	}
	json_object_set(base, "scorer", scorer);
	/* Check the options before reading the dataset. */
	if (n_specs > 0) {
		configs = eval_configs(ctx, base, sets, n_sets, specs, n_specs);
		if (configs == NULL)
			goto out;
	} else if ((params = eval_params(
	                ctx, base, strategy_name, sets, n_sets)) == NULL)
		goto out;
	if ((items = eval_load(ctx, dataset)) == NULL)
		goto out;
	if (params != NULL)
		json_object_set(params, "items", items);
	json_array_foreach(configs, i, c)
	    json_object_set(json_object_get(c, "params"), "items", items);
	json_decref(items);

	/* An evaluation takes as long as its items: no overall limit. */
	if (ctx->timeout_ms == CTL_DEFAULT_TIMEOUT_MS)
		ctx->timeout_ms = 0;
	ctx->notify = eval_progress;
	ctx->notify_arg = &tty;
	if (n_specs > 0) {
		rc = eval_compare(
		    ctx, configs, dataset, report_path, chart_path);
		ctx->notify = NULL;
		goto out;
	}
	rc = ctl_request(ctx, "eval.run", params, &result);
	ctx->notify = NULL;
	if (rc != CTL_EXIT_OK)
		goto out;
	if (report_path != NULL) {
		if (json_dump_file(json_object_get(result, "report"),
		        report_path, JSON_INDENT(2)) != 0) {
			ctl_warn(
			    ctx, "%s: cannot write the report", report_path);
			rc = CTL_EXIT_ERROR;
		}
	}
	if (ctx->json) {
		ctl_print_json(ctx, stdout, json_object_get(result, "report"));
	} else {
		text = json_string_value(json_object_get(result, "markdown"));
		if (text != NULL)
			ctl_print_text(stdout, text, strlen(text));
	}
	json_decref(result);
out:
	json_decref(params);
	json_decref(configs);
	json_decref(base);
	json_decref(scorer);
	free(sets);
	return rc;
}
