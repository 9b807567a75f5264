/*
 * trace.c: the span recorder and the JSONL trace store (trace.h).
 *
 * Each span is a small object that collects its attributes and, when it
 * ends, becomes one JSON line appended to <dir>/<trace_id>.jsonl with a
 * single write(2) on an O_APPEND descriptor: concurrent runs never
 * interleave within a line, and a crash can leave at most one torn line,
 * which the reader skips.  Descriptors are opened per line and closed at
 * once; a run writes a few dozen lines, and nothing stays open between
 * runs.
 *
 * A crash may leave the last line of a file torn (no '\n').  The next
 * line appended to that file starts with a '\n' of its own, so the torn
 * text stays one malformed line that readers skip, and no later span is
 * glued to it and lost.  Listing, retention and OTLP export live in
 * trace-store.c and trace-otlp.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "agent/agent-int.h"
#include "agent/trace.h"
#include "daemon/util.h"

struct agent_tracer {
	char *dir;
	enum agent_trace_fsync fsync;
	pthread_mutex_t lock; /* guards the fields below */
	uint64_t last_sync_ns;
	uint64_t max_bytes;
	uint64_t max_age_s;
	uint64_t last_prune_ns;
};

/* How often retention runs, at most. */
#define TRACE_PRUNE_NS (60ULL * 1000000000ULL)
#define TRACE_SYNC_NS  1000000000ULL

struct agent_span {
	struct agent_tracer *tracer;
	char trace_id[AGENT_TRACE_ID_HEX + 1];
	char span_id[AGENT_SPAN_ID_HEX + 1];
	char parent_id[AGENT_SPAN_ID_HEX + 1]; /* "" for none */
	char *name;
	enum agent_span_kind kind;
	uint64_t start_ns;
	json_t *attributes;
	char *error; /* NULL: status ok */
};

static const char *const span_kinds[] = {
	"run",
	"strategy",
	"step",
	"llm",
	"tool",
	"parse",
	"vote",
	"judge",
};

static int hex_valid(const char *, size_t);
static struct agent_span *span_new(
    struct agent_tracer *, const char *, enum agent_span_kind);
static void span_write(struct agent_span *);
static int file_torn(int);
static void tracer_after_write(struct agent_tracer *, int, int);
static void tracer_prune(struct agent_tracer *, int);
static int span_cmp(const void *, const void *);
static void tree_sort(json_t *);
static json_t *tree_parent(json_t *, json_t *);

const char *
agent_span_kind_name(enum agent_span_kind kind)
{
	if ((size_t)kind >= sizeof span_kinds / sizeof span_kinds[0])
		return "unknown";
	return span_kinds[kind];
}

static const char *const fsync_names[] = {
	"never",
	"always",
	"everysec",
};

const char *
agent_trace_fsync_name(enum agent_trace_fsync policy)
{
	if ((size_t)policy >= sizeof fsync_names / sizeof fsync_names[0])
		return "unknown";
	return fsync_names[policy];
}

int
agent_trace_fsync_parse(const char *name, enum agent_trace_fsync *policy)
{
	for (size_t i = 0; i < sizeof fsync_names / sizeof fsync_names[0];
	     i++) {
		if (strcmp(fsync_names[i], name) == 0) {
			*policy = (enum agent_trace_fsync)i;
			return 0;
		}
	}
	return -1;
}

int
agent_span_kind_parse(const char *name, enum agent_span_kind *kind)
{
	for (size_t i = 0; i < sizeof span_kinds / sizeof span_kinds[0]; i++) {
		if (strcmp(span_kinds[i], name) == 0) {
			*kind = (enum agent_span_kind)i;
			return 0;
		}
	}
	return -1;
}

void
agent_random_hex(char *out, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[32];
	int zero;

	AGENTD_ASSERT(n <= sizeof raw);
	do {
		if (RAND_bytes(raw, (int)n) != 1)
			fatalx("RAND_bytes failed: no random ids");
		zero = 1;
		for (size_t i = 0; i < n; i++) {
			if (raw[i] != 0)
				zero = 0;
		}
	} while (zero);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Returns 1 if s is len lower-case hex digits, not all zeros. */
static int
hex_valid(const char *s, size_t len)
{
	int nonzero = 0;

	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		if (s[i] != '0')
			nonzero = 1;
	}
	return nonzero;
}

int
agent_trace_id_valid(const char *s)
{
	return strlen(s) == AGENT_TRACE_ID_HEX &&
	    hex_valid(s, AGENT_TRACE_ID_HEX);
}

