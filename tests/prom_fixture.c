/*
 * A real Prometheus with a backfilled history (see prom_fixture.h).
 */
#include "tests/prom_fixture.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"

#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROMTOOL          "/usr/bin/promtool"
#define PROMETHEUS        "/usr/bin/prometheus"
#define BACKFILL_MAX_MS   300000L
#define READY_MAX_MS      15000L
#define STOP_MAX_MS       5000L
/* a free port can be taken by another process before Prometheus binds it */
#define START_TRIES       3

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The tool's log on stderr, for the person reading a failed test. */
static void show_log(struct proc *p, const char *what)
{
	char *log = proc_log(p);

	fprintf(stderr, "prom_fixture: %s failed (exit %d); its output:\n%s\n", what, p->status, log);
	free(log);
}

int prom_fixture_init(struct prom_fixture *f)
{
	char tmpl[] = "/tmp/viva-prom-XXXXXX";

	memset(f, 0, sizeof(*f));
	if (!mkdtemp(tmpl))
		return -1;
	f->dir = xstrdup(tmpl);
	f->om_path = xasprintf("%s/history.om", f->dir);
	f->om = fopen(f->om_path, "w");
	return f->om ? 0 : -1;
}

static void put_value(FILE *out, double v)
{
	if (isnan(v))
		fputs("NaN", out);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else
		fprintf(out, "%.17g", v);
}

static void put_sample(struct prom_fixture *f, const char *name, const char *labels, double t, double v)
{
	fputs(name, f->om);
	if (labels && *labels)
		fprintf(f->om, "{%s}", labels);
	fputc(' ', f->om);
	put_value(f->om, v);
	/* seconds: milliseconds would land in the year 58,000 without a word */
	if (t == floor(t))
		fprintf(f->om, " %.0f\n", t);
	else
		fprintf(f->om, " %.3f\n", t);
	f->nsamples++;
}

void prom_fixture_series(struct prom_fixture *f, const char *name, const char *labels,
			 const struct prom_point *pts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_sample(f, name, labels, pts[i].t, pts[i].v);
	f->nseries++;
}

void prom_fixture_series_fn(struct prom_fixture *f, const char *name, const char *labels, int64_t start,
			    int64_t end, int64_t step, double (*fn)(void *ud, int64_t t), void *ud)
{
	for (int64_t t = start; step > 0 && t <= end; t += step)
		put_sample(f, name, labels, (double)t, fn(ud, t));
	f->nseries++;
}

void prom_fixture_text(struct prom_fixture *f, const char *text)
{
	size_t n = strlen(text);

	fputs(text, f->om);
	if (n && text[n - 1] != '\n')
		fputc('\n', f->om);
}

static int backfill(struct prom_fixture *f)
{
	char *data = f->data_dir ? xstrdup(f->data_dir) : xasprintf("%s/data", f->dir);
	char *log = xasprintf("%s/promtool.log", f->dir);
	char *argv[] = { PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "-q",
			 "--max-block-duration=720h", f->om_path, data, NULL };
	struct proc p;
	int64_t t0 = now_ms_mono();
	int rc = -1, st;

	fputs("# EOF\n", f->om);
	st = fclose(f->om);
	f->om = NULL;
	if (st != 0) {
		fprintf(stderr, "prom_fixture: cannot write %s\n", f->om_path);
		goto out;
	}
	if (f->nsamples == 0) {
		/* nothing to backfill: Prometheus starts on an empty TSDB */
		rc = 0;
		goto out;
	}
	if (proc_start(&p, argv, NULL, log) != 0)
		goto out;
	st = proc_wait(&p, BACKFILL_MAX_MS);
	if (st != 0)
		show_log(&p, st < 0 ? "promtool (did not finish in time)" : "promtool");
	else
		rc = 0;
	proc_release(&p);
	f->backfill_s = (double)(now_ms_mono() - t0) / 1000.0;
out:
	f->backfilled = rc == 0;
	free(data);
	free(log);
	return rc;
}

