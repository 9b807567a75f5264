/*
 * script.h: the Lua 5.4 embedding, the public face of lua/.
 *
 * Two kinds of script run here, both sandboxed the same way:
 *
 *  - Lua tools.  A .lua file whose chunk returns
 *	{ name = "word_count", description = "...",
 *	  parameters = { type = "object", properties = {...},
 *	                 required = {...}, additionalProperties = false },
 *	  run = function(args) return text [, is_error] end }
 *    script_tool_load() reads and checks it once and keeps its text;
 *    plugins/ registers the description it reports and calls
 *    script_tool_call() for every call.
 *
 *  - Lua agents.  A .lua file in an agents folder whose chunk returns
 *	{ name = "plan_execute", description = "...",
 *	  run = function(task, ctx) ... return answer end }
 *    script_agent_load() checks it; agent/ runs it with
 *    script_agent_run(), filling struct script_ctx_ops so that the
 *    script's ctx reaches the model, the tools, the ReAct loop, the event
 *    stream and the trace (upward calls go through these callbacks,
 *    never through an include of agent/ or plugins/).
 *
 * The sandbox (docs/lua.md says it for script authors).  Every tool call
 * and every agent run gets a lua_State of its own, made with
 * lua_newstate() and an allocator that enforces a byte cap, and closed
 * when the call ends: nothing mutable is shared between calls, runs or
 * threads.  The state holds base (without dofile, loadfile and the
 * binary-capable load: a text-only load() bound to the script's
 * environment replaces it; collectgarbage answers only "count"; print
 * goes to the daemon's log; rawset refuses read-only tables), string
 * (without dump), table, math, utf8, coroutine, an os table with only
 * clock, time and date, and the agentd module (json_encode, json_decode,
 * null, array, log, http_get).  string.find, match, gmatch, gsub and rep
 * and table.insert, remove and move are replaced by versions whose C
 * loops count against the instruction budget.  Libraries are read-only proxies and so is
 * the base table behind every script's own _ENV; reading an undefined
 * global raises "undefined global 'x'".  Chunks are text only (mode
 * "t"), so bytecode is refused.  A count hook charges an instruction
 * budget and checks the deadline and the cancel flag; once a limit trips
 * it keeps raising on every instruction, so pcall cannot swallow it, and
 * a memory cap that trips ends the script the same way.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause that
 * names what went wrong and where ("tool:word_count: run: limits.lua:3:
 * attempt to call a nil value"); the caller frees it.  Loaded tools and
 * agents are immutable and reference counted: any thread may call or run
 * them concurrently, and a reload may drop its reference while a call is
 * still in flight.
 */
#ifndef AGENTD_LUA_SCRIPT_H
#define AGENTD_LUA_SCRIPT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct script_agent;
struct script_tool;

/* ---- limits, calls and results ---------------------------------------- */

/* Defaults used where a script_limits field is 0. */
#define SCRIPT_DEFAULT_INSTRUCTIONS 10000000           /* per call or run */
#define SCRIPT_DEFAULT_MEMORY       (32 * 1024 * 1024) /* bytes per state */
#define SCRIPT_DEFAULT_OUTPUT       (64 * 1024)   /* bytes of result text */
#define SCRIPT_LOAD_INSTRUCTIONS    1000000       /* running a file's chunk */
#define SCRIPT_MAX_SOURCE           (1024 * 1024) /* bytes of a .lua file */
#define SCRIPT_JSON_MAX_DEPTH       64 /* nesting of json values, both ways */

/*
 * Limits of one script, copied when it is loaded.  max_instructions is
 * the VM instruction budget of one tool call or one whole agent run
 * (time spent inside ctx callbacks such as generate is not charged to
 * it); max_memory caps the bytes one state may hold, and a quarter of
 * it caps the JSON one conversion (agentd.json_encode, json_decode, ctx
 * arguments) may produce; max_output caps the text a call or a run
 * returns.  0 means the default for every field.
 */
struct script_limits {
	uint64_t max_instructions;
	size_t max_memory;
	size_t max_output;
};

