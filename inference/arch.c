/*
 * arch.c: the architectures the engine runs, as data.
 *
 * Everything that differs between llama, qwen3, qwen3moe and qwen2moe is
 * a row of arch_table (RoPE pairing and flags), a metadata key read by
 * infer_hparams_read, or a row of infer_tensor_specs (which tensors
 * exist, when, and their shapes in terms of the hyperparameters).  The
 * forward pass has one code path for all of them.  Names and keys are
 * llama.cpp's (src/llama-arch.cpp, gguf-py/gguf/constants.py), so files
 * converted for llama.cpp load unchanged.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/infer-int.h"

/* How the expert FFN width defaults when expert_feed_forward_length is
 * absent: llama (Mixtral) uses feed_forward_length itself, the Qwen MoE
 * models feed_forward_length / expert_used_count (as llama.cpp does). */
#define ARCH_FF_EXP_DIV 0x100

static const struct infer_arch arch_table[] = {
	{
	    .name = "llama",
	    .rope = INFER_ROPE_NORM,
	    .flags = INFER_ARCH_MOE_OPT | INFER_ARCH_NORM_TOPK,
	},
	{
	    .name = "qwen3",
	    .rope = INFER_ROPE_NEOX,
	    .flags = INFER_ARCH_QK_NORM,
	},
	{
	    .name = "qwen3moe",
	    .rope = INFER_ROPE_NEOX,
	    .flags = INFER_ARCH_QK_NORM | INFER_ARCH_MOE |
	        INFER_ARCH_NORM_TOPK | ARCH_FF_EXP_DIV,
	},
	{
	    .name = "qwen2moe",
	    .rope = INFER_ROPE_NEOX,
	    .flags = INFER_ARCH_QKV_BIAS | INFER_ARCH_MOE | INFER_ARCH_SHEXP |
	        ARCH_FF_EXP_DIV,
	},
};

#define LAYER(f)  offsetof(struct infer_layer, f)
#define GLOBAL(f) offsetof(struct infer_weights, f)

