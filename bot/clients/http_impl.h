#ifndef VIVA_BOT_CLIENTS_HTTP_IMPL_H
#define VIVA_BOT_CLIENTS_HTTP_IMPL_H

/*
 * Internal to the http*.c files (bot/clients/http.c lists them): a client,
 * its sessions, one request in flight, and the helpers they share.
 * Everything else uses http.h only.
 */
#include "bot/clients/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_PARALLEL_CAP        64

/* ---- clients and their sessions ---------------------------------------------- */

/* A multi handle (its connection cache) and the easy handles run on it. */
struct session {
	CURLM *multi;
	CURL *spare[MAX_PARALLEL_CAP];   /* easy handles between transfers */
	int nspare;
	struct session *next;            /* in the client's idle list */
};

struct http_client {
	char *name;
	char *peer;
	char *base_url;                  /* no trailing '/' */
	char *tls_hint;
	char *ca_file, *ca_pem, *cert_file, *cert_pem, *key_file, *key_pem;
	bool insecure;
	int pool_size;
	void (*on_attempt)(const char *op, int status);
	pthread_mutex_t mu;              /* guards lim, idle, nidle; never held across I/O */
	struct http_limits lim;
	struct session *idle;
	int nidle;
	struct http_client *next_client; /* every client, for http_trim_all() */
	/* the bulkhead: callers in, and how long a newcomer waits for a place */
	int max_callers;
	long queue_wait_ms;
	int callers;
	pthread_cond_t place;
};

/* ---- one transfer ---------------------------------------------------------------- */

enum xstate { X_WAIT, X_RUN, X_DONE };

struct xfer {
	struct http_client *c;
	const struct http_request *rq;
	struct http_response *rs;
	int *rc;
	enum xstate state;
	bool idempotent;
	bool too_big;
	bool tls_dropped;            /* a new TLS connection ended by the server at once */
	int attempt;                 /* attempts started */
	int64_t t0;                  /* request start */
	int64_t deadline;
	int64_t not_before;          /* the next attempt, when waiting */
	int64_t attempt_t0;
	long attempt_timeout_ms;
	size_t max_body;
	char *url;                   /* resolved; never logged */
	struct curl_slist *hdrs;
	char *auth;                  /* the Authorization line (secret) */
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- http.c ---- */

/* l with every default and cap applied (a client's limits). */
struct http_limits http_normalise_limits(const struct http_limits *l);

/* ---- http_client.c ---- */

/* An idle session of c, or a new one (NULL: curl_multi_init failed). */
struct session *http_session_get(struct http_client *c, int max_parallel);
/* Back to c's idle pool, or closed when the pool is full. */
void http_session_put(struct http_client *c, struct session *s);
/* An easy handle for one transfer: a spare one (reset) or a new one. */
CURL *http_session_easy(struct session *s);
/* h is done: kept as a spare in s, or cleaned up. */
void http_session_easy_done(struct session *s, CURL *h);
/* Take a place in the bulkhead, waiting at most queue_wait_ms. */
bool http_bulkhead_enter(struct http_client *c);
/* Give the place back (a waiting caller may take it). */
void http_bulkhead_leave(struct http_client *c);

/* ---- http_request.c ---- */

/* No control character or blank in u. */
bool http_url_chars_ok(const char *u);
/* u starts with http:// or https:// (any case). */
bool http_is_http_url(const char *u);
/* Check and resolve the request once, before the first attempt. */
int http_prepare(struct xfer *x);
/* Start the next attempt of x on s. false: x is done (failed to start). */
bool http_attempt_start(struct session *s, struct xfer *x, const struct http_limits *lim);
/* The request is done: its result stays in rs and *rc. */
void http_finish(struct xfer *x, int rc);

/* ---- http_response.c ---- */

/* Before each attempt: what a previous one left goes. */
void http_response_reset(struct http_response *r);
/* CURLOPT_WRITEFUNCTION: the body into x->rs, up to x->max_body. */
size_t http_on_body(char *ptr, size_t size, size_t nmemb, void *ud);
/* CURLOPT_HEADERFUNCTION: Retry-After and the kept headers into x->rs. */
size_t http_on_header(char *ptr, size_t size, size_t nmemb, void *ud);

/* ---- http_judge.c ---- */

/* The sentence of x's failure, in x->rs->error. */
void http_set_error(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The request's label for logs and metrics. */
const char *http_op_of(const struct http_request *rq);
/* How messages name the system x talks to. */
const char *http_peer_of(const struct xfer *x);
/* An attempt ended with cc; x->h is off the multi handle. */
void http_attempt_done(struct xfer *x, CURLcode cc, const struct http_limits *lim);

#endif
