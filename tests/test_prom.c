/*
 * bot/clients/prom.c against a REAL Prometheus (Debian's 2.42, started by
 * tests/prom_fixture.c on a history backfilled with promtool: a few series
 * over 8 days at 5-minute steps ending at END), through tests/prom_proxy.c
 * where a test needs to see the requests (POST, time=, Authorization), to
 * require credentials, to go down mid-way, or to answer canned bodies
 * (malformed and hostile answers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/clients/prom.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "tests/helpers.h"
#include "tests/http_front.h"
#include "tests/prom_fixture.h"
#include "tests/prom_proxy.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define END      1795554900LL            /* the history's last sample (2026-11-25) */
#define STEP     300
#define START    (END - 8 * 86400LL)     /* 8 days: 2305 samples a series */
#define DAY      86400LL

#define USER     "viewer"
#define PASSWORD "pw-SECRET-41"
#define TOKEN    "tok-SECRET-42"

static struct {
	struct prom_fixture fx;
	struct promproxy *plain;     /* records, passes everything on */
	struct promproxy *basic;     /* requires USER:PASSWORD */
	struct promproxy *bearer;    /* requires TOKEN */
	struct promproxy *canned;    /* no Prometheus behind: canned answers */
	int devnull;
} G;

/* ---- the history ---------------------------------------------------------------- */

struct counter {
	double per_step;             /* a linear counter: this much more every step */
};

static double counter_at(void *ud, int64_t t)
{
	return ((const struct counter *)ud)->per_step * (double)((t - START) / STEP);
}

static double constant(void *ud, int64_t t)
{
	(void)t;
	return *(const double *)ud;
}

/* A kafka consumption gauge: 10.5, with a spike of 105 half a day in, outside [END-7d, END]. */
static double kafka_rate(void *ud, int64_t t)
{
	(void)ud;
	return t == START + DAY / 2 ? 105.0 : 10.5;
}

static void write_history(struct prom_fixture *f)
{
	static const struct { const char *app, *code; double per_step; } counters[] = {
		{ "svc-a", "200", 330 },    /* 2016 steps x 330 = 665280 in 7 days */
		{ "svc-b", "200", 660 },    /* 1330560 */
		{ "svc-5xx", "500", 30 },   /* only errors: 60480 */
		{ "svc-idle", "200", 0 },   /* flat */
	};
	double five = 5;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		struct counter c = { counters[i].per_step }, sum = { counters[i].per_step * 20 };
		char *l = xasprintf("reporter=\"destination\",destination_app=\"%s\","
				    "destination_workload_namespace=\"default\",response_code=\"%s\"",
				    counters[i].app, counters[i].code);
		char *d = xasprintf("reporter=\"destination\",destination_app=\"%s\"", counters[i].app);

		prom_fixture_series_fn(f, "istio_requests_total", l, START, END, STEP, counter_at, &c);
		/* a mean duration of 20 ms; 0/0 for the idle one */
		prom_fixture_series_fn(f, "istio_request_duration_milliseconds_sum", d, START, END, STEP,
				       counter_at, &sum);
		prom_fixture_series_fn(f, "istio_request_duration_milliseconds_count", d, START, END, STEP,
				       counter_at, &c);
		free(l);
		free(d);
	}
	prom_fixture_series_fn(f, "kafka_consumer_fetch_manager_records_consumed_rate",
			       "application=\"svc-a\",topic=\"topic-x\"", START, END, STEP, kafka_rate, NULL);
	/* a gauge written point by point, and one through raw text */
	prom_fixture_series(f, "kube_cronjob_spec_suspend", "namespace=\"default\",cronjob=\"svc-a-batch\"",
			    (const struct prom_point[]){ { (double)(END - 600), 1 }, { (double)(END - 300), 1 },
							 { (double)END, 1 } }, 3);
	prom_fixture_series_fn(f, "viva_fixture_constant", NULL, END - 3600, END, STEP, constant, &five);
	prom_fixture_text(f, "viva_fixture_text{kind=\"raw\"} 7 1795554900\n");
}

/* ---- helpers --------------------------------------------------------------------- */

static struct prom *client_ex(const char *url, const struct prom_opts *extra)
{
	struct prom_opts o = extra ? *extra : (struct prom_opts){ 0 };
	char err[512];
	struct prom *p;

	o.url = url;
	if (!o.timeout_ms)
		o.timeout_ms = 5000;
	p = prom_new(&o, err, sizeof(err));
	if (!p)
		fail_msg("prom_new(%s): %s", url, err);
	return p;
}

static struct prom *client(const char *url)
{
	return client_ex(url, NULL);
}

static void assert_contains(const char *s, const char *needle)
{
	if (!s || !strstr(s, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, s ? s : "(null)");
}

/* The one-line contract of prom_last_error(). */
static void assert_error(int rc, int want, const char *needle)
{
	const char *e = prom_last_error();

	if (rc != want)
		fail_msg("rc %d (%s), want %d (%s): %s", rc, viva_strerror(rc), want, viva_strerror(want), e);
	assert_contains(e, needle);
	assert_null(strchr(e, '\n'));
	assert_null(strstr(e, "SECRET"));
}

/* The series whose label `name` is `value`. */
static const struct prom_series *find(const struct prom_result *r, const char *name, const char *value)
{
	for (size_t i = 0; i < r->n; i++)
		if (prom_label(&r->series[i], name) && strcmp(prom_label(&r->series[i], name), value) == 0)
			return &r->series[i];
	fail_msg("no series with %s=\"%s\" among %zu", name, value, r->n);
	return NULL;
}

static void query_ok(struct prom *p, const char *q, int64_t at, struct prom_result *r)
{
	int rc = prom_query(p, q, at, r);

	if (rc != VIVA_OK)
		fail_msg("%s: %s", q, prom_last_error());
}

/* Log lines go to a file while fn runs; its text (caller frees). */
static char *logged_during(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/viva-prom-log-XXXXXX", *text = NULL;
	int fd = mkstemp(path);
	enum log_level old = log_get_level();

	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);
	fn(arg);
	log_set_level(old);
	log_set_fd(G.devnull);
	close(fd);
	assert_int_equal(read_file(path, &text, NULL), VIVA_OK);
	unlink(path);
	return text;
}

