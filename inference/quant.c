/*
 * quant.c: rows of the supported tensor types to and from F32.
 *
 * The block layouts and value formulas are documented in quant.h.  The
 * dequantizers follow the formulas literally.  The quantizers fit each
 * block by least squares: they try a few dozen candidate scales around
 * the obvious one (the one that maps the largest magnitude to the end of
 * the integer range), choose integers for each, solve for the scale (and
 * min) that fits those integers best, and keep the candidate with the
 * smallest squared error.  Scales are then rounded to what the block
 * stores, and the integers are chosen again against the rounded scales,
 * so that what is written is the best the stored scales allow.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/quant.h"

static_assert(sizeof(struct quant_block_q8_0) == 34, "q8_0 block size");
static_assert(sizeof(struct quant_block_q4_0) == 18, "q4_0 block size");
static_assert(sizeof(struct quant_block_q5_0) == 22, "q5_0 block size");
static_assert(sizeof(struct quant_block_q4_K) == 144, "q4_K block size");
static_assert(sizeof(struct quant_block_q5_K) == 176, "q5_K block size");
static_assert(sizeof(struct quant_block_q6_K) == 210, "q6_K block size");
static_assert(sizeof(struct quant_block_q8_K) == 292, "q8_K block size");
static_assert(offsetof(struct quant_block_q6_K, d) == 208, "q6_K d offset");
static_assert(
    offsetof(struct quant_block_q8_K, bsums) == 260, "q8_K bsums offset");

/* Candidate scales tried on each side of the obvious one, 0.1 apart. */
#define QUANT_SEARCH_STEPS 10

static void quant_error(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int nearest(float v);
static int clampi(int v, int lo, int hi);
static inline float round_clamp(float x, float lo, float hi);
static float fit_symmetric(const float *x, size_t n, int nneg);
static float fit_affine(const float *x, size_t n, int nmax, float *min);
static void dequant_q8_0(const struct quant_block_q8_0 *, float *, int64_t);
static void dequant_q4_0(const struct quant_block_q4_0 *, float *, int64_t);
static void dequant_q5_0(const struct quant_block_q5_0 *, float *, int64_t);
static void dequant_q4_K(const struct quant_block_q4_K *, float *, int64_t);
static void dequant_q5_K(const struct quant_block_q5_K *, float *, int64_t);
static void dequant_q6_K(const struct quant_block_q6_K *, float *, int64_t);
static void dequant_q8_K(const struct quant_block_q8_K *, float *, int64_t);
static int quant_q4_0(
    const float *, struct quant_block_q4_0 *, int64_t, char **);
static int quant_q5_0(
    const float *, struct quant_block_q5_0 *, int64_t, char **);
static int quant_kquant(uint32_t, const float *, void *, int64_t, char **);
static int quant_q6_K(
    const float *, struct quant_block_q6_K *, int64_t, char **);

static void
quant_error(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/*
 * Rounds half to even (the default rounding mode); v must be finite and
 * within the int range.  Below 2^22 in magnitude, adding 1.5 * 2^23 puts
 * the integer part in the low mantissa bits, rounded by the addition
 * itself: much faster than a call to rintf(), which baseline x86-64
 * cannot inline.
 */
static int
nearest(float v)
{
	float r;
	int32_t i;

	if (fabsf(v) < 0x1p22f) {
		r = v + 0x1.8p23f;
		memcpy(&i, &r, sizeof i);
		return (i & 0x007fffff) - 0x00400000;
	}
	r = rintf(v);
	return (int)r;
}

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

bool
quant_can_dequantize(uint32_t type)
{
	switch (type) {
	case INFER_TYPE_F32:
	case INFER_TYPE_F16:
	case INFER_TYPE_BF16:
	case INFER_TYPE_Q8_0:
	case INFER_TYPE_Q4_0:
	case INFER_TYPE_Q5_0:
	case INFER_TYPE_Q4_K:
	case INFER_TYPE_Q5_K:
	case INFER_TYPE_Q6_K:
	case INFER_TYPE_Q8_K:
		return true;
	default:
		return false;
	}
}

bool
quant_can_quantize(uint32_t type)
{
	return quant_can_dequantize(type);
}

int
quant_row_check(uint32_t type, int64_t n, char **cause)
{
	uint32_t bs;

	if (!quant_can_dequantize(type)) {
		quant_error(cause, "tensor type %s (%u) is not supported",
		    infer_type_name(type), type);
		return -1;
	}
	bs = infer_type_block_size(type);
	if (n <= 0 || n % bs != 0) {
		quant_error(cause,
		    "%s row of %lld elements: not a positive multiple of the "
		    "block size %u",
		    infer_type_name(type), (long long)n, bs);
		return -1;
	}
	return 0;
}

/* ---- dequantization --------------------------------------------------- */

static void
dequant_q8_0(const struct quant_block_q8_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);

		for (int j = 0; j < INFER_QK; j++)
			y[i * INFER_QK + j] = d * (float)x[i].qs[j];
	}
}

