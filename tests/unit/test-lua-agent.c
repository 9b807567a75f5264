/*
 * test-lua-agent.c: Lua agents (lua/agent.c) on a scripted ctx.
 *
 * The ctx callbacks here play the model, the tools and the ReAct loop
 * from queues of canned replies, and write down every call, event and
 * span, so a test can check both an agent's answer and the path it took.
 * The two shipped agents (lua/agents/) are run through their branches,
 * and small inline agents check the ctx API's argument rules, its
 * read-only table, spans under errors and yields, cancellation and
 * limits.
 */
#include <sys/stat.h>

#include <ftw.h>
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

#include "daemon/util.h"
#include "lua/script.h"

/* The scripted run: canned replies in, a record of calls out. */
struct fake {
	const char *chat[8]; /* replies to generate and chat, in turn */
	size_t n_chat;
	const char *react[8]; /* react results as JSON text, in turn */
	size_t n_react;
	int fail_tool;     /* tool() returns -1 */
	atomic_int cancel; /* set by generate() when cancel_in_gen */
	int cancel_in_gen;

	struct buf log; /* one line per call */
	json_t *events; /* what emit() received */
	json_t *last_messages;
	struct script_gen_req last_req;
	char *last_stop[4];
	int spans_open;
	int spans_max;
};

static char tmpdir[64];

static void
fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	buf_init(&f->log, 1 << 20);
	f->events = json_array();
	atomic_init(&f->cancel, 0);
}

static void
fake_free(struct fake *f)
{
	buf_free(&f->log);
	json_decref(f->events);
	json_decref(f->last_messages);
	for (size_t i = 0; i < 4; i++)
		free(f->last_stop[i]);
}

static int
fake_gen(void *arg, const struct script_gen_req *req,
    struct script_gen_res *res, char **cause)
{
	struct fake *f = arg;
	const json_t *m;
	size_t i;

	if (req->prompt != NULL)
		buf_printf(&f->log, "generate %s\n", req->prompt);
	else {
		buf_printf(&f->log, "chat");
		json_array_foreach(req->messages, i, m) buf_printf(&f->log,
		    " [%s] %s", json_string_value(json_object_get(m, "role")),
		    json_string_value(json_object_get(m, "content")));
		buf_printf(&f->log, "\n");
		json_decref(f->last_messages);
		f->last_messages = json_deep_copy(req->messages);
	}
	f->last_req = *req;
	for (i = 0; i < 4; i++) {
		free(f->last_stop[i]);
		f->last_stop[i] =
		    i < req->n_stop ? xstrdup(req->stop[i]) : NULL;
	}
	if (f->cancel_in_gen)
		atomic_store(&f->cancel, 1);
	if (f->n_chat == 0) {
		*cause = xstrdup("the scripted model has no more replies");
		return -1;
	}
	res->text = xstrdup(f->chat[0]);
	memmove(f->chat, f->chat + 1, --f->n_chat * sizeof f->chat[0]);
	snprintf(res->finish, sizeof res->finish, "stop");
	res->prompt_tokens = 11;
	res->completion_tokens = 7;
	return 0;
}

static int
fake_tool(void *arg, const char *name, const json_t *args,
    struct script_result *res, char **cause)
{
	struct fake *f = arg;
	char *a = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);

	buf_printf(&f->log, "tool %s %s\n", name, a);
	free(a);
	if (f->fail_tool) {
		*cause = xstrdup("the registry is gone");
		return -1;
	}
	if (strcmp(name, "calc") != 0) {
		xasprintf(&res->text, "unknown tool '%s'", name);
		res->len = strlen(res->text);
		res->is_error = 1;
		return 0;
	}
	res->text = xstrdup("3");
	res->len = 1;
	return 0;
}

static int
fake_react(void *arg, const struct script_react_req *req, json_t **result,
    char **cause)
{
	struct fake *f = arg;

	buf_printf(&f->log, "react %s | max_steps=%u tools=%zu", req->input,
	    req->max_steps, req->n_tools);
	for (size_t i = 0; i < req->n_tools; i++)
		buf_printf(&f->log, " %s", req->tools[i]);
	buf_printf(&f->log, "\n");
	if (f->n_react == 0) {
		*cause = xstrdup("no scripted loop result");
		return -1;
	}
	*result = json_loads(f->react[0], 0, NULL);
	assert_non_null(*result);
	memmove(f->react, f->react + 1, --f->n_react * sizeof f->react[0]);
	return 0;
}

