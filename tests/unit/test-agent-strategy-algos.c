/*
 * test-agent-strategy-algos.c: the reasoning strategies (agent/strategy.h)
 * on a test backend whose answers are functions of the session's text and
 * the sampling seed, so that each algorithm is observable: votes counted
 * and ties broken by log-probability, early stop, forks that never feed
 * the prompt again, waits inserted exactly when the budget says and the
 * maximum enforced, beams pruned to b and depth-first backtracking, the
 * judge's random order and length correction, and the calc_check scorer.
 *
 * The backend keeps text like the scripted one (a "\n" is a token, any
 * other token is a word with its trailing spaces) and claims a KV cache:
 * an append computes only the tokens it adds, a fork computes nothing.
 * It counts what it computed, so a prompt fed twice shows.
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

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "agent/backend.h"
#include "agent/strategy.h"
#include "agent/trace.h"
#include "daemon/util.h"
#include "plugins/plugins.h"
#include "tests/unit/infer-fixture.h"

/* ---- the test backend ------------------------------------------------------ */

/* What the model writes next: the output and each token's logprob. */
typedef const char *(*respond_fn)(
    const char *text, const struct agent_gen_params *p, double *lp);

struct fake_backend {
	struct agent_backend head;
	respond_fn respond;
	atomic_uint computed;     /* tokens appended (run through) */
	atomic_uint prompt_feeds; /* appends that held a "Question: " */
	atomic_uint forks;
	atomic_uint generates;
	atomic_uint running, max_running;
};

struct fake_session {
	struct agent_session head;
	struct buf text;
};

static char *tmpl;
static struct plug_registry *reg;
static struct plug_set *set;

static size_t
tok_len(const char *text, size_t len)
{
	size_t i = 0;

	if (text[0] == '\n')
		return 1;
	while (i < len && text[i] != ' ' && text[i] != '\n')
		i++;
	while (i < len && text[i] == ' ')
		i++;
	return i;
}

static uint32_t
fake_count(struct agent_backend *b, const char *text, size_t len)
{
	uint32_t n = 0;
	size_t off = 0;

	(void)b;
	while (off < len) {
		off += tok_len(text + off, len - off);
		n++;
	}
	return n;
}

static struct agent_session *
fake_session_new(struct agent_backend *b, char **cause)
{
	struct fake_session *fs = xcalloc(1, sizeof *fs);

	(void)cause;
	agent_session_init(&fs->head, b);
	buf_init(&fs->text, SIZE_MAX);
	return &fs->head;
}

static void
fake_session_free(struct agent_session *s)
{
	struct fake_session *fs = (struct fake_session *)s;

	buf_free(&fs->text);
	agent_session_fini(s);
	free(fs);
}

static uint32_t
fake_length(struct agent_session *s)
{
	struct fake_session *fs = (struct fake_session *)s;

	return fake_count(s->backend, fs->text.data, fs->text.len);
}

static int
fake_append(struct agent_session *s, const char *text, size_t len,
    struct agent_append_result *res, char **cause)
{
	struct fake_session *fs = (struct fake_session *)s;
	struct fake_backend *fb = (struct fake_backend *)s->backend;
	uint32_t add = fake_count(s->backend, text, len);

	(void)cause;
	res->reused = fake_length(s);
	res->computed = add;
	atomic_fetch_add(&fb->computed, add);
	if (memmem(text, len, "Question: ", 10) != NULL)
		atomic_fetch_add(&fb->prompt_feeds, 1);
	buf_add(&fs->text, text, len);
	return 0;
}

static int
fake_generate(struct agent_session *s, const struct agent_gen_params *p,
    struct agent_gen_result *res, char **cause)
{
	struct fake_session *fs = (struct fake_session *)s;
	struct fake_backend *fb = (struct fake_backend *)s->backend;
	struct agent_gen_text g;
	const char *out;
	double lp = -1.0;
	size_t off = 0, n, len;
	uint32_t max = p->max_tokens != 0 ? p->max_tokens : 1024, run;
	int rc;

	(void)cause;
	atomic_fetch_add(&fb->generates, 1);
	run = atomic_fetch_add(&fb->running, 1) + 1;
	if (run > atomic_load(&fb->max_running))
		atomic_store(&fb->max_running, run);
	out = fb->respond(fs->text.data != NULL ? fs->text.data : "", p, &lp);
	len = strlen(out);
	res->prompt_reused = fake_length(s);
	agent_gen_text_init(&g, p);
	res->finish = AGENT_FINISH_EOS;
	while (off < len) {
		if (agent_gen_stopped(p)) {
			res->finish = AGENT_FINISH_CANCELLED;
			break;
		}
		if (res->tokens >= max) {
			res->finish = AGENT_FINISH_LENGTH;
			break;
		}
		n = tok_len(out + off, len - off);
		res->tokens++;
		res->logprob_sum += lp;
		rc = agent_gen_text_push(&g, out + off, n, AGENT_GEN_MAX_BYTES);
		off += n;
		if (rc == 1) {
			res->finish = AGENT_FINISH_STOP;
			break;
		}
	}
	/* Let concurrent branches overlap, as a batching scheduler would. */
	if ((fb->head.caps & AGENT_CAP_BATCH) != 0) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
	}
	agent_gen_text_flush(&g);
	agent_gen_text_finish(&g, res);
	res->stop_index = g.stop_index;
	buf_add(&fs->text, res->text, res->len);
	atomic_fetch_sub(&fb->running, 1);
	return 0;
}

static struct agent_session *
fake_fork(struct agent_session *s, char **cause)
{
	struct fake_session *fs = (struct fake_session *)s, *copy;
	struct fake_backend *fb = (struct fake_backend *)s->backend;

	(void)cause;
	atomic_fetch_add(&fb->forks, 1);
	copy = xcalloc(1, sizeof *copy);
	agent_session_init(&copy->head, s->backend);
	buf_init(&copy->text, SIZE_MAX);
	buf_add(&copy->text, fs->text.data, fs->text.len);
	return &copy->head;
}

