/*
 * The HTTP client layer (see http.h for the contract and the design of
 * connection reuse and concurrency).
 *
 * Every request, alone or in a batch, runs through one loop over a curl
 * multi handle: transfers are started while fewer than max_parallel run and
 * their wait (Retry-After, backoff) is over; finished ones are judged
 * (answer, retry later, or failure with its sentence). The loop ends when
 * every request is done; each request ends by its deadline (attempt
 * timeouts never reach past it, waits that would are not started), and a
 * guard on time and iterations stops it whatever happens.
 *
 * The layer's files (the internals they share: http_impl.h):
 *   http.c           this loop, http_do() and http_do_batch(); the limits
 *   http_client.c    a client: construction, its pool of sessions (multi
 *                    handles and spare easy handles), the bulkhead
 *   http_request.c   building a request: URL, headers, credentials, TLS,
 *                    the easy handle of each attempt
 *   http_response.c  the answer: body, kept headers, Retry-After
 *   http_judge.c     judging an attempt: answer, retry (Retry-After,
 *                    backoff) or failure, its sentence, logs and metrics
 */
#include "bot/clients/http.h"
#include "bot/clients/http_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_CONNECT_TIMEOUT_MS  5000L
#define DEF_TIMEOUT_MS          30000L
#define DEF_DEADLINE_MS         120000L
#define DEF_MAX_RETRIES         3
#define MAX_RETRIES_CAP         10
#define DEF_MAX_RETRY_AFTER_MS  60000L
#define DEF_RETRY_AFTER_MS      1000L
#define DEF_BACKOFF_MS          100L
#define DEF_MAX_PARALLEL        8
#define DEF_MAX_BODY            ((size_t)4 << 20)
/* The loop's own guards, beyond every request's deadline. */
#define LOOP_GUARD_ITERATIONS   10000000L
#define LOOP_GUARD_SLACK_MS     5000L
#define POLL_MAX_MS             1000L

/* ---- limits ------------------------------------------------------------------ */

struct http_limits http_normalise_limits(const struct http_limits *l)
{
	struct http_limits o;

	o.connect_timeout_ms = l->connect_timeout_ms > 0 ? l->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS;
	o.timeout_ms = l->timeout_ms > 0 ? l->timeout_ms : DEF_TIMEOUT_MS;
	o.deadline_ms = l->deadline_ms > 0 ? l->deadline_ms : DEF_DEADLINE_MS;
	o.max_retries = l->max_retries < 0 ? DEF_MAX_RETRIES
			: l->max_retries > MAX_RETRIES_CAP ? MAX_RETRIES_CAP : l->max_retries;
	o.max_retry_after_ms = l->max_retry_after_ms > 0 ? l->max_retry_after_ms : DEF_MAX_RETRY_AFTER_MS;
	o.default_retry_after_ms = l->default_retry_after_ms > 0 ? l->default_retry_after_ms
								 : DEF_RETRY_AFTER_MS;
	o.backoff_ms = l->backoff_ms > 0 ? l->backoff_ms : DEF_BACKOFF_MS;
	o.max_parallel = l->max_parallel <= 0 ? DEF_MAX_PARALLEL
			 : l->max_parallel > MAX_PARALLEL_CAP ? MAX_PARALLEL_CAP : l->max_parallel;
	o.max_sleep_ms = l->max_sleep_ms > 0 ? l->max_sleep_ms : 0;
	return o;
}

void http_client_set_limits(struct http_client *c, const struct http_limits *l)
{
	struct http_limits n;

	if (!c || !l)
		return;
	n = http_normalise_limits(l);
	pthread_mutex_lock(&c->mu);
	c->lim = n;
	pthread_mutex_unlock(&c->mu);
}

struct http_limits http_client_limits(struct http_client *c)
{
	struct http_limits l;

	pthread_mutex_lock(&c->mu);
	l = c->lim;
	pthread_mutex_unlock(&c->mu);
	return l;
}

