/*
 * request.c: the request object handlers get, and how its answer travels
 * back to the loop.
 *
 * The reference count is atomic because handlers answer from worker
 * threads.  The handler owns the reference the request is born with and
 * gives it up with its one answer.  The daemon may answer first, for the
 * handler, when the shutdown deadline passes (dmn_request_abort()); the
 * answer is claimed with an atomic exchange, so the handler's late answer
 * is then dropped instead of sent twice, and the handler's reference
 * stays valid until that late answer.  An answer given on the loop
 * thread is delivered at once; one given elsewhere goes through the
 * locked queue.  The last dmn_request_unref() queues the free, so it
 * never happens inside a callback that still uses the request; the
 * dispatcher and the queue's callbacks, which know that nothing up their
 * stack holds the request, drop theirs with dmn_request_release(), which
 * frees at once: a request answered on the loop thread never touches the
 * queue's lock.
 */
#include <pthread.h>
#include <stdlib.h>

#include <jansson.h>

#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/util.h"

/* What travels to the loop. */
enum request_kind {
	REQUEST_RESULT, /* an answer: payload is the result */
	REQUEST_ERROR,  /* an answer: payload is the error object */
	REQUEST_NOTIFY, /* payload is a whole notification message */
};

/* An answer or a notification on its way from another thread. */
struct request_msg {
	struct dmn_request *req; /* holds a reference */
	json_t *payload;         /* owned; NULL for a notification's answer */
	enum request_kind kind;
};

static void request_send(struct dmn_request *, enum request_kind, json_t *);
static void request_msg_cb(void *);
static void request_free(struct dmn_request *);
static void request_free_cb(void *);
static int request_claim(struct dmn_request *);
static json_t *request_error_obj(
    struct dmn_request *, int, const char *, json_t *);

struct dmn_request *
dmn_request_new(struct dmn_session *s, const struct dmn_method *m,
    json_t *params, json_t *id, struct dmn_batch *batch)
{
	struct dmn_request *req;

	req = xcalloc(1, sizeof *req);
	atomic_init(&req->refs, 1);
	atomic_init(&req->answered, 0);
	atomic_init(&req->handler_done, 0);
	atomic_init(&req->cancelled, 0);
	req->ctx = s->ctx;
	req->method = m;
	req->params = json_incref(params);
	req->id = json_incref(id);
	req->pid = s->pid;
	req->uid = s->uid;
	req->gid = s->gid;
	req->session = s;
	req->batch = batch;
	TAILQ_INSERT_TAIL(&s->pending, req, entry);
	s->npending++;
	atomic_fetch_add(&req->ctx->live, 1);
	return req;
}

const char *
dmn_request_method(const struct dmn_request *req)
{
	return req->method->name;
}

json_t *
dmn_request_params(const struct dmn_request *req)
{
	return req->params;
}

const json_t *
dmn_request_id(const struct dmn_request *req)
{
	return req->id;
}

int
dmn_request_is_notification(const struct dmn_request *req)
{
	return req->id == NULL;
}

int
dmn_request_cancelled(const struct dmn_request *req)
{
	return atomic_load(&req->cancelled);
}

void
dmn_request_cancel(struct dmn_request *req)
{
	atomic_store(&req->cancelled, 1);
}

void
dmn_request_peer(
    const struct dmn_request *req, pid_t *pid, uid_t *uid, gid_t *gid)
{
	if (pid != NULL)
		*pid = req->pid;
	if (uid != NULL)
		*uid = req->uid;
	if (gid != NULL)
		*gid = req->gid;
}

struct dmn_pool *
dmn_request_pool(const struct dmn_request *req)
{
	return req->ctx->pool;
}

struct event_base *
dmn_request_base(const struct dmn_request *req)
{
	return req->ctx->base;
}

struct dmn_ctx *
dmn_request_ctx(const struct dmn_request *req)
{
	return req->ctx;
}

struct dmn_request *
dmn_request_ref(struct dmn_request *req)
{
	unsigned int old;

	old = atomic_fetch_add(&req->refs, 1);
	AGENTD_ASSERT(old > 0);
	return req;
}

void
dmn_request_unref(struct dmn_request *req)
{
	unsigned int old;

	old = atomic_fetch_sub(&req->refs, 1);
	AGENTD_ASSERT(old > 0);
	if (old == 1) {
		req->free_item.embedded = 1;
		dmn_queue_push_item(
		    req->ctx->queue, &req->free_item, request_free_cb, req);
	}
}

void
dmn_request_release(struct dmn_request *req)
{
	unsigned int old;

	AGENTD_ASSERT(pthread_equal(pthread_self(), req->ctx->loop_thread));
	old = atomic_fetch_sub(&req->refs, 1);
	AGENTD_ASSERT(old > 0);
	if (old == 1)
		request_free(req);
}

