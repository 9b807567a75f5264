/*
 * sandbox.c: one sandboxed lua_State and the limits around it.
 *
 * The state is made with lua_newstate() and sandbox_alloc(), which keeps
 * the bytes in use under a cap.  Only chosen libraries are opened, and
 * what scripts see of them is a base table (never reachable from a
 * script) behind each script's own _ENV plus read-only proxies of the
 * library tables.  A count hook charges the instruction budget and
 * checks the deadline and the cancel flag; once a limit trips, the stop
 * is sticky and the hook raises again on every instruction, so pcall()
 * cannot swallow it.  The same happens when the allocator refuses a
 * request a second time after Lua's emergency collection.
 *
 * Three Lua facts shape the rules below.  Finalizers (__gc) run with
 * hooks disabled, so a __gc loop could never be stopped: setmetatable()
 * refuses metatables with a __gc field, the only way a script could get
 * an object finalized.  A message handler runs where the error is
 * raised, and for an error raised by the hook that is inside the hook,
 * again with hooks disabled: xpcall() is replaced by one that calls its
 * handler after the stack has unwound (without the debug library a
 * handler cannot look at the stack anyway).  And lua_close() runs
 * pending __close handlers, so the sandbox sets "closing" first, after
 * which the hook stops every instruction at once.  (Lua's pattern
 * matcher is the fourth: see pattern.c.)
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "daemon/util.h"
#include "lua/script-int.h"
#include "lua/script.h"

/* Registry keys: their addresses are unique and scripts cannot forge
 * light userdata. */
static const char sandbox_key_base = 'b';
static const char sandbox_key_env = 'e';
static const char sandbox_key_locked = 'l';
static const char sandbox_key_frozen = 'f';
static const char sandbox_key_box = 'x';

static void *sandbox_alloc(void *, void *, size_t, size_t);
static void sandbox_trip(struct script_sandbox *, enum script_stop);
static void sandbox_alloc_poll(struct script_sandbox *);
static void sandbox_poll(struct script_sandbox *);
static void sandbox_hook(lua_State *, lua_Debug *);
static int sandbox_panic(lua_State *);
static void sandbox_warnf(void *, const char *, int);
static int sandbox_msgh(lua_State *);
static int sandbox_setup(lua_State *);
static void sandbox_copy(lua_State *, int, int, const char *const *);
static int sandbox_frozen_newindex(lua_State *);
static int sandbox_frozen_next(lua_State *);
static int sandbox_frozen_pairs(lua_State *);
static int sandbox_locked_newindex(lua_State *);
static int sandbox_undefined(lua_State *);
static int sandbox_print(lua_State *);
static int sandbox_rawset(lua_State *);
static int sandbox_setmetatable(lua_State *);
static int sandbox_collectgarbage(lua_State *);
static int sandbox_load_text(lua_State *);
static int sandbox_xpcall(lua_State *);
static int sandbox_xpcall_finish(lua_State *, int, lua_KContext);
static int sandbox_box_gc(lua_State *);
static int sandbox_is_frozen(lua_State *, int);
static int sandbox_path_cmp(const void *, const void *);

const char *
script_stop_name(enum script_stop stop)
{
	switch (stop) {
	case SCRIPT_STOP_NONE:
		return "none";
	case SCRIPT_STOP_CANCELLED:
		return "cancelled";
	case SCRIPT_STOP_TIMEOUT:
		return "timeout";
	case SCRIPT_STOP_INSTRUCTIONS:
		return "instructions";
	case SCRIPT_STOP_MEMORY:
		return "memory";
	}
	return "unknown";
}

void
script_result_clear(struct script_result *res)
{
	if (res == NULL)
		return;
	free(res->text);
	res->text = NULL;
	res->len = 0;
	res->is_error = 0;
}

/*
 * The allocator.  A request that would pass the cap is refused; Lua then
 * runs an emergency collection and asks again with the same arguments,
 * and only a second refusal of the same request trips the memory limit,
 * so that garbage waiting for the collector never ends a script.  A
 * request bigger than the whole cap trips it at once: no collection can
 * help, and some callers (luaL_Buffer) do not ask twice.
 */
