/*
 * tool.c: Lua tools.
 *
 * A tool file's chunk returns {name, description, parameters, run}.
 * Loading runs the chunk once to read and check the description, and
 * keeps the file's text; every call then runs the chunk again in a fresh
 * sandbox and calls run(args) there.  A fresh state per call costs a
 * fraction of a millisecond and buys what a shared one cannot: no state
 * survives a call, no call sees another's globals, and a call that is
 * stopped part way leaves nothing half-changed behind.
 */
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

struct script_tool {
	atomic_uint refs;
	char *name;
	char *description;
	char *path;
	char *chunkname; /* "=tool:<name>" */
	json_t *schema;
	char *source;
	size_t source_len;
	struct script_limits limits;
	struct script_host host;
};

/* What the protected functions work on. */
struct tool_job {
	const struct script_tool *t;
	const char *chunkname;
	const json_t *args;
};

static void tool_chunk_table(lua_State *, const struct tool_job *);
static int tool_describe(lua_State *);
static int tool_run(lua_State *);
static void tool_free(struct script_tool *);

/*
 * Runs the tool's chunk and leaves the table it returned on the stack,
 * raising unless it is a table.
 */
static void
tool_chunk_table(lua_State *L, const struct tool_job *job)
{
	script_sandbox_load(
	    L, job->t->source, job->t->source_len, job->chunkname);
	lua_call(L, 0, 1);
	if (!lua_istable(L, -1))
		luaL_error(L, "the file must return a table, not a %s value",
		    luaL_typename(L, -1));
}

/*
 * Reads and checks the description in protected mode, leaving the name,
 * the description and a box holding the schema on the stack.
 */
static int
tool_describe(lua_State *L)
{
	const struct tool_job *job = lua_touserdata(L, 1);
	struct script_box *b;
	const char *s;
	size_t len;
	int tbl;

	tool_chunk_table(L, job);
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

	b = script_box_push(L);
	switch (lua_getfield(L, tbl, "parameters")) {
	case LUA_TNIL:
		b->json = json_pack("{s:s, s:{}, s:[], s:b}", "type", "object",
		    "properties", "required", "additionalProperties", 0);
		break;
	case LUA_TTABLE:
		script_json_from(L, -1, SCRIPT_JSON_SCHEMA, &b->json);
		if (!json_is_object(b->json))
			return luaL_error(L,
			    "parameters must be a table with "
			    "string keys (a JSON Schema)");
		break;
	default:
		return luaL_error(L,
		    "parameters must be a table (a JSON "
		    "Schema), not a %s value",
		    luaL_typename(L, -1));
	}
	lua_pop(L, 1);

	if (lua_getfield(L, tbl, "run") != LUA_TFUNCTION)
		return luaL_error(L, "run must be a function, not a %s value",
		    luaL_typename(L, -1));
	lua_pop(L, 1);
	return 3;
}

struct script_tool *
script_tool_load(const char *path, const struct script_limits *limits,
    const struct script_host *host, char **cause)
{
	struct script_sandbox_opts opts;
	struct script_sandbox *s = NULL;
	struct script_tool *t;
	struct tool_job job;
	struct script_box *b;
	char *error = NULL;

	t = xcalloc(1, sizeof *t);
	atomic_init(&t->refs, 1);
	t->path = xstrdup(path);
	if (limits != NULL)
		t->limits = *limits;
	if (host != NULL)
		t->host = *host;
	t->source = script_file_read(path, &t->source_len, cause);
	if (t->source == NULL)
		goto fail;

	memset(&opts, 0, sizeof opts);
	opts.what = script_basename(path);
	opts.max_instructions = SCRIPT_LOAD_INSTRUCTIONS;
	opts.max_memory = t->limits.max_memory;
	opts.max_output = t->limits.max_output;
	opts.host = &t->host;
	if ((s = script_sandbox_new(&opts, &error)) == NULL)
		goto fail_error;

	memset(&job, 0, sizeof job);
	job.t = t;
	xasprintf(&t->chunkname, "=%s", script_basename(path));
	job.chunkname = t->chunkname;
	if (script_sandbox_call(s, tool_describe, &job, 3, &error) != 0)
		goto fail_error;
	t->name = xstrdup(lua_tostring(s->L, -3));
	t->description = xstrdup(lua_tostring(s->L, -2));
	b = lua_touserdata(s->L, -1);
	t->schema = b->json;
	b->json = NULL;
	lua_pop(s->L, 3);
	script_sandbox_free(s);

	free(t->chunkname);
	xasprintf(&t->chunkname, "=tool:%s", t->name);
	return t;

fail_error:
	xasprintf(cause, "%s: %s", path, error);
	free(error);
fail:
	script_sandbox_free(s);
	tool_free(t);
	return NULL;
}

