/*
 * bot/auth.c: the admin user group cache holds no lock across the Slack
 * call. One caller refreshes; the others use the cached answer or, with
 * nothing cached yet, wait for it with a bound; a lookup that fails is not
 * retried on every click.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/auth.h"
#include "bot/commands.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/times.h"
#include "bot/slack/api.h"
#include "tests/helpers.h"

/* usergroups.users.list that can be held inside the call until released. */
struct slow_api {
	struct slack_api base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool hold;            /* calls wait here until released */
	bool down;            /* calls fail */
	int calls;
	int inside;           /* calls in progress */
};

static int slow_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct slow_api *a = (struct slow_api *)api;
	(void)args;

	pthread_mutex_lock(&a->mu);
	a->calls++;
	a->inside++;
	pthread_cond_broadcast(&a->cv);
	while (a->hold)
		pthread_cond_wait(&a->cv, &a->mu);
	a->inside--;
	pthread_mutex_unlock(&a->mu);
	if (a->down || strcmp(method, "usergroups.users.list") != 0) {
		*resp = json_pack("{s:b, s:s}", "ok", 0, "error", "service_unavailable");
		return VIVA_EREMOTE;
	}
	*resp = json_pack("{s:b, s:[s]}", "ok", 1, "users", "U0GROUPIE");
	return VIVA_OK;
}

static const struct slack_api_ops slow_ops = { .call = slow_call };

struct fx {
	struct test_env t;
	struct slow_api api;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	test_env_init(&f->t);
	f->api.base.ops = &slow_ops;
	pthread_mutex_init(&f->api.mu, NULL);
	pthread_cond_init(&f->api.cv, NULL);
	f->t.env.slack = &f->api.base;
	free(f->t.cfg.admin_usergroup);
	f->t.cfg.admin_usergroup = xstrdup("S0PLATFORM");
	auth_cache_clear();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	auth_cache_clear();
	auth_set_group_wait_ms(0);
	test_env_release(&f->t);
	pthread_mutex_destroy(&f->api.mu);
	pthread_cond_destroy(&f->api.cv);
	free(f);
	return 0;
}

static void set_hold(struct fx *f, bool hold)
{
	pthread_mutex_lock(&f->api.mu);
	f->api.hold = hold;
	pthread_cond_broadcast(&f->api.cv);
	pthread_mutex_unlock(&f->api.mu);
}

/* Wait (bounded) until a call is inside the fake. */
static void wait_inside(struct fx *f)
{
	int64_t end = now_ms_mono() + 5000;

	pthread_mutex_lock(&f->api.mu);
	while (f->api.inside == 0 && now_ms_mono() < end) {
		struct timespec ts = timespec_in(CLOCK_REALTIME, 10);
		pthread_cond_timedwait(&f->api.cv, &f->api.mu, &ts);
	}
	assert_true(f->api.inside > 0);
	pthread_mutex_unlock(&f->api.mu);
}

struct checker {
	struct fx *f;
	pthread_t th;
	atomic_bool done;
	bool admin;
};

static void *check_main(void *arg)
{
	struct checker *c = arg;

	c->admin = auth_is_admin(&c->f->t.env, "U0GROUPIE");
	atomic_store(&c->done, true);
	return NULL;
}

static void auth__cold_cache_many_callers__one_lookup_all_answered(void **state)
{
	struct fx *f = *state;
	struct checker c[4];

	set_hold(f, true);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct checker){ .f = f };
		assert_int_equal(pthread_create(&c[i].th, NULL, check_main, &c[i]), 0);
	}
	wait_inside(f);
	/* one is asking Slack; the others wait for its answer, not for the lock
	 * of another lookup */
	set_hold(f, false);
	for (int i = 0; i < 4; i++) {
		pthread_join(c[i].th, NULL);
		assert_true(c[i].admin);
	}
	assert_int_equal(f->api.calls, 1);
}

static void auth__stale_cache_while_refreshing__answers_at_once(void **state)
{
	struct fx *f = *state;
	struct checker a = { .f = f };

	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));   /* fills the cache */
	assert_int_equal(f->api.calls, 1);
	f->t.now += 301;                                       /* past the TTL */
	set_hold(f, true);
	assert_int_equal(pthread_create(&a.th, NULL, check_main, &a), 0);
	wait_inside(f);
	/* while a's lookup hangs in the network call, other checks go on */
	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_false(auth_is_admin(&f->t.env, "U0NOTIN"));
	assert_false(atomic_load(&a.done));
	assert_int_equal(f->api.calls, 2);
	set_hold(f, false);
	pthread_join(a.th, NULL);
	assert_true(a.admin);
}

static void auth__nothing_cached_lookup_hangs__wait_is_bounded(void **state)
{
	struct fx *f = *state;
	struct checker a = { .f = f };
	int64_t t0;

	auth_set_group_wait_ms(200);
	set_hold(f, true);
	assert_int_equal(pthread_create(&a.th, NULL, check_main, &a), 0);
	wait_inside(f);
	t0 = now_ms_mono();
	/* not an admin as far as viva can tell, after the bound, not never */
	assert_false(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_true(now_ms_mono() - t0 >= 150);
	assert_false(atomic_load(&a.done));
	set_hold(f, false);
	pthread_join(a.th, NULL);
	assert_true(a.admin);
}

static void auth__lookup_fails__old_members_kept_and_not_asked_per_click(void **state)
{
	struct fx *f = *state;
	char why[256];

	f->api.down = true;
	assert_false(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_false(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_int_equal(auth_check(&f->t.env, "U0GROUPIE", CMD_ADMIN, NULL, why, sizeof(why)), VIVA_EDENIED);
	assert_int_equal(f->api.calls, 1);        /* not once per check during an outage */
	f->t.now += 31;
	f->api.down = false;
	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_int_equal(f->api.calls, 2);
	/* known members survive a later outage */
	f->t.now += 301;
	f->api.down = true;
	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_int_equal(f->api.calls, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(auth__cold_cache_many_callers__one_lookup_all_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__stale_cache_while_refreshing__answers_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__nothing_cached_lookup_hangs__wait_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__lookup_fails__old_members_kept_and_not_asked_per_click, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
