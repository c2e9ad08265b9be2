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

#endif
