/*
 * sockpath.h: where agentd listens and agentctl connects.  The daemon and
 * every client resolve the socket path the same way (DESIGN.md "Running
 * from a checkout"):
 *
 *   1. the -s/--socket flag, when given;
 *   2. else $AGENTD_SOCKET;
 *   3. else $RUNTIME_DIRECTORY/agentd.sock (systemd's RuntimeDirectory=;
 *      when it lists several folders, separated by ':', the first);
 *   4. else $XDG_RUNTIME_DIR/agentd.sock;
 *   5. else /run/agentd/agentd.sock for root (the folder is created 0755
 *      when missing) and /tmp/agentd-$UID/agentd.sock for anyone else
 *      (the folder is created 0700 when missing, and refused unless it
 *      is a directory owned by the effective uid with mode 0700).
 *
 * Empty variables count as unset.  $RUNTIME_DIRECTORY and
 * $XDG_RUNTIME_DIR must be absolute paths; relative values are ignored,
 * as the XDG Base Directory specification says.  The flag and
 * $AGENTD_SOCKET may be relative (to the working directory).  Every
 * result fits in sockaddr_un's sun_path with its terminating NUL.
 */
#ifndef AGENTD_DAEMON_SOCKPATH_H
#define AGENTD_DAEMON_SOCKPATH_H

#include <sys/socket.h>
#include <sys/un.h>

/*
 * Resolves the socket path as described above; flag is the -s value or
 * NULL.  Returns a new string (caller frees), or NULL with *cause set to
 * an allocated message (caller frees) naming the path and what is wrong
 * with it: empty, longer than sun_path allows, or an unsafe or uncreatable
 * default folder.
 */
char *dmn_socket_path(const char *flag, char **cause);

/*
 * Makes sure dir is a private folder for the effective uid: creates it
 * with mode 0700 when it does not exist, then refuses (-1 with *cause
 * set) anything that is not a directory (a symbolic link included), not
 * owned by the effective uid, or not exactly mode 0700.  Returns 0 when
 * the folder is safe.
 */
int dmn_socket_dir_private(const char *dir, char **cause);

/*
 * Fills *sun (and *len, the address length to pass to bind(2) or
 * connect(2)) for path.  Returns 0, or -1 with *cause set when path is
 * empty or does not fit in sun_path with its terminating NUL.
 */
int dmn_socket_addr(
    const char *path, struct sockaddr_un *sun, socklen_t *len, char **cause);

#endif /* AGENTD_DAEMON_SOCKPATH_H */
