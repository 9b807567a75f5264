/*
 * test-daemon-sockpath.c: the socket path's order of precedence (flag,
 * $AGENTD_SOCKET, $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR, the user's
 * default), the sun_path limit, and the checks on the private folder.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/sockpath.h"

/* sun_path's size, less the terminating NUL. */
#define SUN_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

static const char *env_names[] = {
	"AGENTD_SOCKET",
	"RUNTIME_DIRECTORY",
	"XDG_RUNTIME_DIR",
};

static char tmp_root[PATH_MAX];

static int clear_env(void **);
static void assert_cause(char *, const char *, const char *);
static char *long_string(size_t, char);

/* Runs before each test: no inherited variable may decide the answer. */
static int
clear_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
		unsetenv(env_names[i]);
	return 0;
}

/* Checks that cause holds both fragments, then frees it. */
static void
assert_cause(char *cause, const char *what, const char *why)
{
	assert_non_null(cause);
	if (strstr(cause, what) == NULL || strstr(cause, why) == NULL)
		fail_msg("cause '%s' lacks '%s' or '%s'", cause, what, why);
	free(cause);
}

/* Returns an allocated string of n copies of c, starting with '/'. */
static char *
long_string(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[0] = '/';
	s[n] = '\0';
	return s;
}

static void
test_flag_first(void **state)
{
	char *cause = NULL, *path;

	(void)state;
	setenv("AGENTD_SOCKET", "/env/a.sock", 1);
	setenv("RUNTIME_DIRECTORY", "/run/x", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
	path = dmn_socket_path("rel/flag.sock", &cause);
	assert_non_null(path);
	assert_null(cause);
	assert_string_equal(path, "rel/flag.sock");
	free(path);
}

static void
test_flag_empty(void **state)
{
	char *cause = NULL;

	(void)state;
	setenv("AGENTD_SOCKET", "/env/a.sock", 1);
	assert_null(dmn_socket_path("", &cause));
	assert_cause(cause, "--socket", "empty");
}

static void
test_flag_length(void **state)
{
	char *cause = NULL, *path, *s;

	(void)state;
	/* The longest path that fits with its NUL is accepted... */
	s = long_string(SUN_MAX, 'a');
	path = dmn_socket_path(s, &cause);
	assert_non_null(path);
	assert_string_equal(path, s);
	free(path);
	free(s);

	/* ...and one byte more is refused, naming the limit. */
	s = long_string(SUN_MAX + 1, 'a');
	assert_null(dmn_socket_path(s, &cause));
	assert_cause(cause, "--socket", "the limit is 107");
	free(s);
}

static void
test_env_socket(void **state)
{
	char *cause = NULL, *path, *s;

	(void)state;
	setenv("AGENTD_SOCKET", "env.sock", 1);
	setenv("RUNTIME_DIRECTORY", "/run/x", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "env.sock");
	free(path);

	s = long_string(300, 'e');
	setenv("AGENTD_SOCKET", s, 1);
	assert_null(dmn_socket_path(NULL, &cause));
	assert_cause(cause, "$AGENTD_SOCKET", "300 bytes");
	free(s);
}

static void
test_env_empty_ignored(void **state)
{
	char *cause = NULL, *path;

	(void)state;
	setenv("AGENTD_SOCKET", "", 1);
	setenv("RUNTIME_DIRECTORY", "/run/svc", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/run/svc/agentd.sock");
	free(path);
}

static void
test_runtime_directory(void **state)
{
	char *cause = NULL, *path;

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);

	/* systemd joins several folders with ':'; the first is ours. */
	setenv("RUNTIME_DIRECTORY", "/run/agentd:/run/other", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/run/agentd/agentd.sock");
	free(path);

	setenv("RUNTIME_DIRECTORY", "/run/agentd//", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/run/agentd/agentd.sock");
	free(path);

	setenv("RUNTIME_DIRECTORY", "/", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/agentd.sock");
	free(path);

	/* A relative value is not a runtime folder: fall through. */
	setenv("RUNTIME_DIRECTORY", "run/agentd", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/run/user/1/agentd.sock");
	free(path);
}

static void
test_runtime_directory_length(void **state)
{
	char *cause = NULL, *s;

	(void)state;
	/* The folder fits but the folder plus "/agentd.sock" does not. */
	s = long_string(SUN_MAX - 5, 'r');
	setenv("RUNTIME_DIRECTORY", s, 1);
	assert_null(dmn_socket_path(NULL, &cause));
	assert_cause(cause, "$RUNTIME_DIRECTORY", "the limit is 107");
	free(s);
}

static void
test_xdg_runtime_dir(void **state)
{
	char *cause = NULL, *path, *s;

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	path = dmn_socket_path(NULL, &cause);
	assert_non_null(path);
	assert_string_equal(path, "/run/user/1000/agentd.sock");
	free(path);

	s = long_string(200, 'x');
	setenv("XDG_RUNTIME_DIR", s, 1);
	assert_null(dmn_socket_path(NULL, &cause));
	assert_cause(cause, "$XDG_RUNTIME_DIR", "bytes");
	free(s);
}

static void
test_default(void **state)
{
	struct stat sb;
	char *cause = NULL, *path, want[64];
	int existed;

	(void)state;
	if (geteuid() == 0) {
		existed = lstat("/run/agentd", &sb) == 0;
		path = dmn_socket_path(NULL, &cause);
		if (path == NULL)
			fail_msg("default path for root: %s", cause);
		assert_string_equal(path, "/run/agentd/agentd.sock");
		assert_int_equal(lstat("/run/agentd", &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		if (!existed) {
			assert_int_equal(sb.st_mode & 07777, 0755);
			rmdir("/run/agentd");
		}
		free(path);
		return;
	}
	snprintf(want, sizeof want, "/tmp/agentd-%lu/agentd.sock",
	    (unsigned long)geteuid());
	path = dmn_socket_path(NULL, &cause);
	if (path == NULL)
		fail_msg("default path: %s", cause);
	assert_string_equal(path, want);
	*strrchr(want, '/') = '\0';
	assert_int_equal(lstat(want, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(sb.st_uid, geteuid());
	free(path);
}

static void
test_dir_private_created(void **state)
{
	struct stat sb;
	char *cause = NULL, dir[PATH_MAX + 16];
	mode_t old;

	(void)state;
	snprintf(dir, sizeof dir, "%s/created", tmp_root);
	/* Even a umask that takes the owner's write bit leaves 0700. */
	old = umask(0277);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), 0);
	umask(old);
	assert_null(cause);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);

	/* A second call finds it and accepts it. */
	assert_int_equal(dmn_socket_dir_private(dir, &cause), 0);
	assert_null(cause);
	rmdir(dir);
}

static void
test_dir_private_mode(void **state)
{
	char *cause = NULL, dir[PATH_MAX + 16];

	(void)state;
	snprintf(dir, sizeof dir, "%s/open", tmp_root);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0750), 0);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "mode 0750; it must be 0700");

	assert_int_equal(chmod(dir, 0500), 0);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "mode 0500");
	rmdir(dir);
}

static void
test_dir_private_not_dir(void **state)
{
	char *cause = NULL, dir[PATH_MAX + 16], target[PATH_MAX + 16];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof dir, "%s/file", tmp_root);
	f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "not a directory");
	unlink(dir);

	/* A link to a perfectly private folder is still refused. */
	snprintf(target, sizeof target, "%s/target", tmp_root);
	snprintf(dir, sizeof dir, "%s/link", tmp_root);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, dir), 0);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "not a directory");
	unlink(dir);
	rmdir(target);
}

