/*
 * agent.c: Lua agents and their ctx.
 *
 * An agent file's chunk returns {name, description, run}.  Loading
 * checks it once and keeps the file's text; each run makes a fresh
 * sandbox, runs the chunk again and calls run(task, ctx).  ctx is a
 * read-only table of functions that reach the run through struct
 * script_ctx_ops: agent/ fills the callbacks, so lua/ never includes the
 * modules above it.
 *
 * Every ctx function checks its arguments strictly (unknown fields are
 * errors, so a misspelt "max_token" does not silently fall back to a
 * default), keeps C-heap results in a box until they are pushed, and
 * checks the deadline and the cancel flag as soon as its callback
 * returns.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "daemon/util.h"
#include "lua/script-int.h"
#include "lua/script.h"

/* Bounds on what a script may ask of ctx. */
#define CTX_MAX_STOP        16
#define CTX_MAX_TOOLS       256
#define CTX_MAX_TOKENS      1000000
#define CTX_MAX_STEPS       100
#define CTX_MAX_NAME        128
#define CTX_MAX_TEMPERATURE 10.0

struct script_agent {
	atomic_uint refs;
	char *name;
	char *description;
	char *path;
	char *chunkname; /* "=agent:<name>" */
	char *source;
	size_t source_len;
	struct script_limits limits;
	struct script_host host;
};

struct agent_job {
	const struct script_agent *a;
	const char *chunkname;
	const char *task;
};

static void agent_chunk_table(lua_State *, const struct agent_job *);
static int agent_describe(lua_State *);
static int agent_main(lua_State *);
static void agent_free(struct script_agent *);
static void agent_push_ctx(lua_State *);
static struct script_sandbox *ctx_need(lua_State *, const char *, int);
static void ctx_check_fields(
    lua_State *, int, const char *, const char *const *);
static const char *ctx_string(
    lua_State *, int, const char *, const char *, size_t, int);
static const char *const *ctx_strings(
    lua_State *, int, const char *, const char *, size_t, size_t *);
static lua_Integer ctx_integer(
    lua_State *, int, const char *, const char *, lua_Integer, lua_Integer);
static void ctx_gen_req(lua_State *, const char *, int, struct script_gen_req *,
    struct script_box *);
static int ctx_gen(lua_State *, int);
static int ctx_generate(lua_State *);
static int ctx_chat(lua_State *);
static int ctx_tool(lua_State *);
static int ctx_react(lua_State *);
static int ctx_strategy(lua_State *);
static int ctx_tools(lua_State *);
static int ctx_emit(lua_State *);
static int ctx_span(lua_State *);
static int ctx_fail(lua_State *, const char *, const char *);

/* ---- loading --------------------------------------------------------- */

static void
agent_chunk_table(lua_State *L, const struct agent_job *job)
{
	script_sandbox_load(
	    L, job->a->source, job->a->source_len, job->chunkname);
	lua_call(L, 0, 1);
	if (!lua_istable(L, -1))
		luaL_error(L, "the file must return a table, not a %s value",
		    luaL_typename(L, -1));
}

/* Checks the agent's table; leaves the name and the description. */
static int
agent_describe(lua_State *L)
{
	const struct agent_job *job = lua_touserdata(L, 1);
	const char *s;
	size_t len;
	int tbl;

	agent_chunk_table(L, job);
	tbl = lua_gettop(L);
	if (lua_getfield(L, tbl, "name") != LUA_TSTRING ||
	    !script_name_valid(lua_tostring(L, -1)))
		return luaL_error(L,
		    "name must be a string of 1 to 64 "
		    "characters from [A-Za-z0-9_.-] starting "
		    "with a letter");
	s = lua_getfield(L, tbl, "description") == LUA_TSTRING
	    ? lua_tolstring(L, -1, &len)
	    : NULL;
	if (s == NULL || len == 0 || len > 1024 || strlen(s) != len ||
	    strpbrk(s, "\r\n") != NULL || !utf8_valid(s, len))
		return luaL_error(L,
		    "description must be a non-empty string "
		    "on one line (UTF-8, at most 1024 bytes)");
	if (lua_getfield(L, tbl, "run") != LUA_TFUNCTION)
		return luaL_error(L, "run must be a function, not a %s value",
		    luaL_typename(L, -1));
	lua_pop(L, 1);
	return 2;
}

