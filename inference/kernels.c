/*
 * kernels.c: CPU feature detection, the choice of a level, and the
 * drivers that tile a matrix multiplication over the level's kernels.
 *
 * The SIMD files are compiled with their instruction sets enabled, so
 * nothing in them may run before detection has said the CPU (and the
 * OS, which must save the wider registers) supports them.  Detection
 * reads cpuid and xgetbv once; a level's table entry that is NULL falls
 * back to the reference.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "inference/kernels.h"
#include "inference/quant.h"

/* Weight rows per chunk: a chunk stays in L2 while tiles pass over it. */
#define KERN_ROW_CHUNK 16

static void kern_error(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kern_detect(void);
static enum kern_level kern_level_from_env(const char *v, int *bad);
static void kern_once_init(void);

static pthread_once_t kern_once = PTHREAD_ONCE_INIT;
static enum kern_level kern_best = KERN_LEVEL_SCALAR;
static _Atomic int kern_cur = KERN_LEVEL_SCALAR;
static const char *const kern_names[KERN_LEVEL_COUNT] = {
	"scalar",
	"avx2",
	"avx512",
};

static void
kern_error(char **cause, const char *fmt, ...)
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
 * Finds the best level: AVX2 needs AVX2, FMA and F16C from cpuid and the
 * YMM state enabled in XCR0; AVX-512 also needs F, BW, VL, DQ and VNNI
 * and the opmask and ZMM states.
 */
static void
kern_detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d, lo, hi;
	uint64_t xcr0;
	bool avx2, avx512;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0)
		return;
	/* OSXSAVE (bit 27), AVX (28), FMA (12), F16C (29) */
	if ((c & (1u << 27)) == 0 || (c & (1u << 28)) == 0 ||
	    (c & (1u << 12)) == 0 || (c & (1u << 29)) == 0)
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
		return;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
		return;
	avx2 = (b & (1u << 5)) != 0;
	/* F (16), DQ (17), BW (30), VL (31); VNNI is ecx bit 11 */
	avx512 = avx2 && (b & (1u << 16)) != 0 && (b & (1u << 17)) != 0 &&
	    (b & (1u << 30)) != 0 && (b & (1u << 31)) != 0 &&
	    (c & (1u << 11)) != 0 && (xcr0 & 0xe0) == 0xe0;
	if (avx512)
		kern_best = KERN_LEVEL_AVX512;
	else if (avx2)
		kern_best = KERN_LEVEL_AVX2;
#endif
}

/* Parses AGENTD_CPU; *bad is set when it names no level. */
static enum kern_level
kern_level_from_env(const char *v, int *bad)
{
	*bad = 0;
	for (int i = 0; i < KERN_LEVEL_COUNT; i++) {
		if (strcmp(v, kern_names[i]) == 0)
			return (enum kern_level)i;
	}
	*bad = 1;
	return KERN_LEVEL_AVX512;
}

static void
kern_once_init(void)
{
	const char *v = getenv("AGENTD_CPU");
	enum kern_level want = KERN_LEVEL_AVX512;
	int bad;

	kern_detect();
	if (v != NULL && *v != '\0')
		want = kern_level_from_env(v, &bad);
	atomic_store(&kern_cur, want < kern_best ? want : kern_best);
}

int
kern_init(char **cause)
{
	const char *v = getenv("AGENTD_CPU");
	enum kern_level want;
	int bad = 0;

	pthread_once(&kern_once, kern_once_init);
	want = kern_best;
	if (v != NULL && *v != '\0')
		want = kern_level_from_env(v, &bad);
	atomic_store(&kern_cur, want < kern_best ? want : kern_best);
	if (bad) {
		kern_error(cause,
		    "AGENTD_CPU=%s: expected scalar, avx2 or avx512; using %s",
		    v, kern_names[kern_level_get()]);
		return -1;
	}
	if (want > kern_best) {
		kern_error(cause,
		    "AGENTD_CPU=%s: this CPU does not support it; using %s", v,
		    kern_names[kern_level_get()]);
		return -1;
	}
	return 0;
}

enum kern_level
kern_level_get(void)
{
	pthread_once(&kern_once, kern_once_init);
	return (enum kern_level)atomic_load_explicit(
	    &kern_cur, memory_order_relaxed);
}

enum kern_level
kern_level_best(void)
{
	pthread_once(&kern_once, kern_once_init);
	return kern_best;
}

int
kern_level_set(enum kern_level level, char **cause)
{
	pthread_once(&kern_once, kern_once_init);
	if ((int)level < 0 || level >= KERN_LEVEL_COUNT) {
		kern_error(cause, "kernel level %d does not exist", (int)level);
		return -1;
	}
	if (level > kern_best) {
		kern_error(cause, "this CPU does not support the %s kernels",
		    kern_names[level]);
		return -1;
	}
	atomic_store(&kern_cur, level);
	return 0;
}

