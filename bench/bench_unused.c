/*
 * Benchmark: the unused-service audit (SPEC section 8) over 10,000 services
 * against a real Prometheus (Debian's /usr/bin/prometheus) holding 8 days of
 * history backfilled with promtool, run as the release `./viva exec '/viva
 * unused'` from an empty working directory with only its environment,
 * viva.yaml and the pipeline specs (bench/README.md says what and why, with
 * figures).
 *
 * The history. N services (BENCH_UNUSED_SERVICES, default 10000), a known
 * mix by i mod 100 (kind_of), sampled every BENCH_UNUSED_STEP seconds
 * (default 3600) over 8 days ending at E, the current time rounded down to
 * the step:
 *   HTTP (interface http; istio_requests_total, codes 200 and 500)
 *     active 60, idle all along 2 (flat counters), idle only the last 7
 *     days 2 (traffic until E - 7 d - 2 h), absent 1 (no series)
 *   Kafka (interface kafka; kafka_consumer_fetch_manager_records_consumed_rate)
 *     active 15, idle 2 (one at 0 with a spike 7.5 days ago, out of the
 *     window; one whose series stops at E - 7 d - 2 h)
 *   batch (type batch, one CronJob SVC-nightly; kube_cronjob_spec_suspend)
 *     suspended all along 2, resumed a day ago 2, never suspended 14
 * so 9 in 100 must be flagged: idle, idle lately, absent, both idle
 * consumers, suspended all along. Every spec file's modification time is
 * 60 days back (utimes), so no service is young.
 *
 * Why "now": viva evaluates its three instant queries at its own clock
 * and has no clock override; the history ends at E <= viva's now < E +
 * step, as a live Prometheus's data ends at the moment of the audit.
 * Generating relative to now keeps the release binary free of a
 * test-only clock (an override would be a knob that can make a real
 * audit look at the wrong week).
 *
 * The TSDB is cached in bench/out/unused_tsdb-nN-sSTEP-vGEN_VERSION/ and
 * reused while its E is still the current time rounded down to the step
 * (so within the same clock hour by default); otherwise it is built again
 * (generate, promtool --max-block-duration=720h: about 12 s at 10,000
 * services). The answers would stay right for days of drift (the margins
 * above), but the work would not: a day after E the 7-day window holds a
 * seventh fewer samples, and Prometheus's share of the time would shrink.
 *
 * Runs: the first exec imports the catalog (one run, reported, not in the
 * medians), then `viva exec '/viva help'` 3 times (start-up with N specs)
 * and `viva exec --json '/viva unused'` 3 times, all through a recording
 * proxy (tests/prom_proxy.h) in front of Prometheus that counts and times
 * the queries. Each audit must send exactly 3 queries and flag exactly the
 * expected services (exit 1 otherwise). Then the three queries once more,
 * straight to Prometheus with stats=all, at the time viva used: its own
 * evaluation time.
 *
 * Peak RSS: viva is started by the launcher (bench/launcher.h), forked
 * first thing. Results: a table on stdout and bench/out/unused.json; viva's
 * stderr in bench/out/unused_viva.log. VIVA_BIN runs another binary (a
 * wrapper for perf...). Exit 1 when a run failed, sent other than 3
 * queries or flagged other than the expected services; with BENCH_STRICT=1
 * also when the median wall time is above the 2 s target.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/launcher.h"
#include "bench/util.h"
#include "bot/model/config.h"
#include "tests/http_front.h"
#include "tests/prom_fixture.h"
#include "tests/prom_proxy.h"
#include "tests/proc.h"

#define GEN_VERSION 1          /* bump when the history below changes: old caches are not reused */
#define DAY         86400LL
#define DAYS        8
#define RUNS        3
#define SPEC_AGE    (60 * DAY)
#define MARGIN      (2 * 3600LL)   /* "idle lately": traffic stops this long before the 7-day window */

