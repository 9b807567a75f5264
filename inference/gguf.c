/*
 * gguf.c: the GGUF reader and writer (the format is described in gguf.h).
 *
 * The reader maps the file and walks it once with a cursor that checks
 * every read against the bytes left, recording where each value, string
 * and tensor lives.  Nothing is trusted until that walk and the checks
 * after it (alignment, tensor data ranges, overlaps) have passed; after
 * that, accessors read the mapping directly.  Counts from the file are
 * bounded by the smallest encoding of what they count before anything is
 * allocated, so a small hostile file cannot make us allocate much more
 * than its own size.
 *
 * The writer serialises metadata into a growing buffer as it is added and
 * lays out tensor data only when the file is written.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inference/gguf.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c loads little-endian values directly: little-endian hosts only"
#endif

/* Bytes of the fixed header: magic, version, tensor_count, kv_count. */
#define HEADER_SIZE 24
/* Smallest key/value pair: u64 length, a 1-byte key, u32 type, a u8. */
#define MIN_KV_SIZE (8 + 1 + 4 + 1)
/* Smallest tensor info: u64 length, 1-byte name, u32 n_dims, one u64
 * dimension, u32 type, u64 offset. */
#define MIN_TI_SIZE (8 + 1 + 4 + 8 + 4 + 8)
/* Smallest encoding of an array element that is a string or an array. */
#define MIN_STR_SIZE 8
#define MIN_ARR_SIZE (4 + 8)
/* How much of a key or name a message shows. */
#define MSG_NAME_MAX 64

/*
 * Where a value lives in the file.  For a scalar, `off` is its payload;
 * for a string, `off` is its first byte and `n` its length; for an array,
 * `elem` is the element type, `n` the count and `off` the first element.
 * Arrays of strings keep the offset of each string's length prefix in
 * `offs`; arrays of arrays keep a record per element in `sub`.
 */
struct infer_gguf_val {
	uint32_t type;
	uint32_t elem;
	uint64_t n;
	uint64_t off;
	uint64_t *offs;
	struct infer_gguf_val *sub;
	const char *key; /* the key this value belongs to, for messages */
};

struct gguf_kv {
	char *key;
	uint64_t key_at; /* where its key is in the file */
	struct infer_gguf_val val;
};

struct infer_gguf {
	char *name;
	const uint8_t *base;
	uint64_t size;
	void *map; /* the mapping, or NULL for a buffer or an empty file */
	size_t map_len;

	uint32_t version;
	uint32_t alignment;
	uint64_t data_offset;

	size_t n_kv;
	struct gguf_kv *kv;
	size_t *kv_order; /* indexes sorted by key, for lookups */

	size_t n_tensors;
	struct infer_gguf_tensor *tensors;
	size_t *t_order;     /* indexes sorted by name */
	uint64_t *t_name_at; /* where each tensor's name is */
	uint64_t *t_off_at;  /* where each tensor's offset field is */
};

/* The reader's cursor: the file, the offset of the next byte and the
 * name of what is being read (for messages). */
struct cursor {
	struct infer_gguf *g;
	uint64_t off;
	char where[160];
	char **cause;
};

/* Size of each fixed-size value type, 0 for string, array and unknown. */
static const uint8_t vtype_size[INFER_GGUF_VTYPE_COUNT] = {
	[INFER_GGUF_U8] = 1,
	[INFER_GGUF_I8] = 1,
	[INFER_GGUF_U16] = 2,
	[INFER_GGUF_I16] = 2,
	[INFER_GGUF_U32] = 4,
	[INFER_GGUF_I32] = 4,
	[INFER_GGUF_F32] = 4,
	[INFER_GGUF_BOOL] = 1,
	[INFER_GGUF_STR] = 0,
	[INFER_GGUF_ARR] = 0,
	[INFER_GGUF_U64] = 8,
	[INFER_GGUF_I64] = 8,
	[INFER_GGUF_F64] = 8,
};

static const char *const vtype_names[INFER_GGUF_VTYPE_COUNT] = {
	[INFER_GGUF_U8] = "u8",
	[INFER_GGUF_I8] = "i8",
	[INFER_GGUF_U16] = "u16",
	[INFER_GGUF_I16] = "i16",
	[INFER_GGUF_U32] = "u32",
	[INFER_GGUF_I32] = "i32",
	[INFER_GGUF_F32] = "f32",
	[INFER_GGUF_BOOL] = "bool",
	[INFER_GGUF_STR] = "string",
	[INFER_GGUF_ARR] = "array",
	[INFER_GGUF_U64] = "u64",
	[INFER_GGUF_I64] = "i64",
	[INFER_GGUF_F64] = "f64",
};

/* A number loaded from the file, in the widest form of its class. */
enum num_class {
	NUM_UNSIGNED,
	NUM_SIGNED,
	NUM_FLOAT,
	NUM_BOOL,
};
struct num {
	enum num_class cls;
	uint64_t u;
	int64_t i;
	double f;
};

/* A growing byte buffer whose allocation failures are reported. */
struct sbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int failed;
};

/* The writer's name in its messages. */
#define W_NAME "gguf writer"

/* An array being built: its element type, count so far and where the
 * count goes in the metadata buffer. */
struct wlevel {
	uint32_t elem;
	uint64_t count;
	size_t count_pos;
};

struct wtensor {
	char *name;
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[INFER_GGUF_MAX_DIMS];
	uint64_t size;
	const void *data;
	uint64_t offset; /* assigned when written */
};

struct infer_gguf_writer {
	uint32_t version;
	uint32_t alignment;
	struct sbuf kv; /* serialised key/value pairs */
	uint64_t n_kv;
	char **keys;
	size_t n_keys;
	size_t cap_keys;
	size_t align_pos; /* payload of general.alignment, when present */
	int has_align;
	struct wlevel stack[INFER_GGUF_MAX_DEPTH];
	unsigned depth;
	struct wtensor *t;
	size_t n_t;
	size_t cap_t;
};

/* The writer's state before a compound add, to undo it on failure. */
struct wmark {
	size_t len;
	uint64_t n_kv;
	size_t n_keys;
	unsigned depth;
	uint64_t count; /* of the enclosing array, when one is open */
};

/* Where a written file goes: a descriptor or a buffer. */
struct sink {
	int fd;
	uint8_t *mem;
	uint64_t pos;
	const char *path;
	char **cause;
};

