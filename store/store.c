#include "store/store.h"

#include "bot/err.h"
#include "bot/log.h"
#include "bot/util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	sqlite3 *db;
	/*
	 * Held for each public call: the connection is opened NOMUTEX, and
	 * sqlite3_errmsg() / sqlite3_changes() are only meaningful when no other
	 * thread ran a statement in between.
	 */
	pthread_mutex_t mu;
};

/*
 * Schema migrations. migrations[i] brings user_version from i to i + 1.
 * Append only: never edit a migration that has shipped, add a new one.
 */
static const char *const migrations[] = {
	/* 0 -> 1: audit log and processed envelopes. */
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY,"
	"  ts INTEGER NOT NULL,"
	"  user_id TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL DEFAULT '',"
	"  params TEXT NOT NULL DEFAULT '{}',"
	"  result TEXT NOT NULL"
	");"
	"CREATE INDEX audit_log_target ON audit_log(target, id);"
	"CREATE TABLE envelopes ("
	"  key TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  ts INTEGER NOT NULL"
	");"
	"CREATE INDEX envelopes_ts ON envelopes(ts);",

	/* 1 -> 2: scheduler runs, one row per (schedule, cron minute). */
	"CREATE TABLE schedule_runs ("
	"  name TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  started INTEGER NOT NULL,"
	"  finished INTEGER,"
	"  result TEXT,"
	"  PRIMARY KEY(name, slot)"
	");",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
	return N_MIGRATIONS;
}

/* Log an sqlite failure with the operation name; map it to a viva code. */
static int db_fail(sqlite3 *db, const char *op, int src)
{
	log_error("store operation failed", "op=%s code=%d err=\"%s\"", op, src,
		  db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
	/* A held lock past the busy timeout is "try later", not a broken disk. */
	if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED)
		return VIVA_EBUSY;
	return VIVA_EIO;
}

static int prepare(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **out)
{
	int src = sqlite3_prepare_v2(db, sql, -1, out, NULL);

	if (src != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return db_fail(db, op, src);
	}
	return VIVA_OK;
}

/* Only for fixed SQL text (migrations, pragmas): never for user input. */
static int exec_sql(sqlite3 *db, const char *op, const char *sql)
{
	int src = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return src == SQLITE_OK ? VIVA_OK : db_fail(db, op, src);
}

/* Run a statement that returns no row (INSERT, UPDATE, DELETE). */
static int step_done(sqlite3 *db, const char *op, sqlite3_stmt *stmt)
{
	int src = sqlite3_step(stmt);

	return src == SQLITE_DONE ? VIVA_OK : db_fail(db, op, src);
}

static int user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = prepare(db, "user_version", "PRAGMA user_version", &stmt);
	if (rc)
		goto out;
	src = sqlite3_step(stmt);
	if (src != SQLITE_ROW) {
		rc = db_fail(db, "user_version", src);
		goto out;
	}
	*out = sqlite3_column_int(stmt, 0);
out:
	sqlite3_finalize(stmt);
	return rc;
}

