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
/* PRAGMA journal_mode, e.g. "wal" (copied into buf). */
int store_journal_mode(struct store *st, char *buf, size_t len);

/* ---- audit log --------------------------------------------------------- */
struct store_audit_entry {
	int64_t id;
	int64_t ts;          /* unix seconds */
	char *user_id;       /* Slack user id, "U_LOCAL", "scheduler", ... */
	char *action;        /* e.g. "promote", "pipeline.delete", "denied" */
	char *target;        /* e.g. service name; may be "" */
	char *params_json;   /* JSON object text, "{}" when none */
	char *result;        /* "ok", "denied", "error: ...", ... */
};

/* Append one entry; params_json NULL means "{}". ts 0 means now. */
int store_audit_add(struct store *st, int64_t ts, const char *user_id, const char *action,
		    const char *target, const char *params_json, const char *result);
/*
 * Newest first, at most limit entries, only those with this target when
 * target is not NULL. *out is an array the caller frees with
 * store_audit_free(*out, *n).
 */
int store_audit_list(struct store *st, const char *target, int limit,
		     struct store_audit_entry **out, size_t *n);
void store_audit_free(struct store_audit_entry *e, size_t n);

/* ---- processed envelopes (de-duplication) ------------------------------ */
/*
 * Record that `key` (an envelope_id, or "event:" + event_id) is being
 * processed. Returns VIVA_OK when it is new (and records it), VIVA_EDUP when
 * it was seen before. Atomic: two threads racing on one key get one VIVA_OK.
 */
int store_envelope_claim(struct store *st, const char *key, const char *kind, int64_t now);
/* Forget keys older than `before` (unix seconds); *removed may be NULL. */
int store_envelope_prune(struct store *st, int64_t before, int *removed);

/* ---- scheduler runs ---------------------------------------------------- */
/*
 * Claim the run of schedule `name` at time slot `slot` (unix seconds of the
 * cron minute). VIVA_OK if newly claimed, VIVA_EDUP if that slot was already
 * claimed. Atomic, like store_envelope_claim: one claim wins per slot, even
 * across processes sharing the file. now 0 means now.
 */
int store_schedule_claim(struct store *st, const char *name, int64_t slot, int64_t now);
/*
 * Record that the claimed run finished with `result` ("ok", "error: ...";
 * NULL means "ok"). VIVA_ENOENT if that slot was never claimed.
 */
int store_schedule_finish(struct store *st, const char *name, int64_t slot, int64_t now,
			  const char *result);
/* The newest claimed slot of `name`, 0 if none. */
int store_schedule_last(struct store *st, const char *name, int64_t *slot);


/* ---- service catalog ----------------------------------------------------- */
/*
 * One row per service (pipeline spec), with every revision kept. A deleted
 * service keeps its row (deleted_at set) for the audit log and the savings
 * tally; putting it again revives it with a new revision.
 */
struct store_service {
	char *name;
	char *type;          /* service | batch | frontend */
	char *spec_yaml;     /* the text of record */
	char *spec_json;     /* the parsed spec, JSON */
	int revision;        /* 1, 2, ... */
	char *source;        /* "file:service-a.yaml", "form" */
	int64_t created_at;
	int64_t updated_at;
	int64_t deleted_at;  /* 0 while active */
};

struct store_service_put {
	const char *name, *type, *spec_yaml, *spec_json, *source, *author;
	int64_t now;         /* 0 = now */
	bool create_only;    /* VIVA_ECONFLICT when an active service has the name */
};

/* VIVA_ENOENT when there is no such row (deleted rows are returned). */
int store_service_get(struct store *st, const char *name, struct store_service *out);
/*
 * Insert or update (and revive). Unchanged text is not a new revision:
 * *changed is false then. *revision gets the current revision.
 */
int store_service_put(struct store *st, const struct store_service_put *p, int *revision, bool *changed);
/* All services ordered by type then name; deleted ones only when asked. */
int store_service_list(struct store *st, bool include_deleted, struct store_service **out, size_t *n);
/* Mark deleted; VIVA_ENOENT when no active service has the name. */
int store_service_mark_deleted(struct store *st, const char *name, int64_t now);
void store_service_release(struct store_service *sv);
void store_services_free(struct store_service *v, size_t n);

struct store_revision {
	int revision;
	char *author;
	char *source;
	int64_t ts;
};
/* Newest first, at most limit. */
int store_service_revisions(struct store *st, const char *name, int limit,
			    struct store_revision **out, size_t *n);
void store_revisions_free(struct store_revision *v, size_t n);

/* ---- one-time actions ------------------------------------------------------ */
/*
 * A button that must act once (promote, deploy, delete): the first click
 * claims `key` (VIVA_OK); later clicks get VIVA_EDUP and can read who did it
 * and the result with store_action_get. A failed action is released.
 */
int store_action_claim(struct store *st, const char *key, const char *user_id, int64_t now);
/* Forget a claim whose action failed, so the button can be used again. */
int store_action_release(struct store *st, const char *key);
/* A claim still without a result this long after it was taken belonged to a
 * process that died mid-action: it may be claimed again. */
#define STORE_ACTION_STALE_S 600
int store_action_finish(struct store *st, const char *key, const char *result);
/* *result is NULL while the first click is still running. Caller frees both strings. */
int store_action_get(struct store *st, const char *key, char **user_id, int64_t *ts, char **result);

/* ---- image build times (registry config blobs, cached by digest) ----------- */
int store_image_created_get(struct store *st, const char *digest, int64_t *created);
int store_image_created_put(struct store *st, const char *digest, int64_t created);

#endif
