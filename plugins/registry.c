/*
 * registry.c: tools, snapshots of them and the registry that publishes
 * the snapshots.
 *
 * A snapshot (struct plug_set) is an array of tool references sorted by
 * name; once published it never changes.  The registry holds the current
 * one behind a mutex and hands out references; a reload builds the next
 * snapshot without the mutex (built-ins first, from the table below, then
 * each provider) and swaps it in.  Both snapshots and tools count their
 * references atomically, so whoever holds one may use it from any thread
 * for as long as they like, whatever reloads happen meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* Longest tool name and description the registry takes. */
#define PLUG_NAME_MAX        64
#define PLUG_DESCRIPTION_MAX 1024

/* The built-in tools, in no particular order (snapshots sort them). */
static const struct plug_builtin *const plug_builtins[] = {
	&plug_builtin_calc,
	&plug_builtin_file_read,
	&plug_builtin_http_get,
	&plug_builtin_kb_search,
};

struct plug_tool {
	atomic_uint refs;
	/* Defaults from the config of the build it was added to. */
	uint32_t timeout_ms;
	size_t max_output;
	int added; /* to a build: a tool joins one build only */
	char *name;
	char *description;
	json_t *schema;
	char *prompt_line;
	enum plug_source source;
	char *origin;
	const struct plug_tool_ops *ops;
	void *impl;
};

struct plug_set {
	atomic_uint refs;
	uint64_t generation;
	struct plug_tool **tools; /* sorted by name */
	size_t n;
};

struct plug_build {
	const struct plug_config *config;
	struct plug_tool **tools;
	size_t n;
	size_t size;
};

struct plug_registry {
	pthread_mutex_t lock;        /* guards current */
	pthread_mutex_t reload_lock; /* one build at a time */
	struct plug_set *current;
	struct plug_config *config; /* guarded by reload_lock */
	struct plug_provider *providers;
	size_t n_providers;
	uint64_t generation;
};

/* A built-in's implementation: its definition and its state. */
struct plug_builtin_impl {
	const struct plug_builtin *def;
	void *state;
};

static void plug_builtin_call(void *impl, const json_t *args,
    const struct plug_call *call, struct plug_result *res);
static void plug_builtin_free(void *impl);
static int plug_name_valid(const char *name, char **cause);
static int plug_description_valid(
    const char *name, const char *desc, char **cause);
static int plug_schema_integers(
    const json_t *v, struct buf *path, char **cause);
static void plug_result_fix(struct plug_result *res, size_t cap);
static struct plug_set *plug_registry_build(
    struct plug_registry *r, const struct plug_config *config);
static int plug_tool_cmp(const void *a, const void *b);

static const struct plug_tool_ops plug_builtin_ops = {
	.call = plug_builtin_call,
	.free = plug_builtin_free,
};

/* ---- results and calls --------------------------------------------------- */

void
plug_result_clear(struct plug_result *res)
{
	if (res == NULL)
		return;
	free(res->text);
	memset(res, 0, sizeof *res);
}

void
plug_result_ok(struct plug_result *res, const char *text)
{
	plug_result_clear(res);
	res->text = xstrdup(text);
	res->len = strlen(text);
	res->is_error = 0;
}

void
plug_result_error(struct plug_result *res, const char *fmt, ...)
{
	va_list ap;

	plug_result_clear(res);
	va_start(ap, fmt);
	xvasprintf(&res->text, fmt, ap);
	va_end(ap);
	res->len = strlen(res->text);
	res->is_error = 1;
}

int
plug_call_cancelled(const struct plug_call *call)
{
	return call->cancel != NULL && atomic_load(call->cancel) != 0;
}

int
plug_call_stopped(const struct plug_call *call)
{
	if (plug_call_cancelled(call))
		return 1;
	return call->deadline_ns != 0 && clock_mono_ns() >= call->deadline_ns;
}

