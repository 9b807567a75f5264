/*
 * test-infer-tokenizer.c: the tokenizer on small vocabularies built in the
 * test: pre-tokenizer splits (expected pieces computed independently with
 * Python's `regex` module over the models' tokenizer.json expressions),
 * merge order, special tokens, plain ranges, invalid UTF-8, streaming
 * decode, SentencePiece rules, malformed vocabularies and long inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "inference/tokenizer.h"

/* ---- building small vocabularies ------------------------------------- */

#define MAX_TOKS 1024

struct vocab {
	char *text[MAX_TOKS];
	struct infer_tok_str toks[MAX_TOKS];
	int32_t types[MAX_TOKS];
	float scores[MAX_TOKS];
	size_t n;
	struct infer_tok_str merges[MAX_TOKS];
	char *merge_text[MAX_TOKS];
	size_t n_merges;
};

/* GPT-2's bytes_to_unicode, written out independently of the engine. */
static unsigned int
test_byte_cp(unsigned int b)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < 256; i++) {
		int printable =
		    (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174;

		if (i == b)
			return printable ? i : 256 + n;
		if (!printable)
			n++;
	}
	return 0;
}

static int32_t
vocab_add(struct vocab *v, const char *s, size_t len, int32_t type, float score)
{
	char *c = malloc(len + 1);

	assert_non_null(c);
	assert_true(v->n < MAX_TOKS);
	memcpy(c, s, len);
	c[len] = '\0';
	v->text[v->n] = c;
	v->toks[v->n].s = c;
	v->toks[v->n].len = len;
	v->types[v->n] = type;
	v->scores[v->n] = score;
	return (int32_t)v->n++;
}

/* The byte-level text of raw bytes s (for merges and tokens). */
static size_t
bl_text(const char *s, char *out)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		unsigned int c = test_byte_cp(*p);

		if (c < 0x80)
			out[o++] = (char)c;
		else {
			out[o++] = (char)(0xc0 | (c >> 6));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = '\0';
	return o;
}

/* A byte-level vocabulary: the 256 byte characters at ids 0..255. */
static void
vocab_bytes(struct vocab *v)
{
	memset(v, 0, sizeof *v);
	for (unsigned int b = 0; b < 256; b++) {
		char raw[2] = { (char)b, '\0' }, t[8];
		size_t n;

		if (b == 0) {
			unsigned int c = test_byte_cp(0);

			t[0] = (char)(0xc0 | (c >> 6));
			t[1] = (char)(0x80 | (c & 0x3f));
			n = 2;
		} else
			n = bl_text(raw, t);
		vocab_add(v, t, n, INFER_TOK_TYPE_NORMAL, 0);
	}
}

/* Adds the merge "left right" (raw bytes) and its result as a token. */
static int32_t
vocab_merge(struct vocab *v, const char *left, const char *right)
{
	char l[64], r[64], m[160], both[128];
	size_t ln = bl_text(left, l), rn = bl_text(right, r), k;
	int32_t id = -1;

	snprintf(m, sizeof m, "%s %s", l, r);
	assert_true(v->n_merges < MAX_TOKS);
	v->merge_text[v->n_merges] = strdup(m);
	v->merges[v->n_merges].s = v->merge_text[v->n_merges];
	v->merges[v->n_merges].len = strlen(m);
	v->n_merges++;
	memcpy(both, l, ln);
	memcpy(both + ln, r, rn);
	k = ln + rn;
	for (size_t i = 0; i < v->n; i++) {
		if (v->toks[i].len == k && memcmp(v->toks[i].s, both, k) == 0)
			id = (int32_t)i;
	}
	if (id < 0)
		id = vocab_add(v, both, k, INFER_TOK_TYPE_NORMAL, 0);
	return id;
}

static void
vocab_free(struct vocab *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->text[i]);
	for (size_t i = 0; i < v->n_merges; i++)
		free(v->merge_text[i]);
}

static struct infer_tok *
vocab_build(
    struct vocab *v, enum infer_tok_model model, const char *pre, char **cause)
{
	struct infer_tok_params p;

	infer_tok_params_init(&p);
	p.name = "test.gguf";
	p.model = model;
	p.pre = pre;
	p.tokens = v->toks;
	p.n_tokens = v->n;
	p.types = v->types;
	p.scores = v->scores;
	p.merges = v->merges;
	p.n_merges = v->n_merges;
	return infer_tok_new(&p, cause);
}

/* A byte-level tokenizer with no merges for pre-tokenizer pre. */
static struct infer_tok *
bytes_tok(const char *pre)
{
	struct vocab v;
	struct infer_tok *tok;
	char *cause = NULL;

	vocab_bytes(&v);
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, pre, &cause);
	if (tok == NULL)
		fail_msg("%s", cause);
	vocab_free(&v);
	return tok;
}

static int32_t *
enc(const struct infer_tok *tok, const char *s, size_t len, int flags,
    size_t *n)
{
	char *cause = NULL;
	int32_t *ids = infer_tok_encode(tok, s, len, flags, n, &cause);

	if (ids == NULL)
		fail_msg("encode: %s", cause);
	return ids;
}

/* Asserts that text -> ids -> text gives back the same bytes. */
static void
assert_round_trip(
    const struct infer_tok *tok, const char *s, size_t len, int dflags)
{
	size_t n, dl;
	int32_t *ids = enc(tok, s, len, 0, &n);
	char *cause = NULL,
	     *d = infer_tok_decode(tok, ids, n, dflags, &dl, &cause);

	assert_non_null(d);
	assert_int_equal(dl, len);
	assert_memory_equal(d, s, len);
	free(d);
	free(ids);
}

static int
has_id(const int32_t *ids, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
	}
	return 0;
}

/* ---- pre-tokenizer splits -------------------------------------------- */

struct split_case {
	const char *text;
	const char *pieces[16];
};

static void
check_splits(const char *pre, const struct split_case *cases, size_t n)
{
	struct infer_tok *tok = bytes_tok(pre);

	assert_string_equal(infer_tok_pre_name(tok), pre);
	for (size_t i = 0; i < n; i++) {
		const char *t = cases[i].text;
		char *cause = NULL;
		size_t k, j;
		struct infer_tok_range *r;

		r = infer_tok_split(tok, t, strlen(t), &k, &cause);
		assert_non_null(r);
		for (j = 0; cases[i].pieces[j] != NULL; j++) {
			const char *want = cases[i].pieces[j];

			if (j >= k)
				fail_msg(
				    "%s: '%s': piece %zu missing", pre, t, j);
			if (r[j].len != strlen(want) ||
			    memcmp(t + r[j].off, want, r[j].len) != 0)
				fail_msg("%s: '%s': piece %zu is '%.*s', not "
				         "'%s'",
				    pre, t, j, (int)r[j].len, t + r[j].off,
				    want);
		}
		if (j != k)
			fail_msg("%s: '%s': %zu pieces, not %zu", pre, t, k, j);
		free(r);
	}
	infer_tok_free(tok);
}

