/*
 * The cluster side of pipelines (SPEC section 5): what `pipeline apply`
 * and `pipeline create` send to the clusters (bot/k8s/apply.h), the live
 * state `pipeline show` adds, and the guarded deletion.
 */
#include "handlers/pipeline.h"
#include "bot/auth.h"
#include "bot/clients/kube.h"
#include "bot/commands.h"
#include "bot/dispatch.h"
#include "bot/k8s/apply.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/ops.h"
#include "bot/reply.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"
#include "store/envelopes.h"
#include "store/services.h"
#include "store/unused.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS_SHOWN 30

/* ---- apply ------------------------------------------------------------------------- */

/* Specs of names (a JSON array of strings); unknown names are left out. */
static size_t load_specs(struct viva_env *env, json_t *names, struct spec ***out)
{
	size_t n = 0, i;
	json_t *v;

	*out = xcalloc(json_array_size(names) + 1, sizeof(**out));
	json_array_foreach(names, i, v) {
		struct spec *s = NULL;

		if (json_string_value(v) && catalog_get(env, json_string_value(v), &s) == VIVA_OK)
			(*out)[n++] = s;
	}
	return n;
}

static void free_specs(struct spec **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spec_free(v[i]);
	free(v);
}

/* "service-a in prod: created (5 created, 0 updated, 0 unchanged)", or with the
 * reason: "service-a in prod: failed: Deployment service-a-blue: ..." (caller frees). */
static char *row_line(const struct k8s_apply_row *r)
{
	return r->why ? xasprintf("%s in %s: %s: %s", r->service, r->env, k8s_apply_state_name(r->state), r->why)
		      : xasprintf("%s in %s: %s (%d created, %d updated, %d unchanged)", r->service, r->env,
				  k8s_apply_state_name(r->state), r->created, r->updated, r->unchanged);
}

/* The report's lines for what is not unchanged. */
static json_t *report_data(const struct k8s_apply_report *rep)
{
	json_t *rows = json_array();
	int more = 0;

	for (size_t i = 0; i < rep->n; i++) {
		const struct k8s_apply_row *r = &rep->rows[i];
		char *line;

		if (r->state == K8S_UNCHANGED)
			continue;
		if (json_array_size(rows) >= MAX_ROWS_SHOWN) {
			more++;
			continue;
		}
		line = row_line(r);
		json_array_append_new(rows, json_pack("{s:s, s:b}", "line", line, "failed", r->state == K8S_FAILED));
		free(line);
	}
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:o, s:i, s:i}", "created", rep->counts[K8S_CREATED],
			 "updated", rep->counts[K8S_UPDATED], "unchanged", rep->counts[K8S_UNCHANGED],
			 "failed", rep->counts[K8S_FAILED], "skipped", rep->counts[K8S_SKIPPED], "rows", rows,
			 "more_rows", more, "writes", rep->writes);
}

int pipeline_apply_clusters(struct viva_ctx *ctx, json_t *names, json_t **data)
{
	struct k8s_apply_report rep;
	struct spec **specs;
	size_t n;
	int rc;

	*data = NULL;
	if (!ctx->env->kube)
		return VIVA_OK;   /* no cluster configured: the catalog is all there is */
	n = load_specs(ctx->env, names, &specs);
	k8s_apply_report_init(&rep);
	rc = n ? k8s_apply_specs(ctx->env, specs, n, ctx->user_id, &rep) : VIVA_OK;
	*data = report_data(&rep);
	k8s_apply_report_release(&rep);
	free_specs(specs, n);
	return rc;
}

/*
 * A new pipeline's objects, as a durable operation on the operation pool:
 * the form's answer (its ack) must not wait for the clusters, and a restart
 * applies again (applying is idempotent).
 */
