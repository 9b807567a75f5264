/*
 * tool-kb-search.c: the kb_search built-in, BM25 over the knowledge base.
 *
 * The knowledge base is the top-level files named *.txt in one folder
 * (subfolders and other files are ignored).  Each file is cut into
 * passages: paragraphs separated by blank lines (lines empty or of
 * blanks only), numbered from 1 in each file.  A passage's text is shown
 * on one line: every run of white space, newlines included, becomes one
 * space, and the ends are trimmed.  A file that is not UTF-8 or bigger
 * than the limit is skipped with a log line.  The index is built once,
 * when the tool starts (so at every reload), and is read-only afterwards,
 * which lets any number of threads search it at once.
 *
 * Tokens: maximal runs of ASCII letters and digits and of bytes >= 0x80
 * (so a UTF-8 word such as "café" stays whole), with ASCII letters
 * lowercased; everything else separates tokens.  The query is tokenised
 * the same way, and a token repeated in the query counts each time.
 *
 * Scoring is Okapi BM25 with k1 = 1.2 and b = 0.75:
 *
 *	score(q, p) = sum over query tokens t of
 *	    idf(t) * tf(t, p) * (k1 + 1) /
 *	    (tf(t, p) + k1 * (1 - b + b * len(p) / avglen))
 *	idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
 *
 * where N is the number of passages, n(t) the number holding t, tf the
 * count of t in p and len(p) p's count of tokens (the Lucene form of
 * idf, which is never negative).  Passages that match no query token are
 * never returned.  The best k are printed best first, one per line, as
 * "[<file>#<n>] <text>"; equal scores are ordered by file name (byte
 * order), then by n.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

#define KB_K1        1.2
#define KB_B         0.75
#define KB_DEFAULT_K 3
#define KB_MAX_K     5

/* One (passage, count) entry of a term's postings. */
struct kb_posting {
	uint32_t passage;
	uint32_t tf;
};

struct kb_term {
	char *text;
	struct kb_posting *postings; /* by passage, ascending */
	uint32_t n;
	uint32_t size;
};

struct kb_passage {
	uint32_t file; /* index into files */
	uint32_t n;    /* from 1 in its file */
	uint32_t len;  /* tokens */
	char *text;    /* on one line */
};

struct plug_kb {
	char **files; /* names, sorted */
	size_t n_files;
	struct kb_passage *passages;
	size_t n_passages;
	size_t size_passages;
	struct kb_term *terms;
	size_t n_terms;
	/* Open addressing: slot -> term index + 1 (0 = empty). */
	uint32_t *slots;
	size_t n_slots;
	double avglen;
};

static int kb_is_word(unsigned char c);
static int kb_is_blank(unsigned char c);
static uint64_t kb_hash(const char *s, size_t len);
static long kb_lookup(const struct plug_kb *kb, const char *s, size_t len);
static void kb_grow(struct plug_kb *kb);
static void kb_add_token(
    struct plug_kb *kb, const char *s, size_t len, uint32_t p);
static uint32_t kb_tokens(const char *s, size_t len,
    void (*fn)(void *arg, const char *tok, size_t n), void *arg);
static void kb_add_cb(void *arg, const char *tok, size_t n);
static void kb_add_passage(
    struct plug_kb *kb, uint32_t f, uint32_t n, const char *s, size_t len);
static int kb_blank_line(const char *s, size_t len);
static void kb_add_file(
    struct plug_kb *kb, uint32_t f, const char *s, size_t len);
static char *kb_read(
    int dfd, const char *name, size_t max, size_t *len, char **cause);
static int kb_name_ok(const char *name, size_t len);
static int kb_name_cmp(const void *a, const void *b);
static void kb_score_cb(void *arg, const char *tok, size_t n);
static int kb_hit_cmp(const void *a, const void *b);
static int kb_init(
    const struct plug_config *config, void **state, char **cause);
