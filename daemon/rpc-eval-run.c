/*
 * rpc-eval-run.c: eval.run, an agent evaluated on a dataset the client
 * sends (agentctl eval reads the file, so the daemon never opens a
 * user's path).  Params: {"items": [{"id", "input", "expected",
 * "tools"?}, ...] (an item's "tools", as agent.run takes them, offers it
 * those tools instead of the default set; other members are ignored)
 * (1 to AGENT_EVAL_MAX_ITEMS), "agent" ("react"), "strategy" (as
 * agent.run takes it; optional), "set" (more agent.run params for every
 * item, such as {"temperature": 0.7, "max_steps": 4}), "scorer"
 * ({"type": "exact"}; eval.h lists the scorers), "concurrency" (1 to
 * EVAL_MAX_CONCURRENCY, default 1)}.
 *
 * Each item is one agent.run on a worker, up to concurrency at a time;
 * the answer is scored and the run's spans are read back from the trace
 * store.  After each item the client gets an eval.progress notification
 * {request_id, done, total, passed, id, pass, error?}.  The result is
 * {"report": agent_eval_report()'s object, "markdown": the same as
 * Markdown}.  The tool scorer ({"type": "tool", "name"}: a Lua scorer is
 * a Lua tool) is called here, with {"input", "answer", "expected"}, under
 * tool_timeout_ms; its text is read by agent_eval_verdict().  The LLM
 * judge ({"type": "judge", "agent", "rubric"}) is one more run of the
 * judge agent, without tools, on agent_eval_judge_prompt(); its final
 * answer is the verdict.  An item without an answer fails unjudged.  Items that fail (an unknown tool, too many runs, a model
 * error) count as failed with their "error"; the evaluation goes on.
 * When the client goes away, items not yet started are skipped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/eval.h"
#include "daemon/daemon-int.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

#define EVAL_MAX_CONCURRENCY 32

struct eval_job;

static int eval_run_check(const json_t *, char **);
static int eval_run_exec(struct dmn_request *, char **);
static void eval_work(void *);
static json_t *eval_run_params(const json_t *, const json_t *);
static json_t *eval_item(struct eval_job *, size_t);
static void item_hook_event(void *, json_t *);
static void item_hook_done(void *, json_t *);
static int item_hook_gone(void *);
static void eval_finish(struct eval_job *);
static void eval_job_free(struct eval_job *);
static void eval_finish_cb(void *);
static json_t *eval_agent_run(struct eval_job *, const json_t *, char **);
static int eval_judge(
    struct eval_job *, const json_t *, const char *, int *, char **);
static int eval_score(
    struct eval_job *, const json_t *, const char *, int *, char **);

const struct dmn_method dmn_method_eval_run = {
	.name = "eval.run",
	.description = "Evaluates an agent on dataset items; sends "
	               "eval.progress notifications; returns the report.",
	.flags = 0,
	.check = eval_run_check,
	.exec = eval_run_exec,
};

/* One evaluation, shared by its worker jobs. */
struct eval_job {
	struct dmn_request *req;
	struct agent_runtime *rt;
	const json_t *params; /* the request's, borrowed */
	const json_t *items;
	json_t *scorer;            /* owned */
	struct plug_set *set;      /* the tool scorer's snapshot, or NULL */
	struct plug_tool *tool;    /* the tool scorer (in set), or NULL */
	struct plug_limits limits; /* for the tool scorer */
	char *trace_dir;
	size_t total;

	pthread_mutex_t lock; /* guards the fields below */
	size_t next;
	size_t done;
	size_t passed;
	size_t holders;  /* running jobs, plus exec while it submits */
	json_t *results; /* one slot per item */
};

/* What one item's run hands back. */
struct item_wait {
	struct eval_job *job;
	json_t *result;
};

/*
 * agent.run's params for one item: set, then agent, strategy, input and
 * the item's tools.
 */
static json_t *
eval_run_params(const json_t *params, const json_t *item)
{
	json_t *p, *v;

	v = json_object_get(params, "set");
	p = v != NULL ? json_deep_copy(v) : json_object();
	v = json_object_get(params, "agent");
	if (v != NULL)
		json_object_set(p, "agent", (json_t *)(uintptr_t)v);
	v = json_object_get(params, "strategy");
	if (v != NULL)
		json_object_set(p, "strategy", (json_t *)(uintptr_t)v);
	json_object_set(p, "input", json_object_get(item, "input"));
	/* An item's own tool list wins over the set's. */
	v = json_object_get(item, "tools");
	if (v != NULL)
		json_object_set(p, "tools", (json_t *)(uintptr_t)v);
	json_object_del(p, "stream");
	return p;
}

