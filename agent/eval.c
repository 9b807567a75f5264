/*
 * eval.c: scorers, interval statistics and the evaluation report
 * (eval.h).
 *
 * Everything here is a pure function of its inputs: eval.run in the
 * daemon runs the items and reads their traces, and hands the results
 * here, so the arithmetic is tested on fixed sets without a model.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcre2.h>

#include "agent/eval.h"
#include "daemon/util.h"

/* The longest regex pattern a scorer takes. */
#define EVAL_MAX_PATTERN 4096

static int dbl_cmp(const void *, const void *);
static char *trimmed(const char *);
static int last_number(const char *, double *);
static int expected_number(const json_t *, double *);
static const char *fold_strstr(const char *, const char *, int);
static void stats_add(json_t *, const char *, double);
static json_t *dist_json(json_t *, int);
static json_t *group_get(json_t *, const char *);
static void dist_push(json_t *, const char *, double);
static double num_attr(const json_t *, const char *, int *);
static void report_spans(json_t *, json_t *, json_t *, const json_t *);
static double arr_mean(const json_t *);
static void md_cell(struct buf *, const char *);
static void md_value(struct buf *, const json_t *);
static double md_num(const json_t *, const char *, const char *);

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

void
agent_eval_wilson(size_t k, size_t n, double z, double *lo, double *hi)
{
	double p, z2, den, centre, half;

	if (n == 0 || k > n) {
		*lo = 0.0;
		*hi = 1.0;
		return;
	}
	p = (double)k / (double)n;
	z2 = z * z;
	den = 1.0 + z2 / (double)n;
	centre = (p + z2 / (2.0 * (double)n)) / den;
	half = z *
	    sqrt(p * (1.0 - p) / (double)n +
	        z2 / (4.0 * (double)n * (double)n)) /
	    den;
	*lo = centre - half < 0.0 ? 0.0 : centre - half;
	*hi = centre + half > 1.0 ? 1.0 : centre + half;
}

double
agent_eval_percentile(double *v, size_t n, double p)
{
	double rank, frac;
	size_t i;

	if (n == 0)
		return 0.0;
	qsort(v, n, sizeof *v, dbl_cmp);
	if (p <= 0.0)
		return v[0];
	if (p >= 1.0)
		return v[n - 1];
	rank = p * (double)(n - 1);
	i = (size_t)rank;
	frac = rank - (double)i;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + frac * (v[i + 1] - v[i]);
}

/* ---- scorers ----------------------------------------------------------- */

/* A copy of s without leading and trailing white space. */
static char *
trimmed(const char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return xstrndup(s, len);
}

/*
 * The last number in s ("-3", "2.5", "1,234" reads as 1234, "1e3");
 * returns 0, or -1 when there is none.
 */
