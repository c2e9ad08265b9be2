/*
 * End to end: `viva serve` as a process against the fake Slack
 * (tests/fake_slack.c) on 127.0.0.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "tests/helpers.h"
#include "tests/registry_push.h"
#include "tests/serve_fx.h"

static int setup_common(void **state, const char *extra_env, bool wait_connected)
{
	return fx_setup(state, extra_env, NULL, wait_connected);
}

static int setup_realtime(void **state)
{
	return fx_setup(state, NULL, "loop_priority: realtime\n", true);
}

static int setup(void **state)
{
	return setup_common(state, NULL, true);
}

/* One slow worker and room for two queued jobs: the third waiting is refused. */
static int setup_tiny_queue(void **state)
{
	return fx_setup(state, "VIVA_DEBUG_JOB_DELAY_MS=1000", "workers: 1\nqueue_size: 2\n", true);
}

/* Only the Slack settings: no viva.yaml, no VIVA_DB, no templates directory. */
static int setup_bare(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->dir = test_tmpdir();
	f->bare = true;
	fx_start_fake(f);
	fx_start_viva(f, NULL, NULL);
	*state = f;
	return fx_wait_link(f);
}

static int setup_slow(void **state)
{
	return setup_common(state, "VIVA_DEBUG_JOB_DELAY_MS=1500", true);
}

static void serve__help__answered_through_response_url(void **state)
{
	struct fx *f = *state;
	json_t *c, *body;
	char *s;

	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	c = fx_calls(f, "response_url");
	body = json_object_get(json_array_get(c, 0), "body");
	s = json_dumps(body, 0);
	assert_non_null(strstr(s, "/viva help [COMMAND]"));
	assert_string_equal(json_string_value(json_object_get(body, "response_type")), "ephemeral");
	/* the fake validated it as Slack would: */
	assert_true(json_is_true(json_object_get(json_object_get(json_array_get(c, 0), "response"), "ok")));
	free(s);
	json_decref(c);
	/* a ws:// link sets up no TLS client at all (no CA bundle in memory) */
	s = proc_log(&f->viva);
	assert_null(strstr(s, "tls client ready"));
	free(s);
}

/*
 * Installed anywhere (a systemd unit's working directory, a container, a
 * temp dir): viva needs no file beside it. Its templates are built in; the
 * database is made where VIVA_DB's default says, in its own directory.
 */
static void serve__empty_directory__answers_with_built_in_templates(void **state)
{
	struct fx *f = *state;
	json_t *c, *body;
	char *s, *db = xasprintf("%s/run/viva.db", f->dir);
	struct stat st;

	json_decref(fx_send_slash(f, "help", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	c = fx_calls(f, "response_url");
	body = json_object_get(json_array_get(c, 0), "body");
	s = json_dumps(body, 0);
	assert_non_null(strstr(s, "/viva help [COMMAND]"));
	assert_true(json_is_true(json_object_get(json_object_get(json_array_get(c, 0), "response"), "ok")));
	free(s);
	json_decref(c);
	assert_int_equal(stat(db, &st), 0);
	s = proc_log(&f->viva);
	assert_null(strstr(s, "No such file"));
	assert_null(strstr(s, "level=error"));
	free(s);
	free(db);
}

/*
 * loop_priority: realtime: the thread that acks runs SCHED_FIFO and no other
 * thread does (they were started before it, and helpers it starts drop it);
 * without the privilege, one warning and the normal priority.
 */
static void serve__loop_priority_realtime__only_the_loop_thread(void **state)
{
	struct fx *f = *state;
	pid_t pid = f->viva.pid;
	char path[64];
	DIR *d;
	struct dirent *de;
	int fifo = 0, others = 0;

	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		int pol;

		if (tid <= 0)
			continue;
		pol = sched_getscheduler(tid);
		if (tid == pid)
			fifo = pol == SCHED_FIFO;
		else if (pol == SCHED_FIFO)
			others++;
	}
	closedir(d);
	assert_int_equal(others, 0);
	if (!fifo) {
		/* not privileged here: it says so, once, and carries on */
		assert_true(proc_wait_log(&f->viva, "loop_priority realtime refused", 1000));
	} else {
		assert_true(proc_wait_log(&f->viva, "policy=SCHED_FIFO", 1000));
	}
}

/*
 * The queue is full: the envelope is still acked at once, and the user is
 * told in the ack itself that viva is busy; nothing is lost silently.
 */
static void serve__queue_full__busy_said_in_the_ack(void **state)
{
	struct fx *f = *state;
	json_t *acks, *list;
	size_t i, busy = 0, n;

	for (i = 0; i < 6; i++)
		json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 6, 5000));
	acks = fx_ctl(f, "acks", NULL);
	list = json_object_get(acks, "acks");
	n = json_array_size(list);
	assert_int_equal(n, 6);
	for (i = 0; i < n; i++) {
		json_t *p = json_object_get(json_array_get(list, i), "payload");
		const char *t = json_string_value(json_object_get(p, "text"));
		if (t && strstr(t, "viva is busy"))
			busy++;
	}
	json_decref(acks);
	/* one running, two queued at most: three or more were refused */
	assert_true(busy >= 3);
	assert_true(busy <= 5);
	/* the rest are answered once the worker gets to them */
	assert_int_equal(fx_wait_calls(f, "response_url", 6 - busy, 15000), 6 - busy);
	assert_true(proc_wait_log(&f->viva, "queue full; envelope refused", 1000));
}

static void serve__healthz_and_metrics__reflect_the_link(void **state)
{
	struct fx *f = *state;
	char *url = xasprintf("http://127.0.0.1:%d/healthz", f->http_port);
	long st;
	char *b = http_get(url, &st);

	assert_int_equal(st, 200);
	assert_non_null(strstr(b, "\"status\":\"ok\""));
	free(b);
	free(url);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	url = xasprintf("http://127.0.0.1:%d/metrics", f->http_port);
	b = http_get(url, &st);
	assert_int_equal(st, 200);
	assert_non_null(strstr(b, "viva_envelopes_total{type=\"slash_commands\"} 1"));
	assert_non_null(strstr(b, "viva_acks_total 1"));
	assert_non_null(strstr(b, "viva_ack_latency_seconds_bucket"));
	assert_non_null(strstr(b, "viva_connected 1"));
	free(b);
	free(url);
	url = xasprintf("http://127.0.0.1:%d/nope", f->http_port);
	b = http_get(url, &st);
	assert_int_equal(st, 404);
	free(b);
	free(url);
	/* a body where none is expected: refused, and the endpoint stays up */
	url = xasprintf("http://127.0.0.1:%d/healthz", f->http_port);
	b = http_post(url, "application/json", "{\"garbage\": [1, 2", &st);
	assert_int_equal(st, 405);
	free(b);
	b = http_get(url, &st);
	assert_int_equal(st, 200);
	free(b);
	free(url);
}

static void serve__slow_job__does_not_delay_next_ack(void **state)
{
	struct fx *f = *state;
	json_t *a;

	/* every job sleeps 1.5 s; acks must not wait for them */
	for (int i = 0; i < 4; i++)
		json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 4, 3000));
	a = fx_ctl(f, "acks", NULL);
	assert_true(json_integer_value(json_object_get(a, "max_us")) < 500000);
	json_decref(a);
	assert_int_equal(fx_wait_calls(f, "response_url", 4, 15000), 4);
	assert_int_equal(fx_state_int(f, "operation_timeouts"), 0);
}

static void serve__duplicate_delivery__runs_once(void **state)
{
	struct fx *f = *state;

	json_decref(fx_send_slash(f, "help", ",\"twice\":true"));
	assert_true(fx_wait_state(f, "acks", 2, 5000));       /* both acked */
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	fx_sleep_ms(700);
	assert_int_equal(fx_wait_calls(f, "response_url", 2, 300), 1);   /* but answered once */
}

