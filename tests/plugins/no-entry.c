/*
 * no-entry.c: a test plugin without the agentd_tool_init entry point (it
 * exports a function of another name), which the loader must refuse.
 */
#include "plugins/agentd/tool.h"

AGENTD_EXPORT int agentd_tool_init_misspelt(void);

AGENTD_EXPORT int
agentd_tool_init_misspelt(void)
{
	return 42;
}
