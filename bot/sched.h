#ifndef VIVA_BOT_SCHED_H
#define VIVA_BOT_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "bot/lib/cron.h"

/*
 * The scheduler's decisions (SPEC section 2, `schedules`): which cron slots
 * are due now, which to run and which to skip. No threads and no clock of its
 * own: the clock and the run records come in through struct sched_ops, so
 * tests drive it with a fake clock and an in-memory claim table, and the
 * runtime with the environment's clock and store_schedule_claim()/store_schedule_last().
 *
 * A slot is the unix time (seconds) at which a local cron minute starts.
 * Every run is claimed before it is fired, and a claim succeeds once per
 * (name, slot) across restarts and across processes sharing the store, so a
 * slot never runs twice. The claim is taken before the job is queued: a crash
 * between the two loses that run rather than repeating it (the job's own
 * result is recorded later with store_schedule_finish).
 *
 * Catch-up: after a restart, the newest slot that fell due at most
 * `catchup` seconds ago (default SCHED_CATCHUP_DEFAULT) still runs, once.
 * Older missed slots never run (no burst of stale reports after a long
 * outage); each is logged with log_warn("schedule slot skipped", ...).
 *
 * One thread owns a struct sched; it is not locked. The thread calls
 * sched_tick() when it wakes and then sleeps until sched_next_wakeup(), but
 * for at most a minute or so, so that a wall-clock step is noticed.
 */

struct sched_ops {
	/* Claim slot `slot` of schedule `name`: VIVA_OK when this caller got it,
	 * VIVA_EDUP when it was claimed already (by anyone), another negative
	 * viva_err on failure (the slot is tried again on the next tick). */
	int (*claim)(void *self, const char *name, int64_t slot);
	/* The newest claimed slot of `name` into *slot, 0 when none. Returns 0,
	 * or a negative viva_err (then the tick works as if there were none;
	 * claims still keep it from running a slot twice). */
	int (*last)(void *self, const char *name, int64_t *slot);
	/* Run the job of a claimed slot: the runtime queues it for a worker.
	 * Must not block. */
	void (*fire)(void *self, const char *name, int64_t slot);
	/* Wall clock, unix seconds. */
	int64_t (*now)(void *self);
};

#define SCHED_CATCHUP_DEFAULT (15 * 60)
#define SCHED_CATCHUP_MAX (24 * 60 * 60)
#define SCHED_NAME_MAX 64
#define SCHED_ENTRIES_MAX 64
/* How soon sched_next_wakeup() asks to retry a failed claim. */
#define SCHED_RETRY_S 60

struct sched;

/*
 * A scheduler with no entries. ops is copied; self is passed to every op;
 * tz is borrowed (NULL means UTC) and must outlive the scheduler. Free with
 * sched_free().
 */
struct sched *sched_new(const struct sched_ops *ops, void *self, const struct tz *tz);
void sched_free(struct sched *s);

/*
 * Add schedule `name` (e.g. "lag"; [a-z0-9_-], at most SCHED_NAME_MAX) with
 * cron expression `expr`. VIVA_EINVAL with one line in err (may be NULL) for
 * a bad name, a name added twice, a bad expression or one that never fires
 * ("0 0 31 2 *"); VIVA_ERANGE past SCHED_ENTRIES_MAX entries.
 */
int sched_add(struct sched *s, const char *name, const char *expr, char *err, size_t errlen);

/* Catch-up window in seconds, clamped to [0, SCHED_CATCHUP_MAX]. */
void sched_set_catchup(struct sched *s, int64_t seconds);

/*
 * Decide and fire what is due at ops->now(): per entry, at most one slot
 * (the newest due one still inside the catch-up window), claimed first and
 * fired only if this call won the claim. Calling it again in the same minute
 * fires nothing. Returns the number of jobs fired (>= 0).
 */
int sched_tick(struct sched *s);

/*
 * The unix time of the earliest upcoming slot across entries (strictly
 * after now), or now + SCHED_RETRY_S when a claim failed and waits for a
 * retry; -1 when there is nothing to wait for.
 */
int64_t sched_next_wakeup(struct sched *s);

#endif
