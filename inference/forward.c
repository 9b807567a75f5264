/*
 * forward.c: the transformer forward pass, for every architecture.
 *
 * Written in the manner of llama2.c's run.c: one function walks a batch
 * of tokens through the layers top to bottom, with a comment on each
 * step and the shape of each buffer.  A batch is any set of tokens, each
 * with its own sequence and position: a prefill (one sequence, positions
 * p..p+n-1), one decode step, or one step of many sequences (batched
 * decode).  Matrix products take the whole batch at once, so a weight
 * matrix is read once per batch; the attention of each token reads its
 * own sequence's KV cache.
 *
 * The mixture-of-experts FFN is router logits -> softmax -> top-k ->
 * weighted sum of the chosen experts' SwiGLU FFNs, as llama.cpp's
 * build_moe_ffn computes it.  The batch's tokens are grouped by expert,
 * so each chosen expert's weights are read once for all the tokens that
 * chose it.  qwen2moe adds a shared expert whose output is scaled by
 * sigmoid(gate_inp_shexp . x).
 *
 * Work is split among the pool's threads by whole output rows (matrix
 * products), whole (token, KV head) pairs (attention) or whole rows
 * (norms, activations), so results do not depend on the thread count.
 * Every buffer lives in struct infer_work, allocated when the model is
 * loaded: this file never allocates on the hot path.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference/infer-int.h"
#include "inference/kernels.h"
#include "inference/quant.h"

/* Activation rows are padded to this many bytes. */
#define ROW_ALIGN 64
/* Rows of logits computed at once when they go to scattered buffers. */
#define LOGIT_GROUP 16
/* Below this many multiply-adds a job runs on the calling thread. */
#define INLINE_WORK 65536

/*
 * Rows of floats and their conversions to the activation types, made on
 * demand and kept until the floats change (act_reset).
 */
struct act {
	const float *x; /* [nx][stride] */
	size_t stride;  /* floats */
	int nx;
	int64_t n;     /* elements per row */
	uint8_t *q8_0; /* [nx][rb_q8_0] */
	uint8_t *q8_k; /* [nx][rb_q8_k] */
	size_t rb_q8_0, rb_q8_k;
	int have_q8_0, have_q8_k;
};

/* One matrix product: rows [0, n_rows) of one matrix times nx rows. */
struct mm_job {
	uint32_t wtype;
	int64_t n;        /* row length */
	const uint8_t *w; /* the matrix (one expert's) */
	size_t w_row_bytes;
	int64_t n_rows;
	const void *xq; /* activations in the weights' act type */
	size_t xq_row_bytes;
	int nx;
	float *out; /* out[i * out_stride + r] */
	size_t out_stride;
	int64_t chunk_rows; /* rows per work unit */
	size_t chunk0;      /* first work unit of this job */
};

/* Gathered activations of the experts: rows in slot order. */
struct gather {
	uint8_t *buf; /* [nb * n_used][rb] */
	size_t rb;
};

struct infer_work {
	uint32_t nb;     /* most tokens in a batch */
	uint32_t n_used; /* experts per token (1 for dense) */
	int nth;

	float *x;          /* [nb][n_embd] the residual stream */
	float *xb;         /* [nb][n_embd] normed input of a block */
	float *q;          /* [nb][n_head * hd_k] */
	float *k;          /* [nb][n_head_kv * hd_k] */
	float *v;          /* [nb][n_head_kv * hd_v] */
	float *att;        /* [nb][n_head * hd_v] attention output */
	float *ao;         /* [nb][n_embd] after attn_output */
	float *hb;         /* [nb * n_used][ff] gate (then SwiGLU) */
	float *hb2;        /* [nb * n_used][ff] up */
	float *hs;         /* [nb][n_ff_shexp] shared expert gate */
	float *hs2;        /* [nb][n_ff_shexp] shared expert up */
	float *eo;         /* [nb * n_used][n_embd] FFN / expert outputs */
	float *so;         /* [nb][n_embd] shared expert output */
	float *router;     /* [nb][n_expert] router logits, then probs */
	float *shg;        /* [nb] shared expert gate */
	int32_t *sel;      /* [nb][n_used] chosen experts */
	float *selw;       /* [nb][n_used] their weights */
	int32_t *slot;     /* [nb][n_used] grouped slot of each choice */
	int32_t *slot_tok; /* [nb * n_used] token of each slot */
	uint32_t *ecount;  /* [n_expert] tokens per expert */
	uint32_t *eoff;    /* [n_expert + 1] first slot of each expert */
	float *logit_rows; /* [LOGIT_GROUP][n_vocab] */
	int32_t *out_idx;  /* [nb] items that want logits */

	struct act a_x;               /* xb, or output-normed rows */
	struct act a_att;             /* att */
	struct act a_h;               /* hb after SwiGLU */
	struct act a_hs;              /* hs after SwiGLU */
	struct gather g_q8_0, g_q8_k; /* xb gathered by slot */

	float *scores; /* [nth][group][n_ctx] attention weights */
	float *vpart;  /* [nth][group][hd_v] one block's share of V */
	size_t scores_stride;
	float *rope;      /* [nth][n_rot] cos, sin */
	double *inv_freq; /* [n_rot / 2] */
	float corr[2];    /* YaRN correction dims */

	struct infer_batch_item *items; /* [nb] */
	struct mm_job *jobs;
	size_t max_jobs;
};

/* A parallel loop over tasks [0, n): fn(ctx, task, ith). */
struct par {
	void (*fn)(void *ctx, size_t task, int ith);
	void *ctx;
	size_t n;
	atomic_size_t next;
};

/* Matrix products run as one parallel job. */
struct mm_run {
	struct mm_job *jobs;
	size_t n_jobs;
	size_t n_chunks;
	atomic_size_t next;
};

static void *work_alloc(size_t n, size_t size, int *failed);
static size_t act_row_bytes(uint32_t act_type, int64_t n);
static void act_init(struct act *a, uint8_t *q8_0, uint8_t *q8_k, int64_t n);
static void act_reset(struct act *a, const float *x, size_t stride, int nx);
static void act_get(struct infer_model *m, struct act *a, uint32_t wtype,
    const void **xq, size_t *rb);
static void par_main(void *arg, int ith, int nth);
static void par_for(struct infer_model *m, size_t n, size_t work,
    void (*fn)(void *, size_t, int), void *ctx);
