/*
 * The paginating / bearer-token front for a real registry (see
 * registry_proxy.h). Deliberately simple: one thread, one connection at a
 * time, HTTP/1.1 with Content-Length bodies and Connection: close. Upstream
 * calls use libcurl.
 */
#include "tests/registry_proxy.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_HEAD        65536
#define MAX_BODY        (8 << 20)
#define MAX_TOKENS      64

struct regproxy {
	char *upstream;
	char *user;
	char *password;
	bool bearer;
	int page_cap;
	int fd;
	int port;
	pthread_t th;
	pthread_mutex_t mu;          /* guards everything below */
	bool stop;
	enum regproxy_link link;
	int expires_in;
	bool access_token;
	struct regproxy_stats st;
	char *tokens[MAX_TOKENS];
	int ntokens;
	int serial;
	char *blob_redirect;
	int hold_puts;
	long hold_ms;
};

struct hreq {
	char method[16];
	char *target;                /* path?query */
	char *authorization;
	char *accept;
	char *content_type;
	char *body;
	size_t blen;
};

struct hresp {
	long status;
	struct strbuf headers;       /* "Name: value\r\n" lines */
	struct strbuf body;
	char *head_length;           /* upstream Content-Length, for HEAD */
	bool head;
};

/* ---- small helpers ----------------------------------------------------- */

static void hreq_release(struct hreq *rq)
{
	free(rq->target);
	free(rq->authorization);
	free(rq->accept);
	free(rq->content_type);
	free(rq->body);
	memset(rq, 0, sizeof(*rq));
}

static void hresp_init(struct hresp *rs)
{
	memset(rs, 0, sizeof(*rs));
	sb_init(&rs->headers);
	sb_init(&rs->body);
}

static void hresp_release(struct hresp *rs)
{
	sb_release(&rs->headers);
	sb_release(&rs->body);
	free(rs->head_length);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The decoded value of key in a query string (caller frees), or NULL. */
static char *query_param(const char *target, const char *key)
{
	const char *q = strchr(target, '?');
	size_t k = strlen(key);

	if (!q)
		return NULL;
	for (q++; *q;) {
		size_t n = strcspn(q, "&");
		if (n > k && strncmp(q, key, k) == 0 && q[k] == '=') {
			struct strbuf sb;
			sb_init(&sb);
			for (size_t i = k + 1; i < n; i++) {
				if (q[i] == '%' && i + 2 < n && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
					sb_addc(&sb, (char)(hexval(q[i + 1]) * 16 + hexval(q[i + 2])));
					i += 2;
				} else {
					sb_addc(&sb, q[i] == '+' ? ' ' : q[i]);
				}
			}
			return sb_detach(&sb);
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return NULL;
}

static char *base64(const char *s)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s);
	struct strbuf sb;

	sb_init(&sb);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		sb_addc(&sb, tbl[(v >> 18) & 63]);
		sb_addc(&sb, tbl[(v >> 12) & 63]);
		sb_addc(&sb, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
		sb_addc(&sb, i + 2 < n ? tbl[v & 63] : '=');
	}
	return sb_detach(&sb);
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static const char *reason(long status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 307: return "Temporary Redirect";
	default:  return "Status";
	}
}

static void write_response(int fd, struct hresp *rs)
{
	struct strbuf out;

	sb_init(&out);
	sb_addf(&out, "HTTP/1.1 %ld %s\r\n", rs->status, reason(rs->status));
	sb_add(&out, rs->headers.buf, rs->headers.len);
	if (rs->head && rs->head_length)
		sb_addf(&out, "Content-Length: %s\r\n", rs->head_length);
	else
		sb_addf(&out, "Content-Length: %zu\r\n", rs->body.len);
	sb_adds(&out, "Connection: close\r\n\r\n");
	if (!rs->head)
		sb_add(&out, rs->body.buf, rs->body.len);
	send_all(fd, out.buf, out.len);
	sb_release(&out);
}

/* ---- reading a request ------------------------------------------------- */

static char *line_value(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	const char *v;

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return NULL;
	v = line + k + 1;
	while (v < line + n && *v == ' ')
		v++;
	return xstrndup(v, (size_t)(line + n - v));
}

static bool read_request(int fd, struct hreq *rq)
{
	struct strbuf buf;
	char chunk[8192];
	char *end = NULL, *p, *cl = NULL;
	size_t clen = 0, head_len;
	bool ok = false;

	sb_init(&buf);
	while (!end) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf.len + (size_t)n > MAX_HEAD)
			goto out;
		sb_add(&buf, chunk, (size_t)n);
		end = strstr(buf.buf, "\r\n\r\n");
	}
	head_len = (size_t)(end - buf.buf) + 4;
	p = buf.buf;
	{
		size_t n = strcspn(p, " ");
		const char *t;
		size_t tn;
		if (n == 0 || n >= sizeof(rq->method))
			goto out;
		memcpy(rq->method, p, n);
		rq->method[n] = '\0';
		t = p + n + 1;
		tn = strcspn(t, " \r");
		rq->target = xstrndup(t, tn);
	}
	p = strstr(p, "\r\n") + 2;
	while (p < end) {
		char *e = strstr(p, "\r\n");
		size_t n = (size_t)(e - p);
		char *v;
		if ((v = line_value(p, n, "authorization"))) {
			free(rq->authorization);
			rq->authorization = v;
		} else if ((v = line_value(p, n, "accept"))) {
			free(rq->accept);
			rq->accept = v;
		} else if ((v = line_value(p, n, "content-type"))) {
			free(rq->content_type);
			rq->content_type = v;
		} else if ((v = line_value(p, n, "content-length"))) {
			free(cl);
			cl = v;
		}
		p = e + 2;
	}
	clen = cl ? strtoul(cl, NULL, 10) : 0;
	if (clen > MAX_BODY)
		goto out;
	rq->body = xmalloc(clen + 1);
	rq->blen = clen;
	{
		size_t have = buf.len - head_len;
		if (have > clen)
			have = clen;
		memcpy(rq->body, buf.buf + head_len, have);
		while (have < clen) {
			ssize_t n = recv(fd, rq->body + have, clen - have, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
	}
	rq->body[clen] = '\0';
	ok = true;
out:
	free(cl);
	sb_release(&buf);
	return ok;
}

/* ---- upstream ----------------------------------------------------------- */

static size_t up_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct hresp *rs = ud;

	sb_add(&rs->body, ptr, size * n);
	return size * n;
}

