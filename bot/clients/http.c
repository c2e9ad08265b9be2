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
 */
#include "bot/clients/http.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEF_CONNECT_TIMEOUT_MS  5000L
#define DEF_TIMEOUT_MS          30000L
#define DEF_DEADLINE_MS         120000L
#define DEF_MAX_RETRIES         3
#define MAX_RETRIES_CAP         10
#define DEF_MAX_RETRY_AFTER_MS  60000L
#define DEF_RETRY_AFTER_MS      1000L
#define DEF_BACKOFF_MS          100L
#define MAX_BACKOFF_MS          5000L
#define DEF_MAX_PARALLEL        8
#define MAX_PARALLEL_CAP        64
#define DEF_POOL_SIZE           4
#define MAX_POOL_SIZE           64
#define DEF_MAX_BODY            ((size_t)4 << 20)
#define MAX_HEADER_VALUE        8192
#define MAX_KEPT_HEADERS        64
#define MAX_RETRY_AFTER_S       86400L
/* Do not start a wait unless this much is left for the attempt after it. */
#define MIN_ATTEMPT_MS          100L
/* The loop's own guards, beyond every request's deadline. */
#define LOOP_GUARD_ITERATIONS   10000000L
#define LOOP_GUARD_SLACK_MS     5000L
#define POLL_MAX_MS             1000L

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

static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_client *all_clients;

static void session_free(struct session *s)
{
	if (!s)
		return;
	while (s->nspare > 0)
		curl_easy_cleanup(s->spare[--s->nspare]);
	if (s->multi)
		curl_multi_cleanup(s->multi);   /* closes its cached connections */
	free(s);
}

static struct session *session_get(struct http_client *c, int max_parallel)
{
	struct session *s;

	pthread_mutex_lock(&c->mu);
	s = c->idle;
	if (s) {
		c->idle = s->next;
		c->nidle--;
	}
	pthread_mutex_unlock(&c->mu);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->multi = curl_multi_init();
		if (!s->multi) {
			free(s);
			return NULL;
		}
	}
	s->next = NULL;
	/* open connections kept between calls: one per transfer slot */
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)max_parallel);
	return s;
}