/* ---- results against the real Prometheus -------------------------------------------- */

static void prom__instant_vector__increase_over_7d_exact(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;

	(void)state;
	query_ok(p, "sum by (destination_app, destination_workload_namespace) "
		    "(increase(istio_requests_total{reporter=\"destination\"}[7d]))", END, &r);
	assert_int_equal(r.type, PROM_VECTOR);
	assert_int_equal(r.n, 4);
	assert_int_equal(json_array_size(r.warnings), 0);
	assert_true(find(&r, "destination_app", "svc-a")->value.v == 665280.0);
	assert_true(find(&r, "destination_app", "svc-b")->value.v == 1330560.0);
	/* errors are traffic too */
	assert_true(find(&r, "destination_app", "svc-5xx")->value.v == 60480.0);
	assert_true(find(&r, "destination_app", "svc-idle")->value.v == 0.0);
	assert_true(find(&r, "destination_app", "svc-a")->value.t == (double)END);
	assert_string_equal(prom_label(find(&r, "destination_app", "svc-b"), "destination_workload_namespace"),
			    "default");
	assert_null(prom_label(&r.series[0], "nope"));
	assert_null(r.series[0].points);
	prom_result_release(&r);

	/* the spike half a day in lies outside [END-7d, END] */
	query_ok(p, "max by (application) (max_over_time(kafka_consumer_fetch_manager_records_consumed_rate[7d]))",
		 END, &r);
	assert_int_equal(r.n, 1);
	assert_true(find(&r, "application", "svc-a")->value.v == 10.5);
	prom_result_release(&r);
	query_ok(p, "max_over_time(kafka_consumer_fetch_manager_records_consumed_rate[8d])", END, &r);
	assert_true(r.series[0].value.v == 105.0);
	prom_result_release(&r);

	query_ok(p, "min_over_time(kube_cronjob_spec_suspend[7d]) == 1", END, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(prom_label(&r.series[0], "cronjob"), "svc-a-batch");
	prom_result_release(&r);
	query_ok(p, "viva_fixture_text + viva_fixture_constant", END, &r);
	assert_int_equal(r.n, 0);   /* different label sets: nothing matches */
	prom_result_release(&r);
	query_ok(p, "viva_fixture_text", END, &r);
	assert_true(r.n == 1 && r.series[0].value.v == 7.0);
	prom_result_release(&r);
	prom_free(p);
}

static void prom__query_range__matrix_in_time_order(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;
	const struct prom_series *s;

	(void)state;
	assert_int_equal(prom_query_range(p, "istio_requests_total{destination_app=\"svc-a\"}", END - 3600, END, STEP,
					  &r), VIVA_OK);
	assert_int_equal(r.type, PROM_MATRIX);
	assert_int_equal(r.n, 1);
	s = &r.series[0];
	assert_string_equal(prom_label(s, "__name__"), "istio_requests_total");
	assert_int_equal(s->npoints, 13);
	for (size_t i = 0; i < s->npoints; i++) {
		double t = (double)(END - 3600 + (int64_t)i * STEP);

		assert_true(s->points[i].t == t);
		assert_true(s->points[i].v == 330.0 * ((t - (double)START) / STEP));
	}
	assert_true(isnan(s->value.v));
	prom_result_release(&r);

	/* a rate, one series per source: what a traffic chart draws */
	assert_int_equal(prom_query_range(p, "sum by (destination_app) (rate(istio_requests_total[5m]))", END - DAY,
					  END, 3600, &r), VIVA_OK);
	assert_int_equal(r.n, 4);
	s = find(&r, "destination_app", "svc-b");
	assert_int_equal(s->npoints, 25);
	assert_true(fabs(s->points[24].v - 2.2) < 1e-9);
	prom_result_release(&r);

	/* nothing in the range: an empty matrix */
	assert_int_equal(prom_query_range(p, "nothing_here_total", END - 3600, END, STEP, &r), VIVA_OK);
	assert_int_equal(r.type, PROM_MATRIX);
	assert_int_equal(r.n, 0);
	prom_result_release(&r);
	prom_free(p);
}

static void prom__scalar_string_and_special_values(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;

	(void)state;
	query_ok(p, "time()", END, &r);
	assert_int_equal(r.type, PROM_SCALAR);
	assert_int_equal(r.n, 1);
	assert_true(r.series[0].value.v == (double)END);
	assert_int_equal(json_object_size(r.series[0].labels), 0);
	prom_result_release(&r);
	query_ok(p, "0/0", END, &r);
	assert_true(r.type == PROM_SCALAR && isnan(r.series[0].value.v));
	prom_result_release(&r);
	query_ok(p, "1/0", END, &r);
	assert_true(isinf(r.series[0].value.v) && r.series[0].value.v > 0);
	prom_result_release(&r);
	query_ok(p, "-1/0", END, &r);
	assert_true(isinf(r.series[0].value.v) && r.series[0].value.v < 0);
	prom_result_release(&r);
	query_ok(p, "\"hello, viva\"", END, &r);
	assert_int_equal(r.type, PROM_STRING);
	assert_string_equal(r.text, "hello, viva");
	assert_true(isnan(r.series[0].value.v));
	prom_result_release(&r);
	prom_free(p);
}

static void prom__zero_over_zero__nan_in_a_vector(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;

	(void)state;
	query_ok(p, "sum by (destination_app) (increase(istio_request_duration_milliseconds_sum[7d])) / "
		    "sum by (destination_app) (increase(istio_request_duration_milliseconds_count[7d]))", END, &r);
	assert_int_equal(r.n, 4);
	assert_true(find(&r, "destination_app", "svc-a")->value.v == 20.0);
	assert_true(isnan(find(&r, "destination_app", "svc-idle")->value.v));
	prom_result_release(&r);
	prom_free(p);
}

static void prom__absent_series__empty_vector(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;

	(void)state;
	query_ok(p, "sum by (application) (nothing_here_total)", END, &r);
	assert_int_equal(r.type, PROM_VECTOR);
	assert_int_equal(r.n, 0);
	assert_null(r.series);
	prom_result_release(&r);
	/* the history ends at END: an instant query at "now" sees nothing (why time= is always set) */
	query_ok(p, "istio_requests_total", END + DAY, &r);
	assert_int_equal(r.n, 0);
	prom_result_release(&r);
	prom_free(p);
}

static void prom__malformed_query__bad_data_in_prometheus_words(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;
	char *want = xasprintf("Prometheus at %s refused the query (bad_data): ", G.fx.url);

	(void)state;
	assert_error(prom_query(p, "sum(", END, &r), VIVA_EINVAL, want);
	assert_contains(prom_last_error(), "unclosed left parenthesis");
	assert_int_equal(r.n, 0);
	prom_result_release(&r);
	/* a query Prometheus cannot run: execution */
	assert_error(prom_query(p, "istio_requests_total + on(reporter) istio_requests_total", END, &r),
		     VIVA_EREMOTE, "could not run the query (execution): ");
	assert_contains(prom_last_error(), "found duplicate series for the match group");
	prom_result_release(&r);
	free(want);
	prom_free(p);
}

static void prom__bad_arguments__refused_before_sending(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;

	(void)state;
	assert_error(prom_query(p, "", END, &r), VIVA_EINVAL, "an empty query");
	assert_error(prom_query(p, NULL, END, &r), VIVA_EINVAL, "an empty query");
	assert_error(prom_query_range(p, "up", END, END - 1, STEP, &r), VIVA_EINVAL, "needs 0 <= start <= end");
	assert_error(prom_query_range(p, "up", END - 60, END, 0, &r), VIVA_EINVAL, "a step > 0");
	assert_error(prom_query_range(p, "up", END - 30 * DAY, END, 60, &r), VIVA_EINVAL,
		     "more than 11000 steps a series (Prometheus's limit)");
	assert_error(prom_query_range(p, "up", -60, END, 60, &r), VIVA_EINVAL, "needs 0 <= start");
	assert_int_equal(r.n, 0);
	prom_result_release(&r);
	assert_int_equal(prom_queries_sent(p), 0);
	assert_int_equal(prom_query(NULL, "up", END, &r), VIVA_EINVAL);
	prom_result_release(&r);
	/* exactly at the limit is Prometheus's to answer */
	assert_int_equal(prom_query_range(p, "up", END - 11000 * 60, END, 60, &r), VIVA_OK);
	assert_int_equal(r.type, PROM_MATRIX);
	prom_result_release(&r);
	assert_int_equal(prom_queries_sent(p), 1);
	prom_free(p);
}

/* ---- requests, as Prometheus's front sees them --------------------------------------- */

static void prom__every_query_a_post_with_explicit_time__counted(void **state)
{
	struct promproxy_stats before, st;
	struct prom *p = client(promproxy_url(G.plain));
	struct prom_result r;
	char *form, *t;

	(void)state;
	promproxy_stats(G.plain, &before);
	query_ok(p, "up", END, &r);
	prom_result_release(&r);
	form = promproxy_last_form(G.plain);
	t = hf_param(form, "time");
	assert_string_equal(t, "1795554900");
	free(t);
	free(form);
	assert_int_equal(prom_query_range(p, "up", END - 600, END, STEP, &r), VIVA_OK);
	prom_result_release(&r);
	form = promproxy_last_form(G.plain);
	assert_contains(form, "query=up&start=1795554300&end=1795554900&step=300");
	free(form);
	promproxy_stats(G.plain, &st);
	assert_int_equal(st.queries - before.queries, 2);
	assert_int_equal(st.range_queries - before.range_queries, 1);
	assert_int_equal(st.posts - before.posts, 2);
	assert_int_equal(st.explicit_time - before.explicit_time, 2);
	assert_int_equal(st.with_authorization, 0);
	assert_int_equal(prom_queries_sent(p), 2);
	prom_free(p);
}

static void prom__10kb_query__sent_whole_as_a_form_body(void **state)
{
	struct prom *p = client(promproxy_url(G.plain));
	struct prom_result r;
	struct strbuf q;
	char *form, *sent;

	(void)state;
	/* 1300 alternatives that match nothing, then svc-a: special characters too */
	sb_init(&q);
	sb_adds(&q, "sum(istio_requests_total{destination_app=~\"");
	for (int i = 0; i < 1300; i++)
		sb_addf(&q, "nx-%04d|", i);
	sb_adds(&q, "svc-a\", response_code!~\"5..\"})");
	assert_true(q.len > 10000);
	query_ok(p, q.buf, END, &r);
	assert_int_equal(r.n, 1);
	assert_true(r.series[0].value.v == 330.0 * (8 * DAY / STEP));
	prom_result_release(&r);
	form = promproxy_last_form(G.plain);
	sent = hf_param(form, "query");
	assert_string_equal(sent, q.buf);
	free(sent);
	free(form);
	sb_release(&q);
	prom_free(p);
}

static void prom__threads__share_one_client(void **state);

struct basic_case {
	struct prom *good, *wrong, *none;
};

static void basic_calls(void *arg)
{
	struct basic_case *c = arg;
	struct prom_result r;

	query_ok(c->good, "time()", END, &r);
	prom_result_release(&r);
	assert_error(prom_query(c->wrong, "time()", END, &r), VIVA_EAUTH,
		     "refused viva's credentials (HTTP 401; check PROMETHEUS_USER/PROMETHEUS_PASSWORD)");
	prom_result_release(&r);
	assert_error(prom_query(c->none, "time()", END, &r), VIVA_EAUTH,
		     "requires credentials: set PROMETHEUS_USER and PROMETHEUS_PASSWORD, or PROMETHEUS_TOKEN");
	assert_contains(prom_last_error(), promproxy_url(G.basic));
	prom_result_release(&r);
}

static void prom__basic_auth__sent_checked_and_never_logged(void **state)
{
	struct basic_case c;
	struct promproxy_stats before, st;
	char *want = hf_basic(USER, PASSWORD), *logged;

	(void)state;
	promproxy_stats(G.basic, &before);
	c.good = client_ex(promproxy_url(G.basic), &(struct prom_opts){ .user = USER, .password = PASSWORD });
	c.wrong = client_ex(promproxy_url(G.basic), &(struct prom_opts){ .user = USER, .password = "nope-SECRET" });
	c.none = client(promproxy_url(G.basic));
	logged = logged_during(basic_calls, &c);
	promproxy_stats(G.basic, &st);
	assert_int_equal(st.queries - before.queries, 3);
	assert_int_equal(st.unauthorized - before.unauthorized, 2);
	assert_int_equal(st.with_authorization - before.with_authorization, 2);
	assert_string_equal(st.last_authorization, "");
	/* the good client's header was the one the proxy wanted (it answered) */
	assert_contains(logged, "op=query method=POST status=200");
	assert_contains(logged, "status=401");
	if (strstr(logged, "SECRET") || strstr(logged, want + 6) || strstr(logged, "Basic") ||
	    strstr(logged, "http://"))
		fail_msg("a credential or URL was logged:\n%s", logged);
	free(logged);
	free(want);
	prom_free(c.good);
	prom_free(c.wrong);
	prom_free(c.none);
}

static void bearer_calls(void *arg)
{
	struct basic_case *c = arg;
	struct prom_result r;
	struct promproxy_stats st;

	query_ok(c->good, "time()", END, &r);
	prom_result_release(&r);
	promproxy_stats(G.bearer, &st);
	assert_string_equal(st.last_authorization, "Bearer " TOKEN);
	assert_error(prom_query(c->wrong, "time()", END, &r), VIVA_EAUTH,
		     "refused viva's credentials (HTTP 401; check PROMETHEUS_TOKEN)");
	prom_result_release(&r);
}

static void prom__bearer_token__sent_checked_and_never_logged(void **state)
{
	struct basic_case c = { 0 };
	char *logged;

	(void)state;
	c.good = client_ex(promproxy_url(G.bearer), &(struct prom_opts){ .token = TOKEN });
	c.wrong = client_ex(promproxy_url(G.bearer), &(struct prom_opts){ .token = "other-SECRET" });
	logged = logged_during(bearer_calls, &c);
	if (strstr(logged, "SECRET") || strstr(logged, "Bearer"))
		fail_msg("a credential was logged:\n%s", logged);
	free(logged);
	prom_free(c.good);
	prom_free(c.wrong);
}

/* ---- Prometheus going down -------------------------------------------------------------- */

static void prom__prometheus_stopped__eunavail_naming_it_then_back(void **state)
{
	struct prom *p = client(G.fx.url);
	struct prom_result r;
	char *want = xasprintf("Prometheus at %s is not reachable (connection refused)", G.fx.url);

	(void)state;
	query_ok(p, "time()", END, &r);
	prom_result_release(&r);
	prom_fixture_stop(&G.fx);
	assert_error(prom_query(p, "time()", END, &r), VIVA_EUNAVAIL, want);
	assert_int_equal(r.n, 0);
	prom_result_release(&r);
	assert_error(prom_query_range(p, "up", END - 600, END, STEP, &r), VIVA_EUNAVAIL, want);
	prom_result_release(&r);
	/* back on the same port, with the same history */
	assert_int_equal(prom_fixture_start(&G.fx), 0);
	query_ok(p, "sum(increase(istio_requests_total{destination_app=\"svc-a\"}[7d]))", END, &r);
	assert_true(r.series[0].value.v == 665280.0);
	prom_result_release(&r);
	assert_int_equal(prom_queries_sent(p), 4);
	free(want);
	prom_free(p);
}

static void prom__front_goes_down_midway__each_way_a_clear_error(void **state)
{
	static const struct {
		enum promproxy_down how;
		int rc;
		const char *says;
	} ways[] = {
		{ PROMPROXY_REFUSE, VIVA_EUNAVAIL, "is not reachable (connection refused)" },
		{ PROMPROXY_CLOSE, VIVA_EUNAVAIL, "is not reachable (it closed the connection without an answer)" },
		{ PROMPROXY_503, VIVA_EUNAVAIL, "is unavailable (HTTP 503)" },
		{ PROMPROXY_HANG, VIVA_ETIMEOUT, "did not answer within 400 ms" },
	};
	struct prom *p = client_ex(promproxy_url(G.plain), &(struct prom_opts){ .timeout_ms = 400 });
	struct promproxy_stats before, st;
	struct prom_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		promproxy_stats(G.plain, &before);
		/* an audit's three queries: the first answered, then Prometheus is gone */
		promproxy_go_down(G.plain, 1, ways[i].how);
		query_ok(p, "time()", END, &r);
		prom_result_release(&r);
		assert_error(prom_query(p, "time()", END, &r), ways[i].rc, ways[i].says);
		assert_contains(prom_last_error(), promproxy_url(G.plain));
		prom_result_release(&r);
		assert_int_equal(prom_query(p, "up", END, &r), ways[i].rc);
		prom_result_release(&r);
		promproxy_stats(G.plain, &st);
		/* a query is not sent again: only a connection never made is retried */
		if (ways[i].how != PROMPROXY_REFUSE)
			assert_int_equal(st.failed - before.failed, 2);
		promproxy_go_down(G.plain, 0, PROMPROXY_UP);
	}
	query_ok(p, "time()", END, &r);
	prom_result_release(&r);
	assert_int_equal(prom_queries_sent(p), 4 * 3 + 1);
	prom_free(p);
}

