/*
 * test-plugins-kb.c: the kb_search built-in (plugins/tool-kb-search.c)
 * on the knowledge base in tests/fixtures/kb: passages, tokens, BM25
 * scores and order (reference values from an independent Python
 * implementation of the documented formula), ties, k, files that are
 * skipped, and the index rebuilt on reload while an old snapshot keeps
 * its own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"
#include "tests/common/harness.h"

static char *
fixture_dir(void)
{
	const char *src = getenv("AGENTD_SRCDIR");
	char *dir;

	xasprintf(&dir, "%s/tests/fixtures/kb", src != NULL ? src : ".");
	return dir;
}

static struct plug_kb *
fixture_kb(void)
{
	char *dir = fixture_dir(), *cause = NULL;
	struct plug_kb *kb;

	kb = plug_kb_new(dir, 0, &cause);
	if (kb == NULL)
		fail_msg("%s", cause);
	free(dir);
	return kb;
}

/* Searches and compares the output and the scores (to 1e-6). */
static void
expect_search(const struct plug_kb *kb, const char *query, int k,
    const char *want, const double *want_scores, size_t n)
{
	double scores[8];
	char *out, *cause = NULL;

	memset(scores, 0, sizeof scores);
	out = plug_kb_search(kb, query, k, scores, &cause);
	if (out == NULL)
		fail_msg("'%s': %s", query, cause);
	if (strcmp(out, want) != 0)
		fail_msg("'%s':\ngot:\n%s\nwant:\n%s", query, out, want);
	for (size_t i = 0; i < n; i++) {
		if (fabs(scores[i] - want_scores[i]) > 1e-6) {
			fail_msg("'%s': score %zu is %.9f, want %.6f", query, i,
			    scores[i], want_scores[i]);
		}
	}
	free(out);
}

static void
test_fixture(void **state)
{
	struct plug_kb *kb = fixture_kb();

	(void)state;
	/* animals 3, cities 3, tie-a 1, tie-b 2, unicode 2; readme.md no. */
	assert_int_equal(plug_kb_passages(kb), 11);
	{
		static const double s[] = { 1.254456, 1.161880, 1.046082 };

		expect_search(kb, "capital", 3,
		    "[cities.txt#2] Oslo is the capital of Norway. Oslo has a "
		    "fjord.\n"
		    "[cities.txt#1] Lisbon is the capital of Portugal. It lies "
		    "on the river Tagus.\n"
		    "[cities.txt#3] Nairobi is the capital of Kenya and lies "
		    "near a national park where lions live.",
		    s, 3);
	}
	{
		static const double s[] = { 4.370144, 2.086777 };

		expect_search(kb, "capital of Norway", 2,
		    "[cities.txt#2] Oslo is the capital of Norway. Oslo has a "
		    "fjord.\n"
		    "[cities.txt#1] Lisbon is the capital of Portugal. It lies "
		    "on the river Tagus.",
		    s, 2);
	}
	{
		/* A repeated query token counts twice. */
		static const double s[] = { 4.626010, 2.323760, 2.092163 };

		expect_search(kb, "capital capital norway", 3,
		    "[cities.txt#2] Oslo is the capital of Norway. Oslo has a "
		    "fjord.\n"
		    "[cities.txt#1] Lisbon is the capital of Portugal. It lies "
		    "on the river Tagus.\n"
		    "[cities.txt#3] Nairobi is the capital of Kenya and lies "
		    "near a national park where lions live.",
		    s, 3);
	}
	{
		/* Equal scores: by file name, then by n. */
		static const double s[] = { 3.132988, 3.132988, 3.132988 };

		expect_search(kb, "zebras plains", 5,
		    "[tie-a.txt#1] Zebras graze on the plains.\n"
		    "[tie-b.txt#1] Zebras graze on the plains.\n"
		    "[tie-b.txt#2] Zebras graze on the plains.",
		    s, 3);
	}
	{
		static const double s[] = { 1.826098, 1.558349, 1.558349 };

		expect_search(kb, "fox owl leopard", 5,
		    "[animals.txt#3] Owls hunt at night. An owl can turn its "
		    "head a long way round.\n"
		    "[animals.txt#1] The red fox is a small carnivore that "
		    "lives in forests, grasslands and cities. Foxes hunt "
		    "rodents at night.\n"
		    "[animals.txt#2] The snow leopard lives in the mountains "
		    "of "
		    "Central Asia. Its thick fur keeps it warm in the cold.",
		    s, 3);
	}
	{
		static const double s[] = { 4.132522, 3.526598 };

		expect_search(kb, "Hunt, at NIGHT!", 2,
		    "[animals.txt#3] Owls hunt at night. An owl can turn its "
		    "head a long way round.\n"
		    "[animals.txt#1] The red fox is a small carnivore that "
		    "lives in forests, grasslands and cities. Foxes hunt "
		    "rodents at night.",
		    s, 2);
	}
	{
		/* UTF-8 words stay whole; CRLF and blank runs collapse. */
		static const double s[] = { 2.518424 };

		expect_search(kb, "caf\xc3\xa9", 3,
		    "[unicode.txt#1] Caf\xc3\xa9 cr\xc3\xa8me is served in "
		    "Lisbon.",
		    s, 1);
	}
	{
		static const double s[] = { 1.899760, 1.479164 };

		expect_search(kb, "LISBON", 5,
		    "[unicode.txt#1] Caf\xc3\xa9 cr\xc3\xa8me is served in "
		    "Lisbon.\n"
		    "[cities.txt#1] Lisbon is the capital of Portugal. It lies "
		    "on the river Tagus.",
		    s, 2);
	}
	{
		static const double s[] = { 2.643712 };

		expect_search(kb, "spaces", 1,
		    "[unicode.txt#2] Tabs and spaces are collapsed.", s, 1);
	}
	/* "cafe" is not "café"; punctuation alone is no query. */
	expect_search(kb, "cafe", 3, "No passage matches the query.", NULL, 0);
	{
		char *cause = NULL;

		assert_null(plug_kb_search(kb, " ?! -- ", 3, NULL, &cause));
		assert_string_equal(
		    cause, "the query has no words to search for");
		free(cause);
	}
	plug_kb_free(kb);
	plug_kb_free(NULL);
}