static size_t up_header(char *ptr, size_t size, size_t n, void *ud)
{
	static const char *const keep[] = {
		"content-type", "docker-content-digest", "location", "www-authenticate",
		"link", "etag", "docker-distribution-api-version", NULL,
	};
	struct hresp *rs = ud;
	size_t len = size * n;
	char *v;

	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		rs->headers.len = 0;
		rs->headers.buf[0] = '\0';
		return len;
	}
	while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
		len--;
	if ((v = line_value(ptr, len, "content-length"))) {
		free(rs->head_length);
		rs->head_length = v;
		return size * n;
	}
	for (int i = 0; keep[i]; i++) {
		size_t k = strlen(keep[i]);
		if (len > k && strncasecmp(ptr, keep[i], k) == 0 && ptr[k] == ':') {
			sb_add(&rs->headers, ptr, len);
			sb_adds(&rs->headers, "\r\n");
			break;
		}
	}
	return size * n;
}

static void forward(struct regproxy *p, const char *method, const char *target,
		    const struct hreq *rq, struct hresp *rs)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char *url = xasprintf("%s%s", p->upstream, target), *a = NULL, *c = NULL;

	rs->status = 502;
	if (!h)
		goto out;
	if (rq && rq->accept) {
		a = xasprintf("Accept: %s", rq->accept);
		hdrs = curl_slist_append(hdrs, a);
	}
	if (rq && rq->content_type) {
		c = xasprintf("Content-Type: %s", rq->content_type);
		hdrs = curl_slist_append(hdrs, c);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq && rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq ? rq->blen : 0));
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, up_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, up_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
	free(a);
	free(c);
}

/* ---- the handlers -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "/v2/<name>/<rest>" -> name (caller frees), for the known endpoints. */
static char *repo_of(const char *path)
{
	static const char *const ends[] = { "/tags/list", "/manifests/", "/blobs/", NULL };
	const char *best = NULL;

	if (strncmp(path, "/v2/", 4) != 0)
		return NULL;
	for (int i = 0; ends[i]; i++) {
		const char *e = strstr(path + 4, ends[i]);
		if (e && (!best || e < best))
			best = e;
	}
	return best && best > path + 4 ? xstrndup(path + 4, (size_t)(best - path - 4)) : NULL;
}

