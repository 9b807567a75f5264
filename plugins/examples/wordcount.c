/*
 * wordcount.c: an example agentd plugin, a word counter.
 *
 * One tool, text_stats, counts the words, lines and characters of a text
 * and can list its most frequent words.  Beside what units.c shows, it
 * uses memory from the host (host->alloc/free), gives up when the call
 * is cancelled (host->cancelled) and needs no config or init() at all.
 *
 * A word is a run of letters, digits, apostrophes and hyphens; letters
 * A-Z count as a-z and every byte of a non-ASCII character counts as
 * part of a word, so "Café" and "café" are the same word.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/agentd/tool.h"

/* Words shown at most by "top". */
#define WC_TOP_MAX 10

struct wc_word {
	const char *s; /* into the text; compared case-folded */
	size_t len;
	size_t count;
};

static const struct agentd_host *host;

static int
wc_is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '\'' || c == '-' || c >= 0x80;
}

static unsigned char
wc_fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int
wc_word_cmp(const void *pa, const void *pb)
{
	const struct wc_word *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int d;

	for (size_t i = 0; i < n; i++) {
		d = wc_fold((unsigned char)a->s[i]) -
		    wc_fold((unsigned char)b->s[i]);
		if (d != 0)
			return d;
	}
	return (a->len > b->len) - (a->len < b->len);
}

/* Most frequent first, then in word order. */
static int
wc_count_cmp(const void *pa, const void *pb)
{
	const struct wc_word *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return wc_word_cmp(a, b);
}

/*
 * Appends " word (n)" entries for the k most frequent words to out
 * (size bytes).  Returns 0, -1 when memory is short, 1 when cancelled.
 */
static int
wc_top(const char *s, size_t len, size_t nwords, int64_t k,
    struct agentd_call *call, char *out, size_t size)
{
	struct wc_word *w;
	size_t n = 0, i = 0, start, uniq = 0, used;

	w = host->alloc(nwords * sizeof *w);
	if (w == NULL)
		return -1;
	while (i < len) {
		while (i < len && !wc_is_word_byte((unsigned char)s[i]))
			i++;
		start = i;
		while (i < len && wc_is_word_byte((unsigned char)s[i]))
			i++;
		if (i > start) {
			w[n].s = s + start;
			w[n].len = i - start;
			w[n].count = 1;
			n++;
		}
	}
	if (host->cancelled(call)) {
		host->free(w);
		return 1;
	}
	qsort(w, n, sizeof *w, wc_word_cmp);
	for (i = 0; i < n; i++) {
		if (uniq > 0 && wc_word_cmp(&w[uniq - 1], &w[i]) == 0)
			w[uniq - 1].count++;
		else
			w[uniq++] = w[i];
	}
	qsort(w, uniq, sizeof *w, wc_count_cmp);

	used = strlen(out);
	for (i = 0; i < uniq && i < (size_t)k; i++) {
		size_t need = w[i].len + 32;

		if (used + need >= size)
			break;
		out[used++] = i == 0 ? ' ' : ',';
		if (i > 0)
			out[used++] = ' ';
		for (size_t j = 0; j < w[i].len; j++)
			out[used++] = (char)wc_fold((unsigned char)w[i].s[j]);
		used += (size_t)snprintf(
		    out + used, size - used, " (%zu)", w[i].count);
	}
	out[used] = '\0';
	host->free(w);
	return 0;
}

static void
text_stats(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const struct agentd_json *a = host->call_args(call);
	const char *text;
	size_t len, words = 0, lines = 0, chars = 0, outsize, used;
	int64_t top = 0;
	char *out;
	int in_word = 0, rc;

	(void)data;
	(void)tool;
	(void)args;
	(void)args_len;
	text = host->json_string(host->json_get(a, "text"), &len);
	if (text == NULL) {
		host->result_printf(res, 1, "text must be a string");
		return;
	}
	if (host->json_get(a, "top") != NULL &&
	    host->json_int(host->json_get(a, "top"), &top) != 0) {
		host->result_printf(res, 1, "top must be an integer");
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		/* Check now and then: a text may be long. */
		if ((i & 0xffff) == 0xffff && host->cancelled(call)) {
			host->result_printf(res, 1, "cancelled");
			return;
		}
		if ((c & 0xc0) != 0x80)
			chars++;
		if (c == '\n')
			lines++;
		if (wc_is_word_byte(c)) {
			if (!in_word)
				words++;
			in_word = 1;
		} else
			in_word = 0;
	}
	if (len > 0 && text[len - 1] != '\n')
		lines++;

	outsize = 128 + (size_t)WC_TOP_MAX * 96;
	out = host->alloc(outsize);
	if (out == NULL) {
		host->result_printf(res, 1, "out of memory");
		return;
	}
	snprintf(out, outsize, "words: %zu, lines: %zu, characters: %zu", words,
	    lines, chars);
	if (top > 0 && words > 0) {
		used = strlen(out);
		snprintf(out + used, outsize - used, "; most frequent:");
		rc = wc_top(text, len, words, top, call, out, outsize);
		if (rc != 0) {
			host->free(out);
			host->result_printf(res, 1, "%s",
			    rc < 0 ? "out of memory" : "cancelled");
			return;
		}
	}
	/* Hand the host our buffer: it was allocated with host->alloc. */
	res->text = out;
	res->len = strlen(out);
	res->is_error = 0;
}

static const struct agentd_tool tools[] = {
	{
	    .name = "text_stats",
	    .description = "Counts the words, lines and characters of a text "
	                   "and can list its most frequent words.",
	    .schema =
	        "{\"type\": \"object\","
	        " \"properties\": {"
	        "  \"text\": {\"type\": \"string\", \"maxLength\": 1000000},"
	        "  \"top\": {\"type\": \"integer\", \"minimum\": 0,"
	        "   \"maximum\": 10, \"default\": 0}},"
	        " \"required\": [\"text\"],"
	        " \"additionalProperties\": false}",
	    .call = text_stats,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "wordcount",
	.version = "1.0",
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	if (AGENTD_ABI_MAJOR(h->abi_version) != AGENTD_ABI_VERSION_MAJOR)
		return NULL;
	host = h;
	return &module;
}
