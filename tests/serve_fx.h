#ifndef VIVA_TESTS_SERVE_FX_H
#define VIVA_TESTS_SERVE_FX_H

/*
 * The fixture of the end-to-end tests: `viva serve` as a process, as it is
 * installed (an empty working directory, a clean environment), against the
 * fake Slack (tests/fake_slack.c) on 127.0.0.1, driven through the fake's
 * /_fake/ control API. Every wait is bounded. Failures are cmocka
 * assertions.
 */
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/proc.h"
#include "tests/registry_proxy.h"
#include "tests/registry_server.h"
#include "tests/tls_front.h"

struct fake_kube;

struct fx {
	char *dir;
	int port;             /* fake Slack */
	int http_port;        /* viva's endpoint */
	struct proc fake;
	struct proc viva;
	char base[128];       /* the fake's control API */
	char api_base[160];   /* SLACK_API_BASE for viva: the fake's, or the TLS front's */
	struct tls_front *front;
	char *ca_dir;         /* SSL_CERT_DIR for viva (TLS tests), or NULL */
	const char *ca_file;  /* SSL_CERT_FILE for viva (TLS tests): "" unless set */
	bool bare;            /* viva gets the Slack settings and nothing else */
	int hung_fd;          /* a "registry" that takes connections and never answers, or 0 */
	struct registry_server reg;   /* docker-registry, when reg.port != 0 */
	struct regproxy *proxy;       /* in front of it */
	long fd_hard;         /* the descriptor hard limit viva was started with */
	struct fake_kube *kube;       /* an in-process fake Kubernetes API server, or NULL */
};

/* viva and the fake Slack, absolute: set by fx_find_bins. */
extern char fx_viva_bin[PATH_MAX], fx_fake_bin[PATH_MAX];
/* From VIVA_BIN and FAKE_SLACK (defaults: build/san/...); 0, or 1 with a line on stderr. */
int fx_find_bins(const char *test_name);

void fx_sleep_ms(long ms);

/* ---- the fake Slack ------------------------------------------------------------------- */

/* GET (body NULL) or POST /_fake/PATH; the JSON answer (caller decrefs). */
json_t *fx_ctl(struct fx *f, const char *path, const char *body);
long fx_state_int(struct fx *f, const char *key);
/* Wait until the fake's state[key] >= want. */
bool fx_wait_state(struct fx *f, const char *key, long want, long timeout_ms);
/* Recorded Web API / response_url calls of one method: [{method, body, response, status, t_ms}]. */
json_t *fx_calls(struct fx *f, const char *method);
size_t fx_calls_n(struct fx *f, const char *method);
/* Wait until there are at least `want` calls of method; how many there are. */
size_t fx_wait_calls(struct fx *f, const char *method, size_t want, long timeout_ms);
int64_t fx_call_t_ms(json_t *c, size_t i);
long fx_call_status(json_t *c, size_t i);
/* The first call of method whose body contains `needle` (JSON-encoded, as
 * "chat.update" bodies read), waited for; NULL (and the calls on stderr). */
json_t *fx_wait_call_with(struct fx *f, const char *method, const char *needle, long timeout_ms);
/* The last ack of an envelope, waited for (caller decrefs), or NULL. */
json_t *fx_wait_ack(struct fx *f, const char *envelope_id, long timeout_ms);
/* A slash command /viva TEXT from U0ALICE in C0TEST; extra is more JSON members of the send. */
json_t *fx_send_slash(struct fx *f, const char *text, const char *extra);
json_t *fx_send_slash_payload(struct fx *f, const char *payload);

/* ---- viva ----------------------------------------------------------------------------- */

void fx_start_fake(struct fx *f);
/*
 * Start viva serve from DIR/run with a clean environment: the Slack
 * settings, and unless f->bare VIVA_DB=DIR/viva.db, VIVA_CONFIG=DIR/viva.yaml
 * (written: workers: 2 and queue_size: 64 unless extra_yaml says workers:,
 * pipelines.dir DIR/pipelines, then extra_yaml), VIVA_HTTP_LISTEN on a free
 * port and VIVA_LOG_LEVEL=info. extra_env: "K=V" lines ('\n'-separated), or NULL.
 * A restart (the same f) keeps the directory and the database.
 */
void fx_start_viva(struct fx *f, const char *extra_env, const char *extra_yaml);
/* The same environment and configuration for another subcommand (`viva doctor`). */
void fx_start_viva_as(struct fx *f, const char *subcommand, const char *extra_env, const char *extra_yaml);
/* 0 once viva says its Socket Mode link is up, else -1 with its log. */
int fx_wait_link(struct fx *f);
/* kill -9 viva and reap it. */
void fx_kill9(struct fx *f);
/* A new fixture (f->dir, the fake Slack, viva) as *state; wait_connected: fx_wait_link's result. */
int fx_setup(void **state, const char *extra_env, const char *extra_yaml, bool wait_connected);
/* viva stopped (its log must hold no sanitizer report: else -1), then everything else. */
int fx_teardown(void **state);

/* ---- what viva did ----------------------------------------------------------------------- */

/* The first column of the first row of sql in the database at path, or NULL (caller frees). */
char *fx_sqlite_value(const char *path, const char *sql);
/* The same in viva's database (DIR/viva.db). */
char *fx_db_value(struct fx *f, const char *sql);
/* ... is want (else the test fails, saying what it is). */
void fx_db_expect(struct fx *f, const char *sql, const char *want);
/* Run sql on viva's database (viva stopped, or between its writes); fails the test on error. */
void fx_db_exec(struct fx *f, const char *sql);
/* A line of /metrics, e.g. "viva_replies_total{kind=\"message\",result=\"deferred\"} 1". */
bool fx_metrics_has(struct fx *f, const char *line);

#endif