static int
eval_run_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v, *item, *run, *scorer;
	size_t i;
	int rc;

	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object");
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, "items") == 0 || strcmp(key, "agent") == 0 ||
		    strcmp(key, "strategy") == 0 || strcmp(key, "scorer") == 0)
			continue;
		if (strcmp(key, "set") == 0) {
			if (!json_is_object(v) ||
			    json_object_get(v, "input") != NULL) {
				xasprintf(cause,
				    "\"set\" must be an object of agent.run "
				    "params other than \"input\"");
				return -1;
			}
		} else if (strcmp(key, "concurrency") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > EVAL_MAX_CONCURRENCY) {
				xasprintf(cause,
				    "\"concurrency\" must be an integer from 1 "
				    "to %d",
				    EVAL_MAX_CONCURRENCY);
				return -1;
			}
		} else {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
	}
	v = json_object_get(params, "items");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > AGENT_EVAL_MAX_ITEMS) {
		xasprintf(cause, "\"items\" must be an array of 1 to %d items",
		    AGENT_EVAL_MAX_ITEMS);
		return -1;
	}
	json_array_foreach(v, i, item)
	{
		json_t *id = json_object_get(item, "id");

		if (!json_is_object(item) ||
		    !(json_is_string(id) || json_is_integer(id)) ||
		    !json_is_string(json_object_get(item, "input")) ||
		    json_object_get(item, "expected") == NULL) {
			xasprintf(cause,
			    "items[%zu] must be {\"id\": string or integer, "
			    "\"input\": string, \"expected\"}",
			    i);
			return -1;
		}
		/* Each item's run must be one agent.run accepts. */
		run = eval_run_params(params, item);
		rc = agent_run_params_check(run, cause);
		json_decref(run);
		if (rc != 0) {
			char *inner = *cause;

			xasprintf(cause, "items[%zu]: %s", i, inner);
			free(inner);
			return -1;
		}
	}
	scorer = json_object_get(params, "scorer");
	if (scorer == NULL)
		return 0;
	return agent_eval_scorer_check(scorer, v, cause);
}

static void
item_hook_event(void *arg, json_t *params)
{
	(void)arg;
	json_decref(params);
}

static void
item_hook_done(void *arg, json_t *result)
{
	struct item_wait *w = arg;

	w->result = result;
}

static int
item_hook_gone(void *arg)
{
	struct item_wait *w = arg;

	return dmn_request_cancelled(w->job->req);
}

/*
 * Runs one agent.run (params borrowed) to its end on this thread.
 * Returns its result (new), or NULL with *cause when it could not start.
 */
static json_t *
eval_agent_run(struct eval_job *job, const json_t *params, char **cause)
{
	struct agent_run_hooks hooks;
	struct agent_run *run;
	struct item_wait w;
	enum agent_err err;

	memset(&w, 0, sizeof w);
	w.job = job;
	hooks.arg = &w;
	hooks.event = item_hook_event;
	hooks.done = item_hook_done;
	hooks.gone = item_hook_gone;
	run = agent_run_new(job->rt, params, &hooks, &err, cause);
	if (run == NULL)
		return NULL;
	agent_run_execute(run);
	agent_run_unref(run);
	if (w.result == NULL)
		w.result = json_object();
	return w.result;
}

/*
 * The LLM judge: a run of the judge agent on the item; its answer is the
 * verdict.
 */
static int
eval_judge(struct eval_job *job, const json_t *item, const char *answer,
    int *pass, char **cause)
{
	const char *agent =
	    json_string_value(json_object_get(job->scorer, "agent"));
	const char *said;
	json_t *params, *res;
	char *prompt;
	int rc;

	*pass = 0;
	if (answer == NULL)
		return 0;
	prompt = agent_eval_judge_prompt(job->scorer,
	    json_string_value(json_object_get(item, "input")), answer,
	    json_object_get(item, "expected"));
	params = json_pack("{s:s, s:s, s:[], s:i, s:f}", "agent",
	    agent != NULL ? agent : "react", "input", prompt, "tools",
	    "max_steps", 2, "temperature", 0.0);
	free(prompt);
	res = eval_agent_run(job, params, cause);
	json_decref(params);
	if (res == NULL)
		return -1;
	said = json_string_value(json_object_get(res, "answer"));
	if (said == NULL) {
		xasprintf(cause, "the judge gave no verdict: %s",
		    json_string_value(json_object_get(res, "error")) != NULL
		        ? json_string_value(json_object_get(res, "error"))
		        : "no answer");
		json_decref(res);
		return -1;
	}
	rc = agent_eval_verdict(said, pass, cause);
	json_decref(res);
	return rc;
}

