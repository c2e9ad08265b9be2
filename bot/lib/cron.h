#ifndef VIVA_BOT_LIB_CRON_H
#define VIVA_BOT_LIB_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/lib/tz.h"

/*
 * Cron expressions for the scheduler (SPEC section 2, `schedules` in
 * `timezone`). Pure logic: no threads, no global state, so every function
 * here may be called from any thread.
 *
 * Five fields separated by blanks (spaces or tabs):
 *   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
 *   day-of-week 0-7 or SUN-SAT (0 and 7 are both Sunday).
 * Each field is a comma list of items; an item is `*`, `N`, `A-B`, with an
 * optional step: `*\/S`, `A-B/S`, `A/S` (A through the field's maximum).
 * For day-of-week the implied range of `*` and `A/S` is 0-6. Names are
 * three letters; names and macros are case-insensitive. Macros: @hourly
 * @daily @midnight @weekly @monthly @yearly @annually.
 *
 * Days follow Vixie cron (crontab(5)): when both day-of-month and
 * day-of-week are restricted, a day matches if EITHER matches; otherwise
 * both must. A field counts as unrestricted when its text starts with `*`
 * (so `*\/2` is unrestricted, exactly as in Vixie cron and cronie).
 */
struct cron_expr {
	uint64_t minutes;  /* bit m set: minute m (0-59) */
	uint32_t hours;    /* bit h: hour h (0-23) */
	uint32_t mdays;    /* bit d: day of month d (1-31) */
	uint16_t months;   /* bit m: month m (1-12) */
	uint8_t wdays;     /* bit d: day of week d (0-6, Sunday 0; 7 folded into 0) */
	bool mday_star;    /* day-of-month field started with '*' */
	bool wday_star;    /* day-of-week field started with '*' */
};

/* Longest expression cron_parse accepts, in bytes. */
#define CRON_EXPR_MAX 256

/*
 * Parse expr into *out. 0 on success; VIVA_EINVAL otherwise, with one line in
 * err (if err is not NULL) naming the field and the problem, e.g.
 *   cron "0 25 * * *": hour field: 25 is out of range 0-23
 * Rejects NULL or empty input, a field count other than 5, unknown names or
 * macros, out-of-range values, step 0, reversed ranges, trailing junk and
 * input longer than CRON_EXPR_MAX. *out is zeroed on failure.
 */
int cron_parse(const char *expr, struct cron_expr *out, char *err, size_t errlen);

/*
 * The first slot of c strictly after unix time `after`, as unix seconds (the
 * start of a local minute), in zone tz (NULL means UTC). Local times that do
 * not exist (the spring-forward gap) are skipped; a local time that happens
 * twice (fall back) counts once, at its first occurrence (so even
 * "* * * * *" is quiet during the repeated hour). Searches at most
 * CRON_SEARCH_YEARS ahead (enough for 29 February across a century that is
 * not a leap year); returns -1 when nothing matches in that span (e.g.
 * "0 0 31 2 *") or when `after` is beyond year 5000 or before 1800.
 */
#define CRON_SEARCH_YEARS 9
int64_t cron_next(const struct cron_expr *c, int64_t after, const struct tz *tz);

/*
 * Whether unix time t falls in a slot of c in zone tz (NULL means UTC): the
 * local minute containing t matches c and this is that local minute's first
 * occurrence (the repeated hour after falling back never matches).
 * Consistent with cron_next: cron_matches(c, t) for t on a minute start
 * iff cron_next(c, t - 1) == t.
 */
bool cron_matches(const struct cron_expr *c, int64_t t, const struct tz *tz);

#endif