static const struct split_case gpt2_cases[] = {
	{ "I'M here, they'LL go's",
	    { "I", "'", "M", " here", ",", " they", "'", "LL", " go", "'s",
	        NULL } },
	{ "12345678 9", { "12345678", " 9", NULL } },
	{ "Hello!!!\n\nWorld", { "Hello", "!!!", "\n", "\n", "World", NULL } },
	{ "  \n\n  x", { "  \n\n ", " x", NULL } },
	{ "a   b", { "a", "  ", " b", NULL } },
	{ "!Hello (world)...", { "!", "Hello", " (", "world", ")...", NULL } },
	{ "日本語 テキスト 😀😀", { "日本語", " テキスト", " 😀😀", NULL } },
	{ "x  \t\n y", { "x", "  \t\n", " y", NULL } },
	{ "don't\r\n\r\nstop", { "don", "'t", "\r\n\r", "\n", "stop", NULL } },
};

static const struct split_case llama3_cases[] = {
	{ "I'M here, they'LL go's",
	    { "I", "'M", " here", ",", " they", "'LL", " go", "'s", NULL } },
	{ "12345678 9", { "123", "456", "78", " ", "9", NULL } },
	{ "Hello!!!\n\nWorld", { "Hello", "!!!\n\n", "World", NULL } },
	{ "  \n\n  x", { "  \n\n", " ", " x", NULL } },
	{ "a   b", { "a", "  ", " b", NULL } },
	{ "!Hello (world)...", { "!Hello", " (", "world", ")...", NULL } },
	{ "日本語 テキスト 😀😀", { "日本語", " テキスト", " 😀😀", NULL } },
	{ "x  \t\n y", { "x", "  \t\n", " y", NULL } },
	/* (?i:'s) also folds U+017F LATIN SMALL LETTER LONG S. */
	{ "ſ'S ΣΑΣ", { "ſ", "'S", " ΣΑΣ", NULL } },
	{ "don't\r\n\r\nstop", { "don", "'t", "\r\n\r\n", "stop", NULL } },
};

static const struct split_case qwen2_cases[] = {
	{ "I'M here, they'LL go's",
	    { "I", "'M", " here", ",", " they", "'LL", " go", "'s", NULL } },
	{ "12345678 9",
	    { "1", "2", "3", "4", "5", "6", "7", "8", " ", "9", NULL } },
	{ "Hello!!!\n\nWorld", { "Hello", "!!!\n\n", "World", NULL } },
	{ "  \n\n  x", { "  \n\n", " ", " x", NULL } },
	{ "!Hello (world)...", { "!Hello", " (", "world", ")...", NULL } },
	{ "x  \t\n y", { "x", "  \t\n", " y", NULL } },
	{ "don't\r\n\r\nstop", { "don", "'t", "\r\n\r\n", "stop", NULL } },
};

static const struct split_case deepseek_cases[] = {
	{ "I'M here, they'LL go's",
	    { "I", "'", "M", " here", ",", " they", "'", "LL", " go", "'", "s",
	        NULL } },
	{ "12345678 9", { "12345678", " ", "9", NULL } },
	{ "  \n\n  x", { "  ", "\n", "\n", " ", " x", NULL } },
	{ "日本語 テキスト 😀😀", { "日本語", " ", "テキスト", " 😀😀", NULL } },
	{ "x  \t\n y", { "x", "  \t", "\n", " y", NULL } },
	{ "don't\r\n\r\nstop",
	    { "don", "'", "t", "\r", "\n", "\r", "\n", "stop", NULL } },
};

static void
test_split_gpt2(void **state)
{
	(void)state;
	check_splits(
	    "gpt-2", gpt2_cases, sizeof gpt2_cases / sizeof gpt2_cases[0]);
}

static void
test_split_llama3(void **state)
{
	(void)state;
	check_splits("llama3", llama3_cases,
	    sizeof llama3_cases / sizeof llama3_cases[0]);
}

static void
test_split_qwen2(void **state)
{
	(void)state;
	check_splits(
	    "qwen2", qwen2_cases, sizeof qwen2_cases / sizeof qwen2_cases[0]);
}

static void
test_split_deepseek(void **state)
{
	(void)state;
	check_splits("deepseek-llm", deepseek_cases,
	    sizeof deepseek_cases / sizeof deepseek_cases[0]);
}

/* Aliases and every table entry compile; unknown names are refused. */
static void
test_pre_names(void **state)
{
	const char *names[] = { "llama-bpe", "llama-v3", "deepseek-coder",
		"deepseek-v3", "starcoder", "refact", "falcon", "tekken",
		"gpt-4o", "default", "olmo", "dbrx", "stablelm2" };
	struct vocab v;
	char *cause = NULL;
	struct infer_tok *tok;

	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		tok = bytes_tok(names[i]);
		assert_round_trip(
		    tok, "Hello, World! 12345 日本 'S\n\n x", 33, 0);
		infer_tok_free(tok);
	}
	tok = bytes_tok(NULL);
	assert_string_equal(infer_tok_pre_name(tok), "gpt-2");
	infer_tok_free(tok);
	tok = bytes_tok("llama-bpe");
	assert_string_equal(infer_tok_pre_name(tok), "llama3");
	infer_tok_free(tok);

	vocab_bytes(&v);
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "no-such-pre", &cause);
	assert_null(tok);
	assert_non_null(strstr(cause, "unknown pre-tokenizer 'no-such-pre'"));
	free(cause);
	vocab_free(&v);
}

/* ---- BPE merges ------------------------------------------------------ */

