/*
 * kv.c: sequences and their KV caches.
 *
 * A sequence reserves its whole KV cache when it is created, as one
 * anonymous mapping (the layout is in infer-int.h: K a row per position,
 * V transposed within blocks of 64 positions).  The kernel commits pages
 * only as positions are written, so a sequence with a large context costs
 * memory in proportion to the tokens
 * it holds, and the forward pass never allocates.  Truncating moves the
 * length back (the rows past it are overwritten by the next tokens);
 * forking copies the rows in use into a fresh mapping.
 *
 * Feeding splits the tokens into batches of at most n_batch and hands
 * them to the forward pass under the model's forward lock, which also
 * guards the workspace the pass uses.
 */
#include <sys/mman.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "inference/infer-int.h"

static int seq_check_tokens(
    const struct infer_seq *seq, const int32_t *tokens, size_t n, char **cause);
static int seq_feed(struct infer_seq *seq, const int32_t *tokens, size_t n,
    float *all, char **cause);

float *
infer_seq_k(struct infer_seq *seq, uint32_t il)
{
	return (float *)seq->kv + (size_t)il * seq->layer_stride;
}

float *
infer_seq_v(struct infer_seq *seq, uint32_t il)
{
	const struct infer_hparams *hp = &seq->model->hp;

	return (float *)seq->kv + (size_t)il * seq->layer_stride +
	    (size_t)seq->n_ctx * hp->n_head_kv * hp->head_dim_k;
}

struct infer_seq *
infer_seq_new(struct infer_model *model, uint32_t n_ctx, char **cause)
{
	const struct infer_hparams *hp = &model->hp;
	struct infer_seq *seq;

	if (model->info.vocab_only) {
		infer_set_cause(cause,
		    "%s: vocabulary-only model: no sequences", model->path);
		return NULL;
	}
	if (n_ctx == 0)
		n_ctx = model->n_ctx;
	if (n_ctx > model->n_ctx) {
		infer_set_cause(cause,
		    "%s: context of %u tokens above the model's limit of %u "
		    "(set n_ctx when loading)",
		    model->path, n_ctx, model->n_ctx);
		return NULL;
	}
	seq = calloc(1, sizeof *seq);
	if (seq == NULL)
		goto oom;
	seq->model = model;
	seq->n_ctx = n_ctx;
	seq->kv = MAP_FAILED;

	/*
	 * The factors are bounded (n_ctx <= 2^20, n_head_kv <= 2^10, head
	 * sizes <= 2^12, layers <= 2^10), so only the last product could
	 * come near SIZE_MAX on a 32-bit host; it is checked.
	 */
	seq->n_vblocks = (n_ctx + INFER_KV_VBLOCK - 1) / INFER_KV_VBLOCK;
	seq->layer_stride = (size_t)hp->n_head_kv *
	    ((size_t)n_ctx * hp->head_dim_k +
	        (size_t)seq->n_vblocks * INFER_KV_VBLOCK * hp->head_dim_v);
	if (__builtin_mul_overflow(seq->layer_stride,
	        (size_t)hp->n_layer * sizeof(float), &seq->kv_bytes)) {
		infer_set_cause(
		    cause, "%s: KV cache size overflows", model->path);
		goto fail;
	}
	seq->kv = mmap(NULL, seq->kv_bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (seq->kv == MAP_FAILED) {
		infer_set_cause(cause,
		    "%s: cannot reserve %zu bytes of KV cache: %s", model->path,
		    seq->kv_bytes, strerror(errno));
		goto fail;
	}
	seq->tokens = calloc(n_ctx, sizeof *seq->tokens);
	seq->logits = calloc(hp->n_vocab, sizeof *seq->logits);
	if (seq->tokens == NULL || seq->logits == NULL)
		goto oom;

	pthread_mutex_lock(&model->seqs_lock);
	model->n_seqs++;
	pthread_mutex_unlock(&model->seqs_lock);
	return seq;

oom:
	infer_set_cause(cause, "%s: out of memory for a sequence", model->path);
fail:
	if (seq != NULL) {
		if (seq->kv != MAP_FAILED)
			munmap(seq->kv, seq->kv_bytes);
		free(seq->tokens);
		free(seq->logits);
		free(seq);
	}
	return NULL;
}

void
infer_seq_free(struct infer_seq *seq)
{
	if (seq == NULL)
		return;
	pthread_mutex_lock(&seq->model->seqs_lock);
	seq->model->n_seqs--;
	pthread_mutex_unlock(&seq->model->seqs_lock);
	munmap(seq->kv, seq->kv_bytes);
	free(seq->tokens);
	free(seq->logits);
	free(seq);
}

uint32_t
infer_seq_len(const struct infer_seq *seq)
{
	return seq->n_past;
}

uint32_t
infer_seq_ctx(const struct infer_seq *seq)
{
	return seq->n_ctx;
}

const int32_t *
infer_seq_tokens(const struct infer_seq *seq)
{
	return seq->tokens;
}

const float *
infer_seq_logits(const struct infer_seq *seq)
{
	return seq->logits_valid ? seq->logits : NULL;
}

/* Checks that n tokens are valid ids and fit in the sequence. */
static int
seq_check_tokens(
    const struct infer_seq *seq, const int32_t *tokens, size_t n, char **cause)
{
	uint32_t n_vocab = seq->model->hp.n_vocab;

	if (n > (size_t)(seq->n_ctx - seq->n_past)) {
		infer_set_cause(cause,
		    "context full: %zu tokens do not fit after %u of %u", n,
		    seq->n_past, seq->n_ctx);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab) {
			infer_set_cause(cause,
			    "token %zu: id %d outside the vocabulary (%u "
			    "tokens)",
			    i, tokens[i], n_vocab);
			return -1;
		}
	}
	return 0;
}

