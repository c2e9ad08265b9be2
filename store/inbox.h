#ifndef VIVA_STORE_INBOX_H
#define VIVA_STORE_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/*
 * The durable inbox. Slack never sends an acked envelope again, so an
 * envelope is committed to the store before its ack is written, marked
 * started when a worker takes it and finished when its handler returns. A
 * crash (kill -9, a power cut of the process) then loses nothing: at the
 * next start the envelopes never started run again, once, and the ones a
 * crash interrupted are reported (their handler may have acted).
 *
 * The event loop writes through a connection of its own (struct inbox), so
 * it never waits for the store's mutex that workers hold: one prepared
 * INSERT, no checkpoint on that connection (WAL mode, synchronous=NORMAL: a
 * commit survives the process dying, which is what a crash is), and a busy
 * wait of microseconds, not milliseconds, should a worker be writing.
 */
struct inbox;

/* Open the loop's connection to the database at path (store_open()ed and
 * migrated already). ":memory:" is refused: it could not be shared. */
int inbox_open(const char *path, struct inbox **out);
void inbox_close(struct inbox *ib);
/*
 * Record envelope_id (non-empty) of `type` with its whole frame, received
 * at now. VIVA_OK; VIVA_EDUP when the id was recorded before (Slack
 * delivered it again); VIVA_EINVAL for an empty id; VIVA_EBUSY / VIVA_EIO
 * when it cannot be written (then the caller must not run it).
 */
int inbox_add(struct inbox *ib, const char *envelope_id, const char *type, const char *frame, size_t len,
	      int64_t now);

/* The loop refused an envelope it recorded (the queue was full and the user
 * was told): forget it, so that no restart runs it. */
int inbox_forget(struct inbox *ib, const char *envelope_id);

/* ---- workers and start-up, through the store ---------------------------- */
int store_inbox_started(struct store *st, const char *envelope_id);
int store_inbox_finished(struct store *st, const char *envelope_id, int64_t now);
/* store_inbox_started(), giving back the frame recorded for envelope_id
 * (malloc'd, NUL-terminated, *len bytes), in one statement: for a job that
 * was queued without it. VIVA_ENOENT when there is no such entry. */
int store_inbox_started_frame(struct store *st, const char *envelope_id, char **frame, size_t *len);

struct store_inbox_entry {
	char *envelope_id;
	char *type;
	char *frame;          /* NUL-terminated; len bytes */
	size_t len;
	int64_t received;
	int state;            /* 0 never started, 1 started (a crash interrupted it) */
};
/* Unfinished entries received at or after `since`, oldest first (at most
 * limit). Caller frees with store_inbox_free(). */
int store_inbox_unfinished(struct store *st, int64_t since, int limit, struct store_inbox_entry **out,
			   size_t *n);
void store_inbox_free(struct store_inbox_entry *v, size_t n);
/* Unfinished entries received before `before` (past their response_url's
 * lifetime) are closed as expired; *expired counts them (may be NULL). */
int store_inbox_expire(struct store *st, int64_t before, int *expired);
/* Forget finished entries received before `before`; *removed may be NULL. */
int store_inbox_prune(struct store *st, int64_t before, int *removed);

#endif