static int step_apply(struct op *op)
{
	struct viva_env *env = op_env(op);
	json_t *names = json_pack("[O]", json_object_get(op_data(op), "service"));
	struct k8s_apply_report rep;
	struct spec **specs;
	size_t n = load_specs(env, names, &specs);
	struct strbuf sb;
	int rc;

	json_decref(names);
	if (n == 0) {
		free_specs(specs, n);
		return op_fail(op, VIVA_ENOENT, "the pipeline is no longer in the catalog");
	}
	k8s_apply_report_init(&rep);
	rc = k8s_apply_specs(env, specs, n, op_started_by(op), &rep);
	sb_init(&sb);
	for (size_t i = 0; i < rep.n; i++) {
		char *line = row_line(&rep.rows[i]);

		sb_addf(&sb, "%s%s", i ? "; " : "", line);
		free(line);
	}
	if (rc != VIVA_OK)
		op_fail(op, rc, "%s", sb.len ? sb.buf : "nothing applied");
	else
		op_set_outcome(op, "%s", sb.len ? sb.buf : "no environment to apply to");
	sb_release(&sb);
	k8s_apply_report_release(&rep);
	free_specs(specs, n);
	return rc;
}

static const struct op_step apply_steps[] = {
	{ "apply to the clusters", step_apply, true },
};
const struct op_kind op_pipeline_apply = { "pipeline-apply", apply_steps, 1 };

int pipeline_apply_later(struct viva_ctx *ctx, const char *svc, const char *channel)
{
	json_t *data;
	char why[512];
	int64_t id = 0;
	int rc;

	if (!ctx->env->kube)
		return VIVA_OK;
	data = json_pack("{s:s}", "service", svc);
	{
		struct op_request rq = { .kind = &op_pipeline_apply, .target = svc, .data = data, .user = ctx->user_id,
					 .channel = channel, .audit_id = 0 };
		rc = ops_submit(ctx->env, &rq, &id, why, sizeof(why));
	}
	json_decref(data);
	/* without an operation pool (the console) it ran here and rc is its outcome */
	if (rc != VIVA_OK)
		log_warn(id ? "pipeline created; applying it to the clusters failed"
			    : "pipeline created; applying it to the clusters did not start", "svc=%s op=%lld err=\"%s\"",
			 svc, (long long)id, why);
	return rc;
}

/* ---- live state ------------------------------------------------------------------------- */

static long num(json_t *o, const char *a, const char *b)
{
	return (long)json_integer_value(json_object_get(json_object_get(o, a), b));
}

static const char *meta_str(json_t *o, const char *map, const char *key)
{
	json_t *md = json_object_get(o, "metadata");

	return json_string_value(map ? json_object_get(json_object_get(md, map), key) : json_object_get(md, key));
}

/*
 * What runs of s in environment t, one line each: the colour the Service SVC
 * selects, then every Deployment labelled app=SVC with its ready/desired
 * replicas and its tag. VIVA_OK, or the error with kube_last_error() saying
 * why (nothing added then).
 */
static int live_in(struct viva_env *env, const struct spec *s, const struct render_target *t, struct strbuf *sb)
{
	struct kube *k = NULL;
	struct kube_ref sref = { .res = &kube_services, .ns = t->namespace_, .name = s->name };
	json_t *deps = NULL, *svc = NULL, *d;
	const char *live = NULL;
	size_t j;
	int rc;

	rc = k8s_list_service(env, t, &kube_deployments, s->name, 100, &k, &deps);
	if (rc != VIVA_OK)
		return rc;
	if (s->type != SPEC_BATCH) {
		rc = kube_get(k, &sref, &svc);
		if (rc == VIVA_OK) {
			live = json_string_value(json_object_get(json_object_get(json_object_get(svc, "spec"),
										  "selector"), "viva/slot"));
			sb_addf(sb, "live colour: %s", live ? live : "none (the Service selects no viva/slot)");
		} else if (rc == VIVA_ENOENT) {
			sb_addf(sb, "live colour: none (no Service %s)", s->name);
		} else {
			goto out;
		}
	}
	json_array_foreach(deps, j, d) {
		const char *name = meta_str(d, NULL, "name"), *slot = meta_str(d, "labels", "viva/slot");
		const char *tag = meta_str(d, "annotations", "viva/tag");

		if (!name)
			continue;
		sb_addf(sb, "%s%s%s: %ld/%ld ready, tag %s", sb->len ? "\n" : "", slot ? slot : name,
			slot && live && strcmp(slot, live) == 0 ? " (live)" : "", num(d, "status", "readyReplicas"),
			num(d, "spec", "replicas"), tag ? tag : "?");
	}
	if (json_array_size(deps) == 0)
		sb_addf(sb, "%s%s", sb->len ? "\n" : "", s->type == SPEC_BATCH ? "batches only" : "no Deployment yet");
	rc = VIVA_OK;
out:
	json_decref(deps);
	json_decref(svc);
	return rc;
}