static void mm_main(void *arg, int ith, int nth);
static void mm_flush(struct infer_model *m, struct mm_job *jobs, size_t n);
static void mm_add(struct infer_model *m, size_t *nj,
    const struct infer_tensor *w, uint32_t expert, struct act *a, float *out,
    size_t out_stride);
static void rmsnorm(
    float *out, const float *x, const float *w, int64_t n, float eps);

/* ---- workspace ------------------------------------------------------ */

static void *
work_alloc(size_t n, size_t size, int *failed)
{
	void *p;

	if (n == 0)
		n = 1;
	p = calloc(n, size);
	if (p == NULL)
		*failed = 1;
	return p;
}

static size_t
act_row_bytes(uint32_t act_type, int64_t n)
{
	size_t bytes;

	if (act_type == INFER_TYPE_Q8_0)
		bytes =
		    (size_t)(n / INFER_QK) * sizeof(struct quant_block_q8_0);
	else
		bytes =
		    (size_t)(n / INFER_QK_K) * sizeof(struct quant_block_q8_K);
	return (bytes + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
}

static void
act_init(struct act *a, uint8_t *q8_0, uint8_t *q8_k, int64_t n)
{
	memset(a, 0, sizeof *a);
	a->n = n;
	a->q8_0 = q8_0;
	a->q8_k = q8_k;
	a->rb_q8_0 = act_row_bytes(INFER_TYPE_Q8_0, n);
	a->rb_q8_k = act_row_bytes(INFER_TYPE_Q8_K, n);
}

int
infer_matmul_supported(enum infer_type type)
{
	return kern_supported(type);
}

int
infer_work_new(struct infer_model *m, char **cause)
{
	const struct infer_hparams *hp = &m->hp;
	struct infer_work *w;
	size_t nb = m->n_batch, ff, rows, n_q, n_k, n_v, n_o, max_in;
	uint32_t group = hp->n_head / hp->n_head_kv;
	int failed = 0;

	w = calloc(1, sizeof *w);
	if (w == NULL)
		goto oom;
	m->work = w;
	w->nb = m->n_batch;
	w->n_used = hp->moe ? hp->n_expert_used : 1;
	w->nth = infer_pool_size(m->pool);

	n_q = (size_t)hp->n_head * hp->head_dim_k;
	n_k = (size_t)hp->n_head_kv * hp->head_dim_k;
	n_v = (size_t)hp->n_head_kv * hp->head_dim_v;
	n_o = (size_t)hp->n_head * hp->head_dim_v;
	ff = hp->moe ? hp->n_ff_exp : hp->n_ff;
	rows = nb * w->n_used;

	w->x = work_alloc(nb * hp->n_embd, sizeof(float), &failed);
	w->xb = work_alloc(nb * hp->n_embd, sizeof(float), &failed);
	w->q = work_alloc(nb * n_q, sizeof(float), &failed);
	w->k = work_alloc(nb * n_k, sizeof(float), &failed);
	w->v = work_alloc(nb * n_v, sizeof(float), &failed);
	w->att = work_alloc(nb * n_o, sizeof(float), &failed);
	w->ao = work_alloc(nb * hp->n_embd, sizeof(float), &failed);
	w->hb = work_alloc(rows * ff, sizeof(float), &failed);
	w->hb2 = work_alloc(rows * ff, sizeof(float), &failed);
	w->eo = work_alloc(rows * hp->n_embd, sizeof(float), &failed);
	if (hp->shexp) {
		w->hs = work_alloc(nb * hp->n_ff_shexp, sizeof(float), &failed);
		w->hs2 =
		    work_alloc(nb * hp->n_ff_shexp, sizeof(float), &failed);
		w->so = work_alloc(nb * hp->n_embd, sizeof(float), &failed);
		w->shg = work_alloc(nb, sizeof(float), &failed);
	}
	if (hp->moe) {
		w->router =
		    work_alloc(nb * hp->n_expert, sizeof(float), &failed);
		w->sel = work_alloc(rows, sizeof(int32_t), &failed);
		w->selw = work_alloc(rows, sizeof(float), &failed);
		w->slot = work_alloc(rows, sizeof(int32_t), &failed);
		w->slot_tok = work_alloc(rows, sizeof(int32_t), &failed);
		w->ecount = work_alloc(hp->n_expert, sizeof(uint32_t), &failed);
		w->eoff =
		    work_alloc(hp->n_expert + 1, sizeof(uint32_t), &failed);
	}
	w->logit_rows = work_alloc(
	    (size_t)LOGIT_GROUP * hp->n_vocab, sizeof(float), &failed);
	w->out_idx = work_alloc(nb, sizeof(int32_t), &failed);
	if (failed)
		goto oom;

	/* Quantized activations: one pair of buffers per source. */
	max_in = hp->n_embd > n_o ? hp->n_embd : n_o;
	act_init(&w->a_x, NULL, NULL, (int64_t)hp->n_embd);
	act_init(&w->a_att, NULL, NULL, (int64_t)n_o);
	act_init(&w->a_h, NULL, NULL, (int64_t)ff);
	act_init(&w->a_hs, NULL, NULL, (int64_t)hp->n_ff_shexp);
	w->a_x.q8_0 = work_alloc(nb, w->a_x.rb_q8_0, &failed);
	w->a_x.q8_k = work_alloc(nb, w->a_x.rb_q8_k, &failed);
	w->a_att.q8_0 = work_alloc(nb, w->a_att.rb_q8_0, &failed);
	w->a_att.q8_k = work_alloc(nb, w->a_att.rb_q8_k, &failed);
	w->a_h.q8_0 = work_alloc(rows, w->a_h.rb_q8_0, &failed);
	w->a_h.q8_k = work_alloc(rows, w->a_h.rb_q8_k, &failed);
	if (hp->shexp) {
		w->a_hs.q8_0 = work_alloc(nb, w->a_hs.rb_q8_0, &failed);
		w->a_hs.q8_k = work_alloc(nb, w->a_hs.rb_q8_k, &failed);
	}
	if (hp->moe) {
		w->g_q8_0.rb = w->a_x.rb_q8_0;
		w->g_q8_k.rb = w->a_x.rb_q8_k;
		w->g_q8_0.buf = work_alloc(rows, w->g_q8_0.rb, &failed);
		w->g_q8_k.buf = work_alloc(rows, w->g_q8_k.rb, &failed);
	}
	(void)max_in;

	/* Attention: scores for a group of heads, RoPE tables. */
	w->scores_stride = (size_t)group * m->n_ctx;
	w->scores = work_alloc(
	    (size_t)w->nth * w->scores_stride, sizeof(float), &failed);
	w->vpart = work_alloc(
	    (size_t)w->nth * group * hp->head_dim_v, sizeof(float), &failed);
	w->rope = work_alloc(
	    (size_t)w->nth * (hp->n_rot + 2), sizeof(float), &failed);
	w->inv_freq = work_alloc(hp->n_rot / 2 + 1, sizeof(double), &failed);
	w->items = work_alloc(nb, sizeof *w->items, &failed);
	w->max_jobs = 2 * (size_t)(hp->moe ? hp->n_expert : 1) + 8;
	w->jobs = work_alloc(w->max_jobs, sizeof *w->jobs, &failed);
	if (failed)
		goto oom;

	/* RoPE frequencies: base^(-2i/n_rot), over the frequency factors. */
	for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
		double f = pow((double)hp->rope_freq_base,
		    -2.0 * (double)i / (double)hp->n_rot);

		if (m->w.rope_freqs.f32 != NULL)
			f /= (double)m->w.rope_freqs.f32[i];
		w->inv_freq[i] = f;
	}
	/* YaRN's correction range, as ggml_rope_yarn_corr_dims. */
	if (hp->yarn_ext_factor != 0.0f) {
		double base = hp->rope_freq_base, d = hp->n_rot;
		double lo = d *
		    log((double)hp->rope_ctx_orig /
		        ((double)hp->yarn_beta_fast * 2 * M_PI)) /
		    (2 * log(base));
		double hi = d *
		    log((double)hp->rope_ctx_orig /
		        ((double)hp->yarn_beta_slow * 2 * M_PI)) /
		    (2 * log(base));

		w->corr[0] = fmaxf(0.0f, floorf((float)lo));
		w->corr[1] = fminf((float)d - 1, ceilf((float)hi));
	}
	return 0;

oom:
	infer_set_cause(cause,
	    "%s: out of memory for the workspace (batch %u, context %u)",
	    m->path, m->n_batch, m->n_ctx);
	infer_work_free(m);
	return -1;
}

