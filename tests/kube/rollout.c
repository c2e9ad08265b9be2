/*
 * The fake's controllers, run one round at a time (fake_kube_step, or the
 * ticker): the Deployment controller (ReplicaSets per pod-template hash,
 * RollingUpdate with maxSurge/maxUnavailable, Recreate, status with
 * observedGeneration, updated/ready/available replicas and the Available
 * and Progressing conditions, ProgressDeadlineExceeded on the fake clock),
 * the ReplicaSet controller (pods), a kubelet (pods Running and Ready the
 * round after they are created, except for images marked never-ready;
 * terminating pods go), the PodDisruptionBudget status, the garbage
 * collector (background and foreground deletion) and the namespace
 * controller (a terminating namespace is emptied, then goes). Also the
 * eviction subresource, which checks PodDisruptionBudgets.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SAFE[] = "bcdfghjklmnpqrstvwxz2456789";

static const struct kr *R(const char *group, const char *res)
{
	return kr_find(group, "v1", res);
}

static json_t *meta(json_t *o)
{
	return json_object_get(o, "metadata");
}

static const char *mstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(meta(o), key));
}

static json_t *sub(json_t *o, const char *key)
{
	json_t *c = json_object_get(o, key);

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(o, key, c);
	}
	return c;
}

static json_int_t ival(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

bool rollout_image_never_ready(struct fake_kube *k, const char *image)
{
	return image && json_object_get(k->never_ready, image) != NULL;
}

/* Does o have an owner reference to uid? */
static bool owned_by(json_t *o, const char *uid)
{
	json_t *refs = json_object_get(meta(o), "ownerReferences"), *r;
	size_t i;

	json_array_foreach(refs, i, r)
		if (uid && json_string_value(json_object_get(r, "uid")) &&
		    strcmp(json_string_value(json_object_get(r, "uid")), uid) == 0)
			return true;
	return false;
}

static json_t *owner_ref(const char *av, const char *kind, json_t *owner)
{
	return json_pack("{s:s, s:s, s:O, s:O, s:b, s:b}", "apiVersion", av, "kind", kind, "name",
			 json_object_get(meta(owner), "name"), "uid", json_object_get(meta(owner), "uid"), "controller", 1,
			 "blockOwnerDeletion", 1);
}

/* Store a changed copy; returns 1 when it changed something. */
static int save(struct fake_kube *k, const struct kr *r, json_t *old, json_t *nw)
{
	json_object_set(sub(nw, "metadata"), "resourceVersion", json_object_get(meta(old), "resourceVersion"));
	if (json_equal(old, nw)) {
		json_decref(nw);
		return 0;
	}
	store_put(&k->st, r, nw, false);
	return 1;
}

/* save() with managedFields kept as the API server keeps them for that writer. */
static int save_as(struct fake_kube *k, const struct kr *r, json_t *old, json_t *nw, const char *manager,
		   const char *subresource)
{
	json_object_set(sub(nw, "metadata"), "resourceVersion", json_object_get(meta(old), "resourceVersion"));
	if (json_equal(old, nw)) {
		json_decref(nw);
		return 0;
	}
	ssa_update(k, r, old, nw, manager, subresource);
	return save(k, r, old, nw);
}

int rollout_save_as(struct fake_kube *k, const struct kr *r, json_t *old, json_t *nw, const char *manager,
		    const char *subresource)
{
	return save_as(k, r, old, nw, manager, subresource);
}

/* ---- pods ----------------------------------------------------------------------------- */

static bool pod_terminating(json_t *p)
{
	return mstr(p, "deletionTimestamp") != NULL;
}

