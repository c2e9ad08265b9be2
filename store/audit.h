#ifndef VIVA_STORE_AUDIT_H
#define VIVA_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

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

/* Append one entry; params_json NULL means "{}". ts is unix seconds from
 * the caller's clock (struct viva_clock), > 0. */
int store_audit_add(struct store *st, int64_t ts, const char *user_id, const char *action,
		    const char *target, const char *params_json, const char *result);
/*
 * An action about to run, written first so that an action is never done
 * unaudited (the caller does not run it when this fails): the entry says
 * "running" until store_audit_finish() records the outcome. *id (may be
 * NULL) is the entry's id.
 */
int store_audit_begin(struct store *st, int64_t ts, const char *user_id, const char *action,
		      const char *target, const char *params_json, int64_t *id);
/* The outcome of entry id; target and params_json (may be NULL: kept) are
 * what the action learnt while running. VIVA_ENOENT for an unknown id. */
int store_audit_finish(struct store *st, int64_t id, const char *target, const char *params_json,
		       const char *result);
/* What the action learnt, its outcome left as it is (an operation that
 * runs on writes it when it ends). */
int store_audit_update(struct store *st, int64_t id, const char *target, const char *params_json);
/* At start-up: entries still "running" were cut short by a crash; they get
 * `result` (e.g. "interrupted: viva stopped"). *n counts them (may be NULL). */
int store_audit_interrupted(struct store *st, const char *result, int *n);
/*
 * Newest first, at most limit entries, only those with this target when
 * target is not NULL. *out is an array the caller frees with
 * store_audit_free(*out, *n).
 */
int store_audit_list(struct store *st, const char *target, int limit,
		     struct store_audit_entry **out, size_t *n);
void store_audit_free(struct store_audit_entry *e, size_t n);

#endif
