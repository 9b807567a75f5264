/*
 * infer-int.h: declarations shared by the files of inference/ and by no
 * other module.
 *
 * It holds the logging and error helpers every engine file uses, the
 * architecture table (arch.c), the loaded model (model.c), a sequence and
 * its KV cache (kv.c), and the forward pass (forward.c).
 */
#ifndef AGENTD_INFERENCE_INFER_INT_H
#define AGENTD_INFERENCE_INFER_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "inference/chat.h"
#include "inference/gguf.h"
#include "inference/infer.h"
#include "inference/types.h"

#define infer_printflike(a, b) __attribute__((format(printf, a, b)))

/* The most threads a pool may have. */
#define INFER_MAX_THREADS 512
/* Positions per block of the transposed V cache (see struct infer_seq). */
#define INFER_KV_VBLOCK 64
/* The longest context a sequence may have, in tokens. */
#define INFER_MAX_CTX (1u << 20)
/* The most tokens one forward pass may take. */
#define INFER_MAX_BATCH 4096u

/* ---- logging and errors (model.c) ---------------------------------- */

/* Formats a line and hands it to the callback of infer_log_set(). */
void infer_log(enum infer_log_level level, const char *fmt, ...)
    infer_printflike(2, 3);

/*
 * Sets *cause (when cause is not NULL) to a new formatted message.  Out
 * of memory leaves *cause NULL, which callers treat as "no message".
 */
void infer_set_cause(char **cause, const char *fmt, ...) infer_printflike(2, 3);

/* ---- architectures (arch.c) ----------------------------------------- */

/* How RoPE pairs the dimensions of a head. */
enum infer_rope_pairing {
	INFER_ROPE_NORM, /* (x[2i], x[2i+1]): llama (q/k permuted at convert) */
	INFER_ROPE_NEOX, /* (x[i], x[i + n_rot/2]): qwen2, qwen3 */
};

/* RoPE frequency scaling, {arch}.rope.scaling.type. */
enum infer_rope_scaling {
	INFER_ROPE_SCALING_NONE,
	INFER_ROPE_SCALING_LINEAR,
	INFER_ROPE_SCALING_YARN,
};

/* Flags of an architecture. */
#define INFER_ARCH_QK_NORM   0x01 /* per-head RMS norm on q and k */
#define INFER_ARCH_QKV_BIAS  0x02 /* q/k/v biases required (else optional) */
#define INFER_ARCH_MOE       0x04 /* expert FFN in every layer */
#define INFER_ARCH_MOE_OPT   0x08 /* experts when expert_count > 0 */
#define INFER_ARCH_SHEXP     0x10 /* a shared expert behind a sigmoid gate */
#define INFER_ARCH_NORM_TOPK 0x20 /* renormalise the top-k router weights */

/* One row of the architecture table. */
struct infer_arch {
	const char *name; /* general.architecture */
	enum infer_rope_pairing rope;
	unsigned flags;
};

/* Returns the table row of general.architecture `name`, or NULL. */
const struct infer_arch *infer_arch_find(const char *name);

/* Returns the supported names, comma-separated (static). */
const char *infer_arch_names(void);

/* Hyperparameters, from the metadata keys of the architecture. */
struct infer_hparams {
	uint32_t n_vocab;
	uint32_t n_ctx_train;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim_k;
	uint32_t head_dim_v;
	uint32_t n_ff;
	uint32_t n_expert;
	uint32_t n_expert_used;
	uint32_t n_ff_exp;
	uint32_t n_ff_shexp;
	uint32_t n_rot; /* dimensions of a head that RoPE rotates */
	float rms_eps;
	float rope_freq_base;
	enum infer_rope_scaling rope_scaling;
	float rope_freq_scale;  /* 1 / rope.scaling.factor */
	uint32_t rope_ctx_orig; /* rope.scaling.original_context_length */
	float rope_attn_factor; /* rope.scaling.attn_factor, or 1 */
	float yarn_ext_factor;  /* 1 for YaRN, else 0 */
	float yarn_beta_fast;   /* 32, as llama.cpp */
	float yarn_beta_slow;   /* 1 */
	int norm_topk;          /* renormalise the top-k weights */
	int moe;                /* the FFN is a mixture of experts */
	int shexp;              /* plus a gated shared expert */
};

/*
 * Reads the hyperparameters of architecture `arch` from `g` and checks
 * them (nonzero sizes, heads dividing evenly, expert counts, limits).
 * n_vocab is left 0: the tokenizer or token_embd gives it.  Returns 0, or
 * -1 with *cause naming the file and the key.
 */
int infer_hparams_read(const struct infer_gguf *g,
    const struct infer_arch *arch, struct infer_hparams *hp, char **cause);

