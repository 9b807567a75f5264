/*
 * test-plugins-loader.c: the C plugin loader (plugins/loader.c) against
 * real shared objects: the example plugins and the test plugins of
 * tests/plugins/, built by the test rules into $OUT and copied into a
 * private folder per test, loaded exactly as the daemon loads them
 * (through a registry with the loader as its provider).
 *
 * Refusals are asserted on the log lines the loader writes: the test
 * points stderr at a file while the registry builds a snapshot.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/util.h"
#include "plugins/plugins.h"
#include "tests/common/harness.h"

/* Formats a path into an array, failing the test if it does not fit. */
#define PATHF(buf, ...) \
	assert_true(    \
	    snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

/* One test's world: a folder of plugins, a loader and a registry. */
struct world {
	char dir[HARNESS_DIR_MAX];
	char plugdir[PATH_MAX];
	char logfile[PATH_MAX];
	const char *dirs[2];
	struct plug_config config;
	struct plug_loader *loader;
	struct plug_registry *registry;
	int saved_stderr;
};

/* ---- helpers --------------------------------------------------------------- */

/* Copies a built shared object into dst with mode. */
static void
copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in == -1)
		fail_msg("%s: %s (built by make check?)", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_not_equal(out, -1);
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	assert_int_equal(fchmod(out, mode), 0);
	close(in);
	close(out);
}

/* $OUT/<sub>/<name>.so */
static void
built(char *out, size_t size, const char *sub, const char *name)
{
	snprintf(out, size, "%s/%s/%s.so", harness_out(), sub, name);
}

/* Puts the built plugin sub/name.so into the world's folder as file. */
static void
install(struct world *w, const char *sub, const char *name, const char *file,
    mode_t mode)
{
	char src[PATH_MAX], dst[PATH_MAX];

	built(src, sizeof src, sub, name);
	PATHF(dst, "%s/%s", w->plugdir, file);
	copy_file(src, dst, mode);
}

/* Replaces file by a new copy of sub/name.so (a new inode, by rename). */
static void
replace(struct world *w, const char *sub, const char *name, const char *file)
{
	char src[PATH_MAX], tmp[PATH_MAX], dst[PATH_MAX];

	built(src, sizeof src, sub, name);
	PATHF(tmp, "%s/.%s.new", w->plugdir, file);
	PATHF(dst, "%s/%s", w->plugdir, file);
	copy_file(src, tmp, 0755);
	assert_int_equal(rename(tmp, dst), 0);
}

static void
write_in(struct world *w, const char *file, const char *text)
{
	char path[PATH_MAX];

	PATHF(path, "%s/%s", w->plugdir, file);
	assert_int_equal(harness_write_file(path, text), 0);
}

static void
world_init(struct world *w)
{
	memset(w, 0, sizeof *w);
	harness_time_limit(60);
	assert_int_equal(harness_tmpdir(w->dir), 0);
	PATHF(w->plugdir, "%s/plugins", w->dir);
	assert_int_equal(mkdir(w->plugdir, 0755), 0);
	PATHF(w->logfile, "%s/log", w->dir);
	w->dirs[0] = w->plugdir;
	w->config.plugin_dirs = w->dirs;
	w->config.n_plugin_dirs = 1;
	w->loader = plug_loader_new();
	w->saved_stderr = -1;
}

