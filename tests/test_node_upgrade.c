/*
 * The rolling upgrade (SPEC 10.5, handlers/node_upgrade.c) in process:
 * the fake Kubernetes API server, cluster configs in a directory, the
 * operations pool, clicks dispatched as Slack sends them, and a recording
 * Slack for the run's message. The nodes are simulated by the test: when a
 * node's upgrade is wanted (store/nodes.h), it reports through the node
 * API's path (node_api_accept_report) and its Node gets the new kubelet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/clients/kube.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/nodes/cluster.h"
#include "bot/nodes/report.h"
#include "bot/ops.h"
#include "bot/reload.h"
#include "bot/slack/api.h"
#include "handlers/node_api.h"
#include "store/audit.h"
#include "store/nodes.h"
#include "store/operations.h"
#include "tests/fake_slack_blocks.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#define TOKEN "t0ken-for-the-fake"
#define ADMIN "U0ADMIN"
#define MSG_TS "1700000000.000200"
#define NHOSTS 6
#define NSEEDED 4   /* the nodes every test starts with; the others are seeded by the tests that use them */

static const char *const hosts[NHOSTS] = { "kube-a-dc1-worker01", "kube-a-dc1-worker02", "kube-a-dc1-worker03",
					   "kube-a-dc1-worker04", "kube-a-dc2-master01", "kube-a-dc1-gpu-worker05" };

/* A Slack that records what viva sends (the run's message). */
struct rec_slack {
	struct slack_api api;
	pthread_mutex_t mu;
	json_t *calls;   /* [{method, args}] */
	json_t *problems; /* what Slack would refuse in their blocks (tests/fake_slack_blocks.h) */
};

struct fx {
	struct test_env t;
	struct fake_kube *kube;
	struct rec_slack slack;
	char *dir;
	/* the simulated nodes */
	json_t *upgraded;   /* ["host", ...] in the order their upgrade was wanted (one entry per run's ask) */
	json_t *handled;    /* {"host#run": true}: asks already answered */
	json_t *failing;    /* {"host": true}: these report a failed upgrade */
	int max_cordoned;   /* the most nodes seen cordoned at once */
};

static int rec_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct rec_slack *s = (struct rec_slack *)api;

	pthread_mutex_lock(&s->mu);
	json_array_append_new(s->calls, json_pack("{s:s, s:O}", "method", method, "args", args));
	if (json_is_array(json_object_get(args, "blocks")))
		fsb_check_blocks(json_object_get(args, "blocks"), FSB_MESSAGE, "/blocks", s->problems);
	pthread_mutex_unlock(&s->mu);
	if (resp)
		*resp = json_pack("{s:b, s:s, s:s}", "ok", 1, "ts", "1700000001.000100", "channel", "C0NODES");
	return VIVA_OK;
}

static const struct slack_api_ops rec_slack_ops = { .call = rec_call };

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

static char *node_json(const char *name, const char *version)
{
	return xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},\"spec\":{},"
			 "\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"%s\"},\"conditions\":[{\"type\":\"Ready\","
			 "\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}", name, version);
}

static void seed_node(struct fx *f, const char *name, const char *version)
{
	char *text = node_json(name, version);

	assert_int_equal(fake_kube_seed(f->kube, text), 0);
	free(text);
}

