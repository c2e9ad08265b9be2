#ifndef VIVA_BOT_SERVE_IMPL_H
#define VIVA_BOT_SERVE_IMPL_H

/*
 * Internal to `viva serve`'s own files (bot/serve*.c; serve.c has the map of
 * which file does what): struct serve (the loop's state), struct env_job (a
 * queued envelope) and the helpers the files share. Everything else uses
 * serve.h only.
 */
#include "bot/serve.h"
#include "bot/queue.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct inbox;
struct sm;
struct sm_conn;

struct serve;

struct view_ack {
	unsigned conn_id;
	uint64_t token;         /* the job that answers it */
	char *envelope_id;
	int64_t deadline_ms;
	bool done;              /* the worker answered */
	json_t *payload;        /* its answer (NULL: empty ack) */
};

struct serve {
	struct viva_env *env;
	struct lws_context *lws;
	struct sm *sm;                  /* the Socket Mode links */
	struct inbox *inbox;            /* the loop's connection to the durable inbox; NULL: none */
	struct http_server *http;
	struct queue *q;
	struct queue *urgent;           /* jobs that must answer within seconds (forms): their own
					 * few workers, so they never wait behind slow jobs */
	uint64_t next_token;            /* view_submission jobs */
	lws_sorted_usec_list_t sul_tick;

	pthread_mutex_t mu;             /* guards view_acks: workers answer into it */
	struct view_ack *view_acks;
	size_t nview_acks;

	/* loop state */
	bool stopping;
	int64_t stop_deadline_ms;
	bool done;
	int exit_code;
	atomic_int busy_notifiers;
	struct job reload_job;          /* SIGHUP's, one at a time */
	atomic_bool reload_busy;
};

/*
 * A queued envelope. On the common path (a frame that fits a pool slot,
 * fewer than JOB_SLOTS in flight) the loop fills it without a single malloc
 * (a slot from the job pool in serve_pool.c, the frame copied in, ids
 * picked out by envelope_scan) and the worker parses the frame: glibc's
 * arenas are shared by the loop and the workers, and a worker preempted
 * while holding an arena lock stalled the loop for milliseconds (seen with
 * perf's sched_switch call graphs: malloc -> __lll_lock_wait_private under
 * on_message).
 */
struct env_job {
	struct job job;         /* the queue keeps a pointer to it */
	struct serve *s;
	char envelope_id[128];
	char type[32];
	json_t *payload;        /* NULL until the worker parses text */
	bool view_ack;          /* its answer goes in the ack */
	uint64_t token;         /* matches its struct view_ack */
	int slot;               /* in the job pool, or -1: malloc'd */
	bool spilled;           /* no text: the worker reads the frame back from the inbox */
	size_t len;
	char text[];            /* the frame (NUL-terminated), when payload is NULL */
};

/* ---- serve_pool.c: the job pool ------------------------------------------- */

/* Reserves the pool's memory; serve_run, before the first job. */
void serve_job_pool_init(void);
/* Gives the pool's memory back; serve_run, once every job has run or been dropped. */
void serve_job_pool_release(void);
/* A job for a frame of text_len bytes, from the pool or malloc; the loop only. */
struct env_job *serve_job_alloc(struct serve *s, size_t text_len, bool may_spill);
/* job.drop of a struct env_job: frees it or gives its slot back; any thread. */
void serve_env_job_drop(void *arg);

/* ---- serve_job.c: running a job, notes to the user, view acks ------------- */

/* job.run of a struct env_job: runs the envelope on a worker, then drops it. */
void serve_env_job_run(void *arg);
/* Tells the user text through payload's response_url from a thread of its own; the loop. */
void serve_tell_busy(struct serve *s, json_t *payload, const char *text);
/* Sends the view_submission acks that are answered or out of time; the loop. */
void serve_drain_outbox(struct serve *s);

/* ---- serve_envelope.c: envelopes in --------------------------------------- */

/* The loop's clock for the inbox: wall-clock seconds. */
int64_t serve_loop_now(struct serve *s);
/* hooks.frame: every complete text frame from a link. */
void serve_on_message(void *user, struct sm_conn *c, const char *text, size_t len, int64_t t0);

/* ---- serve_replay.c: the durable inbox at start-up ------------------------ */

/* Replays what a previous process acked and did not run; serve_run, before Slack. */
void serve_recover_inbox(struct serve *s);
/* Sends on the answers a previous process deferred; serve_run, once the timers run. */
void serve_recover_answers(struct serve *s);

#endif
