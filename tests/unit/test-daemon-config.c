/*
 * test-daemon-config.c: agentd.conf(5) parsing (daemon/config.c): good
 * files, every kind of bad value with its FILE:LINE message, lookup of
 * the file, relative paths, reload helpers and the allow lists.
 */
#include <sys/stat.h>

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

#include "daemon/daemon-int.h"
#include "daemon/paths.h"
#include "daemon/protocol.h"
#include "daemon/util.h"
#include "tests/common/harness.h"

/* Parses text as "/etc/agentd/test.conf"; returns the config or NULL. */
static struct dmn_config *
parse(const char *text, char **cause)
{
	struct dmn_config *c = dmn_config_new();

	*cause = NULL;
	if (dmn_config_parse(
	        c, "/etc/agentd/test.conf", text, strlen(text), cause) != 0) {
		dmn_config_free(c);
		return NULL;
	}
	return c;
}

/* Checks that text fails with exactly the message want. */
static void
expect_error(const char *text, const char *want)
{
	struct dmn_config *c;
	char *cause;

	c = parse(text, &cause);
	assert_null(c);
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", cause, want);
	free(cause);
}

static void
test_defaults(void **state)
{
	struct dmn_config *c = dmn_config_new();

	(void)state;
	assert_null(c->file);
	assert_null(c->socket);
	assert_int_equal(c->socket_mode, 0660);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->max_message_bytes, DMN_DEFAULT_MAX_MESSAGE);
	assert_int_equal(c->max_depth, DMN_DEFAULT_MAX_DEPTH);
	assert_int_equal(c->max_batch, DMN_DEFAULT_MAX_BATCH);
	assert_int_equal(c->max_connections, DMN_DEFAULT_MAX_CONNECTIONS);
	assert_int_equal(c->idle_timeout_ms, DMN_DEFAULT_IDLE_TIMEOUT_MS);
	assert_int_equal(c->max_output_bytes, DMN_DEFAULT_MAX_OUTPUT);
	assert_int_equal(
	    c->shutdown_timeout_ms, DMN_DEFAULT_SHUTDOWN_TIMEOUT_MS);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->debug_methods, 0);
	assert_int_equal(c->n_allow_uid, 0);
	assert_int_equal(c->n_allow_gid, 0);
	dmn_config_free(c);
	dmn_config_free(NULL);
}

static void
test_good_file(void **state)
{
	const char *text = "# agentd.conf\n"
	                   "\n"
	                   "socket run/agentd.sock   # relative\r\n"
	                   "  socket_mode 0600\n"
	                   "log_level debug\n"
	                   "max_message_bytes 64k\n"
	                   "max_depth\t16\n"
	                   "max_batch 10\n"
	                   "max_connections 3\n"
	                   "idle_timeout_ms 0\n"
	                   "max_output_bytes 2M\n"
	                   "shutdown_timeout_ms 1500\n"
	                   "workers 4\n"
	                   "debug_methods yes\n"
	                   "allow_uid 1000\n"
	                   "allow_uid root\n"
	                   "allow_gid 0\n"
	                   "allow_gid 4242\n";
	struct dmn_config *c;
	char *cause;

	(void)state;
	c = parse(text, &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->file, "/etc/agentd/test.conf");
	assert_string_equal(c->socket, "/etc/agentd/run/agentd.sock");
	assert_int_equal(c->socket_mode, 0600);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->max_message_bytes, 64 * 1024);
	assert_int_equal(c->max_depth, 16);
	assert_int_equal(c->max_batch, 10);
	assert_int_equal(c->max_connections, 3);
	assert_int_equal(c->idle_timeout_ms, 0);
	assert_int_equal(c->max_output_bytes, 2 * 1024 * 1024);
	assert_int_equal(c->shutdown_timeout_ms, 1500);
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->debug_methods, 1);
	assert_int_equal(c->n_allow_uid, 2);
	assert_int_equal(c->allow_uid[0], 1000);
	assert_int_equal(c->allow_uid[1], 0);
	assert_int_equal(c->n_allow_gid, 2);
	assert_int_equal(c->allow_gid[1], 4242);
	dmn_config_free(c);
}

static void
test_values(void **state)
{
	struct dmn_config *c;
	char *cause;

	(void)state;
	/* Every spelling of a boolean, sizes in g, a '#' inside a value. */
	c = parse("debug_methods on\nmax_message_bytes 1g\n"
	          "socket /tmp/a#b.sock\n",
	    &cause);
	assert_non_null(c);
	assert_int_equal(c->debug_methods, 1);
	assert_int_equal(c->max_message_bytes, 1024 * 1024 * 1024);
	assert_string_equal(c->socket, "/tmp/a#b.sock");
	dmn_config_free(c);
	c = parse("debug_methods false\n", &cause);
	assert_non_null(c);
	assert_int_equal(c->debug_methods, 0);
	dmn_config_free(c);
	c = parse("debug_methods 1\n", &cause);
	assert_non_null(c);
	assert_int_equal(c->debug_methods, 1);
	dmn_config_free(c);
	/* No final newline; the empty file. */
	c = parse("max_batch 7", &cause);
	assert_non_null(c);
	assert_int_equal(c->max_batch, 7);
	dmn_config_free(c);
	c = parse("", &cause);
	assert_non_null(c);
	dmn_config_free(c);
}

