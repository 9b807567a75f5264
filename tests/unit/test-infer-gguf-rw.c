/*
 * test-infer-gguf-rw.c: the GGUF writer against the reader (every value
 * type, nested arrays, tensors with borrowed and late-filled data,
 * alignment, both versions, the file and the memory paths), the typed
 * getters' conversions and range checks, and the writer's refusals.
 *
 * With AGENTD_GGUF_WRITE_SEEDS=DIR set, every file the tests write is also
 * saved there as seed-HASH.gguf: that is how the fuzzer's seeds in
 * tests/fixtures/gguf/seeds were made.
 */
#include <sys/stat.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"

static void check_cause(char **, const char *);
static struct infer_gguf_writer *build_all_types(void);
static void check_all_types(const struct infer_gguf *);
static int fill_pattern(void *, size_t, void *, size_t, char **);
static int fill_fail(void *, size_t, void *, size_t, char **);
static struct infer_gguf *reopen(struct infer_gguf_writer *, void **, size_t *);

static const uint8_t arr_u8[] = { 0, 1, 255 };
static const int8_t arr_i8[] = { -128, 0, 127 };
static const uint16_t arr_u16[] = { 0, 65535 };
static const int16_t arr_i16[] = { -32768, 32767 };
static const uint32_t arr_u32[] = { 0, 7, UINT32_MAX };
static const int32_t arr_i32[] = { INT32_MIN, -1, INT32_MAX };
static const float arr_f32[] = { -1.5f, 0.0f, 3.25f, FLT_MAX };
static const bool arr_bool[] = { true, false, true };
static const uint64_t arr_u64[] = { UINT64_MAX, 0 };
static const int64_t arr_i64[] = { INT64_MIN, INT64_MAX };
static const double arr_f64[] = { 1e300, -2.5 };

static float t_f32[3 * 4];
static uint8_t t_q8[2 * 34];
static uint8_t t_q4k[2 * 144];

/* Checks a message exactly, then frees it and clears the pointer. */
static void
check_cause(char **causep, const char *want)
{
	char *cause = *causep;

	*causep = NULL;
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("cause '%s' wanted '%s'", cause, want);
	free(cause);
}

/* Fails the test, with the message, when a call fails. */
#define must(call, c)                                            \
	do {                                                     \
		if ((call) != 0)                                 \
			fail_msg("%s: %s", #call,                \
			    (c) != NULL ? (c) : "(no message)"); \
	} while (0)

/* Produces tensor data for tensors added without any: byte i = index+i. */
static int
fill_pattern(void *arg, size_t index, void *buf, size_t size, char **cause)
{
	uint8_t *p = buf;

	(void)cause;
	(*(int *)arg)++;
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(index + i);
	return 0;
}

static int
fill_fail(void *arg, size_t index, void *buf, size_t size, char **cause)
{
	(void)arg;
	(void)buf;
	(void)size;
	if (asprintf(cause, "no data for tensor %zu", index) == -1)
		*cause = NULL;
	return -1;
}

