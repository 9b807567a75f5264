/*
 * test-daemon-framing.c: the NDJSON line reader (daemon/framing.c) and the
 * depth scan that runs before JSON parsing (daemon/jsonrpc.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/daemon-int.h"

/* Takes the next result and checks it is a line equal to want. */
static void
expect_line(struct dmn_framer *f, const char *want)
{
	const char *line;
	size_t len;
	uint64_t no;

	assert_int_equal(dmn_framer_next(f, &line, &len, &no), DMN_FRAME_LINE);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
}

static void
expect_more(struct dmn_framer *f)
{
	const char *line;
	size_t len;
	uint64_t no;

	assert_int_equal(dmn_framer_next(f, &line, &len, &no), DMN_FRAME_MORE);
}

static void
feed(struct dmn_framer *f, const char *s)
{
	dmn_framer_feed(f, s, strlen(s));
}

static void
test_one_line(void **state)
{
	struct dmn_framer f;

	(void)state;
	dmn_framer_init(&f, 64);
	expect_more(&f);
	feed(&f, "{\"a\":1}\n");
	expect_line(&f, "{\"a\":1}");
	expect_more(&f);
	assert_int_equal(dmn_framer_buffered(&f), 0);
	dmn_framer_free(&f);
}

static void
test_partial_lines(void **state)
{
	const char *msg = "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n";
	struct dmn_framer f;

	(void)state;
	dmn_framer_init(&f, 64);
	/* One byte at a time: nothing until the '\n'. */
	for (size_t i = 0; i < strlen(msg) - 1; i++) {
		dmn_framer_feed(&f, msg + i, 1);
		expect_more(&f);
	}
	dmn_framer_feed(&f, "\n", 1);
	expect_line(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}");
	expect_more(&f);
	/* A line split across two reads, the second carrying another. */
	feed(&f, "[1,");
	expect_more(&f);
	feed(&f, "2]\n[3]\n[4");
	expect_line(&f, "[1,2]");
	expect_line(&f, "[3]");
	expect_more(&f);
	feed(&f, "]\n");
	expect_line(&f, "[4]");
	dmn_framer_free(&f);
}

static void
test_several_in_one_read(void **state)
{
	struct dmn_framer f;
	const char *line;
	size_t len;
	uint64_t no;

	(void)state;
	dmn_framer_init(&f, 64);
	feed(&f, "1\n22\n333\n4444\n");
	expect_line(&f, "1");
	expect_line(&f, "22");
	assert_int_equal(dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_LINE);
	assert_int_equal(no, 3);
	assert_memory_equal(line, "333", 3);
	expect_line(&f, "4444");
	expect_more(&f);
	dmn_framer_free(&f);
}

static void
test_crlf_and_blank_lines(void **state)
{
	struct dmn_framer f;
	const char *line;
	size_t len;
	uint64_t no;

	(void)state;
	dmn_framer_init(&f, 64);
	feed(&f, "\n\r\n  \t \n{}\r\n\n[]\n");
	assert_int_equal(dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_LINE);
	assert_int_equal(len, 2);
	assert_memory_equal(line, "{}", 2);
	assert_int_equal(no, 4); /* blank lines count */
	assert_int_equal(dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_LINE);
	assert_int_equal(no, 6);
	assert_memory_equal(line, "[]", 2);
	expect_more(&f);
	/* Only the one '\r' before '\n' goes. */
	feed(&f, "x\r\r\n");
	expect_line(&f, "x\r");
	dmn_framer_free(&f);
}

