/*
 * types.c: the table of ggml tensor element types (see types.h).
 *
 * Sizes follow the block structs of ggml-common.h: for example a Q8_0
 * block is an f16 scale plus 32 int8 quants (34 bytes), a Q4_K block two
 * f16 super-block scales, 12 bytes of packed 6-bit scales and 128 bytes
 * of nibbles (144 bytes).  quant.c asserts its own structs against this
 * table.
 */
#include <stdint.h>
#include <strings.h>

#include "inference/types.h"

static const struct infer_type_traits type_table[INFER_TYPE_COUNT] = {
	[INFER_TYPE_F32] = { "f32", 1, 4, false },
	[INFER_TYPE_F16] = { "f16", 1, 2, false },
	/* d (f16), 16 bytes of nibbles */
	[INFER_TYPE_Q4_0] = { "q4_0", INFER_QK, 18, true },
	/* d, m (f16), 16 bytes of nibbles */
	[INFER_TYPE_Q4_1] = { "q4_1", INFER_QK, 20, true },
	/* d (f16), 4 bytes of high bits, 16 bytes of nibbles */
	[INFER_TYPE_Q5_0] = { "q5_0", INFER_QK, 22, true },
	/* d, m (f16), 4 bytes of high bits, 16 bytes of nibbles */
	[INFER_TYPE_Q5_1] = { "q5_1", INFER_QK, 24, true },
	/* d (f16), 32 int8 */
	[INFER_TYPE_Q8_0] = { "q8_0", INFER_QK, 34, true },
	/* d, s (f16), 32 int8 */
	[INFER_TYPE_Q8_1] = { "q8_1", INFER_QK, 36, true },
	/* 16 scales, 64 bytes of 2-bit quants, d, dmin (f16) */
	[INFER_TYPE_Q2_K] = { "q2_K", INFER_QK_K, 84, true },
	/* 32 bytes high mask, 64 bytes 2-bit quants, 12 scales, d */
	[INFER_TYPE_Q3_K] = { "q3_K", INFER_QK_K, 110, true },
	/* d, dmin, 12 bytes of scales, 128 bytes of nibbles */
	[INFER_TYPE_Q4_K] = { "q4_K", INFER_QK_K, 144, true },
	/* d, dmin, 12 bytes of scales, 32 bytes high bits, 128 nibbles */
	[INFER_TYPE_Q5_K] = { "q5_K", INFER_QK_K, 176, true },
	/* 128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, d */
	[INFER_TYPE_Q6_K] = { "q6_K", INFER_QK_K, 210, true },
	/* d (f32), 256 int8, 16 int16 sums */
	[INFER_TYPE_Q8_K] = { "q8_K", INFER_QK_K, 292, true },
	[INFER_TYPE_IQ2_XXS] = { "iq2_xxs", INFER_QK_K, 66, true },
	[INFER_TYPE_IQ2_XS] = { "iq2_xs", INFER_QK_K, 74, true },
	[INFER_TYPE_IQ3_XXS] = { "iq3_xxs", INFER_QK_K, 98, true },
	[INFER_TYPE_IQ1_S] = { "iq1_s", INFER_QK_K, 50, true },
	[INFER_TYPE_IQ4_NL] = { "iq4_nl", INFER_QK, 18, true },
	[INFER_TYPE_IQ3_S] = { "iq3_s", INFER_QK_K, 110, true },
	[INFER_TYPE_IQ2_S] = { "iq2_s", INFER_QK_K, 82, true },
	[INFER_TYPE_IQ4_XS] = { "iq4_xs", INFER_QK_K, 136, true },
	[INFER_TYPE_I8] = { "i8", 1, 1, false },
	[INFER_TYPE_I16] = { "i16", 1, 2, false },
	[INFER_TYPE_I32] = { "i32", 1, 4, false },
	[INFER_TYPE_I64] = { "i64", 1, 8, false },
	[INFER_TYPE_F64] = { "f64", 1, 8, false },
	[INFER_TYPE_IQ1_M] = { "iq1_m", INFER_QK_K, 56, true },
	[INFER_TYPE_BF16] = { "bf16", 1, 2, false },
	[INFER_TYPE_TQ1_0] = { "tq1_0", INFER_QK_K, 54, true },
	[INFER_TYPE_TQ2_0] = { "tq2_0", INFER_QK_K, 66, true },
	/* e8m0 shared exponent, 16 bytes of e2m1 nibbles */
	[INFER_TYPE_MXFP4] = { "mxfp4", INFER_QK, 17, true },
	/* 4 ue4m3 scales, 32 bytes of e2m1 nibbles */
	[INFER_TYPE_NVFP4] = { "nvfp4", 64, 36, true },
	/* d (f16), 16 bytes of sign bits */
	[INFER_TYPE_Q1_0] = { "q1_0", 128, 18, true },
	/* d (f16), 16 bytes of 2-bit quants */
	[INFER_TYPE_Q2_0] = { "q2_0", 64, 18, true },
};

const struct infer_type_traits *
infer_type_traits(uint32_t type)
{
	if (type >= INFER_TYPE_COUNT || type_table[type].name == NULL)
		return NULL;
	return &type_table[type];
}

bool
infer_type_valid(uint32_t type)
{
	return infer_type_traits(type) != NULL;
}

const char *
infer_type_name(uint32_t type)
{
	const struct infer_type_traits *t = infer_type_traits(type);

	return t != NULL ? t->name : "unknown";
}

uint32_t
infer_type_block_size(uint32_t type)
{
	const struct infer_type_traits *t = infer_type_traits(type);

	return t != NULL ? t->block_size : 0;
}

uint32_t
infer_type_size(uint32_t type)
{
	const struct infer_type_traits *t = infer_type_traits(type);

	return t != NULL ? t->type_size : 0;
}

int
infer_type_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (uint32_t i = 0; i < INFER_TYPE_COUNT; i++) {
		if (type_table[i].name != NULL &&
		    strcasecmp(type_table[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

int
infer_type_nbytes(uint32_t type, uint64_t n, uint64_t *size)
{
	const struct infer_type_traits *t = infer_type_traits(type);
	uint64_t blocks;

	if (t == NULL || n % t->block_size != 0)
		return -1;
	blocks = n / t->block_size;
	if (blocks > UINT64_MAX / t->type_size)
		return -1;
	*size = blocks * t->type_size;
	return 0;
}