int
agent_traceparent_parse(
    const char *s, char trace_id[33], char span_id[17], char **cause)
{
	/* "00-" 32 "-" 16 "-" 2 */
	if (strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') {
		xasprintf(cause,
		    "traceparent must be \"00-<32 hex>-<16 hex>-<2 hex>\"");
		return -1;
	}
	if (memcmp(s, "00", 2) != 0) {
		xasprintf(cause, "traceparent version must be 00");
		return -1;
	}
	if (!hex_valid(s + 3, 32)) {
		xasprintf(cause,
		    "traceparent trace id must be lower-case hex, not all "
		    "zeros");
		return -1;
	}
	if (!hex_valid(s + 36, 16)) {
		xasprintf(cause,
		    "traceparent parent id must be lower-case hex, not all "
		    "zeros");
		return -1;
	}
	if (!((s[53] >= '0' && s[53] <= '9') ||
	        (s[53] >= 'a' && s[53] <= 'f')) ||
	    !((s[54] >= '0' && s[54] <= '9') ||
	        (s[54] >= 'a' && s[54] <= 'f'))) {
		xasprintf(cause, "traceparent flags must be two hex digits");
		return -1;
	}
	if (trace_id != NULL) {
		memcpy(trace_id, s + 3, 32);
		trace_id[32] = '\0';
	}
	if (span_id != NULL) {
		memcpy(span_id, s + 36, 16);
		span_id[16] = '\0';
	}
	return 0;
}

struct agent_tracer *
agent_tracer_new(const char *dir, int fsync_policy, char **cause)
{
	struct agent_tracer *t;
	struct stat st;

	if (fsync_policy < AGENT_TRACE_FSYNC_NEVER ||
	    fsync_policy > AGENT_TRACE_FSYNC_EVERYSEC) {
		xasprintf(cause, "%s: unknown trace fsync policy %d", dir,
		    fsync_policy);
		return NULL;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: cannot create the trace folder: %s", dir,
		    strerror(errno));
		return NULL;
	}
	if (stat(dir, &st) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		xasprintf(cause, "%s: not a folder", dir);
		return NULL;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		xasprintf(cause, "%s: trace folder not writable: %s", dir,
		    strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof *t);
	t->dir = xstrdup(dir);
	t->fsync = (enum agent_trace_fsync)fsync_policy;
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init failed", __func__);
	t->last_sync_ns = clock_mono_ns();
	return t;
}

void
agent_tracer_set_retention(
    struct agent_tracer *t, uint64_t max_bytes, uint64_t max_age_s)
{
	pthread_mutex_lock(&t->lock);
	t->max_bytes = max_bytes;
	t->max_age_s = max_age_s;
	t->last_prune_ns = 0;
	pthread_mutex_unlock(&t->lock);
	tracer_prune(t, 1);
}

void
agent_tracer_sync(struct agent_tracer *t)
{
	int fd;

	if (t == NULL || t->fsync != AGENT_TRACE_FSYNC_EVERYSEC)
		return;
	if ((fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("%s: %s", t->dir, strerror(errno));
		return;
	}
	tracer_after_write(t, fd, 1);
	close(fd);
}

/*
 * Applies the fsync policy after a line went to fd; force syncs under
 * everysec whatever the time.
 */
static void
tracer_after_write(struct agent_tracer *t, int fd, int force)
{
	uint64_t now;
	int due;

	switch (t->fsync) {
	case AGENT_TRACE_FSYNC_ALWAYS:
		if (fsync(fd) == -1)
			log_err("%s: fsync: %s", t->dir, strerror(errno));
		break;
	case AGENT_TRACE_FSYNC_EVERYSEC:
		now = clock_mono_ns();
		pthread_mutex_lock(&t->lock);
		due = force || now - t->last_sync_ns >= TRACE_SYNC_NS;
		if (due)
			t->last_sync_ns = now;
		pthread_mutex_unlock(&t->lock);
		/* One syncfs covers every trace file written since. */
		if (due && syncfs(fd) == -1)
			log_err("%s: syncfs: %s", t->dir, strerror(errno));
		break;
	case AGENT_TRACE_FSYNC_NEVER:
		break;
	}
}

/* Runs retention when it is set and due (or forced). */
static void
tracer_prune(struct agent_tracer *t, int force)
{
	uint64_t now = clock_mono_ns(), max_bytes, max_age;
	size_t removed = 0;
	char *cause = NULL;

	pthread_mutex_lock(&t->lock);
	max_bytes = t->max_bytes;
	max_age = t->max_age_s;
	if ((max_bytes == 0 && max_age == 0) ||
	    (!force && t->last_prune_ns != 0 &&
	        now - t->last_prune_ns < TRACE_PRUNE_NS)) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	t->last_prune_ns = now;
	pthread_mutex_unlock(&t->lock);
	if (agent_trace_prune(t->dir, max_bytes, max_age,
	        clock_wall_ns() / 1000000000ULL, &removed, &cause) != 0) {
		log_err("trace retention: %s", cause);
		free(cause);
		return;
	}
	if (removed > 0)
		log_info(
		    "trace retention: %zu old trace files removed", removed);
}

/*
 * Returns 1 when the file behind fd does not end with '\n' (a line torn
 * by a crash), 0 when it does or is empty.
 */
static int
file_torn(int fd)
{
	struct stat st;
	char last;

	if (fstat(fd, &st) == -1 || st.st_size == 0)
		return 0;
	if (pread(fd, &last, 1, st.st_size - 1) != 1)
		return 0;
	return last != '\n';
}

void
agent_tracer_free(struct agent_tracer *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->dir);
	free(t);
}