/* Feeds n tokens in batches; all != NULL receives every row of logits. */
static int
seq_feed(struct infer_seq *seq, const int32_t *tokens, size_t n, float *all,
    char **cause)
{
	struct infer_model *model = seq->model;
	struct infer_batch_item *items;
	uint32_t n_vocab = model->hp.n_vocab;
	size_t done = 0;

	if (seq_check_tokens(seq, tokens, n, cause) != 0)
		return -1;
	if (n == 0)
		return 0;

	pthread_mutex_lock(&model->forward_lock);
	items = infer_work_items(model);
	while (done < n) {
		size_t chunk = n - done;

		/* Between batches, the caller may call it off. */
		if (seq->abort_fn != NULL && seq->abort_fn(seq->abort_arg)) {
			pthread_mutex_unlock(&model->forward_lock);
			infer_set_cause(cause,
			    "cancelled after %zu of %zu tokens", done, n);
			return -1;
		}
		if (chunk > model->n_batch)
			chunk = model->n_batch;
		for (size_t i = 0; i < chunk; i++) {
			size_t t = done + i;

			items[i].seq = seq;
			items[i].token = tokens[t];
			items[i].pos = seq->n_past + (uint32_t)i;
			if (all != NULL)
				items[i].logits = all + t * n_vocab;
			else if (i == chunk - 1)
				items[i].logits = seq->logits;
			else
				items[i].logits = NULL;
		}
		infer_forward(model, items, chunk);
		memcpy(seq->tokens + seq->n_past, tokens + done,
		    chunk * sizeof *tokens);
		seq->n_past += (uint32_t)chunk;
		done += chunk;
		/* The logits after the last token fed so far. */
		if (all != NULL)
			memcpy(seq->logits, all + (done - 1) * n_vocab,
			    n_vocab * sizeof *seq->logits);
		seq->logits_valid = 1;
	}
	pthread_mutex_unlock(&model->forward_lock);
	return 0;
}

void
infer_seq_set_abort(struct infer_seq *seq, int (*fn)(void *arg), void *arg)
{
	seq->abort_fn = fn;
	seq->abort_arg = arg;
}

int
infer_seq_feed(
    struct infer_seq *seq, const int32_t *tokens, size_t n, char **cause)
{
	return seq_feed(seq, tokens, n, NULL, cause);
}

