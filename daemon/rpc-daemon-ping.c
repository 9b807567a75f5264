/*
 * rpc-daemon-ping.c: daemon.ping, the cheapest round trip.  It takes no
 * params and answers {"pong": true}.
 */
#include <jansson.h>

#include "daemon/daemon-int.h"

static int daemon_ping_exec(struct dmn_request *, char **);

const struct dmn_method dmn_method_daemon_ping = {
	.name = "daemon.ping",
	.description = "Checks that the daemon answers; returns {\"pong\": "
	               "true}.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = daemon_ping_exec,
};

static int
daemon_ping_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	dmn_request_reply(req, json_pack("{s:b}", "pong", 1));
	return 0;
}
