/*
 * The Slack Web API over libcurl (see slack_api.h for the contract).
 *
 * Worker threads call this concurrently. The shared object is read-only after
 * slack_api_new() except for the limits (behind a mutex); each thread keeps
 * its own curl easy handle in thread-specific storage, so connections to
 * Slack stay open between calls of the same thread (no TLS handshake per
 * message) without any sharing between threads.
 *
 * Secrets: the tokens only ever go into the Authorization header, which is
 * built per call and wiped after it. Nothing here logs a URL of a call, a
 * header, or a body; logs carry the method name, the HTTP status and Slack's
 * error code.
 */
#include "bot/slack/api.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEF_CONNECT_TIMEOUT_MS   5000L
#define DEF_CALL_TIMEOUT_MS      10000L
#define DEF_MAX_RETRIES          3
#define DEF_MAX_RETRY_AFTER_MS   60000L
#define DEF_DEADLINE_MS          120000L
#define MAX_RETRIES_CAP          10
/* Slack's replies are small; this only stops a broken or hostile peer. */
#define MAX_REPLY_BYTES          (4L * 1024 * 1024)
/* 429 without Retry-After (Slack always sends one): a short wait for calls,
 * and for apps.connections.open (Tier 1) what the Python SDK assumes. */
#define DEF_RETRY_AFTER_S        1L
#define DEF_CONN_RETRY_AFTER_S   30L
/* Do not start waiting unless this much time is left for the retry itself. */
#define MIN_ATTEMPT_MS           100L

struct slack_api_real {
	struct slack_api base;           /* first: the public handle */
	char *base_url;                  /* ends in '/' */
	char *bot_token;                 /* may be NULL */
	char *app_token;                 /* may be NULL */
	pthread_mutex_t mu;              /* guards lim */
	struct slack_api_limits lim;
};

/* One HTTP request as this module makes them. */
struct request {
	const char *label;               /* method name for logs and metrics */
	const char *url;
	const char *content_type;
	const char *body;
	size_t body_len;
	const char *token;               /* NULL: no Authorization header */
	bool report_429;                 /* return VIVA_EBUSY at once instead of waiting */
};

/* What came back. */
struct reply {
	long status;                     /* 0 if no HTTP answer */
	struct strbuf body;
	bool too_big;
	long retry_after_s;              /* -1: no usable Retry-After header */
};

static const struct slack_api_ops real_ops;

/* ---- a small pool of curl handles -------------------------------------- */
/*
 * Workers borrow a handle (and its kept-alive connection) for one exchange
 * and give it back. A pool rather than one handle per worker: dozens of
 * workers then share a few connections to Slack, and a few handles' buffers
 * stay resident instead of dozens.
 */
#define POOL_MAX 32

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static CURL *pool_idle[POOL_MAX];
static int pool_nidle;
static int pool_total;

static CURL *handle_get(void)
{
	CURL *h = NULL;

	pthread_mutex_lock(&pool_mu);
	while (pool_nidle == 0 && pool_total >= POOL_MAX)
		pthread_cond_wait(&pool_cv, &pool_mu);
	if (pool_nidle > 0)
		h = pool_idle[--pool_nidle];
	else
		pool_total++;
	pthread_mutex_unlock(&pool_mu);
	if (h) {
		curl_easy_reset(h);   /* options go, the connection cache stays */
		return h;
	}
	h = curl_easy_init();
	if (!h) {
		pthread_mutex_lock(&pool_mu);
		pool_total--;
		pthread_cond_signal(&pool_cv);
		pthread_mutex_unlock(&pool_mu);
	}
	return h;
}

