/*
 * transcript.c: the ReAct transcript, format v1 (DESIGN.md "ReAct
 * transcript format v1").
 *
 * The prompt is the template agent/prompts/react-v1.txt with {{tools}}
 * and {{question}} filled in; the bundled model is trained on exactly
 * these bytes, so nothing here may add, drop or reorder a byte.  The
 * parser reads what the model wrote for one step (agent.h says how, rule
 * by rule), and agent_obs_line() makes a tool's output the one line an
 * observation holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/agent.h"
#include "daemon/util.h"

#define TOOLS_MARK    "{{tools}}"
#define QUESTION_MARK "{{question}}"
#define TRUNCATED     " [truncated]"

static size_t count_occurrences(const char *, size_t, const char *);
static int is_space(char);
static char *trim_dup(const char *, size_t);
static const char *line_end(const char *, const char *);
static const char *skip_blanks(const char *, const char *);
static int line_starts(const char *, const char *, const char *);

static size_t
count_occurrences(const char *s, size_t len, const char *what)
{
	size_t n = 0, wlen = strlen(what);
	const char *p = s, *end = s + len;

	while ((size_t)(end - p) >= wlen) {
		p = memmem(p, (size_t)(end - p), what, wlen);
		if (p == NULL)
			break;
		n++;
		p += wlen;
	}
	return n;
}

/* ASCII white space, as the observation and answer rules mean it. */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/* Returns a copy of [s, s+len) without white space at either end. */
static char *
trim_dup(const char *s, size_t len)
{
	while (len > 0 && is_space(s[0])) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	return xstrndup(s, len);
}

int
agent_template_check(
    const char *text, size_t len, const char *what, char **cause)
{
	const char *t, *q;
	size_t qlen = strlen(QUESTION_MARK);

	if (memchr(text, '\0', len) != NULL) {
		xasprintf(cause, "%s: template holds a NUL byte", what);
		return -1;
	}
	if (!utf8_valid(text, len)) {
		xasprintf(cause, "%s: template is not valid UTF-8 (offset %zu)",
		    what, utf8_check(text, len));
		return -1;
	}
	if (count_occurrences(text, len, TOOLS_MARK) != 1 ||
	    count_occurrences(text, len, QUESTION_MARK) != 1) {
		xasprintf(cause,
		    "%s: template must hold {{tools}} and {{question}} once "
		    "each",
		    what);
		return -1;
	}
	if (count_occurrences(text, len, "{{") != 2) {
		xasprintf(cause,
		    "%s: template holds a placeholder other than {{tools}} "
		    "and {{question}}",
		    what);
		return -1;
	}
	t = memmem(text, len, TOOLS_MARK, strlen(TOOLS_MARK));
	q = memmem(text, len, QUESTION_MARK, qlen);
	if (q < t || (size_t)(q - text) + qlen + 1 != len ||
	    text[len - 1] != '\n') {
		xasprintf(cause,
		    "%s: template must end with \"{{question}}\\n\", after "
		    "{{tools}}",
		    what);
		return -1;
	}
	return 0;
}

char *
agent_template_load(const char *path, char **cause)
{
	struct stat st;
	char *text = NULL;
	size_t have = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > AGENT_TEMPLATE_MAX) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    AGENT_TEMPLATE_MAX);
		goto fail;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (have < (size_t)st.st_size) {
		n = read(fd, text + have, (size_t)st.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	text[have] = '\0';
	if (agent_template_check(text, have, path, cause) != 0)
		goto fail;
	close(fd);
	return text;

fail:
	free(text);
	close(fd);
	return NULL;
}

char *
agent_prompt_render(const char *tmpl, const char *tools, const char *question)
{
	const char *t, *q;
	size_t tlen = strlen(tools);
	struct buf out;
	int space = 0;

	t = strstr(tmpl, TOOLS_MARK);
	q = strstr(tmpl, QUESTION_MARK);
	AGENTD_ASSERT(t != NULL && q != NULL && t < q);

	buf_init(&out, SIZE_MAX);
	buf_add(&out, tmpl, (size_t)(t - tmpl));
	/* The template's own newline ends the last tool line. */
	if (tlen > 0 && tools[tlen - 1] == '\n')
		tlen--;
	buf_add(&out, tools, tlen);
	t += strlen(TOOLS_MARK);
	buf_add(&out, t, (size_t)(q - t));

	/* The question on one line: line breaks become one space. */
	while (is_space(*question))
		question++;
	for (const char *p = question; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r') {
			space = 1;
			continue;
		}
		if (space)
			buf_add(&out, " ", 1);
		space = 0;
		buf_add(&out, p, 1);
	}
	while (out.len > 0 && is_space(out.data[out.len - 1]) &&
	    out.data[out.len - 1] != '\n')
		out.len--;
	out.data[out.len] = '\0';
	buf_puts(&out, q + strlen(QUESTION_MARK));
	return buf_steal(&out);
}