static int
last_number(const char *s, double *out)
{
	const char *p, *start = NULL, *end = NULL;
	char buf[128], *e;
	size_t n = 0;
	double v;

	/* Find the last run of digits, with its sign, point and commas. */
	for (p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			continue;
		start = p;
		while (isdigit((unsigned char)*p) || *p == '.' ||
		    (*p == ',' && isdigit((unsigned char)p[1])))
			p++;
		if ((*p == 'e' || *p == 'E') &&
		    (isdigit((unsigned char)p[1]) ||
		        ((p[1] == '-' || p[1] == '+') &&
		            isdigit((unsigned char)p[2])))) {
			p += 2;
			while (isdigit((unsigned char)*p))
				p++;
		}
		end = p;
		if (start > s && start[-1] == '-')
			start--;
		if (*p == '\0')
			break;
	}
	if (start == NULL)
		return -1;
	for (p = start; p < end && n + 1 < sizeof buf; p++) {
		if (*p != ',')
			buf[n++] = *p;
	}
	buf[n] = '\0';
	/* A trailing point ("4.") is punctuation. */
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	errno = 0;
	v = strtod(buf, &e);
	if (e == buf || errno != 0 || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* expected as a number: a JSON number or a numeric string. */
static int
expected_number(const json_t *expected, double *out)
{
	const char *s;
	char *e;

	if (json_is_number(expected)) {
		*out = json_number_value(expected);
		return 0;
	}
	s = json_string_value(expected);
	if (s == NULL)
		return -1;
	errno = 0;
	*out = strtod(s, &e);
	while (isspace((unsigned char)*e))
		e++;
	if (e == s || *e != '\0' || errno != 0 || !isfinite(*out))
		return -1;
	return 0;
}

/* strstr, folding ASCII case unless cs. */
static const char *
fold_strstr(const char *hay, const char *needle, int cs)
{
	size_t n = strlen(needle);

	if (cs)
		return strstr(hay, needle);
	for (; *hay != '\0'; hay++) {
		if (strncasecmp(hay, needle, n) == 0)
			return hay;
	}
	return n == 0 ? hay : NULL;
}

int
agent_eval_scorer_check(const json_t *scorer, const json_t *items, char **cause)
{
	const char *type, *key;
	const json_t *v, *item, *exp;
	pcre2_code *re;
	PCRE2_SIZE off;
	size_t i;
	double d;
	int ec;

	if (!json_is_object(scorer)) {
		xasprintf(cause, "scorer must be an object {\"type\", ...}");
		return -1;
	}
	type = json_string_value(json_object_get(scorer, "type"));
	if (type == NULL ||
	    (strcmp(type, "exact") != 0 && strcmp(type, "numeric") != 0 &&
	        strcmp(type, "regex") != 0 && strcmp(type, "contains") != 0 &&
	        strcmp(type, "tool") != 0 && strcmp(type, "judge") != 0)) {
		xasprintf(cause,
		    "scorer.type must be exact, numeric, regex, "
		    "contains, tool or judge");
		return -1;
	}
	if (strcmp(type, "judge") == 0) {
		json_object_foreach((json_t *)(uintptr_t)scorer, key, v)
		{
			if (strcmp(key, "type") == 0)
				continue;
			if ((strcmp(key, "agent") == 0 && json_is_string(v) &&
			        json_string_length(v) > 0 &&
			        json_string_length(v) <= 64) ||
			    (strcmp(key, "rubric") == 0 && json_is_string(v) &&
			        json_string_length(v) <= EVAL_MAX_PATTERN))
				continue;
			xasprintf(cause,
			    "scorer: the judge takes \"agent\" (a name) and "
			    "\"rubric\" (at most %d bytes), not \"%s\"",
			    EVAL_MAX_PATTERN, key);
			return -1;
		}
		return 0;
	}
	if (strcmp(type, "tool") == 0) {
		v = json_object_get(scorer, "name");
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_object_size(scorer) != 2) {
			xasprintf(cause,
			    "scorer: the tool scorer is {\"type\": \"tool\", "
			    "\"name\": TOOL}");
			return -1;
		}
		return 0;
	}
	json_object_foreach((json_t *)(uintptr_t)scorer, key, v)
	{
		if (strcmp(key, "type") == 0)
			continue;
		if (strcmp(key, "tolerance") == 0 &&
		    strcmp(type, "numeric") == 0) {
			if (!json_is_number(v) || json_number_value(v) < 0 ||
			    !isfinite(json_number_value(v))) {
				xasprintf(cause,
				    "scorer.tolerance must be a number >= 0");
				return -1;
			}
		} else if (strcmp(key, "case_sensitive") == 0 &&
		    (strcmp(type, "exact") == 0 ||
		        strcmp(type, "contains") == 0)) {
			if (!json_is_boolean(v)) {
				xasprintf(cause,
				    "scorer.case_sensitive must be a boolean");
				return -1;
			}
		} else {
			xasprintf(cause, "scorer: unknown member \"%s\" for %s",
			    key, type);
			return -1;
		}
	}
	json_array_foreach(items, i, item)
	{
		exp = json_object_get(item, "expected");
		if (strcmp(type, "numeric") == 0) {
			if (expected_number(exp, &d) != 0) {
				xasprintf(cause,
				    "item %zu: expected must be a number for "
				    "the numeric scorer",
				    i + 1);
				return -1;
			}
			continue;
		}
		if (!json_is_string(exp)) {
			xasprintf(cause,
			    "item %zu: expected must be a string for the %s "
			    "scorer",
			    i + 1, type);
			return -1;
		}
		if (strcmp(type, "regex") != 0)
			continue;
		if (json_string_length(exp) > EVAL_MAX_PATTERN) {
			xasprintf(cause,
			    "item %zu: pattern longer than %d bytes", i + 1,
			    EVAL_MAX_PATTERN);
			return -1;
		}
		re = pcre2_compile((PCRE2_SPTR)json_string_value(exp),
		    json_string_length(exp), PCRE2_UTF, &ec, &off, NULL);
		if (re == NULL) {
			PCRE2_UCHAR msg[256];

			pcre2_get_error_message(ec, msg, sizeof msg);
			xasprintf(cause, "item %zu: pattern at offset %zu: %s",
			    i + 1, (size_t)off, (const char *)msg);
			return -1;
		}
		pcre2_code_free(re);
	}
	return 0;
}

int
agent_eval_score(const json_t *scorer, const char *answer,
    const json_t *expected, int *pass, char **cause)
{
	const char *type = json_string_value(json_object_get(scorer, "type"));
	const json_t *cs = json_object_get(scorer, "case_sensitive");
	int sensitive = cs == NULL || json_is_true(cs), ec, rc;
	pcre2_match_data *md;
	pcre2_code *re;
	PCRE2_SIZE off;
	double want, got, tol;
	char *a, *e;

	*pass = 0;
	if (strcmp(type, "tool") == 0 || strcmp(type, "judge") == 0) {
		xasprintf(cause, "the %s scorer is run by the daemon", type);
		return -1;
	}
	if (answer == NULL)
		return 0;
	if (strcmp(type, "numeric") == 0) {
		if (expected_number(expected, &want) != 0) {
			xasprintf(cause, "expected is not a number");
			return -1;
		}
		tol = json_is_number(json_object_get(scorer, "tolerance"))
		    ? json_number_value(json_object_get(scorer, "tolerance"))
		    : 1e-6;
		if (last_number(answer, &got) == 0 && fabs(got - want) <= tol)
			*pass = 1;
		return 0;
	}
	if (!json_is_string(expected)) {
		xasprintf(cause, "expected is not a string");
		return -1;
	}
	if (strcmp(type, "exact") == 0) {
		a = trimmed(answer);
		e = trimmed(json_string_value(expected));
		*pass = sensitive ? strcmp(a, e) == 0 : strcasecmp(a, e) == 0;
		free(a);
		free(e);
		return 0;
	}
	if (strcmp(type, "contains") == 0) {
		*pass = fold_strstr(answer, json_string_value(expected),
		            sensitive) != NULL;
		return 0;
	}
	re = pcre2_compile((PCRE2_SPTR)json_string_value(expected),
	    json_string_length(expected), PCRE2_UTF, &ec, &off, NULL);
	if (re == NULL) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(ec, msg, sizeof msg);
		xasprintf(cause, "pattern at offset %zu: %s", (size_t)off,
		    (const char *)msg);
		return -1;
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	if (md == NULL)
		fatalx("%s: out of memory", __func__);
	rc =
	    pcre2_match(re, (PCRE2_SPTR)answer, strlen(answer), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
		xasprintf(cause, "pattern match failed (PCRE2 error %d)", rc);
		return -1;
	}
	*pass = rc >= 0;
	return 0;
}

char *
agent_eval_judge_prompt(const json_t *scorer, const char *input,
    const char *answer, const json_t *expected)
{
	const char *rubric =
	    json_string_value(json_object_get(scorer, "rubric"));
	char *exp, *out;

	exp = json_is_string(expected)
	    ? xstrdup(json_string_value(expected))
	    : json_dumps(expected, JSON_COMPACT | JSON_ENCODE_ANY);
	xasprintf(&out,
	    "Grade the candidate answer to the task below against the "
	    "reference answer.\n%s\n\nTask: %s\nReference answer: %s\n"
	    "Candidate answer: %s\n\nGive your reasoning, then end with "
	    "\"Final Answer: pass\" or \"Final Answer: fail\".",
	    rubric != NULL ? rubric
	                   : "Pass it when it means the same as the reference "
	                     "answer, whatever its wording.",
	    input, exp != NULL ? exp : "?", answer != NULL ? answer : "(none)");
	free(exp);
	return out;
}

int
agent_eval_verdict(const char *text, int *pass, char **cause)
{
	static const char *const yes[] = { "pass", "true", "yes", "1" };
	static const char *const no[] = { "fail", "false", "no", "0" };
	json_t *v;
	char *t, *end;
	double d;

	t = trimmed(text);
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(t, yes[i]) == 0 || strcasecmp(t, no[i]) == 0) {
			*pass = strcasecmp(t, yes[i]) == 0;
			free(t);
			return 0;
		}
	}
	errno = 0;
	d = strtod(t, &end);
	if (end != t && *end == '\0' && errno == 0 && isfinite(d)) {
		*pass = d >= 0.5;
		free(t);
		return 0;
	}
	v = json_loads(t, 0, NULL);
	if (json_is_boolean(json_object_get(v, "pass"))) {
		*pass = json_is_true(json_object_get(v, "pass"));
		json_decref(v);
		free(t);
		return 0;
	}
	json_decref(v);
	xasprintf(cause,
	    "scorer tool said '%.60s', not pass/fail, a number or "
	    "{\"pass\": bool}",
	    t);
	free(t);
	return -1;
}

