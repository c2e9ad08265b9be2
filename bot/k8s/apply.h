#ifndef VIVA_BOT_K8S_APPLY_H
#define VIVA_BOT_K8S_APPLY_H

#include <stddef.h>

#include "bot/ctx.h"
#include "bot/clients/kube.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"

/*
 * Pipelines applied to their clusters (SPEC section 5): each spec rendered
 * per environment (bot/model/render.h) and applied with server-side apply,
 * idempotently, reporting per service and environment.
 *
 * What is live is read first, one LIST per kind and namespace (label app,
 * or app=SVC for one service), so a run over hundreds of services costs a
 * few reads per environment, not one per object. Each applied body carries
 * the annotation viva/applied: a digest of what field manager viva applies
 * (the APPLY form). An object whose annotation matches what would be
 * applied now is unchanged and gets no request at all: a second run with
 * nothing changed sends no write. Otherwise:
 *   missing  created as render.h says (CREATE as viva-deploy, APPLY as viva,
 *            SEED as viva-deploy), so deploys own the images, the live
 *            colour and the colours' replicas from the start;
 *   present  the APPLY form as viva (force): the spec of record wins over a
 *            hand edit of its fields, and the images, the live Service
 *            selector and the colours' replicas are never touched.
 * A failure stops that service's environment (the report says where and the
 * API's reason) and not the others; nothing is rolled back, and running
 * again finishes the job (every step is idempotent).
 */
enum k8s_apply_state {
	K8S_UNCHANGED = 0,
	K8S_UPDATED,
	K8S_CREATED,
	K8S_FAILED,
	K8S_SKIPPED,      /* an environment of the spec that viva.yaml does not place */
};

struct k8s_apply_row {
	char *service;
	char *env;
	enum k8s_apply_state state;
	int created, updated, unchanged;   /* objects */
	char *why;                         /* failed, skipped: one line; else NULL */
};

struct k8s_apply_report {
	struct k8s_apply_row *rows;
	size_t n, cap;
	int reads, writes;                 /* requests sent */
	int counts[K8S_SKIPPED + 1];       /* rows by state */
};

void k8s_apply_report_init(struct k8s_apply_report *r);
void k8s_apply_report_release(struct k8s_apply_report *r);
const char *k8s_apply_state_name(enum k8s_apply_state s);

/*
 * Apply specs[0..n) to every environment each renders in, as user `who`
 * (viva/deployed-by of what is created). VIVA_OK when every row is
 * unchanged, updated, created or skipped; VIVA_EREMOTE when a row failed
 * (the rows say which and why). VIVA_EUNAVAIL when viva has no cluster at all
 * (env->kube NULL): nothing is sent.
 */
int k8s_apply_specs(struct viva_env *env, struct spec *const *specs, size_t n, const char *who,
		    struct k8s_apply_report *rep);

/* The resource a rendered kind is applied as (Service, Deployment,
 * CronJob), or NULL for a kind viva does not apply. */
const struct kube_resource *k8s_resource_of(const char *kind);
/*
 * Every object of res labelled app=svc in environment t (its cluster's
 * client in *k, borrowed), at most max_items: *items (caller decrefs).
 * VIVA_OK, or the error with kube_last_error() saying why.
 */
int k8s_list_service(struct viva_env *env, const struct render_target *t, const struct kube_resource *res,
		     const char *svc, size_t max_items, struct kube **k, json_t **items);

/* Every active service of the catalog (after a template change). */
int k8s_apply_all(struct viva_env *env, const char *who, struct k8s_apply_report *rep);

#endif
