#ifndef VIVA_BOT_DISPATCH_H
#define VIVA_BOT_DISPATCH_H

#include <jansson.h>

#include "bot/ctx.h"

/*
 * The dispatcher checks, handlers act: lookup, arity, service-name
 * validation, authorization and audit logging happen here, once.
 * ctx->env, ctx->reply and ctx->user_id must be set; the rest is filled in.
 */

/* Run one slash command; text is what follows the slash command ("tags svc"). */
int dispatch_command(struct viva_ctx *ctx, const char *text);

/*
 * Run one interaction payload: block_actions (by actions[0].action_id) or
 * view_submission (by view.callback_id). payload is borrowed.
 */
int dispatch_interaction(struct viva_ctx *ctx, json_t *payload);

/*
 * For handlers: what the audit log records of this action. params (stolen)
 * is merged into what the dispatcher already recorded (the requested
 * service of a registry action, say); target replaces the target when not
 * NULL.
 */
void dispatch_audit(struct viva_ctx *ctx, const char *target, json_t *params);

/* The slash command's name, "/viva" unless viva.yaml says otherwise (borrowed). */
const char *dispatch_slash(const struct viva_env *env);

/* Usage line with the slash command: "/viva promote SVC TAG [TARGET]" (caller frees). */
char *dispatch_usage(struct viva_env *env, const char *usage);

#endif
