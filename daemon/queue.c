/*
 * queue.c: the locked queue into the event loop.
 *
 * Other threads never touch sockets or loop state.  They push a callback
 * here; the push takes the lock, appends, and calls event_active() on an
 * event of the loop, which then runs the callbacks in order on the loop
 * thread.  The base must have been created after evthread_use_pthreads()
 * so that event_active() from another thread wakes it.
 */
#include <sys/queue.h>

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

STAILQ_HEAD(dmn_qlist, dmn_qitem);

struct dmn_queue {
	pthread_mutex_t lock;
	struct dmn_qlist items;
	struct event *ev;
	int armed; /* event_active() called and not yet run */
};

static size_t queue_run_once(struct dmn_queue *);
static void queue_cb(evutil_socket_t, short, void *);

struct dmn_queue *
dmn_queue_new(struct event_base *base)
{
	struct dmn_queue *q;

	q = xcalloc(1, sizeof *q);
	if (pthread_mutex_init(&q->lock, NULL) != 0)
		fatalx("pthread_mutex_init failed");
	STAILQ_INIT(&q->items);
	q->ev = event_new(base, -1, 0, queue_cb, q);
	if (q->ev == NULL)
		fatalx("event_new failed");
	return q;
}

void
dmn_queue_push(struct dmn_queue *q, void (*fn)(void *), void *arg)
{
	struct dmn_qitem *it;

	it = xmalloc(sizeof *it);
	it->embedded = 0;
	dmn_queue_push_item(q, it, fn, arg);
}

void
dmn_queue_push_item(
    struct dmn_queue *q, struct dmn_qitem *it, void (*fn)(void *), void *arg)
{
	int arm;

	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&q->lock);
	STAILQ_INSERT_TAIL(&q->items, it, entry);
	arm = !q->armed;
	q->armed = 1;
	/*
	 * Activate while holding the lock, so that dmn_queue_free() (which
	 * takes it too) cannot free the event under us.
	 */
	if (arm)
		event_active(q->ev, EV_READ, 0);
	pthread_mutex_unlock(&q->lock);
}

/* Runs the callbacks queued so far; returns how many. */
static size_t
queue_run_once(struct dmn_queue *q)
{
	struct dmn_qlist batch;
	struct dmn_qitem *it;
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	STAILQ_INIT(&batch);
	STAILQ_CONCAT(&batch, &q->items);
	q->armed = 0;
	pthread_mutex_unlock(&q->lock);
	while ((it = STAILQ_FIRST(&batch)) != NULL) {
		int embedded = it->embedded;

		STAILQ_REMOVE_HEAD(&batch, entry);
		/* fn may free what embeds the item: do not touch it after. */
		it->fn(it->arg);
		if (!embedded)
			free(it);
		n++;
	}
	return n;
}

size_t
dmn_queue_run(struct dmn_queue *q)
{
	size_t n, total = 0;

	while ((n = queue_run_once(q)) != 0)
		total += n;
	return total;
}

/*
 * The loop side: run what is queued now.  What those callbacks push
 * re-arms the event and waits for the next turn of the loop, so I/O is
 * never starved.
 */
static void
queue_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	queue_run_once(arg);
}

void
dmn_queue_free(struct dmn_queue *q)
{
	if (q == NULL)
		return;
	dmn_queue_run(q);
	pthread_mutex_lock(&q->lock);
	event_free(q->ev);
	q->ev = NULL;
	pthread_mutex_unlock(&q->lock);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
