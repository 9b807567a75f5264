/*
 * pattern.c: string.find, string.match, string.gmatch and string.gsub
 * with a bounded matcher.
 *
 * Lua's own matcher backtracks inside one C call: ("a"):rep(20000) with
 * the pattern ".-.-b" takes hours, and the count hook never runs while
 * it does, so neither the instruction budget, nor the deadline, nor the
 * cancel flag could stop it.  These replacements implement the same
 * pattern language (Lua 5.4 manual, section 6.4.1: classes, sets,
 * the * + - ? suffixes, anchors, captures and position captures, %1-%9,
 * %b and %f) with the same results and error messages, but every step
 * of the matcher is charged to the sandbox's instruction budget, and the
 * limits are checked as it goes.  Plain searches use memmem(), which is
 * linear, rather than a quadratic scan.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua/script-int.h"
#include "lua/script.h"

#define PAT_MAX_CAPTURES 32  /* LUA_MAXCAPTURES */
#define PAT_MAX_DEPTH    200 /* recursion of the matcher */
#define PAT_CHARGE_EVERY 1024
#define PAT_CAP_OPEN     (-1) /* capture started, not yet closed */
#define PAT_CAP_POSITION (-2) /* a () capture */

/* One match attempt's state. */
struct pat {
	lua_State *L;
	const char *s0;    /* the subject */
	const char *s_end; /* its end */
	const char *p_end; /* the pattern's end */
	int depth;
	int ncap;
	struct {
		const char *at;
		ptrdiff_t len; /* or PAT_CAP_OPEN, PAT_CAP_POSITION */
	} cap[PAT_MAX_CAPTURES];
	unsigned int ticks; /* steps not yet charged */
};

static void pat_init(
    struct pat *, lua_State *, const char *, size_t, const char *, size_t);
static void pat_tick(struct pat *, unsigned int);
static void pat_flush(struct pat *);
static const char *pat_item_end(struct pat *, const char *);
static int pat_class(int, int);
static int pat_set(struct pat *, int, const char *, const char *);
static int pat_single(struct pat *, const char *, const char *, const char *);
static const char *pat_balance(struct pat *, const char *, const char *);
static const char *pat_greedy(
    struct pat *, const char *, const char *, const char *);
static const char *pat_lazy(
    struct pat *, const char *, const char *, const char *);
static const char *pat_open(struct pat *, const char *, const char *, int);
static const char *pat_close(struct pat *, const char *, const char *);
static const char *pat_backref(struct pat *, const char *, int);
static const char *pat_match(struct pat *, const char *, const char *);
static ptrdiff_t pat_capture(
    struct pat *, int, const char *, const char *, const char **);
static void pat_push_capture(struct pat *, int, const char *, const char *);
static int pat_push_captures(struct pat *, const char *, const char *);
static size_t pat_start(lua_Integer, size_t);
static int pat_plain(const char *, size_t);
static int pat_find_aux(lua_State *, int);
static int pat_find(lua_State *);
static int pat_str_match(lua_State *);
static int pat_gmatch_next(lua_State *);
static int pat_gmatch(lua_State *);
static void pat_add_repl(
    struct pat *, luaL_Buffer *, const char *, const char *);
static int pat_add_value(
    struct pat *, luaL_Buffer *, const char *, const char *, int);
static int pat_gsub(lua_State *);

static void
pat_init(struct pat *m, lua_State *L, const char *s, size_t ls, const char *p,
    size_t lp)
{
	memset(m, 0, sizeof *m);
	m->L = L;
	m->s0 = s;
	m->s_end = s + ls;
	m->p_end = p + lp;
}

/* Counts n steps; every PAT_CHARGE_EVERY they go to the budget. */
static void
pat_tick(struct pat *m, unsigned int n)
{
	m->ticks += n;
	if (m->ticks >= PAT_CHARGE_EVERY)
		pat_flush(m);
}

static void
pat_flush(struct pat *m)
{
	unsigned int n = m->ticks;

	m->ticks = 0;
	script_sandbox_charge(m->L, n);
}