static void kb_call(void *state, const json_t *args,
    const struct plug_call *call, struct plug_result *res);
static void kb_free(void *state);

static int
kb_is_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int
kb_is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

/* FNV-1a. */
static uint64_t
kb_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Finds a term's index, or -1. */
static long
kb_lookup(const struct plug_kb *kb, const char *s, size_t len)
{
	size_t mask = kb->n_slots - 1, i;
	const struct kb_term *t;

	if (kb->n_slots == 0)
		return -1;
	for (i = kb_hash(s, len) & mask; kb->slots[i] != 0;
	     i = (i + 1) & mask) {
		t = &kb->terms[kb->slots[i] - 1];
		if (strncmp(t->text, s, len) == 0 && t->text[len] == '\0')
			return (long)kb->slots[i] - 1;
	}
	return -1;
}

/* Doubles the hash table and reinserts every term. */
static void
kb_grow(struct plug_kb *kb)
{
	size_t mask, i;

	free(kb->slots);
	kb->n_slots = (kb->n_slots == 0) ? 1024 : kb->n_slots * 2;
	kb->slots = xcalloc(kb->n_slots, sizeof *kb->slots);
	mask = kb->n_slots - 1;
	for (size_t t = 0; t < kb->n_terms; t++) {
		const char *s = kb->terms[t].text;

		for (i = kb_hash(s, strlen(s)) & mask; kb->slots[i] != 0;
		     i = (i + 1) & mask)
			;
		kb->slots[i] = (uint32_t)t + 1;
	}
}

/* Counts one occurrence of a (lowercased) token in passage p. */
static void
kb_add_token(struct plug_kb *kb, const char *s, size_t len, uint32_t p)
{
	struct kb_term *t;
	long idx;
	size_t i, mask;

	idx = kb_lookup(kb, s, len);
	if (idx < 0) {
		if ((kb->n_terms + 1) * 2 > kb->n_slots)
			kb_grow(kb);
		kb->terms = xreallocarray(
		    kb->terms, kb->n_terms + 1, sizeof *kb->terms);
		t = &kb->terms[kb->n_terms];
		memset(t, 0, sizeof *t);
		t->text = xstrndup(s, len);
		mask = kb->n_slots - 1;
		for (i = kb_hash(s, len) & mask; kb->slots[i] != 0;
		     i = (i + 1) & mask)
			;
		kb->slots[i] = (uint32_t)kb->n_terms + 1;
		idx = (long)kb->n_terms++;
	}
	t = &kb->terms[idx];
	/* Passages are added in order, so p is the last one or new. */
	if (t->n > 0 && t->postings[t->n - 1].passage == p) {
		t->postings[t->n - 1].tf++;
		return;
	}
	if (t->n == t->size) {
		t->size = (t->size == 0) ? 4 : t->size * 2;
		t->postings =
		    xreallocarray(t->postings, t->size, sizeof *t->postings);
	}
	t->postings[t->n].passage = p;
	t->postings[t->n].tf = 1;
	t->n++;
}

/*
 * Calls fn for each token of [s, s+len), lowercased into a scratch
 * buffer.  Returns the number of tokens.
 */
