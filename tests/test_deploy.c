/*
 * Canary, blue-green, rollback, status and the lag audit against the fake
 * Kubernetes API server (tests/kube) with its rollout simulator ticking,
 * over TLS with a token, through the real client; operations run on a real
 * operation pool as in `viva serve`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot/clients/kube.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/metrics.h"
#include "bot/model/catalog.h"
#include "bot/ops.h"
#include "handlers/lag.h"
#include "store/audit.h"
#include "store/operations.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#define TOKEN "t0ken-for-the-fake"
#define REPO  "127.0.0.1:5000/team/"
#define TAG1  "2190-develop-aaaaaaa"
#define TAG2  "2191-develop-bbbbbbb"

struct fx {
	struct test_env t;
	struct fake_kube *kube;
	char *dir;
};

static void write_spec(struct fx *f, const char *name)
{
	char *path = xasprintf("%s/%s.yaml", f->dir, name);
	char *text = xasprintf("name: %s\nowners: [U0OWNER]\ndeployManagers: [U0DM]\nrepository: { name: %s }\n"
			       "image: team/%s\nresources:\n  alpha: { instance: 1, cpu: \"0.5\", memory: 512MB }\n"
			       "  prod: { instance: 2, cpu: \"1\", memory: 1024MB }\n", name, name, name);

	test_write_file(path, text);
	free(text);
	free(path);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = 20 };
	char err[512];

	setenv("VIVA_DEPLOY_POLL_MS", "20", 1);
	metrics_reset();
	test_env_init(&f->t);
	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	assert_non_null(f->kube);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"alpha\"}}"), 0);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}"), 0);
	free(f->t.cfg.pipelines_dir);
	f->t.cfg.pipelines_dir = xstrdup(f->dir);
	free(f->t.cfg.registry_url);
	f->t.cfg.registry_url = xstrdup("http://127.0.0.1:5000");
	f->t.cfg.channel_deploy = xstrdup("C0DEPLOY");
	f->t.cfg.rollback_window_s = 0;
	test_cfg_add_cluster(&f->t.cfg, "dev", fake_kube_kubeconfig(f->kube));
	test_cfg_add_env(&f->t.cfg, "alpha", "dev", "alpha");
	test_cfg_add_env(&f->t.cfg, "prod", "dev", "prod");
	assert_int_equal(kube_clients_new(&f->t.cfg, NULL, NULL, &f->t.env.kube, err, sizeof(err)), VIVA_OK);
	write_spec(f, "svc-a");
	test_catalog_reload(&f->t);
	/* created as `pipeline apply` creates it: blue live with `latest`, 2 replicas in prod */
	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	assert_true(fake_kube_settle(f->kube, 50) < 50);
	assert_int_equal(ops_new(&f->t.env, 4, &f->t.env.ops), VIVA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ops_free(f->t.env.ops);
	f->t.env.ops = NULL;
	kube_clients_free(f->t.env.kube);
	f->t.env.kube = NULL;
	test_env_release(&f->t);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	unsetenv("VIVA_DEPLOY_POLL_MS");
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void assert_obj(struct fx *f, const char *res, const char *name, const char *path, const char *want)
{
	test_kube_expect(f->kube, res, "prod", name, path, want);
}

/* The newest operation on svc-a/prod, waited for until it is no longer running (bounded). */
static void wait_ops_idle(struct fx *f, struct store_op *out)
{
	for (int i = 0; i < 3000; i++) {
		struct store_op *v = NULL;
		size_t n = 0;
		bool running = false;

		assert_int_equal(store_op_list(f->t.env.store, "svc-a/prod", 10, &v, &n), VIVA_OK);
		for (size_t j = 0; j < n; j++)
			running |= v[j].state == OP_RUNNING;
		if (!running && n > 0) {
			if (out) {
				assert_int_equal(store_op_get(f->t.env.store, v[0].id, out), VIVA_OK);
			}
			store_ops_free(v, n);
			return;
		}
		store_ops_free(v, n);
		usleep(10000);
	}
	fail_msg("the operations on svc-a/prod did not end in 30 s");
}

static char *run(struct fx *f, const char *user, const char *text)
{
	return test_command(&f->t, user, text);
}

static void canary(struct fx *f, const char *tag)
{
	char *cmd = xasprintf("deploy canary svc-a %s prod", tag), *out = run(f, "U0DM", cmd);
	struct store_op op;

	free(out);
	free(cmd);
	wait_ops_idle(f, &op);
	if (op.state != OP_DONE)
		fail_msg("canary: %s", op.outcome ? op.outcome : "?");
	store_op_release(&op);
}

/* ---- canary --------------------------------------------------------------------------------- */

static void canary__new_tag__rolled_out_and_annotated(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	char *out = run(f, "U0DM", "deploy canary svc-a " TAG1 " prod");

	assert_non_null(strstr(out, "started"));
	free(out);
	wait_ops_idle(f, &op);
	assert_int_equal(op.state, OP_DONE);
	assert_non_null(strstr(op.outcome, "runs `" TAG1 "`"));
	assert_non_null(strstr(op.outcome, "1/1 ready"));
	store_op_release(&op);
	assert_obj(f, "deployments", "svc-a-canary", "spec.template.spec.containers.0.image", REPO "svc-a:" TAG1);
	assert_obj(f, "deployments", "svc-a-canary", "metadata.annotations.viva/tag", TAG1);
	assert_obj(f, "deployments", "svc-a-canary", "metadata.annotations.viva/deployed-by", "U0DM");
	assert_obj(f, "deployments", "svc-a-canary", "metadata.annotations.viva/deployed-at", "2026-11-24T21:15:00Z");
	assert_obj(f, "deployments", "svc-a-canary", "status.availableReplicas", "1");
	/* live traffic untouched */
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "blue");
	assert_obj(f, "deployments", "svc-a-blue", "spec.template.spec.containers.0.image", REPO "svc-a:latest");
}

