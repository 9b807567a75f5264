/*
 * test-logits: the C side of the comparison with the numpy reference
 * forward pass (tests/reference/README.md has the contract).
 *
 *   test-logits MODEL.gguf TOKENS_FILE REF_LOGITS_FILE TOLERANCE
 *
 * Feeds the tokens to one sequence (the first half as one prefill batch,
 * the rest one decode step at a time, so both paths meet the same
 * reference), compares every row of logits with the reference's, and
 * prints one line of figures.  Exit 0 pass, 1 fail or error, 2 usage.
 * Run without arguments (as `make check` runs every test program) it
 * skips: tests/reference/test-reference.sh drives it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/infer.h"

static int32_t *read_tokens(const char *path, size_t *n);
static float *read_logits(const char *path, size_t n_tokens, uint32_t n_vocab);

/* Reads white-space separated decimal ids; NULL on any error. */
static int32_t *
read_tokens(const char *path, size_t *n)
{
	FILE *f;
	int32_t *ids = NULL, *tmp;
	size_t cap = 0, len = 0;
	long v;
	int c;

	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		c = fscanf(f, "%ld", &v);
		if (c == EOF)
			break;
		if (c != 1 || v < 0 || v > INT32_MAX) {
			fprintf(
			    stderr, "%s: token %zu: not an id\n", path, len);
			goto fail;
		}
		if (len == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			tmp = realloc(ids, cap * sizeof *ids);
			if (tmp == NULL) {
				fprintf(stderr, "%s: out of memory\n", path);
				goto fail;
			}
			ids = tmp;
		}
		ids[len++] = (int32_t)v;
	}
	fclose(f);
	if (len == 0) {
		fprintf(stderr, "%s: no token ids\n", path);
		free(ids);
		return NULL;
	}
	*n = len;
	return ids;

fail:
	fclose(f);
	free(ids);
	return NULL;
}

