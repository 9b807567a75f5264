/*
 * run.c: the runtime and the life of a run.
 *
 * The runtime holds what runs share, as one reference-counted state
 * (struct rt_state: the model backend, the template, the trace store and
 * the Lua agents) that a reload replaces as a whole; a run keeps the
 * state it started with, so a reload never changes anything under a run
 * in flight.  The tools come from the registry, whose snapshot a run also
 * keeps.
 *
 * A run's life: agent_run_new() (the loop thread, from agent.run) checks
 * the agent and the tools, takes a slot in the run table and opens the
 * run's root span, so the run already has its id and trace id; the daemon
 * submits agent_run_execute() to its worker pool, which runs the agent
 * (the built-in ReAct loop, or a Lua agent through script_agent_run()
 * with ctx callbacks that reach the model, the tools, the loop, the event
 * stream and the trace), sends the events, ends the trace and hands the
 * result to the hooks.  The table keeps finished runs (at most
 * keep_runs) for runs.list and run.get.  agent.cancel sets the run's
 * cancel flag, which the loop and the backends check between tokens.
 */
#include <sys/queue.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "lua/script.h"
#include "plugins/plugins.h"

#define RUN_ID_BYTES     8
#define RUN_MAX_TOOLS    256
#define RUN_MAX_TOKENS   1000000
#define RUN_MAX_TIMEOUT  86400000
#define RUN_MAX_INPUT    (256 * 1024)
#define RUN_SUMMARY_TEXT 200
#define RUN_DRAIN_MS     2000
#define BUILTIN_AGENT    "react"
#define BUILTIN_DESC                                                     \
	"The built-in ReAct loop: thought, action, observation until a " \
	"final answer."

/* What runs share; replaced as a whole by a reload. */
struct rt_state {
	atomic_uint refs;
	struct agent_backend *backend; /* NULL: no model */
	char *model_spec;
	char *model_error; /* why there is no model */
	char *template_path;
	char *tmpl;           /* NULL: none (see template_error) */
	char *template_error; /* why there is no template */
	char *trace_dir;
	struct agent_tracer *tracer; /* NULL: no traces */
	char *trace_error;
	char *agents_dir;
	struct script_agent **agents; /* sorted by name */
	size_t n_agents;
	uint32_t tool_timeout_ms;
};

enum run_status {
	RUN_QUEUED = 0,
	RUN_RUNNING,
	RUN_DONE,
};

struct agent_run {
	atomic_uint refs;
	struct agent_runtime *rt;
	struct rt_state *state;
	struct plug_set *set;
	struct script_agent *lua; /* NULL: the built-in loop */
	char id[2 * RUN_ID_BYTES + 1];
	char *agent;
	char *input;
	char **tools; /* NULL: all */
	size_t n_tools;
	uint32_t max_steps;
	uint32_t max_tokens;
	uint64_t timeout_ms;
	struct agent_sampling sampling;
	uint64_t deadline_ns;
	json_t *strategy; /* agent.run's "strategy", or NULL */

	struct agent_run_hooks hooks;
	atomic_int cancel;
	atomic_int status;
	uint64_t seq; /* the run's thread only */
	struct agent_span *root;
	char trace_id[AGENT_TRACE_ID_HEX + 1];
	struct agent_span **spans; /* ctx.span nesting, root first */
	size_t n_spans;
	struct agent_usage usage; /* Lua agents: summed over ctx calls */
	json_t *lua_steps;        /* Lua agents: steps of ctx.react calls */

	uint64_t created_ms; /* wall clock */
	uint64_t started_ns, ended_ns;
	/* Under rt->mu. */
	json_t *result;
	enum agent_ending ending;
	int in_table;
	TAILQ_ENTRY(agent_run) entry;
};

TAILQ_HEAD(run_list, agent_run);

struct agent_runtime {
	pthread_mutex_t mu;
	struct rt_state *state;
	struct plug_registry *tools;
	size_t max_runs;
	size_t keep_runs;
	uint64_t lua_max_instructions;
	size_t lua_max_memory;
	struct run_list runs; /* newest first */
	size_t n_active;
	size_t n_done;
	pthread_mutex_t reload_mu;
};

static struct rt_state *state_new(struct agent_runtime *,
    const struct agent_runtime_config *, const struct rt_state *, char **);
static void state_unref(struct rt_state *);
static struct rt_state *state_get(struct agent_runtime *);
static void state_load_agents(
    struct agent_runtime *, struct rt_state *, const char *);
static int agent_cmp(const void *, const void *);
static int host_http_get(void *, const char *, const struct script_call *,
    struct script_result *, char **);
static void run_free(struct agent_run *);
static void run_event(struct agent_run *, const char *, json_t *);
static void run_sink_event(void *, const char *, json_t *);
static void run_sink_poll(void *);
static json_t *run_summary(struct agent_run *);
static struct agent_run *run_find(struct agent_runtime *, const char *);
static int ctx_gen(struct agent_run *, const char *,
    const struct script_gen_req *, struct script_gen_res *, char **);
static void run_finish(struct agent_run *, json_t *, enum agent_ending);
static json_t *run_lua(struct agent_run *, enum agent_ending *);
static json_t *run_react(struct agent_run *, enum agent_ending *);
static struct agent_span *run_span(struct agent_run *);
static char *cut_text(const char *, size_t);
static int check_member(const char *, json_t *, char **);

/* ctx callbacks for Lua agents. */
static int ctx_generate(
    void *, const struct script_gen_req *, struct script_gen_res *, char **);
static int ctx_chat(
    void *, const struct script_gen_req *, struct script_gen_res *, char **);
static int ctx_tool(
    void *, const char *, const json_t *, struct script_result *, char **);
static int ctx_react(
    void *, const struct script_react_req *, json_t **, char **);
static int ctx_strategy(void *, const struct script_react_req *, const json_t *,
    json_t **, char **);
static int ctx_loop(struct agent_run *, const struct script_react_req *,
    const json_t *, json_t **, char **);
static json_t *ctx_tools(void *, char **);
static int ctx_emit(void *, json_t *, char **);
static int ctx_span_begin(void *, const char *, void **, char **);
static void ctx_span_end(void *, void *, const char *);

static const struct script_ctx_ops run_ctx_ops = {
	.generate = ctx_generate,
	.chat = ctx_chat,
	.tool = ctx_tool,
	.react = ctx_react,
	.tools = ctx_tools,
	.emit = ctx_emit,
	.span_begin = ctx_span_begin,
	.span_end = ctx_span_end,
	.strategy = ctx_strategy,
};

/* A copy of s cut at max bytes on a UTF-8 boundary, with "..." if cut. */
static char *
cut_text(const char *s, size_t max)
{
	size_t len = strlen(s), cut = len;
	char *out;

	if (len <= max)
		return xstrdup(s);
	cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	xasprintf(&out, "%.*s...", (int)cut, s);
	return out;
}

/* ---- the shared state ---------------------------------------------------- */

static int
agent_cmp(const void *a, const void *b)
{
	return strcmp(script_agent_name(*(struct script_agent *const *)a),
	    script_agent_name(*(struct script_agent *const *)b));
}

