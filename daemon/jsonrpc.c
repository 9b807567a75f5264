/*
 * jsonrpc.c: JSON-RPC 2.0 over framed lines.
 *
 * A line is checked for nesting depth (jansson has no depth limit of its
 * own below 2048, so the bytes are scanned first), parsed, and then
 * handled as one request or as a batch.  Each request object is checked
 * member by member; the method is looked up and its params checked; then
 * a request object is dispatched to the method's exec().  Answers come
 * back through dmn_rpc_deliver(), on the loop thread: a single answer is
 * written at once, a batch's answers are collected and written as one
 * array when the last one arrives.  Notifications get no answer, not even
 * an error, as the specification says; a message that is not a valid
 * request always gets one, with a null id when its id cannot be trusted.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

/* The answers of one batch, written as one array when all are in. */
struct dmn_batch {
	json_t *responses; /* array */
	size_t pending;    /* answers awaited, +1 while dispatching */
};

static json_t *rpc_error(json_t *, int, const char *, json_t *);
static json_t *rpc_detail(const char *, ...) printflike(1, 2);
static json_t *rpc_handle_one(
    struct dmn_session *, json_t *, struct dmn_batch *);
static void rpc_handle_batch(struct dmn_session *, json_t *);
static void rpc_batch_release(struct dmn_batch *, struct dmn_session *);
static void rpc_write(struct dmn_session *, json_t *);
static json_t *rpc_answer(json_t *, int, json_t *);
static int rpc_dump_cb(const char *, size_t, void *);
static void rpc_write_answer(struct dmn_session *, json_t *, int, json_t *);

void
dmn_ctx_init(struct dmn_ctx *ctx, struct event_base *base, struct dmn_queue *q,
    struct dmn_pool *pool, const struct dmn_config *config)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->base = base;
	ctx->queue = q;
	ctx->pool = pool;
	ctx->config = config;
	ctx->methods = dmn_methods;
	ctx->nmethods = dmn_nmethods;
	ctx->loop_thread = pthread_self();
	ctx->start_ms = clock_mono_ms();
	atomic_init(&ctx->live, 0);
	TAILQ_INIT(&ctx->sessions);
	buf_init(&ctx->scratch, SIZE_MAX);
}

void
dmn_ctx_free(struct dmn_ctx *ctx)
{
	buf_free(&ctx->scratch);
}

void
dmn_session_init(struct dmn_session *s, struct dmn_ctx *ctx)
{
	memset(s, 0, sizeof *s);
	s->ctx = ctx;
	TAILQ_INIT(&s->pending);
	TAILQ_INSERT_TAIL(&ctx->sessions, s, entry);
	ctx->nsessions++;
}

void
dmn_session_detach(struct dmn_session *s)
{
	struct dmn_request *req;

	if (s->ctx == NULL)
		return;
	TAILQ_REMOVE(&s->ctx->sessions, s, entry);
	s->ctx->nsessions--;
	while ((req = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, req, entry);
		req->session = NULL;
		dmn_request_cancel(req);
	}
	s->npending = 0;
	s->ctx = NULL;
}

void
dmn_session_cancel_all(struct dmn_session *s, const char *detail)
{
	struct dmn_request **reqs, *req;
	size_t n = 0;

	if (s->ctx == NULL || s->npending == 0)
		return;
	/* Answering unlinks each request: take them all first. */
	reqs = xreallocarray(NULL, s->npending, sizeof *reqs);
	TAILQ_FOREACH(req, &s->pending, entry)
		reqs[n++] = dmn_request_ref(req);
	for (size_t i = 0; i < n; i++) {
		dmn_request_abort(reqs[i], DMN_ERR_CANCELLED, detail);
		dmn_request_unref(reqs[i]);
	}
	free(reqs);
}

