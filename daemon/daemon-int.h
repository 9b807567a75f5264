/*
 * daemon-int.h: declarations shared between the files of daemon/ (and its
 * unit tests).  No other module includes it.
 *
 * The pieces, bottom up: the config (config.c), the NDJSON framer
 * (framing.c), the locked queue into the loop and the worker pool
 * (queue.c, pool.c), the JSON-RPC engine that turns framed lines into
 * requests and answers (jsonrpc.c, request.c), the method table (rpc.c
 * and rpc-*.c), the listening socket (listen.c), connections (conn.c) and
 * the server that ties them to the libevent loop, signals and systemd
 * (server.c).  daemon/agentd.c is main().
 */
#ifndef AGENTD_DAEMON_DAEMON_INT_H
#define AGENTD_DAEMON_DAEMON_INT_H

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/daemon.h"
#include "daemon/util.h"

struct event_base;

/* glibc's <sys/queue.h> lacks the BSD _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                  \
	for ((var) = TAILQ_FIRST(head);                             \
	     (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif

/* ---- config.c: agentd.conf(5) ----------------------------------------- */

/* The config file read when -c names none, if it exists. */
#define DMN_CONFIG_PATH "/etc/agentd/agentd.conf"

/* Longest config line and largest config file accepted. */
#define DMN_CONFIG_MAX_LINE 4096
#define DMN_CONFIG_MAX_FILE (1024 * 1024)

/* How long a shutdown waits for requests in flight. */
#define DMN_DEFAULT_SHUTDOWN_TIMEOUT_MS 10000

/*
 * A parsed config.  Built-in defaults first, then what the file says.
 * Strings and arrays are owned by the config.
 */
struct dmn_config {
	char *file; /* the file read, or NULL for the defaults */
	char *dir;  /* its folder: relative paths resolve against it */

	char *socket; /* NULL: found as DESIGN.md says */
	unsigned int socket_mode;
	int log_level;
	size_t max_message_bytes;
	size_t max_depth;
	size_t max_batch;
	size_t max_connections;
	uint64_t idle_timeout_ms; /* 0: never */
	size_t max_output_bytes;
	uint64_t shutdown_timeout_ms;
	size_t workers; /* 0: one per online CPU */
	int debug_methods;
	uid_t *allow_uid;
	size_t n_allow_uid;
	gid_t *allow_gid;
	size_t n_allow_gid;

	/* The agent runtime and its tools (daemon/runtime.c). */
	char *agents_dir;       /* Lua agents */
	char *file_read_root;   /* file_read's folder; NULL: no file_read */
	int http_get;           /* offer http_get */
	char *kb_dir;           /* kb_search's knowledge base */
	char *lua_tools_dir;    /* Lua tools */
	size_t max_runs;        /* agent runs in flight */
	char *model;            /* a GGUF file; NULL: the bundled one */
	char *plugin_allowlist; /* SHA-256 list of allowed plugins, or NULL */
	char *plugin_dir;       /* C plugins (*.so) */
	char *scripted_model;   /* tests: a scripted backend's script */
	uint64_t tool_timeout_ms;
	char *trace_dir; /* NULL: $STATE_DIRECTORY/traces or the like */
	int trace_fsync; /* enum agent_trace_fsync: never, always, everysec */
	size_t trace_max_age;   /* seconds; 0: no limit */
	size_t trace_max_bytes; /* 0: no limit */
};

/* How a directive's value is read. */
enum dmn_conf_type {
	DMN_CONF_PATH,  /* a path; relative ones resolve against the file */
	DMN_CONF_SIZE,  /* bytes: an integer with an optional k, m or g */
	DMN_CONF_COUNT, /* a plain non-negative integer (size_t) */
	DMN_CONF_MS,    /* milliseconds, a plain integer (uint64_t) */
	DMN_CONF_MODE,  /* an octal file mode */
	DMN_CONF_LEVEL, /* a log level name */
	DMN_CONF_BOOL,  /* yes/no, on/off, true/false, 1/0 */
	DMN_CONF_UID,   /* a user name or number, appended to a list */
	DMN_CONF_GID,   /* a group name or number, appended to a list */
	DMN_CONF_FSYNC, /* never, always or everysec (an int 0, 1, 2) */
};

/* Directive flags. */
#define DMN_DIRECTIVE_REPEAT  0x1 /* may appear more than once (lists) */
#define DMN_DIRECTIVE_RESTART 0x2 /* a change needs a restart */

/*
 * One directive.  Later modules add theirs as one table entry in config.c
 * and one field in struct dmn_config.
 */
