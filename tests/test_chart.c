/*
 * Tests for bot/chart/chart.c: every chart is decoded back with cairo and
 * looked at as pixels (its size, that it is not blank, which series colours
 * it holds and where), for ordinary input and for input meant to break it.
 *
 *   VIVA_CHART_SAMPLE=/tmp/viva-chart-sample.png build/san/tests/test_chart
 * also writes the 7-day sample chart there, for a person to look at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <dlfcn.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bot/chart/cairo_dl.h"
#include "bot/chart/chart.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/times.h"
#include "bot/lib/tz.h"
#include "tests/helpers.h"

#define WEEK_END   1736726400   /* Mon 13 Jan 2025 00:00 UTC */
#define WEEK_START (WEEK_END - 7 * 86400)

/* ---- decoding ------------------------------------------------------------ */

struct img {
	cairo_surface_t *s;
	int w, h, stride;
	const unsigned char *data;
};

/* Draw c, decode the PNG (asserts both work). */
static void render(const struct chart *c, struct img *im, size_t *png_len)
{
	unsigned char *png = NULL;
	size_t len = 0;
	char err[256] = "";

	assert_int_equal(chart_png(c, &png, &len, err, sizeof(err)), VIVA_OK);
	assert_non_null(png);
	assert_true(len > 8);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	im->s = test_png_decode(png, len);
	assert_int_equal(cairo_surface_status(im->s), CAIRO_STATUS_SUCCESS);
	im->w = cairo_image_surface_get_width(im->s);
	im->h = cairo_image_surface_get_height(im->s);
	im->stride = cairo_image_surface_get_stride(im->s);
	im->data = cairo_image_surface_get_data(im->s);
	if (png_len)
		*png_len = len;
	free(png);
}

static void img_release(struct img *im)
{
	cairo_surface_destroy(im->s);
	memset(im, 0, sizeof(*im));
}

static uint32_t px(const struct img *im, int x, int y)
{
	return *(const uint32_t *)(im->data + (size_t)y * (size_t)im->stride + (size_t)x * 4) & 0xFFFFFF;
}

static uint32_t series_px(size_t i)
{
	uint8_t rgb[3];

	chart_series_rgb(i, rgb);
	return (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
}

/* Pixels of exactly colour c in [x0, x1) x [y0, y1); *ymean their mean row. */
static long count_color(const struct img *im, uint32_t c, int x0, int x1, int y0, int y1, double *ymean)
{
	long n = 0;
	double ysum = 0;

	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			if (px(im, x, y) == c) {
				n++;
				ysum += y;
			}
	if (ymean)
		*ymean = n ? ysum / (double)n : -1;
	return n;
}

/* Variance of the grey level over the image: a blank image has none. */
static double variance(const struct img *im)
{
	double sum = 0, sq = 0, n = (double)im->w * im->h;

	for (int y = 0; y < im->h; y++)
		for (int x = 0; x < im->w; x++) {
			uint32_t p = px(im, x, y);
			double g = ((p >> 16) + ((p >> 8) & 0xFF) + (p & 0xFF)) / 3.0;
			sum += g;
			sq += g * g;
		}
	return sq / n - (sum / n) * (sum / n);
}

/* Dark pixels (text, not the light grid lines) in a region. */
static long count_ink(const struct img *im, int x0, int x1, int y0, int y1)
{
	long n = 0;

	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++) {
			uint32_t p = px(im, x, y);
			n += (p >> 16) < 160 && ((p >> 8) & 0xFF) < 160 && (p & 0xFF) < 160;
		}
	return n;
}

/* ---- data ---------------------------------------------------------------- */

/* A daily wave of `peak` requests/s every 5 minutes over [start, end). */
static struct chart_point *wave(int64_t start, int64_t end, double peak, size_t *n)
{
	size_t k = (size_t)((end - start) / 300);
	struct chart_point *p = xmalloc(k * sizeof(*p));

	for (size_t i = 0; i < k; i++) {
		double t = (double)start + (double)i * 300;
		p[i].t = t;
		p[i].v = peak * (0.55 + 0.45 * sin(fmod(t, 86400) / 86400 * 2 * M_PI));
	}
	*n = k;
	return p;
}

