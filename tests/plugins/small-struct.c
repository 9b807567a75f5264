/*
 * small-struct.c: a test plugin whose module descriptor claims a
 * struct_size smaller than ABI 1.0 requires, which the loader must refuse
 * before reading any field past it.
 */
#include "plugins/agentd/tool.h"

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = 8,
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	(void)h;
	return &module;
}