static void set_cause(char **cause, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cur_fail(struct cursor *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void show_name(char *out, size_t outlen, const char *s, size_t len);
static const char *name_of(const struct infer_gguf *g, int tensors, size_t i);
static int cmp_name(const void *a, const void *b, void *arg);
static int sort_names(struct cursor *c, int tensors, size_t n, size_t **order);
static int64_t find_name(const struct infer_gguf *g, int tensors,
    const size_t *order, size_t n, const char *name);
static uint64_t rd_u64_at(const struct infer_gguf *g, uint64_t off);
static uint32_t rd_u32_at(const struct infer_gguf *g, uint64_t off);
static int cur_need(struct cursor *c, uint64_t n, const char *field);
static int cur_u32(struct cursor *c, uint32_t *v, const char *field);
static int cur_u64(struct cursor *c, uint64_t *v, const char *field);
static int cur_name(
    struct cursor *c, uint64_t max, const char *what, char **out);
static int parse_val(struct cursor *c, struct infer_gguf_val *v, uint32_t type,
    unsigned depth, const char *key);
static void free_val(struct infer_gguf_val *v);
static int parse_header(struct cursor *c, uint64_t *n_tensors, uint64_t *n_kv);
static int parse_kvs(struct cursor *c, uint64_t n_kv);
static int parse_alignment(struct cursor *c);
static int parse_tensors(struct cursor *c, uint64_t n_tensors);
static int check_tensor_data(struct cursor *c);
static int cmp_tensor_off(const void *a, const void *b, void *arg);
static struct infer_gguf *gguf_new(const char *name, char **cause);
static struct infer_gguf *gguf_parse(struct infer_gguf *g, char **cause);
static const struct infer_gguf_val *find_val(
    const struct infer_gguf *g, const char *key, char **cause);
static int load_num(
    const struct infer_gguf *g, uint32_t type, uint64_t off, struct num *n);
static int num_to_u64(const struct num *n, uint64_t *out);
static int num_to_i64(const struct num *n, int64_t *out);
static double num_to_f64(const struct num *n);
static void num_show(const struct num *n, char *buf, size_t len);
static int get_num(const struct infer_gguf *g, const char *key, struct num *n,
    const char *want, int allow_bool, int allow_float, char **cause);
static int get_uint(const struct infer_gguf *g, const char *key, uint64_t max,
    const char *tname, uint64_t *out, char **cause);
static int get_sint(const struct infer_gguf *g, const char *key, int64_t min,
    int64_t max, const char *tname, int64_t *out, char **cause);
static int arr_elem_num(const struct infer_gguf_arr *a, uint64_t i,
    struct num *n, int allow_float, char **cause);
static void sbuf_put(struct sbuf *b, const void *p, size_t n);
static void render_str(struct sbuf *b, const uint8_t *s, uint64_t len);
static void render_val(const struct infer_gguf *g, struct sbuf *b,
    const struct infer_gguf_val *v, size_t max_elems);
static int w_oom(struct infer_gguf_writer *w, size_t mark, char **cause);
static void w_save(const struct infer_gguf_writer *w, struct wmark *m);
static void w_restore(struct infer_gguf_writer *w, const struct wmark *m);
static int w_check_key(
    struct infer_gguf_writer *w, const char *key, char **cause);
static int w_begin(
    struct infer_gguf_writer *w, const char *key, uint32_t type, char **cause);
static int w_scalar(struct infer_gguf_writer *w, const char *key, uint32_t type,
    const void *v, char **cause);
static int w_layout(struct infer_gguf_writer *w, uint64_t *header,
    uint64_t *data_offset, uint64_t *total, char **cause);
static int sink_put(struct sink *s, const void *p, uint64_t n);
static int sink_zero(struct sink *s, uint64_t n);
static int w_emit(struct infer_gguf_writer *w, struct sink *s,
    infer_gguf_fill_cb fill, void *arg);

/* ---- messages and small helpers ---------------------------------------- */

/* Sets `*cause` to "name: <formatted>" (NULL when out of memory). */
static void
set_cause(char **cause, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (cause == NULL)
		return;
	*cause = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	if (asprintf(cause, "%s: %s", name, msg) == -1)
		*cause = NULL;
	free(msg);
}

/* Fails the parse with "file: where: <formatted>"; returns -1. */
static int
cur_fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (c->cause == NULL)
		return -1;
	*c->cause = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return -1;
	if (asprintf(c->cause, "%s: %s: %s", c->g->name, c->where, msg) == -1)
		*c->cause = NULL;
	free(msg);
	return -1;
}

/*
 * Copies at most MSG_NAME_MAX bytes of a name from the file into `out`
 * for a message, with unprintable bytes as '?' and "..." when cut.
 */
static void
show_name(char *out, size_t outlen, const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && i < MSG_NAME_MAX && n + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (len > MSG_NAME_MAX && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* The key of pair i, or the name of tensor i. */
static const char *
name_of(const struct infer_gguf *g, int tensors, size_t i)
{
	return tensors ? g->tensors[i].name : g->kv[i].key;
}

/* The order of names for lookups: by bytes, then by index (qsort_r). */
struct name_order {
	const struct infer_gguf *g;
	int tensors;
};

static int
cmp_name(const void *a, const void *b, void *arg)
{
	const struct name_order *o = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	int r = strcmp(
	    name_of(o->g, o->tensors, ia), name_of(o->g, o->tensors, ib));

	if (r != 0)
		return r;
	return ia < ib ? -1 : ia > ib;
}

/*
 * Sorts the indexes of the n keys (or tensor names) into `*order` and
 * refuses a name used twice, naming the first repeat in file order.
 * Sorting rather than hashing keeps the worst case O(n log n) whatever
 * names a hostile file picks.
 */
static int
sort_names(struct cursor *c, int tensors, size_t n, size_t **order)
{
	struct infer_gguf *g = c->g;
	struct name_order o = { g, tensors };
	size_t dup = SIZE_MAX, orig = 0;
	char show[MSG_NAME_MAX + 4];
	const char *name;

	*order = malloc((n == 0 ? 1 : n) * sizeof(**order));
	if (*order == NULL) {
		snprintf(c->where, sizeof(c->where), "%s",
		    tensors ? "tensors" : "metadata");
		return cur_fail(c, "out of memory for %zu names", n);
	}
	for (size_t i = 0; i < n; i++)
		(*order)[i] = i;
	qsort_r(*order, n, sizeof(**order), cmp_name, &o);
	for (size_t k = 1; k < n; k++) {
		size_t prev = (*order)[k - 1], cur = (*order)[k];

		if (strcmp(name_of(g, tensors, prev),
		        name_of(g, tensors, cur)) == 0 &&
		    cur < dup) {
			dup = cur;
			orig = prev;
		}
	}
	if (dup == SIZE_MAX)
		return 0;
	name = name_of(g, tensors, dup);
	show_name(show, sizeof(show), name, strlen(name));
	if (tensors) {
		snprintf(
		    c->where, sizeof(c->where), "tensor %zu '%s'", dup, show);
		return cur_fail(c,
		    "duplicate tensor name at offset %" PRIu64
		    " (also tensor %zu)",
		    g->t_name_at[dup], orig);
	}
	snprintf(c->where, sizeof(c->where), "kv %zu '%s'", dup, show);
	return cur_fail(c, "duplicate key at offset %" PRIu64 " (also kv %zu)",
	    g->kv[dup].key_at, orig);
}

/* Binary search of `order` for `name`; its index, or -1. */
static int64_t
find_name(const struct infer_gguf *g, int tensors, const size_t *order,
    size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	if (name == NULL || order == NULL)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name_of(g, tensors, order[mid]), name);

		if (r == 0)
			return (int64_t)order[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const char *
infer_gguf_vtype_name(uint32_t vtype)
{
	if (vtype >= INFER_GGUF_VTYPE_COUNT)
		return "unknown";
	return vtype_names[vtype];
}

size_t
infer_gguf_vtype_size(uint32_t vtype)
{
	if (vtype >= INFER_GGUF_VTYPE_COUNT)
		return 0;
	return vtype_size[vtype];
}

/* Loads a u64 at a checked offset (unaligned, little-endian). */
static uint64_t
rd_u64_at(const struct infer_gguf *g, uint64_t off)
{
	uint64_t v;

	memcpy(&v, g->base + off, sizeof(v));
	return v;
}

static uint32_t
rd_u32_at(const struct infer_gguf *g, uint64_t off)
{
	uint32_t v;

	memcpy(&v, g->base + off, sizeof(v));
	return v;
}

/* ---- the cursor ---------------------------------------------------------- */

/* Fails unless `n` more bytes are in the file at the cursor. */
static int
cur_need(struct cursor *c, uint64_t n, const char *field)
{
	if (n > c->g->size - c->off) {
		return cur_fail(c,
		    "%s at offset %" PRIu64 " truncated (needs %" PRIu64
		    " bytes, file size %" PRIu64 ")",
		    field, c->off, n, c->g->size);
	}
	return 0;
}

static int
cur_u32(struct cursor *c, uint32_t *v, const char *field)
{
	if (cur_need(c, 4, field) != 0)
		return -1;
	*v = rd_u32_at(c->g, c->off);
	c->off += 4;
	return 0;
}

static int
cur_u64(struct cursor *c, uint64_t *v, const char *field)
{
	if (cur_need(c, 8, field) != 0)
		return -1;
	*v = rd_u64_at(c->g, c->off);
	c->off += 8;
	return 0;
}

/*
 * Reads a key or tensor name: a u64 length (1..max) and that many bytes,
 * none of them NUL, into a new NUL-terminated string.
 */
static int
cur_name(struct cursor *c, uint64_t max, const char *what, char **out)
{
	uint64_t len, at = c->off;
	char field[64];

	snprintf(field, sizeof(field), "%s length", what);
	if (cur_u64(c, &len, field) != 0)
		return -1;
	if (len == 0)
		return cur_fail(c, "empty %s at offset %" PRIu64, what, at);
	if (len > max) {
		return cur_fail(c,
		    "%s length %" PRIu64 " at offset %" PRIu64
		    " exceeds the limit of %" PRIu64 " bytes",
		    what, len, at, max);
	}
	if (len > c->g->size - c->off) {
		return cur_fail(c,
		    "%s length %" PRIu64 " at offset %" PRIu64
		    " runs past end of file (size %" PRIu64 ")",
		    what, len, at, c->g->size);
	}
	if (memchr(c->g->base + c->off, '\0', (size_t)len) != NULL) {
		return cur_fail(c,
		    "%s at offset %" PRIu64 " contains a NUL byte", what,
		    c->off);
	}
	*out = malloc((size_t)len + 1);
	if (*out == NULL)
		return cur_fail(c, "out of memory for %s", what);
	memcpy(*out, c->g->base + c->off, (size_t)len);
	(*out)[len] = '\0';
	c->off += len;
	return 0;
}

/* ---- values ---------------------------------------------------------------- */

/*
 * Parses a value of type `type` at the cursor into `v`.  `depth` counts
 * the arrays around it (0 for a pair's own value).
 */
static int
parse_val(struct cursor *c, struct infer_gguf_val *v, uint32_t type,
    unsigned depth, const char *key)
{
	uint64_t at = c->off, len, n, size;
	uint32_t elem;

	v->type = type;
	v->key = key;
	if (type >= INFER_GGUF_VTYPE_COUNT) {
		return cur_fail(c,
		    "unknown value type %" PRIu32 " (valid: 0..%d)", type,
		    INFER_GGUF_VTYPE_COUNT - 1);
	}
	size = vtype_size[type];
	if (size != 0) {
		char field[32];

		snprintf(field, sizeof(field), "%s value", vtype_names[type]);
		if (cur_need(c, size, field) != 0)
			return -1;
		if (type == INFER_GGUF_BOOL && c->g->base[c->off] > 1) {
			return cur_fail(c,
			    "bool value %u at offset %" PRIu64 " is not 0 or 1",
			    c->g->base[c->off], c->off);
		}
		v->off = c->off;
		v->n = 1;
		c->off += size;
		return 0;
	}
	if (type == INFER_GGUF_STR) {
		if (cur_u64(c, &len, "string length") != 0)
			return -1;
		if (len > c->g->size - c->off) {
			return cur_fail(c,
			    "string length %" PRIu64 " at offset %" PRIu64
			    " runs past end of file (size %" PRIu64 ")",
			    len, at, c->g->size);
		}
		v->off = c->off;
		v->n = len;
		c->off += len;
		return 0;
	}

	/* An array: element type, count, elements. */
	if (depth + 1 > INFER_GGUF_MAX_DEPTH) {
		return cur_fail(c,
		    "arrays nested deeper than %d at offset %" PRIu64,
		    INFER_GGUF_MAX_DEPTH, at);
	}
	if (cur_u32(c, &elem, "array element type") != 0)
		return -1;
	if (elem >= INFER_GGUF_VTYPE_COUNT) {
		return cur_fail(c,
		    "unknown array element type %" PRIu32 " at offset %" PRIu64
		    " (valid: 0..%d)",
		    elem, at, INFER_GGUF_VTYPE_COUNT - 1);
	}
	if (cur_u64(c, &n, "array length") != 0)
		return -1;
	v->elem = elem;
	v->n = n;
	v->off = c->off;
	size = vtype_size[elem];
	if (size == 0)
		size = elem == INFER_GGUF_STR ? MIN_STR_SIZE : MIN_ARR_SIZE;
	if (n > (c->g->size - c->off) / size) {
		return cur_fail(c,
		    "array of %" PRIu64 " %s at offset %" PRIu64
		    " runs past end of file (size %" PRIu64 ")",
		    n, vtype_names[elem], at, c->g->size);
	}
	if (vtype_size[elem] != 0) {
		if (elem == INFER_GGUF_BOOL) {
			for (uint64_t i = 0; i < n; i++) {
				if (c->g->base[c->off + i] > 1) {
					return cur_fail(c,
					    "bool element %" PRIu64 " = %u at "
					    "offset %" PRIu64 " is not 0 or 1",
					    i, c->g->base[c->off + i],
					    c->off + i);
				}
			}
		}
		c->off += n * size;
		return 0;
	}
	if (elem == INFER_GGUF_STR) {
		v->offs = malloc((size_t)(n == 0 ? 1 : n) * sizeof(uint64_t));
		if (v->offs == NULL)
			return cur_fail(
			    c, "out of memory for %" PRIu64 " strings", n);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t sat = c->off;

			if (cur_u64(c, &len, "string length") != 0)
				return -1;
			if (len > c->g->size - c->off) {
				return cur_fail(c,
				    "string %" PRIu64 " of the array: length "
				    "%" PRIu64 " at offset %" PRIu64
				    " runs past end of file (size %" PRIu64 ")",
				    i, len, sat, c->g->size);
			}
			v->offs[i] = sat;
			c->off += len;
		}
		return 0;
	}
	v->sub = calloc((size_t)(n == 0 ? 1 : n), sizeof(*v->sub));
	if (v->sub == NULL)
		return cur_fail(c, "out of memory for %" PRIu64 " arrays", n);
	for (uint64_t i = 0; i < n; i++) {
		if (parse_val(c, &v->sub[i], INFER_GGUF_ARR, depth + 1, key) !=
		    0) {
			/* Records after i are still zeroed: free_val copes. */
			return -1;
		}
	}
	return 0;
}

/* Frees what a value record allocated (not the record itself). */
static void
free_val(struct infer_gguf_val *v)
{
	if (v->sub != NULL) {
		for (uint64_t i = 0; i < v->n; i++)
			free_val(&v->sub[i]);
		free(v->sub);
	}
	free(v->offs);
	v->sub = NULL;
	v->offs = NULL;
}

/* ---- the file ---------------------------------------------------------- */

static int
parse_header(struct cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
	uint32_t magic;
	uint64_t room;

	snprintf(c->where, sizeof(c->where), "header");
	if (cur_u32(c, &magic, "magic") != 0)
		return -1;
	if (magic != INFER_GGUF_MAGIC) {
		char show[8];

		show_name(show, sizeof(show), (const char *)c->g->base, 4);
		return cur_fail(c,
		    "bad magic '%s' (0x%08" PRIx32 ") at offset 0, expected "
		    "'GGUF': not a GGUF file",
		    show, magic);
	}
	if (cur_u32(c, &c->g->version, "version") != 0)
		return -1;
	if (c->g->version != 0 && (c->g->version & 0xffff) == 0) {
		return cur_fail(c,
		    "version 0x%08" PRIx32 " at offset 4 looks byte-swapped: "
		    "big-endian GGUF files are not supported",
		    c->g->version);
	}
	if (c->g->version == 1) {
		return cur_fail(c,
		    "version 1 at offset 4 is not supported (GGUF v1 is "
		    "obsolete; convert the model again)");
	}
	if (c->g->version != 2 && c->g->version != 3) {
		return cur_fail(c,
		    "unsupported version %" PRIu32 " at offset 4 (supported: "
		    "2 and 3)",
		    c->g->version);
	}
	if (cur_u64(c, n_tensors, "tensor_count") != 0 ||
	    cur_u64(c, n_kv, "kv_count") != 0)
		return -1;

	/* Bound the counts by the smallest encoding of what they count. */
	room = c->g->size - c->off;
	if (*n_tensors > room / MIN_TI_SIZE) {
		return cur_fail(c,
		    "tensor_count %" PRIu64 " at offset 8 is more than a file "
		    "of %" PRIu64 " bytes can hold (at most %" PRIu64 ")",
		    *n_tensors, c->g->size, room / MIN_TI_SIZE);
	}
	if (*n_kv > room / MIN_KV_SIZE) {
		return cur_fail(c,
		    "kv_count %" PRIu64 " at offset 16 is more than a file of "
		    "%" PRIu64 " bytes can hold (at most %" PRIu64 ")",
		    *n_kv, c->g->size, room / MIN_KV_SIZE);
	}
	if (*n_tensors * MIN_TI_SIZE + *n_kv * MIN_KV_SIZE > room) {
		return cur_fail(c,
		    "tensor_count %" PRIu64 " and kv_count %" PRIu64
		    " together are more than a file of %" PRIu64
		    " bytes can hold",
		    *n_tensors, *n_kv, c->g->size);
	}
	return 0;
}

static int
parse_kvs(struct cursor *c, uint64_t n_kv)
{
	struct infer_gguf *g = c->g;

	g->kv = calloc((size_t)(n_kv == 0 ? 1 : n_kv), sizeof(*g->kv));
	if (g->kv == NULL) {
		snprintf(c->where, sizeof(c->where), "header");
		return cur_fail(c, "out of memory for %" PRIu64 " keys", n_kv);
	}
	for (uint64_t i = 0; i < n_kv; i++) {
		struct gguf_kv *kv = &g->kv[i];
		uint64_t type_at;
		uint32_t type;
		char show[MSG_NAME_MAX + 4];

		snprintf(c->where, sizeof(c->where), "kv %" PRIu64, i);
		kv->key_at = c->off;
		if (cur_name(c, INFER_GGUF_MAX_KEY, "key", &kv->key) != 0)
			return -1;
		g->n_kv++;
		show_name(show, sizeof(show), kv->key, strlen(kv->key));
		snprintf(
		    c->where, sizeof(c->where), "kv %" PRIu64 " '%s'", i, show);

		type_at = c->off;
		if (cur_u32(c, &type, "value type") != 0)
			return -1;
		if (type >= INFER_GGUF_VTYPE_COUNT) {
			return cur_fail(c,
			    "unknown value type %" PRIu32 " at offset %" PRIu64
			    " (valid: 0..%d)",
			    type, type_at, INFER_GGUF_VTYPE_COUNT - 1);
		}
		if (parse_val(c, &kv->val, type, 0, kv->key) != 0)
			return -1;
	}
	return sort_names(c, 0, g->n_kv, &g->kv_order);
}

static int
parse_alignment(struct cursor *c)
{
	struct infer_gguf *g = c->g;
	int64_t i = infer_gguf_kv_find(g, "general.alignment");
	struct num n;
	uint64_t a;

	g->alignment = INFER_GGUF_DEFAULT_ALIGNMENT;
	if (i < 0)
		return 0;
	snprintf(c->where, sizeof(c->where),
	    "kv %" PRId64 " 'general.alignment'", i);
	if (load_num(g, g->kv[i].val.type, g->kv[i].val.off, &n) != 0 ||
	    num_to_u64(&n, &a) != 0 || n.cls == NUM_BOOL) {
		return cur_fail(c,
		    "alignment at offset %" PRIu64 " must be a u32, not %s",
		    g->kv[i].val.off -
		        (g->kv[i].val.type == INFER_GGUF_STR          ? 8
		                : g->kv[i].val.type == INFER_GGUF_ARR ? 12
		                                                      : 0),
		    infer_gguf_vtype_name(g->kv[i].val.type));
	}
	if (a == 0 || (a & (a - 1)) != 0 || a > UINT32_MAX / 2 + 1) {
		return cur_fail(c,
		    "alignment %" PRIu64 " at offset %" PRIu64
		    " is not a power of two in 1..2^31",
		    a, g->kv[i].val.off);
	}
	g->alignment = (uint32_t)a;
	return 0;
}

static int
parse_tensors(struct cursor *c, uint64_t n_tensors)
{
	struct infer_gguf *g = c->g;

	if (n_tensors > (g->size - c->off) / MIN_TI_SIZE) {
		snprintf(c->where, sizeof(c->where), "header");
		return cur_fail(c,
		    "tensor_count %" PRIu64 " at offset 8 is more than the "
		    "%" PRIu64 " bytes after the metadata can hold",
		    n_tensors, g->size - c->off);
	}
	g->tensors = calloc(
	    (size_t)(n_tensors == 0 ? 1 : n_tensors), sizeof(*g->tensors));
	g->t_off_at = calloc(
	    (size_t)(n_tensors == 0 ? 1 : n_tensors), sizeof(*g->t_off_at));
	g->t_name_at = calloc(
	    (size_t)(n_tensors == 0 ? 1 : n_tensors), sizeof(*g->t_name_at));
	if (g->tensors == NULL || g->t_off_at == NULL || g->t_name_at == NULL) {
		snprintf(c->where, sizeof(c->where), "header");
		return cur_fail(
		    c, "out of memory for %" PRIu64 " tensors", n_tensors);
	}
	for (uint64_t i = 0; i < n_tensors; i++) {
		struct infer_gguf_tensor *t = &g->tensors[i];
		const struct infer_type_traits *tt;
		uint64_t at, ne_at, nel = 1;
		uint32_t n_dims, type;
		char *name = NULL, show[MSG_NAME_MAX + 4], field[16];

		snprintf(c->where, sizeof(c->where), "tensor %" PRIu64, i);
		g->t_name_at[i] = c->off;
		if (cur_name(c, INFER_GGUF_MAX_NAME, "name", &name) != 0)
			return -1;
		t->name = name;
		g->n_tensors++;
		show_name(show, sizeof(show), name, strlen(name));
		snprintf(c->where, sizeof(c->where), "tensor %" PRIu64 " '%s'",
		    i, show);

		at = c->off;
		if (cur_u32(c, &n_dims, "n_dims") != 0)
			return -1;
		if (n_dims == 0 || n_dims > INFER_GGUF_MAX_DIMS) {
			return cur_fail(c,
			    "n_dims %" PRIu32 " at offset %" PRIu64
			    " not in 1..%d",
			    n_dims, at, INFER_GGUF_MAX_DIMS);
		}
		t->n_dims = n_dims;
		ne_at = c->off;
		for (uint32_t d = 0; d < INFER_GGUF_MAX_DIMS; d++) {
			t->ne[d] = 1;
			if (d >= n_dims)
				continue;
			at = c->off;
			snprintf(field, sizeof(field), "ne[%" PRIu32 "]", d);
			if (cur_u64(c, &t->ne[d], field) != 0)
				return -1;
			if (t->ne[d] == 0 || t->ne[d] > INT64_MAX) {
				return cur_fail(c,
				    "dimension ne[%" PRIu32 "] = %" PRIu64
				    " at offset %" PRIu64
				    " not in 1..INT64_MAX",
				    d, t->ne[d], at);
			}
			if (nel > INT64_MAX / t->ne[d]) {
				return cur_fail(c,
				    "element count overflows at ne[%" PRIu32
				    "] = %" PRIu64 " (offset %" PRIu64 ")",
				    d, t->ne[d], at);
			}
			nel *= t->ne[d];
		}
		t->n_elements = nel;

		at = c->off;
		if (cur_u32(c, &type, "type") != 0)
			return -1;
		tt = infer_type_traits(type);
		if (tt == NULL) {
			return cur_fail(c,
			    "unknown tensor type %" PRIu32
			    " at offset %" PRIu64,
			    type, at);
		}
		t->type = (enum infer_type)type;
		if (t->ne[0] % tt->block_size != 0) {
			return cur_fail(c,
			    "row length ne[0] = %" PRIu64 " at offset %" PRIu64
			    " is not a multiple of the block size %" PRIu32
			    " of type %s",
			    t->ne[0], ne_at, tt->block_size, tt->name);
		}
		if (infer_type_nbytes(type, nel, &t->size) != 0) {
			return cur_fail(c,
			    "size of %" PRIu64 " elements of type %s (shape at "
			    "offset %" PRIu64 ") overflows",
			    nel, tt->name, ne_at);
		}

		g->t_off_at[i] = c->off;
		if (cur_u64(c, &t->offset, "data offset") != 0)
			return -1;
	}
	return sort_names(c, 1, g->n_tensors, &g->t_order);
}

/* Orders tensor indexes by data offset (qsort_r comparator). */
static int
cmp_tensor_off(const void *a, const void *b, void *arg)
{
	const struct infer_gguf_tensor *t = arg;
	uint64_t oa = t[*(const size_t *)a].offset;
	uint64_t ob = t[*(const size_t *)b].offset;

	return oa < ob ? -1 : oa > ob;
}

/*
 * Places the data section after the tensor infos, then checks that each
 * tensor is aligned, inside the file and overlaps no other.
 */
static int
check_tensor_data(struct cursor *c)
{
	struct infer_gguf *g = c->g;
	uint64_t a = g->alignment, pad, avail;
	size_t *order;

	g->data_offset = c->off;
	if (g->n_tensors == 0)
		return 0;
	pad = (a - c->off % a) % a;
	if (pad > g->size - c->off) {
		snprintf(c->where, sizeof(c->where), "data section");
		return cur_fail(c,
		    "starts at offset %" PRIu64 " (tensor infos end at %" PRIu64
		    ", aligned to %" PRIu64 "), past end of file (size %" PRIu64
		    ")",
		    c->off + pad, c->off, a, g->size);
	}
	g->data_offset = c->off + pad;
	avail = g->size - g->data_offset;

	for (size_t i = 0; i < g->n_tensors; i++) {
		struct infer_gguf_tensor *t = &g->tensors[i];
		char show[MSG_NAME_MAX + 4];

		show_name(show, sizeof(show), t->name, strlen(t->name));
		snprintf(
		    c->where, sizeof(c->where), "tensor %zu '%s'", i, show);
		if (t->offset % a != 0) {
			return cur_fail(c,
			    "data offset %" PRIu64 " at offset %" PRIu64
			    " is not a multiple of the alignment %" PRIu64,
			    t->offset, g->t_off_at[i], a);
		}
		if (t->offset > avail || t->size > avail - t->offset) {
			uint64_t start = g->data_offset + t->offset;
			uint64_t end = start + t->size;

			if (t->offset > UINT64_MAX - g->data_offset ||
			    t->size > UINT64_MAX - start) {
				return cur_fail(c,
				    "data offset %" PRIu64 " at offset %" PRIu64
				    " plus %" PRIu64 " bytes overflows",
				    t->offset, g->t_off_at[i], t->size);
			}
			return cur_fail(c,
			    "data [%" PRIu64 ", %" PRIu64 ") past end of "
			    "file (size %" PRIu64 ")",
			    start, end, g->size);
		}
		t->data = g->base + g->data_offset + t->offset;
	}

	order = malloc(g->n_tensors * sizeof(*order));
	if (order == NULL) {
		snprintf(c->where, sizeof(c->where), "tensors");
		return cur_fail(c, "out of memory");
	}
	for (size_t i = 0; i < g->n_tensors; i++)
		order[i] = i;
	qsort_r(
	    order, g->n_tensors, sizeof(*order), cmp_tensor_off, g->tensors);
	for (size_t k = 1; k < g->n_tensors; k++) {
		const struct infer_gguf_tensor *p = &g->tensors[order[k - 1]];
		const struct infer_gguf_tensor *t = &g->tensors[order[k]];

		if (p->offset + p->size > t->offset) {
			char show[MSG_NAME_MAX + 4], pshow[MSG_NAME_MAX + 4];

			show_name(show, sizeof(show), t->name, strlen(t->name));
			show_name(
			    pshow, sizeof(pshow), p->name, strlen(p->name));
			snprintf(c->where, sizeof(c->where), "tensor %zu '%s'",
			    order[k], show);
			cur_fail(c,
			    "data [%" PRIu64 ", %" PRIu64 ") overlaps tensor "
			    "%zu '%s' [%" PRIu64 ", %" PRIu64 ")",
			    g->data_offset + t->offset,
			    g->data_offset + t->offset + t->size, order[k - 1],
			    pshow, g->data_offset + p->offset,
			    g->data_offset + p->offset + p->size);
			free(order);
			return -1;
		}
	}
	free(order);
	return 0;
}

static struct infer_gguf *
gguf_new(const char *name, char **cause)
{
	struct infer_gguf *g;

	if (cause != NULL)
		*cause = NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->name = strdup(name)) == NULL) {
		free(g);
		set_cause(cause, name, "out of memory");
		return NULL;
	}
	return g;
}

/* Validates the file behind `g`; frees `g` on failure. */
static struct infer_gguf *
gguf_parse(struct infer_gguf *g, char **cause)
{
	struct cursor c;
	uint64_t n_tensors = 0, n_kv = 0;

	memset(&c, 0, sizeof(c));
	c.g = g;
	c.cause = cause;
	if (parse_header(&c, &n_tensors, &n_kv) != 0 ||
	    parse_kvs(&c, n_kv) != 0 || parse_alignment(&c) != 0 ||
	    parse_tensors(&c, n_tensors) != 0 || check_tensor_data(&c) != 0) {
		infer_gguf_close(g);
		return NULL;
	}
	return g;
}

struct infer_gguf *
infer_gguf_open(const char *path, unsigned flags, char **cause)
{
	static const uint8_t empty[1];
	struct infer_gguf *g;
	struct stat st;
	int fd, mflags = MAP_PRIVATE, saved;

	g = gguf_new(path, cause);
	if (g == NULL)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		set_cause(cause, path, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		set_cause(cause, path, "cannot stat: %s", strerror(saved));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		set_cause(cause, path, "not a regular file");
		goto fail;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		set_cause(cause, path, "file too large to map");
		goto fail;
	}
	g->size = (uint64_t)st.st_size;
	g->base = empty;
	if (g->size > 0) {
		if (flags & INFER_GGUF_POPULATE)
			mflags |= MAP_POPULATE;
		g->map = mmap(NULL, (size_t)g->size, PROT_READ, mflags, fd, 0);
		if (g->map == MAP_FAILED) {
			saved = errno;
			g->map = NULL;
			close(fd);
			set_cause(cause, path,
			    "cannot map %" PRIu64 " bytes: %s", g->size,
			    strerror(saved));
			goto fail;
		}
		g->map_len = (size_t)g->size;
		g->base = g->map;
	}
	close(fd);
	return gguf_parse(g, cause);

fail:
	infer_gguf_close(g);
	return NULL;
}

struct infer_gguf *
infer_gguf_open_mem(const void *buf, size_t len, const char *name, char **cause)
{
	static const uint8_t empty[1];
	struct infer_gguf *g;

	g = gguf_new(name != NULL ? name : "<memory>", cause);
	if (g == NULL)
		return NULL;
	g->base = (buf != NULL && len > 0) ? buf : empty;
	g->size = buf != NULL ? len : 0;
	return gguf_parse(g, cause);
}

void
infer_gguf_close(struct infer_gguf *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_kv; i++) {
		free_val(&g->kv[i].val);
		free(g->kv[i].key);
	}
	free(g->kv);
	free(g->kv_order);
	for (size_t i = 0; i < g->n_tensors; i++)
		free((char *)(uintptr_t)g->tensors[i].name);
	free(g->tensors);
	free(g->t_order);
	free(g->t_name_at);
	free(g->t_off_at);
	if (g->map != NULL)
		munmap(g->map, g->map_len);
	free(g->name);
	free(g);
}