static uint64_t
fake_mark(struct agent_session *s)
{
	return ((struct fake_session *)s)->text.len;
}

static int
fake_rewind(struct agent_session *s, uint64_t mark, char **cause)
{
	struct fake_session *fs = (struct fake_session *)s;

	if (mark > fs->text.len) {
		xasprintf(cause, "mark past the end");
		return -1;
	}
	fs->text.len = (size_t)mark;
	if (fs->text.data != NULL)
		fs->text.data[mark] = '\0';
	return 0;
}

static uint32_t
fake_n_ctx(struct agent_backend *b)
{
	(void)b;
	return 1u << 20;
}

static void
fake_destroy(struct agent_backend *b)
{
	free(b);
}

static const struct agent_backend_ops fake_ops = {
	.kind = "fake",
	.session_new = fake_session_new,
	.session_free = fake_session_free,
	.append = fake_append,
	.generate = fake_generate,
	.fork = fake_fork,
	.mark = fake_mark,
	.rewind = fake_rewind,
	.length = fake_length,
	.n_ctx = fake_n_ctx,
	.count = fake_count,
	.chat_render = NULL,
	.destroy = fake_destroy,
};

static struct fake_backend *
fake_new(respond_fn fn, int caps)
{
	struct fake_backend *fb = xcalloc(1, sizeof *fb);

	agent_backend_init(&fb->head, &fake_ops,
	    AGENT_CAP_KV_REUSE | AGENT_CAP_LOGPROBS | caps, "fake");
	fb->respond = fn;
	return fb;
}

/* ---- helpers --------------------------------------------------------------- */

static void
echo_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	(void)impl;
	(void)call;
	plug_result_ok(res, json_string_value(json_object_get(args, "text")));
}

static const struct plug_tool_ops echo_ops = { echo_call, NULL };

/* judge_seven {input, steps, answer?}: a scorer that likes "7". */
static void
seven_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	const char *a = json_string_value(json_object_get(args, "answer"));

	(void)impl;
	(void)call;
	plug_result_ok(
	    res, a != NULL && strcmp(a, "7") == 0 ? "1 it is seven\n" : "0.1");
}

static const struct plug_tool_ops seven_ops = { seven_call, NULL };