static void set_kubelet(struct fx *f, const char *name, const char *version)
{
	json_t *st = json_pack("{s:{s:s}, s:[{s:s, s:s, s:s}]}", "nodeInfo", "kubeletVersion", version, "conditions",
			       "type", "Ready", "status", "True", "reason", "KubeletReady");

	assert_int_equal(fake_kube_set_status(f->kube, "nodes", NULL, name, st), 0);
	json_decref(st);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = 20 };
	char err[512], *path;

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
	free(f->t.cfg.channel_nodes);
	f->t.cfg.channel_nodes = xstrdup("C0NODES");
	test_cfg_add_cluster(&f->t.cfg, "dev", fake_kube_kubeconfig(f->kube));
	assert_int_equal(kube_clients_new(&f->t.cfg, NULL, NULL, &f->t.env.kube, err, sizeof(err)), VIVA_OK);
	f->t.env.clusters = xcalloc(1, sizeof(*f->t.env.clusters));
	cluster_current_init(f->t.env.clusters, NULL);
	assert_int_equal(reload_clusters(&f->t.env, NULL, err, sizeof(err)), VIVA_OK);
	/* three workers behind, one up to date */
	seed_node(f, hosts[0], "v1.24.9");
	seed_node(f, hosts[1], "v1.24.9");
	seed_node(f, hosts[2], "v1.24.9");
	seed_node(f, hosts[3], "v1.25.6");
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
					"\"scratch\",\"namespace\":\"default\"},\"spec\":{\"nodeName\":"
					"\"kube-a-dc1-worker02\",\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]},"
					"\"status\":{\"phase\":\"Running\"}}"), 0);
	f->slack.api.ops = &rec_slack_ops;
	pthread_mutex_init(&f->slack.mu, NULL);
	f->slack.calls = json_array();
	f->slack.problems = json_array();
	f->t.env.slack = &f->slack.api;
	f->upgraded = json_array();
	f->handled = json_object();
	f->failing = json_object();
	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ops_free(f->t.env.ops);
	f->t.env.ops = NULL;
	f->t.env.slack = NULL;
	kube_clients_free(f->t.env.kube);
	f->t.env.kube = NULL;
	cluster_current_release(f->t.env.clusters);
	free(f->t.env.clusters);
	f->t.env.clusters = NULL;
	test_env_release(&f->t);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	json_decref(f->slack.calls);
	if (json_array_size(f->slack.problems) > 0)
		fail_msg("Slack would refuse these blocks: %s", json_dumps(f->slack.problems, 0));
	json_decref(f->slack.problems);
	pthread_mutex_destroy(&f->slack.mu);
	json_decref(f->upgraded);
	json_decref(f->handled);
	json_decref(f->failing);
	free(f);
	return 0;
}

static bool cordoned(struct fx *f, const char *host)
{
	json_t *n = fake_kube_get(f->kube, "nodes", NULL, host);   /* NULL: not seeded, not cordoned */
	bool c = json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable"));

	json_decref(n);
	return c;
}

static const char *kubelet(struct fx *f, const char *host, char *buf, size_t len)
{
	json_t *n = fake_kube_get(f->kube, "nodes", NULL, host);

	snprintf(buf, len, "%s", json_string_value(json_object_get(json_object_get(json_object_get(n, "status"),
							"nodeInfo"), "kubeletVersion")));
	json_decref(n);
	return buf;
}

/* host reports its upgrade as bootstrap.sh does, through the node API's path. */
static void report(struct fx *f, const char *host, bool ok)
{
	struct cluster_set *set = cluster_current_get(f->t.env.clusters);
	struct node_settings *ns = NULL;
	struct node_report r;
	char err[256], *body;

	body = ok ? xstrdup("{\"phase\":\"upgrade\",\"ok\":true,\"kubeletVersion\":\"v1.25.6\",\"output\":\"done\"}")
		  : xstrdup("{\"phase\":\"upgrade\",\"ok\":false,\"kubeletVersion\":\"\",\"output\":\"[preflight] "
			    "Running pre-flight checks\\n[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: exists\\n"
			    "error execution phase preflight: some checks failed\"}");
	assert_int_equal(node_report_parse(body, strlen(body), &r, err, sizeof(err)), VIVA_OK);
	assert_int_equal(cluster_resolve(set, host, &ns, err, sizeof(err)), VIVA_OK);
	assert_int_equal(node_api_accept_report(&f->t.env, ns, &r, NULL), VIVA_OK);
	node_settings_free(ns);
	node_report_release(&r);
	cluster_set_unref(set);
	free(body);
}

