/*
 * strategy-tot.c: tree of thoughts (Yao et al.) over ReAct steps.
 *
 * A state is a trajectory: a session holding the prompt and the steps so
 * far.  Expanding a state forks its session breadth times (the prompt
 * and the steps are never fed again) and lets each fork write one step,
 * sampled at strategy.temperature with a seed of its own; an action's
 * tool runs and its observation is appended as in the ReAct loop.  Each
 * new state is scored: "llm" appends the value prompt
 * (AGENT_STRAT_VALUE_PROMPT) to a fork of the state and maps the reply
 * sure / likely / impossible to 1 / 0.5 / 0; any other name is a scorer
 * (calc_check, or one the runtime provides, such as a Lua scorer).
 *
 *  bfs  (the default) keeps the beam best states of each depth, up to
 *       depth levels; a state that gave a final answer is a leaf.  The
 *       search ends early once the best leaf scores at least as well as
 *       every state left in the beam.
 *  dfs  expands the best-scored child first and goes deeper while
 *       states score at least strategy.threshold, backtracking to the
 *       next sibling otherwise; the first final answer that scores at
 *       least the threshold is taken.
 *
 * Both stop making states at max_nodes.  The answer is the best-scored
 * leaf's (ties: the one made first).  The report holds the explored tree:
 * every node with its parent, depth, step, score and status (expanded,
 * kept, pruned, final, dead).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"

struct tot_node {
	struct strat_traj *t;
	int id;
	double score;
};

struct tot {
	struct strat_ctx *c;
	json_t *tree;         /* node records, by id */
	int n_nodes;          /* ids given, the root's (0) included */
	int limit_hit;        /* max_nodes stopped the search */
	struct tot_node best; /* the best leaf so far (t NULL: none) */
	uint64_t seed0;
	int error; /* a scorer failed: *cause set */
	char *cause;
};

static int tot_expand(
    struct tot *, struct strat_traj *, int, struct tot_node **, size_t *);
static void tot_status(struct tot *, int, const char *);
static void tot_drop(struct tot *, struct strat_traj *);
static void tot_leaf(struct tot *, struct tot_node *);
static int tot_node_cmp(const void *, const void *);
static int tot_dfs(struct tot *, struct strat_traj *, int, uint32_t);

