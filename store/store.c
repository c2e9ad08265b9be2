#include "store/store.h"

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"

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
	/* Statements on the hot path (every envelope), prepared once. */
	sqlite3_stmt *claim_stmt;
};

static int db_fail(sqlite3 *db, const char *op, int src);

/*
 * A statement prepared once and reused: reset and unbound on each use, kept
 * until store_close. Only for fixed SQL on paths taken per envelope.
 */
static int prepare_cached(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **slot,
			  sqlite3_stmt **out)
{
	int src;

	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
		*out = *slot;
		return VIVA_OK;
	}
	src = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
	if (src != SQLITE_OK) {
		sqlite3_finalize(*slot);
		*slot = NULL;
		*out = NULL;
		return db_fail(db, op, src);
	}
	*out = *slot;
	return VIVA_OK;
}

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

	/* 2 -> 3: the service catalog (pipeline specs and every revision),
	 * one-time button actions, and image build times by digest. */
	"CREATE TABLE services ("
	"  name TEXT PRIMARY KEY,"
	"  type TEXT NOT NULL,"
	"  spec_yaml TEXT NOT NULL,"
	"  spec_json TEXT NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  deleted_at INTEGER"
	");"
	"CREATE TABLE service_revisions ("
	"  name TEXT NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  spec_yaml TEXT NOT NULL,"
	"  author TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  PRIMARY KEY(name, revision)"
	");"
	"CREATE TABLE action_claims ("
	"  key TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  result TEXT"
	");"
	"CREATE TABLE image_created ("
	"  digest TEXT PRIMARY KEY,"
	"  created INTEGER NOT NULL"
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
		      "PRAGMA synchronous = NORMAL;"
		      /* viva's working set is small (recent envelopes, the catalog):
		       * a 512 KiB page cache instead of the default 2 MiB keeps the
		       * resident size down; the OS page cache holds the rest. */
		      "PRAGMA cache_size = -512;");
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
	sqlite3_finalize(st->claim_stmt);
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

/* ---- service catalog ----------------------------------------------------- */

static void service_from_row(sqlite3_stmt *stmt, struct store_service *sv)
{
	sv->name = col_dup(stmt, 0);
	sv->type = col_dup(stmt, 1);
	sv->spec_yaml = col_dup(stmt, 2);
	sv->spec_json = col_dup(stmt, 3);
	sv->revision = sqlite3_column_int(stmt, 4);
	sv->source = col_dup(stmt, 5);
	sv->created_at = sqlite3_column_int64(stmt, 6);
	sv->updated_at = sqlite3_column_int64(stmt, 7);
	sv->deleted_at = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(stmt, 8);
}

#define SERVICE_COLS "name, type, spec_yaml, spec_json, revision, source, created_at, updated_at, deleted_at"

void store_service_release(struct store_service *sv)
{
	if (!sv)
		return;
	free(sv->name);
	free(sv->type);
	free(sv->spec_yaml);
	free(sv->spec_json);
	free(sv->source);
	memset(sv, 0, sizeof(*sv));
}

void store_services_free(struct store_service *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_service_release(&v[i]);
	free(v);
}

static int service_get_locked(struct store *st, const char *name, struct store_service *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = prepare(st->db, "service_get", "SELECT " SERVICE_COLS " FROM services WHERE name = ?1", &stmt);
	if (rc)
		return rc;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		service_from_row(stmt, out);
	else if (src == SQLITE_DONE)
		rc = VIVA_ENOENT;
	else
		rc = db_fail(st->db, "service_get", src);
	sqlite3_finalize(stmt);
	return rc;
}

int store_service_get(struct store *st, const char *name, struct store_service *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st || !name)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = service_get_locked(st, name, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_service_put(struct store *st, const struct store_service_put *p, int *revision, bool *changed)
{
	struct store_service cur = { 0 };
	sqlite3_stmt *stmt = NULL;
	int rc, rev = 1;
	bool exists, was_deleted;

	if (!st || !p || !p->name || !p->type || !p->spec_yaml || !p->spec_json || !p->source || !p->author)
		return VIVA_EINVAL;
	if (changed)
		*changed = false;
	pthread_mutex_lock(&st->mu);
	rc = exec_sql(st->db, "service_put", "BEGIN IMMEDIATE");
	if (rc)
		goto out_unlock;
	rc = service_get_locked(st, p->name, &cur);
	if (rc && rc != VIVA_ENOENT)
		goto rollback;
	exists = rc == VIVA_OK;
	was_deleted = exists && cur.deleted_at != 0;
	if (exists && !was_deleted && p->create_only) {
		rc = VIVA_ECONFLICT;
		goto rollback;
	}
	if (exists && !was_deleted && strcmp(cur.spec_yaml, p->spec_yaml) == 0) {
		/* Same text: nothing to record (apply is idempotent). */
		rev = cur.revision;
		rc = exec_sql(st->db, "service_put", "COMMIT");
		goto out_unlock;
	}
	if (exists)
		rev = cur.revision + 1;
	rc = prepare(st->db, "service_put",
		     "INSERT INTO services(" SERVICE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL)"
		     " ON CONFLICT(name) DO UPDATE SET type = ?2, spec_yaml = ?3, spec_json = ?4,"
		     " revision = ?5, source = ?6, updated_at = ?7, deleted_at = NULL,"
		     " created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE ?7 END", &stmt);
	if (rc)
		goto rollback;
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, p->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, p->spec_yaml, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, p->spec_json, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, rev);
	sqlite3_bind_text(stmt, 6, p->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, p->now ? p->now : now_unix());
	rc = step_done(st->db, "service_put", stmt);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc)
		goto rollback;
	rc = prepare(st->db, "service_put",
		     "INSERT OR REPLACE INTO service_revisions(name, revision, spec_yaml, author, source, ts)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &stmt);
	if (rc)
		goto rollback;
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, rev);
	sqlite3_bind_text(stmt, 3, p->spec_yaml, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, p->author, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, p->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, p->now ? p->now : now_unix());
	rc = step_done(st->db, "service_put", stmt);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc)
		goto rollback;
	rc = exec_sql(st->db, "service_put", "COMMIT");
	if (rc == VIVA_OK && changed)
		*changed = true;
	goto out_unlock;
