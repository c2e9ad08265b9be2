#include "bot/dispatch.h"
#include "bot/auth.h"
#include "bot/model/catalog.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"
#include "store/audit.h"
#include "store/envelopes.h"
#include "store/operations.h"
#include "bot/ops.h"

#include <string.h>

#define MAX_WORDS 32

const char *dispatch_slash(const struct viva_env *env)
{
	return env->cfg && env->cfg->slash_command ? env->cfg->slash_command : "/viva";
}

char *dispatch_usage(struct viva_env *env, const char *usage)
{
	return xasprintf("%s %s", dispatch_slash(env), usage);
}

/* What the audit log says happened: "ok", "denied: <why>", "<error>: <detail>". */
static char *outcome_text(struct viva_ctx *ctx, int rc)
{
	const char *d = ctx->outcome_detail;
	size_t n;

	if (rc == VIVA_OK)
		return xstrdup("ok");
	if (!d || !*d)
		return xstrdup(viva_strerror(rc));
	n = strlen(d);
	/* whole characters only, and short enough for the audit page */
	n = mrkdwn_fit(d, n, 400);
	return xasprintf("%s: %.*s", viva_strerror(rc), (int)n, d);
}

static void audit(struct viva_ctx *ctx, const char *action, const char *result)
{
	char *params = NULL;
	int64_t now;

	if (!ctx->env->store)
		return;
	now = ctx->env->clock ? ctx->env->clock->now(ctx->env->clock) : 0;
	if (ctx->audit_params)
		params = json_dumps(ctx->audit_params, JSON_COMPACT | JSON_SORT_KEYS);
	if (store_audit_add(ctx->env->store, now, ctx->user_id ? ctx->user_id : "", action,
			    ctx->audit_target ? ctx->audit_target : "", params, result) != VIVA_OK)
		log_error("audit log write failed", "action=%s", action);
	free(params);
}

static void audit_outcome(struct viva_ctx *ctx, const char *action, int rc)
{
	char *r = outcome_text(ctx, rc);

	audit(ctx, action, r);
	free(r);
}

