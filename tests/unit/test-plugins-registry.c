/*
 * test-plugins-registry.c: the tool registry (plugins/registry.c): what a
 * tool may be named and described and which schemas it may carry, who
 * owns what, snapshots (order, lookup, prompt lines, tools.list), calls
 * (argument checks, output made UTF-8 and cut, cancellation, deadlines),
 * providers and duplicates, and reloads while other threads call tools.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins.h"

/* ---- a test tool --------------------------------------------------------- */

/* What the test tool does when called; counters are atomic. */
struct fake {
	atomic_int calls;
	atomic_int frees;
	const char *text; /* returned text (len bytes), NULL: none */
	size_t len;
	int is_error;
	atomic_int *set_cancel; /* set during the call */
	int sleep_ms;
	int saw_stopped; /* plug_call_stopped() after the sleep */
	size_t saw_max;
};

static void
fake_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	struct fake *f = impl;
	struct timespec ts;

	(void)args;
	atomic_fetch_add(&f->calls, 1);
	f->saw_max = call->max_output_bytes;
	if (f->set_cancel != NULL)
		atomic_store(f->set_cancel, 1);
	if (f->sleep_ms > 0) {
		ts.tv_sec = f->sleep_ms / 1000;
		ts.tv_nsec = (long)(f->sleep_ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	f->saw_stopped = plug_call_stopped(call);
	if (f->text == NULL)
		return;
	res->text = xmalloc(f->len + 1);
	memcpy(res->text, f->text, f->len);
	res->text[f->len] = '\0';
	res->len = f->len;
	res->is_error = f->is_error;
}

static void
fake_free(void *impl)
{
	struct fake *f = impl;

	atomic_fetch_add(&f->frees, 1);
}

static const struct plug_tool_ops fake_ops = {
	.call = fake_call,
	.free = fake_free,
};

static const char *const echo_schema =
    "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\","
    "\"description\":\"caf\xc3\xa9\"}},\"required\":[],"
    "\"additionalProperties\":false}";

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (v == NULL)
		fail_msg("bad JSON in the test: %s", jerr.text);
	return v;
}

