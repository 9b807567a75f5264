/*
 * ctl-eval.c: `agentctl eval DATASET.jsonl [--agent A] [--strategy S]
 * [--set KEY=VALUE]... [--concurrency N] [--scorer TYPE] [--tolerance X]
 * [--ignore-case] [--scorer-tool NAME] [--judge AGENT [--rubric TEXT]]
 * [--report FILE]`.
 *
 * agentctl reads the dataset itself (one JSON object {"id", "input",
 * "expected"} per line; blank lines skipped; an item without "id" takes
 * its line number) and sends the items with eval.run, so the daemon
 * never opens a user's path.  While it runs, eval.progress drives a
 * progress bar on standard error (when it is a terminal; a line per item
 * otherwise).  The report prints as Markdown, or as JSON with --json;
 * --report FILE also writes the JSON report there.  --set KEY=VALUE adds
 * an agent.run param for every item (strategy.KEY=VALUE a member of the
 * strategy), the value read as JSON when it parses, else as a string.
 * --scorer-tool NAME scores with a tool of the daemon (a Lua scorer is a
 * Lua tool), called with {"input", "answer", "expected"}; --judge AGENT
 * has the agent judge each answer (the LLM judge), with --rubric TEXT.
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
static int eval_set(const struct ctl_ctx *, json_t *, json_t *, const char *);

const struct ctl_cmd ctl_cmd_eval = {
	.name = "eval",
	.usage = "DATASET.jsonl [--agent A] [--strategy S] [--set K=V]... "
	         "[--concurrency N] [--scorer exact|numeric|regex|contains] "
	         "[--tolerance X] [--ignore-case] [--scorer-tool NAME] "
	         "[--judge AGENT [--rubric TEXT]] [--report FILE]",
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

/* One --set KEY=VALUE into params (strategy.KEY into strategy). */
static int
eval_set(const struct ctl_ctx *ctx, json_t *params, json_t *strategy,
    const char *arg)
{
	const char *eq = strchr(arg, '=');
	json_t *target = params, *v;
	char *key;

	if (eq == NULL || eq == arg) {
		ctl_usage_error(ctx, "--set: '%s' is not KEY=VALUE", arg);
		return -1;
	}
	key = xstrndup(arg, (size_t)(eq - arg));
	if (strncmp(key, "strategy.", 9) == 0) {
		target = strategy;
		memmove(key, key + 9, strlen(key + 9) + 1);
	}
	if (*key == '\0' || strcmp(key, "input") == 0 ||
	    strcmp(key, "stream") == 0 || strcmp(key, "strategy") == 0 ||
	    !utf8_valid(eq + 1, strlen(eq + 1))) {
		ctl_usage_error(ctx, "--set: '%s' cannot be set this way", arg);
		free(key);
		return -1;
	}
	v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (v == NULL)
		v = json_string(eq + 1);
	json_object_set_new(target, key, v);
	free(key);
	return 0;
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

static enum ctl_exit
eval_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params, *strategy, *set, *scorer, *items, *result;
	const char *dataset = NULL, *report_path = NULL, *opt;
	enum ctl_exit rc = CTL_EXIT_USAGE;
	const char *text;
	char *end;
	long conc;
	double tol;
	int tty = isatty(STDERR_FILENO);

	params = json_object();
	strategy = json_object();
	set = json_object();
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
			    params, "agent", json_string(argv[++a]));
		} else if (strcmp(opt, "--strategy") == 0) {
			json_object_set_new(
			    strategy, "name", json_string(argv[++a]));
		} else if (strcmp(opt, "--set") == 0) {
			if (eval_set(ctx, set, strategy, argv[++a]) != 0)
				goto out;
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
			    params, "concurrency", json_integer(conc));
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
	if ((items = eval_load(ctx, dataset)) == NULL) {
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	json_object_set_new(params, "items", items);
	if (json_object_size(strategy) > 0)
		json_object_set(params, "strategy", strategy);
	if (json_object_size(set) > 0)
		json_object_set(params, "set", set);
	json_object_set(params, "scorer", scorer);

	/* An evaluation takes as long as its items: no overall limit. */
	if (ctx->timeout_ms == CTL_DEFAULT_TIMEOUT_MS)
		ctx->timeout_ms = 0;
	ctx->notify = eval_progress;
	ctx->notify_arg = &tty;
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
	json_decref(strategy);
	json_decref(set);
	json_decref(scorer);
	return rc;
}