struct dmn_directive {
	const char *name;
	enum dmn_conf_type type;
	size_t offset;       /* of the field in struct dmn_config */
	size_t count_offset; /* lists: of the element count */
	uint64_t min;        /* numbers: the accepted range */
	uint64_t max;
	int flags;
};

extern const struct dmn_directive dmn_directives[];
extern const size_t dmn_ndirectives;

/*
 * Returns rel inside the data directory fixed at build time (dmn_datadir):
 * the default of a data path directive (caller frees).
 */
char *dmn_datadir_path(const char *rel);
/* Returns a new config holding the built-in defaults (caller frees). */
struct dmn_config *dmn_config_new(void);
/*
 * Reads the config file at path over the defaults.  Returns a new config
 * (caller frees), or NULL with *cause saying "FILE:LINE: ..." and naming
 * the directive.
 */
struct dmn_config *dmn_config_load(const char *path, char **cause);
/*
 * Parses len bytes of config text into c, as if read from the file named
 * file (used in messages; relative paths resolve against its folder).
 * Returns 0, or -1 with *cause; c is then partly updated.
 */
int dmn_config_parse(struct dmn_config *c, const char *file, const char *text,
    size_t len, char **cause);
/* Frees a config; NULL is accepted. */
void dmn_config_free(struct dmn_config *c);
/* Finds a directive by name, or NULL. */
const struct dmn_directive *dmn_directive_find(const char *name);
/* Returns 1 if the directive has the same value in a and b, else 0. */
int dmn_config_equal(const struct dmn_directive *d, const struct dmn_config *a,
    const struct dmn_config *b);
/* Copies a directive's value from src into dst. */
void dmn_config_copy_value(const struct dmn_directive *d,
    struct dmn_config *dst, const struct dmn_config *src);
/* Writes a directive's value as config text (caller frees). */
char *dmn_config_value(
    const struct dmn_directive *d, const struct dmn_config *c);
/*
 * Returns 1 if a peer with this uid and gid may use the daemon: the allow
 * lists are empty, or hold the uid or the gid, or the uid is root or self.
 */
int dmn_config_allows(
    const struct dmn_config *c, uid_t uid, gid_t gid, uid_t self);

/* ---- framing.c: NDJSON lines with a cap --------------------------------- */

/*
 * A line reader.  Bytes go in with dmn_framer_feed(); complete lines come
 * out of dmn_framer_next() without their "\n" or "\r\n".  Empty lines and
 * lines of only blanks are skipped.  A line longer than max bytes, or not
 * valid UTF-8, is reported instead of returned.  Feed only after next()
 * returned DMN_FRAME_MORE: then the framer holds at most max + 1 bytes of
 * an unfinished line plus what was fed.
 */
struct dmn_framer {
	char *data;
	size_t size;    /* allocated */
	size_t start;   /* first byte not yet returned */
	size_t len;     /* end of the buffered bytes */
	size_t scanned; /* data[start..scanned) holds no '\n' */
	size_t max;
	uint64_t line; /* lines taken so far, blank ones included */
	int discard;   /* skipping the rest of a too long line */
	int eof;       /* no more input: a final unterminated line counts */
};

enum dmn_frame {
	DMN_FRAME_MORE = 0, /* no complete line: feed more */
	DMN_FRAME_LINE,     /* *line, *len hold the next line */
	DMN_FRAME_TOO_LONG, /* a line passes max; it is skipped */
	DMN_FRAME_BAD_UTF8, /* a line is not UTF-8; *len is the bad offset */
};

/* Initialises a framer for lines of at most max bytes. */
void dmn_framer_init(struct dmn_framer *f, size_t max);
/* Frees the framer's memory. */
void dmn_framer_free(struct dmn_framer *f);
/* Changes the cap (a config reload); applies from the next line. */
void dmn_framer_set_max(struct dmn_framer *f, size_t max);
/* Appends bytes read from the peer. */
void dmn_framer_feed(struct dmn_framer *f, const void *data, size_t len);
/*
 * Reading straight into the framer: returns room for want more bytes
 * (valid until the next call); then dmn_framer_commit() says how many
 * were stored there.  Together they do what dmn_framer_feed() does,
 * without a copy.
 */
char *dmn_framer_space(struct dmn_framer *f, size_t want);
void dmn_framer_commit(struct dmn_framer *f, size_t n);
/* Marks the end of input: a last line without '\n' is then returned. */
void dmn_framer_eof(struct dmn_framer *f);
/*
 * Takes the next line.  *line is borrowed and valid until the next call.
 * With DMN_FRAME_BAD_UTF8, *len is the offset of the first bad byte in
 * the line.  *lineno is the line's number, from 1.
 */