static void
dequant_q4_0(const struct quant_block_q4_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);
		float *o = y + i * INFER_QK;

		for (int j = 0; j < INFER_QK / 2; j++) {
			o[j] = d * (float)((x[i].qs[j] & 0xf) - 8);
			o[j + 16] = d * (float)((x[i].qs[j] >> 4) - 8);
		}
	}
}

static void
dequant_q5_0(const struct quant_block_q5_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);
		float *o = y + i * INFER_QK;
		uint32_t qh;
		int lo, hi;

		/* a little-endian word: bit j belongs to element j */
		qh = (uint32_t)x[i].qh[0] | (uint32_t)x[i].qh[1] << 8 |
		    (uint32_t)x[i].qh[2] << 16 | (uint32_t)x[i].qh[3] << 24;
		for (int j = 0; j < INFER_QK / 2; j++) {
			lo = (x[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
			hi = (x[i].qs[j] >> 4) |
			    (int)((qh >> (j + 16)) & 1) << 4;
			o[j] = d * (float)(lo - 16);
			o[j + 16] = d * (float)(hi - 16);
		}
	}
}

static void
dequant_q4_K(const struct quant_block_q4_K *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);
		float dmin = quant_fp16_to_fp32(x[i].dmin);
		float *o = y + i * INFER_QK_K;
		const uint8_t *q = x[i].qs;
		uint8_t sc, m;
		float d1, m1, d2, m2;

		/* 4 chunks of 64: two sub-blocks share 32 bytes */
		for (int c = 0; c < 4; c++) {
			quant_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = dmin * m;
			quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = dmin * m;
			for (int l = 0; l < 32; l++) {
				o[64 * c + l] =
				    d1 * (float)(q[32 * c + l] & 0xf) - m1;
				o[64 * c + 32 + l] =
				    d2 * (float)(q[32 * c + l] >> 4) - m2;
			}
		}
	}
}

static void
dequant_q5_K(const struct quant_block_q5_K *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);
		float dmin = quant_fp16_to_fp32(x[i].dmin);
		float *o = y + i * INFER_QK_K;
		const uint8_t *q = x[i].qs, *qh = x[i].qh;
		uint8_t sc, m;
		float d1, m1, d2, m2;
		int lo, hi;

		for (int c = 0; c < 4; c++) {
			quant_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = dmin * m;
			quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = dmin * m;
			for (int l = 0; l < 32; l++) {
				lo = (q[32 * c + l] & 0xf) |
				    ((qh[l] >> (2 * c)) & 1) << 4;
				hi = (q[32 * c + l] >> 4) |
				    ((qh[l] >> (2 * c + 1)) & 1) << 4;
				o[64 * c + l] = d1 * (float)lo - m1;
				o[64 * c + 32 + l] = d2 * (float)hi - m2;
			}
		}
	}
}

