/*
 * test-lua-sandbox.c: escape and abuse attempts against the Lua sandbox
 * (lua/sandbox.c), each ending with its own asserted error while the host
 * goes on working.
 *
 * Every hostile script is a Lua tool in tests/fixtures/lua/.  Each case
 * loads one, calls it, checks the error text and the stop reason, and
 * then calls the word_count example to show that the process and the
 * next call are unharmed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "daemon/util.h"
#include "lua/script.h"

/* Limits for the hostile scripts: small, so that the tests are quick. */
#define TEST_INSTRUCTIONS 1000000
#define TEST_MEMORY       (8 * 1024 * 1024)

struct hostile {
	const char *file;
	const char *want; /* a part of the error text */
	enum script_stop stop;
};

static const struct hostile hostile_cases[] = {
	{ "os-execute.lua", "attempt to call a nil value (field 'execute')",
	    SCRIPT_STOP_NONE },
	{ "os-exit.lua", "attempt to call a nil value (field 'exit')",
	    SCRIPT_STOP_NONE },
	{ "io-open.lua", "undefined global 'io'", SCRIPT_STOP_NONE },
	{ "package-loadlib.lua", "undefined global 'package'",
	    SCRIPT_STOP_NONE },
	{ "require.lua", "undefined global 'require'", SCRIPT_STOP_NONE },
	{ "debug-registry.lua", "undefined global 'debug'", SCRIPT_STOP_NONE },
	{ "string-dump.lua", "attempt to call a nil value (field 'dump')",
	    SCRIPT_STOP_NONE },
	{ "load-binary.lua", "attempt to load a binary chunk (mode is 't')",
	    SCRIPT_STOP_NONE },
	{ "load-mode-b.lua", "load: only text chunks (mode \"t\") are allowed",
	    SCRIPT_STOP_NONE },
	{ "load-escape.lua", "undefined global 'io'", SCRIPT_STOP_NONE },
	{ "string-metatable.lua", "attempt to modify a protected metatable",
	    SCRIPT_STOP_NONE },
	{ "string-metatable-rawset.lua", "rawset: the table is read-only",
	    SCRIPT_STOP_NONE },
	{ "setmetatable-env.lua", "cannot change a protected metatable",
	    SCRIPT_STOP_NONE },
	{ "env-base.lua", "attempt to index a nil value (local 'base')",
	    SCRIPT_STOP_NONE },
	{ "setmetatable-library.lua", "cannot change a protected metatable",
	    SCRIPT_STOP_NONE },
	{ "rawset-frozen.lua", "rawset: the table is read-only",
	    SCRIPT_STOP_NONE },
	{ "assign-frozen.lua", "attempt to modify read-only table 'string'",
	    SCRIPT_STOP_NONE },
	{ "pcall-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "goto-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "xpcall-handler-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "close-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "coroutine-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "error-tostring-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "pattern-bomb.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "pattern-bomb-gsub.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "c-work-loop.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "table-move.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "table-insert-len.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "table-remove-border.lua", "instruction limit of 1000000 exceeded",
	    SCRIPT_STOP_INSTRUCTIONS },
	{ "gc-finalizer.lua", "setmetatable: __gc metamethods are not allowed",
	    SCRIPT_STOP_NONE },
	{ "memory-rep.lua", "memory limit of 8388608 bytes exceeded",
	    SCRIPT_STOP_MEMORY },
	{ "memory-table.lua", "memory limit of 8388608 bytes exceeded",
	    SCRIPT_STOP_MEMORY },
	{ "memory-concat.lua", "memory limit of 8388608 bytes exceeded",
	    SCRIPT_STOP_MEMORY },
	{ "c-recursion.lua", "stack overflow", SCRIPT_STOP_NONE },
	{ "error-table.lua", "(error object is a table value)",
	    SCRIPT_STOP_NONE },
	{ "error-tostring-error.lua", "(error object is a table value)",
	    SCRIPT_STOP_NONE },
	{ "error-tostring.lua", "custom failure", SCRIPT_STOP_NONE },
	{ "yield-outside.lua", "attempt to yield from outside a coroutine",
	    SCRIPT_STOP_NONE },
	{ "yield-across.lua", "attempt to yield across a C-call boundary",
	    SCRIPT_STOP_NONE },
	{ "collectgarbage-stop.lua",
	    "collectgarbage: only \"count\" is allowed, not \"stop\"",
	    SCRIPT_STOP_NONE },
	{ "undefined-global.lua", "undefined global 'no_such_thing'",
	    SCRIPT_STOP_NONE },
};

