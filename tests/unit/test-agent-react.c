/*
 * test-agent-react.c: every branch of the ReAct loop (agent/react.c) on
 * the scripted backend, with test tools: final answers, unknown tools,
 * bad JSON, schema failures, tool errors, repeated actions and the loop
 * ending, max steps, max tokens, malformed steps, a second action, a
 * backend that fails or runs out of script, cancellation and timeouts
 * mid-generation and mid-tool (with the tool abandoned), tool time
 * limits, the context-overflow shortening rule, the events, the usage
 * figures and the spans each phase leaves in the trace.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/backend.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

static char *tmpl;
static struct plug_registry *reg;
static struct plug_set *set;
static atomic_int echo_calls;
static atomic_int slow_running;

/* ---- test tools ---------------------------------------------------------- */

/* echo {text}: returns text. */
static void
echo_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	(void)impl;
	(void)call;
	atomic_fetch_add(&echo_calls, 1);
	plug_result_ok(res, json_string_value(json_object_get(args, "text")));
}

/* fail {}: always fails. */
static void
fail_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	(void)impl;
	(void)args;
	(void)call;
	plug_result_error(res, "boom\nsecond line");
}

/* slow {ms}: sleeps ms, ignoring every limit (a badly written tool). */
static void
slow_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));
	struct timespec ts;

	(void)impl;
	(void)call;
	atomic_fetch_add(&slow_running, 1);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	plug_result_ok(res, "slept");
	atomic_fetch_sub(&slow_running, 1);
}

/* big {id}: a first line, then a long second one. */
static void
big_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	char *text;

	(void)impl;
	(void)call;
	xasprintf(&text,
	    "first %d\n a b c d e f g h i j k l m n o p q r s t u v w x y z",
	    (int)json_integer_value(json_object_get(args, "id")));
	plug_result_ok(res, text);
	free(text);
}

static const struct plug_tool_ops big_ops = { big_call, NULL };
static const struct plug_tool_ops echo_ops = { echo_call, NULL };
static const struct plug_tool_ops fail_ops = { fail_call, NULL };
static const struct plug_tool_ops slow_ops = { slow_call, NULL };

static void
add_tool(struct plug_build *b, const char *name, const char *schema,
    const struct plug_tool_ops *ops)
{
	json_t *s = json_loads(schema, 0, NULL);
	struct plug_tool *t;
	char *cause = NULL, *desc;

	assert_non_null(s);
	xasprintf(&desc, "The %s test tool.", name);
	t = plug_tool_new(
	    name, desc, s, PLUG_SOURCE_BUILTIN, NULL, ops, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(plug_build_add(b, t, &cause), 0);
	json_decref(s);
	free(desc);
}

static void
collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	(void)arg;
	(void)config;
	add_tool(b, "big",
	    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":"
	    "\"integer\"}},\"required\":[\"id\"],\"additionalProperties\":"
	    "false}",
	    &big_ops);
	add_tool(b, "echo",
	    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":"
	    "\"string\"}},\"required\":[\"text\"],\"additionalProperties\":"
	    "false}",
	    &echo_ops);
	add_tool(b, "fail",
	    "{\"type\":\"object\",\"properties\":{},\"required\":[],"
	    "\"additionalProperties\":false}",
	    &fail_ops);
	add_tool(b, "slow",
	    "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":"
	    "\"integer\",\"minimum\":0,\"maximum\":10000}},\"required\":["
	    "\"ms\"],\"additionalProperties\":false}",
	    &slow_ops);
}

