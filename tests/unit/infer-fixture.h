/*
 * infer-fixture.h: small random-weight GGUF models for the engine's unit
 * tests, written with the engine's own GGUF writer.
 *
 * fx_write() builds one model per call from a struct fx: an
 * architecture (llama dense or with experts, qwen3, qwen3moe, qwen2moe),
 * a weight type, head counts, and optionally a byte-level BPE tokenizer
 * (256 byte tokens, three merges and <|endoftext|> as BOS and EOS).  The
 * values come from a seeded splitmix64 stream, so a spec always gives the
 * same file.  Fields let a test break the model on purpose: leave out a
 * key or a tensor, or give a tensor a wrong shape.  The functions are
 * static: each test program that includes this header (after cmocka.h)
 * gets its own copy.
 */
#ifndef AGENTD_TESTS_UNIT_INFER_FIXTURE_H
#define AGENTD_TESTS_UNIT_INFER_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inference/gguf.h"
#include "inference/quant.h"

#define FX_VOCAB 64
#define FX_EMBD  256
#define FX_FF    256
#define FX_CTX   128
/* The tokenizer's vocabulary: 256 bytes, 3 merges, <|endoftext|>. */
#define FX_TOK_VOCAB 260
#define FX_TOK_EOT   259

/* What fx_write builds. */
struct fx {
	const char *arch; /* general.architecture */
	enum infer_type type;
	uint32_t n_expert; /* 0: dense */
	uint32_t n_used;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;
	int tied;                /* no output.weight */
	const char *skip_tensor; /* leave this tensor out */
	const char *skip_key;    /* leave this key out */
	const char *bad_tensor;  /* give this tensor a wrong shape */
	uint64_t seed;
	int tokenizer; /* add the byte-level BPE vocabulary */
};

struct fx_buf {
	void *data;
	struct fx_buf *next;
};

static uint64_t fx_rng;

