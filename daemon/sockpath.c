/*
 * sockpath.c: the socket path shared by agentd and its clients, resolved
 * from the flag, the environment and the user's defaults (see sockpath.h),
 * and the checks that keep the default folder private.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/protocol.h"
#include "daemon/sockpath.h"
#include "daemon/util.h"

/* The longest path sun_path holds with its terminating NUL. */
#define SOCKPATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

/* The system folder root's daemon uses outside systemd. */
#define SOCKPATH_ROOT_DIR "/run/agentd"

static int sockpath_check_len(const char *path, const char *from, char **cause);
static char *sockpath_in_dir(
    const char *dir, size_t dirlen, const char *from, char **cause);
static const char *sockpath_env(const char *name, int absolute);
static int sockpath_root_dir(const char *dir, char **cause);

/*
 * Checks that path is usable as a socket address; from names where it
 * came from, for the message, or is NULL.
 */
static int
sockpath_check_len(const char *path, const char *from, char **cause)
{
	size_t len = strlen(path);
	const char *sep = from != NULL ? " from " : "";

	if (from == NULL)
		from = "";
	if (len == 0) {
		xasprintf(cause, "socket path%s%s is empty", sep, from);
		return -1;
	}
	if (len > SOCKPATH_MAX) {
		xasprintf(cause,
		    "socket path '%s'%s%s is %zu bytes; the limit is %zu", path,
		    sep, from, len, SOCKPATH_MAX);
		return -1;
	}
	return 0;
}

/* Returns dir (its first dirlen bytes) joined with the socket's name. */
static char *
sockpath_in_dir(const char *dir, size_t dirlen, const char *from, char **cause)
{
	char *path;

	/* "/x/" and "/x" name the same folder; keep the path tidy. */
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	if (dirlen == 1 && dir[0] == '/')
		dirlen = 0;
	xasprintf(&path, "%.*s/%s", (int)dirlen, dir, DMN_SOCKET_NAME);
	if (sockpath_check_len(path, from, cause) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

/*
 * Returns the variable's value, or NULL when it is unset, empty, or (when
 * absolute is set) not an absolute path.
 */
static const char *
sockpath_env(const char *name, int absolute)
{
	const char *value = getenv(name);

	if (value == NULL || *value == '\0')
		return NULL;
	if (absolute && *value != '/')
		return NULL;
	return value;
}

/*
 * Makes sure root's default folder exists.  /run is writable by root
 * alone, so whatever is there was made by root or by systemd (which may
 * give it to the service user); it must be a directory that others
 * cannot write to.
 */
static int
sockpath_root_dir(const char *dir, char **cause)
{
	struct stat sb;

	if (mkdir(dir, 0755) == 0) {
		/* The umask must not take group and others' access away. */
		if (chmod(dir, 0755) != 0) {
			xasprintf(
			    cause, "cannot chmod %s: %s", dir, strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &sb) != 0) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s is not a directory", dir);
		return -1;
	}
	if ((sb.st_mode & S_IWOTH) != 0) {
		xasprintf(cause, "%s is writable by others (mode %04o)", dir,
		    (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
dmn_socket_dir_private(const char *dir, char **cause)
{
	struct stat sb;
	uid_t uid = geteuid();

	if (mkdir(dir, 0700) == 0) {
		/* An odd umask (0200, say) must not leave it unusable. */
		if (chmod(dir, 0700) != 0) {
			xasprintf(
			    cause, "cannot chmod %s: %s", dir, strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	/* lstat: a symbolic link planted in /tmp must not redirect us. */
	if (lstat(dir, &sb) != 0) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s is not a directory", dir);
		return -1;
	}
	if (sb.st_uid != uid) {
		xasprintf(cause, "%s is owned by uid %lu, not by uid %lu", dir,
		    (unsigned long)sb.st_uid, (unsigned long)uid);
		return -1;
	}
	if ((sb.st_mode & 07777) != 0700) {
		xasprintf(cause, "%s has mode %04o; it must be 0700", dir,
		    (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	return 0;
}

char *
dmn_socket_path(const char *flag, char **cause)
{
	const char *value;
	char *dir, *path;

	if (flag != NULL) {
		if (sockpath_check_len(flag, "--socket", cause) != 0)
			return NULL;
		return xstrdup(flag);
	}
	if ((value = sockpath_env("AGENTD_SOCKET", 0)) != NULL) {
		if (sockpath_check_len(value, "$AGENTD_SOCKET", cause) != 0)
			return NULL;
		return xstrdup(value);
	}
	if ((value = sockpath_env("RUNTIME_DIRECTORY", 1)) != NULL) {
		/* systemd joins several RuntimeDirectory= folders with ':'. */
		return sockpath_in_dir(
		    value, strcspn(value, ":"), "$RUNTIME_DIRECTORY", cause);
	}
	if ((value = sockpath_env("XDG_RUNTIME_DIR", 1)) != NULL) {
		return sockpath_in_dir(
		    value, strlen(value), "$XDG_RUNTIME_DIR", cause);
	}

	if (geteuid() == 0) {
		if (sockpath_root_dir(SOCKPATH_ROOT_DIR, cause) != 0)
			return NULL;
		return sockpath_in_dir(SOCKPATH_ROOT_DIR,
		    strlen(SOCKPATH_ROOT_DIR), "the default", cause);
	}
	xasprintf(&dir, "/tmp/agentd-%lu", (unsigned long)geteuid());
	if (dmn_socket_dir_private(dir, cause) != 0) {
		free(dir);
		return NULL;
	}
	path = sockpath_in_dir(dir, strlen(dir), "the default", cause);
	free(dir);
	return path;
}

int
dmn_socket_addr(
    const char *path, struct sockaddr_un *sun, socklen_t *len, char **cause)
{
	size_t n;

	if (sockpath_check_len(path, NULL, cause) != 0)
		return -1;
	n = strlen(path);
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}
