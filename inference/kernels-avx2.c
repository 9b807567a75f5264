/*
 * kernels-avx2.c: the AVX2 level (AVX2, FMA, F16C), 256 bits at a time.
 *
 * Each dot product multiplies one weight row with 1..KERN_TILE activation
 * rows.  Quantized weight blocks are unpacked once and multiplied with
 * every activation row of the tile; each row keeps its own accumulators and
 * updates them in the same order whatever the tile size, so a result
 * does not depend on the rows computed beside it (kernels.h).
 *
 * Integer products: an unsigned byte times a signed byte, summed four at
 * a time into int32 (vpmaddubsw then vpmaddwd; the operands are kept
 * small enough, |u| <= 128 and |s| <= 127, that vpmaddubsw never
 * saturates).  Signed weights go through the sign trick: |w| times x with
 * w's sign.  The K-quant sub-block scales multiply the int16 pair sums
 * (vpmaddwd); Q8_K's bsums supply the mins (Q4_K, Q5_K) and the -32
 * offset (Q6_K) without touching the values again.
 *
 * kernels-avx512.c compiles this file a second time with AVX-512 and
 * VNNI enabled and KERN_SIMD_OPS naming its table: then the products use
 * vpdpbusd and vpdpwssd, which fuse the multiply, the pairwise sums and
 * the accumulation into one instruction and produce the same integers,
 * so both levels give the same results bit for bit.  The tests compile
 * it a third time with emulated VNNI (KERN_VNNI_EMULATE), so that the
 * VNNI code paths are checked on machines without AVX-512.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "inference/kernels.h"
#include "inference/quant.h"

#ifndef KERN_SIMD_OPS
#define KERN_SIMD_OPS kern_ops_avx2
#endif

#if defined(KERN_VNNI_EMULATE)
/* the including test defines kern_emu_dpbusd and kern_emu_dpwssd */
#define KERN_VNNI            1
#define KERN_DPBUSD(a, u, s) kern_emu_dpbusd(a, u, s)
#define KERN_DPWSSD(a, x, y) kern_emu_dpwssd(a, x, y)
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define KERN_VNNI            1
#define KERN_DPBUSD(a, u, s) _mm256_dpbusd_epi32(a, u, s)
#define KERN_DPWSSD(a, x, y) _mm256_dpwssd_epi32(a, x, y)
#else
#define KERN_VNNI 0
#endif

#define KERN_INLINE static inline __attribute__((always_inline))

/* Expands a tile kernel `name##_rows` into one function per tile size. */
#define KERN_TILE_FN(name)                                                   \
	static void name(int64_t n, const void *w, const void *x, size_t xs, \
	    int nr, float *s)                                                \
	{                                                                    \
		switch (nr) {                                                \
		case 1:                                                      \
			name##_rows(n, w, x, xs, 1, s);                      \
			break;                                               \
		case 2:                                                      \
			name##_rows(n, w, x, xs, 2, s);                      \
			break;                                               \
		case 3:                                                      \
			name##_rows(n, w, x, xs, 3, s);                      \
			break;                                               \
		default:                                                     \
			name##_rows(n, w, x, xs, 4, s);                      \
			break;                                               \
		}                                                            \
	}

/* Activation row j of a tile. */
#define ACT_ROW(type, x, xs, j) \
	((const type *)(const void *)((const char *)(x) + (size_t)(j) * (xs)))

