/*
 * `viva serve`'s start-up replay (serve_recover_inbox), run by serve_run
 * before the loop starts and Slack is connected; the jobs it queues run on
 * the workers.
 *
 * The durable inbox at start-up, before Slack is connected. Envelopes a
 * viva acked and then died before running run now, once, if their
 * response_url still lives (30 minutes); older ones are closed unrun. One a
 * crash cut short is not run again (its handler may have acted half-way):
 * its user is told, and audit rows left "running" say they were
 * interrupted.
 *
 * Then the answers a previous process had deferred (Slack said 429 or was
 * down) and kept in the store go out (serve_recover_answers).
 */
#include "bot/serve_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/config.h"
#include "bot/queue.h"
#include "bot/runtime.h"
#include "store/audit.h"
#include "store/inbox.h"
#include "bot/lib/alloc.h"

#include <stdlib.h>
#include <string.h>

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

void serve_recover_inbox(struct serve *s)
{
	struct store_inbox_entry *v = NULL;
	int64_t now = serve_loop_now(s);
	size_t n = 0, replayed = 0, told = 0;
	int expired = 0, cut = 0;

	store_inbox_expire(s->env->store, now - INBOX_REPLAY_S, &expired);
	store_audit_interrupted(s->env->store, "interrupted: viva stopped before this finished", &cut);
	if (store_inbox_unfinished(s->env->store, now - INBOX_REPLAY_S, s->env->cfg->queue_size, &v, &n) != VIVA_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i].state == 0 && strlen(v[i].envelope_id) < sizeof(((struct env_job *)0)->envelope_id) &&
		    strlen(v[i].type) < sizeof(((struct env_job *)0)->type)) {
			struct env_job *j = serve_job_alloc(s, v[i].len, false);

			snprintf(j->envelope_id, sizeof(j->envelope_id), "%s", v[i].envelope_id);
			snprintf(j->type, sizeof(j->type), "%s", v[i].type);
			memcpy(j->text, v[i].frame, v[i].len);
			j->text[v[i].len] = '\0';
			j->job.run = serve_env_job_run;
			j->job.drop = serve_env_job_drop;
			j->job.arg = j;
			if (queue_push(s->q, &j->job) == VIVA_OK)
				replayed++;
			else
				serve_env_job_drop(j);   /* still queued in the inbox: the next start */
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

void serve_recover_answers(struct serve *s)
{
	size_t resumed = 0, dropped = 0;

	if (runtime_resume_deferred(s->env, &resumed, &dropped) == VIVA_OK && (resumed || dropped))
		log_info("deferred answers resumed", "resumed=%zu given_up=%zu", resumed, dropped);
}
