/*
 * Promote (SPEC section 6) as a durable operation: the intent is recorded
 * before the registry is touched, each step is recorded as it completes,
 * and a crash anywhere is settled at the next start by reading the target's
 * digest, never by guessing:
 *
 *   1. read the source   the digest of TAG, and what TARGET points at now
 *   2. move the target   PUT TAG's manifest bytes under TARGET, unless
 *                        TARGET already points at them (a PUT applied
 *                        before a crash or a connection reset); after a
 *                        restart, refused if someone else moved TARGET
 *   3. verify            TARGET's digest, read back, is TAG's
 *   4. update the CronJobs  a batch service's CronJobs run IMAGE:TAG
 *
 * Every step can run again, so a restart resumes where it stopped.
 */
#include "handlers/promote.h"
#include "handlers/tags.h"
#include "bot/clients/kube.h"
#include "bot/clients/registry.h"
#include "bot/k8s/apply.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/ops.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "bot/lib/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dstr(struct op *op, const char *key)
{
	const char *v = json_string_value(json_object_get(op_data(op), key));

	return v ? v : "";
}

static struct registry *registry_of(struct op *op)
{
	return op_env(op)->registry;
}

/* TARGET's digest now: VIVA_OK with *digest ("" when the tag does not exist). */
static int target_digest(struct op *op, char **digest)
{
	int rc = registry_head_manifest(registry_of(op), dstr(op, "image"), dstr(op, "target"), digest);

	if (rc == VIVA_ENOENT) {
		*digest = xstrdup("");
		return VIVA_OK;
	}
	return rc;
}

static int step_read_source(struct op *op)
{
	struct registry_manifest m = { 0 };
	char *before = NULL;
	int rc;

	if (!registry_of(op))
		return op_fail(op, VIVA_EUNAVAIL, "no registry is configured");
	rc = registry_get_manifest(registry_of(op), dstr(op, "image"), dstr(op, "tag"), &m);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s", registry_last_error());
	rc = target_digest(op, &before);
	if (rc != VIVA_OK) {
		registry_manifest_release(&m);
		return op_fail(op, rc, "%s", registry_last_error());
	}
	json_object_set_new(op_data(op), "source_digest", json_string(m.digest));
	json_object_set_new(op_data(op), "target_before", json_string(before));
	registry_manifest_release(&m);
	free(before);
	return VIVA_OK;
}

static int step_move_target(struct op *op)
{
	const char *source = dstr(op, "source_digest"), *before = dstr(op, "target_before");
	struct registry_manifest m = { 0 };
	char *now = NULL, *put = NULL;
	int rc;

	if (!registry_of(op))
		return op_fail(op, VIVA_EUNAVAIL, "no registry is configured");
	rc = target_digest(op, &now);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s", registry_last_error());
	if (strcmp(now, source) == 0) {
		/* already there: a PUT applied before a crash or a reset, or a no-op */
		json_object_set_new(op_data(op), "applied", json_string(strcmp(before, source) == 0 ? "unchanged"
									  : "before a restart"));
		free(now);
		return VIVA_OK;
	}
	if (op_resumed(op) && strcmp(now, before) != 0) {
		rc = op_fail(op, VIVA_ECONFLICT, "%s:%s was moved by someone else (to %s) while viva was down; "
			     "nothing was changed", dstr(op, "image"), dstr(op, "target"), *now ? now : "nothing");
		free(now);
		return rc;
	}
	free(now);
	now = NULL;
	/* by digest: the bytes that were read in step 1, even if TAG moved since */
	rc = registry_get_manifest(registry_of(op), dstr(op, "image"), source, &m);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s", registry_last_error());
	rc = registry_put_manifest(registry_of(op), dstr(op, "image"), dstr(op, "target"), &m, &put);
	registry_manifest_release(&m);
	free(put);
	if (rc != VIVA_OK) {
		char *err = xstrdup(registry_last_error());

		/* The answer was lost, not necessarily the PUT: read back. */
		if (target_digest(op, &now) == VIVA_OK && strcmp(now, source) == 0) {
			log_warn("promote: the registry applied a PUT whose answer was lost", "op=%lld err=\"%s\"",
				 (long long)op_id(op), err);
			json_object_set_new(op_data(op), "applied", json_string("answer lost, read back"));
			free(now);
			free(err);
			return VIVA_OK;
		}
		free(now);
		rc = op_fail(op, rc, "%s", err);
		free(err);
		return rc;
	}
	json_object_set_new(op_data(op), "applied", json_string("now"));
	return VIVA_OK;
}

