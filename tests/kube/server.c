/*
 * The fake Kubernetes API server's transport: one accept thread on
 * 127.0.0.1, a thread per connection, HTTP/1.1 with keep-alive (what Go's
 * client, hence kubectl, uses when the server offers no h2), plain or TLS
 * (client certificates verified against the fake's CA when asked for),
 * bearer tokens, the fault injector, the request log, watch streaming, the
 * controllers' ticker and the /_fake/ control API. Every read, write and
 * wait is bounded in time; every loop checks the stop flag.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD        (64 * 1024)
#define MAX_BODY        (3 * 1024 * 1024)   /* the real API server's request limit */
#define IO_MS           10000               /* one read or write of a request */
#define IDLE_MS         60000               /* a kept-alive connection waiting for its next request */
#define POLL_MS         100
#define MAX_REQS_CONN   100000              /* requests on one connection */
#define WATCH_MAX_S     600                 /* a watch ends after this at most */

struct conn {
	struct fake_kube *k;
	int fd;
	SSL *ssl;
	char *cert_user;
	struct strbuf in;         /* bytes read and not consumed */
};

/* ---- time ----------------------------------------------------------------------------- */

int64_t kf_now(struct fake_kube *k)
{
	if (k->fixed_now)
		return k->fixed_now;
	return now_unix() + k->clock_offset;
}

void kf_rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t kf_parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *e;

	if (!s)
		return -1;
	e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!e)
		return -1;
	if (*e == '.')
		for (e++; *e >= '0' && *e <= '9'; e++)
			;
	if (*e != 'Z' || e[1])
		return -1;
	return (int64_t)timegm(&tm);
}

/* ---- connections ------------------------------------------------------------------------ */

static bool stopping(struct conn *c)
{
	return atomic_load(&c->k->stop);
}

/* Read more bytes into c->in; false on EOF, error, stop or after ms. */
static bool c_fill(struct conn *c, int ms)
{
	int64_t end = now_ms_mono() + ms;
	char buf[16384];

	while (!stopping(c) && now_ms_mono() < end) {
		int n;

		if (c->ssl) {
			if (SSL_pending(c->ssl) == 0) {
				struct pollfd pf = { .fd = c->fd, .events = POLLIN };
				if (poll(&pf, 1, POLL_MS) <= 0)
					continue;
			}
			n = SSL_read(c->ssl, buf, sizeof(buf));
			if (n > 0) {
				sb_add(&c->in, buf, (size_t)n);
				return true;
			}
			switch (SSL_get_error(c->ssl, n)) {
			case SSL_ERROR_WANT_READ:
			case SSL_ERROR_WANT_WRITE:
				continue;
			default:
				ERR_clear_error();
				return false;
			}
		} else {
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };
			ssize_t r;

			if (poll(&pf, 1, POLL_MS) <= 0)
				continue;
			r = read(c->fd, buf, sizeof(buf));
			if (r > 0) {
				sb_add(&c->in, buf, (size_t)r);
				return true;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return false;
		}
	}
	return false;
}

static bool c_write(struct conn *c, const char *p, size_t n)
{
	int64_t end = now_ms_mono() + IO_MS;

	while (n > 0 && !stopping(c) && now_ms_mono() < end) {
		if (c->ssl) {
			int w = SSL_write(c->ssl, p, (int)(n > 65536 ? 65536 : n));
			if (w > 0) {
				p += w;
				n -= (size_t)w;
				continue;
			}
			switch (SSL_get_error(c->ssl, w)) {
			case SSL_ERROR_WANT_WRITE:
			case SSL_ERROR_WANT_READ: {
				struct pollfd pf = { .fd = c->fd, .events = POLLOUT | POLLIN };
				poll(&pf, 1, POLL_MS);
				break;
			}
			default:
				ERR_clear_error();
				return false;
			}
		} else {
			ssize_t w = write(c->fd, p, n);
			if (w > 0) {
				p += w;
				n -= (size_t)w;
			} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
				struct pollfd pf = { .fd = c->fd, .events = POLLOUT };
				poll(&pf, 1, POLL_MS);
			} else {
				return false;
			}
		}
	}
	return n == 0;
}

/* Sleep ms, waking for the stop flag. */
static void nap(struct fake_kube *k, int ms)
{
	int64_t end = now_ms_mono() + ms;

	while (!atomic_load(&k->stop) && now_ms_mono() < end) {
		int64_t left = end - now_ms_mono();
		struct timespec ts = { 0, (long)((left < POLL_MS ? left : POLL_MS) * 1000000L) };
		nanosleep(&ts, NULL);
	}
}