enum kind {
	HTTP_ACTIVE, HTTP_IDLE, HTTP_LATELY, HTTP_ABSENT,
	KAFKA_ACTIVE, KAFKA_SPIKE, KAFKA_STOPS,
	BATCH_SUSPENDED, BATCH_RESUMED, BATCH_ACTIVE,
	NKINDS
};

static const struct {
	const char *name;
	int per100;
	bool flagged;
} kinds[NKINDS] = {
	[HTTP_ACTIVE] = { "http active", 60, false },
	[HTTP_IDLE] = { "http idle all along", 2, true },
	[HTTP_LATELY] = { "http idle the last 7 d only", 2, true },
	[HTTP_ABSENT] = { "http absent (no series)", 1, true },
	[KAFKA_ACTIVE] = { "kafka active", 15, false },
	[KAFKA_SPIKE] = { "kafka idle (spike before the window)", 1, true },
	[KAFKA_STOPS] = { "kafka idle (series stops before it)", 1, true },
	[BATCH_SUSPENDED] = { "batch suspended all along", 2, true },
	[BATCH_RESUMED] = { "batch resumed a day ago", 2, false },
	[BATCH_ACTIVE] = { "batch never suspended", 14, false },
};

static enum kind kind_of(int i)
{
	int r = i % 100;

	for (int k = 0; k < NKINDS; k++) {
		if (r < kinds[k].per100)
			return (enum kind)k;
		r -= kinds[k].per100;
	}
	return HTTP_ACTIVE;   /* not reached: the mix sums to 100 */
}

static void die(const char *what)
{
	fprintf(stderr, "bench_unused: %s\n", what);
	exit(1);
}

static int env_int(const char *name, int dflt, int lo, int hi)
{
	const char *v = getenv(name);
	int n = v ? atoi(v) : dflt;

	return n >= lo && n <= hi ? n : dflt;
}

/* ---- the history ------------------------------------------------------------------------- */

struct hist {
	int64_t start, end, step;
};

struct counter {
	const struct hist *h;
	double base, per_step;
	int64_t until;     /* the counter stops growing here */
};

static double counter_at(void *ud, int64_t t)
{
	const struct counter *c = ud;
	int64_t upto = t < c->until ? t : c->until;

	return c->base + c->per_step * (double)((upto - c->h->start) / c->h->step);
}

struct gauge {
	double v, other;
	int64_t from, to;  /* `other` in [from, to), v elsewhere */
};

static double gauge_at(void *ud, int64_t t)
{
	const struct gauge *g = ud;

	return t >= g->from && t < g->to ? g->other : g->v;
}

static void http_series(struct prom_fixture *f, const struct hist *h, const char *svc, const char *code,
			double per_step, int64_t until)
{
	struct counter c = { h, 1000, per_step, until };
	char labels[256];

	snprintf(labels, sizeof(labels), "reporter=\"destination\",destination_app=\"%s\","
		 "destination_workload_namespace=\"prod\",source_app=\"gateway\",request_operation=\"GET /api/items\","
		 "response_code=\"%s\"", svc, code);
	prom_fixture_series_fn(f, "istio_requests_total", labels, h->start, h->end, h->step, counter_at, &c);
}

static void gauge_series(struct prom_fixture *f, const struct hist *h, const char *name, const char *labels,
			 int64_t last, struct gauge g)
{
	prom_fixture_series_fn(f, name, labels, h->start, last, h->step, gauge_at, &g);
}

