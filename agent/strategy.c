/*
 * strategy.c: what the strategies share (strategy.h): the strategy
 * object's parser, the dispatch to each strategy's entry point, and the
 * trajectory, a ReAct loop over a session the caller provides (so that
 * it can start from a fork of a prompt fed once), with budget forcing
 * built into its plan phase.
 *
 * A trajectory follows DESIGN.md's transcript exactly as react.c does:
 * the model continues the transcript, generation stops at
 * "\nObservation:" and at the end of a "Final Answer:" line, the step is
 * parsed with agent_parse(), the action checked and run, and
 * "Observation: <line>\n" appended.  It does not shorten transcripts
 * that outgrow the context (react.c's observe rule): a branch that runs
 * out of room ends with error, which a vote or a judge then leaves out.
 *
 * Budget forcing (struct agent_budget): the end-of-thinking marker is a
 * stop string, so a generation that reaches it stops where the marker's
 * line begins (the backend keeps nothing of the marker).  Before
 * min_thinking tokens, "Thought: Wait," (DESIGN.md's form; the wait text
 * alone when the marker is not "Final Answer:") is appended and the
 * generation goes on; after it, the marker is appended and the answer
 * generated to the end of its line.  A generation that uses up
 * max_thinking tokens gets the marker appended on a line of its own.
 */
#include <sys/types.h>

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

/* Model text kept in a span's attributes. */
#define STRAT_SPAN_TEXT 4096
/* Tokens the forced answer line may take. */
#define STRAT_ANSWER_TOKENS 128
/* Tokens of the value prompt's reply. */
#define STRAT_VALUE_TOKENS 8

static int parse_uint(
    const json_t *, const char *, uint32_t, uint32_t, uint32_t *, char **);
static int parse_real(
    const json_t *, const char *, double, double, double *, char **);
static int parse_text(const json_t *, const char *, char **, char **);
static int parse_list(
    const json_t *, const char *, char ***, size_t *, char **);
static int parse_budget(
    const json_t *, const char *, struct agent_budget *, char **);
static void traj_on_token(void *, const char *, size_t);
static int traj_stopped(struct strat_traj *);
static int traj_gen(struct strat_traj *, struct agent_span *,
    struct agent_gen_params *, struct agent_gen_result *);
static int traj_append(struct strat_traj *, const char *, size_t);
static int traj_plan(
    struct strat_traj *, struct agent_span *, struct buf *, int *);
static void traj_act(struct strat_traj *, struct agent_span *, const char *,
    size_t, uint64_t, int);
static char *traj_tool(
    struct strat_traj *, struct agent_span *, const char *, const json_t *);
static void *branch_thread(void *);
static char *cut_text(const char *, size_t);
static char *after_marker(const char *, const char *);

const char *
agent_strategy_name(enum agent_strat_kind kind)
{
	switch (kind) {
	case AGENT_STRAT_COT:
		return "cot";
	case AGENT_STRAT_SC:
		return "self_consistency";
	case AGENT_STRAT_TOT:
		return "tot";
	case AGENT_STRAT_BUDGET:
		return "budget";
	case AGENT_STRAT_BON:
		return "best_of_n";
	}
	return "cot";
}