enum dmn_frame dmn_framer_next(
    struct dmn_framer *f, const char **line, size_t *len, uint64_t *lineno);
/* Bytes held. */
size_t dmn_framer_buffered(const struct dmn_framer *f);

/* ---- queue.c, pool.c: threads and the hand-off into the loop ----------- */

/*
 * A queued callback.  dmn_queue_push() allocates one; an object that is
 * queued often (a request's deferred free) embeds its own and passes it
 * to dmn_queue_push_item() with embedded set.
 */
struct dmn_qitem {
	void (*fn)(void *);
	void *arg;
	int embedded;
	STAILQ_ENTRY(dmn_qitem) entry;
};

/* As dmn_queue_push(), with storage the caller provides (not freed). */
void dmn_queue_push_item(
    struct dmn_queue *q, struct dmn_qitem *it, void (*fn)(void *), void *arg);
/* Creates the queue on base (which must use pthreads locking). */
struct dmn_queue *dmn_queue_new(struct event_base *base);
/* Runs every queued callback now, on the loop thread; returns how many. */
size_t dmn_queue_run(struct dmn_queue *q);
/* Runs what is still queued, then frees the queue; NULL is accepted. */
void dmn_queue_free(struct dmn_queue *q);

/* Starts a pool of threads (1 to 1024) whose done callbacks go to q. */
struct dmn_pool *dmn_pool_new(
    struct dmn_queue *q, size_t threads, char **cause);
/*
 * Refuses new jobs, lets the queued and running ones finish and joins the
 * threads.  Returns 0, or -1 when some thread was still busy after
 * timeout_ms (the pool must then not be freed).
 */
int dmn_pool_stop(struct dmn_pool *pool, uint64_t timeout_ms);
/* Frees a stopped pool; NULL is accepted. */
void dmn_pool_free(struct dmn_pool *pool);

/* ---- jsonrpc.c, request.c: the JSON-RPC 2.0 engine ---------------------- */

struct dmn_session;
struct dmn_batch;

/*
 * What the engine shares with every request: the loop, the queue and the
 * pool, the method table, the current config, and the figures
 * daemon.status reports.  Loop thread only, except the atomics.
 */
struct dmn_ctx {
	struct event_base *base;
	struct dmn_queue *queue;
	struct dmn_pool *pool;
	const struct dmn_config *config;
	const struct dmn_method *const *methods;
	size_t nmethods;
	pthread_t loop_thread;

	uint64_t start_ms;       /* monotonic, for the uptime */
	const char *socket_path; /* for daemon.status; may be NULL */
	int stopping;            /* shutdown began */
	uint64_t conns_total;    /* connections accepted */
	uint64_t conns_refused;  /* over the limit or not allowed */
	uint64_t requests_total; /* requests dispatched */
	atomic_size_t live;      /* requests not yet freed */
	TAILQ_HEAD(, dmn_session) sessions;
	size_t nsessions;
	struct buf scratch;      /* where answers are encoded */
	struct dmn_agent *agent; /* runtime.c: tools, runs; NULL if none */
};

/* Frees what dmn_ctx_init() allocated. */
void dmn_ctx_free(struct dmn_ctx *ctx);

/* Fills ctx for base, queue, pool, config and the method table. */
void dmn_ctx_init(struct dmn_ctx *ctx, struct event_base *base,
    struct dmn_queue *q, struct dmn_pool *pool,
    const struct dmn_config *config);

/*
 * The JSON-RPC side of one client connection.  Its owner (a connection,
 * or a unit test) fills in the callbacks after dmn_session_init().
 */
struct dmn_session {
	struct dmn_ctx *ctx;
	TAILQ_ENTRY(dmn_session) entry;
	uint64_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;

	/* Queues one line (without its '\n') for the client. */
	void (*write)(struct dmn_session *s, const char *line, size_t len);
	/* Bytes queued for the client and not yet sent. */
	size_t (*queued)(struct dmn_session *s);
	/* An answer was delivered: the owner may resume reading. */
	void (*wake)(struct dmn_session *s);
	void *owner;
	int paused; /* reading stopped by back-pressure (for status) */

	TAILQ_HEAD(, dmn_request) pending; /* dispatched, not yet answered */
	size_t npending;
};

/* Joins ctx's session list. */
void dmn_session_init(struct dmn_session *s, struct dmn_ctx *ctx);
/*
 * The client went away: leaves the list and cancels the pending requests,
 * whose answers then go into the void.  Safe to call twice.
 */
