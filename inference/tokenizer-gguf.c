/*
 * tokenizer-gguf.c: builds a tokenizer from the tokenizer.ggml.* keys of
 * a GGUF file.
 *
 * Keys read (as llama.cpp writes them):
 *   tokenizer.ggml.model             string, required: "gpt2" or "llama"
 *   tokenizer.ggml.pre               string: the BPE pre-tokenizer
 *   tokenizer.ggml.tokens            array of strings, required
 *   tokenizer.ggml.scores            array of f32 (or integers), one a token
 *   tokenizer.ggml.token_type        array of i32, one a token
 *   tokenizer.ggml.merges            array of strings, required for gpt2
 *   tokenizer.ggml.{bos,eos,eot,eom,unknown,padding,seperator}_token_id
 *   tokenizer.ggml.add_{bos,eos}_token, tokenizer.ggml.add_space_prefix
 * ("seperator" is GGUF's own spelling.)
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/tokenizer.h"

static void gset_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
gset_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/* Reads an optional id key into *id (left alone when absent). */
static int
get_id(const struct infer_gguf *g, const char *key, int32_t *id, char **cause)
{
	int64_t v;
	char *why = NULL;

	if (infer_gguf_kv_find(g, key) < 0)
		return 0;
	if (infer_gguf_get_i64(g, key, &v, &why) != 0) {
		if (cause != NULL)
			*cause = why;
		else
			free(why);
		return -1;
	}
	/* Out-of-range ids are the tokenizer's to judge (and tolerate). */
	*id = v < INT32_MIN || v > INT32_MAX ? INT32_MAX : (int32_t)v;
	return 0;
}

/* Reads an optional bool key into *out as 1 or 0 (left alone if absent). */
static int
get_flag(const struct infer_gguf *g, const char *key, int *out, char **cause)
{
	bool b;

	if (infer_gguf_kv_find(g, key) < 0)
		return 0;
	if (infer_gguf_get_bool(g, key, &b, cause) != 0)
		return -1;
	*out = b ? 1 : 0;
	return 0;
}

/* Reads an array of strings into a new array of *n infer_tok_str. */
static struct infer_tok_str *
get_strs(const struct infer_gguf *g, const char *key, size_t *n, char **cause)
{
	struct infer_gguf_arr a;
	struct infer_tok_str *v;

	if (infer_gguf_get_arr(g, key, &a, cause) != 0)
		return NULL;
	if (a.type != INFER_GGUF_STR) {
		gset_cause(cause, "%s: %s: array of %s, not of strings",
		    infer_gguf_name(g), key, infer_gguf_vtype_name(a.type));
		return NULL;
	}
	if (a.n > INT32_MAX) {
		gset_cause(cause, "%s: %s: %llu elements: too many",
		    infer_gguf_name(g), key, (unsigned long long)a.n);
		return NULL;
	}
	v = calloc(a.n > 0 ? a.n : 1, sizeof *v);
	if (v == NULL) {
		gset_cause(
		    cause, "%s: %s: out of memory", infer_gguf_name(g), key);
		return NULL;
	}
	for (uint64_t i = 0; i < a.n; i++) {
		if (infer_gguf_arr_str(&a, i, &v[i].s, &v[i].len, cause) != 0) {
			free(v);
			return NULL;
		}
	}
	*n = (size_t)a.n;
	return v;
}

/* Checks that array key has n elements; returns its view in *a. */
static int
get_arr_n(const struct infer_gguf *g, const char *key, size_t n,
    struct infer_gguf_arr *a, char **cause)
{
	if (infer_gguf_get_arr(g, key, a, cause) != 0)
		return -1;
	if (a->n != n) {
		gset_cause(cause, "%s: %s has %llu elements for %zu tokens",
		    infer_gguf_name(g), key, (unsigned long long)a->n, n);
		return -1;
	}
	return 0;
}