json_t *pipeline_live_state(struct viva_ctx *ctx, const struct spec *s)
{
	struct render_plan plan;
	json_t *envs = json_array();
	/* a cluster that did not answer is not asked again for the next
	 * environment: `pipeline show` waits for one timeout, not one per env */
	const char *down_cluster = NULL;
	char *down_why = NULL;

	if (!ctx->env->kube)
		return envs;
	render_plan_init(&plan, s, ctx->env->cfg);
	for (size_t i = 0; i < plan.ntargets; i++) {
		const struct render_target *t = &plan.targets[i];
		const char *cluster = t->cluster ? t->cluster : "";
		struct strbuf sb;
		int rc;

		sb_init(&sb);
		if (down_cluster && strcmp(down_cluster, cluster) == 0) {
			sb_addf(&sb, "live state unavailable: %s", down_why);
		} else if ((rc = live_in(ctx->env, s, t, &sb)) != VIVA_OK) {
			free(down_why);
			down_why = xstrdup(kube_last_error());
			down_cluster = rc == VIVA_EUNAVAIL || rc == VIVA_ETIMEOUT ? cluster : NULL;
			sb_addf(&sb, "live state unavailable: %s", down_why);
			log_info("pipeline live state unavailable", "svc=%s env=%s err=\"%s\"", s->name, t->env,
				 down_why);
		}
		json_array_append_new(envs, json_pack("{s:s, s:s, s:s}", "env", t->env, "namespace", t->namespace_,
						      "state", sb.buf));
		sb_release(&sb);
	}
	free(down_why);
	render_plan_release(&plan);
	return envs;
}

/* ---- the guarded deletion --------------------------------------------------------------- */

/*
 * The CronJobs labelled app=SVC in every environment of s: *found gets
 * "env/name" strings. VIVA_OK, or the first environment that could not be
 * read (then nothing may be deleted: what cannot be checked is not clear).
 */
static int connected_batches(struct viva_env *env, const struct spec *s, json_t **found, char *why, size_t whylen)
{
	struct render_plan plan;
	int rc = VIVA_OK;

	*found = json_array();
	render_plan_init(&plan, s, env->cfg);
	for (size_t i = 0; i < plan.ntargets && rc == VIVA_OK; i++) {
		const struct render_target *t = &plan.targets[i];
		struct kube *k = NULL;
		json_t *items = NULL, *it;
		size_t j;

		rc = k8s_list_service(env, t, &kube_cronjobs, s->name, 10000, &k, &items);
		if (rc != VIVA_OK)
			snprintf(why, whylen, "the CronJobs of %s in %s could not be listed: %s", s->name, t->env,
				 kube_last_error());
		json_array_foreach(items, j, it)
			json_array_append_new(*found, json_sprintf("%s/%s", t->env,
				json_string_value(json_object_get(json_object_get(it, "metadata"), "name"))));
		json_decref(items);
	}
	render_plan_release(&plan);
	return rc;
}

static bool has_prod(const struct spec *s, const struct viva_config *cfg)
{
	struct render_plan plan;
	bool prod = false;

	render_plan_init(&plan, s, cfg);
	for (size_t i = 0; i < plan.ntargets; i++)
		prod = prod || strcmp(plan.targets[i].env, "prod") == 0;
	render_plan_release(&plan);
	return prod;
}

static char *join_strings(json_t *arr, size_t max)
{
	struct strbuf sb;
	size_t i;
	json_t *v;

	sb_init(&sb);
	json_array_foreach(arr, i, v) {
		if (i == max) {
			sb_addf(&sb, " and %zu more", json_array_size(arr) - max);
			break;
		}
		sb_addf(&sb, "%s`%s`", i ? ", " : "", json_string_value(v));
	}
	return sb_detach(&sb);
}

