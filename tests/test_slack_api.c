/*
 * The Slack Web API client against a tiny scripted HTTP server in this
 * process: a thread on 127.0.0.1:0 that records every request and answers
 * from a script (status, extra headers, body, delay).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/slack/api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#define BOT_TOKEN "xoxb-1-SECRETBOT"
#define APP_TOKEN "xapp-1-SECRETAPP"

/* Where log lines go during the tests (they provoke errors on purpose). */
static int devnull_fd = -1;

/* ---- the scripted server -------------------------------------------------- */

#define MAX_SCRIPT  16
#define MAX_REC     64
#define MAX_CLIENTS 16

struct answer {
	int status;
	const char *headers;    /* extra header lines, each ending in \r\n */
	const char *body;
	int delay_ms;
	size_t big;             /* > 0: a body of this many 'x' instead */
};

struct rec {
	char method[16];
	char path[512];
	char *headers;          /* the raw header block */
	char *body;
	size_t body_len;
	int conn;               /* which accepted connection carried it */
	int64_t t_ms;
};

struct srv {
	int lfd, port, wake[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct answer script[MAX_SCRIPT];
	int nscript, next;
	struct rec rec[MAX_REC];
	int nrec;
	int conns;
	char base[64];          /* http://127.0.0.1:PORT/api/ */
};

struct client {
	int fd, id;
	struct strbuf in;
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 404: return "Not Found";
	case 410: return "Gone";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	default:  return "Whatever";
	}
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return;   /* the client went away (a timeout test): fine */
		p += k;
		n -= (size_t)k;
	}
}

