/*
 * ctl-run.c: `agentctl run [OPTIONS] TASK`: runs an agent on a task with
 * agent.run and shows its steps as they happen: the model's text token by
 * token, each observation, then the answer.  On a terminal the parts get
 * colours (unless NO_COLOR is set); piped, the output is plain.  With
 * --json (or the global -j) every agent.event is printed as one JSON line
 * and the result as the last line.
 *
 *   --agent NAME       the agent (default: react, the built-in loop)
 *   --tools a,b        the tools the run may use (default: all)
 *   --max-steps N      at most N steps (default 8)
 *   --timeout-ms N     the run's wall-clock limit (default 120000)
 *   --strategy NAME    a reasoning strategy (cot, self_consistency, tot,
 *                      budget, best_of_n): "strategy": {"name": NAME}
 *   --set KEY=VALUE    a setting of the strategy (n=3, early_stop=false,
 *                      budget.max_thinking_tokens=64) or any other member
 *                      of agent.run's params (max_tokens=64), repeated;
 *                      VALUE is read as JSON when it parses, else it is a
 *                      string (ctl-strategy.c says where each KEY goes).
 *   --json             machine output
 *
 * Exit status 0 when the run ended with a final answer, 1 when it ended
 * otherwise (max_steps, timeout, cancelled, loop, error) or the daemon
 * refused it.  Interrupting agentctl closes the connection, which cancels
 * the run.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

#define RUN_DEFAULT_TIMEOUT_MS 120000
/* How much longer than the run agentctl waits for its answer. */
#define RUN_GRACE_MS 10000
/* The most --set options. */
#define RUN_MAX_SETS 64

/* ANSI colours, or empty strings when the output is not a terminal. */
struct run_style {
	const char *dim, *bold, *green, *red, *cyan, *off;
};

struct run_view {
	struct ctl_ctx *ctx;
	struct run_style st;
	int at_line_start;
	int json;
	int branches; /* a strategy runs: events per branch, no tokens */
};

static enum ctl_exit run_exec(struct ctl_ctx *ctx, int argc, char **argv);
static void run_notify(const char *method, json_t *params, void *arg);
static int run_number(const char *arg, long max, long *out);
static void run_newline(struct run_view *v);
static void run_branch_event(
    struct run_view *v, const char *type, json_t *params);
static void run_report(struct run_view *v, json_t *report);

const struct ctl_cmd ctl_cmd_run = {
	.name = "run",
	.usage = "[--agent NAME] [--tools a,b] [--max-steps N] "
	         "[--timeout-ms N] [--strategy NAME] [--set KEY=VALUE]... "
	         "[--json] TASK",
	.summary = "run an agent on a task and watch its steps",
	.min_args = 1,
	.max_args = -1,
	.exec = run_exec,
};

