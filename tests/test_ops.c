/*
 * Durable operations (bot/ops.c, store/operations.c): steps recorded as they
 * complete, one running operation per target, and a restart that resumes
 * what a gone process held from its last recorded step (or abandons it when
 * that step is not safe to run twice). The toy kinds leave one journal line
 * per step done, so "exactly once" can be read off a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "bot/ops.h"
#include "handlers/ops.h"
#include "store/operations.h"
#include "tests/helpers.h"

struct fx {
	struct test_env t;
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ops_free(f->t.env.ops);
	test_env_release(&f->t);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *journal(struct fx *f)
{
	char *p = xasprintf("%s/journal", f->dir), *s = NULL;

	if (read_file(p, &s, NULL) != VIVA_OK)
		s = xstrdup("");
	free(p);
	return s;
}

static json_t *toy_data(struct fx *f)
{
	return json_pack("{s:s, s:i}", "dir", f->dir, "sleep_ms", 0);
}

/* A pid that is certainly not running: a child that has exited. */
static long dead_pid(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return (long)p;
}

/* A row as a process that died at `step` would have left it. */
static int64_t left_by_dead_process(struct fx *f, const char *kind, const char *target, int step,
				    const char *holder)
{
	char *data = xasprintf("{\"dir\":\"%s\",\"sleep_ms\":0}", f->dir);
	struct store_op_new n = { .kind = kind, .target = target, .data = data, .started_by = "U0ALICE",
				  .holder = holder, .now = f->t.now - 5 };
	int64_t id = 0;

	assert_int_equal(store_op_begin(f->t.env.store, &n, &id, NULL), VIVA_OK);
	if (step > 0)
		assert_int_equal(store_op_advance(f->t.env.store, id, holder, step, data, f->t.now - 5), VIVA_OK);
	free(data);
	return id;
}

static char *this_host_holder(long pid)
{
	const char *me = ops_holder();
	const char *colon = strrchr(me, ':');

	return xasprintf("%.*s:%ld", (int)(colon - me), me, pid);
}

static enum store_op_state wait_end(struct fx *f, int64_t id)
{
	struct store_op op;
	enum store_op_state st = OP_RUNNING;

	for (int i = 0; i < 500 && st == OP_RUNNING; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
		st = op.state;
		store_op_release(&op);
		if (st == OP_RUNNING)
			nanosleep(&ts, NULL);
	}
	return st;
}

static void run__steps_recorded_then_done(void **state)
{
	struct fx *f = *state;
	json_t *data = toy_data(f), *result = NULL;
	struct op_request rq = { .kind = &op_toy, .target = "svc-a", .data = data, .user = "U0ALICE" };
	struct store_op op;
	char why[512], *j;
	int64_t id = 0;

	assert_int_equal(ops_run(&f->t.env, &rq, &result, &id, why, sizeof(why)), VIVA_OK);
	j = journal(f);
	assert_string_equal(j, "one\ntwo\nthree\n");
	free(j);
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_int_equal(op.state, OP_DONE);
	assert_int_equal(op.step, 3);
	assert_string_equal(op.started_by, "U0ALICE");
	assert_string_equal(op.holder, ops_holder());
	store_op_release(&op);
	json_decref(result);
	json_decref(data);
}

/* The deploy lock: a second operation on a target is told who holds it. */
static void run__target_held__refused_naming_the_holder(void **state)
{
	struct fx *f = *state;
	json_t *data = toy_data(f);
	struct op_request rq = { .kind = &op_toy, .target = "svc-a", .data = data, .user = "U0BOB" };
	char why[512], *j;
	int64_t held = left_by_dead_process(f, "toy", "svc-a", 1, ops_holder());
	char *expect = xasprintf("svc-a is busy: toy #%lld, started by <@U0ALICE>", (long long)held);

	assert_int_equal(ops_run(&f->t.env, &rq, NULL, NULL, why, sizeof(why)), VIVA_EBUSY);
	assert_non_null(strstr(why, expect));
	assert_non_null(strstr(why, "(step 2 of 3)"));
	j = journal(f);
	assert_string_equal(j, "");    /* nothing ran */
	free(j);
	/* another target is free */
	rq.target = "svc-b";
	assert_int_equal(ops_run(&f->t.env, &rq, NULL, NULL, why, sizeof(why)), VIVA_OK);
	free(expect);
	json_decref(data);
}

/* A process died after step one: a restart goes on from step two, once each. */
static void resume__dead_holder__from_the_last_step_exactly_once(void **state)
{
	struct fx *f = *state;
	char *holder = this_host_holder(dead_pid()), *j, *mark = xasprintf("%s/one", f->dir);
	int64_t id;
	struct store_op op;

	/* step one was done and journaled before the crash */
	test_write_file(mark, "");
	free(mark);
	mark = xasprintf("%s/journal", f->dir);
	test_write_file(mark, "one\n");
	free(mark);
	id = left_by_dead_process(f, "toy", "svc-a", 1, holder);
	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(wait_end(f, id), OP_DONE);
	j = journal(f);
	assert_string_equal(j, "one\ntwo\nthree\n");
	free(j);
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_string_equal(op.holder, ops_holder());
	store_op_release(&op);
	/* a second resume finds nothing to do */
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	j = journal(f);
	assert_string_equal(j, "one\ntwo\nthree\n");
	free(j);
	free(holder);
}

