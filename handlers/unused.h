#ifndef VIVA_HANDLERS_UNUSED_H
#define VIVA_HANDLERS_UNUSED_H

#include <jansson.h>
#include <stdint.h>

#include "bot/ctx.h"

/* The unused-service audit (SPEC section 8; see unused.c) and the savings tally. */
int cmd_unused(struct viva_ctx *ctx);          /* /viva unused: run it now */
int task_unused(struct viva_ctx *ctx);         /* schedules.unused */
int act_unused_keep(struct viva_ctx *ctx);     /* unused_keep: snooze for thresholds.snooze_days */
int act_unused_confirm(struct viva_ctx *ctx);  /* unused_confirm: the guarded deletion */
int cmd_savings(struct viva_ctx *ctx);         /* /viva savings */

struct unused_result {
	json_t *rows;      /* [{rule, service, owners, evidence, value, block_id}] by rule, then catalog order */
	json_t *missing;   /* ["HTTP: no request in 7 days: why"]: rules that flag nobody */
	int services;      /* looked at */
	int young, snoozed;
	int queries;       /* sent to Prometheus */
};
/* Who looks unused at now. VIVA_OK, or the catalog's error. */
int unused_collect(struct viva_env *env, int64_t now, struct unused_result *r);
void unused_result_release(struct unused_result *r);

#endif
