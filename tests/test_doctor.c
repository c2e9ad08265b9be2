/*
 * `viva doctor` as a process (SPEC section 12), against the real things
 * where Debian has them: the fake Slack (auth.test, apps.connections.open),
 * the fake Kubernetes API server (TLS, a token, SelfSubjectAccessReview),
 * Debian's docker-registry and Prometheus, and a SQLite file. Each check
 * says ok or what is wrong and how to fix it; the exit status is 0 only
 * when every configured check passed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"
#include "tests/prom_fixture.h"
#include "tests/serve_fx.h"
#include "store/store.h"

#define TOKEN "t0ken-for-viva-doctor"

static struct prom_fixture prom;

static int group_setup(void **state)
{
	struct prom_point pts[] = { { 1700000000, 1 }, { 1700000060, 1 } };

	(void)state;
	if (prom_fixture_init(&prom) != 0)
		return -1;
	prom_fixture_series(&prom, "up", "job=\"viva\"", pts, 2);
	return prom_fixture_start(&prom);
}

static int group_teardown(void **state)
{
	(void)state;
	prom_fixture_release(&prom);
	return 0;
}

/* The fake Slack, a fake cluster (namespace prod) and docker-registry; viva not started. */
static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN };

	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	if (!f->kube || fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
				       "\"metadata\":{\"name\":\"prod\"}}") != 0)
		return -1;
	if (registry_server_start(&f->reg) != 0)
		return -1;
	fx_start_fake(f);
	*state = f;
	return 0;
}

/* viva doctor with env and viva.yaml (extra); its exit status, and its output in *out. */
static int doctor(struct fx *f, const char *env, const char *yaml, char **out)
{
	int rc;

	fx_start_viva_as(f, "doctor", env, yaml);
	rc = proc_wait(&f->viva, 60000);
	*out = proc_log(&f->viva);
	proc_release(&f->viva);
	f->viva.pid = 0;
	if (strstr(*out, "ERROR: AddressSanitizer") || strstr(*out, "ERROR: LeakSanitizer") ||
	    strstr(*out, "runtime error:"))
		fail_msg("sanitizer report from viva doctor:\n%s", *out);
	return rc;
}

static void expect_line(const char *out, const char *needle)
{
	if (!strstr(out, needle))
		fail_msg("viva doctor's output lacks \"%s\":\n%s", needle, out);
}

/* Everything configured and healthy: one ok line each, exit 0. */
static void doctor__all_configured_and_up__every_check_ok(void **state)
{
	struct fx *f = *state;
	char *env = xasprintf("REGISTRY_URL=http://127.0.0.1:%d\nPROMETHEUS_URL=%s", f->reg.port, prom.url);
	char *yaml = xasprintf("clusters: { dev: { kubeconfig: %s } }\n"
			       "environments: { prod: { cluster: dev, namespace: prod } }\n",
			       fake_kube_kubeconfig(f->kube));
	char *out = NULL, *db = xasprintf("%s/viva.db", f->dir);
	struct store *st = NULL;

	assert_int_equal(store_open(db, &st), 0);   /* as viva serve left it */
	store_close(st);
	free(db);
	assert_int_equal(doctor(f, env, yaml, &out), 0);
	expect_line(out, "store (VIVA_DB=");
	expect_line(out, "/viva.db): ok (schema ");
	expect_line(out, "slack auth.test (SLACK_BOT_TOKEN): ok (workspace ");
	expect_line(out, "slack apps.connections.open (SLACK_APP_TOKEN): ok (Socket Mode may connect)");
	expect_line(out, "cluster dev: Kubernetes v");
	expect_line(out, "namespace prod (environment prod): every permission viva needs is there");
	expect_line(out, "): ok (/v2/ answered, without credentials)");
	expect_line(out, "): ok (ready, and a query answered)");
	expect_line(out, "every check passed (6)");
	assert_null(strstr(out, "FAILED"));
	/* auth.test and apps.connections.open were really asked, once each */
	assert_int_equal(fx_calls_n(f, "auth.test"), 1);
	assert_int_equal(fx_calls_n(f, "apps.connections.open"), 1);
	free(out);
	free(yaml);
	free(env);
}

/*
 * Everything wrong at once: each check fails on its own line, says why and
 * what to do, and the others still run; exit 1.
 */
