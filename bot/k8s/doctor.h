#ifndef VIVA_BOT_K8S_DOCTOR_H
#define VIVA_BOT_K8S_DOCTOR_H

#include <stdio.h>

#include "bot/clients/kube.h"
#include "bot/model/config.h"

/*
 * `viva doctor`: for each cluster of viva.yaml, its /version, then every
 * verb viva needs on every resource it uses, asked with a
 * SelfSubjectAccessReview in each namespace an environment places on that
 * cluster (and cluster-wide for what is not namespaced). What is missing is
 * printed as the RBAC rules to add (a Role per namespace, a ClusterRole for
 * the cluster-scoped ones), ready to paste.
 *
 * Returns how many clusters failed: 0 when every cluster answers and
 * allows everything.
 */
int k8s_doctor(const struct viva_config *cfg, struct kube_clients *clients, FILE *out);

/* One permission viva needs (the table doctor checks). */
struct k8s_need {
	const char *group;        /* "" for the core group */
	const char *resource;
	const char *subresource;  /* NULL or "scale", "eviction" */
	const char *verbs;        /* space separated */
	int cluster_scoped;
	const char *why;
};
extern const struct k8s_need k8s_needs[];
extern const unsigned k8s_needs_len;

#endif
