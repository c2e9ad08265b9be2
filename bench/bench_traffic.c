/*
 * Benchmark: `/viva traffic SVC 7d` for one service with 5 sources and 2
 * operations, against a real Prometheus whose history (8 days at 5-minute
 * steps, ending now: viva evaluates at its own clock) is backfilled with
 * promtool (tests/prom_fixture.h). Run as the release `viva exec` from an
 * empty working directory through the launcher (bench/launcher.h), three
 * times: wall time, viva's CPU time, peak RSS and the PNG's size (the
 * console saves the chart under VIVA_OUT_DIR and prints its path).
 * Prints a table and writes bench/out/traffic.json; exit 1 if a run failed
 * or drew no chart.
 */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "bench/launcher.h"
#include "bench/util.h"
#include "tests/prom_fixture.h"

#define RUNS 3
#define STEP 300

struct source {
	const char *name, *op;
	double rps, ms;
};

static const struct source sources[] = {
	{ "checkout-web", "GET /items", 40, 20 },  { "mobile-bff", "GET /items", 20, 35 },
	{ "partner-gateway", "POST /orders", 8, 60 }, { "batch-reconciler", "POST /orders", 2, 250 },
	{ "search-indexer", "GET /items", 1, 15 },
};

struct gen {
	const struct source *s;
	int64_t start;
	double per_s;     /* counter growth per second */
};

/* A counter with a daily wave: its rate swings between 0.5x and 1.5x. */
static double counter(void *ud, int64_t t)
{
	const struct gen *g = ud;
	double x = (double)(t - g->start), day = 86400.0;

	return g->per_s * (x - day / (2 * 3.14159265358979) * 0.5 * (cos(2 * 3.14159265358979 * x / day) - 1));
}

int main(void)
{
	char dir[] = "/tmp/viva-bench-traffic-XXXXXX", viva[PATH_MAX], out_dir[PATH_MAX], out_path[PATH_MAX + 16];
	char err_path[PATH_MAX + 16], yaml[PATH_MAX + 16], env_url[128], env_out[PATH_MAX + 16];
	char *argv[] = { viva, "exec", "/viva traffic shop 7d", NULL };
	char *envv[] = { "PATH=/usr/bin:/bin", "HOME=/nonexistent", "VIVA_LOG_LEVEL=warn", NULL };
	char *extra[] = { env_url, env_out, NULL };
	double wall[RUNS], cpu[RUNS];
	long rss[RUNS], png_bytes = 0;
	int64_t end = (int64_t)time(NULL) / STEP * STEP, start = end - 8 * 86400;
	struct prom_fixture fx;
	struct launcher L;
	int rc = 0;

	if (!realpath("viva", viva) || !mkdtemp(dir)) {
		fprintf(stderr, "bench_traffic: run from the repository after `make viva`\n");
		return 1;
	}
	if (!launcher_start(&L, dir, envv)) {
		fprintf(stderr, "bench_traffic: cannot start the launcher: %s\n", strerror(errno));
		return 1;
	}
	L.timeout_s = 120;
	if (prom_fixture_init(&fx) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct gen g = { &sources[i], start, sources[i].rps }, d = { &sources[i], start,
									   sources[i].rps * sources[i].ms };
		char labels[256];

		snprintf(labels, sizeof(labels), "reporter=\"destination\",destination_app=\"shop\",source_app=\"%s\","
			 "request_operation=\"%s\",response_code=\"200\"", sources[i].name, sources[i].op);
		prom_fixture_series_fn(&fx, "istio_requests_total", labels, start, end, STEP, counter, &g);
		prom_fixture_series_fn(&fx, "istio_request_duration_milliseconds_count", labels, start, end, STEP, counter,
				       &g);
		prom_fixture_series_fn(&fx, "istio_request_duration_milliseconds_sum", labels, start, end, STEP, counter,
				       &d);
	}
	if (prom_fixture_start(&fx) != 0) {
		launcher_stop(&L);
		return 1;
	}
	snprintf(env_url, sizeof(env_url), "PROMETHEUS_URL=%s", fx.url);
	snprintf(out_dir, sizeof(out_dir), "%s/out", dir);
	mkdir(out_dir, 0700);
	snprintf(env_out, sizeof(env_out), "VIVA_OUT_DIR=%s", out_dir);
	snprintf(yaml, sizeof(yaml), "%s/viva.yaml", dir);
	bench_write_file(yaml, "pipelines: { dir: ./pipelines }\n");
	snprintf(out_path, sizeof(out_path), "%s/reply.txt", dir);
	snprintf(err_path, sizeof(err_path), "%s/viva.log", dir);
	for (int i = 0; i < RUNS; i++) {
		struct launched l;
		char *text, *p;
		size_t len = 0;

		if (!launcher_run(&L, argv, extra, out_path, err_path, &l) || l.status != 0) {
			fprintf(stderr, "bench_traffic: run %d failed (status %d); see %s\n", i + 1, l.status, err_path);
			rc = 1;
			break;
		}
		wall[i] = l.wall_ms;
		cpu[i] = l.cpu_ms;
		rss[i] = l.rss_kb;
		text = bench_read_file(out_path, &len);
		p = text ? strstr(text, "Chart (PNG, ") : NULL;
		png_bytes = p ? strtol(p + 12, NULL, 10) : 0;
		free(text);
		if (png_bytes <= 0) {
			fprintf(stderr, "bench_traffic: run %d drew no chart; see %s\n", i + 1, out_path);
			rc = 1;
			break;
		}
	}
	if (rc == 0) {
		double w = bench_median(wall, RUNS), c = bench_median(cpu, RUNS);
		long r = rss[0];
		json_t *out;

		for (int i = 1; i < RUNS; i++)
			r = rss[i] > r ? rss[i] : r;
		printf("traffic shop 7d: 5 sources, 2 operations, 8 days at %d s in a real Prometheus (%zu series)\n",
		       STEP, fx.nseries);
		printf("%-10s %10s %10s %12s %12s\n", "runs", "wall ms", "CPU ms", "peak RSS", "PNG bytes");
		printf("%-10s %10.0f %10.0f %9ld KB %12ld\n", "median", w, c, r, png_bytes);
		printf("(wall: viva exec start to exit: start-up, 4 queries, the tables, the chart drawn and saved)\n");
		mkdir("bench/out", 0755);
		out = json_pack("{s:f, s:f, s:i, s:i}", "wall_ms", w, "cpu_ms", c, "rss_kb", (int)r,
				"png_bytes", (int)png_bytes);
		json_dump_file(out, "bench/out/traffic.json", JSON_INDENT(2));
		json_decref(out);
	}
	launcher_stop(&L);
	prom_fixture_release(&fx);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_traffic: could not remove %s\n", dir);
	}
	return rc;
}
