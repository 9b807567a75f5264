/*
 * backend-scripted.c: the scripted test backend.
 *
 * A deterministic stand-in for a model, used only by tests (agentd.conf's
 * scripted_model directive, or "scripted:FILE" as a model spec): each
 * generate() replays the next model output of a script, token by token,
 * honouring stop strings, the stop line, max_tokens, the context size,
 * cancellation and deadlines exactly as a real backend must.  Fork, mark
 * and rewind keep text, so the backend lacks AGENT_CAP_KV_REUSE unless
 * the script asks to pretend otherwise for the usage figures.
 *
 * The script is a JSON object:
 *
 *   {"model": "scripted",        the name traces report (optional)
 *    "n_ctx": 4096,              the context in tokens (optional)
 *    "token_delay_ms": 0,        a pause before every token (optional)
 *    "kv_reuse": false,          report appends as cached (optional)
 *    "scripts": [                one or more conversations
 *      {"match": "text",         chosen by the first generate() of a
 *                                session: the first script whose match
 *                                occurs in the session's text, or that
 *                                has no match
 *       "outputs": [OUTPUT, ...]}]}
 *
 * "outputs" at the top level is short for one script without a match.
 * The n-th generate() of a session replays the session's n-th OUTPUT
 * (fork copies the count, rewind leaves it): a string, split into tokens
 * as below; an array of strings, the tokens themselves; or an object
 * {"text": string or "tokens": [strings], "delay_ms": N (a pause before
 * each token, overriding token_delay_ms), "finish": "eos" | "length"
 * (why the output ends when no stop cuts it; default "eos"), "error":
 * "message" (generate fails with it instead)}.  A session that runs out
 * of outputs fails its generate() with a message saying so.
 *
 * Tokens.  Text is split into tokens the same way everywhere (outputs,
 * appended text, agent_backend_count()): a "\n" is a token of its own,
 * and any other token is a run of characters up to the next space or
 * newline, with the spaces that follow it.  So "Thought: I know\n" is
 * the four tokens "Thought: ", "I ", "know" and "\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent-int.h"
#include "agent/backend.h"
#include "daemon/util.h"

#define SCRIPTED_MAX_FILE    (16 * 1024 * 1024)
#define SCRIPTED_MAX_DELAY   60000
#define SCRIPTED_MAX_CTX     (1u << 24)
#define SCRIPTED_DEFAULT_CTX 4096
#define SCRIPTED_SLICE_MS    2

/* One model output: its tokens and how it ends. */
struct scripted_output {
	char **tokens;
	size_t n_tokens;
	int64_t delay_ms; /* -1: the script's token_delay_ms */
	enum agent_finish finish;
	char *error;
};

struct scripted_script {
	char *match; /* NULL: matches any session */
	struct scripted_output *outputs;
	size_t n_outputs;
};

struct scripted_backend {
	struct agent_backend head;
	uint32_t n_ctx;
	uint64_t delay_ms;
	int kv_reuse;
	struct scripted_script *scripts;
	size_t n_scripts;
};

struct scripted_session {
	struct agent_session head;
	struct buf text;
	const struct scripted_script *script; /* chosen by the first call */
	size_t calls;                         /* generate() calls so far */
};

static struct agent_session *scripted_session_new(
    struct agent_backend *, char **);
static void scripted_session_free(struct agent_session *);
static int scripted_append(struct agent_session *, const char *, size_t,
    struct agent_append_result *, char **);
static int scripted_generate(struct agent_session *,
    const struct agent_gen_params *, struct agent_gen_result *, char **);
static struct agent_session *scripted_fork(struct agent_session *, char **);
static uint64_t scripted_mark(struct agent_session *);
static int scripted_rewind(struct agent_session *, uint64_t, char **);
static uint32_t scripted_length(struct agent_session *);
static uint32_t scripted_n_ctx(struct agent_backend *);
static uint32_t scripted_count(struct agent_backend *, const char *, size_t);
static void scripted_destroy(struct agent_backend *);

static size_t scripted_token_len(const char *, size_t);
static int scripted_load_output(
    json_t *, struct scripted_output *, const char *, char **);
static int scripted_load_tokens(
    json_t *, struct scripted_output *, const char *, char **);
static void scripted_split(const char *, size_t, struct scripted_output *);
static void scripted_free_scripts(struct scripted_backend *);
static int scripted_sleep(const struct agent_gen_params *, uint64_t);

