/*
 * test-plugins-file.c: the file_read built-in (plugins/tool-file-read.c):
 * reads below the roots, refuses ".." and every symbolic-link escape
 * (absolute targets, links out, links to "..", loops), refuses what is
 * not a regular text file, and cuts on a UTF-8 boundary.  Every case runs
 * twice: with openat2(2) and with the fallback that walks the path itself.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
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

struct fixture {
	char base[HARNESS_DIR_MAX];
	char root[PATH_MAX];
	char root2[PATH_MAX];
	char alias[PATH_MAX]; /* a symbolic link to root */
	struct plug_registry *reg;
	struct plug_set *set;
};

static void
put(const char *dir, const char *name, const void *data, size_t len)
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
link_to(const char *target, const char *dir, const char *name)
{
	char *path;

	xasprintf(&path, "%s/%s", dir, name);
	if (symlink(target, path) != 0)
		fail_msg("symlink %s: %s", path, strerror(errno));
	free(path);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	const char *roots[2];
	struct plug_config config;
	char *path, *cause = NULL;

	if (harness_tmpdir(f->base) != 0)
		return -1;
	snprintf(f->root, sizeof f->root, "%s/root", f->base);
	snprintf(f->root2, sizeof f->root2, "%s/root2", f->base);
	snprintf(f->alias, sizeof f->alias, "%s/alias", f->base);
	assert_int_equal(mkdir(f->root, 0700), 0);
	assert_int_equal(mkdir(f->root2, 0700), 0);
	xasprintf(&path, "%s/sub", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);

	put(f->base, "secret.txt", "top secret\n", 11);
	put(f->root, "a.txt", "hello\n", 6);
	put(f->root, "exact.txt", "0123456789abcdef", 16);
	/* The euro sign takes bytes 14-16: a cut at 16 must drop it. */
	put(f->root, "big.txt", "0123456789abcd\xe2\x82\xacxyz", 20);
	put(f->root, "emoji.txt", "0123456789ab\xf0\x9f\x98\x80", 16);
	put(f->root, "empty.txt", "", 0);
	put(f->root, "bin.dat", "ab\0cd", 5);
	put(f->root, "latin.txt", "caf\xe9\n", 5);
	put(f->root, "bad-tail.txt", "0123456789abcdef\xff", 17);
	xasprintf(&path, "%s/sub", f->root);
	put(path, "b.txt", "inner\n", 6);
	link_to("../a.txt", path, "in-link");
	free(path);
	put(f->root2, "c.txt", "second root\n", 12);
	put(f->root2, "a.txt", "shadowed\n", 9);

	xasprintf(&path, "%s/a.txt", f->root);
	link_to(path, f->root, "abs-link");
	free(path);
	link_to("../secret.txt", f->root, "out-link");
	link_to("sub/in-link", f->root, "chain-link");
	link_to("sub", f->root, "dir-link");
	link_to("..", f->root, "escape-dir");
	link_to("sub/../../secret.txt", f->root, "sneaky-link");
	link_to("loop2", f->root, "loop1");
	link_to("loop1", f->root, "loop2");
	link_to("/etc/passwd", f->root, "etc-link");
	link_to(f->root, f->base, "alias");
	xasprintf(&path, "%s/fifo", f->root);
	assert_int_equal(mkfifo(path, 0600), 0);
	free(path);

	memset(&config, 0, sizeof config);
	roots[0] = f->alias; /* configured through a link: realpath wins */
	roots[1] = f->root2;
	config.file_roots = roots;
	config.n_file_roots = 2;
	config.file_max_bytes = 16;
	f->reg = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(f->reg);
	f->set = plug_registry_get(f->reg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	plug_set_unref(f->set);
	plug_registry_free(f->reg);
	harness_rmtree(f->base);
	free(f);
	plug_file_read_no_openat2 = 0;
	return 0;
}

/* Calls file_read on path (len bytes) and checks the text and flag. */
static int
expect_len(const struct fixture *f, const char *path, size_t len,
    const char *want, int want_error)
{
	struct plug_result res;
	struct plug_tool *t = plug_set_find(f->set, "file_read");
	char *cause = NULL;
	json_t *args;
	int ok;

	assert_non_null(t);
	args = json_pack("{s:s%}", "path", path, len);
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), 0);
	json_decref(args);
	ok = strcmp(res.text, want) == 0 && res.is_error == want_error;
	if (!ok) {
		fprintf(stderr,
		    "%s(%s): '%s' (error %d), want '%s' (error %d)\n", path,
		    plug_file_read_no_openat2 ? "fallback" : "openat2",
		    res.text, res.is_error, want, want_error);
	}
	plug_result_clear(&res);
	return ok;
}

