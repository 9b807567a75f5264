/*
 * kernels-ref.c: the scalar reference dot products.
 *
 * Written for clarity, straight from the block formulas of quant.h: the
 * integers of each (sub-)block are multiplied and summed exactly, then
 * scaled in float, block after block.  The K-quant mins are applied from
 * the activation values themselves, not from Q8_K's bsums, so that a
 * SIMD kernel that trusts bsums is checked against one that does not.
 * Float weights are summed in double.  The SIMD levels are tested against
 * these functions, and a machine without AVX2 runs them.
 */
#include <stddef.h>
#include <stdint.h>

#include "inference/kernels.h"
#include "inference/quant.h"

static float dot_f32(int64_t, const float *, const float *);
static float dot_f16(int64_t, const uint16_t *, const float *);
static float dot_bf16(int64_t, const uint16_t *, const float *);
static float dot_q8_0(
    int64_t, const struct quant_block_q8_0 *, const struct quant_block_q8_0 *);
static float dot_q4_0(
    int64_t, const struct quant_block_q4_0 *, const struct quant_block_q8_0 *);
static float dot_q5_0(
    int64_t, const struct quant_block_q5_0 *, const struct quant_block_q8_0 *);
static float dot_q4_K(
    int64_t, const struct quant_block_q4_K *, const struct quant_block_q8_K *);
static float dot_q5_K(
    int64_t, const struct quant_block_q5_K *, const struct quant_block_q8_K *);
static float dot_q6_K(
    int64_t, const struct quant_block_q6_K *, const struct quant_block_q8_K *);

/* Activation row j of a tile. */
#define ACT_ROW(x, stride, j) \
	((const void *)((const char *)(x) + (j) * (stride)))

static float
dot_f32(int64_t n, const float *w, const float *x)
{
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)w[i] * (double)x[i];
	return (float)sum;
}

static float
dot_f16(int64_t n, const uint16_t *w, const float *x)
{
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)quant_fp16_to_fp32(w[i]) * (double)x[i];
	return (float)sum;
}

static float
dot_bf16(int64_t n, const uint16_t *w, const float *x)
{
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)quant_bf16_to_fp32(w[i]) * (double)x[i];
	return (float)sum;
}

static float
dot_q8_0(int64_t n, const struct quant_block_q8_0 *w,
    const struct quant_block_q8_0 *x)
{
	float sum = 0;
	int isum;

	for (int64_t b = 0; b < n / INFER_QK; b++) {
		isum = 0;
		for (int j = 0; j < INFER_QK; j++)
			isum += w[b].qs[j] * x[b].qs[j];
		sum += quant_fp16_to_fp32(w[b].d) * quant_fp16_to_fp32(x[b].d) *
		    (float)isum;
	}
	return sum;
}

static float
dot_q4_0(int64_t n, const struct quant_block_q4_0 *w,
    const struct quant_block_q8_0 *x)
{
	float sum = 0;
	int isum;

	for (int64_t b = 0; b < n / INFER_QK; b++) {
		isum = 0;
		for (int j = 0; j < INFER_QK / 2; j++) {
			isum += ((w[b].qs[j] & 0xf) - 8) * x[b].qs[j];
			isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + 16];
		}
		sum += quant_fp16_to_fp32(w[b].d) * quant_fp16_to_fp32(x[b].d) *
		    (float)isum;
	}
	return sum;
}

