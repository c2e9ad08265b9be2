#ifndef VIVA_HANDLERS_TAGS_H
#define VIVA_HANDLERS_TAGS_H

#include "bot/ctx.h"

/* Image tags and promotion (SPEC section 6). */
int cmd_tags(struct viva_ctx *ctx);          /* /viva tags SVC */
int act_tags_more(struct viva_ctx *ctx);     /* "Older tags" button */
/* The service's registry repository (*image, caller frees), or an answer
 * to the user saying why not (no registry, no such pipeline) and its code. */
int tags_image_of(struct viva_ctx *ctx, const char *svc, char **image);

#endif
