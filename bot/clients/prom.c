/*
 * The Prometheus HTTP API client (see prom.h for the contract): the
 * protocol only. Every request goes through one HTTP client of
 * bot/clients/http.h named "prometheus" (kept-alive connections, timeouts,
 * TLS, Retry-After on 429, logs without secrets, the sentence for a failed
 * exchange).
 *
 * Prometheus behaviour this relies on (2.42, observed; FACTS.md section 2):
 * sample values come as strings ("665280", "NaN", "+Inf",
 * "1984454.9999999998"), times as JSON numbers in seconds; errors as
 * {"status":"error","errorType":..,"error":..} with 400 (bad_data), 422
 * (execution), 503 (timeout, unavailable), 500 (internal); an unknown path
 * is a plain-text 404. A proxy in front (Thanos, Mimir, an auth proxy) may
 * answer 401/403/429/502 with any body.
 *
 * Logs carry the operation, the result's type and size, the status and
 * Prometheus's errorType: never the query (it may be 10 KB), never a header.
 */
#include "bot/clients/prom.h"
#include "bot/clients/http.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEF_TIMEOUT_MS         30000L
#define DEF_CONNECT_TIMEOUT_MS 5000L
#define DEF_MAX_BYTES          ((size_t)32 << 20)
/* A 429's Retry-After longer than this is not waited for: a person or an
 * audit is waiting; the 429 is returned. */
#define MAX_RETRY_AFTER_MS     5000L
/* Prometheus refuses a range query with more steps a series than this. */
#define MAX_STEPS              11000
/* How much of Prometheus's own words a message quotes. */
#define SHOW_MAX               300

struct prom {
	struct http_client *http;
	char *url;                   /* without a trailing '/' */
	char *query_url;             /* url + /api/v1/query */
	char *range_url;             /* url + /api/v1/query_range */
	char *peer;                  /* "Prometheus at <url>" */
	char *user, *password;       /* secrets; both or neither */
	char *token;                 /* secret */
	size_t max_bytes;
	_Atomic uint64_t sent;
};

static const char *const form_headers[] = {
	"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL,
};

/* ---- errors --------------------------------------------------------------------------- */

static _Thread_local char last_err[640];

const char *prom_last_error(void)
{
	return last_err;
}

static int fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- results ---------------------------------------------------------------------------- */

void prom_result_release(struct prom_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		json_decref(r->series[i].labels);
		free(r->series[i].points);
	}
	free(r->series);
	free(r->text);
	json_decref(r->warnings);
	memset(r, 0, sizeof(*r));
}

const char *prom_label(const struct prom_series *s, const char *name)
{
	return s && name ? json_string_value(json_object_get(s->labels, name)) : NULL;
}

static const char *type_name(enum prom_type t)
{
	switch (t) {
	case PROM_VECTOR: return "vector";
	case PROM_MATRIX: return "matrix";
	case PROM_SCALAR: return "scalar";
	case PROM_STRING: return "string";
	}
	return "?";
}

/* ---- parsing an answer --------------------------------------------------------------------- */

/* Where a malformed answer went wrong, for the message. */
struct parse {
	const char *what;            /* "data.result[3].value" style, static text */
	size_t index;
	bool indexed;
};

static bool bad(struct parse *ps, const char *what)
{
	ps->what = what;
	return false;
}

static bool bad_at(struct parse *ps, const char *what, size_t i)
{
	ps->what = what;
	ps->index = i;
	ps->indexed = true;
	return false;
}

/* A sample value as Prometheus writes it: a decimal or exponent number,
 * "NaN", "+Inf", "-Inf" (strtod's other forms, hex or leading blanks, are
 * not Prometheus's). */
static bool parse_value(const char *s, double *v)
{
	char *end;

	if (!s || !*s || s[0] == ' ' || s[0] == '\t' || strpbrk(s, "xX"))
		return false;
	/* out of range is fine: an overflow is +-Inf, an underflow a tiny number */
	*v = strtod(s, &end);
	return *end == '\0';
}

