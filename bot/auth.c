#include "bot/auth.h"
#include "bot/model/catalog.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/slack/api.h"
#include "bot/lib/times.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* User group members change rarely; one lookup per 5 minutes is plenty. */
#define GROUP_TTL_S 300

static pthread_mutex_t group_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *group_members;     /* ["U1", ...] */
static int64_t group_fetched;     /* unix seconds */

void auth_cache_clear(void)
{
	pthread_mutex_lock(&group_mu);
	json_decref(group_members);
	group_members = NULL;
	group_fetched = 0;
	pthread_mutex_unlock(&group_mu);
}

static bool in_usergroup(struct viva_env *env, const char *user_id)
{
	const char *group = env->cfg ? env->cfg->admin_usergroup : NULL;
	int64_t now = env->clock ? env->clock->now(env->clock) : now_unix();
	json_t *members = NULL, *v;
	bool found = false;
	size_t i;

	if (!group || !*group || !env->slack)
		return false;
	pthread_mutex_lock(&group_mu);
	if (!group_members || now - group_fetched >= GROUP_TTL_S) {
		json_t *args = json_pack("{s:s}", "usergroup", group), *resp = NULL;
		int rc = slack_call(env->slack, "usergroups.users.list", args, &resp);
		if (rc == VIVA_OK && json_is_array(json_object_get(resp, "users"))) {
			json_decref(group_members);
			group_members = json_incref(json_object_get(resp, "users"));
			group_fetched = now;
		} else {
			/* Keep the old list if any: an outage must not lock admins out. */
			log_warn("admin user group lookup failed", "usergroup=%s err=%s", group,
				 resp ? slack_error(resp) : viva_strerror(rc));
		}
		json_decref(args);
		json_decref(resp);
	}
	members = json_incref(group_members);
	pthread_mutex_unlock(&group_mu);
	json_array_foreach(members, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), user_id) == 0)
			found = true;
	json_decref(members);
	return found;
}

bool auth_is_admin(struct viva_env *env, const char *user_id)
{
	if (!user_id || !env->cfg)
		return false;
	for (char **u = env->cfg->admin_users; u && *u; u++)
		if (strcmp(*u, user_id) == 0)
			return true;
	return in_usergroup(env, user_id);
}

int auth_check(struct viva_env *env, const char *user_id, unsigned flags, const char *svc,
	       char *why, size_t whylen)
{
	struct spec *s = NULL;
	int rc = VIVA_EDENIED;

	if (!(flags & (CMD_ADMIN | CMD_DEPLOY | CMD_OWNER)))
		return VIVA_OK;
	if (auth_is_admin(env, user_id))
		return VIVA_OK;
	if (flags & CMD_ADMIN) {
		snprintf(why, whylen, "only viva admins may do this");
		return VIVA_EDENIED;
	}
	if (!svc || catalog_get(env, svc, &s) != VIVA_OK) {
		snprintf(why, whylen, "there is no service named %s in the catalog", svc ? svc : "(none)");
		return VIVA_ENOENT;
	}
	if (spec_is_owner(s, user_id))
		rc = VIVA_OK;
	else if ((flags & CMD_DEPLOY) && spec_is_deploy_manager(s, user_id))
		rc = VIVA_OK;
	else if (flags & CMD_OWNER)
		snprintf(why, whylen, "only the owners of %s (or viva admins) may do this", svc);
	else
		snprintf(why, whylen, "only the owners and deploy managers of %s (or viva admins) may do this", svc);
	spec_free(s);
	return rc;
}
