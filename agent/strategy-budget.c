/*
 * strategy-budget.c: "Wait" budget forcing (s1), on one trajectory.
 *
 * The work is in the trajectory's plan phase (strategy.c): the
 * end-of-thinking marker ("Final Answer:" in the ReAct transcript,
 * "</think>" or any other text for reasoning models) is a stop string;
 * before min_thinking_tokens the text is cut where the marker's line
 * began and "Thought: Wait," (or the wait text alone for another marker)
 * appended, and generation goes on; at max_thinking_tokens the marker is
 * appended and the answer read.  The report gives the waits inserted,
 * the thinking tokens spent and whether the maximum forced the end.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/strategy.h"
#include "daemon/util.h"

int
strat_budget_run(
    struct strat_ctx *c, struct agent_strategy_result *res, char **cause)
{
	const struct agent_budget *bu = &c->st->budget;
	struct agent_session *s;
	struct strat_traj *t;
	char *why = NULL;

	(void)cause;
	res->report = json_pack("{s:i, s:i, s:s, s:s}", "min_thinking_tokens",
	    (int)bu->min_thinking, "max_thinking_tokens", (int)bu->max_thinking,
	    "marker", bu->marker, "wait_text", bu->wait_text);
	if ((s = strat_prompt_session(c, &why)) == NULL) {
		strat_fail_result(&res->r, "cannot feed the prompt: %s", why);
		free(why);
		return 0;
	}
	t = strat_traj_new(c, s, 0, c->span);
	strat_traj_run(t);
	res->r.usage = t->usage;
	json_object_set_new(res->report, "waits", json_integer(t->waits));
	json_object_set_new(
	    res->report, "thinking_tokens", json_integer(t->thinking));
	json_object_set_new(res->report, "forced", json_boolean(t->forced));
	agent_span_attr_int(c->span, "agentd.waits", t->waits);
	agent_span_attr_int(c->span, "agentd.thinking_tokens", t->thinking);
	strat_take_result(c, t, &res->r);
	strat_traj_free(t);
	return 0;
}