static void *
sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct script_sandbox *s = ud;
	size_t old = ptr != NULL ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		s->mem_used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > s->mem_cap - s->mem_used) {
		if (nsize > s->mem_cap)
			sandbox_trip(s, SCRIPT_STOP_MEMORY);
		else if (s->mem_pending && s->mem_pending_ptr == ptr &&
		    s->mem_pending_osize == osize &&
		    s->mem_pending_nsize == nsize)
			sandbox_trip(s, SCRIPT_STOP_MEMORY);
		s->mem_pending = 1;
		s->mem_pending_ptr = ptr;
		s->mem_pending_osize = osize;
		s->mem_pending_nsize = nsize;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (p == NULL)
		return NULL;
	if (nsize > old) {
		s->mem_pending = 0;
		s->alloc_unpolled += nsize - old;
		if (s->alloc_unpolled >= SCRIPT_ALLOC_POLL)
			sandbox_alloc_poll(s);
	}
	s->mem_used = s->mem_used - old + nsize;
	if (s->mem_used > s->mem_peak)
		s->mem_peak = s->mem_used;
	return p;
}

/*
 * Charges the bytes allocated since the last poll and checks the limits;
 * a limit that trips makes the hook raise at the next instruction.
 */
static void
sandbox_alloc_poll(struct script_sandbox *s)
{
	s->instr_used += s->alloc_unpolled / SCRIPT_ALLOC_CHARGE;
	s->alloc_unpolled = 0;
	if (s->L == NULL || s->closing)
		return;
	if (s->instr_used >= s->instr_max)
		sandbox_trip(s, SCRIPT_STOP_INSTRUCTIONS);
	else
		sandbox_poll(s);
}

/* Records the first limit that trips and makes the hook fire at once. */
static void
sandbox_trip(struct script_sandbox *s, enum script_stop stop)
{
	if (s->stop != SCRIPT_STOP_NONE)
		return;
	s->stop = stop;
	switch (stop) {
	case SCRIPT_STOP_CANCELLED:
		snprintf(s->stopmsg, sizeof s->stopmsg, "cancelled");
		break;
	case SCRIPT_STOP_TIMEOUT:
		snprintf(s->stopmsg, sizeof s->stopmsg, "timed out");
		break;
	case SCRIPT_STOP_INSTRUCTIONS:
		snprintf(s->stopmsg, sizeof s->stopmsg,
		    "instruction limit of %llu exceeded",
		    (unsigned long long)s->instr_max);
		break;
	case SCRIPT_STOP_MEMORY:
		snprintf(s->stopmsg, sizeof s->stopmsg,
		    "memory limit of %zu bytes exceeded", s->mem_cap);
		break;
	case SCRIPT_STOP_NONE:
		break;
	}
	/* lua_sethook() may be called at any time, even from here. */
	if (s->L != NULL)
		lua_sethook(s->L, sandbox_hook, LUA_MASKCOUNT, 1);
}

/* Checks the cancel flag and the deadline. */
static void
sandbox_poll(struct script_sandbox *s)
{
	if (s->stop != SCRIPT_STOP_NONE)
		return;
	if (s->cancel != NULL && atomic_load(s->cancel) != 0)
		sandbox_trip(s, SCRIPT_STOP_CANCELLED);
	else if (s->deadline_ns != 0 && clock_mono_ns() >= s->deadline_ns)
		sandbox_trip(s, SCRIPT_STOP_TIMEOUT);
}

/*
 * The count hook.  Every hook_period instructions it charges them and
 * checks the limits; once one has tripped it re-arms itself with a count
 * of 1 and raises, so the next instruction after any pcall() that caught
 * the error raises again.
 */
static void
sandbox_hook(lua_State *L, lua_Debug *ar)
{
	struct script_sandbox *s = script_sandbox_of(L);

	(void)ar;
	if (s->stop == SCRIPT_STOP_NONE && !s->closing) {
		s->instr_used += (uint64_t)s->hook_period;
		if (s->instr_used >= s->instr_max)
			sandbox_trip(s, SCRIPT_STOP_INSTRUCTIONS);
		else
			sandbox_poll(s);
	}
	if (s->stop == SCRIPT_STOP_NONE && !s->closing)
		return;
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	lua_pushstring(L, s->closing ? "state is closing" : s->stopmsg);
	lua_error(L);
}