static int
setup(void **state)
{
	struct plug_provider prov = { "test tools", collect, NULL };
	struct plug_config pc;
	const char *dir = getenv("AGENTD_SRCDIR");
	char *path, *cause = NULL;

	(void)state;
	xasprintf(
	    &path, "%s/agent/prompts/react-v1.txt", dir != NULL ? dir : ".");
	tmpl = agent_template_load(path, &cause);
	free(path);
	if (tmpl == NULL)
		fail_msg("%s", cause);
	memset(&pc, 0, sizeof pc);
	reg = plug_registry_new(&pc, &prov, 1, &cause);
	if (reg == NULL)
		fail_msg("%s", cause);
	set = plug_registry_get(reg);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	/* Abandoned tools must finish before their registry goes. */
	assert_int_equal(agent_tools_drain(5000), 0);
	plug_set_unref(set);
	plug_registry_free(reg);
	free(tmpl);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* Collects events: their types in order and the token text. */
struct events {
	json_t *types;
	struct buf tokens;
	atomic_int *cancel_at_token; /* set cancel when tokens reach n */
	int cancel_after;
	int polls;
};

static void
ev_event(void *arg, const char *type, json_t *fields)
{
	struct events *ev = arg;

	json_array_append_new(ev->types, json_string(type));
	if (strcmp(type, "token") == 0) {
		buf_puts(&ev->tokens,
		    json_string_value(json_object_get(fields, "text")));
		if (ev->cancel_at_token != NULL && --ev->cancel_after == 0)
			atomic_store(ev->cancel_at_token, 1);
	}
	assert_true(json_is_integer(json_object_get(fields, "step")));
	json_decref(fields);
}

static void
ev_poll(void *arg)
{
	((struct events *)arg)->polls++;
}

/* Runs the loop on a script; returns the backend (caller unrefs). */
static void
run(const char *script, struct agent_react_params *p, struct events *ev,
    struct agent_span *parent, struct agent_react_result *res)
{
	struct agent_sink sink = { ev_event, ev_poll, ev };
	struct agent_backend *b;
	char *cause = NULL;

	b = agent_backend_scripted_new(
	    script, strlen(script), "script", &cause);
	if (b == NULL)
		fail_msg("%s", cause);
	p->tmpl = tmpl;
	if (p->input == NULL)
		p->input = "What?";
	if (agent_react_run(
	        b, set, p, ev != NULL ? &sink : NULL, parent, res, &cause) != 0)
		fail_msg("%s", cause);
	agent_backend_unref(b);
}

static const char *
obs_of(const struct agent_react_result *res, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(res->steps, i), "observation"));
}

static uint64_t
now_ms(void)
{
	return clock_mono_ms();
}

/* ---- tests ------------------------------------------------------------- */

static void
test_final_answer(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct events ev;

	(void)state;
	memset(&p, 0, sizeof p);
	memset(&ev, 0, sizeof ev);
	ev.types = json_array();
	buf_init(&ev.tokens, SIZE_MAX);
	atomic_store(&echo_calls, 0);
	run("{\"outputs\": [\"Thought: say it\\nAction: echo\\nAction Input: "
	    "{\\\"text\\\": \\\"line 1\\\\nline 2\\\\n\\\"}\\nObservation: "
	    "fake\", \"Thought: done\\nFinal Answer: two lines\\nmore\"]}",
	    &p, &ev, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.answer, "two lines");
	assert_null(res.error);
	assert_int_equal(res.n_steps, 2);
	assert_int_equal(atomic_load(&echo_calls), 1);
	assert_string_equal(obs_of(&res, 0), "line 1 | line 2");
	/* The tokens streamed are the model's text, the stop excluded. */
	assert_string_equal(ev.tokens.data,
	    "Thought: say it\nAction: echo\nAction Input: {\"text\": \"line "
	    "1\\nline 2\\n\"}Thought: done\nFinal Answer: two lines\n");
	/* The events in order, tokens left out. */
	{
		const char *want[] = { "step", "thought", "action",
			"observation", "step", "thought" };
		size_t i, k = 0;
		json_t *t;

		json_array_foreach(ev.types, i, t)
		{
			if (strcmp(json_string_value(t), "token") == 0)
				continue;
			assert_true(k < sizeof want / sizeof want[0]);
			assert_string_equal(json_string_value(t), want[k]);
			k++;
		}
		assert_int_equal(k, sizeof want / sizeof want[0]);
	}
	assert_true(ev.polls > 0);
	/* The transcript ends with the final line, nothing after it. */
	assert_non_null(strstr(res.transcript,
	    "Observation: line 1 | line 2\nThought: done\nFinal Answer: two "
	    "lines\n"));
	assert_string_equal(
	    res.transcript + strlen(res.transcript) - 10, "two lines\n");
	/* No KV cache: each plan recomputes the whole prompt. */
	assert_true(res.usage.prompt_computed > 0);
	assert_int_equal(res.usage.prompt_reused, 0);
	assert_true(res.usage.completion > 0);
	agent_react_result_clear(&res);
	json_decref(ev.types);
	buf_free(&ev.tokens);
}

