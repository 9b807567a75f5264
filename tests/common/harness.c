/*
 * harness.c: start the real agentd for a test, talk to it, stop it.
 * See harness.h.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/common/harness.h"

extern char **environ;

/* Daemons this process started, for the time limit's handler. */
#define HARNESS_MAX_PIDS 256
static volatile pid_t harness_pids[HARNESS_MAX_PIDS];
/*
 * Daemons not yet freed.  A failed cmocka assertion jumps out of a test
 * before it frees its daemon; at exit these are killed and their folders
 * removed, so that a failing test leaves nothing running behind.
 */
static struct harness_daemon *harness_live[HARNESS_MAX_PIDS];

static void harness_note(const char *, ...)
    __attribute__((format(printf, 1, 2)));
static void harness_live_add(struct harness_daemon *);
static void harness_live_del(struct harness_daemon *);
static void harness_at_exit(void);
static void harness_pid_add(pid_t);
static void harness_pid_del(pid_t);
static void harness_alarm(int);
static long long harness_now_ms(void);
static void harness_sleep_ms(int);
static char **harness_envp(const char *const *);
static int harness_status(int);
static int harness_rm_cb(const char *, const struct stat *, int, struct FTW *);
static void harness_log_tail(const struct harness_daemon *);

static void
harness_note(const char *fmt, ...)
{
	va_list ap;

	fputs("harness: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *
harness_out(void)
{
	const char *out = getenv("OUT");

	return out != NULL && *out != '\0' ? out : "build";
}

const char *
harness_srcdir(void)
{
	const char *dir = getenv("AGENTD_SRCDIR");

	return dir != NULL && *dir != '\0' ? dir : ".";
}

const char *
harness_shared_data(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("AGENTD_SHARED_DATA"), *ci = getenv("CI");
	struct stat st;

	if (env != NULL && *env != '\0')
		snprintf(path, sizeof path, "%s", env);
	else
		snprintf(
		    path, sizeof path, "%s/../shared/data", harness_srcdir());
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return path;
	if (ci != NULL && strcmp(ci, "true") == 0) {
		fprintf(
		    stderr, "shared test data %s is missing (CI=true)\n", path);
		exit(1);
	}
	fprintf(stderr, "skipped: shared test data %s is missing\n", path);
	exit(77);
}

static long long
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
harness_sleep_ms(int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
harness_live_add(struct harness_daemon *d)
{
	static int registered;

	if (!registered) {
		atexit(harness_at_exit);
		registered = 1;
	}
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_live[i] == NULL) {
			harness_live[i] = d;
			return;
		}
	}
}

static void
harness_live_del(struct harness_daemon *d)
{
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_live[i] == d)
			harness_live[i] = NULL;
	}
}

static void
harness_at_exit(void)
{
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_live[i] != NULL)
			harness_daemon_free(harness_live[i]);
	}
}

static void
harness_pid_add(pid_t pid)
{
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_pids[i] == 0) {
			harness_pids[i] = pid;
			return;
		}
	}
}

static void
harness_pid_del(pid_t pid)
{
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_pids[i] == pid)
			harness_pids[i] = 0;
	}
}

/* The time limit passed: kill our own daemons and fail. */
static void
harness_alarm(int sig)
{
	static const char msg[] = "harness: time limit reached; killing the "
	                          "daemons this test started\n";

	(void)sig;
	for (int i = 0; i < HARNESS_MAX_PIDS; i++) {
		if (harness_pids[i] > 0)
			kill(harness_pids[i], SIGKILL);
	}
	if (write(STDERR_FILENO, msg, sizeof msg - 1) == -1) {
		/* Nothing more to do. */
	}
	_exit(1);
}

