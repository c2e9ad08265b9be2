#ifndef VIVA_TESTS_PROM_FIXTURE_H
#define VIVA_TESTS_PROM_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bot/clients/prom.h"
#include "tests/proc.h"

/*
 * A real Prometheus (Debian's /usr/bin/prometheus) holding a history the
 * test writes, FACTS.md section 2:
 *   1. prom_fixture_init: a temporary directory and an empty OpenMetrics file;
 *   2. prom_fixture_series / _series_fn / _text: the history, each series'
 *      samples in ascending time (promtool silently drops the others),
 *      timestamps in seconds;
 *   3. prom_fixture_start: "# EOF", `promtool tsdb create-blocks-from
 *      openmetrics -q --max-block-duration=720h` into the TSDB directory,
 *      then Prometheus on 127.0.0.1 and a free port with a configuration
 *      that has no scrape job (only the backfilled data: retention counts
 *      from the newest block, so old fixed timestamps stay), ready when
 *      /-/ready answers 200 (bounded); with tls_cert and tls_key set, over
 *      https (--web.config.file), ready when its log says so;
 *   4. prom_fixture_stop (Prometheus down, data kept; start again on the
 *      same port) and prom_fixture_release (stopped, directory removed).
 * Query it with time= at or before the history's end (a query at "now"
 * sees nothing: the lookback is 5 minutes).
 *
 * promtool and Prometheus inherit the test's niceness; every wait is
 * bounded (promtool: 300 s, for benchmark-sized histories; ready: 15 s).
 * A failure prints why (the tool's log) on stderr.
 */
struct prom_fixture {
	char *dir;                   /* /tmp/viva-prom-XXXXXX */
	char *om_path;               /* dir/history.om */
	FILE *om;                    /* open until the history is backfilled */
	size_t nseries, nsamples;    /* written so far */
	bool backfilled;
	struct proc proc;            /* Prometheus, while it runs */
	bool running;
	int port;
	char url[64];                /* http://127.0.0.1:PORT (https:// with TLS) once started */
	const char *tls_cert;        /* set before starting: serve https with this PEM */
	const char *tls_key;         /* certificate (for IP 127.0.0.1) and key */
	double backfill_s, ready_s;  /* how long promtool and the first start took */
	/*
	 * Set before starting (benchmarks): the TSDB directory, instead of
	 * dir/data; kept by prom_fixture_release. With `backfilled` set too
	 * it already holds the history: promtool is not run.
	 */
	const char *data_dir;
};

/* 0, or -1 (temporary directory or file not made). */
int prom_fixture_init(struct prom_fixture *f);
/*
 * One series: name{labels} with n samples in ascending time. labels is
 * OpenMetrics label text, already escaped (`app="svc-a",code="200"`), or
 * NULL / "" for none. NaN and +-Inf are written as Prometheus reads them.
 */
void prom_fixture_series(struct prom_fixture *f, const char *name, const char *labels,
			 const struct prom_point *pts, size_t n);
/* A series sampled every step seconds from start to end (both included):
 * the value fn(ud, t) at each time t. */
void prom_fixture_series_fn(struct prom_fixture *f, const char *name, const char *labels, int64_t start,
			    int64_t end, int64_t step, double (*fn)(void *ud, int64_t t), void *ud);
/* OpenMetrics lines as they are: no blank line, no "# EOF" (start adds it). */
void prom_fixture_text(struct prom_fixture *f, const char *text);

/* Backfill (the first time) and start Prometheus. 0, or -1 with why on stderr. */
int prom_fixture_start(struct prom_fixture *f);
/* Stop Prometheus (SIGTERM, bounded); its data stays for another start. */
void prom_fixture_stop(struct prom_fixture *f);
/* Stop and remove everything. */
void prom_fixture_release(struct prom_fixture *f);

#endif