static void
collect(void *arg, const struct plug_config *config, struct plug_build *b)
{
	json_t *s = json_loads("{\"type\":\"object\",\"properties\":{\"text\":"
	                       "{\"type\":\"string\"}},\"required\":[\"text\"],"
	                       "\"additionalProperties\":false}",
	    0, NULL);
	struct plug_tool *t;
	char *cause = NULL;

	(void)arg;
	(void)config;
	t = plug_tool_new("echo", "Echoes its text.", s, PLUG_SOURCE_BUILTIN,
	    NULL, &echo_ops, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(plug_build_add(b, t, &cause), 0);
	json_decref(s);
	s = json_loads("{\"type\":\"object\",\"properties\":{\"input\":"
	               "{\"type\":\"string\"},\"steps\":{\"type\":\"array\"},"
	               "\"answer\":{\"type\":\"string\"}},\"required\":["
	               "\"input\",\"steps\"],\"additionalProperties\":false}",
	    0, NULL);
	t = plug_tool_new("judge_seven", "Scores answers.", s,
	    PLUG_SOURCE_BUILTIN, NULL, &seven_ops, NULL, &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	assert_int_equal(plug_build_add(b, t, &cause), 0);
	json_decref(s);
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
	assert_non_null(plug_set_find(set, "calc"));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(agent_tools_drain(5000), 0);
	plug_set_unref(set);
	plug_registry_free(reg);
	free(tmpl);
	return 0;
}

/* Parses a strategy object written as JSON. */
static void
strategy(const char *text, struct agent_strategy *st)
{
	json_t *v = json_loads(text, 0, NULL);
	char *cause = NULL;

	assert_non_null(v);
	if (agent_strategy_parse(v, st, &cause) != 0)
		fail_msg("%s: %s", text, cause);
	json_decref(v);
}

/* Runs st on fb with the question and the seed; res is filled. */
static void
run(struct fake_backend *fb, const struct agent_strategy *st,
    const char *question, uint64_t seed, struct agent_strategy_result *res)
{
	struct agent_react_params p;
	char *cause = NULL;

	memset(&p, 0, sizeof p);
	p.input = question;
	p.tmpl = tmpl;
	p.max_steps = 4;
	p.max_tokens = 64;
	p.sampling.seed = seed;
	if (agent_strategy_run(
	        &fb->head, set, &p, st, NULL, NULL, NULL, res, &cause) != 0)
		fail_msg("%s", cause);
}

/* The number at the end of "Question: ...": what the test asks. */
static const char *
last_line_with(const char *text, const char *prefix)
{
	const char *p = NULL, *q = strstr(text, "\nQuestion: ");

	if (q == NULL)
		return NULL;

	while ((q = strstr(q, prefix)) != NULL) {
		p = q;
		q++;
	}
	return p;
}

/* ---- parsing --------------------------------------------------------------- */

static void
test_parse(void **state)
{
	static const char *const bad[][2] = {
		{ "{\"name\":\"nope\"}", "unknown strategy 'nope'" },
		{ "{\"n\":3}", "strategy.name" },
		{ "{\"name\":\"self_consistency\",\"n\":0}", "strategy.n" },
		{ "{\"name\":\"self_consistency\",\"n\":1000}", "strategy.n" },
		{ "{\"name\":\"self_consistency\",\"early_stop\":1}",
		    "early_stop" },
		{ "{\"name\":\"tot\",\"breadth\":2,\"beam\":3}", "beam" },
		{ "{\"name\":\"tot\",\"search\":\"random\"}", "search" },
		{ "{\"name\":\"tot\",\"scorer\":\"a b\"}", "scorer" },
		{ "{\"name\":\"budget\",\"min_thinking_tokens\":10,"
		  "\"max_thinking_tokens\":5}",
		    "above" },
		{ "{\"name\":\"budget\",\"wait_text\":\"\"}", "wait_text" },
		{ "{\"name\":\"cot\",\"n\":3}", "unknown member \"n\"" },
		{ "{\"name\":\"best_of_n\",\"judge\":7}", "judge" },
		{ "[1]", "object" },
	};
	struct agent_strategy st;
	char *cause = NULL;
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_int_equal(agent_strategy_parse(v, &st, &cause), -1);
		if (strstr(cause, bad[i][1]) == NULL)
			fail_msg(
			    "%s: '%s' lacks '%s'", bad[i][0], cause, bad[i][1]);
		free(cause);
		cause = NULL;
		json_decref(v);
	}
	strategy("{\"name\":\"self_consistency\"}", &st);
	assert_int_equal(st.kind, AGENT_STRAT_SC);
	assert_int_equal(st.n, 8);
	assert_true(st.early_stop);
	assert_true(st.temperature == 0.8);
	agent_strategy_clear(&st);
	strategy("{\"name\":\"budget\",\"min_thinking_tokens\":7}", &st);
	assert_int_equal(st.budget.min_thinking, 7);
	assert_string_equal(st.budget.marker, "Final Answer:");
	assert_string_equal(st.budget.wait_text, "Wait,");
	agent_strategy_clear(&st);
	strategy("{\"name\":\"best_of_n\"}", &st);
	assert_int_equal(st.n, 4);
	assert_string_equal(st.judge, "llm");
	agent_strategy_clear(&st);
}

static void
test_normalise(void **state)
{
	static const char *const units[] = { "km", "apples" };
	static const char *const cases[][2] = {
		{ "  The   Answer. ", "the answer" },
		{ "1,000.50", "1000.5" },
		{ "$42", "42" },
		{ "+7", "7" },
		{ "42 km", "42" },
		{ "3 Apples", "3" },
		{ "-0", "0" },
		{ "Paris", "paris" },
		{ "1e3", "1000" },
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = agent_answer_normalise(cases[i][0], units, 2);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
	s = agent_answer_extract(
	    "Thought: x\nAnswer is:  5 \nAnswer is: 6\n", "Answer is:");
	assert_string_equal(s, "6");
	free(s);
	assert_null(agent_answer_extract("no answer here", "Answer is:"));
}

/* ---- self-consistency ---------------------------------------------------- */

/* Branch i (seed i + 1) answers answers[i]; its tokens score lps[i]. */
static const char *sc_answers[8];
static double sc_lps[8];
static char sc_out[8][128];

static const char *
sc_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	size_t i = (size_t)(p->seed - 1) % 8;

	(void)text;
	*lp = sc_lps[i];
	snprintf(sc_out[i], sizeof sc_out[i],
	    "Thought: I count them\nFinal Answer: %s\n", sc_answers[i]);
	return sc_out[i];
}

static void
test_sc_majority(void **state)
{
	static const char *answers[] = { "42", "41", " 42.", "forty", "42" };
	struct fake_backend *fb = fake_new(sc_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	json_t *votes, *out;
	char *prompt;
	uint32_t ptoks;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		sc_answers[i] = answers[i];
		sc_lps[i] = -1.0;
	}
	strategy("{\"name\":\"self_consistency\",\"n\":5,\"early_stop\":false}",
	    &st);
	run(fb, &st, "How many?", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.r.answer, "42");
	votes = json_object_get(res.report, "votes");
	assert_int_equal(json_array_size(votes), 3);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(votes, 0), "answer")),
	    "42");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(votes, 0), "count")),
	    3);
	assert_true(
	    json_real_value(json_object_get(res.report, "agreement")) == 0.6);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 5);
	assert_false(
	    json_is_true(json_object_get(res.report, "early_stopped")));

	/* The prompt was fed once and forked five ways. */
	assert_int_equal(atomic_load(&fb->prompt_feeds), 1);
	assert_int_equal(atomic_load(&fb->forks), 5);
	prompt = agent_prompt_render(tmpl, "calc: x", "How many?");
	free(prompt);
	ptoks = atomic_load(&fb->computed);
	assert_int_equal(res.r.usage.prompt_computed, ptoks);
	assert_true(res.r.usage.prompt_reused >= 5 * (uint64_t)ptoks);
	out = agent_strategy_result_json(&res);
	assert_non_null(json_object_get(out, "strategy"));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(out, "strategy"), "name")),
	    "self_consistency");
	json_decref(out);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static void
