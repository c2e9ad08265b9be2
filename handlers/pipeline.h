#ifndef VIVA_HANDLERS_PIPELINE_H
#define VIVA_HANDLERS_PIPELINE_H

#include "bot/ctx.h"

/* Pipelines as code (SPEC section 5): the catalog of services. */
int cmd_pipeline_create(struct viva_ctx *ctx);     /* opens the form */
int cmd_pipeline_apply(struct viva_ctx *ctx);      /* re-reads the spec directory */
int cmd_pipeline_list(struct viva_ctx *ctx);
int cmd_pipeline_show(struct viva_ctx *ctx);
int act_pipeline_create(struct viva_ctx *ctx);     /* view_submission pipeline_create */
int act_pipeline_list_more(struct viva_ctx *ctx);  /* "Next page" under the list */

/* The cluster side (pipeline_k8s.c). */
#include <jansson.h>
#include "bot/model/spec.h"
#include "bot/ops.h"
int cmd_pipeline_delete(struct viva_ctx *ctx);          /* pipeline delete SVC: the guarded flow */
int act_pipeline_delete(struct viva_ctx *ctx);          /* pipeline_delete button */
int act_pipeline_delete_confirm(struct viva_ctx *ctx);  /* the production form: the name typed */
/*
 * The guarded deletion from a button: refused while CronJobs are connected,
 * a typed-name form for production, else the durable deletion. via NULL:
 * the pipeline_delete button (its message becomes the deletion's); "unused
 * audit": a row of the unused report (the row says what happened, the
 * deletion reports in a message of its own, the savings tally says why).
 */
int pipeline_delete_flow(struct viva_ctx *ctx, const char *svc, const char *via);
/* Apply names' specs (a JSON array) to their clusters; *data is the report
 * for the pipeline_apply template (NULL without clusters). VIVA_EREMOTE
 * when an environment failed. */
int pipeline_apply_clusters(struct viva_ctx *ctx, json_t *names, json_t **data);
/* Apply a new pipeline to its clusters on the operation pool (reports in channel). */
int pipeline_apply_later(struct viva_ctx *ctx, const char *svc, const char *channel);
/* [{env, namespace, state}] of a spec's environments, from the clusters:
 * state is the live colour and each Deployment's ready/desired replicas and
 * tag, one per line, or "live state unavailable: WHY" for an environment
 * whose cluster could not be read (a cluster that did not answer is asked
 * once, not once per environment). [] without clusters. */
json_t *pipeline_live_state(struct viva_ctx *ctx, const struct spec *s);
extern const struct op_kind op_pipeline_apply;
extern const struct op_kind op_pipeline_delete;

#endif
