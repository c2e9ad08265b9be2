/*
 * End to end: blue-green deploys and the scheduled lag audit of `viva
 * serve` as a process (tests/serve_fx.h: an empty working directory, the
 * fake Slack), against the fake Kubernetes API server run in this process
 * over TLS with a bearer token, its controllers ticking so that rollouts
 * progress. Deploy operations, a kill -9 in the middle of one, and the
 * scheduler's slots across a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"
#include "tests/serve_fx.h"

#define TOKEN "t0ken-for-viva-serve"
#define REPO  "127.0.0.1:5000/team/svc-a"
#define TAG   "2190-develop-aaaaaaa"
/* viva's environment: a fast rollout poll; the registry host images are named after */
#define ENV   "VIVA_DEPLOY_POLL_MS=50\nREGISTRY_URL=http://127.0.0.1:5000"
#define FINISHED "msg=\"operation finished\" op=1 kind=deploy-bluegreen target=svc-a/prod state=done"

/* ---- the fixture --------------------------------------------------------------------------- */

/* viva.yaml: the fake as cluster dev, namespace prod as environment prod. */
static char *deploy_yaml(struct fx *f, const char *more)
{
	return xasprintf("channels: { deploy: C0DEPLOY }\n"
			 "clusters: { dev: { kubeconfig: %s } }\n"
			 "environments: { prod: { cluster: dev, namespace: prod } }\n"
			 "thresholds: { rollback_window: 0s }\n%s", fake_kube_kubeconfig(f->kube), more ? more : "");
}

static void start_deploy_viva(struct fx *f, const char *more_yaml)
{
	char *yaml = deploy_yaml(f, more_yaml);

	fx_start_viva(f, ENV, yaml);
	free(yaml);
}

/* The fake Kubernetes API server ticking every 20 ms, namespace prod, spec svc-a (2 replicas in prod). */
static struct fx *new_fx(void)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = 20 };
	char *path;

	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	assert_non_null(f->kube);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
					"\"metadata\":{\"name\":\"prod\"}}"), 0);
	path = xasprintf("%s/pipelines/svc-a.yaml", f->dir);
	test_write_file(path, "name: svc-a\nowners: [U0ALICE]\ndeployManagers: [U0DM]\nrepository: { name: svc-a }\n"
			"image: team/svc-a\nresources:\n  prod: { instance: 2, cpu: \"0.5\", memory: 512Mi }\n");
	free(path);
	fx_start_fake(f);
	return f;
}

/* The deployment's status.availableReplicas reaches want (bounded). */
static bool wait_available(struct fx *f, const char *name, const char *want, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;
	char buf[64];

	while (now_ms_mono() < end) {
		json_t *d = fake_kube_get(f->kube, "deployments", "prod", name);
		bool ok = d && strcmp(test_json_path(d, "status.availableReplicas", buf, sizeof(buf)), want) == 0;

		json_decref(d);
		if (ok)
			return true;
		fx_sleep_ms(20);
	}
	return false;
}

/*
 * viva serving, and svc-a's objects created as viva creates them:
 * `/viva pipeline apply --all` through Slack. Blue is live with `latest`,
 * 2/2 available; green is at zero.
 */
