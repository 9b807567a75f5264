/*
 * backend.c: the model backend interface's common part: dispatch through
 * each backend's ops, reference counts, opening a backend from a model
 * spec, and the stop-string logic that every backend's generate() shares
 * (struct agent_gen_text), so that all of them stop at exactly the same
 * bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent-int.h"
#include "agent/backend.h"
#include "daemon/util.h"

#define SCRIPTED_PREFIX "scripted:"

static size_t gen_text_holdback(const struct agent_gen_text *g);

const char *
agent_finish_name(enum agent_finish finish)
{
	switch (finish) {
	case AGENT_FINISH_STOP:
		return "stop";
	case AGENT_FINISH_LENGTH:
		return "length";
	case AGENT_FINISH_EOS:
		return "eos";
	case AGENT_FINISH_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

void
agent_gen_result_clear(struct agent_gen_result *res)
{
	if (res == NULL)
		return;
	free(res->text);
	memset(res, 0, sizeof *res);
	res->stop_index = -1;
}

void
agent_backend_init(struct agent_backend *b, const struct agent_backend_ops *ops,
    int caps, const char *name)
{
	b->ops = ops;
	atomic_init(&b->refs, 1);
	b->caps = caps;
	b->name = xstrdup(name != NULL ? name : ops->kind);
}

void
agent_session_init(struct agent_session *s, struct agent_backend *b)
{
	s->backend = agent_backend_ref(b);
}

void
agent_session_fini(struct agent_session *s)
{
	agent_backend_unref(s->backend);
	s->backend = NULL;
}

struct agent_backend *
agent_backend_open(const char *spec, char **cause)
{
	if (spec == NULL || *spec == '\0') {
		xasprintf(cause, "no model configured");
		return NULL;
	}
	if (strncmp(spec, SCRIPTED_PREFIX, strlen(SCRIPTED_PREFIX)) == 0)
		return agent_backend_scripted_open(
		    spec + strlen(SCRIPTED_PREFIX), cause);
	return agent_backend_local_open(spec, cause);
}

struct agent_backend *
agent_backend_ref(struct agent_backend *b)
{
	atomic_fetch_add(&b->refs, 1);
	return b;
}

void
agent_backend_unref(struct agent_backend *b)
{
	char *name;

	if (b == NULL)
		return;
	AGENTD_ASSERT(atomic_load(&b->refs) > 0);
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	name = b->name;
	if (b->ops->destroy != NULL)
		b->ops->destroy(b);
	free(name);
}

int
agent_backend_caps(const struct agent_backend *b)
{
	return b->caps;
}

const char *
agent_backend_kind(const struct agent_backend *b)
{
	return b->ops->kind;
}

const char *
agent_backend_name(const struct agent_backend *b)
{
	return b->name;
}

uint32_t
agent_backend_n_ctx(struct agent_backend *b)
{
	return b->ops->n_ctx(b);
}

uint32_t
agent_backend_count(struct agent_backend *b, const char *text, size_t len)
{
	return b->ops->count(b, text, len);
}

char *
agent_backend_chat_render(struct agent_backend *b,
    const struct agent_chat_msg *msgs, size_t n, int add_assistant,
    char **cause)
{
	struct buf out;

	if (b->ops->chat_render != NULL)
		return b->ops->chat_render(b, msgs, n, add_assistant, cause);
	/* The generic rendering: one "role: content" line per message. */
	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		buf_puts(&out, msgs[i].role);
		buf_puts(&out, ": ");
		buf_puts(&out, msgs[i].content);
		buf_puts(&out, "\n");
	}
	if (add_assistant)
		buf_puts(&out, "assistant: ");
	return buf_steal(&out);
}

struct agent_session *
agent_session_new(struct agent_backend *b, char **cause)
{
	return b->ops->session_new(b, cause);
}

void
agent_session_free(struct agent_session *s)
{
	if (s == NULL)
		return;
	s->backend->ops->session_free(s);
}

int
agent_session_append(struct agent_session *s, const char *text, size_t len,
    struct agent_append_result *res, char **cause)
{
	struct agent_append_result dummy;

	memset(&dummy, 0, sizeof dummy);
	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof *res);
	return s->backend->ops->append(s, text, len, res, cause);
}

int
agent_session_generate(struct agent_session *s,
    const struct agent_gen_params *params, struct agent_gen_result *res,
    char **cause)
{
	memset(res, 0, sizeof *res);
	res->stop_index = -1;
	return s->backend->ops->generate(s, params, res, cause);
}

struct agent_session *
agent_session_fork(struct agent_session *s, char **cause)
{
	return s->backend->ops->fork(s, cause);
}

uint64_t
agent_session_mark(struct agent_session *s)
{
	return s->backend->ops->mark(s);
}