/* Returns srcdir/rel in a static buffer. */
static const char *
src_path(const char *rel)
{
	static char path[4096];
	const char *src = getenv("AGENTD_SRCDIR");

	snprintf(path, sizeof path, "%s/%s", src != NULL ? src : ".", rel);
	return path;
}

static struct script_tool *
load_tool(const char *rel, const struct script_limits *limits)
{
	struct script_tool *t;
	char *cause = NULL;

	t = script_tool_load(src_path(rel), limits, NULL, &cause);
	if (t == NULL)
		fail_msg("%s: %s", rel, cause);
	return t;
}

static struct script_tool *
load_fixture(const char *file, const struct script_limits *limits)
{
	char rel[256];

	snprintf(rel, sizeof rel, "tests/fixtures/lua/%s", file);
	return load_tool(rel, limits);
}

/* Calls t with args (JSON text) and returns the stop reason. */
static enum script_stop
call_tool(struct script_tool *t, const char *args,
    const struct script_call *call, struct script_result *res)
{
	json_t *v = json_loads(args, 0, NULL);
	enum script_stop stop;

	assert_non_null(v);
	stop = script_tool_call(t, v, call, res);
	json_decref(v);
	assert_non_null(res->text);
	assert_int_equal(strlen(res->text), res->len);
	return stop;
}

/* The host still works: a normal tool gives its normal answer. */
static void
assert_host_works(void)
{
	struct script_tool *t = load_tool("lua/examples/word_count.lua", NULL);
	struct script_result res;

	assert_int_equal(
	    call_tool(t, "{\"text\": \"still alive\\nok\"}", NULL, &res),
	    SCRIPT_STOP_NONE);
	if (res.is_error)
		fail_msg("word_count: %s", res.text);
	assert_string_equal(res.text, "3 words, 2 lines, 14 characters");
	script_result_clear(&res);
	script_tool_unref(t);
}

static void
test_hostile(void **state)
{
	struct script_limits limits = {
		.max_instructions = TEST_INSTRUCTIONS,
		.max_memory = TEST_MEMORY,
	};
	size_t n = sizeof hostile_cases / sizeof hostile_cases[0];

	(void)state;
	/* The issue asks for at least 15 distinct attempts. */
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		const struct hostile *h = &hostile_cases[i];
		struct script_tool *t = load_fixture(h->file, &limits);
		struct script_result res;
		enum script_stop stop;

		stop = call_tool(t, "{}", NULL, &res);
		if (getenv("TEST_VERBOSE") != NULL)
			print_message("%s: %s\n", h->file, res.text);
		if (!res.is_error || strstr(res.text, h->want) == NULL ||
		    stop != h->stop)
			fail_msg("%s: got \"%s\" (error %d, stop %s); want "
			         "\"%s\" (stop %s)",
			    h->file, res.text, res.is_error,
			    script_stop_name(stop), h->want,
			    script_stop_name(h->stop));
		script_result_clear(&res);
		script_tool_unref(t);
		assert_host_works();
	}
	/* Nothing an attempt did left a trace outside the sandbox. */
	assert_int_equal(access("/tmp/agentd-lua-escape", F_OK), -1);
}

/*
 * Plain unbounded recursion ends in Lua's "stack overflow", given the
 * memory to reach Lua's own stack limit; with less memory the memory
 * limit ends it first.  Either way the host goes on.
 */
static void
test_deep_recursion(void **state)
{
	struct script_limits big = { .max_memory = 256 * 1024 * 1024 };
	struct script_limits small = { .max_memory = TEST_MEMORY };
	struct script_result res;
	struct script_tool *t;

	(void)state;
	t = load_fixture("deep-recursion.lua", &big);
	assert_int_equal(call_tool(t, "{}", NULL, &res), SCRIPT_STOP_NONE);
	assert_true(res.is_error);
	if (strstr(res.text, "stack overflow") == NULL)
		fail_msg("got %s", res.text);
	script_result_clear(&res);
	script_tool_unref(t);

	t = load_fixture("deep-recursion.lua", &small);
	assert_int_equal(call_tool(t, "{}", NULL, &res), SCRIPT_STOP_MEMORY);
	assert_true(res.is_error);
	assert_string_equal(res.text, "memory limit of 8388608 bytes exceeded");
	script_result_clear(&res);
	script_tool_unref(t);
	assert_host_works();
}

/* An empty string repeated any number of times is empty, at once. */
static void
test_rep_empty(void **state)
{
	struct script_result res;
	struct script_tool *t;
	uint64_t start = clock_mono_ns();

	(void)state;
	t = load_fixture("rep-empty.lua", NULL);
	assert_int_equal(call_tool(t, "{}", NULL, &res), SCRIPT_STOP_NONE);
	assert_false(res.is_error);
	assert_string_equal(res.text, "lengths 0 0");
	assert_true(clock_mono_ns() - start < 5000 * 1000000ull);
	script_result_clear(&res);
	script_tool_unref(t);
}

