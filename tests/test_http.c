/*
 * bot/clients/http.c against servers in this process, on 127.0.0.1 only:
 *  - a scripted HTTP/1.1 server (a thread per connection, keep-alive) that
 *    counts connections, requests and how many it is answering at once, and
 *    can answer from a script, after a delay, with a huge body, never, or by
 *    closing the connection;
 *  - tests/tls_front.c in front of it with a throwaway CA made here (and a
 *    client certificate the front can require).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/clients/http.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"
#include "tests/helpers.h"
#include "tests/tls_front.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SCRIPT   16
#define MAX_REC      256
#define IO_IDLE_MS   10000
#define POLL_MS      50

/* ---- the scripted server ------------------------------------------------------ */

struct answer {
	int status;
	const char *headers;         /* extra header lines, each ending in \r\n */
	const char *body;
	int delay_ms;
};

struct rec {
	char method[16];
	char path[512];
	int64_t t_ms;
	int conn;
};

struct srv {
	int lfd, port;
	pthread_t th;
	atomic_bool stop;
	atomic_int active;           /* connection threads running */
	pthread_mutex_t mu;          /* guards everything below */
	struct answer script[MAX_SCRIPT];
	int nscript, next;
	struct rec rec[MAX_REC];
	int nrec;
	int conns;                   /* connections accepted */
	int closed_unanswered;       /* /close: connections closed without an answer */
	int inflight, max_inflight;  /* requests being answered at once */
	char base[64];
};

struct conn {
	struct srv *s;
	int fd, id;
};

static int devnull_fd = -1;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static bool send_all(int fd, const char *p, size_t n)
{
	int64_t end = now_ms_mono() + IO_IDLE_MS;

	while (n > 0 && now_ms_mono() < end) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, POLL_MS);
		} else {
			return false;
		}
	}
	return n == 0;
}

static void respond(int fd, int status, const char *headers, const char *body, size_t len)
{
	struct strbuf out;

	sb_init(&out);
	sb_addf(&out, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\nX-Test: kept\r\n%s\r\n",
		status, len, headers ? headers : "");
	sb_add(&out, body, len);
	send_all(fd, out.buf, out.len);
	sb_release(&out);
}

