/*
 * plugins-int.h: declarations shared by the files of plugins/ only.
 *
 * Built-in tools follow one recipe: plugins/tool-<name>.c exports one
 * const struct plug_builtin plug_builtin_<name>, and registry.c lists
 * them all in one table.  Each snapshot build calls init() to make the
 * tool's state from the config (so the knowledge-base index is rebuilt on
 * every reload), and the state is freed with the tool.
 */
#ifndef AGENTD_PLUGINS_PLUGINS_INT_H
#define AGENTD_PLUGINS_PLUGINS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "plugins/plugins.h"

struct plug_builtin {
	const char *name;
	/* Verbatim from DESIGN.md's table: it is in every prompt. */
	const char *description;
	/* The arguments' schema as JSON text. */
	const char *schema;
	/*
	 * Makes the tool's state from the config.  Returns 0 with *state
	 * set (NULL is a valid state), 1 when the config leaves the tool
	 * off (nothing to log), or -1 with *cause when it cannot start (the
	 * tool is left out and the cause logged).
	 */
	int (*init)(
	    const struct plug_config *config, void **state, char **cause);
	/* As struct plug_tool_ops. */
	void (*call)(void *state, const json_t *args,
	    const struct plug_call *call, struct plug_result *res);
	void (*free)(void *state);
};

extern const struct plug_builtin plug_builtin_calc;
extern const struct plug_builtin plug_builtin_file_read;
extern const struct plug_builtin plug_builtin_http_get;
extern const struct plug_builtin plug_builtin_kb_search;

/*
 * http_get's guarded fetch, for other callers (Lua's agentd module):
 * fetches url under config's http_* settings (host allow-list, address
 * checks on every connection and redirect, size and time limits; it does
 * not look at http_enabled) and fills res exactly as the tool does.
 */
void plug_http_fetch(const struct plug_config *config, const char *url,
    const struct plug_call *call, struct plug_result *res);

/*
 * calc's evaluator, for tests and other callers: evaluates expr (len
 * bytes) and returns the result text as calc prints it (allocated), or
 * NULL with *cause set to "division by zero", "integer overflow",
 * "syntax error at column N" and the like.
 */
char *plug_calc_eval(const char *expr, size_t len, char **cause);

/*
 * kb_search's index, for tests: built from a folder (max_file bytes per
 * file, 0 for the default); NULL with *cause when the folder cannot be
 * read.  plug_kb_search() returns the output text for a query and k
 * (allocated) or NULL with *cause when the query has no words; when
 * scores is not NULL it receives the BM25 score of each passage printed,
 * in order (at most k of them).
 */
struct plug_kb;
struct plug_kb *plug_kb_new(const char *dir, size_t max_file, char **cause);
void plug_kb_free(struct plug_kb *kb);
size_t plug_kb_passages(const struct plug_kb *kb);
char *plug_kb_search(const struct plug_kb *kb, const char *query, int k,
    double *scores, char **cause);

/*
 * file_read: when set, openat2() is treated as missing, so tests can run
 * the fallback path on kernels that have it.
 */
extern int plug_file_read_no_openat2;

/* A copy of a plug_config with every string and list owned by it. */
struct plug_config *plug_config_dup(const struct plug_config *config);
void plug_config_free(struct plug_config *config);

/*
 * A JSON number as a long double (exact for every int64 and double), for
 * tools that read numeric arguments: the schema accepts 3.0 as an
 * integer, which json_integer_value() would read as 0.
 */
long double plug_json_number(const json_t *v);

#endif /* AGENTD_PLUGINS_PLUGINS_INT_H */