struct script_agent *
script_agent_load(const char *path, const struct script_limits *limits,
    const struct script_host *host, char **cause)
{
	struct script_sandbox_opts opts;
	struct script_sandbox *s = NULL;
	struct script_agent *a;
	struct agent_job job;
	char *error = NULL;

	a = xcalloc(1, sizeof *a);
	atomic_init(&a->refs, 1);
	a->path = xstrdup(path);
	if (limits != NULL)
		a->limits = *limits;
	if (host != NULL)
		a->host = *host;
	a->source = script_file_read(path, &a->source_len, cause);
	if (a->source == NULL)
		goto fail;

	memset(&opts, 0, sizeof opts);
	opts.what = script_basename(path);
	opts.max_instructions = SCRIPT_LOAD_INSTRUCTIONS;
	opts.max_memory = a->limits.max_memory;
	opts.max_output = a->limits.max_output;
	opts.host = &a->host;
	if ((s = script_sandbox_new(&opts, &error)) == NULL)
		goto fail_error;

	memset(&job, 0, sizeof job);
	job.a = a;
	xasprintf(&a->chunkname, "=%s", script_basename(path));
	job.chunkname = a->chunkname;
	if (script_sandbox_call(s, agent_describe, &job, 2, &error) != 0)
		goto fail_error;
	a->name = xstrdup(lua_tostring(s->L, -2));
	a->description = xstrdup(lua_tostring(s->L, -1));
	lua_pop(s->L, 2);
	script_sandbox_free(s);

	free(a->chunkname);
	xasprintf(&a->chunkname, "=agent:%s", a->name);
	return a;

fail_error:
	xasprintf(cause, "%s: %s", path, error);
	free(error);
fail:
	script_sandbox_free(s);
	agent_free(a);
	return NULL;
}

static void
agent_free(struct script_agent *a)
{
	free(a->name);
	free(a->description);
	free(a->path);
	free(a->chunkname);
	free(a->source);
	free(a);
}

struct script_agent *
script_agent_ref(struct script_agent *a)
{
	atomic_fetch_add(&a->refs, 1);
	return a;
}

void
script_agent_unref(struct script_agent *a)
{
	if (a == NULL)
		return;
	if (atomic_fetch_sub(&a->refs, 1) == 1)
		agent_free(a);
}

const char *
script_agent_name(const struct script_agent *a)
{
	return a->name;
}

const char *
script_agent_description(const struct script_agent *a)
{
	return a->description;
}

const char *
script_agent_path(const struct script_agent *a)
{
	return a->path;
}

/* ---- running ------------------------------------------------------------ */

/* One run in protected mode: run(task, ctx); leaves the answer. */
static int
agent_main(lua_State *L)
{
	const struct agent_job *job = lua_touserdata(L, 1);

	agent_chunk_table(L, job);
	if (lua_getfield(L, -1, "run") != LUA_TFUNCTION)
		return luaL_error(L, "run must be a function, not a %s value",
		    luaL_typename(L, -1));
	lua_pushstring(L, job->task);
	agent_push_ctx(L);
	lua_call(L, 2, 1);
	switch (lua_type(L, -1)) {
	case LUA_TSTRING:
		break;
	case LUA_TNUMBER:
		luaL_tolstring(L, -1, NULL);
		break;
	case LUA_TNIL:
		return luaL_error(L,
		    "run returned nothing; it must return "
		    "the answer as a string");
	default:
		return luaL_error(L,
		    "run must return the answer as a string, "
		    "not a %s value",
		    luaL_typename(L, -1));
	}
	return 1;
}

int
script_agent_run(struct script_agent *a, const char *task,
    const struct script_ctx_ops *ops, void *arg, const struct script_call *call,
    char **answer, enum script_stop *stop, char **cause)
{
	struct script_sandbox_opts opts;
	struct script_sandbox *s;
	struct agent_job job;
	char *error = NULL;
	const char *text;
	size_t len;
	int rc = -1;

	*answer = NULL;
	if (stop != NULL)
		*stop = SCRIPT_STOP_NONE;
	memset(&opts, 0, sizeof opts);
	opts.what = a->chunkname + 1;
	opts.max_instructions = a->limits.max_instructions;
	opts.max_memory = a->limits.max_memory;
	opts.max_output = a->limits.max_output;
	opts.host = &a->host;
	opts.call = call;
	if ((s = script_sandbox_new(&opts, cause)) == NULL)
		return -1;
	s->ops = ops;
	s->ops_arg = arg;

	memset(&job, 0, sizeof job);
	job.a = a;
	job.chunkname = a->chunkname;
	job.task = task;
	if (script_sandbox_call(s, agent_main, &job, 1, &error) != 0) {
		*cause = error;
		goto out;
	}
	text = lua_tolstring(s->L, -1, &len);
	if (!utf8_valid(text, len) || strlen(text) != len) {
		xasprintf(
		    cause, "%s: the answer is not valid UTF-8 text", s->what);
		goto out;
	}
	len = script_utf8_cut(text, len, s->max_output);
	*answer = xstrndup(text, len);
	rc = 0;
out:
	if (stop != NULL)
		*stop = s->stop;
	script_sandbox_free(s);
	return rc;
}