const char *
dmn_rpc_error_message(int code)
{
	switch (code) {
	case DMN_ERR_PARSE:
		return "Parse error";
	case DMN_ERR_INVALID_REQUEST:
		return "Invalid Request";
	case DMN_ERR_METHOD_NOT_FOUND:
		return "Method not found";
	case DMN_ERR_INVALID_PARAMS:
		return "Invalid params";
	case DMN_ERR_INTERNAL:
		return "Internal error";
	case DMN_ERR_LIMIT:
		return "Limit exceeded";
	case DMN_ERR_UNKNOWN_RUN:
		return "Unknown run or trace";
	case DMN_ERR_OVERLOADED:
		return "Overloaded";
	case DMN_ERR_MODEL:
		return "Model unavailable";
	case DMN_ERR_TOOL_FAILED:
		return "Tool failed";
	case DMN_ERR_CANCELLED:
		return "Cancelled";
	case DMN_ERR_TIMEOUT:
		return "Timed out";
	case DMN_ERR_UNKNOWN_NAME:
		return "Unknown agent or tool";
	case DMN_ERR_TOOL_ARGS:
		return "Invalid tool arguments";
	case DMN_ERR_DENIED:
		return "Permission denied";
	}
	return "Error";
}

/*
 * Builds an error response: {"jsonrpc", "error": {code, message, data},
 * "id"}.  Takes ownership of data (NULL sends {}); id is borrowed (NULL
 * sends null).
 */
static json_t *
rpc_error(json_t *id, int code, const char *message, json_t *data)
{
	json_t *err, *msg;

	if (message == NULL)
		message = dmn_rpc_error_message(code);
	if (data == NULL)
		data = json_object();
	err = json_object();
	json_object_set_new(err, "code", json_integer(code));
	msg = json_string(message);
	json_object_set_new(err, "message",
	    msg != NULL ? msg : json_string(dmn_rpc_error_message(code)));
	json_object_set_new(err, "data", data);
	msg = json_object();
	json_object_set_new(msg, "jsonrpc", json_string(DMN_JSONRPC_VERSION));
	json_object_set_new(msg, "error", err);
	json_object_set(msg, "id", id != NULL ? id : json_null());
	return msg;
}

/* Builds {"detail": "..."}, the data that says what to fix. */
static json_t *
rpc_detail(const char *fmt, ...)
{
	va_list ap;
	json_t *data, *s;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	data = json_object();
	/* A message quoting bad input may not be UTF-8: keep it out. */
	s = json_string(text);
	json_object_set_new(
	    data, "detail", s != NULL ? s : json_string("(message not UTF-8)"));
	free(text);
	return data;
}

json_t *
dmn_rpc_limit_data(const char *name, uint64_t max)
{
	json_t *data;

	data = json_object();
	json_object_set_new(data, "limit", json_string(name));
	json_object_set_new(data, "max", json_integer((json_int_t)max));
	return data;
}

char *
dmn_rpc_error_line(int code, const char *message, json_t *data)
{
	json_t *msg;
	char *line;

	msg = rpc_error(NULL, code, message, data);
	line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (line == NULL)
		fatalx("out of memory encoding an error");
	return line;
}

/* Builds a whole answer around a result or an error object (taken). */
static json_t *
rpc_answer(json_t *id, int is_error, json_t *payload)
{
	json_t *msg;

	msg = json_object();
	json_object_set_new(msg, "jsonrpc", json_string(DMN_JSONRPC_VERSION));
	json_object_set_new(msg, is_error ? "error" : "result", payload);
	json_object_set(msg, "id", id);
	return msg;
}

/* json_dump_callback() into a struct buf (which has no cap here). */
static int
rpc_dump_cb(const char *data, size_t len, void *arg)
{
	return buf_add(arg, data, len);
}

/*
 * Writes an answer around a result or error object (borrowed), encoding
 * it straight into the ctx's scratch buffer: the envelope is never built
 * as JSON objects, which matters for the many small answers.
 */
static void
rpc_write_answer(
    struct dmn_session *s, json_t *id, int is_error, json_t *payload)
{
	struct buf *b = &s->ctx->scratch;