static void
dequant_q6_K(const struct quant_block_q6_K *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_fp32(x[i].d);

		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h;
			const uint8_t *qh = x[i].qh + 32 * h;
			const int8_t *sc = x[i].scales + 8 * h;
			float *o = y + i * INFER_QK_K + 128 * h;
			int q1, q2, q3, q4, is;

			for (int l = 0; l < 32; l++) {
				is = l / 16;
				q1 = ((ql[l] & 0xf) | (qh[l] & 3) << 4) - 32;
				q2 = ((ql[l + 32] & 0xf) |
				         ((qh[l] >> 2) & 3) << 4) -
				    32;
				q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) -
				    32;
				q4 = ((ql[l + 32] >> 4) |
				         ((qh[l] >> 6) & 3) << 4) -
				    32;
				o[l] = d * (float)sc[is] * (float)q1;
				o[l + 32] = d * (float)sc[is + 2] * (float)q2;
				o[l + 64] = d * (float)sc[is + 4] * (float)q3;
				o[l + 96] = d * (float)sc[is + 6] * (float)q4;
			}
		}
	}
}

static void
dequant_q8_K(const struct quant_block_q8_K *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		for (int j = 0; j < INFER_QK_K; j++)
			y[i * INFER_QK_K + j] = x[i].d * (float)x[i].qs[j];
	}
}

int
quant_dequantize_row(
    uint32_t type, const void *src, float *dst, int64_t n, char **cause)
{
	const uint16_t *h = src;

	if (quant_row_check(type, n, cause) != 0)
		return -1;
	switch (type) {
	case INFER_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof *dst);
		break;
	case INFER_TYPE_F16:
		for (int64_t i = 0; i < n; i++)
			dst[i] = quant_fp16_to_fp32(h[i]);
		break;
	case INFER_TYPE_BF16:
		for (int64_t i = 0; i < n; i++)
			dst[i] = quant_bf16_to_fp32(h[i]);
		break;
	case INFER_TYPE_Q8_0:
		dequant_q8_0(src, dst, n / INFER_QK);
		break;
	case INFER_TYPE_Q4_0:
		dequant_q4_0(src, dst, n / INFER_QK);
		break;
	case INFER_TYPE_Q5_0:
		dequant_q5_0(src, dst, n / INFER_QK);
		break;
	case INFER_TYPE_Q4_K:
		dequant_q4_K(src, dst, n / INFER_QK_K);
		break;
	case INFER_TYPE_Q5_K:
		dequant_q5_K(src, dst, n / INFER_QK_K);
		break;
	case INFER_TYPE_Q6_K:
		dequant_q6_K(src, dst, n / INFER_QK_K);
		break;
	case INFER_TYPE_Q8_K:
		dequant_q8_K(src, dst, n / INFER_QK_K);
		break;
	}
	return 0;
}

/* ---- fitting ---------------------------------------------------------- */

/*
 * x rounded half to even, then clamped to [lo, hi]; |x| < 2^22.  Adding
 * and subtracting 1.5 * 2^23 rounds in the float unit (rintf() is a call
 * on baseline x86-64), and the whole stays in floats: this is the inner
 * loop of the searches below.
 */
static inline float
round_clamp(float x, float lo, float hi)
{
	float r = (x + 0x1.8p23f) - 0x1.8p23f;

	return r < lo ? lo : r > hi ? hi : r;
}

/*
 * Fits x[i] ~ d * l[i] with integers l[i] in [-nneg, nneg - 1] and
 * returns d (0 for an all-zero block); the caller chooses the integers
 * against d once it is rounded to what the block stores.  The candidates
 * map the element of largest magnitude to -(nneg + k / 10) and to
 * nneg - 1 + k / 10 for k in [-QUANT_SEARCH_STEPS, QUANT_SEARCH_STEPS];
 * for integers l the best d is sum(x l) / sum(l l), which leaves the
 * squared error sum(x x) - sum(x l)^2 / sum(l l), so the candidate with
 * the largest sum(x l)^2 / sum(l l) wins.
 */