/* ---- ctx ------------------------------------------------------------------ */

static void
agent_push_ctx(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "generate", ctx_generate },
		{ "chat", ctx_chat },
		{ "tool", ctx_tool },
		{ "react", ctx_react },
		{ "strategy", ctx_strategy },
		{ "tools", ctx_tools },
		{ "emit", ctx_emit },
		{ "span", ctx_span },
		{ NULL, NULL },
	};

	luaL_newlib(L, funcs);
	script_sandbox_freeze(L, -1, "ctx");
	lua_remove(L, -2);
}

/*
 * Returns the sandbox when its ops provide the callback (present is
 * non-zero), else raises "ctx.NAME is not available".
 */
static struct script_sandbox *
ctx_need(lua_State *L, const char *name, int present)
{
	struct script_sandbox *s = script_sandbox_of(L);

	if (s->ops == NULL || !present)
		luaL_error(L, "ctx.%s is not available", name);
	return s;
}

/* Raises "ctx.NAME: why", why from a callback's cause. */
static int
ctx_fail(lua_State *L, const char *name, const char *why)
{
	return luaL_error(L, "ctx.%s: %s", name, why != NULL ? why : "failed");
}

/* Raises unless every key of the table at idx is in allowed. */
static void
ctx_check_fields(
    lua_State *L, int idx, const char *fn, const char *const *allowed)
{
	const char *const *a;

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "ctx.%s: the request has a %s key", fn,
			    luaL_typename(L, -1));
		for (a = allowed; *a != NULL; a++) {
			if (strcmp(*a, lua_tostring(L, -1)) == 0)
				break;
		}
		if (*a == NULL)
			luaL_error(L, "ctx.%s: unknown field '%s'", fn,
			    lua_tostring(L, -1));
	}
}

/*
 * Reads field key of the table at idx as a string of at most max bytes
 * without NUL, leaving it on the stack; NULL (and nil left) when absent
 * and not required.
 */
static const char *
ctx_string(lua_State *L, int idx, const char *fn, const char *key, size_t max,
    int required)
{
	const char *s;
	size_t len;

	if (lua_getfield(L, idx, key) == LUA_TNIL && !required)
		return NULL;
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "ctx.%s: %s must be a string", fn, key);
	s = lua_tolstring(L, -1, &len);
	if (len > max || strlen(s) != len)
		luaL_error(L, "ctx.%s: %s must be at most %I bytes without NUL",
		    fn, key, (lua_Integer)max);
	return s;
}

/*
 * Reads field key of the table at idx, nil, a string or an array of at
 * most max strings, into an array of borrowed pointers (*n of them;
 * NULL when absent).  The field's value and the array stay on the stack,
 * which keeps the strings alive.
 */
static const char *const *
ctx_strings(lua_State *L, int idx, const char *fn, const char *key, size_t max,
    size_t *n)
{
	const char **list;
	size_t len;
	int v;

	*n = 0;
	idx = lua_absindex(L, idx);
	lua_getfield(L, idx, key);
	v = lua_gettop(L);
	switch (lua_type(L, v)) {
	case LUA_TNIL:
		return NULL;
	case LUA_TSTRING:
		list = lua_newuserdatauv(L, sizeof *list, 0);
		list[0] = lua_tolstring(L, v, &len);
		if (strlen(list[0]) != len)
			luaL_error(
			    L, "ctx.%s: %s contains a NUL byte", fn, key);
		*n = 1;
		return list;
	case LUA_TTABLE:
		break;
	default:
		luaL_error(L,
		    "ctx.%s: %s must be a string or an array of "
		    "strings",
		    fn, key);
	}
	len = lua_rawlen(L, v);
	if (len > max)
		luaL_error(L, "ctx.%s: %s has more than %I entries", fn, key,
		    (lua_Integer)max);
	list = lua_newuserdatauv(L, (len != 0 ? len : 1) * sizeof *list, 0);
	for (size_t i = 0; i < len; i++) {
		size_t slen;

		if (lua_rawgeti(L, v, (lua_Integer)i + 1) != LUA_TSTRING)
			luaL_error(L, "ctx.%s: %s[%I] must be a string", fn,
			    key, (lua_Integer)i + 1);
		/* The table holds the string, so the pointer stays valid. */
		list[i] = lua_tolstring(L, -1, &slen);
		if (strlen(list[i]) != slen)
			luaL_error(L, "ctx.%s: %s[%I] contains a NUL byte", fn,
			    key, (lua_Integer)i + 1);
		lua_pop(L, 1);
	}
	*n = len;
	return list;
}