/*
 * agentd.http_get for Lua agents: the http_get tool of the current
 * registry snapshot, when it is there.
 */
static int
host_http_get(void *arg, const char *url, const struct script_call *call,
    struct script_result *res, char **cause)
{
	struct agent_runtime *rt = arg;
	struct plug_set *set = plug_registry_get(rt->tools);
	struct plug_tool *tool = plug_set_find(set, "http_get");
	struct plug_limits limits;
	struct plug_result pr;
	json_t *args;
	uint64_t now = clock_mono_ns();
	int rc = 0;

	memset(&pr, 0, sizeof pr);
	memset(&limits, 0, sizeof limits);
	if (tool == NULL) {
		res->text = xstrdup("agentd.http_get is not enabled");
		res->len = strlen(res->text);
		res->is_error = 1;
		plug_set_unref(set);
		return 0;
	}
	if (call != NULL && call->deadline_ns != 0)
		limits.timeout_ms = call->deadline_ns > now
		    ? (uint32_t)((call->deadline_ns - now) / 1000000u) + 1
		    : 1;
	args = json_pack("{s:s}", "url", url);
	if (args == NULL) {
		xasprintf(cause, "the url is not valid UTF-8");
		plug_set_unref(set);
		return -1;
	}
	if (plug_tool_call(tool, args, &limits,
	        call != NULL ? call->cancel : NULL, &pr, cause) != 0) {
		rc = -1;
	} else {
		res->text = pr.text;
		res->len = pr.len;
		res->is_error = pr.is_error;
	}
	json_decref(args);
	plug_set_unref(set);
	return rc;
}

/* Loads the Lua agents of dir into st, logging those it leaves out. */
static void
state_load_agents(
    struct agent_runtime *rt, struct rt_state *st, const char *dir)
{
	struct script_limits limits;
	struct script_host host;
	struct script_agent *a;
	char **paths = NULL, *cause = NULL;
	size_t n = 0, j;

	if (dir == NULL)
		return;
	if (script_dir_list(dir, &paths, &n, &cause) != 0) {
		log_warn("agents: %s", cause);
		free(cause);
		return;
	}
	memset(&limits, 0, sizeof limits);
	limits.max_instructions = rt->lua_max_instructions;
	limits.max_memory = rt->lua_max_memory;
	host.arg = rt;
	host.http_get = host_http_get;
	st->agents = xcalloc(n + 1, sizeof *st->agents);
	for (size_t i = 0; i < n; i++) {
		a = script_agent_load(paths[i], &limits, &host, &cause);
		if (a == NULL) {
			log_warn("agents: %s", cause);
			free(cause);
			cause = NULL;
			free(paths[i]);
			continue;
		}
		for (j = 0; j < st->n_agents; j++) {
			if (strcmp(script_agent_name(st->agents[j]),
			        script_agent_name(a)) == 0)
				break;
		}
		if (strcmp(script_agent_name(a), BUILTIN_AGENT) == 0 ||
		    j < st->n_agents) {
			log_warn("agents: %s: agent '%s' is already defined; "
			         "left out",
			    paths[i], script_agent_name(a));
			script_agent_unref(a);
		} else {
			st->agents[st->n_agents++] = a;
			log_info("agents: loaded '%s' from %s",
			    script_agent_name(a), paths[i]);
		}
		free(paths[i]);
	}
	free(paths);
	qsort(st->agents, st->n_agents, sizeof *st->agents, agent_cmp);
}

/*
 * Builds a state from c, reusing old's backend and tracer when their
 * spec and folder did not change.  A template that cannot be read leaves
 * the state without one (logged; the built-in loop then refuses runs, as
 * without a model), so that a daemon whose data directory is missing
 * still starts; but a reload never trades a working template for none:
 * it returns NULL with *cause then, and the old state stays.
 */
static struct rt_state *
state_new(struct agent_runtime *rt, const struct agent_runtime_config *c,
    const struct rt_state *old, char **cause)
{
	struct rt_state *st;
	char *why = NULL;

	st = xcalloc(1, sizeof *st);
	atomic_init(&st->refs, 1);
	if (c->template_path == NULL) {
		xasprintf(cause, "no ReAct template configured");
		goto fail;
	}
	st->template_path = xstrdup(c->template_path);
	st->tmpl = agent_template_load(c->template_path, &why);
	if (st->tmpl == NULL) {
		if (old != NULL && old->tmpl != NULL) {
			*cause = why;
			goto fail;
		}
		log_err(
		    "%s; agent runs will fail until a reload finds it", why);
		st->template_error = why;
		why = NULL;
	}
	st->tool_timeout_ms = c->tool_timeout_ms;

	/* The model: kept across a reload unless its spec changed. */
	st->model_spec = c->model != NULL ? xstrdup(c->model) : NULL;
	if (old != NULL && old->backend != NULL && c->model != NULL &&
	    old->model_spec != NULL && strcmp(old->model_spec, c->model) == 0) {
		st->backend = agent_backend_ref(old->backend);
	} else if (c->model != NULL) {
		st->backend = agent_backend_open(c->model, &why);
		if (st->backend == NULL) {
			log_err("model: %s", why);
			st->model_error = why;
			why = NULL;
		} else {
			log_notice("model: %s (%s backend)",
			    agent_backend_name(st->backend),
			    agent_backend_kind(st->backend));
		}
	} else {
		st->model_error = xstrdup("no model is configured");
	}

	/* The trace store: a failure leaves runs untraced, not refused. */
	if (c->trace_dir != NULL) {
		st->trace_dir = xstrdup(c->trace_dir);
		st->tracer =
		    agent_tracer_new(c->trace_dir, c->trace_fsync, &why);
		if (st->tracer == NULL) {
			log_err("traces: %s; runs are not traced", why);
			st->trace_error = why;
			why = NULL;
		} else {
			agent_tracer_set_retention(
			    st->tracer, c->trace_max_bytes, c->trace_max_age_s);
		}
	} else {
		st->trace_error = xstrdup("no trace folder is configured");
	}

	if (c->agents_dir != NULL)
		st->agents_dir = xstrdup(c->agents_dir);
	state_load_agents(rt, st, c->agents_dir);
	return st;

fail:
	state_unref(st);
	return NULL;
}

static void
state_unref(struct rt_state *st)
{
	if (st == NULL || atomic_fetch_sub(&st->refs, 1) != 1)
		return;
	agent_backend_unref(st->backend);
	agent_tracer_free(st->tracer);
	for (size_t i = 0; i < st->n_agents; i++)
		script_agent_unref(st->agents[i]);
	free(st->agents);
	free(st->agents_dir);
	free(st->model_spec);
	free(st->model_error);
	free(st->template_path);
	free(st->tmpl);
	free(st->template_error);
	free(st->trace_dir);
	free(st->trace_error);
	free(st);
}

/* A new reference to the current state. */
static struct rt_state *
state_get(struct agent_runtime *rt)
{
	struct rt_state *st;

	pthread_mutex_lock(&rt->mu);
	st = rt->state;
	atomic_fetch_add(&st->refs, 1);
	pthread_mutex_unlock(&rt->mu);
	return st;
}

