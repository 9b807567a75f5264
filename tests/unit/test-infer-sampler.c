/*
 * test-infer-sampler.c: the sampler, the stop-string finder and the
 * thread pool.
 *
 * Each sampler option is checked against what it must do to a known set
 * of logits: greedy takes the highest (lowest id on ties); top-k, top-p
 * and min-p never return a token outside the set they keep and do return
 * every token inside it; temperature reproduces the softmax frequencies;
 * the repetition penalty and the logit bias move exactly the tokens they
 * name; the log-probability is the log-softmax of the adjusted logits; a
 * seed gives the same stream every time, a clone continues it, a reset
 * restarts it.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/infer.h"

#define V 8

/* Logits with known softmax: ids 0..7. */
static const float logits8[V] = { 1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f, 2.5f,
	-4.0f };

static struct infer_sampler *
new_sampler(const struct infer_sampler_params *p, uint32_t n_vocab)
{
	char *cause = NULL;
	struct infer_sampler *s = infer_sampler_new(p, n_vocab, &cause);

	if (s == NULL)
		fail_msg("sampler: %s", cause);
	return s;
}

/* Counts how often each token is drawn in n draws. */
static void
draw(struct infer_sampler *s, const float *logits, int n, int *counts)
{
	memset(counts, 0, V * sizeof *counts);
	for (int i = 0; i < n; i++) {
		int32_t t = infer_sampler_sample(s, logits, NULL);

		assert_true(t >= 0 && t < V);
		counts[t]++;
	}
}

static void
test_greedy(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	float lp, big[1000];

	(void)state;
	infer_sampler_params_init(&p);
	s = new_sampler(&p, V);
	/* Ids 1 and 3 tie at 3.0: the lower id wins, every time. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(infer_sampler_sample(s, logits8, &lp), 1);
	infer_sampler_free(s);

	for (int i = 0; i < 1000; i++)
		big[i] = (float)((i * 37) % 1000) / 100.0f;
	s = new_sampler(&p, 1000);
	assert_int_equal(infer_sampler_sample(s, big, NULL), 27); /* 9.99 */
	infer_sampler_free(s);
}

static void
test_logprob(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	double z = 0.0;
	float lp;
	int32_t t;

	(void)state;
	for (int i = 0; i < V; i++)
		z += exp((double)logits8[i]);
	infer_sampler_params_init(&p);
	p.temperature = 0.7f;
	p.top_k = 3;
	p.seed = 9;
	s = new_sampler(&p, V);
	/* The model's distribution: not the truncated, tempered one. */
	for (int i = 0; i < 50; i++) {
		t = infer_sampler_sample(s, logits8, &lp);
		assert_float_equal(lp, (double)logits8[t] - log(z), 1e-5);
	}
	infer_sampler_free(s);
}

static void
test_seed(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *a, *b, *c, *d;
	int32_t sa[200], sc[200];
	int differ = 0;

	(void)state;
	infer_sampler_params_init(&p);
	p.temperature = 1.0f;
	p.seed = 1234;
	a = new_sampler(&p, V);
	b = new_sampler(&p, V);
	p.seed = 1235;
	c = new_sampler(&p, V);
	for (int i = 0; i < 200; i++) {
		sa[i] = infer_sampler_sample(a, logits8, NULL);
		assert_int_equal(infer_sampler_sample(b, logits8, NULL), sa[i]);
		sc[i] = infer_sampler_sample(c, logits8, NULL);
		differ += sa[i] != sc[i];
	}
	assert_true(differ > 20);

	/* A clone continues the stream; a reset restarts it. */
	d = infer_sampler_clone(a, NULL);
	assert_non_null(d);
	for (int i = 0; i < 50; i++)
		assert_int_equal(infer_sampler_sample(d, logits8, NULL),
		    infer_sampler_sample(a, logits8, NULL));
	infer_sampler_reset(d);
	for (int i = 0; i < 200; i++)
		assert_int_equal(infer_sampler_sample(d, logits8, NULL), sa[i]);
	infer_sampler_free(a);
	infer_sampler_free(b);
	infer_sampler_free(c);
	infer_sampler_free(d);
}