void dmn_session_detach(struct dmn_session *s);
/*
 * Answers every pending request with -32005 and the given detail, and
 * cancels it (the shutdown deadline passed).
 */
void dmn_session_cancel_all(struct dmn_session *s, const char *detail);
/* Handles one framed line: parses it, dispatches it, answers. */
void dmn_session_line(struct dmn_session *s, const char *line, size_t len);
/*
 * Writes an error response with the given id (NULL means null); takes
 * ownership of data (NULL sends {}).
 */
void dmn_session_error(struct dmn_session *s, json_t *id, int code,
    const char *message, json_t *data);

/*
 * Returns an error response line (caller frees) with a null id, for
 * connections refused before they have a session.
 */
char *dmn_rpc_error_line(int code, const char *message, json_t *data);
/* Builds {"limit": name, "max": max}, the data of a limit error. */
json_t *dmn_rpc_limit_data(const char *name, uint64_t max);
/* The message that goes with each error code. */
const char *dmn_rpc_error_message(int code);
/*
 * Returns 1 if the JSON text nests arrays and objects deeper than max
 * (strings are skipped), else 0; *where is the offset of the first
 * bracket too deep.  It reads bytes only, so it is safe before parsing.
 */
int dmn_json_too_deep(const char *s, size_t len, size_t max, size_t *where);

/*
 * The envelope of a plain request, read in one pass over its bytes
 * without building JSON values.  Pointers point into the line scanned.
 */
enum dmn_envelope_id {
	DMN_ENVELOPE_ID_NONE = 0, /* no id: a notification */
	DMN_ENVELOPE_ID_NULL,
	DMN_ENVELOPE_ID_INTEGER,
	DMN_ENVELOPE_ID_STRING,
};
struct dmn_envelope {
	const char *method; /* the name, without its quotes */
	size_t method_len;
	const char *params; /* the params' text, "{...}" or "[...]", or NULL */
	size_t params_len;
	size_t depth; /* nesting of the whole message, the envelope counted */
	enum dmn_envelope_id id_kind;
	int64_t id_int;     /* DMN_ENVELOPE_ID_INTEGER */
	const char *id_str; /* DMN_ENVELOPE_ID_STRING: without its quotes */
	size_t id_len;
};
/*
 * Reads one request object in the plain form clients send: the members
 * jsonrpc ("2.0"), method, params (an object or an array) and id (null, an
 * integer of at most 18 digits, or a string), each at most once, jsonrpc
 * and method present, keys and strings in printable ASCII without escapes.
 * Returns 0 and fills env, or -1 for anything else (a batch, an error, a
 * valid request spelled otherwise), which the full parser then handles.
 * The params' text is only delimited: the caller parses it, and must take
 * the full parser when that fails.
 */
int dmn_envelope_scan(const char *line, size_t len, struct dmn_envelope *env);
/*
 * Appends v as compact JSON to b, byte for byte what jansson's
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes, without its
 * per-call allocations.  Returns 0, or -1 (b then holds part of it) when
 * v holds a string that is not UTF-8, nests deeper than 2048, or b's cap
 * is reached.
 */
int dmn_json_encode(struct buf *b, const json_t *v);

/* A request, as request.c and jsonrpc.c see it. */
struct dmn_request {
	atomic_uint refs;
	atomic_int answered;     /* an answer was sent (or dropped) */
	atomic_int handler_done; /* the handler gave its answer */
	atomic_int cancelled;
	struct dmn_ctx *ctx;
	const struct dmn_method *method;
	json_t *params; /* owned; NULL if none */
	json_t *id;     /* owned; NULL for a notification */
	pid_t pid;
	uid_t uid;
	gid_t gid;

	struct dmn_qitem free_item; /* queues the deferred free */

	/* Loop thread only. */
	struct dmn_session *session; /* NULL once the client is gone */
	struct dmn_batch *batch;     /* the batch it belongs to, or NULL */
	TAILQ_ENTRY(dmn_request) entry;
};

/*
 * Creates a request for a validated message (takes new references to
 * params and id, either of which may be NULL) and links it into the
 * session's pending list.
 */
struct dmn_request *dmn_request_new(struct dmn_session *s,
    const struct dmn_method *m, json_t *params, json_t *id,
    struct dmn_batch *batch);
/*
 * Drops a reference on the loop thread, from a caller that no longer
 * uses the request (the dispatcher after exec(), a queued callback): the
 * last one frees it at once instead of through the queue.
 */
