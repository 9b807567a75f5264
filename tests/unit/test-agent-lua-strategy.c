/*
 * test-agent-lua-strategy.c: ctx.strategy{} of Lua agents through the
 * runtime (agent/run.c) on the scripted backend: a Lua agent runs
 * self_consistency over the ReAct loop, the branches vote, the result
 * table carries the strategy's report, the steps and usage join the
 * run's, the branch events reach the hooks and the trace holds the
 * ctx.strategy span; a strategy the runtime refuses raises an error the
 * script can catch.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

static char dir[64];
static char *script_path, *tmpl_path, *agents_dir, *trace_dir, *spec;
static struct plug_registry *reg;

/* Every trajectory: one calc step, then the answer. */
static const char script[] =
    "{\"scripts\": [{\"outputs\": [\"Thought: calc\\nAction: calc\\n"
    "Action Input: {\\\"expression\\\": \\\"17*23-45\\\"}\", \"Thought: "
    "ok\\nFinal Answer: 346\\n\"]}]}";

/* A Lua agent that votes over three samples and reports the tally. */
static const char vote_agent[] =
    "return {\n"
    "  name = 'vote',\n"
    "  description = 'Self-consistency over the ReAct loop.',\n"
    "  run = function(task, ctx)\n"
    "    local r = ctx.strategy{ name = 'self_consistency', input = task,\n"
    "      n = 3, early_stop = false, tools = { 'calc' } }\n"
    "    local v = r.strategy.votes[1]\n"
    "    return r.answer .. ' ' .. r.ending .. ' ' .. v.count .. ' ' ..\n"
    "      r.strategy.agreement .. ' ' .. #r.steps\n"
    "  end,\n"
    "}\n";

/* A Lua agent that asks for a strategy the runtime refuses. */
static const char bad_agent[] =
    "return {\n"
    "  name = 'bad_strategy',\n"
    "  description = 'Asks for what cannot be.',\n"
    "  run = function(task, ctx)\n"
    "    local ok, err = pcall(ctx.strategy, { name = 'self_consistency',\n"
    "      input = task, n = 0 })\n"
    "    local ok2, err2 = pcall(ctx.strategy, { name = 'nope',\n"
    "      input = task })\n"
    "    return tostring(ok) .. ' ' .. err .. ' | ' .. err2\n"
    "  end,\n"
    "}\n";

/* What the hooks saw. */
struct seen {
	json_t *events;
	json_t *result;
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct plug_config pc;
	const char *src = getenv("AGENTD_SRCDIR");
	char *cause = NULL, *path;

	(void)state;
	if (src == NULL)
		src = ".";
	strcpy(dir, "/tmp/test-agent-lua-strategy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	xasprintf(&script_path, "%s/script.json", dir);
	write_file(script_path, script);
	xasprintf(&spec, "scripted:%s", script_path);
	xasprintf(&trace_dir, "%s/traces", dir);
	xasprintf(&tmpl_path, "%s/agent/prompts/react-v1.txt", src);
	xasprintf(&agents_dir, "%s/agents", dir);
	assert_int_equal(mkdir(agents_dir, 0700), 0);
	xasprintf(&path, "%s/vote.lua", agents_dir);
	write_file(path, vote_agent);
	free(path);
	xasprintf(&path, "%s/bad_strategy.lua", agents_dir);
	write_file(path, bad_agent);
	free(path);
	memset(&pc, 0, sizeof pc);
	reg = plug_registry_new(&pc, NULL, 0, &cause);
	if (reg == NULL)
		fail_msg("%s", cause);
	return 0;
}

static int
teardown(void **state)
{
	char *cmd;

	(void)state;
	plug_registry_free(reg);
	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(script_path);
	free(spec);
	free(trace_dir);
	free(tmpl_path);
	free(agents_dir);
	return 0;
}

static void
hook_event(void *arg, json_t *params)
{
	struct seen *s = arg;

	json_array_append_new(s->events, params);
}

static void
hook_done(void *arg, json_t *result)
{
	struct seen *s = arg;

	json_decref(s->result);
	s->result = result;
}

static int
hook_gone(void *arg)
{
	(void)arg;
	return 0;
}

/* Runs agent on input to the end; the runtime's trace id in tid. */
static void
run_agent(
    struct agent_runtime *rt, const char *agent, struct seen *s, char tid[33])
{
	struct agent_run_hooks h = { s, hook_event, hook_done, hook_gone };
	json_t *p;
	struct agent_run *run;
	enum agent_err err;
	char *cause = NULL;