/* Temperature 1 draws follow the softmax; temperature 0.25 sharpens. */
static void
test_temperature(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	int counts[V], n = 40000;
	double z = 0.0;

	(void)state;
	for (int i = 0; i < V; i++)
		z += exp((double)logits8[i]);
	infer_sampler_params_init(&p);
	p.temperature = 1.0f;
	p.seed = 77;
	s = new_sampler(&p, V);
	draw(s, logits8, n, counts);
	for (int i = 0; i < V; i++) {
		double pi = exp((double)logits8[i]) / z;
		double sd = sqrt(n * pi * (1 - pi));

		/* Five standard deviations, plus one for the rare ones. */
		assert_true(fabs(counts[i] - n * pi) <= 5 * sd + 1);
	}
	infer_sampler_free(s);

	p.temperature = 0.25f;
	s = new_sampler(&p, V);
	draw(s, logits8, n, counts);
	/* exp(4 * (3 - 2.5)) = e^2: ids 1 and 3 dominate id 6. */
	assert_true(counts[1] + counts[3] > 6 * counts[6]);
	assert_true(counts[6] > 0);
	assert_int_equal(counts[7], 0);
	infer_sampler_free(s);
}

static void
test_top_k(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	int counts[V];

	(void)state;
	infer_sampler_params_init(&p);
	p.temperature = 5.0f; /* flat: everything left is drawn */
	p.top_k = 3;
	p.seed = 3;
	s = new_sampler(&p, V);
	draw(s, logits8, 5000, counts);
	/* The three best: 1 and 3 (3.0) and 6 (2.5). */
	for (int i = 0; i < V; i++) {
		if (i == 1 || i == 3 || i == 6)
			assert_true(counts[i] > 0);
		else
			assert_int_equal(counts[i], 0);
	}
	infer_sampler_free(s);

	/* Top-k 1 is greedy whatever the temperature. */
	p.top_k = 1;
	s = new_sampler(&p, V);
	draw(s, logits8, 500, counts);
	assert_int_equal(counts[1], 500);
	infer_sampler_free(s);
}

static void
test_top_p(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	int counts[V];
	float big[300];

	(void)state;
	/* Probabilities: 1, 3: 0.3115 each; 6: 0.189; 2: 0.115; 0: 0.042... */
	infer_sampler_params_init(&p);
	p.temperature = 1.0f;
	p.top_p = 0.7f; /* 0.623 < 0.7 <= 0.623 + 0.189: ids 1, 3, 6 */
	p.seed = 5;
	s = new_sampler(&p, V);
	draw(s, logits8, 5000, counts);
	for (int i = 0; i < V; i++) {
		if (i == 1 || i == 3 || i == 6)
			assert_true(counts[i] > 0);
		else
			assert_int_equal(counts[i], 0);
	}
	infer_sampler_free(s);

	/* A long flat tail: the prefix grows past its first guesses. */
	for (int i = 0; i < 300; i++)
		big[i] = i == 17 ? 2.0f : 0.0f;
	p.top_p = 0.95f;
	p.temperature = 1.0f;
	s = new_sampler(&p, 300);
	{
		int seen[300] = { 0 }, distinct = 0;

		for (int i = 0; i < 20000; i++) {
			int32_t t = infer_sampler_sample(s, big, NULL);

			if (!seen[t]++)
				distinct++;
		}
		/* 5 % of the mass is cut: 0.05 * 306.4 = 15 tail tokens. */
		assert_true(distinct > 250 && distinct < 290);
		assert_true(seen[17] > 0);
	}
	infer_sampler_free(s);
}

static void
test_min_p(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	int counts[V];

	(void)state;
	/* p >= 0.3 * p_max: logit >= 3 + ln 0.3 = 1.796: ids 1, 3, 6, 2. */
	infer_sampler_params_init(&p);
	p.temperature = 3.0f;
	p.min_p = 0.3f;
	p.seed = 11;
	s = new_sampler(&p, V);
	draw(s, logits8, 5000, counts);
	for (int i = 0; i < V; i++) {
		if (i == 1 || i == 2 || i == 3 || i == 6)
			assert_true(counts[i] > 0);
		else
			assert_int_equal(counts[i], 0);
	}
	infer_sampler_free(s);
}

