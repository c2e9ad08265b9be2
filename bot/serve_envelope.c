/*
 * `viva serve`'s envelopes in, all on the event loop thread: every frame
 * from a Socket Mode link (serve_on_message) is scanned and, on the common
 * path, copied into a pooled job without a JSON tree or a malloc; anything
 * unusual is parsed in full. Either way the envelope is recorded in the
 * durable inbox, queued on its lane (urgent or not) and acked, or refused
 * with a note to the user. Nothing here blocks: the jobs run on workers.
 */
#include "bot/serve_impl.h"
#include "bot/slack/envscan.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/queue.h"
#include "bot/commands.h"
#include "store/inbox.h"
#include "bot/slack/socket.h"
#include "bot/lib/alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define VIEW_ACK_MS      2500       /* answer a view_submission within Slack's 3 s */

#define MSG_BUSY ":hourglass: viva is busy right now and could not take this request. Please try again in a minute."
#define MSG_NOT_RECORDED ":warning: viva could not record this request (its database cannot be written), so " \
	"it did nothing. Please try again in a minute; if it goes on, an admin should look at viva's disk."

static void on_message_full(struct serve *s, struct sm_conn *c, const char *text, size_t len, int64_t t0);

/* The loop's clock for the inbox: wall-clock seconds. */
int64_t serve_loop_now(struct serve *s)
{
	return s->env->clock->now(s->env->clock);
}

/* A view_submission refused before it ran: the modal says why. */
static void refuse_view(struct serve *s, const char *title, const char *text)
{
	pthread_mutex_lock(&s->mu);
	s->view_acks[s->nview_acks - 1].done = true;
	s->view_acks[s->nview_acks - 1].payload = json_pack(
		"{s:s, s:{s:s, s:{s:s, s:s}, s:[{s:s, s:{s:s, s:s}}]}}",
		"response_action", "update", "view", "type", "modal", "title",
		"type", "plain_text", "text", title, "blocks", "type", "section",
		"text", "type", "mrkdwn", "text", text);
	pthread_mutex_unlock(&s->mu);
	lws_cancel_service(s->lws);
}

static void on_envelope(struct serve *s, struct sm_conn *c, json_t *msg, const char *text, size_t len,
			int64_t t0)
{
	const char *id = json_string_value(json_object_get(msg, "envelope_id"));
	const char *type = json_string_value(json_object_get(msg, "type"));
	json_t *payload = json_object_get(msg, "payload");
	const char *ptype = json_string_value(json_object_get(payload, "type"));
	struct env_job *j;
	struct queue *lane;
	bool view_ack, spawn = false;
	int rc;

	if (!type)
		type = "unknown";
	metrics_envelope(type);
	if (strcmp(type, "slash_commands") && strcmp(type, "interactive") && strcmp(type, "events_api")) {
		/* Ack what we do not understand, so Slack does not retry it. */
		sm_ack(c, id, NULL, t0);
		log_info("envelope of unknown type acked", "type=%s", type);
		return;
	}
	if (!json_is_object(payload)) {
		sm_ack(c, id, NULL, t0);
		log_warn("envelope without a payload object", "type=%s envelope_id=%s", type, id);
		return;
	}
	view_ack = strcmp(type, "interactive") == 0 && ptype && strcmp(ptype, "view_submission") == 0;
	lane = view_ack || (strcmp(type, "slash_commands") == 0 &&
			    cmd_text_is_urgent(json_string_value(json_object_get(payload, "text"))))
	       ? s->urgent : s->q;
	if (strlen(id) >= sizeof(j->envelope_id)) {
		/* Slack's ids are UUIDs: ack it (or Slack re-sends it), run nothing */
		sm_ack(c, id, NULL, t0);
		log_warn("envelope id too long; acked, not run", "bytes=%zu type=%s", strlen(id), type);
		return;
	}
	/* the durable inbox: recorded before the ack, or not run at all */
	rc = s->inbox ? inbox_add(s->inbox, id, type, text, len, serve_loop_now(s)) : VIVA_OK;
	if (rc == VIVA_EDUP) {
		sm_ack(c, id, NULL, t0);
		metrics_duplicate();
		log_info("envelope delivered again; acked, not run", "type=%s envelope_id=%s", type, id);
		return;
	}
	if (rc != VIVA_OK) {
		json_t *note = NULL;

		metrics_job_done("rejected");
		log_error("envelope not recorded in the inbox; refused", "type=%s envelope_id=%s err=\"%s\"", type,
			  id, viva_strerror(rc));
		if (strcmp(type, "slash_commands") == 0)
			note = json_pack("{s:s}", "text", MSG_NOT_RECORDED);
		else if (strcmp(type, "interactive") == 0 && !view_ack)
			serve_tell_busy(s, payload, MSG_NOT_RECORDED);
		sm_ack(c, id, view_ack ? json_pack("{s:s, s:{s:s, s:s}}", "response_action", "errors",
						     "errors", "name", "viva could not record this; please try again")
				       : note, t0);
		json_decref(note);
		return;
	}
	j = serve_job_alloc(s, 0, false);
	snprintf(j->envelope_id, sizeof(j->envelope_id), "%s", id);
	snprintf(j->type, sizeof(j->type), "%s", type);
	j->payload = json_incref(payload);
	j->view_ack = view_ack;
	if (view_ack) {
		struct view_ack va = { .conn_id = sm_conn_id(c), .envelope_id = xstrdup(id),
				       .deadline_ms = t0 / 1000 + VIEW_ACK_MS, .token = ++s->next_token };
		j->token = va.token;
		pthread_mutex_lock(&s->mu);
		s->view_acks = xrealloc(s->view_acks, (s->nview_acks + 1) * sizeof(*s->view_acks));
		s->view_acks[s->nview_acks++] = va;
		pthread_mutex_unlock(&s->mu);
	}
	j->job.run = serve_env_job_run;
	j->job.drop = serve_env_job_drop;
	j->job.arg = j;
	rc = queue_push_later(lane, &j->job, &spawn);
	if (rc != VIVA_OK) {
		json_t *busy = NULL;
		metrics_job_done("rejected");
		log_warn("queue full; envelope refused", "type=%s envelope_id=%s", type, id);
		/* refused, never run: nothing for a restart to pick up */
		if (s->inbox)
			inbox_forget(s->inbox, id);
		if (strcmp(type, "slash_commands") == 0)
			busy = json_pack("{s:s}", "text", ":hourglass: viva is busy right now; "
					 "please try again in a minute.");
		else if (strcmp(type, "interactive") == 0)
			serve_tell_busy(s, payload, MSG_BUSY);
		if (view_ack) {
			refuse_view(s, "viva is busy", "viva is busy right now; please submit again in a minute.");
		} else {
			sm_ack(c, id, busy, t0);
		}
		json_decref(busy);
		serve_env_job_drop(j);
		return;
	}
	if (!view_ack)
		sm_ack(c, id, NULL, t0);
	if (spawn)
		queue_spawn_worker(lane);   /* after the ack, as on the fast path */
}

