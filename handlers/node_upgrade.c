/* The rolling upgrade of a cluster's nodes (see handlers/node_upgrade.h). */
#include "handlers/node_upgrade.h"
#include "bot/clients/kube.h"
#include "bot/dispatch.h"
#include "bot/k8s/nodes.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/config.h"
#include "bot/model/tmpl.h"
#include "bot/nodes/cluster.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "store/audit.h"
#include "store/nodes.h"
#include "store/operations.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The report lines shown when a node's upgrade failed. */
#define REPORT_SHOWN 1500

static struct cluster_set *clusters_now(struct viva_env *env)
{
	return env->clusters ? cluster_current_get(env->clusters) : cluster_set_empty();
}

static int64_t now_of(struct viva_env *env)
{
	return env->clock->now(env->clock);
}

static bool has_group(const struct cluster_config *c, const char *group)
{
	for (size_t i = 0; i < cluster_config_group_count(c); i++)
		if (strcmp(cluster_config_group(c, i), group) == 0)
			return true;
	return false;
}

/* The cluster (and group) named, or a reply saying why not. */
static int check_target(struct viva_ctx *ctx, const char *cluster, const char *group)
{
	struct cluster_set *set = clusters_now(ctx->env);
	const struct cluster_config *c = cluster ? cluster_set_find(set, cluster) : NULL;
	int rc = VIVA_OK;

	if (!c)
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "No cluster config is named `%s` (the files in %s).",
				 cluster ? cluster : "", ctx->env->cfg->cluster_configs);
	else if (group && !has_group(c, group))
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "Cluster %s has no group `%s` (groups: in %s).", cluster,
				 group, cluster_config_file(c));
	else if (!ctx->env->kube || !kube_clients_get(ctx->env->kube, cluster_config_kube_cluster(c)))
		rc = reply_error(ctx, VIVA_EUNAVAIL, NULL, "Cluster %s is reached through cluster %s of viva.yaml, "
				 "which viva has no client for (clusters: in viva.yaml).", cluster,
				 cluster_config_kube_cluster(c));
	cluster_set_unref(set);
	return rc;
}

/* ---- the run's data ------------------------------------------------------------------------ */

static const char *dstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static json_int_t dint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static bool active_phase(const char *phase)
{
	return strcmp(phase, "cordon") == 0 || strcmp(phase, "drain") == 0 || strcmp(phase, "mark") == 0 ||
	       strcmp(phase, "wait") == 0 || strcmp(phase, "uncordon") == 0;
}

/* How many nodes of the plan are in phase. */
static size_t count_phase(json_t *plan, const char *phase)
{
	json_t *n;
	size_t i, c = 0;

	json_array_foreach(plan, i, n)
		if (strcmp(dstr(n, "phase"), phase) == 0)
			c++;
	return c;
}

static const char *phase_words(const char *phase)
{
	if (strcmp(phase, "cordon") == 0)
		return "cordoning";
	if (strcmp(phase, "drain") == 0)
		return "draining";
	if (strcmp(phase, "mark") == 0)
		return "asking for its upgrade";
	if (strcmp(phase, "wait") == 0)
		return "upgrading (waiting for its report and for it to be Ready)";
	if (strcmp(phase, "uncordon") == 0)
		return "uncordoning";
	return phase;
}

static void audit(struct op *op, const char *action, const char *host, json_t *node, const char *result)
{
	json_t *p = json_pack("{s:I, s:s, s:s, s:s}", "operation", (json_int_t)op_id(op), "cluster",
			      dstr(op_data(op), "cluster"), "from", dstr(node, "from"), "to", dstr(node, "to"));
	char *params = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);

	if (store_audit_add(op_env(op)->store, now_of(op_env(op)), op_started_by(op), action, host, params, result) !=
	    VIVA_OK)
		log_warn("node upgrade step not audited", "op=%lld action=%s host=%s", (long long)op_id(op), action,
			 host);
	json_decref(p);
	free(params);
}

/* ---- the messages -------------------------------------------------------------------------- */