/* ---- malformed and hostile answers ----------------------------------------------------------- */

#define JSON "Content-Type: application/json\r\n"
#define OK_VECTOR(result) "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":" result "}}"

static void prom__malformed_answers__clear_error_no_crash(void **state)
{
	static const struct {
		long status;
		const char *headers, *body;
		int rc;
		const char *says;
	} cases[] = {
		{ 200, "Content-Type: text/html\r\n", "<html>proxy login</html>", VIVA_EREMOTE,
		  "sent an answer that is not the API's JSON (query, 24 bytes)" },
		{ 200, JSON, "", VIVA_EREMOTE, "is not the API's JSON" },
		{ 200, JSON, "[1,2]", VIVA_EREMOTE, "is not the API's JSON" },
		{ 200, JSON, "{\"status\":\"success\"", VIVA_EREMOTE, "is not the API's JSON" },
		{ 200, JSON, "{\"status\":\"success\"}", VIVA_EREMOTE, "malformed answer (query): no data object" },
		{ 200, JSON, "{\"status\":\"fine\",\"data\":{}}", VIVA_EREMOTE, "no status \"success\" or \"error\"" },
		{ 200, JSON, "{\"data\":{}}", VIVA_EREMOTE, "no status" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"result\":[]}}", VIVA_EREMOTE, "no data.resultType" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":7,\"result\":[]}}", VIVA_EREMOTE,
		  "no data.resultType" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"histogram\",\"result\":[]}}",
		  VIVA_EREMOTE, "an unknown data.resultType" },
		{ 200, JSON, OK_VECTOR("{}"), VIVA_EREMOTE, "data.result is not an array" },
		{ 200, JSON, OK_VECTOR("[7]"), VIVA_EREMOTE, "series 0: data.result[i] is not an object" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\"1\"]},{\"metric\":{\"a\":1},\"value\":[1,\"1\"]}]"),
		  VIVA_EREMOTE, "series 1: data.result[i].metric is not an object of strings" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":[],\"value\":[1,\"1\"]}]"), VIVA_EREMOTE, "not an object of strings" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{}}]"), VIVA_EREMOTE, "value is not [time, \"number\"]" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,2]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[\"1\",\"2\"]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\"2\",3]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\"lots\"]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\"0x10\"]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\" 1\"]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"value\":[1,\"\"]}]"), VIVA_EREMOTE, "value is not [time" },
		{ 200, JSON, OK_VECTOR("[{\"metric\":{},\"histogram\":[1,{}]}]"), VIVA_EREMOTE, "native histograms" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{}}]}}",
		  VIVA_EREMOTE, "data.result[i].values is not an array" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
			     "\"values\":[[1,\"1\"],[2,null]]}]}}", VIVA_EREMOTE, "values holds something that is not" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[]}}", VIVA_EREMOTE,
		  "data.result is not [time, \"number\"]" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":{}}}", VIVA_EREMOTE,
		  "data.result is not [time, \"number\"]" },
		{ 200, JSON, "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,2]}}", VIVA_EREMOTE,
		  "data.result is not [time, \"text\"]" },
		{ 200, JSON, "{\"status\":\"success\",\"warnings\":\"careful\",\"data\":{\"resultType\":\"vector\","
			     "\"result\":[]}}", VIVA_EREMOTE, "warnings is not an array" },
		{ 200, JSON, "{\"status\":\"success\",\"warnings\":[1],\"data\":{\"resultType\":\"vector\","
			     "\"result\":[]}}", VIVA_EREMOTE, "warnings holds something that is not a string" },
		/* the API's error envelope, whatever the status */
		{ 503, JSON, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in expression "
			     "evaluation\"}", VIVA_ETIMEOUT, "gave up on the query (timeout): query timed out" },
		{ 503, JSON, "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":\"TSDB not ready\"}",
		  VIVA_EUNAVAIL, "is unavailable: TSDB not ready" },
		{ 500, JSON, "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"boom\"}", VIVA_EREMOTE,
		  "failed the query (internal, HTTP 500): boom" },
		{ 422, JSON, "{\"status\":\"error\",\"errorType\":\"canceled\"}", VIVA_EREMOTE,
		  "failed the query (canceled, HTTP 422): (no message)" },
		{ 200, JSON, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"odd\"}", VIVA_EINVAL,
		  "refused the query (bad_data): odd" },
		{ 400, JSON, "{\"status\":\"error\",\"error\":7}", VIVA_EREMOTE, "failed the query ((none), HTTP 400)" },
		{ 400, JSON, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"line\\none\\r\\u0007\"}",
		  VIVA_EINVAL, "refused the query (bad_data): line?one??" },
		/* HTTP failures without it: a proxy's words */
		{ 404, "Content-Type: text/plain\r\n", "404 page not found\n", VIVA_EREMOTE,
		  "answered HTTP 404 to /api/v1/query: is the URL right (with the prefix of a Thanos or Mimir front" },
		{ 502, "Content-Type: text/html\r\n", "<html>bad gateway</html>", VIVA_EUNAVAIL,
		  "is unavailable (HTTP 502)" },
		{ 504, NULL, "", VIVA_EUNAVAIL, "is unavailable (HTTP 504)" },
		{ 500, NULL, "oops", VIVA_EREMOTE, "answered HTTP 500 to /api/v1/query" },
		{ 403, JSON, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"tenant\"}", VIVA_EAUTH,
		  "requires credentials" },
		{ 429, "Retry-After: 0\r\n", "slow down", VIVA_EBUSY, "is rate limiting viva (HTTP 429)" },
		{ 302, "Location: http://login.example/\r\n", "", VIVA_EREMOTE, "answered HTTP 302" },
	};
	struct prom *p = client(promproxy_url(G.canned));
	struct prom_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		promproxy_set_answer(G.canned, cases[i].status, cases[i].headers, cases[i].body,
				     strlen(cases[i].body));
		rc = prom_query(p, "up", END, &r);
		if (rc != cases[i].rc || !strstr(prom_last_error(), cases[i].says))
			fail_msg("case %zu (HTTP %ld %s): rc %d, error \"%s\"; want %d with \"%s\"", i, cases[i].status,
				 cases[i].body, rc, prom_last_error(), cases[i].rc, cases[i].says);
		assert_error(rc, cases[i].rc, promproxy_url(G.canned));
		assert_int_equal(r.n, 0);
		assert_null(r.series);
		prom_result_release(&r);
	}
	promproxy_set_answer(G.canned, 0, NULL, NULL, 0);
	prom_free(p);
}