const char *
infer_gguf_name(const struct infer_gguf *g)
{
	return g->name;
}

uint32_t
infer_gguf_version(const struct infer_gguf *g)
{
	return g->version;
}

uint64_t
infer_gguf_file_size(const struct infer_gguf *g)
{
	return g->size;
}

const void *
infer_gguf_base(const struct infer_gguf *g)
{
	return g->base;
}

uint32_t
infer_gguf_alignment(const struct infer_gguf *g)
{
	return g->alignment;
}

uint64_t
infer_gguf_data_offset(const struct infer_gguf *g)
{
	return g->data_offset;
}

/* ---- metadata ---------------------------------------------------------- */

size_t
infer_gguf_kv_count(const struct infer_gguf *g)
{
	return g->n_kv;
}

int64_t
infer_gguf_kv_find(const struct infer_gguf *g, const char *key)
{
	return find_name(g, 0, g->kv_order, g->n_kv, key);
}

const char *
infer_gguf_kv_key(const struct infer_gguf *g, size_t i)
{
	if (i >= g->n_kv)
		return NULL;
	return g->kv[i].key;
}

enum infer_gguf_vtype
infer_gguf_kv_type(const struct infer_gguf *g, size_t i)
{
	if (i >= g->n_kv)
		return INFER_GGUF_VTYPE_COUNT;
	return (enum infer_gguf_vtype)g->kv[i].val.type;
}

