/*
 * test-infer-gguf.c: the GGUF reader against malformed files, and the
 * writer against the reader.
 *
 * Every malformed file is built here, byte by byte, from a valid one (no
 * binary fixtures): truncated in each section, with bad magic, versions,
 * counts, lengths, types, dimensions, alignments, offsets and names.
 * Each must be refused with its exact message; under SAN=1 the sanitizers
 * also prove that no refusal leaks or reads outside the buffer.  The
 * writer's files must read back with every value and tensor intact.
 */
#include <sys/stat.h>

#include <limits.h>
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

#define NAME "t.gguf"

/* A byte builder for hand-made files. */
struct bb {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* Positions inside the valid file built by build_valid(). */
struct layout {
	size_t kv0;       /* first pair: its key length */
	size_t kv0_type;  /* its value type */
	size_t kv1;       /* second pair */
	size_t ti0;       /* first tensor info: name length */
	size_t ti0_ndims; /* its n_dims */
	size_t ti0_ne0;   /* its ne[0] */
	size_t ti0_type;  /* its type */
	size_t ti0_off;   /* its offset */
	size_t ti1;       /* second tensor info */
	size_t ti1_off;   /* its offset */
	size_t data;      /* data section */
};

static void bb_put(struct bb *, const void *, size_t);
static void bb_u32(struct bb *, uint32_t);
static void bb_u64(struct bb *, uint64_t);
static void bb_str(struct bb *, const char *);
static void bb_zero(struct bb *, size_t);
static void bb_set_u32(struct bb *, size_t, uint32_t);
static void bb_set_u64(struct bb *, size_t, uint64_t);
static void bb_header(struct bb *, uint32_t, uint64_t, uint64_t);
static void bb_tensor(
    struct bb *, const char *, uint32_t, const uint64_t *, uint32_t, uint64_t);
static void build_valid(struct bb *, struct layout *);
static void expect_fail(const struct bb *, size_t, const char *);
static void expect_kv_fail(
    const char *, uint32_t, const void *, size_t, const char *);
static void expect_tensor_fail(
    const char *, uint32_t, const uint64_t *, uint32_t, uint64_t, const char *);
static struct infer_gguf *open_ok(const void *, size_t);
static void expect_cause(char *, const char *);

static void
bb_put(struct bb *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
bb_u32(struct bb *b, uint32_t v)
{
	bb_put(b, &v, 4);
}

static void
bb_u64(struct bb *b, uint64_t v)
{
	bb_put(b, &v, 8);
}

static void
bb_str(struct bb *b, const char *s)
{
	bb_u64(b, strlen(s));
	bb_put(b, s, strlen(s));
}

static void
bb_zero(struct bb *b, size_t n)
{
	uint8_t z = 0;

	for (size_t i = 0; i < n; i++)
		bb_put(b, &z, 1);
}

static void
bb_set_u32(struct bb *b, size_t at, uint32_t v)
{
	assert_true(at + 4 <= b->len);
	memcpy(b->p + at, &v, 4);
}

static void
bb_set_u64(struct bb *b, size_t at, uint64_t v)
{
	assert_true(at + 8 <= b->len);
	memcpy(b->p + at, &v, 8);
}

static void
bb_header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	bb_put(b, "GGUF", 4);
	bb_u32(b, version);
	bb_u64(b, n_tensors);
	bb_u64(b, n_kv);
}

static void
bb_tensor(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne,
    uint32_t type, uint64_t offset)
{
	bb_str(b, name);
	bb_u32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		bb_u64(b, ne[i]);
	bb_u32(b, type);
	bb_u64(b, offset);
}

/*
 * A valid v3 file: two pairs ("general.architecture" = "llama",
 * "llama.block_count" = u32 2) and two tensors ("a": f32 [8] at 0, "b":
 * q8_0 [32, 2] at 32), the last ending exactly at the end of the file.
 */
static void
build_valid(struct bb *b, struct layout *l)
{
	static const uint64_t ne_a[] = { 8 }, ne_b[] = { 32, 2 };

	memset(b, 0, sizeof(*b));
	bb_header(b, 3, 2, 2);
	l->kv0 = b->len;
	bb_str(b, "general.architecture");
	l->kv0_type = b->len;
	bb_u32(b, INFER_GGUF_STR);
	bb_str(b, "llama");
	l->kv1 = b->len;
	bb_str(b, "llama.block_count");
	bb_u32(b, INFER_GGUF_U32);
	bb_u32(b, 2);
	l->ti0 = b->len;
	bb_str(b, "a");
	l->ti0_ndims = b->len;
	bb_u32(b, 1);
	l->ti0_ne0 = b->len;
	bb_u64(b, ne_a[0]);
	l->ti0_type = b->len;
	bb_u32(b, INFER_TYPE_F32);
	l->ti0_off = b->len;
	bb_u64(b, 0);
	l->ti1 = b->len;
	bb_tensor(b, "b", 2, ne_b, INFER_TYPE_Q8_0, 32);
	l->ti1_off = b->len - 8;
	bb_zero(b, (32 - b->len % 32) % 32);
	l->data = b->len;
	for (int i = 0; i < 8; i++) {
		float f = (float)i;

		bb_put(b, &f, 4);
	}
	bb_zero(b, 32 - 8 * 4);
	for (int i = 0; i < 2 * 34; i++) {
		uint8_t v = (uint8_t)i;

		bb_put(b, &v, 1);
	}
}

/* Checks a message exactly, then frees it. */
static void
expect_cause(char *cause, const char *want)
{
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("cause '%s' wanted '%s'", cause, want);
	free(cause);
}

/* Opens the first `len` bytes of `b`, which must fail with `want`. */
static void
expect_fail(const struct bb *b, size_t len, const char *want)
{
	char *cause = NULL;
	struct infer_gguf *g;
	uint8_t *copy;

	/* A copy of exactly `len` bytes, so ASan sees any read past it. */
	copy = malloc(len == 0 ? 1 : len);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, b->p, len);
	g = infer_gguf_open_mem(copy, len, NAME, &cause);
	if (g != NULL)
		fail_msg("opened, wanted '%s'", want);
	expect_cause(cause, want);
	free(copy);
}

