/* Durable operations (see store/operations.h). */
#include "store/operations.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OP_COLS "id, kind, target, state, step, data, started_by, channel, message_ts, audit_id, holder," \
		" heartbeat, started, finished, outcome, locked"

static const char *const state_names[] = { "running", "done", "failed", "abandoned" };

const char *store_op_state_name(enum store_op_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "unknown";
}

static enum store_op_state state_of(const char *s)
{
	for (size_t i = 0; s && i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(state_names[i], s) == 0)
			return (enum store_op_state)i;
	return OP_ABANDONED;
}

static char *col_or_null(sqlite3_stmt *stmt, int col)
{
	return sqlite3_column_type(stmt, col) == SQLITE_NULL ? NULL : col_dup(stmt, col);
}

static void op_from_row(sqlite3_stmt *stmt, struct store_op *op)
{
	char *state = col_dup(stmt, 3);

	memset(op, 0, sizeof(*op));
	op->id = sqlite3_column_int64(stmt, 0);
	op->kind = col_dup(stmt, 1);
	op->target = col_dup(stmt, 2);
	op->state = state_of(state);
	op->step = sqlite3_column_int(stmt, 4);
	op->data = col_dup(stmt, 5);
	op->started_by = col_dup(stmt, 6);
	op->channel = col_or_null(stmt, 7);
	op->message_ts = col_or_null(stmt, 8);
	op->audit_id = sqlite3_column_int64(stmt, 9);
	op->holder = col_or_null(stmt, 10);
	op->heartbeat = sqlite3_column_int64(stmt, 11);
	op->started = sqlite3_column_int64(stmt, 12);
	op->finished = sqlite3_column_int64(stmt, 13);
	op->outcome = col_or_null(stmt, 14);
	op->locked = sqlite3_column_int(stmt, 15) != 0;
	free(state);
}

void store_op_release(struct store_op *op)
{
	if (!op)
		return;
	free(op->kind);
	free(op->target);
	free(op->data);
	free(op->started_by);
	free(op->channel);
	free(op->message_ts);
	free(op->holder);
	free(op->outcome);
	memset(op, 0, sizeof(*op));
}

void store_ops_free(struct store_op *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_op_release(&v[i]);
	free(v);
}