/* Record and answer every complete request in c->in. false: close it. */
static bool serve_requests(struct srv *s, struct client *c)
{
	for (int guard = 0; guard < 64; guard++) {
		char *end = strstr(c->in.buf, "\r\n\r\n");
		size_t hlen, clen = 0, total;
		const char *cl;
		struct answer a = { 500, NULL, "no script", 0, 0 };
		struct rec *r = NULL;
		struct strbuf out;

		if (!end)
			return true;
		hlen = (size_t)(end - c->in.buf) + 4;
		*end = '\0';   /* restored below; lets us search the header block */
		cl = strcasestr(c->in.buf, "\r\ncontent-length:");
		if (cl)
			clen = strtoul(cl + 17, NULL, 10);
		*end = '\r';
		total = hlen + clen;
		if (c->in.len < total)
			return true;

		pthread_mutex_lock(&s->mu);
		if (s->nrec < MAX_REC) {
			r = &s->rec[s->nrec++];
			sscanf(c->in.buf, "%15s %511s", r->method, r->path);
			r->headers = xstrndup(c->in.buf, hlen);
			r->body = xstrndup(c->in.buf + hlen, clen);
			r->body_len = clen;
			r->conn = c->id;
			r->t_ms = now_ms_mono();
		}
		if (s->nscript > 0) {
			a = s->script[s->next < s->nscript ? s->next : s->nscript - 1];
			s->next++;
		}
		pthread_mutex_unlock(&s->mu);

		memmove(c->in.buf, c->in.buf + total, c->in.len - total + 1);
		c->in.len -= total;

		if (a.delay_ms > 0) {
			struct timespec ts = { a.delay_ms / 1000, (a.delay_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		sb_init(&out);
		sb_addf(&out, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", a.status, reason(a.status),
			a.big ? a.big : strlen(a.body ? a.body : ""));
		if (!a.headers || !strcasestr(a.headers, "content-type:"))
			sb_adds(&out, "Content-Type: application/json; charset=utf-8\r\n");
		sb_adds(&out, a.headers ? a.headers : "");
		sb_adds(&out, "\r\n");
		if (a.big) {
			char *big = xmalloc(a.big);
			memset(big, 'x', a.big);
			sb_add(&out, big, a.big);
			free(big);
		} else {
			sb_adds(&out, a.body ? a.body : "");
		}
		send_all(c->fd, out.buf, out.len);
		sb_release(&out);
	}
	return false;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct client cl[MAX_CLIENTS];
	int ncl = 0;
	int64_t give_up = now_ms_mono() + 60000;   /* never outlive a stuck test */

	while (now_ms_mono() < give_up) {
		struct pollfd pf[MAX_CLIENTS + 2];
		int n = 0;

		pf[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (int i = 0; i < ncl; i++)
			pf[n++] = (struct pollfd){ .fd = cl[i].fd, .events = POLLIN };
		if (poll(pf, (nfds_t)n, 100) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0 && ncl < MAX_CLIENTS) {
				pthread_mutex_lock(&s->mu);
				cl[ncl].id = ++s->conns;
				pthread_mutex_unlock(&s->mu);
				cl[ncl].fd = fd;
				sb_init(&cl[ncl].in);
				ncl++;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (int i = 0; i < ncl; i++) {
			char buf[65536];
			ssize_t k;
			bool keep = true;

			if (!(pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = recv(cl[i].fd, buf, sizeof(buf), 0);
			if (k <= 0)
				keep = false;
			else {
				sb_add(&cl[i].in, buf, (size_t)k);
				keep = serve_requests(s, &cl[i]);
			}
			if (!keep) {
				close(cl[i].fd);
				sb_release(&cl[i].in);
				cl[i] = cl[ncl - 1];
				pf[2 + i] = pf[2 + ncl - 1];
				ncl--;
				i--;
			}
		}
	}
	for (int i = 0; i < ncl; i++) {
		close(cl[i].fd);
		sb_release(&cl[i].in);
	}
	return NULL;
}

static struct srv *srv_start(void)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d/api/", s->port);
	assert_int_equal(pipe(s->wake), 0);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	if (write(s->wake[1], "x", 1) != 1)
		fail_msg("wake pipe");
	pthread_join(s->th, NULL);
	close(s->wake[0]);
	close(s->wake[1]);
	close(s->lfd);
	for (int i = 0; i < s->nrec; i++) {
		free(s->rec[i].headers);
		free(s->rec[i].body);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Set the answers, in order; the last one repeats. */
static void srv_script(struct srv *s, const struct answer *a, int n)
{
	pthread_mutex_lock(&s->mu);
	assert_true(n <= MAX_SCRIPT);
	memcpy(s->script, a, (size_t)n * sizeof(*a));
	s->nscript = n;
	s->next = 0;
	pthread_mutex_unlock(&s->mu);
}

static int srv_nrec(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nrec;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* A request header's value (caller frees), or NULL. */
static char *rec_header(const struct rec *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(r->headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			return xstrndup(v, strcspn(v, "\r\n"));
		}
	}
	return NULL;
}

static void assert_header(const struct rec *r, const char *name, const char *want)
{
	char *v = rec_header(r, name);

	if (!want) {
		if (v)
			fail_msg("unexpected header %s: %s", name, v);
		return;
	}
	if (!v)
		fail_msg("missing header %s", name);
	assert_string_equal(v, want);
	free(v);
}

/* ---- fixtures ---------------------------------------------------------------- */

struct fx {
	struct srv *srv;
	struct slack_api *api;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct slack_api_limits lim = {
		.connect_timeout_ms = 300, .call_timeout_ms = 2000, .max_retries = 3,
		.max_retry_after_ms = 2000, .deadline_ms = 8000,
	};

	metrics_reset();
	f->srv = srv_start();
	f->api = slack_api_new(f->srv->base, BOT_TOKEN, APP_TOKEN);
	assert_non_null(f->api);
	slack_api_set_limits(f->api, &lim);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	slack_api_free(f->api);
	srv_stop(f->srv);
	free(f);
	metrics_reset();
	return 0;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void assert_metric(const char *line)
{
	char *out = metrics_render();

	if (!has_line(out, line))
		fail_msg("missing metric line: %s\n%s", line, out);
	free(out);
}

#define ANSWERS(...) ((const struct answer[]){ __VA_ARGS__ }), \
	(int)(sizeof((const struct answer[]){ __VA_ARGS__ }) / sizeof(struct answer))

/* ---- slack_call ------------------------------------------------------------- */

static void call__ok_true__sends_bearer_and_json_args_and_returns_reply(void **state)
{
	struct fx *f = *state;
	json_t *args = json_pack("{s:s, s:s}", "channel", "C123", "text", "héllo \"x\"");
	json_t *resp = NULL, *sent;
	struct rec *r;

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":true,\"channel\":\"C123\",\"ts\":\"1.2\"}" }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, &resp), VIVA_OK);
	assert_non_null(resp);
	assert_string_equal(json_string_value(json_object_get(resp, "ts")), "1.2");

	assert_int_equal(srv_nrec(f->srv), 1);
	r = &f->srv->rec[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/api/chat.postMessage");
	assert_header(r, "Authorization", "Bearer " BOT_TOKEN);
	assert_header(r, "Content-Type", "application/json; charset=utf-8");
	sent = json_loadb(r->body, r->body_len, 0, NULL);
	assert_non_null(sent);
	assert_true(json_equal(sent, args));
	assert_metric("viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"200\"} 1");

	json_decref(sent);
	json_decref(resp);
	json_decref(args);
}

static void call__two_calls_on_one_thread__reuse_one_connection(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":true}" }));
	assert_int_equal(slack_call(f->api, "auth.test", NULL, &resp), VIVA_OK);
	json_decref(resp);
	assert_int_equal(slack_call(f->api, "auth.test", NULL, NULL), VIVA_OK);
	assert_int_equal(srv_nrec(f->srv), 2);
	/* NULL args are sent as an empty object */
	assert_string_equal(f->srv->rec[0].body, "{}");
	/* keep-alive through the per-thread handle */
	assert_int_equal(f->srv->rec[0].conn, f->srv->rec[1].conn);
}

static void call__ok_false__eremote_and_reply_carries_error(void **state)
{
	struct fx *f = *state;
	json_t *args = json_pack("{s:s}", "channel", "C404");
	json_t *resp = NULL;

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":false,\"error\":\"channel_not_found\"}" }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, &resp), VIVA_EREMOTE);
	assert_non_null(resp);
	assert_string_equal(slack_error(resp), "channel_not_found");
	assert_string_equal(slack_error(NULL), "unknown");
	json_decref(resp);
	json_decref(args);
}

static void call__429_retry_after_1_then_200__waits_and_succeeds(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	int64_t gap;

	srv_script(f->srv, ANSWERS(
		{ 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}" },
		{ 200, NULL, "{\"ok\":true,\"ts\":\"9.9\"}" }));
	assert_int_equal(slack_call(f->api, "chat.update", NULL, &resp), VIVA_OK);
	assert_string_equal(json_string_value(json_object_get(resp, "ts")), "9.9");
	assert_int_equal(srv_nrec(f->srv), 2);
	gap = f->srv->rec[1].t_ms - f->srv->rec[0].t_ms;
	assert_true(gap >= 950);
	assert_true(gap < 1900);
	assert_metric("viva_slack_api_calls_total{method=\"chat.update\",status=\"429\"} 1");
	assert_metric("viva_slack_api_calls_total{method=\"chat.update\",status=\"200\"} 1");
	json_decref(resp);
}

static void call__429_header_in_any_case__honoured(void **state)
{
	struct fx *f = *state;
	int64_t gap;

	/* 0 s, unlike the 1 s assumed when no Retry-After is understood */
	srv_script(f->srv, ANSWERS(
		{ 429, "rEtRy-AfTeR:   0  \r\n", "" },
		{ 200, NULL, "{\"ok\":true}" }));
	assert_int_equal(slack_call(f->api, "chat.update", NULL, NULL), VIVA_OK);
	assert_int_equal(srv_nrec(f->srv), 2);
	gap = f->srv->rec[1].t_ms - f->srv->rec[0].t_ms;
	assert_true(gap < 600);
}

static void call__429_forever__ebusy_after_max_retries_plus_one(void **state)
{
	struct fx *f = *state;
	struct slack_api_limits lim = {
		.connect_timeout_ms = 300, .call_timeout_ms = 2000, .max_retries = 2,
		.max_retry_after_ms = 50, .deadline_ms = 8000,
	};
	json_t *resp = NULL;
	int64_t t0 = now_ms_mono();

	slack_api_set_limits(f->api, &lim);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}" }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EBUSY);
	assert_int_equal(srv_nrec(f->srv), 3);
	/* each wait capped at 50 ms instead of the 1 s asked for */
	assert_true(now_ms_mono() - t0 < 900);
	assert_true(f->srv->rec[2].t_ms - f->srv->rec[0].t_ms >= 90);
	assert_metric("viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"429\"} 3");
	json_decref(resp);
}

