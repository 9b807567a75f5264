/*
 * test-agent-run.c: the runtime and the life of a run (agent/run.c) on
 * the scripted backend: agent.run's params, a ReAct run's events, result,
 * table entry and trace, the errors a run can meet before it starts
 * (unknown agent or tool, no model, too many runs), cancellation before
 * the start and when the client goes away, the pool refusing a run, the
 * finished runs kept, reloads, and a shipped Lua agent (plan_execute)
 * whose ctx reaches the model, the loop, the tools, events and spans.
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

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

static char dir[64];
static char *script_path, *tmpl_path, *agents_dir, *trace_dir, *spec;
static struct plug_registry *reg;

static const char script[] =
    "{\"scripts\": ["
    "{\"match\": \"You plan tasks\", \"outputs\": [\"1. Compute 17*23-45\\n"
    "2. Report the number\\n\"]},"
    "{\"match\": \"Answer the task from the findings\", \"outputs\": [\"The "
    "answer is 346.\"]},"
    "{\"match\": \"Now do this step: Report\", \"outputs\": [\"Thought: "
    "report\\nFinal Answer: 346\\n\"]},"
    "{\"match\": \"Question: slow\", \"outputs\": [{\"text\": \"a b c d e f "
    "g h i j k l m n o p\", \"delay_ms\": 30}]},"
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
	strcpy(dir, "/tmp/test-agent-run-XXXXXX");
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

static void
config(struct agent_runtime_config *c)
{
	memset(c, 0, sizeof *c);
	c->model = spec;
	c->template_path = tmpl_path;
	c->trace_dir = trace_dir;
	c->agents_dir = agents_dir;
}

/* What the hooks saw. */
struct seen {
	json_t *events;
	json_t *result;
	int done;
	int gone;
};

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

	s->done++;
	json_decref(s->result);
	s->result = result;
}

static int
hook_gone(void *arg)
{
	return ((struct seen *)arg)->gone;
}

static struct agent_run *
start(struct agent_runtime *rt, const char *params, struct seen *s,
    enum agent_err *err, char **cause)
{
	struct agent_run_hooks h = { s, hook_event, hook_done, hook_gone };
	json_t *p = json_loads(params, 0, NULL);
	struct agent_run *run;

	assert_non_null(p);
	memset(s, 0, sizeof *s);
	s->events = json_array();
	run = agent_run_new(rt, p, &h, err, cause);
	json_decref(p);
	return run;
}

static void
seen_free(struct seen *s)
{
	json_decref(s->events);
	json_decref(s->result);
}

