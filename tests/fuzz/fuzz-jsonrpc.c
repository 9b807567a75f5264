/*
 * fuzz-jsonrpc.c: libFuzzer harness for the JSON-RPC engine
 * (daemon/jsonrpc.c, request.c): request parsing and validation, batches,
 * dispatch and the encoding of answers.
 *
 * Each line of an input is handed to a session as the connection would
 * hand it, with a method table of the real daemon.ping, daemon.methods
 * and daemon.status and a few methods of this harness: one that echoes
 * its params, one that fails, one that answers with an error, one that
 * answers later from the loop after a notification.  Then:
 *
 *   - every line written back is one JSON value: an answer object (or an
 *     array of them) with "jsonrpc": "2.0", an id, and either a result or
 *     an error with an integer code, a string message and a data object,
 *     or a notification;
 *   - when dmn_envelope_scan() reads a line as a plain request, jansson
 *     must parse the line to the same members, with the same values, and
 *     the depth it reports must be the line's (the plain road must never
 *     accept what the full road would answer otherwise);
 *   - any line jansson parses is encoded by dmn_json_encode() to exactly
 *     the bytes of json_dumps(JSON_COMPACT | JSON_ENCODE_ANY);
 *   - once the loop's queue is run, no request is left alive.
 *
 *   make fuzz
 *   build/fuzz/fuzz-jsonrpc -dict=tests/fuzz/jsonrpc.dict -max_len=65536 \
 *       CORPUS_DIR tests/fixtures/fuzz/jsonrpc
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

/* Inputs above this are ignored: the engine's cost is linear in size. */
#define MAX_INPUT 65536

extern const struct dmn_method dmn_method_daemon_methods;
extern const struct dmn_method dmn_method_daemon_ping;
extern const struct dmn_method dmn_method_daemon_status;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bug(const char *, const char *, size_t) __attribute__((noreturn));
static int echo_exec(struct dmn_request *, char **);
static int fail_exec(struct dmn_request *, char **);
static int error_exec(struct dmn_request *, char **);
static int later_exec(struct dmn_request *, char **);
static void later_cb(void *);
static void out_write(struct dmn_session *, const char *, size_t);
static size_t out_queued(struct dmn_session *);
static void check_answer(const json_t *, const char *, size_t);
static void check_envelope(const char *, size_t);
static void check_encode(const char *, size_t);
static void setup(void);

static const struct dmn_method method_echo = {
	.name = "test.echo",
	.description = "Answers with its params.",
	.exec = echo_exec,
};
static const struct dmn_method method_fail = {
	.name = "test.fail",
	.description = "Fails without answering.",
	.exec = fail_exec,
};
static const struct dmn_method method_error = {
	.name = "test.error",
	.description = "Answers with an error whose data are its params.",
	.exec = error_exec,
};
static const struct dmn_method method_later = {
	.name = "test.later",
	.description = "Notifies, then answers from the loop's queue.",
	.exec = later_exec,
};
static const struct dmn_method method_debug = {
	.name = "test.debug",
	.description = "A debugging method, never served here.",
	.flags = DMN_METHOD_DEBUG,
	.exec = echo_exec,
};

static const struct dmn_method *const methods[] = {
	&dmn_method_daemon_methods,
	&dmn_method_daemon_ping,
	&dmn_method_daemon_status,
	&method_debug,
	&method_echo,
	&method_error,
	&method_fail,
	&method_later,
};

/* The daemon's side, set up once. */
static struct event_base *base;
static struct dmn_queue *queue;
static struct dmn_pool *pool;
static struct dmn_config *config;
static struct dmn_ctx ctx;

/* Stops with a message naming the line that broke a rule. */
static void
bug(const char *what, const char *line, size_t len)
{
	fprintf(stderr, "fuzz-jsonrpc: %s\nline: %.*s\n", what,
	    len > 4096 ? 4096 : (int)len, line);
	abort();
}

static int
echo_exec(struct dmn_request *req, char **cause)
{
	json_t *params = dmn_request_params(req);

	(void)cause;
	dmn_request_reply(req,
	    json_pack("{s:O?, s:s}", "params", params, "method",
	        dmn_request_method(req)));
	return 0;
}