static void call__retry_after_past_deadline__ebusy_without_waiting(void **state)
{
	struct fx *f = *state;
	struct slack_api_limits lim = {
		.connect_timeout_ms = 300, .call_timeout_ms = 2000, .max_retries = 3,
		.max_retry_after_ms = 60000, .deadline_ms = 1500,
	};
	int64_t t0 = now_ms_mono();

	slack_api_set_limits(f->api, &lim);
	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 30\r\n", "" }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, NULL), VIVA_EBUSY);
	assert_int_equal(srv_nrec(f->srv), 1);
	assert_true(now_ms_mono() - t0 < 1000);
}

static void call__server_slower_than_timeout__etimeout(void **state)
{
	struct fx *f = *state;
	struct slack_api_limits lim = {
		.connect_timeout_ms = 300, .call_timeout_ms = 300, .max_retries = 3,
		.max_retry_after_ms = 1000, .deadline_ms = 5000,
	};
	json_t *resp = (json_t *)1;
	int64_t t0 = now_ms_mono(), took;

	slack_api_set_limits(f->api, &lim);
	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":true}", 900 }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_ETIMEOUT);
	took = now_ms_mono() - t0;
	assert_null(resp);
	assert_true(took >= 250);
	assert_true(took < 800);
	assert_int_equal(srv_nrec(f->srv), 1);   /* a timeout is not retried */
	assert_metric("viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"error\"} 1");
}