static const char *plug_tool_where(const struct plug_tool *t);
static void plug_build_builtins(
    struct plug_build *b, const struct plug_config *config);
static const char *const *plug_strv_dup(const char *const *v, size_t n);
static void plug_strv_free(const char *const *v, size_t n);
static int plug_config_check(const struct plug_config *c, char **cause);

/*
 * Makes a result fit for every caller: valid UTF-8 without NUL bytes
 * (each bad byte becomes U+FFFD) and at most cap bytes, cut on a code
 * point boundary.
 */
static void
plug_result_fix(struct plug_result *res, size_t cap)
{
	static const char repl[] = "\xef\xbf\xbd";
	size_t off, cut, i;
	struct buf b;

	if (res->text == NULL) {
		plug_result_error(res, "tool returned no result");
		return;
	}
	off = utf8_check(res->text, res->len);
	if (off < res->len || memchr(res->text, '\0', res->len) != NULL) {
		buf_init(&b, SIZE_MAX);
		i = 0;
		while (i < res->len) {
			off = i + utf8_check(res->text + i, res->len - i);
			for (size_t j = i; j < off; j++) {
				if (res->text[j] == '\0') {
					buf_add(&b, res->text + i, j - i);
					buf_add(&b, repl, 3);
					i = j + 1;
				}
			}
			buf_add(&b, res->text + i, off - i);
			if (off < res->len) {
				buf_add(&b, repl, 3);
				off++;
			}
			i = off;
		}
		free(res->text);
		res->len = b.len;
		res->text = buf_steal(&b);
		buf_free(&b);
	}
	if (res->len > cap) {
		cut = cap;
		while (
		    cut > 0 && ((unsigned char)res->text[cut] & 0xc0) == 0x80)
			cut--;
		res->text[cut] = '\0';
		res->len = cut;
		res->truncated = 1;
	}
}

/* ---- tools --------------------------------------------------------------- */

const char *
plug_source_name(enum plug_source source)
{
	switch (source) {
	case PLUG_SOURCE_BUILTIN:
		return "builtin";
	case PLUG_SOURCE_C:
		return "c";
	case PLUG_SOURCE_LUA:
		return "lua";
	}
	return "unknown";
}

/* Names are what the model writes after "Action: ", so keep them plain. */
static int
plug_name_valid(const char *name, char **cause)
{
	size_t len;

	if (name == NULL || *name == '\0') {
		*cause = xstrdup("tool name is empty");
		return -1;
	}
	len = strlen(name);
	if (len > PLUG_NAME_MAX) {
		xasprintf(cause, "tool name '%.*s...' is longer than %d bytes",
		    16, name, PLUG_NAME_MAX);
		return -1;
	}
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	        (name[0] >= 'A' && name[0] <= 'Z'))) {
		xasprintf(cause, "tool name must start with a letter");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')
			continue;
		xasprintf(cause,
		    "tool name has a character other than letters, digits, "
		    "'_', '.' and '-' at byte %zu",
		    i + 1);
		return -1;
	}
	return 0;
}

/* A description is one line of UTF-8 text in every prompt. */
static int
plug_description_valid(const char *name, const char *desc, char **cause)
{
	size_t len;

	if (desc == NULL || *desc == '\0') {
		xasprintf(cause, "tool '%s': description is empty", name);
		return -1;
	}
	len = strlen(desc);
	if (len > PLUG_DESCRIPTION_MAX) {
		xasprintf(cause,
		    "tool '%s': description is longer than %d bytes", name,
		    PLUG_DESCRIPTION_MAX);
		return -1;
	}
	if (!utf8_valid(desc, len)) {
		xasprintf(cause,
		    "tool '%s': description is not UTF-8 (byte %zu)", name,
		    utf8_check(desc, len) + 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)desc[i] < 0x20 || desc[i] == 0x7f) {
			xasprintf(cause,
			    "tool '%s': description has a control character "
			    "at byte %zu (it must be one line)",
			    name, i + 1);
			return -1;
		}
	}
	return 0;
}

