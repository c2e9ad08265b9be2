#ifndef VIVA_HANDLERS_HOUSEKEEPING_H
#define VIVA_HANDLERS_HOUSEKEEPING_H

#include "bot/ctx.h"

/* Scheduled: forget processed envelope ids older than a week. Slack retries
 * for at most a few minutes (2 hours with delayed events), so a week keeps
 * every duplicate recognisable with a large margin. */
int task_housekeeping(struct viva_ctx *ctx);

#endif