static void
test_invalid_actions(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;

	(void)state;
	memset(&p, 0, sizeof p);
	p.max_steps = 10;
	run("{\"outputs\": ["
	    "\"Thought: a\\nAction: nope\\nAction Input: {}\","
	    "\"Thought: b\\nAction: echo\\nAction Input: not json\","
	    "\"Thought: c\\nAction: echo\\nAction Input: {\\\"txt\\\": 1}\","
	    "\"Thought: d\\nAction: fail\\nAction Input: {}\","
	    "\"Thought: e\\nAction: echo\","
	    "\"Thought: f\","
	    "\"Thought: g\\nAction: echo\\nAction Input: {\\\"text\\\": "
	    "\\\"x\\\"}\\nFinal Answer: x\","
	    "\"Thought: h\\nAction: echo\\nAction Input: {\\\"text\\\": "
	    "\\\"1\\\"} trailing\","
	    "\"Final Answer: ok\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(obs_of(&res, 0),
	    "Error: unknown tool 'nope'; valid tools: big, calc, echo, fail, "
	    "slow");
	assert_string_equal(obs_of(&res, 1), AGENT_OBS_NOT_OBJECT);
	assert_string_equal(obs_of(&res, 2),
	    "Error: invalid arguments for echo: $: missing required property "
	    "'text'");
	assert_string_equal(obs_of(&res, 3), "Error: boom | second line");
	assert_string_equal(obs_of(&res, 4), AGENT_OBS_NOT_OBJECT);
	assert_string_equal(obs_of(&res, 5), AGENT_OBS_NO_ACTION);
	assert_string_equal(obs_of(&res, 6), AGENT_OBS_BOTH);
	assert_string_equal(obs_of(&res, 7), AGENT_OBS_NOT_OBJECT);
	/* Raw text is kept when the input was not an object. */
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(res.steps, 1), "action_input")),
	    "not json");
	assert_non_null(strstr(res.transcript,
	    "Thought: f\nObservation: " AGENT_OBS_NO_ACTION "\n"));
	agent_react_result_clear(&res);
}

static void
test_unknown_tool_in_params(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct agent_backend *b;
	const char *tools[] = { "echo", "nope" };
	char *cause = NULL;

	(void)state;
	b = agent_backend_scripted_new("{\"outputs\":[]}", 14, "s", &cause);
	assert_non_null(b);
	memset(&p, 0, sizeof p);
	p.input = "x";
	p.tmpl = tmpl;
	p.tools = tools;
	p.n_tools = 2;
	assert_int_equal(
	    agent_react_run(b, set, &p, NULL, NULL, &res, &cause), -1);
	assert_non_null(strstr(cause, "unknown tool 'nope'"));
	free(cause);
	agent_backend_unref(b);
}

/* A run limited to some tools refuses the others. */
static void
test_tool_subset(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	const char *tools[] = { "echo" };

	(void)state;
	memset(&p, 0, sizeof p);
	p.tools = tools;
	p.n_tools = 1;
	run("{\"outputs\": [\"Action: fail\\nAction Input: {}\", "
	    "\"Final Answer: no\"]}",
	    &p, NULL, NULL, &res);
	assert_string_equal(
	    obs_of(&res, 0), "Error: unknown tool 'fail'; valid tools: echo");
	assert_non_null(
	    strstr(res.transcript, "\necho: The echo test tool. Arguments: "));
	assert_null(strstr(res.transcript, "\nfail: "));
	agent_react_result_clear(&res);
}

