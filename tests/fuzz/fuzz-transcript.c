/*
 * fuzz-transcript.c: libFuzzer harness for the ReAct transcript code
 * (agent/transcript.c): the parser of what the model writes
 * (agent_parse()), the observation line (agent_obs_line()), and the
 * template check and prompt rendering (agent_template_check(),
 * agent_prompt_render()).  Model output is hostile input: the bundled
 * model is small and a remote one is anybody's.
 *
 * The whole input is one model step.  What must hold, beyond "no crash,
 * no leak, no undefined behaviour":
 *
 *  - the parse is well formed for its kind: a thought always; an action
 *    name and the raw input for an action, with the input an object
 *    exactly when there is no input error; an answer of one line for a
 *    final answer; keep within the text, and the whole text for a step
 *    with neither;
 *  - parsing what the step keeps (the bytes the loop leaves in the
 *    session) gives the same step again: same kind, thought, action,
 *    input and answer, so that rewinding to keep never changes what the
 *    loop acted on;
 *  - the observation line has no line break, no trailing white space,
 *    at most AGENT_OBS_MAX bytes plus " [truncated]", and stays valid
 *    UTF-8 when its input was;
 *  - a template that passes the check renders, with the input's halves
 *    as tools and question, to a prompt that ends with a newline.
 *
 *   make fuzz
 *   build/fuzz/fuzz-transcript -dict=tests/fuzz/transcript.dict \
 *       -max_len=65536 CORPUS_DIR tests/fixtures/fuzz/transcript
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/util.h"

/* Inputs above this are ignored: a step is at most max_tokens long. */
#define MAX_INPUT 65536
/* What agent_obs_line() appends to a cut observation. */
#define TRUNCATED " [truncated]"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const char *, size_t);
static void check_obs(const char *, size_t);
static void check_template(const char *, size_t);
static void same_step(const struct agent_parsed *, const struct agent_parsed *);
static int str_eq(const char *, const char *);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Two parses describe the same step. */
static void
same_step(const struct agent_parsed *a, const struct agent_parsed *b)
{
	CHECK(a->kind == b->kind);
	CHECK(str_eq(a->thought, b->thought));
	CHECK(str_eq(a->action, b->action));
	CHECK(str_eq(a->answer, b->answer));
	CHECK((a->input == NULL) == (b->input == NULL));
	if (a->input != NULL)
		CHECK(json_equal(a->input, b->input));
}

static void
check_parse(const char *text, size_t len)
{
	struct agent_parsed p, again;

	agent_parse(text, len, &p);
	CHECK(p.thought != NULL);
	CHECK(p.keep <= len);
	switch (p.kind) {
	case AGENT_PARSE_ACTION:
		CHECK(p.action != NULL);
		CHECK(p.input_text != NULL);
		CHECK((p.input == NULL) == (p.input_error != NULL));
		CHECK(p.input == NULL || json_is_object(p.input));
		CHECK(p.answer == NULL);
		break;
	case AGENT_PARSE_FINAL:
		CHECK(p.answer != NULL);
		CHECK(strchr(p.answer, '\n') == NULL);
		CHECK(p.action == NULL);
		/* The answer's line is kept whole, its newline included. */
		CHECK(p.keep == len || text[p.keep - 1] == '\n');
		break;
	case AGENT_PARSE_BOTH:
		CHECK(p.action != NULL);
		break;
	case AGENT_PARSE_NONE:
		CHECK(p.keep == len);
		CHECK(p.action == NULL && p.answer == NULL);
		break;
	default:
		CHECK(!"unknown parse kind");
	}

	/* The kept bytes, parsed again, are the same action or answer. */
	if (p.kind == AGENT_PARSE_ACTION || p.kind == AGENT_PARSE_FINAL) {
		agent_parse(text, p.keep, &again);
		same_step(&p, &again);
		CHECK(again.keep == p.keep);
		agent_parsed_clear(&again);
	}
	agent_parsed_clear(&p);
	CHECK(p.thought == NULL && p.input == NULL);
}

static void
check_obs(const char *text, size_t len)
{
	char *line = agent_obs_line(text, len);
	int has_nul = memchr(text, '\0', len) != NULL;
	size_t n;

	CHECK(line != NULL);
	/* A NUL byte ends the C string early: judge what comes before. */
	n = strlen(line);
	CHECK(n <= len + 2 * len + sizeof TRUNCATED);
	CHECK(strchr(line, '\n') == NULL && strchr(line, '\r') == NULL);
	if (n > AGENT_OBS_MAX) {
		CHECK(n <= AGENT_OBS_MAX + strlen(TRUNCATED));
		CHECK(strcmp(line + n - strlen(TRUNCATED), TRUNCATED) == 0);
	} else if (n > 0 && !has_nul) {
		CHECK(line[n - 1] != ' ' && line[n - 1] != '\t');
	}
	if (!has_nul && utf8_valid(text, len))
		CHECK(utf8_valid(line, n));
	free(line);
}

static void
check_template(const char *text, size_t len)
{
	char *tmpl, *tools, *question, *out, *why = NULL;
	size_t half = len / 2, n;

	if (agent_template_check(text, len, "fuzz", &why) != 0) {
		CHECK(why != NULL && *why != '\0');
		free(why);
		return;
	}
	CHECK(why == NULL);
	/* It passed, so it holds no NUL: it is a C string of len bytes. */
	tmpl = xstrndup(text, len);
	CHECK(strlen(tmpl) == len);
	tools = xstrndup(text, half);
	question = xstrndup(text + half, len - half);
	out = agent_prompt_render(tmpl, tools, question);
	n = strlen(out);
	CHECK(n > 0 && out[n - 1] == '\n');
	free(out);
	free(question);
	free(tools);
	free(tmpl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	if (size > MAX_INPUT)
		return 0;
	check_parse(text, size);
	check_obs(text, size);
	check_template(text, size);
	return 0;
}