/* Sends stderr (the log) to the world's log file until capture_end(). */
static void
capture_start(struct world *w)
{
	int fd;

	fflush(stderr);
	w->saved_stderr = dup(STDERR_FILENO);
	assert_int_not_equal(w->saved_stderr, -1);
	fd = open(w->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_not_equal(fd, -1);
	assert_int_not_equal(dup2(fd, STDERR_FILENO), -1);
	close(fd);
}

/* Restores stderr; returns the log captured (caller frees). */
static char *
capture_end(struct world *w)
{
	char *log;

	assert_int_not_equal(dup2(w->saved_stderr, STDERR_FILENO), -1);
	close(w->saved_stderr);
	w->saved_stderr = -1;
	log = harness_read_file(w->logfile);
	assert_non_null(log);
	/* Show it, so that a failure explains itself. */
	fprintf(stderr, "--- log ---\n%s--- end ---\n", log);
	return log;
}

/* Builds the registry (its first snapshot) and returns the log. */
static char *
world_start(struct world *w)
{
	struct plug_provider prov = {
		.name = "C plugins",
		.collect = plug_loader_collect,
		.arg = w->loader,
	};
	char *cause = NULL;

	capture_start(w);
	w->registry = plug_registry_new(&w->config, &prov, 1, &cause);
	if (w->registry == NULL)
		fprintf(stderr, "plug_registry_new: %s\n", cause);
	assert_non_null(w->registry);
	return capture_end(w);
}

static char *
world_reload(struct world *w)
{
	char *cause = NULL;
	int rc;

	capture_start(w);
	rc = plug_registry_reload(w->registry, NULL, &cause);
	if (rc != 0)
		fprintf(stderr, "plug_registry_reload: %s\n", cause);
	assert_int_equal(rc, 0);
	return capture_end(w);
}

static void
world_free(struct world *w)
{
	plug_registry_free(w->registry);
	plug_loader_free(w->loader);
	assert_int_equal(harness_rmtree(w->dir), 0);
}

/* Asserts that the log has a line with all the given parts, in order. */
static void
log_has(const char *log, ...)
{
	const char *line = log, *end, *p, *part;
	va_list ap;
	int ok;

	for (; *line != '\0'; line = *end == '\0' ? end : end + 1) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		ok = 1;
		p = line;
		va_start(ap, log);
		while ((part = va_arg(ap, const char *)) != NULL) {
			p = memmem(p, (size_t)(end - p), part, strlen(part));
			if (p == NULL) {
				ok = 0;
				break;
			}
			p += strlen(part);
		}
		va_end(ap);
		if (ok)
			return;
	}
	va_start(ap, log);
	part = va_arg(ap, const char *);
	va_end(ap);
	fail_msg("no log line with '%s' ... as expected", part);
}

/*
 * Calls tool name with JSON arguments in the current snapshot.  Returns
 * the result text (caller frees) and its error flag in *is_error; fails
 * the test when the tool is missing or the arguments are refused.
 */
static char *
call_tool(struct world *w, const char *name, const char *args, int *is_error)
{
	struct plug_result res;
	struct plug_set *s;
	struct plug_tool *t;
	json_error_t jerr;
	json_t *a;
	char *cause = NULL, *text;

	s = plug_registry_get(w->registry);
	t = plug_set_find(s, name);
	if (t == NULL)
		fail_msg("tool '%s' is not registered", name);
	a = json_loads(args, 0, &jerr);
	assert_non_null(a);
	if (plug_tool_call(t, a, NULL, NULL, &res, &cause) != 0)
		fail_msg("%s(%s): %s", name, args, cause);
	json_decref(a);
	plug_set_unref(s);
	*is_error = res.is_error;
	text = res.text;
	return text;
}

/* Asserts a tool's result text and error flag. */
static void
expect_call(struct world *w, const char *name, const char *args,
    const char *want, int want_error)
{
	char *text;
	int is_error;

	text = call_tool(w, name, args, &is_error);
	assert_string_equal(text, want);
	assert_int_equal(is_error, want_error);
	free(text);
}

static int
has_tool(struct world *w, const char *name)
{
	struct plug_set *s = plug_registry_get(w->registry);
	int found = plug_set_find(s, name) != NULL;

	plug_set_unref(s);
	return found;
}

/* Counts the lines of /proc/self/maps that map path (" (deleted)" too). */
static int
mappings_of(const char *path, int deleted)
{
	char line[PATH_MAX + 256], *p;
	size_t len = strlen(path);
	FILE *f;
	int n = 0;

	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		p = strchr(line, '/');
		if (p == NULL || strncmp(p, path, len) != 0)
			continue;
		if (deleted ? strcmp(p + len, " (deleted)") == 0
		            : p[len] == '\0')
			n++;
	}
	fclose(f);
	return n;
}