/* ---- the report -------------------------------------------------------- */

/*
 * Distributions are collected as JSON arrays of numbers under a name in
 * an object, then summarised by dist_json().
 */
static void
dist_push(json_t *group, const char *name, double v)
{
	json_t *arr = json_object_get(group, name);

	if (arr == NULL) {
		arr = json_array();
		json_object_set_new(group, name, arr);
	}
	json_array_append_new(arr, json_real(v));
}

/* Adds v to the counter name of obj. */
static void
stats_add(json_t *obj, const char *name, double v)
{
	json_object_set_new(obj, name,
	    json_real(json_number_value(json_object_get(obj, name)) + v));
}

/*
 * Summarises an array of numbers (borrowed) as {"mean", "p50", "p95",
 * and with total "total"}.
 */
static json_t *
dist_json(json_t *arr, int total)
{
	size_t n = json_array_size(arr), i;
	double *v, sum = 0.0;
	json_t *x, *out;

	v = xcalloc(n + 1, sizeof *v);
	json_array_foreach(arr, i, x)
	{
		v[i] = json_number_value(x);
		sum += v[i];
	}
	out =
	    json_pack("{s:f, s:f, s:f}", "mean", n > 0 ? sum / (double)n : 0.0,
	        "p50", agent_eval_percentile(v, n, 0.5), "p95",
	        agent_eval_percentile(v, n, 0.95));
	if (total)
		json_object_set_new(out, "total", json_real(sum));
	free(v);
	return out;
}