static int
fail_exec(struct dmn_request *req, char **cause)
{
	(void)req;
	xasprintf(cause, "failed on purpose");
	return -1;
}

static int
error_exec(struct dmn_request *req, char **cause)
{
	json_t *params = dmn_request_params(req);

	(void)cause;
	dmn_request_error(req, DMN_ERR_TOOL_FAILED, "test error",
	    json_is_object(params) ? json_deep_copy(params) : NULL);
	return 0;
}

static int
later_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	dmn_request_notify(req, "test.note", json_pack("{s:b}", "soon", 1));
	dmn_queue_push(dmn_request_ctx(req)->queue, later_cb, req);
	return 0;
}

static void
later_cb(void *arg)
{
	dmn_request_reply(arg, json_pack("{s:b}", "later", 1));
}

/* One answer (or notification) object: the shape the spec requires. */
static void
check_answer(const json_t *m, const char *line, size_t len)
{
	json_t *err, *code, *id;
	size_t n = 0;

	if (!json_is_object(m))
		bug("an answer is not an object", line, len);
	if (!json_is_string(json_object_get(m, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(m, "jsonrpc")), "2.0") !=
	        0)
		bug("an answer without \"jsonrpc\": \"2.0\"", line, len);
	if (json_object_get(m, "method") != NULL) {
		/* A notification: jsonrpc, method and maybe params. */
		if (json_object_get(m, "id") != NULL)
			bug("a notification with an id", line, len);
		return;
	}
	id = json_object_get(m, "id");
	if (id == NULL ||
	    !(json_is_string(id) || json_is_number(id) || json_is_null(id)))
		bug("an answer without a valid id", line, len);
	n += json_object_get(m, "result") != NULL;
	if ((err = json_object_get(m, "error")) != NULL) {
		n++;
		code = json_object_get(err, "code");
		if (!json_is_integer(code) ||
		    !json_is_string(json_object_get(err, "message")) ||
		    !json_is_object(json_object_get(err, "data")))
			bug("an error without code, message and data", line,
			    len);
		if (json_integer_value(code) > -32000 &&
		    json_integer_value(code) != DMN_ERR_PARSE &&
		    json_integer_value(code) != DMN_ERR_INVALID_REQUEST &&
		    json_integer_value(code) != DMN_ERR_METHOD_NOT_FOUND &&
		    json_integer_value(code) != DMN_ERR_INVALID_PARAMS &&
		    json_integer_value(code) != DMN_ERR_INTERNAL)
			bug("an error code outside the spec's", line, len);
	}
	if (n != 1 || json_object_size(m) != 3)
		bug("an answer without exactly one of result and error", line,
		    len);
}

/* The session's writer: what the client would read. */
static void
out_write(struct dmn_session *s, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *m;

	(void)s;
	if (memchr(line, '\n', len) != NULL)
		bug("an answer spans lines", line, len);
	m = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (m == NULL)
		bug("an answer is not JSON", line, len);
	if (json_is_array(m)) {
		if (json_array_size(m) == 0)
			bug("an empty batch answer", line, len);
		for (size_t i = 0; i < json_array_size(m); i++)
			check_answer(json_array_get(m, i), line, len);
	} else
		check_answer(m, line, len);
	json_decref(m);
}

static size_t
out_queued(struct dmn_session *s)
{
	(void)s;
	return 0;
}

