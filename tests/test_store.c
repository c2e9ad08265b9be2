/*
 * Tests for store/: a real SQLite file in a fresh temporary directory per
 * test (WAL needs a file), plus ":memory:" where the mode does not matter.
 * The tests reach under the store with sqlite3 directly only to set up
 * states the API cannot produce (a newer schema, a half-migrated file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "store/store.h"
#include "store/audit.h"
#include "store/envelopes.h"
#include "store/images.h"
#include "store/outbox.h"
#include "store/nodes.h"
#include "store/schedules.h"
#include "store/services.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/viva-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/viva.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int guard = 0;

	/* The db, its -wal and -shm files, captured logs: nothing nested. */
	while (d && (de = readdir(d)) != NULL && guard++ < 1000) {
		char p[512];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run SQL on the file behind the store's back. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* Expected failures log errors; keep them out of the test output. */
static enum log_level saved_level = LOG_WARN;
static void quiet(void)
{
	saved_level = log_get_level();
	log_set_level(LOG_OFF);
}
static void loud(void)
{
	log_set_level(saved_level);
}

/* ---- open, pragmas, migrations ---------------------------------------- */

static void store__fresh_file__wal_mode_and_latest_version(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char mode[16];

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_non_null(st);
	assert_int_equal(store_journal_mode(st, mode, sizeof(mode)), VIVA_OK);
	assert_string_equal(mode, "wal");
	assert_true(store_schema_latest() >= 2);
	assert_int_equal(store_schema_version(st), store_schema_latest());
	store_close(st);

	/* WAL is persistent in the file; user_version is what we set. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), store_schema_latest());
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"
				 " WHERE name IN ('audit_log','envelopes','schedule_runs')"), 3);

	/* Reopening an up-to-date file changes nothing. */
	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_schema_version(st), store_schema_latest());
	store_close(st);
}

static void store__memory__opens_in_memory_mode(void **state)
{
	struct store *st = NULL;
	char mode[16];

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_journal_mode(st, mode, sizeof(mode)), VIVA_OK);
	assert_string_equal(mode, "memory");
	assert_int_equal(store_schema_version(st), store_schema_latest());
	assert_int_equal(store_envelope_claim(st, "e1", "slash", 100), VIVA_OK);
	store_close(st);
}

static void store__journal_mode_small_buffer__erange(void **state)
{
	struct store *st = NULL;
	char mode[3] = "xx";

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_journal_mode(st, mode, sizeof(mode)), VIVA_ERANGE);
	assert_string_equal(mode, "");
	assert_int_equal(store_journal_mode(st, NULL, 16), VIVA_EINVAL);
	store_close(st);
}

/*
 * From every older version: open a file stopped at v, write what v allows,
 * then a plain store_open migrates it to the latest and the rows survive.
 */
static void store__migrate_from_each_older_version__data_survives(void **state)
{
	struct fx *f = *state;
	int latest = store_schema_latest();

	for (int v = 0; v < latest; v++) {
		struct store_audit_entry *e = NULL;
		struct store *st = NULL;
		char path[192];
		int64_t slot = -1;
		size_t n = 0;

		snprintf(path, sizeof(path), "%s/v%d.db", f->dir, v);
		assert_int_equal(store_open_at_version(path, v, &st), VIVA_OK);
		assert_int_equal(store_schema_version(st), v);
		if (v >= 1) {
			assert_int_equal(store_audit_add(st, 1000 + v, "U1", "promote", "svc",
							 "{\"v\":1}", "ok"), VIVA_OK);
			assert_int_equal(store_envelope_claim(st, "env-old", "slash", 500), VIVA_OK);
		}
		if (v >= 2)
			assert_int_equal(store_schedule_claim(st, "lag", 60, 61), VIVA_OK);
		store_close(st);

		assert_int_equal(store_open(path, &st), VIVA_OK);
		assert_int_equal(store_schema_version(st), latest);
		assert_int_equal(store_audit_list(st, NULL, 10, &e, &n), VIVA_OK);
		if (v >= 1) {
			assert_int_equal(n, 1);
			assert_int_equal(e[0].ts, 1000 + v);
			assert_string_equal(e[0].params_json, "{\"v\":1}");
			assert_int_equal(store_envelope_claim(st, "env-old", "slash", 600), VIVA_EDUP);
		} else {
			assert_int_equal(n, 0);
		}
		store_audit_free(e, n);
		assert_int_equal(store_schedule_last(st, "lag", &slot), VIVA_OK);
		assert_int_equal(slot, v >= 2 ? 60 : 0);
		/* Every table of the latest schema works after the migration. */
		assert_int_equal(store_schedule_claim(st, "lag", 120, 121), VIVA_OK);
		assert_int_equal(store_envelope_claim(st, "env-new", "slash", 700), VIVA_OK);
		store_close(st);
	}
}

