/*
 * `/viva traffic SVC [RANGE]` (SPEC section 9) against a real Prometheus
 * with a backfilled history (tests/prom_fixture.h), through the recording
 * proxy: the three tables, largest first; the chart saved in the console
 * and shared through the upload seam on Slack; no traffic and Prometheus
 * down said plainly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/clients/prom.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/dispatch.h"
#include "bot/slack/api.h"
#include "handlers/traffic.h"
#include "tests/helpers.h"
#include "tests/prom_fixture.h"
#include "tests/prom_proxy.h"

#define END   1795554900LL          /* the test clock's now (tests/helpers.c) */
#define DAY   86400LL
#define STEP  300LL
#define START (END - 8 * DAY)

static struct {
	struct prom_fixture fx;
	struct promproxy *proxy;
} G;

struct fx {
	struct test_env t;
	char *dir;
};

struct counter {
	double per_step;
};

static double counter_at(void *ud, int64_t t)
{
	return ((const struct counter *)ud)->per_step * (double)((t - START) / STEP);
}

/* shop: web (most), mobile, batch-client; two operations; mean durations 20, 45, 300 ms */
static void write_history(void)
{
	static const struct { const char *src, *op; double per_step, ms; } s[] = {
		{ "web", "GET /items", 600, 20 },
		{ "web", "POST /orders", 60, 20 },
		{ "mobile", "GET /items", 300, 45 },
		{ "batch-client", "POST /orders", 3, 300 },
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct counter c = { s[i].per_step }, sum = { s[i].per_step * s[i].ms };
		char *l = xasprintf("reporter=\"destination\",destination_app=\"shop\",source_app=\"%s\","
				    "request_operation=\"%s\",response_code=\"200\"", s[i].src, s[i].op);

		prom_fixture_series_fn(&G.fx, "istio_requests_total", l, START, END, STEP, counter_at, &c);
		prom_fixture_series_fn(&G.fx, "istio_request_duration_milliseconds_sum", l, START, END, STEP, counter_at,
				       &sum);
		prom_fixture_series_fn(&G.fx, "istio_request_duration_milliseconds_count", l, START, END, STEP,
				       counter_at, &c);
		free(l);
	}
}

static int group_setup(void **state)
{
	(void)state;
	if (prom_fixture_init(&G.fx) != 0)
		return -1;
	write_history();
	if (prom_fixture_start(&G.fx) != 0)
		return -1;
	G.proxy = promproxy_start(&(struct promproxy_opts){ .upstream = G.fx.url });
	return G.proxy ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	promproxy_stop(G.proxy);
	prom_fixture_release(&G.fx);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct prom_opts po = { .url = promproxy_url(G.proxy), .timeout_ms = 5000 };
	char err[512];

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	f->t.cfg.out_dir = xstrdup(f->dir);
	f->t.env.prom = prom_new(&po, err, sizeof(err));
	assert_non_null(f->t.env.prom);
	promproxy_go_down(G.proxy, 0, PROMPROXY_UP);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	prom_free(f->t.env.prom);
	f->t.env.prom = NULL;
	f->t.env.slack = NULL;
	test_env_release(&f->t);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* The text of every reply so far, joined. */
static char *all_text(struct fx *f)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < json_array_size(f->t.sent); i++) {
		char *t = test_sent_text(&f->t, i), *next = xasprintf("%s%s\n", out, t);

		free(t);
		free(out);
		out = next;
	}
	return out;
}

/* A decoded PNG: its size, and how many distinct colours it has (blank: 1). */
static void png_facts(const void *png, size_t len, int *w, int *h, int *colours)
{
	cairo_surface_t *s = test_png_decode(png, len);
	uint32_t seen[64];
	int n = 0;

	assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
	*w = cairo_image_surface_get_width(s);
	*h = cairo_image_surface_get_height(s);
	for (int y = 0; y < *h; y += 7) {
		const uint32_t *row = (const uint32_t *)(const void *)(cairo_image_surface_get_data(s) +
								       (size_t)y * (size_t)cairo_image_surface_get_stride(s));

		for (int x = 0; x < *w && n < 64; x += 5) {
			bool known = false;

			for (int k = 0; k < n && !known; k++)
				known = seen[k] == row[x];
			if (!known)
				seen[n++] = row[x];
		}
	}
	*colours = n;
	cairo_surface_destroy(s);
}

