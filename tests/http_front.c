/*
 * The small test HTTP server (see http_front.h). Deliberately simple: one
 * thread, one connection at a time, Content-Length bodies, Connection:
 * close. Forwarding uses libcurl.
 */
#include "tests/http_front.h"
#include "bot/clients/kubeconfig.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD        65536
#define MAX_BODY        ((size_t)8 << 20)
#define MAX_HEADERS     100

struct http_front {
	hf_handler fn;
	void *ud;
	int fd;                      /* -1 while refusing */
	int port;
	char url[40];
	pthread_t th;
	pthread_mutex_t mu;          /* guards the two flags */
	bool stop;
	bool refuse;
};

/* ---- requests and answers ----------------------------------------------------- */

static void request_release(struct hf_request *rq)
{
	for (size_t i = 0; i < rq->nheaders; i++) {
		free(rq->headers[i].name);
		free(rq->headers[i].value);
	}
	free(rq->headers);
	free(rq->target);
	free(rq->path);
	free(rq->body);
	memset(rq, 0, sizeof(*rq));
}

static void response_init(struct hf_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 200;
	sb_init(&rs->headers);
	sb_init(&rs->body);
}

static void response_release(struct hf_response *rs)
{
	sb_release(&rs->headers);
	sb_release(&rs->body);
	free(rs->head_length);
}

const char *hf_header(const struct hf_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->nheaders; i++)
		if (strcasecmp(rq->headers[i].name, name) == 0)
			return rq->headers[i].value;
	return NULL;
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

char *hf_param(const char *form, const char *key)
{
	size_t k = strlen(key);
	const char *q = form;

	while (q && *q) {
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

char *hf_basic(const char *user, const char *password)
{
	char *cred = xasprintf("%s:%s", user ? user : "", password ? password : "");
	char *b64 = kube_base64_encode((const unsigned char *)cred, strlen(cred));
	char *v = xasprintf("Basic %s", b64);

	free(b64);
	free(cred);
	return v;
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
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default:  return "Status";
	}
}

static void write_response(int fd, const struct hf_response *rs)
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

static bool add_header(struct hf_request *rq, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n), *v;

	if (!colon || colon == line || rq->nheaders >= MAX_HEADERS)
		return false;
	v = colon + 1;
	while (v < line + n && (*v == ' ' || *v == '\t'))
		v++;
	if (!rq->headers)
		rq->headers = xcalloc(MAX_HEADERS, sizeof(*rq->headers));
	rq->headers[rq->nheaders].name = xstrndup(line, (size_t)(colon - line));
	rq->headers[rq->nheaders].value = xstrndup(v, (size_t)(line + n - v));
	rq->nheaders++;
	return true;
}

static bool read_request(int fd, struct hf_request *rq)
{
	struct strbuf buf;
	char chunk[8192], *end = NULL, *p;
	const char *cl;
	size_t clen, head_len, have;
	bool ok = false;

	sb_init(&buf);
	while (!end) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf.len + (size_t)n > MAX_HEAD + sizeof(chunk))
			goto out;
		sb_add(&buf, chunk, (size_t)n);
		end = strstr(buf.buf, "\r\n\r\n");
		if (!end && buf.len > MAX_HEAD)
			goto out;
	}
	head_len = (size_t)(end - buf.buf) + 4;
	p = buf.buf;
	{
		size_t n = strcspn(p, " "), tn;

		if (n == 0 || n >= sizeof(rq->method) || p[n] != ' ')
			goto out;
		memcpy(rq->method, p, n);
		rq->method[n] = '\0';
		p += n + 1;
		tn = strcspn(p, " \r");
		rq->target = xstrndup(p, tn);
		rq->path = xstrndup(p, strcspn(rq->target, "?"));
		rq->query = strchr(rq->target, '?') ? strchr(rq->target, '?') + 1 : "";
	}
	p = strstr(p, "\r\n") + 2;
	while (p < end) {
		char *e = strstr(p, "\r\n");

		if (!add_header(rq, p, (size_t)(e - p)))
			goto out;
		p = e + 2;
	}
	cl = hf_header(rq, "content-length");
	clen = cl ? strtoul(cl, NULL, 10) : 0;
	if (clen > MAX_BODY)
		goto out;
	rq->body = xmalloc(clen + 1);
	rq->blen = clen;
	have = buf.len - head_len < clen ? buf.len - head_len : clen;
	memcpy(rq->body, buf.buf + head_len, have);
	while (have < clen) {
		ssize_t n = recv(fd, rq->body + have, clen - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		have += (size_t)n;
	}
	rq->body[clen] = '\0';
	ok = true;
out:
	sb_release(&buf);
	return ok;
}

/* ---- forwarding ---------------------------------------------------------------------- */

struct fwd {
	struct hf_response *rs;
	const char *const *keep;
};

static size_t up_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct fwd *w = ud;

	sb_add(&w->rs->body, ptr, size * n);
	return size * n;
}

