#ifndef VIVA_STORE_UNUSED_H
#define VIVA_STORE_UNUSED_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- the unused-service audit's snoozes, and the savings tally ---------- */

/* "Still in use": service is left out of unused audits until `until`. */
int store_snooze_set(struct store *st, const char *service, int64_t until, const char *by, int64_t now);
/* The snooze of service: *until (0 when none) and *by (may be NULL; caller frees). */
int store_snooze_get(struct store *st, const char *service, int64_t *until, char **by);

struct store_saving {
	int64_t id;
	char *service;
	int64_t removed_at;
	char *confirmed_by;    /* Slack user id */
	char *via;             /* "unused audit", "pipeline delete" */
	int64_t cpu_milli;     /* instances x requests, every environment */
	int64_t memory_bytes;
};
/*
 * A deleted service's resources into the tally, once per operation
 * (op_id): recording it again changes nothing.
 */
int store_saving_add(struct store *st, int64_t op_id, const struct store_saving *s);
/* Every saving, newest first, at most limit. */
int store_savings_list(struct store *st, int limit, struct store_saving **out, size_t *n);
void store_savings_free(struct store_saving *v, size_t n);

#endif