/*
 * Prompts carry schemas as integers only (jansson and Python print reals
 * differently), so a schema holding a real anywhere is refused.
 */
static int
plug_schema_integers(const json_t *v, struct buf *path, char **cause)
{
	size_t len = path->len, i;
	const char *key;
	json_t *e;
	int rc = 0;

	switch (json_typeof(v)) {
	case JSON_REAL:
		xasprintf(cause,
		    "%s: only integers are allowed in a tool's schema, not "
		    "%g",
		    path->data, json_real_value(v));
		return -1;
	case JSON_OBJECT:
		json_object_foreach((json_t *)(uintptr_t)v, key, e)
		{
			buf_printf(path, ".%s", key);
			rc = plug_schema_integers(e, path, cause);
			path->len = len;
			path->data[len] = '\0';
			if (rc != 0)
				return rc;
		}
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
		{
			buf_printf(path, "[%zu]", i);
			rc = plug_schema_integers(e, path, cause);
			path->len = len;
			path->data[len] = '\0';
			if (rc != 0)
				return rc;
		}
		return 0;
	default:
		return 0;
	}
}

struct plug_tool *
plug_tool_new(const char *name, const char *description, const json_t *schema,
    enum plug_source source, const char *origin,
    const struct plug_tool_ops *ops, void *impl, char **cause)
{
	struct plug_tool *t;
	const json_t *v;
	struct buf path;
	char *why = NULL, *dump;
	int rc;

	AGENTD_ASSERT(ops != NULL && ops->call != NULL);
	if (plug_name_valid(name, &why) != 0) {
		if (name != NULL && *name != '\0' &&
		    strlen(name) <= PLUG_NAME_MAX)
			xasprintf(cause, "tool '%s': %s", name, why);
		else
			*cause = xstrdup(why);
		free(why);
		return NULL;
	}
	if (plug_description_valid(name, description, cause) != 0)
		return NULL;
	if (schema == NULL || !json_is_object(schema)) {
		xasprintf(
		    cause, "tool '%s': the schema must be an object", name);
		return NULL;
	}
	if (plug_schema_check(schema, &why) != 0) {
		xasprintf(cause, "tool '%s': %s", name, why);
		free(why);
		return NULL;
	}
	buf_init(&path, SIZE_MAX);
	buf_puts(&path, "schema");
	rc = plug_schema_integers(schema, &path, &why);
	buf_free(&path);
	if (rc != 0) {
		xasprintf(cause, "tool '%s': %s", name, why);
		free(why);
		return NULL;
	}
	v = json_object_get(schema, "type");
	if (!json_is_string(v) || strcmp(json_string_value(v), "object") != 0) {
		xasprintf(cause,
		    "tool '%s': the schema must have \"type\": \"object\"",
		    name);
		return NULL;
	}
	if (json_object_get(schema, "required") == NULL) {
		xasprintf(cause,
		    "tool '%s': the schema must have \"required\" (it may be "
		    "[])",
		    name);
		return NULL;
	}
	if (!json_is_false(json_object_get(schema, "additionalProperties"))) {
		xasprintf(cause,
		    "tool '%s': the schema must have "
		    "\"additionalProperties\": false",
		    name);
		return NULL;
	}

	t = xcalloc(1, sizeof *t);
	atomic_init(&t->refs, 1);
	t->name = xstrdup(name);
	t->description = xstrdup(description);
	t->schema = json_deep_copy(schema);
	if (t->schema == NULL)
		fatalx("%s: out of memory", __func__);
	t->source = source;
	t->origin = (origin != NULL) ? xstrdup(origin) : NULL;
	t->ops = ops;
	t->impl = impl;
	t->timeout_ms = PLUG_DEFAULT_CALL_TIMEOUT_MS;
	t->max_output = PLUG_DEFAULT_MAX_OUTPUT;
	dump = json_dumps(t->schema, JSON_COMPACT | JSON_SORT_KEYS);
	if (dump == NULL)
		fatalx("%s: out of memory", __func__);
	xasprintf(&t->prompt_line, "%s: %s Arguments: %s", t->name,
	    t->description, dump);
	free(dump);
	return t;
}