/* Largest first in each table; the chart saved as a PNG whose path is said. */
/* The path in the reply's "Chart (PNG, N bytes): PATH" line, cut out of text in place. */
static char *chart_path(char *text)
{
	char *path = strstr(text, "Chart (PNG, "), *end;

	assert_non_null(path);
	path = strstr(path, "): ");
	assert_non_null(path);
	path += 3;
	end = strchr(path, '\n');
	if (end)
		*end = '\0';
	return path;
}

static void traffic__history__tables_largest_first_and_chart_saved(void **state)
{
	struct fx *f = *state;
	struct promproxy_stats a, b;
	char *out, *text, *path, *png = NULL;
	size_t len = 0;
	int w, h, colours;

	promproxy_stats(G.proxy, &a);
	out = test_command(&f->t, "U0ANYONE", "traffic shop 7d");
	free(out);
	promproxy_stats(G.proxy, &b);
	assert_int_equal(b.queries - a.queries, 4);
	assert_int_equal(b.range_queries - a.range_queries, 1);
	assert_int_equal(b.explicit_time - a.explicit_time, 4);
	text = all_text(f);
	/* 7 days = 2016 steps: web 660 x 2016, mobile 300 x 2016, batch-client 3 x 2016 */
	if (!strstr(text, "shop: 1,941,408 requests in 7d") ||
	    !strstr(text, "`web` 1,330,560\n`mobile` 604,800\n`batch-client` 6,048") ||
	    !strstr(text, "`GET /items` 1,814,400\n`POST /orders` 127,008") ||
	    !strstr(text, "`batch-client` 300 ms\n`mobile` 45 ms\n`web` 20 ms"))
		fail_msg("%s", text);
	path = chart_path(text);
	assert_int_equal(strncmp(path, f->dir, strlen(f->dir)), 0);
	assert_int_equal(read_file(path, &png, &len), VIVA_OK);
	png_facts(png, len, &w, &h, &colours);
	assert_true(w >= 800 && h >= 400);
	assert_true(colours >= 5);   /* background, axes, text and three source colours at least */
	free(png);
	free(text);
}

/* On Slack the chart is shared in the channel through the upload. */
struct fake_api {
	struct slack_api base;
	int uploads;
	char channel[32];
	size_t len;
	unsigned char head[8];
};

static int fake_upload(struct slack_api *api, const struct slack_file *file, char **file_id, char *err, size_t errlen)
{
	struct fake_api *fa = (struct fake_api *)api;

	(void)err;
	(void)errlen;
	fa->uploads++;
	snprintf(fa->channel, sizeof(fa->channel), "%s", file->channel_id);
	fa->len = file->len;
	memcpy(fa->head, file->bytes, file->len < 8 ? file->len : 8);
	*file_id = xstrdup("F0CHART");
	return VIVA_OK;
}

static const struct slack_api_ops fake_ops = { .upload = fake_upload };

static void traffic__on_slack__chart_uploaded_to_the_channel(void **state)
{
	struct fx *f = *state;
	struct fake_api fa = { .base = { &fake_ops } };
	struct viva_ctx ctx;
	static const unsigned char magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

	f->t.env.slack = &fa.base;
	test_ctx(&f->t, &ctx, "U0ANYONE");
	ctx.channel_id = "C0TRAFFIC";
	assert_int_equal(dispatch_command(&ctx, "traffic shop 24h"), VIVA_OK);
	assert_int_equal(fa.uploads, 1);
	assert_string_equal(fa.channel, "C0TRAFFIC");
	assert_true(fa.len > 1000);
	assert_memory_equal(fa.head, magic, 8);
}

static void traffic__no_traffic__said_plainly(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "traffic quiet-service");

	assert_non_null(strstr(out, "`quiet-service` had no traffic in the last 7d"));
	free(out);
}