void
infer_work_free(struct infer_model *m)
{
	struct infer_work *w = m->work;

	if (w == NULL)
		return;
	free(w->x);
	free(w->xb);
	free(w->q);
	free(w->k);
	free(w->v);
	free(w->att);
	free(w->ao);
	free(w->hb);
	free(w->hb2);
	free(w->hs);
	free(w->hs2);
	free(w->eo);
	free(w->so);
	free(w->router);
	free(w->shg);
	free(w->sel);
	free(w->selw);
	free(w->slot);
	free(w->slot_tok);
	free(w->ecount);
	free(w->eoff);
	free(w->logit_rows);
	free(w->out_idx);
	free(w->a_x.q8_0);
	free(w->a_x.q8_k);
	free(w->a_att.q8_0);
	free(w->a_att.q8_k);
	free(w->a_h.q8_0);
	free(w->a_h.q8_k);
	free(w->a_hs.q8_0);
	free(w->a_hs.q8_k);
	free(w->g_q8_0.buf);
	free(w->g_q8_k.buf);
	free(w->scores);
	free(w->vpart);
	free(w->rope);
	free(w->inv_freq);
	free(w->items);
	free(w->jobs);
	free(w);
	m->work = NULL;
}

struct infer_batch_item *
infer_work_items(struct infer_model *m)
{
	return m->work->items;
}

/* ---- parallel helpers ----------------------------------------------- */

static void
par_main(void *arg, int ith, int nth)
{
	struct par *p = arg;
	size_t t;

	(void)nth;
	for (;;) {
		t = atomic_fetch_add_explicit(
		    &p->next, 1, memory_order_relaxed);
		if (t >= p->n)
			break;
		p->fn(p->ctx, t, ith);
	}
}

/*
 * Runs fn(ctx, task, ith) for every task in [0, n) on the pool; on the
 * calling thread alone when there is one task or little work in all.
 */
static void
par_for(struct infer_model *m, size_t n, size_t work,
    void (*fn)(void *, size_t, int), void *ctx)
{
	struct par p;

	if (n == 0)
		return;
	if (n == 1 || work < INLINE_WORK || m->work->nth == 1) {
		for (size_t t = 0; t < n; t++)
			fn(ctx, t, 0);
		return;
	}
	p.fn = fn;
	p.ctx = ctx;
	p.n = n;
	atomic_init(&p.next, 0);
	infer_pool_run(m->pool, par_main, &p);
}

/* ---- activations ---------------------------------------------------- */

/* Points a at nx new rows of floats; drops the old conversions. */
static void
act_reset(struct act *a, const float *x, size_t stride, int nx)
{
	a->x = x;
	a->stride = stride;
	a->nx = nx;
	a->have_q8_0 = 0;
	a->have_q8_k = 0;
}

struct act_quant {
	struct act *a;
	uint32_t wtype;
	uint8_t *dst;
	size_t rb;
};

static void
act_quant_task(void *ctx, size_t row, int ith)
{
	struct act_quant *aq = ctx;
	struct act *a = aq->a;

	(void)ith;
	kern_quantize_act(aq->wtype, a->n, a->x + row * a->stride, a->stride, 1,
	    aq->dst + row * aq->rb, aq->rb);
}

/*
 * Returns a's rows in the activation type of weight type wtype,
 * converting them the first time they are asked for.
 */
static void
act_get(struct infer_model *m, struct act *a, uint32_t wtype, const void **xq,
    size_t *rb)
{
	uint32_t at = kern_act_type(wtype);
	struct act_quant aq;
	int *have;

	if (at == INFER_TYPE_F32) {
		*xq = a->x;
		*rb = a->stride * sizeof(float);
		return;
	}
	if (at == INFER_TYPE_Q8_0) {
		aq.dst = a->q8_0;
		aq.rb = a->rb_q8_0;
		have = &a->have_q8_0;
	} else {
		aq.dst = a->q8_k;
		aq.rb = a->rb_q8_k;
		have = &a->have_q8_k;
	}
	if (!*have) {
		aq.a = a;
		aq.wtype = wtype;
		par_for(m, (size_t)a->nx, (size_t)a->nx * (size_t)a->n / 8,
		    act_quant_task, &aq);
		*have = 1;
	}
	*xq = aq.dst;
	*rb = aq.rb;
}