static void
test_dir_private_owner(void **state)
{
	char *cause = NULL, dir[PATH_MAX + 16];

	(void)state;
	if (geteuid() != 0)
		skip();
	snprintf(dir, sizeof dir, "%s/theirs", tmp_root);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "owned by uid 65534, not by uid 0");
	rmdir(dir);
}

static void
test_dir_private_uncreatable(void **state)
{
	char *cause = NULL, dir[PATH_MAX + 16];

	(void)state;
	snprintf(dir, sizeof dir, "%s/missing/sub", tmp_root);
	assert_int_equal(dmn_socket_dir_private(dir, &cause), -1);
	assert_cause(cause, dir, "cannot create");
}

static void
test_addr(void **state)
{
	struct sockaddr_un sun;
	socklen_t len;
	char *cause = NULL, *s;

	(void)state;
	assert_int_equal(dmn_socket_addr("/x/a.sock", &sun, &len, &cause), 0);
	assert_int_equal(sun.sun_family, AF_UNIX);
	assert_string_equal(sun.sun_path, "/x/a.sock");
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);

	s = long_string(SUN_MAX, 's');
	assert_int_equal(dmn_socket_addr(s, &sun, &len, &cause), 0);
	assert_int_equal(sun.sun_path[SUN_MAX], '\0');
	assert_int_equal(len, sizeof sun);
	free(s);

	s = long_string(SUN_MAX + 1, 's');
	assert_int_equal(dmn_socket_addr(s, &sun, &len, &cause), -1);
	assert_cause(cause, "socket path", "108 bytes; the limit is 107");
	free(s);

	assert_int_equal(dmn_socket_addr("", &sun, &len, &cause), -1);
	assert_cause(cause, "socket path", "empty");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_flag_first, clear_env),
		cmocka_unit_test_setup(test_flag_empty, clear_env),
		cmocka_unit_test_setup(test_flag_length, clear_env),
		cmocka_unit_test_setup(test_env_socket, clear_env),
		cmocka_unit_test_setup(test_env_empty_ignored, clear_env),
		cmocka_unit_test_setup(test_runtime_directory, clear_env),
		cmocka_unit_test_setup(
		    test_runtime_directory_length, clear_env),
		cmocka_unit_test_setup(test_xdg_runtime_dir, clear_env),
		cmocka_unit_test_setup(test_default, clear_env),
		cmocka_unit_test(test_dir_private_created),
		cmocka_unit_test(test_dir_private_mode),
		cmocka_unit_test(test_dir_private_not_dir),
		cmocka_unit_test(test_dir_private_owner),
		cmocka_unit_test(test_dir_private_uncreatable),
		cmocka_unit_test(test_addr),
	};
	const char *tmp = getenv("TMPDIR");
	int rc;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(tmp_root, sizeof tmp_root, "%s/test-sockpath.XXXXXX", tmp);
	if (mkdtemp(tmp_root) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmp_root, strerror(errno));
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmp_root);
	return rc;
}