static void call__connection_refused__eunavail(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct slack_api *api;
	char base[64];
	json_t *resp = NULL;
	int fd;
	(void)state;

	/* A port that was just free and has no listener. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/api", ntohs(sa.sin_port));  /* no '/': added */
	close(fd);

	api = slack_api_new(base, BOT_TOKEN, APP_TOKEN);
	assert_int_equal(slack_call(api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	assert_null(resp);
	slack_api_free(api);
}

static void call__non_json_or_5xx_or_huge_reply__eunavail(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	srv_script(f->srv, ANSWERS(
		{ 200, "Content-Type: text/html\r\n", "<html>gateway</html>" },
		{ 500, NULL, "{\"ok\":false,\"error\":\"internal_error\"}" },
		{ 200, NULL, "[1,2,3]" },
		{ 200, NULL, "{\"no_ok_field\":1}" },
		{ 200, NULL, NULL, 0, 5 * 1024 * 1024 }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	assert_null(resp);
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	json_decref(resp);
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	assert_null(resp);
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	json_decref(resp);
	assert_int_equal(slack_call(f->api, "chat.postMessage", NULL, &resp), VIVA_EUNAVAIL);
	assert_null(resp);
	assert_int_equal(srv_nrec(f->srv), 5);   /* none of these is retried */
	assert_metric("viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"500\"} 1");
}

static void call__bad_method_or_args__einval_without_request(void **state)
{
	struct fx *f = *state;
	json_t *arr = json_array();
	json_t *resp = NULL;
	struct slack_api *nobot;

	assert_int_equal(slack_call(f->api, "../admin", NULL, &resp), VIVA_EINVAL);
	assert_int_equal(slack_call(f->api, "chat.postMessage?x=1", NULL, &resp), VIVA_EINVAL);
	assert_int_equal(slack_call(f->api, NULL, NULL, &resp), VIVA_EINVAL);
	assert_int_equal(slack_call(f->api, "chat.postMessage", arr, &resp), VIVA_EINVAL);
	assert_int_equal(slack_call(NULL, "chat.postMessage", NULL, &resp), VIVA_EINVAL);
	assert_null(resp);
	nobot = slack_api_new(f->srv->base, NULL, NULL);
	assert_int_equal(slack_call(nobot, "chat.postMessage", NULL, NULL), VIVA_EINVAL);
	slack_api_free(nobot);
	assert_int_equal(srv_nrec(f->srv), 0);
	json_decref(arr);
}

/* ---- apps.connections.open ---------------------------------------------------- */

static void connections_open__app_token_and_empty_form__returns_url(void **state)
{
	struct fx *f = *state;
	char *url = NULL;
	int retry = -1;
	struct rec *r;

	srv_script(f->srv, ANSWERS({ 200, NULL,
		"{\"ok\":true,\"url\":\"wss://wss.example/link/?ticket=T-1&app_id=A1\"}" }));
	assert_int_equal(slack_connections_open(f->api, &url, &retry), VIVA_OK);
	assert_string_equal(url, "wss://wss.example/link/?ticket=T-1&app_id=A1");
	assert_int_equal(retry, 0);
	r = &f->srv->rec[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/api/apps.connections.open");
	assert_header(r, "Authorization", "Bearer " APP_TOKEN);
	assert_header(r, "Content-Type", "application/x-www-form-urlencoded");
	assert_int_equal(r->body_len, 0);
	assert_metric("viva_slack_api_calls_total{method=\"apps.connections.open\",status=\"200\"} 1");
	free(url);
}

static void connections_open__invalid_auth__eremote_and_fatal(void **state)
{
	struct fx *f = *state;
	char *url = NULL, *error = NULL;
	int retry = -1;

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":false,\"error\":\"invalid_auth\"}" }));
	assert_int_equal(slack_connections_open(f->api, &url, &retry), VIVA_EREMOTE);
	assert_null(url);
	assert_int_equal(slack_connections_open_ex(f->api, &url, &retry, &error), VIVA_EREMOTE);
	assert_null(url);
	assert_string_equal(error, "invalid_auth");
	assert_true(slack_error_is_fatal(error));
	free(error);

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":false,\"error\":\"internal_error\"}" }));
	assert_int_equal(slack_connections_open_ex(f->api, &url, &retry, &error), VIVA_EREMOTE);
	assert_string_equal(error, "internal_error");
	assert_false(slack_error_is_fatal(error));
	free(error);
}

