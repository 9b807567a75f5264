/*
 * strategy.h: the reasoning strategies of agent/ (docs/strategies.md).
 *
 * A strategy wraps the ReAct transcript and spends more test-time
 * compute on it than one greedy trajectory does.  Five exist, each with
 * one entry point and selected by agent.run's "strategy" object
 * (DESIGN.md "Method shapes"):
 *
 *  cot               one trajectory, zero- or few-shot, with the answer
 *                    read by a pattern (default "Final Answer:").
 *  self_consistency  the prompt is fed once, the session forked n ways,
 *                    the n trajectories decoded together where the
 *                    backend batches (AGENT_CAP_BATCH: one thread per
 *                    branch, so the scheduler shares forward passes),
 *                    answers normalised and voted on; ties go to the
 *                    higher mean log-probability; early stop once the
 *                    samples left cannot change the winner.
 *  tot               tree of thoughts over ReAct steps: breadth proposals
 *                    per state, each scored (the LLM value prompt or a
 *                    named scorer), the beam best kept per depth (bfs),
 *                    or depth first with backtracking (dfs); states are
 *                    forked sessions, never re-read prompts.
 *  budget            "Wait" budget forcing: before min_thinking_tokens
 *                    the end-of-thinking marker is suppressed (the text
 *                    is cut where the marker began and "Thought: Wait,"
 *                    appended); past max_thinking_tokens the marker is
 *                    forced and the answer read.
 *  best_of_n         n candidates, judged by an LLM rubric prompt (shown
 *                    in a random order, scores corrected for length) or
 *                    by a named scorer, with the judge's rationale.
 *
 * Every strategy uses only agent/backend.h, the tool set and the
 * transcript functions of agent.h.  Its report goes in the result's
 * "strategy" member; its spans (kinds strategy, vote, judge, and the
 * llm, tool and parse spans of its trajectories) hang under the parent
 * the caller gives.  Budget forcing also composes with the others: any
 * strategy object may carry a "budget" member with the budget shape.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause
 * that names what and where; the caller frees it.
 */
#ifndef AGENTD_AGENT_STRATEGY_H
#define AGENTD_AGENT_STRATEGY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "agent/trace.h"
#include "daemon/util.h"

struct plug_set;

/* Limits on the strategy object's numbers. */
#define AGENT_STRAT_MAX_N       64   /* samples, candidates */
#define AGENT_STRAT_MAX_BREADTH 16   /* tot proposals per state */
#define AGENT_STRAT_MAX_DEPTH   32   /* tot depth */
#define AGENT_STRAT_MAX_NODES   1024 /* tot nodes in all */
#define AGENT_STRAT_MAX_BUDGET  1000000
#define AGENT_STRAT_MAX_TEXT    1024 /* pattern, wait_text, marker, ... */
#define AGENT_STRAT_MAX_ITEMS   32   /* examples, units */

/* Defaults (DESIGN.md "Method shapes"). */
#define AGENT_STRAT_DEFAULT_N           8
#define AGENT_STRAT_DEFAULT_BON_N       4
#define AGENT_STRAT_DEFAULT_TEMPERATURE 0.8
#define AGENT_STRAT_DEFAULT_BREADTH     3
#define AGENT_STRAT_DEFAULT_BEAM        2
#define AGENT_STRAT_DEFAULT_DEPTH       3
#define AGENT_STRAT_DEFAULT_NODES       64
#define AGENT_STRAT_DEFAULT_MIN_THINK   256
#define AGENT_STRAT_DEFAULT_MAX_THINK   2048
#define AGENT_STRAT_DEFAULT_WAIT        "Wait,"
#define AGENT_STRAT_DEFAULT_PENALTY     1.0

/* The value prompt tot appends to a state to have the model judge it. */
#define AGENT_STRAT_VALUE_PROMPT                                           \
	"Evaluate: can these steps reach the correct final answer? Reply " \
	"sure, likely or impossible.\nEvaluation:"

