/*
 * `viva serve`: the event loop thread owns the Slack Socket Mode
 * connection(s) and the HTTP endpoint. It parses each envelope,
 * acknowledges it at once (Slack gives 3 s, and the user sees an error when
 * we are late), and queues a job; worker threads do the work. Nothing on
 * this thread blocks or reads a file: apps.connections.open, DNS and the TLS
 * context (CA files) are the connector thread's, de-duplication runs on the
 * worker, a SIGHUP reload is a job, and answers that must go in an ack
 * (view_submission errors) come back through a mutex-guarded outbox.
 */
#include "bot/serve.h"
#include "bot/model/config.h"
#include "bot/slack/envscan.h"
#include "bot/lib/err.h"
#include "bot/httpd.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/ops.h"
#include "bot/queue.h"
#include "bot/timers.h"
#include "bot/commands.h"
#include "bot/reload.h"
#include "bot/runtime.h"
#include "store/audit.h"
#include "store/inbox.h"
#include "bot/sched_thread.h"
#include "bot/slack/api.h"
#include "bot/slack/socket.h"
#include "bot/lib/alloc.h"
#include "bot/lib/thread.h"
#include "bot/lib/times.h"

#include <libwebsockets.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define TICK_US          (100 * 1000)
#define VIEW_ACK_MS      2500       /* answer a view_submission within Slack's 3 s */
#define URGENT_WORKERS   2          /* the urgent lane: forms (trigger_id, response_action) */
#define URGENT_QUEUE     64
#define CLOSE_WAIT_MS    1500       /* Slack may never answer our close frame */
#define DRAIN_MS         25000      /* running jobs get this long at shutdown */
#define BUSY_NOTIFIERS   4          /* threads telling users "busy", at most */
#define LOOP_NICE        (-5)
#define LOOP_SLICE_US    100
#define LOOP_RT_PRIO     1

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

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;
static struct lws_context *signal_ctx;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

/* ---- jobs ------------------------------------------------------------------ */

/*
 * A queued envelope. On the common path (a frame that fits a pool slot,
 * fewer than JOB_SLOTS in flight) the loop fills it without a single malloc
 * (a slot from the job pool below, the frame copied in, ids picked out by
 * envelope_scan) and the worker parses the frame: glibc's arenas are
 * shared by the loop and the workers, and a worker preempted while holding
 * an arena lock stalled the loop for milliseconds (seen with perf's
 * sched_switch call graphs: malloc -> __lll_lock_wait_private under
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

/*
 * Fixed-size slots, taken only by the loop and given back by any worker:
 * a bitmap the loop sets and workers clear (atomically), so neither side
 * ever waits. The memory is reserved at start and touched as slots are
 * first used. Frames that do not fit, or a full pool, fall back to malloc.
 */
#define JOB_SLOT_SIZE   4096
#define JOB_SLOTS       256
#define JOB_POOL_WORDS  (JOB_SLOTS / 64)

static unsigned char *job_pool;
static atomic_uint_fast64_t job_pool_used[JOB_POOL_WORDS];

/* Under AddressSanitizer a free slot is poisoned, so a job used after it was
 * dropped is caught as it would be with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLOT_POISON(p)   ASAN_POISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#define SLOT_UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#else
#define SLOT_POISON(p)   ((void)(p))
#define SLOT_UNPOISON(p) ((void)(p))
#endif

/*
 * may_spill: the frame is in the durable inbox already. When the pool is
 * full (a backlog: the workers are behind), the job then keeps only its ids
 * and the worker reads the frame back from the inbox with its "started"
 * mark (store_inbox_started_frame: one statement, as before). A backlog of
 * thousands then holds ~250 bytes a job instead of ~1.3 KB: in
 * bench/run.sh, where the workers fall behind on a busy 2-CPU machine, the
 * peak RSS was ~4 MB lower and the backlog drained no slower.
 */
static struct env_job *job_alloc(struct serve *s, size_t text_len, bool may_spill)
{
	size_t need = sizeof(struct env_job) + text_len + 1;
	struct env_job *j = NULL;
	int slot = -1;

	if (job_pool && need <= JOB_SLOT_SIZE)
		for (int w = 0; w < JOB_POOL_WORDS && slot < 0; w++) {
			uint_fast64_t used = atomic_load(&job_pool_used[w]);
			if (~used == 0)
				continue;
			int b = __builtin_ctzll((unsigned long long)~used);
			atomic_fetch_or(&job_pool_used[w], (uint_fast64_t)1 << b);
			slot = w * 64 + b;
		}
	if (slot >= 0) {
		j = (struct env_job *)(job_pool + (size_t)slot * JOB_SLOT_SIZE);
		SLOT_UNPOISON(j);
		memset(j, 0, sizeof(*j));
	} else if (may_spill) {
		j = xcalloc(1, sizeof(*j) + 1);
		j->spilled = true;
	} else {
		j = xcalloc(1, need);
	}
	j->s = s;
	j->slot = slot;
	j->len = j->spilled ? 0 : text_len;
	return j;
}

