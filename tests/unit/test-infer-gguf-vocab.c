/*
 * test-infer-gguf-vocab.c: real GGUF files, as llama.cpp's converter wrote
 * them, load and read back: the vocabulary-only files of the shared test
 * data (the .gguf files in tokenizer-vectors: gpt-2, llama-spm,
 * deepseek-llm).
 *
 * The data is read in place from $AGENTD_SHARED_DATA (default
 * $AGENTD_SRCDIR/../shared/data).  Without it the test is skipped (exit
 * 77), except under CI=true, where it fails.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/gguf.h"

/* What each known file must hold. */
struct vocab {
	const char *file;
	const char *arch;
	const char *model; /* tokenizer.ggml.model */
	uint64_t n_tokens;
	uint64_t n_merges; /* 0: no merges key */
	int has_scores;
	uint32_t bos;
	uint32_t eos;
	const char *token1; /* tokens[1] */
};

static const struct vocab vocabs[] = {
	{ "ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257, 50000, 0, 50256,
	    50256, "\"" },
	{ "ggml-vocab-llama-spm.gguf", "llama", "llama", 32000, 0, 1, 1, 2,
	    "<s>" },
	{ "ggml-vocab-deepseek-llm.gguf", "llama", "gpt2", 102400, 99757, 0,
	    100000, 100001, "\"" },
};

static char vocab_dir[PATH_MAX];

static struct infer_gguf *open_vocab(const char *, unsigned);
static void check_vocab(const struct vocab *, const struct infer_gguf *);

static struct infer_gguf *
open_vocab(const char *file, unsigned flags)
{
	char path[PATH_MAX + 64], *cause = NULL;
	struct infer_gguf *g;

	snprintf(path, sizeof(path), "%s/%s", vocab_dir, file);
	g = infer_gguf_open(path, flags, &cause);
	if (g == NULL)
		fail_msg("%s", cause != NULL ? cause : "(no message)");
	return g;
}

static void
check_vocab(const struct vocab *v, const struct infer_gguf *g)
{
	struct infer_gguf_arr tokens, types, arr;
	const char *s;
	size_t len;
	char *c = NULL, *str;
	uint32_t bos, eos, vocab_size;
	int32_t *tt;
	float *scores;
	char key[128];

	assert_int_equal(infer_gguf_version(g), 3);
	assert_int_equal(infer_gguf_tensor_count(g), 0);
	assert_true(infer_gguf_data_offset(g) <= infer_gguf_file_size(g));
	str = infer_gguf_get_strdup(g, "general.architecture", &c);
	assert_non_null(str);
	assert_string_equal(str, v->arch);
	free(str);
	str = infer_gguf_get_strdup(g, "tokenizer.ggml.model", &c);
	assert_non_null(str);
	assert_string_equal(str, v->model);
	free(str);

	assert_int_equal(
	    infer_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens, &c), 0);
	assert_int_equal(tokens.type, INFER_GGUF_STR);
	assert_int_equal(tokens.n, v->n_tokens);
	snprintf(key, sizeof(key), "%s.vocab_size", v->arch);
	if (infer_gguf_kv_find(g, key) >= 0) {
		assert_int_equal(
		    infer_gguf_get_u32(g, key, &vocab_size, &c), 0);
		assert_int_equal(vocab_size, v->n_tokens);
	}
	for (uint64_t i = 0; i < tokens.n; i++) {
		assert_int_equal(
		    infer_gguf_arr_str(&tokens, i, &s, &len, &c), 0);
		assert_true(len > 0 || i > 0);
	}
	assert_int_equal(infer_gguf_arr_str(&tokens, 1, &s, &len, &c), 0);
	assert_int_equal(len, strlen(v->token1));
	assert_memory_equal(s, v->token1, len);

	/* Token types: one per token, copied out as i32. */
	assert_int_equal(
	    infer_gguf_get_arr(g, "tokenizer.ggml.token_type", &types, &c), 0);
	assert_int_equal(types.n, tokens.n);
	tt = malloc(types.n * sizeof(*tt));
	assert_non_null(tt);
	assert_int_equal(infer_gguf_arr_copy_i32(&types, tt, types.n, &c), 0);
	for (uint64_t i = 0; i < types.n; i++)
		assert_true(tt[i] >= 1 && tt[i] <= 6);
	free(tt);

	if (v->has_scores) {
		assert_int_equal(
		    infer_gguf_get_arr(g, "tokenizer.ggml.scores", &arr, &c),
		    0);
		assert_int_equal(arr.type, INFER_GGUF_F32);
		assert_int_equal(arr.n, tokens.n);
		scores = malloc(arr.n * sizeof(*scores));
		assert_non_null(scores);
		assert_int_equal(
		    infer_gguf_arr_copy_f32(&arr, scores, arr.n, &c), 0);
		free(scores);
	}
	if (v->n_merges > 0) {
		assert_int_equal(
		    infer_gguf_get_arr(g, "tokenizer.ggml.merges", &arr, &c),
		    0);
		assert_int_equal(arr.type, INFER_GGUF_STR);
		assert_int_equal(arr.n, v->n_merges);
		/* Every merge is two pieces separated by one space. */
		for (uint64_t i = 0; i < arr.n; i++) {
			assert_int_equal(
			    infer_gguf_arr_str(&arr, i, &s, &len, &c), 0);
			assert_non_null(memchr(s, ' ', len));
		}
	} else {
		assert_int_equal(
		    infer_gguf_kv_find(g, "tokenizer.ggml.merges"), -1);
	}
	assert_int_equal(
	    infer_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos, &c), 0);
	assert_int_equal(
	    infer_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos, &c), 0);
	assert_int_equal(bos, v->bos);
	assert_int_equal(eos, v->eos);
	assert_true(bos < tokens.n && eos < tokens.n);
	assert_null(c);
}