static void prom__odd_but_valid_answers__read_as_prometheus_means(void **state)
{
	struct prom *p = client(promproxy_url(G.canned));
	struct prom_result r;
	static const char vec[] = OK_VECTOR("[{\"metric\":{\"v\":\"float\"},\"value\":[1795554900.5,\"1984454.9999999998\"]},"
					    "{\"metric\":{\"v\":\"inf\"},\"value\":[1795554900,\"+Inf\"]},"
					    "{\"metric\":{\"v\":\"-inf\"},\"value\":[1795554900,\"-Inf\"]},"
					    "{\"value\":[1795554900,\"NaN\"]},"
					    "{\"metric\":{\"v\":\"exp\"},\"value\":[1795554900,\"1e+21\"]}]");
	static const char unsorted[] =
		"{\"status\":\"success\",\"warnings\":[\"partial: one store down\"],\"data\":{\"resultType\":\"matrix\","
		"\"result\":[{\"metric\":{\"a\":\"b\"},\"values\":[[30,\"3\"],[10,\"1\"],[20,\"2\"]]},"
		"{\"metric\":{\"a\":\"empty\"},\"values\":[]}]},\"extra\":{\"ignored\":true}}";

	(void)state;
	promproxy_set_answer(G.canned, 200, JSON, vec, strlen(vec));
	query_ok(p, "up", END, &r);
	assert_int_equal(r.n, 5);
	assert_true(find(&r, "v", "float")->value.v == 1984454.9999999998);
	assert_true(find(&r, "v", "float")->value.t == 1795554900.5);
	assert_true(isinf(find(&r, "v", "inf")->value.v) && find(&r, "v", "inf")->value.v > 0);
	assert_true(isinf(find(&r, "v", "-inf")->value.v) && find(&r, "v", "-inf")->value.v < 0);
	assert_true(isnan(r.series[3].value.v));
	assert_int_equal(json_object_size(r.series[3].labels), 0);
	assert_true(find(&r, "v", "exp")->value.v == 1e21);
	prom_result_release(&r);

	promproxy_set_answer(G.canned, 200, JSON, unsorted, strlen(unsorted));
	assert_int_equal(prom_query_range(p, "up", 10, 30, 10, &r), VIVA_OK);
	assert_int_equal(r.type, PROM_MATRIX);
	assert_int_equal(json_array_size(r.warnings), 1);
	assert_string_equal(json_string_value(json_array_get(r.warnings, 0)), "partial: one store down");
	assert_int_equal(r.series[0].npoints, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_true(r.series[0].points[i].t == 10.0 * (double)(i + 1));
		assert_true(r.series[0].points[i].v == (double)(i + 1));
	}
	assert_int_equal(r.series[1].npoints, 0);
	prom_result_release(&r);
	promproxy_set_answer(G.canned, 0, NULL, NULL, 0);
	prom_free(p);
}