static void store__stopped_at_older_version__later_tables_absent(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	int64_t slot = -1;

	assert_int_equal(store_open_at_version(f->path, 1, &st), VIVA_OK);
	quiet();
	assert_int_equal(store_schedule_claim(st, "lag", 60, 61), VIVA_EIO);
	assert_int_equal(store_schedule_last(st, "lag", &slot), VIVA_EIO);
	loud();
	assert_int_equal(slot, 0);
	store_close(st);
}

static void store__newer_schema__refused_with_log_line(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char sql[64], logpath[192];
	char *logtext = NULL;
	size_t loglen = 0;
	int fd;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_audit_add(st, 5, "U1", "a", "t", NULL, "ok"), VIVA_OK);
	store_close(st);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 1);
	raw_exec(f->path, sql);

	snprintf(logpath, sizeof(logpath), "%s/log.txt", f->dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	log_set_fd(fd);
	st = (struct store *)1;
	assert_int_equal(store_open(f->path, &st), VIVA_EINVAL);
	log_set_fd(2);
	close(fd);
	assert_null(st);

	assert_int_equal(read_file(logpath, &logtext, &loglen), VIVA_OK);
	assert_non_null(strstr(logtext, "level=error"));
	assert_non_null(strstr(logtext, "newer"));
	free(logtext);

	/* Refused means untouched: the version and the rows are still there. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), store_schema_latest() + 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit_log"), 1);
}

/* 3 -> 4 fills in each service's image from its stored spec. */
static void store__migrate_to_4__images_filled_in_from_specs(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char path[192], *owner = NULL;
	sqlite3 *raw = NULL;

	snprintf(path, sizeof(path), "%s/v3.db", f->dir);
	assert_int_equal(store_open_at_version(path, 3, &st), VIVA_OK);
	store_close(st);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
		"INSERT INTO services(name, type, spec_yaml, spec_json, revision, source, created_at, updated_at)"
		" VALUES ('a', 'service', 'x', '{\"image\":\"team/x\"}', 1, 'form', 10, 10),"
		" ('b', 'service', 'y', '{\"image\":\"team/x\"}', 1, 'form', 20, 20)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(store_open(path, &st), VIVA_OK);
	assert_int_equal(store_service_image_owner(st, "team/x", &owner), VIVA_OK);
	assert_string_equal(owner, "a");   /* the first one holds it */
	free(owner);
	assert_int_equal(store_service_image_owner(st, "team/none", &owner), VIVA_ENOENT);
	assert_null(owner);
	store_close(st);
}

/* A migration that fails half-way leaves the file at the previous version. */
static void store__failed_migration__rolled_back(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	assert_int_equal(store_open_at_version(f->path, 1, &st), VIVA_OK);
	assert_int_equal(store_audit_add(st, 7, "U1", "a", "t", NULL, "ok"), VIVA_OK);
	store_close(st);
	/* Migration 2 creates schedule_runs: make it fail on its CREATE TABLE. */
	raw_exec(f->path, "CREATE TABLE schedule_runs(x)");

	quiet();
	assert_int_equal(store_open(f->path, &st), VIVA_EIO);
	loud();
	assert_null(st);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit_log"), 1);

	/* Once the obstacle is gone the same file migrates normally. */
	raw_exec(f->path, "DROP TABLE schedule_runs");
	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_schema_version(st), store_schema_latest());
	assert_int_equal(store_schedule_claim(st, "s", 60, 60), VIVA_OK);
	store_close(st);
}

static void store__open_at_version__out_of_range_einval(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	assert_int_equal(store_open_at_version(f->path, -1, &st), VIVA_EINVAL);
	assert_null(st);
	assert_int_equal(store_open_at_version(f->path, store_schema_latest() + 1, &st),
			 VIVA_EINVAL);
	assert_null(st);
	assert_int_equal(store_open(NULL, &st), VIVA_EINVAL);
	assert_int_equal(store_open("", &st), VIVA_EINVAL);
	assert_int_equal(store_open(f->path, NULL), VIVA_EINVAL);
}

static void store__missing_directory__fails_without_crash(void **state)
{
	struct fx *f = *state;
	struct store *st = (struct store *)1;
	char path[192];

	snprintf(path, sizeof(path), "%s/no/such/dir/viva.db", f->dir);
	quiet();
	assert_int_equal(store_open(path, &st), VIVA_EIO);
	loud();
	assert_null(st);
	assert_int_equal(access(path, F_OK), -1);
}