static void
test_repeated_and_loop(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	const char *a = "\"Thought: again\\nAction: echo\\nAction Input: "
	                "{\\\"text\\\": \\\"same\\\"}\"";
	char *script;

	(void)state;
	atomic_store(&echo_calls, 0);
	/* One repeat, then a different action, then the answer. */
	xasprintf(&script,
	    "{\"outputs\": [%s, %s, \"Action: echo\\nAction Input: "
	    "{\\\"text\\\": \\\"other\\\"}\", \"Final Answer: y\"]}",
	    a, a);
	memset(&p, 0, sizeof p);
	run(script, &p, NULL, NULL, &res);
	free(script);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(obs_of(&res, 1), AGENT_OBS_REPEATED);
	assert_int_equal(atomic_load(&echo_calls), 2);
	agent_react_result_clear(&res);

	/* Repeating on and on ends the run as loop. */
	xasprintf(&script, "{\"outputs\": [%s, %s, %s, %s, %s, %s]}", a, a, a,
	    a, a, a);
	memset(&p, 0, sizeof p);
	run(script, &p, NULL, NULL, &res);
	free(script);
	assert_int_equal(res.ending, AGENT_END_LOOP);
	assert_int_equal(res.n_steps, 1 + AGENT_LOOP_REPEATS);
	assert_non_null(strstr(res.error, "repeated"));
	assert_null(res.answer);
	agent_react_result_clear(&res);
}

