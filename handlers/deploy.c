/*
 * Deploys as users ask for them (SPEC section 7): the commands and buttons
 * that start a canary, blue-green or rollback operation (their steps are in
 * deploy_ops.c) for a service in an environment, where the operation
 * reports, and `status`.
 */
#include "handlers/deploy.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"
#include "bot/dispatch.h"
#include "bot/k8s/rollout.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *deploy_target(const char *svc, const char *env)
{
	return xasprintf("%s/%s", svc, env);
}

char *deploy_trigger_value(const char *svc, const char *env, const char *tag)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "svc", svc, "env", env, "tag", tag ? tag : "");
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(v);
	return s;
}

/* ---- where: the environment of a request ---------------------------------------------- */

struct where {
	struct spec *spec;
	struct render_plan plan;
	const struct render_target *t;
	struct kube *k;
	char *repo;          /* the image repository as the cluster pulls it: host/team/svc */
	long replicas;       /* resources.ENV.instance */
};

static void where_release(struct where *w)
{
	if (w->spec)
		render_plan_release(&w->plan);
	spec_free(w->spec);
	free(w->repo);
	memset(w, 0, sizeof(*w));
}

static bool names_env(const struct viva_config *cfg, const char *word)
{
	for (size_t i = 0; word && i < cfg->n_environments; i++)
		if (strcmp(cfg->environments[i].name, word) == 0)
			return true;
	return false;
}

/*
 * Resolve svc in env (NULL: the default) into *w. On failure the user is
 * told why (reply_error) and its code returned.
 */
static int where_of(struct viva_ctx *ctx, const char *svc, const char *env, const char *usage, struct where *w)
{
	const struct viva_config *cfg = ctx->env->cfg;
	const char *ns = NULL;
	char *host;
	int rc;

	memset(w, 0, sizeof(*w));
	rc = catalog_get(ctx->env, svc, &w->spec);
	if (rc != VIVA_OK)
		return reply_error(ctx, rc, usage, "There is no pipeline named `%s`.", svc);
	render_plan_init(&w->plan, w->spec, cfg);
	if (w->spec->type == SPEC_BATCH) {
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "`%s` is a batch pipeline: it has no canary or colours to "
				 "deploy. `promote` moves its CronJobs' image.", svc);
		goto fail;
	}
	for (size_t i = 0; i < w->plan.ntargets; i++) {
		const struct render_target *t = &w->plan.targets[i];

		if (env ? strcmp(t->env, env) == 0 : strcmp(t->env, "prod") == 0)
			w->t = t;
	}
	if (!w->t && !env && w->plan.ntargets > 0)
		w->t = &w->plan.targets[w->plan.ntargets - 1];
	if (!w->t) {
		struct strbuf sb;

		sb_init(&sb);
		for (size_t i = 0; i < w->plan.ntargets; i++)
			sb_addf(&sb, "%s`%s`", i ? ", " : "", w->plan.targets[i].env);
		rc = reply_error(ctx, VIVA_EINVAL, usage, env ? "`%s` does not run in environment `%s`; it runs in: %s."
				 : "`%s` runs in no environment of viva.yaml%s%s.", svc, env ? env : "",
				 sb.len ? sb.buf : "none");
		sb_release(&sb);
		goto fail;
	}
	if (!ctx->env->kube || kube_for_env(ctx->env->kube, cfg, w->t->env, &w->k, &ns) != VIVA_OK) {
		rc = reply_error(ctx, VIVA_EUNAVAIL, NULL, "viva cannot reach the cluster of environment `%s`: %s.",
				 w->t->env, ctx->env->kube ? kube_last_error() : "no cluster is configured");
		goto fail;
	}
	for (size_t i = 0; i < w->spec->nresources; i++)
		if (strcmp(w->spec->resources[i].env, w->t->env) == 0)
			w->replicas = w->spec->resources[i].instance;
	host = cfg->registry_url ? render_registry_host(cfg->registry_url) : NULL;
	w->repo = host && *host ? xasprintf("%s/%s", host, w->spec->image) : xstrdup(w->spec->image);
	free(host);
	return VIVA_OK;
fail:
	where_release(w);
	return rc;
}

/* ---- starting one ------------------------------------------------------------------------------------ */

