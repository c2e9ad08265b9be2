#include "bot/runtime.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/slack/api.h"
#include "bot/lib/alloc.h"
#include "store/envelopes.h"

#include <string.h>

/* Replies for one request, delivered through the Web API. */
struct slack_reply {
	struct reply base;
	struct viva_env *env;
	const char *response_url;
	const char *channel;
	const char *user;
	const char *trigger_id;
	const char *message_ts;     /* the message a click came from */
	bool ephemeral;             /* ...and it was ephemeral (chat.update cannot touch it) */
	int response_url_uses;
	json_t *view_response;      /* what goes in a view_submission's ack */
};

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* response_url may be used 5 times in 30 minutes (slack-protocol.md section 3). */
#define RESPONSE_URL_MAX_USES 5

static int post_message(struct slack_reply *r, const char *channel, json_t *msg, bool ephemeral)
{
	json_t *args = json_copy(msg), *resp = NULL;   /* shallow: only top-level keys are added */
	int rc;

	json_object_set_new(args, "channel", json_string(channel));
	if (ephemeral)
		json_object_set_new(args, "user", json_string(r->user ? r->user : ""));
	rc = slack_call(r->env->slack, ephemeral ? "chat.postEphemeral" : "chat.postMessage", args, &resp);
	json_decref(args);
	json_decref(resp);
	return rc;
}

static int via_response_url(struct slack_reply *r, json_t *msg, unsigned flags)
{
	json_t *body = json_copy(msg);   /* shallow: only top-level keys are added */
	int rc;

	if (flags & REPLY_REPLACE)
		json_object_set_new(body, "replace_original", json_true());
	else {
		json_object_set_new(body, "replace_original", json_false());
		json_object_set_new(body, "response_type",
				    json_string(flags & REPLY_IN_CHANNEL ? "in_channel" : "ephemeral"));
	}
	r->response_url_uses++;
	rc = slack_respond(r->env->slack, r->response_url, body);
	json_decref(body);
	return rc;
}

static int sink_send(struct reply *base, json_t *msg, unsigned flags)
{
	struct slack_reply *r = base->self;
	int rc = VIVA_EUNAVAIL;

	if (r->response_url && *r->response_url && r->response_url_uses < RESPONSE_URL_MAX_USES) {
		rc = via_response_url(r, msg, flags);
		if (rc == VIVA_OK)
			return rc;
	}
	/* No usable response_url (expired, used up, scheduled job): post. */
	if (r->ephemeral && r->channel && r->user)
		return post_message(r, r->channel, msg, true);   /* never make a private page public */
	if ((flags & REPLY_REPLACE) && r->message_ts && r->channel) {
		json_t *args = json_copy(msg), *resp = NULL;   /* shallow: only top-level keys are added */
		json_object_set_new(args, "channel", json_string(r->channel));
		json_object_set_new(args, "ts", json_string(r->message_ts));
		rc = slack_call(r->env->slack, "chat.update", args, &resp);
		json_decref(args);
		json_decref(resp);
		if (rc == VIVA_OK)
			return rc;
	}
	if (r->channel)
		rc = post_message(r, r->channel, msg, !(flags & (REPLY_IN_CHANNEL | REPLY_REPLACE)) && r->user);
	return rc;
}

static int sink_post(struct reply *base, const char *channel, json_t *msg)
{
	struct slack_reply *r = base->self;

	return post_message(r, channel, msg, false);
}

static int sink_open_view(struct reply *base, json_t *view)
{
	struct slack_reply *r = base->self;
	json_t *args, *resp = NULL;
	int rc;

	if (!r->trigger_id)
		return VIVA_EINVAL;
	args = json_pack("{s:s, s:O}", "trigger_id", r->trigger_id, "view", view);
	rc = slack_call(r->env->slack, "views.open", args, &resp);
	json_decref(args);
	json_decref(resp);
	return rc;
}

static int sink_view_response(struct reply *base, json_t *response)
{
	struct slack_reply *r = base->self;

	json_decref(r->view_response);
	r->view_response = json_incref(response);
	return VIVA_OK;
}

static const struct reply_ops slack_reply_ops = {
	.send = sink_send,
	.post = sink_post,
	.open_view = sink_open_view,
	.view_response = sink_view_response,
};

char *runtime_dedupe_key(const char *envelope_id, const char *type, json_t *payload)
{
	const char *event_id = json_string_value(json_object_get(payload, "event_id"));

	/* Slack re-sends events with a new envelope id; event_id is stable. */
	if (type && strcmp(type, "events_api") == 0 && event_id)
		return xasprintf("event:%s", event_id);
	return xstrdup(envelope_id ? envelope_id : "");
}

