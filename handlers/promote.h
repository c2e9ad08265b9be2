#ifndef VIVA_HANDLERS_PROMOTE_H
#define VIVA_HANDLERS_PROMOTE_H

#include "bot/ctx.h"
#include "bot/ops.h"

/* Promotion (SPEC section 6), a durable operation (see promote.c). */
int cmd_promote(struct viva_ctx *ctx);       /* /viva promote SVC TAG [TARGET] */
int act_tag_promote(struct viva_ctx *ctx);   /* Promote button */
extern const struct op_kind op_promote;

#endif