static void handle_put(CURL *h)
{
	pthread_mutex_lock(&pool_mu);
	pool_idle[pool_nidle++] = h;
	pthread_cond_signal(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
}

void slack_api_thread_cleanup(void)
{
	pthread_mutex_lock(&pool_mu);
	while (pool_nidle > 0) {
		curl_easy_cleanup(pool_idle[--pool_nidle]);
		pool_total--;
	}
	pthread_mutex_unlock(&pool_mu);
}

/* ---- small helpers ------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	/* Each EINTR leaves the remainder in ts, so this ends. */
	while (ms > 0 && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static struct slack_api_limits get_limits(struct slack_api_real *a)
{
	struct slack_api_limits lim;

	pthread_mutex_lock(&a->mu);
	lim = a->lim;
	pthread_mutex_unlock(&a->mu);
	return lim;
}

/* Slack method names: "chat.postMessage"; nothing that could change the path. */
static bool valid_method(const char *m)
{
	size_t n = 0;

	if (!m || !*m)
		return false;
	for (; m[n]; n++) {
		char c = m[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_'))
			return false;
	}
	return n <= 64;
}

static bool is_http_url(const char *u)
{
	return u && (strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0);
}

/* A short error code from a non-JSON body ("expired_url"), or NULL. */
static const char *short_code(const char *body, size_t len, char *out, size_t outlen)
{
	size_t i = 0;

	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
		len--;
	if (len == 0 || len >= outlen || len > 64)
		return NULL;
	for (; i < len; i++) {
		char c = body[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return NULL;
		out[i] = c;
	}
	out[i] = '\0';
	return out;
}

const char *slack_error(json_t *resp)
{
	const char *e = json_string_value(json_object_get(resp, "error"));

	return e && *e ? e : "unknown";
}

int slack_error_is_fatal(const char *error)
{
	/* Union of what the Node and Go SDKs stop on, plus the token-shape errors
	 * of apps.connections.open: retrying with the same token cannot help. */
	static const char *const fatal[] = {
		"not_authed", "invalid_auth", "account_inactive", "user_removed_from_team",
		"team_disabled", "token_revoked", "missing_args", "forbidden_team", NULL,
	};

	if (!error)
		return 0;
	for (size_t i = 0; fatal[i]; i++)
		if (strcmp(error, fatal[i]) == 0)
			return 1;
	return 0;
}

char *slack_redact_url(const char *url)
{
	struct strbuf sb;
	const char *q, *p;

	if (!url)
		return NULL;
	q = strchr(url, '?');
	if (!q)
		return xstrdup(url);
	sb_init(&sb);
	sb_add(&sb, url, (size_t)(q - url) + 1);
	p = q + 1;
	while (*p) {
		size_t n = strcspn(p, "&#");
		size_t k = strcspn(p, "=&#");
		if (k < n && k == 6 && strncasecmp(p, "ticket", 6) == 0) {
			sb_adds(&sb, "ticket=REDACTED");
		} else {
			sb_add(&sb, p, n);
		}
		p += n;
		if (*p == '&') {
			sb_addc(&sb, '&');
			p++;
		} else if (*p == '#') {
			/* a fragment is never part of a Socket Mode URL; drop it */
			break;
		}
	}
	return sb_detach(&sb);
}

/* ---- one HTTP exchange --------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t n = size * nmemb;

	if (r->body.len + n > (size_t)MAX_REPLY_BYTES) {
		r->too_big = true;
		return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	sb_add(&r->body, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	/* A new status line (after a 100 Continue) starts a new header set. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		r->retry_after_s = -1;
		return n;
	}
	if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		size_t i = sizeof(name) - 1;
		long v = 0;
		bool digits = false;

		while (i < n && (ptr[i] == ' ' || ptr[i] == '\t'))
			i++;
		/* Delta-seconds only; an HTTP-date (Slack sends none) is ignored. */
		for (; i < n && ptr[i] >= '0' && ptr[i] <= '9'; i++) {
			digits = true;
			if (v < 86400)
				v = v * 10 + (ptr[i] - '0');
		}
		while (i < n && (ptr[i] == ' ' || ptr[i] == '\t' || ptr[i] == '\r' || ptr[i] == '\n'))
			i++;
		if (digits && i == n)
			r->retry_after_s = v > 86400 ? 86400 : v;
	}
	return n;
}

/* curl copies the line; NULL means out of memory, which aborts (as xmalloc). */
static struct curl_slist *header_add(struct curl_slist *l, const char *line)
{
	struct curl_slist *n = curl_slist_append(l, line);

	if (!n) {
		log_error("out of memory", "where=curl_slist_append");
		abort();
	}
	return n;
}

static void reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	sb_init(&r->body);
	r->retry_after_s = -1;
}

static void reply_clear(struct reply *r)
{
	r->status = 0;
	r->body.len = 0;
	r->body.buf[0] = '\0';
	r->too_big = false;
	r->retry_after_s = -1;
}

/*
 * Send rq once. VIVA_OK when an HTTP answer came back (r->status set, any
 * status), VIVA_ETIMEOUT or VIVA_EUNAVAIL when none did.
 */
static int exchange(const struct slack_api_limits *lim, long timeout_ms,
		    const struct request *rq, struct reply *r)
{
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ctype = NULL;
	CURL *h;
	CURLcode cc;
	int rc = VIVA_EUNAVAIL;

	h = handle_get();
	if (!h) {
		log_error("curl_easy_init failed", "method=%s", rq->label);
		goto out;
	}
	ctype = xasprintf("Content-Type: %s", rq->content_type);
	hdrs = header_add(hdrs, ctype);
	/* No "Expect: 100-continue" round trip for larger bodies. */
	hdrs = header_add(hdrs, "Expect:");
	if (rq->token) {
		auth = xasprintf("Authorization: Bearer %s", rq->token);
		hdrs = header_add(hdrs, auth);
	}

	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	tls_curl_ca(h);   /* CAs on demand, not the whole bundle per connection */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* Redirects are not followed: the bearer token must not travel on. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "viva/1");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 lim->connect_timeout_ms < timeout_ms ? lim->connect_timeout_ms : timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_REPLY_BYTES);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);

	cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		rc = VIVA_OK;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		log_warn("slack api timeout", "method=%s timeout_ms=%ld", rq->label, timeout_ms);
		rc = VIVA_ETIMEOUT;
	} else if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		log_warn("slack api reply too large", "method=%s max_bytes=%ld", rq->label, MAX_REPLY_BYTES);
		rc = VIVA_EUNAVAIL;
	} else {
		/* curl_easy_strerror() is a fixed text: no URL, no header. */
		log_warn("slack api transport error", "method=%s error=\"%s\"", rq->label,
			 curl_easy_strerror(cc));
		rc = VIVA_EUNAVAIL;
	}
	/* Drop pointers into this call's memory before the handle is kept. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	handle_put(h);
out:
	/* curl's copy of the Authorization line holds the token too. */
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	free_secret(auth);
	free(ctype);
	return rc;
}

