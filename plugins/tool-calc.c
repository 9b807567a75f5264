/*
 * tool-calc.c: the calc built-in, an arithmetic evaluator.
 *
 * Grammar (a recursive-descent parser, one function per rule; blanks
 * (space, tab, CR, LF) may stand between any two tokens):
 *
 *	expr	:= term (("+" | "-") term)*
 *	term	:= unary (("*" | "/" | "%") unary)*
 *	unary	:= ("-" | "+") unary | power
 *	power	:= primary ("^" unary)?
 *	primary := number | "(" expr ")"
 *	number	:= digits ["." [digits]] | "." digits
 *
 * So ^ binds tighter than unary minus and is right-associative:
 * -2^2 = -4, 2^3^2 = 512, 2^-1 = 0.5.
 *
 * Values are exact rationals (int64 numerator and denominator, reduced):
 * "/" is exact division (7/2 = 3.5, 6/3 = 2) and 0.1 + 0.2 is exactly
 * 0.3.  "%" is the floored modulo, whose result takes the divisor's sign
 * (-7 % 3 = 2, 7 % -3 = -2; 5.5 % 2 = 1.5).  Where a fraction's numerator
 * or denominator no longer fits in 64 bits (0.1^30), or a power has a
 * fractional exponent (2^0.5), the value continues as a long double.
 * Every value, intermediate or final, must lie strictly between -2^63 and
 * 2^63; an integral result that does not, or a number outside that
 * range, is "integer overflow".
 *
 * Output: an integral result as an exact int64 ("42"), any other rounded
 * to 6 decimals (half away from zero for exact fractions) with trailing
 * zeros and a trailing point dropped ("3.5", "0.333333"); a result that
 * rounds to zero prints "0".
 *
 * Errors, as the tool's error text: "division by zero" (x/0, x%0, 0^-n),
 * "integer overflow", "syntax error at column N", where N counts
 * characters (code points) from 1 and points at the first character that
 * cannot continue the expression, or one past the end when the
 * expression stops early (so "2+" gives column 3); "result is not a real
 * number" for (-8)^0.5, and "expression is nested too deeply" past 256
 * levels of parentheses and signs.  Syntax is checked on the whole
 * expression before anything is computed, so a syntax error wins.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

#define CALC_MAX_DEPTH 256

/* 2^63 as a long double: values must stay strictly inside (-2^63, 2^63). */
#define CALC_LIMIT 9223372036854775808.0L

/* A value: an exact reduced fraction num/den (den > 0), or a long double. */
struct calc_val {
	int exact;
	int64_t num;
	int64_t den;
	long double x;
};

struct calc {
	const char *s;
	size_t len;
	size_t pos;
	int depth;
	int eval;        /* 0: syntax check only */
	const char *err; /* the first error (static text) */
	size_t err_pos;  /* for syntax errors: byte offset */
};

static int calc_expr(struct calc *c, struct calc_val *v);
static int calc_term(struct calc *c, struct calc_val *v);
static int calc_unary(struct calc *c, struct calc_val *v);
static int calc_power(struct calc *c, struct calc_val *v);
static int calc_primary(struct calc *c, struct calc_val *v);
static int calc_number(struct calc *c, struct calc_val *v);

static const char *calc_syntax = "syntax error";
static const char *calc_div0 = "division by zero";
static const char *calc_overflow = "integer overflow";
static const char *calc_nan = "result is not a real number";
static const char *calc_deep = "expression is nested too deeply";

static int calc_fail(struct calc *c, const char *err);
static void calc_blanks(struct calc *c);
static int calc_peek(struct calc *c);
static int calc_isdigit(int ch);
static __int128 calc_gcd(__int128 a, __int128 b);
static int calc_set_real(struct calc *c, struct calc_val *v, long double x);
static long double calc_real(const struct calc_val *v);
static int calc_set_frac(
    struct calc *c, struct calc_val *v, __int128 n, __int128 d);
static int calc_add(
    struct calc *c, struct calc_val *a, const struct calc_val *b, int sign);
static int calc_mul(
    struct calc *c, struct calc_val *a, const struct calc_val *b);
static int calc_is_zero(const struct calc_val *v);
static int calc_div(
    struct calc *c, struct calc_val *a, const struct calc_val *b);
static int calc_mod(
    struct calc *c, struct calc_val *a, const struct calc_val *b);
static int calc_pow_exact(
    int64_t num, int64_t den, uint64_t e, __int128 *rn, __int128 *rd);
static int calc_pow(
    struct calc *c, struct calc_val *a, const struct calc_val *b);
static void calc_trim(char *s);
static char *calc_format(const struct calc_val *v);
static char *calc_error_text(const struct calc *c);
static int calc_init(
    const struct plug_config *config, void **state, char **cause);
static void calc_call(void *state, const json_t *args,
    const struct plug_call *call, struct plug_result *res);