/* [t, "v"] */
static bool parse_point(json_t *a, struct prom_point *pt, const char **text)
{
	json_t *t = json_array_get(a, 0), *v = json_array_get(a, 1);

	if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_number(t) || !json_is_string(v))
		return false;
	pt->t = json_number_value(t);
	if (text) {
		*text = json_string_value(v);
		pt->v = NAN;
		return true;
	}
	return parse_value(json_string_value(v), &pt->v);
}

/* A metric's labels: an object of strings (a new reference), {} when absent. */
static json_t *parse_labels(json_t *m)
{
	const char *k;
	json_t *v;

	if (!m)
		return json_object();
	if (!json_is_object(m))
		return NULL;
	json_object_foreach(m, k, v)
		if (!json_is_string(v))
			return NULL;
	return json_incref(m);
}

static int cmp_point(const void *a, const void *b)
{
	double x = ((const struct prom_point *)a)->t, y = ((const struct prom_point *)b)->t;

	return x < y ? -1 : x > y;
}

static bool parse_series(json_t *e, bool matrix, struct prom_series *s, size_t i, struct parse *ps)
{
	json_t *values;
	bool sorted = true;
	size_t j;

	if (!json_is_object(e))
		return bad_at(ps, "data.result[i] is not an object", i);
	s->labels = parse_labels(json_object_get(e, "metric"));
	if (!s->labels)
		return bad_at(ps, "data.result[i].metric is not an object of strings", i);
	if (json_object_get(e, matrix ? "histograms" : "histogram"))
		return bad_at(ps, "data.result[i] holds native histograms, which viva does not read", i);
	if (!matrix) {
		if (!parse_point(json_object_get(e, "value"), &s->value, NULL))
			return bad_at(ps, "data.result[i].value is not [time, \"number\"]", i);
		return true;
	}
	values = json_object_get(e, "values");
	if (!json_is_array(values))
		return bad_at(ps, "data.result[i].values is not an array", i);
	s->value.t = s->value.v = NAN;
	s->npoints = json_array_size(values);
	s->points = s->npoints ? xcalloc(s->npoints, sizeof(*s->points)) : NULL;
	for (j = 0; j < s->npoints; j++) {
		if (!parse_point(json_array_get(values, j), &s->points[j], NULL))
			return bad_at(ps, "data.result[i].values holds something that is not [time, \"number\"]", i);
		if (j > 0 && s->points[j].t < s->points[j - 1].t)
			sorted = false;
	}
	if (!sorted)
		qsort(s->points, s->npoints, sizeof(*s->points), cmp_point);
	return true;
}

/* data of a "success" answer into out. */
static bool parse_data(json_t *data, struct prom_result *out, struct parse *ps)
{
	const char *rt = json_string_value(json_object_get(data, "resultType"));
	json_t *result = json_object_get(data, "result");

	if (!json_is_object(data))
		return bad(ps, "no data object");
	if (!rt)
		return bad(ps, "no data.resultType");
	if (strcmp(rt, "vector") == 0 || strcmp(rt, "matrix") == 0) {
		bool matrix = rt[0] == 'm';

		out->type = matrix ? PROM_MATRIX : PROM_VECTOR;
		if (!json_is_array(result))
			return bad(ps, "data.result is not an array");
		out->n = json_array_size(result);
		out->series = out->n ? xcalloc(out->n, sizeof(*out->series)) : NULL;
		for (size_t i = 0; i < out->n; i++)
			if (!parse_series(json_array_get(result, i), matrix, &out->series[i], i, ps))
				return false;
		return true;
	}
	if (strcmp(rt, "scalar") == 0 || strcmp(rt, "string") == 0) {
		bool str = rt[1] == 't';
		const char *text = NULL;

		out->type = str ? PROM_STRING : PROM_SCALAR;
		out->series = xcalloc(1, sizeof(*out->series));
		out->n = 1;
		out->series[0].labels = json_object();
		if (!parse_point(result, &out->series[0].value, str ? &text : NULL))
			return bad(ps, str ? "data.result is not [time, \"text\"]" : "data.result is not [time, \"number\"]");
		if (str)
			out->text = xstrdup(text);
		return true;
	}
	return bad(ps, "an unknown data.resultType");
}

