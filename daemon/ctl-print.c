/*
 * ctl-print.c: agentctl's output.  --json prints what the daemon sent,
 * one compact JSON value per line, for scripts; the default lays values
 * out for people.  Text from the daemon reaches a terminal, so control
 * characters in it are shown escaped, never sent raw.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

static void print_scalar(FILE *f, json_t *v);
static int is_block(json_t *v);
static void print_indent(FILE *f, int indent);

void
ctl_print_text(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\t' || p[i] == '\n') {
			fputc(p[i], f);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(f, "\\x%02x", p[i]);
		} else if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f) {
			/* U+0080..U+009F, the C1 controls, in UTF-8. */
			fprintf(f, "\\u%04x", p[i + 1]);
			i++;
		} else {
			fputc(p[i], f);
		}
	}
}

/* Prints a scalar, or an array of scalars on one line, for people. */
static void
print_scalar(FILE *f, json_t *v)
{
	size_t i;
	json_t *item;

	switch (json_typeof(v)) {
	case JSON_STRING:
		ctl_print_text(f, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%.6g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("yes", f);
		break;
	case JSON_FALSE:
		fputs("no", f);
		break;
	case JSON_NULL:
		fputs("-", f);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			fputs("(none)", f);
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				fputs(", ", f);
			print_scalar(f, item);
		}
		break;
	case JSON_OBJECT:
		fputs("(empty)", f);
		break;
	}
}

/*
 * Returns 1 when v needs lines of its own: a non-empty object, or an
 * array holding an object or an array.
 */
static int
is_block(json_t *v)
{
	size_t i;
	json_t *item;

	if (json_is_object(v))
		return json_object_size(v) > 0;
	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, item)
	{
		if (json_is_object(item) || json_is_array(item))
			return 1;
	}
	return 0;
}

static void
print_indent(FILE *f, int indent)
{
	fprintf(f, "%*s", indent, "");
}

void
ctl_print_human(FILE *f, json_t *v, int indent)
{
	const char *key;
	json_t *item;
	size_t i, width = 0, len;

	if (json_is_object(v) && json_object_size(v) > 0) {
		json_object_foreach(v, key, item)
		{
			len = strlen(key);
			if (!is_block(item) && len > width)
				width = len;
		}
		json_object_foreach(v, key, item)
		{
			print_indent(f, indent);
			ctl_print_text(f, key, strlen(key));
			fputc(':', f);
			if (is_block(item)) {
				fputc('\n', f);
				ctl_print_human(f, item, indent + 2);
				continue;
			}
			fprintf(f, "%*s", (int)(width - strlen(key) + 1), "");
			print_scalar(f, item);
			fputc('\n', f);
		}
		return;
	}
	if (is_block(v)) {
		/* An array of blocks: each item, a blank line between. */
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				fputc('\n', f);
			ctl_print_human(f, item, indent);
		}
		return;
	}
	print_indent(f, indent);
	print_scalar(f, v);
	fputc('\n', f);
}

void
ctl_print_json(const struct ctl_ctx *ctx, FILE *f, json_t *v)
{
	char *text;

	if (ctx->json) {
		/* For programs: exactly the JSON, one value per line. */
		json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY);
		fputc('\n', f);
		return;
	}
	/* JSON escapes C0 controls but not C1 ones; ctl_print_text does. */
	text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text == NULL)
		fatalx("%s: cannot encode a value", __func__);
	ctl_print_text(f, text, strlen(text));
	fputc('\n', f);
	free(text);
}

char *
ctl_format_duration(double ms)
{
	uint64_t s, d, h, m;
	char *out;

	if (!(ms >= 0) || ms > 1e18)
		return xstrdup("?");
	if (ms < 60000) {
		xasprintf(&out, "%.3gs", ms / 1000);
		return out;
	}
	s = (uint64_t)(ms / 1000);
	d = s / 86400;
	h = s / 3600 % 24;
	m = s / 60 % 60;
	s %= 60;
	if (d > 0) {
		xasprintf(&out,
		    "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", d, h,
		    m, s);
	} else if (h > 0) {
		xasprintf(
		    &out, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s);
	} else {
		xasprintf(&out, "%" PRIu64 "m %" PRIu64 "s", m, s);
	}
	return out;
}

void
ctl_print_notify(const char *method, json_t *params, void *arg)
{
	const struct ctl_ctx *ctx = arg;
	json_t *note;
	char *text;

	if (ctx->json) {
		note =
		    json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
		if (note == NULL)
			fatalx("%s: cannot build a notification", __func__);
		if (params != NULL)
			json_object_set(note, "params", params);
		ctl_print_json(ctx, stdout, note);
		json_decref(note);
	} else {
		ctl_print_text(stdout, method, strlen(method));
		if (params != NULL) {
			fputc(' ', stdout);
			text =
			    json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
			if (text != NULL)
				ctl_print_text(stdout, text, strlen(text));
			free(text);
		}
		fputc('\n', stdout);
	}
	fflush(stdout);
}