/* Someone who is neither owner, deploy manager nor admin: refused, and audited. */
static void canary__stranger__refused_and_audited(void **state)
{
	struct fx *f = *state;
	struct store_audit_entry *v = NULL;
	size_t n = 0;
	char *out = run(f, "U0STRANGER", "deploy canary svc-a " TAG1 " prod");

	assert_non_null(strstr(out, "Sorry,"));
	free(out);
	assert_obj(f, "deployments", "svc-a-canary", "metadata.annotations.viva/tag", "latest");
	assert_int_equal(store_audit_list(f->t.env.store, "svc-a", 10, &v, &n), VIVA_OK);
	assert_true(n >= 1);
	assert_non_null(strstr(v[0].result, "denied"));
	store_audit_free(v, n);
}

/* ---- blue-green ------------------------------------------------------------------------------- */

/* TAG defaults to the canary's; the Service moves only after green's rollout completed. */
static void bluegreen__canary_tag__switch_after_rollout(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	json_t *log;
	char *out;
	int set, sw, last_get = -1;

	canary(f, TAG1);
	fake_kube_reset_counts(f->kube);
	out = run(f, "U0DM", "deploy bluegreen svc-a prod");
	assert_non_null(strstr(out, "blue-green of `svc-a` in prod started"));
	free(out);
	wait_ops_idle(f, &op);
	assert_int_equal(op.state, OP_DONE);
	assert_non_null(strstr(op.outcome, "green is live with `" TAG1 "`"));
	assert_non_null(strstr(op.outcome, "blue scaled to zero"));
	store_op_release(&op);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "green");
	assert_obj(f, "deployments", "svc-a-green", "spec.template.spec.containers.0.image", REPO "svc-a:" TAG1);
	assert_obj(f, "deployments", "svc-a-green", "spec.replicas", "2");
	assert_obj(f, "deployments", "svc-a-green", "status.availableReplicas", "2");
	assert_obj(f, "deployments", "svc-a-green", "metadata.annotations.viva/tag", TAG1);
	/* rollback_window 0: the old colour is scaled to zero, its image kept */
	assert_obj(f, "deployments", "svc-a-blue", "spec.replicas", "0");
	assert_obj(f, "deployments", "svc-a-blue", "spec.template.spec.containers.0.image", REPO "svc-a:latest");
	/* order: green patched, green read until complete, then the Service patched */
	log = fake_kube_requests(f->kube);
	set = test_request_index(log, "PATCH", "deployments", "svc-a-green", 0);
	sw = test_request_index(log, "PATCH", "services", "svc-a", 0);
	assert_true(set >= 0 && sw > set);
	for (int i = set; (i = test_request_index(log, "GET", "deployments", "svc-a-green", i + 1)) >= 0 && i < sw;)
		last_get = i;
	assert_true(last_get > set);
	json_decref(log);
	/* audited with tags, kind and duration */
	{
		struct store_audit_entry *v = NULL;
		size_t n = 0;

		assert_int_equal(store_audit_list(f->t.env.store, "svc-a", 10, &v, &n), VIVA_OK);
		assert_true(n >= 1);
		assert_string_equal(v[0].action, "deploy bluegreen");
		assert_string_equal(v[0].result, "ok");
		assert_non_null(strstr(v[0].params_json, "\"from_tag\":\"latest\""));
		assert_non_null(strstr(v[0].params_json, "\"to_tag\":\"" TAG1 "\""));
		assert_non_null(strstr(v[0].params_json, "\"seconds\":"));
		store_audit_free(v, n);
	}
	{
		char *m = metrics_render();
		assert_non_null(strstr(m, "viva_deploys_total{kind=\"bluegreen\",outcome=\"ok\"} 1"));
		assert_non_null(strstr(m, "viva_deploy_duration_seconds_count{kind=\"bluegreen\"} 1"));
		free(m);
	}
}