/* Apply migrations[from] in its own write transaction. */
static int apply_migration(sqlite3 *db, int from)
{
	char pragma[64];
	bool began = false;
	int cur = 0;
	int rc;

	rc = exec_sql(db, "migrate.begin", "BEGIN IMMEDIATE");
	if (rc)
		goto out;
	began = true;
	/* Another process may have migrated while we waited for the write lock. */
	rc = user_version(db, &cur);
	if (rc)
		goto out;
	if (cur <= from) {
		rc = exec_sql(db, "migrate.apply", migrations[from]);
		if (rc)
			goto out;
		/* PRAGMA takes no bound parameters; this is our own integer. */
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", from + 1);
		rc = exec_sql(db, "migrate.version", pragma);
		if (rc)
			goto out;
	}
	rc = exec_sql(db, "migrate.commit", "COMMIT");
	if (rc)
		goto out;
	began = false;
	if (cur <= from)
		log_info("store migrated", "from=%d to=%d", from, from + 1);
out:
	if (began)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int migrate(sqlite3 *db, const char *path, int target)
{
	int cur = 0;
	int rc;

	rc = user_version(db, &cur);
	if (rc)
		goto out;
	for (int v = cur; v < target; v++) {
		rc = apply_migration(db, v);
		if (rc) {
			log_error("store migration failed", "path=%s from=%d", path, v);
			goto out;
		}
	}
out:
	return rc;
}

static void set_journal_wal(sqlite3 *db, const char *path)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;

	if (prepare(db, "journal_mode", "PRAGMA journal_mode = WAL", &stmt))
		goto out;
	if (sqlite3_step(stmt) != SQLITE_ROW)
		goto out;
	mode = (const char *)sqlite3_column_text(stmt, 0);
	/* ":memory:" stays "memory"; anything else keeps working, just slower. */
	if (mode && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
		log_warn("store not in wal mode", "path=%s mode=%s", path, mode);
out:
	sqlite3_finalize(stmt);
}

int store_open_at_version(const char *path, int version, struct store **out)
{
	struct store *st = NULL;
	sqlite3 *db = NULL;
	int cur = 0;
	int rc, src;

	if (!out)
		return VIVA_EINVAL;
	*out = NULL;
	if (!path || !*path || version < 0 || version > N_MIGRATIONS)
		return VIVA_EINVAL;

	/* NOMUTEX: struct store serializes every use of the connection. */
	src = sqlite3_open_v2(path, &db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		log_error("store open failed", "path=%s err=\"%s\"", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
		rc = VIVA_EIO;
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);

	/* Refuse before changing anything in a database we do not understand. */
	rc = user_version(db, &cur);
	if (rc)
		goto out;
	if (cur > N_MIGRATIONS) {
		log_error("store schema is newer than this build", "path=%s version=%d latest=%d",
			  path, cur, N_MIGRATIONS);
		rc = VIVA_EINVAL;
		goto out;
	}

	set_journal_wal(db, path);
	rc = exec_sql(db, "pragmas", "PRAGMA busy_timeout = 5000;"
		      "PRAGMA foreign_keys = ON;"
		      "PRAGMA synchronous = NORMAL;");
	if (rc)
		goto out;
	rc = migrate(db, path, version);
	if (rc)
		goto out;

	st = xcalloc(1, sizeof(*st));
	pthread_mutex_init(&st->mu, NULL);
	st->db = db;
	db = NULL;
	*out = st;
out:
	sqlite3_close_v2(db);
	return rc;
}

int store_open(const char *path, struct store **out)
{
	return store_open_at_version(path, N_MIGRATIONS, out);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close_v2(st->db);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int store_schema_version(struct store *st)
{
	int v = 0;
	int rc;

	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = user_version(st->db, &v);
	pthread_mutex_unlock(&st->mu);
	return rc ? rc : v;
}

int store_journal_mode(struct store *st, char *buf, size_t len)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	int rc, src;

	if (!st || !buf || len == 0)
		return VIVA_EINVAL;
	buf[0] = '\0';
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "journal_mode", "PRAGMA journal_mode", &stmt);
	if (rc)
		goto out;
	src = sqlite3_step(stmt);
	if (src != SQLITE_ROW) {
		rc = db_fail(st->db, "journal_mode", src);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode)
		mode = "";
	if (strlen(mode) >= len) {
		rc = VIVA_ERANGE;
		goto out;
	}
	memcpy(buf, mode, strlen(mode) + 1);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- audit log --------------------------------------------------------- */

int store_audit_add(struct store *st, int64_t ts, const char *user_id, const char *action,
		    const char *target, const char *params_json, const char *result)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !user_id || !action || !result)
		return VIVA_EINVAL;
	if (ts == 0)
		ts = now_unix();
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
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static char *col_dup(sqlite3_stmt *stmt, int col)
{
	const char *s = (const char *)sqlite3_column_text(stmt, col);

	return xstrdup(s ? s : "");
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

/* ---- processed envelopes ----------------------------------------------- */

int store_envelope_claim(struct store *st, const char *key, const char *kind, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key || !*key)
		return VIVA_EINVAL;
	if (now == 0)
		now = now_unix();
	pthread_mutex_lock(&st->mu);
	/*
	 * One statement decides: the primary key makes a second insert a no-op,
	 * so racing threads or processes get exactly one change between them.
	 */
	rc = prepare(st->db, "envelope_claim",
		     "INSERT OR IGNORE INTO envelopes(key, kind, ts) VALUES (?1, ?2, ?3)", &stmt);
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
	sqlite3_finalize(stmt);
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

/* ---- scheduler runs ---------------------------------------------------- */

int store_schedule_claim(struct store *st, const char *name, int64_t slot, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !name || !*name)
		return VIVA_EINVAL;
	if (now == 0)
		now = now_unix();
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

	if (!st || !name || !*name)
		return VIVA_EINVAL;
	if (now == 0)
		now = now_unix();
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