	buf_reset(b);
	buf_puts(b,
	    is_error ? "{\"jsonrpc\":\"2.0\",\"error\":"
	             : "{\"jsonrpc\":\"2.0\",\"result\":");
	if (json_dump_callback(
	        payload, rpc_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
		log_err("session %llu: cannot encode an answer",
		    (unsigned long long)s->id);
		return;
	}
	buf_puts(b, ",\"id\":");
	json_dump_callback(id, rpc_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
	buf_puts(b, "}");
	if (s->write != NULL)
		s->write(s, b->data, b->len);
	/* Keep the buffer for the next answer, unless it grew huge. */
	if (b->size > 1024 * 1024)
		buf_free(b);
}

/* Writes a message as one line; takes ownership of msg. */
static void
rpc_write(struct dmn_session *s, json_t *msg)
{
	char *line;

	line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (line == NULL) {
		log_err("session %llu: cannot encode a message",
		    (unsigned long long)s->id);
		return;
	}
	if (s->ctx != NULL && s->write != NULL)
		s->write(s, line, strlen(line));
	free(line);
}

void
dmn_session_error(struct dmn_session *s, json_t *id, int code,
    const char *message, json_t *data)
{
	rpc_write(s, rpc_error(id, code, message, data));
}

int
dmn_json_too_deep(const char *s, size_t len, size_t max, size_t *where)
{
	size_t depth = 0;
	int in_string = 0, escaped = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > max) {
				*where = i;
				return 1;
			}
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		}
	}
	return 0;
}

void
dmn_session_line(struct dmn_session *s, const char *line, size_t len)
{
	const struct dmn_config *cfg = s->ctx->config;
	json_error_t jerr;
	json_t *msg, *data, *resp;
	size_t where;

	if (dmn_json_too_deep(line, len, cfg->max_depth, &where)) {
		data = dmn_rpc_limit_data("max_depth", cfg->max_depth);
		json_object_set_new(
		    data, "offset", json_integer((json_int_t)where));
		dmn_session_error(s, NULL, DMN_ERR_LIMIT, NULL, data);
		return;
	}
	msg = json_loadb(
	    line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL) {
		if (json_error_code(&jerr) == json_error_null_character)
			data = rpc_detail("\\u0000 is not accepted in strings");
		else
			data = rpc_detail("%s", jerr.text);
		json_object_set_new(
		    data, "offset", json_integer((json_int_t)jerr.position));
		dmn_session_error(s, NULL, DMN_ERR_PARSE, NULL, data);
		return;
	}
	if (json_is_array(msg))
		rpc_handle_batch(s, msg);
	else if ((resp = rpc_handle_one(s, msg, NULL)) != NULL)
		rpc_write(s, resp);
	json_decref(msg);
}

/* Handles a batch: one array of answers, or none if all are notices. */
static void
rpc_handle_batch(struct dmn_session *s, json_t *array)
{
	const struct dmn_config *cfg = s->ctx->config;
	struct dmn_batch *b;
	json_t *resp, *data;
	size_t n = json_array_size(array);

	if (n == 0) {
		dmn_session_error(s, NULL, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail("empty batch: send at least one request"));
		return;
	}
	if (n > cfg->max_batch) {
		data = dmn_rpc_limit_data("max_batch", cfg->max_batch);
		json_object_set_new(data, "got", json_integer((json_int_t)n));
		dmn_session_error(s, NULL, DMN_ERR_LIMIT, NULL, data);
		return;
	}
	b = xcalloc(1, sizeof *b);
	b->responses = json_array();
	b->pending = 1;
	for (size_t i = 0; i < n; i++) {
		/* An answer written on the way may have closed the client. */
		if (s->ctx == NULL)
			break;
		resp = rpc_handle_one(s, json_array_get(array, i), b);
		if (resp != NULL)
			json_array_append_new(b->responses, resp);
	}
	rpc_batch_release(b, s);
}

/* One answer fewer to wait for; writes the array after the last. */
static void
rpc_batch_release(struct dmn_batch *b, struct dmn_session *s)
{
	if (--b->pending > 0)
		return;
	if (s != NULL && json_array_size(b->responses) > 0)
		rpc_write(s, b->responses);
	else
		json_decref(b->responses);
	free(b);
}

/*
 * Validates and dispatches one request object.  Returns an error response
 * to send (caller owns it), or NULL when the request was dispatched or was
 * a notification that failed (which gets no answer).
 */
