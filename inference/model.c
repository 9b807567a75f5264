/*
 * model.c: loading a model from GGUF, the engine's log and error helpers,
 * and the tokenizer entry points of infer.h.
 *
 * Loading follows llama.cpp's order: map and validate the container
 * (gguf.c), build the tokenizer from its metadata, find the architecture
 * and read its hyperparameters (arch.c), then bind every tensor of the
 * architecture's table by name, checking type and shape against the
 * hyperparameters before the forward pass may touch it.  A tensor that
 * does not fit gets a message naming the file, the tensor and both
 * shapes.  Weights stay in the read-only mapping; only 1-D weights stored
 * as f16/bf16 are converted to f32 copies.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/chat.h"
#include "inference/infer-int.h"
#include "inference/kernels.h"
#include "inference/quant.h"
#include "inference/tokenizer.h"

/* The log callback; log_lock keeps it from running concurrently. */
static void (*log_fn)(enum infer_log_level, const char *, void *);
static void *log_arg;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t model_dim(const struct infer_hparams *hp, enum infer_dim d);
static void model_tok_warn(void *arg, const char *msg);
static int model_bind(struct infer_model *m, const struct infer_tensor_spec *s,
    uint32_t il, int *bound, char **cause);
static int model_bind_all(struct infer_model *m, char **cause);
static void model_count(struct infer_model *m);
static const char *model_dims_str(
    const uint64_t *ne, uint32_t n, char *buf, size_t len);

void
infer_log_set(
    void (*fn)(enum infer_log_level level, const char *msg, void *arg),
    void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

void
infer_log(enum infer_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	pthread_mutex_lock(&log_lock);
	if (log_fn != NULL) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof buf, fmt, ap);
		va_end(ap);
		log_fn(level, buf, log_arg);
	}
	pthread_mutex_unlock(&log_lock);
}

void
infer_set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

void
infer_model_params_init(struct infer_model_params *params)
{
	memset(params, 0, sizeof *params);
}

static void
model_tok_warn(void *arg, const char *msg)
{
	(void)arg;
	infer_log(INFER_LOG_WARN, "%s", msg);
}

/* The size a dimension of the tensor table stands for. */
static uint64_t
model_dim(const struct infer_hparams *hp, enum infer_dim d)
{
	switch (d) {
	case INFER_DIM_NONE:
		return 1;
	case INFER_DIM_EMBD:
		return hp->n_embd;
	case INFER_DIM_VOCAB:
		return hp->n_vocab;
	case INFER_DIM_Q:
		return (uint64_t)hp->n_head * hp->head_dim_k;
	case INFER_DIM_K:
		return (uint64_t)hp->n_head_kv * hp->head_dim_k;
	case INFER_DIM_V:
		return (uint64_t)hp->n_head_kv * hp->head_dim_v;
	case INFER_DIM_O:
		return (uint64_t)hp->n_head * hp->head_dim_v;
	case INFER_DIM_HEAD_K:
		return hp->head_dim_k;
	case INFER_DIM_FF:
		return hp->n_ff;
	case INFER_DIM_FF_EXP:
		return hp->n_ff_exp;
	case INFER_DIM_FF_SHEXP:
		return hp->n_ff_shexp;
	case INFER_DIM_EXPERT:
		return hp->n_expert;
	case INFER_DIM_ROT_HALF:
		return hp->n_rot / 2;
	}
	return 0;
}

static const char *
model_dims_str(const uint64_t *ne, uint32_t n, char *buf, size_t len)
{
	size_t off = 0;

	off += (size_t)snprintf(buf + off, len - off, "[");
	for (uint32_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%" PRIu64,
		    i == 0 ? "" : ", ", ne[i]);
	if (off < len)
		snprintf(buf + off, len - off, "]");
	return buf;
}

/*
 * Binds one row of the tensor table (for layer il when per layer): finds
 * the tensor, checks its shape and type, and fills its struct
 * infer_tensor.  *bound is set to 1 when the tensor was found.
 */