/* Refuse while batches are connected; VIVA_OK when the deletion may go on. */
static int check_no_batches(struct viva_ctx *ctx, const struct spec *s)
{
	json_t *found = NULL;
	char why[512] = "";
	int rc;

	if (!ctx->env->kube)
		return VIVA_OK;   /* no cluster: the catalog entry is all there is */
	rc = connected_batches(ctx->env, s, &found, why, sizeof(why));
	if (rc != VIVA_OK) {
		json_decref(found);
		return reply_error(ctx, rc, NULL, "Not deleting `%s`: %s.", s->name, why);
	}
	if (json_array_size(found) > 0) {
		char *list = join_strings(found, 20);

		rc = reply_error(ctx, VIVA_EBUSY, NULL, "`%s` cannot be deleted while batches are connected to it: "
				 "%zu CronJob%s labelled app=%s (%s). Delete or move them first.", s->name,
				 json_array_size(found), json_array_size(found) == 1 ? "" : "s", s->name, list);
		free(list);
	}
	json_decref(found);
	return rc;
}

static int load_active(struct viva_ctx *ctx, const char *name, struct spec **s)
{
	int rc = catalog_get(ctx->env, name, s);

	if (rc == VIVA_ENOENT)
		return reply_error(ctx, rc, NULL, "There is no pipeline named `%s`. `%s pipeline list` shows them all.",
				   name, dispatch_slash(ctx->env));
	return rc;
}

int cmd_pipeline_delete(struct viva_ctx *ctx)
{
	struct spec *s = NULL;
	json_t *data;
	char *who;
	int rc = load_active(ctx, ctx->argv[0], &s);

	if (rc)
		return rc;
	rc = check_no_batches(ctx, s);
	if (rc == VIVA_OK) {
		who = mrkdwn_user(ctx->user_id);
		data = json_pack("{s:s, s:s, s:s, s:s}", "name", s->name, "who", who, "prod_note",
				 has_prod(s, ctx->env->cfg) ? " It runs in prod: you will be asked to type its name." : "",
				 "value", "");
		json_object_set_new(data, "value", json_sprintf("{\"svc\":\"%s\"}", s->name));
		rc = reply_template(ctx, "slack/pipeline_delete", data, REPLY_IN_CHANNEL);
		json_decref(data);
		free(who);
	}
	spec_free(s);
	return rc;
}

/* The objects a spec renders, by kind and name, in one environment (APPLY form). */
static int delete_in(struct viva_env *env, const struct spec *s, const struct render_target *t, struct strbuf *done,
		     char *why, size_t whylen)
{
	struct render_opts ro = { .form = RENDER_APPLY };
	struct kube_write_opts wo = { .propagation = "Background" };
	struct kube *k = NULL;
	const char *ns = NULL;
	json_t *objs = NULL, *o;
	size_t i, in_env = 0;
	int rc;

	rc = kube_for_env(env->kube, env->cfg, t->env, &k, &ns);
	if (rc != VIVA_OK) {
		snprintf(why, whylen, "%s", kube_last_error());
		return rc;
	}
	rc = render_service(s, t, env->tmpl, &ro, &objs, why, whylen);
	if (rc != VIVA_OK)
		return rc;
	json_array_foreach(objs, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
		const struct kube_resource *res = k8s_resource_of(kind);
		struct kube_ref ref = { .res = res, .ns = t->namespace_, .name = name };

		if (!res || !name)
			continue;
		rc = kube_delete(k, &ref, &wo, NULL);
		if (rc == VIVA_ENOENT) {
			rc = VIVA_OK;   /* gone already (a resumed deletion, or never created) */
			continue;
		}
		if (rc != VIVA_OK) {
			snprintf(why, whylen, "%s %s in %s: %s", kind, name, t->env, kube_last_error());
			break;
		}
		/* "alpha: Service/svc-a, Deployment/svc-a-blue; prod: ..." (a Service and a
		 * Deployment share the name SVC-canary) */
		if (!in_env)
			sb_addf(done, "%s%s: ", done->len ? "; " : "", t->env);
		sb_addf(done, "%s%s/%s", in_env++ ? ", " : "", kind, name);
	}
	json_decref(objs);
	return rc;
}