static void serve_tags(struct regproxy *p, const char *name, const struct hreq *rq, struct hresp *rs)
{
	char *up = xasprintf("/v2/%s/tags/list", name);
	char *nq = query_param(rq->target, "n"), *last = query_param(rq->target, "last");
	json_t *j = NULL, *out = NULL, *arr;
	char **tags = NULL;
	size_t ntags = 0, start = 0, i;
	int n = nq ? atoi(nq) : 0, limit;
	enum regproxy_link link;

	forward(p, "GET", up, rq, rs);
	if (rs->status != 200)
		goto out;
	j = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
	arr = json_object_get(j, "tags");
	tags = xcalloc(json_array_size(arr) + 1, sizeof(*tags));
	for (i = 0; i < json_array_size(arr); i++)
		if (json_is_string(json_array_get(arr, i)))
			tags[ntags++] = (char *)json_string_value(json_array_get(arr, i));
	/* pages in lexical order, as the distribution spec has it */
	qsort(tags, ntags, sizeof(*tags), cmp_str);
	while (last && start < ntags && strcmp(tags[start], last) <= 0)
		start++;
	limit = p->page_cap;
	if (n > 0 && n < limit)
		limit = n;
	out = json_pack("{s:s, s:[]}", "name", name, "tags");
	for (i = start; i < ntags && (int)(i - start) < limit; i++)
		json_array_append_new(json_object_get(out, "tags"), json_string(tags[i]));
	pthread_mutex_lock(&p->mu);
	p->st.tags_pages++;
	link = p->link;
	pthread_mutex_unlock(&p->mu);
	rs->headers.len = 0;
	rs->headers.buf[0] = '\0';
	sb_adds(&rs->headers, "Content-Type: application/json; charset=utf-8\r\n");
	if (i < ntags) {
		int nn = n > 0 ? n : p->page_cap;
		switch (link) {
		case REGPROXY_LINK_RELATIVE:
			sb_addf(&rs->headers, "Link: </v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_ABSOLUTE:
			sb_addf(&rs->headers,
				"Link: <http://127.0.0.1:%d/v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				p->port, name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_FOREIGN:
			sb_addf(&rs->headers,
				"Link: <http://foreign.invalid:%d/v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				p->port, name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_LOOP:
			sb_addf(&rs->headers, "Link: </v2/%s/tags/list?n=%d>; rel=\"next\"\r\n", name, nn);
			break;
		}
	}
	rs->body.len = 0;
	rs->body.buf[0] = '\0';
	{
		char *s = json_dumps(out, JSON_COMPACT);
		sb_adds(&rs->body, s);
		free(s);
	}
out:
	free(tags);
	json_decref(j);
	json_decref(out);
	free(up);
	free(nq);
	free(last);
}

static void serve_token(struct regproxy *p, const struct hreq *rq, struct hresp *rs)
{
	char *want = NULL, *service = query_param(rq->target, "service");
	char *scope = query_param(rq->target, "scope");
	bool ok = true;

	if (p->user) {
		char *cred = xasprintf("%s:%s", p->user, p->password ? p->password : "");
		char *b = base64(cred);
		want = xasprintf("Basic %s", b);
		free(b);
		free(cred);
		ok = rq->authorization && strcmp(rq->authorization, want) == 0;
	}
	pthread_mutex_lock(&p->mu);
	p->st.token_requests++;
	snprintf(p->st.last_scope, sizeof(p->st.last_scope), "%s", scope ? scope : "");
	snprintf(p->st.last_service, sizeof(p->st.last_service), "%s", service ? service : "");
	if (!ok) {
		p->st.token_refused++;
		rs->status = 401;
		sb_adds(&rs->headers, "Content-Type: application/json\r\n");
		sb_adds(&rs->body, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}");
	} else {
		char *tok = xasprintf("tok-%d-%s", ++p->serial, "c2VjcmV0");
		json_t *o = json_object();
		char *s;

		json_object_set_new(o, p->access_token ? "access_token" : "token", json_string(tok));
		if (p->expires_in)
			json_object_set_new(o, "expires_in", json_integer(p->expires_in));
		if (p->ntokens == MAX_TOKENS) {
			free(p->tokens[0]);
			memmove(p->tokens, p->tokens + 1, (MAX_TOKENS - 1) * sizeof(p->tokens[0]));
			p->ntokens--;
		}
		p->tokens[p->ntokens++] = tok;
		s = json_dumps(o, JSON_COMPACT);
		rs->status = 200;
		sb_adds(&rs->headers, "Content-Type: application/json\r\n");
		sb_adds(&rs->body, s);
		free(s);
		json_decref(o);
	}
	pthread_mutex_unlock(&p->mu);
	free(want);
	free(service);
	free(scope);
}

static bool token_ok(struct regproxy *p, const char *authorization)
{
	bool ok = false;

	if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
		return false;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->ntokens && !ok; i++)
		ok = strcmp(p->tokens[i], authorization + 7) == 0;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static void handle(struct regproxy *p, const struct hreq *rq, struct hresp *rs)
{
	char *path = xstrndup(rq->target, strcspn(rq->target, "?"));
	char *name = repo_of(path);
	size_t plen = strlen(path);

	rs->head = strcmp(rq->method, "HEAD") == 0;
	pthread_mutex_lock(&p->mu);
	p->st.requests++;
	if (rq->authorization)
		p->st.with_authorization++;
	pthread_mutex_unlock(&p->mu);
	if (strcmp(path, "/token") == 0) {
		serve_token(p, rq, rs);
		goto out;
	}
	if (p->bearer && strncmp(path, "/v2/", 4) == 0 && !token_ok(p, rq->authorization)) {
		pthread_mutex_lock(&p->mu);
		p->st.unauthorized++;
		pthread_mutex_unlock(&p->mu);
		rs->status = 401;
		sb_adds(&rs->headers, "Content-Type: application/json; charset=utf-8\r\n");
		/* spelled as Go canonicalises it, like the real registry */
		sb_addf(&rs->headers, "Www-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			"service=\"test-registry\"", p->port);
		if (name)
			sb_addf(&rs->headers, ",scope=\"repository:%s:pull,push\"", name);
		sb_adds(&rs->headers, "\r\n");
		sb_adds(&rs->body, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}");
		goto out;
	}
	if (name && strcmp(rq->method, "GET") == 0 && strstr(path, "/blobs/sha256:")) {
		bool done = false;

		/* like a registry on object storage: the blob lives elsewhere */
		pthread_mutex_lock(&p->mu);
		if (p->blob_redirect) {
			p->st.redirected++;
			rs->status = 307;
			sb_addf(&rs->headers, "Location: %s%s\r\n", p->blob_redirect, rq->target);
			done = true;
		}
		pthread_mutex_unlock(&p->mu);
		if (done)
			goto out;
	}
	if (p->page_cap > 0 && name && plen > 10 && strcmp(path + plen - 10, "/tags/list") == 0 &&
	    strcmp(rq->method, "GET") == 0) {
		serve_tags(p, name, rq, rs);
		goto out;
	}
	forward(p, rq->method, rq->target, rq, rs);
	if (name && strcmp(rq->method, "PUT") == 0 && strstr(path, "/manifests/")) {
		long hold = 0;

		pthread_mutex_lock(&p->mu);
		p->st.manifest_puts++;
		if (p->hold_puts > 0) {
			p->hold_puts--;
			hold = p->hold_ms;
		}
		pthread_mutex_unlock(&p->mu);
		if (hold > 0) {
			struct timespec ts = { hold / 1000, (hold % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
out:
	free(path);
	free(name);
}

void regproxy_hold_puts(struct regproxy *p, int count, long ms)
{
	pthread_mutex_lock(&p->mu);
	p->hold_puts = count;
	p->hold_ms = ms;
	pthread_mutex_unlock(&p->mu);
}

static void *loop(void *arg)
{
	struct regproxy *p = arg;

	for (;;) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		struct timeval tv = { .tv_sec = 5 };
		struct hreq rq;
		struct hresp rs;
		bool stop;
		int c;

		pthread_mutex_lock(&p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(p->fd, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		memset(&rq, 0, sizeof(rq));
		hresp_init(&rs);
		if (read_request(c, &rq)) {
			handle(p, &rq, &rs);
			write_response(c, &rs);
		}
		hreq_release(&rq);
		hresp_release(&rs);
		close(c);
	}
	return NULL;
}

/* ---- life cycle -------------------------------------------------------------- */

struct regproxy *regproxy_start(const struct regproxy_opts *o)
{
	struct regproxy *p = xcalloc(1, sizeof(*p));
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int one = 1;

	p->upstream = xstrdup(o->upstream);
	p->user = xstrdup(o->user);
	p->password = xstrdup(o->password);
	p->bearer = o->bearer;
	p->page_cap = o->page_cap;
	p->link = o->link;
	p->expires_in = o->expires_in;
	p->access_token = o->access_token;
	pthread_mutex_init(&p->mu, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		goto fail;
	setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->fd, 64) != 0 ||
	    getsockname(p->fd, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	p->port = ntohs(a.sin_port);
	if (pthread_create(&p->th, NULL, loop, p) != 0)
		goto fail;
	return p;
fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p->upstream);
	free(p->user);
	free(p->password);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return NULL;
}

int regproxy_port(const struct regproxy *p)
{
	return p->port;
}

void regproxy_stats(struct regproxy *p, struct regproxy_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_link(struct regproxy *p, enum regproxy_link link)
{
	pthread_mutex_lock(&p->mu);
	p->link = link;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_token_reply(struct regproxy *p, int expires_in, bool access_token)
{
	pthread_mutex_lock(&p->mu);
	p->expires_in = expires_in;
	p->access_token = access_token;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_blob_redirect(struct regproxy *p, const char *base)
{
	pthread_mutex_lock(&p->mu);
	free(p->blob_redirect);
	p->blob_redirect = xstrdup(base);
	pthread_mutex_unlock(&p->mu);
}

void regproxy_revoke_tokens(struct regproxy *p)
{
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->ntokens; i++)
		free(p->tokens[i]);
	p->ntokens = 0;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_stop(struct regproxy *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	close(p->fd);
	regproxy_revoke_tokens(p);
	free(p->blob_redirect);
	free(p->upstream);
	free(p->user);
	free(p->password);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
