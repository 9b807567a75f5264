/*
 * guard.c: library functions whose loops the count hook cannot see.
 *
 * A few functions of Lua's string and table libraries loop in C for as
 * many times as a script's integer says, without allocating anything
 * and without running Lua code: string.rep("", n) copies nothing n
 * times, table.move(t, 1, n, 1) on an empty table moves nils, and
 * table.insert and table.remove shift by #t, which __len (or a table
 * whose border search lands far out) can make as big as 2^62.  Each
 * would run for centuries inside one instruction.  The versions here
 * keep Lua's behaviour and messages but charge their loops to the
 * instruction budget, so the usual limits stop them.
 */
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua/script-int.h"
#include "lua/script.h"

/* Steps between two charges of a loop. */
#define GUARD_CHARGE_EVERY 1024

static int guard_rep(lua_State *);
static void guard_tablike(lua_State *, int, const char *);
static int guard_move(lua_State *);
static lua_Integer guard_len(lua_State *);
static int guard_insert(lua_State *);
static int guard_remove(lua_State *);

/*
 * string.rep(s, n [, sep]): an empty result is returned at once; any
 * other result is as big as its loop, and the allocator charges that.
 */
static int
guard_rep(lua_State *L)
{
	size_t l, lsep;
	lua_Integer n;

	/* Every argument is checked here, so errors name 'rep'. */
	luaL_checklstring(L, 1, &l);
	n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n <= 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	/* Lua's own check, raised here so that it carries the location. */
	if (l + lsep < l || l + lsep > (size_t)LUA_MAXINTEGER / (size_t)n)
		return luaL_error(L, "resulting string too large");
	if (l == 0 && lsep == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/*
 * Raises the table library's error unless the value at idx is a table
 * or its metatable has the metamethod named (what Lua's checktab()
 * wants; the lookups are raw, as there).
 */
static void
guard_tablike(lua_State *L, int idx, const char *mm)
{
	int ok;

	if (lua_istable(L, idx))
		return;
	ok = lua_getmetatable(L, idx);
	if (ok) {
		lua_pushstring(L, mm);
		ok = lua_rawget(L, -2) != LUA_TNIL;
		lua_pop(L, 2);
	}
	if (!ok)
		luaL_checktype(L, idx, LUA_TTABLE);
}

/*
 * table.move(a1, f, e, t [, a2]): as Lua's, copying upwards or
 * downwards so that overlapping ranges work, with the loop charged.
 */
static int
guard_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2);
	lua_Integer e = luaL_checkinteger(L, 3);
	lua_Integer t = luaL_checkinteger(L, 4);
	int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
	unsigned int steps = 0;
	lua_Integer n, i;

	guard_tablike(L, 1, "__index");
	guard_tablike(L, tt, "__newindex");
	if (e >= f) {
		luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3,
		    "too many elements to move");
		n = e - f + 1;
		luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4,
		    "destination wrap around");
		if (t > e || t <= f ||
		    (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
			for (i = 0; i < n; i++) {
				if (++steps == GUARD_CHARGE_EVERY) {
					script_sandbox_charge(L, steps);
					steps = 0;
				}
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		} else {
			for (i = n - 1; i >= 0; i--) {
				if (++steps == GUARD_CHARGE_EVERY) {
					script_sandbox_charge(L, steps);
					steps = 0;
				}
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		}
	}
	script_sandbox_charge(L, steps);
	lua_pushvalue(L, tt);
	return 1;
}

/* #t, as the table library reads it (__len included), for argument 1. */
static lua_Integer
guard_len(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	return luaL_len(L, 1);
}

/*
 * table.insert(t, [pos,] v): as Lua's, with the shift charged as it
 * goes.
 */
static int
guard_insert(lua_State *L)
{
	lua_Integer e, pos, i;
	unsigned int steps = 0;

	e = guard_len(L);
	e = (lua_Integer)((lua_Unsigned)e + 1u); /* the first free slot */
	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
		    "position out of bounds");
		for (i = e; i > pos; i--) {
			if (++steps == GUARD_CHARGE_EVERY) {
				script_sandbox_charge(L, steps);
				steps = 0;
			}
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i);
		}
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos);
	script_sandbox_charge(L, steps);
	return 0;
}

/* table.remove(t [, pos]): as Lua's, with the shift charged. */
static int
guard_remove(lua_State *L)
{
	lua_Integer size = guard_len(L);
	lua_Integer pos = luaL_optinteger(L, 2, size);
	unsigned int steps = 0;

	/* Lua 5.4 blames argument 1 here; so do we, for the same message. */
	if (pos != size)
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size,
		    1, "position out of bounds");
	lua_geti(L, 1, pos);
	for (; pos < size; pos++) {
		if (++steps == GUARD_CHARGE_EVERY) {
			script_sandbox_charge(L, steps);
			steps = 0;
		}
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	script_sandbox_charge(L, steps);
	return 1;
}

void
script_guard_string(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	/* rep wraps the original, kept as its upvalue. */
	lua_getfield(L, idx, "rep");
	lua_pushcclosure(L, guard_rep, 1);
	lua_setfield(L, idx, "rep");
}

void
script_guard_table(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_pushcfunction(L, guard_move);
	lua_setfield(L, idx, "move");
	lua_pushcfunction(L, guard_insert);
	lua_setfield(L, idx, "insert");
	lua_pushcfunction(L, guard_remove);
	lua_setfield(L, idx, "remove");
}