/* The object under key in obj, created empty when missing. */
static json_t *
group_get(json_t *obj, const char *key)
{
	json_t *g = json_object_get(obj, key);

	if (g == NULL) {
		g = json_object();
		json_object_set_new(obj, key, g);
	}
	return g;
}

/* A numeric attribute; *have says whether it was there. */
static double
num_attr(const json_t *span, const char *key, int *have)
{
	const json_t *v =
	    json_object_get(json_object_get(span, "attributes"), key);

	*have = json_is_number(v);
	return *have ? json_number_value(v) : 0.0;
}

/*
 * Folds one item's spans into the component collectors: tools (by tool
 * name), model, and strat, which holds the parser (under "\x01parser",
 * a key no span name can take) and each strategy, vote or judge span
 * name.
 */
static void
report_spans(json_t *tools, json_t *model, json_t *strat, const json_t *item)
{
	const json_t *spans = json_object_get(item, "spans"), *s, *attrs;
	const char *kind, *name, *status, *key;
	json_t *g, *v;
	double ms, x;
	size_t i;
	int have, err;

	json_array_foreach(spans, i, s)
	{
		kind = json_string_value(json_object_get(s, "kind"));
		name = json_string_value(json_object_get(s, "name"));
		status = json_string_value(json_object_get(s, "status"));
		if (kind == NULL || name == NULL)
			continue;
		attrs = json_object_get(s, "attributes");
		err = status != NULL && strcmp(status, "error") == 0;
		ms = (double)(json_integer_value(json_object_get(s, "end_ns")) -
		         json_integer_value(json_object_get(s, "start_ns"))) /
		    1e6;
		if (strcmp(kind, "tool") == 0) {
			key = json_string_value(
			    json_object_get(attrs, "gen_ai.tool.name"));
			g = group_get(tools, key != NULL ? key : name);
			stats_add(g, "calls", 1);
			stats_add(g, "errors", err);
			x = num_attr(s, "agentd.tool.latency_ms", &have);
			dist_push(g, "latency_ms", have ? x : ms);
		} else if (strcmp(kind, "llm") == 0) {
			stats_add(model, "calls", 1);
			stats_add(model, "errors", err);
			stats_add(model, "input_tokens",
			    num_attr(s, "gen_ai.usage.input_tokens", &have));
			stats_add(model, "output_tokens",
			    num_attr(s, "gen_ai.usage.output_tokens", &have));
			stats_add(model, "prompt_tokens_computed",
			    num_attr(
			        s, "agentd.prompt_tokens_computed", &have));
			stats_add(model, "prompt_tokens_reused",
			    num_attr(s, "agentd.prompt_tokens_reused", &have));
			x = num_attr(s, "agentd.ttft_ms", &have);
			if (have)
				dist_push(model, "ttft_ms", x);
			x = num_attr(s, "agentd.tokens_per_s", &have);
			if (have)
				dist_push(model, "tokens_per_s", x);
			dist_push(model, "latency_ms", ms);
		} else if (strcmp(kind, "parse") == 0) {
			g = group_get(strat, "\x01parser");
			stats_add(g, "parses", 1);
			stats_add(g, "failures", err);
		} else if (strcmp(kind, "strategy") == 0 ||
		    strcmp(kind, "vote") == 0 || strcmp(kind, "judge") == 0) {
			g = group_get(strat, name);
			stats_add(g, "spans", 1);
			stats_add(g, "errors", err);
			dist_push(g, "\x01wall_ms", ms);
			json_object_foreach((json_t *)(uintptr_t)attrs, key, v)
			{
				if (json_is_number(v))
					dist_push(group_get(g, "\x01attrs"),
					    key, json_number_value(v));
			}
		}
	}
}

