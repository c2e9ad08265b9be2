/* The bounded job queue and its worker pool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bot/lib/err.h"
#include "bot/queue.h"
#include "bot/timers.h"
#include "bot/lib/times.h"

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
	/* the queue keeps a pointer: it must outlive this thread */
	static const struct job j = { .run = job_run, .drop = job_drop, .arg = NULL };

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

/* Jobs recorded in the order they ran, for the FIFO test. */
static atomic_long order_next;
static long order_seen[20000];

static void job_record(void *arg)
{
	long i = atomic_fetch_add(&order_next, 1);
	order_seen[i] = (long)(intptr_t)arg;
}

/*
 * The ring has exactly as many cells as asked for (not a power of two) and
 * starts zeroed: many laps round a 5-cell ring keep FIFO order, lose nothing
 * and never hold more than 5.
 */
static void queue__odd_capacity__fifo_over_many_laps(void **state)
{
	enum { N = 20000 };
	struct queue *q = queue_new(5);
	static struct job jobs[N];
	int busy = 0;
	(void)state;

	atomic_store(&order_next, 0);
	assert_int_equal(queue_start_workers(q, 1), VIVA_OK);   /* one consumer: order is defined */
	for (long i = 0; i < N; i++) {
		int tries = 0;
		jobs[i] = (struct job){ .run = job_record, .arg = (void *)(intptr_t)i };
		while (queue_push(q, &jobs[i]) == VIVA_EBUSY && tries++ < 100000) {
			busy++;
			sched_yield();
		}
		assert_true(tries <= 100000);
		assert_true(queue_length(q) <= 5);
	}
	queue_close(q);
	assert_int_equal(queue_join(q, 10000), VIVA_OK);
	assert_int_equal(atomic_load(&order_next), N);
	for (long i = 0; i < N; i++)
		assert_int_equal(order_seen[i], i);
	assert_true(busy > 0);   /* the bound was reached, and held */
	queue_free(q);
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * An idle queue costs (almost) nothing: creating a 1,000,000-job queue (a
 * 16 MB ring) touches none of its cells, so the resident size barely moves.
 */
static void queue__new__ring_untouched_until_used(void **state)
{
	long before, after;
	struct queue *q;
	(void)state;

	before = rss_kb();
	q = queue_new(1000000);
	after = rss_kb();
	assert_true(before > 0 && after > 0);
	assert_true(after - before < 2048);   /* the ring is 15,625 kB */
	queue_free(q);
}

/* Polls until queue_workers(q) == want, for at most ms; the last value seen. */
static int wait_workers(struct queue *q, int want, long ms)
{
	int n = queue_workers(q);

	for (long i = 0; i < ms && n != want; i++) {
		usleep(1000);
		n = queue_workers(q);
	}
	return n;
}

/*
 * No thread until there is work; one per job that finds no idle worker, up
 * to the maximum; idle ones exit after the idle time; later work starts
 * them again.
 */
static void queue__workers__started_on_demand_and_retired_when_idle(void **state)
{
	struct queue *q = queue_new(64);
	struct job slow = mk(300), fast = mk(0);
	(void)state;

	atomic_store(&ran, 0);
	queue_set_idle_ms(q, 200);
	assert_int_equal(queue_start_workers(q, 8), VIVA_OK);
	assert_int_equal(queue_workers(q), 0);            /* idle: no thread at all */
	for (int i = 0; i < 3; i++)
		assert_int_equal(queue_push(q, &slow), VIVA_OK);
	assert_int_equal(queue_workers(q), 3);            /* one each: none was idle */
	for (int i = 0; i < 400 && atomic_load(&ran) < 3; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&ran), 3);
	usleep(50000);   /* they are back waiting (well within the 200 ms idle time) */
	/* idle workers take new work rather than more being started */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(queue_push(q, &fast), VIVA_OK);
		usleep(50000);
	}
	assert_int_equal(queue_workers(q), 3);
	assert_int_equal(wait_workers(q, 0, 2000), 0);    /* all retired after 200 ms idle */
	assert_int_equal(queue_push(q, &fast), VIVA_OK);  /* and started again */
	for (int i = 0; i < 1000 && atomic_load(&ran) < 7; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&ran), 7);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	assert_int_equal(queue_workers(q), 0);
	queue_free(q);
}

/* A backlog never starts more than the maximum; all of it runs, close drains. */
static void queue__workers__never_more_than_the_maximum(void **state)
{
	struct queue *q = queue_new(64);
	struct job j = mk(20);
	int most = 0;
	(void)state;

	atomic_store(&ran, 0);
	assert_int_equal(queue_start_workers(q, 3), VIVA_OK);
	for (int i = 0; i < 30; i++) {
		assert_int_equal(queue_push(q, &j), VIVA_OK);
		if (queue_workers(q) > most)
			most = queue_workers(q);
	}
	assert_int_equal(most, 3);
	queue_close(q);                                   /* the 30 are still to run */
	assert_int_equal(queue_join(q, 10000), VIVA_OK);
	assert_int_equal(atomic_load(&ran), 30);
	assert_int_equal(queue_workers(q), 0);
	queue_free(q);
}

/*
 * Idle workers racing their own retirement with new pushes: with a very
 * short idle time, workers keep exiting and being started while producers
 * push; no job is ever left without a worker.
 */
