/*
 * tool-file-read.c: the file_read built-in, reading text files below
 * the configured roots and nowhere else.
 *
 * The path argument is either absolute, and must then lie below one of
 * the roots (as configured or as realpath(3) spells it), or relative, and
 * is then looked up below each root in order; the first root that holds
 * it wins.  A path with a ".." component is refused outright.  The file
 * is opened relative to the root's descriptor with openat2(2) and
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so the kernel refuses any
 * symbolic link (or race) that would leave the root, while relative
 * symbolic links that stay inside work; an absolute link target counts as
 * leaving.  Where openat2 is missing (ENOSYS: kernels before 5.6, some
 * seccomp filters) a fallback walks the path component by component with
 * openat(O_PATH | O_NOFOLLOW) and applies the same rules itself.
 *
 * Only regular files are read (a FIFO, a device or a folder is refused),
 * at most file_max_bytes of them; a cut falls on a UTF-8 boundary.  A
 * file with a NUL byte or that is not UTF-8 is refused as not text.
 * Errors are short sentences naming the path as the caller wrote it.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* The longest path quoted in an error. */
#define FR_QUOTE_MAX 200
/* The fallback's limits: folders deep, and links followed (as Linux). */
#define FR_MAX_DEPTH  256
#define FR_MAX_LINKS  40
#define FR_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct fr_root {
	char *path; /* as configured, without trailing '/' */
	char *real; /* realpath() of it */
	int fd;     /* O_PATH | O_DIRECTORY */
};

struct fr_state {
	struct fr_root *roots;
	size_t n_roots;
	size_t max_bytes;
};

int plug_file_read_no_openat2;

static char *fr_strip(const char *path);
static void fr_free(void *arg);
static int fr_init(
    const struct plug_config *config, void **state, char **cause);
static int fr_has_dotdot(const char *path);
static const char *fr_below(const char *path, const char *prefix);
static int fr_open_beneath(const struct fr_root *root, const char *rel);
static int fr_open_fallback(const struct fr_root *root, const char *rel);
static int fr_open(const struct fr_root *root, const char *rel);
static void fr_open_error(struct plug_result *res, const char *path, int err);
static void fr_read(
    int fd, const char *path, size_t max, struct plug_result *res);
static void fr_call(void *state, const json_t *args,
    const struct plug_call *call, struct plug_result *res);

/* Drops trailing slashes but keeps "/". */
static char *
fr_strip(const char *path)
{
	char *s = xstrdup(path);
	size_t len = strlen(s);

	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
	return s;
}

static void
fr_free(void *arg)
{
	struct fr_state *st = arg;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_roots; i++) {
		free(st->roots[i].path);
		free(st->roots[i].real);
		if (st->roots[i].fd != -1)
			close(st->roots[i].fd);
	}
	free(st->roots);
	free(st);
}

static int
fr_init(const struct plug_config *config, void **state, char **cause)
{
	struct fr_state *st;
	struct fr_root *r;
	char *real;

	if (config->n_file_roots == 0)
		return 1;
	st = xcalloc(1, sizeof *st);
	st->roots = xcalloc(config->n_file_roots, sizeof *st->roots);
	st->max_bytes = config->file_max_bytes != 0
	    ? config->file_max_bytes
	    : PLUG_DEFAULT_FILE_MAX_BYTES;
	for (size_t i = 0; i < config->n_file_roots; i++) {
		r = &st->roots[st->n_roots];
		real = realpath(config->file_roots[i], NULL);
		if (real == NULL) {
			xasprintf(cause, "root %s: %s", config->file_roots[i],
			    strerror(errno));
			fr_free(st);
			return -1;
		}
		r->fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (r->fd == -1) {
			xasprintf(cause, "root %s: %s", config->file_roots[i],
			    strerror(errno));
			free(real);
			fr_free(st);
			return -1;
		}
		r->path = fr_strip(config->file_roots[i]);
		r->real = real;
		st->n_roots++;
	}
	*state = st;
	return 0;
}