static void doctor__everything_wrong__each_failure_named_with_its_fix(void **state)
{
	struct fx *f = *state;
	char *kc = NULL, *bad_kc_path = xasprintf("%s/bad-kubeconfig", f->dir), *p;
	char *env, *yaml, *out = NULL;
	size_t len = 0;

	/* a kubeconfig whose token the cluster refuses; "Prometheus" at
	 * docker-registry (no /-/ready there) */
	assert_int_equal(read_file(fake_kube_kubeconfig(f->kube), &kc, &len), 0);
	p = strstr(kc, TOKEN);
	assert_non_null(p);
	memcpy(p, "x", 1);
	test_write_file(bad_kc_path, kc);
	env = xasprintf("SLACK_BOT_TOKEN=xoxb-wrong\nSLACK_APP_TOKEN=xapp-wrong\n"
			"REGISTRY_URL=http://127.0.0.1:%d\nPROMETHEUS_URL=http://127.0.0.1:%d\n"
			"VIVA_DB=%s/missing/viva.db", free_port(), f->reg.port, f->dir);
	/* two clusters: each is a check of its own */
	yaml = xasprintf("clusters: { dev: { kubeconfig: %s }, dev2: { kubeconfig: %s } }\n"
			 "environments: { prod: { cluster: dev, namespace: prod } }\n", bad_kc_path, bad_kc_path);
	assert_int_equal(doctor(f, env, yaml, &out), 1);
	expect_line(out, "/missing/viva.db): FAILED: its directory ");
	expect_line(out, "create it, writable by viva's user");
	expect_line(out, "slack auth.test (SLACK_BOT_TOKEN): FAILED: Slack answered invalid_auth: copy the Bot "
		    "User OAuth Token");
	expect_line(out, "slack apps.connections.open (SLACK_APP_TOKEN): FAILED: Slack answered invalid_auth: "
		    "copy the app-level token");
	expect_line(out, "cluster dev: FAILED: cluster dev refused viva's credentials");
	expect_line(out, "): FAILED: the registry at http://127.0.0.1:");
	expect_line(out, "is not reachable");
	expect_line(out, "prometheus (PROMETHEUS_URL=");
	expect_line(out, "answered HTTP 404 to /-/ready");
	expect_line(out, "cluster dev2: FAILED: cluster dev2 refused viva's credentials");
	expect_line(out, "7 checks failed, 0 passed");
	free(out);
	free(yaml);
	free(env);
	free(bad_kc_path);
	free(kc);
}

/* Nothing but the store configured: the rest is said to be unset, exit 0. */
static void doctor__only_the_store__others_not_configured(void **state)
{
	struct fx *f = *state;
	char *out = NULL;

	f->bare = false;
	char *db = xasprintf("%s/viva.db", f->dir);

	assert_int_equal(doctor(f, "SLACK_BOT_TOKEN=\nSLACK_APP_TOKEN=", NULL, &out), 0);
	/* looked at, not made: viva serve creates it, as its own user */
	expect_line(out, "/viva.db): ok (no database yet: viva serve creates it there)");
	assert_int_not_equal(access(db, F_OK), 0);
	free(db);
	expect_line(out, "slack: not configured (SLACK_BOT_TOKEN and SLACK_APP_TOKEN are unset");
	expect_line(out, "clusters: not configured");
	expect_line(out, "registry: not configured");
	expect_line(out, "prometheus: not configured");
	expect_line(out, "every check passed (1), 4 not configured");
	free(out);
}

/* A file that is not viva's database: named as such, exit 1. */
static void doctor__not_a_database__failed_with_what_to_do(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/garbage.db", f->dir), *env = xasprintf("VIVA_DB=%s", path);
	char *out = NULL;

	test_write_file(path, "this is not SQLite, and it is longer than a header would be............."
			"..............................................................................");
	assert_int_equal(doctor(f, env, NULL, &out), 1);
	expect_line(out, "/garbage.db): FAILED: cannot read it (file is not a database): is it viva's database?");
	free(out);
	free(env);
	free(path);
}

/*
 * Credentials in a URL (refused, but the line names the setting first) and
 * a token in a query are never printed; nor are Slack's tokens.
 */
static void doctor__credentials_in_urls__never_printed(void **state)
{
	struct fx *f = *state;
	char *env = xasprintf("REGISTRY_URL=https://bob:S3cr3t@127.0.0.1:%d/x?token=QUERYSECRET\n"
			      "PROMETHEUS_URL=http://alice:hunter2@127.0.0.1:%d/?token=QUERYSECRET2\n"
			      "SLACK_BOT_TOKEN=xoxb-BOTSECRET\nSLACK_APP_TOKEN=xapp-APPSECRET", free_port(), free_port());
	char *out = NULL;

	assert_int_equal(doctor(f, env, NULL, &out), 1);
	expect_line(out, "registry (REGISTRY_URL=https://127.0.0.1:");
	expect_line(out, "prometheus (PROMETHEUS_URL=http://127.0.0.1:");
	for (const char *const *p = (const char *const[]){ "S3cr3t", "hunter2", "bob", "alice", "QUERYSECRET",
							    "BOTSECRET", "APPSECRET", NULL }; *p; p++)
		if (strstr(out, *p))
			fail_msg("viva doctor printed \"%s\":\n%s", *p, out);
	free(out);
	free(env);
}

/* A database a newer viva migrated: named, and left as it is. */
static void doctor__newer_schema__failed_and_left_alone(void **state)
{
	struct fx *f = *state;
	char *db = xasprintf("%s/viva.db", f->dir), *out = NULL, *sql;
	struct store *st = NULL;

	assert_int_equal(store_open(db, &st), 0);
	store_close(st);
	sql = xasprintf("PRAGMA user_version = %d", store_schema_latest() + 1);
	fx_db_exec(f, sql);
	free(sql);
	assert_int_equal(doctor(f, NULL, NULL, &out), 1);
	expect_line(out, "/viva.db): FAILED: its schema (");
	expect_line(out, "is newer than this viva's");
	sql = xasprintf("%d", store_schema_latest() + 1);
	fx_db_expect(f, "PRAGMA user_version", sql);
	free(sql);
	free(out);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(doctor__all_configured_and_up__every_check_ok, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(doctor__everything_wrong__each_failure_named_with_its_fix, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(doctor__only_the_store__others_not_configured, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(doctor__not_a_database__failed_with_what_to_do, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(doctor__credentials_in_urls__never_printed, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(doctor__newer_schema__failed_and_left_alone, setup, fx_teardown),
	};

	if (fx_find_bins("test_doctor"))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
