/*
 * test-agent-transcript.c: the ReAct transcript v1 (agent/transcript.c):
 * the template's checks, the prompt rendering, the observation line, the
 * parser against every malformed model output we could think of, and the
 * golden transcript (tests/fixtures/react-v1.golden: a question, two tool
 * steps with the real built-in tools, a final answer) reproduced byte for
 * byte by the loop on the scripted backend.
 *
 * AGENTD_UPDATE_GOLDEN=1 rewrites the golden file from what the runtime
 * renders (then review the diff: the bundled model is trained on it).
 */
#include <setjmp.h>
#include <stdarg.h>
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
#include "daemon/util.h"
#include "plugins/plugins.h"

static char *
srcpath(const char *rel)
{
	const char *dir = getenv("AGENTD_SRCDIR");
	char *p;

	xasprintf(&p, "%s/%s", dir != NULL ? dir : ".", rel);
	return p;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, SIZE_MAX);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (len != NULL)
		*len = b.len;
	return buf_steal(&b);
}

/* ---- template ------------------------------------------------------------ */

static const char design_template[] =
    "Answer the question. You can use these tools:\n"
    "{{tools}}\n"
    "Use this format:\n"
    "Thought: what to do next\n"
    "Action: one tool name\n"
    "Action Input: a JSON object of arguments\n"
    "Observation: the tool's result\n"
    "(Thought, Action, Action Input and Observation repeat as needed)\n"
    "Thought: I know the answer\n"
    "Final Answer: the answer\n"
    "Question: {{question}}\n";

/* The file is exactly DESIGN.md's bytes, and it loads. */
static void
test_template_file(void **state)
{
	char *path = srcpath("agent/prompts/react-v1.txt"), *text,
	     *cause = NULL;
	size_t len = 0;

	(void)state;
	text = slurp(path, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(design_template));
	assert_memory_equal(text, design_template, len);
	free(text);
	text = agent_template_load(path, &cause);
	assert_non_null(text);
	assert_string_equal(text, design_template);
	free(text);
	free(path);
}