static bool parse_warnings(json_t *w, struct prom_result *out, struct parse *ps)
{
	size_t i;
	json_t *v;

	if (!w || json_is_null(w))
		return true;
	if (!json_is_array(w))
		return bad(ps, "warnings is not an array");
	json_array_foreach(w, i, v) {
		if (!json_is_string(v))
			return bad(ps, "warnings holds something that is not a string");
		json_array_append(out->warnings, v);
	}
	return true;
}

/* ---- error answers ---------------------------------------------------------------------------- */

/* {"status":"error","errorType":T,"error":E}: Prometheus's own words. */
static int api_error(struct prom *p, const char *op, long status, const char *type, const char *msg)
{
	char m[SHOW_MAX + 1], t[48];

	text_shown(msg && *msg ? msg : "(no message)", m, sizeof(m), SHOW_MAX);
	text_shown(type && *type ? type : "(none)", t, sizeof(t), 40);
	log_warn("prom query failed", "op=%s status=%ld error_type=%s", op, status, t);
	if (strcmp(t, "bad_data") == 0)
		return fail(VIVA_EINVAL, "%s refused the query (bad_data): %s", p->peer, m);
	if (strcmp(t, "timeout") == 0)
		return fail(VIVA_ETIMEOUT, "%s gave up on the query (timeout): %s", p->peer, m);
	if (strcmp(t, "unavailable") == 0)
		return fail(VIVA_EUNAVAIL, "%s is unavailable: %s", p->peer, m);
	if (strcmp(t, "execution") == 0)
		return fail(VIVA_EREMOTE, "%s could not run the query (execution): %s", p->peer, m);
	return fail(VIVA_EREMOTE, "%s failed the query (%s, HTTP %ld): %s", p->peer, t, status, m);
}

/* A non-2xx answer without the API's error envelope. */
static int http_error(struct prom *p, const char *op, long status)
{
	log_warn("prom query failed", "op=%s status=%ld error_type=-", op, status);
	if ((status == 401 || status == 403) && !p->user && !p->token)
		return fail(VIVA_EAUTH, "%s requires credentials: set PROMETHEUS_USER and PROMETHEUS_PASSWORD, "
			    "or PROMETHEUS_TOKEN", p->peer);
	if (status == 401 || status == 403)
		return fail(VIVA_EAUTH, "%s refused viva's credentials (HTTP %ld; check %s)", p->peer, status,
			    p->token ? "PROMETHEUS_TOKEN" : "PROMETHEUS_USER/PROMETHEUS_PASSWORD");
	if (status == 429)
		return fail(VIVA_EBUSY, "%s is rate limiting viva (HTTP 429); try again later", p->peer);
	if (status == 502 || status == 503 || status == 504)
		return fail(VIVA_EUNAVAIL, "%s is unavailable (HTTP %ld)", p->peer, status);
	if (status == 404)
		return fail(VIVA_EREMOTE, "%s answered HTTP 404 to /api/v1/%s: is the URL right (with the "
			    "prefix of a Thanos or Mimir front, if any)?", p->peer, op);
	return fail(VIVA_EREMOTE, "%s answered HTTP %ld to /api/v1/%s", p->peer, status, op);
}

/* ---- a query -------------------------------------------------------------------------------------- */

static void form_add(struct strbuf *sb, const char *key, const char *value)
{
	if (sb->len)
		sb_addc(sb, '&');
	sb_adds(sb, key);
	sb_addc(sb, '=');
	sb_add_pct(sb, value);
}

static void form_add_time(struct strbuf *sb, const char *key, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)v);
	form_add(sb, key, num);
}

