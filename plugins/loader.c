/*
 * loader.c: C plugins, loaded with dlopen() through the ABI of
 * plugins/agentd/tool.h and registered as tools.
 *
 * Each snapshot build (plug_loader_collect(), a registry provider) scans
 * the configured plugin folders for *.so files, in folder order and then
 * name order, and for each file:
 *
 *   1. opens it with O_NOFOLLOW and checks what it opened: a regular file,
 *      owned by root or by the daemon's user, not writable by group or
 *      others;
 *   2. hashes that open file with SHA-256 and, when an allow-list is
 *      configured, refuses it unless the list names it with that hash;
 *   3. reuses the module already loaded from the same file (same device,
 *      inode and hash), or else dlopen()s "/proc/self/fd/N" of the file it
 *      checked, so what runs is exactly what was checked, and reads the
 *      descriptor agentd_tool_init() returns (ABI major, struct sizes);
 *   4. makes a new instance with the plugin's current config (NAME.json
 *      from the plugin folders) and one registry tool per ABI tool; a bad
 *      schema, a taken tool name or a failed init() refuses the whole
 *      plugin, with one log line, and the scan goes on.
 *
 * Lifetimes: a registry tool holds a reference to its instance and an
 * instance to its module, so an instance's fini() runs, and its module is
 * dlclose()d, only when the last snapshot or call in flight that holds one
 * of its tools lets go.  A reload therefore makes new instances beside the
 * old ones, which drain on their own.  The module's file stays open while
 * it is loaded: that keeps its "/proc/self/fd/N" name unique among the
 * objects glibc has loaded (glibc would hand back an old object whose name
 * matched), and lets the loader recognise the same file on the next scan.
 *
 * Threads: collect runs on the thread building a snapshot, one build at a
 * time; the last reference to an instance may go on any thread.  The
 * loader's mutex guards its module list and every module's count.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/util.h"
#include "plugins/agentd/tool.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* Sizes a 1.0 plugin's structs must cover. */
#define PLUG_MODULE_SIZE_1_0 \
	(offsetof(struct agentd_tool_module, tool_size) + sizeof(uint32_t))
#define PLUG_TOOL_SIZE_1_0 \
	(offsetof(struct agentd_tool, call) + sizeof(void (*)(void)))

/* Caps on what a plugin folder and a plugin may bring. */
#define PLUG_MAX_FILES     1024          /* *.so files per folder */
#define PLUG_MAX_TOOLS     256           /* tools per plugin */
#define PLUG_MAX_TOOL_SIZE 4096          /* bytes of one struct agentd_tool */
#define PLUG_MAX_CONFIG    (1024 * 1024) /* bytes of NAME.json */
#define PLUG_MAX_ALLOWLIST (1024 * 1024) /* bytes of the allow-list */
#define PLUG_MAX_MESSAGE   512           /* bytes of a plugin's message */
#define PLUG_SHA256_LEN    32

struct plug_module;

/* The loader: its modules, and how many hold it. */
struct plug_loader {
	pthread_mutex_t lock;        /* guards everything below */
	struct plug_module *modules; /* loaded, linked by next */
	unsigned refs;               /* the owner's and one per module */
};

/*
 * One dlopen()ed file.  refs counts its live instances; at zero the
 * module leaves the list and is closed.
 */
struct plug_module {
	struct plug_module *next;
	struct plug_loader *loader;
	unsigned refs; /* guarded by loader->lock */
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	unsigned char sha256[PLUG_SHA256_LEN];
	void *dl;
	const struct agentd_tool_module *desc;
	char *name;    /* for log lines */
	int published; /* tools of it reached a snapshot */
};

/*
 * One instance: init() ran (live) with config.  The ABI calls it struct
 * agentd_plugin, which plugins see as an opaque handle.
 */
struct agentd_plugin {
	atomic_uint refs; /* the maker's and one per tool */
	struct plug_module *module;
	json_t *config;
	void *data;
	int live;
};

/* One call in progress, as the ABI's opaque handle. */
struct agentd_call {
	const struct plug_call *pc;
	const json_t *args;
};

/* A registry tool's implementation: an ABI tool of an instance. */
struct plug_ctool {
	struct agentd_plugin *inst;
	const struct agentd_tool *def;
};

/* One line of the allow-list. */
struct plug_allow {
	unsigned char sha256[PLUG_SHA256_LEN];
	char *name;
	size_t line;
};

struct plug_allowlist {
	char *path;
	struct plug_allow *v;
	size_t n;
};

/* One scan of the plugin folders into a snapshot build. */
struct plug_collect {
	struct plug_loader *loader;
	const struct plug_config *config;
	struct plug_allowlist *al; /* NULL: no integrity check */
	struct plug_build *build;
	struct plug_tool **added; /* tools this scan added (borrowed) */
	size_t n_added;
	size_t size_added;
};

static const json_t *plug_json_of(const struct agentd_json *v);
static const struct agentd_json *plug_json_handle(const json_t *v);
static char *plug_message(const char *msg);
static void plug_host_log(const struct agentd_plugin *p, int level,
    const char *fmt, ...) printflike(3, 4);
static void *plug_host_alloc(size_t size);
static void plug_host_free(void *ptr);
static int plug_host_cancelled(const struct agentd_call *call);
static uint32_t plug_host_remaining_ms(const struct agentd_call *call);
static size_t plug_host_max_output(const struct agentd_call *call);
static const struct agentd_json *plug_host_call_args(
    const struct agentd_call *call);