static float
fit_symmetric(const float *x, size_t n, int nneg)
{
	float amax = 0, xm = 0, best = 0, d = 0;
	float lo = (float)-nneg, hi = (float)(nneg - 1);
	float iscale, sxl, sll, l;

	for (size_t i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			xm = x[i];
		}
	}
	if (amax == 0)
		return 0;
	for (int side = 0; side < 2; side++) {
		for (int k = -QUANT_SEARCH_STEPS; k <= QUANT_SEARCH_STEPS;
		     k++) {
			if (side == 0)
				iscale = -(-lo + 0.1f * (float)k) / xm;
			else
				iscale = (hi + 0.1f * (float)k) / xm;
			sxl = 0;
			sll = 0;
			for (size_t i = 0; i < n; i++) {
				l = round_clamp(iscale * x[i], lo, hi);
				sxl += x[i] * l;
				sll += l * l;
			}
			if (sll > 0 && sxl * sxl > best * sll) {
				best = sxl * sxl / sll;
				d = sxl / sll;
			}
		}
	}
	return d;
}

/*
 * Fits x[i] ~ scale * l[i] - min with integers l[i] in [0, nmax], scale
 * >= 0 and min >= 0 (a block whose values are all positive gets min 0,
 * as the format requires), and returns scale; the caller chooses the
 * integers once the scale and min are rounded.  The candidates spread
 * [lo, hi] (lo = min(0, min x), hi = max x) over nmax + k / 10 steps; for
 * each, the integers are rounded and (scale, min) solved by least
 * squares; the candidate with the smallest squared error wins.  The error
 * comes from the sums: sum (s l + o - x)^2 = s^2 Sll + 2 s o Sl - 2 s Sxl
 * + n o^2 - 2 o Sx + Sxx.
 */
static float
fit_affine(const float *x, size_t n, int nmax, float *min)
{
	float lo = 0, hi = 0, scale = 0, iscale, l, fmax = (float)nmax;
	float sl, sll, sxl, sx = 0, sxx = 0;
	double s, o, den, err, best = INFINITY;

	for (size_t i = 0; i < n; i++) {
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
		sx += x[i];
		sxx += x[i] * x[i];
	}
	*min = -lo;
	if (hi <= lo)
		return 0;
	for (int k = -QUANT_SEARCH_STEPS; k <= QUANT_SEARCH_STEPS; k++) {
		iscale = (fmax + 0.1f * (float)k) / (hi - lo);
		sl = sll = sxl = 0;
		for (size_t i = 0; i < n; i++) {
			l = round_clamp(iscale * (x[i] - lo), 0, fmax);
			sl += l;
			sll += l * l;
			sxl += x[i] * l;
		}
		/* least squares for x ~ s l + o */
		den = (double)n * sll - (double)sl * sl;
		if (den > 0) {
			s = ((double)n * sxl - (double)sl * sx) / den;
			o = ((double)sll * sx - (double)sl * sxl) / den;
		} else {
			/* all integers equal: only the offset can fit */
			s = 0;
			o = (double)sx / (double)n;
		}
		if (o > 0) {
			/* the format has no positive offset */
			o = 0;
			s = sll > 0 ? (double)sxl / sll : 0;
		}
		if (s < 0)
			continue;
		err = s * s * sll + 2 * s * o * sl - 2 * s * sxl +
		    (double)n * o * o - 2 * o * sx + sxx;
		if (err < best) {
			best = err;
			scale = (float)s;
			*min = (float)-o;
		}
	}
	return scale;
}

/* ---- quantization ----------------------------------------------------- */

void
quant_quantize_row_q8_0(const float *x, struct quant_block_q8_0 *y, int64_t n)
{
	for (int64_t i = 0; i < n / INFER_QK; i++) {
		const float *b = x + i * INFER_QK;
		float amax = 0, id, v;

		for (int j = 0; j < INFER_QK; j++)
			amax = fmaxf(amax, fabsf(b[j]));
		id = amax != 0 ? 127.0f / amax : 0.0f;
		y[i].d = quant_fp32_to_fp16(amax / 127.0f);
		for (int j = 0; j < INFER_QK; j++) {
			v = fminf(fmaxf(b[j] * id, -127.0f), 127.0f);
			y[i].qs[j] = (int8_t)nearest(v);
		}
	}
}

