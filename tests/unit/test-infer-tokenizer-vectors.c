/*
 * test-infer-tokenizer-vectors.c: the tokenizer on real vocabularies from
 * the shared test data (tokenizer-vectors/: GPT-2, DeepSeek LLM and a
 * Llama SentencePiece vocabulary, each with test strings and the ids a
 * reference implementation gives them).
 *
 * The data is read in place from $AGENTD_SHARED_DATA, else
 * $AGENTD_SRCDIR/../shared/data.  Without it the test is skipped (exit
 * 77), unless CI=true, where it fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/tokenizer.h"

#define SEP "\n__ggml_vocab_test__\n"

static char vec_dir[4096];

/* Reads a whole file into a new NUL-terminated buffer. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		fail_msg("%s: cannot open", path);
	if (fseek(f, 0, SEEK_END) != 0)
		fail_msg("%s: cannot seek", path);
	n = ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
		fail_msg("%s: cannot seek", path);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("%s: short read", path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

struct vocab_file {
	struct infer_gguf *g;
	struct infer_tok *tok;
};

static void
vf_open(struct vocab_file *vf, const char *name)
{
	char path[4200], *cause = NULL;

	snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", vec_dir, name);
	vf->g = infer_gguf_open(path, 0, &cause);
	if (vf->g == NULL)
		fail_msg("%s", cause);
	vf->tok = infer_tok_from_gguf(vf->g, NULL, NULL, &cause);
	if (vf->tok == NULL)
		fail_msg("%s", cause);
}

static void
vf_close(struct vocab_file *vf)
{
	infer_tok_free(vf->tok);
	infer_gguf_close(vf->g);
}

/* Decodes ids through a stream and compares with text. */
static void
check_stream(const struct infer_tok *tok, const int32_t *ids, size_t n,
    const char *text, size_t len)
{
	struct infer_tok_stream st;
	size_t cap = INFER_TOK_STREAM_MAX(infer_tok_max_piece(tok)), o = 0;
	char *buf = malloc(cap), *all = malloc(n * cap + 4);

	assert_non_null(buf);
	assert_non_null(all);
	infer_tok_stream_init(&st, INFER_TOK_STRIP_SPACE);
	for (size_t i = 0; i < n; i++) {
		int k = infer_tok_stream_push(tok, &st, ids[i], buf, cap, NULL);

		assert_true(k >= 0);
		memcpy(all + o, buf, (size_t)k);
		o += (size_t)k;
	}
	o += infer_tok_stream_flush(&st, all + o, 4);
	if (o != len || memcmp(all, text, len) != 0)
		fail_msg("stream of '%.*s' gave '%.*s'", (int)len, text, (int)o,
		    all);
	free(all);
	free(buf);
}

/*
 * Runs every test string of a vocabulary: the ids must equal the
 * expected ones, decoding must give back the string, and so must the
 * stream.
 */
static void
run_vectors(const char *name)
{
	struct vocab_file vf;
	char path[4200], *inp, *out, *p, *o;
	size_t ni, no, cases = 0;

	vf_open(&vf, name);
	snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", vec_dir, name);
	inp = slurp(path, &ni);
	snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", vec_dir, name);
	out = slurp(path, &no);
	p = inp;
	o = out;
	for (;;) {
		char *e = strstr(p, SEP), *oe, got[16384], *d, *cause = NULL;
		size_t n, gl = 0, dl;
		int32_t *ids;

		if (e == NULL)
			break;
		oe = strchr(o, '\n');
		assert_non_null(oe);
		ids =
		    infer_tok_encode(vf.tok, p, (size_t)(e - p), 0, &n, &cause);
		if (ids == NULL)
			fail_msg("%s: %s", name, cause);
		got[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			assert_true(gl + 16 < sizeof got);
			gl += (size_t)snprintf(
			    got + gl, sizeof got - gl, " %d", (int)ids[i]);
		}
		if ((size_t)(oe - o) != gl || memcmp(o, got, gl) != 0)
			fail_msg("%s case %zu '%.*s':\n expected%.*s\n got     "
			         "%s",
			    name, cases, (int)(e - p), p, (int)(oe - o), o,
			    got);
		d = infer_tok_decode(
		    vf.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, &cause);
		assert_non_null(d);
		if (dl != (size_t)(e - p) || memcmp(d, p, dl) != 0)
			fail_msg("%s case %zu: '%.*s' decodes to '%s'", name,
			    cases, (int)(e - p), p, d);
		free(d);
		check_stream(vf.tok, ids, n, p, (size_t)(e - p));
		free(ids);
		p = e + strlen(SEP);
		o = oe + 1;
		cases++;
	}
	assert_int_equal(cases, 46);
	assert_true(*o == '\0');
	free(inp);
	free(out);
	vf_close(&vf);
}

