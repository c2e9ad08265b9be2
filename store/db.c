/*
 * The SQLite connection: opening, pragmas, numbered migrations, and the
 * statement helpers the domain files share (see store.h, db.h).
 */
#include "store/store.h"
#include "store/db.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdbool.h>

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

	/* 3 -> 4: an image repository belongs to one pipeline: the image of
	 * each service, filled in from the stored specs. */
	"ALTER TABLE services ADD COLUMN image TEXT;"
	"UPDATE services SET image = json_extract(spec_json, '$.image');"
	"CREATE INDEX services_image ON services(image);",

	/* 4 -> 5: the durable inbox: every envelope, recorded before its ack
	 * (state 0 queued, 1 started, 2 finished). */
	"CREATE TABLE inbox ("
	"  envelope_id TEXT PRIMARY KEY,"
	"  type TEXT NOT NULL,"
	"  frame BLOB NOT NULL,"
	"  received INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  finished INTEGER"
	");"
	"CREATE INDEX inbox_state ON inbox(state, received);",

	/* 5 -> 6: durable operations: steps recorded as they complete, one
	 * running operation per target (the deploy lock), a holder and its
	 * heartbeat so that a restart can resume or abandon it. */
	"CREATE TABLE operations ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  step INTEGER NOT NULL DEFAULT 0,"
	"  data TEXT NOT NULL DEFAULT '{}',"
	"  started_by TEXT NOT NULL,"
	"  channel TEXT,"
	"  message_ts TEXT,"
	"  audit_id INTEGER,"
	"  holder TEXT,"
	"  heartbeat INTEGER,"
	"  started INTEGER NOT NULL,"
	"  finished INTEGER,"
	"  outcome TEXT"
	");"
	"CREATE UNIQUE INDEX operations_one_per_target ON operations(target) WHERE state = 'running';"
	"CREATE INDEX operations_state ON operations(state, heartbeat);",

	/* 6 -> 7: a one-time button is tied to the operation it started, not
	 * to an age: the claim names the operation (set when the operation is
	 * recorded), and the operation's end settles the claim in the same
	 * statement: done or abandoned keeps it (with the outcome), failed
	 * releases it so the button can be pressed again. */
	"ALTER TABLE action_claims ADD COLUMN op_id INTEGER;"
	"ALTER TABLE operations ADD COLUMN click_key TEXT;"
	"CREATE TRIGGER operations_claim_link AFTER INSERT ON operations"
	" WHEN NEW.click_key IS NOT NULL BEGIN"
	"  UPDATE action_claims SET op_id = NEW.id WHERE key = NEW.click_key;"
	" END;"
	"CREATE TRIGGER operations_claim_end AFTER UPDATE OF state ON operations"
	" WHEN NEW.click_key IS NOT NULL AND OLD.state = 'running' AND NEW.state <> 'running' BEGIN"
	"  DELETE FROM action_claims WHERE key = NEW.click_key AND op_id = NEW.id AND NEW.state = 'failed';"
	"  UPDATE action_claims SET result = NEW.state || ': ' || coalesce(NEW.outcome, '')"
	"   WHERE key = NEW.click_key AND op_id = NEW.id AND NEW.state <> 'failed';"
	" END;",

	/* 7 -> 8: an operation may give its lock back before it ends (a
	 * blue-green that keeps the old colour up for rollback: the service
	 * is free for the next deploy while it waits to scale it down). */
	"ALTER TABLE operations ADD COLUMN locked INTEGER NOT NULL DEFAULT 1;"
	"DROP INDEX operations_one_per_target;"
	"CREATE UNIQUE INDEX operations_one_per_target ON operations(target) WHERE state = 'running' AND locked = 1;",

	/* 8 -> 9: the unused-service audit: "still in use" snoozes, and the
	 * savings tally of deleted services (one row per deletion). */
	"CREATE TABLE snoozes ("
	"  service TEXT PRIMARY KEY,"
	"  until INTEGER NOT NULL,"
	"  by TEXT NOT NULL,"
	"  at INTEGER NOT NULL"
	");"
	"CREATE TABLE savings ("
	"  id INTEGER PRIMARY KEY,"
	"  op_id INTEGER UNIQUE,"
	"  service TEXT NOT NULL,"
	"  removed_at INTEGER NOT NULL,"
	"  confirmed_by TEXT NOT NULL,"
	"  via TEXT NOT NULL,"
	"  cpu_milli INTEGER NOT NULL,"
	"  memory_bytes INTEGER NOT NULL"
	");",
	/* 9 -> 10: answers waiting to be tried again (store/outbox.h), so that
	 * a restart delivers them. */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  route TEXT NOT NULL,"
	"  msgs TEXT NOT NULL,"
	"  deadline INTEGER NOT NULL,"
	"  tries INTEGER NOT NULL DEFAULT 0"
	");",
	/* 10 -> 11: the inbox's index holds only what is not finished: a
	 * finished envelope leaves it, so its marks write fewer pages (the
	 * start-up replay and the expiry read only unfinished ones). */
	"DROP INDEX inbox_state;"
	"CREATE INDEX inbox_open ON inbox(received) WHERE state < 2;",
	/* 11 -> 12: what nodes reported through the node API (store/nodes.h):
	 * the node history `node show` lists. */
	"CREATE TABLE node_reports ("
	"  id INTEGER PRIMARY KEY,"
	"  hostname TEXT NOT NULL,"
	"  cluster TEXT NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  ok INTEGER NOT NULL,"
	"  kubelet_version TEXT NOT NULL,"
	"  output TEXT NOT NULL,"
	"  received INTEGER NOT NULL"
	");"
	"CREATE INDEX node_reports_host ON node_reports(hostname, id);",
	/* 12 -> 13: rolling upgrades (store/nodes.h): the nodes whose upgrade
	 * is wanted (their bootstrap answers upgrade: true), and the runs asked
	 * to stop (the Stop button, read by the run between nodes). */
	"CREATE TABLE node_upgrades ("
	"  hostname TEXT PRIMARY KEY,"
	"  run_id INTEGER NOT NULL,"
	"  wanted_version TEXT NOT NULL,"
	"  since INTEGER NOT NULL"
	");"
	"CREATE TABLE node_upgrade_stops ("
	"  run_id INTEGER PRIMARY KEY,"
	"  by TEXT NOT NULL,"
	"  at INTEGER NOT NULL"
	");",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
	return N_MIGRATIONS;
}