/* The mean of an array of numbers; 0 when empty. */
static double
arr_mean(const json_t *arr)
{
	size_t n = json_array_size(arr);
	double sum = 0.0;

	for (size_t i = 0; i < n; i++)
		sum += json_number_value(json_array_get(arr, i));
	return n > 0 ? sum / (double)n : 0.0;
}

/* A count from a collector, as an integer. */
#define COUNT(g, k) \
	((json_int_t)llround(json_number_value(json_object_get((g), (k)))))

json_t *
agent_eval_report(const json_t *results)
{
	json_t *items = json_array(), *tools = json_object(),
	       *model = json_object(), *strat = json_object();
	json_t *steps_d = json_array(), *tok_d = json_array(),
	       *wall_d = json_array(), *chain, *comp, *tlist, *slist, *g, *out,
	       *row, *attrs, *sum;
	const json_t *r, *s;
	const char *name, *key;
	json_int_t in_tok, out_tok, steps, all_in = 0, all_out = 0;
	size_t i, j, n = json_array_size(results), passed = 0, errors = 0;
	double lo, hi, wall, reused, computed;

	json_array_foreach(results, i, r)
	{
		in_tok = out_tok = steps = 0;
		json_array_foreach(json_object_get(r, "spans"), j, s)
		{
			const char *kind =
			    json_string_value(json_object_get(s, "kind"));
			const char *sn =
			    json_string_value(json_object_get(s, "name"));
			const json_t *a = json_object_get(s, "attributes");

			if (kind == NULL)
				continue;
			if (strcmp(kind, "llm") == 0) {
				in_tok += json_integer_value(json_object_get(
				    a, "gen_ai.usage.input_tokens"));
				out_tok += json_integer_value(json_object_get(
				    a, "gen_ai.usage.output_tokens"));
			}
			if (strcmp(kind, "step") == 0 && sn != NULL &&
			    strcmp(sn, "react.step") == 0)
				steps++;
		}
		report_spans(tools, model, strat, r);
		if (json_is_true(json_object_get(r, "pass")))
			passed++;
		if (json_is_string(json_object_get(r, "error")))
			errors++;
		wall = json_number_value(json_object_get(r, "wall_ms"));
		all_in += in_tok;
		all_out += out_tok;
		json_array_append_new(steps_d, json_real((double)steps));
		json_array_append_new(
		    tok_d, json_real((double)(in_tok + out_tok)));
		json_array_append_new(wall_d, json_real(wall));
		row = json_pack("{s:O?, s:b, s:O?, s:O?, s:I, s:I, s:I, s:f}",
		    "id", json_object_get(r, "id"), "pass",
		    json_is_true(json_object_get(r, "pass")), "answer",
		    json_object_get(r, "answer"), "expected",
		    json_object_get(r, "expected"), "steps", steps,
		    "input_tokens", in_tok, "output_tokens", out_tok, "wall_ms",
		    wall);
		if (json_object_get(r, "trace_id") != NULL)
			json_object_set(
			    row, "trace_id", json_object_get(r, "trace_id"));
		if (json_object_get(r, "error") != NULL)
			json_object_set(
			    row, "error", json_object_get(r, "error"));
		json_array_append_new(items, row);
	}

	agent_eval_wilson(passed, n, AGENT_EVAL_Z95, &lo, &hi);
	chain = json_pack("{s:I, s:I, s:I, s:f, s:[f, f], s:o, s:{s:I, s:I, "
	                  "s:I, s:o}, s:o}",
	    "items", (json_int_t)n, "passed", (json_int_t)passed, "errors",
	    (json_int_t)errors, "success_rate",
	    n > 0 ? (double)passed / (double)n : 0.0, "ci95", lo, hi, "steps",
	    dist_json(steps_d, 0), "tokens", "input", all_in, "output", all_out,
	    "total", all_in + all_out, "per_item", dist_json(tok_d, 0),
	    "wall_ms", dist_json(wall_d, 1));

	/* Components. */
	tlist = json_array();
	json_object_foreach(tools, key, g)
	{
		double calls = json_number_value(json_object_get(g, "calls"));

		json_array_append_new(tlist,
		    json_pack("{s:s, s:I, s:I, s:f, s:o}", "name", key, "calls",
		        COUNT(g, "calls"), "errors", COUNT(g, "errors"),
		        "error_rate",
		        calls > 0
		            ? json_number_value(json_object_get(g, "errors")) /
		                calls
		            : 0.0,
		        "latency_ms",
		        dist_json(json_object_get(g, "latency_ms"), 0)));
	}
	reused =
	    json_number_value(json_object_get(model, "prompt_tokens_reused"));
	computed =
	    json_number_value(json_object_get(model, "prompt_tokens_computed"));
	slist = json_array();
	json_object_foreach(strat, key, g)
	{
		if (strcmp(key, "\x01parser") == 0)
			continue;
		attrs = json_object();
		name = NULL;
		json_object_foreach(json_object_get(g, "\x01attrs"), name, s)
		{
			json_object_set_new(
			    attrs, name, json_real(arr_mean(s)));
		}
		sum = dist_json(json_object_get(g, "\x01wall_ms"), 0);
		json_array_append_new(slist,
		    json_pack("{s:s, s:I, s:I, s:o, s:o}", "name", key, "spans",
		        COUNT(g, "spans"), "errors", COUNT(g, "errors"),
		        "wall_ms", sum, "attributes_mean", attrs));
	}
	g = group_get(strat, "\x01parser");
	comp = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, "
	                 "s:o, s:o}, s:{s:I, s:I, s:f}, s:o}",
	    "tools", tlist, "model", "calls", COUNT(model, "calls"), "errors",
	    COUNT(model, "errors"), "input_tokens",
	    COUNT(model, "input_tokens"), "output_tokens",
	    COUNT(model, "output_tokens"), "prompt_tokens_computed",
	    (json_int_t)llround(computed), "prompt_tokens_reused",
	    (json_int_t)llround(reused), "cache_reuse",
	    reused + computed > 0 ? reused / (reused + computed) : 0.0,
	    "ttft_ms", dist_json(json_object_get(model, "ttft_ms"), 0),
	    "tokens_per_s",
	    dist_json(json_object_get(model, "tokens_per_s"), 0), "latency_ms",
	    dist_json(json_object_get(model, "latency_ms"), 0), "parser",
	    "parses", COUNT(g, "parses"), "failures", COUNT(g, "failures"),
	    "failure_rate",
	    json_number_value(json_object_get(g, "parses")) > 0
	        ? json_number_value(json_object_get(g, "failures")) /
	            json_number_value(json_object_get(g, "parses"))
	        : 0.0,
	    "strategies", slist);
	out = json_pack("{s:o, s:o, s:o}", "chain", chain, "items", items,
	    "components", comp);
	if (out == NULL)
		fatalx("%s: cannot build the report", __func__);
	json_decref(tools);
	json_decref(model);
	json_decref(strat);
	json_decref(steps_d);
	json_decref(tok_d);
	json_decref(wall_d);
	return out;
}

