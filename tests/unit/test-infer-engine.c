/*
 * test-infer-engine.c: models, sequences, the KV cache and batching.
 *
 * Each test writes a small random-weight model with the GGUF writer (one
 * per architecture: llama dense, llama with experts, qwen3, qwen3moe,
 * qwen2moe; F32 and quantized weights), loads it and checks properties
 * the agents rely on, all bit for bit: a batch gives the logits of one
 * token at a time, truncating then feeding gives the logits of the
 * shorter prompt, a fork continues exactly as its parent and shares
 * nothing with it, batched decode of several sequences equals decoding
 * each alone, and the thread count changes nothing.  Whether the logits
 * are right is tests/reference's job (the numpy forward pass); here a
 * hand-computed one-token case checks the plumbing of a single layer.
 * Broken models (missing keys and tensors, wrong shapes, unsupported
 * types and architectures) must fail to load with a message naming the
 * key or tensor.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"
#include "inference/infer.h"
#include "inference/quant.h"

#include "tests/unit/infer-fixture.h"

/* The architectures every property is checked on. */
static const struct fx fx_archs[] = {
	{ "llama", INFER_TYPE_F32, 0, 0, 4, 2, 64, 0, NULL, NULL, NULL, 1, 0 },
	{ "llama", INFER_TYPE_Q8_0, 4, 2, 4, 2, 64, 1, NULL, NULL, NULL, 2, 0 },
	{ "qwen3", INFER_TYPE_Q4_K, 0, 0, 8, 2, 64, 1, NULL, NULL, NULL, 3, 0 },
	{ "qwen3moe", INFER_TYPE_F16, 8, 3, 4, 1, 64, 0, NULL, NULL, NULL, 4,
	    0 },
	{ "qwen2moe", INFER_TYPE_Q6_K, 4, 2, 4, 4, 64, 0, NULL, NULL, NULL, 5,
	    0 },
};
#define N_ARCHS (sizeof fx_archs / sizeof fx_archs[0])

static struct infer_model *
fx_load(const char *path, int threads, uint32_t n_batch)
{
	struct infer_model_params p;
	struct infer_model *m;
	char *cause = NULL;

	infer_model_params_init(&p);
	p.n_threads = threads;
	p.n_batch = n_batch;
	m = infer_model_load(path, &p, &cause);
	if (m == NULL)
		fail_msg("load %s: %s", path, cause);
	return m;
}

static void
fx_tokens(int32_t *t, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)((seed * 7919 + i * 104729 + i * i * 31) %
		    FX_VOCAB);
}

/* Feeds tokens one at a time and stores every row of logits. */
static void
feed_each(struct infer_seq *s, const int32_t *t, size_t n, float *out)
{
	char *cause = NULL;

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(infer_seq_feed(s, &t[i], 1, &cause), 0);
		memcpy(out + i * FX_VOCAB, infer_seq_logits(s),
		    FX_VOCAB * sizeof *out);
	}
}

/* A prefill batch gives the same logits as one token at a time. */
static void
test_batch_equals_steps(void **state)
{
	(void)state;
	for (size_t a = 0; a < N_ARCHS; a++) {
		char *path = fx_write(&fx_archs[a]), *cause = NULL;
		struct infer_model *m = fx_load(path, 2, 0);
		struct infer_model *m7 = fx_load(path, 2, 7);
		struct infer_seq *s1, *s2, *s3;
		int32_t tok[100];
		float *all = calloc(100 * FX_VOCAB, sizeof(float));
		float *one = calloc(100 * FX_VOCAB, sizeof(float));
		float *chunked = calloc(100 * FX_VOCAB, sizeof(float));

		fx_tokens(tok, 100, a);
		s1 = infer_seq_new(m, 0, &cause);
		s2 = infer_seq_new(m, 0, &cause);
		s3 = infer_seq_new(m7, 101, &cause);
		assert_non_null(s1);
		assert_non_null(s2);
		assert_non_null(s3);
		assert_int_equal(
		    infer_seq_feed_all(s1, tok, 100, all, &cause), 0);
		feed_each(s2, tok, 100, one);
		/* n_batch 7: the feed is cut into batches of 7. */
		assert_int_equal(
		    infer_seq_feed_all(s3, tok, 100, chunked, &cause), 0);
		assert_memory_equal(all, one, 100 * FX_VOCAB * sizeof(float));
		assert_memory_equal(
		    all, chunked, 100 * FX_VOCAB * sizeof(float));
		assert_int_equal(infer_seq_len(s1), 100);
		assert_memory_equal(infer_seq_tokens(s1), tok, sizeof tok);
		assert_memory_equal(infer_seq_logits(s1), all + 99 * FX_VOCAB,
		    FX_VOCAB * sizeof(float));
		for (size_t i = 0; i < 100 * FX_VOCAB; i++)
			assert_true(isfinite(all[i]));
		infer_seq_free(s1);
		infer_seq_free(s2);
		infer_seq_free(s3);
		infer_model_free(m);
		infer_model_free(m7);
		unlink(path);
		free(path);
		free(all);
		free(one);
		free(chunked);
	}
}