/* Makes a tool or fails the test. */
static struct plug_tool *
make(const char *name, const char *schema, enum plug_source src,
    const char *origin, struct fake *f)
{
	json_t *s = parse(schema);
	struct plug_tool *t;
	char *cause = NULL;

	t = plug_tool_new(
	    name, "A test tool.", s, src, origin, &fake_ops, f, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	json_decref(s);
	return t;
}

/* Checks that plug_tool_new() refuses with exactly want. */
static void
expect_refused(
    const char *name, const char *desc, const char *schema, const char *want)
{
	struct fake f;
	json_t *s = parse(schema);
	char *cause = NULL;

	memset(&f, 0, sizeof f);
	assert_null(plug_tool_new(
	    name, desc, s, PLUG_SOURCE_C, NULL, &fake_ops, &f, &cause));
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", cause, want);
	free(cause);
	json_decref(s);
	/* The caller keeps impl: it was not freed. */
	assert_int_equal(atomic_load(&f.frees), 0);
}

static void
test_tool_new(void **state)
{
	const char *ok = echo_schema;

	(void)state;
	expect_refused("", "d", ok, "tool name is empty");
	expect_refused("9lives", "d", ok,
	    "tool '9lives': tool name must start with a letter");
	expect_refused("a b", "d", ok,
	    "tool 'a b': tool name has a character other than letters, "
	    "digits, '_', '.' and '-' at byte 2");
	expect_refused("x1234567890123456789012345678901234567890123456789012"
	               "345678901234",
	    "d", ok, "tool name 'x123456789012345...' is longer than 64 bytes");
	expect_refused("t", "", ok, "tool 't': description is empty");
	expect_refused("t", "two\nlines", ok,
	    "tool 't': description has a control character at byte 4 (it "
	    "must be one line)");
	expect_refused(
	    "t", "caf\xe9", ok, "tool 't': description is not UTF-8 (byte 4)");
	expect_refused(
	    "t", "d", "[]", "tool 't': the schema must be an object");
	expect_refused("t", "d",
	    "{\"type\":\"object\",\"properties\":{\"u\":{\"type\":\"string\","
	    "\"format\":\"uri\"}},\"required\":[],"
	    "\"additionalProperties\":false}",
	    "tool 't': schema.properties.u: unsupported keyword 'format'");
	expect_refused("t", "d",
	    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\","
	    "\"maximum\":0.5}},\"required\":[],"
	    "\"additionalProperties\":false}",
	    "tool 't': schema.properties.x.maximum: only integers are allowed "
	    "in a tool's schema, not 0.5");
	expect_refused("t", "d",
	    "{\"type\":\"array\",\"required\":[],"
	    "\"additionalProperties\":false}",
	    "tool 't': the schema must have \"type\": \"object\"");
	expect_refused("t", "d",
	    "{\"type\":\"object\",\"additionalProperties\":false}",
	    "tool 't': the schema must have \"required\" (it may be [])");
	expect_refused("t", "d", "{\"type\":\"object\",\"required\":[]}",
	    "tool 't': the schema must have \"additionalProperties\": false");
	expect_refused("t", "d",
	    "{\"type\":\"object\",\"required\":[],"
	    "\"additionalProperties\":true}",
	    "tool 't': the schema must have \"additionalProperties\": false");
}

static void
test_tool_refs(void **state)
{
	struct fake f;
	struct plug_tool *t;
	json_t *s = parse(echo_schema), *j;
	char *cause = NULL, *line, *dump;

	(void)state;
	memset(&f, 0, sizeof f);
	t = plug_tool_new("echo.v2-x_y", "Echoes caf\xc3\xa9.", s,
	    PLUG_SOURCE_LUA, "/srv/tools/echo.lua", &fake_ops, &f, &cause);
	assert_non_null(t);
	/* The tool keeps its own copy of the schema. */
	json_object_set_new(s, "title", json_string("changed"));
	json_decref(s);
	assert_null(json_object_get(plug_tool_schema(t), "title"));

	assert_string_equal(plug_tool_name(t), "echo.v2-x_y");
	assert_string_equal(plug_tool_description(t), "Echoes caf\xc3\xa9.");
	assert_int_equal(plug_tool_source(t), PLUG_SOURCE_LUA);
	assert_string_equal(plug_tool_origin(t), "/srv/tools/echo.lua");

	/* Sorted keys, compact, UTF-8 as is. */
	line = plug_tool_prompt_line(t);
	assert_string_equal(line,
	    "echo.v2-x_y: Echoes caf\xc3\xa9. Arguments: "
	    "{\"additionalProperties\":false,\"properties\":{\"s\":"
	    "{\"description\":\"caf\xc3\xa9\",\"type\":\"string\"}},"
	    "\"required\":[],\"type\":\"object\"}");
	free(line);

	j = plug_tool_json(t);
	dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump,
	    "{\"description\":\"Echoes caf\xc3\xa9.\",\"name\":\"echo.v2-x_y\","
	    "\"parameters\":{\"additionalProperties\":false,\"properties\":"
	    "{\"s\":{\"description\":\"caf\xc3\xa9\",\"type\":\"string\"}},"
	    "\"required\":[],\"type\":\"object\"},\"source\":\"lua\"}");
	free(dump);
	json_decref(j);

	plug_tool_ref(t);
	plug_tool_unref(t);
	assert_int_equal(atomic_load(&f.frees), 0);
	plug_tool_unref(t);
	assert_int_equal(atomic_load(&f.frees), 1);
	plug_tool_unref(NULL);

	assert_string_equal(plug_source_name(PLUG_SOURCE_BUILTIN), "builtin");
	assert_string_equal(plug_source_name(PLUG_SOURCE_C), "c");
	assert_string_equal(plug_source_name(PLUG_SOURCE_LUA), "lua");
}

/* Calls t with args (JSON text); returns rc, fills res and *cause. */
static int
call(struct plug_tool *t, const char *args, const struct plug_limits *lim,
    const atomic_int *cancel, struct plug_result *res, char **cause)
{
	json_t *a = parse(args);
	int rc;

	*cause = NULL;
	rc = plug_tool_call(t, a, lim, cancel, res, cause);
	json_decref(a);
	return rc;
}