void http_format_ms(long ms, char *buf, size_t n)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, n, "%ld s", ms / 1000);
	else
		snprintf(buf, n, "%ld ms", ms);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void run(struct http_client *c, struct session *s, struct xfer *x, size_t n,
		const struct http_limits *lim)
{
	size_t done = 0, running = 0;
	int64_t guard_end = now_ms_mono() + lim->deadline_ms + LOOP_GUARD_SLACK_MS;

	for (size_t i = 0; i < n; i++)
		if (x[i].state == X_DONE)
			done++;
	for (long iter = 0; done < n; iter++) {
		int64_t now = now_ms_mono(), next = now + POLL_MAX_MS;
		int still = 0, msgs = 0;
		long wait;
		CURLMsg *m;

		if (iter >= LOOP_GUARD_ITERATIONS || now > guard_end) {
			/* never expected: every request has its own deadline */
			log_error("http loop guard reached", "client=%s iterations=%ld", c->name, iter);
			for (size_t i = 0; i < n; i++) {
				if (x[i].state == X_DONE)
					continue;
				if (x[i].state == X_RUN) {
					curl_multi_remove_handle(s->multi, x[i].h);
					http_session_easy_done(s, x[i].h);
					x[i].h = NULL;
				}
				http_set_error(&x[i], "%s did not answer in time", http_peer_of(&x[i]));
				http_finish(&x[i], VIVA_ETIMEOUT);
			}
			break;
		}
		for (size_t i = 0; i < n && running < (size_t)lim->max_parallel; i++) {
			if (x[i].state != X_WAIT || x[i].not_before > now)
				continue;
			if (http_attempt_start(s, &x[i], lim))
				running++;
			else
				done++;
		}
		if (running)
			curl_multi_perform(s->multi, &still);
		while ((m = curl_multi_info_read(s->multi, &msgs))) {
			struct xfer *t = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			curl_multi_remove_handle(s->multi, m->easy_handle);
			running--;
			if (!t)
				continue;
			http_attempt_done(t, m->data.result, lim);
			/* drop pointers into this call's memory before the handle is kept */
			curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, NULL);
			curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, NULL);
			curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, NULL);
			http_session_easy_done(s, t->h);
			t->h = NULL;
			if (t->state == X_DONE)
				done++;
		}
		if (done >= n)
			break;
		/* a waiting request matters only when a slot is free for it */
		if (running < (size_t)lim->max_parallel)
			for (size_t i = 0; i < n; i++)
				if (x[i].state == X_WAIT && x[i].not_before < next)
					next = x[i].not_before;
		wait = (long)(next - now_ms_mono());
		if (running) {
			long t = -1;
			curl_multi_timeout(s->multi, &t);
			if (t >= 0 && t < wait)
				wait = t;
		}
		/* with nothing running and a request due, the next turn starts it */
		if (wait > 0 || running)
			curl_multi_poll(s->multi, NULL, 0, (int)(wait <= 0 ? 0 : wait > POLL_MAX_MS ? POLL_MAX_MS : wait),
					NULL);
	}
}

size_t http_do_batch(struct http_client *c, const struct http_request *rqs, struct http_response *rss,
		     int *rcs, size_t n)
{
	struct http_limits lim;
	struct session *s = NULL;
	struct xfer *x = NULL;
	size_t answered = 0;
	int64_t t0 = now_ms_mono();

	if (!c || n == 0)
		return 0;
	lim = http_client_limits(c);
	x = xcalloc(n, sizeof(*x));
	for (size_t i = 0; i < n; i++) {
		x[i] = (struct xfer){
			.c = c, .rq = &rqs[i], .rs = &rss[i], .rc = &rcs[i], .state = X_WAIT,
			.t0 = t0, .deadline = t0 + lim.deadline_ms, .not_before = t0,
			.max_body = rqs[i].max_body ? rqs[i].max_body : DEF_MAX_BODY,
		};
		x[i].idempotent = rqs[i].idempotent || !rqs[i].method ||
				  (strcmp(rqs[i].method, "POST") != 0 && strcmp(rqs[i].method, "PATCH") != 0);
		http_response_reset(&rss[i]);
		rcs[i] = VIVA_EUNAVAIL;
		if (http_prepare(&x[i]) != VIVA_OK)
			http_finish(&x[i], VIVA_EINVAL);
	}
	if (!http_bulkhead_enter(c)) {
		/* a slow system holds its share of workers, not every one */
		log_warn("http bulkhead full; request refused", "client=%s max_callers=%d", c->name, c->max_callers);
		metrics_http_request(c->name, 0);
		for (size_t i = 0; i < n; i++)
			if (x[i].state != X_DONE) {
				http_set_error(&x[i], "%s is answering slowly: %d requests are already waiting for it; "
					       "try again in a minute", http_peer_of(&x[i]), c->max_callers);
				http_finish(&x[i], VIVA_EBUSY);
			}
		goto out;
	}
	s = http_session_get(c, lim.max_parallel);
	if (!s) {
		http_bulkhead_leave(c);
		log_error("curl_multi_init failed", "client=%s", c->name);
		for (size_t i = 0; i < n; i++)
			if (x[i].state != X_DONE) {
				http_set_error(&x[i], "%s is not reachable (libcurl failed to start)", http_peer_of(&x[i]));
				http_finish(&x[i], VIVA_EUNAVAIL);
			}
		goto out;
	}
	run(c, s, x, n, &lim);
	http_session_put(c, s);
	http_bulkhead_leave(c);
out:
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == VIVA_OK)
			answered++;
	free(x);
	return answered;
}

int http_do(struct http_client *c, const struct http_request *rq, struct http_response *rs)
{
	int rc = VIVA_EINVAL;

	if (!c || !rq || !rs)
		return VIVA_EINVAL;
	http_do_batch(c, rq, rs, &rc, 1);
	return rc;
}
