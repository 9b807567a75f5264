/*
 * runtime.c: the daemon's side of the agent runtime (runtime.h).
 *
 * It turns agentd.conf into the settings of the tool registry (struct
 * plug_config) and of the agent runtime (struct agent_runtime_config),
 * builds both at start, rebuilds them on SIGHUP and plugins.reload on a
 * worker (loading plugins, Lua files and a model must never block the
 * loop), and maps the runtime's kinds of failure to JSON-RPC errors.
 *
 * Defaults for paths the config leaves out: the model is the first
 * "*.gguf" in models/ of the data directory (a *-q8_0.gguf first), the ReAct
 * template is agent/prompts/react-v1.txt there, and traces go to
 * $STATE_DIRECTORY/traces under systemd, /var/lib/agentd/traces for root,
 * and $XDG_STATE_HOME/agentd/traces (~/.local/state/agentd/traces)
 * otherwise.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "daemon/daemon-int.h"
#include "daemon/paths.h"
#include "daemon/protocol.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "plugins/plugins.h"

#define TEMPLATE_REL "agent/prompts/react-v1.txt"
#define MODELS_REL   "models"

struct dmn_agent {
	atomic_size_t n_generating; /* model.generate calls in flight */
	struct plug_loader *loader;
	struct plug_registry *registry;
	struct agent_runtime *rt;
	struct plug_provider providers[2];
};

/* Everything a (re)load needs, copied out of a config. */
struct agent_settings {
	struct plug_config plug;
	struct agent_runtime_config run;
	const char *roots[1];
	const char *plugin_dirs[1];
	const char *lua_dirs[1];
	char *strings[16]; /* what the pointers above point into */
	size_t n_strings;
};

struct reload_job {
	struct dmn_agent *agent;
	struct dmn_request *req; /* NULL for SIGHUP */
	struct agent_settings set;
};

static char *settings_dup(struct agent_settings *, const char *);
static char *settings_own(struct agent_settings *, char *);
static void settings_fill(struct agent_settings *, const struct dmn_config *);
static void settings_free(struct agent_settings *);
static char *model_default(void);
static char *trace_dir_default(void);
static int mkdir_p(const char *, mode_t);
static void reload_work(void *);
static int reload_submit(struct dmn_agent *, struct dmn_pool *,
    struct dmn_request *, const struct dmn_config *, char **);

/* Keeps a copy of s in the settings; returns it (NULL stays NULL). */
static char *
settings_dup(struct agent_settings *set, const char *s)
{
	if (s == NULL)
		return NULL;
	AGENTD_ASSERT(
	    set->n_strings < sizeof set->strings / sizeof set->strings[0]);
	set->strings[set->n_strings] = xstrdup(s);
	return set->strings[set->n_strings++];
}

/* Takes ownership of s into the settings. */
static char *
settings_own(struct agent_settings *set, char *s)
{
	if (s == NULL)
		return NULL;
	AGENTD_ASSERT(
	    set->n_strings < sizeof set->strings / sizeof set->strings[0]);
	set->strings[set->n_strings++] = s;
	return s;
}

static void
settings_free(struct agent_settings *set)
{
	for (size_t i = 0; i < set->n_strings; i++)
		free(set->strings[i]);
	set->n_strings = 0;
}

/* The first "*.gguf" in models/ of the data directory, "-q8_0" first. */
static char *
model_default(void)
{
	struct dirent *de;
	char *dir, *best = NULL, *p;
	int best_q8 = 0, q8;
	size_t len;
	DIR *d;

	dir = dmn_datadir_path(MODELS_REL);
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".gguf") != 0 ||
		    de->d_name[0] == '.')
			continue;
		q8 = len > 10 &&
		    strcmp(de->d_name + len - 10, "-q8_0.gguf") == 0;
		if (best != NULL &&
		    (best_q8 > q8 ||
		        (best_q8 == q8 && strcmp(best, de->d_name) < 0)))
			continue;
		free(best);
		best = xstrdup(de->d_name);
		best_q8 = q8;
	}
	closedir(d);
	p = NULL;
	if (best != NULL)
		xasprintf(&p, "%s/%s", dir, best);
	free(best);
	free(dir);
	return p;
}