/* params as JSON text for the audit log (caller frees), or NULL. */
static char *params_text(struct viva_ctx *ctx)
{
	return ctx->audit_params ? json_dumps(ctx->audit_params, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

/*
 * Run a handler. A change is audited fail-closed: its row is written before
 * it runs ("running"), and when that cannot be written (a full disk, a
 * locked database) the action does not run and the user is told; the row
 * gets the outcome afterwards, with what the handler added to it.
 */
static int run_handler(struct viva_ctx *ctx, const char *what, bool write, int (*fn)(struct viva_ctx *),
		       const char *fail_fmt)
{
	int64_t id = 0;
	int answered, rc;
	char *params, *result;

	if (write && ctx->env->store) {
		params = params_text(ctx);
		rc = store_audit_begin(ctx->env->store, ctx->env->clock->now(ctx->env->clock),
				       ctx->user_id ? ctx->user_id : "", what,
				       ctx->audit_target ? ctx->audit_target : "", params, &id);
		free(params);
		if (rc != VIVA_OK) {
			log_error("audit log write failed; action not run", "action=%s err=\"%s\"", what,
				  viva_strerror(rc));
			return reply_error(ctx, VIVA_EIO, NULL, "viva could not write its audit log (%s), so it did "
					   "nothing. Try again; if it goes on, an admin should look at viva's disk "
					   "and database.", viva_strerror(rc));
		}
	}
	answered = ctx->reply ? ctx->reply->answered : 0;
	ctx->audit_id = id;
	rc = fn(ctx);
	/* A handler that failed without a word still gets the user told. */
	if (rc != VIVA_OK && ctx->reply && ctx->reply->answered == answered)
		reply_error(ctx, rc, NULL, fail_fmt, what, viva_strerror(rc));
	if (id && rc == VIVA_OK && ctx->op_async) {
		/* the operation runs on and writes the outcome when it ends */
		params = params_text(ctx);
		if (store_audit_update(ctx->env->store, id, ctx->audit_target, params) != VIVA_OK)
			log_error("audit log entry not updated", "action=%s id=%lld", what, (long long)id);
		free(params);
	} else if (id) {
		params = params_text(ctx);
		result = outcome_text(ctx, rc);
		if (store_audit_finish(ctx->env->store, id, ctx->audit_target, params, result) != VIVA_OK)
			log_error("audit log outcome not written", "action=%s id=%lld outcome=\"%s\"", what,
				  (long long)id, result);
		free(params);
		free(result);
	}
	return rc;
}

/* The action counter's label for an outcome. */
static const char *outcome_label(int rc)
{
	switch (rc) {
	case VIVA_OK:      return "ok";
	case VIVA_EDENIED: return "denied";
	case VIVA_EDUP:    return "duplicate";
	case VIVA_EINVAL:
	case VIVA_ENOENT:  return "invalid";
	default:           return "failed";
	}
}

static void ctx_set_audit(struct viva_ctx *ctx, const char *target, json_t *params)
{
	free(ctx->audit_target);
	ctx->audit_target = xstrdup(target);
	json_decref(ctx->audit_params);
	ctx->audit_params = params;
}

static void ctx_clear_audit(struct viva_ctx *ctx)
{
	free(ctx->audit_target);
	ctx->audit_target = NULL;
	json_decref(ctx->audit_params);
	ctx->audit_params = NULL;
	free(ctx->outcome_detail);
	ctx->outcome_detail = NULL;
}

void dispatch_audit(struct viva_ctx *ctx, const char *target, json_t *params)
{
	if (target) {
		free(ctx->audit_target);
		ctx->audit_target = xstrdup(target);
	}
	if (!params)
		return;
	if (!ctx->audit_params)
		ctx->audit_params = params;
	else {
		json_object_update(ctx->audit_params, params);
		json_decref(params);
	}
}

/*
 * A registry action answers to the pipeline that owns the image repository:
 * its rights are the ones checked, and the action is audited under it with
 * the repository named, so that `/viva audit OWNER` shows every move of its
 * images whoever asked under which name. Returns the owner (caller frees),
 * or NULL when svc is not an active service (auth_check says so).
 */
static char *image_authority(struct viva_ctx *ctx, const char *svc)
{
	char *image = NULL, *owner = NULL;

	if (catalog_image_owner(ctx->env, svc, &image, &owner) != VIVA_OK)
		return NULL;
	if (strcmp(owner, svc) != 0)
		log_warn("image owned by another pipeline", "svc=%s image=%s owner=%s", svc, image, owner);
	dispatch_audit(ctx, owner, json_pack("{s:s, s:s}", "service", svc, "image", image));
	free(image);
	return owner;
}

/* Usage of every command in a group, e.g. after "/viva pipeline". */
static int reply_group_usage(struct viva_ctx *ctx, const char *group, const char *msg)
{
	const struct cmd *rows[32];
	size_t n = cmd_group(group, rows, 32);
	struct strbuf sb;

	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		char *u = dispatch_usage(ctx->env, rows[i]->usage);
		sb_addf(&sb, "%s%s", i ? "\n" : "", u);
		free(u);
	}
	reply_error(ctx, VIVA_EINVAL, sb.buf, "%s", msg);
	sb_release(&sb);
	return VIVA_EINVAL;
}

/* A refusal is an outcome of its own: audited under the action it refused. */
static int deny(struct viva_ctx *ctx, const char *what, const char *why)
{
	char *result = xasprintf("denied: %s", why);

	audit(ctx, what, result);
	free(result);
	log_info("request denied", "user=%s what=\"%s\"", ctx->user_id ? ctx->user_id : "", what);
	return reply_error(ctx, VIVA_EDENIED, NULL, "Sorry, %s.", why);
}

int dispatch_command(struct viva_ctx *ctx, const char *text)
{
	char **argv = NULL, *authority = NULL;
	int argc = 0, used = 0, rc;
	const struct cmd *c;
	char why[256];
	char *usage = NULL, *clean = NULL;

	clean = utf8_sanitize(text ? text : "", text ? strlen(text) : 0);
	rc = argv_split(clean, MAX_WORDS, &argc, &argv);
	if (rc == VIVA_EINVAL) {
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "That command has an unterminated quote. Try `%s help`.",
				 dispatch_slash(ctx->env));
		goto out;
	}
	if (rc == VIVA_ERANGE) {
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "That command has too many words (at most %d).",
				 MAX_WORDS);
		goto out;
	}
	if (argc == 0) {
		/* A bare `/viva` is a request for help. */
		char *help[] = { "help", NULL };
		c = cmd_lookup(1, help, &used);
		used = 0;
	} else {
		c = cmd_lookup(argc, argv, &used);
	}
	if (!c) {
		const struct cmd *rows[1];
		if (cmd_group(argv[0], rows, 1) > 0) {
			rc = reply_group_usage(ctx, argv[0], "Which one? The commands of this group are:");
			goto out;
		}
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "Unknown command `%s`. Try `%s help` for the list.",
				 argv[0], dispatch_slash(ctx->env));
		goto out;
	}
	ctx->cmd = c;
	ctx->argc = argc - used;
	ctx->argv = argv + used;
	usage = dispatch_usage(ctx->env, c->usage);
	if (ctx->argc < c->min_args || ctx->argc > c->max_args) {
		rc = reply_error(ctx, VIVA_EINVAL, usage, "`%s` takes %s.", c->name,
				 ctx->argc < c->min_args ? "more arguments" : "fewer arguments");
		goto out;
	}
	if ((c->flags & CMD_SVC) && ctx->argc > 0 && !is_dns1123_label(ctx->argv[0])) {
		rc = reply_error(ctx, VIVA_EINVAL, usage,
				 "`%s` is not a valid service name (lower-case letters, digits and '-', "
				 "at most 63 characters, starting and ending with a letter or digit).",
				 ctx->argv[0]);
		goto out;
	}
	if ((c->flags & CMD_SVC) && ctx->argc > 0)
		ctx_set_audit(ctx, ctx->argv[0], NULL);
	if ((c->flags & CMD_IMAGE) && ctx->argc > 0)
		authority = image_authority(ctx, ctx->argv[0]);
	rc = auth_check(ctx->env, ctx->user_id, c->flags,
			authority ? authority : ctx->argc > 0 ? ctx->argv[0] : NULL, why, sizeof(why));
	if (rc == VIVA_ENOENT) {
		rc = reply_error(ctx, VIVA_ENOENT, usage, "Sorry, %s.", why);
		if (c->flags & CMD_WRITE)
			audit_outcome(ctx, c->name, rc);
		goto out;
	}
	if (rc != VIVA_OK) {
		rc = deny(ctx, c->name, why);
		goto out;
	}
	log_info("command", "user=%s cmd=\"%s\" args=%d", ctx->user_id ? ctx->user_id : "", c->name, ctx->argc);
	ctx->op_async = false;
	rc = run_handler(ctx, c->name, c->flags & CMD_WRITE, c->fn, "`%s` failed: %s.");
	log_info("command done", "user=%s cmd=\"%s\" outcome=\"%s\"", ctx->user_id ? ctx->user_id : "",
		 c->name, viva_strerror(rc));
