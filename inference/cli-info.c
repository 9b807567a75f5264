/*
 * cli-info.c: agentd-infer info, what a GGUF file holds.
 *
 * Prints the container (version, alignment), every metadata pair (long
 * arrays cut), every tensor (type, shape, offset), and then what the
 * engine makes of it: the model's architecture and sizes, or, for a
 * vocabulary-only file, the tokenizer.  A file that is valid GGUF but
 * that the engine cannot run still has its metadata and tensors printed;
 * the reason it cannot run is the last line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/cli-int.h"
#include "inference/gguf.h"

static void info_model(const char *path, int vocab_only);

/* What the engine makes of the file. */
static void
info_model(const char *path, int vocab_only)
{
	struct infer_model_params mp;
	struct infer_model *model;
	const struct infer_model_info *in;
	char *cause = NULL;

	infer_model_params_init(&mp);
	mp.vocab_only = vocab_only;
	mp.n_threads = 1;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL) {
		printf("engine: cannot load: %s\n",
		    cause != NULL ? cause : "out of memory");
		free(cause);
		return;
	}
	in = infer_model_info(model);
	printf("vocabulary: %u tokens, bos %d, eos %d, chat template %s\n",
	    in->n_vocab, infer_token_bos(model), infer_token_eos(model),
	    infer_chat_family(model));
	if (!vocab_only) {
		printf("model: %s '%s', %s weights, %.2f M parameters "
		       "(%.2f M active), %.2f MiB (%.2f MiB read per token)\n",
		    in->arch, in->name, in->type_name,
		    (double)in->n_params / 1e6,
		    (double)in->n_params_active / 1e6,
		    (double)in->weight_bytes / 1048576.0,
		    (double)in->weight_bytes_active / 1048576.0);
		printf("layers %u, n_embd %u, heads %u (kv %u), head size "
		       "%u/%u, context %u (trained %u)\n",
		    in->n_layer, in->n_embd, in->n_head, in->n_head_kv,
		    in->head_dim_k, in->head_dim_v, in->n_ctx, in->n_ctx_train);
		if (in->n_expert > 0)
			printf("experts %u (%u used), expert FFN %u, shared "
			       "expert FFN %u\n",
			    in->n_expert, in->n_expert_used, in->n_ff_exp,
			    in->n_ff_shexp);
		else
			printf("FFN %u\n", in->n_ff);
	}
	infer_model_free(model);
}

int
cli_info(int argc, char **argv)
{
	struct infer_gguf *g;
	const char *path = NULL;
	char *cause = NULL;
	size_t n_kv, n_t;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-m") == 0) {
			if (cli_opt_str("info", argc, argv, &i, &path) != 0)
				return CLI_USAGE;
		} else
			return cli_usage(
			    "info", "unknown option '%s'", argv[i]);
	}
	if (path == NULL)
		return cli_usage("info", "-m FILE is required");

	g = infer_gguf_open(path, 0, &cause);
	if (g == NULL) {
		cli_fail("%s", cause != NULL ? cause : "out of memory");
		free(cause);
		return CLI_FAIL;
	}
	n_kv = infer_gguf_kv_count(g);
	n_t = infer_gguf_tensor_count(g);
	printf("file: %s\n", path);
	printf("gguf version %" PRIu32 ", %" PRIu64 " bytes, alignment %" PRIu32
	       ", data at %" PRIu64 "\n",
	    infer_gguf_version(g), infer_gguf_file_size(g),
	    infer_gguf_alignment(g), infer_gguf_data_offset(g));
	printf("metadata: %zu keys\n", n_kv);
	for (size_t i = 0; i < n_kv; i++) {
		char *v = infer_gguf_kv_to_string(g, i, 8);

		printf("  %-44s %-7s = %s\n", infer_gguf_kv_key(g, i),
		    infer_gguf_vtype_name(infer_gguf_kv_type(g, i)),
		    v != NULL ? v : "(out of memory)");
		free(v);
	}
	printf("tensors: %zu\n", n_t);
	for (size_t i = 0; i < n_t; i++) {
		const struct infer_gguf_tensor *t = infer_gguf_tensor_at(g, i);
		char shape[96];
		size_t off = 0;

		off += (size_t)snprintf(shape, sizeof shape, "[");
		for (uint32_t d = 0; d < t->n_dims && off < sizeof shape; d++)
			off += (size_t)snprintf(shape + off, sizeof shape - off,
			    "%s%" PRIu64, d == 0 ? "" : ", ", t->ne[d]);
		if (off < sizeof shape)
			snprintf(shape + off, sizeof shape - off, "]");
		printf("  %-40s %-6s %-24s offset %" PRIu64 ", %" PRIu64
		       " bytes\n",
		    t->name, infer_type_name(t->type), shape, t->offset,
		    t->size);
	}
	infer_gguf_close(g);
	info_model(path, n_t == 0);
	return CLI_OK;
}