static void connections_open__429__reports_retry_after_without_waiting(void **state)
{
	struct fx *f = *state;
	char *url = NULL, *error = NULL;
	int retry = 0;
	int64_t t0 = now_ms_mono();

	srv_script(f->srv, ANSWERS({ 429, "Retry-After: 7\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}" }));
	assert_int_equal(slack_connections_open_ex(f->api, &url, &retry, &error), VIVA_EBUSY);
	assert_null(url);
	assert_null(error);
	assert_int_equal(retry, 7);
	assert_int_equal(srv_nrec(f->srv), 1);
	assert_true(now_ms_mono() - t0 < 1000);

	/* no Retry-After: assume Tier 1's 30 s */
	srv_script(f->srv, ANSWERS({ 429, NULL, "" }));
	assert_int_equal(slack_connections_open(f->api, &url, &retry), VIVA_EBUSY);
	assert_int_equal(retry, 30);
}

static void connections_open__not_a_ws_url__eunavail(void **state)
{
	struct fx *f = *state;
	char *url = NULL;

	srv_script(f->srv, ANSWERS(
		{ 200, NULL, "{\"ok\":true,\"url\":\"http://evil.example/\"}" },
		{ 200, NULL, "{\"ok\":true}" }));
	assert_int_equal(slack_connections_open(f->api, &url, NULL), VIVA_EUNAVAIL);
	assert_null(url);
	assert_int_equal(slack_connections_open(f->api, &url, NULL), VIVA_EUNAVAIL);
	assert_null(url);
}