/*
 * Send rq, waiting out HTTP 429 as Slack asks: Retry-After seconds (capped),
 * at most max_retries times, and never past the call's deadline. VIVA_OK
 * means an answer other than 429 is in r (any status); VIVA_EBUSY that the
 * last answer was still 429.
 */
static int send_with_retries(struct slack_api_real *a, const struct request *rq, struct reply *r)
{
	struct slack_api_limits lim = get_limits(a);
	int64_t deadline = now_ms_mono() + lim.deadline_ms;
	int rc = VIVA_EUNAVAIL;

	for (int attempt = 0; attempt <= lim.max_retries; attempt++) {
		int64_t left = deadline - now_ms_mono();
		long timeout = lim.call_timeout_ms;
		long wait_ms;

		if (left <= 0) {
			log_warn("slack api deadline passed", "method=%s attempts=%d", rq->label, attempt);
			rc = VIVA_ETIMEOUT;
			break;
		}
		if (left < timeout)
			timeout = (long)left;
		reply_clear(r);
		rc = exchange(&lim, timeout, rq, r);
		metrics_api_call(rq->label, rc == VIVA_OK ? (int)r->status : 0);
		if (rc != VIVA_OK || r->status != 429)
			break;

		rc = VIVA_EBUSY;
		if (rq->report_429)
			break;
		if (attempt == lim.max_retries) {
			log_warn("slack api rate limited, giving up", "method=%s attempts=%d",
				 rq->label, attempt + 1);
			break;
		}
		wait_ms = (r->retry_after_s >= 0 ? r->retry_after_s : DEF_RETRY_AFTER_S) * 1000L;
		if (wait_ms > lim.max_retry_after_ms)
			wait_ms = lim.max_retry_after_ms;
		if (now_ms_mono() + wait_ms + MIN_ATTEMPT_MS > deadline) {
			log_warn("slack api rate limited past the deadline", "method=%s retry_after_s=%ld",
				 rq->label, r->retry_after_s);
			break;
		}
		log_info("slack api rate limited", "method=%s retry_after_s=%ld wait_ms=%ld attempt=%d",
			 rq->label, r->retry_after_s, wait_ms, attempt + 1);
		sleep_ms(wait_ms);
	}
	return rc;
}

