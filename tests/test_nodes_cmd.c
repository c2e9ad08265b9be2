/*
 * The node commands (handlers/nodes.c) against the fake Kubernetes API
 * server (TLS, a token, its controllers ticking), with cluster configs in a
 * directory as viva reads them, dispatched as Slack would: list, drift,
 * show, cordon/uncordon (admins), drain as a durable operation, apply.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/clients/kube.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/nodes/cluster.h"
#include "bot/ops.h"
#include "bot/reload.h"
#include "store/nodes.h"
#include "store/operations.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#define TOKEN "t0ken-for-the-fake"
#define ADMIN "U0ADMIN"

struct fx {
	struct test_env t;
	struct fake_kube *kube;
	char *dir;
};

#define CLUSTER_A \
	"common:\n" \
	"  cluster: 1.25.6\n" \
	"  runcVersion: 1.1.9\n" \
	"  criVersion: 1.7.2\n" \
	"  cniPluginVersion: 1.3.0\n" \
	"  clusterDNS: 10.96.0.10\n" \
	"  apiServer: 10.0.0.10:6443\n" \
	"  kubernetesCluster: dev\n" \
	"groups:\n" \
	"  gpu: \"kube-*-*-gpu-*\"\n"

static void seed_node(struct fx *f, const char *name, const char *version)
{
	char *text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},\"spec\":{},"
			       "\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"%s\"},\"conditions\":[{\"type\":\"Ready\","
			       "\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}", name, version);

	assert_int_equal(fake_kube_seed(f->kube, text), 0);
	free(text);
}

/* A pod on node; owner_kind "DaemonSet" (then owner_uid given) or NULL for a bare pod. */
static void seed_pod(struct fx *f, const char *name, const char *node, const char *owner_kind, const char *owner_uid)
{
	char *owners = owner_kind ? xasprintf(",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"%s\","
					      "\"name\":\"agent\",\"uid\":\"%s\",\"controller\":true}]", owner_kind,
					      owner_uid)
				  : xstrdup("");
	char *text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
			       "\"namespace\":\"default\"%s},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"c\","
			       "\"image\":\"registry.example.com/x:1\"}]},\"status\":{\"phase\":\"Running\"}}",
			       name, owners, node);

	assert_int_equal(fake_kube_seed(f->kube, text), 0);
	free(text);
	free(owners);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = 20 };
	char err[512], *path;
	json_t *ds;

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	assert_non_null(f->kube);
	path = xasprintf("%s/clusters/a.yaml", f->dir);
	test_write_file(path, CLUSTER_A);
	free(path);
	free(f->t.cfg.cluster_configs);
	f->t.cfg.cluster_configs = xasprintf("%s/clusters", f->dir);
	for (char **p = f->t.cfg.admin_users; p && *p; p++)
		free(*p);
	free(f->t.cfg.admin_users);
	f->t.cfg.admin_users = xcalloc(2, sizeof(char *));
	f->t.cfg.admin_users[0] = xstrdup(ADMIN);
	f->t.cfg.drain_timeout_s = 30;
	test_cfg_add_cluster(&f->t.cfg, "dev", fake_kube_kubeconfig(f->kube));
	assert_int_equal(kube_clients_new(&f->t.cfg, NULL, NULL, &f->t.env.kube, err, sizeof(err)), VIVA_OK);
	f->t.env.clusters = xcalloc(1, sizeof(*f->t.env.clusters));
	cluster_current_init(f->t.env.clusters, NULL);
	assert_int_equal(reload_clusters(&f->t.env, NULL, err, sizeof(err)), VIVA_OK);
	seed_node(f, "kube-a-dc1-worker01", "v1.25.6");
	seed_node(f, "kube-a-dc1-worker02", "v1.24.9");
	seed_node(f, "kube-a-dc1-gpu-worker03", "v1.25.6");
	seed_node(f, "kube-zz-dc1-w1", "v1.25.6");   /* no config covers it */
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":"
					"{\"name\":\"agent\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
					"{\"matchLabels\":{\"app\":\"agent\"}}}}"), 0);
	ds = fake_kube_get(f->kube, "daemonsets", "default", "agent");
	seed_pod(f, "agent-w2", "kube-a-dc1-worker02", "DaemonSet", json_string_value(json_object_get(
		json_object_get(ds, "metadata"), "uid")));
	json_decref(ds);
	seed_pod(f, "scratch", "kube-a-dc1-worker02", NULL, NULL);
	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
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
	cluster_current_release(f->t.env.clusters);
	free(f->t.env.clusters);
	f->t.env.clusters = NULL;
	test_env_release(&f->t);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not in:\n%s", needle, text);
}

