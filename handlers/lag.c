/*
 * The lag audit (SPEC section 7): every service whose canary runs a tag
 * that the live colour does not, for more whole days than
 * thresholds.lag_days (now minus the canary's viva/deployed-at), with its
 * owners mentioned, its deploy managers, its blue-green page and a
 * bluegreen_trigger button; posted to channels.deploy, split to stay within
 * Slack's 50 blocks a message.
 *
 * The clusters are read per namespace, not per service: one paged LIST of
 * the Deployments that carry viva/slot and one of the Services (those whose
 * selector names a viva/slot are kept: whatever labels the Service itself
 * carries), keeping only the few fields the audit needs from each page.
 * An environment that cannot be read is named in the report, and nobody in
 * it is flagged.
 */
#include "handlers/lag.h"
#include "handlers/deploy.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "store/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE          500
#define MAX_PAGES     400          /* 200,000 objects in a namespace */
#define ROWS_PER_MSG  45           /* + header, context, notes: within 50 blocks */

static json_t *jget(json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

/*
 * Every object of res in ns matching selector, page by page; keep() takes
 * what it needs from each item into acc. VIVA_OK or the client's error.
 */
static int list_pages(struct kube *k, const struct kube_resource *res, const char *ns, const char *selector,
		      void (*keep)(json_t *item, json_t *acc), json_t *acc, int *requests)
{
	struct kube_ref ref = { .res = res, .ns = ns };
	char *cont = NULL;
	int rc = VIVA_OK;

	for (int page = 0; page < MAX_PAGES; page++) {
		struct kube_list_opts o = { .label_selector = selector, .limit = PAGE, .continue_token = cont };
		json_t *list = NULL, *item;
		const char *next;
		size_t i;

		rc = kube_list(k, &ref, &o, &list);
		(*requests)++;
		free(cont);
		cont = NULL;
		if (rc != VIVA_OK)
			break;
		json_array_foreach(json_object_get(list, "items"), i, item)
			keep(item, acc);
		next = json_string_value(jget(list, "metadata", "continue"));
		if (next && *next)
			cont = xstrdup(next);
		json_decref(list);
		if (!cont)
			break;
	}
	free(cont);
	return rc;
}

/* acc[app] = {canary_tag, canary_at, blue_tag, green_tag} */
static void keep_deployment(json_t *d, json_t *acc)
{
	json_t *labels = jget(d, "metadata", "labels"), *ann = jget(d, "metadata", "annotations"), *e;
	const char *app = json_string_value(json_object_get(labels, "app"));
	const char *slot = json_string_value(json_object_get(labels, "viva/slot"));
	const char *tag = json_string_value(json_object_get(ann, "viva/tag"));
	const char *at = json_string_value(json_object_get(ann, "viva/deployed-at"));
	char key[32];

	if (!app || !slot)
		return;
	e = json_object_get(acc, app);
	if (!e) {
		e = json_object();
		json_object_set_new(acc, app, e);
	}
	snprintf(key, sizeof(key), "%s_tag", slot);
	json_object_set_new(e, key, json_string(tag ? tag : ""));
	if (strcmp(slot, "canary") == 0) {
		int64_t t = 0;

		if (at && registry_parse_time(at, &t) != VIVA_OK)
			t = 0;
		json_object_set_new(e, "canary_at", json_integer(t));
	}
}

/* acc[name]["live"] = the Service's viva/slot */
static void keep_service(json_t *s, json_t *acc)
{
	const char *name = json_string_value(jget(s, "metadata", "name"));
	const char *slot = json_string_value(json_object_get(jget(s, "spec", "selector"), "viva/slot"));
	json_t *e;

	if (!name || !slot)
		return;
	e = json_object_get(acc, name);
	if (!e) {
		e = json_object();
		json_object_set_new(acc, name, e);
	}
	json_object_set_new(e, "live", json_string(slot));
}

/* links.bluegreen with {service} and {env} filled in, or NULL. */
static char *bluegreen_link(const struct viva_config *cfg, const char *svc, const char *env)
{
	struct strbuf sb;
	const char *p;

	if (!cfg->link_bluegreen)
		return NULL;
	sb_init(&sb);
	for (p = cfg->link_bluegreen; *p;) {
		if (strncmp(p, "{service}", 9) == 0) {
			sb_adds(&sb, svc);
			p += 9;
		} else if (strncmp(p, "{env}", 5) == 0) {
			sb_adds(&sb, env);
			p += 5;
		} else {
			sb_addc(&sb, *p++);
		}
	}
	return sb_detach(&sb);
}

void lag_result_release(struct lag_result *r)
{
	json_decref(r->rows);
	json_decref(r->unread);
	memset(r, 0, sizeof(*r));
}

/* The state of one environment's namespace, read once (cache[env]). */
static json_t *ns_state(struct viva_env *env, const struct render_target *t, json_t *cache, struct lag_result *r)
{
	json_t *st = json_object_get(cache, t->env);
	struct kube *k = NULL;
	const char *ns = NULL;
	int rc;

	if (st)
		return json_is_object(st) ? st : NULL;
	if (!env->kube || kube_for_env(env->kube, env->cfg, t->env, &k, &ns) != VIVA_OK) {
		json_object_set_new(cache, t->env, json_null());
		json_array_append_new(r->unread, json_sprintf("%s: %s", t->env, env->kube ? kube_last_error()
							      : "no cluster is configured"));
		return NULL;
	}
	st = json_object();
	rc = list_pages(k, &kube_deployments, t->namespace_, "viva/slot", keep_deployment, st, &r->requests);
	if (rc == VIVA_OK)
		rc = list_pages(k, &kube_services, t->namespace_, NULL, keep_service, st,
				&r->requests);
	if (rc != VIVA_OK) {
		json_decref(st);
		json_object_set_new(cache, t->env, json_null());
		json_array_append_new(r->unread, json_sprintf("%s: %s", t->env, kube_last_error()));
		return NULL;
	}
	json_object_set_new(cache, t->env, st);
	return st;
}

static void check_spec(struct viva_env *env, const struct spec *s, json_t *cache, int64_t now, struct lag_result *r)
{
	const struct viva_config *cfg = env->cfg;
	struct render_plan plan;

	render_plan_init(&plan, s, cfg);
	for (size_t i = 0; i < plan.ntargets; i++) {
		const struct render_target *t = &plan.targets[i];
		json_t *st = ns_state(env, t, cache, r), *e = st ? json_object_get(st, s->name) : NULL;
		const char *live = json_string_value(json_object_get(e, "live"));
		const char *canary = json_string_value(json_object_get(e, "canary_tag"));
		const char *live_tag;
		char key[32];
		int64_t at, days;

		if (!e || !live || !canary || !*canary)
			continue;
		snprintf(key, sizeof(key), "%s_tag", live);
		live_tag = json_string_value(json_object_get(e, key));
		if (!live_tag || strcmp(live_tag, canary) == 0)
			continue;
		at = json_integer_value(json_object_get(e, "canary_at"));
		days = at > 0 && now > at ? (now - at) / 86400 : 0;
		if (at <= 0 || days <= cfg->lag_days)
			continue;
		{
			char *owners = mrkdwn_users(s->owners, s->nowners, "nobody named");
			char *dms = mrkdwn_users(s->deploy_managers, s->ndeploy_managers, "nobody named");
			char *link = bluegreen_link(cfg, s->name, t->env), *value = deploy_trigger_value(s->name, t->env, canary);
			char *text = xasprintf("*%s* in %s: canary `%s` is *%lld days* ahead of live %s `%s`\nOwners %s · "
					       "deploy managers %s%s%s%s", s->name, t->env, canary, (long long)days, live,
					       *live_tag ? live_tag : "untagged", owners, dms, link ? " · <" : "",
					       link ? link : "", link ? "|blue-green page>" : "");
			char *block_id = xasprintf("lag:%s:%s", s->name, t->env);

			json_array_append_new(r->rows, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "service", s->name,
								 "env", t->env, "tag", canary, "text", text, "days",
								 (json_int_t)days, "value", value, "block_id", block_id));
			free(block_id);
			free(text);
			free(value);
			free(link);
			free(dms);
			free(owners);
		}
	}
	render_plan_release(&plan);
}

