/* The durable inbox (see store/inbox.h). */
#include "store/inbox.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long the loop's INSERT waits for a worker's write to end, at most. */
#define LOOP_BUSY_MAX_US 200000

struct inbox {
	sqlite3 *db;
	sqlite3_stmt *add;
};

/*
 * SQLite's default busy handler sleeps in whole milliseconds; a worker's
 * write transaction lasts microseconds. Yield, then sleep 20 µs at a time,
 * up to LOOP_BUSY_MAX_US in all.
 */
static int loop_busy(void *arg, int count)
{
	struct timespec ts = { 0, 20 * 1000 };
	(void)arg;

	if (count < 20) {
		sched_yield();
		return 1;
	}
	if ((long)(count - 20) * 20 > LOOP_BUSY_MAX_US)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

int inbox_open(const char *path, struct inbox **out)
{
	struct inbox *ib = NULL;
	sqlite3 *db = NULL;
	int src, rc = VIVA_OK;

	*out = NULL;
	if (!path || !*path || strcmp(path, ":memory:") == 0)
		return VIVA_EINVAL;
	src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		log_error("inbox open failed", "path=%s err=\"%s\"", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
		rc = VIVA_EIO;
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_handler(db, loop_busy, NULL);
	/* checkpoints (which fsync) are the workers' connection's business */
	sqlite3_wal_autocheckpoint(db, 0);
	rc = exec_sql(db, "inbox_pragmas", "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -64;");
	if (rc)
		goto fail;
	ib = xcalloc(1, sizeof(*ib));
	ib->db = db;
	rc = prepare_cached(db, "inbox_add",
			    "INSERT INTO inbox(envelope_id, type, frame, received) VALUES (?1, ?2, ?3, ?4)"
			    " ON CONFLICT(envelope_id) DO NOTHING", &ib->add, &ib->add);
	if (rc) {
		free(ib);
		goto fail;
	}
	*out = ib;
	return VIVA_OK;
fail:
	sqlite3_close_v2(db);
	return rc;
}

void inbox_close(struct inbox *ib)
{
	if (!ib)
		return;
	sqlite3_finalize(ib->add);
	sqlite3_close_v2(ib->db);
	free(ib);
}

int inbox_add(struct inbox *ib, const char *envelope_id, const char *type, const char *frame, size_t len,
	      int64_t now)
{
	int src;

	if (!ib || !envelope_id || !*envelope_id || !type || !frame)
		return VIVA_EINVAL;
	sqlite3_reset(ib->add);
	sqlite3_bind_text(ib->add, 1, envelope_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(ib->add, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ib->add, 3, frame, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(ib->add, 4, now);
	src = sqlite3_step(ib->add);
	sqlite3_reset(ib->add);
	sqlite3_clear_bindings(ib->add);
	if (src != SQLITE_DONE)
		return db_fail(ib->db, "inbox_add", src);
	return sqlite3_changes(ib->db) == 1 ? VIVA_OK : VIVA_EDUP;
}

int inbox_forget(struct inbox *ib, const char *envelope_id)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!ib || !envelope_id)
		return VIVA_EINVAL;
	rc = prepare(ib->db, "inbox_forget", "DELETE FROM inbox WHERE envelope_id = ?1 AND state = 0", &stmt);
	if (rc)
		return rc;
	sqlite3_bind_text(stmt, 1, envelope_id, -1, SQLITE_STATIC);
	rc = step_done(ib->db, "inbox_forget", stmt);
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- through the store ---------------------------------------------------- */

static int set_state(struct store *st, const char *envelope_id, int state, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !envelope_id)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/* twice per envelope: prepared once */
	rc = prepare_cached(st->db, "inbox_state", "UPDATE inbox SET state = ?2, finished = ?3 WHERE envelope_id = ?1",
			    &st->inbox_state_stmt, &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, envelope_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, state);
	if (now)
		sqlite3_bind_int64(stmt, 3, now);
	rc = step_done(st->db, "inbox_state", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ENOENT;
	if (stmt)
		sqlite3_reset(stmt);
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_inbox_started(struct store *st, const char *envelope_id)
{
	return set_state(st, envelope_id, 1, 0);
}

int store_inbox_finished(struct store *st, const char *envelope_id, int64_t now)
{
	if (now <= 0)
		return VIVA_EINVAL;
	return set_state(st, envelope_id, 2, now);
}

int store_inbox_started_frame(struct store *st, const char *envelope_id, char **frame, size_t *len)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*frame = NULL;
	*len = 0;
	if (!st || !envelope_id)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	/* one statement: the row the UPDATE reads anyway gives the frame */
	rc = prepare_cached(st->db, "inbox_started_frame",
			    "UPDATE inbox SET state = 1, finished = NULL WHERE envelope_id = ?1 RETURNING frame",
			    &st->inbox_frame_stmt, &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, envelope_id, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		int blen = sqlite3_column_bytes(stmt, 0);
		const void *b = sqlite3_column_blob(stmt, 0);

		*frame = xmalloc((size_t)blen + 1);
		if (blen > 0)
			memcpy(*frame, b, (size_t)blen);
		(*frame)[blen] = '\0';
		*len = (size_t)blen;
		src = sqlite3_step(stmt);
	} else if (src == SQLITE_DONE) {
		rc = VIVA_ENOENT;
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "inbox_started_frame", src);
		free(*frame);
		*frame = NULL;
		*len = 0;
	}
	sqlite3_reset(stmt);
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void store_inbox_free(struct store_inbox_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].envelope_id);
		free(v[i].type);
		free(v[i].frame);
	}
	free(v);
}

int store_inbox_unfinished(struct store *st, int64_t since, int limit, struct store_inbox_entry **out,
			   size_t *n)
{
	struct store_inbox_entry *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || limit <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "inbox_unfinished",
		     "SELECT envelope_id, type, frame, received, state FROM inbox"
		     " WHERE state < 2 AND received >= ?1 ORDER BY received, rowid LIMIT ?2", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int64(stmt, 1, since);
	sqlite3_bind_int(stmt, 2, limit);
	v = xcalloc((size_t)limit, sizeof(*v));
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		int blen = sqlite3_column_bytes(stmt, 2);
		const void *b = sqlite3_column_blob(stmt, 2);

		v[len].envelope_id = col_dup(stmt, 0);
		v[len].type = col_dup(stmt, 1);
		v[len].frame = xmalloc((size_t)blen + 1);
		if (blen > 0)
			memcpy(v[len].frame, b, (size_t)blen);
		v[len].frame[blen] = '\0';
		v[len].len = (size_t)blen;
		v[len].received = sqlite3_column_int64(stmt, 3);
		v[len].state = sqlite3_column_int(stmt, 4);
		len++;
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "inbox_unfinished", src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_inbox_free(v, len);
	return rc;
}

static int delete_or_close(struct store *st, const char *op, const char *sql, int64_t when, int *count)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (count)
		*count = 0;
	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, op, sql, &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int64(stmt, 1, when);
	rc = step_done(st->db, op, stmt);
	if (rc == VIVA_OK && count)
		*count = sqlite3_changes(st->db);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_inbox_expire(struct store *st, int64_t before, int *expired)
{
	return delete_or_close(st, "inbox_expire", "UPDATE inbox SET state = 2, finished = ?1"
			       " WHERE state < 2 AND received < ?1", before, expired);
}

int store_inbox_prune(struct store *st, int64_t before, int *removed)
{
	return delete_or_close(st, "inbox_prune", "DELETE FROM inbox WHERE state = 2 AND received < ?1",
			       before, removed);
}
