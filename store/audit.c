/* The audit log (see store/audit.h). */
#include "store/audit.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int audit_insert(struct store *st, int64_t ts, const char *user_id, const char *action,
			const char *target, const char *params_json, const char *result, int64_t *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (id)
		*id = 0;
	if (!st || !user_id || !action || !result || ts <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "audit_add",
		     "INSERT INTO audit_log(ts, user_id, action, target, params, result)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int64(stmt, 1, ts);
	sqlite3_bind_text(stmt, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, target ? target : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, params_json ? params_json : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, result, -1, SQLITE_STATIC);
	rc = step_done(st->db, "audit_add", stmt);
	if (rc == VIVA_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_audit_add(struct store *st, int64_t ts, const char *user_id, const char *action,
		    const char *target, const char *params_json, const char *result)
{
	return audit_insert(st, ts, user_id, action, target, params_json, result, NULL);
}

int store_audit_begin(struct store *st, int64_t ts, const char *user_id, const char *action,
		      const char *target, const char *params_json, int64_t *id)
{
	return audit_insert(st, ts, user_id, action, target, params_json, "running", id);
}

/* result NULL: the outcome is left as it is. */
static int audit_set(struct store *st, int64_t id, const char *target, const char *params_json, const char *result)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || id <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "audit_finish",
		     "UPDATE audit_log SET result = coalesce(?2, result), target = coalesce(?3, target),"
		     " params = coalesce(?4, params) WHERE id = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int64(stmt, 1, id);
	if (result)
		sqlite3_bind_text(stmt, 2, result, -1, SQLITE_STATIC);
	if (target)
		sqlite3_bind_text(stmt, 3, target, -1, SQLITE_STATIC);
	if (params_json)
		sqlite3_bind_text(stmt, 4, params_json, -1, SQLITE_STATIC);
	rc = step_done(st->db, "audit_finish", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ENOENT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_audit_finish(struct store *st, int64_t id, const char *target, const char *params_json,
		       const char *result)
{
	return result ? audit_set(st, id, target, params_json, result) : VIVA_EINVAL;
}

int store_audit_update(struct store *st, int64_t id, const char *target, const char *params_json)
{
	return audit_set(st, id, target, params_json, NULL);
}

int store_audit_interrupted(struct store *st, const char *result, int *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (n)
		*n = 0;
	if (!st || !result)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/* not the ones a durable operation answers for: its resumption finishes them */
	rc = prepare(st->db, "audit_interrupted", "UPDATE audit_log SET result = ?1 WHERE result = 'running'"
		     " AND id NOT IN (SELECT audit_id FROM operations WHERE state = 'running'"
		     " AND audit_id IS NOT NULL)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, result, -1, SQLITE_STATIC);
	rc = step_done(st->db, "audit_interrupted", stmt);
	if (rc == VIVA_OK && n)
		*n = sqlite3_changes(st->db);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_audit_list(struct store *st, const char *target, int limit,
		     struct store_audit_entry **out, size_t *n)
{
	struct store_audit_entry *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0, cap = 0;
	int rc, src;

	if (!out || !n)
		return VIVA_EINVAL;
	*out = NULL;
	*n = 0;
	if (!st || limit < 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/* ?1 IS NULL keeps one bound statement for both cases; id is insertion order. */
	rc = prepare(st->db, "audit_list",
		     "SELECT id, ts, user_id, action, target, params, result FROM audit_log"
		     " WHERE ?1 IS NULL OR target = ?1 ORDER BY id DESC LIMIT ?2", &stmt);
	if (rc)
		goto out;
	if (target)
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 1);
	sqlite3_bind_int(stmt, 2, limit);
	for (;;) {
		struct store_audit_entry *e;

		src = sqlite3_step(stmt);
		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = db_fail(st->db, "audit_list", src);
			goto out;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		e = &v[len++];
		e->id = sqlite3_column_int64(stmt, 0);
		e->ts = sqlite3_column_int64(stmt, 1);
		e->user_id = col_dup(stmt, 2);
		e->action = col_dup(stmt, 3);
		e->target = col_dup(stmt, 4);
		e->params_json = col_dup(stmt, 5);
		e->result = col_dup(stmt, 6);
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_audit_free(v, len);
	return rc;
}

void store_audit_free(struct store_audit_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].user_id);
		free(e[i].action);
		free(e[i].target);
		free(e[i].params_json);
		free(e[i].result);
	}
	free(e);
}
