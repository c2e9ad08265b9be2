/* Processed envelopes and one-time button actions (see store/envelopes.h). */
#include "store/envelopes.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_envelope_claim(struct store *st, const char *key, const char *kind, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key || !*key || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/*
	 * One statement decides: the primary key makes a second insert a no-op,
	 * so racing threads or processes get exactly one change between them.
	 */
	rc = prepare_cached(st->db, "envelope_claim",
			    "INSERT OR IGNORE INTO envelopes(key, kind, ts) VALUES (?1, ?2, ?3)",
			    &st->claim_stmt, &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, kind ? kind : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now);
	rc = step_done(st->db, "envelope_claim", stmt);
	if (rc)
		goto out;
	rc = sqlite3_changes(st->db) == 1 ? VIVA_OK : VIVA_EDUP;
out:
	if (stmt)
		sqlite3_reset(stmt);   /* cached: release its locks, keep it */
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_envelope_prune(struct store *st, int64_t before, int *removed)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (removed)
		*removed = 0;
	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "envelope_prune", "DELETE FROM envelopes WHERE ts < ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int64(stmt, 1, before);
	rc = step_done(st->db, "envelope_prune", stmt);
	if (rc)
		goto out;
	if (removed)
		*removed = sqlite3_changes(st->db);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_action_claim(struct store *st, const char *key, const char *user_id, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key || !*key || !user_id || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_claim",
		     "INSERT OR IGNORE INTO action_claims(key, user_id, ts) VALUES (?1, ?2, ?3)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now);
	rc = step_done(st->db, "action_claim", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) != 1) {
		/* Taken: unless it is a stale claim of a process that died mid-action. */
		sqlite3_finalize(stmt);
		stmt = NULL;
		rc = prepare(st->db, "action_claim",
			     "UPDATE action_claims SET user_id = ?2, ts = ?3"
			     " WHERE key = ?1 AND result IS NULL AND op_id IS NULL AND ts < ?3 - ?4", &stmt);
		if (rc)
			goto out;
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, now);
		sqlite3_bind_int(stmt, 4, STORE_ACTION_STALE_S);
		rc = step_done(st->db, "action_claim", stmt);
		if (rc == VIVA_OK)
			rc = sqlite3_changes(st->db) == 1 ? VIVA_OK : VIVA_EDUP;
	}
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_action_release(struct store *st, const char *key)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_release", "DELETE FROM action_claims WHERE key = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = step_done(st->db, "action_release", stmt);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_action_finish(struct store *st, const char *key, const char *result)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key || !result)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_finish", "UPDATE action_claims SET result = ?2 WHERE key = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, result, -1, SQLITE_STATIC);
	rc = step_done(st->db, "action_finish", stmt);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_action_get(struct store *st, const char *key, char **user_id, int64_t *ts, char **result,
		     int64_t *op_id)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*user_id = NULL;
	*result = NULL;
	*ts = 0;
	if (op_id)
		*op_id = 0;
	if (!st || !key)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_get", "SELECT user_id, ts, result, op_id FROM action_claims WHERE key = ?1",
		     &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		*user_id = col_dup(stmt, 0);
		*ts = sqlite3_column_int64(stmt, 1);
		*result = sqlite3_column_type(stmt, 2) == SQLITE_NULL ? NULL : col_dup(stmt, 2);
		if (op_id)
			*op_id = sqlite3_column_int64(stmt, 3);
	} else if (src == SQLITE_DONE) {
		rc = VIVA_ENOENT;
	} else {
		rc = db_fail(st->db, "action_get", src);
	}
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
