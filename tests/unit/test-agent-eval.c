/*
 * test-agent-eval.c: evaluation arithmetic (agent/eval.c) on fixed sets:
 * Wilson intervals and percentiles against values computed offline
 * (Python's math and numpy.percentile), every scorer with its edge
 * cases and errors, and a report whose per-chain and per-component
 * figures are worked out by hand from the spans given.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/eval.h"
#include "daemon/util.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9)

static void
test_wilson(void **state)
{
	double lo, hi;

	(void)state;
	agent_eval_wilson(8, 10, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.49016247153664183);
	NEAR(hi, 0.9433178485456247);
	agent_eval_wilson(0, 10, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.0);
	NEAR(hi, 0.2775327998628892);
	agent_eval_wilson(10, 10, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.7224672001371107);
	NEAR(hi, 1.0);
	agent_eval_wilson(3, 4, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.30064184258240184);
	NEAR(hi, 0.9544127391902995);
	/* No trials, or a count beyond them: the whole range. */
	agent_eval_wilson(0, 0, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.0);
	NEAR(hi, 1.0);
	agent_eval_wilson(5, 4, AGENT_EVAL_Z95, &lo, &hi);
	NEAR(lo, 0.0);
	NEAR(hi, 1.0);
}

static void
test_percentile(void **state)
{
	double v[10] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	double w[3] = { 30, 10, 20 };
	double one[1] = { 42 };

	(void)state;
	NEAR(agent_eval_percentile(v, 10, 0.5), 5.5);
	NEAR(agent_eval_percentile(v, 10, 0.95), 9.55);
	NEAR(agent_eval_percentile(v, 10, 0.0), 1);
	NEAR(agent_eval_percentile(v, 10, 1.0), 10);
	NEAR(agent_eval_percentile(w, 3, 0.95), 29.0);
	NEAR(agent_eval_percentile(one, 1, 0.95), 42);
	NEAR(agent_eval_percentile(NULL, 0, 0.5), 0);
}

/* Scores answer against expected (taken) with scorer text. */
static int
score(const char *scorer, const char *answer, json_t *expected)
{
	json_t *s = json_loads(scorer, 0, NULL), *items;
	char *cause = NULL;
	int pass = -1;

	assert_non_null(s);
	items = json_pack("[{s:O}]", "expected", expected);
	assert_int_equal(agent_eval_scorer_check(s, items, &cause), 0);
	assert_int_equal(
	    agent_eval_score(s, answer, expected, &pass, &cause), 0);
	json_decref(items);
	json_decref(expected);
	json_decref(s);
	return pass;
}

/* The message agent_eval_scorer_check() gives, or NULL if it passes. */
static char *
check_error(const char *scorer, json_t *expected)
{
	json_t *s = json_loads(scorer, JSON_DECODE_ANY, NULL), *items;
	char *cause = NULL;

	assert_non_null(s);
	items = expected != NULL
	    ? json_pack("[{s:s}, {s:o}]", "expected", "x", "expected", expected)
	    : NULL;
	if (agent_eval_scorer_check(s, items, &cause) == 0)
		cause = NULL;
	json_decref(items);
	json_decref(s);
	return cause;
}

