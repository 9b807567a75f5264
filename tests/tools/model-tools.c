/*
 * model-tools.c: runs the real built-in tools for the bundled model's
 * training-data generator and evaluation driver (models/train/).
 *
 *	model-tools KB_DIR [LUA_DIR]
 *
 * Builds a tool registry exactly as the daemon does (calc, kb_search over
 * KB_DIR, and file_read and http_get switched on so that their prompt
 * lines exist; neither is ever called here; the Lua tools of LUA_DIR when
 * given), then answers requests read from stdin, one JSON object a
 * line, with one JSON object a line on stdout:
 *
 *	{"prompt": true}
 *	    -> {"lines": ["calc: Evaluates ... Arguments: {...}", ...]}
 *	       every tool's {{tools}} line, in name order
 *	{"call": NAME, "args": VALUE}
 *	    -> {"text": TEXT, "error": BOOL}      the tool ran
 *	    -> {"invalid": WHAT}                  arguments refused
 *	    -> {"unknown": NAME}                  no such tool
 *
 * WHAT is the "<what>" of DESIGN.md's "Error: invalid arguments for X:
 * <what>"; rendering observations (newlines, the 1000-byte cut, "Error:")
 * is the caller's job, as it is the runtime's.  A line that is not such a
 * request ends the program with exit status 1 and a message naming the
 * line number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins.h"

static int tools_prompt(struct plug_set *s);
static int tools_call(struct plug_set *s, const json_t *req, size_t lineno);
static int tools_print(json_t *out);

/* Prints out on one line and drops the reference; 0 or -1. */
static int
tools_print(json_t *out)
{
	char *text;

	text = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(out);
	if (text == NULL) {
		fprintf(stderr, "model-tools: cannot encode a reply\n");
		return -1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

/* Replies with every tool's prompt line, in name order. */
static int
tools_prompt(struct plug_set *s)
{
	json_t *lines = json_array();

	for (size_t i = 0; i < plug_set_count(s); i++) {
		char *line = plug_tool_prompt_line(plug_set_tool(s, i));

		json_array_append_new(lines, json_string(line));
		free(line);
	}
	return tools_print(json_pack("{s:o}", "lines", lines));
}

/* Runs one call and replies with its outcome. */
static int
tools_call(struct plug_set *s, const json_t *req, size_t lineno)
{
	struct plug_result res;
	struct plug_tool *t;
	const json_t *name, *args;
	char *cause = NULL;
	json_t *out;

	name = json_object_get(req, "call");
	args = json_object_get(req, "args");
	if (!json_is_string(name) || args == NULL) {
		fprintf(stderr,
		    "model-tools: stdin:%zu: a call needs \"call\" (a string) "
		    "and \"args\"\n",
		    lineno);
		return -1;
	}
	t = plug_set_find(s, json_string_value(name));
	if (t == NULL)
		return tools_print(json_pack("{s:O}", "unknown", name));
	if (!json_is_object(args) ||
	    plug_tool_call(t, args, NULL, NULL, &res, &cause) != 0) {
		out = json_pack("{s:s}", "invalid",
		    cause != NULL ? cause : "not a JSON object");
		free(cause);
		return tools_print(out);
	}
	out = json_pack(
	    "{s:s%,s:b}", "text", res.text, res.len, "error", res.is_error);
	plug_result_clear(&res);
	return tools_print(out);
}

int
main(int argc, char **argv)
{
	struct plug_config config;
	struct plug_registry *r;
	struct plug_set *s;
	json_error_t jerr;
	json_t *req;
	char *line = NULL, *cause = NULL;
	const char *roots[1], *lua_dirs[1];
	struct plug_provider lua = { "Lua tools", plug_lua_collect, NULL };
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 1;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: model-tools KB_DIR [LUA_DIR]\n");
		return 2;
	}
	log_level = LOG_LEVEL_WARN;
	roots[0] = argv[1];
	memset(&config, 0, sizeof config);
	config.kb_dir = argv[1];
	config.file_roots = roots;
	config.n_file_roots = 1;
	config.http_enabled = 1;
	if (argc == 3) {
		lua_dirs[0] = argv[2];
		config.lua_dirs = lua_dirs;
		config.n_lua_dirs = 1;
	}
	r = plug_registry_new(&config, &lua, argc == 3 ? 1 : 0, &cause);
	if (r == NULL) {
		fprintf(stderr, "model-tools: %s\n", cause);
		free(cause);
		return 1;
	}
	s = plug_registry_get(r);
	if (plug_set_find(s, "kb_search") == NULL) {
		fprintf(stderr, "model-tools: %s: kb_search did not start\n",
		    argv[1]);
		goto out;
	}
	while ((n = getline(&line, &cap, stdin)) != -1) {
		int failed;

		lineno++;
		req = json_loadb(line, (size_t)n, 0, &jerr);
		if (!json_is_object(req)) {
			fprintf(stderr,
			    "model-tools: stdin:%zu: not a JSON object: %s\n",
			    lineno, req == NULL ? jerr.text : "other value");
			json_decref(req);
			goto out;
		}
		if (json_is_true(json_object_get(req, "prompt")))
			failed = tools_prompt(s);
		else
			failed = tools_call(s, req, lineno);
		json_decref(req);
		if (failed != 0)
			goto out;
		fflush(stdout);
	}
	if (ferror(stdin)) {
		fprintf(stderr, "model-tools: stdin: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	plug_set_unref(s);
	plug_registry_free(r);
	return rc;
}