static void store__not_a_database__fails_without_crash(void **state)
{
	struct fx *f = *state;
	struct store *st = (struct store *)1;
	static const char junk[] = "this is not an sqlite database, just some text 0123456789\n";
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 100; i++)
		fputs(junk, fp);
	fclose(fp);
	quiet();
	assert_int_equal(store_open(f->path, &st), VIVA_EIO);
	loud();
	assert_null(st);
}

static void store__null_store__einval(void **state)
{
	struct store_audit_entry *e = NULL;
	int64_t slot = 0;
	size_t n = 0;
	char buf[8];

	(void)state;
	assert_int_equal(store_schema_version(NULL), VIVA_EINVAL);
	assert_int_equal(store_journal_mode(NULL, buf, sizeof(buf)), VIVA_EINVAL);
	assert_int_equal(store_audit_add(NULL, 0, "U", "a", "", NULL, "ok"), VIVA_EINVAL);
	assert_int_equal(store_audit_list(NULL, NULL, 5, &e, &n), VIVA_EINVAL);
	assert_int_equal(store_envelope_claim(NULL, "k", "slash", 0), VIVA_EINVAL);
	assert_int_equal(store_envelope_prune(NULL, 0, NULL), VIVA_EINVAL);
	assert_int_equal(store_schedule_claim(NULL, "s", 0, 0), VIVA_EINVAL);
	assert_int_equal(store_schedule_finish(NULL, "s", 0, 0, "ok"), VIVA_EINVAL);
	assert_int_equal(store_schedule_last(NULL, "s", &slot), VIVA_EINVAL);
	store_close(NULL);
	store_audit_free(NULL, 0);
}

/* ---- audit log --------------------------------------------------------- */

static void audit__list__newest_first_with_limit(void **state)
{
	struct fx *f = *state;
	struct store_audit_entry *e = NULL;
	struct store *st = NULL;
	size_t n = 0;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	for (int i = 1; i <= 5; i++) {
		char action[16];

		snprintf(action, sizeof(action), "act%d", i);
		assert_int_equal(store_audit_add(st, 100 + i, "U1", action, "svc", NULL, "ok"),
				 VIVA_OK);
	}
	assert_int_equal(store_audit_list(st, NULL, 3, &e, &n), VIVA_OK);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].action, "act5");
	assert_string_equal(e[1].action, "act4");
	assert_string_equal(e[2].action, "act3");
	assert_int_equal(e[0].ts, 105);
	assert_true(e[0].id > e[1].id && e[1].id > e[2].id);
	store_audit_free(e, n);

	assert_int_equal(store_audit_list(st, NULL, 100, &e, &n), VIVA_OK);
	assert_int_equal(n, 5);
	assert_string_equal(e[4].action, "act1");
	store_audit_free(e, n);

	e = (struct store_audit_entry *)1;
	assert_int_equal(store_audit_list(st, NULL, 0, &e, &n), VIVA_OK);
	assert_int_equal(n, 0);
	assert_null(e);
	assert_int_equal(store_audit_list(st, NULL, -1, &e, &n), VIVA_EINVAL);
	store_close(st);
}

static void audit__list__target_filter(void **state)
{
	struct store_audit_entry *e = NULL;
	struct store *st = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_audit_add(st, 1, "U1", "promote", "api", NULL, "ok"), VIVA_OK);
	assert_int_equal(store_audit_add(st, 2, "U2", "promote", "web", NULL, "ok"), VIVA_OK);
	assert_int_equal(store_audit_add(st, 3, "U3", "rollback", "api", NULL, "denied"), VIVA_OK);
	assert_int_equal(store_audit_add(st, 4, "U4", "help", NULL, NULL, "ok"), VIVA_OK);

	assert_int_equal(store_audit_list(st, "api", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].user_id, "U3");
	assert_string_equal(e[0].result, "denied");
	assert_string_equal(e[1].user_id, "U1");
	store_audit_free(e, n);

	assert_int_equal(store_audit_list(st, "api", 1, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].user_id, "U3");
	store_audit_free(e, n);

	/* "" is a real target (entries with none), not "no filter". */
	assert_int_equal(store_audit_list(st, "", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].action, "help");
	store_audit_free(e, n);

	assert_int_equal(store_audit_list(st, "nope", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 0);
	assert_null(e);
	store_close(st);
}