static int
model_bind(struct infer_model *m, const struct infer_tensor_spec *s,
    uint32_t il, int *bound, char **cause)
{
	const struct infer_hparams *hp = &m->hp;
	const char *file = m->path;
	const struct infer_gguf_tensor *gt;
	struct infer_tensor *t;
	uint64_t want[INFER_GGUF_MAX_DIMS] = { 1, 1, 1, 1 };
	char name[128], a[96], b[96];
	char *why = NULL;
	int required;
	uint64_t bytes;

	*bound = 0;
	switch (s->when) {
	case INFER_WHEN_ALWAYS:
		required = 1;
		break;
	case INFER_WHEN_QK_NORM:
		if ((m->arch->flags & INFER_ARCH_QK_NORM) == 0)
			return 0;
		required = 1;
		break;
	case INFER_WHEN_BIAS:
		required = (m->arch->flags & INFER_ARCH_QKV_BIAS) != 0;
		break;
	case INFER_WHEN_DENSE:
		if (hp->moe)
			return 0;
		required = 1;
		break;
	case INFER_WHEN_MOE:
		if (!hp->moe)
			return 0;
		required = 1;
		break;
	case INFER_WHEN_SHEXP:
		if (!hp->shexp)
			return 0;
		required = 1;
		break;
	case INFER_WHEN_OPTIONAL:
	default:
		required = 0;
		break;
	}

	if (s->per_layer) {
		t = (struct infer_tensor *)((char *)&m->w.layers[il] +
		    s->offset);
		snprintf(name, sizeof name, "blk.%u.%s", il, s->name);
	} else {
		t = (struct infer_tensor *)((char *)&m->w + s->offset);
		snprintf(name, sizeof name, "%s", s->name);
	}
	gt = infer_gguf_tensor_find(m->gguf, name);
	if (gt == NULL) {
		if (!required)
			return 0;
		infer_set_cause(cause, "%s: missing tensor '%s' (%s%s)", file,
		    name, m->arch->name, hp->moe ? ", mixture of experts" : "");
		return -1;
	}

	/* The shape: the table's dimensions, trailing 1s allowed. */
	for (uint32_t i = 0; i < s->n_dims; i++)
		want[i] = model_dim(hp, s->ne[i]);
	for (uint32_t i = 0; i < INFER_GGUF_MAX_DIMS; i++) {
		if (gt->ne[i] != want[i]) {
			infer_set_cause(cause,
			    "%s: tensor '%s' has shape %s, but the "
			    "hyperparameters give %s",
			    file, name,
			    model_dims_str(gt->ne, gt->n_dims, a, sizeof a),
			    model_dims_str(want, s->n_dims, b, sizeof b));
			return -1;
		}
	}

	t->name = gt->name;
	t->type = gt->type;
	t->ne[0] = gt->ne[0];
	t->ne[1] = gt->ne[1];
	t->ne[2] = gt->ne[2];
	t->data = gt->data;
	if (infer_type_nbytes(gt->type, gt->ne[0], &bytes) != 0) {
		infer_set_cause(cause,
		    "%s: tensor '%s': bad row of %" PRIu64 " %s elements", file,
		    name, gt->ne[0], infer_type_name(gt->type));
		return -1;
	}
	t->row_bytes = (size_t)bytes;
	t->mat_bytes = (size_t)(bytes * gt->ne[1]);

	switch (s->use) {
	case INFER_USE_VECTOR:
		if (gt->type == INFER_TYPE_F32 &&
		    ((uintptr_t)gt->data & (sizeof(float) - 1)) == 0) {
			t->f32 = (const float *)(const void *)gt->data;
			break;
		}
		if (!quant_can_dequantize(gt->type)) {
			infer_set_cause(cause,
			    "%s: tensor '%s': type %s not supported for a "
			    "1-D weight",
			    file, name, infer_type_name(gt->type));
			return -1;
		}
		t->owned = malloc((size_t)gt->ne[0] * sizeof(float));
		if (t->owned == NULL) {
			infer_set_cause(cause, "%s: tensor '%s': out of memory",
			    file, name);
			return -1;
		}
		if (quant_dequantize_row(gt->type, gt->data, t->owned,
		        (int64_t)gt->ne[0], cause) != 0)
			return -1;
		t->f32 = t->owned;
		break;
	case INFER_USE_MATRIX:
	case INFER_USE_EMBED:
		if (!infer_matmul_supported(gt->type) ||
		    (s->use == INFER_USE_EMBED &&
		        !quant_can_dequantize(gt->type))) {
			infer_set_cause(cause,
			    "%s: tensor '%s': type %s not supported (f32, "
			    "f16, bf16, q8_0, q4_0, q5_0, q4_K, q5_K, q6_K)",
			    file, name, infer_type_name(gt->type));
			return -1;
		}
		if (kern_check(gt->type, (int64_t)gt->ne[0], &why) != 0) {
			infer_set_cause(cause, "%s: tensor '%s': %s", file,
			    name, why != NULL ? why : "bad row length");
			free(why);
			return -1;
		}
		break;
	}
	*bound = 1;
	return 0;
}

