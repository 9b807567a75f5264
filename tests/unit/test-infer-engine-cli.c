/*
 * test-infer-engine-cli.c: agentd-infer, the engine's command-line tool,
 * run as a user runs it, and the tokenizer entry points of infer.h.
 *
 * Each test writes a fixture model with a byte-level BPE vocabulary (see
 * infer-fixture.h), runs $OUT/agentd-infer on it with fork and exec, and
 * checks the exit status (0, 1 with a message, 2 on a usage error) and
 * the outputs DESIGN.md fixes: generate prints the prompt and then the
 * continuation, greedy output does not depend on the thread count,
 * perplexity's last line is "PPL = x +/- y", tokenize --ids prints
 * "[id, id, ...]", bench prints pp and tg rows, quantize writes a file
 * the engine loads with nearly the same logits.  Skips (77) when the
 * binary has not been built, except under CI=true.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/infer.h"

#include "tests/unit/infer-fixture.h"

static char *bin;
static char *model_path;
static char *text_path;

struct result {
	int status; /* exit status, or -1 when killed */
	char *out;
	char *err;
};

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Runs agentd-infer with the NULL-terminated arguments. */
static struct result
run(const char *first, ...)
{
	const char *argv[32];
	char out[] = "/tmp/test-infer-cli-out-XXXXXX";
	char err[] = "/tmp/test-infer-cli-err-XXXXXX";
	struct result r;
	va_list ap;
	int n = 0, fo, fe, st;
	pid_t pid;

	argv[n++] = bin;
	va_start(ap, first);
	for (const char *a = first; a != NULL && n < 31;
	     a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	fo = mkstemp(out);
	fe = mkstemp(err);
	assert_true(fo >= 0 && fe >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		execv(bin, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r.out = slurp(out);
	r.err = slurp(err);
	unlink(out);
	unlink(err);
	return r;
}

static void
result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static void
expect_status(const struct result *r, int status)
{
	if (r->status != status)
		fail_msg("exit %d, expected %d; stdout:\n%s\nstderr:\n%s",
		    r->status, status, r->out, r->err);
}

static void
test_usage(void **state)
{
	struct result r;

	(void)state;
	r = run(NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "usage"));
	result_free(&r);
	r = run("frobnicate", NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "unknown command 'frobnicate'"));
	result_free(&r);
	r = run("generate", "-p", "x", NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "-m FILE"));
	result_free(&r);
	r = run("generate", "-m", model_path, "-p", "x", "-n", "many", NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "'many'"));
	result_free(&r);
	r = run("bench", "-m", model_path, "--fast", NULL);
	expect_status(&r, 2);
	result_free(&r);
	r = run("quantize", model_path, "/tmp/x.gguf", "Q3_XL", NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "Q3_XL"));
	result_free(&r);
	r = run("--help", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "perplexity"));
	result_free(&r);
}

static void
test_failures(void **state)
{
	struct result r;

	(void)state;
	r = run("generate", "-m", "/nonexistent.gguf", "-p", "x", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "/nonexistent.gguf"));
	result_free(&r);
	r = run("info", "-m", text_path, NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, text_path));
	result_free(&r);
	/* Too little text for two chunks of 64. */
	r = run("perplexity", "-m", model_path, "-f", text_path, "-c", "4096",
	    NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "at least"));
	result_free(&r);
}

static void
test_info(void **state)
{
	struct result r;

	(void)state;
	r = run("info", "-m", model_path, NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "general.architecture"));
	assert_non_null(strstr(r.out, "blk.1.ffn_down_exps.weight"));
	assert_non_null(strstr(r.out, "vocabulary: 260 tokens"));
	assert_non_null(strstr(r.out, "experts 4 (2 used)"));
	result_free(&r);
}

static void
test_tokenize(void **state)
{
	struct result r;

	(void)state;
	/* "hello the": he ll o, then " the" = Ġt he; BOS 259 first. */
	r = run("tokenize", "-m", model_path, "-p", "hello the", "--ids", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "[259, 256, 257, 111, 258, 256]\n");
	result_free(&r);
	r = run("tokenize", "-m", model_path, "-p", "hello", "--ids",
	    "--no-bos", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "[256, 257, 111]\n");
	result_free(&r);
	/* Control tokens only with --special. */
	r = run("tokenize", "-m", model_path, "-p", "<|endoftext|>", "--ids",
	    "--no-bos", "--special", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "[259]\n");
	result_free(&r);
	r = run("tokenize", "-m", model_path, "-p", "hello", "--no-bos", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "256 -> 'he'"));
	assert_non_null(strstr(r.out, "111 -> 'o'"));
	result_free(&r);
}

