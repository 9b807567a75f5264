/*
 * agent.h: the agent runtime, the public face of agent/.
 *
 * Three layers, bottom up:
 *
 *  - The transcript (transcript.c): the ReAct prompt rendered from the
 *    template agent/prompts/react-v1.txt, whose only placeholders are
 *    {{tools}} and {{question}}; the parser of what the model writes; the
 *    observation line.  Byte for byte as DESIGN.md "ReAct transcript
 *    format v1" says.
 *
 *  - The ReAct loop (react.c): observe (the transcript so far, shortened
 *    by a fixed rule when it would overflow the context), plan (the
 *    model writes a thought and an action or a final answer), act (the
 *    action is checked and the tool runs under a time limit), until a
 *    final answer or a limit.  It talks to a model only through
 *    agent/backend.h and to tools only through plugins/plugins.h.
 *
 *  - The runtime (run.c): the model backend, the Lua agents, the trace
 *    store and the table of runs that agent.run, agent.cancel, runs.list,
 *    run.get and trace.get serve.  A run executes on whatever thread calls
 *    agent_run_execute() (the daemon's worker pool) and reports through
 *    the callbacks the daemon fills in (struct agent_run_hooks), since
 *    agent/ never includes daemon/.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause that
 * names what and where; the caller frees it.  JSON-RPC codes exist only
 * at the daemon's edge: functions here report a kind of failure (enum
 * agent_err) that the daemon maps to its codes.
 */
#ifndef AGENTD_AGENT_AGENT_H
#define AGENTD_AGENT_AGENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/backend.h"
#include "agent/trace.h"

struct plug_registry;
struct plug_set;
struct agent_run;
struct agent_runtime;

/* ---- the transcript (transcript.c) ------------------------------------ */

/* The template's name, as traces and results report it. */
#define AGENT_PROMPT_NAME "react-v1"
/* Observations are cut at this many bytes, then " [truncated]". */
#define AGENT_OBS_MAX 1000
/* The largest template file read. */
#define AGENT_TEMPLATE_MAX (64 * 1024)

/* The stop string of every plan and the prefix of the final line. */
#define AGENT_STOP_OBSERVATION "\nObservation:"
#define AGENT_FINAL_PREFIX     "Final Answer:"

/* The fixed observations of invalid actions (DESIGN.md). */
#define AGENT_OBS_NOT_OBJECT "Error: Action Input is not a JSON object"
#define AGENT_OBS_REPEATED   "Error: repeated action; try something else"
/* And those of malformed steps, which DESIGN.md leaves to the runtime. */
#define AGENT_OBS_NO_ACTION \
	"Error: expected Action and Action Input, or Final Answer"
#define AGENT_OBS_BOTH \
	"Error: Action and Final Answer in one step; give one of them"

/*
 * Checks a template: valid UTF-8 with exactly one {{tools}} and one
 * {{question}}, the question last and the text ending with "\n", and no
 * other "{{".  Returns 0, or -1 with *cause naming what is wrong (what
 * names the template in the message).
 */
int agent_template_check(
    const char *text, size_t len, const char *what, char **cause);
/*
 * Reads and checks the template file at path (at most
 * AGENT_TEMPLATE_MAX bytes).  Returns a new string, or NULL with *cause.
 */
char *agent_template_load(const char *path, char **cause);
/*
 * Renders the prompt: the template with {{tools}} replaced by tools (the
 * lines of plug_set_prompt(), each ending in "\n", the last newline
 * dropped because the template supplies it) and {{question}} by the
 * question made one line (each run of CR and LF becomes one space,
 * trailing white space is dropped).  Returns a new string.
 */
char *agent_prompt_render(
    const char *tmpl, const char *tools, const char *question);

/*
 * The output of an observation made one line, as DESIGN.md says:
 * trailing white space is dropped (first, so that a final newline leaves
 * no " |"), each run of newlines (CR or LF) becomes " | ", and text past
 * AGENT_OBS_MAX bytes is cut on a UTF-8 boundary and gets
 * " [truncated]".  Returns a new string (without
 * "Observation: " and without the newline).
 */
