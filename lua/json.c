/*
 * json.c: Lua values to and from JSON (jansson), and the agentd module.
 *
 * Lua has one table type for JSON's objects and arrays, so the
 * conversion needs a rule (docs/lua.md):
 *
 *  - a table whose keys are exactly 1..n (n >= 1) is an array;
 *  - a table whose keys are all strings is an object;
 *  - an empty table is an object, unless it is marked as an array (by
 *    agentd.array(), or because json_decode made it from an array), or,
 *    in a tool's parameters, it is the value of "required", "enum",
 *    "examples" or "type";
 *  - anything else (mixed keys, holes, float or boolean keys, functions,
 *    coroutines) is an error that names the path, e.g. "$.items[3]".
 *
 * nil and agentd.null become null.  Integers stay integers; floats stay
 * reals (in parameters, integral floats become integers, since tool
 * schemas carry integers only); inf and nan are refused.  Strings must
 * be UTF-8.  Both directions stop past SCRIPT_JSON_MAX_DEPTH levels,
 * which also ends cycles, and conversions from Lua stop once the JSON
 * would pass the sandbox's JSON cap.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "daemon/util.h"
#include "lua/script-int.h"
#include "lua/script.h"

/* agentd.null is this address as a light userdata. */
static const char json_null_key = 'n';
/* The registry holds the array marker metatable under this address. */
static const char json_array_key = 'a';

/* One conversion from Lua. */
struct json_conv {
	lua_State *L;
	int flags;
	size_t budget; /* bytes of JSON left */
	size_t cap;
	char path[192];
	size_t plen;
};

static void json_fail(struct json_conv *, const char *, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void json_charge(struct json_conv *, size_t);
static size_t json_path_push_key(struct json_conv *, const char *, size_t);
static size_t json_path_push_index(struct json_conv *, lua_Integer);
static int json_is_array_marked(lua_State *, int);
static int json_classify(struct json_conv *, int, const char *, size_t *);
static json_t *json_make(
    struct json_conv *, int, const char *, int, int *, size_t *);
static void json_fill(struct json_conv *, json_t *, int, int, size_t);
static void json_push_depth(lua_State *, const json_t *, int);
static int json_depth_ok(const json_t *, int);
static int json_precision(const json_t *, int);
static int json_lua_encode(lua_State *);
static int json_lua_decode(lua_State *);
static int json_lua_array(lua_State *);
static int json_lua_log(lua_State *);
static int json_lua_http_get(lua_State *);

/* Raises "json: <path>: <message>". */
static void
json_fail(struct json_conv *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	luaL_error(c->L, "json: %s: %s", c->path, msg);
	abort(); /* not reached: luaL_error() does not return */
}

/* Counts n more bytes of output against the cap. */
static void
json_charge(struct json_conv *c, size_t n)
{
	if (n > c->budget)
		json_fail(c, "JSON larger than %zu bytes", c->cap);
	c->budget -= n;
}

/* Appends ".key" to the path; returns the old length to restore. */
static size_t
json_path_push_key(struct json_conv *c, const char *key, size_t len)
{
	size_t old = c->plen;
	int n;

	if (len > 32)
		len = 32;
	n = snprintf(c->path + c->plen, sizeof c->path - c->plen, ".%.*s",
	    (int)len, key);
	if (n > 0)
		c->plen += (size_t)n < sizeof c->path - c->plen
		    ? (size_t)n
		    : sizeof c->path - c->plen - 1;
	return old;
}

/* Appends "[i]" (Lua's index) to the path; returns the old length. */
static size_t
json_path_push_index(struct json_conv *c, lua_Integer i)
{
	size_t old = c->plen;
	int n;

	n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%lld]",
	    (long long)i);
	if (n > 0)
		c->plen += (size_t)n < sizeof c->path - c->plen
		    ? (size_t)n
		    : sizeof c->path - c->plen - 1;
	return old;
}

static int
json_is_array_marked(lua_State *L, int idx)
{
	int marked;

	if (!lua_getmetatable(L, idx))
		return 0;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &json_array_key);
	marked = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return marked;
}

/*
 * Decides whether the table at idx is an array (returns 1, *n its
 * length) or an object (returns 0), by its raw keys.  key is the key the
 * table sits under in its parent, for the schema rule.
 */
