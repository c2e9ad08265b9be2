#include "bot/sched_thread.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/queue.h"
#include "bot/reply.h"
#include "bot/runtime.h"
#include "bot/sched.h"
#include "bot/slack/api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"
#include "store/schedules.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct sched_thread {
	struct viva_env *env;
	struct queue *q;
	struct sched *sched;
	struct tz *tz;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

int sched_run_task(struct viva_env *env, const char *name, int64_t slot)
{
	const struct sched_task *t = sched_task_lookup(name);
	struct reply r;
	struct viva_ctx ctx;
	int rc;

	if (!t)
		return VIVA_ENOENT;
	runtime_channel_reply(&r, env);
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.reply = &r;
	ctx.user_id = "scheduler";
	log_info("scheduled task", "name=%s slot=%lld", name, (long long)slot);
	rc = t->fn(&ctx);
	free(ctx.outcome_detail);
	if (slot)
		store_schedule_finish(env->store, name, slot, env->clock->now(env->clock), rc == VIVA_OK ? "ok" : viva_strerror(rc));
	metrics_job_done(rc == VIVA_OK ? "ok" : "failed");
	return rc;
}

struct task_job {
	struct job job;         /* the queue keeps a pointer to it */
	struct viva_env *env;
	const char *name;       /* from sched_table: static */
	int64_t slot;
};

static void task_job_run(void *arg)
{
	struct task_job *j = arg;
	sched_run_task(j->env, j->name, j->slot);
	free(j);
}

static void task_job_drop(void *arg)
{
	free(arg);
}

static int op_claim(void *self, const char *name, int64_t slot)
{
	struct sched_thread *t = self;
	return store_schedule_claim(t->env->store, name, slot, t->env->clock->now(t->env->clock));
}

static int op_last(void *self, const char *name, int64_t *slot)
{
	struct sched_thread *t = self;
	return store_schedule_last(t->env->store, name, slot);
}

static void op_fire(void *self, const char *name, int64_t slot)
{
	struct sched_thread *t = self;
	const struct sched_task *task = sched_task_lookup(name);
	struct task_job *j;

	if (!task)
		return;
	j = xcalloc(1, sizeof(*j));
	j->env = t->env;
	j->name = task->name;
	j->slot = slot;
	j->job.run = task_job_run;
	j->job.drop = task_job_drop;
	j->job.arg = j;
	if (queue_push(t->q, &j->job) != VIVA_OK) {
		log_error("scheduled task not queued (queue full)", "name=%s slot=%lld", name, (long long)slot);
		store_schedule_finish(t->env->store, name, slot, t->env->clock->now(t->env->clock),
				      "error: queue full");
		free(j);
	}
}

static int64_t op_now(void *self)
{
	struct sched_thread *t = self;
	return t->env->clock->now(t->env->clock);
}

static const struct sched_ops thread_ops = {
	.claim = op_claim, .last = op_last, .fire = op_fire, .now = op_now,
};

static void *sched_main(void *arg)
{
	struct sched_thread *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		int64_t now, wake;
		struct timespec until;

		pthread_mutex_unlock(&t->mu);
		sched_tick(t->sched);
		now = op_now(t);
		wake = sched_next_wakeup(t->sched);
		/* Wake at least every minute so a clock step is noticed. */
		if (wake < 0 || wake > now + 60)
			wake = now + 60;
		pthread_mutex_lock(&t->mu);
		until.tv_sec = (time_t)wake;
		until.tv_nsec = 0;
		/* the wait itself is on the system's real-time clock */
		while (!t->stop && op_now(t) < wake)
			if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* The cron expression for a task: viva.yaml schedules.<name>, else its default. */
static const char *task_expr(const struct viva_config *cfg, const struct sched_task *task)
{
	if (strcmp(task->name, "lag") == 0 && cfg->schedule_lag)
		return cfg->schedule_lag;
	if (strcmp(task->name, "unused") == 0 && cfg->schedule_unused)
		return cfg->schedule_unused;
	return task->expr_default;
}

int sched_thread_start(struct viva_env *env, struct queue *q, struct sched_thread **out)
{
	struct sched_thread *t = xcalloc(1, sizeof(*t));
	char err[256];
	int rc;

	*out = NULL;
	t->env = env;
	t->q = q;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	rc = tz_load(env->cfg->timezone ? env->cfg->timezone : "UTC", &t->tz);
	if (rc != VIVA_OK) {
		log_error("cannot load the time zone", "timezone=%s", env->cfg->timezone);
		goto fail;
	}
	t->sched = sched_new(&thread_ops, t, t->tz);
	for (size_t i = 0; i < sched_table_len; i++) {
		const char *expr = task_expr(env->cfg, &sched_table[i]);
		if (sched_add(t->sched, sched_table[i].name, expr, err, sizeof(err)) != VIVA_OK) {
			log_error("bad schedule", "name=%s err=\"%s\"", sched_table[i].name, err);
			rc = VIVA_EINVAL;
			goto fail;
		}
	}
	if (pthread_create(&t->thread, NULL, sched_main, t) != 0) {
		rc = VIVA_EIO;
		goto fail;
	}
	*out = t;
	return VIVA_OK;
fail:
	sched_free(t->sched);
	tz_free(t->tz);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
	return rc;
}

void sched_thread_stop(struct sched_thread *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	sched_free(t->sched);
	tz_free(t->tz);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}