void dmn_request_release(struct dmn_request *req);
/* Cancels a request: its client is gone. */
void dmn_request_cancel(struct dmn_request *req);
/*
 * Cancels a request and answers it now with an error whose data says
 * detail, on the handler's behalf (the shutdown deadline passed); the
 * handler's own answer, when it comes, is dropped.  Loop thread only.
 */
void dmn_request_abort(struct dmn_request *req, int code, const char *detail);
/*
 * Delivers an answer on the loop thread (request.c calls it): payload is
 * the result, or the error object when is_error is set, or NULL for a
 * notification; it is taken.  Releases the reference that came with it.
 */
void dmn_rpc_deliver(struct dmn_request *req, int is_error, json_t *payload);
/* Writes a notification line for a request, on the loop thread. */
void dmn_rpc_deliver_notify(struct dmn_request *req, json_t *msg);

/* ---- rpc.c: the method table -------------------------------------------- */

extern const struct dmn_method *const dmn_methods[];
extern const size_t dmn_nmethods;

/*
 * Finds a method by name (len bytes, no NUL needed) in a table; methods
 * flagged DMN_METHOD_DEBUG only when debug is set.  Returns NULL if none.
 */
const struct dmn_method *dmn_method_find(const struct dmn_method *const *tab,
    size_t n, const char *name, size_t len, int debug);
/* A params check for methods that take none: absent, {} or []. */
int dmn_params_none(const json_t *params, char **cause);
/* Returns the ctx serving a request (loop thread). */
struct dmn_ctx *dmn_request_ctx(const struct dmn_request *req);

/*
 * Requests a connection may have waiting for answers before it stops
 * reading (a batch counts each of its requests).
 */
#define DMN_CONN_MAX_PENDING 1024

/* ---- listen.c: the listening socket ------------------------------------- */

struct dmn_listener {
	int fd;
	char *path;    /* the socket file, or NULL if unknown */
	int inherited; /* from systemd: never unlinked */
	dev_t dev;     /* the file we bound, to unlink only that one */
	ino_t ino;
};

/*
 * Opens the listening socket: the one systemd passed (LISTEN_FDS), else a
 * new Unix socket at path with the given mode.  A live socket at path is
 * an error; a stale one is removed.  Returns 0, or -1 with *cause.
 */
int dmn_listener_open(
    struct dmn_listener *l, const char *path, unsigned int mode, char **cause);
/* Closes it and removes the file if this process created it. */
void dmn_listener_close(struct dmn_listener *l);

/* ---- conn.c: one client connection -------------------------------------- */

struct dmn_conn;

/*
 * Serves a freshly accepted socket (non-blocking).  Reads its peer's
 * credentials, checks them and the connection limit; a refused client gets
 * one error line and is closed.  Returns the connection or NULL.
 */
struct dmn_conn *dmn_conn_new(struct dmn_ctx *ctx, int fd);
/* Stops reading new requests (shutdown); closes it when idle. */
void dmn_conn_drain(struct dmn_conn *c);
/* Closes it now (the shutdown deadline passed). */
void dmn_conn_close(struct dmn_conn *c);
/* Applies a reloaded config's limits. */
void dmn_conn_reconfigure(struct dmn_conn *c);
/* Returns the connection owning a session. */
struct dmn_conn *dmn_conn_from_session(struct dmn_session *s);

/* ---- server.c: the daemon ----------------------------------------------- */

/* What the command line says; it overrides the config. */
struct dmn_options {
	const char *config_file; /* -c, or NULL */
	const char *socket;      /* -s, or NULL */
	int log_level;           /* -l, or -1 */
};

struct dmn_server;

/*
 * Creates the server: event base, queue, pool, signals, the listening
 * socket.  Takes ownership of config.  Returns NULL with *cause on
 * failure.
 */
struct dmn_server *dmn_server_new(
    const struct dmn_options *opts, struct dmn_config *config, char **cause);
/* Runs the loop until shutdown.  Returns the exit status. */
int dmn_server_run(struct dmn_server *srv);
/* Frees it; NULL is accepted. */
void dmn_server_free(struct dmn_server *srv);
/*
 * Applies the command-line overrides to a config, reading the socket path
 * as DESIGN.md says.  Returns 0, or -1 with *cause.
 */
int dmn_options_apply(
    const struct dmn_options *opts, struct dmn_config *c, char **cause);
/* Loads the config opts names (or the default one, or the defaults). */
struct dmn_config *dmn_options_config(
    const struct dmn_options *opts, char **cause);

#endif /* AGENTD_DAEMON_DAEMON_INT_H */
