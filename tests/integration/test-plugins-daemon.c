/*
 * test-plugins-daemon.c: C plugins in the real agentd, over its socket.
 *
 * A plugin folder gets the example plugins and some test plugins that
 * must be refused; the daemon starts with "plugin_dir" pointing at it.
 * The test checks what a user sees: tools.list with the plugins' tools
 * (source "c"), tools.call reaching them, the refusals in the log with
 * the daemon still serving, and a plugin dropped into the folder showing
 * up after plugins.reload and after SIGHUP.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/common/harness.h"

/* Copies $OUT/<sub>/<name>.so into dir as <name>.so, mode 0755. */
static void
install(const char *dir, const char *sub, const char *name)
{
	char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX], buf[65536];
	ssize_t n;
	int in, out;

	assert_true(snprintf(src, sizeof src, "%s/%s/%s.so", harness_out(), sub,
	                name) < (int)sizeof src);
	assert_true(
	    snprintf(dst, sizeof dst, "%s/%s.so", dir, name) < (int)sizeof dst);
	assert_true(snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) <
	    (int)sizeof tmp);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in == -1)
		fail_msg("%s: %s (built by make check?)", src, strerror(errno));
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_not_equal(out, -1);
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(fchmod(out, 0755), 0);
	close(in);
	close(out);
	/* A rename, as install(1) does, never a rewrite in place. */
	assert_int_equal(rename(tmp, dst), 0);
}

/* Returns the source of tool name in a tools.list result, or NULL. */
static const char *
tool_source(json_t *result, const char *name)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(result, "tools"), i, t)
	{
		if (strcmp(json_string_value(json_object_get(t, "name")),
		        name) == 0)
			return json_string_value(json_object_get(t, "source"));
	}
	return NULL;
}

static json_t *
list_tools(struct harness_conn *c)
{
	json_t *resp;

	resp = harness_call(c, "tools.list", NULL, HARNESS_REPLY_MS);
	assert_non_null(resp);
	assert_non_null(harness_result(resp));
	return resp;
}

static void
test_plugins_in_daemon(void **state)
{
	struct harness_opts opts;
	struct harness_daemon *d;
	struct harness_conn *c;
	json_t *resp, *res;
	char dir[HARNESS_DIR_MAX], plugdir[HARNESS_DIR_MAX + 16];
	char *config;

	(void)state;
	harness_time_limit(120);
	assert_int_equal(harness_tmpdir(dir), 0);
	assert_true(snprintf(plugdir, sizeof plugdir, "%s/plugins", dir) <
	    (int)sizeof plugdir);
	assert_int_equal(mkdir(plugdir, 0755), 0);
	install(plugdir, "plugins", "units");
	install(plugdir, "plugins", "wordcount");
	install(plugdir, "tests/plugins", "abi-major");
	install(plugdir, "tests/plugins", "dup-tool");

	assert_true(asprintf(&config, "plugin_dir %s\n", plugdir) > 0);
	memset(&opts, 0, sizeof opts);
	opts.config = config;
	d = harness_daemon_start(&opts);
	free(config);
	assert_non_null(d);
	c = harness_conn_open(d->socket);
	assert_non_null(c);

	/* The good plugins' tools are there, as C tools. */
	resp = list_tools(c);
	res = harness_result(resp);
	assert_string_equal(tool_source(res, "convert_units"), "c");
	assert_string_equal(tool_source(res, "text_stats"), "c");
	assert_string_equal(tool_source(res, "calc"), "builtin");
	assert_null(tool_source(res, "future_tool"));
	assert_null(tool_source(res, "dup_first"));
	json_decref(resp);

	/* The bad ones were refused, each with its reason. */
	assert_int_equal(harness_daemon_log_has(d,
	                     "abi-major.so: refused: built for plugin ABI "
	                     "2.0, but this agentd speaks ABI 1.0"),
	    1);
	assert_int_equal(harness_daemon_log_has(d,
	                     "dup-tool.so: refused: tool 'calc' is already "
	                     "defined"),
	    1);

	/* tools.call reaches a plugin. */
	resp = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:i, s:s, s:s}}", "name", "convert_units",
	        "arguments", "value", 3, "from", "ft", "to", "in"),
	    HARNESS_REPLY_MS);
	assert_non_null(resp);
	res = harness_result(resp);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(res, "text")), "3 ft = 36 in");
	json_decref(resp);

	/* A plugin's own failure is -32004, with its text. */
	resp = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:i, s:s, s:s}}", "name", "convert_units",
	        "arguments", "value", 3, "from", "ft", "to", "kg"),
	    HARNESS_REPLY_MS);
	assert_non_null(resp);
	assert_int_equal(harness_error_code(resp), -32004);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(resp, "error"), "data"),
	        "text")),
	    "cannot convert ft (length) to kg (mass)");
	json_decref(resp);

	/* Arguments the schema refuses never reach it: -32008. */
	resp = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:s}}", "name", "text_stats", "arguments",
	        "words", "x"),
	    HARNESS_REPLY_MS);
	assert_non_null(resp);
	assert_int_equal(harness_error_code(resp), -32008);
	json_decref(resp);

	/* Drop a plugin in and reload: it is served. */
	install(plugdir, "tests/plugins", "good");
	resp = harness_call(c, "plugins.reload", NULL, HARNESS_REPLY_MS);
	assert_non_null(resp);
	assert_non_null(harness_result(resp));
	json_decref(resp);
	resp = list_tools(c);
	assert_string_equal(tool_source(harness_result(resp), "greet"), "c");
	json_decref(resp);
	resp = harness_call(c, "tools.call",
	    json_pack("{s:s, s:{s:s}}", "name", "greet", "arguments", "name",
	        "daemon"),
	    HARNESS_REPLY_MS);
	assert_non_null(resp);
	res = harness_result(resp);
	assert_non_null(res);
	assert_string_equal(
	    json_string_value(json_object_get(res, "text")), "Hello, daemon!");
	json_decref(resp);

	/* And SIGHUP reloads too: a removed plugin goes away. */
	assert_true(snprintf(dir + strlen(dir), sizeof dir - strlen(dir),
	                "/plugins/good.so") > 0);
	assert_int_equal(unlink(dir), 0);
	dir[strlen(dir) - strlen("/plugins/good.so")] = '\0';
	assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
	assert_int_equal(harness_daemon_log_wait(d, "unloaded", 10000), 0);
	resp = list_tools(c);
	assert_null(tool_source(harness_result(resp), "greet"));
	assert_string_equal(
	    tool_source(harness_result(resp), "convert_units"), "c");
	json_decref(resp);

	harness_conn_close(c);
	assert_int_equal(harness_daemon_stop(d, 10000), 0);
	harness_daemon_free(d);
	assert_int_equal(harness_rmtree(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plugins_in_daemon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