/* Send the form to url and read the answer into out. */
static int run(struct prom *p, const char *op, const char *url, const struct strbuf *form,
	       struct prom_result *out)
{
	struct http_request rq = {
		.op = op, .method = "POST", .url = url, .headers = form_headers,
		.body = form->buf, .body_len = form->len, .max_body = p->max_bytes,
		.bearer = p->token, .user = p->user, .password = p->password,
	};
	struct http_response rs;
	struct parse ps = { 0 };
	json_t *j = NULL;
	const char *status;
	int rc;

	http_response_init(&rs);
	out->warnings = json_array();
	atomic_fetch_add(&p->sent, 1);
	rc = http_do(p->http, &rq, &rs);
	if (rc != VIVA_OK) {
		/* no answer: the layer's sentence names Prometheus and its URL */
		rc = fail(rc, "%s", rs.error);
		goto out;
	}
	if (rs.status == 401 || rs.status == 403 || rs.status == 429) {
		/* a proxy's answer, whatever its body says */
		rc = http_error(p, op, rs.status);
		goto out;
	}
	j = json_loadb(rs.body.buf, rs.body.len, 0, NULL);
	status = json_string_value(json_object_get(j, "status"));
	if (status && strcmp(status, "error") == 0) {
		rc = api_error(p, op, rs.status, json_string_value(json_object_get(j, "errorType")),
			       json_string_value(json_object_get(j, "error")));
		goto out;
	}
	if (rs.status < 200 || rs.status > 299) {
		rc = http_error(p, op, rs.status);
		goto out;
	}
	if (!json_is_object(j)) {
		log_warn("prom query failed", "op=%s status=%ld error_type=not_json bytes=%zu", op, rs.status,
			 rs.body.len);
		rc = fail(VIVA_EREMOTE, "%s sent an answer that is not the API's JSON (%s, %zu bytes)", p->peer, op,
			  rs.body.len);
		goto out;
	}
	if (!status || strcmp(status, "success") != 0) {
		ps.what = "no status \"success\" or \"error\"";
	} else if (parse_warnings(json_object_get(j, "warnings"), out, &ps) &&
		   parse_data(json_object_get(j, "data"), out, &ps)) {
		log_debug("prom query", "op=%s type=%s series=%zu warnings=%zu bytes=%zu ms=%lld", op,
			  type_name(out->type), out->n, json_array_size(out->warnings), rs.body.len,
			  (long long)rs.ms);
		if (json_array_size(out->warnings))
			log_info("prom query warnings", "op=%s count=%zu", op, json_array_size(out->warnings));
		rc = VIVA_OK;
		goto out;
	}
	log_warn("prom query failed", "op=%s status=%ld error_type=malformed", op, rs.status);
	if (ps.indexed)
		rc = fail(VIVA_EREMOTE, "%s sent a malformed answer (%s): series %zu: %s", p->peer, op, ps.index,
			  ps.what);
	else
		rc = fail(VIVA_EREMOTE, "%s sent a malformed answer (%s): %s", p->peer, op, ps.what);
out:
	if (rc != VIVA_OK)
		prom_result_release(out);
	json_decref(j);
	http_response_release(&rs);
	return rc;
}

static int check_query(struct prom *p, const char *promql, struct prom_result *out)
{
	last_err[0] = '\0';
	if (out)
		memset(out, 0, sizeof(*out));
	if (!p || !out)
		return fail(VIVA_EINVAL, "no Prometheus client or no result to fill");
	if (!promql || !*promql)
		return fail(VIVA_EINVAL, "an empty query for %s", p->peer);
	return VIVA_OK;
}

int prom_query(struct prom *p, const char *promql, int64_t at, struct prom_result *out)
{
	struct strbuf form;
	int rc = check_query(p, promql, out);

	if (rc != VIVA_OK)
		return rc;
	sb_init(&form);
	form_add(&form, "query", promql);
	form_add_time(&form, "time", at);
	rc = run(p, "query", p->query_url, &form, out);
	sb_release(&form);
	return rc;
}