void
quant_quantize_row_q8_K(const float *x, struct quant_block_q8_K *y, int64_t n)
{
	for (int64_t i = 0; i < n / INFER_QK_K; i++) {
		const float *b = x + i * INFER_QK_K;
		float amax = 0, id, v;
		int sum;

		for (int j = 0; j < INFER_QK_K; j++)
			amax = fmaxf(amax, fabsf(b[j]));
		id = amax != 0 ? 127.0f / amax : 0.0f;
		y[i].d = amax / 127.0f;
		for (int j = 0; j < INFER_QK_K; j++) {
			v = fminf(fmaxf(b[j] * id, -127.0f), 127.0f);
			y[i].qs[j] = (int8_t)nearest(v);
		}
		for (int g = 0; g < INFER_QK_K / 16; g++) {
			sum = 0;
			for (int j = 0; j < 16; j++)
				sum += y[i].qs[16 * g + j];
			y[i].bsums[g] = (int16_t)sum;
		}
	}
}

static int
quant_q4_0(const float *x, struct quant_block_q4_0 *y, int64_t n, char **cause)
{
	int8_t l[INFER_QK];
	float d;
	int a, b;

	for (int64_t i = 0; i < n / INFER_QK; i++) {
		const float *v = x + i * INFER_QK;

		d = fit_symmetric(v, INFER_QK, 8);
		y[i].d = quant_fp32_to_fp16(d);
		d = quant_fp16_to_fp32(y[i].d);
		if (!isfinite(d)) {
			quant_error(cause,
			    "q4_0 block %lld: scale overflows a half float",
			    (long long)i);
			return -1;
		}
		for (int j = 0; j < INFER_QK; j++)
			l[j] = d != 0 ? (int8_t)clampi(nearest(v[j] / d), -8, 7)
			              : 0;
		for (int j = 0; j < INFER_QK / 2; j++) {
			a = l[j] + 8;
			b = l[j + 16] + 8;
			y[i].qs[j] = (uint8_t)(a | b << 4);
		}
	}
	return 0;
}

static int
quant_q5_0(const float *x, struct quant_block_q5_0 *y, int64_t n, char **cause)
{
	int8_t l[INFER_QK];
	uint32_t qh;
	float d;
	int a, b;

	for (int64_t i = 0; i < n / INFER_QK; i++) {
		const float *v = x + i * INFER_QK;

		d = fit_symmetric(v, INFER_QK, 16);
		y[i].d = quant_fp32_to_fp16(d);
		d = quant_fp16_to_fp32(y[i].d);
		if (!isfinite(d)) {
			quant_error(cause,
			    "q5_0 block %lld: scale overflows a half float",
			    (long long)i);
			return -1;
		}
		qh = 0;
		for (int j = 0; j < INFER_QK; j++)
			l[j] = d != 0
			    ? (int8_t)clampi(nearest(v[j] / d), -16, 15)
			    : 0;
		for (int j = 0; j < INFER_QK / 2; j++) {
			a = l[j] + 16;
			b = l[j + 16] + 16;
			y[i].qs[j] = (uint8_t)((a & 0xf) | (b & 0xf) << 4);
			qh |= (uint32_t)(a >> 4) << j;
			qh |= (uint32_t)(b >> 4) << (j + 16);
		}
		for (int k = 0; k < 4; k++)
			y[i].qh[k] = (uint8_t)(qh >> (8 * k));
	}
	return 0;
}

/*
 * Q4_K and Q5_K: fit each sub-block of 32 (scale and min), store the 16
 * numbers as 6-bit multiples of the two half-float super-block scales,
 * then choose every integer against the stored scale and min.
 */