/*
 * What one call or run is bounded by besides the limits: a monotonic
 * deadline (clock_mono_ns(); 0: none) and a cancel flag (non-zero:
 * abandon; may be NULL), both checked by the instruction hook and after
 * every host callback returns.
 */
struct script_call {
	uint64_t deadline_ns;
	const atomic_int *cancel;
};

/*
 * Why a script was stopped from outside, when it was: the first limit
 * that tripped.  SCRIPT_STOP_NONE means it returned or failed on its own.
 */
enum script_stop {
	SCRIPT_STOP_NONE = 0,
	SCRIPT_STOP_CANCELLED,
	SCRIPT_STOP_TIMEOUT,
	SCRIPT_STOP_INSTRUCTIONS,
	SCRIPT_STOP_MEMORY,
};

/* Returns "none", "cancelled", "timeout", "instructions" or "memory". */
const char *script_stop_name(enum script_stop stop);

/*
 * Text with an error flag: what a tool call, a host tool call or a host
 * fetch produces.  text is malloc()ed with a NUL after its len bytes;
 * the receiver frees it (script_result_clear()).
 */
struct script_result {
	char *text;
	size_t len;
	int is_error;
};

/* Frees the text and zeroes the result; NULL is accepted. */
void script_result_clear(struct script_result *res);

/* ---- the host --------------------------------------------------------- */

/*
 * Services the host lends to every script, for the agentd module.  The
 * struct is copied at load time; arg must outlive the loaded tool or
 * agent.  Any member may be NULL, and the matching Lua function then
 * answers nil plus "agentd.http_get is not enabled".
 *
 * http_get() performs the same guarded fetch as the built-in http_get
 * tool (host allow-list, no private addresses, size and time limits):
 * it fills res with the body (is_error 0) or with the reason the fetch
 * failed (is_error 1) and returns 0; it returns -1 with *cause only when
 * it could not try at all.  call carries the script's deadline and
 * cancel flag, which the fetch should honour.  It runs on the script's
 * thread, inside the script's call.
 */
struct script_host {
	void *arg;
	int (*http_get)(void *arg, const char *url,
	    const struct script_call *call, struct script_result *res,
	    char **cause);
};

/* ---- Lua tools -------------------------------------------------------- */

/*
 * Loads the Lua tool in the file at path: reads it (at most
 * SCRIPT_MAX_SOURCE bytes, text only), runs its chunk once in a fresh
 * sandbox under SCRIPT_LOAD_INSTRUCTIONS and limits->max_memory, and
 * checks what it returns: a table with a string name, a non-empty
 * one-line string description, a parameters table and a run function.
 * parameters becomes the JSON Schema of the arguments with these rules
 * (docs/lua.md):
 *
 *  - a table whose keys are exactly 1..n (n >= 1) is an array, one with
 *    string keys is an object, a mix is an error;
 *  - an empty table is an object, except as the value of "required",
 *    "enum", "examples" or "type", where it is an empty array, and except
 *    when made with agentd.array{}, which is always an array;
 *  - numbers with no fractional part become JSON integers.
 *
 * The schema's shape (type object, required, additionalProperties false)
 * is checked by plugins/ when it registers the tool.  limits and host
 * (both may be NULL: defaults, no services) are copied.  Returns the
 * tool with one reference, or NULL with *cause naming the file and what
 * is wrong ("word_count.lua: description must be a non-empty string on
 * one line").
 */
struct script_tool *script_tool_load(const char *path,
    const struct script_limits *limits, const struct script_host *host,
    char **cause);
/* Takes a reference; returns t. */
struct script_tool *script_tool_ref(struct script_tool *t);
/* Drops a reference; the last frees the tool.  NULL is accepted. */
void script_tool_unref(struct script_tool *t);

/*
 * Accessors; strings and the schema are borrowed for as long as t is
 * held.  The schema is a JSON object that no one may change.
 */
const char *script_tool_name(const struct script_tool *t);
const char *script_tool_description(const struct script_tool *t);
const json_t *script_tool_schema(const struct script_tool *t);
const char *script_tool_path(const struct script_tool *t);

