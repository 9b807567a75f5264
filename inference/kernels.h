/*
 * kernels.h: dot products of weight rows with activation rows, the work
 * that decides the engine's speed, with code chosen at run time for the
 * CPU.
 *
 * The fast CPU runtimes do not dequantize weights to floats: they
 * quantize the activations too, once per row, and multiply integers.  So
 * each weight type has an activation type:
 *
 *   weights              activations      dot product
 *   Q8_0, Q4_0, Q5_0     Q8_0             int8 x int8 per block of 32
 *   Q4_K, Q5_K, Q6_K     Q8_K             int8 x int8 per block of 256
 *   F32, F16, BF16       F32              float
 *
 * A matrix multiplication is then kern_quantize_act() on the activation
 * rows, followed by kern_matmul() on row ranges of the weight matrix,
 * which the engine hands to its threads (each writes disjoint outputs).
 *
 * Levels.  Every kernel has a scalar reference version (kernels-ref.c,
 * names ending in _ref, the one the others are tested against); the AVX2
 * level (AVX2, FMA, F16C) and the AVX-512 level (AVX2 code plus AVX-512
 * F/BW/VL/DQ and VNNI: the int8 products use vpdpbusd) replace what they
 * speed up and fall back to the reference for the rest.  The best level
 * the CPU and the OS support is chosen on first use; the environment
 * variable AGENTD_CPU=scalar|avx2|avx512 asks for a lower one (tests and
 * benchmarks).
 *
 * Determinism.  Each output out[i][r] is computed by one call in a fixed
 * order that depends only on the weight row, the activation row and the
 * level: not on row0/row1, nx, the tile a row lands in, or the thread.
 * So the engine's results do not depend on how it splits the work, and a
 * token computed in a batch equals the same token computed alone.
 *
 * Accuracy.  For the int8 types every level computes the integer part of
 * each block exactly; levels differ only in the order in which the
 * per-block float products are summed, so their results agree within
 * (blocks + 16) * FLT_EPSILON * sum|terms|, and bit for bit when the sums
 * are exact.  The reference sums floats in double.  The AVX-512 level
 * only fuses integer steps of the AVX2 level, so the two agree bit for
 * bit.
 *
 * Arguments are the caller's to get right: types and row lengths are
 * checked once with kern_check(), when a model is loaded; the functions
 * on the hot path do not check again.
 */
#ifndef AGENTD_INFERENCE_KERNELS_H
#define AGENTD_INFERENCE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inference/types.h"

/* Code paths, slowest first. */
enum kern_level {
	KERN_LEVEL_SCALAR = 0,
	KERN_LEVEL_AVX2 = 1,
	KERN_LEVEL_AVX512 = 2,
};
#define KERN_LEVEL_COUNT 3

/* Activation rows that one kernel call multiplies with one weight row. */
#define KERN_TILE 4

/* ---- types ------------------------------------------------------------ */

/*
 * Returns true when weight rows of `wtype` can be multiplied: F32, F16,
 * BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K.
 */
bool kern_supported(uint32_t wtype);

/*
 * Checks that rows of n elements of weight type `wtype` can be
 * multiplied: the type is supported and n is a positive multiple of its
 * block size (and of its activation type's: 256 for the K-quants).
 * Returns 0, or -1 with an allocated message in *cause (cause may be
 * NULL), e.g. "q4_K rows of 100 elements: not a multiple of 256".
 */
int kern_check(uint32_t wtype, int64_t n, char **cause);

/*
 * Returns the activation type of weight type `wtype` (INFER_TYPE_Q8_0,
 * INFER_TYPE_Q8_K or INFER_TYPE_F32).  wtype must be supported.
 */
uint32_t kern_act_type(uint32_t wtype);

/*
 * Returns the bytes of one activation row of n elements for weight type
 * `wtype` (n passed kern_check()).
 */
size_t kern_act_row_size(uint32_t wtype, int64_t n);

/* ---- the work --------------------------------------------------------- */

