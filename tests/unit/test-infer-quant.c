/*
 * test-infer-quant.c: block layouts, half floats and the row converters.
 *
 * The dequantizers are checked on blocks built byte by byte here, against
 * values worked out by hand from ggml's layouts (a quantizer and a
 * dequantizer that share a packing mistake agree with each other; they
 * do not agree with these numbers).  The quantizers are checked by their
 * round-trip error against stated bounds, by how they treat zero,
 * constant and outlier blocks, and by their refusals.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/quant.h"

/*
 * Round-trip bounds: the RMS error over the RMS of the input, for rows of
 * standard normal values (a weight matrix's typical shape).  Each is about
 * 12 % above what the quantizers reach (F16 0.00021, BF16 0.0017, Q8_0
 * 0.0053, Q4_0 0.080, Q5_0 0.040, Q4_K 0.071, Q5_K 0.036, Q6_K 0.017), so
 * that a regression in the fitting shows.  Q8_0 is the plain rule (its
 * error is the rounding step over sqrt(12)); the others are below what
 * the plain rule gives (Q4_0 about 0.10).
 */
#define RT_F16  0.00024
#define RT_BF16 0.0019
#define RT_Q8_0 0.0060
#define RT_Q4_0 0.090
#define RT_Q5_0 0.045
#define RT_Q4_K 0.080
#define RT_Q5_K 0.040
#define RT_Q6_K 0.019

#define ROW 4096

static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s;
}

/* splitmix64 */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
rng_uniform(void)
{
	return (double)(rng_next() >> 11) * 0x1p-53;
}

static float
rng_normal(void)
{
	double u = rng_uniform(), v = rng_uniform();

	if (u < 1e-300)
		u = 1e-300;
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static size_t
row_bytes(uint32_t type, int64_t n)
{
	uint64_t size;

	assert_int_equal(infer_type_nbytes(type, (uint64_t)n, &size), 0);
	return (size_t)size;
}

static float
bits_to_float(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof f);
	return f;
}

static uint32_t
float_to_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, sizeof b);
	return b;
}

/* ---- half floats ------------------------------------------------------ */

static void
test_fp16_known(void **state)
{
	(void)state;
	assert_true(quant_fp16_to_fp32(0x3c00) == 1.0f);
	assert_true(quant_fp16_to_fp32(0xc000) == -2.0f);
	assert_true(quant_fp16_to_fp32(0x7bff) == 65504.0f);
	assert_true(quant_fp16_to_fp32(0x0001) == 0x1p-24f);
	assert_true(quant_fp16_to_fp32(0x03ff) == 1023 * 0x1p-24f);
	assert_true(quant_fp16_to_fp32(0x0400) == 0x1p-14f);
	assert_true(quant_fp16_to_fp32(0x3555) == 0.333251953125f);
	assert_true(isinf(quant_fp16_to_fp32(0x7c00)));
	assert_true(isnan(quant_fp16_to_fp32(0x7e00)));
	assert_int_equal(
	    float_to_bits(quant_fp16_to_fp32(0x8000)), 0x80000000u);

	assert_int_equal(quant_fp32_to_fp16(1.0f), 0x3c00);
	assert_int_equal(quant_fp32_to_fp16(-2.0f), 0xc000);
	assert_int_equal(quant_fp32_to_fp16(65504.0f), 0x7bff);
	/* 65519.99 rounds down, 65520 is a tie that rounds to infinity */
	assert_int_equal(quant_fp32_to_fp16(65519.0f), 0x7bff);
	assert_int_equal(quant_fp32_to_fp16(65520.0f), 0x7c00);
	assert_int_equal(quant_fp32_to_fp16(1e10f), 0x7c00);
	assert_int_equal(quant_fp32_to_fp16(-INFINITY), 0xfc00);
	assert_int_equal(quant_fp32_to_fp16(NAN) & 0x7e00, 0x7e00);
	/* ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
	assert_int_equal(quant_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
	assert_int_equal(quant_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
	assert_int_equal(
	    quant_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
	/* subnormals, with their own ties */
	assert_int_equal(quant_fp32_to_fp16(0x1p-24f), 0x0001);
	assert_int_equal(quant_fp32_to_fp16(0x1p-25f), 0x0000);
	assert_int_equal(quant_fp32_to_fp16(3 * 0x1p-25f), 0x0002);
	assert_int_equal(quant_fp32_to_fp16(0x1p-25f + 0x1p-40f), 0x0001);
	assert_int_equal(quant_fp32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400);
	assert_int_equal(quant_fp32_to_fp16(-0.0f), 0x8000);
}