/* Answer one request; false: close the connection. */
static bool serve_one(struct srv *s, struct conn *c, const char *method, const char *path)
{
	struct answer a = { 200, NULL, "ok", 0 };
	bool keep = true;

	pthread_mutex_lock(&s->mu);
	if (s->nrec < MAX_REC) {
		struct rec *r = &s->rec[s->nrec++];
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", path);
		r->t_ms = now_ms_mono();
		r->conn = c->id;
	}
	if (strncmp(path, "/script", 7) == 0 && s->nscript > 0) {
		a = s->script[s->next < s->nscript ? s->next : s->nscript - 1];
		s->next++;
	}
	s->inflight++;
	if (s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
	pthread_mutex_unlock(&s->mu);

	if (strncmp(path, "/delay/", 7) == 0) {
		sleep_ms(atol(path + 7));
		respond(c->fd, 200, NULL, "ok", 2);
	} else if (strncmp(path, "/status/", 8) == 0) {
		respond(c->fd, atoi(path + 8), NULL, "status", 6);
	} else if (strncmp(path, "/big/", 5) == 0) {
		size_t n = (size_t)atol(path + 5);
		char *big = xmalloc(n + 1);
		memset(big, 'x', n);
		respond(c->fd, 200, NULL, big, n);
		free(big);
	} else if (strncmp(path, "/hang", 5) == 0) {
		/* never answer: wait for the client to give up, or the end */
		while (!atomic_load(&s->stop)) {
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };
			char b[256];
			if (poll(&pf, 1, POLL_MS) > 0 && recv(c->fd, b, sizeof(b), 0) <= 0)
				break;
		}
		keep = false;
	} else if (strcmp(path, "/hostile/garbage") == 0) {
		static const char g[] = "HELLO THERE\r\n\r\n";
		send_all(c->fd, g, sizeof(g) - 1);
		keep = false;
	} else if (strcmp(path, "/hostile/short") == 0) {
		static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes!";
		send_all(c->fd, cut, sizeof(cut) - 1);
		keep = false;
	} else if (strncmp(path, "/hostile/headers/", 17) == 0) {
		int nbig = atoi(path + 17);
		struct strbuf h;
		char *big = xmalloc(9001);
		memset(big, 'v', 9000);
		big[9000] = '\0';
		sb_init(&h);
		for (int i = 0; i < nbig; i++)
			sb_addf(&h, "X-Test: %s\r\n", big);
		for (int i = 0; i < 100; i++)
			sb_addf(&h, "X-Test: v%d\r\n", i);
		sb_adds(&h, "Retry-After: 99999999999999999999999\r\n");
		respond(c->fd, 429, h.buf, "", 0);
		sb_release(&h);
		free(big);
	} else if (strncmp(path, "/close", 6) == 0) {
		pthread_mutex_lock(&s->mu);
		s->closed_unanswered++;
		pthread_mutex_unlock(&s->mu);
		keep = false;
	} else {
		if (a.delay_ms)
			sleep_ms(a.delay_ms);
		respond(c->fd, a.status, a.headers, a.body ? a.body : "", a.body ? strlen(a.body) : 0);
	}
	pthread_mutex_lock(&s->mu);
	s->inflight--;
	pthread_mutex_unlock(&s->mu);
	return keep;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct srv *s = c->s;
	struct strbuf in;
	int64_t idle_end = now_ms_mono() + IO_IDLE_MS;

	sb_init(&in);
	while (!atomic_load(&s->stop) && now_ms_mono() < idle_end) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		char buf[16384], *eoh, method[16] = "", path[512] = "";
		const char *cl;
		size_t hlen, blen = 0;
		ssize_t k;

		if (!(eoh = strstr(in.buf, "\r\n\r\n"))) {
			if (poll(&pf, 1, POLL_MS) <= 0)
				continue;
			k = recv(c->fd, buf, sizeof(buf), 0);
			if (k <= 0)
				break;
			sb_add(&in, buf, (size_t)k);
			continue;
		}
		hlen = (size_t)(eoh - in.buf) + 4;
		*eoh = '\0';
		cl = strcasestr(in.buf, "\r\ncontent-length:");
		if (cl)
			blen = strtoul(cl + 17, NULL, 10);
		sscanf(in.buf, "%15s %511s", method, path);
		*eoh = '\r';
		if (in.len < hlen + blen) {
			if (poll(&pf, 1, POLL_MS) <= 0)
				continue;
			k = recv(c->fd, buf, sizeof(buf), 0);
			if (k <= 0)
				break;
			sb_add(&in, buf, (size_t)k);
			continue;
		}
		memmove(in.buf, in.buf + hlen + blen, in.len - hlen - blen + 1);
		in.len -= hlen + blen;
		if (!serve_one(s, c, method, path))
			break;
		idle_end = now_ms_mono() + IO_IDLE_MS;
	}
	sb_release(&in);
	close(c->fd);
	atomic_fetch_sub(&s->active, 1);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pf = { .fd = s->lfd, .events = POLLIN };
		struct conn *c;
		pthread_t th;
		int fd;

		if (poll(&pf, 1, POLL_MS) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		c = xcalloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		pthread_mutex_lock(&s->mu);
		c->id = ++s->conns;
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&s->active, 1);
		if (pthread_create(&th, NULL, conn_main, c) != 0) {
			atomic_fetch_sub(&s->active, 1);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static struct srv *srv_start(void)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, accept_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	int64_t end;

	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	close(s->lfd);
	end = now_ms_mono() + 5000;
	while (atomic_load(&s->active) > 0 && now_ms_mono() < end)
		sleep_ms(10);
	if (atomic_load(&s->active) > 0) {
		fprintf(stderr, "test server: connections still open at stop\n");
		return;   /* they still use s: leave it to the process exit */
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void srv_script(struct srv *s, const struct answer *a, int n)
{
	pthread_mutex_lock(&s->mu);
	assert_true(n <= MAX_SCRIPT);
	memcpy(s->script, a, (size_t)n * sizeof(*a));
	s->nscript = n;
	s->next = 0;
	pthread_mutex_unlock(&s->mu);
}

/* A snapshot of the counters. */
struct counts {
	int nrec, conns, closed, max_inflight;
};

static struct counts srv_counts(struct srv *s)
{
	struct counts c;

	pthread_mutex_lock(&s->mu);
	c = (struct counts){ s->nrec, s->conns, s->closed_unanswered, s->max_inflight };
	pthread_mutex_unlock(&s->mu);
	return c;
}

static int64_t rec_t(struct srv *s, int i)
{
	int64_t t;

	pthread_mutex_lock(&s->mu);
	t = s->rec[i].t_ms;
	pthread_mutex_unlock(&s->mu);
	return t;
}

#define ANSWERS(...) ((const struct answer[]){ __VA_ARGS__ }), \
	(int)(sizeof((const struct answer[]){ __VA_ARGS__ }) / sizeof(struct answer))

/* A port that was just free and has no listener. */
static int dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- clients ----------------------------------------------------------------------- */

static const struct http_limits test_limits = {
	.connect_timeout_ms = 1000, .timeout_ms = 3000, .deadline_ms = 8000, .max_retries = 2,
	.max_retry_after_ms = 2000, .default_retry_after_ms = 200, .backoff_ms = 50, .max_parallel = 4,
};

static struct http_client *client_tls(const char *base, const struct http_limits *lim, const struct http_tls *tls)
{
	struct http_client_opts o = { .name = "test", .base_url = base, .tls_hint = "set TEST_CA_FILE" };
	struct http_client *c;

	o.limits = *lim;
	if (tls)
		o.tls = *tls;
	c = http_client_new(&o);
	assert_non_null(c);
	return c;
}

static struct http_client *client(const char *base, const struct http_limits *lim)
{
	return client_tls(base, lim, NULL);
}

static const char *const keep_test[] = { "x-test", "retry-after", NULL };

static struct http_request get(const char *path)
{
	return (struct http_request){ .op = "probe", .method = "GET", .url = path, .keep = keep_test };
}

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) \
		fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
} while (0)

struct fx {
	struct srv *srv;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	metrics_reset();
	f->srv = srv_start();
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	srv_stop(f->srv);
	free(f);
	return 0;
}

