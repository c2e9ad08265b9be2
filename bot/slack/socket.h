#ifndef VIVA_BOT_SLACK_SOCKET_H
#define VIVA_BOT_SLACK_SOCKET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Slack Socket Mode links (slack-protocol.md section 1), on the event loop
 * of bot/serve.c. What happens here: apps.connections.open, DNS and the TLS
 * context on a connector thread of its own (the loop never blocks on them);
 * the WebSocket links (up to 4 at once, Slack allows 10): new link first on
 * `refresh_requested` / `warning`, the old one read a little longer and then
 * closed; capped exponential backoff with jitter when a link drops or cannot
 * be opened; `link_disabled` and a refused app token stop viva with one
 * line; frames reassembled and handed to serve; acks written as one
 * unfragmented text frame each, without a malloc on the common path.
 *
 * What a frame means is serve's business: every complete text frame goes
 * to hooks->frame; serve calls sm_control() for the ones that are not
 * envelopes (hello, disconnect).
 */
struct lws_context;
struct slack_api;
struct sm;          /* the links of one app */
struct sm_conn;     /* one WebSocket link */

struct sm_hooks {
	/* A whole text frame from link c (borrowed, valid during the call);
	 * t0_us is when it was read (monotonic), for the ack latency. */
	void (*frame)(void *user, struct sm_conn *c, const char *text, size_t len, int64_t t0_us);
	/* Another thread woke the loop (lws_cancel_service): look at outboxes. */
	void (*wake)(void *user);
	/* Connected (a hello on a live link) or not, and why, for /healthz. */
	void (*health)(void *user, bool up, const char *reason);
};

/*
 * Set up on lws (a context made with LWS_SERVER_OPTION_EXPLICIT_VHOSTS and
 * DO_SSL_GLOBAL_INIT) and start the connector thread. api is the Web API
 * client with the app-level token (borrowed). One line on stderr and
 * non-zero on failure.
 */
int sm_new(struct lws_context *lws, struct slack_api *api, const struct sm_hooks *hooks, void *user,
	   struct sm **out);
/* Ask for the first link. */
void sm_connect(struct sm *m);
/*
 * The loop's turn (from a timer tick and from hooks->wake): take the
 * connector's answer and open the link, close retired links whose time is
 * up, reconnect when the backoff says so.
 */
void sm_poll(struct sm *m);
/* A frame that is not an envelope: hello, disconnect, anything else. */
void sm_control(struct sm_conn *c, json_t *msg);
/* Begin shutting down: no reconnects, every link closing. */
void sm_close_all(struct sm *m);
/* A link is still open (closing ones flush their last acks first). */
bool sm_any_open(const struct sm *m);
/* Slack said this cannot work (link_disabled, a refused app token): exit 1. */
bool sm_fatal(const struct sm *m);

unsigned sm_conn_id(const struct sm_conn *c);
/* The live link with that id, or NULL (it may have closed meanwhile). */
struct sm_conn *sm_conn_by_id(struct sm *m, unsigned id);
/* Ack an envelope; payload (borrowed) may be NULL. Acks of 20 KB or more are
 * sent without their payload (Slack drops them). t0_us 0: not timed. */
void sm_ack(struct sm_conn *c, const char *envelope_id, json_t *payload, int64_t t0_us);
/* An empty ack built on the stack: id must be printable ASCII without quotes
 * or backslashes (what bot/slack/envscan.c keeps). */
void sm_ack_id(struct sm_conn *c, const char *id, int64_t t0_us);

/* Before lws_context_destroy(): stop the connector thread, drop the links. */
void sm_shutdown(struct sm *m);
/* After lws_context_destroy() (lws borrowed the TLS context until then). */
void sm_free(struct sm *m);

/* Monotonic microseconds, the clock of t0_us. */
int64_t sm_now_us(void);

#endif