struct plug_tool *
plug_tool_ref(struct plug_tool *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void
plug_tool_unref(struct plug_tool *t)
{
	if (t == NULL)
		return;
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	if (t->ops->free != NULL)
		t->ops->free(t->impl);
	free(t->name);
	free(t->description);
	json_decref(t->schema);
	free(t->prompt_line);
	free(t->origin);
	free(t);
}

const char *
plug_tool_name(const struct plug_tool *t)
{
	return t->name;
}

const char *
plug_tool_description(const struct plug_tool *t)
{
	return t->description;
}

const json_t *
plug_tool_schema(const struct plug_tool *t)
{
	return t->schema;
}

enum plug_source
plug_tool_source(const struct plug_tool *t)
{
	return t->source;
}

const char *
plug_tool_origin(const struct plug_tool *t)
{
	return t->origin;
}

int
plug_tool_validate(const struct plug_tool *t, const json_t *args, char **cause)
{
	return plug_schema_validate(t->schema, args, cause);
}

int
plug_tool_call(struct plug_tool *t, const json_t *args,
    const struct plug_limits *limits, const atomic_int *cancel,
    struct plug_result *res, char **cause)
{
	struct plug_call call;
	uint32_t timeout_ms = t->timeout_ms;
	size_t cap = t->max_output;

	memset(res, 0, sizeof *res);
	if (args == NULL || !json_is_object(args)) {
		*cause = xstrdup("arguments must be a JSON object");
		return -1;
	}
	if (plug_schema_validate(t->schema, args, cause) != 0)
		return -1;
	if (limits != NULL && limits->timeout_ms != 0)
		timeout_ms = limits->timeout_ms;
	if (limits != NULL && limits->max_output_bytes != 0)
		cap = limits->max_output_bytes;

	memset(&call, 0, sizeof call);
	call.tool = t->name;
	call.deadline_ns = clock_mono_ns() + (uint64_t)timeout_ms * 1000000;
	call.max_output_bytes = cap;
	call.cancel = cancel;

	plug_tool_ref(t);
	if (plug_call_cancelled(&call))
		plug_result_error(res, "cancelled");
	else
		t->ops->call(t->impl, args, &call, res);
	plug_tool_unref(t);

	/* Nobody wants the result of a cancelled call; say so plainly. */
	if (plug_call_cancelled(&call) && !res->is_error)
		plug_result_error(res, "cancelled");
	plug_result_fix(res, cap);
	return 0;
}

char *
plug_tool_prompt_line(const struct plug_tool *t)
{
	return xstrdup(t->prompt_line);
}

json_t *
plug_tool_json(const struct plug_tool *t)
{
	return json_pack("{s:s, s:s, s:O, s:s}", "name", t->name, "description",
	    t->description, "parameters", t->schema, "source",
	    plug_source_name(t->source));
}

/* ---- built-ins ----------------------------------------------------------- */

static void
plug_builtin_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	struct plug_builtin_impl *bi = impl;

	bi->def->call(bi->state, args, call, res);
}

static void
plug_builtin_free(void *impl)
{
	struct plug_builtin_impl *bi = impl;

	if (bi->def->free != NULL)
		bi->def->free(bi->state);
	free(bi);
}

/* ---- snapshots ----------------------------------------------------------- */

