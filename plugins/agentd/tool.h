/*
 * agentd/tool.h: the C plugin ABI of agentd, version 1.0.
 *
 * This is the only header a plugin author includes.  A plugin is a shared
 * object, built with
 *
 *	cc -std=c11 -fPIC -shared -fvisibility=hidden -o NAME.so NAME.c
 *
 * that exports exactly one symbol, the entry point:
 *
 *	AGENTD_EXPORT const struct agentd_tool_module *
 *	agentd_tool_init(const struct agentd_host *host);
 *
 * agentd opens the file with dlopen(RTLD_NOW | RTLD_LOCAL), calls the
 * entry point once, and reads the module descriptor it returns: the ABI
 * version the plugin was built against, a per-plugin init()/fini() pair
 * and the tools, each a name, a one-line description, the JSON Schema of
 * its arguments (as JSON text) and a call() that turns arguments into a
 * text result with an error flag.  The registry validates arguments
 * against the schema before call() runs, so a tool sees only arguments
 * its schema allows.
 *
 * What crosses the boundary: C scalars, NUL-terminated UTF-8 strings
 * (JSON travels as text, plus a length where it comes from outside),
 * and opaque handles (struct agentd_plugin, struct agentd_call, struct
 * agentd_json) that only the host's functions look inside.  A plugin
 * needs no JSON library: the host parses the arguments and the plugin's
 * config and lends read-only accessors for them (json_get(), json_string()
 * ...).  Memory a plugin hands to the host (a result's text, an init
 * error) is allocated with host->alloc(); the host frees it.  Memory the
 * host lends (handles, strings it returns) stays the host's.
 *
 * Versions.  AGENTD_ABI_VERSION packs a major and a minor number.  The
 * host refuses a plugin whose major differs from its own, naming both.
 * Both structs that cross the boundary start with abi_version and
 * struct_size and only ever grow at the end: a new member is added after
 * the last one under a comment naming the minor version that added it,
 * and nothing is reordered or removed.  A plugin built against 1.N runs
 * on any host 1.M: before it touches a member newer than 1.0 it checks
 * AGENTD_HOST_HAS(host, member), and the host reads an optional member of
 * the module only when the module's struct_size covers it.
 *
 * Lifetime and threads.  agentd_tool_init() runs once per dlopen(); the
 * descriptor it returns (and everything it points to: names, schemas,
 * the tools array) must stay valid and unchanged until the plugin is
 * unloaded, which is why it is usually a static const object.  init()
 * runs once per load or reload of the plugin's tools with the plugin's
 * current config and makes an instance (its data pointer); a reload makes
 * a new instance while calls on the old one finish, so keep per-instance
 * state behind the data pointer, not in globals.  fini() runs when the
 * last call on an instance has returned, on whichever thread that was.
 * call() may run on several worker threads at once, for the same tool
 * too: it must be thread-safe.  Every host function may be called from
 * any thread.
 *
 * A plugin never prints: it logs through host->log().  It never ends the
 * process, and it returns from call() when host->cancelled() says so.
 */
#ifndef AGENTD_PLUGINS_AGENTD_TOOL_H
#define AGENTD_PLUGINS_AGENTD_TOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions and the entry point ----------------------------------- */

#define AGENTD_ABI_VERSION_MAJOR 1
#define AGENTD_ABI_VERSION_MINOR 0
/* The version a plugin puts in abi_version: major << 16 | minor. */
#define AGENTD_ABI_VERSION                          \
	((uint32_t)AGENTD_ABI_VERSION_MAJOR << 16 | \
	    (uint32_t)AGENTD_ABI_VERSION_MINOR)
#define AGENTD_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define AGENTD_ABI_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The name of the one symbol a plugin exports. */
#define AGENTD_TOOL_INIT_SYMBOL "agentd_tool_init"

/*
 * Marks the entry point as the plugin's only visible symbol (plugins are
 * built with -fvisibility=hidden).
 */
#if defined(__GNUC__) || defined(__clang__)
#define AGENTD_EXPORT           __attribute__((visibility("default")))
#define AGENTD_PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define AGENTD_EXPORT
#define AGENTD_PRINTFLIKE(a, b)
#endif

/* ---- opaque handles ------------------------------------------------- */

/* One loaded instance of a plugin (its config, its name in log lines). */
struct agentd_plugin;
/* One call of a tool in progress: its arguments, deadline, cancel flag. */
struct agentd_call;
/* A JSON value held by the host; read it with the host's json_*(). */
struct agentd_json;

/* ---- the host's API ---------------------------------------------------- */

/* Log levels, as sd-daemon(3) numbers them. */
enum agentd_log_level {
	AGENTD_LOG_ERR = 3,
	AGENTD_LOG_WARNING = 4,
	AGENTD_LOG_NOTICE = 5,
	AGENTD_LOG_INFO = 6,
	AGENTD_LOG_DEBUG = 7,
};

