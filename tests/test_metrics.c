/* Process metrics: counters, the ack histogram, labels, the text format, threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/metrics.h"
#include "bot/lib/alloc.h"

/* Is `line` (without its newline) one whole line of text? */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		bool at_start = p == text || p[-1] == '\n';
		if (at_start && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

static void assert_line(const char *text, const char *line)
{
	if (!has_line(text, line))
		fail_msg("missing line: %s\n--- output ---\n%s", line, text);
}

/* How many lines begin with prefix. */
static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;
	size_t k = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, k) == 0)
			n++;
	return n;
}

static int reset(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

static void counters__increments_and_gauges__render_exact_lines(void **state)
{
	char *out;
	(void)state;

	metrics_duplicate();
	metrics_duplicate();
	metrics_reconnect();
	metrics_jobs_queued(3);
	metrics_jobs_queued(-1);
	metrics_jobs_running(1);
	metrics_connected(1);
	metrics_job_done("ok");
	metrics_job_done("ok");
	metrics_job_done("rejected");

	out = metrics_render();
	assert_line(out, "# HELP viva_envelopes_duplicate_total Envelopes skipped because they were already processed.");
	assert_line(out, "# TYPE viva_envelopes_duplicate_total counter");
	assert_line(out, "viva_envelopes_duplicate_total 2");
	assert_line(out, "# TYPE viva_reconnects_total counter");
	assert_line(out, "viva_reconnects_total 1");
	assert_line(out, "# TYPE viva_jobs_queued gauge");
	assert_line(out, "viva_jobs_queued 2");
	assert_line(out, "viva_jobs_running 1");
	assert_line(out, "# TYPE viva_connected gauge");
	assert_line(out, "viva_connected 1");
	assert_line(out, "viva_acks_total 0");
	assert_line(out, "# TYPE viva_jobs_total counter");
	assert_line(out, "viva_jobs_total{result=\"ok\"} 2");
	assert_line(out, "viva_jobs_total{result=\"rejected\"} 1");
	/* families with no series yet still announce themselves */
	assert_line(out, "# TYPE viva_envelopes_total counter");
	assert_int_equal(count_prefix(out, "viva_envelopes_total{"), 0);
	free(out);

	metrics_connected(0);
	metrics_jobs_running(-1);
	metrics_jobs_running(-1);   /* a gauge may go below zero; it is not clamped */
	out = metrics_render();
	assert_line(out, "viva_connected 0");
	assert_line(out, "viva_jobs_running -1");
	free(out);

	metrics_reset();
	out = metrics_render();
	assert_line(out, "viva_envelopes_duplicate_total 0");
	assert_line(out, "viva_jobs_queued 0");
	assert_int_equal(count_prefix(out, "viva_jobs_total{"), 0);
	free(out);
}

static void histogram__observations__land_in_cumulative_buckets(void **state)
{
	char *out;
	(void)state;

	metrics_ack(50);        /* 0.00005 s */
	metrics_ack(100);       /* exactly on the 0.0001 bound: le is inclusive */
	metrics_ack(-5);        /* clock step: counted as 0 */
	metrics_ack(101);
	metrics_ack(3000);
	metrics_ack(1000000);   /* exactly 1 s */
	metrics_ack(2000000);   /* beyond every bound */

	out = metrics_render();
	assert_line(out, "# HELP viva_ack_latency_seconds Time from receiving an envelope to writing its ack.");
	assert_line(out, "# TYPE viva_ack_latency_seconds histogram");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.0001\"} 3");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.00025\"} 4");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.0005\"} 4");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.001\"} 4");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.0025\"} 4");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.005\"} 5");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.01\"} 5");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.05\"} 5");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.1\"} 5");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"0.5\"} 5");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"1\"} 6");
	assert_line(out, "viva_ack_latency_seconds_bucket{le=\"+Inf\"} 7");
	/* 50 + 100 + 0 + 101 + 3000 + 1000000 + 2000000 us */
	assert_line(out, "viva_ack_latency_seconds_sum 3.003251");
	assert_line(out, "viva_ack_latency_seconds_count 7");
	assert_line(out, "viva_acks_total 7");
	assert_int_equal(count_prefix(out, "viva_ack_latency_seconds_bucket{"), 12);
	free(out);
}