static struct chart week_chart(struct chart_series *se, size_t n)
{
	return (struct chart){
		.title = "Traffic to payments-api: requests per second by source",
		.unit = "requests/s", .start = WEEK_START, .end = WEEK_END, .series = se, .nseries = n,
	};
}

/* ---- tests --------------------------------------------------------------- */

static void chart__week_of_three_sources__2x_png_not_blank_each_colour_drawn(void **state)
{
	static const char *const names[] = { "checkout-web", "mobile-bff", "partner-gateway" };
	struct chart_series se[3];
	struct img im;
	size_t len;
	struct chart c;
	const char *sample = getenv("VIVA_CHART_SAMPLE");

	(void)state;
	for (int i = 0; i < 3; i++) {
		size_t n;
		struct chart_point *p = wave(WEEK_START, WEEK_END, 900.0 / (i + 1), &n);
		se[i] = (struct chart_series){ names[i], p, n };
	}
	c = week_chart(se, 3);
	render(&c, &im, &len);
	assert_int_equal(im.w, 2400);
	assert_int_equal(im.h, 1200);
	assert_true(variance(&im) > 50);
	/* each line is long (more than its legend swatch could account for) */
	for (size_t i = 0; i < 3; i++)
		assert_true(count_color(&im, series_px(i), 0, im.w, 0, im.h, NULL) > 5000);
	/* not every PNG needs to be small, but a chart like this one is */
	assert_true(len < 1024 * 1024);
	if (sample && *sample) {
		unsigned char *png = NULL;
		size_t n = 0;
		FILE *f = fopen(sample, "wb");
		assert_int_equal(chart_png(&c, &png, &n, NULL, 0), VIVA_OK);
		assert_non_null(f);
		assert_int_equal(fwrite(png, 1, n, f), n);
		fclose(f);
		free(png);
		fprintf(stderr, "sample chart written to %s (%zu bytes)\n", sample, n);
	}
	img_release(&im);
	for (int i = 0; i < 3; i++)
		free((void *)se[i].points);
}

/*
 * Lines only in the left half of the range: every colour in the right
 * quarter of the image is the legend, one row per series in order.
 */
static void chart__several_series__legend_rows_in_order_in_their_colours(void **state)
{
	struct chart_series se[6];
	char names[6][32];
	struct img im;
	struct chart c;
	double prev_y = -1;

	(void)state;
	for (int i = 0; i < 6; i++) {
		size_t n;
		struct chart_point *p = wave(WEEK_START, WEEK_START + 3 * 86400, 600.0 - 80 * i, &n);
		snprintf(names[i], sizeof(names[i]), "source-%d", i);
		se[i] = (struct chart_series){ names[i], p, n };
	}
	c = week_chart(se, 6);
	render(&c, &im, NULL);
	for (size_t i = 0; i < 6; i++) {
		double y;
		long n = count_color(&im, series_px(i), im.w * 3 / 4, im.w, 0, im.h, &y);

		assert_true(n > 300);            /* the swatch: 56 x 16 pixels at 2x */
		assert_true(y > prev_y);
		prev_y = y;
	}
	/* a colour for a series that is not there does not appear */
	assert_int_equal(count_color(&im, series_px(7), 0, im.w, 0, im.h, NULL), 0);
	img_release(&im);
	for (int i = 0; i < 6; i++)
		free((void *)se[i].points);
}

static void chart__colours__ten_distinct(void **state)
{
	(void)state;
	for (size_t i = 0; i < CHART_MAX_SERIES; i++)
		for (size_t j = i + 1; j < CHART_MAX_SERIES; j++)
			assert_int_not_equal(series_px(i), series_px(j));
	assert_int_equal(series_px(CHART_MAX_SERIES), series_px(0));
}

/* The middle of the plot: where "no traffic" is written. */
static long center_ink(const struct img *im)
{
	return count_ink(im, im->w * 3 / 8, im->w * 5 / 8, im->h * 2 / 5, im->h * 3 / 5);
}

