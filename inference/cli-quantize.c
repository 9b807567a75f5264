/*
 * cli-quantize.c: agentd-infer quantize IN OUT TYPE, a GGUF file
 * rewritten with its weight matrices in another type.
 *
 * The choice of type per tensor follows llama-quantize's rules: 1-D
 * tensors (norms, biases) and the MoE routers (ffn_gate_inp*) are copied
 * unchanged; the output head (or the token embeddings when they serve as
 * the head) becomes Q6_K for every quantized target but Q8_0; the *_M
 * mixes give Q6_K to attn_v and ffn_down (experts too) on the layers
 * llama.cpp's use_more_bits picks (the first and last eighth, and every
 * third in between); a row length the target cannot take falls back to
 * Q8_0, then F16.  Every metadata pair is copied, general.file_type is
 * set to llama.cpp's number for the target and
 * general.quantization_version to 2.  Rows are converted through F32
 * (quant.h) by the engine's thread pool; the file is written to a
 * temporary name and renamed, so OUT is never left half written.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inference/cli-int.h"
#include "inference/gguf.h"
#include "inference/quant.h"

/* A target: its name, base type, llama.cpp ftype, and mix rule. */
struct q_target {
	const char *name;
	enum infer_type type;
	uint32_t ftype;
	int more_bits; /* Q6_K for attn_v and ffn_down on chosen layers */
};

static const struct q_target q_targets[] = {
	{ "F32", INFER_TYPE_F32, 0, 0 },
	{ "F16", INFER_TYPE_F16, 1, 0 },
	{ "BF16", INFER_TYPE_BF16, 32, 0 },
	{ "Q8_0", INFER_TYPE_Q8_0, 7, 0 },
	{ "Q4_0", INFER_TYPE_Q4_0, 2, 0 },
	{ "Q5_0", INFER_TYPE_Q5_0, 8, 0 },
	{ "Q4_K", INFER_TYPE_Q4_K, 14, 0 },
	{ "Q4_K_S", INFER_TYPE_Q4_K, 14, 0 },
	{ "Q4_K_M", INFER_TYPE_Q4_K, 15, 1 },
	{ "Q5_K", INFER_TYPE_Q5_K, 16, 0 },
	{ "Q5_K_S", INFER_TYPE_Q5_K, 16, 0 },
	{ "Q5_K_M", INFER_TYPE_Q5_K, 17, 1 },
	{ "Q6_K", INFER_TYPE_Q6_K, 18, 0 },
};

/* The conversion of one tensor, run on the pool. */
struct q_job {
	const struct infer_gguf_tensor *src;
	enum infer_type dst_type;
	uint8_t *dst;
	size_t dst_row;
	uint64_t n_rows;
	float *scratch; /* [nth][ne0] */
	atomic_uint_fast64_t next;
	atomic_int failed;
	char *cause; /* the first failure */
	pthread_mutex_t lock;
};

struct q_ctx {
	struct infer_gguf *in;
	struct infer_pool *pool;
	const struct infer_gguf_tensor **src; /* [n] */
	enum infer_type *type;                /* [n] the type written */
	size_t n;
	float *scratch;
	size_t scratch_per_thread;
};

static const struct q_target *q_target_find(const char *name);
static int q_more_bits(uint32_t i, uint32_t n);
static enum infer_type q_choose(const struct q_target *tg,
    const struct infer_gguf_tensor *t, int tied_head, uint32_t n_layer);
static int q_copy_arr(struct infer_gguf_writer *w, const char *key,
    const struct infer_gguf_arr *a, char **cause);
static int q_copy_kv(
    struct infer_gguf *in, struct infer_gguf_writer *w, size_t i, char **cause);
static void q_rows(void *arg, int ith, int nth);
static int q_fill(
    void *arg, size_t index, void *buf, size_t size, char **cause);

static const struct q_target *
q_target_find(const char *name)
{
	for (size_t i = 0; i < sizeof q_targets / sizeof q_targets[0]; i++)
		if (strcasecmp(q_targets[i].name, name) == 0)
			return &q_targets[i];
	return NULL;
}

/* llama.cpp's use_more_bits: the layers a *_M mix gives more bits. */
static int
q_more_bits(uint32_t i, uint32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 ||
	    (i >= n / 8 && (i - n / 8) % 3 == 2);
}

