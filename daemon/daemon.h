/*
 * daemon.h: the daemon's public interface for JSON-RPC methods and for the
 * work they hand to other threads.
 *
 * A method is one file, daemon/rpc-<noun>-<verb>.c, exporting
 *
 *	const struct dmn_method dmn_method_<noun>_<verb>;
 *
 * and one entry (with its extern line) in the table in daemon/rpc.c;
 * daemon.methods serves that table.  The dispatcher validates the JSON-RPC envelope, finds the method,
 * runs its check() on the params and then calls exec() on the loop thread
 * with a request object.  exec() answers the request exactly once with
 * dmn_request_reply() or dmn_request_error(), either before it returns or
 * later from any thread.  A long method (agent.run, model.generate) hands
 * its work to the worker pool with dmn_pool_submit() and answers when the
 * work ends; it may send notifications (agent.event) in between with
 * dmn_request_notify().  An answer or a notification given on another
 * thread goes through a locked queue and event_active() into the loop;
 * one given on the loop thread is delivered at once.  Either way a
 * handler never touches a socket.
 *
 * A request whose connection went away (or that the daemon gave up on at
 * shutdown) is still answered the same way: the answer goes into the void.
 * dmn_request_cancelled() tells a long handler that nobody waits any more.
 *
 * Modules below daemon/ never include this header: a method file calls
 * into them through their own headers and callbacks.
 */
#ifndef AGENTD_DAEMON_DAEMON_H
#define AGENTD_DAEMON_DAEMON_H

#include <sys/types.h>

#include <stddef.h>

#include <jansson.h>

struct dmn_pool;
struct dmn_queue;
struct dmn_request;
struct event_base;

/* Flags of a method. */
#define DMN_METHOD_DEBUG 0x1 /* served only with "debug_methods yes" */

/*
 * One JSON-RPC method.  Entries are const and live for the whole process.
 */
struct dmn_method {
	/* "noun.verb", as clients call it. */
	const char *name;
	/* One line for daemon.methods: what it does. */
	const char *description;
	/* DMN_METHOD_* flags. */
	int flags;
	/*
	 * Checks the params before anything runs, on the loop thread.
	 * params is NULL when the request has none, else an object or an
	 * array (the dispatcher refuses anything else).  Returns 0, or -1
	 * with *cause set to an allocated message naming the offending
	 * member; the client then gets -32602 with that message.
	 */
	int (*check)(const json_t *params, char **cause);
	/*
	 * Runs the method on the loop thread; it must not block.  Returns 0
	 * when it has answered the request or will answer it later.
	 * Returns -1 with *cause set when it failed without answering; the
	 * client then gets -32603 with the message (so a handler that wants
	 * another code answers with dmn_request_error() and returns 0).
	 */
	int (*exec)(struct dmn_request *req, char **cause);
};

/*
 * Requests.  A request is born with one reference, which its handler owns
 * and gives up with its answer: dmn_request_reply() or dmn_request_error(),
 * called exactly once.  Until then the request, its params and its id stay
 * valid on any thread.  The handler answers even a cancelled request: when
 * the shutdown deadline passes, the daemon answers pending requests itself
 * (-32005) and the handler's later answer is dropped, but that call still
 * releases the handler's reference.  A handler that wants to touch the
 * request after answering (or keep it in a table) takes its own reference
 * first.  References are atomic; the last unref queues the free on the
 * loop, never inside the caller.
 */

/* Returns the method name (borrowed; valid while the request is). */
const char *dmn_request_method(const struct dmn_request *req);
/*
 * Returns the params, an object or an array, or NULL when the request has
 * none (borrowed; valid while the request is).  Treat it as read-only.
 */
json_t *dmn_request_params(const struct dmn_request *req);
/*
 * Returns the id (a string, a number or null) or NULL for a notification
 * (borrowed; valid while the request is).
 */
const json_t *dmn_request_id(const struct dmn_request *req);
/* Returns 1 for a notification, whose answer nobody receives, else 0. */
int dmn_request_is_notification(const struct dmn_request *req);
/*
 * Returns 1 once the answer can no longer reach anyone: the connection
 * closed, or the daemon passed its shutdown deadline.  Any thread.
 */
int dmn_request_cancelled(const struct dmn_request *req);
/* The peer's credentials, read with SO_PEERCRED when it connected. */
void dmn_request_peer(
    const struct dmn_request *req, pid_t *pid, uid_t *uid, gid_t *gid);
/* The worker pool and event base of the daemon serving the request. */
struct dmn_pool *dmn_request_pool(const struct dmn_request *req);
struct event_base *dmn_request_base(const struct dmn_request *req);

/* Takes a reference; returns req. */
struct dmn_request *dmn_request_ref(struct dmn_request *req);
/* Drops a reference; the last one frees the request later, on the loop. */
void dmn_request_unref(struct dmn_request *req);

/*
 * Answers with a result; takes ownership of result (which must not be
 * NULL).  Any thread.  Releases the handler's reference, so the caller
 * must not touch req afterwards unless it holds its own.  A second answer
 * from the handler is a programmer's error: it is logged and dropped.
 */
void dmn_request_reply(struct dmn_request *req, json_t *result);
/*
 * Answers with an error; code is one of DMN_ERR_* (daemon/protocol.h),
 * message a short sentence and data an object saying what to fix (taken;
 * may be NULL, which sends {}).  Otherwise as dmn_request_reply().
 */
void dmn_request_error(
    struct dmn_request *req, int code, const char *message, json_t *data);
/*
 * Sends a notification (a message with no id) to the request's client,
 * before the request's answer; takes ownership of params (an object or an
 * array, or NULL).  Any thread, any number of times, but only before the
 * answer.  Dropped when the client is gone or the request is itself a
 * notification.
 */
void dmn_request_notify(
    struct dmn_request *req, const char *method, json_t *params);

/*
 * The locked queue into the loop: dmn_queue_push() from any thread makes
 * the loop thread call fn(arg) soon, in the order pushed.
 */
void dmn_queue_push(struct dmn_queue *q, void (*fn)(void *), void *arg);

/*
 * The worker pool.  dmn_pool_submit() runs work(arg) on a worker thread
 * and then, when done is not NULL, done(arg) on the loop thread.  Jobs
 * start in the order submitted.  Returns 0, or -1 with *cause when the
 * pool is shutting down; then neither callback is ever called.  A job
 * should check a cancel flag (dmn_request_cancelled() for a request)
 * between steps: at shutdown the pool waits for running jobs.
 */
int dmn_pool_submit(struct dmn_pool *pool, void (*work)(void *),
    void (*done)(void *), void *arg, char **cause);
/* Number of worker threads, and jobs running or waiting right now. */
size_t dmn_pool_threads(struct dmn_pool *pool);
size_t dmn_pool_busy(struct dmn_pool *pool);
size_t dmn_pool_queued(struct dmn_pool *pool);

#endif /* AGENTD_DAEMON_DAEMON_H */