const struct infer_tensor_spec infer_tensor_specs[] = {
	{ "token_embd.weight", 0, INFER_WHEN_ALWAYS, INFER_USE_EMBED, 2,
	    { INFER_DIM_EMBD, INFER_DIM_VOCAB }, GLOBAL(token_embd) },
	{ "output_norm.weight", 0, INFER_WHEN_ALWAYS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_EMBD }, GLOBAL(output_norm) },
	/* Absent in models with a tied output head (token_embd then). */
	{ "output.weight", 0, INFER_WHEN_OPTIONAL, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_VOCAB }, GLOBAL(output) },
	/* Llama 3.1-style frequency factors, one per rotated pair. */
	{ "rope_freqs.weight", 0, INFER_WHEN_OPTIONAL, INFER_USE_VECTOR, 1,
	    { INFER_DIM_ROT_HALF }, GLOBAL(rope_freqs) },

	{ "attn_norm.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_EMBD }, LAYER(attn_norm) },
	{ "attn_q.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_Q }, LAYER(wq) },
	{ "attn_k.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_K }, LAYER(wk) },
	{ "attn_v.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_V }, LAYER(wv) },
	{ "attn_output.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_MATRIX, 2,
	    { INFER_DIM_O, INFER_DIM_EMBD }, LAYER(wo) },
	{ "attn_q.bias", 1, INFER_WHEN_BIAS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_Q }, LAYER(bq) },
	{ "attn_k.bias", 1, INFER_WHEN_BIAS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_K }, LAYER(bk) },
	{ "attn_v.bias", 1, INFER_WHEN_BIAS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_V }, LAYER(bv) },
	{ "attn_output.bias", 1, INFER_WHEN_OPTIONAL, INFER_USE_VECTOR, 1,
	    { INFER_DIM_EMBD }, LAYER(bo) },
	{ "attn_q_norm.weight", 1, INFER_WHEN_QK_NORM, INFER_USE_VECTOR, 1,
	    { INFER_DIM_HEAD_K }, LAYER(q_norm) },
	{ "attn_k_norm.weight", 1, INFER_WHEN_QK_NORM, INFER_USE_VECTOR, 1,
	    { INFER_DIM_HEAD_K }, LAYER(k_norm) },
	{ "ffn_norm.weight", 1, INFER_WHEN_ALWAYS, INFER_USE_VECTOR, 1,
	    { INFER_DIM_EMBD }, LAYER(ffn_norm) },

	{ "ffn_gate.weight", 1, INFER_WHEN_DENSE, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_FF }, LAYER(w_gate) },
	{ "ffn_up.weight", 1, INFER_WHEN_DENSE, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_FF }, LAYER(w_up) },
	{ "ffn_down.weight", 1, INFER_WHEN_DENSE, INFER_USE_MATRIX, 2,
	    { INFER_DIM_FF, INFER_DIM_EMBD }, LAYER(w_down) },

	{ "ffn_gate_inp.weight", 1, INFER_WHEN_MOE, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_EXPERT }, LAYER(gate_inp) },
	{ "ffn_gate_exps.weight", 1, INFER_WHEN_MOE, INFER_USE_MATRIX, 3,
	    { INFER_DIM_EMBD, INFER_DIM_FF_EXP, INFER_DIM_EXPERT },
	    LAYER(gate_exps) },
	{ "ffn_up_exps.weight", 1, INFER_WHEN_MOE, INFER_USE_MATRIX, 3,
	    { INFER_DIM_EMBD, INFER_DIM_FF_EXP, INFER_DIM_EXPERT },
	    LAYER(up_exps) },
	{ "ffn_down_exps.weight", 1, INFER_WHEN_MOE, INFER_USE_MATRIX, 3,
	    { INFER_DIM_FF_EXP, INFER_DIM_EMBD, INFER_DIM_EXPERT },
	    LAYER(down_exps) },

	{ "ffn_gate_inp_shexp.weight", 1, INFER_WHEN_SHEXP, INFER_USE_VECTOR, 1,
	    { INFER_DIM_EMBD }, LAYER(gate_inp_shexp) },
	{ "ffn_gate_shexp.weight", 1, INFER_WHEN_SHEXP, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_FF_SHEXP }, LAYER(gate_shexp) },
	{ "ffn_up_shexp.weight", 1, INFER_WHEN_SHEXP, INFER_USE_MATRIX, 2,
	    { INFER_DIM_EMBD, INFER_DIM_FF_SHEXP }, LAYER(up_shexp) },
	{ "ffn_down_shexp.weight", 1, INFER_WHEN_SHEXP, INFER_USE_MATRIX, 2,
	    { INFER_DIM_FF_SHEXP, INFER_DIM_EMBD }, LAYER(down_shexp) },
	{ NULL, 0, INFER_WHEN_ALWAYS, INFER_USE_VECTOR, 0, { 0 }, 0 },
};

/* Limits that keep every size product far from overflow. */
#define HP_MAX_EMBD   (1u << 16)
#define HP_MAX_LAYER  1024u
#define HP_MAX_HEAD   1024u
#define HP_MAX_HDIM   4096u
#define HP_MAX_FF     (1u << 20)
#define HP_MAX_EXPERT 1024u
#define HP_MAX_CTX    (1u << 24)

static int hp_get_u32(const struct infer_gguf *g, const char *arch,
    const char *suffix, int required, uint32_t def, uint32_t *out,
    char **cause);
static int hp_get_f32(const struct infer_gguf *g, const char *arch,
    const char *suffix, int required, float def, float *out, char **cause);
static int hp_check(const struct infer_gguf *g, const char *arch,
    const char *what, uint32_t v, uint32_t lo, uint32_t hi, char **cause);

const struct infer_arch *
infer_arch_find(const char *name)
{
	for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
		if (strcmp(arch_table[i].name, name) == 0)
			return &arch_table[i];
	return NULL;
}

const char *
infer_arch_names(void)
{
	return "llama, qwen3, qwen3moe, qwen2moe";
}

/*
 * Reads "{arch}.{suffix}" as a u32.  A per-layer array (some files store
 * head counts and FFN widths that way) is accepted when all its values
 * are equal.  Missing: the default, or an error when required.
 */