test_sc_tie_by_logprob(void **state)
{
	struct fake_backend *fb = fake_new(sc_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;

	(void)state;
	sc_answers[0] = "a";
	sc_answers[1] = "b";
	sc_answers[2] = "a";
	sc_answers[3] = "b";
	sc_lps[0] = sc_lps[2] = -1.0;
	sc_lps[1] = sc_lps[3] = -0.5;
	strategy("{\"name\":\"self_consistency\",\"n\":4}", &st);
	run(fb, &st, "Which?", 0, &res);
	assert_string_equal(res.r.answer, "b");
	assert_true(
	    json_real_value(json_object_get(res.report, "agreement")) == 0.5);
	/* A tie that could still happen: no early stop. */
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 4);
	agent_strategy_result_clear(&res);

	/* The other way round. */
	sc_lps[0] = sc_lps[2] = -0.25;
	run(fb, &st, "Which?", 0, &res);
	assert_string_equal(res.r.answer, "a");
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static void
test_sc_early_stop(void **state)
{
	struct fake_backend *fb = fake_new(sc_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	const char *all7[] = { "7", "7", "7", "7", "7" };
	const char *mixed[] = { "7", "8", "7", "7", "9" };
	const char *close[] = { "7", "8", "7", "8", "7" };

	(void)state;
	for (size_t i = 0; i < 5; i++)
		sc_lps[i] = -1.0;
	strategy("{\"name\":\"self_consistency\",\"n\":5}", &st);

	/* 3 of 5 agree: the last two cannot change the winner. */
	memcpy(sc_answers, all7, sizeof all7);
	run(fb, &st, "Q?", 0, &res);
	assert_string_equal(res.r.answer, "7");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 3);
	assert_true(json_is_true(json_object_get(res.report, "early_stopped")));
	agent_strategy_result_clear(&res);

	/* 7, 8, 7, 7: 3 against 1 with one left. */
	memcpy(sc_answers, mixed, sizeof mixed);
	run(fb, &st, "Q?", 0, &res);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 4);
	assert_true(
	    json_real_value(json_object_get(res.report, "agreement")) == 0.75);
	agent_strategy_result_clear(&res);

	/* 7, 8, 7, 8: the last could tie, so it runs. */
	memcpy(sc_answers, close, sizeof close);
	run(fb, &st, "Q?", 0, &res);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 5);
	assert_false(
	    json_is_true(json_object_get(res.report, "early_stopped")));
	assert_string_equal(res.r.answer, "7");
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* Batched: branches run at once, each a ReAct trajectory with a tool. */
static const char *
sc_react_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	const char *obs = last_line_with(text, "Observation: ");

	*lp = -1.0;
	if (obs == NULL) {
		switch (p->seed % 3) {
		case 0:
			return "Thought: echo it\nAction: echo\nAction Input: "
			       "{\"text\": \"12\"}\nObservation: fake";
		case 1:
			return "Thought: echo it\nAction: echo\nAction Input: "
			       "{\"text\": \"12\"}\n";
		default:
			return "Thought: guess\nFinal Answer: 13\n";
		}
	}
	if (strncmp(obs, "Observation: 12\n", 16) == 0)
		return "Thought: I know\nFinal Answer: 12\n";
	return "Thought: hm\nFinal Answer: 0\n";
}

static void
test_sc_react_batched(void **state)
{
	struct fake_backend *fb = fake_new(sc_react_respond, AGENT_CAP_BATCH);
	struct agent_strategy st;
	struct agent_strategy_result res;
	const json_t *step;

	(void)state;
	strategy("{\"name\":\"self_consistency\",\"n\":6,\"early_stop\":false}",
	    &st);
	run(fb, &st, "Echo twelve", 0, &res);
	assert_string_equal(res.r.answer, "12");
	assert_string_equal(
	    json_string_value(json_object_get(res.report, "decode")),
	    "batched");
	assert_true(atomic_load(&fb->max_running) > 1);
	assert_int_equal(atomic_load(&fb->prompt_feeds), 1);
	/* The winner's steps: the action, its observation, the answer. */
	assert_int_equal(json_array_size(res.r.steps), 2);
	step = json_array_get(res.r.steps, 0);
	assert_string_equal(
	    json_string_value(json_object_get(step, "action")), "echo");
	assert_string_equal(
	    json_string_value(json_object_get(step, "observation")), "12");
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_array_get(json_object_get(res.report, "votes"), 0),
	        "count")),
	    4);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* ---- budget forcing -------------------------------------------------------- */

static const char *
budget_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	size_t len = strlen(text);

	(void)p;
	*lp = -1.0;
	if (len >= 13 && strcmp(text + len - 13, "Final Answer:") == 0)
		return strstr(text, "Wait,") != NULL ? " 4\n" : " 3\n";
	if (len >= 14 && strcmp(text + len - 14, "Thought: Wait,") == 0)
		return " let me count the items one by one again\n"
		       "Final Answer: 4\n";
	/* 3 thinking tokens, then the marker. */
	return "Thought: easy\nFinal Answer: 3\n";
}

static void
test_budget_wait(void **state)
{
	struct fake_backend *fb = fake_new(budget_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;

	(void)state;
	strategy("{\"name\":\"budget\",\"min_thinking_tokens\":10,"
	         "\"max_thinking_tokens\":100}",
	    &st);
	run(fb, &st, "Count", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.r.answer, "4");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "waits")), 1);
	/* 3 before the wait, 11 after: " let me ... again\n". */
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "thinking_tokens")),
	    14);
	assert_false(json_is_true(json_object_get(res.report, "forced")));
	assert_non_null(strstr(
	    res.r.transcript, "Thought: easy\nThought: Wait, let me count"));
	assert_null(strstr(res.r.transcript, "Final Answer: 3"));
	assert_non_null(strstr(res.r.transcript, "again\nFinal Answer: 4\n"));
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* A minimum already met: no wait. */
	strategy("{\"name\":\"budget\",\"min_thinking_tokens\":3}", &st);
	run(fb, &st, "Count", 0, &res);
	assert_string_equal(res.r.answer, "3");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "waits")), 0);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* Wait twice: the minimum is above 14. */
	strategy("{\"name\":\"budget\",\"min_thinking_tokens\":20,"
	         "\"wait_text\":\"Wait,\"}",
	    &st);
	run(fb, &st, "Count", 0, &res);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "waits")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "thinking_tokens")),
	    25);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static const char *
ramble_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	size_t len = strlen(text);

	(void)p;
	*lp = -1.0;
	if (len >= 13 && strcmp(text + len - 13, "Final Answer:") == 0)
		return " 9\n";
	return "Thought: a b c d e f g h i j k l m n o p\n";
}