/* One round of the simulated nodes: each node whose upgrade is newly wanted upgrades itself. */
static void simulate(struct fx *f)
{
	int c = 0;

	for (int i = 0; i < NHOSTS; i++)
		c += cordoned(f, hosts[i]);
	if (c > f->max_cordoned)
		f->max_cordoned = c;
	for (int i = 0; i < NHOSTS; i++) {
		int64_t run = 0;
		char key[128];

		if (store_node_upgrade_get(f->t.env.store, hosts[i], &run, NULL) != VIVA_OK)
			continue;
		snprintf(key, sizeof(key), "%s#%lld", hosts[i], (long long)run);
		if (json_object_get(f->handled, key))
			continue;
		json_object_set_new(f->handled, key, json_true());
		json_array_append_new(f->upgraded, json_string(hosts[i]));
		/* it was cordoned and drained before it was asked */
		assert_true(cordoned(f, hosts[i]));
		if (json_object_get(f->failing, hosts[i])) {
			report(f, hosts[i], false);
			continue;
		}
		set_kubelet(f, hosts[i], "v1.25.6");
		report(f, hosts[i], true);
		/* the flag clears with the successful report */
		assert_int_equal(store_node_upgrade_get(f->t.env.store, hosts[i], NULL, NULL), VIVA_ENOENT);
	}
}

/* Simulate until operation id ends (bounded: 30 s); its row in *out. */
static void run_until_end(struct fx *f, int64_t id, struct store_op *out)
{
	for (int i = 0; i < 3000; i++) {
		simulate(f);
		assert_int_equal(store_op_get(f->t.env.store, id, out), VIVA_OK);
		if (out->state != OP_RUNNING)
			return;
		store_op_release(out);
		usleep(10000);
	}
	fail_msg("operation #%lld did not end in 30 s", (long long)id);
}

static json_t *click(const char *action_id, const char *value)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:{s:s, s:[]}, s:[{s:s, s:s, s:s, s:s}]}", "type",
			 "block_actions", "user", "id", ADMIN, "container", "type", "message", "message_ts", MSG_TS,
			 "channel_id", "C0NODES", "trigger_id", "1.2.3", "message", "ts", MSG_TS, "blocks", "actions",
			 "action_id", action_id, "value", value, "type", "button", "block_id", "b1");
}

/* Click action_id with value as user; the operation it started (0 if none). */
static int64_t press(struct fx *f, const char *user, const char *action_id, const char *value, int want_rc)
{
	json_t *p = click(action_id, value);
	struct viva_ctx ctx;
	int rc;

	json_object_set_new(json_object_get(p, "user"), "id", json_string(user));
	test_ctx(&f->t, &ctx, user);
	rc = dispatch_interaction(&ctx, p);
	json_decref(p);
	if (want_rc == VIVA_OK && rc != VIVA_OK)
		fail_msg("%s failed: %s", action_id, test_sent_text(&f->t, json_array_size(f->t.sent) - 1));
	if (want_rc != VIVA_OK)
		assert_int_not_equal(rc, VIVA_OK);
	return ctx.op_id;
}

static int64_t start(struct fx *f)
{
	char *out = test_command(&f->t, ADMIN, "node upgrade a");
	json_t *msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1);
	char *dump = json_dumps(msg, 0);
	int64_t id;

	if (!strstr(dump, "\"action_id\": \"node_upgrade\"") || !strstr(dump, "\"confirm\""))
		fail_msg("no confirmed Upgrade button in:\n%s", dump);
	free(dump);
	free(out);
	/* typed, nothing moved yet */
	assert_false(cordoned(f, hosts[0]));
	id = press(f, ADMIN, "node_upgrade", "{\"cluster\":\"a\"}", VIVA_OK);
	assert_true(id > 0);
	return id;
}

/* The run's messages in channels.nodes (chat.update of the clicked message), joined. */
static char *run_messages(struct fx *f)
{
	json_t *c;
	size_t i;
	char *all = xstrdup("");

	pthread_mutex_lock(&f->slack.mu);
	json_array_foreach(f->slack.calls, i, c) {
		json_t *args = json_object_get(c, "args");
		char *blocks, *next;

		if (strcmp(json_string_value(json_object_get(c, "method")), "chat.update") != 0 ||
		    strcmp(json_string_value(json_object_get(args, "ts")), MSG_TS) != 0)
			continue;
		assert_string_equal(json_string_value(json_object_get(args, "channel")), "C0NODES");
		blocks = json_dumps(json_object_get(args, "blocks"), JSON_COMPACT);
		next = xasprintf("%s%s\n%s\n", all, json_string_value(json_object_get(args, "text")),
				 blocks ? blocks : "");
		free(blocks);
		free(all);
		all = next;
	}
	pthread_mutex_unlock(&f->slack.mu);
	return all;
}