/* Service i's series (none for an absent one). */
static void write_service(struct prom_fixture *f, const struct hist *h, int i)
{
	char svc[16], labels[256];
	int64_t lately = h->end - 7 * DAY - MARGIN, never = h->end + 1;
	const char *kafka = "kafka_consumer_fetch_manager_records_consumed_rate";

	snprintf(svc, sizeof(svc), "svc-%05d", i);
	switch (kind_of(i)) {
	case HTTP_ACTIVE:
		http_series(f, h, svc, "200", 60.0 * (1 + i % 7), never);
		http_series(f, h, svc, "500", 1, never);
		break;
	case HTTP_IDLE:
		http_series(f, h, svc, "200", 0, never);
		http_series(f, h, svc, "500", 0, never);
		break;
	case HTTP_LATELY:
		http_series(f, h, svc, "200", 120, lately);
		http_series(f, h, svc, "500", 2, lately);
		break;
	case HTTP_ABSENT:
		break;
	case KAFKA_ACTIVE:
	case KAFKA_SPIKE:
	case KAFKA_STOPS:
		snprintf(labels, sizeof(labels), "application=\"%s\",namespace=\"prod\",client_id=\"%s-0\",topic=\"orders\"",
			 svc, svc);
		if (kind_of(i) == KAFKA_ACTIVE)
			gauge_series(f, h, kafka, labels, h->end, (struct gauge){ 10.5 + i % 5, 0, 0, 0 });
		else if (kind_of(i) == KAFKA_SPIKE)   /* 50 records/s for one sample, 7.5 days back */
			gauge_series(f, h, kafka, labels, h->end,
				     (struct gauge){ 0, 50, h->start + DAY / 2, h->start + DAY / 2 + h->step });
		else
			gauge_series(f, h, kafka, labels, lately, (struct gauge){ 8, 0, 0, 0 });
		break;
	case BATCH_SUSPENDED:
	case BATCH_RESUMED:
	case BATCH_ACTIVE:
		snprintf(labels, sizeof(labels), "namespace=\"prod\",cronjob=\"%s-nightly\"", svc);
		gauge_series(f, h, "kube_cronjob_spec_suspend", labels, h->end,
			     kind_of(i) == BATCH_SUSPENDED ? (struct gauge){ 1, 1, 0, 0 }
			     : kind_of(i) == BATCH_RESUMED ? (struct gauge){ 0, 1, 0, h->end - DAY }
			     : (struct gauge){ 0, 0, 0, 0 });
		break;
	case NKINDS:
		break;
	}
}

/* ---- the catalog ------------------------------------------------------------------------- */

static void write_spec(const char *dir, int i, time_t mtime)
{
	static const char *const pipe[] = { "{ type: service, interface: http }",
					    "{ type: service, interface: kafka }", "{ type: batch }" };
	enum kind k = kind_of(i);
	int p = k <= HTTP_ABSENT ? 0 : k <= KAFKA_STOPS ? 1 : 2;
	char path[PATH_MAX], *text = NULL;
	struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };

	if (asprintf(&text, "name: svc-%05d\nowners: [U0OWNER%d]\ndeployManagers: [U0DM]\nrepository: { name: svc-%05d }\n"
		     "image: team/svc-%05d\npipeline: %s\nresources:\n  prod: { instance: 2, cpu: \"0.5\", memory: 512Mi }\n%s",
		     i, i % 40, i, i, pipe[p], p == 2 ? "batches:\n  - { name: nightly, schedule: \"0 3 * * *\", "
		     "command: [run] }\n" : "") < 0)
		die("out of memory");
	snprintf(path, sizeof(path), "%s/pipelines/svc-%05d.yaml", dir, i);
	bench_write_file(path, text);
	if (utimes(path, tv) != 0)
		die("utimes failed");
	free(text);
}

/* ---- the TSDB: cached or built ----------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

static void rm_tree(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "bench_unused: could not remove %s\n", path);
}

struct tsdb {
	char dir[PATH_MAX + 64], data[PATH_MAX + 72], stamp[PATH_MAX + 80];
	bool cached;
	size_t series, samples;
	double gen_s, backfill_s, ready_s;
	long om_bytes;
};

/* The stamp of a cache built for the same end, with its counts; false otherwise. */
static bool cache_valid(struct tsdb *t, int64_t end)
{
	size_t len = 0;
	char *s = bench_read_file(t->stamp, &len);
	long long e = 0;
	bool ok = s && sscanf(s, "end=%lld series=%zu samples=%zu", &e, &t->series, &t->samples) == 3 && e == end;

	free(s);
	return ok;
}

