/* The node commands and the drain operation (see handlers/nodes.h). */
#include "handlers/nodes.h"
#include "bot/clients/kube.h"
#include "bot/dispatch.h"
#include "bot/k8s/nodes.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/config.h"
#include "bot/nodes/cluster.h"
#include "bot/nodes/nodefiles.h"
#include "bot/reload.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "store/nodes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A section's text is at most 3000 characters: the lines of a list go in chunks under it. */
#define CHUNK_BUDGET 2800
/* Sections of lines in one message (Block Kit: 50 blocks). */
#define MAX_CHUNKS 40
/* Drifted nodes shown with buttons in one message (two blocks each). */
#define DRIFT_ROWS 20
#define REPORTS_SHOWN 5

/* The cluster configs in use (a reference; never NULL). */
static struct cluster_set *clusters_now(struct viva_env *env)
{
	return env->clusters ? cluster_current_get(env->clusters) : cluster_set_empty();
}

/* A node name as Kubernetes allows it (DNS-1123 subdomain), lower case. */
static bool valid_host(const char *h)
{
	size_t n = h ? strlen(h) : 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-' && c != '.')
			return false;
		/* each label starts and ends with a letter or digit */
		if (!alnum && (i == 0 || i + 1 == n || h[i - 1] == '.' || h[i + 1] == '.'))
			return false;
	}
	return true;
}

/*
 * The host's settings and its cluster's client: the reply says why when
 * there is none (no config covers it, or viva.yaml names no such cluster).
 */
static int node_target(struct viva_ctx *ctx, const char *host, struct node_settings **ns, struct kube **k)
{
	struct cluster_set *set;
	char err[512];
	int rc;

	*ns = NULL;
	if (k)
		*k = NULL;
	if (!valid_host(host))
		return reply_error(ctx, VIVA_EINVAL, NULL, "`%s` is not a node name (lower-case letters, digits, "
				   "'-' and '.').", host ? host : "");
	set = clusters_now(ctx->env);
	rc = cluster_resolve(set, host, ns, err, sizeof(err));
	cluster_set_unref(set);
	if (rc != VIVA_OK)
		return reply_error(ctx, rc == VIVA_EINVAL ? VIVA_EINVAL : VIVA_ENOENT, NULL, "%s", err);
	dispatch_audit(ctx, (*ns)->hostname, json_pack("{s:s}", "cluster", (*ns)->cluster));
	if (!k)
		return VIVA_OK;
	*k = ctx->env->kube ? kube_clients_get(ctx->env->kube, (*ns)->kubernetes_cluster) : NULL;
	if (!*k) {
		rc = reply_error(ctx, VIVA_EUNAVAIL, NULL, "Cluster %s is reached through cluster %s of viva.yaml, "
				 "which viva has no client for (clusters: in viva.yaml).", (*ns)->cluster,
				 (*ns)->kubernetes_cluster);
		node_settings_free(*ns);
		*ns = NULL;
	}
	return rc;
}

/* ---- node list / node drift ------------------------------------------------------------- */

struct listing {
	json_t *chunks;     /* [{text}] */
	json_t *rows;       /* drift: [{host, value, line}] */
	json_t *notes;      /* [{text}] */
	struct strbuf cur;  /* the chunk being filled */
	size_t nodes, shown, more;
};

static void chunk_add(struct listing *l, const char *line)
{
	size_t fit = mrkdwn_fit(line, strlen(line), CHUNK_BUDGET / 2);

	if (l->cur.len && l->cur.len + fit + 1 > CHUNK_BUDGET) {
		json_array_append_new(l->chunks, json_pack("{s:s}", "text", l->cur.buf));
		sb_release(&l->cur);
		sb_init(&l->cur);
	}
	if (json_array_size(l->chunks) >= MAX_CHUNKS) {
		l->more++;
		return;
	}
	if (l->cur.len)
		sb_addc(&l->cur, '\n');
	sb_add(&l->cur, line, fit);
	l->shown++;
}