/* sha256sum's hex of a file. */
static void
sha256_hex(const char *path, char out[65])
{
	unsigned char md[32], buf[65536];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t n;
	int fd;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_not_equal(fd, -1);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		assert_int_equal(EVP_DigestUpdate(ctx, buf, (size_t)n), 1);
	close(fd);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- tests ------------------------------------------------------------------ */

/* The good plugin and both examples load, and their tools work. */
static void
test_good_plugins(void **state)
{
	struct world w;
	struct plug_set *s;
	struct plug_tool *t;
	json_t *args;
	char path[PATH_MAX], *log, *cause = NULL;
	struct plug_result res;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	install(&w, "plugins", "units", "units.so", 0755);
	install(&w, "plugins", "wordcount", "wordcount.so", 0644);
	write_in(&w, "good.json", "{\"greeting\": \"Hi\"}");
	log = world_start(&w);
	log_has(log, "plugin ", "/good.so: loaded, 6 tools", NULL);
	log_has(log, "/units.so: loaded, 1 tool", NULL);
	log_has(log, "/wordcount.so: loaded, 1 tool", NULL);
	log_has(log, "plugin good: greeting is 'Hi'", NULL);
	log_has(log, "C plugins: 3 loaded, 0 refused", NULL);
	free(log);

	/* Registered as C tools with their file as origin. */
	s = plug_registry_get(w.registry);
	t = plug_set_find(s, "greet");
	assert_non_null(t);
	assert_int_equal(plug_tool_source(t), PLUG_SOURCE_C);
	PATHF(path, "%s/good.so", w.plugdir);
	assert_string_equal(plug_tool_origin(t), path);
	assert_string_equal(
	    plug_tool_description(t), "Greets someone by name.");
	assert_non_null(plug_set_find(s, "calc")); /* built-ins stay */

	/* The schema is the registry's: bad arguments never reach it. */
	args = json_pack("{s:i}", "name", 5);
	assert_int_equal(plug_tool_call(t, args, NULL, NULL, &res, &cause), -1);
	assert_non_null(strstr(cause, "$.name"));
	free(cause);
	json_decref(args);
	plug_set_unref(s);

	expect_call(&w, "greet", "{\"name\": \"Ada\"}", "Hi, Ada!", 0);
	expect_call(
	    &w, "greet", "{\"name\": \"Zo\\u00eb\"}", "Hi, Zo\xc3\xab!", 0);
	expect_call(&w, "fail", "{}", "fail always fails", 1);
	expect_call(&w, "echo_args", "{\"text\": \"a\\\"\\u00e9\", \"n\": 3}",
	    "{\"text\":\"a\\\"\xc3\xa9\",\"n\":3}", 0);
	expect_call(&w, "sum", "{\"numbers\": [1, 2.5, 3]}", "6.5", 0);
	expect_call(
	    &w, "sum", "{\"numbers\": [1, 2, 3.0], \"as_int\": true}", "6", 0);
	expect_call(&w, "sum", "{\"numbers\": [1, 2.5], \"as_int\": true}",
	    "not all integers", 1);
	expect_call(&w, "sum", "{\"numbers\": []}", "0", 0);
	expect_call(&w, "good_stats", "{}",
	    "live=1 inits=1 abi=1.0 remaining=yes max_output=65536", 0);
	expect_call(&w, "odd_result", "{\"mode\": \"none\"}",
	    "tool returned no result", 1);
	expect_call(&w, "odd_result", "{\"mode\": \"nolen\"}", "abc", 0);
	expect_call(&w, "odd_result", "{\"mode\": \"binary\"}",
	    "a\xef\xbf\xbd\xef\xbf\xbd", 0);

	expect_call(&w, "convert_units",
	    "{\"value\": 100, \"from\": \"C\", \"to\": \"F\"}", "100 C = 212 F",
	    0);
	expect_call(&w, "convert_units",
	    "{\"value\": 1, \"from\": \"mi\", \"to\": \"km\"}",
	    "1 mi = 1.609344 km", 0);
	expect_call(&w, "convert_units",
	    "{\"value\": 2.5, \"from\": \"h\", \"to\": \"min\"}",
	    "2.5 h = 150 min", 0);
	expect_call(&w, "convert_units",
	    "{\"value\": 1, \"from\": \"kg\", \"to\": \"km\"}",
	    "cannot convert kg (mass) to km (length)", 1);
	expect_call(&w, "convert_units",
	    "{\"value\": -500, \"from\": \"C\", \"to\": \"K\"}",
	    "-500 C is below absolute zero", 1);
	expect_call(&w, "text_stats",
	    "{\"text\": \"the cat and the hat\\nThe end\", \"top\": 2}",
	    "words: 7, lines: 2, characters: 27; most frequent: the (3), and "
	    "(1)",
	    0);
	expect_call(&w, "text_stats", "{\"text\": \"\"}",
	    "words: 0, lines: 0, characters: 0", 0);
	expect_call(&w, "text_stats",
	    "{\"text\": \"Caf\\u00e9 caf\\u00e9 x\\n\", \"top\": 1}",
	    "words: 3, lines: 1, characters: 12; most frequent: caf\xc3\xa9 "
	    "(2)",
	    0);

	/* Loaded once each, and unloaded when the last holder lets go. */
	assert_int_equal(mappings_of(path, 0) > 0, 1);
	plug_registry_free(w.registry);
	w.registry = NULL;
	assert_int_equal(mappings_of(path, 0), 0);
	world_free(&w);
}

/* Every kind of bad plugin is refused with its reason; the rest load. */
static void
test_refusals(void **state)
{
	struct world w;
	char path[PATH_MAX], target[PATH_MAX], *log;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	install(&w, "tests/plugins", "good", "good2.so", 0755);
	install(&w, "tests/plugins", "abi-major", "abi-major.so", 0755);
	install(&w, "tests/plugins", "no-entry", "no-entry.so", 0755);
	install(&w, "tests/plugins", "dup-tool", "dup-tool.so", 0755);
	install(&w, "tests/plugins", "small-struct", "small-struct.so", 0755);
	install(&w, "tests/plugins", "bad-schema", "bad-schema.so", 0755);
	install(&w, "tests/plugins", "good", "gw.so", 0775);
	install(&w, "tests/plugins", "good", "ow.so", 0757);
	write_in(&w, "junk.so", "this is not an ELF file\n");
	PATHF(path, "%s/link.so", w.plugdir);
	PATHF(target, "%s/good.so", w.plugdir);
	assert_int_equal(symlink(target, path), 0);
	PATHF(path, "%s/dir.so", w.plugdir);
	assert_int_equal(mkdir(path, 0755), 0);
	PATHF(path, "%s/fifo.so", w.plugdir);
	assert_int_equal(mkfifo(path, 0644), 0);
	if (geteuid() == 0) {
		install(&w, "tests/plugins", "good", "owned.so", 0755);
		PATHF(path, "%s/owned.so", w.plugdir);
		assert_int_equal(chown(path, 4242, 4242), 0);
	}
	/* Not plugins at all: ignored without a word. */
	write_in(&w, "README", "plugins go here\n");
	write_in(&w, ".hidden.so", "x");

	log = world_start(&w);
	log_has(log,
	    "/abi-major.so: refused: built for plugin ABI 2.0, but "
	    "this agentd speaks ABI 1.0",
	    NULL);
	log_has(
	    log, "/no-entry.so: refused: has no symbol agentd_tool_init", NULL);
	log_has(log,
	    "/dup-tool.so: refused: tool 'calc' is already defined (by a "
	    "built-in or Lua tool)",
	    NULL);
	log_has(log,
	    "/small-struct.so: refused: module struct_size 8 is "
	    "smaller than the ",
	    " bytes ABI 1.0 requires", NULL);
	log_has(log, "/bad-schema.so: refused: tool 'schema_bad': ", "pattern",
	    NULL);
	log_has(log, "/good2.so: refused: tool 'greet' is already defined by ",
	    "/good.so", NULL);
	log_has(
	    log, "/gw.so: refused: is writable by its group (mode 0775)", NULL);
	log_has(
	    log, "/ow.so: refused: is writable by others (mode 0757)", NULL);
	log_has(log, "/junk.so: refused: dlopen: ", NULL);
	log_has(log, "/link.so: refused: is a symbolic link", NULL);
	log_has(log, "/dir.so: refused: is not a regular file", NULL);
	log_has(log, "/fifo.so: refused: is not a regular file", NULL);
	if (geteuid() == 0) {
		log_has(log,
		    "/owned.so: refused: is owned by uid 4242, "
		    "neither root nor agentd's uid 0",
		    NULL);
		log_has(log, "C plugins: 1 loaded, 13 refused", NULL);
	} else
		log_has(log, "C plugins: 1 loaded, 12 refused", NULL);
	assert_null(strstr(log, "README"));
	assert_null(strstr(log, "hidden"));
	free(log);

	/* A refused plugin leaves nothing behind, not even its good tools. */
	assert_int_equal(has_tool(&w, "greet"), 1);
	assert_int_equal(has_tool(&w, "dup_first"), 0);
	assert_int_equal(has_tool(&w, "schema_ok"), 0);
	assert_int_equal(has_tool(&w, "future_tool"), 0);
	expect_call(&w, "calc", "{\"expression\": \"6*7\"}", "42", 0);
	expect_call(&w, "greet", "{\"name\": \"Bo\"}", "Hello, Bo!", 0);

	/* Refused modules were closed again. */
	PATHF(path, "%s/abi-major.so", w.plugdir);
	assert_int_equal(mappings_of(path, 0), 0);
	PATHF(path, "%s/dup-tool.so", w.plugdir);
	assert_int_equal(mappings_of(path, 0), 0);
	PATHF(path, "%s/good2.so", w.plugdir);
	assert_int_equal(mappings_of(path, 0), 0);
	world_free(&w);
}

/* A plugin's config: bad JSON, not an object, init() refusing. */
static void
test_config_errors(void **state)
{
	struct world w;
	char *log;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	install(&w, "plugins", "units", "units.so", 0755);
	install(&w, "tests/plugins", "slow", "slow.so", 0755);
	write_in(&w, "good.json", "{\"greeting\": ");
	write_in(&w, "units.json", "[6]");
	write_in(&w, "slow.json", "{\"label\": \"a\", \"label\": \"b\"}");
	log = world_start(&w);
	log_has(log, "/good.so: refused: ", "/good.json:1:", NULL);
	log_has(log, "/units.so: refused: ",
	    "/units.json: the config must be a JSON object", NULL);
	log_has(log, "/slow.so: refused: ", "/slow.json:1:", "duplicate", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "greet"), 0);

	/* init() says no, with its own message. */
	write_in(&w, "good.json", "{\"fail_init\": true}");
	write_in(&w, "units.json", "{\"precision\": 99}");
	write_in(&w, "slow.json", "{}");
	log = world_reload(&w);
	log_has(log,
	    "/good.so: refused: init failed: asked to fail by its config",
	    NULL);
	log_has(log,
	    "/units.so: refused: init failed: precision must be an integer "
	    "0..12",
	    NULL);
	log_has(log, "/slow.so: loaded, 1 tool", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "greet"), 0);
	assert_int_equal(has_tool(&w, "convert_units"), 0);

	/* Fixed: both load, and the config is used. */
	write_in(&w, "good.json", "{\"greeting\": \"Hey\"}");
	write_in(&w, "units.json", "{\"precision\": 2}");
	free(world_reload(&w));
	expect_call(&w, "greet", "{\"name\": \"Al\"}", "Hey, Al!", 0);
	expect_call(&w, "convert_units",
	    "{\"value\": 1, \"from\": \"mi\", \"to\": \"km\"}",
	    "1 mi = 1.61 km", 0);
	world_free(&w);
}