out:
	metrics_action(outcome_label(rc));
	free(usage);
	free(authority);
	free(clean);
	ctx_clear_audit(ctx);
	ctx->argv = NULL;
	ctx->argc = 0;
	argv_free(argv);
	return rc;
}

/*
 * Buttons that change something act once: the first click on a given
 * button of a given message claims it; a second click (or the same click
 * delivered twice under a new envelope id) is told who did it.
 */
static char *action_key(struct viva_ctx *ctx)
{
	json_t *container = json_object_get(ctx->payload, "container");
	const char *ts = json_string_value(json_object_get(container, "message_ts"));
	const char *value = json_string_value(json_object_get(ctx->action, "value"));

	if (!ts)
		ts = json_string_value(json_object_get(json_object_get(ctx->payload, "message"), "ts"));
	return xasprintf("%s|%s|%s", ctx->act->action_id, ts ? ts : "", value ? value : "");
}

/*
 * Has this button been used already, to its end (a result) or to an
 * operation (which answers for it)? A claim still without either is a first
 * click in flight, which the claim itself settles.
 */
static bool action_settled(struct viva_ctx *ctx, const char *key)
{
	char *user = NULL, *result = NULL;
	int64_t ts = 0, op_id = 0;
	bool settled = store_action_get(ctx->env->store, key, &user, &ts, &result, &op_id) == VIVA_OK &&
		       (result || op_id);

	free(user);
	free(result);
	return settled;
}