static struct infer_gguf *
open_ok(const void *p, size_t len)
{
	char *cause = NULL;
	struct infer_gguf *g = infer_gguf_open_mem(p, len, NAME, &cause);

	if (g == NULL)
		fail_msg("open failed: %s", cause);
	assert_null(cause);
	return g;
}

/* A file with one pair whose value (type and payload) is given. */
static void
expect_kv_fail(const char *key, uint32_t type, const void *payload, size_t len,
    const char *want)
{
	struct bb b;

	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 1);
	bb_str(&b, key);
	bb_u32(&b, type);
	bb_put(&b, payload, len);
	expect_fail(&b, b.len, want);
	free(b.p);
}

/* A file with one tensor info (and 64 bytes of data after it). */
static void
expect_tensor_fail(const char *name, uint32_t n_dims, const uint64_t *ne,
    uint32_t type, uint64_t offset, const char *want)
{
	struct bb b;

	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 1, 0);
	bb_tensor(&b, name, n_dims, ne, type, offset);
	bb_zero(&b, (32 - b.len % 32) % 32 + 64);
	expect_fail(&b, b.len, want);
	free(b.p);
}

/* ---- the valid file itself -------------------------------------------- */

static void
test_valid(void **state)
{
	struct bb b;
	struct layout l;
	struct infer_gguf *g;
	const struct infer_gguf_tensor *t;
	const char *s;
	size_t len;
	uint32_t u;

	(void)state;
	build_valid(&b, &l);
	g = open_ok(b.p, b.len);
	assert_int_equal(infer_gguf_version(g), 3);
	assert_int_equal(infer_gguf_alignment(g), 32);
	assert_int_equal(infer_gguf_data_offset(g), l.data);
	assert_int_equal(infer_gguf_file_size(g), b.len);
	assert_ptr_equal(infer_gguf_base(g), b.p);
	assert_string_equal(infer_gguf_name(g), NAME);
	assert_int_equal(infer_gguf_kv_count(g), 2);
	assert_string_equal(infer_gguf_kv_key(g, 1), "llama.block_count");
	assert_null(infer_gguf_kv_key(g, 2));
	assert_int_equal(infer_gguf_kv_type(g, 0), INFER_GGUF_STR);
	assert_int_equal(
	    infer_gguf_get_str(g, "general.architecture", &s, &len, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "llama", 5);
	assert_int_equal(
	    infer_gguf_get_u32(g, "llama.block_count", &u, NULL), 0);
	assert_int_equal(u, 2);

	assert_int_equal(infer_gguf_tensor_count(g), 2);
	t = infer_gguf_tensor_find(g, "b");
	assert_non_null(t);
	assert_int_equal(infer_gguf_tensor_index(g, "b"), 1);
	assert_int_equal(infer_gguf_tensor_index(g, "c"), -1);
	assert_null(infer_gguf_tensor_find(g, "c"));
	assert_null(infer_gguf_tensor_at(g, 2));
	assert_int_equal(t->type, INFER_TYPE_Q8_0);
	assert_int_equal(t->n_dims, 2);
	assert_int_equal(t->ne[0], 32);
	assert_int_equal(t->ne[1], 2);
	assert_int_equal(t->ne[2], 1);
	assert_int_equal(t->ne[3], 1);
	assert_int_equal(t->n_elements, 64);
	assert_int_equal(t->size, 68);
	assert_int_equal(t->offset, 32);
	assert_ptr_equal(t->data, b.p + l.data + 32);
	assert_int_equal(((const uint8_t *)t->data)[67], 67);
	t = infer_gguf_tensor_at(g, 0);
	assert_string_equal(t->name, "a");
	assert_int_equal(t->size, 32);
	assert_ptr_equal(t->data, b.p + l.data);
	infer_gguf_close(g);
	infer_gguf_close(NULL);
	free(b.p);
}

/* ---- truncation --------------------------------------------------------- */

/* Every proper prefix of a valid file is refused, never read past. */
static void
test_every_prefix_fails(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	for (size_t len = 0; len < b.len; len++) {
		char *cause = NULL;
		uint8_t *copy = malloc(len == 0 ? 1 : len);
		struct infer_gguf *g;

		assert_non_null(copy);
		memcpy(copy, b.p, len);
		g = infer_gguf_open_mem(copy, len, NAME, &cause);
		if (g != NULL)
			fail_msg("prefix of %zu bytes opened", len);
		assert_non_null(cause);
		assert_non_null(strstr(cause, NAME ": "));
		free(cause);
		free(copy);
	}
	free(b.p);
}

/* Truncation in each section names the field and its offset. */
static void
test_truncated_sections(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	expect_fail(&b, 0,
	    NAME ": header: magic at offset 0 truncated (needs 4 bytes, file "
	         "size 0)");
	expect_fail(&b, 3,
	    NAME ": header: magic at offset 0 truncated (needs 4 bytes, file "
	         "size 3)");
	expect_fail(&b, 6,
	    NAME ": header: version at offset 4 truncated (needs 4 bytes, file "
	         "size 6)");
	expect_fail(&b, 12,
	    NAME ": header: tensor_count at offset 8 truncated (needs 8 bytes, "
	         "file size 12)");
	expect_fail(&b, 23,
	    NAME ": header: kv_count at offset 16 truncated (needs 8 bytes, "
	         "file size 23)");
	/* With both counts promised, a bare header cannot hold them. */
	expect_fail(&b, 24,
	    NAME ": header: tensor_count 2 at offset 8 is more than a file of "
	         "24 bytes can hold (at most 0)");
	expect_fail(&b, 30,
	    NAME ": header: tensor_count 2 at offset 8 is more than a file of "
	         "30 bytes can hold (at most 0)");
	expect_fail(&b, l.ti0 - 2,
	    NAME ": header: tensor_count 2 and kv_count 2 together are more "
	         "than a file of 100 bytes can hold");
	expect_fail(&b, 150,
	    NAME ": header: tensor_count 2 at offset 8 is more than the 48 "
	         "bytes after the metadata can hold");
	free(b.p);

	/* With only the first pair promised, each of its fields in turn. */
	build_valid(&b, &l);
	bb_set_u64(&b, 8, 0);
	bb_set_u64(&b, 16, 1);
	expect_fail(&b, 37,
	    NAME ": header: kv_count 1 at offset 16 is more than a file of 37 "
	         "bytes can hold (at most 0)");
	expect_fail(&b, 40,
	    NAME ": kv 0: key length 20 at offset 24 runs past end of file "
	         "(size 40)");
	expect_fail(&b, l.kv0_type + 2,
	    NAME ": kv 0 'general.architecture': value type at offset 52 "
	         "truncated (needs 4 bytes, file size 54)");
	expect_fail(&b, l.kv0_type + 4 + 3,
	    NAME ": kv 0 'general.architecture': string length at offset 56 "
	         "truncated (needs 8 bytes, file size 59)");
	expect_fail(&b, l.kv0_type + 4 + 8 + 2,
	    NAME ": kv 0 'general.architecture': string length 5 at offset 56 "
	         "runs past end of file (size 66)");
	free(b.p);
}

/* Truncated tensor infos: each field named.  The data is cut off too, so
 * the count check runs first unless enough bytes remain. */
static void
test_truncated_tensor_info(void **state)
{
	struct bb b;
	struct layout l;
	static const uint64_t ne[] = { 32 };

	(void)state;
	/* One tensor, then only some of its info. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 1, 0);
	bb_str(&b, "tensor-with-a-long-name-padding-the-file-out");
	bb_u32(&b, 2);
	expect_fail(&b, b.len,
	    NAME ": tensor 0 'tensor-with-a-long-name-padding-the-file-out': "
	         "ne[0] at offset 80 truncated (needs 8 bytes, file size 80)");
	bb_u64(&b, 32);
	bb_u64(&b, 4);
	bb_u32(&b, INFER_TYPE_F32);
	expect_fail(&b, b.len,
	    NAME
	    ": tensor 0 'tensor-with-a-long-name-padding-the-file-out': "
	    "data offset at offset 100 truncated (needs 8 bytes, file size "
	    "100)");
	expect_fail(&b, b.len - 2,
	    NAME ": tensor 0 'tensor-with-a-long-name-padding-the-file-out': "
	         "type at offset 96 truncated (needs 4 bytes, file size 98)");
	bb_u64(&b, 0);
	/* Infos complete, data missing. */
	expect_fail(&b, b.len,
	    NAME ": data section: starts at offset 128 (tensor infos end at "
	         "108, aligned to 32), past end of file (size 108)");
	bb_zero(&b, 20 + 64);
	expect_fail(&b, b.len,
	    NAME ": tensor 0 'tensor-with-a-long-name-padding-the-file-out': "
	         "data [128, 640) past end of file (size 192)");
	free(b.p);

	build_valid(&b, &l);
	(void)ne;
	expect_fail(&b, b.len - 1,
	    NAME ": tensor 1 'b': data [224, 292) past end of file (size 291)");
	free(b.p);
}

/* ---- header ----------------------------------------------------------- */

static void
test_bad_magic(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	memcpy(b.p, "GGML", 4);
	expect_fail(&b, b.len,
	    NAME ": header: bad magic 'GGML' (0x4c4d4747) at offset 0, "
	         "expected 'GGUF': not a GGUF file");
	memcpy(b.p,
	    "\x7f"
	    "ELF",
	    4);
	expect_fail(&b, b.len,
	    NAME ": header: bad magic '?ELF' (0x464c457f) at offset 0, "
	         "expected 'GGUF': not a GGUF file");
	free(b.p);
}

static void
test_bad_version(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	bb_set_u32(&b, 4, 1);
	expect_fail(&b, b.len,
	    NAME ": header: version 1 at offset 4 is not supported (GGUF v1 "
	         "is obsolete; convert the model again)");
	bb_set_u32(&b, 4, 4);
	expect_fail(&b, b.len,
	    NAME ": header: unsupported version 4 at offset 4 (supported: 2 "
	         "and 3)");
	bb_set_u32(&b, 4, 0);
	expect_fail(&b, b.len,
	    NAME ": header: unsupported version 0 at offset 4 (supported: 2 "
	         "and 3)");
	bb_set_u32(&b, 4, 0x03000000);
	expect_fail(&b, b.len,
	    NAME ": header: version 0x03000000 at offset 4 looks byte-swapped: "
	         "big-endian GGUF files are not supported");
	/* Version 2 has the same layout and is accepted. */
	bb_set_u32(&b, 4, 2);
	infer_gguf_close(open_ok(b.p, b.len));
	free(b.p);
}

static void
test_absurd_counts(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	bb_set_u64(&b, 8, UINT64_MAX);
	expect_fail(&b, b.len,
	    NAME ": header: tensor_count 18446744073709551615 at offset 8 is "
	         "more than a file of 292 bytes can hold (at most 8)");
	bb_set_u64(&b, 8, 2);
	bb_set_u64(&b, 16, (uint64_t)1 << 40);
	expect_fail(&b, b.len,
	    NAME ": header: kv_count 1099511627776 at offset 16 is more than a "
	         "file of 292 bytes can hold (at most 19)");
	bb_set_u64(&b, 8, 7);
	bb_set_u64(&b, 16, 19);
	expect_fail(&b, b.len,
	    NAME ": header: tensor_count 7 and kv_count 19 together are more "
	         "than a file of 292 bytes can hold");
	/* A count that fits the file but not what follows the metadata. */
	bb_set_u64(&b, 8, 6);
	bb_set_u64(&b, 16, 2);
	expect_fail(&b, b.len,
	    NAME ": header: tensor_count 6 at offset 8 is more than the 190 "
	         "bytes after the metadata can hold");
	free(b.p);
}

/* ---- keys and values -------------------------------------------------- */

static void
test_bad_keys(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	bb_set_u64(&b, l.kv0, (uint64_t)1 << 62);
	expect_fail(&b, b.len,
	    NAME ": kv 0: key length 4611686018427387904 at offset 24 exceeds "
	         "the limit of 65535 bytes");
	bb_set_u64(&b, l.kv0, 1000);
	expect_fail(&b, b.len,
	    NAME ": kv 0: key length 1000 at offset 24 runs past end of file "
	         "(size 292)");
	bb_set_u64(&b, l.kv0, 0);
	expect_fail(&b, b.len, NAME ": kv 0: empty key at offset 24");
	bb_set_u64(&b, l.kv0, 20);
	b.p[l.kv0 + 8 + 7] = '\0';
	expect_fail(
	    &b, b.len, NAME ": kv 0: key at offset 32 contains a NUL byte");
	free(b.p);

	/* The same key twice. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 2);
	bb_str(&b, "k");
	bb_u32(&b, INFER_GGUF_U8);
	bb_zero(&b, 1);
	bb_str(&b, "k");
	bb_u32(&b, INFER_GGUF_U8);
	bb_zero(&b, 1);
	expect_fail(&b, b.len,
	    NAME ": kv 1 'k': duplicate key at offset 38 (also kv 0)");
	free(b.p);

	/* Keys b, a, c, a, b: the first repeat in file order is named. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 5);
	for (const char *k = "bacab"; *k != '\0'; k++) {
		char key[2] = { *k, '\0' };

		bb_str(&b, key);
		bb_u32(&b, INFER_GGUF_U8);
		bb_zero(&b, 1);
	}
	expect_fail(&b, b.len,
	    NAME ": kv 3 'a': duplicate key at offset 66 (also kv 1)");
	free(b.p);

	/* A long key is cut in messages and shown without control bytes. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 1);
	bb_str(&b,
	    "a.very.long.key.name.that.goes.on.and.on.past.sixty.four."
	    "bytes.for.sure\x01");
	bb_u32(&b, 77);
	bb_zero(&b, 4);
	expect_fail(&b, b.len,
	    NAME
	    ": kv 0 'a.very.long.key.name.that.goes.on.and.on.past.sixty."
	    "four.bytes.f...': unknown value type 77 at offset 104 (valid: "
	    "0..12)");
	free(b.p);
}

static void
test_bad_values(void **state)
{
	uint8_t p[64];
	uint64_t n;
	uint32_t t;

	(void)state;
	expect_kv_fail("k", 13, "\0\0\0\0", 4,
	    NAME ": kv 0 'k': unknown value type 13 at offset 33 (valid: "
	         "0..12)");
	expect_kv_fail("k", INFER_GGUF_U32, "\1\0", 2,
	    NAME ": kv 0 'k': u32 value at offset 37 truncated (needs 4 bytes, "
	         "file size 39)");
	expect_kv_fail("k", INFER_GGUF_F64, "\1\0\0\0", 4,
	    NAME ": kv 0 'k': f64 value at offset 37 truncated (needs 8 bytes, "
	         "file size 41)");
	expect_kv_fail("k", INFER_GGUF_BOOL, "\2", 1,
	    NAME ": kv 0 'k': bool value 2 at offset 37 is not 0 or 1");

	/* A string longer than the file. */
	n = 1000;
	memcpy(p, &n, 8);
	memcpy(p + 8, "abc", 3);
	expect_kv_fail("k", INFER_GGUF_STR, p, 11,
	    NAME ": kv 0 'k': string length 1000 at offset 37 runs past end of "
	         "file (size 48)");
	n = UINT64_MAX;
	memcpy(p, &n, 8);
	expect_kv_fail("k", INFER_GGUF_STR, p, 11,
	    NAME ": kv 0 'k': string length 18446744073709551615 at offset 37 "
	         "runs past end of file (size 48)");

	/* Arrays: unknown element type, absurd counts, bad elements. */
	t = 42;
	memcpy(p, &t, 4);
	n = 0;
	memcpy(p + 4, &n, 8);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 12,
	    NAME ": kv 0 'k': unknown array element type 42 at offset 37 "
	         "(valid: 0..12)");
	t = INFER_GGUF_U32;
	memcpy(p, &t, 4);
	n = (uint64_t)1 << 62;
	memcpy(p + 4, &n, 8);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 20,
	    NAME ": kv 0 'k': array of 4611686018427387904 u32 at offset 37 "
	         "runs past end of file (size 57)");
	n = 3;
	memcpy(p + 4, &n, 8);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 20,
	    NAME
	    ": kv 0 'k': array of 3 u32 at offset 37 runs past end of file "
	    "(size 57)");
	t = INFER_GGUF_STR;
	memcpy(p, &t, 4);
	n = UINT64_MAX / 2;
	memcpy(p + 4, &n, 8);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 12,
	    NAME ": kv 0 'k': array of 9223372036854775807 string at offset 37 "
	         "runs past end of file (size 49)");
	/* Two strings promised; the second's length runs out. */
	n = 2;
	memcpy(p + 4, &n, 8);
	n = 1;
	memcpy(p + 12, &n, 8);
	p[20] = 'x';
	n = 9;
	memcpy(p + 21, &n, 8);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 29,
	    NAME
	    ": kv 0 'k': string 1 of the array: length 9 at offset 58 runs "
	    "past end of file (size 66)");
	t = INFER_GGUF_BOOL;
	memcpy(p, &t, 4);
	n = 3;
	memcpy(p + 4, &n, 8);
	memcpy(p + 12, "\1\0\7", 3);
	expect_kv_fail("k", INFER_GGUF_ARR, p, 15,
	    NAME ": kv 0 'k': bool element 2 = 7 at offset 51 is not 0 or 1");
}

