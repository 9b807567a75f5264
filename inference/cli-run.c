/*
 * cli-run.c: the agentd-infer commands that run a model: generate,
 * perplexity, tokenize and bench.
 *
 * generate prints the prompt and then the continuation on stdout as it
 * is produced (valid UTF-8, piece by piece) and its timings on stderr,
 * like llama-cli.  perplexity follows llama-perplexity: the text is cut
 * into chunks of -c tokens, each chunk starts with BOS when the model
 * adds one, and only the second half of each chunk is scored, so every
 * scored token has at least c/2 tokens of context; the last line is
 * "PPL = x +/- y", the uncertainty computed as llama.cpp does.  bench
 * measures prefill (pp) and decode (tg) speed like llama-bench, and
 * also reports on stderr the CPU time the measured runs took: on a
 * machine that other work shares, wall-clock figures understate what
 * the engine does with the cores it was given.
 */
#include <sys/resource.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/cli-int.h"

static int run_emit(struct infer_detok *dt, int32_t id, char *buf, size_t cap);
static void bench_stats(const double *v, int n, double *mean, double *sd);
static double bench_cpu(void);

/* Writes the text of one generated token to stdout. */
static int
run_emit(struct infer_detok *dt, int32_t id, char *buf, size_t cap)
{
	char *cause = NULL;
	int n;

	n = infer_detok_push(dt, id, buf, cap, &cause);
	if (n < 0) {
		cli_fail("token %d: %s", id, cause != NULL ? cause : "?");
		free(cause);
		return -1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	return 0;
}

int
cli_generate(int argc, char **argv)
{
	struct infer_model_params mp;
	struct infer_sampler_params sp;
	struct infer_model *model = NULL;
	struct infer_seq *seq = NULL;
	struct infer_sampler *smp = NULL;
	struct infer_detok dt;
	const char *path = NULL, *prompt = NULL, *prompt_file = NULL;
	char *text = NULL, *cause = NULL, *piece = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0, text_len = 0, cap;
	long n_predict = 64, ctx = 0, threads = 0, top_k = 40;
	double temp = 0.8, top_p = 0.95, min_p = 0.05, rp = 1.0;
	uint64_t seed = 0;
	int have_seed = 0, rc = CLI_FAIL, n_gen = 0;
	double t0, t1, t2;

	infer_model_params_init(&mp);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-m") == 0) {
			if (cli_opt_str("generate", argc, argv, &i, &path) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-p") == 0) {
			if (cli_opt_str("generate", argc, argv, &i, &prompt) !=
			    0)
				return CLI_USAGE;
		} else if (strcmp(a, "-f") == 0) {
			if (cli_opt_str(
			        "generate", argc, argv, &i, &prompt_file) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-n") == 0) {
			if (cli_opt_int("generate", argc, argv, &i, -1,
			        INT32_MAX, &n_predict) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--temp") == 0) {
			if (cli_opt_float(
			        "generate", argc, argv, &i, 0, 100, &temp) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--top-k") == 0) {
			if (cli_opt_int("generate", argc, argv, &i, 0,
			        INT32_MAX, &top_k) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--top-p") == 0) {
			if (cli_opt_float("generate", argc, argv, &i, 1e-9, 1,
			        &top_p) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--min-p") == 0) {
			if (cli_opt_float(
			        "generate", argc, argv, &i, 0, 1, &min_p) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--repeat-penalty") == 0) {
			if (cli_opt_float("generate", argc, argv, &i, 1e-3, 100,
			        &rp) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--seed") == 0) {
			if (cli_opt_u64("generate", argc, argv, &i, &seed) != 0)
				return CLI_USAGE;
			have_seed = 1;
		} else if (strcmp(a, "-c") == 0) {
			if (cli_opt_int("generate", argc, argv, &i, 0, 1L << 20,
			        &ctx) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-t") == 0) {
			if (cli_opt_int("generate", argc, argv, &i, 1, 512,
			        &threads) != 0)
				return CLI_USAGE;
		} else
			return cli_usage("generate", "unknown option '%s'", a);
	}
	if (path == NULL)
		return cli_usage("generate", "-m FILE is required");
	if ((prompt == NULL) == (prompt_file == NULL))
		return cli_usage("generate", "give exactly one of -p and -f");
	if (!have_seed)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);

	if (prompt_file != NULL) {
		text = cli_read_file(prompt_file, &text_len, &cause);
		if (text == NULL)
			goto fail;
	} else {
		text = strdup(prompt);
		if (text == NULL)
			goto oom;
		text_len = strlen(text);
	}

	mp.n_threads = (int)threads;
	mp.n_ctx = (uint32_t)ctx;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL)
		goto fail;
	ids = infer_tokenize(model, text, text_len,
	    INFER_TOK_ADD_SPECIAL | INFER_TOK_SPECIAL, &n_ids, &cause);
	if (ids == NULL)
		goto fail;
	if (n_ids == 0) {
		rc = cli_fail("%s: the prompt has no tokens", path);
		goto out;
	}
	seq = infer_seq_new(model, 0, &cause);
	if (seq == NULL)
		goto fail;
	if (n_ids >= infer_seq_ctx(seq)) {
		rc = cli_fail("prompt of %zu tokens does not fit the context "
		              "of %u",
		    n_ids, infer_seq_ctx(seq));
		goto out;
	}
	if (n_predict < 0 || (size_t)n_predict > infer_seq_ctx(seq) - n_ids)
		n_predict = (long)(infer_seq_ctx(seq) - n_ids);

	infer_sampler_params_init(&sp);
	sp.temperature = (float)temp;
	sp.top_k = (uint32_t)top_k;
	sp.top_p = (float)top_p;
	sp.min_p = (float)min_p;
	sp.repeat_penalty = (float)rp;
	sp.seed = seed;
	smp = infer_sampler_new(&sp, infer_vocab_size(model), &cause);
	if (smp == NULL)
		goto fail;
	for (size_t i = 0; i < n_ids; i++)
		infer_sampler_accept(smp, ids[i]);

	/* The prompt on stdout as given, then its evaluation. */
	fwrite(text, 1, text_len, stdout);
	fflush(stdout);
	t0 = cli_now();
	if (infer_seq_feed(seq, ids, n_ids, &cause) != 0)
		goto fail;
	t1 = cli_now();

	cap = infer_detok_max(model);
	piece = malloc(cap);
	if (piece == NULL)
		goto oom;
	infer_detok_init(&dt, model, 0);
	for (long i = 0; i < n_predict; i++) {
		int32_t tok =
		    infer_sampler_sample(smp, infer_seq_logits(seq), NULL);

		if (tok < 0 || infer_token_is_eog(model, tok))
			break;
		n_gen++;
		if (run_emit(&dt, tok, piece, cap) != 0)
			goto out;
		if (i + 1 < n_predict &&
		    infer_seq_feed(seq, &tok, 1, &cause) != 0)
			goto fail;
	}
	{
		size_t n = infer_detok_flush(&dt, piece, cap);

		fwrite(piece, 1, n, stdout);
	}
	fflush(stdout);
	t2 = cli_now();

	fprintf(stderr,
	    "\nseed = %llu, threads = %d\n"
	    "prompt eval time = %10.2f ms / %5zu tokens (%8.2f ms per token, "
	    "%8.2f tokens per second)\n"
	    "       eval time = %10.2f ms / %5d runs   (%8.2f ms per token, "
	    "%8.2f tokens per second)\n"
	    "      total time = %10.2f ms / %5zu tokens\n",
	    (unsigned long long)seed, infer_model_info(model)->n_threads,
	    (t1 - t0) * 1e3, n_ids, (t1 - t0) * 1e3 / (double)n_ids,
	    (double)n_ids / (t1 - t0), (t2 - t1) * 1e3, n_gen,
	    n_gen > 0 ? (t2 - t1) * 1e3 / n_gen : 0.0,
	    n_gen > 0 ? n_gen / (t2 - t1) : 0.0, (t2 - t0) * 1e3,
	    n_ids + (size_t)n_gen);
	rc = CLI_OK;
	goto out;

oom:
	rc = cli_fail("out of memory");
	goto out;
fail:
	rc = cli_fail("%s", cause != NULL ? cause : "out of memory");
out:
	free(piece);
	free(cause);
	free(ids);
	free(text);
	infer_sampler_free(smp);
	infer_seq_free(seq);
	infer_model_free(model);
	return rc;
}

int
cli_perplexity(int argc, char **argv)
{
	struct infer_model_params mp;
	struct infer_model *model = NULL;
	struct infer_seq *seq = NULL;
	const char *path = NULL, *file = NULL;
	char *text = NULL, *cause = NULL;
	int32_t *ids = NULL;
	float *logits = NULL;
	size_t n_ids = 0, text_len = 0, n_chunk, count = 0;
	long n_ctx = 128, n_batch = 0, threads = 0;
	double nll = 0.0, nll2 = 0.0, t0;
	uint32_t n_vocab;
	int32_t bos;
	int rc = CLI_FAIL;

	infer_model_params_init(&mp);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-m") == 0) {
			if (cli_opt_str("perplexity", argc, argv, &i, &path) !=
			    0)
				return CLI_USAGE;
		} else if (strcmp(a, "-f") == 0) {
			if (cli_opt_str("perplexity", argc, argv, &i, &file) !=
			    0)
				return CLI_USAGE;
		} else if (strcmp(a, "-c") == 0) {
			if (cli_opt_int("perplexity", argc, argv, &i, 4,
			        1L << 20, &n_ctx) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-b") == 0) {
			if (cli_opt_int("perplexity", argc, argv, &i, 1, 4096,
			        &n_batch) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-t") == 0) {
			if (cli_opt_int("perplexity", argc, argv, &i, 1, 512,
			        &threads) != 0)
				return CLI_USAGE;
		} else
			return cli_usage(
			    "perplexity", "unknown option '%s'", a);
	}
	if (path == NULL || file == NULL)
		return cli_usage(
		    "perplexity", "-m FILE and -f TEXT are required");

	text = cli_read_file(file, &text_len, &cause);
	if (text == NULL)
		goto fail;
	mp.n_threads = (int)threads;
	mp.n_ctx = (uint32_t)n_ctx;
	mp.n_batch =
	    (uint32_t)(n_batch > 0 && n_batch < n_ctx ? n_batch : n_ctx);
	if (mp.n_batch > 4096)
		mp.n_batch = 4096;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL)
		goto fail;
	ids = infer_tokenize(
	    model, text, text_len, INFER_TOK_ADD_SPECIAL, &n_ids, &cause);
	if (ids == NULL)
		goto fail;
	if (n_ids < 2 * (size_t)n_ctx) {
		rc = cli_fail("%s: %zu tokens; perplexity needs at least 2 x "
		              "-c = %ld",
		    file, n_ids, 2 * n_ctx);
		goto out;
	}
	n_chunk = n_ids / (size_t)n_ctx;
	n_vocab = infer_vocab_size(model);
	bos = infer_token_bos(model);
	logits = malloc((size_t)n_ctx * n_vocab * sizeof *logits);
	if (logits == NULL)
		goto oom;
	seq = infer_seq_new(model, (uint32_t)n_ctx, &cause);
	if (seq == NULL)
		goto fail;

	fprintf(stderr,
	    "perplexity: %zu tokens, %zu chunks of %ld, batch %u, "
	    "%d threads\n",
	    n_ids, n_chunk, n_ctx, infer_model_info(model)->n_batch,
	    infer_model_info(model)->n_threads);
	t0 = cli_now();
	for (size_t c = 0; c < n_chunk; c++) {
		int32_t *chunk = ids + c * (size_t)n_ctx;
		int32_t first = chunk[0];
		size_t start = (size_t)n_ctx / 2;

		/* Each chunk starts with BOS when the model adds one. */
		if (bos >= 0 && infer_token_adds_bos(model))
			chunk[0] = bos;
		if (infer_seq_truncate(seq, 0, &cause) != 0 ||
		    infer_seq_feed_all(
		        seq, chunk, (size_t)n_ctx, logits, &cause) != 0)
			goto fail;
		chunk[0] = first;

		/* Score the second half: logits[j] predicts chunk[j+1]. */
		for (size_t j = start; j + 1 < (size_t)n_ctx; j++) {
			const float *l = logits + j * n_vocab;
			float max = l[0];
			double sum = 0.0, lp;

			for (uint32_t v = 1; v < n_vocab; v++)
				if (l[v] > max)
					max = l[v];
			for (uint32_t v = 0; v < n_vocab; v++)
				sum += exp((double)(l[v] - max));
			lp = (double)(l[chunk[j + 1]] - max) - log(sum);
			nll -= lp;
			nll2 += lp * lp;
			count++;
		}
		printf("[%zu]%.4f,", c + 1, exp(nll / (double)count));
		fflush(stdout);
		if (c == 0)
			fprintf(stderr, "perplexity: %.2f seconds per chunk\n",
			    cli_now() - t0);
	}
	printf("\n");
	{
		double mean = nll / (double)count;
		double var = nll2 / (double)count - mean * mean;
		double ppl = exp(mean), err = 0.0;

		if (var > 0.0 && count > 1)
			err = ppl * sqrt(var / (double)(count - 1));
		printf("PPL = %.4f +/- %.5f\n", ppl, err);
	}
	rc = CLI_OK;
	goto out;

oom:
	rc = cli_fail("out of memory");
	goto out;
fail:
	rc = cli_fail("%s", cause != NULL ? cause : "out of memory");
out:
	free(cause);
	free(logits);
	free(ids);
	free(text);
	infer_seq_free(seq);
	infer_model_free(model);
	return rc;
}

int
cli_tokenize(int argc, char **argv)
{
	struct infer_model_params mp;
	struct infer_model *model = NULL;
	const char *path = NULL, *prompt = NULL, *file = NULL;
	char *cause = NULL, *text = NULL;
	int32_t *ids = NULL;
	size_t n = 0, text_len = 0;
	int as_ids = 0, flags = INFER_TOK_ADD_SPECIAL, rc = CLI_FAIL;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-m") == 0) {
			if (cli_opt_str("tokenize", argc, argv, &i, &path) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-p") == 0) {
			if (cli_opt_str("tokenize", argc, argv, &i, &prompt) !=
			    0)
				return CLI_USAGE;
		} else if (strcmp(a, "-f") == 0) {
			if (cli_opt_str("tokenize", argc, argv, &i, &file) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "--ids") == 0)
			as_ids = 1;
		else if (strcmp(a, "--no-bos") == 0)
			flags &= ~INFER_TOK_ADD_SPECIAL;
		else if (strcmp(a, "--special") == 0)
			flags |= INFER_TOK_SPECIAL;
		else
			return cli_usage("tokenize", "unknown option '%s'", a);
	}
	if (path == NULL || (prompt == NULL) == (file == NULL))
		return cli_usage("tokenize",
		    "-m FILE and one of -p TEXT or -f FILE are required");

	/* The vocabulary is all it needs: vocabulary-only files work. */
	infer_model_params_init(&mp);
	mp.vocab_only = 1;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL)
		goto fail;
	if (file != NULL) {
		text = cli_read_file(file, &text_len, &cause);
		if (text == NULL)
			goto fail;
		ids = infer_tokenize(model, text, text_len, flags, &n, &cause);
	} else
		ids = infer_tokenize(
		    model, prompt, strlen(prompt), flags, &n, &cause);
	if (ids == NULL)
		goto fail;
	if (as_ids) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i == 0 ? "" : ", ", ids[i]);
		printf("]\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			char *piece;
			size_t len;

			piece = infer_detokenize(model, &ids[i], 1,
			    INFER_TOK_SPECIAL | INFER_TOK_CONTINUE, &len,
			    &cause);
			if (piece == NULL)
				goto fail;
			printf("%6d -> '", ids[i]);
			fwrite(piece, 1, len, stdout);
			printf("'\n");
			free(piece);
		}
	}
	rc = CLI_OK;
	goto out;

fail:
	rc = cli_fail("%s", cause != NULL ? cause : "out of memory");
out:
	free(cause);
	free(text);
	free(ids);
	infer_model_free(model);
	return rc;
}

/* Mean and sample standard deviation of n figures. */
static void
bench_stats(const double *v, int n, double *mean, double *sd)
{
	double s = 0.0, s2 = 0.0;

	for (int i = 0; i < n; i++)
		s += v[i];
	*mean = s / n;
	for (int i = 0; i < n; i++)
		s2 += (v[i] - *mean) * (v[i] - *mean);
	*sd = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
}

/* CPU seconds (user and system) used by the process so far. */
static double
bench_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int
cli_bench(int argc, char **argv)
{
	struct infer_model_params mp;
	struct infer_model *model = NULL;
	struct infer_seq *seq = NULL;
	const struct infer_model_info *info;
	const char *path = NULL;
	char *cause = NULL;
	int32_t *toks = NULL;
	double *pp = NULL, *tg = NULL, mean, sd;
	double pp_wall = 0.0, pp_cpu = 0.0, tg_wall = 0.0, tg_cpu = 0.0;
	long n_prompt = 512, n_gen = 128, threads = 2, reps = 3;
	uint32_t n_vocab;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int rc = CLI_FAIL;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-m") == 0) {
			if (cli_opt_str("bench", argc, argv, &i, &path) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-p") == 0) {
			if (cli_opt_int("bench", argc, argv, &i, 0, 4096,
			        &n_prompt) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-n") == 0) {
			if (cli_opt_int("bench", argc, argv, &i, 0, 1L << 16,
			        &n_gen) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-t") == 0) {
			if (cli_opt_int(
			        "bench", argc, argv, &i, 1, 512, &threads) != 0)
				return CLI_USAGE;
		} else if (strcmp(a, "-r") == 0) {
			if (cli_opt_int(
			        "bench", argc, argv, &i, 1, 1000, &reps) != 0)
				return CLI_USAGE;
		} else
			return cli_usage("bench", "unknown option '%s'", a);
	}
	if (path == NULL)
		return cli_usage("bench", "-m FILE is required");
	if (n_prompt == 0 && n_gen == 0)
		return cli_usage("bench", "nothing to measure (-p 0 -n 0)");

	infer_model_params_init(&mp);
	mp.n_threads = (int)threads;
	mp.n_ctx = (uint32_t)(n_prompt > n_gen ? n_prompt : n_gen) + 1;
	mp.n_batch = n_prompt > 0 ? (uint32_t)n_prompt : 1;
	model = infer_model_load(path, &mp, &cause);
	if (model == NULL)
		goto fail;
	info = infer_model_info(model);
	n_vocab = infer_vocab_size(model);
	seq = infer_seq_new(model, mp.n_ctx, &cause);
	if (seq == NULL)
		goto fail;
	toks = malloc((size_t)(n_prompt + n_gen + 1) * sizeof *toks);
	pp = calloc((size_t)reps, sizeof *pp);
	tg = calloc((size_t)reps, sizeof *tg);
	if (toks == NULL || pp == NULL || tg == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	/* Random tokens, as llama-bench uses. */
	for (long i = 0; i < n_prompt + n_gen + 1; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		toks[i] = (int32_t)(rng % n_vocab);
	}
	fprintf(stderr, "bench: %s (%s, %s), %d threads, %u-token batches\n",
	    path, info->arch, info->type_name, info->n_threads, info->n_batch);

	/* One warm-up run of each, then the measured repetitions. */
	for (long r = -1; r < reps; r++) {
		double t0, t1, c0, c1;

		if (n_prompt > 0) {
			if (infer_seq_truncate(seq, 0, &cause) != 0)
				goto fail;
			c0 = bench_cpu();
			t0 = cli_now();
			if (infer_seq_feed(
			        seq, toks, (size_t)n_prompt, &cause) != 0)
				goto fail;
			t1 = cli_now();
			c1 = bench_cpu();
			if (r >= 0) {
				pp[r] = (double)n_prompt / (t1 - t0);
				pp_wall += t1 - t0;
				pp_cpu += c1 - c0;
			}
		}
		if (n_gen > 0) {
			if (infer_seq_truncate(seq, 0, &cause) != 0)
				goto fail;
			c0 = bench_cpu();
			t0 = cli_now();
			for (long i = 0; i < n_gen; i++)
				if (infer_seq_feed(seq, &toks[n_prompt + i], 1,
				        &cause) != 0)
					goto fail;
			t1 = cli_now();
			c1 = bench_cpu();
			if (r >= 0) {
				tg[r] = (double)n_gen / (t1 - t0);
				tg_wall += t1 - t0;
				tg_cpu += c1 - c0;
			}
		}
	}
	/*
	 * CPU time per token, and how many of the threads were running on
	 * average: below the thread count, the machine was shared (or the
	 * threads waited on memory in the kernel, which counts as busy).
	 */
	if (n_prompt > 0)
		fprintf(stderr,
		    "bench: pp%ld: %.2f ms cpu per token, %.2f of %d threads "
		    "busy\n",
		    n_prompt, 1e3 * pp_cpu / (double)(n_prompt * reps),
		    pp_cpu / pp_wall, info->n_threads);
	if (n_gen > 0)
		fprintf(stderr,
		    "bench: tg%ld: %.2f ms cpu per token, %.2f of %d threads "
		    "busy\n",
		    n_gen, 1e3 * tg_cpu / (double)(n_gen * reps),
		    tg_cpu / tg_wall, info->n_threads);
	if (n_prompt > 0) {
		bench_stats(pp, (int)reps, &mean, &sd);
		printf("pp%ld %.2f \xc2\xb1 %.2f\n", n_prompt, mean, sd);
	}
	if (n_gen > 0) {
		bench_stats(tg, (int)reps, &mean, &sd);
		printf("tg%ld %.2f \xc2\xb1 %.2f\n", n_gen, mean, sd);
	}
	rc = CLI_OK;
	goto out;

fail:
	rc = cli_fail("%s", cause != NULL ? cause : "out of memory");
out:
	free(cause);
	free(toks);
	free(pp);
	free(tg);
	infer_seq_free(seq);
	infer_model_free(model);
	return rc;
}