static void
test_vectors_gpt2(void **state)
{
	(void)state;
	run_vectors("gpt-2");
}

static void
test_vectors_deepseek_llm(void **state)
{
	(void)state;
	run_vectors("deepseek-llm");
}

static void
test_vectors_llama_spm(void **state)
{
	(void)state;
	run_vectors("llama-spm");
}

static int32_t *
enc(const struct infer_tok *tok, const char *s, int flags, size_t *n)
{
	char *cause = NULL;
	int32_t *ids = infer_tok_encode(tok, s, strlen(s), flags, n, &cause);

	if (ids == NULL)
		fail_msg("%s", cause);
	return ids;
}

static void
test_gpt2_special(void **state)
{
	struct vocab_file vf;
	int32_t *ids;
	size_t n, dl;
	char *d;

	(void)state;
	vf_open(&vf, "gpt-2");
	assert_int_equal(infer_tok_n_vocab(vf.tok), 50257);
	assert_int_equal(infer_tok_bos(vf.tok), 50256);
	assert_int_equal(infer_tok_eos(vf.tok), 50256);
	assert_true(infer_tok_is_eog(vf.tok, 50256));
	assert_false(infer_tok_adds_bos(vf.tok));
	assert_string_equal(infer_tok_pre_name(vf.tok), "gpt-2");
	assert_int_equal(infer_tok_newline(vf.tok), 198);

	/* Asked: one token; not asked: text that round-trips. */
	ids = enc(vf.tok, "a<|endoftext|>b", INFER_TOK_SPECIAL, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[1], 50256);
	d = infer_tok_decode(vf.tok, ids, n, 0, &dl, NULL);
	assert_string_equal(d, "ab");
	free(d);
	d = infer_tok_decode(vf.tok, ids, n, INFER_TOK_SPECIAL, &dl, NULL);
	assert_string_equal(d, "a<|endoftext|>b");
	free(d);
	free(ids);
	ids = enc(vf.tok, "a<|endoftext|>b", 0, &n);
	assert_true(n > 3);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(ids[i], 50256);
	d = infer_tok_decode(vf.tok, ids, n, 0, &dl, NULL);
	assert_string_equal(d, "a<|endoftext|>b");
	free(d);
	free(ids);
	vf_close(&vf);
}

static void
test_spm_special(void **state)
{
	struct vocab_file vf;
	int32_t *ids;
	size_t n, dl;
	char *d;

	(void)state;
	vf_open(&vf, "llama-spm");
	assert_int_equal(infer_tok_bos(vf.tok), 1);
	assert_int_equal(infer_tok_eos(vf.tok), 2);
	assert_int_equal(infer_tok_unk(vf.tok), 0);
	assert_true(infer_tok_adds_bos(vf.tok));
	assert_true(infer_tok_is_eog(vf.tok, 2));
	assert_int_equal(infer_tok_newline(vf.tok), 13);

	ids = enc(vf.tok, "Hello world", INFER_TOK_ADD_SPECIAL, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 15043);
	assert_int_equal(ids[2], 3186);
	d = infer_tok_decode(vf.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, NULL);
	assert_string_equal(d, "Hello world");
	free(d);
	free(ids);
	/* "</s>" in text: the control token only when asked, and a space
	 * prefix follows it. */
	ids = enc(vf.tok, "Hi</s>Hi", INFER_TOK_SPECIAL, &n);
	assert_int_equal(ids[0], 6324);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 6324);
	assert_int_equal(n, 3);
	free(ids);
	ids = enc(vf.tok, "Hi</s>Hi", 0, &n);
	assert_true(n > 3);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(ids[i], 2);
	free(ids);
	vf_close(&vf);
}