static int get_locked(struct store *st, const char *where, int64_t key, const char *skey, struct store_op *out)
{
	sqlite3_stmt *stmt = NULL;
	char *sql = xasprintf("SELECT " OP_COLS " FROM operations WHERE %s", where);
	int rc, src;

	rc = prepare(st->db, "op_get", sql, &stmt);
	free(sql);
	if (rc)
		return rc;
	if (skey)
		sqlite3_bind_text(stmt, 1, skey, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(stmt, 1, key);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		op_from_row(stmt, out);
	else
		rc = src == SQLITE_DONE ? VIVA_ENOENT : db_fail(st->db, "op_get", src);
	sqlite3_finalize(stmt);
	return rc;
}

int store_op_begin(struct store *st, const struct store_op_new *n, int64_t *id, struct store_op *holder)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (holder)
		memset(holder, 0, sizeof(*holder));
	if (id)
		*id = 0;
	if (!st || !n || !n->kind || !n->target || !n->started_by || n->now <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "op_begin",
		     "INSERT INTO operations(kind, target, state, step, data, started_by, channel, message_ts,"
		     " audit_id, holder, heartbeat, started, click_key) VALUES (?1, ?2, 'running', 0, ?3, ?4, ?5, ?6,"
		     " ?7, ?8, ?9, ?9, ?10)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, n->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, n->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, n->data ? n->data : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, n->started_by, -1, SQLITE_STATIC);
	if (n->channel)
		sqlite3_bind_text(stmt, 5, n->channel, -1, SQLITE_STATIC);
	if (n->message_ts)
		sqlite3_bind_text(stmt, 6, n->message_ts, -1, SQLITE_STATIC);
	if (n->audit_id)
		sqlite3_bind_int64(stmt, 7, n->audit_id);
	if (n->holder)
		sqlite3_bind_text(stmt, 8, n->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 9, n->now);
	if (n->click_key)
		sqlite3_bind_text(stmt, 10, n->click_key, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_DONE) {
		if (id)
			*id = sqlite3_last_insert_rowid(st->db);
	} else if ((src & 0xff) == SQLITE_CONSTRAINT) {
		/* the unique index on running targets: the lock is taken */
		rc = VIVA_EBUSY;
		if (holder)
			get_locked(st, "target = ?1 AND state = 'running' AND locked = 1", 0, n->target, holder);
	} else {
		rc = db_fail(st->db, "op_begin", src);
	}
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_op_get(struct store *st, int64_t id, struct store_op *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st || id <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = get_locked(st, "id = ?1", id, NULL, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Run one UPDATE bound by the caller; VIVA_ECONFLICT when it changed no row. */
static int update(struct store *st, const char *op, const char *sql, void (*bind)(sqlite3_stmt *, const void *),
		  const void *arg)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, op, sql, &stmt);
	if (rc)
		goto out;
	bind(stmt, arg);
	rc = step_done(st->db, op, stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ECONFLICT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

struct advance_args {
	int64_t id;
	const char *holder;
	int step;
	const char *data;
	int64_t now;
};

static void bind_advance(sqlite3_stmt *stmt, const void *arg)
{
	const struct advance_args *a = arg;

	sqlite3_bind_int64(stmt, 1, a->id);
	sqlite3_bind_text(stmt, 2, a->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, a->step);
	sqlite3_bind_text(stmt, 4, a->data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, a->now);
}

int store_op_advance(struct store *st, int64_t id, const char *holder, int step, const char *data, int64_t now)
{
	struct advance_args a = { id, holder, step, data ? data : "{}", now };

	if (!st || id <= 0 || !holder || step < 0 || now <= 0)
		return VIVA_EINVAL;
	return update(st, "op_advance", "UPDATE operations SET step = ?3, data = ?4, heartbeat = ?5"
		      " WHERE id = ?1 AND holder = ?2 AND state = 'running'", bind_advance, &a);
}

struct finish_args {
	int64_t id;
	const char *state;
	const char *outcome;
	int64_t now;
};

static void bind_finish(sqlite3_stmt *stmt, const void *arg)
{
	const struct finish_args *a = arg;

	sqlite3_bind_int64(stmt, 1, a->id);
	sqlite3_bind_text(stmt, 2, a->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, a->outcome, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, a->now);
}

int store_op_finish(struct store *st, int64_t id, enum store_op_state state, const char *outcome, int64_t now)
{
	struct finish_args a = { id, store_op_state_name(state), outcome ? outcome : "", now };

	if (!st || id <= 0 || state == OP_RUNNING || now <= 0)
		return VIVA_EINVAL;
	return update(st, "op_finish", "UPDATE operations SET state = ?2, outcome = ?3, finished = ?4"
		      " WHERE id = ?1 AND state = 'running'", bind_finish, &a);
}

struct message_args {
	int64_t id;
	const char *channel, *ts;
};

static void bind_message(sqlite3_stmt *stmt, const void *arg)
{
	const struct message_args *a = arg;

	sqlite3_bind_int64(stmt, 1, a->id);
	sqlite3_bind_text(stmt, 2, a->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, a->ts, -1, SQLITE_STATIC);
}

int store_op_set_message(struct store *st, int64_t id, const char *channel, const char *message_ts)
{
	struct message_args a = { id, channel, message_ts };

	if (!st || id <= 0 || !channel || !message_ts)
		return VIVA_EINVAL;
	return update(st, "op_message", "UPDATE operations SET channel = ?2, message_ts = ?3 WHERE id = ?1",
		      bind_message, &a);
}

struct heartbeat_args {
	const char *holder;
	int64_t now;
};

static void bind_heartbeat(sqlite3_stmt *stmt, const void *arg)
{
	const struct heartbeat_args *a = arg;

	sqlite3_bind_text(stmt, 1, a->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, a->now);
}

int store_op_heartbeat(struct store *st, const char *holder, int64_t now)
{
	struct heartbeat_args a = { holder, now };
	int rc;

	if (!st || !holder || now <= 0)
		return VIVA_EINVAL;
	rc = update(st, "op_heartbeat", "UPDATE operations SET heartbeat = ?2 WHERE holder = ?1 AND state = 'running'",
		    bind_heartbeat, &a);
	return rc == VIVA_ECONFLICT ? VIVA_OK : rc;   /* holding none is fine */
}

struct take_args {
	int64_t id;
	const char *old_holder;
	int64_t old_heartbeat;
	const char *holder;
	int64_t now;
};

static void bind_take(sqlite3_stmt *stmt, const void *arg)
{
	const struct take_args *a = arg;

	sqlite3_bind_int64(stmt, 1, a->id);
	if (a->old_holder)
		sqlite3_bind_text(stmt, 2, a->old_holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, a->old_heartbeat);
	sqlite3_bind_text(stmt, 4, a->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, a->now);
}

int store_op_take(struct store *st, int64_t id, const char *old_holder, int64_t old_heartbeat,
		  const char *holder, int64_t now)
{
	struct take_args a = { id, old_holder, old_heartbeat, holder, now };

	if (!st || id <= 0 || !holder || now <= 0)
		return VIVA_EINVAL;
	return update(st, "op_take", "UPDATE operations SET holder = ?4, heartbeat = ?5 WHERE id = ?1"
		      " AND state = 'running' AND holder IS ?2 AND heartbeat = ?3", bind_take, &a);
}

static int list(struct store *st, const char *op, const char *sql, int64_t key, const char *skey, int limit,
		struct store_op **out, size_t *n)
{
	struct store_op *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || limit <= 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, op, sql, &stmt);
	if (rc)
		goto out;
	if (skey)
		sqlite3_bind_text(stmt, 1, skey, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(stmt, 1, key);
	sqlite3_bind_int(stmt, 2, limit);
	v = xcalloc((size_t)limit, sizeof(*v));
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW)
		op_from_row(stmt, &v[len++]);
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, op, src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_ops_free(v, len);
	return rc;
}

int store_op_stale(struct store *st, int64_t before, int limit, struct store_op **out, size_t *n)
{
	return list(st, "op_stale", "SELECT " OP_COLS " FROM operations WHERE state = 'running' AND heartbeat < ?1"
		    " ORDER BY id LIMIT ?2", before, NULL, limit, out, n);
}

int store_op_list(struct store *st, const char *target, int limit, struct store_op **out, size_t *n)
{
	if (target)
		return list(st, "op_list", "SELECT " OP_COLS " FROM operations WHERE target = ?1 ORDER BY id DESC"
			    " LIMIT ?2", 0, target, limit, out, n);
	return list(st, "op_list", "SELECT " OP_COLS " FROM operations WHERE ?1 = 0 ORDER BY id DESC LIMIT ?2", 0,
		    NULL, limit, out, n);
}

struct unlock_args {
	int64_t id;
	const char *holder;
};

static void bind_unlock(sqlite3_stmt *stmt, const void *arg)
{
	const struct unlock_args *a = arg;

	sqlite3_bind_int64(stmt, 1, a->id);
	sqlite3_bind_text(stmt, 2, a->holder, -1, SQLITE_STATIC);
}

int store_op_unlock(struct store *st, int64_t id, const char *holder)
{
	struct unlock_args a = { id, holder };

	if (!st || id <= 0 || !holder)
		return VIVA_EINVAL;
	return update(st, "op_unlock", "UPDATE operations SET locked = 0 WHERE id = ?1 AND holder = ?2"
		      " AND state = 'running'", bind_unlock, &a);
}
