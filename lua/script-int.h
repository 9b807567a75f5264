/*
 * script-int.h: declarations shared by the files of lua/ and no one else.
 *
 * A sandbox is one lua_State plus the accounting its allocator and its
 * instruction hook keep: bytes in use against the cap, instructions
 * charged against the budget, the deadline, the cancel flag, and the
 * first limit that tripped.  The state's allocator userdata is the
 * sandbox, so any C function can find it from its lua_State.
 *
 * Protected calls.  Anything that can raise a Lua error (a table access
 * that may run a metamethod, an allocation, a conversion) runs inside a
 * lua_pcall().  C-heap memory that must survive a longjmp lives in a
 * "box", a full userdata whose __gc frees it, so an error between
 * allocating and handing over leaks nothing.
 */
#ifndef AGENTD_LUA_SCRIPT_INT_H
#define AGENTD_LUA_SCRIPT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lua.h>

#include "lua/script.h"

/* Instructions between two runs of the hook. */
#define SCRIPT_HOOK_PERIOD 10000
/* Lines print(), warn() and agentd.log() may write per state. */
#define SCRIPT_MAX_LOG_LINES 200
/* Bytes of one such line. */
#define SCRIPT_MAX_LOG_LINE 1000
/* Bytes of an error message kept for the caller. */
#define SCRIPT_MAX_ERROR 1024
/*
 * Work done inside C functions does not run the hook, so allocations are
 * charged too: one instruction per SCRIPT_ALLOC_CHARGE bytes, and the
 * limits are checked every SCRIPT_ALLOC_POLL bytes allocated.
 */
#define SCRIPT_ALLOC_CHARGE 64
#define SCRIPT_ALLOC_POLL   (1024 * 1024)

struct script_sandbox {
	lua_State *L;
	char what[96]; /* "tool:word_count", for messages and logs */

	/* Memory: bytes in use, the cap, and a refused request. */
	size_t mem_used;
	size_t mem_cap;
	size_t mem_peak;
	int mem_pending;
	void *mem_pending_ptr;
	size_t mem_pending_osize;
	size_t mem_pending_nsize;
	size_t alloc_unpolled; /* bytes allocated since the last poll */

	/* Instructions charged and the budget; the hook's period. */
	uint64_t instr_used;
	uint64_t instr_max;
	int hook_period;

	uint64_t deadline_ns;
	const atomic_int *cancel;

	enum script_stop stop; /* the first limit that tripped */
	char stopmsg[96];      /* its message */
	int closing;           /* lua_close() is running: no more Lua */

	size_t max_output; /* bytes of text a call returns */
	size_t json_cap;   /* bytes of JSON a conversion may produce */

	struct script_host host;
	const struct script_ctx_ops *ops; /* agents only */
	void *ops_arg;

	char *errmsg; /* the message of the last error the handler saw */
	unsigned int log_lines;
	char warn[SCRIPT_MAX_LOG_LINE + 1]; /* warn() pieces so far */
	size_t warn_len;
};

/*
 * C-heap memory that a Lua error must not leak (see above).  Everything
 * still in the box when it is collected is freed.
 */
struct script_box {
	char *text;
	json_t *json;
	char *cause;
};

/* What a sandbox is made with. */
struct script_sandbox_opts {
	const char *what;
	uint64_t max_instructions;
	size_t max_memory;
	size_t max_output;
	const struct script_host *host;
	const struct script_call *call;
};

/*
 * Makes a state with the sandbox's libraries, its base table and one
 * environment for the script (sandbox.c).  Returns NULL with *cause.
 */
struct script_sandbox *script_sandbox_new(
    const struct script_sandbox_opts *opts, char **cause);
/* Closes the state without running more Lua and frees s; NULL is ok. */
void script_sandbox_free(struct script_sandbox *s);
/* Returns the sandbox a state belongs to. */
struct script_sandbox *script_sandbox_of(lua_State *L);