static void chart__no_points__says_no_traffic(void **state)
{
	struct chart_series se[2] = { { "idle-a", NULL, 0 }, { "idle-b", NULL, 0 } };
	struct chart c = week_chart(se, 2), none = week_chart(NULL, 0), quiet;
	struct img im;

	(void)state;
	render(&c, &im, NULL);
	assert_int_equal(im.w, 2400);
	assert_true(variance(&im) > 10);     /* title, axis, message */
	assert_true(center_ink(&im) > 500);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(count_color(&im, series_px(i), 0, im.w, 0, im.h, NULL), 0);
	img_release(&im);

	render(&none, &im, NULL);
	assert_true(center_ink(&im) > 500);
	img_release(&im);

	/* the message is what fills the middle: without it, nothing is there */
	quiet = none;
	quiet.empty_text = "";
	render(&quiet, &im, NULL);
	assert_int_equal(center_ink(&im), 0);   /* light grid lines only */
	img_release(&im);
}

static void chart__nan_or_inf_everywhere__drawn_as_no_traffic(void **state)
{
	struct chart_point p[500];
	struct chart_series se[1] = { { "broken", p, 500 } };
	struct chart c = week_chart(se, 1);
	struct img im;

	(void)state;
	for (int i = 0; i < 500; i++)
		p[i] = (struct chart_point){ WEEK_START + i * 600.0, i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY };
	render(&c, &im, NULL);
	assert_int_equal(count_color(&im, series_px(0), 0, im.w, 0, im.h, NULL), 0);
	assert_true(center_ink(&im) > 500);
	img_release(&im);
	/* NaN times, too */
	for (int i = 0; i < 500; i++)
		p[i] = (struct chart_point){ i % 2 ? NAN : INFINITY, 5 };
	render(&c, &im, NULL);
	assert_int_equal(count_color(&im, series_px(0), 0, im.w, 0, im.h, NULL), 0);
	img_release(&im);
}

static void chart__one_point__a_dot_and_no_range_given__an_hour_around_it(void **state)
{
	struct chart_point p = { WEEK_START + 3600.0, 42 };
	struct chart_series se[1] = { { "once", &p, 1 } };
	struct chart c = week_chart(se, 1);
	struct img im;
	long dot;

	(void)state;
	render(&c, &im, NULL);
	/* the dot (radius 2.5 pt = 5 px) on the plot, plus the swatch */
	dot = count_color(&im, series_px(0), 0, im.w * 3 / 4, 0, im.h, NULL);
	assert_true(dot > 30);
	img_release(&im);

	c.start = c.end = 0;
	render(&c, &im, NULL);
	assert_true(count_color(&im, series_px(0), 0, im.w * 3 / 4, 0, im.h, NULL) > 30);
	img_release(&im);
}

static void chart__huge_and_tiny_values__drawn_within_the_plot(void **state)
{
	static const double vals[][4] = {
		{ DBL_MAX, -DBL_MAX, 1e300, 0 },
		{ 1e308, 1e308, 1e308, 1e308 },
		{ -1e200, -3e199, -1, -5e150 },
		{ DBL_MIN, 4.9e-324, 0, 1e-310 },
		{ 1e-9, 2e-9, 3e-9, 1.5e-9 },
		{ 7, 7, 7, 7 },
		{ 0, 0, 0, 0 },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		struct chart_point p[40];
		struct chart_series se[1] = { { "extreme", p, 40 } };
		struct chart c = week_chart(se, 1);
		struct img im;

		for (int i = 0; i < 40; i++)
			p[i] = (struct chart_point){ WEEK_START + i * 3600.0 * 4, vals[k][i % 4] };
		render(&c, &im, NULL);
		assert_int_equal(im.w, 2400);
		/* the line is there, and nothing of it above the title's band */
		assert_true(count_color(&im, series_px(0), 0, im.w * 3 / 4, 0, im.h, NULL) > 100);
		assert_int_equal(count_color(&im, series_px(0), 0, im.w * 3 / 4, 0, 200, NULL), 0);
		img_release(&im);
	}
}

static void chart__hostile_names__legend_still_drawn(void **state)
{
	char *longname = xmalloc(100001);
	static const char bad_utf8[] = "\xff\xfe\xc0\xaf \xed\xa0\x80 \xe2\x82 svc\n\t\x1b[31m\xc2\x85 end";
	struct chart_point p[2] = { { WEEK_START, 1 }, { WEEK_END, 2 } };
	struct chart_series se[3] = { { longname, p, 2 }, { bad_utf8, p, 2 }, { NULL, p, 2 } };
	struct chart c = week_chart(se, 3);
	struct img im;

	(void)state;
	memset(longname, 'w', 100000);
	longname[100000] = '\0';
	c.title = bad_utf8;
	c.unit = longname;
	render(&c, &im, NULL);
	for (size_t i = 0; i < 3; i++)
		assert_true(count_color(&im, series_px(i), im.w * 3 / 4, im.w, 0, im.h, NULL) > 300);
	img_release(&im);
	free(longname);
}

