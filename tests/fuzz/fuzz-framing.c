/*
 * fuzz-framing.c: libFuzzer harness for the NDJSON line reader
 * (daemon/framing.c).
 *
 * The first byte of an input picks the line cap, the second seeds how the
 * rest is cut into reads; the rest is the byte stream a client sends.  The
 * stream goes into the framer piece by piece, through both ways in
 * (dmn_framer_feed(), and dmn_framer_space() with dmn_framer_commit()),
 * taking every line after each piece, then the end of input.  What comes
 * out must be exactly what a plain model of the format, run over the whole
 * stream at once, says: the same lines, too long lines, lines that are not
 * UTF-8 (with the same offset) and line numbers, in the same order, however
 * the stream was cut.  Between pieces the framer may hold no more than the
 * cap and one byte of an unfinished line.
 *
 *   make fuzz
 *   build/fuzz/fuzz-framing -dict=tests/fuzz/framing.dict -max_len=65536 \
 *       CORPUS_DIR tests/fixtures/fuzz/framing
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

/* Inputs above this are ignored: the framer's cost is linear in size. */
#define MAX_INPUT 65536

/* One thing the framer reports. */
struct event {
	enum dmn_frame kind;
	uint64_t lineno;
	size_t off; /* LINE: the line; BAD_UTF8: up to the bad byte, */
	size_t len; /* both as a copy in struct events' text */
};

/* The events of one run. */
struct events {
	struct event *ev;
	size_t n;
	size_t size;
	char *text; /* copies of the lines, which the framer only lends */
	size_t text_len;
	size_t text_size;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void events_add(
    struct events *, enum dmn_frame, uint64_t, const char *, size_t);
static void events_free(struct events *);
static void model(const char *, size_t, size_t, struct events *);
static void run(const char *, size_t, size_t, uint8_t, struct events *);
static void drain(struct dmn_framer *, size_t, struct events *);
static void check(const struct events *, const struct events *);
static int blank(const char *, size_t);

/* Stops with a message: the framer and the model disagree. */
static void
disagree(const char *what, size_t i)
{
	fprintf(stderr, "fuzz-framing: %s (event %zu)\n", what, i);
	abort();
}

/* Records an event; the framer only lends its lines: they are copied. */
static void
events_add(struct events *e, enum dmn_frame kind, uint64_t lineno,
    const char *line, size_t len)
{
	if (e->n == e->size) {
		e->size = e->size == 0 ? 64 : e->size * 2;
		e->ev = xreallocarray(e->ev, e->size, sizeof *e->ev);
	}
	if (e->text_len + len + 1 > e->text_size) {
		while (e->text_len + len + 1 > e->text_size)
			e->text_size =
			    e->text_size == 0 ? 4096 : e->text_size * 2;
		e->text = xrealloc(e->text, e->text_size);
	}
	if (len > 0)
		memcpy(e->text + e->text_len, line, len);
	e->ev[e->n].kind = kind;
	e->ev[e->n].lineno = lineno;
	e->ev[e->n].off = e->text_len;
	e->ev[e->n].len = len;
	e->text_len += len;
	e->n++;
}

static void
events_free(struct events *e)
{
	free(e->ev);
	free(e->text);
}

/* Returns 1 if the bytes are spaces and tabs only. */
static int
blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	}
	return 1;
}

/*
 * The format, written as plainly as possible: lines end at '\n' or at the
 * end of the stream; one '\r' before the end is dropped; a line longer
 * than max is too long; an empty or blank line is skipped (but counted);
 * a line that is not UTF-8 is reported with the offset of its first bad
 * byte.
 */
static void
model(const char *s, size_t len, size_t max, struct events *out)
{
	const char *nl;
	size_t pos = 0, end, n, bad;
	uint64_t lineno = 0;

	while (pos < len) {
		nl = memchr(s + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - s) : len;
		n = end - pos;
		lineno++;
		if (n > 0 && s[pos + n - 1] == '\r')
			n--;
		if (n > max)
			events_add(out, DMN_FRAME_TOO_LONG, lineno, NULL, 0);
		else if (!blank(s + pos, n)) {
			bad = utf8_check(s + pos, n);
			if (bad != n)
				events_add(out, DMN_FRAME_BAD_UTF8, lineno,
				    s + pos, bad);
			else
				events_add(
				    out, DMN_FRAME_LINE, lineno, s + pos, n);
		}
		pos = end + 1;
	}
}

