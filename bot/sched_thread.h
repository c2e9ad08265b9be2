#ifndef VIVA_BOT_SCHED_THREAD_H
#define VIVA_BOT_SCHED_THREAD_H

#include "bot/ctx.h"

/*
 * The scheduler thread: turns the cron expressions of the schedule table
 * (bot/commands.c, expressions from viva.yaml `schedules`) into jobs on the
 * workers' queue. Decisions are bot/sched.c's; runs are claimed in the store
 * so that a restart neither repeats nor silently skips a slot.
 */
struct queue;
struct sched_thread;

int sched_thread_start(struct viva_env *env, struct queue *q, struct sched_thread **out);
/* Stop and free; NULL is fine. */
void sched_thread_stop(struct sched_thread *t);

/* Run scheduled task `name` now on this thread (tests; the worker job). */
int sched_run_task(struct viva_env *env, const char *name, int64_t slot);

#endif