/* A uniform float in [-1, 1) from the splitmix64 stream. */
static float
fx_rand(void)
{
	uint64_t z = (fx_rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (float)((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

/* Adds a tensor of random values (offset + scale * uniform[-1, 1)). */
static void
fx_tensor(struct infer_gguf_writer *w, struct fx_buf **bufs,
    const struct fx *spec, const char *name, enum infer_type type,
    uint32_t n_dims, uint64_t ne0, uint64_t ne1, uint64_t ne2, float offset,
    float scale)
{
	uint64_t ne[3] = { ne0, ne1, ne2 }, rows, bytes;
	struct fx_buf *b;
	float *row;
	char *cause = NULL;

	if (spec->skip_tensor != NULL && strcmp(name, spec->skip_tensor) == 0)
		return;
	if (spec->bad_tensor != NULL && strcmp(name, spec->bad_tensor) == 0)
		ne[n_dims - 1] += n_dims == 1 ? 256 : 1;
	if (n_dims == 1)
		rows = 1;
	else if (n_dims == 2)
		rows = ne[1];
	else
		rows = ne[1] * ne[2];
	assert_int_equal(infer_type_nbytes(type, ne[0], &bytes), 0);
	b = calloc(1, sizeof *b);
	assert_non_null(b);
	b->data = malloc(bytes * rows);
	row = malloc(ne[0] * sizeof *row);
	assert_non_null(b->data);
	assert_non_null(row);
	for (uint64_t r = 0; r < rows; r++) {
		for (uint64_t i = 0; i < ne[0]; i++)
			row[i] = offset + scale * fx_rand();
		assert_int_equal(
		    quant_quantize_row(type, row, (char *)b->data + r * bytes,
		        (int64_t)ne[0], &cause),
		    0);
	}
	free(row);
	b->next = *bufs;
	*bufs = b;
	assert_int_equal(infer_gguf_writer_add_tensor(
	                     w, name, type, n_dims, ne, b->data, &cause),
	    0);
}

static void
fx_key_u32(struct infer_gguf_writer *w, const struct fx *spec,
    const char *suffix, uint32_t v)
{
	char key[128];
	char *cause = NULL;

	snprintf(key, sizeof key, "%s.%s", spec->arch, suffix);
	if (spec->skip_key != NULL && strcmp(suffix, spec->skip_key) == 0)
		return;
	assert_int_equal(infer_gguf_writer_add_u32(w, key, v, &cause), 0);
}

static void
fx_key_f32(struct infer_gguf_writer *w, const struct fx *spec,
    const char *suffix, float v)
{
	char key[128];
	char *cause = NULL;

	snprintf(key, sizeof key, "%s.%s", spec->arch, suffix);
	if (spec->skip_key != NULL && strcmp(suffix, spec->skip_key) == 0)
		return;
	assert_int_equal(infer_gguf_writer_add_f32(w, key, v, &cause), 0);
}

/* Whether GPT-2's byte table maps byte b to itself. */
static int
fx_byte_printable(unsigned b)
{
	return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
	    (b >= 174 && b <= 255);
}

/* GPT-2's printable stand-in for byte b, as UTF-8 (1 or 2 bytes). */
static size_t
fx_byte_char(unsigned b, char *out)
{
	unsigned cp = b, n = 0;

	if (!fx_byte_printable(b)) {
		/* The others take 256, 257, ... in byte order. */
		for (unsigned c = 0; c < b; c++)
			if (!fx_byte_printable(c))
				n++;
		cp = 256 + n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | (cp >> 6));
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

/* The tokenizer.ggml.* keys of the fixture vocabulary. */
static void
fx_tokenizer(struct infer_gguf_writer *w)
{
	static char texts[FX_TOK_VOCAB][16];
	const char *strs[FX_TOK_VOCAB];
	int32_t types[FX_TOK_VOCAB];
	/* "\xc4\xa0" is U+0120, GPT-2's stand-in for the space. */
	const char *merges[3] = { "h e", "l l", "\xc4\xa0 t" };
	char *cause = NULL;

	for (unsigned b = 0; b < 256; b++) {
		size_t n = fx_byte_char(b, texts[b]);

		texts[b][n] = '\0';
		types[b] = 1;
	}
	snprintf(texts[256], sizeof texts[256], "he");
	snprintf(texts[257], sizeof texts[257], "ll");
	snprintf(texts[258], sizeof texts[258], "\xc4\xa0t");
	snprintf(texts[259], sizeof texts[259], "<|endoftext|>");
	for (unsigned i = 256; i < FX_TOK_VOCAB; i++)
		types[i] = i == FX_TOK_EOT ? 3 : 1;
	for (unsigned i = 0; i < FX_TOK_VOCAB; i++)
		strs[i] = texts[i];
	assert_int_equal(infer_gguf_writer_add_str(
	                     w, "tokenizer.ggml.model", "gpt2", 4, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_str(
	                     w, "tokenizer.ggml.pre", "gpt-2", 5, &cause),
	    0);
	assert_int_equal(
	    infer_gguf_writer_add_arr_str(
	        w, "tokenizer.ggml.tokens", strs, NULL, FX_TOK_VOCAB, &cause),
	    0);
	assert_int_equal(
	    infer_gguf_writer_add_arr(w, "tokenizer.ggml.token_type",
	        INFER_GGUF_I32, types, FX_TOK_VOCAB, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_arr_str(w,
	                     "tokenizer.ggml.merges", merges, NULL, 3, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_u32(w,
	                     "tokenizer.ggml.bos_token_id", FX_TOK_EOT, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_u32(w,
	                     "tokenizer.ggml.eos_token_id", FX_TOK_EOT, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_bool(
	                     w, "tokenizer.ggml.add_bos_token", true, &cause),
	    0);
}

/*
 * Writes the model described by spec to a new temporary file and returns
 * its path (caller unlinks and frees).
 */
static char *
fx_write(const struct fx *spec)
{
	struct infer_gguf_writer *w;
	struct fx_buf *bufs = NULL;
	char *path, *cause = NULL, name[128];
	const char *dir = getenv("TMPDIR");
	int fd, qwen = strncmp(spec->arch, "qwen", 4) == 0;
	int qk_norm = strncmp(spec->arch, "qwen3", 5) == 0;
	int bias = strcmp(spec->arch, "qwen2moe") == 0;
	int shexp = bias;
	uint32_t hd = spec->head_dim, nq = spec->n_head * hd;
	uint32_t nk = spec->n_head_kv * hd;
	uint32_t n_vocab = spec->tokenizer ? FX_TOK_VOCAB : FX_VOCAB;
	enum infer_type t = spec->type;

	fx_rng = spec->seed;
	assert_true(asprintf(&path, "%s/test-infer-fixture-XXXXXX",
	                dir != NULL ? dir : "/tmp") > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	w = infer_gguf_writer_new();
	assert_non_null(w);
	if (spec->skip_key == NULL ||
	    strcmp(spec->skip_key, "architecture") != 0)
		assert_int_equal(
		    infer_gguf_writer_add_str(w, "general.architecture",
		        spec->arch, strlen(spec->arch), &cause),
		    0);
	if (spec->tokenizer)
		fx_tokenizer(w);
	fx_key_u32(w, spec, "context_length", FX_CTX);
	fx_key_u32(w, spec, "embedding_length", FX_EMBD);
	fx_key_u32(w, spec, "block_count", 2);
	fx_key_u32(w, spec, "feed_forward_length", FX_FF);
	fx_key_u32(w, spec, "attention.head_count", spec->n_head);
	fx_key_u32(w, spec, "attention.head_count_kv", spec->n_head_kv);
	fx_key_u32(w, spec, "attention.key_length", hd);
	fx_key_u32(w, spec, "attention.value_length", hd);
	fx_key_f32(w, spec, "attention.layer_norm_rms_epsilon", 1e-6f);
	fx_key_f32(w, spec, "rope.freq_base", qwen ? 1000000.0f : 10000.0f);
	if (spec->n_expert > 0) {
		fx_key_u32(w, spec, "expert_count", spec->n_expert);
		fx_key_u32(w, spec, "expert_used_count", spec->n_used);
		fx_key_u32(w, spec, "expert_feed_forward_length", FX_FF);
		if (shexp)
			fx_key_u32(w, spec, "expert_shared_feed_forward_length",
			    FX_FF);
	}

	fx_tensor(w, &bufs, spec, "token_embd.weight", t, 2, FX_EMBD, n_vocab,
	    1, 0.0f, 1.0f);
	fx_tensor(w, &bufs, spec, "output_norm.weight", INFER_TYPE_F32, 1,
	    FX_EMBD, 1, 1, 1.0f, 0.1f);
	if (!spec->tied)
		fx_tensor(w, &bufs, spec, "output.weight", t, 2, FX_EMBD,
		    n_vocab, 1, 0.0f, 0.1f);
	for (int il = 0; il < 2; il++) {
#define LN(s) (snprintf(name, sizeof name, "blk.%d.%s", il, (s)), name)
		fx_tensor(w, &bufs, spec, LN("attn_norm.weight"),
		    INFER_TYPE_F32, 1, FX_EMBD, 1, 1, 1.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("attn_q.weight"), t, 2, FX_EMBD,
		    nq, 1, 0.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("attn_k.weight"), t, 2, FX_EMBD,
		    nk, 1, 0.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("attn_v.weight"), t, 2, FX_EMBD,
		    nk, 1, 0.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("attn_output.weight"), t, 2, nq,
		    FX_EMBD, 1, 0.0f, 0.1f);
		if (bias) {
			fx_tensor(w, &bufs, spec, LN("attn_q.bias"),
			    INFER_TYPE_F32, 1, nq, 1, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("attn_k.bias"),
			    INFER_TYPE_F32, 1, nk, 1, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("attn_v.bias"),
			    INFER_TYPE_F32, 1, nk, 1, 1, 0.0f, 0.1f);
		}
		if (qk_norm) {
			fx_tensor(w, &bufs, spec, LN("attn_q_norm.weight"),
			    INFER_TYPE_F32, 1, hd, 1, 1, 1.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("attn_k_norm.weight"),
			    INFER_TYPE_F32, 1, hd, 1, 1, 1.0f, 0.1f);
		}
		fx_tensor(w, &bufs, spec, LN("ffn_norm.weight"), INFER_TYPE_F32,
		    1, FX_EMBD, 1, 1, 1.0f, 0.1f);
		if (spec->n_expert == 0) {
			fx_tensor(w, &bufs, spec, LN("ffn_gate.weight"), t, 2,
			    FX_EMBD, FX_FF, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("ffn_up.weight"), t, 2,
			    FX_EMBD, FX_FF, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("ffn_down.weight"), t, 2,
			    FX_FF, FX_EMBD, 1, 0.0f, 0.1f);
			continue;
		}
		fx_tensor(w, &bufs, spec, LN("ffn_gate_inp.weight"),
		    INFER_TYPE_F32, 2, FX_EMBD, spec->n_expert, 1, 0.0f, 0.3f);
		fx_tensor(w, &bufs, spec, LN("ffn_gate_exps.weight"), t, 3,
		    FX_EMBD, FX_FF, spec->n_expert, 0.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("ffn_up_exps.weight"), t, 3,
		    FX_EMBD, FX_FF, spec->n_expert, 0.0f, 0.1f);
		fx_tensor(w, &bufs, spec, LN("ffn_down_exps.weight"), t, 3,
		    FX_FF, FX_EMBD, spec->n_expert, 0.0f, 0.1f);
		if (shexp) {
			fx_tensor(w, &bufs, spec,
			    LN("ffn_gate_inp_shexp.weight"), INFER_TYPE_F32, 1,
			    FX_EMBD, 1, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("ffn_gate_shexp.weight"),
			    t, 2, FX_EMBD, FX_FF, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("ffn_up_shexp.weight"), t,
			    2, FX_EMBD, FX_FF, 1, 0.0f, 0.1f);
			fx_tensor(w, &bufs, spec, LN("ffn_down_shexp.weight"),
			    t, 2, FX_FF, FX_EMBD, 1, 0.0f, 0.1f);
		}
#undef LN
	}
	if (infer_gguf_writer_write(w, path, NULL, NULL, &cause) != 0)
		fail_msg("write %s: %s", path, cause);
	infer_gguf_writer_free(w);
	while (bufs != NULL) {
		struct fx_buf *next = bufs->next;

		free(bufs->data);
		free(bufs);
		bufs = next;
	}
	return path;
}

#endif /* AGENTD_TESTS_UNIT_INFER_FIXTURE_H */