/* The reply body as a JSON object, or NULL. */
static json_t *parse_object(const struct reply *r)
{
	json_error_t jerr;
	json_t *j;

	if (r->body.len == 0)
		return NULL;
	j = json_loadb(r->body.buf, r->body.len, 0, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Map a Web API answer (not 429) to a return code. *out gets the parsed
 * object when there is one.
 */
static int web_api_result(const struct request *rq, const struct reply *r, json_t **out)
{
	json_t *j = parse_object(r);
	json_t *ok = json_object_get(j, "ok");
	int rc;

	if (r->status >= 500) {
		log_warn("slack api unavailable", "method=%s status=%ld", rq->label, r->status);
		rc = VIVA_EUNAVAIL;
	} else if (!j || !json_is_boolean(ok)) {
		log_warn("slack api bad reply", "method=%s status=%ld bytes=%zu", rq->label,
			 r->status, r->body.len);
		rc = VIVA_EUNAVAIL;
	} else if (json_is_false(ok)) {
		log_warn("slack api error", "method=%s error=%s", rq->label, slack_error(j));
		rc = VIVA_EREMOTE;
	} else if (r->status != 200) {
		/* ok:true on an error status: not something Slack does. */
		log_warn("slack api bad reply", "method=%s status=%ld", rq->label, r->status);
		rc = VIVA_EUNAVAIL;
	} else {
		const char *w = json_string_value(json_object_get(j, "warning"));
		if (w)
			log_debug("slack api warning", "method=%s warning=%s", rq->label, w);
		rc = VIVA_OK;
	}
	*out = j;
	return rc;
}

/* ---- the operations ------------------------------------------------------ */

static int real_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	struct request rq = { .label = method };
	struct reply r;
	char *url = NULL, *body = NULL;
	json_t *j = NULL;
	int rc;

	reply_init(&r);
	if (!valid_method(method) || (args && !json_is_object(args))) {
		log_warn("slack api bad call", "method=%s", valid_method(method) ? method : "(invalid)");
		rc = VIVA_EINVAL;
		goto out;
	}
	if (!a->bot_token) {
		log_warn("slack api bad call", "method=%s reason=no_bot_token", method);
		rc = VIVA_EINVAL;
		goto out;
	}
	body = args ? json_dumps(args, JSON_COMPACT) : xstrdup("{}");
	if (!body) {
		rc = VIVA_EINVAL;
		goto out;
	}
	url = xasprintf("%s%s", a->base_url, method);
	rq.url = url;
	rq.content_type = "application/json; charset=utf-8";
	rq.body = body;
	rq.body_len = strlen(body);
	rq.token = a->bot_token;

	rc = send_with_retries(a, &rq, &r);
	if (rc == VIVA_OK)
		rc = web_api_result(&rq, &r, &j);
	else if (rc == VIVA_EBUSY)
		j = parse_object(&r);
out:
	if (resp)
		*resp = j;
	else
		json_decref(j);
	free(url);
	free(body);
	sb_release(&r.body);
	return rc;
}

static int real_respond(struct slack_api *api, const char *response_url, json_t *msg)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	struct request rq = { .label = "response_url" };
	struct reply r;
	char *body = NULL;
	char code[72];
	json_t *j = NULL;
	int rc;

	reply_init(&r);
	if (!is_http_url(response_url) || !json_is_object(msg)) {
		log_warn("response_url post refused", "reason=%s",
			 json_is_object(msg) ? "not an http(s) url" : "message is not an object");
		rc = VIVA_EINVAL;
		goto out;
	}
	body = json_dumps(msg, JSON_COMPACT);
	if (!body) {
		rc = VIVA_EINVAL;
		goto out;
	}
	/* Slack documents no Authorization for response_url: the URL is the secret. */
	rq.url = response_url;
	rq.content_type = "application/json; charset=utf-8";
	rq.body = body;
	rq.body_len = strlen(body);

	rc = send_with_retries(a, &rq, &r);
	if (rc != VIVA_OK)
		goto out;
	j = parse_object(&r);
	if (r.status == 404 || r.status == 410) {
		/* Past 30 minutes or 5 uses; the caller falls back to chat.postMessage. */
		log_warn("response_url expired", "status=%ld error=%s", r.status,
			 j ? slack_error(j) : short_code(r.body.buf, r.body.len, code, sizeof(code))
			     ? code : "unknown");
		rc = VIVA_EREMOTE;
	} else if (r.status >= 500) {
		log_warn("response_url unavailable", "status=%ld", r.status);
		rc = VIVA_EUNAVAIL;
	} else if (r.status == 200) {
		/* The body may be plain "ok"; only an explicit ok:false is a refusal. */
		if (j && json_is_false(json_object_get(j, "ok"))) {
			log_warn("response_url refused", "status=200 error=%s", slack_error(j));
			rc = VIVA_EREMOTE;
		}
	} else {
		log_warn("response_url refused", "status=%ld error=%s", r.status,
			 j ? slack_error(j) : short_code(r.body.buf, r.body.len, code, sizeof(code))
			     ? code : "unknown");
		rc = VIVA_EREMOTE;
	}
out:
	json_decref(j);
	free(body);
	sb_release(&r.body);
	return rc;
}