/* An error outside any protected call: a bug in lua/, never input. */
static int
sandbox_panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);

	log_err("lua: unprotected error: %s", msg != NULL ? msg : "?");
	abort();
}

/* warn(): pieces are joined and each message is logged as a line. */
static void
sandbox_warnf(void *ud, const char *msg, int tocont)
{
	struct script_sandbox *s = ud;
	size_t len = strlen(msg), room;

	/* Control messages ("@on", "@off") mean nothing here. */
	if (s->warn_len == 0 && !tocont && msg[0] == '@')
		return;
	room = SCRIPT_MAX_LOG_LINE - s->warn_len;
	if (len > room)
		len = room;
	memcpy(s->warn + s->warn_len, msg, len);
	s->warn_len += len;
	if (tocont)
		return;
	script_sandbox_log(s, LOG_LEVEL_WARN, s->warn, s->warn_len);
	s->warn_len = 0;
}

void
script_sandbox_log(
    struct script_sandbox *s, int level, const char *msg, size_t len)
{
	char line[SCRIPT_MAX_LOG_LINE + 1];

	if (s->log_lines > SCRIPT_MAX_LOG_LINES)
		return;
	if (s->log_lines++ == SCRIPT_MAX_LOG_LINES) {
		log_warn("lua %s: more than %d log lines; the rest are dropped",
		    s->what, SCRIPT_MAX_LOG_LINES);
		return;
	}
	len = script_utf8_cut(msg, len, SCRIPT_MAX_LOG_LINE);
	/* One script line is one log line: no control characters. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c == '\n' || c == '\r' || c == '\t')
			line[i] = ' ';
		else if (c < 0x20 || c == 0x7f)
			line[i] = '?';
		else
			line[i] = (char)c;
	}
	line[len] = '\0';
	log_at(level, "lua %s: %s", s->what, line);
}

struct script_sandbox *
script_sandbox_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

/*
 * The message handler of every call from C: remembers the message (a
 * table error object goes through its __tostring, protected, or becomes
 * "(error object is a table value)") and returns it with a traceback.
 */
static int
sandbox_msgh(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	const char *msg = NULL;
	size_t len = 0;
	char fallback[64];

	if (lua_type(L, 1) == LUA_TSTRING)
		msg = lua_tolstring(L, 1, &len);
	else if (lua_type(L, 1) == LUA_TNUMBER) {
		msg = lua_tolstring(L, 1, &len);
	} else if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
		lua_pushvalue(L, 1);
		if (lua_pcall(L, 1, 1, 0) == LUA_OK &&
		    lua_type(L, -1) == LUA_TSTRING)
			msg = lua_tolstring(L, -1, &len);
	}
	if (msg == NULL) {
		snprintf(fallback, sizeof fallback,
		    "(error object is a %s value)", luaL_typename(L, 1));
		msg = fallback;
		len = strlen(fallback);
	}
	free(s->errmsg);
	len = script_utf8_cut(msg, len, SCRIPT_MAX_ERROR);
	s->errmsg = xstrndup(msg, len);
	/* The message travels in JSON: it must be UTF-8 without NULs. */
	len = strlen(s->errmsg);
	for (size_t i = 0, bad; i < len; i = bad + 1) {
		bad = i + utf8_check(s->errmsg + i, len - i);
		if (bad >= len)
			break;
		s->errmsg[bad] = '?';
	}
	luaL_traceback(L, L, s->errmsg, 1);
	return 1;
}

int
script_sandbox_call(struct script_sandbox *s, lua_CFunction fn, void *ud,
    int nres, char **cause)
{
	lua_State *L = s->L;
	int base = lua_gettop(L), status;
	const char *msg;

	free(s->errmsg);
	s->errmsg = NULL;
	lua_pushcfunction(L, sandbox_msgh);
	lua_pushcfunction(L, fn);
	lua_pushlightuserdata(L, ud);
	status = lua_pcall(L, 1, nres, base + 1);
	if (status == LUA_OK && s->stop == SCRIPT_STOP_NONE) {
		lua_remove(L, base + 1);
		return 0;
	}
	if (status == LUA_OK)
		lua_settop(L, base + 1);
	else if (lua_type(L, -1) == LUA_TSTRING)
		log_debug("lua %s: %s", s->what, lua_tostring(L, -1));
	if (s->stop == SCRIPT_STOP_NONE &&
	    (status == LUA_ERRMEM ||
	        (s->mem_pending && s->errmsg != NULL &&
	            strcmp(s->errmsg, "not enough memory") == 0))) {
		/* Refused once and not retried: the cap all the same. */
		sandbox_trip(s, SCRIPT_STOP_MEMORY);
	}
	if (s->stop != SCRIPT_STOP_NONE)
		msg = s->stopmsg;
	else if (s->errmsg != NULL)
		msg = s->errmsg;
	else
		msg = "error in error handling";
	*cause = xstrdup(msg);
	lua_settop(L, base);
	return -1;
}

