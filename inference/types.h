/*
 * types.h: the tensor element types of ggml and GGUF, as data.
 *
 * The numeric ids are exactly those that ggml assigns and that GGUF files
 * store in each tensor's info (ggml.h `enum ggml_type`); ids that ggml
 * retired (4, 5, 31-33, 36-38) are holes that no file may use.  For each
 * type the table gives its name as llama.cpp prints it, its block size in
 * elements (1 for the plain types, 32 for the legacy quants, 256 for the
 * K-quants, 64 or 128 for the newest ones) and the bytes one block takes.
 * A row of n elements of type t takes n / block_size * type_size bytes,
 * and n must be a multiple of the block size.
 *
 * This file is pure data: it allocates nothing and never fails other than
 * by returning a sentinel.  Block layouts themselves are in quant.h.
 */
#ifndef AGENTD_INFERENCE_TYPES_H
#define AGENTD_INFERENCE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Element types, numbered as ggml numbers them. */
enum infer_type {
	INFER_TYPE_F32 = 0,
	INFER_TYPE_F16 = 1,
	INFER_TYPE_Q4_0 = 2,
	INFER_TYPE_Q4_1 = 3,
	/* 4 (Q4_2) and 5 (Q4_3) were removed from ggml. */
	INFER_TYPE_Q5_0 = 6,
	INFER_TYPE_Q5_1 = 7,
	INFER_TYPE_Q8_0 = 8,
	INFER_TYPE_Q8_1 = 9,
	INFER_TYPE_Q2_K = 10,
	INFER_TYPE_Q3_K = 11,
	INFER_TYPE_Q4_K = 12,
	INFER_TYPE_Q5_K = 13,
	INFER_TYPE_Q6_K = 14,
	INFER_TYPE_Q8_K = 15,
	INFER_TYPE_IQ2_XXS = 16,
	INFER_TYPE_IQ2_XS = 17,
	INFER_TYPE_IQ3_XXS = 18,
	INFER_TYPE_IQ1_S = 19,
	INFER_TYPE_IQ4_NL = 20,
	INFER_TYPE_IQ3_S = 21,
	INFER_TYPE_IQ2_S = 22,
	INFER_TYPE_IQ4_XS = 23,
	INFER_TYPE_I8 = 24,
	INFER_TYPE_I16 = 25,
	INFER_TYPE_I32 = 26,
	INFER_TYPE_I64 = 27,
	INFER_TYPE_F64 = 28,
	INFER_TYPE_IQ1_M = 29,
	INFER_TYPE_BF16 = 30,
	/* 31-33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed from ggml. */
	INFER_TYPE_TQ1_0 = 34,
	INFER_TYPE_TQ2_0 = 35,
	/* 36-38 (IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) were removed from ggml. */
	INFER_TYPE_MXFP4 = 39,
	INFER_TYPE_NVFP4 = 40,
	INFER_TYPE_Q1_0 = 41,
	INFER_TYPE_Q2_0 = 42,
	INFER_TYPE_COUNT = 43, /* one past the largest id */
};

/* Block sizes of the two quant families, in elements. */
#define INFER_QK   32  /* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL, MXFP4 */
#define INFER_QK_K 256 /* the K-quants, IQ*, TQ* */

/* What the table knows about one type. */
struct infer_type_traits {
	const char *name;    /* as llama.cpp prints it: "f32", "q4_K", ... */
	uint32_t block_size; /* elements per block */
	uint32_t type_size;  /* bytes per block */
	bool quantized;      /* false for the float and integer types */
};

/*
 * Returns the traits of type id `type`, or NULL when `type` is not a type
 * ggml defines (out of range, or one of the removed ids).  The pointer is
 * to static data.
 */
const struct infer_type_traits *infer_type_traits(uint32_t type);

/* True when `type` is a valid id (infer_type_traits() is not NULL). */
bool infer_type_valid(uint32_t type);

/* Returns the name of `type`, or "unknown" for an invalid id. */
const char *infer_type_name(uint32_t type);

/* Returns elements per block of `type`, or 0 for an invalid id. */
uint32_t infer_type_block_size(uint32_t type);

/* Returns bytes per block of `type`, or 0 for an invalid id. */
uint32_t infer_type_size(uint32_t type);

/*
 * Looks a type up by name, case-insensitively ("q8_0", "Q4_K", "bf16").
 * Returns the id, or -1 when no type has that name.
 */
int infer_type_from_name(const char *name);

/*
 * Computes the bytes of `n` elements of `type` into `*size`.  Returns 0,
 * or -1 when `type` is invalid, `n` is not a multiple of its block size,
 * or the size does not fit in a uint64_t; `*size` is untouched then.
 */
int infer_type_nbytes(uint32_t type, uint64_t n, uint64_t *size);

#endif /* AGENTD_INFERENCE_TYPES_H */