static void
expect_params_error(const char *params, const char *needle)
{
	json_t *p = json_loads(params, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *cause = NULL;

	assert_non_null(p);
	assert_int_equal(agent_run_params_check(p, &cause), -1);
	if (strstr(cause, needle) == NULL)
		fail_msg("'%s' lacks '%s'", cause, needle);
	free(cause);
	json_decref(p);
}

static void
test_params(void **state)
{
	json_t *p;
	char *cause = NULL;

	(void)state;
	p = json_loads("{\"input\": \"x\", \"agent\": \"react\", \"tools\": "
	               "[\"calc\"], \"max_steps\": 3, \"max_tokens\": 100, "
	               "\"timeout_ms\": 1000, \"temperature\": 0.5, \"top_k\": "
	               "40, \"top_p\": 0.9, \"min_p\": 0.05, \"seed\": 7, "
	               "\"stream\": true, \"strategy\": null, \"traceparent\": "
	               "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
	               "01\"}",
	    0, NULL);
	assert_int_equal(agent_run_params_check(p, &cause), 0);
	json_decref(p);
	expect_params_error("[]", "object");
	expect_params_error("{}", "\"input\" is required");
	expect_params_error("{\"input\": \"\"}", "\"input\"");
	expect_params_error("{\"input\": 5}", "\"input\"");
	expect_params_error(
	    "{\"input\": \"x\", \"max_steps\": 0}", "max_steps");
	expect_params_error(
	    "{\"input\": \"x\", \"max_steps\": 1000}", "max_steps");
	expect_params_error(
	    "{\"input\": \"x\", \"max_tokens\": \"9\"}", "max_tokens");
	expect_params_error(
	    "{\"input\": \"x\", \"timeout_ms\": -1}", "timeout_ms");
	expect_params_error(
	    "{\"input\": \"x\", \"temperature\": 11}", "temperature");
	expect_params_error("{\"input\": \"x\", \"top_p\": 2}", "top_p");
	expect_params_error("{\"input\": \"x\", \"top_k\": -1}", "top_k");
	expect_params_error("{\"input\": \"x\", \"seed\": -1}", "seed");
	expect_params_error("{\"input\": \"x\", \"tools\": \"calc\"}", "tools");
	expect_params_error(
	    "{\"input\": \"x\", \"tools\": [\"calc\", \"calc\"]}", "twice");
	expect_params_error("{\"input\": \"x\", \"tools\": [1]}", "tools");
	expect_params_error("{\"input\": \"x\", \"agent\": \"\"}", "agent");
	expect_params_error("{\"input\": \"x\", \"stream\": 1}", "stream");
	expect_params_error(
	    "{\"input\": \"x\", \"traceparent\": \"00-1\"}", "traceparent");
	expect_params_error(
	    "{\"input\": \"x\", \"strategy\": {\"name\": \"no\"}}", "strateg");
	expect_params_error("{\"input\": \"x\", \"inptu\": 1}", "\"inptu\"");
	expect_params_error("{\"input\": \"a\\u0000b\"}", "NUL");
}

static void
test_react_run(void **state)
{
	struct agent_runtime_config c;
	struct agent_runtime *rt;
	struct agent_run *run;
	struct seen s;
	enum agent_err err;
	json_t *r, *list, *ev, *tr;
	char *cause = NULL, id[17], tid[33];
	size_t i;

	(void)state;
	config(&c);
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	run = start(rt,
	    "{\"input\": \"What is 17*23-45?\", \"tools\": "
	    "[\"calc\"]}",
	    &s, &err, &cause);
	assert_non_null(run);
	strcpy(id, agent_run_id(run));
	strcpy(tid, agent_run_trace_id(run));
	assert_int_equal(strlen(id), 16);
	assert_true(agent_trace_id_valid(tid));

	/* Queued: listed before it runs. */
	list = agent_runtime_runs_json(rt);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(list, "runs"), 0), "state")),
	    "queued");
	json_decref(list);

	agent_run_execute(run);
	agent_run_unref(run);
	assert_int_equal(s.done, 1);
	r = s.result;
	assert_string_equal(
	    json_string_value(json_object_get(r, "answer")), "346");
	assert_string_equal(
	    json_string_value(json_object_get(r, "ending")), "final_answer");
	assert_string_equal(
	    json_string_value(json_object_get(r, "run_id")), id);
	assert_string_equal(
	    json_string_value(json_object_get(r, "trace_id")), tid);
	assert_int_equal(json_array_size(json_object_get(r, "steps")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(r, "steps"), 0), "observation")),
	    "346");
	assert_true(json_integer_value(json_object_get(
	                json_object_get(r, "usage"), "completion_tokens")) > 0);

	/* Events: start first, final last, seq 0, 1, 2, ... */
	json_array_foreach(s.events, i, ev)
	{
		assert_int_equal(
		    json_integer_value(json_object_get(ev, "seq")), (int)i);
		assert_string_equal(
		    json_string_value(json_object_get(ev, "run_id")), id);
		assert_int_equal(
		    json_integer_value(json_object_get(ev, "branch")), 0);
	}
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(s.events, 0), "type")),
	    "start");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(s.events, json_array_size(s.events) - 1),
	        "type")),
	    "final");

	/* The table and run.get. */
	r = agent_runtime_run_json(rt, id, &err, &cause);
	assert_non_null(r);
	assert_string_equal(
	    json_string_value(json_object_get(r, "state")), "done");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(r, "result"), "answer")),
	    "346");
	json_decref(r);
	assert_null(agent_runtime_run_json(rt, "nope", &err, &cause));
	assert_int_equal(err, AGENT_ERR_UNKNOWN_RUN);
	free(cause);
	cause = NULL;

	/* The trace: one root, the run's, with the steps below. */
	tr = agent_runtime_trace_get(rt, tid, &err, &cause);
	assert_non_null(tr);
	r = json_array_get(json_object_get(tr, "spans"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "name")),
	    "invoke_agent react");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(r, "attributes"), "agentd.ending")),
	    "final_answer");
	assert_int_equal(json_array_size(json_object_get(r, "children")), 2);
	json_decref(tr);
	seen_free(&s);
	agent_runtime_free(rt);
}

