/*
 * ctl-strategy.c: turns `--strategy NAME` and `--set KEY=VALUE` options
 * into agent.run params, for `agentctl run` and `agentctl eval`.
 *
 * VALUE is read as JSON when it parses ("3", "0.7", "false", "[1,2]"),
 * else it is taken as a string ("calc_check", "Wait,").  Where a KEY
 * goes:
 *
 *  strategy.KEY   a member of the strategy object, always;
 *  KEY            a member of the strategy when --strategy names one
 *                 with a setting of that name (the table below), else a
 *                 member of agent.run's params.  "temperature" is both:
 *                 it is the branches' temperature for self_consistency,
 *                 best_of_n and tot, and the run's for the others.
 *
 * A dotted KEY ("budget.max_thinking_tokens") sets a member of a nested
 * object, which is how budget forcing is added to another strategy.  A
 * setting that belongs to a strategy other than the one named, or to a
 * strategy when none is named, is a usage error that says which
 * strategies have it; so is an unknown strategy name.  The daemon
 * checks the values themselves (agent_strategy_parse()).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

/* The most levels of a dotted KEY. */
#define STRAT_MAX_DEPTH 4

/* One strategy and the settings it takes (besides "name"). */
struct strat_def {
	const char *name;
	const char *const *keys;
};

static const char *const strat_cot_keys[] = { "pattern", "examples", "budget",
	NULL };
static const char *const strat_sc_keys[] = { "n", "temperature", "early_stop",
	"units", "pattern", "budget", NULL };
static const char *const strat_tot_keys[] = { "breadth", "beam", "depth",
	"max_nodes", "search", "threshold", "scorer", "temperature", "pattern",
	"budget", NULL };
static const char *const strat_budget_keys[] = { "min_thinking_tokens",
	"max_thinking_tokens", "wait_text", "marker", NULL };
static const char *const strat_bon_keys[] = { "n", "temperature", "judge",
	"rubric", "length_penalty", "pattern", "budget", NULL };

static const struct strat_def strat_defs[] = {
	{ "cot", strat_cot_keys },
	{ "self_consistency", strat_sc_keys },
	{ "tot", strat_tot_keys },
	{ "budget", strat_budget_keys },
	{ "best_of_n", strat_bon_keys },
};
#define STRAT_NDEFS (sizeof strat_defs / sizeof strat_defs[0])

/* agent.run params that share a name with a strategy setting. */
static const char *const strat_run_keys[] = { "temperature", NULL };

static const struct strat_def *strat_find(const char *name);
static int strat_has(const struct strat_def *d, const char *key);
static int strat_listed(const char *const *list, const char *key);
static char *strat_owners(const char *key);
static char *strat_keys(const struct strat_def *d);
static int strat_put(
    json_t *obj, const char *key, const char *path, json_t *v, char **cause);

/* The strategy called name, or NULL. */
static const struct strat_def *
strat_find(const char *name)
{
	for (size_t i = 0; i < STRAT_NDEFS; i++) {
		if (strcmp(strat_defs[i].name, name) == 0)
			return &strat_defs[i];
	}
	return NULL;
}

static int
strat_listed(const char *const *list, const char *key)
{
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], key) == 0)
			return 1;
	}
	return 0;
}

/* Whether strategy d takes the setting key. */
static int
strat_has(const struct strat_def *d, const char *key)
{
	return strat_listed(d->keys, key);
}

/* "self_consistency, best_of_n": the strategies with setting key, or NULL. */
static char *
strat_owners(const char *key)
{
	char *out = NULL, *tmp;

	for (size_t i = 0; i < STRAT_NDEFS; i++) {
		if (!strat_has(&strat_defs[i], key))
			continue;
		if (out == NULL)
			out = xstrdup(strat_defs[i].name);
		else {
			xasprintf(&tmp, "%s, %s", out, strat_defs[i].name);
			free(out);
			out = tmp;
		}
	}
	return out;
}

/* "n, temperature, ...": the settings of d (new string). */
static char *
strat_keys(const struct strat_def *d)
{
	char *out = xstrdup(""), *tmp;

	for (size_t i = 0; d->keys[i] != NULL; i++) {
		xasprintf(&tmp, "%s%s%s", out, i == 0 ? "" : ", ", d->keys[i]);
		free(out);
		out = tmp;
	}
	return out;
}

/*
 * Sets the member path ("a" or "a.b.c") of obj to v (taken), making the
 * objects on the way.  Returns 0, or -1 with *cause naming key (the
 * argument's KEY).
 */