static const struct agent_backend_ops scripted_ops = {
	.kind = "scripted",
	.session_new = scripted_session_new,
	.session_free = scripted_session_free,
	.append = scripted_append,
	.generate = scripted_generate,
	.fork = scripted_fork,
	.mark = scripted_mark,
	.rewind = scripted_rewind,
	.length = scripted_length,
	.n_ctx = scripted_n_ctx,
	.count = scripted_count,
	.chat_render = NULL,
	.destroy = scripted_destroy,
};

/* The length of the token that starts text (len > 0). */
static size_t
scripted_token_len(const char *text, size_t len)
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

/* Splits text into tokens as the header says. */
static void
scripted_split(const char *text, size_t len, struct scripted_output *o)
{
	size_t off = 0, n, cap = 0;

	while (off < len) {
		n = scripted_token_len(text + off, len - off);
		if (o->n_tokens == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			o->tokens =
			    xreallocarray(o->tokens, cap, sizeof *o->tokens);
		}
		o->tokens[o->n_tokens++] = xstrndup(text + off, n);
		off += n;
	}
}

/* Reads an array of token strings. */
static int
scripted_load_tokens(
    json_t *arr, struct scripted_output *o, const char *where, char **cause)
{
	json_t *v;
	size_t i;

	o->tokens =
	    xcalloc(json_array_size(arr) == 0 ? 1 : json_array_size(arr),
	        sizeof *o->tokens);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v)) {
			xasprintf(
			    cause, "%s: token %zu is not a string", where, i);
			return -1;
		}
		o->tokens[o->n_tokens++] =
		    xstrndup(json_string_value(v), json_string_length(v));
	}
	return 0;
}

/* Reads one OUTPUT (see the header). */
static int
scripted_load_output(
    json_t *v, struct scripted_output *o, const char *where, char **cause)
{
	const char *key, *finish;
	json_t *m;

	o->delay_ms = -1;
	o->finish = AGENT_FINISH_EOS;
	if (json_is_string(v)) {
		scripted_split(json_string_value(v), json_string_length(v), o);
		return 0;
	}
	if (json_is_array(v))
		return scripted_load_tokens(v, o, where, cause);
	if (!json_is_object(v)) {
		xasprintf(cause,
		    "%s: an output must be a string, an array of tokens or "
		    "an object",
		    where);
		return -1;
	}
	json_object_foreach(v, key, m)
	{
		if (strcmp(key, "text") == 0) {
			if (!json_is_string(m) || o->n_tokens != 0) {
				xasprintf(cause,
				    "%s: \"text\" must be a string (and "
				    "comes without \"tokens\")",
				    where);
				return -1;
			}
			scripted_split(
			    json_string_value(m), json_string_length(m), o);
		} else if (strcmp(key, "tokens") == 0) {
			if (!json_is_array(m) || o->n_tokens != 0) {
				xasprintf(cause,
				    "%s: \"tokens\" must be an array (and "
				    "comes without \"text\")",
				    where);
				return -1;
			}
			if (scripted_load_tokens(m, o, where, cause) != 0)
				return -1;
		} else if (strcmp(key, "delay_ms") == 0) {
			if (!json_is_integer(m) || json_integer_value(m) < 0 ||
			    json_integer_value(m) > SCRIPTED_MAX_DELAY) {
				xasprintf(cause,
				    "%s: \"delay_ms\" must be an integer "
				    "from 0 to %d",
				    where, SCRIPTED_MAX_DELAY);
				return -1;
			}
			o->delay_ms = json_integer_value(m);
		} else if (strcmp(key, "finish") == 0) {
			finish = json_string_value(m);
			if (finish != NULL && strcmp(finish, "eos") == 0)
				o->finish = AGENT_FINISH_EOS;
			else if (finish != NULL &&
			    strcmp(finish, "length") == 0)
				o->finish = AGENT_FINISH_LENGTH;
			else {
				xasprintf(cause,
				    "%s: \"finish\" must be \"eos\" or "
				    "\"length\"",
				    where);
				return -1;
			}
		} else if (strcmp(key, "error") == 0) {
			if (!json_is_string(m) || o->error != NULL) {
				xasprintf(cause,
				    "%s: \"error\" must be a string", where);
				return -1;
			}
			o->error = xstrdup(json_string_value(m));
		} else {
			xasprintf(
			    cause, "%s: unknown member \"%s\"", where, key);
			return -1;
		}
	}
	return 0;
}

