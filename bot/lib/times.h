#ifndef VIVA_BOT_LIB_TIMES_H
#define VIVA_BOT_LIB_TIMES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * Monotonic milliseconds, for timeouts and deadlines. Wall-clock time is
 * read through struct viva_clock (bot/ctx.h), never here, so that tests and
 * the scheduler can set it: now_unix() is for the real clock alone.
 */
int64_t now_ms_mono(void);
int64_t now_unix(void);
/* The instant ms milliseconds from now on `clock` (CLOCK_MONOTONIC or
 * CLOCK_REALTIME), for pthread_cond_timedwait() and sem_clockwait(). */
struct timespec timespec_in(int clock, long ms);

/*
 * The civil calendar (proleptic Gregorian), days counted from 1970-01-01:
 * exact for any year viva meets (H. Hinnant's algorithms). Months 1-12.
 */
int64_t civil_floor_div(int64_t a, int64_t b);
int64_t civil_days_from(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned civil_weekday(int64_t days);          /* 0 = Sunday */
bool civil_is_leap(int64_t y);
unsigned civil_month_len(int64_t y, unsigned m);

#endif