static int
expect(
    const struct fixture *f, const char *path, const char *want, int want_error)
{
	return expect_len(f, path, strlen(path), want, want_error);
}

/* Runs every check once per resolver. */
static void
each_resolver(void **state, int (*fn)(const struct fixture *))
{
	for (int mode = 0; mode < 2; mode++) {
		plug_file_read_no_openat2 = mode;
		assert_int_equal(fn(*state), 0);
	}
	plug_file_read_no_openat2 = 0;
}

static int
reads(const struct fixture *f)
{
	char path[PATH_MAX * 2];
	int bad = 0;

	bad += !expect(f, "a.txt", "hello\n", 0);
	bad += !expect(f, "sub/b.txt", "inner\n", 0);
	bad += !expect(f, "./sub//b.txt", "inner\n", 0);
	bad += !expect(f, "c.txt", "second root\n", 0);
	bad += !expect(f, "empty.txt", "", 0);
	snprintf(path, sizeof path, "%s/a.txt", f->root);
	bad += !expect(f, path, "hello\n", 0);
	snprintf(path, sizeof path, "%s/sub/b.txt", f->alias);
	bad += !expect(f, path, "inner\n", 0);
	snprintf(path, sizeof path, "%s/a.txt", f->root2);
	bad += !expect(f, path, "shadowed\n", 0);
	/* Links that stay inside are followed. */
	bad += !expect(f, "sub/in-link", "hello\n", 0);
	bad += !expect(f, "chain-link", "hello\n", 0);
	bad += !expect(f, "dir-link/b.txt", "inner\n", 0);
	/* Cut at 16 bytes, never inside a character. */
	bad += !expect(f, "exact.txt", "0123456789abcdef", 0);
	bad += !expect(f, "big.txt", "0123456789abcd", 0);
	bad += !expect(f, "emoji.txt", "0123456789ab\xf0\x9f\x98\x80", 0);
	bad += !expect(f, "bad-tail.txt", "0123456789abcdef", 0);
	return bad;
}

static void
test_reads(void **state)
{
	each_resolver(state, reads);
}

static int
escapes(const struct fixture *f)
{
	char path[PATH_MAX * 2], want[PATH_MAX * 3];
	int bad = 0;

	bad += !expect(f, "../secret.txt",
	    "'../secret.txt' contains '..', which is not allowed.", 1);
	bad += !expect(f, "sub/../a.txt",
	    "'sub/../a.txt' contains '..', which is not allowed.", 1);
	bad += !expect(f, "..", "'..' contains '..', which is not allowed.", 1);
	bad += !expect(
	    f, "out-link", "'out-link' is outside the allowed folders.", 1);
	bad += !expect(
	    f, "abs-link", "'abs-link' is outside the allowed folders.", 1);
	bad += !expect(
	    f, "etc-link", "'etc-link' is outside the allowed folders.", 1);
	bad += !expect(f, "escape-dir/secret.txt",
	    "'escape-dir/secret.txt' is outside the allowed folders.", 1);
	bad += !expect(f, "sneaky-link",
	    "'sneaky-link' is outside the allowed folders.", 1);
	bad += !expect(f, "/etc/passwd",
	    "'/etc/passwd' is outside the allowed folders.", 1);
	snprintf(path, sizeof path, "%s/secret.txt", f->base);
	snprintf(
	    want, sizeof want, "'%s' is outside the allowed folders.", path);
	bad += !expect(f, path, want, 1);
	/* A name that only starts like a root is not below it. */
	snprintf(path, sizeof path, "%sx/a.txt", f->root);
	snprintf(
	    want, sizeof want, "'%s' is outside the allowed folders.", path);
	bad += !expect(f, path, want, 1);
	bad += !expect(
	    f, "loop1", "'loop1' has too many levels of symbolic links.", 1);
	return bad;
}

