/*
 * fuzz-gguf.c: libFuzzer harness for the GGUF reader (inference/gguf.c).
 *
 * Each input is opened as an in-memory file.  A refusal must come with a
 * message; an accepted file is then walked through every accessor: each
 * key with each typed getter, every array (nested ones too) element by
 * element and in bulk, the rendering `agentd-infer info` prints, and the
 * first and last byte of every tensor, so ASan sees any pointer the
 * reader hands out that leaves the input.
 *
 *   make fuzz
 *   build/fuzz/fuzz-gguf -dict=tests/fuzz/gguf.dict -max_len=65536 \
 *       CORPUS_DIR tests/fixtures/gguf/seeds
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference/gguf.h"

/* Inputs above this are ignored: the reader's cost is linear in size. */
#define MAX_INPUT (1 << 20)
/* Elements visited one by one in each array, and copied in bulk. */
#define MAX_VISIT 64
#define MAX_COPY  4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes read through pointers the reader returns land here. */
static volatile uint8_t touched;

static void walk_arr(const struct infer_gguf_arr *a);
static void walk_kv(const struct infer_gguf *g, size_t i);

/* Every element accessor on the first elements of an array, then bulk. */
static void
walk_arr(const struct infer_gguf_arr *a)
{
	struct infer_gguf_arr sub;
	const void *raw;
	const char *s;
	size_t len, n;
	int64_t i64;
	uint64_t u64;
	double d;
	char *cause;
	void *buf;

	n = a->n < MAX_VISIT ? (size_t)a->n : MAX_VISIT;
	for (size_t i = 0; i <= n; i++) {
		cause = NULL;
		if (infer_gguf_arr_i64(a, i, &i64, &cause) != 0)
			free(cause);
		cause = NULL;
		if (infer_gguf_arr_u64(a, i, &u64, &cause) != 0)
			free(cause);
		cause = NULL;
		if (infer_gguf_arr_f64(a, i, &d, &cause) != 0)
			free(cause);
		cause = NULL;
		if (infer_gguf_arr_str(a, i, &s, &len, &cause) == 0) {
			if (len > 0) {
				touched = (uint8_t)s[0];
				touched = (uint8_t)s[len - 1];
			}
		} else {
			free(cause);
		}
		cause = NULL;
		if (infer_gguf_arr_arr(a, i, &sub, &cause) == 0)
			walk_arr(&sub);
		else
			free(cause);
	}
	cause = NULL;
	if (infer_gguf_arr_raw(a, &raw, &cause) == 0) {
		size_t es = infer_gguf_vtype_size(a->type);

		if (a->n > 0)
			touched = ((const uint8_t *)raw)[a->n * es - 1];
	} else {
		free(cause);
	}
	if (a->n > MAX_COPY)
		return;
	buf = malloc((size_t)a->n * sizeof(uint32_t) + 1);
	if (buf == NULL)
		return;
	cause = NULL;
	if (infer_gguf_arr_copy_f32(a, buf, (size_t)a->n, &cause) != 0)
		free(cause);
	cause = NULL;
	if (infer_gguf_arr_copy_i32(a, buf, (size_t)a->n, &cause) != 0)
		free(cause);
	cause = NULL;
	if (infer_gguf_arr_copy_u32(a, buf, (size_t)a->n, &cause) != 0)
		free(cause);
	free(buf);
}

/* Every getter on one key. */
static void
walk_kv(const struct infer_gguf *g, size_t i)
{
	const char *key = infer_gguf_kv_key(g, i), *s;
	struct infer_gguf_arr a;
	size_t len;
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	int64_t i64;
	float f;
	double d;
	bool b;
	char *cause, *str;

	if (infer_gguf_kv_find(g, key) != (int64_t)i)
		abort();
	str = infer_gguf_kv_to_string(g, i, 8);
	free(str);
	cause = NULL;
	if (infer_gguf_get_str(g, key, &s, &len, &cause) == 0 && len > 0) {
		touched = (uint8_t)s[0];
		touched = (uint8_t)s[len - 1];
	}
	free(cause);

#define TRY(call)                          \
	do {                               \
		cause = NULL;              \
		if ((call) != 0) {         \
			if (cause == NULL) \
				abort();   \
			free(cause);       \
		}                          \
	} while (0)
	TRY(infer_gguf_get_u32(g, key, &u32, &cause));
	TRY(infer_gguf_get_i32(g, key, &i32, &cause));
	TRY(infer_gguf_get_u64(g, key, &u64, &cause));
	TRY(infer_gguf_get_i64(g, key, &i64, &cause));
	TRY(infer_gguf_get_f32(g, key, &f, &cause));
	TRY(infer_gguf_get_f64(g, key, &d, &cause));
	TRY(infer_gguf_get_bool(g, key, &b, &cause));
#undef TRY
	cause = NULL;
	str = infer_gguf_get_strdup(g, key, &cause);
	free(str);
	free(cause);
	cause = NULL;
	if (infer_gguf_get_arr(g, key, &a, &cause) == 0)
		walk_arr(&a);
	else
		free(cause);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct infer_gguf *g;
	char *cause = NULL;

	if (size > MAX_INPUT)
		return 0;
	g = infer_gguf_open_mem(data, size, "fuzz.gguf", &cause);
	if (g == NULL) {
		/* A refusal always says why, and names the input. */
		if (cause == NULL || strncmp(cause, "fuzz.gguf: ", 11) != 0)
			abort();
		free(cause);
		return 0;
	}
	for (size_t i = 0; i < infer_gguf_kv_count(g); i++)
		walk_kv(g, i);
	for (size_t i = 0; i < infer_gguf_tensor_count(g); i++) {
		const struct infer_gguf_tensor *t = infer_gguf_tensor_at(g, i);
		const uint8_t *p = t->data;

		if (infer_gguf_tensor_find(g, t->name) != t || t->size == 0)
			abort();
		touched = p[0];
		touched = p[t->size - 1];
	}
	infer_gguf_close(g);
	return 0;
}