static void message(struct op *op, const char *text, bool running, bool resume, const char *report)
{
	char *value = xasprintf("{\"op\":%lld}", (long long)op_id(op));
	json_t *data = json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:I}", "text", text, "cluster",
				 dstr(op_data(op), "cluster"), "running", running, "resume", resume, "report",
				 report ? report : "", "value", value, "operation", (json_int_t)op_id(op));
	json_t *msg = NULL;
	char err[256];

	if (tmpl_render(op_env(op)->tmpl, "slack/node_upgrade_run", data, &msg, err, sizeof(err)) != VIVA_OK) {
		log_error("node upgrade message not rendered", "err=\"%s\"", err);
		op_report(op, text, NULL);
	} else {
		op_report(op, json_string_value(json_object_get(msg, "text")) ? json_string_value(json_object_get(msg,
			  "text")) : text, json_object_get(msg, "blocks"));
	}
	json_decref(msg);
	json_decref(data);
	free(value);
}

/* "3/12 upgraded, now kube-a-dc1-worker04: draining", with the Stop button. */
static void progress(struct op *op)
{
	json_t *plan = json_object_get(op_data(op), "plan"), *n;
	struct strbuf sb;
	size_t i, shown = 0;

	sb_init(&sb);
	sb_addf(&sb, "Upgrade of cluster %s%s%s: %zu/%zu upgraded", dstr(op_data(op), "cluster"),
		json_is_string(json_object_get(op_data(op), "group")) ? ", group " : "",
		dstr(op_data(op), "group"), count_phase(plan, "done"), json_array_size(plan));
	if (count_phase(plan, "skipped"))
		sb_addf(&sb, " (%zu already at their version)", count_phase(plan, "skipped"));
	json_array_foreach(plan, i, n) {
		if (!active_phase(dstr(n, "phase")) || shown >= 5)
			continue;
		sb_addf(&sb, "%s %s: %s", shown ? "," : ", now", dstr(n, "host"), phase_words(dstr(n, "phase")));
		shown++;
	}
	if (json_is_string(json_object_get(op_data(op), "stopped")))
		sb_addf(&sb, "; stopping once the nodes in progress are done (asked by %s)",
			dstr(op_data(op), "stopped"));
	log_info("node upgrade progress", "op=%lld text=\"%s\"", (long long)op_id(op), sb.buf);
	message(op, sb.buf, true, false, NULL);
	sb_release(&sb);
}

/* ---- step 1: the plan ------------------------------------------------------------------------ */

static int run_client(struct op *op, struct kube **k)
{
	struct viva_env *env = op_env(op);
	const char *kc = dstr(op_data(op), "kubernetesCluster");

	*k = env->kube ? kube_clients_get(env->kube, kc) : NULL;
	if (!*k)
		return op_fail(op, VIVA_EUNAVAIL, "viva has no client for cluster %s any more", kc);
	return VIVA_OK;
}

static bool in_group(const struct node_settings *ns, const char *group)
{
	for (size_t g = 0; g < ns->ngroups; g++)
		if (strcmp(ns->groups[g], group) == 0)
			return true;
	return false;
}

static const char *bare(const char *v)
{
	return v[0] == 'v' ? v + 1 : v;
}

/* The nodes of the cluster (of GROUP) whose kubelet is not their desired version, masters
 * first (they go first when the Kubernetes version changes, as kubeadm wants), by name. */
static int step_plan(struct op *op)
{
	json_t *data = op_data(op), *masters, *workers;
	const char *cluster = dstr(data, "cluster");
	const char *group = json_string_value(json_object_get(data, "group"));
	struct k8s_node_list nodes = { 0 };
	struct cluster_set *set;
	struct kube *k;
	int rc;

	if (json_is_array(json_object_get(data, "plan")))
		return VIVA_OK;   /* made before a restart, or carried over by a resume */
	rc = run_client(op, &k);
	if (rc != VIVA_OK)
		return rc;
	rc = k8s_nodes_list(k, NULL, 0, &nodes);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "the nodes of cluster %s could not be listed: %s", cluster, kube_last_error());
	set = clusters_now(op_env(op));
	masters = json_array();
	workers = json_array();
	for (size_t i = 0; i < nodes.n; i++) {
		struct node_settings *ns = NULL;
		char err[256];

		if (cluster_resolve(set, nodes.v[i].name, &ns, err, sizeof(err)) != VIVA_OK)
			continue;
		if (strcmp(ns->cluster, cluster) == 0 && (!group || in_group(ns, group)) &&
		    strcmp(bare(nodes.v[i].kubelet_version), ns->kubernetes_version) != 0)
			json_array_append_new(ns->role == NODE_MASTER ? masters : workers,
					      json_pack("{s:s, s:s, s:s, s:s, s:s}", "host", ns->hostname, "role",
							node_role_name(ns->role), "from", nodes.v[i].kubelet_version,
							"to", ns->kubernetes_version, "phase", "pending"));
		node_settings_free(ns);
	}
	json_array_extend(masters, workers);
	json_decref(workers);
	json_object_set_new(data, "plan", masters);
	cluster_set_unref(set);
	k8s_node_list_release(&nodes);
	audit(op, "node.upgrade.plan", cluster, NULL, "ok");
	progress(op);
	return VIVA_OK;
}