static int
strat_put(
    json_t *obj, const char *key, const char *path, json_t *v, char **cause)
{
	char *copy = xstrdup(path), *p = copy, *part;
	json_t *at = obj, *next;
	int depth = 0;

	for (;;) {
		part = strsep(&p, ".");
		if (*part == '\0' || ++depth > STRAT_MAX_DEPTH) {
			xasprintf(cause,
			    "'%s' is not a KEY (names joined by '.', at "
			    "most %d of them)",
			    key, STRAT_MAX_DEPTH);
			goto fail;
		}
		if (p == NULL)
			break;
		next = json_object_get(at, part);
		if (next == NULL) {
			next = json_object();
			json_object_set_new(at, part, next);
		} else if (!json_is_object(next)) {
			xasprintf(cause, "'%s': '%s' is set to a value already",
			    key, part);
			goto fail;
		}
		at = next;
	}
	if (json_is_object(json_object_get(at, part)) && !json_is_object(v)) {
		xasprintf(cause, "'%s' has members set already", key);
		goto fail;
	}
	json_object_set_new(at, part, v);
	free(copy);
	return 0;

fail:
	json_decref(v);
	free(copy);
	return -1;
}

int
ctl_strategy_build(const char *name, const char *const *sets, size_t n_sets,
    json_t *params, json_t **strategy, char **cause)
{
	const struct strat_def *def = NULL;
	json_t *st = NULL, *v, *target;
	const char *arg, *eq, *val, *path;
	char *key = NULL, *first = NULL, *list;

	*strategy = NULL;
	if (name != NULL) {
		def = strat_find(name);
		if (def == NULL) {
			xasprintf(cause,
			    "--strategy: unknown strategy '%s'; valid: cot, "
			    "self_consistency, tot, budget, best_of_n",
			    name);
			return -1;
		}
		st = json_pack("{s:s}", "name", name);
	}
	for (size_t i = 0; i < n_sets; i++) {
		arg = sets[i];
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg) {
			xasprintf(cause, "--set: '%s' is not KEY=VALUE", arg);
			goto fail;
		}
		val = eq + 1;
		key = xstrndup(arg, (size_t)(eq - arg));
		if (!utf8_valid(arg, strlen(arg))) {
			xasprintf(cause,
			    "--set: argument %zu is not valid UTF-8", i + 1);
			goto fail;
		}
		path = key;
		if (strncmp(key, "strategy.", 9) == 0) {
			path = key + 9;
			target = NULL;
		} else
			target = params;
		first = xstrndup(path, strcspn(path, "."));
		if (target == params &&
		    (strcmp(first, "input") == 0 ||
		        strcmp(first, "stream") == 0 ||
		        strcmp(first, "strategy") == 0)) {
			xasprintf(cause,
			    "--set: '%s' cannot be set this way (give the "
			    "task as the argument, and the strategy with "
			    "--strategy NAME)",
			    key);
			goto fail;
		}
		list = NULL;
		if (target == params && !strat_listed(strat_run_keys, first))
			list = strat_owners(first);
		if (target == params && def != NULL && strat_has(def, first)) {
			free(list);
			target = NULL;
		} else if (list != NULL) {
			if (def == NULL)
				xasprintf(cause,
				    "--set: '%s' is a setting of %s: give "
				    "--strategy NAME",
				    key, list);
			else {
				free(list);
				list = strat_keys(def);
				xasprintf(cause,
				    "--set: '%s' is not a setting of %s (its "
				    "settings: %s)",
				    key, def->name, list);
			}
			free(list);
			goto fail;
		}
		if (target == NULL) {
			if (strcmp(path, "name") == 0) {
				xasprintf(cause,
				    "--set: '%s': name the strategy with "
				    "--strategy NAME",
				    key);
				goto fail;
			}
			if (st == NULL) {
				xasprintf(cause,
				    "--set: '%s' needs --strategy NAME", key);
				goto fail;
			}
			target = st;
		}
		v = json_loads(val, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_string(val);
		if (strat_put(target, key, path, v, cause) != 0) {
			list = *cause;
			xasprintf(cause, "--set: %s", list);
			free(list);
			goto fail;
		}
		free(first);
		free(key);
		first = key = NULL;
	}
	*strategy = st;
	return 0;

fail:
	free(first);
	free(key);
	json_decref(st);
	return -1;
}