static void note(struct listing *l, const char *fmt, const char *a, const char *b)
{
	char buf[600];

	snprintf(buf, sizeof(buf), fmt, a, b);
	json_array_append_new(l->notes, json_pack("{s:s}", "text", buf));
}

/* One line about node n; *drifted says whether its kubelet is not the desired version. */
static void node_line(const struct k8s_node *n, const struct node_settings *ns, char *buf, size_t len,
		      bool *drifted)
{
	const char *kv = n->kubelet_version[0] == 'v' ? n->kubelet_version + 1 : n->kubelet_version;
	char groups[256] = "";

	*drifted = ns && strcmp(kv, ns->kubernetes_version) != 0;
	for (size_t g = 0; ns && g < ns->ngroups; g++)
		snprintf(groups + strlen(groups), sizeof(groups) - strlen(groups), "%s%s", g ? "," : "",
			 ns->groups[g]);
	snprintf(buf, len, "%-32s %-10s %-9s %-8s %-13s %s", n->name,
		 n->kubelet_version[0] ? n->kubelet_version : "-", ns ? ns->kubernetes_version : "(no config)",
		 n->ready == K8S_READY_TRUE ? "Ready" : n->ready == K8S_READY_FALSE ? "NotReady" : "Unknown",
		 n->schedulable ? "schedulable" : "cordoned", groups[0] ? groups : "-");
}

/* The nodes of every kube cluster the configs (or the one named) join through. */
static void collect(struct viva_ctx *ctx, struct cluster_set *set, const char *only, bool drift_only,
		    struct listing *l)
{
	json_t *seen = json_object();

	for (size_t i = 0; i < cluster_set_count(set); i++) {
		const struct cluster_config *c = cluster_set_at(set, i);
		const char *kc = cluster_config_kube_cluster(c);
		struct kube *k;
		struct k8s_node_list nodes = { 0 };
		int rc;

		if ((only && strcmp(cluster_config_name(c), only) != 0) || json_object_get(seen, kc))
			continue;
		json_object_set_new(seen, kc, json_true());
		k = ctx->env->kube ? kube_clients_get(ctx->env->kube, kc) : NULL;
		if (!k) {
			note(l, "Cluster %s: viva.yaml has no cluster %s to read its nodes from.",
			     cluster_config_name(c), kc);
			continue;
		}
		rc = k8s_nodes_list(k, NULL, 0, &nodes);
		if (rc != VIVA_OK) {
			note(l, "Cluster %s: %s", kc, kube_last_error());
			continue;
		}
		for (size_t j = 0; j < nodes.n; j++) {
			struct node_settings *ns = NULL;
			char line[512], err[256];
			bool drifted;

			if (cluster_resolve(set, nodes.v[j].name, &ns, err, sizeof(err)) != VIVA_OK)
				ns = NULL;
			/* a node of another config's cluster, or of none, when one was asked for */
			if (only && (!ns || strcmp(ns->cluster, only) != 0)) {
				node_settings_free(ns);
				continue;
			}
			node_line(&nodes.v[j], ns, line, sizeof(line), &drifted);
			if (!drift_only) {
				l->nodes++;
				chunk_add(l, line);
			} else if (drifted) {
				l->nodes++;
				if (json_array_size(l->rows) < DRIFT_ROWS) {
					char *value = xasprintf("{\"host\":\"%s\"}", nodes.v[j].name);
					char *what = xasprintf("kubelet %s, wants %s · %s", nodes.v[j].kubelet_version,
							       ns->kubernetes_version,
							       nodes.v[j].schedulable ? "schedulable" : "cordoned");
					json_array_append_new(l->rows, json_pack("{s:s, s:s, s:s}", "host",
										 nodes.v[j].name, "value", value,
										 "line", what));
					free(value);
					free(what);
				} else {
					l->more++;
				}
			}
			node_settings_free(ns);
		}
		k8s_node_list_release(&nodes);
	}
	json_decref(seen);
}