/* The deadline stops a loop that has instructions to spare. */
static void
test_timeout(void **state)
{
	struct script_limits limits = { .max_instructions = UINT64_MAX / 2 };
	struct script_call call = { 0 };
	struct script_result res;
	struct script_tool *t;
	uint64_t start;

	(void)state;
	t = load_fixture("slow.lua", &limits);
	start = clock_mono_ns();
	call.deadline_ns = start + 100 * 1000000ull;
	assert_int_equal(call_tool(t, "{}", &call, &res), SCRIPT_STOP_TIMEOUT);
	assert_true(res.is_error);
	assert_string_equal(res.text, "timed out");
	/* Stopped soon after the deadline, not at some later point. */
	assert_true(clock_mono_ns() - start < 5000 * 1000000ull);
	script_result_clear(&res);
	script_tool_unref(t);
	assert_host_works();
}

struct canceller {
	atomic_int flag;
	unsigned int delay_ms;
};

static void *
cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = {
		.tv_sec = c->delay_ms / 1000,
		.tv_nsec = (long)(c->delay_ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
	atomic_store(&c->flag, 1);
	return NULL;
}

/* Another thread's cancel flag stops a running script. */
static void
test_cancel(void **state)
{
	struct script_limits limits = { .max_instructions = UINT64_MAX / 2 };
	struct canceller c = { .delay_ms = 50 };
	struct script_call call = { 0 };
	struct script_result res;
	struct script_tool *t;
	pthread_t thread;

	(void)state;
	atomic_init(&c.flag, 0);
	t = load_fixture("slow.lua", &limits);
	call.cancel = &c.flag;
	assert_int_equal(pthread_create(&thread, NULL, cancel_later, &c), 0);
	assert_int_equal(
	    call_tool(t, "{}", &call, &res), SCRIPT_STOP_CANCELLED);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_true(res.is_error);
	assert_string_equal(res.text, "cancelled");
	script_result_clear(&res);

	/* A flag already set stops the call before its first hook. */
	assert_int_equal(
	    call_tool(t, "{}", &call, &res), SCRIPT_STOP_CANCELLED);
	script_result_clear(&res);
	script_tool_unref(t);
	assert_host_works();
}

/* lua_dump() writer for the bytecode tests. */
static int
dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct buf *b = ud;

	(void)L;
	return buf_add(b, p, sz);
}

/* Compiles a chunk with an unrestricted Lua into bytecode. */
static void
make_bytecode(const char *source, struct buf *out)
{
	lua_State *L = luaL_newstate();

	assert_non_null(L);
	buf_init(out, 1 << 20);
	assert_int_equal(luaL_loadstring(L, source), LUA_OK);
	assert_int_equal(lua_dump(L, dump_writer, out, 0), 0);
	lua_close(L);
	assert_true(out->len > 4);
	assert_int_equal(out->data[0], 0x1b);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Precompiled chunks are refused, both as a tool file and as a string
 * handed to load() from inside the sandbox.
 */
static void
test_bytecode(void **state)
{
	char dir[] = "/tmp/agentd-lua-XXXXXX";
	char path[256];
	struct buf bc, src;
	struct script_tool *t;
	struct script_result res;
	char *cause = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));

	/* A real tool, compiled: the loader refuses the file. */
	make_bytecode("return { name = \"bc\", description = \"Bytecode.\", "
	              "run = function() return \"ran\" end }",
	    &bc);
	snprintf(path, sizeof path, "%s/bc.lua", dir);
	write_file(path, bc.data, bc.len);
	assert_null(script_tool_load(path, NULL, NULL, &cause));
	assert_non_null(cause);
	if (strstr(cause, "attempt to load a binary chunk (mode is 't')") ==
	    NULL)
		fail_msg("got %s", cause);
	assert_non_null(strstr(cause, path));
	free(cause);
	cause = NULL;
	assert_int_equal(unlink(path), 0);

	/* The same bytes as a string literal given to load(). */
	buf_init(&src, 1 << 20);
	buf_puts(&src,
	    "return { name = \"bc_load\", description = \"Loads "
	    "bytecode.\", run = function() local f, err = load(\"");
	for (size_t i = 0; i < bc.len; i++)
		buf_printf(&src, "\\%03u", (unsigned char)bc.data[i]);
	buf_puts(&src,
	    "\") if f == nil then error(err, 0) end return f() "
	    "end }\n");
	snprintf(path, sizeof path, "%s/bc_load.lua", dir);
	write_file(path, src.data, src.len);
	t = script_tool_load(path, NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(call_tool(t, "{}", NULL, &res), SCRIPT_STOP_NONE);
	assert_true(res.is_error);
	assert_string_equal(
	    res.text, "attempt to load a binary chunk (mode is 't')");
	script_result_clear(&res);
	script_tool_unref(t);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	buf_free(&bc);
	buf_free(&src);
	assert_host_works();
}

