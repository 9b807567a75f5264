/*
 * test-agent-strategy-run.c: strategies through the runtime (agent.run's
 * "strategy" member, agent/run.c) on the scripted backend: the params
 * check, a self-consistency run whose result carries the vote and whose
 * trace holds the strategy, sample and vote spans, events tagged with
 * their branch, a budget run's waits, and a strategy refused for a Lua
 * agent.
 */
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
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

static char dir[64];
static char *script_path, *tmpl_path, *agents_dir, *trace_dir, *spec;
static struct plug_registry *reg;

static const char script[] =
    "{\"scripts\": ["
    "{\"match\": \"Question: think\", \"outputs\": [\"Thought: easy\\n"
    "Final Answer: 1\\n\", \" it is one, surely one\\nFinal Answer: 1\\n\","
    " \" 1\\n\"]},"
    "{\"outputs\": [\"Thought: calc\\nAction: calc\\nAction Input: "
    "{\\\"expression\\\": \\\"17*23-45\\\"}\", \"Thought: ok\\nFinal "
    "Answer: 346\\n\"]}]}";

static int
setup(void **state)
{
	struct plug_config pc;
	const char *src = getenv("AGENTD_SRCDIR");
	char *cause = NULL;
	FILE *f;

	(void)state;
	if (src == NULL)
		src = ".";
	strcpy(dir, "/tmp/test-strategy-run-XXXXXX");
	assert_non_null(mkdtemp(dir));
	xasprintf(&script_path, "%s/script.json", dir);
	f = fopen(script_path, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	xasprintf(&spec, "scripted:%s", script_path);
	xasprintf(&trace_dir, "%s/traces", dir);
	xasprintf(&tmpl_path, "%s/agent/prompts/react-v1.txt", src);
	xasprintf(&agents_dir, "%s/lua/agents", src);
	memset(&pc, 0, sizeof pc);
	reg = plug_registry_new(&pc, NULL, 0, &cause);
	assert_non_null(reg);
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

struct seen {
	json_t *events;
	json_t *result;
};

static void
hook_event(void *arg, json_t *params)
{
	json_array_append_new(((struct seen *)arg)->events, params);
}

static void
hook_done(void *arg, json_t *result)
{
	struct seen *s = arg;

	json_decref(s->result);
	s->result = result;
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

/* Runs params to the end; s holds the events and the result. */
static void
run(struct agent_runtime *rt, const char *params, struct seen *s,
    char *trace_id)
{
	struct agent_run_hooks h = { s, hook_event, hook_done, NULL };
	json_t *p = json_loads(params, 0, NULL);
	struct agent_run *r;
	enum agent_err err;
	char *cause = NULL;

	assert_non_null(p);
	memset(s, 0, sizeof *s);
	s->events = json_array();
	r = agent_run_new(rt, p, &h, &err, &cause);
	json_decref(p);
	if (r == NULL)
		fail_msg("%s", cause);
	strcpy(trace_id, agent_run_trace_id(r));
	agent_run_execute(r);
	agent_run_unref(r);
	assert_non_null(s->result);
}

/* Counts spans of kind (and name when not NULL) in a span tree. */
static int
count_spans(const json_t *spans, const char *kind, const char *name)
{
	const json_t *sp;
	size_t i;
	int n = 0;

	json_array_foreach(spans, i, sp)
	{
		if (strcmp(json_string_value(json_object_get(sp, "kind")),
		        kind) == 0 &&
		    (name == NULL ||
		        strcmp(json_string_value(json_object_get(sp, "name")),
		            name) == 0))
			n++;
		n += count_spans(json_object_get(sp, "children"), kind, name);
	}
	return n;
}

static void
test_params(void **state)
{
	static const char *const bad[] = {
		"{\"input\": \"x\", \"strategy\": \"cot\"}",
		"{\"input\": \"x\", \"strategy\": {\"name\": \"tot\", "
		"\"depth\": 0}}",
		"{\"input\": \"x\", \"strategy\": {\"name\": "
		"\"self_consistency\", \"n\": 65}}",
	};
	char *cause = NULL;
	json_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = json_loads(bad[i], 0, NULL);
		assert_non_null(p);
		assert_int_equal(agent_run_params_check(p, &cause), -1);
		assert_non_null(strstr(cause, "strategy"));
		free(cause);
		cause = NULL;
		json_decref(p);
	}
	p = json_loads("{\"input\": \"x\", \"strategy\": {\"name\": "
	               "\"self_consistency\", \"n\": 8, \"temperature\": 0.8, "
	               "\"early_stop\": true}}",
	    0, NULL);
	assert_int_equal(agent_run_params_check(p, &cause), 0);
	json_decref(p);
}

static void
test_self_consistency(void **state)
{
	struct agent_runtime *rt = runtime();
	struct seen s;
	json_t *st, *tr, *ev;
	enum agent_err err;
	char tid[33], *cause = NULL;
	size_t i;
	int branch1 = 0;

	(void)state;
	run(rt,
	    "{\"input\": \"What is 17*23-45?\", \"tools\": [\"calc\"], "
	    "\"strategy\": {\"name\": \"self_consistency\", \"n\": 3}}",
	    &s, tid);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "answer")), "346");
	st = json_object_get(s.result, "strategy");
	assert_non_null(st);
	assert_string_equal(
	    json_string_value(json_object_get(st, "name")), "self_consistency");
	/* Two agreeing samples of three decide the vote. */
	assert_int_equal(json_integer_value(json_object_get(st, "decoded")), 2);
	assert_true(json_is_true(json_object_get(st, "early_stopped")));
	assert_true(json_real_value(json_object_get(st, "agreement")) == 1.0);
	assert_int_equal(
	    json_array_size(json_object_get(s.result, "steps")), 2);
	json_array_foreach(s.events, i, ev)
	{
		if (json_integer_value(json_object_get(ev, "branch")) == 1)
			branch1 = 1;
	}
	assert_true(branch1);

	tr = agent_runtime_trace_get(rt, tid, &err, &cause);
	if (tr == NULL)
		fail_msg("%s", cause);
	assert_int_equal(count_spans(json_object_get(tr, "spans"), "strategy",
	                     "strategy self_consistency"),
	    1);
	assert_int_equal(count_spans(json_object_get(tr, "spans"), "strategy",
	                     "self_consistency.sample"),
	    3);
	assert_int_equal(
	    count_spans(json_object_get(tr, "spans"), "vote", NULL), 1);
	assert_int_equal(
	    count_spans(json_object_get(tr, "spans"), "tool", NULL), 2);
	json_decref(tr);
	json_decref(s.events);
	json_decref(s.result);
	agent_runtime_free(rt);
}