/* ---- step 2: node after node ------------------------------------------------------------------- */

/* One node's failure: its phase stays (a resume retries it), the run stops. */
static int node_fail(struct op *op, json_t *node, int rc, const char *why)
{
	const char *report = dstr(node, "report");

	json_object_set_new(node, "failed", json_string(why));
	audit(op, "node.upgrade.failed", dstr(node, "host"), node, why);
	if (op_save(op) == VIVA_ECONFLICT)
		return VIVA_ECONFLICT;
	return op_fail(op, rc, "%s%s%s", why, report[0] ? ":\n" : "", report);
}

static void set_phase(json_t *node, const char *phase)
{
	json_object_set_new(node, "phase", json_string(phase));
}

/* The newest report of host at the time (0: none), so that only later ones count. */
static int64_t last_report_id(struct viva_env *env, const char *host)
{
	struct store_node_report *r = NULL;
	size_t n = 0;
	int64_t id = 0;

	if (store_node_reports(env->store, host, 1, &r, &n) == VIVA_OK && n > 0)
		id = r[0].id;
	store_node_reports_free(r, n);
	return id;
}

/*
 * The upgrade report host sent after report id after (newest first): 1 a
 * success, -1 a failure (*output: its lines, caller frees), 0 none yet.
 */
static int upgrade_report(struct viva_env *env, const char *host, int64_t after, char **output)
{
	struct store_node_report *r = NULL;
	size_t n = 0;
	int got = 0;

	*output = NULL;
	if (store_node_reports(env->store, host, NODE_REPORTS_KEPT, &r, &n) != VIVA_OK)
		return 0;
	for (size_t i = 0; i < n && r[i].id > after; i++) {
		if (strcmp(r[i].phase, "upgrade") != 0)
			continue;
		got = r[i].ok ? 1 : -1;
		if (!r[i].ok)
			*output = xstrndup(r[i].output, mrkdwn_fit(r[i].output, strlen(r[i].output), REPORT_SHOWN));
		break;
	}
	store_node_reports_free(r, n);
	return got;
}

