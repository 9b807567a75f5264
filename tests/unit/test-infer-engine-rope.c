/*
 * test-infer-engine-rope.c: RoPE frequency scaling (none, linear, YaRN)
 * against an independent double-precision forward pass.
 *
 * The numpy reference of tests/reference/ covers unscaled and linearly
 * scaled RoPE; this file adds YaRN.  Each case writes a small F32 model
 * (two layers, grouped-query attention, a dense SwiGLU FFN) with the
 * {arch}.rope.scaling.* keys, runs a 96-token sequence through the
 * engine (a prefill of 40 tokens, then one decode step per token) and
 * compares every position's logits with a forward pass computed here in
 * double precision.
 *
 * The reference is written the way Hugging Face transformers writes it
 * (modeling_rope_utils.py, LlamaRotaryEmbedding), not the way ggml does:
 * YaRN blends two inverse-frequency tables with a linear ramp over the
 * frequency index between the correction dimensions of beta_fast = 32
 * and beta_slow = 1 rotations over original_context_length positions,
 * and scales cos and sin by 0.1 ln(factor) + 1; ggml instead blends the
 * angles.  For llama, the reference undoes the converter's q/k
 * permutation and rotates halves (x[i], x[i + d/2]), where the engine
 * rotates adjacent pairs of the permuted rows; qwen3 rotates halves of
 * the rows as stored, with its per-head q/k norms.  The tolerance is the
 * F32 bound of issue 3: 1e-4 of the largest logit.  Each scaled case
 * also checks that the scaling moved the logits well beyond that bound,
 * so a scaling the engine ignored could not pass.
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

#define N_EMBD    128
#define N_HEAD    4
#define N_HEAD_KV 2
#define HD        32
#define N_FF      128
#define N_LAYER   2
#define N_VOCAB   96
#define N_TOK     96
#define N_PREFILL 40
#define EPS       1e-5
#define TOL       1e-4

enum scaling { SC_NONE, SC_LINEAR, SC_YARN };

/* One case: the architecture and its RoPE keys. */
struct rcase {
	const char *arch; /* "llama" or "qwen3" */
	enum scaling scaling;
	float factor;      /* rope.scaling.factor */
	uint32_t ctx_orig; /* rope.scaling.original_context_length */
	float attn_factor; /* rope.scaling.attn_factor; 0: key absent */
	float freq_base;   /* rope.freq_base */
};

/* Weights of one layer, rows in ggml order (row r: ne[0] values). */
struct rlayer {
	float attn_norm[N_EMBD];
	float wq[N_HEAD * HD][N_EMBD];
	float wk[N_HEAD_KV * HD][N_EMBD];
	float wv[N_HEAD_KV * HD][N_EMBD];
	float wo[N_EMBD][N_HEAD * HD];
	float q_norm[HD], k_norm[HD];
	float ffn_norm[N_EMBD];
	float w_gate[N_FF][N_EMBD];
	float w_up[N_FF][N_EMBD];
	float w_down[N_EMBD][N_FF];
};

struct rmodel {
	float embd[N_VOCAB][N_EMBD];
	float out_norm[N_EMBD];
	float output[N_VOCAB][N_EMBD];
	struct rlayer l[N_LAYER];
};

static uint64_t rng;