static bool write_text(const char *path, const char *text)
{
	FILE *c = fopen(path, "w");

	return c && fputs(text, c) >= 0 && fclose(c) == 0;
}

/* Start Prometheus on f->port; 0 once /-/ready answers 200. */
static int start_once(struct prom_fixture *f)
{
	char *cfg = xasprintf("%s/prometheus.yml", f->dir), *log = xasprintf("%s/prometheus.log", f->dir);
	char *web = xasprintf("%s/web.yml", f->dir);
	char *data = f->data_dir ? xasprintf("--storage.tsdb.path=%s", f->data_dir)
				 : xasprintf("--storage.tsdb.path=%s/data", f->dir);
	char *cfgarg = xasprintf("--config.file=%s", cfg);
	char *listen = xasprintf("--web.listen-address=127.0.0.1:%d", f->port);
	char *webarg = xasprintf("--web.config.file=%s", web);
	char *tls = f->tls_cert ? xasprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", f->tls_cert,
					    f->tls_key) : NULL;
	char *argv[] = { PROMETHEUS, cfgarg, data, listen, f->tls_cert ? webarg : NULL, NULL };
	char *ready = xasprintf("%s/-/ready", f->url);
	int64_t end;
	int rc = -1;

	/* no scrape job: the TSDB holds the backfilled history and nothing of "now" */
	if (!write_text(cfg, "global: {scrape_interval: 1m, evaluation_interval: 1m}\nscrape_configs: []\n") ||
	    (tls && !write_text(web, tls)) || proc_start(&f->proc, argv, NULL, log) != 0)
		goto out;
	f->running = true;
	if (tls) {
		/* the test's CA is not this process's to trust: its log says when */
		if (proc_wait_log(&f->proc, "Server is ready to receive web requests", READY_MAX_MS)) {
			rc = 0;
			goto out;
		}
		goto fail;
	}
	end = now_ms_mono() + READY_MAX_MS;
	while (now_ms_mono() < end) {
		long status = 0;

		free(http_get(ready, &status));
		if (status == 200) {
			rc = 0;
			goto out;
		}
		if (proc_wait(&f->proc, 0) >= 0)
			break;   /* it exited: the port was taken, or worse */
		sleep_ms(20);
	}
fail:
	show_log(&f->proc, f->proc.reaped ? "prometheus" : "prometheus (not ready in time)");
	prom_fixture_stop(f);
out:
	free(cfg);
	free(log);
	free(web);
	free(data);
	free(cfgarg);
	free(listen);
	free(webarg);
	free(tls);
	free(ready);
	return rc;
}

int prom_fixture_start(struct prom_fixture *f)
{
	bool same_port = f->port > 0;
	int64_t t0;

	if (f->running)
		return 0;
	if (!f->backfilled && backfill(f) != 0)
		return -1;
	t0 = now_ms_mono();
	for (int i = 0; i < START_TRIES; i++) {
		if (!same_port) {
			f->port = free_port();
			snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%d", f->tls_cert ? "https" : "http", f->port);
		}
		if (start_once(f) == 0) {
			if (f->ready_s == 0)
				f->ready_s = (double)(now_ms_mono() - t0) / 1000.0;
			return 0;
		}
		if (same_port)
			break;   /* a restart must keep the URL the test holds */
	}
	return -1;
}

void prom_fixture_stop(struct prom_fixture *f)
{
	if (!f->running)
		return;
	proc_stop(&f->proc, SIGTERM, STOP_MAX_MS);
	proc_release(&f->proc);
	f->running = false;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

void prom_fixture_release(struct prom_fixture *f)
{
	prom_fixture_stop(f);
	if (f->om)
		fclose(f->om);
	if (f->dir && strncmp(f->dir, "/tmp/viva-prom-", 15) == 0 &&
	    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "prom_fixture: could not remove %s\n", f->dir);
	free(f->dir);
	free(f->om_path);
	memset(f, 0, sizeof(*f));
}
