/* Jobs for later (see timers.h): a min-heap by due time, one thread. */
#include "bot/timers.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define TIMERS_MAX 4096

struct entry {
	int64_t due_ms;              /* monotonic */
	const struct job *job;
};

struct timers {
	struct queue *q;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* CLOCK_MONOTONIC */
	struct entry *heap;
	size_t n, cap;
	bool stop;
};

static void swap(struct entry *a, struct entry *b)
{
	struct entry t = *a;
	*a = *b;
	*b = t;
}

static void sift_up(struct timers *t, size_t i)
{
	while (i > 0 && t->heap[(i - 1) / 2].due_ms > t->heap[i].due_ms) {
		swap(&t->heap[(i - 1) / 2], &t->heap[i]);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct timers *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->n && t->heap[l].due_ms < t->heap[m].due_ms)
			m = l;
		if (r < t->n && t->heap[r].due_ms < t->heap[m].due_ms)
			m = r;
		if (m == i)
			return;
		swap(&t->heap[m], &t->heap[i]);
		i = m;
	}
}

static void *timers_main(void *arg)
{
	struct timers *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		int64_t now = now_ms_mono();

		if (t->n > 0 && t->heap[0].due_ms <= now) {
			const struct job *job = t->heap[0].job;

			t->heap[0] = t->heap[--t->n];
			sift_down(t, 0);
			pthread_mutex_unlock(&t->mu);
			if (queue_push(t->q, job) != VIVA_OK) {
				log_warn("delayed job dropped: the queue is full", "pending=%zu", t->n);
				if (job->drop)
					job->drop(job->arg);
			}
			pthread_mutex_lock(&t->mu);
			continue;
		}
		if (t->n == 0) {
			pthread_cond_wait(&t->cv, &t->mu);
		} else {
			struct timespec until = timespec_in(CLOCK_MONOTONIC, (long)(t->heap[0].due_ms - now));
			pthread_cond_timedwait(&t->cv, &t->mu, &until);
		}
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

struct timers *timers_new(struct queue *q)
{
	struct timers *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t ca;

	t->q = q;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->th, NULL, timers_main, t) != 0) {
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
		free(t);
		return NULL;
	}
	return t;
}

int timers_after(struct timers *t, long delay_ms, const struct job *job)
{
	int rc = VIVA_OK;

	pthread_mutex_lock(&t->mu);
	if (t->n >= TIMERS_MAX || t->stop) {
		rc = VIVA_EBUSY;
	} else {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->heap = xrealloc(t->heap, t->cap * sizeof(*t->heap));
		}
		t->heap[t->n] = (struct entry){ now_ms_mono() + (delay_ms > 0 ? delay_ms : 0), job };
		sift_up(t, t->n++);
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

size_t timers_pending(struct timers *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}

void timers_stop(struct timers *t)
{
	struct entry *heap;
	size_t n;
	bool joined;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	joined = t->stop;
	t->stop = true;
	pthread_cond_signal(&t->cv);
	heap = t->heap;
	n = t->n;
	t->heap = NULL;
	t->n = t->cap = 0;
	pthread_mutex_unlock(&t->mu);
	if (!joined)
		pthread_join(t->th, NULL);
	/* outside the lock: a drop() may call timers_after(), which refuses */
	for (size_t i = 0; i < n; i++)
		if (heap[i].job->drop)
			heap[i].job->drop(heap[i].job->arg);
	free(heap);
}

void timers_free(struct timers *t)
{
	if (!t)
		return;
	timers_stop(t);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}