/*
 * Move the fake's clock past the progress deadline again and again until
 * the operations end (bounded): however late the rollout started, a later
 * step finds it past its deadline.
 */
static void advance_until_idle(struct fx *f, struct store_op *out)
{
	for (int i = 0; i < 300; i++) {
		struct store_op *v = NULL;
		size_t n = 0;
		bool running = false;

		assert_int_equal(store_op_list(f->t.env.store, "svc-a/prod", 10, &v, &n), VIVA_OK);
		for (size_t j = 0; j < n; j++)
			running |= v[j].state == OP_RUNNING;
		store_ops_free(v, n);
		if (!running)
			break;
		fake_kube_advance(f->kube, 700);
		usleep(100000);
	}
	wait_ops_idle(f, out);
}

/* An image that never gets ready: ProgressDeadlineExceeded, a clear failure, no switch. */
static void bluegreen__never_ready__fails_without_switch(void **state)
{
	struct fx *f = *state;
	struct store_op op;

	fake_kube_never_ready(f->kube, REPO "svc-a:" TAG2, true);
	fake_kube_reset_counts(f->kube);
	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG2 " prod"));
	advance_until_idle(f, &op);
	assert_int_equal(op.state, OP_FAILED);
	assert_non_null(strstr(op.outcome, "cannot progress"));
	assert_non_null(strstr(op.outcome, "Traffic stays on blue"));
	store_op_release(&op);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "blue");
	assert_obj(f, "deployments", "svc-a-blue", "spec.replicas", "2");
	assert_int_equal(fake_kube_count(f->kube, "patch", "services"), 0);
}