/* The type tensor t is written in. */
static enum infer_type
q_choose(const struct q_target *tg, const struct infer_gguf_tensor *t,
    int tied_head, uint32_t n_layer)
{
	const char *name = t->name;
	enum infer_type type = tg->type;
	unsigned layer;

	/* Norms, biases and routers stay as they are. */
	if (t->n_dims < 2 || strstr(name, "ffn_gate_inp") != NULL)
		return t->type;
	if (infer_type_traits(tg->type)->quantized) {
		if (strcmp(name, "output.weight") == 0 ||
		    (tied_head && strcmp(name, "token_embd.weight") == 0)) {
			if (tg->type != INFER_TYPE_Q8_0)
				type = INFER_TYPE_Q6_K;
		} else if (tg->more_bits &&
		    sscanf(name, "blk.%u.", &layer) == 1 &&
		    (strstr(name, ".attn_v.") != NULL ||
		        strstr(name, ".ffn_down") != NULL) &&
		    q_more_bits(layer, n_layer))
			type = INFER_TYPE_Q6_K;
	}
	/* A row length the type cannot take: Q8_0, then F16. */
	if (t->ne[0] % infer_type_block_size(type) != 0)
		type =
		    t->ne[0] % INFER_QK == 0 ? INFER_TYPE_Q8_0 : INFER_TYPE_F16;
	return type;
}

/* Copies an array value (recursing into arrays of arrays). */
static int
q_copy_arr(struct infer_gguf_writer *w, const char *key,
    const struct infer_gguf_arr *a, char **cause)
{
	const void *raw;
	int rc = -1;

	switch (a->type) {
	case INFER_GGUF_STR: {
		const char **strs;
		size_t *lens;

		strs = calloc(a->n > 0 ? a->n : 1, sizeof *strs);
		lens = calloc(a->n > 0 ? a->n : 1, sizeof *lens);
		if (strs == NULL || lens == NULL) {
			if (asprintf(cause, "out of memory") == -1)
				*cause = NULL;
		} else {
			uint64_t i;

			for (i = 0; i < a->n; i++)
				if (infer_gguf_arr_str(
				        a, i, &strs[i], &lens[i], cause) != 0)
					break;
			if (i == a->n)
				rc = infer_gguf_writer_add_arr_str(
				    w, key, strs, lens, a->n, cause);
		}
		free(strs);
		free(lens);
		return rc;
	}
	case INFER_GGUF_ARR:
		if (infer_gguf_writer_arr_begin(
		        w, key, INFER_GGUF_ARR, cause) != 0)
			return -1;
		for (uint64_t i = 0; i < a->n; i++) {
			struct infer_gguf_arr sub;

			if (infer_gguf_arr_arr(a, i, &sub, cause) != 0 ||
			    q_copy_arr(w, NULL, &sub, cause) != 0)
				return -1;
		}
		return infer_gguf_writer_arr_end(w, cause);
	default:
		if (infer_gguf_arr_raw(a, &raw, cause) != 0)
			return -1;
		return infer_gguf_writer_add_arr(
		    w, key, a->type, raw, a->n, cause);
	}
}

/* Copies metadata pair i of in, with its exact value type. */
static int
q_copy_kv(
    struct infer_gguf *in, struct infer_gguf_writer *w, size_t i, char **cause)
{
	const char *key = infer_gguf_kv_key(in, i);
	uint64_t u;
	int64_t s;
	uint32_t u32;
	int32_t i32;
	float f;
	double d;
	bool b;
	const char *str;
	size_t len;
	struct infer_gguf_arr arr;