static void
test_budget_max(void **state)
{
	struct fake_backend *fb = fake_new(ramble_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;

	(void)state;
	strategy("{\"name\":\"budget\",\"min_thinking_tokens\":0,"
	         "\"max_thinking_tokens\":5}",
	    &st);
	run(fb, &st, "Go", 0, &res);
	assert_string_equal(res.r.answer, "9");
	assert_true(json_is_true(json_object_get(res.report, "forced")));
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "thinking_tokens")),
	    5);
	assert_non_null(
	    strstr(res.r.transcript, "Thought: a b c d \nFinal Answer: 9\n"));
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* Budget forcing inside self-consistency: every sample is forced. */
static void
test_sc_with_budget(void **state)
{
	struct fake_backend *fb = fake_new(budget_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	const json_t *br;
	size_t i;

	(void)state;
	strategy("{\"name\":\"self_consistency\",\"n\":3,\"early_stop\":"
	         "false,\"budget\":{\"min_thinking_tokens\":10}}",
	    &st);
	run(fb, &st, "Count", 0, &res);
	assert_string_equal(res.r.answer, "4");
	json_array_foreach(json_object_get(res.report, "branches"), i, br)
	    assert_int_equal(
	        json_integer_value(json_object_get(br, "waits")), 1);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static const char *
cot_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	(void)p;
	*lp = -1.0;
	if (strncmp(text, "Question: 2+2?", 14) == 0)
		return "Thought: as in the example\nSo the answer is: 12\n"
		       "and more text that must not be read\n";
	return "Thought: no example\nSo the answer is: 0\n";
}

static void
test_cot(void **state)
{
	struct fake_backend *fb = fake_new(cot_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	struct agent_react_params p;
	atomic_int cancel;
	char *cause = NULL;

	(void)state;
	strategy("{\"name\":\"cot\",\"pattern\":\"So the answer is:\","
	         "\"examples\":[\"Question: 2+2?\\nThought: add\\nSo the "
	         "answer is: 4\"]}",
	    &st);
	run(fb, &st, "What is 3*4?", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.r.answer, "12");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "examples")), 1);
	assert_true(json_is_true(json_object_get(res.report, "answer_found")));
	/* The example, a blank line, then the prompt. */
	assert_memory_equal(res.r.transcript,
	    "Question: 2+2?\nThought: add\nSo the answer is: 4\n\nAnswer", 54);
	/* Generation stopped at the end of the answer line. */
	assert_null(strstr(res.r.transcript, "must not be read"));
	agent_strategy_result_clear(&res);

	/* A cancelled run ends as cancelled, without a model call. */
	atomic_init(&cancel, 1);
	memset(&p, 0, sizeof p);
	p.input = "x";
	p.tmpl = tmpl;
	p.cancel = &cancel;
	atomic_store(&fb->generates, 0);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, NULL, NULL,
	                     NULL, &res, &cause),
	    0);
	assert_int_equal(res.r.ending, AGENT_END_CANCELLED);
	assert_null(res.r.answer);
	assert_int_equal(atomic_load(&fb->generates), 0);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* Samples that never answer: the run says so, with their ending. */
static void
test_no_answer(void **state)
{
	struct fake_backend *fb = fake_new(ramble_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;

	(void)state;
	strategy("{\"name\":\"self_consistency\",\"n\":2}", &st);
	run(fb, &st, "Go", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_MAX_STEPS);
	assert_null(res.r.answer);
	assert_non_null(strstr(res.r.error, "no sample gave an answer"));
	assert_true(json_is_null(json_object_get(res.report, "winner")));
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	strategy("{\"name\":\"best_of_n\",\"n\":2}", &st);
	run(fb, &st, "Go", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_MAX_STEPS);
	assert_non_null(strstr(res.r.error, "no candidate gave an answer"));
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "candidates")), 0);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	strategy(
	    "{\"name\":\"tot\",\"depth\":2,\"breadth\":2,\"beam\":1}", &st);
	run(fb, &st, "Go", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_MAX_STEPS);
	assert_non_null(strstr(res.r.error, "no final answer in the tree"));
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* ---- tree of thoughts ------------------------------------------------------ */

/*
 * Node n (seed n) writes the step tot_steps[n]; the value prompt reads
 * the node's last "Thought: " word: good sure, ok likely, else
 * impossible.
 */
static const char *tot_steps[16];

static const char *
tot_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	const char *th;
	size_t len = strlen(text);

	*lp = -1.0;
	if (len >= 11 && strcmp(text + len - 11, "Evaluation:") == 0) {
		th = last_line_with(text, "Thought: ");
		if (strncmp(th, "Thought: good", 13) == 0)
			return " sure\n";
		if (strncmp(th, "Thought: ok", 11) == 0)
			return " likely\n";
		return " impossible\n";
	}
	return tot_steps[p->seed % 16] != NULL ? tot_steps[p->seed % 16]
	                                       : "Thought: bad\nFinal Answer: "
	                                         "no\n";
}

#define TOT_ACT(th, x) \
	"Thought: " th "\nAction: echo\nAction Input: {\"text\": \"" x "\"}\n"