static const struct agentd_json *plug_host_plugin_config(
    const struct agentd_plugin *p);
static int plug_host_result_printf(struct agentd_result *res, int is_error,
    const char *fmt, ...) printflike(3, 4);
static char *plug_host_format(const char *fmt, ...) printflike(1, 2);
static int plug_host_json_type(const struct agentd_json *v);
static const struct agentd_json *plug_host_json_get(
    const struct agentd_json *object, const char *key);
static size_t plug_host_json_size(const struct agentd_json *v);
static const struct agentd_json *plug_host_json_at(
    const struct agentd_json *array, size_t index);
static const char *plug_host_json_string(
    const struct agentd_json *v, size_t *len);
static int plug_host_json_int(const struct agentd_json *v, int64_t *out);
static int plug_host_json_number(const struct agentd_json *v, double *out);
static int plug_host_json_bool(const struct agentd_json *v, int *out);
static struct agentd_json *plug_host_json_parse(const char *text, size_t len);
static void plug_host_json_free(struct agentd_json *v);
static void plug_ctool_call(void *impl, const json_t *args,
    const struct plug_call *pc, struct plug_result *res);
static void plug_ctool_free(void *impl);
static void plug_instance_unref(struct agentd_plugin *inst);
static void plug_module_unref(struct plug_module *m);
static void plug_loader_unref(struct plug_loader *l);
static int plug_open_checked(const char *path, struct stat *st, char **cause);
static char *plug_read_all(int fd, size_t cap, size_t *len, char **cause);
static int plug_sha256_fd(
    int fd, unsigned char out[PLUG_SHA256_LEN], char **cause);
static void plug_hex(const unsigned char *bytes, size_t n, char *out);
static int plug_hexval(char c);
static void plug_allowlist_free(struct plug_allowlist *al);
static int plug_allowlist_line(const char *s, size_t len, struct plug_allow *a);
static struct plug_allowlist *plug_allowlist_read(
    const char *path, char **cause);
static int plug_allow_names(
    const struct plug_allow *a, const char *path, const char *base);
static int plug_allowlist_check(const struct plug_allowlist *al,
    const char *path, const char *base, const unsigned char *sha256,
    char **cause);
static int plug_config_load(const struct plug_config *config, const char *stem,
    json_t **config_out, char **cause);
static struct plug_module *plug_module_find(struct plug_loader *l,
    const struct stat *st, const unsigned char *sha256, char **cause);
static struct plug_module *plug_module_open(struct plug_loader *l,
    const char *path, const char *stem, int fd, const struct stat *st,
    const unsigned char *sha256, char **cause);
static const struct agentd_tool *plug_module_tool(
    const struct plug_module *m, uint32_t i);
static char *plug_collect_owner(const struct plug_collect *c, const char *name);
static struct plug_tool *plug_tool_make(struct agentd_plugin *inst,
    const struct agentd_tool *def, uint32_t index, char **cause);
static int plug_instance_add(struct plug_collect *c, struct plug_module *m,
    const char *stem, char **cause);
static int plug_load_file(
    struct plug_collect *c, const char *path, const char *base, char **cause);
static int plug_name_cmp(const void *a, const void *b);
static int plug_dir_list(const char *dir, char ***names, char **cause);

/* The host's side of the ABI; the same for every plugin. */
static const struct agentd_host plug_host = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_host),
	.log = plug_host_log,
	.alloc = plug_host_alloc,
	.free = plug_host_free,
	.cancelled = plug_host_cancelled,
	.remaining_ms = plug_host_remaining_ms,
	.max_output = plug_host_max_output,
	.call_args = plug_host_call_args,
	.plugin_config = plug_host_plugin_config,
	.result_printf = plug_host_result_printf,
	.format = plug_host_format,
	.json_type = plug_host_json_type,
	.json_get = plug_host_json_get,
	.json_size = plug_host_json_size,
	.json_at = plug_host_json_at,
	.json_string = plug_host_json_string,
	.json_int = plug_host_json_int,
	.json_number = plug_host_json_number,
	.json_bool = plug_host_json_bool,
	.json_parse = plug_host_json_parse,
	.json_free = plug_host_json_free,
};

static const struct plug_tool_ops plug_ctool_ops = {
	.call = plug_ctool_call,
	.free = plug_ctool_free,
};

/* ---- the host API ----------------------------------------------------- */

/* jansson values travel as struct agentd_json handles. */
static const json_t *
plug_json_of(const struct agentd_json *v)
{
	return (const json_t *)(const void *)v;
}

static const struct agentd_json *
plug_json_handle(const json_t *v)
{
	return (const struct agentd_json *)(const void *)v;
}

/*
 * Copies at most PLUG_MAX_MESSAGE bytes of a plugin's message for a log
 * line, with control characters turned into spaces so that one message
 * stays one line.
 */
static char *
plug_message(const char *msg)
{
	size_t len;
	char *copy;

	if (msg == NULL)
		return xstrdup("(no message)");
	len = strnlen(msg, PLUG_MAX_MESSAGE);
	copy = xstrndup(msg, len);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)copy[i] < 0x20 || copy[i] == 0x7f)
			copy[i] = ' ';
	}
	return copy;
}