	switch (infer_gguf_kv_type(in, i)) {
	case INFER_GGUF_U8:
		return infer_gguf_get_u32(in, key, &u32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_u8(w, key, (uint8_t)u32, cause);
	case INFER_GGUF_I8:
		return infer_gguf_get_i32(in, key, &i32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_i8(w, key, (int8_t)i32, cause);
	case INFER_GGUF_U16:
		return infer_gguf_get_u32(in, key, &u32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_u16(w, key, (uint16_t)u32, cause);
	case INFER_GGUF_I16:
		return infer_gguf_get_i32(in, key, &i32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_i16(w, key, (int16_t)i32, cause);
	case INFER_GGUF_U32:
		return infer_gguf_get_u32(in, key, &u32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_u32(w, key, u32, cause);
	case INFER_GGUF_I32:
		return infer_gguf_get_i32(in, key, &i32, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_i32(w, key, i32, cause);
	case INFER_GGUF_U64:
		return infer_gguf_get_u64(in, key, &u, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_u64(w, key, u, cause);
	case INFER_GGUF_I64:
		return infer_gguf_get_i64(in, key, &s, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_i64(w, key, s, cause);
	case INFER_GGUF_F32:
		return infer_gguf_get_f32(in, key, &f, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_f32(w, key, f, cause);
	case INFER_GGUF_F64:
		return infer_gguf_get_f64(in, key, &d, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_f64(w, key, d, cause);
	case INFER_GGUF_BOOL:
		return infer_gguf_get_bool(in, key, &b, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_bool(w, key, b, cause);
	case INFER_GGUF_STR:
		return infer_gguf_get_str(in, key, &str, &len, cause) != 0
		    ? -1
		    : infer_gguf_writer_add_str(w, key, str, len, cause);
	case INFER_GGUF_ARR:
		if (infer_gguf_get_arr(in, key, &arr, cause) != 0)
			return -1;
		return q_copy_arr(w, key, &arr, cause);
	default:
		break;
	}
	if (asprintf(cause, "key '%s': unknown value type", key) == -1)
		*cause = NULL;
	return -1;
}

/* Converts rows of one tensor: F32 in between, a row at a time. */
static void
q_rows(void *arg, int ith, int nth)
{
	struct q_job *job = arg;
	int64_t ne0 = (int64_t)job->src->ne[0];
	size_t src_row = (size_t)(job->src->size / (job->n_rows));
	float *row = job->scratch + (size_t)ith * (size_t)ne0;
	char *why = NULL;

	(void)nth;
	for (;;) {
		uint64_t r = atomic_fetch_add(&job->next, 1);

		if (r >= job->n_rows || atomic_load(&job->failed))
			break;
		if (quant_dequantize_row(job->src->type,
		        (const uint8_t *)job->src->data + r * src_row, row, ne0,
		        &why) != 0 ||
		    quant_quantize_row(job->dst_type, row,
		        job->dst + r * job->dst_row, ne0, &why) != 0) {
			pthread_mutex_lock(&job->lock);
			if (!atomic_load(&job->failed)) {
				atomic_store(&job->failed, 1);
				if (asprintf(&job->cause, "row %" PRIu64 ": %s",
				        r, why != NULL ? why : "?") == -1)
					job->cause = NULL;
			}
			pthread_mutex_unlock(&job->lock);
			free(why);
			why = NULL;
			break;
		}
	}
}

/* The writer's fill callback: the data of tensor index, converted. */
static int
q_fill(void *arg, size_t index, void *buf, size_t size, char **cause)
{
	struct q_ctx *ctx = arg;
	const struct infer_gguf_tensor *t = ctx->src[index];
	struct q_job job;
	uint64_t bytes;

	if (ctx->type[index] == t->type) {
		memcpy(buf, t->data, size);
		return 0;
	}
	memset(&job, 0, sizeof job);
	job.src = t;
	job.dst_type = ctx->type[index];
	job.dst = buf;
	job.n_rows = t->n_elements / t->ne[0];
	if (infer_type_nbytes(job.dst_type, t->ne[0], &bytes) != 0) {
		if (asprintf(cause, "tensor '%s': bad row", t->name) == -1)
			*cause = NULL;
		return -1;
	}
	job.dst_row = (size_t)bytes;
	job.scratch = ctx->scratch;
	atomic_init(&job.next, 0);
	atomic_init(&job.failed, 0);
	pthread_mutex_init(&job.lock, NULL);
	infer_pool_run(ctx->pool, q_rows, &job);
	pthread_mutex_destroy(&job.lock);
	if (atomic_load(&job.failed)) {
		if (asprintf(cause, "tensor '%s': %s", t->name,
		        job.cause != NULL ? job.cause : "conversion failed") ==
		    -1)
			*cause = NULL;
		free(job.cause);
		return -1;
	}
	fprintf(stderr, "  %-40s %-6s -> %-6s\n", t->name,
	    infer_type_name(t->type), infer_type_name(job.dst_type));
	return 0;
}

int
cli_quantize(int argc, char **argv)
{
	const char *pos[3];
	const struct q_target *tg;
	struct infer_gguf *in = NULL;
	struct infer_gguf_writer *w = NULL;
	struct q_ctx ctx;
	char *cause = NULL, key[256];
	const char *arch = NULL;
	size_t n_pos = 0, arch_len = 0, max_ne0 = 1;
	long threads = 0;
	uint32_t n_layer = 0;
	int tied, rc = CLI_FAIL;
	double t0;

	memset(&ctx, 0, sizeof ctx);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0) {
			if (cli_opt_int("quantize", argc, argv, &i, 1, 512,
			        &threads) != 0)
				return CLI_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage(
			    "quantize", "unknown option '%s'", argv[i]);
		else if (n_pos < 3)
			pos[n_pos++] = argv[i];
		else
			return cli_usage("quantize", "too many arguments");
	}
	if (n_pos != 3)
		return cli_usage("quantize", "IN, OUT and TYPE are required");
	tg = q_target_find(pos[2]);
	if (tg == NULL)
		return cli_usage("quantize",
		    "unknown type '%s' (F32, F16, BF16, Q8_0, Q4_0, Q5_0, "
		    "Q4_K, Q4_K_S, Q4_K_M, Q5_K, Q5_K_S, Q5_K_M, Q6_K)",
		    pos[2]);
	if (strcmp(pos[0], pos[1]) == 0)
		return cli_usage("quantize", "IN and OUT are the same file");

	in = infer_gguf_open(pos[0], 0, &cause);
	if (in == NULL)
		goto fail;
	ctx.in = in;
	ctx.n = infer_gguf_tensor_count(in);
	ctx.src = calloc(ctx.n + 1, sizeof *ctx.src);
	ctx.type = calloc(ctx.n + 1, sizeof *ctx.type);
	if (ctx.src == NULL || ctx.type == NULL)
		goto oom;
	if (infer_gguf_kv_find(in, "general.architecture") >= 0 &&
	    infer_gguf_get_str(
	        in, "general.architecture", &arch, &arch_len, NULL) == 0 &&
	    arch_len < 128) {
		snprintf(
		    key, sizeof key, "%.*s.block_count", (int)arch_len, arch);
		if (infer_gguf_kv_find(in, key) >= 0)
			(void)infer_gguf_get_u32(in, key, &n_layer, NULL);
	}
	tied = infer_gguf_tensor_find(in, "output.weight") == NULL;

	/* Each tensor's new type. */
	for (size_t i = 0; i < ctx.n; i++) {
		const struct infer_gguf_tensor *t = infer_gguf_tensor_at(in, i);

		ctx.src[i] = t;
		ctx.type[i] = q_choose(tg, t, tied, n_layer);
		if (ctx.type[i] != t->type && !quant_can_dequantize(t->type)) {
			rc = cli_fail("%s: tensor '%s': cannot convert from "
			              "%s",
			    pos[0], t->name, infer_type_name(t->type));
			goto out;
		}
		if (t->ne[0] > max_ne0)
			max_ne0 = (size_t)t->ne[0];
	}

	ctx.pool = infer_pool_new((int)threads, &cause);
	if (ctx.pool == NULL)
		goto fail;
	ctx.scratch =
	    calloc((size_t)infer_pool_size(ctx.pool) * max_ne0, sizeof(float));
	if (ctx.scratch == NULL)
		goto oom;

	/* Metadata: every pair, then the new file type. */
	w = infer_gguf_writer_new();
	if (w == NULL)
		goto oom;
	if (infer_gguf_writer_set_alignment(
	        w, infer_gguf_alignment(in), &cause) != 0)
		goto fail;
	for (size_t i = 0; i < infer_gguf_kv_count(in); i++) {
		const char *k = infer_gguf_kv_key(in, i);

		if (strcmp(k, "general.alignment") == 0 ||
		    strcmp(k, "general.file_type") == 0 ||
		    strcmp(k, "general.quantization_version") == 0)
			continue;
		if (q_copy_kv(in, w, i, &cause) != 0)
			goto fail;
	}
	if (infer_gguf_writer_add_u32(
	        w, "general.file_type", tg->ftype, &cause) != 0)
		goto fail;
	if (infer_type_traits(tg->type)->quantized &&
	    infer_gguf_writer_add_u32(
	        w, "general.quantization_version", 2, &cause) != 0)
		goto fail;

	/* Tensors, in the same order; their data comes from q_fill. */
	for (size_t i = 0; i < ctx.n; i++) {
		const struct infer_gguf_tensor *t = ctx.src[i];

		if (infer_gguf_writer_add_tensor(w, t->name, ctx.type[i],
		        t->n_dims, t->ne, NULL, &cause) != 0)
			goto fail;
	}
	fprintf(stderr, "quantize: %s -> %s as %s, %d threads\n", pos[0],
	    pos[1], tg->name, infer_pool_size(ctx.pool));
	t0 = cli_now();
	if (infer_gguf_writer_write(w, pos[1], q_fill, &ctx, &cause) != 0)
		goto fail;
	fprintf(stderr, "quantize: done in %.2f s\n", cli_now() - t0);
	rc = CLI_OK;
	goto out;

oom:
	rc = cli_fail("out of memory");
	goto out;
fail:
	rc = cli_fail("%s", cause != NULL ? cause : "out of memory");
out:
	free(cause);
	infer_gguf_writer_free(w);
	infer_pool_free(ctx.pool);
	free(ctx.scratch);
	free(ctx.src);
	free(ctx.type);
	infer_gguf_close(in);
	return rc;
}