/* ---- the runtime --------------------------------------------------------- */

struct agent_runtime *
agent_runtime_new(const struct agent_runtime_config *c,
    struct plug_registry *tools, char **cause)
{
	struct agent_runtime *rt;

	rt = xcalloc(1, sizeof *rt);
	pthread_mutex_init(&rt->mu, NULL);
	pthread_mutex_init(&rt->reload_mu, NULL);
	TAILQ_INIT(&rt->runs);
	rt->tools = tools;
	rt->max_runs = c->max_runs != 0 ? c->max_runs : AGENT_DEFAULT_MAX_RUNS;
	rt->keep_runs =
	    c->keep_runs != 0 ? c->keep_runs : AGENT_DEFAULT_KEEP_RUNS;
	rt->lua_max_instructions = c->lua_max_instructions;
	rt->lua_max_memory = c->lua_max_memory;
	rt->state = state_new(rt, c, NULL, cause);
	if (rt->state == NULL) {
		pthread_mutex_destroy(&rt->reload_mu);
		pthread_mutex_destroy(&rt->mu);
		free(rt);
		return NULL;
	}
	return rt;
}

void
agent_runtime_free(struct agent_runtime *rt)
{
	struct agent_run *run;
	unsigned int left;

	if (rt == NULL)
		return;
	AGENTD_ASSERT(rt->n_active == 0);
	while ((run = TAILQ_FIRST(&rt->runs)) != NULL) {
		TAILQ_REMOVE(&rt->runs, run, entry);
		run->in_table = 0;
		agent_run_unref(run);
	}
	/* Abandoned tool calls still hold tools: let them finish first. */
	left = agent_tools_drain(RUN_DRAIN_MS);
	if (left != 0)
		log_warn("%u abandoned tool calls still running at exit", left);
	state_unref(rt->state);
	pthread_mutex_destroy(&rt->reload_mu);
	pthread_mutex_destroy(&rt->mu);
	free(rt);
}

int
agent_runtime_reload(struct agent_runtime *rt,
    const struct agent_runtime_config *c, char **cause)
{
	struct rt_state *old, *st;

	pthread_mutex_lock(&rt->reload_mu);
	old = state_get(rt);
	st = state_new(rt, c, old, cause);
	state_unref(old);
	if (st == NULL) {
		pthread_mutex_unlock(&rt->reload_mu);
		return -1;
	}
	pthread_mutex_lock(&rt->mu);
	old = rt->state;
	rt->state = st;
	if (c->max_runs != 0)
		rt->max_runs = c->max_runs;
	if (c->keep_runs != 0)
		rt->keep_runs = c->keep_runs;
	pthread_mutex_unlock(&rt->mu);
	state_unref(old);
	pthread_mutex_unlock(&rt->reload_mu);
	return 0;
}

struct plug_registry *
agent_runtime_tools(struct agent_runtime *rt)
{
	return rt->tools;
}

json_t *
agent_runtime_models_json(struct agent_runtime *rt)
{
	static const struct {
		int bit;
		const char *name;
	} cap_names[] = {
		{ AGENT_CAP_KV_REUSE, "kv_reuse" },
		{ AGENT_CAP_LOGPROBS, "logprobs" },
		{ AGENT_CAP_BATCH, "batch" },
		{ AGENT_CAP_CHAT, "chat" },
	};
	struct rt_state *st = state_get(rt);
	struct agent_backend *b = st->backend;
	json_t *out, *caps, *model;
	int bits;

	if (b == NULL) {
		out = json_pack("{s:[], s:s}", "models", "error",
		    st->model_error != NULL ? st->model_error : "no model");
		state_unref(st);
		return out;
	}
	caps = json_array();
	bits = agent_backend_caps(b);
	for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++) {
		if ((bits & cap_names[i].bit) != 0)
			json_array_append_new(
			    caps, json_string(cap_names[i].name));
	}
	model = json_pack("{s:s, s:s, s:s?, s:I, s:o, s:b}", "name",
	    agent_backend_name(b), "kind", agent_backend_kind(b), "spec",
	    st->model_spec, "n_ctx", (json_int_t)agent_backend_n_ctx(b), "caps",
	    caps, "default", 1);
	out = json_pack("{s:[o]}", "models", model);
	state_unref(st);
	return out;
}

struct agent_backend *
agent_runtime_backend(struct agent_runtime *rt, char **cause)
{
	struct rt_state *st = state_get(rt);
	struct agent_backend *b = NULL;

	if (st->backend != NULL)
		b = agent_backend_ref(st->backend);
	else
		xasprintf(cause, "no model: %s",
		    st->model_error != NULL ? st->model_error : "none loaded");
	state_unref(st);
	return b;
}

json_t *
agent_runtime_agents_json(struct agent_runtime *rt)
{
	struct rt_state *st = state_get(rt);
	json_t *list = json_array(), *builtin;
	int added = 0;

	builtin = json_pack("{s:s, s:s, s:s}", "name", BUILTIN_AGENT,
	    "description", BUILTIN_DESC, "source", "builtin");
	for (size_t i = 0; i < st->n_agents; i++) {
		struct script_agent *a = st->agents[i];

		if (!added && strcmp(script_agent_name(a), BUILTIN_AGENT) > 0) {
			json_array_append(list, builtin);
			added = 1;
		}
		json_array_append_new(list,
		    json_pack("{s:s, s:s, s:s, s:s}", "name",
		        script_agent_name(a), "description",
		        script_agent_description(a), "source", "lua", "path",
		        script_agent_path(a)));
	}
	if (!added)
		json_array_append(list, builtin);
	json_decref(builtin);
	state_unref(st);
	return json_pack("{s:o}", "agents", list);
}

/* A run as runs.list shows it (under rt->mu). */
static json_t *
run_summary(struct agent_run *run)
{
	static const char *const names[] = { "queued", "running", "done" };
	int status = atomic_load(&run->status);
	char *input = cut_text(run->input, RUN_SUMMARY_TEXT);
	json_t *v;
	uint64_t now = clock_mono_ns(), end;

	v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "run_id", run->id,
	    "agent", run->agent, "state", names[status], "input", input,
	    "trace_id", run->trace_id, "created_ms",
	    (json_int_t)run->created_ms);
	free(input);
	if (run->started_ns != 0) {
		end = status == RUN_DONE ? run->ended_ns : now;
		json_object_set_new(v, "elapsed_ms",
		    json_integer(
		        (json_int_t)((end - run->started_ns) / 1000000u)));
	}
	if (status == RUN_DONE)
		json_object_set_new(
		    v, "ending", json_string(agent_ending_name(run->ending)));
	if (atomic_load(&run->cancel) != 0)
		json_object_set_new(v, "cancel_requested", json_true());
	return v;
}

json_t *
agent_runtime_runs_json(struct agent_runtime *rt)
{
	struct agent_run *run;
	json_t *list = json_array();

	pthread_mutex_lock(&rt->mu);
	TAILQ_FOREACH(run, &rt->runs, entry)
		json_array_append_new(list, run_summary(run));
	pthread_mutex_unlock(&rt->mu);
	return json_pack("{s:o, s:I, s:I}", "runs", list, "active",
	    (json_int_t)rt->n_active, "max_runs", (json_int_t)rt->max_runs);
}