/* The newest run message: its text and blocks. */
static char *last_run_message(struct fx *f)
{
	json_t *c;
	size_t i;
	char *last = NULL;

	pthread_mutex_lock(&f->slack.mu);
	json_array_foreach(f->slack.calls, i, c) {
		json_t *args = json_object_get(c, "args");
		char *b;

		if (strcmp(json_string_value(json_object_get(c, "method")), "chat.update") != 0)
			continue;
		free(last);
		b = json_dumps(json_object_get(args, "blocks"), JSON_COMPACT);
		last = xasprintf("%s\n%s", json_string_value(json_object_get(args, "text")), b ? b : "");
		free(b);
	}
	pthread_mutex_unlock(&f->slack.mu);
	return last ? last : xstrdup("");
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not in:\n%s", needle, text);
}

/*
 * The run's message once it says needle: the operation's row ends before
 * its last update is sent, so a test that waited for the row waits for
 * the message too (at most 5 s).
 */
static char *wait_run_message(struct fx *f, const char *needle)
{
	char *msg = last_run_message(f);

	for (int i = 0; i < 500 && !strstr(msg, needle); i++) {
		free(msg);
		usleep(10000);
		msg = last_run_message(f);
	}
	expect(msg, needle);
	return msg;
}

static size_t times_upgraded(struct fx *f, const char *host)
{
	json_t *v;
	size_t i, n = 0;

	json_array_foreach(f->upgraded, i, v)
		if (strcmp(json_string_value(v), host) == 0)
			n++;
	return n;
}

static void assert_order(struct fx *f, const char *const *want, size_t n)
{
	char *dump = json_dumps(f->upgraded, JSON_COMPACT);

	if (json_array_size(f->upgraded) != n)
		fail_msg("upgraded %s, wanted %zu asks", dump, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_string_value(json_array_get(f->upgraded, i)), want[i]) != 0)
			fail_msg("upgraded %s: ask %zu is not %s", dump, i, want[i]);
	free(dump);
}

static size_t audited(struct fx *f, const char *action, const char *host)
{
	struct store_audit_entry *e = NULL;
	size_t n = 0, c = 0;

	assert_int_equal(store_audit_list(f->t.env.store, host, 500, &e, &n), VIVA_OK);
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].action, action) == 0)
			c++;
	store_audit_free(e, n);
	return c;
}

static void upgrade__three_behind__one_at_a_time_uncordoned_current_one_left(void **state)
{
	struct fx *f = *state;
	static const char *const want[] = { "kube-a-dc1-worker01", "kube-a-dc1-worker02", "kube-a-dc1-worker03" };
	struct store_op op;
	char buf[32], *msgs;
	int64_t id = start(f);
	json_t *pod;

	run_until_end(f, id, &op);
	if (op.state != OP_DONE)
		fail_msg("the run ended %s: %s", store_op_state_name(op.state), op.outcome);
	expect(op.outcome, "3 upgraded, 0 skipped");
	store_op_release(&op);
	assert_order(f, want, 3);
	assert_int_equal(f->max_cordoned, 1);          /* one at a time */
	for (int i = 0; i < NSEEDED; i++) {
		assert_string_equal(kubelet(f, hosts[i], buf, sizeof(buf)), "v1.25.6");
		assert_false(cordoned(f, hosts[i]));
		assert_int_equal(store_node_upgrade_get(f->t.env.store, hosts[i], NULL, NULL), VIVA_ENOENT);
	}
	/* the one up to date was never touched */
	assert_int_equal(times_upgraded(f, hosts[3]), 0);
	assert_int_equal(audited(f, "node.upgrade.cordon", hosts[3]), 0);
	/* worker02 was drained first */
	pod = fake_kube_get(f->kube, "pods", "default", "scratch");
	if (pod) {
		json_t *meta = json_object_get(pod, "metadata");
		assert_true(json_is_string(json_object_get(meta, "deletionTimestamp")));
	}
	json_decref(pod);
	/* every step audited */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(audited(f, "node.upgrade.cordon", hosts[i]), 1);
		assert_int_equal(audited(f, "node.upgrade.drain", hosts[i]), 1);
		assert_int_equal(audited(f, "node.upgrade.wanted", hosts[i]), 1);
		assert_int_equal(audited(f, "node.upgrade.upgraded", hosts[i]), 1);
		assert_int_equal(audited(f, "node.upgrade.uncordon", hosts[i]), 1);
	}
	/* one message, updated in place: progress with Stop, then the outcome without buttons */
	msgs = run_messages(f);
	expect(msgs, "0/3 upgraded, now kube-a-dc1-worker01: draining");
	expect(msgs, "1/3 upgraded, now kube-a-dc1-worker02");
	expect(msgs, "2/3 upgraded, now kube-a-dc1-worker03: upgrading");
	expect(msgs, "node_upgrade_stop");
	free(msgs);
	msgs = wait_run_message(f, "Upgrade of cluster a done: 3 upgraded");
	assert_null(strstr(msgs, "node_upgrade_stop"));
	assert_null(strstr(msgs, "node_upgrade_resume"));
	free(msgs);
}

