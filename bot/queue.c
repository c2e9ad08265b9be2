#include "bot/queue.h"
#include "bot/err.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/*
 * A bounded multi-producer multi-consumer ring (Dmitry Vyukov's design: each
 * cell carries a sequence number), so that pushing from the event loop never
 * takes a lock a worker could be holding while descheduled: an ack must not
 * wait behind a preempted worker. Workers sleep on a counting semaphore that
 * is posted once per pushed job.
 *
 * Memory: the ring is sized for queue_size (20,000 in a busy deployment) but
 * is nearly always almost empty, so it must cost nothing until used:
 *  - a cell holds the sequence minus its own index, so the all-zero cell of a
 *    fresh calloc() already reads as "free for lap 0" and queue_new() touches
 *    no page of the ring (glibc's calloc of a large block is fresh, untouched
 *    mmap memory);
 *  - a cell holds a pointer to the caller's struct job (embedded in the job's
 *    own heap object) rather than a copy: 16 bytes instead of 32;
 *  - there are exactly limit cells, not the next power of two: the index is
 *    pos % cap, which only breaks when pos wraps at 2^64 pushes.
 * Under a flood only the cells the backlog reaches are touched; the whole
 * ring, 320 KB for 20,000, only after that many jobs have gone through.
 */
struct cell {
	atomic_size_t rel;          /* sequence - cell index; 0 when never used */
	const struct job *job;
};

struct queue {
	struct cell *cells;
	size_t cap;                 /* cells: == limit */
	size_t limit;               /* the capacity asked for */
	atomic_size_t count;        /* jobs pushed and not yet popped */
	atomic_size_t head;         /* next cell to push */
	atomic_size_t tail;         /* next cell to pop */
	sem_t items;
	atomic_bool closed;
	atomic_int running;
	atomic_int alive;
	int workers;
	pthread_t *threads;
	pthread_mutex_t mu;         /* only for join */
	pthread_cond_t idle;
};

struct queue *queue_new(size_t capacity)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	if (capacity < 1)
		capacity = 1;
	if (capacity > ((size_t)1 << 30))
		capacity = (size_t)1 << 30;
	q->cap = capacity;
	q->limit = capacity;
	q->cells = xcalloc(q->cap, sizeof(*q->cells));   /* zero: every cell free, lap 0 */
	sem_init(&q->items, 0, 0);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->idle, NULL);
	return q;
}

/*
 * A cell is free for position pos when its sequence is pos, holds pos's job
 * when it is pos + 1, and becomes free for the next lap (pos + cap) once
 * popped. The comparisons are on differences, as in Vyukov's original.
 */
static bool ring_push(struct queue *q, const struct job *job)
{
	size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

	for (;;) {
		size_t i = pos % q->cap;
		struct cell *c = &q->cells[i];
		size_t seq = atomic_load_explicit(&c->rel, memory_order_acquire) + i;
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
								  memory_order_relaxed, memory_order_relaxed)) {
				c->job = job;
				atomic_store_explicit(&c->rel, pos + 1 - i, memory_order_release);
				return true;
			}
		} else if (dif < 0) {
			return false;   /* full */
		} else {
			pos = atomic_load_explicit(&q->head, memory_order_relaxed);
		}
	}
}

static bool ring_pop(struct queue *q, const struct job **out)
{
	size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		size_t i = pos % q->cap;
		struct cell *c = &q->cells[i];
		size_t seq = atomic_load_explicit(&c->rel, memory_order_acquire) + i;
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
								  memory_order_relaxed, memory_order_relaxed)) {
				*out = c->job;
				atomic_store_explicit(&c->rel, pos + q->cap - i, memory_order_release);
				return true;
			}
		} else if (dif < 0) {
			return false;   /* empty */
		} else {
			pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
		}
	}
}

int queue_push(struct queue *q, const struct job *job)
{
	if (atomic_load(&q->closed))
		return VIVA_EINVAL;
	if (atomic_fetch_add(&q->count, 1) >= q->limit || !ring_push(q, job)) {
		atomic_fetch_sub(&q->count, 1);
		return VIVA_EBUSY;
	}
	metrics_jobs_queued(1);
	sem_post(&q->items);
	return VIVA_OK;
}

size_t queue_length(struct queue *q)
{
	return atomic_load(&q->count);
}

int queue_running(struct queue *q)
{
	return atomic_load(&q->running);
}

static void *worker(void *arg)
{
	struct queue *q = arg;

	if (thread_sched_batch() != 0)
		log_debug("worker scheduling hint refused", "errno=%d", errno);
	for (;;) {
		const struct job *job = NULL;
		bool got = false;

		while (sem_wait(&q->items) != 0 && errno == EINTR)
			;
		/*
		 * One token per pushed job (and one per worker at close). A job
		 * may be counted but not yet published by its producer: wait for
		 * it rather than lose the token, or the job would sit unrun.
		 */
		for (;;) {
			if (ring_pop(q, &job)) {
				got = true;
				break;
			}
			if (atomic_load(&q->count) == 0)
				break;
			sched_yield();
		}
		if (!got) {
			if (atomic_load(&q->closed))
				break;   /* closed and drained */
			continue;
		}
		atomic_fetch_sub(&q->count, 1);
		atomic_fetch_add(&q->running, 1);
		metrics_jobs_queued(-1);
		metrics_jobs_running(1);
		/* run() may free the object *job is embedded in: read nothing after */
		job->run(job->arg);
		metrics_jobs_running(-1);
		atomic_fetch_sub(&q->running, 1);
	}
	pthread_mutex_lock(&q->mu);
	q->alive--;
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int queue_start_workers(struct queue *q, int n)
{
	q->threads = xcalloc((size_t)n, sizeof(*q->threads));
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&q->mu);
		q->alive++;
		pthread_mutex_unlock(&q->mu);
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
			pthread_mutex_lock(&q->mu);
			q->alive--;
			pthread_mutex_unlock(&q->mu);
			log_error("cannot start worker thread", "i=%d", i);
			return VIVA_EIO;
		}
		q->workers++;
	}
	return VIVA_OK;
}

void queue_close(struct queue *q)
{
	if (atomic_exchange(&q->closed, true))
		return;
	/* One extra wake-up per worker: each exits once the ring is empty. */
	for (int i = 0; i < q->workers; i++)
		sem_post(&q->items);
}

int queue_join(struct queue *q, long timeout_ms)
{
	struct timespec until;
	int rc = VIVA_OK;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	while (q->alive > 0) {
		if (pthread_cond_timedwait(&q->idle, &q->mu, &until) == ETIMEDOUT) {
			rc = VIVA_ETIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	if (rc == VIVA_OK) {
		for (int i = 0; i < q->workers; i++)
			pthread_join(q->threads[i], NULL);
		free(q->threads);
		q->threads = NULL;
		q->workers = 0;
	} else {
		/* Stuck workers keep running; the process is about to exit. */
		for (int i = 0; i < q->workers; i++)
			pthread_detach(q->threads[i]);
		log_warn("workers still running at shutdown", "running=%d", queue_running(q));
	}
	return rc;
}

void queue_free(struct queue *q)
{
	const struct job *j;

	if (!q)
		return;
	if (q->workers > 0)
		return;   /* detached workers may still touch q: leave it to process exit */
	while (ring_pop(q, &j)) {
		atomic_fetch_sub(&q->count, 1);
		if (j->drop)
			j->drop(j->arg);
	}
	sem_destroy(&q->items);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q->cells);
	free(q);
}