static void
test_scorers(void **state)
{
	char *cause;

	(void)state;
	/* exact: trimmed, case-sensitive unless told. */
	assert_int_equal(
	    score("{\"type\":\"exact\"}", "  Paris\n", json_string("Paris")),
	    1);
	assert_int_equal(
	    score("{\"type\":\"exact\"}", "paris", json_string("Paris")), 0);
	assert_int_equal(score("{\"type\":\"exact\",\"case_sensitive\":false}",
	                     "paris", json_string("Paris")),
	    1);
	assert_int_equal(
	    score("{\"type\":\"exact\"}", "Paris!", json_string("Paris")), 0);
	assert_int_equal(
	    score("{\"type\":\"exact\"}", NULL, json_string("Paris")), 0);
	/* numeric: the last number, commas and a full stop allowed. */
	assert_int_equal(score("{\"type\":\"numeric\"}", "The total is 1,234.",
	                     json_integer(1234)),
	    1);
	assert_int_equal(
	    score("{\"type\":\"numeric\"}", "3 apples and 4", json_integer(4)),
	    1);
	assert_int_equal(
	    score("{\"type\":\"numeric\"}", "3 apples and 4", json_integer(3)),
	    0);
	assert_int_equal(score("{\"type\":\"numeric\"}", "It is -2.5 degrees",
	                     json_string("-2.5")),
	    1);
	assert_int_equal(
	    score("{\"type\":\"numeric\"}", "1.5e3", json_real(1500.0)), 1);
	assert_int_equal(score("{\"type\":\"numeric\",\"tolerance\":0.01}",
	                     "3.14159", json_real(3.14)),
	    1);
	assert_int_equal(
	    score("{\"type\":\"numeric\"}", "3.14159", json_real(3.14)), 0);
	assert_int_equal(
	    score("{\"type\":\"numeric\"}", "no idea", json_integer(0)), 0);
	/* regex: a search, not an anchored match. */
	assert_int_equal(score("{\"type\":\"regex\"}", "answer: 42 units",
	                     json_string("\\b4[0-9]\\b")),
	    1);
	assert_int_equal(score("{\"type\":\"regex\"}", "answer: 420",
	                     json_string("^4[0-9]$")),
	    0);
	/* contains. */
	assert_int_equal(score("{\"type\":\"contains\"}", "It is in Paris.",
	                     json_string("Paris")),
	    1);
	assert_int_equal(score("{\"type\":\"contains\"}", "It is in PARIS.",
	                     json_string("Paris")),
	    0);
	assert_int_equal(
	    score("{\"type\":\"contains\",\"case_sensitive\":false}",
	        "It is in PARIS.", json_string("Paris")),
	    1);

	/* Errors name what is wrong, and the item. */
	cause = check_error("{\"type\":\"fuzzy\"}", NULL);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "scorer.type"));
	free(cause);
	cause = check_error("[]", NULL);
	assert_non_null(cause);
	free(cause);
	cause = check_error("{\"type\":\"exact\",\"tolerance\":1}", NULL);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "tolerance"));
	free(cause);
	cause = check_error("{\"type\":\"numeric\",\"tolerance\":-1}", NULL);
	assert_non_null(cause);
	free(cause);
	cause = check_error("{\"type\":\"numeric\"}", json_integer(3));
	assert_non_null(cause);
	/* Item 1's "x" is not a number. */
	assert_non_null(strstr(cause, "item 1"));
	free(cause);
	cause = check_error("{\"type\":\"exact\"}", json_integer(3));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "item 2"));
	free(cause);
	cause = check_error("{\"type\":\"regex\"}", json_string("a(b"));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "item 2: pattern at offset 3"));
	free(cause);
}

/* A scorer tool's text read as a verdict. */
static void
test_verdict(void **state)
{
	const char *pass[] = { "pass", " PASS\n", "true", "Yes", "1", "0.5",
		"0.93", "{\"pass\": true}" };
	const char *fail[] = { "fail", "False", "no", "0", "0.49",
		"{\"pass\": false, \"why\": \"off by one\"}" };
	const char *bad[] = { "", "maybe", "{\"pass\": 1}", "[true]", "nan" };
	char *cause = NULL;
	int p;

	(void)state;
	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
		p = -1;
		assert_int_equal(agent_eval_verdict(pass[i], &p, &cause), 0);
		assert_int_equal(p, 1);
	}
	for (size_t i = 0; i < sizeof fail / sizeof fail[0]; i++) {
		p = -1;
		assert_int_equal(agent_eval_verdict(fail[i], &p, &cause), 0);
		assert_int_equal(p, 0);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(agent_eval_verdict(bad[i], &p, &cause), -1);
		assert_non_null(strstr(cause, "scorer tool said"));
		free(cause);
		cause = NULL;
	}
	/* The tool scorer checks its shape; the daemon does the call. */
	assert_null(check_error("{\"type\":\"tool\",\"name\":\"t\"}", NULL));
	cause = check_error("{\"type\":\"tool\"}", NULL);
	assert_non_null(cause);
	free(cause);
	cause = check_error("{\"type\":\"tool\",\"name\":\"t\",\"x\":1}", NULL);
	assert_non_null(cause);
	free(cause);
}