char *agent_obs_line(const char *text, size_t len);

/*
 * One plan step as the parser reads it.  The model's text is read line by
 * line:
 *
 *  - The thought is the text before the first "Action:" or
 *    "Final Answer:" line, without a leading "Thought:" and trimmed
 *    (lines joined by "\n"); it may be empty.
 *  - "Action: NAME" names the tool (trimmed; may be empty, which is an
 *    unknown tool).  The next line must start with "Action Input:"; the
 *    JSON after it may span lines, and only white space may follow it on
 *    its last line.  input is the parsed value when it is an object, else
 *    NULL with input_error set.
 *  - "Final Answer: TEXT" gives the answer, the rest of that line
 *    trimmed.
 *  - A second action, and anything after the first action's input, is
 *    ignored (keep ends there, and the loop rewinds the session to it):
 *    the model must see an observation before its next action.
 *  - An action and a final answer in one step is invalid
 *    (AGENT_PARSE_BOTH); so is a step with neither (AGENT_PARSE_NONE).
 */
enum agent_parse_kind {
	AGENT_PARSE_ACTION = 0, /* action (input may still be bad) */
	AGENT_PARSE_FINAL,      /* a final answer */
	AGENT_PARSE_BOTH,       /* an action and a final answer */
	AGENT_PARSE_NONE,       /* neither */
};

struct agent_parsed {
	enum agent_parse_kind kind;
	char *thought;           /* never NULL after agent_parse() */
	char *action;            /* ACTION, BOTH: the tool name */
	char *input_text;        /* ACTION: the raw Action Input, trimmed */
	json_t *input;           /* ACTION: the object, or NULL */
	const char *input_error; /* ACTION, input NULL: why (static) */
	char *answer;            /* FINAL: the answer */
	size_t keep;             /* bytes of text that belong to the step */
};

/*
 * Parses len bytes the model generated for one step.  Always fills out
 * (clear it with agent_parsed_clear()).
 */
void agent_parse(const char *text, size_t len, struct agent_parsed *out);
/* Frees what agent_parse() allocated and zeroes out; NULL is accepted. */
void agent_parsed_clear(struct agent_parsed *p);

/* ---- the ReAct loop (react.c) ------------------------------------------ */

/* How a run ended. */
enum agent_ending {
	AGENT_END_FINAL_ANSWER = 0,
	AGENT_END_MAX_STEPS,
	AGENT_END_TIMEOUT,
	AGENT_END_CANCELLED,
	AGENT_END_LOOP,
	AGENT_END_ERROR,
};

/* Returns "final_answer", "max_steps", "timeout", "cancelled", ... */
const char *agent_ending_name(enum agent_ending ending);

/* Defaults of agent.run (DESIGN.md "Method shapes"). */
#define AGENT_DEFAULT_MAX_STEPS  8
#define AGENT_DEFAULT_TIMEOUT_MS 120000
#define AGENT_MAX_STEPS_LIMIT    256
/* A run that repeats an earlier action this many times ends as loop. */
#define AGENT_LOOP_REPEATS 3

/* Sampling parameters of the model calls; zero means the default. */
struct agent_sampling {
	double temperature; /* 0: greedy */
	uint32_t top_k;
	double top_p;
	double min_p;
	uint64_t seed;
};

/* Token counts of a run, summed over its model calls. */
struct agent_usage {
	uint64_t prompt_computed;
	uint64_t prompt_reused;
	uint64_t completion;
};

/*
 * Where a run's agent.event notifications go.  event() receives the type
 * ("step", "token", "thought", "action", "observation", ...) and the
 * type's fields (an object it takes ownership of; the loop adds "step");
 * the run adds run_id, seq and branch.  poll() (may be NULL) is called
 * between tokens and while a tool runs, at least every few milliseconds,
 * so that the owner can set the cancel flag (a client that went away).
 * Both run on the loop's thread.
 */