static bool pod_ready(json_t *p)
{
	json_t *conds = json_object_get(json_object_get(p, "status"), "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c)
		if (strcmp(json_string_value(json_object_get(c, "type")) ? json_string_value(json_object_get(c, "type")) : "",
			   "Ready") == 0)
			return strcmp(json_string_value(json_object_get(c, "status")) ? json_string_value(json_object_get(c, "status")) : "",
				      "True") == 0;
	return false;
}

/* Ready for at least minReady seconds on the fake clock. */
static bool pod_available(struct fake_kube *k, json_t *p, json_int_t min_ready)
{
	json_t *conds = json_object_get(json_object_get(p, "status"), "conditions"), *c;
	size_t i;

	if (!pod_ready(p))
		return false;
	if (min_ready <= 0)
		return true;
	json_array_foreach(conds, i, c)
		if (json_string_value(json_object_get(c, "type")) && strcmp(json_string_value(json_object_get(c, "type")), "Ready") == 0) {
			int64_t t = kf_parse_time(json_string_value(json_object_get(c, "lastTransitionTime")));
			return t >= 0 && kf_now(k) - t >= min_ready;
		}
	return false;
}

static const char *pick_node(struct fake_kube *k)
{
	json_t *nodes = store_all(&k->st, R("", "nodes"), NULL), *n;
	size_t i, count = 0;
	const char *out = "fake-node-1";
	static __thread char buf[256];

	json_array_foreach(nodes, i, n)
		if (!json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")))
			count++;
	if (count) {
		size_t want = (size_t)(k->pod_seq % count), seen = 0;
		json_array_foreach(nodes, i, n) {
			if (json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")))
				continue;
			if (seen++ == want) {
				snprintf(buf, sizeof(buf), "%s", mstr(n, "name"));
				out = buf;
				break;
			}
		}
	}
	json_decref(nodes);
	return out;
}

/* A pod from a ReplicaSet's template (returned, borrowed). */
static json_t *create_pod(struct fake_kube *k, json_t *rs)
{
	json_t *tmpl = json_object_get(json_object_get(rs, "spec"), "template");
	json_t *pod = json_object(), *m, *spec;
	char name[300], suffix[6], ts[32];
	char *uid;
	uint64_t n = ++k->pod_seq * 2654435761u + k->st.rv;

	for (int i = 0; i < 5; i++) {
		suffix[i] = SAFE[n % (sizeof(SAFE) - 1)];
		n /= (sizeof(SAFE) - 1);
	}
	suffix[5] = '\0';
	snprintf(name, sizeof(name), "%s-%s", mstr(rs, "name"), suffix);
	kf_rfc3339(kf_now(k), ts);
	uid = store_new_uid(&k->st);
	m = json_pack("{s:s, s:s+, s:s, s:s, s:s, s:[o]}", "name", name, "generateName", mstr(rs, "name"), "-",
		      "namespace", mstr(rs, "namespace"), "uid", uid, "creationTimestamp", ts, "ownerReferences",
		      owner_ref("apps/v1", "ReplicaSet", rs));
	free(uid);
	if (json_object_get(json_object_get(tmpl, "metadata"), "labels"))
		json_object_set_new(m, "labels", json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels")));
	if (json_object_get(json_object_get(tmpl, "metadata"), "annotations"))
		json_object_set_new(m, "annotations",
				    json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "annotations")));
	spec = json_deep_copy(json_object_get(tmpl, "spec"));
	if (!spec)
		spec = json_object();
	json_object_set_new(spec, "nodeName", json_string(pick_node(k)));
	json_object_set_new(pod, "apiVersion", json_string("v1"));
	json_object_set_new(pod, "kind", json_string("Pod"));
	json_object_set_new(pod, "metadata", m);
	json_object_set_new(pod, "spec", spec);
	schema_default(k, R("", "pods"), pod, NULL);
	ssa_update(k, R("", "pods"), NULL, pod, "kube-controller-manager", NULL);
	json_object_set_new(pod, "status", json_pack("{s:s, s:s, s:[{s:s, s:s, s:n, s:s}]}", "phase", "Pending", "qosClass",
						      "BestEffort", "conditions", "type", "PodScheduled", "status", "True",
						      "lastProbeTime", "lastTransitionTime", ts));
	return store_put(&k->st, R("", "pods"), pod, true);
}

/* The kubelet: Pending pods on a node start; terminating pods go. */
static int kubelet(struct fake_kube *k)
{
	const struct kr *pr = R("", "pods");
	json_t *pods = store_all(&k->st, pr, NULL), *p;
	size_t i;
	int changes = 0;
	char ts[32];

	kf_rfc3339(kf_now(k), ts);
	json_array_foreach(pods, i, p) {
		json_t *st = json_object_get(p, "status"), *nw, *cs, *c, *conds;
		const char *node = json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName"));
		const char *phase = json_string_value(json_object_get(st, "phase"));
		bool ready = true;
		size_t j;

		if (pod_terminating(p)) {
			if (json_array_size(json_object_get(meta(p), "finalizers")) == 0) {
				store_remove(&k->st, pr, mstr(p, "namespace"), mstr(p, "name"));
				changes++;
			}
			continue;
		}
		if (!node || !node[0] || !phase || strcmp(phase, "Pending") != 0)
			continue;
		nw = json_deep_copy(p);
		cs = json_array();
		json_array_foreach(json_object_get(json_object_get(p, "spec"), "containers"), j, c) {
			const char *image = json_string_value(json_object_get(c, "image"));
			bool r = !rollout_image_never_ready(k, image);
			ready = ready && r;
			json_array_append_new(cs, json_pack("{s:O, s:O, s:s+, s:b, s:b, s:i, s:{s:{s:s}}, s:s+}", "name",
				json_object_get(c, "name"), "image", json_object_get(c, "image"), "imageID",
				image ? image : "", "@sha256:0000", "ready", r, "started", 1, "restartCount", 0, "state",
				"running", "startedAt", ts, "containerID", "containerd://", mstr(p, "uid")));
		}
		conds = json_pack("[{s:s, s:s, s:n, s:s}, {s:s, s:s, s:n, s:s}, {s:s, s:s, s:n, s:s}, {s:s, s:s, s:n, s:s},"
				  " {s:s, s:s, s:n, s:s}]",
				  "type", "PodReadyToStartContainers", "status", "True", "lastProbeTime", "lastTransitionTime", ts,
				  "type", "Initialized", "status", "True", "lastProbeTime", "lastTransitionTime", ts,
				  "type", "Ready", "status", ready ? "True" : "False", "lastProbeTime", "lastTransitionTime", ts,
				  "type", "ContainersReady", "status", ready ? "True" : "False", "lastProbeTime",
				  "lastTransitionTime", ts, "type", "PodScheduled", "status", "True", "lastProbeTime",
				  "lastTransitionTime", ts);
		if (!ready) {
			struct strbuf names;
			json_t *x;
			sb_init(&names);
			json_array_foreach(cs, j, x)
				if (!json_is_true(json_object_get(x, "ready")))
					sb_addf(&names, "%s%s", names.len ? " " : "", json_string_value(json_object_get(x, "name")));
			for (j = 2; j <= 3; j++) {
				json_object_set_new(json_array_get(conds, j), "reason", json_string("ContainersNotReady"));
				json_object_set_new(json_array_get(conds, j), "message",
						    json_sprintf("containers with unready status: [%s]", names.buf));
			}
			sb_release(&names);
		}
		{
			uint64_t ipn = ++k->ip_seq;
			json_object_set_new(nw, "status", json_pack("{s:s, s:o, s:s, s:s, s:s, s:o, s:s, s:[{s:s}]}", "phase",
				"Running", "conditions", conds, "hostIP", "192.168.0.10", "podIP",
				"", "startTime", ts, "containerStatuses", cs, "qosClass", "BestEffort", "podIPs", "ip", ""));
			json_object_set_new(json_object_get(nw, "status"), "podIP",
					    json_sprintf("10.244.%llu.%llu", (unsigned long long)(ipn / 250 % 250),
							 (unsigned long long)(ipn % 250 + 2)));
			json_object_set(json_array_get(json_object_get(json_object_get(nw, "status"), "podIPs"), 0), "ip",
					json_object_get(json_object_get(nw, "status"), "podIP"));
		}
		changes += save_as(k, pr, p, nw, "kubelet", "status");
	}
	json_decref(pods);
	return changes;
}

/* ---- ReplicaSets ------------------------------------------------------------------------ */

/* uid -> [objects of r owned by it]: one pass instead of one per owner. */
static json_t *owner_index(struct fake_kube *k, const struct kr *r)
{
	json_t *all = store_all(&k->st, r, NULL), *idx = json_object(), *o, *ref;
	size_t i, j;

	json_array_foreach(all, i, o) {
		json_array_foreach(json_object_get(meta(o), "ownerReferences"), j, ref) {
			const char *uid = json_string_value(json_object_get(ref, "uid"));
			json_t *l;
			if (!uid)
				continue;
			l = json_object_get(idx, uid);
			if (!l) {
				l = json_array();
				json_object_set_new(idx, uid, l);
			}
			json_array_append(l, o);
		}
	}
	json_decref(all);
	return idx;
}

/* The objects of idx owned by uid, each read again (the store may have moved on). */
static json_t *owned_now(struct fake_kube *k, const struct kr *r, json_t *idx, const char *uid)
{
	json_t *out = json_array(), *o, *cur;
	size_t i;

	json_array_foreach(json_object_get(idx, uid ? uid : ""), i, o) {
		cur = store_get(&k->st, r, mstr(o, "namespace"), mstr(o, "name"));
		if (cur && owned_by(cur, uid))
			json_array_append(out, cur);
	}
	return out;
}

static json_t *owned(struct fake_kube *k, const struct kr *r, const char *ns, const char *uid)
{
	json_t *all = store_all(&k->st, r, ns), *out = json_array(), *o;
	size_t i;

	json_array_foreach(all, i, o)
		if (owned_by(o, uid))
			json_array_append(out, o);
	json_decref(all);
	return out;
}

static int replicaset_controller(struct fake_kube *k)
{
	const struct kr *rr = R("apps", "replicasets"), *pr = R("", "pods");
	json_t *all = store_all(&k->st, rr, NULL), *rs, *idx = owner_index(k, pr);
	size_t i;
	int changes = 0;

	json_array_foreach(all, i, rs) {
		json_t *spec = json_object_get(rs, "spec"), *pods, *p, *nw, *live;
		json_int_t want = ival(spec, "replicas"), have = 0, ready = 0, avail = 0;
		json_int_t min_ready = ival(spec, "minReadySeconds");
		size_t j;

		if (mstr(rs, "deletionTimestamp"))
			continue;
		pods = owned_now(k, pr, idx, mstr(rs, "uid"));
		json_array_foreach(pods, j, p)
			if (!pod_terminating(p))
				have++;
		for (json_int_t n = have; n < want && n - have < 1000; n++) {
			json_array_append(pods, create_pod(k, rs));
			changes++;
		}
		if (have > want) {
			/* not ready ones first, then the newest */
			json_int_t extra = have - want;
			for (int pass = 0; pass < 2 && extra > 0; pass++)
				for (j = json_array_size(pods); j-- > 0 && extra > 0;) {
					p = json_array_get(pods, j);
					if (pod_terminating(p) || (pass == 0 && pod_ready(p)))
						continue;
					store_remove(&k->st, pr, mstr(p, "namespace"), mstr(p, "name"));
					json_array_remove(pods, j);
					extra--;
					changes++;
				}
		}
		have = 0;
		json_array_foreach(pods, j, p) {
			if (pod_terminating(p))
				continue;
			have++;
			if (pod_ready(p))
				ready++;
			if (pod_available(k, p, min_ready))
				avail++;
		}
		json_decref(pods);
		live = store_get(&k->st, rr, mstr(rs, "namespace"), mstr(rs, "name"));
		nw = json_deep_copy(live);
		json_object_set_new(nw, "status", json_pack("{s:I, s:I, s:I, s:I, s:I}", "replicas", (json_int_t)have,
							     "fullyLabeledReplicas", (json_int_t)have, "readyReplicas", ready,
							     "availableReplicas", avail, "observedGeneration",
							     ival(meta(live), "generation")));
		if (ready == 0)
			json_object_del(json_object_get(nw, "status"), "readyReplicas");
		if (avail == 0)
			json_object_del(json_object_get(nw, "status"), "availableReplicas");
		if (have == 0)
			json_object_del(json_object_get(nw, "status"), "fullyLabeledReplicas");
		changes += save_as(k, rr, live, nw, "kube-controller-manager", "status");
	}
	json_decref(idx);
	json_decref(all);
	return changes;
}

/* ---- Deployments ----------------------------------------------------------------------------- */

/* As the controller names them: FNV-32a of the template, its decimal digits
 * through rand.SafeEncodeString (so only 4-9, b, c, d, f appear). */
static void template_hash(json_t *tmpl, char out[11])
{
	char *s = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS);
	uint32_t h = 2166136261u;
	char dec[16];
	size_t n;

	for (const char *p = s ? s : ""; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	free(s);
	snprintf(dec, sizeof(dec), "%u", h);
	n = strlen(dec);
	for (size_t i = 0; i < n && i < 10; i++)
		out[i] = SAFE[(unsigned char)dec[i] % (sizeof(SAFE) - 1)];
	out[n < 10 ? n : 10] = '\0';
}

/* intstr: an int, or "N%" of total rounded up or down */
static json_int_t int_or_percent(json_t *v, json_int_t total, bool round_up, json_int_t dflt)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v)) {
		double pct = atof(json_string_value(v));
		double x = pct * (double)total / 100.0;
		return (json_int_t)(round_up ? ceil(x) : floor(x));
	}
	return dflt;
}