static int
hp_get_u32(const struct infer_gguf *g, const char *arch, const char *suffix,
    int required, uint32_t def, uint32_t *out, char **cause)
{
	char key[256];
	int64_t idx;

	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	idx = infer_gguf_kv_find(g, key);
	if (idx < 0) {
		if (required) {
			infer_set_cause(cause, "%s: missing required key '%s'",
			    infer_gguf_name(g), key);
			return -1;
		}
		*out = def;
		return 0;
	}
	if (infer_gguf_kv_type(g, (size_t)idx) == INFER_GGUF_ARR) {
		struct infer_gguf_arr arr;
		uint64_t first = 0, v;

		if (infer_gguf_get_arr(g, key, &arr, cause) != 0)
			return -1;
		if (arr.n == 0) {
			infer_set_cause(cause, "%s: key '%s' is an empty array",
			    infer_gguf_name(g), key);
			return -1;
		}
		for (uint64_t i = 0; i < arr.n; i++) {
			if (infer_gguf_arr_u64(&arr, i, &v, cause) != 0)
				return -1;
			if (i == 0)
				first = v;
			else if (v != first) {
				infer_set_cause(cause,
				    "%s: key '%s': per-layer values differ "
				    "(%llu at 0, %llu at %llu); not supported",
				    infer_gguf_name(g), key,
				    (unsigned long long)first,
				    (unsigned long long)v,
				    (unsigned long long)i);
				return -1;
			}
		}
		if (first > UINT32_MAX) {
			infer_set_cause(cause, "%s: key '%s': %llu too large",
			    infer_gguf_name(g), key, (unsigned long long)first);
			return -1;
		}
		*out = (uint32_t)first;
		return 0;
	}
	return infer_gguf_get_u32(g, key, out, cause);
}

static int
hp_get_f32(const struct infer_gguf *g, const char *arch, const char *suffix,
    int required, float def, float *out, char **cause)
{
	char key[256];

	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	if (infer_gguf_kv_find(g, key) < 0) {
		if (required) {
			infer_set_cause(cause, "%s: missing required key '%s'",
			    infer_gguf_name(g), key);
			return -1;
		}
		*out = def;
		return 0;
	}
	if (infer_gguf_get_f32(g, key, out, cause) != 0)
		return -1;
	if (!isfinite(*out)) {
		infer_set_cause(cause, "%s: key '%s' is not a finite number",
		    infer_gguf_name(g), key);
		return -1;
	}
	return 0;
}

static int
hp_check(const struct infer_gguf *g, const char *arch, const char *what,
    uint32_t v, uint32_t lo, uint32_t hi, char **cause)
{
	if (v >= lo && v <= hi)
		return 0;
	infer_set_cause(cause, "%s: %s.%s = %u outside [%u, %u]",
	    infer_gguf_name(g), arch, what, v, lo, hi);
	return -1;
}

int
infer_hparams_read(const struct infer_gguf *g, const struct infer_arch *arch,
    struct infer_hparams *hp, char **cause)
{
	const char *a = arch->name;
	const char *file = infer_gguf_name(g);
	uint32_t n_expert, gating;
	float factor;
	char key[256];

	memset(hp, 0, sizeof *hp);

