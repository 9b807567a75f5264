/*
 * gguf.h: reading and writing GGUF files, the container of llama.cpp.
 *
 * The format (version 2 and 3; everything little-endian, nothing aligned
 * before the data section):
 *
 *   u32  magic         "GGUF" (0x46554747 read as a little-endian u32)
 *   u32  version       2 or 3 (version 1 used u32 counts and lengths)
 *   u64  tensor_count
 *   u64  kv_count
 *   kv_count times:    string key, u32 value_type, value
 *   tensor_count times tensor info:
 *        string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset
 *   padding to `alignment`
 *   tensor data        each tensor at data_offset + its offset
 *
 * A string is a u64 byte length followed by that many bytes, without a
 * terminating NUL.  A value is one of the types of enum infer_gguf_vtype;
 * an array is a u32 element type, a u64 element count and the elements,
 * which may themselves be strings or arrays (nested arrays).  ne[0] is the
 * length of a row (contiguous in memory), ne[1] the number of rows, and so
 * on.  `alignment` is the u32 metadata value "general.alignment", default
 * 32, a power of two; data_offset (the end of the tensor infos rounded up
 * to it) and every tensor offset are multiples of it.
 *
 * The reader maps the file read-only and validates all of it before
 * returning a handle: magic, version, counts (bounded by what the file can
 * hold), lengths, value types, nesting depth, duplicate keys and tensor
 * names, n_dims <= 4, every dimension > 0, element counts that overflow,
 * ne[0] a multiple of the type's block size, unknown types, alignment,
 * tensor data inside the file and not overlapping.  Every size is checked
 * with overflow-safe arithmetic before it is used; nothing is read outside
 * the mapping.  A failure returns NULL with `*cause` set to an allocated
 * message naming the file, the field and its byte offset, for example
 * "model.gguf: tensor 12 'blk.0.attn_q.weight': data [off, off+len) past
 * end of file (size N)".  The caller frees the message.
 *
 * A file with no tensors (a vocabulary-only file) needs no padding: its
 * data offset is the end of the metadata.  Bytes after the last tensor
 * are ignored, and tensors may come in any order with gaps between them
 * (llama.cpp writes them packed, in order).  Values of type bool must be
 * 0 or 1.  Big-endian files are refused.
 *
 * A handle is immutable once open, so any number of threads may read it
 * at the same time.  Pointers it returns (names, strings, tensor data) are
 * borrowed and stay valid until infer_gguf_close().  Strings from the file
 * are NOT NUL-terminated: they come as a pointer and a length.  Key and
 * tensor names are the exception: the handle keeps NUL-terminated copies.
 *
 * The writer builds a file in memory (metadata) plus borrowed or
 * late-produced tensor data, and writes it with the right padding.
 */
#ifndef AGENTD_INFERENCE_GGUF_H
#define AGENTD_INFERENCE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inference/types.h"

#define INFER_GGUF_MAGIC             0x46554747u /* "GGUF" */
#define INFER_GGUF_VERSION           3
#define INFER_GGUF_MAX_DIMS          4
#define INFER_GGUF_DEFAULT_ALIGNMENT 32
/* Longest key and tensor name accepted, in bytes (llama.cpp itself
 * refuses tensor names of 64 bytes or more). */
#define INFER_GGUF_MAX_KEY  65535
#define INFER_GGUF_MAX_NAME 255
/* Deepest nesting of arrays accepted (an array of arrays is depth 2). */
#define INFER_GGUF_MAX_DEPTH 8

/* Metadata value types, numbered as GGUF numbers them. */
enum infer_gguf_vtype {
	INFER_GGUF_U8 = 0,
	INFER_GGUF_I8 = 1,
	INFER_GGUF_U16 = 2,
	INFER_GGUF_I16 = 3,
	INFER_GGUF_U32 = 4,
	INFER_GGUF_I32 = 5,
	INFER_GGUF_F32 = 6,
	INFER_GGUF_BOOL = 7,
	INFER_GGUF_STR = 8,
	INFER_GGUF_ARR = 9,
	INFER_GGUF_U64 = 10,
	INFER_GGUF_I64 = 11,
	INFER_GGUF_F64 = 12,
	INFER_GGUF_VTYPE_COUNT = 13,
};