/* ---- plain requests ------------------------------------------------------------------ */

static void get__ok__kept_header_and_one_connection_for_three_calls(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/ok");
	struct http_response rs;

	http_response_init(&rs);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
		assert_int_equal(rs.status, 200);
		assert_string_equal(rs.body.buf, "ok");
		assert_string_equal(http_header_get(&rs, "X-TEST"), "kept");
		assert_null(http_header_get(&rs, "content-type"));   /* not asked for */
		assert_int_equal(rs.attempts, 1);
	}
	/* the session (and its connection) came back to the pool each time */
	assert_int_equal(srv_counts(f->srv).conns, 1);
	assert_int_equal(srv_counts(f->srv).nrec, 3);
	http_response_release(&rs);
	http_client_free(c);
}

static void status__404__is_an_answer_not_a_failure(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/status/404");
	struct http_response rs;

	http_response_init(&rs);
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 404);
	assert_int_equal(rs.attempts, 1);
	assert_string_equal(rs.error, "");
	http_response_release(&rs);
	http_client_free(c);
}

static void bad_requests__einval__nothing_sent(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_client *nobase = client(NULL, &test_limits);
	struct http_request rq = get("/ok");
	struct http_response rs;

	http_response_init(&rs);
	rq.method = "FETCH";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EINVAL);
	assert_contains(rs.error, "bad method");
	rq = get("/a b");
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EINVAL);
	rq = get("/x\r\nInjected: 1");
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EINVAL);
	rq = get("/ok");
	assert_int_equal(http_do(nobase, &rq, &rs), VIVA_EINVAL);
	assert_contains(rs.error, "bad URL");
	rq = get("ftp://127.0.0.1/x");
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EINVAL);
	assert_int_equal(srv_counts(f->srv).nrec, 0);
	assert_null(http_client_new(&(struct http_client_opts){ .name = "" }));
	assert_null(http_client_new(&(struct http_client_opts){ .name = "x", .base_url = "ftp://h" }));
	assert_null(http_client_new(&(struct http_client_opts){ .name = "x", .base_url = "http://h/?token=1" }));
	assert_null(http_client_new(&(struct http_client_opts){ .name = "x",
		.tls = { .ca_file = "/nonexistent/ca.pem" } }));
	http_response_release(&rs);
	http_client_free(c);
	http_client_free(nobase);
}

/* ---- 429 and 503 ------------------------------------------------------------------------- */

static void status_429__retry_after_1__waited_then_answered(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/script");
	struct http_response rs;
	int64_t gap;

	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 1\r\n", "slow down" }, { 200, NULL, "done" }));
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 200);
	assert_string_equal(rs.body.buf, "done");
	assert_int_equal(rs.attempts, 2);
	assert_int_equal(srv_counts(f->srv).nrec, 2);
	gap = rec_t(f->srv, 1) - rec_t(f->srv, 0);
	assert_true(gap >= 950);
	assert_true(gap < 1900);
	http_response_release(&rs);
	http_client_free(c);
}

static void status_429__no_retry_after__default_wait_and_bounded(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/script");
	struct http_response rs;

	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 429, NULL, "" }));
	/* a POST too: a 429 was not acted on, so repeating it is safe */
	rq.method = "POST";
	rq.body = "{}";
	rq.body_len = 2;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 429);
	assert_int_equal(rs.retry_after_s, -1);
	/* max_retries 2: three in all, 200 ms apart */
	assert_int_equal(rs.attempts, 3);
	assert_int_equal(srv_counts(f->srv).nrec, 3);
	assert_true(rec_t(f->srv, 2) - rec_t(f->srv, 0) >= 380);
	http_response_release(&rs);
	http_client_free(c);
}

static void status_503__retry_after_30__capped(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rq = get("/script");
	struct http_response rs;
	int64_t gap;

	lim.max_retry_after_ms = 300;
	c = client(f->srv->base, &lim);
	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 503, "Retry-After: 30\r\n", "" }, { 200, NULL, "up" }));
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 200);
	assert_int_equal(srv_counts(f->srv).nrec, 2);
	gap = rec_t(f->srv, 1) - rec_t(f->srv, 0);
	assert_true(gap >= 250);
	assert_true(gap < 2000);
	http_response_release(&rs);
	http_client_free(c);
}

static void status_503__post__not_retried(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/script");
	struct http_response rs;

	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 503, "Retry-After: 0\r\n", "" }, { 200, NULL, "posted twice" }));
	rq.method = "POST";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 503);
	assert_int_equal(srv_counts(f->srv).nrec, 1);
	/* unless the caller says the POST is a query */
	srv_script(f->srv, ANSWERS({ 503, "Retry-After: 0\r\n", "" }, { 200, NULL, "answered" }));
	rq.idempotent = true;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 200);
	http_response_release(&rs);
	http_client_free(c);
}