/* Binds every tensor of the table; counts those of the file left over. */
static int
model_bind_all(struct infer_model *m, char **cause)
{
	size_t n_bound = 0, n_file;
	int bound;

	for (const struct infer_tensor_spec *s = infer_tensor_specs;
	     s->name != NULL; s++) {
		uint32_t n = s->per_layer ? m->hp.n_layer : 1;

		for (uint32_t il = 0; il < n; il++) {
			if (model_bind(m, s, il, &bound, cause) != 0)
				return -1;
			n_bound += (size_t)bound;
		}
	}

	/* A tied output head multiplies by the token embeddings. */
	if (m->w.output.name == NULL) {
		if (!infer_matmul_supported(m->w.token_embd.type)) {
			infer_set_cause(cause,
			    "%s: no 'output.weight' and 'token_embd.weight' "
			    "has type %s, which cannot serve as the output",
			    m->path, infer_type_name(m->w.token_embd.type));
			return -1;
		}
		m->w.output = m->w.token_embd;
		m->w.output.owned = NULL;
	}

	n_file = infer_gguf_tensor_count(m->gguf);
	if (n_file > n_bound)
		infer_log(INFER_LOG_WARN,
		    "%s: %zu of %zu tensors are not used by %s", m->path,
		    n_file - n_bound, n_file, m->arch->name);
	return 0;
}

/* Fills the counts of struct infer_model_info. */
static void
model_count(struct infer_model *m)
{
	struct infer_model_info *info = &m->info;
	uint64_t by_type[INFER_TYPE_COUNT] = { 0 };
	int best = -1;
	double used;

	used = m->hp.moe ? (double)m->hp.n_expert_used / m->hp.n_expert : 1.0;
	for (size_t i = 0; i < infer_gguf_tensor_count(m->gguf); i++) {
		const struct infer_gguf_tensor *gt =
		    infer_gguf_tensor_at(m->gguf, i);
		int expert = strstr(gt->name, "_exps.") != NULL;
		int embd = strcmp(gt->name, "token_embd.weight") == 0;

		info->n_params += gt->n_elements;
		info->weight_bytes += gt->size;
		if (gt->n_dims >= 2)
			by_type[gt->type] += gt->size;
		if (embd && m->w.output.data != m->w.token_embd.data)
			continue; /* only one row is read per token */
		info->n_params_active +=
		    expert ? (uint64_t)(gt->n_elements * used) : gt->n_elements;
		info->weight_bytes_active +=
		    expert ? (uint64_t)((double)gt->size * used) : gt->size;
	}
	for (int t = 0; t < INFER_TYPE_COUNT; t++)
		if (by_type[t] > 0 && (best < 0 || by_type[t] > by_type[best]))
			best = t;
	snprintf(m->type_name, sizeof m->type_name, "%s",
	    best >= 0 ? infer_type_name((uint32_t)best) : "none");
}