static int
json_classify(struct json_conv *c, int idx, const char *key, size_t *n)
{
	lua_State *L = c->L;
	int marked = json_is_array_marked(L, idx);
	size_t count = 0, strings = 0;
	lua_Integer max = 0, k;

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		count++;
		switch (lua_type(L, -1)) {
		case LUA_TSTRING:
			strings++;
			break;
		case LUA_TNUMBER:
			if (!lua_isinteger(L, -1))
				json_fail(c, "table key %g is not an integer",
				    (double)lua_tonumber(L, -1));
			k = lua_tointeger(L, -1);
			if (k < 1)
				json_fail(c, "array index %lld is below 1",
				    (long long)k);
			if (k > max)
				max = k;
			break;
		default:
			json_fail(c, "a table key cannot be a %s",
			    luaL_typename(L, -1));
		}
	}
	*n = count;
	if (count == 0) {
		if (marked)
			return 1;
		if ((c->flags & SCRIPT_JSON_SCHEMA) && key != NULL &&
		    (strcmp(key, "required") == 0 || strcmp(key, "enum") == 0 ||
		        strcmp(key, "examples") == 0 ||
		        strcmp(key, "type") == 0))
			return 1;
		return 0;
	}
	if (strings == count) {
		if (marked)
			json_fail(c,
			    "a table marked as an array has string "
			    "keys");
		return 0;
	}
	if (strings != 0)
		json_fail(c, "a table mixes string and integer keys");
	if ((size_t)max != count)
		json_fail(c,
		    "an array with holes (%zu elements, largest "
		    "index %lld)",
		    count, (long long)max);
	return 1;
}

/*
 * Makes the JSON for the value at idx: a scalar, or an empty container
 * (*container set to 1 for an array of *n elements, 2 for an object)
 * that json_fill() fills once its parent holds it.
 */
static json_t *
json_make(struct json_conv *c, int idx, const char *key, int depth,
    int *container, size_t *n)
{
	lua_State *L = c->L;
	json_t *v = NULL;
	lua_Number d;
	const char *s;
	size_t len;

	idx = lua_absindex(L, idx);
	*container = 0;
	*n = 0;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		json_charge(c, 4);
		return json_null();
	case LUA_TBOOLEAN:
		json_charge(c, 5);
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		json_charge(c, 24);
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		d = lua_tonumber(L, idx);
		if (!isfinite(d))
			json_fail(c, "cannot encode %s",
			    isnan(d) ? "nan" : "an infinite number");
		if ((c->flags & SCRIPT_JSON_SCHEMA) && d == floor(d) &&
		    fabs(d) < 9007199254740992.0)
			return json_integer((json_int_t)d);
		return json_real(d);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		json_charge(c, len + 2);
		v = json_stringn(s, len);
		if (v == NULL)
			json_fail(c, "string is not valid UTF-8");
		return v;
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == &json_null_key) {
			json_charge(c, 4);
			return json_null();
		}
		break;
	case LUA_TTABLE:
		if (depth >= SCRIPT_JSON_MAX_DEPTH)
			json_fail(c, "nesting deeper than %d (a cycle?)",
			    SCRIPT_JSON_MAX_DEPTH);
		json_charge(c, 2);
		if (json_classify(c, idx, key, n)) {
			*container = 1;
			return json_array();
		}
		*container = 2;
		return json_object();
	default:
		break;
	}
	json_fail(c, "cannot encode a %s value", luaL_typename(L, idx));
}

/*
 * Fills the container v, which its parent already holds, from the table
 * at idx.
 */