static void
test_tot_bfs(void **state)
{
	struct fake_backend *fb = fake_new(tot_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	json_t *tree;

	(void)state;
	memset(tot_steps, 0, sizeof tot_steps);
	tot_steps[1] = TOT_ACT("good", "a");
	tot_steps[2] = TOT_ACT("ok", "b");
	tot_steps[3] = TOT_ACT("bad", "c");
	/* Depth 2: children of 1 are 4..6, of 2 are 7..9. */
	tot_steps[4] = "Thought: ok\nFinal Answer: 5\n";
	tot_steps[5] = "Thought: good\nFinal Answer: 6\n";
	tot_steps[6] = TOT_ACT("bad", "d");
	tot_steps[7] = "Thought: ok\nFinal Answer: 7\n";
	tot_steps[8] = TOT_ACT("ok", "e");
	tot_steps[9] = TOT_ACT("good", "f");
	strategy(
	    "{\"name\":\"tot\",\"breadth\":3,\"beam\":2,\"depth\":2}", &st);
	run(fb, &st, "Pick", 0, &res);
	assert_int_equal(res.r.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.r.answer, "6");
	tree = json_object_get(res.report, "tree");
	assert_int_equal(json_array_size(tree), 10);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "nodes")), 9);
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "best_node")), 5);
	/* The beam kept 1 and 2 and pruned 3. */
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 1), "status")),
	    "expanded");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 2), "status")),
	    "expanded");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 3), "status")),
	    "pruned");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(tree, 9), "parent")),
	    2);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 5), "status")),
	    "final");
	/* Steps: node 1's action, then node 5's answer. */
	assert_int_equal(json_array_size(res.r.steps), 2);
	/* Every state was a fork: the prompt went in once. */
	assert_int_equal(atomic_load(&fb->prompt_feeds), 1);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* A beam of 1 keeps only node 1: node 2's children never exist. */
	strategy(
	    "{\"name\":\"tot\",\"breadth\":3,\"beam\":1,\"depth\":2}", &st);
	run(fb, &st, "Pick", 0, &res);
	tree = json_object_get(res.report, "tree");
	assert_int_equal(json_array_size(tree), 7);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 2), "status")),
	    "pruned");
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* The node limit. */
	strategy("{\"name\":\"tot\",\"breadth\":3,\"beam\":2,\"depth\":3,"
	         "\"max_nodes\":5}",
	    &st);
	run(fb, &st, "Pick", 0, &res);
	assert_true(
	    json_is_true(json_object_get(res.report, "node_limit_hit")));
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "nodes")), 4);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static void
test_tot_dfs(void **state)
{
	struct fake_backend *fb = fake_new(tot_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	json_t *tree;

	(void)state;
	memset(tot_steps, 0, sizeof tot_steps);
	tot_steps[1] = TOT_ACT("ok", "a");
	tot_steps[2] = TOT_ACT("bad", "b");
	tot_steps[3] = TOT_ACT("good", "c");
	/* Node 3 is tried first; its children are all bad: backtrack. */
	tot_steps[4] = TOT_ACT("bad", "d");
	tot_steps[5] = "Thought: bad\nFinal Answer: 1\n";
	tot_steps[6] = TOT_ACT("bad", "e");
	/* Then node 1: its child 7 answers well. */
	tot_steps[7] = "Thought: good\nFinal Answer: 8\n";
	strategy("{\"name\":\"tot\",\"search\":\"dfs\",\"breadth\":3,"
	         "\"beam\":1,\"depth\":3,\"threshold\":0.5}",
	    &st);
	run(fb, &st, "Find", 0, &res);
	assert_string_equal(res.r.answer, "8");
	tree = json_object_get(res.report, "tree");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 3), "status")),
	    "expanded");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 2), "status")),
	    "pruned");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(tree, 7), "status")),
	    "final");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(tree, 7), "parent")),
	    1);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/* ---- best of n and calc_check ------------------------------------------- */

static const char *bon_answers[4];
static char bon_out[4][160];
static char bon_judge[64];

static const char *
bon_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	size_t len = strlen(text), k = 0;
	const char *c = text;
	int first = 1;

	*lp = -1.0;
	if (len >= 7 && strcmp(text + len - 7, "Scores:") == 0) {
		/* Scores in the order shown: 9 for "right", else 2. */
		bon_judge[0] = '\0';
		while ((c = strstr(c, "\nAnswer: ")) != NULL) {
			c += 9;
			snprintf(bon_judge + strlen(bon_judge),
			    sizeof bon_judge - strlen(bon_judge), "%s%s",
			    first ? " " : ", ",
			    strncmp(c, "right", 5) == 0 ? "9" : "2");
			first = 0;
			k++;
		}
		snprintf(bon_judge + strlen(bon_judge),
		    sizeof bon_judge - strlen(bon_judge),
		    "\nRationale: it is right.\n");
		return bon_judge;
	}
	k = (size_t)((p->seed - 1) % 1000003u) % 4;
	snprintf(bon_out[k], sizeof bon_out[k], "%s", bon_answers[k]);
	return bon_out[k];
}