static int setup_deploy(void **state)
{
	struct fx *f = new_fx();

	*state = f;
	start_deploy_viva(f, NULL);
	if (fx_wait_link(f) != 0)
		return -1;
	json_decref(fx_send_slash(f, "pipeline apply --all", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 15000), 1);
	test_kube_expect(f->kube, "services", "prod", "svc-a", "spec.selector.viva/slot", "blue");
	assert_true(wait_available(f, "svc-a-blue", "2", 10000));
	test_kube_expect(f->kube, "deployments", "prod", "svc-a-green", "spec.replicas", "0");
	fake_kube_reset_counts(f->kube);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Pods of TAG never get ready: green's rollout waits. */
static void hold_green(struct fx *f)
{
	fake_kube_never_ready(f->kube, REPO ":" TAG, true);
}

/*
 * Let green get ready. The fake's kubelet decides readiness once, when a
 * pod starts, so green's unready pods are removed: its ReplicaSet makes
 * new ones, which start ready.
 */
static void release_green(struct fx *f)
{
	json_t *pods, *p;
	size_t i;

	fake_kube_never_ready(f->kube, REPO ":" TAG, false);
	pods = fake_kube_list(f->kube, "pods", "prod", "app=svc-a,viva/slot=green");
	assert_true(json_array_size(pods) > 0);
	json_array_foreach(pods, i, p)
		fake_kube_remove(f->kube, "pods", "prod",
				 json_string_value(json_object_get(json_object_get(p, "metadata"), "name")));
	json_decref(pods);
}

static size_t count_in(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static const char *body_str(json_t *call, const char *key)
{
	return json_string_value(json_object_get(json_object_get(call, "body"), key));
}

/* The calls of method in C0DEPLOY whose body (JSON-encoded) has needle. */
static json_t *deploy_calls(struct fx *f, const char *method, const char *needle)
{
	json_t *c = fx_calls(f, method), *out = json_array(), *v;
	size_t i;

	json_array_foreach(c, i, v) {
		char *b = json_dumps(json_object_get(v, "body"), 0);

		if (b && strcmp(body_str(v, "channel") ? body_str(v, "channel") : "", "C0DEPLOY") == 0 &&
		    (!needle || strstr(b, needle)))
			json_array_append(out, v);
		free(b);
	}
	json_decref(c);
	return out;
}

/* The position of the first of updates whose body has needle, or -1. */
static int update_index(json_t *updates, const char *needle)
{
	json_t *v;
	size_t i;

	json_array_foreach(updates, i, v) {
		char *b = json_dumps(json_object_get(v, "body"), 0);
		bool hit = b && strstr(b, needle);

		free(b);
		if (hit)
			return (int)i;
	}
	return -1;
}

/* Does the message (a call's body) carry a button with this action_id? */
static bool has_button(json_t *call, const char *action_id)
{
	json_t *blocks = json_object_get(json_object_get(call, "body"), "blocks"), *b;
	size_t i;

	json_array_foreach(blocks, i, b) {
		const char *a = json_string_value(json_object_get(json_object_get(b, "accessory"), "action_id"));

		if (a && strcmp(a, action_id) == 0)
			return true;
	}
	return false;
}

/*
 * The operation's one message in C0DEPLOY, once its last word (the old
 * colour scaled to zero) is in: one chat.postMessage, and its updates
 * (returned, in order), every one on that message's ts and accepted.
 */
static json_t *the_message(struct fx *f)
{
	json_t *last = fx_wait_call_with(f, "chat.update", "blue scaled to zero after the rollback window", 5000);
	json_t *posts = deploy_calls(f, "chat.postMessage", "deploy-bluegreen #1 on svc-a/prod"), *v;
	json_t *all = deploy_calls(f, "chat.update", NULL);
	const char *ts;
	size_t i;

	assert_non_null(last);
	json_decref(last);
	assert_int_equal(json_array_size(posts), 1);
	ts = json_string_value(json_object_get(json_object_get(json_array_get(posts, 0), "response"), "ts"));
	assert_non_null(ts);
	json_array_foreach(all, i, v) {
		assert_string_equal(body_str(v, "ts"), ts);
		assert_true(json_is_true(json_object_get(json_object_get(v, "response"), "ok")));
	}
	if (getenv("DEBUG_TEST")) {
		fprintf(stderr, "POST %s\n", body_str(json_array_get(posts, 0), "text"));
		json_array_foreach(all, i, v)
			fprintf(stderr, "UPDATE %s\n", body_str(v, "text"));
	}
	json_decref(posts);
	return all;
}

/*
 * In the API server's request log: green's image was set once, before
 * `released` (the request count when green was let get ready); after it,
 * green was read, and only then the one write of Service svc-a.
 */
static void expect_switched_after(struct fx *f, int released)
{
	json_t *log = fake_kube_requests(f->kube);
	int set = test_request_index(log, "PATCH", "deployments", "svc-a-green", 0);
	int sw = test_request_index(log, "PATCH", "services", "svc-a", 0), read = -1;

	for (int i = released; (i = test_request_index(log, "GET", "deployments", "svc-a-green", i + 1)) >= 0 && i < sw;)
		read = i;
	assert_true(set >= 0 && set < released);
	assert_int_equal(test_request_index(log, "PATCH", "deployments", "svc-a-green", set + 1), -1);
	assert_true(sw > released);
	assert_true(read > released && read < sw);
	assert_int_equal(test_request_index(log, "PATCH", "services", "svc-a", sw + 1), -1);
	json_decref(log);
	test_kube_expect(f->kube, "services", "prod", "svc-a", "spec.selector.viva/slot", "green");
	test_kube_expect(f->kube, "deployments", "prod", "svc-a-green", "spec.template.spec.containers.0.image",
			 REPO ":" TAG);
	test_kube_expect(f->kube, "deployments", "prod", "svc-a-green", "status.availableReplicas", "2");
	test_kube_expect(f->kube, "deployments", "prod", "svc-a-blue", "spec.replicas", "0");
}

/* Traffic still on blue, and never written: green is not ready. Returns the request count. */
static int expect_not_switched(struct fx *f)
{
	json_t *log;
	int n;

	fx_sleep_ms(500);   /* ten polls of an unready green */
	test_kube_expect(f->kube, "services", "prod", "svc-a", "spec.selector.viva/slot", "blue");
	assert_int_equal(fake_kube_count(f->kube, "patch", "services"), 0);
	log = fake_kube_requests(f->kube);
	n = (int)json_array_size(log);
	json_decref(log);
	return n;
}

/* ---- blue-green ------------------------------------------------------------------------------------ */

/*
 * `/viva deploy bluegreen svc-a TAG prod`: one message in the deploy
 * channel, updated in place with green's progress and then the outcome with
 * a rollback button; the Service is switched to green only once green is
 * ready (held unready until the test lets it go: no Service write before,
 * one after, in the API server's request log).
 */
static void serve_deploy__bluegreen__message_updated_in_place(void **state)
{
	struct fx *f = *state;
	json_t *c, *updates;
	int released, progress, live;

	hold_green(f);
	json_decref(fx_send_slash(f, "deploy bluegreen svc-a " TAG " prod", NULL));
	/* the wait step reports green's rollout: its pods run, none ready */
	c = fx_wait_call_with(f, "chat.update", "deploy-bluegreen #1 on svc-a/prod: green: 0/2 ready", 15000);
	assert_non_null(c);
	json_decref(c);
	released = expect_not_switched(f);
	release_green(f);
	assert_true(proc_wait_log(&f->viva, FINISHED, 15000));
	expect_switched_after(f, released);
	/* Slack: one message, updated in place: progress, then the outcome with its button */
	updates = the_message(f);
	progress = update_index(updates, "green: 0/2 ready");
	live = update_index(updates, "green is live with `" TAG "`");
	assert_true(progress >= 0 && live > progress);
	assert_true(has_button(json_array_get(updates, (size_t)live), "rollback"));
	c = json_array_get(updates, json_array_size(updates) - 1);
	assert_non_null(strstr(body_str(c, "text"), "green is live with `" TAG "`"));
	assert_non_null(strstr(body_str(c, "text"), "blue scaled to zero"));
	assert_true(has_button(c, "rollback"));
	/* who did it, a mention in the text too (the notification's words), not an escaped "&lt;@" */
	c = json_array_get(updates, (size_t)live);
	assert_non_null(strstr(body_str(c, "text"), "by <@U0ALICE> in "));
	json_decref(updates);
	fx_db_expect(f, "SELECT result FROM audit_log WHERE action = 'deploy bluegreen'", "ok");
}

/*
 * kill -9 while the blue-green waits for green: nothing was switched; the
 * restarted viva takes the operation over from the wait, says so in the
 * same message, switches once green is ready, and finishes it once; the
 * audit row says it finished after a restart.
 */
static void serve_deploy__kill_9_mid_bluegreen__resumed_and_reported(void **state)
{
	struct fx *f = *state;
	json_t *c, *updates;
	char *l = NULL, *path;
	int released, waiting, resumed, live;

	hold_green(f);
	json_decref(fx_send_slash(f, "deploy bluegreen svc-a " TAG " prod", NULL));
	c = fx_wait_call_with(f, "chat.update", "deploy-bluegreen #1 on svc-a/prod: green: 0/2 ready", 15000);
	assert_non_null(c);
	json_decref(c);
	/* steps plan and "set the idle colour's image" recorded: it waits in step 3 */
	fx_db_expect(f, "SELECT step || ' ' || state FROM operations WHERE id = 1", "2 running");
	fx_kill9(f);
	test_kube_expect(f->kube, "services", "prod", "svc-a", "spec.selector.viva/slot", "blue");
	path = xasprintf("%s/viva.log", f->dir);   /* the killed viva's log, before the restart starts a new one */
	assert_int_equal(read_file(path, &l, NULL), 0);
	assert_non_null(strstr(l, "msg=\"operation started\" op=1 kind=deploy-bluegreen target=svc-a/prod user=U0ALICE"));
	assert_null(strstr(l, "msg=\"operation finished\""));
	free(l);
	free(path);

	start_deploy_viva(f, NULL);
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"operation resumed\" op=1 kind=deploy-bluegreen target=svc-a/prod "
				  "step=wait for the idle colour", 5000));
	c = fx_wait_call_with(f, "chat.update", "deploy-bluegreen #1 on svc-a/prod: viva restarted; going on from "
			      "step 3 of 5 (wait for the idle colour)", 10000);
	assert_non_null(c);
	json_decref(c);
	/* still waiting: green is not ready, and traffic stays on blue */
	released = expect_not_switched(f);
	assert_false(proc_wait_log(&f->viva, "msg=\"operation finished\"", 10));
	release_green(f);
	assert_true(proc_wait_log(&f->viva, FINISHED, 15000));
	/* each step once: the image set before the kill, the switch after the restart, once green was ready */
	expect_switched_after(f, released);
	/* the message said it went on, then how it ended */
	updates = the_message(f);
	waiting = update_index(updates, "green: 0/2 ready");
	resumed = update_index(updates, "viva restarted; going on from step 3 of 5");
	live = update_index(updates, "green is live with `" TAG "`");
	assert_true(waiting >= 0 && resumed > waiting && live > resumed);
	assert_true(has_button(json_array_get(updates, json_array_size(updates) - 1), "rollback"));
	json_decref(updates);
	/* finished exactly once; the user who asked was answered once, before the kill */
	fx_sleep_ms(300);
	l = proc_log(&f->viva);
	assert_int_equal(count_in(l, "msg=\"operation finished\" op=1 "), 1);
	free(l);
	assert_int_equal(fx_calls_n(f, "response_url"), 2);   /* pipeline apply, "blue-green ... started" */
	c = fx_wait_call_with(f, "response_url", "blue-green of `svc-a` in prod started (operation #1)", 10);
	assert_non_null(c);
	json_decref(c);
	fx_db_expect(f, "SELECT state FROM operations WHERE id = 1", "done");
	fx_db_expect(f, "SELECT count(*) FROM operations", "1");
	fx_db_expect(f, "SELECT result FROM audit_log WHERE action = 'deploy bluegreen'", "ok (finished after a restart)");
}