static void serve__refresh_requested__new_link_first_nothing_lost(void **state)
{
	struct fx *f = *state;
	json_t *r;

	r = fx_ctl(f, "disconnect", "{\"reason\":\"refresh_requested\",\"which\":\"all\"}");
	json_decref(r);
	/* envelopes sent during the hand-over */
	for (int i = 0; i < 10; i++) {
		json_decref(fx_send_slash(f, "help", NULL));
		fx_sleep_ms(30);
	}
	assert_true(fx_wait_state(f, "acks", 10, 10000));
	assert_int_equal(fx_wait_calls(f, "response_url", 10, 15000), 10);
	assert_true(fx_state_int(f, "connections_opened") >= 2);
	assert_int_equal(fx_state_int(f, "operation_timeouts"), 0);
	/* the old socket is closed after the grace period; one stays */
	for (int i = 0; i < 200 && fx_state_int(f, "connections") != 1; i++)
		fx_sleep_ms(50);
	assert_int_equal(fx_state_int(f, "connections"), 1);
}

static void serve__abrupt_drop__reconnects_and_handles_later_envelopes(void **state)
{
	struct fx *f = *state;

	json_decref(fx_ctl(f, "drop", "{}"));
	assert_true(fx_wait_state(f, "connections_opened", 2, 15000));
	assert_true(proc_wait_log(&f->viva, "conn=2 num_connections", 10000));
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
}

static void serve__rate_limited__waits_retry_after(void **state)
{
	struct fx *f = *state;
	json_t *c;
	int64_t t1, t2;

	/* No response_url: the answer goes through chat.postEphemeral, which
	 * Slack rate-limits with 429 + Retry-After. */
	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"chat.postEphemeral\",\"count\":1,\"retry_after\":1}"));
	json_decref(fx_send_slash_payload(f, "{\"text\":\"help\",\"user_id\":\"U0ALICE\","
				       "\"channel_id\":\"C0TEST\",\"response_url\":\"\"}"));
	assert_int_equal(fx_wait_calls(f, "chat.postEphemeral", 2, 15000), 2);
	c = fx_calls(f, "chat.postEphemeral");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 0), "status")), 429);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 1), "status")), 200);
	t1 = json_integer_value(json_object_get(json_array_get(c, 0), "t_ms"));
	t2 = json_integer_value(json_object_get(json_array_get(c, 1), "t_ms"));
	assert_true(t2 - t1 >= 900);
	json_decref(c);
}

/* One worker, so that a worker asleep on a Retry-After would hold everything. */
static int setup_one_worker(void **state)
{
	return fx_setup(state, NULL, "workers: 1\nqueue_size: 64\n", true);
}

/*
 * Slack says "retry after 3 s" on both ways an answer can go (the
 * response_url and chat.postEphemeral). The answer is kept and sent again
 * from a timer; the only worker is free at once, so the next /viva help is
 * answered in well under a second. Before: the worker slept on the
 * Retry-After and the next command waited behind it.
 */
static void serve__long_retry_after__deferred_not_slept(void **state)
{
	struct fx *f = *state;
	json_t *c;

	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"response_url\",\"count\":1,\"retry_after\":3}"));
	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"chat.postEphemeral\",\"count\":1,\"retry_after\":3}"));
	json_decref(fx_send_slash(f, "help", NULL));
	assert_int_equal(fx_wait_calls(f, "chat.postEphemeral", 1, 10000), 1);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_calls(f, "response_url", 2, 10000) >= 2);
	c = fx_calls(f, "response_url");
	assert_int_equal(fx_call_status(c, 0), 429);
	assert_int_equal(fx_call_status(c, 1), 200);   /* the second help */
	assert_true(fx_call_t_ms(c, 1) - fx_call_t_ms(c, 0) < 1500);
	json_decref(c);
	/* the first answer arrives once the 3 s have passed, exactly once */
	assert_int_equal(fx_wait_calls(f, "response_url", 3, 15000), 3);
	fx_sleep_ms(1500);
	c = fx_calls(f, "response_url");
	assert_int_equal(json_array_size(c), 3);
	assert_int_equal(fx_call_status(c, 2), 200);
	assert_true(fx_call_t_ms(c, 2) - fx_call_t_ms(c, 0) >= 2900);
	json_decref(c);
	assert_int_equal(fx_calls_n(f, "chat.postEphemeral"), 1);
	assert_true(fx_metrics_has(f, "viva_replies_total{kind=\"message\",result=\"deferred\"} 1"));
	assert_true(fx_metrics_has(f, "viva_replies_total{kind=\"message\",result=\"delivered\"} 2"));
}

/*
 * Slack is down (503 on everything that carries an answer) for longer than
 * the calls' own retries: the answer is not dropped after two tries but
 * tried again with backoff, and arrives once Slack is back.
 */
static void serve__slack_outage__answer_retried_until_back(void **state)
{
	struct fx *f = *state;
	json_t *c;
	size_t ok = 0;

	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"response_url\",\"count\":3,\"retry_after\":0,\"status\":503}"));
	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"chat.postEphemeral\",\"count\":3,\"retry_after\":0,\"status\":503}"));
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_calls(f, "response_url", 4, 30000) >= 4);
	fx_sleep_ms(1000);
	c = fx_calls(f, "response_url");
	for (size_t i = 0; i < json_array_size(c); i++)
		ok += fx_call_status(c, i) == 200;
	json_decref(c);
	assert_int_equal(ok, 1);   /* answered, once */
	assert_true(proc_wait_log(&f->viva, "answer deferred", 1000));
}

/* Slack down for good: every way an answer can go answers 503. */
static void slack_down(struct fx *f, int count)
{
	char *body;

	body = xasprintf("{\"method\":\"response_url\",\"count\":%d,\"retry_after\":0,\"status\":503}", count);
	json_decref(fx_ctl(f, "ratelimit", body));
	free(body);
	body = xasprintf("{\"method\":\"chat.postEphemeral\",\"count\":%d,\"retry_after\":0,\"status\":503}",
			 count);
	json_decref(fx_ctl(f, "ratelimit", body));
	free(body);
}

/* How many answers got through (200), and whether each is the help text. */
static size_t help_answers_delivered(struct fx *f)
{
	json_t *c = fx_calls(f, "response_url");
	size_t ok = 0;

	for (size_t i = 0; i < json_array_size(c); i++) {
		char *b = json_dumps(json_object_get(json_array_get(c, i), "body"), 0);

		if (fx_call_status(c, i) == 200) {
			assert_non_null(strstr(b, "/viva help [COMMAND]"));
			ok++;
		}
		free(b);
	}
	json_decref(c);
	return ok;
}

/*
 * An answer deferred during a Slack outage survives the process. Slack is
 * down, `/viva help` runs and its answer waits (kept in the store); viva is
 * killed (-9), or stopped; Slack comes back and viva starts again: the
 * answer is delivered, once, and the store forgets it. Before: the answer
 * lived in memory only, and the request was marked done, so nothing ever
 * sent it.
 */