struct agent_backend *
agent_backend_scripted_new(
    const char *text, size_t len, const char *what, char **cause)
{
	struct scripted_backend *sb;
	json_error_t jerr;
	json_t *root, *scripts, *outputs, *v, *m, *one = NULL;
	const char *key, *name = "scripted";
	char *where;
	size_t i, j;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		xasprintf(cause, "%s:%d:%d: %s", what, jerr.line, jerr.column,
		    jerr.text);
		return NULL;
	}
	sb = xcalloc(1, sizeof *sb);
	sb->n_ctx = SCRIPTED_DEFAULT_CTX;
	if (!json_is_object(root)) {
		xasprintf(cause, "%s: the script must be a JSON object", what);
		goto fail;
	}
	scripts = json_object_get(root, "scripts");
	outputs = json_object_get(root, "outputs");
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "model") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0) {
				xasprintf(cause,
				    "%s: \"model\" must be a non-empty string",
				    what);
				goto fail;
			}
			name = json_string_value(v);
		} else if (strcmp(key, "n_ctx") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > SCRIPTED_MAX_CTX) {
				xasprintf(cause,
				    "%s: \"n_ctx\" must be an integer from 1 "
				    "to %u",
				    what, SCRIPTED_MAX_CTX);
				goto fail;
			}
			sb->n_ctx = (uint32_t)json_integer_value(v);
		} else if (strcmp(key, "token_delay_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > SCRIPTED_MAX_DELAY) {
				xasprintf(cause,
				    "%s: \"token_delay_ms\" must be an integer "
				    "from 0 to %d",
				    what, SCRIPTED_MAX_DELAY);
				goto fail;
			}
			sb->delay_ms = (uint64_t)json_integer_value(v);
		} else if (strcmp(key, "kv_reuse") == 0) {
			if (!json_is_boolean(v)) {
				xasprintf(cause,
				    "%s: \"kv_reuse\" must be true or false",
				    what);
				goto fail;
			}
			sb->kv_reuse = json_is_true(v);
		} else if (strcmp(key, "scripts") != 0 &&
		    strcmp(key, "outputs") != 0) {
			xasprintf(
			    cause, "%s: unknown member \"%s\"", what, key);
			goto fail;
		}
	}
	if ((scripts == NULL) == (outputs == NULL)) {
		xasprintf(cause,
		    "%s: give either \"scripts\" or \"outputs\", not both "
		    "or neither",
		    what);
		goto fail;
	}
	if (outputs != NULL) {
		one = json_pack("[{s:O}]", "outputs", outputs);
		scripts = one;
	}
	if (!json_is_array(scripts) || json_array_size(scripts) == 0) {
		xasprintf(
		    cause, "%s: \"scripts\" must be a non-empty array", what);
		goto fail;
	}
	sb->scripts = xcalloc(json_array_size(scripts), sizeof *sb->scripts);
	json_array_foreach(scripts, i, v)
	{
		struct scripted_script *sc = &sb->scripts[sb->n_scripts++];

		if (!json_is_object(v)) {
			xasprintf(cause, "%s: scripts[%zu] is not an object",
			    what, i);
			goto fail;
		}
		json_object_foreach(v, key, m)
		{
			if (strcmp(key, "match") == 0) {
				if (!json_is_string(m)) {
					xasprintf(cause,
					    "%s: scripts[%zu].match must be a "
					    "string",
					    what, i);
					goto fail;
				}
				sc->match = xstrdup(json_string_value(m));
			} else if (strcmp(key, "outputs") != 0) {
				xasprintf(cause,
				    "%s: scripts[%zu]: unknown member \"%s\"",
				    what, i, key);
				goto fail;
			}
		}
		outputs = json_object_get(v, "outputs");
		if (!json_is_array(outputs)) {
			xasprintf(cause,
			    "%s: scripts[%zu].outputs must be an array", what,
			    i);
			goto fail;
		}
		sc->outputs =
		    xcalloc(json_array_size(outputs) + 1, sizeof *sc->outputs);
		json_array_foreach(outputs, j, m)
		{
			xasprintf(&where, "%s: scripts[%zu].outputs[%zu]", what,
			    i, j);
			sc->n_outputs++;
			if (scripted_load_output(
			        m, &sc->outputs[j], where, cause) != 0) {
				free(where);
				goto fail;
			}
			free(where);
		}
	}
	agent_backend_init(&sb->head, &scripted_ops,
	    sb->kv_reuse ? AGENT_CAP_KV_REUSE : 0, name);
	json_decref(one);
	json_decref(root);
	return &sb->head;