static void prom__huge_answer__erange_within_the_cap(void **state)
{
	struct prom *p = client_ex(promproxy_url(G.canned), &(struct prom_opts){ .max_bytes = 64 << 10 });
	struct prom_result r;
	struct strbuf big;
	char *want;

	(void)state;
	/* a valid answer, too big: 5000 series */
	sb_init(&big);
	sb_adds(&big, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
	for (int i = 0; i < 5000; i++)
		sb_addf(&big, "%s{\"metric\":{\"destination_app\":\"svc-%05d\"},\"value\":[1795554900,\"%d\"]}",
			i ? "," : "", i, i);
	sb_adds(&big, "]}}");
	promproxy_set_answer(G.canned, 200, JSON, big.buf, big.len);
	want = xasprintf("Prometheus at %s sent an answer larger than 65536 bytes (query)", promproxy_url(G.canned));
	assert_error(prom_query(p, "up", END, &r), VIVA_ERANGE, want);
	prom_result_release(&r);
	prom_free(p);
	/* the default cap takes it */
	p = client(promproxy_url(G.canned));
	query_ok(p, "up", END, &r);
	assert_int_equal(r.n, 5000);
	assert_true(find(&r, "destination_app", "svc-04999")->value.v == 4999.0);
	prom_result_release(&r);
	/* deep nesting is refused by the parser, not the stack */
	big.len = 0;
	for (int i = 0; i < 100000; i++)
		sb_addc(&big, '[');
	promproxy_set_answer(G.canned, 200, JSON, big.buf, big.len);
	assert_error(prom_query(p, "up", END, &r), VIVA_EREMOTE, "is not the API's JSON");
	prom_result_release(&r);
	promproxy_set_answer(G.canned, 0, NULL, NULL, 0);
	sb_release(&big);
	free(want);
	prom_free(p);
}

/* ---- the client itself ---------------------------------------------------------------------- */

static void prom__new__refuses_unusable_options_in_one_line(void **state)
{
	static const struct {
		struct prom_opts o;
		const char *says;
	} cases[] = {
		{ { .url = NULL }, "no Prometheus URL (set PROMETHEUS_URL or prometheus.url)" },
		{ { .url = "" }, "no Prometheus URL" },
		{ { .url = "ftp://prom:9090" }, "PROMETHEUS_URL / prometheus.url: expected an http:// or https:// URL" },
		{ { .url = "http://" }, "the URL has no host" },
		{ { .url = "http://prom :9090" }, "expected an http:// or https:// URL" },
		{ { .url = "http://admin:pw-SECRET@prom:9090" }, "credentials belong in PROMETHEUS_USER/PROMETHEUS_PASSWORD "
								 "or PROMETHEUS_TOKEN, not in the URL" },
		{ { .url = "http://prom:9090/?x=1" }, "the URL must not have a query" },
		{ { .url = "http://prom:9090", .user = "u" }, "PROMETHEUS_USER is set without PROMETHEUS_PASSWORD" },
		{ { .url = "http://prom:9090", .password = "pw-SECRET" }, "PROMETHEUS_PASSWORD is set without "
									  "PROMETHEUS_USER" },
		{ { .url = "http://prom:9090", .user = "u", .password = "pw-SECRET", .token = "t-SECRET" },
		  "PROMETHEUS_USER and PROMETHEUS_TOKEN are both set" },
		{ { .url = "http://prom:9090", .token = "t SECRET" }, "PROMETHEUS_TOKEN must not contain spaces" },
		{ { .url = "http://prom:9090", .token = "t\r\nX-SECRET: 1" }, "must not contain spaces or control" },
		{ { .url = "https://prom:9090", .ca_file = "/nonexistent/ca.pem" },
		  "prometheus.ca_file /nonexistent/ca.pem: No such file or directory" },
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(err, 'x', sizeof(err));
		assert_null(prom_new(&cases[i].o, err, sizeof(err)));
		assert_contains(err, cases[i].says);
		assert_null(strchr(err, '\n'));
		assert_null(strstr(err, "SECRET"));
	}
}

static void prom__url_prefix__kept_and_named(void **state)
{
	struct prom *p;
	struct prom_result r;
	char *url = xasprintf("%s/thanos/", promproxy_url(G.plain)), *peer;

	(void)state;
	p = client(url);
	peer = xasprintf("Prometheus at %s/thanos", promproxy_url(G.plain));
	assert_string_equal(prom_peer(p), peer);
	/* Prometheus has no /thanos prefix: its 404 says which URL to check */
	assert_error(prom_query(p, "up", END, &r), VIVA_EREMOTE, "answered HTTP 404 to /api/v1/query: is the URL right");
	assert_contains(prom_last_error(), peer);
	prom_result_release(&r);
	free(peer);
	free(url);
	prom_free(p);
	prom_free(NULL);
	prom_result_release(NULL);
	assert_string_equal(prom_peer(NULL), "Prometheus");
	assert_int_equal(prom_queries_sent(NULL), 0);
}

/* https with a private CA: trusted through ca_file only */
static void prom__https_private_ca__trusted_through_ca_file(void **state)
{
	struct prom_fixture tls;
	char *dir = test_tmpdir(), *cmd, *out, *cert, *key;
	char *want;
	struct prom *p;
	struct prom_result r;
	int st;

	(void)state;
	cmd = xasprintf("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			"-keyout key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1",
			dir);
	out = test_run(cmd, &st);
	if (st != 0)
		fail_msg("openssl: %s", out);
	cert = xasprintf("%s/cert.pem", dir);
	key = xasprintf("%s/key.pem", dir);
	assert_int_equal(prom_fixture_init(&tls), 0);
	tls.tls_cert = cert;
	tls.tls_key = key;
	prom_fixture_series_fn(&tls, "viva_fixture_constant", "tls=\"yes\"", END - 600, END, STEP, constant,
			       &(double){ 3 });
	assert_int_equal(prom_fixture_start(&tls), 0);
	assert_true(strncmp(tls.url, "https://127.0.0.1:", 18) == 0);

	p = client_ex(tls.url, &(struct prom_opts){ .ca_file = cert });
	query_ok(p, "viva_fixture_constant", END, &r);
	assert_true(r.n == 1 && r.series[0].value.v == 3.0);
	prom_result_release(&r);
	prom_free(p);
	/* the system's CAs do not know it: said, with what to set */
	p = client(tls.url);
	want = xasprintf("Prometheus at %s is not reachable: its certificate is not trusted", tls.url);
	assert_error(prom_query(p, "viva_fixture_constant", END, &r), VIVA_EUNAVAIL, want);
	assert_contains(prom_last_error(), "set prometheus.ca_file");
	prom_free(p);

	prom_fixture_release(&tls);
	test_rm_rf(dir);
	free(want);
	free(cert);
	free(key);
	free(out);
	free(cmd);
	free(dir);
}

struct worker {
	struct prom *p;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 5; i++) {
		struct prom_result r;

		if (prom_query(w->p, "sum(increase(istio_requests_total{destination_app=\"svc-b\"}[7d]))", END, &r) ==
		    VIVA_OK && r.n == 1 && r.series[0].value.v == 1330560.0)
			w->ok++;
		prom_result_release(&r);
	}
	return NULL;
}