/* ---- HTTP parsing --------------------------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static char *pct_decode(const char *s, size_t n, bool plus)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (plus && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void parse_query(struct kf_query *q, const char *s)
{
	while (s && *s && q->n < 64) {
		size_t len = strcspn(s, "&");
		const char *eq = memchr(s, '=', len);

		if (len > 0) {
			if (eq) {
				q->k[q->n] = pct_decode(s, (size_t)(eq - s), true);
				q->v[q->n] = pct_decode(eq + 1, len - (size_t)(eq - s) - 1, true);
			} else {
				q->k[q->n] = pct_decode(s, len, true);
				q->v[q->n] = xstrdup("");
			}
			q->n++;
		}
		s += len;
		if (*s == '&')
			s++;
	}
}

const char *q_get(const struct kf_query *q, const char *key)
{
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->k[i], key) == 0)
			return q->v[i];
	return NULL;
}

static void req_release(struct kf_req *r)
{
	free(r->path);
	free(r->raw_target);
	for (int i = 0; i < r->q.n; i++) {
		free(r->q.k[i]);
		free(r->q.v[i]);
	}
	free(r->content_type);
	free(r->accept);
	free(r->user_agent);
	free(r->user);
	free(r->groups);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void kf_resp_release(struct kf_resp *r)
{
	json_decref(r->body);
	free(r->raw);
	json_decref(r->warnings);
	free(r->watch_ns);
	free(r->watch_name);
	sel_free(r->watch_sel);
	fsel_free(r->watch_fsel);
	memset(r, 0, sizeof(*r));
}

/* A header's value (caller frees) from the head lines, or NULL. */
static char *head_value(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r' && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (strncasecmp(s, name, n) == 0 && s[n] == ':') {
			s += n + 1;
			while (*s == ' ' || *s == '\t')
				s++;
			return xstrndup(s, strcspn(s, "\r\n"));
		}
	}
	return NULL;
}

enum rd { RD_OK, RD_EOF, RD_BAD, RD_TOO_BIG, RD_MALFORMED };

/* Consume n bytes at the front of c->in. */
static void consume(struct conn *c, size_t n)
{
	memmove(c->in.buf, c->in.buf + n, c->in.len - n);
	c->in.len -= n;
	c->in.buf[c->in.len] = '\0';
}

static enum rd read_chunked(struct conn *c, struct strbuf *body)
{
	for (int chunks = 0; chunks < 100000; chunks++) {
		char *eol;
		unsigned long size;

		while (!(eol = strstr(c->in.buf, "\r\n")))
			if (c->in.len > 1024 || !c_fill(c, IO_MS))
				return RD_BAD;
		size = strtoul(c->in.buf, NULL, 16);
		consume(c, (size_t)(eol - c->in.buf) + 2);
		if (body->len + size > MAX_BODY)
			return RD_TOO_BIG;
		while (c->in.len < size + 2)
			if (!c_fill(c, IO_MS))
				return RD_BAD;
		if (size == 0) {
			/* trailers end with an empty line */
			while (!strstr(c->in.buf, "\r\n"))
				if (!c_fill(c, IO_MS))
					return RD_BAD;
			consume(c, (size_t)(strstr(c->in.buf, "\r\n") - c->in.buf) + 2);
			return RD_OK;
		}
		sb_add(body, c->in.buf, size);
		consume(c, size + 2);
	}
	return RD_BAD;
}

static enum rd read_request(struct conn *c, struct kf_req *r, bool *keep_alive)
{
	char *eoh, *head = NULL, *cl = NULL, *te = NULL, *connhdr = NULL;
	char target[8192];
	char version[16];
	enum rd rc = RD_BAD;
	int64_t idle_end = now_ms_mono() + IDLE_MS;

