#include "bot/auth.h"
#include "bot/commands.h"
#include "bot/config.h"
#include "bot/err.h"

#include <stdio.h>
#include <string.h>

bool auth_is_admin(struct viva_env *env, const char *user_id)
{
	if (!user_id || !env->cfg || !env->cfg->admin_users)
		return false;
	for (char **u = env->cfg->admin_users; *u; u++)
		if (strcmp(*u, user_id) == 0)
			return true;
	return false;
}

int auth_check(struct viva_env *env, const char *user_id, unsigned flags, const char *svc,
	       char *why, size_t whylen)
{
	if (!(flags & (CMD_ADMIN | CMD_DEPLOY | CMD_OWNER)))
		return VIVA_OK;
	if (auth_is_admin(env, user_id))
		return VIVA_OK;
	if (flags & CMD_ADMIN)
		snprintf(why, whylen, "only viva admins may do this");
	else if (flags & CMD_OWNER)
		snprintf(why, whylen, "only the owners of %s (or viva admins) may do this", svc ? svc : "the service");
	else
		snprintf(why, whylen, "only the owners and deploy managers of %s (or viva admins) may do this",
			 svc ? svc : "the service");
	return VIVA_EDENIED;
}
