/*
 * test-plugins-lua.c: Lua tools in the registry (plugins/lua-tools.c):
 * files that load and files that are left out (syntax errors, schemas
 * the registry refuses, names already taken, what is not a .lua file),
 * calls through the schema, limits and cancellation reaching the
 * sandbox, reloads that pick up an edited file while an old snapshot
 * keeps the old script, and the shipped examples in lua/examples.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins.h"
#include "tests/common/harness.h"

static void
put(const char *dir, const char *name, const char *text)
{
	char *path;

	xasprintf(&path, "%s/%s", dir, name);
	assert_int_equal(harness_write_file(path, text), 0);
	free(path);
}

/* A Lua tool file: name, description, extra schema text and run body. */
static char *
tool_text(const char *name, const char *desc, const char *schema_extra,
    const char *body)
{
	char *text;

	xasprintf(&text,
	    "return {\n"
	    "  name = \"%s\",\n"
	    "  description = \"%s\",\n"
	    "  parameters = {\n"
	    "    type = \"object\",\n"
	    "    properties = { s = { type = \"string\", maxLength = 8 } },\n"
	    "    required = { \"s\" },\n"
	    "    %s\n"
	    "  },\n"
	    "  run = function(args) %s end,\n"
	    "}\n",
	    name, desc, schema_extra, body);
	return text;
}

static void
put_tool(const char *dir, const char *file, const char *name, const char *desc,
    const char *schema_extra, const char *body)
{
	char *text = tool_text(name, desc, schema_extra, body);

	put(dir, file, text);
	free(text);
}

/* Calls tool name in s with args (JSON text). */
static int
call(struct plug_set *s, const char *name, const char *args,
    const atomic_int *cancel, struct plug_result *res, char **cause)
{
	struct plug_tool *t = plug_set_find(s, name);
	json_error_t jerr;
	json_t *a;
	int rc;

	if (t == NULL)
		fail_msg("no tool '%s'", name);
	a = json_loads(args, 0, &jerr);
	assert_non_null(a);
	*cause = NULL;
	rc = plug_tool_call(t, a, NULL, cancel, res, cause);
	json_decref(a);
	return rc;
}