void
script_sandbox_charge(lua_State *L, uint64_t n)
{
	struct script_sandbox *s = script_sandbox_of(L);

	if (s->stop == SCRIPT_STOP_NONE && !s->closing) {
		s->instr_used += n;
		if (s->instr_used >= s->instr_max)
			sandbox_trip(s, SCRIPT_STOP_INSTRUCTIONS);
		else
			sandbox_poll(s);
	}
	if (s->stop == SCRIPT_STOP_NONE && !s->closing)
		return;
	lua_pushstring(L, s->closing ? "state is closing" : s->stopmsg);
	lua_error(L);
}

void
script_sandbox_check(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);

	sandbox_poll(s);
	if (s->stop == SCRIPT_STOP_NONE)
		return;
	lua_pushstring(L, s->stopmsg);
	lua_error(L);
}

void
script_sandbox_load(
    lua_State *L, const char *buf, size_t len, const char *chunkname)
{
	if (luaL_loadbufferx(L, buf, len, chunkname, "t") != LUA_OK)
		lua_error(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_env);
	if (lua_setupvalue(L, -2, 1) == NULL)
		lua_pop(L, 1);
}

struct script_sandbox *
script_sandbox_new(const struct script_sandbox_opts *opts, char **cause)
{
	struct script_sandbox *s;
	lua_State *L;
	int status;

	s = xcalloc(1, sizeof *s);
	snprintf(s->what, sizeof s->what, "%s", opts->what);
	s->mem_cap =
	    opts->max_memory != 0 ? opts->max_memory : SCRIPT_DEFAULT_MEMORY;
	s->instr_max = opts->max_instructions != 0
	    ? opts->max_instructions
	    : SCRIPT_DEFAULT_INSTRUCTIONS;
	s->hook_period = s->instr_max < SCRIPT_HOOK_PERIOD ? (int)s->instr_max
	                                                   : SCRIPT_HOOK_PERIOD;
	s->max_output =
	    opts->max_output != 0 ? opts->max_output : SCRIPT_DEFAULT_OUTPUT;
	s->json_cap = s->mem_cap / 4;
	if (opts->host != NULL)
		s->host = *opts->host;
	if (opts->call != NULL) {
		s->deadline_ns = opts->call->deadline_ns;
		s->cancel = opts->call->cancel;
	}

	L = lua_newstate(sandbox_alloc, s);
	if (L == NULL) {
		xasprintf(cause,
		    "%s: cannot create a Lua state within %zu bytes", s->what,
		    s->mem_cap);
		free(s);
		return NULL;
	}
	lua_atpanic(L, sandbox_panic);
	lua_setwarnf(L, sandbox_warnf, s);
	lua_pushcfunction(L, sandbox_setup);
	status = lua_pcall(L, 0, 0, 0);
	if (status != LUA_OK) {
		xasprintf(cause, "%s: cannot set up the Lua state: %s", s->what,
		    status == LUA_ERRMEM ? "memory limit too small"
		                         : lua_tostring(L, -1));
		lua_close(L);
		free(s);
		return NULL;
	}
	/* The hook is armed last: setting up is not charged. */
	s->L = L;
	s->instr_used = 0;
	s->alloc_unpolled = 0;
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, s->hook_period);
	return s;
}