/* The LLM judge's scorer shape and prompt. */
static void
test_judge(void **state)
{
	json_t *scorer, *exp;
	char *cause, *prompt;
	int pass = 1;

	(void)state;
	assert_null(check_error("{\"type\":\"judge\"}", NULL));
	assert_null(check_error(
	    "{\"type\":\"judge\",\"agent\":\"react\",\"rubric\":\"r\"}",
	    json_integer(3)));
	cause = check_error("{\"type\":\"judge\",\"agent\":\"\"}", NULL);
	assert_non_null(cause);
	free(cause);
	cause = check_error("{\"type\":\"judge\",\"tolerance\":1}", NULL);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "tolerance"));
	free(cause);

	scorer = json_pack(
	    "{s:s, s:s}", "type", "judge", "rubric", "Units must match.");
	exp = json_integer(42);
	prompt = agent_eval_judge_prompt(scorer, "How many?", "forty-two", exp);
	assert_non_null(strstr(prompt, "Units must match."));
	assert_non_null(strstr(prompt, "Task: How many?\n"));
	assert_non_null(strstr(prompt, "Reference answer: 42\n"));
	assert_non_null(strstr(prompt, "Candidate answer: forty-two\n"));
	assert_non_null(strstr(prompt, "\"Final Answer: pass\""));
	free(prompt);
	json_decref(exp);
	json_decref(scorer);
	/* The daemon runs it: scoring it here is an error. */
	scorer = json_pack("{s:s}", "type", "judge");
	exp = json_string("x");
	cause = NULL;
	assert_int_equal(agent_eval_score(scorer, "x", exp, &pass, &cause), -1);
	assert_int_equal(pass, 0);
	free(cause);
	json_decref(exp);
	json_decref(scorer);
}

/* A span line as agent_trace_read() gives it. */
static json_t *
span(const char *kind, const char *name, int64_t start_ms, int64_t end_ms,
    int error, json_t *attrs)
{
	json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:o}",
	    "trace_id", "0123456789abcdef0123456789abcdef", "span_id",
	    "0123456789abcdef", "kind", kind, "name", name, "start_ns",
	    (json_int_t)start_ms * 1000000, "end_ns",
	    (json_int_t)end_ms * 1000000, "status", error ? "error" : "ok",
	    "attributes", attrs != NULL ? attrs : json_object());

	assert_non_null(s);
	return s;
}

/* An llm span with tokens in/out, reuse, TTFT and speed. */
static json_t *
llm(int in, int out, int reused, double ttft, double tps)
{
	return span("llm", "text_completion m", 0, 100, 0,
	    json_pack("{s:i, s:i, s:i, s:i, s:f, s:f}",
	        "gen_ai.usage.input_tokens", in, "gen_ai.usage.output_tokens",
	        out, "agentd.prompt_tokens_computed", in - reused,
	        "agentd.prompt_tokens_reused", reused, "agentd.ttft_ms", ttft,
	        "agentd.tokens_per_s", tps));
}

static json_t *
tool(const char *name, double latency, int error)
{
	return span("tool", "execute_tool", 0, 1, error,
	    json_pack("{s:s, s:f}", "gen_ai.tool.name", name,
	        "agentd.tool.latency_ms", latency));
}

