/*
 * config.c: agentd.conf(5), one "directive value" per line.
 *
 * The parser is driven by the dmn_directives table: each entry names a
 * field of struct dmn_config, how its value is read and what range it
 * accepts.  Blank lines are skipped; '#' starts a comment at the start of
 * a line or after a blank.  An unknown directive, a bad value, a repeated
 * directive that is not a list, a NUL byte or invalid UTF-8 is an error
 * "FILE:LINE: ..." naming the directive.  Relative paths resolve against
 * the folder of the file.
 *
 * A directive is one entry in the table below plus one field in struct
 * dmn_config; its default goes in dmn_config_new().  Data paths (model,
 * knowledge base, plugins, Lua agents) default into the data directory
 * fixed at build time, with dmn_datadir_path("models/..."), so that a
 * checkout and an installed daemon both find their bundled files with no
 * config.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon-int.h"
#include "daemon/paths.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

#define FIELD(c, d)  ((void *)((char *)(c) + (d)->offset))
#define CFIELD(c, d) ((const void *)((const char *)(c) + (d)->offset))

/* One directive; a list (LIST) may repeat and keeps its count. */
#define DIRECTIVE(n, t, lo, hi, fl)                                    \
	{                                                              \
		.name = #n, .type = (t),                               \
		.offset = offsetof(struct dmn_config, n), .min = (lo), \
		.max = (hi), .flags = (fl)                             \
	}
#define LIST(n, t, cnt)                                           \
	{                                                         \
		.name = #n, .type = (t),                          \
		.offset = offsetof(struct dmn_config, n),         \
		.count_offset = offsetof(struct dmn_config, cnt), \
		.flags = DMN_DIRECTIVE_REPEAT                     \
	}