static void dot_f32(int64_t, const void *, const void *, size_t, int, float *);
static void dot_f16(int64_t, const void *, const void *, size_t, int, float *);
static void dot_bf16(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q8_0(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q4_0(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q5_0(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q4_K(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q5_K(int64_t, const void *, const void *, size_t, int, float *);
static void dot_q6_K(int64_t, const void *, const void *, size_t, int, float *);
static void quantize_q8_0(const float *, void *, int64_t);
static void quantize_q8_K(const float *, void *, int64_t);

/* ---- helpers ---------------------------------------------------------- */

/* The sum of the 8 floats of v. */
KERN_INLINE float
hsum_ps(__m256 v)
{
	__m128 s =
	    _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* The largest of the 8 floats of v. */
KERN_INLINE float
hmax_ps(__m256 v)
{
	__m128 s =
	    _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Lane k: sum of u[4k + i] * s[4k + i], i = 0..3 (u unsigned, s signed). */
KERN_INLINE __m256i
mul_sum_us8(__m256i u, __m256i s)
{
#if KERN_VNNI
	return KERN_DPBUSD(_mm256_setzero_si256(), u, s);
#else
	return _mm256_madd_epi16(
	    _mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* Lane k: sum of a[4k + i] * b[4k + i], both signed, b never -128. */
KERN_INLINE __m256i
mul_sum_i8(__m256i a, __m256i b)
{
	return mul_sum_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* acc + the int16 pair products of a and b, in int32. */
KERN_INLINE __m256i
madd_acc(__m256i acc, __m256i a, __m256i b)
{
#if KERN_VNNI
	return KERN_DPWSSD(acc, a, b);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* Byte j is 0xff when bit j of bits is set, else 0. */
KERN_INLINE __m256i
bytes_from_bits(uint32_t bits)
{
	/* byte j takes byte j / 8 of bits, then tests bit j % 8 of it */
	const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
	    1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit =
	    _mm256_set1_epi64x((long long)0x8040201008040201ULL);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);

	return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* The 32 quants of a Q4_0/Q5_0 block: low nibbles, then high nibbles. */
KERN_INLINE __m256i
nibbles(const uint8_t *qs)
{
	__m128i t = _mm_loadu_si128((const __m128i *)(const void *)qs);

	return _mm256_and_si256(
	    _mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

/*
 * The 8 six-bit scales and the 8 mins of a Q4_K/Q5_K block (quant.h), as
 * 8 int16 each.
 */
KERN_INLINE void
unpack_k4(const uint8_t *p, __m128i *sc16, __m128i *mn16)
{
	uint32_t a, b, c;
	uint64_t sc, mn;

	memcpy(&a, p, 4);
	memcpy(&b, p + 4, 4);
	memcpy(&c, p + 8, 4);
	sc = (a & 0x3f3f3f3f) |
	    (uint64_t)((c & 0x0f0f0f0f) | ((a >> 6) & 0x03030303) << 4) << 32;
	mn = (b & 0x3f3f3f3f) |
	    (uint64_t)(((c >> 4) & 0x0f0f0f0f) | ((b >> 6) & 0x03030303) << 4)
	        << 32;
	*sc16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc));
	*mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
}

/*
 * A shuffle control for vpshufb that copies int16 number lo (0..7) of
 * each 128-bit lane to the whole low lane and number hi to the whole high
 * lane.  With constant arguments it folds to a constant.
 */
KERN_INLINE __m256i
word_pick(int lo, int hi)
{
	return _mm256_set_m128i(
	    _mm_set1_epi16((short)(2 * hi | (2 * hi + 1) << 8)),
	    _mm_set1_epi16((short)(2 * lo | (2 * lo + 1) << 8)));
}

/*
 * The K-quant mins: sum over sub-blocks j of mn[j] * (the sum of the 32
 * activations of sub-block j), from bsums (16 sums of 16).
 */
KERN_INLINE int
mins_dot(const int16_t *bsums, __m128i mn16)
{
	__m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)bsums);
	__m128i s32 = _mm_hadd_epi16(
	    _mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
	__m128i p = _mm_madd_epi16(s32, mn16);

	p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
	p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
	return _mm_cvtsi128_si32(p);
}

/* ---- float weights ---------------------------------------------------- */

KERN_INLINE __m256
load8_f32(const void *p)
{
	return _mm256_loadu_ps(p);
}

KERN_INLINE __m256
load8_f16(const void *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128(p));
}

KERN_INLINE __m256
load8_bf16(const void *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/*
 * Float rows: four accumulators of 8 lanes per activation row take 32
 * elements a step, then 8 at a time, then the last n % 8 one by one.  A
 * tile goes two activation rows at a time (each weight vector is loaded
 * and converted once for both), which is what sixteen registers hold.
 */
#define FLOAT_DOT(name, wtype, esize, load, scalar)                            \
	KERN_INLINE void name##_pair(int64_t n, const char *w, const void *vx, \
	    size_t xs, const int nr, float *s)                                 \
	{                                                                      \
		const float *x[2];                                             \
		__m256 a[2][4], w0, w1, w2, w3;                                \
		float tail;                                                    \
		int64_t i = 0;                                                 \
		wtype v;                                                       \
                                                                               \
		_Pragma("GCC unroll 2") for (int j = 0; j < nr; j++)           \
		{                                                              \
			x[j] = ACT_ROW(float, vx, xs, j);                      \
			for (int k = 0; k < 4; k++)                            \
				a[j][k] = _mm256_setzero_ps();                 \
		}                                                              \
		for (; i + 32 <= n; i += 32) {                                 \
			w0 = load(w + i * (esize));                            \
			w1 = load(w + (i + 8) * (esize));                      \
			w2 = load(w + (i + 16) * (esize));                     \
			w3 = load(w + (i + 24) * (esize));                     \
			_Pragma("GCC unroll 2") for (int j = 0; j < nr; j++)   \
			{                                                      \
				a[j][0] = _mm256_fmadd_ps(                     \
				    w0, _mm256_loadu_ps(x[j] + i), a[j][0]);   \
				a[j][1] = _mm256_fmadd_ps(w1,                  \
				    _mm256_loadu_ps(x[j] + i + 8), a[j][1]);   \
				a[j][2] = _mm256_fmadd_ps(w2,                  \
				    _mm256_loadu_ps(x[j] + i + 16), a[j][2]);  \
				a[j][3] = _mm256_fmadd_ps(w3,                  \
				    _mm256_loadu_ps(x[j] + i + 24), a[j][3]);  \
			}                                                      \
		}                                                              \
		for (; i + 8 <= n; i += 8) {                                   \
			w0 = load(w + i * (esize));                            \
			_Pragma("GCC unroll 2") for (int j = 0; j < nr; j++)   \
			    a[j][0] = _mm256_fmadd_ps(                         \
			        w0, _mm256_loadu_ps(x[j] + i), a[j][0]);       \
		}                                                              \
		for (int j = 0; j < nr; j++) {                                 \
			tail = 0;                                              \
			for (int64_t k = i; k < n; k++) {                      \
				memcpy(&v, w + k * (esize), sizeof v);         \
				tail += scalar(v) * x[j][k];                   \
			}                                                      \
			s[j] = hsum_ps(_mm256_add_ps(                          \
			           _mm256_add_ps(a[j][0], a[j][1]),            \
			           _mm256_add_ps(a[j][2], a[j][3]))) +         \
			    tail;                                              \
		}                                                              \
	}                                                                      \
	static void name(int64_t n, const void *w, const void *x, size_t xs,   \
	    int nr, float *s)                                                  \
	{                                                                      \
		int j = 0;                                                     \
                                                                               \
		for (; j + 2 <= nr; j += 2)                                    \
			name##_pair(n, w, (const char *)x + (size_t)j * xs,    \
			    xs, 2, s + j);                                     \
		if (j < nr)                                                    \
			name##_pair(n, w, (const char *)x + (size_t)j * xs,    \
			    xs, 1, s + j);                                     \
	}

KERN_INLINE float
f32_value(float v)
{
	return v;
}

FLOAT_DOT(dot_f32, float, 4, load8_f32, f32_value)
FLOAT_DOT(dot_f16, uint16_t, 2, load8_f16, quant_fp16_to_fp32)
FLOAT_DOT(dot_bf16, uint16_t, 2, load8_bf16, quant_bf16_to_fp32)

/* ---- Q8_0, Q4_0, Q5_0 against Q8_0 ------------------------------------ */

/*
 * The 32 signed weights of block b of a legacy-quant row, as int8 in
 * [-16, 15] (Q4_0, Q5_0) or [-128, 127] (Q8_0).
 */
KERN_INLINE __m256i
q8_0_weights(const struct quant_block_q8_0 *w)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)w->qs);
}

KERN_INLINE __m256i
q4_0_weights(const struct quant_block_q4_0 *w)
{
	return _mm256_sub_epi8(nibbles(w->qs), _mm256_set1_epi8(8));
}

KERN_INLINE __m256i
q5_0_weights(const struct quant_block_q5_0 *w)
{
	uint32_t qh;
	__m256i neg;

	/*
	 * q - 16 with the fifth bit set is the nibble itself; with it clear
	 * it is nibble - 16, whose two's complement is the nibble with the
	 * top four bits set.
	 */
	memcpy(&qh, w->qh, 4);
	neg = _mm256_andnot_si256(
	    bytes_from_bits(qh), _mm256_set1_epi8((char)0xf0));
	return _mm256_or_si256(nibbles(w->qs), neg);
}

/*
 * Legacy-quant rows: per block, the integer dot of the 32 weights with
 * each activation row, scaled by both halves' d, into two accumulators
 * per row (even and odd blocks) to hide the FMA latency.
 */
KERN_INLINE __m256
legacy_step(const struct quant_block_q8_0 *x, __m256i wq, __m256i aw, float dw,
    __m256 acc)
{
	__m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
	__m256i p = mul_sum_us8(aw, _mm256_sign_epi8(xv, wq));
	__m256 d = _mm256_set1_ps(dw * _cvtsh_ss(x->d));

	return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
}

#define LEGACY_ROWS(name, block, weights)                                    \
	KERN_INLINE void name##_rows(int64_t n, const void *vw,              \
	    const void *vx, size_t xs, const int nr, float *s)               \
	{                                                                    \
		const struct block *w = vw;                                  \
		const struct quant_block_q8_0 *x[KERN_TILE];                 \
		__m256 acc0[KERN_TILE], acc1[KERN_TILE];                     \
		__m256i wq, aw;                                              \
		int64_t b, nb = n / INFER_QK;                                \
		float dw;                                                    \
                                                                             \
		_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++)         \
		{                                                            \
			x[j] = ACT_ROW(struct quant_block_q8_0, vx, xs, j);  \
			acc0[j] = _mm256_setzero_ps();                       \
			acc1[j] = _mm256_setzero_ps();                       \
		}                                                            \
		for (b = 0; b + 1 < nb; b += 2) {                            \
			wq = weights(&w[b]);                                 \
			aw = _mm256_sign_epi8(wq, wq);                       \
			dw = _cvtsh_ss(w[b].d);                              \
			_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++) \
			    acc0[j] =                                        \
			        legacy_step(&x[j][b], wq, aw, dw, acc0[j]);  \
			wq = weights(&w[b + 1]);                             \
			aw = _mm256_sign_epi8(wq, wq);                       \
			dw = _cvtsh_ss(w[b + 1].d);                          \
			_Pragma("GCC unroll 4") for (int j = 0; j < nr;      \
			                             j++) acc1[j] =          \
			    legacy_step(&x[j][b + 1], wq, aw, dw, acc1[j]);  \
		}                                                            \
		if (b < nb) {                                                \
			wq = weights(&w[b]);                                 \
			aw = _mm256_sign_epi8(wq, wq);                       \
			dw = _cvtsh_ss(w[b].d);                              \
			_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++) \
			    acc0[j] =                                        \
			        legacy_step(&x[j][b], wq, aw, dw, acc0[j]);  \
		}                                                            \
		for (int j = 0; j < nr; j++)                                 \
			s[j] = hsum_ps(_mm256_add_ps(acc0[j], acc1[j]));     \
	}