/*
 * The common case, without a JSON tree or a malloc (see struct env_job):
 * copy the frame into a pooled job, queue it, ack it. Anything unusual (a
 * full queue, a view_submission whose answer goes in the ack) takes the
 * full path below.
 */
static bool on_envelope_fast(struct serve *s, struct sm_conn *c, const struct envelope_head *h, const char *text,
			     size_t len, int64_t t0)
{
	struct env_job *j;
	struct queue *lane;
	bool spawn = false;
	int rc;

	if (h->uncertain || !h->envelope_id[0] || !h->has_payload ||
	    (strcmp(h->type, "slash_commands") && strcmp(h->type, "events_api") &&
	     strcmp(h->type, "interactive")) ||
	    (strcmp(h->type, "interactive") == 0 &&
	     (!h->payload_type[0] || strcmp(h->payload_type, "view_submission") == 0)))
		return false;
	/* the durable inbox: recorded before the ack */
	rc = s->inbox ? inbox_add(s->inbox, h->envelope_id, h->type, text, len, serve_loop_now(s)) : VIVA_OK;
	if (rc == VIVA_EDUP) {
		sm_ack_id(c, h->envelope_id, t0);
		metrics_envelope(h->type);
		metrics_duplicate();
		log_info("envelope delivered again; acked, not run", "type=%s envelope_id=%s", h->type,
			 h->envelope_id);
		return true;
	}
	if (rc != VIVA_OK)
		return false;   /* the full path tries again and tells the user */
	j = serve_job_alloc(s, len, s->inbox != NULL);
	memcpy(j->envelope_id, h->envelope_id, sizeof(j->envelope_id));
	memcpy(j->type, h->type, sizeof(j->type));
	if (!j->spilled) {
		memcpy(j->text, text, len);
		j->text[len] = '\0';
	}
	j->job.run = serve_env_job_run;
	j->job.drop = serve_env_job_drop;
	j->job.arg = j;
	lane = strcmp(h->type, "slash_commands") == 0 && cmd_text_is_urgent(h->payload_text) ? s->urgent : s->q;
	if (queue_push_later(lane, &j->job, &spawn) != VIVA_OK) {
		serve_env_job_drop(j);
		if (s->inbox)
			inbox_forget(s->inbox, h->envelope_id);
		return false;   /* the full path tells the user viva is busy */
	}
	metrics_envelope(h->type);
	sm_ack_id(c, h->envelope_id, t0);
	/* a new worker thread, if this job needs one, only after the ack */
	if (spawn)
		queue_spawn_worker(lane);
	return true;
}

/* hooks.frame: every complete text frame from a link. */
void serve_on_message(void *user, struct sm_conn *c, const char *text, size_t len, int64_t t0)
{
	struct serve *s = user;
	struct envelope_head h;

	if (envelope_scan(text, len, &h) == 0 && on_envelope_fast(s, c, &h, text, len, t0))
		return;
	on_message_full(s, c, text, len, t0);
}

static void on_message_full(struct serve *s, struct sm_conn *c, const char *text, size_t len, int64_t t0)
{
	json_error_t jerr;
	/* "\u0000" is valid JSON and Slack passes on what users type: read it
	 * (the worker refuses such a command), never leave the frame unacked */
	json_t *msg = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);

	if (!json_is_object(msg)) {
		log_warn("malformed frame ignored", "conn=%u bytes=%zu err=\"%s\"", sm_conn_id(c), len, jerr.text);
		json_decref(msg);
		return;
	}
	if (json_is_string(json_object_get(msg, "envelope_id")))
		on_envelope(s, c, msg, text, len, t0);
	else
		sm_control(c, msg);   /* hello, disconnect */
	json_decref(msg);
}
