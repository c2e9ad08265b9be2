#ifndef VIVA_STORE_OPERATIONS_H
#define VIVA_STORE_OPERATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/*
 * Durable operations (bot/ops.h runs them): one row per operation with its
 * next step, its data, who started it, the Slack message it reports in, the
 * process that holds it and that process's heartbeat. At most one running
 * operation per target: that is the deploy lock.
 */
enum store_op_state { OP_RUNNING = 0, OP_DONE, OP_FAILED, OP_ABANDONED };

struct store_op {
	int64_t id;
	char *kind;
	char *target;
	enum store_op_state state;
	int step;             /* the next step to run (steps before it are done) */
	char *data;           /* JSON object text */
	char *started_by;
	char *channel;        /* may be NULL */
	char *message_ts;     /* may be NULL */
	int64_t audit_id;     /* the audit row it answers for, 0 if none */
	char *holder;         /* "host:pid" of the process running it */
	int64_t heartbeat;
	int64_t started;
	int64_t finished;     /* 0 while running */
	char *outcome;        /* NULL while running */
	bool locked;          /* holds its target's lock (a running one may have given it back) */
};
void store_op_release(struct store_op *op);
void store_ops_free(struct store_op *v, size_t n);
const char *store_op_state_name(enum store_op_state s);

struct store_op_new {
	const char *kind, *target, *data, *started_by, *channel, *message_ts, *holder;
	const char *click_key;   /* the one-time button claim it answers for (store/envelopes.h), or NULL */
	int64_t audit_id;
	int64_t now;
};
/*
 * Begin an operation (state running, step 0). VIVA_EBUSY when target has a
 * running operation: *holder (may be NULL; caller releases) describes it.
 */
int store_op_begin(struct store *st, const struct store_op_new *n, int64_t *id, struct store_op *holder);
int store_op_get(struct store *st, int64_t id, struct store_op *out);
/* A step is done: the next is `step`, with data (JSON text); heartbeat now.
 * Only while holder holds it (VIVA_ECONFLICT otherwise: someone took over). */
int store_op_advance(struct store *st, int64_t id, const char *holder, int step, const char *data, int64_t now);
/* The end: state (done, failed, abandoned) and a one-line outcome. */
int store_op_finish(struct store *st, int64_t id, enum store_op_state state, const char *outcome, int64_t now);
/* Give the target's lock back before the end (only while holder holds
 * it; VIVA_ECONFLICT otherwise): another operation on the target may begin. */
int store_op_unlock(struct store *st, int64_t id, const char *holder);
/* Where the operation reports (set once its message exists). */
int store_op_set_message(struct store *st, int64_t id, const char *channel, const char *message_ts);
/* Every running operation held by holder: still alive at now. */
int store_op_heartbeat(struct store *st, const char *holder, int64_t now);
/* Running operations whose heartbeat is older than `before` (their holder
 * is gone), oldest first, at most limit. */
int store_op_stale(struct store *st, int64_t before, int limit, struct store_op **out, size_t *n);
/* Take over a stale operation: only if it is still held by old_holder with
 * the same heartbeat (two processes never both take it). VIVA_ECONFLICT otherwise. */
int store_op_take(struct store *st, int64_t id, const char *old_holder, int64_t old_heartbeat,
		  const char *holder, int64_t now);
/* Newest first, at most limit; only those on target when not NULL. */
int store_op_list(struct store *st, const char *target, int limit, struct store_op **out, size_t *n);

#endif