/*
 * The message a deploy reports in: a click on a message about this service
 * alone (status, a deploy result) updates that message; a click on a report
 * of many (the lag alert) replaces that row's button with a note and the
 * deploy posts its own message there. A command posts to channels.deploy,
 * or where it was typed.
 */
static void message_of(struct viva_ctx *ctx, const char **channel, const char **ts, bool *own_row)
{
	json_t *container = json_object_get(ctx->payload, "container");
	json_t *blocks = json_object_get(json_object_get(ctx->payload, "message"), "blocks"), *b;
	size_t i, buttons = 0;

	*own_row = false;
	*ts = NULL;
	*channel = ctx->env->cfg->channel_deploy ? ctx->env->cfg->channel_deploy : ctx->channel_id;
	if (!ctx->act)
		return;
	json_array_foreach(blocks, i, b) {
		json_t *acc = json_object_get(b, "accessory"), *els = json_object_get(b, "elements"), *e;
		size_t j;

		if (acc && json_string_value(json_object_get(acc, "action_id")))
			buttons++;
		json_array_foreach(els, j, e)
			if (json_string_value(json_object_get(e, "action_id")))
				buttons++;
	}
	*channel = json_string_value(json_object_get(container, "channel_id")) ?
		   json_string_value(json_object_get(container, "channel_id")) : ctx->channel_id;
	if (buttons > 1) {
		*own_row = true;
		return;
	}
	*ts = json_string_value(json_object_get(container, "message_ts"));
}

struct start {
	const struct op_kind *kind;
	const char *what;        /* "blue-green" */
	const char *tag;         /* may be NULL */
};

static int start(struct viva_ctx *ctx, const struct where *w, const struct start *st)
{
	char *target = deploy_target(w->spec->name, w->t->env), why[512];
	const char *channel, *ts;
	bool own_row;
	int64_t id = 0;
	json_t *data;
	int rc;

	message_of(ctx, &channel, &ts, &own_row);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "service", w->spec->name, "env", w->t->env,
			 "namespace", w->t->namespace_, "cluster", w->t->cluster ? w->t->cluster : "", "repo", w->repo,
			 "tag", st->tag ? st->tag : "", "replicas", (json_int_t)w->replicas);
	dispatch_audit(ctx, w->spec->name, json_pack("{s:s, s:s, s:s}", "env", w->t->env, "kind", st->kind->name,
						     "tag", st->tag ? st->tag : ""));
	{
		struct op_request rq = { .kind = st->kind, .target = target, .data = data, .user = ctx->user_id,
					 .channel = channel, .message_ts = ts, .audit_id = ctx->audit_id,
					 .click_key = ctx->action_key };

		rc = ops_submit(ctx->env, &rq, &id, why, sizeof(why));
	}
	json_decref(data);
	ctx->op_id = id;
	if (rc != VIVA_OK) {
		if (rc == VIVA_EBUSY)
			rc = reply_error(ctx, rc, NULL, "No %s of `%s` in %s now: %s.", st->what, w->spec->name, w->t->env, why);
		else
			rc = reply_error(ctx, rc, NULL, "The %s of `%s` in %s failed: %s.", st->what, w->spec->name,
					 w->t->env, why);
		free(target);
		return rc;
	}
	ctx->op_async = ctx->env->ops != NULL;
	dispatch_audit(ctx, NULL, json_pack("{s:I}", "operation", (json_int_t)id));
	if (!ctx->env->ops) {
		/* it ran here (console, exec): say how it ended */
		reply_text(ctx, REPLY_IN_CHANNEL, "%s of `%s` in %s (operation #%lld): %s", st->what, w->spec->name,
			   w->t->env, (long long)id, why);
	} else if (own_row) {
		char *note = xasprintf(":hourglass_flowing_sand: %s started by <@%s> (operation #%lld)", st->what,
				       ctx->user_id ? ctx->user_id : "", (long long)id);
		reply_update_row(ctx, note, true);
		free(note);
	} else if (!ts) {
		reply_text(ctx, REPLY_EPHEMERAL, "%s of `%s` in %s started (operation #%lld); <#%s> shows how it goes.",
			   st->what, w->spec->name, w->t->env, (long long)id, channel ? channel : "");
	}
	free(target);
	return VIVA_OK;
}

