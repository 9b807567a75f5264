/*
 * test-lua-tool.c: Lua tools (lua/tool.c), the JSON bridge and the agentd
 * module (lua/json.c), and script_dir_list().
 *
 * Tools are written into a private temporary folder, loaded with
 * script_tool_load() and called with script_tool_call(), exactly as
 * plugins/ does; the two examples in lua/examples/ are loaded from the
 * source tree.
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/util.h"
#include "lua/script.h"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/agentd-lua-tool-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to tmpdir/name; returns the path (static buffer). */
static const char *
put(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A tool whose run is body (Lua statements with args in scope). */
static struct script_tool *
tool_with(const char *body, const struct script_limits *limits,
    const struct script_host *host)
{
	char *text, *cause = NULL;
	struct script_tool *t;

	xasprintf(&text,
	    "return { name = \"t\", description = \"A test tool.\",\n"
	    "run = function(args)\n%s\nend }\n",
	    body);
	t = script_tool_load(put("t.lua", text), limits, host, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	free(text);
	return t;
}

/* Calls t with args (JSON text); returns the result text (caller frees). */
static char *
call(struct script_tool *t, const char *args, int *is_error)
{
	struct script_result res;
	json_t *v = json_loads(args, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	assert_non_null(v);
	script_tool_call(t, v, NULL, &res);
	json_decref(v);
	assert_non_null(res.text);
	assert_int_equal(strlen(res.text), res.len);
	*is_error = res.is_error;
	return res.text;
}

/* Runs body and checks its text and error flag. */
static void
expect(const char *body, const char *args, const char *want, int want_err)
{
	struct script_tool *t = tool_with(body, NULL, NULL);
	int is_error;
	char *got = call(t, args, &is_error);

	if (strcmp(got, want) != 0 || is_error != want_err)
		fail_msg("%s\n  got  (%d) %s\n  want (%d) %s", body, is_error,
		    got, want_err, want);
	free(got);
	script_tool_unref(t);
}

/* Runs body and checks that it fails with an error containing want. */
static void
expect_error(const char *body, const char *want)
{
	struct script_tool *t = tool_with(body, NULL, NULL);
	int is_error;
	char *got = call(t, "{}", &is_error);

	if (!is_error || strstr(got, want) == NULL)
		fail_msg("%s\n  got  (%d) %s\n  want error %s", body, is_error,
		    got, want);
	free(got);
	script_tool_unref(t);
}

/* Loads a file with the given text and checks the refusal message. */
static void
expect_load_error(const char *text, const char *want)
{
	const char *path = put("bad.lua", text);
	char *cause = NULL;

	if (script_tool_load(path, NULL, NULL, &cause) != NULL)
		fail_msg("loaded: %s", text);
	assert_non_null(cause);
	if (strncmp(cause, path, strlen(path)) != 0 ||
	    strstr(cause, want) == NULL)
		fail_msg(
		    "%s\n  got  %s\n  want %s: ...%s", text, cause, path, want);
	free(cause);
}

static char *
schema_text(const struct script_tool *t)
{
	return json_dumps(script_tool_schema(t), JSON_COMPACT | JSON_SORT_KEYS);
}

static const char *
example(const char *name)
{
	static char path[4096];
	const char *src = getenv("AGENTD_SRCDIR");

	snprintf(path, sizeof path, "%s/lua/examples/%s",
	    src != NULL ? src : ".", name);
	return path;
}

static void
test_word_count(void **state)
{
	struct script_tool *t;
	char *cause = NULL, *s;
	int is_error;

	(void)state;
	t = script_tool_load(example("word_count.lua"), NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_string_equal(script_tool_name(t), "word_count");
	assert_string_equal(script_tool_description(t),
	    "Counts the words, lines and characters of a text.");
	s = schema_text(t);
	assert_string_equal(s,
	    "{\"additionalProperties\":false,\"properties\":{\"text\":{"
	    "\"description\":\"the text to count\",\"maxLength\":100000,"
	    "\"type\":\"string\"}},\"required\":[\"text\"],\"type\":"
	    "\"object\"}");
	free(s);
	assert_string_equal(script_tool_path(t), example("word_count.lua"));

	s = call(t, "{\"text\": \"one two  three\\nfour\\n\"}", &is_error);
	assert_false(is_error);
	assert_string_equal(s, "4 words, 2 lines, 20 characters");
	free(s);
	s = call(t, "{\"text\": \"\"}", &is_error);
	assert_string_equal(s, "0 words, 0 lines, 0 characters");
	free(s);
	/* Characters are code points, not bytes. */
	s = call(t, "{\"text\": \"h\\u00e9llo w\\u00f6rld\"}", &is_error);
	assert_string_equal(s, "2 words, 1 lines, 11 characters");
	free(s);
	script_tool_unref(t);
}

static void
test_unit_convert(void **state)
{
	static const struct {
		const char *args, *want;
		int err;
	} cases[] = {
		{ "{\"value\": 100, \"from\": \"celsius\", \"to\": "
		  "\"fahrenheit\"}",
		    "100 celsius = 212 fahrenheit", 0 },
		{ "{\"value\": -40, \"from\": \"fahrenheit\", \"to\": "
		  "\"celsius\"}",
		    "-40 fahrenheit = -40 celsius", 0 },
		{ "{\"value\": 0, \"from\": \"kelvin\", \"to\": \"celsius\"}",
		    "0 kelvin = -273.15 celsius", 0 },
		{ "{\"value\": 1, \"from\": \"mi\", \"to\": \"km\"}",
		    "1 mi = 1.609344 km", 0 },
		{ "{\"value\": 2.5, \"from\": \"lb\", \"to\": \"g\"}",
		    "2.5 lb = 1133.980925 g", 0 },
		{ "{\"value\": 12, \"from\": \"in\", \"to\": \"ft\"}",
		    "12 in = 1 ft", 0 },
		{ "{\"value\": 1, \"from\": \"kg\", \"to\": \"km\"}",
		    "cannot convert kg (mass) to km (length)", 1 },
		{ "{\"value\": -300, \"from\": \"celsius\", \"to\": "
		  "\"kelvin\"}",
		    "below absolute zero", 1 },
	};
	struct script_tool *t;
	char *cause = NULL, *s;
	int is_error;

	(void)state;
	t = script_tool_load(example("unit_convert.lua"), NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_string_equal(script_tool_name(t), "unit_convert");
	s = schema_text(t);
	assert_string_equal(s,
	    "{\"additionalProperties\":false,\"properties\":{\"from\":{"
	    "\"enum\":[\"celsius\",\"cm\",\"fahrenheit\",\"ft\",\"g\","
	    "\"in\",\"kelvin\",\"kg\",\"km\",\"lb\",\"m\",\"mi\",\"oz\"],"
	    "\"type\":\"string\"},\"to\":{\"enum\":[\"celsius\",\"cm\","
	    "\"fahrenheit\",\"ft\",\"g\",\"in\",\"kelvin\",\"kg\",\"km\","
	    "\"lb\",\"m\",\"mi\",\"oz\"],\"type\":\"string\"},\"value\":{"
	    "\"type\":\"number\"}},\"required\":[\"value\",\"from\","
	    "\"to\"],\"type\":\"object\"}");
	free(s);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = call(t, cases[i].args, &is_error);
		if (strcmp(s, cases[i].want) != 0 || is_error != cases[i].err)
			fail_msg("%s: got (%d) %s", cases[i].args, is_error, s);
		free(s);
	}
	script_tool_unref(t);
}

/* parameters: the empty-table rule, integers, the default schema. */
static void
test_schema_rules(void **state)
{
	struct script_tool *t;
	char *cause = NULL, *s;

	(void)state;
	t = script_tool_load(
	    put("s.lua",
	        "return { name = \"s\", description = \"S.\",\n"
	        "parameters = { type = \"object\", properties "
	        "= {}, required = {},\n"
	        "  additionalProperties = false, examples = "
	        "{},\n"
	        "  ['$comment'] = { list = agentd.array(), "
	        "obj = {}, n = 3.0 } },\n"
	        "run = function() return '' end }\n"),
	    NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	s = schema_text(t);
	assert_string_equal(s,
	    "{\"$comment\":{\"list\":[],\"n\":3,\"obj\":{}},"
	    "\"additionalProperties\":false,\"examples\":[],"
	    "\"properties\":{},\"required\":[],\"type\":\"object\"}");
	free(s);
	script_tool_unref(t);

	/* No parameters: a tool without arguments. */
	t = script_tool_load(put("n.lua",
	                         "return { name = \"n\", description = \"N.\", "
	                         "run = function() return 'x' end }\n"),
	    NULL, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	s = schema_text(t);
	assert_string_equal(s,
	    "{\"additionalProperties\":false,\"properties\":{},"
	    "\"required\":[],\"type\":\"object\"}");
	free(s);
	script_tool_unref(t);
}

static void
test_load_errors(void **state)
{
	char *cause = NULL;

	(void)state;
	expect_load_error("return 42",
	    "the file must return a table, not a "
	    "number value");
	expect_load_error(
	    "return {", "bad.lua:1: unexpected symbol near <eof>");
	expect_load_error("error('at load')", "at load");
	expect_load_error("return { description = 'D.', run = print }",
	    "name must be a string of 1 to 64 characters");
	expect_load_error("return { name = '1abc', description = 'D.', run = "
	                  "print }",
	    "name must be a string of 1 to 64 characters");
	expect_load_error("return { name = 'a b', description = 'D.', run = "
	                  "print }",
	    "name must be a string of 1 to 64 characters");
	expect_load_error("return { name = 'ok' , run = print }",
	    "description must be a non-empty string on one line");
	expect_load_error("return { name = 'ok', description = 'two\\nlines', "
	                  "run = print }",
	    "description must be a non-empty string on one line");
	expect_load_error("return { name = 'ok', description = '\\255', run "
	                  "= print }",
	    "description must be a non-empty string on one line");
	expect_load_error("return { name = 'ok', description = 'D.' }",
	    "run must be a function, not a nil value");
	expect_load_error("return { name = 'ok', description = 'D.', "
	                  "parameters = 'x', run = print }",
	    "parameters must be a table (a JSON Schema), not a string value");
	expect_load_error("return { name = 'ok', description = 'D.', "
	                  "parameters = { 'a', 'b' }, run = print }",
	    "parameters must be a table with string keys");
	expect_load_error("return { name = 'ok', description = 'D.', "
	                  "parameters = { type = print }, run = print }",
	    "json: $.type: cannot encode a function value");
	expect_load_error("return { name = 'ok', description = 'D.', "
	                  "parameters = { [1] = 'a', b = 2 }, run = print }",
	    "json: $: a table mixes string and integer keys");
	expect_load_error(
	    "return { name = 'ok', description = 'D.', "
	    "parameters = { enum = { 1, nil, 3 } }, run = print }",
	    "json: $.enum: an array with holes");
	expect_load_error("return { name = 'ok', description = 'D.', "
	                  "parameters = { maximum = 1/0 }, run = print }",
	    "json: $.maximum: cannot encode an infinite number");
	expect_load_error("return setmetatable({}, { __index = function() "
	                  "error('no fields') end })",
	    "no fields");

	/* Files that cannot be read at all. */
	assert_null(script_tool_load("/nonexistent/x.lua", NULL, NULL, &cause));
	assert_string_equal(cause,
	    "/nonexistent/x.lua: No such file or "
	    "directory");
	free(cause);
	assert_null(script_tool_load(tmpdir, NULL, NULL, &cause));
	assert_non_null(strstr(cause, "not a regular file"));
	free(cause);
	{
		char *big = xmalloc(SCRIPT_MAX_SOURCE + 16);

		memset(big, '-', SCRIPT_MAX_SOURCE + 15);
		big[SCRIPT_MAX_SOURCE + 15] = '\0';
		assert_null(
		    script_tool_load(put("big.lua", big), NULL, NULL, &cause));
		assert_non_null(strstr(cause, "larger than 1048576 bytes"));
		free(cause);
		free(big);
	}
}

static void
test_results(void **state)
{
	(void)state;
	expect("return 'plain'", "{}", "plain", 0);
	expect("return 'failed', true", "{}", "failed", 1);
	expect("return 'fine', false", "{}", "fine", 0);
	expect("return 42", "{}", "42", 0);
	expect("return 2.5", "{}", "2.5", 0);
	expect("return { b = 1, a = { 1, 2 }, c = agentd.null }", "{}",
	    "{\"a\":[1,2],\"b\":1,\"c\":null}", 0);
	expect("return ''", "{}", "", 0);
	expect_error("return nil",
	    "run returned nothing; it must return the "
	    "result as a string");
	expect_error("return true",
	    "run must return a string, a number or a "
	    "table, not a boolean value");
	expect_error("return print", "not a function value");
	expect_error("error('plain failure')", "tool:t:3: plain failure");
	expect_error("error('no position', 0)", "no position");
	expect_error("local x = nil; return x.field",
	    "attempt to index a nil value (local 'x')");
}

/* Arguments arrive as Lua values, JSON null as agentd.null. */
static void
test_args(void **state)
{
	(void)state;
	expect("return agentd.json_encode(args)",
	    "{\"s\": \"x\", \"i\": 3, \"f\": 0.5, \"t\": true, \"n\": null, "
	    "\"a\": [1, [2, []], {}], \"o\": {\"k\": \"\\u00e9\"}}",
	    "{\"a\":[1,[2,[]],{}],\"f\":0.5,\"i\":3,\"n\":null,\"o\":{\"k\":"
	    "\"\xc3\xa9\"},\"s\":\"x\",\"t\":true}",
	    0);
	expect("return math.type(args.i) .. ' ' .. math.type(args.f) .. ' ' "
	       ".. tostring(args.n == agentd.null) .. ' ' .. #args.a",
	    "{\"i\": 3, \"f\": 3.5, \"n\": null, \"a\": [1, 2, 3]}",
	    "integer float true 3", 0);
	/* Strings with NUL bytes survive both ways. */
	expect("return #args.s .. agentd.json_encode(args.s)",
	    "{\"s\": \"a\\u0000b\"}", "3\"a\\u0000b\"", 0);
}

static void
test_json(void **state)
{
	(void)state;
	expect("return agentd.json_encode({ 0.1, 1/3, 1e300, -0.0, 3.0 })",
	    "{}", "[0.1,0.3333333333333333,1e300,-0.0,3.0]", 0);
	expect("return agentd.json_encode({})", "{}", "{}", 0);
	expect("return agentd.json_encode(agentd.array())", "{}", "[]", 0);
	expect("return agentd.json_encode(agentd.array({ 'x' }))", "{}",
	    "[\"x\"]", 0);
	expect("return agentd.json_encode('caf\xc3\xa9 \"q\"\\n')", "{}",
	    "\"caf\xc3\xa9 \\\"q\\\"\\n\"", 0);
	expect("return agentd.json_encode(nil)", "{}", "null", 0);
	/* Decoded arrays stay arrays, even empty ones. */
	expect("local v = agentd.json_decode('{\"a\": [], \"o\": {}, \"n\": "
	       "null}')\n"
	       "return agentd.json_encode(v) .. ' ' .. tostring(v.n == "
	       "agentd.null)",
	    "{}", "{\"a\":[],\"n\":null,\"o\":{}} true", 0);
	expect(
	    "return tostring(agentd.json_decode('[1, 2.5, \"x\", true]')[2])",
	    "{}", "2.5", 0);
	expect("local v, err = agentd.json_decode('{\"a\": }')\n"
	       "return tostring(v) .. ': ' .. err",
	    "{}",
	    "nil: json_decode: line 1 column 7: unexpected token near '}'", 0);
	expect("local v, err = agentd.json_decode(string.rep('[', 70) .. "
	       "string.rep(']', 70))\nreturn tostring(v) .. ': ' .. err",
	    "{}", "nil: json_decode: nesting deeper than 64", 0);

	expect_error("local t = {}; t.self = t; return agentd.json_encode(t)",
	    "json: $.self.self.self");
	expect_error("local t = {}; t.self = t; return agentd.json_encode(t)",
	    "nesting deeper than 64 (a cycle?)");
	expect_error("return agentd.json_encode({ 1, 2, x = 3 })",
	    "json: $: a table mixes string and integer keys");
	expect_error("return agentd.json_encode({ [1] = 1, [3] = 3 })",
	    "json: $: an array with holes (2 elements, largest index 3)");
	expect_error("return agentd.json_encode({ [0] = 1 })",
	    "json: $: array index 0 is below 1");
	expect_error("return agentd.json_encode({ [1.5] = 1 })",
	    "json: $: table key 1.5 is not an integer");
	expect_error("return agentd.json_encode({ [true] = 1 })",
	    "json: $: a table key cannot be a boolean");
	expect_error("return agentd.json_encode({ a = { 0/0 } })",
	    "json: $.a[1]: cannot encode nan");
	expect_error("return agentd.json_encode({ s = '\\255' })",
	    "json: $.s: string is not valid UTF-8");
	expect_error("return agentd.json_encode({ ['\\255'] = 1 })",
	    "key is not valid UTF-8");
	expect_error("return agentd.json_encode(coroutine.create(print))",
	    "json: $: cannot encode a thread value");
	expect_error("local t = agentd.array({ a = 1 })\n"
	             "return agentd.json_encode(t)",
	    "a table marked as an array has string keys");
	expect_error("return agentd.array(setmetatable({}, {}))",
	    "agentd.array: the table already has a metatable");
	/* The size cap: a quarter of the memory limit. */
	{
		struct script_limits limits = { .max_memory = 8 << 20 };
		struct script_tool *t = tool_with(
		    "return agentd.json_encode({ string.rep('x', 3 << 20) })",
		    &limits, NULL);
		int is_error;
		char *s = call(t, "{}", &is_error);

		assert_true(is_error);
		if (strstr(s, "json: $[1]: JSON larger than 2097152 bytes") ==
		    NULL)
			fail_msg("got %s", s);
		free(s);
		script_tool_unref(t);
	}
}

/* Each call is a fresh state: globals never leak between calls. */
static void
test_fresh_state(void **state)
{
	struct script_tool *t;
	char *s;
	int is_error;

	(void)state;
	t = tool_with("counter = (rawget(_ENV, 'counter') or 0) + 1\n"
	              "_G.seen = true\n"
	              "return tostring(counter)",
	    NULL, NULL);
	for (int i = 0; i < 3; i++) {
		s = call(t, "{}", &is_error);
		assert_false(is_error);
		assert_string_equal(s, "1");
		free(s);
	}
	script_tool_unref(t);
	/* Setting a base name only shadows it in the script's own globals. */
	expect("print = nil; tostring = 5; return type(print) .. "
	       "type(tostring)",
	    "{}", "functionnumber", 0);
}

/* The text is cut at max_output, on a UTF-8 boundary. */
static void
test_output_cap(void **state)
{
	struct script_limits limits = { .max_output = 10 };
	struct script_tool *t;
	char *s;
	int is_error;

	(void)state;
	/* "aaaaaaaaa" then a 2-byte character across the cut. */
	t = tool_with(
	    "return string.rep('a', 9) .. '\xc3\xa9' .. 'tail'", &limits, NULL);
	s = call(t, "{}", &is_error);
	assert_string_equal(s, "aaaaaaaaa");
	free(s);
	script_tool_unref(t);
}

struct fake_http {
	int calls;
	int mode; /* 0 body, 1 error result, 2 cannot try */
	char url[256];
	uint64_t deadline_ns;
};

static int
fake_http_get(void *arg, const char *url, const struct script_call *call,
    struct script_result *res, char **cause)
{
	struct fake_http *h = arg;

	h->calls++;
	snprintf(h->url, sizeof h->url, "%s", url);
	h->deadline_ns = call->deadline_ns;
	switch (h->mode) {
	case 0:
		res->text = xstrdup("<html>hi</html>");
		res->len = strlen(res->text);
		return 0;
	case 1:
		res->text = xstrdup("host not allowed: example.org");
		res->len = strlen(res->text);
		res->is_error = 1;
		return 0;
	default:
		*cause = xstrdup("fetch not possible");
		return -1;
	}
}

static void
test_http_get(void **state)
{
	struct fake_http h = { 0 };
	struct script_host host = { .arg = &h, .http_get = fake_http_get };
	struct script_call sc = { .deadline_ns =
		                      clock_mono_ns() + 60000000000ull };
	struct script_result res;
	struct script_tool *t;
	json_t *args = json_object();

	(void)state;
	t = tool_with("local body, err = agentd.http_get(args.url or "
	              "'https://example.org/')\n"
	              "return tostring(body) .. '|' .. tostring(err)",
	    NULL, &host);
	script_tool_call(t, args, &sc, &res);
	assert_string_equal(res.text, "<html>hi</html>|nil");
	assert_string_equal(h.url, "https://example.org/");
	assert_int_equal(h.deadline_ns, sc.deadline_ns);
	script_result_clear(&res);
	h.mode = 1;
	script_tool_call(t, args, NULL, &res);
	assert_string_equal(res.text, "nil|host not allowed: example.org");
	script_result_clear(&res);
	h.mode = 2;
	script_tool_call(t, args, NULL, &res);
	assert_string_equal(res.text, "nil|fetch not possible");
	script_result_clear(&res);
	assert_int_equal(h.calls, 3);
	script_tool_unref(t);
	json_decref(args);

	/* Without a host: nil and the reason. */
	expect("local b, err = agentd.http_get('http://x/')\n"
	       "return tostring(b) .. '|' .. err",
	    "{}", "nil|agentd.http_get is not enabled", 0);
	expect_error("return agentd.http_get('')",
	    "agentd.http_get: the URL must be 1 to 8192 bytes without NUL");
}

static void
test_logging(void **state)
{
	(void)state;
	/* print and agentd.log go to the log; these only must not fail. */
	expect("print('a', 1, nil, true, {})\n"
	       "for i = 1, 300 do print('line', i) end\n"
	       "agentd.log('debug', 'x\\ny')\n"
	       "warn('@on'); warn('a ', 'b')\n"
	       "return 'ok'",
	    "{}", "ok", 0);
	expect_error("agentd.log('loud', 'x')",
	    "agentd.log: unknown level 'loud' (err, warn, notice, info or "
	    "debug)");
	expect_error("return collectgarbage()",
	    "collectgarbage: only \"count\" is allowed, not \"collect\"");
	expect("return math.type(collectgarbage('count'))", "{}", "float", 0);
	/* load() compiles text in the script's environment. */
	expect("x = 5; return load('return x * 2')()", "{}", "10", 0);
	expect("return load('return y', 'c', 't', { y = 7 })()", "{}", "7", 0);
	expect("local f, err = load('return +'); return err", "{}",
	    "load:1: unexpected symbol near '+'", 0);
	/* xpcall's handler gets the error and its result is the message. */
	expect("return tostring(select(2, xpcall(error, function(e) return "
	       "'handled: ' .. e end, 'oops', 0)))",
	    "{}", "handled: oops", 0);
	expect("return select('#', xpcall(function(...) return ... end, "
	       "print, 1, 2, 3))",
	    "{}", "4", 0);
}

struct worker {
	struct script_tool *t;
	int ok;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	json_t *args = json_pack("{s:s}", "text", "a b c");

	for (int i = 0; i < 50; i++) {
		struct script_result res;

		script_tool_call(w->t, args, NULL, &res);
		if (!res.is_error &&
		    strcmp(res.text, "3 words, 1 lines, 5 characters") == 0)
			w->ok++;
		script_result_clear(&res);
	}
	json_decref(args);
	return NULL;
}

/* One loaded tool, called from many threads at once. */
static void
test_threads(void **state)
{
	struct worker w[4];
	pthread_t th[4];
	struct script_tool *t;
	char *cause = NULL;

	(void)state;
	t = script_tool_load(example("word_count.lua"), NULL, NULL, &cause);
	assert_non_null(t);
	for (int i = 0; i < 4; i++) {
		w[i].t = script_tool_ref(t);
		w[i].ok = 0;
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	/* The loader's reference may go while calls are in flight. */
	script_tool_unref(t);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].ok, 50);
		script_tool_unref(w[i].t);
	}
}

static void
test_dir_list(void **state)
{
	char dir[128], sub[160];
	char **paths;
	size_t n;
	char *cause = NULL;

	(void)state;
	snprintf(dir, sizeof dir, "%s/dir", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	put("dir/b.lua", "");
	put("dir/a.lua", "");
	put("dir/.hidden.lua", "");
	put("dir/notes.txt", "");
	put("dir/x.lua.bak", "");
	snprintf(sub, sizeof sub, "%s/sub.lua", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(script_dir_list(dir, &paths, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_non_null(strstr(paths[0], "/dir/a.lua"));
	assert_non_null(strstr(paths[1], "/dir/b.lua"));
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);

	/* A missing folder lists nothing; a file is an error. */
	assert_int_equal(
	    script_dir_list("/nonexistent", &paths, &n, &cause), 0);
	assert_int_equal(n, 0);
	assert_null(paths);
	snprintf(sub, sizeof sub, "%s/dir/a.lua", tmpdir);
	assert_int_equal(script_dir_list(sub, &paths, &n, &cause), -1);
	assert_non_null(strstr(cause, "Not a directory"));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_word_count),
		cmocka_unit_test(test_unit_convert),
		cmocka_unit_test(test_schema_rules),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_fresh_state),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_http_get),
		cmocka_unit_test(test_logging),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_dir_list),
	};

	/* Scripts' print() lines are not this test's business. */
	log_level = LOG_LEVEL_WARN;
	return cmocka_run_group_tests(tests, setup, teardown);
}