char *
agent_obs_line(const char *text, size_t len)
{
	struct buf out;
	size_t cut;

	/* Trailing white space goes first: "346\n" is "346", not "346 |". */
	while (len > 0 && is_space(text[len - 1]))
		len--;
	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < len;) {
		if (text[i] == '\n' || text[i] == '\r') {
			while (i < len && (text[i] == '\n' || text[i] == '\r'))
				i++;
			buf_add(&out, " | ", 3);
			continue;
		}
		buf_add(&out, text + i, 1);
		i++;
	}
	while (out.len > 0 && is_space(out.data[out.len - 1]))
		out.len--;
	if (out.len > AGENT_OBS_MAX) {
		/* Cut on a character boundary: never inside a sequence. */
		cut = AGENT_OBS_MAX;
		while (cut > 0 && ((unsigned char)out.data[cut] & 0xc0) == 0x80)
			cut--;
		out.len = cut;
		buf_puts(&out, TRUNCATED);
	}
	if (out.data != NULL)
		out.data[out.len] = '\0';
	return buf_steal(&out);
}

/* ---- the parser ------------------------------------------------------- */

/* The end of the line that starts at p: its '\n', or end. */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl : end;
}

/* Skips spaces and tabs. */
static const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Returns 1 if the line at p starts with word (after blanks). */
static int
line_starts(const char *p, const char *end, const char *word)
{
	size_t wlen = strlen(word);

	p = skip_blanks(p, end);
	return (size_t)(end - p) >= wlen && memcmp(p, word, wlen) == 0;
}

void
agent_parsed_clear(struct agent_parsed *p)
{
	if (p == NULL)
		return;
	free(p->thought);
	free(p->action);
	free(p->input_text);
	json_decref(p->input);
	free(p->answer);
	memset(p, 0, sizeof *p);
}

void
agent_parse(const char *text, size_t len, struct agent_parsed *out)
{
	const char *end = text + len, *p = text, *e, *v, *tstart, *tend;
	json_error_t jerr;
	json_t *input;
	size_t used;

	memset(out, 0, sizeof *out);
	out->kind = AGENT_PARSE_NONE;
	out->keep = len;

	/* The thought: every line before the first Action or Final Answer. */
	tstart = p;
	if (line_starts(p, end, "Thought:"))
		tstart = skip_blanks(p, end) + strlen("Thought:");
	tend = end;
	while (p < end) {
		e = line_end(p, end);
		if (line_starts(p, e, "Action:") ||
		    line_starts(p, e, AGENT_FINAL_PREFIX)) {
			tend = p;
			break;
		}
		p = e < end ? e + 1 : end;
	}
	if (tend < tstart)
		tend = tstart;
	out->thought = trim_dup(tstart, (size_t)(tend - tstart));
	if (p >= end)
		return;

	e = line_end(p, end);
	if (line_starts(p, e, AGENT_FINAL_PREFIX)) {
		v = skip_blanks(p, e) + strlen(AGENT_FINAL_PREFIX);
		out->kind = AGENT_PARSE_FINAL;
		out->answer = trim_dup(v, (size_t)(e - v));
		out->keep = e < end ? (size_t)(e - text) + 1 : len;
		/* An action after the answer makes the step ambiguous. */
		for (p = e < end ? e + 1 : end; p < end;) {
			e = line_end(p, end);
			if (line_starts(p, e, "Action:")) {
				out->kind = AGENT_PARSE_BOTH;
				out->action = xstrdup("");
				break;
			}
			p = e < end ? e + 1 : end;
		}
		return;
	}

	/* An action: its name, then "Action Input:" on the next line. */
	v = skip_blanks(p, e) + strlen("Action:");
	out->kind = AGENT_PARSE_ACTION;
	out->action = trim_dup(v, (size_t)(e - v));
	out->keep = (size_t)(e - text);
	p = e < end ? e + 1 : end;
	if (p >= end) {
		out->input_error = "missing Action Input";
		out->input_text = xstrdup("");
		return;
	}
	e = line_end(p, end);
	if (!line_starts(p, e, "Action Input:")) {
		out->input_error = "missing Action Input";
		out->input_text = xstrdup("");
		goto rest;
	}
	v = skip_blanks(p, e) + strlen("Action Input:");
	v = skip_blanks(v, e);
	out->keep = (size_t)(e - text);
	if (v == e || *v != '{') {
		out->input_error = "not a JSON object";
		out->input_text = trim_dup(v, (size_t)(e - v));
		p = e < end ? e + 1 : end;
		goto rest;
	}
	/* The object may span lines; only blanks may follow it. */
	input = json_loadb(v, (size_t)(end - v),
	    JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
	if (input == NULL) {
		out->input_error = "not valid JSON";
		out->input_text = trim_dup(v, (size_t)(e - v));
		p = e < end ? e + 1 : end;
		goto rest;
	}
	used = (size_t)jerr.position;
	e = line_end(v + used, end);
	out->input_text = trim_dup(v, used);
	out->keep = (size_t)(e - text);
	if (skip_blanks(v + used, e) != e &&
	    !(e[-1] == '\r' && skip_blanks(v + used, e) == e - 1)) {
		json_decref(input);
		out->input_error = "text after the JSON object";
		free(out->input_text);
		out->input_text = trim_dup(v, (size_t)(e - v));
	} else {
		out->input = input;
	}
	p = e < end ? e + 1 : end;

rest:
	/* A Final Answer in the same step contradicts the action. */
	while (p < end) {
		e = line_end(p, end);
		if (line_starts(p, e, "Action:"))
			break; /* a second action: ignored, as agent.h says */
		if (line_starts(p, e, AGENT_FINAL_PREFIX)) {
			out->kind = AGENT_PARSE_BOTH;
			return;
		}
		p = e < end ? e + 1 : end;
	}
}