/* Returns the end of the single-character class starting at p. */
static const char *
pat_item_end(struct pat *m, const char *p)
{
	const char *q;

	switch (*p) {
	case '%':
		if (p + 1 >= m->p_end)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 2;
	case '[':
		q = p + 1;
		if (q < m->p_end && *q == '^')
			q++;
		/* The first character is part of the set, even a ']'. */
		for (;;) {
			if (q >= m->p_end)
				luaL_error(
				    m->L, "malformed pattern (missing ']')");
			if (*q++ == '%' && q < m->p_end)
				q++;
			if (q < m->p_end && *q == ']')
				return q + 1;
		}
	default:
		return p + 1;
	}
}

/* Does character c belong to class %cl (or equal cl, for others)? */
static int
pat_class(int c, int cl)
{
	int in;

	switch (tolower(cl)) {
	case 'a':
		in = isalpha(c);
		break;
	case 'c':
		in = iscntrl(c);
		break;
	case 'd':
		in = isdigit(c);
		break;
	case 'g':
		in = isgraph(c);
		break;
	case 'l':
		in = islower(c);
		break;
	case 'p':
		in = ispunct(c);
		break;
	case 's':
		in = isspace(c);
		break;
	case 'u':
		in = isupper(c);
		break;
	case 'w':
		in = isalnum(c);
		break;
	case 'x':
		in = isxdigit(c);
		break;
	case 'z':
		in = c == 0;
		break;
	default:
		return cl == c;
	}
	if (isupper(cl))
		return !in;
	return in != 0;
}

/* Does c belong to the set [ ... ] from p (the '[') to close (its ']')? */
static int
pat_set(struct pat *m, int c, const char *p, const char *close)
{
	const char *q = p + 1;
	int yes = 1;

	if (*q == '^') {
		yes = 0;
		q++;
	}
	pat_tick(m, (unsigned int)(close - q) / 4);
	for (; q < close; q++) {
		if (*q == '%') {
			q++;
			if (pat_class(c, (unsigned char)*q))
				return yes;
		} else if (q + 2 < close && q[1] == '-') {
			if ((unsigned char)q[0] <= c &&
			    c <= (unsigned char)q[2])
				return yes;
			q += 2;
		} else if ((unsigned char)*q == c)
			return yes;
	}
	return !yes;
}

/* Does the subject character at s match the class from p to ep? */
static int
pat_single(struct pat *m, const char *s, const char *p, const char *ep)
{
	int c;

	if (s >= m->s_end)
		return 0;
	c = (unsigned char)*s;
	switch (*p) {
	case '.':
		return 1;
	case '%':
		return pat_class(c, (unsigned char)p[1]);
	case '[':
		return pat_set(m, c, p, ep - 1);
	default:
		return (unsigned char)*p == c;
	}
}

/* %bxy at s: returns the end of the balanced run, or NULL. */
static const char *
pat_balance(struct pat *m, const char *s, const char *p)
{
	int open, close, depth = 1;

	if (p + 1 >= m->p_end)
		luaL_error(m->L,
		    "malformed pattern (missing arguments to "
		    "'%%b')");
	if (s >= m->s_end || *s != *p)
		return NULL;
	open = *p;
	close = p[1];
	while (++s < m->s_end) {
		pat_tick(m, 1);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open)
			depth++;
	}
	return NULL;
}

/* Item p..ep with '*' (or '+', after its first match) at s. */
static const char *
pat_greedy(struct pat *m, const char *s, const char *p, const char *ep)
{
	const char *r;
	ptrdiff_t n = 0;

	while (pat_single(m, s + n, p, ep)) {
		pat_tick(m, 1);
		n++;
	}
	/* The longest run first, then one shorter at a time. */
	for (; n >= 0; n--) {
		if ((r = pat_match(m, s + n, ep + 1)) != NULL)
			return r;
	}
	return NULL;
}