/* A writer holding one pair of every type and four tensors. */
static struct infer_gguf_writer *
build_all_types(void)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	static const char *const strs[] = { "alpha", "", "\xc3\xa9t\xc3\xa9" };
	static const char nul_str[] = { 'a', '\0', 'b' };
	char *c = NULL;

	assert_non_null(w);
	for (size_t i = 0; i < sizeof(t_f32) / sizeof(t_f32[0]); i++)
		t_f32[i] = (float)i * 0.5f;
	for (size_t i = 0; i < sizeof(t_q8); i++)
		t_q8[i] = (uint8_t)(i * 3);
	for (size_t i = 0; i < sizeof(t_q4k); i++)
		t_q4k[i] = (uint8_t)(i * 7);

	must(infer_gguf_writer_set_alignment(w, 64, &c), c);
	must(infer_gguf_writer_add_u8(w, "t.u8", 200, &c), c);
	must(infer_gguf_writer_add_i8(w, "t.i8", -100, &c), c);
	must(infer_gguf_writer_add_u16(w, "t.u16", 60000, &c), c);
	must(infer_gguf_writer_add_i16(w, "t.i16", -30000, &c), c);
	must(infer_gguf_writer_add_u32(w, "t.u32", 4000000000u, &c), c);
	must(infer_gguf_writer_add_i32(w, "t.i32", -2000000000, &c), c);
	must(infer_gguf_writer_add_f32(w, "t.f32", 0.1f, &c), c);
	must(infer_gguf_writer_add_bool(w, "t.bool", true, &c), c);
	must(infer_gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo", 6, &c), c);
	must(infer_gguf_writer_add_str(w, "t.empty", NULL, 0, &c), c);
	must(infer_gguf_writer_add_str(w, "t.nul", nul_str, 3, &c), c);
	must(infer_gguf_writer_add_u64(w, "t.u64", UINT64_MAX, &c), c);
	must(infer_gguf_writer_add_i64(w, "t.i64", INT64_MIN, &c), c);
	must(infer_gguf_writer_add_f64(w, "t.f64", -1e-300, &c), c);

	must(infer_gguf_writer_add_arr(w, "a.u8", INFER_GGUF_U8, arr_u8, 3, &c),
	    c);
	must(infer_gguf_writer_add_arr(w, "a.i8", INFER_GGUF_I8, arr_i8, 3, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.u16", INFER_GGUF_U16, arr_u16, 2, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.i16", INFER_GGUF_I16, arr_i16, 2, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.u32", INFER_GGUF_U32, arr_u32, 3, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.i32", INFER_GGUF_I32, arr_i32, 3, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.f32", INFER_GGUF_F32, arr_f32, 4, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.bool", INFER_GGUF_BOOL, arr_bool, 3, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.u64", INFER_GGUF_U64, arr_u64, 2, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.i64", INFER_GGUF_I64, arr_i64, 2, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.f64", INFER_GGUF_F64, arr_f64, 2, &c),
	    c);
	must(infer_gguf_writer_add_arr(
	         w, "a.empty", INFER_GGUF_U32, NULL, 0, &c),
	    c);
	must(infer_gguf_writer_add_arr_str(w, "a.str", strs, NULL, 3, &c), c);

	/* [[1, 2], [], [["x", "yz"]]]: arrays of arrays, built by hand. */
	must(infer_gguf_writer_arr_begin(w, "a.nested", INFER_GGUF_ARR, &c), c);
	must(infer_gguf_writer_add_arr(w, NULL, INFER_GGUF_U32, arr_u32, 2, &c),
	    c);
	must(infer_gguf_writer_arr_begin(w, NULL, INFER_GGUF_I8, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);
	must(infer_gguf_writer_arr_begin(w, NULL, INFER_GGUF_ARR, &c), c);
	must(infer_gguf_writer_arr_begin(w, NULL, INFER_GGUF_STR, &c), c);
	must(infer_gguf_writer_add_str(w, NULL, "x", 1, &c), c);
	must(infer_gguf_writer_add_str(w, NULL, "yz", 2, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);

	/* An array of f64 appended one element at a time. */
	must(infer_gguf_writer_arr_begin(w, "a.built", INFER_GGUF_F64, &c), c);
	for (int i = 0; i < 5; i++)
		must(infer_gguf_writer_add_f64(w, NULL, i * 1.5, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);

	must(infer_gguf_writer_add_tensor(w, "f32", INFER_TYPE_F32, 2,
	         (const uint64_t[]){ 4, 3 }, t_f32, &c),
	    c);
	must(infer_gguf_writer_add_tensor(w, "q8", INFER_TYPE_Q8_0, 1,
	         (const uint64_t[]){ 64 }, t_q8, &c),
	    c);
	must(infer_gguf_writer_add_tensor(w, "late", INFER_TYPE_BF16, 4,
	         (const uint64_t[]){ 2, 3, 5, 7 }, NULL, &c),
	    c);
	must(infer_gguf_writer_add_tensor(w, "blk.0.ffn_down.weight",
	         INFER_TYPE_Q4_K, 2, (const uint64_t[]){ 256, 2 }, t_q4k, &c),
	    c);
	return w;
}

/* Writes to memory and opens the result. */
static struct infer_gguf *
reopen(struct infer_gguf_writer *w, void **buf, size_t *len)
{
	const char *seed_dir = getenv("AGENTD_GGUF_WRITE_SEEDS");
	char *c = NULL, path[PATH_MAX];
	int fills = 0;
	struct infer_gguf *g;
	FILE *f;

	must(infer_gguf_writer_write_mem(w, buf, len, fill_pattern, &fills, &c),
	    c);
	if (seed_dir != NULL && seed_dir[0] != '\0') {
		/* Named by content, so a file written twice is saved once. */
		uint64_t h = 0xcbf29ce484222325ULL;

		for (size_t i = 0; i < *len; i++)
			h = (h ^ ((const uint8_t *)*buf)[i]) * 0x100000001b3ULL;
		snprintf(path, sizeof(path), "%s/seed-%016llx.gguf", seed_dir,
		    (unsigned long long)h);
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(*buf, 1, *len, f), *len);
		assert_int_equal(fclose(f), 0);
	}
	g = infer_gguf_open_mem(*buf, *len, "rt.gguf", &c);
	if (g == NULL)
		fail_msg("reopen: %s", c);
	return g;
}

static void
check_all_types(const struct infer_gguf *g)
{
	struct infer_gguf_arr a, sub, sub2;
	const struct infer_gguf_tensor *t;
	const char *s;
	size_t len;
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	int64_t i64;
	float f;
	double d;
	bool b;
	char *c = NULL, *str;
	int32_t ibuf[3];
	uint32_t ubuf[3];
	float fbuf[4];
	const void *raw;
	const uint8_t *base;

	assert_int_equal(infer_gguf_alignment(g), 64);
	assert_int_equal(infer_gguf_data_offset(g) % 64, 0);
	assert_int_equal(infer_gguf_kv_count(g), 30);
	assert_string_equal(infer_gguf_kv_key(g, 0), "general.alignment");
	assert_int_equal(infer_gguf_kv_type(g, 0), INFER_GGUF_U32);

	must(infer_gguf_get_u32(g, "t.u8", &u32, &c), c);
	assert_int_equal(u32, 200);
	must(infer_gguf_get_i32(g, "t.i8", &i32, &c), c);
	assert_int_equal(i32, -100);
	must(infer_gguf_get_u32(g, "t.u16", &u32, &c), c);
	assert_int_equal(u32, 60000);
	must(infer_gguf_get_i32(g, "t.i16", &i32, &c), c);
	assert_int_equal(i32, -30000);
	must(infer_gguf_get_u32(g, "t.u32", &u32, &c), c);
	assert_int_equal(u32, 4000000000u);
	must(infer_gguf_get_i32(g, "t.i32", &i32, &c), c);
	assert_int_equal(i32, -2000000000);
	must(infer_gguf_get_f32(g, "t.f32", &f, &c), c);
	assert_true(f == 0.1f);
	must(infer_gguf_get_bool(g, "t.bool", &b, &c), c);
	assert_true(b);
	must(infer_gguf_get_str(g, "t.str", &s, &len, &c), c);
	assert_int_equal(len, 6);
	assert_memory_equal(s, "h\xc3\xa9llo", 6);
	str = infer_gguf_get_strdup(g, "t.str", &c);
	assert_non_null(str);
	assert_string_equal(str, "h\xc3\xa9llo");
	free(str);
	must(infer_gguf_get_str(g, "t.empty", &s, &len, &c), c);
	assert_int_equal(len, 0);
	str = infer_gguf_get_strdup(g, "t.empty", &c);
	assert_non_null(str);
	assert_string_equal(str, "");
	free(str);
	must(infer_gguf_get_str(g, "t.nul", &s, &len, &c), c);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "a\0b", 3);
	must(infer_gguf_get_u64(g, "t.u64", &u64, &c), c);
	assert_true(u64 == UINT64_MAX);
	must(infer_gguf_get_i64(g, "t.i64", &i64, &c), c);
	assert_true(i64 == INT64_MIN);
	must(infer_gguf_get_f64(g, "t.f64", &d, &c), c);
	assert_true(d == -1e-300);

	/* Fixed-size arrays, element by element and in bulk. */
	must(infer_gguf_get_arr(g, "a.u8", &a, &c), c);
	assert_int_equal(a.type, INFER_GGUF_U8);
	assert_int_equal(a.n, 3);
	must(infer_gguf_arr_u64(&a, 2, &u64, &c), c);
	assert_int_equal(u64, 255);
	must(infer_gguf_get_arr(g, "a.i8", &a, &c), c);
	must(infer_gguf_arr_i64(&a, 0, &i64, &c), c);
	assert_int_equal(i64, -128);
	must(infer_gguf_arr_copy_i32(&a, ibuf, 3, &c), c);
	assert_int_equal(ibuf[0], -128);
	assert_int_equal(ibuf[2], 127);
	must(infer_gguf_get_arr(g, "a.u16", &a, &c), c);
	must(infer_gguf_arr_u64(&a, 1, &u64, &c), c);
	assert_int_equal(u64, 65535);
	must(infer_gguf_get_arr(g, "a.i16", &a, &c), c);
	must(infer_gguf_arr_i64(&a, 0, &i64, &c), c);
	assert_int_equal(i64, -32768);
	must(infer_gguf_get_arr(g, "a.u32", &a, &c), c);
	must(infer_gguf_arr_copy_u32(&a, ubuf, 3, &c), c);
	assert_memory_equal(ubuf, arr_u32, sizeof(arr_u32));
	must(infer_gguf_arr_raw(&a, &raw, &c), c);
	assert_memory_equal(raw, arr_u32, sizeof(arr_u32));
	must(infer_gguf_get_arr(g, "a.i32", &a, &c), c);
	must(infer_gguf_arr_copy_i32(&a, ibuf, 3, &c), c);
	assert_memory_equal(ibuf, arr_i32, sizeof(arr_i32));
	must(infer_gguf_get_arr(g, "a.f32", &a, &c), c);
	must(infer_gguf_arr_copy_f32(&a, fbuf, 4, &c), c);
	assert_memory_equal(fbuf, arr_f32, sizeof(arr_f32));
	must(infer_gguf_arr_f64(&a, 2, &d, &c), c);
	assert_true(d == 3.25);
	must(infer_gguf_get_arr(g, "a.bool", &a, &c), c);
	assert_int_equal(a.type, INFER_GGUF_BOOL);
	must(infer_gguf_arr_u64(&a, 0, &u64, &c), c);
	assert_int_equal(u64, 1);
	must(infer_gguf_arr_u64(&a, 1, &u64, &c), c);
	assert_int_equal(u64, 0);
	must(infer_gguf_get_arr(g, "a.u64", &a, &c), c);
	must(infer_gguf_arr_u64(&a, 0, &u64, &c), c);
	assert_true(u64 == UINT64_MAX);
	must(infer_gguf_get_arr(g, "a.i64", &a, &c), c);
	must(infer_gguf_arr_i64(&a, 0, &i64, &c), c);
	assert_true(i64 == INT64_MIN);
	must(infer_gguf_arr_i64(&a, 1, &i64, &c), c);
	assert_true(i64 == INT64_MAX);
	must(infer_gguf_get_arr(g, "a.f64", &a, &c), c);
	must(infer_gguf_arr_f64(&a, 0, &d, &c), c);
	assert_true(d == 1e300);
	must(infer_gguf_get_arr(g, "a.empty", &a, &c), c);
	assert_int_equal(a.type, INFER_GGUF_U32);
	assert_int_equal(a.n, 0);
	must(infer_gguf_arr_copy_u32(&a, ubuf, 0, &c), c);

	/* Strings. */
	must(infer_gguf_get_arr(g, "a.str", &a, &c), c);
	assert_int_equal(a.type, INFER_GGUF_STR);
	assert_int_equal(a.n, 3);
	must(infer_gguf_arr_str(&a, 0, &s, &len, &c), c);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "alpha", 5);
	must(infer_gguf_arr_str(&a, 1, &s, &len, &c), c);
	assert_int_equal(len, 0);
	must(infer_gguf_arr_str(&a, 2, &s, &len, &c), c);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "\xc3\xa9t\xc3\xa9", 5);

	/* [[1, 2], [], [["x", "yz"]]] */
	must(infer_gguf_get_arr(g, "a.nested", &a, &c), c);
	assert_int_equal(a.type, INFER_GGUF_ARR);
	assert_int_equal(a.n, 3);
	must(infer_gguf_arr_arr(&a, 0, &sub, &c), c);
	assert_int_equal(sub.type, INFER_GGUF_U32);
	assert_int_equal(sub.n, 2);
	must(infer_gguf_arr_u64(&sub, 1, &u64, &c), c);
	assert_int_equal(u64, 7);
	must(infer_gguf_arr_arr(&a, 1, &sub, &c), c);
	assert_int_equal(sub.type, INFER_GGUF_I8);
	assert_int_equal(sub.n, 0);
	must(infer_gguf_arr_arr(&a, 2, &sub, &c), c);
	assert_int_equal(sub.type, INFER_GGUF_ARR);
	assert_int_equal(sub.n, 1);
	must(infer_gguf_arr_arr(&sub, 0, &sub2, &c), c);
	assert_int_equal(sub2.type, INFER_GGUF_STR);
	assert_int_equal(sub2.n, 2);
	must(infer_gguf_arr_str(&sub2, 1, &s, &len, &c), c);
	assert_int_equal(len, 2);
	assert_memory_equal(s, "yz", 2);

	must(infer_gguf_get_arr(g, "a.built", &a, &c), c);
	assert_int_equal(a.n, 5);
	must(infer_gguf_arr_f64(&a, 4, &d, &c), c);
	assert_true(d == 6.0);

	/* Tensors, in order, aligned, with their bytes. */
	assert_int_equal(infer_gguf_tensor_count(g), 4);
	base = infer_gguf_base(g);
	for (size_t i = 0; i < 4; i++) {
		t = infer_gguf_tensor_at(g, i);
		assert_int_equal(t->offset % 64, 0);
		assert_int_equal(((const uint8_t *)t->data - base) % 64, 0);
	}
	t = infer_gguf_tensor_find(g, "f32");
	assert_int_equal(t->type, INFER_TYPE_F32);
	assert_int_equal(t->n_dims, 2);
	assert_int_equal(t->ne[0], 4);
	assert_int_equal(t->ne[1], 3);
	assert_int_equal(t->size, sizeof(t_f32));
	assert_memory_equal(t->data, t_f32, sizeof(t_f32));
	t = infer_gguf_tensor_find(g, "q8");
	assert_int_equal(t->size, sizeof(t_q8));
	assert_memory_equal(t->data, t_q8, sizeof(t_q8));
	t = infer_gguf_tensor_find(g, "late");
	assert_int_equal(t->type, INFER_TYPE_BF16);
	assert_int_equal(t->n_dims, 4);
	assert_int_equal(t->ne[3], 7);
	assert_int_equal(t->n_elements, 210);
	assert_int_equal(t->size, 420);
	for (size_t i = 0; i < t->size; i++)
		assert_int_equal(
		    ((const uint8_t *)t->data)[i], (uint8_t)(2 + i));
	t = infer_gguf_tensor_find(g, "blk.0.ffn_down.weight");
	assert_int_equal(t->type, INFER_TYPE_Q4_K);
	assert_int_equal(t->size, sizeof(t_q4k));
	assert_memory_equal(t->data, t_q4k, sizeof(t_q4k));
}

