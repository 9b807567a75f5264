/*
 * test-plugins-schema.c: the JSON Schema subset (plugins/schema.c): which
 * schemas are accepted, the exact message of every kind of failure, and
 * the verdicts on the corpus in tests/fixtures/schema/corpus.jsonl.
 *
 * Run as "test-plugins-schema --validate CORPUS" it prints one verdict
 * per corpus line ("valid", "invalid" or "bad-schema") and nothing else;
 * tests/unit/test-plugins-schema-diff.sh compares those with Debian's
 * python3-jsonschema.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins.h"

/* Parses JSON text or fails the test. */
static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v;

	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (v == NULL)
		fail_msg("bad JSON in the test: %s: %s", text, jerr.text);
	return v;
}

/* Checks that a schema passes plug_schema_check(). */
static void
expect_schema_ok(const char *text)
{
	json_t *s = parse(text);
	char *cause = NULL;

	if (plug_schema_check(s, &cause) != 0)
		fail_msg("%s refused: %s", text, cause);
	json_decref(s);
}

/* Checks that a schema is refused with exactly want. */
static void
expect_schema_bad(const char *text, const char *want)
{
	json_t *s = parse(text);
	char *cause = NULL;

	if (plug_schema_check(s, &cause) == 0)
		fail_msg("%s accepted", text);
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", text, cause, want);
	free(cause);
	json_decref(s);
}

/* Validates; want NULL means valid, else the exact message. */
static void
expect_valid(const char *schema, const char *instance, const char *want)
{
	json_t *s = parse(schema), *i = parse(instance);
	char *cause = NULL;
	int rc;

	if (plug_schema_check(s, &cause) != 0)
		fail_msg("test schema %s refused: %s", schema, cause);
	rc = plug_schema_validate(s, i, &cause);
	if (want == NULL && rc != 0)
		fail_msg("%s against %s: %s", instance, schema, cause);
	if (want != NULL) {
		if (rc == 0)
			fail_msg("%s against %s passed", instance, schema);
		assert_non_null(cause);
		if (strcmp(cause, want) != 0) {
			fail_msg("%s against %s: got \"%s\", want \"%s\"",
			    instance, schema, cause, want);
		}
		free(cause);
	}
	json_decref(s);
	json_decref(i);
}

static void
test_check_accepts(void **state)
{
	(void)state;
	expect_schema_ok("true");
	expect_schema_ok("false");
	expect_schema_ok("{}");
	expect_schema_ok("{\"type\":\"object\",\"properties\":{\"expression\":"
	                 "{\"type\":\"string\",\"maxLength\":256}},"
	                 "\"required\":[\"expression\"],"
	                 "\"additionalProperties\":false}");
	expect_schema_ok("{\"type\":[\"string\",\"null\"]}");
	expect_schema_ok("{\"enum\":[1,\"a\",null,[1],{\"x\":2}]}");
	expect_schema_ok("{\"items\":{\"items\":true}}");
	expect_schema_ok("{\"minimum\":0.5,\"exclusiveMaximum\":-3,"
	                 "\"maximum\":7,\"exclusiveMinimum\":1e3}");
	expect_schema_ok("{\"minLength\":0,\"maxLength\":2.0}");
	expect_schema_ok("{\"additionalProperties\":{\"type\":\"integer\"}}");
	expect_schema_ok("{\"description\":\"d\",\"title\":\"t\","
	                 "\"default\":{},\"examples\":[1],\"$comment\":\"c\"}");
	expect_schema_ok("{\"required\":[]}");
}

