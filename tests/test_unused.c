/*
 * The unused-service audit (SPEC section 8) against a real Prometheus whose
 * history is backfilled with promtool (tests/prom_fixture.h), through a
 * recording proxy (tests/prom_proxy.h) that counts the queries and can go
 * down; deletions through the fake Kubernetes API server; the savings tally.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bot/clients/kube.h"
#include "bot/clients/prom.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "handlers/unused.h"
#include "store/services.h"
#include "store/unused.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"
#include "tests/prom_fixture.h"
#include "tests/prom_proxy.h"

#define END   1795554900LL          /* the test clock's now (tests/helpers.c) */
#define DAY   86400LL
#define STEP  300LL
#define START (END - 8 * DAY)
#define TOKEN "t0ken-for-the-fake"

static struct {
	struct prom_fixture fx;
	struct promproxy *proxy;
} G;

struct fx {
	struct test_env t;
	struct fake_kube *kube;
	char *dir;
};

/* ---- the history ---------------------------------------------------------------- */

struct counter {
	double per_step;
	int64_t until;     /* the counter stops growing here (a service idle since) */
};

static double counter_at(void *ud, int64_t t)
{
	const struct counter *c = ud;
	int64_t upto = t < c->until ? t : c->until;

	return c->per_step * (double)((upto - START) / STEP);
}

static double kafka_spike(void *ud, int64_t t)
{
	(void)ud;
	return t == START + DAY / 2 ? 105.0 : 0.0;   /* consumed once, before the window */
}

static double kafka_busy(void *ud, int64_t t)
{
	(void)ud;
	(void)t;
	return 10.5;
}

static double suspended_until(void *ud, int64_t t)
{
	return t < *(const int64_t *)ud ? 1 : 0;
}

static void http_series(const char *app, const char *code, double per_step, int64_t until)
{
	struct counter c = { per_step, until };
	char *l = xasprintf("reporter=\"destination\",destination_app=\"%s\",destination_workload_namespace=\"prod\","
			    "response_code=\"%s\"", app, code);

	prom_fixture_series_fn(&G.fx, "istio_requests_total", l, START, END, STEP, counter_at, &c);
	free(l);
}