void
harness_time_limit(unsigned int seconds)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = harness_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	/* Writes to a daemon that went away must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	alarm(seconds);
}

int
harness_tmpdir(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	/* Short: socket paths must fit in sun_path. */
	if ((size_t)snprintf(dir, HARNESS_DIR_MAX, "%s/agentd-test.XXXXXX",
	        tmp) >= HARNESS_DIR_MAX)
		return -1;
	if (mkdtemp(dir) == NULL) {
		harness_note("mkdtemp %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
harness_rm_cb(
    const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

int
harness_rmtree(const char *dir)
{
	return nftw(dir, harness_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int
harness_write_file(const char *path, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		harness_note("%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			harness_note("%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

char *
harness_read_file(const char *path)
{
	char *data = NULL, *p;
	size_t len = 0, size = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	for (;;) {
		if (size - len < 4096) {
			size = size == 0 ? 8192 : size * 2;
			if ((p = realloc(data, size)) == NULL) {
				free(data);
				close(fd);
				return NULL;
			}
			data = p;
		}
		n = read(fd, data + len, size - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	data[len] = '\0';
	return data;
}

/*
 * The environment for a daemon: ours without what would make it
 * non-hermetic (systemd's variables, a socket override), plus extra.
 */
static char **
harness_envp(const char *const *extra)
{
	static const char *const drop[] = { "NOTIFY_SOCKET=", "LISTEN_FDS=",
		"LISTEN_PID=", "LISTEN_FDNAMES=", "WATCHDOG_USEC=",
		"WATCHDOG_PID=", "AGENTD_SOCKET=", "RUNTIME_DIRECTORY=", NULL };
	size_t n = 0, m = 0, k = 0;
	char **envp;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	if ((envp = calloc(n + m + 1, sizeof *envp)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int skip = 0;

		for (size_t j = 0; drop[j] != NULL; j++) {
			if (strncmp(environ[i], drop[j], strlen(drop[j])) == 0)
				skip = 1;
		}
		if (!skip)
			envp[k++] = environ[i];
	}
	for (size_t i = 0; i < m; i++)
		envp[k++] = (char *)(uintptr_t)extra[i];
	envp[k] = NULL;
	return envp;
}

static int
harness_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

static void
harness_log_tail(const struct harness_daemon *d)
{
	char *log = harness_daemon_log(d);
	size_t len = strlen(log);

	fprintf(stderr, "---- %s (last 4000 bytes) ----\n%s\n----\n", d->log,
	    len > 4000 ? log + len - 4000 : log);
	free(log);
}

struct harness_daemon *
harness_daemon_start(const struct harness_opts *opts)
{
	static const struct harness_opts none;
	struct harness_daemon *d;
	struct sockaddr_un sun;
	char agentd[PATH_MAX], notify_env[PATH_MAX + 32];
	char listen_pid_env[48];
	const char *argv[64], *extra[40];
	char **envp;
	size_t argc = 0, nextra = 0;
	long long deadline;
	int logfd, fd;

	if (opts == NULL)
		opts = &none;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->notify_fd = -1;
	harness_live_add(d);
	if (harness_tmpdir(d->dir) != 0) {
		free(d);
		return NULL;
	}
	if (opts->socket != NULL)
		snprintf(d->socket, sizeof d->socket, "%s", opts->socket);
	else
		snprintf(d->socket, sizeof d->socket, "%s/agentd.sock", d->dir);
	snprintf(d->config, sizeof d->config, "%s/agentd.conf", d->dir);
	snprintf(d->log, sizeof d->log, "%s/agentd.log", d->dir);
	snprintf(agentd, sizeof agentd, "%s/agentd", harness_out());

	if (opts->config != NULL &&
	    harness_write_file(d->config, opts->config) != 0)
		goto fail;
	if (opts->notify) {
		snprintf(d->notify, sizeof d->notify, "%s/notify.sock", d->dir);
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(d->notify) >= sizeof sun.sun_path) {
			harness_note("%s: path too long", d->notify);
			goto fail;
		}
		memcpy(sun.sun_path, d->notify, strlen(d->notify) + 1);
		d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (d->notify_fd == -1 ||
		    bind(d->notify_fd, (struct sockaddr *)&sun, sizeof sun) ==
		        -1) {
			harness_note("notify socket: %s", strerror(errno));
			goto fail;
		}
		snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s",
		    d->notify);
		extra[nextra++] = notify_env;
	}
	if (opts->activate) {
		/* LISTEN_PID is written in the child, which knows its pid. */
		extra[nextra++] = "LISTEN_FDS=1";
		listen_pid_env[0] = '\0';
		extra[nextra++] = listen_pid_env;
	}
	for (size_t i = 0; opts->env != NULL && opts->env[i] != NULL; i++) {
		if (nextra < 36)
			extra[nextra++] = opts->env[i];
	}
	extra[nextra] = NULL;

	argv[argc++] = agentd;
	if (!opts->no_socket_flag) {
		argv[argc++] = "-s";
		argv[argc++] = d->socket;
	}
	if (opts->config != NULL) {
		argv[argc++] = "-c";
		argv[argc++] = d->config;
	}
	argv[argc++] = "-l";
	argv[argc++] = "debug";
	for (size_t i = 0; opts->args != NULL && opts->args[i] != NULL; i++) {
		if (argc < 62)
			argv[argc++] = opts->args[i];
	}
	argv[argc] = NULL;

	if ((envp = harness_envp(extra)) == NULL)
		goto fail;
	logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd == -1) {
		harness_note("%s: %s", d->log, strerror(errno));
		free(envp);
		goto fail;
	}
	d->pid = fork();
	if (d->pid == -1) {
		harness_note("fork: %s", strerror(errno));
		close(logfd);
		free(envp);
		goto fail;
	}
	if (d->pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1)
			dup2(fd, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		if (opts->nofile > 0) {
			struct rlimit rl;

			rl.rlim_cur = rl.rlim_max = (rlim_t)opts->nofile;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (opts->activate) {
			snprintf(listen_pid_env, sizeof listen_pid_env,
			    "LISTEN_PID=%ld", (long)getpid());
			if (opts->listen_fd != 3)
				dup2(opts->listen_fd, 3);
			fcntl(3, F_SETFD, 0);
		}
		execve(agentd, (char *const *)(uintptr_t)argv, envp);
		dprintf(STDERR_FILENO, "harness: exec %s: %s\n", agentd,
		    strerror(errno));
		_exit(127);
	}
	harness_pid_add(d->pid);
	close(logfd);
	free(envp);
	if (opts->no_wait)
		return d;

	/* Ready when the socket takes a connection. */
	deadline = harness_now_ms() + HARNESS_START_MS;
	while (harness_now_ms() < deadline) {
		if ((fd = harness_connect(d->socket)) != -1) {
			close(fd);
			return d;
		}
		if (harness_daemon_wait(d, 0) != -1) {
			harness_note("agentd exited before listening "
			             "(status %d)",
			    harness_status(d->status));
			harness_log_tail(d);
			goto fail;
		}
		harness_sleep_ms(10);
	}
	harness_note("agentd did not listen on %s within %d ms", d->socket,
	    HARNESS_START_MS);
	harness_log_tail(d);
fail:
	harness_daemon_free(d);
	return NULL;
}

int
harness_daemon_write_config(struct harness_daemon *d, const char *text)
{
	return harness_write_file(d->config, text);
}

int
harness_daemon_signal(struct harness_daemon *d, int sig)
{
	if (d->pid <= 0 || d->exited)
		return -1;
	return kill(d->pid, sig);
}

int
harness_daemon_wait(struct harness_daemon *d, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	pid_t r;

	if (d->pid <= 0)
		return -1;
	for (;;) {
		if (d->exited)
			return harness_status(d->status);
		r = waitpid(d->pid, &d->status, WNOHANG);
		if (r == d->pid) {
			d->exited = 1;
			harness_pid_del(d->pid);
			continue;
		}
		if (r == -1 && errno != EINTR)
			return -1;
		if (harness_now_ms() >= deadline)
			return -1;
		harness_sleep_ms(5);
	}
}

int
harness_daemon_stop(struct harness_daemon *d, int timeout_ms)
{
	int rc;

	if (d->pid <= 0)
		return -1;
	if (!d->exited)
		kill(d->pid, SIGTERM);
	if ((rc = harness_daemon_wait(d, timeout_ms)) != -1)
		return rc;
	harness_note("agentd (pid %ld) did not stop within %d ms; killing it",
	    (long)d->pid, timeout_ms);
	harness_log_tail(d);
	kill(d->pid, SIGKILL);
	harness_daemon_wait(d, 10000);
	return -1;
}

char *
harness_daemon_log(const struct harness_daemon *d)
{
	char *log = harness_read_file(d->log);

	return log != NULL ? log : strdup("");
}

int
harness_daemon_log_has(const struct harness_daemon *d, const char *needle)
{
	char *log = harness_daemon_log(d);
	int found = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return found;
}

int
harness_daemon_log_wait(
    const struct harness_daemon *d, const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		if (harness_daemon_log_has(d, needle))
			return 0;
		if (harness_now_ms() >= deadline)
			break;
		harness_sleep_ms(10);
	}
	harness_note("log never said '%s'", needle);
	harness_log_tail(d);
	return -1;
}

char *
harness_daemon_notify_wait(
    struct harness_daemon *d, const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct pollfd pfd;
	char buf[4096];
	ssize_t n;
	int left;

	if (d->notify_fd == -1)
		return NULL;
	for (;;) {
		left = (int)(deadline - harness_now_ms());
		if (left < 0)
			left = 0;
		pfd.fd = d->notify_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) <= 0)
			break;
		n = recv(d->notify_fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			break;
		buf[n] = '\0';
		if (strstr(buf, needle) != NULL)
			return strdup(buf);
	}
	harness_note("no notification with '%s'", needle);
	return NULL;
}

long
harness_daemon_rss_kb(const struct harness_daemon *d)
{
	char path[64], *status, *p;
	long kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)d->pid);
	if ((status = harness_read_file(path)) == NULL)
		return -1;
	if ((p = strstr(status, "VmRSS:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(status);
	return kb;
}

void
harness_daemon_free(struct harness_daemon *d)
{
	if (d == NULL)
		return;
	harness_live_del(d);
	if (d->pid > 0 && !d->exited) {
		kill(d->pid, SIGKILL);
		harness_daemon_wait(d, 10000);
	}
	if (d->notify_fd != -1)
		close(d->notify_fd);
	harness_rmtree(d->dir);
	free(d);
}

int
harness_run(
    char *const argv[], const char *const *env, int timeout_ms, char **output)
{
	struct harness_daemon d;
	char **envp;
	int logfd, fd, rc;

	memset(&d, 0, sizeof d);
	if (output != NULL)
		*output = NULL;
	if (harness_tmpdir(d.dir) != 0)
		return -1;
	snprintf(d.log, sizeof d.log, "%s/output", d.dir);
	if ((envp = harness_envp(env)) == NULL)
		return -1;
	logfd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd == -1) {
		free(envp);
		harness_rmtree(d.dir);
		return -1;
	}
	d.pid = fork();
	if (d.pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1)
			dup2(fd, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execve(argv[0], argv, envp);
		dprintf(
		    STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	free(envp);
	if (d.pid == -1) {
		harness_rmtree(d.dir);
		return -1;
	}
	harness_pid_add(d.pid);
	rc = harness_daemon_wait(&d, timeout_ms);
	if (rc == -1) {
		harness_note("%s did not finish within %d ms; killing it",
		    argv[0], timeout_ms);
		kill(d.pid, SIGKILL);
		harness_daemon_wait(&d, 10000);
	}
	if (output != NULL)
		*output = harness_daemon_log(&d);
	harness_rmtree(d.dir);
	return rc;
}

int
harness_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

struct harness_conn *
harness_conn_open(const char *path)
{
	struct harness_conn *c;
	int fd;

	if ((fd = harness_connect(path)) == -1) {
		harness_note("connect %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->next_id = 1;
	return c;
}

void
harness_conn_close(struct harness_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->buf);
	free(c);
}

int
harness_send(struct harness_conn *c, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
harness_send_line(struct harness_conn *c, const char *line)
{
	if (harness_send(c, line, strlen(line)) != 0)
		return -1;
	return harness_send(c, "\n", 1);
}

char *
harness_recv_line(struct harness_conn *c, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct pollfd pfd;
	char *nl, *line, *p;
	ssize_t n;
	size_t len;
	int left;

	for (;;) {
		if (c->len > 0 && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
			len = (size_t)(nl - c->buf);
			if ((line = malloc(len + 1)) == NULL)
				return NULL;
			memcpy(line, c->buf, len);
			line[len] = '\0';
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			return line;
		}
		left = (int)(deadline - harness_now_ms());
		if (left < 0)
			return NULL;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		if (c->size - c->len < 65536) {
			size_t size = c->size == 0 ? 131072 : c->size * 2;

			if ((p = realloc(c->buf, size)) == NULL)
				return NULL;
			c->buf = p;
			c->size = size;
		}
		n = recv(c->fd, c->buf + c->len, c->size - c->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

json_t *
harness_recv(struct harness_conn *c, int timeout_ms)
{
	json_error_t err;
	json_t *msg;
	char *line;

	if ((line = harness_recv_line(c, timeout_ms)) == NULL)
		return NULL;
	msg = json_loads(line, JSON_DECODE_ANY, &err);
	if (msg == NULL)
		harness_note("not JSON (%s): %.200s", err.text, line);
	free(line);
	return msg;
}

int
harness_wait_eof(struct harness_conn *c, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct pollfd pfd;
	char buf[65536];
	ssize_t n;
	int left;

	c->len = 0;
	for (;;) {
		left = (int)(deadline - harness_now_ms());
		if (left < 0)
			return 0;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		n = recv(c->fd, buf, sizeof buf, 0);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
		if (n == -1 && errno != EINTR)
			return 0;
	}
}

json_t *
harness_call(
    struct harness_conn *c, const char *method, json_t *params, int timeout_ms)
{
	long long id = c->next_id++;
	long long deadline = harness_now_ms() + timeout_ms;
	json_t *req, *resp, *rid;
	char *line;
	int left;

	req = json_pack("{s:s, s:s, s:I}", "jsonrpc", "2.0", "method", method,
	    "id", (json_int_t)id);
	if (params != NULL)
		json_object_set_new(req, "params", params);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (line == NULL || harness_send_line(c, line) != 0) {
		harness_note("%s: cannot send", method);
		free(line);
		return NULL;
	}
	free(line);
	for (;;) {
		left = (int)(deadline - harness_now_ms());
		if (left < 0 || (resp = harness_recv(c, left)) == NULL) {
			harness_note(
			    "%s: no response within %d ms", method, timeout_ms);
			return NULL;
		}
		rid = json_object_get(resp, "id");
		if (json_is_integer(rid) && json_integer_value(rid) == id)
			return resp;
		json_decref(resp);
	}
}

json_t *
harness_result(json_t *response)
{
	return json_object_get(response, "result");
}

int
harness_error_code(json_t *response)
{
	json_t *code =
	    json_object_get(json_object_get(response, "error"), "code");

	return json_is_integer(code) ? (int)json_integer_value(code) : 0;
}