static void chart__more_than_ten_series__first_ten_drawn(void **state)
{
	struct chart_point p[2] = { { WEEK_START, 10 }, { WEEK_START + 86400, 20 } };
	struct chart_series se[25];
	struct chart c;
	struct img im;

	(void)state;
	for (int i = 0; i < 25; i++)
		se[i] = (struct chart_series){ "s", p, 2 };
	c = week_chart(se, 25);
	render(&c, &im, NULL);
	for (size_t i = 0; i < CHART_MAX_SERIES; i++)
		assert_true(count_color(&im, series_px(i), im.w * 3 / 4, im.w, 0, im.h, NULL) > 300);
	img_release(&im);
}

static void chart__100k_unsorted_points_with_gaps__bounded_time(void **state)
{
	size_t n = 100000;
	struct chart_point *p = xmalloc(n * sizeof(*p));
	struct chart_series se[CHART_MAX_SERIES];
	struct chart c;
	struct img im;
	uint64_t x = 88172645463325252ull;
	int64_t t0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i].t = WEEK_START + (double)(x % (7 * 86400));
		/* every other point a gap: the worst case for a path */
		p[i].v = i % 2 ? NAN : (double)(x % 100000);
	}
	for (int i = 0; i < CHART_MAX_SERIES; i++)
		se[i] = (struct chart_series){ "noisy", p, n };
	c = week_chart(se, CHART_MAX_SERIES);
	t0 = now_ms_mono();
	render(&c, &im, NULL);
	/* a million points under the sanitizers: a few seconds at most */
	assert_true(now_ms_mono() - t0 < 15000);
	assert_true(count_color(&im, series_px(0), 0, im.w, 0, im.h, NULL) > 300);
	img_release(&im);

	/* alternating gaps in order: each point alone between two gaps */
	for (size_t i = 0; i < n; i++)
		p[i] = (struct chart_point){ WEEK_START + (double)i * 6, i % 2 ? NAN : 100 + (double)(i % 7) };
	se[0].n = n;
	c.nseries = 1;
	t0 = now_ms_mono();
	render(&c, &im, NULL);
	assert_true(now_ms_mono() - t0 < 5000);
	img_release(&im);
	free(p);
}

static void chart__hostile_sizes_ranges_and_zones__clamped(void **state)
{
	struct chart_point p[3] = { { WEEK_START, 1 }, { WEEK_START + 100, 3 }, { WEEK_END, 2 } };
	struct chart_series se[1] = { { "a", p, 3 } };
	struct chart c = week_chart(se, 1);
	struct img im;

	(void)state;
	c.width = -5;
	c.height = INT_MAX;
	c.scale = NAN;
	c.utc_offset_s = INT_MIN;
	render(&c, &im, NULL);
	/* the default width, 4000 points high, the scale lowered to stay
	 * within 16 million pixels */
	assert_true((long)im.w * im.h <= 16000000);
	assert_true(im.h > 3 * im.w);
	img_release(&im);

	c = week_chart(se, 1);
	c.width = 100;
	c.height = 100;
	c.scale = 1e9;
	render(&c, &im, NULL);
	assert_int_equal(im.w, 1200);       /* 300 points at 4x */
	assert_int_equal(im.h, 1200);
	img_release(&im);

	c = week_chart(se, 1);
	c.start = INT64_MIN;
	c.end = INT64_MAX;
	c.utc_offset_s = 18 * 3600;
	render(&c, &im, NULL);
	img_release(&im);

	c.start = INT64_MAX;
	c.end = INT64_MIN;
	render(&c, &im, NULL);              /* backwards: the points' own range */
	assert_true(count_color(&im, series_px(0), 0, im.w * 3 / 4, 0, im.h, NULL) > 1000);
	img_release(&im);

	/* a range of one second, and a zone */
	{
		struct tz *tz = NULL;
		assert_int_equal(tz_load("UTC", &tz), VIVA_OK);
		c = week_chart(se, 1);
		c.end = c.start + 1;
		c.tz = tz;
		render(&c, &im, NULL);
		img_release(&im);
		tz_free(tz);
	}
}

