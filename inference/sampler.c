/*
 * sampler.c: from logits to the next token.
 *
 * The steps follow llama.cpp's default chain so that runs can be compared
 * side by side: logit bias, repetition penalty, then either greedy
 * (argmax) or top-k, top-p, min-p, temperature and a draw from a seeded
 * xoshiro256** stream.  Candidates are kept in a fixed order (logit
 * descending, id ascending), so a seed gives the same tokens on every
 * machine and thread count.  All buffers are allocated when the sampler
 * is created; sampling itself never allocates.
 *
 * Sorting 50k logits for every token would cost milliseconds, so top-k
 * uses a heap, min-p is a plain threshold, and top-p widens a sorted
 * prefix (64, 256, ... candidates) only until it holds mass p.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference/infer-int.h"

struct sampler_cand {
	int32_t id;
	float logit;
};

struct infer_sampler {
	struct infer_sampler_params params;
	struct infer_logit_bias *bias; /* params.logit_bias points here */
	uint32_t n_vocab;

	uint64_t rng[4]; /* xoshiro256** state */

	int32_t *history; /* ring of the last repeat_last_n tokens */
	uint32_t n_history;
	uint32_t history_head;

	float *work;               /* [n_vocab] adjusted logits */
	struct sampler_cand *cand; /* [n_vocab] candidates */
	uint8_t *mark;             /* [n_vocab] penalty bookkeeping */
};

static uint64_t sampler_splitmix(uint64_t *x);
static void sampler_seed(struct infer_sampler *s);
static double sampler_uniform(struct infer_sampler *s);
static int sampler_before(
    const struct sampler_cand *a, const struct sampler_cand *b);
static int sampler_cmp(const void *a, const void *b);
static void sampler_top(struct sampler_cand *c, size_t n, size_t k);
static void sampler_adjust(struct infer_sampler *s, const float *logits);

static uint64_t
sampler_splitmix(uint64_t *x)
{
	uint64_t z;

	z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
sampler_seed(struct infer_sampler *s)
{
	uint64_t x = s->params.seed;

	for (int i = 0; i < 4; i++)
		s->rng[i] = sampler_splitmix(&x);
}

static inline uint64_t
sampler_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Returns a uniform double in [0, 1) from 53 random bits. */
static double
sampler_uniform(struct infer_sampler *s)
{
	uint64_t *r = s->rng;
	uint64_t result, t;

	result = sampler_rotl(r[1] * 5, 7) * 9;
	t = r[1] << 17;
	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = sampler_rotl(r[3], 45);
	return (double)(result >> 11) * 0x1.0p-53;
}

/* The candidate order: higher logit first, then lower id. */
static int
sampler_before(const struct sampler_cand *a, const struct sampler_cand *b)
{
	if (a->logit != b->logit)
		return a->logit > b->logit;
	return a->id < b->id;
}

static int
sampler_cmp(const void *a, const void *b)
{
	const struct sampler_cand *x = a, *y = b;

	if (sampler_before(x, y))
		return -1;
	if (sampler_before(y, x))
		return 1;
	return 0;
}

/*
 * Moves the k first candidates in candidate order to c[0, k), sorted.  A
 * min-heap of the best k seen so far keeps it O(n log k).
 */
static void
sampler_top(struct sampler_cand *c, size_t n, size_t k)
{
	if (k >= n) {
		qsort(c, n, sizeof *c, sampler_cmp);
		return;
	}
	if (k == 0)
		return;
	/* Heapify c[0, k) with the worst at the root. */
	for (size_t start = k / 2; start-- > 0;) {
		size_t i = start;

		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, w = i;
			struct sampler_cand tmp;

			if (l < k && sampler_before(&c[w], &c[l]))
				w = l;
			if (r < k && sampler_before(&c[w], &c[r]))
				w = r;
			if (w == i)
				break;
			tmp = c[i];
			c[i] = c[w];
			c[w] = tmp;
			i = w;
		}
	}
	/* Any better candidate replaces the root and sinks. */
	for (size_t j = k; j < n; j++) {
		size_t i = 0;
		struct sampler_cand tmp;

		if (!sampler_before(&c[j], &c[0]))
			continue;
		tmp = c[0];
		c[0] = c[j];
		c[j] = tmp;
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, w = i;

			if (l < k && sampler_before(&c[w], &c[l]))
				w = l;
			if (r < k && sampler_before(&c[w], &c[r]))
				w = r;
			if (w == i)
				break;
			tmp = c[i];
			c[i] = c[w];
			c[w] = tmp;
			i = w;
		}
	}
	qsort(c, k, sizeof *c, sampler_cmp);
}

void
infer_sampler_params_init(struct infer_sampler_params *params)
{
	memset(params, 0, sizeof *params);
	params->temperature = 0.0f;
	params->top_k = 0;
	params->top_p = 1.0f;
	params->min_p = 0.0f;
	params->repeat_penalty = 1.0f;
	params->repeat_last_n = 64;
	params->seed = 0;
}