/* ---- commands and buttons ----------------------------------------------------------------------------- */

static int check_tag(struct viva_ctx *ctx, const char *tag, const char *usage)
{
	if (tag && !registry_valid_tag(tag))
		return reply_error(ctx, VIVA_EINVAL, usage, "`%s` is not a valid image tag.", tag);
	return VIVA_OK;
}

int cmd_deploy_canary(struct viva_ctx *ctx)
{
	static const char *usage = "/viva deploy canary SVC TAG [ENV]";
	const struct start st = { &op_deploy_canary, "canary deploy", ctx->argv[1] };
	struct where w;
	int rc = check_tag(ctx, ctx->argv[1], usage);

	if (rc == VIVA_OK)
		rc = where_of(ctx, ctx->argv[0], ctx->argc > 2 ? ctx->argv[2] : NULL, usage, &w);
	if (rc != VIVA_OK)
		return rc;
	rc = start(ctx, &w, &st);
	where_release(&w);
	return rc;
}

static int bluegreen(struct viva_ctx *ctx, const char *svc, const char *tag, const char *env)
{
	static const char *usage = "/viva deploy bluegreen SVC [TAG] [ENV]";
	const struct start st = { &op_deploy_bluegreen, "blue-green", tag && *tag ? tag : NULL };
	struct where w;
	int rc = check_tag(ctx, st.tag, usage);

	if (rc == VIVA_OK)
		rc = where_of(ctx, svc, env && *env ? env : NULL, usage, &w);
	if (rc != VIVA_OK)
		return rc;
	rc = start(ctx, &w, &st);
	where_release(&w);
	return rc;
}

int cmd_deploy_bluegreen(struct viva_ctx *ctx)
{
	const char *tag = NULL, *env = NULL;

	/* SVC [TAG] [ENV]: one word after SVC is ENV when it names one */
	if (ctx->argc == 3) {
		tag = ctx->argv[1];
		env = ctx->argv[2];
	} else if (ctx->argc == 2) {
		if (names_env(ctx->env->cfg, ctx->argv[1]))
			env = ctx->argv[1];
		else
			tag = ctx->argv[1];
	}
	return bluegreen(ctx, ctx->argv[0], tag, env);
}

int act_bluegreen_trigger(struct viva_ctx *ctx)
{
	const char *svc = json_string_value(json_object_get(ctx->value, "svc"));
	const char *env = json_string_value(json_object_get(ctx->value, "env"));

	if (!env)
		return reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	return bluegreen(ctx, svc, json_string_value(json_object_get(ctx->value, "tag")), env);
}

static int rollback(struct viva_ctx *ctx, const char *svc, const char *env)
{
	const struct start st = { &op_rollback, "rollback", NULL };
	struct where w;
	int rc = where_of(ctx, svc, env, "/viva rollback SVC [ENV]", &w);

	if (rc != VIVA_OK)
		return rc;
	rc = start(ctx, &w, &st);
	where_release(&w);
	return rc;
}

int cmd_rollback(struct viva_ctx *ctx)
{
	return rollback(ctx, ctx->argv[0], ctx->argc > 1 ? ctx->argv[1] : NULL);
}

int act_rollback(struct viva_ctx *ctx)
{
	const char *env = json_string_value(json_object_get(ctx->value, "env"));

	if (!env)
		return reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	return rollback(ctx, json_string_value(json_object_get(ctx->value, "svc")), env);
}

/* ---- status ---------------------------------------------------------------------------------------------- */

static json_t *slot_row(const struct k8s_slot *s, const char *live, int64_t since, int64_t now)
{
	char when[32] = "", *note, *text;
	bool is_live = live && strcmp(s->slot, live) == 0;
	json_t *row;

	if (is_live && since > 0)
		note = xasprintf(" (live since %s)", k8s_time(since, when, sizeof(when)));
	else if (is_live)
		note = xstrdup(" (live)");
	else
		note = xstrdup("");
	text = xasprintf("*%s*%s: `%s`, %ld/%ld ready%s%s%s", *s->slot ? s->slot : s->name, note,
			 *s->tag ? s->tag : "untagged", s->ready, s->replicas,
			 s->rollout == K8S_ROLLOUT_COMPLETE ? "" : " — ", s->rollout == K8S_ROLLOUT_COMPLETE ? "" : s->progress,
			 "");
	if (s->deployed_at > 0) {
		char *more = xasprintf("%s\ndeployed %s (%lld d ago)%s%s", text, k8s_time(s->deployed_at, when,
				       sizeof(when)), (long long)((now - s->deployed_at) / 86400),
				       *s->deployed_by ? " by " : "", s->deployed_by);
		free(text);
		text = more;
	}
	row = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "slot", *s->slot ? s->slot : s->name, "tag", s->tag,
			"text", text, "ready", (json_int_t)s->ready, "replicas", (json_int_t)s->replicas, "live", is_live);
	free(note);
	free(text);
	return row;
}