/* Move node one phase on when it can; *moved says whether it did. */
static int advance(struct op *op, struct kube *k, json_t *node, bool *moved)
{
	struct viva_env *env = op_env(op);
	const char *host = dstr(node, "host"), *phase = dstr(node, "phase"), *to = dstr(node, "to");
	int64_t now = now_of(env);
	char why[1024];
	int rc;

	if (strcmp(phase, "cordon") == 0 && json_is_true(json_object_get(node, "retry"))) {
		/* a resumed node that upgraded itself since its failure: only its uncordon is left */
		struct k8s_node kn;
		bool upgraded;

		memset(&kn, 0, sizeof(kn));
		upgraded = k8s_node_get(k, host, &kn) == VIVA_OK && kn.ready == K8S_READY_TRUE &&
			   strcmp(bare(kn.kubelet_version), to) == 0;
		k8s_node_release(&kn);
		json_object_del(node, "retry");
		if (upgraded) {
			audit(op, "node.upgrade.upgraded", host, node, "ok: found upgraded on resume");
			set_phase(node, "uncordon");
			*moved = true;
			return VIVA_OK;
		}
		*moved = true;   /* the flag's end, saved; the cordon comes next */
		return VIVA_OK;
	} else if (strcmp(phase, "cordon") == 0) {
		rc = k8s_node_cordon(k, host, true, NULL);
		if (rc != VIVA_OK) {
			snprintf(why, sizeof(why), "%s was not cordoned: %s", host, kube_last_error());
			return node_fail(op, node, rc, why);
		}
		audit(op, "node.upgrade.cordon", host, node, "ok");
		set_phase(node, "drain");
		json_object_set_new(node, "drainDeadline", json_integer(now + env->cfg->drain_timeout_s));
	} else if (strcmp(phase, "drain") == 0) {
		struct k8s_drain d;
		struct k8s_drain_opts o = { 0 };

		rc = k8s_drain_pass(k, host, &o, &d);
		if (rc != VIVA_OK) {
			k8s_drain_release(&d);
			snprintf(why, sizeof(why), "the drain of %s stopped: %s", host, kube_last_error());
			return node_fail(op, node, rc, why);
		}
		if (!d.done) {
			size_t left = json_array_size(d.blocked) + json_array_size(d.terminating) +
				      json_array_size(d.failed) + json_array_size(d.untried);

			k8s_drain_release(&d);
			if (now < dint(node, "drainDeadline"))
				return VIVA_OK;
			snprintf(why, sizeof(why), "%s is cordoned but not drained after %ds: %zu pods left (`%s node "
				 "drain %s` names what blocks)", host, env->cfg->drain_timeout_s, left,
				 dispatch_slash(env), host);
			return node_fail(op, node, VIVA_ETIMEOUT, why);
		}
		json_object_set_new(node, "evicted", json_integer((json_int_t)json_array_size(d.evicted)));
		k8s_drain_release(&d);
		audit(op, "node.upgrade.drain", host, node, "ok");
		set_phase(node, "mark");
	} else if (strcmp(phase, "mark") == 0) {
		/* reports from before this mark are not this upgrade's; saved before the node is
		 * asked, so that a restart in between does not miss a quick report */
		if (!json_is_integer(json_object_get(node, "afterReport"))) {
			json_object_set_new(node, "afterReport", json_integer(last_report_id(env, host)));
			rc = op_save(op);
			if (rc != VIVA_OK)
				return rc;
		}
		rc = store_node_upgrade_want(env->store, host, op_id(op), to, now);
		if (rc != VIVA_OK) {
			snprintf(why, sizeof(why), "%s's upgrade could not be recorded (%s)", host, viva_strerror(rc));
			return node_fail(op, node, rc, why);
		}
		audit(op, "node.upgrade.wanted", host, node, "ok");
		set_phase(node, "wait");
		json_object_set_new(node, "waitDeadline", json_integer(now + NODE_UPGRADE_TIMEOUT_S));
	} else if (strcmp(phase, "wait") == 0) {
		struct k8s_node kn;
		char *output = NULL;
		bool ready = false;
		int got = json_is_true(json_object_get(node, "reported"))
				  ? 1 : upgrade_report(env, host, dint(node, "afterReport"), &output);

		if (got < 0) {
			snprintf(why, sizeof(why), "%s reported a failed upgrade", host);
			json_object_set_new(node, "report", json_string(output ? output : ""));
			free(output);
			return node_fail(op, node, VIVA_EREMOTE, why);
		}
		if (got > 0 && !json_is_true(json_object_get(node, "reported"))) {
			json_object_set_new(node, "reported", json_true());
			*moved = true;   /* saved below, so a restart does not wait for it again */
		}
		memset(&kn, 0, sizeof(kn));
		if (got > 0 && k8s_node_get(k, host, &kn) == VIVA_OK)
			ready = kn.ready == K8S_READY_TRUE && strcmp(bare(kn.kubelet_version), to) == 0;
		if (!ready && now >= dint(node, "waitDeadline")) {
			snprintf(why, sizeof(why), "%s was not upgraded within %d min: %s", host,
				 NODE_UPGRADE_TIMEOUT_S / 60, got > 0 ? "it reported, but is not Ready with the new kubelet"
				 : "no upgrade report came");
			k8s_node_release(&kn);
			return node_fail(op, node, VIVA_ETIMEOUT, why);
		}
		if (ready) {
			json_object_set_new(node, "kubelet", json_string(kn.kubelet_version));
			audit(op, "node.upgrade.upgraded", host, node, "ok");
			set_phase(node, "uncordon");
		}
		k8s_node_release(&kn);
		if (!ready)
			return VIVA_OK;
	} else if (strcmp(phase, "uncordon") == 0) {
		/* a node cordoned before the run (maintenance) stays as it was found */
		rc = json_is_true(json_object_get(node, "wasCordoned")) ? VIVA_OK : k8s_node_cordon(k, host, false, NULL);
		if (rc != VIVA_OK) {
			snprintf(why, sizeof(why), "%s is upgraded but was not uncordoned: %s", host, kube_last_error());
			return node_fail(op, node, rc, why);
		}
		audit(op, "node.upgrade.uncordon", host, node,
		      json_is_true(json_object_get(node, "wasCordoned")) ? "ok: left cordoned, as it was found" : "ok");
		set_phase(node, "done");
	} else {
		return VIVA_OK;
	}
	*moved = true;
	return VIVA_OK;
}