static void
test_budget(void **state)
{
	struct agent_runtime *rt = runtime();
	struct seen s;
	json_t *st;
	char tid[33];

	(void)state;
	run(rt,
	    "{\"input\": \"think\", \"strategy\": {\"name\": \"budget\", "
	    "\"min_thinking_tokens\": 5, \"max_thinking_tokens\": 50}}",
	    &s, tid);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "answer")), "1");
	st = json_object_get(s.result, "strategy");
	assert_int_equal(json_integer_value(json_object_get(st, "waits")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "thinking_tokens")), 10);
	json_decref(s.events);
	json_decref(s.result);
	agent_runtime_free(rt);
}

static void
test_lua_refused(void **state)
{
	struct agent_runtime *rt = runtime();
	struct agent_run_hooks h = { NULL, NULL, NULL, NULL };
	json_t *agents = agent_runtime_agents_json(rt), *a, *p;
	const char *name = NULL;
	enum agent_err err;
	char *cause = NULL, *params;
	size_t i;

	(void)state;
	json_array_foreach(json_object_get(agents, "agents"), i, a)
	{
		if (strcmp(json_string_value(json_object_get(a, "source")),
		        "lua") == 0)
			name = json_string_value(json_object_get(a, "name"));
	}
	if (name == NULL) {
		json_decref(agents);
		agent_runtime_free(rt);
		skip();
	}
	xasprintf(&params,
	    "{\"input\": \"x\", \"agent\": \"%s\", \"strategy\": "
	    "{\"name\": \"cot\"}}",
	    name);
	p = json_loads(params, 0, NULL);
	assert_null(agent_run_new(rt, p, &h, &err, &cause));
	assert_int_equal(err, AGENT_ERR_PARAMS);
	assert_non_null(strstr(cause, "Lua agent"));
	free(cause);
	free(params);
	json_decref(p);
	json_decref(agents);
	agent_runtime_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_self_consistency),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_lua_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
