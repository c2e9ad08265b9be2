#ifndef VIVA_HANDLERS_LAG_H
#define VIVA_HANDLERS_LAG_H

#include <jansson.h>
#include <stdint.h>

#include "bot/ctx.h"

/* The lag audit (SPEC section 7; see lag.c). */
int cmd_lag(struct viva_ctx *ctx);     /* /viva lag: run it now */
int task_lag(struct viva_ctx *ctx);    /* schedules.lag */

struct lag_result {
	json_t *rows;      /* [{service, env, tag, text, days, value, block_id}], most days first */
	json_t *unread;    /* ["prod: why"]: environments that could not be read */
	int services;      /* services looked at */
	int requests;      /* API requests made */
};
/* Who lags at now. VIVA_OK, or the catalog's error. */
int lag_collect(struct viva_env *env, int64_t now, struct lag_result *r);
void lag_result_release(struct lag_result *r);

#endif