LEGACY_ROWS(dot_q8_0, quant_block_q8_0, q8_0_weights)
LEGACY_ROWS(dot_q4_0, quant_block_q4_0, q4_0_weights)
LEGACY_ROWS(dot_q5_0, quant_block_q5_0, q5_0_weights)
KERN_TILE_FN(dot_q8_0)
KERN_TILE_FN(dot_q4_0)
KERN_TILE_FN(dot_q5_0)

/* ---- Q4_K and Q5_K against Q8_K --------------------------------------- */

/* The fifth bits of a Q5_K block (none for Q4_K). */
KERN_INLINE __m256i
q4_K_high(const struct quant_block_q4_K *w)
{
	(void)w;
	return _mm256_setzero_si256();
}

KERN_INLINE __m256i
q5_K_high(const struct quant_block_q5_K *w)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)w->qh);
}

/*
 * Per super-block and row: sumi = sum over sub-blocks of scale * (q . x),
 * summed in int32 lanes, and the mins from bsums; then
 * acc += x.d * d * sumi (lanes) and accm += x.d * dmin * mins.
 */
#define K4_ROWS(name, block, high, load_high)                                  \
	KERN_INLINE void name##_rows(int64_t n, const void *vw,                \
	    const void *vx, size_t xs, const int nr, float *s)                 \
	{                                                                      \
		const struct block *w = vw;                                    \
		const struct quant_block_q8_K *x[KERN_TILE];                   \
		const __m256i m4 = _mm256_set1_epi8(0x0f);                     \
		const __m256i one = _mm256_set1_epi8(1);                       \
		__m256 acc[KERN_TILE];                                         \
		__m256i sumi[KERN_TILE], qv, lo, hi, hb, sc_lo, sc_hi, xl, xh; \
		float accm[KERN_TILE], d, dmin;                                \
		__m128i sc16, mn16;                                            \
		__m256i sc2;                                                   \
		int summ;                                                      \
                                                                               \
		(void)one;                                                     \
		hb = _mm256_setzero_si256();                                   \
		_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++)           \
		{                                                              \
			x[j] = ACT_ROW(struct quant_block_q8_K, vx, xs, j);    \
			acc[j] = _mm256_setzero_ps();                          \
			accm[j] = 0;                                           \
		}                                                              \
		for (int64_t b = 0; b < n / INFER_QK_K; b++) {                 \
			d = _cvtsh_ss(w[b].d);                                 \
			dmin = _cvtsh_ss(w[b].dmin);                           \
			unpack_k4(w[b].scales, &sc16, &mn16);                  \
			/* the 8 scales in both 128-bit lanes */               \
			sc2 = _mm256_broadcastsi128_si256(sc16);               \
			hb = load_high(&w[b]);                                 \
			_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++)   \
			    sumi[j] = _mm256_setzero_si256();                  \
			_Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)    \
			{                                                      \
				qv = _mm256_loadu_si256(                       \
				    (const __m256i *)(const void *)(w[b].qs +  \
				        32 * c));                              \
				lo = _mm256_and_si256(qv, m4);                 \
				hi = _mm256_and_si256(                         \
				    _mm256_srli_epi16(qv, 4), m4);             \
				if (high) {                                    \
					lo = _mm256_or_si256(lo,               \
					    _mm256_slli_epi16(                 \
					        _mm256_and_si256(hb, one),     \
					        4));                           \
					hi = _mm256_or_si256(hi,               \
					    _mm256_slli_epi16(                 \
					        _mm256_and_si256(              \
					            _mm256_srli_epi16(hb, 1),  \
					            one),                      \
					        4));                           \
					hb = _mm256_srli_epi16(hb, 2);         \
				}                                              \
				sc_lo = _mm256_shuffle_epi8(                   \
				    sc2, word_pick(2 * c, 2 * c));             \
				sc_hi = _mm256_shuffle_epi8(                   \
				    sc2, word_pick(2 * c + 1, 2 * c + 1));     \
				_Pragma("GCC unroll 4") for (int j = 0;        \
				                             j < nr; j++)      \
				{                                              \
					xl = _mm256_loadu_si256(               \
					    (const __m256i *)(const void       \
					            *)(x[j][b].qs + 64 * c));  \
					xh = _mm256_loadu_si256((              \
					    const __m256i *)(const void        \
					        *)(x[j][b].qs + 64 * c + 32)); \
					sumi[j] = madd_acc(sumi[j],            \
					    _mm256_maddubs_epi16(lo, xl),      \
					    sc_lo);                            \
					sumi[j] = madd_acc(sumi[j],            \
					    _mm256_maddubs_epi16(hi, xh),      \
					    sc_hi);                            \
				}                                              \
			}                                                      \
			_Pragma("GCC unroll 4") for (int j = 0; j < nr; j++)   \
			{                                                      \
				summ = mins_dot(x[j][b].bsums, mn16);          \
				acc[j] = _mm256_fmadd_ps(                      \
				    _mm256_set1_ps(x[j][b].d * d),             \
				    _mm256_cvtepi32_ps(sumi[j]), acc[j]);      \
				accm[j] += x[j][b].d * dmin * (float)summ;     \
			}                                                      \
		}                                                              \
		for (int j = 0; j < nr; j++)                                   \
			s[j] = hsum_ps(acc[j]) - accm[j];                      \
	}