static int
tot_node_cmp(const void *x, const void *y)
{
	const struct tot_node *a = x, *b = y;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void
tot_status(struct tot *tt, int id, const char *status)
{
	json_object_set_new(json_array_get(tt->tree, (size_t)id), "status",
	    json_string(status));
}

/* A state is done with: its usage counts, its session goes. */
static void
tot_drop(struct tot *tt, struct strat_traj *t)
{
	if (t == NULL)
		return;
	strat_usage_add(tt->c, &t->usage);
	strat_traj_free(t);
}

/* A leaf with a final answer: kept when it beats the best so far. */
static void
tot_leaf(struct tot *tt, struct tot_node *n)
{
	tot_status(tt, n->id, "final");
	if (tt->best.t == NULL || n->score > tt->best.score) {
		tot_drop(tt, tt->best.t);
		tt->best = *n;
	} else
		tot_drop(tt, n->t);
	n->t = NULL;
}

/*
 * Makes up to breadth children of state (node id parent), each one step
 * further, scored; *out gets them sorted best first.  Returns 0, or -1
 * when a scorer failed (tt->cause).
 */
static int
tot_expand(struct tot *tt, struct strat_traj *state, int parent,
    struct tot_node **out, size_t *n_out)
{
	struct strat_ctx *c = tt->c;
	const struct agent_strategy *st = c->st;
	struct tot_node *kids;
	struct agent_span *span;
	struct strat_traj *t;
	const json_t *last;
	json_t *rec;
	char *why = NULL, *reason = NULL;
	double score;
	size_t n = 0;

	kids = xcalloc(st->breadth, sizeof *kids);
	tot_status(tt, parent, "expanded");
	for (uint32_t j = 0; j < st->breadth; j++) {
		if ((uint32_t)tt->n_nodes >= st->max_nodes) {
			tt->limit_hit = 1;
			break;
		}
		span = agent_span_child(c->span, "tot.node", AGENT_SPAN_STEP);
		agent_span_attr_int(span, "agentd.node", tt->n_nodes);
		agent_span_attr_int(span, "agentd.parent", parent);
		agent_span_attr_int(span, "agentd.depth", state->n_steps + 1);
		rec = json_pack("{s:i, s:i, s:i}", "id", tt->n_nodes, "parent",
		    parent, "depth", (int)state->n_steps + 1);
		json_array_append_new(tt->tree, rec);
		t = strat_traj_fork(state, tt->n_nodes, &why);
		if (t == NULL) {
			json_object_set_new(rec, "status", json_string("dead"));
			json_object_set_new(rec, "error", json_string(why));
			agent_span_error(span, "%s", why);
			agent_span_end(span);
			free(why);
			why = NULL;
			tt->n_nodes++;
			continue;
		}
		t->span = span;
		t->temperature = st->temperature;
		t->seed = tt->seed0 * 1000003u + (uint64_t)tt->n_nodes;
		strat_traj_step(t);

		last = json_array_get(t->steps, json_array_size(t->steps) - 1);
		if (last != NULL &&
		    json_array_size(t->steps) > json_array_size(state->steps)) {
			const char *k;
			json_t *v;

			json_object_foreach((json_t *)(uintptr_t)last, k, v)
			    json_object_set(rec, k, v);
		}
		if (t->ended && t->ending != AGENT_END_FINAL_ANSWER) {
			json_object_set_new(rec, "status", json_string("dead"));
			json_object_set_new(rec, "error",
			    json_string(t->error != NULL ? t->error : ""));
			agent_span_end(span);
			tot_drop(tt, t);
			tt->n_nodes++;
			continue;
		}
		if (strat_score(c, t, st->scorer, span, &score, &reason,
		        &tt->cause) != 0) {
			json_object_set_new(rec, "status", json_string("dead"));
			agent_span_end(span);
			tot_drop(tt, t);
			tt->n_nodes++;
			tt->error = 1;
			break;
		}
		json_object_set_new(rec, "score", json_real(score));
		if (reason != NULL)
			json_object_set_new(rec, "reason", json_string(reason));
		free(reason);
		reason = NULL;
		agent_span_attr_real(span, "agentd.score", score);
		agent_span_end(span);
		t->span = c->span;
		kids[n].t = t;
		kids[n].id = tt->n_nodes++;
		kids[n].score = score;
		n++;
	}
	if (n > 1)
		qsort(kids, n, sizeof *kids, tot_node_cmp);
	*out = kids;
	*n_out = n;
	return tt->error ? -1 : 0;
}

/* Depth first from state; returns 1 once an answer is taken. */
static int
tot_dfs(struct tot *tt, struct strat_traj *state, int id, uint32_t depth)
{
	const struct agent_strategy *st = tt->c->st;
	struct tot_node *kids;
	size_t n, i;
	int found = 0;

	if (tot_expand(tt, state, id, &kids, &n) != 0) {
		for (i = 0; i < n; i++)
			tot_drop(tt, kids[i].t);
		free(kids);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct tot_node *k = &kids[i];

		if (found != 0 || k->score < st->threshold) {
			tot_status(tt, k->id, "pruned");
			if (k->t->answer != NULL && found == 0)
				tot_status(tt, k->id, "final_rejected");
			tot_drop(tt, k->t);
			continue;
		}
		if (k->t->answer != NULL) {
			tot_leaf(tt, k);
			found = 1;
			continue;
		}
		if (depth + 1 >= st->depth ||
		    (uint32_t)tt->n_nodes >= st->max_nodes) {
			tot_status(tt, k->id, "pruned");
			tot_drop(tt, k->t);
			continue;
		}
		tot_status(tt, k->id, "kept");
		found = tot_dfs(tt, k->t, k->id, depth + 1);
		tot_drop(tt, k->t);
	}
	free(kids);
	return found;
}

int
strat_tot_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause)
{
	const struct agent_strategy *st = c->st;
	struct agent_session *base;
	struct strat_traj *root, **frontier = NULL;
	struct tot_node *all = NULL, *kids;
	struct tot tt;
	size_t n_front = 0, n_all, n, i;
	uint32_t d, explored_depth = 0;
	char *why = NULL;
	int rc = 0;

	memset(&tt, 0, sizeof tt);
	tt.c = c;
	tt.tree = json_array();
	tt.seed0 = c->p->sampling.seed;
	if ((base = strat_prompt_session(c, &why)) == NULL) {
		strat_fail_result(&res->r, "cannot feed the prompt: %s", why);
		free(why);
		res->report = json_pack("{s:o}", "tree", tt.tree);
		return 0;
	}
	root = strat_traj_new(c, base, 0, c->span);
	json_array_append_new(tt.tree,
	    json_pack("{s:i, s:n, s:i, s:s}", "id", 0, "parent", "depth", 0,
	        "status", "root"));
	tt.n_nodes = 1;

	if (st->dfs) {
		rc = tot_dfs(&tt, root, 0, 0);
		tot_drop(&tt, root);
	} else {
		frontier = xcalloc(1, sizeof *frontier);
		frontier[n_front++] = root;
		for (d = 0; d < st->depth && n_front > 0; d++) {
			explored_depth = d + 1;
			all = NULL;
			n_all = 0;
			for (i = 0; i < n_front; i++) {
				if (rc == 0 &&
				    tot_expand(&tt, frontier[i],
				        frontier[i]->branch, &kids, &n) != 0)
					rc = -1;
				else if (rc != 0) {
					tot_drop(&tt, frontier[i]);
					continue;
				}
				all = xreallocarray(
				    all, n_all + n + 1, sizeof *all);
				memcpy(all + n_all, kids, n * sizeof *kids);
				n_all += n;
				free(kids);
				tot_drop(&tt, frontier[i]);
			}
			n_front = 0;
			if (n_all > 1)
				qsort(all, n_all, sizeof *all, tot_node_cmp);
			frontier = xreallocarray(
			    frontier, st->beam + 1, sizeof *frontier);
			for (i = 0; i < n_all; i++) {
				struct tot_node *k = &all[i];

				if (k->t->answer != NULL) {
					tot_leaf(&tt, k);
				} else if (rc == 0 && n_front < st->beam &&
				    d + 1 < st->depth) {
					tot_status(&tt, k->id, "kept");
					frontier[n_front++] = k->t;
					k->t->branch = k->id;
				} else {
					tot_status(&tt, k->id, "pruned");
					tot_drop(&tt, k->t);
					k->t = NULL;
				}
			}
			/* Nothing in the beam can beat the best leaf. */
			if (tt.best.t != NULL) {
				double top = -1e300;

				for (i = 0; i < n_all; i++) {
					/* Only the kept states are left. */
					if (all[i].t != NULL &&
					    all[i].score > top)
						top = all[i].score;
				}
				if (n_front == 0 || tt.best.score >= top) {
					free(all);
					all = NULL;
					break;
				}
			}
			free(all);
			all = NULL;
			if (rc != 0 || (uint32_t)tt.n_nodes >= st->max_nodes)
				break;
		}
		for (i = 0; i < n_front; i++) {
			tot_status(&tt, frontier[i]->branch, "pruned");
			tot_drop(&tt, frontier[i]);
		}
		free(frontier);
	}

	res->report = json_pack("{s:s, s:i, s:i, s:i, s:i, s:s, s:i, s:b}",
	    "search", st->dfs ? "dfs" : "bfs", "breadth", (int)st->breadth,
	    "beam", (int)st->beam, "depth", (int)st->depth, "max_nodes",
	    (int)st->max_nodes, "scorer", st->scorer, "nodes", tt.n_nodes - 1,
	    "node_limit_hit", tt.limit_hit);
	if (!st->dfs)
		json_object_set_new(res->report, "explored_depth",
		    json_integer(explored_depth));
	agent_span_attr_int(c->span, "agentd.tot.nodes", tt.n_nodes - 1);
	if (rc < 0 || tt.error) {
		*cause = tt.cause;
		tt.cause = NULL;
		if (*cause == NULL)
			xasprintf(cause, "the scorer failed");
		tot_drop(&tt, tt.best.t);
		json_decref(tt.tree);
		return -1;
	}
	json_object_set_new(res->report, "tree", tt.tree);
	if (tt.best.t != NULL) {
		json_object_set_new(
		    res->report, "best_node", json_integer(tt.best.id));
		json_object_set_new(
		    res->report, "best_score", json_real(tt.best.score));
		strat_take_result(c, tt.best.t, &res->r);
		tot_drop(&tt, tt.best.t);
	} else if (c->p->cancel != NULL && atomic_load(c->p->cancel) != 0) {
		res->r.ending = AGENT_END_CANCELLED;
		xasprintf(&res->r.error, "the run was cancelled");
	} else if (c->p->deadline_ns != 0 &&
	    clock_mono_ns() >= c->p->deadline_ns) {
		res->r.ending = AGENT_END_TIMEOUT;
		xasprintf(&res->r.error, "the run timed out");
	} else {
		res->r.ending = AGENT_END_MAX_STEPS;
		xasprintf(&res->r.error,
		    "no final answer in the tree (%d nodes, depth %u)",
		    tt.n_nodes - 1, st->depth);
	}
	free(tt.cause);
	return 0;
}