static void
test_call(void **state)
{
	struct plug_limits lim;
	struct plug_result res;
	struct plug_tool *t;
	struct fake f;
	atomic_int cancel;
	char *cause;

	(void)state;
	memset(&f, 0, sizeof f);
	t = make("echo", echo_schema, PLUG_SOURCE_C, "/x/echo.so", &f);

	f.text = "plain";
	f.len = 5;
	assert_int_equal(call(t, "{\"s\":\"x\"}", NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "plain");
	assert_int_equal(res.len, 5);
	assert_int_equal(res.is_error, 0);
	assert_int_equal(res.truncated, 0);
	assert_int_equal(f.saw_max, PLUG_DEFAULT_MAX_OUTPUT);
	plug_result_clear(&res);

	/* Bad arguments: nothing runs. */
	assert_int_equal(call(t, "{\"s\":1}", NULL, NULL, &res, &cause), -1);
	assert_string_equal(cause, "$.s: expected string, got integer");
	free(cause);
	assert_int_equal(call(t, "{\"t\":1}", NULL, NULL, &res, &cause), -1);
	assert_string_equal(cause, "$: unexpected property 't'");
	free(cause);
	assert_int_equal(call(t, "[1]", NULL, NULL, &res, &cause), -1);
	assert_string_equal(cause, "arguments must be a JSON object");
	free(cause);
	assert_int_equal(plug_tool_call(t, NULL, NULL, NULL, &res, &cause), -1);
	free(cause);
	assert_int_equal(atomic_load(&f.calls), 1);

	/* Bytes that are not UTF-8, and NULs, become U+FFFD. */
	f.text = "a\xff"
	         "b\0c\xe2\x82";
	f.len = 7;
	assert_int_equal(call(t, "{}", NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text,
	    "a\xef\xbf\xbd"
	    "b\xef\xbf\xbd"
	    "c\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(res.len, strlen(res.text));
	plug_result_clear(&res);

	/* The cut never splits a character. */
	f.text = "abc\xe2\x82\xac"
	         "def";
	f.len = 9;
	memset(&lim, 0, sizeof lim);
	lim.max_output_bytes = 5;
	assert_int_equal(call(t, "{}", &lim, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "abc");
	assert_int_equal(res.truncated, 1);
	assert_int_equal(f.saw_max, 5);
	plug_result_clear(&res);
	lim.max_output_bytes = 6;
	assert_int_equal(call(t, "{}", &lim, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "abc\xe2\x82\xac");
	assert_int_equal(res.truncated, 1);
	plug_result_clear(&res);

	/* No text at all. */
	f.text = NULL;
	assert_int_equal(call(t, "{}", NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "tool returned no result");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);

	/* An error result passes through. */
	f.text = "it broke";
	f.len = 8;
	f.is_error = 1;
	assert_int_equal(call(t, "{}", NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "it broke");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);
	f.is_error = 0;

	/* Cancelled before: the tool does not run. */
	atomic_init(&cancel, 1);
	assert_int_equal(call(t, "{}", NULL, &cancel, &res, &cause), 0);
	assert_string_equal(res.text, "cancelled");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);
	assert_int_equal(atomic_load(&f.calls), 6);

	/* Cancelled during the call: its result is dropped. */
	atomic_store(&cancel, 0);
	f.set_cancel = &cancel;
	assert_int_equal(call(t, "{}", NULL, &cancel, &res, &cause), 0);
	assert_string_equal(res.text, "cancelled");
	assert_int_equal(res.is_error, 1);
	assert_int_equal(f.saw_stopped, 1);
	plug_result_clear(&res);
	f.set_cancel = NULL;

	/* The deadline is visible to the tool. */
	lim.max_output_bytes = 0;
	lim.timeout_ms = 20;
	f.sleep_ms = 60;
	assert_int_equal(call(t, "{}", &lim, NULL, &res, &cause), 0);
	assert_int_equal(f.saw_stopped, 1);
	plug_result_clear(&res);
	lim.timeout_ms = 10000;
	f.sleep_ms = 1;
	assert_int_equal(call(t, "{}", &lim, NULL, &res, &cause), 0);
	assert_int_equal(f.saw_stopped, 0);
	plug_result_clear(&res);

	/* Helpers. */
	plug_result_ok(&res, "fine");
	assert_string_equal(res.text, "fine");
	assert_int_equal(res.is_error, 0);
	plug_result_error(&res, "bad %d", 7);
	assert_string_equal(res.text, "bad 7");
	assert_int_equal(res.len, 5);
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);
	assert_null(res.text);
	plug_result_clear(NULL);

	plug_tool_unref(t);
	assert_int_equal(atomic_load(&f.frees), 1);
}

/* ---- providers ----------------------------------------------------------- */

/* A provider whose tools change with every build. */
struct prov {
	struct fake fake;
	int builds;
	char log[1024];
};

static void
prov_collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	struct prov *p = arg;
	struct plug_tool *t;
	char name[32], want[128], *cause = NULL;

	(void)config;
	p->builds++;
	snprintf(name, sizeof name, "gen%d", p->builds);
	assert_int_equal(
	    plug_build_add(b,
	        make(name, echo_schema, PLUG_SOURCE_C, "/p/a.so", &p->fake),
	        &cause),
	    0);
	assert_true(plug_build_has(b, name));
	assert_true(plug_build_has(b, "calc"));
	assert_false(plug_build_has(b, "nope"));
	/* Duplicates of a built-in and of itself are refused. */
	t = make("calc", echo_schema, PLUG_SOURCE_C, "/p/calc.so", &p->fake);
	assert_int_equal(plug_build_add(b, t, &cause), -1);
	snprintf(p->log, sizeof p->log, "%s", cause);
	free(cause);
	t = make(name, echo_schema, PLUG_SOURCE_LUA, "/p/x.lua", &p->fake);
	assert_int_equal(plug_build_add(b, t, &cause), -1);
	snprintf(want, sizeof want,
	    "tool '%s' from /p/x.lua is already defined by /p/a.so", name);
	assert_string_equal(cause, want);
	free(cause);
	t = make("alpha", echo_schema, PLUG_SOURCE_C, "/p/b.so", &p->fake);
	assert_int_equal(plug_build_add(b, t, &cause), 0);
}

/* A second provider, after the first: its "alpha" loses. */
static void
prov2_collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	struct prov *p = arg;
	char *cause = NULL;

	(void)config;
	p->builds++;
	assert_int_equal(plug_build_add(b,
	                     make("alpha", echo_schema, PLUG_SOURCE_LUA,
	                         "/l/alpha.lua", &p->fake),
	                     &cause),
	    -1);
	snprintf(p->log, sizeof p->log, "%s", cause);
	free(cause);
	assert_int_equal(plug_build_add(b,
	                     make("zeta", echo_schema, PLUG_SOURCE_LUA,
	                         "/l/zeta.lua", &p->fake),
	                     &cause),
	    0);
}

static void
test_snapshots(void **state)
{
	struct prov p1, p2;
	struct plug_provider provs[2];
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *s, *s2;
	const char *names[3];
	char *cause = NULL, *text;
	json_t *list;

	(void)state;
	memset(&p1, 0, sizeof p1);
	memset(&p2, 0, sizeof p2);
	provs[0].name = "C plugins";
	provs[0].collect = prov_collect;
	provs[0].arg = &p1;
	provs[1].name = "Lua tools";
	provs[1].collect = prov2_collect;
	provs[1].arg = &p2;
	memset(&config, 0, sizeof config);

	r = plug_registry_new(&config, provs, 2, &cause);
	assert_non_null(r);
	assert_string_equal(p1.log,
	    "tool 'calc' from /p/calc.so is already defined by the built-ins");
	assert_string_equal(p2.log,
	    "tool 'alpha' from /l/alpha.lua is already defined by "
	    "/p/b.so");
	s = plug_registry_get(r);
	assert_int_equal(plug_set_generation(s), 1);
	assert_int_equal(plug_set_count(s), 4);
	assert_string_equal(plug_tool_name(plug_set_tool(s, 0)), "alpha");
	assert_string_equal(plug_tool_name(plug_set_tool(s, 1)), "calc");
	assert_string_equal(plug_tool_name(plug_set_tool(s, 2)), "gen1");
	assert_string_equal(plug_tool_name(plug_set_tool(s, 3)), "zeta");
	assert_string_equal(
	    plug_tool_origin(plug_set_find(s, "alpha")), "/p/b.so");
	assert_int_equal(
	    plug_tool_source(plug_set_find(s, "calc")), PLUG_SOURCE_BUILTIN);
	assert_null(plug_tool_origin(plug_set_find(s, "calc")));
	assert_null(plug_set_find(s, "gen"));
	assert_null(plug_set_find(s, "zzz"));
	assert_null(plug_set_find(s, ""));

	text = plug_set_names(s);
	assert_string_equal(text, "alpha, calc, gen1, zeta");
	free(text);

	/* The {{tools}} block: all, or some, in name order. */
	text = plug_set_prompt(s, NULL, 0, &cause);
	assert_non_null(text);
	assert_int_equal(
	    strncmp(text, "alpha: A test tool. Arguments: {", 32), 0);
	assert_non_null(strstr(text, "}\ncalc: Evaluates an arithmetic "));
	assert_non_null(strstr(text, "}\ngen1: A test tool. Arguments: {"));
	assert_non_null(strstr(text, "}\nzeta: A test tool. Arguments: {"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	names[0] = "zeta";
	names[1] = "calc";
	names[2] = "zeta";
	text = plug_set_prompt(s, names, 3, &cause);
	assert_string_equal(text,
	    "calc: Evaluates an arithmetic expression with + - * / % ^ and "
	    "parentheses. Arguments: {\"additionalProperties\":false,"
	    "\"properties\":{\"expression\":{\"maxLength\":256,\"type\":"
	    "\"string\"}},\"required\":[\"expression\"],\"type\":\"object\"}\n"
	    "zeta: A test tool. Arguments: {\"additionalProperties\":false,"
	    "\"properties\":{\"s\":{\"description\":\"caf\xc3\xa9\",\"type\":"
	    "\"string\"}},\"required\":[],\"type\":\"object\"}\n");
	free(text);
	text = plug_set_prompt(s, names, 0, &cause);
	assert_string_equal(text, "");
	free(text);
	names[1] = "nope";
	assert_null(plug_set_prompt(s, names, 2, &cause));
	assert_string_equal(cause, "unknown tool 'nope'");
	free(cause);

	list = plug_set_list_json(s);
	assert_int_equal(json_array_size(json_object_get(list, "tools")), 4);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(list, "tools"), 3), "source")),
	    "lua");
	json_decref(list);

	/* A reload: new tools, the old snapshot keeps its own. */
	assert_int_equal(plug_registry_reload(r, NULL, &cause), 0);
	s2 = plug_registry_get(r);
	assert_int_equal(plug_set_generation(s2), 2);
	assert_non_null(plug_set_find(s2, "gen2"));
	assert_null(plug_set_find(s2, "gen1"));
	assert_non_null(plug_set_find(s, "gen1"));
	assert_null(plug_set_find(s, "gen2"));

	/* Tools die with the last snapshot holding them. */
	{
		int before = atomic_load(&p1.fake.frees);

		plug_set_unref(s);
		/* gen1 and alpha of build 1. */
		assert_int_equal(atomic_load(&p1.fake.frees), before + 2);
	}
	plug_set_unref(s2);
	plug_registry_free(r);
	/* Every tool made was freed exactly once. */
	assert_int_equal(atomic_load(&p1.fake.frees), 2 * 4);
	assert_int_equal(atomic_load(&p2.fake.frees), 2 * 2);
	plug_registry_free(NULL);
	plug_set_unref(NULL);
}

