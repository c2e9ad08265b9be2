#ifndef VIVA_HANDLERS_DEPLOY_H
#define VIVA_HANDLERS_DEPLOY_H

#include "bot/ctx.h"
#include "bot/ops.h"

/*
 * Canary, blue-green and rollback (SPEC section 7), each a durable
 * operation locked per service and environment ("svc-a/prod"), and
 * `status`. The environment is the last word when it names one of
 * viva.yaml's; without it, "prod" when the service runs there, else the
 * last of the service's environments in viva.yaml's order.
 */
int cmd_status(struct viva_ctx *ctx);            /* /viva status SVC [ENV] */
int cmd_deploy_canary(struct viva_ctx *ctx);     /* /viva deploy canary SVC TAG [ENV] */
int cmd_deploy_bluegreen(struct viva_ctx *ctx);  /* /viva deploy bluegreen SVC [TAG] [ENV] */
int cmd_rollback(struct viva_ctx *ctx);          /* /viva rollback SVC [ENV] */
int act_bluegreen_trigger(struct viva_ctx *ctx); /* bluegreen_trigger: {"svc","env","tag"} */
int act_rollback(struct viva_ctx *ctx);          /* rollback: {"svc","env"} */

extern const struct op_kind op_deploy_canary;
extern const struct op_kind op_deploy_bluegreen;
extern const struct op_kind op_rollback;

/* "svc-a/prod": the lock of deploys of svc in env (caller frees). */
char *deploy_target(const char *svc, const char *env);

/* The bluegreen_trigger button's value (caller frees). */
char *deploy_trigger_value(const char *svc, const char *env, const char *tag);

#endif