/* A file whose chunk never returns is refused at load time. */
static void
test_load_loop(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_null(script_tool_load(
	    src_path("tests/fixtures/lua/load-loop.lua"), NULL, NULL, &cause));
	assert_non_null(cause);
	if (strstr(cause,
	        "load-loop.lua: instruction limit of 1000000 "
	        "exceeded") == NULL)
		fail_msg("got %s", cause);
	free(cause);
	assert_host_works();
}

/*
 * What the sandbox holds: exactly the chosen libraries and functions,
 * read from inside a script.
 */
static void
test_inventory(void **state)
{
	static const char script[] =
	    "return { name = \"inventory\", description = \"Lists.\",\n"
	    "run = function()\n"
	    "  local out = {}\n"
	    "  for _, lib in ipairs({ 'string', 'table', 'math', 'utf8',\n"
	    "      'coroutine', 'os', 'agentd' }) do\n"
	    "    local names = {}\n"
	    "    for k in pairs(_ENV[lib]) do names[#names + 1] = k end\n"
	    "    table.sort(names)\n"
	    "    out[#out + 1] = lib .. ': ' .. table.concat(names, ' ')\n"
	    "  end\n"
	    "  local present = {}\n"
	    "  for _, g in ipairs({ 'assert', 'collectgarbage', 'dofile',\n"
	    "      'error', 'getmetatable', 'ipairs', 'load', 'loadfile',\n"
	    "      'next', 'pairs', 'pcall', 'print', 'rawequal', 'rawget',\n"
	    "      'rawlen', 'rawset', 'require', 'select', 'setmetatable',\n"
	    "      'tonumber', 'tostring', 'type', 'warn', 'xpcall',\n"
	    "      'io', 'package', 'debug', '_G', '_VERSION' }) do\n"
	    "    local ok = pcall(function() return _ENV[g] end)\n"
	    "    present[#present + 1] = g .. '=' .. (ok and 'y' or 'n')\n"
	    "  end\n"
	    "  out[#out + 1] = table.concat(present, ' ')\n"
	    "  return table.concat(out, '\\n')\n"
	    "end }\n";
	static const char want[] =
	    "string: byte char find format gmatch gsub len lower match pack "
	    "packsize rep reverse sub unpack upper\n"
	    "table: concat insert move pack remove sort unpack\n"
	    /* Debian builds Lua with LUA_COMPAT_MATHLIB: atan2, cosh ... */
	    "math: abs acos asin atan atan2 ceil cos cosh deg exp floor fmod "
	    "frexp huge ldexp log log10 max maxinteger min mininteger modf pi "
	    "pow rad random randomseed sin sinh sqrt tan tanh tointeger type "
	    "ult\n"
	    "utf8: char charpattern codepoint codes len offset\n"
	    "coroutine: close create isyieldable resume running status wrap "
	    "yield\n"
	    "os: clock date time\n"
	    "agentd: array http_get json_decode json_encode log null\n"
	    "assert=y collectgarbage=y dofile=n error=y getmetatable=y "
	    "ipairs=y load=y loadfile=n next=y pairs=y pcall=y print=y "
	    "rawequal=y rawget=y rawlen=y rawset=y require=n select=y "
	    "setmetatable=y tonumber=y tostring=y type=y warn=y xpcall=y "
	    "io=n package=n debug=n _G=y _VERSION=y";
	char dir[] = "/tmp/agentd-lua-XXXXXX";
	char path[256];
	struct script_tool *t;
	struct script_result res;
	char *cause = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/inventory.lua", dir);
	write_file(path, script, strlen(script));
	t = script_tool_load(path, NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(call_tool(t, "{}", NULL, &res), SCRIPT_STOP_NONE);
	if (res.is_error)
		fail_msg("%s", res.text);
	assert_string_equal(res.text, want);
	script_result_clear(&res);
	script_tool_unref(t);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_deep_recursion),
		cmocka_unit_test(test_rep_empty),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bytecode),
		cmocka_unit_test(test_load_loop),
		cmocka_unit_test(test_inventory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
