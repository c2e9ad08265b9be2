#ifndef VIVA_BOT_RUNTIME_H
#define VIVA_BOT_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>

#include "bot/ctx.h"

/*
 * What a worker does with one Socket Mode envelope: de-duplicate it against
 * the store, build the request context, dispatch to the command or action
 * table, and deliver the replies through the Slack Web API.
 */

/*
 * Run the envelope (type "slash_commands", "interactive" or "events_api",
 * payload borrowed). For a view_submission, *ack_payload receives what must
 * go in the envelope's ack ({"response_action":"errors",...}), or NULL to
 * close the view; otherwise it is left NULL.
 * Returns VIVA_OK, VIVA_EDUP when the envelope was processed before, or the
 * handler's error.
 */
int runtime_run_envelope(struct viva_env *env, const char *envelope_id, const char *type,
			 json_t *payload, json_t **ack_payload);

/* The de-duplication key: "event:<event_id>" for events, else the envelope id. */
char *runtime_dedupe_key(const char *envelope_id, const char *type, json_t *payload);

/*
 * The reply sink of one Slack request of `type` ("slash_commands",
 * "interactive"), routed from its payload (borrowed: it must outlive the
 * sink): response_url first (at most 5 uses, as Slack allows), then
 * chat.update for a replacement, chat.postEphemeral for what only the user
 * may see (an ephemeral message never becomes public), chat.postMessage for
 * the channel. runtime_run_envelope() uses one; tests drive it directly.
 */
struct reply *runtime_reply_new(struct viva_env *env, const char *type, json_t *payload);
void runtime_reply_free(struct reply *r);

/*
 * A reply for work no user is waiting on (scheduled tasks, node reports):
 * it can only post to channels (chat.postMessage); an answer to "the user"
 * is logged and refused. r needs no freeing.
 */
void runtime_channel_reply(struct reply *r, struct viva_env *env);

/*
 * At start-up, with env->timers running: the answers a previous process
 * deferred (Slack said 429, or did not answer) and kept in the store are
 * tried again, within their response_url's lifetime; rows past it, or
 * unreadable, are given up (logged and counted). *resumed and *dropped
 * count them.
 */
int runtime_resume_deferred(struct viva_env *env, size_t *resumed, size_t *dropped);

/* Tell the user who sent payload something in one line (ephemeral, through
 * its response_url): viva is busy, viva restarted meanwhile. */
void runtime_tell(struct viva_env *env, json_t *payload, const char *text);

#endif
