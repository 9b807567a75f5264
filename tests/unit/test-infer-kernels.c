/*
 * test-infer-kernels.c: every kernel level against the scalar reference.
 *
 * For each level this CPU supports and each weight type:
 *  - the activation quantizers give the reference's bytes exactly, on
 *    ordinary rows and on rows with zeros, huge values, NaN and infinity;
 *  - dot products of random rows (raw random blocks, which reach every
 *    bit pattern the format allows, and quantized normal values) agree
 *    with the reference within (blocks + TOL_SLACK) * FLT_EPSILON times
 *    the sum of the magnitudes of the terms;
 *  - on rows built so that every sum is exact in float (power-of-two
 *    scales, small integers), they agree bit for bit: the integer work is
 *    exact at every level;
 *  - a row's result is the same, bit for bit, whether it is computed
 *    alone or in a tile of 2, 3 or 4 rows;
 *  - kern_matmul() over odd row ranges and odd activation counts writes
 *    exactly the outputs it is asked for, each equal to a single dot.
 *
 * test-infer-kernels-vnni-avx2.c includes this file to run the same
 * checks on the VNNI code paths with emulated instructions.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/kernels.h"
#include "inference/quant.h"

/* Rounding steps beyond one per block that a level may take. */
#define TOL_SLACK 16

/* Kinds of test rows. */
enum t_mode {
	T_RANDOM,    /* random bytes with sane scales */
	T_QUANTIZED, /* normal values through the quantizer */
	T_EXACT,     /* power-of-two scales, small integers */
};

struct t_table {
	const char *name;
	const struct kern_ops *ops;
};

static const uint32_t t_types[] = {
	INFER_TYPE_F32,
	INFER_TYPE_F16,
	INFER_TYPE_BF16,
	INFER_TYPE_Q8_0,
	INFER_TYPE_Q4_0,
	INFER_TYPE_Q5_0,
	INFER_TYPE_Q4_K,
	INFER_TYPE_Q5_K,
	INFER_TYPE_Q6_K,
};
#define T_NTYPES (sizeof t_types / sizeof t_types[0])

static struct t_table t_tables[KERN_LEVEL_COUNT];
static int t_ntables;
static uint64_t t_rng;

