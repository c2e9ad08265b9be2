/* The node HTTP API (see handlers/node_api.h). */
#include "handlers/node_api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/model/builtin.h"
#include "bot/model/config.h"
#include "bot/clients/kube.h"
#include "bot/k8s/nodes.h"
#include "bot/nodes/cluster.h"
#include "bot/nodes/nodefiles.h"
#include "bot/nodes/report.h"
#include "bot/reply.h"
#include "bot/runtime.h"
#include "bot/slack/mrkdwn.h"
#include "store/audit.h"
#include "store/nodes.h"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The script a node fetches is small; an operator's copy is capped. */
#define SCRIPT_MAX (256 * 1024)

static void answer_error(struct http_request *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void answer_error(struct http_request *req, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s}", "error", msg);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http_request_answer(req, status, "application/json", xasprintf("%s\n", s));
	free(s);
}

/* GET /v1/bootstrap.sh: node_templates' bootstrap.sh, else the built-in one. */
static void serve_script(struct viva_env *env, struct http_request *req)
{
	const char *dir = env->cfg->node_templates;
	const struct builtin_file *b;
	const char *why = NULL;
	char *text = NULL;

	if (dir && *dir) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = dfd < 0 ? VIVA_ENOENT
				 : read_regular_file(dfd, "bootstrap.sh", READ_BENEATH, SCRIPT_MAX, &text, NULL, &why);
		if (dfd >= 0)
			close(dfd);
		if (rc == VIVA_OK) {
			http_request_answer(req, 200, "text/x-shellscript; charset=utf-8", text);
			return;
		}
		if (rc != VIVA_ENOENT) {
			log_error("node_templates/bootstrap.sh not served", "dir=%s why=\"%s\"", dir, why ? why : "");
			answer_error(req, 500, "the operator's bootstrap.sh cannot be served (%s); see viva's log",
				     why ? why : "cannot be read");
			return;
		}
	}
	b = builtin_find("node/bootstrap.sh");
	if (!b) {
		answer_error(req, 404, "no bootstrap script is built into this viva");
		return;
	}
	http_request_answer(req, 200, "text/x-shellscript; charset=utf-8", xstrndup((const char *)b->data, b->len));
}

/* ---- GET /v1/nodes/{host}/bootstrap ---------------------------------------------------- */

/* The set in use (a reference; never NULL). */
static struct cluster_set *clusters_now(struct viva_env *env)
{
	return env->clusters ? cluster_current_get(env->clusters) : cluster_set_empty();
}

/* 404 for a host no config covers (409 when two list it), with cluster_resolve's reason. */
static int resolve(struct viva_env *env, struct http_request *req, const char *host, struct node_settings **ns)
{
	struct cluster_set *set = clusters_now(env);
	char err[512];
	int rc = cluster_resolve(set, host, ns, err, sizeof(err));

	cluster_set_unref(set);
	if (rc != VIVA_OK)
		answer_error(req, rc == VIVA_ECONFLICT ? 409 : 404, "%s", err);
	return rc;
}

/* An error of the cluster's API: 503 (the script tries again), with the client's line. */
static void answer_cluster_error(struct http_request *req, const char *cluster, int rc, const char *what)
{
	answer_error(req, 503, "%s of cluster %s failed: %s", what, cluster,
		     kube_last_error()[0] ? kube_last_error() : viva_strerror(rc));
}

static char *audit_params(const struct node_settings *ns, const char *token_id)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s}", "cluster", ns->cluster, "role", node_role_name(ns->role),
			      "kubernetesVersion", ns->kubernetes_version, "kubernetesCluster",
			      ns->kubernetes_cluster);
	char *s;

	if (token_id)
		json_object_set_new(p, "tokenId", json_string(token_id));
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(p);
	return s;
}