/* Every half converts to a float and back to itself. */
static void
test_fp16_round_trip_all(void **state)
{
	uint16_t back;

	(void)state;
	for (uint32_t h = 0; h < 0x10000; h++) {
		back = quant_fp32_to_fp16(quant_fp16_to_fp32((uint16_t)h));
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0)
			assert_int_equal(back, h | 0x200); /* NaN made quiet */
		else
			assert_int_equal(back, h);
	}
}

/*
 * Float to half picks the nearest half (ties to even) for every float
 * between neighbouring halves: checked against the two candidates.
 */
static void
test_fp16_nearest(void **state)
{
	float f, lo, hi;
	uint16_t h;

	(void)state;
	rng_seed(7);
	for (int i = 0; i < 200000; i++) {
		/* finite floats within the half range, all exponents */
		f = bits_to_float((uint32_t)(rng_next() & 0x477fffff)) *
		    ((rng_next() & 1) != 0 ? -1.0f : 1.0f);
		if (fabsf(f) > 65504.0f)
			continue;
		h = quant_fp32_to_fp16(f);
		lo = quant_fp16_to_fp32(h);
		/* the neighbour on the other side of f */
		hi = quant_fp16_to_fp32(
		    (uint16_t)(fabsf(lo) <= fabsf(f) ? h + 1 : h - 1));
		if ((h & 0x7fff) == 0 && fabsf(lo) > fabsf(f))
			continue;
		assert_true(fabsf(f - lo) <= fabsf(f - hi));
		if (fabsf(f - lo) == fabsf(f - hi))
			assert_int_equal(h & 1, 0);
	}
}

static void
test_bf16(void **state)
{
	(void)state;
	assert_true(quant_bf16_to_fp32(0x3f80) == 1.0f);
	assert_true(quant_bf16_to_fp32(0x4049) == 3.140625f);
	assert_true(quant_bf16_to_fp32(0x0001) == 0x1p-133f);
	assert_int_equal(quant_fp32_to_bf16(1.0f), 0x3f80);
	/* ties to even, in both directions */
	assert_int_equal(quant_fp32_to_bf16(bits_to_float(0x3f808000)), 0x3f80);
	assert_int_equal(quant_fp32_to_bf16(bits_to_float(0x3f818000)), 0x3f82);
	assert_int_equal(quant_fp32_to_bf16(bits_to_float(0x3f808001)), 0x3f81);
	assert_int_equal(quant_fp32_to_bf16(3.14159265f), 0x4049);
	assert_int_equal(quant_fp32_to_bf16(INFINITY), 0x7f80);
	assert_int_equal(quant_fp32_to_bf16(bits_to_float(0x7f7fffff)), 0x7f80);
	assert_int_equal(
	    quant_fp32_to_bf16(bits_to_float(0x7f800001)) & 0x7fc0, 0x7fc0);
}

/* ---- hand-built blocks ------------------------------------------------ */

/* Expected values at chosen positions of a dequantized row. */
struct spot {
	int index;
	float value;
};