enum agent_strat_kind {
	AGENT_STRAT_COT = 0,
	AGENT_STRAT_SC,
	AGENT_STRAT_TOT,
	AGENT_STRAT_BUDGET,
	AGENT_STRAT_BON,
};

/* Budget forcing's settings (the budget strategy, or any "budget"). */
struct agent_budget {
	int on;
	uint32_t min_thinking; /* tokens before the marker is allowed */
	uint32_t max_thinking; /* tokens after which it is forced */
	char *marker;          /* "Final Answer:" (default) or "</think>" */
	char *wait_text;       /* "Wait," */
};

/*
 * A parsed strategy object.  Members that do not apply to kind keep
 * their defaults.
 */
struct agent_strategy {
	enum agent_strat_kind kind;
	/* cot (and the answer pattern of every strategy) */
	char *pattern;   /* "Final Answer:" */
	char **examples; /* few-shot worked examples, put before the prompt */
	size_t n_examples;
	/* self_consistency, best_of_n */
	uint32_t n;
	double temperature; /* sampling temperature of the branches */
	int early_stop;     /* self_consistency */
	char **units;       /* suffixes dropped when answers are normalised */
	size_t n_units;
	/* tot */
	uint32_t breadth, beam, depth, max_nodes;
	int dfs;          /* "search": "dfs" */
	double threshold; /* dfs: states scored below it are not expanded */
	char *scorer;     /* "llm" or a scorer name */
	/* best_of_n */
	char *judge; /* "llm" or a scorer name */
	char *rubric;
	double length_penalty;
	struct agent_budget budget;
};

/*
 * Scorers that live outside agent/ (Lua, C plugins) reach the strategies
 * through this callback, which the runtime fills in.  candidate is
 * {"input", "steps", "answer" (string or null)}; the callback sets
 * *score (higher is better, normally 0..1) and may set *reason (a new
 * string).  It returns 0, 1 when it knows no scorer of that name, or -1
 * with *cause.
 */
struct agent_scorer_hook {
	int (*score)(void *arg, const char *name, const json_t *candidate,
	    double *score, char **reason, char **cause);
	void *arg;
};

/*
 * Parses agent.run's "strategy" (an object with "name").  Fills *st
 * (clear it with agent_strategy_clear()) and returns 0, or returns -1
 * with *cause naming the member ("strategy.n must be ...").
 */
int agent_strategy_parse(
    const json_t *v, struct agent_strategy *st, char **cause);
/* Frees what a parsed strategy holds; NULL is accepted. */
void agent_strategy_clear(struct agent_strategy *st);
/* Returns "cot", "self_consistency", "tot", "budget" or "best_of_n". */
const char *agent_strategy_name(enum agent_strat_kind kind);

/* What a strategy produced: the loop's result plus its own report. */
struct agent_strategy_result {
	struct agent_react_result r; /* answer, ending, steps, usage */
	json_t *report;              /* the "strategy" member (owned) */
};

/*
 * Runs strategy st with the loop's params p (input, template, tools,
 * limits, sampling, cancel flag) on backend b and the tools of set,
 * recording spans under parent (may be NULL) and events into sink (may
 * be NULL; with several branches, events carry "branch").  scorers (may
 * be NULL) resolves scorer names that are not built in.  Returns 0 with
 * *res filled (clear it with agent_strategy_result_clear()), or -1 with
 * *cause when the inputs are wrong (no template, an unknown scorer, a
 * tool not in set); a failure of the model ends the run with error
 * instead.
 */
int agent_strategy_run(struct agent_backend *b, struct plug_set *set,
    const struct agent_react_params *p, const struct agent_strategy *st,
    const struct agent_scorer_hook *scorers, const struct agent_sink *sink,
    struct agent_span *parent, struct agent_strategy_result *res, char **cause);