static void
test_round_trip_mem(void **state)
{
	struct infer_gguf_writer *w = build_all_types();
	struct infer_gguf *g;
	void *buf;
	size_t len;

	(void)state;
	g = reopen(w, &buf, &len);
	assert_int_equal(infer_gguf_version(g), 3);
	check_all_types(g);
	infer_gguf_close(g);
	free(buf);

	/* Version 2 reads back the same. */
	must(infer_gguf_writer_set_version(w, 2, NULL), NULL);
	g = reopen(w, &buf, &len);
	assert_int_equal(infer_gguf_version(g), 2);
	check_all_types(g);
	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);
}

static void
test_round_trip_file(void **state)
{
	char dir[] = "/tmp/test-infer-gguf-rw.XXXXXX", path[PATH_MAX];
	struct infer_gguf_writer *w = build_all_types();
	struct infer_gguf *g;
	char *c = NULL;
	void *buf, *fbuf;
	size_t len;
	int fills = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/model.gguf", dir);
	must(infer_gguf_writer_write(w, path, fill_pattern, &fills, &c), c);
	assert_int_equal(fills, 1);
	g = infer_gguf_open(path, 0, &c);
	if (g == NULL)
		fail_msg("%s", c);
	check_all_types(g);
	infer_gguf_close(g);

	/* The file and the memory image are the same bytes. */
	must(infer_gguf_writer_write_mem(
	         w, &buf, &len, fill_pattern, &fills, &c),
	    c);
	fbuf = malloc(len + 1);
	assert_non_null(fbuf);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(fbuf, 1, len + 1, f), len);
	fclose(f);
	assert_memory_equal(fbuf, buf, len);
	free(fbuf);
	free(buf);

	/* A failing fill leaves the old file whole and no temporary. */
	assert_int_equal(
	    infer_gguf_writer_write(w, path, fill_fail, NULL, &c), -1);
	check_cause(&c, "no data for tensor 2");
	g = infer_gguf_open(path, 0, &c);
	assert_non_null(g);
	infer_gguf_close(g);
	assert_int_equal(infer_gguf_writer_write(w, path, NULL, NULL, &c), -1);
	check_cause(&c,
	    "gguf writer: tensors without data and no fill "
	    "callback");

	/* A folder that does not exist. */
	snprintf(path, sizeof(path), "%s/no/such/dir/m.gguf", dir);
	assert_int_equal(
	    infer_gguf_writer_write(w, path, fill_pattern, &fills, &c), -1);
	assert_non_null(c);
	assert_non_null(strstr(c, "cannot create"));
	assert_non_null(strstr(c, "No such file or directory"));
	free(c);

	infer_gguf_writer_free(w);
	snprintf(path, sizeof(path), "%s/model.gguf", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

/* A file with no tensors (a vocabulary-only file) and no metadata. */
static void
test_empty_files(void **state)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	struct infer_gguf *g;
	void *buf;
	size_t len;

	(void)state;
	g = reopen(w, &buf, &len);
	assert_int_equal(len, 24);
	assert_int_equal(infer_gguf_kv_count(g), 0);
	assert_int_equal(infer_gguf_tensor_count(g), 0);
	assert_int_equal(infer_gguf_data_offset(g), 24);
	assert_int_equal(infer_gguf_kv_find(g, "x"), -1);
	assert_null(infer_gguf_tensor_find(g, "x"));
	infer_gguf_close(g);
	free(buf);

	must(infer_gguf_writer_add_str(w, "general.name", "v", 1, NULL), NULL);
	g = reopen(w, &buf, &len);
	/* No tensors: no padding after the metadata. */
	assert_int_equal(len, 24 + 8 + 12 + 4 + 8 + 1);
	assert_int_equal(infer_gguf_data_offset(g), len);
	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);
}

