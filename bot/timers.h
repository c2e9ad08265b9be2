#ifndef VIVA_BOT_TIMERS_H
#define VIVA_BOT_TIMERS_H

#include "bot/queue.h"

/*
 * Jobs for later: a thread that pushes each job onto a queue when its time
 * comes. What must wait (an answer Slack asked to retry after 30 s, a
 * delivery during an outage) waits here, not on a worker: a worker that
 * sleeps is a worker that cannot answer `/viva help`.
 */
struct timers;

struct timers *timers_new(struct queue *q);
/*
 * Push job onto the queue in delay_ms (as queue_push: the queue, then the
 * worker, keeps the pointer; its drop() runs if it never does). VIVA_OK;
 * VIVA_EBUSY when too many are waiting (nothing kept).
 */
int timers_after(struct timers *t, long delay_ms, const struct job *job);
/* How many wait. */
size_t timers_pending(struct timers *t);
/* Stop: jobs still waiting are dropped (their drop()), and timers_after()
 * refuses from now on (VIVA_EBUSY). Idempotent. */
void timers_stop(struct timers *t);
/* timers_stop, then free. */
void timers_free(struct timers *t);

#endif
