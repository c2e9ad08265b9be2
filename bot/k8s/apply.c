/* Pipelines applied to their clusters: see apply.h. */
#include "bot/k8s/apply.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/config.h"
#include "bot/model/catalog.h"
#include "bot/model/render.h"
#include "store/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPLIED_ANNOTATION "viva/applied"
#define MANAGER_SPEC       "viva"
#define MANAGER_DEPLOY     "viva-deploy"
/* live objects of one kind in one namespace, at most */
#define MAX_LIVE           100000

void k8s_apply_report_init(struct k8s_apply_report *r)
{
	memset(r, 0, sizeof(*r));
}

void k8s_apply_report_release(struct k8s_apply_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->rows[i].service);
		free(r->rows[i].env);
		free(r->rows[i].why);
	}
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

const char *k8s_apply_state_name(enum k8s_apply_state s)
{
	switch (s) {
	case K8S_UNCHANGED: return "unchanged";
	case K8S_UPDATED:   return "updated";
	case K8S_CREATED:   return "created";
	case K8S_FAILED:    return "failed";
	case K8S_SKIPPED:   return "skipped";
	}
	return "?";
}

static struct k8s_apply_row *add_row(struct k8s_apply_report *r, const char *svc, const char *env)
{
	struct k8s_apply_row *row;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->rows = xrealloc(r->rows, r->cap * sizeof(*r->rows));
	}
	row = &r->rows[r->n++];
	memset(row, 0, sizeof(*row));
	row->service = xstrdup(svc);
	row->env = xstrdup(env);
	return row;
}

const struct kube_resource *k8s_resource_of(const char *kind)
{
	if (!kind)
		return NULL;
	if (strcmp(kind, "Service") == 0)
		return &kube_services;
	if (strcmp(kind, "Deployment") == 0)
		return &kube_deployments;
	if (strcmp(kind, "CronJob") == 0)
		return &kube_cronjobs;
	return NULL;
}

static const char *name_of(json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static const char *kind_of(json_t *obj)
{
	return json_string_value(json_object_get(obj, "kind"));
}

/* The digest of what viva applies, set as the viva/applied annotation. */
static void stamp(json_t *obj)
{
	json_t *md = json_object_get(obj, "metadata"), *ann;
	char *text, digest[72];

	ann = json_object_get(md, "annotations");
	if (ann)
		json_object_del(ann, APPLIED_ANNOTATION);
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	registry_digest_of(text, strlen(text), digest);
	free(text);
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(md, "annotations", ann);
	}
	/* "sha256:" and 32 hex digits: plenty to tell one body from another */
	digest[7 + 32] = '\0';
	json_object_set_new(ann, APPLIED_ANNOTATION, json_string(digest + 7));
}

static const char *applied_of(json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
						 APPLIED_ANNOTATION));
}

/*
 * What is live, read once per cluster, namespace and kind: cache[key] is
 * {name: object}, or a string (why it could not be read).
 */
struct live {
	json_t *cache;
	const char *selector;      /* "app" (many services) or "app=SVC" */
	struct k8s_apply_report *rep;
};

static json_t *live_of(struct live *lv, struct kube *k, const char *ns, const struct kube_resource *res)
{
	char *key = xasprintf("%s/%s/%s", k->cluster ? k->cluster : "", ns, res->resource);
	json_t *v = json_object_get(lv->cache, key), *map;
	struct kube_ref ref = { .res = res, .ns = ns };
	struct kube_list_opts lo = { .label_selector = lv->selector, .limit = 500 };
	char *cont = NULL;
	size_t total = 0;
	int rc = VIVA_OK;

	if (v) {
		free(key);
		return v;
	}
	/* page by page, keeping only each object's viva/applied (a page of
	 * whole objects at a time, never the namespace's) */
	map = json_object();
	for (int page = 0; page < 10000; page++) {
		json_t *list = NULL, *it;
		const char *next;
		size_t i;

		lo.continue_token = cont;
		lv->rep->reads++;
		rc = kube_list(k, &ref, &lo, &list);
		if (rc != VIVA_OK)
			break;
		json_array_foreach(json_object_get(list, "items"), i, it)
			if (name_of(it) && ++total <= MAX_LIVE)
				json_object_set_new(map, name_of(it), json_string(applied_of(it) ? applied_of(it) : ""));
		next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
		free(cont);
		cont = next && *next ? xstrdup(next) : NULL;
		json_decref(list);
		if (!cont)
			break;
	}
	free(cont);
	if (rc != VIVA_OK) {
		json_decref(map);
		v = json_string(kube_last_error());
	} else {
		v = map;
	}
	json_object_set_new(lv->cache, key, v);
	free(key);
	return v;
}

