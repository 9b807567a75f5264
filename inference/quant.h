/*
 * quant.h: block layouts of the quantized tensor types, conversion of
 * half-precision floats, and rows converted to and from F32.
 *
 * The layouts are ggml's, byte for byte, because they are what GGUF files
 * hold.  A quantized row of n elements is n / block_size blocks laid end to
 * end; every block carries its own scale(s) and the packed integers.  The
 * value of element j is:
 *
 *   Q8_0  d * qs[j]                                   (32 per block)
 *   Q4_0  d * (q - 8),  q = 4 bits: element j < 16 is the low nibble of
 *         qs[j], element j + 16 the high nibble of qs[j]
 *   Q5_0  d * (q - 16), q = the Q4_0 nibble plus bit j of the 32-bit
 *         little-endian word qh as bit 4
 *   Q4_K  256 elements in 8 sub-blocks of 32, each with a 6-bit scale sc
 *         and a 6-bit min m: d * sc * q - dmin * m.  Elements are taken in
 *         chunks of 64: chunk c (bytes qs[32c .. 32c + 31]) holds sub-block
 *         2c in the low nibbles and sub-block 2c + 1 in the high nibbles.
 *         The 16 six-bit numbers are packed into 12 bytes: for j < 4,
 *         sc[j] = scales[j] & 63 and m[j] = scales[j + 4] & 63; for
 *         j = 4..7, sc[j] = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4
 *         and m[j] = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
 *   Q5_K  as Q4_K with a fifth bit: for chunk c, element l of sub-block 2c
 *         takes bit 2c of qh[l] and element l of sub-block 2c + 1 takes
 *         bit 2c + 1 of qh[l] (l = 0..31), as bit 4 of q.
 *   Q6_K  256 elements in 16 sub-blocks of 16 with signed 8-bit scales:
 *         d * scales[i] * (q - 32), q = 6 bits.  Each half h (128
 *         elements) uses ql[64h .. 64h + 63] and qh[32h .. 32h + 31]; for
 *         l = 0..31 its elements l, l + 32, l + 64 and l + 96 take the low
 *         nibble of ql[l], the low nibble of ql[l + 32], the high nibble of
 *         ql[l] and the high nibble of ql[l + 32], with bits 0-1, 2-3, 4-5
 *         and 6-7 of qh[l] as their bits 4-5.
 *   Q8_K  d * qs[j], d a float; bsums[i] is the sum of qs[16i .. 16i + 15].
 *         It never appears in files: it is the activation type that the
 *         K-quant dot products take.
 *
 * d and dmin are IEEE half floats (the bits, in a uint16_t); F16 and BF16
 * rows are arrays of such 16-bit patterns.
 *
 * All functions here are pure: they never allocate and fail only on
 * arguments, with a message in *cause (allocated; the caller frees it;
 * cause may be NULL).
 */
#ifndef AGENTD_INFERENCE_QUANT_H
#define AGENTD_INFERENCE_QUANT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "inference/types.h"

#define QUANT_K_SCALE_SIZE 12 /* packed 6-bit scales and mins of Q4_K/Q5_K */

/* Q8_0: 32 int8 and one half scale (34 bytes). */
struct quant_block_q8_0 {
	uint16_t d;
	int8_t qs[INFER_QK];
};

/* Q4_0: 32 nibbles and one half scale (18 bytes). */
struct quant_block_q4_0 {
	uint16_t d;
	uint8_t qs[INFER_QK / 2];
};

/* Q5_0: 32 nibbles, their 32 fifth bits and one half scale (22 bytes). */
struct quant_block_q5_0 {
	uint16_t d;
	uint8_t qh[4];
	uint8_t qs[INFER_QK / 2];
};

/* Q4_K: super-block of 256 nibbles, 8 scales and mins (144 bytes). */
struct quant_block_q4_K {
	uint16_t d;    /* super-block scale of the 6-bit scales */
	uint16_t dmin; /* super-block scale of the 6-bit mins */
	uint8_t scales[QUANT_K_SCALE_SIZE];
	uint8_t qs[INFER_QK_K / 2];
};

/* Q5_K: as Q4_K plus one high bit per element (176 bytes). */
struct quant_block_q5_K {
	uint16_t d;
	uint16_t dmin;
	uint8_t scales[QUANT_K_SCALE_SIZE];
	uint8_t qh[INFER_QK_K / 8];
	uint8_t qs[INFER_QK_K / 2];
};

/* Q6_K: 256 six-bit values, 16 int8 scales, one half scale (210 bytes). */
struct quant_block_q6_K {
	uint8_t ql[INFER_QK_K / 2];     /* low 4 bits */
	uint8_t qh[INFER_QK_K / 4];     /* high 2 bits */
	int8_t scales[INFER_QK_K / 16]; /* per 16 elements */
	uint16_t d;
};

/* Q8_K: 256 int8, a float scale and sums of 16 (292 bytes). */
struct quant_block_q8_K {
	float d;
	int8_t qs[INFER_QK_K];
	int16_t bsums[INFER_QK_K / 16];
};

