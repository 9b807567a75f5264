/*
 * test-plugins-calc.c: the calc built-in (plugins/tool-calc.c): grammar,
 * precedence and associativity, exact division, the floored modulo,
 * powers, int64 overflow, rounding to 6 decimals, every error with its
 * exact text, and the tool as the registry runs it.
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

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

struct calc_case {
	const char *expr;
	const char *want; /* the output, or the exact error text */
};

/* Evaluates expr and compares the output or the error with want. */
static int
check(const char *expr, size_t len, const char *want)
{
	char *out, *cause = NULL;
	const char *got;
	int ok;

	out = plug_calc_eval(expr, len, &cause);
	got = (out != NULL) ? out : cause;
	if (got == NULL) {
		fprintf(stderr, "'%s': neither a result nor an error\n", expr);
		return 0;
	}
	ok = strcmp(got, want) == 0;
	if (!ok)
		fprintf(stderr, "'%s': got '%s', want '%s'\n", expr, got, want);
	free(out);
	free(cause);
	return ok;
}

static void
run_cases(const struct calc_case *cases, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		bad +=
		    !check(cases[i].expr, strlen(cases[i].expr), cases[i].want);
	assert_int_equal(bad, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void
test_basics(void **state)
{
	static const struct calc_case cases[] = {
		{ "1+2", "3" },
		{ "2*3+4", "10" },
		{ "2+3*4", "14" },
		{ "(2+3)*4", "20" },
		{ "1 - 2 - 3", "-4" },
		{ "100 / 10 / 5", "2" },
		{ "2 % 3 * 4", "8" },
		{ "  12  ", "12" },
		{ "1\n+\t2\r", "3" },
		{ "007", "7" },
		{ "+5", "5" },
		{ "--1", "1" },
		{ "1 - -1", "2" },
		{ "-(-(-1))", "-1" },
		{ "(((((1)))))", "1" },
		{ "2 * (3 + 4) ^ 2", "98" },
		{ "0", "0" },
		{ "-0", "0" },
		{ "3.14159*2", "6.28318" },
		{ "2.50", "2.5" },
		{ ".5", "0.5" },
		{ "1.", "1" },
		{ "1.5^2", "2.25" },
	};

	(void)state;
	RUN(cases);
}

static void
test_division(void **state)
{
	static const struct calc_case cases[] = {
		{ "7/2", "3.5" },
		{ "6/3", "2" },
		{ "10/4", "2.5" },
		{ "1/3", "0.333333" },
		{ "2/3", "0.666667" },
		{ "-1/3", "-0.333333" },
		{ "-2/3", "-0.666667" },
		{ "1/7", "0.142857" },
		{ "22/7", "3.142857" },
		{ "-22/7", "-3.142857" },
		{ "100/3", "33.333333" },
		/* Exact fractions: no binary rounding on the way. */
		{ "0.1+0.2", "0.3" },
		{ "1/3*3", "1" },
		{ "1/3 + 1/6", "0.5" },
		{ "(1/3)^2", "0.111111" },
		{ "0.1*3 - 0.3", "0" },
		/* Rounding to 6 decimals, half away from zero. */
		{ "1/1000000", "0.000001" },
		{ "1/2000000", "0.000001" },
		{ "-1/2000000", "-0.000001" },
		{ "1/3000000", "0" },
		{ "-1/3000000", "0" },
		{ "0.0000005", "0.000001" },
		{ "0.0000004", "0" },
		{ "1.9999999", "2" },
		{ "-1.9999995", "-2" },
		{ "9223372036854775807 / 2", "4611686018427387903.5" },
		{ "9223372036854775807 / 9223372036854775806", "1" },
	};

	(void)state;
	RUN(cases);
}

static void
test_modulo(void **state)
{
	static const struct calc_case cases[] = {
		{ "7 % 3", "1" },
		{ "-7 % 3", "2" },
		{ "7 % -3", "-2" },
		{ "-7 % -3", "-1" },
		{ "6 % 3", "0" },
		{ "5.5 % 2", "1.5" },
		{ "-5.5 % 2", "0.5" },
		{ "5 % 0.5", "0" },
		{ "1/3 % 1/4", "0.083333" }, /* (1/3 % 1) / 4 */
		{ "(1/3) % (1/4)", "0.083333" },
		{ "9223372036854775807 % 10", "7" },
		{ "-9223372036854775807 % 10", "3" },
		{ "-9223372036854775807 % -1", "0" },
	};

	(void)state;
	RUN(cases);
}

static void
test_power(void **state)
{
	static const struct calc_case cases[] = {
		{ "2^10", "1024" },
		{ "2^3^2", "512" },
		{ "2^2^3", "256" },
		{ "(2^2)^3", "64" },
		{ "-2^2", "-4" },
		{ "(-2)^2", "4" },
		{ "(-2)^3", "-8" },
		{ "2^-1", "0.5" },
		{ "2^-2", "0.25" },
		{ "0.5^-2", "4" },
		{ "(-0.5)^-3", "-8" },
		{ "(-2)^-1", "-0.5" },
		{ "4^0.5", "2" },
		{ "2^0.5", "1.414214" },
		{ "2^0.5^2", "1.189207" },
		{ "0^0", "1" },
		{ "0^5", "0" },
		{ "1^1000000000000", "1" },
		{ "(-1)^1000000000001", "-1" },
		{ "(-1)^-3", "-1" },
		{ "10^18", "1000000000000000000" },
		{ "2^62", "4611686018427387904" },
		{ "0.1^30", "0" },
		{ "3^-100", "0" },
		{ "1.1^2", "1.21" },
	};

	(void)state;
	RUN(cases);
}

static void
test_overflow(void **state)
{
	static const struct calc_case cases[] = {
		{ "9223372036854775807", "9223372036854775807" },
		{ "-9223372036854775807", "-9223372036854775807" },
		{ "9223372036854775807 + 1", "integer overflow" },
		{ "9223372036854775808", "integer overflow" },
		{ "-9223372036854775807 - 1", "integer overflow" },
		{ "-9223372036854775807 - 2", "integer overflow" },
		{ "3037000499*3037000499", "9223372030926249001" },
		{ "3037000500*3037000500", "integer overflow" },
		{ "2^63", "integer overflow" },
		{ "(-2)^63", "integer overflow" },
		{ "10^19", "integer overflow" },
		{ "2^1000000000000", "integer overflow" },
		{ "0.5^-63", "integer overflow" },
		{ "100000000000000000000.5", "integer overflow" },
		{ "1.1^1000", "integer overflow" },
		{ "99999999999999999999 - 99999999999999999999",
		    "integer overflow" },
		{ "4611686018427387904 * 2", "integer overflow" },
		{ "4611686018427387904 * 2 / 2", "integer overflow" },
		{ "4611686018427387904 / 2 * 2", "4611686018427387904" },
		/* A long fraction goes on as a long double. */
		{ "0.123456789012345678901234", "0.123457" },
		{ "1/9223372036854775807 * 9223372036854775807", "1" },
	};

	(void)state;
	RUN(cases);
}

static void
test_errors(void **state)
{
	static const struct calc_case cases[] = {
		{ "1/0", "division by zero" },
		{ "1/0.0", "division by zero" },
		{ "1/(2-2)", "division by zero" },
		{ "1%0", "division by zero" },
		{ "0^-1", "division by zero" },
		{ "0^-0.5", "division by zero" },
		{ "(-8)^0.5", "result is not a real number" },
		{ "(-8)^(1/3)", "result is not a real number" },
		{ "", "syntax error at column 1" },
		{ "   ", "syntax error at column 4" },
		{ "2+", "syntax error at column 3" },
		{ "2 +", "syntax error at column 4" },
		{ "+", "syntax error at column 2" },
		{ "(1+2", "syntax error at column 5" },
		{ "1+2)", "syntax error at column 4" },
		{ "2 3", "syntax error at column 3" },
		{ "2**3", "syntax error at column 3" },
		{ "2(3)", "syntax error at column 2" },
		{ "abc", "syntax error at column 1" },
		{ "1 + x", "syntax error at column 5" },
		{ "1e5", "syntax error at column 2" },
		{ ".", "syntax error at column 1" },
		{ "1.2.3", "syntax error at column 4" },
		{ "1..2", "syntax error at column 3" },
		{ "()", "syntax error at column 2" },
		{ "2^", "syntax error at column 3" },
		{ "\xc3\xa9+1", "syntax error at column 1" },
		{ "1+\xc3\xa9", "syntax error at column 3" },
		{ "1 \xe2\x88\x92 2", "syntax error at column 3" },
		{ "1,5", "syntax error at column 2" },
		{ "sqrt(4)", "syntax error at column 1" },
		/* The whole syntax is checked before any arithmetic. */
		{ "1/0 +", "syntax error at column 6" },
		{ "9223372036854775808 )", "syntax error at column 21" },
	};

	(void)state;
	RUN(cases);
}

static void
test_limits(void **state)
{
	char expr[1024];
	size_t n;

	(void)state;
	/* 256 levels are fine, 257 are too many. */
	n = 0;
	for (int i = 0; i < 256; i++)
		expr[n++] = '(';
	expr[n++] = '1';
	for (int i = 0; i < 256; i++)
		expr[n++] = ')';
	expr[n] = '\0';
	assert_true(check(expr, n, "1"));
	memmove(expr + 1, expr, n + 1);
	expr[0] = '(';
	expr[n + 1] = ')';
	expr[n + 2] = '\0';
	assert_true(check(expr, n + 2, "expression is nested too deeply"));

	memset(expr, '-', 300);
	expr[300] = '1';
	expr[301] = '\0';
	assert_true(check(expr, 301, "expression is nested too deeply"));

	/* The length is taken as given: a NUL is not the end. */
	assert_true(check("1\0+2", 4, "syntax error at column 2"));
	assert_true(check("1+2", 1, "1"));
}

/* calc as the registry runs it, through its schema. */
static void
test_tool(void **state)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_result res;
	struct plug_tool *t;
	struct plug_set *s;
	char *cause = NULL, *line;
	json_t *args;

	(void)state;
	memset(&config, 0, sizeof config);
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	t = plug_set_find(s, "calc");
	assert_non_null(t);

	line = plug_tool_prompt_line(t);
	assert_string_equal(line,
	    "calc: Evaluates an arithmetic expression with + - * / % ^ and "
	    "parentheses. Arguments: {\"additionalProperties\":false,"
	    "\"properties\":{\"expression\":{\"maxLength\":256,\"type\":"
	    "\"string\"}},\"required\":[\"expression\"],\"type\":\"object\"}");
	free(line);

	args = json_pack("{s:s}", "expression", "(1+2)*7/2");
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "10.5");
	assert_int_equal(res.is_error, 0);
	plug_result_clear(&res);
	json_decref(args);

	args = json_pack("{s:s}", "expression", "1/0");
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), 0);
	assert_string_equal(res.text, "division by zero");
	assert_int_equal(res.is_error, 1);
	plug_result_clear(&res);
	json_decref(args);

	args = json_pack("{s:i}", "expression", 3);
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), -1);
	assert_string_equal(
	    cause, "$.expression: expected string, got integer");
	free(cause);
	json_decref(args);

	plug_set_unref(s);
	plug_registry_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_division),
		cmocka_unit_test(test_modulo),
		cmocka_unit_test(test_power),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