K4_ROWS(dot_q4_K, quant_block_q4_K, 0, q4_K_high)
K4_ROWS(dot_q5_K, quant_block_q5_K, 1, q5_K_high)
KERN_TILE_FN(dot_q4_K)
KERN_TILE_FN(dot_q5_K)

/* ---- Q6_K against Q8_K ------------------------------------------------ */

/*
 * Per super-block and row: the 6-bit quants q (0..63) times x, each pair
 * sum weighted by its sub-block's scale, minus 32 * scale * bsum for the
 * offset; acc += x.d * d * that.
 */
KERN_INLINE void
dot_q6_K_rows(int64_t n, const void *vw, const void *vx, size_t xs,
    const int nr, float *s)
{
	const struct quant_block_q6_K *w = vw;
	const struct quant_block_q8_K *x[KERN_TILE];
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i m3 = _mm256_set1_epi8(3);
	__m256 acc[KERN_TILE];
	__m256i sumi[KERN_TILE], q[4], ql0, ql1, qh, scv, sc16, sch, xv, bs;
	const uint8_t *qlp, *qhp;
	float d;

#pragma GCC unroll 4
	for (int j = 0; j < nr; j++) {
		x[j] = ACT_ROW(struct quant_block_q8_K, vx, xs, j);
		acc[j] = _mm256_setzero_ps();
	}
	for (int64_t b = 0; b < n / INFER_QK_K; b++) {
		d = _cvtsh_ss(w[b].d);
		sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(
		    (const __m128i *)(const void *)w[b].scales));
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++)
			sumi[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			/* this half's 8 scales in both 128-bit lanes */
			sch = h == 0
			    ? _mm256_permute2x128_si256(sc16, sc16, 0x00)
			    : _mm256_permute2x128_si256(sc16, sc16, 0x11);
			qlp = w[b].ql + 64 * h;
			qhp = w[b].qh + 32 * h;
			ql0 = _mm256_loadu_si256(
			    (const __m256i *)(const void *)qlp);
			ql1 = _mm256_loadu_si256(
			    (const __m256i *)(const void *)(qlp + 32));
			qh = _mm256_loadu_si256(
			    (const __m256i *)(const void *)qhp);
			/* elements 0-31, 32-63, 64-95, 96-127 of the half */
			q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
			    _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
			q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
			    _mm256_slli_epi16(
			        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3),
			        4));
			q[2] = _mm256_or_si256(
			    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
			    _mm256_slli_epi16(
			        _mm256_and_si256(_mm256_srli_epi16(qh, 4), m3),
			        4));
			q[3] = _mm256_or_si256(
			    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
			    _mm256_slli_epi16(
			        _mm256_and_si256(_mm256_srli_epi16(qh, 6), m3),
			        4));
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				/* sub-blocks 8h + 2g (low lane), + 1 (high) */
				scv = _mm256_shuffle_epi8(
				    sch, word_pick(2 * g, 2 * g + 1));