static void deferred_answer_across_a_restart(struct fx *f, bool kill9)
{
	slack_down(f, 100000);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(proc_wait_log(&f->viva, "answer deferred", 10000));
	fx_db_expect(f, "SELECT count(*) FROM outbox", "1");
	if (kill9) {
		fx_kill9(f);
	} else {
		assert_int_equal(proc_stop(&f->viva, SIGTERM, 10000), 0);
		assert_true(proc_wait_log(&f->viva, "deferred answers kept for the next start", 100));
		proc_release(&f->viva);
	}
	fx_db_expect(f, "SELECT count(*) FROM outbox", "1");
	assert_int_equal(help_answers_delivered(f), 0);
	slack_down(f, 0);
	fx_start_viva(f, NULL, "workers: 1\nqueue_size: 64\n");
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"deferred answers resumed\" resumed=1 given_up=0", 5000));
	assert_true(fx_wait_calls(f, "response_url", 1, 10000) >= 1);
	for (int i = 0; i < 100 && help_answers_delivered(f) < 1; i++)
		fx_sleep_ms(50);
	fx_sleep_ms(500);
	assert_int_equal(help_answers_delivered(f), 1);   /* once */
	fx_db_expect(f, "SELECT count(*) FROM outbox", "0");
	/* nothing is resumed a second time */
	assert_int_equal(proc_stop(&f->viva, SIGTERM, 10000), 0);
	proc_release(&f->viva);
	fx_start_viva(f, NULL, "workers: 1\nqueue_size: 64\n");
	assert_int_equal(fx_wait_link(f), 0);
	fx_sleep_ms(300);
	assert_false(proc_wait_log(&f->viva, "deferred answers resumed", 100));
	assert_int_equal(help_answers_delivered(f), 1);
}

static void serve__slack_outage_then_kill_9__deferred_answer_sent_after_restart(void **state)
{
	deferred_answer_across_a_restart(*state, true);
}

static void serve__slack_outage_then_stop__deferred_answer_sent_by_next_start(void **state)
{
	deferred_answer_across_a_restart(*state, false);
}

/*
 * What the store keeps for the next start is checked before it is sent:
 * a row past its response_url's lifetime and rows that are not what viva
 * writes (hand-edited, a damaged file) are given up, logged and counted,
 * and removed; none is sent, nothing crashes.
 */
static void serve__stale_or_unreadable_deferred_answers__given_up_at_start(void **state)
{
	struct fx *f = *state;
	long long soon = (long long)time(NULL) + 600;
	char *sql;

	assert_int_equal(proc_stop(&f->viva, SIGTERM, 10000), 0);
	proc_release(&f->viva);
	sql = xasprintf("INSERT INTO outbox(route, msgs, deadline, tries) VALUES"
			" ('{\"response_url\":\"http://127.0.0.1:%d/_respond/old\",\"response_url_uses\":0}',"
			"  '[[{\"text\":\"old\"},0]]', %lld, 0),"
			" ('not json', '[[{\"text\":\"x\"},0]]', %lld, 0),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":0}', '[[\"not an object\",0]]', %lld, 0),"
			" ('{\"response_url\":7,\"response_url_uses\":0}', '[[{\"text\":\"x\"},0]]', %lld, 0),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":0}', '[]', %lld, 0),"
			/* numbers no viva writes: a deadline past any lifetime (which
			 * once overflowed), tries below zero or past an int, uses of
			 * response_url out of range */
			" ('{\"response_url\":\"x\",\"response_url_uses\":0}', '[[{\"text\":\"x\"},0]]',"
			"  9223372036854775807, 0),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":0}', '[[{\"text\":\"x\"},0]]', %lld, -5),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":0}', '[[{\"text\":\"x\"},0]]', %lld,"
			"  99999999999),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":99}', '[[{\"text\":\"x\"},0]]', %lld, 0),"
			" ('{\"response_url\":\"x\",\"response_url_uses\":-1}', '[[{\"text\":\"x\"},0]]', %lld, 0)",
			f->port, (long long)time(NULL) - 60, soon, soon, soon, soon, soon, soon, soon, soon);
	fx_db_exec(f, sql);
	free(sql);
	fx_start_viva(f, NULL, NULL);
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"deferred answers resumed\" resumed=0 given_up=10", 5000));
	assert_true(proc_wait_log(&f->viva, "reason=past_the_response_url_lifetime", 100));
	assert_true(proc_wait_log(&f->viva, "reason=unreadable", 100));
	fx_db_expect(f, "SELECT count(*) FROM outbox", "0");
	fx_sleep_ms(300);
	assert_int_equal(fx_calls_n(f, "response_url"), 0);
	assert_true(fx_metrics_has(f, "viva_replies_total{kind=\"message\",result=\"undelivered\"} 10"));
}

/*
 * viva stops while a deferred answer's retry hangs on its response_url (a
 * server that takes the connection and never answers; the fallback,
 * chat.postEphemeral, answers 503): the retry fails after viva's timers
 * have stopped, and the
 * answer stays in the store for the next start. Before: it was given up,
 * as "past the response_url's lifetime", and its row deleted.
 */
static void serve__stopped_during_a_hung_retry__answer_kept(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char *payload;

	f->hung_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->hung_fd > 0);
	assert_int_equal(bind(f->hung_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->hung_fd, 64), 0);
	assert_int_equal(getsockname(f->hung_fd, (struct sockaddr *)&sa, &len), 0);
	/* the fallback, chat.postEphemeral, is down too */
	json_decref(fx_ctl(f, "ratelimit", "{\"method\":\"chat.postEphemeral\",\"count\":100000,"
			   "\"retry_after\":0,\"status\":503}"));
	payload = xasprintf("{\"text\":\"help\",\"user_id\":\"U0ALICE\","
			    "\"response_url\":\"http://127.0.0.1:%d/hooks/hung\"}", ntohs(sa.sin_port));
	json_decref(fx_send_slash_payload(f, payload));
	free(payload);
	/* the first try times out, the answer is kept; its retry hangs again */
	assert_true(proc_wait_log(&f->viva, "answer deferred", 60000));
	fx_db_expect(f, "SELECT count(*) FROM outbox", "1");
	fx_sleep_ms(2500);   /* the retry (after 1 s) is under way */
	assert_int_equal(proc_stop(&f->viva, SIGTERM, 60000), 0);
	assert_true(proc_wait_log(&f->viva, "deferred answers kept for the next start", 100));
	assert_false(proc_wait_log(&f->viva, "deferred answers given up", 100));
	proc_release(&f->viva);
	fx_db_expect(f, "SELECT count(*) FROM outbox", "1");
}

/*
 * A row with two answers whose response_url is used up (five uses): the
 * restarted viva sends both, in order, as chat.postEphemeral (the uses are
 * kept with the row), and forgets the row.
 */
static void serve__resumed_answers__in_order_and_response_url_uses_kept(void **state)
{
	struct fx *f = *state;
	json_t *c;
	char *sql, *b0, *b1;

	assert_int_equal(proc_stop(&f->viva, SIGTERM, 10000), 0);
	proc_release(&f->viva);
	sql = xasprintf("INSERT INTO outbox(route, msgs, deadline, tries) VALUES"
			" ('{\"response_url\":\"http://127.0.0.1:%d/_never\",\"channel\":\"C0TEST\","
			"\"user\":\"U0ALICE\",\"response_url_uses\":5}',"
			"  '[[{\"text\":\"first answer\"},0],[{\"text\":\"second answer\"},0]]', %lld, 3)",
			f->port, (long long)time(NULL) + 600);
	fx_db_exec(f, sql);
	free(sql);
	fx_start_viva(f, NULL, NULL);
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"deferred answers resumed\" resumed=1 given_up=0", 5000));
	assert_int_equal(fx_wait_calls(f, "chat.postEphemeral", 2, 10000), 2);
	c = fx_calls(f, "chat.postEphemeral");
	b0 = json_dumps(json_object_get(json_array_get(c, 0), "body"), 0);
	b1 = json_dumps(json_object_get(json_array_get(c, 1), "body"), 0);
	assert_non_null(strstr(b0, "first answer"));
	assert_non_null(strstr(b1, "second answer"));
	assert_non_null(strstr(b0, "U0ALICE"));
	free(b0);
	free(b1);
	json_decref(c);
	assert_int_equal(fx_calls_n(f, "response_url"), 0);
	for (int i = 0; i < 50; i++) {
		char *n = fx_db_value(f, "SELECT count(*) FROM outbox");
		bool gone = n && strcmp(n, "0") == 0;

		free(n);
		if (gone)
			break;
		fx_sleep_ms(50);
	}
	fx_db_expect(f, "SELECT count(*) FROM outbox", "0");
}

/*
 * A registry that hangs: it takes connections (the kernel's backlog) and
 * never answers. Four workers, five `/viva tags` against it, then
 * `/viva help`: the registry's bulkhead (half the workers) holds two
 * workers; the other tags wait a moment and are told the registry is slow,
 * and help is answered in seconds. Before: every worker waited the
 * registry's 30 s timeout and help with them.
 */
static char *view_submission(const char *name, const char *cpu);

static int setup_hung_registry_with(void **state, const char *yaml)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char *path, *env;

	f->dir = test_tmpdir();
	f->hung_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->hung_fd > 0);
	assert_int_equal(bind(f->hung_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->hung_fd, 64), 0);
	assert_int_equal(getsockname(f->hung_fd, (struct sockaddr *)&sa, &len), 0);
	path = xasprintf("%s/pipelines/svc.yaml", f->dir);
	test_write_file(path, "name: svc\nowners: [U0ALICE]\nrepository: { name: svc }\nimage: team/svc\n"
			"pipeline: { type: service, interface: http, platform: linux/amd64 }\n");
	free(path);
	env = xasprintf("REGISTRY_URL=http://127.0.0.1:%d", ntohs(sa.sin_port));
	fx_start_fake(f);
	fx_start_viva(f, env, yaml);
	free(env);
	*state = f;
	return fx_wait_link(f);
}

