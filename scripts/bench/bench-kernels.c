/*
 * bench-kernels.c: speed of the dot-product kernels, per weight type and
 * per level, on one thread.
 *
 *   bench-kernels [-n N] [-m MIB] [-x NX] [-s SECONDS] [-T TYPES] [-l LEVELS]
 *
 * For each weight type (default: all supported) and level (default: all
 * this CPU has) it builds a matrix of rows of N elements (default 4096)
 * that takes MIB MiB (default 256: far larger than any cache, as a
 * model's weights are), quantizes activations once and times:
 *
 *   mv  kern_matmul() with one activation row (a decode step): GB/s of
 *       weights read and GFLOP/s (2 * N per row);
 *   mm  kern_matmul() with NX activation rows (default 8, a prefill
 *       tile) over a 4 MiB slice that stays in cache: GFLOP/s.
 *
 * Each figure is the best of repeated runs over about SECONDS (default
 * 0.5) of work.  -T and -l take comma-separated names ("q4_K,q8_0",
 * "avx2,scalar").
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inference/kernels.h"
#include "inference/quant.h"

static const uint32_t bench_types[] = {
	INFER_TYPE_F32,
	INFER_TYPE_F16,
	INFER_TYPE_BF16,
	INFER_TYPE_Q8_0,
	INFER_TYPE_Q4_0,
	INFER_TYPE_Q5_0,
	INFER_TYPE_Q4_K,
	INFER_TYPE_Q5_K,
	INFER_TYPE_Q6_K,
};

static double now(void);
static int listed(const char *list, const char *name);
static void usage(void);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Whether name is one of the comma-separated names of list (NULL: all). */
static int
listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	if (list == NULL)
		return 1;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, len) == 0 &&
		    (p[len] == ',' || p[len] == '\0'))
			return 1;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench-kernels [-n N] [-m MIB] [-x NX] [-s SECONDS] "
	    "[-T TYPES] [-l LEVELS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *types = NULL, *levels = NULL;
	int64_t n = 4096, rows, mm_rows;
	double mib = 256, secs = 0.5, t0, dt, best_mv, best_mm, work;
	size_t wrb, xrb;
	int nx = 8, ch, reps;
	uint8_t *w, *xq;
	float *x, *out;
	char *cause = NULL;

	while ((ch = getopt(argc, argv, "n:m:x:s:T:l:")) != -1) {
		switch (ch) {
		case 'n':
			n = strtoll(optarg, NULL, 10);
			break;
		case 'm':
			mib = strtod(optarg, NULL);
			break;
		case 'x':
			nx = atoi(optarg);
			break;
		case 's':
			secs = strtod(optarg, NULL);
			break;
		case 'T':
			types = optarg;
			break;
		case 'l':
			levels = optarg;
			break;
		default:
			usage();
		}
	}
	if (n <= 0 || n % 256 != 0 || mib <= 0 || nx < 1 || nx > 64 ||
	    secs <= 0) {
		fprintf(stderr,
		    "bench-kernels: N must be a multiple of 256, "
		    "NX in 1..64, MIB and SECONDS positive\n");
		return 2;
	}
	printf("%-6s %-7s %10s %10s %12s\n", "type", "level", "mv GB/s",
	    "mv GFLOP/s", "mm GFLOP/s");
	for (size_t t = 0; t < sizeof bench_types / sizeof bench_types[0];
	     t++) {
		uint32_t wt = bench_types[t];

		if (!listed(types, infer_type_name(wt)))
			continue;
		wrb =
		    (size_t)n / infer_type_block_size(wt) * infer_type_size(wt);
		xrb = kern_act_row_size(wt, n);
		rows = (int64_t)(mib * 1048576 / (double)wrb);
		mm_rows = (int64_t)(4.0 * 1048576 / (double)wrb);
		if (rows < 1 || mm_rows < 1 || mm_rows > rows)
			mm_rows = rows = rows < 1 ? 1 : rows;
		w = malloc(wrb * (size_t)rows);
		xq = malloc(xrb * (size_t)nx);
		x = malloc((size_t)n * (size_t)nx * sizeof *x);
		out = malloc((size_t)rows * (size_t)nx * sizeof *out);
		if (w == NULL || xq == NULL || x == NULL || out == NULL) {
			fprintf(stderr, "bench-kernels: out of memory\n");
			return 1;
		}
		/* weights: one quantized row of varied values, repeated */
		for (int64_t i = 0; i < n * nx; i++)
			x[i] = sinf((float)i * 0.37f) * 2.0f;
		if (quant_quantize_row(wt, x, w, n, &cause) != 0) {
			fprintf(stderr, "bench-kernels: %s\n", cause);
			return 1;
		}
		for (int64_t r = 1; r < rows; r++)
			memcpy(w + (size_t)r * wrb, w, wrb);
		for (int l = 0; l <= (int)KERN_LEVEL_AVX512; l++) {
			enum kern_level lv = (enum kern_level)l;

			if (!listed(levels, kern_level_name(lv)) ||
			    kern_level_set(lv, NULL) != 0)
				continue;
			kern_quantize_act(wt, n, x, (size_t)n, nx, xq, xrb);
			best_mv = best_mm = 1e30;
			work = 0;
			for (reps = 0; reps < 3 || work < secs; reps++) {
				t0 = now();
				kern_matmul(wt, n, w, wrb, 0, rows, xq, xrb, 1,
				    out, (size_t)rows);
				dt = now() - t0;
				work += dt;
				best_mv = fmin(best_mv, dt);
			}
			work = 0;
			for (reps = 0; reps < 3 || work < secs; reps++) {
				t0 = now();
				kern_matmul(wt, n, w, wrb, 0, mm_rows, xq, xrb,
				    nx, out, (size_t)mm_rows);
				dt = now() - t0;
				work += dt;
				best_mm = fmin(best_mm, dt);
			}
			printf("%-6s %-7s %10.2f %10.2f %12.2f\n",
			    infer_type_name(wt), kern_level_name(lv),
			    (double)wrb * (double)rows / best_mv * 1e-9,
			    2.0 * (double)n * (double)rows / best_mv * 1e-9,
			    2.0 * (double)n * (double)mm_rows * nx / best_mm *
			        1e-9);
			fflush(stdout);
		}
		free(w);
		free(xq);
		free(x);
		free(out);
	}
	return 0;
}