/* ---- half floats ------------------------------------------------------ */

/* Converts IEEE binary16 bits to a float (exact). */
static inline float
quant_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;
	float f;

	if (exp == 0x1f) {
		/* infinity or NaN */
		bits = sign | 0x7f800000 | (man << 13);
	} else if (exp != 0) {
		/* normal: rebias the exponent from 15 to 127 */
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal: man * 2^-24, exact in a float */
		f = (float)man * 0x1p-24f;
		return sign != 0 ? -f : f;
	}
	memcpy(&f, &bits, sizeof f);
	return f;
}

/*
 * Converts a float to IEEE binary16 bits, rounding to nearest even as the
 * F16C instruction vcvtps2ph does: overflow gives infinity, a NaN stays a
 * quiet NaN with the top bits of its payload.
 */
static inline uint16_t
quant_fp32_to_fp16(float f)
{
	uint32_t x, ax, sign, h, rem;

	memcpy(&x, &f, sizeof x);
	sign = (x >> 16) & 0x8000;
	ax = x & 0x7fffffff;
	if (ax > 0x7f800000)
		return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
	if (ax >= 0x477ff000) /* 65520 and up round to infinity */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000) {
		/*
		 * Below the smallest normal half (2^-14): the result is the
		 * number of 2^-24 steps, rounded to nearest even; 1024 steps
		 * is the smallest normal, whose bits are also 1024.
		 */
		float a, steps;

		memcpy(&a, &ax, sizeof a);
		steps = __builtin_rintf(a * 0x1p24f);
		return (uint16_t)(sign | (uint32_t)steps);
	}
	h = (((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ff);
	rem = ax & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0))
		h++; /* a carry into the exponent is still correct */
	return (uint16_t)(sign | h);
}

/* Converts bfloat16 bits to a float (exact). */
static inline float
quant_bf16_to_fp32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, sizeof f);
	return f;
}

/*
 * Converts a float to bfloat16 bits, rounding to nearest even; a NaN stays
 * a quiet NaN.
 */
static inline uint16_t
quant_fp32_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, sizeof x);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/*
 * Unpacks scale j (0..7) and min j of a Q4_K/Q5_K super-block from its 12
 * packed bytes (the layout is described at the top of this file).
 */
static inline void
quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* ---- rows ------------------------------------------------------------- */

/*
 * Returns true when quant_dequantize_row() handles `type`: F32, F16, BF16,
 * Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K and Q8_K.
 */
bool quant_can_dequantize(uint32_t type);

/*
 * Returns true when quant_quantize_row() produces `type`: the same list.
 */
bool quant_can_quantize(uint32_t type);

/*
 * Checks that a row of n elements of `type` can be converted: the type is
 * one of the above and n is a positive multiple of its block size.
 * Returns 0, or -1 with a message such as "q4_K row of 100 elements: not a
 * multiple of the block size 256".
 */
int quant_row_check(uint32_t type, int64_t n, char **cause);

/*
 * Converts one row of n elements of `type` at src (n / block_size blocks,
 * 2-byte aligned, 4-byte for F32 and Q8_K) to n floats at dst.  Returns 0,
 * or -1 with *cause set when quant_row_check() fails; dst is then
 * untouched.  Values are exactly what the block formula above gives
 * (products are rounded to float once, in the formula's order).
 */
int quant_dequantize_row(
    uint32_t type, const void *src, float *dst, int64_t n, char **cause);

/*
 * Converts n floats at src to one row of `type` at dst (n / block_size
 * blocks).  The quantizers search, block by block, for the scale (and for
 * the K-quants the min) that gives the least squared error over the block,
 * then round the scales to their stored precision and choose each integer
 * against the rounded scales; Q8_0 and Q8_K use the largest magnitude
 * (d = max|x| / 127), as activations need, and F16/BF16 round to nearest
 * even.  Returns 0, or -1 with *cause set when quant_row_check() fails or
 * an input element is not finite ("element 17 is nan"); dst may then be
 * partly written.
 */
int quant_quantize_row(
    uint32_t type, const float *src, void *dst, int64_t n, char **cause);

/*
 * The activation quantizers, without any checks (n a positive multiple of
 * 32, resp. 256).  They are the reference that the SIMD versions in
 * kernels-*.c reproduce bit for bit: per block, amax = the largest |x|,
 * id = 127 / amax (0 when amax is 0), q = round-half-even of x * id
 * clamped to [-127, 127], d = amax / 127 (as a half for Q8_0, a float for
 * Q8_K).  Non-finite inputs give unspecified but well-defined values.
 */
void quant_quantize_row_q8_0(
    const float *x, struct quant_block_q8_0 *y, int64_t n);
void quant_quantize_row_q8_K(
    const float *x, struct quant_block_q8_K *y, int64_t n);

#endif /* AGENTD_INFERENCE_QUANT_H */