static int node_listing(struct viva_ctx *ctx, bool drift)
{
	const char *only = ctx->argc > 0 ? ctx->argv[0] : NULL;
	struct cluster_set *set = clusters_now(ctx->env);
	struct listing l = { .chunks = json_array(), .rows = json_array(), .notes = json_array() };
	char title[160], empty[400];
	json_t *data;
	int rc;

	sb_init(&l.cur);
	if (only && !cluster_set_find(set, only)) {
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "No cluster config is named `%s` (the files in %s).", only,
				 ctx->env->cfg->cluster_configs);
		goto out;
	}
	if (cluster_set_count(set) == 0) {
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "No cluster config is loaded: put one <cluster>.yaml per "
				 "cluster in %s, then `%s node apply`.", ctx->env->cfg->cluster_configs,
				 dispatch_slash(ctx->env));
		goto out;
	}
	if (!drift)
		chunk_add(&l, "NAME                             KUBELET    DESIRED   READY    SCHEDULING    GROUPS");
	collect(ctx, set, only, drift, &l);
	if (l.cur.len)
		json_array_append_new(l.chunks, json_pack("{s:s}", "text", l.cur.buf));
	if (!drift && l.nodes == 0)
		json_array_clear(l.chunks);
	if (drift)
		snprintf(title, sizeof(title), "Version drift%s%s: %zu node%s", only ? " in " : "", only ? only : "",
			 l.nodes, l.nodes == 1 ? "" : "s");
	else
		snprintf(title, sizeof(title), "Nodes%s%s (%zu)", only ? " of " : "", only ? only : "", l.nodes);
	snprintf(empty, sizeof(empty), drift ? "Every node runs the Kubernetes version its cluster config wants."
					     : "No node was read.");
	data = json_pack("{s:s, s:I, s:b, s:s, s:O, s:O, s:O, s:b, s:I, s:s}", "title", title, "total",
			 (json_int_t)l.nodes, "empty", l.nodes == 0, "empty_text", empty, "chunks", l.chunks, "rows",
			 l.rows, "notes", l.notes, "drift", drift, "more", (json_int_t)l.more, "slash",
			 dispatch_slash(ctx->env));
	rc = reply_template(ctx, "slack/node_list", data, REPLY_EPHEMERAL);
	json_decref(data);
out:
	sb_release(&l.cur);
	json_decref(l.chunks);
	json_decref(l.rows);
	json_decref(l.notes);
	cluster_set_unref(set);
	return rc;
}

int cmd_node_list(struct viva_ctx *ctx)
{
	return node_listing(ctx, false);
}

int cmd_node_drift(struct viva_ctx *ctx)
{
	return node_listing(ctx, true);
}

/* ---- node show ------------------------------------------------------------------------------ */

static char *settings_text(const struct node_settings *ns)
{
	json_t *j = node_settings_json(ns), *v;
	const char *key;
	struct strbuf sb;

	sb_init(&sb);
	json_object_foreach(j, key, v) {
		char *s = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if (sb.len + strlen(key) + strlen(s) + 4 < CHUNK_BUDGET / 2) {
			sb_adds(&sb, key);
			sb_adds(&sb, ": ");
			sb_adds(&sb, s);
			sb_addc(&sb, '\n');
		}
		free(s);
	}
	json_decref(j);
	return sb_detach(&sb);
}