static void status_429__past_the_deadline_or_no_retry__returned_at_once(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rq = get("/script");
	struct http_response rs;
	char date[64];
	time_t later = time(NULL) + 5;
	struct tm tm;
	char *hdr;
	int64_t t0;

	lim.deadline_ms = 1500;
	lim.max_retry_after_ms = 60000;
	c = client(f->srv->base, &lim);
	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 30\r\n", "" }));
	t0 = now_ms_mono();
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 429);
	assert_int_equal(rs.retry_after_s, 30);
	assert_int_equal(srv_counts(f->srv).nrec, 1);
	assert_true(now_ms_mono() - t0 < 1000);

	/* the caller backs off itself; Retry-After as an HTTP date */
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	hdr = xasprintf("Retry-After: %s\r\n", date);
	srv_script(f->srv, ANSWERS({ 429, hdr, "" }));
	rq.no_retry_429 = true;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 429);
	assert_true(rs.retry_after_s >= 3 && rs.retry_after_s <= 6);
	assert_int_equal(srv_counts(f->srv).nrec, 2);
	free(hdr);
	http_response_release(&rs);
	http_client_free(c);
}

/* ---- no answer ------------------------------------------------------------------------------ */

static void closed_without_answer__retries_bounded_and_counted_by_the_server(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/close");
	struct http_response rs;

	http_response_init(&rs);
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_contains(rs.error, "closed the connection without an answer");
	assert_int_equal(rs.attempts, 3);
	assert_int_equal(srv_counts(f->srv).closed, 3);
	/* a POST reached the server: never sent twice */
	rq.method = "POST";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_int_equal(rs.attempts, 1);
	assert_int_equal(srv_counts(f->srv).closed, 4);
	http_response_release(&rs);
	http_client_free(c);
}

static void deadline__bounds_every_retry(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rq = get("/close");
	struct http_response rs;
	int64_t t0;

	lim.max_retries = 10;
	lim.backoff_ms = 200;
	lim.deadline_ms = 800;
	c = client(f->srv->base, &lim);
	http_response_init(&rs);
	t0 = now_ms_mono();
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_true(now_ms_mono() - t0 < 1500);
	/* 200 + 400 ms of backoff fit in 800, the next 800 does not */
	assert_int_equal(rs.attempts, 3);
	assert_int_equal(srv_counts(f->srv).closed, 3);
	http_response_release(&rs);
	http_client_free(c);
}

static void server_never_answers__etimeout_not_retried(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rq = get("/hang");
	struct http_response rs;
	char *want;
	int64_t t0;

	lim.timeout_ms = 300;
	c = client(f->srv->base, &lim);
	http_response_init(&rs);
	t0 = now_ms_mono();
	assert_int_equal(http_do(c, &rq, &rs), VIVA_ETIMEOUT);
	assert_true(now_ms_mono() - t0 < 2000);
	want = xasprintf("test at %s did not answer within 300 ms", f->srv->base);
	assert_string_equal(rs.error, want);
	assert_int_equal(rs.attempts, 1);
	assert_int_equal(srv_counts(f->srv).nrec, 1);
	free(want);
	http_response_release(&rs);
	http_client_free(c);
}

struct caller {
	struct http_client *c;
	pthread_t th;
	int rc;
	int64_t ms;
	char error[320];
};

static void *call_main(void *arg)
{
	struct caller *k = arg;
	struct http_request rq = get("/delay/800");
	struct http_response rs;
	int64_t t0 = now_ms_mono();

	http_response_init(&rs);
	k->rc = http_do(k->c, &rq, &rs);
	k->ms = now_ms_mono() - t0;
	snprintf(k->error, sizeof(k->error), "%s", rs.error);
	http_response_release(&rs);
	return NULL;
}

/*
 * A bulkhead: a system that answers slowly holds max_callers callers (that
 * many workers) and no more; the others wait a moment for a place, then are
 * refused at once with a sentence, and nothing of theirs is sent.
 */
static void bulkhead__slow_system__holds_its_share_the_rest_refused(void **state)
{
	struct fx *f = *state;
	struct http_client_opts o = { .name = "test", .base_url = f->srv->base, .limits = test_limits,
				      .max_callers = 2, .queue_wait_ms = 200 };
	struct caller k[5];
	struct http_client *c = http_client_new(&o);
	int ok = 0, busy = 0;
	char *want = xasprintf("test at %s is answering slowly: 2 requests are already waiting for it", f->srv->base);

	assert_non_null(c);
	for (int i = 0; i < 5; i++) {
		k[i] = (struct caller){ .c = c };
		assert_int_equal(pthread_create(&k[i].th, NULL, call_main, &k[i]), 0);
	}
	for (int i = 0; i < 5; i++) {
		pthread_join(k[i].th, NULL);
		if (k[i].rc == VIVA_OK) {
			ok++;
		} else {
			assert_int_equal(k[i].rc, VIVA_EBUSY);
			assert_true(k[i].ms < 700);          /* refused after the wait, not the slow call */
			assert_contains(k[i].error, want);
			busy++;
		}
	}
	assert_int_equal(ok, 2);
	assert_int_equal(busy, 3);
	assert_int_equal(srv_counts(f->srv).max_inflight, 2);
	assert_int_equal(srv_counts(f->srv).nrec, 2);   /* the refused ones sent nothing */
	free(want);
	http_client_free(c);
}