/* Finds the value of `key`, or fails with "missing key". */
static const struct infer_gguf_val *
find_val(const struct infer_gguf *g, const char *key, char **cause)
{
	int64_t i = infer_gguf_kv_find(g, key);

	if (i < 0) {
		set_cause(cause, g->name, "missing key '%s'",
		    key != NULL ? key : "(null)");
		return NULL;
	}
	return &g->kv[i].val;
}

/* Loads a number of fixed-size type `type` at `off`; -1 if not one. */
static int
load_num(const struct infer_gguf *g, uint32_t type, uint64_t off, struct num *n)
{
	const uint8_t *p = g->base + off;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	float f;
	double d;

	memset(n, 0, sizeof(*n));
	switch (type) {
	case INFER_GGUF_U8:
		n->cls = NUM_UNSIGNED;
		n->u = p[0];
		return 0;
	case INFER_GGUF_BOOL:
		n->cls = NUM_BOOL;
		n->u = p[0];
		return 0;
	case INFER_GGUF_I8:
		n->cls = NUM_SIGNED;
		n->i = (int8_t)p[0];
		return 0;
	case INFER_GGUF_U16:
		memcpy(&u16, p, 2);
		n->cls = NUM_UNSIGNED;
		n->u = u16;
		return 0;
	case INFER_GGUF_I16:
		memcpy(&u16, p, 2);
		n->cls = NUM_SIGNED;
		n->i = (int16_t)u16;
		return 0;
	case INFER_GGUF_U32:
		memcpy(&u32, p, 4);
		n->cls = NUM_UNSIGNED;
		n->u = u32;
		return 0;
	case INFER_GGUF_I32:
		memcpy(&u32, p, 4);
		n->cls = NUM_SIGNED;
		n->i = (int32_t)u32;
		return 0;
	case INFER_GGUF_U64:
		memcpy(&u64, p, 8);
		n->cls = NUM_UNSIGNED;
		n->u = u64;
		return 0;
	case INFER_GGUF_I64:
		memcpy(&u64, p, 8);
		n->cls = NUM_SIGNED;
		n->i = (int64_t)u64;
		return 0;
	case INFER_GGUF_F32:
		memcpy(&f, p, 4);
		n->cls = NUM_FLOAT;
		n->f = f;
		return 0;
	case INFER_GGUF_F64:
		memcpy(&d, p, 8);
		n->cls = NUM_FLOAT;
		n->f = d;
		return 0;
	default:
		return -1;
	}
}