	/* Sizes of the model. */
	if (hp_get_u32(g, a, "context_length", 1, 0, &hp->n_ctx_train, cause) !=
	        0 ||
	    hp_get_u32(g, a, "embedding_length", 1, 0, &hp->n_embd, cause) !=
	        0 ||
	    hp_get_u32(g, a, "block_count", 1, 0, &hp->n_layer, cause) != 0 ||
	    hp_get_u32(
	        g, a, "attention.head_count", 1, 0, &hp->n_head, cause) != 0)
		return -1;
	if (hp_check(g, a, "context_length", hp->n_ctx_train, 1, HP_MAX_CTX,
	        cause) != 0 ||
	    hp_check(g, a, "embedding_length", hp->n_embd, 1, HP_MAX_EMBD,
	        cause) != 0 ||
	    hp_check(g, a, "block_count", hp->n_layer, 1, HP_MAX_LAYER,
	        cause) != 0 ||
	    hp_check(g, a, "attention.head_count", hp->n_head, 1, HP_MAX_HEAD,
	        cause) != 0)
		return -1;
	if (hp_get_u32(g, a, "attention.head_count_kv", 0, hp->n_head,
	        &hp->n_head_kv, cause) != 0)
		return -1;
	if (hp_check(g, a, "attention.head_count_kv", hp->n_head_kv, 1,
	        hp->n_head, cause) != 0)
		return -1;
	if (hp->n_head % hp->n_head_kv != 0) {
		infer_set_cause(cause,
		    "%s: %s.attention.head_count %u is not a multiple of "
		    "head_count_kv %u",
		    file, a, hp->n_head, hp->n_head_kv);
		return -1;
	}

