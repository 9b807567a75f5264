/*
 * react.c: the ReAct observe-plan-act loop (agent.h says what each phase
 * does; this file is written so that the three phases read top to bottom
 * in react_step()).
 *
 * The loop keeps its own copy of the transcript as steps (what the model
 * wrote, and the observation that followed), so that it can render the
 * transcript again, shortened, when the context would overflow.  The
 * backend session holds the same bytes; normally each step only appends
 * to it, and only a shortening rewinds it to the end of the prompt.
 *
 * Tools run on a thread of their own (tool_job) while the loop waits on a
 * condition variable in short slices, watching the run's cancel flag and
 * deadline and the tool's time limit.  When one trips, the loop abandons
 * the call: it tells the tool through the call's own cancel flag and
 * walks away; the job, which holds references to the tool and its
 * arguments, frees itself when the tool returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

/* How often a waiting loop looks at the flags, in milliseconds. */
#define REACT_POLL_MS 5
/* Grace after a tool's own time limit before it is abandoned. */
#define TOOL_GRACE_MS 200
/* Tool output and model text kept in a span's attributes. */
#define SPAN_TEXT_MAX 4096
/* What an observation becomes at each shortening level. */
#define OBS_OMITTED "[omitted]"

/* Tool threads still running, abandoned or not (for shutdown). */
static atomic_uint tool_threads;

/* A tool call running on its own thread. */
struct tool_job {
	atomic_uint refs; /* the waiter's and the thread's */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	struct plug_tool *tool;
	json_t *args;
	struct plug_limits limits;
	atomic_int cancel; /* set when the waiter gives up */
	struct plug_result res;
	int rc;
	char *cause;
};

/* How a tool call ended for the loop. */
enum tool_outcome {
	TOOL_DONE = 0,   /* res holds its result */
	TOOL_TIMEOUT,    /* its own limit passed: abandoned */
	TOOL_CANCELLED,  /* the run was cancelled: abandoned */
	TOOL_RUN_LATE,   /* the run's deadline passed: abandoned */
	TOOL_NOT_STARTED /* no thread could be made */
};

/* One step of the transcript. */
struct react_step {
	char *text;     /* what the model wrote, as kept */
	char *obs;      /* the observation's output (one line); NULL: none */
	int level;      /* shortening: 0 whole, 1 first line, 2 omitted */
	json_t *record; /* its entry in the result's steps */
};

struct react {
	struct agent_backend *b;
	struct plug_set *set;
	const struct agent_react_params *p;
	const struct agent_sink *sink;
	struct agent_span *parent;
	struct agent_react_result *res;

	struct agent_session *sess;
	char *prefix;         /* the prompt as fed (chat-wrapped if need be) */
	uint64_t prompt_mark; /* the session's end after the prefix */
	uint32_t n_ctx;
	uint32_t reserve; /* context room each plan needs */
	uint32_t max_tokens;
	int dirty; /* the session lacks the last observation */
	/*
	 * Prompt tokens appended since the last model call: a backend that
	 * computes them when they are appended (the local engine) reports
	 * them there, not in generate(); the next model call's span counts
	 * them as its input.
	 */
	uint32_t pend_computed;
	uint32_t pend_reused;

	struct plug_tool **tools; /* the run's tools, in name order */
	size_t n_tools;
	char *tool_names; /* "a, b, c" */

	struct react_step *steps;
	size_t n_steps;
	json_t *done_actions; /* [[name, args], ...] that ran */
	unsigned int repeats;
	char *final_text; /* the final step's text, once there is one */
	uint32_t step_no; /* the current step, from 1 */
	int ended;        /* res->ending is final */
};

static void *tool_thread(void *);
static void tool_job_unref(struct tool_job *);
static enum tool_outcome tool_run(struct plug_tool *, const json_t *, uint32_t,
    uint64_t, const atomic_int *, const struct agent_sink *,
    struct plug_result *, char **);
