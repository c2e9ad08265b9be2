/*
 * The answer to a request (struct http_response): its body up to the
 * request's cap, the headers the request keeps, Retry-After (seconds or an
 * HTTP date), and the reset before each attempt.
 */
#include "bot/clients/http.h"
#include "bot/clients/http_impl.h"
#include "bot/lib/alloc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_HEADER_VALUE        8192
#define MAX_KEPT_HEADERS        64
#define MAX_RETRY_AFTER_S       86400L

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
void http_response_reset(struct http_response *r)
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

size_t http_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
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

size_t http_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
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