/* Every directive; keep them sorted by name. */
const struct dmn_directive dmn_directives[] = {
	DIRECTIVE(agents_dir, DMN_CONF_PATH, 0, 0, 0),
	LIST(allow_gid, DMN_CONF_GID, n_allow_gid),
	LIST(allow_uid, DMN_CONF_UID, n_allow_uid),
	DIRECTIVE(debug_methods, DMN_CONF_BOOL, 0, 1, 0),
	DIRECTIVE(file_read_root, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(http_get, DMN_CONF_BOOL, 0, 1, 0),
	DIRECTIVE(idle_timeout_ms, DMN_CONF_MS, 0, 86400000, 0),
	DIRECTIVE(kb_dir, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(log_level, DMN_CONF_LEVEL, 0, 0, 0),
	DIRECTIVE(lua_tools_dir, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(max_batch, DMN_CONF_COUNT, 1, 100000, 0),
	DIRECTIVE(max_connections, DMN_CONF_COUNT, 1, 65536, 0),
	DIRECTIVE(max_depth, DMN_CONF_COUNT, 2, 2048, 0),
	DIRECTIVE(max_message_bytes, DMN_CONF_SIZE, 256, 1024 * 1024 * 1024, 0),
	DIRECTIVE(max_output_bytes, DMN_CONF_SIZE, 4096, 1024 * 1024 * 1024, 0),
	DIRECTIVE(max_runs, DMN_CONF_COUNT, 1, 4096, 0),
	DIRECTIVE(model, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(plugin_allowlist, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(plugin_dir, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(scripted_model, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(shutdown_timeout_ms, DMN_CONF_MS, 0, 3600000, 0),
	DIRECTIVE(socket, DMN_CONF_PATH, 0, 0, DMN_DIRECTIVE_RESTART),
	DIRECTIVE(socket_mode, DMN_CONF_MODE, 0, 0777, DMN_DIRECTIVE_RESTART),
	DIRECTIVE(tool_timeout_ms, DMN_CONF_MS, 1, 3600000, 0),
	DIRECTIVE(trace_dir, DMN_CONF_PATH, 0, 0, 0),
	DIRECTIVE(trace_fsync, DMN_CONF_FSYNC, 0, 2, 0),
	DIRECTIVE(trace_max_age, DMN_CONF_COUNT, 0, 100ULL * 365 * 86400, 0),
	DIRECTIVE(trace_max_bytes, DMN_CONF_SIZE, 0, 1ULL << 50, 0),
	DIRECTIVE(workers, DMN_CONF_COUNT, 0, 1024, DMN_DIRECTIVE_RESTART),
};
const size_t dmn_ndirectives = sizeof dmn_directives / sizeof dmn_directives[0];

static int parse_line(struct dmn_config *, const char *, size_t, char *, size_t,
    size_t *, char **);
static int set_value(
    struct dmn_config *, const struct dmn_directive *, const char *, char **);
static int parse_number(const char *, int, uint64_t *);
static int parse_id(const char *, int, uint32_t *, char **);
static char *resolve_path(const struct dmn_config *, const char *);

char *
dmn_datadir_path(const char *rel)
{
	char *p;

	xasprintf(&p, "%s/%s", dmn_datadir, rel);
	return p;
}

struct dmn_config *
dmn_config_new(void)
{
	struct dmn_config *c;

	c = xcalloc(1, sizeof *c);
	c->socket_mode = 0660;
	c->log_level = LOG_LEVEL_INFO;
	c->max_message_bytes = DMN_DEFAULT_MAX_MESSAGE;
	c->max_depth = DMN_DEFAULT_MAX_DEPTH;
	c->max_batch = DMN_DEFAULT_MAX_BATCH;
	c->max_connections = DMN_DEFAULT_MAX_CONNECTIONS;
	c->idle_timeout_ms = DMN_DEFAULT_IDLE_TIMEOUT_MS;
	c->max_output_bytes = DMN_DEFAULT_MAX_OUTPUT;
	c->shutdown_timeout_ms = DMN_DEFAULT_SHUTDOWN_TIMEOUT_MS;
	c->workers = 0;
	c->agents_dir = dmn_datadir_path("lua/agents");
	c->kb_dir = dmn_datadir_path("models/kb");
	c->lua_tools_dir = dmn_datadir_path("lua/tools");
	c->max_runs = 64;
	c->plugin_dir = xstrdup(dmn_plugindir);
	c->tool_timeout_ms = 30000;
	c->trace_fsync = 2; /* everysec */
	return c;
}

void
dmn_config_free(struct dmn_config *c)
{
	if (c == NULL)
		return;
	free(c->file);
	free(c->dir);
	free(c->socket);
	free(c->allow_uid);
	free(c->allow_gid);
	free(c->agents_dir);
	free(c->file_read_root);
	free(c->kb_dir);
	free(c->lua_tools_dir);
	free(c->model);
	free(c->plugin_allowlist);
	free(c->plugin_dir);
	free(c->scripted_model);
	free(c->trace_dir);
	free(c);
}

const struct dmn_directive *
dmn_directive_find(const char *name)
{
	for (size_t i = 0; i < dmn_ndirectives; i++) {
		if (strcmp(dmn_directives[i].name, name) == 0)
			return &dmn_directives[i];
	}
	return NULL;
}

struct dmn_config *
dmn_config_load(const char *path, char **cause)
{
	struct dmn_config *c = NULL;
	struct stat st;
	char *text = NULL, *copy, *dir;
	char real[PATH_MAX];
	size_t have = 0;
	ssize_t n;
	int fd = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > DMN_CONFIG_MAX_FILE) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    DMN_CONFIG_MAX_FILE);
		goto fail;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (have < (size_t)st.st_size) {
		n = read(fd, text + have, (size_t)st.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	fd = -1;

	c = dmn_config_new();
	/* Relative paths resolve against the file's folder, made absolute. */
	copy = xstrdup(path);
	dir = strrchr(copy, '/');
	if (dir == NULL)
		strcpy(copy, ".");
	else if (dir == copy)
		dir[1] = '\0';
	else
		*dir = '\0';
	if (realpath(copy, real) == NULL) {
		xasprintf(cause, "%s: %s: %s", path, copy, strerror(errno));
		free(copy);
		goto fail;
	}
	free(copy);
	c->dir = xstrdup(real);
	if (dmn_config_parse(c, path, text, have, cause) != 0)
		goto fail;
	free(text);
	return c;

fail:
	if (fd != -1)
		close(fd);
	free(text);
	dmn_config_free(c);
	return NULL;
}

int
dmn_config_parse(struct dmn_config *c, const char *file, const char *text,
    size_t len, char **cause)
{
	size_t *seen, off = 0, lineno = 0, end;
	char *line;
	int rc = -1;

	free(c->file);
	c->file = xstrdup(file);
	if (c->dir == NULL) {
		const char *slash = strrchr(file, '/');

		if (slash == NULL)
			c->dir = xstrdup(".");
		else if (slash == file)
			c->dir = xstrdup("/");
		else
			c->dir = xstrndup(file, (size_t)(slash - file));
	}

	seen = xcalloc(dmn_ndirectives, sizeof *seen);
	line = xmalloc(DMN_CONFIG_MAX_LINE + 1);
	while (off < len) {
		const char *nl;

		lineno++;
		nl = memchr(text + off, '\n', len - off);
		end = nl == NULL ? len : (size_t)(nl - text);
		if (end - off > DMN_CONFIG_MAX_LINE) {
			xasprintf(cause, "%s:%zu: line longer than %d bytes",
			    file, lineno, DMN_CONFIG_MAX_LINE);
			goto out;
		}
		if (memchr(text + off, '\0', end - off) != NULL) {
			xasprintf(
			    cause, "%s:%zu: NUL byte in line", file, lineno);
			goto out;
		}
		if (utf8_valid(text + off, end - off) == 0) {
			xasprintf(cause, "%s:%zu: line is not valid UTF-8",
			    file, lineno);
			goto out;
		}
		memcpy(line, text + off, end - off);
		line[end - off] = '\0';
		if (parse_line(c, file, lineno, line, end - off, seen, cause) !=
		    0)
			goto out;
		off = end + 1;
	}
	rc = 0;
out:
	free(line);
	free(seen);
	return rc;
}

/* Parses one line (NUL-terminated, modified in place). */
static int
parse_line(struct dmn_config *c, const char *file, size_t lineno, char *line,
    size_t len, size_t *seen, char **cause)
{
	const struct dmn_directive *d;
	char *name, *value, *p, *why = NULL;
	size_t idx;

	/* Strip a '\r' before the '\n', then the comment, then blanks. */
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (p = line; *p != '\0'; p++) {
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	len = strlen(line);
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	name = line + strspn(line, " \t");
	if (*name == '\0')
		return 0;

	value = name + strcspn(name, " \t");
	if (*value != '\0') {
		*value++ = '\0';
		value += strspn(value, " \t");
	}
	for (p = name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			xasprintf(cause, "%s:%zu: control character in '%s'",
			    file, lineno, name);
			return -1;
		}
	}
	if ((d = dmn_directive_find(name)) == NULL) {
		xasprintf(cause, "%s:%zu: unknown directive '%s'", file, lineno,
		    name);
		return -1;
	}
	if (*value == '\0') {
		xasprintf(
		    cause, "%s:%zu: %s: missing value", file, lineno, name);
		return -1;
	}
	for (p = value; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			xasprintf(cause,
			    "%s:%zu: %s: control character in value", file,
			    lineno, name);
			return -1;
		}
	}
	idx = (size_t)(d - dmn_directives);
	if (seen[idx] != 0 && (d->flags & DMN_DIRECTIVE_REPEAT) == 0) {
		xasprintf(cause, "%s:%zu: %s: given twice (first on line %zu)",
		    file, lineno, name, seen[idx]);
		return -1;
	}
	if (seen[idx] == 0 && (d->flags & DMN_DIRECTIVE_REPEAT) != 0) {
		/* The file's list replaces any earlier one. */
		void **list = FIELD(c, d);

		free(*list);
		*list = NULL;
		*(size_t *)((char *)c + d->count_offset) = 0;
	}
	seen[idx] = lineno;
	if (set_value(c, d, value, &why) != 0) {
		xasprintf(cause, "%s:%zu: %s: %s", file, lineno, name, why);
		free(why);
		return -1;
	}
	return 0;
}

/* Stores one value into its field; -1 with *why (no file or line). */
static int
set_value(struct dmn_config *c, const struct dmn_directive *d,
    const char *value, char **why)
{
	uint64_t n;
	uint32_t id;
	int level;

	switch (d->type) {
	case DMN_CONF_PATH: {
		char **field = FIELD(c, d);

		if (strlen(value) >= PATH_MAX) {
			xasprintf(
			    why, "path longer than %d bytes", PATH_MAX - 1);
			return -1;
		}
		free(*field);
		*field = resolve_path(c, value);
		return 0;
	}
	case DMN_CONF_SIZE:
	case DMN_CONF_COUNT:
	case DMN_CONF_MS:
	case DMN_CONF_MODE:
		if (parse_number(value, (int)d->type, &n) != 0) {
			if (d->type == DMN_CONF_SIZE)
				xasprintf(why,
				    "'%s' is not a size (bytes, with an "
				    "optional k, m or g)",
				    value);
			else if (d->type == DMN_CONF_MODE)
				xasprintf(
				    why, "'%s' is not an octal mode", value);
			else
				xasprintf(why,
				    "'%s' is not a non-negative integer",
				    value);
			return -1;
		}
		if (n < d->min || n > d->max) {
			if (d->type == DMN_CONF_MODE)
				xasprintf(why,
				    "'%s' is out of range (%04llo to %04llo)",
				    value, (unsigned long long)d->min,
				    (unsigned long long)d->max);
			else
				xasprintf(why,
				    "'%s' is out of range (%llu to %llu)",
				    value, (unsigned long long)d->min,
				    (unsigned long long)d->max);
			return -1;
		}
		if (d->type == DMN_CONF_MS)
			*(uint64_t *)FIELD(c, d) = n;
		else if (d->type == DMN_CONF_MODE)
			*(unsigned int *)FIELD(c, d) = (unsigned int)n;
		else
			*(size_t *)FIELD(c, d) = (size_t)n;
		return 0;
	case DMN_CONF_LEVEL:
		if ((level = log_level_parse(value)) == -1) {
			xasprintf(why,
			    "'%s' is not a log level (err, warn, notice, "
			    "info, debug)",
			    value);
			return -1;
		}
		*(int *)FIELD(c, d) = level;
		return 0;
	case DMN_CONF_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
		    strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			*(int *)FIELD(c, d) = 1;
		else if (strcmp(value, "no") == 0 ||
		    strcmp(value, "off") == 0 || strcmp(value, "false") == 0 ||
		    strcmp(value, "0") == 0)
			*(int *)FIELD(c, d) = 0;
		else {
			xasprintf(why, "'%s' is not yes or no", value);
			return -1;
		}
		return 0;
	case DMN_CONF_FSYNC:
		/* The values of enum agent_trace_fsync. */
		if (strcmp(value, "never") == 0)
			*(int *)FIELD(c, d) = 0;
		else if (strcmp(value, "always") == 0)
			*(int *)FIELD(c, d) = 1;
		else if (strcmp(value, "everysec") == 0)
			*(int *)FIELD(c, d) = 2;
		else {
			xasprintf(why, "'%s' is not never, always or everysec",
			    value);
			return -1;
		}
		return 0;
	case DMN_CONF_UID:
	case DMN_CONF_GID: {
		uint32_t **list = FIELD(c, d);
		size_t *count = (size_t *)((char *)c + d->count_offset);

		if (parse_id(value, d->type == DMN_CONF_GID, &id, why) != 0)
			return -1;
		if (*count >= 1024) {
			xasprintf(why, "more than 1024 entries");
			return -1;
		}
		*list = xreallocarray(*list, *count + 1, sizeof **list);
		(*list)[(*count)++] = id;
		return 0;
	}
	}
	xasprintf(why, "directive has no type");
	return -1;
}

/*
 * Reads a number: decimal digits only (octal for a mode), with a k, m or
 * g suffix for sizes.  Returns 0, or -1 on anything else or on overflow.
 */
static int
parse_number(const char *s, int type, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;
	int base = type == DMN_CONF_MODE ? 8 : 10;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno != 0)
		return -1;
	if (type == DMN_CONF_SIZE && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1024;
			break;
		case 'm':
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			return -1;
		}
		end++;
	}
	if (*end != '\0')
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

/* Reads a user or group: a number, or a name looked up in the system. */
static int
parse_id(const char *s, int group, uint32_t *out, char **why)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[16384];
	uint64_t n;
	int rc;

	if (*s >= '0' && *s <= '9') {
		if (parse_number(s, DMN_CONF_COUNT, &n) != 0 ||
		    n >= UINT32_MAX) {
			xasprintf(why, "'%s' is not a valid %s id", s,
			    group ? "group" : "user");
			return -1;
		}
		*out = (uint32_t)n;
		return 0;
	}
	if (group) {
		rc = getgrnam_r(s, &gr, buf, sizeof buf, &grp);
		if (rc == 0 && grp != NULL) {
			*out = grp->gr_gid;
			return 0;
		}
	} else {
		rc = getpwnam_r(s, &pw, buf, sizeof buf, &pwp);
		if (rc == 0 && pwp != NULL) {
			*out = pwp->pw_uid;
			return 0;
		}
	}
	if (rc != 0)
		xasprintf(why, "cannot look up %s '%s': %s",
		    group ? "group" : "user", s, strerror(rc));
	else
		xasprintf(why, "unknown %s '%s'", group ? "group" : "user", s);
	return -1;
}

/* Returns an absolute path for value (caller frees). */
static char *
resolve_path(const struct dmn_config *c, const char *value)
{
	char *p;

	if (value[0] == '/' || c->dir == NULL)
		return xstrdup(value);
	if (strcmp(c->dir, "/") == 0)
		xasprintf(&p, "/%s", value);
	else
		xasprintf(&p, "%s/%s", c->dir, value);
	return p;
}

int
dmn_config_equal(const struct dmn_directive *d, const struct dmn_config *a,
    const struct dmn_config *b)
{
	switch (d->type) {
	case DMN_CONF_PATH: {
		const char *const *x = CFIELD(a, d), *const *y = CFIELD(b, d);

		if (*x == NULL || *y == NULL)
			return *x == *y;
		return strcmp(*x, *y) == 0;
	}
	case DMN_CONF_SIZE:
	case DMN_CONF_COUNT:
		return *(const size_t *)CFIELD(a, d) ==
		    *(const size_t *)CFIELD(b, d);
	case DMN_CONF_MS:
		return *(const uint64_t *)CFIELD(a, d) ==
		    *(const uint64_t *)CFIELD(b, d);
	case DMN_CONF_MODE:
		return *(const unsigned int *)CFIELD(a, d) ==
		    *(const unsigned int *)CFIELD(b, d);
	case DMN_CONF_LEVEL:
	case DMN_CONF_BOOL:
	case DMN_CONF_FSYNC:
		return *(const int *)CFIELD(a, d) == *(const int *)CFIELD(b, d);
	case DMN_CONF_UID:
	case DMN_CONF_GID: {
		const uint32_t *const *x = CFIELD(a, d),
		                      *const *y = CFIELD(b, d);
		size_t nx =
		    *(const size_t *)((const char *)a + d->count_offset);
		size_t ny =
		    *(const size_t *)((const char *)b + d->count_offset);

		if (nx != ny)
			return 0;
		return nx == 0 || memcmp(*x, *y, nx * sizeof **x) == 0;
	}
	}
	return 0;
}

void
dmn_config_copy_value(const struct dmn_directive *d, struct dmn_config *dst,
    const struct dmn_config *src)
{
	switch (d->type) {
	case DMN_CONF_PATH: {
		char **to = FIELD(dst, d);
		const char *const *from = CFIELD(src, d);

		free(*to);
		*to = *from != NULL ? xstrdup(*from) : NULL;
		return;
	}
	case DMN_CONF_SIZE:
	case DMN_CONF_COUNT:
		*(size_t *)FIELD(dst, d) = *(const size_t *)CFIELD(src, d);
		return;
	case DMN_CONF_MS:
		*(uint64_t *)FIELD(dst, d) = *(const uint64_t *)CFIELD(src, d);
		return;
	case DMN_CONF_MODE:
		*(unsigned int *)FIELD(dst, d) =
		    *(const unsigned int *)CFIELD(src, d);
		return;
	case DMN_CONF_LEVEL:
	case DMN_CONF_BOOL:
	case DMN_CONF_FSYNC:
		*(int *)FIELD(dst, d) = *(const int *)CFIELD(src, d);
		return;
	case DMN_CONF_UID:
	case DMN_CONF_GID: {
		uint32_t **to = FIELD(dst, d);
		const uint32_t *const *from = CFIELD(src, d);
		size_t n =
		    *(const size_t *)((const char *)src + d->count_offset);

		free(*to);
		*to = NULL;
		if (n > 0) {
			*to = xreallocarray(NULL, n, sizeof **to);
			memcpy(*to, *from, n * sizeof **to);
		}
		*(size_t *)((char *)dst + d->count_offset) = n;
		return;
	}
	}
}

char *
dmn_config_value(const struct dmn_directive *d, const struct dmn_config *c)
{
	struct buf b;
	char *s;

	switch (d->type) {
	case DMN_CONF_PATH: {
		const char *const *p = CFIELD(c, d);

		return xstrdup(*p == NULL ? "(default)" : *p);
	}
	case DMN_CONF_SIZE:
	case DMN_CONF_COUNT:
		xasprintf(&s, "%zu", *(const size_t *)CFIELD(c, d));
		return s;
	case DMN_CONF_MS:
		xasprintf(&s, "%llu",
		    (unsigned long long)*(const uint64_t *)CFIELD(c, d));
		return s;
	case DMN_CONF_MODE:
		xasprintf(&s, "%04o", *(const unsigned int *)CFIELD(c, d));
		return s;
	case DMN_CONF_LEVEL:
		return xstrdup(log_level_name(*(const int *)CFIELD(c, d)));
	case DMN_CONF_BOOL:
		return xstrdup(*(const int *)CFIELD(c, d) ? "yes" : "no");
	case DMN_CONF_FSYNC: {
		static const char *const names[] = { "never", "always",
			"everysec" };
		int v = *(const int *)CFIELD(c, d);

		return xstrdup(v >= 0 && v <= 2 ? names[v] : "?");
	}
	case DMN_CONF_UID:
	case DMN_CONF_GID: {
		const uint32_t *const *list = CFIELD(c, d);
		size_t n = *(const size_t *)((const char *)c + d->count_offset);

		buf_init(&b, SIZE_MAX);
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "%s%u", i == 0 ? "" : " ", (*list)[i]);
		return buf_steal(&b);
	}
	}
	return xstrdup("?");
}

int
dmn_config_allows(const struct dmn_config *c, uid_t uid, gid_t gid, uid_t self)
{
	if (c->n_allow_uid == 0 && c->n_allow_gid == 0)
		return 1;
	if (uid == 0 || uid == self)
		return 1;
	for (size_t i = 0; i < c->n_allow_uid; i++) {
		if (c->allow_uid[i] == uid)
			return 1;
	}
	for (size_t i = 0; i < c->n_allow_gid; i++) {
		if (c->allow_gid[i] == gid)
			return 1;
	}
	return 0;
}
