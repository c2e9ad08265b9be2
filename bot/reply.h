#ifndef VIVA_BOT_REPLY_H
#define VIVA_BOT_REPLY_H

#include <jansson.h>

#include "bot/ctx.h"

/*
 * The one reply API. Handlers say what to answer; the runtime decides
 * whether that becomes a Socket Mode ack payload, a response_url post,
 * chat.postMessage / chat.update, or text on the local console.
 *
 * A message is a Block Kit message object: {"text": fallback, "blocks": [...]}.
 */
enum reply_flags {
	REPLY_EPHEMERAL  = 0,       /* only the user who asked sees it (default) */
	REPLY_IN_CHANNEL = 1u << 0, /* everyone in the channel sees it */
	REPLY_REPLACE    = 1u << 1, /* replace the message the click came from */
};

struct reply_ops {
	/* Deliver a message. msg is borrowed. */
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
	int sent;                   /* messages delivered so far */
};

/* Render template `name` (e.g. "slack/help") with data (borrowed) and send it. */
int reply_template(struct viva_ctx *ctx, const char *name, json_t *data, unsigned flags);
/* Render a template without sending it (*out is the caller's). Errors are logged. */
int reply_render(struct viva_ctx *ctx, const char *name, json_t *data, json_t **out);
/* Send a message object (borrowed). */
int reply_send(struct viva_ctx *ctx, json_t *msg, unsigned flags);
/* Plain text message; text is escaped for mrkdwn. */
int reply_text(struct viva_ctx *ctx, unsigned flags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ephemeral error; text is escaped for mrkdwn. usage may be NULL. */
int reply_error(struct viva_ctx *ctx, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Post a rendered template to a channel. */
int reply_post_template(struct viva_ctx *ctx, const char *channel, const char *name, json_t *data);
/* Open a modal view (borrowed). */
int reply_open_view(struct viva_ctx *ctx, json_t *view);
/*
 * Keep a submitted form open with errors beside the fields:
 * errors is {"<block_id>": "message", ...} (borrowed).
 */
int reply_view_errors(struct viva_ctx *ctx, json_t *errors);

#endif