static int step_delete_check(struct op *op)
{
	struct viva_env *env = op_env(op);
	struct spec *s = NULL;
	json_t *found = NULL;
	char why[512] = "";
	int rc;

	if (catalog_get(env, op_target(op), &s) != VIVA_OK)
		return op_fail(op, VIVA_ENOENT, "there is no pipeline named %s any more", op_target(op));
	rc = env->kube ? connected_batches(env, s, &found, why, sizeof(why)) : VIVA_OK;
	if (rc != VIVA_OK)
		rc = op_fail(op, rc, "%s", why);
	else if (json_array_size(found) > 0) {
		char *list = join_strings(found, 20);
		rc = op_fail(op, VIVA_EBUSY, "batches are connected again: %s", list);
		free(list);
	}
	if (rc == VIVA_OK && !json_object_get(op_data(op), "cpu_milli")) {
		/* what it runs, for the savings tally: instances x requests where it is deployed */
		struct render_plan plan;
		json_int_t cpu = 0, mem = 0;

		render_plan_init(&plan, s, env->cfg);
		for (size_t i = 0; i < plan.ntargets; i++)
			for (size_t j = 0; j < s->nresources; j++)
				if (strcmp(s->resources[j].env, plan.targets[i].env) == 0) {
					cpu += (json_int_t)s->resources[j].instance * s->resources[j].cpu_milli;
					mem += (json_int_t)s->resources[j].instance * s->resources[j].memory_bytes;
				}
		render_plan_release(&plan);
		json_object_set_new(op_data(op), "cpu_milli", json_integer(cpu));
		json_object_set_new(op_data(op), "memory_bytes", json_integer(mem));
	}
	json_decref(found);
	spec_free(s);
	return rc;
}

static int step_delete_objects(struct op *op)
{
	struct viva_env *env = op_env(op);
	struct render_plan plan;
	struct spec *s = NULL;
	struct strbuf done;
	char why[512] = "";
	int rc = VIVA_OK;

	if (!env->kube)
		return VIVA_OK;
	if (catalog_get(env, op_target(op), &s) != VIVA_OK)
		return op_fail(op, VIVA_ENOENT, "there is no pipeline named %s any more", op_target(op));
	sb_init(&done);
	render_plan_init(&plan, s, env->cfg);
	for (size_t i = 0; i < plan.ntargets && rc == VIVA_OK; i++)
		rc = delete_in(env, s, &plan.targets[i], &done, why, sizeof(why));
	render_plan_release(&plan);
	if (rc != VIVA_OK)
		rc = op_fail(op, rc, "%s%s%s", why, done.len ? "; deleted before that: " : "", done.len ? done.buf : "");
	else
		json_object_set_new(op_data(op), "deleted", json_string(done.len ? done.buf : "nothing was live"));
	sb_release(&done);
	spec_free(s);
	return rc;
}

static int step_delete_mark(struct op *op)
{
	struct viva_env *env = op_env(op);
	char *path = xasprintf("%s/%s.yaml", env->cfg->pipelines_dir, op_target(op));
	char *gone = xasprintf("%s.deleted", path);
	int rc;

	/* the spec directory of record must not bring it back at the next apply */
	if (rename(path, gone) != 0 && errno != ENOENT)
		log_warn("deleted pipeline's spec file not renamed", "path=%s errno=%d", path, errno);
	rc = store_service_mark_deleted(env->store, op_target(op), env->clock->now(env->clock));
	free(path);
	free(gone);
	if (rc != VIVA_OK && rc != VIVA_ENOENT)
		return op_fail(op, rc, "the catalog could not record the deletion (%s)", viva_strerror(rc));
	{
		/* into the savings tally, once for this operation */
		const char *via = json_string_value(json_object_get(op_data(op), "via"));
		struct store_saving sv = {
			.service = (char *)op_target(op), .removed_at = env->clock->now(env->clock),
			.confirmed_by = (char *)op_started_by(op), .via = (char *)(via ? via : "pipeline delete"),
			.cpu_milli = json_integer_value(json_object_get(op_data(op), "cpu_milli")),
			.memory_bytes = json_integer_value(json_object_get(op_data(op), "memory_bytes")),
		};

		if (store_saving_add(env->store, op_id(op), &sv) != VIVA_OK)
			log_warn("deleted service not added to the savings tally", "svc=%s", op_target(op));
	}
	op_set_outcome(op, "pipeline %s deleted (%s); its spec is kept for the audit log and savings", op_target(op),
		       json_string_value(json_object_get(op_data(op), "deleted")) ?
		       json_string_value(json_object_get(op_data(op), "deleted")) : "no cluster objects");
	return VIVA_OK;
}