int cmd_node_show(struct viva_ctx *ctx)
{
	struct node_settings *ns = NULL;
	struct node_files files = { 0 };
	struct store_node_report *reps = NULL;
	size_t nrep = 0;
	struct strbuf fl;
	char err[512] = "", *settings;
	json_t *reports = json_array(), *data;
	int rc = node_target(ctx, ctx->argv[0], &ns, NULL);

	sb_init(&fl);
	if (rc != VIVA_OK)
		goto out;
	if (nodefiles_render(ctx->env->cfg->node_templates, ns, &files, err, sizeof(err)) == VIVA_OK)
		for (size_t i = 0; i < files.n; i++) {
			if (fl.len + strlen(files.v[i].path) + 8 > CHUNK_BUDGET / 2) {
				sb_adds(&fl, "...\n");
				break;
			}
			sb_adds(&fl, files.v[i].mode);
			sb_addc(&fl, ' ');
			sb_adds(&fl, files.v[i].path);
			sb_addc(&fl, '\n');
		}
	if (ctx->env->store && store_node_reports(ctx->env->store, ns->hostname, REPORTS_SHOWN, &reps, &nrep) == VIVA_OK)
		for (size_t i = 0; i < nrep; i++) {
			char *when = mrkdwn_date(reps[i].received), *line;
			char *out = xstrndup(reps[i].output, mrkdwn_fit(reps[i].output, strlen(reps[i].output), 400));

			line = xasprintf("%s %s %s%s%s%s%s", reps[i].ok ? ":white_check_mark:" : ":x:", reps[i].phase,
					 reps[i].ok ? "ok" : "failed", reps[i].kubelet_version[0] ? ", kubelet " : "",
					 reps[i].kubelet_version, out[0] && !reps[i].ok ? ": " : "",
					 reps[i].ok ? "" : out);
			json_array_append_new(reports, json_pack("{s:s+}", "line", line, when));
			free(line);
			free(out);
			free(when);
		}
	store_node_reports_free(reps, nrep);
	settings = settings_text(ns);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:b, s:s}", "host", ns->hostname, "cluster",
			 ns->cluster, "role", node_role_name(ns->role), "settings", settings, "files", fl.buf ? fl.buf : "",
			 "files_error", err, "reports", reports, "no_reports", nrep == 0, "slash",
			 dispatch_slash(ctx->env));
	rc = reply_template(ctx, "slack/node_show", data, REPLY_EPHEMERAL);
	json_decref(data);
	free(settings);
out:
	sb_release(&fl);
	json_decref(reports);
	node_files_release(&files);
	node_settings_free(ns);
	return rc;
}

/* ---- cordon / uncordon ------------------------------------------------------------------------ */

static int cordon(struct viva_ctx *ctx, const char *host, bool on, unsigned flags)
{
	struct node_settings *ns = NULL;
	struct kube *k = NULL;
	bool changed = false;
	int rc = node_target(ctx, host, &ns, &k);

	if (rc != VIVA_OK)
		return rc;
	rc = k8s_node_cordon(k, ns->hostname, on, &changed);
	if (rc != VIVA_OK)
		rc = reply_error(ctx, rc, NULL, "%s was not %s: %s", ns->hostname, on ? "cordoned" : "uncordoned",
				 kube_last_error());
	else
		reply_text(ctx, flags, "%s %s %s%s.", ns->hostname, changed ? "is now" : "was already",
			   on ? "cordoned (no new pods)" : "schedulable", changed ? "" : "; nothing changed");
	node_settings_free(ns);
	return rc;
}

int cmd_node_cordon(struct viva_ctx *ctx)
{
	return cordon(ctx, ctx->argv[0], true, REPLY_IN_CHANNEL);
}

int cmd_node_uncordon(struct viva_ctx *ctx)
{
	return cordon(ctx, ctx->argv[0], false, REPLY_IN_CHANNEL);
}

/* The host a node button carries ({"host": HOST}); "" when it carries none (caller frees). */
static char *value_host(struct viva_ctx *ctx)
{
	const char *raw = json_string_value(json_object_get(ctx->action, "value"));
	json_t *v = raw ? json_loads(raw, 0, NULL) : NULL;
	char *host = xstrdup(json_string_value(json_object_get(v, "host")) ?
			     json_string_value(json_object_get(v, "host")) : "");

	json_decref(v);
	return host;
}

int act_node_cordon(struct viva_ctx *ctx)
{
	char *host = value_host(ctx);
	int rc = cordon(ctx, host, true, REPLY_EPHEMERAL);

	free(host);
	return rc;
}

/* ---- drain: the operation ----------------------------------------------------------------------- */

/* The node's client again (a resumed operation has only its target). */
static int drain_client(struct op *op, struct kube **k)
{
	struct viva_env *env = op_env(op);
	const char *kc = json_string_value(json_object_get(op_data(op), "kubernetesCluster"));

	*k = kc && env->kube ? kube_clients_get(env->kube, kc) : NULL;
	if (!*k)
		return op_fail(op, VIVA_EUNAVAIL, "viva has no client for cluster %s any more", kc ? kc : "?");
	return VIVA_OK;
}