struct infer_model *
infer_model_load(
    const char *path, const struct infer_model_params *params, char **cause)
{
	struct infer_model_params defaults;
	struct infer_model *m;
	struct infer_model_info *info;
	const struct infer_gguf_tensor *embd;

	if (params == NULL) {
		infer_model_params_init(&defaults);
		params = &defaults;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL) {
		infer_set_cause(cause, "%s: out of memory", path);
		return NULL;
	}
	pthread_mutex_init(&m->forward_lock, NULL);
	pthread_mutex_init(&m->seqs_lock, NULL);
	m->path = strdup(path);
	if (m->path == NULL) {
		infer_set_cause(cause, "%s: out of memory", path);
		goto fail;
	}
	m->gguf = infer_gguf_open(path, 0, cause);
	if (m->gguf == NULL)
		goto fail;

	/* general.architecture and general.name, as text. */
	if (infer_gguf_kv_find(m->gguf, "general.architecture") >= 0) {
		m->arch_name = infer_gguf_get_strdup(
		    m->gguf, "general.architecture", cause);
		if (m->arch_name == NULL)
			goto fail;
	} else if (!params->vocab_only) {
		infer_set_cause(cause,
		    "%s: missing required key 'general.architecture'", path);
		goto fail;
	}
	if (infer_gguf_kv_find(m->gguf, "general.name") >= 0)
		m->name = infer_gguf_get_strdup(m->gguf, "general.name", NULL);

	/* The tokenizer, when the file has one. */
	if (infer_gguf_kv_find(m->gguf, "tokenizer.ggml.model") >= 0) {
		m->tok =
		    infer_tok_from_gguf(m->gguf, model_tok_warn, NULL, cause);
		if (m->tok == NULL)
			goto fail;
	} else if (params->vocab_only) {
		infer_set_cause(cause,
		    "%s: no vocabulary (missing key 'tokenizer.ggml.model')",
		    path);
		goto fail;
	} else
		infer_log(INFER_LOG_WARN,
		    "%s: no tokenizer (missing key 'tokenizer.ggml.model'); "
		    "only token ids can be fed",
		    path);

	/* The chat template's family, recognised from its text. */
	m->chat_tmpl = INFER_CHAT_RAW;
	if (infer_gguf_kv_find(m->gguf, "tokenizer.chat_template") >= 0) {
		const char *tmpl;
		size_t len;

		if (infer_gguf_get_str(m->gguf, "tokenizer.chat_template",
		        &tmpl, &len, cause) != 0)
			goto fail;
		m->chat_tmpl = infer_chat_detect(tmpl, len);
	}

	info = &m->info;
	info->path = m->path;
	info->arch = m->arch_name != NULL ? m->arch_name : "";
	info->name = m->name != NULL ? m->name : "";
	info->type_name = m->type_name;
	info->vocab_only = params->vocab_only;
	if (params->vocab_only) {
		info->n_vocab = infer_tok_n_vocab(m->tok);
		m->hp.n_vocab = info->n_vocab;
		snprintf(m->type_name, sizeof m->type_name, "none");
		return m;
	}

	/* The architecture and its hyperparameters. */
	m->arch = infer_arch_find(m->arch_name);
	if (m->arch == NULL) {
		infer_set_cause(cause,
		    "%s: general.architecture '%s' not supported (%s)", path,
		    m->arch_name, infer_arch_names());
		goto fail;
	}
	if (infer_hparams_read(m->gguf, m->arch, &m->hp, cause) != 0)
		goto fail;

	/* The vocabulary size is the number of embedding rows. */
	embd = infer_gguf_tensor_find(m->gguf, "token_embd.weight");
	if (embd == NULL) {
		infer_set_cause(
		    cause, "%s: missing tensor 'token_embd.weight'", path);
		goto fail;
	}
	if (embd->n_dims != 2 || embd->ne[1] > INT32_MAX) {
		infer_set_cause(cause,
		    "%s: tensor 'token_embd.weight' must be 2-D with fewer "
		    "than 2^31 rows",
		    path);
		goto fail;
	}
	m->hp.n_vocab = (uint32_t)embd->ne[1];
	if (m->tok != NULL && infer_tok_n_vocab(m->tok) != m->hp.n_vocab) {
		infer_set_cause(cause,
		    "%s: the vocabulary has %u tokens but 'token_embd.weight' "
		    "has %u rows",
		    path, infer_tok_n_vocab(m->tok), m->hp.n_vocab);
		goto fail;
	}

	/* Every tensor, by name, shape and type. */
	m->w.layers = calloc(m->hp.n_layer, sizeof *m->w.layers);
	if (m->w.layers == NULL) {
		infer_set_cause(cause, "%s: out of memory", path);
		goto fail;
	}
	if (model_bind_all(m, cause) != 0)
		goto fail;
	model_count(m);

	/* Context and batch sizes. */
	m->n_ctx = params->n_ctx;
	if (m->n_ctx == 0)
		m->n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
	if (m->n_ctx > INFER_MAX_CTX) {
		infer_set_cause(cause, "%s: context %u above the limit %u",
		    path, m->n_ctx, INFER_MAX_CTX);
		goto fail;
	}
	m->n_batch = params->n_batch != 0 ? params->n_batch : 512;
	if (m->n_batch > INFER_MAX_BATCH) {
		infer_set_cause(cause, "%s: batch %u above the limit %u", path,
		    m->n_batch, INFER_MAX_BATCH);
		goto fail;
	}

	m->pool = infer_pool_new(params->n_threads, cause);
	if (m->pool == NULL)
		goto fail;
	if (infer_work_new(m, cause) != 0)
		goto fail;

	info->n_vocab = m->hp.n_vocab;
	info->n_ctx_train = m->hp.n_ctx_train;
	info->n_ctx = m->n_ctx;
	info->n_batch = m->n_batch;
	info->n_embd = m->hp.n_embd;
	info->n_layer = m->hp.n_layer;
	info->n_head = m->hp.n_head;
	info->n_head_kv = m->hp.n_head_kv;
	info->head_dim_k = m->hp.head_dim_k;
	info->head_dim_v = m->hp.head_dim_v;
	info->n_ff = m->hp.moe ? 0 : m->hp.n_ff;
	info->n_expert = m->hp.moe ? m->hp.n_expert : 0;
	info->n_expert_used = m->hp.moe ? m->hp.n_expert_used : 0;
	info->n_ff_exp = m->hp.moe ? m->hp.n_ff_exp : 0;
	info->n_ff_shexp = m->hp.shexp ? m->hp.n_ff_shexp : 0;
	info->n_threads = infer_pool_size(m->pool);
	infer_log(INFER_LOG_INFO,
	    "%s: %s, %u layers, n_embd %u, %u heads (%u kv), vocab %u%s", path,
	    m->arch_name, m->hp.n_layer, m->hp.n_embd, m->hp.n_head,
	    m->hp.n_head_kv, m->hp.n_vocab,
	    m->hp.moe ? ", mixture of experts" : "");
	return m;

fail:
	infer_model_free(m);
	return NULL;
}