/* Integer conversions; -1 when the value is a float or out of range. */
static int
num_to_u64(const struct num *n, uint64_t *out)
{
	if (n->cls == NUM_UNSIGNED || n->cls == NUM_BOOL) {
		*out = n->u;
		return 0;
	}
	if (n->cls == NUM_SIGNED && n->i >= 0) {
		*out = (uint64_t)n->i;
		return 0;
	}
	return -1;
}

static int
num_to_i64(const struct num *n, int64_t *out)
{
	if (n->cls == NUM_SIGNED) {
		*out = n->i;
		return 0;
	}
	if ((n->cls == NUM_UNSIGNED || n->cls == NUM_BOOL) &&
	    n->u <= INT64_MAX) {
		*out = (int64_t)n->u;
		return 0;
	}
	return -1;
}

static double
num_to_f64(const struct num *n)
{
	switch (n->cls) {
	case NUM_SIGNED:
		return (double)n->i;
	case NUM_FLOAT:
		return n->f;
	default:
		return (double)n->u;
	}
}

/* Prints a number for a message. */
static void
num_show(const struct num *n, char *buf, size_t len)
{
	switch (n->cls) {
	case NUM_SIGNED:
		snprintf(buf, len, "%" PRId64, n->i);
		break;
	case NUM_FLOAT:
		snprintf(buf, len, "%g", n->f);
		break;
	case NUM_BOOL:
		snprintf(buf, len, "%s", n->u != 0 ? "true" : "false");
		break;
	default:
		snprintf(buf, len, "%" PRIu64, n->u);
		break;
	}
}

/*
 * Loads the number under `key`.  Strings and arrays fail; so do bools
 * unless `allow_bool` and floats unless `allow_float`.  `want` names the
 * expected kind for the message.
 */
static int
get_num(const struct infer_gguf *g, const char *key, struct num *n,
    const char *want, int allow_bool, int allow_float, char **cause)
{
	const struct infer_gguf_val *v = find_val(g, key, cause);

	if (v == NULL)
		return -1;
	if (load_num(g, v->type, v->off, n) != 0 ||
	    (n->cls == NUM_BOOL && !allow_bool) ||
	    (n->cls == NUM_FLOAT && !allow_float)) {
		set_cause(cause, g->name, "key '%s' is %s, expected %s", key,
		    vtype_names[v->type], want);
		return -1;
	}
	return 0;
}

static int
get_uint(const struct infer_gguf *g, const char *key, uint64_t max,
    const char *tname, uint64_t *out, char **cause)
{
	struct num n;
	char show[32];

	if (get_num(g, key, &n, "an integer", 0, 0, cause) != 0)
		return -1;
	if (num_to_u64(&n, out) != 0 || *out > max) {
		num_show(&n, show, sizeof(show));
		set_cause(cause, g->name,
		    "key '%s': value %s out of range for %s", key, show, tname);
		return -1;
	}
	return 0;
}

static int
get_sint(const struct infer_gguf *g, const char *key, int64_t min, int64_t max,
    const char *tname, int64_t *out, char **cause)
{
	struct num n;
	char show[32];

	if (get_num(g, key, &n, "an integer", 0, 0, cause) != 0)
		return -1;
	if (num_to_i64(&n, out) != 0 || *out < min || *out > max) {
		num_show(&n, show, sizeof(show));
		set_cause(cause, g->name,
		    "key '%s': value %s out of range for %s", key, show, tname);
		return -1;
	}
	return 0;
}