/* Text for a span attribute, cut on a UTF-8 boundary. */
static char *
cut_text(const char *s, size_t len)
{
	size_t cut = len;

	if (cut > STRAT_SPAN_TEXT) {
		cut = STRAT_SPAN_TEXT;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	return xstrndup(s, cut);
}

/* The text after the last marker, trimmed (new). */
static char *
after_marker(const char *text, const char *marker)
{
	const char *p = text, *m, *end;

	while ((m = strstr(p, marker)) != NULL)
		p = m + strlen(marker);
	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	return xstrndup(p, (size_t)(end - p));
}

/* ---- the strategy object ------------------------------------------------- */

static int
parse_uint(const json_t *v, const char *what, uint32_t lo, uint32_t hi,
    uint32_t *out, char **cause)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		xasprintf(cause, "strategy.%s must be an integer from %u to %u",
		    what, lo, hi);
		return -1;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int
parse_real(const json_t *v, const char *what, double lo, double hi, double *out,
    char **cause)
{
	if (!json_is_number(v) || json_number_value(v) < lo ||
	    json_number_value(v) > hi) {
		xasprintf(cause, "strategy.%s must be a number from %g to %g",
		    what, lo, hi);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

static int
parse_text(const json_t *v, const char *what, char **out, char **cause)
{
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > AGENT_STRAT_MAX_TEXT ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		xasprintf(cause,
		    "strategy.%s must be a string of 1 to %d bytes without "
		    "NUL",
		    what, AGENT_STRAT_MAX_TEXT);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
parse_list(
    const json_t *v, const char *what, char ***out, size_t *n, char **cause)
{
	const json_t *x;
	size_t i;
	char *item = NULL, *w;

	if (!json_is_array(v) || json_array_size(v) > AGENT_STRAT_MAX_ITEMS) {
		xasprintf(cause,
		    "strategy.%s must be an array of at most %d "
		    "strings",
		    what, AGENT_STRAT_MAX_ITEMS);
		return -1;
	}
	*out = xcalloc(json_array_size(v) + 1, sizeof **out);
	json_array_foreach(v, i, x)
	{
		xasprintf(&w, "%s[%zu]", what, i);
		if (parse_text(x, w, &item, cause) != 0) {
			free(w);
			return -1;
		}
		free(w);
		(*out)[(*n)++] = item;
		item = NULL;
	}
	return 0;
}

/* The budget shape, from the budget strategy or a "budget" member. */
static int
parse_budget(
    const json_t *v, const char *prefix, struct agent_budget *bu, char **cause)
{
	const char *key;
	const json_t *m;
	json_t *obj = (json_t *)(uintptr_t)v;
	char *w;
	int rc = 0;

	bu->on = 1;
	bu->min_thinking = AGENT_STRAT_DEFAULT_MIN_THINK;
	bu->max_thinking = AGENT_STRAT_DEFAULT_MAX_THINK;
	if (json_object_get(v, "min_thinking_tokens") != NULL &&
	    json_object_get(v, "max_thinking_tokens") == NULL)
		bu->max_thinking = AGENT_STRAT_MAX_BUDGET;
	bu->marker = xstrdup(AGENT_FINAL_PREFIX);
	bu->wait_text = xstrdup(AGENT_STRAT_DEFAULT_WAIT);
	json_object_foreach(obj, key, m)
	{
		xasprintf(&w, "%s%s", prefix, key);
		if (strcmp(key, "name") == 0 && *prefix == '\0')
			rc = 0;
		else if (strcmp(key, "min_thinking_tokens") == 0)
			rc = parse_uint(m, w, 0, AGENT_STRAT_MAX_BUDGET,
			    &bu->min_thinking, cause);
		else if (strcmp(key, "max_thinking_tokens") == 0)
			rc = parse_uint(m, w, 1, AGENT_STRAT_MAX_BUDGET,
			    &bu->max_thinking, cause);
		else if (strcmp(key, "wait_text") == 0)
			rc = parse_text(m, w, &bu->wait_text, cause);
		else if (strcmp(key, "marker") == 0)
			rc = parse_text(m, w, &bu->marker, cause);
		else {
			xasprintf(cause, "strategy: unknown member \"%s\"", w);
			rc = -1;
		}
		free(w);
		if (rc != 0)
			return -1;
	}
	if (bu->min_thinking > bu->max_thinking) {
		xasprintf(cause,
		    "strategy.%smin_thinking_tokens (%u) is above "
		    "max_thinking_tokens (%u)",
		    prefix, bu->min_thinking, bu->max_thinking);
		return -1;
	}
	return 0;
}

int
agent_strategy_parse(const json_t *v, struct agent_strategy *st, char **cause)
{
	const char *name, *key;
	const json_t *m;
	json_t *obj = (json_t *)(uintptr_t)v;
	char *search = NULL;
	int rc = 0;

	memset(st, 0, sizeof *st);
	st->pattern = xstrdup(AGENT_FINAL_PREFIX);
	st->n = AGENT_STRAT_DEFAULT_N;
	st->temperature = AGENT_STRAT_DEFAULT_TEMPERATURE;
	st->early_stop = 1;
	st->breadth = AGENT_STRAT_DEFAULT_BREADTH;
	st->beam = AGENT_STRAT_DEFAULT_BEAM;
	st->depth = AGENT_STRAT_DEFAULT_DEPTH;
	st->max_nodes = AGENT_STRAT_DEFAULT_NODES;
	st->threshold = 0.25;
	st->scorer = xstrdup("llm");
	st->judge = xstrdup("llm");
	st->length_penalty = AGENT_STRAT_DEFAULT_PENALTY;

	if (!json_is_object(v)) {
		xasprintf(cause, "strategy must be an object with \"name\"");
		goto fail;
	}
	name = json_string_value(json_object_get(v, "name"));
	if (name == NULL) {
		xasprintf(cause,
		    "strategy.name must be one of cot, "
		    "self_consistency, tot, budget, best_of_n");
		goto fail;
	}
	if (strcmp(name, "cot") == 0)
		st->kind = AGENT_STRAT_COT;
	else if (strcmp(name, "self_consistency") == 0)
		st->kind = AGENT_STRAT_SC;
	else if (strcmp(name, "tot") == 0)
		st->kind = AGENT_STRAT_TOT;
	else if (strcmp(name, "budget") == 0)
		st->kind = AGENT_STRAT_BUDGET;
	else if (strcmp(name, "best_of_n") == 0) {
		st->kind = AGENT_STRAT_BON;
		st->n = AGENT_STRAT_DEFAULT_BON_N;
	} else {
		xasprintf(cause,
		    "strategy.name: unknown strategy '%s'; valid: cot, "
		    "self_consistency, tot, budget, best_of_n",
		    name);
		goto fail;
	}
	if (st->kind == AGENT_STRAT_BUDGET) {
		if (parse_budget(v, "", &st->budget, cause) != 0)
			goto fail;
		return 0;
	}

	json_object_foreach(obj, key, m)
	{
		int sc = st->kind == AGENT_STRAT_SC,
		    bon = st->kind == AGENT_STRAT_BON,
		    tot = st->kind == AGENT_STRAT_TOT;

		if (strcmp(key, "name") == 0)
			continue;
		if (strcmp(key, "pattern") == 0)
			rc = parse_text(m, key, &st->pattern, cause);
		else if (strcmp(key, "examples") == 0 &&
		    st->kind == AGENT_STRAT_COT)
			rc = parse_list(
			    m, key, &st->examples, &st->n_examples, cause);
		else if (strcmp(key, "n") == 0 && (sc || bon))
			rc = parse_uint(
			    m, key, 1, AGENT_STRAT_MAX_N, &st->n, cause);
		else if (strcmp(key, "temperature") == 0 && (sc || bon || tot))
			rc = parse_real(m, key, 0, 10, &st->temperature, cause);
		else if (strcmp(key, "early_stop") == 0 && sc) {
			if (!json_is_boolean(m)) {
				xasprintf(cause,
				    "strategy.early_stop must be "
				    "true or false");
				rc = -1;
			}
			st->early_stop = json_is_true(m);
		} else if (strcmp(key, "units") == 0 && sc)
			rc =
			    parse_list(m, key, &st->units, &st->n_units, cause);
		else if (strcmp(key, "breadth") == 0 && tot)
			rc = parse_uint(m, key, 1, AGENT_STRAT_MAX_BREADTH,
			    &st->breadth, cause);
		else if (strcmp(key, "beam") == 0 && tot)
			rc = parse_uint(m, key, 1, AGENT_STRAT_MAX_BREADTH,
			    &st->beam, cause);
		else if (strcmp(key, "depth") == 0 && tot)
			rc = parse_uint(m, key, 1, AGENT_STRAT_MAX_DEPTH,
			    &st->depth, cause);
		else if (strcmp(key, "max_nodes") == 0 && tot)
			rc = parse_uint(m, key, 1, AGENT_STRAT_MAX_NODES,
			    &st->max_nodes, cause);
		else if (strcmp(key, "threshold") == 0 && tot)
			rc = parse_real(
			    m, key, -1e9, 1e9, &st->threshold, cause);
		else if (strcmp(key, "search") == 0 && tot) {
			rc = parse_text(m, key, &search, cause);
			if (rc == 0 && strcmp(search, "bfs") != 0 &&
			    strcmp(search, "dfs") != 0) {
				xasprintf(cause,
				    "strategy.search must be \"bfs\" or "
				    "\"dfs\"");
				rc = -1;
			}
			st->dfs = rc == 0 && strcmp(search, "dfs") == 0;
		} else if (strcmp(key, "scorer") == 0 && tot)
			rc = parse_text(m, key, &st->scorer, cause);
		else if (strcmp(key, "judge") == 0 && bon)
			rc = parse_text(m, key, &st->judge, cause);
		else if (strcmp(key, "rubric") == 0 && bon)
			rc = parse_text(m, key, &st->rubric, cause);
		else if (strcmp(key, "length_penalty") == 0 && bon)
			rc = parse_real(
			    m, key, 0, 100, &st->length_penalty, cause);
		else if (strcmp(key, "budget") == 0) {
			if (!json_is_object(m)) {
				xasprintf(cause,
				    "strategy.budget must be an "
				    "object");
				rc = -1;
			} else
				rc = parse_budget(
				    m, "budget.", &st->budget, cause);
		} else {
			xasprintf(cause,
			    "strategy: unknown member \"%s\" for %s", key,
			    name);
			rc = -1;
		}
		if (rc != 0)
			goto fail;
	}
	if (st->kind == AGENT_STRAT_TOT && st->beam > st->breadth) {
		xasprintf(cause,
		    "strategy.beam (%u) is above strategy.breadth "
		    "(%u)",
		    st->beam, st->breadth);
		goto fail;
	}
	if (st->kind == AGENT_STRAT_TOT && strcmp(st->scorer, "llm") != 0 &&
	    !agent_scorer_builtin(st->scorer) &&
	    strspn(st->scorer,
	        "abcdefghijklmnopqrstuvwxyz"
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
	        strlen(st->scorer)) {
		xasprintf(cause, "strategy.scorer: '%s' is not a scorer name",
		    st->scorer);
		goto fail;
	}
	free(search);
	return 0;

fail:
	free(search);
	agent_strategy_clear(st);
	return -1;
}

void
agent_strategy_clear(struct agent_strategy *st)
{
	if (st == NULL)
		return;
	free(st->pattern);
	for (size_t i = 0; i < st->n_examples; i++)
		free(st->examples[i]);
	free(st->examples);
	for (size_t i = 0; i < st->n_units; i++)
		free(st->units[i]);
	free(st->units);
	free(st->scorer);
	free(st->judge);
	free(st->rubric);
	free(st->budget.marker);
	free(st->budget.wait_text);
	memset(st, 0, sizeof *st);
}

/* ---- answers ------------------------------------------------------------- */

char *
agent_answer_extract(const char *text, const char *pattern)
{
	const char *line = text, *nl, *p, *found = NULL, *end = NULL;
	size_t plen = strlen(pattern);

	while (*line != '\0') {
		nl = strchr(line, '\n');
		p = line;
		while (p < (nl != NULL ? nl : line + strlen(line)) &&
		    (*p == ' ' || *p == '\t'))
			p++;
		if (strncmp(p, pattern, plen) == 0) {
			found = p + plen;
			end = nl != NULL ? nl : line + strlen(line);
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	if (found == NULL)
		return NULL;
	while (found < end && isspace((unsigned char)*found))
		found++;
	while (end > found && isspace((unsigned char)end[-1]))
		end--;
	return xstrndup(found, (size_t)(end - found));
}

char *
agent_answer_normalise(
    const char *answer, const char *const *units, size_t n_units)
{
	struct buf b;
	char *s, *num, *endp;
	const char *p;
	size_t len, ulen;
	double d;
	int space = 0;

	/* Trim, collapse white space, lower case. */
	buf_init(&b, SIZE_MAX);
	for (p = answer; *p != '\0'; p++) {
		if (isspace((unsigned char)*p)) {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_add(&b, " ", 1);
		space = 0;
		buf_printf(&b, "%c", tolower((unsigned char)*p));
	}
	s = buf_steal(&b);
	if (s == NULL)
		s = xstrdup("");
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	for (size_t i = 0; i < n_units; i++) {
		ulen = strlen(units[i]);
		if (ulen > 0 && ulen < len &&
		    strcasecmp(s + len - ulen, units[i]) == 0) {
			len -= ulen;
			s[len] = '\0';
			while (len > 0 && s[len - 1] == ' ')
				s[--len] = '\0';
			break;
		}
	}

	/* A number: drop separators and signs that do not change it. */
	buf_init(&b, SIZE_MAX);
	p = s;
	if (*p == '+' || *p == '$')
		p++;
	for (; *p != '\0'; p++) {
		if (*p == ',' && isdigit((unsigned char)p[1]) && p > s &&
		    isdigit((unsigned char)p[-1]))
			continue;
		buf_add(&b, p, 1);
	}
	num = buf_steal(&b);
	if (num != NULL && *num != '\0' &&
	    (isdigit((unsigned char)num[0]) || num[0] == '-' ||
	        num[0] == '.')) {
		d = strtod(num, &endp);
		if (*endp == '\0' && isfinite(d)) {
			free(s);
			if (d == 0)
				d = 0; /* -0 votes with 0 */
			xasprintf(&s, "%.15g", d);
		}
	}
	free(num);
	return s;
}

/* ---- the context ---------------------------------------------------------- */

int
strat_ctx_init(struct strat_ctx *c, struct agent_backend *b,
    struct plug_set *set, const struct agent_react_params *p,
    const struct agent_strategy *st, const struct agent_scorer_hook *scorers,
    const struct agent_sink *sink, struct agent_span *span, char **cause)
{
	struct agent_chat_msg msg;
	struct plug_tool *t;
	struct buf names, prompt;
	char *tools, *rendered;

	memset(c, 0, sizeof *c);
	if (p->tmpl == NULL || p->input == NULL) {
		xasprintf(cause, "a strategy needs a template and an input");
		return -1;
	}
	tools = plug_set_prompt(set, p->tools, p->n_tools, cause);
	if (tools == NULL)
		return -1;
	c->b = b;
	c->set = set;
	c->p = p;
	c->st = st;
	c->scorers = scorers;
	c->sink = sink;
	c->span = span;
	c->caps = agent_backend_caps(b);
	c->max_tokens =
	    p->max_tokens != 0 ? p->max_tokens : AGENT_DEFAULT_MAX_TOKENS;
	c->max_steps =
	    p->max_steps != 0 ? p->max_steps : AGENT_DEFAULT_MAX_STEPS;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	atomic_init(&c->stop, 0);

	buf_init(&names, SIZE_MAX);
	for (size_t i = 0; i < plug_set_count(set); i++) {
		size_t j;

		t = plug_set_tool(set, i);
		for (j = 0; p->tools != NULL && j < p->n_tools; j++) {
			if (strcmp(p->tools[j], plug_tool_name(t)) == 0)
				break;
		}
		if (p->tools != NULL && j == p->n_tools)
			continue;
		buf_printf(&names, "%s%s", names.len > 0 ? ", " : "",
		    plug_tool_name(t));
	}
	c->tool_names = buf_steal(&names);
	if (c->tool_names == NULL)
		c->tool_names = xstrdup("");

	/* Few-shot examples go before the prompt, each on its own lines. */
	rendered = agent_prompt_render(p->tmpl, tools, p->input);
	free(tools);
	buf_init(&prompt, SIZE_MAX);
	for (size_t i = 0; i < st->n_examples; i++) {
		size_t len = strlen(st->examples[i]);

		buf_puts(&prompt, st->examples[i]);
		buf_puts(
		    &prompt, st->examples[i][len - 1] == '\n' ? "\n" : "\n\n");
	}
	buf_puts(&prompt, rendered);
	free(rendered);
	rendered = buf_steal(&prompt);
	if ((c->caps & AGENT_CAP_CHAT) != 0) {
		msg.role = "user";
		msg.content = rendered;
		c->prefix = agent_backend_chat_render(b, &msg, 1, 1, cause);
		free(rendered);
		if (c->prefix == NULL) {
			strat_ctx_fini(c);
			return -1;
		}
	} else
		c->prefix = rendered;
	return 0;
}

void
strat_ctx_fini(struct strat_ctx *c)
{
	if (c->b == NULL)
		return;
	free(c->prefix);
	free(c->tool_names);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof *c);
}

void
strat_emit(struct strat_ctx *c, int branch, const char *type, json_t *fields)
{
	if (fields == NULL)
		return;
	if (c->sink == NULL || c->sink->event == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(fields, "branch", json_integer(branch));
	pthread_mutex_lock(&c->mu);
	c->sink->event(c->sink->arg, type, fields);
	pthread_mutex_unlock(&c->mu);
}

void
strat_usage_add(struct strat_ctx *c, const struct agent_usage *u)
{
	pthread_mutex_lock(&c->mu);
	c->usage.prompt_computed += u->prompt_computed;
	c->usage.prompt_reused += u->prompt_reused;
	c->usage.completion += u->completion;
	pthread_mutex_unlock(&c->mu);
}

struct agent_session *
strat_prompt_session(struct strat_ctx *c, char **cause)
{
	struct agent_session *s;
	struct agent_append_result ar;
	struct agent_usage u;

	memset(&ar, 0, sizeof ar);
	if ((s = agent_session_new(c->b, cause)) == NULL)
		return NULL;
	if (agent_session_append(s, c->prefix, strlen(c->prefix), &ar, cause) !=
	    0) {
		agent_session_free(s);
		return NULL;
	}
	memset(&u, 0, sizeof u);
	u.prompt_computed = ar.computed;
	u.prompt_reused = ar.reused;
	strat_usage_add(c, &u);
	agent_span_attr_int(
	    c->span, "agentd.prompt.tokens_computed", ar.computed);
	agent_span_attr_int(c->span, "agentd.prompt.tokens_reused", ar.reused);
	return s;
}

/* ---- trajectories --------------------------------------------------------- */

struct strat_traj *
strat_traj_new(struct strat_ctx *c, struct agent_session *sess, int branch,
    struct agent_span *span)
{
	struct strat_traj *t;

	t = xcalloc(1, sizeof *t);
	t->c = c;
	t->sess = sess;
	t->branch = branch;
	t->span = span;
	t->temperature = c->p->sampling.temperature;
	t->seed = c->p->sampling.seed;
	t->steps = json_array();
	t->done_actions = json_array();
	buf_init(&t->text, SIZE_MAX);
	atomic_init(&t->cancel, 0);
	return t;
}

struct strat_traj *
strat_traj_fork(const struct strat_traj *t, int branch, char **cause)
{
	struct agent_session *s;
	struct strat_traj *n;

	s = agent_session_fork(t->sess, cause);
	if (s == NULL)
		return NULL;
	n = strat_traj_new(t->c, s, branch, t->span);
	n->temperature = t->temperature;
	n->seed = t->seed;
	json_decref(n->steps);
	n->steps = json_deep_copy(t->steps);
	json_decref(n->done_actions);
	n->done_actions = json_deep_copy(t->done_actions);
	buf_add(&n->text, t->text.data, t->text.len);
	n->n_steps = t->n_steps;
	n->repeats = t->repeats;
	n->logprob_sum = t->logprob_sum;
	n->gen_tokens = t->gen_tokens;
	n->thinking = t->thinking;
	n->waits = t->waits;
	return n;
}

void
strat_traj_free(struct strat_traj *t)
{
	if (t == NULL)
		return;
	agent_session_free(t->sess);
	json_decref(t->steps);
	json_decref(t->done_actions);
	buf_free(&t->text);
	free(t->answer);
	free(t->error);
	free(t);
}

void
strat_traj_end(
    struct strat_traj *t, enum agent_ending ending, const char *fmt, ...)
{
	va_list ap;

	if (t->ended)
		return;
	t->ended = 1;
	t->ending = ending;
	if (ending != AGENT_END_FINAL_ANSWER) {
		va_start(ap, fmt);
		xvasprintf(&t->error, fmt, ap);
		va_end(ap);
	}
}

double
strat_traj_mean_logprob(const struct strat_traj *t)
{
	return t->gen_tokens > 0 ? t->logprob_sum / t->gen_tokens : 0;
}

json_t *
strat_candidate(const struct strat_traj *t)
{
	return json_pack("{s:s, s:O, s:o}", "input", t->c->p->input, "steps",
	    t->steps, "answer",
	    t->answer != NULL ? json_string(t->answer) : json_null());
}

/* Between tokens: the run's flags and an early stop end the branch. */
static void
traj_on_token(void *arg, const char *text, size_t len)
{
	struct strat_traj *t = arg;
	struct strat_ctx *c = t->c;

	if (c->sink != NULL && c->sink->poll != NULL) {
		pthread_mutex_lock(&c->mu);
		c->sink->poll(c->sink->arg);
		pthread_mutex_unlock(&c->mu);
	}
	if (atomic_load(&c->stop) != 0 ||
	    (c->p->cancel != NULL && atomic_load(c->p->cancel) != 0))
		atomic_store(&t->cancel, 1);
	if (len > 0)
		strat_emit(c, t->branch, "token",
		    json_pack("{s:s%, s:i}", "text", text, len, "step",
		        (int)t->n_steps));
}

/* Returns 1 (with t ended) once the trajectory must stop. */
static int
traj_stopped(struct strat_traj *t)
{
	struct strat_ctx *c = t->c;

	if (t->ended)
		return 1;
	if (c->p->cancel != NULL && atomic_load(c->p->cancel) != 0) {
		strat_traj_end(t, AGENT_END_CANCELLED, "the run was cancelled");
		return 1;
	}
	if (c->p->deadline_ns != 0 && clock_mono_ns() >= c->p->deadline_ns) {
		strat_traj_end(t, AGENT_END_TIMEOUT, "the run timed out");
		return 1;
	}
	if (atomic_load(&c->stop) != 0) {
		strat_traj_end(t, AGENT_END_CANCELLED,
		    "stopped early: the strategy had decided");
		return 1;
	}
	return 0;
}

/* Appends text to the session and the trajectory.  0, or -1 (ended). */
static int
traj_append(struct strat_traj *t, const char *text, size_t len)
{
	struct agent_append_result ar;
	char *cause = NULL;

	memset(&ar, 0, sizeof ar);
	if (agent_session_append(t->sess, text, len, &ar, &cause) != 0) {
		strat_traj_end(
		    t, AGENT_END_ERROR, "the model backend failed: %s", cause);
		free(cause);
		return -1;
	}
	t->usage.prompt_computed += ar.computed;
	t->usage.prompt_reused += ar.reused;
	buf_add(&t->text, text, len);
	return 0;
}

/*
 * One generation with an llm span under parent.  Returns 0 with *gen
 * filled (the text is in the session and the trajectory), or -1 with the
 * trajectory ended.
 */
static int
traj_gen(struct strat_traj *t, struct agent_span *parent,
    struct agent_gen_params *gp, struct agent_gen_result *gen)
{
	struct strat_ctx *c = t->c;
	struct agent_span *llm;
	char *name, *cause = NULL, *cut;

	xasprintf(&name, "text_completion %s", agent_backend_name(c->b));
	llm = agent_span_child(parent, name, AGENT_SPAN_LLM);
	free(name);
	agent_span_attr_str(llm, "gen_ai.operation.name", "text_completion");
	agent_span_attr_str(
	    llm, "gen_ai.request.model", agent_backend_name(c->b));
	agent_span_attr_int(llm, "gen_ai.request.max_tokens", gp->max_tokens);
	agent_span_attr_real(
	    llm, "gen_ai.request.temperature", gp->temperature);
	agent_span_attr_int(llm, "gen_ai.request.seed", (int64_t)gp->seed);
	agent_span_attr_int(llm, "agentd.branch", t->branch);

	gp->cancel = &t->cancel;
	gp->deadline_ns = c->p->deadline_ns;
	gp->on_token = traj_on_token;
	gp->arg = t;
	gp->logprobs = (c->caps & AGENT_CAP_LOGPROBS) != 0;
	gp->top_k = c->p->sampling.top_k;
	gp->top_p = c->p->sampling.top_p;
	gp->min_p = c->p->sampling.min_p;
	memset(gen, 0, sizeof *gen);
	if (agent_session_generate(t->sess, gp, gen, &cause) != 0) {
		agent_span_error(llm, "%s", cause);
		agent_span_end(llm);
		strat_traj_end(
		    t, AGENT_END_ERROR, "the model backend failed: %s", cause);
		free(cause);
		return -1;
	}
	t->usage.prompt_computed += gen->prompt_computed;
	t->usage.prompt_reused += gen->prompt_reused;
	t->usage.completion += gen->tokens;
	t->logprob_sum += gen->logprob_sum;
	t->gen_tokens += gen->tokens;
	buf_add(&t->text, gen->text, gen->len);

	agent_span_attr_int(llm, "gen_ai.usage.input_tokens",
	    (int64_t)gen->prompt_computed + gen->prompt_reused);
	agent_span_attr_int(llm, "gen_ai.usage.output_tokens", gen->tokens);
	agent_span_attr_int(
	    llm, "agentd.prompt_tokens_computed", gen->prompt_computed);
	agent_span_attr_int(
	    llm, "agentd.prompt_tokens_reused", gen->prompt_reused);
	agent_span_attr(llm, "gen_ai.response.finish_reasons",
	    json_pack("[s]", agent_finish_name(gen->finish)));
	if (gp->logprobs)
		agent_span_attr_real(
		    llm, "agentd.logprob_sum", gen->logprob_sum);
	agent_span_attr_real(llm, "agentd.ttft_ms", (double)gen->ttft_ns / 1e6);
	agent_span_attr_real(llm, "agentd.tokens_per_s", gen->tokens_per_s);
	cut = cut_text(gen->text, gen->len);
	agent_span_attr_str(llm, "agentd.completion", cut);
	free(cut);
	agent_span_end(llm);
	return 0;
}

/*
 * plan: the model writes one step into *step, with budget forcing when
 * it is on.  *final is set when the marker was written (so the step
 * ends with the answer line).  Returns 0, or -1 with the trajectory
 * ended.
 */
static int
traj_plan(
    struct strat_traj *t, struct agent_span *step, struct buf *out, int *final)
{
	struct strat_ctx *c = t->c;
	const struct agent_budget *bu = &c->st->budget;
	struct agent_gen_params gp;
	struct agent_gen_result gen;
	const char *stops[2] = { AGENT_STOP_OBSERVATION, NULL };
	const char *nl_stop[1] = { "\n" };
	int react_marker =
	    bu->on && strcmp(bu->marker, AGENT_FINAL_PREFIX) == 0;
	int force = 0, rc = -1;
	uint32_t room;
	char *wait;

	*final = 0;
	for (;;) {
		memset(&gp, 0, sizeof gp);
		gp.max_tokens = c->max_tokens;
		gp.temperature = t->temperature;
		gp.seed = t->seed;
		gp.stop = stops;
		gp.n_stop = 1;
		if (bu->on) {
			stops[1] = bu->marker;
			gp.n_stop = 2;
			room = bu->max_thinking > t->thinking
			    ? bu->max_thinking - t->thinking
			    : 0;
			if (room == 0) {
				force = 1;
				break;
			}
			if (room < gp.max_tokens)
				gp.max_tokens = room;
		} else
			gp.stop_line_prefix = c->st->pattern;
		if (traj_gen(t, step, &gp, &gen) != 0)
			return -1;
		buf_add(out, gen.text, gen.len);
		if (gen.finish == AGENT_FINISH_CANCELLED) {
			agent_gen_result_clear(&gen);
			if (!traj_stopped(t))
				strat_traj_end(t, AGENT_END_CANCELLED,
				    "the generation was cancelled");
			return -1;
		}
		t->cut = gen.finish == AGENT_FINISH_LENGTH;
		if (!bu->on) {
			agent_gen_result_clear(&gen);
			return 0;
		}
		/* What the session kept: a stop string is not thinking. */
		t->thinking += agent_backend_count(c->b, gen.text, gen.len);
		if (gen.finish == AGENT_FINISH_STOP && gen.stop_index == 1) {
			agent_gen_result_clear(&gen);
			if (t->thinking >= bu->min_thinking)
				break;
			/* Too early: the marker's line becomes a wait. */
			if (out->len > 0 && out->data[out->len - 1] != '\n') {
				if (traj_append(t, "\n", 1) != 0)
					return -1;
				buf_add(out, "\n", 1);
			}
			xasprintf(&wait, "%s%s",
			    react_marker ? "Thought: " : "", bu->wait_text);
			rc = traj_append(t, wait, strlen(wait));
			if (rc == 0)
				buf_puts(out, wait);
			free(wait);
			if (rc != 0)
				return -1;
			t->waits++;
			strat_emit(c, t->branch, "wait",
			    json_pack("{s:i, s:i}", "waits", (int)t->waits,
			        "thinking_tokens", (int)t->thinking));
			agent_span_attr_int(step, "agentd.waits", t->waits);
			continue;
		}
		if (gen.finish == AGENT_FINISH_LENGTH &&
		    t->thinking >= bu->max_thinking) {
			agent_gen_result_clear(&gen);
			force = 1;
			break;
		}
		agent_gen_result_clear(&gen);
		return 0;
	}

	/* The marker: allowed (min reached) or forced (max reached). */
	t->cut = 0;
	if (force) {
		t->forced = 1;
		agent_span_attr_str(step, "agentd.budget", "forced");
		strat_emit(c, t->branch, "budget_forced",
		    json_pack("{s:i}", "thinking_tokens", (int)t->thinking));
	}
	if (out->len > 0 && out->data[out->len - 1] != '\n') {
		if (traj_append(t, "\n", 1) != 0)
			return -1;
		buf_add(out, "\n", 1);
	}
	if (traj_append(t, bu->marker, strlen(bu->marker)) != 0)
		return -1;
	buf_puts(out, bu->marker);
	memset(&gp, 0, sizeof gp);
	gp.temperature = t->temperature;
	gp.seed = t->seed;
	if (react_marker) {
		gp.max_tokens = STRAT_ANSWER_TOKENS;
		gp.stop = nl_stop;
		gp.n_stop = 1;
	} else {
		gp.max_tokens = c->max_tokens;
		gp.stop_line_prefix = c->st->pattern;
	}
	if (traj_gen(t, step, &gp, &gen) != 0)
		return -1;
	buf_add(out, gen.text, gen.len);
	if (react_marker) {
		/* The line's end, which the stop kept out of the session. */
		buf_add(out, "\n", 1);
		buf_add(&t->text, "\n", 1);
	}
	agent_gen_result_clear(&gen);
	*final = 1;
	return 0;
}

/* Runs a tool for an action; returns the observation output (new). */
static char *
traj_tool(struct strat_traj *t, struct agent_span *act, const char *name,
    const json_t *args)
{
	struct strat_ctx *c = t->c;
	char *text, *e;
	int is_error;

	strat_emit(c, t->branch, "action",
	    json_pack("{s:s, s:O, s:i}", "tool", name, "input", args, "step",
	        (int)t->n_steps));
	agent_tool_invoke(c->set, c->p->tools, c->p->n_tools, name, args,
	    c->p->tool_timeout_ms != 0 ? c->p->tool_timeout_ms
	                               : PLUG_DEFAULT_CALL_TIMEOUT_MS,
	    c->p->deadline_ns, &t->cancel, act, &text, &is_error);
	if (!is_error)
		return text;
	xasprintf(&e, "Error: %s", text);
	free(text);
	return e;
}

/*
 * act: parse the step, run its action, append the observation.  mark
 * is the session's end before the plan.
 */
static void
traj_act(struct strat_traj *t, struct agent_span *step, const char *text,
    size_t len, uint64_t mark, int final)
{
	struct strat_ctx *c = t->c;
	struct agent_span *act, *parse;
	struct agent_parsed ps;
	struct agent_append_result ar;
	struct plug_tool *tool;
	json_t *record, *prev;
	char *obs = NULL, *line, *answer = NULL, *cause = NULL, *add;
	size_t i, keep;
	int allowed;

	act = agent_span_child(step, "react.act", AGENT_SPAN_STEP);
	agent_span_attr_str(act, "agentd.phase", "act");
	parse = agent_span_child(act, "react.parse", AGENT_SPAN_PARSE);
	agent_parse(text, len, &ps);
	if (ps.kind == AGENT_PARSE_FINAL)
		answer = xstrdup(ps.answer);
	else if (final || ps.kind == AGENT_PARSE_NONE) {
		answer = agent_answer_extract(text, c->st->pattern);
		if (answer == NULL && final)
			answer = after_marker(text, c->st->budget.marker);
	}
	agent_span_attr_str(parse, "agentd.parse.kind",
	    answer != NULL                      ? "final_answer"
	        : ps.kind == AGENT_PARSE_ACTION ? "action"
	        : ps.kind == AGENT_PARSE_BOTH   ? "both"
	                                        : "none");
	agent_span_end(parse);
	strat_emit(c, t->branch, "thought",
	    json_pack(
	        "{s:s, s:i}", "text", ps.thought, "step", (int)t->n_steps));
	record = json_pack("{s:s}", "thought", ps.thought);

	if (answer != NULL) {
		json_object_set_new(record, "answer", json_string(answer));
		json_array_append_new(t->steps, record);
		t->answer = answer;
		strat_traj_end(t, AGENT_END_FINAL_ANSWER, "%s", "");
		goto out;
	}

	/* Cut by max_tokens mid-step: nothing usable, nothing to observe. */
	if (t->cut && !(ps.kind == AGENT_PARSE_ACTION && ps.input != NULL)) {
		json_object_set_new(record, "error", json_string("max_tokens"));
		json_array_append_new(t->steps, record);
		agent_span_error(act, "output cut by max_tokens");
		strat_traj_end(t, AGENT_END_ERROR,
		    "the model's output reached max_tokens (%u) without an "
		    "action or a final answer",
		    c->max_tokens);
		goto out;
	}

	/* Keep only the step: a second action and what follows go. */
	keep = ps.keep;
	if (keep < len) {
		memset(&ar, 0, sizeof ar);
		if (agent_session_rewind(t->sess, mark, &cause) != 0 ||
		    agent_session_append(t->sess, text, keep, &ar, &cause) !=
		        0) {
			strat_traj_end(t, AGENT_END_ERROR,
			    "the model backend failed: %s", cause);
			free(cause);
			json_decref(record);
			goto out;
		}
		t->usage.prompt_computed += ar.computed;
		t->usage.prompt_reused += ar.reused;
		t->text.len -= len - keep;
		t->text.data[t->text.len] = '\0';
	}

	if (ps.kind == AGENT_PARSE_NONE)
		obs = xstrdup(AGENT_OBS_NO_ACTION);
	else if (ps.kind == AGENT_PARSE_BOTH)
		obs = xstrdup(AGENT_OBS_BOTH);
	else {
		json_object_set_new(record, "action", json_string(ps.action));
		json_object_set_new(record, "action_input",
		    ps.input != NULL ? json_incref(ps.input)
		                     : json_string(ps.input_text));
		allowed = c->p->tools == NULL;
		for (i = 0; i < c->p->n_tools && !allowed; i++)
			allowed = strcmp(c->p->tools[i], ps.action) == 0;
		tool = allowed ? plug_set_find(c->set, ps.action) : NULL;
		if (tool == NULL)
			xasprintf(&obs,
			    "Error: unknown tool '%s'; valid tools: %s",
			    ps.action, c->tool_names);
		else if (ps.input == NULL)
			obs = xstrdup(AGENT_OBS_NOT_OBJECT);
		else {
			json_array_foreach(t->done_actions, i, prev)
			{
				if (strcmp(json_string_value(
				               json_array_get(prev, 0)),
				        ps.action) == 0 &&
				    json_equal(
				        json_array_get(prev, 1), ps.input)) {
					obs = xstrdup(AGENT_OBS_REPEATED);
					break;
				}
			}
			if (obs != NULL)
				t->repeats++;
			else {
				json_array_append_new(t->done_actions,
				    json_pack("[s, O]", ps.action, ps.input));
				obs = traj_tool(t, act, ps.action, ps.input);
			}
		}
	}
	line = agent_obs_line(obs, strlen(obs));
	free(obs);
	json_object_set_new(record, "observation", json_string(line));
	json_array_append_new(t->steps, record);
	strat_emit(c, t->branch, "observation",
	    json_pack("{s:s, s:b, s:i}", "text", line, "error",
	        strncmp(line, "Error: ", 7) == 0, "step", (int)t->n_steps));
	xasprintf(&add, "%sObservation: %s\n",
	    keep > 0 && text[keep - 1] != '\n' ? "\n" : "", line);
	free(line);
	if (traj_append(t, add, strlen(add)) == 0 &&
	    t->repeats >= AGENT_LOOP_REPEATS)
		strat_traj_end(t, AGENT_END_LOOP,
		    "the model repeated earlier actions %u times", t->repeats);
	free(add);
out:
	agent_span_end(act);
	agent_parsed_clear(&ps);
}

int
strat_traj_step(struct strat_traj *t)
{
	struct agent_span *step;
	struct buf out;
	uint64_t mark;
	int final = 0;

	if (traj_stopped(t))
		return 1;
	if (t->n_steps >= t->c->max_steps) {
		strat_traj_end(t, AGENT_END_MAX_STEPS,
		    "no final answer after %u steps", t->c->max_steps);
		return 1;
	}
	t->n_steps++;
	step = agent_span_child(t->span, "react.step", AGENT_SPAN_STEP);
	agent_span_attr_int(step, "agentd.step", t->n_steps);
	agent_span_attr_int(step, "agentd.branch", t->branch);
	strat_emit(t->c, t->branch, "step",
	    json_pack("{s:i}", "step", (int)t->n_steps));
	buf_init(&out, SIZE_MAX);
	mark = agent_session_mark(t->sess);
	if (traj_plan(t, step, &out, &final) == 0)
		traj_act(t, step, out.data != NULL ? out.data : "", out.len,
		    mark, final);
	if (t->ended && t->ending != AGENT_END_FINAL_ANSWER)
		agent_span_attr_str(
		    step, "agentd.ending", agent_ending_name(t->ending));
	agent_span_end(step);
	buf_free(&out);
	return t->ended;
}

void
strat_traj_run(struct strat_traj *t)
{
	while (!strat_traj_step(t))
		;
}

/* ---- branches ------------------------------------------------------------- */

static void *
branch_thread(void *arg)
{
	struct strat_traj *t = arg;
	struct strat_ctx *c = t->c;

	strat_traj_run(t);
	pthread_mutex_lock(&c->mu);
	t->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

void
strat_run_branches(struct strat_ctx *c, struct strat_traj **t, size_t n,
    int (*decide)(void *, struct strat_traj *), void *arg)
{
	pthread_t *tids;
	int *started, *judged;
	size_t left = 0;

	if ((c->caps & AGENT_CAP_BATCH) == 0 || n < 2) {
		for (size_t i = 0; i < n; i++) {
			if (atomic_load(&c->stop) != 0)
				break;
			t[i]->ran = 1;
			strat_traj_run(t[i]);
			t[i]->done = 1;
			if (decide != NULL && decide(arg, t[i]))
				atomic_store(&c->stop, 1);
		}
		return;
	}

	/* One thread a branch: the scheduler batches their decode steps. */
	tids = xcalloc(n, sizeof *tids);
	started = xcalloc(n, sizeof *started);
	judged = xcalloc(n, sizeof *judged);
	for (size_t i = 0; i < n; i++) {
		t[i]->ran = 1;
		if (pthread_create(&tids[i], NULL, branch_thread, t[i]) == 0) {
			started[i] = 1;
			left++;
		} else {
			/* No thread: run it here, in turn. */
			strat_traj_run(t[i]);
			t[i]->done = 1;
		}
	}
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int any = 0;

		for (size_t i = 0; i < n; i++) {
			if (t[i]->done && !judged[i]) {
				judged[i] = 1;
				any = 1;
				pthread_mutex_unlock(&c->mu);
				if (decide != NULL && decide(arg, t[i]))
					atomic_store(&c->stop, 1);
				pthread_mutex_lock(&c->mu);
			}
		}
		if (any)
			continue;
		left = 0;
		for (size_t i = 0; i < n; i++)
			left += !judged[i];
		if (left == 0)
			break;
		pthread_cond_wait(&c->cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
	}
	free(judged);
	free(started);
	free(tids);
}

/* ---- scoring -------------------------------------------------------------- */

int
strat_score(struct strat_ctx *c, struct strat_traj *t, const char *name,
    struct agent_span *parent, double *score, char **reason, char **cause)
{
	struct agent_span *span;
	struct agent_session *s = NULL;
	struct agent_append_result ar;
	struct agent_gen_params gp;
	struct agent_gen_result gen;
	struct agent_usage u;
	const char *stops[1] = { "\n" };
	json_t *cand;
	char *spname, *word = NULL, *p;
	int rc = -1;

	memset(&gen, 0, sizeof gen);
	memset(&u, 0, sizeof u);
	*reason = NULL;
	xasprintf(&spname, "score %s", name);
	span = agent_span_child(parent, spname, AGENT_SPAN_JUDGE);
	free(spname);
	agent_span_attr_str(span, "agentd.scorer", name);
	agent_span_attr_int(span, "agentd.branch", t->branch);
	if (strcmp(name, "llm") != 0) {
		cand = strat_candidate(t);
		rc = agent_scorer_run(
		    name, c->set, c->scorers, cand, score, reason, cause);
		json_decref(cand);
		goto out;
	}

	/* The value prompt, on a fork: the state is not read again. */
	if ((s = agent_session_fork(t->sess, cause)) == NULL)
		goto out;
	memset(&ar, 0, sizeof ar);
	if (agent_session_append(s, AGENT_STRAT_VALUE_PROMPT,
	        strlen(AGENT_STRAT_VALUE_PROMPT), &ar, cause) != 0)
		goto out;
	memset(&gp, 0, sizeof gp);
	gp.max_tokens = STRAT_VALUE_TOKENS;
	gp.stop = stops;
	gp.n_stop = 1;
	gp.cancel = c->p->cancel;
	gp.deadline_ns = c->p->deadline_ns;
	if (agent_session_generate(s, &gp, &gen, cause) != 0)
		goto out;
	u.prompt_computed = ar.computed + gen.prompt_computed;
	u.prompt_reused = ar.reused + gen.prompt_reused;
	u.completion = gen.tokens;
	strat_usage_add(c, &u);
	word = agent_answer_normalise(gen.text, NULL, 0);
	for (p = word; *p != '\0' && isalpha((unsigned char)*p); p++)
		;
	*p = '\0';
	if (strcmp(word, "sure") == 0)
		*score = 1.0;
	else if (strcmp(word, "likely") == 0)
		*score = 0.5;
	else if (strcmp(word, "impossible") == 0)
		*score = 0.0;
	else
		*score = 0.25;
	xasprintf(reason, "the model judged the state '%s'",
	    *word != '\0' ? word : "(nothing)");
	agent_span_attr_int(span, "gen_ai.usage.output_tokens", gen.tokens);
	rc = 0;
out:
	if (rc == 0) {
		agent_span_attr_real(span, "agentd.score", *score);
		if (*reason != NULL)
			agent_span_attr_str(span, "agentd.reason", *reason);
	} else
		agent_span_error(span, "%s", *cause);
	agent_span_end(span);
	agent_gen_result_clear(&gen);
	agent_session_free(s);
	free(word);
	return rc;
}

/* ---- results -------------------------------------------------------------- */

void
strat_take_result(
    struct strat_ctx *c, struct strat_traj *t, struct agent_react_result *res)
{
	res->ending = t->ending;
	res->answer = t->answer;
	t->answer = NULL;
	res->error = t->error;
	t->error = NULL;
	json_decref(res->steps);
	res->steps = json_incref(t->steps);
	res->n_steps = t->n_steps;
	res->transcript = xstrdup(c->prefix);
	if (t->text.len > 0) {
		char *all;

		xasprintf(&all, "%s%s", c->prefix, t->text.data);
		free(res->transcript);
		res->transcript = all;
	}
}

void
strat_fail_result(struct agent_react_result *res, const char *fmt, ...)
{
	va_list ap;

	res->ending = AGENT_END_ERROR;
	free(res->error);
	va_start(ap, fmt);
	xvasprintf(&res->error, fmt, ap);
	va_end(ap);
}

int
agent_strategy_run(struct agent_backend *b, struct plug_set *set,
    const struct agent_react_params *p, const struct agent_strategy *st,
    const struct agent_scorer_hook *scorers, const struct agent_sink *sink,
    struct agent_span *parent, struct agent_strategy_result *res, char **cause)
{
	struct strat_ctx c;
	struct agent_span *span, *root = NULL;
	char *name;
	int rc;

	memset(res, 0, sizeof *res);
	if (st->kind == AGENT_STRAT_TOT && strcmp(st->scorer, "llm") != 0 &&
	    !agent_scorer_builtin(st->scorer) &&
	    (scorers == NULL || scorers->score == NULL)) {
		xasprintf(
		    cause, "strategy.scorer: unknown scorer '%s'", st->scorer);
		return -1;
	}
	if (st->kind == AGENT_STRAT_BON && strcmp(st->judge, "llm") != 0 &&
	    !agent_scorer_builtin(st->judge) &&
	    (scorers == NULL || scorers->score == NULL)) {
		xasprintf(
		    cause, "strategy.judge: unknown scorer '%s'", st->judge);
		return -1;
	}
	if (parent == NULL)
		parent = root = agent_span_root(
		    NULL, "agentd.strategy", AGENT_SPAN_RUN, NULL);
	xasprintf(&name, "strategy %s", agent_strategy_name(st->kind));
	span = agent_span_child(parent, name, AGENT_SPAN_STRATEGY);
	free(name);
	agent_span_attr_str(
	    span, "agentd.strategy", agent_strategy_name(st->kind));
	if (strat_ctx_init(&c, b, set, p, st, scorers, sink, span, cause) !=
	    0) {
		agent_span_error(span, "%s", *cause);
		agent_span_end(span);
		agent_span_end(root);
		return -1;
	}
	res->r.steps = json_array();
	switch (st->kind) {
	case AGENT_STRAT_COT:
		rc = strat_cot_run(&c, res, cause);
		break;
	case AGENT_STRAT_SC:
		rc = strat_sc_run(&c, res, cause);
		break;
	case AGENT_STRAT_TOT:
		rc = strat_tot_run(&c, res, cause);
		break;
	case AGENT_STRAT_BUDGET:
		rc = strat_budget_run(&c, res, cause);
		break;
	case AGENT_STRAT_BON:
		rc = strat_bon_run(&c, res, cause);
		break;
	default:
		rc = -1;
		xasprintf(cause, "unknown strategy");
		break;
	}
	res->r.usage.prompt_computed += c.usage.prompt_computed;
	res->r.usage.prompt_reused += c.usage.prompt_reused;
	res->r.usage.completion += c.usage.completion;
	if (rc != 0) {
		agent_span_error(span, "%s", *cause);
		agent_strategy_result_clear(res);
	} else {
		if (res->report == NULL)
			res->report = json_object();
		json_object_set_new(res->report, "name",
		    json_string(agent_strategy_name(st->kind)));
		agent_span_attr_str(
		    span, "agentd.ending", agent_ending_name(res->r.ending));
		agent_span_attr_int(span, "gen_ai.usage.output_tokens",
		    (int64_t)res->r.usage.completion);
		agent_span_attr_int(span, "agentd.prompt_tokens_computed",
		    (int64_t)res->r.usage.prompt_computed);
		agent_span_attr_int(span, "agentd.prompt_tokens_reused",
		    (int64_t)res->r.usage.prompt_reused);
		if (res->r.ending != AGENT_END_FINAL_ANSWER &&
		    res->r.error != NULL)
			agent_span_error(span, "%s", res->r.error);
	}
	agent_span_end(span);
	agent_span_end(root);
	strat_ctx_fini(&c);
	return rc;
}

void
agent_strategy_result_clear(struct agent_strategy_result *res)
{
	if (res == NULL)
		return;
	agent_react_result_clear(&res->r);
	json_decref(res->report);
	memset(res, 0, sizeof *res);
}

json_t *
agent_strategy_result_json(const struct agent_strategy_result *res)
{
	json_t *out = agent_react_result_json(&res->r);

	json_object_set_new(out, "strategy",
	    res->report != NULL ? json_incref(res->report) : json_object());
	return out;
}