/* Reads an optional integer field in [min, max]; 0 when absent. */
static lua_Integer
ctx_integer(lua_State *L, int idx, const char *fn, const char *key,
    lua_Integer min, lua_Integer max)
{
	lua_Integer v;
	int isint;

	if (lua_getfield(L, idx, key) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	v = lua_tointegerx(L, -1, &isint);
	if (!isint || v < min || v > max)
		luaL_error(L, "ctx.%s: %s must be an integer from %I to %I", fn,
		    key, min, max);
	lua_pop(L, 1);
	return v;
}

/*
 * Fills req from the request table at index 1 (generate or chat),
 * leaving what it points to on the stack.
 */
static void
ctx_gen_req(lua_State *L, const char *fn, int chat, struct script_gen_req *req,
    struct script_box *b)
{
	static const char *const gen_fields[] = { "prompt", "max_tokens",
		"stop", "temperature", NULL };
	static const char *const chat_fields[] = { "messages", "max_tokens",
		"stop", "temperature", NULL };
	const json_t *m;
	size_t i;
	lua_Number t;

	memset(req, 0, sizeof *req);
	luaL_checktype(L, 1, LUA_TTABLE);
	ctx_check_fields(L, 1, fn, chat ? chat_fields : gen_fields);
	if (!chat)
		req->prompt = ctx_string(L, 1, fn, "prompt", SIZE_MAX, 1);
	else {
		if (lua_getfield(L, 1, "messages") != LUA_TTABLE)
			luaL_error(L,
			    "ctx.%s: messages must be an array of "
			    "{role=, content=} tables",
			    fn);
		script_json_from(L, -1, 0, &b->json);
		if (!json_is_array(b->json) || json_array_size(b->json) == 0)
			luaL_error(L,
			    "ctx.%s: messages must be a non-empty "
			    "array of {role=, content=} tables",
			    fn);
		json_array_foreach(b->json, i, m)
		{
			if (!json_is_object(m) || json_object_size(m) != 2 ||
			    !json_is_string(json_object_get(m, "role")) ||
			    !json_is_string(json_object_get(m, "content")))
				luaL_error(L,
				    "ctx.%s: messages[%I] must be a "
				    "{role=, content=} table of "
				    "strings",
				    fn, (lua_Integer)i + 1);
		}
		req->messages = b->json;
	}
	req->max_tokens =
	    (uint32_t)ctx_integer(L, 1, fn, "max_tokens", 1, CTX_MAX_TOKENS);
	req->stop = ctx_strings(L, 1, fn, "stop", CTX_MAX_STOP, &req->n_stop);
	for (i = 0; i < req->n_stop; i++) {
		if (req->stop[i][0] == '\0')
			luaL_error(
			    L, "ctx.%s: stop strings must not be empty", fn);
	}
	if (lua_getfield(L, 1, "temperature") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TNUMBER)
			luaL_error(
			    L, "ctx.%s: temperature must be a number", fn);
		t = lua_tonumber(L, -1);
		if (!(t >= 0 && t <= CTX_MAX_TEMPERATURE))
			luaL_error(L,
			    "ctx.%s: temperature must be from 0 to "
			    "10",
			    fn);
		req->has_temperature = 1;
		req->temperature = (double)t;
	}
	lua_pop(L, 1);
}

