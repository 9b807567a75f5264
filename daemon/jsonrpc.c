/*
 * jsonrpc.c: JSON-RPC 2.0 over framed lines.
 *
 * A line takes one of two roads to the method it calls.  Most requests
 * are plain: one object with jsonrpc, method, params and id spelled
 * without escapes.  dmn_envelope_scan() reads those in one pass over the
 * bytes, without building the envelope as JSON values; only the params,
 * when there are some, go through jansson.  Everything else (batches,
 * errors of every kind, valid requests spelled otherwise) takes the full
 * road: the line is checked for nesting depth (jansson has no depth limit
 * of its own below 2048, so the bytes are scanned first), parsed, and
 * handled as one request or as a batch, each request object checked
 * member by member.  The plain road accepts only what the full road
 * would accept the same way, and leaves the rest, errors included, to
 * it, so the two never answer differently (tests/fuzz/fuzz-jsonrpc.c
 * checks this).
 *
 * Either way the method is looked up, its params checked, and a request
 * object dispatched to the method's exec().  Answers come back through
 * dmn_rpc_deliver(), on the loop thread: a single answer is encoded at
 * once, straight from the result around a fixed envelope, into a scratch
 * buffer the connection copies; a batch's answers are collected and
 * written as one array when the last one arrives.  Notifications get no
 * answer, not even an error, as the specification says; a message that is
 * not a valid request always gets one, with a null id when its id cannot
 * be trusted.
 */
#include <limits.h>
#include <stdint.h>
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

/* Deepest value dmn_json_encode() writes (jansson's parser's limit). */
#define ENCODE_MAX_DEPTH 2048

/* The members of a request, as bits (dmn_envelope_scan()). */
#define ENV_JSONRPC 0x1
#define ENV_METHOD  0x2
#define ENV_PARAMS  0x4
#define ENV_ID      0x8

static json_t *rpc_error(json_t *, int, const char *, json_t *);
static json_t *rpc_detail(const char *, ...) printflike(1, 2);
static json_t *rpc_handle_one(
    struct dmn_session *, json_t *, struct dmn_batch *);
static json_t *rpc_dispatch(struct dmn_session *, const char *, size_t,
    json_t *, json_t *, struct dmn_batch *);
static int rpc_handle_plain(struct dmn_session *, const struct dmn_envelope *);
static void rpc_handle_batch(struct dmn_session *, json_t *);
static void rpc_batch_release(struct dmn_batch *, struct dmn_session *);
static void rpc_write(struct dmn_session *, json_t *);
static json_t *rpc_answer(json_t *, int, json_t *);
static int rpc_dump_cb(const char *, size_t, void *);
static int rpc_encode_answer(struct buf *, const json_t *, int, const json_t *);
static void rpc_write_answer(struct dmn_session *, json_t *, int, json_t *);
static void rpc_scratch_done(struct buf *);
static int encode_value(struct buf *, const json_t *, int);
static int encode_string(struct buf *, const char *, size_t);
static int encode_integer(struct buf *, json_int_t);
static size_t env_ws(const char *, size_t, size_t);
static size_t env_string(const char *, size_t, size_t, const char **, size_t *);
static size_t env_integer(const char *, size_t, size_t, int64_t *);
static size_t env_span(const char *, size_t, size_t, size_t *);
static int env_member(const char *, size_t);

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

/* ---- encoding ----------------------------------------------------------- */

/*
 * jansson's json_dump_callback() sets up a hash table and formats each
 * object's address into it to detect cycles, and formats integers with
 * snprintf(): for the many small answers that is most of the cost of
 * encoding.  This encoder writes the same bytes without either; a depth
 * cap stands in for the cycle check.  Reals, rare in answers, still go
 * through jansson so that their digits are exactly its.
 */

/* json_dump_callback() into a struct buf. */
static int
rpc_dump_cb(const char *data, size_t len, void *arg)
{
	return buf_add(arg, data, len);
}

/* An integer in decimal, as "%lld" writes it. */
static int
encode_integer(struct buf *b, json_int_t n)
{
	char tmp[24];
	size_t i = sizeof tmp;
	uint64_t u;

	/* The negation is done unsigned: it is exact for the minimum too. */
	u = n < 0 ? -(uint64_t)n : (uint64_t)n;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (n < 0)
		tmp[--i] = '-';
	return buf_add(b, tmp + i, sizeof tmp - i);
}

/*
 * A string with jansson's escapes: the quote, the backslash and control
 * characters; everything else, non-ASCII included, as it is.  Fails on a
 * string that is not UTF-8, as jansson does.
 */
