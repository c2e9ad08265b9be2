#ifndef VIVA_BOT_CLIENTS_HTTP_H
#define VIVA_BOT_CLIENTS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/lib/strbuf.h"

/*
 * One HTTP client layer for every outside system viva calls (the Slack Web
 * API, the registry; Kubernetes and Prometheus next). The protocol modules
 * (bot/slack/api.c, bot/clients/registry.c) describe requests and read
 * answers; this layer owns everything between: libcurl handles and their
 * reuse, timeouts, TLS options, Retry-After on 429/503, bounded retries,
 * concurrency, request logs without secrets, metrics, and turning a failed
 * exchange into one sentence that names the system.
 *
 * A client (struct http_client) stands for one outside system: a name for
 * logs and metrics ("slack", "registry", "kube:prod"), how messages name it
 * ("the registry at http://127.0.0.1:5000"), limits and TLS settings. It is
 * safe to use from many threads at once.
 *
 * Connection reuse. libcurl keeps open connections in the connection cache
 * of a multi handle (an easy handle run alone gets a private one). A client
 * keeps a small pool of *sessions*: a multi handle (with its cache of open
 * connections) and the easy handles run on it. A call (one request, or a
 * batch) borrows a whole session, runs every transfer on it and gives it
 * back, so the next call on any thread finds the connections open. Sessions
 * are not shared while in use: libcurl does not support one connection cache
 * used by several threads at once (CURLSHOPT_SHARE with CURL_LOCK_DATA_CONNECT
 * is documented as unsafe across threads in 7.88), and a lock held for a
 * whole call would serialise the workers. Calls beyond the idle sessions get
 * a new one; at most `pool_size` idle sessions are kept, each with at most
 * `max_parallel` open connections. No lock is held across a network call:
 * the pool's mutex guards two pointer moves.
 *
 * Concurrency. http_do_batch() runs independent requests at once on one
 * session's multi handle, at most max_parallel transfers at a time (HTTP/1.1:
 * as many connections; HTTP/2: streams on one). A request waiting out a
 * Retry-After or a backoff does not hold a transfer slot.
 *
 * Retries. Within the request's deadline (all attempts and waits), at most
 * max_retries more attempts:
 *  - HTTP 429: wait Retry-After (delta-seconds or an HTTP date; capped at
 *    max_retry_after_ms; default_retry_after_ms without one) and retry, for
 *    any method: the server refused the request without acting on it. A wait
 *    that would end past the deadline is not started: the 429 is returned.
 *    no_retry_429 returns the first 429 at once (the caller backs off).
 *  - HTTP 503: the same, for idempotent requests only.
 *  - No answer: idempotent requests (GET, HEAD, PUT, DELETE, or idempotent
 *    set) are retried with a doubling backoff when the connection failed, was
 *    reset or closed without an answer; other requests (a POST: never send a
 *    Slack message twice) only when the connection could not be made at all,
 *    so nothing was sent. A timeout is never retried: the user already
 *    waited a whole timeout.
 * Redirects are never followed (credentials must not travel on); the
 * protocol module decides.
 *
 * Secrets. bearer, user and password are secrets: they go to libcurl only,
 * and the Authorization line is wiped after the request. Logs carry the
 * client's name, the op label, the method, the status, the duration, bytes
 * and attempts: never a URL (its path may be a response_url, its query a
 * token), never a header, never a body.
 *
 * Metrics: viva_http_requests_total{client,status} counts every exchange
 * (an attempt; status "error" when no HTTP answer came back).
 */

/* Limits of a client. A field <= 0 keeps its default (see http.c), except
 * max_retries: 0 means no retry and < 0 the default. */
struct http_limits {
	long connect_timeout_ms;     /* 5000 */
	long timeout_ms;             /* one attempt, all of it: 30000 */
	long deadline_ms;            /* one request with every retry and wait: 120000 */
	int max_retries;             /* 3, capped at 10 */
	long max_retry_after_ms;     /* cap on one Retry-After wait: 60000 */
	long default_retry_after_ms; /* a 429/503 without Retry-After: 1000 */
	long backoff_ms;             /* first wait after a failed connection, doubling: 100 */
	int max_parallel;            /* transfers at once in a batch: 8 (at most 64) */
	/* A Retry-After longer than this is not slept in the call: the 429/503
	 * answer is returned with rs->retry_after_s for the caller to try again
	 * later (a worker must not be held for 30 s). 0: no such limit. */
	long max_sleep_ms;
};

/* TLS settings. Strings are copied. With neither ca_file nor ca_pem the
 * default trust of bot/clients/tls.h applies (the hashed CA directory). */
struct http_tls {
	const char *ca_file;         /* PEM bundle to trust instead of the system's */
	const char *ca_pem;          /* or the PEM text itself (wins over ca_file) */
	const char *cert_file;       /* client certificate (PEM) for mutual TLS */
	const char *cert_pem;        /* or its PEM text (wins over cert_file) */
	const char *key_file;        /* its private key (PEM) */
	const char *key_pem;         /* or its PEM text (a secret) */
	bool insecure;               /* no certificate check at all (a lab server) */
};