static void
test_lua_tools(void **state)
{
	const char *add = "additionalProperties = false,";
	char dir[HARNESS_DIR_MAX], *cause = NULL, *sub, *line;
	const char *dirs[1];
	struct plug_provider prov;
	struct plug_config config;
	struct plug_registry *r;
	struct plug_result res;
	struct plug_set *s, *old;
	atomic_int cancel;

	(void)state;
	assert_int_equal(harness_tmpdir(dir), 0);
	put_tool(dir, "echo.lua", "echo", "Echoes s back.", add,
	    "return 'echo: ' .. args.s");
	put_tool(dir, "fails.lua", "fails", "Always fails.", add,
	    "return 'no luck', true");
	put_tool(dir, "raises.lua", "raises", "Raises an error.", add,
	    "error('boom')");
	put_tool(
	    dir, "spin.lua", "spin", "Never ends.", add, "while true do end");
	put_tool(dir, "open.lua", "open", "Schema allows anything.", "",
	    "return 'x'");
	put_tool(dir, "calc.lua", "calc", "Takes a built-in's name.", add,
	    "return 'x'");
	put_tool(dir, "echo2.lua", "echo", "Takes echo's name again.", add,
	    "return 'x'");
	put(dir, "broken.lua", "return {\n");
	put(dir, "notes.txt", "not a tool\n");
	xasprintf(&sub, "%s/folder.lua", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);

	memset(&config, 0, sizeof config);
	dirs[0] = dir;
	config.lua_dirs = dirs;
	config.n_lua_dirs = 1;
	config.lua_max_instructions = 100000;
	prov.name = "Lua tools";
	prov.collect = plug_lua_collect;
	prov.arg = NULL;
	r = plug_registry_new(&config, &prov, 1, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);

	/* calc (built-in), echo, fails, raises, spin. */
	line = plug_set_names(s);
	assert_string_equal(line, "calc, echo, fails, raises, spin");
	free(line);
	assert_int_equal(
	    plug_tool_source(plug_set_find(s, "echo")), PLUG_SOURCE_LUA);
	assert_int_equal(
	    plug_tool_source(plug_set_find(s, "calc")), PLUG_SOURCE_BUILTIN);
	assert_non_null(
	    strstr(plug_tool_origin(plug_set_find(s, "echo")), "/echo.lua"));
	line = plug_tool_prompt_line(plug_set_find(s, "echo"));
	assert_string_equal(line,
	    "echo: Echoes s back. Arguments: {\"additionalProperties\":false,"
	    "\"properties\":{\"s\":{\"maxLength\":8,\"type\":\"string\"}},"
	    "\"required\":[\"s\"],\"type\":\"object\"}");
	free(line);

	assert_int_equal(
	    call(s, "echo", "{\"s\":\"hi\"}", NULL, &res, &cause), 0);
	assert_string_equal(res.text, "echo: hi");
	assert_int_equal(res.is_error, 0);
	plug_result_clear(&res);

	/* The schema is checked before the script runs. */
	assert_int_equal(
	    call(s, "echo", "{\"s\":\"123456789\"}", NULL, &res, &cause), -1);
	assert_string_equal(cause,
	    "$.s: string of 9 characters is longer "
	    "than the maximum length 8");
	free(cause);

	assert_int_equal(
	    call(s, "fails", "{\"s\":\"\"}", NULL, &res, &cause), 0);
	assert_string_equal(res.text, "no luck");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);

	assert_int_equal(
	    call(s, "raises", "{\"s\":\"\"}", NULL, &res, &cause), 0);
	assert_int_equal(res.is_error, 1);
	assert_non_null(strstr(res.text, "boom"));
	plug_result_clear(&res);

	/* The instruction budget from the config reaches the sandbox. */
	assert_int_equal(
	    call(s, "spin", "{\"s\":\"\"}", NULL, &res, &cause), 0);
	assert_int_equal(res.is_error, 1);
	assert_string_equal(res.text, "instruction limit of 100000 exceeded");
	plug_result_clear(&res);

	atomic_init(&cancel, 1);
	assert_int_equal(
	    call(s, "echo", "{\"s\":\"x\"}", &cancel, &res, &cause), 0);
	assert_string_equal(res.text, "cancelled");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);

	/* An edit shows after a reload; the old snapshot keeps its script. */
	put_tool(dir, "echo.lua", "echo", "Echoes s loudly.", add,
	    "return 'ECHO: ' .. args.s");
	old = s;
	assert_int_equal(plug_registry_reload(r, NULL, &cause), 0);
	s = plug_registry_get(r);
	assert_string_equal(plug_tool_description(plug_set_find(s, "echo")),
	    "Echoes s loudly.");
	assert_int_equal(
	    call(s, "echo", "{\"s\":\"a\"}", NULL, &res, &cause), 0);
	assert_string_equal(res.text, "ECHO: a");
	plug_result_clear(&res);
	assert_int_equal(
	    call(old, "echo", "{\"s\":\"a\"}", NULL, &res, &cause), 0);
	assert_string_equal(res.text, "echo: a");
	plug_result_clear(&res);

	plug_set_unref(old);
	plug_set_unref(s);
	plug_registry_free(r);
	assert_int_equal(harness_rmtree(dir), 0);
}

/* The shipped examples load and run through the registry. */
static void
test_examples(void **state)
{
	struct plug_provider prov;
	struct plug_config config;
	struct plug_registry *r;
	struct plug_result res;
	struct plug_set *s;
	const char *dirs[2];
	char *examples, *cause = NULL;
	const char *src = getenv("AGENTD_SRCDIR");

	(void)state;
	xasprintf(&examples, "%s/lua/examples", src != NULL ? src : ".");
	memset(&config, 0, sizeof config);
	dirs[0] = examples;
	dirs[1] = "/nonexistent/lua";
	config.lua_dirs = dirs;
	config.n_lua_dirs = 2;
	prov.name = "Lua tools";
	prov.collect = plug_lua_collect;
	prov.arg = NULL;
	r = plug_registry_new(&config, &prov, 1, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	assert_non_null(plug_set_find(s, "word_count"));
	assert_int_equal(call(s, "word_count", "{\"text\":\"one two\\nthree\"}",
	                     NULL, &res, &cause),
	    0);
	assert_int_equal(res.is_error, 0);
	assert_string_equal(res.text, "3 words, 2 lines, 13 characters");
	plug_result_clear(&res);
	plug_set_unref(s);
	plug_registry_free(r);
	free(examples);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lua_tools),
		cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