/* 500s on the Service write: retried; when they go on, it fails cleanly and nothing moved. */
static void bluegreen__service_patch_500__retried_or_failed_cleanly(void **state)
{
	struct fx *f = *state;
	struct store_op op;

	fake_kube_fault(f->kube, "PATCH", "/api/v1/namespaces/prod/services/svc-a", FK_FAULT_500, 2, 0);
	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG1 " prod"));
	wait_ops_idle(f, &op);
	assert_int_equal(op.state, OP_DONE);
	store_op_release(&op);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "green");
	/* now every write fails */
	fake_kube_fault(f->kube, "PATCH", "/api/v1/namespaces/prod/services/svc-a", FK_FAULT_500, 1000, 0);
	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG2 " prod"));
	wait_ops_idle(f, &op);
	assert_int_equal(op.state, OP_FAILED);
	assert_non_null(strstr(op.outcome, "could not be switched to blue"));
	assert_non_null(strstr(op.outcome, "still selects green"));
	store_op_release(&op);
	fake_kube_clear_faults(f->kube);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "green");
}

/* One deploy per service and environment: the second is refused, naming the first. */
static void bluegreen__second_deploy_meanwhile__refused_naming_holder(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	char *out;

	/* the first waits on an image that is slow to be ready */
	fake_kube_never_ready(f->kube, REPO "svc-a:" TAG2, true);
	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG2 " prod"));
	usleep(100000);
	out = run(f, "U0OWNER", "deploy canary svc-a " TAG1 " prod");
	if (!strstr(out, "svc-a/prod is busy: deploy-bluegreen") || !strstr(out, "<@U0DM>"))
		fail_msg("%s", out);
	free(out);
	/* the first ends (its rollout past the progress deadline); the canary was never touched */
	advance_until_idle(f, &op);
	assert_int_equal(op.state, OP_FAILED);
	assert_string_equal(op.kind, "deploy-bluegreen");
	store_op_release(&op);
	assert_obj(f, "deployments", "svc-a-canary", "metadata.annotations.viva/tag", "latest");
}

static json_t *click(const char *action_id, const char *value, const char *ts)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:{s:s, s:[]}, s:[{s:s, s:s, s:s, s:s}]}", "type",
			 "block_actions", "user", "id", "U0DM", "container", "type", "message", "message_ts", ts,
			 "channel_id", "C0DEPLOY", "trigger_id", "1.2.3", "message", "ts", ts, "blocks", "actions",
			 "action_id", action_id, "value", value, "type", "button", "block_id", "b1");
}

/* The trigger button clicked twice (or delivered twice): one deploy. */
static void trigger__double_click__one_deploy(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	struct store_op *v = NULL;
	size_t n = 0;
	json_t *p = click("bluegreen_trigger", "{\"env\":\"prod\",\"svc\":\"svc-a\",\"tag\":\"" TAG1 "\"}",
			  "1700000000.000100");

	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_not_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	wait_ops_idle(f, NULL);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_not_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	assert_int_equal(store_op_list(f->t.env.store, "svc-a/prod", 10, &v, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].state, OP_DONE);
	store_ops_free(v, n);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "green");
	json_decref(p);
}

/* ---- rollback ------------------------------------------------------------------------------------- */

/* After the window: the old colour is scaled back up, waited for, then selected. */
static void rollback__after_window__scaled_up_then_switched(void **state)
{
	struct fx *f = *state;
	struct store_op op;

	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG1 " prod"));
	wait_ops_idle(f, NULL);
	assert_obj(f, "deployments", "svc-a-blue", "spec.replicas", "0");
	fake_kube_reset_counts(f->kube);
	free(run(f, "U0OWNER", "rollback svc-a prod"));
	wait_ops_idle(f, &op);
	assert_int_equal(op.state, OP_DONE);
	assert_non_null(strstr(op.outcome, "blue is live again with `latest`"));
	store_op_release(&op);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "blue");
	assert_obj(f, "deployments", "svc-a-blue", "spec.replicas", "2");
	assert_obj(f, "deployments", "svc-a-blue", "status.availableReplicas", "2");
	{
		json_t *log = fake_kube_requests(f->kube);
		int up = test_request_index(log, "PATCH", "deployments", "svc-a-blue", 0);
		int sw = test_request_index(log, "PATCH", "services", "svc-a", 0);

		assert_true(up >= 0 && sw > up);
		json_decref(log);
	}
}

