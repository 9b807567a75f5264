/*
 * harness.h: helpers for integration tests that drive the real agentd.
 *
 * A test starts build/agentd (from $OUT, default "build") on a private
 * socket in its own temporary folder, talks NDJSON JSON-RPC to it over a
 * real Unix socket, and stops it by the pid it recorded.  Nothing here
 * ends a process it did not start.  harness_time_limit() arms an alarm
 * that kills every daemon this process started and fails the test, so a
 * hung daemon cannot hang the suite.
 *
 * Functions that can fail print why on stderr (with the tail of the
 * daemon's log where it helps) and return NULL or -1; tests assert on
 * that.  None of them calls cmocka, so any test program can use them.
 */
#ifndef AGENTD_TESTS_HARNESS_H
#define AGENTD_TESTS_HARNESS_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>

#include <jansson.h>

/* Time a daemon gets to create its socket (sanitizer builds are slow). */
#define HARNESS_START_MS 20000
/* Time a single reply may take in tests, unless they say otherwise. */
#define HARNESS_REPLY_MS 10000

/* Room for a temporary folder's path (short: socket paths must fit). */
#define HARNESS_DIR_MAX 1024

/* How to start a daemon. */
struct harness_opts {
	const char *config;      /* agentd.conf text; NULL: no -c at all */
	const char *const *args; /* more arguments, NULL-terminated */
	const char *const *env;  /* more "NAME=value", NULL-terminated */
	int notify;              /* set NOTIFY_SOCKET to a socket of ours */
	int no_wait;             /* do not wait for the socket to answer */
	int no_socket_flag;      /* do not pass -s (the config names it) */
	int activate;            /* pass listen_fd as systemd would */
	int listen_fd;           /* with activate: it becomes fd 3 */
	const char *socket;      /* the -s path; NULL: dir/agentd.sock */
	int nofile;              /* RLIMIT_NOFILE for the daemon; 0: ours */
};

/* A daemon started by this test process. */
struct harness_daemon {
	pid_t pid;
	int exited;                /* reaped: status is valid */
	int status;                /* waitpid() status */
	char dir[HARNESS_DIR_MAX]; /* private folder, removed at the end */
	char socket[PATH_MAX];     /* opts.socket or dir/agentd.sock (-s) */
	char config[PATH_MAX];     /* dir/agentd.conf */
	char log[PATH_MAX];        /* dir/agentd.log: stdout and stderr */
	char notify[PATH_MAX];     /* dir/notify.sock, if opts.notify */
	int notify_fd;             /* our end of it, or -1 */
};

/* A client connection with a line buffer. */
struct harness_conn {
	int fd;
	char *buf;
	size_t len;
	size_t size;
	long long next_id;
};

/* $OUT (default "build") and $AGENTD_SRCDIR (default "."). */
const char *harness_out(void);
const char *harness_srcdir(void);
/*
 * The shared test data folder: $AGENTD_SHARED_DATA, else
 * $AGENTD_SRCDIR/../shared/data.  When it is missing, exits 77 (skip) with
 * a message, or exits 1 when CI=true.  Returns a static string.
 */
const char *harness_shared_data(void);

/*
 * Fails the test process after seconds: kills (SIGKILL) every daemon it
 * started, by pid, and exits 1.  Call it at the start of each test.
 */
void harness_time_limit(unsigned int seconds);

/*
 * Makes a private temporary folder (mode 0700) in $TMPDIR or /tmp and
 * writes its path into dir (at least HARNESS_DIR_MAX bytes).  Returns 0
 * or -1.
 */
int harness_tmpdir(char *dir);
/* Removes a folder and everything in it.  Returns 0 or -1. */
int harness_rmtree(const char *dir);
/* Writes text into a file (mode 0644).  Returns 0 or -1. */
int harness_write_file(const char *path, const char *text);
/* Returns a file's contents (caller frees), or NULL. */
char *harness_read_file(const char *path);

/*
 * Starts $OUT/agentd -s SOCK [-c CONF] -l debug [args...] in a new private
 * folder and, unless opts->no_wait, waits until its socket accepts a
 * connection.  opts may be NULL.  Returns the daemon (free it with
 * harness_daemon_free()), or NULL.
 */