/* ---- exec output --------------------------------------------------------------------------- */

/* The services listed in exec --json output (actions blocks with an unused_keep button), marked in seen. */
struct report {
	int n, rows;
	unsigned char *seen;
};

static void count_report_row(json_t *blk, void *ud)
{
	struct report *r = ud;
	const char *id = json_string_value(json_object_get(blk, "block_id"));
	json_t *el = json_array_get(json_object_get(blk, "elements"), 0);
	const char *act = json_string_value(json_object_get(el, "action_id"));
	int idx;

	if (!id || !act || strcmp(act, "unused_keep") != 0)
		return;
	r->rows++;
	if (sscanf(id, "svc-%d", &idx) == 1 && idx >= 0 && idx < r->n)
		r->seen[idx] = 1;
}

static int report_rows(const char *path, int n, unsigned char *seen, int *messages)
{
	struct report r = { .n = n, .seen = seen };

	memset(seen, 0, (size_t)n);
	return bench_exec_blocks(path, "bench_unused", 100000, count_report_row, &r, messages) == 0 ? r.rows : -1;
}

/* ---- Prometheus alone: the query with stats=all -------------------------------------------- */

static char *url_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		die("out of memory");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~", c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return out;
}

struct direct {
	double wall_ms, exec_ms, eval_ms, prep_ms, sort_ms;
	long series, bytes, samples;
};

static bool direct_query(const char *prom_url, const char *promql, long long at, struct direct *d)
{
	char *q = url_encode(promql), *url = NULL, *body = NULL, *answer;
	json_t *j, *tim;
	long status = 0;
	double t0;

	memset(d, 0, sizeof(*d));
	if (asprintf(&url, "%s/api/v1/query", prom_url) < 0 || asprintf(&body, "query=%s&time=%lld&stats=all", q, at) < 0)
		die("out of memory");
	free(q);
	t0 = launcher_now_ms();
	answer = http_post(url, "application/x-www-form-urlencoded", body, &status);
	d->wall_ms = launcher_now_ms() - t0;
	free(body);
	free(url);
	if (status != 200 || !answer) {
		free(answer);
		return false;
	}
	d->bytes = (long)strlen(answer);
	j = json_loads(answer, 0, NULL);
	free(answer);
	tim = json_object_get(json_object_get(json_object_get(j, "data"), "stats"), "timings");
	d->series = (long)json_array_size(json_object_get(json_object_get(j, "data"), "result"));
	d->exec_ms = json_number_value(json_object_get(tim, "execTotalTime")) * 1e3;
	d->eval_ms = json_number_value(json_object_get(tim, "innerEvalTime")) * 1e3;
	d->prep_ms = json_number_value(json_object_get(tim, "queryPreparationTime")) * 1e3;
	d->sort_ms = json_number_value(json_object_get(tim, "resultSortTime")) * 1e3;
	d->samples = (long)json_integer_value(json_object_get(json_object_get(json_object_get(json_object_get(j, "data"),
				"stats"), "samples"), "totalQueryableSamples"));
	json_decref(j);
	return true;
}

/* ---- main ----------------------------------------------------------------------------------- */

struct series {
	double wall[RUNS], cpu[RUNS], rss[RUNS], prom[RUNS], prom_max[RUNS], bytes[RUNS];
	int queries[RUNS], rows[RUNS], status[RUNS], messages[RUNS];
	bool exact[RUNS];
	int n;
};

