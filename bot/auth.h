#ifndef VIVA_BOT_AUTH_H
#define VIVA_BOT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "bot/ctx.h"

/*
 * Authorization (SPEC section 11), one module for every handler:
 *  - admins (viva.yaml admins.users, and the members of admins.usergroup,
 *    resolved with usergroups.users.list and cached) may do everything;
 *  - a service's owners and deploy managers may deploy, promote and roll
 *    back it, and answer its unused-audit row (CMD_DEPLOY);
 *  - its owners may delete it (CMD_OWNER);
 *  - node operations and other CMD_ADMIN rows are for admins;
 *  - anyone may run read-only commands.
 */
bool auth_is_admin(struct viva_env *env, const char *user_id);

/*
 * May user_id do something that needs `flags` (CMD_ADMIN, CMD_DEPLOY,
 * CMD_OWNER from bot/commands.h) on service svc (may be NULL)?
 * VIVA_OK, VIVA_EDENIED with a one-line reason in why, or VIVA_ENOENT when
 * svc names no active service (why says so).
 */
int auth_check(struct viva_env *env, const char *user_id, unsigned flags, const char *svc,
	       char *why, size_t whylen);

/* Forget the cached user group members (tests, config reload). */
void auth_cache_clear(void);
/* How long a check waits for a user group lookup in flight when nothing is
 * cached yet (default 5000 ms; <= 0 restores it). For tests. */
void auth_set_group_wait_ms(long ms);

#endif