/* Returns "u8", "i32", "string", "array", ...; "unknown" if out of range. */
const char *infer_gguf_vtype_name(uint32_t vtype);

/*
 * Returns the encoded size of one value of a fixed-size type (1 for u8,
 * i8 and bool, ... 8 for u64, i64, f64), or 0 for string, array and
 * unknown types.
 */
size_t infer_gguf_vtype_size(uint32_t vtype);

/* ---- reader ------------------------------------------------------------ */

/* An open file (opaque). */
struct infer_gguf;

/* Internal value record behind an array view (opaque). */
struct infer_gguf_val;

/* One tensor, as described by its info and validated against the file. */
struct infer_gguf_tensor {
	const char *name;     /* NUL-terminated, owned by the handle */
	enum infer_type type; /* a valid ggml type id */
	uint32_t n_dims;      /* 1..INFER_GGUF_MAX_DIMS */
	uint64_t ne[INFER_GGUF_MAX_DIMS]; /* ne[i] = 1 for i >= n_dims */
	uint64_t n_elements;              /* product of ne[] */
	uint64_t offset;  /* from the start of the data section */
	uint64_t size;    /* bytes of data */
	const void *data; /* into the mapping: data_offset + offset */
};

/*
 * A view of an array value.  `type` is the element type and `n` the
 * element count; read elements with the infer_gguf_arr_*() functions.
 * Valid as long as the handle it came from.
 */
struct infer_gguf_arr {
	enum infer_gguf_vtype type;
	uint64_t n;
	const struct infer_gguf *g;       /* do not touch */
	const struct infer_gguf_val *val; /* do not touch */
};

/* Flags for infer_gguf_open(). */
#define INFER_GGUF_POPULATE 0x1 /* prefault the mapping (MAP_POPULATE) */

/*
 * Opens and validates the GGUF file at `path`, mapping it read-only.
 * `flags` is 0 or INFER_GGUF_POPULATE.  Returns a new handle (close it
 * with infer_gguf_close()), or NULL with `*cause` set.  Messages start
 * with `path`.  As with any mapping, the file must not shrink while it is
 * open: touching a page past its new end raises SIGBUS.
 */
struct infer_gguf *infer_gguf_open(
    const char *path, unsigned flags, char **cause);

/*
 * Like infer_gguf_open() for a file already in memory: `buf` (`len`
 * bytes, any alignment) is borrowed and must outlive the handle.  `name`
 * (may be NULL: "<memory>") starts every message.  Tensor data pointers
 * point into `buf`.  The data section's alignment is checked relative to
 * the start of `buf`.
 */
struct infer_gguf *infer_gguf_open_mem(
    const void *buf, size_t len, const char *name, char **cause);

/* Unmaps the file and frees the handle.  Accepts NULL. */
void infer_gguf_close(struct infer_gguf *g);

/* The name given at open (the path), for messages. */
const char *infer_gguf_name(const struct infer_gguf *g);

/* The format version: 2 or 3. */
uint32_t infer_gguf_version(const struct infer_gguf *g);

/* Size of the whole file, and its first byte (the mapping or buffer). */
uint64_t infer_gguf_file_size(const struct infer_gguf *g);
const void *infer_gguf_base(const struct infer_gguf *g);

/* The alignment in effect (general.alignment, or 32). */
uint32_t infer_gguf_alignment(const struct infer_gguf *g);

/* The byte offset of the data section (a multiple of the alignment). */
uint64_t infer_gguf_data_offset(const struct infer_gguf *g);

/* -- metadata -- */

/* The number of key/value pairs. */
size_t infer_gguf_kv_count(const struct infer_gguf *g);

/* The index of `key`, or -1 when the file does not have it. */
int64_t infer_gguf_kv_find(const struct infer_gguf *g, const char *key);

/* The NUL-terminated key of pair `i`, or NULL when i >= the count. */
const char *infer_gguf_kv_key(const struct infer_gguf *g, size_t i);

/* The value type of pair `i`, or INFER_GGUF_VTYPE_COUNT when i >= the
 * count. */