static void env_job_drop(void *arg)
{
	struct env_job *j = arg;
	int slot = j->slot;

	json_decref(j->payload);
	if (slot < 0) {
		free(j);
		return;
	}
	SLOT_POISON(j);   /* before the slot can be handed out again */
	atomic_fetch_and(&job_pool_used[slot / 64], ~((uint_fast64_t)1 << (slot % 64)));
}

static long debug_delay_ms(void)
{
	/* Simulates slow jobs for tests and the benchmark; off by default. */
	const char *v = getenv("VIVA_DEBUG_JOB_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	return ms > 0 && ms < 60000 ? ms : 0;
}

static void env_job_run(void *arg)
{
	struct env_job *j = arg;
	struct serve *s = j->s;
	json_t *ackp = NULL;
	long delay = debug_delay_ms();
	char *frame = NULL;
	size_t flen = 0;
	int rc, frc = VIVA_OK;

	/* a spilled job (only with the inbox) gets its frame with the mark */
	if (j->spilled)
		frc = store_inbox_started_frame(s->env->store, j->envelope_id, &frame, &flen);
	else if (s->inbox)
		store_inbox_started(s->env->store, j->envelope_id);
	if (delay) {
		struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (!j->payload) {
		json_error_t jerr;
		json_t *msg;
		bool parsed;

		if (j->spilled) {
			if (frc != VIVA_OK) {
				/* not marked started either: the next start runs it */
				log_error("queued envelope not read back from the inbox; left for the next start",
					  "envelope_id=%s err=\"%s\"", j->envelope_id, viva_strerror(frc));
				metrics_job_done("failed");
				env_job_drop(j);
				return;
			}
			msg = json_loadb(frame, flen, JSON_ALLOW_NUL, &jerr);
			free(frame);
		} else {
			msg = json_loadb(j->text, j->len, JSON_ALLOW_NUL, &jerr);
		}
		parsed = msg != NULL;

		j->payload = json_incref(json_object_get(msg, "payload"));
		json_decref(msg);
		if (!json_is_object(j->payload)) {
			/* acked already; should not happen: the scanner only passes
			 * frames jansson reads (tests/envscan_check.h checks it) */
			log_warn("envelope not parseable; dropped", "envelope_id=%s type=%s err=\"%s\"",
				 j->envelope_id, j->type, parsed ? "payload is not an object" : jerr.text);
			metrics_job_done("failed");
			if (s->inbox)
				store_inbox_finished(s->env->store, j->envelope_id, s->env->clock->now(s->env->clock));
			env_job_drop(j);
			return;
		}
	}
	rc = runtime_run_envelope(s->env, j->envelope_id, j->type, j->payload, j->view_ack ? &ackp : NULL);
	metrics_job_done(rc == VIVA_OK || rc == VIVA_EDUP ? "ok" : "failed");
	if (s->inbox && store_inbox_finished(s->env->store, j->envelope_id, s->env->clock->now(s->env->clock)) != VIVA_OK)
		log_warn("inbox entry not closed; a restart may report it interrupted", "envelope_id=%s",
			 j->envelope_id);
	/* A duplicate delivery answers nothing: its twin holds the real answer,
	 * and the deadline acks this copy. */
	if (j->view_ack && rc != VIVA_EDUP) {
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->nview_acks; i++)
			if (s->view_acks[i].token == j->token && !s->view_acks[i].done) {
				s->view_acks[i].done = true;
				s->view_acks[i].payload = ackp;
				ackp = NULL;
			}
		pthread_mutex_unlock(&s->mu);
		json_decref(ackp);  /* too late: the fallback ack went already */
		lws_cancel_service(s->lws);
	}
	env_job_drop(j);
}

#define MSG_BUSY ":hourglass: viva is busy right now and could not take this request. Please try again in a minute."
#define MSG_NOT_RECORDED ":warning: viva could not record this request (its database cannot be written), so " \
	"it did nothing. Please try again in a minute; if it goes on, an admin should look at viva's disk."

struct busy_note {
	struct serve *s;
	json_t *payload;
	const char *text;
};

static void *busy_main(void *arg)
{
	struct busy_note *b = arg;

	thread_sched_default();   /* the loop's nice, if any, was inherited */
	runtime_tell(b->s->env, b->payload, b->text);
	atomic_fetch_sub(&b->s->busy_notifiers, 1);
	json_decref(b->payload);
	free(b);
	return NULL;
}

/* Refused (the queue is full, the inbox cannot be written): say so through
 * response_url, off the loop, bounded. */
static void tell_busy(struct serve *s, json_t *payload, const char *text)
{
	struct busy_note *b;
	pthread_t t;

	if (atomic_fetch_add(&s->busy_notifiers, 1) >= BUSY_NOTIFIERS) {
		atomic_fetch_sub(&s->busy_notifiers, 1);
		log_warn("busy and cannot even say so", "notifiers=%d", BUSY_NOTIFIERS);
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->payload = json_incref(payload);
	b->text = text;
	if (thread_create_normal(&t, true, busy_main, b) != 0) {
		atomic_fetch_sub(&s->busy_notifiers, 1);
		json_decref(b->payload);
		free(b);
		return;
	}
}

/*
 * The loop acks; it should run the moment a frame arrives, not after a busy
 * thread's slice. realtime: SCHED_FIFO (the loop never spins; what it does
 * per frame is bounded), which needs CAP_SYS_NICE. normal, or realtime
 * refused: a short EEVDF slice (Linux >= 6.12) and nice -5 where permitted.
 * Called after the connector and scheduler threads are started; threads the
 * loop starts later (workers, busy notes) are created SCHED_OTHER and go
 * back to the base nice themselves.
 */
static void apply_loop_priority(const char *want)
{
	if (want && strcmp(want, "realtime") == 0) {
		if (thread_sched_realtime(LOOP_RT_PRIO) == 0) {
			log_info("event loop scheduling", "policy=SCHED_FIFO priority=%d", LOOP_RT_PRIO);
			return;
		}
		log_warn("loop_priority realtime refused; running at normal priority",
			 "errno=%d hint=\"needs CAP_SYS_NICE\"", errno);
	}
	if (thread_sched_latency(LOOP_SLICE_US, LOOP_NICE) != 0)
		log_debug("event loop scheduling hint refused", "errno=%d", errno);
}

/* ---- envelopes ---------------------------------------------------------------- */

static void on_message_full(struct serve *s, struct sm_conn *c, const char *text, size_t len, int64_t t0);

/* The loop's clock for the inbox: wall-clock seconds. */
static int64_t loop_now(struct serve *s)
{
	return s->env->clock->now(s->env->clock);
}

/* A view_submission refused before it ran: the modal says why. */
static void refuse_view(struct serve *s, const char *title, const char *text)
{
	pthread_mutex_lock(&s->mu);
	s->view_acks[s->nview_acks - 1].done = true;
	s->view_acks[s->nview_acks - 1].payload = json_pack(
		"{s:s, s:{s:s, s:{s:s, s:s}, s:[{s:s, s:{s:s, s:s}}]}}",
		"response_action", "update", "view", "type", "modal", "title",
		"type", "plain_text", "text", title, "blocks", "type", "section",
		"text", "type", "mrkdwn", "text", text);
	pthread_mutex_unlock(&s->mu);
	lws_cancel_service(s->lws);
}

static void on_envelope(struct serve *s, struct sm_conn *c, json_t *msg, const char *text, size_t len,
			int64_t t0)
{
	const char *id = json_string_value(json_object_get(msg, "envelope_id"));
	const char *type = json_string_value(json_object_get(msg, "type"));
	json_t *payload = json_object_get(msg, "payload");
	const char *ptype = json_string_value(json_object_get(payload, "type"));
	struct env_job *j;
	struct queue *lane;
	bool view_ack, spawn = false;
	int rc;

	if (!type)
		type = "unknown";
	metrics_envelope(type);
	if (strcmp(type, "slash_commands") && strcmp(type, "interactive") && strcmp(type, "events_api")) {
		/* Ack what we do not understand, so Slack does not retry it. */
		sm_ack(c, id, NULL, t0);
		log_info("envelope of unknown type acked", "type=%s", type);
		return;
	}
	if (!json_is_object(payload)) {
		sm_ack(c, id, NULL, t0);
		log_warn("envelope without a payload object", "type=%s envelope_id=%s", type, id);
		return;
	}
	view_ack = strcmp(type, "interactive") == 0 && ptype && strcmp(ptype, "view_submission") == 0;
	lane = view_ack || (strcmp(type, "slash_commands") == 0 &&
			    cmd_text_is_urgent(json_string_value(json_object_get(payload, "text"))))
	       ? s->urgent : s->q;
	if (strlen(id) >= sizeof(j->envelope_id)) {
		/* Slack's ids are UUIDs: ack it (or Slack re-sends it), run nothing */
		sm_ack(c, id, NULL, t0);
		log_warn("envelope id too long; acked, not run", "bytes=%zu type=%s", strlen(id), type);
		return;
	}
	/* the durable inbox: recorded before the ack, or not run at all */
	rc = s->inbox ? inbox_add(s->inbox, id, type, text, len, loop_now(s)) : VIVA_OK;
	if (rc == VIVA_EDUP) {
		sm_ack(c, id, NULL, t0);
		metrics_duplicate();
		log_info("envelope delivered again; acked, not run", "type=%s envelope_id=%s", type, id);
		return;
	}
	if (rc != VIVA_OK) {
		json_t *note = NULL;

		metrics_job_done("rejected");
		log_error("envelope not recorded in the inbox; refused", "type=%s envelope_id=%s err=\"%s\"", type,
			  id, viva_strerror(rc));
		if (strcmp(type, "slash_commands") == 0)
			note = json_pack("{s:s}", "text", MSG_NOT_RECORDED);
		else if (strcmp(type, "interactive") == 0 && !view_ack)
			tell_busy(s, payload, MSG_NOT_RECORDED);
		sm_ack(c, id, view_ack ? json_pack("{s:s, s:{s:s, s:s}}", "response_action", "errors",
						     "errors", "name", "viva could not record this; please try again")
				       : note, t0);
		json_decref(note);
		return;
	}
	j = job_alloc(s, 0, false);
	snprintf(j->envelope_id, sizeof(j->envelope_id), "%s", id);
	snprintf(j->type, sizeof(j->type), "%s", type);
	j->payload = json_incref(payload);
	j->view_ack = view_ack;
	if (view_ack) {
		struct view_ack va = { .conn_id = sm_conn_id(c), .envelope_id = xstrdup(id),
				       .deadline_ms = t0 / 1000 + VIEW_ACK_MS, .token = ++s->next_token };
		j->token = va.token;
		pthread_mutex_lock(&s->mu);
		s->view_acks = xrealloc(s->view_acks, (s->nview_acks + 1) * sizeof(*s->view_acks));
		s->view_acks[s->nview_acks++] = va;
		pthread_mutex_unlock(&s->mu);
	}
	j->job.run = env_job_run;
	j->job.drop = env_job_drop;
	j->job.arg = j;
	rc = queue_push_later(lane, &j->job, &spawn);
	if (rc != VIVA_OK) {
		json_t *busy = NULL;
		metrics_job_done("rejected");
		log_warn("queue full; envelope refused", "type=%s envelope_id=%s", type, id);
		/* refused, never run: nothing for a restart to pick up */
		if (s->inbox)
			inbox_forget(s->inbox, id);
		if (strcmp(type, "slash_commands") == 0)
			busy = json_pack("{s:s}", "text", ":hourglass: viva is busy right now; "
					 "please try again in a minute.");
		else if (strcmp(type, "interactive") == 0)
			tell_busy(s, payload, MSG_BUSY);
		if (view_ack) {
			refuse_view(s, "viva is busy", "viva is busy right now; please submit again in a minute.");
		} else {
			sm_ack(c, id, busy, t0);
		}
		json_decref(busy);
		env_job_drop(j);
		return;
	}
	if (!view_ack)
		sm_ack(c, id, NULL, t0);
	if (spawn)
		queue_spawn_worker(lane);   /* after the ack, as on the fast path */
}

/*
 * The common case, without a JSON tree or a malloc (see struct env_job):
 * copy the frame into a pooled job, queue it, ack it. Anything unusual (a
 * full queue, a view_submission whose answer goes in the ack) takes the
 * full path below.
 */
static bool on_envelope_fast(struct serve *s, struct sm_conn *c, const struct envelope_head *h, const char *text,
			     size_t len, int64_t t0)
{
	struct env_job *j;
	struct queue *lane;
	bool spawn = false;
	int rc;

	if (h->uncertain || !h->envelope_id[0] || !h->has_payload ||
	    (strcmp(h->type, "slash_commands") && strcmp(h->type, "events_api") &&
	     strcmp(h->type, "interactive")) ||
	    (strcmp(h->type, "interactive") == 0 &&
	     (!h->payload_type[0] || strcmp(h->payload_type, "view_submission") == 0)))
		return false;
	/* the durable inbox: recorded before the ack */
	rc = s->inbox ? inbox_add(s->inbox, h->envelope_id, h->type, text, len, loop_now(s)) : VIVA_OK;
	if (rc == VIVA_EDUP) {
		sm_ack_id(c, h->envelope_id, t0);
		metrics_envelope(h->type);
		metrics_duplicate();
		log_info("envelope delivered again; acked, not run", "type=%s envelope_id=%s", h->type,
			 h->envelope_id);
		return true;
	}
	if (rc != VIVA_OK)
		return false;   /* the full path tries again and tells the user */
	j = job_alloc(s, len, s->inbox != NULL);
	memcpy(j->envelope_id, h->envelope_id, sizeof(j->envelope_id));
	memcpy(j->type, h->type, sizeof(j->type));
	if (!j->spilled) {
		memcpy(j->text, text, len);
		j->text[len] = '\0';
	}
	j->job.run = env_job_run;
	j->job.drop = env_job_drop;
	j->job.arg = j;
	lane = strcmp(h->type, "slash_commands") == 0 && cmd_text_is_urgent(h->payload_text) ? s->urgent : s->q;
	if (queue_push_later(lane, &j->job, &spawn) != VIVA_OK) {
		env_job_drop(j);
		if (s->inbox)
			inbox_forget(s->inbox, h->envelope_id);
		return false;   /* the full path tells the user viva is busy */
	}
	metrics_envelope(h->type);
	sm_ack_id(c, h->envelope_id, t0);
	/* a new worker thread, if this job needs one, only after the ack */
	if (spawn)
		queue_spawn_worker(lane);
	return true;
}

/* hooks.frame: every complete text frame from a link. */
static void on_message(void *user, struct sm_conn *c, const char *text, size_t len, int64_t t0)
{
	struct serve *s = user;
	struct envelope_head h;

	if (envelope_scan(text, len, &h) == 0 && on_envelope_fast(s, c, &h, text, len, t0))
		return;
	on_message_full(s, c, text, len, t0);
}

static void on_message_full(struct serve *s, struct sm_conn *c, const char *text, size_t len, int64_t t0)
{
	json_error_t jerr;
	/* "\u0000" is valid JSON and Slack passes on what users type: read it
	 * (the worker refuses such a command), never leave the frame unacked */
	json_t *msg = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);

	if (!json_is_object(msg)) {
		log_warn("malformed frame ignored", "conn=%u bytes=%zu err=\"%s\"", sm_conn_id(c), len, jerr.text);
		json_decref(msg);
		return;
	}
	if (json_is_string(json_object_get(msg, "envelope_id")))
		on_envelope(s, c, msg, text, len, t0);
	else
		sm_control(c, msg);   /* hello, disconnect */
	json_decref(msg);
}

/* ---- the loop's own work: results from other threads, timers ------------ */

/* view_submission answers that are ready, or out of time, go in their acks. */
static void drain_outbox(struct serve *s)
{
	int64_t now = now_ms_mono();

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nview_acks;) {
		struct view_ack *va = &s->view_acks[i];
		if (va->done || now >= va->deadline_ms) {
			struct sm_conn *c = sm_conn_by_id(s->sm, va->conn_id);
			if (!va->done)
				log_warn("view_submission answered late; closing the view", "envelope_id=%s",
					 va->envelope_id);
			if (c)
				sm_ack(c, va->envelope_id, va->payload, 0);
			json_decref(va->payload);
			free(va->envelope_id);
			s->view_acks[i] = s->view_acks[--s->nview_acks];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&s->mu);
}

/* The loop's turn: Slack links first (a fatal answer stops viva), then acks. */
static void loop_turn(struct serve *s)
{
	if (got_stop)
		s->stopping = true;
	sm_poll(s->sm);
	if (sm_fatal(s->sm)) {
		s->exit_code = 1;
		s->stopping = true;
	}
	drain_outbox(s);
}

/* hooks.wake: another thread has news (connector result, view answer, signal). */
static void on_wake(void *user)
{
	struct serve *s = user;

	if (!s->done)
		loop_turn(s);
}

/* hooks.health */
static void on_health(void *user, bool up, const char *reason)
{
	struct serve *s = user;

	if (s->http)
		http_server_set_health(s->http, up, reason);
}

static void begin_stop(struct serve *s)
{
	if (s->stop_deadline_ms)
		return;
	s->stopping = true;
	s->stop_deadline_ms = now_ms_mono() + CLOSE_WAIT_MS;
	log_info("shutting down", "queued=%zu running=%d", queue_length(s->q), queue_running(s->q));
	sm_close_all(s->sm);
}

/*
 * SIGHUP: re-read templates and specs. That reads files and parses, so it
 * is a job like any other and the loop only queues it; signals that come
 * while one is queued or running fold into it. A full queue leaves the
 * signal pending for the next tick.
 */
static void reload_job_run(void *arg)
{
	struct serve *s = arg;
	struct reload_report rep;

	reload_all(s->env, "sighup", &rep);
	metrics_job_done(rep.error[0] ? "failed" : "ok");
	atomic_store(&s->reload_busy, false);
}

static void reload_job_drop(void *arg)
{
	struct serve *s = arg;

	atomic_store(&s->reload_busy, false);
}

static void queue_reload(struct serve *s)
{
	if (atomic_exchange(&s->reload_busy, true))
		return;   /* one is queued or running; got_hup stays set for after it */
	got_hup = 0;
	s->reload_job.run = reload_job_run;
	s->reload_job.drop = reload_job_drop;
	s->reload_job.arg = s;
	if (queue_push(s->q, &s->reload_job) != VIVA_OK) {
		atomic_store(&s->reload_busy, false);
		got_hup = 1;
		log_warn("reload postponed: the queue is full", "queued=%zu", queue_length(s->q));
	} else {
		log_info("reload queued", "why=SIGHUP");
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct serve *s = lws_container_of(sul, struct serve, sul_tick);
	int64_t now = now_ms_mono();

	if (got_hup && !s->stopping && !got_stop)
		queue_reload(s);
	loop_turn(s);
	if (s->stopping) {
		begin_stop(s);
		/* Closing sockets still flush their last acks and the close frame. */
		if (!sm_any_open(s->sm) || now >= s->stop_deadline_ms) {
			s->done = true;
			lws_cancel_service(s->lws);
			return;
		}
	}
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
}

/*
 * The durable inbox at start-up, before Slack is connected. Envelopes a
 * viva acked and then died before running run now, once, if their
 * response_url still lives (30 minutes); older ones are closed unrun. One a
 * crash cut short is not run again (its handler may have acted half-way):
 * its user is told, and audit rows left "running" say they were
 * interrupted.
 */
#define INBOX_REPLAY_S  1800
#define MSG_INTERRUPTED ":warning: viva restarted while it was working on this request, so it may have been " \
	"done only in part. Check `/viva audit` before you ask again."

struct note_job {
	struct job job;
	struct serve *s;
	char *envelope_id;
	json_t *payload;
};

static void note_job_drop(void *arg)
{
	struct note_job *n = arg;

	json_decref(n->payload);
	free(n->envelope_id);
	free(n);
}

static void note_job_run(void *arg)
{
	struct note_job *n = arg;

	runtime_tell(n->s->env, n->payload, MSG_INTERRUPTED);
	store_inbox_finished(n->s->env->store, n->envelope_id, n->s->env->clock->now(n->s->env->clock));
	note_job_drop(n);
}

static void recover_inbox(struct serve *s)
{
	struct store_inbox_entry *v = NULL;
	int64_t now = loop_now(s);
	size_t n = 0, replayed = 0, told = 0;
	int expired = 0, cut = 0;

	store_inbox_expire(s->env->store, now - INBOX_REPLAY_S, &expired);
	store_audit_interrupted(s->env->store, "interrupted: viva stopped before this finished", &cut);
	if (store_inbox_unfinished(s->env->store, now - INBOX_REPLAY_S, s->env->cfg->queue_size, &v, &n) != VIVA_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i].state == 0 && strlen(v[i].envelope_id) < sizeof(((struct env_job *)0)->envelope_id) &&
		    strlen(v[i].type) < sizeof(((struct env_job *)0)->type)) {
			struct env_job *j = job_alloc(s, v[i].len, false);

			snprintf(j->envelope_id, sizeof(j->envelope_id), "%s", v[i].envelope_id);
			snprintf(j->type, sizeof(j->type), "%s", v[i].type);
			memcpy(j->text, v[i].frame, v[i].len);
			j->text[v[i].len] = '\0';
			j->job.run = env_job_run;
			j->job.drop = env_job_drop;
			j->job.arg = j;
			if (queue_push(s->q, &j->job) == VIVA_OK)
				replayed++;
			else
				env_job_drop(j);   /* still queued in the inbox: the next start */
		} else {
			struct note_job *nj = xcalloc(1, sizeof(*nj));
			json_t *frame = json_loadb(v[i].frame, v[i].len, JSON_ALLOW_NUL, NULL);

			nj->s = s;
			nj->envelope_id = xstrdup(v[i].envelope_id);
			nj->payload = json_incref(json_object_get(frame, "payload"));
			json_decref(frame);
			nj->job.run = note_job_run;
			nj->job.drop = note_job_drop;
			nj->job.arg = nj;
			if (queue_push(s->q, &nj->job) == VIVA_OK)
				told++;
			else
				note_job_drop(nj);
		}
	}
	if (n || expired || cut)
		log_info("inbox recovered", "replayed=%zu interrupted=%zu expired=%d audit_interrupted=%d", replayed,
			 told, expired, cut);
	store_inbox_free(v, n);
}

