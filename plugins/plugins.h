/*
 * plugins.h: the tool registry, the host side of tools.
 *
 * A tool is a name, a one-line description, a JSON Schema for its
 * arguments (see "Schemas" below for the subset) and an implementation:
 * a call hook that turns arguments into text plus an error flag, and a
 * free hook.  Built-in tools (plugins/tool-*.c), C plugins (loader.c,
 * through plugins/agentd/tool.h) and Lua tools (through lua/) all become
 * the same struct plug_tool with plug_tool_new().
 *
 * The registry publishes its tools as a snapshot, struct plug_set: an
 * immutable list sorted by name.  A caller takes a reference to the
 * current snapshot with plug_registry_get(), looks tools up and calls
 * them, and drops the reference when done.  plug_registry_reload()
 * builds a whole new snapshot (built-ins, whose state such as the
 * knowledge-base index is rebuilt, then every provider: C plugins, Lua
 * tools) and swaps it in; calls in flight keep the snapshot and tools
 * they hold, so a reload never pulls a tool from under a running call.
 * Tools are reference counted too, so an implementation (a dlopen()ed
 * module, a Lua state) lives until its last call returns.
 *
 * Threads: snapshots and tools are immutable once published and their
 * reference counts are atomic, so any thread may look up and call tools
 * concurrently; an implementation's call hook must be thread-safe (the
 * same tool may run on several workers at once).  plug_registry_get() and
 * plug_registry_reload() may be called from any thread.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause that
 * names what went wrong and where; the caller frees it.
 */
#ifndef AGENTD_PLUGINS_PLUGINS_H
#define AGENTD_PLUGINS_PLUGINS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct plug_build;
struct plug_registry;
struct plug_set;
struct plug_tool;

/* ---- configuration ------------------------------------------------------- */

/* Defaults used where a plug_config field is 0. */
#define PLUG_DEFAULT_MAX_OUTPUT       (64 * 1024) /* bytes a call returns */
#define PLUG_DEFAULT_CALL_TIMEOUT_MS  30000
#define PLUG_DEFAULT_KB_MAX_FILE      (4 * 1024 * 1024) /* bigger: skipped */
#define PLUG_DEFAULT_FILE_MAX_BYTES   (64 * 1024)       /* file_read's cut */
#define PLUG_DEFAULT_HTTP_MAX_BYTES   (256 * 1024)      /* http_get's cut */
#define PLUG_DEFAULT_HTTP_TIMEOUT_MS  10000
#define PLUG_DEFAULT_HTTP_REDIRECTS   5
#define PLUG_DEFAULT_LUA_INSTRUCTIONS 10000000
#define PLUG_DEFAULT_LUA_MEMORY       (32 * 1024 * 1024)

/*
 * What the registry and the built-in tools are configured with.  The
 * caller fills it (the daemon, from agentd.conf); plug_registry_new() and
 * plug_registry_reload() copy everything, strings and lists included, so
 * the caller may free its own copy straight after.  Lists are arrays of
 * n strings.  Zero means "the default" for every number.
 */
struct plug_config {
	/* Every call: the cut of a result's text and the time limit. */
	size_t max_output_bytes;
	uint32_t call_timeout_ms;

	/*
	 * kb_search: the knowledge-base folder, whose top-level *.txt
	 * files are indexed.  NULL: kb_search is not registered.  Files
	 * bigger than kb_max_file_bytes or not UTF-8 are skipped with a
	 * log line.
	 */
	const char *kb_dir;
	size_t kb_max_file_bytes;

	/*
	 * file_read: the folders it may read below.  None: file_read is
	 * not registered.  Results are cut at file_max_bytes.
	 */
	const char *const *file_roots;
	size_t n_file_roots;
	size_t file_max_bytes;

	/*
	 * http_get: off unless http_enabled.  http_allow_hosts, when not
	 * empty, lists the only host names it may fetch from.  Loopback,
	 * private and link-local addresses are refused unless
	 * http_allow_private.  Bodies are cut at http_max_bytes.
	 */
	int http_enabled;
	const char *const *http_allow_hosts;
	size_t n_http_allow_hosts;
	int http_allow_private;
	size_t http_max_bytes;
	uint32_t http_timeout_ms;
	uint32_t http_max_redirects;

	/*
	 * C plugins: folders searched for *.so, and an optional SHA-256
	 * allow-list file (NULL: no integrity check).
	 */
	const char *const *plugin_dirs;
	size_t n_plugin_dirs;
	const char *plugin_allowlist;