void
script_sandbox_free(struct script_sandbox *s)
{
	if (s == NULL)
		return;
	if (s->L != NULL) {
		log_debug("lua %s: %llu instructions, %zu bytes at most, "
		          "stopped: %s",
		    s->what, (unsigned long long)s->instr_used, s->mem_peak,
		    script_stop_name(s->stop));
		s->closing = 1;
		lua_sethook(s->L, sandbox_hook, LUA_MASKCOUNT, 1);
		lua_close(s->L);
	}
	free(s->errmsg);
	free(s);
}

/* ---- the libraries --------------------------------------------------- */

/* Copies the named fields of the table at from into the table at to. */
static void
sandbox_copy(lua_State *L, int from, int to, const char *const *names)
{
	from = lua_absindex(L, from);
	to = lua_absindex(L, to);
	for (; *names != NULL; names++) {
		lua_getfield(L, from, *names);
		lua_setfield(L, to, *names);
	}
}

/*
 * Opens the libraries and builds the base table, the frozen library
 * proxies and the script's environment.  Runs in protected mode before
 * the hook is armed.
 */
static int
sandbox_setup(lua_State *L)
{
	static const char *const base_names[] = { "assert", "error",
		"getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal",
		"rawget", "rawlen", "select", "tonumber", "tostring", "type",
		"warn", "_VERSION", NULL };
	static const char *const os_names[] = { "clock", "date", "time", NULL };
	static const luaL_Reg base_own[] = {
		{ "print", sandbox_print },
		{ "rawset", sandbox_rawset },
		{ "setmetatable", sandbox_setmetatable },
		{ "collectgarbage", sandbox_collectgarbage },
		{ "load", sandbox_load_text },
		{ "xpcall", sandbox_xpcall },
		{ NULL, NULL },
	};
	static const struct {
		const char *name;
		lua_CFunction open;
	} libs[] = {
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
		{ LUA_COLIBNAME, luaopen_coroutine },
	};
	int base, env, mt;

	/* The "locked" table every hidden metatable shows instead. */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushcfunction(L, sandbox_locked_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pushboolean(L, 1);
	lua_rawsetp(L, -2, &sandbox_key_frozen);
	lua_setmetatable(L, -2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sandbox_key_locked);

	/* Boxes. */
	lua_newtable(L);
	lua_pushcfunction(L, sandbox_box_gc);
	lua_setfield(L, -2, "__gc");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sandbox_key_box);

	/* The base table: chosen base functions, then the libraries. */
	luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
	lua_newtable(L);
	base = lua_gettop(L);
	sandbox_copy(L, -2, base, base_names);
	luaL_setfuncs(L, base_own, 0);

	for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
		luaL_requiref(L, libs[i].name, libs[i].open, 0);
		if (strcmp(libs[i].name, LUA_STRLIBNAME) == 0) {
			/* No bytecode out either. */
			lua_pushnil(L);
			lua_setfield(L, -2, "dump");
			script_pattern_open(L, -1);
			script_guard_string(L, -1);
		} else if (strcmp(libs[i].name, LUA_TABLIBNAME) == 0)
			script_guard_table(L, -1);
		script_sandbox_freeze(L, -1, libs[i].name);
		lua_setfield(L, base, libs[i].name);
		lua_pop(L, 1);
	}

	/* os: clock, date and time only. */
	luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
	lua_newtable(L);
	sandbox_copy(L, -2, -1, os_names);
	script_sandbox_freeze(L, -1, LUA_OSLIBNAME);
	lua_setfield(L, base, LUA_OSLIBNAME);
	lua_pop(L, 2);

	script_json_open(L);
	script_sandbox_freeze(L, -1, "agentd");
	lua_setfield(L, base, "agentd");
	lua_pop(L, 1);

	/* The string metatable stays, but scripts cannot reach it. */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_locked);
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	/*
	 * The base table raises on a write and on reading a name it does
	 * not have; it is reached only through the environment's
	 * metatable, which is hidden too.
	 */
	lua_newtable(L);
	mt = lua_gettop(L);
	lua_pushcfunction(L, sandbox_undefined);
	lua_setfield(L, mt, "__index");
	lua_pushliteral(L, "base");
	lua_pushcclosure(L, sandbox_frozen_newindex, 1);
	lua_setfield(L, mt, "__newindex");
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_locked);
	lua_setfield(L, mt, "__metatable");
	lua_pushboolean(L, 1);
	lua_rawsetp(L, mt, &sandbox_key_frozen);
	lua_setmetatable(L, base);
	lua_pushvalue(L, base);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sandbox_key_base);

	/* The script's environment: its own globals over the base. */
	lua_newtable(L);
	env = lua_gettop(L);
	lua_newtable(L);
	lua_pushvalue(L, base);
	lua_setfield(L, -2, "__index");
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_locked);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, env);
	lua_pushvalue(L, env);
	lua_setfield(L, env, LUA_GNAME);
	lua_pushvalue(L, env);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sandbox_key_env);
	lua_settop(L, 0);
	return 0;
}