static void
tool_free(struct script_tool *t)
{
	free(t->name);
	free(t->description);
	free(t->path);
	free(t->chunkname);
	json_decref(t->schema);
	free(t->source);
	free(t);
}

struct script_tool *
script_tool_ref(struct script_tool *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void
script_tool_unref(struct script_tool *t)
{
	if (t == NULL)
		return;
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		tool_free(t);
}

const char *
script_tool_name(const struct script_tool *t)
{
	return t->name;
}

const char *
script_tool_description(const struct script_tool *t)
{
	return t->description;
}

const json_t *
script_tool_schema(const struct script_tool *t)
{
	return t->schema;
}

const char *
script_tool_path(const struct script_tool *t)
{
	return t->path;
}

/*
 * One call in protected mode: the chunk, then run(args); leaves the
 * result's text and its error flag on the stack.
 */
static int
tool_run(lua_State *L)
{
	const struct tool_job *job = lua_touserdata(L, 1);
	struct script_box *b;
	size_t flags;

	tool_chunk_table(L, job);
	if (lua_getfield(L, -1, "run") != LUA_TFUNCTION)
		return luaL_error(L, "run must be a function, not a %s value",
		    luaL_typename(L, -1));
	if (job->args != NULL)
		script_json_push(L, job->args);
	else
		lua_newtable(L);
	lua_call(L, 1, 2);

	switch (lua_type(L, -2)) {
	case LUA_TSTRING:
		break;
	case LUA_TNUMBER:
		luaL_tolstring(L, -2, NULL);
		lua_replace(L, -3);
		break;
	case LUA_TTABLE:
		b = script_box_push(L);
		script_json_from(L, -3, 0, &b->json);
		flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
		b->text = json_dumps(b->json, flags);
		if (b->text == NULL)
			return luaL_error(L, "cannot encode run's result");
		lua_pushstring(L, b->text);
		script_box_clear(b);
		lua_replace(L, -4);
		lua_pop(L, 1);
		break;
	case LUA_TNIL:
		return luaL_error(L,
		    "run returned nothing; it must return "
		    "the result as a string");
	default:
		return luaL_error(L,
		    "run must return a string, a number or a "
		    "table, not a %s value",
		    luaL_typename(L, -2));
	}
	lua_pushboolean(L, lua_toboolean(L, -1));
	lua_replace(L, -2);
	return 2;
}

enum script_stop
script_tool_call(struct script_tool *t, const json_t *args,
    const struct script_call *call, struct script_result *res)
{
	struct script_sandbox_opts opts;
	struct script_sandbox *s;
	struct tool_job job;
	enum script_stop stop;
	char *error = NULL;
	const char *text;
	size_t len;

	memset(res, 0, sizeof *res);
	memset(&opts, 0, sizeof opts);
	opts.what = t->chunkname + 1;
	opts.max_instructions = t->limits.max_instructions;
	opts.max_memory = t->limits.max_memory;
	opts.max_output = t->limits.max_output;
	opts.host = &t->host;
	opts.call = call;
	if ((s = script_sandbox_new(&opts, &error)) == NULL) {
		res->text = error;
		res->len = strlen(error);
		res->is_error = 1;
		return SCRIPT_STOP_NONE;
	}

	memset(&job, 0, sizeof job);
	job.t = t;
	job.chunkname = t->chunkname;
	job.args = args;
	if (script_sandbox_call(s, tool_run, &job, 2, &error) != 0) {
		res->text = error;
		res->len = strlen(error);
		res->is_error = 1;
	} else {
		text = lua_tolstring(s->L, -2, &len);
		len = script_utf8_cut(text, len, s->max_output);
		res->text = xmalloc(len + 1);
		memcpy(res->text, text, len);
		res->text[len] = '\0';
		res->len = len;
		res->is_error = lua_toboolean(s->L, -1);
	}
	stop = s->stop;
	script_sandbox_free(s);
	return stop;
}