static int
encode_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = 0, elen;
	const char *e;
	char u[6];
	int high = 0;

	if (buf_add(b, "\"", 1) != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80) {
			high = 1;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		elen = 2;
		switch (c) {
		case '"':
			e = "\\\"";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\b':
			e = "\\b";
			break;
		case '\f':
			e = "\\f";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		default:
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 0xf];
			e = u;
			elen = 6;
			break;
		}
		if (buf_add(b, s + start, i - start) != 0 ||
		    buf_add(b, e, elen) != 0)
			return -1;
		start = i + 1;
	}
	if (high && !utf8_valid(s, len))
		return -1;
	if (buf_add(b, s + start, len - start) != 0 || buf_add(b, "\"", 1) != 0)
		return -1;
	return 0;
}

static int
encode_value(struct buf *b, const json_t *v, int depth)
{
	/* jansson's getters take non-const pointers but only read. */
	json_t *w = (json_t *)(uintptr_t)v;
	void *it, *next;
	size_t n;

	if (v == NULL)
		return -1;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_add(b, "null", 4);
	case JSON_TRUE:
		return buf_add(b, "true", 4);
	case JSON_FALSE:
		return buf_add(b, "false", 5);
	case JSON_INTEGER:
		return encode_integer(b, json_integer_value(v));
	case JSON_REAL:
		return json_dump_callback(
		    v, rpc_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
	case JSON_STRING:
		return encode_string(
		    b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY:
		if (depth >= ENCODE_MAX_DEPTH || buf_add(b, "[", 1) != 0)
			return -1;
		n = json_array_size(v);
		for (size_t i = 0; i < n; i++) {
			if ((i > 0 && buf_add(b, ",", 1) != 0) ||
			    encode_value(b, json_array_get(v, i), depth + 1) !=
			        0)
				return -1;
		}
		return buf_add(b, "]", 1);
	case JSON_OBJECT:
		if (depth >= ENCODE_MAX_DEPTH || buf_add(b, "{", 1) != 0)
			return -1;
		/* Insertion order, as jansson writes without JSON_SORT_KEYS. */
		for (it = json_object_iter(w); it != NULL; it = next) {
			next = json_object_iter_next(w, it);
			if (encode_string(b, json_object_iter_key(it),
			        json_object_iter_key_len(it)) != 0 ||
			    buf_add(b, ":", 1) != 0 ||
			    encode_value(b, json_object_iter_value(it),
			        depth + 1) != 0 ||
			    (next != NULL && buf_add(b, ",", 1) != 0))
				return -1;
		}
		return buf_add(b, "}", 1);
	}
	return -1;
}

int
dmn_json_encode(struct buf *b, const json_t *v)
{
	return encode_value(b, v, 0);
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

/*
 * Encodes an answer into b: the envelope as fixed bytes around the
 * result or error object and the id, never built as JSON values.
 */
static int
rpc_encode_answer(
    struct buf *b, const json_t *id, int is_error, const json_t *payload)
{
	static const char result[] = "{\"jsonrpc\":\"2.0\",\"result\":";
	static const char error[] = "{\"jsonrpc\":\"2.0\",\"error\":";

	buf_reset(b);
	if ((is_error ? buf_add(b, error, sizeof error - 1)
	              : buf_add(b, result, sizeof result - 1)) != 0 ||
	    dmn_json_encode(b, payload) != 0 ||
	    buf_add(b, ",\"id\":", 6) != 0 || dmn_json_encode(b, id) != 0 ||
	    buf_add(b, "}", 1) != 0)
		return -1;
	return 0;
}

/* Keeps the scratch buffer for the next answer, unless it grew huge. */
static void
rpc_scratch_done(struct buf *b)
{
	if (b->size > 1024 * 1024)
		buf_free(b);
}

/*
 * Writes an answer around a result or error object (borrowed).  A result
 * that cannot be encoded (a string that is not UTF-8) is a handler's bug:
 * the client gets -32603 rather than nothing.
 */
static void
rpc_write_answer(
    struct dmn_session *s, json_t *id, int is_error, json_t *payload)
{
	struct buf *b = &s->ctx->scratch;
	json_t *err;
	int rc;

	if (rpc_encode_answer(b, id, is_error, payload) != 0) {
		log_err("session %llu: cannot encode an answer",
		    (unsigned long long)s->id);
		err = json_pack("{s:i, s:s, s:{s:s}}", "code", DMN_ERR_INTERNAL,
		    "message", dmn_rpc_error_message(DMN_ERR_INTERNAL), "data",
		    "detail", "the answer could not be encoded as JSON");
		rc = rpc_encode_answer(b, id, 1, err);
		json_decref(err);
		if (rc != 0) {
			rpc_scratch_done(b);
			return;
		}
	}
	if (s->write != NULL)
		s->write(s, b->data, b->len);
	rpc_scratch_done(b);
}

/* Writes a message as one line; takes ownership of msg. */
static void
rpc_write(struct dmn_session *s, json_t *msg)
{
	struct buf *b;

	if (s->ctx == NULL) {
		json_decref(msg);
		return;
	}
	b = &s->ctx->scratch;
	buf_reset(b);
	if (dmn_json_encode(b, msg) != 0)
		log_err("session %llu: cannot encode a message",
		    (unsigned long long)s->id);
	else if (s->write != NULL)
		s->write(s, b->data, b->len);
	json_decref(msg);
	rpc_scratch_done(b);
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

/* ---- the plain road ------------------------------------------------------ */

/* Skips JSON white space from s[i]; returns the first other offset. */
static size_t
env_ws(const char *s, size_t i, size_t len)
{
	while (i < len &&
	    (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/*
 * A string at s[i] of printable ASCII without escapes: sets *str and *n
 * to its contents and returns the offset after its closing quote, or
 * returns 0 when there is none such.
 */
static size_t
env_string(const char *s, size_t i, size_t len, const char **str, size_t *n)
{
	if (i >= len || s[i] != '"')
		return 0;
	for (size_t j = i + 1; j < len; j++) {
		unsigned char c = (unsigned char)s[j];

		if (c == '"') {
			*str = s + i + 1;
			*n = j - i - 1;
			return j + 1;
		}
		if (c < 0x20 || c > 0x7e || c == '\\')
			return 0;
	}
	return 0;
}

/*
 * An integer at s[i], JSON's grammar with at most 18 digits (so it fits
 * an int64_t and jansson reads it as an integer too): returns the offset
 * after it, or 0.
 */
static size_t
env_integer(const char *s, size_t i, size_t len, int64_t *out)
{
	int64_t n = 0;
	size_t digits = 0;
	int neg = 0;

	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		/* A leading zero, or too many digits. */
		if ((digits == 1 && n == 0) || ++digits > 18)
			return 0;
		n = n * 10 + (s[i] - '0');
	}
	if (digits == 0 ||
	    (i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')))
		return 0;
	*out = neg ? -n : n;
	return i;
}

/*
 * An object or an array at s[i], delimited by counting brackets outside
 * strings (not validated: the caller parses it).  Returns the offset after
 * it and sets *depth to its nesting, or returns 0 if it does not end.
 */
static size_t
env_span(const char *s, size_t i, size_t len, size_t *depth)
{
	size_t d = 0, max = 0;

	if (i >= len || (s[i] != '{' && s[i] != '['))
		return 0;
	for (; i < len; i++) {
		switch (s[i]) {
		case '"':
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\')
					i++;
			}
			if (i >= len)
				return 0;
			break;
		case '{':
		case '[':
			if (++d > max)
				max = d;
			break;
		case '}':
		case ']':
			if (--d == 0) {
				*depth = max;
				return i + 1;
			}
			break;
		}
	}
	return 0;
}

/* Returns the ENV_* bit of a member's name, or 0 if it is none. */
static int
env_member(const char *key, size_t len)
{
	switch (len) {
	case 2:
		return memcmp(key, "id", 2) == 0 ? ENV_ID : 0;
	case 6:
		if (memcmp(key, "method", 6) == 0)
			return ENV_METHOD;
		return memcmp(key, "params", 6) == 0 ? ENV_PARAMS : 0;
	case 7:
		return memcmp(key, "jsonrpc", 7) == 0 ? ENV_JSONRPC : 0;
	}
	return 0;
}

int
dmn_envelope_scan(const char *s, size_t len, struct dmn_envelope *env)
{
	const char *key, *str;
	size_t i, next, klen, slen, depth = 0;
	int seen = 0, bit;

	memset(env, 0, sizeof *env);
	i = env_ws(s, 0, len);
	if (i >= len || s[i] != '{')
		return -1;
	i = env_ws(s, i + 1, len);
	for (;;) {
		if ((next = env_string(s, i, len, &key, &klen)) == 0)
			return -1;
		i = env_ws(s, next, len);
		if (i >= len || s[i] != ':')
			return -1;
		i = env_ws(s, i + 1, len);
		/* Unknown and repeated members are the full road's errors. */
		bit = env_member(key, klen);
		if (bit == 0 || (seen & bit) != 0)
			return -1;
		seen |= bit;
		switch (bit) {
		case ENV_JSONRPC:
			next = env_string(s, i, len, &str, &slen);
			if (next != 0 &&
			    (slen != 3 ||
			        memcmp(str, DMN_JSONRPC_VERSION, 3) != 0))
				next = 0;
			break;
		case ENV_METHOD:
			next = env_string(
			    s, i, len, &env->method, &env->method_len);
			break;
		case ENV_PARAMS:
			next = env_span(s, i, len, &depth);
			env->params = s + i;
			env->params_len = next - i;
			break;
		case ENV_ID:
			if (i < len && s[i] == '"') {
				env->id_kind = DMN_ENVELOPE_ID_STRING;
				next = env_string(
				    s, i, len, &env->id_str, &env->id_len);
			} else if (len - i >= 4 &&
			    memcmp(s + i, "null", 4) == 0) {
				env->id_kind = DMN_ENVELOPE_ID_NULL;
				next = i + 4;
			} else {
				env->id_kind = DMN_ENVELOPE_ID_INTEGER;
				next = env_integer(s, i, len, &env->id_int);
			}
			break;
		}
		if (next == 0)
			return -1;
		i = env_ws(s, next, len);
		if (i >= len)
			return -1;
		if (s[i] == '}')
			break;
		if (s[i] != ',')
			return -1;
		i = env_ws(s, i + 1, len);
	}
	if (env_ws(s, i + 1, len) != len ||
	    (seen & (ENV_JSONRPC | ENV_METHOD)) != (ENV_JSONRPC | ENV_METHOD))
		return -1;
	env->depth = 1 + depth;
	return 0;
}

/*
 * Dispatches a request that dmn_envelope_scan() read.  Returns 0, or -1
 * when its params do not parse: the full road then reports the error.
 */
static int
rpc_handle_plain(struct dmn_session *s, const struct dmn_envelope *env)
{
	json_t *params = NULL, *id = NULL, *resp;

	if (env->params != NULL) {
		params = json_loadb(
		    env->params, env->params_len, JSON_REJECT_DUPLICATES, NULL);
		if (params == NULL)
			return -1;
	}
	switch (env->id_kind) {
	case DMN_ENVELOPE_ID_NONE:
		break;
	case DMN_ENVELOPE_ID_NULL:
		id = json_null();
		break;
	case DMN_ENVELOPE_ID_INTEGER:
		id = json_integer((json_int_t)env->id_int);
		break;
	case DMN_ENVELOPE_ID_STRING:
		/* Printable ASCII: valid UTF-8 without a check. */
		id = json_stringn_nocheck(env->id_str, env->id_len);
		break;
	}
	if (env->id_kind != DMN_ENVELOPE_ID_NONE && id == NULL)
		fatalx("out of memory reading a request id");
	resp = rpc_dispatch(s, env->method, env->method_len, params, id, NULL);
	if (resp != NULL)
		rpc_write(s, resp);
	json_decref(params);
	json_decref(id);
	return 0;
}

/* ---- the full road ------------------------------------------------------- */

void
dmn_session_line(struct dmn_session *s, const char *line, size_t len)
{
	const struct dmn_config *cfg = s->ctx->config;
	struct dmn_envelope env;
	json_error_t jerr;
	json_t *msg, *data, *resp;
	size_t where;

	if (dmn_envelope_scan(line, len, &env) == 0 &&
	    env.depth <= cfg->max_depth && rpc_handle_plain(s, &env) == 0)
		return;

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
 * Validates one request object, then dispatches it.  Returns an error
 * response to send (caller owns it), or NULL when the request was
 * dispatched or was a notification that failed (which gets no answer).
 */
static json_t *
rpc_handle_one(struct dmn_session *s, json_t *msg, struct dmn_batch *b)
{
	json_t *id, *version, *method, *params, *value;
	const char *key;

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
	return rpc_dispatch(s, json_string_value(method),
	    json_string_length(method), params, id, b);
}

/*
 * Finds the method, checks the params and runs it; params and id are
 * borrowed (the request takes its own references).  Returns an error
 * response to send (caller owns it), or NULL when the request was
 * dispatched or was a notification that failed.
 */
static json_t *
rpc_dispatch(struct dmn_session *s, const char *name, size_t name_len,
    json_t *params, json_t *id, struct dmn_batch *b)
{
	struct dmn_ctx *ctx = s->ctx;
	const struct dmn_method *m;
	struct dmn_request *req;
	json_t *data;
	char *cause = NULL;
	int rc;

	m = dmn_method_find(ctx->methods, ctx->nmethods, name, name_len,
	    ctx->config->debug_methods);
	if (m == NULL) {
		if (id == NULL)
			return NULL;
		/* Lines are capped far below INT_MAX; be safe anyway. */
		data = rpc_detail("no method '%.*s'; daemon.methods lists them",
		    name_len > INT_MAX ? INT_MAX : (int)name_len, name);
		json_object_set_new(
		    data, "method", json_stringn(name, name_len));
		return rpc_error(id, DMN_ERR_METHOD_NOT_FOUND, NULL, data);
	}
	if (m->check != NULL && m->check(params, &cause) != 0) {
		if (id == NULL) {
			free(cause);
			return NULL;
		}
		data = rpc_detail("%s", cause);
		free(cause);
		return rpc_error(id, DMN_ERR_INVALID_PARAMS, NULL, data);
	}

	req = dmn_request_new(s, m, params, id, b);
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
	/* Answered at once (the common case): freed here, not queued. */
	dmn_request_release(req);
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