enum infer_gguf_vtype infer_gguf_kv_type(const struct infer_gguf *g, size_t i);

/*
 * Renders the value of pair `i` for people, the way `agentd-infer info`
 * prints it: numbers, quoted strings, arrays as "[a, b, c, ...]" showing
 * at most `max_elems` elements at each level (with the count when cut).
 * Strings are shown whole, escaped (\", \\, \n, \t, \xNN).  Returns a new
 * string (caller frees), or NULL when out of memory or i >= the count.
 */
char *infer_gguf_kv_to_string(
    const struct infer_gguf *g, size_t i, size_t max_elems);

/*
 * Typed getters by key.  Each returns 0 and stores the value, or -1 with
 * `*cause` set when the key is missing ("model.gguf: missing key 'x'"),
 * has an incompatible type ("model.gguf: key 'x' is string, expected an
 * integer"), or holds a value out of the range of the output type
 * ("model.gguf: key 'x': value -1 out of range for u32").  Integer getters
 * accept every integer width GGUF has (real files store the same key as
 * u32 in one file and i32 or u64 in another) as long as the value fits,
 * but not bool or floats; infer_gguf_get_f32/f64 accept f32, f64 and
 * integers (f32 refuses finite values beyond FLT_MAX);
 * infer_gguf_get_bool accepts bool and integers 0 or 1.  Use
 * infer_gguf_kv_find() first for optional keys.  `cause` may be NULL in
 * every function of this file; in the rare case that even the message
 * cannot be allocated, `*cause` is left NULL.
 */
int infer_gguf_get_u32(
    const struct infer_gguf *g, const char *key, uint32_t *out, char **cause);
int infer_gguf_get_i32(
    const struct infer_gguf *g, const char *key, int32_t *out, char **cause);
int infer_gguf_get_u64(
    const struct infer_gguf *g, const char *key, uint64_t *out, char **cause);
int infer_gguf_get_i64(
    const struct infer_gguf *g, const char *key, int64_t *out, char **cause);
int infer_gguf_get_f32(
    const struct infer_gguf *g, const char *key, float *out, char **cause);
int infer_gguf_get_f64(
    const struct infer_gguf *g, const char *key, double *out, char **cause);
int infer_gguf_get_bool(
    const struct infer_gguf *g, const char *key, bool *out, char **cause);

/*
 * Gets a string value: `*s` points into the file (borrowed, not
 * NUL-terminated), `*len` is its length in bytes.
 */
int infer_gguf_get_str(const struct infer_gguf *g, const char *key,
    const char **s, size_t *len, char **cause);

/*
 * Gets a string value as a new NUL-terminated string (caller frees).
 * Fails like infer_gguf_get_str(), and also when the string contains a
 * NUL byte or memory runs out.
 */
char *infer_gguf_get_strdup(
    const struct infer_gguf *g, const char *key, char **cause);

/*
 * Gets an array value as a view in `*out`.  Fails when the key is missing
 * or not an array.
 */
int infer_gguf_get_arr(const struct infer_gguf *g, const char *key,
    struct infer_gguf_arr *out, char **cause);

/*
 * Reads element `i` of an array.  Each returns 0, or -1 with `*cause` set
 * when `i` >= a->n or the element type does not convert: _i64 takes any
 * integer type or bool (u64 values above INT64_MAX fail), _u64 any
 * integer type or bool with a non-negative value, _f64 any integer or
 * float type, _str strings (borrowed, not NUL-terminated), _arr arrays
 * (a nested view).  All are O(1).
 */
int infer_gguf_arr_i64(
    const struct infer_gguf_arr *a, uint64_t i, int64_t *out, char **cause);
int infer_gguf_arr_u64(
    const struct infer_gguf_arr *a, uint64_t i, uint64_t *out, char **cause);
int infer_gguf_arr_f64(
    const struct infer_gguf_arr *a, uint64_t i, double *out, char **cause);
int infer_gguf_arr_str(const struct infer_gguf_arr *a, uint64_t i,
    const char **s, size_t *len, char **cause);
int infer_gguf_arr_arr(const struct infer_gguf_arr *a, uint64_t i,
    struct infer_gguf_arr *out, char **cause);