/* Creates dir and its missing parents with mode. */
static int
mkdir_p(const char *dir, mode_t mode)
{
	char *copy = xstrdup(dir), *p;
	int rc = 0;

	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) == -1 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*p = '/';
	}
	if (rc == 0 && mkdir(copy, mode) == -1 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

/* Where traces go when the config does not say (see the header). */
static char *
trace_dir_default(void)
{
	const char *state = getenv("STATE_DIRECTORY"), *home, *xdg;
	char *p = NULL;
	size_t n;

	if (state != NULL && *state == '/') {
		/* systemd lists several folders with ':'; take the first. */
		n = strcspn(state, ":");
		xasprintf(&p, "%.*s/traces", (int)n, state);
	} else if (getuid() == 0) {
		p = xstrdup("/var/lib/agentd/traces");
	} else if ((xdg = getenv("XDG_STATE_HOME")) != NULL && *xdg == '/') {
		xasprintf(&p, "%s/agentd/traces", xdg);
	} else if ((home = getenv("HOME")) != NULL && *home == '/') {
		xasprintf(&p, "%s/.local/state/agentd/traces", home);
	} else {
		return NULL;
	}
	if (mkdir_p(p, 0700) != 0)
		log_warn("%s: cannot create the trace folder: %s", p,
		    strerror(errno));
	return p;
}

/* Copies what the tools and the runtime need out of a config. */
static void
settings_fill(struct agent_settings *set, const struct dmn_config *c)
{
	struct plug_config *pc = &set->plug;
	struct agent_runtime_config *rc = &set->run;
	char *spec;

	memset(set, 0, sizeof *set);
	pc->call_timeout_ms = (uint32_t)c->tool_timeout_ms;
	pc->kb_dir = settings_dup(set, c->kb_dir);
	if (c->file_read_root != NULL) {
		set->roots[0] = settings_dup(set, c->file_read_root);
		pc->file_roots = set->roots;
		pc->n_file_roots = 1;
	}
	pc->http_enabled = c->http_get;
	if (c->plugin_dir != NULL) {
		set->plugin_dirs[0] = settings_dup(set, c->plugin_dir);
		pc->plugin_dirs = set->plugin_dirs;
		pc->n_plugin_dirs = 1;
	}
	pc->plugin_allowlist = settings_dup(set, c->plugin_allowlist);
	if (c->lua_tools_dir != NULL) {
		set->lua_dirs[0] = settings_dup(set, c->lua_tools_dir);
		pc->lua_dirs = set->lua_dirs;
		pc->n_lua_dirs = 1;
	}

	if (c->scripted_model != NULL) {
		xasprintf(&spec, "scripted:%s", c->scripted_model);
		rc->model = settings_own(set, spec);
	} else if (c->model != NULL) {
		rc->model = settings_dup(set, c->model);
	} else {
		rc->model = settings_own(set, model_default());
	}
	rc->template_path = settings_own(set, dmn_datadir_path(TEMPLATE_REL));
	rc->trace_dir = c->trace_dir != NULL
	    ? settings_dup(set, c->trace_dir)
	    : settings_own(set, trace_dir_default());
	rc->trace_fsync = c->trace_fsync;
	rc->trace_max_age_s = c->trace_max_age;
	rc->trace_max_bytes = c->trace_max_bytes;
	rc->agents_dir = settings_dup(set, c->agents_dir);
	rc->max_runs = c->max_runs;
	rc->tool_timeout_ms = (uint32_t)c->tool_timeout_ms;
}

struct dmn_agent *
dmn_agent_new(const struct dmn_config *c, char **cause)
{
	struct agent_settings set;
	struct dmn_agent *a;

	a = xcalloc(1, sizeof *a);
	atomic_init(&a->n_generating, 0);
	a->loader = plug_loader_new();
	a->providers[0].name = "C plugins";
	a->providers[0].collect = plug_loader_collect;
	a->providers[0].arg = a->loader;
	a->providers[1].name = "Lua tools";
	a->providers[1].collect = plug_lua_collect;
	a->providers[1].arg = NULL;

	settings_fill(&set, c);
	a->registry = plug_registry_new(&set.plug, a->providers, 2, cause);
	if (a->registry == NULL)
		goto fail;
	a->rt = agent_runtime_new(&set.run, a->registry, cause);
	if (a->rt == NULL)
		goto fail;
	settings_free(&set);
	return a;

fail:
	settings_free(&set);
	dmn_agent_free(a);
	return NULL;
}

void
dmn_agent_free(struct dmn_agent *a)
{
	if (a == NULL)
		return;
	agent_runtime_free(a->rt);
	plug_registry_free(a->registry);
	plug_loader_free(a->loader);
	free(a);
}

struct plug_registry *
dmn_agent_registry(struct dmn_agent *a)
{
	return a->registry;
}

struct agent_runtime *
dmn_agent_runtime(struct dmn_agent *a)
{
	return a->rt;
}

/* On a worker: rebuild the tools, then the runtime. */
static void
reload_work(void *arg)
{
	struct reload_job *job = arg;
	struct plug_set *set;
	json_t *list, *agents;
	char *cause = NULL;
	int failed = 0;

	if (plug_registry_reload(
	        job->agent->registry, &job->set.plug, &cause) != 0) {
		log_err("reload: tools: %s; keeping the old ones", cause);
		failed = 1;
	} else if (agent_runtime_reload(
	               job->agent->rt, &job->set.run, &cause) != 0) {
		log_err("reload: agents: %s; keeping the old ones", cause);
		failed = 1;
	}
	set = plug_registry_get(job->agent->registry);
	list = agent_runtime_agents_json(job->agent->rt);
	agents = json_object_get(list, "agents");
	log_notice("reload: %zu tools (generation %llu), %zu agents",
	    plug_set_count(set), (unsigned long long)plug_set_generation(set),
	    json_array_size(agents));
	if (job->req != NULL) {
		if (failed)
			dmn_request_error(job->req, DMN_ERR_INTERNAL,
			    "reload failed",
			    json_pack("{s:s}", "detail", cause));
		else
			dmn_request_reply(job->req,
			    json_pack("{s:I, s:I, s:I}", "tools",
			        (json_int_t)plug_set_count(set), "generation",
			        (json_int_t)plug_set_generation(set), "agents",
			        (json_int_t)json_array_size(agents)));
	}
	json_decref(list);
	free(cause);
	plug_set_unref(set);
	settings_free(&job->set);
	free(job);
}

static int
reload_submit(struct dmn_agent *a, struct dmn_pool *pool,
    struct dmn_request *req, const struct dmn_config *c, char **cause)
{
	struct reload_job *job;

	job = xcalloc(1, sizeof *job);
	job->agent = a;
	job->req = req;
	settings_fill(&job->set, c);
	if (dmn_pool_submit(pool, reload_work, NULL, job, cause) != 0) {
		settings_free(&job->set);
		free(job);
		return -1;
	}
	return 0;
}

void
dmn_agent_reload_async(
    struct dmn_agent *a, struct dmn_pool *pool, const struct dmn_config *c)
{
	char *cause = NULL;

	if (a == NULL)
		return;
	if (reload_submit(a, pool, NULL, c, &cause) != 0) {
		log_err("reload: %s", cause);
		free(cause);
	}
}

int
dmn_agent_reload_request(struct dmn_agent *a, struct dmn_request *req,
    const struct dmn_config *c, char **cause)
{
	return reload_submit(a, dmn_request_pool(req), req, c, cause);
}

struct dmn_agent *
dmn_agent_of(struct dmn_request *req)
{
	struct dmn_agent *a = dmn_request_ctx(req)->agent;

	if (a == NULL)
		dmn_request_error(req, DMN_ERR_MODEL,
		    "the agent runtime is not running",
		    json_pack("{s:s}", "detail",
		        "this daemon was started without tools and agents"));
	return a;
}

void
dmn_agent_error(struct dmn_request *req, enum agent_err err, const char *cause,
    json_t *extra)
{
	json_t *data = json_pack("{s:s}", "detail", cause);
	int code = DMN_ERR_INTERNAL;

	switch (err) {
	case AGENT_ERR_PARAMS:
		code = DMN_ERR_INVALID_PARAMS;
		break;
	case AGENT_ERR_UNKNOWN_NAME:
		code = DMN_ERR_UNKNOWN_NAME;
		break;
	case AGENT_ERR_UNKNOWN_RUN:
		code = DMN_ERR_UNKNOWN_RUN;
		break;
	case AGENT_ERR_OVERLOADED:
		code = DMN_ERR_OVERLOADED;
		break;
	case AGENT_ERR_MODEL:
		code = DMN_ERR_MODEL;
		break;
	case AGENT_ERR_INTERNAL:
		code = DMN_ERR_INTERNAL;
		break;
	}
	if (extra != NULL) {
		json_object_update(data, extra);
		json_decref(extra);
	}
	dmn_request_error(req, code, NULL, data);
}

int
dmn_agent_generate_begin(struct dmn_agent *a, size_t max, char **cause)
{
	size_t n = atomic_fetch_add(&a->n_generating, 1);

	if (n >= max) {
		atomic_fetch_sub(&a->n_generating, 1);
		xasprintf(cause,
		    "%zu generations are in flight (max_runs); try again later",
		    n);
		return -1;
	}
	return 0;
}

void
dmn_agent_generate_end(struct dmn_agent *a)
{
	atomic_fetch_sub(&a->n_generating, 1);
}

int
dmn_params_string(const json_t *params, const char *name, char **cause)
{
	const char *key;
	json_t *v;

	if (!json_is_object(params)) {
		xasprintf(cause, "params must be an object with \"%s\"", name);
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)params, key, v)
	{
		if (strcmp(key, name) != 0) {
			xasprintf(cause, "unknown member \"%s\"", key);
			return -1;
		}
	}
	v = json_object_get(params, name);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 256) {
		xasprintf(cause, "\"%s\" must be a non-empty string", name);
		return -1;
	}
	return 0;
}
