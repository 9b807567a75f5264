/*
 * strategy-bon.c: best-of-n with a judge.
 *
 * n candidates are sampled as self-consistency samples are (one prompt,
 * n forks, batched where the backend batches).  The candidates that gave
 * a final answer are judged:
 *
 *  "llm"     one judge prompt in a fresh session: the rubric, the
 *            question and the candidates (their thoughts and answers)
 *            in a random order, so that no position is favoured; the
 *            judge replies "Scores: s1, s2, ..." (0 to 10, in the order
 *            shown) and "Rationale: ...".  Scores are mapped back to the
 *            candidates and corrected for length against verbosity bias:
 *            corrected = score - length_penalty * (len - mean) / mean,
 *            len counted in tokens.  A reply without scores falls back
 *            to the candidates' mean log-probabilities, and says so.
 *  a name    a scorer (calc_check, or one the runtime provides) scores
 *            each candidate; its reason for the winner is the rationale.
 *
 * The winner has the highest corrected score; ties go to the higher mean
 * log-probability, then the lower branch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"

#define BON_JUDGE_TOKENS 256
#define BON_DEFAULT_RUBRIC                                                  \
	"Score each candidate from 0 to 10 for whether its answer is "      \
	"correct and follows from its reasoning; a longer answer is not a " \
	"better one."

struct bon_cand {
	struct strat_traj *t;
	int position; /* where the judge saw it, from 0 */
	uint32_t length;
	double raw, corrected;
	int scored;
	char *reason;
};

static uint64_t bon_rand(uint64_t *);
static char *bon_thoughts(const struct strat_traj *);
static int bon_llm(struct strat_ctx *, struct bon_cand *, size_t,
    struct agent_span *, char **, int *);

/* xorshift64*: enough to shuffle candidates reproducibly. */
static uint64_t
bon_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* The candidate's thoughts on one line. */
static char *
bon_thoughts(const struct strat_traj *t)
{
	struct buf b;
	const json_t *step;
	const char *th;
	size_t i;
	char *s, *line;

	buf_init(&b, SIZE_MAX);
	json_array_foreach(t->steps, i, step)
	{
		th = json_string_value(json_object_get(step, "thought"));
		if (th != NULL && *th != '\0')
			buf_printf(&b, "%s%s", b.len > 0 ? " " : "", th);
	}
	s = buf_steal(&b);
	if (s == NULL)
		return xstrdup("(none)");
	line = agent_obs_line(s, strlen(s));
	free(s);
	return line;
}

/*
 * The LLM judge: fills raw for every candidate and *rationale.  Returns 0,
 * or -1 when the backend failed (*rationale says why); *fallback is set
 * when the reply held no usable scores.
 */
static int
bon_llm(struct strat_ctx *c, struct bon_cand *cand, size_t n,
    struct agent_span *span, char **rationale, int *fallback)
{
	struct agent_session *s = NULL;
	struct agent_append_result ar;
	struct agent_gen_params gp;
	struct agent_gen_result gen;
	struct agent_chat_msg msg;
	struct agent_usage u;
	struct buf b;
	size_t *shown;
	char *prompt, *wrapped = NULL, *th, *p, *end, *cause = NULL;
	double v;
	size_t k, got = 0;
	int rc = -1;

	memset(&gen, 0, sizeof gen);
	memset(&u, 0, sizeof u);
	*fallback = 0;
	shown = xcalloc(n, sizeof *shown);
	for (k = 0; k < n; k++)
		shown[cand[k].position] = k;
	buf_init(&b, SIZE_MAX);
	buf_printf(&b, "You are a strict judge. %s\nQuestion: %s\n",
	    c->st->rubric != NULL ? c->st->rubric : BON_DEFAULT_RUBRIC,
	    c->p->input);
	for (k = 0; k < n; k++) {
		struct bon_cand *x = &cand[shown[k]];

		th = bon_thoughts(x->t);
		buf_printf(&b, "Candidate %zu:\nReasoning: %s\nAnswer: %s\n",
		    k + 1, th, x->t->answer);
		free(th);
	}
	buf_printf(&b,
	    "Score every candidate from 0 to 10, in the order above, as "
	    "\"Scores: s1, s2, ...\", then give one line \"Rationale: "
	    "...\".\nScores:");
	prompt = buf_steal(&b);
	if ((c->caps & AGENT_CAP_CHAT) != 0) {
		msg.role = "user";
		msg.content = prompt;
		wrapped = agent_backend_chat_render(c->b, &msg, 1, 1, &cause);
		if (wrapped == NULL)
			goto out;
		xasprintf(&p, "%sScores:", wrapped);
		free(wrapped);
		wrapped = p;
	}
	memset(&ar, 0, sizeof ar);
	if ((s = agent_session_new(c->b, &cause)) == NULL ||
	    agent_session_append(s, wrapped != NULL ? wrapped : prompt,
	        strlen(wrapped != NULL ? wrapped : prompt), &ar, &cause) != 0)
		goto out;
	memset(&gp, 0, sizeof gp);
	gp.max_tokens = BON_JUDGE_TOKENS;
	gp.cancel = c->p->cancel;
	gp.deadline_ns = c->p->deadline_ns;
	gp.stop_line_prefix = "Rationale:";
	if (agent_session_generate(s, &gp, &gen, &cause) != 0)
		goto out;
	u.prompt_computed = ar.computed + gen.prompt_computed;
	u.prompt_reused = ar.reused + gen.prompt_reused;
	u.completion = gen.tokens;
	strat_usage_add(c, &u);
	agent_span_attr_int(span, "gen_ai.usage.output_tokens", gen.tokens);
	agent_span_attr_int(span, "gen_ai.usage.input_tokens",
	    (int64_t)ar.computed + ar.reused);