/* Scores an answer, with the scorer tool or the judge when asked. */
static int
eval_score(struct eval_job *job, const json_t *item, const char *answer,
    int *pass, char **cause)
{
	struct plug_result res;
	json_t *args;
	int rc = -1;

	if (strcmp(json_string_value(json_object_get(job->scorer, "type")),
	        "judge") == 0)
		return eval_judge(job, item, answer, pass, cause);
	if (job->tool == NULL)
		return agent_eval_score(job->scorer, answer,
		    json_object_get(item, "expected"), pass, cause);
	*pass = 0;
	args = json_pack("{s:O, s:s, s:O}", "input",
	    json_object_get(item, "input"), "answer",
	    answer != NULL ? answer : "", "expected",
	    json_object_get(item, "expected"));
	memset(&res, 0, sizeof res);
	if (plug_tool_call(job->tool, args, &job->limits, NULL, &res, cause) !=
	    0)
		goto out;
	if (res.is_error) {
		xasprintf(cause, "scorer tool '%s' failed: %s",
		    plug_tool_name(job->tool), res.text);
		goto out;
	}
	rc = agent_eval_verdict(res.text, pass, cause);
out:
	plug_result_clear(&res);
	json_decref(args);
	return rc;
}

/* Runs item i to its end and returns its result row (new). */
static json_t *
eval_item(struct eval_job *job, size_t i)
{
	const json_t *item = json_array_get(job->items, i);
	struct agent_run_hooks hooks;
	struct agent_run *run;
	struct item_wait w;
	enum agent_err err;
	json_t *params, *row, *spans;
	const char *answer, *tid, *error;
	char *why = NULL, *path;
	uint64_t t0 = clock_mono_ns();
	int pass = 0;

	memset(&w, 0, sizeof w);
	w.job = job;
	hooks.arg = &w;
	hooks.event = item_hook_event;
	hooks.done = item_hook_done;
	hooks.gone = item_hook_gone;
	params = eval_run_params(job->params, item);
	row = json_pack("{s:O, s:O}", "id", json_object_get(item, "id"),
	    "expected", json_object_get(item, "expected"));
	run = agent_run_new(job->rt, params, &hooks, &err, &why);
	json_decref(params);
	if (run == NULL) {
		json_object_set_new(row, "answer", json_null());
		json_object_set_new(row, "pass", json_false());
		json_object_set_new(row, "error", json_string(why));
		json_object_set_new(row, "wall_ms",
		    json_real((double)(clock_mono_ns() - t0) / 1e6));
		free(why);
		return row;
	}
	agent_run_execute(run);
	agent_run_unref(run);
	json_object_set_new(
	    row, "wall_ms", json_real((double)(clock_mono_ns() - t0) / 1e6));

	answer = json_string_value(json_object_get(w.result, "answer"));
	error = json_string_value(json_object_get(w.result, "error"));
	tid = json_string_value(json_object_get(w.result, "trace_id"));
	json_object_set_new(
	    row, "answer", answer != NULL ? json_string(answer) : json_null());
	if (error != NULL)
		json_object_set_new(row, "error", json_string(error));
	if (eval_score(job, item, answer, &pass, &why) != 0) {
		json_object_set_new(row, "error", json_string(why));
		free(why);
		why = NULL;
		pass = 0;
	}
	json_object_set_new(row, "pass", json_boolean(pass));
	if (tid != NULL && job->trace_dir != NULL &&
	    agent_trace_id_valid(tid)) {
		json_object_set_new(row, "trace_id", json_string(tid));
		xasprintf(&path, "%s/%s.jsonl", job->trace_dir, tid);
		spans = agent_trace_read(path, NULL, &why);
		free(path);
		if (spans != NULL) {
			json_object_set_new(row, "spans", spans);
		} else {
			log_warn("eval.run: %s", why);
			free(why);
		}
	}
	json_decref(w.result);
	return row;
}

/* Replies with the report, once every item is done. */
static void
eval_finish(struct eval_job *job)
{
	json_t *report;
	char *md;

	report = agent_eval_report(job->results);
	md = agent_eval_markdown(report);
	dmn_request_reply(job->req,
	    json_pack("{s:o, s:s}", "report", report, "markdown", md));
	free(md);
	eval_job_free(job);
}

/* eval_finish() from the loop's queue. */
static void
eval_finish_cb(void *arg)
{
	eval_finish(arg);
}