static void
test_merge_order(void **state)
{
	struct vocab v;
	struct infer_tok *tok;
	int32_t ab, bc, aa, *ids;
	size_t n;

	(void)state;
	/* "a b" ranks before "b c": abc -> ab c. */
	vocab_bytes(&v);
	ab = vocab_merge(&v, "a", "b");
	bc = vocab_merge(&v, "b", "c");
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "gpt-2", NULL);
	assert_non_null(tok);
	ids = enc(tok, "abc", 3, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], ab);
	assert_int_equal(ids[1], 'c');
	free(ids);
	infer_tok_free(tok);
	vocab_free(&v);

	/* The other way round: abc -> a bc. */
	vocab_bytes(&v);
	bc = vocab_merge(&v, "b", "c");
	ab = vocab_merge(&v, "a", "b");
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "gpt-2", NULL);
	assert_non_null(tok);
	ids = enc(tok, "abc", 3, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 'a');
	assert_int_equal(ids[1], bc);
	free(ids);
	infer_tok_free(tok);
	vocab_free(&v);

	/* Equal ranks: leftmost first, so aaa -> aa a and aaaa -> aa aa. */
	vocab_bytes(&v);
	aa = vocab_merge(&v, "a", "a");
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "gpt-2", NULL);
	assert_non_null(tok);
	ids = enc(tok, "aaa", 3, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], aa);
	assert_int_equal(ids[1], 'a');
	free(ids);
	ids = enc(tok, "aaaaa", 5, 0, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], aa);
	assert_int_equal(ids[1], aa);
	assert_int_equal(ids[2], 'a');
	free(ids);
	infer_tok_free(tok);
	vocab_free(&v);
}

/* Merges never cross pre-token boundaries; a space joins its word. */
static void
test_merge_words(void **state)
{
	struct vocab v;
	struct infer_tok *tok;
	int32_t sp_hi, hi_bang, *ids;
	size_t n;

	(void)state;
	vocab_bytes(&v);
	vocab_merge(&v, " ", "h");
	sp_hi = vocab_merge(&v, " h", "i");
	hi_bang = vocab_merge(&v, "i", "!");
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "gpt-2", NULL);
	assert_non_null(tok);
	/* " hi" and "!" are separate pre-tokens: "i !" never applies. */
	ids = enc(tok, " hi!", 4, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], sp_hi);
	assert_int_equal(ids[1], '!');
	assert_false(has_id(ids, n, hi_bang));
	free(ids);
	infer_tok_free(tok);
	vocab_free(&v);
}

/* llama3 takes digits three at a time and whole words that are tokens. */
static void
test_llama3_vs_qwen2(void **state)
{
	struct vocab v;
	struct infer_tok *l3, *q2;
	int32_t d123, *ids, hello;
	size_t n;

	(void)state;
	vocab_bytes(&v);
	vocab_merge(&v, "1", "2");
	d123 = vocab_merge(&v, "12", "3");
	/* "hello" is a token, but no merges lead to it. */
	hello = vocab_add(&v, "hello", 5, INFER_TOK_TYPE_NORMAL, 0);
	l3 = vocab_build(&v, INFER_TOK_MODEL_BPE, "llama3", NULL);
	q2 = vocab_build(&v, INFER_TOK_MODEL_BPE, "qwen2", NULL);
	assert_non_null(l3);
	assert_non_null(q2);

	ids = enc(l3, "12345", 5, 0, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], d123);
	assert_int_equal(ids[1], '4');
	assert_int_equal(ids[2], '5');
	free(ids);
	ids = enc(q2, "12345", 5, 0, &n);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(ids[i], '1' + (int)i);
	free(ids);

	/* ignore_merges: llama3 takes "hello" whole, qwen2 spells it. */
	ids = enc(l3, "hello", 5, 0, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], hello);
	free(ids);
	ids = enc(q2, "hello", 5, 0, &n);
	assert_int_equal(n, 5);
	free(ids);

	assert_int_equal(infer_tok_adds_bos(q2), 0);
	infer_tok_free(l3);
	infer_tok_free(q2);
	vocab_free(&v);
}

/* ---- special tokens -------------------------------------------------- */

struct chatml {
	struct vocab v;
	struct infer_tok *tok;
	int32_t start, end, eot, tool, tool_long, endoftext;
};

static void
chatml_build(struct chatml *c)
{
	struct infer_tok_params p;
	char *cause = NULL;

	vocab_bytes(&c->v);
	vocab_merge(&c->v, "u", "s");
	c->start =
	    vocab_add(&c->v, "<|im_start|>", 12, INFER_TOK_TYPE_CONTROL, 0);
	c->end = vocab_add(&c->v, "<|im_end|>", 10, INFER_TOK_TYPE_CONTROL, 0);
	c->tool = vocab_add(&c->v, "<tool>", 6, INFER_TOK_TYPE_USER_DEFINED, 0);
	c->tool_long =
	    vocab_add(&c->v, "<tool>!", 7, INFER_TOK_TYPE_USER_DEFINED, 0);
	/* Typed NORMAL by a careless conversion: made a control token. */
	c->endoftext =
	    vocab_add(&c->v, "<|endoftext|>", 13, INFER_TOK_TYPE_NORMAL, 0);
	infer_tok_params_init(&p);
	p.name = "chatml.gguf";
	p.model = INFER_TOK_MODEL_BPE;
	p.pre = "qwen2";
	p.tokens = c->v.toks;
	p.n_tokens = c->v.n;
	p.types = c->v.types;
	p.merges = c->v.merges;
	p.n_merges = c->v.n_merges;
	p.eos = c->endoftext;
	c->tok = infer_tok_new(&p, &cause);
	if (c->tok == NULL)
		fail_msg("%s", cause);
}

static void
chatml_free(struct chatml *c)
{
	infer_tok_free(c->tok);
	vocab_free(&c->v);
}

