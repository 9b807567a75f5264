/*
 * ctl-chart.c: the SVG chart of `agentctl eval --compare`: accuracy
 * against tokens spent per item, one point per configuration with its
 * 95% interval as an error bar, the points joined in order of tokens
 * (the test-time-scaling curve); tokens are the output tokens, what a
 * strategy spends.  Points are numbered in order of
 * tokens, with a legend line for each under the chart.  Plain SVG 1.1 with no scripts and no
 * external references, so any browser or image viewer shows it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ctl-int.h"
#include "daemon/util.h"

/* The canvas and the plot area inside it, in SVG user units. */
#define CHART_W      720
#define CHART_H      440
#define CHART_LEFT   70
#define CHART_RIGHT  30
#define CHART_TOP    50
#define CHART_BOTTOM 60
/* The height of one legend line under the chart. */
#define CHART_LEGEND 18
/* The most bytes of SVG: far more than CTL_COMPARE_MAX points need. */
#define CHART_MAX_BYTES (4 * 1024 * 1024)

static void chart_escape(struct buf *b, const char *s);
static double chart_step(double max);
static int chart_by_tokens(const void *a, const void *b);

/* Appends s with the five XML special characters escaped. */
static void
chart_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		case '"':
			buf_puts(b, "&quot;");
			break;
		case '\'':
			buf_puts(b, "&apos;");
			break;
		default:
			buf_add(b, s, 1);
		}
	}
}

/* A tick step of 1, 2 or 5 times a power of ten: 4 to 10 ticks to max. */
static double
chart_step(double max)
{
	double p = pow(10.0, floor(log10(max))), steps[] = { 0.1, 0.2, 0.5, 1 };

	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (max / (steps[i] * p) <= 10.0)
			return steps[i] * p;
	}
	return p;
}

static int
chart_by_tokens(const void *a, const void *b)
{
	const struct ctl_chart_point *pa =
	    *(const struct ctl_chart_point *const *)a;
	const struct ctl_chart_point *pb =
	    *(const struct ctl_chart_point *const *)b;

	if (pa->tokens < pb->tokens)
		return -1;
	return pa->tokens > pb->tokens;
}

char *
ctl_chart_svg(const struct ctl_chart_point *pts, size_t n, const char *title)
{
	const struct ctl_chart_point **order;
	double xmax = 0, step, x, y, w, h;
	size_t height = CHART_H + CHART_LEGEND * n;
	struct buf b;
	size_t i;

	w = CHART_W - CHART_LEFT - CHART_RIGHT;
	h = CHART_H - CHART_TOP - CHART_BOTTOM;
	for (i = 0; i < n; i++) {
		if (isfinite(pts[i].tokens) && pts[i].tokens > xmax)
			xmax = pts[i].tokens;
	}
	if (xmax <= 0)
		xmax = 1;
	step = chart_step(xmax * 1.1);
	xmax = ceil(xmax * 1.1 / step) * step;
#define X(v) (CHART_LEFT + (v) / xmax * w)
#define Y(v) (CHART_TOP + (1.0 - (v)) * h)

	buf_init(&b, CHART_MAX_BYTES);
	buf_printf(&b,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	    "width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\" "
	    "font-family=\"sans-serif\" font-size=\"12\">\n"
	    "<rect width=\"%d\" height=\"%zu\" fill=\"white\"/>\n"
	    "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" "
	    "font-size=\"15\">",
	    CHART_W, height, CHART_W, height, CHART_W, height, CHART_W / 2);
	chart_escape(&b, title);
	buf_puts(&b, "</text>\n");

	/* Grid and axes: accuracy every 10%, tokens at round steps. */
	buf_puts(&b, "<g stroke=\"#ddd\">\n");
	for (i = 0; i <= 10; i++) {
		y = Y(i / 10.0);
		buf_printf(&b,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		    CHART_LEFT, y, CHART_LEFT + w, y);
	}
	for (x = step; x <= xmax + step / 2; x += step) {
		buf_printf(&b,
		    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		    X(x), CHART_TOP, X(x), CHART_TOP + h);
	}
	buf_puts(&b, "</g>\n");
	buf_printf(&b,
	    "<g stroke=\"black\" fill=\"none\"><path d=\"M%d %d V%.1f H%.1f\"/>"
	    "</g>\n",
	    CHART_LEFT, CHART_TOP, CHART_TOP + h, CHART_LEFT + w);
	buf_puts(&b, "<g text-anchor=\"end\">\n");
	for (i = 0; i <= 10; i += 2) {
		buf_printf(&b, "<text x=\"%d\" y=\"%.1f\">%zu%%</text>\n",
		    CHART_LEFT - 6, Y(i / 10.0) + 4, i * 10);
	}
	buf_puts(&b, "</g>\n<g text-anchor=\"middle\">\n");
	for (x = 0; x <= xmax + step / 2; x += step) {
		buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">%g</text>\n", X(x),
		    CHART_TOP + h + 18, x);
	}
	buf_printf(&b,
	    "<text x=\"%.1f\" y=\"%d\">output tokens per item (mean)</text>\n"
	    "<text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\">"
	    "accuracy (95%% interval)</text>\n</g>\n",
	    CHART_LEFT + w / 2, CHART_H - 14, CHART_TOP + h / 2,
	    CHART_TOP + h / 2);

	/* The curve through the points in order of tokens. */
	order = xreallocarray(NULL, n > 0 ? n : 1, sizeof *order);
	for (i = 0; i < n; i++)
		order[i] = &pts[i];
	qsort(order, n, sizeof *order, chart_by_tokens);
	if (n > 1) {
		buf_puts(&b,
		    "<polyline fill=\"none\" stroke=\"#1f77b4\" "
		    "stroke-dasharray=\"4 3\" points=\"");
		for (i = 0; i < n; i++) {
			buf_printf(&b, "%s%.1f,%.1f", i > 0 ? " " : "",
			    X(order[i]->tokens), Y(order[i]->accuracy));
		}
		buf_puts(&b, "\"/>\n");
	}

	/*
	 * Each point with its interval (capped) and its number, and under
	 * the chart a legend line per number: long labels never collide.
	 */
	for (i = 0; i < n; i++) {
		x = X(order[i]->tokens);
		y = Y(order[i]->accuracy);
		buf_printf(&b,
		    "<g class=\"point\">\n"
		    "<path d=\"M%.1f %.1f H%.1f M%.1f %.1f V%.1f M%.1f %.1f "
		    "H%.1f\" stroke=\"#1f77b4\" fill=\"none\"/>\n"
		    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
		    "fill=\"#1f77b4\"/>\n"
		    "<text x=\"%.1f\" y=\"%.1f\">%zu</text>\n"
		    "<text x=\"%d\" y=\"%zu\">%zu. ",
		    x - 4, Y(order[i]->ci_low), x + 4, x, Y(order[i]->ci_low),
		    Y(order[i]->ci_high), x - 4, Y(order[i]->ci_high), x + 4, x,
		    y, x + 7, y - 6, i + 1, CHART_LEFT,
		    (size_t)CHART_H + CHART_LEGEND * i, i + 1);
		chart_escape(&b, order[i]->label);
		buf_printf(&b,
		    ": %.1f%% (%.1f%% to %.1f%%), %.1f output tokens per item"
		    "</text>\n</g>\n",
		    100.0 * order[i]->accuracy, 100.0 * order[i]->ci_low,
		    100.0 * order[i]->ci_high, order[i]->tokens);
	}
	free(order);
	buf_puts(&b, "</svg>\n");
#undef X
#undef Y
	return buf_steal(&b);
}