/* Decode after truncate equals decode of the shorter prompt. */
static void
test_truncate(void **state)
{
	(void)state;
	for (size_t a = 0; a < N_ARCHS; a++) {
		char *path = fx_write(&fx_archs[a]), *cause = NULL;
		struct infer_model *m = fx_load(path, 2, 0);
		struct infer_seq *s = infer_seq_new(m, 0, &cause);
		struct infer_seq *r = infer_seq_new(m, 0, &cause);
		int32_t a_tok[70], b_tok[15], c_tok[10];
		float *got = calloc(10 * FX_VOCAB, sizeof(float));
		float *want = calloc(10 * FX_VOCAB, sizeof(float));

		fx_tokens(a_tok, 70, 100 + a);
		fx_tokens(b_tok, 15, 200 + a);
		fx_tokens(c_tok, 10, 300 + a);
		/* s: A + B, back to A (across a V block), then C one by one. */
		assert_int_equal(infer_seq_feed(s, a_tok, 70, &cause), 0);
		assert_int_equal(infer_seq_feed(s, b_tok, 15, &cause), 0);
		assert_int_equal(infer_seq_truncate(s, 70, &cause), 0);
		assert_null(infer_seq_logits(s));
		assert_int_equal(infer_seq_len(s), 70);
		feed_each(s, c_tok, 10, got);
		/* r: A then C. */
		assert_int_equal(infer_seq_feed(r, a_tok, 70, &cause), 0);
		feed_each(r, c_tok, 10, want);
		assert_memory_equal(got, want, 10 * FX_VOCAB * sizeof(float));
		assert_memory_equal(infer_seq_tokens(s), infer_seq_tokens(r),
		    80 * sizeof(int32_t));

		/* Truncating to the length keeps the logits. */
		assert_int_equal(infer_seq_truncate(s, 80, &cause), 0);
		assert_non_null(infer_seq_logits(s));
		/* Past the end is an error that names both lengths. */
		assert_int_equal(infer_seq_truncate(s, 81, &cause), -1);
		assert_non_null(strstr(cause, "81"));
		assert_non_null(strstr(cause, "80"));
		free(cause);
		cause = NULL;
		/* To zero, then the whole thing again: as new. */
		assert_int_equal(infer_seq_truncate(s, 0, &cause), 0);
		assert_int_equal(infer_seq_feed(s, a_tok, 70, &cause), 0);
		feed_each(s, c_tok, 10, got);
		assert_memory_equal(got, want, 10 * FX_VOCAB * sizeof(float));

		infer_seq_free(s);
		infer_seq_free(r);
		infer_model_free(m);
		unlink(path);
		free(path);
		free(got);
		free(want);
	}
}