/*
 * Calls the tool: in a fresh sandbox runs the file's chunk again, turns
 * args (a JSON object, borrowed) into a Lua table and calls run(args)
 * under the tool's limits and call (NULL: no deadline, no cancel flag).
 * The first value run returns is the text (a string, a number, or a
 * table, which is encoded as JSON); a true second value marks it as an
 * error.  Every failure, a Lua error or a tripped limit, becomes an
 * error result instead, with text such as "instruction limit of
 * 10000000 exceeded", "memory limit of 33554432 bytes exceeded",
 * "timed out", "cancelled" or the script's error message with its
 * location.  Text past limits->max_output is cut on a UTF-8 boundary.
 * A Lua string may hold any bytes, NULs included: the text is what run
 * returned, res->len bytes of it, and making it valid UTF-8 is the
 * caller's job (the registry does it for every tool); error messages
 * are always UTF-8.  Always fills res (the caller frees it with
 * script_result_clear()); returns the stop reason.  Safe to call from
 * several threads at once.
 */
enum script_stop script_tool_call(struct script_tool *t, const json_t *args,
    const struct script_call *call, struct script_result *res);

/* ---- Lua agents: the ctx callbacks -------------------------------------- */

/*
 * A model request from ctx.generate{} (prompt set, messages NULL) or
 * ctx.chat{} (messages set: a JSON array of {"role", "content"} objects,
 * borrowed; prompt NULL).  Fields the script left out are 0 / NULL and
 * mean "the run's default"; has_temperature says whether temperature was
 * given (0 is greedy).  stop holds n_stop borrowed strings.
 */
struct script_gen_req {
	const char *prompt;
	const json_t *messages;
	uint32_t max_tokens;
	const char *const *stop;
	size_t n_stop;
	int has_temperature;
	double temperature;
};

/*
 * What a model request produced.  The callback fills text (malloc()ed
 * UTF-8, which lua/ frees), finish ("stop", "length", "eos",
 * "cancelled"; a NUL-terminated string of at most 15 bytes) and the
 * token counts.
 */
struct script_gen_res {
	char *text;
	char finish[16];
	uint32_t prompt_tokens;
	uint32_t completion_tokens;
};

/*
 * A ctx.react{} request: run the built-in ReAct loop as one step of the
 * agent on input, with the tools named in tools (n_tools borrowed
 * strings; tools NULL when the script gave none: the run's tools; an
 * empty list, tools not NULL and n_tools 0: no tools) and max_steps (0:
 * the run's default).
 */
struct script_react_req {
	const char *input;
	const char *const *tools;
	size_t n_tools;
	uint32_t max_steps;
};

/*
 * The callbacks behind ctx, filled by agent/ for one run.  Each runs on
 * the run's thread, inside script_agent_run(), and receives the arg
 * given to it.  A callback that fails returns -1 with *cause; the Lua
 * function then raises that text as an error, which the script may
 * catch with pcall.  After each callback returns, the deadline and the
 * cancel flag are checked.  Any member may be NULL: the matching ctx
 * function then raises "ctx.NAME is not available".
 *
 * generate, chat: fill *res (see struct script_gen_res); return 0 or -1.
 *   In Lua: ctx.generate{prompt=, max_tokens=, stop=, temperature=}
 *   and ctx.chat{messages=, max_tokens=, stop=, temperature=} return
 *   text, {finish=, prompt_tokens=, completion_tokens=}.
 * tool: calls a tool by name with args (a JSON object, borrowed) and
 *   fills *res; returns 0 whenever the tool ran or was refused (unknown
 *   tool, invalid arguments: res->is_error with the reason), -1 only
 *   when it could not be tried at all.  In Lua: ctx.tool(name, args)
 *   returns text, is_error (a boolean).
 * react: runs the ReAct loop and stores its result in *result (a new
 *   reference to an object shaped like agent.run's result: answer,
 *   ending, steps, usage); returns 0 or -1.  In Lua: ctx.react{input=,
 *   tools=, max_steps=} returns that object as a table.
 * tools: returns a new reference to a JSON array of the run's tools, each
 *   {name, description, parameters}, or NULL with *cause.  In Lua:
 *   ctx.tools() returns that array as a table.
 * emit: sends an agent.event; takes ownership of event (an object with a
 *   string "type", which lua/ checks).  Returns 0 or -1.  In Lua:
 *   ctx.emit{type=, ...}.
 * span_begin, span_end: a trace span named name around a Lua function.
 *   span_begin stores an opaque handle in *span and returns 0 or -1;
 *   span_end is called exactly once for every span that began, with
 *   error NULL when the function returned and its message when it
 *   raised.  In Lua: ctx.span(name, fn, ...) calls fn(...) inside the
 *   span and returns what fn returned, or re-raises fn's error.
 * strategy: runs a reasoning strategy over the ReAct loop, as react does
 *   (req: input, tools, max_steps), with strategy (borrowed) an object
 *   shaped like agent.run's "strategy" param ({"name", ...settings},
 *   which agent/ checks).  Stores the result in *result (a new reference
 *   to agent.run's result shape, with its "strategy" report); returns 0
 *   or -1.  In Lua: ctx.strategy{name=, input=, tools=, max_steps=, ...}
 *   (every other field is a setting of the strategy: n=, temperature=,
 *   budget={...}) returns that object as a table.
 */
