/*
 * schema.c: the JSON Schema subset that tool arguments are checked with.
 *
 * Two jobs: plug_schema_check() says whether a schema uses only the
 * keywords we support (so a tool whose schema we would half-understand is
 * refused when it registers, not silently under-validated), and
 * plug_schema_validate() checks an instance against such a schema with
 * draft 2020-12 semantics, stopping at the first failure and naming its
 * path ("$.items[2].name").  tests/unit/test-plugins-schema-diff.sh holds
 * the validator to Debian's python3-jsonschema on a corpus.
 *
 * The order in which keywords are tried is fixed, so one instance always
 * gets the same message: type, enum, the numeric bounds, the string
 * lengths, then required, the instance's properties in sorted key order
 * (with additionalProperties), then items.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* Subschemas deeper than this are refused (validation recurses). */
#define SCHEMA_MAX_DEPTH 64

/* Longest dump of a value quoted in a message before it is cut. */
#define SCHEMA_QUOTE_MAX 120

/* The type names, as bits so "type" arrays become a mask. */
#define T_NULL    0x01
#define T_BOOLEAN 0x02
#define T_OBJECT  0x04
#define T_ARRAY   0x08
#define T_NUMBER  0x10
#define T_INTEGER 0x20
#define T_STRING  0x40

static const struct {
	const char *name;
	int bit;
} schema_types[] = {
	{ "null", T_NULL },
	{ "boolean", T_BOOLEAN },
	{ "object", T_OBJECT },
	{ "array", T_ARRAY },
	{ "number", T_NUMBER },
	{ "integer", T_INTEGER },
	{ "string", T_STRING },
};
#define N_SCHEMA_TYPES (sizeof schema_types / sizeof schema_types[0])

static int schema_type_bit(const char *name);
static int schema_is_integral(const json_t *v);
static int schema_is_schema(const json_t *v);
static int schema_check_at(
    const json_t *schema, struct buf *path, int depth, char **cause);
static int schema_check_keyword(const char *key, const json_t *value,
    struct buf *path, int depth, char **cause);
static void path_push_key(struct buf *path, const char *key);
static void path_push_index(struct buf *path, size_t i);
static char *schema_quote(const json_t *v);
static char *schema_number(const json_t *v);
static const char *schema_instance_type(const json_t *v);
static int schema_json_equal(const json_t *a, const json_t *b);
static size_t schema_codepoints(const char *s, size_t len);
static int schema_validate_at(const json_t *schema, const json_t *instance,
    struct buf *path, char **cause);
static int schema_fail(char **cause, const struct buf *path, const char *fmt,
    ...) printflike(3, 4);

static int schema_validate_type(const json_t *type, const json_t *instance,
    const struct buf *path, char **cause);
static int schema_validate_number(const json_t *schema, const json_t *instance,
    const struct buf *path, char **cause);
static int schema_validate_string(const json_t *schema, const json_t *instance,
    const struct buf *path, char **cause);
static int schema_key_cmp(const void *a, const void *b);
static int schema_validate_object(const json_t *schema, const json_t *instance,
    struct buf *path, char **cause);

/* Returns the T_* bit of a type name, or 0. */
static int
schema_type_bit(const char *name)
{
	for (size_t i = 0; i < N_SCHEMA_TYPES; i++) {
		if (strcmp(schema_types[i].name, name) == 0)
			return schema_types[i].bit;
	}
	return 0;
}

/* Returns 1 for a number without a fractional part (3 and 3.0 alike). */
static int
schema_is_integral(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return 1;
	if (!json_is_real(v))
		return 0;
	d = json_real_value(v);
	return isfinite(d) && floor(d) == d;
}

/* Returns 1 if v can be a (sub)schema: an object, true or false. */
static int
schema_is_schema(const json_t *v)
{
	return json_is_object(v) || json_is_boolean(v);
}

long double
plug_json_number(const json_t *v)
{
	json_int_t i;
	double d;

	/* Plain assignments: both convert exactly on x86-64. */
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		return i;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		return d;
	}
	return 0;
}

