/*
 * Judging an attempt: an answer (a 429 or 503 waits out its Retry-After
 * and goes again), a failure a retry may cure (after a doubling backoff),
 * or a failure with its code and the one sentence that names the system;
 * the request's log lines (never a URL, a header or a body) and metrics.
 */
#include "bot/clients/http.h"
#include "bot/clients/http_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_BACKOFF_MS          5000L
/* Do not start a wait unless this much is left for the attempt after it. */
#define MIN_ATTEMPT_MS          100L

/* ---- judging an attempt ------------------------------------------------------------ */

void http_set_error(struct xfer *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->rs->error, sizeof(x->rs->error), fmt, ap);
	va_end(ap);
}

/* The request's label for logs and metrics. */
const char *http_op_of(const struct http_request *rq)
{
	return rq->op ? rq->op : "request";
}

const char *http_peer_of(const struct xfer *x)
{
	return x->rq->peer ? x->rq->peer : x->c->peer;
}

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
	const char *peer = http_peer_of(x);
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
			http_set_error(x, "%s is not reachable (no connection within %s)", peer, dur);
		} else {
			http_set_error(x, "%s did not answer within %s", peer, dur);
		}
		return VIVA_ETIMEOUT;
	case CURLE_COULDNT_CONNECT:
		http_set_error(x, "%s is not reachable (%s)", peer,
			       oserr == ECONNREFUSED ? "connection refused" :
			       oserr == EHOSTUNREACH || oserr == ENETUNREACH ? "no route to the host" :
			       "connection failed");
		return VIVA_EUNAVAIL;
	case CURLE_COULDNT_RESOLVE_HOST:
		http_set_error(x, "%s is not reachable (host name not found)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_COULDNT_RESOLVE_PROXY:
		http_set_error(x, "%s is not reachable (the proxy's name not found)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_PEER_FAILED_VERIFICATION:
		if (errbuf_has(x, "subject name") || errbuf_has(x, "does not match"))
			http_set_error(x, "%s is not reachable: its certificate is for another host name", peer);
		else
			http_set_error(x, "%s is not reachable: its certificate is not trusted%s%s%s", peer,
				       hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CACERT_BADFILE:
		http_set_error(x, "viva cannot read the CA certificates to check %s%s%s%s", peer,
			       hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CERTPROBLEM:
		http_set_error(x, "viva cannot use its client certificate or key for %s", peer);
		return VIVA_EUNAVAIL;
	case CURLE_SSL_CONNECT_ERROR:
		if (errbuf_has(x, "certificate required") || errbuf_has(x, "handshake failure"))
			http_set_error(x, "%s is not reachable: the TLS handshake failed (does it require a client certificate?)",
				       peer);
		else
			http_set_error(x, "%s is not reachable: the TLS handshake failed", peer);
		return VIVA_EUNAVAIL;
	case CURLE_FILESIZE_EXCEEDED:
		http_set_error(x, "%s sent an answer larger than %zu bytes (%s)", peer, x->max_body, http_op_of(x->rq));
		return VIVA_ERANGE;
	case CURLE_WRITE_ERROR:
		if (x->too_big) {
			http_set_error(x, "%s sent an answer larger than %zu bytes (%s)", peer, x->max_body, http_op_of(x->rq));
			return VIVA_ERANGE;
		}
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (errbuf_has(x, "certificate required"))
			http_set_error(x, "%s is not reachable: it requires a client certificate viva does not have", peer);
		else if (tls_alert(x))
			http_set_error(x, "%s is not reachable: it closed the TLS connection at once "
				       "(does it require a client certificate, or refuse viva's?)", peer);
		else
			http_set_error(x, "%s is not reachable (connection lost)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_GOT_NOTHING:
		http_set_error(x, "%s is not reachable (it closed the connection without an answer)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_UNSUPPORTED_PROTOCOL:   /* (the URL was checked: an HTTP/0.9 answer) */
	case CURLE_WEIRD_SERVER_REPLY:
		http_set_error(x, "%s is not reachable (it answered with something that is not HTTP)", peer);
		return VIVA_EUNAVAIL;
	case CURLE_URL_MALFORMAT:
		http_set_error(x, "viva could not send a request to %s (bad URL)", peer);
		return VIVA_EINVAL;
	default:
		break;
	}
	/* curl_easy_strerror() is a fixed text: no URL, no header. */
	http_set_error(x, "%s is not reachable (%s)", peer, curl_easy_strerror(cc));
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
void http_attempt_done(struct xfer *x, CURLcode cc, const struct http_limits *lim)
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
		c->on_attempt(http_op_of(rq), (int)status);
	if (cc == CURLE_OK) {
		x->rs->status = status;
		log_debug("http request", "client=%s op=%s method=%s status=%ld ms=%lld bytes=%zu attempt=%d",
			  c->name, http_op_of(rq), rq->method, status, (long long)ms, x->rs->body.len, x->attempt);
		if ((status == 429 && !rq->no_retry_429) || (status == 503 && x->idempotent)) {
			long want = x->rs->retry_after_s >= 0 ? x->rs->retry_after_s * 1000L
							       : lim->default_retry_after_ms;
			/* a long wait is the caller's to schedule, not this thread's to sleep */
			wait = lim->max_sleep_ms && want > lim->max_sleep_ms ? -1 : retry_wait(x, want, lim);
			if (wait >= 0) {
				log_info("http retry", "client=%s op=%s method=%s reason=http_%ld retry_after_s=%ld wait_ms=%ld attempt=%d",
					 c->name, http_op_of(rq), rq->method, status, x->rs->retry_after_s, wait, x->attempt);
				schedule(x, wait);
				return;
			}
			log_warn("http retries exhausted", "client=%s op=%s method=%s status=%ld retry_after_s=%ld attempts=%d",
				 c->name, http_op_of(rq), rq->method, status, x->rs->retry_after_s, x->attempt);
		}
		http_finish(x, VIVA_OK);
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
				 c->name, http_op_of(rq), rq->method, curl_easy_strerror(cc), wait, x->attempt);
			schedule(x, wait);
			return;
		}
	}
	/* curl_easy_strerror() is a fixed text: no URL, no header */
	log_warn("http request failed", "client=%s op=%s method=%s error=\"%s\" ms=%lld attempts=%d",
		 c->name, http_op_of(rq), rq->method, curl_easy_strerror(cc), (long long)(now_ms_mono() - x->t0),
		 x->attempt);
	http_finish(x, rc);
}
