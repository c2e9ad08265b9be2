#ifndef VIVA_STORE_ENVELOPES_H
#define VIVA_STORE_ENVELOPES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- processed envelopes (de-duplication) ------------------------------ */
/*
 * Record that `key` (an envelope_id, or "event:" + event_id) is being
 * processed. Returns VIVA_OK when it is new (and records it), VIVA_EDUP when
 * it was seen before. Atomic: two threads racing on one key get one VIVA_OK.
 */
int store_envelope_claim(struct store *st, const char *key, const char *kind, int64_t now);
/* Forget keys older than `before` (unix seconds); *removed may be NULL. */
int store_envelope_prune(struct store *st, int64_t before, int *removed);

/* ---- one-time actions ------------------------------------------------------ */
/*
 * A button that must act once (promote, deploy, delete): the first click
 * claims `key` (VIVA_OK); later clicks get VIVA_EDUP and can read who did it
 * and the result with store_action_get. A failed action is released.
 * When the action starts a durable operation (store_op_new.click_key), the
 * claim is tied to it: it never goes stale by age, and the operation's end
 * settles it (failed: released; done, abandoned: kept with the outcome).
 */
int store_action_claim(struct store *st, const char *key, const char *user_id, int64_t now);
/* Forget a claim whose action failed, so the button can be used again. */
int store_action_release(struct store *st, const char *key);
/* A claim still without a result (and without an operation) this long
 * after it was taken belonged to a process that died mid-action: it may be
 * claimed again. */
#define STORE_ACTION_STALE_S 600
int store_action_finish(struct store *st, const char *key, const char *result);
/* *result is NULL while the first click is still running; *op_id (may be
 * NULL) the operation it started, 0 if none. Caller frees both strings. */
int store_action_get(struct store *st, const char *key, char **user_id, int64_t *ts, char **result,
		     int64_t *op_id);

#endif