int
infer_gguf_get_u32(
    const struct infer_gguf *g, const char *key, uint32_t *out, char **cause)
{
	uint64_t v;

	if (get_uint(g, key, UINT32_MAX, "u32", &v, cause) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
infer_gguf_get_i32(
    const struct infer_gguf *g, const char *key, int32_t *out, char **cause)
{
	int64_t v;

	if (get_sint(g, key, INT32_MIN, INT32_MAX, "i32", &v, cause) != 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int
infer_gguf_get_u64(
    const struct infer_gguf *g, const char *key, uint64_t *out, char **cause)
{
	return get_uint(g, key, UINT64_MAX, "u64", out, cause);
}

int
infer_gguf_get_i64(
    const struct infer_gguf *g, const char *key, int64_t *out, char **cause)
{
	return get_sint(g, key, INT64_MIN, INT64_MAX, "i64", out, cause);
}

int
infer_gguf_get_f64(
    const struct infer_gguf *g, const char *key, double *out, char **cause)
{
	struct num n;

	if (get_num(g, key, &n, "a number", 0, 1, cause) != 0)
		return -1;
	*out = num_to_f64(&n);
	return 0;
}

int
infer_gguf_get_f32(
    const struct infer_gguf *g, const char *key, float *out, char **cause)
{
	double d;

	if (infer_gguf_get_f64(g, key, &d, cause) != 0)
		return -1;
	if (isfinite(d) && fabs(d) > FLT_MAX) {
		set_cause(cause, g->name,
		    "key '%s': value %g out of range for f32", key, d);
		return -1;
	}
	*out = (float)d;
	return 0;
}

int
infer_gguf_get_bool(
    const struct infer_gguf *g, const char *key, bool *out, char **cause)
{
	struct num n;
	uint64_t u;
	char show[32];

	if (get_num(g, key, &n, "a bool", 1, 0, cause) != 0)
		return -1;
	if (num_to_u64(&n, &u) != 0 || u > 1) {
		num_show(&n, show, sizeof(show));
		set_cause(cause, g->name, "key '%s': value %s is not a bool",
		    key, show);
		return -1;
	}
	*out = u != 0;
	return 0;
}

int
infer_gguf_get_str(const struct infer_gguf *g, const char *key, const char **s,
    size_t *len, char **cause)
{
	const struct infer_gguf_val *v = find_val(g, key, cause);

	if (v == NULL)
		return -1;
	if (v->type != INFER_GGUF_STR) {
		set_cause(cause, g->name, "key '%s' is %s, expected a string",
		    key, vtype_names[v->type]);
		return -1;
	}
	*s = (const char *)g->base + v->off;
	*len = (size_t)v->n;
	return 0;
}

char *
infer_gguf_get_strdup(const struct infer_gguf *g, const char *key, char **cause)
{
	const char *s;
	size_t len;
	char *copy;

	if (infer_gguf_get_str(g, key, &s, &len, cause) != 0)
		return NULL;
	if (memchr(s, '\0', len) != NULL) {
		set_cause(cause, g->name,
		    "key '%s': string contains a NUL byte", key);
		return NULL;
	}
	if (len == SIZE_MAX || (copy = malloc(len + 1)) == NULL) {
		set_cause(cause, g->name, "key '%s': out of memory", key);
		return NULL;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

int
infer_gguf_get_arr(const struct infer_gguf *g, const char *key,
    struct infer_gguf_arr *out, char **cause)
{
	const struct infer_gguf_val *v = find_val(g, key, cause);

	if (v == NULL)
		return -1;
	if (v->type != INFER_GGUF_ARR) {
		set_cause(cause, g->name, "key '%s' is %s, expected an array",
		    key, vtype_names[v->type]);
		return -1;
	}
	out->type = (enum infer_gguf_vtype)v->elem;
	out->n = v->n;
	out->g = g;
	out->val = v;
	return 0;
}

/* ---- arrays ------------------------------------------------------------ */

/*
 * Loads element `i` of a numeric array.  Floats are refused unless
 * `allow_float`.
 */
static int
arr_elem_num(const struct infer_gguf_arr *a, uint64_t i, struct num *n,
    int allow_float, char **cause)
{
	const struct infer_gguf_val *v = a->val;
	size_t size = vtype_size[v->elem];

	if (i >= v->n) {
		set_cause(cause, a->g->name,
		    "key '%s': element %" PRIu64
		    " out of range (array of %" PRIu64 ")",
		    v->key, i, v->n);
		return -1;
	}
	if (size == 0 || load_num(a->g, v->elem, v->off + i * size, n) != 0 ||
	    (n->cls == NUM_FLOAT && !allow_float)) {
		set_cause(cause, a->g->name,
		    "key '%s': element %" PRIu64 " is %s, expected %s", v->key,
		    i, vtype_names[v->elem],
		    allow_float ? "a number" : "an integer");
		return -1;
	}
	return 0;
}

int
infer_gguf_arr_i64(
    const struct infer_gguf_arr *a, uint64_t i, int64_t *out, char **cause)
{
	struct num n;
	char show[32];

	if (arr_elem_num(a, i, &n, 0, cause) != 0)
		return -1;
	if (num_to_i64(&n, out) != 0) {
		num_show(&n, show, sizeof(show));
		set_cause(cause, a->g->name,
		    "key '%s': element %" PRIu64 " = %s out of range for i64",
		    a->val->key, i, show);
		return -1;
	}
	return 0;
}

int
infer_gguf_arr_u64(
    const struct infer_gguf_arr *a, uint64_t i, uint64_t *out, char **cause)
{
	struct num n;
	char show[32];

	if (arr_elem_num(a, i, &n, 0, cause) != 0)
		return -1;
	if (num_to_u64(&n, out) != 0) {
		num_show(&n, show, sizeof(show));
		set_cause(cause, a->g->name,
		    "key '%s': element %" PRIu64 " = %s out of range for u64",
		    a->val->key, i, show);
		return -1;
	}
	return 0;
}

int
infer_gguf_arr_f64(
    const struct infer_gguf_arr *a, uint64_t i, double *out, char **cause)
{
	struct num n;

	if (arr_elem_num(a, i, &n, 1, cause) != 0)
		return -1;
	*out = num_to_f64(&n);
	return 0;
}

int
infer_gguf_arr_str(const struct infer_gguf_arr *a, uint64_t i, const char **s,
    size_t *len, char **cause)
{
	const struct infer_gguf_val *v = a->val;

	if (i >= v->n || v->elem != INFER_GGUF_STR) {
		if (i >= v->n) {
			set_cause(cause, a->g->name,
			    "key '%s': element %" PRIu64
			    " out of range (array of %" PRIu64 ")",
			    v->key, i, v->n);
		} else {
			set_cause(cause, a->g->name,
			    "key '%s': element %" PRIu64
			    " is %s, expected a string",
			    v->key, i, vtype_names[v->elem]);
		}
		return -1;
	}
	*len = (size_t)rd_u64_at(a->g, v->offs[i]);
	*s = (const char *)a->g->base + v->offs[i] + 8;
	return 0;
}

int
infer_gguf_arr_arr(const struct infer_gguf_arr *a, uint64_t i,
    struct infer_gguf_arr *out, char **cause)
{
	const struct infer_gguf_val *v = a->val;

	if (i >= v->n || v->elem != INFER_GGUF_ARR) {
		if (i >= v->n) {
			set_cause(cause, a->g->name,
			    "key '%s': element %" PRIu64
			    " out of range (array of %" PRIu64 ")",
			    v->key, i, v->n);
		} else {
			set_cause(cause, a->g->name,
			    "key '%s': element %" PRIu64
			    " is %s, expected an array",
			    v->key, i, vtype_names[v->elem]);
		}
		return -1;
	}
	out->type = (enum infer_gguf_vtype)v->sub[i].elem;
	out->n = v->sub[i].n;
	out->g = a->g;
	out->val = &v->sub[i];
	return 0;
}

int
infer_gguf_arr_copy_f32(
    const struct infer_gguf_arr *a, float *out, size_t n, char **cause)
{
	double d;

	if (n != a->n) {
		set_cause(cause, a->g->name,
		    "key '%s': array has %" PRIu64 " elements, expected %zu",
		    a->val->key, a->n, n);
		return -1;
	}
	if (a->type == INFER_GGUF_F32) {
		if (n > 0)
			memcpy(
			    out, a->g->base + a->val->off, n * sizeof(float));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (infer_gguf_arr_f64(a, i, &d, cause) != 0)
			return -1;
		if (isfinite(d) && fabs(d) > FLT_MAX) {
			set_cause(cause, a->g->name,
			    "key '%s': element %zu = %g out of range for f32",
			    a->val->key, i, d);
			return -1;
		}
		out[i] = (float)d;
	}
	return 0;
}

int
infer_gguf_arr_copy_i32(
    const struct infer_gguf_arr *a, int32_t *out, size_t n, char **cause)
{
	int64_t v;

	if (n != a->n) {
		set_cause(cause, a->g->name,
		    "key '%s': array has %" PRIu64 " elements, expected %zu",
		    a->val->key, a->n, n);
		return -1;
	}
	if (a->type == INFER_GGUF_I32) {
		if (n > 0)
			memcpy(
			    out, a->g->base + a->val->off, n * sizeof(int32_t));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (infer_gguf_arr_i64(a, i, &v, cause) != 0)
			return -1;
		if (v < INT32_MIN || v > INT32_MAX) {
			set_cause(cause, a->g->name,
			    "key '%s': element %zu = %" PRId64
			    " out of range for i32",
			    a->val->key, i, v);
			return -1;
		}
		out[i] = (int32_t)v;
	}
	return 0;
}

int
infer_gguf_arr_copy_u32(
    const struct infer_gguf_arr *a, uint32_t *out, size_t n, char **cause)
{
	uint64_t v;

	if (n != a->n) {
		set_cause(cause, a->g->name,
		    "key '%s': array has %" PRIu64 " elements, expected %zu",
		    a->val->key, a->n, n);
		return -1;
	}
	if (a->type == INFER_GGUF_U32) {
		if (n > 0)
			memcpy(out, a->g->base + a->val->off,
			    n * sizeof(uint32_t));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (infer_gguf_arr_u64(a, i, &v, cause) != 0)
			return -1;
		if (v > UINT32_MAX) {
			set_cause(cause, a->g->name,
			    "key '%s': element %zu = %" PRIu64
			    " out of range for u32",
			    a->val->key, i, v);
			return -1;
		}
		out[i] = (uint32_t)v;
	}
	return 0;
}

int
infer_gguf_arr_raw(
    const struct infer_gguf_arr *a, const void **data, char **cause)
{
	if (vtype_size[a->val->elem] == 0) {
		set_cause(cause, a->g->name,
		    "key '%s': array of %s has no fixed-size elements",
		    a->val->key, vtype_names[a->val->elem]);
		return -1;
	}
	*data = a->g->base + a->val->off;
	return 0;
}

/* ---- rendering for people ---------------------------------------------- */

static void
sbuf_put(struct sbuf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (n >= b->cap - b->len || b->p == NULL) {
		size_t cap = b->cap == 0 ? 64 : b->cap;
		uint8_t *np;

		while (cap - b->len <= n) {
			if (cap > SIZE_MAX / 2) {
				b->failed = 1;
				return;
			}
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = 1;
		return;
	}
	sbuf_put(b, tmp, (size_t)n);
}

/* Appends a string as a quoted, escaped literal. */
static void
render_str(struct sbuf *b, const uint8_t *s, uint64_t len)
{
	sbuf_put(b, "\"", 1);
	for (uint64_t i = 0; i < len && !b->failed; i++) {
		uint8_t ch = s[i];

		if (ch == '"' || ch == '\\') {
			sbuf_put(b, "\\", 1);
			sbuf_put(b, &ch, 1);
		} else if (ch == '\n') {
			sbuf_put(b, "\\n", 2);
		} else if (ch == '\t') {
			sbuf_put(b, "\\t", 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			sbuf_printf(b, "\\x%02x", ch);
		} else {
			sbuf_put(b, &ch, 1);
		}
	}
	sbuf_put(b, "\"", 1);
}

static void
render_val(const struct infer_gguf *g, struct sbuf *b,
    const struct infer_gguf_val *v, size_t max_elems)
{
	struct num n;
	char tmp[40];
	uint64_t shown;

	if (v->type == INFER_GGUF_STR) {
		render_str(b, g->base + v->off, v->n);
		return;
	}
	if (v->type != INFER_GGUF_ARR) {
		if (load_num(g, v->type, v->off, &n) == 0) {
			if (n.cls == NUM_FLOAT)
				snprintf(tmp, sizeof(tmp), "%.9g", n.f);
			else
				num_show(&n, tmp, sizeof(tmp));
			sbuf_put(b, tmp, strlen(tmp));
		}
		return;
	}
	shown = v->n < max_elems ? v->n : max_elems;
	sbuf_put(b, "[", 1);
	for (uint64_t i = 0; i < shown && !b->failed; i++) {
		struct infer_gguf_val e;

		if (i > 0)
			sbuf_put(b, ", ", 2);
		memset(&e, 0, sizeof(e));
		if (v->elem == INFER_GGUF_STR) {
			e.type = INFER_GGUF_STR;
			e.n = rd_u64_at(g, v->offs[i]);
			e.off = v->offs[i] + 8;
			render_val(g, b, &e, max_elems);
		} else if (v->elem == INFER_GGUF_ARR) {
			render_val(g, b, &v->sub[i], max_elems);
		} else {
			e.type = v->elem;
			e.off = v->off + i * vtype_size[v->elem];
			render_val(g, b, &e, max_elems);
		}
	}
	if (shown < v->n)
		sbuf_printf(b, "%s... (%" PRIu64 " total)",
		    shown > 0 ? ", " : "", v->n);
	sbuf_put(b, "]", 1);
}

char *
infer_gguf_kv_to_string(const struct infer_gguf *g, size_t i, size_t max_elems)
{
	struct sbuf b;

	if (i >= g->n_kv)
		return NULL;
	memset(&b, 0, sizeof(b));
	sbuf_put(&b, "", 0);
	render_val(g, &b, &g->kv[i].val, max_elems);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return (char *)b.p;
}

/* ---- tensors ----------------------------------------------------------- */

size_t
infer_gguf_tensor_count(const struct infer_gguf *g)
{
	return g->n_tensors;
}

const struct infer_gguf_tensor *
infer_gguf_tensor_at(const struct infer_gguf *g, size_t i)
{
	if (i >= g->n_tensors)
		return NULL;
	return &g->tensors[i];
}

int64_t
infer_gguf_tensor_index(const struct infer_gguf *g, const char *name)
{
	return find_name(g, 1, g->t_order, g->n_tensors, name);
}

const struct infer_gguf_tensor *
infer_gguf_tensor_find(const struct infer_gguf *g, const char *name)
{
	int64_t i = infer_gguf_tensor_index(g, name);

	return i < 0 ? NULL : &g->tensors[i];
}

/* ---- writer ------------------------------------------------------------ */

struct infer_gguf_writer *
infer_gguf_writer_new(void)
{
	struct infer_gguf_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->version = INFER_GGUF_VERSION;
	w->alignment = INFER_GGUF_DEFAULT_ALIGNMENT;
	return w;
}

void
infer_gguf_writer_free(struct infer_gguf_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_keys; i++)
		free(w->keys[i]);
	free(w->keys);
	for (size_t i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->t);
	free(w->kv.p);
	free(w);
}

int
infer_gguf_writer_set_version(
    struct infer_gguf_writer *w, uint32_t version, char **cause)
{
	if (version != 2 && version != 3) {
		set_cause(
		    cause, W_NAME, "version %" PRIu32 " not in 2..3", version);
		return -1;
	}
	w->version = version;
	return 0;
}

int
infer_gguf_writer_set_alignment(
    struct infer_gguf_writer *w, uint32_t alignment, char **cause)
{
	if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
		set_cause(cause, W_NAME,
		    "alignment %" PRIu32 " is not a power of two", alignment);
		return -1;
	}
	if (w->has_align) {
		memcpy(w->kv.p + w->align_pos, &alignment, sizeof(alignment));
		w->alignment = alignment;
		return 0;
	}
	if (alignment == INFER_GGUF_DEFAULT_ALIGNMENT) {
		w->alignment = alignment;
		return 0;
	}
	if (w->depth > 0) {
		set_cause(cause, W_NAME,
		    "cannot add general.alignment while an array is open");
		return -1;
	}
	return infer_gguf_writer_add_u32(
	    w, "general.alignment", alignment, cause);
}

/* Undoes a partial pair after running out of memory. */
static int
w_oom(struct infer_gguf_writer *w, size_t mark, char **cause)
{
	w->kv.failed = 0;
	w->kv.len = mark;
	set_cause(cause, W_NAME, "out of memory");
	return -1;
}

static void
w_save(const struct infer_gguf_writer *w, struct wmark *m)
{
	m->len = w->kv.len;
	m->n_kv = w->n_kv;
	m->n_keys = w->n_keys;
	m->depth = w->depth;
	m->count = w->depth > 0 ? w->stack[w->depth - 1].count : 0;
}

/* Forgets everything added since w_save(). */
static void
w_restore(struct infer_gguf_writer *w, const struct wmark *m)
{
	while (w->n_keys > m->n_keys)
		free(w->keys[--w->n_keys]);
	w->n_kv = m->n_kv;
	w->kv.len = m->len;
	w->kv.failed = 0;
	w->depth = m->depth;
	if (m->depth > 0)
		w->stack[m->depth - 1].count = m->count;
}

/* Checks that `key` can be added as a new pair. */
static int
w_check_key(struct infer_gguf_writer *w, const char *key, char **cause)
{
	size_t len;

	if (w->depth > 0) {
		set_cause(cause, W_NAME,
		    "key '%s' added while an array is open (pass NULL to "
		    "append an element)",
		    key);
		return -1;
	}
	len = strlen(key);
	if (len == 0 || len > INFER_GGUF_MAX_KEY) {
		set_cause(cause, W_NAME, "key length %zu not in 1..%d", len,
		    INFER_GGUF_MAX_KEY);
		return -1;
	}
	for (size_t i = 0; i < w->n_keys; i++) {
		if (strcmp(w->keys[i], key) == 0) {
			set_cause(cause, W_NAME, "duplicate key '%s'", key);
			return -1;
		}
	}
	return 0;
}

/*
 * Starts a value of type `type`: with a key, a new pair (key and type
 * written); without, the next element of the open array, which must be
 * of that type (nothing written: elements carry no type).
 */
static int
w_begin(
    struct infer_gguf_writer *w, const char *key, uint32_t type, char **cause)
{
	size_t mark = w->kv.len;
	uint64_t len;
	char *copy;

	if (key == NULL) {
		struct wlevel *top;

		if (w->depth == 0) {
			set_cause(cause, W_NAME, "NULL key with no array open");
			return -1;
		}
		top = &w->stack[w->depth - 1];
		if (top->elem != type) {
			set_cause(cause, W_NAME,
			    "element of type %s added to an array of %s",
			    infer_gguf_vtype_name(type),
			    infer_gguf_vtype_name(top->elem));
			return -1;
		}
		return 0;
	}
	if (w_check_key(w, key, cause) != 0)
		return -1;
	if (w->n_keys == w->cap_keys) {
		size_t cap = w->cap_keys == 0 ? 16 : w->cap_keys * 2;
		char **nk = realloc(w->keys, cap * sizeof(*nk));

		if (nk == NULL)
			return w_oom(w, mark, cause);
		w->keys = nk;
		w->cap_keys = cap;
	}
	copy = strdup(key);
	if (copy == NULL)
		return w_oom(w, mark, cause);
	len = strlen(key);
	sbuf_put(&w->kv, &len, 8);
	sbuf_put(&w->kv, key, (size_t)len);
	sbuf_put(&w->kv, &type, 4);
	if (w->kv.failed) {
		free(copy);
		return w_oom(w, mark, cause);
	}
	w->keys[w->n_keys++] = copy;
	w->n_kv++;
	return 0;
}

/* Adds a fixed-size value (a pair, or an element of the open array). */
static int
w_scalar(struct infer_gguf_writer *w, const char *key, uint32_t type,
    const void *v, char **cause)
{
	size_t mark = w->kv.len;

	if (key != NULL && strcmp(key, "general.alignment") == 0) {
		uint32_t a;

		if (type != INFER_GGUF_U32) {
			set_cause(cause, W_NAME,
			    "general.alignment must be a u32, not %s",
			    infer_gguf_vtype_name(type));
			return -1;
		}
		memcpy(&a, v, 4);
		if (a == 0 || (a & (a - 1)) != 0) {
			set_cause(cause, W_NAME,
			    "alignment %" PRIu32 " is not a power of two", a);
			return -1;
		}
	}
	if (w_begin(w, key, type, cause) != 0)
		return -1;
	sbuf_put(&w->kv, v, vtype_size[type]);
	if (w->kv.failed)
		return w_oom(w, mark, cause);
	if (key == NULL) {
		w->stack[w->depth - 1].count++;
	} else if (strcmp(key, "general.alignment") == 0) {
		w->has_align = 1;
		w->align_pos = w->kv.len - 4;
		memcpy(&w->alignment, v, 4);
	}
	return 0;
}

int
infer_gguf_writer_add_u8(
    struct infer_gguf_writer *w, const char *key, uint8_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_U8, &v, cause);
}

int
infer_gguf_writer_add_i8(
    struct infer_gguf_writer *w, const char *key, int8_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_I8, &v, cause);
}

int
infer_gguf_writer_add_u16(
    struct infer_gguf_writer *w, const char *key, uint16_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_U16, &v, cause);
}

int
infer_gguf_writer_add_i16(
    struct infer_gguf_writer *w, const char *key, int16_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_I16, &v, cause);
}

int
infer_gguf_writer_add_u32(
    struct infer_gguf_writer *w, const char *key, uint32_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_U32, &v, cause);
}

int
infer_gguf_writer_add_i32(
    struct infer_gguf_writer *w, const char *key, int32_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_I32, &v, cause);
}

