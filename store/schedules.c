/* Scheduler runs (see store/schedules.h). */
#include "store/schedules.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_schedule_claim(struct store *st, const char *name, int64_t slot, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !name || !*name || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/* Same trick as envelopes: the primary key lets one claimer win. */
	rc = prepare(st->db, "schedule_claim",
		     "INSERT OR IGNORE INTO schedule_runs(name, slot, started) VALUES (?1, ?2, ?3)",
		     &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, slot);
	sqlite3_bind_int64(stmt, 3, now);
	rc = step_done(st->db, "schedule_claim", stmt);
	if (rc)
		goto out;
	rc = sqlite3_changes(st->db) == 1 ? VIVA_OK : VIVA_EDUP;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_schedule_finish(struct store *st, const char *name, int64_t slot, int64_t now,
			  const char *result)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !name || !*name || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "schedule_finish",
		     "UPDATE schedule_runs SET finished = ?3, result = ?4"
		     " WHERE name = ?1 AND slot = ?2", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, slot);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_text(stmt, 4, result ? result : "ok", -1, SQLITE_STATIC);
	rc = step_done(st->db, "schedule_finish", stmt);
	if (rc)
		goto out;
	rc = sqlite3_changes(st->db) == 1 ? VIVA_OK : VIVA_ENOENT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_schedule_last(struct store *st, const char *name, int64_t *slot)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (slot)
		*slot = 0;
	if (!st || !name || !slot)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "schedule_last",
		     "SELECT MAX(slot) FROM schedule_runs WHERE name = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src != SQLITE_ROW) {
		rc = db_fail(st->db, "schedule_last", src);
		goto out;
	}
	/* MAX() of no rows is NULL, which reads as 0: "never ran". */
	*slot = sqlite3_column_int64(stmt, 0);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
