/*
 * bad-schema.c: a test plugin with one good tool and one whose schema
 * uses a keyword outside the supported subset ("pattern"), so the loader
 * must refuse the whole plugin.
 */
#include "plugins/agentd/tool.h"

static const struct agentd_host *host;

static void
answer(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	(void)data;
	(void)args;
	(void)args_len;
	(void)call;
	host->result_printf(res, 0, "%s ran", tool->name);
}

static const struct agentd_tool tools[] = {
	{
	    .name = "schema_ok",
	    .description = "A tool with a good schema.",
	    .schema = "{\"type\":\"object\",\"properties\":{},"
	              "\"required\":[],\"additionalProperties\":false}",
	    .call = answer,
	},
	{
	    .name = "schema_bad",
	    .description = "A tool with a schema outside the subset.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"q\":"
	              "{\"type\":\"string\",\"pattern\":\"^a\"}},"
	              "\"required\":[],\"additionalProperties\":false}",
	    .call = answer,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "bad-schema",
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	host = h;
	return &module;
}