/* The next pending node begins, or is skipped when it already runs its version. */
static int begin_node(struct op *op, struct kube *k, json_t *node)
{
	const char *host = dstr(node, "host");
	struct k8s_node kn;
	int rc;

	memset(&kn, 0, sizeof(kn));
	rc = k8s_node_get(k, host, &kn);
	if (rc == VIVA_ENOENT) {
		set_phase(node, "skipped");
		json_object_set_new(node, "skippedWhy", json_string("no longer in the cluster"));
		audit(op, "node.upgrade.skipped", host, node, "ok: no longer in the cluster");
	} else if (rc != VIVA_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s could not be read: %s", host, kube_last_error());
		return node_fail(op, node, rc, why);
	} else if (strcmp(bare(kn.kubelet_version), dstr(node, "to")) == 0) {
		/* upgraded meanwhile (by hand, or by a run before a restart): never twice */
		set_phase(node, "skipped");
		json_object_set_new(node, "skippedWhy", json_string("already at its version"));
		audit(op, "node.upgrade.skipped", host, node, "ok: already at its version");
	} else {
		if (!kn.schedulable)
			json_object_set_new(node, "wasCordoned", json_true());
		set_phase(node, "cordon");
		audit(op, "node.upgrade.begin", host, node, "ok");
	}
	k8s_node_release(&kn);
	return VIVA_OK;
}

static int step_upgrade(struct op *op)
{
	struct viva_env *env = op_env(op);
	json_t *data = op_data(op), *plan = json_object_get(data, "plan"), *node;
	int parallel = (int)dint(data, "parallel");
	long backoff = NODE_UPGRADE_POLL_MIN_MS;
	struct kube *k;
	size_t i;
	int rc = run_client(op, &k);

	if (rc != VIVA_OK)
		return rc;
	if (parallel < 1)
		parallel = 1;
	/* (again, after a restart: its notice took the Stop button away) */
	if (count_phase(plan, "pending") < json_array_size(plan))
		progress(op);
	for (;;) {
		size_t active = 0;
		bool moved = false;

		if (!json_is_string(json_object_get(data, "stopped"))) {
			char *by = NULL;

			if (store_node_upgrade_stopped(env->store, op_id(op), &by) == VIVA_OK) {
				char *who = mrkdwn_user(by);

				json_object_set_new(data, "stopped", json_string(who));
				audit(op, "node.upgrade.stop", dstr(data, "cluster"), NULL, "ok");
				moved = true;
				free(who);
			}
			free(by);
		}
		json_array_foreach(plan, i, node)
			if (active_phase(dstr(node, "phase")))
				active++;
		json_array_foreach(plan, i, node) {
			if (active >= (size_t)parallel || json_is_string(json_object_get(data, "stopped")))
				break;
			if (strcmp(dstr(node, "phase"), "pending") != 0)
				continue;
			rc = begin_node(op, k, node);
			if (rc != VIVA_OK)
				return rc;
			if (active_phase(dstr(node, "phase")))
				active++;
			moved = true;
			rc = op_save(op);
			if (rc != VIVA_OK)
				return rc;
		}
		if (active == 0) {
			if (moved)
				progress(op);
			break;
		}
		json_array_foreach(plan, i, node) {
			bool m = false;

			if (!active_phase(dstr(node, "phase")))
				continue;
			rc = advance(op, k, node, &m);
			if (rc != VIVA_OK)
				return rc;
			if (m) {
				moved = true;
				rc = op_save(op);
				if (rc != VIVA_OK)
					return rc;
			}
		}
		if (moved) {
			progress(op);
			backoff = NODE_UPGRADE_POLL_MIN_MS;
			continue;
		}
		if (!op_sleep(op, backoff))
			return OP_PAUSED;
		backoff = backoff * 2 > NODE_UPGRADE_POLL_MAX_MS ? NODE_UPGRADE_POLL_MAX_MS : backoff * 2;
	}
	op_set_outcome(op, "%s: %zu upgraded, %zu skipped%s%s", dstr(data, "cluster"), count_phase(plan, "done"),
		       count_phase(plan, "skipped"),
		       json_is_string(json_object_get(data, "stopped")) ? "; stopped by " : "",
		       dstr(data, "stopped"));
	return VIVA_OK;
}