static void
test_check_refuses(void **state)
{
	(void)state;
	expect_schema_bad("3",
	    "schema: a schema must be an object or a "
	    "boolean, not integer");
	expect_schema_bad(
	    "{\"pattern\":\"^a\"}", "schema: unsupported keyword 'pattern'");
	expect_schema_bad("{\"properties\":{\"q\":{\"type\":\"string\","
	                  "\"format\":\"uri\"}}}",
	    "schema.properties.q: unsupported keyword 'format'");
	expect_schema_bad("{\"properties\":{\"a b\":{\"oneOf\":[]}}}",
	    "schema.properties[\"a b\"]: unsupported keyword 'oneOf'");
	expect_schema_bad("{\"items\":{\"$ref\":\"#\"}}",
	    "schema.items: unsupported keyword '$ref'");
	expect_schema_bad("{\"additionalProperties\":{\"const\":1}}",
	    "schema.additionalProperties: unsupported keyword 'const'");
	expect_schema_bad("{\"type\":\"str\"}", "schema: unknown type 'str'");
	expect_schema_bad("{\"type\":[]}",
	    "schema: 'type' must be a type name or a non-empty array of "
	    "them");
	expect_schema_bad("{\"type\":[\"string\",\"string\"]}",
	    "schema: type 'string' is listed twice");
	expect_schema_bad(
	    "{\"type\":[\"string\",3]}", "schema: 'type' must list type names");
	expect_schema_bad("{\"type\":3}",
	    "schema: 'type' must be a type name or a non-empty array of "
	    "them");
	expect_schema_bad(
	    "{\"properties\":[]}", "schema: 'properties' must be an object");
	expect_schema_bad("{\"properties\":{\"a\":3}}",
	    "schema.properties.a: a schema must be an object or a boolean, "
	    "not integer");
	expect_schema_bad("{\"required\":\"a\"}",
	    "schema: 'required' must be an array of property names");
	expect_schema_bad("{\"required\":[\"a\",1]}",
	    "schema: 'required' must be an array of property names");
	expect_schema_bad("{\"required\":[\"a\",\"a\"]}",
	    "schema: 'required' lists 'a' twice");
	expect_schema_bad(
	    "{\"enum\":[]}", "schema: 'enum' must be a non-empty array");
	expect_schema_bad(
	    "{\"enum\":1}", "schema: 'enum' must be a non-empty array");
	expect_schema_bad("{\"items\":[{}]}",
	    "schema: 'items' must be a schema (an object or a boolean)");
	expect_schema_bad("{\"additionalProperties\":\"no\"}",
	    "schema: 'additionalProperties' must be a schema (an object or "
	    "a boolean)");
	expect_schema_bad(
	    "{\"minimum\":\"1\"}", "schema: 'minimum' must be a number");
	expect_schema_bad("{\"exclusiveMaximum\":true}",
	    "schema: 'exclusiveMaximum' must be a number");
	expect_schema_bad("{\"maxLength\":-1}",
	    "schema: 'maxLength' must be a non-negative integer");
	expect_schema_bad("{\"minLength\":1.5}",
	    "schema: 'minLength' must be a non-negative integer");
	expect_schema_bad(
	    "{\"description\":1}", "schema: 'description' must be a string");
	expect_schema_bad(
	    "{\"examples\":1}", "schema: 'examples' must be an array");
	/* Nesting is bounded, as validation recurses. */
	{
		struct buf b;
		char *cause = NULL;
		json_t *deep;
		size_t len;

		buf_init(&b, SIZE_MAX);
		for (int i = 0; i < 70; i++)
			buf_puts(&b, "{\"items\":");
		buf_puts(&b, "true");
		for (int i = 0; i < 70; i++)
			buf_puts(&b, "}");
		deep = parse(b.data);
		buf_free(&b);
		assert_int_equal(plug_schema_check(deep, &cause), -1);
		len = strlen(cause);
		assert_int_equal(strncmp(cause, "schema.items.items.", 19), 0);
		assert_string_equal(cause + len - 56,
		    ": schemas nested deeper than 64 levels are not supported");
		free(cause);
		json_decref(deep);
	}
	/* The first bad keyword in sorted order is the one named. */
	expect_schema_bad(
	    "{\"zz\":1,\"aa\":2}", "schema: unsupported keyword 'aa'");
}