int
infer_gguf_writer_add_u64(
    struct infer_gguf_writer *w, const char *key, uint64_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_U64, &v, cause);
}

int
infer_gguf_writer_add_i64(
    struct infer_gguf_writer *w, const char *key, int64_t v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_I64, &v, cause);
}

int
infer_gguf_writer_add_f32(
    struct infer_gguf_writer *w, const char *key, float v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_F32, &v, cause);
}

int
infer_gguf_writer_add_f64(
    struct infer_gguf_writer *w, const char *key, double v, char **cause)
{
	return w_scalar(w, key, INFER_GGUF_F64, &v, cause);
}

int
infer_gguf_writer_add_bool(
    struct infer_gguf_writer *w, const char *key, bool v, char **cause)
{
	uint8_t b = v ? 1 : 0;

	return w_scalar(w, key, INFER_GGUF_BOOL, &b, cause);
}

int
infer_gguf_writer_add_str(struct infer_gguf_writer *w, const char *key,
    const char *s, size_t len, char **cause)
{
	size_t mark = w->kv.len;
	uint64_t n = len;

	if (s == NULL && len > 0) {
		set_cause(cause, W_NAME, "NULL string of length %zu", len);
		return -1;
	}
	if (w_begin(w, key, INFER_GGUF_STR, cause) != 0)
		return -1;
	sbuf_put(&w->kv, &n, 8);
	if (len > 0)
		sbuf_put(&w->kv, s, len);
	if (w->kv.failed)
		return w_oom(w, mark, cause);
	if (key == NULL)
		w->stack[w->depth - 1].count++;
	return 0;
}

int
infer_gguf_writer_arr_begin(struct infer_gguf_writer *w, const char *key,
    enum infer_gguf_vtype type, char **cause)
{
	size_t mark = w->kv.len;
	uint32_t elem = type;
	uint64_t zero = 0;

	if ((uint32_t)type >= INFER_GGUF_VTYPE_COUNT) {
		set_cause(
		    cause, W_NAME, "unknown element type %u", (unsigned)type);
		return -1;
	}
	if (w->depth >= INFER_GGUF_MAX_DEPTH) {
		set_cause(cause, W_NAME, "arrays nested deeper than %d",
		    INFER_GGUF_MAX_DEPTH);
		return -1;
	}
	if (w_begin(w, key, INFER_GGUF_ARR, cause) != 0)
		return -1;
	sbuf_put(&w->kv, &elem, 4);
	sbuf_put(&w->kv, &zero, 8);
	if (w->kv.failed)
		return w_oom(w, mark, cause);
	if (key == NULL)
		w->stack[w->depth - 1].count++;
	w->stack[w->depth].elem = elem;
	w->stack[w->depth].count = 0;
	w->stack[w->depth].count_pos = w->kv.len - 8;
	w->depth++;
	return 0;
}

int
infer_gguf_writer_arr_end(struct infer_gguf_writer *w, char **cause)
{
	struct wlevel *top;

	if (w->depth == 0) {
		set_cause(cause, W_NAME, "no array open");
		return -1;
	}
	top = &w->stack[--w->depth];
	memcpy(w->kv.p + top->count_pos, &top->count, 8);
	return 0;
}

int
infer_gguf_writer_add_arr(struct infer_gguf_writer *w, const char *key,
    enum infer_gguf_vtype type, const void *data, size_t n, char **cause)
{
	size_t size = infer_gguf_vtype_size(type);
	struct wmark m;

	if (size == 0) {
		set_cause(cause, W_NAME,
		    "add_arr takes fixed-size elements, not %s",
		    infer_gguf_vtype_name(type));
		return -1;
	}
	if (n > SIZE_MAX / size || (data == NULL && n > 0)) {
		set_cause(cause, W_NAME, "bad array of %zu %s", n,
		    infer_gguf_vtype_name(type));
		return -1;
	}
	w_save(w, &m);
	if (infer_gguf_writer_arr_begin(w, key, type, cause) != 0)
		return -1;
	if (n > 0)
		sbuf_put(&w->kv, data, n * size);
	if (w->kv.failed) {
		w_restore(w, &m);
		set_cause(cause, W_NAME, "out of memory");
		return -1;
	}
	w->stack[w->depth - 1].count = n;
	return infer_gguf_writer_arr_end(w, cause);
}