static const struct op_step delete_steps[] = {
	{ "check connected batches", step_delete_check, true },
	{ "delete the objects", step_delete_objects, true },
	{ "mark the spec deleted", step_delete_mark, true },
};
const struct op_kind op_pipeline_delete = { "pipeline-delete", delete_steps, 3 };

/* Start the deletion; its message is the one the button was on, and the
 * button's one-time claim (click_key, may be NULL) is settled by it. */
/*
 * Start the deletion. Its message is the one the button was on, or, from a
 * report of many (via: the unused audit), a new one in that channel while
 * the clicked row says who started it.
 */
static int start_delete(struct viva_ctx *ctx, const char *svc, const char *channel, const char *ts,
			const char *click_key, const char *via)
{
	char why[512];
	int64_t id = 0;
	int rc;
	json_t *data = json_pack("{s:s}", "via", via ? via : "pipeline delete");
	struct op_request rq = { .kind = &op_pipeline_delete, .target = svc, .user = ctx->user_id, .data = data,
				 .channel = channel && *channel ? channel : NULL, .message_ts = ts && *ts ? ts : NULL,
				 .audit_id = ctx->audit_id, .click_key = click_key };

	rc = ops_submit(ctx->env, &rq, &id, why, sizeof(why));
	json_decref(data);
	ctx->op_id = id;
	if (rc != VIVA_OK)
		return reply_error(ctx, rc, NULL, "`%s` was not deleted: %s.", svc, why);
	ctx->op_async = ctx->env->ops != NULL;
	dispatch_audit(ctx, NULL, json_pack("{s:I}", "operation", (json_int_t)id));
	if (via && json_object_get(ctx->payload, "message")) {
		char *note = xasprintf(":wastebasket: Deletion confirmed by <@%s> (operation #%lld).",
				       ctx->user_id ? ctx->user_id : "", (long long)id);
		reply_update_row(ctx, note, true);
		free(note);
	} else {
		reply_text(ctx, REPLY_REPLACE, "Deleting pipeline `%s` (operation #%lld), asked by <@%s>. This message "
			   "shows how it goes.", svc, (long long)id, ctx->user_id ? ctx->user_id : "");
	}
	return VIVA_OK;
}

int pipeline_delete_flow(struct viva_ctx *ctx, const char *svc, const char *via)
{
	json_t *container = json_object_get(ctx->payload, "container");
	const char *channel = json_string_value(json_object_get(container, "channel_id")) ?
			      json_string_value(json_object_get(container, "channel_id")) : ctx->channel_id;
	/* from a report of many, the deletion reports in a message of its own */
	const char *ts = via ? NULL : json_string_value(json_object_get(container, "message_ts"));
	struct spec *s = NULL;
	int rc = load_active(ctx, svc, &s);

	if (rc)
		return rc;
	rc = check_no_batches(ctx, s);
	if (rc != VIVA_OK && via && json_object_get(ctx->payload, "message")) {
		/* the row says why, and keeps its buttons */
		char *note = xasprintf(":no_entry: %s", ctx->outcome_detail ? ctx->outcome_detail : "Not deleted.");
		reply_update_row(ctx, note, false);
		free(note);
	} else if (rc == VIVA_OK && has_prod(s, ctx->env->cfg)) {
		/* production: the name is typed in a form, which starts it and
		 * claims the button then (its key travels with the form) */
		json_t *meta = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "svc", svc, "channel", channel ? channel : "",
					 "ts", ts ? ts : "", "click", ctx->action_key, "via", via), *data, *view = NULL;
		char *m = json_dumps(meta, JSON_COMPACT);

		data = json_pack("{s:s, s:s}", "name", svc, "meta", m);
		rc = reply_render(ctx, "slack/pipeline_delete_modal", data, &view);
		if (rc == VIVA_OK)
			rc = reply_open_view(ctx, view);
		if (rc == VIVA_OK && ctx->action_key)
			/* nothing deleted yet: the button stays usable until the form starts it */
			store_action_release(ctx->env->store, ctx->action_key);
		dispatch_audit(ctx, NULL, json_pack("{s:s}", "step", "production: the name is asked in a form"));
		json_decref(view);
		json_decref(data);
		json_decref(meta);
		free(m);
	} else if (rc == VIVA_OK) {
		rc = start_delete(ctx, svc, channel, ts, ctx->action_key, via);
	}
	spec_free(s);
	return rc;
}