/* Appends ".key", or ["key"] when the key is not a plain identifier. */
static void
path_push_key(struct buf *path, const char *key)
{
	int plain = (*key != '\0' && strchr("0123456789", *key) == NULL);
	char *quoted;
	json_t *s;

	for (const char *p = key; *p != '\0' && plain; p++) {
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
		        (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			plain = 0;
	}
	if (plain) {
		buf_printf(path, ".%s", key);
		return;
	}
	s = json_string(key);
	quoted = (s == NULL) ? NULL : json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	buf_printf(path, "[%s]", quoted != NULL ? quoted : "?");
	free(quoted);
}

static void
path_push_index(struct buf *path, size_t i)
{
	buf_printf(path, "[%zu]", i);
}

/* A value as compact JSON for a message, cut past SCHEMA_QUOTE_MAX. */
static char *
schema_quote(const json_t *v)
{
	char *s, *out;
	size_t len, cut;

	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	if (s == NULL)
		return xstrdup("(value)");
	len = strlen(s);
	if (len <= SCHEMA_QUOTE_MAX)
		return s;
	/* Cut on a UTF-8 boundary. */
	cut = SCHEMA_QUOTE_MAX;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	xasprintf(&out, "%.*s...", (int)cut, s);
	free(s);
	return out;
}

/* A number the way JSON (and Python) would print it: 5, 2.5, 1e+300. */
static char *
schema_number(const json_t *v)
{
	char *s = NULL;
	double d;

	if (json_is_integer(v)) {
		xasprintf(&s, "%lld", (long long)json_integer_value(v));
		return s;
	}
	d = json_real_value(v);
	/* The shortest precision that reads back as the same double. */
	for (int prec = 1; prec <= 17; prec++) {
		free(s);
		xasprintf(&s, "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	/* Keep a real looking real: 2.0 rather than 2. */
	if (strspn(s, "-0123456789") == strlen(s)) {
		char *t;

		xasprintf(&t, "%s.0", s);
		free(s);
		s = t;
	}
	return s;
}

/* The JSON type of an instance, as a message names it. */
static const char *
schema_instance_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
		return "null";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return schema_is_integral(v) ? "integer" : "number";
	}
	return "value";
}

/*
 * Equality as JSON Schema defines it for enum: numbers compare by value
 * (1 equals 1.0), booleans are never numbers, objects compare by their
 * key sets and values, arrays element by element.
 */
static int
schema_json_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va, *vb;

	if (json_is_number(a) && json_is_number(b))
		return plug_json_number(a) == plug_json_number(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		        json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++) {
			if (!schema_json_equal(
			        json_array_get(a, i), json_array_get(b, i)))
				return 0;
		}
		return 1;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)(uintptr_t)a, key, va)
		{
			vb = json_object_get(b, key);
			if (vb == NULL || !schema_json_equal(va, vb))
				return 0;
		}
		return 1;
	default:
		/* null, true, false: the same type is the same value. */
		return 1;
	}
}