int prom_ready(struct prom *p)
{
	static const char *const accept_any[] = { "Accept: */*", NULL };
	struct http_request rq = { .op = "ready", .method = "GET", .headers = accept_any, .max_body = 4096,
				   .bearer = p ? p->token : NULL, .user = p ? p->user : NULL,
				   .password = p ? p->password : NULL };
	struct http_response rs;
	char *url;
	int rc;

	last_err[0] = '\0';
	if (!p)
		return fail(VIVA_EINVAL, "no Prometheus client");
	url = xasprintf("%s/-/ready", p->url);
	rq.url = url;
	http_response_init(&rs);
	rc = http_do(p->http, &rq, &rs);
	if (rc != VIVA_OK)
		rc = fail(rc, "%s", rs.error);
	else if (rs.status == 503)
		rc = fail(VIVA_EUNAVAIL, "%s is not ready (HTTP 503: it is starting, or replaying its write-ahead "
			  "log)", p->peer);
	else if (rs.status == 404)
		rc = fail(VIVA_EREMOTE, "%s answered HTTP 404 to /-/ready: is the URL Prometheus itself (a Thanos "
			  "or Mimir front has no /-/ready: check it with a query)?", p->peer);
	else if (rs.status == 401 || rs.status == 403 || rs.status == 429)
		rc = http_error(p, "ready", rs.status);
	else if (rs.status != 200)
		rc = fail(rs.status >= 500 ? VIVA_EUNAVAIL : VIVA_EREMOTE, "%s answered HTTP %ld to /-/ready", p->peer,
			  rs.status);
	http_response_release(&rs);
	free(url);
	return rc;
}

int prom_query_range(struct prom *p, const char *promql, int64_t start, int64_t end, int64_t step,
		     struct prom_result *out)
{
	struct strbuf form;
	int rc = check_query(p, promql, out);

	if (rc != VIVA_OK)
		return rc;
	if (step <= 0 || start < 0 || end < start)
		return fail(VIVA_EINVAL, "a range query for %s needs 0 <= start <= end and a step > 0 (got "
			    "%lld..%lld every %lld s)", p->peer, (long long)start, (long long)end, (long long)step);
	if ((end - start) / step > MAX_STEPS)
		return fail(VIVA_EINVAL, "a range query for %s would ask for more than %d steps a series "
			    "(Prometheus's limit); use a longer step than %lld s", p->peer, MAX_STEPS, (long long)step);
	sb_init(&form);
	form_add(&form, "query", promql);
	form_add_time(&form, "start", start);
	form_add_time(&form, "end", end);
	form_add_time(&form, "step", step);
	rc = run(p, "query_range", p->range_url, &form, out);
	sb_release(&form);
	return rc;
}

uint64_t prom_queries_sent(const struct prom *p)
{
	return p ? atomic_load(&((struct prom *)p)->sent) : 0;
}

const char *prom_peer(const struct prom *p)
{
	return p ? p->peer : "Prometheus";
}

/* ---- the client --------------------------------------------------------------------------------- */

/* A token goes into a header as is: nothing that could end or split it. */
static bool token_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool set(const char *s)
{
	return s && *s;
}

/* The base URL without a trailing '/' (caller frees), or NULL with why. */
static char *base_url(const char *u, const char **why)
{
	const char *auth;
	size_t alen, n;
	char *url;

	*why = "expected an http:// or https:// URL";
	if (!u || (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0))
		return NULL;
	for (const char *c = u; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '#')
			return NULL;
	auth = strstr(u, "://") + 3;
	alen = strcspn(auth, "/?");
	if (alen == 0) {
		*why = "the URL has no host";
		return NULL;
	}
	if (memchr(auth, '@', alen)) {
		*why = "credentials belong in PROMETHEUS_USER/PROMETHEUS_PASSWORD or PROMETHEUS_TOKEN, not in the URL";
		return NULL;
	}
	if (strchr(auth, '?')) {
		*why = "the URL must not have a query";
		return NULL;
	}
	url = xstrdup(u);
	n = strlen(url);
	while (n > (size_t)(auth - u) + alen && url[n - 1] == '/')
		url[--n] = '\0';
	return url;
}