/* ---- response_url ------------------------------------------------------------ */

static void respond__posts_json_without_authorization__ok_on_200(void **state)
{
	struct fx *f = *state;
	json_t *msg = json_pack("{s:s, s:b}", "text", "done", "replace_original", 1);
	json_t *sent;
	char url[128];
	struct rec *r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/commands/T1/123/abc", f->srv->port);
	srv_script(f->srv, ANSWERS(
		{ 200, "Content-Type: text/plain\r\n", "ok" },
		{ 200, NULL, "{\"ok\":true}" }));
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_OK);
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_OK);
	r = &f->srv->rec[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/commands/T1/123/abc");
	assert_header(r, "Authorization", NULL);
	assert_header(r, "Content-Type", "application/json; charset=utf-8");
	sent = json_loadb(r->body, r->body_len, 0, NULL);
	assert_true(json_equal(sent, msg));
	assert_metric("viva_slack_api_calls_total{method=\"response_url\",status=\"200\"} 2");
	json_decref(sent);
	json_decref(msg);
}

static void respond__expired_or_failing__eremote_or_eunavail(void **state)
{
	struct fx *f = *state;
	json_t *msg = json_pack("{s:s}", "text", "late");
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/actions/T1/1/x", f->srv->port);
	srv_script(f->srv, ANSWERS(
		{ 404, "Content-Type: text/plain\r\n", "expired_url" },
		{ 410, "Content-Type: text/plain\r\n", "" },
		{ 500, "Content-Type: text/plain\r\n", "oops" },
		{ 400, "Content-Type: text/plain\r\n", "invalid_blocks" },
		{ 200, NULL, "{\"ok\":false,\"error\":\"no_text\"}" }));
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_EREMOTE);
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_EREMOTE);
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_EUNAVAIL);
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_EREMOTE);
	assert_int_equal(slack_respond(f->api, url, msg), VIVA_EREMOTE);
	assert_int_equal(srv_nrec(f->srv), 5);
	/* not an http(s) URL, or not a message: refused before any request */
	assert_int_equal(slack_respond(f->api, "file:///etc/passwd", msg), VIVA_EINVAL);
	assert_int_equal(slack_respond(f->api, NULL, msg), VIVA_EINVAL);
	assert_int_equal(slack_respond(f->api, url, NULL), VIVA_EINVAL);
	assert_int_equal(srv_nrec(f->srv), 5);
	json_decref(msg);
}

/* ---- small pure functions ------------------------------------------------------ */

