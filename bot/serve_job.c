/*
 * `viva serve`'s jobs at work: an envelope run on a worker (serve_env_job_run:
 * the inbox's "started" and "finished" marks, the frame parsed, the
 * handler run), the "busy" notes a thread of their own sends when the loop
 * refuses a request, and the view_submission answers that go in the ack:
 * a worker puts its answer in the outbox, the loop sends it
 * (serve_drain_outbox) or, at the deadline, an empty ack.
 */
#include "bot/serve_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/runtime.h"
#include "store/inbox.h"
#include "bot/slack/socket.h"
#include "bot/lib/alloc.h"
#include "bot/lib/thread.h"
#include "bot/lib/times.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define BUSY_NOTIFIERS   4          /* threads telling users "busy", at most */

static long debug_delay_ms(void)
{
	/* Simulates slow jobs for tests and the benchmark; off by default. */
	const char *v = getenv("VIVA_DEBUG_JOB_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	return ms > 0 && ms < 60000 ? ms : 0;
}

void serve_env_job_run(void *arg)
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
				serve_env_job_drop(j);
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
			serve_env_job_drop(j);
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
	serve_env_job_drop(j);
}

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
void serve_tell_busy(struct serve *s, json_t *payload, const char *text)
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

/* ---- view_submission answers: the outbox ------------------------------------ */

/* view_submission answers that are ready, or out of time, go in their acks. */
void serve_drain_outbox(struct serve *s)
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
