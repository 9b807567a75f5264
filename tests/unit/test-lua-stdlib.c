/*
 * test-lua-stdlib.c: the sandbox's own string.find, match, gmatch, gsub
 * (lua/pattern.c), string.rep, table.insert, remove and move
 * (lua/guard.c) against Lua's.
 *
 * tests/fixtures/lua/stdlib-diff.lua runs a corpus of fixed and random
 * subjects and patterns, and of table operations at every position,
 * through these functions and writes every result and error message as
 * text.  The test runs it as a sandboxed tool and in a plain Lua state
 * with the stock libraries and wants the same text from both.  The
 * corpus stays small enough for the stock versions to finish; the
 * pathological cases that only the sandbox can stop are in
 * test-lua-sandbox.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "daemon/util.h"
#include "lua/script.h"

static const char *
fixture(const char *name)
{
	static char path[4096];
	const char *src = getenv("AGENTD_SRCDIR");

	snprintf(path, sizeof path, "%s/tests/fixtures/lua/%s",
	    src != NULL ? src : ".", name);
	return path;
}

/*
 * Runs the corpus in the sandbox; returns its text (caller frees), which
 * may hold NUL bytes, and its length.
 */
static char *
run_sandboxed(size_t *len)
{
	struct script_limits limits = {
		.max_instructions = 2000000000ull,
		.max_memory = 256 * 1024 * 1024,
		.max_output = 64 * 1024 * 1024,
	};
	struct script_result res;
	struct script_tool *t;
	char *cause = NULL;
	json_t *args = json_object();

	t = script_tool_load(fixture("stdlib-diff.lua"), &limits, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(
	    script_tool_call(t, args, NULL, &res), SCRIPT_STOP_NONE);
	if (res.is_error)
		fail_msg("sandbox: %s", res.text);
	json_decref(args);
	script_tool_unref(t);
	*len = res.len;
	return res.text;
}

/* Runs the corpus with Lua's own libraries; returns its text. */
static char *
run_plain(size_t *len)
{
	lua_State *L = luaL_newstate();
	char *text, *cause = NULL;
	const char *out;

	assert_non_null(L);
	luaL_openlibs(L);
	text = NULL;
	{
		FILE *f = fopen(fixture("stdlib-diff.lua"), "rb");
		struct buf b;
		char chunk[4096];
		size_t n;

		assert_non_null(f);
		buf_init(&b, 1 << 20);
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			assert_int_equal(buf_add(&b, chunk, n), 0);
		fclose(f);
		/* The same chunk name, so that error locations agree. */
		if (luaL_loadbufferx(
		        L, b.data, b.len, "=tool:stdlib_diff", "t") != LUA_OK ||
		    lua_pcall(L, 0, 1, 0) != LUA_OK)
			cause = xstrdup(lua_tostring(L, -1));
		buf_free(&b);
	}
	if (cause != NULL)
		fail_msg("plain: %s", cause);
	lua_getfield(L, -1, "run");
	lua_newtable(L);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK)
		fail_msg("plain: %s", lua_tostring(L, -1));
	out = lua_tolstring(L, -1, len);
	assert_non_null(out);
	text = xmalloc(*len + 1);
	memcpy(text, out, *len + 1);
	lua_close(L);
	return text;
}

static void
test_same_as_lua(void **state)
{
	char *mine, *theirs;
	size_t lines = 0, mine_len, theirs_len, i, line;

	(void)state;
	mine = run_sandboxed(&mine_len);
	theirs = run_plain(&theirs_len);
	/* The corpus is big enough to mean something. */
	for (i = 0; i < theirs_len; i++)
		lines += theirs[i] == '\n';
	if (lines < 40000)
		fail_msg("only %zu lines", lines);
	if (mine_len != theirs_len || memcmp(mine, theirs, mine_len) != 0) {
		line = 0;
		for (i = 0; i < mine_len && i < theirs_len; i++) {
			if (mine[i] != theirs[i])
				break;
			if (mine[i] == '\n')
				line = i + 1;
		}
		fail_msg("first difference at byte %zu:\nsandbox: %.300s\n"
		         "lua:     %.300s",
		    i, mine + line, theirs + line);
	}
	free(mine);
	free(theirs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_lua),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