/*
 * Converts nx rows of n floats (row i at x + i * x_stride floats) to the
 * activation type of `wtype`, row i at (char *)xq + i * xq_row_bytes
 * (xq_row_bytes >= kern_act_row_size(); 4-byte aligned rows).  For the
 * float weight types the rows are copied as they are, so a caller may
 * skip this and pass its floats to kern_matmul() directly.  Results are
 * bit-identical at every level.
 */
void kern_quantize_act(uint32_t wtype, int64_t n, const float *x,
    size_t x_stride, int nx, void *xq, size_t xq_row_bytes);

/*
 * Multiplies weight rows [row0, row1) with nx activation rows:
 *
 *   out[i * out_stride + r] = sum_k W[r][k] * X[i][k]
 *
 * for r in [row0, row1) and i in [0, nx).  W has rows of n elements of
 * type `wtype`, row r at (const char *)w + r * w_row_bytes (2-byte
 * aligned; 4-byte for F32); X is nx rows made by kern_quantize_act(), row
 * i at (const char *)xq + i * xq_row_bytes.  Only the named outputs are
 * written, so threads may share out with disjoint row ranges.  Weights
 * are read once per KERN_TILE activation rows, tile by tile over chunks
 * of rows that stay in cache, so a batch of tokens (prefill) reads the
 * weight matrix about nx / KERN_TILE times from cache and once from
 * memory.  Never allocates; never fails.
 */
void kern_matmul(uint32_t wtype, int64_t n, const void *w, size_t w_row_bytes,
    int64_t row0, int64_t row1, const void *xq, size_t xq_row_bytes, int nx,
    float *out, size_t out_stride);

/* ---- levels ----------------------------------------------------------- */

/*
 * Chooses the level now: the best one, or the one AGENTD_CPU names when
 * it is set.  Returns 0, or -1 with a message in *cause when the variable
 * names no level ("AGENTD_CPU=avx9: expected scalar, avx2 or avx512;
 * using avx2") or a level this CPU lacks; the best level below it is used
 * then, and the message is for the caller's log.  Calling it is
 * optional: the first kernel call chooses a level the same way, silently.
 * Not while kernels run on other threads.
 */
int kern_init(char **cause);

/* Returns the level in use. */
enum kern_level kern_level_get(void);

/* Returns the best level that this CPU and OS support. */
enum kern_level kern_level_best(void);

/*
 * Uses `level` from now on (tests and benchmarks; not while kernels run
 * on other threads).  Returns 0, or -1 with *cause set when the CPU lacks
 * it.
 */
int kern_level_set(enum kern_level level, char **cause);

/* Returns "scalar", "avx2" or "avx512". */
const char *kern_level_name(enum kern_level level);

/* ---- inside the engine: the kernels of each level --------------------- */

/*
 * One level's kernels.  dot[wtype] multiplies one weight row of n
 * elements at w with nr (1..KERN_TILE) activation rows, the first at x
 * and the others x_stride bytes apart, and writes the nr results to s;
 * each result is computed exactly as it would be with nr = 1.  quantize_*
 * convert n floats (a multiple of the block size) to activation blocks.
 * A NULL member means "use the reference".
 */
struct kern_ops {
	void (*dot[INFER_TYPE_COUNT])(int64_t n, const void *w, const void *x,
	    size_t x_stride, int nr, float *s);
	void (*quantize_q8_0)(const float *x, void *y, int64_t n);
	void (*quantize_q8_K)(const float *x, void *y, int64_t n);
};

/* The tables of kernels-ref.c, kernels-avx2.c and kernels-avx512.c. */
extern const struct kern_ops kern_ops_ref;
extern const struct kern_ops kern_ops_avx2;
extern const struct kern_ops kern_ops_avx512;

/* Returns the table of `level` (the CPU may lack it: tests check). */
const struct kern_ops *kern_ops_level(enum kern_level level);

/* The reference dot products (kernels-ref.c), one weight type each. */
void kern_dot_f32_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_f16_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_bf16_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q8_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q4_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q5_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q4_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q5_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);
void kern_dot_q6_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s);

#endif /* AGENTD_INFERENCE_KERNELS_H */