static float
urand(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (float)((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void
fill(float *p, size_t n, float offset, float scale)
{
	for (size_t i = 0; i < n; i++)
		p[i] = offset + scale * urand();
}

static void
random_model(struct rmodel *m, uint64_t seed)
{
	rng = seed;
	fill(&m->embd[0][0], sizeof m->embd / sizeof(float), 0.0f, 1.0f);
	fill(m->out_norm, N_EMBD, 1.0f, 0.1f);
	fill(&m->output[0][0], sizeof m->output / sizeof(float), 0.0f, 0.1f);
	for (int il = 0; il < N_LAYER; il++) {
		struct rlayer *l = &m->l[il];

		fill(l->attn_norm, N_EMBD, 1.0f, 0.1f);
		/* Large q and k weights make the angles matter. */
		fill(&l->wq[0][0], sizeof l->wq / sizeof(float), 0.0f, 0.3f);
		fill(&l->wk[0][0], sizeof l->wk / sizeof(float), 0.0f, 0.3f);
		fill(&l->wv[0][0], sizeof l->wv / sizeof(float), 0.0f, 0.1f);
		fill(&l->wo[0][0], sizeof l->wo / sizeof(float), 0.0f, 0.1f);
		fill(l->q_norm, HD, 1.0f, 0.1f);
		fill(l->k_norm, HD, 1.0f, 0.1f);
		fill(l->ffn_norm, N_EMBD, 1.0f, 0.1f);
		fill(&l->w_gate[0][0], sizeof l->w_gate / sizeof(float), 0.0f,
		    0.1f);
		fill(
		    &l->w_up[0][0], sizeof l->w_up / sizeof(float), 0.0f, 0.1f);
		fill(&l->w_down[0][0], sizeof l->w_down / sizeof(float), 0.0f,
		    0.1f);
	}
}

/* ---- writing the GGUF file --------------------------------------------- */

static void
add_tensor(struct infer_gguf_writer *w, const char *name, const float *data,
    uint64_t ne0, uint64_t ne1)
{
	uint64_t ne[2] = { ne0, ne1 };
	char *cause = NULL;

	if (infer_gguf_writer_add_tensor(w, name, INFER_TYPE_F32,
	        ne1 == 0 ? 1 : 2, ne, data, &cause) != 0)
		fail_msg("%s: %s", name, cause);
}

static void
add_u32(
    struct infer_gguf_writer *w, const char *arch, const char *key, uint32_t v)
{
	char k[128], *cause = NULL;

	snprintf(k, sizeof k, "%s.%s", arch, key);
	assert_int_equal(infer_gguf_writer_add_u32(w, k, v, &cause), 0);
}

static void
add_f32(struct infer_gguf_writer *w, const char *arch, const char *key, float v)
{
	char k[128], *cause = NULL;

	snprintf(k, sizeof k, "%s.%s", arch, key);
	assert_int_equal(infer_gguf_writer_add_f32(w, k, v, &cause), 0);
}

/* Writes m as case c to a new temporary file; returns its path. */
static char *
write_model(const struct rmodel *m, const struct rcase *c)
{
	static const char *const types[] = { "none", "linear", "yarn" };
	const char *dir = getenv("TMPDIR");
	struct infer_gguf_writer *w;
	char *path, *cause = NULL, name[64], key[128];
	int fd;

	assert_true(asprintf(&path, "%s/test-infer-rope-XXXXXX",
	                dir != NULL ? dir : "/tmp") > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	w = infer_gguf_writer_new();
	assert_non_null(w);
	assert_int_equal(infer_gguf_writer_add_str(w, "general.architecture",
	                     c->arch, strlen(c->arch), &cause),
	    0);
	add_u32(w, c->arch, "context_length", 1024);
	add_u32(w, c->arch, "embedding_length", N_EMBD);
	add_u32(w, c->arch, "block_count", N_LAYER);
	add_u32(w, c->arch, "feed_forward_length", N_FF);
	add_u32(w, c->arch, "attention.head_count", N_HEAD);
	add_u32(w, c->arch, "attention.head_count_kv", N_HEAD_KV);
	add_u32(w, c->arch, "attention.key_length", HD);
	add_u32(w, c->arch, "attention.value_length", HD);
	add_f32(w, c->arch, "attention.layer_norm_rms_epsilon", (float)EPS);
	add_f32(w, c->arch, "rope.freq_base", c->freq_base);
	snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
	assert_int_equal(infer_gguf_writer_add_str(w, key, types[c->scaling],
	                     strlen(types[c->scaling]), &cause),
	    0);
	if (c->scaling != SC_NONE)
		add_f32(w, c->arch, "rope.scaling.factor", c->factor);
	if (c->ctx_orig != 0)
		add_u32(w, c->arch, "rope.scaling.original_context_length",
		    c->ctx_orig);
	if (c->attn_factor != 0.0f)
		add_f32(w, c->arch, "rope.scaling.attn_factor", c->attn_factor);

	add_tensor(w, "token_embd.weight", &m->embd[0][0], N_EMBD, N_VOCAB);
	add_tensor(w, "output_norm.weight", m->out_norm, N_EMBD, 0);
	add_tensor(w, "output.weight", &m->output[0][0], N_EMBD, N_VOCAB);
	for (int il = 0; il < N_LAYER; il++) {
		const struct rlayer *l = &m->l[il];

#define LN(s) (snprintf(name, sizeof name, "blk.%d.%s", il, (s)), name)
		add_tensor(w, LN("attn_norm.weight"), l->attn_norm, N_EMBD, 0);
		add_tensor(
		    w, LN("attn_q.weight"), &l->wq[0][0], N_EMBD, N_HEAD * HD);
		add_tensor(w, LN("attn_k.weight"), &l->wk[0][0], N_EMBD,
		    N_HEAD_KV * HD);
		add_tensor(w, LN("attn_v.weight"), &l->wv[0][0], N_EMBD,
		    N_HEAD_KV * HD);
		add_tensor(w, LN("attn_output.weight"), &l->wo[0][0],
		    N_HEAD * HD, N_EMBD);
		if (strcmp(c->arch, "qwen3") == 0) {
			add_tensor(
			    w, LN("attn_q_norm.weight"), l->q_norm, HD, 0);
			add_tensor(
			    w, LN("attn_k_norm.weight"), l->k_norm, HD, 0);
		}
		add_tensor(w, LN("ffn_norm.weight"), l->ffn_norm, N_EMBD, 0);
		add_tensor(
		    w, LN("ffn_gate.weight"), &l->w_gate[0][0], N_EMBD, N_FF);
		add_tensor(
		    w, LN("ffn_up.weight"), &l->w_up[0][0], N_EMBD, N_FF);
		add_tensor(
		    w, LN("ffn_down.weight"), &l->w_down[0][0], N_FF, N_EMBD);
#undef LN
	}
	if (infer_gguf_writer_write(w, path, NULL, NULL, &cause) != 0)
		fail_msg("write %s: %s", path, cause);
	infer_gguf_writer_free(w);
	return path;
}

/* ---- the reference ----------------------------------------------------- */

/* out[r] = sum_k w[r][k] x[k] for rows of n values. */
static void
matvec(double *out, const float *w, const double *x, size_t rows, size_t n)
{
	for (size_t r = 0; r < rows; r++) {
		double s = 0.0;

		for (size_t k = 0; k < n; k++)
			s += (double)w[r * n + k] * x[k];
		out[r] = s;
	}
}

static void
rmsnorm(double *out, const double *x, const float *w, size_t n)
{
	double ss = 0.0;

	for (size_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	ss = 1.0 / sqrt(ss / (double)n + EPS);
	for (size_t i = 0; i < n; i++)
		out[i] = x[i] * ss * (double)w[i];
}

/*
 * The inverse frequencies and the magnitude of case c, as transformers'
 * _compute_default / _compute_linear_scaling / _compute_yarn_parameters
 * give them.
 */
static void
inv_freqs(const struct rcase *c, double *inv, double *mscale)
{
	double base = c->freq_base, d = HD;

	*mscale = 1.0;
	for (int i = 0; i < HD / 2; i++) {
		double extra = 1.0 / pow(base, 2.0 * i / d);

		inv[i] = extra;
		if (c->scaling == SC_LINEAR)
			inv[i] = extra / c->factor;
	}
	if (c->scaling != SC_YARN)
		return;
	{
		/* Dimension at which `rot` rotations fit the old context. */
		double ctx = c->ctx_orig != 0 ? c->ctx_orig : 1024;
		double low = floor(
		    d * log(ctx / (32.0 * 2.0 * M_PI)) / (2.0 * log(base)));
		double high =
		    ceil(d * log(ctx / (1.0 * 2.0 * M_PI)) / (2.0 * log(base)));

		if (low < 0.0)
			low = 0.0;
		if (high > d - 1)
			high = d - 1;
		if (low == high)
			high += 0.001;
		for (int i = 0; i < HD / 2; i++) {
			double ramp = ((double)i - low) / (high - low);
			double extrap_mask;

			ramp = ramp < 0.0 ? 0.0 : ramp > 1.0 ? 1.0 : ramp;
			extrap_mask = 1.0 - ramp;
			inv[i] = inv[i] / c->factor * (1.0 - extrap_mask) +
			    inv[i] * extrap_mask;
		}
		*mscale = 0.1 * log(c->factor) + 1.0;
		if (c->attn_factor != 0.0f)
			*mscale *= c->attn_factor;
	}
}

/* Rotates halves of a head: (x[i], x[i + d/2]) by pos * inv[i]. */
static void
rope_halves(double *h, const double *inv, double mscale, int pos)
{
	for (int i = 0; i < HD / 2; i++) {
		double a = pos * inv[i];
		double cs = cos(a) * mscale, sn = sin(a) * mscale;
		double x0 = h[i], x1 = h[i + HD / 2];

		h[i] = x0 * cs - x1 * sn;
		h[i + HD / 2] = x1 * cs + x0 * sn;
	}
}

/*
 * The rows of a q or k weight before llama's converter permuted them:
 * within each head, row j * d/2 + i was stored at row 2i + j.
 */
static void
unpermute(float *dst, const float *src, int n_heads)
{
	for (int h = 0; h < n_heads; h++)
		for (int i = 0; i < HD / 2; i++)
			for (int j = 0; j < 2; j++)
				memcpy(dst +
				        ((size_t)h * HD + (size_t)j * HD / 2 +
				            (size_t)i) *
				            N_EMBD,
				    src +
				        ((size_t)h * HD + 2 * (size_t)i + j) *
				            N_EMBD,
				    N_EMBD * sizeof(float));
}

/* logits[t][v] after each token of toks, in double. */
static void
reference(const struct rmodel *m, const struct rcase *c, const int32_t *toks,
    double *logits)
{
	static float wq[N_LAYER][N_HEAD * HD][N_EMBD];
	static float wk[N_LAYER][N_HEAD_KV * HD][N_EMBD];
	static double kc[N_LAYER][N_TOK][N_HEAD_KV * HD];
	static double vc[N_LAYER][N_TOK][N_HEAD_KV * HD];
	int llama = strcmp(c->arch, "llama") == 0;
	double inv[HD / 2], mscale, x[N_EMBD], xb[N_EMBD], q[N_HEAD * HD];
	double att[N_HEAD * HD], tmp[N_EMBD], g[N_FF], u[N_FF], sc[N_TOK];

	inv_freqs(c, inv, &mscale);
	for (int il = 0; il < N_LAYER; il++) {
		if (llama) {
			unpermute(&wq[il][0][0], &m->l[il].wq[0][0], N_HEAD);
			unpermute(&wk[il][0][0], &m->l[il].wk[0][0], N_HEAD_KV);
		} else {
			memcpy(wq[il], m->l[il].wq, sizeof wq[il]);
			memcpy(wk[il], m->l[il].wk, sizeof wk[il]);
		}
	}
	for (int p = 0; p < N_TOK; p++) {
		for (int i = 0; i < N_EMBD; i++)
			x[i] = m->embd[toks[p]][i];
		for (int il = 0; il < N_LAYER; il++) {
			const struct rlayer *l = &m->l[il];
			double *k = kc[il][p], *v = vc[il][p];

			rmsnorm(xb, x, l->attn_norm, N_EMBD);
			matvec(q, &wq[il][0][0], xb, N_HEAD * HD, N_EMBD);
			matvec(k, &wk[il][0][0], xb, N_HEAD_KV * HD, N_EMBD);
			matvec(v, &l->wv[0][0], xb, N_HEAD_KV * HD, N_EMBD);
			for (int h = 0; h < N_HEAD; h++) {
				if (!llama)
					rmsnorm(q + h * HD, q + h * HD,
					    l->q_norm, HD);
				rope_halves(q + h * HD, inv, mscale, p);
			}
			for (int h = 0; h < N_HEAD_KV; h++) {
				if (!llama)
					rmsnorm(k + h * HD, k + h * HD,
					    l->k_norm, HD);
				rope_halves(k + h * HD, inv, mscale, p);
			}
			/* Causal attention, each KV head serving two. */
			for (int h = 0; h < N_HEAD; h++) {
				int kvh = h / (N_HEAD / N_HEAD_KV);
				double max = -INFINITY, sum = 0.0;

				for (int s = 0; s <= p; s++) {
					double d = 0.0;

					for (int i = 0; i < HD; i++)
						d += q[h * HD + i] *
						    kc[il][s][kvh * HD + i];
					sc[s] = d / sqrt((double)HD);
					if (sc[s] > max)
						max = sc[s];
				}
				for (int s = 0; s <= p; s++) {
					sc[s] = exp(sc[s] - max);
					sum += sc[s];
				}
				for (int i = 0; i < HD; i++) {
					double o = 0.0;

					for (int s = 0; s <= p; s++)
						o += sc[s] / sum *
						    vc[il][s][kvh * HD + i];
					att[h * HD + i] = o;
				}
			}
			matvec(tmp, &l->wo[0][0], att, N_EMBD, N_HEAD * HD);
			for (int i = 0; i < N_EMBD; i++)
				x[i] += tmp[i];
			rmsnorm(xb, x, l->ffn_norm, N_EMBD);
			matvec(g, &l->w_gate[0][0], xb, N_FF, N_EMBD);
			matvec(u, &l->w_up[0][0], xb, N_FF, N_EMBD);
			for (int i = 0; i < N_FF; i++)
				g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
			matvec(tmp, &l->w_down[0][0], g, N_EMBD, N_FF);
			for (int i = 0; i < N_EMBD; i++)
				x[i] += tmp[i];
		}
		rmsnorm(xb, x, m->out_norm, N_EMBD);
		matvec(logits + (size_t)p * N_VOCAB, &m->output[0][0], xb,
		    N_VOCAB, N_EMBD);
	}
}

/* ---- the engine --------------------------------------------------------- */

/* The engine's logits after each token: a prefill, then decode steps. */
static void
engine(const char *path, const int32_t *toks, float *logits)
{
	struct infer_model_params mp;
	struct infer_model *model;
	struct infer_seq *seq;
	char *cause = NULL;

	infer_model_params_init(&mp);
	mp.n_threads = 2;
	mp.n_ctx = 128;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL)
		fail_msg("load: %s", cause);
	assert_int_equal(infer_vocab_size(model), N_VOCAB);
	seq = infer_seq_new(model, 0, &cause);
	assert_non_null(seq);
	assert_int_equal(
	    infer_seq_feed_all(seq, toks, N_PREFILL, logits, &cause), 0);
	for (int p = N_PREFILL; p < N_TOK; p++) {
		assert_int_equal(infer_seq_feed(seq, &toks[p], 1, &cause), 0);
		memcpy(logits + (size_t)p * N_VOCAB, infer_seq_logits(seq),
		    N_VOCAB * sizeof(float));
	}
	infer_seq_free(seq);
	infer_model_free(model);
}

/*
 * Runs case c: the engine within TOL of the reference, and (for a scaled
 * case) the reference far from the unscaled one.
 */
static void
run_case(const struct rcase *c)
{
	static struct rmodel m;
	static double ref[N_TOK * N_VOCAB], plain[N_TOK * N_VOCAB];
	static float got[N_TOK * N_VOCAB];
	struct rcase unscaled = *c;
	int32_t toks[N_TOK];
	double scale = 0.0, err = 0.0, moved = 0.0;
	char *path;

	random_model(&m, 0x5eed + (uint64_t)c->scaling);
	for (int i = 0; i < N_TOK; i++)
		toks[i] =
		    (int32_t)((urand() + 1.0f) * 0.5f * N_VOCAB) % N_VOCAB;
	path = write_model(&m, c);
	engine(path, toks, got);
	unlink(path);
	free(path);
	reference(&m, c, toks, ref);
	for (size_t i = 0; i < N_TOK * N_VOCAB; i++) {
		if (fabs(ref[i]) > scale)
			scale = fabs(ref[i]);
		if (fabs(ref[i] - (double)got[i]) > err)
			err = fabs(ref[i] - (double)got[i]);
	}
	print_message("%s %d: err %.3g scale %.3g rel %.3g\n", c->arch,
	    (int)c->scaling, err, scale, err / scale);
	if (err > TOL * scale)
		fail_msg("%s: logits differ by %g, above %g of %g", c->arch,
		    err, TOL, scale);

	if (c->scaling == SC_NONE)
		return;
	unscaled.scaling = SC_NONE;
	unscaled.attn_factor = 0.0f;
	reference(&m, &unscaled, toks, plain);
	for (size_t i = 0; i < N_TOK * N_VOCAB; i++)
		if (fabs(ref[i] - plain[i]) > moved)
			moved = fabs(ref[i] - plain[i]);
	if (moved < 100 * TOL * scale)
		fail_msg("%s: the scaling moved the logits by only %g", c->arch,
		    moved);
}

static void
test_llama_none(void **state)
{
	const struct rcase c = { "llama", SC_NONE, 0, 0, 0, 10000.0f };

	(void)state;
	run_case(&c);
}

static void
test_llama_linear(void **state)
{
	const struct rcase c = { "llama", SC_LINEAR, 4.0f, 0, 0, 10000.0f };

	(void)state;
	run_case(&c);
}

static void
test_llama_yarn(void **state)
{
	const struct rcase c = { "llama", SC_YARN, 4.0f, 256, 0, 10000.0f };

	(void)state;
	run_case(&c);
}

/* An attention factor from the metadata multiplies YaRN's magnitude. */
static void
test_llama_yarn_attn_factor(void **state)
{
	const struct rcase c = { "llama", SC_YARN, 8.0f, 512, 0.8f, 500.0f };

	(void)state;
	run_case(&c);
}

/* Without original_context_length, the trained context stands for it. */
static void
test_qwen3_yarn(void **state)
{
	const struct rcase c = { "qwen3", SC_YARN, 4.0f, 0, 0, 1000000.0f };

	(void)state;
	run_case(&c);
}

static void
test_qwen3_none(void **state)
{
	const struct rcase c = { "qwen3", SC_NONE, 0, 0, 0, 1000000.0f };

	(void)state;
	run_case(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama_none),
		cmocka_unit_test(test_llama_linear),
		cmocka_unit_test(test_llama_yarn),
		cmocka_unit_test(test_llama_yarn_attn_factor),
		cmocka_unit_test(test_qwen3_none),
		cmocka_unit_test(test_qwen3_yarn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