/* Writes len bytes into dir/name. */
static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path;
	FILE *f;

	xasprintf(&path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void
test_skipped_files(void **state)
{
	char dir[HARNESS_DIR_MAX], *path, *out, *cause = NULL;
	char big[300];
	struct plug_kb *kb;

	(void)state;
	assert_int_equal(harness_tmpdir(dir), 0);
	write_file(dir, "good.txt", "alpha beta\n", 11);
	write_file(dir, "latin1.txt", "caf\xe9 alpha\n", 11);
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\n';
	write_file(dir, "big.txt", big, sizeof big);
	write_file(dir, "empty.txt", "", 0);
	write_file(dir, "blank.txt", "\n \n\t\n", 5);
	write_file(dir, "other.md", "alpha\n", 6);
	write_file(dir, ".txt", "alpha\n", 6);
	write_file(dir, "bad\nname.txt", "alpha\n", 6);
	xasprintf(&path, "%s/fifo.txt", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	free(path);
	xasprintf(&path, "%s/folder.txt", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);

	kb = plug_kb_new(dir, 200, &cause);
	assert_non_null(kb);
	/* Only good.txt holds a passage. */
	assert_int_equal(plug_kb_passages(kb), 1);
	out = plug_kb_search(kb, "alpha", 5, NULL, &cause);
	assert_non_null(out);
	assert_string_equal(out, "[good.txt#1] alpha beta");
	free(out);
	plug_kb_free(kb);

	/* With the default limit big.txt is read. */
	kb = plug_kb_new(dir, 0, &cause);
	assert_non_null(kb);
	assert_int_equal(plug_kb_passages(kb), 2);
	plug_kb_free(kb);
	assert_int_equal(harness_rmtree(dir), 0);

	assert_null(plug_kb_new("/nonexistent/kb", 0, &cause));
	assert_string_equal(
	    cause, "knowledge base /nonexistent/kb: No such file or directory");
	free(cause);
}

/* Calls kb_search in s with args; returns the text (caller frees). */
static char *
call_kb(struct plug_set *s, json_t *args, int *is_error, char **cause)
{
	struct plug_result res;
	struct plug_tool *t = plug_set_find(s, "kb_search");
	char *text;

	assert_non_null(t);
	if (plug_tool_call(t, args, NULL, NULL, &res, cause) != 0) {
		json_decref(args);
		return NULL;
	}
	json_decref(args);
	*is_error = res.is_error;
	text = res.text;
	res.text = NULL;
	plug_result_clear(&res);
	return text;
}

static void
test_tool(void **state)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *s;
	char *dir = fixture_dir(), *cause = NULL, *out, *line;
	int is_error = -1;

	(void)state;
	memset(&config, 0, sizeof config);
	config.kb_dir = dir;
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);

	line = plug_tool_prompt_line(plug_set_find(s, "kb_search"));
	assert_string_equal(line,
	    "kb_search: Searches the knowledge base and returns the best "
	    "matching passages. Arguments: {\"additionalProperties\":false,"
	    "\"properties\":{\"k\":{\"default\":3,\"maximum\":5,\"minimum\":"
	    "1,\"type\":\"integer\"},\"query\":{\"maxLength\":256,\"type\":"
	    "\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}");
	free(line);

	/* k defaults to 3. */
	out = call_kb(
	    s, json_pack("{s:s}", "query", "capital"), &is_error, &cause);
	assert_non_null(out);
	assert_int_equal(is_error, 0);
	assert_int_equal(strncmp(out, "[cities.txt#2] ", 15), 0);
	assert_non_null(strstr(out, "\n[cities.txt#3] "));
	free(out);

	out = call_kb(s, json_pack("{s:s, s:f}", "query", "capital", "k", 1.0),
	    &is_error, &cause);
	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	free(out);

	out = call_kb(s, json_pack("{s:s, s:i}", "query", "capital", "k", 6),
	    &is_error, &cause);
	assert_null(out);
	assert_string_equal(cause, "$.k: 6 is greater than the maximum 5");
	free(cause);

	out = call_kb(s, json_pack("{s:s}", "query", "..."), &is_error, &cause);
	assert_non_null(out);
	assert_int_equal(is_error, 1);
	assert_string_equal(out, "the query has no words to search for");
	free(out);

	out = call_kb(s, json_pack("{s:s%}", "query", "a\0b", (size_t)3),
	    &is_error, &cause);
	assert_non_null(out);
	assert_int_equal(is_error, 1);
	assert_string_equal(out, "the query contains a NUL character");
	free(out);

	plug_set_unref(s);
	plug_registry_free(r);
	free(dir);

	/* A folder that cannot be read leaves kb_search out. */
	config.kb_dir = "/nonexistent/kb";
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	assert_null(plug_set_find(s, "kb_search"));
	assert_non_null(plug_set_find(s, "calc"));
	plug_set_unref(s);
	plug_registry_free(r);
}

static void
test_reload(void **state)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *old, *cur;
	char dir[HARNESS_DIR_MAX], *cause = NULL, *out;
	int is_error;

	(void)state;
	assert_int_equal(harness_tmpdir(dir), 0);
	write_file(dir, "a.txt", "one apple\n", 10);
	memset(&config, 0, sizeof config);
	config.kb_dir = dir;
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	old = plug_registry_get(r);

	write_file(dir, "b.txt", "two pears\n", 10);
	assert_int_equal(plug_registry_reload(r, NULL, &cause), 0);
	cur = plug_registry_get(r);
	assert_true(plug_set_generation(cur) > plug_set_generation(old));

	out = call_kb(
	    cur, json_pack("{s:s}", "query", "pears"), &is_error, &cause);
	assert_string_equal(out, "[b.txt#1] two pears");
	free(out);
	/* The old snapshot keeps the index it was built with. */
	out = call_kb(
	    old, json_pack("{s:s}", "query", "pears"), &is_error, &cause);
	assert_string_equal(out, "No passage matches the query.");
	free(out);

	plug_set_unref(old);
	plug_set_unref(cur);
	plug_registry_free(r);
	assert_int_equal(harness_rmtree(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_skipped_files),
		cmocka_unit_test(test_tool),
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