	while (!(eoh = strstr(c->in.buf, "\r\n\r\n"))) {
		if (c->in.len > MAX_HEAD)
			return RD_TOO_BIG;
		if (now_ms_mono() > idle_end || !c_fill(c, c->in.len ? IO_MS : IDLE_MS))
			return c->in.len ? RD_BAD : RD_EOF;
	}
	head = xstrndup(c->in.buf, (size_t)(eoh - c->in.buf) + 2);
	consume(c, (size_t)(eoh - c->in.buf) + 4);
	if (sscanf(head, "%11s %8191s %15s", r->method, target, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
		rc = RD_MALFORMED;
		goto out;
	}
	r->raw_target = xstrdup(target);
	{
		char *qm = strchr(target, '?');
		r->path = pct_decode(target, qm ? (size_t)(qm - target) : strlen(target), false);
		if (qm)
			parse_query(&r->q, qm + 1);
	}
	r->content_type = head_value(head, "Content-Type");
	r->accept = head_value(head, "Accept");
	r->user_agent = head_value(head, "User-Agent");
	cl = head_value(head, "Content-Length");
	te = head_value(head, "Transfer-Encoding");
	connhdr = head_value(head, "Connection");
	{
		/* libcurl asks before sending a large body; answering at once saves its wait */
		char *expect = head_value(head, "Expect");
		if (expect && strcasecmp(expect, "100-continue") == 0 && (cl || te) && c->in.len == 0)
			c_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		free(expect);
	}
	*keep_alive = strcmp(version, "HTTP/1.1") == 0 && !(connhdr && strcasecmp(connhdr, "close") == 0);
	if (te && strcasecmp(te, "chunked") == 0) {
		struct strbuf b;
		sb_init(&b);
		rc = read_chunked(c, &b);
		r->body_len = b.len;
		r->body = sb_detach(&b);
		if (rc != RD_OK)
			goto out;
	} else if (cl) {
		char *end;
		unsigned long n = strtoul(cl, &end, 10);
		if (*end || end == cl)
			goto out;
		if (n > MAX_BODY) {
			rc = RD_TOO_BIG;
			goto out;
		}
		while (c->in.len < n)
			if (!c_fill(c, IO_MS))
				goto out;
		r->body = xstrndup(c->in.buf, n);
		r->body_len = n;
		consume(c, n);
	}
	rc = RD_OK;
out:
	/* kept for auth: the Authorization header */
	if (rc == RD_OK) {
		char *auth = head_value(head, "Authorization");
		r->user = auth;   /* resolved by authenticate() */
	}
	free(head);
	free(cl);
	free(te);
	free(connhdr);
	return rc;
}

/* ---- answers ------------------------------------------------------------------------------------- */

static const char *reason_phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void audit_id(char out[40])
{
	static atomic_uint_fast64_t seq;
	uint64_t n = atomic_fetch_add(&seq, 1) + 1;

	snprintf(out, 40, "%08x-0000-4000-8000-%012llx", (unsigned)getpid(), (unsigned long long)n);
}

static bool send_head(struct conn *c, int code, const char *ctype, long len, json_t *warnings,
		      const char *extra, bool keep_alive)
{
	struct strbuf h;
	char aid[40], date[64];
	time_t now = time(NULL);
	struct tm tm;
	bool ok;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	audit_id(aid);
	sb_init(&h);
	sb_addf(&h, "HTTP/1.1 %d %s\r\nAudit-Id: %s\r\nCache-Control: no-cache, private\r\n"
		    "Content-Type: %s\r\nDate: %s\r\n", code, reason_phrase(code), aid, ctype, date);
	if (warnings) {
		size_t i;
		json_t *w;
		json_array_foreach(warnings, i, w) {
			/* RFC 7234 warn-text: a quoted string */
			const char *s = json_string_value(w);
			sb_adds(&h, "Warning: 299 - \"");
			for (; s && *s; s++) {
				if (*s == '"' || *s == '\\')
					sb_addc(&h, '\\');
				sb_addc(&h, *s);
			}
			sb_adds(&h, "\"\r\n");
		}
	}
	if (extra)
		sb_adds(&h, extra);
	if (len >= 0)
		sb_addf(&h, "Content-Length: %ld\r\n", len);
	else
		sb_adds(&h, "Transfer-Encoding: chunked\r\n");
	if (!keep_alive)
		sb_adds(&h, "Connection: close\r\n");
	sb_adds(&h, "\r\n");
	ok = c_write(c, h.buf, h.len);
	sb_release(&h);
	return ok;
}

static bool send_json(struct conn *c, int code, const char *ctype, json_t *body, json_t *warnings,
		      const char *extra, bool keep_alive)
{
	char *s = json_dumps(body, JSON_COMPACT);
	bool ok;
	size_t n = s ? strlen(s) : 0;

	/* the API server ends JSON answers with a newline */
	ok = send_head(c, code, ctype ? ctype : "application/json", (long)n + 1, warnings, extra, keep_alive) &&
	     c_write(c, s ? s : "", n) && c_write(c, "\n", 1);
	free(s);
	return ok;
}

/* ---- the request log --------------------------------------------------------------------------- */

static bool is_write_verb(const char *v)
{
	return strcmp(v, "create") == 0 || strcmp(v, "update") == 0 || strcmp(v, "patch") == 0 ||
	       strcmp(v, "delete") == 0 || strcmp(v, "deletecollection") == 0;
}

static void count_add(struct fake_kube *k, const char *key)
{
	json_t *n = json_object_get(k->counts, key);
	json_object_set_new(k->counts, key, json_integer(json_integer_value(n) + 1));
}

/* Called with k->mu held. */
static void log_request(struct fake_kube *k, struct kf_req *r, struct kf_resp *resp, int code, const char *fault)
{
	const char *q = strchr(r->raw_target ? r->raw_target : "", '?');

	if (resp->verb[0] && resp->resource[0]) {
		char key[128];
		const char *res = resp->resource;
		char full[96];

		if (resp->subresource[0]) {
			snprintf(full, sizeof(full), "%s/%s", resp->resource, resp->subresource);
			res = full;
		}
		count_add(k, resp->verb);
		snprintf(key, sizeof(key), "%s %s", resp->verb, res);
		count_add(k, key);
		if (is_write_verb(resp->verb))
			count_add(k, "*writes");
	}
	if (json_array_size(k->log) >= KF_LOG_CAP) {
		json_array_remove(k->log, 0);
		k->log_dropped++;
	}
	json_array_append_new(k->log, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s?}",
		"method", r->method, "path", r->path ? r->path : "", "query", q ? q + 1 : "",
		"verb", resp->verb, "resource", resp->resource, "subresource", resp->subresource,
		"namespace", resp->ns, "name", resp->name, "code", code,
		"user", r->user ? r->user : "", "content_type", r->content_type ? r->content_type : "",
		"fault", fault));
	if (k->o.verbose)
		fprintf(stderr, "fake_kube: %s %s -> %d%s%s\n", r->method, r->raw_target ? r->raw_target : "", code,
			fault ? " fault=" : "", fault ? fault : "");
}

/* ---- authentication -------------------------------------------------------------------------------- */

static bool auth_configured(struct fake_kube *k)
{
	return k->ntokens > 0 || k->o.client_cert || k->o.token;
}

/* Replace r->user (the Authorization header) with the user name, or NULL when not authenticated. */
static void authenticate(struct conn *c, struct kf_req *r)
{
	struct fake_kube *k = c->k;
	char *hdr = r->user;

	r->user = NULL;
	pthread_mutex_lock(&k->mu);
	if (c->cert_user) {
		r->user = xstrdup(c->cert_user);
	} else if (hdr && strncasecmp(hdr, "Bearer ", 7) == 0) {
		const char *tok = hdr + 7;
		for (size_t i = 0; i < k->ntokens; i++)
			if (strcmp(k->tokens[i].token, tok) == 0) {
				r->user = xstrdup(k->tokens[i].user);
				break;
			}
		/* as the API server started by kubeadm (--enable-bootstrap-token-auth) */
		if (!r->user)
			bootstrap_authenticate(k, tok, &r->user, &r->groups);
	}
	if (!r->user && !auth_configured(k))
		r->user = xstrdup("system:anonymous");
	pthread_mutex_unlock(&k->mu);
	free_secret(hdr);
}