#pragma GCC unroll 4
				for (int j = 0; j < nr; j++) {
					xv = _mm256_loadu_si256((const __m256i
					        *)(const void *)(x[j][b].qs +
					    128 * h + 32 * g));
					sumi[j] = madd_acc(sumi[j],
					    _mm256_maddubs_epi16(q[g], xv),
					    scv);
				}
			}
		}
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++) {
			bs = _mm256_loadu_si256(
			    (const __m256i *)(const void *)x[j][b].bsums);
			bs = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
			acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(x[j][b].d * d),
			    _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[j], bs)),
			    acc[j]);
		}
	}
	for (int j = 0; j < nr; j++)
		s[j] = hsum_ps(acc[j]);
}

KERN_TILE_FN(dot_q6_K)

/* ---- activations ------------------------------------------------------ */

/*
 * Quantizes 8 floats to int32 exactly as quant_quantize_row_q8_0() does:
 * x * id, clamped to [-127, 127] (a NaN becomes -127, as with fmaxf),
 * rounded half to even.
 */
KERN_INLINE __m256i
quantize8(__m256 v, __m256 id)
{
	v = _mm256_mul_ps(v, id);
	v = _mm256_max_ps(v, _mm256_set1_ps(-127.0f));
	v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
	v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	return _mm256_cvtps_epi32(v);
}