struct http_client_opts {
	const char *name;            /* required: logs and metrics ("registry") */
	const char *peer;            /* messages: "the registry at http://..."; NULL: "<name> at <origin>" */
	const char *base_url;        /* relative request URLs ("/v2/") are appended to it; may be NULL */
	const char *tls_hint;        /* said when a certificate is not trusted: "set REGISTRY_CA_FILE" */
	struct http_limits limits;
	struct http_tls tls;
	int pool_size;               /* idle sessions kept: 4 */
	/*
	 * A bulkhead: at most max_callers calls (http_do or a batch) on this
	 * system at once, so that a system that hangs holds that many workers
	 * and no more. A call beyond it waits at most queue_wait_ms (default
	 * 2000) for a place, then fails at once with VIVA_EBUSY ("<peer> is
	 * answering slowly: N requests are waiting for it; try again in a
	 * minute"). 0: no bound.
	 */
	int max_callers;
	long queue_wait_ms;
	/* Called after every exchange (status 0: no HTTP answer), e.g. for a
	 * protocol's own metric. op is the request's label. */
	void (*on_attempt)(const char *op, int status);
};

struct http_client;

/* NULL for options that cannot work (no name, a bad base URL, an unreadable
 * TLS file...), logged; or if libcurl cannot initialise. */
struct http_client *http_client_new(const struct http_client_opts *o);
/* No call may be running on c. Undoes the client's curl_global_init. */
void http_client_free(struct http_client *c);
void http_client_set_limits(struct http_client *c, const struct http_limits *l);
struct http_limits http_client_limits(struct http_client *c);
/* How messages name the system (borrowed, valid while c lives). */
const char *http_client_peer(const struct http_client *c);
/* Close the idle sessions of c (their connections), or of every client. */
void http_client_trim(struct http_client *c);
void http_trim_all(void);

struct http_request {
	const char *op;              /* label for logs and metrics: "manifest", "chat.postMessage" */
	const char *method;          /* GET HEAD POST PUT PATCH DELETE */
	const char *url;             /* absolute http(s) URL, or "/path" under the client's base_url */
	const char *const *headers;  /* NULL-terminated "Name: value" lines (never logged) */
	const void *body;            /* sent as is (POST, PUT, PATCH); may be NULL */
	size_t body_len;
	const char *bearer;          /* secret: Authorization: Bearer */
	const char *user;            /* secret: HTTP Basic, with password ("" when NULL) */
	const char *password;
	size_t max_body;             /* cap on the answer's body; 0: 4 MiB */
	const char *const *keep;     /* NULL-terminated names of answer headers to keep (any case) */
	bool idempotent;             /* a POST that is safe to repeat (a query) */
	bool no_retry_429;           /* return a 429 at once; the caller backs off itself */
	const char *peer;            /* names another origin in messages ("the registry's token service at ...") */
};

struct http_header {
	char *name;                  /* as sent */
	char *value;                 /* without surrounding blanks */
};

/* Embedded: http_response_init() before use, http_response_release() after. */
struct http_response {
	long status;                 /* 0: no HTTP answer */
	struct strbuf body;          /* NUL-terminated */
	struct http_header *headers; /* the kept ones, in the order received */
	size_t nheaders;
	long retry_after_s;          /* Retry-After of the last answer, -1 when none */
	int attempts;
	int64_t ms;                  /* whole request, every attempt and wait */
	char error[320];             /* on failure: one sentence naming the system */
};
void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);
/* The first kept header called name (any case), or NULL; then the next. */
const char *http_header_get(const struct http_response *r, const char *name);
const char *http_header_next(const struct http_response *r, const char *name, const char *prev);

/*
 * Send rq, with the retries above. VIVA_OK when an HTTP answer is in rs
 * (any status: a 429 that outlived its retries too); otherwise no answer
 * and rs->error says why:
 *   VIVA_ETIMEOUT  "<peer> did not answer within 30 s"
 *   VIVA_EUNAVAIL  "<peer> is not reachable (connection refused)", a TLS
 *                  failure ("... its certificate is not trusted (<tls_hint>)")
 *   VIVA_ERANGE    "<peer> sent an answer larger than N bytes (<op>)"
 *   VIVA_EINVAL    a request that cannot be sent (bad URL or method)
 *   VIVA_EBUSY     the bulkhead is full (see max_callers): nothing was sent
 * rs is reset first.
 */
int http_do(struct http_client *c, const struct http_request *rq, struct http_response *rs);

/*
 * Send n independent requests at once (at most max_parallel transfers at a
 * time), each as http_do() would: rcs[i] and rss[i] are request i's. Returns
 * the number of requests that got an HTTP answer.
 */
size_t http_do_batch(struct http_client *c, const struct http_request *rqs, struct http_response *rss,
		     int *rcs, size_t n);

/* "30 s" or "300 ms", for messages. */
void http_format_ms(long ms, char *buf, size_t n);

#endif