static void
test_bon_llm(void **state)
{
	struct fake_backend *fb = fake_new(bon_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	json_t *order;
	int seen[3] = { 0, 0, 0 };

	(void)state;
	bon_answers[0] = "Thought: x\nFinal Answer: wrong\n";
	bon_answers[1] = "Thought: y\nFinal Answer: right\n";
	bon_answers[2] = "Thought: z\nFinal Answer: wrong too\n";
	strategy("{\"name\":\"best_of_n\",\"n\":3}", &st);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		run(fb, &st, "Which is right?", seed, &res);
		assert_string_equal(res.r.answer, "right");
		assert_int_equal(
		    json_integer_value(json_object_get(res.report, "winner")),
		    1);
		assert_string_equal(
		    json_string_value(json_object_get(res.report, "rationale")),
		    "it is right.");
		order = json_object_get(res.report, "order");
		assert_int_equal(json_array_size(order), 3);
		memset(seen, 0, sizeof seen);
		for (size_t i = 0; i < 3; i++)
			seen[json_integer_value(json_array_get(order, i))]++;
		assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
		agent_strategy_result_clear(&res);
	}
	agent_strategy_clear(&st);

	/* Equal scores: the shorter answer wins after length correction. */
	bon_answers[0] = "Thought: a b c d e f g h i j k l m n\nFinal Answer: "
	                 "right one\n";
	bon_answers[1] = "Thought: short\nFinal Answer: right two\n";
	strategy("{\"name\":\"best_of_n\",\"n\":2}", &st);
	run(fb, &st, "Which?", 0, &res);
	assert_string_equal(res.r.answer, "right two");
	assert_true(
	    json_real_value(json_object_get(
	        json_array_get(json_object_get(res.report, "scores"), 0),
	        "corrected")) < 9.0);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static const char *
bon_calc_respond(const char *text, const struct agent_gen_params *p, double *lp)
{
	size_t k = (size_t)((p->seed - 1) % 1000003u);

	*lp = -1.0;
	if (last_line_with(text, "Observation: ") == NULL)
		return "Thought: add\nAction: calc\nAction Input: "
		       "{\"expression\": \"2+3\"}\n";
	return k == 0 ? "Thought: done\nFinal Answer: 6\n"
	              : "Thought: done\nFinal Answer: 5\n";
}

static void
test_bon_calc_check(void **state)
{
	struct fake_backend *fb = fake_new(bon_calc_respond, 0);
	struct agent_strategy st;
	struct agent_strategy_result res;
	json_t *scores;

	(void)state;
	strategy(
	    "{\"name\":\"best_of_n\",\"n\":2,\"judge\":\"calc_check\"}", &st);
	run(fb, &st, "Add two and three", 3, &res);
	assert_string_equal(res.r.answer, "5");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "winner")), 1);
	assert_non_null(
	    strstr(json_string_value(json_object_get(res.report, "rationale")),
	        "last result"));
	scores = json_object_get(res.report, "scores");
	assert_int_equal(json_array_size(scores), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *row = json_array_get(scores, i);
		double want =
		    json_integer_value(json_object_get(row, "branch")) == 0
		    ? 0.0
		    : 1.0;

		assert_true(
		    json_real_value(json_object_get(row, "score")) == want);
	}
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* tot with calc_check as its scorer. */
	strategy("{\"name\":\"tot\",\"breadth\":2,\"beam\":1,\"depth\":2,"
	         "\"scorer\":\"calc_check\"}",
	    &st);
	run(fb, &st, "Add two and three", 0, &res);
	assert_string_equal(res.r.answer, "5");
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* An unknown scorer is refused before anything runs. */
	strategy("{\"name\":\"tot\",\"scorer\":\"mine\"}", &st);
	{
		struct agent_react_params pr;
		char *cause = NULL;

		memset(&pr, 0, sizeof pr);
		pr.input = "x";
		pr.tmpl = tmpl;
		assert_int_equal(agent_strategy_run(&fb->head, set, &pr, &st,
		                     NULL, NULL, NULL, &res, &cause),
		    -1);
		assert_non_null(strstr(cause, "unknown scorer 'mine'"));
		free(cause);
	}
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

static void
test_calc_check(void **state)
{
	json_t *cand;
	double score = -1;
	char *reason = NULL, *cause = NULL;

	(void)state;
	cand = json_loads("{\"input\":\"q\",\"answer\":\"5\",\"steps\":["
	                  "{\"thought\":\"t\",\"action\":\"calc\","
	                  "\"action_input\":{\"expression\":\"2+3\"},"
	                  "\"observation\":\"5\"},{\"thought\":\"k\","
	                  "\"answer\":\"5\"}]}",
	    0, NULL);
	assert_int_equal(
	    agent_scorer_calc_check(set, cand, &score, &reason, &cause), 0);
	assert_true(score == 1.0);
	free(reason);
	/* An answer that does not follow. */
	json_object_set_new(cand, "answer", json_string("6"));
	assert_int_equal(
	    agent_scorer_calc_check(set, cand, &score, &reason, &cause), 0);
	assert_true(score == 0.0);
	assert_non_null(strstr(reason, "does not follow"));
	free(reason);
	/* An observation the model made up. */
	json_object_set_new(json_array_get(json_object_get(cand, "steps"), 0),
	    "observation", json_string("7"));
	assert_int_equal(
	    agent_scorer_calc_check(set, cand, &score, &reason, &cause), 0);
	assert_true(score == 0.0);
	assert_non_null(strstr(reason, "step 1: calc gives '5'"));
	free(reason);
	/* Nothing to check. */
	json_object_set_new(cand, "steps", json_array());
	assert_int_equal(
	    agent_scorer_calc_check(set, cand, &score, &reason, &cause), 0);
	assert_true(score == 0.5);
	free(reason);
	assert_int_equal(
	    agent_scorer_run("nope", set, NULL, cand, &score, &reason, &cause),
	    -1);
	assert_string_equal(cause, "unknown scorer 'nope'");
	free(cause);
	json_decref(cand);
}

/* A scorer the runtime would provide (a Lua one, say). */
static int
hook_score(void *arg, const char *name, const json_t *candidate, double *score,
    char **reason, char **cause)
{
	int *calls = arg;

	(*calls)++;
	if (strcmp(name, "broken") == 0) {
		xasprintf(cause, "scorer 'broken' failed: bad luck");
		return -1;
	}
	if (strcmp(name, "mine") != 0)
		return 1;
	/* Prefers the answer "7". */
	*score = json_is_string(json_object_get(candidate, "answer")) &&
	        strcmp(json_string_value(json_object_get(candidate, "answer")),
	            "7") == 0
	    ? 1.0
	    : 0.1;
	*reason = xstrdup("mine says so");
	return 0;
}