static void
plug_host_log(const struct agentd_plugin *p, int level, const char *fmt, ...)
{
	va_list ap;
	char *msg, *clean;

	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	if (log_level < level || fmt == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	clean = plug_message(msg);
	log_write(level, "plugin %s: %s",
	    p != NULL ? p->module->name : "(loading)", clean);
	free(clean);
	free(msg);
}

/* Plugins' memory is the C heap, so results pass to the registry as is. */
static void *
plug_host_alloc(size_t size)
{
	if (size == 0)
		return NULL;
	return malloc(size);
}

static void
plug_host_free(void *ptr)
{
	free(ptr);
}

static int
plug_host_cancelled(const struct agentd_call *call)
{
	return plug_call_stopped(call->pc);
}

static uint32_t
plug_host_remaining_ms(const struct agentd_call *call)
{
	uint64_t now, left;

	if (call->pc->deadline_ns == 0)
		return UINT32_MAX;
	now = clock_mono_ns();
	if (now >= call->pc->deadline_ns)
		return 0;
	left = (call->pc->deadline_ns - now + 999999) / 1000000;
	return left >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)left;
}

static size_t
plug_host_max_output(const struct agentd_call *call)
{
	return call->pc->max_output_bytes;
}

static const struct agentd_json *
plug_host_call_args(const struct agentd_call *call)
{
	return plug_json_handle(call->args);
}

static const struct agentd_json *
plug_host_plugin_config(const struct agentd_plugin *p)
{
	return plug_json_handle(p->config);
}

static int
plug_host_result_printf(
    struct agentd_result *res, int is_error, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	free(res->text);
	res->text = NULL;
	res->len = 0;
	res->is_error = is_error;
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	res->text = text;
	res->len = (size_t)n;
	return 0;
}

static char *
plug_host_format(const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : text;
}

static int
plug_host_json_type(const struct agentd_json *v)
{
	if (v == NULL)
		return AGENTD_JSON_NONE;
	switch (json_typeof(plug_json_of(v))) {
	case JSON_OBJECT:
		return AGENTD_JSON_OBJECT;
	case JSON_ARRAY:
		return AGENTD_JSON_ARRAY;
	case JSON_STRING:
		return AGENTD_JSON_STRING;
	case JSON_INTEGER:
		return AGENTD_JSON_INTEGER;
	case JSON_REAL:
		return AGENTD_JSON_REAL;
	case JSON_TRUE:
	case JSON_FALSE:
		return AGENTD_JSON_BOOLEAN;
	case JSON_NULL:
		return AGENTD_JSON_NULL;
	}
	return AGENTD_JSON_NONE;
}

static const struct agentd_json *
plug_host_json_get(const struct agentd_json *object, const char *key)
{
	const json_t *o = plug_json_of(object);

	if (o == NULL || key == NULL || !json_is_object(o))
		return NULL;
	return plug_json_handle(json_object_get(o, key));
}

static size_t
plug_host_json_size(const struct agentd_json *v)
{
	const json_t *j = plug_json_of(v);

	if (j == NULL)
		return 0;
	if (json_is_array(j))
		return json_array_size(j);
	if (json_is_object(j))
		return json_object_size(j);
	return 0;
}

static const struct agentd_json *
plug_host_json_at(const struct agentd_json *array, size_t index)
{
	const json_t *a = plug_json_of(array);

	if (a == NULL || !json_is_array(a))
		return NULL;
	return plug_json_handle(json_array_get(a, index));
}

static const char *
plug_host_json_string(const struct agentd_json *v, size_t *len)
{
	const json_t *j = plug_json_of(v);

	if (j == NULL || !json_is_string(j))
		return NULL;
	if (len != NULL)
		*len = json_string_length(j);
	return json_string_value(j);
}

static int
plug_host_json_int(const struct agentd_json *v, int64_t *out)
{
	const json_t *j = plug_json_of(v);
	long double d;

	if (j == NULL || out == NULL)
		return -1;
	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return 0;
	}
	if (!json_is_real(j))
		return -1;
	d = plug_json_number(j);
	/* -2^63 <= d < 2^63 and no fraction: exact in an int64_t. */
	if (d != d || d < -9223372036854775808.0L ||
	    d >= 9223372036854775808.0L || d != (long double)(int64_t)d)
		return -1;
	*out = (int64_t)d;
	return 0;
}

static int
plug_host_json_number(const struct agentd_json *v, double *out)
{
	const json_t *j = plug_json_of(v);

	if (j == NULL || out == NULL || !json_is_number(j))
		return -1;
	*out = json_number_value(j);
	return 0;
}

static int
plug_host_json_bool(const struct agentd_json *v, int *out)
{
	const json_t *j = plug_json_of(v);

	if (j == NULL || out == NULL || !json_is_boolean(j))
		return -1;
	*out = json_is_true(j);
	return 0;
}