/* Returns 1 if path has a ".." component. */
static int
fr_has_dotdot(const char *path)
{
	const char *p = path, *end;
	size_t len;

	while (*p != '\0') {
		end = strchr(p, '/');
		len = (end != NULL) ? (size_t)(end - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/*
 * If the absolute path lies below prefix, returns the rest (without its
 * leading slashes; "" for the root itself), else NULL.
 */
static const char *
fr_below(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	if (strcmp(prefix, "/") == 0)
		len = 0;
	else if (strncmp(path, prefix, len) != 0 ||
	    (path[len] != '\0' && path[len] != '/'))
		return NULL;
	path += len;
	while (*path == '/')
		path++;
	return path;
}

/* Opens rel below root with openat2(); -1 with errno as the kernel sets. */
static int
fr_open_beneath(const struct fr_root *root, const char *rel)
{
#ifdef SYS_openat2
	struct open_how how;

	if (plug_file_read_no_openat2) {
		errno = ENOSYS;
		return -1;
	}
	memset(&how, 0, sizeof how);
	how.flags = FR_OPEN_FLAGS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(
	    SYS_openat2, root->fd, *rel != '\0' ? rel : ".", &how, sizeof how);
#else
	(void)root;
	(void)rel;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * The fallback, RESOLVE_BENEATH done by hand: walk the path one component
 * at a time with openat(O_PATH | O_NOFOLLOW) from the root's descriptor,
 * keeping a stack of the folders passed.  A symbolic link is read and its
 * target spliced in front of the rest of the path; an absolute target,
 * or a ".." that would pop the root, fails with EXDEV, as openat2 does.
 * Every step works on descriptors, so renaming or swapping links meanwhile
 * cannot lead outside.  Sets errno and returns -1 on failure.
 */
static int
fr_open_fallback(const struct fr_root *root, const char *rel)
{
	int stack[FR_MAX_DEPTH], depth = 0, links = 0, fd = -1, top, saved;
	int slash;
	char *todo, *comp, *rest, target[PATH_MAX], *spliced;
	struct stat st;
	ssize_t n;

	todo = xstrdup(rel);
	rest = todo;
	for (;;) {
		top = (depth == 0) ? root->fd : stack[depth - 1];
		while (*rest == '/')
			rest++;
		if (*rest == '\0') {
			/* The path names a folder (or the root). */
			fd = openat(top, ".", FR_OPEN_FLAGS);
			break;
		}
		comp = rest;
		rest = strchr(comp, '/');
		slash = (rest != NULL);
		if (slash)
			*rest++ = '\0';
		else
			rest = comp + strlen(comp);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			if (depth == 0) {
				errno = EXDEV;
				break;
			}
			close(stack[--depth]);
			continue;
		}
		fd = openat(top, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			break;
		if (fstat(fd, &st) != 0) {
			saved = errno;
			close(fd);
			fd = -1;
			errno = saved;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(fd, "", target, sizeof target - 1);
			close(fd);
			fd = -1;
			if (n < 0)
				break;
			target[n] = '\0';
			if (++links > FR_MAX_LINKS) {
				errno = ELOOP;
				break;
			}
			if (target[0] == '/') {
				errno = EXDEV;
				break;
			}
			/* "link/" keeps its slash: the target must be a
			 * folder then, as for the kernel. */
			if (slash)
				xasprintf(&spliced, "%s/%s", target, rest);
			else
				spliced = xstrdup(target);
			free(todo);
			todo = spliced;
			rest = todo;
			continue;
		}
		if (*rest == '\0' && !slash && !S_ISDIR(st.st_mode)) {
			/* The last component: open it for reading. */
			close(fd);
			fd = openat(top, comp, FR_OPEN_FLAGS | O_NOFOLLOW);
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			fd = -1;
			errno = ENOTDIR;
			break;
		}
		if (depth == FR_MAX_DEPTH) {
			close(fd);
			fd = -1;
			errno = ENAMETOOLONG;
			break;
		}
		stack[depth++] = fd;
		fd = -1;
	}
	saved = errno;
	while (depth > 0)
		close(stack[--depth]);
	free(todo);
	errno = saved;
	return fd;
}

static int
fr_open(const struct fr_root *root, const char *rel)
{
	int fd;

	fd = fr_open_beneath(root, rel);
	if (fd == -1 && errno == ENOSYS)
		fd = fr_open_fallback(root, rel);
	return fd;
}

/* Sets res to the error for errno while opening path. */
static void
fr_open_error(struct plug_result *res, const char *path, int err)
{
	int len = FR_QUOTE_MAX;

	switch (err) {
	case ENOENT:
	case ENOTDIR:
		plug_result_error(res, "'%.*s' does not exist.", len, path);
		break;
	case EXDEV:
		plug_result_error(
		    res, "'%.*s' is outside the allowed folders.", len, path);
		break;
	case EACCES:
	case EPERM:
		plug_result_error(
		    res, "Permission denied reading '%.*s'.", len, path);
		break;
	case ELOOP:
		plug_result_error(res,
		    "'%.*s' has too many levels of symbolic links.", len, path);
		break;
	case ENAMETOOLONG:
		plug_result_error(res, "The path is too long.");
		break;
	default:
		plug_result_error(
		    res, "Cannot open '%.*s': %s.", len, path, strerror(err));
		break;
	}
}

/* Reads at most max bytes of a regular file into res. */
static void
fr_read(int fd, const char *path, size_t max, struct plug_result *res)
{
	struct stat st;
	size_t got = 0, cap, good;
	char *data;
	ssize_t n;
	int len = FR_QUOTE_MAX;

	if (fstat(fd, &st) != 0) {
		plug_result_error(
		    res, "Cannot read '%.*s': %s.", len, path, strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		plug_result_error(
		    res, "'%.*s' is a folder, not a file.", len, path);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		plug_result_error(
		    res, "'%.*s' is not a regular file.", len, path);
		return;
	}
	cap = max;
	if ((uintmax_t)st.st_size < cap)
		cap = (size_t)st.st_size;
	data = xmalloc(cap + 1);
	while (got < cap) {
		n = read(fd, data + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			plug_result_error(res, "Cannot read '%.*s': %s.", len,
			    path, strerror(errno));
			free(data);
			return;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	if (memchr(data, '\0', got) != NULL) {
		plug_result_error(res, "'%.*s' is not a text file.", len, path);
		free(data);
		return;
	}
	good = utf8_check(data, got);
	/* A cut may split the last character: drop its first bytes. */
	if (good < got && (uintmax_t)st.st_size > max && got - good < 4) {
		unsigned char c = (unsigned char)data[good];
		size_t need, i;

		need = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc2) ? 2 : 0;
		for (i = good + 1; i < got; i++) {
			if (((unsigned char)data[i] & 0xc0) != 0x80)
				break;
		}
		if (need > got - good && i == got) {
			got = good;
			data[got] = '\0';
		}
	}
	if (good < got) {
		plug_result_error(res, "'%.*s' is not UTF-8 text.", len, path);
		free(data);
		return;
	}
	res->text = data;
	res->len = got;
	res->is_error = 0;
}

static void
fr_call(void *state, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	const struct fr_state *st = state;
	const json_t *pv = json_object_get(args, "path");
	const char *path = json_string_value(pv), *rel = NULL;
	const struct fr_root *root = NULL;
	int fd = -1, err = ENOENT;

	(void)call;
	if (json_string_length(pv) == 0) {
		plug_result_error(res, "The path is empty.");
		return;
	}
	if (memchr(path, '\0', json_string_length(pv)) != NULL) {
		plug_result_error(res, "The path contains a NUL character.");
		return;
	}
	if (fr_has_dotdot(path)) {
		plug_result_error(res,
		    "'%.*s' contains '..', which is not allowed.", FR_QUOTE_MAX,
		    path);
		return;
	}

	if (path[0] == '/') {
		for (size_t i = 0; i < st->n_roots && root == NULL; i++) {
			rel = fr_below(path, st->roots[i].path);
			if (rel == NULL)
				rel = fr_below(path, st->roots[i].real);
			if (rel != NULL)
				root = &st->roots[i];
		}
		if (root == NULL) {
			fr_open_error(res, path, EXDEV);
			return;
		}
		fd = fr_open(root, rel);
		err = errno;
	} else {
		/* The first root that has it; other errors stop the search. */
		for (size_t i = 0; i < st->n_roots; i++) {
			fd = fr_open(&st->roots[i], path);
			if (fd != -1)
				break;
			err = errno;
			if (err != ENOENT && err != ENOTDIR)
				break;
		}
	}
	if (fd == -1) {
		fr_open_error(res, path, err);
		return;
	}
	fr_read(fd, path, st->max_bytes, res);
	close(fd);
}

const struct plug_builtin plug_builtin_file_read = {
	.name = "file_read",
	.description = "Reads a text file from the allowed folders.",
	.schema = "{\"type\":\"object\",\"properties\":{\"path\":"
	          "{\"type\":\"string\"}},\"required\":[\"path\"],"
	          "\"additionalProperties\":false}",
	.init = fr_init,
	.call = fr_call,
	.free = fr_free,
};