static int step_verify(struct op *op)
{
	const char *source = dstr(op, "source_digest");
	char *now = NULL;
	int rc;

	if (!registry_of(op))
		return op_fail(op, VIVA_EUNAVAIL, "no registry is configured");
	rc = target_digest(op, &now);
	if (rc != VIVA_OK)
		return op_fail(op, rc, "%s", registry_last_error());
	json_object_set_new(op_data(op), "digest_after", json_string(now));
	if (strcmp(now, source) != 0) {
		rc = op_fail(op, VIVA_ECONFLICT, "%s:%s now points at %s, not at %s (the digest of %s); someone may "
			     "have pushed %s at the same time", dstr(op, "image"), dstr(op, "target"),
			     *now ? now : "nothing", source, dstr(op, "tag"), dstr(op, "target"));
		free(now);
		return rc;
	}
	op_set_outcome(op, "%s:%s is now %s (%s)", dstr(op, "image"), dstr(op, "target"), dstr(op, "tag"), now);
	free(now);
	return VIVA_OK;
}

/* "host:5000/team/svc:tag" or "...@sha256:..." -> "host:5000/team/svc" (in buf). */
static const char *repo_part(const char *image, char *buf, size_t len)
{
	const char *at = strchr(image, '@'), *slash, *colon;
	size_t n = at ? (size_t)(at - image) : strlen(image);

	snprintf(buf, len, "%.*s", (int)n, image);
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (colon && (!slash || colon > slash))
		buf[colon - buf] = '\0';
	return buf;
}

/*
 * A batch service's CronJobs run the promoted tag (SPEC section 6): in every
 * environment, each CronJob labelled app=SVC gets the image of its
 * containers that run the service's image set to IMAGE:TAG (a strategic
 * merge by container name, as field manager viva-deploy: the images are the
 * deploy side's, never `pipeline apply`'s). Setting an image that is
 * already there changes nothing, so the step can run again.
 */
static int step_cronjobs(struct op *op)
{
	struct viva_env *env = op_env(op);
	struct spec *s = NULL;
	struct render_plan plan;
	char *registry = NULL, *want_repo, *image;
	json_t *done = json_array();
	int rc = VIVA_OK;

	if (catalog_get(env, dstr(op, "service"), &s) != VIVA_OK || s->nbatches == 0 || !env->kube) {
		json_object_set_new(op_data(op), "cronjobs", done);
		spec_free(s);
		return VIVA_OK;   /* no batch, or no cluster to hold one */
	}
	registry = env->cfg->registry_url ? render_registry_host(env->cfg->registry_url) : NULL;
	want_repo = registry && *registry ? xasprintf("%s/%s", registry, dstr(op, "image")) : xstrdup(dstr(op, "image"));
	image = xasprintf("%s:%s", want_repo, dstr(op, "tag"));
	render_plan_init(&plan, s, env->cfg);
	for (size_t i = 0; i < plan.ntargets && rc == VIVA_OK; i++) {
		const struct render_target *t = &plan.targets[i];
		struct kube *k = NULL;
		json_t *items = NULL, *cj;
		size_t j;

		rc = k8s_list_service(env, t, &kube_cronjobs, s->name, 1000, &k, &items);
		if (rc != VIVA_OK)
			rc = op_fail(op, rc, "the CronJobs in %s: %s", t->env, kube_last_error());
		json_array_foreach(items, j, cj) {
			const char *name = json_string_value(json_object_get(json_object_get(cj, "metadata"), "name"));
			json_t *containers = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
				json_object_get(cj, "spec"), "jobTemplate"), "spec"), "template"), "spec"), "containers");
			json_t *set = json_array(), *c;
			size_t m;

			json_array_foreach(containers, m, c) {
				const char *img = json_string_value(json_object_get(c, "image"));
				char buf[512];

				if (img && json_string_value(json_object_get(c, "name")) &&
				    strcmp(repo_part(img, buf, sizeof(buf)), want_repo) == 0)
					json_array_append_new(set, json_pack("{s:O, s:s}", "name", json_object_get(c, "name"),
									     "image", image));
			}
			if (name && json_array_size(set) > 0 && rc == VIVA_OK) {
				struct kube_ref ref = { .res = &kube_cronjobs, .ns = t->namespace_, .name = name };
				struct kube_write_opts wo = { .field_manager = "viva-deploy" };
				json_t *patch = json_pack("{s:{s:{s:{s:{s:{s:O}}}}}}", "spec", "jobTemplate", "spec", "template",
							  "spec", "containers", set);

				rc = kube_patch(k, &ref, KUBE_PATCH_STRATEGIC, patch, &wo, NULL);
				json_decref(patch);
				if (rc != VIVA_OK)
					rc = op_fail(op, rc, "CronJob %s in %s: %s (updated before it: %zu)", name, t->env,
						     kube_last_error(), json_array_size(done));
				else
					json_array_append_new(done, json_sprintf("%s/%s", t->env, name));
			}
			json_decref(set);
		}
		json_decref(items);
	}
	render_plan_release(&plan);
	if (rc == VIVA_OK)
		json_object_set_new(op_data(op), "cronjobs", done);
	else
		json_decref(done);
	free(image);
	free(want_repo);
	free(registry);
	spec_free(s);
	return rc;
}

