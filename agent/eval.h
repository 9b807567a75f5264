/*
 * eval.h: evaluation of agents on a dataset (eval.run), computed from
 * the answers and the spans of each item's trace (DESIGN.md "Traces").
 *
 * A dataset is a list of items {"id", "input", "expected"}.  Each item
 * runs once; its answer is scored against expected by a scorer:
 *
 *   {"type": "exact"}                 the answer, trimmed, equals expected
 *                                     (a string; "case_sensitive": false
 *                                     folds ASCII case);
 *   {"type": "numeric", "tolerance"}  the last number in the answer is
 *                                     within tolerance (absolute, default
 *                                     1e-6) of expected (a number or a
 *                                     numeric string);
 *   {"type": "regex"}                 expected is a PCRE2 pattern that
 *                                     must match somewhere in the answer;
 *   {"type": "contains"}              expected occurs in the answer
 *                                     ("case_sensitive" as for exact);
 *   {"type": "tool", "name"}          a tool of the registry (a Lua tool
 *                                     is the Lua scorer) is called with
 *                                     {"input", "answer", "expected"} and
 *                                     its text is the verdict, as
 *                                     agent_eval_verdict() reads it; the
 *                                     daemon makes the call;
 *   {"type": "judge", "agent",        the LLM judge: the daemon runs the
 *    "rubric"}                        agent (default "react") with no
 *                                     tools on the prompt that
 *                                     agent_eval_judge_prompt() writes;
 *                                     its final answer is the verdict.
 *
 * The report has two levels.  Per call chain: the success rate with a
 * 95% Wilson score interval, steps, tokens and wall time (mean, p50,
 * p95), and each item.  Per component, from the spans: each tool (calls,
 * errors, error rate, latency p50/p95), model calls (calls, tokens, time
 * to first token p50/p95, tokens/s, prompt cache reuse), the parser
 * (parses, failures, failure rate) and each strategy span name (count,
 * and the mean of every numeric attribute, such as votes agreement,
 * waits or nodes explored).  Percentiles interpolate linearly between
 * the closest ranks.
 *
 * Errors follow the house rule: -1 or NULL plus an allocated *cause.
 */
#ifndef AGENTD_AGENT_EVAL_H
#define AGENTD_AGENT_EVAL_H

#include <stddef.h>

#include <jansson.h>

/* The most items one evaluation takes. */
#define AGENT_EVAL_MAX_ITEMS 10000
/* z for a 95% interval. */
#define AGENT_EVAL_Z95 1.959963984540054

/*
 * Checks a scorer object (see above) and that every item's expected
 * value suits it (items: borrowed, may be NULL).  Returns 0, or -1 with
 * *cause naming the member or the item.
 */
int agent_eval_scorer_check(
    const json_t *scorer, const json_t *items, char **cause);
/*
 * Scores answer (NULL: the run gave none, which fails) against expected
 * with a scorer that passed agent_eval_scorer_check().  Sets *pass to 1
 * or 0 and returns 0, or returns -1 with *cause (a pattern that does not
 * compile, say).
 */
int agent_eval_score(const json_t *scorer, const char *answer,
    const json_t *expected, int *pass, char **cause);

/*
 * The LLM judge's prompt for one item: the task, the reference answer,
 * the candidate answer and the rubric (scorer's "rubric", or a default
 * asking whether the candidate means the same as the reference), asking
 * for "Final Answer: pass" or "Final Answer: fail".  Returns a new
 * string.
 */
char *agent_eval_judge_prompt(const json_t *scorer, const char *input,
    const char *answer, const json_t *expected);

/*
 * Reads a scorer tool's text as a verdict: "pass", "true", "yes" or "1"
 * (any case, trimmed) pass; "fail", "false", "no" or "0" fail; a number
 * passes at 0.5 or more; a JSON object passes by its boolean "pass".
 * Returns 0, or -1 with *cause for anything else.
 */
int agent_eval_verdict(const char *text, int *pass, char **cause);

/*
 * The Wilson score interval of k successes in n trials at z (use
 * AGENT_EVAL_Z95): *lo and *hi in [0, 1].  n == 0 gives [0, 1].
 */
void agent_eval_wilson(size_t k, size_t n, double z, double *lo, double *hi);
/*
 * The p-th percentile (0 <= p <= 1) of n values, linear between the
 * closest ranks; sorts v in place.  0 when n == 0.
 */
double agent_eval_percentile(double *v, size_t n, double p);

/*
 * Builds the report from results (borrowed), one per item in dataset
 * order: {"id", "pass" (bool), "answer" (string or null), "expected",
 * "error" (optional string), "trace_id" (optional), "wall_ms" (number),
 * "spans" (the item's flat spans as agent_trace_read() returns them; may
 * be missing)}.  Returns a new object {"chain": {...}, "items": [...],
 * "components": {...}} (eval.h's comment lists the fields; docs/
 * evaluation.md too).
 */
json_t *agent_eval_report(const json_t *results);
/* The report as Markdown (a new string, caller frees). */
char *agent_eval_markdown(const json_t *report);

#endif /* AGENTD_AGENT_EVAL_H */
