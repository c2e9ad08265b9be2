/* The end-to-end fixture (see serve_fx.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/serve_fx.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

char fx_viva_bin[PATH_MAX], fx_fake_bin[PATH_MAX];

int fx_find_bins(const char *test_name)
{
	const char *vb = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";
	const char *fb = getenv("FAKE_SLACK") ? getenv("FAKE_SLACK") : "build/san/tests/fake_slack";

	if (!realpath(vb, fx_viva_bin) || !realpath(fb, fx_fake_bin)) {
		fprintf(stderr, "%s: need %s and %s\n", test_name, vb, fb);
		return 1;
	}
	return 0;
}

void fx_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- the fake Slack ------------------------------------------------------------------- */

json_t *fx_ctl(struct fx *f, const char *path, const char *body)
{
	char *url = xasprintf("%s/_fake/%s", f->base, path);
	json_t *j = body ? http_post_json(url, body) : http_get_json(url);
	free(url);
	return j;
}

long fx_state_int(struct fx *f, const char *key)
{
	json_t *s = fx_ctl(f, "state", NULL);
	long v = (long)json_integer_value(json_object_get(s, key));
	json_decref(s);
	return v;
}

bool fx_wait_state(struct fx *f, const char *key, long want, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;
	while (now_ms_mono() < end) {
		if (fx_state_int(f, key) >= want)
			return true;
		fx_sleep_ms(20);
	}
	return false;
}

json_t *fx_calls(struct fx *f, const char *method)
{
	char *path = xasprintf("calls?method=%s", method);
	json_t *j = fx_ctl(f, path, NULL);
	json_t *c = json_incref(json_object_get(j, "calls"));
	free(path);
	json_decref(j);
	return c ? c : json_array();
}

size_t fx_calls_n(struct fx *f, const char *method)
{
	json_t *c = fx_calls(f, method);
	size_t n = json_array_size(c);

	json_decref(c);
	return n;
}

size_t fx_wait_calls(struct fx *f, const char *method, size_t want, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;
	size_t n = 0;
	while (now_ms_mono() < end) {
		json_t *c = fx_calls(f, method);
		n = json_array_size(c);
		json_decref(c);
		if (n >= want)
			break;
		fx_sleep_ms(20);
	}
	return n;
}

int64_t fx_call_t_ms(json_t *c, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(c, i), "t_ms"));
}

long fx_call_status(json_t *c, size_t i)
{
	return (long)json_integer_value(json_object_get(json_array_get(c, i), "status"));
}

json_t *fx_wait_call_with(struct fx *f, const char *method, const char *needle, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;
	json_t *found = NULL, *c = NULL;

	for (;;) {
		json_decref(c);
		c = fx_calls(f, method);
		for (size_t j = 0; j < json_array_size(c) && !found; j++) {
			char *b = json_dumps(json_object_get(json_array_get(c, j), "body"), 0);

			if (b && strstr(b, needle))
				found = json_incref(json_array_get(c, j));
			free(b);
		}
		if (found || now_ms_mono() >= end)
			break;
		fx_sleep_ms(25);
	}
	if (!found) {
		char *s = json_dumps(c, JSON_INDENT(1)), *l = proc_log(&f->viva);

		fprintf(stderr, "no %s with \"%s\"; the calls: %s\nviva's log:\n%s\n", method, needle, s ? s : "", l);
		free(l);
		free(s);
	}
	json_decref(c);
	return found;
}

/* The last ack of an envelope, from the fake's records. */
static json_t *ack_of(struct fx *f, const char *envelope_id)
{
	json_t *a = fx_ctl(f, "acks", NULL), *v, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(a, "acks"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "envelope_id")), envelope_id) == 0)
			found = v;
	found = json_incref(found);
	json_decref(a);
	return found;
}