static void audit__add__defaults_applied(void **state)
{
	struct store_audit_entry *e = NULL;
	struct store *st = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	/* the time is the caller's clock's, never made up here */
	assert_int_equal(store_audit_add(st, 0, "scheduler", "audit.lag", NULL, NULL, "ok"), VIVA_EINVAL);
	assert_int_equal(store_audit_add(st, 1795554900, "scheduler", "audit.lag", NULL, NULL, "ok"),
			 VIVA_OK);
	assert_int_equal(store_audit_list(st, NULL, 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].ts, 1795554900);
	assert_string_equal(e[0].target, "");
	assert_string_equal(e[0].params_json, "{}");
	assert_string_equal(e[0].user_id, "scheduler");
	store_audit_free(e, n);

	/* Who, what and result are required. */
	assert_int_equal(store_audit_add(st, 5, NULL, "a", "t", NULL, "ok"), VIVA_EINVAL);
	assert_int_equal(store_audit_add(st, 5, "U1", NULL, "t", NULL, "ok"), VIVA_EINVAL);
	assert_int_equal(store_audit_add(st, 5, "U1", "a", "t", NULL, NULL), VIVA_EINVAL);
	assert_int_equal(store_audit_list(st, NULL, 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	store_audit_free(e, n);
	store_close(st);
}

static void audit__hostile_text__stored_literally(void **state)
{
	struct fx *f = *state;
	static const char inj[] = "'; DROP TABLE audit_log;--";
	static const char quotes[] = "it's \"quoted\" `back` \\ %s %n \xc3\xa9\xe2\x9c\x93";
	static const char params[] = "{\"msg\":\"'); DELETE FROM envelopes;--\",\"n\":1}";
	struct store_audit_entry *e = NULL;
	struct store *st = NULL;
	size_t n = 0;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "keep-me", "slash", 10), VIVA_OK);
	assert_int_equal(store_audit_add(st, 1, inj, inj, inj, params, inj), VIVA_OK);
	assert_int_equal(store_audit_add(st, 2, quotes, "a", quotes, NULL, quotes), VIVA_OK);

	assert_int_equal(store_audit_list(st, inj, 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].user_id, inj);
	assert_string_equal(e[0].action, inj);
	assert_string_equal(e[0].target, inj);
	assert_string_equal(e[0].result, inj);
	assert_string_equal(e[0].params_json, params);
	store_audit_free(e, n);

	assert_int_equal(store_audit_list(st, quotes, 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].user_id, quotes);
	assert_string_equal(e[0].result, quotes);
	store_audit_free(e, n);

	assert_int_equal(store_envelope_claim(st, "keep-me", "slash", 11), VIVA_EDUP);
	store_close(st);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit_log"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM envelopes"), 1);
}

/* ---- envelopes --------------------------------------------------------- */

static void envelope__claim__new_then_dup(void **state)
{
	struct store *st = NULL;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "env-1", "slash_commands", 100), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "env-1", "slash_commands", 101), VIVA_EDUP);
	/* The key alone identifies: another kind does not make it new. */
	assert_int_equal(store_envelope_claim(st, "env-1", "interactive", 102), VIVA_EDUP);
	assert_int_equal(store_envelope_claim(st, "event:Ev1", "events_api", 100), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "env-2", NULL, 100), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "env-3", NULL, 0), VIVA_EINVAL);
	assert_int_equal(store_envelope_claim(st, "", "slash", 100), VIVA_EINVAL);
	assert_int_equal(store_envelope_claim(st, NULL, "slash", 100), VIVA_EINVAL);
	store_close(st);
}

/* Deferred answers: added, replaced as they change, listed oldest first, forgotten. */
/* Reports per host, newest first; a host keeps its newest NODE_REPORTS_KEPT, others are untouched. */
static void node_reports__newest_first_and_pruned_per_host(void **state)
{
	struct store_node_report r = { .hostname = "kube-a-dc1-w1", .cluster = "a", .phase = "join",
				       .kubelet_version = "v1.25.6", .output = "", .received = 100 };
	struct store_node_report *v = NULL;
	struct store *st = NULL;
	int64_t id = 0, first = 0;
	size_t n = 0;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	r.ok = false;
	r.output = "[ERROR Port-10250]: Port 10250 is in use";
	assert_int_equal(store_node_report_add(st, &r, &first), VIVA_OK);
	r.hostname = "kube-a-dc1-w2";
	r.ok = true;
	r.output = "joined";
	assert_int_equal(store_node_report_add(st, &r, NULL), VIVA_OK);
	r.hostname = "kube-a-dc1-w1";
	for (int i = 0; i < NODE_REPORTS_KEPT + 5; i++) {
		r.received = 200 + i;
		r.phase = i % 2 ? "upgrade" : "join";
		assert_int_equal(store_node_report_add(st, &r, &id), VIVA_OK);
	}
	assert_int_equal(store_node_reports(st, "kube-a-dc1-w1", 100, &v, &n), VIVA_OK);
	assert_int_equal(n, NODE_REPORTS_KEPT);
	assert_int_equal(v[0].id, id);
	assert_int_equal(v[0].received, 200 + NODE_REPORTS_KEPT + 4);
	assert_string_equal(v[0].phase, "join");
	assert_true(v[0].ok);
	assert_string_equal(v[0].kubelet_version, "v1.25.6");
	for (size_t i = 0; i < n; i++)
		assert_true(v[i].id != first);   /* the oldest went */
	store_node_reports_free(v, n);
	/* the other host kept its one */
	assert_int_equal(store_node_reports(st, "kube-a-dc1-w2", 100, &v, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].output, "joined");
	store_node_reports_free(v, n);
	assert_int_equal(store_node_reports(st, "kube-a-dc1-w1", 3, &v, &n), VIVA_OK);
	assert_int_equal(n, 3);
	store_node_reports_free(v, n);
	assert_int_equal(store_node_reports(st, "nobody", 3, &v, &n), VIVA_OK);
	assert_int_equal(n, 0);
	store_node_reports_free(v, n);
	r.hostname = "";
	assert_int_equal(store_node_report_add(st, &r, NULL), VIVA_EINVAL);
	assert_int_equal(store_node_reports(st, "x", 0, &v, &n), VIVA_EINVAL);
	store_close(st);
}