const char *
kern_level_name(enum kern_level level)
{
	if ((int)level < 0 || level >= KERN_LEVEL_COUNT)
		return "unknown";
	return kern_names[level];
}

const struct kern_ops *
kern_ops_level(enum kern_level level)
{
	switch (level) {
	case KERN_LEVEL_AVX2:
		return &kern_ops_avx2;
	case KERN_LEVEL_AVX512:
		return &kern_ops_avx512;
	case KERN_LEVEL_SCALAR:
		break;
	}
	return &kern_ops_ref;
}

/* ---- types ------------------------------------------------------------ */

bool
kern_supported(uint32_t wtype)
{
	return wtype < INFER_TYPE_COUNT && kern_ops_ref.dot[wtype] != NULL;
}

uint32_t
kern_act_type(uint32_t wtype)
{
	switch (wtype) {
	case INFER_TYPE_Q8_0:
	case INFER_TYPE_Q4_0:
	case INFER_TYPE_Q5_0:
		return INFER_TYPE_Q8_0;
	case INFER_TYPE_Q4_K:
	case INFER_TYPE_Q5_K:
	case INFER_TYPE_Q6_K:
		return INFER_TYPE_Q8_K;
	default:
		return INFER_TYPE_F32;
	}
}

int
kern_check(uint32_t wtype, int64_t n, char **cause)
{
	uint32_t bs;

	if (!kern_supported(wtype)) {
		kern_error(cause,
		    "tensor type %s (%u) has no matrix multiplication",
		    infer_type_name(wtype), wtype);
		return -1;
	}
	bs = infer_type_block_size(kern_act_type(wtype));
	if (infer_type_block_size(wtype) > bs)
		bs = infer_type_block_size(wtype);
	if (n <= 0 || n % bs != 0) {
		kern_error(cause,
		    "%s rows of %lld elements: not a positive multiple of %u",
		    infer_type_name(wtype), (long long)n, bs);
		return -1;
	}
	return 0;
}

size_t
kern_act_row_size(uint32_t wtype, int64_t n)
{
	uint32_t at = kern_act_type(wtype);

	return (size_t)n / infer_type_block_size(at) * infer_type_size(at);
}

/* ---- the work --------------------------------------------------------- */

void
kern_quantize_act(uint32_t wtype, int64_t n, const float *x, size_t x_stride,
    int nx, void *xq, size_t xq_row_bytes)
{
	const struct kern_ops *ops = kern_ops_level(kern_level_get());
	void (*fn)(const float *, void *, int64_t);
	uint32_t at = kern_act_type(wtype);

	if (at == INFER_TYPE_Q8_0)
		fn = ops->quantize_q8_0 != NULL ? ops->quantize_q8_0
		                                : kern_ops_ref.quantize_q8_0;
	else if (at == INFER_TYPE_Q8_K)
		fn = ops->quantize_q8_K != NULL ? ops->quantize_q8_K
		                                : kern_ops_ref.quantize_q8_K;
	else
		fn = NULL;
	for (int i = 0; i < nx; i++) {
		const float *src = x + (size_t)i * x_stride;
		void *dst = (char *)xq + (size_t)i * xq_row_bytes;

		if (fn != NULL)
			fn(src, dst, n);
		else if (dst != src)
			memmove(dst, src, (size_t)n * sizeof *src);
	}
}

void
kern_matmul(uint32_t wtype, int64_t n, const void *w, size_t w_row_bytes,
    int64_t row0, int64_t row1, const void *xq, size_t xq_row_bytes, int nx,
    float *out, size_t out_stride)
{
	const struct kern_ops *ops = kern_ops_level(kern_level_get());
	void (*dot)(int64_t, const void *, const void *, size_t, int, float *);
	float s[KERN_TILE];
	int64_t c1;
	int nr;

	dot =
	    ops->dot[wtype] != NULL ? ops->dot[wtype] : kern_ops_ref.dot[wtype];
	if (dot == NULL)
		abort(); /* kern_check() would have refused the type */
	for (int64_t c0 = row0; c0 < row1; c0 += KERN_ROW_CHUNK) {
		c1 = c0 + KERN_ROW_CHUNK < row1 ? c0 + KERN_ROW_CHUNK : row1;
		for (int i = 0; i < nx; i += KERN_TILE) {
			const char *x =
			    (const char *)xq + (size_t)i * xq_row_bytes;

			nr = nx - i < KERN_TILE ? nx - i : KERN_TILE;
			for (int64_t r = c0; r < c1; r++) {
				dot(n,
				    (const char *)w + (size_t)r * w_row_bytes,
				    x, xq_row_bytes, nr, s);
				for (int j = 0; j < nr; j++)
					out[(size_t)(i + j) * out_stride +
					    (size_t)r] = s[j];
			}
		}
	}
}