struct prom *prom_new(const struct prom_opts *o, char *err, size_t errlen)
{
	struct http_client_opts ho = { .name = "prometheus", .tls_hint = "set prometheus.ca_file" };
	struct prom *p = NULL;
	const char *why = NULL;
	long timeout;
	char *url = NULL;

	if (err && errlen)
		err[0] = '\0';
	if (!o || !set(o->url)) {
		viva_errf(err, errlen, "no Prometheus URL (set PROMETHEUS_URL or prometheus.url)");
		return NULL;
	}
	url = base_url(o->url, &why);
	if (!url) {
		/* never quote the URL: it may hold a password */
		viva_errf(err, errlen, "PROMETHEUS_URL / prometheus.url: %s", why);
		return NULL;
	}
	if (set(o->user) != set(o->password)) {
		viva_errf(err, errlen, "%s is set without %s: set both for basic auth, or PROMETHEUS_TOKEN alone",
			  set(o->user) ? "PROMETHEUS_USER" : "PROMETHEUS_PASSWORD",
			  set(o->user) ? "PROMETHEUS_PASSWORD" : "PROMETHEUS_USER");
		goto fail;
	}
	if (set(o->user) && set(o->token)) {
		viva_errf(err, errlen, "PROMETHEUS_USER and PROMETHEUS_TOKEN are both set: use basic auth or a "
			  "bearer token, not both");
		goto fail;
	}
	if (set(o->token) && !token_text(o->token)) {
		viva_errf(err, errlen, "PROMETHEUS_TOKEN must not contain spaces or control characters");
		goto fail;
	}
	if (set(o->ca_file) && access(o->ca_file, R_OK) != 0) {
		viva_errf(err, errlen, "prometheus.ca_file %s: %s", o->ca_file, strerror(errno));
		goto fail;
	}
	timeout = o->timeout_ms > 0 ? o->timeout_ms : DEF_TIMEOUT_MS;
	p = xcalloc(1, sizeof(*p));
	p->url = url;
	url = NULL;
	p->peer = xasprintf("Prometheus at %s", p->url);
	ho.peer = p->peer;
	ho.limits = (struct http_limits){
		.connect_timeout_ms = timeout < DEF_CONNECT_TIMEOUT_MS ? timeout : DEF_CONNECT_TIMEOUT_MS,
		/* "one query, all of it": every attempt and wait within it */
		.timeout_ms = timeout,
		.deadline_ms = timeout,
		.max_retries = 2,
		.max_retry_after_ms = MAX_RETRY_AFTER_MS,
		.max_sleep_ms = MAX_RETRY_AFTER_MS,
	};
	ho.max_callers = o->max_concurrent > 0 ? o->max_concurrent : 0;
	ho.tls.ca_file = set(o->ca_file) ? o->ca_file : NULL;
	p->http = http_client_new(&ho);
	if (!p->http) {
		viva_errf(err, errlen, "%s: the HTTP client cannot be set up (see the log)", p->peer);
		goto fail;
	}
	p->query_url = xasprintf("%s/api/v1/query", p->url);
	p->range_url = xasprintf("%s/api/v1/query_range", p->url);
	if (set(o->user)) {
		p->user = xstrdup(o->user);
		p->password = xstrdup(o->password);
	}
	if (set(o->token))
		p->token = xstrdup(o->token);
	p->max_bytes = o->max_bytes ? o->max_bytes : DEF_MAX_BYTES;
	return p;
fail:
	free(url);
	prom_free(p);
	return NULL;
}

void prom_free(struct prom *p)
{
	if (!p)
		return;
	http_client_free(p->http);
	free(p->url);
	free(p->query_url);
	free(p->range_url);
	free(p->peer);
	free_secret(p->user);
	free_secret(p->password);
	free_secret(p->token);
	free(p);
}