static void write_history(void)
{
	int64_t always = END + 1, yesterday = END - DAY;

	http_series("http-ok", "200", 330, END + 1);
	http_series("http-5xx", "503", 30, END + 1);            /* traffic is traffic */
	http_series("http-idle", "200", 0, END + 1);            /* flat all along */
	http_series("http-recent", "200", 500, END - 7 * DAY - 3600);   /* idle for the last 7 days only */
	http_series("young-idle", "200", 0, END + 1);
	http_series("snoozed-idle", "200", 0, END + 1);
	prom_fixture_series_fn(&G.fx, "kafka_consumer_fetch_manager_records_consumed_rate",
			       "application=\"kafka-ok\",topic=\"t\"", START, END, STEP, kafka_busy, NULL);
	prom_fixture_series_fn(&G.fx, "kafka_consumer_fetch_manager_records_consumed_rate",
			       "application=\"kafka-spike\",topic=\"t\"", START, END, STEP, kafka_spike, NULL);
	/* a series that stops before the window */
	prom_fixture_series_fn(&G.fx, "kafka_consumer_fetch_manager_records_consumed_rate",
			       "application=\"kafka-stops\",topic=\"t\"", START, END - 7 * DAY - 3600, STEP, kafka_busy,
			       NULL);
	prom_fixture_series_fn(&G.fx, "kube_cronjob_spec_suspend", "namespace=\"prod\",cronjob=\"batch-sus-nightly\"",
			       START, END, STEP, suspended_until, &always);
	prom_fixture_series_fn(&G.fx, "kube_cronjob_spec_suspend", "namespace=\"prod\",cronjob=\"batch-res-nightly\"",
			       START, END, STEP, suspended_until, &yesterday);
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

/* ---- per test: the catalog, a cluster, Prometheus through the proxy --------------- */

static void spec(struct fx *f, const char *name, const char *pipeline, const char *extra, bool young)
{
	char *path = xasprintf("%s/%s.yaml", f->dir, name);
	char *text = xasprintf("name: %s\nowners: [U0OWNER]\ndeployManagers: [U0DM]\nrepository: { name: %s }\n"
			       "image: team/%s\npipeline: %s\nresources:\n  prod: { instance: 2, cpu: \"1.5\", "
			       "memory: 2048Mi }\n%s", name, name, name, pipeline, extra ? extra : "");

	test_write_file(path, text);
	if (!young) {
		/* written a month before the audit: old enough */
		struct timeval tv[2] = { { (time_t)(END - 30 * DAY), 0 }, { (time_t)(END - 30 * DAY), 0 } };
		assert_int_equal(utimes(path, tv), 0);
	}
	free(text);
	free(path);
}

static const char *const HTTP = "{ type: service, interface: http }";
static const char *const KAFKA = "{ type: service, interface: kafka }";
static const char *const BATCH = "{ type: batch }";
static const char *const NIGHTLY = "batches:\n  - { name: nightly, schedule: \"0 3 * * *\", command: [run] }\n";

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct prom_opts po = { .url = promproxy_url(G.proxy), .timeout_ms = 5000 };
	struct fake_kube_opts ko = { .tls = true, .token = TOKEN };
	char err[512];

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	free(f->t.cfg.pipelines_dir);
	f->t.cfg.pipelines_dir = xstrdup(f->dir);
	f->t.cfg.channel_audit = xstrdup("C0AUDIT");
	f->t.env.prom = prom_new(&po, err, sizeof(err));
	assert_non_null(f->t.env.prom);
	promproxy_go_down(G.proxy, 0, PROMPROXY_UP);
	f->kube = fake_kube_start(&ko);
	assert_non_null(f->kube);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}"), 0);
	test_cfg_add_cluster(&f->t.cfg, "dev", fake_kube_kubeconfig(f->kube));
	test_cfg_add_env(&f->t.cfg, "prod", "dev", "prod");
	assert_int_equal(kube_clients_new(&f->t.cfg, NULL, NULL, &f->t.env.kube, err, sizeof(err)), VIVA_OK);
	spec(f, "http-ok", HTTP, NULL, false);
	spec(f, "http-5xx", HTTP, NULL, false);
	spec(f, "http-idle", HTTP, NULL, false);
	spec(f, "http-recent", HTTP, NULL, false);
	spec(f, "http-absent", HTTP, NULL, false);
	spec(f, "young-idle", HTTP, NULL, true);
	spec(f, "snoozed-idle", HTTP, NULL, false);
	spec(f, "kafka-ok", KAFKA, NULL, false);
	spec(f, "kafka-spike", KAFKA, NULL, false);
	spec(f, "kafka-stops", KAFKA, NULL, false);
	spec(f, "batch-sus", BATCH, NIGHTLY, false);
	spec(f, "batch-res", BATCH, NIGHTLY, false);
	test_catalog_reload(&f->t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	prom_free(f->t.env.prom);
	f->t.env.prom = NULL;
	kube_clients_free(f->t.env.kube);
	f->t.env.kube = NULL;
	test_env_release(&f->t);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* "svc:evidence" of every row, sorted as reported, in one string. */
static char *flagged(const struct unused_result *r)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < json_array_size(r->rows); i++) {
		json_t *row = json_array_get(r->rows, i);
		char *next = xasprintf("%s%s=%s;", out, json_string_value(json_object_get(row, "service")),
				       json_string_value(json_object_get(row, "evidence")));

		free(out);
		out = next;
	}
	return out;
}

static void assert_flagged(struct fx *f, const char *want)
{
	struct unused_result r;
	char *got;

	assert_int_equal(unused_collect(&f->t.env, f->t.now, &r), VIVA_OK);
	got = flagged(&r);
	if (strcmp(got, want) != 0)
		fail_msg("flagged:\n got  %s\n want %s", got, want);
	free(got);
	unused_result_release(&r);
}

#define ALL_UNUSED \
	"http-absent=no requests recorded in 7 d;http-idle=0 requests in 7 d;http-recent=0 requests in 7 d;" \
	"snoozed-idle=0 requests in 7 d;kafka-spike=0 records consumed in 7 d;" \
	"kafka-stops=no consumption recorded in 7 d;batch-sus=1 CronJob suspended for all 7 d;"

/* ---- tests ---------------------------------------------------------------------------- */

/* Each rule flags exactly the idle: recent idleness counts, 5xx is traffic, a spike outside the window is not
 * consumption, a CronJob resumed yesterday is in use, a young service is left out; three queries. */
static void audit__history__flags_exactly_the_unused(void **state)
{
	struct fx *f = *state;
	struct promproxy_stats before, after;
	char *out, *text;

	promproxy_stats(G.proxy, &before);
	assert_flagged(f, ALL_UNUSED);
	promproxy_stats(G.proxy, &after);
	assert_int_equal(after.queries - before.queries, 3);
	assert_int_equal(after.explicit_time - before.explicit_time, 3);
	/* the report: to the audit channel, grouped by rule, owners mentioned, two buttons a row */
	out = test_command(&f->t, "U0ANYONE", "unused");
	if (!strstr(out, "7 of 12 services look unused; posted to <#C0AUDIT>"))
		fail_msg("%s", out);
	free(out);
	text = test_sent_text(&f->t, json_array_size(f->t.sent) - 2);
	assert_non_null(strstr(text, "HTTP: no request in 7 days"));
	assert_non_null(strstr(text, "*http-idle* · 0 requests in 7 d · owners <@U0OWNER>"));
	assert_non_null(strstr(text, "Batches: every CronJob suspended for 7 days"));
	assert_null(strstr(text, "young-idle"));
	free(text);
	{
		json_t *msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 2);
		char *dump = json_dumps(msg, 0);

		assert_non_null(strstr(dump, "\"action_id\": \"unused_keep\"") ? dump : strstr(dump, "\"action_id\":\"unused_keep\""));
		assert_non_null(strstr(dump, "unused_confirm"));
		free(dump);
	}
}

