#include "bot/queue.h"
#include "bot/err.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/util.h"

#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	pthread_cond_t idle;        /* a worker exited */
	struct job *ring;
	size_t cap, head, len;
	bool closed;
	int running;
	int workers, alive;
	pthread_t *threads;
};

struct queue *queue_new(size_t capacity)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->idle, NULL);
	q->cap = capacity ? capacity : 1;
	q->ring = xcalloc(q->cap, sizeof(*q->ring));
	return q;
}

int queue_push(struct queue *q, const struct job *job)
{
	int rc = VIVA_OK;

	pthread_mutex_lock(&q->mu);
	if (q->closed)
		rc = VIVA_EINVAL;
	else if (q->len == q->cap)
		rc = VIVA_EBUSY;
	else {
		q->ring[(q->head + q->len) % q->cap] = *job;
		q->len++;
		pthread_cond_signal(&q->nonempty);
	}
	pthread_mutex_unlock(&q->mu);
	if (rc == VIVA_OK)
		metrics_jobs_queued(1);
	return rc;
}

size_t queue_length(struct queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

int queue_running(struct queue *q)
{
	int n;

	pthread_mutex_lock(&q->mu);
	n = q->running;
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void *worker(void *arg)
{
	struct queue *q = arg;

	for (;;) {
		struct job job;

		pthread_mutex_lock(&q->mu);
		while (q->len == 0 && !q->closed)
			pthread_cond_wait(&q->nonempty, &q->mu);
		if (q->len == 0 && q->closed) {
			q->alive--;
			pthread_cond_broadcast(&q->idle);
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		job = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		q->running++;
		pthread_mutex_unlock(&q->mu);

		metrics_jobs_queued(-1);
		metrics_jobs_running(1);
		job.run(job.arg);
		metrics_jobs_running(-1);

		pthread_mutex_lock(&q->mu);
		q->running--;
		pthread_mutex_unlock(&q->mu);
	}
}

int queue_start_workers(struct queue *q, int n)
{
	q->threads = xcalloc((size_t)n, sizeof(*q->threads));
	for (int i = 0; i < n; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
			log_error("cannot start worker thread", "i=%d", i);
			return VIVA_EIO;
		}
		pthread_mutex_lock(&q->mu);
		q->workers++;
		q->alive++;
		pthread_mutex_unlock(&q->mu);
	}
	return VIVA_OK;
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_cond_broadcast(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
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
	if (!q)
		return;
	while (q->len > 0) {
		struct job *j = &q->ring[q->head];
		if (j->drop)
			j->drop(j->arg);
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	if (q->workers == 0) {
		free(q->ring);
		free(q->threads);
		pthread_cond_destroy(&q->nonempty);
		pthread_cond_destroy(&q->idle);
		pthread_mutex_destroy(&q->mu);
		free(q);
	}
	/* else: detached workers may still touch q; leave it to process exit */
}