static void
test_messages(void **state)
{
	const char *kb = "{\"type\":\"object\",\"properties\":{"
	                 "\"query\":{\"type\":\"string\",\"maxLength\":256},"
	                 "\"k\":{\"type\":\"integer\",\"minimum\":1,"
	                 "\"maximum\":5,\"default\":3}},"
	                 "\"required\":[\"query\"],"
	                 "\"additionalProperties\":false}";

	(void)state;
	expect_valid(kb, "{\"query\":\"x\",\"k\":9}",
	    "$.k: 9 is greater than the maximum 5");
	expect_valid(kb, "{\"query\":\"x\",\"k\":0}",
	    "$.k: 0 is less than the minimum 1");
	expect_valid(kb, "{\"query\":\"x\",\"k\":2.5}",
	    "$.k: expected integer, got number");
	expect_valid(kb, "{\"query\":\"x\",\"k\":2.0}", NULL);
	expect_valid(kb, "{\"k\":2}", "$: missing required property 'query'");
	expect_valid(
	    kb, "{\"query\":\"x\",\"kk\":2}", "$: unexpected property 'kk'");
	expect_valid(kb, "[]", "$: expected object, got array");
	expect_valid(
	    kb, "{\"query\":null}", "$.query: expected string, got null");
	expect_valid("{\"type\":[\"string\",\"null\"]}", "1",
	    "$: expected string or null, got integer");
	expect_valid("{\"type\":[\"string\",\"null\",\"boolean\"]}", "{}",
	    "$: expected string, null or boolean, got object");
	expect_valid("{\"maxLength\":3}",
	    "\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\"",
	    "$: string of 4 characters is longer than the maximum length 3");
	expect_valid("{\"maxLength\":3}",
	    "\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"", NULL);
	expect_valid("{\"minLength\":2}", "\"a\"",
	    "$: string of 1 characters is shorter than the minimum length 2");
	expect_valid("{\"exclusiveMinimum\":0}", "0",
	    "$: 0 is less than or equal to the exclusive minimum 0");
	expect_valid("{\"exclusiveMaximum\":2.5}", "2.5",
	    "$: 2.5 is greater than or equal to the exclusive maximum 2.5");
	expect_valid("{\"maximum\":0.1}", "0.30000000000000004",
	    "$: 0.30000000000000004 is greater than the maximum 0.1");
	expect_valid(
	    "{\"minimum\":3}", "2.0", "$: 2.0 is less than the minimum 3");
	expect_valid("{\"enum\":[\"a\",\"b\"]}", "\"c\"",
	    "$: \"c\" is not one of [\"a\",\"b\"]");
	expect_valid("{\"enum\":[1,2]}", "true", "$: true is not one of [1,2]");
	expect_valid("{\"enum\":[1,2]}", "2.0", NULL);
	expect_valid("{\"items\":{\"type\":\"string\"}}", "[\"a\",\"b\",3]",
	    "$[2]: expected string, got integer");
	expect_valid("{\"properties\":{\"tags\":{\"items\":{\"properties\":"
	             "{\"name\":{\"type\":\"string\"}}}}}}",
	    "{\"tags\":[{\"name\":\"a\"},{\"name\":7}]}",
	    "$.tags[1].name: expected string, got integer");
	expect_valid("{\"properties\":{\"a b\":{\"type\":\"string\"}}}",
	    "{\"a b\":1}", "$[\"a b\"]: expected string, got integer");
	expect_valid("{\"properties\":{\"9\":{\"type\":\"string\"}}}",
	    "{\"9\":1}", "$[\"9\"]: expected string, got integer");
	expect_valid("{\"properties\":{\"a\":false}}", "{\"a\":1}",
	    "$.a: no value is allowed here");
	expect_valid("false", "1", "$: no value is allowed here");
	expect_valid("{\"additionalProperties\":{\"type\":\"integer\"}}",
	    "{\"x\":\"y\"}", "$.x: expected integer, got string");
	/* Keywords of other kinds are ignored. */
	expect_valid("{\"maximum\":1,\"maxLength\":1,\"required\":[\"a\"],"
	             "\"items\":false}",
	    "\"a\"", NULL);
	/* Instance properties are checked in sorted key order. */
	expect_valid("{\"additionalProperties\":false}", "{\"zz\":1,\"aa\":2}",
	    "$: unexpected property 'aa'");
	/* Type comes before enum and bounds. */
	expect_valid("{\"type\":\"integer\",\"enum\":[1],\"maximum\":0}",
	    "\"s\"", "$: expected integer, got string");
	/* Long values are cut in messages. */
	{
		char big[400], want[300];

		memset(big, 0, sizeof big);
		big[0] = '"';
		memset(big + 1, 'x', 300);
		big[301] = '"';
		snprintf(want, sizeof want, "$: \"%.119s... is not one of [1]",
		    big + 1);
		expect_valid("{\"enum\":[1]}", big, want);
	}
}

/* The corpus' path: $AGENTD_SRCDIR/tests/fixtures/schema/corpus.jsonl. */
static char *
corpus_path(void)
{
	const char *src = getenv("AGENTD_SRCDIR");
	char *path;

	xasprintf(&path, "%s/tests/fixtures/schema/corpus.jsonl",
	    src != NULL ? src : ".");
	return path;
}

/*
 * Runs fn(line number, schema, instance, expected, arg) for each pair of
 * the corpus.  Returns the number of pairs, or -1 if the file is missing.
 */
static int
corpus_each(const char *path,
    void (*fn)(size_t, json_t *, json_t *, int, void *), void *arg)
{
	json_error_t jerr;
	size_t lineno = 0;
	char *line = NULL;
	size_t size = 0;
	int n = 0;
	json_t *v;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (getline(&line, &size, f) != -1) {
		lineno++;
		v = json_loads(line, JSON_ALLOW_NUL, &jerr);
		if (v == NULL) {
			fprintf(
			    stderr, "%s:%zu: %s\n", path, lineno, jerr.text);
			exit(1);
		}
		if (json_object_get(v, "schema") != NULL) {
			fn(lineno, json_object_get(v, "schema"),
			    json_object_get(v, "instance"),
			    json_is_true(json_object_get(v, "valid")), arg);
			n++;
		}
		json_decref(v);
	}
	free(line);
	fclose(f);
	return n;
}

/* The verdict on one pair: "valid", "invalid" or "bad-schema". */
static const char *
verdict(json_t *schema, json_t *instance, char **cause)
{
	*cause = NULL;
	if (plug_schema_check(schema, cause) != 0)
		return "bad-schema";
	if (plug_schema_validate(schema, instance, cause) != 0)
		return "invalid";
	return "valid";
}

static void
corpus_check(
    size_t lineno, json_t *schema, json_t *instance, int want, void *arg)
{
	int *bad = arg;
	const char *got;
	char *cause;

	got = verdict(schema, instance, &cause);
	if (strcmp(got, want ? "valid" : "invalid") != 0) {
		fprintf(stderr, "corpus line %zu: got %s (%s), want %s\n",
		    lineno, got, cause != NULL ? cause : "-",
		    want ? "valid" : "invalid");
		(*bad)++;
	} else if (!want && (cause == NULL || strncmp(cause, "$", 1) != 0)) {
		fprintf(stderr, "corpus line %zu: message without a path: %s\n",
		    lineno, cause != NULL ? cause : "(none)");
		(*bad)++;
	}
	free(cause);
}

static void
test_corpus(void **state)
{
	char *path = corpus_path();
	int bad = 0, n;

	(void)state;
	n = corpus_each(path, corpus_check, &bad);
	if (n < 0)
		fail_msg("%s: %s", path, strerror(errno));
	free(path);
	assert_true(n >= 60);
	assert_int_equal(bad, 0);
}

static void
corpus_print(
    size_t lineno, json_t *schema, json_t *instance, int want, void *arg)
{
	char *cause;

	(void)want;
	(void)arg;
	printf("%zu %s\n", lineno, verdict(schema, instance, &cause));
	free(cause);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_refuses),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_corpus),
	};

	if (argc == 3 && strcmp(argv[1], "--validate") == 0) {
		if (corpus_each(argv[2], corpus_print, NULL) < 0) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