static void error_is_fatal__auth_errors__true_others_false(void **state)
{
	static const char *fatal[] = {
		"not_authed", "invalid_auth", "account_inactive", "user_removed_from_team",
		"team_disabled", "token_revoked", "missing_args", "forbidden_team",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		assert_true(slack_error_is_fatal(fatal[i]));
	assert_false(slack_error_is_fatal("ratelimited"));
	assert_false(slack_error_is_fatal("internal_error"));
	assert_false(slack_error_is_fatal("invalid_auth_x"));
	assert_false(slack_error_is_fatal(""));
	assert_false(slack_error_is_fatal(NULL));
}

static void redact_url__ticket__hidden_rest_kept(void **state)
{
	char *s;
	(void)state;

	s = slack_redact_url("wss://wss-primary.slack.com/link/?ticket=abc-123&app_id=A1");
	assert_string_equal(s, "wss://wss-primary.slack.com/link/?ticket=REDACTED&app_id=A1");
	free(s);
	s = slack_redact_url("wss://h/link/?app_id=A1&ticket=abc&debug_reconnects=true");
	assert_string_equal(s, "wss://h/link/?app_id=A1&ticket=REDACTED&debug_reconnects=true");
	free(s);
	s = slack_redact_url("wss://h/link/?TICKET=abc#frag");
	assert_string_equal(s, "wss://h/link/?ticket=REDACTED");
	free(s);
	s = slack_redact_url("wss://h/link/");
	assert_string_equal(s, "wss://h/link/");
	free(s);
	assert_null(slack_redact_url(NULL));
}

/* ---- threads --------------------------------------------------------------------- */

#define NTHREADS 4
#define PER_THREAD 5

struct worker {
	struct slack_api *api;
	int ok;
	bool cleanup;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		json_t *args = json_pack("{s:i}", "i", i);
		json_t *resp = NULL;
		if (slack_call(w->api, "chat.postMessage", args, &resp) == VIVA_OK)
			w->ok++;
		json_decref(resp);
		json_decref(args);
	}
	/* Half the threads leave their handle to the thread-exit destructor. */
	if (w->cleanup)
		slack_api_thread_cleanup();
	return NULL;
}

static void threads__concurrent_calls__all_answered(void **state)
{
	struct fx *f = *state;
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	char line[128];

	srv_script(f->srv, ANSWERS({ 200, NULL, "{\"ok\":true}" }));
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .api = f->api, .cleanup = i % 2 == 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, PER_THREAD);
	}
	assert_int_equal(srv_nrec(f->srv), NTHREADS * PER_THREAD);
	snprintf(line, sizeof(line),
		 "viva_slack_api_calls_total{method=\"chat.postMessage\",status=\"200\"} %d",
		 NTHREADS * PER_THREAD);
	assert_metric(line);
}

/* ---- logging ------------------------------------------------------------------------ */