/* Most days first, then by name. */
static int by_days(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t dx = json_integer_value(json_object_get(x, "days")), dy = json_integer_value(json_object_get(y, "days"));

	if (dx != dy)
		return dx > dy ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "service")), json_string_value(json_object_get(y, "service")));
}

int lag_collect(struct viva_env *env, int64_t now, struct lag_result *r)
{
	struct store_service *all = NULL;
	json_t *cache = json_object();
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->rows = json_array();
	r->unread = json_array();
	rc = store_service_list(env->store, false, &all, &n);
	if (rc != VIVA_OK) {
		json_decref(cache);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct spec *s = NULL;

		if (catalog_get(env, all[i].name, &s) != VIVA_OK)
			continue;
		if (s->type != SPEC_BATCH) {
			r->services++;
			check_spec(env, s, cache, now, r);
		}
		spec_free(s);
	}
	store_services_free(all, n);
	json_decref(cache);
	{
		size_t m = json_array_size(r->rows);
		json_t **v = xcalloc(m + 1, sizeof(*v)), *sorted = json_array();

		for (size_t i = 0; i < m; i++)
			v[i] = json_incref(json_array_get(r->rows, i));
		qsort(v, m, sizeof(*v), by_days);
		for (size_t i = 0; i < m; i++)
			json_array_append_new(sorted, v[i]);
		free(v);
		json_decref(r->rows);
		r->rows = sorted;
	}
	return VIVA_OK;
}

