/*
 * strategy-cot.c: chain of thought, zero- or few-shot.
 *
 * One trajectory over the ReAct transcript, whose "Thought:" lines are
 * the chain; few-shot examples (strategy.examples, each a worked
 * transcript) go before the prompt.  The answer is read by
 * strategy.pattern (default "Final Answer:"): generation stops at the
 * end of the first line that starts with it, and the answer is the rest
 * of that line, trimmed.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/strategy.h"
#include "daemon/util.h"

int
strat_cot_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause)
{
	struct agent_session *s;
	struct strat_traj *t;
	char *why = NULL;

	(void)cause;
	res->report = json_pack("{s:s, s:i}", "pattern", c->st->pattern,
	    "examples", (int)c->st->n_examples);
	if ((s = strat_prompt_session(c, &why)) == NULL) {
		strat_fail_result(&res->r, "cannot feed the prompt: %s", why);
		free(why);
		return 0;
	}
	t = strat_traj_new(c, s, 0, c->span);
	strat_traj_run(t);
	res->r.usage = t->usage;
	json_object_set_new(
	    res->report, "answer_found", json_boolean(t->answer != NULL));
	if (c->st->budget.on) {
		json_object_set_new(
		    res->report, "waits", json_integer(t->waits));
		json_object_set_new(
		    res->report, "thinking_tokens", json_integer(t->thinking));
	}
	strat_take_result(c, t, &res->r);
	strat_traj_free(t);
	return 0;
}
