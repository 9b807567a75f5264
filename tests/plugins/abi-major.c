/*
 * abi-major.c: a test plugin built for a future ABI major version (2.0),
 * which the loader must refuse, naming both versions.
 */
#include "plugins/agentd/tool.h"

static void
never(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	(void)data;
	(void)tool;
	(void)args;
	(void)args_len;
	(void)call;
	(void)res;
}

static const struct agentd_tool tools[] = {
	{
	    .name = "future_tool",
	    .description = "Exists only in ABI 2.",
	    .schema = "{\"type\":\"object\",\"properties\":{},"
	              "\"required\":[],\"additionalProperties\":false}",
	    .call = never,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = (uint32_t)2 << 16 | 0,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "abi-major",
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	(void)h;
	return &module;
}