/* ---- the scheduled lag audit ---------------------------------------------------------------------- */

/*
 * svc-a as `pipeline apply` leaves it (blue live with `latest`), with a
 * canary that has run TAG for 12 days: seeded before viva starts, since a
 * slot that is due runs at once.
 */
static void seed_lagging(struct fx *f)
{
	char when[32], *text;
	time_t t = time(NULL) - 12 * 86400 - 3600;
	struct tm tm;
	static const char *deployment =
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"svc-a-%s\","
		"\"namespace\":\"prod\",\"labels\":{\"app\":\"svc-a\",\"viva/slot\":\"%s\"},\"annotations\":"
		"{\"viva/tag\":\"%s\",\"viva/deployed-at\":\"%s\"}},\"spec\":{\"replicas\":%d,\"selector\":"
		"{\"matchLabels\":{\"app\":\"svc-a\",\"viva/slot\":\"%s\"}},\"template\":{\"metadata\":"
		"{\"labels\":{\"app\":\"svc-a\",\"viva/slot\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":"
		"\"app\",\"image\":\"" REPO ":%s\"}]}}}}";

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	text = xasprintf(deployment, "canary", "canary", TAG, when, 1, "canary", "canary", TAG);
	assert_int_equal(fake_kube_seed(f->kube, text), 0);
	free(text);
	text = xasprintf(deployment, "blue", "blue", "latest", when, 2, "blue", "blue", "latest");
	assert_int_equal(fake_kube_seed(f->kube, text), 0);
	free(text);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
					"{\"name\":\"svc-a\",\"namespace\":\"prod\",\"labels\":{\"app\":\"svc-a\"}},"
					"\"spec\":{\"selector\":{\"app\":\"svc-a\",\"viva/slot\":\"blue\"},"
					"\"ports\":[{\"port\":80,\"targetPort\":8080}]}}"), 0);
}