fail:
	json_decref(one);
	json_decref(root);
	scripted_free_scripts(sb);
	free(sb);
	return NULL;
}

struct agent_backend *
agent_backend_scripted_open(const char *path, char **cause)
{
	struct agent_backend *b = NULL;
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
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > SCRIPTED_MAX_FILE) {
		xasprintf(
		    cause, "%s: larger than %d bytes", path, SCRIPTED_MAX_FILE);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (have < (size_t)st.st_size) {
		n = read(fd, text + have, (size_t)st.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	b = agent_backend_scripted_new(text, have, path, cause);
out:
	free(text);
	close(fd);
	return b;
}

static void
scripted_free_scripts(struct scripted_backend *sb)
{
	for (size_t i = 0; i < sb->n_scripts; i++) {
		struct scripted_script *sc = &sb->scripts[i];

		for (size_t j = 0; j < sc->n_outputs; j++) {
			struct scripted_output *o = &sc->outputs[j];

			for (size_t k = 0; k < o->n_tokens; k++)
				free(o->tokens[k]);
			free(o->tokens);
			free(o->error);
		}
		free(sc->outputs);
		free(sc->match);
	}
	free(sb->scripts);
	sb->scripts = NULL;
	sb->n_scripts = 0;
}

static void
scripted_destroy(struct agent_backend *b)
{
	struct scripted_backend *sb = (struct scripted_backend *)b;

	scripted_free_scripts(sb);
	free(sb);
}

static uint32_t
scripted_n_ctx(struct agent_backend *b)
{
	return ((struct scripted_backend *)b)->n_ctx;
}

static uint32_t
scripted_count(struct agent_backend *b, const char *text, size_t len)
{
	size_t off = 0;
	uint32_t n = 0;

	(void)b;
	while (off < len) {
		off += scripted_token_len(text + off, len - off);
		if (n < UINT32_MAX)
			n++;
	}
	return n;
}

static struct agent_session *
scripted_session_new(struct agent_backend *b, char **cause)
{
	struct scripted_session *ss;

	(void)cause;
	ss = xcalloc(1, sizeof *ss);
	agent_session_init(&ss->head, b);
	buf_init(&ss->text, SIZE_MAX);
	return &ss->head;
}

static void
scripted_session_free(struct agent_session *s)
{
	struct scripted_session *ss = (struct scripted_session *)s;

	buf_free(&ss->text);
	agent_session_fini(&ss->head);
	free(ss);
}

static uint32_t
scripted_length(struct agent_session *s)
{
	struct scripted_session *ss = (struct scripted_session *)s;

	return scripted_count(s->backend, ss->text.data, ss->text.len);
}

static int
scripted_append(struct agent_session *s, const char *text, size_t len,
    struct agent_append_result *res, char **cause)
{
	struct scripted_session *ss = (struct scripted_session *)s;
	struct scripted_backend *sb = (struct scripted_backend *)s->backend;
	uint32_t have = scripted_length(s), add;

	if (!utf8_valid(text, len)) {
		xasprintf(cause, "appended text is not valid UTF-8");
		return -1;
	}
	add = scripted_count(s->backend, text, len);
	if ((uint64_t)have + add > sb->n_ctx) {
		xasprintf(cause,
		    "%u tokens do not fit in the context (%u of %u used)", add,
		    have, sb->n_ctx);
		return -1;
	}
	buf_add(&ss->text, text, len);
	if (sb->kv_reuse) {
		res->computed = add;
		res->reused = have;
	}
	return 0;
}

/* Sleeps ms in short slices; returns 1 when cancelled or late meanwhile. */
static int
scripted_sleep(const struct agent_gen_params *p, uint64_t ms)
{
	struct timespec ts;
	uint64_t end = clock_mono_ns() + ms * 1000000u, now;

	for (;;) {
		if (agent_gen_stopped(p))
			return 1;
		now = clock_mono_ns();
		if (now >= end)
			return 0;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(end - now < SCRIPTED_SLICE_MS * 1000000u
		        ? end - now
		        : SCRIPTED_SLICE_MS * 1000000u);
		nanosleep(&ts, NULL);
	}
}

static int
scripted_generate(struct agent_session *s, const struct agent_gen_params *p,
    struct agent_gen_result *res, char **cause)
{
	struct scripted_session *ss = (struct scripted_session *)s;
	struct scripted_backend *sb = (struct scripted_backend *)s->backend;
	const struct scripted_output *o;
	struct agent_gen_text g;
	uint64_t start = clock_mono_ns(), delay, first = 0, end;
	uint32_t max = p->max_tokens != 0 ? p->max_tokens
	                                  : AGENT_DEFAULT_MAX_TOKENS,
	         len = scripted_length(s);
	int rc;

	/* The first call picks the conversation. */
	if (ss->script == NULL) {
		for (size_t i = 0; i < sb->n_scripts; i++) {
			const char *m = sb->scripts[i].match;

			if (m == NULL ||
			    (ss->text.data != NULL &&
			        strstr(ss->text.data, m) != NULL)) {
				ss->script = &sb->scripts[i];
				break;
			}
		}
		if (ss->script == NULL) {
			xasprintf(cause,
			    "%s: no script matches the session's text",
			    sb->head.name);
			return -1;
		}
	}
	if (ss->calls >= ss->script->n_outputs) {
		xasprintf(cause, "%s: the script has no output for call %zu",
		    sb->head.name, ss->calls + 1);
		return -1;
	}
	o = &ss->script->outputs[ss->calls++];
	if (o->error != NULL) {
		xasprintf(cause, "%s", o->error);
		return -1;
	}
	delay = o->delay_ms >= 0 ? (uint64_t)o->delay_ms : sb->delay_ms;
	if (!sb->kv_reuse)
		res->prompt_computed = len;

	agent_gen_text_init(&g, p);
	res->finish = o->finish;
	for (size_t i = 0;; i++) {
		if (agent_gen_stopped(p) ||
		    (delay != 0 && scripted_sleep(p, delay))) {
			res->finish = AGENT_FINISH_CANCELLED;
			break;
		}
		if (i == o->n_tokens)
			break;
		if (res->tokens >= max || len + res->tokens >= sb->n_ctx) {
			res->finish = AGENT_FINISH_LENGTH;
			break;
		}
		res->tokens++;
		if (first == 0)
			first = clock_mono_ns();
		rc = agent_gen_text_push(&g, o->tokens[i], strlen(o->tokens[i]),
		    AGENT_GEN_MAX_BYTES);
		if (rc == -1) {
			res->finish = AGENT_FINISH_LENGTH;
			break;
		}
		if (rc == 1) {
			res->finish = AGENT_FINISH_STOP;
			break;
		}
	}
	agent_gen_text_flush(&g);
	agent_gen_text_finish(&g, res);
	buf_add(&ss->text, res->text, res->len);

	end = clock_mono_ns();
	res->ttft_ns = first != 0 ? first - start : 0;
	if (res->tokens > 0 && end > first)
		res->tokens_per_s = (double)res->tokens * 1e9 /
		    (double)(end - (first != 0 ? first : start));
	return 0;
}

static struct agent_session *
scripted_fork(struct agent_session *s, char **cause)
{
	struct scripted_session *ss = (struct scripted_session *)s, *copy;

	(void)cause;
	copy = xcalloc(1, sizeof *copy);
	agent_session_init(&copy->head, s->backend);
	buf_init(&copy->text, SIZE_MAX);
	buf_add(&copy->text, ss->text.data, ss->text.len);
	copy->script = ss->script;
	copy->calls = ss->calls;
	return &copy->head;
}

static uint64_t
scripted_mark(struct agent_session *s)
{
	return ((struct scripted_session *)s)->text.len;
}

static int
scripted_rewind(struct agent_session *s, uint64_t mark, char **cause)
{
	struct scripted_session *ss = (struct scripted_session *)s;

	if (mark > ss->text.len) {
		xasprintf(cause, "mark %llu is past the session's end (%zu)",
		    (unsigned long long)mark, ss->text.len);
		return -1;
	}
	ss->text.len = (size_t)mark;
	if (ss->text.data != NULL)
		ss->text.data[ss->text.len] = '\0';
	return 0;
}

const char *
agent_scripted_text(struct agent_session *s, size_t *len)
{
	struct scripted_session *ss = (struct scripted_session *)s;

	if (s->backend->ops != &scripted_ops)
		return NULL;
	if (len != NULL)
		*len = ss->text.len;
	return ss->text.data != NULL ? ss->text.data : "";
}