/* The last word: the outcome; on a failure the node's report and Resume. */
static void upgrade_report_msg(struct op *op, int rc)
{
	json_t *data = op_data(op), *plan = json_object_get(data, "plan"), *node, *failed = NULL;
	bool stopped = json_is_string(json_object_get(data, "stopped"));
	char *text;
	size_t i;

	json_array_foreach(plan, i, node)
		if (json_is_string(json_object_get(node, "failed")))
			failed = node;
	if (rc == VIVA_OK && json_array_size(plan) == 0)
		text = xasprintf(":white_check_mark: Nothing to upgrade: every node of cluster %s%s%s runs the version its "
				 "cluster config wants.", dstr(data, "cluster"),
				 json_is_string(json_object_get(data, "group")) ? ", group " : "", dstr(data, "group"));
	else if (rc == VIVA_OK && !stopped)
		text = xasprintf(":white_check_mark: Upgrade of cluster %s done: %zu upgraded, %zu skipped "
				 "(already at their version).", dstr(data, "cluster"), count_phase(plan, "done"),
				 count_phase(plan, "skipped"));
	else if (rc == VIVA_OK)
		text = xasprintf(":double_vertical_bar: Upgrade of cluster %s stopped by %s: %zu/%zu upgraded. Resume "
				 "goes on with the rest.", dstr(data, "cluster"), dstr(data, "stopped"),
				 count_phase(plan, "done"), json_array_size(plan));
	else {
		/* the reason may quote the API or a node: escaped, as user text */
		char *why = mrkdwn_escape(failed ? dstr(failed, "failed") : op_why(op) ? op_why(op) : viva_strerror(rc));

		text = xasprintf(":x: Upgrade of cluster %s stopped at %s (%zu/%zu upgraded): %s. It stays cordoned; "
				 "Resume retries it, then goes on.", dstr(data, "cluster"),
				 failed ? dstr(failed, "host") : "?", count_phase(plan, "done"), json_array_size(plan), why);
		free(why);
	}
	message(op, text, false, rc != VIVA_OK || stopped, failed ? dstr(failed, "report") : NULL);
	free(text);
}

static const struct op_step upgrade_steps[] = {
	{ "plan", step_plan, true, false },
	{ "upgrade", step_upgrade, true, false },
};
const struct op_kind op_node_upgrade = { "node-upgrade", upgrade_steps, 2, upgrade_report_msg };

/* ---- the command and the buttons ---------------------------------------------------------------- */

int cmd_node_upgrade(struct viva_ctx *ctx)
{
	const char *cluster = ctx->argv[0], *group = ctx->argc > 1 ? ctx->argv[1] : NULL;
	char *who, *value, *scope;
	json_t *data, *v;
	int rc = check_target(ctx, cluster, group);

	if (rc != VIVA_OK)
		return rc;
	dispatch_audit(ctx, cluster, group ? json_pack("{s:s}", "group", group) : NULL);
	v = group ? json_pack("{s:s, s:s}", "cluster", cluster, "group", group) : json_pack("{s:s}", "cluster", cluster);
	value = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	who = mrkdwn_user(ctx->user_id);
	scope = group ? xasprintf("cluster %s, group %s", cluster, group) : xasprintf("cluster %s", cluster);
	data = json_pack("{s:s, s:s, s:s, s:s}", "cluster", cluster, "scope", scope, "who", who, "value", value);
	free(scope);
	rc = reply_template(ctx, "slack/node_upgrade", data, REPLY_IN_CHANNEL);
	json_decref(data);
	free(who);
	free(value);
	return rc;
}

