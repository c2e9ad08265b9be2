#ifndef VIVA_BOT_K8S_ROLLOUT_H
#define VIVA_BOT_K8S_ROLLOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What a deploy reads and writes on a cluster (SPEC section 7), one request
 * each, for handlers/deploy.c's steps: a slot's Deployment (SVC-blue,
 * SVC-green, SVC-canary) read into struct k8s_slot, its image and replicas
 * set with the viva/tag, viva/deployed-at and viva/deployed-by annotations,
 * its rollout judged as `kubectl rollout status` judges it, and Service
 * SVC's selector switched. Writes go as field manager viva-deploy (the
 * images, replicas and selector are the deploy side's, never `pipeline
 * apply`'s) and can be sent again: setting what is already there changes
 * nothing.
 */
struct kube;

enum k8s_rollout {
	K8S_ROLLOUT_WAITING,     /* still going: why in the slot's progress */
	K8S_ROLLOUT_COMPLETE,    /* observed, every replica updated and available, no old one left */
	K8S_ROLLOUT_STUCK,       /* ProgressDeadlineExceeded: it will not finish by itself */
};

struct k8s_slot {
	char *name;              /* "svc-a-green" */
	char *slot;              /* label viva/slot */
	char *tag;               /* annotation viva/tag ("" when absent) */
	char *image;             /* the service's container image */
	char *container;         /* that container's name */
	char *deployed_by;       /* annotation viva/deployed-by ("" when absent) */
	int64_t deployed_at;     /* annotation viva/deployed-at, unix s; 0 when absent or unreadable */
	long replicas;           /* spec.replicas */
	long ready, updated, available, total;   /* status */
	enum k8s_rollout rollout;
	char progress[160];      /* "1 of 2 updated replicas are available", or why it is stuck */
};

void k8s_slot_release(struct k8s_slot *s);

/*
 * Read Deployment NAME in namespace ns into *out. image_repo (may be NULL)
 * picks the container whose image is that repository; otherwise the first.
 * VIVA_OK, or the client's error (VIVA_ENOENT: no such Deployment).
 */
int k8s_slot_read(struct kube *k, const char *ns, const char *name, const char *image_repo, struct k8s_slot *out);
/* Judge a Deployment's rollout as kubectl rollout status does. */
enum k8s_rollout k8s_rollout_of(json_t *deployment, char *why, size_t whylen);

struct k8s_slot_set {
	const char *container;   /* the container to set (k8s_slot.container) */
	const char *image;       /* its new image; NULL: keep */
	const char *tag;         /* viva/tag; with image */
	const char *deployed_by; /* viva/deployed-by; with image */
	int64_t deployed_at;     /* viva/deployed-at; with image */
	long replicas;           /* < 0: keep */
};
/* Set a slot's image (and its annotations) and/or replicas. */
int k8s_slot_set(struct kube *k, const char *ns, const char *name, const struct k8s_slot_set *set);

/*
 * Scale slot NAME to zero only if it is still what the caller saw: not
 * live (Service svc does not select it) and deployed at deployed_at (no
 * deploy has reused it since). Read, check and write with its
 * resourceVersion, so a deploy that gets there first wins. *done: whether
 * it was scaled; *why: why not.
 */
int k8s_slot_scale_down_if(struct kube *k, const char *ns, const char *svc, const char *name, const char *slot,
			   int64_t deployed_at, bool *done, char *why, size_t whylen);

/* The colour Service svc selects (viva/slot), and since when (its
 * viva/live-since annotation, else its creation; 0 when unknown). *slot: caller frees; "" if none. */
int k8s_live_slot(struct kube *k, const char *ns, const char *svc, char **slot, int64_t *since);
/* Point Service svc at slot, recording viva/live-since (at) and viva/live-by (who). */
int k8s_switch(struct kube *k, const char *ns, const char *svc, const char *slot, const char *who, int64_t at);

/* blue or green; the other of the two. */
bool k8s_is_colour(const char *slot);
const char *k8s_other_colour(const char *colour);

/* "2026-12-05T10:00:00Z" (buf of at least 21 bytes). */
const char *k8s_time(int64_t t, char *buf, size_t len);

#endif