static const char *drain_host(struct op *op)
{
	return json_string_value(json_object_get(op_data(op), "host"));
}

static int step_drain_cordon(struct op *op)
{
	struct kube *k;
	int rc = drain_client(op, &k);

	if (rc != VIVA_OK)
		return rc;
	rc = k8s_node_cordon(k, drain_host(op), true, NULL);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s was not cordoned: %s", drain_host(op), kube_last_error());
	op_progress(op, "%s cordoned; evicting its pods", drain_host(op));
	return VIVA_OK;
}

/* Add every element of from to the array data[key] (names already there are not repeated). */
static void accumulate(json_t *data, const char *key, json_t *from)
{
	json_t *to = json_object_get(data, key), *v;
	size_t i;

	if (!json_is_array(to)) {
		to = json_array();
		json_object_set_new(data, key, to);
	}
	json_array_foreach(from, i, v) {
		json_t *w;
		size_t j;
		bool dup = false;

		json_array_foreach(to, j, w)
			if (json_equal(json_object_get(w, "name"), json_object_get(v, "name")) &&
			    json_equal(json_object_get(w, "namespace"), json_object_get(v, "namespace")))
				dup = true;
		if (!dup && json_array_size(to) < K8S_DRAIN_MAX_PODS)
			json_array_append(to, v);
	}
}

/* "web (2 pods)" for the budgets that block, from a pass's blocked list. */
static char *blocking(json_t *blocked)
{
	struct strbuf sb;
	json_t *v;
	size_t i;

	sb_init(&sb);
	json_array_foreach(blocked, i, v) {
		const char *pdb = json_string_value(json_object_get(v, "pdb"));
		sb_adds(&sb, i ? ", " : "");
		sb_adds(&sb, json_string_value(json_object_get(v, "namespace")));
		sb_addc(&sb, '/');
		sb_adds(&sb, json_string_value(json_object_get(v, "name")));
		sb_adds(&sb, " (PodDisruptionBudget ");
		sb_adds(&sb, pdb && *pdb ? pdb : "unknown");
		sb_addc(&sb, ')');
		if (i >= 9 && json_array_size(blocked) > 10) {
			sb_adds(&sb, ", ...");
			break;
		}
	}
	return sb_detach(&sb);
}

static int step_drain_evict(struct op *op)
{
	struct viva_env *env = op_env(op);
	json_t *data = op_data(op);
	int64_t now = env->clock->now(env->clock), deadline;
	long backoff = K8S_DRAIN_BACKOFF_MS;
	struct kube *k;
	int rc = drain_client(op, &k);

	if (rc != VIVA_OK)
		return rc;
	/* the deadline is the operation's, kept across restarts */
	if (!json_is_integer(json_object_get(data, "deadline"))) {
		json_object_set_new(data, "deadline", json_integer(now + env->cfg->drain_timeout_s));
		/* kept now: a restart mid-drain must not start the timeout again */
		rc = op_save(op);
		if (rc != VIVA_OK)
			return rc;
	}
	deadline = json_integer_value(json_object_get(data, "deadline"));
	for (int pass = 0; pass < K8S_DRAIN_MAX_PASSES; pass++) {
		struct k8s_drain d;
		struct k8s_drain_opts o = { 0 };

		rc = k8s_drain_pass(k, drain_host(op), &o, &d);
		if (rc != VIVA_OK) {
			k8s_drain_release(&d);
			return op_fail(op, rc, "the drain of %s stopped: %s", drain_host(op), kube_last_error());
		}
		accumulate(data, "evicted", d.evicted);
		accumulate(data, "warnings", d.warnings);
		json_object_set(data, "skipped", d.skipped);
		if (d.done) {
			k8s_drain_release(&d);
			return VIVA_OK;
		}
		now = env->clock->now(env->clock);
		if (now >= deadline) {
			char *who = blocking(d.blocked);
			size_t left = json_array_size(d.blocked) + json_array_size(d.terminating) +
				      json_array_size(d.failed) + json_array_size(d.untried);

			rc = op_fail(op, VIVA_ETIMEOUT, "%s is cordoned but not drained after %ds: %zu pods left%s%s",
				     drain_host(op), env->cfg->drain_timeout_s, left, who[0] ? ", blocked: " : "", who);
			free(who);
			k8s_drain_release(&d);
			return rc;
		}
		op_progress(op, "draining %s: %zu evicted, %zu blocked, %zu terminating", drain_host(op),
			    json_array_size(json_object_get(data, "evicted")), json_array_size(d.blocked),
			    json_array_size(d.terminating));
		k8s_drain_release(&d);
		if (!op_sleep(op, backoff))
			return OP_PAUSED;
		backoff = backoff * 2 > K8S_DRAIN_BACKOFF_MAX_MS ? K8S_DRAIN_BACKOFF_MAX_MS : backoff * 2;
	}
	return op_fail(op, VIVA_ETIMEOUT, "the drain of %s made no end in %d passes", drain_host(op),
		       K8S_DRAIN_MAX_PASSES);
}