static void traffic__prometheus_down__said_plainly(void **state)
{
	struct fx *f = *state;
	char *out;

	promproxy_go_down(G.proxy, 0, PROMPROXY_REFUSE);
	out = test_command(&f->t, "U0ANYONE", "traffic shop");
	if (!strstr(out, "Traffic of `shop` could not be read") || !strstr(out, "Prometheus at"))
		fail_msg("%s", out);
	free(out);
	promproxy_go_down(G.proxy, 0, PROMPROXY_UP);
	/* and none configured */
	prom_free(f->t.env.prom);
	f->t.env.prom = NULL;
	out = test_command(&f->t, "U0ANYONE", "traffic shop");
	assert_non_null(strstr(out, "none is configured (PROMETHEUS_URL)"));
	free(out);
}

/*
 * viva as installed, a process in an empty directory: it is not linked with
 * cairo (loaded when the first chart is drawn), and draws the chart.
 */
static void traffic__viva_process__cairo_loaded_when_drawing(void **state)
{
	struct fx *f = *state;
	const char *bin = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";
	char abs[PATH_MAX], *cmd, *out, *path, *png = NULL;
	size_t len = 0;
	int st = -1, w, h, colours;

	assert_non_null(realpath(bin, abs));
	cmd = xasprintf("ldd '%s'", abs);
	out = test_run(cmd, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "libcurl"));
	assert_null(strstr(out, "libcairo"));
	free(out);
	free(cmd);
	path = xasprintf("%s/pipelines/shop.yaml", f->dir);
	test_write_file(path, "name: shop\nowners: [U0OWNER]\nrepository: { name: shop }\nimage: team/shop\n"
			      "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	path = xasprintf("%s/viva.yaml", f->dir);
	test_write_file(path, "pipelines: { dir: ./pipelines }\n");
	free(path);
	/* the history ends at END, some days before today: two weeks back reach it */
	/* the sanitizers' settings pass (tests/run.sh: fontconfig's one-time loss is known) */
	cmd = xasprintf("cd '%s' && env -i PATH=/usr/bin:/bin HOME=/tmp VIVA_OUT_DIR='%s' PROMETHEUS_URL='%s' "
			"ASAN_OPTIONS='%s' LSAN_OPTIONS='%s' '%s' exec '/viva traffic shop 2w'", f->dir, f->dir,
			G.fx.url, getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
			getenv("LSAN_OPTIONS") ? getenv("LSAN_OPTIONS") : "", abs);
	out = test_run(cmd, &st);
	free(cmd);
	if (st != 0 || !strstr(out, "`web`") || !strstr(out, "Chart (PNG, "))
		fail_msg("exit %d:\n%s", st, out);
	path = chart_path(out);
	assert_int_equal(read_file(path, &png, &len), VIVA_OK);
	png_facts(png, len, &w, &h, &colours);
	assert_true(w >= 800 && h >= 400);
	assert_true(colours >= 5);
	free(png);
	free(out);
}

static void traffic__ranges__parsed_and_refused(void **state)
{
	struct fx *f = *state;
	char *out;

	(void)state;
	assert_int_equal(traffic_parse_range("7d"), 7 * DAY);
	assert_int_equal(traffic_parse_range("24h"), DAY);
	assert_int_equal(traffic_parse_range("2w"), 14 * DAY);
	assert_int_equal(traffic_parse_range("90m"), 5400);
	assert_int_equal(traffic_parse_range("1m"), 0);          /* below 5 minutes */
	assert_int_equal(traffic_parse_range("91d"), 0);
	assert_int_equal(traffic_parse_range("7d]) or vector(1"), 0);
	assert_int_equal(traffic_parse_range("-7d"), 0);
	assert_int_equal(traffic_parse_range("7y"), 0);
	assert_int_equal(traffic_parse_range("99999999999d"), 0);
	out = test_command(&f->t, "U0ANYONE", "traffic shop 7y");
	assert_non_null(strstr(out, "is not a range"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(traffic__history__tables_largest_first_and_chart_saved, setup, teardown),
		cmocka_unit_test_setup_teardown(traffic__viva_process__cairo_loaded_when_drawing, setup, teardown),
		cmocka_unit_test_setup_teardown(traffic__on_slack__chart_uploaded_to_the_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(traffic__no_traffic__said_plainly, setup, teardown),
		cmocka_unit_test_setup_teardown(traffic__prometheus_down__said_plainly, setup, teardown),
		cmocka_unit_test_setup_teardown(traffic__ranges__parsed_and_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