/* Packs 4 x 8 int32 (each in [-127, 127]) into 32 int8 in order. */
KERN_INLINE __m256i
pack32(__m256i a, __m256i b, __m256i c, __m256i d)
{
	__m256i ab = _mm256_packs_epi32(a, b);
	__m256i cd = _mm256_packs_epi32(c, d);
	__m256i v = _mm256_packs_epi16(ab, cd);

	return _mm256_permutevar8x32_epi32(
	    v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* The largest |x| of 32 floats; NaN lanes are ignored, as fmaxf does. */
KERN_INLINE __m256
amax32(const float *x, __m256 mx)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);

	for (int k = 0; k < 4; k++)
		mx = _mm256_max_ps(
		    _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), mx);
	return mx;
}

static void
quantize_q8_0(const float *x, void *vy, int64_t n)
{
	struct quant_block_q8_0 *y = vy;
	__m256i q[4];
	__m256 id;
	float amax;

	for (int64_t b = 0; b < n / INFER_QK; b++) {
		const float *v = x + b * INFER_QK;

		amax = hmax_ps(amax32(v, _mm256_setzero_ps()));
		y[b].d = quant_fp32_to_fp16(amax / 127.0f);
		id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
		for (int k = 0; k < 4; k++)
			q[k] = quantize8(_mm256_loadu_ps(v + 8 * k), id);
		_mm256_storeu_si256(
		    (__m256i *)(void *)y[b].qs, pack32(q[0], q[1], q[2], q[3]));
	}
}

