/*
 * strategy-sc.c: self-consistency (Wang et al.): n samples, one vote.
 *
 * The prompt is fed once into a session that is then forked n ways, so
 * every branch starts from the same computed prompt (the strategy span
 * carries the prompt tokens computed once; each branch's model calls
 * show none).  Branches are ReAct trajectories sampled at
 * strategy.temperature with distinct seeds; when the backend batches
 * (AGENT_CAP_BATCH) each runs on a thread of its own so that the
 * scheduler decodes them together, else they run in turn.
 *
 * Each answer is normalised (agent_answer_normalise(): case, white
 * space, numbers, units) and counted.  The winner has the most votes;
 * a tie goes to the higher mean log-probability (the mean over the tied
 * answers' samples of each sample's mean token log-probability), then to
 * the answer seen first.  With early_stop, the vote is decided as soon
 * as the leader has more votes than the runner-up could still reach
 * with every sample not yet finished, and the remaining branches stop.
 * The report carries the vote table and the agreement (the winner's
 * votes over the answers counted).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"

struct sc_vote {
	char *norm;
	size_t count;
	double lp_sum; /* sum of the samples' mean log-probabilities */
	size_t first;  /* the order it was first counted in */
	json_t *branches;
};

struct sc {
	struct strat_ctx *c;
	size_t n;
	size_t finished;
	size_t answered;
	struct sc_vote *votes;
	size_t n_votes;
	int early_stopped;
	json_t *order; /* branches in the order they finished */
};

static int sc_decide(void *, struct strat_traj *);
static int sc_better(const struct sc_vote *, const struct sc_vote *);
static int sc_vote_cmp(const void *, const void *);

/* 1 when a beats b: more votes, then mean log-probability, then first. */
static int
sc_better(const struct sc_vote *a, const struct sc_vote *b)
{
	double la, lb;

	if (a->count != b->count)
		return a->count > b->count;
	la = a->lp_sum / (double)a->count;
	lb = b->lp_sum / (double)b->count;
	if (la != lb)
		return la > lb;
	return a->first < b->first;
}

static int
sc_vote_cmp(const void *x, const void *y)
{
	const struct sc_vote *a = x, *b = y;

	return sc_better(a, b) ? -1 : sc_better(b, a) ? 1 : 0;
}

/* A branch ended: count its vote; 1 when the vote is decided. */
static int
sc_decide(void *arg, struct strat_traj *t)
{
	struct sc *sc = arg;
	struct sc_vote *v = NULL;
	size_t lead = 0, second = 0, left;
	char *norm;

	sc->finished++;
	json_array_append_new(sc->order, json_integer(t->branch));
	if (t->answer != NULL && t->ending == AGENT_END_FINAL_ANSWER) {
		norm = agent_answer_normalise(t->answer,
		    (const char *const *)sc->c->st->units, sc->c->st->n_units);
		for (size_t i = 0; i < sc->n_votes; i++) {
			if (strcmp(sc->votes[i].norm, norm) == 0)
				v = &sc->votes[i];
		}
		if (v == NULL) {
			sc->votes = xreallocarray(
			    sc->votes, sc->n_votes + 1, sizeof *sc->votes);
			v = &sc->votes[sc->n_votes];
			memset(v, 0, sizeof *v);
			v->norm = norm;
			v->first = sc->n_votes++;
			v->branches = json_array();
		} else
			free(norm);
		v->count++;
		v->lp_sum += strat_traj_mean_logprob(t);
		json_array_append_new(v->branches, json_integer(t->branch));
		sc->answered++;
	}
	if (!sc->c->st->early_stop)
		return 0;
	for (size_t i = 0; i < sc->n_votes; i++) {
		if (sc->votes[i].count > lead) {
			second = lead;
			lead = sc->votes[i].count;
		} else if (sc->votes[i].count > second)
			second = sc->votes[i].count;
	}
	left = sc->n - sc->finished;
	if (left > 0 && lead > second + left) {
		sc->early_stopped = 1;
		return 1;
	}
	return 0;
}