struct harness_daemon *harness_daemon_start(const struct harness_opts *opts);
/* Rewrites the daemon's config file (for SIGHUP tests).  0 or -1. */
int harness_daemon_write_config(struct harness_daemon *d, const char *text);
/* Sends a signal to the daemon's pid, if it still runs.  0 or -1. */
int harness_daemon_signal(struct harness_daemon *d, int sig);
/*
 * Waits up to timeout_ms for the daemon to exit.  Returns its exit status
 * (0-255), 128 + the signal that killed it, or -1 on timeout.
 */
int harness_daemon_wait(struct harness_daemon *d, int timeout_ms);
/*
 * SIGTERM, then waits up to timeout_ms; SIGKILL if it is still there.
 * Returns as harness_daemon_wait() (-1 if it had to be killed).
 */
int harness_daemon_stop(struct harness_daemon *d, int timeout_ms);
/* Returns the daemon's log so far (caller frees), never NULL. */
char *harness_daemon_log(const struct harness_daemon *d);
/* Returns 1 if the log contains needle, else 0. */
int harness_daemon_log_has(const struct harness_daemon *d, const char *needle);
/*
 * Waits up to timeout_ms until the log contains needle.  Returns 0, or -1
 * on timeout.
 */
int harness_daemon_log_wait(
    const struct harness_daemon *d, const char *needle, int timeout_ms);
/*
 * Waits up to timeout_ms for an sd_notify datagram containing needle
 * (opts.notify must have been set).  Returns the whole datagram (caller
 * frees), or NULL.
 */
char *harness_daemon_notify_wait(
    struct harness_daemon *d, const char *needle, int timeout_ms);
/* Resident memory of the daemon in KiB, from /proc; -1 if unknown. */
long harness_daemon_rss_kb(const struct harness_daemon *d);
/*
 * Kills the daemon (SIGKILL) if it still runs, reaps it, removes its
 * folder and frees d.  NULL is accepted.
 */
void harness_daemon_free(struct harness_daemon *d);

/*
 * Runs a program to completion with extra environment, capturing stdout
 * and stderr together into *output (caller frees; may be NULL).  Kills it
 * after timeout_ms.  Returns its exit status, 128 + a signal, or -1.
 */
int harness_run(
    char *const argv[], const char *const *env, int timeout_ms, char **output);

/* Connects to a Unix socket (blocking).  Returns the fd or -1. */
int harness_connect(const char *path);
/* Connects and wraps the fd.  Returns NULL on failure. */
struct harness_conn *harness_conn_open(const char *path);
/* Closes the connection and frees it; NULL is accepted. */
void harness_conn_close(struct harness_conn *c);
/* Sends len bytes, all of them.  Returns 0 or -1. */
int harness_send(struct harness_conn *c, const void *data, size_t len);
/* Sends a string and a '\n'.  Returns 0 or -1. */
int harness_send_line(struct harness_conn *c, const char *line);
/*
 * Reads one line (without its '\n') within timeout_ms.  Returns it
 * (caller frees), or NULL on timeout, error or end of stream.
 */
char *harness_recv_line(struct harness_conn *c, int timeout_ms);
/* Reads one line and parses it.  Returns a new reference or NULL. */
json_t *harness_recv(struct harness_conn *c, int timeout_ms);
/*
 * Returns 1 if the peer closes the connection within timeout_ms (lines
 * still arriving are read and dropped), else 0.
 */
int harness_wait_eof(struct harness_conn *c, int timeout_ms);
/*
 * Sends a request with a fresh integer id and params (taken; may be NULL)
 * and returns the response with that id (notifications before it are
 * skipped), or NULL.
 */
json_t *harness_call(
    struct harness_conn *c, const char *method, json_t *params, int timeout_ms);
/* Returns the "result" of a response (borrowed), or NULL. */
json_t *harness_result(json_t *response);
/* Returns the error code of a response, or 0 if it has none. */
int harness_error_code(json_t *response);

#endif /* AGENTD_TESTS_HARNESS_H */