static bool named(const char *line, size_t len, const char *name)
{
	size_t k = strlen(name);

	return len > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

static size_t up_header(char *ptr, size_t size, size_t n, void *ud)
{
	static const char *const ctype_only[] = { "content-type", NULL };
	struct fwd *w = ud;
	const char *const *keep = w->keep ? w->keep : ctype_only;
	size_t len = size * n;

	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue): forget the last one's */
		w->rs->headers.len = 0;
		w->rs->headers.buf[0] = '\0';
		return len;
	}
	while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
		len--;
	if (named(ptr, len, "content-length")) {
		const char *v = ptr + 15;

		while (v < ptr + len && *v == ' ')
			v++;
		free(w->rs->head_length);
		w->rs->head_length = xstrndup(v, (size_t)(ptr + len - v));
		return size * n;
	}
	for (int i = 0; keep[i]; i++) {
		if (named(ptr, len, keep[i])) {
			sb_add(&w->rs->headers, ptr, len);
			sb_adds(&w->rs->headers, "\r\n");
			break;
		}
	}
	return size * n;
}

void http_front_forward(const char *upstream, const char *method, const char *target,
			const struct hf_request *rq, const char *const *keep, struct hf_response *rs)
{
	static const char *const pass[] = { "accept", "content-type", NULL };
	struct fwd w = { .rs = rs, .keep = keep };
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char *url;

	method = method ? method : rq->method;
	url = xasprintf("%s%s", upstream, target ? target : rq->target);
	rs->status = 502;
	if (!h)
		goto out;
	for (int i = 0; pass[i]; i++) {
		const char *v = hf_header(rq, pass[i]);

		if (v) {
			char *line = xasprintf("%s: %s", pass[i], v);
			hdrs = curl_slist_append(hdrs, line);
			free(line);
		}
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
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->blen);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, up_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, up_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &w);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
}

/* ---- the thread ------------------------------------------------------------------------ */

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool stopping(struct http_front *f)
{
	bool stop;

	pthread_mutex_lock(&f->mu);
	stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

/* Wait ms, cut short by http_front_stop, or when the client hangs up (c >= 0). */
static void wait_ms(struct http_front *f, int c, long ms)
{
	int64_t end = now_ms_mono() + ms;

	while (!stopping(f) && now_ms_mono() < end) {
		struct pollfd pfd = { .fd = c, .events = POLLIN | POLLRDHUP };
		char b;

		if (c < 0) {
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		} else if (poll(&pfd, 1, 10) > 0) {
			struct timespec ts = { 0, 10 * 1000000L };

			if (recv(c, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
				break;   /* hung up (or failed) */
			nanosleep(&ts, NULL);   /* more bytes: not a hang-up */
		}
	}
}

/* Close the listening socket now if the front is to refuse (the loop's thread only). */
static void apply_refuse(struct http_front *f)
{
	bool refuse;

	pthread_mutex_lock(&f->mu);
	refuse = f->refuse;
	pthread_mutex_unlock(&f->mu);
	if (refuse && f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
}

static void serve(struct http_front *f, int c)
{
	struct timeval tv = { .tv_sec = 5 };
	struct hf_request rq;
	struct hf_response rs;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&rq, 0, sizeof(rq));
	response_init(&rs);
	if (read_request(c, &rq)) {
		rs.head = strcmp(rq.method, "HEAD") == 0;
		f->fn(f->ud, &rq, &rs);
		/* a handler that made the front refuse: the next connection finds it closed */
		apply_refuse(f);
		if (rs.delay_ms > 0)
			wait_ms(f, c, rs.delay_ms);
		if (rs.action == HF_ANSWER)
			write_response(c, &rs);
	}
	request_release(&rq);
	response_release(&rs);
	close(c);
}

static void *loop(void *arg)
{
	struct http_front *f = arg;

	for (;;) {
		struct pollfd pfd;
		bool stop, refuse;
		int c;

		pthread_mutex_lock(&f->mu);
		stop = f->stop;
		refuse = f->refuse;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		if (refuse)
			apply_refuse(f);
		else if (f->fd < 0)
			f->fd = listen_on(f->port);
		if (f->fd < 0) {
			wait_ms(f, -1, 20);
			continue;
		}
		pfd = (struct pollfd){ .fd = f->fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(f->fd, NULL, NULL);
		if (c >= 0)
			serve(f, c);
	}
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct http_front *http_front_start(hf_handler fn, void *ud)
{
	struct http_front *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	f->fn = fn;
	f->ud = ud;
	pthread_mutex_init(&f->mu, NULL);
	f->fd = listen_on(0);
	if (f->fd < 0 || getsockname(f->fd, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	f->port = ntohs(a.sin_port);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
	if (pthread_create(&f->th, NULL, loop, f) != 0)
		goto fail;
	return f;
fail:
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return NULL;
}

int http_front_port(const struct http_front *f)
{
	return f->port;
}

const char *http_front_url(const struct http_front *f)
{
	return f->url;
}

void http_front_refuse(struct http_front *f, bool refuse)
{
	pthread_mutex_lock(&f->mu);
	f->refuse = refuse;
	pthread_mutex_unlock(&f->mu);
}

void http_front_stop(struct http_front *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
