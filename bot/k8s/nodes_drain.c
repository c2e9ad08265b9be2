/*
 * Draining a node (see nodes.h): what `kubectl drain` does, in passes a
 * durable operation can run one at a time. A pass lists the node's pods,
 * leaves DaemonSet and mirror pods (their controller or the kubelet would
 * put them back at once), waits for pods already terminating and evicts
 * each other pod once through the Eviction API, which refuses with 429 while
 * a PodDisruptionBudget allows no disruption: the next pass asks again.
 */
#include "bot/k8s/nodes.h"
#include "bot/clients/kube.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIRROR_ANNOTATION "kubernetes.io/config.mirror"
/* Budgets read per namespace at most (they are few). */
#define MAX_PDBS 1000

static const char *cluster_name(const struct kube *k)
{
	return k && k->cluster ? k->cluster : "(unnamed)";
}

static int64_t real_now(void *ud)
{
	(void)ud;
	return now_ms_mono();
}

static void real_sleep(void *ud, long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	(void)ud;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void k8s_drain_init(struct k8s_drain *d)
{
	memset(d, 0, sizeof(*d));
	d->evicted = json_array();
	d->warnings = json_array();
	d->blocked = json_array();
	d->terminating = json_array();
	d->failed = json_array();
	d->untried = json_array();
	d->skipped = json_array();
}

void k8s_drain_release(struct k8s_drain *d)
{
	if (!d)
		return;
	json_decref(d->evicted);
	json_decref(d->warnings);
	json_decref(d->blocked);
	json_decref(d->terminating);
	json_decref(d->failed);
	json_decref(d->untried);
	json_decref(d->skipped);
	memset(d, 0, sizeof(*d));
}

static const char *mstr(json_t *pod, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(pod, "metadata"), key));

	return s ? s : "";
}

static json_t *pod_ref(json_t *pod)
{
	return json_pack("{s:s, s:s}", "namespace", mstr(pod, "namespace"), "name", mstr(pod, "name"));
}

static json_t *pod_ref_with(json_t *pod, const char *key, const char *value)
{
	json_t *r = pod_ref(pod);

	json_object_set_new(r, key, json_string(value));
	return r;
}

/* The kind of the pod's controller: "" for a bare pod, which nothing recreates (as kubectl drain judges). */
static const char *controller_kind(json_t *pod)
{
	json_t *refs = json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), *r;
	size_t i;

	json_array_foreach(refs, i, r)
		if (json_is_true(json_object_get(r, "controller")) && json_is_string(json_object_get(r, "kind")))
			return json_string_value(json_object_get(r, "kind"));
	return "";
}

