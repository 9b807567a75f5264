/*
 * pool.c: the worker pool.
 *
 * A fixed set of threads takes jobs from one locked list, in the order
 * they were submitted.  When a job's work ends, its done callback goes
 * through the locked queue (queue.c) to the loop thread.  Workers block
 * every signal, so signals always reach the loop's handlers.  Stopping
 * refuses new jobs, runs the ones already queued and joins the threads,
 * waiting at most a given time for jobs that do not end.
 */
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon-int.h"
#include "daemon/util.h"

struct dmn_job {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	STAILQ_ENTRY(dmn_job) entry;
};

struct dmn_pool {
	pthread_mutex_t lock;
	pthread_cond_t more;   /* a job was queued, or stopping began */
	pthread_cond_t exited; /* a thread left */
	STAILQ_HEAD(, dmn_job) jobs;
	size_t queued;
	size_t running;
	int stopping;
	size_t nthreads;
	size_t nexited;
	pthread_t *threads;
	struct dmn_queue *q;
};

static void *pool_main(void *);

struct dmn_pool *
dmn_pool_new(struct dmn_queue *q, size_t threads, char **cause)
{
	struct dmn_pool *p;
	pthread_condattr_t attr;
	sigset_t all, old;
	int rc;

	if (threads == 0 || threads > 1024) {
		xasprintf(
		    cause, "worker pool: %zu threads (1 to 1024)", threads);
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->q = q;
	STAILQ_INIT(&p->jobs);
	if (pthread_mutex_init(&p->lock, NULL) != 0 ||
	    pthread_condattr_init(&attr) != 0)
		fatalx("worker pool: cannot initialise locks");
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&p->more, NULL) != 0 ||
	    pthread_cond_init(&p->exited, &attr) != 0)
		fatalx("worker pool: cannot initialise conditions");
	pthread_condattr_destroy(&attr);
	p->threads = xcalloc(threads, sizeof *p->threads);

	/* Threads inherit the mask: keep signals for the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < threads; i++) {
		rc = pthread_create(&p->threads[i], NULL, pool_main, p);
		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			xasprintf(cause, "worker pool: thread %zu of %zu: %s",
			    i + 1, threads, strerror(rc));
			p->nthreads = i;
			if (dmn_pool_stop(p, UINT64_MAX) == 0)
				dmn_pool_free(p);
			return NULL;
		}
		p->nthreads = i + 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_debug("worker pool: %zu threads", threads);
	return p;
}

/* One worker: take jobs until the pool stops and the list is empty. */
static void *
pool_main(void *arg)
{
	struct dmn_pool *p = arg;
	struct dmn_job *job;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (STAILQ_EMPTY(&p->jobs) && !p->stopping)
			pthread_cond_wait(&p->more, &p->lock);
		if ((job = STAILQ_FIRST(&p->jobs)) == NULL)
			break;
		STAILQ_REMOVE_HEAD(&p->jobs, entry);
		p->queued--;
		p->running++;
		pthread_mutex_unlock(&p->lock);

		job->work(job->arg);
		if (job->done != NULL)
			dmn_queue_push(p->q, job->done, job->arg);
		free(job);

		pthread_mutex_lock(&p->lock);
		p->running--;
	}
	p->nexited++;
	pthread_cond_broadcast(&p->exited);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
dmn_pool_submit(struct dmn_pool *p, void (*work)(void *), void (*done)(void *),
    void *arg, char **cause)
{
	struct dmn_job *job;

	job = xmalloc(sizeof *job);
	job->work = work;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		free(job);
		xasprintf(cause, "worker pool: shutting down");
		return -1;
	}
	STAILQ_INSERT_TAIL(&p->jobs, job, entry);
	p->queued++;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

size_t
dmn_pool_threads(struct dmn_pool *p)
{
	return p->nthreads;
}

size_t
dmn_pool_busy(struct dmn_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->running;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t
dmn_pool_queued(struct dmn_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->queued;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int
dmn_pool_stop(struct dmn_pool *p, uint64_t timeout_ms)
{
	struct timespec deadline;
	uint64_t ns;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > UINT64_MAX / 2000000u)
		timeout_ms = UINT64_MAX / 2000000u;
	ns = (uint64_t)deadline.tv_nsec + timeout_ms * 1000000u;
	deadline.tv_sec += (time_t)(ns / 1000000000u);
	deadline.tv_nsec = (long)(ns % 1000000000u);

	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->more);
	while (p->nexited < p->nthreads && rc == 0) {
		if (pthread_cond_timedwait(&p->exited, &p->lock, &deadline) ==
		    ETIMEDOUT)
			rc = -1;
	}
	if (p->nexited < p->nthreads) {
		log_err("worker pool: %zu jobs still running, %zu queued, "
		        "after %llu ms",
		    p->running, p->queued, (unsigned long long)timeout_ms);
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
	return 0;
}

void
dmn_pool_free(struct dmn_pool *p)
{
	if (p == NULL)
		return;
	pthread_cond_destroy(&p->more);
	pthread_cond_destroy(&p->exited);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}