int act_pipeline_delete(struct viva_ctx *ctx)
{
	return pipeline_delete_flow(ctx, json_string_value(json_object_get(ctx->value, "svc")), NULL);
}

/* The production form stays open with msg beside the name; returns rc. */
static int form_error(struct viva_ctx *ctx, int rc, const char *msg)
{
	json_t *errors = json_pack("{s:s}", "confirm_name", msg);

	reply_view_errors(ctx, errors);
	json_decref(errors);
	return rc;
}

/*
 * The production form acts for the button that opened it: it claims the
 * button's one-time key (bot/dispatch.c), so that the operation settles it
 * and a later click on that button is told the deletion was done. As for
 * the button, that state answers first: a form submitted after the deletion
 * was asked for from the same message is told so, not "no such pipeline".
 */
static int claim_button(struct viva_ctx *ctx, const char *key)
{
	int rc;

	if (!key)
		return VIVA_OK;   /* a form opened before viva carried the key */
	rc = store_action_claim(ctx->env->store, key, ctx->user_id ? ctx->user_id : "",
				ctx->env->clock->now(ctx->env->clock));
	if (rc == VIVA_EDUP)
		return form_error(ctx, rc, "This deletion was already asked for from the same message: its message "
				  "says how it went.");
	if (rc != VIVA_OK)
		return form_error(ctx, rc, "viva could not record this deletion, so it did nothing. Try again in a "
				  "moment.");
	return rc;
}

int act_pipeline_delete_confirm(struct viva_ctx *ctx)
{
	json_t *view = json_object_get(ctx->payload, "view");
	json_t *meta = json_loads(json_string_value(json_object_get(view, "private_metadata")) ?
				  json_string_value(json_object_get(view, "private_metadata")) : "", 0, NULL);
	const char *svc = json_string_value(json_object_get(meta, "svc"));
	const char *click = json_string_value(json_object_get(meta, "click"));
	const char *typed = json_string_value(json_object_get(json_object_get(json_object_get(json_object_get(
		json_object_get(view, "state"), "values"), "confirm_name"), "value"), "value"));
	char why[256];
	int rc;

	if (!svc || !is_dns1123_label(svc)) {
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "That form carries a value viva did not write.");
		click = NULL;
		goto out;
	}
	dispatch_audit(ctx, svc, NULL);
	rc = claim_button(ctx, click);
	if (rc != VIVA_OK) {
		click = NULL;   /* not ours to release */
		goto out;
	}
	rc = auth_check(ctx->env, ctx->user_id, CMD_OWNER, svc, why, sizeof(why));
	if (rc != VIVA_OK) {
		rc = form_error(ctx, rc == VIVA_ENOENT ? VIVA_ENOENT : VIVA_EDENIED, why);
		goto out;
	}
	if (!typed || strcmp(typed, svc) != 0) {
		rc = form_error(ctx, VIVA_EINVAL, "Type the pipeline's name exactly to delete it.");
		goto out;
	}
	rc = start_delete(ctx, svc, json_string_value(json_object_get(meta, "channel")),
			  json_string_value(json_object_get(meta, "ts")), click,
			  json_string_value(json_object_get(meta, "via")));
out:
	if (rc != VIVA_OK && click)
		/* nothing deleted: the button may be used again (an operation that
		 * ended failed has released it already) */
		store_action_release(ctx->env->store, click);
	json_decref(meta);
	return rc;
}