static json_t *find(json_t *objs, const char *kind, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(objs, i, o)
		if (kind_of(o) && name_of(o) && strcmp(kind_of(o), kind) == 0 && strcmp(name_of(o), name) == 0)
			return o;
	return NULL;
}

static int apply_as(struct kube *k, struct k8s_apply_report *rep, const struct kube_ref *ref, json_t *obj,
		    const char *manager)
{
	struct kube_write_opts wo = { .field_manager = manager, .force = true };

	rep->writes++;
	return kube_apply(k, ref, obj, &wo, NULL);
}

/* One service in one environment. */
static void apply_target(struct viva_env *env, struct live *lv, const struct spec *s,
			 const struct render_target *t, const char *who, struct k8s_apply_row *row)
{
	const struct viva_config *cfg = env->cfg;
	struct render_opts ro = { .form = RENDER_APPLY };
	json_t *objs = NULL, *created = NULL, *seed = NULL, *o;
	char *registry = cfg->registry_url ? render_registry_host(cfg->registry_url) : NULL;
	const char *ns = NULL;
	struct kube *k = NULL;
	char err[512];
	size_t i;

	if (kube_for_env(env->kube, cfg, t->env, &k, &ns) != VIVA_OK) {
		row->state = K8S_FAILED;
		row->why = xstrdup(kube_last_error());
		goto out;
	}
	ro.registry = registry;
	if (render_service(s, t, env->tmpl, &ro, &objs, err, sizeof(err)) != VIVA_OK) {
		row->state = K8S_FAILED;
		row->why = xstrdup(err);
		goto out;
	}
	json_array_foreach(objs, i, o) {
		const struct kube_resource *res = k8s_resource_of(kind_of(o));
		struct kube_ref ref = { .res = res, .ns = t->namespace_, .name = name_of(o) };
		json_t *live, *cur;
		int rc;

		if (!res) {
			row->state = K8S_FAILED;
			row->why = xasprintf("the templates render a %s, which viva does not apply", kind_of(o));
			goto out;
		}
		stamp(o);
		live = live_of(lv, k, t->namespace_, res);
		if (json_is_string(live)) {
			row->state = K8S_FAILED;
			row->why = xstrdup(json_string_value(live));
			goto out;
		}
		cur = json_object_get(live, name_of(o));   /* its viva/applied, "" when none */
		if (cur && strcmp(json_string_value(cur), applied_of(o)) == 0) {
			row->unchanged++;
			continue;
		}
		if (cur) {
			rc = apply_as(k, lv->rep, &ref, o, MANAGER_SPEC);
			if (rc == VIVA_OK)
				row->updated++;
		} else {
			/* new: the deploy side owns images, colour and replicas from the start */
			if (!created) {
				struct render_opts co = { .form = RENDER_CREATE, .registry = registry, .deployed_by = who,
							  .deployed_at = env->clock->now(env->clock) };
				if (render_service(s, t, env->tmpl, &co, &created, err, sizeof(err)) != VIVA_OK ||
				    (co.form = RENDER_SEED,
				     render_service(s, t, env->tmpl, &co, &seed, err, sizeof(err)) != VIVA_OK)) {
					row->state = K8S_FAILED;
					row->why = xstrdup(err);
					goto out;
				}
			}
			rc = find(created, kind_of(o), name_of(o)) ? apply_as(k, lv->rep, &ref, find(created, kind_of(o),
						name_of(o)), MANAGER_DEPLOY) : VIVA_OK;
			if (rc == VIVA_OK)
				rc = apply_as(k, lv->rep, &ref, o, MANAGER_SPEC);
			if (rc == VIVA_OK && find(seed, kind_of(o), name_of(o)))
				rc = apply_as(k, lv->rep, &ref, find(seed, kind_of(o), name_of(o)), MANAGER_DEPLOY);
			if (rc == VIVA_OK)
				row->created++;
		}
		if (rc != VIVA_OK) {
			row->state = K8S_FAILED;
			row->why = xasprintf("%s %s: %s", kind_of(o), name_of(o), kube_last_error());
			goto out;
		}
	}
	row->state = row->created ? K8S_CREATED : row->updated ? K8S_UPDATED : K8S_UNCHANGED;
out:
	if (row->state == K8S_FAILED)
		log_warn("pipeline apply failed", "svc=%s env=%s err=\"%s\"", row->service, row->env, row->why);
	else
		log_info("pipeline applied", "svc=%s env=%s state=%s created=%d updated=%d unchanged=%d", row->service,
			 row->env, k8s_apply_state_name(row->state), row->created, row->updated, row->unchanged);
	json_decref(objs);
	json_decref(created);
	json_decref(seed);
	free(registry);
}

