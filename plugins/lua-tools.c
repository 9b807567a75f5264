/*
 * lua-tools.c: Lua tools in the registry, a provider over lua/.
 *
 * plug_lua_collect() is a plug_provider collect hook.  Each build it
 * loads every top-level *.lua file of config->lua_dirs, in folder order
 * and then name order, with script_tool_load() (which runs the chunk once
 * in the sandbox and turns its parameters table into a schema), and
 * registers the result as a PLUG_SOURCE_LUA tool whose origin is the
 * file's path.  A file that fails to load, whose schema the registry
 * refuses, or whose name is already taken is left out with a log line
 * naming the file; the others load regardless.  Every build loads the
 * files afresh, so a reload picks up edits, and calls in flight keep the
 * script they started with (both sides are reference counted).
 *
 * The scripts' agentd.http_get is the built-in's guarded fetch
 * (plug_http_fetch()) under the same config, lent only when http_get is
 * enabled; otherwise scripts get nil and "agentd.http_get is not
 * enabled".
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/util.h"
#include "lua/script.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* A Lua tool's implementation: the script and what its host needs. */
struct plug_lua_tool {
	struct script_tool *script;
	struct plug_config *config; /* for agentd.http_get */
};

static int plug_lua_http_get(void *arg, const char *url,
    const struct script_call *call, struct script_result *res, char **cause);
static void plug_lua_call(void *impl, const json_t *args,
    const struct plug_call *call, struct plug_result *res);
static void plug_lua_free(void *impl);
static int plug_lua_name_cmp(const void *a, const void *b);
static void plug_lua_load(const char *path, const struct plug_config *config,
    struct plug_build *build);
static void plug_lua_scan(const char *dir, const struct plug_config *config,
    struct plug_build *build);

static const struct plug_tool_ops plug_lua_ops = {
	.call = plug_lua_call,
	.free = plug_lua_free,
};

/* agentd.http_get for scripts: the built-in fetch, on the script's thread. */
static int
plug_lua_http_get(void *arg, const char *url, const struct script_call *call,
    struct script_result *res, char **cause)
{
	struct plug_lua_tool *lt = arg;
	struct plug_result pr;
	struct plug_call pc;

	(void)cause;
	memset(&pc, 0, sizeof pc);
	pc.tool = "http_get";
	pc.deadline_ns = call != NULL ? call->deadline_ns : 0;
	pc.cancel = call != NULL ? call->cancel : NULL;
	pc.max_output_bytes = lt->config->http_max_bytes != 0
	    ? lt->config->http_max_bytes
	    : PLUG_DEFAULT_HTTP_MAX_BYTES;
	memset(&pr, 0, sizeof pr);
	plug_http_fetch(lt->config, url, &pc, &pr);
	if (pr.text == NULL)
		plug_result_error(&pr, "http_get returned no result");
	res->text = pr.text;
	res->len = pr.len;
	res->is_error = pr.is_error;
	return 0;
}

/* Runs the script under the call's deadline and cancel flag. */
static void
plug_lua_call(void *impl, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	struct plug_lua_tool *lt = impl;
	struct script_result sr;
	struct script_call sc;

	memset(&sc, 0, sizeof sc);
	sc.deadline_ns = call->deadline_ns;
	sc.cancel = call->cancel;
	memset(&sr, 0, sizeof sr);
	script_tool_call(lt->script, args, &sc, &sr);
	res->text = sr.text;
	res->len = sr.len;
	res->is_error = sr.is_error;
}

static void
plug_lua_free(void *impl)
{
	struct plug_lua_tool *lt = impl;

	if (lt == NULL)
		return;
	script_tool_unref(lt->script);
	plug_config_free(lt->config);
	free(lt);
}

static int
plug_lua_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads one file and adds its tool, logging why when it cannot. */
static void
plug_lua_load(const char *path, const struct plug_config *config,
    struct plug_build *build)
{
	struct script_limits limits;
	struct script_host host;
	struct plug_lua_tool *lt;
	struct plug_tool *t;
	char *cause = NULL;

	lt = xcalloc(1, sizeof *lt);
	lt->config = plug_config_dup(config);

	memset(&limits, 0, sizeof limits);
	limits.max_instructions = config->lua_max_instructions;
	limits.max_memory = config->lua_max_memory;
	limits.max_output = config->max_output_bytes;
	memset(&host, 0, sizeof host);
	host.arg = lt;
	if (config->http_enabled)
		host.http_get = plug_lua_http_get;

	lt->script = script_tool_load(path, &limits, &host, &cause);
	if (lt->script == NULL) {
		/* lua/ names the file in its messages already. */
		log_warn("Lua tool not loaded: %s", cause);
		goto fail;
	}
	t = plug_tool_new(script_tool_name(lt->script),
	    script_tool_description(lt->script), script_tool_schema(lt->script),
	    PLUG_SOURCE_LUA, path, &plug_lua_ops, lt, &cause);
	if (t == NULL) {
		log_warn("Lua tool %s: not loaded: %s", path, cause);
		goto fail;
	}
	/* From here the tool owns lt, whatever plug_build_add() says. */
	if (plug_build_add(build, t, &cause) != 0) {
		log_warn("Lua tool %s: not loaded: %s", path, cause);
		free(cause);
		return;
	}
	log_debug("Lua tool %s: loaded '%s'", path, plug_tool_name(t));
	return;

fail:
	free(cause);
	plug_lua_free(lt);
}

/* Loads the top-level *.lua files of one folder, in name order. */
static void
plug_lua_scan(
    const char *dir, const struct plug_config *config, struct plug_build *build)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL, *path;
	size_t n = 0, len;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		log_warn("Lua tools: %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 4 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 4, ".lua") != 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, plug_lua_name_cmp);

	for (size_t i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			log_warn("Lua tool %s: not a regular file", path);
		else
			plug_lua_load(path, config, build);
		free(path);
		free(names[i]);
	}
	free(names);
}

void
plug_lua_collect(
    void *arg, const struct plug_config *config, struct plug_build *build)
{
	(void)arg;
	for (size_t i = 0; i < config->n_lua_dirs; i++)
		plug_lua_scan(config->lua_dirs[i], config, build);
}