/* Dimensions that tensor shapes are written in. */
enum infer_dim {
	INFER_DIM_NONE = 0, /* unused dimension (1) */
	INFER_DIM_EMBD,     /* n_embd */
	INFER_DIM_VOCAB,    /* n_vocab */
	INFER_DIM_Q,        /* n_head * head_dim_k */
	INFER_DIM_K,        /* n_head_kv * head_dim_k */
	INFER_DIM_V,        /* n_head_kv * head_dim_v */
	INFER_DIM_O,        /* n_head * head_dim_v */
	INFER_DIM_HEAD_K,   /* head_dim_k */
	INFER_DIM_FF,       /* n_ff */
	INFER_DIM_FF_EXP,   /* n_ff_exp */
	INFER_DIM_FF_SHEXP, /* n_ff_shexp */
	INFER_DIM_EXPERT,   /* n_expert */
	INFER_DIM_ROT_HALF, /* n_rot / 2 */
};

/* When a tensor of the table applies. */
enum infer_when {
	INFER_WHEN_ALWAYS,
	INFER_WHEN_QK_NORM, /* the architecture has INFER_ARCH_QK_NORM */
	INFER_WHEN_BIAS,  /* required with INFER_ARCH_QKV_BIAS, else optional */
	INFER_WHEN_DENSE, /* the FFN is dense */
	INFER_WHEN_MOE,   /* the FFN has experts */
	INFER_WHEN_SHEXP, /* there is a shared expert */
	INFER_WHEN_OPTIONAL, /* loaded when present */
};

/* How a tensor is used, which decides the types it may have. */
enum infer_use {
	INFER_USE_VECTOR, /* a 1-D norm weight or bias, read as f32 */
	INFER_USE_MATRIX, /* a matrix multiplied by activations */
	INFER_USE_EMBED,  /* rows looked up by token id */
};

/* One tensor the forward pass reads. */
struct infer_tensor_spec {
	const char
	    *name; /* per layer: "attn_q.weight" for "blk.N.attn_q.weight" */
	int per_layer;
	enum infer_when when;
	enum infer_use use;
	uint32_t n_dims;
	enum infer_dim ne[3];
	size_t offset; /* of its struct infer_tensor in the model or layer */
};

/* The tensor table, terminated by a row with name NULL. */
extern const struct infer_tensor_spec infer_tensor_specs[];

/* ---- the model (model.c) -------------------------------------------- */

/* A weight as the forward pass sees it. */
struct infer_tensor {
	const char *name; /* borrowed from the GGUF handle; NULL: absent */
	enum infer_type type;
	uint64_t ne[3];      /* ne[0]: row length; ne[2]: experts */
	size_t row_bytes;    /* bytes of one row */
	size_t mat_bytes;    /* bytes of one ne[0] x ne[1] matrix */
	const uint8_t *data; /* into the mapping */
	float *owned;        /* f32 copy of a vector that was not f32 */
	const float *f32;    /* INFER_USE_VECTOR: the values as f32 */
};

/* The weights of one layer; shapes in ggml order (ne[0] first). */
struct infer_layer {
	struct infer_tensor attn_norm;      /* [n_embd] */
	struct infer_tensor wq;             /* [n_embd, n_head*hd_k] */
	struct infer_tensor wk;             /* [n_embd, n_head_kv*hd_k] */
	struct infer_tensor wv;             /* [n_embd, n_head_kv*hd_v] */
	struct infer_tensor wo;             /* [n_head*hd_v, n_embd] */
	struct infer_tensor bq;             /* [n_head*hd_k] */
	struct infer_tensor bk;             /* [n_head_kv*hd_k] */
	struct infer_tensor bv;             /* [n_head_kv*hd_v] */
	struct infer_tensor bo;             /* [n_embd] */
	struct infer_tensor q_norm;         /* [hd_k] */
	struct infer_tensor k_norm;         /* [hd_k] */
	struct infer_tensor ffn_norm;       /* [n_embd] */
	struct infer_tensor w_gate;         /* [n_embd, n_ff] */
	struct infer_tensor w_up;           /* [n_embd, n_ff] */
	struct infer_tensor w_down;         /* [n_ff, n_embd] */
	struct infer_tensor gate_inp;       /* [n_embd, n_expert] */
	struct infer_tensor gate_exps;      /* [n_embd, n_ff_exp, n_expert] */
	struct infer_tensor up_exps;        /* [n_embd, n_ff_exp, n_expert] */
	struct infer_tensor down_exps;      /* [n_ff_exp, n_embd, n_expert] */
	struct infer_tensor gate_inp_shexp; /* [n_embd] */
	struct infer_tensor gate_shexp;     /* [n_embd, n_ff_shexp] */
	struct infer_tensor up_shexp;       /* [n_embd, n_ff_shexp] */
	struct infer_tensor down_shexp;     /* [n_ff_shexp, n_embd] */
};

