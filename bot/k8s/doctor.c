/* `viva doctor`: see doctor.h. */
#include "bot/k8s/doctor.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Exactly what viva's code asks of a cluster today (deploy/kubernetes/
 * grants this and no more; tests/test_k8s.c checks the two agree), in the
 * narrowest scope that works: an environment's namespace, one fixed
 * namespace, and cluster-wide only for nodes and for what a drain must see
 * in every namespace. Leader election (leases) joins when it is built.
 */
const struct k8s_need k8s_needs[] = {
	{ .group = "apps", .resource = "deployments", .verbs = "get list create patch update delete",
	  .why = "pipelines (server-side apply creates and patches), deploys, the old colour scaled down, deletion" },
	{ .group = "", .resource = "services", .verbs = "get list create patch delete",
	  .why = "pipelines, the live colour, deletion" },
	{ .group = "batch", .resource = "cronjobs", .verbs = "list create patch delete",
	  .why = "batches, promotion, deletion" },
	/* cluster nodes (SPEC section 10) */
	{ .group = "", .resource = "nodes", .verbs = "get list patch", .cluster_scoped = 1,
	  .why = "node list, cordon and uncordon (spec.unschedulable)" },
	{ .group = "", .resource = "pods", .verbs = "list", .cluster_scoped = 1,
	  .why = "drain: the pods on a node, in every namespace" },
	{ .group = "", .resource = "pods", .subresource = "eviction", .verbs = "create", .cluster_scoped = 1,
	  .why = "drain: the Eviction API, which PodDisruptionBudgets guard" },
	{ .group = "policy", .resource = "poddisruptionbudgets", .verbs = "list", .cluster_scoped = 1,
	  .why = "drain: the budget that blocks an eviction, named" },
	{ .group = "", .resource = "secrets", .verbs = "create", .ns = "kube-system",
	  .why = "bootstrap tokens for joining nodes (created only: viva reads no Secret)" },
	{ .group = "", .resource = "configmaps", .verbs = "get", .ns = "kube-public", .name = "cluster-info",
	  .why = "the cluster's CA, for kubeadm join's CA hash" },
};
const unsigned k8s_needs_len = sizeof(k8s_needs) / sizeof(k8s_needs[0]);

/* Which needs a check covers: each environment's namespace, cluster-wide, or one fixed namespace. */
enum scope { SCOPE_ENV, SCOPE_CLUSTER, SCOPE_FIXED };

static bool in_scope(const struct k8s_need *n, enum scope sc, const char *ns)
{
	switch (sc) {
	case SCOPE_CLUSTER:
		return n->cluster_scoped;
	case SCOPE_FIXED:
		return !n->cluster_scoped && n->ns && strcmp(n->ns, ns) == 0;
	default:
		return !n->cluster_scoped && !n->ns;
	}
}

static bool has_scope(enum scope sc, const char *ns)
{
	for (unsigned i = 0; i < k8s_needs_len; i++)
		if (in_scope(&k8s_needs[i], sc, ns))
			return true;
	return false;
}

/* allowed: 1, denied: 0, could not ask: -1 (kube_last_error says why). */
static int can(struct kube *k, const char *ns, const struct k8s_need *n, const char *verb)
{
	struct kube_ref ref = { .res = &kube_ssar };
	json_t *attrs = json_pack("{s:s, s:s, s:s}", "verb", verb, "group", n->group, "resource", n->resource);
	json_t *body, *out = NULL;
	int rc, allowed;

	if (ns)
		json_object_set_new(attrs, "namespace", json_string(ns));
	if (n->subresource)
		json_object_set_new(attrs, "subresource", json_string(n->subresource));
	if (n->name)
		json_object_set_new(attrs, "name", json_string(n->name));
	body = json_pack("{s:s, s:s, s:{s:o}}", "apiVersion", "authorization.k8s.io/v1", "kind",
			 "SelfSubjectAccessReview", "spec", "resourceAttributes", attrs);
	rc = kube_create(k, &ref, body, &out);
	json_decref(body);
	allowed = rc != VIVA_OK ? -1 : json_is_true(json_object_get(json_object_get(out, "status"), "allowed"));
	json_decref(out);
	return allowed;
}