static struct agentd_json *
plug_host_json_parse(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *v;

	if (text == NULL)
		return NULL;
	v = json_loadb(
	    text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	return (struct agentd_json *)(void *)v;
}

static void
plug_host_json_free(struct agentd_json *v)
{
	json_decref((json_t *)(void *)v);
}

/* ---- tools ------------------------------------------------------------- */

/* Runs an ABI tool: arguments in as JSON text, the result's text out. */
static void
plug_ctool_call(void *impl, const json_t *args, const struct plug_call *pc,
    struct plug_result *res)
{
	struct plug_ctool *ct = impl;
	struct agentd_result r;
	struct agentd_call call;
	char *text;

	text = json_dumps(args, JSON_COMPACT);
	if (text == NULL) {
		plug_result_error(res, "out of memory");
		return;
	}
	memset(&r, 0, sizeof r);
	call.pc = pc;
	call.args = args;
	ct->def->call(ct->inst->data, ct->def, text, strlen(text), &call, &r);
	free(text);

	plug_result_clear(res);
	if (r.text == NULL)
		return; /* the registry reports "tool returned no result" */
	/* A plugin that forgot len still means its NUL-terminated text. */
	if (r.len == 0)
		r.len = strlen(r.text);
	/*
	 * Copy (the length is the plugin's word, the NUL is ours), no more
	 * than the registry keeps: the cap plus room to find where a UTF-8
	 * character starts.
	 */
	if (pc->max_output_bytes != 0 && r.len > pc->max_output_bytes + 4)
		r.len = pc->max_output_bytes + 4;
	res->text = malloc(r.len + 1);
	if (res->text == NULL) {
		free(r.text);
		plug_result_error(
		    res, "out of memory for %zu bytes of result", r.len);
		return;
	}
	memcpy(res->text, r.text, r.len);
	res->text[r.len] = '\0';
	res->len = r.len;
	res->is_error = r.is_error != 0;
	free(r.text);
}

static void
plug_ctool_free(void *impl)
{
	struct plug_ctool *ct = impl;

	plug_instance_unref(ct->inst);
	free(ct);
}

/* ---- instances and modules --------------------------------------------- */

static void
plug_instance_unref(struct agentd_plugin *inst)
{
	if (atomic_fetch_sub(&inst->refs, 1) != 1)
		return;
	if (inst->live && inst->module->desc->fini != NULL)
		inst->module->desc->fini(inst->data);
	json_decref(inst->config);
	plug_module_unref(inst->module);
	free(inst);
}

/* Drops an instance's hold; the last one closes the module. */
static void
plug_module_unref(struct plug_module *m)
{
	struct plug_loader *l = m->loader;
	struct plug_module **pp;

	pthread_mutex_lock(&l->lock);
	AGENTD_ASSERT(m->refs > 0);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	for (pp = &l->modules; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);

	/* Outside the lock: dlclose() runs the plugin's destructors. */
	if (m->published)
		log_info("plugin %s: unloaded", m->path);
	else
		log_debug("plugin %s: closed", m->path);
	if (dlclose(m->dl) != 0)
		log_warn("plugin %s: dlclose: %s", m->path, dlerror());
	close(m->fd);
	free(m->path);
	free(m->name);
	free(m);
	plug_loader_unref(l);
}

/* ---- the loader --------------------------------------------------------- */

struct plug_loader *
plug_loader_new(void)
{
	struct plug_loader *l = xcalloc(1, sizeof *l);

	if (pthread_mutex_init(&l->lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init failed", __func__);
	l->refs = 1;
	return l;
}

static void
plug_loader_unref(struct plug_loader *l)
{
	unsigned left;

	pthread_mutex_lock(&l->lock);
	left = --l->refs;
	pthread_mutex_unlock(&l->lock);
	if (left > 0)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void
plug_loader_free(struct plug_loader *l)
{
	if (l != NULL)
		plug_loader_unref(l);
}

/* ---- files --------------------------------------------------------------- */

/*
 * Opens path for reading and checks the file it got: regular, owned by
 * root or by us, not writable by group or others.  Returns the fd (with
 * its stat in *st) or -1 with *cause.
 */
static int
plug_open_checked(const char *path, struct stat *st, char **cause)
{
	int fd;

	/* Never open what is not a regular file (a device, say). */
	if (lstat(path, st) != 0) {
		if (errno == ENOENT)
			*cause = xstrdup("does not exist");
		else
			xasprintf(cause, "lstat: %s", strerror(errno));
		return -1;
	}
	if (S_ISLNK(st->st_mode)) {
		*cause = xstrdup("is a symbolic link");
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		*cause = xstrdup("is not a regular file");
		return -1;
	}
	/* Then check what was opened: the file may have been swapped. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ELOOP)
			*cause = xstrdup("is a symbolic link");
		else
			xasprintf(cause, "open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0) {
		xasprintf(cause, "fstat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		*cause = xstrdup("is not a regular file");
		goto fail;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		xasprintf(cause,
		    "is owned by uid %lu, neither root nor agentd's uid %lu",
		    (unsigned long)st->st_uid, (unsigned long)geteuid());
		goto fail;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		xasprintf(cause, "is writable by %s (mode %04o)",
		    (st->st_mode & S_IWOTH) != 0 ? "others" : "its group",
		    (unsigned)(st->st_mode & 07777));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Reads a whole checked file of at most cap bytes (NUL-terminated, *len
 * bytes); NULL with *cause.
 */
static char *
plug_read_all(int fd, size_t cap, size_t *len, char **cause)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	buf_init(&b, cap);
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_add(&b, chunk, (size_t)n) != 0) {
			xasprintf(cause, "is larger than %zu bytes", cap);
			goto fail;
		}
	}
	buf_add(&b, "", 0);
	*len = b.len;
	return buf_steal(&b);
fail:
	buf_free(&b);
	return NULL;
}

/* SHA-256 of an open file, from its start; -1 with *cause. */
static int
plug_sha256_fd(int fd, unsigned char out[PLUG_SHA256_LEN], char **cause)
{
	unsigned char chunk[65536];
	unsigned int outlen = 0;
	EVP_MD_CTX *ctx;
	off_t off = 0;
	ssize_t n;
	int rc = -1;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		*cause = xstrdup("SHA-256: cannot start a digest");
		goto out;
	}
	for (;;) {
		n = pread(fd, chunk, sizeof chunk, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1) {
			*cause = xstrdup("SHA-256: digest update failed");
			goto out;
		}
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, out, &outlen) != 1 ||
	    outlen != PLUG_SHA256_LEN) {
		*cause = xstrdup("SHA-256: digest final failed");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static void
plug_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
plug_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- the allow-list -------------------------------------------------------- */

static void
plug_allowlist_free(struct plug_allowlist *al)
{
	if (al == NULL)
		return;
	for (size_t i = 0; i < al->n; i++)
		free(al->v[i].name);
	free(al->v);
	free(al->path);
	free(al);
}

/* Parses one "<64 hex>  <name>" line (sha256sum's format) into a. */
static int
plug_allowlist_line(const char *s, size_t len, struct plug_allow *a)
{
	int hi, lo;

	if (len < 2 * PLUG_SHA256_LEN + 3)
		return -1;
	for (size_t i = 0; i < PLUG_SHA256_LEN; i++) {
		hi = plug_hexval(s[2 * i]);
		lo = plug_hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		a->sha256[i] = (unsigned char)(hi << 4 | lo);
	}
	s += 2 * PLUG_SHA256_LEN;
	len -= 2 * PLUG_SHA256_LEN;
	/* Two spaces, or a space and '*' (sha256sum's binary mode). */
	if (s[0] != ' ' || (s[1] != ' ' && s[1] != '*'))
		return -1;
	s += 2;
	len -= 2;
	if (len == 0 || memchr(s, '\0', len) != NULL)
		return -1;
	a->name = xstrndup(s, len);
	return 0;
}

/*
 * Reads the allow-list file, which must pass the same ownership checks
 * as a plugin.  Blank lines and lines starting with '#' are skipped.
 * Returns it, or NULL with *cause naming the file and line.
 */
static struct plug_allowlist *
plug_allowlist_read(const char *path, char **cause)
{
	struct plug_allowlist *al = NULL;
	struct stat st;
	size_t len, lineno = 0, size = 0;
	char *data = NULL, *why = NULL, *p, *end, *nl;
	int fd;

	fd = plug_open_checked(path, &st, &why);
	if (fd == -1)
		goto fail;
	data = plug_read_all(fd, PLUG_MAX_ALLOWLIST, &len, &why);
	close(fd);
	if (data == NULL)
		goto fail;

	al = xcalloc(1, sizeof *al);
	al->path = xstrdup(path);
	for (p = data, end = data + len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0 || p[0] == '#')
			continue;
		if (al->n == size) {
			size = size == 0 ? 16 : size * 2;
			al->v = xreallocarray(al->v, size, sizeof *al->v);
		}
		memset(&al->v[al->n], 0, sizeof al->v[al->n]);
		if (plug_allowlist_line(p, len, &al->v[al->n]) != 0) {
			xasprintf(cause,
			    "%s:%zu: expected '<64 hex digits>  <file name>' "
			    "as sha256sum writes it",
			    path, lineno);
			goto fail_parsed;
		}
		al->v[al->n++].line = lineno;
	}
	free(data);
	return al;

fail:
	xasprintf(cause, "%s: %s", path, why);
	free(why);
fail_parsed:
	free(data);
	plug_allowlist_free(al);
	return NULL;
}

/* Does an allow-list entry name this plugin (full path or file name)? */
static int
plug_allow_names(const struct plug_allow *a, const char *path, const char *base)
{
	if (strcmp(a->name, path) == 0)
		return 1;
	return strchr(a->name, '/') == NULL && strcmp(a->name, base) == 0;
}

/* Returns 0 when the list allows path with that hash, else -1. */
static int
plug_allowlist_check(const struct plug_allowlist *al, const char *path,
    const char *base, const unsigned char *sha256, char **cause)
{
	char hex[2 * PLUG_SHA256_LEN + 1];
	const struct plug_allow *named = NULL;

	for (size_t i = 0; i < al->n; i++) {
		if (!plug_allow_names(&al->v[i], path, base))
			continue;
		if (memcmp(al->v[i].sha256, sha256, PLUG_SHA256_LEN) == 0)
			return 0;
		if (named == NULL)
			named = &al->v[i];
	}
	plug_hex(sha256, PLUG_SHA256_LEN, hex);
	if (named == NULL) {
		xasprintf(cause, "not in the allow-list %s (SHA-256 %s)",
		    al->path, hex);
	} else {
		xasprintf(cause,
		    "SHA-256 %s does not match the allow-list %s:%zu", hex,
		    al->path, named->line);
	}
	return -1;
}

/* ---- one plugin ---------------------------------------------------------------- */

/*
 * Finds the config of a plugin whose file stem is stem: the first
 * stem.json in the plugin folders, which must be a checked file holding
 * a JSON object.  Stores a new reference in *config ({} when there is
 * none) and returns 0, or -1 with *cause naming the file and place.
 */
static int
plug_config_load(const struct plug_config *config, const char *stem,
    json_t **config_out, char **cause)
{
	json_error_t jerr;
	struct stat st;
	json_t *v;
	size_t len;
	char *path = NULL, *data, *why = NULL;
	int fd;

	*config_out = NULL;
	for (size_t i = 0; i < config->n_plugin_dirs; i++) {
		free(path);
		xasprintf(&path, "%s/%s.json", config->plugin_dirs[i], stem);
		if (lstat(path, &st) != 0 && errno == ENOENT)
			continue;
		fd = plug_open_checked(path, &st, &why);
		if (fd == -1)
			goto fail;
		data = plug_read_all(fd, PLUG_MAX_CONFIG, &len, &why);
		close(fd);
		if (data == NULL)
			goto fail;
		v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
		free(data);
		if (v == NULL) {
			xasprintf(cause, "%s:%d:%d: %s", path, jerr.line,
			    jerr.column, jerr.text);
			free(path);
			return -1;
		}
		if (!json_is_object(v)) {
			xasprintf(cause, "%s: the config must be a JSON object",
			    path);
			json_decref(v);
			free(path);
			return -1;
		}
		*config_out = v;
		free(path);
		return 0;
	}
	free(path);
	*config_out = json_object();
	return 0;
fail:
	xasprintf(cause, "%s: %s", path, why);
	free(why);
	free(path);
	return -1;
}

/*
 * Finds a loaded module for this file and takes a hold on it.  Returns it,
 * NULL when there is none, or sets *cause when the file was rewritten in
 * place while loaded (its old pages are what runs, so it cannot be
 * trusted either way).
 */
static struct plug_module *
plug_module_find(struct plug_loader *l, const struct stat *st,
    const unsigned char *sha256, char **cause)
{
	struct plug_module *m;

	pthread_mutex_lock(&l->lock);
	for (m = l->modules; m != NULL; m = m->next) {
		if (m->dev != st->st_dev || m->ino != st->st_ino)
			continue;
		if (memcmp(m->sha256, sha256, PLUG_SHA256_LEN) != 0) {
			*cause = xstrdup(
			    "was rewritten in place while loaded; install "
			    "plugins by renaming a new file over the old one "
			    "(install(1), mv)");
			m = NULL;
			break;
		}
		m->refs++;
		break;
	}
	pthread_mutex_unlock(&l->lock);
	return m;
}

/*
 * dlopen()s the checked file behind fd and validates its descriptor.  On
 * success the module (one hold, the caller's) owns fd; on failure the
 * caller still does.
 */
static struct plug_module *
plug_module_open(struct plug_loader *l, const char *path, const char *stem,
    int fd, const struct stat *st, const unsigned char *sha256, char **cause)
{
	const struct agentd_tool_module *(*entry)(const struct agentd_host *);
	const struct agentd_tool_module *desc;
	struct plug_module *m;
	char fdpath[64];
	const char *err;
	void *dl, *sym;

	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	dlerror();
	dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		err = dlerror();
		xasprintf(cause, "dlopen: %s", err != NULL ? err : "failed");
		return NULL;
	}
	dlerror();
	sym = dlsym(dl, AGENTD_TOOL_INIT_SYMBOL);
	if (sym == NULL) {
		xasprintf(cause,
		    "has no symbol %s (export it with AGENTD_EXPORT)",
		    AGENTD_TOOL_INIT_SYMBOL);
		goto fail;
	}
	/* POSIX guarantees that a data pointer from dlsym() converts. */
	memcpy(&entry, &sym, sizeof entry);
	desc = entry(&plug_host);
	if (desc == NULL) {
		xasprintf(cause, "%s() refused to load (returned NULL)",
		    AGENTD_TOOL_INIT_SYMBOL);
		goto fail;
	}
	if (AGENTD_ABI_MAJOR(desc->abi_version) != AGENTD_ABI_VERSION_MAJOR) {
		xasprintf(cause,
		    "built for plugin ABI %u.%u, but this agentd speaks ABI "
		    "%u.%u (the major versions must match)",
		    AGENTD_ABI_MAJOR(desc->abi_version),
		    AGENTD_ABI_MINOR(desc->abi_version),
		    AGENTD_ABI_VERSION_MAJOR, AGENTD_ABI_VERSION_MINOR);
		goto fail;
	}
	if (desc->struct_size < PLUG_MODULE_SIZE_1_0) {
		xasprintf(cause,
		    "module struct_size %u is smaller than the %zu bytes ABI "
		    "%u.0 requires",
		    desc->struct_size, (size_t)PLUG_MODULE_SIZE_1_0,
		    AGENTD_ABI_VERSION_MAJOR);
		goto fail;
	}
	if (desc->n_tools == 0 || desc->tools == NULL) {
		*cause = xstrdup("defines no tools");
		goto fail;
	}
	if (desc->n_tools > PLUG_MAX_TOOLS) {
		xasprintf(cause, "defines %u tools, more than the %d allowed",
		    desc->n_tools, PLUG_MAX_TOOLS);
		goto fail;
	}
	if (desc->tool_size > PLUG_MAX_TOOL_SIZE) {
		xasprintf(cause, "tool_size %u is implausible (more than %d)",
		    desc->tool_size, PLUG_MAX_TOOL_SIZE);
		goto fail;
	}
	if (desc->tool_size < PLUG_TOOL_SIZE_1_0) {
		xasprintf(cause,
		    "tool_size %u is smaller than the %zu bytes ABI %u.0 "
		    "requires",
		    desc->tool_size, (size_t)PLUG_TOOL_SIZE_1_0,
		    AGENTD_ABI_VERSION_MAJOR);
		goto fail;
	}

	m = xcalloc(1, sizeof *m);
	m->loader = l;
	m->refs = 1;
	m->path = xstrdup(path);
	m->fd = fd;
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	memcpy(m->sha256, sha256, PLUG_SHA256_LEN);
	m->dl = dl;
	m->desc = desc;
	if (desc->name != NULL && *desc->name != '\0')
		m->name = plug_message(desc->name);
	else
		m->name = xstrdup(stem);

	pthread_mutex_lock(&l->lock);
	l->refs++;
	m->next = l->modules;
	l->modules = m;
	pthread_mutex_unlock(&l->lock);
	return m;

fail:
	dlclose(dl);
	return NULL;
}