/* Takes every line the framer has, until it wants more. */
static void
drain(struct dmn_framer *f, size_t max, struct events *out)
{
	enum dmn_frame r;
	const char *line;
	size_t len;
	uint64_t lineno;

	for (;;) {
		r = dmn_framer_next(f, &line, &len, &lineno);
		switch (r) {
		case DMN_FRAME_MORE:
			/* An unfinished line is never held past the cap. */
			if (dmn_framer_buffered(f) > max + 1)
				disagree("holds more than the cap", out->n);
			return;
		case DMN_FRAME_LINE:
			if (len > max || memchr(line, '\n', len) != NULL ||
			    !utf8_valid(line, len) || blank(line, len))
				disagree("returned a bad line", out->n);
			events_add(out, r, lineno, line, len);
			break;
		case DMN_FRAME_BAD_UTF8:
			if (len > max || !utf8_valid(line, len))
				disagree("bad UTF-8 offset", out->n);
			events_add(out, r, lineno, line, len);
			break;
		case DMN_FRAME_TOO_LONG:
			events_add(out, r, lineno, NULL, 0);
			break;
		default:
			disagree("unknown result", out->n);
		}
	}
}

/* Runs the framer over the stream cut into pieces chosen by seed. */
static void
run(const char *s, size_t len, size_t max, uint8_t seed, struct events *out)
{
	struct dmn_framer f;
	uint32_t lcg = seed * 2654435761u + 1;
	size_t pos = 0, n, want;
	char *room;

	dmn_framer_init(&f, max);
	drain(&f, max, out);
	while (pos < len) {
		lcg = lcg * 1103515245u + 12345u;
		/* Mostly small pieces, sometimes large ones. */
		n = (lcg >> 16) & 0x80 ? 1 + ((lcg >> 8) & 0xfff)
		                       : 1 + ((lcg >> 8) & 0x1f);
		if (n > len - pos)
			n = len - pos;
		if ((lcg >> 24) & 1) {
			dmn_framer_feed(&f, s + pos, n);
		} else {
			/* Ask for more room than is used, as read() does. */
			want = n + ((lcg >> 4) & 0xff);
			room = dmn_framer_space(&f, want);
			memcpy(room, s + pos, n);
			dmn_framer_commit(&f, n);
		}
		pos += n;
		drain(&f, max, out);
	}
	dmn_framer_eof(&f);
	drain(&f, max, out);
	dmn_framer_free(&f);
}

/* The framer's events must be the model's. */
static void
check(const struct events *want, const struct events *got)
{
	const struct event *w, *g;

	if (want->n != got->n)
		disagree("a different number of events", got->n);
	for (size_t i = 0; i < want->n; i++) {
		w = &want->ev[i];
		g = &got->ev[i];
		if (w->kind != g->kind)
			disagree("a different event", i);
		if (w->lineno != g->lineno)
			disagree("a different line number", i);
		if (w->len != g->len ||
		    (w->len > 0 &&
		        memcmp(want->text + w->off, got->text + g->off,
		            w->len) != 0))
			disagree("a different line", i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct events want, got;
	const char *s;
	size_t max, len;

	if (size < 2 || size > MAX_INPUT)
		return 0;
	/* Small caps make too long lines common; 0x80 and up: 4 KiB. */
	max = data[0] & 0x80 ? 4096 : 1 + (size_t)(data[0] & 0x7f);
	s = (const char *)data + 2;
	len = size - 2;

	memset(&want, 0, sizeof want);
	memset(&got, 0, sizeof got);
	model(s, len, max, &want);
	run(s, len, max, data[1], &got);
	check(&want, &got);
	events_free(&want);
	events_free(&got);
	return 0;
}