/* One query per rule, never one per service: 12 and 72 services cost the same. */
static void audit__72_services__same_three_queries(void **state)
{
	struct fx *f = *state;
	struct promproxy_stats a, b, c;
	struct unused_result r;

	promproxy_stats(G.proxy, &a);
	assert_int_equal(unused_collect(&f->t.env, f->t.now, &r), VIVA_OK);
	assert_int_equal(r.services, 12);
	unused_result_release(&r);
	promproxy_stats(G.proxy, &b);
	for (int i = 0; i < 60; i++) {
		char name[32];

		snprintf(name, sizeof(name), "more-%02d", i);
		spec(f, name, HTTP, NULL, false);
	}
	test_catalog_reload(&f->t);
	assert_int_equal(unused_collect(&f->t.env, f->t.now, &r), VIVA_OK);
	assert_int_equal(r.services, 72);
	assert_int_equal(json_array_size(r.rows), 67);
	unused_result_release(&r);
	promproxy_stats(G.proxy, &c);
	assert_int_equal(b.queries - a.queries, 3);
	assert_int_equal(c.queries - b.queries, 3);
}

/* Prometheus unreachable: nobody flagged, and the report says the data is missing. */
static void audit__prometheus_down__nobody_flagged(void **state)
{
	struct fx *f = *state;
	struct unused_result r;
	char *out, *text;

	promproxy_go_down(G.proxy, 0, PROMPROXY_REFUSE);
	assert_int_equal(unused_collect(&f->t.env, f->t.now, &r), VIVA_OK);
	assert_int_equal(json_array_size(r.rows), 0);
	assert_int_equal(json_array_size(r.missing), 3);
	unused_result_release(&r);
	out = test_command(&f->t, "U0ANYONE", "unused");
	assert_non_null(strstr(out, "0 of 12 services look unused (some data is missing)"));
	free(out);
	text = test_sent_text(&f->t, json_array_size(f->t.sent) - 2);
	assert_non_null(strstr(text, "Data missing, so nobody is flagged for these rules"));
	assert_non_null(strstr(text, "Prometheus at"));
	free(text);
	/* stopped in the middle: what came back counts, the rest flags nobody */
	promproxy_go_down(G.proxy, 0, PROMPROXY_UP);
	promproxy_go_down(G.proxy, 1, PROMPROXY_CLOSE);
	assert_flagged(f, "http-absent=no requests recorded in 7 d;http-idle=0 requests in 7 d;"
		       "http-recent=0 requests in 7 d;snoozed-idle=0 requests in 7 d;");
	promproxy_go_down(G.proxy, 0, PROMPROXY_UP);
}

/* A metric family with no series at all: that rule flags nobody. */
static void audit__missing_family__rule_flags_nobody(void **state)
{
	struct fx *f = *state;
	struct unused_result r;

	free(f->t.cfg.promql_unused_kafka);
	f->t.cfg.promql_unused_kafka = xstrdup("max by (application) (max_over_time(kafka_not_scraped_here[7d]))");
	assert_int_equal(unused_collect(&f->t.env, f->t.now, &r), VIVA_OK);
	assert_int_equal(json_array_size(r.missing), 1);
	assert_non_null(strstr(json_string_value(json_array_get(r.missing, 0)), "Kafka"));
	assert_non_null(strstr(json_string_value(json_array_get(r.missing, 0)), "no series at all"));
	unused_result_release(&r);
	assert_flagged(f, "http-absent=no requests recorded in 7 d;http-idle=0 requests in 7 d;"
		       "http-recent=0 requests in 7 d;snoozed-idle=0 requests in 7 d;"
		       "batch-sus=1 CronJob suspended for all 7 d;");
}