static json_t *
rpc_handle_one(struct dmn_session *s, json_t *msg, struct dmn_batch *b)
{
	struct dmn_ctx *ctx = s->ctx;
	const struct dmn_method *m;
	struct dmn_request *req;
	json_t *id, *version, *method, *params, *value;
	const char *key, *name;
	char *cause = NULL;
	int rc;

	if (!json_is_object(msg))
		return rpc_error(NULL, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail(b != NULL
		            ? "a batch item must be a request object"
		            : "a message must be a request object or an "
		              "array of them"));
	id = json_object_get(msg, "id");
	if (id != NULL && !json_is_string(id) && !json_is_number(id) &&
	    !json_is_null(id))
		return rpc_error(NULL, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail("\"id\" must be a string, a number or null"));
	json_object_foreach(msg, key, value)
	{
		if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
		    strcmp(key, "params") != 0 && strcmp(key, "id") != 0) {
			json_t *data = rpc_detail("unknown member; a request "
			                          "has only jsonrpc, method, "
			                          "params and id");

			json_object_set_new(data, "member", json_string(key));
			return rpc_error(
			    id, DMN_ERR_INVALID_REQUEST, NULL, data);
		}
	}
	version = json_object_get(msg, "jsonrpc");
	if (!json_is_string(version) ||
	    strcmp(json_string_value(version), DMN_JSONRPC_VERSION) != 0)
		return rpc_error(id, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail("\"jsonrpc\" must be \"2.0\""));
	method = json_object_get(msg, "method");
	if (!json_is_string(method))
		return rpc_error(id, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail("\"method\" must be a string"));
	params = json_object_get(msg, "params");
	if (params != NULL && !json_is_object(params) && !json_is_array(params))
		return rpc_error(id, DMN_ERR_INVALID_REQUEST, NULL,
		    rpc_detail("\"params\" must be an object or an array"));

	name = json_string_value(method);
	m = dmn_method_find(ctx->methods, ctx->nmethods, name,
	    json_string_length(method), ctx->config->debug_methods);
	if (m == NULL) {
		json_t *data;

		if (id == NULL)
			return NULL;
		data = rpc_detail(
		    "no method '%s'; daemon.methods lists them", name);
		json_object_set_new(data, "method", json_copy(method));
		return rpc_error(id, DMN_ERR_METHOD_NOT_FOUND, NULL, data);
	}
	if (m->check != NULL && m->check(params, &cause) != 0) {
		json_t *data;

		if (id == NULL) {
			free(cause);
			return NULL;
		}
		data = rpc_detail("%s", cause);
		free(cause);
		return rpc_error(id, DMN_ERR_INVALID_PARAMS, NULL, data);
	}

	req = dmn_request_new(s, m, msg, b);
	ctx->requests_total++;
	if (b != NULL)
		b->pending++;
	/* Hold it: exec() may answer, and so release it, at once. */
	dmn_request_ref(req);
	rc = m->exec(req, &cause);
	if (rc != 0) {
		if (atomic_load(&req->handler_done))
			log_err("%s: failed after answering: %s", m->name,
			    cause != NULL ? cause : "?");
		else {
			log_warn(
			    "%s: %s", m->name, cause != NULL ? cause : "?");
			dmn_request_error(req, DMN_ERR_INTERNAL, NULL,
			    rpc_detail("%s", cause != NULL ? cause : "failed"));
		}
		free(cause);
	}
	dmn_request_unref(req);
	return NULL;
}

void
dmn_rpc_deliver(struct dmn_request *req, int is_error, json_t *payload)
{
	struct dmn_session *s = req->session;
	struct dmn_batch *b = req->batch;

	if (s != NULL) {
		TAILQ_REMOVE(&s->pending, req, entry);
		s->npending--;
		req->session = NULL;
	}
	req->batch = NULL;
	if (b != NULL) {
		if (payload != NULL)
			json_array_append_new(b->responses,
			    rpc_answer(req->id, is_error, payload));
		rpc_batch_release(b, s);
	} else if (payload != NULL) {
		if (s != NULL)
			rpc_write_answer(s, req->id, is_error, payload);
		json_decref(payload);
	}
	if (s != NULL && s->ctx != NULL && s->wake != NULL)
		s->wake(s);
	dmn_request_unref(req);
}

void
dmn_rpc_deliver_notify(struct dmn_request *req, json_t *msg)
{
	if (req->session != NULL)
		rpc_write(req->session, msg);
	else
		json_decref(msg);
}