static int setup_hung_registry(void **state)
{
	return setup_hung_registry_with(state, "workers: 4\nqueue_size: 64\n");
}

static int setup_hung_registry_one_worker(void **state)
{
	return setup_hung_registry_with(state, "workers: 1\nqueue_size: 64\n");
}

/*
 * The only worker waits on a hung registry; `/viva pipeline create` must
 * still open its form within the trigger_id's 3 s, and a submission's
 * errors must still come back in the ack: both go in the urgent lane.
 */
static void serve__busy_workers__forms_go_ahead(void **state)
{
	struct fx *f = *state;
	json_t *c, *r, *ack;
	char *body;

	json_decref(fx_send_slash(f, "tags svc", NULL));
	json_decref(fx_send_slash(f, "tags svc", NULL));
	assert_true(fx_wait_state(f, "acks", 2, 5000));
	fx_sleep_ms(300);
	json_decref(fx_send_slash(f, "pipeline create", NULL));
	assert_int_equal(fx_wait_calls(f, "views.open", 1, 5000), 1);
	c = fx_calls(f, "views.open");
	assert_true(json_is_true(json_object_get(json_object_get(json_array_get(c, 0), "response"), "ok")));
	json_decref(c);
	body = view_submission("Bad_Name", "lots");
	r = fx_ctl(f, "send", body);
	free(body);
	ack = fx_wait_ack(f, json_string_value(json_object_get(r, "envelope_id")), 5000);
	assert_non_null(ack);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ack, "payload"), "response_action")),
			    "errors");
	json_decref(ack);
	json_decref(r);
}

static void serve__hung_registry__help_still_answered(void **state)
{
	struct fx *f = *state;
	json_t *c;
	int64_t t0;
	size_t slow = 0;
	bool help = false;

	for (int i = 0; i < 5; i++)
		json_decref(fx_send_slash(f, "tags svc", NULL));
	assert_true(fx_wait_state(f, "acks", 5, 5000));
	fx_sleep_ms(200);
	t0 = now_ms_mono();
	json_decref(fx_send_slash(f, "help", NULL));
	for (int i = 0; i < 400 && !help && now_ms_mono() - t0 < 8000; i++) {
		c = fx_calls(f, "response_url");
		for (size_t j = 0; j < json_array_size(c); j++) {
			char *b = json_dumps(json_object_get(json_array_get(c, j), "body"), 0);
			help = help || strstr(b, "/viva help [COMMAND]");
			free(b);
		}
		json_decref(c);
		fx_sleep_ms(20);
	}
	assert_true(help);
	/* the tags beyond the bulkhead were told why, not left waiting */
	c = fx_calls(f, "response_url");
	for (size_t j = 0; j < json_array_size(c); j++) {
		char *b = json_dumps(json_object_get(json_array_get(c, j), "body"), 0);
		slow += strstr(b, "answering slowly") != NULL;
		free(b);
	}
	json_decref(c);
	assert_true(slow >= 2);
}

/* docker-registry with two images of team/svc, behind a proxy that can hold a PUT's answer. */
static int setup_registry(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct regproxy_opts po = { 0 };
	char d1[72], d2[72], *path, *env;

	f->dir = test_tmpdir();
	if (registry_server_start(&f->reg) != 0)
		return -1;
	if (regpush_image(f->reg.base, "team/svc", NULL, "2181-develop-10520f4", REGPUSH_DOCKER_V2,
			  "2026-11-20T10:00:00Z", "amd64", d1, NULL) ||
	    regpush_image(f->reg.base, "team/svc", NULL, "latest", REGPUSH_DOCKER_V2,
			  "2026-11-01T10:00:00Z", "amd64", d2, NULL))
		return -1;
	po.upstream = f->reg.base;
	f->proxy = regproxy_start(&po);
	if (!f->proxy)
		return -1;
	path = xasprintf("%s/pipelines/svc.yaml", f->dir);
	test_write_file(path, "name: svc\nowners: [U0ALICE]\nrepository: { name: svc }\nimage: team/svc\n"
			"pipeline: { type: service, interface: http, platform: linux/amd64 }\n");
	free(path);
	env = xasprintf("REGISTRY_URL=http://127.0.0.1:%d", regproxy_port(f->proxy));
	fx_start_fake(f);
	fx_start_viva(f, env, "workers: 2\nqueue_size: 64\n");
	free(env);
	*state = f;
	return fx_wait_link(f);
}

static char *registry_digest(struct fx *f, const char *tag)
{
	char *url = xasprintf("%s/v2/team/svc/manifests/%s", f->reg.base, tag), *digest = NULL;
	long st = regpush_http("HEAD", url, NULL, REGPUSH_DOCKER_V2 ", " REGPUSH_OCI, NULL, NULL, 0, NULL, &digest,
			       NULL);

	free(url);
	if (st != 200) {
		free(digest);
		return xstrdup("");
	}
	return digest;
}

/*
 * kill -9 in the middle of a promote: the registry has stored the PUT, viva
 * never saw the answer. The restarted viva finds the operation its dead
 * predecessor held, reads latest's digest, records the promote as done
 * (no second PUT), finishes the audit row and tells the channel. Before:
 * the registry changed, no audit row, the button stuck for 10 minutes.
 */
