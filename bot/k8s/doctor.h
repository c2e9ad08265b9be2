#ifndef VIVA_BOT_K8S_DOCTOR_H
#define VIVA_BOT_K8S_DOCTOR_H

#include <stdio.h>

#include "bot/clients/kube.h"
#include "bot/model/config.h"

/*
 * `viva doctor`: for each cluster of viva.yaml, its /version, then every
 * verb viva needs on every resource it uses, asked with a
 * SelfSubjectAccessReview in each namespace an environment places on that
 * cluster, cluster-wide for what is not namespaced or spans namespaces,
 * and in the fixed namespaces some needs name (kube-system, kube-public).
 * What is missing is printed as the RBAC rules to add (a Role per
 * namespace, a ClusterRole for the cluster-wide ones), ready to paste.
 *
 * Returns how many clusters failed: 0 when every cluster answers and
 * allows everything.
 */
int k8s_doctor(const struct viva_config *cfg, struct kube_clients *clients, FILE *out);

/*
 * One permission viva needs (the table doctor checks), in one of three
 * scopes: each environment's namespace (the default), cluster-wide
 * (cluster_scoped: a ClusterRole bound with a ClusterRoleBinding), or one
 * fixed namespace (ns: a Role there).
 */
struct k8s_need {
	const char *group;        /* "" for the core group */
	const char *resource;
	const char *subresource;  /* NULL or "scale", "eviction" */
	const char *verbs;        /* space separated */
	int cluster_scoped;
	const char *why;
	const char *ns;           /* a fixed namespace ("kube-system"), or NULL */
	const char *name;         /* only this object (RBAC resourceNames), or NULL */
};
extern const struct k8s_need k8s_needs[];
extern const unsigned k8s_needs_len;

#endif