static void prom__threads__share_one_client(void **state)
{
	struct prom *p = client_ex(G.fx.url, &(struct prom_opts){ .max_concurrent = 2 });
	struct worker w[4];
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .p = p };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, 5);
	}
	assert_int_equal(prom_queries_sent(p), 20);
	prom_free(p);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	G.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	log_set_fd(G.devnull);
	log_set_level(getenv("VIVA_TEST_LOG") ? LOG_DEBUG : LOG_OFF);
	if (prom_fixture_init(&G.fx) != 0)
		return -1;
	write_history(&G.fx);
	if (prom_fixture_start(&G.fx) != 0) {
		fprintf(stderr, "test_prom: no Prometheus (is Debian's prometheus installed? `make deps`)\n");
		return -1;
	}
	fprintf(stderr, "test_prom: %zu series, %zu samples backfilled in %.2f s; Prometheus ready in %.2f s\n",
		G.fx.nseries, G.fx.nsamples, G.fx.backfill_s, G.fx.ready_s);
	G.plain = promproxy_start(&(struct promproxy_opts){ .upstream = G.fx.url });
	G.basic = promproxy_start(&(struct promproxy_opts){ .upstream = G.fx.url, .user = USER, .password = PASSWORD });
	G.bearer = promproxy_start(&(struct promproxy_opts){ .upstream = G.fx.url, .token = TOKEN });
	G.canned = promproxy_start(&(struct promproxy_opts){ .upstream = NULL });
	return G.plain && G.basic && G.bearer && G.canned ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	promproxy_stop(G.plain);
	promproxy_stop(G.basic);
	promproxy_stop(G.bearer);
	promproxy_stop(G.canned);
	prom_fixture_release(&G.fx);
	log_set_fd(2);
	if (G.devnull >= 0)
		close(G.devnull);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prom__instant_vector__increase_over_7d_exact),
		cmocka_unit_test(prom__query_range__matrix_in_time_order),
		cmocka_unit_test(prom__scalar_string_and_special_values),
		cmocka_unit_test(prom__zero_over_zero__nan_in_a_vector),
		cmocka_unit_test(prom__absent_series__empty_vector),
		cmocka_unit_test(prom__malformed_query__bad_data_in_prometheus_words),
		cmocka_unit_test(prom__bad_arguments__refused_before_sending),
		cmocka_unit_test(prom__every_query_a_post_with_explicit_time__counted),
		cmocka_unit_test(prom__10kb_query__sent_whole_as_a_form_body),
		cmocka_unit_test(prom__basic_auth__sent_checked_and_never_logged),
		cmocka_unit_test(prom__bearer_token__sent_checked_and_never_logged),
		cmocka_unit_test(prom__front_goes_down_midway__each_way_a_clear_error),
		cmocka_unit_test(prom__malformed_answers__clear_error_no_crash),
		cmocka_unit_test(prom__odd_but_valid_answers__read_as_prometheus_means),
		cmocka_unit_test(prom__huge_answer__erange_within_the_cap),
		cmocka_unit_test(prom__new__refuses_unusable_options_in_one_line),
		cmocka_unit_test(prom__url_prefix__kept_and_named),
		cmocka_unit_test(prom__threads__share_one_client),
		cmocka_unit_test(prom__https_private_ca__trusted_through_ca_file),
		cmocka_unit_test(prom__prometheus_stopped__eunavail_naming_it_then_back),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
