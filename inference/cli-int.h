/*
 * cli-int.h: declarations shared by the files of agentd-infer, the
 * engine's command-line tool (inference/cli*.c).
 *
 * Each command is one function taking the arguments after its name.  It
 * returns the process's exit status: 0 on success, 1 after printing a
 * message on stderr, 2 on a usage error (cli_usage prints the usage).
 */
#ifndef AGENTD_INFERENCE_CLI_INT_H
#define AGENTD_INFERENCE_CLI_INT_H

#include <stdint.h>

#include "inference/infer.h"

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

/* One command of the table in cli.c. */
struct cli_cmd {
	const char *name;
	const char *usage; /* the arguments, for the usage message */
	int (*exec)(int argc, char **argv);
};

int cli_info(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_perplexity(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_quantize(int argc, char **argv);

/* Prints "agentd-infer: " and the message on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Prints the message (if fmt is not NULL) and the usage of command name
 * on stderr; returns CLI_USAGE.
 */
int cli_usage(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Option values.  Each parses argv[*i + 1] (the value after the option
 * argv[*i]), advancing *i; returns 0, or -1 after printing why.
 */
int cli_opt_str(
    const char *cmd, int argc, char **argv, int *i, const char **out);
int cli_opt_int(const char *cmd, int argc, char **argv, int *i, long lo,
    long hi, long *out);
int cli_opt_float(const char *cmd, int argc, char **argv, int *i, double lo,
    double hi, double *out);
int cli_opt_u64(const char *cmd, int argc, char **argv, int *i, uint64_t *out);

/* Reads a whole file into a new NUL-terminated buffer; NULL on error. */
char *cli_read_file(const char *path, size_t *len, char **cause);

/* Returns a monotonic clock in seconds. */
double cli_now(void);

/* Routes the engine's log lines to stderr (warnings and errors only). */
void cli_log_init(int verbose);

#endif /* AGENTD_INFERENCE_CLI_INT_H */