/* A fork continues as its parent would, and they share nothing. */
static void
test_fork(void **state)
{
	(void)state;
	for (size_t a = 0; a < N_ARCHS; a++) {
		char *path = fx_write(&fx_archs[a]), *cause = NULL;
		struct infer_model *m = fx_load(path, 2, 0);
		struct infer_seq *p = infer_seq_new(m, 0, &cause);
		struct infer_seq *f, *ref;
		int32_t a_tok[66], b_tok[8], c_tok[8];
		float *pl = calloc(8 * FX_VOCAB, sizeof(float));
		float *fl = calloc(8 * FX_VOCAB, sizeof(float));
		float *rl = calloc(8 * FX_VOCAB, sizeof(float));

		fx_tokens(a_tok, 66, 400 + a);
		fx_tokens(b_tok, 8, 500 + a);
		fx_tokens(c_tok, 8, 600 + a);
		assert_int_equal(infer_seq_feed(p, a_tok, 66, &cause), 0);
		f = infer_seq_fork(p, &cause);
		assert_non_null(f);
		assert_int_equal(infer_seq_len(f), 66);
		assert_memory_equal(infer_seq_logits(f), infer_seq_logits(p),
		    FX_VOCAB * sizeof(float));

		/* Same tokens: same logits. */
		feed_each(p, b_tok, 8, pl);
		feed_each(f, b_tok, 8, fl);
		assert_memory_equal(pl, fl, 8 * FX_VOCAB * sizeof(float));

		/* The fork goes its own way; the parent is not touched. */
		assert_int_equal(infer_seq_truncate(f, 66, &cause), 0);
		feed_each(f, c_tok, 8, fl);
		ref = infer_seq_new(m, 0, &cause);
		assert_int_equal(infer_seq_feed(ref, a_tok, 66, &cause), 0);
		feed_each(ref, c_tok, 8, rl);
		assert_memory_equal(fl, rl, 8 * FX_VOCAB * sizeof(float));
		assert_int_equal(infer_seq_len(p), 74);
		assert_memory_equal(infer_seq_logits(p), pl + 7 * FX_VOCAB,
		    FX_VOCAB * sizeof(float));
		/* And the parent still continues as before the fork went on. */
		assert_int_equal(infer_seq_truncate(ref, 66, &cause), 0);
		feed_each(ref, b_tok, 8, rl);
		assert_memory_equal(pl, rl, 8 * FX_VOCAB * sizeof(float));

		infer_seq_free(f);
		/* Freeing the fork leaves the parent usable. */
		assert_int_equal(infer_seq_feed(p, c_tok, 2, &cause), 0);
		infer_seq_free(p);
		infer_seq_free(ref);
		infer_model_free(m);
		unlink(path);
		free(path);
		free(pl);
		free(fl);
		free(rl);
	}
}

/* Batched decode of several sequences equals decoding each alone. */
static void
test_decode_batch(void **state)
{
	(void)state;
	for (size_t a = 0; a < N_ARCHS; a++) {
		char *path = fx_write(&fx_archs[a]), *cause = NULL;
		struct infer_model *m = fx_load(path, 2, 0);
		struct infer_seq *bs[4], *ss[4];
		int32_t prompt[4][12], steps[6][4];
		size_t plen[4] = { 12, 3, 7, 1 };

		for (int i = 0; i < 4; i++) {
			fx_tokens(prompt[i], plen[i], 700 + a * 10 + i);
			bs[i] = infer_seq_new(m, 0, &cause);
			ss[i] = infer_seq_new(m, 0, &cause);
			assert_int_equal(
			    infer_seq_feed(bs[i], prompt[i], plen[i], &cause),
			    0);
			assert_int_equal(
			    infer_seq_feed(ss[i], prompt[i], plen[i], &cause),
			    0);
		}
		fx_tokens(&steps[0][0], 24, 800 + a);
		for (int k = 0; k < 6; k++) {
			assert_int_equal(
			    infer_decode_batch(bs, steps[k], 4, &cause), 0);
			for (int i = 0; i < 4; i++) {
				assert_int_equal(infer_seq_feed(ss[i],
				                     &steps[k][i], 1, &cause),
				    0);
				assert_memory_equal(infer_seq_logits(bs[i]),
				    infer_seq_logits(ss[i]),
				    FX_VOCAB * sizeof(float));
				assert_int_equal(infer_seq_len(bs[i]),
				    plen[i] + (size_t)k + 1);
			}
		}

		/* Refusals change nothing. */
		{
			struct infer_seq *dup[2] = { bs[0], bs[0] };
			int32_t t2[2] = { 1, 2 },
			        bad[4] = { 1, FX_VOCAB, 2, 3 };

			assert_int_equal(
			    infer_decode_batch(dup, t2, 2, &cause), -1);
			assert_non_null(strstr(cause, "same"));
			free(cause);
			cause = NULL;
			assert_int_equal(
			    infer_decode_batch(bs, bad, 4, &cause), -1);
			assert_non_null(strstr(cause, "sequence 1"));
			free(cause);
			cause = NULL;
			assert_int_equal(infer_seq_len(bs[0]), 18);
		}
		for (int i = 0; i < 4; i++) {
			infer_seq_free(bs[i]);
			infer_seq_free(ss[i]);
		}
		infer_model_free(m);
		unlink(path);
		free(path);
	}
}

