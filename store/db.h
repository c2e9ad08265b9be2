#ifndef VIVA_STORE_DB_H
#define VIVA_STORE_DB_H

/*
 * store/'s own header: the connection and the statement helpers every
 * domain file of store/ uses. Nothing outside store/ includes it (nor
 * <sqlite3.h>).
 */
#include <pthread.h>
#include <sqlite3.h>

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
	sqlite3_stmt *inbox_state_stmt;
	sqlite3_stmt *inbox_frame_stmt;
	/* ... and per service (the catalog applied at every start, the unused
	 * audit): compiling them anew was a quarter of a start's CPU time at
	 * 10,000 specs. */
	sqlite3_stmt *service_get_stmt;
	sqlite3_stmt *image_owner_stmt;
	sqlite3_stmt *snooze_get_stmt;
};

/* Log an sqlite failure with the operation name; map it to a viva code. */
int db_fail(sqlite3 *db, const char *op, int src);
int prepare(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **out);
/* Only for fixed SQL text (migrations, pragmas): never for user input. */
int exec_sql(sqlite3 *db, const char *op, const char *sql);
/* Run a statement that returns no row (INSERT, UPDATE, DELETE). */
int step_done(sqlite3 *db, const char *op, sqlite3_stmt *stmt);
/*
 * A statement prepared once and reused: reset and unbound on each use, kept
 * until store_close. Only for fixed SQL on paths taken per envelope or per
 * service. Reset it as soon as it is done with (a statement left stepping
 * holds a read snapshot: later reads would miss other processes' writes).
 */
int prepare_cached(sqlite3 *db, const char *op, const char *sql, sqlite3_stmt **slot,
		   sqlite3_stmt **out);
/* A text column, copied ("" for NULL; caller frees). */
char *col_dup(sqlite3_stmt *stmt, int col);

#endif