/* Arrays nested one level deeper than allowed, and a wide bomb. */
static void
test_nesting_bomb(void **state)
{
	struct bb b;
	char want[256];

	(void)state;
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "bomb");
	bb_u32(&b, INFER_GGUF_ARR);
	for (int d = 0; d < INFER_GGUF_MAX_DEPTH; d++) {
		bb_u32(&b, INFER_GGUF_ARR);
		bb_u64(&b, 1);
	}
	bb_u32(&b, INFER_GGUF_U8);
	bb_u64(&b, 0);
	snprintf(want, sizeof(want),
	    NAME ": kv 0 'bomb': arrays nested deeper than %d at offset %d",
	    INFER_GGUF_MAX_DEPTH, 40 + 12 * INFER_GGUF_MAX_DEPTH);
	expect_fail(&b, b.len, want);
	free(b.p);

	/* At the limit, it loads, and each level reads back. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "deep");
	bb_u32(&b, INFER_GGUF_ARR);
	for (int d = 0; d < INFER_GGUF_MAX_DEPTH - 1; d++) {
		bb_u32(&b, INFER_GGUF_ARR);
		bb_u64(&b, 1);
	}
	bb_u32(&b, INFER_GGUF_U8);
	bb_u64(&b, 1);
	bb_zero(&b, 1);
	{
		struct infer_gguf *g = open_ok(b.p, b.len);
		struct infer_gguf_arr a, sub;
		uint64_t v = 99;

		assert_int_equal(infer_gguf_get_arr(g, "deep", &a, NULL), 0);
		for (int d = 0; d < INFER_GGUF_MAX_DEPTH - 1; d++) {
			assert_int_equal(a.type, INFER_GGUF_ARR);
			assert_int_equal(a.n, 1);
			assert_int_equal(
			    infer_gguf_arr_arr(&a, 0, &sub, NULL), 0);
			a = sub;
		}
		assert_int_equal(a.type, INFER_GGUF_U8);
		assert_int_equal(infer_gguf_arr_u64(&a, 0, &v, NULL), 0);
		assert_int_equal(v, 0);
		infer_gguf_close(g);
	}
	free(b.p);

	/* Many nested arrays promised, the file far too short for them. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "wide");
	bb_u32(&b, INFER_GGUF_ARR);
	bb_u32(&b, INFER_GGUF_ARR);
	bb_u64(&b, 1000000);
	bb_zero(&b, 120);
	expect_fail(&b, b.len,
	    NAME ": kv 0 'wide': array of 1000000 array at offset 40 runs past "
	         "end of file (size 172)");
	free(b.p);
}

static void
test_bad_alignment(void **state)
{
	struct bb b;
	uint32_t a;

	(void)state;
	a = 3;
	expect_kv_fail("general.alignment", INFER_GGUF_U32, &a, 4,
	    NAME ": kv 0 'general.alignment': alignment 3 at offset 53 is not "
	         "a power of two in 1..2^31");
	a = 0;
	expect_kv_fail("general.alignment", INFER_GGUF_U32, &a, 4,
	    NAME ": kv 0 'general.alignment': alignment 0 at offset 53 is not "
	         "a power of two in 1..2^31");
	expect_kv_fail("general.alignment", INFER_GGUF_STR, "\1\0\0\0\0\0\0\0x",
	    9,
	    NAME ": kv 0 'general.alignment': alignment at offset 53 must be a "
	         "u32, not string");
	expect_kv_fail("general.alignment", INFER_GGUF_F32, "\0\0\0\x42", 4,
	    NAME ": kv 0 'general.alignment': alignment at offset 53 must be a "
	         "u32, not f32");
	expect_kv_fail("general.alignment", INFER_GGUF_I32, "\xf0\xff\xff\xff",
	    4,
	    NAME ": kv 0 'general.alignment': alignment at offset 53 must be a "
	         "u32, not i32");

	/* A valid alignment of 64 moves the data section. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 1, 1);
	bb_str(&b, "general.alignment");
	bb_u32(&b, INFER_GGUF_U32);
	bb_u32(&b, 64);
	bb_tensor(&b, "x", 1, (const uint64_t[]){ 16 }, INFER_TYPE_F32, 0);
	bb_zero(&b, (64 - b.len % 64) % 64 + 64);
	{
		struct infer_gguf *g = open_ok(b.p, b.len);

		assert_int_equal(infer_gguf_alignment(g), 64);
		assert_int_equal(infer_gguf_data_offset(g), 128);
		infer_gguf_close(g);
	}
	free(b.p);
}

/* ---- tensor infos ----------------------------------------------------- */