/* Finds a run in the table (under rt->mu). */
static struct agent_run *
run_find(struct agent_runtime *rt, const char *id)
{
	struct agent_run *run;

	TAILQ_FOREACH(run, &rt->runs, entry) {
		if (strcmp(run->id, id) == 0)
			return run;
	}
	return NULL;
}

json_t *
agent_runtime_run_json(struct agent_runtime *rt, const char *run_id,
    enum agent_err *err, char **cause)
{
	struct agent_run *run;
	json_t *v, *tools;

	pthread_mutex_lock(&rt->mu);
	run = run_find(rt, run_id);
	if (run == NULL) {
		pthread_mutex_unlock(&rt->mu);
		*err = AGENT_ERR_UNKNOWN_RUN;
		xasprintf(cause, "unknown run '%s'", run_id);
		return NULL;
	}
	v = run_summary(run);
	json_object_set_new(v, "input", json_string(run->input));
	tools = json_null();
	if (run->tools != NULL) {
		tools = json_array();
		for (size_t i = 0; i < run->n_tools; i++)
			json_array_append_new(
			    tools, json_string(run->tools[i]));
	}
	json_object_set_new(v, "params",
	    json_pack("{s:o, s:I, s:I, s:I, s:f}", "tools", tools, "max_steps",
	        (json_int_t)run->max_steps, "max_tokens",
	        (json_int_t)run->max_tokens, "timeout_ms",
	        (json_int_t)run->timeout_ms, "temperature",
	        run->sampling.temperature));
	if (run->strategy != NULL)
		json_object_set(
		    json_object_get(v, "params"), "strategy", run->strategy);
	if (run->result != NULL)
		json_object_set(v, "result", run->result);
	pthread_mutex_unlock(&rt->mu);
	return v;
}

int
agent_runtime_cancel(struct agent_runtime *rt, const char *run_id,
    int *was_running, char **cause)
{
	struct agent_run *run;

	pthread_mutex_lock(&rt->mu);
	run = run_find(rt, run_id);
	if (run == NULL) {
		pthread_mutex_unlock(&rt->mu);
		xasprintf(cause, "unknown run '%s'", run_id);
		return -1;
	}
	*was_running = atomic_load(&run->status) != RUN_DONE;
	if (*was_running)
		atomic_store(&run->cancel, 1);
	pthread_mutex_unlock(&rt->mu);
	return 0;
}

json_t *
agent_runtime_trace_get(struct agent_runtime *rt, const char *trace_id,
    enum agent_err *err, char **cause)
{
	struct rt_state *st = state_get(rt);
	json_t *v = NULL;
	int unknown = 0;

	if (st->tracer == NULL) {
		*err = AGENT_ERR_UNKNOWN_RUN;
		xasprintf(cause, "traces are off: %s", st->trace_error);
	} else {
		v = agent_trace_get(st->tracer, trace_id, &unknown, cause);
		if (v == NULL)
			*err = unknown ? AGENT_ERR_UNKNOWN_RUN
			               : AGENT_ERR_INTERNAL;
	}
	state_unref(st);
	return v;
}

char *
agent_runtime_trace_dir(struct agent_runtime *rt, char **cause)
{
	struct rt_state *st = state_get(rt);
	char *dir = NULL;

	if (st->tracer == NULL)
		xasprintf(cause, "traces are off: %s", st->trace_error);
	else
		dir = xstrdup(agent_tracer_dir(st->tracer));
	state_unref(st);
	return dir;
}

/* ---- params --------------------------------------------------------- */

/* Checks one member of agent.run's params. */
static int
check_member(const char *key, json_t *v, char **cause)
{
	json_t *x;
	size_t i, j;
	double d;

	if (strcmp(key, "agent") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 64) {
			xasprintf(cause,
			    "\"agent\" must be a name of 1 to 64 characters");
			return -1;
		}
	} else if (strcmp(key, "input") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > RUN_MAX_INPUT ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			xasprintf(cause,
			    "\"input\" must be a non-empty string of at most "
			    "%d bytes without NUL",
			    RUN_MAX_INPUT);
			return -1;
		}
	} else if (strcmp(key, "tools") == 0) {
		if (!json_is_array(v) || json_array_size(v) > RUN_MAX_TOOLS) {
			xasprintf(cause,
			    "\"tools\" must be an array of at most %d tool "
			    "names",
			    RUN_MAX_TOOLS);
			return -1;
		}
		json_array_foreach(v, i, x)
		{
			if (!json_is_string(x) || json_string_length(x) == 0) {
				xasprintf(cause,
				    "\"tools\"[%zu] must be a tool name", i);
				return -1;
			}
			for (j = 0; j < i; j++) {
				if (json_equal(json_array_get(v, j), x)) {
					xasprintf(cause,
					    "\"tools\"[%zu]: '%s' is listed "
					    "twice",
					    i, json_string_value(x));
					return -1;
				}
			}
		}
	} else if (strcmp(key, "max_steps") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > AGENT_MAX_STEPS_LIMIT) {
			xasprintf(cause,
			    "\"max_steps\" must be an integer from 1 to %d",
			    AGENT_MAX_STEPS_LIMIT);
			return -1;
		}
	} else if (strcmp(key, "max_tokens") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > RUN_MAX_TOKENS) {
			xasprintf(cause,
			    "\"max_tokens\" must be an integer from 1 to %d",
			    RUN_MAX_TOKENS);
			return -1;
		}
	} else if (strcmp(key, "timeout_ms") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > RUN_MAX_TIMEOUT) {
			xasprintf(cause,
			    "\"timeout_ms\" must be an integer from 1 to %d",
			    RUN_MAX_TIMEOUT);
			return -1;
		}
	} else if (strcmp(key, "temperature") == 0 ||
	    strcmp(key, "top_p") == 0 || strcmp(key, "min_p") == 0) {
		d = json_number_value(v);
		if (!json_is_number(v) || d < 0 ||
		    d > (strcmp(key, "temperature") == 0 ? 10.0 : 1.0)) {
			xasprintf(cause, "\"%s\" must be a number from 0 to %s",
			    key, strcmp(key, "temperature") == 0 ? "10" : "1");
			return -1;
		}
	} else if (strcmp(key, "top_k") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000000) {
			xasprintf(cause,
			    "\"top_k\" must be an integer from 0 to 1000000");
			return -1;
		}
	} else if (strcmp(key, "seed") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			xasprintf(
			    cause, "\"seed\" must be a non-negative integer");
			return -1;
		}
	} else if (strcmp(key, "stream") == 0) {
		if (!json_is_boolean(v)) {
			xasprintf(cause, "\"stream\" must be true or false");
			return -1;
		}
	} else if (strcmp(key, "traceparent") == 0) {
		if (!json_is_string(v))
			goto traceparent;
		if (agent_traceparent_parse(
		        json_string_value(v), NULL, NULL, cause) != 0)
			return -1;
	} else if (strcmp(key, "strategy") == 0) {
		struct agent_strategy st;

		if (json_is_null(v))
			return 0;
		if (agent_strategy_parse(v, &st, cause) != 0)
			return -1;
		agent_strategy_clear(&st);
	} else {
		xasprintf(cause, "unknown member \"%s\"", key);
		return -1;
	}
	return 0;