static json_t *find_cond(json_t *conds, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c)
		if (json_string_value(json_object_get(c, "type")) && strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
			return c;
	return NULL;
}

/* Set a condition; lastTransitionTime moves when status does, lastUpdateTime when anything does (or touch). */
static void set_cond(json_t *conds, const char *type, const char *status, const char *reason, const char *msg,
		     const char *now, bool touch)
{
	json_t *c = find_cond(conds, type);

	if (!c) {
		json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
						       "lastUpdateTime", now, "lastTransitionTime", now, "reason", reason,
						       "message", msg));
		return;
	}
	if (strcmp(json_string_value(json_object_get(c, "status")), status) != 0)
		json_object_set_new(c, "lastTransitionTime", json_string(now));
	if (touch || strcmp(json_string_value(json_object_get(c, "status")), status) != 0 ||
	    strcmp(json_string_value(json_object_get(c, "reason")) ? json_string_value(json_object_get(c, "reason")) : "", reason) != 0 ||
	    strcmp(json_string_value(json_object_get(c, "message")) ? json_string_value(json_object_get(c, "message")) : "", msg) != 0)
		json_object_set_new(c, "lastUpdateTime", json_string(now));
	json_object_set_new(c, "status", json_string(status));
	json_object_set_new(c, "reason", json_string(reason));
	json_object_set_new(c, "message", json_string(msg));
}

