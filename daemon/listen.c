/*
 * listen.c: the listening Unix socket.
 *
 * Under socket activation systemd passes the socket (LISTEN_FDS); the
 * daemon checks that it is a listening Unix stream socket and never
 * unlinks it.  Otherwise the daemon binds its own under a umask that
 * gives it the configured mode.  A socket file already at the path is
 * probed with connect(): if something answers, another instance is
 * running and we refuse to start; if nothing does, the file is stale and
 * is removed.  At exit the daemon removes the file only if it is still
 * the one it bound.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/daemon-int.h"
#include "daemon/sockpath.h"
#include "daemon/util.h"

static int listener_inherit(struct dmn_listener *, int, char **);
static int listener_probe(
    const char *, const struct sockaddr_un *, socklen_t, char **);

int
dmn_listener_open(
    struct dmn_listener *l, const char *path, unsigned int mode, char **cause)
{
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	mode_t old;
	int n, fd = -1, saved;

	memset(l, 0, sizeof *l);
	l->fd = -1;

	/* Unset the variables so that nothing we start inherits them. */
	n = sd_listen_fds(1);
	if (n < 0) {
		xasprintf(cause, "socket activation: %s", strerror(-n));
		return -1;
	}
	if (n > 1) {
		xasprintf(cause,
		    "socket activation: systemd passed %d sockets; agentd "
		    "takes one",
		    n);
		return -1;
	}
	if (n == 1)
		return listener_inherit(l, SD_LISTEN_FDS_START, cause);

	if (dmn_socket_addr(path, &sun, &len, cause) != 0)
		return -1;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			xasprintf(
			    cause, "%s: exists and is not a socket", path);
			return -1;
		}
		if (listener_probe(path, &sun, len, cause) != 0)
			return -1;
	} else if (errno != ENOENT) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	         0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	/* The umask gives the file its mode from the start: no window. */
	old = umask(~(mode_t)mode & 0777);
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		saved = errno;
		umask(old);
		xasprintf(cause, "%s: bind: %s", path, strerror(saved));
		goto fail;
	}
	umask(old);
	if (listen(fd, SOMAXCONN) == -1) {
		xasprintf(cause, "%s: listen: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (stat(path, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	l->fd = fd;
	l->path = xstrdup(path);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	log_info("listening on %s (mode %04o)", path, mode);
	return 0;

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Takes the socket systemd passed. */
static int
listener_inherit(struct dmn_listener *l, int fd, char **cause)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof sun;
	int flags, r;

	r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
	if (r < 0) {
		xasprintf(
		    cause, "socket activation: fd %d: %s", fd, strerror(-r));
		return -1;
	}
	if (r == 0) {
		xasprintf(cause,
		    "socket activation: fd %d is not a listening Unix stream "
		    "socket",
		    fd);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		xasprintf(
		    cause, "socket activation: fd %d: %s", fd, strerror(errno));
		return -1;
	}
	l->fd = fd;
	l->inherited = 1;
	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    len > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0')
		l->path = xstrndup(sun.sun_path, sizeof sun.sun_path);
	log_info("listening on %s (from systemd)",
	    l->path != NULL ? l->path : "an inherited socket");
	return 0;
}

/*
 * A socket file exists: connect to it.  Someone answering means another
 * instance; a refused connection means a stale file, which goes.
 */
static int
listener_probe(const char *path, const struct sockaddr_un *sun, socklen_t len,
    char **cause)
{
	int fd, rc, saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, len);
	saved = errno;
	close(fd);
	if (rc == 0 || saved == EAGAIN) {
		xasprintf(cause,
		    "%s: another agentd is already listening there", path);
		return -1;
	}
	if (saved != ECONNREFUSED) {
		xasprintf(cause, "%s: cannot probe the existing socket: %s",
		    path, strerror(saved));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "%s: cannot remove the stale socket: %s", path,
		    strerror(errno));
		return -1;
	}
	log_notice("%s: removed a stale socket", path);
	return 0;
}

void
dmn_listener_close(struct dmn_listener *l)
{
	struct stat st;

	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	if (!l->inherited && l->path != NULL) {
		/* Only the file we bound: a newer instance may own the path. */
		if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == l->dev && st.st_ino == l->ino) {
			if (unlink(l->path) == -1)
				log_warn("%s: cannot remove: %s", l->path,
				    strerror(errno));
			else
				log_info("%s: removed", l->path);
		}
	}
	free(l->path);
	l->path = NULL;
}