static void
test_generate(void **state)
{
	struct result a, b, c, d;

	(void)state;
	/* Greedy: the prompt, then the same text whatever the threads. */
	a = run("generate", "-m", model_path, "-p", "hello", "-n", "12",
	    "--temp", "0", "-t", "1", NULL);
	expect_status(&a, 0);
	assert_int_equal(strncmp(a.out, "hello", 5), 0);
	assert_true(strlen(a.out) > 6);
	assert_non_null(strstr(a.err, "eval time"));
	b = run("generate", "-m", model_path, "-p", "hello", "-n", "12",
	    "--temp", "0", "-t", "2", NULL);
	expect_status(&b, 0);
	assert_string_equal(a.out, b.out);
	/* Sampling: a seed repeats itself, whatever the threads. */
	c = run("generate", "-m", model_path, "-p", "hello", "-n", "12",
	    "--temp", "1.5", "--top-k", "50", "--seed", "42", "-t", "1", NULL);
	d = run("generate", "-m", model_path, "-p", "hello", "-n", "12",
	    "--temp", "1.5", "--top-k", "50", "--seed", "42", "-t", "2", NULL);
	expect_status(&c, 0);
	expect_status(&d, 0);
	assert_string_equal(c.out, d.out);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	result_free(&d);
	/* A prompt from a file. */
	{
		char path[] = "/tmp/test-infer-cli-prompt-XXXXXX";
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "the quick", 9), 9);
		close(fd);
		a = run("generate", "-m", model_path, "-f", path, "-n", "2",
		    "--temp", "0", NULL);
		expect_status(&a, 0);
		assert_int_equal(strncmp(a.out, "the quick", 9), 0);
		result_free(&a);
		unlink(path);
	}
	/* A prompt longer than the context. */
	a = run("generate", "-m", model_path, "-f", text_path, NULL);
	expect_status(&a, 1);
	assert_non_null(strstr(a.err, "context"));
	result_free(&a);
}

static void
test_perplexity(void **state)
{
	struct result r;
	const char *last;
	double ppl, err;

	(void)state;
	r = run("perplexity", "-m", model_path, "-f", text_path, "-c", "32",
	    "-b", "8", NULL);
	expect_status(&r, 0);
	last = strstr(r.out, "PPL = ");
	assert_non_null(last);
	assert_int_equal(sscanf(last, "PPL = %lf +/- %lf\n", &ppl, &err), 2);
	/* It is the last line. */
	assert_string_equal(last + strcspn(last, "\n"), "\n");
	assert_true(ppl > 1.0 && isfinite(ppl));
	assert_true(err > 0.0 && err < ppl);
	result_free(&r);
}

static void
test_bench(void **state)
{
	struct result r;
	double pp, pp_sd, tg, tg_sd;

	(void)state;
	r = run(
	    "bench", "-m", model_path, "-p", "16", "-n", "4", "-r", "2", NULL);
	expect_status(&r, 0);
	assert_int_equal(
	    sscanf(r.out, "pp16 %lf \xc2\xb1 %lf\ntg4 %lf \xc2\xb1 %lf", &pp,
	        &pp_sd, &tg, &tg_sd),
	    4);
	assert_true(pp > 0 && tg > 0 && pp_sd >= 0 && tg_sd >= 0);
	result_free(&r);
}

/* Logits of a fixed prompt, for comparing two files of one model. */
static void
logits_of(const char *path, float *out)
{
	char *cause = NULL;
	struct infer_model *m = infer_model_load(path, NULL, &cause);
	struct infer_seq *s;
	int32_t tok[6] = { 259, 104, 101, 258, 256, 33 };

	if (m == NULL)
		fail_msg("%s: %s", path, cause);
	s = infer_seq_new(m, 0, &cause);
	assert_non_null(s);
	assert_int_equal(infer_seq_feed(s, tok, 6, &cause), 0);
	memcpy(out, infer_seq_logits(s), FX_TOK_VOCAB * sizeof *out);
	infer_seq_free(s);
	infer_model_free(m);
}

static void
test_quantize(void **state)
{
	static const char *types[] = { "Q8_0", "Q4_K_M", "F16" };
	static const double tol[] = { 0.05, 0.25, 0.002 };
	float ref[FX_TOK_VOCAB], got[FX_TOK_VOCAB];
	char out[] = "/tmp/test-infer-cli-q-XXXXXX";
	int fd = mkstemp(out);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	logits_of(model_path, ref);
	for (size_t i = 0; i < 3; i++) {
		struct result r =
		    run("quantize", model_path, out, types[i], "-t", "2", NULL);
		double scale = 0.0, diff = 0.0;

		expect_status(&r, 0);
		result_free(&r);
		r = run("info", "-m", out, NULL);
		expect_status(&r, 0);
		/* Routers and norms stay f32; the file type is recorded. */
		assert_non_null(strstr(r.out, "general.file_type"));
		assert_non_null(strstr(r.out, "tokenizer.ggml.merges"));
		result_free(&r);
		logits_of(out, got);
		for (int v = 0; v < FX_TOK_VOCAB; v++) {
			scale = fmax(scale, fabs((double)ref[v]));
			diff = fmax(diff, fabs((double)got[v] - ref[v]));
		}
		if (diff > tol[i] * scale)
			fail_msg("%s: logits moved by %g of %g", types[i], diff,
			    scale);
		/* Quantized, but not identical. */
		if (i < 2)
			assert_true(diff > 0.0);
	}
	unlink(out);
}

