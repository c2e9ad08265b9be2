/* The bounded job queue and its worker pool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bot/err.h"
#include "bot/queue.h"
#include "bot/util.h"

static atomic_int ran, dropped;

static void job_run(void *arg)
{
	long ms = (long)(intptr_t)arg;
	if (ms) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	atomic_fetch_add(&ran, 1);
}

static void job_drop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&dropped, 1);
}

static struct job mk(long ms)
{
	struct job j = { .run = job_run, .drop = job_drop, .arg = (void *)(intptr_t)ms };
	return j;
}

static void queue__full__refuses_at_once(void **state)
{
	struct queue *q = queue_new(3);
	struct job j = mk(0);
	int64_t t0;
	(void)state;

	atomic_store(&dropped, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(queue_push(q, &j), VIVA_OK);
	t0 = now_ms_mono();
	assert_int_equal(queue_push(q, &j), VIVA_EBUSY);
	assert_true(now_ms_mono() - t0 < 100);   /* never blocks the caller */
	assert_int_equal(queue_length(q), 3);
	queue_free(q);                           /* unrun jobs are dropped, not leaked */
	assert_int_equal(atomic_load(&dropped), 3);
}

static void queue__workers__run_every_job_then_exit_on_close(void **state)
{
	struct queue *q = queue_new(1000);
	struct job j = mk(0);
	(void)state;

	atomic_store(&ran, 0);
	assert_int_equal(queue_start_workers(q, 4), VIVA_OK);
	for (int i = 0; i < 1000; i++) {
		/* bounded retry: workers drain while we fill */
		int tries = 0;
		while (queue_push(q, &j) == VIVA_EBUSY && tries++ < 1000)
			usleep(1000);
	}
	queue_close(q);
	assert_int_equal(queue_push(q, &j), VIVA_EINVAL);   /* closed: nothing new */
	assert_int_equal(queue_join(q, 10000), VIVA_OK);
	assert_int_equal(atomic_load(&ran), 1000);          /* nothing lost at shutdown */
	queue_free(q);
}

static void queue__slow_job__does_not_block_others(void **state)
{
	struct queue *q = queue_new(16);
	struct job slow = mk(800), fast = mk(0);
	int64_t t0;
	(void)state;

	atomic_store(&ran, 0);
	assert_int_equal(queue_start_workers(q, 2), VIVA_OK);
	assert_int_equal(queue_push(q, &slow), VIVA_OK);
	t0 = now_ms_mono();
	for (int i = 0; i < 5; i++)
		assert_int_equal(queue_push(q, &fast), VIVA_OK);
	for (int i = 0; i < 400 && atomic_load(&ran) < 5; i++)
		usleep(1000);
	assert_true(atomic_load(&ran) >= 5);
	assert_true(now_ms_mono() - t0 < 700);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	assert_int_equal(atomic_load(&ran), 6);
	queue_free(q);
}

struct producer {
	struct queue *q;
	int n;
	int refused;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct job j = mk(0);

	for (int i = 0; i < p->n; i++) {
		int tries = 0;
		while (queue_push(p->q, &j) == VIVA_EBUSY && tries++ < 10000)
			sched_yield();
		if (tries > 10000)
			p->refused++;
	}
	return NULL;
}

/* Several producers (the loop and the scheduler) and workers: every job runs. */
static void queue__many_producers__no_job_lost(void **state)
{
	struct queue *q = queue_new(64);
	struct producer p[4];
	pthread_t t[4];
	int refused = 0;
	(void)state;

	atomic_store(&ran, 0);
	assert_int_equal(queue_start_workers(q, 3), VIVA_OK);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct producer){ .q = q, .n = 5000 };
		pthread_create(&t[i], NULL, produce, &p[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		refused += p[i].refused;
	}
	/* every accepted job runs promptly, even with no further push to wake anyone */
	for (int i = 0; i < 2000 && atomic_load(&ran) < 20000 - refused; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&ran), 20000 - refused);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queue__full__refuses_at_once),
		cmocka_unit_test(queue__workers__run_every_job_then_exit_on_close),
		cmocka_unit_test(queue__slow_job__does_not_block_others),
		cmocka_unit_test(queue__many_producers__no_job_lost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