static void
check_spots(uint32_t type, const void *block, int64_t n,
    const struct spot *spots, size_t count)
{
	float out[INFER_QK_K];
	char *cause = NULL;

	assert_int_equal(quant_dequantize_row(type, block, out, n, &cause), 0);
	assert_null(cause);
	for (size_t i = 0; i < count; i++) {
		if (out[spots[i].index] != spots[i].value)
			fail_msg("%s element %d: %g, expected %g",
			    infer_type_name(type), spots[i].index,
			    (double)out[spots[i].index],
			    (double)spots[i].value);
	}
}

static void
test_dequant_q8_0(void **state)
{
	struct quant_block_q8_0 b;
	float out[INFER_QK];

	(void)state;
	b.d = 0x3800; /* 0.5 */
	for (int j = 0; j < INFER_QK; j++)
		b.qs[j] = (int8_t)(8 * j - 128);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_Q8_0, &b, out, INFER_QK, NULL), 0);
	for (int j = 0; j < INFER_QK; j++)
		assert_true(out[j] == (float)(4 * j - 64));
}

static void
test_dequant_q4_0(void **state)
{
	struct quant_block_q4_0 b;
	static const struct spot spots[] = {
		{ 0, -16 },
		{ 15, 14 },
		{ 16, 14 },
		{ 31, -16 },
		{ 20, 6 },
	};

	(void)state;
	b.d = 0x4000; /* 2.0 */
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | (15 - j) << 4);
	check_spots(INFER_TYPE_Q4_0, &b, INFER_QK, spots,
	    sizeof spots / sizeof spots[0]);
}

static void
test_dequant_q5_0(void **state)
{
	struct quant_block_q5_0 b;
	/* qh is the little-endian word 0x8133f00f */
	static const struct spot spots[] = {
		{ 0, 0 },      /* nibble 0, bit 0 set: 16 - 16 */
		{ 5, -5.5f },  /* nibble 5, bit 5 clear */
		{ 12, 6 },     /* nibble 12, bit 12 set: 28 - 16 */
		{ 16, 7.5f },  /* high nibble 15, bit 16 set: 31 - 16 */
		{ 18, -1.5f }, /* high nibble 13, bit 18 clear */
		{ 24, 3.5f },  /* high nibble 7, bit 24 set */
		{ 31, 0 },     /* high nibble 0, bit 31 set */
	};

	(void)state;
	b.d = 0x3800; /* 0.5 */
	b.qh[0] = 0x0f;
	b.qh[1] = 0xf0;
	b.qh[2] = 0x33;
	b.qh[3] = 0x81;
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | (15 - j) << 4);
	check_spots(INFER_TYPE_Q5_0, &b, INFER_QK, spots,
	    sizeof spots / sizeof spots[0]);
}

/*
 * The K-quant scale bytes used below hold scales 1, 2, 3, 4, 17, 3, 5, 55
 * and mins 5, 6, 7, 8, 2, 20, 6, 8 (j >= 4 take their top two bits from
 * the top bits of bytes 0-7).
 */
static const uint8_t k_scales[12] = {
	0x41,
	0x02,
	0x03,
	0xc4,
	0x05,
	0x46,
	0x07,
	0x08,
	0x21,
	0x43,
	0x65,
	0x87,
};

static void
test_dequant_q4_K(void **state)
{
	struct quant_block_q4_K b;
	static const struct spot spots[] = {
		{ 0, -2.5f },  /* sub 0: 1 * 0 - 0.5 * 5 */
		{ 33, 25 },    /* sub 1: 2 * 14 - 3 */
		{ 70, 14.5f }, /* sub 2: 3 * 6 - 3.5 */
		{ 127, -4 },   /* sub 3: 4 * 0 - 4 */
		{ 130, 33 },   /* sub 4: 17 * 2 - 1 */
		{ 180, 23 },   /* sub 5: 3 * 11 - 10 */
		{ 200, 37 },   /* sub 6: 5 * 8 - 3 */
		{ 240, 821 },  /* sub 7: 55 * 15 - 4 */
	};

	(void)state;
	b.d = 0x3c00;    /* 1.0 */
	b.dmin = 0x3800; /* 0.5 */
	memcpy(b.scales, k_scales, sizeof b.scales);
	for (int i = 0; i < 128; i++)
		b.qs[i] = (uint8_t)((i & 15) | (15 - (i & 15)) << 4);
	check_spots(INFER_TYPE_Q4_K, &b, INFER_QK_K, spots,
	    sizeof spots / sizeof spots[0]);
}