static void serve__kill_9_mid_promote__settled_once_after_restart(void **state)
{
	struct fx *f = *state;
	struct regproxy_stats st;
	char *want = registry_digest(f, "2181-develop-10520f4"), *got;
	json_t *c;

	regproxy_hold_puts(f->proxy, 1, 4000);
	json_decref(fx_send_slash(f, "promote svc 2181-develop-10520f4", NULL));
	for (int i = 0; i < 500; i++) {
		regproxy_stats(f->proxy, &st);
		if (st.manifest_puts >= 1)
			break;
		fx_sleep_ms(10);
	}
	assert_int_equal(st.manifest_puts, 1);
	fx_kill9(f);
	got = registry_digest(f, "latest");
	assert_string_equal(got, want);   /* the registry did move */
	free(got);
	fx_sleep_ms(4000);   /* the proxy has let go of the held answer */
	{
		char *env = xasprintf("REGISTRY_URL=http://127.0.0.1:%d", regproxy_port(f->proxy));
		fx_start_viva(f, env, "workers: 2\nqueue_size: 64\n");
		free(env);
	}
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"operation finished\" op=1 kind=promote target=svc state=done",
				  10000));
	regproxy_stats(f->proxy, &st);
	assert_int_equal(st.manifest_puts, 1);   /* not put twice */
	/* the channel is told it goes on, then (in the same message) how it ended */
	c = fx_wait_call_with(f, "chat.update", "promote #1 on svc: done: team/svc:latest is now 2181-develop-10520f4",
			      5000);
	assert_non_null(c);
	json_decref(c);
	/* the audit row has the real outcome */
	fx_db_expect(f, "SELECT result FROM audit_log WHERE action = 'promote'", "ok (finished after a restart)");
	free(want);
}

static void serve__sigterm__finishes_queued_jobs_and_exits_zero(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 5; i++)
		json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 5, 5000));
	assert_int_equal(proc_stop(&f->viva, SIGTERM, 30000), 0);
	/* every acked command was answered before the exit */
	assert_int_equal(fx_wait_calls(f, "response_url", 5, 1000), 5);
}

static void serve__link_disabled__exits_with_one_clear_line(void **state)
{
	struct fx *f = *state;
	char *log;

	json_decref(fx_ctl(f, "disconnect", "{\"reason\":\"link_disabled\",\"which\":\"all\"}"));
	assert_int_equal(proc_wait(&f->viva, 15000), 1);
	log = proc_log(&f->viva);
	assert_non_null(strstr(log, "viva: Slack disabled Socket Mode for this app (link_disabled)"));
	free(log);
}

/* A template override directory and a spec directory, both edited while viva runs. */
static int setup_overrides(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char *path, *env;
	int rc;

	f->dir = test_tmpdir();
	path = xasprintf("%s/tpl/slack/help_command.json", f->dir);
	test_write_file(path, "{\"text\": \"x\", \"blocks\": [{\"type\": \"header\", \"text\": "
			"{\"type\": \"plain_text\", \"text\": \"FIRST {{name}}\"}}]}");
	free(path);
	path = xasprintf("%s/pipelines/.keep", f->dir);
	test_write_file(path, "");
	free(path);
	fx_start_fake(f);
	env = xasprintf("VIVA_TEMPLATES=%s/tpl", f->dir);
	fx_start_viva(f, env, NULL);
	free(env);
	*state = f;
	rc = fx_wait_link(f);
	return rc;
}

/* The text of the i-th response_url post. */
static char *response_text(struct fx *f, size_t i)
{
	json_t *c = fx_calls(f, "response_url");
	char *s = json_dumps(json_object_get(json_array_get(c, i), "body"), 0);

	json_decref(c);
	return s ? s : xstrdup("");
}

/*
 * SIGHUP re-reads the template overrides and the spec directory, as a job
 * on a worker (the loop only queues it), and the answers change with it.
 */
static void serve__sighup__reloads_templates_and_specs_as_a_job(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/tpl/slack/help_command.json", f->dir), *s;

	json_decref(fx_send_slash(f, "help audit", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	s = response_text(f, 0);
	assert_non_null(strstr(s, "FIRST audit"));
	free(s);
	test_write_file(path, "{\"text\": \"x\", \"blocks\": [{\"type\": \"header\", \"text\": "
			"{\"type\": \"plain_text\", \"text\": \"SECOND {{name}}\"}}]}");
	free(path);
	path = xasprintf("%s/pipelines/svc-hup.yaml", f->dir);
	test_write_file(path, "name: svc-hup\nowners: [U0ALICE]\nrepository: { name: svc-hup }\nimage: team/svc-hup\n"
			      "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	assert_int_equal(kill(f->viva.pid, SIGHUP), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"reload queued\"", 5000));
	assert_true(proc_wait_log(&f->viva, "msg=\"reloaded\"", 5000));
	json_decref(fx_send_slash(f, "help audit", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 2, 10000), 2);
	s = response_text(f, 1);
	assert_non_null(strstr(s, "SECOND audit"));
	free(s);
	json_decref(fx_send_slash(f, "pipeline show svc-hup", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 3, 10000), 3);
	s = response_text(f, 2);
	assert_non_null(strstr(s, "svc-hup"));
	assert_null(strstr(s, "no pipeline named"));
	free(s);
	/* a broken override: the reload fails, the last good one stays */
	path = xasprintf("%s/tpl/slack/help_command.json", f->dir);
	test_write_file(path, "{ not json");
	free(path);
	assert_int_equal(kill(f->viva.pid, SIGHUP), 0);
	assert_true(proc_wait_log(&f->viva, "template reload failed; keeping the old ones", 5000));
	json_decref(fx_send_slash(f, "help audit", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 4, 10000), 4);
	s = response_text(f, 3);
	assert_non_null(strstr(s, "SECOND audit"));
	free(s);
}

/* One worker, slow jobs: a queue to kill viva under. */
static int setup_one_slow_worker(void **state)
{
	return fx_setup(state, "VIVA_DEBUG_JOB_DELAY_MS=1500", "workers: 1\nqueue_size: 64\n", true);
}

/*
 * Acked work survives a crash. Six commands acked, viva killed (-9) while
 * the first runs and five wait: the restarted viva answers the five, once,
 * and tells the user of the interrupted one that it may be half done (not
 * run blindly a second time). Before: 6 acked, 0 answered.
 */
static void serve__kill_9_with_acked_jobs__answered_once_after_restart(void **state)
{
	struct fx *f = *state;
	json_t *c;
	size_t helps = 0, notes = 0;

	for (int i = 0; i < 6; i++)
		json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 6, 5000));
	fx_sleep_ms(300);   /* the first one has started: it sleeps its 1.5 s */
	fx_kill9(f);
	assert_int_equal(fx_calls_n(f, "response_url"), 0);
	fx_start_viva(f, "VIVA_DEBUG_JOB_DELAY_MS=10", "workers: 1\nqueue_size: 64\n");
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, "msg=\"inbox recovered\" replayed=5 interrupted=1", 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 6, 15000), 6);
	fx_sleep_ms(500);
	c = fx_calls(f, "response_url");
	assert_int_equal(json_array_size(c), 6);   /* exactly once each */
	for (size_t i = 0; i < json_array_size(c); i++) {
		char *s = json_dumps(json_object_get(json_array_get(c, i), "body"), 0);
		if (strstr(s, "/viva help [COMMAND]"))
			helps++;
		else if (strstr(s, "viva restarted while it was working on this request"))
			notes++;
		free(s);
	}
	json_decref(c);
	assert_int_equal(helps, 5);
	assert_int_equal(notes, 1);
	/* and a third start replays nothing */
	assert_int_equal(proc_stop(&f->viva, SIGTERM, 10000), 0);
	proc_release(&f->viva);
	fx_start_viva(f, NULL, "workers: 1\nqueue_size: 64\n");
	assert_int_equal(fx_wait_link(f), 0);
	fx_sleep_ms(500);
	assert_false(proc_wait_log(&f->viva, "inbox recovered", 100));
	assert_int_equal(fx_calls_n(f, "response_url"), 6);
}