static void
test_deepseek_meta(void **state)
{
	struct vocab_file vf;
	int32_t *ids;
	size_t n;

	(void)state;
	vf_open(&vf, "deepseek-llm");
	assert_int_equal(infer_tok_bos(vf.tok), 100000);
	assert_int_equal(infer_tok_eos(vf.tok), 100001);
	assert_int_equal(infer_tok_pad(vf.tok), 100001);
	assert_true(infer_tok_adds_bos(vf.tok));
	assert_string_equal(infer_tok_pre_name(vf.tok), "deepseek-llm");
	ids = enc(vf.tok, "Hello", INFER_TOK_ADD_SPECIAL, &n);
	assert_int_equal(ids[0], 100000);
	assert_int_equal(n, 2);
	free(ids);
	vf_close(&vf);
}

/* Texts beyond the vectors: each must round-trip on every vocabulary. */
static const char *const extra_texts[] = {
	"Grüße aus Köln — ½ Portion, 3×",
	"Привет, мир! Как дела?",
	"日本語のテキストと中文和한국어",
	"مرحبا بالعالم",
	"नमस्ते दुनिया",
	"🦙🚀👩‍👩‍👧‍👦 ❤️ 🇫🇷 emoji runs",
	"tabs\t\t\tand\n\n\n\nnewlines\r\n and    spaces     ",
	"                                                  x",
	"code: for (int i = 0; i < n; i++) { sum += a[i]; }",
	"Ünïcödé ñ ß ẞ ǅ ŉ ﬁ ﬀ",
	"",
	" ",
	"\n",
};

static void
test_round_trips(void **state)
{
	const char *names[] = { "gpt-2", "deepseek-llm", "llama-spm" };
	/* Ill-formed UTF-8 round-trips too (decode gives raw bytes). */
	const char *bad[] = { "ab\xff", "\xc3", "x\xe2\x82y", "\xed\xa0\x80",
		"\xf0\x9f\x98 z" };

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct vocab_file vf;

		vf_open(&vf, names[k]);
		for (size_t i = 0;
		     i < sizeof extra_texts / sizeof extra_texts[0]; i++) {
			const char *t = extra_texts[i];
			size_t n, dl;
			int32_t *ids = enc(vf.tok, t, 0, &n);
			char *d = infer_tok_decode(
			    vf.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, NULL);

			if (strcmp(d, t) != 0)
				fail_msg(
				    "%s: '%s' decodes to '%s'", names[k], t, d);
			check_stream(vf.tok, ids, n, t, strlen(t));
			free(d);
			free(ids);
		}
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			size_t n, dl;
			int32_t *ids = enc(vf.tok, bad[i], 0, &n);
			char *d = infer_tok_decode(
			    vf.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, NULL);

			/* DeepSeek spells byte FF with its added token "ÿ". */
			if (k == 1 && i == 0)
				assert_string_equal(d, "abÿ");
			else
				assert_string_equal(d, bad[i]);
			free(d);
			free(ids);
		}
		vf_close(&vf);
	}
}

/*
 * An emoji that the vocabulary spells with several byte tokens streams
 * out whole: the pushes before its last byte write nothing.
 */
static void
test_stream_split_emoji(void **state)
{
	struct vocab_file vf;
	struct infer_tok_stream st;
	const char *t = "🦙";
	char buf[1024];
	int32_t *ids;
	size_t n;
	int k;

	(void)state;
	vf_open(&vf, "gpt-2");
	ids = enc(vf.tok, t, 0, &n);
	assert_true(n >= 2);
	infer_tok_stream_init(&st, 0);
	for (size_t i = 0; i < n; i++) {
		k = infer_tok_stream_push(
		    vf.tok, &st, ids[i], buf, sizeof buf, NULL);
		if (i + 1 < n)
			assert_int_equal(k, 0);
		else {
			assert_int_equal(k, 4);
			assert_memory_equal(buf, t, 4);
		}
	}
	free(ids);
	vf_close(&vf);
}

/*
 * Random bytes (mostly ill-formed UTF-8, with specials parsed): encoding
 * never fails, and decoding gives the bytes back (DeepSeek: bytes that
 * have their own token).
 */