static void
expect_template_error(const char *t, const char *needle)
{
	char *cause = NULL;

	assert_int_equal(
	    agent_template_check(t, strlen(t), "t.txt", &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause '%s' lacks '%s'", cause, needle);
	assert_non_null(strstr(cause, "t.txt"));
	free(cause);
}

static void
test_template_check(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(agent_template_check(design_template,
	                     strlen(design_template), "t", &cause),
	    0);
	expect_template_error("Q: {{question}}\n", "once each");
	expect_template_error(
	    "{{tools}}{{tools}}\nQ: {{question}}\n", "once each");
	expect_template_error(
	    "{{tools}}\n{{x}}Q: {{question}}\n", "placeholder other");
	expect_template_error("Q: {{question}}\n{{tools}}\n", "must end");
	expect_template_error("{{tools}}\nQ: {{question}}", "must end");
	expect_template_error("{{tools}}\nQ: {{question}}\n\n", "must end");
	expect_template_error("{{tools}}\n\xff Q: {{question}}\n", "UTF-8");
	assert_int_equal(agent_template_check(
	                     "{{tools}}\0Q: {{question}}\n", 24, "t", &cause),
	    -1);
	assert_non_null(strstr(cause, "NUL"));
	free(cause);
	cause = NULL;
	assert_null(agent_template_load("/nonexistent/react.txt", &cause));
	assert_non_null(strstr(cause, "/nonexistent/react.txt"));
	free(cause);
}

static void
test_prompt_render(void **state)
{
	char *p;

	(void)state;
	p = agent_prompt_render("T:\n{{tools}}\nQ: {{question}}\n",
	    "a: x Arguments: {}\nb: y Arguments: {}\n",
	    "  What is\r\n\n2+2?  ");
	assert_string_equal(
	    p, "T:\na: x Arguments: {}\nb: y Arguments: {}\nQ: What is 2+2?\n");
	free(p);
	/* No tools: the block is empty; unicode passes untouched. */
	p = agent_prompt_render(
	    "T:\n{{tools}}\nQ: {{question}}\n", "", "Wie heißt 東京?");
	assert_string_equal(p, "T:\n\nQ: Wie heißt 東京?\n");
	free(p);
}

/* ---- observations -------------------------------------------------------- */

static void
expect_obs(const char *in, const char *want)
{
	char *out = agent_obs_line(in, strlen(in));

	assert_string_equal(out, want);
	free(out);
}

static void
test_obs_line(void **state)
{
	char big[1500], *out;
	size_t len;

	(void)state;
	expect_obs("346", "346");
	expect_obs("a\nb", "a | b");
	expect_obs("a\n\n\r\nb\n", "a | b");
	expect_obs("a\r\nb  \t\n\n", "a | b");
	expect_obs("", "");
	expect_obs("\nx", " | x");
	expect_obs("tab\there", "tab\there");

	/* Cut at 1000 bytes with " [truncated]". */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	out = agent_obs_line(big, strlen(big));
	assert_int_equal(strlen(out), 1000 + strlen(" [truncated]"));
	assert_string_equal(out + 1000, " [truncated]");
	free(out);

	/* Exactly 1000 bytes stay whole. */
	big[1000] = '\0';
	out = agent_obs_line(big, 1000);
	assert_int_equal(strlen(out), 1000);
	free(out);

	/* Never inside a UTF-8 sequence: 999 ASCII then a 3-byte char. */
	memset(big, 'y', 999);
	memcpy(big + 999, "\xe6\x9d\xb1zzz", 6);
	out = agent_obs_line(big, 1005);
	len = strlen(out);
	assert_int_equal(len, 999 + strlen(" [truncated]"));
	assert_true(utf8_valid(out, len));
	free(out);
}

/* ---- parser -------------------------------------------------------------- */

static void
parse(const char *text, struct agent_parsed *p)
{
	agent_parse(text, strlen(text), p);
	assert_non_null(p->thought);
}

static void
test_parse_action(void **state)
{
	struct agent_parsed p;
	const char *t = "Thought: look it up\nAction: kb_search\n"
	                "Action Input: {\"query\": \"Oslo\", \"k\": 2}";

	(void)state;
	parse(t, &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(p.thought, "look it up");
	assert_string_equal(p.action, "kb_search");
	assert_non_null(p.input);
	assert_int_equal(json_integer_value(json_object_get(p.input, "k")), 2);
	assert_null(p.input_error);
	assert_int_equal(p.keep, strlen(t));
	assert_string_equal(p.input_text, "{\"query\": \"Oslo\", \"k\": 2}");
	agent_parsed_clear(&p);

	/* JSON over several lines, blanks after it. */
	t = "Thought: x\nAction: calc\nAction Input: {\n  \"expression\":\n"
	    "  \"1+1\"\n}  \n";
	parse(t, &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_non_null(p.input);
	assert_int_equal(p.keep, strlen(t) - 1);
	agent_parsed_clear(&p);
}

static void
test_parse_final(void **state)
{
	struct agent_parsed p;
	const char *t =
	    "Thought: I know the answer\nFinal Answer:  42 apples \n";

	(void)state;
	parse(t, &p);
	assert_int_equal(p.kind, AGENT_PARSE_FINAL);
	assert_string_equal(p.answer, "42 apples");
	assert_string_equal(p.thought, "I know the answer");
	assert_int_equal(p.keep, strlen(t));
	agent_parsed_clear(&p);

	/* Without its newline (end of text), and with no thought at all. */
	parse("Final Answer: yes", &p);
	assert_int_equal(p.kind, AGENT_PARSE_FINAL);
	assert_string_equal(p.answer, "yes");
	assert_string_equal(p.thought, "");
	agent_parsed_clear(&p);

	/* An empty answer is still an answer. */
	parse("Thought: hm\nFinal Answer:\n", &p);
	assert_int_equal(p.kind, AGENT_PARSE_FINAL);
	assert_string_equal(p.answer, "");
	agent_parsed_clear(&p);
}

static void
test_parse_malformed(void **state)
{
	struct agent_parsed p;
	const char *t;

	(void)state;
	/* Missing Action Input (end of text, or another line instead). */
	parse("Thought: x\nAction: calc", &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_null(p.input);
	assert_string_equal(p.input_error, "missing Action Input");
	agent_parsed_clear(&p);
	parse("Thought: x\nAction: calc\nThought: again", &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(p.input_error, "missing Action Input");
	agent_parsed_clear(&p);

	/* JSON with trailing text on its line. */
	parse("Action: calc\nAction Input: {\"expression\": \"1\"} please", &p);
	assert_null(p.input);
	assert_string_equal(p.input_error, "text after the JSON object");
	agent_parsed_clear(&p);

	/* Not JSON, not an object, truncated JSON, duplicate keys. */
	parse("Action: calc\nAction Input: 1+1", &p);
	assert_string_equal(p.input_error, "not a JSON object");
	assert_string_equal(p.input_text, "1+1");
	agent_parsed_clear(&p);
	parse("Action: calc\nAction Input: [1, 2]", &p);
	assert_string_equal(p.input_error, "not a JSON object");
	agent_parsed_clear(&p);
	parse("Action: calc\nAction Input: {\"expression\": \"1+", &p);
	assert_string_equal(p.input_error, "not valid JSON");
	agent_parsed_clear(&p);
	parse("Action: calc\nAction Input: {\"a\": 1, \"a\": 2}", &p);
	assert_string_equal(p.input_error, "not valid JSON");
	agent_parsed_clear(&p);
	parse("Action: calc\nAction Input:", &p);
	assert_string_equal(p.input_error, "not a JSON object");
	agent_parsed_clear(&p);

	/* Two actions: the first counts, keep ends at its input. */
	t = "Thought: a\nAction: calc\nAction Input: {\"expression\": \"1\"}\n"
	    "Thought: b\nAction: calc\nAction Input: {\"expression\": \"2\"}";
	parse(t, &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(
	    json_string_value(json_object_get(p.input, "expression")), "1");
	assert_int_equal(p.keep,
	    strlen("Thought: a\nAction: calc\nAction "
	           "Input: {\"expression\": \"1\"}"));
	agent_parsed_clear(&p);

	/* Final Answer and Action together, in either order. */
	parse(
	    "Thought: x\nAction: calc\nAction Input: {\"expression\": \"1\"}\n"
	    "Final Answer: 1",
	    &p);
	assert_int_equal(p.kind, AGENT_PARSE_BOTH);
	agent_parsed_clear(&p);
	parse("Thought: x\nFinal Answer: 1\nAction: calc\n", &p);
	assert_int_equal(p.kind, AGENT_PARSE_BOTH);
	agent_parsed_clear(&p);

	/* Neither: a thought only, or nothing at all. */
	parse("Thought: I wonder", &p);
	assert_int_equal(p.kind, AGENT_PARSE_NONE);
	assert_string_equal(p.thought, "I wonder");
	agent_parsed_clear(&p);
	parse("", &p);
	assert_int_equal(p.kind, AGENT_PARSE_NONE);
	assert_string_equal(p.thought, "");
	agent_parsed_clear(&p);

	/* Empty thought and empty tool name. */
	parse("Thought:\nAction: \nAction Input: {}", &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(p.thought, "");
	assert_string_equal(p.action, "");
	assert_non_null(p.input);
	agent_parsed_clear(&p);
}

static void
test_parse_unicode(void **state)
{
	struct agent_parsed p;

	(void)state;
	parse("Thought: 東京の人口は？\nAction: kb_search\n"
	      "Action Input: {\"query\": \"Tōkyō — 人口 🚀\"}",
	    &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(p.thought, "東京の人口は？");
	assert_string_equal(
	    json_string_value(json_object_get(p.input, "query")),
	    "Tōkyō — 人口 🚀");
	agent_parsed_clear(&p);
	parse("Thought: ok\nFinal Answer: Zürich – ça va 😀\n", &p);
	assert_string_equal(p.answer, "Zürich – ça va 😀");
	agent_parsed_clear(&p);
	/* A thought over several lines keeps its inner newlines. */
	parse("Thought: one\ntwo\n  three\nFinal Answer: x", &p);
	assert_string_equal(p.thought, "one\ntwo\n  three");
	agent_parsed_clear(&p);
	/* CRLF line ends. */
	parse("Thought: a\r\nAction: calc\r\nAction Input: {\"expression\": "
	      "\"1\"}\r\n",
	    &p);
	assert_int_equal(p.kind, AGENT_PARSE_ACTION);
	assert_string_equal(p.action, "calc");
	assert_non_null(p.input);
	agent_parsed_clear(&p);
}

/* ---- golden ---------------------------------------------------------------- */

static const char golden_script[] =
    "{\"outputs\": ["
    "\"Thought: I need the capital of Norway first.\\nAction: kb_search\\n"
    "Action Input: {\\\"query\\\": \\\"capital of Norway\\\", \\\"k\\\": 1}"
    "\\nObservation: invented by the model\","
    "\"Thought: Oslo it is. Now the arithmetic.\\nAction: calc\\n"
    "Action Input: {\\\"expression\\\": \\\"17*23-45\\\"}\","
    "\"Thought: I know the answer\\nFinal Answer: Oslo; 346\\nThought: "
    "more\"]}";

static void
test_golden(void **state)
{
	struct plug_config pc;
	struct plug_registry *reg;
	struct plug_set *set;
	struct agent_backend *b;
	struct agent_react_params p;
	struct agent_react_result res;
	struct agent_span *root;
	const char *roots[1];
	char *kb = srcpath("tests/fixtures/kb"),
	     *fx = srcpath("tests/fixtures");
	char *tpath = srcpath("agent/prompts/react-v1.txt");
	char *gpath = srcpath("tests/fixtures/react-v1.golden");
	char *cause = NULL, *tmpl, *golden, *got = NULL;
	const char *upd = getenv("AGENTD_UPDATE_GOLDEN");
	size_t glen = 0, len;
	FILE *f;

	(void)state;
	/* The default prompt lists all four built-ins. */
	memset(&pc, 0, sizeof pc);
	pc.kb_dir = kb;
	roots[0] = fx;
	pc.file_roots = roots;
	pc.n_file_roots = 1;
	pc.http_enabled = 1;
	reg = plug_registry_new(&pc, NULL, 0, &cause);
	assert_non_null(reg);
	set = plug_registry_get(reg);
	assert_int_equal(plug_set_count(set), 4);
	tmpl = agent_template_load(tpath, &cause);
	assert_non_null(tmpl);
	b = agent_backend_scripted_new(
	    golden_script, strlen(golden_script), "golden", &cause);
	assert_non_null(b);

	memset(&p, 0, sizeof p);
	p.input = "What is the capital of Norway, and what is 17*23-45?";
	p.tmpl = tmpl;
	root = agent_span_root(NULL, "test", AGENT_SPAN_RUN, NULL);
	assert_int_equal(
	    agent_react_run(b, set, &p, NULL, root, &res, &cause), 0);
	assert_int_equal(res.ending, AGENT_END_FINAL_ANSWER);
	assert_string_equal(res.answer, "Oslo; 346");
	assert_int_equal(json_array_size(res.steps), 3);

	/* The transcript the loop fed, stop strings and rewinds applied. */
	got = xstrdup(res.transcript);
	len = strlen(got);

	if (upd != NULL && strcmp(upd, "1") == 0) {
		f = fopen(gpath, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, len, f), len);
		fclose(f);
	}
	golden = slurp(gpath, &glen);
	if (golden == NULL)
		fail_msg(
		    "%s is missing (AGENTD_UPDATE_GOLDEN=1 writes it)", gpath);
	if (glen != len || memcmp(golden, got, len) != 0)
		fail_msg("the transcript differs from %s:\n---\n%s\n---", gpath,
		    got);

	agent_span_end(root);
	agent_react_result_clear(&res);
	agent_backend_unref(b);
	plug_set_unref(set);
	plug_registry_free(reg);
	free(golden);
	free(got);
	free(tmpl);
	free(kb);
	free(fx);
	free(tpath);
	free(gpath);
}

/*
 * The session's own text, not a rebuild: the loop's bytes must be the
 * golden file's bytes, stop strings and rewinds included.
 */
static void
test_golden_session_bytes(void **state)
{
	struct plug_config pc;
	struct plug_registry *reg;
	struct plug_set *set;
	struct agent_backend *b;
	struct agent_session *s;
	struct agent_gen_params gp;
	struct agent_gen_result gr;
	struct agent_parsed ps;
	const char *roots[1];
	static const char *const stops[] = { AGENT_STOP_OBSERVATION };
	char *kb = srcpath("tests/fixtures/kb"),
	     *fx = srcpath("tests/fixtures");
	char *tpath = srcpath("agent/prompts/react-v1.txt");
	char *gpath = srcpath("tests/fixtures/react-v1.golden");
	char *cause = NULL, *tmpl, *golden, *tools, *prompt, *obs, *line;
	const char *text;
	struct plug_result r;
	size_t glen = 0, len;

	(void)state;
	golden = slurp(gpath, &glen);
	if (golden == NULL)
		skip();
	memset(&pc, 0, sizeof pc);
	pc.kb_dir = kb;
	roots[0] = fx;
	pc.file_roots = roots;
	pc.n_file_roots = 1;
	pc.http_enabled = 1;
	reg = plug_registry_new(&pc, NULL, 0, &cause);
	set = plug_registry_get(reg);
	tmpl = agent_template_load(tpath, &cause);
	b = agent_backend_scripted_new(
	    golden_script, strlen(golden_script), "golden", &cause);
	s = agent_session_new(b, &cause);
	tools = plug_set_prompt(set, NULL, 0, &cause);
	prompt = agent_prompt_render(tmpl, tools,
	    "What is the capital of "
	    "Norway, and what is "
	    "17*23-45?");
	assert_int_equal(
	    agent_session_append(s, prompt, strlen(prompt), NULL, &cause), 0);
	memset(&gp, 0, sizeof gp);
	gp.stop = stops;
	gp.n_stop = 1;
	gp.stop_line_prefix = AGENT_FINAL_PREFIX;
	for (int step = 0; step < 3; step++) {
		assert_int_equal(
		    agent_session_generate(s, &gp, &gr, &cause), 0);
		agent_parse(gr.text, gr.len, &ps);
		if (ps.kind == AGENT_PARSE_ACTION) {
			memset(&r, 0, sizeof r);
			assert_int_equal(
			    plug_tool_call(plug_set_find(set, ps.action),
			        ps.input, NULL, NULL, &r, &cause),
			    0);
			obs = agent_obs_line(r.text, r.len);
			xasprintf(&line, "\nObservation: %s\n", obs);
			assert_int_equal(agent_session_append(s, line,
			                     strlen(line), NULL, &cause),
			    0);
			free(line);
			free(obs);
			plug_result_clear(&r);
		}
		agent_parsed_clear(&ps);
		agent_gen_result_clear(&gr);
	}
	text = agent_scripted_text(s, &len);
	assert_int_equal(len, glen);
	assert_memory_equal(text, golden, len);

	agent_session_free(s);
	agent_backend_unref(b);
	plug_set_unref(set);
	plug_registry_free(reg);
	free(prompt);
	free(tools);
	free(golden);
	free(tmpl);
	free(kb);
	free(fx);
	free(tpath);
	free(gpath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_file),
		cmocka_unit_test(test_template_check),
		cmocka_unit_test(test_prompt_render),
		cmocka_unit_test(test_obs_line),
		cmocka_unit_test(test_parse_action),
		cmocka_unit_test(test_parse_final),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_unicode),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_golden_session_bytes),
	};

	log_level = LOG_LEVEL_WARN;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