static void node_upgrades__wanted_replaced_cleared_and_stops(void **state)
{
	struct store *st = NULL;
	int64_t run = 0;
	char *v = NULL;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_node_upgrade_get(st, "kube-a-dc1-w1", &run, &v), VIVA_ENOENT);
	assert_null(v);
	assert_int_equal(store_node_upgrade_want(st, "kube-a-dc1-w1", 7, "1.25.6", 100), VIVA_OK);
	assert_int_equal(store_node_upgrade_want(st, "kube-a-dc1-w1", 9, "1.26.0", 200), VIVA_OK);
	assert_int_equal(store_node_upgrade_get(st, "kube-a-dc1-w1", &run, &v), VIVA_OK);
	assert_int_equal(run, 9);
	assert_string_equal(v, "1.26.0");
	free(v);
	assert_int_equal(store_node_upgrade_get(st, "kube-a-dc1-w2", NULL, NULL), VIVA_ENOENT);
	assert_int_equal(store_node_upgrade_clear(st, "kube-a-dc1-w1"), VIVA_OK);
	assert_int_equal(store_node_upgrade_clear(st, "kube-a-dc1-w1"), VIVA_OK);
	assert_int_equal(store_node_upgrade_get(st, "kube-a-dc1-w1", NULL, NULL), VIVA_ENOENT);
	/* stops: the first asker is kept */
	assert_int_equal(store_node_upgrade_stopped(st, 9, &v), VIVA_ENOENT);
	assert_int_equal(store_node_upgrade_stop(st, 9, "U1", 300), VIVA_OK);
	assert_int_equal(store_node_upgrade_stop(st, 9, "U2", 301), VIVA_OK);
	assert_int_equal(store_node_upgrade_stopped(st, 9, &v), VIVA_OK);
	assert_string_equal(v, "U1");
	free(v);
	assert_int_equal(store_node_upgrade_stopped(st, 10, NULL), VIVA_ENOENT);
	store_close(st);
}