/* Frees a result and zeroes it; NULL is accepted. */
void agent_strategy_result_clear(struct agent_strategy_result *res);
/* agent.run's result: the loop's members plus "strategy" (new). */
json_t *agent_strategy_result_json(const struct agent_strategy_result *res);

/*
 * Normalises an answer for voting: white space trimmed and collapsed,
 * lower case, one trailing '.' dropped, the first of units found as a
 * suffix dropped, and a number (with ',' thousands separators, a
 * leading '+' or '$') rewritten in one canonical form ("1,000.50" and
 * "1000.5" are both "1000.5").  Returns a new string.
 */
char *agent_answer_normalise(
    const char *answer, const char *const *units, size_t n_units);
/*
 * Reads the answer from text by pattern: the rest of the last line that
 * starts with pattern (after leading white space), trimmed.  Returns a
 * new string, or NULL when no line does.
 */
char *agent_answer_extract(const char *text, const char *pattern);

/* ---- scorers (scorer-*.c) --------------------------------------------- */

/*
 * calc_check: re-runs every calc action of candidate's steps through the
 * calc tool of set and checks that each observation is what calc says,
 * and that the final answer (when there is one) equals the result of
 * the last calc action.  *score: 1 all checks pass, 0.75 the answer is
 * an earlier calc result, 0.5 nothing to check (no calc action), 0.25 a
 * state whose last calc failed, 0 an observation that does not
 * reproduce or an answer that does not follow.  *reason says which (new
 * string).  Returns 0, or -1 with *cause when set has no calc tool.
 */
int agent_scorer_calc_check(struct plug_set *set, const json_t *candidate,
    double *score, char **reason, char **cause);
/*
 * Scores candidate with the scorer called name: a built-in one
 * (calc_check), else hook's.  Returns 0, or -1 with *cause ("unknown
 * scorer 'x'").
 */
int agent_scorer_run(const char *name, struct plug_set *set,
    const struct agent_scorer_hook *hook, const json_t *candidate,
    double *score, char **reason, char **cause);
/* Returns 1 when name is a built-in scorer. */
int agent_scorer_builtin(const char *name);
/*
 * A struct agent_scorer_hook score function over tools (arg: the
 * struct plug_set): a scorer name that names a tool of the set calls it
 * with the candidate as its arguments ("answer" left out when null) and
 * reads the score, a number, from the start of its output and the
 * reason from the rest.  Returns 1 when no tool has that name.
 */
int agent_scorer_tool(void *arg, const char *name, const json_t *candidate,
    double *score, char **reason, char **cause);

/* ---- shared by the strategy files (strategy.c) -------------------------- */

/* What every strategy of one run shares. */
struct strat_ctx {
	struct agent_backend *b;
	struct plug_set *set;
	const struct agent_react_params *p;
	const struct agent_strategy *st;
	const struct agent_scorer_hook *scorers;
	const struct agent_sink *sink;
	struct agent_span *span; /* the strategy span */
	char *prefix;            /* the prompt as fed (examples, chat) */
	char *tool_names;        /* "a, b, c": the run's tools */
	uint32_t max_tokens, max_steps;
	int caps;
	pthread_mutex_t mu;       /* sink calls and usage from branch threads */
	pthread_cond_t cv;        /* a branch thread finished */
	atomic_int stop;          /* early stop: running branches end */
	struct agent_usage usage; /* prompts, judges and values (under mu) */
};

/*
 * One trajectory: a session that holds the prompt and the steps so far,
 * and what the steps produced.  Branches of self_consistency and
 * best_of_n, states of tot and the single trajectory of cot and budget
 * are all trajectories.
 */