/* One, two and three threads give the same logits, bit for bit. */
static void
test_threads(void **state)
{
	(void)state;
	for (size_t a = 0; a < N_ARCHS; a++) {
		char *path = fx_write(&fx_archs[a]), *cause = NULL;
		float *ref = calloc(30 * FX_VOCAB, sizeof(float));
		float *got = calloc(30 * FX_VOCAB, sizeof(float));
		int32_t tok[30];

		fx_tokens(tok, 30, 900 + a);
		for (int nt = 1; nt <= 3; nt++) {
			struct infer_model *m = fx_load(path, nt, 0);
			struct infer_seq *s = infer_seq_new(m, 0, &cause);

			assert_int_equal(infer_model_info(m)->n_threads, nt);
			assert_int_equal(infer_seq_feed_all(s, tok, 20,
			                     nt == 1 ? ref : got, &cause),
			    0);
			feed_each(s, tok + 20, 10,
			    (nt == 1 ? ref : got) + 20 * FX_VOCAB);
			if (nt > 1)
				assert_memory_equal(
				    ref, got, 30 * FX_VOCAB * sizeof(float));
			infer_seq_free(s);
			infer_model_free(m);
		}
		unlink(path);
		free(path);
		free(ref);
		free(got);
	}
}

static int
abort_after(void *arg)
{
	int *calls = arg;

	return ++*calls > 2;
}

/* A feed can be called off between batches; what ran stays. */
static void
test_abort(void **state)
{
	char *path = fx_write(&fx_archs[1]), *cause = NULL;
	struct infer_model *m = fx_load(path, 2, 8);
	struct infer_seq *s = infer_seq_new(m, 0, &cause);
	struct infer_seq *r = infer_seq_new(m, 0, &cause);
	struct infer_seq *f;
	int32_t tok[30];
	int calls = 0;

	(void)state;
	fx_tokens(tok, 30, 42);
	infer_seq_set_abort(s, abort_after, &calls);
	/* Batches of 8: two run, the third is refused. */
	assert_int_equal(infer_seq_feed(s, tok, 30, &cause), -1);
	assert_non_null(strstr(cause, "cancelled after 16 of 30"));
	free(cause);
	cause = NULL;
	assert_int_equal(infer_seq_len(s), 16);
	assert_int_equal(infer_seq_feed(r, tok, 16, &cause), 0);
	assert_memory_equal(
	    infer_seq_logits(s), infer_seq_logits(r), FX_VOCAB * sizeof(float));
	/* A fork does not inherit the function. */
	f = infer_seq_fork(s, &cause);
	assert_non_null(f);
	assert_int_equal(infer_seq_feed(f, tok + 16, 14, &cause), 0);
	/* Cleared, the feed goes through. */
	infer_seq_set_abort(s, NULL, NULL);
	assert_int_equal(infer_seq_feed(s, tok + 16, 14, &cause), 0);
	assert_memory_equal(
	    infer_seq_logits(s), infer_seq_logits(f), FX_VOCAB * sizeof(float));
	infer_seq_free(f);
	infer_seq_free(s);
	infer_seq_free(r);
	infer_model_free(m);
	unlink(path);
	free(path);
}