static void
test_errors(void **state)
{
	char longline[DMN_CONFIG_MAX_LINE + 8];

	(void)state;
	expect_error("# x\nmax_batch 5\nfoo bar\n",
	    "/etc/agentd/test.conf:3: unknown directive 'foo'");
	/* A misspelt directive is an error, never ignored. */
	expect_error("modle /x.gguf\n",
	    "/etc/agentd/test.conf:1: unknown directive 'modle'");
	expect_error(
	    "socket\n", "/etc/agentd/test.conf:1: socket: missing value");
	expect_error("socket   # only a comment\n",
	    "/etc/agentd/test.conf:1: socket: missing value");
	expect_error("max_batch 0\n",
	    "/etc/agentd/test.conf:1: max_batch: '0' is out of range (1 to "
	    "100000)");
	expect_error("max_batch -1\n",
	    "/etc/agentd/test.conf:1: max_batch: '-1' is not a non-negative "
	    "integer");
	expect_error("max_batch 12abc\n",
	    "/etc/agentd/test.conf:1: max_batch: '12abc' is not a "
	    "non-negative integer");
	expect_error("max_batch 99999999999999999999999\n",
	    "/etc/agentd/test.conf:1: max_batch: '99999999999999999999999' "
	    "is not a non-negative integer");
	expect_error("max_message_bytes 1x\n",
	    "/etc/agentd/test.conf:1: max_message_bytes: '1x' is not a size "
	    "(bytes, with an optional k, m or g)");
	expect_error("max_message_bytes 2g\n",
	    "/etc/agentd/test.conf:1: max_message_bytes: '2g' is out of "
	    "range (256 to 1073741824)");
	expect_error("max_message_bytes 17179869184g\n",
	    "/etc/agentd/test.conf:1: max_message_bytes: '17179869184g' is "
	    "not a size (bytes, with an optional k, m or g)");
	expect_error("max_depth 1\n",
	    "/etc/agentd/test.conf:1: max_depth: '1' is out of range (2 to "
	    "2048)");
	expect_error("max_batch 5\nmax_batch 6\n",
	    "/etc/agentd/test.conf:2: max_batch: given twice (first on line "
	    "1)");
	expect_error("debug_methods maybe\n",
	    "/etc/agentd/test.conf:1: debug_methods: 'maybe' is not yes or "
	    "no");
	expect_error("log_level loud\n",
	    "/etc/agentd/test.conf:1: log_level: 'loud' is not a log level "
	    "(err, warn, notice, info, debug)");
	expect_error("socket_mode 0800\n",
	    "/etc/agentd/test.conf:1: socket_mode: '0800' is not an octal "
	    "mode");
	expect_error("socket_mode 1777\n",
	    "/etc/agentd/test.conf:1: socket_mode: '1777' is out of range "
	    "(0000 to 0777)");
	expect_error("allow_uid no-such-user-here\n",
	    "/etc/agentd/test.conf:1: allow_uid: unknown user "
	    "'no-such-user-here'");
	expect_error("allow_gid no-such-group-here\n",
	    "/etc/agentd/test.conf:1: allow_gid: unknown group "
	    "'no-such-group-here'");
	expect_error("allow_uid 4294967295\n",
	    "/etc/agentd/test.conf:1: allow_uid: '4294967295' is not a "
	    "valid user id");
	expect_error("max_batch 5\nsocket /a\xff\n",
	    "/etc/agentd/test.conf:2: line is not valid UTF-8");
	expect_error("max_batch 5\nsocket \x01/a\n",
	    "/etc/agentd/test.conf:2: socket: control character in value");
	expect_error("Max_Batch 5\n",
	    "/etc/agentd/test.conf:1: unknown directive 'Max_Batch'");

	memset(longline, 'x', sizeof longline);
	memcpy(longline, "socket /", 8);
	longline[sizeof longline - 1] = '\0';
	expect_error(
	    longline, "/etc/agentd/test.conf:1: line longer than 4096 bytes");
}

static void
test_nul_byte(void **state)
{
	struct dmn_config *c = dmn_config_new();
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    dmn_config_parse(c, "x.conf", "max_batch 5\0\n", 13, &cause), -1);
	assert_string_equal(cause, "x.conf:1: NUL byte in line");
	free(cause);
	dmn_config_free(c);
}