static void
test_known_vocabs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vocabs) / sizeof(vocabs[0]); i++) {
		for (unsigned flags = 0; flags <= INFER_GGUF_POPULATE;
		     flags++) {
			struct infer_gguf *g =
			    open_vocab(vocabs[i].file, flags);

			check_vocab(&vocabs[i], g);
			infer_gguf_close(g);
		}
	}
}

/* Every .gguf file there loads, and every value renders. */
static void
test_every_file(void **state)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	d = opendir(vocab_dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct infer_gguf *g;

		if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
			continue;
		g = open_vocab(de->d_name, 0);
		for (size_t i = 0; i < infer_gguf_kv_count(g); i++) {
			char *s = infer_gguf_kv_to_string(g, i, 8);

			assert_non_null(s);
			free(s);
		}
		infer_gguf_close(g);
		n++;
	}
	closedir(d);
	assert_true(n >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vocabs),
		cmocka_unit_test(test_every_file),
	};
	const char *shared = getenv("AGENTD_SHARED_DATA");
	const char *src = getenv("AGENTD_SRCDIR");
	const char *ci = getenv("CI");
	struct stat st;

	if (shared != NULL && shared[0] != '\0') {
		snprintf(vocab_dir, sizeof(vocab_dir), "%s/tokenizer-vectors",
		    shared);
	} else {
		snprintf(vocab_dir, sizeof(vocab_dir),
		    "%s/../shared/data/tokenizer-vectors",
		    src != NULL && src[0] != '\0' ? src : ".");
	}
	if (stat(vocab_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		if (ci != NULL && strcmp(ci, "true") == 0) {
			fprintf(stderr,
			    "test-infer-gguf-vocab: %s missing (CI=true)\n",
			    vocab_dir);
			return 1;
		}
		fprintf(stderr,
		    "test-infer-gguf-vocab: skipped: %s missing (set "
		    "AGENTD_SHARED_DATA)\n",
		    vocab_dir);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