int k8s_apply_specs(struct viva_env *env, struct spec *const *specs, size_t n, const char *who,
		    struct k8s_apply_report *rep)
{
	struct live lv = { .cache = json_object(), .rep = rep };
	char *one = NULL;
	int rc = VIVA_OK;

	if (!env->kube) {
		json_decref(lv.cache);
		return VIVA_EUNAVAIL;
	}
	if (n == 1)
		lv.selector = one = xasprintf("app=%s", specs[0]->name);
	else
		lv.selector = "app";
	for (size_t i = 0; i < n; i++) {
		struct render_plan plan;

		render_plan_init(&plan, specs[i], env->cfg);
		for (size_t j = 0; j < plan.nskipped; j++) {
			struct k8s_apply_row *row = add_row(rep, specs[i]->name, plan.skipped[j].env);
			row->state = K8S_SKIPPED;
			row->why = xstrdup(plan.skipped[j].reason);
		}
		for (size_t j = 0; j < plan.ntargets; j++) {
			struct k8s_apply_row *row = add_row(rep, specs[i]->name, plan.targets[j].env);

			apply_target(env, &lv, specs[i], &plan.targets[j], who ? who : "viva", row);
			if (row->state == K8S_FAILED && rc == VIVA_OK)
				rc = VIVA_EREMOTE;
		}
		render_plan_release(&plan);
	}
	for (size_t i = 0; i < rep->n; i++)
		rep->counts[rep->rows[i].state]++;
	json_decref(lv.cache);
	free(one);
	return rc;
}

int k8s_apply_all(struct viva_env *env, const char *who, struct k8s_apply_report *rep)
{
	struct store_service *all = NULL;
	struct spec **specs;
	size_t n = 0, m = 0;
	int rc;

	if (!env->kube)
		return VIVA_EUNAVAIL;
	rc = store_service_list(env->store, false, &all, &n);
	if (rc != VIVA_OK)
		return rc;
	specs = xcalloc(n + 1, sizeof(*specs));
	for (size_t i = 0; i < n; i++)
		if (catalog_get(env, all[i].name, &specs[m]) == VIVA_OK)
			m++;
	rc = m ? k8s_apply_specs(env, specs, m, who, rep) : VIVA_OK;
	for (size_t i = 0; i < m; i++)
		spec_free(specs[i]);
	free(specs);
	store_services_free(all, n);
	return rc;
}

int k8s_list_service(struct viva_env *env, const struct render_target *t, const struct kube_resource *res,
		     const char *svc, size_t max_items, struct kube **k, json_t **items)
{
	char *sel = xasprintf("app=%s", svc);
	struct kube_list_opts lo = { .label_selector = sel, .limit = 500 };
	struct kube_ref ref = { .res = res, .ns = t->namespace_ };
	const char *ns = NULL;
	int rc;

	*items = NULL;
	rc = kube_for_env(env->kube, env->cfg, t->env, k, &ns);
	if (rc == VIVA_OK)
		rc = kube_list_all(*k, &ref, &lo, max_items, items);
	free(sel);
	return rc;
}