/* Tests only: VIVA_DEBUG_OPS_TOY=KIND:TARGET:DIR:SLEEP_MS starts a toy operation. */
static void debug_toy(struct serve *s)
{
	const char *v = getenv("VIVA_DEBUG_OPS_TOY");
	char kind[32], target[64], dir[512];
	long ms = 0;
	char why[512];
	json_t *data;
	struct op_request rq = { .user = "viva-debug" };

	if (!v || sscanf(v, "%31[^:]:%63[^:]:%511[^:]:%ld", kind, target, dir, &ms) != 4 ||
	    !(rq.kind = op_kind_lookup(kind)))
		return;
	data = json_pack("{s:s, s:I}", "dir", dir, "sleep_ms", (json_int_t)ms);
	rq.target = target;
	rq.data = data;
	if (ops_submit(s->env, &rq, NULL, why, sizeof(why)) != VIVA_OK)
		log_warn("debug toy operation not started", "why=\"%s\"", why);
	json_decref(data);
}

/* libwebsockets' own log lines, into ours. */
static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	char buf[512];

	snprintf(buf, sizeof(buf), "%.*s", (int)(n && line[n - 1] == '\n' ? n - 1 : n), line);
	if (level & LLL_ERR)
		log_warn("libwebsockets", "line=\"%s\"", buf);
	else
		log_debug("libwebsockets", "line=\"%s\"", buf);
}