static void
test_config(void **state)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *s;
	const char *src;
	char *dir, *cause = NULL;
	const char *bad[1] = { NULL };

	(void)state;
	src = getenv("AGENTD_SRCDIR");
	xasprintf(&dir, "%s/tests/fixtures/kb", src != NULL ? src : ".");
	memset(&config, 0, sizeof config);
	config.kb_dir = dir;
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	/* The registry has its own copy of the config. */
	memset(dir, 'x', strlen(dir));
	assert_int_equal(plug_registry_reload(r, NULL, &cause), 0);
	s = plug_registry_get(r);
	assert_non_null(plug_set_find(s, "kb_search"));
	plug_set_unref(s);

	/* A new config: kb_search goes. */
	config.kb_dir = NULL;
	assert_int_equal(plug_registry_reload(r, &config, &cause), 0);
	s = plug_registry_get(r);
	assert_null(plug_set_find(s, "kb_search"));
	assert_int_equal(plug_set_count(s), 1);
	plug_set_unref(s);

	/* A config that cannot work: refused, the current one stays. */
	config.plugin_dirs = bad;
	config.n_plugin_dirs = 1;
	assert_int_equal(plug_registry_reload(r, &config, &cause), -1);
	assert_string_equal(cause, "plugin folder 1 is empty");
	free(cause);
	config.plugin_dirs = NULL;
	assert_int_equal(plug_registry_reload(r, &config, &cause), -1);
	assert_string_equal(cause, "plugin folder list is missing");
	free(cause);
	config.n_plugin_dirs = 0;
	config.kb_dir = "";
	assert_null(plug_registry_new(&config, NULL, 0, &cause));
	assert_string_equal(cause, "knowledge-base folder is an empty path");
	free(cause);
	s = plug_registry_get(r);
	assert_int_equal(plug_set_generation(s), 3);
	plug_set_unref(s);
	plug_registry_free(r);
	free(dir);
}