/* Within the window (old colour still up): the rollback switches at once; the
 * blue-green's wait sees traffic moved and scales nothing down. */
static void rollback__within_window__switches_and_nothing_scaled_down(void **state)
{
	struct fx *f = *state;
	struct store_op *v = NULL;
	size_t n = 0;

	f->t.cfg.rollback_window_s = 3600;
	free(run(f, "U0DM", "deploy bluegreen svc-a " TAG1 " prod"));
	/* until the blue-green has switched and given its lock back (its wait) */
	for (int i = 0; i < 1000; i++) {
		struct store_op op;
		bool waiting;

		assert_int_equal(store_op_get(f->t.env.store, 1, &op), VIVA_OK);
		waiting = !op.locked && op.state == OP_RUNNING;
		store_op_release(&op);
		if (waiting)
			break;
		usleep(10000);
	}
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "green");
	/* the blue-green still runs (its window) but holds no lock: the rollback starts */
	free(run(f, "U0OWNER", "rollback svc-a prod"));
	wait_ops_idle(f, NULL);
	assert_obj(f, "services", "svc-a", "spec.selector.viva/slot", "blue");
	assert_obj(f, "deployments", "svc-a-blue", "spec.replicas", "2");
	assert_obj(f, "deployments", "svc-a-green", "spec.replicas", "2");
	assert_int_equal(store_op_list(f->t.env.store, "svc-a/prod", 10, &v, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].kind, "rollback");
	assert_int_equal(v[0].state, OP_DONE);
	assert_string_equal(v[1].kind, "deploy-bluegreen");
	assert_int_equal(v[1].state, OP_DONE);
	assert_non_null(strstr(v[1].outcome, "Traffic moved to blue since"));
	store_ops_free(v, n);
}

/* ---- status ------------------------------------------------------------------------------------------ */

static void status__canary_ahead__colours_and_trigger_button(void **state)
{
	struct fx *f = *state;
	char *out;
	json_t *msg;
	const char *value;

	canary(f, TAG1);
	out = run(f, "U0ANYONE", "status svc-a prod");
	assert_non_null(strstr(out, "*canary*: `" TAG1 "`, 1/1 ready"));
	/* never switched by viva: live since the Service was created */
	if (!strstr(out, "*blue* (live since 20") || !strstr(out, "Z): `latest`, 2/2 ready"))
		fail_msg("%s", out);
	assert_non_null(strstr(out, "*green*: `latest`, 0/0 ready"));
	assert_non_null(strstr(out, "ahead of live `latest`"));
	free(out);
	msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1);
	if (getenv("DEBUG_TEST"))
		json_dumpf(msg, stderr, JSON_INDENT(1));
	value = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(msg, "blocks"), 4),
							  "accessory"), "value"));
	assert_non_null(value);
	assert_non_null(strstr(value, "\"tag\":\"" TAG1 "\""));
}

/* Half there (a Deployment or the Service deleted by hand): said, not an error. */
static void status__missing_objects__said_not_an_error(void **state)
{
	struct fx *f = *state;
	char *out;

	assert_int_equal(fake_kube_remove(f->kube, "deployments", "prod", "svc-a-green"), 0);
	assert_int_equal(fake_kube_remove(f->kube, "services", "prod", "svc-a"), 0);
	out = run(f, "U0ANYONE", "status svc-a prod");
	if (!strstr(out, "*green*: Deployment svc-a-green not found") || !strstr(out, "*Service* not found") ||
	    !strstr(out, "*blue*: `latest`, 2/2 ready") || !strstr(out, "No colour is live."))
		fail_msg("%s", out);
	free(out);
}

/* ---- the lag audit --------------------------------------------------------------------------------------- */