const char *
agent_tracer_dir(const struct agent_tracer *t)
{
	return t->dir;
}

static struct agent_span *
span_new(
    struct agent_tracer *tracer, const char *name, enum agent_span_kind kind)
{
	struct agent_span *s;

	s = xcalloc(1, sizeof *s);
	s->tracer = tracer;
	s->name = xstrdup(name);
	s->kind = kind;
	s->start_ns = clock_wall_ns();
	s->attributes = json_object();
	if (s->attributes == NULL)
		fatalx("%s: out of memory", __func__);
	agent_random_hex(s->span_id, AGENT_SPAN_ID_HEX / 2);
	return s;
}

struct agent_span *
agent_span_root(struct agent_tracer *tracer, const char *name,
    enum agent_span_kind kind, const char *traceparent)
{
	struct agent_span *s = span_new(tracer, name, kind);
	char *cause = NULL;

	if (traceparent != NULL &&
	    agent_traceparent_parse(
	        traceparent, s->trace_id, s->parent_id, &cause) == 0)
		return s;
	if (traceparent != NULL) {
		log_warn("ignoring traceparent: %s", cause);
		free(cause);
	}
	agent_random_hex(s->trace_id, AGENT_TRACE_ID_HEX / 2);
	s->parent_id[0] = '\0';
	return s;
}

struct agent_span *
agent_span_child(
    struct agent_span *parent, const char *name, enum agent_span_kind kind)
{
	struct agent_span *s = span_new(parent->tracer, name, kind);

	memcpy(s->trace_id, parent->trace_id, sizeof s->trace_id);
	memcpy(s->parent_id, parent->span_id, sizeof s->parent_id);
	return s;
}

const char *
agent_span_trace_id(const struct agent_span *s)
{
	return s->trace_id;
}

const char *
agent_span_id(const struct agent_span *s)
{
	return s->span_id;
}

void
agent_span_attr(struct agent_span *s, const char *key, json_t *value)
{
	if (value == NULL)
		return;
	json_object_set_new(s->attributes, key, value);
}

void
agent_span_attr_str(struct agent_span *s, const char *key, const char *value)
{
	if (value == NULL)
		return;
	agent_span_attr(s, key, json_string(value));
}

void
agent_span_attr_int(struct agent_span *s, const char *key, int64_t value)
{
	agent_span_attr(s, key, json_integer((json_int_t)value));
}

void
agent_span_attr_real(struct agent_span *s, const char *key, double value)
{
	agent_span_attr(s, key, json_real(value));
}

void
agent_span_error(struct agent_span *s, const char *fmt, ...)
{
	va_list ap;

	free(s->error);
	va_start(ap, fmt);
	xvasprintf(&s->error, fmt, ap);
	va_end(ap);
}

