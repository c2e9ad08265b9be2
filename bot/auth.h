#ifndef VIVA_BOT_AUTH_H
#define VIVA_BOT_AUTH_H

#include <stdbool.h>

#include "bot/ctx.h"

/*
 * Authorization (SPEC section 11), one module for every handler:
 * admins may do everything; read-only commands are for anyone.
 */
bool auth_is_admin(struct viva_env *env, const char *user_id);

/*
 * May user_id do something that needs `flags` (CMD_ADMIN, CMD_DEPLOY,
 * CMD_OWNER from bot/commands.h) on service svc (may be NULL)?
 * VIVA_OK or VIVA_EDENIED with a one-line reason in why.
 */
int auth_check(struct viva_env *env, const char *user_id, unsigned flags, const char *svc,
	       char *why, size_t whylen);

#endif