static void labels__quotes_backslashes_newlines__escaped(void **state)
{
	char *out;
	char longv[400];
	char expect[256];
	(void)state;

	metrics_envelope("slash_commands");
	metrics_envelope("slash_commands");
	metrics_envelope("a\"b\\c\nd");
	metrics_envelope("bad\xff\xfe utf8");
	metrics_envelope(NULL);
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	metrics_envelope(longv);
	metrics_api_call("chat.postMessage", 200);
	metrics_api_call("chat.postMessage", 200);
	metrics_api_call("chat.postMessage", 429);
	metrics_api_call("response_url", 0);
	metrics_http_request("registry", 200);
	metrics_http_request("registry", 0);
	metrics_http_request("kube:prod", 503);

	out = metrics_render();
	assert_line(out, "viva_envelopes_total{type=\"slash_commands\"} 2");
	assert_line(out, "viva_envelopes_total{type=\"a\\\"b\\\\c\\nd\"} 1");
	assert_line(out, "viva_envelopes_total{type=\"bad?? utf8\"} 1");
	assert_line(out, "viva_envelopes_total{type=\"unknown\"} 1");
	/* long values are cut at 128 bytes */
	snprintf(expect, sizeof(expect), "viva_envelopes_total{type=\"%.128s\"} 1", longv);
	assert_line(out, expect);
	assert_line(out, "viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"200\"} 2");
	assert_line(out, "viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"429\"} 1");
	assert_line(out, "viva_slack_api_calls_total{method=\"response_url\",status=\"error\"} 1");
	assert_line(out, "viva_http_requests_total{client=\"registry\",status=\"200\"} 1");
	assert_line(out, "viva_http_requests_total{client=\"registry\",status=\"error\"} 1");
	assert_line(out, "viva_http_requests_total{client=\"kube:prod\",status=\"503\"} 1");
	free(out);
}

/*
 * Every sample line belongs to a family announced before it by exactly one
 * HELP and one TYPE line, and the output is whole lines with no blank ones.
 */
static void render__every_sample__follows_its_help_and_type(void **state)
{
	char *out, *copy, *save = NULL;
	char family[128] = "";
	int samples = 0, families = 0;
	(void)state;

	metrics_envelope("events_api");
	metrics_ack(20);
	metrics_api_call("views.open", 200);
	metrics_job_done("failed");

	out = metrics_render();
	assert_true(strlen(out) > 0);
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_null(strstr(out, "\n\n"));
	copy = xstrdup(out);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			const char *name = line + 7;
			size_t n = strcspn(name, " ");
			assert_true(n < sizeof(family));
			memcpy(family, name, n);
			family[n] = '\0';
			families++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			const char *type;
			assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
			type = line + 7 + strlen(family);
			assert_true(strcmp(type, " counter") == 0 || strcmp(type, " gauge") == 0 ||
				    strcmp(type, " histogram") == 0);
			continue;
		}
		assert_int_not_equal(line[0], '#');
		/* the sample's name starts with the current family's name */
		assert_int_equal(strncmp(line, family, strlen(family)), 0);
		assert_true(line[strlen(family)] == ' ' || line[strlen(family)] == '{' ||
			    line[strlen(family)] == '_');
		samples++;
	}
	/* viva_http_requests_total and viva_http_connections_refused_total too, and
	 * viva_deploys_total and viva_deploy_duration_seconds */
	assert_int_equal(families, 16);
	assert_true(samples >= 20);
	free(copy);
	free(out);
}

