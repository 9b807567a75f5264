/*
 * kernels-avx512.c: the AVX-512 level.
 *
 * The kernels of kernels-avx2.c compiled again with AVX-512 F/BW/VL/DQ
 * and VNNI enabled (the Makefile gives files named *-avx512.c those
 * flags).  With VNNI the int8 products become vpdpbusd (unsigned times
 * signed bytes, four at a time, accumulated in int32 without the
 * saturation of vpmaddubsw) and the K-quant scale products vpdpwssd, on
 * 256-bit vectors: on the CPUs that have VNNI these run on more ports
 * than their 512-bit forms and keep the clock up, and the kernels are
 * bound by the blocks' scale handling rather than by vector width.  The
 * float kernels gain the 32 vector registers of EVEX encoding.
 *
 * Only kernels.c may call into this table, after it has checked that the
 * CPU and the OS support every instruction set named above.
 */
#define KERN_SIMD_OPS kern_ops_avx512
#include "inference/kernels-avx2.c"