int
strat_sc_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause)
{
	const struct agent_strategy *st = c->st;
	struct agent_session *base;
	struct strat_traj **t;
	struct agent_span *vote, **spans;
	struct sc sc;
	struct sc_vote *win = NULL;
	struct strat_traj *best = NULL;
	json_t *table, *branches, *row;
	char *why = NULL;
	size_t n = st->n, decoded = 0;
	uint64_t seed0 = c->p->sampling.seed;

	(void)cause;
	memset(&sc, 0, sizeof sc);
	sc.c = c;
	sc.n = n;
	sc.order = json_array();
	if ((base = strat_prompt_session(c, &why)) == NULL) {
		res->report = json_pack("{s:i}", "n", (int)n);
		json_decref(sc.order);
		strat_fail_result(&res->r, "cannot feed the prompt: %s", why);
		free(why);
		return 0;
	}

	/* n forks of the prompt, each a sample with its own seed. */
	t = xcalloc(n, sizeof *t);
	spans = xcalloc(n, sizeof *spans);
	for (size_t i = 0; i < n; i++) {
		struct agent_session *s = agent_session_fork(base, &why);

		spans[i] = agent_span_child(
		    c->span, "self_consistency.sample", AGENT_SPAN_STRATEGY);
		agent_span_attr_int(spans[i], "agentd.branch", (int64_t)i);
		if (s == NULL)
			agent_span_error(spans[i], "%s", why);
		t[i] = strat_traj_new(c, s, (int)i, spans[i]);
		if (s == NULL)
			strat_traj_end(t[i], AGENT_END_ERROR,
			    "cannot fork the prompt: %s", why);
		free(why);
		why = NULL;
		t[i]->temperature = st->temperature;
		t[i]->seed = seed0 * 1000003u + i + 1;
	}
	agent_session_free(base);
	agent_span_attr_int(c->span, "agentd.samples", (int64_t)n);
	agent_span_attr_str(c->span, "agentd.decode",
	    (c->caps & AGENT_CAP_BATCH) != 0 && n > 1 ? "batched"
	                                              : "sequential");

	strat_run_branches(c, t, n, sc_decide, &sc);

	/* The vote. */
	vote =
	    agent_span_child(c->span, "self_consistency.vote", AGENT_SPAN_VOTE);
	for (size_t i = 0; i < sc.n_votes; i++) {
		if (win == NULL || sc_better(&sc.votes[i], win))
			win = &sc.votes[i];
	}
	branches = json_array();
	for (size_t i = 0; i < n; i++) {
		char *norm;

		decoded += t[i]->ran;
		res->r.usage.prompt_computed += t[i]->usage.prompt_computed;
		res->r.usage.prompt_reused += t[i]->usage.prompt_reused;
		res->r.usage.completion += t[i]->usage.completion;
		if (!t[i]->ran) {
			json_array_append_new(branches,
			    json_pack("{s:i, s:s}", "branch", (int)i, "ending",
			        "not_run"));
			continue;
		}
		norm = t[i]->answer != NULL
		    ? agent_answer_normalise(t[i]->answer,
		          (const char *const *)st->units, st->n_units)
		    : NULL;
		row = json_pack("{s:i, s:o, s:s, s:i, s:f}", "branch", (int)i,
		    "answer",
		    t[i]->answer != NULL ? json_string(t[i]->answer)
		                         : json_null(),
		    "ending", agent_ending_name(t[i]->ending), "tokens",
		    (int)t[i]->gen_tokens, "mean_logprob",
		    strat_traj_mean_logprob(t[i]));
		if (t[i]->waits > 0)
			json_object_set_new(
			    row, "waits", json_integer(t[i]->waits));
		json_array_append_new(branches, row);
		/* The winner's representative: its best-scored sample. */
		if (win != NULL && norm != NULL &&
		    t[i]->ending == AGENT_END_FINAL_ANSWER &&
		    strcmp(norm, win->norm) == 0 &&
		    (best == NULL ||
		        strat_traj_mean_logprob(t[i]) >
		            strat_traj_mean_logprob(best)))
			best = t[i];
		free(norm);
	}
	if (sc.n_votes > 1)
		qsort(sc.votes, sc.n_votes, sizeof *sc.votes, sc_vote_cmp);
	win = sc.n_votes > 0 ? &sc.votes[0] : NULL;
	table = json_array();
	for (size_t i = 0; i < sc.n_votes; i++) {
		json_array_append_new(table,
		    json_pack("{s:s, s:i, s:f, s:O}", "answer",
		        sc.votes[i].norm, "count", (int)sc.votes[i].count,
		        "mean_logprob",
		        sc.votes[i].lp_sum / (double)sc.votes[i].count,
		        "branches", sc.votes[i].branches));
	}
	res->report =
	    json_pack("{s:i, s:i, s:i, s:b, s:b, s:o, s:o, s:f, s:o, s:O, s:s}",
	        "n", (int)n, "decoded", (int)decoded, "answered",
	        (int)sc.answered, "early_stop", st->early_stop, "early_stopped",
	        sc.early_stopped, "votes", table, "winner",
	        win != NULL ? json_string(win->norm) : json_null(), "agreement",
	        win != NULL && sc.answered > 0
	            ? (double)win->count / (double)sc.answered
	            : 0.0,
	        "branches", branches, "finish_order", sc.order, "decode",
	        (c->caps & AGENT_CAP_BATCH) != 0 && n > 1 ? "batched"
	                                                  : "sequential");
	agent_span_attr(vote, "agentd.votes", json_incref(table));
	agent_span_attr_int(vote, "agentd.decoded", (int64_t)decoded);
	agent_span_attr_int(vote, "agentd.answered", (int64_t)sc.answered);
	agent_span_attr_str(
	    vote, "agentd.early_stopped", sc.early_stopped ? "true" : "false");
	if (win != NULL) {
		agent_span_attr_str(vote, "agentd.winner", win->norm);
		agent_span_attr_real(vote, "agentd.agreement",
		    (double)win->count / (double)sc.answered);
	} else
		agent_span_error(vote, "no sample gave an answer");
	agent_span_end(vote);

	if (best != NULL)
		strat_take_result(c, best, &res->r);
	else {
		/* Nothing to vote on: the first sample's steps and ending. */
		enum agent_ending e = t[0]->ending;

		strat_take_result(c, t[0], &res->r);
		free(res->r.answer);
		res->r.answer = NULL;
		if (c->p->cancel != NULL && atomic_load(c->p->cancel) != 0)
			e = AGENT_END_CANCELLED;
		else if (e == AGENT_END_FINAL_ANSWER ||
		    e == AGENT_END_CANCELLED)
			e = AGENT_END_ERROR;
		res->r.ending = e;
		free(res->r.error);
		xasprintf(&res->r.error,
		    "no sample gave an answer (sample 0: %s)",
		    t[0]->error != NULL ? t[0]->error : "no answer");
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i]->ending != AGENT_END_FINAL_ANSWER && t[i]->ran)
			agent_span_attr_str(spans[i], "agentd.ending",
			    agent_ending_name(t[i]->ending));
		agent_span_end(spans[i]);
		strat_traj_free(t[i]);
	}
	for (size_t i = 0; i < sc.n_votes; i++) {
		free(sc.votes[i].norm);
		json_decref(sc.votes[i].branches);
	}
	free(sc.votes);
	json_decref(sc.order);
	free(spans);
	free(t);
	return 0;
}