/* Item p..ep with '-' at s: the shortest run that lets the rest match. */
static const char *
pat_lazy(struct pat *m, const char *s, const char *p, const char *ep)
{
	const char *r;

	for (;;) {
		if ((r = pat_match(m, s, ep + 1)) != NULL)
			return r;
		if (!pat_single(m, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *
pat_open(struct pat *m, const char *s, const char *p, int what)
{
	const char *r;

	if (m->ncap >= PAT_MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->ncap].at = s;
	m->cap[m->ncap].len = what;
	m->ncap++;
	if ((r = pat_match(m, s, p)) == NULL)
		m->ncap--;
	return r;
}

static const char *
pat_close(struct pat *m, const char *s, const char *p)
{
	const char *r;
	int i;

	for (i = m->ncap - 1; i >= 0; i--) {
		if (m->cap[i].len == PAT_CAP_OPEN)
			break;
	}
	if (i < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[i].len = s - m->cap[i].at;
	if ((r = pat_match(m, s, p)) == NULL)
		m->cap[i].len = PAT_CAP_OPEN;
	return r;
}

/* %1-%9 (digit d): the text of that capture again, at s. */
static const char *
pat_backref(struct pat *m, const char *s, int d)
{
	int i = d - '1';
	size_t len;

	if (i < 0 || i >= m->ncap || m->cap[i].len == PAT_CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", i + 1);
	if (m->cap[i].len < 0)
		return NULL; /* a position capture matches no text */
	len = (size_t)m->cap[i].len;
	pat_tick(m, (unsigned int)(len / 16) + 1);
	if ((size_t)(m->s_end - s) < len || memcmp(m->cap[i].at, s, len) != 0)
		return NULL;
	return s + len;
}

/*
 * Matches the pattern from p against the subject from s.  Returns the
 * end of the match, or NULL.  Items that need no backtracking are taken
 * in a loop; the others recurse, to at most PAT_MAX_DEPTH levels.
 */
static const char *
pat_match(struct pat *m, const char *s, const char *p)
{
	const char *ep, *r, *prev;
	int suffix;

	if (++m->depth > PAT_MAX_DEPTH)
		luaL_error(m->L, "pattern too complex");
	for (;;) {
		pat_tick(m, 1);
		if (p == m->p_end)
			break;
		switch (*p) {
		case '(':
			if (p + 1 < m->p_end && p[1] == ')')
				s = pat_open(m, s, p + 2, PAT_CAP_POSITION);
			else
				s = pat_open(m, s, p + 1, PAT_CAP_OPEN);
			goto out;
		case ')':
			s = pat_close(m, s, p + 1);
			goto out;
		case '$':
			if (p + 1 == m->p_end) {
				if (s != m->s_end)
					s = NULL;
				goto out;
			}
			break;
		case '%':
			if (p + 1 >= m->p_end)
				break; /* pat_item_end() reports it */
			if (p[1] == 'b') {
				if ((s = pat_balance(m, s, p + 2)) == NULL)
					goto out;
				p += 4;
				continue;
			}
			if (p[1] == 'f') {
				p += 2;
				if (p >= m->p_end || *p != '[')
					luaL_error(m->L,
					    "missing '[' after "
					    "'%%f' in pattern");
				ep = pat_item_end(m, p);
				prev = s == m->s0 ? "" : s - 1;
				if (!pat_set(
				        m, (unsigned char)*prev, p, ep - 1) &&
				    pat_set(m,
				        s < m->s_end ? (unsigned char)*s : 0, p,
				        ep - 1)) {
					p = ep;
					continue;
				}
				s = NULL;
				goto out;
			}
			if (p[1] >= '0' && p[1] <= '9') {
				if ((s = pat_backref(m, s, p[1])) == NULL)
					goto out;
				p += 2;
				continue;
			}
			break;
		default:
			break;
		}

		/* A single-character class and its optional suffix. */
		ep = pat_item_end(m, p);
		suffix = ep < m->p_end ? *ep : '\0';
		if (!pat_single(m, s, p, ep)) {
			if (suffix == '*' || suffix == '?' || suffix == '-') {
				p = ep + 1;
				continue;
			}
			s = NULL;
			goto out;
		}
		switch (suffix) {
		case '?':
			if ((r = pat_match(m, s + 1, ep + 1)) != NULL) {
				s = r;
				goto out;
			}
			p = ep + 1;
			continue;
		case '+':
			s = pat_greedy(m, s + 1, p, ep);
			goto out;
		case '*':
			s = pat_greedy(m, s, p, ep);
			goto out;
		case '-':
			s = pat_lazy(m, s, p, ep);
			goto out;
		default:
			s++;
			p = ep;
			continue;
		}
	}
out:
	m->depth--;
	return s;
}

/*
 * Capture i of a match from s to e: its length and *at, or
 * PAT_CAP_POSITION after pushing the position.  With no captures,
 * capture 0 is the whole match.
 */
static ptrdiff_t
pat_capture(struct pat *m, int i, const char *s, const char *e, const char **at)
{
	if (i >= m->ncap) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		*at = s;
		return e - s;
	}
	*at = m->cap[i].at;
	if (m->cap[i].len == PAT_CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (m->cap[i].len == PAT_CAP_POSITION)
		lua_pushinteger(m->L, (m->cap[i].at - m->s0) + 1);
	return m->cap[i].len;
}

static void
pat_push_capture(struct pat *m, int i, const char *s, const char *e)
{
	const char *at;
	ptrdiff_t len = pat_capture(m, i, s, e, &at);

	if (len != PAT_CAP_POSITION)
		lua_pushlstring(m->L, at, (size_t)len);
}

/* Pushes every capture (or the whole match); returns how many. */
static int
pat_push_captures(struct pat *m, const char *s, const char *e)
{
	int n = m->ncap == 0 && s != NULL ? 1 : m->ncap;

	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		pat_push_capture(m, i, s, e);
	return n;
}

/* A 1-based, possibly negative, start position made 0-based. */
static size_t
pat_start(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos - 1;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 0;
	return len + (size_t)pos;
}

/* Returns 1 when p has none of the characters that make a pattern. */
static int
pat_plain(const char *p, size_t lp)
{
	static const char specials[] = "^$*+?.([%-";

	for (size_t i = 0; i < lp; i++) {
		if (memchr(specials, p[i], sizeof specials - 1) != NULL)
			return 0;
	}
	return 1;
}

static int
pat_find_aux(lua_State *L, int find)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *s1, *r;
	struct pat m;
	int anchor;

	init = pat_start(luaL_optinteger(L, 3, 1), ls);
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || pat_plain(p, lp))) {
		/* memmem() is linear, but still work: charge it. */
		script_sandbox_charge(L, (ls - init) / 64 + 1);
		r = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
		if (r != NULL) {
			lua_pushinteger(L, (r - s) + 1);
			lua_pushinteger(L, (lua_Integer)((size_t)(r - s) + lp));
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}
	anchor = lp > 0 && *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	pat_init(&m, L, s, ls, p, lp);
	s1 = s + init;
	do {
		m.ncap = 0;
		if ((r = pat_match(&m, s1, p)) != NULL) {
			pat_flush(&m);
			if (!find)
				return pat_push_captures(&m, s1, r);
			lua_pushinteger(L, (s1 - s) + 1);
			lua_pushinteger(L, r - s);
			return pat_push_captures(&m, NULL, NULL) + 2;
		}
	} while (s1++ < m.s_end && !anchor);
	pat_flush(&m);
	luaL_pushfail(L);
	return 1;
}

static int
pat_find(lua_State *L)
{
	return pat_find_aux(L, 1);
}

static int
pat_str_match(lua_State *L)
{
	return pat_find_aux(L, 0);
}

/* Where a gmatch iterator is: offsets into its subject. */
struct pat_gmatch {
	size_t pos;
	size_t last; /* end of the last match, when has_last */
	int has_last;
};

static int
pat_gmatch_next(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
	struct pat_gmatch *g = lua_touserdata(L, lua_upvalueindex(3));
	const char *r;
	struct pat m;

	pat_init(&m, L, s, ls, p, lp);
	for (size_t pos = g->pos; pos <= ls; pos++) {
		m.ncap = 0;
		r = pat_match(&m, s + pos, p);
		if (r != NULL && !(g->has_last && (size_t)(r - s) == g->last)) {
			g->pos = g->last = (size_t)(r - s);
			g->has_last = 1;
			pat_flush(&m);
			return pat_push_captures(&m, s + pos, r);
		}
	}
	pat_flush(&m);
	return 0;
}

static int
pat_gmatch(lua_State *L)
{
	size_t ls, lp, pos;
	struct pat_gmatch *g;

	luaL_checklstring(L, 1, &ls);
	luaL_checklstring(L, 2, &lp);
	pos = pat_start(luaL_optinteger(L, 3, 1), ls);
	/* The closure keeps the subject and the pattern alive. */
	lua_settop(L, 2);
	g = lua_newuserdatauv(L, sizeof *g, 0);
	g->pos = pos > ls ? ls + 1 : pos;
	g->last = 0;
	g->has_last = 0;
	lua_pushcclosure(L, pat_gmatch_next, 3);
	return 1;
}

/* Adds the replacement string (argument 3) for the match s..e. */
static void
pat_add_repl(struct pat *m, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = m->L;
	const char *repl, *pct, *at;
	size_t len;
	ptrdiff_t clen;

	repl = lua_tolstring(L, 3, &len);
	pat_tick(m, (unsigned int)(len / 16) + 1);
	while ((pct = memchr(repl, '%', len)) != NULL) {
		luaL_addlstring(b, repl, (size_t)(pct - repl));
		pct++;
		if (pct < repl + len && *pct == '%')
			luaL_addchar(b, '%');
		else if (pct < repl + len && *pct == '0')
			luaL_addlstring(b, s, (size_t)(e - s));
		else if (pct < repl + len && isdigit((unsigned char)*pct)) {
			clen = pat_capture(m, *pct - '1', s, e, &at);
			if (clen == PAT_CAP_POSITION)
				luaL_addvalue(b);
			else
				luaL_addlstring(b, at, (size_t)clen);
		} else
			luaL_error(L,
			    "invalid use of '%%' in replacement "
			    "string");
		len -= (size_t)(pct + 1 - repl);
		repl = pct + 1;
	}
	luaL_addlstring(b, repl, len);
}

/*
 * Adds what replaces the match s..e, by the kind tr of argument 3.
 * Returns 1 when the subject changed (a nil or false result from a
 * function or a table keeps the match as it was).
 */
static int
pat_add_value(
    struct pat *m, luaL_Buffer *b, const char *s, const char *e, int tr)
{
	lua_State *L = m->L;
	int n;

	switch (tr) {
	case LUA_TFUNCTION:
		pat_flush(m);
		lua_pushvalue(L, 3);
		n = pat_push_captures(m, s, e);
		lua_call(L, n, 1);
		break;
	case LUA_TTABLE:
		pat_flush(m);
		pat_push_capture(m, 0, s, e);
		lua_gettable(L, 3);
		break;
	default:
		pat_add_repl(m, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)",
		    luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int
pat_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *src = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *last = NULL, *e;
	int tr = lua_type(L, 3), anchor, changed = 0;
	lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
	struct pat m;
	luaL_Buffer b;

	luaL_argexpected(L,
	    tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
	        tr == LUA_TTABLE,
	    3, "string/function/table");
	luaL_buffinit(L, &b);
	anchor = lp > 0 && *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	pat_init(&m, L, src, ls, p, lp);
	while (n < max_n) {
		m.ncap = 0;
		e = pat_match(&m, src, p);
		if (e != NULL && e != last) {
			n++;
			changed |= pat_add_value(&m, &b, src, e, tr);
			src = last = e;
		} else if (src < m.s_end)
			luaL_addchar(&b, *src++);
		else
			break;
		if (anchor)
			break;
	}
	pat_flush(&m);
	if (!changed)
		lua_pushvalue(L, 1);
	else {
		luaL_addlstring(&b, src, (size_t)(m.s_end - src));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

void
script_pattern_open(lua_State *L, int idx)
{
	static const luaL_Reg funcs[] = {
		{ "find", pat_find },
		{ "match", pat_str_match },
		{ "gmatch", pat_gmatch },
		{ "gsub", pat_gsub },
		{ NULL, NULL },
	};

	idx = lua_absindex(L, idx);
	for (const luaL_Reg *f = funcs; f->name != NULL; f++) {
		lua_pushcfunction(L, f->func);
		lua_setfield(L, idx, f->name);
	}
}