static void outbox__put_replace_list_remove(void **state)
{
	struct store_outbox_entry *v = NULL;
	struct store *st = NULL;
	int64_t a = 0, b = 0, gone, bad = -1;
	size_t n = 0;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_outbox_put(st, &a, "{\"r\":1}", "[1]", 1000, 0), VIVA_OK);
	assert_true(a > 0);
	assert_int_equal(store_outbox_put(st, &b, "{\"r\":2}", "[2]", 2000, 0), VIVA_OK);
	assert_true(b > a);
	assert_int_equal(store_outbox_put(st, &a, "{\"r\":1}", "[1,3]", 1000, 4), VIVA_OK);   /* replaced */
	assert_int_equal(store_outbox_all(st, 10, &v, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, a);
	assert_string_equal(v[0].msgs, "[1,3]");
	assert_int_equal(v[0].tries, 4);
	assert_int_equal(v[0].deadline, 1000);
	assert_string_equal(v[1].route, "{\"r\":2}");
	store_outbox_free(v, n);
	/* at most limit */
	assert_int_equal(store_outbox_all(st, 1, &v, &n), VIVA_OK);
	assert_int_equal(n, 1);
	store_outbox_free(v, n);
	assert_int_equal(store_outbox_remove(st, a), VIVA_OK);
	assert_int_equal(store_outbox_remove(st, a), VIVA_OK);   /* gone already */
	gone = a;
	assert_int_equal(store_outbox_put(st, &gone, "{}", "[1]", 1000, 0), VIVA_ENOENT);
	assert_int_equal(store_outbox_all(st, 10, &v, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, b);
	store_outbox_free(v, n);
	/* bad arguments change nothing */
	assert_int_equal(store_outbox_put(st, &bad, "{}", "[1]", 1000, 0), VIVA_EINVAL);
	assert_int_equal(store_outbox_put(st, &b, NULL, "[1]", 1000, 0), VIVA_EINVAL);
	assert_int_equal(store_outbox_put(st, &b, "{}", "[1]", 0, 0), VIVA_EINVAL);
	assert_int_equal(store_outbox_put(st, &b, "{}", "[1]", 1000, -1), VIVA_EINVAL);
	assert_int_equal(store_outbox_remove(st, 0), VIVA_EINVAL);
	assert_int_equal(store_outbox_all(st, 0, &v, &n), VIVA_EINVAL);
	assert_int_equal(store_outbox_all(st, 10, &v, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].msgs, "[2]");
	store_outbox_free(v, n);
	store_close(st);
}

static void envelope__prune__removes_only_older(void **state)
{
	struct store *st = NULL;
	int removed = -1;

	(void)state;
	assert_int_equal(store_open(":memory:", &st), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "a", "slash", 100), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "b", "slash", 200), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "c", "slash", 300), VIVA_OK);

	assert_int_equal(store_envelope_prune(st, 200, &removed), VIVA_OK);
	assert_int_equal(removed, 1);
	/* A pruned key is forgotten; the ones at or after `before` are kept. */
	assert_int_equal(store_envelope_claim(st, "a", "slash", 400), VIVA_OK);
	assert_int_equal(store_envelope_claim(st, "b", "slash", 400), VIVA_EDUP);
	assert_int_equal(store_envelope_claim(st, "c", "slash", 400), VIVA_EDUP);

	assert_int_equal(store_envelope_prune(st, 1000, NULL), VIVA_OK);
	assert_int_equal(store_envelope_prune(st, 1000, &removed), VIVA_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(store_envelope_claim(st, "b", "slash", 1001), VIVA_OK);
	store_close(st);
}

#define RACE_THREADS 4
#define RACE_KEYS 200

struct race {
	struct store *st;          /* shared store, or NULL: open our own */
	const char *path;
	pthread_barrier_t *start;
	int wins;
	int dups;
	int errors;
};

static void *race_main(void *arg)
{
	struct race *r = arg;
	struct store *own = NULL;
	struct store *st = r->st;

	if (!st) {
		if (store_open(r->path, &own) != VIVA_OK) {
			r->errors++;
			pthread_barrier_wait(r->start);
			return NULL;
		}
		st = own;
	}
	pthread_barrier_wait(r->start);
	for (int i = 0; i < RACE_KEYS; i++) {
		char key[32];
		int rc;

		snprintf(key, sizeof(key), "env-%d", i);
		rc = store_envelope_claim(st, key, "slash", 1000 + i);
		if (rc == VIVA_OK)
			r->wins++;
		else if (rc == VIVA_EDUP)
			r->dups++;
		else
			r->errors++;
	}
	store_close(own);
	return NULL;
}