/* ---- matrix products ------------------------------------------------ */

static void
mm_main(void *arg, int ith, int nth)
{
	struct mm_run *run = arg;
	size_t c, j = 0;

	(void)ith;
	(void)nth;
	for (;;) {
		const struct mm_job *job;
		int64_t r0, r1;

		c = atomic_fetch_add_explicit(
		    &run->next, 1, memory_order_relaxed);
		if (c >= run->n_chunks)
			break;
		/* Work units are handed out in order: jobs only advance. */
		while (j + 1 < run->n_jobs && run->jobs[j + 1].chunk0 <= c)
			j++;
		while (j > 0 && run->jobs[j].chunk0 > c)
			j--;
		job = &run->jobs[j];
		r0 = (int64_t)(c - job->chunk0) * job->chunk_rows;
		r1 = r0 + job->chunk_rows;
		if (r1 > job->n_rows)
			r1 = job->n_rows;
		kern_matmul(job->wtype, job->n, job->w, job->w_row_bytes, r0,
		    r1, job->xq, job->xq_row_bytes, job->nx, job->out,
		    job->out_stride);
	}
}

/* Queues out = W[expert] x a (a's rows) as job *nj. */
static void
mm_add(struct infer_model *m, size_t *nj, const struct infer_tensor *w,
    uint32_t expert, struct act *a, float *out, size_t out_stride)
{
	struct mm_job *job = &m->work->jobs[(*nj)++];

	job->wtype = w->type;
	job->n = (int64_t)w->ne[0];
	job->w = w->data + (size_t)expert * w->mat_bytes;
	job->w_row_bytes = w->row_bytes;
	job->n_rows = (int64_t)w->ne[1];
	act_get(m, a, w->type, &job->xq, &job->xq_row_bytes);
	job->nx = a->nx;
	job->out = out;
	job->out_stride = out_stride;
}

/*
 * Runs the n queued jobs on the pool.  Rows are cut into work units of
 * at least 16 rows, about eight per thread in all, taken in turn.
 */
static void
mm_flush(struct infer_model *m, struct mm_job *jobs, size_t n)
{
	struct mm_run run;
	size_t total_rows = 0, work = 0, units = 0;
	int nth = m->work->nth;
	int64_t per;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		total_rows += (size_t)jobs[i].n_rows;
		work += (size_t)jobs[i].n_rows * (size_t)jobs[i].n *
		    (size_t)jobs[i].nx;
	}
	per = (int64_t)(total_rows / ((size_t)nth * 8));
	if (per < 16)
		per = 16;
	per = (per + 3) / 4 * 4;
	for (size_t i = 0; i < n; i++) {
		jobs[i].chunk_rows = per;
		jobs[i].chunk0 = units;
		units += (size_t)((jobs[i].n_rows + per - 1) / per);
	}
	run.jobs = jobs;
	run.n_jobs = n;
	run.n_chunks = units;
	atomic_init(&run.next, 0);
	if (nth == 1 || work < INLINE_WORK || units == 1)
		mm_main(&run, 0, 1);
	else
		infer_pool_run(m->pool, mm_main, &run);
}

/* ---- small kernels -------------------------------------------------- */

/* out = x / rms(x) * w, the sum of squares in double as ggml does. */
static void
rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	double ss = 0.0;
	float scale;

	for (int64_t i = 0; i < n; i++)
		ss += (double)x[i] * (double)x[i];
	scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

static inline float
silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* ---- the steps of a layer ------------------------------------------- */

struct fwd {
	struct infer_model *m;
	const struct infer_batch_item *items;
	size_t n;
	uint32_t il;
	const struct infer_layer *L;
};

/* Step: the block's input RMS norm of token t into xb. */
static void
task_norm(void *ctx, size_t t, int ith)
{
	struct fwd *f = ctx;
	const struct infer_hparams *hp = &f->m->hp;
	struct infer_work *w = f->m->work;

	(void)ith;
	rmsnorm(w->xb + t * hp->n_embd, w->x + t * hp->n_embd,
	    f->L == NULL ? f->m->w.output_norm.f32 : f->L->attn_norm.f32,
	    hp->n_embd, hp->rms_eps);
}

static void
task_ffn_norm(void *ctx, size_t t, int ith)
{
	struct fwd *f = ctx;
	const struct infer_hparams *hp = &f->m->hp;
	struct infer_work *w = f->m->work;

	(void)ith;
	rmsnorm(w->xb + t * hp->n_embd, w->x + t * hp->n_embd,
	    f->L->ffn_norm.f32, hp->n_embd, hp->rms_eps);
}

/* Rotates n_rot dimensions of one head by the angles in cs. */
static void
rope_head(
    float *h, const float *cs, uint32_t n_rot, enum infer_rope_pairing pairing)
{
	uint32_t half = n_rot / 2;

	for (uint32_t i = 0; i < half; i++) {
		float c = cs[2 * i], s = cs[2 * i + 1];
		uint32_t a = pairing == INFER_ROPE_NORM ? 2 * i : i;
		uint32_t b = pairing == INFER_ROPE_NORM ? 2 * i + 1 : i + half;
		float x0 = h[a], x1 = h[b];

		h[a] = x0 * c - x1 * s;
		h[b] = x0 * s + x1 * c;
	}
}

/*
 * Step: biases, per-head q/k norm, RoPE for token t; then its K and V
 * rows go into its sequence's cache at its position.
 */