static void oversize_reply__erange(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/big/200000");
	struct http_response rs;

	http_response_init(&rs);
	rq.max_body = 1000;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_ERANGE);
	assert_contains(rs.error, "sent an answer larger than 1000 bytes (probe)");
	assert_true(rs.body.len <= 1000);
	assert_int_equal(rs.attempts, 1);
	/* at the cap exactly it fits */
	rq = get("/big/1000");
	rq.max_body = 1000;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.body.len, 1000);
	http_response_release(&rs);
	http_client_free(c);
}

static void connection_refused__one_clear_sentence(void **state)
{
	char base[64], *want;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rq = get("/ok");
	struct http_response rs;

	(void)state;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", dead_port());
	c = client(base, &lim);
	http_response_init(&rs);
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	want = xasprintf("test at %s is not reachable (connection refused)", base);
	assert_string_equal(rs.error, want);
	/* nothing was sent: retried, a POST too */
	assert_int_equal(rs.attempts, 3);
	rq.method = "POST";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_int_equal(rs.attempts, 3);
	free(want);
	http_response_release(&rs);
	http_client_free(c);
}

static void hostile_answers__bounded_and_refused_cleanly(void **state)
{
	struct fx *f = *state;
	struct http_client *c = client(f->srv->base, &test_limits);
	struct http_request rq = get("/hostile/garbage");
	struct http_response rs;

	http_response_init(&rs);
	/* not HTTP at all */
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_contains(rs.error, "is not reachable");
	/* a body cut short: a GET is tried again, then given up */
	rq = get("/hostile/short");
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	assert_int_equal(rs.attempts, 3);
	/* 450 KB of headers: libcurl refuses past 100 KB */
	rq = get("/hostile/headers/50");
	rq.no_retry_429 = true;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	/* 108 header lines, 8 of 9,000 bytes, an absurd Retry-After */
	rq = get("/hostile/headers/8");
	rq.no_retry_429 = true;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(rs.status, 429);
	assert_true(rs.nheaders <= 64);
	for (size_t i = 0; i < rs.nheaders; i++)
		assert_true(strlen(rs.headers[i].value) <= 8192);
	/* the server's own X-Test first; the 9,000-byte ones were not kept */
	assert_string_equal(http_header_get(&rs, "x-test"), "kept");
	assert_string_equal(http_header_next(&rs, "x-test", http_header_get(&rs, "x-test")), "v0");
	assert_int_equal(rs.retry_after_s, 86400);
	http_response_release(&rs);
	http_client_free(c);
}

/* ---- batches ---------------------------------------------------------------------------------- */

static void batch__bounded_concurrent_and_connections_reused(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rqs[12];
	struct http_response rss[12];
	int rcs[12];
	struct counts k;

	lim.max_parallel = 3;
	c = client(f->srv->base, &lim);
	for (int i = 0; i < 12; i++) {
		rqs[i] = get("/delay/150");
		http_response_init(&rss[i]);
	}
	assert_int_equal(http_do_batch(c, rqs, rss, rcs, 12), 12);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(rcs[i], VIVA_OK);
		assert_int_equal(rss[i].status, 200);
	}
	k = srv_counts(f->srv);
	assert_int_equal(k.nrec, 12);
	/* never more than 3 at once, and really at once (not one by one) */
	assert_true(k.max_inflight <= 3);
	assert_true(k.max_inflight >= 2);
	assert_true(k.conns <= 3);
	/* a second batch finds the connections open */
	assert_int_equal(http_do_batch(c, rqs, rss, rcs, 12), 12);
	assert_int_equal(srv_counts(f->srv).conns, k.conns);
	assert_true(srv_counts(f->srv).max_inflight <= 3);
	for (int i = 0; i < 12; i++)
		http_response_release(&rss[i]);
	http_client_free(c);
}

static void batch__each_request_its_own_outcome(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rqs[5] = { get("/ok"), get("/status/404"), get("/big/5000"), get("/hang"),
				       get("/script") };
	struct http_response rss[5];
	int rcs[5];
	int64_t t0;

	lim.timeout_ms = 400;
	c = client(f->srv->base, &lim);
	rqs[2].max_body = 1000;
	rqs[4].method = "NOPE";
	for (int i = 0; i < 5; i++)
		http_response_init(&rss[i]);
	t0 = now_ms_mono();
	assert_int_equal(http_do_batch(c, rqs, rss, rcs, 5), 2);
	/* the hanging one did not hold the others back past its own timeout */
	assert_true(now_ms_mono() - t0 < 2500);
	assert_int_equal(rcs[0], VIVA_OK);
	assert_int_equal(rss[0].status, 200);
	assert_int_equal(rcs[1], VIVA_OK);
	assert_int_equal(rss[1].status, 404);
	assert_int_equal(rcs[2], VIVA_ERANGE);
	assert_int_equal(rcs[3], VIVA_ETIMEOUT);
	assert_int_equal(rcs[4], VIVA_EINVAL);
	for (int i = 0; i < 5; i++)
		http_response_release(&rss[i]);
	http_client_free(c);
}