static void queue__workers__retiring_races_pushes_without_losing_jobs(void **state)
{
	struct queue *q = queue_new(64);
	static const struct job j = { .run = job_run, .drop = job_drop, .arg = NULL };
	(void)state;

	atomic_store(&ran, 0);
	queue_set_idle_ms(q, 1);
	assert_int_equal(queue_start_workers(q, 4), VIVA_OK);
	for (int i = 0; i < 3000; i++) {
		int tries = 0;
		while (queue_push(q, &j) == VIVA_EBUSY && tries++ < 10000)
			sched_yield();
		if (i % 7 == 0)
			usleep(1500);   /* long enough for idle workers to retire */
	}
	/* every job runs with no further push to start anyone */
	for (int i = 0; i < 3000 && atomic_load(&ran) < 3000; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&ran), 3000);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	queue_free(q);
}

static atomic_int idle_calls;
static atomic_int idle_alive_seen;

static void on_idle(void *arg)
{
	struct queue *q = arg;
	atomic_fetch_add(&idle_calls, 1);
	atomic_store(&idle_alive_seen, queue_workers(q));
}

/* The idle hook runs once when the last worker of a burst retires, not before. */
static void queue__on_idle__runs_once_when_the_last_worker_retires(void **state)
{
	struct queue *q = queue_new(16);
	struct job j = mk(50);
	(void)state;

	atomic_store(&ran, 0);
	atomic_store(&idle_calls, 0);
	queue_set_idle_ms(q, 100);
	queue_on_idle(q, on_idle, q);
	assert_int_equal(queue_start_workers(q, 4), VIVA_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(queue_push(q, &j), VIVA_OK);
	usleep(100000);
	assert_int_equal(atomic_load(&idle_calls), 0);     /* still busy or just idle */
	assert_int_equal(wait_workers(q, 0, 2000), 0);
	assert_int_equal(atomic_load(&idle_calls), 1);
	assert_int_equal(atomic_load(&idle_alive_seen), 0);
	assert_int_equal(atomic_load(&ran), 4);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	assert_int_equal(atomic_load(&idle_calls), 1);     /* close is not idleness */
	queue_free(q);
}

/* timers: jobs reach the queue in due order, not before their time */
struct timed { struct job job; int64_t due; int64_t ran_at; int order; };
static atomic_int timed_seq;

static void timed_run(void *arg)
{
	struct timed *t = arg;

	t->ran_at = now_ms_mono();
	t->order = atomic_fetch_add(&timed_seq, 1);
}

static void timers__jobs_run_in_due_order_not_before_time(void **state)
{
	struct queue *q = queue_new(16);
	struct timers *tm;
	static struct timed t[4];
	static const long delay[4] = { 300, 50, 200, 120 };
	static const int want_order[4] = { 3, 0, 2, 1 };
	int64_t start;

	(void)state;
	atomic_store(&timed_seq, 0);
	assert_int_equal(queue_start_workers(q, 1), VIVA_OK);
	tm = timers_new(q);
	assert_non_null(tm);
	start = now_ms_mono();
	for (int i = 0; i < 4; i++) {
		t[i] = (struct timed){ .job = { .run = timed_run, .arg = &t[i] }, .due = start + delay[i], .order = -1 };
		assert_int_equal(timers_after(tm, delay[i], &t[i].job), VIVA_OK);
	}
	for (int i = 0; i < 300 && atomic_load(&timed_seq) < 4; i++)
		usleep(5000);
	assert_int_equal(atomic_load(&timed_seq), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(t[i].order, want_order[i]);
		assert_true(t[i].ran_at >= t[i].due);
	}
	assert_int_equal(timers_pending(tm), 0);
	timers_free(tm);
	queue_close(q);
	assert_int_equal(queue_join(q, 5000), VIVA_OK);
	queue_free(q);
}

static void timers__stop__drops_what_waits_and_refuses_more(void **state)
{
	struct queue *q = queue_new(16);
	struct timers *tm = timers_new(q);
	struct job j = { .run = job_run, .drop = job_drop, .arg = NULL };

	(void)state;
	atomic_store(&ran, 0);
	atomic_store(&dropped, 0);
	assert_int_equal(timers_after(tm, 60000, &j), VIVA_OK);
	assert_int_equal(timers_after(tm, 60000, &j), VIVA_OK);
	assert_int_equal(timers_pending(tm), 2);
	timers_stop(tm);
	assert_int_equal(atomic_load(&dropped), 2);
	assert_int_equal(timers_after(tm, 1, &j), VIVA_EBUSY);
	timers_stop(tm);   /* again: nothing happens */
	timers_free(tm);
	assert_int_equal(atomic_load(&ran), 0);
	queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queue__full__refuses_at_once),
		cmocka_unit_test(queue__workers__run_every_job_then_exit_on_close),
		cmocka_unit_test(queue__slow_job__does_not_block_others),
		cmocka_unit_test(queue__many_producers__no_job_lost),
		cmocka_unit_test(queue__odd_capacity__fifo_over_many_laps),
		cmocka_unit_test(queue__new__ring_untouched_until_used),
		cmocka_unit_test(queue__workers__started_on_demand_and_retired_when_idle),
		cmocka_unit_test(queue__workers__never_more_than_the_maximum),
		cmocka_unit_test(queue__workers__retiring_races_pushes_without_losing_jobs),
		cmocka_unit_test(queue__on_idle__runs_once_when_the_last_worker_retires),
		cmocka_unit_test(timers__jobs_run_in_due_order_not_before_time),
		cmocka_unit_test(timers__stop__drops_what_waits_and_refuses_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