struct infer_tok *
infer_tok_from_gguf(const struct infer_gguf *g,
    void (*warn)(void *arg, const char *msg), void *warn_arg, char **cause)
{
	struct infer_tok_params p;
	struct infer_tok_str *tokens = NULL, *merges = NULL;
	struct infer_gguf_arr a;
	struct infer_tok *tok = NULL;
	const char *name = infer_gguf_name(g);
	char *model = NULL, *pre = NULL;
	float *scores = NULL;
	int32_t *types = NULL;
	size_t n_tokens = 0, n_merges = 0;

	infer_tok_params_init(&p);
	p.name = name;
	p.warn = warn;
	p.warn_arg = warn_arg;

	model = infer_gguf_get_strdup(g, "tokenizer.ggml.model", cause);
	if (model == NULL)
		goto out;
	if (strcmp(model, "gpt2") == 0)
		p.model = INFER_TOK_MODEL_BPE;
	else if (strcmp(model, "llama") == 0)
		p.model = INFER_TOK_MODEL_SPM;
	else {
		gset_cause(cause,
		    "%s: tokenizer.ggml.model: unsupported tokenizer '%s' "
		    "(supported: gpt2, llama)",
		    name, model);
		goto out;
	}
	if (p.model == INFER_TOK_MODEL_BPE &&
	    infer_gguf_kv_find(g, "tokenizer.ggml.pre") >= 0) {
		pre = infer_gguf_get_strdup(g, "tokenizer.ggml.pre", cause);
		if (pre == NULL)
			goto out;
		p.pre = pre;
	}

	tokens = get_strs(g, "tokenizer.ggml.tokens", &n_tokens, cause);
	if (tokens == NULL)
		goto out;
	p.tokens = tokens;
	p.n_tokens = n_tokens;

	if (infer_gguf_kv_find(g, "tokenizer.ggml.scores") >= 0) {
		if (get_arr_n(
		        g, "tokenizer.ggml.scores", n_tokens, &a, cause) != 0)
			goto out;
		scores = malloc((n_tokens > 0 ? n_tokens : 1) * sizeof *scores);
		if (scores == NULL) {
			gset_cause(cause, "%s: out of memory", name);
			goto out;
		}
		if (infer_gguf_arr_copy_f32(&a, scores, n_tokens, cause) != 0)
			goto out;
		p.scores = scores;
	}
	if (infer_gguf_kv_find(g, "tokenizer.ggml.token_type") >= 0) {
		if (get_arr_n(g, "tokenizer.ggml.token_type", n_tokens, &a,
		        cause) != 0)
			goto out;
		types = malloc((n_tokens > 0 ? n_tokens : 1) * sizeof *types);
		if (types == NULL) {
			gset_cause(cause, "%s: out of memory", name);
			goto out;
		}
		if (infer_gguf_arr_copy_i32(&a, types, n_tokens, cause) != 0)
			goto out;
		p.types = types;
	}
	if (p.model == INFER_TOK_MODEL_BPE) {
		merges = get_strs(g, "tokenizer.ggml.merges", &n_merges, cause);
		if (merges == NULL)
			goto out;
		p.merges = merges;
		p.n_merges = n_merges;
	}

	if (get_id(g, "tokenizer.ggml.bos_token_id", &p.bos, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.eos_token_id", &p.eos, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.eot_token_id", &p.eot, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.eom_token_id", &p.eom, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.unknown_token_id", &p.unk, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.padding_token_id", &p.pad, cause) != 0 ||
	    get_id(g, "tokenizer.ggml.seperator_token_id", &p.sep, cause) != 0)
		goto out;
	if (get_flag(g, "tokenizer.ggml.add_bos_token", &p.add_bos, cause) !=
	        0 ||
	    get_flag(g, "tokenizer.ggml.add_eos_token", &p.add_eos, cause) !=
	        0 ||
	    get_flag(g, "tokenizer.ggml.add_space_prefix", &p.add_space_prefix,
	        cause) != 0)
		goto out;

	tok = infer_tok_new(&p, cause);
out:
	free(merges);
	free(types);
	free(scores);
	free(tokens);
	free(pre);
	free(model);
	return tok;
}