static void
task_qkv(void *ctx, size_t t, int ith)
{
	struct fwd *f = ctx;
	struct infer_model *m = f->m;
	const struct infer_hparams *hp = &m->hp;
	const struct infer_layer *L = f->L;
	struct infer_work *w = m->work;
	const struct infer_batch_item *it = &f->items[t];
	size_t n_q = (size_t)hp->n_head * hp->head_dim_k;
	size_t n_k = (size_t)hp->n_head_kv * hp->head_dim_k;
	size_t n_v = (size_t)hp->n_head_kv * hp->head_dim_v;
	float *q = w->q + t * n_q; // [n_head][hd_k]
	float *k = w->k + t * n_k; // [n_head_kv][hd_k]
	float *v = w->v + t * n_v; // [n_head_kv][hd_v]
	float *cs = w->rope + (size_t)ith * (hp->n_rot + 2);
	float mscale = hp->rope_attn_factor;

	/* q, k, v biases (qwen2moe; optional elsewhere). */
	if (L->bq.f32 != NULL)
		for (size_t i = 0; i < n_q; i++)
			q[i] += L->bq.f32[i];
	if (L->bk.f32 != NULL)
		for (size_t i = 0; i < n_k; i++)
			k[i] += L->bk.f32[i];
	if (L->bv.f32 != NULL)
		for (size_t i = 0; i < n_v; i++)
			v[i] += L->bv.f32[i];

	/* Per-head RMS norm of q and k (qwen3), before RoPE. */
	if (L->q_norm.f32 != NULL) {
		for (uint32_t h = 0; h < hp->n_head; h++)
			rmsnorm(q + (size_t)h * hp->head_dim_k,
			    q + (size_t)h * hp->head_dim_k, L->q_norm.f32,
			    hp->head_dim_k, hp->rms_eps);
		for (uint32_t h = 0; h < hp->n_head_kv; h++)
			rmsnorm(k + (size_t)h * hp->head_dim_k,
			    k + (size_t)h * hp->head_dim_k, L->k_norm.f32,
			    hp->head_dim_k, hp->rms_eps);
	}

	/* The angles of this position, with linear or YaRN scaling. */
	if (hp->yarn_ext_factor != 0.0f)
		mscale *= 1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale);
	for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
		double extrap = (double)it->pos * w->inv_freq[i];
		double theta = extrap * (double)hp->rope_freq_scale;

		if (hp->yarn_ext_factor != 0.0f) {
			float y = ((float)i - w->corr[0]) /
			    fmaxf(0.001f, w->corr[1] - w->corr[0]);
			double mix =
			    (double)(1.0f - fminf(1.0f, fmaxf(0.0f, y))) *
			    (double)hp->yarn_ext_factor;

			theta = theta * (1.0 - mix) + extrap * mix;
		}
		cs[2 * i] = (float)cos(theta) * mscale;
		cs[2 * i + 1] = (float)sin(theta) * mscale;
	}
	for (uint32_t h = 0; h < hp->n_head; h++)
		rope_head(q + (size_t)h * hp->head_dim_k, cs, hp->n_rot,
		    m->arch->rope);
	for (uint32_t h = 0; h < hp->n_head_kv; h++)
		rope_head(k + (size_t)h * hp->head_dim_k, cs, hp->n_rot,
		    m->arch->rope);

	/* Into the cache at this position. */
	memcpy(infer_seq_k(it->seq, f->il) + (size_t)it->pos * n_k, k,
	    n_k * sizeof(float));
	{
		/* V goes into column pos % VBLOCK of its block. */
		float *vt = infer_seq_v(it->seq, f->il) +
		    (size_t)(it->pos / INFER_KV_VBLOCK) * n_v *
		        INFER_KV_VBLOCK +
		    it->pos % INFER_KV_VBLOCK; // [n_v] with stride VBLOCK

		for (size_t i = 0; i < n_v; i++)
			vt[i * INFER_KV_VBLOCK] = v[i];
	}
}

/*
 * Step: causal attention of token t for the query heads of one KV head:
 * scores = K q / sqrt(hd_k) over positions 0..pos, softmax, then the
 * weighted sum of V.
 */
static void
task_attention(void *ctx, size_t task, int ith)
{
	struct fwd *f = ctx;
	struct infer_model *m = f->m;
	const struct infer_hparams *hp = &m->hp;
	struct infer_work *w = m->work;
	uint32_t group = hp->n_head / hp->n_head_kv;
	size_t t = task / hp->n_head_kv;
	uint32_t kvh = (uint32_t)(task % hp->n_head_kv);
	const struct infer_batch_item *it = &f->items[t];
	size_t n_k = (size_t)hp->n_head_kv * hp->head_dim_k;
	size_t n_v = (size_t)hp->n_head_kv * hp->head_dim_v;
	size_t n_q = (size_t)hp->n_head * hp->head_dim_k;
	size_t n_o = (size_t)hp->n_head * hp->head_dim_v;
	uint32_t n_pos = it->pos + 1;
	const float *K = infer_seq_k(it->seq, f->il) +
	    (size_t)kvh * hp->head_dim_k; // [n_pos] rows of n_k
	const float *V = infer_seq_v(it->seq, f->il) +
	    (size_t)kvh * hp->head_dim_v *
	        INFER_KV_VBLOCK; // [blocks][n_v rows][VBLOCK], this head's rows
	const float *q = w->q + t * n_q +
	    (size_t)kvh * group * hp->head_dim_k; // [group][hd_k]
	float *sc = w->scores + (size_t)ith * w->scores_stride;
	float *part =
	    w->vpart + (size_t)ith * group * hp->head_dim_v; // [group][hd_v]
	float *out = w->att + t * n_o +
	    (size_t)kvh * group * hp->head_dim_v; // [group][hd_v]
	float scale = 1.0f / sqrtf((float)hp->head_dim_k);

	/* scores[g][p] = K[p] . q[g], all heads of the group at once. */
	kern_matmul(INFER_TYPE_F32, hp->head_dim_k, K, n_k * sizeof(float), 0,
	    n_pos, q, hp->head_dim_k * sizeof(float), (int)group, sc, m->n_ctx);

	/* Softmax of the scaled scores, per head. */
	for (uint32_t g = 0; g < group; g++) {
		float *s = sc + (size_t)g * m->n_ctx; // [n_pos]
		float max = -INFINITY;
		double sum = 0.0;
		float inv;

		for (uint32_t p = 0; p < n_pos; p++) {
			s[p] *= scale;
			if (s[p] > max)
				max = s[p];
		}
		for (uint32_t p = 0; p < n_pos; p++) {
			s[p] = expf(s[p] - max);
			sum += (double)s[p];
		}
		inv = (float)(1.0 / sum);
		for (uint32_t p = 0; p < n_pos; p++)
			s[p] *= inv;
	}

	/*
	 * out[g] = sum over p of softmax[g][p] * V[p]: per block of
	 * positions, the block's V rows (one per dimension) times the
	 * scores, summed over the blocks.
	 */
	memset(out, 0, (size_t)group * hp->head_dim_v * sizeof(float));
	for (uint32_t p0 = 0; p0 < n_pos; p0 += INFER_KV_VBLOCK) {
		uint32_t len =
		    n_pos - p0 < INFER_KV_VBLOCK ? n_pos - p0 : INFER_KV_VBLOCK;
		const float *vb = V +
		    (size_t)(p0 / INFER_KV_VBLOCK) * n_v *
		        INFER_KV_VBLOCK; // [hd_v][VBLOCK]

		kern_matmul(INFER_TYPE_F32, len, vb,
		    INFER_KV_VBLOCK * sizeof(float), 0, hp->head_dim_v, sc + p0,
		    m->n_ctx * sizeof(float), (int)group, part, hp->head_dim_v);
		for (size_t i = 0; i < (size_t)group * hp->head_dim_v; i++)
			out[i] += part[i];
	}
}

