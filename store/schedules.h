#ifndef VIVA_STORE_SCHEDULES_H
#define VIVA_STORE_SCHEDULES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- scheduler runs ---------------------------------------------------- */
/*
 * Claim the run of schedule `name` at time slot `slot` (unix seconds of the
 * cron minute). VIVA_OK if newly claimed, VIVA_EDUP if that slot was already
 * claimed. Atomic, like store_envelope_claim: one claim wins per slot, even
 * across processes sharing the file. now (> 0) is the caller's clock.
 */
int store_schedule_claim(struct store *st, const char *name, int64_t slot, int64_t now);
/*
 * Record that the claimed run finished with `result` ("ok", "error: ...";
 * NULL means "ok"). VIVA_ENOENT if that slot was never claimed.
 */
int store_schedule_finish(struct store *st, const char *name, int64_t slot, int64_t now,
			  const char *result);
/* The newest claimed slot of `name`, 0 if none. */
int store_schedule_last(struct store *st, const char *name, int64_t *slot);

#endif