/* Every byte string of length 1 and 2 round-trips (no crash, no loss). */
static void
test_special_tokens(void **state)
{
	struct chatml c;
	const char *t = "<|im_start|>user\nhi<|im_end|>";
	int32_t *ids;
	size_t n, dl;
	char *d;

	(void)state;
	chatml_build(&c);
	/* Asked: the markers are single tokens. */
	ids = enc(c.tok, t, strlen(t), INFER_TOK_SPECIAL, &n);
	/* <|im_start|> us e r \n h i <|im_end|> */
	assert_int_equal(n, 8);
	assert_int_equal(ids[0], c.start);
	assert_int_equal(ids[1], infer_tok_find(c.tok, "us", 2));
	assert_int_equal(ids[4], '\n');
	assert_int_equal(ids[7], c.end);
	/* Decoding shows control tokens only when asked. */
	d = infer_tok_decode(c.tok, ids, n, INFER_TOK_SPECIAL, &dl, NULL);
	assert_string_equal(d, t);
	free(d);
	d = infer_tok_decode(c.tok, ids, n, 0, &dl, NULL);
	assert_string_equal(d, "user\nhi");
	free(d);
	free(ids);

	/* Not asked: plain text, which round-trips. */
	ids = enc(c.tok, t, strlen(t), 0, &n);
	assert_false(has_id(ids, n, c.start));
	assert_false(has_id(ids, n, c.end));
	free(ids);
	assert_round_trip(c.tok, t, strlen(t), 0);

	/* User-defined tokens are always recognised; the longest wins. */
	ids = enc(c.tok, "a<tool>b<tool>!", 15, 0, &n);
	assert_int_equal(n, 4);
	assert_int_equal(ids[1], c.tool);
	assert_int_equal(ids[3], c.tool_long);
	free(ids);

	/* Adjacent and partial markers. */
	ids = enc(
	    c.tok, "<|im_start|><|im_start|><|im_", 29, INFER_TOK_SPECIAL, &n);
	assert_true(n > 2);
	assert_int_equal(ids[0], c.start);
	assert_int_equal(ids[1], c.start);
	assert_false(has_id(ids + 2, n - 2, c.start));
	free(ids);

	/* End of generation: EOS, and <|im_end|> by its text. */
	assert_true(infer_tok_is_eog(c.tok, c.endoftext));
	assert_true(infer_tok_is_eog(c.tok, c.end));
	assert_false(infer_tok_is_eog(c.tok, c.start));
	assert_false(infer_tok_is_eog(c.tok, -1));
	assert_false(infer_tok_is_eog(c.tok, 1 << 30));
	assert_int_equal(infer_tok_eot(c.tok), c.end);
	assert_int_equal(
	    infer_tok_type(c.tok, c.endoftext), INFER_TOK_TYPE_CONTROL);
	assert_int_equal(infer_tok_find(c.tok, "<|im_end|>", 10), c.end);
	assert_int_equal(infer_tok_find(c.tok, "<|im_end", 8), -1);
	assert_int_equal(infer_tok_newline(c.tok), '\n');
	chatml_free(&c);
}

/* Special tokens inside plain ranges stay text. */
static void
test_plain_ranges(void **state)
{
	struct chatml c;
	const char *t = "<|im_start|>user\nbye<|im_end|><|im_start|>x"
	                "<|im_end|>\n";
	struct infer_tok_range plain = { 17, 23 }; /* "bye<|im_end|>..." */
	struct infer_tok_range bad[2] = { { 10, 5 }, { 12, 2 } };
	int32_t *ids, *all;
	size_t n, na, dl;
	char *cause = NULL, *d;

	(void)state;
	chatml_build(&c);
	ids = infer_tok_encode_ranges(
	    c.tok, t, strlen(t), INFER_TOK_SPECIAL, &plain, 1, &n, &cause);
	assert_non_null(ids);
	assert_int_equal(ids[0], c.start);
	assert_int_equal(ids[n - 2], c.end); /* the one after the range */
	/* Inside the range neither marker became a token. */
	for (size_t i = 1; i < n - 2; i++) {
		assert_int_not_equal(ids[i], c.start);
		assert_int_not_equal(ids[i], c.end);
	}
	d = infer_tok_decode(c.tok, ids, n, INFER_TOK_SPECIAL, &dl, NULL);
	assert_string_equal(d, t);
	free(d);
	free(ids);

	/* No ranges: the same as infer_tok_encode. */
	ids = infer_tok_encode_ranges(
	    c.tok, t, strlen(t), INFER_TOK_SPECIAL, NULL, 0, &n, NULL);
	all = enc(c.tok, t, strlen(t), INFER_TOK_SPECIAL, &na);
	assert_int_equal(n, na);
	assert_memory_equal(ids, all, n * sizeof *ids);
	free(ids);
	free(all);

	/* Ranges out of the text or out of order are refused. */
	ids =
	    infer_tok_encode_ranges(c.tok, t, strlen(t), 0, bad, 2, &n, &cause);
	assert_null(ids);
	assert_non_null(strstr(cause, "plain range 1"));
	free(cause);
	bad[0].off = 1000;
	ids =
	    infer_tok_encode_ranges(c.tok, t, strlen(t), 0, bad, 1, &n, &cause);
	assert_null(ids);
	assert_non_null(strstr(cause, "plain range 0"));
	free(cause);
	chatml_free(&c);
}

/* ---- invalid UTF-8 --------------------------------------------------- */

static void
test_invalid_utf8(void **state)
{
	const char *bad[] = {
		"\xff",
		"a\xc3",              /* truncated at the end */
		"\xe2\x82 x",         /* truncated in the middle */
		"\xed\xa0\x80",       /* a surrogate */
		"\xf4\x90\x80\x80",   /* past U+10FFFF */
		"\xc0\xaf",           /* overlong */
		"\x80\x80\x80 hello", /* stray continuation bytes */
		"ok \xf0\x9f\x98 \xf0\x9f\x98\x80 bye",
	};
	const char *pres[] = { "gpt-2", "llama3", "qwen2", "deepseek-llm" };
	struct infer_tok *tok;
	struct infer_tok_range *r;
	size_t n;

	(void)state;
	for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) {
		tok = bytes_tok(pres[k]);
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			assert_round_trip(tok, bad[i], strlen(bad[i]), 0);
		/* Each ill-formed byte is a piece of its own. */
		r = infer_tok_split(tok,
		    "ab\xff\xfe"
		    "cd",
		    6, &n, NULL);
		assert_non_null(r);
		assert_int_equal(n, 4);
		assert_int_equal(r[1].off, 2);
		assert_int_equal(r[1].len, 1);
		assert_int_equal(r[2].off, 3);
		assert_int_equal(r[2].len, 1);
		free(r);
		infer_tok_free(tok);
	}
}

static void
test_all_short_bytes(void **state)
{
	struct infer_tok *tok = bytes_tok("llama3");
	char s[3];

	(void)state;
	for (int a = 0; a < 256; a++) {
		s[0] = (char)a;
		assert_round_trip(tok, s, 1, 0);
		for (int b = 0; b < 256; b += 7) {
			s[1] = (char)b;
			assert_round_trip(tok, s, 2, 0);
		}
	}
	infer_tok_free(tok);
}

/* ---- streaming decode ------------------------------------------------ */

/*
 * Whether s (n bytes) is well-formed UTF-8, checked with the table of
 * Unicode 15 section 3.9 (D92), independently of the engine.
 */
static int
valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t k;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			k = 1;
		else if (b >= 0xe0 && b <= 0xef) {
			k = 2;
			lo = b == 0xe0 ? 0xa0 : 0x80;
			hi = b == 0xed ? 0x9f : 0xbf;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 3;
			lo = b == 0xf0 ? 0x90 : 0x80;
			hi = b == 0xf4 ? 0x8f : 0xbf;
		} else
			return 0;
		if (i + k >= n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t j = 2; j <= k; j++) {
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return 0;
		}
		i += k + 1;
	}
	return 1;
}