static void
test_bad_tensor_names(void **state)
{
	struct bb b;
	char name[300];
	static const uint64_t ne[] = { 4 };

	(void)state;
	expect_tensor_fail("", 1, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0: empty name at offset 24");
	memset(name, 'n', 256);
	name[256] = '\0';
	expect_tensor_fail(name, 1, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0: name length 256 at offset 24 exceeds the limit "
	         "of 255 bytes");
	/* Two tensors with one name. */
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, 2, 0);
	bb_tensor(&b, "w", 1, ne, INFER_TYPE_F32, 0);
	bb_tensor(&b, "w", 1, ne, INFER_TYPE_F32, 32);
	bb_zero(&b, 128);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'w': duplicate tensor name at offset 57 (also "
	         "tensor 0)");
	/* A NUL inside a name. */
	b.p[24 + 8] = '\0';
	expect_fail(&b, b.len,
	    NAME ": tensor 0: name at offset 32 contains a NUL byte");
	free(b.p);
}

static void
test_bad_tensor_shapes(void **state)
{
	uint64_t ne[5] = { 32, 1, 1, 1, 1 };

	(void)state;
	expect_tensor_fail("t", 0, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0 't': n_dims 0 at offset 33 not in 1..4");
	expect_tensor_fail("t", 5, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0 't': n_dims 5 at offset 33 not in 1..4");
	ne[1] = 0;
	expect_tensor_fail("t", 2, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0 't': dimension ne[1] = 0 at offset 45 not in "
	         "1..INT64_MAX");
	ne[1] = (uint64_t)INT64_MAX + 1;
	expect_tensor_fail("t", 2, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0 't': dimension ne[1] = 9223372036854775808 at "
	         "offset 45 not in 1..INT64_MAX");
	/* Each dimension fits; their product does not. */
	ne[0] = (uint64_t)1 << 32;
	ne[1] = (uint64_t)1 << 20;
	ne[2] = (uint64_t)1 << 12;
	expect_tensor_fail("t", 3, ne, INFER_TYPE_F32, 0,
	    NAME ": tensor 0 't': element count overflows at ne[2] = 4096 "
	         "(offset 53)");
	/* Elements fit in int64, bytes do not fit in uint64. */
	ne[0] = (uint64_t)1 << 31;
	ne[1] = (uint64_t)1 << 31;
	ne[2] = 1;
	expect_tensor_fail("t", 3, ne, INFER_TYPE_F64, 0,
	    NAME ": tensor 0 't': size of 4611686018427387904 elements of type "
	         "f64 (shape at offset 37) overflows");
}

static void
test_bad_tensor_types(void **state)
{
	static const uint64_t ne[] = { 256, 2 }, ne_odd[] = { 33, 2 };

	(void)state;
	expect_tensor_fail("t", 2, ne, 99, 0,
	    NAME ": tensor 0 't': unknown tensor type 99 at offset 53");
	/* Ids ggml retired are as unknown as ids past the end. */
	expect_tensor_fail("t", 2, ne, 4, 0,
	    NAME ": tensor 0 't': unknown tensor type 4 at offset 53");
	expect_tensor_fail("t", 2, ne, 32, 0,
	    NAME ": tensor 0 't': unknown tensor type 32 at offset 53");
	expect_tensor_fail("t", 2, ne_odd, INFER_TYPE_Q8_0, 0,
	    NAME ": tensor 0 't': row length ne[0] = 33 at offset 37 is not a "
	         "multiple of the block size 32 of type q8_0");
	expect_tensor_fail("t", 2, (const uint64_t[]){ 128, 1 },
	    INFER_TYPE_Q4_K, 0,
	    NAME ": tensor 0 't': row length ne[0] = 128 at offset 37 is not a "
	         "multiple of the block size 256 of type q4_K");
}

static void
test_bad_tensor_offsets(void **state)
{
	struct bb b;
	struct layout l;

	(void)state;
	build_valid(&b, &l);
	bb_set_u64(&b, l.ti1_off, 16);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'b': data offset 16 at offset 168 is not a "
	         "multiple of the alignment 32");
	bb_set_u64(&b, l.ti1_off, 64);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'b': data [256, 324) past end of file (size 292)");
	bb_set_u64(&b, l.ti1_off, UINT64_MAX - 31);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'b': data offset 18446744073709551584 at offset "
	         "168 plus 68 bytes overflows");
	bb_set_u64(&b, l.ti1_off, (uint64_t)1 << 40);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'b': data [1099511627968, 1099511628036) past end "
	         "of file (size 292)");
	/* Both tensors at 0: "a" [192, 224) and "b" [192, 260) overlap. */
	bb_set_u64(&b, l.ti1_off, 0);
	expect_fail(&b, b.len,
	    NAME ": tensor 1 'b': data [192, 260) overlaps tensor 0 'a' [192, "
	         "224)");
	free(b.p);

	/* The 68 bytes of "b" at 0 run into "a" at 64 (order reversed). */
	build_valid(&b, &l);
	bb_set_u64(&b, l.ti0_off, 64);
	bb_set_u64(&b, l.ti1_off, 0);
	bb_zero(&b, 64);
	expect_fail(&b, b.len,
	    NAME ": tensor 0 'a': data [256, 288) overlaps tensor 1 'b' [192, "
	         "260)");
	free(b.p);
}

