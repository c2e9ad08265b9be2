#ifndef VIVA_BOT_LIB_TZ_H
#define VIVA_BOT_LIB_TZ_H

#include <stddef.h>
#include <stdint.h>

/*
 * Time zones for schedules and dates shown (SPEC section 2, `timezone`).
 * Pure logic: no threads, no global state, no setenv("TZ"), so every
 * function here may be called from any thread.
 *
 * A struct tz is one IANA zone read from its TZif file
 * (/usr/share/zoneinfo/<name>): the transition table (64-bit v2+ data when
 * present, else v1) plus the POSIX TZ footer that gives the rule for every
 * instant after the last transition (so slim zone files, which stop listing
 * transitions in 2007, are still right in 2030). Leap-second records
 * ("right/" zones) are ignored. A struct tz is immutable once loaded and may
 * be shared between threads.
 */
struct tz;

/*
 * Load zone `name` ("Asia/Seoul", "UTC"). On success *out is the caller's
 * (tz_free). Errors: VIVA_EINVAL for a name that is not a zone name (empty,
 * absolute, "..", odd characters), VIVA_ENOENT when no such zone file
 * exists, VIVA_EIO when it cannot be read, VIVA_EPARSE when it is not a
 * TZif file. "UTC" and "Etc/UTC" work even without tzdata installed.
 * *out is NULL on failure.
 */
int tz_load(const char *name, struct tz **out);

/*
 * Parse TZif bytes (the content of a zone file) into a zone called `name`
 * (kept for logs; NULL is fine). Same ownership and errors as tz_load,
 * without the file errors. Never reads outside data[0..len).
 */
int tz_parse(const char *name, const void *data, size_t len, struct tz **out);

/* NULL is fine. */
void tz_free(struct tz *tz);

/* The name given at load time (borrowed; "UTC" for NULL). */
const char *tz_name(const struct tz *tz);

/* Seconds east of UTC in effect at unix time t. tz NULL means UTC. */
int32_t tz_offset_at(const struct tz *tz, int64_t t);

/*
 * The earliest instant whose local wall time (seconds since the epoch as if
 * local were UTC) is `wall`, or INT64_MIN when `wall` falls in a gap (the
 * spring-forward hour). tz NULL means UTC.
 */
int64_t tz_wall_to_utc(const struct tz *tz, int64_t wall);

#endif
