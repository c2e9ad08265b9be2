#include "bot/queue.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/lib/alloc.h"
#include "bot/lib/thread.h"
#include "bot/lib/times.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* An idle worker exits after this long (tests shorten it). */
#define DEF_IDLE_MS 60000L

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

/*
 * Workers are started on demand, up to the configured number: an idle viva
 * holds no worker thread (no stack pages, no malloc cache), a busy one as
 * many as its load needs, and a worker idle for idle_ms exits.
 *
 * The decision to start one must not take a lock (the event loop pushes),
 * so two counts share one atomic word and change together by CAS:
 *   avail  workers waiting (or about to wait) for a job, minus jobs pushed
 *          that no worker has taken yet: <= 0 means a new job finds no one;
 *   alive  worker threads, started or being started.
 * A push takes one from avail and, when there was none, adds one to alive
 * (below the maximum) and starts a thread. A worker that timed out gives
 * back its avail and its alive in one step, and only while avail > 0: if a
 * push has counted on it meanwhile, it stays and takes that job.
 */
struct queue {
	struct cell *cells;
	size_t cap;                 /* cells: == limit */
	size_t limit;               /* the capacity asked for */
	atomic_size_t count;        /* jobs pushed and not yet popped */
	atomic_size_t head;         /* next cell to push */
	atomic_size_t tail;         /* next cell to pop */
	sem_t items;                /* one token per job, one per worker at close */
	atomic_bool closed;
	atomic_int running;
	_Atomic uint64_t workers;   /* avail (high 32 bits, signed) | alive (low 32) */
	int max_workers;
	atomic_long idle_ms;        /* a worker idle this long exits */
	void (*on_idle)(void *arg); /* when the last worker retires */
	void *on_idle_arg;
	pthread_mutex_t mu;         /* only for join: exiting workers signal idle */
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
	atomic_init(&q->idle_ms, DEF_IDLE_MS);
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

/* ---- the worker counts ------------------------------------------------------ */

static uint64_t pack(int32_t avail, uint32_t alive)
{
	return (uint64_t)(uint32_t)avail << 32 | alive;
}

static int32_t avail_of(uint64_t w)
{
	return (int32_t)(uint32_t)(w >> 32);
}

static uint32_t alive_of(uint64_t w)
{
	return (uint32_t)w;
}

static void *worker(void *arg);

/*
 * A job was pushed: claim a waiting worker, or start one if none waits and
 * there is room. True when the caller must start a thread (alive counted).
 */
static bool claim_worker(struct queue *q)
{
	uint64_t w = atomic_load(&q->workers), nw;
	bool start;

	do {
		start = avail_of(w) <= 0 && alive_of(w) < (uint32_t)q->max_workers;
		nw = pack(avail_of(w) - 1, alive_of(w) + (start ? 1 : 0));
	} while (!atomic_compare_exchange_weak(&q->workers, &w, nw));
	return start;
}

static void add_counts(struct queue *q, int32_t davail, int32_t dalive)
{
	uint64_t w = atomic_load(&q->workers), nw;

	do {
		nw = pack(avail_of(w) + davail, (uint32_t)((int32_t)alive_of(w) + dalive));
	} while (!atomic_compare_exchange_weak(&q->workers, &w, nw));
}

/*
 * An idle worker may leave only if no push counts on it: avail > 0. True
 * when it may; *left is then the number of workers still alive.
 */
static bool try_retire(struct queue *q, uint32_t *left)
{
	uint64_t w = atomic_load(&q->workers);

	while (avail_of(w) > 0)
		if (atomic_compare_exchange_weak(&q->workers, &w, pack(avail_of(w) - 1, alive_of(w) - 1))) {
			*left = alive_of(w) - 1;
			return true;
		}
	return false;
}

static void start_worker(struct queue *q)
{
	pthread_t t;
	int rc;

	/* Detached: a worker that retires is gone; join counts them instead.
	 * SCHED_OTHER explicitly: the pusher may be the SCHED_FIFO loop. */
	rc = thread_create_normal(&t, true, worker, q);
	if (rc != 0) {
		/* The job stays queued for the workers there are (or the next push). */
		add_counts(q, 0, -1);
		log_error("cannot start a worker thread", "errno=%d", rc);
	}
}

int queue_push_later(struct queue *q, const struct job *job, bool *spawn)
{
	*spawn = false;
	if (atomic_load(&q->closed))
		return VIVA_EINVAL;
	if (atomic_fetch_add(&q->count, 1) >= q->limit || !ring_push(q, job)) {
		atomic_fetch_sub(&q->count, 1);
		return VIVA_EBUSY;
	}
	metrics_jobs_queued(1);
	sem_post(&q->items);
	*spawn = claim_worker(q);
	return VIVA_OK;
}

void queue_spawn_worker(struct queue *q)
{
	start_worker(q);
}

int queue_push(struct queue *q, const struct job *job)
{
	bool spawn;
	int rc = queue_push_later(q, job, &spawn);

	if (spawn)
		start_worker(q);
	return rc;
}

size_t queue_length(struct queue *q)
{
	return atomic_load(&q->count);
}

int queue_running(struct queue *q)
{
	return atomic_load(&q->running);
}

static int queue_alive(struct queue *q)
{
	return (int)alive_of(atomic_load(&q->workers));
}

int queue_workers(struct queue *q)
{
	return queue_alive(q);
}

void queue_set_idle_ms(struct queue *q, long ms)
{
	atomic_store(&q->idle_ms, ms);
}

void queue_on_idle(struct queue *q, void (*fn)(void *arg), void *arg)
{
	q->on_idle = fn;
	q->on_idle_arg = arg;
}

/* Wait for a token until idle_ms passes: 0, or ETIMEDOUT. */
static int wait_token(struct queue *q)
{
	long ms = atomic_load(&q->idle_ms);
	struct timespec until = timespec_in(CLOCK_MONOTONIC, ms);

	while (sem_clockwait(&q->items, CLOCK_MONOTONIC, &until) != 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

static void *worker(void *arg)
{
	struct queue *q = arg;
	bool waiting = false;       /* our avail is counted */

	/*
	 * Workers are now started by whoever pushes, usually the event loop,
	 * and a thread inherits its creator's nice and slice: reset both. If
	 * the kernel refuses SCHED_BATCH, at least drop the loop's nice.
	 */
	if (thread_sched_batch() != 0) {
		log_debug("worker scheduling hint refused", "errno=%d", errno);
		thread_sched_default();
	}
	for (;;) {
		const struct job *job = NULL;
		bool got = false;

		if (atomic_load(&q->closed) && atomic_load(&q->count) == 0)
			break;   /* closed and drained: no need to wait for a token */
		if (!waiting) {
			add_counts(q, 1, 0);
			waiting = true;
		}
		if (wait_token(q) != 0) {
			uint32_t left = 0;
			bool retired;

			if (atomic_load(&q->closed))
				continue;
			/*
			 * Idle: leave, unless a push counted on us meanwhile. Under
			 * mu, so that join cannot see us gone and free q (or the
			 * caller free what on_idle uses) before we are done.
			 */
			pthread_mutex_lock(&q->mu);
			retired = try_retire(q, &left);
			if (retired && left == 0 && q->on_idle)
				q->on_idle(q->on_idle_arg);
			if (retired)
				pthread_cond_broadcast(&q->idle);
			pthread_mutex_unlock(&q->mu);
			if (retired)
				return NULL;
			continue;
		}
		waiting = false;    /* the push (or close) that posted it used our avail */
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
	/* Under mu, as above: after the unlock q may be freed. */
	pthread_mutex_lock(&q->mu);
	add_counts(q, waiting ? -1 : 0, -1);
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int queue_start_workers(struct queue *q, int n)
{
	/* Nothing starts here: the first pushes start what they need. */
	q->max_workers = n > 0 ? n : 1;
	return VIVA_OK;
}

void queue_close(struct queue *q)
{
	int n;

	if (atomic_exchange(&q->closed, true))
		return;
	/*
	 * One extra wake-up per worker: each exits once the ring is empty. A
	 * worker a push is starting right now is either counted here or sees
	 * closed before it waits (both are sequentially consistent), and a
	 * surplus token only makes a worker look at an empty ring once more.
	 */
	n = queue_alive(q);
	for (int i = 0; i < n; i++)
		sem_post(&q->items);
}

int queue_join(struct queue *q, long timeout_ms)
{
	struct timespec until = timespec_in(CLOCK_REALTIME, timeout_ms);
	int rc = VIVA_OK;

	pthread_mutex_lock(&q->mu);
	while (queue_alive(q) > 0) {
		if (pthread_cond_timedwait(&q->idle, &q->mu, &until) == ETIMEDOUT) {
			rc = VIVA_ETIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	if (rc != VIVA_OK)
		/* Stuck workers keep running; the process is about to exit. */
		log_warn("workers still running at shutdown", "running=%d", queue_running(q));
	return rc;
}

void queue_free(struct queue *q)
{
	const struct job *j;

	if (!q)
		return;
	if (queue_alive(q) > 0)
		return;   /* workers may still touch q: leave it to process exit */
	while (ring_pop(q, &j)) {
		atomic_fetch_sub(&q->count, 1);
		if (j->drop)
			j->drop(j->arg);
	}
	sem_destroy(&q->items);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->mu);
	free(q->cells);
	free(q);
}