/* Parses a positive integer up to max. */
static int
run_number(const char *arg, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Ends the current line of streamed text, if one is open. */
static void
run_newline(struct run_view *v)
{
	if (!v->at_line_start)
		fputc('\n', stdout);
	v->at_line_start = 1;
}

/*
 * Shows one event of a strategy's run.  Its branches (samples, tree
 * nodes) run at the same time, so their tokens would interleave: each
 * event gets a line of its own, prefixed with its branch, and the token
 * stream is left out.
 */
static void
run_branch_event(struct run_view *v, const char *type, json_t *params)
{
	const char *text = json_string_value(json_object_get(params, "text"));
	json_int_t branch =
	    json_integer_value(json_object_get(params, "branch"));
	json_int_t step = json_integer_value(json_object_get(params, "step"));
	json_int_t thinking =
	    json_integer_value(json_object_get(params, "thinking_tokens"));
	char *s = NULL;

	if (strcmp(type, "token") == 0 || strcmp(type, "final") == 0)
		return;
	run_newline(v);
	printf("%s[%" JSON_INTEGER_FORMAT "]%s ", v->st.dim, branch, v->st.off);
	if (strcmp(type, "step") == 0) {
		printf("%s-- step %" JSON_INTEGER_FORMAT "%s\n", v->st.cyan,
		    step, v->st.off);
	} else if (strcmp(type, "thought") == 0 && text != NULL) {
		fputs("Thought: ", stdout);
		ctl_print_text(stdout, text, strlen(text));
		fputc('\n', stdout);
	} else if (strcmp(type, "action") == 0) {
		s = json_dumps(json_object_get(params, "input"),
		    JSON_COMPACT | JSON_ENCODE_ANY);
		fputs("Action: ", stdout);
		text = json_string_value(json_object_get(params, "tool"));
		if (text != NULL)
			ctl_print_text(stdout, text, strlen(text));
		fputc(' ', stdout);
		if (s != NULL)
			ctl_print_text(stdout, s, strlen(s));
		fputc('\n', stdout);
	} else if (strcmp(type, "observation") == 0 && text != NULL) {
		printf("%sObservation: ",
		    json_is_true(json_object_get(params, "error"))
		        ? v->st.red
		        : v->st.green);
		ctl_print_text(stdout, text, strlen(text));
		printf("%s\n", v->st.off);
	} else if (strcmp(type, "wait") == 0) {
		printf("%swait %" JSON_INTEGER_FORMAT
		       " after %" JSON_INTEGER_FORMAT " thinking tokens%s\n",
		    v->st.cyan,
		    json_integer_value(json_object_get(params, "waits")),
		    thinking, v->st.off);
	} else if (strcmp(type, "budget_forced") == 0) {
		printf("%sthinking ended at the budget, %" JSON_INTEGER_FORMAT
		       " tokens%s\n",
		    v->st.cyan, thinking, v->st.off);
	} else {
		s = json_dumps(params, JSON_COMPACT);
		printf("%s%s: ", v->st.dim, type);
		if (s != NULL)
			ctl_print_text(stdout, s, strlen(s));
		printf("%s\n", v->st.off);
	}
	free(s);
}

/* One line with the scalar members of a strategy's report. */
static void
run_report(struct run_view *v, json_t *report)
{
	const char *key;
	json_t *m;
	char *s;
	int first = 1;

	if (!json_is_object(report))
		return;
	printf("%sstrategy:", v->st.dim);
	json_object_foreach(report, key, m)
	{
		if (json_is_object(m) || json_is_array(m))
			continue;
		s = json_is_string(m) ? xstrdup(json_string_value(m))
		                      : json_dumps(m, JSON_ENCODE_ANY);
		printf("%s %s=", first ? "" : ",", key);
		if (s != NULL)
			ctl_print_text(stdout, s, strlen(s));
		free(s);
		first = 0;
	}
	printf("%s\n", v->st.off);
}

/* Shows one agent.event as it arrives. */
static void
run_notify(const char *method, json_t *params, void *arg)
{
	struct run_view *v = arg;
	const char *type, *text;
	json_t *step;
	char *s;

	if (v->json) {
		ctl_print_notify(method, params, v->ctx);
		return;
	}
	if (strcmp(method, "agent.event") != 0 || !json_is_object(params))
		return;
	type = json_string_value(json_object_get(params, "type"));
	text = json_string_value(json_object_get(params, "text"));
	step = json_object_get(params, "step");
	if (type == NULL)
		return;
	if (v->branches && strcmp(type, "start") != 0) {
		run_branch_event(v, type, params);
		fflush(stdout);
		return;
	}
	if (strcmp(type, "start") == 0) {
		printf("%srun %s, agent %s, trace %s%s\n", v->st.dim,
		    json_string_value(json_object_get(params, "run_id")),
		    json_string_value(json_object_get(params, "agent")),
		    json_string_value(json_object_get(params, "trace_id")),
		    v->st.off);
	} else if (strcmp(type, "step") == 0) {
		run_newline(v);
		printf("%s-- step %" JSON_INTEGER_FORMAT "%s\n", v->st.cyan,
		    json_integer_value(step), v->st.off);
	} else if (strcmp(type, "token") == 0 && text != NULL) {
		ctl_print_text(stdout, text, strlen(text));
		v->at_line_start =
		    text[0] != '\0' && text[strlen(text) - 1] == '\n';
	} else if (strcmp(type, "observation") == 0 && text != NULL) {
		run_newline(v);
		printf("%sObservation: ",
		    json_is_true(json_object_get(params, "error"))
		        ? v->st.red
		        : v->st.green);
		ctl_print_text(stdout, text, strlen(text));
		printf("%s\n", v->st.off);
	} else if (strcmp(type, "final") == 0) {
		run_newline(v);
	} else if (strcmp(type, "thought") == 0 ||
	    strcmp(type, "action") == 0) {
		/* Already shown token by token. */
	} else {
		/* An event this version does not know: show it as it is. */
		run_newline(v);
		s = json_dumps(params, JSON_COMPACT);
		printf("%s%s: ", v->st.dim, type);
		if (s != NULL)
			ctl_print_text(stdout, s, strlen(s));
		printf("%s\n", v->st.off);
		free(s);
	}
	fflush(stdout);
}

static enum ctl_exit
run_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	struct run_view view;
	json_t *params, *result, *tools, *usage;
	const char *task = NULL, *agent = NULL, *tlist = NULL, *ending, *answer;
	const char *nc, *strategy_name = NULL, *sets[RUN_MAX_SETS];
	json_t *strategy;
	size_t n_sets = 0;
	long max_steps = 0, timeout = RUN_DEFAULT_TIMEOUT_MS;
	enum ctl_exit rc;
	char *copy, *p, *name, *cause = NULL;
	int opts = 1;

	memset(&view, 0, sizeof view);
	view.ctx = ctx;
	view.json = ctx->json;
	view.at_line_start = 1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
			continue;
		}
		if (opts && strcmp(a, "--json") == 0) {
			view.json = ctx->json = 1;
			continue;
		}
		if (opts &&
		    (strcmp(a, "--set") == 0 || strcmp(a, "--strategy") == 0)) {
			if (i + 1 >= argc)
				return ctl_usage_error(
				    ctx, "%s needs an argument", a);
			val = argv[++i];
			if (strcmp(a, "--strategy") == 0)
				strategy_name = val;
			else if (n_sets == RUN_MAX_SETS)
				return ctl_usage_error(
				    ctx, "more than %d --set", RUN_MAX_SETS);
			else
				sets[n_sets++] = val;
			continue;
		}
		if (opts &&
		    (strcmp(a, "--agent") == 0 || strcmp(a, "--tools") == 0 ||
		        strcmp(a, "--max-steps") == 0 ||
		        strcmp(a, "--timeout-ms") == 0)) {
			if (i + 1 >= argc)
				return ctl_usage_error(
				    ctx, "%s needs an argument", a);
			val = argv[++i];
			if (strcmp(a, "--agent") == 0)
				agent = val;
			else if (strcmp(a, "--tools") == 0)
				tlist = val;
			else if (strcmp(a, "--max-steps") == 0) {
				if (run_number(val, 256, &max_steps) != 0)
					return ctl_usage_error(ctx,
					    "--max-steps: '%s' is not a number "
					    "from 1 to 256",
					    val);
			} else if (run_number(val, 86400000, &timeout) != 0) {
				return ctl_usage_error(ctx,
				    "--timeout-ms: '%s' is not a number of "
				    "milliseconds",
				    val);
			}
			continue;
		}
		if (opts && a[0] == '-' && a[1] != '\0')
			return ctl_usage_error(ctx, "unknown option '%s'", a);
		if (task != NULL)
			return ctl_usage_error(
			    ctx, "give the task as one argument (quote it)");
		task = a;
	}
	if (task == NULL || *task == '\0')
		return ctl_usage_error(ctx, "no task given");
	if (!utf8_valid(task, strlen(task)))
		return ctl_usage_error(ctx, "the task is not valid UTF-8");

	params = json_pack("{s:s, s:b, s:I}", "input", task, "stream", 1,
	    "timeout_ms", (json_int_t)timeout);
	if (params == NULL)
		fatalx("%s: cannot build the params", __func__);
	if (agent != NULL)
		json_object_set_new(params, "agent", json_string(agent));
	if (max_steps != 0)
		json_object_set_new(
		    params, "max_steps", json_integer(max_steps));
	if (tlist != NULL) {
		tools = json_array();
		copy = xstrdup(tlist);
		for (p = copy; (name = strsep(&p, ",")) != NULL;) {
			if (*name != '\0')
				json_array_append_new(tools, json_string(name));
		}
		free(copy);
		json_object_set_new(params, "tools", tools);
	}
	if (ctl_strategy_build(
	        strategy_name, sets, n_sets, params, &strategy, &cause) != 0) {
		json_decref(params);
		rc = ctl_usage_error(ctx, "%s", cause);
		free(cause);
		return rc;
	}
	if (strategy != NULL) {
		json_object_set_new(params, "strategy", strategy);
		view.branches = 1;
	}
	/* A --set timeout_ms=N counts for the wait below too. */
	if (json_is_integer(json_object_get(params, "timeout_ms")) &&
	    json_integer_value(json_object_get(params, "timeout_ms")) > 0)
		timeout = (long)json_integer_value(
		    json_object_get(params, "timeout_ms"));

	nc = getenv("NO_COLOR");
	if (!view.json && isatty(STDOUT_FILENO) &&
	    (nc == NULL || *nc == '\0')) {
		view.st.dim = "\033[2m";
		view.st.bold = "\033[1m";
		view.st.green = "\033[32m";
		view.st.red = "\033[31m";
		view.st.cyan = "\033[36m";
		view.st.off = "\033[0m";
	} else {
		view.st.dim = view.st.bold = view.st.green = "";
		view.st.red = view.st.cyan = view.st.off = "";
	}

	/* Wait as long as the run may take, and a little more. */
	if (ctx->timeout_ms != 0 && ctx->timeout_ms < timeout + RUN_GRACE_MS)
		ctx->timeout_ms = timeout + RUN_GRACE_MS > INT_MAX
		    ? INT_MAX
		    : (int)(timeout + RUN_GRACE_MS);
	ctx->notify = run_notify;
	ctx->notify_arg = &view;
	rc = ctl_request(ctx, "agent.run", params, &result);
	json_decref(params);
	if (rc != CTL_EXIT_OK)
		return rc;

	ending = json_string_value(json_object_get(result, "ending"));
	if (view.json) {
		ctl_print_json(ctx, stdout, result);
	} else {
		answer = json_string_value(json_object_get(result, "answer"));
		usage = json_object_get(result, "usage");
		run_newline(&view);
		if (answer != NULL) {
			printf("%sAnswer: ", view.st.bold);
			ctl_print_text(stdout, answer, strlen(answer));
			printf("%s\n", view.st.off);
		} else {
			const char *err =
			    json_string_value(json_object_get(result, "error"));

			printf("%sNo answer: %s", view.st.red,
			    ending != NULL ? ending : "?");
			if (err != NULL) {
				fputs(" (", stdout);
				ctl_print_text(stdout, err, strlen(err));
				fputc(')', stdout);
			}
			printf("%s\n", view.st.off);
		}
		printf("%s%s, %zu steps, prompt tokens %" JSON_INTEGER_FORMAT
		       " computed + %" JSON_INTEGER_FORMAT
		       " reused, %" JSON_INTEGER_FORMAT
		       " completion tokens, trace %s%s\n",
		    view.st.dim, ending != NULL ? ending : "?",
		    json_array_size(json_object_get(result, "steps")),
		    json_integer_value(
		        json_object_get(usage, "prompt_tokens_computed")),
		    json_integer_value(
		        json_object_get(usage, "prompt_tokens_reused")),
		    json_integer_value(
		        json_object_get(usage, "completion_tokens")),
		    json_string_value(json_object_get(result, "trace_id")),
		    view.st.off);
		run_report(&view, json_object_get(result, "strategy"));
	}
	rc = ending != NULL && strcmp(ending, "final_answer") == 0
	    ? CTL_EXIT_OK
	    : CTL_EXIT_ERROR;
	json_decref(result);
	return rc;
}