/* Many keys and tensors, in no order: every lookup finds its own. */
static void
test_many_names(void **state)
{
	enum { NK = 50000, NT = 20000 };
	struct bb b;
	struct infer_gguf *g;
	char name[32];
	static const uint64_t ne[] = { 8 };

	(void)state;
	memset(&b, 0, sizeof(b));
	bb_header(&b, 3, NT, NK);
	for (int i = 0; i < NK; i++) {
		/* A scattered order: 7919 is prime to NK. */
		snprintf(name, sizeof(name), "key.%d", (i * 7919) % NK);
		bb_str(&b, name);
		bb_u32(&b, INFER_GGUF_U32);
		bb_u32(&b, (uint32_t)((i * 7919) % NK));
	}
	for (int i = 0; i < NT; i++) {
		snprintf(name, sizeof(name), "blk.%d.w", NT - 1 - i);
		bb_tensor(&b, name, 1, ne, INFER_TYPE_F32, (uint64_t)i * 32);
	}
	bb_zero(&b, (32 - b.len % 32) % 32 + (size_t)NT * 32);
	g = open_ok(b.p, b.len);
	for (int i = 0; i < NK; i++) {
		uint32_t v;

		snprintf(name, sizeof(name), "key.%d", i);
		assert_int_equal(infer_gguf_get_u32(g, name, &v, NULL), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(infer_gguf_kv_find(g, "key.50000"), -1);
	assert_int_equal(infer_gguf_kv_find(g, ""), -1);
	for (int i = 0; i < NT; i++) {
		snprintf(name, sizeof(name), "blk.%d.w", i);
		assert_int_equal(infer_gguf_tensor_index(g, name), NT - 1 - i);
	}
	assert_null(infer_gguf_tensor_find(g, "blk.-1.w"));
	infer_gguf_close(g);
	free(b.p);
}

/* ---- random damage ---------------------------------------------------- */

/* Flips bytes of a valid file: each result opens or is refused cleanly. */
static void
test_random_damage(void **state)
{
	struct bb b;
	struct layout l;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	uint8_t *copy;
	int opened = 0, refused = 0;

	(void)state;
	build_valid(&b, &l);
	copy = malloc(b.len);
	assert_non_null(copy);
	for (int iter = 0; iter < 20000; iter++) {
		char *cause = NULL;
		struct infer_gguf *g;
		int flips;

		memcpy(copy, b.p, b.len);
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		flips = 1 + (int)(rng % 4);
		for (int f = 0; f < flips; f++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			/* Damage the header and infos, where it matters. */
			copy[(rng >> 8) % l.data] = (uint8_t)rng;
		}
		g = infer_gguf_open_mem(copy, b.len, NAME, &cause);
		if (g == NULL) {
			assert_non_null(cause);
			free(cause);
			refused++;
			continue;
		}
		assert_null(cause);
		for (size_t i = 0; i < infer_gguf_kv_count(g); i++)
			free(infer_gguf_kv_to_string(g, i, 4));
		for (size_t i = 0; i < infer_gguf_tensor_count(g); i++) {
			const struct infer_gguf_tensor *t =
			    infer_gguf_tensor_at(g, i);
			const uint8_t *d = t->data;

			assert_true(d >= copy && d + t->size <= copy + b.len);
		}
		infer_gguf_close(g);
		opened++;
	}
	assert_true(refused > 1000);
	assert_true(opened > 10);
	free(copy);
	free(b.p);
}

/* ---- opening from a path ---------------------------------------------- */

static void
test_open_path(void **state)
{
	char dir[] = "/tmp/test-infer-gguf.XXXXXX", path[PATH_MAX];
	char *cause = NULL, *want = NULL;
	struct infer_gguf *g;
	struct bb b;
	struct layout l;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.gguf", dir);
	assert_null(infer_gguf_open(path, 0, &cause));
	assert_int_not_equal(
	    asprintf(&want, "%s: cannot open: No such file or directory", path),
	    -1);
	expect_cause(cause, want);
	free(want);

	assert_null(infer_gguf_open(dir, 0, &cause));
	assert_int_not_equal(
	    asprintf(&want, "%s: not a regular file", dir), -1);
	expect_cause(cause, want);
	free(want);

	/* An empty file. */
	snprintf(path, sizeof(path), "%s/empty.gguf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_null(infer_gguf_open(path, 0, &cause));
	assert_int_not_equal(asprintf(&want,
	                         "%s: header: magic at offset 0 truncated "
	                         "(needs 4 bytes, file size 0)",
	                         path),
	    -1);
	expect_cause(cause, want);
	free(want);
	unlink(path);

	/* The valid file, mapped, with and without prefaulting. */
	build_valid(&b, &l);
	snprintf(path, sizeof(path), "%s/valid.gguf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b.p, 1, b.len, f), b.len);
	fclose(f);
	for (unsigned flags = 0; flags <= INFER_GGUF_POPULATE; flags++) {
		g = infer_gguf_open(path, flags, &cause);
		assert_non_null(g);
		assert_string_equal(infer_gguf_name(g), path);
		assert_memory_equal(infer_gguf_tensor_find(g, "b")->data,
		    b.p + l.data + 32, 68);
		infer_gguf_close(g);
	}
	/* NULL cause is allowed. */
	assert_null(infer_gguf_open_mem(b.p, 10, NULL, NULL));
	assert_null(infer_gguf_open_mem(NULL, 0, NULL, &cause));
	expect_cause(cause,
	    "<memory>: header: magic at offset 0 truncated (needs 4 bytes, "
	    "file size 0)");
	unlink(path);
	rmdir(dir);
	free(b.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_every_prefix_fails),
		cmocka_unit_test(test_truncated_sections),
		cmocka_unit_test(test_truncated_tensor_info),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_absurd_counts),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_nesting_bomb),
		cmocka_unit_test(test_bad_alignment),
		cmocka_unit_test(test_bad_tensor_names),
		cmocka_unit_test(test_bad_tensor_shapes),
		cmocka_unit_test(test_bad_tensor_types),
		cmocka_unit_test(test_bad_tensor_offsets),
		cmocka_unit_test(test_many_names),
		cmocka_unit_test(test_random_damage),
		cmocka_unit_test(test_open_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
