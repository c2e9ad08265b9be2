/* What a deploy reads and writes on a cluster (see rollout.h). */
#include "bot/k8s/rollout.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPLOY_MANAGER "viva-deploy"

static json_t *jget(json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

static long jlong(json_t *o, const char *a, const char *b)
{
	return (long)json_integer_value(jget(o, a, b));
}

static char *jdup(json_t *v)
{
	return xstrdup(json_string_value(v) ? json_string_value(v) : "");
}

const char *k8s_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (len == 0)
		return buf;
	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

void k8s_slot_release(struct k8s_slot *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->slot);
	free(s->tag);
	free(s->image);
	free(s->container);
	free(s->deployed_by);
	memset(s, 0, sizeof(*s));
}

/* "host:5000/team/svc:tag" is of repository "host:5000/team/svc". */
static bool image_of_repo(const char *image, const char *repo)
{
	size_t n = strlen(repo);

	return strncmp(image, repo, n) == 0 && (image[n] == ':' || image[n] == '@' || image[n] == '\0');
}

enum k8s_rollout k8s_rollout_of(json_t *d, char *why, size_t whylen)
{
	json_t *status = json_object_get(d, "status"), *conds = json_object_get(status, "conditions"), *c;
	long generation = (long)json_integer_value(jget(d, "metadata", "generation"));
	long observed = jlong(d, "status", "observedGeneration");
	long want = json_is_integer(jget(d, "spec", "replicas")) ? jlong(d, "spec", "replicas") : 1;
	long updated = jlong(d, "status", "updatedReplicas"), total = jlong(d, "status", "replicas");
	long available = jlong(d, "status", "availableReplicas");
	size_t i;

	if (generation > observed) {
		snprintf(why, whylen, "waiting for the new version to be observed");
		return K8S_ROLLOUT_WAITING;
	}
	json_array_foreach(conds, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *reason = json_string_value(json_object_get(c, "reason"));

		if (type && reason && strcmp(type, "Progressing") == 0 && strcmp(reason, "ProgressDeadlineExceeded") == 0) {
			const char *msg = json_string_value(json_object_get(c, "message"));

			snprintf(why, whylen, "its progress deadline was exceeded (%s)", msg ? msg : "no progress");
			return K8S_ROLLOUT_STUCK;
		}
	}
	if (updated < want)
		snprintf(why, whylen, "%ld of %ld new replicas updated", updated, want);
	else if (total > updated)
		snprintf(why, whylen, "%ld old replica%s pending termination", total - updated, total - updated == 1 ? "" : "s");
	else if (available < updated)
		snprintf(why, whylen, "%ld/%ld ready", available, updated);
	else {
		snprintf(why, whylen, "%ld/%ld ready", available, want);
		return K8S_ROLLOUT_COMPLETE;
	}
	return K8S_ROLLOUT_WAITING;
}

int k8s_slot_read(struct kube *k, const char *ns, const char *name, const char *image_repo, struct k8s_slot *out)
{
	struct kube_ref ref = { .res = &kube_deployments, .ns = ns, .name = name };
	json_t *d = NULL, *containers, *c, *pick = NULL, *ann;
	const char *at;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = kube_get(k, &ref, &d);
	if (rc != VIVA_OK)
		return rc;
	containers = json_object_get(json_object_get(jget(d, "spec", "template"), "spec"), "containers");
	json_array_foreach(containers, i, c) {
		const char *img = json_string_value(json_object_get(c, "image"));

		if (!pick)
			pick = c;
		if (img && image_repo && image_of_repo(img, image_repo)) {
			pick = c;
			break;
		}
	}
	ann = jget(d, "metadata", "annotations");
	out->name = xstrdup(name);
	out->slot = jdup(json_object_get(jget(d, "metadata", "labels"), "viva/slot"));
	out->tag = jdup(json_object_get(ann, "viva/tag"));
	out->deployed_by = jdup(json_object_get(ann, "viva/deployed-by"));
	at = json_string_value(json_object_get(ann, "viva/deployed-at"));
	if (!at || registry_parse_time(at, &out->deployed_at) != VIVA_OK)
		out->deployed_at = 0;
	out->image = jdup(json_object_get(pick, "image"));
	out->container = jdup(json_object_get(pick, "name"));
	out->replicas = json_is_integer(jget(d, "spec", "replicas")) ? jlong(d, "spec", "replicas") : 1;
	out->ready = jlong(d, "status", "readyReplicas");
	out->updated = jlong(d, "status", "updatedReplicas");
	out->available = jlong(d, "status", "availableReplicas");
	out->total = jlong(d, "status", "replicas");
	out->rollout = k8s_rollout_of(d, out->progress, sizeof(out->progress));
	json_decref(d);
	return VIVA_OK;
}