/* Global weights. */
struct infer_weights {
	struct infer_tensor token_embd;  /* [n_embd, n_vocab] */
	struct infer_tensor output_norm; /* [n_embd] */
	struct infer_tensor output; /* [n_embd, n_vocab] (token_embd if tied) */
	struct infer_tensor rope_freqs; /* [n_rot/2] frequency factors */
	struct infer_layer *layers;     /* [n_layer] */
};

struct infer_work;
struct infer_tok;

struct infer_model {
	char *path;
	struct infer_gguf *gguf;
	const struct infer_arch *arch;
	struct infer_hparams hp;
	struct infer_weights w;
	struct infer_model_info info;
	char *arch_name;
	char *name;
	char type_name[16];

	struct infer_tok *tok;
	enum infer_chat_tmpl chat_tmpl;

	struct infer_pool *pool;
	uint32_t n_ctx;   /* default context of a sequence */
	uint32_t n_batch; /* most tokens in one forward pass */

	/* Forward passes are serialised: the workspace is shared. */
	pthread_mutex_t forward_lock;
	struct infer_work *work;
	uint32_t n_seqs; /* live sequences, for infer_model_free's check */
	pthread_mutex_t seqs_lock;
};

/* ---- sequences (kv.c) ----------------------------------------------- */

struct infer_seq {
	struct infer_model *model;
	uint32_t n_ctx;  /* tokens it can hold */
	uint32_t n_past; /* tokens in the cache */
	int32_t *tokens; /* [n_ctx] */

	/*
	 * KV cache, one anonymous mapping, f32.  For each layer: K as
	 * [n_ctx][n_head_kv * hd_k] (a row per position), then V as
	 * [n_ctx / INFER_KV_VBLOCK][n_head_kv * hd_v][INFER_KV_VBLOCK]:
	 * transposed within blocks of positions, so that attention reads
	 * both as the rows of matrix products while the pages in use still
	 * grow with the tokens held (they are committed when first
	 * written).
	 */
	void *kv;
	size_t kv_bytes;
	size_t layer_stride; /* floats per layer (K and V) */
	uint32_t n_vblocks;  /* blocks of INFER_KV_VBLOCK positions */

	float *logits; /* [n_vocab] after the last token */
	int logits_valid;

	int (*abort_fn)(void *arg); /* infer_seq_set_abort */
	void *abort_arg;
};

/* Returns the K rows of layer `il` of seq ([n_ctx][n_head_kv*hd_k]). */
float *infer_seq_k(struct infer_seq *seq, uint32_t il);

/*
 * Returns V of layer `il` of seq: [n_vblocks][n_head_kv*hd_v]
 * [INFER_KV_VBLOCK].
 */
float *infer_seq_v(struct infer_seq *seq, uint32_t il);

/* ---- the forward pass (forward.c) ----------------------------------- */

/* One token of a forward pass. */
struct infer_batch_item {
	struct infer_seq *seq;
	int32_t token;
	uint32_t pos;  /* its position: the keys of 0..pos are attended */
	float *logits; /* where its logits go ([n_vocab]), or NULL */
};

/*
 * Allocates the workspace of a model for batches of up to n_batch tokens
 * and sequences of up to n_ctx tokens.  Returns 0, or -1 with *cause.
 */
int infer_work_new(struct infer_model *model, char **cause);

/*
 * Returns 1 when weights of `type` can be multiplied by activations (f32,
 * f16, bf16, q8_0, q4_0, q5_0, q4_K, q5_K, q6_K), else 0.
 */
int infer_matmul_supported(enum infer_type type);

/*
 * Returns the workspace's array of n_batch batch items, for the caller
 * that holds model->forward_lock.
 */
struct infer_batch_item *infer_work_items(struct infer_model *model);

/* Frees the workspace.  Accepts a model without one. */
void infer_work_free(struct infer_model *model);

/*
 * Runs n tokens (1 <= n <= n_batch) through the model: writes their K and
 * V at their positions in their sequences and their logits where asked.
 * Items of one sequence must have consecutive positions in order, the
 * first one equal to that sequence's length before the call.  The caller
 * holds model->forward_lock.  Never allocates; cannot fail on valid
 * arguments (they are the caller's to check).
 */
void infer_forward(
    struct infer_model *model, const struct infer_batch_item *items, size_t n);

#endif /* AGENTD_INFERENCE_INFER_INT_H */