/* Reads n_tokens x n_vocab little-endian floats, checking the size. */
static float *
read_logits(const char *path, size_t n_tokens, uint32_t n_vocab)
{
	size_t want = n_tokens * n_vocab * sizeof(float);
	struct stat st;
	float *buf;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || (size_t)st.st_size != want) {
		fprintf(stderr,
		    "%s: %lld bytes, but %zu tokens x %u vocabulary x 4 = "
		    "%zu\n",
		    path, (long long)st.st_size, n_tokens, n_vocab, want);
		fclose(f);
		return NULL;
	}
	buf = malloc(want);
	if (buf == NULL || fread(buf, 1, want, f) != want) {
		fprintf(stderr, "%s: cannot read %zu bytes\n", path, want);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	struct infer_model_params mp;
	struct infer_model *model = NULL;
	struct infer_seq *seq = NULL;
	int32_t *tokens = NULL;
	float *ref = NULL, *out = NULL;
	char *cause = NULL, *end;
	size_t n, n_pre, checked = 0, mismatch = 0, worst_pos = 0;
	size_t worst_id = 0;
	uint32_t n_vocab;
	double tol, scale = 0.0, err = 0.0;
	int rc = 1;

	if (argc == 1) {
		printf("test-logits: needs a model and reference logits; "
		       "tests/reference/test-reference.sh runs it\n");
		return 77;
	}
	if (argc != 5) {
		fprintf(stderr,
		    "usage: test-logits MODEL.gguf TOKENS_FILE "
		    "REF_LOGITS_FILE TOLERANCE\n");
		return 2;
	}
	errno = 0;
	tol = strtod(argv[4], &end);
	if (errno != 0 || *end != '\0' || !(tol >= 0.0)) {
		fprintf(stderr, "test-logits: bad tolerance '%s'\n", argv[4]);
		return 2;
	}

	tokens = read_tokens(argv[2], &n);
	if (tokens == NULL)
		goto out;
	if (n >= (1u << 20)) {
		fprintf(stderr, "%s: %zu tokens: too many\n", argv[2], n);
		goto out;
	}
	/* A context that holds them all, whatever the trained one. */
	infer_model_params_init(&mp);
	mp.n_ctx = (uint32_t)n + 1;
	model = infer_model_load(argv[1], &mp, &cause);
	if (model == NULL) {
		fprintf(stderr, "test-logits: %s\n", cause);
		goto out;
	}
	n_vocab = infer_vocab_size(model);
	ref = read_logits(argv[3], n, n_vocab);
	if (ref == NULL)
		goto out;
	out = calloc(n * n_vocab, sizeof *out);
	if (out == NULL) {
		fprintf(stderr, "test-logits: out of memory\n");
		goto out;
	}
	seq = infer_seq_new(model, (uint32_t)(n + 1), &cause);
	if (seq == NULL) {
		fprintf(stderr, "test-logits: %s\n", cause);
		goto out;
	}

	/* The first half as a batch, the rest one token at a time. */
	n_pre = n / 2 > 0 ? n / 2 : 1;
	if (infer_seq_feed_all(seq, tokens, n_pre, out, &cause) != 0) {
		fprintf(stderr, "test-logits: prefill: %s\n", cause);
		goto out;
	}
	for (size_t t = n_pre; t < n; t++) {
		if (infer_seq_feed(seq, &tokens[t], 1, &cause) != 0) {
			fprintf(
			    stderr, "test-logits: token %zu: %s\n", t, cause);
			goto out;
		}
		memcpy(out + t * n_vocab, infer_seq_logits(seq),
		    n_vocab * sizeof *out);
	}

	/* The max norm of the difference, relative to max |ref|. */
	for (size_t i = 0; i < n * n_vocab; i++) {
		double d = fabs((double)out[i] - (double)ref[i]);

		if (fabs((double)ref[i]) > scale)
			scale = fabs((double)ref[i]);
		if (!(d <= err)) {
			err = isnan(d) ? INFINITY : d;
			worst_pos = i / n_vocab;
			worst_id = i % n_vocab;
		}
	}
	/* Greedy agreement wherever the reference is decided. */
	for (size_t t = 0; t < n; t++) {
		const float *r = ref + t * n_vocab, *o = out + t * n_vocab;
		size_t a = 0, b = SIZE_MAX, oa = 0;

		for (size_t v = 1; v < n_vocab; v++)
			if (r[v] > r[a])
				a = v;
		for (size_t v = 0; v < n_vocab; v++)
			if (v != a && (b == SIZE_MAX || r[v] > r[b]))
				b = v;
		for (size_t v = 1; v < n_vocab; v++)
			if (o[v] > o[oa])
				oa = v;
		if (b == SIZE_MAX || (double)r[a] - (double)r[b] <= tol * scale)
			continue;
		checked++;
		if (oa != a) {
			mismatch++;
			fprintf(stderr,
			    "position %zu: argmax %zu, reference %zu (margin "
			    "%g)\n",
			    t, oa, a, (double)r[a] - (double)r[b]);
		}
	}
	printf("err=%g scale=%g rel=%g tol=%g worst_pos=%zu worst_id=%zu "
	       "argmax_checked=%zu argmax_mismatch=%zu\n",
	    err, scale, scale > 0 ? err / scale : err, tol, worst_pos, worst_id,
	    checked, mismatch);
	if (!(err <= tol * scale)) {
		fprintf(stderr,
		    "%s: max |engine - reference| = %g at position %zu id %zu "
		    "exceeds %g x %g\n",
		    argv[1], err, worst_pos, worst_id, tol, scale);
		goto out;
	}
	if (mismatch > 0) {
		fprintf(stderr,
		    "%s: greedy choice differs at %zu of %zu "
		    "decided positions\n",
		    argv[1], mismatch, checked);
		goto out;
	}
	rc = 0;

out:
	free(cause);
	infer_seq_free(seq);
	infer_model_free(model);
	free(tokens);
	free(ref);
	free(out);
	return rc;
}
