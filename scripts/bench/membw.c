/*
 * membw.c: the machine's memory read bandwidth, the bound on decoding
 * speed (every active weight is read once per token).
 *
 *   membw [-m MIB] [-t THREADS] [-r RUNS]
 *
 * Fills a buffer of MIB MiB (default 1024: far beyond any cache), then
 * has THREADS threads (default 2) each sum their own contiguous share of
 * it, all starting together, RUNS times (default 5).  A run's figure is
 * the bytes of the whole buffer over the time from the start until the
 * last thread is done; the best run is printed, as
 *
 *   read 2 threads 1024 MiB: 24.81 GB/s (best of 5; median 24.10)
 *
 * and, last, "read_gbs=24.81" for scripts.  Each thread keeps eight
 * independent sums of 64-bit words, so the loop is bound by memory, not
 * by the dependency of one addition on the last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_RUNS    100

struct share {
	const uint64_t *p;
	size_t n; /* words */
	uint64_t sum;
};

struct bw {
	struct share shares[MAX_THREADS];
	int n_threads;
	pthread_barrier_t start;
};

static struct bw bw;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sums one share: eight words a step, eight independent sums. */
static uint64_t
sum_words(const uint64_t *p, size_t n)
{
	uint64_t s[8] = { 0 }, t = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			s[k] += p[i + (size_t)k];
	for (; i < n; i++)
		t += p[i];
	for (int k = 0; k < 8; k++)
		t += s[k];
	return t;
}

static void *
reader(void *arg)
{
	struct share *sh = arg;

	pthread_barrier_wait(&bw.start);
	sh->sum = sum_words(sh->p, sh->n);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long
parse(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "membw: %s %s: expected %ld..%ld\n", opt, s, lo,
		    hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	long mib = 1024, n_threads = 2, runs = 5;
	double secs[MAX_RUNS], best;
	pthread_t th[MAX_THREADS];
	uint64_t *buf, check = 0;
	size_t words, per;
	int c;

	while ((c = getopt(argc, argv, "m:t:r:")) != -1) {
		switch (c) {
		case 'm':
			mib = parse("-m", optarg, 16, 1L << 20);
			break;
		case 't':
			n_threads = parse("-t", optarg, 1, MAX_THREADS);
			break;
		case 'r':
			runs = parse("-r", optarg, 1, MAX_RUNS);
			break;
		default:
			fprintf(stderr,
			    "usage: membw [-m MIB] [-t THREADS] [-r RUNS]\n");
			return 2;
		}
	}
	words = (size_t)mib * 1048576 / sizeof(uint64_t);
	buf = aligned_alloc(4096, words * sizeof(uint64_t));
	if (buf == NULL) {
		fprintf(stderr, "membw: cannot allocate %ld MiB\n", mib);
		return 1;
	}
	/* Written once, so every page is really there. */
	for (size_t i = 0; i < words; i++)
		buf[i] = i * 0x9e3779b97f4a7c15ull;

	bw.n_threads = (int)n_threads;
	per = words / (size_t)n_threads;
	for (int t = 0; t < bw.n_threads; t++) {
		bw.shares[t].p = buf + (size_t)t * per;
		bw.shares[t].n =
		    t == bw.n_threads - 1 ? words - (size_t)t * per : per;
	}
	for (long r = 0; r < runs; r++) {
		double t0;

		pthread_barrier_init(&bw.start, NULL, (unsigned)n_threads + 1);
		for (int t = 0; t < bw.n_threads; t++) {
			if (pthread_create(
			        &th[t], NULL, reader, &bw.shares[t]) != 0) {
				fprintf(
				    stderr, "membw: cannot start a thread\n");
				return 1;
			}
		}
		pthread_barrier_wait(&bw.start);
		t0 = now();
		for (int t = 0; t < bw.n_threads; t++) {
			pthread_join(th[t], NULL);
			check += bw.shares[t].sum;
		}
		secs[r] = now() - t0;
		pthread_barrier_destroy(&bw.start);
	}
	qsort(secs, (size_t)runs, sizeof secs[0], cmp_double);
	best = (double)words * sizeof(uint64_t) / secs[0] / 1e9;
	printf("read %ld thread%s %ld MiB: %.2f GB/s (best of %ld; median "
	       "%.2f)\n",
	    n_threads, n_threads == 1 ? "" : "s", mib, best, runs,
	    (double)words * sizeof(uint64_t) / secs[runs / 2] / 1e9);
	/* The sum is printed so that the reads cannot be optimised away. */
	printf(
	    "read_gbs=%.2f check=%016llx\n", best, (unsigned long long)check);
	free(buf);
	return 0;
}