/* Step: SwiGLU, gate = silu(gate) * up, row r. */
struct swiglu_rows {
	float *gate;     /* [rows][n] */
	const float *up; /* [rows][n] */
	size_t n;
};

static void
task_swiglu(void *ctx, size_t r, int ith)
{
	struct swiglu_rows *sw = ctx;
	float *g = sw->gate + r * sw->n;
	const float *u = sw->up + r * sw->n;

	(void)ith;
	for (size_t i = 0; i < sw->n; i++)
		g[i] = silu(g[i]) * u[i];
}

static void
swiglu(
    struct infer_model *m, float *gate, const float *up, size_t rows, size_t n)
{
	struct swiglu_rows sw = { gate, up, n };

	par_for(m, rows, rows * n * 4, task_swiglu, &sw);
}

/*
 * Step: routing of token t: softmax over the router logits, the top
 * n_used experts (ties to the lower id), their weights renormalised when
 * the architecture says so.
 */
static void
route_token(struct infer_model *m, size_t t)
{
	const struct infer_hparams *hp = &m->hp;
	struct infer_work *w = m->work;
	float *p = w->router + t * hp->n_expert; // [n_expert]
	int32_t *sel = w->sel + t * w->n_used;   // [n_used]
	float *selw = w->selw + t * w->n_used;   // [n_used]
	float max = -INFINITY;
	double sum = 0.0, wsum = 0.0;

	for (uint32_t e = 0; e < hp->n_expert; e++)
		if (p[e] > max)
			max = p[e];
	for (uint32_t e = 0; e < hp->n_expert; e++) {
		p[e] = expf(p[e] - max);
		sum += (double)p[e];
	}
	for (uint32_t e = 0; e < hp->n_expert; e++)
		p[e] = (float)((double)p[e] / sum);

	/* Top-k by selection: n_used is small. */
	for (uint32_t j = 0; j < w->n_used; j++) {
		int32_t best = -1;

		for (uint32_t e = 0; e < hp->n_expert; e++) {
			int taken = 0;

			for (uint32_t i = 0; i < j; i++)
				if (sel[i] == (int32_t)e)
					taken = 1;
			if (taken)
				continue;
			if (best < 0 || p[e] > p[best])
				best = (int32_t)e;
		}
		sel[j] = best;
		selw[j] = p[best];
		wsum += (double)p[best];
	}
	if (hp->norm_topk)
		for (uint32_t j = 0; j < w->n_used; j++)
			selw[j] = (float)((double)selw[j] / wsum);
}

/* Copies quantized xb rows into slot order for the experts. */
static void
gather_rows(struct gather *g, const uint8_t *src, size_t src_rb,
    const int32_t *slot_tok, size_t n_slots)
{
	for (size_t s = 0; s < n_slots; s++)
		memcpy(g->buf + s * g->rb, src + (size_t)slot_tok[s] * src_rb,
		    src_rb);
}

/*
 * Queues W[e] x (the gathered xb rows of expert e) for every expert
 * that has tokens.
 */
static void
mm_add_experts(struct infer_model *m, size_t *nj, const struct infer_tensor *w,
    float *out, size_t out_stride)
{
	struct infer_work *wk = m->work;
	const struct infer_hparams *hp = &m->hp;
	uint32_t at = kern_act_type(w->type);
	const struct gather *g =
	    at == INFER_TYPE_Q8_0 ? &wk->g_q8_0 : &wk->g_q8_k;

	for (uint32_t e = 0; e < hp->n_expert; e++) {
		struct mm_job *job;
		uint32_t off = wk->eoff[e], cnt = wk->ecount[e];

		if (cnt == 0)
			continue;
		job = &wk->jobs[(*nj)++];
		job->wtype = w->type;
		job->n = (int64_t)w->ne[0];
		job->w = w->data + (size_t)e * w->mat_bytes;
		job->w_row_bytes = w->row_bytes;
		job->n_rows = (int64_t)w->ne[1];
		job->nx = (int)cnt;
		job->out = out + (size_t)off * out_stride;
		job->out_stride = out_stride;
		if (at == INFER_TYPE_F32) {
			/* Float weights take float rows: gather floats. */
			job->xq = NULL;
			job->xq_row_bytes = 0;
		} else {
			job->xq = g->buf + (size_t)off * g->rb;
			job->xq_row_bytes = g->rb;
		}
	}
}

/*
 * The mixture-of-experts FFN of the batch, from xb into eo (summed into
 * the first n rows' worth through the slot weights) and the residual.
 */
