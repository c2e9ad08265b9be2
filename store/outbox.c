/* Deferred answers kept across restarts (see store/outbox.h). */
#include "store/outbox.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>

int store_outbox_put(struct store *st, int64_t *id, const char *route, const char *msgs, int64_t deadline,
		     int tries)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !id || *id < 0 || !route || !msgs || deadline <= 0 || tries < 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	if (*id == 0)
		rc = prepare(st->db, "outbox_add",
			     "INSERT INTO outbox(route, msgs, deadline, tries) VALUES (?1, ?2, ?3, ?4)", &stmt);
	else
		rc = prepare(st->db, "outbox_set",
			     "UPDATE outbox SET route = ?1, msgs = ?2, deadline = ?3, tries = ?4 WHERE id = ?5", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, route, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, msgs, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, deadline);
	sqlite3_bind_int(stmt, 4, tries);
	if (*id)
		sqlite3_bind_int64(stmt, 5, *id);
	rc = step_done(st->db, "outbox_put", stmt);
	if (rc == VIVA_OK && *id == 0)
		*id = sqlite3_last_insert_rowid(st->db);
	else if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ENOENT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_outbox_remove(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || id <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "outbox_remove", "DELETE FROM outbox WHERE id = ?1", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = step_done(st->db, "outbox_remove", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void store_outbox_free(struct store_outbox_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].route);
		free(v[i].msgs);
	}
	free(v);
}

int store_outbox_all(struct store *st, int limit, struct store_outbox_entry **out, size_t *n)
{
	struct store_outbox_entry *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || limit <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "outbox_all", "SELECT id, route, msgs, deadline, tries FROM outbox ORDER BY id LIMIT ?1",
		     &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int(stmt, 1, limit);
	v = xcalloc((size_t)limit, sizeof(*v));
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		v[len].id = sqlite3_column_int64(stmt, 0);
		v[len].route = col_dup(stmt, 1);
		v[len].msgs = col_dup(stmt, 2);
		v[len].deadline = sqlite3_column_int64(stmt, 3);
		/* out of range (a hand-edited row) reads as -1: the caller refuses it */
		v[len].tries = sqlite3_column_int64(stmt, 4) < 0 || sqlite3_column_int64(stmt, 4) > INT_MAX ? -1
			       : sqlite3_column_int(stmt, 4);
		len++;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(st->db, "outbox_all", src);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	if (rc) {
		store_outbox_free(v, len);
		return rc;
	}
	*out = v;
	*n = len;
	return VIVA_OK;
}
