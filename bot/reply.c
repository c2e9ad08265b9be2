#include "bot/reply.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A message built in code, for when a template itself is what failed. */
static json_t *plain_message(const char *text)
{
	char *clean = utf8_sanitize(text, strlen(text));
	/* mentions viva wrote stay mentions; anything else is shown as typed */
	char *esc = mrkdwn_escape_keep_mentions(clean);
	json_t *msg = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}",
				"text", esc,
				"blocks", "type", "section", "text", "type", "mrkdwn", "text", esc);
	free(esc);
	free(clean);
	return msg;
}

/* Hand msg to the sink; a failed delivery is logged and counted, not returned. */
static void deliver(struct viva_ctx *ctx, json_t *msg, unsigned flags)
{
	int rc;

	if (!ctx->reply || !ctx->reply->ops->send || !json_is_object(msg))
		return;
	ctx->reply->answered++;
	rc = ctx->reply->ops->send(ctx->reply, msg, flags);
	metrics_reply("message", rc);
	if (rc != VIVA_OK && rc != VIVA_EDEFERRED) {
		ctx->reply->undelivered++;
		log_warn("answer not delivered", "user=%s err=\"%s\"", ctx->user_id ? ctx->user_id : "",
			 viva_strerror(rc));
	}
}

void reply_send(struct viva_ctx *ctx, json_t *msg, unsigned flags)
{
	deliver(ctx, msg, flags);
}

static int render(struct viva_ctx *ctx, const char *name, json_t *data, json_t **out)
{
	char err[512];
	int rc = tmpl_render(ctx->env->tmpl, name, data, out, err, sizeof(err));

	if (rc)
		log_error("template render failed", "template=%s err=\"%s\"", name, err);
	return rc;
}

int reply_render(struct viva_ctx *ctx, const char *name, json_t *data, json_t **out)
{
	return render(ctx, name, data, out);
}

int reply_template(struct viva_ctx *ctx, const char *name, json_t *data, unsigned flags)
{
	json_t *msg = NULL;
	int rc = render(ctx, name, data, &msg);

	if (rc) {
		/* The operator broke a template: say so rather than stay silent. */
		msg = plain_message("viva could not render its answer (template error; see the log).");
		deliver(ctx, msg, REPLY_EPHEMERAL);
		json_decref(msg);
		return rc;
	}
	deliver(ctx, msg, flags);
	json_decref(msg);
	return VIVA_OK;
}

void reply_text(struct viva_ctx *ctx, unsigned flags, const char *fmt, ...)
{
	char buf[3000];
	va_list ap;
	json_t *msg;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* escaped, it must still fit a section (3000) */
	buf[mrkdwn_fit(buf, strlen(buf), 2900)] = '\0';
	msg = plain_message(buf);
	deliver(ctx, msg, flags);
	json_decref(msg);
}