/* The i-th ABI tool of a module, at the plugin's own stride. */
static const struct agentd_tool *
plug_module_tool(const struct plug_module *m, uint32_t i)
{
	const char *base = (const char *)m->desc->tools;

	return (const struct agentd_tool *)(const void *)(base +
	    (size_t)i * m->desc->tool_size);
}

/* Says who already defines a tool name, for the refusal message. */
static char *
plug_collect_owner(const struct plug_collect *c, const char *name)
{
	char *s;

	for (size_t i = 0; i < c->n_added; i++) {
		if (strcmp(plug_tool_name(c->added[i]), name) == 0) {
			xasprintf(&s, "tool '%s' is already defined by %s",
			    name, plug_tool_origin(c->added[i]));
			return s;
		}
	}
	xasprintf(&s,
	    "tool '%s' is already defined (by a built-in or Lua tool)", name);
	return s;
}

/* Checks an ABI tool's fields and makes its registry tool. */
static struct plug_tool *
plug_tool_make(struct agentd_plugin *inst, const struct agentd_tool *def,
    uint32_t index, char **cause)
{
	struct plug_ctool *ct;
	struct plug_tool *t;
	json_error_t jerr;
	json_t *schema;
	char *msg;

	if (def->name == NULL || def->description == NULL ||
	    def->schema == NULL || def->call == NULL) {
		if (def->name == NULL)
			msg = xstrdup("name");
		else if (def->description == NULL)
			msg = xstrdup("description");
		else if (def->schema == NULL)
			msg = xstrdup("schema");
		else
			msg = xstrdup("call function");
		xasprintf(cause, "tool %u has no %s", index + 1, msg);
		free(msg);
		return NULL;
	}
	schema = json_loads(def->schema, JSON_REJECT_DUPLICATES, &jerr);
	if (schema == NULL) {
		msg = plug_message(def->name);
		xasprintf(cause,
		    "tool '%s': schema is not JSON: %s (line %d, column %d)",
		    msg, jerr.text, jerr.line, jerr.column);
		free(msg);
		return NULL;
	}
	ct = xcalloc(1, sizeof *ct);
	ct->inst = inst;
	ct->def = def;
	t = plug_tool_new(def->name, def->description, schema, PLUG_SOURCE_C,
	    inst->module->path, &plug_ctool_ops, ct, cause);
	json_decref(schema);
	if (t == NULL) {
		free(ct);
		return NULL;
	}
	atomic_fetch_add(&inst->refs, 1);
	return t;
}