static json_t *new_replicaset(struct fake_kube *k, json_t *d, const char *hash, json_int_t revision)
{
	json_t *spec = json_object_get(d, "spec"), *tmpl = json_deep_copy(json_object_get(spec, "template"));
	json_t *sel = json_deep_copy(json_object_get(spec, "selector")), *labels, *rs, *ann;
	char name[300];
	char *err = NULL;
	json_t *st;

	json_object_set_new(sub(sub(tmpl, "metadata"), "labels"), "pod-template-hash", json_string(hash));
	json_object_set_new(sub(sel, "matchLabels"), "pod-template-hash", json_string(hash));
	labels = json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels"));
	snprintf(name, sizeof(name), "%s-%s", mstr(d, "name"), hash);
	ann = json_deep_copy(json_object_get(meta(d), "annotations"));
	if (!json_is_object(ann))
		ann = json_object();
	json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
	json_object_set_new(ann, "deployment.kubernetes.io/desired-replicas", json_sprintf("%lld", (long long)ival(spec, "replicas")));
	json_object_set_new(ann, "deployment.kubernetes.io/max-replicas", json_sprintf("%lld", (long long)ival(spec, "replicas") + 1));
	json_object_set_new(ann, "deployment.kubernetes.io/revision", json_sprintf("%lld", (long long)revision));
	rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o, s:[o]}, s:{s:i, s:I, s:o, s:o}}", "apiVersion", "apps/v1", "kind",
		       "ReplicaSet", "metadata", "name", name, "namespace", mstr(d, "namespace"), "labels", labels,
		       "annotations", ann, "ownerReferences", owner_ref("apps/v1", "Deployment", d), "spec", "replicas", 0,
		       "minReadySeconds", ival(spec, "minReadySeconds"), "selector", sel, "template", tmpl);
	(void)err;
	st = NULL;
	{
		const struct kr *rr = R("apps", "replicasets");
		json_t *m = json_object_get(rs, "metadata");
		char ts[32], *uid = store_new_uid(&k->st);
		kf_rfc3339(kf_now(k), ts);
		json_object_set_new(m, "uid", json_string(uid));
		json_object_set_new(m, "creationTimestamp", json_string(ts));
		json_object_set_new(m, "generation", json_integer(1));
		free(uid);
		schema_default(k, rr, rs, NULL);
		ssa_update(k, rr, NULL, rs, "kube-controller-manager", NULL);
		st = store_put(&k->st, rr, rs, true);
	}
	return st;
}

/* The same ReplicaSets as the store holds them now (rss is consumed). */
static json_t *refresh(struct fake_kube *k, const struct kr *rr, json_t *rss)
{
	json_t *fresh = json_array(), *x;
	size_t i;

	json_array_foreach(rss, i, x) {
		json_t *cur = store_get(&k->st, rr, mstr(x, "namespace"), mstr(x, "name"));
		if (cur)
			json_array_append(fresh, cur);
	}
	json_decref(rss);
	return fresh;
}

