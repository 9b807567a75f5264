/*
 * threads.c: the engine's pool of persistent worker threads.
 *
 * A forward pass issues a few parallel jobs per layer (a matrix product,
 * the attention heads, ...), hundreds per token, so handing a job to the
 * workers must cost about a microsecond, not the tens that a condition
 * variable wake-up takes.  Workers therefore spin on a job counter for a
 * short while after each job and only then sleep on a condition
 * variable; the thread that posts a job wakes sleepers only when there
 * are any.  The caller runs share 0 of every job itself and then waits
 * for the others, which is the barrier at the end of each job.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inference/infer-int.h"

/* How long an idle worker spins before it sleeps, in nanoseconds. */
#define POOL_SPIN_NS 2000000

struct infer_pool {
	int n_threads; /* workers + the calling thread */
	pthread_t *workers;
	int n_started;

	/* Serialises jobs posted from different threads. */
	pthread_mutex_t run_lock;

	/* The current job; written before `generation` is bumped. */
	void (*fn)(void *arg, int ith, int nth);
	void *arg;

	atomic_uint generation; /* bumped once per job */
	atomic_int pending;     /* workers yet to finish the job */
	atomic_int sleepers;    /* workers waiting on `wake` */
	atomic_int stop;

	pthread_mutex_t lock;
	pthread_cond_t wake;
};

struct pool_worker {
	struct infer_pool *pool;
	int ith;
};

static void *pool_main(void *arg);
static uint64_t pool_now_ns(void);

static inline void
pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t
pool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs in each worker: wait for a new generation, run the job, repeat. */
static void *
pool_main(void *arg)
{
	struct pool_worker *w = arg;
	struct infer_pool *pool = w->pool;
	int ith = w->ith;
	unsigned seen = 0;

	free(w);
	for (;;) {
		unsigned gen;
		uint64_t start = 0;
		unsigned spins = 0;

		/* Spin a little, then sleep until the generation moves. */
		for (;;) {
			gen = atomic_load_explicit(
			    &pool->generation, memory_order_acquire);
			if (gen != seen ||
			    atomic_load_explicit(
			        &pool->stop, memory_order_acquire))
				break;
			if (++spins < 64) {
				pool_relax();
				continue;
			}
			if (start == 0)
				start = pool_now_ns();
			if (pool_now_ns() - start < POOL_SPIN_NS) {
				spins = 0;
				sched_yield();
				continue;
			}
			pthread_mutex_lock(&pool->lock);
			atomic_fetch_add(&pool->sleepers, 1);
			while (atomic_load(&pool->generation) == seen &&
			    !atomic_load(&pool->stop))
				pthread_cond_wait(&pool->wake, &pool->lock);
			atomic_fetch_sub(&pool->sleepers, 1);
			pthread_mutex_unlock(&pool->lock);
			start = 0;
			spins = 0;
		}
		if (atomic_load_explicit(&pool->stop, memory_order_acquire))
			break;
		seen = gen;
		pool->fn(pool->arg, ith, pool->n_threads);
		atomic_fetch_sub_explicit(
		    &pool->pending, 1, memory_order_acq_rel);
	}
	return NULL;
}

struct infer_pool *
infer_pool_new(int n_threads, char **cause)
{
	struct infer_pool *pool;
	long ncpu;

	if (n_threads <= 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = ncpu > 0 ? (int)ncpu : 1;
	}
	if (n_threads > INFER_MAX_THREADS) {
		infer_set_cause(cause, "thread count %d above the limit %d",
		    n_threads, INFER_MAX_THREADS);
		return NULL;
	}
	pool = calloc(1, sizeof *pool);
	if (pool == NULL) {
		infer_set_cause(cause, "thread pool: out of memory");
		return NULL;
	}
	pool->n_threads = n_threads;
	pthread_mutex_init(&pool->run_lock, NULL);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	atomic_init(&pool->generation, 0);
	atomic_init(&pool->pending, 0);
	atomic_init(&pool->sleepers, 0);
	atomic_init(&pool->stop, 0);
	if (n_threads > 1) {
		pool->workers =
		    calloc((size_t)n_threads - 1, sizeof *pool->workers);
		if (pool->workers == NULL) {
			infer_set_cause(cause, "thread pool: out of memory");
			goto fail;
		}
	}
	for (int i = 1; i < n_threads; i++) {
		struct pool_worker *w;
		int error;

		w = malloc(sizeof *w);
		if (w == NULL) {
			infer_set_cause(cause, "thread pool: out of memory");
			goto fail;
		}
		w->pool = pool;
		w->ith = i;
		error =
		    pthread_create(&pool->workers[i - 1], NULL, pool_main, w);
		if (error != 0) {
			free(w);
			infer_set_cause(cause,
			    "thread pool: cannot start thread %d of %d: %s", i,
			    n_threads, strerror(error));
			goto fail;
		}
		pool->n_started++;
	}
	return pool;

fail:
	infer_pool_free(pool);
	return NULL;
}

void
infer_pool_free(struct infer_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	atomic_store(&pool->stop, 1);
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->n_started; i++)
		pthread_join(pool->workers[i], NULL);
	free(pool->workers);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	pthread_mutex_destroy(&pool->run_lock);
	free(pool);
}

int
infer_pool_size(const struct infer_pool *pool)
{
	return pool->n_threads;
}

void
infer_pool_run(
    struct infer_pool *pool, void (*fn)(void *arg, int ith, int nth), void *arg)
{
	int nth = pool->n_threads;

	if (nth == 1) {
		fn(arg, 0, 1);
		return;
	}
	pthread_mutex_lock(&pool->run_lock);
	pool->fn = fn;
	pool->arg = arg;
	atomic_store_explicit(&pool->pending, nth - 1, memory_order_relaxed);
	/* Sequentially consistent, so a worker going to sleep sees it. */
	atomic_fetch_add(&pool->generation, 1);
	if (atomic_load(&pool->sleepers) > 0) {
		pthread_mutex_lock(&pool->lock);
		pthread_cond_broadcast(&pool->wake);
		pthread_mutex_unlock(&pool->lock);
	}

	/* Share 0 is ours; then wait for the others (the barrier). */
	fn(arg, 0, nth);
	for (unsigned spins = 0;
	     atomic_load_explicit(&pool->pending, memory_order_acquire) != 0;
	     spins++) {
		if (spins < 4096)
			pool_relax();
		else
			sched_yield();
	}
	pthread_mutex_unlock(&pool->run_lock);
}