static json_t *action_value(struct viva_ctx *ctx)
{
	const char *raw = json_string_value(json_object_get(ctx->action, "value"));
	json_t *v = raw ? json_loads(raw, 0, NULL) : NULL;

	if (!json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	return v;
}

/* Start (or, with from, continue) a run: data is the run's starting data. */
static int submit(struct viva_ctx *ctx, json_t *data, const char *channel, const char *ts, char *why,
		  size_t whylen, int64_t *id)
{
	char target[128];
	struct op_request rq;

	snprintf(target, sizeof(target), "nodes:%s", dstr(data, "cluster"));
	rq = (struct op_request){ .kind = &op_node_upgrade, .target = target, .data = data, .user = ctx->user_id,
				  .channel = channel, .message_ts = ts, .audit_id = ctx->audit_id,
				  .click_key = ctx->action_key };
	return ops_submit(ctx->env, &rq, id, why, whylen);
}

int act_node_upgrade(struct viva_ctx *ctx)
{
	json_t *container = json_object_get(ctx->payload, "container");
	const char *click_channel = json_string_value(json_object_get(container, "channel_id"));
	const char *click_ts = json_string_value(json_object_get(container, "message_ts"));
	const char *nodes = ctx->env->cfg->channel_nodes;
	json_t *v = action_value(ctx), *data = NULL;
	const char *cluster = json_string_value(json_object_get(v, "cluster"));
	const char *group = json_string_value(json_object_get(v, "group"));
	const char *channel, *ts;
	struct cluster_set *set = NULL;
	const struct cluster_config *c;
	char why[512];
	int64_t id = 0;
	int rc = check_target(ctx, cluster, group);

	if (rc != VIVA_OK)
		goto out;
	set = clusters_now(ctx->env);
	c = cluster_set_find(set, cluster);
	data = json_pack("{s:s, s:s, s:i}", "cluster", cluster, "kubernetesCluster", cluster_config_kube_cluster(c),
			 "parallel", cluster_config_parallel(c));
	if (group)
		json_object_set_new(data, "group", json_string(group));
	/* the progress is in channels.nodes; the clicked message there becomes it */
	if (!click_channel)
		click_channel = ctx->channel_id;
	channel = nodes && *nodes ? nodes : click_channel;
	ts = click_channel && channel && strcmp(channel, click_channel) == 0 ? click_ts : NULL;
	rc = submit(ctx, data, channel, ts, why, sizeof(why), &id);
	ctx->op_id = id;
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "The upgrade of cluster %s did not start: %s.", cluster, why);
		goto out;
	}
	ctx->op_async = ctx->env->ops != NULL;
	dispatch_audit(ctx, cluster, json_pack("{s:I, s:s}", "operation", (json_int_t)id, "group", group ? group : ""));
	reply_text(ctx, REPLY_REPLACE, "Upgrading the nodes of cluster %s%s%s (operation #%lld), asked by <@%s>. %s",
		   cluster, group ? ", group " : "", group ? group : "", (long long)id, ctx->user_id ? ctx->user_id : "",
		   ts ? "This message shows how it goes." : "Its progress is in channels.nodes.");
out:
	cluster_set_unref(set);
	json_decref(data);
	json_decref(v);
	return rc;
}

/* The run a Stop or Resume button names (caller releases *op), or a reply saying why not. */
static int button_run(struct viva_ctx *ctx, struct store_op *op)
{
	json_t *v = action_value(ctx);
	json_int_t id = json_integer_value(json_object_get(v, "op"));
	int rc;

	json_decref(v);
	memset(op, 0, sizeof(*op));
	rc = id > 0 ? store_op_get(ctx->env->store, id, op) : VIVA_ENOENT;
	if (rc == VIVA_OK && strcmp(op->kind, op_node_upgrade.name) != 0)
		rc = VIVA_ENOENT;
	if (rc != VIVA_OK)
		return reply_error(ctx, VIVA_ENOENT, NULL, "This button names no upgrade run viva knows.");
	return VIVA_OK;
}