static void batch__429_waits_without_holding_a_slot(void **state)
{
	struct fx *f = *state;
	struct http_limits lim = test_limits;
	struct http_client *c;
	struct http_request rqs[4] = { get("/script"), get("/delay/100"), get("/delay/100"), get("/delay/100") };
	struct http_response rss[4];
	int rcs[4];

	lim.max_parallel = 1;
	c = client(f->srv->base, &lim);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 1\r\n", "" }, { 200, NULL, "later" }));
	for (int i = 0; i < 4; i++)
		http_response_init(&rss[i]);
	assert_int_equal(http_do_batch(c, rqs, rss, rcs, 4), 4);
	assert_int_equal(rss[0].status, 200);
	assert_int_equal(rss[0].attempts, 2);
	/* while request 0 waited its second, the others went through the one slot */
	{
		int order_ok = 0;
		pthread_mutex_lock(&f->srv->mu);
		for (int i = 1; i < 4; i++)
			if (strcmp(f->srv->rec[i].path, "/delay/100") == 0)
				order_ok++;
		pthread_mutex_unlock(&f->srv->mu);
		assert_int_equal(order_ok, 3);
	}
	assert_int_equal(srv_counts(f->srv).max_inflight, 1);
	for (int i = 0; i < 4; i++)
		http_response_release(&rss[i]);
	http_client_free(c);
}

/* ---- metrics ------------------------------------------------------------------------------------ */

static int attempts_seen;

static void count_attempt(const char *op, int status)
{
	(void)op;
	(void)status;
	attempts_seen++;
}

static void metrics__every_exchange_by_client_and_status(void **state)
{
	struct fx *f = *state;
	struct http_client_opts o = { .name = "test", .base_url = f->srv->base, .on_attempt = count_attempt };
	struct http_client *c;
	struct http_request rq = get("/ok");
	struct http_response rs;
	char *out;

	o.limits = test_limits;
	c = http_client_new(&o);
	http_response_init(&rs);
	attempts_seen = 0;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	rq = get("/close");
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	out = metrics_render();
	assert_contains(out, "\nviva_http_requests_total{client=\"test\",status=\"200\"} 2\n");
	assert_contains(out, "\nviva_http_requests_total{client=\"test\",status=\"error\"} 3\n");
	assert_int_equal(attempts_seen, 5);
	free(out);
	http_response_release(&rs);
	http_client_free(c);
}

/* ---- TLS ------------------------------------------------------------------------------------------ */

/*
 * A CA, a certificate for 127.0.0.1, one for another host, a client
 * certificate, all signed by it, and a second CA that signed nothing here.
 */
static void make_pki(const char *dir)
{
	char *cmd = xasprintf(
		"set -e; exec 2>&1; cd '%s'; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
		"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=viva-test-ca;"
		"openssl req -x509 $ec -keyout wrong.key -out wrong.pem -days 2 -subj /CN=viva-wrong-ca;"
		"for h in ip:subjectAltName=IP:127.0.0.1 other:subjectAltName=DNS:elsewhere.invalid"
		"         client:extendedKeyUsage=clientAuth; do"
		"  n=${h%%%%:*}; ext=${h#*:};"
		"  openssl req $ec -keyout $n.key -out $n.csr -subj /CN=viva-test-$n;"
		"  printf '%%s\\n' \"$ext\" > $n.ext;"
		"  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
		"    -extfile $n.ext -out $n.pem;"
		"done", dir);
	int status = -1;
	char *out = test_run(cmd, &status);

	if (status != 0)
		fprintf(stderr, "test PKI not made (%d):\n%s\n", status, out);
	assert_int_equal(status, 0);
	free(out);
	free(cmd);
}

struct tls_fx {
	struct srv *srv;
	char *dir;
	struct tls_front *front;        /* certificate for 127.0.0.1 */
	struct tls_front *mtls;         /* the same, requiring a client certificate */
	struct tls_front *other;        /* a certificate for another host */
	char base[64], mtls_base[64], other_base[64];
	char *ca, *wrong, *cert, *key;
};

static struct tls_front *front(struct tls_fx *f, const char *name, bool client_ca, char *base, size_t n)
{
	char *cert = xasprintf("%s/%s.pem", f->dir, name), *key = xasprintf("%s/%s.key", f->dir, name);
	struct tls_front_opts o = { .upstream_port = f->srv->port, .api_cert = cert, .api_key = key,
				    .link_cert = cert, .link_key = key, .api_client_ca = client_ca ? f->ca : NULL };
	struct tls_front *t = tls_front_start(&o);

	assert_non_null(t);
	snprintf(base, n, "https://127.0.0.1:%d", tls_front_api_port(t));
	free(cert);
	free(key);
	return t;
}

static int tls_setup(void **state)
{
	struct tls_fx *f = xcalloc(1, sizeof(*f));

	f->srv = srv_start();
	f->dir = test_tmpdir();
	make_pki(f->dir);
	f->ca = xasprintf("%s/ca.pem", f->dir);
	f->wrong = xasprintf("%s/wrong.pem", f->dir);
	f->cert = xasprintf("%s/client.pem", f->dir);
	f->key = xasprintf("%s/client.key", f->dir);
	f->front = front(f, "ip", false, f->base, sizeof(f->base));
	f->mtls = front(f, "ip", true, f->mtls_base, sizeof(f->mtls_base));
	f->other = front(f, "other", false, f->other_base, sizeof(f->other_base));
	*state = f;
	return 0;
}

