#include "bot/sched.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Skipped slots older than the window: log this many one by one, then one
 * summary line; count at most SKIP_SCAN_MAX (a year down with "* * * * *"
 * must not stall the tick). */
#define SKIP_LOG_MAX 5
#define SKIP_SCAN_MAX 10000
/* Slots inside the window: at most one a minute over SCHED_CATCHUP_MAX. */
#define WINDOW_SCAN_MAX (SCHED_CATCHUP_MAX / 60 + 2)

struct sched_entry {
	char *name;
	struct cron_expr expr;
	/* Every slot <= seen was dealt with by this process (fired, found
	 * claimed, or skipped): keeps a tick from logging the same skipped
	 * slots again every minute. In memory only; 0 after a restart. */
	int64_t seen;
	bool retry;        /* the last claim failed; try again soon */
};

struct sched {
	struct sched_ops ops;
	void *self;
	const struct tz *tz;
	int64_t catchup;
	struct sched_entry *e;
	size_t n;
};

/* Skipped slots of one entry in one tick. */
struct skips {
	long long count;
	int64_t first, last;
	bool capped;
};

static const char *utc_iso(char *buf, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "?");
	return buf;
}

static void skip(const struct sched_entry *e, struct skips *sk, int64_t slot, const char *why)
{
	char at[32];

	if (sk->count == 0)
		sk->first = slot;
	sk->last = slot;
	if (++sk->count <= SKIP_LOG_MAX)
		log_warn("schedule slot skipped", "name=%s slot=%lld at=%s reason=\"%s\"", e->name,
			 (long long)slot, utc_iso(at, sizeof(at), slot), why);
}

static void skip_summary(const struct sched_entry *e, const struct skips *sk)
{
	char a[32], b[32];

	if (sk->count <= SKIP_LOG_MAX)
		return;
	log_warn("schedule slots skipped", "name=%s count=%lld%s first=%s last=%s", e->name,
		 sk->count, sk->capped ? "+" : "", utc_iso(a, sizeof(a), sk->first),
		 utc_iso(b, sizeof(b), sk->last));
}

struct sched *sched_new(const struct sched_ops *ops, void *self, const struct tz *tz)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->ops = *ops;
	s->self = self;
	s->tz = tz;
	s->catchup = SCHED_CATCHUP_DEFAULT;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	free(s);
}

void sched_set_catchup(struct sched *s, int64_t seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds > SCHED_CATCHUP_MAX)
		seconds = SCHED_CATCHUP_MAX;
	s->catchup = seconds;
}

static bool name_ok(const char *name)
{
	size_t n = strnlen(name, SCHED_NAME_MAX + 1);

	if (n == 0 || n > SCHED_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int sched_add(struct sched *s, const char *name, const char *expr, char *err, size_t errlen)
{
	struct cron_expr c;
	char cerr[CRON_EXPR_MAX + 128];
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!name || !name_ok(name)) {
		if (err && errlen)
			snprintf(err, errlen, "schedule name is not valid (a-z, 0-9, - and _, at most %d characters)",
				 SCHED_NAME_MAX);
		return VIVA_EINVAL;
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0) {
			if (err && errlen)
				snprintf(err, errlen, "schedule %s: defined twice", name);
			return VIVA_EINVAL;
		}
	if (s->n >= SCHED_ENTRIES_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "schedule %s: too many schedules (at most %d)", name,
				 SCHED_ENTRIES_MAX);
		return VIVA_ERANGE;
	}
	rc = cron_parse(expr, &c, cerr, sizeof(cerr));
	if (rc) {
		if (err && errlen)
			snprintf(err, errlen, "schedule %s: %s", name, cerr);
		return rc;
	}
	/* A schedule that can never fire is a typo ("0 0 31 2 *"); say so at
	 * start-up instead of staying silent forever. */
	if (cron_next(&c, s->ops.now(s->self), s->tz) < 0) {
		if (err && errlen)
			snprintf(err, errlen, "schedule %s: cron \"%s\" never fires", name, expr);
		return VIVA_EINVAL;
	}
	s->e = xrealloc(s->e, (s->n + 1) * sizeof(*s->e));
	memset(&s->e[s->n], 0, sizeof(s->e[s->n]));
	s->e[s->n].name = xstrdup(name);
	s->e[s->n].expr = c;
	s->n++;
	return VIVA_OK;
}

/* Returns 1 when it fired, 0 otherwise. */
static int tick_entry(struct sched *s, struct sched_entry *e, int64_t now)
{
	struct skips sk = { 0 };
	int64_t last = 0, win = now - s->catchup, from, t, newest = -1;
	char at[32];
	int rc, fired = 0, steps;

	rc = s->ops.last(s->self, e->name, &last);
	if (rc < 0) {
		log_warn("schedule last run unknown", "name=%s err=\"%s\"", e->name, viva_strerror(rc));
		last = 0;
	}
	/* Slots in (from, now] are due; with no record, only the window. */
	from = last > 0 ? last : win - 1;
	if (e->seen > from)
		from = e->seen;

	/* Missed slots too old to run. */
	t = from;
	for (steps = 0; t < win - 1; steps++) {
		if (steps >= SKIP_SCAN_MAX) {
			sk.capped = true;
			t = win - 1;
			break;
		}
		t = cron_next(&e->expr, t, s->tz);
		if (t < 0 || t >= win)
			break;
		skip(e, &sk, t, "older than the catch-up window");
	}
	/* Slots inside the window: only the newest runs. */
	t = from > win - 1 ? from : win - 1;
	for (steps = 0; steps < WINDOW_SCAN_MAX; steps++) {
		t = cron_next(&e->expr, t, s->tz);
		if (t < 0 || t > now)
			break;
		if (newest >= 0)
			skip(e, &sk, newest, "a newer slot is due");
		newest = t;
	}
	skip_summary(e, &sk);

	e->retry = false;
	if (now > e->seen)
		e->seen = now; /* never lowered by a clock stepping back */
	if (newest < 0)
		return 0;
	rc = s->ops.claim(s->self, e->name, newest);
	if (rc == VIVA_OK) {
		log_info("schedule fired", "name=%s slot=%lld at=%s late_s=%lld", e->name,
			 (long long)newest, utc_iso(at, sizeof(at), newest), (long long)(now - newest));
		s->ops.fire(s->self, e->name, newest);
		fired = 1;
	} else if (rc == VIVA_EDUP) {
		log_debug("schedule slot claimed elsewhere", "name=%s slot=%lld", e->name,
			  (long long)newest);
	} else {
		log_error("schedule claim failed", "name=%s slot=%lld err=\"%s\"", e->name,
			  (long long)newest, viva_strerror(rc));
		/* Look at this slot again next tick, while it is inside the window. */
		e->seen = newest - 1;
		e->retry = true;
	}
	return fired;
}

int sched_tick(struct sched *s)
{
	int64_t now = s->ops.now(s->self);
	int fired = 0;

	for (size_t i = 0; i < s->n; i++)
		fired += tick_entry(s, &s->e[i], now);
	return fired;
}

int64_t sched_next_wakeup(struct sched *s)
{
	int64_t now = s->ops.now(s->self), best = -1;

	for (size_t i = 0; i < s->n; i++) {
		const struct sched_entry *e = &s->e[i];
		/* After the clock stepped back, slots up to `seen` are done. */
		int64_t base = e->seen > now ? e->seen : now;
		int64_t t = e->retry ? now + SCHED_RETRY_S : cron_next(&e->expr, base, s->tz);

		if (t >= 0 && (best < 0 || t < best))
			best = t;
	}
	return best;
}