static bool finished(json_t *pod)
{
	const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* The budget whose selector matches pod ("" when none is found), the namespace's budgets read once a pass. */
static const char *pdb_of(struct kube *k, json_t *pod, json_t *cache)
{
	const char *ns = mstr(pod, "namespace");
	json_t *pdbs = json_object_get(cache, ns), *p;
	json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
	size_t i;

	if (!pdbs) {
		struct kube_ref ref = { .res = &kube_pdbs, .ns = ns };

		if (kube_list_all(k, &ref, NULL, MAX_PDBS, &pdbs) != VIVA_OK) {
			log_warn("drain could not read the disruption budgets", "cluster=%s namespace=%s", cluster_name(k), ns);
			pdbs = json_array();
		}
		json_object_set_new(cache, ns, pdbs);
	}
	json_array_foreach(pdbs, i, p)
		if (k8s_selector_matches(json_object_get(json_object_get(p, "spec"), "selector"), labels))
			return mstr(p, "name");
	return "";
}

static int64_t clock_now(const struct k8s_drain_opts *o)
{
	return o && o->now_ms ? o->now_ms(o->clock_ud) : real_now(NULL);
}

int k8s_drain_pass(struct kube *k, const char *node, const struct k8s_drain_opts *o, struct k8s_drain *out)
{
	struct kube_ref ref = { .res = &kube_pods, .ns = KUBE_ALL_NAMESPACES };
	struct kube_list_opts lo = { 0 };
	size_t max = o && o->max_pods ? o->max_pods : K8S_DRAIN_MAX_PODS, i;
	long grace = o && o->set_grace ? o->grace_seconds : -1;
	json_t *pods = NULL, *pod, *pdbs = json_object();
	char *field = NULL;
	int rc;

	k8s_drain_init(out);
	kube_clear_error();
	if (!node || !node[0]) {
		rc = kube_fail(VIVA_EINVAL, 0, "", "no node to drain");
		goto out;
	}
	field = xasprintf("spec.nodeName=%s", node);
	lo.field_selector = field;
	rc = kube_list_all(k, &ref, &lo, max, &pods);
	if (rc == VIVA_ERANGE)
		rc = kube_fail(rc, 0, "", "cluster %s: node %s has more than %zu pods: not drained", cluster_name(k), node, max);
	if (rc != VIVA_OK)
		goto out;
	out->passes = 1;
	json_array_foreach(pods, i, pod) {
		const char *ns = mstr(pod, "namespace"), *name = mstr(pod, "name");
		json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
		const char *kind = controller_kind(pod);

		if (json_object_get(ann, MIRROR_ANNOTATION)) {
			json_array_append_new(out->skipped, pod_ref_with(pod, "why", "mirror pod (the kubelet runs it from a file)"));
			continue;
		}
		if (strcmp(kind, "DaemonSet") == 0 && !finished(pod)) {
			json_array_append_new(out->skipped, pod_ref_with(pod, "why", "DaemonSet pod"));
			continue;
		}
		if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp")) {
			json_array_append_new(out->terminating, pod_ref(pod));
			continue;
		}
		if (o && o->deadline_ms > 0 && clock_now(o) >= o->deadline_ms) {
			json_array_append_new(out->untried, pod_ref(pod));
			continue;
		}
		rc = kube_evict(k, ns, name, grace);
		if (rc == VIVA_OK) {
			json_array_append_new(out->evicted, pod_ref(pod));
			if (!kind[0])
				json_array_append_new(out->warnings, pod_ref_with(pod, "message",
					"a bare pod (no controller): evicted, and nothing will recreate it"));
			log_info("pod evicted", "cluster=%s node=%s namespace=%s pod=%s", cluster_name(k), node, ns, name);
		} else if (rc == VIVA_ENOENT) {
			/* gone meanwhile: nothing left to do */
		} else if (rc == VIVA_EBUSY) {
			char msg[768];
			json_t *b;

			snprintf(msg, sizeof(msg), "%s", kube_last_error());
			b = pod_ref_with(pod, "message", msg);
			json_object_set_new(b, "pdb", json_string(pdb_of(k, pod, pdbs)));
			json_array_append_new(out->blocked, b);
			log_debug("eviction refused", "cluster=%s node=%s namespace=%s pod=%s pdb=%s", cluster_name(k), node, ns,
				  name, json_string_value(json_object_get(b, "pdb")));
		} else {
			json_array_append_new(out->failed, pod_ref_with(pod, "message", kube_last_error()));
			log_warn("eviction failed", "cluster=%s node=%s namespace=%s pod=%s", cluster_name(k), node, ns, name);
			/* the cluster itself is not answering or refuses viva: the other pods would fare the same */
			if (rc == VIVA_EUNAVAIL || rc == VIVA_ETIMEOUT || rc == VIVA_EAUTH)
				goto out;
		}
		rc = VIVA_OK;
	}
	out->done = json_array_size(out->evicted) == 0 && json_array_size(out->blocked) == 0 &&
		    json_array_size(out->terminating) == 0 && json_array_size(out->failed) == 0 &&
		    json_array_size(out->untried) == 0;
out:
	free(field);
	json_decref(pods);
	json_decref(pdbs);
	return rc;
}

static void replace(json_t **dst, json_t *src)
{
	json_decref(*dst);
	*dst = json_incref(src);
}

