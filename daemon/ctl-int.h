/*
 * ctl-int.h: agentctl's internals, shared by daemon/agentctl.c and the
 * daemon/ctl-*.c files.  Nothing else includes it; the daemon and the
 * client share only daemon/protocol.h and daemon/sockpath.h.
 *
 * A command is one `const struct ctl_cmd ctl_cmd_<name>` in its own
 * daemon/ctl-<name>.c, listed in the table in daemon/agentctl.c.
 */
#ifndef AGENTD_DAEMON_CTL_INT_H
#define AGENTD_DAEMON_CTL_INT_H

#include <stdio.h>

#include <jansson.h>

/* Exit statuses, as agentctl(1) documents them. */
enum ctl_exit {
	CTL_EXIT_OK = 0,          /* the command succeeded */
	CTL_EXIT_ERROR = 1,       /* the daemon answered with an error */
	CTL_EXIT_USAGE = 2,       /* bad command line */
	CTL_EXIT_UNREACHABLE = 3, /* no daemon, no answer or a bad one */
};

/* The most bytes one line from the daemon may hold. */
#define CTL_MAX_LINE (64 * 1024 * 1024)
/* The most bytes of JSON parameters read from standard input. */
#define CTL_MAX_PARAMS (16 * 1024 * 1024)
/* How long a request may wait for its response, by default. */
#define CTL_DEFAULT_TIMEOUT_MS 30000

/*
 * ctl-conn.c: one connection to the daemon, used the blocking way: a
 * request goes out, then lines are read until its response arrives.
 */
struct ctl_conn;

/*
 * Called for each notification that arrives before the response to the
 * request being waited on.  method and params (which may be NULL) are
 * borrowed and valid during the call only.
 */
typedef void ctl_notify_fn(const char *method, json_t *params, void *arg);

/*
 * Connects to the socket at path, waiting at most timeout_ms (0: no
 * limit) for room in the daemon's backlog.  Returns a new connection
 * (free with ctl_conn_free), or NULL with *cause set.
 */
struct ctl_conn *ctl_conn_open(const char *path, int timeout_ms, char **cause);
/* Closes the connection and frees it; NULL is ignored. */
void ctl_conn_free(struct ctl_conn *conn);

/*
 * Sends the request {"jsonrpc":"2.0","id":N,"method":method,
 * "params":params} (params borrowed; omitted when NULL) and reads lines
 * until the response with id N arrives, passing notifications to notify
 * (which may be NULL) on the way.  The wait is limited by the timeout
 * given to ctl_conn_open.
 *
 * Returns 0 when a response arrived: then exactly one of *result (the
 * result) and *error (the error object, with an integer "code" and a
 * string "message") is set, as a new reference the caller frees.
 * Returns -1 with *cause set when the request could not be sent, the
 * daemon closed the connection, the time ran out, or a line was not
 * valid JSON-RPC 2.0 or exceeded CTL_MAX_LINE; the connection is then
 * unusable.
 */
int ctl_conn_call(struct ctl_conn *conn, const char *method, json_t *params,
    ctl_notify_fn *notify, void *arg, json_t **result, json_t **error,
    char **cause);

/* The state of one agentctl invocation, handed to every command. */
struct ctl_ctx {
	const char *cmd;         /* the command's name */
	const char *usage;       /* its arguments, for messages */
	const char *socket_flag; /* --socket, or NULL */
	char *socket_path;       /* resolved by the first request */
	int json;                /* --json: raw JSON output */
	int timeout_ms;          /* --timeout; 0 is no limit */
	struct ctl_conn *conn;   /* opened by the first request */
	ctl_notify_fn *notify;   /* ctl_request's notification sink */
	void *notify_arg;
};

/* A command: one entry in agentctl's table. */
struct ctl_cmd {
	const char *name;
	const char *usage;   /* the arguments' synopsis, e.g. "METHOD" */
	const char *summary; /* one line for `agentctl help` */
	int min_args;
	int max_args; /* -1: no limit */
	/* Runs with the arguments after the name; returns the exit status. */
	enum ctl_exit (*exec)(struct ctl_ctx *ctx, int argc, char **argv);
};

extern const struct ctl_cmd ctl_cmd_agents;
extern const struct ctl_cmd ctl_cmd_call;
extern const struct ctl_cmd ctl_cmd_cancel;
extern const struct ctl_cmd ctl_cmd_eval;
extern const struct ctl_cmd ctl_cmd_help;
extern const struct ctl_cmd ctl_cmd_methods;
extern const struct ctl_cmd ctl_cmd_ping;
extern const struct ctl_cmd ctl_cmd_run;
extern const struct ctl_cmd ctl_cmd_status;
extern const struct ctl_cmd ctl_cmd_tool;
extern const struct ctl_cmd ctl_cmd_tools;
extern const struct ctl_cmd ctl_cmd_trace;