struct agent_sink {
	void (*event)(void *arg, const char *type, json_t *fields);
	void (*poll)(void *arg);
	void *arg;
};

/*
 * A ReAct loop's inputs.  tools names the tools the prompt offers and
 * the loop may call (n_tools of them; NULL: every tool of the set).  The
 * model's context budget reserves max_tokens for each plan.
 */
struct agent_react_params {
	const char *input;
	const char *tmpl; /* the template text (agent_template_check()ed) */
	const char *const *tools;
	size_t n_tools;
	uint32_t max_steps;       /* 0: AGENT_DEFAULT_MAX_STEPS */
	uint32_t max_tokens;      /* per model call; 0: the default */
	uint64_t deadline_ns;     /* clock_mono_ns(); 0: none */
	uint32_t tool_timeout_ms; /* per tool call; 0: the registry's */
	struct agent_sampling sampling;
	const atomic_int *cancel; /* non-zero: stop; may be NULL */
};

/*
 * What a loop produced.  answer is set for final_answer only; error says
 * why for every ending but final_answer (a sentence); steps is the array
 * agent.run's result carries ({thought, action, action_input,
 * observation}; a final step has "answer" instead of the action).
 */
struct agent_react_result {
	enum agent_ending ending;
	char *answer;
	char *error;
	json_t *steps;
	struct agent_usage usage;
	uint32_t n_steps;
	/* The transcript as the model last saw it: prompt, steps, answer. */
	char *transcript;
};

/*
 * Runs the loop on backend b with the tools of set, recording spans under
 * parent (may be NULL) and events into sink (may be NULL).  The three
 * phases of each step:
 *
 *  observe  The transcript (prompt, then each step's model text and its
 *           observation) must leave max_tokens of room in the context.
 *           When it does not, it is shortened deterministically, never
 *           by a model call: the oldest observation is cut to its first
 *           line (the text before its first " | "), then the next oldest,
 *           and so on up to the newest; then the oldest observation is
 *           replaced by "[omitted]", then the next; when even that does
 *           not fit, the run ends with error.  The session is rewound to
 *           the end of the prompt and the shortened steps appended.
 *  plan     The model continues the transcript; generation stops at
 *           "\nObservation:", at the end of a "Final Answer:" line, at
 *           max_tokens or at the end of its text.
 *  act      The step is parsed (agent_parse()).  A final answer ends the
 *           run.  An action is checked in order: the tool exists among
 *           the run's tools ("Error: unknown tool 'X'; valid tools: a,
 *           b"), its input is a JSON object (AGENT_OBS_NOT_OBJECT), the
 *           arguments pass the schema ("Error: invalid arguments for X:
 *           <what>"), and the same tool with equal arguments did not run
 *           before (AGENT_OBS_REPEATED; the AGENT_LOOP_REPEATS-th repeat
 *           ends the run as loop).  Then the tool runs on a thread of its
 *           own while the loop waits, watching the cancel flag, the run's
 *           deadline and the tool's time limit; a tool past its limit is
 *           abandoned ("Error: tool 'X' timed out after N ms").  A tool's
 *           error text becomes "Error: <text>".  The observation line is
 *           appended and the next step begins.
 *
 * A plan cut by max_tokens with neither a complete action nor a final
 * answer ends the run with error; so does a backend failure.  The
 * cancel flag ends it as cancelled within one token (an in-flight tool
 * call is abandoned), the deadline as timeout, max_steps plans without
 * a final answer as max_steps.
 *
 * Returns 0 with *res filled (clear it with agent_react_result_clear()),
 * or -1 with *cause when the inputs are wrong (a tool name not in set, a
 * missing template); nothing runs then.
 */
int agent_react_run(struct agent_backend *b, struct plug_set *set,
    const struct agent_react_params *params, const struct agent_sink *sink,
    struct agent_span *parent, struct agent_react_result *res, char **cause);