	memset(s, 0, sizeof *s);
	s->events = json_array();
	p = json_pack(
	    "{s:s, s:s}", "input", "What is 17*23-45?", "agent", agent);
	run = agent_run_new(rt, p, &h, &err, &cause);
	json_decref(p);
	if (run == NULL)
		fail_msg("%s", cause);
	snprintf(tid, 33, "%s", agent_run_trace_id(run));
	agent_run_execute(run);
	agent_run_unref(run);
	assert_non_null(s->result);
}

static struct agent_runtime *
runtime(void)
{
	struct agent_runtime_config c;
	struct agent_runtime *rt;
	char *cause = NULL;

	memset(&c, 0, sizeof c);
	c.model = spec;
	c.template_path = tmpl_path;
	c.trace_dir = trace_dir;
	c.agents_dir = agents_dir;
	rt = agent_runtime_new(&c, reg, &cause);
	if (rt == NULL)
		fail_msg("%s", cause);
	return rt;
}

static void
test_vote(void **state)
{
	struct agent_runtime *rt = runtime();
	struct seen s;
	enum agent_err err;
	json_t *ev, *tr, *usage;
	char tid[33], *text, *cause = NULL;
	int steps[3] = { 0, 0, 0 };
	size_t i;

	(void)state;
	run_agent(rt, "vote", &s, tid);
	if (strcmp(json_string_value(json_object_get(s.result, "ending")),
	        "final_answer") != 0)
		fail_msg("%s",
		    json_string_value(json_object_get(s.result, "error")));
	/* The winner's answer, three votes of three, its two steps. */
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "answer")),
	    "346 final_answer 3 1.0 2");
	/* The run's steps are the winner's. */
	assert_int_equal(
	    json_array_size(json_object_get(s.result, "steps")), 2);
	/* Three branches, each fed its steps by the one shared prompt. */
	usage = json_object_get(s.result, "usage");
	assert_true(json_integer_value(
	                json_object_get(usage, "completion_tokens")) > 0);
	json_array_foreach(s.events, i, ev)
	{
		const char *t = json_string_value(json_object_get(ev, "type"));
		json_int_t b =
		    json_integer_value(json_object_get(ev, "branch"));

		if (strcmp(t, "step") == 0) {
			assert_true(b >= 0 && b < 3);
			steps[b]++;
		}
	}
	assert_int_equal(steps[0], 2);
	assert_int_equal(steps[1], 2);
	assert_int_equal(steps[2], 2);
	tr = agent_runtime_trace_get(rt, tid, &err, &cause);
	if (tr == NULL)
		fail_msg("%s", cause);
	text = json_dumps(tr, JSON_COMPACT);
	assert_non_null(strstr(text, "\"name\":\"ctx.strategy\""));
	assert_non_null(strstr(text, "\"kind\":\"vote\""));
	free(text);
	json_decref(tr);
	json_decref(s.events);
	json_decref(s.result);
	agent_runtime_free(rt);
}

static void
test_refused(void **state)
{
	struct agent_runtime *rt = runtime();
	struct seen s;
	const char *answer;
	char tid[33];

	(void)state;
	run_agent(rt, "bad_strategy", &s, tid);
	answer = json_string_value(json_object_get(s.result, "answer"));
	if (answer == NULL)
		fail_msg("%s",
		    json_string_value(json_object_get(s.result, "error")));
	assert_non_null(strstr(answer, "false ctx.strategy: strategy.n must"));
	assert_non_null(strstr(answer,
	    "| ctx.strategy: strategy.name: "
	    "unknown strategy 'nope'"));
	json_decref(s.events);
	json_decref(s.result);
	agent_runtime_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vote),
		cmocka_unit_test(test_refused),
	};

	log_level = LOG_LEVEL_ERR;
	return cmocka_run_group_tests(tests, setup, teardown);
}
