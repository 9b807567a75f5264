/*
 * cli.c: agentd-infer, the engine's command-line tool: main, the command
 * table and the helpers every command shares.
 *
 * The commands and flags follow llama.cpp's tools (llama-cli,
 * llama-perplexity, llama-tokenize, llama-bench, llama-quantize), so
 * figures can be compared side by side; DESIGN.md "agentd-infer command
 * line" is the contract.  Exit 0 on success, 1 with a message on stderr
 * on failure, 2 on a usage error.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/cli-int.h"

static const struct cli_cmd cli_cmds[] = {
	{ "info", "-m FILE", cli_info },
	{ "generate",
	    "-m FILE (-p TEXT | -f FILE) [-n 64] [--temp T] [--top-k K] "
	    "[--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] "
	    "[-c CTX] [-t THREADS]",
	    cli_generate },
	{ "perplexity", "-m FILE -f TEXT [-c 128] [-b N] [-t THREADS]",
	    cli_perplexity },
	{ "tokenize", "-m FILE (-p TEXT | -f FILE) [--ids] [--no-bos] [--special]",
	    cli_tokenize },
	{ "bench", "-m FILE [-p 512] [-n 128] [-t 2] [-r 3]", cli_bench },
	{ "quantize", "IN OUT TYPE [-t THREADS]", cli_quantize },
};

static int cli_verbose;

static void cli_log(enum infer_log_level level, const char *msg, void *arg);
static void cli_usage_all(FILE *f);

static void
cli_log(enum infer_log_level level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= INFER_LOG_WARN || cli_verbose)
		fprintf(stderr, "agentd-infer: %s\n", msg);
}

void
cli_log_init(int verbose)
{
	cli_verbose = verbose;
	infer_log_set(cli_log, NULL);
}

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("agentd-infer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

static void
cli_usage_all(FILE *f)
{
	fprintf(f, "usage: agentd-infer COMMAND ARGS\n");
	for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		fprintf(f, "  agentd-infer %s %s\n", cli_cmds[i].name,
		    cli_cmds[i].usage);
}

int
cli_usage(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fputs("agentd-infer: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++) {
		if (strcmp(cli_cmds[i].name, name) == 0) {
			fprintf(stderr, "usage: agentd-infer %s %s\n", name,
			    cli_cmds[i].usage);
			return CLI_USAGE;
		}
	}
	cli_usage_all(stderr);
	return CLI_USAGE;
}

int
cli_opt_str(const char *cmd, int argc, char **argv, int *i, const char **out)
{
	if (*i + 1 >= argc) {
		cli_usage(cmd, "option %s needs a value", argv[*i]);
		return -1;
	}
	*out = argv[++*i];
	return 0;
}

int
cli_opt_int(
    const char *cmd, int argc, char **argv, int *i, long lo, long hi, long *out)
{
	const char *s, *opt = argv[*i];
	char *end;
	long v;

	if (cli_opt_str(cmd, argc, argv, i, &s) != 0)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		cli_usage(cmd,
		    "option %s: '%s' is not an integer in [%ld, %ld]", opt, s,
		    lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_opt_float(const char *cmd, int argc, char **argv, int *i, double lo,
    double hi, double *out)
{
	const char *s, *opt = argv[*i];
	char *end;
	double v;

	if (cli_opt_str(cmd, argc, argv, i, &s) != 0)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		cli_usage(cmd, "option %s: '%s' is not a number in [%g, %g]",
		    opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_opt_u64(const char *cmd, int argc, char **argv, int *i, uint64_t *out)
{
	const char *s, *opt = argv[*i];
	char *end;
	unsigned long long v;

	if (cli_opt_str(cmd, argc, argv, i, &s) != 0)
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		cli_usage(
		    cmd, "option %s: '%s' is not an unsigned integer", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

char *
cli_read_file(const char *path, size_t *len, char **cause)
{
	FILE *f;
	char *buf = NULL, *tmp;
	size_t cap = 0, n = 0, got;

	f = fopen(path, "rb");
	if (f == NULL) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		return NULL;
	}
	for (;;) {
		if (cap - n < 65536) {
			if (cap > SIZE_MAX / 2 - 65536) {
				errno = ENOMEM;
				goto fail;
			}
			cap = cap * 2 + 65536;
			tmp = realloc(buf, cap + 1);
			if (tmp == NULL)
				goto fail;
			buf = tmp;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;

fail:
	if (asprintf(cause, "%s: %s", path,
	        strerror(errno != 0 ? errno : EIO)) == -1)
		*cause = NULL;
	fclose(f);
	free(buf);
	return NULL;
}

double
cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage_all(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage_all(stdout);
		return CLI_OK;
	}
	cli_log_init(getenv("AGENTD_INFER_VERBOSE") != NULL);
	for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		if (strcmp(cli_cmds[i].name, argv[1]) == 0)
			return cli_cmds[i].exec(argc - 2, argv + 2);
	fprintf(stderr, "agentd-infer: unknown command '%s'\n", argv[1]);
	cli_usage_all(stderr);
	return CLI_USAGE;
}