traceparent:
	xasprintf(cause, "\"traceparent\" must be a string");
	return -1;
}

int
agent_run_params_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v;

	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object with \"input\"");
		return -1;
	}
	if (json_object_get(params, "input") == NULL) {
		xasprintf(cause, "\"input\" is required");
		return -1;
	}
	/* jansson's iterators take a non-const pointer but only read. */
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (check_member(key, v, cause) != 0)
			return -1;
	}
	return 0;
}

/* ---- runs ---------------------------------------------------------- */

struct agent_run *
agent_run_new(struct agent_runtime *rt, const json_t *params,
    const struct agent_run_hooks *hooks, enum agent_err *err, char **cause)
{
	struct agent_run *run;
	struct rt_state *st;
	const char *name, *tp;
	json_t *tools, *v;
	char *span_name, *in;
	size_t i;

	if (agent_run_params_check(params, cause) != 0) {
		*err = AGENT_ERR_PARAMS;
		return NULL;
	}
	run = xcalloc(1, sizeof *run);
	atomic_init(&run->refs, 1);
	atomic_init(&run->cancel, 0);
	atomic_init(&run->status, RUN_QUEUED);
	run->rt = rt;
	run->hooks = *hooks;
	run->state = st = state_get(rt);
	run->set = plug_registry_get(rt->tools);
	agent_random_hex(run->id, RUN_ID_BYTES);
	run->created_ms = clock_wall_ns() / 1000000u;

	name = json_string_value(json_object_get(params, "agent"));
	if (name == NULL)
		name = BUILTIN_AGENT;
	run->agent = xstrdup(name);
	run->input =
	    xstrdup(json_string_value(json_object_get(params, "input")));
	if (strcmp(name, BUILTIN_AGENT) != 0) {
		for (i = 0; i < st->n_agents; i++) {
			if (strcmp(script_agent_name(st->agents[i]), name) == 0)
				break;
		}
		if (i == st->n_agents) {
			*err = AGENT_ERR_UNKNOWN_NAME;
			xasprintf(cause,
			    "unknown agent '%s'; agents.list lists "
			    "them",
			    name);
			goto fail;
		}
		run->lua = script_agent_ref(st->agents[i]);
	} else if (st->backend == NULL) {
		*err = AGENT_ERR_MODEL;
		xasprintf(cause, "no model: %s", st->model_error);
		goto fail;
	} else if (st->tmpl == NULL) {
		*err = AGENT_ERR_INTERNAL;
		xasprintf(cause, "no ReAct template: %s", st->template_error);
		goto fail;
	}

	tools = json_object_get(params, "tools");
	if (tools != NULL) {
		run->tools =
		    xcalloc(json_array_size(tools) + 1, sizeof *run->tools);
		json_array_foreach(tools, i, v)
		{
			if (plug_set_find(run->set, json_string_value(v)) ==
			    NULL) {
				char *names = plug_set_names(run->set);

				*err = AGENT_ERR_UNKNOWN_NAME;
				xasprintf(cause,
				    "unknown tool '%s'; valid tools: %s",
				    json_string_value(v), names);
				free(names);
				goto fail;
			}
			run->tools[run->n_tools++] =
			    xstrdup(json_string_value(v));
		}
	}
	v = json_object_get(params, "max_steps");
	run->max_steps = v != NULL ? (uint32_t)json_integer_value(v)
	                           : AGENT_DEFAULT_MAX_STEPS;
	v = json_object_get(params, "max_tokens");
	run->max_tokens = v != NULL ? (uint32_t)json_integer_value(v)
	                            : AGENT_DEFAULT_MAX_TOKENS;
	v = json_object_get(params, "timeout_ms");
	run->timeout_ms = v != NULL ? (uint64_t)json_integer_value(v)
	                            : AGENT_DEFAULT_TIMEOUT_MS;
	run->sampling.temperature =
	    json_number_value(json_object_get(params, "temperature"));
	run->sampling.top_k =
	    (uint32_t)json_integer_value(json_object_get(params, "top_k"));
	run->sampling.top_p =
	    json_number_value(json_object_get(params, "top_p"));
	run->sampling.min_p =
	    json_number_value(json_object_get(params, "min_p"));
	run->sampling.seed =
	    (uint64_t)json_integer_value(json_object_get(params, "seed"));

	v = json_object_get(params, "strategy");
	if (v != NULL && !json_is_null(v)) {
		if (run->lua != NULL) {
			*err = AGENT_ERR_PARAMS;
			xasprintf(cause,
			    "\"strategy\" applies to the built-in agent; '%s' "
			    "is a Lua agent",
			    name);
			goto fail;
		}
		run->strategy = json_incref(v);
	}

	/* A slot in the table, or overloaded. */
	pthread_mutex_lock(&rt->mu);
	if (rt->n_active >= rt->max_runs) {
		pthread_mutex_unlock(&rt->mu);
		*err = AGENT_ERR_OVERLOADED;
		xasprintf(cause,
		    "%zu runs are in flight (max_runs); try again later",
		    rt->n_active);
		goto fail;
	}
	rt->n_active++;
	run->in_table = 1;
	atomic_fetch_add(&run->refs, 1); /* the table's */
	TAILQ_INSERT_HEAD(&rt->runs, run, entry);
	pthread_mutex_unlock(&rt->mu);

	/* The root span: the run has its trace id from the start. */
	tp = json_string_value(json_object_get(params, "traceparent"));
	xasprintf(&span_name, "invoke_agent %s", run->agent);
	run->root = agent_span_root(st->tracer, span_name, AGENT_SPAN_RUN, tp);
	free(span_name);
	memcpy(run->trace_id, agent_span_trace_id(run->root),
	    sizeof run->trace_id);
	agent_span_attr_str(run->root, "gen_ai.operation.name", "invoke_agent");
	agent_span_attr_str(run->root, "gen_ai.agent.name", run->agent);
	agent_span_attr_str(run->root, "agentd.run_id", run->id);
	if (st->backend != NULL)
		agent_span_attr_str(run->root, "gen_ai.request.model",
		    agent_backend_name(st->backend));
	in = cut_text(run->input, 4096);
	agent_span_attr_str(run->root, "agentd.input", in);
	free(in);
	agent_span_attr_int(run->root, "agentd.max_steps", run->max_steps);
	agent_span_attr_int(
	    run->root, "gen_ai.request.max_tokens", run->max_tokens);
	log_info(
	    "run %s: agent %s, trace %s", run->id, run->agent, run->trace_id);
	return run;

fail:
	run_free(run);
	return NULL;
}