int main(void)
{
	int n = env_int("BENCH_UNUSED_SERVICES", 10000, 100, 99999);
	int64_t step = env_int("BENCH_UNUSED_STEP", 3600, 60, 7200), now = (int64_t)time(NULL);
	struct hist h = { 0, now / step * step, step };
	char viva[PATH_MAX], out_dir[PATH_MAX], dir[64], path[PATH_MAX + 64], reply[PATH_MAX], log[PATH_MAX + 32];
	char loadavg[128], *envv[8], prom_env[128];
	struct launcher L;
	struct launched l, import;
	struct prom_fixture fx;
	struct promproxy *proxy;
	struct promproxy_stats before, after;
	struct series help = { 0 }, audit = { 0 };
	struct viva_config cfg;
	struct tsdb t;
	struct direct dq[3];
	const char *qname[3] = { "http", "kafka", "batch" };
	const char *qtext[3];
	unsigned char *expect, *seen;
	int expected = 0, by_kind[NKINDS] = { 0 }, rc = 0;
	long long viva_time = 0;
	double t0;
	json_t *out, *jruns, *jq;

	h.start = h.end - DAYS * DAY;
	{
		FILE *f = fopen("/proc/loadavg", "r");

		if (!f || !fgets(loadavg, sizeof(loadavg), f))
			snprintf(loadavg, sizeof(loadavg), "unknown");
		loadavg[strcspn(loadavg, "\n")] = '\0';
		if (f)
			fclose(f);
	}
	snprintf(dir, sizeof(dir), "/tmp/viva-bench-unused-XXXXXX");
	if (!realpath(getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "viva", viva) || !mkdtemp(dir) ||
	    (mkdir("bench/out", 0755) != 0 && errno != EEXIST) || !realpath("bench/out", out_dir))
		die("run from the repository after `make viva`");
	snprintf(reply, sizeof(reply), "%s/reply.out", dir);
	snprintf(log, sizeof(log), "%s/unused_viva.log", out_dir);
	bench_write_file(log, "");
	/* PROMETHEUS_URL is only known once the proxy listens: each run adds it */
	envv[0] = "PATH=/usr/bin:/bin";
	envv[1] = "HOME=/nonexistent";
	envv[2] = "VIVA_LOG_LEVEL=warn";
	envv[3] = NULL;
	/* before Prometheus, the proxy's thread and the catalog exist: bench/launcher.h says why */
	if (!launcher_start(&L, dir, envv))
		die("cannot start the launcher");
	L.timeout_s = 300;

	/* the catalog: N specs, 60 days old, and viva.yaml (no channels.audit: the report is the reply) */
	snprintf(path, sizeof(path), "%s/pipelines", dir);
	mkdir(path, 0755);
	expect = calloc((size_t)n, 1);
	seen = calloc((size_t)n, 1);
	if (!expect || !seen)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		write_spec(dir, i, (time_t)(now - SPEC_AGE));
		by_kind[kind_of(i)]++;
		expect[i] = kinds[kind_of(i)].flagged;
		expected += expect[i];
	}
	snprintf(path, sizeof(path), "%s/viva.yaml", dir);
	bench_write_file(path, "pipelines: { dir: ./pipelines }\nthresholds: { unused_days: 7 }\n");
	config_defaults(&cfg);
	qtext[0] = cfg.promql_unused_http;
	qtext[1] = cfg.promql_unused_kafka;
	qtext[2] = cfg.promql_unused_batch;

	/* the TSDB: the cache when it ends where this history would, else generated and backfilled */
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "%s/unused_tsdb-n%d-s%lld-v%d", out_dir, n, (long long)step, GEN_VERSION);
	snprintf(t.data, sizeof(t.data), "%s/data", t.dir);
	snprintf(t.stamp, sizeof(t.stamp), "%s/history", t.dir);
	if (prom_fixture_init(&fx) != 0)
		die("cannot make the fixture's directory");
	fx.data_dir = t.data;
	t.cached = cache_valid(&t, h.end);
	if (t.cached) {
		fx.backfilled = true;
	} else {
		struct stat st;
		char stamp[160];

		rm_tree(t.dir);
		if (mkdir(t.dir, 0755) != 0)
			die("cannot make the cache directory");
		t0 = launcher_now_ms();
		for (int i = 0; i < n; i++)
			write_service(&fx, &h, i);
		fflush(fx.om);
		t.gen_s = (launcher_now_ms() - t0) / 1e3;
		t.series = fx.nseries;
		t.samples = fx.nsamples;
		if (stat(fx.om_path, &st) == 0)
			t.om_bytes = (long)st.st_size;
		if (prom_fixture_start(&fx) != 0)
			die("promtool or Prometheus failed (above)");
		t.backfill_s = fx.backfill_s;
		unlink(fx.om_path);   /* hundreds of MB, read by promtool, not needed again */
		snprintf(stamp, sizeof(stamp), "end=%lld series=%zu samples=%zu\n", (long long)h.end, t.series, t.samples);
		bench_write_file(t.stamp, stamp);
	}
	if (prom_fixture_start(&fx) != 0)
		die("Prometheus did not start (above)");
	t.ready_s = fx.ready_s;
	proxy = promproxy_start(&(struct promproxy_opts){ .upstream = fx.url });
	if (!proxy)
		die("cannot start the proxy");
	snprintf(prom_env, sizeof(prom_env), "PROMETHEUS_URL=%s", promproxy_url(proxy));

	/* the first exec stores the catalog of N specs (their files' times as their age) */
	{
		char *argv[] = { viva, "exec", "/viva help", NULL }, *extra[] = { prom_env, NULL };

		if (!launcher_run(&L, argv, extra, reply, log, &import) || import.status != 0)
			die("viva exec '/viva help' failed (bench/out/unused_viva.log)");
	}
	for (int i = 0; i < RUNS; i++) {
		char *argv[] = { viva, "exec", "/viva help", NULL }, *extra[] = { prom_env, NULL };

		if (!launcher_run(&L, argv, extra, reply, log, &l) || l.status != 0)
			die("viva exec '/viva help' failed (bench/out/unused_viva.log)");
		help.wall[i] = l.wall_ms;
		help.cpu[i] = l.cpu_ms;
		help.rss[i] = (double)l.rss_kb;
		help.n++;
	}
	for (int i = 0; i < RUNS; i++) {
		char *argv[] = { viva, "exec", "--json", "/viva unused", NULL }, *extra[] = { prom_env, NULL };
		char *form, *tm;
		bool exact = true;

		promproxy_stats(proxy, &before);
		if (!launcher_run(&L, argv, extra, reply, log, &l) || l.status < 0)
			die("could not run viva");
		promproxy_stats(proxy, &after);
		audit.wall[i] = l.wall_ms;
		audit.cpu[i] = l.cpu_ms;
		audit.rss[i] = (double)l.rss_kb;
		audit.status[i] = l.status;
		audit.queries[i] = after.queries - before.queries;
		audit.prom[i] = after.forward_ms - before.forward_ms;
		audit.prom_max[i] = after.forward_max_ms;
		audit.bytes[i] = (double)(after.answer_bytes - before.answer_bytes);
		audit.rows[i] = report_rows(reply, n, seen, &audit.messages[i]);
		for (int j = 0; j < n; j++)
			exact = exact && seen[j] == expect[j];
		audit.exact[i] = exact && audit.rows[i] == expected;
		audit.n++;
		form = promproxy_last_form(proxy);
		tm = form ? hf_param(form, "time") : NULL;
		if (tm)
			viva_time = atoll(tm);
		free(tm);
		free(form);
		if (l.status != 0 || audit.queries[i] != 3 || !audit.exact[i]) {
			printf("FAILED: audit run %d: exit %d, %d queries (3 expected), %d rows listed, %d expected%s\n", i + 1,
			       l.status, audit.queries[i], audit.rows[i], expected,
			       audit.rows[i] == expected && !audit.exact[i] ? " (but not the expected services)" : "");
			rc = 1;
		}
	}
	/* Prometheus alone, at the time viva used */
	for (int q = 0; q < 3; q++)
		if (!direct_query(fx.url, qtext[q], viva_time ? viva_time : (long long)now, &dq[q]))
			printf("note: the direct %s query with stats=all failed\n", qname[q]);

	printf("load average at start: %s (%ld CPUs, shared by viva, Prometheus and this benchmark)\n", loadavg,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("history: %d services, %d days every %llds ending at %lld (now rounded down to the step; viva's time= was "
	       "%lld, %+lld s), %zu series, %zu samples\n", n, DAYS, (long long)step, (long long)h.end, viva_time,
	       viva_time - (long long)h.end, t.series, t.samples);
	if (t.cached)
		printf("TSDB: reused from %s (built for the same end); Prometheus ready in %.2f s\n", t.dir, t.ready_s);
	else
		printf("TSDB: built into %s: generated %.1f MB of OpenMetrics in %.1f s, promtool (720h blocks) %.1f s, "
		       "Prometheus ready in %.2f s\n", t.dir, t.om_bytes / 1e6, t.gen_s, t.backfill_s, t.ready_s);
	printf("mix:");
	for (int k = 0; k < NKINDS; k++)
		printf("%s %s %d%s", k ? "," : "", kinds[k].name, by_kind[k], kinds[k].flagged ? " (flagged)" : "");
	printf("\n\n");
	printf("%-24s %8s %7s %7s %7s %9s  %s\n", "run", "wall ms", "min", "max", "CPU ms", "peak RSS", "queries");
	printf("%-24s %8.0f %7s %7s %7.0f %6ld KB  %s\n", "catalog import (1st exec)", import.wall_ms, "-", "-",
	       import.cpu_ms, import.rss_kb, "0");
	printf("%-24s %8.0f %7.0f %7.0f %7.0f %6.0f KB  %s\n", "start-up (/viva help)", bench_median(help.wall, help.n),
	       bench_min(help.wall, help.n), bench_max(help.wall, help.n), bench_median(help.cpu, help.n), bench_median(help.rss, help.n),
	       "0");
	printf("%-24s %8.0f %7.0f %7.0f %7.0f %6.0f KB  %d %d %d\n", "unused audit", bench_median(audit.wall, audit.n),
	       bench_min(audit.wall, audit.n), bench_max(audit.wall, audit.n), bench_median(audit.cpu, audit.n),
	       bench_median(audit.rss, audit.n), audit.queries[0], audit.queries[1], audit.queries[2]);
	printf("(3 runs each; wall, CPU and RSS: medians; CPU: viva's user + system time; peak RSS: ru_maxrss,\n"
	       "launcher floor %ld KB)\n", l.floor_kb);
	printf("Prometheus during the audits (the proxy, from sending each query to reading its whole answer):\n"
	       "  3 queries %.0f ms (median of the runs; slowest query %.0f ms), %.2f MB of answers\n",
	       bench_median(audit.prom, audit.n), bench_median(audit.prom_max, audit.n), bench_median(audit.bytes, audit.n) / 1e6);
	printf("Prometheus alone (stats=all, straight to it, after the runs):\n");
	printf("  %-6s %8s %8s %8s %8s %9s %10s\n", "query", "wall ms", "exec ms", "eval ms", "series", "answer", "samples");
	for (int q = 0; q < 3; q++)
		printf("  %-6s %8.1f %8.1f %8.1f %8ld %7.0f KB %10ld\n", qname[q], dq[q].wall_ms, dq[q].exec_ms, dq[q].eval_ms,
		       dq[q].series, dq[q].bytes / 1e3, dq[q].samples);
	{
		double aw = bench_median(audit.wall, audit.n), hw = bench_median(help.wall, help.n), pw = bench_median(audit.prom, audit.n);

		printf("where the audit's wall time goes (medians): start-up with %d specs %.0f ms (the /viva help row), "
		       "Prometheus %.0f ms,\nthe rest %.0f ms (viva: the answers parsed, the catalog listed and matched, "
		       "the report rendered; and the proxy)\n", n, hw, pw, aw - hw - pw);
	}
	printf("rows flagged: %d %d %d in %d messages, %d expected: %s\n", audit.rows[0], audit.rows[1], audit.rows[2],
	       audit.messages[0], expected,
	       audit.exact[0] && audit.exact[1] && audit.exact[2] ? "ok (exactly the expected services)" : "WRONG");
	printf("wall time target <= 2000 ms: %s (median %.0f ms)\n", bench_median(audit.wall, audit.n) <= 2000 ? "pass" : "MISS",
	       bench_median(audit.wall, audit.n));
	printf(rc ? "FAILED (see above)\n" : "ok: every audit sent 3 queries and flagged exactly the expected services\n");
	if (getenv("BENCH_STRICT") && strcmp(getenv("BENCH_STRICT"), "1") == 0 && bench_median(audit.wall, audit.n) > 2000)
		rc = 1;

	jruns = json_array();
	for (int i = 0; i < audit.n; i++)
		json_array_append_new(jruns, json_pack("{s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:b, s:f, s:f, s:i}", "exit",
						       audit.status[i], "wall_ms", audit.wall[i], "cpu_ms", audit.cpu[i],
						       "rss_kb", (int)audit.rss[i], "queries", audit.queries[i], "rows",
						       audit.rows[i], "messages", audit.messages[i], "exact", audit.exact[i],
						       "prometheus_ms", audit.prom[i], "slowest_query_ms", audit.prom_max[i],
						       "answer_bytes", (int)audit.bytes[i]));
	jq = json_object();
	for (int q = 0; q < 3; q++)
		json_object_set_new(jq, qname[q], json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i}", "promql", qtext[q],
							    "wall_ms", dq[q].wall_ms, "exec_ms", dq[q].exec_ms, "eval_ms",
							    dq[q].eval_ms, "prep_ms", dq[q].prep_ms, "sort_ms", dq[q].sort_ms,
							    "series", (int)dq[q].series, "answer_bytes", (int)dq[q].bytes,
							    "samples", (int)dq[q].samples));
	out = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:f, s:f, s:i, s:i}", "loadavg", loadavg,
			"services", n, "days", DAYS, "generator_version", GEN_VERSION, "step_s", (json_int_t)step,
			"history_end", (json_int_t)h.end, "viva_time", (json_int_t)viva_time, "series", (json_int_t)t.series,
			"samples", (json_int_t)t.samples, "tsdb_cached", t.cached, "generate_s", t.gen_s, "promtool_s",
			t.backfill_s, "expected_rows", expected, "rss_floor_kb", (int)l.floor_kb);
	json_object_set_new(out, "catalog_import", json_pack("{s:f, s:f, s:i}", "wall_ms", import.wall_ms, "cpu_ms",
							     import.cpu_ms, "rss_kb", (int)import.rss_kb));
	json_object_set_new(out, "startup", json_pack("{s:f, s:f, s:f}", "median_wall_ms", bench_median(help.wall, help.n),
						      "median_cpu_ms", bench_median(help.cpu, help.n), "median_rss_kb",
						      bench_median(help.rss, help.n)));
	json_object_set_new(out, "unused", json_pack("{s:f, s:f, s:f, s:f, s:o}", "median_wall_ms",
						     bench_median(audit.wall, audit.n), "median_cpu_ms", bench_median(audit.cpu, audit.n),
						     "median_rss_kb", bench_median(audit.rss, audit.n), "median_prometheus_ms",
						     bench_median(audit.prom, audit.n), "runs", jruns));
	json_object_set_new(out, "prometheus_alone", jq);
	json_object_set_new(out, "ok", json_boolean(rc == 0));
	snprintf(path, sizeof(path), "%s/unused.json", out_dir);
	json_dump_file(out, path, JSON_INDENT(2));
	json_decref(out);

	promproxy_stop(proxy);
	prom_fixture_release(&fx);   /* the cache (fx.data_dir) stays */
	launcher_stop(&L);
	config_release(&cfg);
	rm_tree(dir);
	free(expect);
	free(seen);
	return rc;
}