/* The number of code points in valid UTF-8 (jansson strings are). */
static size_t
schema_codepoints(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* Sets *cause to "<path>: <message>" and returns -1. */
static int
schema_fail(char **cause, const struct buf *path, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(cause, "%s: %s", path->data, msg);
	free(msg);
	return -1;
}

/* ---- checking a schema --------------------------------------------------- */

int
plug_schema_check(const json_t *schema, char **cause)
{
	struct buf path;
	int rc;

	buf_init(&path, SIZE_MAX);
	buf_puts(&path, "schema");
	rc = schema_check_at(schema, &path, 0, cause);
	buf_free(&path);
	return rc;
}

/* Checks one (sub)schema; path names it. */
static int
schema_check_at(const json_t *schema, struct buf *path, int depth, char **cause)
{
	const char *key;
	json_t *value;
	void *iter;
	const char **keys;
	size_t n = 0, i;
	int rc = 0;

	if (json_is_boolean(schema))
		return 0;
	if (depth > SCHEMA_MAX_DEPTH) {
		return schema_fail(cause, path,
		    "schemas nested deeper than %d levels are not supported",
		    SCHEMA_MAX_DEPTH);
	}
	if (!json_is_object(schema)) {
		return schema_fail(cause, path,
		    "a schema must be an object or a boolean, not %s",
		    schema_instance_type(schema));
	}
	/* Sorted keys, so the first complaint does not depend on order. */
	keys = xcalloc(json_object_size(schema) + 1, sizeof *keys);
	for (iter = json_object_iter((json_t *)(uintptr_t)schema); iter != NULL;
	     iter = json_object_iter_next((json_t *)(uintptr_t)schema, iter))
		keys[n++] = json_object_iter_key(iter);
	for (i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0;
		     j--) {
			key = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = key;
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		value = json_object_get(schema, keys[i]);
		rc = schema_check_keyword(keys[i], value, path, depth, cause);
	}
	free(keys);
	return rc;
}

/* Checks one keyword of a schema object. */
static int
schema_check_keyword(const char *key, const json_t *value, struct buf *path,
    int depth, char **cause)
{
	size_t len = path->len, i, j;
	const char *name;
	json_t *v;
	int rc = 0, bits = 0, bit;

	if (strcmp(key, "type") == 0) {
		if (json_is_string(value)) {
			if (schema_type_bit(json_string_value(value)) != 0)
				return 0;
			return schema_fail(cause, path, "unknown type '%s'",
			    json_string_value(value));
		}
		if (!json_is_array(value) || json_array_size(value) == 0) {
			return schema_fail(cause, path,
			    "'type' must be a type name or a non-empty array "
			    "of them");
		}
		json_array_foreach(value, i, v)
		{
			if (!json_is_string(v)) {
				return schema_fail(
				    cause, path, "'type' must list type names");
			}
			name = json_string_value(v);
			bit = schema_type_bit(name);
			if (bit == 0) {
				return schema_fail(
				    cause, path, "unknown type '%s'", name);
			}
			if (bits & bit) {
				return schema_fail(cause, path,
				    "type '%s' is listed twice", name);
			}
			bits |= bit;
		}
		return 0;
	}
	if (strcmp(key, "properties") == 0) {
		const char *pkey;

		if (!json_is_object(value)) {
			return schema_fail(
			    cause, path, "'properties' must be an object");
		}
		json_object_foreach((json_t *)(uintptr_t)value, pkey, v)
		{
			buf_puts(path, ".properties");
			path_push_key(path, pkey);
			rc = schema_check_at(v, path, depth + 1, cause);
			path->len = len;
			path->data[len] = '\0';
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	if (strcmp(key, "items") == 0 ||
	    strcmp(key, "additionalProperties") == 0) {
		if (!schema_is_schema(value)) {
			return schema_fail(cause, path,
			    "'%s' must be a schema (an object or a boolean)",
			    key);
		}
		buf_printf(path, ".%s", key);
		rc = schema_check_at(value, path, depth + 1, cause);
		path->len = len;
		path->data[len] = '\0';
		return rc;
	}
	if (strcmp(key, "required") == 0) {
		if (!json_is_array(value)) {
			return schema_fail(cause, path,
			    "'required' must be an array of property names");
		}
		json_array_foreach(value, i, v)
		{
			if (!json_is_string(v)) {
				return schema_fail(cause, path,
				    "'required' must be an array of property "
				    "names");
			}
			for (j = 0; j < i; j++) {
				if (json_equal(json_array_get(value, j), v)) {
					return schema_fail(cause, path,
					    "'required' lists '%s' twice",
					    json_string_value(v));
				}
			}
		}
		return 0;
	}
	if (strcmp(key, "enum") == 0) {
		if (!json_is_array(value) || json_array_size(value) == 0) {
			return schema_fail(
			    cause, path, "'enum' must be a non-empty array");
		}
		return 0;
	}
	if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0 ||
	    strcmp(key, "exclusiveMinimum") == 0 ||
	    strcmp(key, "exclusiveMaximum") == 0) {
		if (!json_is_number(value) ||
		    (json_is_real(value) &&
		        !isfinite(json_real_value(value)))) {
			return schema_fail(
			    cause, path, "'%s' must be a number", key);
		}
		return 0;
	}
	if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0) {
		if (!schema_is_integral(value) || plug_json_number(value) < 0) {
			return schema_fail(cause, path,
			    "'%s' must be a non-negative integer", key);
		}
		return 0;
	}
	if (strcmp(key, "description") == 0 || strcmp(key, "title") == 0 ||
	    strcmp(key, "$comment") == 0) {
		if (!json_is_string(value)) {
			return schema_fail(
			    cause, path, "'%s' must be a string", key);
		}
		return 0;
	}
	if (strcmp(key, "examples") == 0) {
		if (!json_is_array(value)) {
			return schema_fail(
			    cause, path, "'examples' must be an array");
		}
		return 0;
	}
	if (strcmp(key, "default") == 0)
		return 0;
	return schema_fail(cause, path, "unsupported keyword '%s'", key);
}

/* ---- validating an instance ---------------------------------------------- */

int
plug_schema_validate(const json_t *schema, const json_t *instance, char **cause)
{
	struct buf path;
	int rc;

	buf_init(&path, SIZE_MAX);
	buf_puts(&path, "$");
	rc = schema_validate_at(schema, instance, &path, cause);
	buf_free(&path);
	return rc;
}

/* Checks the "type" keyword. */
static int
schema_validate_type(const json_t *type, const json_t *instance,
    const struct buf *path, char **cause)
{
	struct buf want;
	size_t i, n;
	json_t *v;
	int bits = 0, ok, rc;

	if (json_is_string(type))
		bits = schema_type_bit(json_string_value(type));
	else {
		json_array_foreach(type, i, v) bits |=
		    schema_type_bit(json_string_value(v));
	}
	switch (json_typeof(instance)) {
	case JSON_NULL:
		ok = bits & T_NULL;
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		ok = bits & T_BOOLEAN;
		break;
	case JSON_OBJECT:
		ok = bits & T_OBJECT;
		break;
	case JSON_ARRAY:
		ok = bits & T_ARRAY;
		break;
	case JSON_STRING:
		ok = bits & T_STRING;
		break;
	default:
		ok = (bits & T_NUMBER) ||
		    ((bits & T_INTEGER) && schema_is_integral(instance));
		break;
	}
	if (ok)
		return 0;

	/* "expected string", "expected string or null", "a, b or c". */
	buf_init(&want, SIZE_MAX);
	if (json_is_string(type))
		buf_puts(&want, json_string_value(type));
	else {
		n = json_array_size(type);
		json_array_foreach(type, i, v)
		{
			if (i > 0)
				buf_puts(&want, i + 1 == n ? " or " : ", ");
			buf_puts(&want, json_string_value(v));
		}
	}
	rc = schema_fail(cause, path, "expected %s, got %s", want.data,
	    schema_instance_type(instance));
	buf_free(&want);
	return rc;
}

/* Checks minimum, exclusiveMinimum, maximum, exclusiveMaximum. */
static int
schema_validate_number(const json_t *schema, const json_t *instance,
    const struct buf *path, char **cause)
{
	static const struct {
		const char *key;
		int below; /* 1: the instance must not be below the bound */
		int strict;
		const char *words;
	} bounds[] = {
		{ "minimum", 1, 0, "is less than the minimum" },
		{ "exclusiveMinimum", 1, 1,
		    "is less than or equal to the exclusive minimum" },
		{ "maximum", 0, 0, "is greater than the maximum" },
		{ "exclusiveMaximum", 0, 1,
		    "is greater than or equal to the exclusive maximum" },
	};
	long double x = plug_json_number(instance), b;
	char *xs, *bs;
	json_t *bound;
	int bad, rc;

	if (json_is_real(instance) && isnan(json_real_value(instance)))
		return schema_fail(cause, path, "NaN is not a number");
	for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
		bound = json_object_get(schema, bounds[i].key);
		if (bound == NULL)
			continue;
		b = plug_json_number(bound);
		if (bounds[i].below)
			bad = bounds[i].strict ? x <= b : x < b;
		else
			bad = bounds[i].strict ? x >= b : x > b;
		if (!bad)
			continue;
		xs = schema_number(instance);
		bs = schema_number(bound);
		rc = schema_fail(
		    cause, path, "%s %s %s", xs, bounds[i].words, bs);
		free(xs);
		free(bs);
		return rc;
	}
	return 0;
}