/*
 * Copies all a->n elements into `out`, which holds `n` elements; fails
 * unless n == a->n.  _f32 converts from any integer or float type; _i32
 * and _u32 from any integer type (and bool) whose values all fit.  The
 * message names the first element that does not convert; `out` may be
 * partly written then.  An array already of the output type is copied
 * with one memcpy.
 */
int infer_gguf_arr_copy_f32(
    const struct infer_gguf_arr *a, float *out, size_t n, char **cause);
int infer_gguf_arr_copy_i32(
    const struct infer_gguf_arr *a, int32_t *out, size_t n, char **cause);
int infer_gguf_arr_copy_u32(
    const struct infer_gguf_arr *a, uint32_t *out, size_t n, char **cause);

/*
 * For arrays of a fixed-size type: `*data` points at the packed
 * little-endian elements in the file (borrowed; NOT aligned: read them
 * with memcpy).  Fails for arrays of strings or arrays.
 */
int infer_gguf_arr_raw(
    const struct infer_gguf_arr *a, const void **data, char **cause);

/* -- tensors -- */

/* The number of tensors. */
size_t infer_gguf_tensor_count(const struct infer_gguf *g);

/* Tensor `i` (< infer_gguf_tensor_count()), borrowed. */
const struct infer_gguf_tensor *infer_gguf_tensor_at(
    const struct infer_gguf *g, size_t i);

/* The tensor named `name` (borrowed), or NULL when there is none. */
const struct infer_gguf_tensor *infer_gguf_tensor_find(
    const struct infer_gguf *g, const char *name);

/* The index of the tensor named `name`, or -1 when there is none. */
int64_t infer_gguf_tensor_index(const struct infer_gguf *g, const char *name);

/* ---- writer ------------------------------------------------------------ */

/* A file being built (opaque). */
struct infer_gguf_writer;

/*
 * Produces the data of tensor `index` (in the order added) into `buf`,
 * exactly `size` bytes, for tensors added with data == NULL.  Returns 0,
 * or -1 with `*cause` set, which aborts the write.
 */
typedef int (*infer_gguf_fill_cb)(
    void *arg, size_t index, void *buf, size_t size, char **cause);

/*
 * Returns a new, empty writer for version 3 with alignment 32, or NULL
 * when out of memory.  Free it with infer_gguf_writer_free().
 */
struct infer_gguf_writer *infer_gguf_writer_new(void);

/* Frees a writer and everything it copied.  Accepts NULL. */
void infer_gguf_writer_free(struct infer_gguf_writer *w);

/* Sets the version written: 2 or 3 (default 3). */
int infer_gguf_writer_set_version(
    struct infer_gguf_writer *w, uint32_t version, char **cause);

/*
 * Sets the data alignment: a power of two (default 32).  Also adds (or
 * updates, in place) the metadata key "general.alignment" when it is not
 * 32, so the file reads back with the same alignment.  Adding that key
 * with infer_gguf_writer_add_u32() has the same effect (so copying the
 * keys of one file into another keeps its alignment); any other type for
 * it is refused.  Tensor offsets are assigned at the write, so this may
 * come at any time before it.
 */
int infer_gguf_writer_set_alignment(
    struct infer_gguf_writer *w, uint32_t alignment, char **cause);

/*
 * Adds a key/value pair.  `key` is copied and must be new (duplicates
 * fail), non-empty and at most INFER_GGUF_MAX_KEY bytes.  Inside an array
 * opened with infer_gguf_writer_arr_begin(), `key` must be NULL and the
 * call appends one element of the array's element type instead.  Each
 * returns 0, or -1 with `*cause` set (bad key, wrong element type, out of
 * memory).
 */
int infer_gguf_writer_add_u8(
    struct infer_gguf_writer *w, const char *key, uint8_t v, char **cause);
int infer_gguf_writer_add_i8(
    struct infer_gguf_writer *w, const char *key, int8_t v, char **cause);
int infer_gguf_writer_add_u16(
    struct infer_gguf_writer *w, const char *key, uint16_t v, char **cause);
int infer_gguf_writer_add_i16(
    struct infer_gguf_writer *w, const char *key, int16_t v, char **cause);