static int setup_lag(void **state)
{
	struct fx *f = new_fx();

	*state = f;
	seed_lagging(f);
	return 0;
}

/* Lag reports for svc-a posted to C0DEPLOY. */
static size_t lag_reports(struct fx *f)
{
	json_t *c = deploy_calls(f, "chat.postMessage", "bluegreen_trigger");
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(c); i++) {
		char *b = json_dumps(json_object_get(json_array_get(c, i), "body"), 0);

		n += b && strstr(b, "*svc-a* in prod: canary `" TAG "` is *12 days* ahead of live blue `latest`");
		free(b);
	}
	json_decref(c);
	return n;
}

/*
 * schedules.lag every minute: the slot due when viva starts runs once and
 * posts the report; viva killed (-9) and started again within the same
 * minute does not run that slot a second time (the scheduler's claim is in
 * the database).
 */
static void serve_deploy__scheduled_lag__not_repeated_after_restart(void **state)
{
	struct fx *f = *state;
	const char *yaml = "schedules: { lag: \"* * * * *\" }\n";
	int64_t slot, end;
	char *v, *l;

	/* room in this minute for a start, a report, a kill and a restart */
	if (time(NULL) % 60 > 40)
		fx_sleep_ms((61 - time(NULL) % 60) * 1000L);
	start_deploy_viva(f, yaml);
	assert_int_equal(fx_wait_link(f), 0);
	for (end = now_ms_mono() + 10000; lag_reports(f) < 1 && now_ms_mono() < end;)
		fx_sleep_ms(50);
	assert_int_equal(lag_reports(f), 1);
	assert_true(proc_wait_log(&f->viva, "msg=\"schedule fired\" name=lag", 1000));
	v = fx_db_value(f, "SELECT slot FROM schedule_runs WHERE name = 'lag'");
	assert_non_null(v);
	slot = strtoll(v, NULL, 10);
	free(v);
	assert_true(slot % 60 == 0 && slot <= time(NULL) && time(NULL) < slot + 60);

	fx_kill9(f);
	start_deploy_viva(f, yaml);
	assert_int_equal(fx_wait_link(f), 0);
	fx_sleep_ms(2000);   /* the restarted scheduler's first tick, and a report's time */
	if (time(NULL) >= slot + 60)
		fail_msg("the restart took past the minute of slot %lld: nothing to conclude", (long long)slot);
	assert_int_equal(lag_reports(f), 1);
	l = proc_log(&f->viva);
	assert_null(strstr(l, "msg=\"schedule fired\" name=lag"));
	free(l);
	fx_db_expect(f, "SELECT count(*) FROM schedule_runs WHERE name = 'lag'", "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(serve_deploy__bluegreen__message_updated_in_place, setup_deploy,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve_deploy__kill_9_mid_bluegreen__resumed_and_reported, setup_deploy,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve_deploy__scheduled_lag__not_repeated_after_restart, setup_lag,
						fx_teardown),
	};

	if (fx_find_bins("test_serve_deploy"))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
