#include "bot/auth.h"
#include "bot/model/catalog.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/slack/api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The admin user group's members, cached: they change rarely, one lookup
 * per GROUP_TTL_S is plenty. No lock is held across the Slack call: one
 * caller refreshes while the others use the cached answer, or, when there is
 * none yet, wait for the refresh at most GROUP_WAIT_MS. A failed lookup keeps
 * the old answer (an outage must not lock admins out) and is not retried for
 * GROUP_RETRY_S, so an outage does not mean one Slack call per click.
 */
#define GROUP_TTL_S    300
#define GROUP_RETRY_S  30
#define GROUP_WAIT_MS  5000

static pthread_mutex_t group_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t group_cv = PTHREAD_COND_INITIALIZER;
static json_t *group_members;     /* ["U1", ...], or NULL before the first answer */
static char *group_name;          /* the group group_members belong to */
static int64_t group_fresh_until; /* unix seconds: no lookup before this */
static bool group_refreshing;     /* a caller is asking Slack right now */
static long group_wait_ms = GROUP_WAIT_MS;

void auth_cache_clear(void)
{
	pthread_mutex_lock(&group_mu);
	json_decref(group_members);
	group_members = NULL;
	free(group_name);
	group_name = NULL;
	group_fresh_until = 0;
	pthread_mutex_unlock(&group_mu);
}

void auth_set_group_wait_ms(long ms)
{
	pthread_mutex_lock(&group_mu);
	group_wait_ms = ms > 0 ? ms : GROUP_WAIT_MS;
	pthread_mutex_unlock(&group_mu);
}

/* Ask Slack; called with group_mu NOT held. The members, or NULL. */
static json_t *fetch_members(struct viva_env *env, const char *group)
{
	json_t *args = json_pack("{s:s}", "usergroup", group), *resp = NULL, *users = NULL;
	int rc = slack_call(env->slack, "usergroups.users.list", args, &resp);

	if (rc == VIVA_OK && json_is_array(json_object_get(resp, "users")))
		users = json_incref(json_object_get(resp, "users"));
	else
		log_warn("admin user group lookup failed", "usergroup=%s err=%s", group,
			 resp ? slack_error(resp) : viva_strerror(rc));
	json_decref(args);
	json_decref(resp);
	return users;
}

/* The members to check against (a reference, or NULL), refreshing when due. */
static json_t *current_members(struct viva_env *env, const char *group)
{
	int64_t now = env->clock->now(env->clock);
	json_t *members, *fresh;
	struct timespec until;

	pthread_mutex_lock(&group_mu);
	if (!group_name || strcmp(group_name, group) != 0) {
		/* another group than the cached one (a reload changed it) */
		json_decref(group_members);
		group_members = NULL;
		free(group_name);
		group_name = xstrdup(group);
		group_fresh_until = 0;
	}
	if (now < group_fresh_until || (group_refreshing && group_members)) {
		/* fresh, or stale while someone refreshes: the cached answer */
		members = json_incref(group_members);
		pthread_mutex_unlock(&group_mu);
		return members;
	}
	if (group_refreshing) {
		/* nothing cached yet: wait for the refresh in flight, bounded */
		until = timespec_in(CLOCK_REALTIME, group_wait_ms);
		while (group_refreshing)
			if (pthread_cond_timedwait(&group_cv, &group_mu, &until) != 0)
				break;
		members = json_incref(group_members);
		pthread_mutex_unlock(&group_mu);
		return members;
	}
	group_refreshing = true;
	pthread_mutex_unlock(&group_mu);

	fresh = fetch_members(env, group);

	pthread_mutex_lock(&group_mu);
	if (fresh && group_name && strcmp(group_name, group) == 0) {
		json_decref(group_members);
		group_members = json_incref(fresh);
		group_fresh_until = now + GROUP_TTL_S;
	} else if (!fresh) {
		group_fresh_until = now + GROUP_RETRY_S;
	}
	group_refreshing = false;
	pthread_cond_broadcast(&group_cv);
	members = json_incref(group_members);
	pthread_mutex_unlock(&group_mu);
	json_decref(fresh);
	return members;
}

static bool in_usergroup(struct viva_env *env, const char *user_id)
{
	const char *group = env->cfg ? env->cfg->admin_usergroup : NULL;
	json_t *members, *v;
	bool found = false;
	size_t i;

	if (!group || !*group || !env->slack)
		return false;
	members = current_members(env, group);
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