/* Post the report: one message per ROWS_PER_MSG rows. *posted: messages. */
static int post_report(struct viva_ctx *ctx, const char *channel, const struct lag_result *r, int *posted)
{
	size_t nrows = json_array_size(r->rows), nmsg = nrows ? (nrows + ROWS_PER_MSG - 1) / ROWS_PER_MSG : 1;
	struct strbuf unread;
	int rc = VIVA_OK;

	*posted = 0;
	sb_init(&unread);
	for (size_t i = 0; i < json_array_size(r->unread); i++)
		sb_addf(&unread, "%s%s", i ? "; " : "", json_string_value(json_array_get(r->unread, i)));
	for (size_t m = 0; m < nmsg && rc == VIVA_OK; m++) {
		json_t *rows = json_array(), *data;

		for (size_t i = m * ROWS_PER_MSG; i < nrows && i < (m + 1) * ROWS_PER_MSG; i++)
			json_array_append(rows, json_array_get(r->rows, i));
		data = json_pack("{s:I, s:I, s:I, s:O, s:b, s:s, s:I, s:I, s:b}", "count", (json_int_t)nrows, "threshold",
				 (json_int_t)ctx->env->cfg->lag_days, "services", (json_int_t)r->services, "rows", rows,
				 "first", m == 0, "unread", unread.len ? unread.buf : "", "part", (json_int_t)(m + 1),
				 "parts", (json_int_t)nmsg, "none", nrows == 0);
		if (channel)
			rc = reply_post_template(ctx, channel, "slack/lag_report", data);
		else
			rc = reply_template(ctx, "slack/lag_report", data, REPLY_IN_CHANNEL);
		if (rc == VIVA_OK)
			(*posted)++;
		json_decref(data);
		json_decref(rows);
	}
	sb_release(&unread);
	return rc;
}

int cmd_lag(struct viva_ctx *ctx)
{
	const char *channel = ctx->env->cfg->channel_deploy;
	struct lag_result r;
	int posted = 0, rc = lag_collect(ctx->env, ctx->env->clock->now(ctx->env->clock), &r);

	if (rc != VIVA_OK) {
		lag_result_release(&r);
		return reply_error(ctx, rc, NULL, "The lag audit could not read the catalog (%s).", viva_strerror(rc));
	}
	log_info("lag audit", "services=%d lagging=%zu unread=%zu requests=%d", r.services, json_array_size(r.rows),
		 json_array_size(r.unread), r.requests);
	rc = post_report(ctx, channel, &r, &posted);
	if (channel && rc == VIVA_OK)
		reply_text(ctx, REPLY_EPHEMERAL, "Lag audit: %zu of %d services are more than %d days behind their canary; "
			   "posted to <#%s>.", json_array_size(r.rows), r.services, ctx->env->cfg->lag_days, channel);
	else if (rc != VIVA_OK)
		rc = reply_error(ctx, rc, NULL, "The lag report could not be posted (%s).", viva_strerror(rc));
	lag_result_release(&r);
	return rc;
}

int task_lag(struct viva_ctx *ctx)
{
	const char *channel = ctx->env->cfg->channel_deploy;
	struct lag_result r;
	int posted = 0, rc;

	if (!channel) {
		log_warn("lag audit not posted", "why=\"channels.deploy is not set in viva.yaml\"");
		return VIVA_OK;
	}
	rc = lag_collect(ctx->env, ctx->env->clock->now(ctx->env->clock), &r);
	if (rc == VIVA_OK && (json_array_size(r.rows) > 0 || json_array_size(r.unread) > 0))
		rc = post_report(ctx, channel, &r, &posted);
	log_info("lag audit (scheduled)", "services=%d lagging=%zu unread=%zu requests=%d messages=%d rc=%d",
		 r.services, json_array_size(r.rows), json_array_size(r.unread), r.requests, posted, rc);
	lag_result_release(&r);
	return rc;
}