struct strat_traj {
	struct strat_ctx *c;
	struct agent_session *sess;
	int branch;
	struct agent_span *span; /* where its step spans hang */
	double temperature;
	uint64_t seed;
	json_t *steps;        /* the result's steps */
	json_t *done_actions; /* [[name, args], ...] that ran */
	struct buf text;      /* what followed the prompt */
	char *answer;         /* the final answer, once there is one */
	int ended;
	enum agent_ending ending;
	char *error;
	uint32_t n_steps;
	uint32_t repeats;
	double logprob_sum;
	uint32_t gen_tokens;
	uint32_t thinking; /* tokens before the end-of-thinking marker */
	uint32_t waits;
	int forced;    /* the budget's maximum forced the marker */
	int cut;       /* the last plan ended at max_tokens */
	int ran, done; /* strat_run_branches(): started, finished */
	struct agent_usage usage;
	atomic_int cancel;
};

/*
 * Fills c and renders the prompt (examples, template, chat turn).
 * Returns 0, or -1 with *cause (a tool not in set).
 */
int strat_ctx_init(struct strat_ctx *c, struct agent_backend *b,
    struct plug_set *set, const struct agent_react_params *p,
    const struct agent_strategy *st, const struct agent_scorer_hook *scorers,
    const struct agent_sink *sink, struct agent_span *span, char **cause);
void strat_ctx_fini(struct strat_ctx *c);
/* Sends an event with "branch" set (any thread). */
void strat_emit(
    struct strat_ctx *c, int branch, const char *type, json_t *fields);
/* Adds u to the shared usage (any thread). */
void strat_usage_add(struct strat_ctx *c, const struct agent_usage *u);

/*
 * A new session holding the prompt, fed once; the tokens it computed go
 * to the shared usage and to the strategy span.  NULL with *cause when
 * the backend fails.
 */
struct agent_session *strat_prompt_session(struct strat_ctx *c, char **cause);
/* A new trajectory over sess (taken), as branch. */
struct strat_traj *strat_traj_new(struct strat_ctx *c,
    struct agent_session *sess, int branch, struct agent_span *span);
/* A copy of t on a fork of its session (the prompt is not re-read). */
struct strat_traj *strat_traj_fork(
    const struct strat_traj *t, int branch, char **cause);
void strat_traj_free(struct strat_traj *t);
/* One observe-plan-act step; returns 1 once the trajectory ended. */
int strat_traj_step(struct strat_traj *t);
/* Steps until the trajectory ends. */
void strat_traj_run(struct strat_traj *t);
/* Ends t (the first ending wins) with a sentence saying why. */
void strat_traj_end(struct strat_traj *t, enum agent_ending ending,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* {"input", "steps", "answer"} for scorers (new). */
json_t *strat_candidate(const struct strat_traj *t);
/* The mean log-probability of t's tokens (0 when none). */
double strat_traj_mean_logprob(const struct strat_traj *t);

/*
 * Runs the n trajectories to their ends: on threads of their own when
 * the backend batches (so the scheduler decodes them together), else one
 * after another.  After each one ends, decide(arg, t) runs (on the
 * calling thread, in the order they end); when it returns 1 the others
 * stop (those not started never start, running ones end cancelled).
 */
void strat_run_branches(struct strat_ctx *c, struct strat_traj **t, size_t n,
    int (*decide)(void *, struct strat_traj *), void *arg);

/*
 * Scores t with name ("llm": the value prompt on a fork of t's session;
 * else agent_scorer_run()), under a judge span child of parent.  Returns
 * 0, or -1 with *cause.
 */
int strat_score(struct strat_ctx *c, struct strat_traj *t, const char *name,
    struct agent_span *parent, double *score, char **reason, char **cause);

/*
 * Moves t's answer, steps, ending and error into res and adds t's usage
 * (and the shared usage) to res's.
 */
void strat_take_result(
    struct strat_ctx *c, struct strat_traj *t, struct agent_react_result *res);

/* A result that ended with error before any trajectory ran. */
void strat_fail_result(struct agent_react_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The entry points, one per strategy file. */
int strat_cot_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause);
int strat_sc_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause);
int strat_tot_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause);
int strat_budget_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause);
int strat_bon_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause);

#endif /* AGENTD_AGENT_STRATEGY_H */