/* Appends the span's line to its trace file. */
static void
span_write(struct agent_span *s)
{
	json_t *line;
	char *text = NULL, *path = NULL, *p;
	size_t len;
	ssize_t n;
	int fd = -1;

	line = json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:s, s:O}",
	    "trace_id", s->trace_id, "span_id", s->span_id, "parent_span_id",
	    s->parent_id[0] != '\0' ? json_string(s->parent_id) : json_null(),
	    "name", s->name, "kind", agent_span_kind_name(s->kind), "start_ns",
	    (json_int_t)s->start_ns, "end_ns", (json_int_t)clock_wall_ns(),
	    "status", s->error != NULL ? "error" : "ok", "attributes",
	    s->attributes);
	if (line == NULL)
		fatalx("%s: cannot build a span line", __func__);
	if (s->error != NULL)
		json_object_set_new(
		    line, "status_message", json_string(s->error));
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text != NULL && strlen(text) + 1 > AGENT_SPAN_MAX_LINE) {
		/* Too big: keep the span, drop its attributes. */
		free(text);
		json_object_set_new(line, "attributes",
		    json_pack("{s:b}", "agentd.attributes_dropped", 1));
		text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	}
	json_decref(line);
	if (text == NULL)
		fatalx("%s: cannot encode a span line", __func__);
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps leaves room: replace the NUL */

	xasprintf(&path, "%s/%s.jsonl", s->tracer->dir, s->trace_id);
	fd = open(
	    path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		log_err("%s: cannot write a span: %s", path, strerror(errno));
		goto out;
	}
	p = text;
	if (file_torn(fd)) {
		/* End the torn line first, in the same write. */
		p = xmalloc(len + 1);
		p[0] = '\n';
		memcpy(p + 1, text, len);
		free(text);
		text = p;
		len++;
		log_warn(
		    "%s: a torn last line (a crash?) is left behind", path);
	}
	do {
		n = write(fd, text, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		log_err("%s: cannot write a span: %s", path, strerror(errno));
	else if ((size_t)n != len)
		log_err("%s: short write of a span (%zd of %zu bytes)", path, n,
		    len);
	if (n != -1)
		tracer_after_write(s->tracer, fd, 0);
out:
	if (fd != -1)
		close(fd);
	free(path);
	free(text);
}

void
agent_span_end(struct agent_span *s)
{
	if (s == NULL)
		return;
	if (s->tracer != NULL) {
		span_write(s);
		if (s->kind == AGENT_SPAN_RUN)
			tracer_prune(s->tracer, 0);
	}
	json_decref(s->attributes);
	free(s->error);
	free(s->name);
	free(s);
}

/* ---- reading ------------------------------------------------------------ */

json_t *
agent_trace_read(const char *path, size_t *skipped, char **cause)
{
	struct stat st;
	json_t *spans = NULL, *v, *kind;
	json_error_t jerr;
	enum agent_span_kind k;
	char *text = NULL;
	const char *p, *end, *nl;
	size_t have = 0, bad = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > AGENT_TRACE_MAX_FILE) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    AGENT_TRACE_MAX_FILE);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (have < (size_t)st.st_size) {
		n = read(fd, text + have, (size_t)st.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}

	spans = json_array();
	for (p = text, end = text + have; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			/* A last line without '\n' was torn by a crash. */
			bad++;
			break;
		}
		if (nl == p)
			continue;
		v = json_loadb(
		    p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr);
		kind = json_object_get(v, "kind");
		if (v == NULL || !json_is_object(v) ||
		    !json_is_string(json_object_get(v, "trace_id")) ||
		    !json_is_string(json_object_get(v, "span_id")) ||
		    !json_is_string(json_object_get(v, "name")) ||
		    !json_is_string(kind) ||
		    agent_span_kind_parse(json_string_value(kind), &k) != 0 ||
		    !json_is_integer(json_object_get(v, "start_ns")) ||
		    !json_is_integer(json_object_get(v, "end_ns"))) {
			json_decref(v);
			bad++;
			continue;
		}
		json_array_append_new(spans, v);
	}
	if (skipped != NULL)
		*skipped = bad;
out:
	free(text);
	close(fd);
	return spans;
}

/* Orders siblings by start time, then span id. */
static int
span_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t sx = json_integer_value(json_object_get(x, "start_ns"));
	json_int_t sy = json_integer_value(json_object_get(y, "start_ns"));

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "span_id")),
	    json_string_value(json_object_get(y, "span_id")));
}

/* Sorts an array of spans, and every "children" below, in place. */
static void
tree_sort(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items;

	if (n == 0)
		return;
	items = xcalloc(n, sizeof *items);
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof *items, span_cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++) {
		tree_sort(json_object_get(items[i], "children"));
		json_array_append_new(arr, items[i]);
	}
	free(items);
}