static int react_stopped(struct react *);
static void react_end(struct react *, enum agent_ending, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void react_emit(struct react *, const char *, json_t *);
static void react_on_token(void *, const char *, size_t);
static char *react_obs_at(const struct react_step *);
static char *react_render_step(const struct react_step *);
static uint32_t react_count_all(struct react *);
static int react_observe(struct react *, struct agent_span *);
static int react_plan(
    struct react *, struct agent_span *, struct agent_gen_result *);
static void react_act(struct react *, struct agent_span *, const char *, size_t,
    const struct agent_gen_result *, uint64_t);
static char *react_call_tool(
    struct react *, struct agent_span *, struct plug_tool *, const json_t *);
static int react_step(struct react *);
static struct plug_tool *react_find(struct react *, const char *);
static char *span_text(const char *, size_t);

const char *
agent_ending_name(enum agent_ending ending)
{
	switch (ending) {
	case AGENT_END_FINAL_ANSWER:
		return "final_answer";
	case AGENT_END_MAX_STEPS:
		return "max_steps";
	case AGENT_END_TIMEOUT:
		return "timeout";
	case AGENT_END_CANCELLED:
		return "cancelled";
	case AGENT_END_LOOP:
		return "loop";
	case AGENT_END_ERROR:
		return "error";
	}
	return "error";
}

/* Text for a span attribute: cut at SPAN_TEXT_MAX on a UTF-8 boundary. */
static char *
span_text(const char *s, size_t len)
{
	size_t cut = len;

	if (cut > SPAN_TEXT_MAX) {
		cut = SPAN_TEXT_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	return xstrndup(s, cut);
}

/* ---- tool calls on their own thread -------------------------------------- */

static void
tool_job_unref(struct tool_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1)
		return;
	plug_tool_unref(job->tool);
	json_decref(job->args);
	plug_result_clear(&job->res);
	free(job->cause);
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
	free(job);
}

static void *
tool_thread(void *arg)
{
	struct tool_job *job = arg;
	int rc;

	rc = plug_tool_call(job->tool, job->args, &job->limits, &job->cancel,
	    &job->res, &job->cause);
	pthread_mutex_lock(&job->mu);
	job->rc = rc;
	job->done = 1;
	pthread_cond_signal(&job->cv);
	pthread_mutex_unlock(&job->mu);
	tool_job_unref(job);
	atomic_fetch_sub(&tool_threads, 1);
	return NULL;
}

/*
 * Runs tool with args on a new thread and waits for it, for at most
 * timeout_ms (plus a grace for the tool to notice its own limit), the
 * run's deadline and its cancel flag; sink->poll runs on every slice.
 * On TOOL_DONE, *res holds the result (or rc -1 gave *cause).
 */
static enum tool_outcome
tool_run(struct plug_tool *tool, const json_t *args, uint32_t timeout_ms,
    uint64_t run_deadline_ns, const atomic_int *cancel,
    const struct agent_sink *sink, struct plug_result *res, char **cause)
{
	struct tool_job *job;
	pthread_attr_t attr;
	pthread_t tid;
	struct timespec ts;
	uint64_t limit_ns, now;
	enum tool_outcome out = TOOL_DONE;
	int err;

	job = xcalloc(1, sizeof *job);
	atomic_init(&job->refs, 2);
	atomic_init(&job->cancel, 0);
	pthread_mutex_init(&job->mu, NULL);
	pthread_cond_init(&job->cv, NULL);
	job->tool = plug_tool_ref(tool);
	job->args = json_deep_copy(args);
	if (job->args == NULL)
		fatalx("%s: out of memory", __func__);
	job->limits.timeout_ms = timeout_ms;
	limit_ns =
	    clock_mono_ns() + ((uint64_t)timeout_ms + TOOL_GRACE_MS) * 1000000u;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&tool_threads, 1);
	err = pthread_create(&tid, &attr, tool_thread, job);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		atomic_fetch_sub(&tool_threads, 1);
		xasprintf(cause, "cannot start a thread for tool '%s': %s",
		    plug_tool_name(tool), strerror(err));
		atomic_store(&job->refs, 1);
		tool_job_unref(job);
		return TOOL_NOT_STARTED;
	}

	pthread_mutex_lock(&job->mu);
	while (!job->done) {
		pthread_mutex_unlock(&job->mu);
		if (sink != NULL && sink->poll != NULL)
			sink->poll(sink->arg);
		now = clock_mono_ns();
		if (cancel != NULL && atomic_load(cancel) != 0)
			out = TOOL_CANCELLED;
		else if (run_deadline_ns != 0 && now >= run_deadline_ns)
			out = TOOL_RUN_LATE;
		else if (now >= limit_ns)
			out = TOOL_TIMEOUT;
		pthread_mutex_lock(&job->mu);
		if (out != TOOL_DONE || job->done)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += REACT_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&job->cv, &job->mu, &ts);
	}
	if (job->done) {
		/* It finished, perhaps just as a limit tripped: take it. */
		out = TOOL_DONE;
		*res = job->res;
		memset(&job->res, 0, sizeof job->res);
		if (job->rc != 0) {
			*cause = job->cause;
			job->cause = NULL;
		}
	} else {
		/* Abandon it: the thread frees the job when the tool ends. */
		atomic_store(&job->cancel, 1);
	}
	pthread_mutex_unlock(&job->mu);
	if (out == TOOL_DONE && job->rc != 0 && *cause == NULL)
		xasprintf(
		    cause, "tool '%s' could not run", plug_tool_name(tool));
	tool_job_unref(job);
	return out;
}

unsigned int
agent_tools_drain(uint64_t timeout_ms)
{
	struct timespec ts = { 0, REACT_POLL_MS * 1000000L };
	uint64_t end = clock_mono_ms() + timeout_ms;

	while (atomic_load(&tool_threads) != 0 && clock_mono_ms() < end)
		nanosleep(&ts, NULL);
	return atomic_load(&tool_threads);
}