static void
test_repeat_penalty(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	float lp;
	double z = 0.0;
	float adj[V];

	(void)state;
	infer_sampler_params_init(&p);
	p.repeat_penalty = 2.0f;
	p.repeat_last_n = 2;
	s = new_sampler(&p, V);
	/* History 1, 3: both divided by 2 (1.5), so 6 (2.5) wins. */
	infer_sampler_accept(s, 1);
	infer_sampler_accept(s, 3);
	assert_int_equal(infer_sampler_sample(s, logits8, &lp), 6);
	memcpy(adj, logits8, sizeof adj);
	adj[1] = 1.5f;
	adj[3] = 1.5f;
	for (int i = 0; i < V; i++)
		z += exp((double)adj[i]);
	assert_float_equal(lp, 2.5 - log(z), 1e-5);
	/* The history now holds 3, 6 (only the last two): 1 wins back. */
	assert_int_equal(infer_sampler_sample(s, logits8, NULL), 1);
	/* Negative logits are multiplied: 4 (-1) stays below. */
	infer_sampler_free(s);

	/* A repeated token is penalised once, not once per occurrence. */
	p.repeat_last_n = 8;
	p.repeat_penalty = 1.25f;
	s = new_sampler(&p, V);
	for (int i = 0; i < 5; i++)
		infer_sampler_accept(s, 1);
	/* 3.0 / 1.25 = 2.4 < 2.5: 3 then wins (not penalised). */
	assert_int_equal(infer_sampler_sample(s, logits8, NULL), 3);
	infer_sampler_free(s);
}

static void
test_logit_bias(void **state)
{
	struct infer_sampler_params p;
	struct infer_sampler *s;
	struct infer_logit_bias bias[3] = {
		{ 1, -INFINITY },
		{ 3, -INFINITY },
		{ 7, 10.0f },
	};
	struct infer_logit_bias ban_all[V];
	int counts[V];

	(void)state;
	infer_sampler_params_init(&p);
	p.logit_bias = bias;
	p.n_logit_bias = 2;
	s = new_sampler(&p, V);
	assert_int_equal(infer_sampler_sample(s, logits8, NULL), 6);
	infer_sampler_free(s);

	p.n_logit_bias = 3;
	s = new_sampler(&p, V);
	assert_int_equal(infer_sampler_sample(s, logits8, NULL), 7);
	infer_sampler_free(s);

	/* Banned tokens are never drawn. */
	p.n_logit_bias = 2;
	p.temperature = 10.0f;
	s = new_sampler(&p, V);
	draw(s, logits8, 3000, counts);
	assert_int_equal(counts[1], 0);
	assert_int_equal(counts[3], 0);
	assert_true(counts[7] > 0);
	infer_sampler_free(s);

	/* Everything banned: -1. */
	for (int i = 0; i < V; i++) {
		ban_all[i].token = i;
		ban_all[i].bias = -INFINITY;
	}
	p.logit_bias = ban_all;
	p.n_logit_bias = V;
	s = new_sampler(&p, V);
	assert_int_equal(infer_sampler_sample(s, logits8, NULL), -1);
	infer_sampler_free(s);
}

static void
test_bad_params(void **state)
{
	struct infer_sampler_params p;
	struct infer_logit_bias b = { V, 1.0f };
	char *cause = NULL;

	(void)state;
	infer_sampler_params_init(&p);
	p.top_p = 0.0f;
	assert_null(infer_sampler_new(&p, V, &cause));
	assert_non_null(strstr(cause, "top_p"));
	free(cause);
	infer_sampler_params_init(&p);
	p.min_p = 1.5f;
	assert_null(infer_sampler_new(&p, V, &cause));
	assert_non_null(strstr(cause, "min_p"));
	free(cause);
	infer_sampler_params_init(&p);
	p.temperature = NAN;
	assert_null(infer_sampler_new(&p, V, &cause));
	free(cause);
	infer_sampler_params_init(&p);
	p.repeat_penalty = 0.0f;
	assert_null(infer_sampler_new(&p, V, &cause));
	free(cause);
	infer_sampler_params_init(&p);
	p.logit_bias = &b;
	p.n_logit_bias = 1;
	assert_null(infer_sampler_new(&p, V, &cause));
	assert_non_null(strstr(cause, "token 8"));
	free(cause);
	b.token = 2;
	b.bias = INFINITY;
	assert_null(infer_sampler_new(&p, V, &cause));
	free(cause);
	infer_sampler_params_init(&p);
	assert_null(infer_sampler_new(&p, 0, &cause));
	free(cause);
	infer_sampler_free(NULL);
}

static void
test_stop_find(void **state)
{
	const char *stops[] = { "\nObservation:", "", "END" };
	size_t at;

	(void)state;
	assert_int_equal(
	    infer_stop_find("abc\nObservation: x", 19, stops, 3, &at), 1);
	assert_int_equal(at, 3);
	/* The earliest of several. */
	assert_int_equal(
	    infer_stop_find("xxEND\nObservation:", 18, stops, 3, &at), 1);
	assert_int_equal(at, 2);
	/* A tail that may become a stop string is held back. */
	assert_int_equal(
	    infer_stop_find("Thought: ok\nObs", 15, stops, 3, &at), 0);
	assert_int_equal(at, 11);
	assert_int_equal(infer_stop_find("abcEN", 5, stops, 3, &at), 0);
	assert_int_equal(at, 3);
	assert_int_equal(infer_stop_find("abc", 3, stops, 3, &at), 0);
	assert_int_equal(at, 3);
	assert_int_equal(infer_stop_find("", 0, stops, 3, &at), 0);
	assert_int_equal(at, 0);
	assert_int_equal(infer_stop_find("abc", 3, stops, 0, &at), 0);
	assert_int_equal(at, 3);
}