/* ---- faults ------------------------------------------------------------------------------------------ */

/* The fault for this request (consumed), with k->mu held; false when none. */
static bool take_fault(struct fake_kube *k, struct kf_req *r, struct kf_fault *out)
{
	for (size_t i = 0; i < k->nfaults; i++) {
		struct kf_fault *f = &k->faults[i];
		if (f->left <= 0)
			continue;
		if (f->method[0] && strcasecmp(f->method, r->method) != 0)
			continue;
		if (fnmatch(f->glob, r->path, 0) != 0)
			continue;
		f->left--;
		*out = *f;
		return true;
	}
	return false;
}

static const char *fault_name(enum fake_kube_fault f)
{
	static const char *const names[] = { "500", "409", "429", "503", "hang", "slow", "close" };
	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

/* ---- the control API ------------------------------------------------------------------------------ */

static int fault_kind(const char *s, enum fake_kube_fault *out)
{
	for (int i = FK_FAULT_500; i <= FK_FAULT_CLOSE; i++)
		if (s && strcmp(s, fault_name((enum fake_kube_fault)i)) == 0) {
			*out = (enum fake_kube_fault)i;
			return 0;
		}
	return -1;
}

static json_t *control(struct fake_kube *k, struct kf_req *r, int *code)
{
	const char *p = r->path + strlen("/_fake/");
	json_t *in = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL, *out = NULL;

	*code = 200;
	if (strcmp(p, "state") == 0) {
		pthread_mutex_lock(&k->mu);
		out = json_pack("{s:I, s:I, s:o, s:I}", "resourceVersion", (json_int_t)k->st.rv,
				"storeWrites", (json_int_t)k->st.writes, "counts", json_deep_copy(k->counts),
				"now", (json_int_t)kf_now(k));
		pthread_mutex_unlock(&k->mu);
	} else if (strcmp(p, "requests") == 0) {
		out = fake_kube_requests(k);
	} else if (strcmp(p, "reset-counts") == 0) {
		fake_kube_reset_counts(k);
		out = json_object();
	} else if (strcmp(p, "fault") == 0) {
		enum fake_kube_fault f;
		if (fault_kind(json_string_value(json_object_get(in, "kind")), &f) != 0 ||
		    !json_string_value(json_object_get(in, "path"))) {
			*code = 400;
			out = json_pack("{s:s}", "error", "want {kind: 500|409|429|503|hang|slow|close, path, method?, times?, ms?}");
		} else {
			json_t *t = json_object_get(in, "times");
			fake_kube_fault(k, json_string_value(json_object_get(in, "method")),
					json_string_value(json_object_get(in, "path")), f,
					t ? (int)json_integer_value(t) : 1,
					(int)json_integer_value(json_object_get(in, "ms")));
			out = json_object();
		}
	} else if (strcmp(p, "clear-faults") == 0) {
		fake_kube_clear_faults(k);
		out = json_object();
	} else if (strcmp(p, "never-ready") == 0) {
		json_t *on = json_object_get(in, "on");
		fake_kube_never_ready(k, json_string_value(json_object_get(in, "image")), !on || json_is_true(on));
		out = json_object();
	} else if (strcmp(p, "step") == 0) {
		json_t *n = json_object_get(in, "n");
		out = json_pack("{s:i}", "changes", fake_kube_step(k, n ? (int)json_integer_value(n) : 1));
	} else if (strcmp(p, "settle") == 0) {
		json_t *n = json_object_get(in, "max");
		out = json_pack("{s:i}", "rounds", fake_kube_settle(k, n ? (int)json_integer_value(n) : 100));
	} else if (strcmp(p, "advance") == 0) {
		fake_kube_advance(k, json_integer_value(json_object_get(in, "seconds")));
		out = json_pack("{s:I}", "now", (json_int_t)fake_kube_now(k));
	} else if (strcmp(p, "seed") == 0) {
		int rc = fake_kube_seed(k, r->body ? r->body : "");
		*code = rc ? rc : 200;
		out = json_pack("{s:i}", "code", rc ? rc : 200);
	} else if (strcmp(p, "deny") == 0) {
		fake_kube_deny(k, json_string_value(json_object_get(in, "verb")),
			       json_string_value(json_object_get(in, "resource")));
		out = json_object();
	} else {
		*code = 404;
		out = json_pack("{s:s}", "error", "unknown control path");
	}
	json_decref(in);
	return out;
}

/* ---- one connection ----------------------------------------------------------------------------------- */

/* Events (an array of serialized events) as chunks, one line each. */
static bool send_events(struct conn *c, json_t *evs)
{
	size_t i;
	json_t *e;

	json_array_foreach(evs, i, e) {
		const char *s = json_string_value(e);
		char len[32];
		snprintf(len, sizeof(len), "%zx\r\n", strlen(s) + 1);
		if (!c_write(c, len, strlen(len)) || !c_write(c, s, strlen(s)) || !c_write(c, "\n\r\n", 3))
			return false;
	}
	return true;
}

static void stream_watch(struct conn *c, struct kf_resp *w)
{
	struct fake_kube *k = c->k;
	int64_t end = now_ms_mono() + (int64_t)w->watch_timeout_s * 1000;
	uint64_t rv = w->watch_rv;

	if (!send_head(c, 200, "application/json", -1, NULL, NULL, true))
		return;
	if (w->body && !send_events(c, w->body))
		return;
	while (!atomic_load(&k->stop) && now_ms_mono() < end) {
		json_t *evs;
		bool ok;

		pthread_mutex_lock(&k->mu);
		evs = api_watch_events(k, w, &rv);
		pthread_mutex_unlock(&k->mu);
		ok = send_events(c, evs);
		json_decref(evs);
		if (!ok)
			return;
		{
			/* a client that went away ends the watch */
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };
			if (poll(&pf, 1, 50) > 0 && (pf.revents & (POLLHUP | POLLERR)))
				return;
			if (pf.revents & POLLIN) {
				char b[256];
				ssize_t n = c->ssl ? 1 : recv(c->fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
				if (n == 0)
					return;
			}
		}
	}
	c_write(c, "0\r\n\r\n", 5);
}

static void serve_conn(struct conn *c)
{
	struct fake_kube *k = c->k;

	for (int n = 0; n < MAX_REQS_CONN && !stopping(c); n++) {
		struct kf_req r = { 0 };
		struct kf_resp resp = { 0 };
		struct kf_fault f = { .kind = FK_FAULT_500 };
		bool keep = true, faulted = false, is_json = false;
		enum rd rd = read_request(c, &r, &keep);

		if (rd == RD_EOF || rd == RD_BAD) {
			req_release(&r);
			return;
		}
		if (rd == RD_MALFORMED) {
			/* what Go's net/http answers to a request line it cannot read */
			static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
						  "Connection: close\r\n\r\n400 Bad Request";
			c_write(c, bad, sizeof(bad) - 1);
			req_release(&r);
			return;
		}
		if (rd == RD_TOO_BIG) {
			json_t *st = kf_status(413, "RequestEntityTooLarge",
					       "Request entity too large: limit is 3145728", NULL);
			send_json(c, 413, NULL, st, NULL, NULL, false);
			json_decref(st);
			req_release(&r);
			return;
		}
		if (k->o.control && strncmp(r.path, "/_fake/", 7) == 0) {
			int code;
			json_t *out = control(k, &r, &code);
			keep = send_json(c, code, NULL, out, NULL, NULL, keep) && keep;
			json_decref(out);
			req_release(&r);
			if (!keep)
				return;
			continue;
		}
		authenticate(c, &r);
		if (!r.user) {
			json_t *st = kf_status(401, "Unauthorized", "Unauthorized", NULL);
			pthread_mutex_lock(&k->mu);
			log_request(k, &r, &resp, 401, NULL);
			pthread_mutex_unlock(&k->mu);
			keep = send_json(c, 401, NULL, st, NULL, NULL, keep) && keep;
			json_decref(st);
			req_release(&r);
			if (!keep)
				return;
			continue;
		}
		pthread_mutex_lock(&k->mu);
		faulted = take_fault(k, &r, &f);
		pthread_mutex_unlock(&k->mu);
		if (faulted && (f.kind == FK_FAULT_HANG || f.kind == FK_FAULT_CLOSE)) {
			pthread_mutex_lock(&k->mu);
			api_classify(k, &r, &resp);
			log_request(k, &r, &resp, 0, fault_name(f.kind));
			kf_resp_release(&resp);
			pthread_mutex_unlock(&k->mu);
			if (f.kind == FK_FAULT_HANG)
				nap(k, f.ms);
			req_release(&r);
			return;
		}
		if (faulted && f.kind == FK_FAULT_SLOW)
			nap(k, f.ms);
		pthread_mutex_lock(&k->mu);
		/* an injected error answers instead of the API: nothing is done */
		if (faulted && f.kind != FK_FAULT_SLOW)
			api_classify(k, &r, &resp);
		else
			api_handle(k, &r, &resp);
		if (faulted && f.kind != FK_FAULT_SLOW) {
			json_decref(resp.body);
			free(resp.raw);
			resp.raw = NULL;
			resp.watch = false;
			switch (f.kind) {
			case FK_FAULT_409: {
				char q[96];
				const struct kr *res = NULL;
				for (size_t i = 0; kr_at(i); i++)
					if (strcmp(kr_at(i)->resource, resp.resource) == 0)
						res = kr_at(i);
				if (res) {
					resp.body = kf_conflict(res, resp.name,
						"the object has been modified; please apply your changes to the latest version and try again");
				} else {
					snprintf(q, sizeof(q), "%s", resp.resource);
					resp.body = kf_status(409, "Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again", NULL);
				}
				break;
			}
			case FK_FAULT_429:
				resp.body = kf_status_f(429, "TooManyRequests",
							json_pack("{s:i}", "retryAfterSeconds", f.ms >= 1000 ? f.ms / 1000 : 1),
							"Too many requests, please try again later.");
				break;
			case FK_FAULT_503:
				resp.body = kf_status(503, "ServiceUnavailable", "the server is currently unable to handle the request", NULL);
				break;
			default:
				resp.body = kf_status(500, "InternalError", "Internal error occurred: injected fault", NULL);
				break;
			}
			resp.code = kf_status_code(resp.body);
		}
		log_request(k, &r, &resp, resp.watch ? 200 : resp.code,
			    faulted ? fault_name(f.kind) : NULL);
		/* serialized here: the answer shares nodes with the store */
		if (!resp.watch && resp.body) {
			resp.raw = json_dumps(resp.body, JSON_COMPACT);
			json_decref(resp.body);
			resp.body = NULL;
			is_json = true;
		}
		pthread_mutex_unlock(&k->mu);
		if (resp.watch) {
			stream_watch(c, &resp);
			kf_resp_release(&resp);
			req_release(&r);
			return;
		}
		{
			char extra[64] = "";
			if (resp.code == 429)
				snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", f.ms >= 1000 ? f.ms / 1000 : 1);
			const char *ct = resp.ctype ? resp.ctype : is_json ? "application/json" : "text/plain; charset=utf-8";
			size_t len = resp.raw ? strlen(resp.raw) : 0;

			/* the API server ends JSON answers with a newline */
			keep = send_head(c, resp.code, ct, (long)(len + (is_json ? 1 : 0)), resp.warnings, extra, keep) &&
			       c_write(c, resp.raw ? resp.raw : "", len) && (!is_json || c_write(c, "\n", 1)) && keep;
		}
		kf_resp_release(&resp);
		req_release(&r);
		if (!keep)
			return;
	}
}

static char *cert_cn(X509 *x)
{
	char buf[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
	return n > 0 ? xstrndup(buf, (size_t)n) : xstrdup("");
}

struct conn_arg {
	struct fake_kube *k;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn_arg *a = arg;
	struct conn c = { .k = a->k, .fd = a->fd };

	sb_init(&c.in);
	if (a->k->ssl_ctx) {
		struct timeval tv = { IO_MS / 1000, 0 };
		setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c.ssl = SSL_new(a->k->ssl_ctx);
		if (!c.ssl)
			goto out;
		SSL_set_fd(c.ssl, c.fd);
		if (SSL_accept(c.ssl) != 1) {
			ERR_clear_error();
			goto out;
		}
		if (a->k->o.client_cert) {
			X509 *peer = SSL_get_peer_certificate(c.ssl);
			if (peer && SSL_get_verify_result(c.ssl) == X509_V_OK)
				c.cert_user = cert_cn(peer);
			X509_free(peer);
		}
	}
	fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
	serve_conn(&c);
	if (c.ssl)
		SSL_shutdown(c.ssl);
out:
	ERR_clear_error();
	if (c.ssl)
		SSL_free(c.ssl);
	close(c.fd);
	free(c.cert_user);
	sb_release(&c.in);
	atomic_fetch_sub(&a->k->active, 1);
	free(a);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct fake_kube *k = arg;

	while (!atomic_load(&k->stop)) {
		struct pollfd pf = { .fd = k->listen_fd, .events = POLLIN };
		struct conn_arg *a;
		pthread_t th;
		int fd, one = 1;

		if (poll(&pf, 1, POLL_MS) <= 0)
			continue;
		fd = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		a = xcalloc(1, sizeof(*a));
		a->k = k;
		a->fd = fd;
		atomic_fetch_add(&k->active, 1);
		if (pthread_create(&th, NULL, conn_main, a) != 0) {
			atomic_fetch_sub(&k->active, 1);
			close(fd);
			free(a);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static void *tick_main(void *arg)
{
	struct fake_kube *k = arg;

	while (!atomic_load(&k->stop)) {
		nap(k, k->o.tick_ms);
		if (atomic_load(&k->stop))
			break;
		pthread_mutex_lock(&k->mu);
		rollout_step(k);
		pthread_mutex_unlock(&k->mu);
	}
	return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------------------------- */

static int listen_local(int port, int *out_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*out_port = ntohs(sa.sin_port);
	return fd;
}

static SSL_CTX *make_ssl_ctx(struct fake_kube *k)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, k->srv_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, k->srv_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (k->o.client_cert) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(k->ca_cert);
		if (!names || SSL_CTX_load_verify_locations(ctx, k->ca_cert, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* asked for, verified when given, not required: token clients connect too */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static void write_kubeconfig(struct fake_kube *k)
{
	FILE *f;
	char *cert = NULL, *key = NULL;

	k->kubeconfig = xasprintf("%s/kubeconfig", k->dir);
	f = fopen(k->kubeconfig, "w");
	if (!f)
		return;
	fprintf(f, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n", k->url);
	if (k->ca_cert)
		fprintf(f, "    certificate-authority: %s\n", k->ca_cert);
	fprintf(f, "users:\n- name: fake-user\n  user:");
	if (k->o.token) {
		fprintf(f, "\n    token: %s\n", k->o.token);
	} else if (k->o.client_cert && k->ca_cert) {
		cert = xasprintf("%s/cert-user.crt", k->dir);
		key = xasprintf("%s/cert-user.key", k->dir);
		if (fake_kube_client_cert(k, "cert-user", "system:masters", cert, key, 30) == 0)
			fprintf(f, "\n    client-certificate: %s\n    client-key: %s\n", cert, key);
		else
			fprintf(f, " {}\n");
	} else {
		fprintf(f, " {}\n");
	}
	fprintf(f, "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n"
		   "    namespace: default\ncurrent-context: fake\n");
	fclose(f);
	free(cert);
	free(key);
}

/* kube-public/cluster-info, as kubeadm publishes it: the CA and the server (bootstrap.c). */
static void seed_cluster_info(struct fake_kube *k)
{
	if (fake_kube_seed_cluster_info(k, 0, NULL) != 0)
		fprintf(stderr, "fake_kube: cannot publish kube-public/cluster-info\n");
}

struct fake_kube *fake_kube_start(const struct fake_kube_opts *o)
{
	struct fake_kube *k = xcalloc(1, sizeof(*k));

	k->o = *o;
	k->o.dir = NULL;
	k->o.token = NULL;
	k->listen_fd = -1;
	pthread_mutex_init(&k->mu, NULL);
	schema_init();
	store_init(&k->st);
	k->log = json_array();
	k->counts = json_object();
	k->never_ready = json_object();
	k->denied = json_array();
	if (o->start_time)
		k->clock_offset = o->start_time - now_unix();
	if (o->dir) {
		k->dir = xstrdup(o->dir);
		mkdir(k->dir, 0700);
	} else {
		char tmpl[] = "/tmp/viva-kube-XXXXXX";
		if (!mkdtemp(tmpl)) {
			fprintf(stderr, "fake_kube: cannot make a temporary directory\n");
			goto fail;
		}
		k->dir = xstrdup(tmpl);
		k->own_dir = true;
	}
	if (o->token) {
		k->o.token = o->token;   /* borrowed only until the kubeconfig is written */
		fake_kube_add_token(k, o->token, "token-user");
	}
	if (o->tls) {
		if (pki_init(k->dir, &k->ca_cert, &k->ca_key, &k->srv_cert, &k->srv_key) != 0) {
			fprintf(stderr, "fake_kube: cannot make certificates in %s\n", k->dir);
			goto fail;
		}
		k->ssl_ctx = make_ssl_ctx(k);
		if (!k->ssl_ctx) {
			fprintf(stderr, "fake_kube: cannot set up TLS\n");
			goto fail;
		}
	} else if (o->client_cert) {
		fprintf(stderr, "fake_kube: client certificates need tls\n");
		goto fail;
	}
	k->listen_fd = listen_local(o->port, &k->port);
	if (k->listen_fd < 0) {
		fprintf(stderr, "fake_kube: cannot listen on 127.0.0.1:%d\n", o->port);
		goto fail;
	}
	snprintf(k->url, sizeof(k->url), "%s://127.0.0.1:%d", o->tls ? "https" : "http", k->port);
	if (!o->no_default_namespaces)
		fake_kube_seed(k, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
				  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"default\"}},"
				  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kube-node-lease\"}},"
				  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kube-public\"}},"
				  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kube-system\"}}]}");
	if (!o->no_default_namespaces && k->ca_cert)
		seed_cluster_info(k);
	write_kubeconfig(k);
	k->o.token = NULL;
	if (pthread_create(&k->accept_th, NULL, accept_main, k) != 0)
		goto fail;
	if (o->tick_ms > 0) {
		if (pthread_create(&k->tick_th, NULL, tick_main, k) != 0) {
			atomic_store(&k->stop, true);
			pthread_join(k->accept_th, NULL);
			goto fail;
		}
		k->tick_started = true;
	}
	return k;
fail:
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	k->listen_fd = -1;
	atomic_store(&k->stop, true);
	k->tick_started = false;
	/* free everything through the one path */
	{
		pthread_t none;
		memset(&none, 0, sizeof(none));
		k->accept_th = none;
	}
	k->port = -1;
	fake_kube_stop(k);
	return NULL;
}

void fake_kube_stop(struct fake_kube *k)
{
	int64_t end;

	if (!k)
		return;
	if (k->port >= 0) {
		atomic_store(&k->stop, true);
		pthread_join(k->accept_th, NULL);
	}
	if (k->tick_started)
		pthread_join(k->tick_th, NULL);
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	/* connection threads see the flag within POLL_MS; a blocked TLS handshake within IO_MS */
	end = now_ms_mono() + 2 * IO_MS;
	while (atomic_load(&k->active) > 0 && now_ms_mono() < end) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&k->active) > 0) {
		fprintf(stderr, "fake_kube: connections still open at stop; leaving them to the process exit\n");
		return;
	}
	if (k->ssl_ctx)
		SSL_CTX_free(k->ssl_ctx);
	store_release(&k->st);
	json_decref(k->log);
	json_decref(k->counts);
	json_decref(k->never_ready);
	json_decref(k->denied);
	for (size_t i = 0; i < k->ntokens; i++) {
		free_secret(k->tokens[i].token);
		free(k->tokens[i].user);
	}
	free(k->tokens);
	for (size_t i = 0; i < k->nfaults; i++)
		free(k->faults[i].glob);
	free(k->faults);
	if (k->own_dir && k->dir && strncmp(k->dir, "/tmp/viva-kube-", 15) == 0) {
		char *cmd = xasprintf("rm -rf '%s'", k->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "fake_kube: could not remove %s\n", k->dir);
		free(cmd);
	}
	free(k->dir);
	free(k->ca_cert);
	free(k->ca_key);
	free(k->srv_cert);
	free(k->srv_key);
	free(k->kubeconfig);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* ---- the C API: transport side ------------------------------------------------------------------------------- */

const char *fake_kube_url(const struct fake_kube *k) { return k->url; }
int fake_kube_port(const struct fake_kube *k) { return k->port; }
const char *fake_kube_dir(const struct fake_kube *k) { return k->dir; }
const char *fake_kube_ca_file(const struct fake_kube *k) { return k->ca_cert; }
const char *fake_kube_ca_key_file(const struct fake_kube *k) { return k->ca_key; }
const char *fake_kube_kubeconfig(const struct fake_kube *k) { return k->kubeconfig; }

int fake_kube_client_cert(struct fake_kube *k, const char *cn, const char *org, const char *cert_path,
			  const char *key_path, int days)
{
	const char *orgs[2] = { org, NULL };

	if (!k->ca_cert)
		return -1;
	return pki_client(k->ca_cert, k->ca_key, cn, org ? orgs : NULL, cert_path, key_path, days);
}

void fake_kube_add_token(struct fake_kube *k, const char *token, const char *user)
{
	pthread_mutex_lock(&k->mu);
	k->tokens = xrealloc(k->tokens, (k->ntokens + 1) * sizeof(*k->tokens));
	k->tokens[k->ntokens].token = xstrdup(token);
	k->tokens[k->ntokens].user = xstrdup(user ? user : "token-user");
	k->ntokens++;
	pthread_mutex_unlock(&k->mu);
}

void fake_kube_remove_token(struct fake_kube *k, const char *token)
{
	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->ntokens; i++)
		if (strcmp(k->tokens[i].token, token) == 0) {
			/* a removed token keeps the slot with a value no header can carry */
			k->tokens[i].token[0] = '\n';
		}
	pthread_mutex_unlock(&k->mu);
}

int fake_kube_count(struct fake_kube *k, const char *verb, const char *resource)
{
	int n = 0;
	const char *key;
	json_t *v;

	pthread_mutex_lock(&k->mu);
	json_object_foreach(k->counts, key, v) {
		const char *sp = strchr(key, ' ');
		if (!sp)
			continue;
		if (verb && (strlen(verb) != (size_t)(sp - key) || strncmp(key, verb, (size_t)(sp - key)) != 0))
			continue;
		if (resource && strcmp(sp + 1, resource) != 0)
			continue;
		n += (int)json_integer_value(v);
	}
	pthread_mutex_unlock(&k->mu);
	return n;
}

int fake_kube_count_writes(struct fake_kube *k)
{
	int n;

	pthread_mutex_lock(&k->mu);
	n = (int)json_integer_value(json_object_get(k->counts, "*writes"));
	pthread_mutex_unlock(&k->mu);
	return n;
}

uint64_t fake_kube_store_writes(struct fake_kube *k)
{
	uint64_t n;

	pthread_mutex_lock(&k->mu);
	n = k->st.writes;
	pthread_mutex_unlock(&k->mu);
	return n;
}

json_t *fake_kube_requests(struct fake_kube *k)
{
	json_t *out;

	pthread_mutex_lock(&k->mu);
	out = json_deep_copy(k->log);
	pthread_mutex_unlock(&k->mu);
	return out;
}

void fake_kube_reset_counts(struct fake_kube *k)
{
	pthread_mutex_lock(&k->mu);
	json_array_clear(k->log);
	json_object_clear(k->counts);
	pthread_mutex_unlock(&k->mu);
}

int fake_kube_fault(struct fake_kube *k, const char *method, const char *path_glob, enum fake_kube_fault kind,
		    int times, int ms)
{
	struct kf_fault *f;

	pthread_mutex_lock(&k->mu);
	k->faults = xrealloc(k->faults, (k->nfaults + 1) * sizeof(*k->faults));
	f = &k->faults[k->nfaults++];
	memset(f, 0, sizeof(*f));
	snprintf(f->method, sizeof(f->method), "%s", method ? method : "");
	f->glob = xstrdup(path_glob ? path_glob : "*");
	f->kind = kind;
	f->left = times;
	f->ms = ms;
	pthread_mutex_unlock(&k->mu);
	return 0;
}

void fake_kube_clear_faults(struct fake_kube *k)
{
	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->nfaults; i++)
		free(k->faults[i].glob);
	free(k->faults);
	k->faults = NULL;
	k->nfaults = 0;
	pthread_mutex_unlock(&k->mu);
}

void fake_kube_deny(struct fake_kube *k, const char *verb, const char *resource)
{
	pthread_mutex_lock(&k->mu);
	json_array_append_new(k->denied, json_sprintf("%s %s", verb ? verb : "*", resource ? resource : "*"));
	pthread_mutex_unlock(&k->mu);
}

void fake_kube_never_ready(struct fake_kube *k, const char *image, bool on)
{
	if (!image)
		return;
	pthread_mutex_lock(&k->mu);
	if (on)
		json_object_set_new(k->never_ready, image, json_true());
	else
		json_object_del(k->never_ready, image);
	pthread_mutex_unlock(&k->mu);
}

int fake_kube_step(struct fake_kube *k, int n)
{
	int changes = 0;

	for (int i = 0; i < n && i < 100000; i++) {
		pthread_mutex_lock(&k->mu);
		changes += rollout_step(k);
		pthread_mutex_unlock(&k->mu);
	}
	return changes;
}

int fake_kube_settle(struct fake_kube *k, int max_rounds)
{
	int i;

	for (i = 0; i < max_rounds; i++) {
		int c;
		pthread_mutex_lock(&k->mu);
		c = rollout_step(k);
		pthread_mutex_unlock(&k->mu);
		if (c == 0)
			break;
	}
	return i;
}

void fake_kube_advance(struct fake_kube *k, int64_t seconds)
{
	pthread_mutex_lock(&k->mu);
	k->clock_offset += seconds;
	pthread_mutex_unlock(&k->mu);
}

int64_t fake_kube_now(struct fake_kube *k)
{
	int64_t t;

	pthread_mutex_lock(&k->mu);
	t = kf_now(k);
	pthread_mutex_unlock(&k->mu);
	return t;
}