/* The tokenizer entry points of infer.h on the same vocabulary. */
static void
test_tokenizer_api(void **state)
{
	char *cause = NULL, *text, buf[256];
	struct infer_model_params p;
	struct infer_model *m;
	struct infer_detok dt;
	const char *s = "hello the \xe2\x82\xac!";
	int32_t *ids;
	size_t n, len, got = 0;

	(void)state;
	infer_model_params_init(&p);
	p.vocab_only = 1;
	m = infer_model_load(model_path, &p, &cause);
	assert_non_null(m);
	assert_int_equal(infer_model_info(m)->vocab_only, 1);
	assert_null(infer_seq_new(m, 0, &cause));
	free(cause);
	cause = NULL;
	assert_int_equal(infer_vocab_size(m), FX_TOK_VOCAB);
	assert_int_equal(infer_token_bos(m), FX_TOK_EOT);
	assert_int_equal(infer_token_eos(m), FX_TOK_EOT);
	assert_true(infer_token_is_eog(m, FX_TOK_EOT));
	assert_false(infer_token_is_eog(m, 5));
	assert_int_equal(infer_token_adds_bos(m), 1);
	assert_string_equal(infer_token_text(m, 256), "he");
	assert_null(infer_token_text(m, FX_TOK_VOCAB));

	ids =
	    infer_tokenize(m, s, strlen(s), INFER_TOK_ADD_SPECIAL, &n, &cause);
	assert_non_null(ids);
	assert_int_equal(ids[0], FX_TOK_EOT);
	text = infer_detokenize(m, ids + 1, n - 1, 0, &len, &cause);
	assert_non_null(text);
	assert_string_equal(text, s);
	free(text);

	/* Streamed: the euro sign (3 byte tokens) comes out whole. */
	assert_true(infer_detok_max(m) <= sizeof buf);
	infer_detok_init(&dt, m, 0);
	for (size_t i = 1; i < n; i++) {
		int k = infer_detok_push(
		    &dt, ids[i], buf + got, sizeof buf - got, &cause);

		assert_true(k >= 0);
		/* Never a partial character at the end. */
		if (k > 0)
			assert_true(((unsigned char)buf[got + (size_t)k - 1] &
			                0xc0) != 0xc0);
		got += (size_t)k;
	}
	got += infer_detok_flush(&dt, buf + got, sizeof buf - got);
	assert_int_equal(got, strlen(s));
	assert_memory_equal(buf, s, got);
	assert_int_equal(
	    infer_detok_push(&dt, FX_TOK_VOCAB, buf, sizeof buf, &cause), -1);
	free(cause);
	cause = NULL;
	free(ids);

	/* No chat template: raw completion text. */
	{
		struct infer_chat_msg msgs[2] = { { "user", "hello" },
			{ "assistant", " the" } };

		text = infer_chat_render(m, msgs, 2, 0, &cause);
		assert_non_null(text);
		assert_string_equal(text, "hello the");
		free(text);
		ids = infer_chat_tokenize(m, msgs, 2, 0, &n, &cause);
		assert_non_null(ids);
		assert_int_equal(n, 6);
		free(ids);
	}
	infer_model_free(m);
}

static int
setup(void **state)
{
	const struct fx spec = { "qwen2moe", INFER_TYPE_F32, 4, 2, 4, 2, 64, 0,
		NULL, NULL, NULL, 7, 1 };
	const char *text = "the quick brown fox jumps over the lazy dog. "
	                   "hello hello, the lazy dog sleeps. ";
	char path[] = "/tmp/test-infer-cli-text-XXXXXX";
	int fd;

	(void)state;
	model_path = fx_write(&spec);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	/* About 300 tokens: two chunks of 128 for perplexity. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	text_path = strdup(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(model_path);
	unlink(text_path);
	free(model_path);
	free(text_path);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_tokenize),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_perplexity),
		cmocka_unit_test(test_bench),
		cmocka_unit_test(test_quantize),
		cmocka_unit_test(test_tokenizer_api),
	};
	const char *out = getenv("OUT");
	const char *ci = getenv("CI");

	if (asprintf(&bin, "%s/agentd-infer", out != NULL ? out : "build") ==
	    -1)
		return 1;
	if (access(bin, X_OK) != 0) {
		printf("test-infer-engine-cli: %s not built: %s\n", bin,
		    strerror(errno));
		free(bin);
		return ci != NULL && strcmp(ci, "true") == 0 ? 1 : 77;
	}
	{
		int rc = cmocka_run_group_tests(tests, setup, teardown);

		free(bin);
		return rc;
	}
}
