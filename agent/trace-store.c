/*
 * trace-store.c: the trace store as a whole (trace.h): retention by size
 * and age, and trace.list.
 *
 * The store is a flat folder of <trace_id>.jsonl files.  A file's mtime
 * is its last span's end, which is the root's end for a finished run, so
 * listing and retention order files by mtime without reading them, and
 * listing reads only as many files as it needs to fill its limit.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/trace.h"
#include "daemon/util.h"

/* One trace file of the folder. */
struct store_file {
	char id[AGENT_TRACE_ID_HEX + 1];
	uint64_t mtime_ns;
	uint64_t bytes;
};

static int store_scan(const char *, struct store_file **, size_t *, char **);
static int file_newer(const void *, const void *);
static json_int_t span_int(const json_t *, const char *);
static int filter_pass(const struct agent_trace_filter *, const json_t *);

/*
 * Lists the trace files of dir (names <32 hex>.jsonl, regular files) in
 * a new array *out of *n entries, newest first.
 */
static int
store_scan(const char *dir, struct store_file **out, size_t *n, char **cause)
{
	struct store_file *files = NULL;
	struct dirent *de;
	struct stat st;
	size_t have = 0, cap = 0, len;
	DIR *d;
	int dfd;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != AGENT_TRACE_ID_HEX + 6 ||
		    strcmp(de->d_name + AGENT_TRACE_ID_HEX, ".jsonl") != 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (have == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			files = xreallocarray(files, cap, sizeof *files);
		}
		memcpy(files[have].id, de->d_name, AGENT_TRACE_ID_HEX);
		files[have].id[AGENT_TRACE_ID_HEX] = '\0';
		if (!agent_trace_id_valid(files[have].id))
			continue;
		files[have].mtime_ns =
		    (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
		    (uint64_t)st.st_mtim.tv_nsec;
		files[have].bytes = (uint64_t)st.st_size;
		have++;
	}
	closedir(d);
	if (have > 1)
		qsort(files, have, sizeof *files, file_newer);
	*out = files;
	*n = have;
	return 0;
}

/* Newest first; ties by id so the order is stable. */
static int
file_newer(const void *a, const void *b)
{
	const struct store_file *x = a, *y = b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns > y->mtime_ns ? -1 : 1;
	return strcmp(x->id, y->id);
}

int
agent_trace_prune(const char *dir, uint64_t max_bytes, uint64_t max_age_s,
    uint64_t now_s, size_t *removed, char **cause)
{
	struct store_file *files = NULL;
	uint64_t total = 0, cutoff_ns = 0;
	size_t n = 0, gone = 0;
	char *path;
	int drop;

	if (removed != NULL)
		*removed = 0;
	if (store_scan(dir, &files, &n, cause) != 0)
		return -1;
	if (max_age_s != 0 && now_s > max_age_s)
		cutoff_ns = (now_s - max_age_s) * 1000000000ULL;
	/* Newest first: keep files while they fit, drop the rest. */
	for (size_t i = 0; i < n; i++) {
		drop = 0;
		if (max_age_s != 0 && files[i].mtime_ns < cutoff_ns)
			drop = 1;
		else if (max_bytes != 0 && total + files[i].bytes > max_bytes)
			drop = 1;
		if (!drop) {
			total += files[i].bytes;
			continue;
		}
		xasprintf(&path, "%s/%s.jsonl", dir, files[i].id);
		if (unlink(path) == -1 && errno != ENOENT)
			log_err("%s: cannot remove: %s", path, strerror(errno));
		else
			gone++;
		free(path);
	}
	free(files);
	if (removed != NULL)
		*removed = gone;
	return 0;
}

/* An integer member of a span, 0 when absent. */
static json_int_t
span_int(const json_t *v, const char *key)
{
	return json_integer_value(json_object_get(v, key));
}