static void
test_report(void **state)
{
	json_t *results, *rep, *chain, *comp, *v, *t;
	char *md;

	(void)state;
	/*
	 * Four items, three passing.  Item a: 2 steps, 2 model calls, calc
	 * twice (10 ms, 30 ms); item b: 1 step, calc failing (20 ms);
	 * item c: 1 step, a failed parse, search (5 ms); item d: no
	 * trace, an error.
	 */
	results = json_pack("[{s:s, s:b, s:s, s:s, s:f, s:s, s:[o, o, o, o, "
	                    "o, o, o, o]},"
	                    " {s:s, s:b, s:s, s:s, s:f, s:[o, o, o, o, o]},"
	                    " {s:s, s:b, s:s, s:s, s:f, s:[o, o, o, o, o]},"
	                    " {s:s, s:b, s:n, s:s, s:f, s:s}]",
	    "id", "a", "pass", 1, "answer", "4", "expected", "4", "wall_ms",
	    100.0, "trace_id", "0123456789abcdef0123456789abcdef", "spans",
	    span("step", "react.step", 0, 10, 0, NULL),
	    span("step", "react.step", 10, 20, 0, NULL), llm(100, 10, 0, 5, 50),
	    llm(120, 20, 100, 1, 100), tool("calc", 10, 0), tool("calc", 30, 0),
	    span("parse", "react.parse", 0, 1, 0, NULL),
	    span("strategy", "self_consistency", 0, 50, 0,
	        json_pack("{s:f, s:i, s:s}", "agentd.sc.agreement", 0.5,
	            "agentd.sc.samples", 4, "agentd.note", "x")),
	    "id", "b", "pass", 1, "answer", "7", "expected", "7", "wall_ms",
	    200.0, "spans", span("step", "react.step", 0, 10, 0, NULL),
	    llm(80, 5, 0, 3, 25), tool("calc", 20, 1),
	    span("parse", "react.parse", 0, 1, 0, NULL),
	    span("strategy", "self_consistency", 0, 70, 0,
	        json_pack("{s:f, s:i}", "agentd.sc.agreement", 1.0,
	            "agentd.sc.samples", 8)),
	    "id", "c", "pass", 1, "answer", "Paris", "expected", "Paris",
	    "wall_ms", 300.0, "spans",
	    span("step", "react.step", 0, 10, 0, NULL), llm(60, 5, 0, 2, 75),
	    tool("search", 5, 0), span("parse", "react.parse", 0, 1, 1, NULL),
	    span("step", "react.observe", 0, 1, 0, NULL), "id", "d", "pass", 0,
	    "answer", "expected", "x", "wall_ms", 400.0, "error",
	    "the model failed");
	assert_non_null(results);
	rep = agent_eval_report(results);
	assert_non_null(rep);

	chain = json_object_get(rep, "chain");
	assert_int_equal(
	    json_integer_value(json_object_get(chain, "items")), 4);
	assert_int_equal(
	    json_integer_value(json_object_get(chain, "passed")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(chain, "errors")), 1);
	NEAR(json_real_value(json_object_get(chain, "success_rate")), 0.75);
	NEAR(json_real_value(json_array_get(json_object_get(chain, "ci95"), 0)),
	    0.30064184258240184);
	NEAR(json_real_value(json_array_get(json_object_get(chain, "ci95"), 1)),
	    0.9544127391902995);
	/* Steps per item: 2, 1, 1, 0. */
	v = json_object_get(chain, "steps");
	NEAR(json_real_value(json_object_get(v, "mean")), 1.0);
	NEAR(json_real_value(json_object_get(v, "p50")), 1.0);
	NEAR(json_real_value(json_object_get(v, "p95")), 1.85);
	/* Tokens: a 250, b 85, c 65, d 0. */
	v = json_object_get(chain, "tokens");
	assert_int_equal(json_integer_value(json_object_get(v, "input")), 360);
	assert_int_equal(json_integer_value(json_object_get(v, "output")), 40);
	assert_int_equal(json_integer_value(json_object_get(v, "total")), 400);
	NEAR(json_real_value(
	         json_object_get(json_object_get(v, "per_item"), "mean")),
	    100.0);
	NEAR(json_real_value(
	         json_object_get(json_object_get(v, "per_item"), "p50")),
	    75.0);
	v = json_object_get(chain, "wall_ms");
	NEAR(json_real_value(json_object_get(v, "mean")), 250.0);
	NEAR(json_real_value(json_object_get(v, "p50")), 250.0);
	NEAR(json_real_value(json_object_get(v, "p95")), 385.0);
	NEAR(json_real_value(json_object_get(v, "total")), 1000.0);

	/* Items, in order, with their own figures. */
	v = json_object_get(rep, "items");
	assert_int_equal(json_array_size(v), 4);
	t = json_array_get(v, 0);
	assert_string_equal(json_string_value(json_object_get(t, "id")), "a");
	assert_int_equal(json_integer_value(json_object_get(t, "steps")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(t, "input_tokens")), 220);
	assert_string_equal(json_string_value(json_object_get(t, "trace_id")),
	    "0123456789abcdef0123456789abcdef");
	t = json_array_get(v, 3);
	assert_false(json_is_true(json_object_get(t, "pass")));
	assert_true(json_is_null(json_object_get(t, "answer")));
	assert_string_equal(
	    json_string_value(json_object_get(t, "error")), "the model failed");

	comp = json_object_get(rep, "components");
	/* Tools: calc 3 calls, 1 error, latencies 10, 20, 30. */
	v = json_object_get(comp, "tools");
	assert_int_equal(json_array_size(v), 2);
	t = json_array_get(v, 0);
	assert_string_equal(
	    json_string_value(json_object_get(t, "name")), "calc");
	assert_int_equal(json_integer_value(json_object_get(t, "calls")), 3);
	assert_int_equal(json_integer_value(json_object_get(t, "errors")), 1);
	NEAR(json_real_value(json_object_get(t, "error_rate")), 1.0 / 3.0);
	NEAR(json_real_value(
	         json_object_get(json_object_get(t, "latency_ms"), "p50")),
	    20.0);
	NEAR(json_real_value(
	         json_object_get(json_object_get(t, "latency_ms"), "p95")),
	    29.0);
	t = json_array_get(v, 1);
	assert_string_equal(
	    json_string_value(json_object_get(t, "name")), "search");
	NEAR(json_real_value(json_object_get(t, "error_rate")), 0.0);
	/* Model: 4 calls; reuse 100 of 360 prompt tokens. */
	v = json_object_get(comp, "model");
	assert_int_equal(json_integer_value(json_object_get(v, "calls")), 4);
	assert_int_equal(
	    json_integer_value(json_object_get(v, "input_tokens")), 360);
	assert_int_equal(
	    json_integer_value(json_object_get(v, "prompt_tokens_reused")),
	    100);
	NEAR(json_real_value(json_object_get(v, "cache_reuse")), 100.0 / 360.0);
	/* TTFT 5, 1, 3, 2: p50 2.5, p95 4.7; tokens/s mean 62.5. */
	NEAR(json_real_value(
	         json_object_get(json_object_get(v, "ttft_ms"), "p50")),
	    2.5);
	NEAR(json_real_value(
	         json_object_get(json_object_get(v, "ttft_ms"), "p95")),
	    4.7);
	NEAR(json_real_value(
	         json_object_get(json_object_get(v, "tokens_per_s"), "mean")),
	    62.5);
	/* Parser: 3 parses, 1 failure. */
	v = json_object_get(comp, "parser");
	assert_int_equal(json_integer_value(json_object_get(v, "parses")), 3);
	assert_int_equal(json_integer_value(json_object_get(v, "failures")), 1);
	NEAR(json_real_value(json_object_get(v, "failure_rate")), 1.0 / 3.0);
	/* Strategy: two spans, agreement mean 0.75, samples mean 6. */
	v = json_object_get(comp, "strategies");
	assert_int_equal(json_array_size(v), 1);
	t = json_array_get(v, 0);
	assert_string_equal(
	    json_string_value(json_object_get(t, "name")), "self_consistency");
	assert_int_equal(json_integer_value(json_object_get(t, "spans")), 2);
	NEAR(json_real_value(
	         json_object_get(json_object_get(t, "wall_ms"), "mean")),
	    60.0);
	t = json_object_get(t, "attributes_mean");
	NEAR(json_real_value(json_object_get(t, "agentd.sc.agreement")), 0.75);
	NEAR(json_real_value(json_object_get(t, "agentd.sc.samples")), 6.0);
	assert_null(json_object_get(t, "agentd.note"));

	md = agent_eval_markdown(rep);
	assert_non_null(md);
	assert_non_null(strstr(md, "| 4 | 3 | 1 | 75.0% | 30.1% to 95.4% |"));
	assert_non_null(strstr(md, "| calc | 3 | 33.3% | 20.0 | 29.0 |"));
	assert_non_null(
	    strstr(md, "| a | yes | 4 | 4 | 2 | 250 | 100.0 | - |"));
	assert_non_null(strstr(md, "3 parses, 1 failures (33.3%)"));
	assert_non_null(strstr(md, "| self_consistency | 2 | 60.0 |"));
	free(md);
	json_decref(rep);
	json_decref(results);

	/* An empty evaluation is well formed. */
	results = json_array();
	rep = agent_eval_report(results);
	chain = json_object_get(rep, "chain");
	NEAR(json_real_value(json_object_get(chain, "success_rate")), 0.0);
	NEAR(json_real_value(json_array_get(json_object_get(chain, "ci95"), 1)),
	    1.0);
	md = agent_eval_markdown(rep);
	assert_non_null(md);
	free(md);
	json_decref(rep);
	json_decref(results);
}

static void
test_markdown_escapes(void **state)
{
	json_t *results, *rep;
	char *md;

	(void)state;
	results = json_pack("[{s:s, s:b, s:s, s:s, s:f}]", "id", "x|y", "pass",
	    0, "answer", "line1\nline2 | pipe", "expected", "z", "wall_ms",
	    1.0);
	rep = agent_eval_report(results);
	md = agent_eval_markdown(rep);
	assert_non_null(
	    strstr(md, "| x\\|y | no | line1 line2 \\| pipe | z |"));
	free(md);
	json_decref(rep);
	json_decref(results);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wilson),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_scorers),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_markdown_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
