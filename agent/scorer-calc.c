/*
 * scorer-calc.c: the built-in scorers, and the lookup of scorers by name
 * for tot and best_of_n.
 *
 * calc_check is a verifier for the bundled model, which is not trained to
 * judge: it takes a trajectory ({"input", "steps", "answer"}), runs every
 * calc action of its steps again through the calc tool of the tool set
 * (the registry's, so the check uses exactly the evaluator the run
 * used), and compares each result with the observation the trajectory
 * recorded; then it checks that the final answer, when there is one, is
 * the number the last calc action produced.  A trajectory whose
 * observations do not reproduce (a model that wrote its own
 * "Observation:" or a tool result that was misread) scores 0.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/strategy.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

/* The time one calc call may take while checking. */
#define CALC_CHECK_TIMEOUT_MS 5000

static int same_number(const char *, const char *);
static int last_number(const char *, double *);

/* The last number written in s (digits with an optional sign and '.'). */
static int
last_number(const char *s, double *out)
{
	const char *p, *start = NULL, *end = NULL;
	char *copy, *q, *endp;
	int found = 0;

	for (p = s; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p)) {
			start = p;
			while (start > s &&
			    (isdigit((unsigned char)start[-1]) ||
			        start[-1] == '.' || start[-1] == ','))
				start--;
			if (start > s && start[-1] == '-')
				start--;
			end = p;
			while (isdigit((unsigned char)*end) || *end == '.' ||
			    (*end == ',' && isdigit((unsigned char)end[1])))
				end++;
			p = end - 1;
			copy = xstrndup(start, (size_t)(end - start));
			for (q = copy; *q != '\0'; q++) {
				if (*q == ',')
					memmove(q, q + 1, strlen(q));
			}
			*out = strtod(copy, &endp);
			found = endp != copy;
			free(copy);
		}
	}
	return found;
}

/* 1 when answer states the number result (calc's output text). */
static int
same_number(const char *answer, const char *result)
{
	char *na, *nr;
	double a, r;
	int same;

	na = agent_answer_normalise(answer, NULL, 0);
	nr = agent_answer_normalise(result, NULL, 0);
	same = strcmp(na, nr) == 0;
	free(na);
	free(nr);
	if (same)
		return 1;
	if (!last_number(answer, &a) || !last_number(result, &r))
		return 0;
	/* calc rounds to 6 decimals: a tolerance below that. */
	return fabs(a - r) <= 5e-7 * (fabs(r) > 1 ? fabs(r) : 1);
}

int
agent_scorer_calc_check(struct plug_set *set, const json_t *candidate,
    double *score, char **reason, char **cause)
{
	const json_t *steps = json_object_get(candidate, "steps"), *step;
	const char *answer =
	    json_string_value(json_object_get(candidate, "answer"));
	const char *action, *obs;
	static const char *const calc_only[] = { "calc" };
	json_t *results = json_array();
	char *text, *expect, *line, *last = NULL;
	size_t i, n_calc = 0;
	int is_error, last_error = 0;

	*reason = NULL;
	if (plug_set_find(set, "calc") == NULL) {
		json_decref(results);
		xasprintf(cause,
		    "scorer calc_check needs the calc tool, which is not "
		    "loaded");
		return -1;
	}
	json_array_foreach(steps, i, step)
	{
		action = json_string_value(json_object_get(step, "action"));
		obs = json_string_value(json_object_get(step, "observation"));
		if (action == NULL || strcmp(action, "calc") != 0 ||
		    obs == NULL)
			continue;
		n_calc++;
		if (!json_is_object(json_object_get(step, "action_input"))) {
			expect = xstrdup(AGENT_OBS_NOT_OBJECT);
			is_error = 1;
			text = NULL;
		} else {
			agent_tool_invoke(set, calc_only, 1, "calc",
			    json_object_get(step, "action_input"),
			    CALC_CHECK_TIMEOUT_MS, 0, NULL, NULL, &text,
			    &is_error);
			if (is_error)
				xasprintf(&expect, "Error: %s", text);
			else
				expect = xstrdup(text);
		}
		line = agent_obs_line(expect, strlen(expect));
		free(expect);
		if (strcmp(line, obs) != 0 &&
		    strncmp(obs, "Error: repeated", 15) != 0) {
			*score = 0;
			xasprintf(reason,
			    "step %zu: calc gives '%s' but the observation "
			    "says '%s'",
			    i + 1, line, obs);
			free(line);
			free(text);
			free(last);
			json_decref(results);
			return 0;
		}
		free(line);
		last_error = is_error;
		if (!is_error) {
			json_array_append_new(results, json_string(text));
			free(last);
			last = text;
		} else
			free(text);
	}

	if (n_calc == 0) {
		*score = 0.5;
		*reason = xstrdup("no calc action to check");
	} else if (answer == NULL) {
		*score = last_error ? 0.25 : 0.75;
		xasprintf(reason, "%zu calc observations reproduce%s", n_calc,
		    last_error ? "; the last one failed" : "");
	} else if (last != NULL && !last_error && same_number(answer, last)) {
		*score = 1.0;
		xasprintf(reason,
		    "%zu calc observations reproduce and the answer is the "
		    "last result (%s)",
		    n_calc, last);
	} else {
		const json_t *r;
		int earlier = 0;

		json_array_foreach(results, i, r)
		{
			if (same_number(answer, json_string_value(r)))
				earlier = 1;
		}
		*score = earlier ? 0.75 : 0.0;
		if (earlier)
			xasprintf(reason,
			    "the answer '%s' is an earlier calc result, not "
			    "the last one",
			    answer);
		else
			xasprintf(reason,
			    "the answer '%s' does not follow from the calc "
			    "results",
			    answer);
	}
	free(last);
	json_decref(results);
	return 0;
}

int
agent_scorer_builtin(const char *name)
{
	return strcmp(name, "calc_check") == 0;
}

int
agent_scorer_run(const char *name, struct plug_set *set,
    const struct agent_scorer_hook *hook, const json_t *candidate,
    double *score, char **reason, char **cause)
{
	int rc;

	*reason = NULL;
	if (strcmp(name, "calc_check") == 0)
		return agent_scorer_calc_check(
		    set, candidate, score, reason, cause);
	if (hook != NULL && hook->score != NULL) {
		rc = hook->score(
		    hook->arg, name, candidate, score, reason, cause);
		if (rc == 0) {
			if (!isfinite(*score)) {
				free(*reason);
				*reason = NULL;
				xasprintf(cause,
				    "scorer '%s' returned a score that is not "
				    "a finite number",
				    name);
				return -1;
			}
			return 0;
		}
		if (rc == -1)
			return -1;
	}
	xasprintf(cause, "unknown scorer '%s'", name);
	return -1;
}