json_t *fx_wait_ack(struct fx *f, const char *envelope_id, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;
	json_t *a = NULL;

	while (!a && now_ms_mono() < end) {
		a = ack_of(f, envelope_id);
		if (!a)
			fx_sleep_ms(20);
	}
	return a;
}

json_t *fx_send_slash(struct fx *f, const char *text, const char *extra)
{
	char *body = xasprintf("{\"type\":\"slash_commands\",\"payload\":{\"command\":\"/viva\",\"text\":\"%s\","
			       "\"user_id\":\"U0ALICE\",\"channel_id\":\"C0TEST\"}%s}", text, extra ? extra : "");
	json_t *r = fx_ctl(f, "send", body);
	free(body);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	return r;
}

json_t *fx_send_slash_payload(struct fx *f, const char *payload)
{
	char *body = xasprintf("{\"type\":\"slash_commands\",\"payload\":%s}", payload);
	json_t *r = fx_ctl(f, "send", body);
	free(body);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	return r;
}

/* ---- viva ----------------------------------------------------------------------------- */

void fx_start_fake(struct fx *f)
{
	char port[16], *log = xasprintf("%s/fake.log", f->dir);
	char *argv[] = { fx_fake_bin, "--port", port, "--ack-timeout-ms", "3000", NULL };

	f->port = free_port();
	snprintf(port, sizeof(port), "%d", f->port);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	snprintf(f->api_base, sizeof(f->api_base), "%s/api/", f->base);
	assert_int_equal(proc_start(&f->fake, argv, NULL, log), 0);
	assert_true(proc_wait_log(&f->fake, "READY", 10000));
	free(log);
}

/*
 * viva runs as it is installed: from an empty directory of its own (run/),
 * with a clean environment holding only what the test gives it. With
 * f->bare, not even VIVA_DB or VIVA_CONFIG: everything at its defaults,
 * relative to that directory.
 */
void fx_start_viva(struct fx *f, const char *extra_env, const char *extra_yaml)
{
	fx_start_viva_as(f, "serve", extra_env, extra_yaml);
}

void fx_start_viva_as(struct fx *f, const char *subcommand, const char *extra_env, const char *extra_yaml)
{
	char *log = xasprintf("%s/viva.log", f->dir);
	char *run = xasprintf("%s/run", f->dir);
	char *e[24];
	int n = 0;
	char *argv[] = { fx_viva_bin, (char *)subcommand, NULL };
	char *cfg = xasprintf("%s/viva.yaml", f->dir);

	assert_true(mkdir(run, 0755) == 0 || errno == EEXIST);   /* a restart: the same directory */
	if (!f->bare) {
		/* extra_yaml may set its own pool size */
		bool sized = extra_yaml && strstr(extra_yaml, "workers:");
		char *yaml = xasprintf("%spipelines: { dir: %s/pipelines }\n%s",
				       sized ? "" : "workers: 2\nqueue_size: 64\n", f->dir,
				       extra_yaml ? extra_yaml : "");
		test_write_file(cfg, yaml);
		free(yaml);
	}
	f->http_port = free_port();
	e[n++] = xstrdup("SLACK_APP_TOKEN=xapp-test");
	e[n++] = xstrdup("SLACK_BOT_TOKEN=xoxb-test");
	e[n++] = xasprintf("SLACK_API_BASE=%s", f->api_base);
	if (!f->bare) {
		e[n++] = xasprintf("VIVA_DB=%s/viva.db", f->dir);
		e[n++] = xasprintf("VIVA_CONFIG=%s", cfg);
		e[n++] = xasprintf("VIVA_HTTP_LISTEN=127.0.0.1:%d", f->http_port);
		e[n++] = xstrdup("VIVA_LOG_LEVEL=info");
	}
	if (!extra_env) {
		e[n++] = xstrdup("VIVA_TEST_NOTHING=1");
	} else {
		/* later lines win over the defaults above (putenv in order) */
		for (const char *p = extra_env; *p && n < 16;) {
			size_t len = strcspn(p, "\n");

			if (len)
				e[n++] = xstrndup(p, len);
			p += len + (p[len] == '\n');
		}
	}
	if (f->ca_dir) {
		/* only the test's CA, found through the hashed directory; the
		 * bundle a CI machine may name in these must not be used */
		e[n++] = xasprintf("SSL_CERT_DIR=%s", f->ca_dir);
		e[n++] = xasprintf("SSL_CERT_FILE=%s", f->ca_file ? f->ca_file : "");
		e[n++] = xstrdup("CURL_CA_BUNDLE=");
	}
	e[n] = NULL;
	assert_int_equal(proc_start_in(&f->viva, run, true, argv, e, log), 0);
	/* putenv in the child kept pointers into e: the parent may free now */
	for (int i = 0; i < n; i++)
		free(e[i]);
	free(cfg);
	free(run);
	free(log);
}