/* The allow-list: match, mismatch, absent, by path, malformed, unsafe. */
static void
test_allowlist(void **state)
{
	struct world w;
	char list[PATH_MAX], path[PATH_MAX], hex[65], *text, *log;
	static const char zeros[] = "000000000000000000000000000000000000000"
	                            "0000000000000000000000000";

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	install(&w, "plugins", "units", "units.so", 0755);
	install(&w, "plugins", "wordcount", "wordcount.so", 0755);
	PATHF(list, "%s/allowlist", w.dir);
	PATHF(path, "%s/good.so", w.plugdir);
	sha256_hex(path, hex);
	xasprintf(&text,
	    "# plugins agentd may load\n"
	    "%s  good.so\n"
	    "\n"
	    "%s  units.so\n",
	    hex, zeros);
	assert_int_equal(harness_write_file(list, text), 0);
	free(text);
	w.config.plugin_allowlist = list;

	log = world_start(&w);
	log_has(log, "/good.so: loaded", NULL);
	PATHF(path, "%s/units.so", w.plugdir);
	sha256_hex(path, hex);
	log_has(log, "/units.so: refused: SHA-256 ", hex,
	    " does not match the allow-list ", list, ":4", NULL);
	PATHF(path, "%s/wordcount.so", w.plugdir);
	sha256_hex(path, hex);
	log_has(log, "/wordcount.so: refused: not in the allow-list ", list,
	    " (SHA-256 ", hex, ")", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "greet"), 1);
	assert_int_equal(has_tool(&w, "convert_units"), 0);
	assert_int_equal(has_tool(&w, "text_stats"), 0);

	/* Full paths and sha256sum's binary marker work too. */
	xasprintf(&text, "%s *%s\n", hex, path);
	assert_int_equal(harness_write_file(list, text), 0);
	free(text);
	log = world_reload(&w);
	log_has(log, "/wordcount.so: loaded", NULL);
	log_has(log, "/good.so: refused: not in the allow-list", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "text_stats"), 1);
	assert_int_equal(has_tool(&w, "greet"), 0);

	/* A malformed list loads nothing at all (it fails closed). */
	assert_int_equal(
	    harness_write_file(list, "# ok\nnot a hash  x.so\n"), 0);
	log = world_reload(&w);
	log_has(log, "plugin allow-list ", list,
	    ":2: expected '<64 hex digits>  <file name>'",
	    "no C plugin is loaded", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "text_stats"), 0);
	assert_int_equal(has_tool(&w, "calc"), 1);

	/* So does one that others could write, or none at all. */
	xasprintf(&text, "%s  wordcount.so\n", hex);
	assert_int_equal(harness_write_file(list, text), 0);
	free(text);
	assert_int_equal(chmod(list, 0666), 0);
	log = world_reload(&w);
	log_has(log, "plugin allow-list ", list,
	    ": is writable by others (mode 0666); no C plugin is loaded", NULL);
	free(log);
	assert_int_equal(unlink(list), 0);
	log = world_reload(&w);
	log_has(log, "plugin allow-list ", list,
	    ": does not exist; no C plugin is loaded", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "text_stats"), 0);
	world_free(&w);
}