	/* "s1, s2, ...\nRationale: ...": the scores in the order shown. */
	p = gen.text;
	for (k = 0; k < n; k++) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		v = strtod(p, &end);
		if (end == p || !isfinite(v))
			break;
		cand[shown[k]].raw = v;
		cand[shown[k]].scored = 1;
		got++;
		p = end;
		while (*p == '/' || (*p >= '0' && *p <= '9'))
			p++; /* "7/10" */
	}
	*rationale = agent_answer_extract(gen.text, "Rationale:");
	if (*rationale == NULL)
		*rationale = xstrdup("");
	if (got < n) {
		*fallback = 1;
		for (k = 0; k < n; k++) {
			cand[k].raw = strat_traj_mean_logprob(cand[k].t);
			cand[k].scored = 1;
		}
	}
	rc = 0;
out:
	if (rc != 0) {
		*rationale = cause;
		cause = NULL;
	}
	free(cause);
	agent_gen_result_clear(&gen);
	agent_session_free(s);
	free(wrapped);
	free(prompt);
	free(shown);
	return rc;
}

int
strat_bon_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause)
{
	const struct agent_strategy *st = c->st;
	struct agent_session *base;
	struct strat_traj **t;
	struct agent_span *judge, **spans;
	struct bon_cand *cand;
	struct bon_cand *win = NULL;
	json_t *scores, *order;
	char *why = NULL, *rationale = NULL, *text;
	size_t n = st->n, nc = 0, k;
	uint64_t rng;
	double mean = 0;
	int fallback = 0, rc = 0, llm = strcmp(st->judge, "llm") == 0;

	if ((base = strat_prompt_session(c, &why)) == NULL) {
		res->report =
		    json_pack("{s:i, s:s}", "n", (int)n, "judge", st->judge);
		strat_fail_result(&res->r, "cannot feed the prompt: %s", why);
		free(why);
		return 0;
	}
	t = xcalloc(n, sizeof *t);
	spans = xcalloc(n, sizeof *spans);
	for (k = 0; k < n; k++) {
		struct agent_session *s = agent_session_fork(base, &why);

		spans[k] = agent_span_child(
		    c->span, "best_of_n.candidate", AGENT_SPAN_STRATEGY);
		agent_span_attr_int(spans[k], "agentd.branch", (int64_t)k);
		t[k] = strat_traj_new(c, s, (int)k, spans[k]);
		if (s == NULL) {
			agent_span_error(spans[k], "%s", why);
			strat_traj_end(t[k], AGENT_END_ERROR,
			    "cannot fork the prompt: %s", why);
		}
		free(why);
		why = NULL;
		t[k]->temperature = st->temperature;
		t[k]->seed = c->p->sampling.seed * 1000003u + k + 1;
	}
	agent_session_free(base);
	strat_run_branches(c, t, n, NULL, NULL);

	/* The candidates with an answer, in a random order for the judge. */
	cand = xcalloc(n, sizeof *cand);
	for (k = 0; k < n; k++) {
		res->r.usage.prompt_computed += t[k]->usage.prompt_computed;
		res->r.usage.prompt_reused += t[k]->usage.prompt_reused;
		res->r.usage.completion += t[k]->usage.completion;
		if (t[k]->ending != AGENT_END_FINAL_ANSWER)
			continue;
		cand[nc].t = t[k];
		cand[nc].position = (int)nc;
		text = bon_thoughts(t[k]);
		cand[nc].length =
		    agent_backend_count(c->b, text, strlen(text)) +
		    agent_backend_count(
		        c->b, t[k]->answer, strlen(t[k]->answer));
		free(text);
		mean += cand[nc].length;
		nc++;
	}
	rng = c->p->sampling.seed != 0 ? c->p->sampling.seed
	                               : clock_mono_ns() | 1;
	for (k = nc; k > 1; k--) {
		size_t j = (size_t)(bon_rand(&rng) % k);
		int tmp = cand[k - 1].position;

		cand[k - 1].position = cand[j].position;
		cand[j].position = tmp;
	}
	if (nc > 0)
		mean /= (double)nc;

	judge = agent_span_child(c->span, "best_of_n.judge", AGENT_SPAN_JUDGE);
	agent_span_attr_str(judge, "agentd.judge", st->judge);
	agent_span_attr_int(judge, "agentd.candidates", (int64_t)nc);
	if (nc > 0 && llm) {
		if (bon_llm(c, cand, nc, judge, &rationale, &fallback) != 0) {
			agent_span_error(judge, "%s", rationale);
			fallback = 1;
			for (k = 0; k < nc; k++)
				cand[k].raw =
				    strat_traj_mean_logprob(cand[k].t);
		}
	} else {
		for (k = 0; k < nc && rc == 0; k++) {
			if (strat_score(c, cand[k].t, st->judge, judge,
			        &cand[k].raw, &cand[k].reason, cause) != 0)
				rc = -1;
		}
	}
	for (k = 0; k < nc && rc == 0; k++) {
		cand[k].corrected = cand[k].raw;
		if (llm && !fallback && mean > 0)
			cand[k].corrected -= st->length_penalty *
			    ((double)cand[k].length - mean) / mean;
		if (win == NULL || cand[k].corrected > win->corrected ||
		    (cand[k].corrected == win->corrected &&
		        strat_traj_mean_logprob(cand[k].t) >
		            strat_traj_mean_logprob(win->t)))
			win = &cand[k];
	}
	if (rc == 0 && win != NULL && !llm && win->reason != NULL)
		rationale = xstrdup(win->reason);

	scores = json_array();
	order = json_array();
	for (k = 0; k < nc; k++) {
		for (size_t j = 0; j < nc; j++) {
			if (cand[j].position == (int)k)
				json_array_append_new(
				    order, json_integer(cand[j].t->branch));
		}
		json_array_append_new(scores,
		    json_pack("{s:i, s:s, s:i, s:i, s:f, s:f}", "branch",
		        cand[k].t->branch, "answer", cand[k].t->answer,
		        "position", cand[k].position, "length",
		        (int)cand[k].length, "score", cand[k].raw, "corrected",
		        cand[k].corrected));
		if (cand[k].reason != NULL)
			json_object_set_new(json_array_get(scores, k), "reason",
			    json_string(cand[k].reason));
	}
	res->report = json_pack("{s:i, s:i, s:s, s:o, s:o, s:o, s:o, s:f}", "n",
	    (int)n, "candidates", (int)nc, "judge", st->judge, "order", order,
	    "scores", scores, "winner",
	    win != NULL ? json_integer(win->t->branch) : json_null(),
	    "rationale",
	    rationale != NULL ? json_string(rationale) : json_null(),
	    "length_penalty", llm ? st->length_penalty : 0.0);
	if (fallback)
		json_object_set_new(
		    res->report, "fallback", json_string("mean_logprob"));
	if (rationale != NULL)
		agent_span_attr_str(judge, "agentd.rationale", rationale);
	if (win != NULL)
		agent_span_attr_int(judge, "agentd.winner", win->t->branch);
	agent_span_end(judge);

	if (rc == 0 && win != NULL)
		strat_take_result(c, win->t, &res->r);
	else if (rc == 0) {
		enum agent_ending e = t[0]->ending;

		strat_take_result(c, t[0], &res->r);
		if (c->p->cancel != NULL && atomic_load(c->p->cancel) != 0)
			e = AGENT_END_CANCELLED;
		else if (e == AGENT_END_FINAL_ANSWER ||
		    e == AGENT_END_CANCELLED)
			e = AGENT_END_ERROR;
		res->r.ending = e;
		free(res->r.answer);
		res->r.answer = NULL;
		free(res->r.error);
		xasprintf(&res->r.error,
		    "no candidate gave an answer (candidate 0: %s)",
		    t[0]->error != NULL ? t[0]->error : "no answer");
	}
	for (k = 0; k < n; k++) {
		agent_span_end(spans[k]);
		strat_traj_free(t[k]);
	}
	for (k = 0; k < nc; k++)
		free(cand[k].reason);
	free(cand);
	free(rationale);
	free(spans);
	free(t);
	return rc;
}