int act_node_upgrade_stop(struct viva_ctx *ctx)
{
	struct store_op op;
	int rc = button_run(ctx, &op);

	if (rc != VIVA_OK)
		return rc;
	dispatch_audit(ctx, op.target, json_pack("{s:I}", "operation", (json_int_t)op.id));
	if (op.state != OP_RUNNING)
		rc = reply_error(ctx, VIVA_ECONFLICT, NULL, "Upgrade run #%lld has already ended (%s).", (long long)op.id,
				 store_op_state_name(op.state));
	else if ((rc = store_node_upgrade_stop(ctx->env->store, op.id, ctx->user_id ? ctx->user_id : "",
						now_of(ctx->env))) != VIVA_OK)
		rc = reply_error(ctx, rc, NULL, "The stop was not recorded (%s); try again.", viva_strerror(rc));
	else
		reply_text(ctx, REPLY_EPHEMERAL, "Upgrade run #%lld stops once the nodes in progress are upgraded.",
			   (long long)op.id);
	store_op_release(&op);
	return rc;
}

/*
 * Resume: a new run on the same target with the old run's plan; the nodes
 * done or skipped stay so, the failed one starts again from its cordon
 * (cordon and drain are idempotent; its upgrade is asked for anew, and only
 * a report after that counts). Only the newest run of the target resumes,
 * so a second click, or a click on an older message, starts nothing.
 */
int act_node_upgrade_resume(struct viva_ctx *ctx)
{
	struct store_op op, *newest = NULL;
	json_t *data = NULL, *node;
	size_t n = 0, i;
	char why[512];
	int64_t id = 0;
	int rc = button_run(ctx, &op);

	if (rc != VIVA_OK)
		return rc;
	rc = store_op_list(ctx->env->store, op.target, 1, &newest, &n);
	if (rc == VIVA_OK && (n == 0 || newest[0].id != op.id)) {
		rc = reply_error(ctx, VIVA_ECONFLICT, NULL, "Upgrade run #%lld was already followed by operation #%lld on "
				 "%s; `%s ops %s` shows it.", (long long)op.id, n ? (long long)newest[0].id : 0LL,
				 op.target, dispatch_slash(ctx->env), op.target);
		goto out;
	}
	data = op.data ? json_loads(op.data, 0, NULL) : NULL;
	if (rc != VIVA_OK || op.state == OP_RUNNING || op.state == OP_ABANDONED || !json_is_object(data) ||
	    (op.state == OP_DONE && !json_is_string(json_object_get(data, "stopped")))) {
		rc = reply_error(ctx, VIVA_ECONFLICT, NULL, "Upgrade run #%lld is %s: there is nothing to resume.",
				 (long long)op.id, store_op_state_name(op.state));
		goto out;
	}
	json_array_foreach(json_object_get(data, "plan"), i, node) {
		if (!json_is_string(json_object_get(node, "failed")))
			continue;
		json_object_del(node, "failed");
		json_object_del(node, "report");
		json_object_del(node, "reported");
		/* upgraded but not uncordoned: only that is left; otherwise from its cordon again
		 * (unless it upgraded itself meanwhile: "retry" has the run look first) */
		if (strcmp(dstr(node, "phase"), "uncordon") != 0) {
			set_phase(node, "cordon");
			json_object_set_new(node, "retry", json_true());
			json_object_del(node, "afterReport");
		}
	}
	json_object_del(data, "stopped");
	json_object_del(data, "audit");
	json_object_set_new(data, "resumedFrom", json_integer(op.id));
	rc = submit(ctx, data, op.channel, op.message_ts, why, sizeof(why), &id);
	ctx->op_id = id;
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "The upgrade did not resume: %s.", why);
		goto out;
	}
	ctx->op_async = ctx->env->ops != NULL;
	dispatch_audit(ctx, op.target, json_pack("{s:I, s:I}", "operation", (json_int_t)id, "resumes",
						 (json_int_t)op.id));
	reply_text(ctx, REPLY_EPHEMERAL, "Upgrade run #%lld resumed as operation #%lld.", (long long)op.id,
		   (long long)id);
out:
	json_decref(data);
	store_ops_free(newest, n);
	store_op_release(&op);
	return rc;
}