/* Log an sqlite failure with the operation name; map it to a viva code. */
int db_fail(sqlite3 *db, const char *op, int src)
{
	log_error("store operation failed", "op=%s code=%d err=\"%s\"", op, src,
		  db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
	/* A held lock past the busy timeout is "try later", not a broken disk. */
	if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED)
		return VIVA_EBUSY;
	return VIVA_EIO;
}

int prepare(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **out)
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
int exec_sql(sqlite3 *db, const char *op, const char *sql)
{
	int src = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return src == SQLITE_OK ? VIVA_OK : db_fail(db, op, src);
}

/* Run a statement that returns no row (INSERT, UPDATE, DELETE). */
int step_done(sqlite3 *db, const char *op, sqlite3_stmt *stmt)
{
	int src = sqlite3_step(stmt);

	return src == SQLITE_DONE ? VIVA_OK : db_fail(db, op, src);
}

/*
 * A statement prepared once and reused: reset and unbound on each use, kept
 * until store_close. Only for fixed SQL on paths taken per envelope or per
 * service; reset by its user as soon as it is done with.
 */
int prepare_cached(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **slot,
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

char *col_dup(sqlite3_stmt *stmt, int col)
{
	const char *s = (const char *)sqlite3_column_text(stmt, col);

	return xstrdup(s ? s : "");
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
	sqlite3_finalize(st->inbox_state_stmt);
	sqlite3_finalize(st->inbox_frame_stmt);
	sqlite3_finalize(st->service_get_stmt);
	sqlite3_finalize(st->image_owner_stmt);
	sqlite3_finalize(st->snooze_get_stmt);
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

int store_test_refuse_writes(struct store *st, int refuse)
{
	int rc;

	if (!st)
		return VIVA_EINVAL;
	pthread_mutex_lock(&st->mu);
	rc = exec_sql(st->db, "refuse_writes", refuse ? "PRAGMA query_only = 1" : "PRAGMA query_only = 0");
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_inspect(const char *path, struct store_health *h, char *why, size_t len)
{
	sqlite3_stmt *stmt = NULL;
	sqlite3 *db = NULL;
	const char *res;
	int rc = VIVA_OK, src;

	if (!path || !*path || !h || !why || len == 0)
		return VIVA_EINVAL;
	memset(h, 0, sizeof(*h));
	h->latest = N_MIGRATIONS;
	why[0] = '\0';
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		h->missing = true;
		return VIVA_OK;
	}
	/* as it is: no file created, nothing migrated, nothing changed */
	src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		snprintf(why, len, "cannot open it: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
		rc = VIVA_EIO;
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (user_version(db, &h->version) != VIVA_OK) {
		snprintf(why, len, "cannot read it (%s): is it viva's database?", sqlite3_errmsg(db));
		rc = VIVA_EIO;
		goto out;
	}
	if (h->version > N_MIGRATIONS) {
		snprintf(why, len, "its schema (%d) is newer than this viva's (%d): run the viva that wrote it, or a "
			 "newer one", h->version, N_MIGRATIONS);
		rc = VIVA_EINVAL;
		goto out;
	}
	if (sqlite3_db_readonly(db, "main") == 1) {
		snprintf(why, len, "it is read-only to viva: check the owner and mode of the file and of its "
			 "directory");
		rc = VIVA_EIO;
		goto out;
	}
	/* the write lock, as a change would take it (and given back at once) */
	src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		snprintf(why, len, "cannot take the write lock: %s%s", sqlite3_errmsg(db),
			 (src & 0xff) == SQLITE_BUSY ? " (another process has held it for 5 s)" : "");
		rc = (src & 0xff) == SQLITE_BUSY ? VIVA_EBUSY : VIVA_EIO;
		goto out;
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt, NULL) != SQLITE_OK) {
		snprintf(why, len, "cannot check it: %s", sqlite3_errmsg(db));
		rc = VIVA_EIO;
		goto out;
	}
	src = sqlite3_step(stmt);
	res = src == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
	if (!res || strcmp(res, "ok") != 0) {
		snprintf(why, len, "it is damaged (%.200s): restore it from a backup", res ? res : sqlite3_errmsg(db));
		rc = VIVA_EIO;
		goto out;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		snprintf(h->journal, sizeof(h->journal), "%s", (const char *)sqlite3_column_text(stmt, 0));
out:
	sqlite3_finalize(stmt);
	sqlite3_close_v2(db);
	return rc;
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