void
infer_model_free(struct infer_model *m)
{
	if (m == NULL)
		return;
	if (m->n_seqs != 0)
		infer_log(INFER_LOG_ERR,
		    "%s: model freed with %u sequences still alive", m->path,
		    m->n_seqs);
	infer_work_free(m);
	infer_pool_free(m->pool);
	if (m->w.layers != NULL) {
		for (const struct infer_tensor_spec *s = infer_tensor_specs;
		     s->name != NULL; s++) {
			if (!s->per_layer)
				continue;
			for (uint32_t il = 0; il < m->hp.n_layer; il++) {
				struct infer_tensor *t =
				    (struct infer_tensor *)((char *)&m->w
				                                .layers[il] +
				        s->offset);

				free(t->owned);
			}
		}
	}
	for (const struct infer_tensor_spec *s = infer_tensor_specs;
	     s->name != NULL; s++) {
		struct infer_tensor *t;

		if (s->per_layer)
			continue;
		t = (struct infer_tensor *)((char *)&m->w + s->offset);
		free(t->owned);
	}
	free(m->w.layers);
	infer_tok_free(m->tok);
	infer_gguf_close(m->gguf);
	free(m->arch_name);
	free(m->name);
	free(m->path);
	pthread_mutex_destroy(&m->seqs_lock);
	pthread_mutex_destroy(&m->forward_lock);
	free(m);
}

const struct infer_model_info *
infer_model_info(const struct infer_model *m)
{
	return &m->info;
}

/* ---- tokenizer entry points ----------------------------------------- */

static int
model_need_tok(const struct infer_model *m, char **cause)
{
	if (m->tok != NULL)
		return 0;
	infer_set_cause(cause, "%s: the model has no tokenizer", m->path);
	return -1;
}

int32_t *
infer_tokenize(const struct infer_model *m, const char *text, size_t len,
    int flags, size_t *n, char **cause)
{
	if (model_need_tok(m, cause) != 0)
		return NULL;
	return infer_tok_encode(m->tok, text, len,
	    flags & (INFER_TOK_ADD_SPECIAL | INFER_TOK_SPECIAL), n, cause);
}

char *
infer_detokenize(const struct infer_model *m, const int32_t *ids, size_t n,
    int flags, size_t *len, char **cause)
{
	int tflags = flags & INFER_TOK_SPECIAL;

	if (model_need_tok(m, cause) != 0)
		return NULL;
	/* A text's first piece loses the space the SentencePiece prefix
	 * rule put there; the tokenizer ignores this for other kinds. */
	if ((flags & INFER_TOK_CONTINUE) == 0)
		tflags |= INFER_TOK_STRIP_SPACE;
	return infer_tok_decode(m->tok, ids, n, tflags, len, cause);
}