static int tls_teardown(void **state)
{
	struct tls_fx *f = *state;

	tls_front_stop(f->front);
	tls_front_stop(f->mtls);
	tls_front_stop(f->other);
	srv_stop(f->srv);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f->ca);
	free(f->wrong);
	free(f->cert);
	free(f->key);
	free(f);
	return 0;
}

static char *slurp(const char *path)
{
	char *s = NULL;
	size_t n = 0;

	assert_int_equal(read_file(path, &s, &n), VIVA_OK);
	return s;
}

/* One GET of /ok through c: its rc, the response's error into err. */
static int tls_get(struct http_client *c, char *err, size_t errsz)
{
	struct http_request rq = get("/ok");
	struct http_response rs;
	int rc;

	http_response_init(&rs);
	rc = http_do(c, &rq, &rs);
	if (rc == VIVA_OK && rs.status != 200)
		rc = VIVA_EREMOTE;
	if (rc == VIVA_OK)
		assert_string_equal(rs.body.buf, "ok");
	snprintf(err, errsz, "%s", rs.error);
	http_response_release(&rs);
	http_client_free(c);
	return rc;
}

static void tls__ca_file_or_ca_data__trusted(void **state)
{
	struct tls_fx *f = *state;
	char err[320], *pem = slurp(f->ca);

	assert_int_equal(tls_get(client_tls(f->base, &test_limits, &(struct http_tls){ .ca_file = f->ca }),
				 err, sizeof(err)), VIVA_OK);
	assert_int_equal(tls_get(client_tls(f->base, &test_limits, &(struct http_tls){ .ca_pem = pem }),
				 err, sizeof(err)), VIVA_OK);
	free(pem);
}

static void tls__wrong_or_no_ca__refused_with_the_hint(void **state)
{
	struct tls_fx *f = *state;
	char err[320], *want;
	struct tls_front_stats before, after;

	want = xasprintf("test at %s is not reachable: its certificate is not trusted (set TEST_CA_FILE)", f->base);
	tls_front_stats(f->front, &before);
	assert_int_equal(tls_get(client_tls(f->base, &test_limits, &(struct http_tls){ .ca_file = f->wrong }),
				 err, sizeof(err)), VIVA_EUNAVAIL);
	assert_string_equal(err, want);
	/* the system's CAs (the hashed directory) do not know the test CA either */
	assert_int_equal(tls_get(client(f->base, &test_limits), err, sizeof(err)), VIVA_EUNAVAIL);
	assert_string_equal(err, want);
	tls_front_stats(f->front, &after);
	assert_int_equal(after.api_requests, before.api_requests);
	free(want);
}

static void tls__insecure__accepts_an_untrusted_certificate(void **state)
{
	struct tls_fx *f = *state;
	char err[320];

	assert_int_equal(tls_get(client_tls(f->other_base, &test_limits, &(struct http_tls){ .insecure = true }),
				 err, sizeof(err)), VIVA_OK);
}

static void tls__certificate_for_another_host__refused(void **state)
{
	struct tls_fx *f = *state;
	char err[320];

	assert_int_equal(tls_get(client_tls(f->other_base, &test_limits, &(struct http_tls){ .ca_file = f->ca }),
				 err, sizeof(err)), VIVA_EUNAVAIL);
	assert_contains(err, "its certificate is for another host name");
}

static void tls__client_certificate_required__files_or_pem(void **state)
{
	struct tls_fx *f = *state;
	char err[320], *cert = slurp(f->cert), *key = slurp(f->key);
	struct tls_front_stats s0, s1;

	tls_front_stats(f->mtls, &s0);
	assert_int_equal(tls_get(client_tls(f->mtls_base, &test_limits, &(struct http_tls){ .ca_file = f->ca }),
				 err, sizeof(err)), VIVA_EUNAVAIL);
	assert_contains(err, "client certificate");
	tls_front_stats(f->mtls, &s1);
	/* a refusal by the server is not retried */
	assert_int_equal(s1.api_refused - s0.api_refused, 1);
	assert_int_equal(tls_get(client_tls(f->mtls_base, &test_limits, &(struct http_tls){
		.ca_file = f->ca, .cert_file = f->cert, .key_file = f->key }), err, sizeof(err)), VIVA_OK);
	assert_int_equal(tls_get(client_tls(f->mtls_base, &test_limits, &(struct http_tls){
		.ca_file = f->ca, .cert_pem = cert, .key_pem = key }), err, sizeof(err)), VIVA_OK);
	/* a certificate from another CA is refused too */
	assert_int_equal(tls_get(client_tls(f->mtls_base, &test_limits, &(struct http_tls){
		.ca_file = f->ca, .cert_file = f->wrong, .key_file = f->key }), err, sizeof(err)), VIVA_EUNAVAIL);
	free(cert);
	free(key);
}

/* ---- logs ------------------------------------------------------------------------------------------- */