/* One worker, short jobs: a backlog longer than the job pool. */
static int setup_one_worker_backlog(void **state)
{
	return fx_setup(state, "VIVA_DEBUG_JOB_DELAY_MS=10", "workers: 1\nqueue_size: 1000\n", true);
}

/*
 * A backlog beyond the loop's pool of job slots (256): the jobs past it keep
 * only their ids and the worker reads each frame back from the inbox. 400
 * commands at 4,000/s to one worker: every one answered, once.
 */
static void serve__backlog_past_the_job_pool__frames_read_back_from_the_inbox(void **state)
{
	struct fx *f = *state;
	json_t *r, *c;
	size_t helps = 0;

	r = fx_ctl(f, "flood", "{\"type\":\"slash_commands\",\"count\":400,\"rate\":4000,\"payload\":"
		"{\"command\":\"/viva\",\"text\":\"help\",\"user_id\":\"U0ALICE\",\"channel_id\":\"C0TEST\"}}");
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_true(fx_wait_state(f, "acks", 400, 10000));
	assert_int_equal(fx_wait_calls(f, "response_url", 400, 30000), 400);
	fx_sleep_ms(300);
	c = fx_calls(f, "response_url");
	assert_int_equal(json_array_size(c), 400);   /* exactly once each */
	for (size_t i = 0; i < json_array_size(c); i++) {
		char *b = json_dumps(json_object_get(json_array_get(c, i), "body"), 0);
		if (b && strstr(b, "/viva help [COMMAND]"))
			helps++;
		free(b);
	}
	json_decref(c);
	assert_int_equal(helps, 400);
	assert_false(proc_wait_log(&f->viva, "not read back", 10));
	assert_int_equal(fx_state_int(f, "protocol_error_count"), 0);
}

/* viva started with the soft descriptor limit systemd gives (1024). */
static int setup_low_fd_limit(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct rlimit old, low;

	f->dir = test_tmpdir();
	fx_start_fake(f);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = old.rlim_max > 1024 ? 1024 : old.rlim_max;
	f->fd_hard = (long)old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);   /* inherited by viva only */
	fx_start_viva(f, NULL, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	*state = f;
	return fx_wait_link(f);
}

/*
 * 1,100 idle connections to the HTTP endpoint used to stop viva answering
 * Slack (accept: errno 24 at 1,024 descriptors). Now the limit is raised,
 * the endpoint holds at most 256 connections and closes idle ones, and the
 * Slack side keeps acking and answering during the flood.
 */
static void serve__http_connection_flood__slack_keeps_being_answered(void **state)
{
	struct fx *f = *state;
	enum { FLOOD = 1100 };
	int *fds = xcalloc(FLOOD, sizeof(int));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->http_port) };
	int opened = 0;
	long st = 0;
	char *url, *body;

	if (f->fd_hard > 1024)   /* room above systemd's 1024: viva takes it */
		assert_true(proc_wait_log(&f->viva, "msg=\"descriptor limit raised\" from=1024", 1000));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&a, sizeof(a)) == 0)
			opened++;
	}
	assert_true(opened > 1000);
	/* during the flood: Slack envelopes acked and answered */
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	/* the idle ones are closed within seconds; then the endpoint answers */
	url = xasprintf("http://127.0.0.1:%d/metrics", f->http_port);
	for (int i = 0; i < 100 && st != 200; i++) {
		fx_sleep_ms(200);
		body = http_get(url, &st);
		if (st == 200) {
			assert_non_null(strstr(body, "viva_http_connections_refused_total "));
			assert_null(strstr(body, "viva_http_connections_refused_total 0\n"));
		}
		free(body);
	}
	assert_int_equal(st, 200);
	free(url);
	for (int i = 0; i < FLOOD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_int_equal(fx_wait_calls(f, "response_url", 2, 10000), 2);
	assert_false(proc_wait_log(&f->viva, "errno 24", 100));
}

static char *read_journal(struct fx *f)
{
	char *p = xasprintf("%s/toy/journal", f->dir), *s = NULL;

	if (read_file(p, &s, NULL) != VIVA_OK)
		s = xstrdup("");
	free(p);
	return s;
}

/* kill -9 in the middle of an operation, restart: `kind` runs each step once
 * (a safe step is resumed) or is abandoned (one not safe to run twice). */
static void kill_mid_operation(struct fx *f, const char *kind, const char *want_journal, const char *want_log)
{
	char *env = xasprintf("VIVA_DEBUG_OPS_TOY=%s:svc-a:%s/toy:1500", kind, f->dir), *j = NULL, *p;
	int64_t end;

	p = xasprintf("%s/toy/.keep", f->dir);
	test_write_file(p, "");
	free(p);
	proc_stop(&f->viva, SIGTERM, 10000);
	proc_release(&f->viva);
	fx_start_viva(f, env, NULL);
	free(env);
	/* step one done, step two sleeping: the moment to die */
	for (end = now_ms_mono() + 10000; now_ms_mono() < end; fx_sleep_ms(50)) {
		free(j);
		j = read_journal(f);
		if (strcmp(j, "one\n") == 0)
			break;
	}
	assert_string_equal(j, "one\n");
	free(j);
	fx_sleep_ms(300);
	fx_kill9(f);
	fx_start_viva(f, NULL, NULL);
	assert_int_equal(fx_wait_link(f), 0);
	assert_true(proc_wait_log(&f->viva, want_log, 10000));
	for (end = now_ms_mono() + 10000, j = NULL; now_ms_mono() < end; fx_sleep_ms(50)) {
		free(j);
		j = read_journal(f);
		if (strcmp(j, want_journal) == 0)
			break;
	}
	fx_sleep_ms(300);
	free(j);
	j = read_journal(f);
	assert_string_equal(j, want_journal);
	free(j);
}

static void serve__kill_9_mid_operation__resumed_each_step_once(void **state)
{
	kill_mid_operation(*state, "toy", "one\ntwo\nthree\n", "msg=\"operation finished\"");
	assert_true(proc_wait_log(&((struct fx *)*state)->viva, "state=done", 5000));
}

static void serve__kill_9_mid_unsafe_step__abandoned_cleanly(void **state)
{
	kill_mid_operation(*state, "toy-unsafe", "one\n", "state=abandoned");
}

static int setup_bad_token(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	f->dir = test_tmpdir();
	fx_start_fake(f);
	fx_start_viva(f, "SLACK_APP_TOKEN=xapp-wrong", NULL);
	*state = f;
	return 0;
}

static void serve__invalid_app_token__exits_with_one_clear_line(void **state)
{
	struct fx *f = *state;
	char *log;

	assert_int_equal(proc_wait(&f->viva, 15000), 1);
	log = proc_log(&f->viva);
	assert_non_null(strstr(log, "viva: Slack refused SLACK_APP_TOKEN"));
	assert_null(strstr(log, "xapp-wrong"));   /* never echo a secret */
	free(log);
}

static char *view_submission(const char *name, const char *cpu)
{
	return xasprintf(
		"{\"type\":\"interactive\",\"payload\":{\"type\":\"view_submission\",\"user\":{\"id\":\"U0ALICE\"},"
		"\"view\":{\"id\":\"V0FORM\",\"type\":\"modal\",\"callback_id\":\"pipeline_create\","
		"\"private_metadata\":\"{\\\"channel\\\":\\\"C0TEST\\\"}\",\"state\":{\"values\":{"
		"\"name\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"%s\"}},"
		"\"repo\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"svc-e2e\"}},"
		"\"branch\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"develop\"}},"
		"\"res_alpha_instance\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"1\"}},"
		"\"res_alpha_cpu\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"%s\"}},"
		"\"res_alpha_memory\":{\"value\":{\"type\":\"plain_text_input\",\"value\":\"1Gi\"}}"
		"}}}}}", name, cpu);
}