static void
run_free(struct agent_run *run)
{
	for (size_t i = 0; i < run->n_tools; i++)
		free(run->tools[i]);
	free(run->tools);
	agent_span_end(run->root);
	free(run->spans);
	json_decref(run->lua_steps);
	json_decref(run->strategy);
	json_decref(run->result);
	script_agent_unref(run->lua);
	plug_set_unref(run->set);
	state_unref(run->state);
	free(run->agent);
	free(run->input);
	free(run);
}

struct agent_run *
agent_run_ref(struct agent_run *run)
{
	atomic_fetch_add(&run->refs, 1);
	return run;
}

void
agent_run_unref(struct agent_run *run)
{
	if (run == NULL)
		return;
	AGENTD_ASSERT(atomic_load(&run->refs) > 0);
	if (atomic_fetch_sub(&run->refs, 1) == 1)
		run_free(run);
}

const char *
agent_run_id(const struct agent_run *run)
{
	return run->id;
}

const char *
agent_run_trace_id(const struct agent_run *run)
{
	return run->trace_id;
}

/* Sends one agent.event: {run_id, seq, branch, type, ...fields}. */
static void
run_event(struct agent_run *run, const char *type, json_t *fields)
{
	if (fields == NULL)
		return;
	if (run->hooks.event == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(fields, "run_id", json_string(run->id));
	json_object_set_new(
	    fields, "seq", json_integer((json_int_t)run->seq++));
	if (json_object_get(fields, "branch") == NULL)
		json_object_set_new(fields, "branch", json_integer(0));
	json_object_set_new(fields, "type", json_string(type));
	run->hooks.event(run->hooks.arg, fields);
}

static void
run_sink_event(void *arg, const char *type, json_t *fields)
{
	run_event(arg, type, fields);
}

/* Between tokens: a client that went away cancels the run. */
static void
run_sink_poll(void *arg)
{
	struct agent_run *run = arg;

	if (run->hooks.gone != NULL && atomic_load(&run->cancel) == 0 &&
	    run->hooks.gone(run->hooks.arg)) {
		log_info("run %s: the client went away; cancelling", run->id);
		atomic_store(&run->cancel, 1);
	}
}

/* The span new spans hang from: the innermost ctx.span, or the root. */
static struct agent_span *
run_span(struct agent_run *run)
{
	return run->n_spans > 0 ? run->spans[run->n_spans - 1] : run->root;
}

/* The built-in agent: one ReAct loop. */
static json_t *
run_react(struct agent_run *run, enum agent_ending *ending)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct agent_sink sink = { run_sink_event, run_sink_poll, run };
	json_t *out;
	char *cause = NULL;

	memset(&p, 0, sizeof p);
	p.input = run->input;
	p.tmpl = run->state->tmpl;
	p.tools = (const char *const *)run->tools;
	p.n_tools = run->n_tools;
	p.max_steps = run->max_steps;
	p.max_tokens = run->max_tokens;
	p.deadline_ns = run->deadline_ns;
	p.tool_timeout_ms = run->state->tool_timeout_ms;
	p.sampling = run->sampling;
	p.cancel = &run->cancel;
	if (run->strategy != NULL) {
		struct agent_scorer_hook hook = { agent_scorer_tool, run->set };
		struct agent_strategy st;
		struct agent_strategy_result sr;

		/* agent_run_params_check() parsed it once already. */
		if (agent_strategy_parse(run->strategy, &st, &cause) != 0 ||
		    agent_strategy_run(run->state->backend, run->set, &p, &st,
		        &hook, &sink, run->root, &sr, &cause) != 0) {
			agent_strategy_clear(&st);
			goto fail;
		}
		*ending = sr.r.ending;
		out = agent_strategy_result_json(&sr);
		agent_strategy_result_clear(&sr);
		agent_strategy_clear(&st);
		return out;
	}
	if (agent_react_run(run->state->backend, run->set, &p, &sink, run->root,
	        &res, &cause) != 0)
		goto fail;
	*ending = res.ending;
	out = agent_react_result_json(&res);
	agent_react_result_clear(&res);
	return out;

fail:
	*ending = AGENT_END_ERROR;
	out = json_pack("{s:n, s:s, s:s, s:[], s:o}", "answer", "ending",
	    "error", "error", cause, "steps", "usage",
	    agent_usage_json(&run->usage));
	free(cause);
	return out;
}

/* A Lua agent: script_agent_run() with the ctx callbacks below. */
static json_t *
run_lua(struct agent_run *run, enum agent_ending *ending)
{
	struct script_call call;
	enum script_stop stop = SCRIPT_STOP_NONE;
	char *answer = NULL, *cause = NULL;
	json_t *out;

	memset(&call, 0, sizeof call);
	call.deadline_ns = run->deadline_ns;
	call.cancel = &run->cancel;
	run->lua_steps = json_array();
	if (script_agent_run(run->lua, run->input, &run_ctx_ops, run, &call,
	        &answer, &stop, &cause) == 0) {
		*ending = AGENT_END_FINAL_ANSWER;
		out = json_pack(
		    "{s:s, s:s}", "answer", answer, "ending", "final_answer");
	} else {
		*ending = stop == SCRIPT_STOP_CANCELLED ? AGENT_END_CANCELLED
		    : stop == SCRIPT_STOP_TIMEOUT       ? AGENT_END_TIMEOUT
		                                        : AGENT_END_ERROR;
		out = json_pack("{s:n, s:s, s:s}", "answer", "ending",
		    agent_ending_name(*ending), "error",
		    cause != NULL ? cause : "the agent failed");
	}
	json_object_set(out, "steps", run->lua_steps);
	json_object_set_new(out, "usage", agent_usage_json(&run->usage));
	free(answer);
	free(cause);
	return out;
}

/* Records the result in the table, ends the trace and answers. */
static void
run_finish(struct agent_run *run, json_t *result, enum agent_ending ending)
{
	struct agent_runtime *rt = run->rt;
	struct agent_run *old;
	json_t *usage = json_object_get(result, "usage");

	json_object_set_new(result, "run_id", json_string(run->id));
	json_object_set_new(result, "trace_id", json_string(run->trace_id));
	json_object_set_new(result, "agent", json_string(run->agent));

	run_event(run, "final",
	    json_pack("{s:O, s:s}", "answer", json_object_get(result, "answer"),
	        "ending", agent_ending_name(ending)));

	agent_span_attr_str(
	    run->root, "agentd.ending", agent_ending_name(ending));
	agent_span_attr_int(run->root, "gen_ai.usage.input_tokens",
	    json_integer_value(
	        json_object_get(usage, "prompt_tokens_computed")) +
	        json_integer_value(
	            json_object_get(usage, "prompt_tokens_reused")));
	agent_span_attr_int(run->root, "gen_ai.usage.output_tokens",
	    json_integer_value(json_object_get(usage, "completion_tokens")));
	if (ending != AGENT_END_FINAL_ANSWER)
		agent_span_error(run->root, "%s",
		    json_string_value(json_object_get(result, "error")) != NULL
		        ? json_string_value(json_object_get(result, "error"))
		        : agent_ending_name(ending));
	agent_span_end(run->root);
	run->root = NULL;
	log_info("run %s: %s after %llu ms", run->id, agent_ending_name(ending),
	    (unsigned long long)((clock_mono_ns() - run->started_ns) /
	        1000000u));

	pthread_mutex_lock(&rt->mu);
	run->ended_ns = clock_mono_ns();
	run->result = json_incref(result);
	run->ending = ending;
	atomic_store(&run->status, RUN_DONE);
	rt->n_active--;
	rt->n_done++;
	/* Forget the oldest finished runs past keep_runs. */
	while (rt->n_done > rt->keep_runs) {
		TAILQ_FOREACH_REVERSE(old, &rt->runs, run_list, entry)
		{
			if (atomic_load(&old->status) == RUN_DONE)
				break;
		}
		if (old == NULL)
			break;
		TAILQ_REMOVE(&rt->runs, old, entry);
		old->in_table = 0;
		rt->n_done--;
		pthread_mutex_unlock(&rt->mu);
		agent_run_unref(old);
		pthread_mutex_lock(&rt->mu);
	}
	pthread_mutex_unlock(&rt->mu);

	if (run->hooks.done != NULL)
		run->hooks.done(run->hooks.arg, result);
	else
		json_decref(result);
}