int fx_wait_link(struct fx *f)
{
	char *l;

	if (proc_wait_log(&f->viva, "socket mode connected", 15000))
		return 0;
	l = proc_log(&f->viva);
	fprintf(stderr, "viva did not connect:\n%s\n", l);
	free(l);
	return -1;
}

void fx_kill9(struct fx *f)
{
	assert_int_equal(proc_stop(&f->viva, SIGKILL, 5000), 128 + SIGKILL);
	proc_release(&f->viva);
}

int fx_setup(void **state, const char *extra_env, const char *extra_yaml, bool wait_connected)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->dir = test_tmpdir();
	fx_start_fake(f);
	fx_start_viva(f, extra_env, extra_yaml);
	*state = f;
	return wait_connected ? fx_wait_link(f) : 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	char *log;

	if (!f)
		return 0;
	if (f->viva.pid > 0) {   /* a test may fail before it starts viva */
		proc_stop(&f->viva, SIGTERM, 30000);
		log = proc_log(&f->viva);
		/* the sanitizers must have nothing to say about the whole run */
		if (strstr(log, "ERROR: AddressSanitizer") || strstr(log, "ERROR: LeakSanitizer") ||
		    strstr(log, "runtime error:")) {
			fprintf(stderr, "sanitizer report from viva:\n%s\n", log);
			free(log);
			return -1;
		}
		free(log);
		proc_release(&f->viva);
	}
	if (f->hung_fd > 0)
		close(f->hung_fd);
	if (f->proxy)
		regproxy_stop(f->proxy);
	if (f->reg.port)
		registry_server_stop(&f->reg);
	tls_front_stop(f->front);
	fake_kube_stop(f->kube);
	proc_stop(&f->fake, SIGTERM, 5000);
	proc_release(&f->fake);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f->ca_dir);
	free(f);
	return 0;
}

/* ---- what viva did ----------------------------------------------------------------------- */

char *fx_sqlite_value(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0))
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

char *fx_db_value(struct fx *f, const char *sql)
{
	char *db = xasprintf("%s/viva.db", f->dir), *v = fx_sqlite_value(db, sql);

	free(db);
	return v;
}

void fx_db_exec(struct fx *f, const char *sql)
{
	char *path = xasprintf("%s/viva.db", f->dir), *err = NULL;
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	sqlite3_close(db);
	free(path);
}

void fx_db_expect(struct fx *f, const char *sql, const char *want)
{
	char *v = fx_db_value(f, sql);

	if (!v || strcmp(v, want) != 0)
		fail_msg("%s: got %s, want %s", sql, v ? v : "(no row)", want);
	free(v);
}

bool fx_metrics_has(struct fx *f, const char *line)
{
	char *url = xasprintf("http://127.0.0.1:%d/metrics", f->http_port);
	long st = 0;
	char *b = http_get(url, &st);
	bool found = st == 200 && b && strstr(b, line);

	if (!found)
		fprintf(stderr, "metrics lack \"%s\":\n%s\n", line, b ? b : "(none)");
	free(b);
	free(url);
	return found;
}