/* Frees what a result holds and zeroes it; NULL is accepted. */
void agent_react_result_clear(struct agent_react_result *res);
/*
 * The result as agent.run reports it: {answer, ending, error (when not
 * final_answer), steps, usage} (new reference).
 */
json_t *agent_react_result_json(const struct agent_react_result *res);
/* {prompt_tokens_computed, prompt_tokens_reused, completion_tokens}. */
json_t *agent_usage_json(const struct agent_usage *u);

/* ---- the runtime (run.c) ----------------------------------------------- */

/* Kinds of failure the daemon maps to JSON-RPC codes. */
enum agent_err {
	AGENT_ERR_PARAMS = 0,   /* invalid params (-32602) */
	AGENT_ERR_UNKNOWN_NAME, /* unknown agent or tool (-32007) */
	AGENT_ERR_UNKNOWN_RUN,  /* unknown run or trace (-32001) */
	AGENT_ERR_OVERLOADED,   /* too many runs (-32002) */
	AGENT_ERR_MODEL,        /* no model (-32003) */
	AGENT_ERR_INTERNAL,     /* anything else (-32603) */
};

/* Defaults of the runtime's limits. */
#define AGENT_DEFAULT_MAX_RUNS  64  /* runs in flight */
#define AGENT_DEFAULT_KEEP_RUNS 256 /* finished runs kept for run.get */

/*
 * The runtime's configuration; strings are copied.  model is a spec for
 * agent_backend_open() ("scripted:FILE" or a GGUF path); NULL or a model
 * that fails to open leaves the runtime without a model (logged), and
 * runs then fail with AGENT_ERR_MODEL.  template_path is the ReAct
 * template (agent/prompts/react-v1.txt); one that does not load is
 * logged and leaves the built-in loop refusing runs (AGENT_ERR_INTERNAL)
 * until a reload finds it.  trace_dir
 * (NULL: no traces are written) is the trace store; agents_dir (NULL:
 * none) holds Lua agents, loaded with lua_limits (NULL fields: the
 * defaults).
 */
struct agent_runtime_config {
	const char *model;
	const char *template_path;
	const char *trace_dir;
	int trace_fsync;          /* enum agent_trace_fsync */
	uint64_t trace_max_bytes; /* retention; 0: no limit */
	uint64_t trace_max_age_s; /* retention; 0: no limit */
	const char *agents_dir;
	uint64_t lua_max_instructions;
	size_t lua_max_memory;
	size_t max_runs;          /* 0: AGENT_DEFAULT_MAX_RUNS */
	size_t keep_runs;         /* 0: AGENT_DEFAULT_KEEP_RUNS */
	uint32_t tool_timeout_ms; /* 0: the registry's */
};

/*
 * Makes the runtime over the tool registry tools (borrowed: it must
 * outlive the runtime).  Returns NULL with *cause only when no template
 * path is given: everything else that fails to load is logged.
 */
struct agent_runtime *agent_runtime_new(const struct agent_runtime_config *c,
    struct plug_registry *tools, char **cause);
/*
 * Frees the runtime.  Every run must have finished (agent_run_execute()
 * returned) and been released.  NULL is accepted.
 */
void agent_runtime_free(struct agent_runtime *rt);
/*
 * Applies a new configuration: the template and the Lua agents are read
 * again, the model is reopened when its spec changed, the trace store
 * reopened when its folder changed.  Runs in flight keep what they
 * started with.  Returns 0, or -1 with *cause, keeping the old state.
 * Any thread; it may block (it loads files).
 */
int agent_runtime_reload(struct agent_runtime *rt,
    const struct agent_runtime_config *c, char **cause);