static int deployment_controller(struct fake_kube *k)
{
	const struct kr *dr = R("apps", "deployments"), *rr = R("apps", "replicasets");
	json_t *all = store_all(&k->st, dr, NULL), *d, *idx = owner_index(k, rr);
	size_t i;
	int changes = 0;
	char now[32];

	kf_rfc3339(kf_now(k), now);
	json_array_foreach(all, i, d) {
		json_t *spec = json_object_get(d, "spec"), *rss, *rs, *newrs = NULL, *nw, *st, *conds;
		json_t *strategy = json_object_get(spec, "strategy");
		const char *stype = json_string_value(json_object_get(strategy, "type"));
		json_int_t desired = ival(spec, "replicas"), total = 0, maxrev = 0, avail_all = 0;
		json_int_t surge, unavail, upd = 0, ready = 0, avail = 0, replicas = 0;
		char hash[11];
		bool created = false, progress = false, paused = json_is_true(json_object_get(spec, "paused"));
		size_t j;

		if (mstr(d, "deletionTimestamp"))
			continue;
		template_hash(json_object_get(spec, "template"), hash);
		rss = owned_now(k, rr, idx, mstr(d, "uid"));
		json_array_foreach(rss, j, rs) {
			const char *rev = json_string_value(json_object_get(json_object_get(meta(rs), "annotations"),
									    "deployment.kubernetes.io/revision"));
			const char *h = json_string_value(json_object_get(json_object_get(meta(rs), "labels"), "pod-template-hash"));
			if (rev && atoll(rev) > maxrev)
				maxrev = atoll(rev);
			if (h && strcmp(h, hash) == 0)
				newrs = rs;
		}
		if (!newrs && !paused) {
			newrs = new_replicaset(k, d, hash, maxrev + 1);
			json_array_append(rss, newrs);
			created = progress = true;
			changes++;
		} else if (newrs) {
			/* the current template's ReplicaSet carries the newest revision */
			const char *rev = json_string_value(json_object_get(json_object_get(meta(newrs), "annotations"),
									    "deployment.kubernetes.io/revision"));
			json_int_t other = 0;
			json_array_foreach(rss, j, rs) {
				const char *rv2 = json_string_value(json_object_get(json_object_get(meta(rs), "annotations"),
										    "deployment.kubernetes.io/revision"));
				if (rs != newrs && rv2 && atoll(rv2) > other)
					other = atoll(rv2);
			}
			if (!rev || atoll(rev) <= other) {
				json_t *c = json_deep_copy(newrs);
				json_object_set_new(sub(sub(c, "metadata"), "annotations"), "deployment.kubernetes.io/revision",
						    json_sprintf("%lld", (long long)other + 1));
				changes += save_as(k, rr, newrs, c, "kube-controller-manager", NULL);
				progress = true;
				rss = refresh(k, rr, rss);
				newrs = NULL;
				json_array_foreach(rss, j, rs) {
					const char *h = json_string_value(json_object_get(json_object_get(meta(rs), "labels"),
											  "pod-template-hash"));
					if (h && strcmp(h, hash) == 0)
						newrs = rs;
				}
			}
		}
		json_array_foreach(rss, j, rs) {
			total += ival(json_object_get(rs, "spec"), "replicas");
			avail_all += ival(json_object_get(rs, "status"), "availableReplicas");
		}
		surge = int_or_percent(json_object_get(json_object_get(strategy, "rollingUpdate"), "maxSurge"), desired, true, 1);
		unavail = int_or_percent(json_object_get(json_object_get(strategy, "rollingUpdate"), "maxUnavailable"), desired,
					 false, 0);
		if (surge == 0 && unavail == 0)
			unavail = 1;
		if (!paused && newrs) {
			json_int_t nr = ival(json_object_get(newrs, "spec"), "replicas"), target = nr;
			json_int_t old_pods = 0;

			json_array_foreach(rss, j, rs)
				if (rs != newrs)
					old_pods += ival(json_object_get(rs, "spec"), "replicas") + ival(json_object_get(rs, "status"), "replicas");
			if (stype && strcmp(stype, "Recreate") == 0) {
				json_array_foreach(rss, j, rs) {
					if (rs != newrs && ival(json_object_get(rs, "spec"), "replicas") > 0) {
						json_t *c = json_deep_copy(rs);
						json_object_set_new(json_object_get(c, "spec"), "replicas", json_integer(0));
						changes += save_as(k, rr, rs, c, "kube-controller-manager", NULL);
						progress = true;
					}
				}
				if (old_pods == 0)
					target = desired;
			} else {
				if (nr < desired) {
					json_int_t allowed = desired + surge - total;
					if (allowed > 0)
						target = nr + (allowed < desired - nr ? allowed : desired - nr);
				} else if (nr > desired) {
					target = desired;
				}
				/* old ReplicaSets go down as far as availability allows */
				{
					json_int_t new_unavail = nr - ival(json_object_get(newrs, "status"), "availableReplicas");
					json_int_t budget = total - (desired - unavail) - (new_unavail > 0 ? new_unavail : 0);
					for (int pass = 0; pass < 2; pass++)
						json_array_foreach(rss, j, rs) {
							json_int_t r = ival(json_object_get(rs, "spec"), "replicas");
							json_int_t a = ival(json_object_get(rs, "status"), "availableReplicas");
							json_int_t down = pass == 0 ? r - a : r;
							json_t *c;
							if (rs == newrs || r == 0 || budget <= 0 || down <= 0)
								continue;
							if (pass == 0 && down > r)
								down = r;
							if (down > budget)
								down = budget;
							if (down <= 0)
								continue;
							budget -= down;
							c = json_deep_copy(rs);
							json_object_set_new(json_object_get(c, "spec"), "replicas", json_integer(r - down));
							changes += save_as(k, rr, rs, c, "kube-controller-manager", NULL);
							progress = true;
						}
				}
			}
			if (target != nr) {
				json_t *c = json_deep_copy(newrs);
				json_object_set_new(json_object_get(c, "spec"), "replicas", json_integer(target));
				json_object_set_new(sub(sub(c, "metadata"), "annotations"), "deployment.kubernetes.io/desired-replicas",
						    json_sprintf("%lld", (long long)desired));
				changes += save_as(k, rr, newrs, c, "kube-controller-manager", NULL);
				progress = true;
			}
		}
		/* status from what the ReplicaSets report now */
		rss = refresh(k, rr, rss);
		newrs = NULL;
		json_array_foreach(rss, j, rs) {
			json_t *rst = json_object_get(rs, "status");
			const char *h = json_string_value(json_object_get(json_object_get(meta(rs), "labels"), "pod-template-hash"));
			replicas += ival(rst, "replicas");
			ready += ival(rst, "readyReplicas");
			avail += ival(rst, "availableReplicas");
			if (h && strcmp(h, hash) == 0) {
				newrs = rs;
				upd = ival(rst, "replicas");
			}
		}
		nw = json_deep_copy(d);
		st = json_object_get(d, "status");
		if (ival(st, "replicas") != replicas || ival(st, "updatedReplicas") != upd || ival(st, "readyReplicas") != ready ||
		    ival(st, "availableReplicas") != avail)
			progress = true;
		conds = json_deep_copy(json_object_get(st, "conditions"));
		if (!json_is_array(conds)) {
			json_decref(conds);
			conds = json_array();
		}
		{
			char msg[400];
			const char *rsname = newrs ? mstr(newrs, "name") : mstr(d, "name");
			bool complete = upd == desired && replicas == desired && avail == desired;
			json_t *pc;

			if (avail >= desired - unavail)
				set_cond(conds, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.",
					 now, false);
			else
				set_cond(conds, "Available", "False", "MinimumReplicasUnavailable",
					 "Deployment does not have minimum availability.", now, false);
			pc = find_cond(conds, "Progressing");
			if (paused) {
				set_cond(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, false);
			} else if (complete) {
				snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.", rsname);
				set_cond(conds, "Progressing", "True", "NewReplicaSetAvailable", msg, now, false);
			} else if (created) {
				snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", rsname);
				set_cond(conds, "Progressing", "True", "NewReplicaSetCreated", msg, now, true);
			} else if (progress || !pc) {
				snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", rsname);
				set_cond(conds, "Progressing", "True", "ReplicaSetUpdated", msg, now, true);
			} else {
				const char *reason = json_string_value(json_object_get(pc, "reason"));
				int64_t last = kf_parse_time(json_string_value(json_object_get(pc, "lastUpdateTime")));
				json_int_t deadline = ival(spec, "progressDeadlineSeconds");
				if (reason && strcmp(reason, "ProgressDeadlineExceeded") != 0 && strcmp(reason, "NewReplicaSetAvailable") != 0 &&
				    json_object_get(spec, "progressDeadlineSeconds") && last >= 0 && kf_now(k) - last > deadline) {
					snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has timed out progressing.", rsname);
					set_cond(conds, "Progressing", "False", "ProgressDeadlineExceeded", msg, now, false);
				} else if (reason && strcmp(reason, "NewReplicaSetAvailable") == 0) {
					/* complete before, not now (scaled, a pod went): progressing again */
					snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", rsname);
					set_cond(conds, "Progressing", "True", "ReplicaSetUpdated", msg, now, true);
				}
			}
		}
		{
			/* Available first, then Progressing, as the controller writes them */
			json_t *ordered = json_array(), *c;
			if ((c = find_cond(conds, "Available")))
				json_array_append(ordered, c);
			if ((c = find_cond(conds, "Progressing")))
				json_array_append(ordered, c);
			json_decref(conds);
			conds = ordered;
		}
		st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "observedGeneration", ival(meta(d), "generation"), "replicas",
			       replicas, "updatedReplicas", upd, "readyReplicas", ready, "availableReplicas", avail,
			       "unavailableReplicas", desired - avail > 0 ? desired - avail : 0, "conditions", conds);
		/* omitempty */
		if (!replicas)
			json_object_del(st, "replicas");
		if (!upd)
			json_object_del(st, "updatedReplicas");
		if (!ready)
			json_object_del(st, "readyReplicas");
		if (!avail)
			json_object_del(st, "availableReplicas");
		if (desired - avail <= 0)
			json_object_del(st, "unavailableReplicas");
		json_object_set_new(nw, "status", st);
		if (newrs) {
			/* written with the status, as the controller does: no new generation */
			json_t *rev = json_object_get(json_object_get(meta(newrs), "annotations"), "deployment.kubernetes.io/revision");
			if (rev)
				json_object_set(sub(sub(nw, "metadata"), "annotations"), "deployment.kubernetes.io/revision", rev);
		}
		changes += save_as(k, dr, d, nw, "kube-controller-manager", "status");
		json_decref(rss);
		(void)avail_all;
	}
	json_decref(idx);
	json_decref(all);
	return changes;
}