/*
 * Pushes ids through a stream, checking that every chunk is well-formed
 * UTF-8; returns the concatenated output (caller frees).
 */
static char *
stream_all(const struct infer_tok *tok, const int32_t *ids, size_t n, int flags,
    size_t *len)
{
	struct infer_tok_stream st;
	size_t cap = INFER_TOK_STREAM_MAX(infer_tok_max_piece(tok)), o = 0;
	char *out = malloc(n * cap + 4), *buf = malloc(cap);

	assert_non_null(out);
	assert_non_null(buf);
	infer_tok_stream_init(&st, flags);
	for (size_t i = 0; i < n; i++) {
		int k = infer_tok_stream_push(tok, &st, ids[i], buf, cap, NULL);

		assert_true(k >= 0);
		assert_true(valid_utf8((unsigned char *)buf, (size_t)k));
		memcpy(out + o, buf, (size_t)k);
		o += (size_t)k;
	}
	o += infer_tok_stream_flush(&st, out + o, 4);
	out[o] = '\0';
	*len = o;
	free(buf);
	return out;
}

static void
test_stream_emoji(void **state)
{
	struct infer_tok *tok = bytes_tok("gpt-2");
	struct infer_tok_stream st;
	/* 😀 is F0 9F 98 80; each byte is its own token here. */
	int32_t ids[] = { 'a', 0xf0, 0x9f, 0x98, 0x80, 'b' };
	char out[64];
	int k;
	size_t len;
	char *all, *cause = NULL;

	(void)state;
	infer_tok_stream_init(&st, 0);
	k = infer_tok_stream_push(tok, &st, ids[0], out, sizeof out, NULL);
	assert_int_equal(k, 1);
	assert_memory_equal(out, "a", 1);
	for (int i = 1; i < 4; i++) {
		k = infer_tok_stream_push(
		    tok, &st, ids[i], out, sizeof out, NULL);
		assert_int_equal(k, 0); /* held back */
		assert_int_equal(st.n_pending, (size_t)i);
	}
	k = infer_tok_stream_push(tok, &st, ids[4], out, sizeof out, NULL);
	assert_int_equal(k, 4);
	assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(infer_tok_stream_flush(&st, out, sizeof out), 0);

	/* A broken character becomes U+FFFD, then the rest goes on. */
	infer_tok_stream_init(&st, 0);
	k = infer_tok_stream_push(tok, &st, 0xf0, out, sizeof out, NULL);
	assert_int_equal(k, 0);
	k = infer_tok_stream_push(tok, &st, 'x', out, sizeof out, NULL);
	assert_int_equal(k, 4);
	assert_memory_equal(out, "\xef\xbf\xbdx", 4);
	/* A byte that can never start a character: at once. */
	k = infer_tok_stream_push(tok, &st, 0xff, out, sizeof out, NULL);
	assert_int_equal(k, 3);
	assert_memory_equal(out, "\xef\xbf\xbd", 3);
	/* Unfinished at the end: flush gives U+FFFD. */
	k = infer_tok_stream_push(tok, &st, 0xe2, out, sizeof out, NULL);
	assert_int_equal(k, 0);
	assert_int_equal(infer_tok_stream_flush(&st, out, sizeof out), 3);
	assert_memory_equal(out, "\xef\xbf\xbd", 3);
	assert_int_equal(st.n_pending, 0);

	/* Too small a buffer or a bad id: -1, nothing consumed. */
	infer_tok_stream_init(&st, 0);
	k = infer_tok_stream_push(tok, &st, 0xf0, out, sizeof out, NULL);
	k = infer_tok_stream_push(tok, &st, 0x9f, out, 2, &cause);
	assert_int_equal(k, -1);
	assert_non_null(strstr(cause, "too small"));
	free(cause);
	assert_int_equal(st.n_pending, 1);
	k = infer_tok_stream_push(tok, &st, 100000, out, sizeof out, &cause);
	assert_int_equal(k, -1);
	assert_non_null(strstr(cause, "out of range"));
	free(cause);

	all = stream_all(tok, ids, 6, 0, &len);
	assert_string_equal(all,
	    "a\xf0\x9f\x98\x80"
	    "b");
	free(all);
	infer_tok_free(tok);
}

/* Streaming a long mixed text token by token gives back the text. */
static void
test_stream_multilingual(void **state)
{
	const char *t =
	    "Grüße, Welt! Привет мир. 日本語のテキスト。"
	    "🦙🚀 emoji👩‍👩‍👧 and  spaces\t\ttabs\n\nnew "
	    "lines.";
	struct infer_tok *tok = bytes_tok("llama3");
	int32_t *ids;
	size_t n, len;
	char *all;

	(void)state;
	ids = enc(tok, t, strlen(t), 0, &n);
	all = stream_all(tok, ids, n, 0, &len);
	assert_string_equal(all, t);
	free(all);
	free(ids);
	assert_round_trip(tok, t, strlen(t), 0);
	infer_tok_free(tok);
}

/* ---- SentencePiece --------------------------------------------------- */

struct spm {
	struct vocab v;
	struct infer_tok *tok;
	int32_t sp, sp_h, sp_hi, h, i, sp_sp, ctl;
};

static void
spm_build(struct spm *s, int add_space_prefix)
{
	struct infer_tok_params p;
	char *cause = NULL;
	char b[8];

	memset(&s->v, 0, sizeof s->v);
	vocab_add(&s->v, "<unk>", 5, INFER_TOK_TYPE_UNKNOWN, 0);
	vocab_add(&s->v, "<s>", 3, INFER_TOK_TYPE_CONTROL, 0);
	vocab_add(&s->v, "</s>", 4, INFER_TOK_TYPE_CONTROL, 0);
	for (int k = 0; k < 256; k++) {
		snprintf(b, sizeof b, "<0x%02X>", k);
		vocab_add(&s->v, b, 6, INFER_TOK_TYPE_BYTE, 0);
	}
	s->sp = vocab_add(&s->v, "\xe2\x96\x81", 3, INFER_TOK_TYPE_NORMAL, -1);
	s->h = vocab_add(&s->v, "h", 1, INFER_TOK_TYPE_NORMAL, -2);
	s->i = vocab_add(&s->v, "i", 1, INFER_TOK_TYPE_NORMAL, -2);
	s->sp_h =
	    vocab_add(&s->v, "\xe2\x96\x81h", 4, INFER_TOK_TYPE_NORMAL, -3);
	s->sp_hi =
	    vocab_add(&s->v, "\xe2\x96\x81hi", 5, INFER_TOK_TYPE_NORMAL, -0.5f);
	s->sp_sp = vocab_add(
	    &s->v, "\xe2\x96\x81\xe2\x96\x81", 6, INFER_TOK_TYPE_NORMAL, -4);
	s->ctl = vocab_add(&s->v, "<ctl>", 5, INFER_TOK_TYPE_CONTROL, 0);
	infer_tok_params_init(&p);
	p.name = "spm.gguf";
	p.model = INFER_TOK_MODEL_SPM;
	p.tokens = s->v.toks;
	p.n_tokens = s->v.n;
	p.types = s->v.types;
	p.scores = s->v.scores;
	p.add_space_prefix = add_space_prefix;
	s->tok = infer_tok_new(&p, &cause);
	if (s->tok == NULL)
		fail_msg("%s", cause);
}