/*
 * Makes a new instance of m (which takes over the caller's hold on m) and
 * adds its tools to the build, all or none.  Returns the number added,
 * or -1 with *cause.
 */
static int
plug_instance_add(struct plug_collect *c, struct plug_module *m,
    const char *stem, char **cause)
{
	const struct agentd_tool_module *desc = m->desc;
	struct agentd_plugin *inst;
	struct plug_tool **tools, *t;
	const char *name;
	char *why = NULL, *text, *error = NULL, *msg;
	uint32_t n = desc->n_tools, made = 0;
	int rc = -1;

	inst = xcalloc(1, sizeof *inst);
	atomic_init(&inst->refs, 1);
	inst->module = m;
	tools = xcalloc(n, sizeof *tools);

	if (plug_config_load(c->config, stem, &inst->config, cause) != 0)
		goto out;
	for (made = 0; made < n;) {
		t = plug_tool_make(
		    inst, plug_module_tool(m, made), made, cause);
		if (t == NULL)
			goto out;
		tools[made++] = t;
		name = plug_tool_name(t);
		if (plug_build_has(c->build, name)) {
			*cause = plug_collect_owner(c, name);
			goto out;
		}
		for (uint32_t j = 0; j + 1 < made; j++) {
			if (strcmp(plug_tool_name(tools[j]), name) == 0) {
				xasprintf(cause,
				    "tool '%s' is defined twice in the plugin",
				    name);
				goto out;
			}
		}
	}

	/* Every tool is good: make the instance live, then publish. */
	if (desc->init != NULL) {
		text = json_dumps(inst->config, JSON_COMPACT);
		if (text == NULL)
			fatalx("%s: out of memory", __func__);
		rc = desc->init(
		    &plug_host, inst, text, strlen(text), &inst->data, &error);
		free(text);
		if (rc != 0) {
			msg = plug_message(error);
			xasprintf(cause, "init failed: %s", msg);
			free(msg);
			free(error);
			rc = -1;
			goto out;
		}
		free(error); /* a message despite success: ignore it */
	}
	inst->live = 1;
	m->published = 1;
	for (uint32_t i = 0; i < n; i++) {
		t = tools[i];
		tools[i] = NULL;
		if (plug_build_add(c->build, t, &why) != 0) {
			/* Checked above; only a racing provider could. */
			log_warn("plugin %s: %s", m->path, why);
			free(why);
			why = NULL;
			continue;
		}
		if (c->n_added == c->size_added) {
			c->size_added =
			    c->size_added == 0 ? 16 : 2 * c->size_added;
			c->added = xreallocarray(
			    c->added, c->size_added, sizeof *c->added);
		}
		c->added[c->n_added++] = t; /* borrowed from the build */
	}
	rc = (int)n;
out:
	for (uint32_t i = 0; i < made; i++)
		plug_tool_unref(tools[i]);
	free(tools);
	plug_instance_unref(inst);
	return rc;
}