static void logs__never_a_secret_url_or_header(void **state)
{
	struct tls_fx *f = *state;
	static const char *const secret_headers[] = { "X-Api-Key: SECRET-HEADER", NULL };
	char path[] = "/tmp/viva-http-log-XXXXXX", dead[64], err[320];
	int fd = mkstemp(path);
	char *logged = NULL, *q;
	size_t len = 0;
	enum log_level old = log_get_level();
	struct http_limits lim = test_limits;
	struct http_client *c, *refused;
	struct http_request rq;
	struct http_response rs;

	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);
	lim.timeout_ms = 300;
	c = client(f->srv->base, &lim);
	http_response_init(&rs);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 0\r\n", "" }, { 200, NULL, "SECRET-BODY" }));

	/* bearer, basic credentials, a response_url-like path with a query, a header */
	rq = (struct http_request){ .op = "probe", .method = "POST", .headers = secret_headers,
				    .url = "/script/commands/T1/SECRET-PATH?token=SECRET-QUERY",
				    .body = "SECRET-PAYLOAD", .body_len = 14, .bearer = "SECRET-BEARER" };
	assert_int_equal(http_do(c, &rq, &rs), VIVA_OK);
	rq.bearer = NULL;
	rq.user = "SECRET-USER";
	rq.password = "SECRET-PASSWORD";
	rq.url = "/hang?SECRET-QUERY";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_ETIMEOUT);
	rq.url = "/close/SECRET-PATH";
	assert_int_equal(http_do(c, &rq, &rs), VIVA_EUNAVAIL);
	rq.url = "/big/5000?SECRET-QUERY";
	rq.max_body = 10;
	assert_int_equal(http_do(c, &rq, &rs), VIVA_ERANGE);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/SECRET-PATH", dead_port());
	refused = client(NULL, &lim);
	rq.url = dead;
	rq.max_body = 0;
	assert_int_equal(http_do(refused, &rq, &rs), VIVA_EUNAVAIL);
	/* a TLS failure too */
	assert_int_equal(tls_get(client_tls(f->base, &lim, &(struct http_tls){ .ca_file = f->wrong,
		.cert_pem = "SECRET-CERT", .key_pem = "SECRET-KEY" }), err, sizeof(err)), VIVA_EUNAVAIL);
	http_response_release(&rs);
	http_client_free(c);
	http_client_free(refused);

	log_set_level(old);
	log_set_fd(devnull_fd >= 0 ? devnull_fd : 2);
	close(fd);
	assert_int_equal(read_file(path, &logged, &len), VIVA_OK);
	unlink(path);
	/* every path did log ... */
	assert_contains(logged, "msg=\"http request\" client=test op=probe method=POST status=429");
	assert_contains(logged, "msg=\"http retry\" client=test op=probe method=POST reason=http_429");
	assert_contains(logged, "msg=\"http request failed\" client=test op=probe method=POST error=\"Timeout was reached\"");
	assert_contains(logged, "error=\"Server returned nothing (no headers, no data)\"");
	assert_contains(logged, "error=\"Couldn't connect to server\"");
	/* ... and nothing secret, no URL, no header */
	q = strstr(logged, "SECRET");
	if (q || strstr(logged, "http://") || strstr(logged, "https://") || strstr(logged, "X-Api-Key"))
		fail_msg("a secret, URL or header was logged:\n%s", logged);
	free(logged);
}

/* ---- main ------------------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const char *proxies[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	};
	(void)state;

	/* tls_front's OpenSSL writes to a socket the client may have closed */
	signal(SIGPIPE, SIG_IGN);
	/* traffic stays on 127.0.0.1 whatever the environment says */
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	/* the tests provoke failures on purpose; their log lines stay out of the report */
	devnull_fd = open("/dev/null", O_WRONLY);
	if (devnull_fd >= 0 && !getenv("VIVA_TEST_LOG"))
		log_set_fd(devnull_fd);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	log_set_fd(2);
	if (devnull_fd >= 0)
		close(devnull_fd);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
#define TLS(name) cmocka_unit_test_setup_teardown(name, tls_setup, tls_teardown)
	const struct CMUnitTest tests[] = {
		T(get__ok__kept_header_and_one_connection_for_three_calls),
		T(status__404__is_an_answer_not_a_failure),
		T(bad_requests__einval__nothing_sent),
		T(status_429__retry_after_1__waited_then_answered),
		T(status_429__no_retry_after__default_wait_and_bounded),
		T(status_503__retry_after_30__capped),
		T(status_503__post__not_retried),
		T(status_429__past_the_deadline_or_no_retry__returned_at_once),
		T(closed_without_answer__retries_bounded_and_counted_by_the_server),
		T(deadline__bounds_every_retry),
		T(server_never_answers__etimeout_not_retried),
		T(bulkhead__slow_system__holds_its_share_the_rest_refused),
		T(oversize_reply__erange),
		cmocka_unit_test(connection_refused__one_clear_sentence),
		T(hostile_answers__bounded_and_refused_cleanly),
		T(batch__bounded_concurrent_and_connections_reused),
		T(batch__each_request_its_own_outcome),
		T(batch__429_waits_without_holding_a_slot),
		T(metrics__every_exchange_by_client_and_status),
		TLS(tls__ca_file_or_ca_data__trusted),
		TLS(tls__wrong_or_no_ca__refused_with_the_hint),
		TLS(tls__insecure__accepts_an_untrusted_certificate),
		TLS(tls__certificate_for_another_host__refused),
		TLS(tls__client_certificate_required__files_or_pem),
		TLS(logs__never_a_secret_url_or_header),
	};
#undef T
#undef TLS
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