static json_t *click(const char *action_id, const char *svc)
{
	char *value = xasprintf("{\"svc\":\"%s\"}", svc);
	json_t *p = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:{s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}, "
			      "{s:s, s:s, s:[{s:s, s:s, s:s, s:{s:s, s:s}}]}]}, s:[{s:s, s:s, s:s, s:s}]}",
			      "type", "block_actions", "user", "id", "U0OWNER", "container", "type", "message",
			      "message_ts", "1795554900.000100", "channel_id", "C0AUDIT", "trigger_id", "1.2.3",
			      "message", "ts", "1795554900.000100", "text", "Unused audit", "blocks",
			      "type", "section", "block_id", "s1", "text", "type", "mrkdwn", "text", "row",
			      "type", "actions", "block_id", svc, "elements", "type", "button", "action_id", action_id,
			      "value", value, "text", "type", "plain_text", "text", "Still in use",
			      "actions", "action_id", action_id, "value", value, "type", "button", "block_id", svc);

	free(value);
	return p;
}

/* "Still in use": snoozed for snooze_days, the row says who kept it. */
static void keep__snoozed_and_row_updated(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *p = click("unused_keep", "snoozed-idle");
	int64_t until = 0;
	char *text;

	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	assert_int_equal(store_snooze_get(f->t.env.store, "snoozed-idle", &until, NULL), VIVA_OK);
	assert_int_equal(until, f->t.now + 30 * DAY);
	text = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(text, "Kept by <@U0DM>"));
	free(text);
	{
		json_t *m = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1);
		char *dump = json_dumps(m, 0);

		assert_null(strstr(dump, "\"actions\""));   /* the buttons went */
		free(dump);
	}
	json_decref(p);
	assert_flagged(f, "http-absent=no requests recorded in 7 d;http-idle=0 requests in 7 d;"
		       "http-recent=0 requests in 7 d;kafka-spike=0 records consumed in 7 d;"
		       "kafka-stops=no consumption recorded in 7 d;batch-sus=1 CronJob suspended for all 7 d;");
	/* a stranger may not keep it */
	p = click("unused_keep", "http-idle");
	test_ctx(&f->t, &ctx, "U0STRANGER");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EDENIED);
	json_decref(p);
}

/* Confirm: the guarded deletion through the cluster, into the savings tally; refused while CronJobs remain. */
static void confirm__deleted_and_counted_refused_with_cronjobs(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	struct store_service sv;
	json_t *p;
	char *out, *text;

	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	p = click("unused_confirm", "http-idle");
	test_ctx(&f->t, &ctx, "U0OWNER");
	/* prod: the name is typed in a form */
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	{
		json_t *last = json_array_get(f->t.sent, json_array_size(f->t.sent) - 1), *sub;

		assert_non_null(json_object_get(last, "view"));
		sub = json_pack("{s:s, s:{s:s}, s:{s:s, s:O, s:{s:{s:{s:{s:s}}}}}}", "type", "view_submission", "user",
				"id", "U0OWNER", "view", "callback_id", "pipeline_delete_confirm", "private_metadata",
				json_object_get(json_object_get(last, "view"), "private_metadata"), "state", "values",
				"confirm_name", "value", "value", "http-idle");
		test_ctx(&f->t, &ctx, "U0OWNER");
		assert_int_equal(dispatch_interaction(&ctx, sub), VIVA_OK);
		json_decref(sub);
	}
	json_decref(p);
	assert_null(fake_kube_get(f->kube, "deployments", "prod", "http-idle-blue"));
	assert_int_equal(store_service_get(f->t.env.store, "http-idle", &sv), VIVA_OK);
	assert_true(sv.deleted_at > 0);
	store_service_release(&sv);
	out = test_command(&f->t, "U0ANYONE", "savings");
	/* 2 instances x 1.5 cores, 2 x 2 GiB */
	if (!strstr(out, "1 service removed, 3 cores, 4 GiB reclaimed") || !strstr(out, "confirmed by <@U0OWNER> (unused audit)"))
		fail_msg("%s", out);
	free(out);
	/* a batch with its CronJob still there: refused, and the row says so */
	p = click("unused_confirm", "batch-sus");
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EBUSY);
	text = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(text, "cannot be deleted while batches are connected"));
	free(text);
	json_decref(p);
	assert_int_equal(store_service_get(f->t.env.store, "batch-sus", &sv), VIVA_OK);
	assert_int_equal(sv.deleted_at, 0);
	store_service_release(&sv);
	/* the audit skips what was deleted */
	assert_flagged(f, "http-absent=no requests recorded in 7 d;http-recent=0 requests in 7 d;"
		       "snoozed-idle=0 requests in 7 d;kafka-spike=0 records consumed in 7 d;"
		       "kafka-stops=no consumption recorded in 7 d;batch-sus=1 CronJob suspended for all 7 d;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(audit__history__flags_exactly_the_unused, setup, teardown),
		cmocka_unit_test_setup_teardown(audit__72_services__same_three_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(audit__prometheus_down__nobody_flagged, setup, teardown),
		cmocka_unit_test_setup_teardown(audit__missing_family__rule_flags_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(keep__snoozed_and_row_updated, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm__deleted_and_counted_refused_with_cronjobs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