void
agent_run_execute(struct agent_run *run)
{
	enum agent_ending ending = AGENT_END_ERROR;
	json_t *result;

	AGENTD_ASSERT(atomic_load(&run->status) == RUN_QUEUED);
	pthread_mutex_lock(&run->rt->mu);
	atomic_store(&run->status, RUN_RUNNING);
	run->started_ns = clock_mono_ns();
	pthread_mutex_unlock(&run->rt->mu);
	run->deadline_ns = run->started_ns + run->timeout_ms * 1000000u;
	run_event(run, "start",
	    json_pack("{s:s, s:s, s:s}", "agent", run->agent, "input",
	        run->input, "trace_id", run->trace_id));
	run_sink_poll(run);

	if (atomic_load(&run->cancel) != 0) {
		ending = AGENT_END_CANCELLED;
		result = json_pack("{s:n, s:s, s:s, s:[], s:o}", "answer",
		    "ending", "cancelled", "error",
		    "the run was cancelled before it started", "steps", "usage",
		    agent_usage_json(&run->usage));
	} else if (run->lua != NULL) {
		result = run_lua(run, &ending);
	} else {
		result = run_react(run, &ending);
	}
	run_finish(run, result, ending);
}

void
agent_run_abort(struct agent_run *run, const char *why)
{
	struct agent_runtime *rt = run->rt;
	json_t *result;

	result =
	    json_pack("{s:n, s:s, s:s, s:[], s:o}", "answer", "ending", "error",
	        "error", why, "steps", "usage", agent_usage_json(&run->usage));
	log_warn("run %s: not started: %s", run->id, why);
	run->hooks.done = NULL;
	run->hooks.event = NULL;
	pthread_mutex_lock(&rt->mu);
	run->started_ns = clock_mono_ns();
	atomic_store(&run->status, RUN_RUNNING);
	pthread_mutex_unlock(&rt->mu);
	run_finish(run, result, AGENT_END_ERROR);
}

/* ---- ctx: what Lua agents reach -------------------------------------- */

/* One model call for ctx.generate and ctx.chat, in a fresh session. */
static int
ctx_gen(struct agent_run *run, const char *prompt,
    const struct script_gen_req *req, struct script_gen_res *res, char **cause)
{
	struct agent_backend *b = run->state->backend;
	struct agent_session *s;
	struct agent_gen_params gp;
	struct agent_gen_result gr;
	struct agent_append_result ar;
	struct agent_span *span;
	char *name;
	int rc = -1;

	if (b == NULL) {
		xasprintf(cause, "no model: %s", run->state->model_error);
		return -1;
	}
	xasprintf(&name, "%s %s",
	    req->messages != NULL ? "chat" : "text_completion",
	    agent_backend_name(b));
	span = agent_span_child(run_span(run), name, AGENT_SPAN_LLM);
	free(name);
	agent_span_attr_str(span, "gen_ai.operation.name",
	    req->messages != NULL ? "chat" : "text_completion");
	agent_span_attr_str(
	    span, "gen_ai.request.model", agent_backend_name(b));

	memset(&gr, 0, sizeof gr);
	memset(&gp, 0, sizeof gp);
	gp.max_tokens =
	    req->max_tokens != 0 ? req->max_tokens : run->max_tokens;
	gp.stop = req->stop;
	gp.n_stop = req->n_stop;
	gp.temperature =
	    req->has_temperature ? req->temperature : run->sampling.temperature;
	gp.top_k = run->sampling.top_k;
	gp.top_p = run->sampling.top_p;
	gp.min_p = run->sampling.min_p;
	gp.seed = run->sampling.seed;
	gp.cancel = &run->cancel;
	gp.deadline_ns = run->deadline_ns;
	agent_span_attr_int(span, "gen_ai.request.max_tokens", gp.max_tokens);
	agent_span_attr_real(
	    span, "gen_ai.request.temperature", gp.temperature);

	if ((s = agent_session_new(b, cause)) == NULL)
		goto out;
	if (agent_session_append(s, prompt, strlen(prompt), &ar, cause) != 0)
		goto out;
	if (agent_session_generate(s, &gp, &gr, cause) != 0)
		goto out;
	run->usage.prompt_computed += ar.computed + gr.prompt_computed;
	run->usage.prompt_reused += ar.reused + gr.prompt_reused;
	run->usage.completion += gr.tokens;
	res->text = gr.text;
	gr.text = NULL;
	snprintf(res->finish, sizeof res->finish, "%s",
	    agent_finish_name(gr.finish));
	res->prompt_tokens =
	    ar.computed + ar.reused + gr.prompt_computed + gr.prompt_reused;
	res->completion_tokens = gr.tokens;
	agent_span_attr_int(
	    span, "gen_ai.usage.input_tokens", res->prompt_tokens);
	agent_span_attr_int(span, "gen_ai.usage.output_tokens", gr.tokens);
	agent_span_attr(span, "gen_ai.response.finish_reasons",
	    json_pack("[s]", agent_finish_name(gr.finish)));
	rc = 0;
out:
	if (rc != 0)
		agent_span_error(span, "%s", *cause);
	agent_span_end(span);
	agent_gen_result_clear(&gr);
	agent_session_free(s);
	return rc;
}

static int
ctx_generate(void *arg, const struct script_gen_req *req,
    struct script_gen_res *res, char **cause)
{
	return ctx_gen(arg, req->prompt, req, res, cause);
}

static int
ctx_chat(void *arg, const struct script_gen_req *req,
    struct script_gen_res *res, char **cause)
{
	struct agent_run *run = arg;
	struct agent_chat_msg *msgs;
	const char *role, *content;
	size_t i, n = json_array_size(req->messages);
	json_t *m;
	char *prompt;
	int rc;