/*
 * Loads one file into the build.  Returns the number of tools added, or
 * -1 with *cause saying why the plugin was refused.
 */
static int
plug_load_file(
    struct plug_collect *c, const char *path, const char *base, char **cause)
{
	unsigned char sha256[PLUG_SHA256_LEN];
	struct plug_module *m;
	struct stat st;
	char *stem, *why = NULL;
	int fd, rc;

	fd = plug_open_checked(path, &st, cause);
	if (fd == -1)
		return -1;
	if (plug_sha256_fd(fd, sha256, cause) != 0 ||
	    (c->al != NULL &&
	        plug_allowlist_check(c->al, path, base, sha256, cause) != 0)) {
		close(fd);
		return -1;
	}
	m = plug_module_find(c->loader, &st, sha256, &why);
	if (m != NULL || why != NULL) {
		close(fd);
		if (m == NULL) {
			*cause = why;
			return -1;
		}
	}
	stem = xstrndup(base, strlen(base) - 3); /* without ".so" */
	if (m == NULL) {
		m = plug_module_open(
		    c->loader, path, stem, fd, &st, sha256, cause);
		if (m == NULL) {
			close(fd);
			free(stem);
			return -1;
		}
	}
	rc = plug_instance_add(c, m, stem, cause);
	free(stem);
	return rc;
}