static float
dot_q5_0(int64_t n, const struct quant_block_q5_0 *w,
    const struct quant_block_q8_0 *x)
{
	float sum = 0;
	uint32_t qh;
	int isum, lo, hi;

	for (int64_t b = 0; b < n / INFER_QK; b++) {
		qh = (uint32_t)w[b].qh[0] | (uint32_t)w[b].qh[1] << 8 |
		    (uint32_t)w[b].qh[2] << 16 | (uint32_t)w[b].qh[3] << 24;
		isum = 0;
		for (int j = 0; j < INFER_QK / 2; j++) {
			lo = (w[b].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
			hi = (w[b].qs[j] >> 4) |
			    (int)((qh >> (j + 16)) & 1) << 4;
			isum += (lo - 16) * x[b].qs[j];
			isum += (hi - 16) * x[b].qs[j + 16];
		}
		sum += quant_fp16_to_fp32(w[b].d) * quant_fp16_to_fp32(x[b].d) *
		    (float)isum;
	}
	return sum;
}

static float
dot_q4_K(int64_t n, const struct quant_block_q4_K *w,
    const struct quant_block_q8_K *x)
{
	float sum = 0;
	int sumi, summ, isum, xsum;
	uint8_t sc, m;

	for (int64_t b = 0; b < n / INFER_QK_K; b++) {
		const int8_t *a = x[b].qs;

		sumi = 0;
		summ = 0;
		for (int j = 0; j < 8; j++) {
			/* sub-block j: chunk j / 2, low or high nibbles */
			const uint8_t *q = w[b].qs + 32 * (j / 2);
			int shift = 4 * (j % 2);

			quant_get_scale_min_k4(j, w[b].scales, &sc, &m);
			isum = 0;
			xsum = 0;
			for (int l = 0; l < 32; l++) {
				isum += ((q[l] >> shift) & 0xf) * a[32 * j + l];
				xsum += a[32 * j + l];
			}
			sumi += sc * isum;
			summ += m * xsum;
		}
		sum += x[b].d * quant_fp16_to_fp32(w[b].d) * (float)sumi -
		    x[b].d * quant_fp16_to_fp32(w[b].dmin) * (float)summ;
	}
	return sum;
}

static float
dot_q5_K(int64_t n, const struct quant_block_q5_K *w,
    const struct quant_block_q8_K *x)
{
	float sum = 0;
	int sumi, summ, isum, xsum, q5;
	uint8_t sc, m;

	for (int64_t b = 0; b < n / INFER_QK_K; b++) {
		const int8_t *a = x[b].qs;

		sumi = 0;
		summ = 0;
		for (int j = 0; j < 8; j++) {
			const uint8_t *q = w[b].qs + 32 * (j / 2);
			int shift = 4 * (j % 2);

			quant_get_scale_min_k4(j, w[b].scales, &sc, &m);
			isum = 0;
			xsum = 0;
			for (int l = 0; l < 32; l++) {
				q5 = ((q[l] >> shift) & 0xf) |
				    ((w[b].qh[l] >> j) & 1) << 4;
				isum += q5 * a[32 * j + l];
				xsum += a[32 * j + l];
			}
			sumi += sc * isum;
			summ += m * xsum;
		}
		sum += x[b].d * quant_fp16_to_fp32(w[b].d) * (float)sumi -
		    x[b].d * quant_fp16_to_fp32(w[b].dmin) * (float)summ;
	}
	return sum;
}

static float
dot_q6_K(int64_t n, const struct quant_block_q6_K *w,
    const struct quant_block_q8_K *x)
{
	float sum = 0;
	int sumi, isum, q6;

	for (int64_t b = 0; b < n / INFER_QK_K; b++) {
		sumi = 0;
		/* sub-block i: 16 elements of half i / 8, group (i % 8) / 2 */
		for (int i = 0; i < 16; i++) {
			int h = i / 8, g = (i % 8) / 2;
			const uint8_t *ql = w[b].ql + 64 * h + 32 * (g % 2);
			const uint8_t *qh = w[b].qh + 32 * h;
			int lshift = 4 * (g / 2), hshift = 2 * g;
			int off = 16 * (i % 2);

			isum = 0;
			for (int l = 0; l < 16; l++) {
				q6 = ((ql[off + l] >> lshift) & 0xf) |
				    ((qh[off + l] >> hshift) & 3) << 4;
				isum += (q6 - 32) * x[b].qs[16 * i + l];
			}
			sumi += w[b].scales[i] * isum;
		}
		sum += x[b].d * quant_fp16_to_fp32(w[b].d) * (float)sumi;
	}
	return sum;
}

void
kern_dot_f32_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_f32(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_f16_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_f16(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_bf16_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_bf16(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q8_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q8_0(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q4_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q4_0(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q5_0_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q5_0(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q4_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q4_K(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q5_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q5_K(n, w, ACT_ROW(x, x_stride, j));
}

void
kern_dot_q6_K_ref(
    int64_t n, const void *w, const void *x, size_t x_stride, int nr, float *s)
{
	for (int j = 0; j < nr; j++)
		s[j] = dot_q6_K(n, w, ACT_ROW(x, x_stride, j));
}

static void
quantize_q8_0_ref(const float *x, void *y, int64_t n)
{
	quant_quantize_row_q8_0(x, y, n);
}

static void
quantize_q8_K_ref(const float *x, void *y, int64_t n)
{
	quant_quantize_row_q8_K(x, y, n);
}

const struct kern_ops kern_ops_ref = {
	.dot = {
		[INFER_TYPE_F32] = kern_dot_f32_ref,
		[INFER_TYPE_F16] = kern_dot_f16_ref,
		[INFER_TYPE_BF16] = kern_dot_bf16_ref,
		[INFER_TYPE_Q8_0] = kern_dot_q8_0_ref,
		[INFER_TYPE_Q4_0] = kern_dot_q4_0_ref,
		[INFER_TYPE_Q5_0] = kern_dot_q5_0_ref,
		[INFER_TYPE_Q4_K] = kern_dot_q4_K_ref,
		[INFER_TYPE_Q5_K] = kern_dot_q5_K_ref,
		[INFER_TYPE_Q6_K] = kern_dot_q6_K_ref,
	},
	.quantize_q8_0 = quantize_q8_0_ref,
	.quantize_q8_K = quantize_q8_K_ref,
};