static void session_put(struct http_client *c, struct session *s)
{
	pthread_mutex_lock(&c->mu);
	if (c->nidle < c->pool_size) {
		s->next = c->idle;
		c->idle = s;
		c->nidle++;
		s = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	session_free(s);   /* beyond the pool: closed (outside the lock) */
}

/* An easy handle for one transfer: a spare one (reset) or a new one. */
static CURL *session_easy(struct session *s)
{
	CURL *h;

	if (s->nspare > 0) {
		h = s->spare[--s->nspare];
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

static void session_easy_done(struct session *s, CURL *h)
{
	if (s->nspare < MAX_PARALLEL_CAP)
		s->spare[s->nspare++] = h;
	else
		curl_easy_cleanup(h);
}

void http_client_trim(struct http_client *c)
{
	struct session *s;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	s = c->idle;
	c->idle = NULL;
	c->nidle = 0;
	pthread_mutex_unlock(&c->mu);
	while (s) {
		struct session *next = s->next;
		session_free(s);
		s = next;
	}
}

void http_trim_all(void)
{
	pthread_mutex_lock(&all_mu);
	for (struct http_client *c = all_clients; c; c = c->next_client)
		http_client_trim(c);
	pthread_mutex_unlock(&all_mu);
}

/* ---- limits ------------------------------------------------------------------ */

static struct http_limits normalise(const struct http_limits *l)
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
	n = normalise(l);
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

const char *http_client_peer(const struct http_client *c)
{
	return c->peer;
}

void http_format_ms(long ms, char *buf, size_t n)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, n, "%ld s", ms / 1000);
	else
		snprintf(buf, n, "%ld ms", ms);
}

/* ---- responses ----------------------------------------------------------------- */

static void headers_clear(struct http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	sb_init(&r->body);
	r->retry_after_s = -1;
}

void http_response_release(struct http_response *r)
{
	if (!r)
		return;
	headers_clear(r);
	sb_release(&r->body);
	r->status = 0;
}

/* Before each attempt: what a previous one left goes. */
static void response_reset(struct http_response *r)
{
	headers_clear(r);
	if (!r->body.buf)
		sb_init(&r->body);
	r->body.len = 0;
	r->body.buf[0] = '\0';
	r->status = 0;
	r->retry_after_s = -1;
	r->error[0] = '\0';
}

const char *http_header_next(const struct http_response *r, const char *name, const char *prev)
{
	size_t i = 0;

	if (!r || !name)
		return NULL;
	if (prev) {
		while (i < r->nheaders && r->headers[i].value != prev)
			i++;
		i++;
	}
	for (; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

const char *http_header_get(const struct http_response *r, const char *name)
{
	return http_header_next(r, name, NULL);
}

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

static bool kept(const struct http_request *rq, const char *name, size_t nlen)
{
	for (const char *const *k = rq->keep; k && *k; k++)
		if (strlen(*k) == nlen && strncasecmp(*k, name, nlen) == 0)
			return true;
	return false;
}

/* Retry-After: delta-seconds, or an HTTP date (RFC 9110 §10.2.3). */
static long parse_retry_after(const char *v, size_t n)
{
	char buf[128];
	size_t i = 0;
	long s = 0;
	time_t t;

	while (i < n && (v[i] >= '0' && v[i] <= '9')) {
		if (s < MAX_RETRY_AFTER_S)
			s = s * 10 + (v[i] - '0');
		i++;
	}
	if (i > 0 && i == n)
		return s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : s;
	if (i > 0 || n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	t = curl_getdate(buf, NULL);
	if (t == (time_t)-1)
		return -1;
	s = (long)(t - time(NULL));
	return s < 0 ? 0 : s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : s;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (x->rs->body.len + n > x->max_body) {
		x->too_big = true;
		return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	sb_add(&x->rs->body, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct http_response *r = x->rs;
	size_t n = size * nmemb, nlen;
	const char *colon, *v, *end = ptr + n;

	/* A new status line (after 100 Continue) starts a new header set. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		headers_clear(r);
		r->retry_after_s = -1;
		return n;
	}
	colon = memchr(ptr, ':', n);
	if (!colon || colon == ptr)
		return n;
	nlen = (size_t)(colon - ptr);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (nlen == 11 && strncasecmp(ptr, "retry-after", 11) == 0)
		r->retry_after_s = parse_retry_after(v, (size_t)(end - v));
	if ((size_t)(end - v) <= MAX_HEADER_VALUE && r->nheaders < MAX_KEPT_HEADERS && kept(x->rq, ptr, nlen)) {
		r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
		r->headers[r->nheaders].name = xstrndup(ptr, nlen);
		r->headers[r->nheaders].value = xstrndup(v, (size_t)(end - v));
		r->nheaders++;
	}
	return n;
}

/* curl copies the line; NULL means out of memory, which aborts (as xmalloc). */
static struct curl_slist *header_add(struct curl_slist *l, const char *line)
{
	struct curl_slist *nl = curl_slist_append(l, line);

	if (!nl) {
		log_error("out of memory", "where=curl_slist_append");
		abort();
	}
	return nl;
}

static bool url_chars_ok(const char *u)
{
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f)
			return false;
	return true;
}

static bool is_http_url(const char *u)
{
	return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

static bool method_ok(const char *m)
{
	static const char *const ok[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL };

	for (size_t i = 0; m && ok[i]; i++)
		if (strcmp(m, ok[i]) == 0)
			return true;
	return false;
}

static void set_error(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct xfer *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->rs->error, sizeof(x->rs->error), fmt, ap);
	va_end(ap);
}

/* The request's label for logs and metrics. */
static const char *op_of(const struct http_request *rq)
{
	return rq->op ? rq->op : "request";
}

static const char *peer_of(const struct xfer *x)
{
	return x->rq->peer ? x->rq->peer : x->c->peer;
}

/* The request is done: its result stays in rs and *rc. */
static void finish(struct xfer *x, int rc)
{
	x->state = X_DONE;
	*x->rc = rc;
	x->rs->ms = now_ms_mono() - x->t0;
	x->rs->attempts = x->attempt;
	if (x->hdrs) {
		/* curl's copy of the Authorization line holds the token too */
		for (struct curl_slist *l = x->hdrs; l; l = l->next)
			explicit_bzero(l->data, strlen(l->data));
		curl_slist_free_all(x->hdrs);
		x->hdrs = NULL;
	}
	free_secret(x->auth);
	x->auth = NULL;
	free(x->url);
	x->url = NULL;
}

/* Check and resolve the request once, before the first attempt. */
static int prepare(struct xfer *x)
{
	const struct http_request *rq = x->rq;
	struct http_client *c = x->c;

	if (!rq->url || !method_ok(rq->method) || !url_chars_ok(rq->url)) {
		log_warn("http request refused", "client=%s op=%s reason=%s", c->name, op_of(rq),
			 method_ok(rq->method) ? "bad url" : "bad method");
		set_error(x, "viva could not send a request to %s (bad %s)", peer_of(x),
			  method_ok(rq->method) ? "URL" : "method");
		return VIVA_EINVAL;
	}
	if (is_http_url(rq->url)) {
		x->url = xstrdup(rq->url);
	} else if (rq->url[0] == '/' && c->base_url) {
		x->url = xasprintf("%s%s", c->base_url, rq->url);
	} else {
		log_warn("http request refused", "client=%s op=%s reason=%s", c->name, op_of(rq),
			 "relative url without a base");
		set_error(x, "viva could not send a request to %s (bad URL)", peer_of(x));
		return VIVA_EINVAL;
	}
	for (const char *const *h = rq->headers; h && *h; h++)
		x->hdrs = header_add(x->hdrs, *h);
	/* no "Expect: 100-continue" round trip for larger bodies */
	x->hdrs = header_add(x->hdrs, "Expect:");
	if (rq->bearer) {
		x->auth = xasprintf("Authorization: Bearer %s", rq->bearer);
		x->hdrs = header_add(x->hdrs, x->auth);
	}
	return VIVA_OK;
}

static void set_tls(struct http_client *c, CURL *h)
{
	if (c->ca_pem) {
		struct curl_blob b = { .data = c->ca_pem, .len = strlen(c->ca_pem), .flags = CURL_BLOB_NOCOPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else if (c->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else {
		tls_curl_ca(h);   /* CAs on demand, not the whole bundle per connection */
	}
	if (c->cert_pem) {
		struct curl_blob b = { .data = c->cert_pem, .len = strlen(c->cert_pem), .flags = CURL_BLOB_NOCOPY };
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (c->key_pem) {
		struct curl_blob b = { .data = c->key_pem, .len = strlen(c->key_pem), .flags = CURL_BLOB_NOCOPY };
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* Start the next attempt of x on s. false: x is done (failed to start). */
static bool attempt_start(struct session *s, struct xfer *x, const struct http_limits *lim)
{
	const struct http_request *rq = x->rq;
	int64_t left = x->deadline - now_ms_mono();
	CURL *h;
	CURLMcode mc;

	response_reset(x->rs);
	x->too_big = false;
	x->errbuf[0] = '\0';
	x->attempt++;
	x->attempt_t0 = now_ms_mono();
	x->attempt_timeout_ms = lim->timeout_ms < left ? lim->timeout_ms : (long)left;
	if (x->attempt_timeout_ms < 1)
		x->attempt_timeout_ms = 1;
	h = session_easy(s);
	if (!h) {
		log_error("curl_easy_init failed", "client=%s op=%s", x->c->name, op_of(rq));
		set_error(x, "%s is not reachable (libcurl failed to start)", peer_of(x));
		finish(x, VIVA_EUNAVAIL);
		return false;
	}
	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* Redirects are the protocol's to follow, never with credentials. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	set_tls(x->c, h);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(rq->method, "POST") == 0)
			curl_easy_setopt(h, CURLOPT_POST, 1L);
		else
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		if (rq->body || strcmp(rq->method, "DELETE") != 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
		}
	}
	if (rq->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, rq->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, rq->password ? rq->password : "");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "viva/1");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 lim->connect_timeout_ms < x->attempt_timeout_ms ? lim->connect_timeout_ms
									 : x->attempt_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->attempt_timeout_ms);
	/* (not for HEAD: its Content-Length is the size of a body never sent) */
	if (strcmp(rq->method, "HEAD") != 0)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	mc = curl_multi_add_handle(s->multi, h);
	if (mc != CURLM_OK) {
		log_error("curl_multi_add_handle failed", "client=%s op=%s error=\"%s\"", x->c->name, op_of(rq),
			  curl_multi_strerror(mc));
		session_easy_done(s, h);
		set_error(x, "%s is not reachable (libcurl failed to start)", peer_of(x));
		finish(x, VIVA_EUNAVAIL);
		return false;
	}
	x->h = h;
	x->state = X_RUN;
	return true;
}

/* ---- judging an attempt ------------------------------------------------------------ */

static bool errbuf_has(const struct xfer *x, const char *needle)
{
	return strcasestr(x->errbuf, needle) != NULL;
}

/*
 * The server refused us in TLS (no or a wrong client certificate, no common
 * protocol): an alert, or a new TLS connection it closed as soon as the
 * handshake was done (TLS 1.3 refuses a client certificate after the
 * client's side of the handshake). Repeating the same cannot help; a
 * reused connection that broke (the usual stale keep-alive) can.
 */
static bool tls_alert(const struct xfer *x)
{
	return x->tls_dropped || errbuf_has(x, "alert") || errbuf_has(x, "SSL routines");
}

/* A failure that repeating the same request may cure. */
static bool retryable(const struct xfer *x, CURLcode cc)
{
	if (cc == CURLE_COULDNT_CONNECT)
		return true;   /* nothing was sent */
	if (!x->idempotent)
		return false;
	switch (cc) {
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return !tls_alert(x);
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/* The failure of an attempt without an answer: code and sentence in x. */
static int transport_error(struct xfer *x, CURLcode cc)
{
	const char *peer = peer_of(x);
	const char *hint = x->c->tls_hint;
	char dur[32];
	long oserr = 0;
	curl_off_t connect_us = 0;

	curl_easy_getinfo(x->h, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &connect_us);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		http_format_ms(x->attempt_timeout_ms, dur, sizeof(dur));
		if (connect_us == 0) {
			set_error(x, "%s is not reachable (no connection within %s)", peer, dur);
		} else {
			set_error(x, "%s did not answer within %s", peer, dur);
		}
		return VIVA_ETIMEOUT;
	case CURLE_COULDNT_CONNECT:
		set_error(x, "%s is not reachable (%s)", peer,
			  oserr == ECONNREFUSED ? "connection refused" :
			  oserr == EHOSTUNREACH || oserr == ENETUNREACH ? "no route to the host" :
			  "connection failed");
		return VIVA_EUNAVAIL;
	case CURLE_COULDNT_RESOLVE_HOST:
		set_error(x, "%s is not reachable (host name not found)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_COULDNT_RESOLVE_PROXY:
		set_error(x, "%s is not reachable (the proxy's name not found)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_PEER_FAILED_VERIFICATION:
		if (errbuf_has(x, "subject name") || errbuf_has(x, "does not match"))
			set_error(x, "%s is not reachable: its certificate is for another host name", peer);
		else
			set_error(x, "%s is not reachable: its certificate is not trusted%s%s%s", peer,
				  hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CACERT_BADFILE:
		set_error(x, "viva cannot read the CA certificates to check %s%s%s%s", peer,
			  hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CERTPROBLEM:
		set_error(x, "viva cannot use its client certificate or key for %s", peer);
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CONNECT_ERROR:
		if (errbuf_has(x, "certificate required") || errbuf_has(x, "handshake failure"))
			set_error(x, "%s is not reachable: the TLS handshake failed (does it require a client certificate?)",
				  peer);
		else
			set_error(x, "%s is not reachable: the TLS handshake failed", peer);
		return VIVA_EUNAVAIL;
	case CURLE_FILESIZE_EXCEEDED:
		set_error(x, "%s sent an answer larger than %zu bytes (%s)", peer, x->max_body, op_of(x->rq));
		return VIVA_ERANGE;
	case CURLE_WRITE_ERROR:
		if (x->too_big) {
			set_error(x, "%s sent an answer larger than %zu bytes (%s)", peer, x->max_body, op_of(x->rq));
			return VIVA_ERANGE;
		}
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (errbuf_has(x, "certificate required"))
			set_error(x, "%s is not reachable: it requires a client certificate viva does not have", peer);
		else if (tls_alert(x))
			set_error(x, "%s is not reachable: it closed the TLS connection at once "
				  "(does it require a client certificate, or refuse viva's?)", peer);
		else
			set_error(x, "%s is not reachable (connection lost)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_GOT_NOTHING:
		set_error(x, "%s is not reachable (it closed the connection without an answer)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_UNSUPPORTED_PROTOCOL:   /* (the URL was checked: an HTTP/0.9 answer) */
	case CURLE_WEIRD_SERVER_REPLY:
		set_error(x, "%s is not reachable (it answered with something that is not HTTP)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_URL_MALFORMAT:
		set_error(x, "viva could not send a request to %s (bad URL)", peer);
		return VIVA_EINVAL;
	default:
		break;
	}
	/* curl_easy_strerror() is a fixed text: no URL, no header. */
	set_error(x, "%s is not reachable (%s)", peer, curl_easy_strerror(cc));
	return VIVA_EUNAVAIL;
}

/* Wait before the next attempt, or -1: no retry (the limit or the deadline). */
static long retry_wait(const struct xfer *x, long want_ms, const struct http_limits *lim)
{
	if (x->attempt > lim->max_retries)
		return -1;
	if (want_ms > lim->max_retry_after_ms)
		want_ms = lim->max_retry_after_ms;
	if (now_ms_mono() + want_ms + MIN_ATTEMPT_MS > x->deadline)
		return -1;
	return want_ms;
}

static void schedule(struct xfer *x, long wait_ms)
{
	x->state = X_WAIT;
	x->not_before = now_ms_mono() + wait_ms;
}

/* An attempt ended with cc; x->h is off the multi handle. */
static void attempt_done(struct xfer *x, CURLcode cc, const struct http_limits *lim)
{
	struct http_client *c = x->c;
	const struct http_request *rq = x->rq;
	int64_t ms = now_ms_mono() - x->attempt_t0;
	long status = 0, wait;
	int rc;

	if (cc == CURLE_OK)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	metrics_http_request(c->name, (int)status);
	if (c->on_attempt)
		c->on_attempt(op_of(rq), (int)status);
	if (cc == CURLE_OK) {
		x->rs->status = status;
		log_debug("http request", "client=%s op=%s method=%s status=%ld ms=%lld bytes=%zu attempt=%d",
			  c->name, op_of(rq), rq->method, status, (long long)ms, x->rs->body.len, x->attempt);
		if ((status == 429 && !rq->no_retry_429) || (status == 503 && x->idempotent)) {
			long want = x->rs->retry_after_s >= 0 ? x->rs->retry_after_s * 1000L
							       : lim->default_retry_after_ms;
			/* a long wait is the caller's to schedule, not this thread's to sleep */
			wait = lim->max_sleep_ms && want > lim->max_sleep_ms ? -1 : retry_wait(x, want, lim);
			if (wait >= 0) {
				log_info("http retry", "client=%s op=%s method=%s reason=http_%ld retry_after_s=%ld wait_ms=%ld attempt=%d",
					 c->name, op_of(rq), rq->method, status, x->rs->retry_after_s, wait, x->attempt);
				schedule(x, wait);
				return;
			}
			log_warn("http retries exhausted", "client=%s op=%s method=%s status=%ld retry_after_s=%ld attempts=%d",
				 c->name, op_of(rq), rq->method, status, x->rs->retry_after_s, x->attempt);
		}
		finish(x, VIVA_OK);
		return;
	}
	{
		long fresh = 0;
		curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &fresh);
		x->tls_dropped = fresh > 0 && strncasecmp(x->url, "https://", 8) == 0 &&
				 (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR);
	}
	rc = transport_error(x, cc);
	if (retryable(x, cc)) {
		long want = lim->backoff_ms << (x->attempt - 1 < 6 ? x->attempt - 1 : 6);
		wait = retry_wait(x, want > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : want, lim);
		if (wait >= 0) {
			log_info("http retry", "client=%s op=%s method=%s reason=\"%s\" wait_ms=%ld attempt=%d",
				 c->name, op_of(rq), rq->method, curl_easy_strerror(cc), wait, x->attempt);
			schedule(x, wait);
			return;
		}
	}
	/* curl_easy_strerror() is a fixed text: no URL, no header */
	log_warn("http request failed", "client=%s op=%s method=%s error=\"%s\" ms=%lld attempts=%d",
		 c->name, op_of(rq), rq->method, curl_easy_strerror(cc), (long long)(now_ms_mono() - x->t0),
		 x->attempt);
	finish(x, rc);
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
					session_easy_done(s, x[i].h);
					x[i].h = NULL;
				}
				set_error(&x[i], "%s did not answer in time", peer_of(&x[i]));
				finish(&x[i], VIVA_ETIMEOUT);
			}
			break;
		}
		for (size_t i = 0; i < n && running < (size_t)lim->max_parallel; i++) {
			if (x[i].state != X_WAIT || x[i].not_before > now)
				continue;
			if (attempt_start(s, &x[i], lim))
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
			attempt_done(t, m->data.result, lim);
			/* drop pointers into this call's memory before the handle is kept */
			curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, NULL);
			curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, NULL);
			curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, NULL);
			session_easy_done(s, t->h);
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

/* Take a place in the bulkhead, waiting at most queue_wait_ms. */
static bool enter(struct http_client *c)
{
	struct timespec until;
	bool in = true;

	if (c->max_callers <= 0)
		return true;
	until = timespec_in(CLOCK_REALTIME, c->queue_wait_ms);
	pthread_mutex_lock(&c->mu);
	while (c->callers >= c->max_callers)
		if (pthread_cond_timedwait(&c->place, &c->mu, &until) != 0) {
			in = c->callers < c->max_callers;
			break;
		}
	if (in)
		c->callers++;
	pthread_mutex_unlock(&c->mu);
	return in;
}

static void leave(struct http_client *c)
{
	if (c->max_callers <= 0)
		return;
	pthread_mutex_lock(&c->mu);
	c->callers--;
	pthread_cond_signal(&c->place);
	pthread_mutex_unlock(&c->mu);
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
		response_reset(&rss[i]);
		rcs[i] = VIVA_EUNAVAIL;
		if (prepare(&x[i]) != VIVA_OK)
			finish(&x[i], VIVA_EINVAL);
	}
	if (!enter(c)) {
		/* a slow system holds its share of workers, not every one */
		log_warn("http bulkhead full; request refused", "client=%s max_callers=%d", c->name, c->max_callers);
		metrics_http_request(c->name, 0);
		for (size_t i = 0; i < n; i++)
			if (x[i].state != X_DONE) {
				set_error(&x[i], "%s is answering slowly: %d requests are already waiting for it; "
					  "try again in a minute", peer_of(&x[i]), c->max_callers);
				finish(&x[i], VIVA_EBUSY);
			}
		goto out;
	}
	s = session_get(c, lim.max_parallel);
	if (!s) {
		leave(c);
		log_error("curl_multi_init failed", "client=%s", c->name);
		for (size_t i = 0; i < n; i++)
			if (x[i].state != X_DONE) {
				set_error(&x[i], "%s is not reachable (libcurl failed to start)", peer_of(&x[i]));
				finish(&x[i], VIVA_EUNAVAIL);
			}
		goto out;
	}
	run(c, s, x, n, &lim);
	session_put(c, s);
	leave(c);
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

/* ---- construction -------------------------------------------------------------------- */

/* scheme://authority of an http(s) URL (caller frees), or NULL. */
static char *origin_of(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return NULL;
	p += 3;
	return xstrndup(url, (size_t)(p - url) + strcspn(p, "/?#"));
}

static bool readable(const char *what, const char *path, const char *name)
{
	if (!path || access(path, R_OK) == 0)
		return true;
	log_error("http client tls file not readable", "client=%s option=%s file=%s errno=%d", name, what,
		  path, errno);
	return false;
}

static char *nonempty_copy(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

struct http_client *http_client_new(const struct http_client_opts *o)
{
	struct http_client *c;
	const struct http_tls *t;
	CURLcode cc;

	if (!o || !o->name || !*o->name) {
		log_error("http client refused", "reason=%s", "no name");
		return NULL;
	}
	t = &o->tls;
	if (o->base_url && (!is_http_url(o->base_url) || !url_chars_ok(o->base_url) ||
			    strcspn(o->base_url, "?#") != strlen(o->base_url))) {
		/* never log the URL: it may hold a secret */
		log_error("http client refused", "client=%s reason=%s", o->name, "base url is not http(s) without query");
		return NULL;
	}
	if (!readable("ca_file", t->ca_pem ? NULL : t->ca_file, o->name) ||
	    !readable("cert_file", t->cert_pem ? NULL : t->cert_file, o->name) ||
	    !readable("key_file", t->key_pem ? NULL : t->key_file, o->name))
		return NULL;
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		log_error("curl_global_init failed", "error=\"%s\"", curl_easy_strerror(cc));
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(o->name);
	if (o->base_url) {
		size_t n;
		c->base_url = xstrdup(o->base_url);
		n = strlen(c->base_url);
		while (n > 0 && c->base_url[n - 1] == '/')
			c->base_url[--n] = '\0';
	}
	if (o->peer) {
		c->peer = xstrdup(o->peer);
	} else {
		char *origin = c->base_url ? origin_of(c->base_url) : NULL;
		c->peer = origin ? xasprintf("%s at %s", o->name, origin) : xstrdup(o->name);
		free(origin);
	}
	c->tls_hint = nonempty_copy(o->tls_hint);
	c->ca_file = nonempty_copy(t->ca_file);
	c->ca_pem = nonempty_copy(t->ca_pem);
	c->cert_file = nonempty_copy(t->cert_file);
	c->cert_pem = nonempty_copy(t->cert_pem);
	c->key_file = nonempty_copy(t->key_file);
	c->key_pem = nonempty_copy(t->key_pem);
	c->insecure = t->insecure;
	c->pool_size = o->pool_size <= 0 ? DEF_POOL_SIZE : o->pool_size > MAX_POOL_SIZE ? MAX_POOL_SIZE : o->pool_size;
	c->on_attempt = o->on_attempt;
	c->lim = normalise(&o->limits);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->place, NULL);
	c->max_callers = o->max_callers > 0 ? o->max_callers : 0;
	c->queue_wait_ms = o->queue_wait_ms > 0 ? o->queue_wait_ms : 2000;
	if (c->insecure)
		log_warn("tls certificate checks are off", "client=%s", c->name);
	pthread_mutex_lock(&all_mu);
	c->next_client = all_clients;
	all_clients = c;
	pthread_mutex_unlock(&all_mu);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&all_mu);
	for (struct http_client **p = &all_clients; *p; p = &(*p)->next_client)
		if (*p == c) {
			*p = c->next_client;
			break;
		}
	pthread_mutex_unlock(&all_mu);
	http_client_trim(c);
	free(c->name);
	free(c->peer);
	free(c->base_url);
	free(c->tls_hint);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->cert_pem);
	free(c->key_file);
	free_secret(c->key_pem);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->place);
	free(c);
	/* libcurl counts inits; this undoes the one in http_client_new() */
	curl_global_cleanup();
}