struct script_ctx_ops {
	int (*generate)(void *arg, const struct script_gen_req *req,
	    struct script_gen_res *res, char **cause);
	int (*chat)(void *arg, const struct script_gen_req *req,
	    struct script_gen_res *res, char **cause);
	int (*tool)(void *arg, const char *name, const json_t *args,
	    struct script_result *res, char **cause);
	int (*react)(void *arg, const struct script_react_req *req,
	    json_t **result, char **cause);
	json_t *(*tools)(void *arg, char **cause);
	int (*emit)(void *arg, json_t *event, char **cause);
	int (*span_begin)(
	    void *arg, const char *name, void **span, char **cause);
	void (*span_end)(void *arg, void *span, const char *error);
	int (*strategy)(void *arg, const struct script_react_req *req,
	    const json_t *strategy, json_t **result, char **cause);
};

/* ---- Lua agents --------------------------------------------------------- */

/*
 * Loads the Lua agent in the file at path, as script_tool_load() does
 * for tools: the chunk must return a table with a string name (1 to 64
 * characters from [A-Za-z0-9_.-], starting with a letter), a non-empty
 * one-line string description and a run function.  limits and host may
 * be NULL.  Returns the agent with one reference, or NULL with *cause.
 */
struct script_agent *script_agent_load(const char *path,
    const struct script_limits *limits, const struct script_host *host,
    char **cause);
/* Takes a reference; returns a. */
struct script_agent *script_agent_ref(struct script_agent *a);
/* Drops a reference; the last frees the agent.  NULL is accepted. */
void script_agent_unref(struct script_agent *a);

/* Accessors; strings are borrowed for as long as a is held. */
const char *script_agent_name(const struct script_agent *a);
const char *script_agent_description(const struct script_agent *a);
const char *script_agent_path(const struct script_agent *a);

/*
 * Runs the agent on task in a fresh sandbox: calls run(task, ctx) with a
 * read-only ctx whose functions reach ops (arg is passed to each), under
 * the agent's limits and call (NULL: no deadline, no cancel flag).  The
 * value run returns (a string or a number) is the answer.  Returns 0
 * with *answer set (malloc()ed UTF-8, cut at max_output) or -1 with
 * *cause (the script's error with its location, or the limit that
 * tripped); *stop, when stop is not NULL, says whether a limit ended the
 * run, so that agent/ can report the run as cancelled or timed out.
 */
int script_agent_run(struct script_agent *a, const char *task,
    const struct script_ctx_ops *ops, void *arg, const struct script_call *call,
    char **answer, enum script_stop *stop, char **cause);

/* ---- folders ------------------------------------------------------------ */

/*
 * Lists the regular files named *.lua directly in dir, sorted by name
 * (byte order), as full paths.  Returns 0 with *paths (a malloc()ed
 * array of n malloc()ed strings; free each and the array) or -1 with
 * *cause when the folder cannot be read.  A missing folder is not an
 * error: it lists nothing.
 */
int script_dir_list(const char *dir, char ***paths, size_t *n, char **cause);

#endif /* AGENTD_LUA_SCRIPT_H */