int cmd_status(struct viva_ctx *ctx)
{
	static const char *usage = "/viva status SVC [ENV]";
	static const char *const slots[] = { "canary", "blue", "green" };
	const char *svc = ctx->argv[0];
	struct k8s_slot s[3];
	struct where w;
	char *live = NULL, *value = NULL;
	int64_t since = 0, now = ctx->env->clock->now(ctx->env->clock);
	json_t *rows = json_array(), *data;
	int rc = where_of(ctx, svc, ctx->argc > 1 ? ctx->argv[1] : NULL, usage, &w);

	memset(s, 0, sizeof(s));
	if (rc != VIVA_OK) {
		json_decref(rows);
		return rc;
	}
	/* what is missing is said, not an error: a service half created, a Service deleted by hand */
	rc = k8s_live_slot(w.k, w.t->namespace_, svc, &live, &since);
	if (rc == VIVA_ENOENT) {
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "slot", svc, "tag", "", "text",
						      "*Service* not found: no colour is live (`pipeline apply` creates it)",
						      "ready", (json_int_t)0, "replicas", (json_int_t)0, "live", 0));
		rc = VIVA_OK;
	}
	for (size_t i = 0; rc == VIVA_OK && i < 3; i++) {
		char *name = xasprintf("%s-%s", svc, slots[i]);

		rc = k8s_slot_read(w.k, w.t->namespace_, name, w.repo, &s[i]);
		if (rc == VIVA_ENOENT) {
			char *text = xasprintf("*%s*: Deployment %s not found (`pipeline apply` creates it)", slots[i], name);

			s[i].slot = xstrdup(slots[i]);
			s[i].tag = xstrdup("");
			json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "slot", slots[i], "tag", "",
							      "text", text, "ready", (json_int_t)0, "replicas",
							      (json_int_t)0, "live", 0));
			free(text);
			rc = VIVA_OK;
		} else if (rc == VIVA_OK) {
			json_array_append_new(rows, slot_row(&s[i], live, since, now));
		}
		free(name);
	}
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "The state of `%s` in %s could not be read: %s.", svc, w.t->env,
				 kube_last_error());
		goto out;
	}
	{
		const struct k8s_slot *lv = k8s_is_colour(live) ? &s[strcmp(live, "blue") == 0 ? 1 : 2] : NULL;
		bool ahead = lv && *s[0].tag && strcmp(s[0].tag, lv->tag) != 0;
		char *lag = ahead && s[0].deployed_at > 0 ?
			    xasprintf("The canary runs `%s`, ahead of live `%s` for %lld d.", s[0].tag, lv->tag,
				      (long long)((now - s[0].deployed_at) / 86400)) :
			    ahead ? xasprintf("The canary runs `%s`, ahead of live `%s`.", s[0].tag, lv->tag)
				  : xstrdup(lv ? "The canary runs what is live." : "No colour is live.");

		value = deploy_trigger_value(svc, w.t->env, s[0].tag);
		data = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:b, s:s, s:s}", "service", svc, "env", w.t->env,
				 "namespace", w.t->namespace_, "live", k8s_is_colour(live) ? live : "none", "slots", rows,
				 "lag", lag, "ahead", ahead, "value", value, "canary_tag", s[0].tag);
		free(lag);
	}
	rc = reply_template(ctx, "slack/deploy_status", data, REPLY_IN_CHANNEL);
	json_decref(data);
out:
	for (size_t i = 0; i < 3; i++)
		k8s_slot_release(&s[i]);
	json_decref(rows);
	free(value);
	free(live);
	where_release(&w);
	return rc;
}