struct infer_sampler *
infer_sampler_new(
    const struct infer_sampler_params *params, uint32_t n_vocab, char **cause)
{
	struct infer_sampler *s;
	const struct infer_sampler_params *p = params;

	if (n_vocab == 0) {
		infer_set_cause(cause, "sampler: empty vocabulary");
		return NULL;
	}
	if (!isfinite(p->temperature)) {
		infer_set_cause(cause, "sampler: temperature %g is not finite",
		    (double)p->temperature);
		return NULL;
	}
	if (!(p->top_p > 0.0f)) {
		infer_set_cause(cause,
		    "sampler: top_p %g must be above 0 (1 turns it off)",
		    (double)p->top_p);
		return NULL;
	}
	if (!(p->min_p >= 0.0f && p->min_p <= 1.0f)) {
		infer_set_cause(cause, "sampler: min_p %g outside [0, 1]",
		    (double)p->min_p);
		return NULL;
	}
	if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty)) {
		infer_set_cause(cause,
		    "sampler: repeat_penalty %g must be above 0 (1 turns it "
		    "off)",
		    (double)p->repeat_penalty);
		return NULL;
	}
	if (p->repeat_last_n > (1u << 20)) {
		infer_set_cause(cause,
		    "sampler: repeat_last_n %u above the limit %u",
		    p->repeat_last_n, 1u << 20);
		return NULL;
	}
	if (p->n_logit_bias > 0 && p->logit_bias == NULL) {
		infer_set_cause(cause, "sampler: %zu logit biases but no array",
		    p->n_logit_bias);
		return NULL;
	}
	for (size_t i = 0; i < p->n_logit_bias; i++) {
		const struct infer_logit_bias *b = &p->logit_bias[i];

		if (b->token < 0 || (uint32_t)b->token >= n_vocab) {
			infer_set_cause(cause,
			    "sampler: logit bias %zu: token %d outside the "
			    "vocabulary (%u tokens)",
			    i, b->token, n_vocab);
			return NULL;
		}
		if (isnan(b->bias) || (isinf(b->bias) && b->bias > 0)) {
			infer_set_cause(cause,
			    "sampler: logit bias %zu: token %d: bias %g is not "
			    "a number or -inf",
			    i, b->token, (double)b->bias);
			return NULL;
		}
	}

	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto oom;
	s->params = *p;
	s->n_vocab = n_vocab;
	s->params.logit_bias = NULL;
	if (p->n_logit_bias > 0) {
		s->bias = calloc(p->n_logit_bias, sizeof *s->bias);
		if (s->bias == NULL)
			goto oom;
		memcpy(
		    s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
		s->params.logit_bias = s->bias;
	}
	if (p->repeat_last_n > 0) {
		s->history = calloc(p->repeat_last_n, sizeof *s->history);
		if (s->history == NULL)
			goto oom;
	}
	s->work = calloc(n_vocab, sizeof *s->work);
	s->cand = calloc(n_vocab, sizeof *s->cand);
	s->mark = calloc(n_vocab, sizeof *s->mark);
	if (s->work == NULL || s->cand == NULL || s->mark == NULL)
		goto oom;
	sampler_seed(s);
	return s;

oom:
	infer_sampler_free(s);
	infer_set_cause(cause, "sampler: out of memory (%u tokens)", n_vocab);
	return NULL;
}

void
infer_sampler_free(struct infer_sampler *s)
{
	if (s == NULL)
		return;
	free(s->bias);
	free(s->history);
	free(s->work);
	free(s->cand);
	free(s->mark);
	free(s);
}

struct infer_sampler *
infer_sampler_clone(const struct infer_sampler *s, char **cause)
{
	struct infer_sampler_params p = s->params;
	struct infer_sampler *c;

	p.logit_bias = s->bias;
	c = infer_sampler_new(&p, s->n_vocab, cause);
	if (c == NULL)
		return NULL;
	memcpy(c->rng, s->rng, sizeof c->rng);
	if (s->params.repeat_last_n > 0)
		memcpy(c->history, s->history,
		    s->params.repeat_last_n * sizeof *c->history);
	c->n_history = s->n_history;
	c->history_head = s->history_head;
	return c;
}

void
infer_sampler_reset(struct infer_sampler *s)
{
	s->n_history = 0;
	s->history_head = 0;
	sampler_seed(s);
}

void
infer_sampler_accept(struct infer_sampler *s, int32_t token)
{
	uint32_t cap = s->params.repeat_last_n;

	if (cap == 0 || token < 0 || (uint32_t)token >= s->n_vocab)
		return;
	s->history[s->history_head] = token;
	s->history_head = (s->history_head + 1) % cap;
	if (s->n_history < cap)
		s->n_history++;
}