int infer_gguf_writer_add_u32(
    struct infer_gguf_writer *w, const char *key, uint32_t v, char **cause);
int infer_gguf_writer_add_i32(
    struct infer_gguf_writer *w, const char *key, int32_t v, char **cause);
int infer_gguf_writer_add_u64(
    struct infer_gguf_writer *w, const char *key, uint64_t v, char **cause);
int infer_gguf_writer_add_i64(
    struct infer_gguf_writer *w, const char *key, int64_t v, char **cause);
int infer_gguf_writer_add_f32(
    struct infer_gguf_writer *w, const char *key, float v, char **cause);
int infer_gguf_writer_add_f64(
    struct infer_gguf_writer *w, const char *key, double v, char **cause);
int infer_gguf_writer_add_bool(
    struct infer_gguf_writer *w, const char *key, bool v, char **cause);
/* `s` is `len` bytes, copied; it may contain any bytes. */
int infer_gguf_writer_add_str(struct infer_gguf_writer *w, const char *key,
    const char *s, size_t len, char **cause);

/*
 * Adds an array of `n` fixed-size elements of type `type` (not string or
 * array) from `data`, packed in host order (little-endian hosts only).
 * With key == NULL inside an array of arrays, appends a nested array.
 */
int infer_gguf_writer_add_arr(struct infer_gguf_writer *w, const char *key,
    enum infer_gguf_vtype type, const void *data, size_t n, char **cause);

/*
 * Adds an array of `n` strings: strs[i] of lens[i] bytes, or of
 * strlen(strs[i]) bytes when `lens` is NULL.  Nests like add_arr.  On
 * failure nothing of the array remains (its key may be added again).
 */
int infer_gguf_writer_add_arr_str(struct infer_gguf_writer *w, const char *key,
    const char *const *strs, const size_t *lens, size_t n, char **cause);

/*
 * Opens an array of element type `type` under `key` (or, with key ==
 * NULL inside an array of arrays, as the next element), for arrays of
 * arrays or arrays built one element at a time: the add_* calls with key
 * == NULL append elements until infer_gguf_writer_arr_end().  Nesting is
 * limited to INFER_GGUF_MAX_DEPTH.  Nothing else (tensors, the write) may
 * happen while an array is open.
 */
int infer_gguf_writer_arr_begin(struct infer_gguf_writer *w, const char *key,
    enum infer_gguf_vtype type, char **cause);
int infer_gguf_writer_arr_end(struct infer_gguf_writer *w, char **cause);

/*
 * Adds a tensor: `name` (copied, unique, at most INFER_GGUF_MAX_NAME
 * bytes), its type, n_dims (1..4) and dimensions ne[0..n_dims) (each >
 * 0, ne[0] a multiple of the type's block size).  `data` holds the
 * tensor's bytes (size given by the type and dimensions) and is borrowed
 * until the write; or NULL, and the fill callback given to the write
 * produces them then.  Offsets are assigned in order, each aligned.
 */
int infer_gguf_writer_add_tensor(struct infer_gguf_writer *w, const char *name,
    enum infer_type type, uint32_t n_dims, const uint64_t *ne, const void *data,
    char **cause);

/*
 * Writes the file to `path`: first to a temporary file beside it, then
 * fsync and rename, so `path` is either the old file or the whole new
 * one.  `fill`/`arg` produce the data of tensors added without data (the
 * writer passes a buffer as large as the largest of them); `fill` may be
 * NULL when every tensor has data.  Returns 0, or -1 with `*cause` set.
 * The writer can be written again.
 */
int infer_gguf_writer_write(struct infer_gguf_writer *w, const char *path,
    infer_gguf_fill_cb fill, void *arg, char **cause);

/*
 * Writes the whole file into a new buffer: `*buf` (caller frees) of
 * `*len` bytes.  Same contract as infer_gguf_writer_write() otherwise.
 * The writer's own messages start with "gguf writer: "; a fill
 * callback's are passed on as it wrote them.
 */
int infer_gguf_writer_write_mem(struct infer_gguf_writer *w, void **buf,
    size_t *len, infer_gguf_fill_cb fill, void *arg, char **cause);

#endif /* AGENTD_INFERENCE_GGUF_H */