static int connections_open(struct slack_api_real *a, char **url, int *retry_after_s, char **error)
{
	struct request rq = { .label = "apps.connections.open" };
	struct reply r;
	char *endpoint = NULL, *shown = NULL;
	json_t *j = NULL;
	const char *u;
	int rc;

	reply_init(&r);
	if (!a->app_token) {
		log_warn("slack api bad call", "method=%s reason=no_app_token", rq.label);
		rc = VIVA_EINVAL;
		goto out;
	}
	endpoint = xasprintf("%sapps.connections.open", a->base_url);
	rq.url = endpoint;
	/* As in Slack's Socket Mode example: an empty form body, token in the header. */
	rq.content_type = "application/x-www-form-urlencoded";
	rq.body = "";
	rq.body_len = 0;
	rq.token = a->app_token;
	/* The reconnect loop backs off itself; it must not be stuck in here. */
	rq.report_429 = true;

	rc = send_with_retries(a, &rq, &r);
	if (rc == VIVA_EBUSY) {
		long s = r.retry_after_s >= 0 ? r.retry_after_s : DEF_CONN_RETRY_AFTER_S;
		if (retry_after_s)
			*retry_after_s = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
		log_warn("slack api rate limited", "method=%s retry_after_s=%ld", rq.label, s);
		goto out;
	}
	if (rc != VIVA_OK)
		goto out;
	rc = web_api_result(&rq, &r, &j);
	if (rc == VIVA_EREMOTE) {
		if (error)
			*error = xstrdup(slack_error(j));
		goto out;
	}
	if (rc != VIVA_OK)
		goto out;
	u = json_string_value(json_object_get(j, "url"));
	if (!u || (strncasecmp(u, "wss://", 6) != 0 && strncasecmp(u, "ws://", 5) != 0)) {
		log_warn("slack api bad reply", "method=%s reason=%s", rq.label,
			 u ? "url is not ws(s)" : "no url");
		rc = VIVA_EUNAVAIL;
		goto out;
	}
	shown = slack_redact_url(u);
	log_info("socket mode url obtained", "url=%s", shown);
	*url = xstrdup(u);
out:
	free(shown);
	free(endpoint);
	json_decref(j);
	sb_release(&r.body);
	return rc;
}

static int real_connections_open(struct slack_api *api, char **url, int *retry_after_s)
{
	return connections_open((struct slack_api_real *)api, url, retry_after_s, NULL);
}