/* Frees a job. */
static void
eval_job_free(struct eval_job *job)
{
	json_decref(job->results);
	json_decref(job->scorer);
	if (job->set != NULL)
		plug_set_unref(job->set);
	free(job->trace_dir);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* One worker's share: items until none is left. */
static void
eval_work(void *arg)
{
	struct eval_job *job = arg;
	const json_t *id;
	json_t *row, *note;
	size_t i;
	int last;

	for (;;) {
		pthread_mutex_lock(&job->lock);
		if (job->next == job->total) {
			last = --job->holders == 0;
			pthread_mutex_unlock(&job->lock);
			break;
		}
		i = job->next++;
		pthread_mutex_unlock(&job->lock);

		if (dmn_request_cancelled(job->req)) {
			row = json_pack("{s:O, s:n, s:O, s:b, s:s, s:f}", "id",
			    json_object_get(
			        json_array_get(job->items, i), "id"),
			    "answer", "expected",
			    json_object_get(
			        json_array_get(job->items, i), "expected"),
			    "pass", 0, "error", "cancelled", "wall_ms", 0.0);
		} else {
			row = eval_item(job, i);
		}
		note = json_pack("{s:O?, s:I, s:b}", "id",
		    json_object_get(row, "id"), "total", (json_int_t)job->total,
		    "pass", json_is_true(json_object_get(row, "pass")));
		if (json_object_get(row, "error") != NULL)
			json_object_set(
			    note, "error", json_object_get(row, "error"));
		pthread_mutex_lock(&job->lock);
		json_array_set_new(job->results, i, row);
		job->done++;
		if (json_is_true(json_object_get(row, "pass")))
			job->passed++;
		json_object_set_new(
		    note, "done", json_integer((json_int_t)job->done));
		json_object_set_new(
		    note, "passed", json_integer((json_int_t)job->passed));
		pthread_mutex_unlock(&job->lock);
		id = dmn_request_id(job->req);
		json_object_set_new(note, "request_id",
		    id != NULL ? json_deep_copy(id) : json_null());
		dmn_request_notify(job->req, "eval.progress", note);
	}
	if (last)
		eval_finish(job);
}

static int
eval_run_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct eval_job *job;
	const json_t *params = dmn_request_params(req);
	json_int_t conc;
	size_t n, started = 0;
	char *why = NULL;
	int last;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->rt = dmn_agent_runtime(a);
	job->params = params;
	job->items = json_object_get(params, "items");
	job->total = json_array_size(job->items);
	job->scorer = json_object_get(params, "scorer") != NULL
	    ? json_deep_copy(json_object_get(params, "scorer"))
	    : json_pack("{s:s}", "type", "exact");
	if (pthread_mutex_init(&job->lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init failed", __func__);
	job->results = json_array();
	if (strcmp(json_string_value(json_object_get(job->scorer, "type")),
	        "tool") == 0) {
		job->set = plug_registry_get(dmn_agent_registry(a));
		job->tool = plug_set_find(job->set,
		    json_string_value(json_object_get(job->scorer, "name")));
		if (job->tool == NULL) {
			xasprintf(&why, "unknown scorer tool '%s'",
			    json_string_value(
			        json_object_get(job->scorer, "name")));
			dmn_agent_error(req, AGENT_ERR_UNKNOWN_NAME, why, NULL);
			free(why);
			eval_job_free(job);
			return 0;
		}
		job->limits.timeout_ms =
		    (uint32_t)dmn_request_ctx(req)->config->tool_timeout_ms;
	}
	/* Without a trace store the report has no per-component part. */
	job->trace_dir = agent_runtime_trace_dir(job->rt, &why);
	if (job->trace_dir == NULL) {
		log_warn("eval.run: %s", why);
		free(why);
		why = NULL;
	}
	for (size_t i = 0; i < job->total; i++)
		json_array_append_new(job->results, json_null());
	conc = json_integer_value(json_object_get(params, "concurrency"));
	n = conc < 1 ? 1 : (size_t)conc;
	if (n > job->total)
		n = job->total;
	/*
	 * exec holds the job while it submits, so that a worker finishing
	 * every item before the next one is submitted cannot end it.
	 */
	job->holders = 1;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&job->lock);
		job->holders++;
		pthread_mutex_unlock(&job->lock);
		if (dmn_pool_submit(dmn_request_pool(req), eval_work, NULL, job,
		        started == 0 ? cause : &why) != 0) {
			pthread_mutex_lock(&job->lock);
			job->holders--;
			pthread_mutex_unlock(&job->lock);
			if (started > 0)
				free(why);
			break;
		}
		started++;
	}
	if (started == 0) {
		/* Nothing runs: the error goes back, and the job with it. */
		goto fail;
	}
	/* Fewer workers than asked is fine: those started do every item. */
	pthread_mutex_lock(&job->lock);
	last = --job->holders == 0;
	pthread_mutex_unlock(&job->lock);
	/*
	 * The workers are done already.  Their eval.progress notifications
	 * may still wait in the loop's queue, and an answer given here, on
	 * the loop thread, would go out at once, ahead of them: queue it
	 * behind them instead.
	 */
	if (last)
		dmn_queue_push(
		    dmn_request_ctx(req)->queue, eval_finish_cb, job);
	return 0;

fail:
	eval_job_free(job);
	return -1;
}