static void run_race(struct store *shared, const char *path)
{
	pthread_t th[RACE_THREADS];
	struct race r[RACE_THREADS];
	pthread_barrier_t start;
	int wins = 0, dups = 0, errors = 0;

	assert_int_equal(pthread_barrier_init(&start, NULL, RACE_THREADS), 0);
	for (int i = 0; i < RACE_THREADS; i++) {
		r[i] = (struct race){ .st = shared, .path = path, .start = &start };
		assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(th[i], NULL);
		wins += r[i].wins;
		dups += r[i].dups;
		errors += r[i].errors;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(errors, 0);
	assert_int_equal(wins, RACE_KEYS);
	assert_int_equal(dups, RACE_KEYS * (RACE_THREADS - 1));
}

static void envelope__concurrent_claims_one_store__one_winner_per_key(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	run_race(st, NULL);
	store_close(st);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM envelopes"), RACE_KEYS);
}

/* Separate connections (as separate processes would be): WAL + busy timeout. */
static void envelope__concurrent_claims_own_stores__one_winner_per_key(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	/* Create and migrate first so the threads do not race on migrations. */
	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	store_close(st);
	run_race(NULL, f->path);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM envelopes"), RACE_KEYS);
}

/* ---- scheduler runs ---------------------------------------------------- */

static void schedule__claim_finish_last(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	int64_t slot = -1;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_schedule_last(st, "lag", &slot), VIVA_OK);
	assert_int_equal(slot, 0);

	assert_int_equal(store_schedule_claim(st, "lag", 1700000040, 1700000041), VIVA_OK);
	assert_int_equal(store_schedule_claim(st, "lag", 1700000040, 1700000042), VIVA_EDUP);
	/* Another schedule may run in the same minute. */
	assert_int_equal(store_schedule_claim(st, "unused", 1700000040, 1700000041), VIVA_OK);
	assert_int_equal(store_schedule_claim(st, "lag", 1700000100, 1700000101), VIVA_OK);
	/* An older slot claimed late does not move "last" backwards. */
	assert_int_equal(store_schedule_claim(st, "lag", 1699999980, 1700000102), VIVA_OK);

	assert_int_equal(store_schedule_last(st, "lag", &slot), VIVA_OK);
	assert_int_equal(slot, 1700000100);
	assert_int_equal(store_schedule_last(st, "unused", &slot), VIVA_OK);
	assert_int_equal(slot, 1700000040);
	assert_int_equal(store_schedule_last(st, "never", &slot), VIVA_OK);
	assert_int_equal(slot, 0);

	assert_int_equal(store_schedule_finish(st, "lag", 1700000040, 1700000050, "ok"), VIVA_OK);
	assert_int_equal(store_schedule_finish(st, "lag", 1700000100, 1700000110,
					       "error: prometheus down"), VIVA_OK);
	assert_int_equal(store_schedule_finish(st, "lag", 42, 43, "ok"), VIVA_ENOENT);
	assert_int_equal(store_schedule_claim(st, "", 60, 60), VIVA_EINVAL);
	assert_int_equal(store_schedule_claim(st, NULL, 60, 60), VIVA_EINVAL);
	assert_int_equal(store_schedule_last(st, "lag", NULL), VIVA_EINVAL);
	store_close(st);

	assert_int_equal(raw_int(f->path, "SELECT finished FROM schedule_runs"
				 " WHERE name = 'lag' AND slot = 1700000040"), 1700000050);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM schedule_runs WHERE name = 'lag'"
				 " AND slot = 1700000100 AND result = 'error: prometheus down'"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM schedule_runs"
				 " WHERE finished IS NULL"), 2);

	/* Claims survive a restart: a second process start does not rerun. */
	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_schedule_claim(st, "lag", 1700000100, 1700000200), VIVA_EDUP);
	assert_int_equal(store_schedule_last(st, "lag", &slot), VIVA_OK);
	assert_int_equal(slot, 1700000100);
	store_close(st);
}