/* What json_type() reports; AGENTD_JSON_NONE for a NULL handle. */
enum agentd_json_type {
	AGENTD_JSON_NONE = 0,
	AGENTD_JSON_NULL,
	AGENTD_JSON_BOOLEAN,
	AGENTD_JSON_INTEGER,
	AGENTD_JSON_REAL,
	AGENTD_JSON_STRING,
	AGENTD_JSON_ARRAY,
	AGENTD_JSON_OBJECT,
};

/*
 * A tool's result, which the host allocates and zeroes before call() and
 * reads after it.  text: UTF-8 allocated with host->alloc() (the host
 * takes it and frees it), len bytes without the NUL terminator that must
 * follow them; is_error: non-zero when the tool failed, in which case
 * text says why in a short sentence.  Bytes that are not UTF-8 are
 * replaced and text past the call's output cap is cut by the host.  A
 * call() that leaves text NULL fails with "tool returned no result".
 * result_printf() fills both fields in one step.
 */
struct agentd_result {
	char *text;
	size_t len;
	int is_error;
};

/*
 * The host's functions, handed to agentd_tool_init() and valid until the
 * plugin is unloaded.  Members up to json_free exist in every 1.x host;
 * later ones are marked with the minor version that added them and must
 * be tested with AGENTD_HOST_HAS() first.
 */
struct agentd_host {
	uint32_t abi_version; /* the host's AGENTD_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct agentd_host) in the host */

	/* -- 1.0 -- */

	/*
	 * Writes one line to the daemon's log at level (enum
	 * agentd_log_level), prefixed with the plugin's name.  plugin may be
	 * NULL (before init(), for instance).
	 */
	void (*log)(const struct agentd_plugin *plugin, int level,
	    const char *fmt, ...) AGENTD_PRINTFLIKE(3, 4);

	/*
	 * Memory that crosses the boundary.  alloc() returns NULL when size
	 * is 0 or memory is short; free() accepts NULL.
	 */
	void *(*alloc)(size_t size);
	void (*free)(void *ptr);

	/*
	 * Returns 1 when the call should stop now (the run was cancelled or
	 * the call is past its time limit), else 0.  A tool that loops or
	 * waits tests it at least every 100 ms and then returns, with an
	 * error result if it likes (the host reports the cancellation
	 * anyway).
	 */
	int (*cancelled)(const struct agentd_call *call);
	/*
	 * Milliseconds left before the call's time limit: 0 once it has
	 * passed, UINT32_MAX when the call has none.  Use it as the timeout
	 * of a blocking operation.
	 */
	uint32_t (*remaining_ms)(const struct agentd_call *call);
	/*
	 * The most bytes of text the host keeps from this call's result; a
	 * tool may stop producing output there.
	 */
	size_t (*max_output)(const struct agentd_call *call);

	/*
	 * The call's arguments, parsed (a JSON object that passed the
	 * tool's schema), borrowed until call() returns.
	 */
	const struct agentd_json *(*call_args)(const struct agentd_call *call);
	/*
	 * The plugin instance's config, parsed: the object in NAME.json for
	 * a plugin NAME.so (see docs/plugins.md), or an empty object.
	 * Borrowed until fini() returns.  Look keys up with json_get().
	 */
	const struct agentd_json *(*plugin_config)(
	    const struct agentd_plugin *plugin);

	/*
	 * Formats text with printf rules into a new host->alloc()
	 * buffer and stores it in res (text, len), with is_error, freeing
	 * whatever text res held.  Returns 0, or -1 when memory is short
	 * (res is then left without text).
	 */
	int (*result_printf)(struct agentd_result *res, int is_error,
	    const char *fmt, ...) AGENTD_PRINTFLIKE(3, 4);
	/*
	 * Formats text with printf rules into a new host->alloc() string,
	 * such as init()'s *error.  Returns NULL when memory is short.
	 */
	char *(*format)(const char *fmt, ...)AGENTD_PRINTFLIKE(1, 2);