/* "svc-a, svc-b" of the budgets that block (at most a few), into sb. */
static void budgets_named(json_t *blocked, struct strbuf *sb)
{
	json_t *seen = json_object(), *b;
	size_t i;

	json_array_foreach(blocked, i, b) {
		const char *p = json_string_value(json_object_get(b, "pdb"));

		if (!p || !p[0] || json_object_get(seen, p))
			continue;
		if (json_object_size(seen) == 5) {
			sb_adds(sb, ", ...");
			break;
		}
		sb_addf(sb, "%s%s", json_object_size(seen) ? ", " : "", p);
		json_object_set_new(seen, p, json_true());
	}
	json_decref(seen);
}

int k8s_drain_node(struct kube *k, const char *node, const struct k8s_drain_opts *o, struct k8s_drain *out)
{
	struct k8s_drain_opts po = o ? *o : (struct k8s_drain_opts){ 0 };
	long timeout_s = po.timeout_s > 0 ? po.timeout_s : K8S_DRAIN_TIMEOUT_S;
	long backoff = K8S_DRAIN_BACKOFF_MS;
	int64_t deadline;
	struct strbuf why;
	size_t left;
	int rc;

	k8s_drain_init(out);
	if (!po.now_ms)
		po.now_ms = real_now;
	if (!po.sleep_ms)
		po.sleep_ms = real_sleep;
	deadline = po.now_ms(po.clock_ud) + (int64_t)timeout_s * 1000;
	/* the last pass starts at the deadline and may take a little longer: a
	 * pass cut short at once would only say "not tried" */
	po.deadline_ms = deadline + K8S_DRAIN_BACKOFF_MAX_MS;
	rc = k8s_node_cordon(k, node, true, NULL);
	if (rc != VIVA_OK)
		return rc;
	for (int pass = 0; pass < K8S_DRAIN_MAX_PASSES; pass++) {
		struct k8s_drain p;
		int64_t now;
		long wait;

		rc = k8s_drain_pass(k, node, &po, &p);
		json_array_extend(out->evicted, p.evicted);
		json_array_extend(out->warnings, p.warnings);
		replace(&out->blocked, p.blocked);
		replace(&out->failed, p.failed);
		replace(&out->untried, p.untried);
		replace(&out->skipped, p.skipped);
		/* what this pass evicted is still on the node until its pods are gone */
		replace(&out->terminating, p.terminating);
		json_array_extend(out->terminating, p.evicted);
		out->passes++;
		out->done = p.done;
		if (json_array_size(p.evicted) > 0)
			backoff = K8S_DRAIN_BACKOFF_MS;   /* progress: look again soon */
		k8s_drain_release(&p);
		if (rc != VIVA_OK || out->done)
			return rc;
		now = po.now_ms(po.clock_ud);
		if (now >= deadline)
			break;
		wait = deadline - now < backoff ? (long)(deadline - now) : backoff;
		po.sleep_ms(po.clock_ud, wait);
		backoff = backoff * 2 > K8S_DRAIN_BACKOFF_MAX_MS ? K8S_DRAIN_BACKOFF_MAX_MS : backoff * 2;
	}
	left = json_array_size(out->blocked) + json_array_size(out->terminating) + json_array_size(out->failed) +
	       json_array_size(out->untried);
	sb_init(&why);
	if (json_array_size(out->blocked)) {
		struct strbuf names;

		sb_init(&names);
		budgets_named(out->blocked, &names);
		sb_addf(&why, "; %zu blocked by a PodDisruptionBudget%s%s%s", json_array_size(out->blocked),
			names.len ? " (" : "", names.len ? names.buf : "", names.len ? ")" : "");
		sb_release(&names);
	}
	if (json_array_size(out->terminating))
		sb_addf(&why, "; %zu still terminating", json_array_size(out->terminating));
	if (json_array_size(out->failed))
		sb_addf(&why, "; %zu refused otherwise", json_array_size(out->failed));
	if (json_array_size(out->untried))
		sb_addf(&why, "; %zu not tried", json_array_size(out->untried));
	rc = kube_fail(VIVA_ETIMEOUT, 0, "", "cluster %s: node %s is not drained after %ld s: %zu pod%s left%s",
		       cluster_name(k), node, timeout_s, left, left == 1 ? "" : "s", why.buf ? why.buf : "");
	sb_release(&why);
	return rc;
}