/* A missing plugin folder is logged; the other folders still load. */
static void
test_missing_folder(void **state)
{
	struct world w;
	char missing[PATH_MAX], *log;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	PATHF(missing, "%s/nowhere", w.dir);
	w.dirs[0] = missing;
	w.dirs[1] = w.plugdir;
	w.config.n_plugin_dirs = 2;
	log = world_start(&w);
	log_has(log, "plugin folder ", missing, ": No such file or directory",
	    NULL);
	log_has(log, "/good.so: loaded", NULL);
	free(log);
	assert_int_equal(has_tool(&w, "greet"), 1);
	world_free(&w);
}

/*
 * A reload of an unchanged file makes a new instance in the module
 * already loaded; the old instance is finished once the old snapshot
 * goes.
 */
static void
test_reload_instances(void **state)
{
	struct world w;
	struct plug_set *old;
	char path[PATH_MAX], *log;
	int fd;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "good", "good.so", 0755);
	free(world_start(&w));
	PATHF(path, "%s/good.so", w.plugdir);
	expect_call(&w, "good_stats", "{}",
	    "live=1 inits=1 abi=1.0 remaining=yes max_output=65536", 0);

	old = plug_registry_get(w.registry);
	write_in(&w, "good.json", "{\"greeting\": \"Yo\"}");
	free(world_reload(&w));
	/* Same module (its counters live on), two instances for now. */
	expect_call(&w, "good_stats", "{}",
	    "live=2 inits=2 abi=1.0 remaining=yes max_output=65536", 0);
	expect_call(&w, "greet", "{\"name\": \"X\"}", "Yo, X!", 0);
	assert_int_equal(mappings_of(path, 0) > 0, 1);
	plug_set_unref(old);
	expect_call(&w, "good_stats", "{}",
	    "live=1 inits=2 abi=1.0 remaining=yes max_output=65536", 0);

	/*
	 * Changed in place while loaded (a byte appended, which leaves the
	 * mapped code intact): refused, since what runs is not what is on
	 * disk.  Once the old module is gone the file loads afresh.
	 */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	log = world_reload(&w);
	log_has(log, "/good.so: refused: was rewritten in place while loaded",
	    NULL);
	free(log);
	assert_int_equal(has_tool(&w, "greet"), 0);
	assert_int_equal(mappings_of(path, 0), 0);
	log = world_reload(&w);
	log_has(log, "/good.so: loaded", NULL);
	free(log);
	expect_call(&w, "good_stats", "{}",
	    "live=1 inits=1 abi=1.0 remaining=yes max_output=65536", 0);

	/* Removed from the folder: gone at the next reload, and unmapped. */
	assert_int_equal(unlink(path), 0);
	free(world_reload(&w));
	assert_int_equal(has_tool(&w, "good_stats"), 0);
	assert_int_equal(mappings_of(path, 1), 0);
	world_free(&w);
}