static void
json_fill(struct json_conv *c, json_t *v, int idx, int depth, size_t n)
{
	lua_State *L = c->L;
	int container;
	json_t *child;
	const char *key;
	size_t klen, old, m;

	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 4, "json: nesting too deep");
	if (json_is_array(v)) {
		for (size_t i = 1; i <= n; i++) {
			old = json_path_push_index(c, (lua_Integer)i);
			lua_rawgeti(L, idx, (lua_Integer)i);
			child =
			    json_make(c, -1, NULL, depth + 1, &container, &m);
			json_charge(c, 1);
			if (json_array_append_new(v, child) != 0)
				json_fail(c, "out of memory");
			if (container != 0)
				json_fill(c, child, -1, depth + 1, m);
			lua_pop(L, 1);
			c->plen = old;
			c->path[old] = '\0';
		}
		return;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		key = lua_tolstring(L, -2, &klen);
		old = json_path_push_key(c, key, klen);
		child = json_make(c, -1, key, depth + 1, &container, &m);
		json_charge(c, klen + 4);
		if (json_object_setn_new(v, key, klen, child) != 0)
			json_fail(c, "key is not valid UTF-8");
		if (container != 0)
			json_fill(c, child, -1, depth + 1, m);
		lua_pop(L, 1);
		c->plen = old;
		c->path[old] = '\0';
	}
}

void
script_json_from(lua_State *L, int idx, int flags, json_t **slot)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct json_conv c;
	int container;
	size_t n = 0;

	memset(&c, 0, sizeof c);
	c.L = L;
	c.flags = flags;
	c.cap = s->json_cap;
	c.budget = s->json_cap;
	c.path[0] = '$';
	c.plen = 1;
	idx = lua_absindex(L, idx);
	*slot = json_make(&c, idx, NULL, 0, &container, &n);
	if (container != 0)
		json_fill(&c, *slot, idx, 0, n);
}

/* ---- JSON to Lua ------------------------------------------------------- */

static void
json_push_depth(lua_State *L, const json_t *v, int depth)
{
	const char *key;
	size_t klen, i;
	json_t *item;

	if (depth > SCRIPT_JSON_MAX_DEPTH)
		luaL_error(
		    L, "json: nesting deeper than %d", SCRIPT_JSON_MAX_DEPTH);
	luaL_checkstack(L, 4, "json: nesting too deep");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_keylen_foreach(
		    (json_t *)(uintptr_t)v, key, klen, item)
		{
			lua_pushlstring(L, key, klen);
			json_push_depth(L, item, depth + 1);
			lua_rawset(L, -3);
		}
		break;
	case JSON_ARRAY:
		lua_createtable(L, (int)json_array_size(v), 0);
		lua_rawgetp(L, LUA_REGISTRYINDEX, &json_array_key);
		lua_setmetatable(L, -2);
		json_array_foreach(v, i, item)
		{
			json_push_depth(L, item, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, (lua_Number)json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
		lua_pushlightuserdata(L, (void *)(uintptr_t)&json_null_key);
		break;
	}
}

void
script_json_push(lua_State *L, const json_t *v)
{
	json_push_depth(L, v, 0);
}

/* Returns 1 if v nests at most SCRIPT_JSON_MAX_DEPTH - depth levels. */
static int
json_depth_ok(const json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;

	if (depth > SCRIPT_JSON_MAX_DEPTH)
		return 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (!json_depth_ok(item, depth + 1))
				return 0;
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, key, item)
		{
			if (!json_depth_ok(item, depth + 1))
				return 0;
		}
	}
	return 1;
}

/*
 * The fewest significant digits (15 to 17) with which every real in v
 * reads back exactly, so that 0.1 is written "0.1", not
 * "0.10000000000000001".
 */
