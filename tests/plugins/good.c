/*
 * good.c: a test plugin that follows the ABI, for tests/unit/
 * test-plugins-loader.c.
 *
 * Tools: greet (config and instance data), fail (an error result),
 * echo_args (the arguments' JSON text as received), sum (the host's JSON
 * accessors over an array), odd_result (results a careless plugin might
 * leave: none, no length, bytes that are not UTF-8) and good_stats (how
 * many instances are live, which shows when fini() ran).  Its config (good.json) may hold
 * "greeting" (text) and "fail_init" (true: init() fails).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plugins/agentd/tool.h"

struct good_data {
	char greeting[64];
};

static const struct agentd_host *host;
static atomic_int live_instances;
static atomic_int inits;

static void
greet(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const struct good_data *gd = data;
	const char *name;
	size_t len;

	(void)tool;
	(void)args;
	(void)args_len;
	name = host->json_string(
	    host->json_get(host->call_args(call), "name"), &len);
	if (name == NULL) {
		host->result_printf(res, 1, "name is missing");
		return;
	}
	host->result_printf(res, 0, "%s, %.*s!", gd->greeting, (int)len, name);
}

static void
fail(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	(void)data;
	(void)args;
	(void)args_len;
	(void)call;
	host->result_printf(res, 1, "%s always fails", tool->name);
}

static void
echo_args(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	struct agentd_json *v;

	(void)data;
	(void)tool;
	/* The text must parse back to the same object the host lends. */
	v = host->json_parse(args, args_len);
	if (v == NULL || host->json_type(v) != AGENTD_JSON_OBJECT ||
	    host->json_size(v) != host->json_size(host->call_args(call))) {
		host->json_free(v);
		host->result_printf(res, 1, "arguments do not round-trip");
		return;
	}
	host->json_free(v);
	res->text = host->alloc(args_len + 1);
	if (res->text == NULL)
		return;
	memcpy(res->text, args, args_len);
	res->text[args_len] = '\0';
	res->len = args_len;
}

static void
sum(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const struct agentd_json *a = host->call_args(call), *v;
	double total = 0, d;
	int64_t itotal = 0, i;
	int exact = 1, as_int = 0;

	(void)data;
	(void)tool;
	(void)args;
	(void)args_len;
	v = host->json_get(a, "numbers");
	if (host->json_type(v) != AGENTD_JSON_ARRAY) {
		host->result_printf(res, 1, "numbers is not an array");
		return;
	}
	if (host->json_bool(host->json_get(a, "as_int"), &as_int) != 0)
		as_int = 0;
	for (size_t k = 0; k < host->json_size(v); k++) {
		if (host->json_number(host->json_at(v, k), &d) != 0) {
			host->result_printf(
			    res, 1, "element %zu is no number", k);
			return;
		}
		total += d;
		if (host->json_int(host->json_at(v, k), &i) == 0)
			itotal += i;
		else
			exact = 0;
	}
	if (host->json_at(v, host->json_size(v)) != NULL) {
		host->result_printf(res, 1, "json_at past the end");
		return;
	}
	if (as_int && exact)
		host->result_printf(res, 0, "%lld", (long long)itotal);
	else if (as_int)
		host->result_printf(res, 1, "not all integers");
	else
		host->result_printf(res, 0, "%g", total);
}

static void
odd_result(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const char *mode;

	(void)data;
	(void)tool;
	(void)args;
	(void)args_len;
	mode = host->json_string(
	    host->json_get(host->call_args(call), "mode"), NULL);
	if (mode == NULL || strcmp(mode, "none") == 0)
		return;
	res->text = host->alloc(8);
	if (res->text == NULL)
		return;
	if (strcmp(mode, "nolen") == 0) {
		memcpy(res->text, "abc", 4);
		res->len = 0;
	} else {
		memcpy(res->text, "a\xff\0b", 4);
		res->len = 3;
	}
}

static void
good_stats(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	(void)data;
	(void)tool;
	(void)args;
	(void)args_len;
	host->result_printf(res, 0,
	    "live=%d inits=%d abi=%u.%u remaining=%s max_output=%zu",
	    atomic_load(&live_instances), atomic_load(&inits),
	    AGENTD_ABI_MAJOR(host->abi_version),
	    AGENTD_ABI_MINOR(host->abi_version),
	    host->remaining_ms(call) > 0 ? "yes" : "no",
	    host->max_output(call));
}

static int
good_init(const struct agentd_host *h, struct agentd_plugin *plugin,
    const char *config, size_t config_len, void **data, char **error)
{
	const struct agentd_json *conf = h->plugin_config(plugin);
	struct good_data *gd;
	struct agentd_json *parsed;
	const char *greeting;
	size_t len;
	int flag = 0;

	/* The text and the parsed config must agree. */
	parsed = h->json_parse(config, config_len);
	if (parsed == NULL || h->json_size(parsed) != h->json_size(conf)) {
		h->json_free(parsed);
		*error = h->format("config text and object differ");
		return -1;
	}
	h->json_free(parsed);
	if (h->json_bool(h->json_get(conf, "fail_init"), &flag) == 0 && flag) {
		*error = h->format("asked to fail by its config");
		return -1;
	}
	gd = h->alloc(sizeof *gd);
	if (gd == NULL)
		return -1;
	greeting = h->json_string(h->json_get(conf, "greeting"), &len);
	if (greeting == NULL || len >= sizeof gd->greeting)
		greeting = "Hello";
	snprintf(gd->greeting, sizeof gd->greeting, "%s", greeting);
	*data = gd;
	atomic_fetch_add(&live_instances, 1);
	atomic_fetch_add(&inits, 1);
	h->log(plugin, AGENTD_LOG_INFO, "greeting is '%s'", gd->greeting);
	return 0;
}

static void
good_fini(void *data)
{
	atomic_fetch_sub(&live_instances, 1);
	host->free(data);
}

#define NO_ARGS                                                   \
	"{\"type\":\"object\",\"properties\":{},\"required\":[]," \
	"\"additionalProperties\":false}"

static const struct agentd_tool tools[] = {
	{
	    .name = "greet",
	    .description = "Greets someone by name.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"name\":"
	              "{\"type\":\"string\",\"maxLength\":64}},"
	              "\"required\":[\"name\"],\"additionalProperties\":false}",
	    .call = greet,
	},
	{
	    .name = "fail",
	    .description = "Always fails.",
	    .schema = NO_ARGS,
	    .call = fail,
	},
	{
	    .name = "echo_args",
	    .description = "Returns its arguments as JSON text.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"text\":"
	              "{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}},"
	              "\"required\":[],\"additionalProperties\":false}",
	    .call = echo_args,
	},
	{
	    .name = "sum",
	    .description = "Adds numbers.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"numbers\":"
	              "{\"type\":\"array\",\"items\":{\"type\":\"number\"}},"
	              "\"as_int\":{\"type\":\"boolean\"}},"
	              "\"required\":[\"numbers\"],"
	              "\"additionalProperties\":false}",
	    .call = sum,
	},
	{
	    .name = "odd_result",
	    .description = "Returns odd results.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"mode\":"
	              "{\"enum\":[\"none\",\"nolen\",\"binary\"]}},"
	              "\"required\":[\"mode\"],\"additionalProperties\":false}",
	    .call = odd_result,
	},
	{
	    .name = "good_stats",
	    .description = "Reports the plugin's instance counts.",
	    .schema = NO_ARGS,
	    .call = good_stats,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "good",
	.version = "1.0",
	.init = good_init,
	.fini = good_fini,
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	host = h;
	return &module;
}
