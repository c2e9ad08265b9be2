#ifndef VIVA_BOT_QUEUE_H
#define VIVA_BOT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A bounded job queue and the worker pool that drains it. The event loop
 * and the scheduler push; workers pop and run. Pushing never blocks: a full
 * queue answers VIVA_EBUSY at once so the caller can tell the user, rather
 * than stall the event loop (acks must not wait).
 */
struct job {
	void (*run)(void *arg);     /* runs on a worker thread */
	void (*drop)(void *arg);    /* frees arg when the job will not run; may be NULL */
	void *arg;
};

struct queue;

struct queue *queue_new(size_t capacity);
/* Free; jobs still queued are dropped (their drop() is called). */
void queue_free(struct queue *q);
/*
 * VIVA_OK, or VIVA_EBUSY when full, or VIVA_EINVAL once closed. On VIVA_OK
 * the queue keeps the pointer, not a copy (a copy would make every ring cell
 * twice as big): *job must stay valid and unchanged until its run() or
 * drop() has been called. Embed it in the object job->arg points to. On an
 * error the queue keeps nothing.
 */
int queue_push(struct queue *q, const struct job *job);
/*
 * queue_push without starting a thread: *spawn says whether the job needs a
 * new worker, which the caller must then start with queue_spawn_worker() as
 * soon as it can (the event loop does so after writing the ack).
 */
int queue_push_later(struct queue *q, const struct job *job, bool *spawn);
void queue_spawn_worker(struct queue *q);
/*
 * Stop accepting jobs; workers finish what is queued and then exit.
 * queue_join waits for them at most timeout_ms; returns VIVA_ETIMEOUT if
 * some are still running (the process is exiting anyway).
 */
void queue_close(struct queue *q);
size_t queue_length(struct queue *q);

/*
 * Let up to n worker threads drain q. None starts here: a push starts one
 * when no worker is waiting for work and fewer than n exist, and a worker
 * idle for a minute exits. An idle viva thus holds no worker stacks.
 */
int queue_start_workers(struct queue *q, int n);
int queue_join(struct queue *q, long timeout_ms);
/* Jobs being run right now. */
int queue_running(struct queue *q);
/* Worker threads alive right now. */
int queue_workers(struct queue *q);
/* How long an idle worker waits before it exits (default 60 s; for tests). */
void queue_set_idle_ms(struct queue *q, long ms);
/*
 * fn(arg) runs when the last worker retires for idleness, on its thread,
 * before queue_join() can see it gone: a moment to give back what a burst
 * left behind. Work may be pushed (and new workers started) meanwhile.
 * Set it before the first push.
 */
void queue_on_idle(struct queue *q, void (*fn)(void *arg), void *arg);

#endif
