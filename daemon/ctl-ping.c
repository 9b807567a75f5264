/*
 * ctl-ping.c: `agentctl ping [COUNT]`: sends daemon.ping COUNT times
 * (default 1) on one connection and prints each round trip, then, for
 * more than one, the minimum, average and maximum.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

/* The most pings one command sends. */
#define PING_MAX_COUNT 1000000

static enum ctl_exit ping_exec(struct ctl_ctx *ctx, int argc, char **argv);

const struct ctl_cmd ctl_cmd_ping = {
	.name = "ping",
	.usage = "[COUNT]",
	.summary = "check that the daemon answers; print the round trip",
	.min_args = 0,
	.max_args = 1,
	.exec = ping_exec,
};

static enum ctl_exit
ping_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *result, *line;
	enum ctl_exit rc;
	uint64_t start;
	double ms, min = 0, max = 0, sum = 0;
	long count = 1;
	char *end;

	if (argc == 1) {
		errno = 0;
		count = strtol(argv[0], &end, 10);
		if (*argv[0] == '\0' || *end != '\0' || errno != 0 ||
		    count < 1 || count > PING_MAX_COUNT) {
			return ctl_usage_error(ctx,
			    "COUNT '%s' is not a number from 1 to %d", argv[0],
			    PING_MAX_COUNT);
		}
	}

	/* Time the round trips only, not the connection's set-up. */
	if ((rc = ctl_connect(ctx)) != CTL_EXIT_OK)
		return rc;
	for (long seq = 1; seq <= count; seq++) {
		start = clock_mono_ns();
		rc = ctl_request(ctx, "daemon.ping", NULL, &result);
		if (rc != CTL_EXIT_OK)
			return rc;
		ms = (double)(clock_mono_ns() - start) / 1e6;
		if (seq == 1 || ms < min)
			min = ms;
		if (seq == 1 || ms > max)
			max = ms;
		sum += ms;

		if (ctx->json) {
			line = json_pack("{s:I, s:f, s:O}", "seq",
			    (json_int_t)seq, "time_ms", ms, "result", result);
			if (line == NULL)
				fatalx("%s: cannot build a line", __func__);
			ctl_print_json(ctx, stdout, line);
			json_decref(line);
		} else {
			printf("pong from %s: seq=%ld time=%.3f ms\n",
			    ctx->socket_path, seq, ms);
		}
		json_decref(result);
	}
	if (count > 1 && !ctx->json) {
		printf("%ld pings: min/avg/max = %.3f/%.3f/%.3f ms\n", count,
		    min, sum / (double)count, max);
	}
	return CTL_EXIT_OK;
}