static int step_drain_report(struct op *op)
{
	json_t *data = op_data(op), *w = json_object_get(data, "warnings"), *v;
	struct strbuf sb;
	size_t i;

	sb_init(&sb);
	json_array_foreach(w, i, v) {
		sb_adds(&sb, i ? ", " : "; bare pods evicted, nothing recreates them: ");
		sb_adds(&sb, json_string_value(json_object_get(v, "namespace")));
		sb_addc(&sb, '/');
		sb_adds(&sb, json_string_value(json_object_get(v, "name")));
		if (i >= 9)
			break;
	}
	op_set_outcome(op, "%s drained: %zu pods evicted, %zu left (DaemonSet and mirror pods)%s", drain_host(op),
		       json_array_size(json_object_get(data, "evicted")),
		       json_array_size(json_object_get(data, "skipped")), sb.buf ? sb.buf : "");
	sb_release(&sb);
	return VIVA_OK;
}

static const struct op_step drain_steps[] = {
	{ "cordon", step_drain_cordon, true, false },
	{ "evict", step_drain_evict, true, false },
	{ "report", step_drain_report, true, false },
};
const struct op_kind op_node_drain = { "node-drain", drain_steps, 3, NULL };

int cmd_node_drain(struct viva_ctx *ctx)
{
	struct node_settings *ns = NULL;
	struct kube *k = NULL;
	char *who, *value;
	json_t *data;
	int rc = node_target(ctx, ctx->argv[0], &ns, &k);

	if (rc != VIVA_OK)
		return rc;
	who = mrkdwn_user(ctx->user_id);
	value = xasprintf("{\"host\":\"%s\"}", ns->hostname);
	data = json_pack("{s:s, s:s, s:s, s:s}", "host", ns->hostname, "cluster", ns->cluster, "who", who,
			 "value", value);
	rc = reply_template(ctx, "slack/node_drain", data, REPLY_IN_CHANNEL);
	json_decref(data);
	free(value);
	free(who);
	node_settings_free(ns);
	return rc;
}

