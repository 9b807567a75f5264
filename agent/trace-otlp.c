/*
 * trace-otlp.c: trace.export, spans as OTLP/JSON (trace.h).
 *
 * The OpenTelemetry protocol's JSON encoding of TracesData
 * (opentelemetry/proto/trace/v1/trace.proto): resourceSpans ->
 * scopeSpans -> spans.  It follows the protobuf JSON mapping with the
 * OTLP exceptions: traceId and spanId are hex, not base64; enum values
 * (kind, status.code) are integers.  64-bit integers (times, intValue)
 * are written as decimal strings, as the mapping prefers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/trace.h"
#include "daemon/util.h"

/* SpanKind and StatusCode of trace.proto. */
#define OTLP_KIND_INTERNAL 1
#define OTLP_KIND_SERVER   2
#define OTLP_KIND_CLIENT   3
#define OTLP_STATUS_OK     1
#define OTLP_STATUS_ERROR  2

static json_t *otlp_value(const json_t *, int);
static json_t *otlp_attributes(const json_t *, int);
static json_t *otlp_span(const json_t *);
static json_t *otlp_u64(json_int_t);
static int hex_id(const char *, size_t);

/* Returns 1 when s is n lower-case hex digits. */
static int
hex_id(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* A 64-bit integer as the decimal string the JSON mapping prefers. */
static json_t *
otlp_u64(json_int_t v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%" PRId64, (int64_t)v);
	return json_string(buf);
}

/*
 * An AnyValue for v, or NULL for null (which AnyValue cannot say).
 * depth bounds the recursion; anything deeper becomes its JSON text.
 */
static json_t *
otlp_value(const json_t *v, int depth)
{
	json_t *out, *list, *item;
	char *text;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_pack("{s:O}", "stringValue", v);
	case JSON_INTEGER:
		return json_pack(
		    "{s:o}", "intValue", otlp_u64(json_integer_value(v)));
	case JSON_REAL:
		return json_pack("{s:O}", "doubleValue", v);
	case JSON_TRUE:
	case JSON_FALSE:
		return json_pack("{s:b}", "boolValue", json_is_true(v));
	case JSON_NULL:
		return NULL;
	case JSON_ARRAY:
	case JSON_OBJECT:
		break;
	}
	if (depth >= 8) {
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		out =
		    json_pack("{s:s}", "stringValue", text != NULL ? text : "");
		free(text);
		return out;
	}
	if (json_is_object(v))
		return json_pack("{s:{s:o}}", "kvlistValue", "values",
		    otlp_attributes(v, depth + 1));
	list = json_array();
	json_array_foreach(v, i, item)
	{
		out = otlp_value(item, depth + 1);
		/* An array keeps its positions: null becomes an empty value. */
		json_array_append_new(list, out != NULL ? out : json_object());
	}
	return json_pack("{s:{s:o}}", "arrayValue", "values", list);
}

/* A KeyValue array for the members of object attrs (nulls left out). */
static json_t *
otlp_attributes(const json_t *attrs, int depth)
{
	const char *key;
	json_t *list = json_array(), *val;
	const json_t *v;

	json_object_foreach((json_t *)(uintptr_t)attrs, key, v)
	{
		val = otlp_value(v, depth);
		if (val == NULL)
			continue;
		json_array_append_new(
		    list, json_pack("{s:s, s:o}", "key", key, "value", val));
	}
	return list;
}

/* One OTLP Span for a span line. */
static json_t *
otlp_span(const json_t *s)
{
	const char *kind = json_string_value(json_object_get(s, "kind"));
	const char *status = json_string_value(json_object_get(s, "status"));
	const char *msg =
	    json_string_value(json_object_get(s, "status_message"));
	const char *pid =
	    json_string_value(json_object_get(s, "parent_span_id"));
	json_t *out, *attrs, *st;
	int okind = OTLP_KIND_INTERNAL;

	if (strcmp(kind, "run") == 0)
		okind = OTLP_KIND_SERVER;
	else if (strcmp(kind, "llm") == 0)
		okind = OTLP_KIND_CLIENT;
	attrs = otlp_attributes(json_object_get(s, "attributes"), 0);
	json_array_append_new(attrs,
	    json_pack("{s:s, s:{s:s}}", "key", "agentd.span.kind", "value",
	        "stringValue", kind));
	out = json_pack("{s:O, s:O, s:O, s:i, s:o, s:o, s:o}", "traceId",
	    json_object_get(s, "trace_id"), "spanId",
	    json_object_get(s, "span_id"), "name", json_object_get(s, "name"),
	    "kind", okind, "startTimeUnixNano",
	    otlp_u64(json_integer_value(json_object_get(s, "start_ns"))),
	    "endTimeUnixNano",
	    otlp_u64(json_integer_value(json_object_get(s, "end_ns"))),
	    "attributes", attrs);
	if (out == NULL)
		fatalx("%s: cannot build a span", __func__);
	if (hex_id(pid, AGENT_SPAN_ID_HEX))
		json_object_set_new(out, "parentSpanId", json_string(pid));
	if (status != NULL && strcmp(status, "error") == 0) {
		st = json_pack("{s:i}", "code", OTLP_STATUS_ERROR);
		if (msg != NULL)
			json_object_set_new(st, "message", json_string(msg));
	} else {
		st = json_pack("{s:i}", "code", OTLP_STATUS_OK);
	}
	json_object_set_new(out, "status", st);
	return out;
}

json_t *
agent_trace_otlp(const json_t *spans, const char *service, const char *version)
{
	json_t *list = json_array(), *out;
	const json_t *s;
	size_t i;

	json_array_foreach(spans, i, s)
	{
		/* OTLP cannot carry an id that is not hex: leave it out. */
		if (!hex_id(json_string_value(json_object_get(s, "trace_id")),
		        AGENT_TRACE_ID_HEX) ||
		    !hex_id(json_string_value(json_object_get(s, "span_id")),
		        AGENT_SPAN_ID_HEX))
			continue;
		json_array_append_new(list, otlp_span(s));
	}
	out = json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s, s:s}, "
	                "s:o}]}]}",
	    "resourceSpans", "resource", "attributes", "key", "service.name",
	    "value", "stringValue", service, "scopeSpans", "scope", "name",
	    "agentd", "version", version, "spans", list);
	if (out == NULL)
		fatalx("%s: cannot build TracesData", __func__);
	return out;
}

json_t *
agent_trace_export(const char *dir, const json_t *ids, const char *service,
    const char *version, int *unknown, char **cause)
{
	json_t *all, *spans, *out;
	const json_t *idv;
	const char *id;
	char *path;
	size_t i;

	if (unknown != NULL)
		*unknown = 0;
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		xasprintf(cause, "no trace ids to export");
		return NULL;
	}
	all = json_array();
	json_array_foreach(ids, i, idv)
	{
		id = json_string_value(idv);
		if (id == NULL || !agent_trace_id_valid(id)) {
			xasprintf(cause,
			    "trace id %zu is not 32 lower-case hex digits", i);
			goto fail;
		}
		xasprintf(&path, "%s/%s.jsonl", dir, id);
		if (access(path, F_OK) == -1 && errno == ENOENT) {
			xasprintf(cause, "unknown trace '%s'", id);
			if (unknown != NULL)
				*unknown = 1;
			free(path);
			goto fail;
		}
		spans = agent_trace_read(path, NULL, cause);
		free(path);
		if (spans == NULL)
			goto fail;
		json_array_extend(all, spans);
		json_decref(spans);
	}
	out = agent_trace_otlp(all, service, version);
	json_decref(all);
	return out;

fail:
	json_decref(all);
	return NULL;
}
