#ifndef VIVA_BOT_CHART_CHART_H
#define VIVA_BOT_CHART_CHART_H

#include <stddef.h>
#include <stdint.h>

/*
 * Line charts as PNG images (SPEC section 9: requests per second over a
 * range, one line per top source), drawn with cairo in memory: no file, no
 * display, no global state of ours, so any worker thread may draw at once.
 *
 * What is drawn, at the default size (1200 x 600 points, 2 pixels a point:
 * a 2400 x 1200 PNG): a title and under it the range shown with its time
 * zone; a y axis from a round number to a round number (0 at the bottom
 * when no value is negative) with 4 to 8 round ticks ("250", "1.5k", "2M")
 * and the unit above it; a time axis with ticks on round local times
 * (minutes, hours, local midnights, Mondays or months, whichever gives 4 to
 * 10 labels over the range) labelled "14:00" with the date at each midnight,
 * "Mon 13 Jan", or "Jan 2025"; a legend at the right with each series' name
 * in its colour. Slack previews an uploaded image in the conversation at
 * about 360 pixels high (our observation, not a documented number: about
 * 720 x 360 for this 2:1 shape): the text sizes are chosen so that the
 * smallest (tick labels, legend) is still about 11 pixels there, and the 2x
 * density keeps it sharp when the image is opened full size.
 *
 * Input is never trusted: NaN or infinite values are gaps, points with a
 * NaN or infinite time are skipped, points need not be in order, values
 * beyond +-1e300 are drawn at the edge, names may be any bytes (shown as
 * UTF-8 with '?' for what is not, control characters as spaces, cut with
 * an ellipsis to fit). Each series is reduced to at most 4 points per pixel
 * column before anything is drawn (first, lowest, highest, last: the shape
 * is kept, spikes included), so time and memory are bounded by the image
 * size and the number of points read, never by what the points contain.
 * A chart with no point to draw says `empty_text` ("no traffic") across
 * the plot instead of failing.
 */
struct tz;

#define CHART_MAX_SERIES 10           /* drawn; more are counted in the legend ("+3 more") */
#define CHART_MAX_POINTS 2000000      /* read per series; the rest is ignored */

struct chart_point {
	double t;                     /* unix seconds */
	double v;                     /* NaN or +-Inf: a gap in the line */
};

struct chart_series {
	const char *name;             /* legend text; NULL: "(unnamed)" */
	const struct chart_point *points;
	size_t n;
};

struct chart {
	const char *title;            /* NULL: none */
	const char *unit;             /* above the y axis: "requests/s"; NULL: none */
	/* The time range shown (unix seconds). end <= start: the range of the
	 * points (one hour around a single instant). */
	int64_t start, end;
	/* Local times on the time axis: tz (borrowed; daylight saving applies),
	 * else a fixed utc_offset_s east of UTC (within +-18 h; 0 = UTC). */
	const struct tz *tz;
	int utc_offset_s;
	const struct chart_series *series;   /* in legend and colour order */
	size_t nseries;
	const char *empty_text;       /* NULL: "no traffic" */
	int width, height;            /* points; 0: 1200 x 600 (each within 300..4000) */
	double scale;                 /* pixels per point; 0: 2 (within 1..4, and
					 * lowered to stay within 16 million pixels) */
};

/*
 * Draw c as a PNG. On VIVA_OK *png (the caller frees) holds *len bytes.
 * VIVA_EINVAL when c, png or len is NULL; VIVA_EIO when cairo fails (out
 * of memory, no usable font), with one line in err (errlen may be 0).
 * *png is NULL on failure.
 */
int chart_png(const struct chart *c, unsigned char **png, size_t *len, char *err, size_t errlen);

/* The colour of series i (i mod CHART_MAX_SERIES) as 8-bit RGB: the line
 * and its legend swatch are drawn in exactly this colour. */
void chart_series_rgb(size_t i, uint8_t rgb[3]);

#endif