	/*
	 * Read-only JSON accessors.  Handles they return are borrowed from
	 * the value they were reached from and live as long as it does.
	 * Each accepts NULL and then reports "absent".
	 *
	 * json_type: the value's enum agentd_json_type.
	 * json_get: an object's member, or NULL (not an object, no such
	 *   key).
	 * json_size: the number of elements of an array or members of an
	 *   object, else 0.
	 * json_at: an array's element index, or NULL.
	 * json_string: a string's bytes (NUL-terminated, valid UTF-8; a NUL
	 *   inside is possible, so use *len when it is not NULL), or NULL
	 *   for anything else.
	 * json_int: stores a number that has no fractional part and fits an
	 *   int64_t (3 and 3.0 alike) and returns 0, else returns -1.
	 * json_number: stores any number as a double and returns 0, else
	 *   returns -1.
	 * json_bool: stores 0 or 1 for a boolean and returns 0, else -1.
	 */
	int (*json_type)(const struct agentd_json *v);
	const struct agentd_json *(*json_get)(
	    const struct agentd_json *object, const char *key);
	size_t (*json_size)(const struct agentd_json *v);
	const struct agentd_json *(*json_at)(
	    const struct agentd_json *array, size_t index);
	const char *(*json_string)(const struct agentd_json *v, size_t *len);
	int (*json_int)(const struct agentd_json *v, int64_t *out);
	int (*json_number)(const struct agentd_json *v, double *out);
	int (*json_bool)(const struct agentd_json *v, int *out);
	/*
	 * Parses len bytes of JSON text into a value the plugin owns and
	 * releases with json_free().  Returns NULL when the text is not
	 * JSON or memory is short.
	 */
	struct agentd_json *(*json_parse)(const char *text, size_t len);
	void (*json_free)(struct agentd_json *v);

	/* -- members added by 1.1 and later go here -- */
};

/*
 * True when the host provides member (a field of struct agentd_host),
 * i.e. the host is new enough to have it.
 */
#define AGENTD_HOST_HAS(host, member)                              \
	(offsetof(struct agentd_host, member) +                    \
	        sizeof(((const struct agentd_host *)0)->member) <= \
	    (size_t)(host)->struct_size)

/* ---- what a plugin provides ---------------------------------------------- */

/*
 * One tool.  name: 1 to 64 characters from [A-Za-z0-9_.-] starting with a
 * letter, unique among every tool the daemon has (a plugin whose tool
 * name is taken is refused).  description: one line of UTF-8 that tells
 * a model when to use the tool; it appears in every prompt.  schema: the
 * JSON Schema of the arguments as JSON text, with "type": "object",
 * "required" and "additionalProperties": false at its root, in the
 * subset docs/plugins.md lists, and integers only.
 *
 * call() runs the tool.  data is the instance's pointer from init(),
 * tool this entry, args the arguments as JSON text (args_len bytes; the
 * same object call_args() lends parsed), call the handle for
 * cancelled(), remaining_ms() and call_args(), and res a zeroed result to
 * fill.  It returns nothing: failures are results with is_error set.
 */
struct agentd_tool {
	const char *name;
	const char *description;
	const char *schema;
	void (*call)(void *data, const struct agentd_tool *tool,
	    const char *args, size_t args_len, struct agentd_call *call,
	    struct agentd_result *res);
};

/*
 * The module descriptor agentd_tool_init() returns.
 *
 * abi_version: AGENTD_ABI_VERSION.  struct_size: sizeof(struct
 * agentd_tool_module).  name: the plugin's name for log lines, usually
 * its file's stem.  version: the plugin's own version text, or NULL.
 *
 * init(), which may be NULL, makes an instance: it receives the host, the
 * instance handle (keep it for log() and plugin_config()) and the
 * instance's config as JSON text (config_len bytes; "{}" when there is
 * none) and stores its data pointer in *data (NULL is fine).  It returns
 * 0, or -1 with *error set to a message allocated with host->alloc() (or
 * left NULL), in which case the instance's tools are not registered and
 * fini() is not called.  fini(), which may be NULL, releases an instance
 * that init() made, after its last call has returned.
 *
 * tools: an array of n_tools entries of tool_size bytes each, which is
 * sizeof(struct agentd_tool) when the plugin was built (so that struct
 * agentd_tool can grow too).  AGENTD_TOOLS() fills the three fields.
 */
struct agentd_tool_module {
	uint32_t abi_version;
	uint32_t struct_size;

	/* -- 1.0 -- */
	const char *name;
	const char *version;
	int (*init)(const struct agentd_host *host,
	    struct agentd_plugin *plugin, const char *config, size_t config_len,
	    void **data, char **error);
	void (*fini)(void *data);
	const struct agentd_tool *tools;
	uint32_t n_tools;
	uint32_t tool_size;

	/* -- members added by 1.1 and later go here -- */
};

/* Fills tools, n_tools and tool_size from a static array of tools. */
#define AGENTD_TOOLS(array)                                              \
	.tools = (array), .n_tools = sizeof(array) / sizeof((array)[0]), \
	.tool_size = sizeof((array)[0])

/*
 * The entry point.  It may check host->abi_version and return NULL to
 * refuse a host it cannot use (logging why through host->log); otherwise
 * it returns the module descriptor.  It may keep host.
 */
AGENTD_EXPORT const struct agentd_tool_module *agentd_tool_init(
    const struct agentd_host *host);

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_PLUGINS_AGENTD_TOOL_H */