	/* Lua tools: folders searched for *.lua, and their limits. */
	const char *const *lua_dirs;
	size_t n_lua_dirs;
	uint64_t lua_max_instructions;
	size_t lua_max_memory;
};

/* ---- results and calls --------------------------------------------------- */

/*
 * The outcome of a call: UTF-8 text (never NULL after plug_tool_call()
 * returned 0; malloc()ed, NUL-terminated, len bytes without the NUL) and
 * whether the tool failed, in which case text says why as a short
 * sentence.  truncated says the registry cut the text at the output cap.
 */
struct plug_result {
	char *text;
	size_t len;
	int is_error;
	int truncated;
};

/* Frees the text and zeroes the result; NULL is accepted. */
void plug_result_clear(struct plug_result *res);
/*
 * Helpers for implementations: set res to a copy of text (plug_result_ok)
 * or to an error built from a format (plug_result_error).  Both replace
 * whatever res held.
 */
void plug_result_ok(struct plug_result *res, const char *text);
void plug_result_error(struct plug_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Per-call limits a caller may tighten; 0 means the registry's default. */
struct plug_limits {
	uint32_t timeout_ms;
	size_t max_output_bytes;
};

/*
 * What an implementation's call hook sees besides its arguments.  A
 * long-running hook polls plug_call_stopped() and gives up (with an error
 * result such as "cancelled" or "timed out") once it returns 1.
 */
struct plug_call {
	const char *tool;         /* the tool's name */
	uint64_t deadline_ns;     /* clock_mono_ns() deadline; 0: none */
	size_t max_output_bytes;  /* the cut the registry will apply */
	const atomic_int *cancel; /* non-zero: abandon; may be NULL */
};

/* Returns 1 when the call is cancelled or past its deadline, else 0. */
int plug_call_stopped(const struct plug_call *call);
/* Returns 1 when the call is cancelled (not merely late), else 0. */
int plug_call_cancelled(const struct plug_call *call);

/* ---- tools --------------------------------------------------------------- */

/* Where a tool comes from. */
enum plug_source {
	PLUG_SOURCE_BUILTIN,
	PLUG_SOURCE_C,
	PLUG_SOURCE_LUA,
};

/* Returns "builtin", "c" or "lua", as tools.list reports it. */
const char *plug_source_name(enum plug_source source);

/*
 * An implementation.  call() runs the tool with arguments that already
 * passed the schema (a JSON object, borrowed for the call) and fills res
 * with plug_result_ok()/plug_result_error() or by hand (malloc()ed text).
 * It may be called from several threads at once.  A hook that leaves
 * res->text NULL produces an error result "tool returned no result".
 * free() releases impl when the last reference to the tool goes; it may
 * be NULL.  The ops struct itself must outlive every tool made with it
 * (a static const struct is the usual choice).
 */
struct plug_tool_ops {
	void (*call)(void *impl, const json_t *args,
	    const struct plug_call *call, struct plug_result *res);
	void (*free)(void *impl);
};

/*
 * Makes a tool with one reference (the caller's).  name: 1 to 64
 * characters from [A-Za-z0-9_.-], starting with a letter.  description:
 * non-empty UTF-8 on one line (it goes into every prompt).  schema: the
 * arguments' JSON Schema, which the tool keeps a deep copy of; it must use
 * only the supported subset (plug_schema_check()), contain no real
 * numbers (prompts carry integers only) and, at its root, have "type":
 * "object", "required" and "additionalProperties": false.  origin names
 * where the tool came from for log lines (a file path; NULL for
 * built-ins).  Returns the tool, or NULL with *cause set, in which case
 * impl still belongs to the caller and ops->free is not called.
 */
struct plug_tool *plug_tool_new(const char *name, const char *description,
    const json_t *schema, enum plug_source source, const char *origin,
    const struct plug_tool_ops *ops, void *impl, char **cause);
/* Takes a reference; returns t. */
struct plug_tool *plug_tool_ref(struct plug_tool *t);
/* Drops a reference; the last frees the tool (ops->free).  NULL is ok. */
void plug_tool_unref(struct plug_tool *t);

/* Accessors; strings and the schema are borrowed while t is held. */
const char *plug_tool_name(const struct plug_tool *t);
const char *plug_tool_description(const struct plug_tool *t);
const json_t *plug_tool_schema(const struct plug_tool *t);
enum plug_source plug_tool_source(const struct plug_tool *t);
const char *plug_tool_origin(const struct plug_tool *t);

/*
 * Checks arguments against the tool's schema.  Returns 0, or -1 with
 * *cause such as "$.k: 9 is greater than the maximum 5" (the "<what>" of
 * DESIGN.md's "Error: invalid arguments for X: <what>").
 */
int plug_tool_validate(
    const struct plug_tool *t, const json_t *args, char **cause);

/*
 * Calls a tool.  args must be a JSON object; it is validated first, and
 * when that fails nothing runs and -1 is returned with *cause as for
 * plug_tool_validate().  Otherwise the tool runs on the calling thread
 * under limits (NULL, or a 0 field: the config's max_output_bytes and
 * call_timeout_ms, as the snapshot the tool was built into had them) and
 * cancel (may be NULL), res is filled and 0 is returned, whether the tool
 * succeeded or not (res->is_error).  NUL bytes and bytes that are not
 * UTF-8 are replaced with U+FFFD, so the text is always valid UTF-8 and a
 * C string, and it is cut at the output cap on a code point boundary
 * (res->truncated).  The caller frees it with plug_result_clear().
 *
 * When *cancel is already set the tool does not run; when it is set by
 * the time the hook returns, the result is replaced by the error
 * "cancelled".  The deadline cannot interrupt a hook: the hook watches it
 * with plug_call_stopped() and returns an error such as "timed out" when
 * it gives up.  A caller that must not wait (agent.cancel) may run the
 * call on another thread and stop waiting: the tool reference keeps the
 * implementation alive until the call returns.
 */
int plug_tool_call(struct plug_tool *t, const json_t *args,
    const struct plug_limits *limits, const atomic_int *cancel,
    struct plug_result *res, char **cause);

/*
 * The tool's prompt line, exactly as DESIGN.md's {{tools}} wants it,
 * without the newline: "<name>: <description> Arguments: <schema>", the
 * schema as compact JSON with sorted keys and UTF-8 left unescaped
 * (JSON_COMPACT | JSON_SORT_KEYS).  Returns an allocated string.
 */
char *plug_tool_prompt_line(const struct plug_tool *t);
/* The tools.list entry: {name, description, parameters, source} (new). */
json_t *plug_tool_json(const struct plug_tool *t);

/* ---- snapshots ----------------------------------------------------------- */

/* Takes a reference; returns s. */
struct plug_set *plug_set_ref(struct plug_set *s);
/* Drops a reference; the last drops the set's tools.  NULL is ok. */
void plug_set_unref(struct plug_set *s);
/* The number of tools and the i-th, in name order (borrowed from s). */
size_t plug_set_count(const struct plug_set *s);
struct plug_tool *plug_set_tool(const struct plug_set *s, size_t i);
/*
 * Finds a tool by exact name.  Returns it (borrowed: valid while s is
 * held; take a plug_tool_ref() to keep it longer) or NULL.
 */
struct plug_tool *plug_set_find(const struct plug_set *s, const char *name);
/* A counter that grows with every reload; the first snapshot is 1. */
uint64_t plug_set_generation(const struct plug_set *s);
/* The tools.list result, {"tools": [entries in name order]} (new). */
json_t *plug_set_list_json(const struct plug_set *s);
/*
 * The {{tools}} block: one prompt line per tool, each ending in '\n', in
 * name order.  names (n of them) restricts it to those tools; names NULL
 * means all; duplicates are ignored.  Returns an allocated string, or
 * NULL with *cause "unknown tool 'x'" when a name is not in s.
 */
char *plug_set_prompt(
    const struct plug_set *s, const char *const *names, size_t n, char **cause);
/* The names in name order joined by ", " ("calc, file_read, ..."). */
char *plug_set_names(const struct plug_set *s);

/* ---- the registry -------------------------------------------------------- */

/*
 * A provider adds tools from somewhere (C plugins, Lua tools) each time
 * the registry builds a snapshot.  collect() adds every tool it can with
 * plug_build_add(), logging the ones it refuses (a bad plugin never stops
 * the others, nor the daemon).  It runs on the thread that called
 * plug_registry_new() or plug_registry_reload(), one build at a time.
 */
struct plug_provider {
	const char *name; /* for log lines: "C plugins", "Lua tools" */
	void (*collect)(void *arg, const struct plug_config *config,
	    struct plug_build *build);
	void *arg;
};

/*
 * Adds a tool to the snapshot being built, taking ownership of the
 * caller's reference whatever happens.  A tool joins one build only (make
 * a new one for the next reload); it takes that build's config limits.
 * Returns 0, or -1 with *cause when a tool of that name is already there
 * ("tool 'x' from B is already defined by A"); built-ins come first, then
 * providers in order, so the first definition wins.
 */
int plug_build_add(struct plug_build *b, struct plug_tool *t, char **cause);
/* Returns 1 if the snapshot being built has a tool of that name. */
int plug_build_has(const struct plug_build *b, const char *name);

/*
 * Makes a registry and builds its first snapshot: the built-in tools the
 * config turns on, then each provider's tools.  providers (n of them) is
 * copied; each arg must stay valid until plug_registry_free().  Returns
 * NULL with *cause only for a config that cannot work (a built-in that
 * fails to start is logged and left out instead).
 */
struct plug_registry *plug_registry_new(const struct plug_config *config,
    const struct plug_provider *providers, size_t n, char **cause);
/*
 * Frees the registry and drops its reference to the current snapshot;
 * snapshots and tools still held elsewhere live on.  NULL is ok.
 */
void plug_registry_free(struct plug_registry *r);
/* Returns a new reference to the current snapshot. */
struct plug_set *plug_registry_get(struct plug_registry *r);
/*
 * Builds a new snapshot from config (NULL: the config in use) and swaps
 * it in; the old one lives until its last holder drops it.  Reloads are
 * serialised.  Returns 0, or -1 with *cause when the config cannot work,
 * in which case the current snapshot and config stay.
 */
int plug_registry_reload(
    struct plug_registry *r, const struct plug_config *config, char **cause);

/* ---- schemas ------------------------------------------------------------- */

/*
 * The JSON Schema subset (draft 2020-12 semantics): "type" (a name or an
 * array of names among null, boolean, object, array, number, integer,
 * string; an integer is any number with no fractional part), "properties",
 * "required", "enum", "items" (one schema for every element),
 * "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" (numbers),
 * "minLength", "maxLength" (counted in code points) and
 * "additionalProperties" (true, false or a schema), plus the annotations
 * "description", "title", "default", "examples" and "$comment".  A
 * subschema may be true or false.  Keywords apply only to instances of
 * their kind (maximum ignores strings), as the standard says.
 */

/*
 * Checks that schema is a schema in the subset.  Returns 0, or -1 with
 * *cause naming the place, e.g. "schema.properties.q: unsupported keyword
 * 'pattern'".
 */
int plug_schema_check(const json_t *schema, char **cause);
/*
 * Validates instance against schema (which passed plug_schema_check()).
 * Returns 0, or -1 with *cause for the first failure found, naming the
 * path: "$.k: 9 is greater than the maximum 5", "$: missing required
 * property 'query'", "$.tags[2]: expected string, got integer".
 */
int plug_schema_validate(
    const json_t *schema, const json_t *instance, char **cause);

/* ---- C plugins (plugins/loader.c) ---------------------------------------- */

/*
 * The loader keeps the modules it opened (and the allow-list it read)
 * across reloads.  plug_loader_collect() is a plug_provider collect hook
 * whose arg is the loader: it loads config->plugin_dirs into the build.
 * A module is closed when the last tool made from it is freed, so calls
 * in flight finish before dlclose().
 */
struct plug_loader;
struct plug_loader *plug_loader_new(void);
void plug_loader_free(struct plug_loader *l);
void plug_loader_collect(
    void *loader, const struct plug_config *config, struct plug_build *build);

/* ---- Lua tools (plugins/lua-tools.c) ------------------------------------- */

/*
 * A plug_provider collect hook (arg unused, NULL): loads the top-level
 * *.lua files of config->lua_dirs through lua/ (script_tool_load()) under
 * config->lua_max_instructions, lua_max_memory and max_output_bytes, and
 * adds each as a PLUG_SOURCE_LUA tool whose origin is its path.  A file
 * that fails is left out with a log line.  Scripts' agentd.http_get is
 * the built-in fetch, lent only when config->http_enabled.
 */
void plug_lua_collect(
    void *arg, const struct plug_config *config, struct plug_build *build);

#endif /* AGENTD_PLUGINS_PLUGINS_H */