static void
spm_free(struct spm *s)
{
	infer_tok_free(s->tok);
	vocab_free(&s->v);
}

static void
test_spm(void **state)
{
	struct spm s;
	int32_t *ids;
	size_t n, dl;
	char *d;

	(void)state;
	spm_build(&s, -1);
	/* Defaults of llama.cpp: <unk> <s> </s>, BOS added, space prefix. */
	assert_int_equal(infer_tok_unk(s.tok), 0);
	assert_int_equal(infer_tok_bos(s.tok), 1);
	assert_int_equal(infer_tok_eos(s.tok), 2);
	assert_true(infer_tok_adds_bos(s.tok));
	assert_int_equal(infer_tok_newline(s.tok), 3 + '\n');
	assert_string_equal(infer_tok_pre_name(s.tok), "");
	assert_int_equal(infer_tok_model(s.tok), INFER_TOK_MODEL_SPM);

	ids = enc(s.tok, "hi", 2, INFER_TOK_ADD_SPECIAL, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], s.sp_hi);
	d = infer_tok_decode(s.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, NULL);
	assert_string_equal(d, "hi");
	free(d);
	d = infer_tok_decode(s.tok, ids, n, INFER_TOK_SPECIAL, &dl, NULL);
	assert_string_equal(d, "<s> hi");
	free(d);
	free(ids);

	/* Highest score first: "▁▁" (-4) loses to "▁h"... "▁hi" (-0.5). */
	ids = enc(s.tok, " hi", 3, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], s.sp);
	assert_int_equal(ids[1], s.sp_hi);
	free(ids);

	/* Byte fallback: é is C3 A9, with no token of its own. */
	ids = enc(s.tok, "hé", 3, 0, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], s.sp_h);
	assert_int_equal(ids[1], 3 + 0xc3);
	assert_int_equal(ids[2], 3 + 0xa9);
	free(ids);

	/* Ill-formed bytes too, and they round-trip. */
	assert_round_trip(s.tok, "h\xff\xc3 i\x80", 6, INFER_TOK_STRIP_SPACE);
	assert_round_trip(
	    s.tok, "  leading and trailing  ", 24, INFER_TOK_STRIP_SPACE);
	assert_round_trip(s.tok, "日本 😀", 11, INFER_TOK_STRIP_SPACE);

	/* A space prefix follows every special token. */
	ids = enc(s.tok, "hi<ctl>hi", 9, INFER_TOK_SPECIAL, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], s.sp_hi);
	assert_int_equal(ids[1], s.ctl);
	assert_int_equal(ids[2], s.sp_hi);
	free(ids);
	/* The empty text gives nothing (BOS only when asked). */
	ids = enc(s.tok, "", 0, 0, &n);
	assert_int_equal(n, 0);
	free(ids);
	spm_free(&s);

	/* add_space_prefix off: no leading ▁. */
	spm_build(&s, 0);
	ids = enc(s.tok, "hi", 2, 0, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], s.h);
	assert_int_equal(ids[1], s.i);
	free(ids);
	assert_round_trip(s.tok, "hi there", 8, INFER_TOK_STRIP_SPACE);
	spm_free(&s);
}

/* The SentencePiece stream strips the prefix space only when asked. */
static void
test_spm_stream(void **state)
{
	struct spm s;
	int32_t ids[] = { 1, 0, 0, 0 };
	size_t len;
	char *out;

	(void)state;
	spm_build(&s, -1);
	ids[1] = s.sp_hi;
	ids[2] = s.sp_h;
	ids[3] = s.i;
	out = stream_all(s.tok, ids, 4, INFER_TOK_STRIP_SPACE, &len);
	assert_string_equal(out, "hi hi");
	free(out);
	out = stream_all(s.tok, ids, 4, 0, &len);
	assert_string_equal(out, " hi hi");
	free(out);
	spm_free(&s);
}

/* ---- malformed vocabularies ------------------------------------------ */

static void
expect_fail(struct infer_tok_params *p, const char *msg)
{
	char *cause = NULL;
	struct infer_tok *tok = infer_tok_new(p, &cause);

	assert_null(tok);
	assert_non_null(cause);
	if (strstr(cause, msg) == NULL)
		fail_msg("'%s' does not say '%s'", cause, msg);
	free(cause);
	/* And without a cause pointer. */
	assert_null(infer_tok_new(p, NULL));
}

static void
count_warn(void *arg, const char *msg)
{
	int *n = arg;

	assert_non_null(strstr(msg, "test.gguf"));
	(*n)++;
}