static void lag_service(struct fx *f, const char *name, int days_ago)
{
	char when[32], *patch;
	time_t t = (time_t)(f->t.now - (int64_t)days_ago * 86400 - 3600);
	struct tm tm;

	write_spec(f, name);
	test_catalog_reload(&f->t);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	patch = xasprintf("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"%s-canary\","
			  "\"namespace\":\"prod\",\"labels\":{\"app\":\"%s\",\"viva/slot\":\"canary\"},\"annotations\":"
			  "{\"viva/tag\":\"%s\",\"viva/deployed-at\":\"%s\"}},\"spec\":{\"replicas\":1,\"selector\":"
			  "{\"matchLabels\":{\"app\":\"%s\",\"viva/slot\":\"canary\"}},\"template\":{\"metadata\":"
			  "{\"labels\":{\"app\":\"%s\",\"viva/slot\":\"canary\"}},\"spec\":{\"containers\":[{\"name\":"
			  "\"app\",\"image\":\"x\"}]}}}}", name, name, TAG1, when, name, name);
	{
		char *dname = xasprintf("%s-canary", name);

		fake_kube_remove(f->kube, "deployments", "prod", dname);
		free(dname);
	}
	assert_int_equal(fake_kube_seed(f->kube, patch), 0);
	free(patch);
}

static void lag__3_7_12_days__only_12_listed(void **state)
{
	struct fx *f = *state;
	char *out, *text;
	size_t posts = 0;

	ops_free(f->t.env.ops);
	f->t.env.ops = NULL;
	write_spec(f, "svc-b");
	write_spec(f, "svc-c");
	write_spec(f, "svc-d");
	test_catalog_reload(&f->t);
	free(run(f, "U0ANYONE", "pipeline apply --all"));
	lag_service(f, "svc-b", 3);
	lag_service(f, "svc-c", 7);
	lag_service(f, "svc-d", 12);
	f->t.cfg.link_bluegreen = xstrdup("https://deploy.example.com/{service}/bluegreen");
	out = run(f, "U0ANYONE", "lag");
	assert_non_null(strstr(out, "1 of 4 services are more than 7 days behind"));
	free(out);
	for (size_t i = 0; i < json_array_size(f->t.sent); i++) {
		json_t *m = json_array_get(f->t.sent, i);

		if (json_string_value(json_object_get(m, "post")))
			posts++;
	}
	assert_int_equal(posts, 1);
	text = test_sent_text(&f->t, json_array_size(f->t.sent) - 2);
	assert_non_null(strstr(text, "*svc-d* in prod: canary `" TAG1 "` is *12 days* ahead of live blue `latest`"));
	assert_non_null(strstr(text, "Owners <@U0OWNER>"));
	assert_non_null(strstr(text, "deploy managers <@U0DM>"));
	assert_non_null(strstr(text, "<https://deploy.example.com/svc-d/bluegreen|blue-green page>"));
	assert_null(strstr(text, "svc-b"));
	assert_null(strstr(text, "svc-c"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(canary__new_tag__rolled_out_and_annotated, setup, teardown),
		cmocka_unit_test_setup_teardown(canary__stranger__refused_and_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(bluegreen__canary_tag__switch_after_rollout, setup, teardown),
		cmocka_unit_test_setup_teardown(bluegreen__never_ready__fails_without_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(bluegreen__service_patch_500__retried_or_failed_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(bluegreen__second_deploy_meanwhile__refused_naming_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(trigger__double_click__one_deploy, setup, teardown),
		cmocka_unit_test_setup_teardown(rollback__after_window__scaled_up_then_switched, setup, teardown),
		cmocka_unit_test_setup_teardown(rollback__within_window__switches_and_nothing_scaled_down, setup, teardown),
		cmocka_unit_test_setup_teardown(status__canary_ahead__colours_and_trigger_button, setup, teardown),
		cmocka_unit_test_setup_teardown(status__missing_objects__said_not_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(lag__3_7_12_days__only_12_listed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