/*
 * The last worker retired after a minute without work. A burst leaves curl
 * handles with open connections in the pool and freed memory in the malloc
 * arenas (the retired threads' caches went back to them): close the idle
 * handles and hand the free heap pages back to the kernel. Calls still
 * running (the connector, a "busy" note) keep their handles. Cheap, and at
 * most once per idle period.
 */
static void workers_idle(void *arg)
{
	struct serve *s = arg;

	slack_api_thread_cleanup();
	malloc_trim(0);
	log_debug("workers idle; curl pool and heap trimmed", "queued=%zu", queue_length(s->q));
}

/*
 * Descriptors: the soft limit goes up to the hard one (systemd and
 * containers often start at 1024), so that outside calls and the HTTP
 * endpoint never starve the Slack link; lws itself is held to FD_LIMIT_LWS.
 */
#define FD_LIMIT_LWS 4096

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("descriptor limit raised", "from=%llu to=%llu", (unsigned long long)was,
				 (unsigned long long)rl.rlim_max);
	}
}

/*
 * A wrong bot token would only show when the first answer fails: check it
 * once at start. Slack being unreachable is not fatal (we retry later).
 */
static int check_bot_token(struct viva_env *env)
{
	json_t *args = json_object(), *resp = NULL;
	int rc = slack_call(env->slack, "auth.test", args, &resp);

	if (rc == VIVA_EREMOTE && slack_error_is_fatal(slack_error(resp))) {
		fprintf(stderr, "viva: Slack refused SLACK_BOT_TOKEN (auth.test: %s): check the bot token "
			"(xoxb-...) of the installed app\n", slack_error(resp));
	} else {
		if (rc != VIVA_OK)
			log_warn("auth.test failed; going on", "err=%s", resp ? slack_error(resp) : viva_strerror(rc));
		else
			log_info("bot token ok", "team=%s user_id=%s",
				 json_string_value(json_object_get(resp, "team")) ?
				 json_string_value(json_object_get(resp, "team")) : "",
				 json_string_value(json_object_get(resp, "user_id")) ?
				 json_string_value(json_object_get(resp, "user_id")) : "");
		rc = VIVA_OK;
	}
	json_decref(args);
	json_decref(resp);
	return rc;
}