rollback:
	exec_sql(st->db, "service_put", "ROLLBACK");
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc == VIVA_OK && revision)
		*revision = rev;
	store_service_release(&cur);
	return rc;
}

int store_service_list(struct store *st, bool include_deleted, struct store_service **out, size_t *n)
{
	struct store_service *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0, cap = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_list",
		     "SELECT " SERVICE_COLS " FROM services WHERE ?1 OR deleted_at IS NULL"
		     " ORDER BY type, name", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_int(stmt, 1, include_deleted ? 1 : 0);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		service_from_row(stmt, &v[len++]);
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "service_list", src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_services_free(v, len);
	return rc;
}

int store_service_mark_deleted(struct store *st, const char *name, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !name)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_delete",
		     "UPDATE services SET deleted_at = ?2 WHERE name = ?1 AND deleted_at IS NULL", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now ? now : now_unix());
	rc = step_done(st->db, "service_delete", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) == 0)
		rc = VIVA_ENOENT;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_service_revisions(struct store *st, const char *name, int limit,
			    struct store_revision **out, size_t *n)
{
	struct store_revision *v = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t len = 0, cap = 0;
	int rc, src;

	*out = NULL;
	*n = 0;
	if (!st || !name || limit < 0)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "service_revisions",
		     "SELECT revision, author, source, ts FROM service_revisions WHERE name = ?1"
		     " ORDER BY revision DESC LIMIT ?2", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, limit);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len].revision = sqlite3_column_int(stmt, 0);
		v[len].author = col_dup(stmt, 1);
		v[len].source = col_dup(stmt, 2);
		v[len].ts = sqlite3_column_int64(stmt, 3);
		len++;
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(st->db, "service_revisions", src);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	store_revisions_free(v, len);
	return rc;
}

void store_revisions_free(struct store_revision *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].author);
		free(v[i].source);
	}
	free(v);
}

/* ---- one-time actions ------------------------------------------------------ */

int store_action_claim(struct store *st, const char *key, const char *user_id, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !key || !*key || !user_id)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_claim",
		     "INSERT OR IGNORE INTO action_claims(key, user_id, ts) VALUES (?1, ?2, ?3)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now ? now : now_unix());
	rc = step_done(st->db, "action_claim", stmt);
	if (rc == VIVA_OK && sqlite3_changes(st->db) != 1) {
		/* Taken: unless it is a stale claim of a process that died mid-action. */
		sqlite3_finalize(stmt);
		stmt = NULL;
		rc = prepare(st->db, "action_claim",
			     "UPDATE action_claims SET user_id = ?2, ts = ?3"
			     " WHERE key = ?1 AND result IS NULL AND ts < ?3 - ?4", &stmt);
		if (rc)
			goto out;
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, now ? now : now_unix());
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

int store_action_get(struct store *st, const char *key, char **user_id, int64_t *ts, char **result)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*user_id = NULL;
	*result = NULL;
	*ts = 0;
	if (!st || !key)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "action_get", "SELECT user_id, ts, result FROM action_claims WHERE key = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		*user_id = col_dup(stmt, 0);
		*ts = sqlite3_column_int64(stmt, 1);
		*result = sqlite3_column_type(stmt, 2) == SQLITE_NULL ? NULL : col_dup(stmt, 2);
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

/* ---- image build times ----------------------------------------------------- */

int store_image_created_get(struct store *st, const char *digest, int64_t *created)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	if (!st || !digest)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "image_created_get", "SELECT created FROM image_created WHERE digest = ?1", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*created = sqlite3_column_int64(stmt, 0);
	else if (src == SQLITE_DONE)
		rc = VIVA_ENOENT;
	else
		rc = db_fail(st->db, "image_created_get", src);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_image_created_put(struct store *st, const char *digest, int64_t created)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!st || !digest)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = prepare(st->db, "image_created_put",
		     "INSERT OR REPLACE INTO image_created(digest, created) VALUES (?1, ?2)", &stmt);
	if (rc)
		goto out;
	sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, created);
	rc = step_done(st->db, "image_created_put", stmt);
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