static void
test_escapes(void **state)
{
	each_resolver(state, escapes);
}

static int
refusals(const struct fixture *f)
{
	char path[PATH_MAX * 2], want[PATH_MAX * 3];
	int bad = 0;

	bad += !expect(f, "", "The path is empty.", 1);
	bad += !expect_len(
	    f, "a.txt\0x", 7, "The path contains a NUL character.", 1);
	bad += !expect(f, "missing.txt", "'missing.txt' does not exist.", 1);
	bad += !expect(f, "a.txt/x", "'a.txt/x' does not exist.", 1);
	bad += !expect(f, "a.txt/", "'a.txt/' does not exist.", 1);
	bad += !expect(f, "sub/in-link/", "'sub/in-link/' does not exist.", 1);
	bad += !expect(f, "fifo", "'fifo' is not a regular file.", 1);
	bad += !expect(f, "sub", "'sub' is a folder, not a file.", 1);
	bad += !expect(f, "bin.dat", "'bin.dat' is not a text file.", 1);
	bad += !expect(f, "latin.txt", "'latin.txt' is not UTF-8 text.", 1);
	snprintf(path, sizeof path, "%s", f->root);
	snprintf(want, sizeof want, "'%s' is a folder, not a file.", path);
	bad += !expect(f, path, want, 1);
	return bad;
}

static void
test_refusals(void **state)
{
	each_resolver(state, refusals);
}

/*
 * A file the caller may not read.  As root (which reads anything) the
 * check runs in a child that drops to nobody first.
 */
static void
test_permission(void **state)
{
	struct fixture *f = *state;
	char *path;
	pid_t pid;
	int status, bad = 0;

	put(f->root, "locked.txt", "x", 1);
	xasprintf(&path, "%s/locked.txt", f->root);
	assert_int_equal(chmod(path, 0), 0);
	free(path);
	assert_int_equal(chmod(f->base, 0755), 0);
	assert_int_equal(chmod(f->root, 0755), 0);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
		        setuid(65534) != 0))
			_exit(2);
		for (int mode = 0; mode < 2; mode++) {
			plug_file_read_no_openat2 = mode;
			bad += !expect(f, "locked.txt",
			    "Permission denied reading 'locked.txt'.", 1);
			bad += !expect(f, "a.txt", "hello\n", 0);
		}
		_exit(bad == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_config(void **state)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *s;
	const char *roots[1] = { "/nonexistent/root" };
	char *cause = NULL;

	(void)state;
	memset(&config, 0, sizeof config);
	/* No roots: no file_read. */
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	assert_null(plug_set_find(s, "file_read"));
	plug_set_unref(s);
	plug_registry_free(r);

	/* A root that is not there: file_read is left out, with a log. */
	config.file_roots = roots;
	config.n_file_roots = 1;
	r = plug_registry_new(&config, NULL, 0, &cause);
	assert_non_null(r);
	s = plug_registry_get(r);
	assert_null(plug_set_find(s, "file_read"));
	plug_set_unref(s);
	plug_registry_free(r);

	/* An empty root is a config error. */
	roots[0] = "";
	assert_null(plug_registry_new(&config, NULL, 0, &cause));
	assert_string_equal(cause, "file_read root 1 is empty");
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_permission, setup, teardown),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
