/*
 * agentd.c: main() of the daemon.
 *
 * agentd always runs in the foreground, as systemd expects of a
 * Type=notify service; it logs to stderr with sd-daemon priority
 * prefixes.  Exit status: 0 after a clean shutdown or a good
 * --check-config, 1 when it cannot start (bad config, socket in use),
 * 2 on a usage error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

static void usage(FILE *);
static void agentd_event_log(int, const char *);
static void agentd_event_fatal(int);

static const struct option longopts[] = {
	{ "check-config", no_argument, NULL, 'C' },
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "socket", required_argument, NULL, 's' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentd [-c FILE] [-s PATH] [-l LEVEL] [--check-config]\n"
	    "       agentd -V | -h\n"
	    "  -c, --config FILE     read FILE instead of %s\n"
	    "  -s, --socket PATH     listen on PATH\n"
	    "  -l, --log-level LEVEL err, warn, notice, info or debug\n"
	    "      --check-config    check the configuration and exit\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    DMN_CONFIG_PATH);
}

/* libevent's own messages go through our logger. */
static void
agentd_event_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warn("libevent: %s", msg);
		break;
	default:
		log_err("libevent: %s", msg);
		break;
	}
}

static void
agentd_event_fatal(int err)
{
	fatalx("libevent: fatal error %d", err);
}

int
main(int argc, char **argv)
{
	struct dmn_options opts = { NULL, NULL, -1 };
	struct dmn_config *config;
	struct dmn_server *srv;
	struct sigaction sa;
	char *cause = NULL;
	int ch, check = 0, rc;

	while (
	    (ch = getopt_long(argc, argv, "c:hl:s:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			check = 1;
			break;
		case 'c':
			opts.config_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'l':
			if ((opts.log_level = log_level_parse(optarg)) == -1) {
				fprintf(stderr,
				    "agentd: unknown log level '%s' (err, "
				    "warn, notice, info, debug)\n",
				    optarg);
				return 2;
			}
			break;
		case 's':
			opts.socket = optarg;
			break;
		case 'V':
			printf("agentd %s\n", AGENTD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(
		    stderr, "agentd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (opts.log_level != -1)
		log_level = opts.log_level;

	/* Writes to a closed socket fail with EPIPE instead. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	if ((config = dmn_options_config(&opts, &cause)) == NULL) {
		log_err("%s", cause);
		free(cause);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n",
		    config->file != NULL ? config->file : "built-in defaults");
		dmn_config_free(config);
		return 0;
	}
	if (dmn_options_apply(&opts, config, &cause) != 0) {
		log_err("%s", cause);
		free(cause);
		dmn_config_free(config);
		return 1;
	}
	log_level = config->log_level;

	/* Locking must be on before the base exists: workers wake it. */
	if (evthread_use_pthreads() != 0)
		fatalx("libevent: no pthreads support");
	event_set_log_callback(agentd_event_log);
	event_set_fatal_callback(agentd_event_fatal);

	if ((srv = dmn_server_new(&opts, config, &cause)) == NULL) {
		log_err("%s", cause);
		free(cause);
		return 1;
	}
	rc = dmn_server_run(srv);
	dmn_server_free(srv);
	return rc;
}
