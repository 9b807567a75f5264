/*
 * slow.c: a test plugin whose tool, slow, takes as long as the test wants,
 * for reloading while a call is in flight.
 *
 * Config (slow.json): "label" (text in every result, so a test can tell
 * instances apart), and optionally "start_fd" and "release_fd", two pipe
 * ends of the test: a call writes one byte to start_fd when it begins and
 * then waits for a byte on release_fd, polling host->cancelled() every
 * 20 ms.  Without them it sleeps "ms" milliseconds.  The result is
 * "<label>: done", or an error "<label>: cancelled".
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "plugins/agentd/tool.h"

struct slow_data {
	char label[64];
	int start_fd;
	int release_fd;
};

static const struct agentd_host *host;

static void
slow(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const struct slow_data *sd = data;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	struct pollfd pfd;
	int64_t ms = 0;
	char c = 's';

	(void)tool;
	(void)args;
	(void)args_len;
	if (host->json_int(host->json_get(host->call_args(call), "ms"), &ms) !=
	    0)
		ms = 0;
	if (sd->start_fd >= 0 && write(sd->start_fd, &c, 1) != 1) {
		host->result_printf(
		    res, 1, "%s: start_fd: write failed", sd->label);
		return;
	}
	for (;;) {
		if (host->cancelled(call)) {
			host->result_printf(res, 1, "%s: cancelled", sd->label);
			return;
		}
		if (sd->release_fd >= 0) {
			pfd.fd = sd->release_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 20) == 1 &&
			    read(sd->release_fd, &c, 1) == 1)
				break;
			continue;
		}
		if (ms <= 0)
			break;
		nanosleep(&ts, NULL);
		ms -= 20;
	}
	host->result_printf(res, 0, "%s: done", sd->label);
}

static int
slow_config_fd(const struct agentd_host *h, const struct agentd_json *conf,
    const char *key)
{
	int64_t fd;

	if (h->json_int(h->json_get(conf, key), &fd) != 0 || fd < 0 ||
	    fd > 65535)
		return -1;
	return (int)fd;
}

static int
slow_init(const struct agentd_host *h, struct agentd_plugin *plugin,
    const char *config, size_t config_len, void **data, char **error)
{
	const struct agentd_json *conf = h->plugin_config(plugin);
	struct slow_data *sd;
	const char *label;

	(void)config;
	(void)config_len;
	(void)error;
	sd = h->alloc(sizeof *sd);
	if (sd == NULL)
		return -1;
	label = h->json_string(h->json_get(conf, "label"), NULL);
	snprintf(
	    sd->label, sizeof sd->label, "%s", label != NULL ? label : "slow");
	sd->start_fd = slow_config_fd(h, conf, "start_fd");
	sd->release_fd = slow_config_fd(h, conf, "release_fd");
	*data = sd;
	return 0;
}

static void
slow_fini(void *data)
{
	host->free(data);
}

static const struct agentd_tool tools[] = {
	{
	    .name = "slow",
	    .description = "Takes its time.",
	    .schema = "{\"type\":\"object\",\"properties\":{\"ms\":"
	              "{\"type\":\"integer\",\"minimum\":0,"
	              "\"maximum\":60000}},"
	              "\"required\":[],\"additionalProperties\":false}",
	    .call = slow,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "slow",
	.init = slow_init,
	.fini = slow_fini,
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	host = h;
	return &module;
}