static const struct op_step promote_steps[] = {
	{ "read the source", step_read_source, true },
	{ "move the target", step_move_target, true },
	{ "verify", step_verify, true },
	{ "update the CronJobs", step_cronjobs, true },
};

const struct op_kind op_promote = { "promote", promote_steps, sizeof(promote_steps) / sizeof(promote_steps[0]) };

/* Retag and report; from_button: the tags message is replaced by the outcome too. */
static int promote(struct viva_ctx *ctx, const char *svc, const char *tag, const char *target, bool from_button)
{
	char *image = NULL, *who = NULL;
	json_t *data = NULL, *rq_data, *result = NULL;
	char why[512];
	int64_t id = 0;
	int rc;

	if (!registry_valid_tag(tag) || !registry_valid_tag(target)) {
		return reply_error(ctx, VIVA_EINVAL, "/viva promote SVC TAG [TARGET]", "`%s` is not a valid image tag.",
				   registry_valid_tag(tag) ? target : tag);
	}
	rc = tags_image_of(ctx, svc, &image);
	if (rc)
		goto out;
	dispatch_audit(ctx, NULL, json_pack("{s:s, s:s, s:s}", "image", image, "tag", tag, "target", target));
	rq_data = json_pack("{s:s, s:s, s:s, s:s}", "service", svc, "image", image, "tag", tag, "target", target);
	{
		json_t *container = json_object_get(ctx->payload, "container");
		struct op_request rq = {
			.kind = &op_promote, .target = svc, .data = rq_data, .user = ctx->user_id,
			.channel = ctx->channel_id,
			.message_ts = from_button ? json_string_value(json_object_get(container, "message_ts")) : NULL,
			.audit_id = ctx->audit_id, .click_key = ctx->action_key,
		};
		rc = ops_run(ctx->env, &rq, &result, &id, why, sizeof(why));
	}
	json_decref(rq_data);
	ctx->op_id = id;
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "Promotion of `%s` to `%s` failed: %s.", tag, target, why);
		goto out;
	}
	dispatch_audit(ctx, NULL, json_pack("{s:O, s:I}", "digest", json_object_get(result, "digest_after"), "operation",
					    (json_int_t)id));
	who = mrkdwn_user(ctx->user_id);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:b}", "who", who, "service", svc, "image", image,
			 "tag", tag, "target", target, "digest", json_object_get(result, "source_digest"),
			 "digest_after", json_object_get(result, "digest_after"), "verified", 1);
	{
		json_t *cj = json_object_get(result, "cronjobs");
		struct strbuf sb;
		size_t i;
		json_t *v;

		sb_init(&sb);
		json_array_foreach(cj, i, v)
			sb_addf(&sb, "%s`%s`", i ? ", " : "", json_string_value(v));
		json_object_set_new(data, "cronjobs", json_string(sb.len ? sb.buf : ""));
		sb_release(&sb);
	}
	if (from_button)
		reply_template(ctx, "slack/tag_promoted", data, REPLY_REPLACE);
	reply_template(ctx, "slack/tag_promoted", data, REPLY_IN_CHANNEL);
	log_info("promoted", "svc=%s image=%s tag=%s target=%s digest=%s op=%lld applied=\"%s\"", svc, image, tag,
		 target, json_string_value(json_object_get(result, "digest_after")), (long long)id,
		 json_string_value(json_object_get(result, "applied")));
out:
	json_decref(data);
	json_decref(result);
	free(image);
	free(who);
	return rc;
}

int cmd_promote(struct viva_ctx *ctx)
{
	return promote(ctx, ctx->argv[0], ctx->argv[1], ctx->argc > 2 ? ctx->argv[2] : "latest", false);
}

int act_tag_promote(struct viva_ctx *ctx)
{
	const char *svc = json_string_value(json_object_get(ctx->value, "svc"));
	const char *tag = json_string_value(json_object_get(ctx->value, "tag"));
	const char *target = json_string_value(json_object_get(ctx->value, "target"));

	if (!tag)
		return reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	return promote(ctx, svc, tag, target ? target : "latest", true);
}