struct plug_set *
plug_set_ref(struct plug_set *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

void
plug_set_unref(struct plug_set *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (size_t i = 0; i < s->n; i++)
		plug_tool_unref(s->tools[i]);
	free(s->tools);
	free(s);
}

size_t
plug_set_count(const struct plug_set *s)
{
	return s->n;
}

struct plug_tool *
plug_set_tool(const struct plug_set *s, size_t i)
{
	AGENTD_ASSERT(i < s->n);
	return s->tools[i];
}

struct plug_tool *
plug_set_find(const struct plug_set *s, const char *name)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, s->tools[mid]->name);
		if (c == 0)
			return s->tools[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

uint64_t
plug_set_generation(const struct plug_set *s)
{
	return s->generation;
}

json_t *
plug_set_list_json(const struct plug_set *s)
{
	json_t *tools = json_array();

	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(tools, plug_tool_json(s->tools[i]));
	return json_pack("{s:o}", "tools", tools);
}

char *
plug_set_prompt(
    const struct plug_set *s, const char *const *names, size_t n, char **cause)
{
	struct buf b;
	size_t i, j;

	for (i = 0; names != NULL && i < n; i++) {
		if (plug_set_find(s, names[i]) == NULL) {
			xasprintf(cause, "unknown tool '%s'", names[i]);
			return NULL;
		}
	}
	buf_init(&b, SIZE_MAX);
	for (i = 0; i < s->n; i++) {
		if (names != NULL) {
			for (j = 0; j < n; j++) {
				if (strcmp(names[j], s->tools[i]->name) == 0)
					break;
			}
			if (j == n)
				continue;
		}
		buf_puts(&b, s->tools[i]->prompt_line);
		buf_puts(&b, "\n");
	}
	if (b.data == NULL)
		buf_add(&b, "", 0);
	return buf_steal(&b);
}

char *
plug_set_names(const struct plug_set *s)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	buf_add(&b, "", 0);
	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			buf_puts(&b, ", ");
		buf_puts(&b, s->tools[i]->name);
	}
	return buf_steal(&b);
}

/* ---- building a snapshot ------------------------------------------------- */

/* Where a tool came from, for messages. */
static const char *
plug_tool_where(const struct plug_tool *t)
{
	if (t->origin != NULL)
		return t->origin;
	return t->source == PLUG_SOURCE_BUILTIN ? "the built-ins" : "?";
}

int
plug_build_add(struct plug_build *b, struct plug_tool *t, char **cause)
{
	for (size_t i = 0; i < b->n; i++) {
		if (strcmp(b->tools[i]->name, t->name) != 0)
			continue;
		xasprintf(cause, "tool '%s' from %s is already defined by %s",
		    t->name, plug_tool_where(t), plug_tool_where(b->tools[i]));
		plug_tool_unref(t);
		return -1;
	}
	/* A tool takes the limits of the config it is published under. */
	AGENTD_ASSERT(!t->added);
	t->added = 1;
	if (b->config->call_timeout_ms != 0)
		t->timeout_ms = b->config->call_timeout_ms;
	if (b->config->max_output_bytes != 0)
		t->max_output = b->config->max_output_bytes;
	if (b->n == b->size) {
		b->size = (b->size == 0) ? 16 : b->size * 2;
		b->tools = xreallocarray(b->tools, b->size, sizeof *b->tools);
	}
	b->tools[b->n++] = t;
	return 0;
}

int
plug_build_has(const struct plug_build *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++) {
		if (strcmp(b->tools[i]->name, name) == 0)
			return 1;
	}
	return 0;
}

static int
plug_tool_cmp(const void *a, const void *b)
{
	const struct plug_tool *ta = *(struct plug_tool *const *)a;
	const struct plug_tool *tb = *(struct plug_tool *const *)b;

	return strcmp(ta->name, tb->name);
}