static int
quant_kquant(uint32_t type, const float *x, void *dst, int64_t n, char **cause)
{
	struct quant_block_q4_K *y4 = dst;
	struct quant_block_q5_K *y5 = dst;
	int nmax = type == INFER_TYPE_Q4_K ? 15 : 31;
	uint8_t l[INFER_QK_K], ls[8], lm[8];
	float scales[8], mins[8], max_scale, max_min, d, dmin, ds, dm;
	uint16_t d16, dmin16;
	uint8_t *sp, *qs, *qh;
	int q1, q2;

	for (int64_t i = 0; i < n / INFER_QK_K; i++) {
		const float *v = x + i * INFER_QK_K;

		max_scale = 0;
		max_min = 0;
		for (int j = 0; j < 8; j++) {
			scales[j] = fit_affine(v + 32 * j, 32, nmax, &mins[j]);
			max_scale = fmaxf(max_scale, scales[j]);
			max_min = fmaxf(max_min, mins[j]);
		}
		d16 = quant_fp32_to_fp16(max_scale / 63.0f);
		dmin16 = quant_fp32_to_fp16(max_min / 63.0f);
		d = quant_fp16_to_fp32(d16);
		dmin = quant_fp16_to_fp32(dmin16);
		if (!isfinite(d) || !isfinite(dmin)) {
			quant_error(cause,
			    "%s block %lld: scale overflows a half float",
			    infer_type_name(type), (long long)i);
			return -1;
		}
		for (int j = 0; j < 8; j++) {
			ls[j] = d > 0
			    ? (uint8_t)clampi(nearest(scales[j] / d), 0, 63)
			    : 0;
			lm[j] = dmin > 0
			    ? (uint8_t)clampi(nearest(mins[j] / dmin), 0, 63)
			    : 0;
		}
		/* the integers, against the stored scale and min */
		for (int j = 0; j < 8; j++) {
			ds = d * ls[j];
			dm = dmin * lm[j];
			for (int k = 0; k < 32; k++) {
				l[32 * j + k] = ds > 0
				    ? (uint8_t)clampi(
				          nearest((v[32 * j + k] + dm) / ds), 0,
				          nmax)
				    : 0;
			}
		}
		if (type == INFER_TYPE_Q4_K) {
			y4[i].d = d16;
			y4[i].dmin = dmin16;
			sp = y4[i].scales;
			qs = y4[i].qs;
			qh = NULL;
		} else {
			y5[i].d = d16;
			y5[i].dmin = dmin16;
			sp = y5[i].scales;
			qs = y5[i].qs;
			qh = y5[i].qh;
			memset(qh, 0, INFER_QK_K / 8);
		}
		/* 6-bit scales and mins into 12 bytes (see quant.h) */
		for (int j = 0; j < 4; j++) {
			sp[j] = ls[j];
			sp[j + 4] = lm[j];
		}
		for (int j = 4; j < 8; j++) {
			sp[j + 4] =
			    (uint8_t)((ls[j] & 0xf) | (lm[j] & 0xf) << 4);
			sp[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
			sp[j] |= (uint8_t)((lm[j] >> 4) << 6);
		}
		/* chunk c: sub-block 2c low nibbles, 2c + 1 high nibbles */
		for (int c = 0; c < 4; c++) {
			for (int k = 0; k < 32; k++) {
				q1 = l[64 * c + k];
				q2 = l[64 * c + 32 + k];
				qs[32 * c + k] =
				    (uint8_t)((q1 & 0xf) | (q2 & 0xf) << 4);
				if (qh != NULL)
					qh[k] |=
					    (uint8_t)((q1 >> 4) << (2 * c) |
					        (q2 >> 4) << (2 * c + 1));
			}
		}
	}
	return 0;
}

/*
 * Q6_K: fit each sub-block of 16 symmetrically, store the 16 scales as
 * int8 multiples of one half-float scale (the largest maps to -128), then
 * choose every integer against the stored scales.
 */
static int
quant_q6_K(const float *x, struct quant_block_q6_K *y, int64_t n, char **cause)
{
	int8_t l[INFER_QK_K];
	float scales[16], smax, amax, iscale, d, ds;
	int q1, q2, q3, q4;

	for (int64_t i = 0; i < n / INFER_QK_K; i++) {
		const float *v = x + i * INFER_QK_K;

		smax = 0;
		amax = 0;
		for (int j = 0; j < 16; j++) {
			scales[j] = fit_symmetric(v + 16 * j, 16, 32);
			if (fabsf(scales[j]) > amax) {
				amax = fabsf(scales[j]);
				smax = scales[j];
			}
		}
		iscale = amax > 0 ? -128.0f / smax : 0;
		y[i].d = quant_fp32_to_fp16(amax > 0 ? 1.0f / iscale : 0);
		d = quant_fp16_to_fp32(y[i].d);
		if (!isfinite(d)) {
			quant_error(cause,
			    "q6_K block %lld: scale overflows a half float",
			    (long long)i);
			return -1;
		}
		for (int j = 0; j < 16; j++) {
			y[i].scales[j] = d != 0
			    ? (int8_t)clampi(nearest(scales[j] / d), -128, 127)
			    : 0;
			ds = d * (float)y[i].scales[j];
			for (int k = 0; k < 16; k++) {
				l[16 * j + k] = (int8_t)(ds != 0
				        ? clampi(nearest(v[16 * j + k] / ds),
				              -32, 31) +
				            32
				        : 32);
			}
		}
		memset(y[i].qh, 0, sizeof y[i].qh);
		for (int h = 0; h < 2; h++) {
			uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
			const int8_t *lh = l + 128 * h;

			for (int k = 0; k < 32; k++) {
				q1 = lh[k];
				q2 = lh[k + 32];
				q3 = lh[k + 64];
				q4 = lh[k + 96];
				ql[k] = (uint8_t)((q1 & 0xf) | (q3 & 0xf) << 4);
				ql[k + 32] =
				    (uint8_t)((q2 & 0xf) | (q4 & 0xf) << 4);
				qh[k] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 |
				    (q3 >> 4) << 4 | (q4 >> 4) << 6);
			}
		}
	}
	return 0;
}