/* Check every need of one scope (ns: the namespace asked about, NULL cluster-wide); missing rules go to rules. */
static int check_scope(struct kube *k, enum scope sc, const char *ns, struct strbuf *rules, FILE *out)
{
	int bad = 0;

	for (unsigned i = 0; i < k8s_needs_len; i++) {
		const struct k8s_need *n = &k8s_needs[i];
		char *verbs, *save = NULL, *v;
		struct strbuf missing;

		if (!in_scope(n, sc, ns))
			continue;
		sb_init(&missing);
		verbs = xstrdup(n->verbs);
		for (v = strtok_r(verbs, " ", &save); v; v = strtok_r(NULL, " ", &save)) {
			int a = can(k, ns, n, v);

			if (a < 0) {
				fprintf(out, "  FAILED: cannot ask whether viva may %s %s: %s\n", v, n->resource, kube_last_error());
				free(verbs);
				sb_release(&missing);
				return -1;
			}
			if (!a)
				sb_addf(&missing, "%s\"%s\"", missing.len ? ", " : "", v);
		}
		free(verbs);
		if (missing.len) {
			bad++;
			sb_addf(rules, "  - apiGroups: [\"%s\"]\n    resources: [\"%s%s%s\"]\n", n->group, n->resource,
				n->subresource ? "/" : "", n->subresource ? n->subresource : "");
			if (n->name)
				sb_addf(rules, "    resourceNames: [\"%s\"]\n", n->name);
			sb_addf(rules, "    verbs: [%s]   # %s\n", missing.buf, n->why);
		}
		sb_release(&missing);
	}
	return bad;
}

/* The fixed namespaces the needs name, each once, in the table's order. */
static bool first_with_ns(unsigned i)
{
	if (k8s_needs[i].cluster_scoped || !k8s_needs[i].ns)
		return false;
	for (unsigned j = 0; j < i; j++)
		if (!k8s_needs[j].cluster_scoped && k8s_needs[j].ns && strcmp(k8s_needs[j].ns, k8s_needs[i].ns) == 0)
			return false;
	return true;
}

int k8s_doctor(const struct viva_config *cfg, struct kube_clients *clients, FILE *out)
{
	int status = 0;

	if (cfg->n_clusters == 0) {
		fprintf(out, "no clusters in viva.yaml (clusters:): nothing to check\n");
		return 0;
	}
	for (size_t c = 0; c < cfg->n_clusters; c++) {
		const char *name = cfg->clusters[c].name;
		struct kube *k = kube_clients_get(clients, name);
		json_t *ver = NULL;
		struct strbuf rules;
		int bad, before = status;

		if (!k) {
			fprintf(out, "cluster %s: FAILED: no client\n", name);
			status++;
			continue;
		}
		if (kube_version(k, &ver) != VIVA_OK) {
			fprintf(out, "cluster %s: FAILED: %s\n", name, kube_last_error());
			status++;
			continue;
		}
		fprintf(out, "cluster %s: Kubernetes %s (%s)\n", name,
			json_string_value(json_object_get(ver, "gitVersion")) ?
			json_string_value(json_object_get(ver, "gitVersion")) : "?", k->creds ? k->creds : "credentials");
		json_decref(ver);
		sb_init(&rules);
		bad = has_scope(SCOPE_CLUSTER, NULL) ? check_scope(k, SCOPE_CLUSTER, NULL, &rules, out) : 0;
		if (!has_scope(SCOPE_CLUSTER, NULL)) {
			/* nothing cluster-wide to ask for */
		} else if (bad < 0) {
			status++;
		} else if (bad > 0) {
			fprintf(out, "  FAILED: missing cluster-wide: add to a ClusterRole bound to viva's user:\n"
				"  rules:\n%s", rules.buf);
			status++;
		} else {
			fprintf(out, "  cluster-wide: every permission viva needs is there\n");
		}
		for (unsigned i = 0; i < k8s_needs_len; i++) {
			const char *ns = k8s_needs[i].ns;

			if (!first_with_ns(i))
				continue;
			sb_release(&rules);
			sb_init(&rules);
			bad = check_scope(k, SCOPE_FIXED, ns, &rules, out);
			if (bad < 0)
				status++;
			else if (bad > 0) {
				fprintf(out, "  FAILED: missing in namespace %s: add to a Role there bound to viva's user:\n"
					"  rules:\n%s", ns, rules.buf);
				status++;
			} else {
				fprintf(out, "  namespace %s: every permission viva needs is there\n", ns);
			}
		}
		for (size_t e = 0; e < cfg->n_environments; e++) {
			const struct config_env *env = &cfg->environments[e];
			bool seen = false;

			if (strcmp(env->cluster, name) != 0)
				continue;
			for (size_t p = 0; p < e; p++)   /* one check per namespace */
				seen = seen || (strcmp(cfg->environments[p].cluster, name) == 0 &&
						strcmp(cfg->environments[p].namespace_, env->namespace_) == 0);
			if (seen)
				continue;
			sb_release(&rules);
			sb_init(&rules);
			bad = check_scope(k, SCOPE_ENV, env->namespace_, &rules, out);
			if (bad < 0) {
				status++;
			} else if (bad > 0) {
				fprintf(out, "  FAILED: missing in namespace %s (environment %s): add to a Role there bound to "
					"viva's user:\n  rules:\n%s", env->namespace_, env->name, rules.buf);
				status++;
			} else {
				fprintf(out, "  namespace %s (environment %s): every permission viva needs is there\n",
					env->namespace_, env->name);
			}
		}
		sb_release(&rules);
		if (status > before)
			status = before + 1;   /* one failed cluster, however many lines */
	}
	return status;
}