int reply_error(struct viva_ctx *ctx, int outcome, const char *usage, const char *fmt, ...)
{
	char buf[2000], *shown;
	va_list ap;
	json_t *data, *msg = NULL;

	/* An error reply is never a success: a caller passing 0 is a bug. */
	if (outcome >= 0) {
		log_error("reply_error without a failure outcome", "outcome=%d", outcome);
		outcome = VIVA_EINVAL;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* user text in it may grow when escaped: keep the section under 3000 */
	buf[mrkdwn_fit(buf, strlen(buf), 1400)] = '\0';
	/* escaped here (the template takes it as it is) so that mentions stay mentions */
	shown = mrkdwn_escape_keep_mentions(buf);
	data = json_pack("{s:s, s:s?}", "message", shown, "usage", usage);
	free(shown);
	if (render(ctx, "slack/error", data, &msg) != VIVA_OK)
		msg = plain_message(buf);
	json_decref(data);
	/* The first explanation is the one the audit log keeps. */
	if (!ctx->outcome_detail)
		ctx->outcome_detail = xstrdup(buf);
	deliver(ctx, msg, REPLY_EPHEMERAL);
	json_decref(msg);
	return outcome;
}

int reply_post_template(struct viva_ctx *ctx, const char *channel, const char *name, json_t *data)
{
	json_t *msg = NULL;
	int rc;

	if (!ctx->reply || !ctx->reply->ops->post)
		return VIVA_EUNAVAIL;
	rc = render(ctx, name, data, &msg);
	if (rc)
		return rc;
	ctx->reply->answered++;
	rc = ctx->reply->ops->post(ctx->reply, channel, msg);
	metrics_reply("post", rc);
	if (rc != VIVA_OK) {
		ctx->reply->undelivered++;
		log_warn("post not delivered", "channel=%s template=%s err=\"%s\"", channel ? channel : "",
			 name, viva_strerror(rc));
	}
	json_decref(msg);
	return rc;
}

int reply_open_view(struct viva_ctx *ctx, json_t *view)
{
	int rc;

	if (!ctx->reply || !ctx->reply->ops->open_view)
		return VIVA_EUNAVAIL;
	ctx->reply->answered++;
	rc = ctx->reply->ops->open_view(ctx->reply, view);
	metrics_reply("view", rc);
	if (rc != VIVA_OK) {
		ctx->reply->undelivered++;
		log_warn("form not opened", "user=%s err=\"%s\"", ctx->user_id ? ctx->user_id : "",
			 viva_strerror(rc));
	}
	return rc;
}

void reply_view_errors(struct viva_ctx *ctx, json_t *errors)
{
	json_t *resp;

	if (!ctx->reply || !ctx->reply->ops->view_response)
		return;
	resp = json_pack("{s:s, s:O}", "response_action", "errors", "errors", errors);
	ctx->reply->answered++;
	/* It goes in the envelope's ack, which the loop writes. */
	ctx->reply->ops->view_response(ctx->reply, resp);
	json_decref(resp);
}

/* The block of blocks whose block_id is id, or NULL. */
static json_t *block_by_id(json_t *blocks, const char *id, size_t *at)
{
	json_t *b;
	size_t i;

	json_array_foreach(blocks, i, b) {
		const char *bid = json_string_value(json_object_get(b, "block_id"));

		if (bid && strcmp(bid, id) == 0) {
			*at = i;
			return b;
		}
	}
	return NULL;
}

void reply_update_row(struct viva_ctx *ctx, const char *note, bool remove_buttons)
{
	json_t *msg = json_object_get(ctx->payload, "message");
	json_t *blocks = json_deep_copy(json_object_get(msg, "blocks")), *b, *out;
	const char *id = json_string_value(json_object_get(ctx->action, "block_id"));
	const char *text = json_string_value(json_object_get(msg, "text"));
	size_t at = 0;

	if (!json_is_array(blocks) || !id || !(b = block_by_id(blocks, id, &at))) {
		json_decref(blocks);
		return;
	}
	if (json_object_get(b, "accessory")) {
		/* a section with its button: the note joins its text */
		json_t *t = json_object_get(b, "text");
		char *joined = xasprintf("%s\n%s", json_string_value(json_object_get(t, "text")) ?
					 json_string_value(json_object_get(t, "text")) : "", note);

		if (remove_buttons)
			json_object_del(b, "accessory");
		if (t)
			json_object_set_new(t, "text", json_string(joined));
		free(joined);
	} else {
		/* an actions block: the note beside it, or instead of it */
		json_t *ctxb = json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context", "elements", "type", "mrkdwn",
					 "text", note);

		if (remove_buttons)
			json_array_set_new(blocks, at, ctxb);
		else
			json_array_insert_new(blocks, at + 1, ctxb);
	}
	out = json_pack("{s:s, s:o}", "text", text ? text : "", "blocks", blocks);
	deliver(ctx, out, REPLY_REPLACE);
	json_decref(out);
}