/* Integer getters take any width that fits; everything else is refused
 * with a message naming the key. */
static void
test_getter_conversions(void **state)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	struct infer_gguf *g;
	struct infer_gguf_arr a;
	void *buf;
	size_t len;
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	int64_t i64;
	float f, fbuf[2];
	double d;
	bool b;
	const char *s;
	char *c = NULL;
	static const int64_t wide[] = { 1, (int64_t)1 << 40 };
	static const int32_t neg[] = { 5, -5 };
	static const double big[] = { 1.0, 1e300 };
	static const char nul_str[] = { 'a', '\0', 'b' };
	const void *raw;

	(void)state;
	must(infer_gguf_writer_add_u8(w, "u8", 7, NULL), NULL);
	must(infer_gguf_writer_add_i16(w, "i16", -7, NULL), NULL);
	must(infer_gguf_writer_add_u64(w, "u64.small", 4096, NULL), NULL);
	must(infer_gguf_writer_add_u64(w, "u64.big", (uint64_t)1 << 33, NULL),
	    NULL);
	must(infer_gguf_writer_add_i64(w, "i64.neg", -((int64_t)1 << 40), NULL),
	    NULL);
	must(infer_gguf_writer_add_u32(w, "u32.big", 3000000000u, NULL), NULL);
	must(infer_gguf_writer_add_f64(w, "f64.big", 1e300, NULL), NULL);
	must(infer_gguf_writer_add_f32(w, "f32", 2.5f, NULL), NULL);
	must(infer_gguf_writer_add_bool(w, "bool", false, NULL), NULL);
	must(infer_gguf_writer_add_i32(w, "i32.one", 1, NULL), NULL);
	must(infer_gguf_writer_add_i32(w, "i32.two", 2, NULL), NULL);
	must(infer_gguf_writer_add_str(w, "str", "s", 1, NULL), NULL);
	must(infer_gguf_writer_add_str(w, "str.nul", nul_str, 3, NULL), NULL);
	must(infer_gguf_writer_add_arr(
	         w, "arr.wide", INFER_GGUF_I64, wide, 2, NULL),
	    NULL);
	must(infer_gguf_writer_add_arr(
	         w, "arr.neg", INFER_GGUF_I32, neg, 2, NULL),
	    NULL);
	must(infer_gguf_writer_add_arr(
	         w, "arr.big", INFER_GGUF_F64, big, 2, NULL),
	    NULL);
	must(infer_gguf_writer_add_arr_str(
	         w, "arr.str", (const char *const[]){ "a" }, NULL, 1, NULL),
	    NULL);
	g = reopen(w, &buf, &len);

	/* Widths that fit are accepted. */
	must(infer_gguf_get_u32(g, "u8", &u32, &c), c);
	assert_int_equal(u32, 7);
	must(infer_gguf_get_i32(g, "i16", &i32, &c), c);
	assert_int_equal(i32, -7);
	must(infer_gguf_get_u32(g, "u64.small", &u32, &c), c);
	assert_int_equal(u32, 4096);
	must(infer_gguf_get_i32(g, "u64.small", &i32, &c), c);
	assert_int_equal(i32, 4096);
	must(infer_gguf_get_i64(g, "u64.big", &i64, &c), c);
	assert_true(i64 == (int64_t)1 << 33);
	must(infer_gguf_get_u64(g, "u32.big", &u64, &c), c);
	assert_int_equal(u64, 3000000000u);
	must(infer_gguf_get_f32(g, "u8", &f, &c), c);
	assert_true(f == 7.0f);
	must(infer_gguf_get_f64(g, "f32", &d, &c), c);
	assert_true(d == 2.5);
	must(infer_gguf_get_bool(g, "i32.one", &b, &c), c);
	assert_true(b);
	must(infer_gguf_get_bool(g, "bool", &b, &c), c);
	assert_false(b);

	/* Out of range, wrong type, missing. */
	assert_int_equal(infer_gguf_get_u32(g, "u64.big", &u32, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'u64.big': value 8589934592 out of range "
	    "for u32");
	assert_int_equal(infer_gguf_get_u32(g, "i16", &u32, &c), -1);
	check_cause(&c, "rt.gguf: key 'i16': value -7 out of range for u32");
	assert_int_equal(infer_gguf_get_u64(g, "i64.neg", &u64, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'i64.neg': value -1099511627776 out of "
	    "range for u64");
	assert_int_equal(infer_gguf_get_i32(g, "u32.big", &i32, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'u32.big': value 3000000000 out of range "
	    "for i32");
	assert_int_equal(infer_gguf_get_i32(g, "i64.neg", &i32, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'i64.neg': value -1099511627776 out of "
	    "range for i32");
	assert_int_equal(infer_gguf_get_f32(g, "f64.big", &f, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'f64.big': value 1e+300 out of range for "
	    "f32");
	assert_int_equal(infer_gguf_get_u32(g, "f32", &u32, &c), -1);
	check_cause(&c, "rt.gguf: key 'f32' is f32, expected an integer");
	assert_int_equal(infer_gguf_get_u32(g, "bool", &u32, &c), -1);
	check_cause(&c, "rt.gguf: key 'bool' is bool, expected an integer");
	assert_int_equal(infer_gguf_get_u32(g, "str", &u32, &c), -1);
	check_cause(&c, "rt.gguf: key 'str' is string, expected an integer");
	assert_int_equal(infer_gguf_get_f32(g, "arr.big", &f, &c), -1);
	check_cause(&c, "rt.gguf: key 'arr.big' is array, expected a number");
	assert_int_equal(infer_gguf_get_bool(g, "i32.two", &b, &c), -1);
	check_cause(&c, "rt.gguf: key 'i32.two': value 2 is not a bool");
	assert_int_equal(infer_gguf_get_bool(g, "f32", &b, &c), -1);
	check_cause(&c, "rt.gguf: key 'f32' is f32, expected a bool");
	assert_int_equal(infer_gguf_get_str(g, "u8", &s, &len, &c), -1);
	check_cause(&c, "rt.gguf: key 'u8' is u8, expected a string");
	assert_null(infer_gguf_get_strdup(g, "str.nul", &c));
	check_cause(&c, "rt.gguf: key 'str.nul': string contains a NUL byte");
	assert_int_equal(infer_gguf_get_arr(g, "str", &a, &c), -1);
	check_cause(&c, "rt.gguf: key 'str' is string, expected an array");
	assert_int_equal(
	    infer_gguf_get_u32(g, "llama.block_count", &u32, &c), -1);
	check_cause(&c, "rt.gguf: missing key 'llama.block_count'");
	assert_null(infer_gguf_get_strdup(g, "nope", &c));
	check_cause(&c, "rt.gguf: missing key 'nope'");
	/* A NULL cause is allowed everywhere. */
	assert_int_equal(infer_gguf_get_u32(g, "nope", &u32, NULL), -1);

	/* Array elements. */
	must(infer_gguf_get_arr(g, "arr.wide", &a, &c), c);
	assert_int_equal(infer_gguf_arr_i64(&a, 2, &i64, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.wide': element 2 out of range "
	    "(array of 2)");
	assert_int_equal(
	    infer_gguf_arr_copy_i32(&a, (int32_t *)fbuf, 2, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.wide': element 1 = 1099511627776 "
	    "out of range for i32");
	assert_int_equal(
	    infer_gguf_arr_copy_u32(&a, (uint32_t *)fbuf, 3, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.wide': array has 2 elements, "
	    "expected 3");
	must(infer_gguf_arr_copy_f32(&a, fbuf, 2, &c), c);
	assert_true(fbuf[1] == 1099511627776.0f);
	must(infer_gguf_get_arr(g, "arr.neg", &a, &c), c);
	assert_int_equal(infer_gguf_arr_u64(&a, 1, &u64, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.neg': element 1 = -5 out of range "
	    "for u64");
	assert_int_equal(
	    infer_gguf_arr_copy_u32(&a, (uint32_t *)fbuf, 2, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.neg': element 1 = -5 out of range "
	    "for u64");
	assert_int_equal(infer_gguf_arr_str(&a, 0, &s, &len, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.neg': element 0 is i32, expected a "
	    "string");
	assert_int_equal(infer_gguf_arr_arr(&a, 0, &a, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.neg': element 0 is i32, expected an "
	    "array");
	must(infer_gguf_get_arr(g, "arr.big", &a, &c), c);
	assert_int_equal(infer_gguf_arr_i64(&a, 0, &i64, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.big': element 0 is f64, expected an "
	    "integer");
	assert_int_equal(infer_gguf_arr_copy_f32(&a, fbuf, 2, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.big': element 1 = 1e+300 out of "
	    "range for f32");
	must(infer_gguf_get_arr(g, "arr.str", &a, &c), c);
	assert_int_equal(infer_gguf_arr_f64(&a, 0, &d, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.str': element 0 is string, "
	    "expected a number");
	assert_int_equal(infer_gguf_arr_raw(&a, &raw, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.str': array of string has no "
	    "fixed-size elements");
	assert_int_equal(infer_gguf_arr_str(&a, 1, &s, &len, &c), -1);
	check_cause(&c,
	    "rt.gguf: key 'arr.str': element 1 out of range "
	    "(array of 1)");

	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);
}

/* What `agentd-infer info` shows for each kind of value. */
static void
test_kv_to_string(void **state)
{
	struct infer_gguf_writer *w = build_all_types();
	struct infer_gguf *g;
	void *buf;
	size_t len;
	char *s;
	static const struct {
		const char *key;
		size_t max;
		const char *want;
	} cases[] = {
		{ "t.u8", 4, "200" },
		{ "t.i64", 4, "-9223372036854775808" },
		{ "t.f32", 4, "0.100000001" },
		{ "t.bool", 4, "true" },
		{ "t.str", 4, "\"h\xc3\xa9llo\"" },
		{ "t.nul", 4, "\"a\\x00b\"" },
		{ "a.i8", 4, "[-128, 0, 127]" },
		{ "a.i8", 2, "[-128, 0, ... (3 total)]" },
		{ "a.i8", 0, "[... (3 total)]" },
		{ "a.bool", 4, "[true, false, true]" },
		{ "a.str", 4, "[\"alpha\", \"\", \"\xc3\xa9t\xc3\xa9\"]" },
		{ "a.nested", 4, "[[0, 7], [], [[\"x\", \"yz\"]]]" },
		{ "a.empty", 4, "[]" },
	};

	(void)state;
	g = reopen(w, &buf, &len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t k = infer_gguf_kv_find(g, cases[i].key);

		assert_true(k >= 0);
		s = infer_gguf_kv_to_string(g, (size_t)k, cases[i].max);
		assert_non_null(s);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
	assert_null(infer_gguf_kv_to_string(g, 1000, 4));
	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);
}

static void
test_writer_refusals(void **state)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	void *buf;
	size_t len;
	char *c = NULL;
	char long_key[INFER_GGUF_MAX_KEY + 2];
	static const uint64_t ne[] = { 32, 2 };

	(void)state;
	must(infer_gguf_writer_add_u32(w, "k", 1, NULL), NULL);
	assert_int_equal(infer_gguf_writer_add_str(w, "k", "x", 1, &c), -1);
	check_cause(&c, "gguf writer: duplicate key 'k'");
	assert_int_equal(infer_gguf_writer_add_u8(w, "", 1, &c), -1);
	check_cause(&c, "gguf writer: key length 0 not in 1..65535");
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_int_equal(infer_gguf_writer_add_u8(w, long_key, 1, &c), -1);
	check_cause(&c, "gguf writer: key length 65536 not in 1..65535");
	assert_int_equal(infer_gguf_writer_add_u8(w, NULL, 1, &c), -1);
	check_cause(&c, "gguf writer: NULL key with no array open");
	assert_int_equal(infer_gguf_writer_arr_end(w, &c), -1);
	check_cause(&c, "gguf writer: no array open");
	assert_int_equal(
	    infer_gguf_writer_add_arr(w, "a", INFER_GGUF_STR, NULL, 0, &c), -1);
	check_cause(&c,
	    "gguf writer: add_arr takes fixed-size elements, not "
	    "string");
	assert_int_equal(infer_gguf_writer_arr_begin(w, "bad", 13, &c), -1);
	check_cause(&c, "gguf writer: unknown element type 13");
	assert_int_equal(infer_gguf_writer_set_alignment(w, 48, &c), -1);
	check_cause(&c, "gguf writer: alignment 48 is not a power of two");
	assert_int_equal(
	    infer_gguf_writer_add_u64(w, "general.alignment", 64, &c), -1);
	check_cause(&c,
	    "gguf writer: general.alignment must be a u32, not "
	    "u64");
	assert_int_equal(
	    infer_gguf_writer_add_u32(w, "general.alignment", 12, &c), -1);
	check_cause(&c, "gguf writer: alignment 12 is not a power of two");
	assert_int_equal(infer_gguf_writer_set_version(w, 1, &c), -1);
	check_cause(&c, "gguf writer: version 1 not in 2..3");

	/* A failed array leaves nothing behind: its key is free again. */
	assert_int_equal(infer_gguf_writer_add_arr_str(w, "strs",
	                     (const char *const[]){ "a", NULL },
	                     (const size_t[]){ 1, 3 }, 2, &c),
	    -1);
	check_cause(&c, "gguf writer: NULL string of length 3");
	must(infer_gguf_writer_add_arr_str(
	         w, "strs", (const char *const[]){ "a", "b" }, NULL, 2, &c),
	    c);

	/* Inside an array: wrong element types, keys, depth, the write. */
	must(infer_gguf_writer_arr_begin(w, "arr", INFER_GGUF_U16, &c), c);
	assert_int_equal(infer_gguf_writer_add_u32(w, NULL, 1, &c), -1);
	check_cause(&c,
	    "gguf writer: element of type u32 added to an array of "
	    "u16");
	assert_int_equal(infer_gguf_writer_add_u16(w, "other", 1, &c), -1);
	check_cause(&c,
	    "gguf writer: key 'other' added while an array is open "
	    "(pass NULL to append an element)");
	assert_int_equal(
	    infer_gguf_writer_write_mem(w, &buf, &len, NULL, NULL, &c), -1);
	check_cause(&c, "gguf writer: an array is still open");
	must(infer_gguf_writer_add_u16(w, NULL, 9, &c), c);
	must(infer_gguf_writer_arr_end(w, &c), c);
	must(infer_gguf_writer_arr_begin(w, "deep", INFER_GGUF_ARR, &c), c);
	for (int d = 1; d < INFER_GGUF_MAX_DEPTH; d++)
		must(infer_gguf_writer_arr_begin(w, NULL, INFER_GGUF_ARR, &c),
		    c);
	assert_int_equal(
	    infer_gguf_writer_arr_begin(w, NULL, INFER_GGUF_ARR, &c), -1);
	check_cause(&c, "gguf writer: arrays nested deeper than 8");
	for (int d = 0; d < INFER_GGUF_MAX_DEPTH; d++)
		must(infer_gguf_writer_arr_end(w, &c), c);

	/* Tensors. */
	assert_int_equal(infer_gguf_writer_add_tensor(
	                     w, "", INFER_TYPE_F32, 1, ne, NULL, &c),
	    -1);
	check_cause(&c, "gguf writer: tensor name length 0 not in 1..255");
	assert_int_equal(
	    infer_gguf_writer_add_tensor(w, "t", 4, 1, ne, NULL, &c), -1);
	check_cause(&c, "gguf writer: tensor 't': unknown type 4");
	assert_int_equal(infer_gguf_writer_add_tensor(
	                     w, "t", INFER_TYPE_F32, 5, ne, NULL, &c),
	    -1);
	check_cause(&c, "gguf writer: tensor 't': n_dims 5 not in 1..4");
	assert_int_equal(infer_gguf_writer_add_tensor(w, "t", INFER_TYPE_F32, 2,
	                     (const uint64_t[]){ 4, 0 }, NULL, &c),
	    -1);
	check_cause(&c, "gguf writer: tensor 't': bad dimension ne[1] = 0");
	assert_int_equal(infer_gguf_writer_add_tensor(
	                     w, "t", INFER_TYPE_Q6_K, 2, ne, NULL, &c),
	    -1);
	check_cause(&c,
	    "gguf writer: tensor 't': ne[0] = 32 is not a multiple "
	    "of the block size 256 of q6_K");
	must(infer_gguf_writer_add_tensor(
	         w, "t", INFER_TYPE_Q8_0, 2, ne, NULL, &c),
	    c);
	assert_int_equal(infer_gguf_writer_add_tensor(
	                     w, "t", INFER_TYPE_F32, 1, ne, NULL, &c),
	    -1);
	check_cause(&c, "gguf writer: duplicate tensor name 't'");

	/* What was accepted still writes a valid file. */
	{
		int fills = 0;
		struct infer_gguf *g;

		must(infer_gguf_writer_write_mem(
		         w, &buf, &len, fill_pattern, &fills, &c),
		    c);
		assert_int_equal(fills, 1);
		g = infer_gguf_open_mem(buf, len, "w.gguf", &c);
		if (g == NULL)
			fail_msg("%s", c);
		assert_int_equal(infer_gguf_kv_count(g), 4);
		assert_int_equal(infer_gguf_tensor_count(g), 1);
		infer_gguf_close(g);
		free(buf);
	}
	infer_gguf_writer_free(w);
	infer_gguf_writer_free(NULL);
}

/* Alignment set before and after keys, patched in place. */
static void
test_writer_alignment(void **state)
{
	struct infer_gguf_writer *w = infer_gguf_writer_new();
	struct infer_gguf *g;
	void *buf;
	size_t len;
	uint32_t a;
	static const float data[8];

	(void)state;
	must(infer_gguf_writer_add_str(
	         w, "general.architecture", "llama", 5, NULL),
	    NULL);
	must(infer_gguf_writer_set_alignment(w, 32, NULL), NULL);
	must(infer_gguf_writer_add_tensor(w, "x", INFER_TYPE_F32, 1,
	         (const uint64_t[]){ 8 }, data, NULL),
	    NULL);
	g = reopen(w, &buf, &len);
	/* The default needs no key. */
	assert_int_equal(infer_gguf_kv_find(g, "general.alignment"), -1);
	assert_int_equal(infer_gguf_data_offset(g) % 32, 0);
	infer_gguf_close(g);
	free(buf);

	must(infer_gguf_writer_set_alignment(w, 256, NULL), NULL);
	must(infer_gguf_writer_set_alignment(w, 4096, NULL), NULL);
	g = reopen(w, &buf, &len);
	must(infer_gguf_get_u32(g, "general.alignment", &a, NULL), NULL);
	assert_int_equal(a, 4096);
	assert_int_equal(infer_gguf_alignment(g), 4096);
	assert_int_equal(infer_gguf_data_offset(g), 4096);
	assert_int_equal(len, 8192);
	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);

	/* Copying a file's keys carries its alignment over. */
	w = infer_gguf_writer_new();
	must(
	    infer_gguf_writer_add_u32(w, "general.alignment", 128, NULL), NULL);
	must(infer_gguf_writer_add_tensor(w, "x", INFER_TYPE_F32, 1,
	         (const uint64_t[]){ 8 }, data, NULL),
	    NULL);
	g = reopen(w, &buf, &len);
	assert_int_equal(infer_gguf_alignment(g), 128);
	assert_int_equal(infer_gguf_data_offset(g), 128);
	infer_gguf_close(g);
	free(buf);
	infer_gguf_writer_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_mem),
		cmocka_unit_test(test_round_trip_file),
		cmocka_unit_test(test_empty_files),
		cmocka_unit_test(test_getter_conversions),
		cmocka_unit_test(test_kv_to_string),
		cmocka_unit_test(test_writer_refusals),
		cmocka_unit_test(test_writer_alignment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