void
agent_tool_invoke(struct plug_set *set, const char *const *names,
    size_t n_names, const char *name, const json_t *args, uint32_t timeout_ms,
    uint64_t deadline_ns, const atomic_int *cancel, struct agent_span *parent,
    char **text, int *is_error)
{
	struct plug_tool *tool;
	struct plug_result res;
	struct agent_span *span = NULL;
	char *cause = NULL, *argtext;
	enum tool_outcome out;
	int allowed = names == NULL;

	memset(&res, 0, sizeof res);
	*is_error = 1;
	*text = NULL;
	for (size_t i = 0; i < n_names && !allowed; i++) {
		if (strcmp(names[i], name) == 0)
			allowed = 1;
	}
	tool = allowed ? plug_set_find(set, name) : NULL;
	if (tool == NULL) {
		xasprintf(text, "unknown tool '%s'", name);
		return;
	}
	if (!json_is_object(args)) {
		*text = xstrdup("arguments are not a JSON object");
		return;
	}
	if (plug_tool_validate(tool, args, &cause) != 0) {
		xasprintf(text, "invalid arguments for %s: %s", name, cause);
		free(cause);
		return;
	}
	if (parent != NULL) {
		xasprintf(&argtext, "execute_tool %s", name);
		span = agent_span_child(parent, argtext, AGENT_SPAN_TOOL);
		free(argtext);
		agent_span_attr_str(
		    span, "gen_ai.operation.name", "execute_tool");
		agent_span_attr_str(span, "gen_ai.tool.name", name);
		argtext = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
		agent_span_attr_str(
		    span, "gen_ai.tool.call.arguments", argtext);
		free(argtext);
	}
	out = tool_run(
	    tool, args, timeout_ms, deadline_ns, cancel, NULL, &res, &cause);
	switch (out) {
	case TOOL_DONE:
		if (cause != NULL) {
			*text = cause;
			cause = NULL;
		} else {
			*text = res.text;
			*is_error = res.is_error;
			res.text = NULL;
		}
		break;
	case TOOL_TIMEOUT:
		xasprintf(
		    text, "tool '%s' timed out after %u ms", name, timeout_ms);
		break;
	case TOOL_CANCELLED:
		*text = xstrdup("cancelled");
		break;
	case TOOL_RUN_LATE:
		*text = xstrdup("timed out");
		break;
	case TOOL_NOT_STARTED:
		*text = cause;
		cause = NULL;
		break;
	}
	free(cause);
	plug_result_clear(&res);
	if (span != NULL) {
		char *cut = span_text(*text, strlen(*text));

		agent_span_attr_str(span, "gen_ai.tool.call.result", cut);
		free(cut);
		if (*is_error)
			agent_span_error(span, "tool failed");
		agent_span_end(span);
	}
}

/* ---- the loop ------------------------------------------------------------ */

/* Returns 1 (with the ending set) once the run must stop. */
static int
react_stopped(struct react *r)
{
	if (r->ended)
		return 1;
	if (r->sink != NULL && r->sink->poll != NULL)
		r->sink->poll(r->sink->arg);
	if (r->p->cancel != NULL && atomic_load(r->p->cancel) != 0) {
		react_end(r, AGENT_END_CANCELLED, "the run was cancelled");
		return 1;
	}
	if (r->p->deadline_ns != 0 && clock_mono_ns() >= r->p->deadline_ns) {
		react_end(r, AGENT_END_TIMEOUT, "the run timed out");
		return 1;
	}
	return 0;
}

/* Sets the ending (the first one wins) with a sentence saying why. */
static void
react_end(struct react *r, enum agent_ending ending, const char *fmt, ...)
{
	va_list ap;

	if (r->ended)
		return;
	r->ended = 1;
	r->res->ending = ending;
	free(r->res->error);
	r->res->error = NULL;
	if (ending != AGENT_END_FINAL_ANSWER) {
		va_start(ap, fmt);
		xvasprintf(&r->res->error, fmt, ap);
		va_end(ap);
	}
}