void
script_sandbox_freeze(lua_State *L, int idx, const char *name)
{
	idx = lua_absindex(L, idx);
	lua_newtable(L); /* the proxy */
	lua_newtable(L); /* its metatable */
	lua_pushvalue(L, idx);
	lua_setfield(L, -2, "__index");
	lua_pushstring(L, name);
	lua_pushcclosure(L, sandbox_frozen_newindex, 1);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, idx);
	lua_pushcclosure(L, sandbox_frozen_next, 1);
	lua_pushcclosure(L, sandbox_frozen_pairs, 1);
	lua_setfield(L, -2, "__pairs");
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_locked);
	lua_setfield(L, -2, "__metatable");
	lua_pushboolean(L, 1);
	lua_rawsetp(L, -2, &sandbox_key_frozen);
	lua_setmetatable(L, -2);
}

static int
sandbox_frozen_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify read-only table '%s'",
	    lua_tostring(L, lua_upvalueindex(1)));
}

/* The iterator pairs() gets for a proxy; the real table stays hidden. */
static int
sandbox_frozen_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)) == 0) {
		lua_pushnil(L);
		return 1;
	}
	return 2;
}

static int
sandbox_frozen_pairs(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static int
sandbox_locked_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify a protected metatable");
}

/* __index of the base table: a name nobody defined. */
static int
sandbox_undefined(lua_State *L)
{
	luaL_where(L, 1);
	if (lua_type(L, 2) == LUA_TSTRING)
		lua_pushfstring(L, "undefined global '%s'", lua_tostring(L, 2));
	else
		lua_pushfstring(
		    L, "undefined global of type %s", luaL_typename(L, 2));
	lua_concat(L, 2);
	return lua_error(L);
}

/* Returns 1 if the table at idx is one of the sandbox's frozen tables. */
static int
sandbox_is_frozen(lua_State *L, int idx)
{
	int frozen;

	if (!lua_getmetatable(L, idx))
		return 0;
	lua_rawgetp(L, -1, &sandbox_key_frozen);
	frozen = lua_toboolean(L, -1);
	lua_pop(L, 2);
	return frozen;
}

/* print(...): the values, tab-separated, as one log line. */
static int
sandbox_print(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	int n = lua_gettop(L);
	luaL_Buffer b;
	const char *line;
	size_t len;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	line = lua_tolstring(L, -1, &len);
	script_sandbox_log(s, LOG_LEVEL_INFO, line, len);
	return 0;
}

static int
sandbox_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	if (sandbox_is_frozen(L, 1))
		return luaL_error(L, "rawset: the table is read-only");
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 1;
}

/* setmetatable() as in Lua, but no finalizers (see the top). */
static int
sandbox_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(
	    L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L,
			    "setmetatable: __gc metamethods are not allowed");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/* collectgarbage("count") only: the collector is the sandbox's. */
static int
sandbox_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");
	int kb, bytes;

	if (strcmp(opt, "count") != 0)
		return luaL_error(L,
		    "collectgarbage: only \"count\" is allowed, not \"%s\"",
		    opt);
	kb = lua_gc(L, LUA_GCCOUNT, 0);
	bytes = lua_gc(L, LUA_GCCOUNTB, 0);
	lua_pushnumber(L, (lua_Number)kb + (lua_Number)bytes / 1024.0);
	return 1;
}

/*
 * load(chunk [, chunkname [, mode [, env]]]): text chunks only, given as
 * a string; the function runs in env, by default the script's own
 * environment.  Like Lua's load(), it returns nil and a message when the
 * chunk does not compile, and then also for a binary chunk.
 */