/* What the plain road reads must be what jansson reads. */
static void
check_envelope(const char *line, size_t len)
{
	struct dmn_envelope env;
	json_t *msg, *params = NULL, *v;
	size_t members, where;

	if (dmn_envelope_scan(line, len, &env) != 0)
		return;
	if (env.method < line || env.method + env.method_len > line + len ||
	    (env.params != NULL &&
	        (env.params < line ||
	            env.params + env.params_len > line + len)))
		bug("the envelope points outside the line", line, len);
	msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (env.params != NULL) {
		params = json_loadb(
		    env.params, env.params_len, JSON_REJECT_DUPLICATES, NULL);
		/* The plain road then gives the line to the full one. */
		if (params == NULL) {
			if (msg != NULL)
				bug("params that parse in the line do not "
				    "parse alone",
				    line, len);
			return;
		}
	}
	if (msg == NULL || !json_is_object(msg))
		bug("a plain request jansson refuses", line, len);
	members =
	    2 + (env.params != NULL) + (env.id_kind != DMN_ENVELOPE_ID_NONE);
	if (json_object_size(msg) != members)
		bug("a different number of members", line, len);
	v = json_object_get(msg, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		bug("a different jsonrpc", line, len);
	v = json_object_get(msg, "method");
	if (!json_is_string(v) || json_string_length(v) != env.method_len ||
	    memcmp(json_string_value(v), env.method, env.method_len) != 0)
		bug("a different method", line, len);
	v = json_object_get(msg, "params");
	if ((v == NULL) != (params == NULL) ||
	    (v != NULL && !json_equal(v, params)))
		bug("different params", line, len);
	v = json_object_get(msg, "id");
	switch (env.id_kind) {
	case DMN_ENVELOPE_ID_NONE:
		if (v != NULL)
			bug("an id the envelope missed", line, len);
		break;
	case DMN_ENVELOPE_ID_NULL:
		if (!json_is_null(v))
			bug("a different null id", line, len);
		break;
	case DMN_ENVELOPE_ID_INTEGER:
		if (!json_is_integer(v) || json_integer_value(v) != env.id_int)
			bug("a different integer id", line, len);
		break;
	case DMN_ENVELOPE_ID_STRING:
		if (!json_is_string(v) || json_string_length(v) != env.id_len ||
		    memcmp(json_string_value(v), env.id_str, env.id_len) != 0)
			bug("a different string id", line, len);
		break;
	}
	/* The depth is exact: the full road's scan agrees at both sides. */
	if (dmn_json_too_deep(line, len, env.depth, &where) ||
	    !dmn_json_too_deep(line, len, env.depth - 1, &where))
		bug("a different depth", line, len);
	json_decref(params);
	json_decref(msg);
}

/* dmn_json_encode() writes jansson's bytes. */
static void
check_encode(const char *line, size_t len)
{
	struct buf b;
	json_t *v;
	char *want;

	v = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v == NULL)
		return;
	want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	buf_init(&b, SIZE_MAX);
	if (want == NULL || dmn_json_encode(&b, v) != 0)
		bug("a parsed value does not encode", line, len);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0) {
		fprintf(stderr, "jansson: %s\nours:    %.*s\n", want,
		    (int)b.len, b.data);
		bug("encoded differently", line, len);
	}
	buf_free(&b);
	free(want);
	json_decref(v);
}

static void
setup(void)
{
	char *cause = NULL;

	log_level = 0; /* quiet: the rules above are what is checked */
	if ((base = event_base_new()) == NULL)
		abort();
	queue = dmn_queue_new(base);
	if ((pool = dmn_pool_new(queue, 1, &cause)) == NULL)
		abort();
	config = dmn_config_new();
	/* Small limits, so that inputs reach them. */
	config->max_depth = 8;
	config->max_batch = 4;
	dmn_ctx_init(&ctx, base, queue, pool, config);
	ctx.methods = methods;
	ctx.nmethods = sizeof methods / sizeof methods[0];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmn_session s;
	const char *p = (const char *)data, *nl;
	size_t len;

	if (size > MAX_INPUT)
		return 0;
	if (base == NULL)
		setup();
	dmn_session_init(&s, &ctx);
	s.write = out_write;
	s.queued = out_queued;
	while (size > 0) {
		nl = memchr(p, '\n', size);
		len = nl != NULL ? (size_t)(nl - p) : size;
		check_envelope(p, len);
		check_encode(p, len);
		dmn_session_line(&s, p, len);
		dmn_queue_run(queue);
		if (atomic_load(&ctx.live) != 0 || s.npending != 0)
			bug("a request outlived its answer", p, len);
		size -= len + (nl != NULL);
		p += len + (nl != NULL);
	}
	dmn_session_detach(&s);
	return 0;
}