int act_node_drain(struct viva_ctx *ctx)
{
	json_t *container = json_object_get(ctx->payload, "container");
	const char *channel = json_string_value(json_object_get(container, "channel_id"));
	const char *ts = json_string_value(json_object_get(container, "message_ts"));
	struct node_settings *ns = NULL;
	struct kube *k = NULL;
	char why[512], target[300];
	int64_t id = 0;
	json_t *data;
	char *host = value_host(ctx);
	int rc = node_target(ctx, host, &ns, &k);

	free(host);
	if (rc != VIVA_OK)
		return rc;
	snprintf(target, sizeof(target), "node:%s", ns->hostname);
	data = json_pack("{s:s, s:s, s:s}", "host", ns->hostname, "cluster", ns->cluster, "kubernetesCluster",
			 ns->kubernetes_cluster);
	{
		struct op_request rq = { .kind = &op_node_drain, .target = target, .data = data, .user = ctx->user_id,
					 .channel = channel ? channel : ctx->channel_id, .message_ts = ts,
					 .audit_id = ctx->audit_id, .click_key = ctx->action_key };
		rc = ops_submit(ctx->env, &rq, &id, why, sizeof(why));
	}
	json_decref(data);
	ctx->op_id = id;
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "%s was not drained: %s.", ns->hostname, why);
	} else {
		ctx->op_async = ctx->env->ops != NULL;
		dispatch_audit(ctx, NULL, json_pack("{s:I}", "operation", (json_int_t)id));
		reply_text(ctx, REPLY_REPLACE, "Draining %s (operation #%lld), asked by <@%s>. This message shows how "
			   "it goes.", ns->hostname, (long long)id, ctx->user_id ? ctx->user_id : "");
	}
	node_settings_free(ns);
	return rc;
}

/* ---- node apply --------------------------------------------------------------------------------- */

int cmd_node_apply(struct viva_ctx *ctx)
{
	struct cluster_report rep;
	struct cluster_set *set;
	struct strbuf sb;
	json_t *problems = json_array(), *missing, *v;
	char err[512] = "", **names, *text;
	size_t i;
	int rc;

	cluster_report_init(&rep);
	rc = reload_clusters(ctx->env, &rep, err, sizeof(err));
	if (rc != VIVA_OK) {
		cluster_report_release(&rep);
		json_decref(problems);
		return reply_error(ctx, rc, NULL, "The cluster configs were not re-read (%s): %s. The ones in use "
				   "stay.", ctx->env->cfg->cluster_configs, err);
	}
	sb_init(&sb);
	text = cluster_report_format(&rep);
	set = clusters_now(ctx->env);
	sb_adds(&sb, text[0] ? text : "Nothing changed.");
	free(text);
	/* what would make a node's bootstrap fail, said now rather than at its boot */
	names = xcalloc(ctx->env->cfg->n_clusters + 1, sizeof(*names));
	for (i = 0; i < ctx->env->cfg->n_clusters; i++)
		names[i] = ctx->env->cfg->clusters[i].name;
	missing = cluster_set_check_kube_clusters(set, names, ctx->env->cfg->n_clusters);
	json_array_foreach(missing, i, v) {
		sb_adds(&sb, "\n:warning: ");
		sb_adds(&sb, json_string_value(json_object_get(v, "error")));
	}
	nodefiles_check_set(ctx->env->cfg->node_templates, set, problems);
	json_array_foreach(problems, i, v) {
		const char *host = json_string_value(json_object_get(v, "host"));
		sb_adds(&sb, "\n:warning: cluster ");
		sb_adds(&sb, json_string_value(json_object_get(v, "cluster")));
		if (host) {
			sb_adds(&sb, ", ");
			sb_adds(&sb, host);
		}
		sb_adds(&sb, ": ");
		sb_adds(&sb, json_string_value(json_object_get(v, "error")));
	}
	dispatch_audit(ctx, NULL, json_pack("{s:I, s:I, s:I, s:I}", "clusters", (json_int_t)cluster_set_count(set),
					    "added", (json_int_t)json_array_size(rep.added), "changed",
					    (json_int_t)json_array_size(rep.changed), "invalid",
					    (json_int_t)json_array_size(rep.invalid)));
	reply_text(ctx, REPLY_EPHEMERAL, "Cluster configs (%zu in use, from %s):\n%s", cluster_set_count(set),
		   ctx->env->cfg->cluster_configs, sb.buf);
	rc = json_array_size(rep.invalid) > 0 ? VIVA_EINVAL : VIVA_OK;
	if (rc != VIVA_OK && !ctx->outcome_detail)
		ctx->outcome_detail = xstrdup("some cluster configs are invalid (their last good version stays)");
	json_decref(missing);
	free(names);
	cluster_set_unref(set);
	sb_release(&sb);
	json_decref(problems);
	cluster_report_release(&rep);
	return rc;
}
