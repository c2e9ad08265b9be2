#ifndef VIVA_STORE_OUTBOX_H
#define VIVA_STORE_OUTBOX_H

/*
 * Answers waiting to be tried again (bot/runtime.c's deferred answers: Slack
 * said 429, or did not answer). Each row is one request's answers, in
 * order, with where they go; a restart picks them up and delivers them
 * within their response_url's lifetime. Without it an answer deferred
 * during a Slack outage was lost with the process, though its request had
 * run.
 *
 * route and msgs are JSON text the caller owns the shape of; deadline is
 * unix seconds (see store.h on times).
 */
#include "store/store.h"

/* Insert (*id == 0: *id is set) or replace row *id. */
int store_outbox_put(struct store *st, int64_t *id, const char *route, const char *msgs, int64_t deadline,
		     int tries);
/* Forget row id (delivered or given up). Not there is VIVA_OK. */
int store_outbox_remove(struct store *st, int64_t id);

struct store_outbox_entry {
	int64_t id;
	char *route;
	char *msgs;
	int64_t deadline;
	int tries;
};
/* Every row, oldest first (at most limit). Caller frees with store_outbox_free(). */
int store_outbox_all(struct store *st, int limit, struct store_outbox_entry **out, size_t *n);
void store_outbox_free(struct store_outbox_entry *v, size_t n);

#endif
