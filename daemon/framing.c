/*
 * framing.c: the NDJSON line reader.
 *
 * A client sends one JSON-RPC message per line.  The framer buffers what
 * arrives until a '\n', strips it (and a '\r' before it), skips blank
 * lines and checks the rest against the cap and for UTF-8.  A line that
 * passes the cap is never held whole: once an unfinished line is longer
 * than the cap, the framer reports it and drops bytes until the next '\n'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

static void framer_compact(struct dmn_framer *);
static int framer_blank(const char *, size_t);
static size_t framer_utf8_check(const char *, size_t);

void
dmn_framer_init(struct dmn_framer *f, size_t max)
{
	memset(f, 0, sizeof *f);
	f->max = max;
}

void
dmn_framer_free(struct dmn_framer *f)
{
	free(f->data);
	f->data = NULL;
	f->size = f->start = f->len = f->scanned = 0;
}

void
dmn_framer_set_max(struct dmn_framer *f, size_t max)
{
	f->max = max;
}

size_t
dmn_framer_buffered(const struct dmn_framer *f)
{
	return f->len - f->start;
}

void
dmn_framer_eof(struct dmn_framer *f)
{
	f->eof = 1;
}

/* Moves the unread bytes to the front of the buffer. */
static void
framer_compact(struct dmn_framer *f)
{
	if (f->start == 0)
		return;
	if (f->len > f->start)
		memmove(f->data, f->data + f->start, f->len - f->start);
	f->len -= f->start;
	f->scanned -= f->start;
	f->start = 0;
}

char *
dmn_framer_space(struct dmn_framer *f, size_t want)
{
	size_t need, size;

	if (f->start == f->len || f->start > f->size / 2)
		framer_compact(f);
	if (want > SIZE_MAX - f->len)
		fatalx("framer: %zu bytes do not fit", want);
	need = f->len + want;
	if (need > f->size) {
		size = f->size == 0 ? 4096 : f->size;
		while (size < need)
			size = size > SIZE_MAX / 2 ? need : size * 2;
		f->data = xrealloc(f->data, size);
		f->size = size;
	}
	return f->data + f->len;
}

void
dmn_framer_commit(struct dmn_framer *f, size_t n)
{
	char *p = f->data + f->len, *nl;

	if (f->discard) {
		/* The rest of a too long line is dropped as it comes. */
		if ((nl = memchr(p, '\n', n)) == NULL)
			return;
		f->discard = 0;
		n -= (size_t)(nl + 1 - p);
		memmove(p, nl + 1, n);
	}
	f->len += n;
}

void
dmn_framer_feed(struct dmn_framer *f, const void *data, size_t len)
{
	if (len == 0)
		return;
	memcpy(dmn_framer_space(f, len), data, len);
	dmn_framer_commit(f, len);
}

/* Returns 1 if the bytes are all blanks (the line is to be skipped). */
static int
framer_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	}
	return 1;
}

/*
 * Returns the offset of the first byte that is not valid UTF-8, or len.
 * Requests are mostly ASCII, which is skipped eight bytes at a time; the
 * full check starts at the first byte with its high bit set (a character
 * boundary, since all before it are ASCII).
 */
static size_t
framer_utf8_check(const char *s, size_t len)
{
	uint64_t w;
	size_t i = 0;

	while (len - i >= sizeof w) {
		memcpy(&w, s + i, sizeof w);
		if ((w & UINT64_C(0x8080808080808080)) != 0)
			break;
		i += sizeof w;
	}
	while (i < len && (unsigned char)s[i] < 0x80)
		i++;
	if (i == len)
		return len;
	return i + utf8_check(s + i, len - i);
}

enum dmn_frame
dmn_framer_next(
    struct dmn_framer *f, const char **line, size_t *len, uint64_t *lineno)
{
	const char *nl, *s;
	size_t n, bad;

	for (;;) {
		if (f->discard)
			return DMN_FRAME_MORE;
		nl = NULL;
		if (f->len > f->scanned)
			nl = memchr(
			    f->data + f->scanned, '\n', f->len - f->scanned);
		if (nl == NULL) {
			f->scanned = f->len;
			n = f->len - f->start;
			/* max bytes, and maybe the '\r' of a "\r\n". */
			if (n > f->max + 1) {
				f->line++;
				f->start = f->scanned = f->len;
				f->discard = 1;
				*lineno = f->line;
				*line = NULL;
				*len = 0;
				return DMN_FRAME_TOO_LONG;
			}
			if (!f->eof || n == 0)
				return DMN_FRAME_MORE;
			/* The last line, without its '\n'. */
			s = f->data + f->start;
			f->start = f->scanned = f->len;
		} else {
			s = f->data + f->start;
			n = (size_t)(nl - s);
			f->start = f->scanned = (size_t)(nl - f->data) + 1;
		}
		f->line++;
		*lineno = f->line;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > f->max) {
			*line = NULL;
			*len = 0;
			return DMN_FRAME_TOO_LONG;
		}
		if (framer_blank(s, n))
			continue;
		*line = s;
		if ((bad = framer_utf8_check(s, n)) != n) {
			*len = bad;
			return DMN_FRAME_BAD_UTF8;
		}
		*len = n;
		return DMN_FRAME_LINE;
	}
}