static void log__every_path__never_writes_a_token_or_ticket(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/viva-slack-log-XXXXXX";
	int fd = mkstemp(path);
	char *logged = NULL, *url = NULL, *error = NULL, rurl[128];
	size_t len = 0;
	json_t *args = json_pack("{s:s}", "text", "a secret-free message");
	json_t *resp = NULL;
	struct slack_api *dead;
	enum log_level old = log_get_level();

	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);

	snprintf(rurl, sizeof(rurl), "http://127.0.0.1:%d/commands/SECRETPATH", f->srv->port);
	srv_script(f->srv, ANSWERS(
		{ 200, NULL, "{\"ok\":true,\"warning\":\"missing_charset\"}" },
		{ 200, NULL, "{\"ok\":false,\"error\":\"channel_not_found\"}" },
		{ 429, "Retry-After: 0\r\n", "" },
		{ 200, NULL, "{\"ok\":true}" },
		{ 500, NULL, "" },
		{ 200, NULL, "not json" },
		{ 200, NULL, "{\"ok\":true,\"url\":\"wss://h.example/link/?ticket=SECRETTICKET&app_id=A1\"}" },
		{ 200, NULL, "{\"ok\":false,\"error\":\"invalid_auth\"}" },
		{ 404, "Content-Type: text/plain\r\n", "expired_url" }));
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, NULL), VIVA_OK);
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, &resp), VIVA_EREMOTE);
	json_decref(resp);
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, NULL), VIVA_OK);
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, NULL), VIVA_EUNAVAIL);
	assert_int_equal(slack_call(f->api, "chat.postMessage", args, NULL), VIVA_EUNAVAIL);
	assert_int_equal(slack_connections_open(f->api, &url, NULL), VIVA_OK);
	free(url);
	assert_int_equal(slack_connections_open_ex(f->api, &url, NULL, &error), VIVA_EREMOTE);
	free(error);
	assert_int_equal(slack_respond(f->api, rurl, args), VIVA_EREMOTE);
	dead = slack_api_new("http://127.0.0.1:1/api/", BOT_TOKEN, APP_TOKEN);
	assert_int_equal(slack_call(dead, "chat.postMessage", args, NULL), VIVA_EUNAVAIL);
	assert_int_equal(slack_connections_open(dead, &url, NULL), VIVA_EUNAVAIL);
	slack_api_free(dead);

	log_set_level(old);
	log_set_fd(devnull_fd >= 0 ? devnull_fd : 2);
	close(fd);
	assert_int_equal(read_file(path, &logged, &len), VIVA_OK);
	unlink(path);

	/* the paths did log ... */
	assert_non_null(strstr(logged, "msg=\"slack api error\" method=chat.postMessage error=channel_not_found"));
	assert_non_null(strstr(logged, "warning=missing_charset"));
	/* the HTTP layer's lines (bot/clients/http.c), under the client's name */
	assert_non_null(strstr(logged, "msg=\"http retry\" client=slack op=chat.postMessage method=POST reason=http_429"));
	assert_non_null(strstr(logged, "status=500"));
	assert_non_null(strstr(logged, "url=wss://h.example/link/?ticket=REDACTED&app_id=A1"));
	assert_non_null(strstr(logged, "error=invalid_auth"));
	assert_non_null(strstr(logged, "msg=\"response_url expired\" status=404 error=expired_url"));
	assert_non_null(strstr(logged, "msg=\"http request failed\" client=slack op=apps.connections.open"));
	assert_non_null(strstr(logged, "msg=\"http request\" client=slack op=response_url method=POST status=404"));
	/* ... and no secret got out */
	if (strstr(logged, "SECRET") || strstr(logged, "xoxb-") || strstr(logged, "xapp-") ||
	    strstr(logged, "secret-free"))
		fail_msg("a secret or payload was logged:\n%s", logged);
	free(logged);
	json_decref(args);
}

static int group_setup(void **state)
{
	static const char *proxies[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	};
	(void)state;

	/* Traffic stays on 127.0.0.1 whatever the environment says. */
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	/* The tests provoke errors on purpose; keep their log lines out of the report. */
	devnull_fd = open("/dev/null", O_WRONLY);
	if (devnull_fd >= 0)
		log_set_fd(devnull_fd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	slack_api_thread_cleanup();
	log_set_fd(2);
	if (devnull_fd >= 0)
		close(devnull_fd);
	return 0;
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(call__ok_true__sends_bearer_and_json_args_and_returns_reply),
		T(call__two_calls_on_one_thread__reuse_one_connection),
		T(call__ok_false__eremote_and_reply_carries_error),
		T(call__429_retry_after_1_then_200__waits_and_succeeds),
		T(call__429_header_in_any_case__honoured),
		T(call__429_forever__ebusy_after_max_retries_plus_one),
		T(call__retry_after_past_deadline__ebusy_without_waiting),
		T(call__server_slower_than_timeout__etimeout),
		cmocka_unit_test(call__connection_refused__eunavail),
		T(call__non_json_or_5xx_or_huge_reply__eunavail),
		T(call__bad_method_or_args__einval_without_request),
		T(connections_open__app_token_and_empty_form__returns_url),
		T(connections_open__invalid_auth__eremote_and_fatal),
		T(connections_open__429__reports_retry_after_without_waiting),
		T(connections_open__not_a_ws_url__eunavail),
		T(respond__posts_json_without_authorization__ok_on_200),
		T(respond__expired_or_failing__eremote_or_eunavail),
		cmocka_unit_test(error_is_fatal__auth_errors__true_others_false),
		cmocka_unit_test(redact_url__ticket__hidden_rest_kept),
		T(threads__concurrent_calls__all_answered),
		T(log__every_path__never_writes_a_token_or_ticket),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