static void
test_max_steps(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;

	(void)state;
	memset(&p, 0, sizeof p);
	p.max_steps = 2;
	run("{\"outputs\": [\"Action: echo\\nAction Input: {\\\"text\\\": "
	    "\\\"1\\\"}\", \"Action: echo\\nAction Input: {\\\"text\\\": "
	    "\\\"2\\\"}\", \"Final Answer: too late\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_MAX_STEPS);
	assert_int_equal(res.n_steps, 2);
	assert_int_equal(json_array_size(res.steps), 2);
	assert_null(res.answer);
	assert_non_null(strstr(res.error, "2 steps"));
	agent_react_result_clear(&res);
}

static void
test_max_tokens(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;

	(void)state;
	/* Cut before the step is complete: the run ends with error. */
	memset(&p, 0, sizeof p);
	p.max_tokens = 4;
	run("{\"outputs\": [\"Thought: this is a very long thought that goes "
	    "on\\nFinal Answer: x\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_ERROR);
	assert_non_null(strstr(res.error, "max_tokens (4)"));
	assert_int_equal(res.usage.completion, 4);
	agent_react_result_clear(&res);

	/* A complete action that was cut right after its input still runs. */
	memset(&p, 0, sizeof p);
	p.max_tokens = 6;
	run("{\"outputs\": [[\"Action: \", \"echo\", \"\\n\", \"Action \", "
	    "\"Input: \", \"{\\\"text\\\": \\\"t\\\"}\", \"\\nThought: "
	    "more\"], \"Final Answer: z\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(obs_of(&res, 0), "t");
	agent_react_result_clear(&res);
}

/* A second action in one step: only the first runs; the rest is cut. */
static void
test_second_action(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;

	(void)state;
	atomic_store(&echo_calls, 0);
	memset(&p, 0, sizeof p);
	run("{\"outputs\": [\"Thought: two\\nAction: echo\\nAction Input: "
	    "{\\\"text\\\": \\\"A\\\"}\\nThought: and\\nAction: echo\\nAction "
	    "Input: {\\\"text\\\": \\\"B\\\"}\", \"Final Answer: A\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_int_equal(atomic_load(&echo_calls), 1);
	assert_string_equal(obs_of(&res, 0), "A");
	if (strstr(res.transcript,
	        "Action Input: {\"text\": \"A\"}\n"
	        "Observation: A\nFinal Answer: A") == NULL)
		fail_msg("%s", res.transcript);
	if (strstr(res.transcript, "\"B\"") != NULL)
		fail_msg("%s", res.transcript);
	agent_react_result_clear(&res);
}

static void
test_backend_failures(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;

	(void)state;
	memset(&p, 0, sizeof p);
	run("{\"outputs\": [{\"error\": \"the model fell over\"}]}", &p, NULL,
	    NULL, &res);
	assert_int_equal(res.ending, AGENT_END_ERROR);
	assert_non_null(strstr(res.error, "the model fell over"));
	agent_react_result_clear(&res);

	memset(&p, 0, sizeof p);
	run("{\"outputs\": [\"Thought: hmm\"]}", &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_ERROR);
	assert_non_null(strstr(res.error, "no output for call 2"));
	assert_string_equal(obs_of(&res, 0), AGENT_OBS_NO_ACTION);
	agent_react_result_clear(&res);
}

/* Sets a flag after a delay, from another thread. */
struct later {
	atomic_int *flag;
	int ms;
	pthread_t tid;
};

static void *
later_thread(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { l->ms / 1000, (long)(l->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	atomic_store(l->flag, 1);
	return NULL;
}

static void
test_cancel_mid_generation(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct events ev;
	atomic_int cancel;
	uint64_t t0;

	(void)state;
	/* Cancelled at the 3rd token: no 4th token is generated. */
	atomic_init(&cancel, 0);
	memset(&ev, 0, sizeof ev);
	ev.types = json_array();
	buf_init(&ev.tokens, SIZE_MAX);
	ev.cancel_at_token = &cancel;
	ev.cancel_after = 3;
	memset(&p, 0, sizeof p);
	p.cancel = &cancel;
	t0 = now_ms();
	run("{\"token_delay_ms\": 20, \"outputs\": [\"one two three four five "
	    "six seven eight nine ten\"]}",
	    &p, &ev, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_CANCELLED);
	assert_string_equal(ev.tokens.data, "one two three ");
	assert_int_equal(res.usage.completion, 3);
	assert_true(now_ms() - t0 < 1000);
	agent_react_result_clear(&res);
	json_decref(ev.types);
	buf_free(&ev.tokens);
}

static void
test_cancel_mid_tool(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct later l;
	atomic_int cancel;
	uint64_t t0, took;

	(void)state;
	atomic_init(&cancel, 0);
	l.flag = &cancel;
	l.ms = 100;
	memset(&p, 0, sizeof p);
	p.cancel = &cancel;
	p.tool_timeout_ms = 5000;
	t0 = now_ms();
	assert_int_equal(pthread_create(&l.tid, NULL, later_thread, &l), 0);
	run("{\"outputs\": [\"Action: slow\\nAction Input: {\\\"ms\\\": "
	    "1500}\", \"Final Answer: never\"]}",
	    &p, NULL, NULL, &res);
	took = now_ms() - t0;
	pthread_join(l.tid, NULL);
	assert_int_equal(res.ending, AGENT_END_CANCELLED);
	/* Abandoned: the loop did not wait for the 1.5 s tool. */
	assert_true(took < 1300);
	assert_int_equal(atomic_load(&slow_running), 1);
	assert_non_null(strstr(res.error, "tool 'slow'"));
	agent_react_result_clear(&res);
	assert_int_equal(agent_tools_drain(5000), 0);
	assert_int_equal(atomic_load(&slow_running), 0);
}

static void
test_timeouts(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	uint64_t t0, took;

	(void)state;
	/* The run's deadline passes while the model writes. */
	memset(&p, 0, sizeof p);
	t0 = now_ms();
	p.deadline_ns = clock_mono_ns() + 150 * 1000000ull;
	run("{\"token_delay_ms\": 50, \"outputs\": [\"a b c d e f g h i j k l "
	    "m n o p q r s t\"]}",
	    &p, NULL, NULL, &res);
	took = now_ms() - t0;
	assert_int_equal(res.ending, AGENT_END_TIMEOUT);
	assert_true(took >= 140 && took < 1200);
	agent_react_result_clear(&res);

	/* A tool past its own limit is abandoned; the run goes on. */
	memset(&p, 0, sizeof p);
	p.tool_timeout_ms = 100;
	t0 = now_ms();
	run("{\"outputs\": [\"Action: slow\\nAction Input: {\\\"ms\\\": "
	    "1500}\", \"Final Answer: gave up\"]}",
	    &p, NULL, NULL, &res);
	took = now_ms() - t0;
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(
	    obs_of(&res, 0), "Error: tool 'slow' timed out after 100 ms");
	assert_true(took < 1300);
	agent_react_result_clear(&res);

	/* The run's deadline passes during a tool call. */
	memset(&p, 0, sizeof p);
	p.tool_timeout_ms = 5000;
	p.deadline_ns = clock_mono_ns() + 100 * 1000000ull;
	run("{\"outputs\": [\"Action: slow\\nAction Input: {\\\"ms\\\": "
	    "1000}\", \"Final Answer: late\"]}",
	    &p, NULL, NULL, &res);
	assert_int_equal(res.ending, AGENT_END_TIMEOUT);
	agent_react_result_clear(&res);
	assert_int_equal(agent_tools_drain(5000), 0);
}

/* Observations are cut to their first line, oldest first, then omitted. */
static void
test_context_shortening(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct buf s;
	char *script;
	uint32_t prompt;
	struct agent_backend *b;
	char *cause = NULL, *tools, *text;

	(void)state;
	/* How big the prompt is, in scripted tokens. */
	b = agent_backend_scripted_new("{\"outputs\":[]}", 14, "s", &cause);
	tools = plug_set_prompt(set, NULL, 0, &cause);
	text = agent_prompt_render(tmpl, tools, "What?");
	prompt = agent_backend_count(b, text, strlen(text));
	free(text);
	free(tools);
	agent_backend_unref(b);

	/*
	 * Each step: about 7 tokens of action and 30 of observation (of
	 * which the first line is 2).  Room: the prompt, the reserve of
	 * 40 and about 4 whole steps.
	 */
	buf_init(&s, SIZE_MAX);
	buf_printf(&s, "{\"n_ctx\": %u, \"outputs\": [", prompt + 40 + 150);
	for (int i = 0; i < 6; i++)
		buf_printf(
		    &s, "\"Action: big\\nAction Input: {\\\"id\\\": %d}\",", i);
	buf_puts(&s, "\"Final Answer: done\"]}");
	script = buf_steal(&s);
	memset(&p, 0, sizeof p);
	p.max_tokens = 40;
	p.max_steps = 10;
	run(script, &p, NULL, NULL, &res);
	free(script);
	if (res.ending != AGENT_END_FINAL_ANSWER)
		fprintf(stderr, "%s\n%s\n", res.error, res.transcript), fail();
	/* The oldest observations were cut to their first line ... */
	assert_non_null(
	    strstr(res.transcript, "Observation: first 0\nAction: big"));
	/* ... the newest kept whole, and the result keeps them all whole. */
	assert_non_null(strstr(res.transcript,
	    "Observation: first 5 |  a b c d e f g h i j k l m n o p q r s t u "
	    "v w x y z\n"));
	assert_string_equal(obs_of(&res, 0),
	    "first 0 |  a b c d e f g h i j k l m n o p q r s t u v w x y z");
	/* Cut in order: whole observations never precede cut ones. */
	{
		const char *c =
		    strstr(res.transcript, "Observation: first 0\n");
		const char *w =
		    strstr(res.transcript, "Observation: first 1 | ");

		assert_non_null(c);
		if (w != NULL)
			assert_true(w > c);
	}
	agent_react_result_clear(&res);

	/* Not even shortened does it fit: the run ends with error. */
	buf_init(&s, SIZE_MAX);
	buf_printf(&s, "{\"n_ctx\": %u, \"outputs\": [", prompt + 20 + 12);
	for (int i = 0; i < 4; i++)
		buf_printf(&s,
		    "\"Action: echo\\nAction Input: {\\\"text\\\": "
		    "\\\"%d\\\"}\",",
		    i);
	buf_puts(&s, "\"Final Answer: done\"]}");
	script = buf_steal(&s);
	memset(&p, 0, sizeof p);
	p.max_tokens = 20;
	run(script, &p, NULL, NULL, &res);
	free(script);
	assert_int_equal(res.ending, AGENT_END_ERROR);
	assert_non_null(strstr(res.error, "does not fit"));
	assert_non_null(strstr(res.transcript, "Observation: [omitted]\n"));
	agent_react_result_clear(&res);
}

/* The spans of one run: step, observe, plan, llm, act, parse, tool. */
static void
test_trace_phases(void **state)
{
	struct agent_react_params p;
	struct agent_react_result res;
	struct agent_tracer *tr;
	struct agent_span *root;
	char dir[] = "/tmp/test-agent-react-XXXXXX", *path, *cause = NULL;
	json_t *spans, *v, *attrs;
	size_t i, skipped = 9;
	int kinds[8] = { 0 }, found_tool = 0, found_llm = 0;
	enum agent_span_kind k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	tr = agent_tracer_new(dir, 0, &cause);
	assert_non_null(tr);
	root = agent_span_root(tr, "invoke_agent test", AGENT_SPAN_RUN, NULL);
	xasprintf(&path, "%s/%s.jsonl", dir, agent_span_trace_id(root));
	memset(&p, 0, sizeof p);
	run("{\"outputs\": [\"Thought: t\\nAction: echo\\nAction Input: "
	    "{\\\"text\\\": \\\"o\\\"}\", \"Final Answer: f\"]}",
	    &p, NULL, root, &res);
	agent_span_end(root);
	agent_react_result_clear(&res);

	spans = agent_trace_read(path, &skipped, &cause);
	assert_non_null(spans);
	assert_int_equal(skipped, 0);
	json_array_foreach(spans, i, v)
	{
		assert_int_equal(
		    agent_span_kind_parse(
		        json_string_value(json_object_get(v, "kind")), &k),
		    0);
		kinds[k]++;
		attrs = json_object_get(v, "attributes");
		if (k == AGENT_SPAN_TOOL) {
			found_tool = 1;
			assert_string_equal(json_string_value(json_object_get(
			                        attrs, "gen_ai.tool.name")),
			    "echo");
			assert_string_equal(
			    json_string_value(json_object_get(
			        attrs, "gen_ai.operation.name")),
			    "execute_tool");
			assert_string_equal(
			    json_string_value(json_object_get(
			        attrs, "gen_ai.tool.call.result")),
			    "o");
		}
		if (k == AGENT_SPAN_LLM) {
			found_llm = 1;
			assert_true(json_is_integer(json_object_get(
			    attrs, "gen_ai.usage.output_tokens")));
			assert_string_equal(json_string_value(json_object_get(
			                        attrs, "gen_ai.request.model")),
			    "scripted");
		}
	}
	assert_true(found_tool && found_llm);
	assert_int_equal(kinds[AGENT_SPAN_RUN], 1);
	assert_int_equal(kinds[AGENT_SPAN_LLM], 2);
	assert_int_equal(kinds[AGENT_SPAN_PARSE], 2);
	assert_int_equal(kinds[AGENT_SPAN_TOOL], 1);
	/* 2 steps, each with observe, plan and act. */
	assert_int_equal(kinds[AGENT_SPAN_STEP], 2 * 4);
	json_decref(spans);
	agent_tracer_free(tr);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_final_answer),
		cmocka_unit_test(test_invalid_actions),
		cmocka_unit_test(test_unknown_tool_in_params),
		cmocka_unit_test(test_tool_subset),
		cmocka_unit_test(test_repeated_and_loop),
		cmocka_unit_test(test_max_steps),
		cmocka_unit_test(test_max_tokens),
		cmocka_unit_test(test_second_action),
		cmocka_unit_test(test_backend_failures),
		cmocka_unit_test(test_cancel_mid_generation),
		cmocka_unit_test(test_cancel_mid_tool),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_context_shortening),
		cmocka_unit_test(test_trace_phases),
	};

	log_level = LOG_LEVEL_ERR;
	return cmocka_run_group_tests(tests, setup, teardown);
}
