#ifndef VIVA_BOT_OPS_H
#define VIVA_BOT_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/ctx.h"

/*
 * Durable operations: anything that takes longer than a reply, or must not
 * be left half done by a crash (a promote, a deploy, a deletion, a drain, a
 * rolling upgrade) is a row in the store (store/operations.h) run as a list
 * of steps:
 *
 *   - each step is a function that can run again: the step's completion
 *     (and the operation's data, a JSON object the steps share) is recorded
 *     before the next step begins;
 *   - one running operation per target: that is the lock, and a second
 *     request is told who holds it and since when;
 *   - the process running it (its holder, "host:pid") beats every 10 s; at
 *     start-up, operations whose holder is gone (no beat for 30 s, or a
 *     dead process on this host) are resumed from their last recorded step
 *     when that step is safe to run again, or abandoned cleanly, and their
 *     channel is told which;
 *   - long ones run on a pool of their own (operation_workers), so a rollout
 *     that waits minutes never holds a worker that answers commands.
 *
 * A step returns VIVA_OK, or a failure: op_fail() has said why in a
 * sentence, which becomes the operation's outcome.
 */
struct op;

struct op_step {
	const char *name;              /* "put target", for logs and messages */
	int (*run)(struct op *op);
	bool resume_safe;              /* may run again after a crash cut it short */
	bool unlocked;                 /* the target's lock is given back before this step runs: the
					* steps from here on (a wait before a cleanup) let the next
					* operation on the target begin, and must allow for it */
};

struct op_kind {
	const char *name;              /* "promote" */
	const struct op_step *steps;
	size_t nsteps;
	/* The last word in the operation's message (NULL: "done: OUTCOME" or
	 * "failed: WHY" as plain text); rc is the outcome. */
	void (*report)(struct op *op, int rc);
};

/* The operation kinds (bot/commands.c, beside the command table). */
extern const struct op_kind *const op_kinds[];
const struct op_kind *op_kind_lookup(const char *name);

/* What a step sees. */
struct viva_env *op_env(struct op *op);
int64_t op_id(const struct op *op);
const char *op_target(const struct op *op);
const char *op_started_by(const struct op *op);
json_t *op_data(struct op *op);               /* mutable; saved when the step completes */
/*
 * Save op_data now, the step staying the one to run: a long step that
 * walks through phases (a rolling upgrade, node after node) records each
 * one, so that after a restart the step, run again from its start, goes on
 * from the last phase saved instead of redoing it. VIVA_OK; VIVA_ECONFLICT
 * (op_fail has said why) when another viva took the operation over, then
 * the step must stop and return it; another error when the store fails.
 */
int op_save(struct op *op);
bool op_resumed(const struct op *op);         /* running again after a restart */
/* Why the step failed, in one sentence (the outcome); returns rc. */
int op_fail(struct op *op, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The outcome of a successful operation ("promoted, digest ...": one line). */
void op_set_outcome(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Say how far it is, in its Slack message (updated in place) and the log. */
void op_progress(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Wait ms in a step that waits (a rollout, a rollback window). false when
 * viva is stopping: the step then returns OP_PAUSED, and runs again from
 * its start after the restart (so it must be safe to run again).
 */
bool op_sleep(struct op *op, long ms);
#define OP_PAUSED 2
/* Its message as text and Block Kit blocks (borrowed; NULL: text only, which removes any button). */
void op_report(struct op *op, const char *text, json_t *blocks);
/* Settle the audit row now, before the end (a blue-green once traffic
 * moved: its wait for the rollback window is no longer the action). */
void op_audit(struct op *op, const char *result);
/* Why it failed (the failing step's sentence), or its outcome; NULL when neither is set. */
const char *op_why(const struct op *op);
const char *op_outcome(const struct op *op);

/* The runner of a serving process: a pool and a heartbeat. */
struct ops;
#define OPS_WORKERS_DEFAULT 8
#define OPS_STALE_S 30
int ops_new(struct viva_env *env, int workers, struct ops **out);
/* Stop beating, finish what runs (bounded by the pool's drain). */
void ops_free(struct ops *ops);
/* At start-up: resume or abandon what a gone process held. */
int ops_resume(struct ops *ops);
/* This process as a holder: "host:pid". */
const char *ops_holder(void);

struct op_request {
	const struct op_kind *kind;
	const char *target;            /* what it locks: a service, a node */
	json_t *data;                  /* borrowed: the starting data */
	const char *user;              /* who started it */
	const char *channel;           /* where it reports; may be NULL */
	const char *message_ts;        /* the message to update in place; may be NULL */
	int64_t audit_id;              /* the audit row it answers for; 0 if none */
	const char *click_key;         /* the one-time button it answers for (ctx->action_key); the
					* operation's end settles the claim, and a second click
					* is told the operation's state */
};

/*
 * Run an operation to its end on this thread (a short one: a promote).
 * Steps that give the lock back (op_step.unlocked) are not run here: the
 * operation is handed to the pool (env->ops) at the first of them, or,
 * without a pool (console, exec), left running for a serving viva to
 * resume when it starts.
 * VIVA_EBUSY with why ("service-a is held by promote #12, started by
 * <@U1> ...") when the target is locked; otherwise the outcome: VIVA_OK or
 * the failing step's code, with why its sentence. *result (may be NULL;
 * caller decrefs) gets the final data, *id (may be NULL) the operation.
 */
int ops_run(struct viva_env *env, const struct op_request *rq, json_t **result, int64_t *id, char *why,
	    size_t whylen);
/*
 * Start an operation on the pool and return (env->ops; without a runner, as
 * in the console, it runs here like ops_run). VIVA_OK once it is recorded.
 */
int ops_submit(struct viva_env *env, const struct op_request *rq, int64_t *id, char *why, size_t whylen);

#endif