static void
test_scorer_hook(void **state)
{
	struct fake_backend *fb = fake_new(tot_respond, 0);
	struct agent_scorer_hook hook;
	struct agent_react_params p;
	struct agent_strategy st;
	struct agent_strategy_result res;
	char *cause = NULL;
	int calls = 0;

	(void)state;
	hook.score = hook_score;
	hook.arg = &calls;
	memset(tot_steps, 0, sizeof tot_steps);
	tot_steps[1] = "Thought: ok\nFinal Answer: 5\n";
	tot_steps[2] = "Thought: ok\nFinal Answer: 7\n";
	tot_steps[3] = "Thought: ok\nFinal Answer: 9\n";
	memset(&p, 0, sizeof p);
	p.input = "Pick";
	p.tmpl = tmpl;
	p.max_steps = 4;
	strategy("{\"name\":\"tot\",\"breadth\":3,\"beam\":1,\"depth\":1,"
	         "\"scorer\":\"mine\"}",
	    &st);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, &hook,
	                     NULL, NULL, &res, &cause),
	    0);
	assert_string_equal(res.r.answer, "7");
	assert_int_equal(calls, 3);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);

	/* A scorer that fails fails the strategy, with its message. */
	strategy("{\"name\":\"tot\",\"breadth\":3,\"beam\":1,\"depth\":1,"
	         "\"scorer\":\"broken\"}",
	    &st);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, &hook,
	                     NULL, NULL, &res, &cause),
	    -1);
	assert_string_equal(cause, "scorer 'broken' failed: bad luck");
	free(cause);
	cause = NULL;
	agent_strategy_clear(&st);

	/* Scorers that are tools: through agent_scorer_tool(). */
	hook.score = agent_scorer_tool;
	hook.arg = set;
	strategy("{\"name\":\"tot\",\"breadth\":3,\"beam\":1,\"depth\":1,"
	         "\"scorer\":\"judge_seven\"}",
	    &st);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, &hook,
	                     NULL, NULL, &res, &cause),
	    0);
	assert_string_equal(res.r.answer, "7");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(res.report, "tree"), 2),
	        "reason")),
	    "it is seven");
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	/* A tool that cannot score: its failure names it. */
	strategy("{\"name\":\"tot\",\"depth\":1,\"scorer\":\"echo\"}", &st);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, &hook,
	                     NULL, NULL, &res, &cause),
	    -1);
	assert_non_null(
	    strstr(cause, "scorer 'echo' failed: invalid arguments"));
	free(cause);
	cause = NULL;
	agent_strategy_clear(&st);
	hook.score = hook_score;
	hook.arg = &calls;

	/* A name the hook does not know either. */
	strategy("{\"name\":\"tot\",\"depth\":1,\"scorer\":\"other\"}", &st);
	assert_int_equal(agent_strategy_run(&fb->head, set, &p, &st, &hook,
	                     NULL, NULL, &res, &cause),
	    -1);
	assert_string_equal(cause, "unknown scorer 'other'");
	free(cause);
	agent_strategy_clear(&st);
	agent_backend_unref(&fb->head);
}

/*
 * The local engine on a small random-weight model: the samples run on
 * threads whose decode steps the scheduler batches; greedy samples of
 * one prompt must agree with each other token for token.
 */
static void
test_sc_local_batched(void **state)
{
	static const struct fx model = { "llama", INFER_TYPE_F32, 4, 2, 4, 2,
		64, 0, NULL, NULL, NULL, 17, 1 };
	static const char *const no_tools[] = { "" };
	struct agent_react_params p;
	struct agent_strategy st;
	struct agent_strategy_result res;
	struct agent_backend *b;
	const json_t *br;
	char *path = fx_write(&model), *cause = NULL;
	size_t i;

	(void)state;
	b = agent_backend_open(path, &cause);
	if (b == NULL)
		fail_msg("%s", cause);
	assert_true((agent_backend_caps(b) & AGENT_CAP_BATCH) != 0);
	strategy("{\"name\":\"self_consistency\",\"n\":4,"
	         "\"temperature\":0,\"early_stop\":false,"
	         "\"pattern\":\"Q\"}",
	    &st);
	memset(&p, 0, sizeof p);
	p.input = "hi";
	p.tmpl = "{{tools}}\nQuestion: {{question}}\n";
	p.tools = no_tools; /* none offered: a prompt that fits */
	p.n_tools = 0;
	p.max_steps = 1;
	p.max_tokens = 12;
	if (agent_strategy_run(
	        b, set, &p, &st, NULL, NULL, NULL, &res, &cause) != 0)
		fail_msg("%s", cause);
	assert_string_equal(
	    json_string_value(json_object_get(res.report, "decode")),
	    "batched");
	assert_int_equal(
	    json_integer_value(json_object_get(res.report, "decoded")), 4);
	json_array_foreach(json_object_get(res.report, "branches"), i, br)
	{
		const json_t *first =
		    json_array_get(json_object_get(res.report, "branches"), 0);

		assert_true(json_equal(json_object_get(br, "tokens"),
		    json_object_get(first, "tokens")));
		assert_true(json_equal(json_object_get(br, "answer"),
		    json_object_get(first, "answer")));
		assert_true(json_equal(json_object_get(br, "ending"),
		    json_object_get(first, "ending")));
	}
	assert_true(res.r.usage.completion > 0);
	agent_strategy_result_clear(&res);
	agent_strategy_clear(&st);
	agent_backend_unref(b);
	unlink(path);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_sc_majority),
		cmocka_unit_test(test_sc_tie_by_logprob),
		cmocka_unit_test(test_sc_early_stop),
		cmocka_unit_test(test_sc_react_batched),
		cmocka_unit_test(test_sc_local_batched),
		cmocka_unit_test(test_budget_wait),
		cmocka_unit_test(test_budget_max),
		cmocka_unit_test(test_sc_with_budget),
		cmocka_unit_test(test_cot),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_tot_bfs),
		cmocka_unit_test(test_tot_dfs),
		cmocka_unit_test(test_bon_llm),
		cmocka_unit_test(test_bon_calc_check),
		cmocka_unit_test(test_calc_check),
		cmocka_unit_test(test_scorer_hook),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