static void nodes__list__kubelet_and_desired_versions(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "node list");

	expect(out, "Nodes (4)");
	expect(out, "kube-a-dc1-worker02");
	expect(out, "v1.24.9");
	expect(out, "1.25.6");
	expect(out, "(no config)");
	expect(out, "gpu");                        /* the group of worker03 */
	free(out);
	out = test_command(&f->t, "U0ANYONE", "node list a");
	expect(out, "Nodes of a (3)");
	assert_null(strstr(out, "kube-zz-dc1-w1"));
	free(out);
	out = test_command(&f->t, "U0ANYONE", "node list nope");
	expect(out, "No cluster config is named `nope`");
	free(out);
}

static void nodes__drift__only_behind_with_buttons(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "node drift");
	json_t *msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1);
	char *dump = json_dumps(msg, 0);

	expect(out, "Version drift: 1 node");
	expect(out, "kube-a-dc1-worker02");
	assert_null(strstr(out, "kube-a-dc1-worker01"));
	expect(dump, "\"action_id\": \"node_drain\"");
	expect(dump, "\"action_id\": \"node_cordon\"");
	expect(dump, "{\\\"host\\\":\\\"kube-a-dc1-worker02\\\"}");
	expect(dump, "\"confirm\"");
	free(dump);
	free(out);
}

static void nodes__cordon__admins_only_and_idempotent(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "node cordon kube-a-dc1-worker01");
	json_t *n;

	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker01");
	assert_false(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	json_decref(n);
	free(out);
	out = test_command(&f->t, ADMIN, "node cordon kube-a-dc1-worker01");
	expect(out, "is now cordoned");
	free(out);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker01");
	assert_true(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	json_decref(n);
	out = test_command(&f->t, ADMIN, "node cordon kube-a-dc1-worker01");
	expect(out, "was already cordoned");
	free(out);
	out = test_command(&f->t, ADMIN, "node uncordon kube-a-dc1-worker01");
	expect(out, "is now schedulable");
	free(out);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker01");
	assert_null(json_object_get(json_object_get(n, "spec"), "unschedulable"));
	json_decref(n);
	/* hosts no config covers, names that are no names */
	out = test_command(&f->t, ADMIN, "node cordon kube-zz-dc1-w1");
	expect(out, "kube-zz-dc1-w1");
	free(out);
	out = test_command(&f->t, ADMIN, "node cordon ../etc");
	expect(out, "is not a node name");
	free(out);
}

static void nodes__show__settings_files_reports(void **state)
{
	struct fx *f = *state;
	struct store_node_report r = { .hostname = "kube-a-dc1-worker01", .cluster = "a", .phase = "join",
				       .ok = false, .kubelet_version = "", .output = "[ERROR Port-10250]: in use",
				       .received = 1700000000 };
	char *out = test_command(&f->t, "U0ANYONE", "node show kube-a-dc1-worker01");

	expect(out, "A worker of cluster");
	expect(out, "kubernetesVersion: 1.25.6");
	expect(out, "/etc/containerd/config.toml");
	expect(out, "No report yet");
	free(out);
	assert_int_equal(store_node_report_add(f->t.env.store, &r, NULL), VIVA_OK);
	out = test_command(&f->t, "U0ANYONE", "node show kube-a-dc1-worker01");
	expect(out, "join failed: [ERROR Port-10250]: in use");
	free(out);
}

/* The newest operation on node:HOST, waited for until it ends (bounded); viva's clock
 * moves on tick_s seconds every 10 ms meanwhile. */
static void wait_op_ticking(struct fx *f, const char *target, struct store_op *out, int tick_s)
{
	for (int i = 0; i < 3000; i++) {
		__atomic_add_fetch(&f->t.now, tick_s, __ATOMIC_RELAXED);
		struct store_op *v = NULL;
		size_t n = 0;

		assert_int_equal(store_op_list(f->t.env.store, target, 10, &v, &n), VIVA_OK);
		if (n > 0 && v[0].state != OP_RUNNING) {
			assert_int_equal(store_op_get(f->t.env.store, v[0].id, out), VIVA_OK);
			store_ops_free(v, n);
			return;
		}
		store_ops_free(v, n);
		usleep(10000);
	}
	fail_msg("the drain did not end in 30 s");
}

static void wait_op(struct fx *f, const char *target, struct store_op *out)
{
	wait_op_ticking(f, target, out, 0);
}

static json_t *click(const char *action_id, const char *value)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:{s:s, s:[]}, s:[{s:s, s:s, s:s, s:s}]}", "type",
			 "block_actions", "user", "id", ADMIN, "container", "type", "message", "message_ts",
			 "1700000000.000200", "channel_id", "C0NODES", "trigger_id", "1.2.3", "message", "ts",
			 "1700000000.000200", "blocks", "actions", "action_id", action_id, "value", value, "type",
			 "button", "block_id", "b1");
}

