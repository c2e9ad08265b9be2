#ifndef VIVA_HANDLERS_TAGS_H
#define VIVA_HANDLERS_TAGS_H

#include "bot/ctx.h"

/* Image tags and promotion (SPEC section 6). */
int cmd_tags(struct viva_ctx *ctx);          /* /viva tags SVC */
int cmd_promote(struct viva_ctx *ctx);       /* /viva promote SVC TAG [TARGET] */
int act_tag_promote(struct viva_ctx *ctx);   /* Promote button */
int act_tags_more(struct viva_ctx *ctx);     /* "Older tags" button */

#endif