/* ctx.generate{} and ctx.chat{}: text, {finish=, ...}. */
static int
ctx_gen(lua_State *L, int chat)
{
	const char *fn = chat ? "chat" : "generate";
	struct script_sandbox *s;
	struct script_gen_req req;
	struct script_gen_res res;
	struct script_box *b;
	int rc;

	s = script_sandbox_of(L);
	ctx_need(L, fn,
	    s->ops != NULL &&
	        (chat ? s->ops->chat != NULL : s->ops->generate != NULL));
	lua_settop(L, 1);
	b = script_box_push(L);
	ctx_gen_req(L, fn, chat, &req, b);
	memset(&res, 0, sizeof res);
	if (chat)
		rc = s->ops->chat(s->ops_arg, &req, &res, &b->cause);
	else
		rc = s->ops->generate(s->ops_arg, &req, &res, &b->cause);
	b->text = res.text;
	script_sandbox_check(L);
	if (rc != 0)
		return ctx_fail(L, fn, b->cause);
	if (b->text == NULL)
		return ctx_fail(L, fn, "the model returned no text");
	lua_pushstring(L, b->text);
	lua_createtable(L, 0, 3);
	res.finish[sizeof res.finish - 1] = '\0';
	lua_pushstring(L, res.finish);
	lua_setfield(L, -2, "finish");
	lua_pushinteger(L, (lua_Integer)res.prompt_tokens);
	lua_setfield(L, -2, "prompt_tokens");
	lua_pushinteger(L, (lua_Integer)res.completion_tokens);
	lua_setfield(L, -2, "completion_tokens");
	script_box_clear(b);
	return 2;
}

static int
ctx_generate(lua_State *L)
{
	return ctx_gen(L, 0);
}

static int
ctx_chat(lua_State *L)
{
	return ctx_gen(L, 1);
}

/* ctx.tool(name [, args]): text, is_error. */
static int
ctx_tool(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_result res;
	struct script_box *b;
	const char *name;
	size_t len;
	int rc;

	s = ctx_need(L, "tool", s->ops != NULL && s->ops->tool != NULL);
	name = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > CTX_MAX_NAME || strlen(name) != len)
		return ctx_fail(L, "tool",
		    "the tool name must be 1 to 128 "
		    "bytes without NUL");
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	b = script_box_push(L);
	script_json_from(L, 2, 0, &b->json);
	if (!json_is_object(b->json))
		return ctx_fail(L, "tool",
		    "args must be a table with string "
		    "keys");
	memset(&res, 0, sizeof res);
	rc = s->ops->tool(s->ops_arg, name, b->json, &res, &b->cause);
	b->text = res.text;
	script_sandbox_check(L);
	if (rc != 0)
		return ctx_fail(L, "tool", b->cause);
	if (b->text == NULL)
		return ctx_fail(L, "tool", "the tool returned no result");
	lua_pushlstring(L, b->text, res.len);
	lua_pushboolean(L, res.is_error);
	script_box_clear(b);
	return 2;
}

/* ctx.react{input=, tools=, max_steps=}: the loop's result table. */
static int
ctx_react(lua_State *L)
{
	static const char *const fields[] = { "input", "tools", "max_steps",
		NULL };
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_react_req req;
	struct script_box *b;
	int rc;

	s = ctx_need(L, "react", s->ops != NULL && s->ops->react != NULL);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	b = script_box_push(L);
	memset(&req, 0, sizeof req);
	ctx_check_fields(L, 1, "react", fields);
	req.input = ctx_string(L, 1, "react", "input", SIZE_MAX, 1);
	req.tools =
	    ctx_strings(L, 1, "react", "tools", CTX_MAX_TOOLS, &req.n_tools);
	req.max_steps =
	    (uint32_t)ctx_integer(L, 1, "react", "max_steps", 1, CTX_MAX_STEPS);
	rc = s->ops->react(s->ops_arg, &req, &b->json, &b->cause);
	script_sandbox_check(L);
	if (rc != 0)
		return ctx_fail(L, "react", b->cause);
	if (!json_is_object(b->json))
		return ctx_fail(L, "react", "the loop returned no result");
	script_json_push(L, b->json);
	script_box_clear(b);
	return 1;
}

/*
 * ctx.strategy{name=, input=, tools=, max_steps=, ...}: the strategy's
 * result table.  The fields but input, tools and max_steps make the
 * strategy object, which the host checks.
 */