/* Checks minLength and maxLength. */
static int
schema_validate_string(const json_t *schema, const json_t *instance,
    const struct buf *path, char **cause)
{
	size_t n;
	json_t *v;

	n = schema_codepoints(
	    json_string_value(instance), json_string_length(instance));
	v = json_object_get(schema, "minLength");
	if (v != NULL && (long double)n < plug_json_number(v)) {
		return schema_fail(cause, path,
		    "string of %zu characters is shorter than the minimum "
		    "length %.0Lf",
		    n, plug_json_number(v));
	}
	v = json_object_get(schema, "maxLength");
	if (v != NULL && (long double)n > plug_json_number(v)) {
		return schema_fail(cause, path,
		    "string of %zu characters is longer than the maximum "
		    "length %.0Lf",
		    n, plug_json_number(v));
	}
	return 0;
}

/* Compares two strings for qsort(). */
static int
schema_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks required, properties and additionalProperties. */
static int
schema_validate_object(const json_t *schema, const json_t *instance,
    struct buf *path, char **cause)
{
	const json_t *required, *props, *addl, *sub;
	size_t len = path->len, n = 0, i;
	const char **keys, *key;
	json_t *v;
	void *iter;
	int rc = 0;

	required = json_object_get(schema, "required");
	json_array_foreach(required, i, v)
	{
		if (json_object_get(instance, json_string_value(v)) == NULL) {
			return schema_fail(cause, path,
			    "missing required property '%s'",
			    json_string_value(v));
		}
	}