static void
test_run_errors(void **state)
{
	struct agent_runtime_config c;
	struct agent_runtime *rt;
	struct agent_run *a, *b;
	struct seen s, s2;
	enum agent_err err;
	char *cause = NULL;
	int running = 0;

	(void)state;
	config(&c);
	c.max_runs = 1;
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	assert_null(start(
	    rt, "{\"input\": \"x\", \"agent\": \"nobody\"}", &s, &err, &cause));
	assert_int_equal(err, AGENT_ERR_UNKNOWN_NAME);
	assert_non_null(strstr(cause, "unknown agent 'nobody'"));
	free(cause);
	cause = NULL;
	seen_free(&s);
	assert_null(start(rt,
	    "{\"input\": \"x\", \"tools\": [\"calc\", "
	    "\"ghost\"]}",
	    &s, &err, &cause));
	assert_int_equal(err, AGENT_ERR_UNKNOWN_NAME);
	assert_non_null(strstr(cause, "unknown tool 'ghost'; valid tools: "));
	free(cause);
	cause = NULL;
	seen_free(&s);

	/* One slot: the second run is refused until the first ends. */
	a = start(rt, "{\"input\": \"x\"}", &s, &err, &cause);
	assert_non_null(a);
	assert_null(start(rt, "{\"input\": \"y\"}", &s2, &err, &cause));
	assert_int_equal(err, AGENT_ERR_OVERLOADED);
	free(cause);
	cause = NULL;
	seen_free(&s2);
	/* Cancelled while queued: it ends at once, cancelled. */
	assert_int_equal(
	    agent_runtime_cancel(rt, agent_run_id(a), &running, &cause), 0);
	assert_int_equal(running, 1);
	agent_run_execute(a);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "ending")),
	    "cancelled");
	assert_int_equal(
	    agent_runtime_cancel(rt, agent_run_id(a), &running, &cause), 0);
	assert_int_equal(running, 0);
	assert_int_equal(
	    agent_runtime_cancel(rt, "ghost", &running, &cause), -1);
	free(cause);
	cause = NULL;
	agent_run_unref(a);
	seen_free(&s);

	/* The pool refused it: recorded as an error, no hooks called. */
	b = start(rt, "{\"input\": \"y\"}", &s, &err, &cause);
	assert_non_null(b);
	agent_run_abort(b, "worker pool: shutting down");
	assert_int_equal(s.done, 0);
	assert_int_equal(json_array_size(s.events), 0);
	agent_run_unref(b);
	seen_free(&s);

	/* The client went away: the run is cancelled mid-generation. */
	b = start(rt, "{\"input\": \"slow\"}", &s, &err, &cause);
	assert_non_null(b);
	s.gone = 1;
	agent_run_execute(b);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "ending")),
	    "cancelled");
	agent_run_unref(b);
	seen_free(&s);

	/* The timeout. */
	b = start(
	    rt, "{\"input\": \"slow\", \"timeout_ms\": 100}", &s, &err, &cause);
	assert_non_null(b);
	agent_run_execute(b);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "ending")), "timeout");
	agent_run_unref(b);
	seen_free(&s);
	agent_runtime_free(rt);

	/* No model: the react agent is refused, with the reason. */
	config(&c);
	c.model = NULL;
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	assert_null(start(rt, "{\"input\": \"x\"}", &s, &err, &cause));
	assert_int_equal(err, AGENT_ERR_MODEL);
	assert_non_null(strstr(cause, "no model"));
	free(cause);
	cause = NULL;
	seen_free(&s);
	agent_runtime_free(rt);

	/*
	 * A missing template leaves the runtime up (a daemon whose data
	 * directory is missing still starts), and the react agent is
	 * refused with the reason.
	 */
	config(&c);
	c.template_path = "/nonexistent/react-v1.txt";
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	assert_null(cause);
	assert_null(start(rt, "{\"input\": \"x\"}", &s, &err, &cause));
	assert_int_equal(err, AGENT_ERR_INTERNAL);
	assert_non_null(strstr(cause, "no ReAct template"));
	assert_non_null(strstr(cause, "/nonexistent/react-v1.txt"));
	free(cause);
	cause = NULL;
	seen_free(&s);
	/* A reload that finds it makes runs work. */
	config(&c);
	assert_int_equal(agent_runtime_reload(rt, &c, &cause), 0);
	a = start(rt, "{\"input\": \"x\"}", &s, &err, &cause);
	assert_non_null(a);
	agent_run_execute(a);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "ending")),
	    "final_answer");
	agent_run_unref(a);
	seen_free(&s);
	agent_runtime_free(rt);
}