void
infer_detok_init(struct infer_detok *dt, const struct infer_model *m, int flags)
{
	memset(dt, 0, sizeof *dt);
	dt->model = m;
	dt->flags = flags & INFER_TOK_SPECIAL;
}

size_t
infer_detok_max(const struct infer_model *m)
{
	if (m->tok == NULL)
		return INFER_TOK_STREAM_MAX(0);
	return INFER_TOK_STREAM_MAX(infer_tok_max_piece(m->tok));
}

int
infer_detok_push(
    struct infer_detok *dt, int32_t id, char *out, size_t cap, char **cause)
{
	struct infer_tok_stream st;
	int n;

	if (model_need_tok(dt->model, cause) != 0)
		return -1;
	infer_tok_stream_init(&st, dt->flags);
	st.started = dt->started;
	st.n_pending = dt->n_pending;
	memcpy(st.pending, dt->pending, sizeof st.pending);
	n = infer_tok_stream_push(dt->model->tok, &st, id, out, cap, cause);
	if (n < 0)
		return -1;
	dt->started = st.started;
	dt->n_pending = st.n_pending;
	memcpy(dt->pending, st.pending, sizeof dt->pending);
	return n;
}

size_t
infer_detok_flush(struct infer_detok *dt, char *out, size_t cap)
{
	struct infer_tok_stream st;
	size_t n;

	infer_tok_stream_init(&st, dt->flags);
	st.started = dt->started;
	st.n_pending = dt->n_pending;
	memcpy(st.pending, dt->pending, sizeof st.pending);
	n = infer_tok_stream_flush(&st, out, cap);
	dt->started = st.started;
	dt->n_pending = st.n_pending;
	memcpy(dt->pending, st.pending, sizeof dt->pending);
	return n;
}

uint32_t
infer_vocab_size(const struct infer_model *m)
{
	return m->hp.n_vocab;
}

int32_t
infer_token_bos(const struct infer_model *m)
{
	return m->tok != NULL ? infer_tok_bos(m->tok) : -1;
}

int32_t
infer_token_eos(const struct infer_model *m)
{
	return m->tok != NULL ? infer_tok_eos(m->tok) : -1;
}

int
infer_token_adds_bos(const struct infer_model *m)
{
	return m->tok != NULL && infer_tok_bos(m->tok) >= 0
	    ? infer_tok_adds_bos(m->tok) != 0
	    : 0;
}

int
infer_token_is_eog(const struct infer_model *m, int32_t id)
{
	return m->tok != NULL ? infer_tok_is_eog(m->tok, id) : 0;
}

const char *
infer_token_text(const struct infer_model *m, int32_t id)
{
	return m->tok != NULL ? infer_tok_text(m->tok, id) : NULL;
}

/* ---- chat templates -------------------------------------------------- */

char *
infer_chat_render(const struct infer_model *m,
    const struct infer_chat_msg *msgs, size_t n, int add_assistant,
    char **cause)
{
	size_t len;

	return infer_chat_apply(
	    m->chat_tmpl, msgs, n, add_assistant, &len, NULL, NULL, cause);
}

int32_t *
infer_chat_tokenize(const struct infer_model *m,
    const struct infer_chat_msg *msgs, size_t n, int add_assistant,
    size_t *n_ids, char **cause)
{
	struct infer_tok_range *plain = NULL;
	size_t len, n_plain = 0;
	int32_t *ids;
	char *text;

	if (model_need_tok(m, cause) != 0)
		return NULL;
	text = infer_chat_apply(m->chat_tmpl, msgs, n, add_assistant, &len,
	    &plain, &n_plain, cause);
	if (text == NULL)
		return NULL;
	ids = infer_tok_encode_ranges(m->tok, text, len,
	    INFER_TOK_ADD_SPECIAL | INFER_TOK_SPECIAL, plain, n_plain, n_ids,
	    cause);
	free(plain);
	free(text);
	return ids;
}

const char *
infer_chat_family(const struct infer_model *m)
{
	return infer_chat_tmpl_name(m->chat_tmpl);
}