/* ---- PodDisruptionBudgets -------------------------------------------------------------------- */

/* The status the disruption controller would write now. */
static json_t *pdb_status(struct fake_kube *k, json_t *pdb)
{
	json_t *spec = json_object_get(pdb, "spec"), *sel = json_object_get(spec, "selector");
	json_t *pods = store_all(&k->st, R("", "pods"), mstr(pdb, "namespace")), *p;
	json_int_t expected = 0, healthy = 0, desired, allowed;
	size_t i;

	json_array_foreach(pods, i, p) {
		if (pod_terminating(p) || !labelselector_match(sel, json_object_get(meta(p), "labels"), false))
			continue;
		expected++;
		if (pod_ready(p))
			healthy++;
	}
	json_decref(pods);
	if (json_object_get(spec, "minAvailable"))
		desired = int_or_percent(json_object_get(spec, "minAvailable"), expected, true, 0);
	else if (json_object_get(spec, "maxUnavailable"))
		desired = expected - int_or_percent(json_object_get(spec, "maxUnavailable"), expected, true, 0);
	else
		desired = expected;
	if (desired < 0)
		desired = 0;
	allowed = healthy - desired > 0 ? healthy - desired : 0;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:[{s:s, s:s, s:s, s:s, s:I, s:s}]}", "observedGeneration",
			 ival(meta(pdb), "generation"), "disruptionsAllowed", allowed, "currentHealthy", healthy,
			 "desiredHealthy", desired, "expectedPods", expected, "conditions", "type", "DisruptionAllowed", "status",
			 allowed > 0 ? "True" : "False", "reason", allowed > 0 ? "SufficientPods" : "InsufficientPods", "message",
			 "", "observedGeneration", ival(meta(pdb), "generation"), "lastTransitionTime", "");
}