static int
sandbox_load_text(lua_State *L)
{
	size_t len;
	const char *chunk = luaL_checklstring(L, 1, &len);
	const char *name = luaL_optstring(L, 2, "=load");
	const char *mode = luaL_optstring(L, 3, "t");

	/* Compiling is work the hook does not see. */
	script_sandbox_charge(L, len / 16);
	if (strcmp(mode, "t") != 0) {
		lua_pushnil(L);
		lua_pushliteral(L,
		    "load: only text chunks (mode \"t\") are "
		    "allowed");
		return 2;
	}
	if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	if (lua_isnoneornil(L, 4))
		lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_env);
	else
		lua_pushvalue(L, 4);
	if (lua_setupvalue(L, -2, 1) == NULL)
		lua_pop(L, 1);
	return 1;
}

/*
 * xpcall(f, msgh, ...): f(...) in protected mode; on an error, msgh(err)
 * runs once the stack has unwound, with the hook active, and its result
 * (or its own error) is the message.  A tripped limit is raised again at
 * once instead.  Yields inside f are allowed, as with Lua's own.
 */
static int
sandbox_xpcall(lua_State *L)
{
	int n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, sandbox_xpcall_finish);
	return sandbox_xpcall_finish(L, status, 2);
}

static int
sandbox_xpcall_finish(lua_State *L, int status, lua_KContext extra)
{
	struct script_sandbox *s = script_sandbox_of(L);

	if (status == LUA_OK || status == LUA_YIELD)
		return lua_gettop(L) - (int)extra;
	if (s->stop != SCRIPT_STOP_NONE) {
		lua_pushstring(L, s->stopmsg);
		return lua_error(L);
	}
	lua_pushvalue(L, 2);
	lua_insert(L, -2);
	lua_pcall(L, 1, 1, 0);
	lua_pushboolean(L, 0);
	lua_insert(L, -2);
	return 2;
}

/* ---- boxes ------------------------------------------------------------- */

struct script_box *
script_box_push(lua_State *L)
{
	struct script_box *b;

	b = lua_newuserdatauv(L, sizeof *b, 0);
	memset(b, 0, sizeof *b);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key_box);
	lua_setmetatable(L, -2);
	return b;
}

void
script_box_clear(struct script_box *b)
{
	free(b->text);
	json_decref(b->json);
	free(b->cause);
	memset(b, 0, sizeof *b);
}

static int
sandbox_box_gc(lua_State *L)
{
	struct script_box *b = lua_touserdata(L, 1);

	if (b != NULL)
		script_box_clear(b);
	return 0;
}

/* ---- small helpers ------------------------------------------------------- */

size_t
script_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	/* Step back over continuation bytes to the sequence's start. */
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

int
script_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 64)
		return 0;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	        (name[0] >= 'A' && name[0] <= 'Z')))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		        c == '-'))
			return 0;
	}
	return 1;
}

const char *
script_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

char *
script_file_read(const char *path, size_t *len, char **cause)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > SCRIPT_MAX_SOURCE) {
		xasprintf(
		    cause, "%s: larger than %d bytes", path, SCRIPT_MAX_SOURCE);
		goto fail;
	}
	/* One byte more than allowed tells a file that grew meanwhile. */
	text = xmalloc(SCRIPT_MAX_SOURCE + 2);
	for (;;) {
		n = read(fd, text + got, SCRIPT_MAX_SOURCE + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > SCRIPT_MAX_SOURCE) {
			xasprintf(cause, "%s: larger than %d bytes", path,
			    SCRIPT_MAX_SOURCE);
			goto fail;
		}
	}
	close(fd);
	text[got] = '\0';
	*len = got;
	return xrealloc(text, got + 1);

fail:
	free(text);
	close(fd);
	return NULL;
}

static int
sandbox_path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
script_dir_list(const char *dir, char ***paths, size_t *n, char **cause)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char **list = NULL;
	size_t count = 0, len;
	char *path;

	*paths = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 4, ".lua") != 0)
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		list = xreallocarray(list, count + 1, sizeof *list);
		list[count++] = path;
	}
	closedir(d);
	if (count > 1)
		qsort(list, count, sizeof *list, sandbox_path_cmp);
	*paths = list;
	*n = count;
	return 0;
}