/* The tool registry (borrowed). */
struct plug_registry *agent_runtime_tools(struct agent_runtime *rt);
/* agents.list: {"agents": [{name, description, source, path?}]} (new). */
json_t *agent_runtime_agents_json(struct agent_runtime *rt);
/*
 * models.list: {"models": [{name, kind, spec, n_ctx, caps, default}]}
 * (new): the runtime's model, or an empty list and "error" saying why
 * there is none.  kind is the backend's ("local", "scripted"), spec what
 * the config named, caps the AGENT_CAP_* bits by name ("kv_reuse",
 * "logprobs", "batch", "chat").
 */
json_t *agent_runtime_models_json(struct agent_runtime *rt);
/*
 * The runtime's model with a new reference (drop it with
 * agent_backend_unref()), for model.generate: a reload may replace the
 * model, and the caller keeps the one it started with.  Returns NULL
 * with *cause ("no model: ...") when there is none.
 */
struct agent_backend *agent_runtime_backend(
    struct agent_runtime *rt, char **cause);
/* runs.list: {"runs": [summary, ...]}, newest first (new). */
json_t *agent_runtime_runs_json(struct agent_runtime *rt);
/*
 * run.get: the run's full record (new), or NULL with *cause ("unknown
 * run 'x'") and *err.
 */
json_t *agent_runtime_run_json(struct agent_runtime *rt, const char *run_id,
    enum agent_err *err, char **cause);
/*
 * agent.cancel: asks a run to stop.  Returns 0 (also for a run that
 * already ended; *was_running says which), or -1 with *cause for an
 * unknown run.
 */
int agent_runtime_cancel(struct agent_runtime *rt, const char *run_id,
    int *was_running, char **cause);
/* trace.get over the runtime's store, as agent_trace_get(). */
json_t *agent_runtime_trace_get(struct agent_runtime *rt, const char *trace_id,
    enum agent_err *err, char **cause);
/*
 * The trace store's folder (a new string, caller frees), for trace.list
 * and trace.export; NULL with *cause when traces are off.
 */
char *agent_runtime_trace_dir(struct agent_runtime *rt, char **cause);

/*
 * Checks agent.run's params without a runtime (the method's check()):
 * types and ranges of every member DESIGN.md lists.  Returns 0, or -1
 * with *cause naming the member.
 */
int agent_run_params_check(const json_t *params, char **cause);

/*
 * How a run reports.  Every callback runs on the run's thread.  event()
 * receives each agent.event's params (taken: {run_id, seq, branch, type,
 * ...}); done() receives the result (taken), exactly once, when the run
 * ends; gone() (may be NULL) returns 1 once nobody waits for the run any
 * more, which cancels it.
 */
struct agent_run_hooks {
	void *arg;
	void (*event)(void *arg, json_t *params);
	void (*done)(void *arg, json_t *result);
	int (*gone)(void *arg);
};

/*
 * Starts a run from agent.run's params (which passed
 * agent_run_params_check(); borrowed): resolves the agent and the tools,
 * takes a slot in the run table and records the run as queued.  Returns
 * the run with one reference (the caller's), or NULL with *err and
 * *cause; the hooks are never called then.  hooks is copied.
 */
struct agent_run *agent_run_new(struct agent_runtime *rt, const json_t *params,
    const struct agent_run_hooks *hooks, enum agent_err *err, char **cause);
/*
 * Executes the run to its end on the calling thread (a worker): sends its
 * events, calls done() with the result, records it in the run table.
 * Call it once.
 */
void agent_run_execute(struct agent_run *run);
/*
 * The run will never execute (the pool refused it): it leaves the table
 * as failed, and its hooks are not called.
 */
void agent_run_abort(struct agent_run *run, const char *why);
/* Takes and drops references; the last frees the run.  NULL is ok. */
struct agent_run *agent_run_ref(struct agent_run *run);
void agent_run_unref(struct agent_run *run);
/* The run's id and trace id (borrowed while the run is held). */
const char *agent_run_id(const struct agent_run *run);
const char *agent_run_trace_id(const struct agent_run *run);

#endif /* AGENTD_AGENT_AGENT_H */