static void
test_bad_vocab(void **state)
{
	struct vocab v;
	struct infer_tok_params p;
	struct infer_tok_str m, ms[3];
	struct infer_tok *tok;
	int warned = 0;

	(void)state;
	vocab_bytes(&v);
	infer_tok_params_init(&p);
	p.name = "test.gguf";
	p.model = INFER_TOK_MODEL_BPE;
	p.tokens = v.toks;

	p.n_tokens = 0;
	expect_fail(&p, "test.gguf: the vocabulary has no tokens");
	p.n_tokens = v.n;

	p.model = 7;
	expect_fail(&p, "unknown tokenizer kind 7");
	p.model = INFER_TOK_MODEL_BPE;

	/* A duplicate token text. */
	v.toks[200] = v.toks[100];
	expect_fail(&p, "duplicate token");
	vocab_free(&v);
	vocab_bytes(&v);
	p.tokens = v.toks;

	/* Merges: no space, missing parts, a result not in the vocabulary. */
	p.merges = &m;
	p.n_merges = 1;
	m.s = "ab";
	m.len = 2;
	expect_fail(&p, "tokenizer.ggml.merges[0]: 'ab' is not");
	m.s = "a ";
	expect_fail(&p, "is not \"left right\"");
	p.n_merges = 0;
	p.merges = NULL;

	/* Flags that need ids. */
	p.add_bos = 1;
	expect_fail(&p, "add_bos_token is true but there is no BOS");
	p.add_bos = -1;
	p.add_eos = 1;
	expect_fail(&p, "add_eos_token is true but there is no EOS");
	p.add_eos = -1;

	/* Tolerated, with a warning: ids out of range, unknown types,
	 * merges that cannot produce a token. */
	p.pad = 5000;
	p.sep = -7;
	p.types = v.types;
	v.types[65] = 99;
	p.warn = count_warn;
	p.warn_arg = &warned;
	ms[0].s = "a b"; /* "ab" is not a token */
	ms[0].len = 3;
	ms[1].s = "\xe2\x82 b";
	ms[1].len = 4;
	ms[2].s = "a c";
	ms[2].len = 3;
	p.merges = ms;
	p.n_merges = 3;
	tok = infer_tok_new(&p, NULL);
	assert_non_null(tok);
	assert_int_equal(warned, 6);
	assert_round_trip(tok, "ab", 2, 0);
	assert_int_equal(infer_tok_pad(tok), -1);
	assert_int_equal(infer_tok_type(tok, 65), INFER_TOK_TYPE_UNDEFINED);
	infer_tok_free(tok);
	vocab_free(&v);
}

/* Accessors at and past the edges. */
static void
test_accessors(void **state)
{
	struct infer_tok *tok = bytes_tok("gpt-2");
	int32_t bad[] = { 'a', 300 };
	size_t len;
	char *cause = NULL;

	(void)state;
	assert_int_equal(infer_tok_n_vocab(tok), 256);
	assert_null(infer_tok_text(tok, 256));
	assert_null(infer_tok_text(tok, -1));
	assert_string_equal(infer_tok_text(tok, 'a'), "a");
	assert_string_equal(infer_tok_text(tok, ' '), "\xc4\xa0");
	assert_null(infer_tok_piece(tok, 256, 0, &len));
	assert_int_equal(len, 0);
	assert_true(infer_tok_score(tok, 999) == 0.0f);
	assert_int_equal(infer_tok_bos(tok), -1);
	assert_int_equal(infer_tok_eos(tok), -1);
	assert_false(infer_tok_adds_eos(tok));
	assert_true(infer_tok_max_piece(tok) >= 1);
	assert_null(infer_tok_decode(tok, bad, 2, 0, &len, &cause));
	assert_non_null(strstr(cause, "token id 300 (at 1) out of range"));
	free(cause);
	assert_null(infer_tok_encode(tok, NULL, 3, 0, &len, &cause));
	free(cause);
	infer_tok_free(NULL);
	infer_tok_free(tok);
}

/* ---- loading from GGUF metadata -------------------------------------- */

/* What to put in a vocabulary file, and how to spoil it. */
enum spoil {
	SPOIL_NONE,
	SPOIL_NO_MODEL,
	SPOIL_MODEL_BERT,
	SPOIL_TOKENS_NOT_STRINGS,
	SPOIL_SCORES_SHORT,
	SPOIL_TYPES_STRINGS,
	SPOIL_NO_MERGES,
	SPOIL_BOS_STRING,
	SPOIL_ADD_BOS_STRING,
	SPOIL_PRE_UNKNOWN,
	SPOIL_MERGE_BAD,
};

/* Writes a byte-level vocabulary GGUF into memory and opens it. */
static struct infer_gguf *
vocab_gguf(enum spoil spoil, void **buf)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	struct vocab v;
	const char *strs[MAX_TOKS], *merges[4];
	size_t lens[MAX_TOKS], len, n_merges = 1;
	float scores[MAX_TOKS];
	int32_t types[MAX_TOKS];
	char *cause = NULL;
	struct infer_gguf *g;
	int rc = 0;

	assert_non_null(w);
	vocab_bytes(&v);
	vocab_merge(&v, "a", "b");
	for (size_t i = 0; i < v.n; i++) {
		strs[i] = v.toks[i].s;
		lens[i] = v.toks[i].len;
		scores[i] = (float)i;
		types[i] = INFER_TOK_TYPE_NORMAL;
	}
	merges[0] = spoil == SPOIL_MERGE_BAD ? "a+b" : v.merges[0].s;
	if (spoil != SPOIL_NO_MODEL)
		rc |= infer_gguf_writer_add_str(w, "tokenizer.ggml.model",
		    spoil == SPOIL_MODEL_BERT ? "bert" : "gpt2", 4, &cause);
	rc |= infer_gguf_writer_add_str(w, "tokenizer.ggml.pre",
	    spoil == SPOIL_PRE_UNKNOWN ? "zzz" : "qwen2",
	    5 - 2 * (spoil == SPOIL_PRE_UNKNOWN), &cause);
	if (spoil == SPOIL_TOKENS_NOT_STRINGS)
		rc |= infer_gguf_writer_add_arr(w, "tokenizer.ggml.tokens",
		    INFER_GGUF_I32, types, v.n, &cause);
	else
		rc |= infer_gguf_writer_add_arr_str(
		    w, "tokenizer.ggml.tokens", strs, lens, v.n, &cause);
	rc |= infer_gguf_writer_add_arr(w, "tokenizer.ggml.scores",
	    INFER_GGUF_F32, scores, spoil == SPOIL_SCORES_SHORT ? 3 : v.n,
	    &cause);
	if (spoil == SPOIL_TYPES_STRINGS)
		rc |= infer_gguf_writer_add_arr_str(
		    w, "tokenizer.ggml.token_type", strs, lens, v.n, &cause);
	else
		rc |= infer_gguf_writer_add_arr(w, "tokenizer.ggml.token_type",
		    INFER_GGUF_I32, types, v.n, &cause);
	if (spoil != SPOIL_NO_MERGES)
		rc |= infer_gguf_writer_add_arr_str(
		    w, "tokenizer.ggml.merges", merges, NULL, n_merges, &cause);
	if (spoil == SPOIL_BOS_STRING)
		rc |= infer_gguf_writer_add_str(
		    w, "tokenizer.ggml.bos_token_id", "1", 1, &cause);
	else
		rc |= infer_gguf_writer_add_u32(
		    w, "tokenizer.ggml.bos_token_id", 'B', &cause);
	rc |= infer_gguf_writer_add_i32(
	    w, "tokenizer.ggml.eos_token_id", 'E', &cause);
	rc |= infer_gguf_writer_add_u32(
	    w, "tokenizer.ggml.padding_token_id", 100000, &cause);
	if (spoil == SPOIL_ADD_BOS_STRING)
		rc |= infer_gguf_writer_add_str(
		    w, "tokenizer.ggml.add_bos_token", "yes", 3, &cause);
	else
		rc |= infer_gguf_writer_add_bool(
		    w, "tokenizer.ggml.add_bos_token", true, &cause);
	if (rc != 0)
		fail_msg("writer: %s", cause);
	if (infer_gguf_writer_write_mem(w, buf, &len, NULL, NULL, &cause) != 0)
		fail_msg("writer: %s", cause);
	infer_gguf_writer_free(w);
	vocab_free(&v);
	g = infer_gguf_open_mem(*buf, len, "vocab.gguf", &cause);
	if (g == NULL)
		fail_msg("%s", cause);
	return g;
}