static int
plug_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists the *.so files of a folder, sorted, skipping hidden ones.  Returns
 * the number (names in *names, allocated) or -1 with *cause.
 */
static int
plug_dir_list(const char *dir, char ***names, char **cause)
{
	struct dirent *de;
	size_t n = 0, len;
	char **v;
	DIR *d;

	*names = NULL;
	if ((d = opendir(dir)) == NULL) {
		*cause = xstrdup(strerror(errno));
		return -1;
	}
	v = xcalloc(PLUG_MAX_FILES, sizeof *v);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 3 ||
		    strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		if (n == PLUG_MAX_FILES) {
			log_warn("plugin folder %s: more than %d plugins; the "
			         "rest are ignored",
			    dir, PLUG_MAX_FILES);
			break;
		}
		v[n++] = xstrdup(de->d_name);
	}
	if (de == NULL && errno != 0) {
		xasprintf(cause, "readdir: %s", strerror(errno));
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		closedir(d);
		return -1;
	}
	closedir(d);
	qsort(v, n, sizeof *v, plug_name_cmp);
	*names = v;
	return (int)n;
}

void
plug_loader_collect(
    void *arg, const struct plug_config *config, struct plug_build *build)
{
	struct plug_collect c;
	char **names, *path, *cause = NULL;
	size_t loaded = 0, refused = 0;
	int n, rc;

	if (config->n_plugin_dirs == 0)
		return;
	memset(&c, 0, sizeof c);
	c.loader = arg;
	c.config = config;
	c.build = build;
	if (config->plugin_allowlist != NULL) {
		c.al = plug_allowlist_read(config->plugin_allowlist, &cause);
		if (c.al == NULL) {
			log_err("plugin allow-list %s; no C plugin is loaded",
			    cause);
			free(cause);
			return;
		}
	}
	for (size_t i = 0; i < config->n_plugin_dirs; i++) {
		n = plug_dir_list(config->plugin_dirs[i], &names, &cause);
		if (n < 0) {
			log_warn("plugin folder %s: %s", config->plugin_dirs[i],
			    cause);
			free(cause);
			cause = NULL;
			continue;
		}
		for (int j = 0; j < n; j++) {
			xasprintf(
			    &path, "%s/%s", config->plugin_dirs[i], names[j]);
			rc = plug_load_file(&c, path, names[j], &cause);
			if (rc < 0) {
				log_warn("plugin %s: refused: %s", path, cause);
				free(cause);
				cause = NULL;
				refused++;
			} else {
				log_info("plugin %s: loaded, %d tool%s", path,
				    rc, rc == 1 ? "" : "s");
				loaded++;
			}
			free(path);
			free(names[j]);
		}
		free(names);
	}
	free(c.added);
	plug_allowlist_free(c.al);
	log_info("C plugins: %zu loaded, %zu refused", loaded, refused);
}