	if (run->state->backend == NULL) {
		xasprintf(cause, "no model: %s", run->state->model_error);
		return -1;
	}
	msgs = xcalloc(n + 1, sizeof *msgs);
	json_array_foreach(req->messages, i, m)
	{
		role = json_string_value(json_object_get(m, "role"));
		content = json_string_value(json_object_get(m, "content"));
		if (role == NULL || content == NULL ||
		    (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
		        strcmp(role, "assistant") != 0)) {
			xasprintf(cause,
			    "messages[%zu] must have a role (system, user or "
			    "assistant) and a string content",
			    i + 1);
			free(msgs);
			return -1;
		}
		msgs[i].role = role;
		msgs[i].content = content;
	}
	prompt =
	    agent_backend_chat_render(run->state->backend, msgs, n, 1, cause);
	free(msgs);
	if (prompt == NULL)
		return -1;
	rc = ctx_gen(run, prompt, req, res, cause);
	free(prompt);
	return rc;
}

static int
ctx_tool(void *arg, const char *name, const json_t *args,
    struct script_result *res, char **cause)
{
	struct agent_run *run = arg;
	char *text;
	int is_error;

	(void)cause;
	agent_tool_invoke(run->set, (const char *const *)run->tools,
	    run->n_tools, name, args, run->state->tool_timeout_ms,
	    run->deadline_ns, &run->cancel, run_span(run), &text, &is_error);
	res->text = text;
	res->len = strlen(text);
	res->is_error = is_error;
	return 0;
}

static int
ctx_react(void *arg, const struct script_react_req *req, json_t **result,
    char **cause)
{
	return ctx_loop(arg, req, NULL, result, cause);
}

static int
ctx_strategy(void *arg, const struct script_react_req *req,
    const json_t *strategy, json_t **result, char **cause)
{
	return ctx_loop(arg, req, strategy, result, cause);
}

/*
 * ctx.react and ctx.strategy: the ReAct loop, or strategy (when not NULL)
 * over it, inside the Lua agent's run.  Its steps join the run's, its
 * usage the run's usage.
 */
static int
ctx_loop(struct agent_run *run, const struct script_react_req *req,
    const json_t *strategy, json_t **result, char **cause)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct agent_strategy_result sr;
	struct agent_strategy st;
	struct agent_scorer_hook hook = { agent_scorer_tool, run->set };
	struct agent_sink sink = { run_sink_event, run_sink_poll, run };
	struct agent_react_result *r;
	struct agent_span *span;
	json_t *step;
	size_t i;

	if (run->state->backend == NULL) {
		xasprintf(cause, "no model: %s", run->state->model_error);
		return -1;
	}
	/* The tools a script names must be among the run's. */
	for (i = 0; i < req->n_tools && req->tools != NULL; i++) {
		size_t j;

		for (j = 0; j < run->n_tools; j++) {
			if (strcmp(run->tools[j], req->tools[i]) == 0)
				break;
		}
		if (run->tools != NULL && j == run->n_tools) {
			xasprintf(cause, "tool '%s' is not one of the run's",
			    req->tools[i]);
			return -1;
		}
	}
	if (strategy != NULL &&
	    agent_strategy_parse(strategy, &st, cause) != 0) {
		agent_strategy_clear(&st);
		return -1;
	}
	memset(&p, 0, sizeof p);
	p.input = req->input;
	p.tmpl = run->state->tmpl;
	p.tools =
	    req->tools != NULL ? req->tools : (const char *const *)run->tools;
	p.n_tools = req->tools != NULL ? req->n_tools : run->n_tools;
	p.max_steps = req->max_steps != 0 ? req->max_steps : run->max_steps;
	p.max_tokens = run->max_tokens;
	p.deadline_ns = run->deadline_ns;
	p.tool_timeout_ms = run->state->tool_timeout_ms;
	p.sampling = run->sampling;
	p.cancel = &run->cancel;
	span = agent_span_child(run_span(run),
	    strategy != NULL ? "ctx.strategy" : "ctx.react",
	    AGENT_SPAN_STRATEGY);
	if (strategy != NULL) {
		if (agent_strategy_run(run->state->backend, run->set, &p, &st,
		        &hook, &sink, span, &sr, cause) != 0) {
			agent_strategy_clear(&st);
			goto fail;
		}
		agent_strategy_clear(&st);
		r = &sr.r;
	} else {
		if (agent_react_run(run->state->backend, run->set, &p, &sink,
		        span, &res, cause) != 0)
			goto fail;
		r = &res;
	}
	agent_span_attr_str(
	    span, "agentd.ending", agent_ending_name(r->ending));
	agent_span_end(span);
	run->usage.prompt_computed += r->usage.prompt_computed;
	run->usage.prompt_reused += r->usage.prompt_reused;
	run->usage.completion += r->usage.completion;
	json_array_foreach(r->steps, i, step)
	    json_array_append(run->lua_steps, step);
	if (strategy != NULL) {
		*result = agent_strategy_result_json(&sr);
		agent_strategy_result_clear(&sr);
	} else {
		*result = agent_react_result_json(&res);
		agent_react_result_clear(&res);
	}
	return 0;

fail:
	agent_span_error(span, "%s", *cause);
	agent_span_end(span);
	return -1;
}

static json_t *
ctx_tools(void *arg, char **cause)
{
	struct agent_run *run = arg;
	struct plug_tool *t;
	json_t *list = json_array(), *entry;
	size_t j;

	(void)cause;
	for (size_t i = 0; i < plug_set_count(run->set); i++) {
		t = plug_set_tool(run->set, i);
		if (run->tools != NULL) {
			for (j = 0; j < run->n_tools; j++) {
				if (strcmp(run->tools[j], plug_tool_name(t)) ==
				    0)
					break;
			}
			if (j == run->n_tools)
				continue;
		}
		entry = plug_tool_json(t);
		json_object_del(entry, "source");
		json_array_append_new(list, entry);
	}
	return list;
}

static int
ctx_emit(void *arg, json_t *event, char **cause)
{
	struct agent_run *run = arg;
	const char *type = json_string_value(json_object_get(event, "type"));
	char *t;

	(void)cause;
	if (type == NULL) {
		json_decref(event);
		xasprintf(cause, "an event needs a string \"type\"");
		return -1;
	}
	t = xstrdup(type);
	json_object_del(event, "type");
	json_object_del(event, "run_id");
	json_object_del(event, "seq");
	run_event(run, t, event);
	free(t);
	return 0;
}

static int
ctx_span_begin(void *arg, const char *name, void **span, char **cause)
{
	struct agent_run *run = arg;
	struct agent_span *s;

	(void)cause;
	s = agent_span_child(run_span(run), name, AGENT_SPAN_STEP);
	agent_span_attr_str(s, "agentd.source", "lua");
	run->spans =
	    xreallocarray(run->spans, run->n_spans + 1, sizeof *run->spans);
	run->spans[run->n_spans++] = s;
	*span = s;
	return 0;
}

static void
ctx_span_end(void *arg, void *span, const char *error)
{
	struct agent_run *run = arg;
	struct agent_span *s = span;

	/* Spans nest as Lua calls do: the one ending is the innermost. */
	AGENTD_ASSERT(run->n_spans > 0 && run->spans[run->n_spans - 1] == s);
	run->n_spans--;
	if (error != NULL)
		agent_span_error(s, "%s", error);
	agent_span_end(s);
}