/* Logs the strategy object as compact JSON, then answers as react. */
static int
fake_strategy(void *arg, const struct script_react_req *req,
    const json_t *strategy, json_t **result, char **cause)
{
	struct fake *f = arg;
	char *s = json_dumps(strategy, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	buf_printf(&f->log, "strategy %s ", s);
	free(s);
	return fake_react(arg, req, result, cause);
}

static json_t *
fake_tools(void *arg, char **cause)
{
	struct fake *f = arg;

	(void)cause;
	buf_printf(&f->log, "tools\n");
	return json_pack("[{s:s, s:s, s:{}}, {s:s, s:s, s:{}}]", "name", "calc",
	    "description",
	    "Evaluates an arithmetic expression with + - * / % ^ and "
	    "parentheses.",
	    "parameters", "name", "kb_search", "description",
	    "Searches the knowledge base and returns the best matching "
	    "passages.",
	    "parameters");
}

static int
fake_emit(void *arg, json_t *event, char **cause)
{
	struct fake *f = arg;

	(void)cause;
	json_array_append_new(f->events, event);
	return 0;
}

static int
fake_span_begin(void *arg, const char *name, void **span, char **cause)
{
	struct fake *f = arg;

	(void)cause;
	buf_printf(&f->log, "span+ %s\n", name);
	*span = xstrdup(name);
	if (++f->spans_open > f->spans_max)
		f->spans_max = f->spans_open;
	return 0;
}

static void
fake_span_end(void *arg, void *span, const char *error)
{
	struct fake *f = arg;

	buf_printf(&f->log, "span- %s%s%s\n", (char *)span,
	    error != NULL ? " ERROR " : "", error != NULL ? error : "");
	free(span);
	f->spans_open--;
}

static const struct script_ctx_ops fake_ops = {
	.generate = fake_gen,
	.chat = fake_gen,
	.tool = fake_tool,
	.react = fake_react,
	.tools = fake_tools,
	.emit = fake_emit,
	.span_begin = fake_span_begin,
	.span_end = fake_span_end,
	.strategy = fake_strategy,
};

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *w)
{
	(void)st;
	(void)flag;
	(void)w;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/agentd-lua-agent-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct script_agent *
load_shipped(const char *name)
{
	char path[4096], *cause = NULL;
	const char *src = getenv("AGENTD_SRCDIR");
	struct script_agent *a;

	snprintf(path, sizeof path, "%s/lua/agents/%s", src != NULL ? src : ".",
	    name);
	a = script_agent_load(path, NULL, NULL, &cause);
	if (a == NULL)
		fail_msg("%s", cause);
	return a;
}

/* An agent whose run(task, ctx) is body. */
static struct script_agent *
agent_with(const char *body, const struct script_limits *limits)
{
	char path[256], *text, *cause = NULL;
	struct script_agent *a;
	FILE *fp;

	snprintf(path, sizeof path, "%s/inline.lua", tmpdir);
	xasprintf(&text,
	    "return { name = \"inline\", description = \"Test agent.\",\n"
	    "run = function(task, ctx)\n%s\nend }\n",
	    body);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(text);
	a = script_agent_load(path, limits, NULL, &cause);
	if (a == NULL)
		fail_msg("%s", cause);
	return a;
}

/* Runs a; returns 0 with *answer or -1 with *cause. */
static int
run(struct script_agent *a, struct fake *f, const char *task,
    const struct script_ctx_ops *ops, char **answer, char **cause,
    enum script_stop *stop)
{
	struct script_call call = { .cancel = &f->cancel };

	*answer = NULL;
	*cause = NULL;
	return script_agent_run(a, task, ops, f, &call, answer, stop, cause);
}

/* Runs an inline agent and wants its answer. */
static void
expect_answer(const char *body, const char *want)
{
	struct script_agent *a = agent_with(body, NULL);
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	fake_init(&f);
	if (run(a, &f, "task", &fake_ops, &answer, &cause, &stop) != 0)
		fail_msg("%s\n  failed: %s", body, cause);
	if (strcmp(answer, want) != 0)
		fail_msg("%s\n  got  %s\n  want %s", body, answer, want);
	assert_int_equal(f.spans_open, 0);
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

/* Runs an inline agent and wants it to fail with want in the cause. */
static void
expect_failure(const char *body, const char *want)
{
	struct script_agent *a = agent_with(body, NULL);
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	fake_init(&f);
	if (run(a, &f, "task", &fake_ops, &answer, &cause, &stop) == 0)
		fail_msg("%s\n  answered %s", body, answer);
	assert_null(answer);
	if (strstr(cause, want) == NULL)
		fail_msg("%s\n  got  %s\n  want %s", body, cause, want);
	assert_int_equal(f.spans_open, 0);
	free(cause);
	fake_free(&f);
	script_agent_unref(a);
}

static json_t *
event(struct fake *f, size_t i)
{
	json_t *e = json_array_get(f->events, i);

	assert_non_null(e);
	return e;
}

/* ---- plan_execute ------------------------------------------------------ */

static void
test_plan_execute(void **state)
{
	struct script_agent *a = load_shipped("plan_execute.lua");
	struct fake f;
	char *answer, *cause, *s;
	enum script_stop stop;

	(void)state;
	assert_string_equal(script_agent_name(a), "plan_execute");
	fake_init(&f);
	f.chat[f.n_chat++] = "Here is the plan:\n1. Find the population of "
	                     "Paris.\n2) Double it.\nThat is all.";
	f.chat[f.n_chat++] = "  About 4.2 million people.\n";
	f.react[f.n_react++] = "{\"answer\": \"2.1 million\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	f.react[f.n_react++] = "{\"answer\": \"4.2 million\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	assert_int_equal(run(a, &f,
	                     "How many people would Paris have if it "
	                     "doubled?",
	                     &fake_ops, &answer, &cause, &stop),
	    0);
	assert_string_equal(answer, "About 4.2 million people.");
	assert_int_equal(stop, SCRIPT_STOP_NONE);
	free(answer);

	/* The path: plan (with the tool list), two steps, the answer. */
	assert_string_equal(f.log.data,
	    "span+ plan\n"
	    "tools\n"
	    "chat [system] You plan tasks for an assistant that can use "
	    "these tools:\n"
	    "- calc: Evaluates an arithmetic expression with + - * / % ^ and "
	    "parentheses.\n"
	    "- kb_search: Searches the knowledge base and returns the best "
	    "matching passages.\n"
	    "Reply with a numbered list of at most 5 short steps, one per "
	    "line, and nothing else. Use one step when the task is simple. "
	    "[user] How many people would Paris have if it doubled?\n"
	    "span- plan\n"
	    "span+ step 1\n"
	    "react Find the population of Paris. | max_steps=4 tools=0\n"
	    "span- step 1\n"
	    "span+ step 2\n"
	    "react Task: How many people would Paris have if it doubled?\n"
	    "Earlier findings:\n"
	    "Step 1 (Find the population of Paris.): 2.1 million\n"
	    "Now do this step: Double it. | max_steps=4 tools=0\n"
	    "span- step 2\n"
	    "span+ answer\n"
	    "chat [system] Answer the task from the findings. Reply with the "
	    "answer only, in one short paragraph. [user] Task: How many "
	    "people would Paris have if it doubled?\n"
	    "Findings:\n"
	    "Step 1 (Find the population of Paris.): 2.1 million\n"
	    "Step 2 (Double it.): 4.2 million\n"
	    "span- answer\n");
	assert_int_equal(f.last_req.max_tokens, 256);
	assert_true(f.last_req.has_temperature);
	assert_true(f.last_req.temperature == 0.0);

	/* The events: the plan, then one result per step. */
	assert_int_equal(json_array_size(f.events), 3);
	s = json_dumps(f.events, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
	    "[{\"steps\":[\"Find the population of Paris.\",\"Double it.\"],"
	    "\"type\":\"plan\"},"
	    "{\"answer\":\"2.1 million\",\"ending\":\"final_answer\","
	    "\"index\":1,\"step\":\"Find the population of Paris.\","
	    "\"type\":\"step_result\"},"
	    "{\"answer\":\"4.2 million\",\"ending\":\"final_answer\","
	    "\"index\":2,\"step\":\"Double it.\",\"type\":\"step_result\"}]");
	free(s);
	fake_free(&f);
	script_agent_unref(a);
}

/* No numbered plan: the task itself is the one step and its answer. */
static void
test_plan_execute_no_plan(void **state)
{
	struct script_agent *a = load_shipped("plan_execute.lua");
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	fake_init(&f);
	f.chat[f.n_chat++] = "Just compute it.";
	f.react[f.n_react++] = "{\"answer\": \"42\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	assert_int_equal(
	    run(a, &f, "What is 6*7?", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "42");
	assert_non_null(strstr(f.log.data, "react What is 6*7? | max_steps=4"));
	/* No summary call: one chat only. */
	assert_null(strstr(f.log.data, "span+ answer"));
	assert_int_equal(f.n_chat, 0);
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

/* Long plans are cut to 5 steps; a step without an answer says why. */
static void
test_plan_execute_limits(void **state)
{
	struct script_agent *a = load_shipped("plan_execute.lua");
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	fake_init(&f);
	f.chat[f.n_chat++] = "1. a\n2. b\n3. c\n4. d\n5. e\n6. f\n7. g";
	f.chat[f.n_chat++] = "done";
	for (int i = 0; i < 5; i++)
		f.react[f.n_react++] = "{\"answer\": null, \"ending\": "
		                       "\"max_steps\", \"steps\": []}";
	assert_int_equal(run(a, &f, "T", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "done");
	assert_non_null(strstr(f.log.data, "span+ step 5\n"));
	assert_null(strstr(f.log.data, "span+ step 6\n"));
	assert_non_null(
	    strstr(f.log.data, "Step 5 (e): no result (max_steps)"));
	assert_int_equal(json_array_size(f.events), 6);
	free(answer);

	/* A model that fails: the error names ctx.chat and the span ends. */
	fake_free(&f);
	fake_init(&f);
	assert_int_equal(
	    run(a, &f, "T", &fake_ops, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause,
	    "ctx.chat: the scripted model has no "
	    "more replies"));
	assert_non_null(strstr(f.log.data, "span- plan ERROR "));
	assert_int_equal(f.spans_open, 0);
	free(cause);
	fake_free(&f);
	script_agent_unref(a);
}

/* ---- critic_revise ---------------------------------------------------- */

static void
test_critic_accepts(void **state)
{
	struct script_agent *a = load_shipped("critic_revise.lua");
	struct fake f;
	char *answer, *cause, *s;
	enum script_stop stop;

	(void)state;
	assert_string_equal(script_agent_name(a), "critic_revise");
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": \"42\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	f.chat[f.n_chat++] = " ok. ";
	assert_int_equal(
	    run(a, &f, "What is 6*7?", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "42");
	s = json_dumps(f.events, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
	    "[{\"answer\":\"42\",\"ending\":\"final_answer\",\"type\":"
	    "\"draft\"},{\"round\":1,\"type\":\"accepted\"}]");
	free(s);
	assert_string_equal(f.log.data,
	    "span+ draft\n"
	    "react What is 6*7? | max_steps=0 tools=0\n"
	    "span- draft\n"
	    "span+ critique 1\n"
	    "chat [system] You review answers. If the answer is correct, "
	    "complete and answers the task directly, reply with exactly OK. "
	    "Otherwise list its problems briefly. [user] Task: What is 6*7?\n"
	    "Answer: 42\n"
	    "span- critique 1\n");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

static void
test_critic_revises(void **state)
{
	struct script_agent *a = load_shipped("critic_revise.lua");
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": \"42\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	f.chat[f.n_chat++] = "The unit is missing.";
	f.chat[f.n_chat++] = "42 km";
	f.chat[f.n_chat++] = "OK";
	assert_int_equal(
	    run(a, &f, "How far?", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "42 km");
	assert_non_null(strstr(f.log.data,
	    "chat [system] You improve answers. Fix every problem the review "
	    "lists and reply with the improved answer only. [user] Task: How "
	    "far?\nAnswer: 42\nReview: The unit is missing.\n"));
	assert_string_equal(
	    json_string_value(json_object_get(event(&f, 1), "type")),
	    "critique");
	assert_string_equal(
	    json_string_value(json_object_get(event(&f, 2), "answer")),
	    "42 km");
	assert_string_equal(
	    json_string_value(json_object_get(event(&f, 3), "type")),
	    "accepted");
	free(answer);
	fake_free(&f);

	/* A critic that is never satisfied: two rounds, then the last. */
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": \"a\", \"ending\": "
	                       "\"final_answer\", \"steps\": []}";
	f.chat[f.n_chat++] = "Wrong.";
	f.chat[f.n_chat++] = "b";
	f.chat[f.n_chat++] = "Still wrong.";
	f.chat[f.n_chat++] = "c";
	f.chat[f.n_chat++] = "unused";
	assert_int_equal(run(a, &f, "T", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "c");
	assert_int_equal(f.n_chat, 1);
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

/* When the loop gives no answer, the draft comes from the model. */
static void
test_critic_fallback(void **state)
{
	struct script_agent *a = load_shipped("critic_revise.lua");
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": null, \"ending\": \"loop\", "
	                       "\"steps\": []}";
	f.chat[f.n_chat++] = "  direct answer ";
	f.chat[f.n_chat++] = "OK";
	assert_int_equal(
	    run(a, &f, "Q?", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "direct answer");
	assert_non_null(strstr(f.log.data,
	    "span+ draft fallback\nchat [user] "
	    "Q?\n"));
	assert_string_equal(
	    json_string_value(json_object_get(event(&f, 0), "ending")), "loop");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

/* ---- the ctx API --------------------------------------------------------- */

static void
test_ctx_requests(void **state)
{
	struct script_agent *a;
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	/* generate: every field reaches the callback; info comes back. */
	a = agent_with("local text, info = ctx.generate{ prompt = 'P', "
	               "max_tokens = 9, stop = { '\\n', 'END' }, temperature "
	               "= 0.5 }\n"
	               "return text .. ' ' .. info.finish .. ' ' .. "
	               "info.prompt_tokens .. ' ' .. info.completion_tokens",
	    NULL);
	fake_init(&f);
	f.chat[f.n_chat++] = "reply";
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "reply stop 11 7");
	assert_int_equal(f.last_req.max_tokens, 9);
	assert_int_equal(f.last_req.n_stop, 2);
	assert_string_equal(f.last_stop[0], "\n");
	assert_string_equal(f.last_stop[1], "END");
	assert_true(f.last_req.has_temperature);
	assert_true(f.last_req.temperature == 0.5);
	assert_string_equal(f.log.data, "generate P\n");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);

	/* Defaults: nothing but the prompt. */
	a = agent_with(
	    "return (ctx.generate{ prompt = 'Q', stop = 'x' })", NULL);
	fake_init(&f);
	f.chat[f.n_chat++] = "r";
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_int_equal(f.last_req.max_tokens, 0);
	assert_false(f.last_req.has_temperature);
	assert_int_equal(f.last_req.n_stop, 1);
	assert_string_equal(f.last_stop[0], "x");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);

	expect_answer("local out, err = ctx.tool('calc', { expression = "
	              "'1+2' })\n"
	              "local bad, err2 = ctx.tool('nope')\n"
	              "return out .. ' ' .. tostring(err) .. ' ' .. bad .. ' ' "
	              ".. tostring(err2)",
	    "3 false unknown tool 'nope' true");
	a = agent_with(
	    "local r = ctx.react{ input = 'x', tools = { 'calc', "
	    "'kb_search' }, max_steps = 3 }\n"
	    "return r.answer .. ' ' .. r.ending .. ' ' .. #r.steps .. "
	    "' ' .. r.steps[1].action",
	    NULL);
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": \"4\", \"ending\": "
	                       "\"final_answer\", \"steps\": [{\"action\": "
	                       "\"calc\"}]}";
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "4 final_answer 1 calc");
	assert_string_equal(
	    f.log.data, "react x | max_steps=3 tools=2 calc kb_search\n");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
	expect_answer("local tools = ctx.tools()\n"
	              "return #tools .. ' ' .. tools[2].name .. ' ' .. "
	              "agentd.json_encode(tools[1].parameters)",
	    "2 kb_search {}");
	expect_answer("ctx.emit{ type = 'note', n = 1 }; return 'ok'", "ok");
	expect_answer("return ctx.span('s', function(a, b) return a + b end, "
	              "2, 3)",
	    "5");
	expect_answer(
	    "local ok, err = pcall(ctx.span, 's', error, 'inner', 0)\n"
	    "return tostring(ok) .. ' ' .. err",
	    "false inner");
	expect_answer("return 12.5", "12.5");
	expect_answer("return task .. '!'", "task!");
}

static void
test_ctx_errors(void **state)
{
	(void)state;
	expect_failure(
	    "ctx.generate = nil", "attempt to modify read-only table 'ctx'");
	expect_failure(
	    "rawset(ctx, 'tool', print)", "rawset: the table is read-only");
	expect_failure(
	    "setmetatable(ctx, nil)", "cannot change a protected metatable");
	expect_failure("ctx.generate{ prompt = 'x', max_token = 5 }",
	    "ctx.generate: unknown field 'max_token'");
	expect_failure(
	    "ctx.generate{}", "ctx.generate: prompt must be a string");
	expect_failure("ctx.generate('x')",
	    "bad argument #1 to 'generate' "
	    "(table expected, got string)");
	expect_failure("ctx.generate{ prompt = 'x', max_tokens = 0 }",
	    "ctx.generate: max_tokens must be an integer from 1 to 1000000");
	expect_failure("ctx.generate{ prompt = 'x', max_tokens = 1.5 }",
	    "ctx.generate: max_tokens must be an integer");
	expect_failure("ctx.generate{ prompt = 'x', temperature = -1 }",
	    "ctx.generate: temperature must be from 0 to 10");
	expect_failure("ctx.generate{ prompt = 'x', stop = { 'a', 1 } }",
	    "ctx.generate: stop[2] must be a string");
	expect_failure("ctx.generate{ prompt = 'x', stop = { '' } }",
	    "ctx.generate: stop strings must not be empty");
	expect_failure("ctx.generate{ prompt = 'x', stop = { 'a', 'b', 'c', "
	               "'d', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', "
	               "'n', 'o', 'p', 'q' } }",
	    "ctx.generate: stop has more than 16 entries");
	expect_failure("ctx.generate{ prompt = 'a\\0b' }",
	    "ctx.generate: prompt must be at most");
	expect_failure("ctx.chat{ messages = {} }",
	    "ctx.chat: messages must be a non-empty array");
	expect_failure("ctx.chat{ messages = { { role = 'user' } } }",
	    "ctx.chat: messages[1] must be a {role=, content=} table of "
	    "strings");
	expect_failure("ctx.chat{ messages = { { role = 'user', content = "
	               "'x', extra = 1 } } }",
	    "ctx.chat: messages[1] must be a {role=, content=} table");
	expect_failure(
	    "ctx.chat{ prompt = 'x' }", "ctx.chat: unknown field 'prompt'");
	expect_failure("ctx.tool('calc', { 1, 2 })",
	    "ctx.tool: args must be a table with string keys");
	expect_failure("ctx.tool('')",
	    "ctx.tool: the tool name must be 1 to "
	    "128 bytes");
	expect_failure(
	    "ctx.react{ tools = {} }", "ctx.react: input must be a string");
	expect_failure("ctx.react{ input = 'x', max_steps = 1000 }",
	    "ctx.react: max_steps must be an integer from 1 to 100");
	expect_failure(
	    "ctx.react{ input = 'x' }", "ctx.react: no scripted loop result");
	expect_failure("ctx.emit{ kind = 'x' }",
	    "ctx.emit: the event must be a table with a string field 'type'");
	expect_failure("ctx.emit{ type = 'x', f = print }",
	    "json: $.f: cannot encode a function value");
	expect_failure("ctx.span('s', 'not a function')",
	    "bad argument #2 to 'span' (function expected, got string)");
	expect_failure("return nil",
	    "run returned nothing; it must return "
	    "the answer as a string");
	expect_failure("return {}",
	    "run must return the answer as a string, "
	    "not a table value");
	expect_failure("return '\\255'", "the answer is not valid UTF-8 text");
	expect_failure("error({})", "(error object is a table value)");
	/* Messages go into JSON: bytes that are not UTF-8 are replaced. */
	expect_failure("error('bad \\255 byte', 0)", "bad ? byte");
	expect_failure("return undefined_name",
	    "undefined global "
	    "'undefined_name'");
}

/* Spans end exactly once, whatever their function does. */
static void
test_spans(void **state)
{
	struct script_agent *a;
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	/* An error inside nested spans ends both, innermost first. */
	a = agent_with("return ctx.span('outer', function()\n"
	               "  return ctx.span('inner', function() error('deep', 0) "
	               "end)\nend)",
	    NULL);
	fake_init(&f);
	assert_int_equal(
	    run(a, &f, "t", &fake_ops, &answer, &cause, &stop), -1);
	assert_string_equal(cause, "deep");
	assert_string_equal(f.log.data,
	    "span+ outer\nspan+ inner\nspan- inner ERROR deep\n"
	    "span- outer ERROR deep\n");
	free(cause);
	fake_free(&f);
	script_agent_unref(a);

	/* A yield from inside a span is refused, and the span still ends. */
	a = agent_with("local co = coroutine.wrap(function()\n"
	               "  return ctx.span('s', function() coroutine.yield(1) "
	               "end)\nend)\n"
	               "return co()",
	    NULL);
	fake_init(&f);
	assert_int_equal(
	    run(a, &f, "t", &fake_ops, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause,
	    "attempt to yield across a C-call "
	    "boundary"));
	assert_non_null(strstr(f.log.data, "span- s ERROR "));
	assert_int_equal(f.spans_open, 0);
	free(cause);
	fake_free(&f);
	script_agent_unref(a);

	/* Spans recursing without end hit Lua's C stack limit. */
	a = agent_with("local function down() return ctx.span('r', down) end\n"
	               "return down()",
	    NULL);
	fake_init(&f);
	assert_int_equal(
	    run(a, &f, "t", &fake_ops, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause, "stack overflow"));
	assert_int_equal(f.spans_open, 0);
	assert_true(f.spans_max > 10);
	free(cause);
	fake_free(&f);
	script_agent_unref(a);

	/* An instruction limit inside a span ends it with the limit. */
	{
		struct script_limits limits = { .max_instructions = 100000 };

		a = agent_with("return ctx.span('busy', function() while true "
		               "do end end)",
		    &limits);
	}
	fake_init(&f);
	assert_int_equal(
	    run(a, &f, "t", &fake_ops, &answer, &cause, &stop), -1);
	assert_int_equal(stop, SCRIPT_STOP_INSTRUCTIONS);
	assert_string_equal(cause, "instruction limit of 100000 exceeded");
	assert_string_equal(f.log.data,
	    "span+ busy\nspan- busy ERROR "
	    "instruction limit of 100000 "
	    "exceeded\n");
	free(cause);
	fake_free(&f);
	script_agent_unref(a);
}

/* A cancel that arrives during a model call stops the run right after. */
static void
test_cancel(void **state)
{
	struct script_agent *a;
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	a = agent_with("local ok = pcall(ctx.generate, { prompt = 'p' })\n"
	               "while true do end",
	    NULL);
	fake_init(&f);
	f.chat[f.n_chat++] = "r";
	f.cancel_in_gen = 1;
	assert_int_equal(
	    run(a, &f, "t", &fake_ops, &answer, &cause, &stop), -1);
	assert_int_equal(stop, SCRIPT_STOP_CANCELLED);
	assert_string_equal(cause, "cancelled");
	free(cause);
	fake_free(&f);
	script_agent_unref(a);
}

/*
 * ctx.strategy{}: name and the settings go to the host as the strategy
 * object, input, tools and max_steps as the loop's request; the result,
 * with its report, comes back as a table.
 */
static void
test_ctx_strategy(void **state)
{
	struct script_agent *a;
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	a = agent_with("local r = ctx.strategy{ name = 'self_consistency', "
	               "input = 'x', n = 3, early_stop = false, "
	               "tools = { 'calc' }, max_steps = 2, "
	               "budget = { max_thinking_tokens = 64 } }\n"
	               "return r.answer .. ' ' .. r.strategy.agreement .. "
	               "' ' .. r.strategy.votes[1].count",
	    NULL);
	fake_init(&f);
	f.react[f.n_react++] = "{\"answer\": \"4\", \"ending\": "
	                       "\"final_answer\", \"steps\": [], "
	                       "\"strategy\": {\"agreement\": 0.5, "
	                       "\"votes\": [{\"answer\": \"4\", "
	                       "\"count\": 2}]}}";
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "4 0.5 2");
	assert_string_equal(f.log.data,
	    "strategy {\"budget\":{\"max_thinking_tokens\":64},"
	    "\"early_stop\":false,\"n\":3,\"name\":\"self_consistency\"} "
	    "react x | max_steps=2 tools=1 calc\n");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);

	expect_failure("ctx.strategy{ input = 'x' }",
	    "ctx.strategy: name must be a string");
	expect_failure("ctx.strategy{ name = 'cot' }",
	    "ctx.strategy: input must be a string");
	expect_failure("ctx.strategy{ name = 'cot', input = 'x', [1] = 2 }",
	    "ctx.strategy: the request has a number key");
	expect_failure("ctx.strategy{ name = 'cot', input = 'x', "
	               "max_steps = 0 }",
	    "ctx.strategy: max_steps must be an integer from 1 to 100");
	expect_failure("ctx.strategy{ name = 'cot', input = 'x', f = print }",
	    "cannot encode a function value");
	/* The host's refusal is raised; pcall can catch it. */
	expect_answer("local ok, err = pcall(ctx.strategy, { name = 'cot', "
	              "input = 'x' })\n"
	              "return tostring(ok) .. ': ' .. err",
	    "false: ctx.strategy: no scripted loop result");
}

/* ctx functions whose callbacks the host left out say so. */
static void
test_missing_ops(void **state)
{
	struct script_ctx_ops ops = fake_ops;
	struct script_agent *a;
	struct fake f;
	char *answer, *cause;
	enum script_stop stop;

	(void)state;
	ops.strategy = NULL;
	a = agent_with(
	    "return ctx.strategy{ name = 'cot', input = 'x' }", NULL);
	fake_init(&f);
	assert_int_equal(run(a, &f, "t", &ops, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause, "ctx.strategy is not available"));
	free(cause);
	fake_free(&f);
	script_agent_unref(a);

	ops.react = NULL;
	a = agent_with("return ctx.react{ input = 'x' }", NULL);
	fake_init(&f);
	assert_int_equal(run(a, &f, "t", &ops, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause, "ctx.react is not available"));
	free(cause);
	assert_int_equal(run(a, &f, "t", NULL, &answer, &cause, &stop), -1);
	assert_non_null(strstr(cause, "ctx.react is not available"));
	free(cause);
	fake_free(&f);
	script_agent_unref(a);

	/* A tool callback that cannot try at all raises; pcall catches it. */
	a = agent_with("local ok, err = pcall(ctx.tool, 'calc', {})\n"
	               "return tostring(ok) .. ': ' .. err",
	    NULL);
	fake_init(&f);
	f.fail_tool = 1;
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "false: ctx.tool: the registry is gone");
	free(answer);
	fake_free(&f);
	script_agent_unref(a);
}

/* The answer is cut at max_output; loading checks the agent's table. */
static void
test_agent_files(void **state)
{
	struct script_limits limits = { .max_output = 5 };
	struct script_agent *a;
	struct fake f;
	char path[256], *answer, *cause = NULL;
	enum script_stop stop;
	FILE *fp;

	(void)state;
	a = agent_with("return 'abcd\xc3\xa9xyz'", &limits);
	fake_init(&f);
	assert_int_equal(run(a, &f, "t", &fake_ops, &answer, &cause, &stop), 0);
	assert_string_equal(answer, "abcd");
	free(answer);
	fake_free(&f);
	assert_string_equal(script_agent_description(a), "Test agent.");
	assert_non_null(strstr(script_agent_path(a), "/inline.lua"));
	script_agent_ref(a);
	script_agent_unref(a);
	script_agent_unref(a);

	snprintf(path, sizeof path, "%s/bad.lua", tmpdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("return { name = 'bad name', description = 'D.', run = print }",
	    fp);
	fclose(fp);
	assert_null(script_agent_load(path, NULL, NULL, &cause));
	assert_non_null(strstr(cause,
	    "bad.lua: name must be a string of 1 "
	    "to 64 characters"));
	free(cause);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("return { name = 'ok', description = 'D.' }", fp);
	fclose(fp);
	assert_null(script_agent_load(path, NULL, NULL, &cause));
	assert_non_null(strstr(cause,
	    "run must be a function, not a nil "
	    "value"));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_execute),
		cmocka_unit_test(test_plan_execute_no_plan),
		cmocka_unit_test(test_plan_execute_limits),
		cmocka_unit_test(test_critic_accepts),
		cmocka_unit_test(test_critic_revises),
		cmocka_unit_test(test_critic_fallback),
		cmocka_unit_test(test_ctx_requests),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_ctx_strategy),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_missing_ops),
		cmocka_unit_test(test_agent_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