static void real_free(struct slack_api *api)
{
	struct slack_api_real *a = (struct slack_api_real *)api;

	slack_api_thread_cleanup();
	free(a->base_url);
	free_secret(a->bot_token);
	free_secret(a->app_token);
	pthread_mutex_destroy(&a->mu);
	free(a);
	/* libcurl counts inits; this undoes the one in slack_api_new(). */
	curl_global_cleanup();
}

static const struct slack_api_ops real_ops = {
	.call = real_call,
	.respond = real_respond,
	.connections_open = real_connections_open,
	.free = real_free,
};

struct slack_api *slack_api_new(const char *base, const char *bot_token, const char *app_token)
{
	struct slack_api_real *a;
	CURLcode cc;
	size_t n;

	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		log_error("curl_global_init failed", "error=\"%s\"", curl_easy_strerror(cc));
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->base.ops = &real_ops;
	if (!base || !*base)
		base = "https://slack.com/api/";
	n = strlen(base);
	a->base_url = base[n - 1] == '/' ? xstrdup(base) : xasprintf("%s/", base);
	a->bot_token = bot_token && *bot_token ? xstrdup(bot_token) : NULL;
	a->app_token = app_token && *app_token ? xstrdup(app_token) : NULL;
	pthread_mutex_init(&a->mu, NULL);
	a->lim.connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	a->lim.call_timeout_ms = DEF_CALL_TIMEOUT_MS;
	a->lim.max_retries = DEF_MAX_RETRIES;
	a->lim.max_retry_after_ms = DEF_MAX_RETRY_AFTER_MS;
	a->lim.deadline_ms = DEF_DEADLINE_MS;
	return &a->base;
}

void slack_api_set_limits(struct slack_api *api, const struct slack_api_limits *lim)
{
	struct slack_api_real *a = (struct slack_api_real *)api;

	if (!api || api->ops != &real_ops || !lim)
		return;
	pthread_mutex_lock(&a->mu);
	a->lim.connect_timeout_ms = lim->connect_timeout_ms > 0 ? lim->connect_timeout_ms
								: DEF_CONNECT_TIMEOUT_MS;
	a->lim.call_timeout_ms = lim->call_timeout_ms > 0 ? lim->call_timeout_ms : DEF_CALL_TIMEOUT_MS;
	a->lim.max_retries = lim->max_retries < 0 ? DEF_MAX_RETRIES
			     : lim->max_retries > MAX_RETRIES_CAP ? MAX_RETRIES_CAP : lim->max_retries;
	a->lim.max_retry_after_ms = lim->max_retry_after_ms > 0 ? lim->max_retry_after_ms
								: DEF_MAX_RETRY_AFTER_MS;
	a->lim.deadline_ms = lim->deadline_ms > 0 ? lim->deadline_ms : DEF_DEADLINE_MS;
	pthread_mutex_unlock(&a->mu);
}

/* ---- the public entry points (they dispatch, so fakes work too) ---------- */

void slack_api_free(struct slack_api *api)
{
	if (api && api->ops && api->ops->free)
		api->ops->free(api);
}

int slack_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	if (resp)
		*resp = NULL;
	if (!api || !api->ops || !api->ops->call)
		return VIVA_EINVAL;
	return api->ops->call(api, method, args, resp);
}

int slack_respond(struct slack_api *api, const char *response_url, json_t *msg)
{
	if (!api || !api->ops || !api->ops->respond)
		return VIVA_EINVAL;
	return api->ops->respond(api, response_url, msg);
}

int slack_connections_open(struct slack_api *api, char **url, int *retry_after_s)
{
	return slack_connections_open_ex(api, url, retry_after_s, NULL);
}

int slack_connections_open_ex(struct slack_api *api, char **url, int *retry_after_s, char **error)
{
	int rc;

	if (error)
		*error = NULL;
	if (retry_after_s)
		*retry_after_s = 0;
	if (!url)
		return VIVA_EINVAL;
	*url = NULL;
	if (!api || !api->ops || !api->ops->connections_open)
		return VIVA_EINVAL;
	if (api->ops == &real_ops)
		return connections_open((struct slack_api_real *)api, url, retry_after_s, error);
	rc = api->ops->connections_open(api, url, retry_after_s);
	if (rc == VIVA_EREMOTE && error)
		*error = xstrdup("unknown");
	return rc;
}