static void
test_load(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], sub[PATH_MAX + 32];
	char want[PATH_MAX + 64], cwd[PATH_MAX];
	struct dmn_config *c;
	char *cause = NULL;

	(void)state;
	assert_int_equal(harness_tmpdir(dir), 0);
	snprintf(path, sizeof path, "%s/agentd.conf", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);

	/* Missing file: named in the message. */
	c = dmn_config_load(path, &cause);
	assert_null(c);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(cause, want);
	free(cause);

	/* A folder is not a config file. */
	assert_int_equal(mkdir(sub, 0700), 0);
	c = dmn_config_load(sub, &cause);
	assert_null(c);
	snprintf(want, sizeof want, "%s: not a regular file", sub);
	assert_string_equal(cause, want);
	free(cause);

	/* Relative paths resolve against the file's folder, made absolute
	 * even when the file was named relatively. */
	assert_int_equal(harness_write_file(path,
	                     "socket s/a.sock\n"
	                     "max_batch 9\n"),
	    0);
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(sub), 0);
	c = dmn_config_load("../agentd.conf", &cause);
	assert_int_equal(chdir(cwd), 0);
	if (c == NULL)
		fail_msg("%s", cause);
	snprintf(want, sizeof want, "%s/s/a.sock", dir);
	assert_string_equal(c->socket, want);
	assert_string_equal(c->file, "../agentd.conf");
	assert_int_equal(c->max_batch, 9);
	dmn_config_free(c);

	/* A bad file gives FILE:LINE with the name as given. */
	assert_int_equal(
	    harness_write_file(path, "max_batch 9\n\nbogus 1\n"), 0);
	c = dmn_config_load(path, &cause);
	assert_null(c);
	snprintf(want, sizeof want, "%s:3: unknown directive 'bogus'", path);
	assert_string_equal(cause, want);
	free(cause);
	assert_int_equal(harness_rmtree(dir), 0);
}

static void
test_table(void **state)
{
	(void)state;
	assert_true(dmn_ndirectives > 10);
	for (size_t i = 0; i < dmn_ndirectives; i++) {
		const struct dmn_directive *d = &dmn_directives[i];

		assert_true(strspn(d->name, "abcdefghijklmnopqrstuvwxyz_") ==
		    strlen(d->name));
		assert_true(d->offset < sizeof(struct dmn_config));
		if (i > 0)
			assert_true(
			    strcmp(dmn_directives[i - 1].name, d->name) < 0);
		assert_ptr_equal(dmn_directive_find(d->name), d);
	}
	assert_null(dmn_directive_find("nope"));
}

static void
test_reload_helpers(void **state)
{
	const struct dmn_directive *d;
	struct dmn_config *a, *b;
	char *cause, *v;

	(void)state;
	a = parse("socket /a.sock\nallow_uid 5\nmax_batch 3\n", &cause);
	b = parse(
	    "socket /b.sock\nallow_uid 5\nallow_uid 6\nmax_batch 3\n", &cause);
	assert_non_null(a);
	assert_non_null(b);
	d = dmn_directive_find("socket");
	assert_true(d->flags & DMN_DIRECTIVE_RESTART);
	assert_false(dmn_config_equal(d, a, b));
	v = dmn_config_value(d, a);
	assert_string_equal(v, "/a.sock");
	free(v);
	dmn_config_copy_value(d, b, a);
	assert_true(dmn_config_equal(d, a, b));
	assert_true(dmn_config_equal(dmn_directive_find("max_batch"), a, b));
	d = dmn_directive_find("allow_uid");
	assert_false(dmn_config_equal(d, a, b));
	v = dmn_config_value(d, b);
	assert_string_equal(v, "5 6");
	free(v);
	dmn_config_copy_value(d, a, b);
	assert_true(dmn_config_equal(d, a, b));
	v = dmn_config_value(dmn_directive_find("socket_mode"), a);
	assert_string_equal(v, "0660");
	free(v);
	dmn_config_free(a);
	dmn_config_free(b);
}

static void
test_allows(void **state)
{
	struct dmn_config *c;
	char *cause;

	(void)state;
	c = dmn_config_new();
	/* No lists: everyone who can open the socket. */
	assert_true(dmn_config_allows(c, 1234, 1234, 999));
	dmn_config_free(c);

	c = parse("allow_uid 1000\nallow_gid 50\n", &cause);
	assert_non_null(c);
	assert_true(dmn_config_allows(c, 1000, 1, 999));
	assert_true(dmn_config_allows(c, 1, 50, 999));
	assert_true(dmn_config_allows(c, 0, 1, 999));   /* root */
	assert_true(dmn_config_allows(c, 999, 1, 999)); /* ourselves */
	assert_false(dmn_config_allows(c, 1001, 51, 999));
	dmn_config_free(c);
}

static void
test_datadir(void **state)
{
	char *p, want[PATH_MAX];

	(void)state;
	/* Built from a checkout: the source tree, an absolute path. */
	assert_true(dmn_datadir[0] == '/');
	assert_true(dmn_datadir[strlen(dmn_datadir) - 1] != '/');
	p = dmn_datadir_path("models/x.gguf");
	snprintf(want, sizeof want, "%s/models/x.gguf", dmn_datadir);
	assert_string_equal(p, want);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_reload_helpers),
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_datadir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