static void chart__same_input__same_bytes(void **state)
{
	struct chart_point p[3] = { { WEEK_START, 1 }, { WEEK_START + 86400, 3 }, { WEEK_END, 2 } };
	struct chart_series se[1] = { { "a", p, 3 } };
	struct chart c = week_chart(se, 1);
	unsigned char *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;

	(void)state;
	assert_int_equal(chart_png(&c, &a, &na, NULL, 0), VIVA_OK);
	assert_int_equal(chart_png(&c, &b, &nb, NULL, 0), VIVA_OK);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
}

static void chart__bad_call__einval_with_a_line(void **state)
{
	struct chart c = week_chart(NULL, 3);
	unsigned char *png = (unsigned char *)"x";
	size_t len = 7;
	char err[128] = "";

	(void)state;
	assert_int_equal(chart_png(NULL, &png, &len, err, sizeof(err)), VIVA_EINVAL);
	assert_null(png);
	assert_int_equal(len, 0);
	assert_true(strlen(err) > 0);
	assert_int_equal(chart_png(&c, &png, &len, NULL, 0), VIVA_EINVAL);   /* series NULL */
	c.nseries = 0;
	assert_int_equal(chart_png(&c, NULL, &len, NULL, 0), VIVA_EINVAL);
	assert_int_equal(chart_png(&c, &png, NULL, NULL, 0), VIVA_EINVAL);
}

static int teardown_group(void **state)
{
	(void)state;
	/* cairo's caches, so that the leak checker sees only what we left
	 * (and fontconfig's one-time loss: tests/lsan.supp) */
	cairo_debug_reset_static_data();
	return 0;
}

/* cairo is looked up at run time: a missing library, or one that is not
 * cairo, is a clear error; the real one gives cairo's own functions. */
static void cairo_dl__missing_or_wrong_library__clear_error(void **state)
{
	struct cairo_api api;
	char err[256] = "";

	(void)state;
	assert_int_equal(cairo_dl_open("libviva-no-such-cairo.so.9", &api, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot load libviva-no-such-cairo.so.9"));
	assert_null(api.create);
	assert_int_equal(cairo_dl_open("libz.so.1", &api, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "libz.so.1 has no cairo_arc"));
	assert_null(api.arc);
	assert_int_equal(cairo_dl_open(VIVA_CAIRO_SONAME, &api, err, sizeof(err)), 0);
	assert_ptr_equal((void *)api.create, dlsym(RTLD_DEFAULT, "cairo_create"));
	assert_ptr_equal((void *)api.surface_write_to_png_stream,
			 dlsym(RTLD_DEFAULT, "cairo_surface_write_to_png_stream"));
	assert_ptr_equal(cairo_dl(err, sizeof(err)), cairo_loaded());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chart__week_of_three_sources__2x_png_not_blank_each_colour_drawn),
		cmocka_unit_test(chart__several_series__legend_rows_in_order_in_their_colours),
		cmocka_unit_test(chart__colours__ten_distinct),
		cmocka_unit_test(chart__no_points__says_no_traffic),
		cmocka_unit_test(chart__nan_or_inf_everywhere__drawn_as_no_traffic),
		cmocka_unit_test(chart__one_point__a_dot_and_no_range_given__an_hour_around_it),
		cmocka_unit_test(chart__huge_and_tiny_values__drawn_within_the_plot),
		cmocka_unit_test(chart__hostile_names__legend_still_drawn),
		cmocka_unit_test(chart__more_than_ten_series__first_ten_drawn),
		cmocka_unit_test(chart__100k_unsorted_points_with_gaps__bounded_time),
		cmocka_unit_test(chart__hostile_sizes_ranges_and_zones__clamped),
		cmocka_unit_test(chart__same_input__same_bytes),
		cmocka_unit_test(chart__bad_call__einval_with_a_line),
		cmocka_unit_test(cairo_dl__missing_or_wrong_library__clear_error),
	};

	return cmocka_run_group_tests(tests, NULL, teardown_group);
}