/* work = logits + bias, then the repetition penalty over the history. */
static void
sampler_adjust(struct infer_sampler *s, const float *logits)
{
	float penalty = s->params.repeat_penalty;

	memcpy(s->work, logits, s->n_vocab * sizeof *s->work);
	for (size_t i = 0; i < s->params.n_logit_bias; i++)
		s->work[s->bias[i].token] += s->bias[i].bias;
	if (penalty == 1.0f || s->n_history == 0)
		return;
	/* Each distinct token is penalised once, as llama.cpp does. */
	for (uint32_t i = 0; i < s->n_history; i++) {
		int32_t t = s->history[i];

		if (s->mark[t])
			continue;
		s->mark[t] = 1;
		if (s->work[t] > 0.0f)
			s->work[t] /= penalty;
		else
			s->work[t] *= penalty;
	}
	for (uint32_t i = 0; i < s->n_history; i++)
		s->mark[s->history[i]] = 0;
}

int32_t
infer_sampler_sample(
    struct infer_sampler *s, const float *logits, float *logprob)
{
	const struct infer_sampler_params *p = &s->params;
	struct sampler_cand *c = s->cand;
	float *w = s->work;
	float max = -INFINITY;
	int32_t best = -1;
	size_t n = 0;
	int32_t token;

	sampler_adjust(s, logits);

	/* The best token; NaN logits count as banned. */
	for (uint32_t i = 0; i < s->n_vocab; i++) {
		if (isnan(w[i]))
			w[i] = -INFINITY;
		if (w[i] > max) {
			max = w[i];
			best = (int32_t)i;
		}
	}
	if (best < 0)
		return -1;

	if (p->temperature <= 0.0f) {
		/* Greedy. */
		token = best;
	} else {
		double z, target, acc;
		float temp = p->temperature;
		size_t k;

		/* Candidates: every allowed token, min-p applied on the way. */
		{
			float floor_logit = -INFINITY;

			if (p->min_p > 0.0f)
				floor_logit = max + logf(p->min_p);
			for (uint32_t i = 0; i < s->n_vocab; i++) {
				if (w[i] == -INFINITY || w[i] < floor_logit)
					continue;
				c[n].id = (int32_t)i;
				c[n].logit = w[i];
				n++;
			}
		}

		/* Top-k: keep the k best, sorted. */
		if (p->top_k > 0 && p->top_k < n) {
			sampler_top(c, n, p->top_k);
			n = p->top_k;
		}

		/* Top-p: the shortest sorted prefix holding mass p. */
		if (p->top_p < 1.0f && n > 1) {
			double total = 0.0, cum = 0.0;
			size_t keep = n;

			for (size_t i = 0; i < n; i++)
				total += exp((double)(c[i].logit - max));
			k = 64;
			for (;;) {
				size_t kk = k < n ? k : n;
				int found = 0;

				sampler_top(c, n, kk);
				cum = 0.0;
				for (size_t i = 0; i < kk; i++) {
					cum += exp((double)(c[i].logit - max));
					if (cum >= (double)p->top_p * total) {
						keep = i + 1;
						found = 1;
						break;
					}
				}
				if (found || kk == n)
					break;
				k *= 4;
			}
			n = keep;
		}

		/* Temperature, then one draw along the candidate order. */
		z = 0.0;
		for (size_t i = 0; i < n; i++)
			z += exp((double)((c[i].logit - max) / temp));
		target = sampler_uniform(s) * z;
		acc = 0.0;
		token = c[n - 1].id;
		for (size_t i = 0; i < n; i++) {
			acc += exp((double)((c[i].logit - max) / temp));
			if (acc > target) {
				token = c[i].id;
				break;
			}
		}
	}

	if (logprob != NULL) {
		double z = 0.0;

		for (uint32_t i = 0; i < s->n_vocab; i++)
			if (w[i] != -INFINITY)
				z += exp((double)(w[i] - max));
		*logprob = (float)((double)(w[token] - max) - log(z));
	}
	infer_sampler_accept(s, token);
	return token;
}

int
infer_stop_find(const char *text, size_t len, const char *const *stops,
    size_t n, size_t *at)
{
	size_t best = SIZE_MAX, safe = len;

	for (size_t i = 0; i < n; i++) {
		size_t sl = stops[i] != NULL ? strlen(stops[i]) : 0;
		const char *hit;

		if (sl == 0)
			continue;
		hit = memmem(text, len, stops[i], sl);
		if (hit != NULL && (size_t)(hit - text) < best)
			best = (size_t)(hit - text);
	}
	if (best != SIZE_MAX) {
		*at = best;
		return 1;
	}

	/* Hold back any tail that could be the start of a stop string. */
	for (size_t i = 0; i < n; i++) {
		size_t sl = stops[i] != NULL ? strlen(stops[i]) : 0;
		size_t m = sl - 1 < len ? sl - 1 : len;

		if (sl == 0)
			continue;
		for (; m > 0; m--) {
			if (memcmp(text + len - m, stops[i], m) == 0)
				break;
		}
		if (len - m < safe)
			safe = len - m;
	}
	*at = safe;
	return 0;
}