json_t *
agent_trace_summary(const json_t *spans)
{
	const json_t *v, *root = NULL, *attrs, *other;
	json_t *ids, *out;
	const char *pid, *agent, *msg;
	json_int_t start = 0, end = 0;
	size_t i, j;

	/* The root: a span whose parent is not in the file, earliest. */
	ids = json_object();
	json_array_foreach(spans, i, v)
	{
		json_object_set_new(ids,
		    json_string_value(json_object_get(v, "span_id")),
		    json_true());
		if (i == 0 || span_int(v, "start_ns") < start)
			start = span_int(v, "start_ns");
		if (i == 0 || span_int(v, "end_ns") > end)
			end = span_int(v, "end_ns");
	}
	json_array_foreach(spans, i, v)
	{
		pid = json_string_value(json_object_get(v, "parent_span_id"));
		if (pid != NULL && json_object_get(ids, pid) != NULL)
			continue;
		if (root == NULL ||
		    span_int(v, "start_ns") < span_int(root, "start_ns"))
			root = v;
	}
	json_decref(ids);
	/* A run in progress has its children written, not its root. */
	if (root != NULL &&
	    strcmp(json_string_value(json_object_get(root, "kind")), "run") !=
	        0) {
		json_array_foreach(spans, j, other)
		{
			if (strcmp(json_string_value(
			               json_object_get(other, "kind")),
			        "run") == 0)
				break;
		}
		if (j == json_array_size(spans))
			root = NULL;
	}

	v = json_array_get(spans, 0);
	out = json_pack("{s:o, s:I, s:I, s:I, s:I}", "trace_id",
	    v != NULL ? json_copy(json_object_get(v, "trace_id")) : json_null(),
	    "start_ns", start, "end_ns", end, "duration_ms",
	    (end - start) / 1000000, "span_count",
	    (json_int_t)json_array_size(spans));
	if (root == NULL) {
		json_object_set_new(out, "outcome", json_string("incomplete"));
		json_object_set_new(out, "name", json_null());
		json_object_set_new(out, "agent", json_null());
		return out;
	}
	attrs = json_object_get(root, "attributes");
	agent = json_string_value(json_object_get(attrs, "gen_ai.agent.name"));
	json_object_set_new(
	    out, "name", json_copy(json_object_get(root, "name")));
	json_object_set_new(
	    out, "agent", agent != NULL ? json_string(agent) : json_null());
	json_object_set_new(out, "outcome",
	    json_string(json_is_string(json_object_get(root, "status")) &&
	                strcmp(
	                    json_string_value(json_object_get(root, "status")),
	                    "error") == 0
	            ? "error"
	            : "ok"));
	msg = json_string_value(json_object_get(root, "status_message"));
	if (msg != NULL)
		json_object_set_new(out, "status_message", json_string(msg));
	json_object_set_new(
	    out, "start_ns", json_integer(span_int(root, "start_ns")));
	json_object_set_new(
	    out, "end_ns", json_integer(span_int(root, "end_ns")));
	json_object_set_new(out, "duration_ms",
	    json_integer(
	        (span_int(root, "end_ns") - span_int(root, "start_ns")) /
	        1000000));
	json_object_set_new(out, "input_tokens",
	    json_integer(json_integer_value(
	        json_object_get(attrs, "gen_ai.usage.input_tokens"))));
	json_object_set_new(out, "output_tokens",
	    json_integer(json_integer_value(
	        json_object_get(attrs, "gen_ai.usage.output_tokens"))));
	return out;
}

/* Returns 1 when the summary passes the filter. */
static int
filter_pass(const struct agent_trace_filter *f, const json_t *sum)
{
	json_int_t start = span_int(sum, "start_ns");
	const char *agent, *outcome;

	if (f->since_ns != 0 && (uint64_t)start < f->since_ns)
		return 0;
	if (f->until_ns != 0 && (uint64_t)start > f->until_ns)
		return 0;
	agent = json_string_value(json_object_get(sum, "agent"));
	if (f->agent != NULL && (agent == NULL || strcmp(agent, f->agent) != 0))
		return 0;
	outcome = json_string_value(json_object_get(sum, "outcome"));
	if (f->outcome != NULL && strcmp(outcome, f->outcome) != 0)
		return 0;
	return 1;
}

json_t *
agent_trace_list(
    const char *dir, const struct agent_trace_filter *f, char **cause)
{
	struct store_file *files = NULL;
	json_t *list, *spans, *sum;
	size_t n = 0, limit, skipped;
	char *path, *why = NULL;
	int truncated = 0;

	if (f->outcome != NULL && strcmp(f->outcome, "ok") != 0 &&
	    strcmp(f->outcome, "error") != 0 &&
	    strcmp(f->outcome, "incomplete") != 0) {
		xasprintf(cause,
		    "outcome '%s' is not one of ok, error, incomplete",
		    f->outcome);
		return NULL;
	}
	if (f->since_ns != 0 && f->until_ns != 0 && f->since_ns > f->until_ns) {
		xasprintf(cause, "since is after until");
		return NULL;
	}
	limit = f->limit == 0 || f->limit > AGENT_TRACE_LIST_MAX
	    ? AGENT_TRACE_LIST_MAX
	    : f->limit;
	if (store_scan(dir, &files, &n, cause) != 0)
		return NULL;
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		/* A trace ends by its file's mtime: it started before. */
		if (f->since_ns != 0 && files[i].mtime_ns < f->since_ns)
			continue;
		if (json_array_size(list) == limit) {
			truncated = 1;
			break;
		}
		xasprintf(&path, "%s/%s.jsonl", dir, files[i].id);
		spans = agent_trace_read(path, &skipped, &why);
		free(path);
		if (spans == NULL) {
			log_warn("trace.list: %s", why);
			free(why);
			why = NULL;
			continue;
		}
		if (json_array_size(spans) == 0) {
			json_decref(spans);
			continue;
		}
		sum = agent_trace_summary(spans);
		json_decref(spans);
		json_object_set_new(
		    sum, "skipped_lines", json_integer((json_int_t)skipped));
		json_object_set_new(
		    sum, "bytes", json_integer((json_int_t)files[i].bytes));
		if (filter_pass(f, sum))
			json_array_append_new(list, sum);
		else
			json_decref(sum);
	}
	free(files);
	return json_pack("{s:o, s:b}", "traces", list, "truncated", truncated);
}