static void
quantize_q8_K(const float *x, void *vy, int64_t n)
{
	struct quant_block_q8_K *y = vy;
	__m256i q[4], g0, g1, h;
	__m128i s;
	__m256 mx, id;
	float amax;

	for (int64_t b = 0; b < n / INFER_QK_K; b++) {
		const float *v = x + b * INFER_QK_K;

		mx = _mm256_setzero_ps();
		for (int k = 0; k < INFER_QK_K; k += 32)
			mx = amax32(v + k, mx);
		amax = hmax_ps(mx);
		y[b].d = amax / 127.0f;
		id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
		for (int k = 0; k < INFER_QK_K / 32; k++) {
			for (int i = 0; i < 4; i++)
				q[i] = quantize8(
				    _mm256_loadu_ps(v + 32 * k + 8 * i), id);
			_mm256_storeu_si256(
			    (__m256i *)(void *)(y[b].qs + 32 * k),
			    pack32(q[0], q[1], q[2], q[3]));
			/* two sums of 16: lanes of q0 + q1 and of q2 + q3 */
			g0 = _mm256_add_epi32(q[0], q[1]);
			g1 = _mm256_add_epi32(q[2], q[3]);
			h = _mm256_hadd_epi32(g0, g1);
			h = _mm256_hadd_epi32(h, h);
			s = _mm_add_epi32(_mm256_castsi256_si128(h),
			    _mm256_extracti128_si256(h, 1));
			y[b].bsums[2 * k] = (int16_t)_mm_cvtsi128_si32(s);
			y[b].bsums[2 * k + 1] =
			    (int16_t)_mm_extract_epi32(s, 1);
		}
	}
}

const struct kern_ops KERN_SIMD_OPS = {
	.dot = {
		[INFER_TYPE_F32] = dot_f32,
		[INFER_TYPE_F16] = dot_f16,
		[INFER_TYPE_BF16] = dot_bf16,
		[INFER_TYPE_Q8_0] = dot_q8_0,
		[INFER_TYPE_Q4_0] = dot_q4_0,
		[INFER_TYPE_Q5_0] = dot_q5_0,
		[INFER_TYPE_Q4_K] = dot_q4_K,
		[INFER_TYPE_Q5_K] = dot_q5_K,
		[INFER_TYPE_Q6_K] = dot_q6_K,
	},
	.quantize_q8_0 = quantize_q8_0,
	.quantize_q8_K = quantize_q8_K,
};