static void
test_dequant_q5_K(void **state)
{
	struct quant_block_q5_K b;
	/* qh[l] = 1 << (l % 8): element l of sub-block l % 8 gets 16 */
	static const struct spot spots[] = {
		{ 0, 13.5f },  /* sub 0, l 0, bit set: 1 * 16 - 2.5 */
		{ 33, 57 },    /* sub 1, l 1, bit set: 2 * 30 - 3 */
		{ 70, 14.5f }, /* sub 2, l 6, clear: 3 * 6 - 3.5 */
		{ 99, 108 },   /* sub 3, l 3, set: 4 * 28 - 4 */
		{ 132, 339 },  /* sub 4, l 4, set: 17 * 20 - 1 */
		{ 240, 821 },  /* sub 7, l 16, clear: 55 * 15 - 4 */
		{ 247, 1316 }, /* sub 7, l 23, set: 55 * 24 - 4 */
	};

	(void)state;
	b.d = 0x3c00;
	b.dmin = 0x3800;
	memcpy(b.scales, k_scales, sizeof b.scales);
	for (int i = 0; i < 128; i++)
		b.qs[i] = (uint8_t)((i & 15) | (15 - (i & 15)) << 4);
	for (int l = 0; l < 32; l++)
		b.qh[l] = (uint8_t)(1 << (l % 8));
	check_spots(INFER_TYPE_Q5_K, &b, INFER_QK_K, spots,
	    sizeof spots / sizeof spots[0]);
}

static void
test_dequant_q6_K(void **state)
{
	struct quant_block_q6_K b;
	/* d 0.25, scales[i] = i - 8, ql[i] = i, qh bits 0-1 = 0, 2-3 = 1,
	 * 4-5 = 2, 6-7 = 3 */
	static const struct spot spots[] = {
		{ 0, 64 },       /* ql[0] lo 0 | 0: .25 * -8 * -32 */
		{ 17, 54.25f },  /* ql[17] lo 1 | 0: .25 * -7 * -31 */
		{ 40, 12 },      /* ql[40] lo 8 | 16: .25 * -6 * -8 */
		{ 75, 0 },       /* ql[11] hi 0 | 32: .25 * -4 * 0 */
		{ 100, -9 },     /* ql[36] hi 2 | 48: .25 * -2 * 18 */
		{ 150, -6.5f },  /* ql[86] lo 6 | 0: .25 * 1 * -26 */
		{ 200, 4 },      /* ql[72] hi 4 | 32: .25 * 4 * 4 */
		{ 255, 40.25f }, /* ql[127] hi 7 | 48: .25 * 7 * 23 */
	};

	(void)state;
	b.d = 0x3400; /* 0.25 */
	for (int i = 0; i < 16; i++)
		b.scales[i] = (int8_t)(i - 8);
	for (int i = 0; i < 128; i++)
		b.ql[i] = (uint8_t)i;
	memset(b.qh, 0xe4, sizeof b.qh);
	check_spots(INFER_TYPE_Q6_K, &b, INFER_QK_K, spots,
	    sizeof spots / sizeof spots[0]);
}