/* Adds one fake tool named "lim". */
static void
lim_collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	char *cause = NULL;

	(void)config;
	assert_int_equal(
	    plug_build_add(
	        b, make("lim", echo_schema, PLUG_SOURCE_C, NULL, arg), &cause),
	    0);
}

/* The config's output cap and time limit are every call's defaults. */
static void
test_config_limits(void **state)
{
	struct plug_provider prov;
	struct plug_config config;
	struct plug_registry *r;
	struct plug_result res;
	struct plug_limits lim;
	struct plug_set *s;
	struct fake f;
	char *cause = NULL;

	(void)state;
	memset(&f, 0, sizeof f);
	f.text = "0123456789";
	f.len = 10;
	prov.name = "limits";
	prov.collect = lim_collect;
	prov.arg = &f;
	memset(&config, 0, sizeof config);
	config.max_output_bytes = 4;
	config.call_timeout_ms = 20;
	r = plug_registry_new(&config, &prov, 1, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);

	f.sleep_ms = 60;
	assert_int_equal(
	    call(plug_set_find(s, "lim"), "{}", NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "0123");
	assert_int_equal(res.truncated, 1);
	assert_int_equal(f.saw_max, 4);
	assert_int_equal(f.saw_stopped, 1);
	plug_result_clear(&res);

	/* Limits given to the call win. */
	memset(&lim, 0, sizeof lim);
	lim.max_output_bytes = 100;
	lim.timeout_ms = 10000;
	assert_int_equal(
	    call(plug_set_find(s, "lim"), "{}", &lim, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "0123456789");
	assert_int_equal(res.truncated, 0);
	assert_int_equal(f.saw_stopped, 0);
	plug_result_clear(&res);

	plug_set_unref(s);
	plug_registry_free(r);
	assert_int_equal(atomic_load(&f.frees), 1);
}

/* ---- reloads while calls run --------------------------------------------- */

struct race {
	struct plug_registry *reg;
	atomic_int stop;
	atomic_int calls;
	atomic_int failures;
};

static void *
race_worker(void *arg)
{
	struct race *rc = arg;
	struct plug_result res;
	struct plug_tool *t;
	struct plug_set *s;
	char *cause;
	json_t *args = json_pack("{s:s}", "s", "x");

	while (!atomic_load(&rc->stop)) {
		s = plug_registry_get(rc->reg);
		/* Whatever generation this is, it has one "gen" tool. */
		t = plug_set_tool(s, 0);
		plug_tool_ref(t);
		plug_set_unref(s);
		/* Calls may outlive the snapshot they came from. */
		cause = NULL;
		if (plug_tool_call(t, args, NULL, NULL, &res, &cause) != 0 ||
		    strcmp(res.text, "ok") != 0)
			atomic_fetch_add(&rc->failures, 1);
		free(cause);
		plug_result_clear(&res);
		plug_tool_unref(t);
		atomic_fetch_add(&rc->calls, 1);
	}
	json_decref(args);
	return NULL;
}

static struct fake race_fake;

static void
race_collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	int *n = arg;
	char name[32], *cause = NULL;

	(void)config;
	/* "a..." sorts before "calc". */
	snprintf(name, sizeof name, "a%d", ++*n);
	assert_int_equal(
	    plug_build_add(b,
	        make(name, echo_schema, PLUG_SOURCE_C, NULL, &race_fake),
	        &cause),
	    0);
}

static void
test_reload_race(void **state)
{
	struct plug_provider prov;
	struct plug_config config;
	struct race rc;
	pthread_t th[4];
	char *cause = NULL;
	int n = 0, reloads = 50;

	(void)state;
	memset(&race_fake, 0, sizeof race_fake);
	race_fake.text = "ok";
	race_fake.len = 2;
	memset(&rc, 0, sizeof rc);
	prov.name = "race";
	prov.collect = race_collect;
	prov.arg = &n;
	memset(&config, 0, sizeof config);
	rc.reg = plug_registry_new(&config, &prov, 1, &cause);
	assert_non_null(rc.reg);
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, race_worker, &rc), 0);
	for (int i = 0; i < reloads; i++) {
		assert_int_equal(plug_registry_reload(rc.reg, NULL, &cause), 0);
		usleep(1000);
	}
	atomic_store(&rc.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	plug_registry_free(rc.reg);
	assert_int_equal(atomic_load(&rc.failures), 0);
	assert_true(atomic_load(&rc.calls) > 0);
	/* Every generation's tool was freed once, none early (ASan). */
	assert_int_equal(atomic_load(&race_fake.frees), reloads + 1);
	assert_int_equal(n, reloads + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tool_new),
		cmocka_unit_test(test_tool_refs),
		cmocka_unit_test(test_call),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_limits),
		cmocka_unit_test(test_reload_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
