/*
 * rpc-daemon-ping.c: daemon.ping, the cheapest round trip.  It takes no
 * params and answers {"pong": true}.
 *
 * The answer never changes, so it is built once and each reply takes a
 * reference to it (jansson's reference counts are atomic, and nothing
 * modifies an answer): a ping allocates nothing for its result.
 */
#include <pthread.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

static int daemon_ping_exec(struct dmn_request *, char **);
static void daemon_ping_init(void);

const struct dmn_method dmn_method_daemon_ping = {
	.name = "daemon.ping",
	.description = "Checks that the daemon answers; returns {\"pong\": "
	               "true}.",
	.flags = 0,
	.check = dmn_params_none,
	.exec = daemon_ping_exec,
};

static pthread_once_t daemon_ping_once = PTHREAD_ONCE_INIT;
/* {"pong": true}, shared by every reply; it lives as long as the process. */
static json_t *daemon_ping_result;

static void
daemon_ping_init(void)
{
	daemon_ping_result = json_pack("{s:b}", "pong", 1);
	if (daemon_ping_result == NULL)
		fatalx("daemon.ping: out of memory");
}

static int
daemon_ping_exec(struct dmn_request *req, char **cause)
{
	(void)cause;
	pthread_once(&daemon_ping_once, daemon_ping_init);
	dmn_request_reply(req, json_incref(daemon_ping_result));
	return 0;
}