static void
test_random_bytes(void **state)
{
	const char *names[] = { "gpt-2", "deepseek-llm", "llama-spm" };
	const char alphabet[] = "ab <|>\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98"
	                        "\x80\x80\xbf\xff";
	uint32_t seed = 12345;

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct vocab_file vf;

		vf_open(&vf, names[k]);
		for (int r = 0; r < 2000; r++) {
			char s[64];
			size_t len, n, dl;
			int32_t *ids;
			char *d;

			seed = seed * 1103515245u + 12345u;
			len = (seed >> 16) % sizeof s;
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				s[i] = (seed >> 20) % 3 == 0
				    ? (char)(seed >> 8)
				    : alphabet[(seed >> 8) %
				          (sizeof alphabet - 1)];
				if (k == 1 &&
				    ((unsigned char)s[i] >= 0xf5 ||
				        (unsigned char)s[i] == 0xc0 ||
				        (unsigned char)s[i] == 0xc1))
					s[i] = 'x';
			}
			ids = infer_tok_encode(
			    vf.tok, s, len, INFER_TOK_SPECIAL, &n, NULL);
			assert_non_null(ids);
			d = infer_tok_decode(vf.tok, ids, n,
			    INFER_TOK_SPECIAL | INFER_TOK_STRIP_SPACE, &dl,
			    NULL);
			assert_non_null(d);
			/* SentencePiece puts a space after each special
			 * token; the byte-level vocabularies give all back. */
			if (k != 2 || memchr(s, '<', len) == NULL) {
				assert_int_equal(dl, len);
				assert_memory_equal(d, s, len);
			}
			free(d);
			free(ids);
		}
		vf_close(&vf);
	}
}

/* A long prompt: every vector string many times over, in one text. */
static void
test_long_prompt(void **state)
{
	const char *names[] = { "gpt-2", "deepseek-llm", "llama-spm" };
	char path[4200];

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct vocab_file vf;
		size_t ni, n, dl, big;
		char *inp, *text, *d;
		int32_t *ids;

		vf_open(&vf, names[k]);
		snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp",
		    vec_dir, names[k]);
		inp = slurp(path, &ni);
		big = ni * 100;
		text = malloc(big + 1);
		assert_non_null(text);
		for (size_t i = 0; i < 100; i++)
			memcpy(text + i * ni, inp, ni);
		text[big] = '\0';
		ids = infer_tok_encode(vf.tok, text, big, 0, &n, NULL);
		assert_non_null(ids);
		assert_true(n > big / 10);
		d = infer_tok_decode(
		    vf.tok, ids, n, INFER_TOK_STRIP_SPACE, &dl, NULL);
		assert_int_equal(dl, big);
		assert_memory_equal(d, text, big);
		free(d);
		free(ids);
		free(text);
		free(inp);
		vf_close(&vf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_gpt2),
		cmocka_unit_test(test_vectors_deepseek_llm),
		cmocka_unit_test(test_vectors_llama_spm),
		cmocka_unit_test(test_gpt2_special),
		cmocka_unit_test(test_spm_special),
		cmocka_unit_test(test_deepseek_meta),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_stream_split_emoji),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_long_prompt),
	};
	const char *env = getenv("AGENTD_SHARED_DATA");
	const char *src = getenv("AGENTD_SRCDIR");
	const char *ci = getenv("CI");
	char probe[4200];

	if (env != NULL && env[0] != '\0')
		snprintf(vec_dir, sizeof vec_dir, "%s/tokenizer-vectors", env);
	else
		snprintf(vec_dir, sizeof vec_dir,
		    "%s/../shared/data/tokenizer-vectors",
		    src != NULL && src[0] != '\0' ? src : ".");
	snprintf(probe, sizeof probe, "%s/ggml-vocab-gpt-2.gguf", vec_dir);
	if (access(probe, R_OK) != 0) {
		if (ci != NULL && strcmp(ci, "true") == 0) {
			fprintf(stderr,
			    "test-infer-tokenizer-vectors: %s is missing "
			    "(shared test data; CI=true, so this fails)\n",
			    probe);
			return 1;
		}
		fprintf(stderr,
		    "test-infer-tokenizer-vectors: skipped: %s is missing "
		    "(set AGENTD_SHARED_DATA)\n",
		    probe);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
