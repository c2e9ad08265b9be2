#ifndef VIVA_BOT_REPLY_H
#define VIVA_BOT_REPLY_H

#include <jansson.h>
#include <stdbool.h>

#include "bot/ctx.h"

/*
 * The one reply API. Handlers say what to answer; the runtime decides
 * whether that becomes a Socket Mode ack payload, a response_url post,
 * chat.postMessage / chat.update, or text on the local console.
 *
 * A message is a Block Kit message object: {"text": fallback, "blocks": [...]}.
 *
 * Outcomes and delivery are kept apart. What a handler returns is what
 * happened to the action (the audit log, one-time buttons and `viva exec`'s
 * exit status rely on it), so the functions that only answer the user do
 * not return whether the answer reached Slack: an answer that cannot be
 * delivered is logged and counted in /metrics (viva_replies_total
 * {result="undelivered"}), and the action's outcome stands. The exceptions
 * say so: posting a report to a channel and opening a form are themselves
 * the action, so their delivery is returned.
 */
enum reply_flags {
	REPLY_EPHEMERAL  = 0,       /* only the user who asked sees it (default) */
	REPLY_IN_CHANNEL = 1u << 0, /* everyone in the channel sees it */
	REPLY_REPLACE    = 1u << 1, /* replace the message the click came from */
};

struct reply_ops {
	/* Deliver a message. msg is borrowed. Returns the delivery result. */
	int (*send)(struct reply *r, json_t *msg, unsigned flags);
	/* Post a message to a channel (reports, confirmations). msg borrowed. */
	int (*post)(struct reply *r, const char *channel, json_t *msg);
	/* Open a modal view with the request's trigger_id. view borrowed. */
	int (*open_view)(struct reply *r, json_t *view);
	/* The answer to a view_submission, sent in its ack
	 * ({"response_action":"errors",...}). response borrowed. */
	int (*view_response)(struct reply *r, json_t *response);
};

struct reply {
	const struct reply_ops *ops;
	void *self;
	int answered;               /* answers handed to delivery, delivered or not */
	int undelivered;            /* of those, how many did not arrive */
};

/*
 * Render template `name` (e.g. "slack/help") with data (borrowed) and send
 * it. Returns VIVA_OK once the answer is rendered and handed to delivery, or
 * the render error (an operator broke the template: the user is told, the
 * log has the details). Delivery is not the outcome (see above).
 */
int reply_template(struct viva_ctx *ctx, const char *name, json_t *data, unsigned flags);
/* Render a template without sending it (*out is the caller's). Errors are logged. */
int reply_render(struct viva_ctx *ctx, const char *name, json_t *data, json_t **out);
/* Send a message object (borrowed). */
void reply_send(struct viva_ctx *ctx, json_t *msg, unsigned flags);
/* Plain text message; text is escaped for mrkdwn. */
void reply_text(struct viva_ctx *ctx, unsigned flags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Tell the user (ephemeral) why the action did not happen, and return
 * `outcome` (a negative viva_err: VIVA_EINVAL for a bad request,
 * VIVA_ENOENT, VIVA_EUNAVAIL, ...), so a handler ends with
 *   return reply_error(ctx, VIVA_EUNAVAIL, NULL, "No registry is configured.");
 * The text (escaped for mrkdwn) is also kept as the failure's detail for the
 * audit log. usage may be NULL.
 */
int reply_error(struct viva_ctx *ctx, int outcome, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Post a rendered template to a channel; returns the render or delivery error. */
int reply_post_template(struct viva_ctx *ctx, const char *channel, const char *name, json_t *data);
/*
 * A click on one row of a report of many (the lag alert, the unused audit):
 * the clicked block (the action's block_id) gets note (mrkdwn, viva's
 * words), its buttons removed or kept, and the message is replaced with the
 * rest as it was.
 */
void reply_update_row(struct viva_ctx *ctx, const char *note, bool remove_buttons);
/* Open a modal view (borrowed); returns the delivery result. */
int reply_open_view(struct viva_ctx *ctx, json_t *view);
/*
 * Keep a submitted form open with errors beside the fields:
 * errors is {"<block_id>": "message", ...} (borrowed). Goes in the ack.
 */
void reply_view_errors(struct viva_ctx *ctx, json_t *errors);

#endif