static void
test_dequant_q8_K_and_floats(void **state)
{
	struct quant_block_q8_K b;
	uint16_t h[4] = { 0x3c00, 0xc000, 0x7bff, 0x0001 };
	uint16_t bf[3] = { 0x3f80, 0x4049, 0xbf80 };
	float f[4] = { 1.5f, -2.25f, 0, 1e30f }, out[INFER_QK_K];

	(void)state;
	b.d = 0.125f;
	for (int j = 0; j < INFER_QK_K; j++)
		b.qs[j] = (int8_t)(j - 128);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_Q8_K, &b, out, INFER_QK_K, NULL),
	    0);
	assert_true(out[0] == -16.0f && out[255] == 15.875f);

	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_F16, h, out, 4, NULL), 0);
	assert_true(out[0] == 1 && out[1] == -2 && out[2] == 65504 &&
	    out[3] == 0x1p-24f);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_BF16, bf, out, 3, NULL), 0);
	assert_true(out[0] == 1 && out[1] == 3.140625f && out[2] == -1);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_F32, f, out, 4, NULL), 0);
	assert_memory_equal(out, f, sizeof f);
}

/* ---- quantizers ------------------------------------------------------- */

/* Relative RMS error of a round trip of x through `type`. */
static double
round_trip_error(uint32_t type, const float *x, int64_t n)
{
	void *q = malloc(row_bytes(type, n));
	float *y = malloc((size_t)n * sizeof *y);
	double se = 0, sx = 0;
	char *cause = NULL;

	assert_non_null(q);
	assert_non_null(y);
	if (quant_quantize_row(type, x, q, n, &cause) != 0)
		fail_msg("quantize %s: %s", infer_type_name(type), cause);
	assert_int_equal(quant_dequantize_row(type, q, y, n, &cause), 0);
	for (int64_t i = 0; i < n; i++) {
		se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
		sx += (double)x[i] * x[i];
	}
	free(q);
	free(y);
	return sqrt(se / sx);
}

static void
test_round_trip_bounds(void **state)
{
	static const struct {
		uint32_t type;
		double bound;
	} cases[] = {
		{ INFER_TYPE_F16, RT_F16 },
		{ INFER_TYPE_BF16, RT_BF16 },
		{ INFER_TYPE_Q8_0, RT_Q8_0 },
		{ INFER_TYPE_Q4_0, RT_Q4_0 },
		{ INFER_TYPE_Q5_0, RT_Q5_0 },
		{ INFER_TYPE_Q4_K, RT_Q4_K },
		{ INFER_TYPE_Q5_K, RT_Q5_K },
		{ INFER_TYPE_Q6_K, RT_Q6_K },
	};
	float *x = malloc(16 * ROW * sizeof *x);
	double e;

	(void)state;
	assert_non_null(x);
	rng_seed(42);
	for (int i = 0; i < 16 * ROW; i++)
		x[i] = rng_normal();
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		e = round_trip_error(cases[c].type, x, 16 * ROW);
		if (getenv("QUANT_TEST_VERBOSE") != NULL)
			print_message(
			    "%s: relative rms error %.5f (bound %g)\n",
			    infer_type_name(cases[c].type), e, cases[c].bound);
		if (!(e <= cases[c].bound))
			fail_msg("%s: relative rms error %.5f above %g",
			    infer_type_name(cases[c].type), e, cases[c].bound);
		/* a round trip loses something, except for F32 */
		assert_true(e > 0);
	}
	assert_true(round_trip_error(INFER_TYPE_F32, x, ROW) == 0);
	free(x);
}

/*
 * Q4_0: the search never does worse, block by block, than the plain rule
 * (largest magnitude to -8), up to the rounding of d to a half.
 */