static uint32_t
kb_tokens(const char *s, size_t len,
    void (*fn)(void *arg, const char *tok, size_t n), void *arg)
{
	uint32_t count = 0;
	size_t i = 0, start;
	char *tok;

	tok = xmalloc(len + 1);
	while (i < len) {
		while (i < len && !kb_is_word((unsigned char)s[i]))
			i++;
		start = i;
		while (i < len && kb_is_word((unsigned char)s[i])) {
			char c = s[i];

			tok[i - start] =
			    (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
			i++;
		}
		if (i > start) {
			tok[i - start] = '\0';
			if (fn != NULL)
				fn(arg, tok, i - start);
			count++;
		}
	}
	free(tok);
	return count;
}

struct kb_add_ctx {
	struct plug_kb *kb;
	uint32_t passage;
};

static void
kb_add_cb(void *arg, const char *tok, size_t n)
{
	struct kb_add_ctx *ctx = arg;

	kb_add_token(ctx->kb, tok, n, ctx->passage);
}

/* Adds one paragraph [s, s+len) of file f as passage number n. */
static void
kb_add_passage(
    struct plug_kb *kb, uint32_t f, uint32_t n, const char *s, size_t len)
{
	struct kb_passage *p;
	struct kb_add_ctx ctx;
	struct buf text;
	size_t i = 0;

	buf_init(&text, SIZE_MAX);
	buf_add(&text, "", 0);
	while (i < len) {
		if (kb_is_blank((unsigned char)s[i]) || s[i] == '\0') {
			while (i < len &&
			    (kb_is_blank((unsigned char)s[i]) || s[i] == '\0'))
				i++;
			if (text.len > 0 && i < len)
				buf_add(&text, " ", 1);
			continue;
		}
		buf_add(&text, s + i, 1);
		i++;
	}
	if (kb->n_passages == kb->size_passages) {
		kb->size_passages =
		    (kb->size_passages == 0) ? 64 : kb->size_passages * 2;
		kb->passages = xreallocarray(
		    kb->passages, kb->size_passages, sizeof *kb->passages);
	}
	p = &kb->passages[kb->n_passages];
	p->file = f;
	p->n = n;
	p->text = buf_steal(&text);
	ctx.kb = kb;
	ctx.passage = (uint32_t)kb->n_passages;
	p->len = kb_tokens(p->text, strlen(p->text), kb_add_cb, &ctx);
	kb->n_passages++;
}

/* Returns 1 if [s, s+len) is a blank line. */
static int
kb_blank_line(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!kb_is_blank((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Cuts a file's text into paragraphs. */
static void
kb_add_file(struct plug_kb *kb, uint32_t f, const char *s, size_t len)
{
	size_t i = 0, eol, para = 0;
	uint32_t n = 0;
	int in_para = 0;

	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);

		eol = (nl != NULL) ? (size_t)(nl - s) : len;
		if (kb_blank_line(s + i, eol - i)) {
			if (in_para)
				kb_add_passage(kb, f, ++n, s + para, i - para);
			in_para = 0;
		} else if (!in_para) {
			in_para = 1;
			para = i;
		}
		i = (nl != NULL) ? eol + 1 : len;
	}
	if (in_para)
		kb_add_passage(kb, f, ++n, s + para, len - para);
}

/*
 * Reads dir/name whole, up to max bytes.  Returns the bytes (caller
 * frees) or NULL with *cause saying why the file is skipped.
 */
static char *
kb_read(int dfd, const char *name, size_t max, size_t *len, char **cause)
{
	struct stat st;
	char *data;
	size_t got = 0;
	ssize_t n = 0;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		xasprintf(cause, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*cause = xstrdup("not a regular file");
		return NULL;
	}
	if ((uintmax_t)st.st_size > max) {
		xasprintf(cause, "%jd bytes is more than the limit of %zu",
		    (intmax_t)st.st_size, max);
		close(fd);
		return NULL;
	}
	/* One byte more than the limit tells a file that grew since. */
	data = xmalloc((size_t)st.st_size + 2);
	for (;;) {
		n = read(fd, data + got, (size_t)st.st_size + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size)
			break;
	}
	close(fd);
	if (n == -1) {
		xasprintf(cause, "read: %s", strerror(errno));
		free(data);
		return NULL;
	}
	if (got > max) {
		xasprintf(cause, "more than the limit of %zu bytes", max);
		free(data);
		return NULL;
	}
	if (!utf8_valid(data, got)) {
		xasprintf(
		    cause, "not UTF-8 (byte %zu)", utf8_check(data, got) + 1);
		free(data);
		return NULL;
	}
	data[got] = '\0';
	*len = got;
	return data;
}

/* Returns 1 for a name of UTF-8 without control characters. */
static int
kb_name_ok(const char *name, size_t len)
{
	if (!utf8_valid(name, len))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
kb_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct plug_kb *
plug_kb_new(const char *dir, size_t max_file, char **cause)
{
	struct plug_kb *kb;
	struct dirent *de;
	size_t len, nlen, kept = 0, total = 0;
	char **names = NULL, *data, *why;
	size_t n = 0;
	DIR *d;
	int dfd;

	if (max_file == 0)
		max_file = PLUG_DEFAULT_KB_MAX_FILE;
	d = opendir(dir);
	if (d == NULL) {
		xasprintf(cause, "knowledge base %s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (nlen <= 4 || strcmp(de->d_name + nlen - 4, ".txt") != 0)
			continue;
		/* Names are printed in "[<file>#<n>]": keep them plain. */
		if (!kb_name_ok(de->d_name, nlen)) {
			log_warn("kb_search: %s: skipped a file whose name is "
			         "not printable UTF-8",
			    dir);
			continue;
		}
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	qsort(names, n, sizeof *names, kb_name_cmp);

	kb = xcalloc(1, sizeof *kb);
	dfd = dirfd(d);
	for (size_t i = 0; i < n; i++) {
		why = NULL;
		data = kb_read(dfd, names[i], max_file, &len, &why);
		if (data == NULL) {
			log_warn("kb_search: %s/%s: skipped: %s", dir, names[i],
			    why);
			free(why);
			free(names[i]);
			continue;
		}
		kb->files = xreallocarray(
		    kb->files, kb->n_files + 1, sizeof *kb->files);
		kb->files[kb->n_files] = names[i];
		kb_add_file(kb, (uint32_t)kb->n_files, data, len);
		kb->n_files++;
		kept++;
		free(data);
	}
	free(names);
	closedir(d);

	for (size_t i = 0; i < kb->n_passages; i++)
		total += kb->passages[i].len;
	kb->avglen = (kb->n_passages > 0 && total > 0)
	    ? (double)total / (double)kb->n_passages
	    : 1.0;
	log_info("kb_search: %s: %zu files, %zu passages, %zu terms", dir, kept,
	    kb->n_passages, kb->n_terms);
	return kb;
}

void
plug_kb_free(struct plug_kb *kb)
{
	if (kb == NULL)
		return;
	for (size_t i = 0; i < kb->n_files; i++)
		free(kb->files[i]);
	free(kb->files);
	for (size_t i = 0; i < kb->n_passages; i++)
		free(kb->passages[i].text);
	free(kb->passages);
	for (size_t i = 0; i < kb->n_terms; i++) {
		free(kb->terms[i].text);
		free(kb->terms[i].postings);
	}
	free(kb->terms);
	free(kb->slots);
	free(kb);
}

size_t
plug_kb_passages(const struct plug_kb *kb)
{
	return kb->n_passages;
}

struct kb_query {
	const struct plug_kb *kb;
	double *scores;
};

/* Adds one query token's BM25 contribution to every passage holding it. */
static void
kb_score_cb(void *arg, const char *tok, size_t n)
{
	struct kb_query *q = arg;
	const struct plug_kb *kb = q->kb;
	const struct kb_term *t;
	const struct kb_passage *p;
	double idf, tf, norm, N = (double)kb->n_passages;
	long idx;

	idx = kb_lookup(kb, tok, n);
	if (idx < 0)
		return;
	t = &kb->terms[idx];
	idf = log(1.0 + (N - t->n + 0.5) / (t->n + 0.5));
	for (uint32_t i = 0; i < t->n; i++) {
		p = &kb->passages[t->postings[i].passage];
		tf = t->postings[i].tf;
		norm = KB_K1 * (1.0 - KB_B + KB_B * p->len / kb->avglen);
		q->scores[t->postings[i].passage] +=
		    idf * tf * (KB_K1 + 1.0) / (tf + norm);
	}
}

struct kb_hit {
	const struct plug_kb *kb;
	uint32_t passage;
	double score;
};

static int
kb_hit_cmp(const void *a, const void *b)
{
	const struct kb_hit *x = a, *y = b;
	const struct kb_passage *px = &x->kb->passages[x->passage];
	const struct kb_passage *py = &y->kb->passages[y->passage];
	int c;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	c = strcmp(x->kb->files[px->file], y->kb->files[py->file]);
	if (c != 0)
		return c;
	return px->n < py->n ? -1 : (px->n > py->n);
}

char *
plug_kb_search(const struct plug_kb *kb, const char *query, int k,
    double *scores, char **cause)
{
	struct kb_query q;
	struct kb_hit *hits;
	size_t n = 0;
	struct buf out;

	if (kb_tokens(query, strlen(query), NULL, NULL) == 0) {
		*cause = xstrdup("the query has no words to search for");
		return NULL;
	}
	q.kb = kb;
	q.scores = xcalloc(kb->n_passages + 1, sizeof *q.scores);
	kb_tokens(query, strlen(query), kb_score_cb, &q);

	hits = xcalloc(kb->n_passages + 1, sizeof *hits);
	for (size_t i = 0; i < kb->n_passages; i++) {
		if (q.scores[i] <= 0)
			continue;
		hits[n].kb = kb;
		hits[n].passage = (uint32_t)i;
		hits[n].score = q.scores[i];
		n++;
	}
	free(q.scores);
	if (n == 0) {
		free(hits);
		return xstrdup("No passage matches the query.");
	}
	qsort(hits, n, sizeof *hits, kb_hit_cmp);

	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < n && i < (size_t)k; i++) {
		const struct kb_passage *p = &kb->passages[hits[i].passage];

		buf_printf(&out, "%s[%s#%u] %s", i > 0 ? "\n" : "",
		    kb->files[p->file], p->n, p->text);
		if (scores != NULL)
			scores[i] = hits[i].score;
	}
	free(hits);
	return buf_steal(&out);
}

/* ---- the tool ------------------------------------------------------------ */

static int
kb_init(const struct plug_config *config, void **state, char **cause)
{
	if (config->kb_dir == NULL)
		return 1;
	*state = plug_kb_new(config->kb_dir, config->kb_max_file_bytes, cause);
	return *state != NULL ? 0 : -1;
}

static void
kb_call(void *state, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	const json_t *query = json_object_get(args, "query");
	const json_t *kv = json_object_get(args, "k");
	char *out, *cause = NULL;
	int k = KB_DEFAULT_K;
	long double kd;

	(void)call;
	if (kv != NULL) {
		kd = plug_json_number(kv);
		if (kd < 1 || kd > KB_MAX_K) {
			plug_result_error(
			    res, "k must be from 1 to %d", KB_MAX_K);
			return;
		}
		k = (int)kd;
	}
	if (memchr(json_string_value(query), '\0', json_string_length(query)) !=
	    NULL) {
		plug_result_error(res, "the query contains a NUL character");
		return;
	}
	out = plug_kb_search(state, json_string_value(query), k, NULL, &cause);
	if (out == NULL) {
		res->text = cause;
		res->len = strlen(cause);
		res->is_error = 1;
		return;
	}
	res->text = out;
	res->len = strlen(out);
	res->is_error = 0;
}

static void
kb_free(void *state)
{
	plug_kb_free(state);
}

const struct plug_builtin plug_builtin_kb_search = {
	.name = "kb_search",
	.description = "Searches the knowledge base and returns the best "
	               "matching passages.",
	.schema = "{\"type\":\"object\",\"properties\":{"
	          "\"query\":{\"type\":\"string\",\"maxLength\":256},"
	          "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5,"
	          "\"default\":3}},"
	          "\"required\":[\"query\"],\"additionalProperties\":false}",
	.init = kb_init,
	.call = kb_call,
	.free = kb_free,
};