int k8s_slot_set(struct kube *k, const char *ns, const char *name, const struct k8s_slot_set *set)
{
	struct kube_ref ref = { .res = &kube_deployments, .ns = ns, .name = name };
	struct kube_write_opts wo = { .field_manager = DEPLOY_MANAGER };
	json_t *patch = json_object(), *spec = json_object();
	int rc;

	if (set->image) {
		char when[32];

		json_object_set_new(patch, "metadata", json_pack("{s:{s:s, s:s, s:s}}", "annotations", "viva/tag",
								 set->tag ? set->tag : "", "viva/deployed-at",
								 k8s_time(set->deployed_at, when, sizeof(when)),
								 "viva/deployed-by", set->deployed_by ? set->deployed_by : ""));
		json_object_set_new(spec, "template", json_pack("{s:{s:[{s:s, s:s}]}}", "spec", "containers", "name",
								set->container ? set->container : "app", "image",
								set->image));
	}
	if (set->replicas >= 0)
		json_object_set_new(spec, "replicas", json_integer(set->replicas));
	json_object_set_new(patch, "spec", spec);
	rc = kube_patch(k, &ref, KUBE_PATCH_STRATEGIC, patch, &wo, NULL);
	json_decref(patch);
	return rc;
}

struct scale_down {
	const char *slot;
	int64_t deployed_at;
	char *why;
	size_t whylen;
};

static int scale_down_mutate(json_t *d, void *ud)
{
	struct scale_down *sd = ud;
	const char *at = json_string_value(json_object_get(jget(d, "metadata", "annotations"), "viva/deployed-at"));
	int64_t t = 0;

	if (at)
		registry_parse_time(at, &t);
	if (t != sd->deployed_at) {
		snprintf(sd->why, sd->whylen, "%s was deployed again since (at %s)", sd->slot, at ? at : "an unknown time");
		return KUBE_UNCHANGED;
	}
	if (jlong(d, "spec", "replicas") == 0 && json_is_integer(jget(d, "spec", "replicas"))) {
		snprintf(sd->why, sd->whylen, "%s was already at zero", sd->slot);
		return KUBE_UNCHANGED;
	}
	json_object_set_new(json_object_get(d, "spec"), "replicas", json_integer(0));
	sd->why[0] = '\0';
	return VIVA_OK;
}

int k8s_slot_scale_down_if(struct kube *k, const char *ns, const char *svc, const char *name, const char *slot,
			   int64_t deployed_at, bool *done, char *why, size_t whylen)
{
	struct kube_ref ref = { .res = &kube_deployments, .ns = ns, .name = name };
	struct scale_down sd = { slot, deployed_at, why, whylen };
	char *live = NULL;
	int rc;

	*done = false;
	why[0] = '\0';
	rc = k8s_live_slot(k, ns, svc, &live, NULL);
	if (rc != VIVA_OK)
		return rc;
	if (strcmp(live, slot) == 0) {
		snprintf(why, whylen, "%s is live again", slot);
		free(live);
		return VIVA_OK;
	}
	free(live);
	rc = kube_update(k, &ref, scale_down_mutate, &sd, NULL);
	if (rc == VIVA_OK)
		*done = why[0] == '\0';
	return rc;
}

int k8s_live_slot(struct kube *k, const char *ns, const char *svc, char **slot, int64_t *since)
{
	struct kube_ref ref = { .res = &kube_services, .ns = ns, .name = svc };
	json_t *s = NULL;
	const char *at;
	int rc;

	*slot = NULL;
	if (since)
		*since = 0;
	rc = kube_get(k, &ref, &s);
	if (rc != VIVA_OK)
		return rc;
	*slot = jdup(json_object_get(jget(s, "spec", "selector"), "viva/slot"));
	/* switched by viva: when; never switched: since the Service exists */
	at = json_string_value(json_object_get(jget(s, "metadata", "annotations"), "viva/live-since"));
	if (!at)
		at = json_string_value(jget(s, "metadata", "creationTimestamp"));
	if (since && at && registry_parse_time(at, since) != VIVA_OK)
		*since = 0;
	json_decref(s);
	return VIVA_OK;
}

int k8s_switch(struct kube *k, const char *ns, const char *svc, const char *slot, const char *who, int64_t at)
{
	struct kube_ref ref = { .res = &kube_services, .ns = ns, .name = svc };
	struct kube_write_opts wo = { .field_manager = DEPLOY_MANAGER };
	char when[32];
	json_t *patch = json_pack("{s:{s:{s:s, s:s}}, s:{s:{s:s}}}", "metadata", "annotations", "viva/live-since",
				  k8s_time(at, when, sizeof(when)), "viva/live-by", who ? who : "", "spec", "selector",
				  "viva/slot", slot);
	int rc = kube_patch(k, &ref, KUBE_PATCH_MERGE, patch, &wo, NULL);

	json_decref(patch);
	return rc;
}

bool k8s_is_colour(const char *slot)
{
	return slot && (strcmp(slot, "blue") == 0 || strcmp(slot, "green") == 0);
}

const char *k8s_other_colour(const char *colour)
{
	return strcmp(colour, "blue") == 0 ? "green" : "blue";
}