/* A call that runs through a reload. */
struct slow_call {
	struct plug_tool *tool; /* a reference of its own */
	struct plug_result res;
	int rc;
};

static void *
slow_thread(void *arg)
{
	struct slow_call *sc = arg;
	json_t *args = json_object();
	char *cause = NULL;

	sc->rc = plug_tool_call(sc->tool, args, NULL, NULL, &sc->res, &cause);
	free(cause);
	json_decref(args);
	return NULL;
}

/*
 * Reload while a call is running: the call finishes on the old plugin,
 * new calls already use the new one, and the old one is unloaded only
 * after the call returned.
 */
static void
test_reload_while_running(void **state)
{
	struct world w;
	struct slow_call sc;
	struct plug_set *s;
	struct pollfd pfd;
	pthread_t th;
	char path[PATH_MAX], *conf, c;
	int start[2], release[2];

	(void)state;
	world_init(&w);
	assert_int_equal(pipe(start), 0);
	assert_int_equal(pipe(release), 0);
	install(&w, "tests/plugins", "slow", "slow.so", 0755);
	PATHF(path, "%s/slow.so", w.plugdir);
	xasprintf(&conf,
	    "{\"label\": \"v1\", \"start_fd\": %d, "
	    "\"release_fd\": %d}",
	    start[1], release[0]);
	write_in(&w, "slow.json", conf);
	free(conf);
	free(world_start(&w));

	/* Start a call on v1 and wait until it is inside the plugin. */
	memset(&sc, 0, sizeof sc);
	s = plug_registry_get(w.registry);
	sc.tool = plug_tool_ref(plug_set_find(s, "slow"));
	plug_set_unref(s);
	assert_int_equal(pthread_create(&th, NULL, slow_thread, &sc), 0);
	pfd.fd = start[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(read(start[0], &c, 1), 1);

	/* A new file and a new config, swapped in while v1 runs. */
	replace(&w, "tests/plugins", "slow", "slow.so");
	write_in(&w, "slow.json", "{\"label\": \"v2\"}");
	free(world_reload(&w));
	expect_call(&w, "slow", "{}", "v2: done", 0);
	/* The old file is still mapped (deleted), beside the new one. */
	assert_int_equal(mappings_of(path, 1) > 0, 1);
	assert_int_equal(mappings_of(path, 0) > 0, 1);

	/* Let v1 finish: its result is v1's, then it is unloaded. */
	assert_int_equal(write(release[1], "r", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(sc.rc, 0);
	assert_string_equal(sc.res.text, "v1: done");
	assert_int_equal(sc.res.is_error, 0);
	plug_result_clear(&sc.res);
	assert_int_equal(mappings_of(path, 1) > 0, 1); /* we still hold it */
	plug_tool_unref(sc.tool);
	assert_int_equal(mappings_of(path, 1), 0);
	expect_call(&w, "slow", "{}", "v2: done", 0);

	close(start[0]);
	close(start[1]);
	close(release[0]);
	close(release[1]);
	world_free(&w);
}

/* A call is told when its run is cancelled. */
static void
test_cancel(void **state)
{
	struct world w;
	struct plug_limits lim = { .timeout_ms = 100 };
	struct plug_result res;
	struct plug_set *s;
	atomic_int cancel;
	json_t *args;
	char *cause = NULL;
	uint64_t t0;

	(void)state;
	world_init(&w);
	install(&w, "tests/plugins", "slow", "slow.so", 0755);
	free(world_start(&w));
	s = plug_registry_get(w.registry);
	args = json_pack("{s:i}", "ms", 60000);

	/* Already cancelled: the host never even calls it. */
	atomic_init(&cancel, 1);
	t0 = clock_mono_ms();
	assert_int_equal(plug_tool_call(plug_set_find(s, "slow"), args, NULL,
	                     &cancel, &res, &cause),
	    0);
	assert_true(res.is_error);
	assert_string_equal(res.text, "cancelled");
	plug_result_clear(&res);

	/* A time limit reaches the plugin through host->cancelled(). */
	atomic_store(&cancel, 0);
	assert_int_equal(plug_tool_call(plug_set_find(s, "slow"), args, &lim,
	                     &cancel, &res, &cause),
	    0);
	assert_true(res.is_error);
	assert_string_equal(res.text, "slow: cancelled");
	assert_true(clock_mono_ms() - t0 < 10000);
	plug_result_clear(&res);
	json_decref(args);
	plug_set_unref(s);
	world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_plugins),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_allowlist),
		cmocka_unit_test(test_missing_folder),
		cmocka_unit_test(test_reload_instances),
		cmocka_unit_test(test_reload_while_running),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