static int pdb_controller(struct fake_kube *k)
{
	const struct kr *pr = R("policy", "poddisruptionbudgets");
	json_t *all = store_all(&k->st, pr, NULL), *pdb;
	size_t i;
	int changes = 0;
	char now[32];

	kf_rfc3339(kf_now(k), now);
	json_array_foreach(all, i, pdb) {
		json_t *nw = json_deep_copy(pdb), *st = pdb_status(k, pdb);
		json_t *c = json_array_get(json_object_get(st, "conditions"), 0);
		json_t *oc = json_array_get(json_object_get(json_object_get(pdb, "status"), "conditions"), 0);
		/* the transition time stays while the status does */
		if (oc && json_equal(json_object_get(oc, "status"), json_object_get(c, "status")))
			json_object_set(c, "lastTransitionTime", json_object_get(oc, "lastTransitionTime"));
		else
			json_object_set_new(c, "lastTransitionTime", json_string(now));
		json_object_set_new(nw, "status", st);
		changes += save_as(k, pr, pdb, nw, "kube-controller-manager", "status");
	}
	json_decref(all);
	return changes;
}

json_t *rollout_evict(struct fake_kube *k, const char *ns, const char *name, json_t *body, int *code)
{
	const struct kr *podr = R("", "pods"), *pdbr = R("policy", "poddisruptionbudgets");
	json_t *pod = store_get(&k->st, podr, ns, name), *pdbs, *pdb, *match = NULL, *c;
	const char *phase;
	size_t i, n = 0;
	char ts[32];
	json_t *dr = json_object_get(json_object_get(body, "deleteOptions"), "dryRun");
	bool dry = json_is_array(dr) && json_array_size(dr) > 0;

	if (!pod) {
		*code = 404;
		return kf_not_found(podr, name);
	}
	phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
	*code = 201;
	if (pod_terminating(pod))
		return kf_status(201, "", NULL, NULL);
	/* a terminal or pending pod disrupts nothing: no budget is asked */
	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 || strcmp(phase, "Pending") == 0))
		pdbs = json_array();
	else
		pdbs = store_all(&k->st, pdbr, ns);
	json_array_foreach(pdbs, i, pdb)
		if (labelselector_match(json_object_get(json_object_get(pdb, "spec"), "selector"),
					json_object_get(meta(pod), "labels"), false)) {
			match = pdb;
			n++;
		}
	if (n > 1) {
		json_decref(pdbs);
		*code = 500;
		return kf_status(500, "InternalError",
				 "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.", NULL);
	}
	if (match) {
		json_t *st = pdb_status(k, match);
		const char *policy = json_string_value(json_object_get(json_object_get(match, "spec"),
								       "unhealthyPodEvictionPolicy"));
		/* an unready pod disrupts nothing more: AlwaysAllow lets it go, IfHealthyBudget (the
		 * default) when the budget is met; the budget is not decremented */
		bool unhealthy_ok = !pod_ready(pod) && ((policy && strcmp(policy, "AlwaysAllow") == 0) ||
							(ival(st, "currentHealthy") >= ival(st, "desiredHealthy") &&
							 ival(st, "desiredHealthy") > 0));

		if (!unhealthy_ok && ival(st, "disruptionsAllowed") <= 0) {
			char msg[400];
			snprintf(msg, sizeof(msg), "The disruption budget %s needs %lld healthy pods and has %lld currently",
				 mstr(match, "name"), (long long)ival(st, "desiredHealthy"), (long long)ival(st, "currentHealthy"));
			json_decref(st);
			json_decref(pdbs);
			*code = 429;
			return kf_status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
					 json_pack("{s:[{s:s, s:s}]}", "causes", "reason", "DisruptionBudget", "message", msg));
		}
		if (!unhealthy_ok && !dry) {
			json_t *nw = json_deep_copy(match);
			json_object_set_new(st, "disruptionsAllowed", json_integer(ival(st, "disruptionsAllowed") - 1));
			kf_rfc3339(kf_now(k), ts);
			json_object_set_new(st, "disruptedPods", json_pack("{s:s}", name, ts));
			json_object_set_new(nw, "status", st);
			save_as(k, pdbr, match, nw, "kube-controller-manager", "status");
		} else {
			json_decref(st);
		}
	}
	json_decref(pdbs);
	if (dry)
		return kf_status(201, "", NULL, NULL);
	/* graceful: the kubelet finishes it at the next round; the pod says why it goes
	 * (the DisruptionTarget condition, as the API server adds it) */
	c = json_deep_copy(pod);
	kf_rfc3339(kf_now(k), ts);
	{
		json_t *conds = json_object_get(sub(c, "status"), "conditions");
		if (!json_is_array(conds)) {
			conds = json_array();
			json_object_set_new(sub(c, "status"), "conditions", conds);
		}
		json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "DisruptionTarget", "status",
						       "True", "lastTransitionTime", ts, "reason", "EvictionByEvictionAPI",
						       "message", "Eviction API: evicting"));
	}
	kf_rfc3339(kf_now(k) + 30, ts);
	json_object_set_new(sub(c, "metadata"), "deletionTimestamp", json_string(ts));
	json_object_set_new(sub(c, "metadata"), "deletionGracePeriodSeconds", json_integer(30));
	store_put(&k->st, podr, c, false);
	return kf_status(201, "", NULL, NULL);
}