static void
ffn_moe(struct fwd *f)
{
	struct infer_model *m = f->m;
	const struct infer_hparams *hp = &m->hp;
	const struct infer_layer *L = f->L;
	struct infer_work *w = m->work;
	size_t n = f->n, nj = 0, n_slots = n * w->n_used;
	uint32_t ff = hp->n_ff_exp;
	uint32_t at_gate = kern_act_type(L->gate_exps.type);
	uint32_t at_up = kern_act_type(L->up_exps.type);
	float *fx = NULL;

	/* Router logits: [n][n_expert] = gate_inp x xb. */
	mm_add(m, &nj, &L->gate_inp, 0, &w->a_x, w->router, hp->n_expert);
	mm_flush(m, w->jobs, nj);
	nj = 0;

	/* Softmax, top-k, weights; then group the choices by expert. */
	memset(w->ecount, 0, hp->n_expert * sizeof *w->ecount);
	for (size_t t = 0; t < n; t++) {
		route_token(m, t);
		for (uint32_t j = 0; j < w->n_used; j++)
			w->ecount[w->sel[t * w->n_used + j]]++;
	}
	w->eoff[0] = 0;
	for (uint32_t e = 0; e < hp->n_expert; e++)
		w->eoff[e + 1] = w->eoff[e] + w->ecount[e];
	{
		uint32_t *fill = w->ecount; /* reused as a cursor, restored */

		for (uint32_t e = 0; e < hp->n_expert; e++)
			fill[e] = 0;
		for (size_t t = 0; t < n; t++) {
			for (uint32_t j = 0; j < w->n_used; j++) {
				int32_t e = w->sel[t * w->n_used + j];
				uint32_t s = w->eoff[e] + fill[e]++;

				w->slot[t * w->n_used + j] = (int32_t)s;
				w->slot_tok[s] = (int32_t)t;
			}
		}
	}

	/* The experts' inputs: xb rows in slot order, in each act type. */
	if (at_gate != INFER_TYPE_F32 || at_up != INFER_TYPE_F32) {
		const void *xq;
		size_t rb;

		if (at_gate == INFER_TYPE_Q8_0 || at_up == INFER_TYPE_Q8_0) {
			act_get(m, &w->a_x, INFER_TYPE_Q8_0, &xq, &rb);
			gather_rows(&w->g_q8_0, xq, rb, w->slot_tok, n_slots);
		}
		if (at_gate == INFER_TYPE_Q8_K || at_up == INFER_TYPE_Q8_K) {
			act_get(m, &w->a_x, INFER_TYPE_Q4_K, &xq, &rb);
			gather_rows(&w->g_q8_k, xq, rb, w->slot_tok, n_slots);
		}
	}
	if (at_gate == INFER_TYPE_F32 || at_up == INFER_TYPE_F32) {
		/* Float expert weights: gather float rows into eo. */
		fx = w->eo;
		for (size_t s = 0; s < n_slots; s++)
			memcpy(fx + s * hp->n_embd,
			    w->xb + (size_t)w->slot_tok[s] * hp->n_embd,
			    hp->n_embd * sizeof(float));
	}

	/* hb = gate_exps[e] x, hb2 = up_exps[e] x for every slot. */
	{
		size_t first = nj;

		mm_add_experts(m, &nj, &L->gate_exps, w->hb, ff);
		for (size_t i = first; i < nj; i++)
			if (w->jobs[i].xq == NULL) {
				size_t off =
				    (size_t)(w->jobs[i].out - w->hb) / ff;

				w->jobs[i].xq = fx + off * hp->n_embd;
				w->jobs[i].xq_row_bytes =
				    hp->n_embd * sizeof(float);
			}
		first = nj;
		mm_add_experts(m, &nj, &L->up_exps, w->hb2, ff);
		for (size_t i = first; i < nj; i++)
			if (w->jobs[i].xq == NULL) {
				size_t off =
				    (size_t)(w->jobs[i].out - w->hb2) / ff;

				w->jobs[i].xq = fx + off * hp->n_embd;
				w->jobs[i].xq_row_bytes =
				    hp->n_embd * sizeof(float);
			}
	}
	/* The shared expert's gate and up in the same pass (qwen2moe). */
	if (hp->shexp) {
		mm_add(
		    m, &nj, &L->gate_shexp, 0, &w->a_x, w->hs, hp->n_ff_shexp);
		mm_add(
		    m, &nj, &L->up_shexp, 0, &w->a_x, w->hs2, hp->n_ff_shexp);
	}
	mm_flush(m, w->jobs, nj);
	nj = 0;

	/* SwiGLU of every slot (and of the shared expert). */
	swiglu(m, w->hb, w->hb2, n_slots, ff);
	act_reset(&w->a_h, w->hb, ff, (int)n_slots);
	if (hp->shexp) {
		swiglu(m, w->hs, w->hs2, n, hp->n_ff_shexp);
		act_reset(&w->a_hs, w->hs, hp->n_ff_shexp, (int)n);
	}

	/* eo[slot] = down_exps[e] x hb[slot]; so = down_shexp x hs. */
	{
		const void *hq;
		size_t rb;

		act_get(m, &w->a_h, L->down_exps.type, &hq, &rb);
		for (uint32_t e = 0; e < hp->n_expert; e++) {
			struct mm_job *job;
			uint32_t off = w->eoff[e], cnt = w->ecount[e];

			if (cnt == 0)
				continue;
			job = &w->jobs[nj++];
			job->wtype = L->down_exps.type;
			job->n = (int64_t)L->down_exps.ne[0];
			job->w = L->down_exps.data +
			    (size_t)e * L->down_exps.mat_bytes;
			job->w_row_bytes = L->down_exps.row_bytes;
			job->n_rows = (int64_t)L->down_exps.ne[1];
			job->xq = (const uint8_t *)hq + (size_t)off * rb;
			job->xq_row_bytes = rb;
			job->nx = (int)cnt;
			job->out = w->eo + (size_t)off * hp->n_embd;
			job->out_stride = hp->n_embd;
		}
	}
	if (hp->shexp)
		mm_add(m, &nj, &L->down_shexp, 0, &w->a_hs, w->so, hp->n_embd);
	mm_flush(m, w->jobs, nj);

	/* x += sum over choices of weight * expert output (+ shared). */
	for (size_t t = 0; t < n; t++) {
		float *x = w->x + t * hp->n_embd;

		for (uint32_t j = 0; j < w->n_used; j++) {
			float wt = w->selw[t * w->n_used + j];
			const float *eo = w->eo +
			    (size_t)w->slot[t * w->n_used + j] * hp->n_embd;

			for (uint32_t i = 0; i < hp->n_embd; i++)
				x[i] += wt * eo[i];
		}
		if (hp->shexp) {
			const float *xb = w->xb + t * hp->n_embd;
			const float *so = w->so + t * hp->n_embd;
			double g = 0.0;
			float gate;

			for (uint32_t i = 0; i < hp->n_embd; i++)
				g += (double)L->gate_inp_shexp.f32[i] *
				    (double)xb[i];
			gate = (float)(1.0 / (1.0 + exp(-g)));
			for (uint32_t i = 0; i < hp->n_embd; i++)
				x[i] += gate * so[i];
		}
	}
}