/* Where a request's answers go, from its payload (strings borrowed from it). */
static void sink_init(struct slack_reply *r, struct viva_env *env, const char *type, json_t *payload)
{
	memset(r, 0, sizeof(*r));
	r->base.ops = &slack_reply_ops;
	r->base.self = r;
	r->env = env;
	if (type && strcmp(type, "slash_commands") == 0) {
		r->response_url = str(payload, "response_url");
		r->channel = str(payload, "channel_id");
		r->user = str(payload, "user_id");
		r->trigger_id = str(payload, "trigger_id");
	} else if (type && strcmp(type, "interactive") == 0) {
		json_t *container = json_object_get(payload, "container");
		r->response_url = str(payload, "response_url");
		r->channel = str(json_object_get(payload, "channel"), "id");
		if (!r->channel)
			r->channel = str(container, "channel_id");
		r->user = str(json_object_get(payload, "user"), "id");
		r->trigger_id = str(payload, "trigger_id");
		r->message_ts = str(container, "message_ts");
		r->ephemeral = json_is_true(json_object_get(container, "is_ephemeral"));
	}
}

struct reply *runtime_reply_new(struct viva_env *env, const char *type, json_t *payload)
{
	struct slack_reply *r = xmalloc(sizeof(*r));

	sink_init(r, env, type, payload);
	return &r->base;
}

void runtime_reply_free(struct reply *base)
{
	struct slack_reply *r;

	if (!base)
		return;
	r = base->self;
	json_decref(r->view_response);
	free(r);
}

int runtime_run_envelope(struct viva_env *env, const char *envelope_id, const char *type,
			 json_t *payload, json_t **ack_payload)
{
	struct slack_reply r;
	struct viva_ctx ctx;
	char *key = runtime_dedupe_key(envelope_id, type, payload);
	int rc;

	sink_init(&r, env, type, payload);
	if (ack_payload)
		*ack_payload = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.reply = &r.base;
	ctx.user_id = r.user;
	ctx.channel_id = r.channel;
	ctx.trigger_id = r.trigger_id;
	/* without an id there is nothing to tell a second delivery by */
	rc = *key ? store_envelope_claim(env->store, key, type, env->clock->now(env->clock)) : VIVA_EINVAL;
	if (rc == VIVA_EDUP) {
		metrics_duplicate();
		log_info("duplicate envelope skipped", "type=%s key=%s", type, key);
		goto out;
	}
	if (rc != VIVA_OK) {
		/* Fail closed: what cannot be recorded as seen could run twice. */
		log_error("envelope not recorded; not run", "type=%s key=%s err=\"%s\"", type, key,
			  viva_strerror(rc));
		if (strcmp(type, "events_api") != 0)
			reply_error(&ctx, rc == VIVA_EINVAL ? VIVA_EINVAL : VIVA_EIO, NULL,
				    "viva could not record this request (%s), so it did nothing. Try again in a "
				    "moment.", rc == VIVA_EINVAL ? "it came without an envelope id" : viva_strerror(rc));
		rc = rc == VIVA_EINVAL ? VIVA_EINVAL : VIVA_EIO;
		free(ctx.outcome_detail);
		goto out;
	}
	if (strcmp(type, "slash_commands") == 0) {
		json_t *text = json_object_get(payload, "text");

		/* a NUL would cut the command short: run something else than asked */
		if (json_is_string(text) && strlen(json_string_value(text)) != json_string_length(text))
			rc = reply_error(&ctx, VIVA_EINVAL, NULL, "That command contains a NUL character; "
					 "viva runs nothing from it.");
		else
			rc = dispatch_command(&ctx, json_string_value(text) ? json_string_value(text) : "");
	} else if (strcmp(type, "interactive") == 0) {
		rc = dispatch_interaction(&ctx, payload);
		if (ack_payload && r.view_response) {
			*ack_payload = r.view_response;
			r.view_response = NULL;
		}
	} else {
		log_debug("event ignored", "type=%s", type);
		rc = VIVA_OK;
	}
	free(ctx.outcome_detail);
out:
	json_decref(r.view_response);
	free(key);
	return rc;
}

void runtime_tell(struct viva_env *env, json_t *payload, const char *text)
{
	const char *url = str(payload, "response_url");
	json_t *msg;

	if (!url || !env->slack)
		return;
	msg = json_pack("{s:s, s:s, s:b}", "text", text, "response_type", "ephemeral", "replace_original", 0);
	if (slack_respond(env->slack, url, msg) != VIVA_OK)
		metrics_reply("message", 0);
	json_decref(msg);
}