/* ---- thread pool ----------------------------------------------------- */

struct pool_job {
	atomic_int calls[8];
	atomic_int total;
	int nth_seen[8]; /* written by share ith only */
};

static void
pool_fn(void *arg, int ith, int nth)
{
	struct pool_job *j = arg;

	j->nth_seen[ith] = nth;
	atomic_fetch_add(&j->calls[ith], 1);
	atomic_fetch_add(&j->total, 1);
}

static void
test_pool_runs_each_share_once(void **state)
{
	(void)state;
	for (int n = 1; n <= 5; n++) {
		struct infer_pool *pool = infer_pool_new(n, NULL);

		assert_non_null(pool);
		assert_int_equal(infer_pool_size(pool), n);
		for (int rep = 0; rep < 500; rep++) {
			struct pool_job j;

			memset(&j, 0, sizeof j);
			infer_pool_run(pool, pool_fn, &j);
			/* Every share ran exactly once before run returned. */
			assert_int_equal(atomic_load(&j.total), n);
			for (int i = 0; i < n; i++) {
				assert_int_equal(atomic_load(&j.calls[i]), 1);
				assert_int_equal(j.nth_seen[i], n);
			}
		}
		infer_pool_free(pool);
	}
	infer_pool_free(NULL);
}

struct pool_sum {
	const int *v;
	size_t n;
	long long part[8];
};

static void
pool_sum_fn(void *arg, int ith, int nth)
{
	struct pool_sum *s = arg;
	size_t lo = s->n * (size_t)ith / (size_t)nth;
	size_t hi = s->n * (size_t)(ith + 1) / (size_t)nth;

	s->part[ith] = 0;
	for (size_t i = lo; i < hi; i++)
		s->part[ith] += s->v[i];
}

struct pool_caller {
	struct infer_pool *pool;
	const int *v;
	size_t n;
	int ok;
};

static void *
pool_caller_main(void *arg)
{
	struct pool_caller *c = arg;

	c->ok = 1;
	for (int rep = 0; rep < 200; rep++) {
		struct pool_sum s = { .v = c->v, .n = c->n };
		long long total = 0;

		infer_pool_run(c->pool, pool_sum_fn, &s);
		for (int i = 0; i < infer_pool_size(c->pool); i++)
			total += s.part[i];
		if (total != (long long)c->n * (long long)(c->n - 1) / 2)
			c->ok = 0;
	}
	return NULL;
}

/* Jobs posted from two threads at once are serialised, not mixed. */
static void
test_pool_concurrent_callers(void **state)
{
	struct infer_pool *pool = infer_pool_new(3, NULL);
	struct pool_caller c[2];
	pthread_t th[2];
	int *v = malloc(10000 * sizeof *v);

	(void)state;
	for (int i = 0; i < 10000; i++)
		v[i] = i;
	for (int i = 0; i < 2; i++) {
		c[i].pool = pool;
		c[i].v = v;
		c[i].n = 10000;
		assert_int_equal(
		    pthread_create(&th[i], NULL, pool_caller_main, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_true(c[i].ok);
	}
	infer_pool_free(pool);
	free(v);
}

static void
test_pool_limits(void **state)
{
	struct infer_pool *pool;
	char *cause = NULL;

	(void)state;
	assert_null(infer_pool_new(100000, &cause));
	assert_non_null(strstr(cause, "100000"));
	free(cause);
	/* 0: one thread per online CPU. */
	pool = infer_pool_new(0, NULL);
	assert_non_null(pool);
	assert_true(infer_pool_size(pool) >= 1);
	infer_pool_free(pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greedy),
		cmocka_unit_test(test_logprob),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_temperature),
		cmocka_unit_test(test_top_k),
		cmocka_unit_test(test_top_p),
		cmocka_unit_test(test_min_p),
		cmocka_unit_test(test_repeat_penalty),
		cmocka_unit_test(test_logit_bias),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_stop_find),
		cmocka_unit_test(test_pool_runs_each_share_once),
		cmocka_unit_test(test_pool_concurrent_callers),
		cmocka_unit_test(test_pool_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