static void services__put_get_list_revisions_delete_revive(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct store_service sv, *list = NULL;
	struct store_revision *revs = NULL;
	struct store_service_put p = { .name = "svc-a", .type = "service", .spec_yaml = "name: svc-a\n",
				       .spec_json = "{}", .source = "file:svc-a.yaml", .author = "U1", .now = 100 };
	size_t n = 0;
	int rev = 0;
	bool changed = false;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_service_put(st, &p, &rev, &changed), VIVA_OK);
	assert_int_equal(rev, 1);
	assert_true(changed);
	/* the same text again is not a revision */
	assert_int_equal(store_service_put(st, &p, &rev, &changed), VIVA_OK);
	assert_int_equal(rev, 1);
	assert_false(changed);
	p.spec_yaml = "name: svc-a\nowners: [U2]\n";
	p.now = 200;
	assert_int_equal(store_service_put(st, &p, &rev, &changed), VIVA_OK);
	assert_int_equal(rev, 2);
	assert_true(changed);
	/* create_only refuses a taken name */
	p.create_only = true;
	assert_int_equal(store_service_put(st, &p, &rev, &changed), VIVA_ECONFLICT);
	p.create_only = false;
	assert_int_equal(store_service_get(st, "svc-a", &sv), VIVA_OK);
	assert_int_equal(sv.revision, 2);
	assert_int_equal(sv.created_at, 100);
	assert_int_equal(sv.updated_at, 200);
	assert_int_equal(sv.deleted_at, 0);
	store_service_release(&sv);
	p.name = "job-b";
	p.type = "batch";
	assert_int_equal(store_service_put(st, &p, &rev, NULL), VIVA_OK);
	assert_int_equal(store_service_list(st, false, &list, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "job-b");   /* ordered by type, then name */
	store_services_free(list, n);
	assert_int_equal(store_service_revisions(st, "svc-a", 10, &revs, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(revs[0].revision, 2);
	assert_string_equal(revs[0].author, "U1");
	store_revisions_free(revs, n);
	/* delete keeps the row; a second delete finds nothing active */
	assert_int_equal(store_service_mark_deleted(st, "svc-a", 300), VIVA_OK);
	assert_int_equal(store_service_mark_deleted(st, "svc-a", 300), VIVA_ENOENT);
	assert_int_equal(store_service_list(st, false, &list, &n), VIVA_OK);
	assert_int_equal(n, 1);
	store_services_free(list, n);
	assert_int_equal(store_service_list(st, true, &list, &n), VIVA_OK);
	assert_int_equal(n, 2);
	store_services_free(list, n);
	/* putting it again revives it with a new revision */
	p.name = "svc-a";
	p.type = "service";
	p.create_only = true;
	p.now = 400;
	assert_int_equal(store_service_put(st, &p, &rev, &changed), VIVA_OK);
	assert_int_equal(rev, 3);
	assert_int_equal(store_service_get(st, "svc-a", &sv), VIVA_OK);
	assert_int_equal(sv.deleted_at, 0);
	assert_int_equal(sv.created_at, 400);
	store_service_release(&sv);
	assert_int_equal(store_service_get(st, "nope", &sv), VIVA_ENOENT);
	store_close(st);
}

static void actions__claim_once_then_dup_with_result(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char *user = NULL, *result = NULL;
	int64_t ts = 0, created = 0;

	assert_int_equal(store_open(f->path, &st), VIVA_OK);
	assert_int_equal(store_action_claim(st, "promote:1.2:svc:tag", "U1", 10), VIVA_OK);
	assert_int_equal(store_action_claim(st, "promote:1.2:svc:tag", "U2", 11), VIVA_EDUP);
	assert_int_equal(store_action_get(st, "promote:1.2:svc:tag", &user, &ts, &result, NULL), VIVA_OK);
	assert_string_equal(user, "U1");
	assert_null(result);                       /* still running */
	free(user);
	assert_int_equal(store_action_finish(st, "promote:1.2:svc:tag", "ok sha256:abc"), VIVA_OK);
	assert_int_equal(store_action_get(st, "promote:1.2:svc:tag", &user, &ts, &result, NULL), VIVA_OK);
	assert_string_equal(result, "ok sha256:abc");
	assert_int_equal(ts, 10);
	free(user);
	free(result);
	assert_int_equal(store_action_get(st, "other", &user, &ts, &result, NULL), VIVA_ENOENT);
	/* a failed action is released and can be claimed again */
	assert_int_equal(store_action_claim(st, "k2", "U1", 100), VIVA_OK);
	assert_int_equal(store_action_release(st, "k2"), VIVA_OK);
	assert_int_equal(store_action_claim(st, "k2", "U2", 101), VIVA_OK);
	/* a claim left without a result (its process died) is stale after a while */
	assert_int_equal(store_action_claim(st, "k2", "U3", 101 + 10), VIVA_EDUP);
	assert_int_equal(store_action_claim(st, "k2", "U3", 101 + STORE_ACTION_STALE_S + 1), VIVA_OK);
	/* ...but a finished one never is */
	assert_int_equal(store_action_claim(st, "promote:1.2:svc:tag", "U3", 100000), VIVA_EDUP);
	assert_int_equal(store_image_created_get(st, "sha256:x", &created), VIVA_ENOENT);
	assert_int_equal(store_image_created_put(st, "sha256:x", 1700000000), VIVA_OK);
	assert_int_equal(store_image_created_get(st, "sha256:x", &created), VIVA_OK);
	assert_int_equal(created, 1700000000);
	store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(store__fresh_file__wal_mode_and_latest_version),
		T(store__memory__opens_in_memory_mode),
		T(store__journal_mode_small_buffer__erange),
		T(store__migrate_from_each_older_version__data_survives),
		T(store__migrate_to_4__images_filled_in_from_specs),
		T(store__stopped_at_older_version__later_tables_absent),
		T(store__newer_schema__refused_with_log_line),
		T(store__failed_migration__rolled_back),
		T(store__open_at_version__out_of_range_einval),
		T(store__missing_directory__fails_without_crash),
		T(store__not_a_database__fails_without_crash),
		T(store__null_store__einval),
		T(audit__list__newest_first_with_limit),
		T(audit__list__target_filter),
		T(audit__add__defaults_applied),
		T(audit__hostile_text__stored_literally),
		T(envelope__claim__new_then_dup),
		T(outbox__put_replace_list_remove),
		T(node_reports__newest_first_and_pruned_per_host),
		T(node_upgrades__wanted_replaced_cleared_and_stops),
		T(envelope__prune__removes_only_older),
		T(envelope__concurrent_claims_one_store__one_winner_per_key),
		T(envelope__concurrent_claims_own_stores__one_winner_per_key),
		T(schedule__claim_finish_last),
		T(services__put_get_list_revisions_delete_revive),
		T(actions__claim_once_then_dup_with_result),
	};

	/* Keep expected info lines (migrations) out of the test output. */
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