static void
test_q4_0_beats_plain_rule(void **state)
{
	struct quant_block_q4_0 b;
	float x[INFER_QK], y[INFER_QK], amax, xm, d, id, e_fit, e_plain, v;
	int q;

	(void)state;
	rng_seed(3);
	for (int it = 0; it < 2000; it++) {
		amax = 0;
		xm = 0;
		for (int j = 0; j < INFER_QK; j++) {
			x[j] = rng_normal() * (it % 2 == 0 ? 1.0f : 0.01f);
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				xm = x[j];
			}
		}
		assert_int_equal(
		    quant_quantize_row(INFER_TYPE_Q4_0, x, &b, INFER_QK, NULL),
		    0);
		assert_int_equal(quant_dequantize_row(
		                     INFER_TYPE_Q4_0, &b, y, INFER_QK, NULL),
		    0);
		d = xm / -8;
		id = 1 / d;
		e_fit = e_plain = 0;
		for (int j = 0; j < INFER_QK; j++) {
			v = rintf(x[j] * id);
			q = (int)v;
			q = q < -8 ? -8 : q > 7 ? 7 : q;
			v = d * (float)q;
			e_plain += (v - x[j]) * (v - x[j]);
			e_fit += (y[j] - x[j]) * (y[j] - x[j]);
		}
		assert_true(e_fit <= e_plain * 1.001f + 1e-12f);
	}
}

/* Zero rows, constant rows and a lone outlier come back as they should. */
static void
test_special_blocks(void **state)
{
	static const uint32_t types[] = {
		INFER_TYPE_Q8_0,
		INFER_TYPE_Q4_0,
		INFER_TYPE_Q5_0,
		INFER_TYPE_Q4_K,
		INFER_TYPE_Q5_K,
		INFER_TYPE_Q6_K,
		INFER_TYPE_Q8_K,
		INFER_TYPE_F16,
		INFER_TYPE_BF16,
	};
	float x[INFER_QK_K], y[INFER_QK_K];
	uint8_t q[512];

	(void)state;
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		uint32_t type = types[t];

		/* zeros stay exactly zero */
		memset(x, 0, sizeof x);
		assert_int_equal(
		    quant_quantize_row(type, x, q, INFER_QK_K, NULL), 0);
		assert_int_equal(
		    quant_dequantize_row(type, q, y, INFER_QK_K, NULL), 0);
		for (int i = 0; i < INFER_QK_K; i++)
			assert_true(y[i] == 0);

		/* a constant block is reproduced within a half's precision */
		for (int i = 0; i < INFER_QK_K; i++)
			x[i] = -0.75f;
		assert_int_equal(
		    quant_quantize_row(type, x, q, INFER_QK_K, NULL), 0);
		assert_int_equal(
		    quant_dequantize_row(type, q, y, INFER_QK_K, NULL), 0);
		for (int i = 0; i < INFER_QK_K; i++) {
			if (fabsf(y[i] - x[i]) > 0.75f * 0.01f)
				fail_msg("%s constant: element %d is %g",
				    infer_type_name(type), i, (double)y[i]);
		}

		/* a lone outlier keeps its value within 1 % */
		memset(x, 0, sizeof x);
		x[77] = 1000.0f;
		assert_int_equal(
		    quant_quantize_row(type, x, q, INFER_QK_K, NULL), 0);
		assert_int_equal(
		    quant_dequantize_row(type, q, y, INFER_QK_K, NULL), 0);
		if (fabsf(y[77] - 1000.0f) > 10.0f)
			fail_msg("%s outlier: %g", infer_type_name(type),
			    (double)y[77]);
		for (int i = 0; i < INFER_QK_K; i++) {
			if (i != 77 && fabsf(y[i]) > 1e-3f)
				fail_msg("%s outlier: element %d is %g",
				    infer_type_name(type), i, (double)y[i]);
		}
	}
}