	/* Head sizes: their own keys, else n_embd / n_head. */
	if (hp_get_u32(g, a, "attention.key_length", 0, hp->n_embd / hp->n_head,
	        &hp->head_dim_k, cause) != 0 ||
	    hp_get_u32(g, a, "attention.value_length", 0,
	        hp->n_embd / hp->n_head, &hp->head_dim_v, cause) != 0)
		return -1;
	if (hp_check(g, a, "attention.key_length", hp->head_dim_k, 2,
	        HP_MAX_HDIM, cause) != 0 ||
	    hp_check(g, a, "attention.value_length", hp->head_dim_v, 1,
	        HP_MAX_HDIM, cause) != 0)
		return -1;
	if (hp_get_u32(g, a, "rope.dimension_count", 0, hp->head_dim_k,
	        &hp->n_rot, cause) != 0)
		return -1;
	if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2 != 0) {
		infer_set_cause(cause,
		    "%s: %s.rope.dimension_count %u must be even and at most "
		    "the head size %u",
		    file, a, hp->n_rot, hp->head_dim_k);
		return -1;
	}
	if (hp_get_f32(g, a, "attention.layer_norm_rms_epsilon", 1, 0,
	        &hp->rms_eps, cause) != 0)
		return -1;
	if (!(hp->rms_eps >= 0.0f && hp->rms_eps < 1.0f)) {
		infer_set_cause(cause,
		    "%s: %s.attention.layer_norm_rms_epsilon %g outside [0, 1)",
		    file, a, (double)hp->rms_eps);
		return -1;
	}

	/* RoPE: base, then llama.cpp's scaling keys. */
	if (hp_get_f32(g, a, "rope.freq_base", 0, 10000.0f, &hp->rope_freq_base,
	        cause) != 0)
		return -1;
	if (!(hp->rope_freq_base > 1.0f)) {
		infer_set_cause(cause, "%s: %s.rope.freq_base %g must be > 1",
		    file, a, (double)hp->rope_freq_base);
		return -1;
	}
	hp->rope_scaling = INFER_ROPE_SCALING_NONE;
	snprintf(key, sizeof key, "%s.rope.scaling.type", a);
	if (infer_gguf_kv_find(g, key) >= 0) {
		const char *s;
		size_t len;

		if (infer_gguf_get_str(g, key, &s, &len, cause) != 0)
			return -1;
		if (len == 4 && memcmp(s, "none", 4) == 0)
			hp->rope_scaling = INFER_ROPE_SCALING_NONE;
		else if (len == 6 && memcmp(s, "linear", 6) == 0)
			hp->rope_scaling = INFER_ROPE_SCALING_LINEAR;
		else if (len == 4 && memcmp(s, "yarn", 4) == 0)
			hp->rope_scaling = INFER_ROPE_SCALING_YARN;
		else {
			infer_set_cause(cause,
			    "%s: %s = '%.*s': RoPE scaling not supported "
			    "(none, linear, yarn)",
			    file, key, (int)(len > 64 ? 64 : len), s);
			return -1;
		}
	}
	/* The factor: rope.scaling.factor, or the older rope.scale_linear. */
	if (hp_get_f32(g, a, "rope.scaling.factor", 0, 0.0f, &factor, cause) !=
	    0)
		return -1;
	if (factor == 0.0f &&
	    hp_get_f32(g, a, "rope.scale_linear", 0, 0.0f, &factor, cause) != 0)
		return -1;
	if (factor < 0.0f) {
		infer_set_cause(cause,
		    "%s: %s.rope.scaling.factor %g is negative", file, a,
		    (double)factor);
		return -1;
	}
	hp->rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
	if (hp_get_u32(g, a, "rope.scaling.original_context_length", 0,
	        hp->n_ctx_train, &hp->rope_ctx_orig, cause) != 0 ||
	    hp_get_f32(g, a, "rope.scaling.attn_factor", 0, 1.0f,
	        &hp->rope_attn_factor, cause) != 0)
		return -1;
	if (hp->rope_ctx_orig == 0)
		hp->rope_ctx_orig = hp->n_ctx_train;
	hp->yarn_ext_factor =
	    hp->rope_scaling == INFER_ROPE_SCALING_YARN ? 1.0f : 0.0f;
	hp->yarn_beta_fast = 32.0f;
	hp->yarn_beta_slow = 1.0f;

	/* The FFN: dense, experts, or experts plus a shared one. */
	if (hp_get_u32(g, a, "expert_count", 0, 0, &n_expert, cause) != 0)
		return -1;
	if (arch->flags & INFER_ARCH_MOE)
		hp->moe = 1;
	else if (arch->flags & INFER_ARCH_MOE_OPT)
		hp->moe = n_expert > 0;
	else
		hp->moe = 0;
	hp->shexp = hp->moe && (arch->flags & INFER_ARCH_SHEXP) != 0;
	if (hp_get_u32(g, a, "feed_forward_length", !hp->moe, 0, &hp->n_ff,
	        cause) != 0)
		return -1;
	if (hp_check(g, a, "feed_forward_length", hp->n_ff, hp->moe ? 0 : 1,
	        HP_MAX_FF, cause) != 0)
		return -1;
	if (hp->moe) {
		hp->n_expert = n_expert;
		if (hp_check(g, a, "expert_count", n_expert, 1, HP_MAX_EXPERT,
		        cause) != 0)
			return -1;
		if (hp_get_u32(g, a, "expert_used_count", 1, 0,
		        &hp->n_expert_used, cause) != 0 ||
		    hp_check(g, a, "expert_used_count", hp->n_expert_used, 1,
		        n_expert, cause) != 0)
			return -1;
		if (hp_get_u32(g, a, "expert_feed_forward_length", 0,
		        (arch->flags & ARCH_FF_EXP_DIV)
		            ? hp->n_ff / hp->n_expert_used
		            : hp->n_ff,
		        &hp->n_ff_exp, cause) != 0)
			return -1;
		if (hp_check(g, a, "expert_feed_forward_length", hp->n_ff_exp,
		        1, HP_MAX_FF, cause) != 0)
			return -1;
		if (hp->shexp) {
			if (hp_get_u32(g, a,
			        "expert_shared_feed_forward_length", 0,
			        hp->n_ff, &hp->n_ff_shexp, cause) != 0 ||
			    hp_check(g, a, "expert_shared_feed_forward_length",
			        hp->n_ff_shexp, 1, HP_MAX_FF, cause) != 0)
				return -1;
		}
		hp->norm_topk = (arch->flags & INFER_ARCH_NORM_TOPK) != 0;
		snprintf(key, sizeof key, "%s.expert_weights_norm", a);
		if (infer_gguf_kv_find(g, key) >= 0) {
			bool b;

			if (infer_gguf_get_bool(g, key, &b, cause) != 0)
				return -1;
			hp->norm_topk = b;
		}
		/* Only softmax routing (llama.cpp's gating function 1). */
		if (hp_get_u32(
		        g, a, "expert_gating_func", 0, 1, &gating, cause) != 0)
			return -1;
		if (gating != 0 && gating != 1) {
			infer_set_cause(cause,
			    "%s: %s.expert_gating_func %u: only softmax (1) is "
			    "supported",
			    file, a, gating);
			return -1;
		}
	}
	return 0;
}