static int
ctx_strategy(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_react_req req;
	struct script_box *b, *st;
	const char *key;
	int rc;

	s = ctx_need(L, "strategy", s->ops != NULL && s->ops->strategy != NULL);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	b = script_box_push(L);
	st = script_box_push(L);
	memset(&req, 0, sizeof req);
	/* String keys only, so that the table converts to an object. */
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "ctx.strategy: the request has a %s key",
			    luaL_typename(L, -1));
	}
	ctx_string(L, 1, "strategy", "name", CTX_MAX_NAME, 1);
	req.input = ctx_string(L, 1, "strategy", "input", SIZE_MAX, 1);
	req.tools =
	    ctx_strings(L, 1, "strategy", "tools", CTX_MAX_TOOLS, &req.n_tools);
	req.max_steps = (uint32_t)ctx_integer(
	    L, 1, "strategy", "max_steps", 1, CTX_MAX_STEPS);
	script_json_from(L, 1, 0, &st->json);
	if (!json_is_object(st->json))
		return ctx_fail(L, "strategy", "the request must be a table");
	for (size_t i = 0; i < 3; i++) {
		key = i == 0 ? "input" : i == 1 ? "tools" : "max_steps";
		json_object_del(st->json, key);
	}
	rc = s->ops->strategy(s->ops_arg, &req, st->json, &b->json, &b->cause);
	script_sandbox_check(L);
	if (rc != 0)
		return ctx_fail(L, "strategy", b->cause);
	if (!json_is_object(b->json))
		return ctx_fail(
		    L, "strategy", "the strategy returned no result");
	script_json_push(L, b->json);
	script_box_clear(b);
	script_box_clear(st);
	return 1;
}

/* ctx.tools(): {{name=, description=, parameters=}, ...}. */
static int
ctx_tools(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_box *b;

	s = ctx_need(L, "tools", s->ops != NULL && s->ops->tools != NULL);
	lua_settop(L, 0);
	b = script_box_push(L);
	b->json = s->ops->tools(s->ops_arg, &b->cause);
	script_sandbox_check(L);
	if (b->json == NULL)
		return ctx_fail(L, "tools", b->cause);
	if (!json_is_array(b->json))
		return ctx_fail(L, "tools", "the host returned no list");
	script_json_push(L, b->json);
	script_box_clear(b);
	return 1;
}

/* ctx.emit{type=, ...}: one agent.event. */
static int
ctx_emit(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_box *b;
	json_t *event;
	int rc;

	s = ctx_need(L, "emit", s->ops != NULL && s->ops->emit != NULL);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	b = script_box_push(L);
	script_json_from(L, 1, 0, &b->json);
	if (!json_is_object(b->json) ||
	    !json_is_string(json_object_get(b->json, "type")))
		return ctx_fail(L, "emit",
		    "the event must be a table with a "
		    "string field 'type'");
	event = b->json;
	b->json = NULL;
	rc = s->ops->emit(s->ops_arg, event, &b->cause);
	script_sandbox_check(L);
	if (rc != 0)
		return ctx_fail(L, "emit", b->cause);
	return 0;
}

/*
 * ctx.span(name, fn, ...): fn(...) inside a trace span.  span_end() runs
 * exactly once whatever fn does, including raising, yielding (refused
 * here: "attempt to yield across a C-call boundary") or tripping a
 * limit; fn's error is then raised again.
 */
static int
ctx_span(lua_State *L)
{
	struct script_sandbox *s = script_sandbox_of(L);
	struct script_box *b;
	const char *name, *msg;
	char fallback[64];
	void *span = NULL;
	size_t len;
	int n, base, status;

	s = ctx_need(L, "span",
	    s->ops != NULL && s->ops->span_begin != NULL &&
	        s->ops->span_end != NULL);
	name = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > CTX_MAX_NAME || strlen(name) != len)
		return ctx_fail(L, "span",
		    "the span name must be 1 to 128 "
		    "bytes without NUL");
	luaL_checktype(L, 2, LUA_TFUNCTION);
	n = lua_gettop(L);
	/* Everything that may raise happens before the span begins. */
	b = script_box_push(L);
	luaL_checkstack(L, n, "ctx.span: too many arguments");
	base = lua_gettop(L);
	for (int i = 2; i <= n; i++)
		lua_pushvalue(L, i);
	if (s->ops->span_begin(s->ops_arg, name, &span, &b->cause) != 0) {
		script_sandbox_check(L);
		return ctx_fail(L, "span", b->cause);
	}
	status = lua_pcall(L, n - 2, LUA_MULTRET, 0);
	if (status != LUA_OK) {
		if (s->stop != SCRIPT_STOP_NONE)
			msg = s->stopmsg;
		else if (lua_type(L, -1) == LUA_TSTRING)
			msg = lua_tostring(L, -1);
		else {
			snprintf(fallback, sizeof fallback,
			    "(error object is a %s value)",
			    luaL_typename(L, -1));
			msg = fallback;
		}
		s->ops->span_end(s->ops_arg, span, msg);
		return lua_error(L);
	}
	s->ops->span_end(s->ops_arg, span, NULL);
	script_sandbox_check(L);
	return lua_gettop(L) - base;
}