static void serve_bootstrap(struct viva_env *env, struct http_request *req, const char *host)
{
	struct node_settings *ns = NULL;
	struct node_files files = { 0 };
	struct k8s_token tok;
	json_t *hashes = NULL, *answer;
	struct kube *k;
	int64_t now = env->clock->now(env->clock), audit_id = 0;
	char err[512], token[K8S_TOKEN_LEN + 1], *params, *text;
	bool upgrade;
	int rc;

	memset(&tok, 0, sizeof(tok));
	if (resolve(env, req, host, &ns) != VIVA_OK)
		return;
	rc = nodefiles_render(env->cfg->node_templates, ns, &files, err, sizeof(err));
	if (rc != VIVA_OK) {
		log_warn("node bootstrap refused: files", "host=%s err=\"%s\"", host, err);
		answer_error(req, 422, "%s", err);
		goto out;
	}
	k = env->kube ? kube_clients_get(env->kube, ns->kubernetes_cluster) : NULL;
	if (!k) {
		answer_error(req, 503, "cluster %s joins through the API of cluster %s, which is not in viva.yaml's "
			     "clusters", ns->cluster, ns->kubernetes_cluster);
		goto out;
	}
	rc = k8s_ca_hashes(k, &hashes);
	if (rc != VIVA_OK) {
		answer_cluster_error(req, ns->kubernetes_cluster, rc, "reading the CA (kube-public/cluster-info)");
		goto out;
	}
	/* the action is audited before it is done: no token without its row */
	params = audit_params(ns, NULL);
	rc = env->store ? store_audit_begin(env->store, now, "node", "node.bootstrap", host, params, &audit_id)
			: VIVA_OK;
	free(params);
	if (rc != VIVA_OK) {
		answer_error(req, 503, "viva could not write its audit log, so it minted no token; try again");
		goto out;
	}
	rc = k8s_token_create(k, &(struct k8s_token_opts){ .host = host, .now = now }, &tok);
	if (rc != VIVA_OK) {
		if (audit_id)
			store_audit_finish(env->store, audit_id, NULL, NULL, "error: no token minted");
		answer_cluster_error(req, ns->kubernetes_cluster, rc, "minting a bootstrap token");
		goto out;
	}
	if (audit_id) {
		params = audit_params(ns, tok.id);
		store_audit_finish(env->store, audit_id, NULL, params, "ok");
		free(params);
	}
	/* a rolling upgrade (handlers/node_upgrade.c) drained it and wants it upgraded */
	upgrade = env->store && store_node_upgrade_get(env->store, ns->hostname, NULL, NULL) == VIVA_OK;
	log_info("node bootstrap", "host=%s cluster=%s role=%s version=%s upgrade=%d token_id=%s", host,
		 ns->cluster, node_role_name(ns->role), ns->kubernetes_version, upgrade, tok.id);
	answer = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:{s:s, s:s, s:O}}",
			   "hostname", ns->hostname, "cluster", ns->cluster, "datacenter", ns->datacenter,
			   "role", node_role_name(ns->role), "upgrade", upgrade,
			   "settings", node_settings_json(ns), "files", node_files_json(&files),
			   "join", "apiServer", ns->api_server,
			   "token", k8s_token_string(&tok, token, sizeof(token)), "caCertHashes", hashes);
	text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	json_decref(answer);
	OPENSSL_cleanse(token, sizeof(token));
	if (!text) {
		/* a value jansson refused (not UTF-8): the token expires unused */
		log_error("node bootstrap answer not made", "host=%s token_id=%s", host, tok.id);
		answer_error(req, 500, "viva could not make the answer for %s; see its log", host);
		goto out;
	}
	http_request_answer(req, 200, "application/json", xasprintf("%s\n", text));
	OPENSSL_cleanse(text, strlen(text));
	free(text);
out:
	k8s_token_wipe(&tok);
	json_decref(hashes);
	node_files_release(&files);
	node_settings_free(ns);
}

/* ---- POST /v1/nodes/{host}/report --------------------------------------------------------- */

/* The message in channels.nodes (templates/slack/node_report.json). */
static int post_report(struct viva_env *env, const struct node_settings *ns, const struct node_report *r)
{
	struct reply rep;
	struct viva_ctx ctx;
	json_t *data;
	int rc;

	if (!env->cfg->channel_nodes)
		return VIVA_ENOENT;
	runtime_channel_reply(&rep, env);
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.reply = &rep;
	ctx.user_id = "node";
	bool join = strcmp(r->phase, "join") == 0;
	char headline[512], *output;

	if (r->ok)
		snprintf(headline, sizeof(headline), "%s %s cluster %s%s%s%s%s", ns->hostname,
			 join ? "joined" : "was upgraded in", ns->cluster, join ? " as a " : "",
			 join ? node_role_name(ns->role) : "", r->kubelet_version[0] ? ", kubelet " : "",
			 r->kubelet_version);
	else
		snprintf(headline, sizeof(headline), "%s failed to %s cluster %s%s", ns->hostname,
			 join ? "join" : "upgrade in", ns->cluster, r->output[0] ? ":" : "");
	/* escaped, the lines must still fit a section (3000) with the fences */
	output = xstrndup(r->output, mrkdwn_fit(r->output, strlen(r->output), 2900));
	data = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "host", ns->hostname, "cluster", ns->cluster,
			 "role", node_role_name(ns->role), "phase", r->phase, "ok", r->ok,
			 "kubelet", r->kubelet_version, "headline", headline, "output", r->ok ? "" : output);
	free(output);
	rc = reply_post_template(&ctx, env->cfg->channel_nodes, "slack/node_report", data);
	json_decref(data);
	free(ctx.outcome_detail);
	return rc;
}