	props = json_object_get(schema, "properties");
	addl = json_object_get(schema, "additionalProperties");
	if (props == NULL && addl == NULL)
		return 0;
	keys = xcalloc(json_object_size(instance) + 1, sizeof *keys);
	for (iter = json_object_iter((json_t *)(uintptr_t)instance);
	     iter != NULL;
	     iter = json_object_iter_next((json_t *)(uintptr_t)instance, iter))
		keys[n++] = json_object_iter_key(iter);
	qsort(keys, n, sizeof *keys, schema_key_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		key = keys[i];
		v = json_object_get(instance, key);
		sub = (props != NULL) ? json_object_get(props, key) : NULL;
		if (sub == NULL) {
			sub = addl;
			if (sub == NULL)
				continue;
			if (json_is_false(sub)) {
				char *q = NULL;
				json_t *s = json_string(key);

				q = schema_quote(s);
				json_decref(s);
				/* 'key' reads better than "key". */
				q[0] = q[strlen(q) - 1] = '\'';
				rc = schema_fail(
				    cause, path, "unexpected property %s", q);
				free(q);
				break;
			}
		}
		path_push_key(path, key);
		rc = schema_validate_at(sub, v, path, cause);
		path->len = len;
		path->data[len] = '\0';
	}
	free(keys);
	return rc;
}

/* Checks one instance against one (sub)schema. */
static int
schema_validate_at(const json_t *schema, const json_t *instance,
    struct buf *path, char **cause)
{
	const json_t *type, *en, *items, *v;
	size_t len = path->len, i;
	char *q;
	int rc;

	if (json_is_true(schema))
		return 0;
	if (json_is_false(schema))
		return schema_fail(cause, path, "no value is allowed here");

	type = json_object_get(schema, "type");
	if (type != NULL &&
	    schema_validate_type(type, instance, path, cause) != 0)
		return -1;

	en = json_object_get(schema, "enum");
	if (en != NULL) {
		for (i = 0; i < json_array_size(en); i++) {
			if (schema_json_equal(json_array_get(en, i), instance))
				break;
		}
		if (i == json_array_size(en)) {
			char *e = schema_quote(en);

			q = schema_quote(instance);
			rc = schema_fail(
			    cause, path, "%s is not one of %s", q, e);
			free(q);
			free(e);
			return rc;
		}
	}

	if (json_is_number(instance)) {
		if (schema_validate_number(schema, instance, path, cause) != 0)
			return -1;
	} else if (json_is_string(instance)) {
		if (schema_validate_string(schema, instance, path, cause) != 0)
			return -1;
	} else if (json_is_object(instance)) {
		if (schema_validate_object(schema, instance, path, cause) != 0)
			return -1;
	} else if (json_is_array(instance)) {
		items = json_object_get(schema, "items");
		if (items == NULL)
			return 0;
		json_array_foreach(instance, i, v)
		{
			path_push_index(path, i);
			rc = schema_validate_at(items, v, path, cause);
			path->len = len;
			path->data[len] = '\0';
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