/* Frees a request nobody holds any more, on the loop thread. */
static void
request_free(struct dmn_request *req)
{
	AGENTD_ASSERT(req->session == NULL);
	json_decref(req->params);
	json_decref(req->id);
	atomic_fetch_sub(&req->ctx->live, 1);
	free(req);
}

/* The deferred free, on the loop thread. */
static void
request_free_cb(void *arg)
{
	request_free(arg);
}

/*
 * Sends an answer (taking the reference that goes with it) or a
 * notification (taking a new reference) toward the loop.
 */
static void
request_send(struct dmn_request *req, enum request_kind kind, json_t *payload)
{
	struct request_msg *rm;

	if (pthread_equal(pthread_self(), req->ctx->loop_thread)) {
		if (kind == REQUEST_NOTIFY)
			dmn_rpc_deliver_notify(req, payload);
		else
			dmn_rpc_deliver(req, kind == REQUEST_ERROR, payload);
		return;
	}
	rm = xmalloc(sizeof *rm);
	rm->req = kind == REQUEST_NOTIFY ? dmn_request_ref(req) : req;
	rm->payload = payload;
	rm->kind = kind;
	dmn_queue_push(req->ctx->queue, request_msg_cb, rm);
}

/* An answer or a notification from another thread reaches the loop. */
static void
request_msg_cb(void *arg)
{
	struct request_msg *rm = arg;

	/*
	 * Nothing up this stack holds the request: if this was the last
	 * reference it goes now rather than through the queue again.
	 */
	if (rm->kind == REQUEST_NOTIFY)
		dmn_rpc_deliver_notify(rm->req, rm->payload);
	else {
		dmn_request_ref(rm->req);
		dmn_rpc_deliver(
		    rm->req, rm->kind == REQUEST_ERROR, rm->payload);
	}
	dmn_request_release(rm->req);
	free(rm);
}

/*
 * The handler gives its answer: returns 0 if it is to be sent, with the
 * handler's reference going along, or -1 if not (the handler answered
 * before, or the daemon already answered for it; the reference is then
 * dropped here).
 */
static int
request_claim(struct dmn_request *req)
{
	if (atomic_exchange(&req->handler_done, 1) != 0) {
		/* Its reference went with the first answer. */
		log_err("%s: request answered twice; the second answer is "
		        "dropped",
		    req->method->name);
		return -1;
	}
	if (atomic_exchange(&req->answered, 1) != 0) {
		/* Answered at the shutdown deadline: drop it, and the ref. */
		dmn_request_unref(req);
		return -1;
	}
	return 0;
}

/*
 * Builds the error object of an answer: {code, message, data}; NULL for
 * a notification, which gets no answer.
 */
static json_t *
request_error_obj(
    struct dmn_request *req, int code, const char *message, json_t *data)
{
	json_t *err, *text;

	if (req->id == NULL) {
		json_decref(data);
		return NULL;
	}
	if (message == NULL)
		message = dmn_rpc_error_message(code);
	if ((text = json_string(message)) == NULL)
		text = json_string(dmn_rpc_error_message(code));
	err = json_object();
	json_object_set_new(err, "code", json_integer(code));
	json_object_set_new(err, "message", text);
	json_object_set_new(err, "data", data != NULL ? data : json_object());
	return err;
}

void
dmn_request_reply(struct dmn_request *req, json_t *result)
{
	AGENTD_ASSERT(result != NULL);
	if (request_claim(req) != 0) {
		json_decref(result);
		return;
	}
	if (req->id == NULL) {
		json_decref(result);
		result = NULL;
	}
	request_send(req, REQUEST_RESULT, result);
}

void
dmn_request_error(
    struct dmn_request *req, int code, const char *message, json_t *data)
{
	if (request_claim(req) != 0) {
		json_decref(data);
		return;
	}
	request_send(
	    req, REQUEST_ERROR, request_error_obj(req, code, message, data));
}

void
dmn_request_abort(struct dmn_request *req, int code, const char *detail)
{
	AGENTD_ASSERT(pthread_equal(pthread_self(), req->ctx->loop_thread));
	dmn_request_cancel(req);
	if (atomic_exchange(&req->answered, 1) != 0)
		return;
	/* The delivery takes its own reference: the handler keeps its. */
	dmn_request_ref(req);
	request_send(req, REQUEST_ERROR,
	    request_error_obj(
	        req, code, NULL, json_pack("{s:s}", "detail", detail)));
}

void
dmn_request_notify(struct dmn_request *req, const char *method, json_t *params)
{
	json_t *msg;

	if (req->id == NULL || atomic_load(&req->answered) ||
	    atomic_load(&req->cancelled)) {
		json_decref(params);
		return;
	}
	msg = json_object();
	json_object_set_new(msg, "jsonrpc", json_string(DMN_JSONRPC_VERSION));
	json_object_set_new(msg, "method", json_string(method));
	if (params != NULL)
		json_object_set_new(msg, "params", params);
	request_send(req, REQUEST_NOTIFY, msg);
}