/* The parent span of v in the index, or NULL for a root. */
static json_t *
tree_parent(json_t *byid, json_t *v)
{
	const char *pid =
	    json_string_value(json_object_get(v, "parent_span_id"));
	json_t *parent = pid != NULL ? json_object_get(byid, pid) : NULL;

	return parent != v ? parent : NULL;
}

json_t *
agent_trace_tree(json_t *spans)
{
	json_t *roots = json_array(), *byid = json_object(), *depth, *v, *cur;
	json_t *next, **path;
	const char *id;
	size_t i, n = 0;
	json_int_t d;

	/* Index by span id; a duplicated id keeps its first line. */
	json_array_foreach(spans, i, v)
	{
		id = json_string_value(json_object_get(v, "span_id"));
		json_object_set_new(v, "children", json_array());
		if (json_object_get(byid, id) == NULL)
			json_object_set(byid, id, v);
	}

	/*
	 * Depths, walking up from each span: a span whose parent chain
	 * loops back (a hostile file) or runs deeper than
	 * AGENT_TRACE_MAX_DEPTH becomes a root, so the tree is finite and
	 * shallow.  "depth" maps span ids to their depth once known, and
	 * to -1 while on the current path.
	 */
	depth = json_object();
	path = xcalloc(json_array_size(spans) + 1, sizeof *path);
	json_array_foreach(spans, i, v)
	{
		n = 0;
		for (cur = v; cur != NULL;) {
			id = json_string_value(json_object_get(cur, "span_id"));
			if (json_object_get(depth, id) != NULL)
				break;
			json_object_set_new(depth, id, json_integer(-1));
			path[n++] = cur;
			next = tree_parent(byid, cur);
			if (next != NULL &&
			    json_integer_value(json_object_get(depth,
			        json_string_value(
			            json_object_get(next, "span_id")))) == -1) {
				/* A loop: cur is cut from its parent. */
				json_object_set_new(cur, "_cut", json_true());
				break;
			}
			cur = next;
		}
		/* Resolve the path top down. */
		while (n > 0) {
			cur = path[--n];
			next = json_is_true(json_object_get(cur, "_cut"))
			    ? NULL
			    : tree_parent(byid, cur);
			d = 0;
			if (next != NULL) {
				d = json_integer_value(json_object_get(depth,
				        json_string_value(json_object_get(
				            next, "span_id")))) +
				    1;
				if (d >= AGENT_TRACE_MAX_DEPTH) {
					json_object_set_new(
					    cur, "_cut", json_true());
					d = 0;
				}
			}
			json_object_set_new(depth,
			    json_string_value(json_object_get(cur, "span_id")),
			    json_integer(d));
		}
	}
	free(path);
	json_decref(depth);

	json_array_foreach(spans, i, v)
	{
		id = json_string_value(json_object_get(v, "span_id"));
		if (json_object_get(byid, id) != v)
			continue;
		next = json_is_true(json_object_get(v, "_cut"))
		    ? NULL
		    : tree_parent(byid, v);
		json_object_del(v, "_cut");
		if (next != NULL)
			json_array_append(json_object_get(next, "children"), v);
		else
			json_array_append(roots, v);
	}
	json_decref(byid);
	tree_sort(roots);
	return roots;
}

json_t *
agent_trace_get(
    struct agent_tracer *t, const char *trace_id, int *unknown, char **cause)
{
	json_t *spans, *tree, *out;
	size_t skipped = 0;
	char *path;

	if (unknown != NULL)
		*unknown = 0;
	if (!agent_trace_id_valid(trace_id)) {
		xasprintf(cause, "'%s' is not a trace id (32 lower-case hex)",
		    trace_id);
		if (unknown != NULL)
			*unknown = 1;
		return NULL;
	}
	xasprintf(&path, "%s/%s.jsonl", t->dir, trace_id);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		xasprintf(cause, "unknown trace '%s'", trace_id);
		if (unknown != NULL)
			*unknown = 1;
		free(path);
		return NULL;
	}
	spans = agent_trace_read(path, &skipped, cause);
	free(path);
	if (spans == NULL)
		return NULL;
	tree = agent_trace_tree(spans);
	out = json_pack("{s:s, s:o, s:I, s:I}", "trace_id", trace_id, "spans",
	    tree, "span_count", (json_int_t)json_array_size(spans),
	    "skipped_lines", (json_int_t)skipped);
	json_decref(spans);
	return out;
}