/* The activation quantizers follow their documented rule exactly. */
static void
test_activation_rule(void **state)
{
	struct quant_block_q8_K k[2];
	struct quant_block_q8_0 b;
	float x[2 * INFER_QK_K], r;
	int sum;

	(void)state;
	for (int i = 0; i < INFER_QK; i++)
		x[i] = (float)(i - 10) * 0.5f; /* amax 10.5 */
	quant_quantize_row_q8_0(x, &b, INFER_QK);
	assert_int_equal(b.d, quant_fp32_to_fp16(10.5f / 127));
	for (int i = 0; i < INFER_QK; i++) {
		r = rintf((float)(i - 10) * 0.5f * (127.0f / 10.5f));
		assert_int_equal(b.qs[i], (int)r);
	}
	assert_int_equal(b.qs[31], 127);

	rng_seed(11);
	for (int i = 0; i < 2 * INFER_QK_K; i++)
		x[i] = rng_normal();
	x[5] = -9.0f;
	quant_quantize_row_q8_K(x, k, 2 * INFER_QK_K);
	assert_int_equal(k[0].qs[5], -127);
	assert_true(k[0].d == 9.0f / 127);
	for (int g = 0; g < 16; g++) {
		sum = 0;
		for (int j = 0; j < 16; j++)
			sum += k[1].qs[16 * g + j];
		assert_int_equal(k[1].bsums[g], sum);
	}
}

static void
test_refusals(void **state)
{
	float x[INFER_QK_K] = { 0 }, y[INFER_QK_K];
	uint8_t q[512];
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q4_K, x, q, 100, &cause), -1);
	assert_string_equal(cause,
	    "q4_K row of 100 elements: not a positive multiple of the block "
	    "size 256");
	free(cause);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_Q2_K, q, y, 256, &cause), -1);
	assert_string_equal(cause, "tensor type q2_K (10) is not supported");
	free(cause);
	assert_int_equal(quant_dequantize_row(77, q, y, 256, &cause), -1);
	assert_string_equal(cause, "tensor type unknown (77) is not supported");
	free(cause);
	assert_int_equal(
	    quant_dequantize_row(INFER_TYPE_Q8_0, q, y, 0, &cause), -1);
	free(cause);
	assert_false(quant_can_quantize(INFER_TYPE_Q4_1));
	assert_true(quant_can_dequantize(INFER_TYPE_Q6_K));

	x[17] = NAN;
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q8_0, x, q, 32, &cause), -1);
	assert_string_equal(cause, "element 17 is nan");
	free(cause);
	x[17] = -INFINITY;
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_F16, x, q, 32, &cause), -1);
	assert_string_equal(cause, "element 17 is infinite");
	free(cause);

	/* values whose scale does not fit in a half float */
	x[17] = 1e9f;
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q4_0, x, q, 32, &cause), -1);
	assert_string_equal(
	    cause, "q4_0 block 0: scale overflows a half float");
	free(cause);
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q8_0, x, q, 64, &cause), -1);
	assert_string_equal(
	    cause, "q8_0 block 0: scale overflows a half float");
	free(cause);
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q6_K, x, q, 256, &cause), -1);
	free(cause);
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_F16, x, q, 32, &cause), -1);
	assert_string_equal(cause, "element 17 (1e+09) overflows f16");
	free(cause);
	/* cause may be NULL */
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_Q5_K, x, q, 256, NULL), -1);
	/* BF16 has the range of a float */
	assert_int_equal(
	    quant_quantize_row(INFER_TYPE_BF16, x, q, 32, &cause), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp16_known),
		cmocka_unit_test(test_fp16_round_trip_all),
		cmocka_unit_test(test_fp16_nearest),
		cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_dequant_q8_0),
		cmocka_unit_test(test_dequant_q4_0),
		cmocka_unit_test(test_dequant_q5_0),
		cmocka_unit_test(test_dequant_q4_K),
		cmocka_unit_test(test_dequant_q5_K),
		cmocka_unit_test(test_dequant_q6_K),
		cmocka_unit_test(test_dequant_q8_K_and_floats),
		cmocka_unit_test(test_round_trip_bounds),
		cmocka_unit_test(test_q4_0_beats_plain_rule),
		cmocka_unit_test(test_special_blocks),
		cmocka_unit_test(test_activation_rule),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
