/*
 * test-infer-kernels-vnni-avx2.c: the VNNI code paths of the SIMD kernels,
 * checked on any CPU with AVX2.
 *
 * The AVX-512 level is kernels-avx2.c compiled with VNNI, where the int8
 * products go through vpdpbusd and vpdpwssd.  A machine without AVX-512
 * cannot run that object, so this file compiles the same source once more
 * (with AVX2 only: the Makefile gives *-avx2.c files those flags) with the
 * two instructions replaced by exact scalar emulations written from their
 * definitions, and runs every check of test-infer-kernels.c on the
 * result.  The CPU-specific part left untested here is only the
 * instructions themselves.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "inference/kernels.h"

/*
 * vpdpbusd: lane k of acc plus the sum over i = 0..3 of unsigned byte
 * 4k + i of u times signed byte 4k + i of s, without saturation.
 */
static inline __m256i
kern_emu_dpbusd(__m256i acc, __m256i u, __m256i s)
{
	uint8_t ub[32];
	int8_t sb[32];
	int32_t a[8];

	memcpy(ub, &u, sizeof ub);
	memcpy(sb, &s, sizeof sb);
	memcpy(a, &acc, sizeof a);
	for (int k = 0; k < 8; k++) {
		for (int i = 0; i < 4; i++)
			a[k] += (int32_t)ub[4 * k + i] * sb[4 * k + i];
	}
	memcpy(&acc, a, sizeof a);
	return acc;
}

/*
 * vpdpwssd: lane k of acc plus the two products of signed words 2k and
 * 2k + 1 of x and y, without saturation.
 */
static inline __m256i
kern_emu_dpwssd(__m256i acc, __m256i x, __m256i y)
{
	int16_t xw[16], yw[16];
	int32_t a[8];

	memcpy(xw, &x, sizeof xw);
	memcpy(yw, &y, sizeof yw);
	memcpy(a, &acc, sizeof a);
	for (int k = 0; k < 8; k++)
		a[k] += (int32_t)xw[2 * k] * yw[2 * k] +
		    (int32_t)xw[2 * k + 1] * yw[2 * k + 1];
	memcpy(&acc, a, sizeof a);
	return acc;
}

extern const struct kern_ops kern_ops_vnni_emu;

#define KERN_VNNI_EMULATE 1
#define KERN_SIMD_OPS     kern_ops_vnni_emu
#include "inference/kernels-avx2.c"

#define KERN_TEST_OPS  (&kern_ops_vnni_emu)
#define KERN_TEST_NAME "avx2 with emulated vnni"
#include "tests/unit/test-infer-kernels.c"