static void
test_invalid_utf8(void **state)
{
	struct dmn_framer f;
	const char *line;
	size_t len;
	uint64_t no;
	static const char *bad[] = {
		"ab\xff", "ab\xc0\xaf", /* overlong '/' */
		"ab\xed\xa0\x80",       /* surrogate */
		"ab\xf4\x90\x80\x80",   /* past U+10FFFF */
		"ab\xe2\x82",           /* cut short */
	};

	(void)state;
	dmn_framer_init(&f, 64);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		feed(&f, bad[i]);
		feed(&f, "\n");
		assert_int_equal(
		    dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_BAD_UTF8);
		assert_int_equal(len, 2); /* the offset of the bad byte */
		assert_int_equal(no, i + 1);
	}
	/* The reader goes on after a bad line. */
	feed(&f, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\n");
	expect_line(&f, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	dmn_framer_free(&f);
}

static void
test_cap(void **state)
{
	struct dmn_framer f;
	char buf[64];
	const char *line;
	size_t len;
	uint64_t no;

	(void)state;
	dmn_framer_init(&f, 8);
	/* Exactly the cap, with "\n" and with "\r\n". */
	feed(&f, "12345678\n12345678\r\n");
	expect_line(&f, "12345678");
	expect_line(&f, "12345678");
	/* One past the cap, complete. */
	feed(&f, "123456789\nok\n");
	assert_int_equal(
	    dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_TOO_LONG);
	assert_int_equal(no, 3);
	expect_line(&f, "ok");
	/* An unfinished line passing the cap is reported at once... */
	feed(&f, "1234567890");
	assert_int_equal(
	    dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_TOO_LONG);
	assert_int_equal(dmn_framer_buffered(&f), 0);
	/* ...and its rest is dropped as it comes, never buffered. */
	memset(buf, 'x', sizeof buf);
	for (int i = 0; i < 100; i++) {
		dmn_framer_feed(&f, buf, sizeof buf);
		expect_more(&f);
		assert_int_equal(dmn_framer_buffered(&f), 0);
	}
	feed(&f, "xx\n[1]\n");
	expect_line(&f, "[1]");
	expect_more(&f);
	dmn_framer_free(&f);
}

static void
test_cap_bounds_memory(void **state)
{
	struct dmn_framer f;
	char chunk[4096];

	(void)state;
	memset(chunk, 'a', sizeof chunk);
	dmn_framer_init(&f, 10000);
	/* Feeding only after MORE keeps at most max + 1 + one chunk. */
	for (int i = 0; i < 10; i++) {
		const char *line;
		size_t len;
		uint64_t no;
		enum dmn_frame r;

		dmn_framer_feed(&f, chunk, sizeof chunk);
		assert_true(dmn_framer_buffered(&f) <= 10001 + sizeof chunk);
		r = dmn_framer_next(&f, &line, &len, &no);
		if (r == DMN_FRAME_TOO_LONG)
			break;
		assert_int_equal(r, DMN_FRAME_MORE);
	}
	assert_int_equal(dmn_framer_buffered(&f), 0);
	dmn_framer_free(&f);
}

static void
test_eof(void **state)
{
	struct dmn_framer f;

	(void)state;
	dmn_framer_init(&f, 64);
	feed(&f, "[1]\n[2]");
	expect_line(&f, "[1]");
	expect_more(&f);
	dmn_framer_eof(&f);
	expect_line(&f, "[2]");
	expect_more(&f);
	dmn_framer_free(&f);
}

static void
test_set_max(void **state)
{
	struct dmn_framer f;
	const char *line;
	size_t len;
	uint64_t no;

	(void)state;
	dmn_framer_init(&f, 4);
	feed(&f, "12345\n");
	assert_int_equal(
	    dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_TOO_LONG);
	dmn_framer_set_max(&f, 5);
	feed(&f, "12345\n");
	expect_line(&f, "12345");
	dmn_framer_free(&f);
}

static void
test_space_commit(void **state)
{
	struct dmn_framer f;
	const char *line;
	size_t len;
	uint64_t no;
	char *p;

	(void)state;
	dmn_framer_init(&f, 8);
	/* Reading straight into the framer, as a connection does. */
	p = dmn_framer_space(&f, 100);
	memcpy(p, "[1]\n[2", 6);
	dmn_framer_commit(&f, 6);
	expect_line(&f, "[1]");
	expect_more(&f);
	p = dmn_framer_space(&f, 100);
	memcpy(p, "]\n1234567890", 12);
	dmn_framer_commit(&f, 12);
	expect_line(&f, "[2]");
	assert_int_equal(
	    dmn_framer_next(&f, &line, &len, &no), DMN_FRAME_TOO_LONG);
	/* The rest of the long line is dropped in commit, up to its '\n'. */
	p = dmn_framer_space(&f, 100);
	memcpy(p, "abc", 3);
	dmn_framer_commit(&f, 3);
	assert_int_equal(dmn_framer_buffered(&f), 0);
	expect_more(&f);
	p = dmn_framer_space(&f, 100);
	memcpy(p, "def\n[3]\n", 8);
	dmn_framer_commit(&f, 8);
	expect_line(&f, "[3]");
	expect_more(&f);
	dmn_framer_free(&f);
}

static void
test_depth_scan(void **state)
{
	size_t where = 0;
	char deep[300];

	(void)state;
	assert_false(dmn_json_too_deep("{\"a\":[1,{\"b\":2}]}", 17, 3, &where));
	assert_true(dmn_json_too_deep("{\"a\":[1,{\"b\":2}]}", 17, 2, &where));
	assert_int_equal(where, 8);
	/* Brackets in strings, escaped quotes included, do not count. */
	assert_false(dmn_json_too_deep("[\"[[[[\\\"[[[[\"]", 14, 1, &where));
	assert_false(dmn_json_too_deep("[\"\\\\\"]", 6, 1, &where));
	/* Sequential containers do not add up. */
	assert_false(dmn_json_too_deep("[[],[],[[]]]", 12, 3, &where));
	memset(deep, '[', 150);
	memset(deep + 150, ']', 150);
	assert_true(dmn_json_too_deep(deep, 300, 64, &where));
	assert_int_equal(where, 64);
	assert_false(dmn_json_too_deep(deep, 300, 150, &where));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_partial_lines),
		cmocka_unit_test(test_several_in_one_read),
		cmocka_unit_test(test_crlf_and_blank_lines),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_cap_bounds_memory),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_set_max),
		cmocka_unit_test(test_space_commit),
		cmocka_unit_test(test_depth_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