/*
 * Appends s (at most 120 bytes of it) to b with the characters that
 * break a Markdown table cell escaped and line breaks flattened.
 */
static void
md_cell(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_printf(b, "-");
		return;
	}
	/* Cut at 120 bytes, but never inside a UTF-8 sequence. */
	for (size_t i = 0;
	     s[i] != '\0' && (i < 120 || ((unsigned char)s[i] & 0xc0) == 0x80);
	     i++) {
		if (s[i] == '|')
			buf_printf(b, "\\|");
		else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			buf_printf(b, " ");
		else
			buf_printf(b, "%c", s[i]);
	}
}

/* A JSON value as cell text (strings bare, others as JSON). */
static void
md_value(struct buf *b, const json_t *v)
{
	char *text;

	if (v == NULL || json_is_null(v)) {
		md_cell(b, NULL);
		return;
	}
	if (json_is_string(v)) {
		md_cell(b, json_string_value(v));
		return;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	md_cell(b, text != NULL ? text : "?");
	free(text);
}

/* A member of a distribution object. */
static double
md_num(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_number_value(v);
}

char *
agent_eval_markdown(const json_t *report)
{
	const json_t *chain = json_object_get(report, "chain");
	const json_t *comp = json_object_get(report, "components");
	const json_t *model = json_object_get(comp, "model");
	const json_t *parser = json_object_get(comp, "parser");
	const json_t *v, *x;
	const char *key;
	struct buf b;
	size_t i;

	buf_init(&b, SIZE_MAX);
	buf_printf(&b, "# Evaluation\n\n## Call chain\n\n");
	buf_printf(&b,
	    "| items | passed | errors | success rate | 95%% CI "
	    "(Wilson) |\n| ---: | ---: | ---: | ---: | --- |\n");
	buf_printf(&b, "| %lld | %lld | %lld | %.1f%% | %.1f%% to %.1f%% |\n\n",
	    (long long)json_integer_value(json_object_get(chain, "items")),
	    (long long)json_integer_value(json_object_get(chain, "passed")),
	    (long long)json_integer_value(json_object_get(chain, "errors")),
	    100.0 * md_num(chain, "success_rate", NULL),
	    100.0 *
	        json_number_value(
	            json_array_get(json_object_get(chain, "ci95"), 0)),
	    100.0 *
	        json_number_value(
	            json_array_get(json_object_get(chain, "ci95"), 1)));
	buf_printf(&b,
	    "| per item | mean | p50 | p95 |\n| --- | ---: | ---: "
	    "| ---: |\n");
	buf_printf(&b, "| steps | %.2f | %.1f | %.1f |\n",
	    md_num(chain, "steps", "mean"), md_num(chain, "steps", "p50"),
	    md_num(chain, "steps", "p95"));
	v = json_object_get(json_object_get(chain, "tokens"), "per_item");
	buf_printf(&b, "| tokens | %.1f | %.1f | %.1f |\n",
	    md_num(v, "mean", NULL), md_num(v, "p50", NULL),
	    md_num(v, "p95", NULL));
	buf_printf(&b, "| wall ms | %.1f | %.1f | %.1f |\n\n",
	    md_num(chain, "wall_ms", "mean"), md_num(chain, "wall_ms", "p50"),
	    md_num(chain, "wall_ms", "p95"));

	buf_printf(&b,
	    "## Items\n\n| id | pass | answer | expected | steps "
	    "| tokens | wall ms | error |\n| --- | --- | --- | --- "
	    "| ---: | ---: | ---: | --- |\n");
	json_array_foreach(json_object_get(report, "items"), i, v)
	{
		buf_printf(&b, "| ");
		md_value(&b, json_object_get(v, "id"));
		buf_printf(&b, " | %s | ",
		    json_is_true(json_object_get(v, "pass")) ? "yes" : "no");
		md_value(&b, json_object_get(v, "answer"));
		buf_printf(&b, " | ");
		md_value(&b, json_object_get(v, "expected"));
		buf_printf(&b, " | %lld | %lld | %.1f | ",
		    (long long)json_integer_value(json_object_get(v, "steps")),
		    (long long)(json_integer_value(
		                    json_object_get(v, "input_tokens")) +
		        json_integer_value(
		            json_object_get(v, "output_tokens"))),
		    md_num(v, "wall_ms", NULL));
		md_value(&b, json_object_get(v, "error"));
		buf_printf(&b, " |\n");
	}

	buf_printf(&b,
	    "\n## Components\n\n### Tools\n\n| tool | calls | "
	    "error rate | p50 ms | p95 ms |\n| --- | ---: | ---: | "
	    "---: | ---: |\n");
	json_array_foreach(json_object_get(comp, "tools"), i, v)
	{
		buf_printf(&b, "| ");
		md_value(&b, json_object_get(v, "name"));
		buf_printf(&b, " | %lld | %.1f%% | %.1f | %.1f |\n",
		    (long long)json_integer_value(json_object_get(v, "calls")),
		    100.0 * md_num(v, "error_rate", NULL),
		    md_num(v, "latency_ms", "p50"),
		    md_num(v, "latency_ms", "p95"));
	}
	buf_printf(&b,
	    "\n### Model calls\n\n| calls | input tokens | output "
	    "tokens | cache reuse | TTFT p50 ms | TTFT p95 ms | "
	    "tokens/s mean |\n| ---: | ---: | ---: | ---: | ---: | "
	    "---: | ---: |\n");
	buf_printf(&b, "| %lld | %lld | %lld | %.1f%% | %.1f | %.1f | %.1f |\n",
	    (long long)json_integer_value(json_object_get(model, "calls")),
	    (long long)json_integer_value(
	        json_object_get(model, "input_tokens")),
	    (long long)json_integer_value(
	        json_object_get(model, "output_tokens")),
	    100.0 * md_num(model, "cache_reuse", NULL),
	    md_num(model, "ttft_ms", "p50"), md_num(model, "ttft_ms", "p95"),
	    md_num(model, "tokens_per_s", "mean"));
	buf_printf(&b, "\n### Parser\n\n%lld parses, %lld failures (%.1f%%)\n",
	    (long long)json_integer_value(json_object_get(parser, "parses")),
	    (long long)json_integer_value(json_object_get(parser, "failures")),
	    100.0 * md_num(parser, "failure_rate", NULL));
	if (json_array_size(json_object_get(comp, "strategies")) > 0) {
		buf_printf(&b,
		    "\n### Strategies\n\n| span | count | mean ms "
		    "| attribute means |\n| --- | ---: | ---: | --- "
		    "|\n");
		json_array_foreach(json_object_get(comp, "strategies"), i, v)
		{
			buf_printf(&b, "| ");
			md_value(&b, json_object_get(v, "name"));
			buf_printf(&b, " | %lld | %.1f | ",
			    (long long)json_integer_value(
			        json_object_get(v, "spans")),
			    md_num(v, "wall_ms", "mean"));
			json_object_foreach(
			    json_object_get(v, "attributes_mean"), key, x)
			{
				md_cell(&b, key);
				buf_printf(&b, "=%.3g ", json_number_value(x));
			}
			buf_printf(&b, "|\n");
		}
	}
	return buf_steal(&b);
}
