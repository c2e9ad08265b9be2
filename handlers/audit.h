#ifndef VIVA_HANDLERS_AUDIT_H
#define VIVA_HANDLERS_AUDIT_H

#include "bot/ctx.h"

/* /viva audit [SVC]: the newest audit log entries. */
int cmd_audit(struct viva_ctx *ctx);
/* "More" button under an audit listing (action_id audit_more). */
int act_audit_more(struct viva_ctx *ctx);

#endif