/* Sends an event with the step number added. */
static void
react_emit(struct react *r, const char *type, json_t *fields)
{
	if (fields == NULL)
		return;
	if (r->sink == NULL || r->sink->event == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(fields, "step", json_integer(r->step_no));
	r->sink->event(r->sink->arg, type, fields);
}

static void
react_on_token(void *arg, const char *text, size_t len)
{
	struct react *r = arg;

	if (r->sink != NULL && r->sink->poll != NULL)
		r->sink->poll(r->sink->arg);
	if (len == 0)
		return;
	react_emit(r, "token", json_pack("{s:s%}", "text", text, len));
}

static struct plug_tool *
react_find(struct react *r, const char *name)
{
	for (size_t i = 0; i < r->n_tools; i++) {
		if (strcmp(plug_tool_name(r->tools[i]), name) == 0)
			return r->tools[i];
	}
	return NULL;
}

/* The observation's output at the step's shortening level (new). */
static char *
react_obs_at(const struct react_step *st)
{
	const char *bar;

	if (st->level >= 2)
		return xstrdup(OBS_OMITTED);
	if (st->level == 1 && (bar = strstr(st->obs, " | ")) != NULL)
		return xstrndup(st->obs, (size_t)(bar - st->obs));
	return xstrdup(st->obs);
}

/* A step as the transcript holds it: its text and observation line. */
static char *
react_render_step(const struct react_step *st)
{
	struct buf out;
	char *obs;
	size_t len = strlen(st->text);

	buf_init(&out, SIZE_MAX);
	buf_add(&out, st->text, len);
	if (st->obs != NULL) {
		obs = react_obs_at(st);
		if (len > 0 && st->text[len - 1] != '\n')
			buf_add(&out, "\n", 1);
		buf_printf(&out, "Observation: %s\n", obs);
		free(obs);
	}
	return buf_steal(&out);
}

/* Tokens of the prefix and every step at their current levels. */
static uint32_t
react_count_all(struct react *r)
{
	uint64_t n = agent_backend_count(r->b, r->prefix, strlen(r->prefix));
	char *s;

	for (size_t i = 0; i < r->n_steps; i++) {
		s = react_render_step(&r->steps[i]);
		n += agent_backend_count(r->b, s, strlen(s));
		free(s);
	}
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/*
 * observe: make sure the transcript leaves room for a plan, shortening it
 * as agent.h documents.  Returns 0, or -1 with the run ended.
 */
static int
react_observe(struct react *r, struct agent_span *step)
{
	struct agent_span *span =
	    agent_span_child(step, "react.observe", AGENT_SPAN_STEP);
	struct agent_append_result ar;
	uint32_t have = agent_session_length(r->sess), need;
	size_t i, cut = 0, dropped = 0;
	char *cause = NULL, *s;
	int rc = -1;

	agent_span_attr_str(span, "agentd.phase", "observe");
	if (!r->dirty && (uint64_t)have + r->reserve <= r->n_ctx) {
		rc = 0;
		goto out;
	}

	/* Shorten: first lines, oldest first; then omit, oldest first. */
	need = react_count_all(r);
	for (int level = 1; level <= 2; level++) {
		for (i = 0;
		     i < r->n_steps && (uint64_t)need + r->reserve > r->n_ctx;
		     i++) {
			if (r->steps[i].obs == NULL ||
			    r->steps[i].level >= level)
				continue;
			r->steps[i].level = level;
			if (level == 1)
				cut++;
			else
				dropped++;
			need = react_count_all(r);
		}
	}
	if ((uint64_t)need + r->reserve > r->n_ctx) {
		agent_span_error(span, "context full");
		react_end(r, AGENT_END_ERROR,
		    "the transcript does not fit in the model's context of %u "
		    "tokens, even shortened",
		    r->n_ctx);
		goto out;
	}
	if (agent_session_rewind(r->sess, r->prompt_mark, &cause) != 0)
		goto fail;
	for (i = 0; i < r->n_steps; i++) {
		s = react_render_step(&r->steps[i]);
		rc = agent_session_append(r->sess, s, strlen(s), &ar, &cause);
		free(s);
		if (rc != 0)
			goto fail;
		r->res->usage.prompt_computed += ar.computed;
		r->res->usage.prompt_reused += ar.reused;
		r->pend_computed += ar.computed;
		r->pend_reused += ar.reused;
	}
	r->dirty = 0;
	agent_span_attr_int(
	    span, "agentd.context.observations_cut", (int64_t)cut);
	agent_span_attr_int(
	    span, "agentd.context.observations_omitted", (int64_t)dropped);
	if (cut + dropped > 0)
		log_debug("react: transcript shortened (%zu cut, %zu omitted)",
		    cut, dropped);
	rc = 0;
	goto out;

fail:
	agent_span_error(span, "%s", cause);
	react_end(r, AGENT_END_ERROR, "the model backend failed: %s", cause);
	free(cause);
	rc = -1;
out:
	agent_span_attr_int(
	    span, "agentd.context.tokens", agent_session_length(r->sess));
	agent_span_attr_int(span, "agentd.context.limit", r->n_ctx);
	agent_span_end(span);
	return rc;
}

/*
 * plan: the model writes the next step.  Returns 0 with *gen filled, or
 * -1 with the run ended.
 */
static int
react_plan(
    struct react *r, struct agent_span *step, struct agent_gen_result *gen)
{
	static const char *const stops[] = { AGENT_STOP_OBSERVATION };
	struct agent_gen_params gp;
	struct agent_span *plan, *llm;
	char *cause = NULL, *name, *cut;
	uint32_t room;
	json_t *reasons;

	plan = agent_span_child(step, "react.plan", AGENT_SPAN_STEP);
	agent_span_attr_str(plan, "agentd.phase", "plan");
	xasprintf(&name, "text_completion %s", agent_backend_name(r->b));
	llm = agent_span_child(plan, name, AGENT_SPAN_LLM);
	free(name);

	memset(&gp, 0, sizeof gp);
	room = agent_session_length(r->sess) < r->n_ctx
	    ? r->n_ctx - agent_session_length(r->sess)
	    : 0;
	gp.max_tokens = r->max_tokens < room ? r->max_tokens : room;
	gp.stop = stops;
	gp.n_stop = 1;
	gp.stop_line_prefix = AGENT_FINAL_PREFIX;
	gp.temperature = r->p->sampling.temperature;
	gp.top_k = r->p->sampling.top_k;
	gp.top_p = r->p->sampling.top_p;
	gp.min_p = r->p->sampling.min_p;
	gp.seed = r->p->sampling.seed;
	gp.cancel = r->p->cancel;
	gp.deadline_ns = r->p->deadline_ns;
	gp.on_token = react_on_token;
	gp.arg = r;

	agent_span_attr_str(llm, "gen_ai.operation.name", "text_completion");
	agent_span_attr_str(
	    llm, "gen_ai.request.model", agent_backend_name(r->b));
	agent_span_attr_str(llm, "agentd.backend", agent_backend_kind(r->b));
	agent_span_attr_int(llm, "gen_ai.request.max_tokens", gp.max_tokens);
	agent_span_attr_real(llm, "gen_ai.request.temperature", gp.temperature);
	if (gp.top_k != 0)
		agent_span_attr_int(llm, "gen_ai.request.top_k", gp.top_k);
	if (gp.top_p != 0)
		agent_span_attr_real(llm, "gen_ai.request.top_p", gp.top_p);
	agent_span_attr_int(llm, "gen_ai.request.seed", (int64_t)gp.seed);
	agent_span_attr(llm, "gen_ai.request.stop_sequences",
	    json_pack("[s]", AGENT_STOP_OBSERVATION));

	if (agent_session_generate(r->sess, &gp, gen, &cause) != 0) {
		agent_span_error(llm, "%s", cause);
		agent_span_end(llm);
		agent_span_error(plan, "model failed");
		agent_span_end(plan);
		react_end(r, AGENT_END_ERROR, "the model failed: %s", cause);
		free(cause);
		return -1;
	}
	r->res->usage.prompt_computed += gen->prompt_computed;
	r->res->usage.prompt_reused += gen->prompt_reused;
	r->res->usage.completion += gen->tokens;

	agent_span_attr_int(llm, "gen_ai.usage.input_tokens",
	    (int64_t)gen->prompt_computed + gen->prompt_reused +
	        r->pend_computed + r->pend_reused);
	agent_span_attr_int(llm, "gen_ai.usage.output_tokens", gen->tokens);
	agent_span_attr_int(llm, "agentd.prompt_tokens_computed",
	    (int64_t)gen->prompt_computed + r->pend_computed);
	agent_span_attr_int(llm, "agentd.prompt_tokens_reused",
	    (int64_t)gen->prompt_reused + r->pend_reused);
	r->pend_computed = r->pend_reused = 0;
	reasons = json_pack("[s]", agent_finish_name(gen->finish));
	agent_span_attr(llm, "gen_ai.response.finish_reasons", reasons);
	agent_span_attr_real(llm, "agentd.ttft_ms", (double)gen->ttft_ns / 1e6);
	agent_span_attr_real(llm, "agentd.tokens_per_s", gen->tokens_per_s);
	cut = span_text(gen->text, gen->len);
	agent_span_attr_str(llm, "agentd.completion", cut);
	free(cut);
	agent_span_end(llm);
	agent_span_end(plan);
	return 0;
}

/* Runs a checked action's tool; returns the observation output (new). */
static char *
react_call_tool(struct react *r, struct agent_span *act, struct plug_tool *tool,
    const json_t *args)
{
	struct agent_span *span;
	struct plug_result res;
	enum tool_outcome out;
	uint64_t start = clock_mono_ns();
	uint32_t timeout = r->p->tool_timeout_ms != 0
	    ? r->p->tool_timeout_ms
	    : PLUG_DEFAULT_CALL_TIMEOUT_MS;
	char *cause = NULL, *text = NULL, *name, *argtext, *line, *cut;
	int is_error = 1;

	memset(&res, 0, sizeof res);
	xasprintf(&name, "execute_tool %s", plug_tool_name(tool));
	span = agent_span_child(act, name, AGENT_SPAN_TOOL);
	free(name);
	argtext = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	agent_span_attr_str(span, "gen_ai.operation.name", "execute_tool");
	agent_span_attr_str(span, "gen_ai.tool.name", plug_tool_name(tool));
	agent_span_attr_str(span, "gen_ai.tool.call.arguments", argtext);
	agent_span_attr_str(span, "agentd.tool.source",
	    plug_source_name(plug_tool_source(tool)));
	react_emit(r, "action",
	    json_pack(
	        "{s:s, s:O}", "tool", plug_tool_name(tool), "input", args));
	free(argtext);

	out = tool_run(tool, args, timeout, r->p->deadline_ns, r->p->cancel,
	    r->sink, &res, &cause);
	switch (out) {
	case TOOL_DONE:
		if (cause != NULL) {
			text = cause;
			cause = NULL;
		} else {
			text = res.text;
			res.text = NULL;
			is_error = res.is_error;
		}
		break;
	case TOOL_TIMEOUT:
		xasprintf(&text, "tool '%s' timed out after %u ms",
		    plug_tool_name(tool), timeout);
		break;
	case TOOL_CANCELLED:
		react_end(r, AGENT_END_CANCELLED,
		    "the run was cancelled during a call of tool '%s'",
		    plug_tool_name(tool));
		text = xstrdup("cancelled");
		break;
	case TOOL_RUN_LATE:
		react_end(r, AGENT_END_TIMEOUT,
		    "the run timed out during a call of tool '%s'",
		    plug_tool_name(tool));
		text = xstrdup("timed out");
		break;
	case TOOL_NOT_STARTED:
		text = cause;
		cause = NULL;
		break;
	}
	free(cause);
	plug_result_clear(&res);

	agent_span_attr_real(span, "agentd.tool.latency_ms",
	    (double)(clock_mono_ns() - start) / 1e6);
	cut = span_text(text, strlen(text));
	agent_span_attr_str(span, "gen_ai.tool.call.result", cut);
	free(cut);
	if (out != TOOL_DONE)
		agent_span_attr_str(span, "agentd.tool.abandoned",
		    out == TOOL_TIMEOUT         ? "timeout"
		        : out == TOOL_CANCELLED ? "cancelled"
		        : out == TOOL_RUN_LATE  ? "run_timeout"
		                                : "not_started");
	if (is_error)
		agent_span_error(span, "tool failed");
	agent_span_end(span);

	if (is_error) {
		char *e;

		xasprintf(&e, "Error: %s", text);
		line = agent_obs_line(e, strlen(e));
		free(e);
	} else
		line = agent_obs_line(text, strlen(text));
	free(text);
	return line;
}

/*
 * act: read the step, check the action, run the tool, append the
 * observation.  mark is the session's end before the plan.
 */
static void
react_act(struct react *r, struct agent_span *step, const char *text,
    size_t len, const struct agent_gen_result *gen, uint64_t mark)
{
	struct agent_span *act, *parse;
	struct agent_parsed ps;
	struct agent_append_result ar;
	struct react_step *st;
	struct plug_tool *tool = NULL;
	const char *kind;
	char *obs = NULL, *cause = NULL, *line;
	json_t *record, *prev;
	size_t i;

	act = agent_span_child(step, "react.act", AGENT_SPAN_STEP);
	agent_span_attr_str(act, "agentd.phase", "act");
	parse = agent_span_child(act, "react.parse", AGENT_SPAN_PARSE);
	agent_parse(text, len, &ps);
	kind = ps.kind == AGENT_PARSE_ACTION ? "action"
	    : ps.kind == AGENT_PARSE_FINAL   ? "final_answer"
	    : ps.kind == AGENT_PARSE_BOTH    ? "both"
	                                     : "none";
	agent_span_attr_str(parse, "agentd.parse.kind", kind);
	if (ps.input_error != NULL)
		agent_span_attr_str(
		    parse, "agentd.parse.input_error", ps.input_error);
	if (ps.kind == AGENT_PARSE_BOTH || ps.kind == AGENT_PARSE_NONE ||
	    (ps.kind == AGENT_PARSE_ACTION && ps.input == NULL))
		agent_span_error(parse, "invalid step: %s",
		    ps.input_error != NULL ? ps.input_error : kind);
	agent_span_end(parse);

	react_emit(r, "thought", json_pack("{s:s}", "text", ps.thought));
	record = json_pack("{s:s}", "thought", ps.thought);

	/* A final answer ends the run. */
	if (ps.kind == AGENT_PARSE_FINAL) {
		json_object_set_new(record, "answer", json_string(ps.answer));
		json_array_append_new(r->res->steps, record);
		r->final_text = xstrndup(text, ps.keep);
		r->res->answer = xstrdup(ps.answer);
		react_end(r, AGENT_END_FINAL_ANSWER, "%s", "");
		goto out;
	}

	/* Cut by max_tokens mid-step: nothing usable, nothing to observe. */
	if (gen->finish == AGENT_FINISH_LENGTH &&
	    !(ps.kind == AGENT_PARSE_ACTION && ps.input != NULL)) {
		json_object_set_new(record, "error", json_string("max_tokens"));
		json_array_append_new(r->res->steps, record);
		agent_span_error(act, "output cut by max_tokens");
		react_end(r, AGENT_END_ERROR,
		    "the model's output reached max_tokens (%u) without an "
		    "action or a final answer",
		    r->max_tokens);
		goto out;
	}

	/* Keep only the step: a second action and what follows go. */
	if (ps.keep < len) {
		if (agent_session_rewind(r->sess, mark, &cause) != 0 ||
		    agent_session_append(r->sess, text, ps.keep, &ar, &cause) !=
		        0) {
			agent_span_error(act, "%s", cause);
			react_end(r, AGENT_END_ERROR,
			    "the model backend failed: %s", cause);
			free(cause);
			json_decref(record);
			goto out;
		}
		r->res->usage.prompt_computed += ar.computed;
		r->res->usage.prompt_reused += ar.reused;
		r->pend_computed += ar.computed;
		r->pend_reused += ar.reused;
	}

	if (ps.kind == AGENT_PARSE_NONE) {
		obs = xstrdup(AGENT_OBS_NO_ACTION);
	} else if (ps.kind == AGENT_PARSE_BOTH) {
		obs = xstrdup(AGENT_OBS_BOTH);
	} else {
		json_object_set_new(record, "action", json_string(ps.action));
		json_object_set_new(record, "action_input",
		    ps.input != NULL ? json_incref(ps.input)
		                     : json_string(ps.input_text));
		tool = react_find(r, ps.action);
		if (tool == NULL) {
			xasprintf(&obs,
			    "Error: unknown tool '%s'; valid tools: %s",
			    ps.action, r->tool_names);
		} else if (ps.input == NULL) {
			obs = xstrdup(AGENT_OBS_NOT_OBJECT);
		} else if (plug_tool_validate(tool, ps.input, &cause) != 0) {
			xasprintf(&obs, "Error: invalid arguments for %s: %s",
			    ps.action, cause);
			free(cause);
			cause = NULL;
		} else {
			json_array_foreach(r->done_actions, i, prev)
			{
				if (strcmp(json_string_value(
				               json_array_get(prev, 0)),
				        ps.action) == 0 &&
				    json_equal(
				        json_array_get(prev, 1), ps.input)) {
					obs = xstrdup(AGENT_OBS_REPEATED);
					break;
				}
			}
			if (obs != NULL) {
				r->repeats++;
				agent_span_attr_int(
				    act, "agentd.repeats", r->repeats);
			} else {
				json_array_append_new(r->done_actions,
				    json_pack("[s, O]", ps.action, ps.input));
				obs = react_call_tool(r, act, tool, ps.input);
			}
		}
	}
	if (ps.kind != AGENT_PARSE_ACTION || tool == NULL ||
	    strncmp(obs, "Error: ", 7) == 0)
		agent_span_attr_str(act, "agentd.observation.kind", "error");

	/* The observation, one line, in the result, the events, the session. */
	line = agent_obs_line(obs, strlen(obs));
	free(obs);
	json_object_set_new(record, "observation", json_string(line));
	json_array_append_new(r->res->steps, record);
	react_emit(r, "observation",
	    json_pack("{s:s, s:b}", "text", line, "error",
	        strncmp(line, "Error: ", 7) == 0));

	r->steps = xreallocarray(r->steps, r->n_steps + 1, sizeof *r->steps);
	st = &r->steps[r->n_steps++];
	memset(st, 0, sizeof *st);
	st->text = xstrndup(text, ps.keep);
	st->obs = line;
	{
		char *s = react_render_step(st);
		size_t klen = strlen(st->text);

		/* The session already holds the step's text. */
		if (agent_session_append(r->sess, s + klen, strlen(s) - klen,
		        &ar, &cause) == 0) {
			r->res->usage.prompt_computed += ar.computed;
			r->res->usage.prompt_reused += ar.reused;
			r->pend_computed += ar.computed;
			r->pend_reused += ar.reused;
		} else {
			/* No room: the next observe phase shortens it. */
			log_debug("react: observation does not fit: %s", cause);
			free(cause);
			r->dirty = 1;
		}
		free(s);
	}
	if (r->repeats >= AGENT_LOOP_REPEATS)
		react_end(r, AGENT_END_LOOP,
		    "the model repeated earlier actions %u times", r->repeats);
out:
	agent_span_end(act);
	agent_parsed_clear(&ps);
}

/* One observe-plan-act step.  Returns 1 when the run ended, else 0. */
static int
react_step(struct react *r)
{
	struct agent_span *step;
	struct agent_gen_result gen;
	uint64_t mark;

	memset(&gen, 0, sizeof gen);
	step = agent_span_child(r->parent, "react.step", AGENT_SPAN_STEP);
	agent_span_attr_int(step, "agentd.step", r->step_no);
	react_emit(r, "step", json_object());

	/* observe */
	if (react_observe(r, step) != 0)
		goto out;
	if (react_stopped(r))
		goto out;

	/* plan */
	mark = agent_session_mark(r->sess);
	if (react_plan(r, step, &gen) != 0)
		goto out;
	if (gen.finish == AGENT_FINISH_CANCELLED) {
		/* Within one token of the flag or the deadline. */
		if (!react_stopped(r))
			react_end(r, AGENT_END_CANCELLED,
			    "the generation was cancelled");
		goto out;
	}

	/* act */
	react_act(r, step, gen.text, gen.len, &gen, mark);
	react_stopped(r);

out:
	if (r->ended && r->res->ending != AGENT_END_FINAL_ANSWER)
		agent_span_attr_str(
		    step, "agentd.ending", agent_ending_name(r->res->ending));
	agent_span_end(step);
	agent_gen_result_clear(&gen);
	return r->ended;
}

int
agent_react_run(struct agent_backend *b, struct plug_set *set,
    const struct agent_react_params *params, const struct agent_sink *sink,
    struct agent_span *parent, struct agent_react_result *res, char **cause)
{
	struct react r;
	struct agent_append_result ar;
	struct agent_chat_msg msg;
	struct plug_tool *t;
	struct buf names;
	char *tools = NULL, *prompt = NULL, *why = NULL;
	uint32_t max_steps;
	int rc = -1;

	memset(res, 0, sizeof *res);
	memset(&r, 0, sizeof r);
	if (params->tmpl == NULL || params->input == NULL) {
		xasprintf(cause, "the loop needs a template and an input");
		return -1;
	}
	r.b = b;
	r.set = set;
	r.p = params;
	r.sink = sink;
	r.res = res;
	r.max_tokens = params->max_tokens != 0 ? params->max_tokens
	                                       : AGENT_DEFAULT_MAX_TOKENS;
	max_steps = params->max_steps != 0 ? params->max_steps
	                                   : AGENT_DEFAULT_MAX_STEPS;

	/* The run's tools, in name order, and the prompt's tool lines. */
	tools = plug_set_prompt(set, params->tools, params->n_tools, cause);
	if (tools == NULL)
		return -1;
	buf_init(&names, SIZE_MAX);
	for (size_t i = 0; i < plug_set_count(set); i++) {
		t = plug_set_tool(set, i);
		if (params->tools != NULL) {
			size_t j;

			for (j = 0; j < params->n_tools; j++) {
				if (strcmp(params->tools[j],
				        plug_tool_name(t)) == 0)
					break;
			}
			if (j == params->n_tools)
				continue;
		}
		r.tools =
		    xreallocarray(r.tools, r.n_tools + 1, sizeof *r.tools);
		r.tools[r.n_tools++] = t;
		buf_printf(&names, "%s%s", names.len > 0 ? ", " : "",
		    plug_tool_name(t));
	}
	r.tool_names = buf_steal(&names);
	prompt = agent_prompt_render(params->tmpl, tools, params->input);
	free(tools);

	res->steps = json_array();
	r.done_actions = json_array();
	r.parent = parent != NULL
	    ? parent
	    : agent_span_root(NULL, "agentd.react", AGENT_SPAN_RUN, NULL);

	/* Chat models get the prompt as their user turn (DESIGN.md). */
	if ((agent_backend_caps(b) & AGENT_CAP_CHAT) != 0) {
		msg.role = "user";
		msg.content = prompt;
		r.prefix = agent_backend_chat_render(b, &msg, 1, 1, &why);
		if (r.prefix == NULL) {
			react_end(&r, AGENT_END_ERROR,
			    "cannot render the chat template: %s", why);
			goto done;
		}
	} else {
		r.prefix = xstrdup(prompt);
	}
	r.n_ctx = agent_backend_n_ctx(b);
	/*
	 * The room kept for the next plan: max_tokens, but at most a
	 * quarter of the context, so that a small model's long prompt (a
	 * 1024-token context with several tools listed) still leaves room
	 * for its steps; generate() is capped by the room actually left.
	 */
	r.reserve = r.max_tokens < r.n_ctx / 4 ? r.max_tokens : r.n_ctx / 4;
	if ((r.sess = agent_session_new(b, &why)) == NULL ||
	    agent_session_append(
	        r.sess, r.prefix, strlen(r.prefix), &ar, &why) != 0) {
		react_end(
		    &r, AGENT_END_ERROR, "cannot feed the prompt: %s", why);
		goto done;
	}
	res->usage.prompt_computed += ar.computed;
	res->usage.prompt_reused += ar.reused;
	r.pend_computed = ar.computed;
	r.pend_reused = ar.reused;
	r.prompt_mark = agent_session_mark(r.sess);

	for (r.step_no = 1;; r.step_no++) {
		if (react_stopped(&r))
			break;
		if (r.step_no > max_steps) {
			react_end(&r, AGENT_END_MAX_STEPS,
			    "no final answer after %u steps", max_steps);
			break;
		}
		res->n_steps = r.step_no;
		if (react_step(&r))
			break;
	}

done:
	rc = 0;
	if (r.prefix != NULL) {
		struct buf tb;
		char *st;

		buf_init(&tb, SIZE_MAX);
		buf_puts(&tb, r.prefix);
		for (size_t i = 0; i < r.n_steps; i++) {
			st = react_render_step(&r.steps[i]);
			buf_puts(&tb, st);
			free(st);
		}
		if (r.final_text != NULL)
			buf_puts(&tb, r.final_text);
		res->transcript = buf_steal(&tb);
	}
	free(r.final_text);
	free(why);
	if (r.parent != parent)
		agent_span_end(r.parent);
	agent_session_free(r.sess);
	for (size_t i = 0; i < r.n_steps; i++) {
		free(r.steps[i].text);
		free(r.steps[i].obs);
	}
	free(r.steps);
	json_decref(r.done_actions);
	free(r.tools);
	free(r.tool_names);
	free(r.prefix);
	free(prompt);
	return rc;
}

void
agent_react_result_clear(struct agent_react_result *res)
{
	if (res == NULL)
		return;
	free(res->answer);
	free(res->error);
	free(res->transcript);
	json_decref(res->steps);
	memset(res, 0, sizeof *res);
}

json_t *
agent_usage_json(const struct agent_usage *u)
{
	return json_pack("{s:I, s:I, s:I}", "prompt_tokens_computed",
	    (json_int_t)u->prompt_computed, "prompt_tokens_reused",
	    (json_int_t)u->prompt_reused, "completion_tokens",
	    (json_int_t)u->completion);
}

json_t *
agent_react_result_json(const struct agent_react_result *res)
{
	json_t *out;

	out = json_pack("{s:o, s:s, s:o, s:o}", "answer",
	    res->answer != NULL ? json_string(res->answer) : json_null(),
	    "ending", agent_ending_name(res->ending), "steps",
	    res->steps != NULL ? json_incref(res->steps) : json_array(),
	    "usage", agent_usage_json(&res->usage));
	if (res->error != NULL)
		json_object_set_new(out, "error", json_string(res->error));
	return out;
}