/* The dense SwiGLU FFN of the batch, added to the residual. */
static void
ffn_dense(struct fwd *f)
{
	struct infer_model *m = f->m;
	const struct infer_hparams *hp = &m->hp;
	const struct infer_layer *L = f->L;
	struct infer_work *w = m->work;
	size_t n = f->n, nj = 0;

	/* hb = ffn_gate x xb, hb2 = ffn_up x xb: [n][n_ff]. */
	mm_add(m, &nj, &L->w_gate, 0, &w->a_x, w->hb, hp->n_ff);
	mm_add(m, &nj, &L->w_up, 0, &w->a_x, w->hb2, hp->n_ff);
	mm_flush(m, w->jobs, nj);
	nj = 0;

	/* hb = silu(hb) * hb2. */
	swiglu(m, w->hb, w->hb2, n, hp->n_ff);
	act_reset(&w->a_h, w->hb, hp->n_ff, (int)n);

	/* eo = ffn_down x hb: [n][n_embd]; x += eo. */
	mm_add(m, &nj, &L->w_down, 0, &w->a_h, w->eo, hp->n_embd);
	mm_flush(m, w->jobs, nj);
	for (size_t t = 0; t < n; t++) {
		float *x = w->x + t * hp->n_embd;
		const float *eo = w->eo + t * hp->n_embd;

		for (uint32_t i = 0; i < hp->n_embd; i++)
			x[i] += eo[i];
	}
}

/* ---- the forward pass ----------------------------------------------- */

void
infer_forward(
    struct infer_model *m, const struct infer_batch_item *items, size_t n)
{
	const struct infer_hparams *hp = &m->hp;
	struct infer_work *w = m->work;
	size_t n_q = (size_t)hp->n_head * hp->head_dim_k;
	size_t n_k = (size_t)hp->n_head_kv * hp->head_dim_k;
	size_t n_v = (size_t)hp->n_head_kv * hp->head_dim_v;
	size_t n_o = (size_t)hp->n_head * hp->head_dim_v;
	size_t n_out = 0, attn_work = 0;
	struct fwd f = { .m = m, .items = items, .n = n };

	/* x = token_embd[token]: [n][n_embd]. */
	for (size_t t = 0; t < n; t++) {
		const struct infer_tensor *te = &m->w.token_embd;

		quant_dequantize_row(te->type,
		    te->data + (size_t)items[t].token * te->row_bytes,
		    w->x + t * hp->n_embd, (int64_t)hp->n_embd, NULL);
		attn_work += (size_t)(items[t].pos + 1) * n_q;
	}

	for (uint32_t il = 0; il < hp->n_layer; il++) {
		const struct infer_layer *L = &m->w.layers[il];
		size_t nj = 0;

		f.il = il;
		f.L = L;

		/* xb = rmsnorm(x) * attn_norm. */
		par_for(m, n, n * hp->n_embd, task_norm, &f);
		act_reset(&w->a_x, w->xb, hp->n_embd, (int)n);

		/* q, k, v = wq xb, wk xb, wv xb. */
		mm_add(m, &nj, &L->wq, 0, &w->a_x, w->q, n_q);
		mm_add(m, &nj, &L->wk, 0, &w->a_x, w->k, n_k);
		mm_add(m, &nj, &L->wv, 0, &w->a_x, w->v, n_v);
		mm_flush(m, w->jobs, nj);
		nj = 0;

		/* Biases, q/k norms, RoPE; K and V into the caches. */
		par_for(m, n, n * (n_q + n_k) * 4, task_qkv, &f);

		/* att = softmax(q K^T / sqrt(hd_k)) V, per token and head. */
		par_for(
		    m, n * hp->n_head_kv, attn_work * 2, task_attention, &f);
		act_reset(&w->a_att, w->att, n_o, (int)n);

		/* ao = wo att (+ bo); x += ao. */
		mm_add(m, &nj, &L->wo, 0, &w->a_att, w->ao, hp->n_embd);
		mm_flush(m, w->jobs, nj);
		nj = 0;
		for (size_t t = 0; t < n; t++) {
			float *x = w->x + t * hp->n_embd;
			const float *ao = w->ao + t * hp->n_embd;

			for (uint32_t i = 0; i < hp->n_embd; i++)
				x[i] += ao[i];
			if (L->bo.f32 != NULL)
				for (uint32_t i = 0; i < hp->n_embd; i++)
					x[i] += L->bo.f32[i];
		}

		/* xb = rmsnorm(x) * ffn_norm; x += FFN(xb). */
		par_for(m, n, n * hp->n_embd, task_ffn_norm, &f);
		act_reset(&w->a_x, w->xb, hp->n_embd, (int)n);
		if (hp->moe)
			ffn_moe(&f);
		else
			ffn_dense(&f);
	}

	/* The tokens that want logits, normed into xb rows 0.. n_out. */
	for (size_t t = 0; t < n; t++) {
		if (items[t].logits == NULL)
			continue;
		rmsnorm(w->xb + n_out * hp->n_embd, w->x + t * hp->n_embd,
		    m->w.output_norm.f32, hp->n_embd, hp->rms_eps);
		w->out_idx[n_out++] = (int32_t)t;
	}
	if (n_out == 0)
		return;

	/* logits = output xb: straight into the rows when they are one
	 * array, else LOGIT_GROUP rows at a time through logit_rows. */
	{
		int contiguous = 1;
		float *first = items[w->out_idx[0]].logits;

		for (size_t j = 1; j < n_out; j++)
			if (items[w->out_idx[j]].logits !=
			    first + j * hp->n_vocab)
				contiguous = 0;
		if (contiguous) {
			size_t nj = 0;

			act_reset(&w->a_x, w->xb, hp->n_embd, (int)n_out);
			mm_add(m, &nj, &m->w.output, 0, &w->a_x, first,
			    hp->n_vocab);
			mm_flush(m, w->jobs, nj);
			return;
		}
		for (size_t j0 = 0; j0 < n_out; j0 += LOGIT_GROUP) {
			size_t cnt = n_out - j0, nj = 0;

			if (cnt > LOGIT_GROUP)
				cnt = LOGIT_GROUP;
			act_reset(&w->a_x, w->xb + j0 * hp->n_embd, hp->n_embd,
			    (int)cnt);
			mm_add(m, &nj, &m->w.output, 0, &w->a_x, w->logit_rows,
			    hp->n_vocab);
			mm_flush(m, w->jobs, nj);
			for (size_t j = 0; j < cnt; j++)
				memcpy(items[w->out_idx[j0 + j]].logits,
				    w->logit_rows + j * hp->n_vocab,
				    hp->n_vocab * sizeof(float));
		}
	}
}