static int already_done(struct viva_ctx *ctx, const char *key)
{
	char *user = NULL, *result = NULL, *who, *when;
	int64_t ts = 0, op_id = 0;
	json_t *data;

	store_action_get(ctx->env->store, key, &user, &ts, &result, &op_id);
	if (op_id) {
		/* tied to an operation: its state is the answer */
		struct store_op op;

		if (store_op_get(ctx->env->store, op_id, &op) == VIVA_OK) {
			const struct op_kind *k = op_kind_lookup(op.kind);

			free(result);
			result = op.state == OP_RUNNING
				 ? xasprintf("%s #%lld is still running (step %d of %zu)", op.kind, (long long)op.id,
					     op.step + 1, k ? k->nsteps : (size_t)0)
				 : xasprintf("%s #%lld %s: %s", op.kind, (long long)op.id, store_op_state_name(op.state),
					     op.outcome ? op.outcome : "");
			store_op_release(&op);
		}
	}
	log_info("repeated click ignored", "action_id=%s user=%s first_by=%s", ctx->act->action_id,
		 ctx->user_id ? ctx->user_id : "", user ? user : "?");
	who = mrkdwn_user(user);
	when = mrkdwn_date(ts);
	data = json_pack("{s:s, s:s, s:s, s:s}", "who", who, "when", when, "result", result ? result : "still running",
			 "action", ctx->act->summary);
	reply_template(ctx, "slack/already_done", data, REPLY_EPHEMERAL);
	json_decref(data);
	free(when);
	free(who);
	free(user);
	free(result);
	return VIVA_EDUP;
}