int node_api_accept_report(struct viva_env *env, const struct node_settings *ns, const struct node_report *r,
			   bool *posted_out)
{
	struct store_node_report row;
	int64_t now = env->clock->now(env->clock);
	char *params;
	json_t *p;
	int rc, posted;

	if (posted_out)
		*posted_out = false;
	/* the row only borrows (store_node_report_add reads it) */
	row = (struct store_node_report){ .hostname = ns->hostname, .cluster = ns->cluster,
					  .phase = (char *)r->phase, .ok = r->ok,
					  .kubelet_version = (char *)r->kubelet_version, .output = r->output,
					  .received = now };
	rc = env->store ? store_node_report_add(env->store, &row, NULL) : VIVA_OK;
	if (rc != VIVA_OK)
		return rc;
	/* SPEC 10.5: a node's upgrade: true clears once its successful upgrade report is accepted */
	if (env->store && r->ok && strcmp(r->phase, "upgrade") == 0 &&
	    store_node_upgrade_clear(env->store, ns->hostname) != VIVA_OK)
		log_warn("node upgrade flag not cleared", "host=%s", ns->hostname);
	posted = post_report(env, ns, r);
	if (posted == VIVA_ENOENT)
		log_warn("node report not posted", "host=%s why=\"channels.nodes is not set in viva.yaml\"",
			 ns->hostname);
	else if (posted != VIVA_OK)
		log_warn("node report not posted", "host=%s err=\"%s\"", ns->hostname, viva_strerror(posted));
	p = json_pack("{s:s, s:s, s:b, s:s}", "cluster", ns->cluster, "phase", r->phase, "ok", r->ok,
		      "kubeletVersion", r->kubelet_version);
	params = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (env->store)
		store_audit_add(env->store, now, "node", "node.report", ns->hostname, params,
				r->ok ? "ok" : "error: failed");
	free(params);
	log_info("node report", "host=%s cluster=%s phase=%s ok=%d kubelet=%s", ns->hostname, ns->cluster, r->phase,
		 r->ok, r->kubelet_version);
	if (posted_out)
		*posted_out = posted == VIVA_OK;
	return VIVA_OK;
}

static void serve_report(struct viva_env *env, struct http_request *req, const char *host)
{
	struct node_settings *ns = NULL;
	struct node_report r;
	char err[256];
	bool posted = false;
	int rc;

	if (node_report_parse(req->body, req->body_len, &r, err, sizeof(err)) != VIVA_OK) {
		answer_error(req, 400, "%s", err);
		return;
	}
	if (resolve(env, req, host, &ns) != VIVA_OK)
		goto out;
	rc = node_api_accept_report(env, ns, &r, &posted);
	if (rc != VIVA_OK) {
		answer_error(req, 503, "viva could not keep the report (%s); send it again", viva_strerror(rc));
		goto out;
	}
	http_request_answer(req, 200, "application/json",
			    xasprintf("{\"stored\":true,\"posted\":%s}\n", posted ? "true" : "false"));
out:
	node_settings_free(ns);
	node_report_release(&r);
}

/* A node name as Kubernetes allows it (DNS-1123 subdomain), lower case. */
static int valid_host(const char *h, size_t n)
{
	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.' || h[n - 1] == '-' || h[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
		if (c == '.' && i + 1 < n && (h[i + 1] == '.' || h[i + 1] == '-' || h[i - 1] == '-'))
			return 0;
	}
	return 1;
}

void node_api_serve(struct viva_env *env, struct http_request *req)
{
	const char *p = req->path, *host, *slash, *what;
	char hostname[254];

	if (strcmp(p, "/v1/bootstrap.sh") == 0) {
		if (req->post)
			answer_error(req, 405, "use GET for /v1/bootstrap.sh");
		else
			serve_script(env, req);
		return;
	}
	if (strncmp(p, "/v1/nodes/", 10) != 0) {
		answer_error(req, 404, "not found");
		return;
	}
	host = p + 10;
	slash = strchr(host, '/');
	if (!slash || !valid_host(host, (size_t)(slash - host))) {
		answer_error(req, 404, "not a node name: expected /v1/nodes/{hostname}/bootstrap or /report");
		return;
	}
	memcpy(hostname, host, (size_t)(slash - host));
	hostname[slash - host] = '\0';
	what = slash + 1;
	if (strcmp(what, "bootstrap") == 0) {
		if (req->post) {
			answer_error(req, 405, "use GET for a bootstrap");
			return;
		}
		serve_bootstrap(env, req, hostname);
		return;
	}
	if (strcmp(what, "report") == 0) {
		if (!req->post) {
			answer_error(req, 405, "use POST for a report");
			return;
		}
		serve_report(env, req, hostname);
		return;
	}
	answer_error(req, 404, "not found");
}
