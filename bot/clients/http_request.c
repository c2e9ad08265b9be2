/*
 * Building a request: checking and resolving it once before the first
 * attempt (method, URL against the client's base, header lines, the
 * Authorization line), then for each attempt an easy handle set up with
 * the method and body, credentials, TLS options, timeouts within the
 * deadline and the answer's callbacks; http_finish() ends a request and
 * wipes its secrets.
 */
#include "bot/clients/http.h"
#include "bot/clients/http_impl.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

bool http_url_chars_ok(const char *u)
{
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f)
			return false;
	return true;
}

bool http_is_http_url(const char *u)
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

/* The request is done: its result stays in rs and *rc. */
void http_finish(struct xfer *x, int rc)
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
int http_prepare(struct xfer *x)
{
	const struct http_request *rq = x->rq;
	struct http_client *c = x->c;

	if (!rq->url || !method_ok(rq->method) || !http_url_chars_ok(rq->url)) {
		log_warn("http request refused", "client=%s op=%s reason=%s", c->name, http_op_of(rq),
			 method_ok(rq->method) ? "bad url" : "bad method");
		http_set_error(x, "viva could not send a request to %s (bad %s)", http_peer_of(x),
			       method_ok(rq->method) ? "URL" : "method");
		return VIVA_EINVAL;
	}
	if (http_is_http_url(rq->url)) {
		x->url = xstrdup(rq->url);
	} else if (rq->url[0] == '/' && c->base_url) {
		x->url = xasprintf("%s%s", c->base_url, rq->url);
	} else {
		log_warn("http request refused", "client=%s op=%s reason=%s", c->name, http_op_of(rq),
			 "relative url without a base");
		http_set_error(x, "viva could not send a request to %s (bad URL)", http_peer_of(x));
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
bool http_attempt_start(struct session *s, struct xfer *x, const struct http_limits *lim)
{
	const struct http_request *rq = x->rq;
	int64_t left = x->deadline - now_ms_mono();
	CURL *h;
	CURLMcode mc;

	http_response_reset(x->rs);
	x->too_big = false;
	x->errbuf[0] = '\0';
	x->attempt++;
	x->attempt_t0 = now_ms_mono();
	x->attempt_timeout_ms = lim->timeout_ms < left ? lim->timeout_ms : (long)left;
	if (x->attempt_timeout_ms < 1)
		x->attempt_timeout_ms = 1;
	h = http_session_easy(s);
	if (!h) {
		log_error("curl_easy_init failed", "client=%s op=%s", x->c->name, http_op_of(rq));
		http_set_error(x, "%s is not reachable (libcurl failed to start)", http_peer_of(x));
		http_finish(x, VIVA_EUNAVAIL);
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
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	mc = curl_multi_add_handle(s->multi, h);
	if (mc != CURLM_OK) {
		log_error("curl_multi_add_handle failed", "client=%s op=%s error=\"%s\"", x->c->name, http_op_of(rq),
			  curl_multi_strerror(mc));
		http_session_easy_done(s, h);
		http_set_error(x, "%s is not reachable (libcurl failed to start)", http_peer_of(x));
		http_finish(x, VIVA_EUNAVAIL);
		return false;
	}
	x->h = h;
	x->state = X_RUN;
	return true;
}
