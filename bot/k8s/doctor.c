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
 * grants this and no more; tests/test_k8s.c checks the two agree). Node
 * operations (nodes, pods/eviction, PodDisruptionBudgets) and leader
 * election (leases) join when they are built.
 */
const struct k8s_need k8s_needs[] = {
	{ "apps", "deployments", NULL, "get list create patch update delete", 0,
	  "pipelines (server-side apply creates and patches), deploys, the old colour scaled down, deletion" },
	{ "", "services", NULL, "get list create patch delete", 0, "pipelines, the live colour, deletion" },
	{ "batch", "cronjobs", NULL, "list create patch delete", 0, "batches, promotion, deletion" },
};
const unsigned k8s_needs_len = sizeof(k8s_needs) / sizeof(k8s_needs[0]);

static bool has_cluster_scoped(void)
{
	for (unsigned i = 0; i < k8s_needs_len; i++)
		if (k8s_needs[i].cluster_scoped)
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
	body = json_pack("{s:s, s:s, s:{s:o}}", "apiVersion", "authorization.k8s.io/v1", "kind",
			 "SelfSubjectAccessReview", "spec", "resourceAttributes", attrs);
	rc = kube_create(k, &ref, body, &out);
	json_decref(body);
	allowed = rc != VIVA_OK ? -1 : json_is_true(json_object_get(json_object_get(out, "status"), "allowed"));
	json_decref(out);
	return allowed;
}

/* Check every need in one scope (ns NULL: cluster-scoped needs); missing rules go to rules. */
static int check_scope(struct kube *k, const char *ns, struct strbuf *rules, FILE *out)
{
	int bad = 0;

	for (unsigned i = 0; i < k8s_needs_len; i++) {
		const struct k8s_need *n = &k8s_needs[i];
		char *verbs, *save = NULL, *v;
		struct strbuf missing;

		if (!!n->cluster_scoped != !ns)
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
			sb_addf(rules, "  - apiGroups: [\"%s\"]\n    resources: [\"%s%s%s\"]\n    verbs: [%s]   # %s\n",
				n->group, n->resource, n->subresource ? "/" : "", n->subresource ? n->subresource : "",
				missing.buf, n->why);
		}
		sb_release(&missing);
	}
	return bad;
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
		bad = has_cluster_scoped() ? check_scope(k, NULL, &rules, out) : 0;
		if (!has_cluster_scoped()) {
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
			bad = check_scope(k, env->namespace_, &rules, out);
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
