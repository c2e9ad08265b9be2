/* The nodes of a cluster, cordon and uncordon, label selectors (see nodes.h). */
#include "bot/k8s/nodes.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"   /* registry_parse_time(): RFC 3339 */
#include "bot/k8s/rollout.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <stdlib.h>
#include <string.h>

static const char *str_or(json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

const char *k8s_ready_name(enum k8s_ready r)
{
	switch (r) {
	case K8S_READY_TRUE:
		return "True";
	case K8S_READY_FALSE:
		return "False";
	default:
		return "Unknown";
	}
}

void k8s_node_release(struct k8s_node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->kubelet_version);
	free(n->ready_reason);
	json_decref(n->labels);
	memset(n, 0, sizeof(*n));
}

void k8s_node_list_release(struct k8s_node_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		k8s_node_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void node_of(json_t *obj, struct k8s_node *out)
{
	json_t *meta = json_object_get(obj, "metadata"), *status = json_object_get(obj, "status");
	json_t *labels = json_object_get(meta, "labels"), *c;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->name = xstrdup(str_or(json_object_get(meta, "name"), ""));
	out->kubelet_version = xstrdup(str_or(json_object_get(json_object_get(status, "nodeInfo"), "kubeletVersion"), ""));
	out->ready = K8S_READY_UNKNOWN;
	out->ready_reason = NULL;
	json_array_foreach(json_object_get(status, "conditions"), i, c) {
		const char *st = str_or(json_object_get(c, "status"), "");

		if (strcmp(str_or(json_object_get(c, "type"), ""), "Ready") != 0)
			continue;
		out->ready = strcmp(st, "True") == 0 ? K8S_READY_TRUE : strcmp(st, "False") == 0 ? K8S_READY_FALSE
											       : K8S_READY_UNKNOWN;
		out->ready_reason = xstrdup(str_or(json_object_get(c, "reason"), ""));
		break;
	}
	if (!out->ready_reason)
		out->ready_reason = xstrdup("");
	out->schedulable = !json_is_true(json_object_get(json_object_get(obj, "spec"), "unschedulable"));
	out->labels = json_is_object(labels) ? json_deep_copy(labels) : json_object();
	if (!json_is_string(json_object_get(meta, "creationTimestamp")) ||
	    registry_parse_time(json_string_value(json_object_get(meta, "creationTimestamp")), &out->created) != VIVA_OK)
		out->created = 0;
}

int k8s_node_get(struct kube *k, const char *name, struct k8s_node *out)
{
	struct kube_ref ref = { .res = &kube_nodes, .name = name };
	json_t *obj = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = kube_get(k, &ref, &obj);
	if (rc == VIVA_OK)
		node_of(obj, out);
	json_decref(obj);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct k8s_node *)a)->name, ((const struct k8s_node *)b)->name);
}

int k8s_nodes_list(struct kube *k, const char *label_selector, long page, struct k8s_node_list *out)
{
	struct kube_ref ref = { .res = &kube_nodes };
	struct kube_list_opts lo = { .label_selector = label_selector, .limit = page };
	json_t *items = NULL, *it;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = kube_list_all(k, &ref, &lo, K8S_NODES_MAX, &items);
	if (rc != VIVA_OK)
		return rc;
	out->v = xcalloc(json_array_size(items) + 1, sizeof(*out->v));
	json_array_foreach(items, i, it)
		node_of(it, &out->v[out->n++]);
	json_decref(items);
	qsort(out->v, out->n, sizeof(*out->v), by_name);
	return VIVA_OK;
}

json_t *k8s_node_json(const struct k8s_node *n)
{
	char created[32] = "";

	if (n->created > 0)
		k8s_time(n->created, created, sizeof(created));
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:s}", "name", n->name ? n->name : "", "kubeletVersion",
			 n->kubelet_version ? n->kubelet_version : "", "ready", k8s_ready_name(n->ready), "readyReason",
			 n->ready_reason ? n->ready_reason : "", "schedulable", n->schedulable, "labels",
			 n->labels ? json_deep_copy(n->labels) : json_object(), "created", created);
}

int k8s_node_cordon(struct kube *k, const char *name, bool cordon, bool *changed)
{
	struct kube_ref ref = { .res = &kube_nodes, .name = name };
	json_t *obj = NULL, *patch;
	bool now;
	int rc;

	if (changed)
		*changed = false;
	rc = kube_get(k, &ref, &obj);
	if (rc != VIVA_OK)
		return rc;
	now = json_is_true(json_object_get(json_object_get(obj, "spec"), "unschedulable"));
	json_decref(obj);
	if (now == cordon)
		return VIVA_OK;
	/* uncordon removes the field, as kubectl's two-way merge patch does */
	patch = json_pack("{s:{s:o}}", "spec", "unschedulable", cordon ? json_true() : json_null());
	rc = kube_patch(k, &ref, KUBE_PATCH_MERGE, patch, NULL, NULL);
	json_decref(patch);
	if (rc == VIVA_OK) {
		if (changed)
			*changed = true;
		log_info(cordon ? "node cordoned" : "node uncordoned", "cluster=%s node=%s", k->cluster ? k->cluster : "",
			 name);
	}
	return rc;
}

/* ---- label selectors ------------------------------------------------------------------------- */

static bool in_values(json_t *values, const char *v)
{
	json_t *x;
	size_t i;

	json_array_foreach(values, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
			return true;
	return false;
}

bool k8s_selector_matches(json_t *selector, json_t *labels)
{
	json_t *ml, *exprs, *v, *e;
	const char *key;
	size_t i;

	if (!json_is_object(selector))
		return false;
	ml = json_object_get(selector, "matchLabels");
	exprs = json_object_get(selector, "matchExpressions");
	if ((ml && !json_is_object(ml) && !json_is_null(ml)) || (exprs && !json_is_array(exprs) && !json_is_null(exprs)))
		return false;
	json_object_foreach(ml, key, v) {
		json_t *have = json_object_get(labels, key);

		if (!json_is_string(v) || !json_is_string(have) || strcmp(json_string_value(v), json_string_value(have)) != 0)
			return false;
	}
	json_array_foreach(exprs, i, e) {
		const char *k = str_or(json_object_get(e, "key"), NULL), *op = str_or(json_object_get(e, "operator"), "");
		json_t *values = json_object_get(e, "values");
		json_t *have = k ? json_object_get(labels, k) : NULL;
		size_t nv = json_is_array(values) ? json_array_size(values) : 0;

		if (!k || !k[0])
			return false;
		if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
			/* both need values: without, the selector is invalid and matches nothing */
			bool in;

			if (nv == 0)
				return false;
			in = json_is_string(have) && in_values(values, json_string_value(have));
			if (strcmp(op, "In") == 0 ? !in : in)
				return false;
		} else if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
			if (nv != 0)
				return false;
			if ((strcmp(op, "Exists") == 0) != (have != NULL))
				return false;
		} else {
			return false;
		}
	}
	return true;
}