/* Records the first error and returns -1. */
static int
calc_fail(struct calc *c, const char *err)
{
	if (c->err == NULL) {
		c->err = err;
		c->err_pos = c->pos;
	}
	return -1;
}

static void
calc_blanks(struct calc *c)
{
	while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]) != NULL &&
	    c->s[c->pos] != '\0')
		c->pos++;
}

/* The next character after blanks, or -1 at the end. */
static int
calc_peek(struct calc *c)
{
	calc_blanks(c);
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static int
calc_isdigit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static __int128
calc_gcd(__int128 a, __int128 b)
{
	__int128 t;

	if (a < 0)
		a = -a;
	if (b < 0)
		b = -b;
	while (b != 0) {
		t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Sets v to the long double x, checking its range. */
static int
calc_set_real(struct calc *c, struct calc_val *v, long double x)
{
	if (isnan(x))
		return calc_fail(c, calc_nan);
	if (!(fabsl(x) < CALC_LIMIT))
		return calc_fail(c, calc_overflow);
	v->exact = 0;
	v->x = x;
	return 0;
}

static long double
calc_real(const struct calc_val *v)
{
	if (!v->exact)
		return v->x;
	return (long double)v->num / (long double)v->den;
}

/*
 * Sets v to the fraction n/d (d != 0), reduced.  When it does not fit in
 * int64 it is an overflow if it is integral, else the value goes on as a
 * long double.
 */
static int
calc_set_frac(struct calc *c, struct calc_val *v, __int128 n, __int128 d)
{
	__int128 g;

	if (d < 0) {
		n = -n;
		d = -d;
	}
	g = calc_gcd(n, d);
	if (g > 1) {
		n /= g;
		d /= g;
	}
	if (n >= -(__int128)INT64_MAX && n <= INT64_MAX && d <= INT64_MAX) {
		v->exact = 1;
		v->num = (int64_t)n;
		v->den = (int64_t)d;
		return 0;
	}
	if (d == 1)
		return calc_fail(c, calc_overflow);
	return calc_set_real(c, v, (long double)n / (long double)d);
}

/* ---- arithmetic ---------------------------------------------------------- */

static int
calc_add(struct calc *c, struct calc_val *a, const struct calc_val *b, int sign)
{
	__int128 n;

	if (a->exact && b->exact) {
		n = (__int128)a->num * b->den +
		    sign * (__int128)b->num * a->den;
		return calc_set_frac(c, a, n, (__int128)a->den * b->den);
	}
	return calc_set_real(c, a, calc_real(a) + sign * calc_real(b));
}

static int
calc_mul(struct calc *c, struct calc_val *a, const struct calc_val *b)
{
	if (a->exact && b->exact) {
		return calc_set_frac(
		    c, a, (__int128)a->num * b->num, (__int128)a->den * b->den);
	}
	return calc_set_real(c, a, calc_real(a) * calc_real(b));
}

static int
calc_is_zero(const struct calc_val *v)
{
	return v->exact ? v->num == 0 : v->x == 0;
}

static int
calc_div(struct calc *c, struct calc_val *a, const struct calc_val *b)
{
	if (calc_is_zero(b))
		return calc_fail(c, calc_div0);
	if (a->exact && b->exact) {
		return calc_set_frac(
		    c, a, (__int128)a->num * b->den, (__int128)a->den * b->num);
	}
	return calc_set_real(c, a, calc_real(a) / calc_real(b));
}

/* Floored modulo: a - b * floor(a / b), with the divisor's sign. */
static int
calc_mod(struct calc *c, struct calc_val *a, const struct calc_val *b)
{
	__int128 x, y, r;
	long double lr, lb;

	if (calc_is_zero(b))
		return calc_fail(c, calc_div0);
	if (a->exact && b->exact) {
		/* a = x / (da db) and b = y / (da db), so a mod b is
		 * (x mod y) / (da db). */
		x = (__int128)a->num * b->den;
		y = (__int128)b->num * a->den;
		r = x % y;
		if (r != 0 && ((r < 0) != (y < 0)))
			r += y;
		return calc_set_frac(c, a, r, (__int128)a->den * b->den);
	}
	lb = calc_real(b);
	lr = fmodl(calc_real(a), lb);
	if (lr != 0 && ((lr < 0) != (lb < 0)))
		lr += lb;
	return calc_set_real(c, a, lr);
}

/* base^e for an exact base and a non-negative exponent, or -1 on overflow
 * of either part (then nothing is set). */
static int
calc_pow_exact(int64_t num, int64_t den, uint64_t e, __int128 *rn, __int128 *rd)
{
	__int128 n = 1, d = 1;

	for (uint64_t i = 0; i < e; i++) {
		/* |num| <= 1 and den == 1 never grow: stop early. */
		if (den == 1 && (num == 0 || num == 1)) {
			n = (num == 0) ? 0 : 1;
			break;
		}
		if (den == 1 && num == -1) {
			n = ((e - i) % 2 == 0) ? n : -n;
			break;
		}
		n *= num;
		d *= den;
		if (n > INT64_MAX || n < -(__int128)INT64_MAX || d > INT64_MAX)
			return -1;
	}
	*rn = n;
	*rd = d;
	return 0;
}

static int
calc_pow(struct calc *c, struct calc_val *a, const struct calc_val *b)
{
	long double base, e, r;
	int64_t num, den, swap;
	uint64_t mag;
	__int128 n, d;

	if (a->exact && b->exact && b->den == 1) {
		num = a->num;
		den = a->den;
		if (b->num < 0) {
			/* base^-e = (1/base)^e */
			if (num == 0)
				return calc_fail(c, calc_div0);
			mag = (uint64_t)(-(b->num + 1)) + 1;
			if (num < 0) {
				num = -num;
				den = -den;
			}
			/* swap: den/num keeps the sign in the numerator */
			swap = num;
			num = den;
			den = swap;
		} else
			mag = (uint64_t)b->num;
		if (calc_pow_exact(num, den, mag, &n, &d) == 0)
			return calc_set_frac(c, a, n, d);
		if (den == 1)
			return calc_fail(c, calc_overflow);
		/* A fraction too fine for int64: go on as a long double. */
	}
	base = calc_real(a);
	e = calc_real(b);
	if (base == 0 && e < 0)
		return calc_fail(c, calc_div0);
	r = powl(base, e);
	if (isinf(r) || fabsl(r) >= CALC_LIMIT) {
		/* Only an overflow of a real value: integral results that
		 * overflow were caught above. */
		return calc_fail(c, calc_overflow);
	}
	return calc_set_real(c, a, r);
}

/* ---- the parser ---------------------------------------------------------- */

static int
calc_expr(struct calc *c, struct calc_val *v)
{
	struct calc_val rhs;
	int op;

	if (calc_term(c, v) != 0)
		return -1;
	for (;;) {
		op = calc_peek(c);
		if (op != '+' && op != '-')
			return 0;
		c->pos++;
		if (calc_term(c, &rhs) != 0)
			return -1;
		if (c->eval && calc_add(c, v, &rhs, op == '+' ? 1 : -1) != 0)
			return -1;
	}
}

static int
calc_term(struct calc *c, struct calc_val *v)
{
	struct calc_val rhs;
	int op, rc = 0;

	if (calc_unary(c, v) != 0)
		return -1;
	for (;;) {
		op = calc_peek(c);
		if (op != '*' && op != '/' && op != '%')
			return 0;
		c->pos++;
		if (calc_unary(c, &rhs) != 0)
			return -1;
		if (!c->eval)
			continue;
		if (op == '*')
			rc = calc_mul(c, v, &rhs);
		else if (op == '/')
			rc = calc_div(c, v, &rhs);
		else
			rc = calc_mod(c, v, &rhs);
		if (rc != 0)
			return -1;
	}
}

static int
calc_unary(struct calc *c, struct calc_val *v)
{
	struct calc_val zero = { 1, 0, 1, 0 };
	int op, rc;

	op = calc_peek(c);
	if (op != '-' && op != '+')
		return calc_power(c, v);
	if (++c->depth > CALC_MAX_DEPTH)
		return calc_fail(c, calc_deep);
	c->pos++;
	rc = calc_unary(c, v);
	c->depth--;
	if (rc != 0 || !c->eval || op == '+')
		return rc;
	/* -v as 0 - v, so INT64_MIN-like edges go through one check. */
	rc = calc_add(c, &zero, v, -1);
	*v = zero;
	return rc;
}

static int
calc_power(struct calc *c, struct calc_val *v)
{
	struct calc_val e;

	if (calc_primary(c, v) != 0)
		return -1;
	if (calc_peek(c) != '^')
		return 0;
	c->pos++;
	if (calc_unary(c, &e) != 0)
		return -1;
	if (c->eval)
		return calc_pow(c, v, &e);
	return 0;
}

static int
calc_primary(struct calc *c, struct calc_val *v)
{
	int ch, rc;

	ch = calc_peek(c);
	if (ch == '(') {
		if (++c->depth > CALC_MAX_DEPTH)
			return calc_fail(c, calc_deep);
		c->pos++;
		rc = calc_expr(c, v);
		c->depth--;
		if (rc != 0)
			return -1;
		if (calc_peek(c) != ')')
			return calc_fail(c, calc_syntax);
		c->pos++;
		return 0;
	}
	if (calc_isdigit(ch) ||
	    (ch == '.' && c->pos + 1 < c->len &&
	        calc_isdigit((unsigned char)c->s[c->pos + 1])))
		return calc_number(c, v);
	return calc_fail(c, calc_syntax);
}

/* A literal: exact when it fits, else a long double (many decimals). */
static int
calc_number(struct calc *c, struct calc_val *v)
{
	size_t start = c->pos, i = c->pos;
	__int128 n = 0, d = 1;
	int exact = 1, frac = 0;
	char *text;
	long double x;

	for (; i < c->len; i++) {
		int ch = (unsigned char)c->s[i];

		if (ch == '.' && !frac) {
			frac = 1;
			continue;
		}
		if (!calc_isdigit(ch))
			break;
		if (exact) {
			n = n * 10 + (ch - '0');
			if (frac)
				d *= 10;
			if (n > INT64_MAX || d > INT64_MAX)
				exact = 0;
		}
	}
	c->pos = i;
	if (!c->eval)
		return 0;
	if (exact)
		return calc_set_frac(c, v, n, d);
	if (!frac)
		return calc_fail(c, calc_overflow);
	text = xstrndup(c->s + start, i - start);
	x = strtold(text, NULL);
	free(text);
	return calc_set_real(c, v, x);
}

/* ---- output -------------------------------------------------------------- */

/* Drops trailing zeros and a trailing point from a decimal. */
static void
calc_trim(char *s)
{
	size_t len = strlen(s);

	if (strchr(s, '.') == NULL)
		return;
	while (len > 0 && s[len - 1] == '0')
		s[--len] = '\0';
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	if (strcmp(s, "-0") == 0)
		strcpy(s, "0");
}

static char *
calc_format(const struct calc_val *v)
{
	__int128 q, t, rem;
	char buf[128];
	int neg;

	if (v->exact && v->den == 1) {
		snprintf(buf, sizeof buf, "%lld", (long long)v->num);
		return xstrdup(buf);
	}
	if (v->exact) {
		/* round(|num| * 10^6 / den), half away from zero */
		neg = v->num < 0;
		q = (__int128)(neg ? -(__int128)v->num : v->num) * 1000000;
		t = q / v->den;
		rem = q % v->den;
		if (2 * rem >= v->den)
			t++;
		snprintf(buf, sizeof buf, "%s%lld.%06lld",
		    (neg && t != 0) ? "-" : "", (long long)(t / 1000000),
		    (long long)(t % 1000000));
	} else
		snprintf(buf, sizeof buf, "%.6Lf", v->x);
	calc_trim(buf);
	return xstrdup(buf);
}

/* Turns an error into the text the tool returns. */
static char *
calc_error_text(const struct calc *c)
{
	char *s;
	size_t col = 1;

	if (c->err != calc_syntax)
		return xstrdup(c->err);
	/* The column in code points, from 1. */
	for (size_t i = 0; i < c->err_pos && i < c->len; i++) {
		if (((unsigned char)c->s[i] & 0xc0) != 0x80)
			col++;
	}
	xasprintf(&s, "syntax error at column %zu", col);
	return s;
}

char *
plug_calc_eval(const char *expr, size_t len, char **cause)
{
	struct calc c;
	struct calc_val v;

	memset(&v, 0, sizeof v);
	memset(&c, 0, sizeof c);
	c.s = expr;
	c.len = len;
	/* First the whole syntax, then the arithmetic. */
	for (c.eval = 0; c.eval <= 1; c.eval++) {
		c.pos = 0;
		c.depth = 0;
		if (calc_expr(&c, &v) != 0)
			break;
		if (calc_peek(&c) != -1) {
			calc_fail(&c, calc_syntax);
			break;
		}
	}
	if (c.err != NULL) {
		*cause = calc_error_text(&c);
		return NULL;
	}
	return calc_format(&v);
}

/* ---- the tool ------------------------------------------------------------ */

static int
calc_init(const struct plug_config *config, void **state, char **cause)
{
	(void)config;
	(void)cause;
	*state = NULL;
	return 0;
}

static void
calc_call(void *state, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	const json_t *e = json_object_get(args, "expression");
	char *out, *cause = NULL;

	(void)state;
	(void)call;
	out =
	    plug_calc_eval(json_string_value(e), json_string_length(e), &cause);
	if (out == NULL) {
		res->text = cause;
		res->len = strlen(cause);
		res->is_error = 1;
		return;
	}
	res->text = out;
	res->len = strlen(out);
	res->is_error = 0;
}

const struct plug_builtin plug_builtin_calc = {
	.name = "calc",
	.description = "Evaluates an arithmetic expression with + - * / % ^ "
	               "and parentheses.",
	.schema = "{\"type\":\"object\",\"properties\":{\"expression\":"
	          "{\"type\":\"string\",\"maxLength\":256}},"
	          "\"required\":[\"expression\"],"
	          "\"additionalProperties\":false}",
	.init = calc_init,
	.call = calc_call,
	.free = NULL,
};
