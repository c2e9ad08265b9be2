#ifndef VIVA_STORE_STORE_H
#define VIVA_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * All of viva's SQL lives in store/. Only the .c files in store/ include <sqlite3.h>.
 *
 * The database is one SQLite file in WAL mode with a busy timeout (5 s).
 * Schema changes are numbered migrations applied in order, each in its own
 * transaction, tracked with PRAGMA user_version; opening an older database
 * migrates it forward, opening a newer one (unknown version) is refused.
 *
 * Times are unix seconds given by the caller, from its struct viva_clock
 * (never read here), so that tests and the scheduler decide what "now" is;
 * a time <= 0 is VIVA_EINVAL.
 *
 * The API is split by domain: store/audit.h, envelopes.h (processed
 * envelopes, one-time buttons), schedules.h, services.h (the catalog),
 * images.h. store/db.h is store/'s own.
 *
 * A struct store is safe to use from several threads: every function takes
 * the store's mutex for the duration of its statements.
 */
struct store;

/* Open (creating if needed) and migrate. path ":memory:" works for tests. */
int store_open(const char *path, struct store **out);
/* Open without migrating past `version` (tests of migrations only). */
int store_open_at_version(const char *path, int version, struct store **out);
void store_close(struct store *st);

/* Current PRAGMA user_version, and the newest version this build knows. */
int store_schema_version(struct store *st);
int store_schema_latest(void);
/*
 * Tests only: every write fails from now on (PRAGMA query_only), as on a
 * full disk or a read-only file system; refuse false lifts it.
 */
int store_test_refuse_writes(struct store *st, int refuse);
/* What viva doctor says about a database. */
struct store_health {
	bool missing;       /* no file yet: viva serve creates it */
	int version;        /* its PRAGMA user_version */
	int latest;         /* this build's (store_schema_latest()) */
	char journal[16];   /* "wal", ... */
};
/*
 * viva doctor: the database at path as it is (not created, not migrated,
 * not changed): readable, of a schema this build knows, writable (the
 * write lock can be taken), whole (PRAGMA quick_check). VIVA_OK (h filled;
 * h->missing for no file), or a code with why in `why` (a sentence that
 * says what to do).
 */
int store_inspect(const char *path, struct store_health *h, char *why, size_t len);
/* PRAGMA journal_mode, e.g. "wal" (copied into buf). */
int store_journal_mode(struct store *st, char *buf, size_t len);

#endif