static void upgrade__typed__admins_only_and_cluster_checked(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "node upgrade a");

	assert_null(strstr(out, "Upgrade the nodes"));
	free(out);
	out = test_command(&f->t, ADMIN, "node upgrade nope");
	expect(out, "No cluster config is named `nope`");
	free(out);
	out = test_command(&f->t, ADMIN, "node upgrade a cpu");
	expect(out, "has no group `cpu`");
	free(out);
	/* a non-admin's click is refused and starts nothing */
	assert_int_equal(press(f, "U0ANYONE", "node_upgrade", "{\"cluster\":\"a\"}", VIVA_EDENIED), 0);
	assert_false(cordoned(f, hosts[0]));
}

static void upgrade__failed_report__stops_with_resume_which_retries_and_finishes(void **state)
{
	struct fx *f = *state;
	static const char *const first[] = { "kube-a-dc1-worker01", "kube-a-dc1-worker02" };
	static const char *const all[] = { "kube-a-dc1-worker01", "kube-a-dc1-worker02", "kube-a-dc1-worker02",
					   "kube-a-dc1-worker03" };
	struct store_op op;
	char buf[32], *msg, *value;
	int64_t id, id2;

	json_object_set_new(f->failing, hosts[1], json_true());
	id = start(f);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_FAILED);
	expect(op.outcome, "kube-a-dc1-worker02 reported a failed upgrade");
	expect(op.outcome, "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]");
	store_op_release(&op);
	assert_order(f, first, 2);
	/* it stays cordoned and wanted; the next node was not touched */
	assert_true(cordoned(f, hosts[1]));
	assert_int_equal(store_node_upgrade_get(f->t.env.store, hosts[1], NULL, NULL), VIVA_OK);
	assert_false(cordoned(f, hosts[2]));
	assert_int_equal(audited(f, "node.upgrade.failed", hosts[1]), 1);
	msg = wait_run_message(f, "stopped at kube-a-dc1-worker02 (1/3 upgraded)");
	expect(msg, "node_upgrade_resume");
	expect(msg, "error execution phase preflight");
	assert_null(strstr(msg, "node_upgrade_stop"));
	free(msg);
	/* the node is fixed; Resume retries it, then goes on */
	json_object_del(f->failing, hosts[1]);
	value = xasprintf("{\"op\":%lld}", (long long)id);
	press(f, "U0ANYONE", "node_upgrade_resume", value, VIVA_EDENIED);
	id2 = press(f, ADMIN, "node_upgrade_resume", value, VIVA_OK);
	assert_true(id2 > id);
	run_until_end(f, id2, &op);
	if (op.state != OP_DONE)
		fail_msg("the resumed run ended %s: %s", store_op_state_name(op.state), op.outcome);
	expect(op.outcome, "3 upgraded");
	store_op_release(&op);
	assert_order(f, all, 4);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(kubelet(f, hosts[i], buf, sizeof(buf)), "v1.25.6");
		assert_false(cordoned(f, hosts[i]));
	}
	assert_int_equal(audited(f, "node.upgrade.cordon", hosts[0]), 1);   /* done once, left done */
	/* a second Resume of the old run starts nothing */
	assert_int_equal(press(f, ADMIN, "node_upgrade_resume", value, VIVA_ECONFLICT), 0);
	free(value);
}