/* Adds the built-ins the config turns on, logging those that fail. */
static void
plug_build_builtins(struct plug_build *b, const struct plug_config *config)
{
	const struct plug_builtin *def;
	struct plug_builtin_impl *bi;
	struct plug_tool *t;
	json_t *schema;
	json_error_t jerr;
	void *state;
	char *cause = NULL;
	int rc;

	for (size_t i = 0; i < sizeof plug_builtins / sizeof *plug_builtins;
	     i++) {
		def = plug_builtins[i];
		state = NULL;
		rc = def->init(config, &state, &cause);
		if (rc == 1)
			continue;
		if (rc != 0) {
			log_warn(
			    "tool %s: not available: %s", def->name, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		schema = json_loads(def->schema, 0, &jerr);
		if (schema == NULL) {
			fatalx("tool %s: built-in schema: %s (column %d)",
			    def->name, jerr.text, jerr.column);
		}
		bi = xcalloc(1, sizeof *bi);
		bi->def = def;
		bi->state = state;
		t = plug_tool_new(def->name, def->description, schema,
		    PLUG_SOURCE_BUILTIN, NULL, &plug_builtin_ops, bi, &cause);
		json_decref(schema);
		if (t == NULL) {
			/* A built-in's schema is wrong: a bug, not input. */
			fatalx("built-in %s", cause);
		}
		if (plug_build_add(b, t, &cause) != 0)
			fatalx("built-in %s", cause);
	}
}

/* Builds a snapshot from config; never fails (bad tools are left out). */
static struct plug_set *
plug_registry_build(struct plug_registry *r, const struct plug_config *config)
{
	struct plug_build b;
	struct plug_set *s;

	memset(&b, 0, sizeof b);
	b.config = config;
	plug_build_builtins(&b, config);
	for (size_t i = 0; i < r->n_providers; i++) {
		size_t before = b.n;

		r->providers[i].collect(r->providers[i].arg, config, &b);
		log_debug("%s: %zu tools",
		    r->providers[i].name != NULL ? r->providers[i].name
		                                 : "provider",
		    b.n - before);
	}

	s = xcalloc(1, sizeof *s);
	atomic_init(&s->refs, 1);
	s->tools = b.tools;
	s->n = b.n;
	qsort(s->tools, s->n, sizeof *s->tools, plug_tool_cmp);
	s->generation = ++r->generation;
	return s;
}

/* ---- configuration ------------------------------------------------------- */

/* Copies a list of n strings (NULL entries are refused by the caller). */
static const char *const *
plug_strv_dup(const char *const *v, size_t n)
{
	char **copy;

	if (n == 0)
		return NULL;
	copy = xcalloc(n, sizeof *copy);
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(v[i]);
	return (const char *const *)copy;
}

static void
plug_strv_free(const char *const *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free((char *)(uintptr_t)v[i]);
	free((void *)(uintptr_t)v);
}

struct plug_config *
plug_config_dup(const struct plug_config *config)
{
	struct plug_config *c = xcalloc(1, sizeof *c);

	*c = *config;
	c->kb_dir = config->kb_dir ? xstrdup(config->kb_dir) : NULL;
	c->file_roots = plug_strv_dup(config->file_roots, config->n_file_roots);
	c->http_allow_hosts =
	    plug_strv_dup(config->http_allow_hosts, config->n_http_allow_hosts);
	c->plugin_dirs =
	    plug_strv_dup(config->plugin_dirs, config->n_plugin_dirs);
	c->plugin_allowlist =
	    config->plugin_allowlist ? xstrdup(config->plugin_allowlist) : NULL;
	c->lua_dirs = plug_strv_dup(config->lua_dirs, config->n_lua_dirs);
	return c;
}

void
plug_config_free(struct plug_config *c)
{
	if (c == NULL)
		return;
	free((char *)(uintptr_t)c->kb_dir);
	plug_strv_free(c->file_roots, c->n_file_roots);
	plug_strv_free(c->http_allow_hosts, c->n_http_allow_hosts);
	plug_strv_free(c->plugin_dirs, c->n_plugin_dirs);
	free((char *)(uintptr_t)c->plugin_allowlist);
	plug_strv_free(c->lua_dirs, c->n_lua_dirs);
	free(c);
}

/* Refuses a config whose lists hold NULL entries or empty paths. */
static int
plug_config_check(const struct plug_config *c, char **cause)
{
	static const struct {
		const char *what;
		size_t off_v;
		size_t off_n;
	} lists[] = {
		{ "file_read root", offsetof(struct plug_config, file_roots),
		    offsetof(struct plug_config, n_file_roots) },
		{ "http_get allowed host",
		    offsetof(struct plug_config, http_allow_hosts),
		    offsetof(struct plug_config, n_http_allow_hosts) },
		{ "plugin folder", offsetof(struct plug_config, plugin_dirs),
		    offsetof(struct plug_config, n_plugin_dirs) },
		{ "Lua tool folder", offsetof(struct plug_config, lua_dirs),
		    offsetof(struct plug_config, n_lua_dirs) },
	};
	const char *const *v;
	size_t n;

	if (c->kb_dir != NULL && *c->kb_dir == '\0') {
		*cause = xstrdup("knowledge-base folder is an empty path");
		return -1;
	}
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		memcpy(&v, (const char *)c + lists[i].off_v, sizeof v);
		memcpy(&n, (const char *)c + lists[i].off_n, sizeof n);
		if (n > 0 && v == NULL) {
			xasprintf(cause, "%s list is missing", lists[i].what);
			return -1;
		}
		for (size_t j = 0; j < n; j++) {
			if (v[j] == NULL || *v[j] == '\0') {
				xasprintf(cause, "%s %zu is empty",
				    lists[i].what, j + 1);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- the registry -------------------------------------------------------- */

struct plug_registry *
plug_registry_new(const struct plug_config *config,
    const struct plug_provider *providers, size_t n, char **cause)
{
	struct plug_registry *r;

	if (plug_config_check(config, cause) != 0)
		return NULL;
	r = xcalloc(1, sizeof *r);
	if (pthread_mutex_init(&r->lock, NULL) != 0 ||
	    pthread_mutex_init(&r->reload_lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init failed", __func__);
	r->config = plug_config_dup(config);
	if (n > 0) {
		r->providers = xcalloc(n, sizeof *r->providers);
		memcpy(r->providers, providers, n * sizeof *r->providers);
	}
	r->n_providers = n;
	r->current = plug_registry_build(r, r->config);
	log_info("tools: %zu registered", r->current->n);
	return r;
}

void
plug_registry_free(struct plug_registry *r)
{
	if (r == NULL)
		return;
	plug_set_unref(r->current);
	plug_config_free(r->config);
	free(r->providers);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->reload_lock);
	free(r);
}

struct plug_set *
plug_registry_get(struct plug_registry *r)
{
	struct plug_set *s;

	pthread_mutex_lock(&r->lock);
	s = plug_set_ref(r->current);
	pthread_mutex_unlock(&r->lock);
	return s;
}

int
plug_registry_reload(
    struct plug_registry *r, const struct plug_config *config, char **cause)
{
	struct plug_config *copy = NULL;
	struct plug_set *s, *old;

	pthread_mutex_lock(&r->reload_lock);
	if (config != NULL) {
		if (plug_config_check(config, cause) != 0) {
			pthread_mutex_unlock(&r->reload_lock);
			return -1;
		}
		copy = plug_config_dup(config);
	}
	s = plug_registry_build(r, copy != NULL ? copy : r->config);
	if (copy != NULL) {
		plug_config_free(r->config);
		r->config = copy;
	}

	pthread_mutex_lock(&r->lock);
	old = r->current;
	r->current = s;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->reload_lock);

	log_info("tools: reloaded, %zu registered (generation %llu)", s->n,
	    (unsigned long long)s->generation);
	plug_set_unref(old);
	return 0;
}