int serve_run(struct viva_env *env)
{
	struct lws_context_creation_info info;
	struct serve *s = NULL;
	struct sched_thread *sched = NULL;
	const struct viva_config *cfg = env->cfg;
	struct sigaction sa;
	int rc = 1;

	if (!cfg->slack_app_token || !*cfg->slack_app_token) {
		fprintf(stderr, "viva: SLACK_APP_TOKEN is not set (xapp-..., see README: Install the Slack app)\n");
		return 1;
	}
	if (!cfg->slack_bot_token || !*cfg->slack_bot_token) {
		fprintf(stderr, "viva: SLACK_BOT_TOKEN is not set (xoxb-..., see README: Install the Slack app)\n");
		return 1;
	}
	/* Workers are many but short-lived in what they allocate: a few shared
	 * malloc arenas keep the peak resident size down (glibc makes up to
	 * 8 per core otherwise). */
	mallopt(M_ARENA_MAX, 2);
	thread_sched_init();   /* the nice viva was started with is the base */
	srand((unsigned)(sm_now_us() ^ getpid()));
	s = xcalloc(1, sizeof(*s));
	s->env = env;
	{
		pthread_mutexattr_t ma;

		/* the SCHED_FIFO loop and SCHED_BATCH workers share it: a worker
		 * holding it runs at the loop's priority until it lets go */
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&s->mu, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	env->slack = slack_api_new(cfg->slack_api_base, cfg->slack_bot_token, cfg->slack_app_token);
	if (!env->slack) {
		fprintf(stderr, "viva: cannot set up the Slack Web API client (SLACK_API_BASE)\n");
		goto out;
	}
	if (check_bot_token(env) != VIVA_OK)
		goto out;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	raise_fd_limit();
	memset(&info, 0, sizeof(info));
	/* lws sizes its tables by this; the process limit may be huge */
	info.fd_limit_per_thread = FD_LIMIT_LWS;
	/* DO_SSL_GLOBAL_INIT here only initialises OpenSSL and lws's ex_data
	 * indexes, which a TLS vhost added later relies on; it loads no
	 * certificate. */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = s;
	s->lws = lws_create_context(&info);
	if (!s->lws) {
		fprintf(stderr, "viva: cannot create the event loop (libwebsockets)\n");
		goto out;
	}
	{
		static const struct sm_hooks hooks = { .frame = on_message, .wake = on_wake, .health = on_health };
		if (sm_new(s->lws, env->slack, &hooks, s, &s->sm) != VIVA_OK)
			goto out;
	}
	if (cfg->http_listen) {
		char err[256];
		if (http_server_start(s->lws, env, cfg->http_listen, cfg->http_max_connections, &s->http, err,
				      sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: VIVA_HTTP_LISTEN=%s: %s\n", cfg->http_listen, err);
			goto out;
		}
	}
	s->q = queue_new((size_t)cfg->queue_size);
	/* large: calloc maps it, pages are touched as slots are first used */
	job_pool = xcalloc(JOB_SLOTS, JOB_SLOT_SIZE);
	for (int i = 0; i < JOB_SLOTS; i++)
		SLOT_POISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
	queue_on_idle(s->q, workers_idle, s);
	if (queue_start_workers(s->q, cfg->workers) != VIVA_OK)
		goto out;
	s->urgent = queue_new(URGENT_QUEUE);
	queue_start_workers(s->urgent, URGENT_WORKERS);
	env->timers = timers_new(s->q);
	if (!env->timers) {
		fprintf(stderr, "viva: cannot start the timer thread\n");
		goto out;
	}
	/* the durable inbox: its own connection for the loop, then what a
	 * previous process acked and did not finish */
	if (strcmp(cfg->db_path, ":memory:") == 0) {
		log_warn("VIVA_DB is :memory:: acked requests do not survive a restart", "db=:memory:");
	} else if (inbox_open(cfg->db_path, &s->inbox) != VIVA_OK) {
		fprintf(stderr, "viva: cannot open the inbox in VIVA_DB=%s (see the log line above)\n", cfg->db_path);
		goto out;
	}
	if (s->inbox)
		recover_inbox(s);
	/* durable operations: their own pool; what a gone process held goes on */
	if (ops_new(env, cfg->operation_workers, &env->ops) != VIVA_OK) {
		fprintf(stderr, "viva: cannot start the operation pool\n");
		goto out;
	}
	ops_resume(env->ops);
	debug_toy(s);
	if (sched_thread_start(env, s->q, &sched) != VIVA_OK)
		goto out;

	signal_ctx = s->lws;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The loop acks; it goes first when the machine is busy (root or
	 * CAP_SYS_NICE only; workers are lowered in bot/queue.c either way). */
	apply_loop_priority(cfg->loop_priority);
	log_info("viva starting", "workers=%d queue=%d http=%s", cfg->workers, cfg->queue_size,
		 cfg->http_listen ? cfg->http_listen : "off");
	sm_connect(s->sm);
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
	while (!s->done) {
		if (lws_service(s->lws, 0) < 0)
			break;
	}
	rc = s->exit_code;
out:
	/* Stop taking work, let what is queued and running finish (bounded). */
	if (s->lws)
		lws_sul_cancel(&s->sul_tick);
	sched_thread_stop(sched);
	/* answers still waiting to be tried again are given up (and counted):
	 * nothing may push onto the queue once it closes */
	timers_stop(env->timers);
	if (s->urgent)
		queue_close(s->urgent);
	if (s->q) {
		queue_close(s->q);
		if (queue_join(s->q, DRAIN_MS) != VIVA_OK ||
		    (s->urgent && queue_join(s->urgent, DRAIN_MS) != VIVA_OK)) {
			/* A job still runs and uses the store, the Web API client and
			 * this struct: freeing them under it would crash. Leave now. */
			log_error("jobs still running after the drain time; exiting without cleanup",
				  "drain_ms=%d", DRAIN_MS);
			_exit(1);
		}
		queue_free(s->q);
	}
	queue_free(s->urgent);
	ops_free(env->ops);   /* its jobs use the Web API client: before it goes */
	env->ops = NULL;
	timers_free(env->timers);
	env->timers = NULL;
	if (job_pool)
		for (int i = 0; i < JOB_SLOTS; i++)
			SLOT_UNPOISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
	free(job_pool);   /* every job has run or been dropped */
	job_pool = NULL;
	/* "viva is busy" notes in flight use the Web API client: let them end. */
	for (int i = 0; i < 500 && atomic_load(&s->busy_notifiers) > 0; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->busy_notifiers) > 0)
		_exit(1);
	sm_shutdown(s->sm);
	inbox_close(s->inbox);
	signal_ctx = NULL;
	if (s->lws)
		lws_context_destroy(s->lws);
	sm_free(s->sm);   /* after the vhost that borrowed its TLS context */
	http_server_free(s->http);   /* lws calls it back until its context is gone */
	for (size_t i = 0; i < s->nview_acks; i++) {
		json_decref(s->view_acks[i].payload);
		free(s->view_acks[i].envelope_id);
	}
	free(s->view_acks);
	slack_api_free(env->slack);
	env->slack = NULL;
	pthread_mutex_destroy(&s->mu);
	free(s);
	log_info("viva stopped", "exit=%d", rc);
	return rc;
}