static void upgrade__stop__finishes_the_node_in_progress_then_stops(void **state)
{
	struct fx *f = *state;
	static const char *const first[] = { "kube-a-dc1-worker01" };
	struct store_op op;
	char *value, *msg;
	int64_t id = start(f);
	bool pressed = false;

	for (int i = 0; i < 3000 && !pressed; i++) {
		/* stop while worker01 is in progress (before it is asked to upgrade) */
		if (cordoned(f, hosts[0])) {
			value = xasprintf("{\"op\":%lld}", (long long)id);
			press(f, ADMIN, "node_upgrade_stop", value, VIVA_OK);
			free(value);
			pressed = true;
		}
		usleep(2000);
	}
	assert_true(pressed);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_DONE);
	expect(op.outcome, "1 upgraded");
	expect(op.outcome, "stopped by");
	store_op_release(&op);
	assert_order(f, first, 1);
	assert_false(cordoned(f, hosts[0]));
	assert_false(cordoned(f, hosts[1]));
	assert_int_equal(audited(f, "node.upgrade.stop", "a"), 1);
	msg = wait_run_message(f, "stopped by <@U0ADMIN>: 1/3 upgraded");
	free(msg);
}

/*
 * viva stops mid-run (worker01 done, worker02 asked) and another process
 * resumes the run: worker02 is waited for, not asked again, worker01 not
 * touched again, and worker03, upgraded by hand meanwhile, is skipped.
 */
static void upgrade__restart_mid_run__resumed_no_node_twice(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	char *msg;
	int64_t id = start(f);
	bool asked = false;

	for (int i = 0; i < 3000 && !asked; i++) {
		/* answer worker01 only */
		int64_t run;
		if (store_node_upgrade_get(f->t.env.store, hosts[1], &run, NULL) == VIVA_OK)
			asked = true;
		else if (store_node_upgrade_get(f->t.env.store, hosts[0], &run, NULL) == VIVA_OK)
			simulate(f);
		usleep(5000);
	}
	assert_true(asked);
	/* viva stops: the run pauses, recorded as running */
	ops_free(f->t.env.ops);
	f->t.env.ops = NULL;
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_int_equal(op.state, OP_RUNNING);
	/* as if that process were gone (another host, silent for a while) */
	assert_int_equal(store_op_take(f->t.env.store, id, op.holder, op.heartbeat, "gone-host:1",
				       f->t.now - 10 * OPS_STALE_S), VIVA_OK);
	store_op_release(&op);
	set_kubelet(f, hosts[2], "v1.25.6");   /* upgraded by hand meanwhile */
	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	run_until_end(f, id, &op);
	if (op.state != OP_DONE)
		fail_msg("the resumed run ended %s: %s", store_op_state_name(op.state), op.outcome);
	expect(op.outcome, "2 upgraded, 1 skipped");
	store_op_release(&op);
	assert_int_equal(times_upgraded(f, hosts[0]), 1);
	assert_int_equal(times_upgraded(f, hosts[1]), 1);
	assert_int_equal(times_upgraded(f, hosts[2]), 0);
	assert_int_equal(audited(f, "node.upgrade.cordon", hosts[0]), 1);
	assert_int_equal(audited(f, "node.upgrade.wanted", hosts[1]), 1);
	assert_int_equal(audited(f, "node.upgrade.skipped", hosts[2]), 1);
	for (int i = 0; i < 3; i++)
		assert_false(cordoned(f, hosts[i]));
	msg = run_messages(f);
	expect(msg, "viva restarted");
	free(msg);
}