/* agentctl.c: the command table, NULL-terminated. */
extern const struct ctl_cmd *const ctl_cmds[];

/*
 * agentctl.c: resolves the socket path and connects, unless that is done
 * already.  Returns CTL_EXIT_OK, or reports why not on stderr and returns
 * CTL_EXIT_USAGE (a bad --socket) or CTL_EXIT_UNREACHABLE.
 */
enum ctl_exit ctl_connect(struct ctl_ctx *ctx);
/*
 * agentctl.c: sends one request on the invocation's connection (opening
 * it first if needed).  On a result, sets *result (new reference) and
 * returns CTL_EXIT_OK.  Otherwise reports the failure on stderr (the
 * daemon's error with its code and data, or why the daemon could not be
 * reached) and returns CTL_EXIT_ERROR or CTL_EXIT_UNREACHABLE.
 * Notifications go to ctx->notify, or are printed by ctl_print_notify.
 */
enum ctl_exit ctl_request(
    struct ctl_ctx *ctx, const char *method, json_t *params, json_t **result);
/* Prints "agentctl: <cmd>: <message>" on stderr. */
void ctl_warn(const struct ctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* As ctl_warn, adds the command's usage line; returns CTL_EXIT_USAGE. */
enum ctl_exit ctl_usage_error(const struct ctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * ctl-strategy.c: builds agent.run params from `--strategy NAME` (may be
 * NULL) and the n_sets `--set KEY=VALUE` arguments in sets (borrowed).
 * VALUE is JSON when it parses, else a string.  "strategy.KEY", and a
 * KEY that is a setting of the named strategy (n, temperature,
 * early_stop, breadth, beam, depth, scorer, min_thinking_tokens,
 * max_thinking_tokens, wait_text, judge, ...), go into the strategy;
 * other KEYs are set in params; "a.b" sets member b of object a.  On
 * success returns 0 and sets *strategy to a new {"name": NAME, ...}, or
 * to NULL when name is NULL.  Returns -1 with *cause (a usage message
 * starting with the option; the caller frees it) for a malformed
 * argument, an unknown strategy, a setting the named strategy does not
 * have, or a strategy setting without --strategy; params may then hold
 * some of the settings.
 */
int ctl_strategy_build(const char *name, const char *const *sets, size_t n_sets,
    json_t *params, json_t **strategy, char **cause);

/* The most configurations one `agentctl eval --compare` runs. */
#define CTL_COMPARE_MAX 16

/* ctl-chart.c: one configuration on the accuracy-against-tokens chart. */
struct ctl_chart_point {
	const char *label; /* the configuration, as given */
	double tokens;     /* mean output tokens per item */
	double accuracy;   /* share of items passed, 0 to 1 */
	double ci_low;     /* its 95% interval */
	double ci_high;
};
/*
 * Returns a new SVG document (caller frees) plotting the n points:
 * accuracy with its interval against tokens per item, the points joined
 * in order of tokens, under title.  Labels are escaped for XML.
 */
char *ctl_chart_svg(
    const struct ctl_chart_point *pts, size_t n, const char *title);

/*
 * ctl-print.c: output.  With --json every value is one compact line;
 * otherwise values are laid out for people.
 */
/*
 * Writes len bytes of s with C0 and C1 control characters (but for tab
 * and newline) escaped as \xNN or \uNNNN, so that text from the daemon
 * cannot drive the terminal.
 */
void ctl_print_text(FILE *f, const char *s, size_t len);
/* Prints v as JSON: compact with --json, indented otherwise. */
void ctl_print_json(const struct ctl_ctx *ctx, FILE *f, json_t *v);
/*
 * Prints v for people: an object as aligned "key: value" lines (nested
 * values indented below their key), an array of scalars on one line, an
 * array of objects as blocks, strings without quotes.
 */
void ctl_print_human(FILE *f, json_t *v, int indent);
/* Formats a duration in milliseconds as "3d 4h 5m 6s" (owned). */
char *ctl_format_duration(double ms);
/* The default notification sink: one line on stdout, then a flush. */
void ctl_print_notify(const char *method, json_t *params, void *arg);

#endif /* AGENTD_DAEMON_CTL_INT_H */