static void resume__step_not_safe_twice__abandoned_cleanly(void **state)
{
	struct fx *f = *state;
	char *holder = this_host_holder(dead_pid()), *j;
	int64_t id = left_by_dead_process(f, "toy-unsafe", "svc-a", 1, holder);
	struct store_op op;

	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_int_equal(op.state, OP_ABANDONED);
	assert_non_null(strstr(op.outcome, "during \"two\", which is not safe to run twice"));
	store_op_release(&op);
	j = journal(f);
	assert_string_equal(j, "");
	free(j);
	free(holder);
}

/* A live holder is left alone; a silent one (another host, no beat for 30 s) is not. */
static void resume__live_holder_kept__silent_one_taken(void **state)
{
	struct fx *f = *state;
	int64_t mine = left_by_dead_process(f, "toy", "svc-a", 0, ops_holder());
	int64_t silent = left_by_dead_process(f, "toy", "svc-b", 0, "elsewhere:1");
	struct store_op op;

	/* elsewhere beat 5 s ago: alive */
	assert_int_equal(ops_new(&f->t.env, 2, &f->t.env.ops), VIVA_OK);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(store_op_get(f->t.env.store, silent, &op), VIVA_OK);
	assert_string_equal(op.holder, "elsewhere:1");
	store_op_release(&op);
	f->t.now += OPS_STALE_S;
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(wait_end(f, silent), OP_DONE);
	assert_int_equal(store_op_get(f->t.env.store, mine, &op), VIVA_OK);
	assert_int_equal(op.state, OP_RUNNING);    /* ours: still held by us */
	store_op_release(&op);
	/* taking over is a compare-and-swap: the second taker loses */
	assert_int_equal(store_op_take(f->t.env.store, mine, ops_holder(), f->t.now - 5 - OPS_STALE_S, "a:1",
				       f->t.now), VIVA_ECONFLICT);
}

/* /viva ops lists them. */
static void command__ops_lists_state_step_and_who(void **state)
{
	struct fx *f = *state;
	char *out;

	left_by_dead_process(f, "toy", "svc-a", 1, ops_holder());
	out = test_command(&f->t, "U0ANYONE", "ops svc-a");
	assert_non_null(strstr(out, "toy* on svc-a: *running* (step 2 of 3), started by <@U0ALICE>"));
	free(out);
	out = test_command(&f->t, "U0ANYONE", "ops svc-z");
	assert_non_null(strstr(out, "No operation recorded yet."));
	free(out);
}

/* ---- op_save: a step's data recorded mid-step ------------------------------------ */

/* Saves {"n": 1}, checks the row holds it with the step unchanged, then fails
 * (or, with "steal" in its data, finds the operation taken over). */
static int saving_step(struct op *op)
{
	struct store_op row;
	bool steal = json_is_true(json_object_get(op_data(op), "steal"));
	int rc;

	json_object_set_new(op_data(op), "n", json_integer(1));
	assert_int_equal(op_save(op), VIVA_OK);
	assert_int_equal(store_op_get(op_env(op)->store, op_id(op), &row), VIVA_OK);
	assert_int_equal(row.step, 0);
	assert_non_null(strstr(row.data, "\"n\":1"));
	if (steal) {
		assert_int_equal(store_op_take(op_env(op)->store, op_id(op), row.holder, row.heartbeat, "other:1",
					       row.heartbeat), VIVA_OK);
		store_op_release(&row);
		json_object_set_new(op_data(op), "n", json_integer(2));
		rc = op_save(op);
		assert_int_equal(rc, VIVA_ECONFLICT);
		return rc;
	}
	store_op_release(&row);
	json_object_set_new(op_data(op), "n", json_integer(2));
	return op_fail(op, VIVA_EREMOTE, "it failed after saving");
}

static const struct op_step saving_steps[] = { { "save", saving_step, true, false } };
static const struct op_kind op_saving = { "saving", saving_steps, 1, NULL };

static void save__mid_step__kept_after_a_failure_and_refused_once_taken(void **state)
{
	struct fx *f = *state;
	json_t *data = json_object();
	struct op_request rq = { .kind = &op_saving, .target = "svc-s", .data = data, .user = "U0ALICE" };
	struct store_op op;
	char why[512];
	int64_t id = 0;

	assert_int_equal(ops_run(&f->t.env, &rq, NULL, &id, why, sizeof(why)), VIVA_EREMOTE);
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_int_equal(op.state, OP_FAILED);
	/* what was saved mid-step outlives the failure (the unsaved n=2 does not) */
	assert_non_null(strstr(op.data, "\"n\":1"));
	store_op_release(&op);
	/* taken over by another process: op_save says so, and this one records no end */
	json_object_set_new(data, "steal", json_true());
	assert_int_equal(ops_run(&f->t.env, &rq, NULL, &id, why, sizeof(why)), VIVA_ECONFLICT);
	assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
	assert_int_equal(op.state, OP_RUNNING);
	assert_string_equal(op.holder, "other:1");
	assert_non_null(strstr(op.data, "\"n\":1"));
	store_op_release(&op);
	json_decref(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(run__steps_recorded_then_done, setup, teardown),
		cmocka_unit_test_setup_teardown(run__target_held__refused_naming_the_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(resume__dead_holder__from_the_last_step_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(resume__step_not_safe_twice__abandoned_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(resume__live_holder_kept__silent_one_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(command__ops_lists_state_step_and_who, setup, teardown),
		cmocka_unit_test_setup_teardown(save__mid_step__kept_after_a_failure_and_refused_once_taken, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