int
quant_quantize_row(
    uint32_t type, const float *src, void *dst, int64_t n, char **cause)
{
	const struct quant_block_q8_0 *q8 = dst;
	uint16_t *h = dst;
	uint16_t inf;

	if (quant_row_check(type, n, cause) != 0)
		return -1;
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(src[i])) {
			quant_error(cause, "element %lld is %s", (long long)i,
			    isnan(src[i]) ? "nan" : "infinite");
			return -1;
		}
	}
	switch (type) {
	case INFER_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof *src);
		return 0;
	case INFER_TYPE_F16:
	case INFER_TYPE_BF16:
		for (int64_t i = 0; i < n; i++) {
			if (type == INFER_TYPE_F16) {
				h[i] = quant_fp32_to_fp16(src[i]);
				inf = 0x7c00;
			} else {
				h[i] = quant_fp32_to_bf16(src[i]);
				inf = 0x7f80;
			}
			if ((h[i] & 0x7fff) == inf) {
				quant_error(cause,
				    "element %lld (%g) overflows %s",
				    (long long)i, (double)src[i],
				    infer_type_name(type));
				return -1;
			}
		}
		return 0;
	case INFER_TYPE_Q8_0:
		quant_quantize_row_q8_0(src, dst, n);
		for (int64_t i = 0; i < n / INFER_QK; i++) {
			if (!isfinite(quant_fp16_to_fp32(q8[i].d))) {
				quant_error(cause,
				    "q8_0 block %lld: scale overflows a half "
				    "float",
				    (long long)i);
				return -1;
			}
		}
		return 0;
	case INFER_TYPE_Q4_0:
		return quant_q4_0(src, dst, n, cause);
	case INFER_TYPE_Q5_0:
		return quant_q5_0(src, dst, n, cause);
	case INFER_TYPE_Q4_K:
	case INFER_TYPE_Q5_K:
		return quant_kquant(type, src, dst, n, cause);
	case INFER_TYPE_Q6_K:
		return quant_q6_K(src, dst, n, cause);
	case INFER_TYPE_Q8_K:
		quant_quantize_row_q8_K(src, dst, n);
		return 0;
	}
	return 0;
}