int
agent_session_rewind(struct agent_session *s, uint64_t mark, char **cause)
{
	return s->backend->ops->rewind(s, mark, cause);
}

uint32_t
agent_session_length(struct agent_session *s)
{
	return s->backend->ops->length(s);
}

struct agent_backend *
agent_session_backend(struct agent_session *s)
{
	return s->backend;
}

/* ---- stop strings -------------------------------------------------------- */

int
agent_gen_stopped(const struct agent_gen_params *params)
{
	if (params->cancel != NULL && atomic_load(params->cancel) != 0)
		return 1;
	if (params->deadline_ns != 0 && clock_mono_ns() >= params->deadline_ns)
		return 1;
	return 0;
}

void
agent_gen_text_init(
    struct agent_gen_text *g, const struct agent_gen_params *params)
{
	memset(g, 0, sizeof *g);
	g->params = params;
	buf_init(&g->text, SIZE_MAX);
	g->stop_index = -1;
}

/*
 * The bytes at the end of the text that could still be the start of a
 * stop string: the longest suffix that is a proper prefix of one.  They
 * are not streamed until more text decides.
 */
static size_t
gen_text_holdback(const struct agent_gen_text *g)
{
	const struct agent_gen_params *p = g->params;
	size_t best = 0, slen, k;

	for (size_t i = 0; i < p->n_stop; i++) {
		slen = strlen(p->stop[i]);
		if (slen == 0)
			continue;
		k = slen - 1 < g->text.len ? slen - 1 : g->text.len;
		for (; k > best; k--) {
			if (memcmp(g->text.data + g->text.len - k, p->stop[i],
			        k) == 0) {
				best = k;
				break;
			}
		}
	}
	return best;
}

int
agent_gen_text_push(
    struct agent_gen_text *g, const char *s, size_t len, size_t max_bytes)
{
	const struct agent_gen_params *p = g->params;
	size_t old = g->text.len, cut = SIZE_MAX, from, slen, plen, safe;
	const char *hit, *nl;
	int which = -1;

	AGENTD_ASSERT(!g->stopped);
	if (len > max_bytes || g->text.len > max_bytes - len)
		return -1;
	buf_add(&g->text, s, len);

	/* The earliest stop string that ends in the new bytes. */
	for (size_t i = 0; i < p->n_stop; i++) {
		slen = strlen(p->stop[i]);
		if (slen == 0 || slen > g->text.len)
			continue;
		from = old >= slen - 1 ? old - (slen - 1) : 0;
		hit = memmem(
		    g->text.data + from, g->text.len - from, p->stop[i], slen);
		if (hit != NULL && (size_t)(hit - g->text.data) < cut) {
			cut = (size_t)(hit - g->text.data);
			which = (int)i;
		}
	}

	/* A stop line: a line starting with the prefix ends generation. */
	if (p->stop_line_prefix != NULL && *p->stop_line_prefix != '\0') {
		plen = strlen(p->stop_line_prefix);
		for (;;) {
			size_t ls = g->line_start;

			nl = memchr(g->text.data + ls, '\n', g->text.len - ls);
			if (g->text.len - ls >= plen &&
			    memcmp(g->text.data + ls, p->stop_line_prefix,
			        plen) == 0) {
				/* The line is the final one: cut at its end. */
				if (nl != NULL &&
				    (size_t)(nl - g->text.data) + 1 < cut) {
					cut = (size_t)(nl - g->text.data) + 1;
					which = -1;
				}
				break;
			}
			if (nl == NULL)
				break;
			g->line_start = (size_t)(nl - g->text.data) + 1;
		}
	}

	if (cut != SIZE_MAX) {
		g->text.len = cut;
		g->text.data[cut] = '\0';
		g->stopped = 1;
		g->stop_index = which;
		agent_gen_text_flush(g);
		return 1;
	}

	safe = g->text.len - gen_text_holdback(g);
	if (safe > g->streamed && p->on_token != NULL)
		p->on_token(
		    p->arg, g->text.data + g->streamed, safe - g->streamed);
	if (safe > g->streamed)
		g->streamed = safe;
	return 0;
}

void
agent_gen_text_flush(struct agent_gen_text *g)
{
	const struct agent_gen_params *p = g->params;

	if (g->text.len > g->streamed && p->on_token != NULL)
		p->on_token(p->arg, g->text.data + g->streamed,
		    g->text.len - g->streamed);
	g->streamed = g->text.len;
}

void
agent_gen_text_finish(struct agent_gen_text *g, struct agent_gen_result *res)
{
	res->len = g->text.len;
	res->text = buf_steal(&g->text);
	if (res->text == NULL)
		res->text = xstrdup("");
	res->stop_index = g->stop_index;
	buf_free(&g->text);
}

void
agent_gen_text_free(struct agent_gen_text *g)
{
	buf_free(&g->text);
}
