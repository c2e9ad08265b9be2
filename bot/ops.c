/* Durable operations (see ops.h). */
#include "bot/ops.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"
#include "bot/queue.h"
#include "bot/slack/api.h"
#include "bot/slack/mrkdwn.h"
#include "store/audit.h"
#include "store/operations.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_S 10

struct op {
	struct viva_env *env;
	const struct op_kind *kind;
	struct store_op row;
	json_t *data;
	bool resumed;
	char *why;           /* a failing step's sentence */
	char *outcome;       /* a successful operation's line */
	bool inline_run;     /* ops_run: stop before a step that gives the lock back */
	bool parked;         /* it stopped there: the rest is for the pool or a restart */
	bool pooled;         /* run by the pool: it writes its audit row's outcome */
	bool taken_over;     /* op_save found another process holding it */
};

struct ops {
	struct viva_env *env;
	struct queue *q;
	pthread_t beat;
	bool beat_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static int64_t now_of(struct viva_env *env)
{
	return env->clock->now(env->clock);
}

/* ---- what a step sees ------------------------------------------------------ */

struct viva_env *op_env(struct op *op) { return op->env; }
int64_t op_id(const struct op *op) { return op->row.id; }
const char *op_target(const struct op *op) { return op->row.target; }
const char *op_started_by(const struct op *op) { return op->row.started_by; }
json_t *op_data(struct op *op) { return op->data; }
bool op_resumed(const struct op *op) { return op->resumed; }

int op_save(struct op *op)
{
	char *text = json_dumps(op->data, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = store_op_advance(op->env->store, op->row.id, ops_holder(), op->row.step, text, now_of(op->env));

	free(text);
	if (rc == VIVA_ECONFLICT) {
		op->taken_over = true;
		return op_fail(op, VIVA_ECONFLICT, "another viva took this operation over");
	}
	if (rc != VIVA_OK)
		return op_fail(op, rc, "its progress could not be recorded (database error)");
	return VIVA_OK;
}

static char *vfmt(const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *s;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	s = xmalloc(n > 0 ? (size_t)n + 1 : 1);
	vsnprintf(s, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	return s;
}

int op_fail(struct op *op, int rc, const char *fmt, ...)
{
	va_list ap;

	free(op->why);
	va_start(ap, fmt);
	op->why = vfmt(fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : VIVA_EREMOTE;
}

void op_set_outcome(struct op *op, const char *fmt, ...)
{
	va_list ap;

	free(op->outcome);
	va_start(ap, fmt);
	op->outcome = vfmt(fmt, ap);
	va_end(ap);
}


bool op_sleep(struct op *op, long ms)
{
	struct ops *ops = op->env->ops;
	struct timespec until;
	bool stop;

	if (ms <= 0)
		return true;
	if (!ops) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		return true;
	}
	until = timespec_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&ops->mu);
	while (!ops->stop && pthread_cond_timedwait(&ops->cv, &ops->mu, &until) != ETIMEDOUT)
		;
	stop = ops->stop;
	pthread_mutex_unlock(&ops->mu);
	return !stop;
}

const char *op_why(const struct op *op) { return op->why; }
const char *op_outcome(const struct op *op) { return op->outcome; }

/* The operation's message: posted once to its channel, then updated in place. */
void op_report(struct op *op, const char *text, json_t *blocks)
{
	json_t *args, *resp = NULL;
	int rc;

	if (!op->env->slack || !op->row.channel)
		return;
	args = json_pack("{s:s, s:s}", "channel", op->row.channel, "text", text);
	if (blocks)
		json_object_set(args, "blocks", blocks);
	if (op->row.message_ts) {
		json_object_set_new(args, "ts", json_string(op->row.message_ts));
		rc = slack_call(op->env->slack, "chat.update", args, &resp);
	} else {
		rc = slack_call(op->env->slack, "chat.postMessage", args, &resp);
		if (rc == VIVA_OK && json_string_value(json_object_get(resp, "ts"))) {
			op->row.message_ts = xstrdup(json_string_value(json_object_get(resp, "ts")));
			store_op_set_message(op->env->store, op->row.id, op->row.channel, op->row.message_ts);
		}
	}
	if (rc != VIVA_OK)
		log_warn("operation message not delivered", "op=%lld err=\"%s\"", (long long)op->row.id,
			 viva_strerror(rc));
	json_decref(args);
	json_decref(resp);
}

void op_progress(struct op *op, const char *fmt, ...)
{
	va_list ap;
	char *text, *line;

	va_start(ap, fmt);
	text = vfmt(fmt, ap);
	va_end(ap);
	log_info("operation progress", "op=%lld kind=%s target=%s text=\"%s\"", (long long)op->row.id,
		 op->kind->name, op->row.target, text);
	line = xasprintf("%s #%lld on %s: %s", op->kind->name, (long long)op->row.id, op->row.target, text);
	op_report(op, line, NULL);
	free(line);
	free(text);
}

const struct op_kind *op_kind_lookup(const char *name)
{
	for (size_t i = 0; name && op_kinds[i]; i++)
		if (strcmp(op_kinds[i]->name, name) == 0)
			return op_kinds[i];
	return NULL;
}

static char holder_buf[320];
static pthread_once_t holder_once = PTHREAD_ONCE_INIT;

static void holder_init(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(holder_buf, sizeof(holder_buf), "%s:%ld", host, (long)getpid());
}

const char *ops_holder(void)
{
	pthread_once(&holder_once, holder_init);
	return holder_buf;
}

/* ---- running steps --------------------------------------------------------------- */

static void op_release(struct op *op)
{
	store_op_release(&op->row);
	json_decref(op->data);
	free(op->why);
	free(op->outcome);
}

/* The audit row this operation answers for gets result now (when the
 * operation, not the dispatcher, owns it), with the data's "audit" object
 * as its parameters. */
static void audit_write(struct op *op, const char *result)
{
	json_t *extra = json_object_get(op->data, "audit");
	char *params;

	if (!(op->resumed || op->pooled) || !op->row.audit_id)
		return;
	params = json_is_object(extra) ? json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (store_audit_finish(op->env->store, op->row.audit_id, NULL, params, result) != VIVA_OK)
		log_warn("operation's audit row not updated", "op=%lld", (long long)op->row.id);
	free(params);
}

void op_audit(struct op *op, const char *result)
{
	audit_write(op, result);
}

/* The end of an operation, recorded (and its audit row, when a restart
 * finished what a dispatcher began). */
static void finish(struct op *op, enum store_op_state state, const char *outcome)
{
	/* the audit row first: whoever sees the operation ended finds it written */
	char *r = state == OP_DONE ? xasprintf(op->resumed ? "ok (finished after a restart)" : "ok")
				   : xasprintf("%s: %s", store_op_state_name(state), outcome);

	audit_write(op, r);
	free(r);
	if (store_op_finish(op->env->store, op->row.id, state, outcome, now_of(op->env)) != VIVA_OK)
		log_error("operation end not recorded", "op=%lld outcome=\"%s\"", (long long)op->row.id, outcome);

	log_info("operation finished", "op=%lld kind=%s target=%s state=%s outcome=\"%s\"", (long long)op->row.id,
		 op->kind->name, op->row.target, store_op_state_name(state), outcome);
}

/* Steps from the recorded one to the end; the outcome code. */
static int run_steps(struct op *op)
{
	const char *holder = ops_holder();
	int rc = VIVA_OK;

	for (size_t i = (size_t)op->row.step; i < op->kind->nsteps; i++) {
		char *text;

		if (op->kind->steps[i].unlocked && op->row.locked && op->inline_run) {
			/* what is left waits: give the lock back, leave it to the pool */
			if (store_op_unlock(op->env->store, op->row.id, holder) == VIVA_OK)
				op->row.locked = false;
			op->parked = true;
			return VIVA_OK;
		}
		if (op->kind->steps[i].unlocked && op->row.locked) {
			if (store_op_unlock(op->env->store, op->row.id, holder) != VIVA_OK)
				log_warn("operation lock not given back", "op=%lld", (long long)op->row.id);
			else
				op->row.locked = false;
		}

		log_debug("operation step", "op=%lld kind=%s step=%s", (long long)op->row.id, op->kind->name,
			  op->kind->steps[i].name);
		rc = op->kind->steps[i].run(op);
		if (rc == OP_PAUSED) {
			/* viva is stopping: the step runs again after the restart */
			log_info("operation paused for a restart", "op=%lld step=%s", (long long)op->row.id,
				 op->kind->steps[i].name);
			op->parked = true;
			return VIVA_OK;
		}
		if (rc != VIVA_OK && op->taken_over) {
			/* its new holder goes on with it: nothing to record here */
			log_warn("operation taken over; stopping here", "op=%lld step=%s", (long long)op->row.id,
				 op->kind->steps[i].name);
			return VIVA_ECONFLICT;
		}
		if (rc != VIVA_OK) {
			char *outcome = xasprintf("%s failed: %s", op->kind->steps[i].name,
						  op->why ? op->why : viva_strerror(rc));
			finish(op, OP_FAILED, outcome);
			free(outcome);
			return rc;
		}
		text = json_dumps(op->data, JSON_COMPACT | JSON_SORT_KEYS);
		rc = store_op_advance(op->env->store, op->row.id, holder, (int)i + 1, text, now_of(op->env));
		free(text);
		if (rc == VIVA_ECONFLICT) {
			/* another process took it over (we were thought gone): its now */
			log_warn("operation taken over; stopping here", "op=%lld step=%s", (long long)op->row.id,
				 op->kind->steps[i].name);
			return op_fail(op, VIVA_ECONFLICT, "another viva took this operation over");
		}
		if (rc != VIVA_OK) {
			finish(op, OP_FAILED, "its progress could not be recorded (database error)");
			return op_fail(op, VIVA_EIO, "its progress could not be recorded (database error)");
		}
		op->row.step = (int)i + 1;
	}
	finish(op, OP_DONE, op->outcome ? op->outcome : "ok");
	return VIVA_OK;
}

static int push(struct ops *ops, int64_t id, bool resumed);

/* The lock is taken: say by whom, since when. */
static void busy_why(struct viva_env *env, const struct store_op *h, char *why, size_t whylen)
{
	const struct op_kind *k = op_kind_lookup(h->kind);
	char *who = mrkdwn_user(h->started_by);
	int64_t ago = now_of(env) - h->started;

	snprintf(why, whylen, "%s is busy: %s #%lld, started by %s %lld s ago, is running (step %d of %zu)",
		 h->target, h->kind, (long long)h->id, who, (long long)(ago > 0 ? ago : 0), h->step + 1,
		 k ? k->nsteps : (size_t)0);
	free(who);
}

static int begin(struct viva_env *env, const struct op_request *rq, struct op *op, char *why, size_t whylen)
{
	struct store_op holder;
	char *data = rq->data ? json_dumps(rq->data, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("{}");
	struct store_op_new n = {
		.kind = rq->kind->name, .target = rq->target, .data = data, .started_by = rq->user ? rq->user : "",
		.channel = rq->channel, .message_ts = rq->message_ts, .holder = ops_holder(),
		.audit_id = rq->audit_id, .now = now_of(env), .click_key = rq->click_key,
	};
	int64_t id = 0;
	int rc;

	memset(op, 0, sizeof(*op));
	rc = store_op_begin(env->store, &n, &id, &holder);
	free(data);
	if (rc == VIVA_EBUSY) {
		busy_why(env, &holder, why, whylen);
		store_op_release(&holder);
		return rc;
	}
	if (rc != VIVA_OK) {
		snprintf(why, whylen, "the operation could not be recorded (%s), so nothing was done",
			 viva_strerror(rc));
		return rc;
	}
	op->env = env;
	op->kind = rq->kind;
	rc = store_op_get(env->store, id, &op->row);
	if (rc != VIVA_OK) {
		snprintf(why, whylen, "the operation could not be read back (%s)", viva_strerror(rc));
		return rc;
	}
	op->data = json_loads(op->row.data, 0, NULL);
	if (!json_is_object(op->data)) {
		json_decref(op->data);
		op->data = json_object();
	}
	log_info("operation started", "op=%lld kind=%s target=%s user=%s", (long long)id, rq->kind->name,
		 rq->target, rq->user ? rq->user : "");
	return VIVA_OK;
}

int ops_run(struct viva_env *env, const struct op_request *rq, json_t **result, int64_t *id, char *why,
	    size_t whylen)
{
	struct op op;
	int rc;

	if (result)
		*result = NULL;
	if (id)
		*id = 0;
	why[0] = '\0';
	rc = begin(env, rq, &op, why, whylen);
	if (rc != VIVA_OK)
		return rc;
	if (id)
		*id = op.row.id;
	op.inline_run = true;
	rc = run_steps(&op);
	if (op.parked) {
		/* the steps that hold no lock (a wait before a cleanup) run on the
		 * pool; without one (the console, exec) a serving viva resumes them
		 * when it starts */
		if (!env->ops || push(env->ops, op.row.id, false) != VIVA_OK)
			log_info("operation left for a serving viva to finish", "op=%lld step=%s",
				 (long long)op.row.id, op.kind->steps[op.row.step].name);
	}
	if (rc != VIVA_OK)
		snprintf(why, whylen, "%s", op.why ? op.why : viva_strerror(rc));
	else if (op.outcome)
		snprintf(why, whylen, "%s", op.outcome);
	if (result)
		*result = json_incref(op.data);
	op_release(&op);
	return rc;
}

/* ---- the pool -------------------------------------------------------------------- */

struct op_job {
	struct job job;
	struct ops *ops;
	int64_t id;
	bool resumed;
};

static void op_job_drop(void *arg)
{
	free(arg);
}

static void op_job_run(void *arg)
{
	struct op_job *j = arg;
	struct op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.env = j->ops->env;
	op.resumed = j->resumed;
	op.pooled = true;
	if (store_op_get(op.env->store, j->id, &op.row) != VIVA_OK || !(op.kind = op_kind_lookup(op.row.kind))) {
		log_error("operation to run not found", "op=%lld", (long long)j->id);
		goto out;
	}
	op.data = json_loads(op.row.data, 0, NULL);
	if (!json_is_object(op.data)) {
		json_decref(op.data);
		op.data = json_object();
	}
	if (j->resumed)
		op_progress(&op, "viva restarted; going on from step %d of %zu (%s)", op.row.step + 1,
			    op.kind->nsteps, op.kind->steps[op.row.step].name);
	rc = run_steps(&op);
	if (op.parked)
		goto out;
	if (rc != VIVA_ECONFLICT && op.kind->report)
		op.kind->report(&op, rc);
	else if (rc == VIVA_OK)
		op_progress(&op, "done: %s", op.outcome ? op.outcome : "ok");
	else if (rc != VIVA_ECONFLICT)
		op_progress(&op, "failed: %s", op.why ? op.why : viva_strerror(rc));
out:
	op_release(&op);
	free(j);
}

static int push(struct ops *ops, int64_t id, bool resumed)
{
	struct op_job *j = xcalloc(1, sizeof(*j));

	j->ops = ops;
	j->id = id;
	j->resumed = resumed;
	j->job.run = op_job_run;
	j->job.drop = op_job_drop;
	j->job.arg = j;
	if (queue_push(ops->q, &j->job) != VIVA_OK) {
		free(j);
		return VIVA_EBUSY;
	}
	return VIVA_OK;
}

int ops_submit(struct viva_env *env, const struct op_request *rq, int64_t *id, char *why, size_t whylen)
{
	struct op op;
	int rc;

	if (!env->ops)
		return ops_run(env, rq, NULL, id, why, whylen);
	if (id)
		*id = 0;
	why[0] = '\0';
	rc = begin(env, rq, &op, why, whylen);
	if (rc != VIVA_OK)
		return rc;
	if (id)
		*id = op.row.id;
	rc = push(env->ops, op.row.id, false);
	if (rc != VIVA_OK) {
		finish(&op, OP_FAILED, "viva's operation pool is full; nothing was done");
		snprintf(why, whylen, "viva's operation pool is full; nothing was done");
	}
	op_release(&op);
	return rc;
}

static void *beat_main(void *arg)
{
	struct ops *ops = arg;

	pthread_mutex_lock(&ops->mu);
	while (!ops->stop) {
		struct timespec until = timespec_in(CLOCK_REALTIME, HEARTBEAT_S * 1000L);

		pthread_mutex_unlock(&ops->mu);
		if (store_op_heartbeat(ops->env->store, ops_holder(), now_of(ops->env)) != VIVA_OK)
			log_warn("operation heartbeat not recorded", "holder=%s", ops_holder());
		pthread_mutex_lock(&ops->mu);
		while (!ops->stop && pthread_cond_timedwait(&ops->cv, &ops->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ops->mu);
	return NULL;
}

int ops_new(struct viva_env *env, int workers, struct ops **out)
{
	struct ops *ops = xcalloc(1, sizeof(*ops));

	*out = NULL;
	ops->env = env;
	ops->q = queue_new(1024);
	pthread_mutex_init(&ops->mu, NULL);
	pthread_cond_init(&ops->cv, NULL);
	if (queue_start_workers(ops->q, workers > 0 ? workers : OPS_WORKERS_DEFAULT) != VIVA_OK ||
	    pthread_create(&ops->beat, NULL, beat_main, ops) != 0) {
		ops_free(ops);
		return VIVA_EIO;
	}
	ops->beat_started = true;
	*out = ops;
	return VIVA_OK;
}

void ops_free(struct ops *ops)
{
	if (!ops)
		return;
	if (ops->beat_started) {
		pthread_mutex_lock(&ops->mu);
		ops->stop = true;
		pthread_cond_broadcast(&ops->cv);
		pthread_mutex_unlock(&ops->mu);
		pthread_join(ops->beat, NULL);
	}
	/* what runs now finishes; what is queued stays recorded for a restart */
	queue_close(ops->q);
	if (queue_join(ops->q, 25000) != VIVA_OK) {
		log_error("operations still running at exit; a restart resumes them", "holder=%s", ops_holder());
		_exit(1);
	}
	queue_free(ops->q);
	pthread_mutex_destroy(&ops->mu);
	pthread_cond_destroy(&ops->cv);
	free(ops);
}

/* Is the process that holds it gone? Silent for OPS_STALE_S, or a dead
 * process of this host. */
static bool holder_gone(const struct store_op *op, int64_t now)
{
	const char *me = ops_holder(), *colon;
	long pid;

	if (op->holder && strcmp(op->holder, me) == 0)
		return false;   /* this very process: alive */
	if (!op->holder || op->heartbeat < now - OPS_STALE_S)
		return true;
	colon = strrchr(op->holder, ':');
	if (!colon || (size_t)(colon - op->holder) != (size_t)(strrchr(me, ':') - me) ||
	    strncmp(op->holder, me, (size_t)(colon - op->holder)) != 0)
		return false;   /* another host: only its silence tells */
	pid = strtol(colon + 1, NULL, 10);
	return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int ops_resume(struct ops *ops)
{
	struct store_op *v = NULL;
	int64_t now = now_of(ops->env);
	size_t n = 0;
	int rc;

	/* every running one (a heartbeat cannot be in the future) */
	rc = store_op_stale(ops->env->store, now + 1, 1000, &v, &n);
	if (rc != VIVA_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct op op;
		const struct op_step *step;

		if (!holder_gone(&v[i], now))
			continue;
		if (store_op_take(ops->env->store, v[i].id, v[i].holder, v[i].heartbeat, ops_holder(), now) != VIVA_OK)
			continue;   /* another process was quicker */
		memset(&op, 0, sizeof(op));
		op.env = ops->env;
		op.resumed = true;
		op.row = v[i];
		memset(&v[i], 0, sizeof(v[i]));
		op.kind = op_kind_lookup(op.row.kind);
		op.data = json_object();
		step = op.kind && (size_t)op.row.step < op.kind->nsteps ? &op.kind->steps[op.row.step] : NULL;
		if (!op.kind) {
			finish(&op, OP_ABANDONED, "abandoned after a restart: this viva does not know its kind");
		} else if (!step) {
			finish(&op, OP_DONE, "ok (its last step was done before a restart)");
		} else if (step->resume_safe) {
			log_info("operation resumed", "op=%lld kind=%s target=%s step=%s", (long long)op.row.id,
				 op.kind->name, op.row.target, step->name);
			if (push(ops, op.row.id, true) != VIVA_OK)
				log_error("operation not resumed: the pool is full", "op=%lld", (long long)op.row.id);
		} else {
			char *why = xasprintf("abandoned after a restart during \"%s\", which is not safe to run twice; "
					      "check %s by hand", step->name, op.row.target);
			finish(&op, OP_ABANDONED, why);
			op_progress(&op, "%s", why);
			free(why);
		}
		op_release(&op);
	}
	store_ops_free(v, n);
	return VIVA_OK;
}
