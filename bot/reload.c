/* Re-reading what viva reads from files at start (see reload.h). */
#include "bot/reload.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/k8s/apply.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/model/tmpl.h"
#include "bot/nodes/cluster.h"

#include <pthread.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int reload_clusters(struct viva_env *env, struct cluster_report *rep, char *err, size_t errlen)
{
	static pthread_mutex_t one_at_a_time = PTHREAD_MUTEX_INITIALIZER;
	struct cluster_set *prev, *next = NULL;
	int rc;

	if (!env->clusters || !env->cfg || !env->cfg->cluster_configs) {
		snprintf(err, errlen, "no cluster configs are kept by this viva");
		return VIVA_EUNAVAIL;
	}
	pthread_mutex_lock(&one_at_a_time);
	prev = cluster_current_get(env->clusters);
	rc = cluster_set_load(env->cfg->cluster_configs, prev, &next, rep, err, errlen);
	cluster_current_publish(env->clusters, next);
	cluster_set_unref(prev);
	pthread_mutex_unlock(&one_at_a_time);
	return rc;
}

int reload_all(struct viva_env *env, const char *author, struct reload_report *rep)
{
	struct catalog_report cr;
	char err[480] = "";
	struct stat st;

	memset(rep, 0, sizeof(*rep));
	rep->templates_rc = tmpl_set_reload(env->tmpl, err, sizeof(err));
	if (rep->templates_rc == VIVA_EINVAL) {
		/* built-in templates only and no directory: nothing to re-read */
		rep->templates_rc = VIVA_OK;
	} else if (rep->templates_rc != VIVA_OK) {
		snprintf(rep->error, sizeof(rep->error), "templates: %s", err);
		log_error("template reload failed; keeping the old ones", "err=\"%s\"", err);
	}
	rep->templates = tmpl_set_count(env->tmpl);
	rep->overrides = tmpl_set_overrides(env->tmpl);

	if (!env->cfg || !env->cfg->pipelines_dir || stat(env->cfg->pipelines_dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		rep->specs_rc = VIVA_ENOENT;
	} else {
		catalog_report_init(&cr);
		err[0] = '\0';
		rep->specs_rc = catalog_apply_dir(env, author, &cr, err, sizeof(err));
		rep->added = (int)json_array_size(cr.added);
		rep->changed = (int)json_array_size(cr.changed);
		rep->removed = (int)json_array_size(cr.removed);
		rep->invalid = (int)json_array_size(cr.invalid);
		catalog_report_release(&cr);
		if (rep->specs_rc != VIVA_OK && !rep->error[0])
			snprintf(rep->error, sizeof(rep->error), "pipeline specs: %s", err);
	}
	if (env->clusters) {
		struct cluster_report clr;
		struct cluster_set *now;

		cluster_report_init(&clr);
		err[0] = '\0';
		rep->clusters_rc = reload_clusters(env, &clr, err, sizeof(err));
		rep->clusters_invalid = (int)json_array_size(clr.invalid);   /* each logged by the load */
		cluster_report_release(&clr);
		now = cluster_current_get(env->clusters);
		rep->clusters = cluster_set_count(now);
		cluster_set_unref(now);
		if (rep->clusters_rc != VIVA_OK && rep->clusters_rc != VIVA_ENOENT && !rep->error[0])
			snprintf(rep->error, sizeof(rep->error), "cluster configs: %s", err);
	} else {
		rep->clusters_rc = VIVA_ENOENT;
	}
	log_info("reloaded", "clusters=%zu clusters_invalid=%d templates=%zu overrides=%zu templates_ok=%d specs=%s added=%d changed=%d "
		 "removed=%d invalid=%d", rep->clusters, rep->clusters_invalid, rep->templates, rep->overrides, rep->templates_rc == VIVA_OK,
		 rep->specs_rc == VIVA_ENOENT ? "none" : rep->specs_rc == VIVA_OK ? "ok" : "failed",
		 rep->added, rep->changed, rep->removed, rep->invalid);
	if (rep->templates_rc == VIVA_OK && env->kube) {
		/* templates may have changed: every service is rendered again;
		 * what is unchanged costs a read and no write */
		struct k8s_apply_report kr;

		k8s_apply_report_init(&kr);
		rep->k8s_rc = k8s_apply_all(env, author, &kr);
		rep->k8s_updated = kr.counts[K8S_UPDATED] + kr.counts[K8S_CREATED];
		rep->k8s_failed = kr.counts[K8S_FAILED];
		log_info("reload: pipelines applied to the clusters", "created=%d updated=%d unchanged=%d failed=%d writes=%d",
			 kr.counts[K8S_CREATED], kr.counts[K8S_UPDATED], kr.counts[K8S_UNCHANGED], kr.counts[K8S_FAILED],
			 kr.writes);
		k8s_apply_report_release(&kr);
	}
	if (rep->templates_rc != VIVA_OK)
		return rep->templates_rc;
	return rep->specs_rc == VIVA_ENOENT ? VIVA_OK : rep->specs_rc;
}