/*
 * Calls fn(ud) (ud pushed as a light userdata) in protected mode with
 * the traceback handler and leaves its nres results on the stack.
 * Returns 0, or -1 with *cause set to the error's message (with its
 * location, when Lua gave one), or to the tripped limit's message when a
 * limit tripped.  The stack is left as it was on failure.
 */
int script_sandbox_call(struct script_sandbox *s, lua_CFunction fn, void *ud,
    int nres, char **cause);
/*
 * Loads a text chunk and sets its _ENV to the script's environment,
 * leaving the function on the stack; raises on a syntax error or a
 * binary chunk.  Call it in protected mode.
 */
void script_sandbox_load(
    lua_State *L, const char *buf, size_t len, const char *chunkname);
/*
 * Checks the cancel flag and the deadline now (after a host callback)
 * and raises the tripped limit's error if any limit tripped.
 */
void script_sandbox_check(lua_State *L);
/*
 * Pushes a read-only proxy of the table at idx: reads go through to it,
 * writes (and rawset()) raise "attempt to modify read-only table
 * '<name>'", pairs() iterates it, and its metatable is hidden.
 */
void script_sandbox_freeze(lua_State *L, int idx, const char *name);
/* Writes one script log line (print, warn, agentd.log) at level. */
void script_sandbox_log(
    struct script_sandbox *s, int level, const char *msg, size_t len);

/*
 * Charges n instructions' worth of work done in C (the pattern matcher)
 * and raises the tripped limit's error when a limit trips.
 */
void script_sandbox_charge(lua_State *L, uint64_t n);

/* Pushes a new empty box. */
struct script_box *script_box_push(lua_State *L);
/* Frees what the box holds now (it stays usable). */
void script_box_clear(struct script_box *b);

/* Cuts len so that [s, s+len) ends on a UTF-8 sequence boundary. */
size_t script_utf8_cut(const char *s, size_t len, size_t max);
/* Returns 1 if name is a valid tool or agent name, else 0. */
int script_name_valid(const char *name);
/*
 * Reads a script file (regular, at most SCRIPT_MAX_SOURCE bytes).
 * Returns the text (caller frees) with *len, or NULL with *cause.
 */
char *script_file_read(const char *path, size_t *len, char **cause);
/* Returns the final component of path (borrowed from it). */
const char *script_basename(const char *path);

/* ---- pattern.c ------------------------------------------------------------ */

/*
 * Replaces find, match, gmatch and gsub in the string library table at
 * idx with versions whose matching is charged to the budget.
 */
void script_pattern_open(lua_State *L, int idx);

/* ---- guard.c -------------------------------------------------------------- */

/*
 * Replace the functions of the string (rep) and table (insert, remove,
 * move) library tables at idx whose C loops the hook cannot see.
 */
void script_guard_string(lua_State *L, int idx);
void script_guard_table(lua_State *L, int idx);

/* ---- json.c ------------------------------------------------------------ */

/* Flags of script_json_from(). */
#define SCRIPT_JSON_SCHEMA \
	0x1 /* empty tables under array keywords are
				* arrays; integral floats are integers */

/*
 * Converts the Lua value at idx into JSON, storing the root in *slot as
 * soon as it exists (slot should be in a box), so that a Lua error part
 * way leaks nothing.  Raises with the path of what cannot be converted
 * ("json: $.a[2]: cannot encode a function value").
 */
void script_json_from(lua_State *L, int idx, int flags, json_t **slot);
/*
 * Pushes the Lua value for JSON v (borrowed): objects become tables,
 * arrays tables marked as arrays, null agentd.null.  Raises past
 * SCRIPT_JSON_MAX_DEPTH.
 */
void script_json_push(lua_State *L, const json_t *v);
/* Pushes the agentd module table (not yet frozen). */
void script_json_open(lua_State *L);

#endif /* AGENTD_LUA_SCRIPT_INT_H */