static int
json_precision(const json_t *v, int best)
{
	char buf[40];
	const char *key;
	json_t *item;
	size_t i;
	double d;
	int p;

	switch (json_typeof(v)) {
	case JSON_REAL:
		d = json_real_value(v);
		for (p = best; p < 17; p++) {
			snprintf(buf, sizeof buf, "%.*g", p, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		return p;
	case JSON_ARRAY:
		json_array_foreach(v, i, item) best =
		    json_precision(item, best);
		return best;
	case JSON_OBJECT:
		json_object_foreach((json_t *)(uintptr_t)v, key, item) best =
		    json_precision(item, best);
		return best;
	default:
		return best;
	}
}

/* ---- the agentd module ---------------------------------------------------- */

/* agentd.json_encode(value): compact JSON with sorted keys; raises. */
static int
json_lua_encode(lua_State *L)
{
	struct script_box *b;
	size_t flags;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	b = script_box_push(L);
	script_json_from(L, 1, 0, &b->json);
	flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(json_precision(b->json, 15));
	b->text = json_dumps(b->json, flags);
	if (b->text == NULL)
		return luaL_error(L, "json_encode: out of memory");
	script_sandbox_charge(L, strlen(b->text) / 16);
	lua_pushstring(L, b->text);
	script_box_clear(b);
	return 1;
}

/*
 * agentd.json_decode(text): the value, or nil and a message saying
 * where the text is not JSON or that it nests too deep.
 */
static int
json_lua_decode(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_box *b;
	json_error_t err;
	const char *text;
	size_t len;

	text = luaL_checklstring(L, 1, &len);
	lua_settop(L, 1);
	if (len > s->json_cap) {
		lua_pushnil(L);
		lua_pushfstring(L, "json_decode: text larger than %I bytes",
		    (lua_Integer)s->json_cap);
		return 2;
	}
	script_sandbox_charge(L, len / 16);
	b = script_box_push(L);
	b->json = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (b->json == NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, "json_decode: line %d column %d: %s",
		    err.line, err.column, err.text);
		return 2;
	}
	if (!json_depth_ok(b->json, 0)) {
		lua_pushnil(L);
		lua_pushfstring(L, "json_decode: nesting deeper than %d",
		    SCRIPT_JSON_MAX_DEPTH);
		return 2;
	}
	script_json_push(L, b->json);
	script_box_clear(b);
	return 1;
}

/*
 * agentd.array([t]): marks t (a new table if absent) as an array, so an
 * empty one encodes as [] rather than {}.
 */
static int
json_lua_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (json_is_array_marked(L, 1))
		return 1;
	if (lua_getmetatable(L, 1))
		return luaL_error(L,
		    "agentd.array: the table already has a "
		    "metatable");
	lua_rawgetp(L, LUA_REGISTRYINDEX, &json_array_key);
	lua_setmetatable(L, 1);
	return 1;
}

/* agentd.log(level, message): level is "err" ... "debug". */
static int
json_lua_log(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	const char *name = luaL_checkstring(L, 1);
	const char *msg;
	size_t len;
	int level;

	if ((level = log_level_parse(name)) == -1)
		return luaL_error(L,
		    "agentd.log: unknown level '%s' (err, warn, notice, "
		    "info or debug)",
		    name);
	msg = luaL_tolstring(L, 2, &len);
	script_sandbox_log(s, level, msg, len);
	return 0;
}

/*
 * agentd.http_get(url): the body, or nil and why the fetch failed, by
 * the host's guarded fetch.
 */
static int
json_lua_http_get(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_result res;
	struct script_call call;
	struct script_box *b;
	const char *url;
	size_t len;
	int rc, nret = 2;

	url = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > 8192 || strlen(url) != len)
		return luaL_error(L,
		    "agentd.http_get: the URL must be 1 to "
		    "8192 bytes without NUL");
	if (s->host.http_get == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "agentd.http_get is not enabled");
		return 2;
	}
	b = script_box_push(L);
	memset(&res, 0, sizeof res);
	call.deadline_ns = s->deadline_ns;
	call.cancel = s->cancel;
	rc = s->host.http_get(s->host.arg, url, &call, &res, &b->cause);
	b->text = res.text;
	script_sandbox_check(L);
	if (rc == -1) {
		lua_pushnil(L);
		lua_pushstring(
		    L, b->cause != NULL ? b->cause : "agentd.http_get failed");
	} else if (b->text == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "agentd.http_get: no result");
	} else if (res.is_error) {
		lua_pushnil(L);
		lua_pushlstring(L, b->text, res.len);
	} else {
		lua_pushlstring(L, b->text, res.len);
		nret = 1;
	}
	script_box_clear(b);
	return nret;
}

void
script_json_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "json_encode", json_lua_encode },
		{ "json_decode", json_lua_decode },
		{ "array", json_lua_array },
		{ "log", json_lua_log },
		{ "http_get", json_lua_http_get },
		{ NULL, NULL },
	};

	/* The array marker; its metatable is hidden like every other. */
	lua_newtable(L);
	lua_pushliteral(L, "array");
	lua_setfield(L, -2, "__name");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &json_array_key);

	luaL_newlib(L, funcs);
	lua_pushlightuserdata(L, (void *)(uintptr_t)&json_null_key);
	lua_setfield(L, -2, "null");
}