static void nodes__drain__typed_asks_then_click_evicts(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, ADMIN, "node drain kube-a-dc1-worker02");
	json_t *msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1), *p, *pod, *n;
	char *dump = json_dumps(msg, 0);
	struct store_op op;
	struct viva_ctx ctx;

	/* typed: nothing moves yet, a confirmed button is offered */
	expect(dump, "\"action_id\": \"node_drain\"");
	expect(dump, "\"confirm\"");
	free(dump);
	free(out);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker02");
	assert_false(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	json_decref(n);
	/* a non-admin's click is refused */
	p = click("node_drain", "{\"host\":\"kube-a-dc1-worker02\"}");
	json_object_set_new(json_object_get(p, "user"), "id", json_string("U0ANYONE"));
	test_ctx(&f->t, &ctx, "U0ANYONE");
	assert_int_not_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	json_decref(p);
	/* the admin's: cordoned, the bare pod evicted, the DaemonSet's left */
	p = click("node_drain", "{\"host\":\"kube-a-dc1-worker02\"}");
	test_ctx(&f->t, &ctx, ADMIN);
	if (dispatch_interaction(&ctx, p) != VIVA_OK)
		fail_msg("the drain click failed: %s", test_sent_text(&f->t, json_array_size(f->t.sent) - 1));
	json_decref(p);
	wait_op(f, "node:kube-a-dc1-worker02", &op);
	assert_int_equal(op.state, OP_DONE);
	expect(op.outcome, "kube-a-dc1-worker02 drained: 1 pods evicted");
	expect(op.outcome, "default/scratch");
	store_op_release(&op);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker02");
	assert_true(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	json_decref(n);
	pod = fake_kube_get(f->kube, "pods", "default", "agent-w2");
	assert_non_null(pod);
	json_decref(pod);
	for (int i = 0; i < 500 && (pod = fake_kube_get(f->kube, "pods", "default", "scratch")) != NULL; i++) {
		json_decref(pod);
		usleep(10000);
	}
	assert_null(pod);
}

/* A PodDisruptionBudget that never allows: the drain fails at drain_timeout, naming it; the node stays cordoned. */
static void nodes__drain_blocked_by_budget__fails_naming_it(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	struct viva_ctx ctx;
	json_t *p, *st;

	f->t.cfg.drain_timeout_s = 2;
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
					"\"db-0\",\"namespace\":\"default\",\"labels\":{\"app\":\"db\"}},\"spec\":"
					"{\"nodeName\":\"kube-a-dc1-worker01\",\"containers\":[{\"name\":\"c\",\"image\":"
					"\"x:1\"}]},\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
					"\"status\":\"True\"}]}}"), 0);
	st = json_pack("{s:s, s:[{s:s, s:s}]}", "phase", "Running", "conditions", "type", "Ready", "status", "True");
	fake_kube_set_status(f->kube, "pods", "default", "db-0", st);
	json_decref(st);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\","
					"\"metadata\":{\"name\":\"db-budget\",\"namespace\":\"default\"},\"spec\":"
					"{\"minAvailable\":1,\"selector\":{\"matchLabels\":{\"app\":\"db\"}}}}"), 0);
	fake_kube_settle(f->kube, 20);
	p = click("node_drain", "{\"host\":\"kube-a-dc1-worker01\"}");
	test_ctx(&f->t, &ctx, ADMIN);
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	json_decref(p);
	wait_op_ticking(f, "node:kube-a-dc1-worker01", &op, 1);
	assert_int_equal(op.state, OP_FAILED);
	expect(op.outcome, "not drained after 2s");
	expect(op.outcome, "default/db-0 (PodDisruptionBudget db-budget)");
	store_op_release(&op);
	p = fake_kube_get(f->kube, "pods", "default", "db-0");
	assert_non_null(p);
	json_decref(p);
}

static void nodes__apply__changes_and_invalid_files_reported(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/clusters/a.yaml", f->dir), *out;

	out = test_command(&f->t, "U0ANYONE", "node apply");
	expect(out, "Cluster configs (1 in use");
	free(out);
	/* a's version moves on; b is broken; c names a version without node files */
	test_write_file(path, "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			"  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.10:6443\n"
			"  kubernetesCluster: dev\n");
	free(path);
	path = xasprintf("%s/clusters/b.yaml", f->dir);
	test_write_file(path, "common:\n  cluster: one\n");
	free(path);
	path = xasprintf("%s/clusters/c.yaml", f->dir);
	test_write_file(path, "common:\n  cluster: 1.21.6\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			"  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.11:6443\n"
			"  kubernetesCluster: nowhere\n");
	out = test_command(&f->t, "U0ANYONE", "node apply");
	expect(out, "b.yaml");
	expect(out, "1.21.6");                    /* no node files for it */
	expect(out, "nowhere");                   /* not a cluster of viva.yaml */
	expect(out, "common.cluster");            /* what changed in a */
	free(out);
	/* now worker01 is behind */
	out = test_command(&f->t, "U0ANYONE", "node drift a");
	expect(out, "kube-a-dc1-worker01");
	free(out);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(nodes__list__kubelet_and_desired_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__drift__only_behind_with_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__cordon__admins_only_and_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__show__settings_files_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__drain__typed_asks_then_click_evicts, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__drain_blocked_by_budget__fails_naming_it, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__apply__changes_and_invalid_files_reported, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
