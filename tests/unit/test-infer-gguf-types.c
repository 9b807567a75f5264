/*
 * test-infer-gguf-types.c: the tensor type table against the numbers
 * GGUF files store (ggml's type ids, block sizes and block bytes), the
 * retired ids, lookups by name and the checked row sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "inference/types.h"

static void
test_ids_and_sizes(void **state)
{
	static const struct {
		uint32_t id;
		const char *name;
		uint32_t block;
		uint32_t bytes;
		bool quantized;
	} want[] = {
		{ 0, "f32", 1, 4, false },
		{ 1, "f16", 1, 2, false },
		{ 2, "q4_0", 32, 18, true },
		{ 3, "q4_1", 32, 20, true },
		{ 6, "q5_0", 32, 22, true },
		{ 7, "q5_1", 32, 24, true },
		{ 8, "q8_0", 32, 34, true },
		{ 9, "q8_1", 32, 36, true },
		{ 10, "q2_K", 256, 84, true },
		{ 11, "q3_K", 256, 110, true },
		{ 12, "q4_K", 256, 144, true },
		{ 13, "q5_K", 256, 176, true },
		{ 14, "q6_K", 256, 210, true },
		{ 15, "q8_K", 256, 292, true },
		{ 16, "iq2_xxs", 256, 66, true },
		{ 17, "iq2_xs", 256, 74, true },
		{ 18, "iq3_xxs", 256, 98, true },
		{ 19, "iq1_s", 256, 50, true },
		{ 20, "iq4_nl", 32, 18, true },
		{ 21, "iq3_s", 256, 110, true },
		{ 22, "iq2_s", 256, 82, true },
		{ 23, "iq4_xs", 256, 136, true },
		{ 24, "i8", 1, 1, false },
		{ 25, "i16", 1, 2, false },
		{ 26, "i32", 1, 4, false },
		{ 27, "i64", 1, 8, false },
		{ 28, "f64", 1, 8, false },
		{ 29, "iq1_m", 256, 56, true },
		{ 30, "bf16", 1, 2, false },
		{ 34, "tq1_0", 256, 54, true },
		{ 35, "tq2_0", 256, 66, true },
		{ 39, "mxfp4", 32, 17, true },
		{ 40, "nvfp4", 64, 36, true },
		{ 41, "q1_0", 128, 18, true },
		{ 42, "q2_0", 64, 18, true },
	};
	size_t n = sizeof(want) / sizeof(want[0]);

	(void)state;
	assert_int_equal(INFER_TYPE_F32, 0);
	assert_int_equal(INFER_TYPE_Q8_0, 8);
	assert_int_equal(INFER_TYPE_Q4_K, 12);
	assert_int_equal(INFER_TYPE_Q6_K, 14);
	assert_int_equal(INFER_TYPE_Q8_K, 15);
	assert_int_equal(INFER_TYPE_BF16, 30);
	for (size_t i = 0; i < n; i++) {
		const struct infer_type_traits *t =
		    infer_type_traits(want[i].id);

		assert_non_null(t);
		assert_string_equal(t->name, want[i].name);
		assert_int_equal(t->block_size, want[i].block);
		assert_int_equal(t->type_size, want[i].bytes);
		assert_int_equal(t->quantized, want[i].quantized);
		assert_true(infer_type_valid(want[i].id));
		assert_string_equal(infer_type_name(want[i].id), want[i].name);
		assert_int_equal(
		    infer_type_block_size(want[i].id), want[i].block);
		assert_int_equal(infer_type_size(want[i].id), want[i].bytes);
		assert_int_equal(
		    infer_type_from_name(want[i].name), (int)want[i].id);
	}
	/* Every valid id is in the list above: the holes are exactly these. */
	for (uint32_t id = 0; id < INFER_TYPE_COUNT + 5; id++) {
		bool listed = false;

		for (size_t i = 0; i < n; i++)
			listed = listed || want[i].id == id;
		assert_int_equal(infer_type_valid(id), listed);
	}
}

static void
test_invalid_ids(void **state)
{
	static const uint32_t holes[] = { 4, 5, 31, 32, 33, 36, 37, 38,
		INFER_TYPE_COUNT, 1000, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		uint64_t size = 7;

		assert_null(infer_type_traits(holes[i]));
		assert_false(infer_type_valid(holes[i]));
		assert_string_equal(infer_type_name(holes[i]), "unknown");
		assert_int_equal(infer_type_block_size(holes[i]), 0);
		assert_int_equal(infer_type_size(holes[i]), 0);
		assert_int_equal(infer_type_nbytes(holes[i], 32, &size), -1);
		assert_int_equal(size, 7);
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(infer_type_from_name("Q4_K"), INFER_TYPE_Q4_K);
	assert_int_equal(infer_type_from_name("BF16"), INFER_TYPE_BF16);
	assert_int_equal(infer_type_from_name("q8_0"), INFER_TYPE_Q8_0);
	assert_int_equal(infer_type_from_name("q4_k_m"), -1);
	assert_int_equal(infer_type_from_name(""), -1);
	assert_int_equal(infer_type_from_name(NULL), -1);
	assert_string_equal(infer_type_name(INFER_TYPE_Q6_K), "q6_K");
}

static void
test_nbytes(void **state)
{
	uint64_t size = 0;

	(void)state;
	assert_int_equal(infer_type_nbytes(INFER_TYPE_F32, 10, &size), 0);
	assert_int_equal(size, 40);
	assert_int_equal(infer_type_nbytes(INFER_TYPE_Q8_0, 4096, &size), 0);
	assert_int_equal(size, 4096 / 32 * 34);
	assert_int_equal(infer_type_nbytes(INFER_TYPE_Q4_K, 4096, &size), 0);
	assert_int_equal(size, 16 * 144);
	assert_int_equal(infer_type_nbytes(INFER_TYPE_Q6_K, 0, &size), 0);
	assert_int_equal(size, 0);
	/* Not a whole number of blocks. */
	size = 5;
	assert_int_equal(infer_type_nbytes(INFER_TYPE_Q8_0, 33, &size), -1);
	assert_int_equal(infer_type_nbytes(INFER_TYPE_Q4_K, 128, &size), -1);
	assert_int_equal(size, 5);
	/* Sizes past uint64_t. */
	assert_int_equal(
	    infer_type_nbytes(INFER_TYPE_F64, UINT64_MAX / 4, &size), -1);
	assert_int_equal(
	    infer_type_nbytes(INFER_TYPE_I8, UINT64_MAX, &size), 0);
	assert_true(size == UINT64_MAX);
	assert_int_equal(
	    infer_type_nbytes(INFER_TYPE_F32, UINT64_MAX / 4, &size), 0);
	assert_int_equal(
	    infer_type_nbytes(INFER_TYPE_F32, UINT64_MAX / 4 + 1, &size), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_and_sizes),
		cmocka_unit_test(test_invalid_ids),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_nbytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