static void serve__pipeline_create__form_errors_then_confirmation(void **state)
{
	struct fx *f = *state;
	json_t *r, *c, *ack, *errors;
	char *body, *s;

	/* 1. the command opens the modal with its trigger_id (the fake checks it) */
	json_decref(fx_send_slash(f, "pipeline create", NULL));
	assert_int_equal(fx_wait_calls(f, "views.open", 1, 10000), 1);
	c = fx_calls(f, "views.open");
	assert_true(json_is_true(json_object_get(json_object_get(json_array_get(c, 0), "response"), "ok")));
	json_decref(c);
	/* 2. an invalid submission: the errors come back in the ack, by block id */
	body = view_submission("Bad_Name", "lots");
	r = fx_ctl(f, "send", body);
	free(body);
	ack = fx_wait_ack(f, json_string_value(json_object_get(r, "envelope_id")), 5000);
	assert_non_null(ack);
	assert_true(json_integer_value(json_object_get(ack, "latency_us")) < 2500000);
	errors = json_object_get(json_object_get(ack, "payload"), "errors");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ack, "payload"), "response_action")),
			    "errors");
	assert_non_null(json_object_get(errors, "name"));
	assert_non_null(json_object_get(errors, "res_alpha_cpu"));
	json_decref(ack);
	json_decref(r);
	/* 3. a valid one: an empty ack closes the modal, the channel gets the YAML */
	body = view_submission("svc-e2e", "500m");
	r = fx_ctl(f, "send", body);
	free(body);
	ack = fx_wait_ack(f, json_string_value(json_object_get(r, "envelope_id")), 5000);
	assert_non_null(ack);
	assert_true(json_is_null(json_object_get(ack, "payload")) || !json_object_get(ack, "payload"));
	json_decref(ack);
	json_decref(r);
	assert_int_equal(fx_wait_calls(f, "chat.postMessage", 1, 10000), 1);
	c = fx_calls(f, "chat.postMessage");
	s = json_dumps(json_object_get(json_array_get(c, 0), "body"), 0);
	assert_non_null(strstr(s, "svc-e2e"));
	assert_non_null(strstr(s, "<@U0ALICE>"));
	assert_true(json_is_true(json_object_get(json_object_get(json_array_get(c, 0), "response"), "ok")));
	free(s);
	json_decref(c);
	assert_int_equal(fx_state_int(f, "operation_timeouts"), 0);
}

static int setup_bad_bot_token(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	f->dir = test_tmpdir();
	fx_start_fake(f);
	fx_start_viva(f, "SLACK_BOT_TOKEN=xoxb-wrong", NULL);
	*state = f;
	return 0;
}

static void serve__invalid_bot_token__exits_with_one_clear_line(void **state)
{
	struct fx *f = *state;
	char *log;

	assert_int_equal(proc_wait(&f->viva, 15000), 1);
	log = proc_log(&f->viva);
	assert_non_null(strstr(log, "viva: Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)"));
	assert_null(strstr(log, "xoxb-wrong"));
	free(log);
	assert_int_equal(fx_state_int(f, "connections_opened"), 0);
}

static void serve__malformed_frames__ignored_without_crash(void **state)
{
	struct fx *f = *state;
	static const char *frames[] = {
		"not json at all", "{", "[]", "\"string\"", "{\"type\":5}", "{\"envelope_id\":7}",
		"{\"envelope_id\":\"e-1\"}",                                  /* no type, no payload */
		"{\"envelope_id\":\"e-2\",\"type\":\"slash_commands\",\"payload\":\"x\"}",
		"{\"envelope_id\":\"e-3\",\"type\":\"slash_commands\",\"payload\":{\"text\":5,\"user_id\":[]}}",
		"{\"envelope_id\":\"e-4\",\"type\":\"interactive\",\"payload\":{\"type\":\"block_actions\",\"actions\":{}}}",
		"{\"envelope_id\":\"e-5\",\"type\":\"interactive\",\"payload\":{\"type\":\"view_submission\"}}",
		"{\"envelope_id\":\"e-6\",\"type\":\"events_api\",\"payload\":{\"event\":null}}",
		"{\"type\":\"disconnect\"}",                                  /* no reason: treated as a refresh */
		"{\"envelope_id\":\"e-7\",\"type\":\"weird_kind\",\"payload\":{}}",
		/* jansson cannot hold it: not acked, as any malformed frame */
		"{\"envelope_id\":\"e-8\",\"type\":\"slash_commands\",\"payload\":{\"n\":123456789012345678901}}",
		NULL,
	};
	char *long_id = xasprintf("{\"envelope_id\":\"%0200d\",\"type\":\"slash_commands\","
				  "\"payload\":{\"command\":\"/viva\",\"text\":\"help\"}}", 7);
	json_t *lb = json_pack("{s:s}", "text", long_id);
	char *lt = json_dumps(lb, 0);

	for (const char **fr = frames; *fr; fr++) {
		json_t *body = json_pack("{s:s}", "text", *fr);
		char *txt = json_dumps(body, 0);
		json_decref(fx_ctl(f, "raw", txt));
		free(txt);
		json_decref(body);
	}
	/* an id no ack could echo in 128 bytes: acked whole, not run */
	json_decref(fx_ctl(f, "raw", lt));
	free(lt);
	json_decref(lb);
	free(long_id);
	/* still alive and serving: a real command after the garbage is answered */
	fx_sleep_ms(300);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_calls(f, "response_url", 1, 10000) >= 1);
	/* "\u0000" in the text (valid JSON): acked, and refused, not cut short */
	{
		json_t *r = fx_ctl(f, "send", "{\"type\":\"slash_commands\",\"payload\":{\"command\":\"/viva\","
				  "\"text\":\"help\\u0000 audit\",\"user_id\":\"U0ALICE\",\"channel_id\":\"C0TEST\"}}");
		char *s;
		json_t *c;

		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
		assert_true(fx_wait_calls(f, "response_url", 2, 10000) >= 2);
		c = fx_calls(f, "response_url");
		s = json_dumps(json_object_get(json_array_get(c, 1), "body"), 0);
		assert_non_null(strstr(s, "contains a NUL character"));
		free(s);
		json_decref(c);
	}
	assert_true(proc_wait_log(&f->viva, "malformed frame ignored", 1000));
	assert_true(proc_wait_log(&f->viva, "envelope id too long; acked, not run", 1000));
	/* the loop refused it itself: no worker met a frame it could not read */
	assert_false(proc_wait_log(&f->viva, "envelope not parseable", 200));
}

static void serve__event_redelivered_with_new_envelope_id__runs_once(void **state)
{
	struct fx *f = *state;
	char *url = xasprintf("http://127.0.0.1:%d/metrics", f->http_port), *b = NULL;
	const char *ev = "{\"type\":\"events_api\",\"payload\":{\"event_id\":\"Ev0SAME\",\"type\":\"event_callback\","
			 "\"event\":{\"type\":\"app_mention\",\"text\":\"hi\"}}}";
	long st;
	bool seen = false;

	/* Slack re-sends an event under a new envelope id: event_id is the key */
	json_decref(fx_ctl(f, "send", ev));
	json_decref(fx_ctl(f, "send", ev));
	assert_true(fx_wait_state(f, "acks", 2, 5000));
	for (int i = 0; i < 100 && !seen; i++) {
		free(b);
		b = http_get(url, &st);
		seen = strstr(b, "viva_envelopes_duplicate_total 1") != NULL;
		if (!seen)
			fx_sleep_ms(50);
	}
	assert_true(seen);
	assert_non_null(strstr(b, "viva_envelopes_total{type=\"events_api\"} 2"));
	free(b);
	free(url);
	assert_int_equal(fx_state_int(f, "redeliveries"), 0);   /* both were acked in time */
}