/* ---- garbage collection and namespaces ------------------------------------------------------------------ */

static int garbage_collector(struct fake_kube *k)
{
	json_t *uids = json_object();
	int changes = 0;

	for (size_t i = 0; kr_at(i); i++) {
		json_t *all = store_all(&k->st, kr_at(i), NULL), *o;
		size_t j;
		json_array_foreach(all, j, o)
			if (mstr(o, "uid"))
				json_object_set_new(uids, mstr(o, "uid"), json_true());
		json_decref(all);
	}
	for (size_t i = 0; kr_at(i); i++) {
		const struct kr *r = kr_at(i);
		json_t *all = store_all(&k->st, r, NULL), *o;
		size_t j;

		json_array_foreach(all, j, o) {
			json_t *refs = json_object_get(meta(o), "ownerReferences"), *ref, *fin;
			bool any = false, alive = false;
			size_t x;

			json_array_foreach(refs, x, ref) {
				any = true;
				if (json_object_get(uids, json_string_value(json_object_get(ref, "uid")) ?
								  json_string_value(json_object_get(ref, "uid")) : ""))
					alive = true;
			}
			if (any && !alive && !mstr(o, "deletionTimestamp")) {
				store_remove(&k->st, r, mstr(o, "namespace"), mstr(o, "name"));
				changes++;
				continue;
			}
			fin = json_object_get(meta(o), "finalizers");
			if (mstr(o, "deletionTimestamp") && json_array_size(fin)) {
				/* foreground: dependents first, then the owner */
				bool has_fg = false, deps = false;
				json_t *f;
				json_array_foreach(fin, x, f)
					if (json_string_value(f) && strcmp(json_string_value(f), "foregroundDeletion") == 0)
						has_fg = true;
				if (!has_fg)
					continue;
				for (size_t y = 0; kr_at(y); y++) {
					json_t *deps_all = owned(k, kr_at(y), NULL, mstr(o, "uid")), *dep;
					size_t z;
					json_array_foreach(deps_all, z, dep) {
						deps = true;
						store_remove(&k->st, kr_at(y), mstr(dep, "namespace"), mstr(dep, "name"));
						changes++;
					}
					json_decref(deps_all);
				}
				if (!deps) {
					json_t *c = json_deep_copy(o), *nf = json_array();
					json_array_foreach(fin, x, f)
						if (!json_string_value(f) || strcmp(json_string_value(f), "foregroundDeletion") != 0)
							json_array_append(nf, f);
					if (json_array_size(nf) == 0) {
						json_decref(nf);
						json_decref(c);
						store_remove(&k->st, r, mstr(o, "namespace"), mstr(o, "name"));
					} else {
						json_object_set_new(sub(c, "metadata"), "finalizers", nf);
						save(k, r, o, c);
					}
					changes++;
				}
			}
		}
		json_decref(all);
	}
	json_decref(uids);
	return changes;
}

static int namespace_controller(struct fake_kube *k)
{
	const struct kr *nsr = R("", "namespaces");
	json_t *all = store_all(&k->st, nsr, NULL), *ns;
	size_t i;
	int changes = 0;

	json_array_foreach(all, i, ns) {
		size_t left = 0;
		if (!mstr(ns, "deletionTimestamp"))
			continue;
		for (size_t r = 0; kr_at(r); r++) {
			json_t *objs, *o;
			size_t j;
			if (!kr_at(r)->namespaced)
				continue;
			objs = store_all(&k->st, kr_at(r), mstr(ns, "name"));
			json_array_foreach(objs, j, o) {
				store_remove(&k->st, kr_at(r), mstr(o, "namespace"), mstr(o, "name"));
				changes++;
				left++;
			}
			json_decref(objs);
		}
		if (left == 0) {
			store_remove(&k->st, nsr, NULL, mstr(ns, "name"));
			changes++;
		}
	}
	json_decref(all);
	return changes;
}

int rollout_step(struct fake_kube *k)
{
	int changes = 0;

	changes += namespace_controller(k);
	changes += garbage_collector(k);
	changes += deployment_controller(k);
	changes += replicaset_controller(k);
	changes += kubelet(k);
	changes += pdb_controller(k);
	changes += bootstrap_step(k);
	return changes;
}