#define NTHREADS 8
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	static const char *types[] = { "events_api", "slash_commands", "interactive" };
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < PER_THREAD; i++) {
		metrics_duplicate();
		metrics_ack(i % 3 == 0 ? 50 : 20000);
		metrics_envelope(types[(i + id) % 3]);
		metrics_api_call("chat.update", 200);
		metrics_jobs_queued(1);
		metrics_jobs_queued(-1);
	}
	return NULL;
}

static void threads__concurrent_increments__exact_totals(void **state)
{
	pthread_t th[NTHREADS];
	char *out, line[160];
	long total = (long)NTHREADS * PER_THREAD;
	long small = 0;
	(void)state;

	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, hammer, (void *)(intptr_t)t), 0);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (int i = 0; i < PER_THREAD; i++)
		small += i % 3 == 0;
	small *= NTHREADS;

	out = metrics_render();
	snprintf(line, sizeof(line), "viva_envelopes_duplicate_total %ld", total);
	assert_line(out, line);
	snprintf(line, sizeof(line), "viva_ack_latency_seconds_count %ld", total);
	assert_line(out, line);
	snprintf(line, sizeof(line), "viva_ack_latency_seconds_bucket{le=\"0.0001\"} %ld", small);
	assert_line(out, line);
	snprintf(line, sizeof(line), "viva_ack_latency_seconds_bucket{le=\"0.05\"} %ld", total);
	assert_line(out, line);
	snprintf(line, sizeof(line), "viva_slack_api_calls_total{method=\"chat.update\",status=\"200\"} %ld", total);
	assert_line(out, line);
	/* (i + id) % 3 over 8 threads x 20000 splits evenly enough to compute */
	{
		long per[3] = { 0, 0, 0 };
		for (int t = 0; t < NTHREADS; t++)
			for (int i = 0; i < PER_THREAD; i++)
				per[(i + t) % 3]++;
		snprintf(line, sizeof(line), "viva_envelopes_total{type=\"events_api\"} %ld", per[0]);
		assert_line(out, line);
		snprintf(line, sizeof(line), "viva_envelopes_total{type=\"slash_commands\"} %ld", per[1]);
		assert_line(out, line);
		snprintf(line, sizeof(line), "viva_envelopes_total{type=\"interactive\"} %ld", per[2]);
		assert_line(out, line);
	}
	assert_line(out, "viva_jobs_queued 0");
	free(out);
}

static void labels__beyond_256_sets__counted_as_other(void **state)
{
	char name[32], *out;
	(void)state;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		metrics_envelope(name);
		snprintf(name, sizeof(name), "m%d", i);
		metrics_api_call(name, 200);
	}
	metrics_envelope("t0");      /* an existing set keeps counting on its own */
	metrics_envelope("t299");    /* one that overflowed stays in "other" */

	out = metrics_render();
	assert_int_equal(count_prefix(out, "viva_envelopes_total{"), 257);
	assert_line(out, "viva_envelopes_total{type=\"t0\"} 2");
	assert_line(out, "viva_envelopes_total{type=\"t255\"} 1");
	assert_line(out, "viva_envelopes_total{type=\"other\"} 45");
	assert_false(has_line(out, "viva_envelopes_total{type=\"t256\"} 1"));
	assert_int_equal(count_prefix(out, "viva_slack_api_calls_total{"), 257);
	assert_line(out, "viva_slack_api_calls_total{method=\"other\",status=\"other\"} 44");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counters__increments_and_gauges__render_exact_lines, reset, reset),
		cmocka_unit_test_setup_teardown(histogram__observations__land_in_cumulative_buckets, reset, reset),
		cmocka_unit_test_setup_teardown(labels__quotes_backslashes_newlines__escaped, reset, reset),
		cmocka_unit_test_setup_teardown(render__every_sample__follows_its_help_and_type, reset, reset),
		cmocka_unit_test_setup_teardown(threads__concurrent_increments__exact_totals, reset, reset),
		cmocka_unit_test_setup_teardown(labels__beyond_256_sets__counted_as_other, reset, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