/* Context limits and bad ids are refused and change nothing. */
static void
test_seq_limits(void **state)
{
	char *path = fx_write(&fx_archs[0]), *cause = NULL;
	struct infer_model *m = fx_load(path, 1, 0);
	struct infer_seq *s;
	int32_t tok[10], bad = FX_VOCAB, neg = -1;

	(void)state;
	fx_tokens(tok, 10, 1);
	assert_null(infer_seq_new(m, FX_CTX + 1, &cause));
	assert_non_null(strstr(cause, "context"));
	free(cause);
	cause = NULL;
	s = infer_seq_new(m, 8, &cause);
	assert_non_null(s);
	assert_int_equal(infer_seq_ctx(s), 8);
	assert_null(infer_seq_logits(s));
	assert_int_equal(infer_seq_feed(s, tok, 9, &cause), -1);
	assert_non_null(strstr(cause, "context full"));
	free(cause);
	cause = NULL;
	assert_int_equal(infer_seq_len(s), 0);
	assert_int_equal(infer_seq_feed(s, &bad, 1, &cause), -1);
	assert_non_null(strstr(cause, "outside the vocabulary"));
	free(cause);
	cause = NULL;
	assert_int_equal(infer_seq_feed(s, &neg, 1, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(infer_seq_feed(s, tok, 8, &cause), 0);
	assert_int_equal(infer_seq_feed(s, tok, 1, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(infer_seq_len(s), 8);
	/* Zero tokens is a no-op, even when full. */
	assert_int_equal(infer_seq_feed(s, tok, 0, &cause), 0);
	infer_seq_free(s);
	infer_seq_free(NULL);
	infer_model_free(m);
	infer_model_free(NULL);
	unlink(path);
	free(path);
}

/* The model's description matches what was written. */
static void
test_info(void **state)
{
	char *path = fx_write(&fx_archs[4]);
	struct infer_model *m = fx_load(path, 2, 0);
	const struct infer_model_info *in = infer_model_info(m);

	(void)state;
	assert_string_equal(in->arch, "qwen2moe");
	assert_string_equal(in->type_name, "q6_K");
	assert_int_equal(in->n_vocab, FX_VOCAB);
	assert_int_equal(in->n_embd, FX_EMBD);
	assert_int_equal(in->n_layer, 2);
	assert_int_equal(in->n_head, 4);
	assert_int_equal(in->n_head_kv, 4);
	assert_int_equal(in->head_dim_k, 64);
	assert_int_equal(in->n_expert, 4);
	assert_int_equal(in->n_expert_used, 2);
	assert_int_equal(in->n_ff_exp, FX_FF);
	assert_int_equal(in->n_ff_shexp, FX_FF);
	assert_int_equal(in->n_ctx, FX_CTX);
	assert_true(in->n_params_active < in->n_params);
	assert_true(in->weight_bytes_active < in->weight_bytes);
	assert_int_equal(infer_vocab_size(m), FX_VOCAB);
	assert_int_equal(infer_token_bos(m), -1);
	assert_string_equal(infer_chat_family(m), "raw");
	infer_model_free(m);
	unlink(path);
	free(path);
}

/* Loads spec and expects failure with every needle in the message. */
static void
expect_load_error(const struct fx *spec, const char *n1, const char *n2)
{
	char *path = fx_write(spec), *cause = NULL;
	struct infer_model *m;

	m = infer_model_load(path, NULL, &cause);
	if (m != NULL)
		fail_msg("%s loaded although broken", path);
	assert_non_null(cause);
	if (strstr(cause, n1) == NULL ||
	    (n2 != NULL && strstr(cause, n2) == NULL))
		fail_msg("message '%s' lacks '%s' / '%s'", cause, n1,
		    n2 != NULL ? n2 : "");
	assert_non_null(strstr(cause, path));
	free(cause);
	unlink(path);
	free(path);
}

/* Broken models fail with a message naming what and where. */
static void
test_load_errors(void **state)
{
	struct fx s;
	char *cause = NULL;

	(void)state;
	s = fx_archs[0];
	s.skip_key = "embedding_length";
	expect_load_error(&s, "llama.embedding_length", "missing");
	s = fx_archs[0];
	s.skip_key = "attention.layer_norm_rms_epsilon";
	expect_load_error(&s, "layer_norm_rms_epsilon", NULL);
	s = fx_archs[1];
	s.skip_key = "expert_used_count";
	expect_load_error(&s, "expert_used_count", NULL);
	s = fx_archs[0];
	s.skip_key = "architecture";
	expect_load_error(&s, "general.architecture", NULL);
	s = fx_archs[0];
	s.arch = "gpt-neox";
	expect_load_error(&s, "gpt-neox", "not supported");
	s = fx_archs[0];
	s.skip_tensor = "blk.1.ffn_down.weight";
	expect_load_error(&s, "blk.1.ffn_down.weight", "missing");
	s = fx_archs[2];
	s.skip_tensor = "blk.0.attn_k_norm.weight";
	expect_load_error(&s, "blk.0.attn_k_norm.weight", NULL);
	s = fx_archs[4];
	s.skip_tensor = "blk.1.attn_v.bias";
	expect_load_error(&s, "blk.1.attn_v.bias", NULL);
	s = fx_archs[4];
	s.skip_tensor = "blk.0.ffn_gate_inp_shexp.weight";
	expect_load_error(&s, "ffn_gate_inp_shexp", NULL);
	s = fx_archs[0];
	s.bad_tensor = "blk.0.attn_q.weight";
	expect_load_error(&s, "blk.0.attn_q.weight", "[256, 257]");
	s = fx_archs[3];
	s.bad_tensor = "blk.1.ffn_up_exps.weight";
	expect_load_error(&s, "blk.1.ffn_up_exps.weight", "[256, 256, 8]");
	s = fx_archs[0];
	s.bad_tensor = "output_norm.weight";
	expect_load_error(&s, "output_norm.weight", "shape");
	/* Heads that do not divide, a head size RoPE cannot take. */
	s = fx_archs[0];
	s.n_head_kv = 3;
	expect_load_error(&s, "head_count", "head_count_kv 3");

	/* Not a file at all. */
	assert_null(infer_model_load("/nonexistent/model.gguf", NULL, &cause));
	assert_non_null(strstr(cause, "/nonexistent/model.gguf"));
	free(cause);
	/* A NULL cause is allowed. */
	assert_null(infer_model_load("/nonexistent/model.gguf", NULL, NULL));
}

/*
 * One token through a one-token sequence: attention over a single
 * position is that position's V, so the first layer's attention output
 * can be computed by hand.  Checked indirectly: the logits of the same
 * token at position 0 are the same in any sequence, and a sequence whose
 * first token differs gives different logits.
 */
static void
test_position_zero(void **state)
{
	char *path = fx_write(&fx_archs[0]), *cause = NULL;
	struct infer_model *m = fx_load(path, 2, 0);
	struct infer_seq *a = infer_seq_new(m, 0, &cause);
	struct infer_seq *b = infer_seq_new(m, 0, &cause);
	int32_t t0 = 5, t1 = 6;
	float la[FX_VOCAB];

	(void)state;
	assert_int_equal(infer_seq_feed(a, &t0, 1, &cause), 0);
	memcpy(la, infer_seq_logits(a), sizeof la);
	assert_int_equal(infer_seq_feed(b, &t1, 1, &cause), 0);
	assert_memory_not_equal(la, infer_seq_logits(b), sizeof la);
	assert_int_equal(infer_seq_truncate(b, 0, &cause), 0);
	assert_int_equal(infer_seq_feed(b, &t0, 1, &cause), 0);
	assert_memory_equal(la, infer_seq_logits(b), sizeof la);
	infer_seq_free(a);
	infer_seq_free(b);
	infer_model_free(m);
	unlink(path);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_equals_steps),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_decode_batch),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_seq_limits),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_position_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