int dispatch_interaction(struct viva_ctx *ctx, json_t *payload)
{
	const char *type = json_string_value(json_object_get(payload, "type"));
	const char *id = NULL, *svc = NULL;
	const struct act *a;
	char why[256];
	char *key = NULL, *authority = NULL;
	unsigned need = 0;
	int rc;

	ctx->payload = payload;
	if (type && strcmp(type, "block_actions") == 0) {
		ctx->action = json_array_get(json_object_get(payload, "actions"), 0);
		id = json_string_value(json_object_get(ctx->action, "action_id"));
	} else if (type && strcmp(type, "view_submission") == 0) {
		id = json_string_value(json_object_get(json_object_get(payload, "view"), "callback_id"));
	} else {
		log_info("interaction ignored", "type=%s", type ? type : "(none)");
		return VIVA_OK;
	}
	a = act_lookup(id);
	if (!a || ((a->flags & ACT_VIEW) != 0) != (strcmp(type, "view_submission") == 0)) {
		log_warn("unknown action", "type=%s action_id=%s", type, id ? id : "(none)");
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "viva does not know the action `%s`.", id ? id : "(none)");
		goto out;
	}
	ctx->act = a;
	if (a->flags & (ACT_DEPLOY | ACT_OWNER)) {
		/* Service-scoped buttons carry {"svc": ...} in their value. */
		json_t *v = json_loads(json_string_value(json_object_get(ctx->action, "value")) ?
				       json_string_value(json_object_get(ctx->action, "value")) : "", 0, NULL);
		ctx->value = v;
		svc = json_string_value(json_object_get(v, "svc"));
		if (!svc || !is_dns1123_label(svc)) {
			/* a forged click is an attempt: on the record, with what came */
			const char *raw = json_string_value(json_object_get(ctx->action, "value"));
			char *shown = utf8_sanitize(raw ? raw : "", raw ? strnlen(raw, 200) : 0);

			rc = reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
			if (a->flags & ACT_WRITE) {
				dispatch_audit(ctx, NULL, json_pack("{s:s}", "value", shown));
				audit_outcome(ctx, a->action_id, rc);
			}
			free(shown);
			goto out;
		}
		ctx_set_audit(ctx, svc, NULL);
		need = (a->flags & ACT_OWNER) ? CMD_OWNER : CMD_DEPLOY;
	}
	if ((a->flags & ACT_WRITE) && !(a->flags & ACT_VIEW)) {
		key = action_key(ctx);
		/* A button already used answers first, before what it names is
		 * looked up: after a deletion there is no such service any more,
		 * and the second click is owed what happened, not "no pipeline
		 * named". It runs nothing, and says what the message the first
		 * click updated already shows the channel. */
		if (action_settled(ctx, key)) {
			rc = already_done(ctx, key);
			goto out;
		}
	}
	if (a->flags & ACT_ADMIN)
		need |= CMD_ADMIN;
	if ((a->flags & ACT_IMAGE) && svc)
		authority = image_authority(ctx, svc);
	rc = auth_check(ctx->env, ctx->user_id, need, authority ? authority : svc, why, sizeof(why));
	if (rc == VIVA_ENOENT) {
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "Sorry, %s.", why);
		if (a->flags & ACT_WRITE)
			audit_outcome(ctx, a->action_id, rc);
		goto out;
	}
	if (rc != VIVA_OK) {
		rc = deny(ctx, a->action_id, why);
		goto out;
	}
	if (key) {
		rc = store_action_claim(ctx->env->store, key, ctx->user_id ? ctx->user_id : "",
					ctx->env->clock->now(ctx->env->clock));
		if (rc == VIVA_EDUP) {
			rc = already_done(ctx, key);
			goto out;
		}
		if (rc != VIVA_OK) {
			/* fail closed: a click that cannot be recorded could run twice */
			log_error("click not recorded; action not run", "action_id=%s err=\"%s\"", a->action_id,
				  viva_strerror(rc));
			free(key);
			key = NULL;
			rc = reply_error(ctx, VIVA_EIO, NULL, "viva could not record this click (%s), so it did "
					 "nothing. Try again in a moment.", viva_strerror(rc));
			goto out;
		}
	}
	log_info("action", "user=%s action_id=%s", ctx->user_id ? ctx->user_id : "", a->action_id);
	ctx->action_key = key;
	ctx->op_id = 0;
	ctx->op_async = false;
	rc = run_handler(ctx, a->action_id, a->flags & ACT_WRITE, a->fn, "`%s` did not work: %s.");
	ctx->action_key = NULL;
	if (key && ctx->op_id) {
		/* the operation it started settles the claim when it ends */
	} else if (key) {
		/* A failed action may be tried again with the same button. */
		if (rc == VIVA_OK)
			store_action_finish(ctx->env->store, key, "done");
		else
			store_action_release(ctx->env->store, key);
	}
	log_info("action done", "user=%s action_id=%s outcome=\"%s\"", ctx->user_id ? ctx->user_id : "",
		 a->action_id, viva_strerror(rc));
out:
	metrics_action(outcome_label(rc));
	free(key);
	free(authority);
	json_decref(ctx->value);
	ctx->value = NULL;
	ctx_clear_audit(ctx);
	return rc;
}