static uint64_t
t_next(void)
{
	uint64_t z = (t_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
t_uniform(void)
{
	return (double)(t_next() >> 11) * 0x1p-53;
}

static float
t_normal(void)
{
	double u = t_uniform(), v = t_uniform();

	if (u < 1e-300)
		u = 1e-300;
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* A random integer in [lo, hi]. */
static int
t_int(int lo, int hi)
{
	return lo + (int)(t_next() % (uint64_t)(hi - lo + 1));
}

static float
t_intf(int lo, int hi)
{
	int v = t_int(lo, hi);

	return (float)v;
}

static __attribute__((unused)) int
t_best(void)
{
	enum kern_level best = kern_level_best();

	return (int)best;
}

static void *
t_alloc(size_t size)
{
	void *p = malloc(size);

	assert_non_null(p);
	return p;
}

static size_t
t_row_bytes(uint32_t type, int64_t n)
{
	uint64_t size;

	assert_int_equal(infer_type_nbytes(type, (uint64_t)n, &size), 0);
	return (size_t)size;
}

static void
t_put16(void *p, uint16_t v)
{
	memcpy(p, &v, sizeof v);
}

/* ---- test rows -------------------------------------------------------- */

/*
 * Fills `rows` weight rows of n elements of `type` at w (row_bytes
 * apart).
 */
static void
t_weights(uint32_t type, int64_t n, int rows, enum t_mode mode, void *w)
{
	size_t rb = t_row_bytes(type, n);
	uint32_t bs = infer_type_block_size(type), ts = infer_type_size(type);
	float *tmp = t_alloc((size_t)n * sizeof *tmp);
	uint8_t *p;
	char *cause = NULL;

	for (int r = 0; r < rows; r++) {
		p = (uint8_t *)w + (size_t)r * rb;
		if (mode == T_QUANTIZED || bs == 1) {
			for (int64_t i = 0; i < n; i++)
				tmp[i] = mode == T_EXACT ? t_intf(-8, 8)
				                         : t_normal();
			if (quant_quantize_row(type, tmp, p, n, &cause) != 0)
				fail_msg("%s", cause);
			continue;
		}
		for (size_t i = 0; i < rb; i++)
			p[i] = (uint8_t)t_next();
		for (int64_t b = 0; b < n / bs; b++) {
			uint8_t *blk = p + (size_t)b * ts;
			uint16_t d, dmin;

			if (mode == T_EXACT) {
				d = 0x3000;    /* 2^-3 */
				dmin = 0x2c00; /* 2^-4 */
			} else {
				d = quant_fp32_to_fp16(
				    (float)(t_uniform() - 0.5) * 0.02f);
				dmin = quant_fp32_to_fp16(
				    (float)(t_uniform() - 0.2) * 0.02f);
			}
			switch (type) {
			case INFER_TYPE_Q4_K:
			case INFER_TYPE_Q5_K:
				t_put16(blk + 2, dmin);
				t_put16(blk, d);
				break;
			case INFER_TYPE_Q6_K:
				t_put16(
				    blk + offsetof(struct quant_block_q6_K, d),
				    d);
				break;
			default:
				t_put16(blk, d);
				break;
			}
		}
	}
	free(tmp);
}

/* Fills nx activation rows for weight type `wtype` at xq (rb apart). */
static void
t_acts(uint32_t wtype, int64_t n, int nx, enum t_mode mode, void *xq, size_t rb)
{
	uint32_t at = kern_act_type(wtype);
	float *x = t_alloc((size_t)n * sizeof *x);

	for (int i = 0; i < nx; i++) {
		uint8_t *row = (uint8_t *)xq + (size_t)i * rb;

		if (mode != T_EXACT) {
			for (int64_t k = 0; k < n; k++)
				x[k] = t_normal();
			if (at == INFER_TYPE_Q8_0)
				kern_ops_ref.quantize_q8_0(x, row, n);
			else if (at == INFER_TYPE_Q8_K)
				kern_ops_ref.quantize_q8_K(x, row, n);
			else
				memcpy(row, x, (size_t)n * sizeof *x);
			continue;
		}
		if (at == INFER_TYPE_Q8_0) {
			struct quant_block_q8_0 *b = (void *)row;

			for (int64_t k = 0; k < n / INFER_QK; k++) {
				b[k].d = 0x3400; /* 2^-2 */
				for (int j = 0; j < INFER_QK; j++)
					b[k].qs[j] = (int8_t)t_int(-127, 127);
			}
		} else if (at == INFER_TYPE_Q8_K) {
			struct quant_block_q8_K *b = (void *)row;

			for (int64_t k = 0; k < n / INFER_QK_K; k++) {
				b[k].d = 0.25f;
				for (int j = 0; j < INFER_QK_K; j++)
					b[k].qs[j] = (int8_t)t_int(-1, 1);
				for (int g = 0; g < 16; g++) {
					int s = 0;

					for (int j = 0; j < 16; j++)
						s += b[k].qs[16 * g + j];
					b[k].bsums[g] = (int16_t)s;
				}
			}
		} else {
			for (int64_t k = 0; k < n; k++)
				x[k] = t_intf(-4, 4);
			memcpy(row, x, (size_t)n * sizeof *x);
		}
	}
	free(x);
}

/*
 * The sum of the magnitudes of the terms of a dot product: for K-quants
 * with mins, the scale part and the min part count separately (their
 * difference can be much smaller than either).
 */
static double
t_magnitude(uint32_t wtype, int64_t n, const void *w, const void *x)
{
	size_t rb = t_row_bytes(wtype, n);
	uint32_t ts = infer_type_size(wtype);
	float *a = t_alloc((size_t)n * sizeof *a);
	float *m = t_alloc((size_t)n * sizeof *m);
	float *v = t_alloc((size_t)n * sizeof *v);
	uint8_t *tmp = t_alloc(rb);
	double sum = 0;
	bool mins = wtype == INFER_TYPE_Q4_K || wtype == INFER_TYPE_Q5_K;

	assert_int_equal(
	    quant_dequantize_row(kern_act_type(wtype), x, v, n, NULL), 0);
	memcpy(tmp, w, rb);
	if (mins) {
		/* a: the scale part alone (dmin 0); m: the min part alone */
		for (int64_t b = 0; b < n / INFER_QK_K; b++)
			t_put16(tmp + b * ts + 2, 0);
		assert_int_equal(
		    quant_dequantize_row(wtype, tmp, a, n, NULL), 0);
		memcpy(tmp, w, rb);
		for (int64_t b = 0; b < n / INFER_QK_K; b++)
			t_put16(tmp + b * ts, 0);
		assert_int_equal(
		    quant_dequantize_row(wtype, tmp, m, n, NULL), 0);
	} else {
		assert_int_equal(quant_dequantize_row(wtype, w, a, n, NULL), 0);
		memset(m, 0, (size_t)n * sizeof *m);
	}
	for (int64_t i = 0; i < n; i++)
		sum += (fabs((double)a[i]) + fabs((double)m[i])) *
		    fabs((double)v[i]);
	free(a);
	free(m);
	free(v);
	free(tmp);
	return sum;
}

/* The bound on |level - reference| for one dot product. */
static double
t_tolerance(uint32_t wtype, int64_t n, const void *w, const void *x)
{
	uint32_t bs = infer_type_block_size(wtype);
	double steps = bs == 1 ? (double)n / 8 : (double)(n / bs);

	return (steps + TOL_SLACK) * FLT_EPSILON * t_magnitude(wtype, n, w, x) +
	    FLT_MIN;
}

/* ---- tests ------------------------------------------------------------ */

static int
t_setup(void **state)
{
	(void)state;
#ifdef KERN_TEST_OPS
	t_tables[0].name = KERN_TEST_NAME;
	t_tables[0].ops = KERN_TEST_OPS;
	t_ntables = 1;
#else
	for (int l = 0; l <= t_best(); l++) {
		t_tables[t_ntables].name = kern_level_name((enum kern_level)l);
		t_tables[t_ntables].ops = kern_ops_level((enum kern_level)l);
		t_ntables++;
	}
#endif
	return 0;
}

/* The activation quantizers of every level give the reference's bytes. */
static void
test_quantize_act_exact(void **state)
{
	static const int64_t lengths[] = { 256, 512, 4096 + 256 };
	float *x = t_alloc((4096 + 256) * sizeof *x);
	uint8_t *ref = t_alloc(8192), *got = t_alloc(8192);
	size_t bytes;

	(void)state;
	t_rng = 1;
	for (int t = 0; t < t_ntables; t++) {
		const struct kern_ops *ops = t_tables[t].ops;

		for (size_t l = 0; l < sizeof lengths / sizeof lengths[0];
		     l++) {
			int64_t n = lengths[l];

			for (int variant = 0; variant < 6; variant++) {
				for (int64_t i = 0; i < n; i++)
					x[i] = t_normal() *
					    (variant == 1 ? 1e-30f : 3.0f);
				if (variant == 2)
					memset(x, 0, 64 * sizeof *x);
				if (variant == 3)
					x[40] = 3e38f;
				if (variant == 4) {
					x[3] = NAN;
					x[300 % n] = -NAN;
				}
				if (variant == 5) {
					x[7] = INFINITY;
					x[33] = -INFINITY;
				}
				/* halves: ties of x * id */
				if (variant == 0)
					for (int64_t i = 0; i < 32; i++)
						x[i] = (float)i * 0.5f - 8.0f;
				if (ops->quantize_q8_0 != NULL) {
					bytes = t_row_bytes(INFER_TYPE_Q8_0, n);
					memset(got, 0x5a, bytes);
					kern_ops_ref.quantize_q8_0(x, ref, n);
					ops->quantize_q8_0(x, got, n);
					if (memcmp(ref, got, bytes) != 0)
						fail_msg(
						    "%s q8_0 activations, n "
						    "%lld, variant %d",
						    t_tables[t].name,
						    (long long)n, variant);
				}
				if (ops->quantize_q8_K != NULL) {
					bytes = t_row_bytes(INFER_TYPE_Q8_K, n);
					memset(got, 0x5a, bytes);
					kern_ops_ref.quantize_q8_K(x, ref, n);
					ops->quantize_q8_K(x, got, n);
					if (memcmp(ref, got, bytes) != 0)
						fail_msg(
						    "%s q8_K activations, n "
						    "%lld, variant %d",
						    t_tables[t].name,
						    (long long)n, variant);
				}
			}
		}
	}
	free(x);
	free(ref);
	free(got);
}

/*
 * One weight row against KERN_TILE activation rows: each tile size gives
 * each row the result it gets alone, and that result is within the bound
 * of the reference (or equal to it, in T_EXACT mode).
 */
static void
t_check_dot(const struct t_table *tab, uint32_t wtype, int64_t n,
    enum t_mode mode, int rows)
{
	void (*dot)(int64_t, const void *, const void *, size_t, int, float *) =
	    tab->ops->dot[wtype];
	size_t wrb = t_row_bytes(wtype, n), xrb = kern_act_row_size(wtype, n);
	uint8_t *w = t_alloc(wrb * (size_t)rows);
	uint8_t *x = t_alloc(xrb * KERN_TILE);
	float ref[KERN_TILE], one[KERN_TILE], s[KERN_TILE];
	double tol;

	if (dot == NULL) {
		free(w);
		free(x);
		return; /* the level uses the reference */
	}
	t_weights(wtype, n, rows, mode, w);
	for (int r = 0; r < rows; r++) {
		const uint8_t *wr = w + (size_t)r * wrb;

		t_acts(wtype, n, KERN_TILE, mode, x, xrb);
		kern_ops_ref.dot[wtype](n, wr, x, xrb, KERN_TILE, ref);
		for (int j = 0; j < KERN_TILE; j++)
			dot(n, wr, x + (size_t)j * xrb, xrb, 1, &one[j]);
		for (int nr = 2; nr <= KERN_TILE; nr++) {
			dot(n, wr, x, xrb, nr, s);
			for (int j = 0; j < nr; j++) {
				if (memcmp(&s[j], &one[j], sizeof s[j]) != 0)
					fail_msg("%s %s n %lld: row %d of a "
					         "tile of %d is %.9g, alone "
					         "%.9g",
					    tab->name, infer_type_name(wtype),
					    (long long)n, j, (double)s[j], nr,
					    (double)one[j]);
			}
		}
		for (int j = 0; j < KERN_TILE; j++) {
			if (mode == T_EXACT) {
				if (one[j] != ref[j])
					fail_msg("%s %s n %lld exact: %.9g, "
					         "reference %.9g",
					    tab->name, infer_type_name(wtype),
					    (long long)n, (double)one[j],
					    (double)ref[j]);
				continue;
			}
			tol = t_tolerance(wtype, n, wr, x + (size_t)j * xrb);
			if (!(fabs((double)one[j] - (double)ref[j]) <= tol))
				fail_msg("%s %s n %lld mode %d: %.9g, "
				         "reference %.9g, bound %.3g",
				    tab->name, infer_type_name(wtype),
				    (long long)n, (int)mode, (double)one[j],
				    (double)ref[j], tol);
		}
	}
	free(w);
	free(x);
}

static void
test_dot_random(void **state)
{
	static const int64_t lengths[] = { 256, 512, 2816, 4096 };
	static const int64_t float_lengths[] = { 1, 15, 16, 37, 1000 };

	(void)state;
	t_rng = 2;
	for (int t = 0; t < t_ntables; t++) {
		for (size_t k = 0; k < T_NTYPES; k++) {
			for (size_t l = 0;
			     l < sizeof lengths / sizeof lengths[0]; l++) {
				t_check_dot(&t_tables[t], t_types[k],
				    lengths[l], T_RANDOM, 6);
				t_check_dot(&t_tables[t], t_types[k],
				    lengths[l], T_QUANTIZED, 3);
			}
			if (infer_type_block_size(t_types[k]) != 1)
				continue;
			for (size_t l = 0;
			     l < sizeof float_lengths / sizeof float_lengths[0];
			     l++)
				t_check_dot(&t_tables[t], t_types[k],
				    float_lengths[l], T_QUANTIZED, 3);
		}
	}
}

static void
test_dot_exact(void **state)
{
	static const int64_t lengths[] = { 256, 768, 1024 };

	(void)state;
	t_rng = 3;
	for (int t = 0; t < t_ntables; t++) {
		for (size_t k = 0; k < T_NTYPES; k++) {
			for (size_t l = 0;
			     l < sizeof lengths / sizeof lengths[0]; l++)
				t_check_dot(&t_tables[t], t_types[k],
				    lengths[l], T_EXACT, 8);
		}
	}
	/* odd lengths reach the float kernels' tails */
	for (int t = 0; t < t_ntables; t++) {
		t_check_dot(&t_tables[t], INFER_TYPE_F16, 77, T_EXACT, 4);
		t_check_dot(&t_tables[t], INFER_TYPE_BF16, 33, T_EXACT, 4);
		t_check_dot(&t_tables[t], INFER_TYPE_F32, 1001, T_EXACT, 4);
	}
}

/*
 * The extremes of each format: the largest quants and scales with the
 * largest activations, where an int16 intermediate would saturate.
 */
static void
test_dot_extremes(void **state)
{
	const int64_t n = 512;
	float x[512], ref[1], got[1];
	uint8_t w[512 * 2], xq[1024];
	size_t wrb;

	(void)state;
	for (int i = 0; i < n; i++)
		x[i] = (i % 3 == 0) ? -1.0f : 1.0f;
	for (int t = 0; t < t_ntables; t++) {
		for (size_t k = 3; k < T_NTYPES; k++) {
			uint32_t wt = t_types[k];
			uint32_t ts = infer_type_size(wt);
			uint32_t bs = infer_type_block_size(wt);

			if (t_tables[t].ops->dot[wt] == NULL)
				continue;
			wrb = t_row_bytes(wt, n);
			for (int fill = 0; fill < 3; fill++) {
				/* all ones, all zeros, alternating */
				memset(w,
				    fill == 0       ? 0xff
				        : fill == 1 ? 0x00
				                    : 0x80,
				    wrb);
				for (int64_t b = 0; b < n / bs; b++) {
					t_put16(w + b * ts +
					        (wt == INFER_TYPE_Q6_K ? 208
					                               : 0),
					    0x3c00);
					if (wt == INFER_TYPE_Q4_K ||
					    wt == INFER_TYPE_Q5_K)
						t_put16(w + b * ts + 2, 0x3c00);
				}
				if (kern_act_type(wt) == INFER_TYPE_Q8_0)
					kern_ops_ref.quantize_q8_0(x, xq, n);
				else
					kern_ops_ref.quantize_q8_K(x, xq, n);
				kern_ops_ref.dot[wt](n, w, xq, 0, 1, ref);
				t_tables[t].ops->dot[wt](n, w, xq, 0, 1, got);
				if (got[0] != ref[0])
					fail_msg("%s %s fill %d: %.9g, "
					         "reference %.9g",
					    t_tables[t].name,
					    infer_type_name(wt), fill,
					    (double)got[0], (double)ref[0]);
			}
		}
	}
}

/*
 * Blocks of raw random bytes, scales included (NaN, infinities, huge and
 * subnormal halves): no level may crash or read outside the row (the
 * sanitizers watch).  For the quantized types a level's result is finite
 * exactly when the reference's is; float rows of random bits may overflow
 * a float sum and not the reference's double one.
 */
static void
test_dot_hostile(void **state)
{
	const int64_t n = 512;
	float ref[KERN_TILE], got[KERN_TILE];
	size_t wrb, xrb;
	uint8_t *w, *x;

	(void)state;
	t_rng = 6;
	for (int t = 0; t < t_ntables; t++) {
		for (size_t k = 0; k < T_NTYPES; k++) {
			uint32_t wt = t_types[k];

			if (t_tables[t].ops->dot[wt] == NULL)
				continue;
			wrb = t_row_bytes(wt, n);
			xrb = kern_act_row_size(wt, n);
			w = t_alloc(wrb);
			x = t_alloc(xrb * KERN_TILE);
			for (int it = 0; it < 50; it++) {
				for (size_t i = 0; i < wrb; i++)
					w[i] = (uint8_t)t_next();
				t_acts(wt, n, KERN_TILE, T_RANDOM, x, xrb);
				kern_ops_ref.dot[wt](
				    n, w, x, xrb, KERN_TILE, ref);
				t_tables[t].ops->dot[wt](
				    n, w, x, xrb, KERN_TILE, got);
				for (int j = 0; j < KERN_TILE; j++) {
					if (infer_type_block_size(wt) == 1)
						continue;
					if (isfinite(ref[j]) !=
					    isfinite(got[j]))
						fail_msg("%s %s: %g, reference "
						         "%g",
						    t_tables[t].name,
						    infer_type_name(wt),
						    (double)got[j],
						    (double)ref[j]);
				}
			}
			free(w);
			free(x);
		}
	}
}

#ifdef KERN_TEST_OPS
/*
 * VNNI only fuses integer steps, so the emulated table must give the
 * AVX2 table's results bit for bit, on every type and tile size.
 */
static void
test_same_as_avx2(void **state)
{
	const int64_t n = 1024;
	float a[KERN_TILE], b[KERN_TILE];
	size_t wrb, xrb;
	uint8_t *w, *x;

	(void)state;
	t_rng = 5;
	for (size_t k = 0; k < T_NTYPES; k++) {
		uint32_t wt = t_types[k];

		wrb = t_row_bytes(wt, n);
		xrb = kern_act_row_size(wt, n);
		w = t_alloc(wrb * 4);
		x = t_alloc(xrb * KERN_TILE);
		t_weights(wt, n, 4, T_RANDOM, w);
		for (int r = 0; r < 4; r++) {
			t_acts(wt, n, KERN_TILE, T_RANDOM, x, xrb);
			for (int nr = 1; nr <= KERN_TILE; nr++) {
				kern_ops_avx2.dot[wt](
				    n, w + (size_t)r * wrb, x, xrb, nr, a);
				KERN_TEST_OPS->dot[wt](
				    n, w + (size_t)r * wrb, x, xrb, nr, b);
				if (memcmp(a, b, (size_t)nr * sizeof a[0]) != 0)
					fail_msg("%s: %.9g, avx2 %.9g",
					    infer_type_name(wt), (double)b[0],
					    (double)a[0]);
			}
		}
		free(w);
		free(x);
	}
}
#endif

#ifndef KERN_TEST_OPS
/*
 * kern_matmul() at every level: each output it is asked for equals the
 * level's single dot product, whatever the row range and activation
 * count; no other output is touched.
 */
static void
test_matmul(void **state)
{
	const int rows = 37;
	static const int nxs[] = { 1, 2, 3, 4, 5, 7, 9 };
	static const int64_t lengths[] = { 256, 512 };
	const float sentinel = -12345.0f;
	float *xf, *out, one;
	uint8_t *w, *xq;
	size_t wrb, xrb, os;
	int64_t n;
	char *cause = NULL;

	(void)state;
	t_rng = 4;
	for (int l = 0; l <= t_best(); l++) {
		assert_int_equal(kern_level_set((enum kern_level)l, &cause), 0);
		assert_int_equal(kern_level_get(), l);
		for (size_t k = 0; k < T_NTYPES; k++) {
			uint32_t wt = t_types[k];
			const struct kern_ops *ops =
			    kern_ops_level((enum kern_level)l);
			void (*dot)(int64_t, const void *, const void *, size_t,
			    int, float *) = ops->dot[wt] != NULL
			    ? ops->dot[wt]
			    : kern_ops_ref.dot[wt];

			n = lengths[k % 2];
			assert_int_equal(kern_check(wt, n, NULL), 0);
			wrb = t_row_bytes(wt, n);
			xrb = kern_act_row_size(wt, n) + 4; /* padded rows */
			w = t_alloc(wrb * (size_t)rows);
			xf = t_alloc((size_t)n * 9 * sizeof *xf);
			xq = t_alloc(xrb * 9);
			os = (size_t)rows + 3;
			out = t_alloc(os * 9 * sizeof *out);
			t_weights(wt, n, rows, T_QUANTIZED, w);
			for (int64_t i = 0; i < n * 9; i++)
				xf[i] = t_normal();
			for (size_t c = 0; c < sizeof nxs / sizeof nxs[0];
			     c++) {
				int nx = nxs[c];

				kern_quantize_act(
				    wt, n, xf, (size_t)n, nx, xq, xrb);
				for (size_t i = 0; i < os * 9; i++)
					out[i] = sentinel;
				/* three threads' worth of row ranges */
				kern_matmul(
				    wt, n, w, wrb, 3, 11, xq, xrb, nx, out, os);
				kern_matmul(wt, n, w, wrb, 11, 30, xq, xrb, nx,
				    out, os);
				kern_matmul(wt, n, w, wrb, 30, rows, xq, xrb,
				    nx, out, os);
				for (int i = 0; i < 9; i++) {
					for (size_t r = 0; r < os; r++) {
						float o =
						    out[(size_t)i * os + r];

						if (i >= nx || r < 3 ||
						    r >= (size_t)rows) {
							assert_true(
							    o == sentinel);
							continue;
						}
						dot(n, w + r * wrb,
						    xq + (size_t)i * xrb, xrb,
						    1, &one);
						if (memcmp(&o, &one,
						        sizeof o) != 0)
							fail_msg("%s %s nx %d: "
							         "out[%d][%zu] "
							         "%.9g, dot "
							         "%.9g",
							    kern_level_name((
							        enum kern_level)
							            l),
							    infer_type_name(wt),
							    nx, i, r, (double)o,
							    (double)one);
					}
				}
			}
			free(w);
			free(xf);
			free(xq);
			free(out);
		}
	}
	assert_int_equal(kern_level_set(kern_level_best(), NULL), 0);
}

static void
test_api(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_true(kern_supported(INFER_TYPE_Q4_K));
	assert_false(kern_supported(INFER_TYPE_Q4_1));
	assert_false(kern_supported(INFER_TYPE_Q8_K));
	assert_false(kern_supported(999));
	assert_int_equal(kern_act_type(INFER_TYPE_Q5_0), INFER_TYPE_Q8_0);
	assert_int_equal(kern_act_type(INFER_TYPE_Q6_K), INFER_TYPE_Q8_K);
	assert_int_equal(kern_act_type(INFER_TYPE_BF16), INFER_TYPE_F32);
	assert_int_equal(kern_act_row_size(INFER_TYPE_Q4_0, 64), 68);
	assert_int_equal(kern_act_row_size(INFER_TYPE_Q4_K, 512), 584);
	assert_int_equal(kern_act_row_size(INFER_TYPE_F16, 3), 12);

	assert_int_equal(kern_check(INFER_TYPE_F16, 3, &cause), 0);
	assert_int_equal(kern_check(INFER_TYPE_Q4_K, 100, &cause), -1);
	assert_string_equal(
	    cause, "q4_K rows of 100 elements: not a positive multiple of 256");
	free(cause);
	assert_int_equal(kern_check(INFER_TYPE_Q8_0, 0, &cause), -1);
	assert_string_equal(
	    cause, "q8_0 rows of 0 elements: not a positive multiple of 32");
	free(cause);
	assert_int_equal(kern_check(INFER_TYPE_IQ2_XXS, 256, &cause), -1);
	assert_string_equal(
	    cause, "tensor type iq2_xxs (16) has no matrix multiplication");
	free(cause);

	assert_string_equal(kern_level_name(KERN_LEVEL_AVX2), "avx2");
	assert_string_equal(kern_level_name((enum kern_level)7), "unknown");
	assert_int_equal(kern_level_set((enum kern_level)7, &cause), -1);
	assert_string_equal(cause, "kernel level 7 does not exist");
	free(cause);
	if (kern_level_best() < KERN_LEVEL_AVX512) {
		assert_int_equal(kern_level_set(KERN_LEVEL_AVX512, &cause), -1);
		assert_string_equal(
		    cause, "this CPU does not support the avx512 kernels");
		free(cause);
	}

	/* AGENTD_CPU: a bad value, and the scalar level */
	setenv("AGENTD_CPU", "avx9", 1);
	assert_int_equal(kern_init(&cause), -1);
	assert_non_null(strstr(
	    cause, "AGENTD_CPU=avx9: expected scalar, avx2 or avx512; using "));
	free(cause);
	assert_int_equal(kern_level_get(), kern_level_best());
	setenv("AGENTD_CPU", "scalar", 1);
	assert_int_equal(kern_init(&cause), 0);
	assert_int_equal(kern_level_get(), KERN_LEVEL_SCALAR);
	if (kern_level_best() < KERN_LEVEL_AVX512) {
		setenv("AGENTD_CPU", "avx512", 1);
		assert_int_equal(kern_init(&cause), -1);
		assert_non_null(strstr(cause,
		    "AGENTD_CPU=avx512: this CPU does not support it; using "));
		free(cause);
		assert_int_equal(kern_level_get(), kern_level_best());
	}
	unsetenv("AGENTD_CPU");
	assert_int_equal(kern_init(&cause), 0);
	assert_int_equal(kern_level_get(), kern_level_best());
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantize_act_exact),
		cmocka_unit_test(test_dot_random),
		cmocka_unit_test(test_dot_exact),
		cmocka_unit_test(test_dot_extremes),
		cmocka_unit_test(test_dot_hostile),
#ifdef KERN_TEST_OPS
		cmocka_unit_test(test_same_as_avx2),
#else
		cmocka_unit_test(test_matmul),
		cmocka_unit_test(test_api),
#endif
	};

#ifdef KERN_TEST_OPS
	if (kern_level_best() < KERN_LEVEL_AVX2) {
		printf(
		    "skip: this CPU lacks AVX2, which the emulation needs\n");
		return 77;
	}
#else
	printf("kernel levels on this CPU: scalar");
	for (int l = 1; l <= t_best(); l++)
		printf(", %s", kern_level_name((enum kern_level)l));
	printf("\n");
#endif
	return cmocka_run_group_tests(tests, t_setup, NULL);
}