/* GROUP: only its nodes; the whole cluster: the master (listed under master:) first, though its name sorts last. */
static void upgrade__group_only_its_nodes__masters_first(void **state)
{
	struct fx *f = *state;
	static const char *const gpu[] = { "kube-a-dc1-gpu-worker05" };
	static const char *const all[] = { "kube-a-dc1-gpu-worker05", "kube-a-dc2-master01", "kube-a-dc1-worker01",
					   "kube-a-dc1-worker02", "kube-a-dc1-worker03" };
	char err[512], buf[32], *path = xasprintf("%s/clusters/a.yaml", f->dir), *out;
	struct store_op op;
	int64_t id;

	test_write_file(path, CLUSTER_A "master:\n  kube-a-dc2-master01: { address: 10.0.0.10 }\n");
	free(path);
	assert_int_equal(reload_clusters(&f->t.env, NULL, err, sizeof(err)), VIVA_OK);
	seed_node(f, hosts[4], "v1.24.9");
	seed_node(f, hosts[5], "v1.24.9");
	/* cordoned for maintenance before the run: upgraded, and left cordoned */
	out = test_command(&f->t, ADMIN, "node cordon kube-a-dc1-gpu-worker05");
	free(out);
	assert_true(cordoned(f, hosts[5]));
	out = test_command(&f->t, ADMIN, "node upgrade a gpu");
	expect(out, "cluster a, group gpu");
	free(out);
	id = press(f, ADMIN, "node_upgrade", "{\"cluster\":\"a\",\"group\":\"gpu\"}", VIVA_OK);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_DONE);
	expect(op.outcome, "1 upgraded");
	store_op_release(&op);
	assert_order(f, gpu, 1);
	assert_true(cordoned(f, hosts[5]));
	assert_string_equal(kubelet(f, hosts[5], buf, sizeof(buf)), "v1.25.6");
	id = press(f, ADMIN, "node_upgrade", "{\"cluster\":\"a\"}", VIVA_OK);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_DONE);
	expect(op.outcome, "4 upgraded, 0 skipped");
	store_op_release(&op);
	assert_order(f, all, 5);
}

/* Every node at its version: the run says so and touches nothing. */
static void upgrade__nothing_behind__says_so(void **state)
{
	struct fx *f = *state;
	struct store_op op;
	char *msg;
	int64_t id;

	for (int i = 0; i < 3; i++)
		set_kubelet(f, hosts[i], "v1.25.6");
	id = press(f, ADMIN, "node_upgrade", "{\"cluster\":\"a\"}", VIVA_OK);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_DONE);
	store_op_release(&op);
	assert_int_equal(json_array_size(f->upgraded), 0);
	msg = wait_run_message(f, "Nothing to upgrade");
	free(msg);
}

/* A node that failed, then upgraded itself before Resume: not asked again, only uncordoned. */
static void upgrade__failed_node_fixed_itself__resume_only_uncordons_it(void **state)
{
	struct fx *f = *state;
	static const char *const all[] = { "kube-a-dc1-worker01", "kube-a-dc1-worker02", "kube-a-dc1-worker03" };
	struct store_op op;
	char *value;
	int64_t id, id2;

	json_object_set_new(f->failing, hosts[1], json_true());
	id = start(f);
	run_until_end(f, id, &op);
	assert_int_equal(op.state, OP_FAILED);
	store_op_release(&op);
	json_object_del(f->failing, hosts[1]);
	set_kubelet(f, hosts[1], "v1.25.6");
	report(f, hosts[1], true);
	value = xasprintf("{\"op\":%lld}", (long long)id);
	id2 = press(f, ADMIN, "node_upgrade_resume", value, VIVA_OK);
	free(value);
	run_until_end(f, id2, &op);
	assert_int_equal(op.state, OP_DONE);
	expect(op.outcome, "3 upgraded");
	store_op_release(&op);
	assert_order(f, all, 3);
	for (int i = 0; i < 3; i++)
		assert_false(cordoned(f, hosts[i]));
	assert_int_equal(audited(f, "node.upgrade.wanted", hosts[1]), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(upgrade__three_behind__one_at_a_time_uncordoned_current_one_left, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upgrade__typed__admins_only_and_cluster_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__failed_report__stops_with_resume_which_retries_and_finishes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__failed_node_fixed_itself__resume_only_uncordons_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upgrade__stop__finishes_the_node_in_progress_then_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__restart_mid_run__resumed_no_node_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__group_only_its_nodes__masters_first, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__nothing_behind__says_so, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