int
infer_gguf_writer_add_arr_str(struct infer_gguf_writer *w, const char *key,
    const char *const *strs, const size_t *lens, size_t n, char **cause)
{
	struct wmark m;

	if (strs == NULL && n > 0) {
		set_cause(cause, W_NAME, "NULL array of %zu strings", n);
		return -1;
	}
	w_save(w, &m);
	if (infer_gguf_writer_arr_begin(w, key, INFER_GGUF_STR, cause) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t len = lens != NULL ? lens[i] : strlen(strs[i]);

		if (infer_gguf_writer_add_str(w, NULL, strs[i], len, cause) !=
		    0) {
			/* Leave no trace of the half-built array. */
			w_restore(w, &m);
			return -1;
		}
	}
	return infer_gguf_writer_arr_end(w, cause);
}

int
infer_gguf_writer_add_tensor(struct infer_gguf_writer *w, const char *name,
    enum infer_type type, uint32_t n_dims, const uint64_t *ne, const void *data,
    char **cause)
{
	const struct infer_type_traits *tt = infer_type_traits(type);
	struct wtensor *t;
	uint64_t nel = 1, size;
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > INFER_GGUF_MAX_NAME) {
		set_cause(cause, W_NAME, "tensor name length %zu not in 1..%d",
		    len, INFER_GGUF_MAX_NAME);
		return -1;
	}
	if (tt == NULL) {
		set_cause(cause, W_NAME, "tensor '%s': unknown type %u", name,
		    (unsigned)type);
		return -1;
	}
	if (n_dims == 0 || n_dims > INFER_GGUF_MAX_DIMS || ne == NULL) {
		set_cause(cause, W_NAME,
		    "tensor '%s': n_dims %" PRIu32 " not in 1..%d", name,
		    n_dims, INFER_GGUF_MAX_DIMS);
		return -1;
	}
	for (uint32_t d = 0; d < n_dims; d++) {
		if (ne[d] == 0 || ne[d] > INT64_MAX ||
		    nel > INT64_MAX / ne[d]) {
			set_cause(cause, W_NAME,
			    "tensor '%s': bad dimension ne[%" PRIu32
			    "] = %" PRIu64,
			    name, d, ne[d]);
			return -1;
		}
		nel *= ne[d];
	}
	if (ne[0] % tt->block_size != 0 ||
	    infer_type_nbytes(type, nel, &size) != 0) {
		set_cause(cause, W_NAME,
		    "tensor '%s': ne[0] = %" PRIu64 " is not a multiple of the "
		    "block size %" PRIu32 " of %s",
		    name, ne[0], tt->block_size, tt->name);
		return -1;
	}
	for (size_t i = 0; i < w->n_t; i++) {
		if (strcmp(w->t[i].name, name) == 0) {
			set_cause(
			    cause, W_NAME, "duplicate tensor name '%s'", name);
			return -1;
		}
	}
	if (w->n_t == w->cap_t) {
		size_t cap = w->cap_t == 0 ? 16 : w->cap_t * 2;
		struct wtensor *nt = realloc(w->t, cap * sizeof(*nt));

		if (nt == NULL) {
			set_cause(cause, W_NAME, "out of memory");
			return -1;
		}
		w->t = nt;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (t->name == NULL) {
		set_cause(cause, W_NAME, "out of memory");
		return -1;
	}
	t->type = type;
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < INFER_GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->size = size;
	t->data = data;
	w->n_t++;
	return 0;
}

/*
 * Computes the size of the header and metadata, the data section's offset
 * and the file's total size, assigning each tensor its offset.
 */
static int
w_layout(struct infer_gguf_writer *w, uint64_t *header, uint64_t *data_offset,
    uint64_t *total, char **cause)
{
	uint64_t a = w->alignment, h = HEADER_SIZE + w->kv.len, off = 0;

	if (w->depth > 0) {
		set_cause(cause, W_NAME, "an array is still open");
		return -1;
	}
	for (size_t i = 0; i < w->n_t; i++)
		h += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].n_dims + 4 + 8;
	for (size_t i = 0; i < w->n_t; i++) {
		w->t[i].offset = off;
		if (w->t[i].size > UINT64_MAX - off - a) {
			set_cause(cause, W_NAME, "tensor data too large");
			return -1;
		}
		off += w->t[i].size;
		off += (a - off % a) % a;
	}
	*header = h;
	*data_offset = w->n_t > 0 ? h + (a - h % a) % a : h;
	if (off > UINT64_MAX - *data_offset) {
		set_cause(cause, W_NAME, "tensor data too large");
		return -1;
	}
	*total = *data_offset + off;
	return 0;
}

static int
sink_put(struct sink *s, const void *p, uint64_t n)
{
	const uint8_t *b = p;

	if (s->mem != NULL) {
		memcpy(s->mem + s->pos, p, (size_t)n);
		s->pos += n;
		return 0;
	}
	while (n > 0) {
		ssize_t r = write(s->fd, b, n > (1u << 30) ? (1u << 30) : n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_cause(s->cause, s->path,
			    "write failed at offset "
			    "%" PRIu64 ": %s",
			    s->pos, r == 0 ? "no progress" : strerror(errno));
			return -1;
		}
		b += r;
		n -= (uint64_t)r;
		s->pos += (uint64_t)r;
	}
	return 0;
}

static int
sink_zero(struct sink *s, uint64_t n)
{
	static const uint8_t zeros[256];

	while (n > 0) {
		uint64_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		if (sink_put(s, zeros, k) != 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* Writes the whole file to the sink (w_layout must have run). */
static int
w_emit(struct infer_gguf_writer *w, struct sink *s, infer_gguf_fill_cb fill,
    void *arg)
{
	uint32_t magic = INFER_GGUF_MAGIC, u32;
	uint64_t u64, header, data_offset, total, max = 0, a = w->alignment;
	void *buf = NULL;
	int rc = -1;

	if (w_layout(w, &header, &data_offset, &total, s->cause) != 0)
		return -1;
	if (sink_put(s, &magic, 4) != 0 || sink_put(s, &w->version, 4) != 0)
		return -1;
	u64 = w->n_t;
	if (sink_put(s, &u64, 8) != 0 || sink_put(s, &w->n_kv, 8) != 0)
		return -1;
	if (w->kv.len > 0 && sink_put(s, w->kv.p, w->kv.len) != 0)
		return -1;
	for (size_t i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];

		u64 = strlen(t->name);
		if (sink_put(s, &u64, 8) != 0 || sink_put(s, t->name, u64) != 0)
			return -1;
		if (sink_put(s, &t->n_dims, 4) != 0 ||
		    sink_put(s, t->ne, 8 * (uint64_t)t->n_dims) != 0)
			return -1;
		u32 = t->type;
		if (sink_put(s, &u32, 4) != 0 ||
		    sink_put(s, &t->offset, 8) != 0)
			return -1;
		if (t->data == NULL && t->size > max)
			max = t->size;
	}
	if (sink_zero(s, data_offset - header) != 0)
		return -1;
	if (max > 0) {
		if (fill == NULL) {
			set_cause(s->cause, W_NAME,
			    "tensors without data and no fill callback");
			return -1;
		}
		if (max > SIZE_MAX || (buf = malloc((size_t)max)) == NULL) {
			set_cause(s->cause, W_NAME,
			    "out of memory for %" PRIu64
			    " bytes of tensor data",
			    max);
			return -1;
		}
	}
	for (size_t i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];
		const void *p = t->data;

		if (p == NULL) {
			if (s->cause != NULL)
				*s->cause = NULL;
			if (fill(arg, i, buf, (size_t)t->size, s->cause) != 0) {
				if (s->cause != NULL && *s->cause == NULL)
					set_cause(s->cause, W_NAME,
					    "tensor '%s': fill failed",
					    t->name);
				goto out;
			}
			p = buf;
		}
		if (sink_put(s, p, t->size) != 0 ||
		    sink_zero(s, (a - t->size % a) % a) != 0)
			goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int
infer_gguf_writer_write_mem(struct infer_gguf_writer *w, void **buf,
    size_t *len, infer_gguf_fill_cb fill, void *arg, char **cause)
{
	struct sink s;
	uint64_t header, data_offset, total;

	if (cause != NULL)
		*cause = NULL;
	if (w_layout(w, &header, &data_offset, &total, cause) != 0)
		return -1;
	if (total > SIZE_MAX) {
		set_cause(cause, W_NAME, "file of %" PRIu64 " bytes too large",
		    total);
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.path = "<memory>";
	s.cause = cause;
	s.mem = malloc((size_t)total);
	if (s.mem == NULL) {
		set_cause(cause, W_NAME, "out of memory for %" PRIu64 " bytes",
		    total);
		return -1;
	}
	if (w_emit(w, &s, fill, arg) != 0) {
		free(s.mem);
		return -1;
	}
	*buf = s.mem;
	*len = (size_t)total;
	return 0;
}

int
infer_gguf_writer_write(struct infer_gguf_writer *w, const char *path,
    infer_gguf_fill_cb fill, void *arg, char **cause)
{
	static unsigned counter;
	struct sink s;
	char *tmp = NULL, *dir = NULL;
	int fd = -1, dfd, saved, rc = -1;

	if (cause != NULL)
		*cause = NULL;
	for (int tries = 0; tries < 100 && fd == -1; tries++) {
		free(tmp);
		tmp = NULL;
		if (asprintf(&tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
		        __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) ==
		    -1) {
			tmp = NULL;
			set_cause(cause, path, "out of memory");
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1) {
		set_cause(
		    cause, path, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.fd = fd;
	s.path = path;
	s.cause = cause;
	if (w_emit(w, &s, fill, arg) != 0)
		goto out;
	if (fsync(fd) == -1) {
		set_cause(cause, path, "fsync failed: %s", strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		set_cause(cause, path, "close failed: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		set_cause(
		    cause, path, "cannot rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* Make the rename itself durable; a failure here loses nothing. */
	dir = strdup(path);
	if (dir != NULL) {
		dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd != -1) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	free(tmp);
	return 0;

out:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = saved;
	return rc;
}
