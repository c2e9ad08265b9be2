/* Snoozes and the savings tally (see store/unused.h). */
#include "store/unused.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int store_snooze_set(struct store *st, const char *service, int64_t until, const char *by, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !service || !by || now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "snooze_set",
		     "INSERT INTO snoozes(service, until, by, at) VALUES (?1, ?2, ?3, ?4)"
		     " ON CONFLICT(service) DO UPDATE SET until = ?2, by = ?3, at = ?4", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, service, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, until);
		sqlite3_bind_text(stmt, 3, by, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, now);
		rc = step_done(st->db, "snooze_set", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_snooze_get(struct store *st, const char *service, int64_t *until, char **by)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*until = 0;
	if (by)
		*by = NULL;
	if (!st || !service)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare_cached(st->db, "snooze_get", "SELECT until, by FROM snoozes WHERE service = ?1",
			    &st->snooze_get_stmt, &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_text(stmt, 1, service, -1, SQLITE_STATIC);
		src = sqlite3_step(stmt);
		if (src == SQLITE_ROW) {
			*until = sqlite3_column_int64(stmt, 0);
			if (by)
				*by = col_dup(stmt, 1);
		} else if (src != SQLITE_DONE) {
			rc = db_fail(st->db, "snooze_get", src);
		}
		sqlite3_reset(stmt);   /* cached: release its snapshot, keep it */
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_saving_add(struct store *st, int64_t op_id, const struct store_saving *s)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !s || !s->service || !s->confirmed_by || !s->via || s->removed_at <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "saving_add",
		     "INSERT OR IGNORE INTO savings(op_id, service, removed_at, confirmed_by, via, cpu_milli,"
		     " memory_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &stmt);
	if (rc == VIVA_OK) {
		if (op_id > 0)
			sqlite3_bind_int64(stmt, 1, op_id);
		sqlite3_bind_text(stmt, 2, s->service, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, s->removed_at);
		sqlite3_bind_text(stmt, 4, s->confirmed_by, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, s->via, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 6, s->cpu_milli);
		sqlite3_bind_int64(stmt, 7, s->memory_bytes);
		rc = step_done(st->db, "saving_add", stmt);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_savings_list(struct store *st, int limit, struct store_saving **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || limit <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "savings_list",
		     "SELECT id, service, removed_at, confirmed_by, via, cpu_milli, memory_bytes FROM savings"
		     " ORDER BY removed_at DESC, id DESC LIMIT ?1", &stmt);
	if (rc == VIVA_OK) {
		sqlite3_bind_int(stmt, 1, limit);
		while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
			struct store_saving *s;

			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			s = &(*out)[(*n)++];
			s->id = sqlite3_column_int64(stmt, 0);
			s->service = col_dup(stmt, 1);
			s->removed_at = sqlite3_column_int64(stmt, 2);
			s->confirmed_by = col_dup(stmt, 3);
			s->via = col_dup(stmt, 4);
			s->cpu_milli = sqlite3_column_int64(stmt, 5);
			s->memory_bytes = sqlite3_column_int64(stmt, 6);
		}
		if (src != SQLITE_DONE)
			rc = db_fail(st->db, "savings_list", src);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	if (rc != VIVA_OK) {
		store_savings_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_savings_free(struct store_saving *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].service);
		free(v[i].confirmed_by);
		free(v[i].via);
	}
	free(v);
}