/* ---- wss:// and https:// through a TLS front with a throwaway CA ------------ */

/*
 * A CA made here, a certificate for 127.0.0.1 (IP SAN) and one for another
 * host, both signed by it; the CA alone in a directory hashed by `openssl
 * rehash`, which viva gets as SSL_CERT_DIR. Nothing of it is in the system
 * bundle, so a connection that verifies proves the directory was used.
 */
static void make_test_pki(const char *dir)
{
	char *cmd = xasprintf(
		"set -e; exec 2>&1; cd '%s'; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
		"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=viva-test-ca;"
		"for h in ip:IP:127.0.0.1 other:DNS:elsewhere.invalid; do"
		"  n=${h%%%%:*}; san=${h#*:};"
		"  openssl req $ec -keyout $n.key -out $n.csr -subj /CN=viva-test-$n;"
		"  printf 'subjectAltName=%%s\\n' \"$san\" > $n.ext;"
		"  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
		"    -extfile $n.ext -out $n.pem;"
		"done;"
		"mkdir cadir; cp ca.pem cadir/; openssl rehash cadir", dir);
	int status = -1;
	char *out = test_run(cmd, &status);

	if (status != 0)
		fprintf(stderr, "test PKI not made (%d):\n%s\n", status, out);
	assert_int_equal(status, 0);
	free(out);
	free(cmd);
}

static int setup_tls_common(void **state, const char *link_cert, bool wait_connected,
			    const char *ca_file)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char *c[4];
	struct tls_front_opts o;

	f->dir = test_tmpdir();
	make_test_pki(f->dir);
	fx_start_fake(f);
	c[0] = xasprintf("%s/ip.pem", f->dir);
	c[1] = xasprintf("%s/ip.key", f->dir);
	c[2] = xasprintf("%s/%s.pem", f->dir, link_cert);
	c[3] = xasprintf("%s/%s.key", f->dir, link_cert);
	o = (struct tls_front_opts){ .upstream_port = f->port, .api_cert = c[0], .api_key = c[1],
				     .link_cert = c[2], .link_key = c[3] };
	f->front = tls_front_start(&o);
	for (int i = 0; i < 4; i++)
		free(c[i]);
	assert_non_null(f->front);
	snprintf(f->api_base, sizeof(f->api_base), "https://127.0.0.1:%d/api/", tls_front_api_port(f->front));
	f->ca_dir = xasprintf("%s/cadir", f->dir);
	f->ca_file = ca_file;
	fx_start_viva(f, NULL, NULL);
	*state = f;
	return wait_connected ? fx_wait_link(f) : 0;
}

static int setup_tls(void **state)
{
	return setup_tls_common(state, "ip", true, NULL);
}

/* SSL_CERT_FILE naming a file that is gone (a stale image setting). */
static int setup_tls_stale_bundle(void **state)
{
	return setup_tls_common(state, "ip", true, "/nonexistent/viva-test-bundle.pem");
}

static int setup_tls_other_host(void **state)
{
	return setup_tls_common(state, "other", false, NULL);
}

/* Web API over https:// and the link over wss://, trusting only the test CA. */
static void serve__wss__answers_over_tls_with_ca_from_cert_dir(void **state)
{
	struct fx *f = *state;
	struct tls_front_stats st;
	char *log;

	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
	assert_int_equal(fx_wait_calls(f, "response_url", 1, 10000), 1);
	tls_front_stats(f->front, &st);
	assert_true(st.api_requests >= 2);      /* auth.test, apps.connections.open */
	assert_int_equal(st.links, 1);
	assert_int_equal(st.link_refused, 0);
	log = proc_log(&f->viva);
	assert_non_null(strstr(log, "tls client ready"));
	free(log);
}

/* A stale SSL_CERT_FILE is reported and ignored: TLS still works. */
static void serve__wss__stale_cert_file__ignored_with_a_warning(void **state)
{
	struct fx *f = *state;

	serve__wss__answers_over_tls_with_ca_from_cert_dir(state);
	assert_true(proc_wait_log(&f->viva, "is not readable; ignored", 1000));
}

/* A certificate valid for another host: the link is refused, every time. */
static void serve__wss__certificate_for_another_host__refused(void **state)
{
	struct fx *f = *state;
	struct tls_front_stats st = { 0 };
	char *log;

	for (int i = 0; i < 300 && st.link_refused < 1; i++) {
		fx_sleep_ms(50);
		tls_front_stats(f->front, &st);
	}
	assert_true(st.link_refused >= 1);
	assert_int_equal(st.links, 0);
	assert_int_equal(fx_state_int(f, "hellos"), 0);
	log = proc_log(&f->viva);
	assert_null(strstr(log, "socket mode connected"));
	/* refused by the host name check lws makes on our SSL_CTX */
	assert_non_null(strstr(log, "IP address mismatch"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(serve__help__answered_through_response_url, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__queue_full__busy_said_in_the_ack, setup_tiny_queue, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__loop_priority_realtime__only_the_loop_thread,
						setup_realtime, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__healthz_and_metrics__reflect_the_link, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__pipeline_create__form_errors_then_confirmation, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__slow_job__does_not_delay_next_ack, setup_slow, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__duplicate_delivery__runs_once, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__empty_directory__answers_with_built_in_templates, setup_bare,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__sighup__reloads_templates_and_specs_as_a_job, setup_overrides,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__kill_9_with_acked_jobs__answered_once_after_restart,
						setup_one_slow_worker, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__backlog_past_the_job_pool__frames_read_back_from_the_inbox,
						setup_one_worker_backlog, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__http_connection_flood__slack_keeps_being_answered,
						setup_low_fd_limit, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__kill_9_mid_operation__resumed_each_step_once, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__kill_9_mid_unsafe_step__abandoned_cleanly, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__event_redelivered_with_new_envelope_id__runs_once, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__malformed_frames__ignored_without_crash, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__refresh_requested__new_link_first_nothing_lost, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__abrupt_drop__reconnects_and_handles_later_envelopes, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__rate_limited__waits_retry_after, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__long_retry_after__deferred_not_slept, setup_one_worker, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__slack_outage__answer_retried_until_back, setup_one_worker, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__slack_outage_then_kill_9__deferred_answer_sent_after_restart,
						setup_one_worker, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__slack_outage_then_stop__deferred_answer_sent_by_next_start,
						setup_one_worker, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__stale_or_unreadable_deferred_answers__given_up_at_start, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__resumed_answers__in_order_and_response_url_uses_kept, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__stopped_during_a_hung_retry__answer_kept, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__hung_registry__help_still_answered, setup_hung_registry, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__busy_workers__forms_go_ahead, setup_hung_registry_one_worker,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__kill_9_mid_promote__settled_once_after_restart, setup_registry,
						fx_teardown),
		cmocka_unit_test_setup_teardown(serve__sigterm__finishes_queued_jobs_and_exits_zero, setup_slow, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__link_disabled__exits_with_one_clear_line, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__invalid_app_token__exits_with_one_clear_line, setup_bad_token, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__invalid_bot_token__exits_with_one_clear_line, setup_bad_bot_token, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__wss__answers_over_tls_with_ca_from_cert_dir, setup_tls, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__wss__stale_cert_file__ignored_with_a_warning,
						setup_tls_stale_bundle, fx_teardown),
		cmocka_unit_test_setup_teardown(serve__wss__certificate_for_another_host__refused, setup_tls_other_host, fx_teardown),
	};

	if (fx_find_bins("test_serve"))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