static void
test_keep_and_reload(void **state)
{
	struct agent_runtime_config c;
	struct agent_runtime *rt;
	struct agent_run *run;
	struct seen s;
	enum agent_err err;
	json_t *list;
	char *cause = NULL;

	(void)state;
	config(&c);
	c.keep_runs = 2;
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	for (int i = 0; i < 3; i++) {
		run = start(rt, "{\"input\": \"x\"}", &s, &err, &cause);
		assert_non_null(run);
		agent_run_execute(run);
		agent_run_unref(run);
		seen_free(&s);
	}
	list = agent_runtime_runs_json(rt);
	assert_int_equal(json_array_size(json_object_get(list, "runs")), 2);
	json_decref(list);

	list = agent_runtime_agents_json(rt);
	assert_int_equal(json_array_size(json_object_get(list, "agents")), 3);
	json_decref(list);
	/* Reload without the agents folder: only the built-in is left. */
	c.agents_dir = NULL;
	assert_int_equal(agent_runtime_reload(rt, &c, &cause), 0);
	list = agent_runtime_agents_json(rt);
	assert_int_equal(json_array_size(json_object_get(list, "agents")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(list, "agents"), 0), "name")),
	    "react");
	json_decref(list);
	/* A reload that fails keeps the running state. */
	c.template_path = "/nonexistent/t.txt";
	assert_int_equal(agent_runtime_reload(rt, &c, &cause), -1);
	free(cause);
	cause = NULL;
	run = start(rt, "{\"input\": \"x\"}", &s, &err, &cause);
	assert_non_null(run);
	agent_run_execute(run);
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "ending")),
	    "final_answer");
	agent_run_unref(run);
	seen_free(&s);
	agent_runtime_free(rt);
}

/* plan_execute: ctx.chat, ctx.react, ctx.tools, ctx.emit, ctx.span. */
static void
test_lua_agent(void **state)
{
	struct agent_runtime_config c;
	struct agent_runtime *rt;
	struct agent_run *run;
	struct seen s;
	enum agent_err err;
	json_t *ev, *tr;
	char *cause = NULL, *text, tid[33];
	int plan = 0, results = 0;
	size_t i;

	(void)state;
	config(&c);
	rt = agent_runtime_new(&c, reg, &cause);
	assert_non_null(rt);
	run = start(rt,
	    "{\"input\": \"What is 17*23-45?\", \"agent\": "
	    "\"plan_execute\"}",
	    &s, &err, &cause);
	if (run == NULL)
		fail_msg("%s", cause);
	strcpy(tid, agent_run_trace_id(run));
	agent_run_execute(run);
	agent_run_unref(run);
	if (strcmp(json_string_value(json_object_get(s.result, "ending")),
	        "final_answer") != 0)
		fail_msg("%s",
		    json_string_value(json_object_get(s.result, "error")));
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "answer")),
	    "The answer is 346.");
	assert_string_equal(
	    json_string_value(json_object_get(s.result, "agent")),
	    "plan_execute");
	/* The steps of both ctx.react calls. */
	assert_int_equal(
	    json_array_size(json_object_get(s.result, "steps")), 3);
	json_array_foreach(s.events, i, ev)
	{
		const char *t = json_string_value(json_object_get(ev, "type"));

		if (strcmp(t, "plan") == 0) {
			plan++;
			assert_int_equal(
			    json_array_size(json_object_get(ev, "steps")), 2);
		}
		if (strcmp(t, "step_result") == 0)
			results++;
	}
	assert_int_equal(plan, 1);
	assert_int_equal(results, 2);
	/* The spans the script made. */
	tr = agent_runtime_trace_get(rt, tid, &err, &cause);
	assert_non_null(tr);
	text = json_dumps(tr, JSON_COMPACT);
	assert_non_null(strstr(text, "\"name\":\"plan\""));
	assert_non_null(strstr(text, "\"name\":\"step 1\""));
	assert_non_null(strstr(text, "\"name\":\"ctx.react\""));
	assert_non_null(strstr(text, "\"name\":\"chat scripted\""));
	free(text);
	json_decref(tr);
	seen_free(&s);
	agent_runtime_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_react_run),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_keep_and_reload),
		cmocka_unit_test(test_lua_agent),
	};

	log_level = LOG_LEVEL_ERR;
	return cmocka_run_group_tests(tests, setup, teardown);
}