static void
gguf_warn(void *arg, const char *msg)
{
	int *n = arg;

	assert_non_null(strstr(msg, "vocab.gguf: padding token id 100000"));
	(*n)++;
}

static void
test_gguf_loader(void **state)
{
	static const struct {
		enum spoil spoil;
		const char *msg;
	} bad[] = {
		{ SPOIL_NO_MODEL, "tokenizer.ggml.model" },
		{ SPOIL_MODEL_BERT,
		    "vocab.gguf: tokenizer.ggml.model: "
		    "unsupported tokenizer 'bert'" },
		{ SPOIL_TOKENS_NOT_STRINGS, "tokenizer.ggml.tokens: array of" },
		{ SPOIL_SCORES_SHORT,
		    "vocab.gguf: tokenizer.ggml.scores has 3 "
		    "elements for 257 tokens" },
		{ SPOIL_TYPES_STRINGS, "'tokenizer.ggml.token_type'" },
		{ SPOIL_NO_MERGES, "tokenizer.ggml.merges" },
		{ SPOIL_BOS_STRING, "tokenizer.ggml.bos_token_id" },
		{ SPOIL_ADD_BOS_STRING, "tokenizer.ggml.add_bos_token" },
		{ SPOIL_PRE_UNKNOWN, "unknown pre-tokenizer 'zzz'" },
		{ SPOIL_MERGE_BAD, "tokenizer.ggml.merges[0]: 'a+b'" },
	};
	struct infer_gguf *g;
	struct infer_tok *tok;
	void *buf = NULL;
	char *cause = NULL;
	int warned = 0;
	int32_t *ids;
	size_t n;

	(void)state;
	g = vocab_gguf(SPOIL_NONE, &buf);
	tok = infer_tok_from_gguf(g, gguf_warn, &warned, &cause);
	if (tok == NULL)
		fail_msg("%s", cause);
	assert_int_equal(warned, 1);
	assert_int_equal(infer_tok_n_vocab(tok), 257);
	assert_int_equal(infer_tok_bos(tok), 'B');
	assert_int_equal(infer_tok_eos(tok), 'E');
	assert_int_equal(infer_tok_pad(tok), -1);
	assert_true(infer_tok_score(tok, 7) == 7.0f);
	assert_string_equal(infer_tok_pre_name(tok), "qwen2");
	ids = enc(tok, "ab", 2, INFER_TOK_ADD_SPECIAL, &n);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 'B');
	assert_int_equal(ids[1], 256);
	free(ids);
	infer_tok_free(tok);
	infer_gguf_close(g);
	free(buf);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		g = vocab_gguf(bad[i].spoil, &buf);
		tok = infer_tok_from_gguf(g, NULL, NULL, &cause);
		assert_null(tok);
		assert_non_null(cause);
		if (strstr(cause, bad[i].msg) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, cause,
			    bad[i].msg);
		free(cause);
		cause = NULL;
		infer_gguf_close(g);
		free(buf);
	}
}

/* ---- long inputs ----------------------------------------------------- */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The best of three timings of encoding text. */
static double
time_encode(const struct infer_tok *tok, const char *t, size_t len)
{
	double best = 1e9;

	for (int r = 0; r < 3; r++) {
		double t0 = now(), dt;
		size_t n;
		int32_t *ids = enc(tok, t, len, 0, &n);

		dt = now() - t0;
		free(ids);
		if (dt < best)
			best = dt;
	}
	return best;
}

static void
test_long_inputs(void **state)
{
	struct vocab v;
	struct infer_tok *tok;
	size_t big = 1 << 20, n;
	char *t = malloc(big);
	int32_t *ids;
	double t1, t4;

	(void)state;
	assert_non_null(t);
	vocab_bytes(&v);
	vocab_merge(&v, "a", "a");
	vocab_merge(&v, "aa", "aa");
	vocab_merge(&v, " ", " ");
	tok = vocab_build(&v, INFER_TOK_MODEL_BPE, "llama3", NULL);
	assert_non_null(tok);

	/* A megabyte of spaces, of one letter, of mixed text. */
	memset(t, ' ', big);
	assert_round_trip(tok, t, big, 0);
	memset(t, 'a', big);
	ids = enc(tok, t, big, 0, &n);
	assert_int_equal(n, big / 4);
	free(ids);
	for (size_t i = 0; i < big; i++)
		t[i] = "ab \n\t1é!"[(i * 7 + i / 13) % 9];
	assert_round_trip(tok, t, big, 0);

	/* One long word: 4x the bytes must not cost 16x the time. */
	memset(t, 'a', big);
	t1 = time_encode(tok, t, big / 4);
	t4 = time_encode(tok, t, big);
	if (t4 > 10 * t1 + 0.05)
		fail_msg("a 4x longer word took %.3fs vs %.3fs", t4, t1);
	infer_tok_free(tok);
	vocab_free(&v);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_gpt2),
		cmocka_unit_test(test_split_llama3),
		cmocka_unit_test(test_split_qwen2),
		cmocka_unit_test(test_split_deepseek),
		cmocka_unit_test(test_pre_names),
		cmocka_unit_test(test_merge_order),
		cmocka_unit_test(test_merge_words),
		cmocka_unit_test(test_llama3_vs_qwen2),
		cmocka_unit_test(test_special_tokens),
		cmocka_unit_test(test_plain_ranges),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_all_short_bytes),
		cmocka_unit_test(test_stream_emoji),
		cmocka_unit_test(test_stream_multilingual),
		cmocka_unit_test(test_spm),
		cmocka_unit_test(test_spm_stream),
		cmocka_unit_test(test_bad_vocab),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_gguf_loader),
		cmocka_unit_test(test_long_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