int
infer_seq_feed_all(struct infer_seq *seq, const int32_t *tokens, size_t n,
    float *logits, char **cause)
{
	if (logits == NULL && n > 0) {
		infer_set_cause(cause, "feed_all: no logits buffer");
		return -1;
	}
	return seq_feed(seq, tokens, n, logits, cause);
}

int
infer_decode_batch(struct infer_seq *const *seqs, const int32_t *tokens,
    size_t n, char **cause)
{
	struct infer_model *model;
	struct infer_batch_item *items;

	if (n == 0)
		return 0;
	model = seqs[0]->model;
	if (n > model->n_batch) {
		infer_set_cause(cause,
		    "batched decode of %zu sequences above the batch size %u",
		    n, model->n_batch);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char *why = NULL;

		if (seqs[i]->model != model) {
			infer_set_cause(cause,
			    "batched decode: sequence %zu belongs to another "
			    "model",
			    i);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (seqs[j] == seqs[i]) {
				infer_set_cause(cause,
				    "batched decode: sequences %zu and %zu "
				    "are the same",
				    j, i);
				return -1;
			}
		}
		if (seq_check_tokens(seqs[i], &tokens[i], 1,
		        cause != NULL ? &why : NULL) != 0) {
			infer_set_cause(cause,
			    "batched decode: sequence %zu: %s", i,
			    why != NULL ? why : "invalid token");
			free(why);
			return -1;
		}
	}

	pthread_mutex_lock(&model->forward_lock);
	items = infer_work_items(model);
	for (size_t i = 0; i < n; i++) {
		items[i].seq = seqs[i];
		items[i].token = tokens[i];
		items[i].pos = seqs[i]->n_past;
		items[i].logits = seqs[i]->logits;
	}
	infer_forward(model, items, n);
	for (size_t i = 0; i < n; i++) {
		struct infer_seq *seq = seqs[i];

		seq->tokens[seq->n_past++] = tokens[i];
		seq->logits_valid = 1;
	}
	pthread_mutex_unlock(&model->forward_lock);
	return 0;
}

int
infer_seq_truncate(struct infer_seq *seq, uint32_t n, char **cause)
{
	if (n > seq->n_past) {
		infer_set_cause(cause,
		    "truncate to %u tokens: the sequence has only %u", n,
		    seq->n_past);
		return -1;
	}
	if (n != seq->n_past)
		seq->logits_valid = 0;
	seq->n_past = n;
	return 0;
}

struct infer_seq *
infer_seq_fork(const struct infer_seq *seq, char **cause)
{
	const struct infer_hparams *hp = &seq->model->hp;
	struct infer_seq *copy;
	size_t kdim = (size_t)hp->n_head_kv * hp->head_dim_k;
	size_t vdim = (size_t)hp->n_head_kv * hp->head_dim_v;

	copy = infer_seq_new(seq->model, seq->n_ctx, cause);
	if (copy == NULL)
		return NULL;
	/* Only the positions in use: untouched pages stay uncommitted. */
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		const float *src =
		    (const float *)seq->kv + (size_t)il * seq->layer_stride;
		float *dst = infer_seq_k(copy, il);
		size_t blocks =
		    (seq->n_past + INFER_KV_VBLOCK - 1) / INFER_KV_VBLOCK;

		/* K: the first n_past rows; V: the blocks they reach. */
		memcpy(dst, src, seq->n_past * kdim * sizeof(float));
		memcpy(dst + (size_t)seq->n_ctx * kdim,
		    src + (size_t)seq->n_ctx * kdim,
		    blocks * INFER_KV_VBLOCK * vdim * sizeof(float));
	}
	memcpy(copy->tokens, seq->tokens, seq->n_past * sizeof *seq->tokens);
	memcpy(copy->logits, seq->logits, hp->n_vocab * sizeof *seq->logits);
	copy->n_past = seq->n_past;
	copy->logits_valid = seq->logits_valid;
	return copy;
}
