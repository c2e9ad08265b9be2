/*
 * Self-test of the fake Slack server (tests/fake_slack.c): starts the binary
 * as a child process and talks to it the way viva will, with libcurl for
 * HTTP and a small libwebsockets client for Socket Mode.
 *
 *   FAKE_SLACK=build/san/tests/fake_slack build/san/tests/test_fake_slack
 *
 * (the path may also be given as argv[1]). The whole run takes a few seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ACK_TIMEOUT_MS 300

static const char *fake_path = "build/san/tests/fake_slack";
static pid_t fake_pid = -1;
static int fake_port;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- HTTP (libcurl) ---------------------------------------------------- */

struct http_resp {
	long status;
	char *body;
	size_t len;
	char retry_after[32];
	json_t *json;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct http_resp *r = ud;
	size_t k = size * n;
	char *nb = realloc(r->body, r->len + k + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = '\0';
	return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct http_resp *r = ud;
	size_t k = size * n;

	if (k > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t i = 12, j = 0;

		while (i < k && p[i] == ' ')
			i++;
		while (i < k && p[i] != '\r' && p[i] != '\n' && j + 1 < sizeof(r->retry_after))
			r->retry_after[j++] = p[i++];
		r->retry_after[j] = '\0';
	}
	return k;
}

static void http_resp_release(struct http_resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/*
 * One request. body NULL = GET. auth NULL = no Authorization header.
 * ctype NULL = application/json; charset=utf-8.
 */
static void http(const char *path, const char *body, const char *auth, const char *ctype,
		 struct http_resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], hdr[256];

	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fake_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		snprintf(hdr, sizeof(hdr), "Content-Type: %s",
			 ctype ? ctype : "application/json; charset=utf-8");
		h = curl_slist_append(h, hdr);
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", auth);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r->json = r->body ? json_loads(r->body, 0, NULL) : NULL;
}

/* POST a control request; returns the parsed answer (caller decrefs). */
static json_t *ctl(const char *path, const char *body)
{
	struct http_resp r;
	json_t *j;

	http(path, body ? body : "{}", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	j = json_incref(r.json);
	http_resp_release(&r);
	return j;
}

static json_t *ctl_get(const char *path)
{
	struct http_resp r;
	json_t *j;

	http(path, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	j = json_incref(r.json);
	http_resp_release(&r);
	return j;
}

static json_int_t state_int(const char *key)
{
	json_t *s = ctl_get("/_fake/state");
	json_int_t v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* ---- Socket Mode client (libwebsockets) -------------------------------- */

struct wsc {
	struct lws_context *ctx;
	struct lws *wsi;
	bool established, closed;
	json_t *inbox;               /* received messages, oldest first */
	char *rx;
	size_t rx_len;
	char *out[16];
	int nout;
	lws_sorted_usec_list_t sul;
};

static struct wsc *cur;          /* the client the lws callback works for */

static void wsc_tick(lws_sorted_usec_list_t *sul)
{
	/* keeps lws_service() waking up so waits are bounded */
	lws_sul_schedule(cur->ctx, 0, sul, wsc_tick, 10 * LWS_US_PER_MS);
}

static int wsc_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	(void)user;
	if (!cur)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		cur->established = true;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		char *nb = realloc(cur->rx, cur->rx_len + len + 1);

		if (!nb)
			return -1;
		cur->rx = nb;
		memcpy(cur->rx + cur->rx_len, in, len);
		cur->rx_len += len;
		cur->rx[cur->rx_len] = '\0';
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			json_t *m = json_loads(cur->rx, 0, NULL);

			if (m)
				json_array_append_new(cur->inbox, m);
			cur->rx_len = 0;
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (cur->nout) {
			char *s = cur->out[0];
			size_t n = strlen(s);
			unsigned char *buf = malloc(LWS_PRE + n);
			int w;

			memcpy(buf + LWS_PRE, s, n);
			w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
			free(buf);
			free(s);
			memmove(cur->out, cur->out + 1, (size_t)(cur->nout - 1) * sizeof(cur->out[0]));
			cur->nout--;
			if (w < 0)
				return -1;
			if (cur->nout)
				lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		cur->closed = true;
		cur->wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols wsc_protocols[] = {
	{ "sm-client", wsc_cb, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Service the client for up to ms, or until stop(c) is true. */
static void wsc_pump(struct wsc *c, int ms, bool (*stop)(struct wsc *))
{
	int64_t end = now_ms() + ms;

	cur = c;
	while (now_ms() < end && !(stop && stop(c)))
		if (lws_service(c->ctx, 0) < 0)
			break;
}

static bool wsc_has_msg(struct wsc *c) { return json_array_size(c->inbox) > 0 || c->closed; }
static bool wsc_up(struct wsc *c) { return c->established || c->closed; }
static bool wsc_sent(struct wsc *c) { return c->nout == 0 || c->closed; }

/* Next received message, or NULL after timeout_ms (caller decrefs). */
static json_t *wsc_next(struct wsc *c, int timeout_ms)
{
	json_t *m;

	wsc_pump(c, timeout_ms, wsc_has_msg);
	m = json_array_get(c->inbox, 0);
	if (!m)
		return NULL;
	json_incref(m);
	json_array_remove(c->inbox, 0);
	return m;
}

static void wsc_send(struct wsc *c, const char *text)
{
	assert_true(c->nout < 16);
	c->out[c->nout++] = strdup(text);
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
	wsc_pump(c, 2000, wsc_sent);
	assert_int_equal(c->nout, 0);
}

/* Connect to a ws:// URL as apps.connections.open returned it. */
static struct wsc *wsc_open_url(const char *url)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct wsc *c = calloc(1, sizeof(*c));
	char buf[512], path[520];
	const char *prot, *addr, *p;
	int port;

	assert_non_null(c);
	c->inbox = json_array();
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = wsc_protocols;
	c->ctx = lws_create_context(&info);
	assert_non_null(c->ctx);
	cur = c;
	lws_sul_schedule(c->ctx, 0, &c->sul, wsc_tick, 10 * LWS_US_PER_MS);

	/* lws_parse_uri edits buf and drops the path's leading '/' */
	snprintf(buf, sizeof(buf), "%s", url);
	assert_int_equal(lws_parse_uri(buf, &prot, &addr, &port, &p), 0);
	assert_string_equal(prot, "ws");
	snprintf(path, sizeof(path), "/%s", p);

	memset(&ci, 0, sizeof(ci));
	ci.context = c->ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = path;
	ci.host = addr;
	ci.origin = addr;
	ci.ssl_connection = 0;
	ci.protocol = NULL;
	ci.pwsi = &c->wsi;
	lws_client_connect_via_info(&ci);
	wsc_pump(c, 3000, wsc_up);
	return c;
}

static char *connections_open_url(void)
{
	struct http_resp r;
	char *url;

	http("/api/apps.connections.open", "", "xapp-test",
	     "application/x-www-form-urlencoded", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	url = strdup(json_string_value(json_object_get(r.json, "url")));
	http_resp_release(&r);
	return url;
}

static struct wsc *wsc_open(void)
{
	char *url = connections_open_url();
	struct wsc *c = wsc_open_url(url);

	free(url);
	assert_true(c->established);
	return c;
}

static void wsc_close(struct wsc *c)
{
	if (!c)
		return;
	cur = c;
	lws_sul_cancel(&c->sul);
	lws_context_destroy(c->ctx);
	for (int i = 0; i < c->nout; i++)
		free(c->out[i]);
	json_decref(c->inbox);
	free(c->rx);
	free(c);
	cur = NULL;
}

/* Open a socket and read its hello. */
static struct wsc *wsc_open_hello(void)
{
	struct wsc *c = wsc_open();
	json_t *hello = wsc_next(c, 2000);

	assert_non_null(hello);
	assert_string_equal(json_string_value(json_object_get(hello, "type")), "hello");
	json_decref(hello);
	return c;
}

/* ---- process ----------------------------------------------------------- */

static int start_fake(void **state)
{
	int fds[2];
	char line[128];
	size_t n = 0;
	int64_t end = now_ms() + 10000;

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lws_set_log_level(LLL_ERR, NULL);
	if (pipe(fds) < 0)
		return -1;
	fake_pid = fork();
	if (fake_pid < 0)
		return -1;
	if (fake_pid == 0) {
		char *args[] = { (char *)fake_path, "--port", "0", "--ack-timeout-ms", "300",
				 "--ping-ms", "200", NULL };

		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(fake_path, args);
		_exit(127);
	}
	close(fds[1]);
	/* READY port=N */
	while (n + 1 < sizeof(line) && now_ms() < end) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		ssize_t k;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		k = read(fds[0], line + n, 1);
		if (k <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(fds[0]);
	if (sscanf(line, "READY port=%d", &fake_port) != 1 || fake_port <= 0) {
		fprintf(stderr, "fake_slack did not start (%s): got \"%s\"\n", fake_path, line);
		return -1;
	}
	return 0;
}

/* Wait for the child; returns its exit status or -1 on timeout. */
static int wait_fake(int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int st;

	while (now_ms() < end) {
		pid_t p = waitpid(fake_pid, &st, WNOHANG);

		if (p == fake_pid) {
			fake_pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	return -1;
}

static int stop_fake(void **state)
{
	(void)state;
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		if (wait_fake(5000) < 0) {
			kill(fake_pid, SIGKILL);
			wait_fake(1000);
		}
	}
	curl_global_cleanup();
	return 0;
}

static int reset(void **state)
{
	json_t *r;

	(void)state;
	r = ctl("/_fake/reset", NULL);
	json_decref(r);
	return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void fake__envelope_acked__latency_recorded(void **state)
{
	struct wsc *c;
	json_t *hello, *sent, *env, *acks, *st;
	char ack[128];
	const char *id;

	(void)state;
	c = wsc_open();
	hello = wsc_next(c, 2000);
	assert_non_null(hello);
	assert_string_equal(json_string_value(json_object_get(hello, "type")), "hello");
	assert_int_equal(json_integer_value(json_object_get(hello, "num_connections")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(hello, "connection_info"), "app_id")), "A0FAKE");
	json_decref(hello);

	sent = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"payload\":{\"text\":\"help\"}}");
	id = json_string_value(json_object_get(sent, "envelope_id"));
	assert_non_null(id);
	env = wsc_next(c, 2000);
	assert_non_null(env);
	assert_string_equal(json_string_value(json_object_get(env, "envelope_id")), id);
	assert_string_equal(json_string_value(json_object_get(env, "type")), "slash_commands");
	assert_true(json_is_true(json_object_get(env, "accepts_response_payload")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(env, "payload"),
							      "command")), "/viva");
	assert_string_equal(json_string_value(json_object_get(json_object_get(env, "payload"),
							      "text")), "help");
	assert_string_equal(json_string_value(json_object_get(json_object_get(env, "payload"),
							      "trigger_id")),
			    json_string_value(json_object_get(sent, "trigger_id")));

	snprintf(ack, sizeof(ack), "{\"envelope_id\":\"%s\"}", id);
	wsc_send(c, ack);
	wsc_pump(c, 100, NULL);

	acks = ctl_get("/_fake/acks");
	assert_int_equal(json_integer_value(json_object_get(acks, "count")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(acks, "acks"), 0), "envelope_id")), id);
	assert_true(json_integer_value(json_object_get(acks, "max_us")) > 0);
	assert_true(json_integer_value(json_object_get(acks, "p50_us")) > 0);
	st = ctl_get("/_fake/state");
	assert_int_equal(json_integer_value(json_object_get(st, "acks")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "unacked")), 0);
	assert_int_equal(json_array_size(json_object_get(st, "protocol_errors")), 0);

	/* an ack for an envelope nobody sent is a protocol error */
	wsc_send(c, "{\"envelope_id\":\"no-such-envelope\"}");
	wsc_pump(c, 100, NULL);
	assert_int_equal(state_int("protocol_error_count"), 1);

	json_decref(st);
	json_decref(acks);
	json_decref(env);
	json_decref(sent);
	wsc_close(c);
}

static void fake__post_message_51_blocks__invalid_blocks(void **state)
{
	struct http_resp r;
	json_t *body = json_pack("{s:s, s:s, s:[]}", "channel", "C0TEST", "text", "x", "blocks");
	char *s;

	(void)state;
	for (int i = 0; i < 51; i++)
		json_array_append_new(json_object_get(body, "blocks"),
			json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type", "mrkdwn",
				  "text", "row"));
	s = json_dumps(body, JSON_COMPACT);
	http("/api/chat.postMessage", s, "xoxb-test", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_false(json_is_true(json_object_get(r.json, "ok")));
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_blocks");
	assert_true(json_array_size(json_object_get(json_object_get(r.json, "response_metadata"),
						    "messages")) >= 1);
	http_resp_release(&r);

	/* 50 is the limit, not an error */
	json_array_remove(json_object_get(body, "blocks"), 0);
	free(s);
	s = json_dumps(body, JSON_COMPACT);
	http("/api/chat.postMessage", s, "xoxb-test", NULL, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	http_resp_release(&r);
	free(s);
	json_decref(body);
}

static void fake__valid_message__ok_and_update_works(void **state)
{
	struct http_resp r;
	char body[512];
	char ts[64];

	(void)state;
	http("/api/chat.postMessage",
	     "{\"channel\":\"C0TEST\",\"text\":\"fallback\",\"blocks\":["
	     "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":\"Tags\"}},"
	     "{\"type\":\"section\",\"block_id\":\"b1\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"*svc*\"},"
	     "\"accessory\":{\"type\":\"button\",\"action_id\":\"tag_promote\",\"value\":\"v1\","
	     "\"text\":{\"type\":\"plain_text\",\"text\":\"Promote\"},\"style\":\"primary\","
	     "\"confirm\":{\"title\":{\"type\":\"plain_text\",\"text\":\"Sure?\"},"
	     "\"text\":{\"type\":\"mrkdwn\",\"text\":\"Promote v1\"},"
	     "\"confirm\":{\"type\":\"plain_text\",\"text\":\"Yes\"},"
	     "\"deny\":{\"type\":\"plain_text\",\"text\":\"No\"}}}},"
	     "{\"type\":\"divider\"},"
	     "{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":\"by <@U1>\"}]}]}",
	     "xoxb-test", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	assert_string_equal(json_string_value(json_object_get(r.json, "channel")), "C0TEST");
	snprintf(ts, sizeof(ts), "%s", json_string_value(json_object_get(r.json, "ts")));
	assert_true(strchr(ts, '.') != NULL);
	http_resp_release(&r);

	snprintf(body, sizeof(body), "{\"channel\":\"C0TEST\",\"ts\":\"%s\",\"text\":\"done\"}", ts);
	http("/api/chat.update", body, "xoxb-test", NULL, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	http_resp_release(&r);

	http("/api/chat.update", "{\"channel\":\"C0TEST\",\"ts\":\"1.000001\",\"text\":\"x\"}",
	     "xoxb-test", NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "message_not_found");
	http_resp_release(&r);

	/* no text and no blocks */
	http("/api/chat.postMessage", "{\"channel\":\"C0TEST\"}", "xoxb-test", NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "no_text");
	http_resp_release(&r);
}

static void fake__button_text_76_chars__invalid_blocks(void **state)
{
	struct http_resp r;
	char text[77];
	char body[1024];
	const char *msg;

	(void)state;
	memset(text, 'a', 76);
	text[76] = '\0';
	snprintf(body, sizeof(body),
		 "{\"channel\":\"C0TEST\",\"text\":\"t\",\"blocks\":[{\"type\":\"actions\",\"elements\":["
		 "{\"type\":\"button\",\"action_id\":\"a\",\"text\":{\"type\":\"plain_text\",\"text\":\"%s\"}}]}]}",
		 text);
	http("/api/chat.postMessage", body, "xoxb-test", NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_blocks");
	msg = json_string_value(json_array_get(json_object_get(json_object_get(r.json,
		"response_metadata"), "messages"), 0));
	assert_non_null(msg);
	assert_non_null(strstr(msg, "must be less than 76 characters"));
	assert_non_null(strstr(msg, "[json-pointer:/blocks/0/elements/0/text/text]"));
	http_resp_release(&r);

	/* 75 is fine */
	text[75] = '\0';
	snprintf(body, sizeof(body),
		 "{\"channel\":\"C0TEST\",\"text\":\"t\",\"blocks\":[{\"type\":\"actions\",\"elements\":["
		 "{\"type\":\"button\",\"action_id\":\"a\",\"text\":{\"type\":\"plain_text\",\"text\":\"%s\"}}]}]}",
		 text);
	http("/api/chat.postMessage", body, "xoxb-test", NULL, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	http_resp_release(&r);
}

static void fake__bad_tokens__refused(void **state)
{
	struct http_resp r;
	const char *msg = "{\"channel\":\"C0TEST\",\"text\":\"hi\"}";

	(void)state;
	http("/api/chat.postMessage", msg, "xoxb-wrong", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_auth");
	http_resp_release(&r);

	http("/api/chat.postMessage", msg, NULL, NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "not_authed");
	http_resp_release(&r);

	/* the bot token does not open sockets */
	http("/api/apps.connections.open", "", "xoxb-test", "application/x-www-form-urlencoded", &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_auth");
	http_resp_release(&r);

	/* a token in the body is not a token */
	http("/api/chat.postMessage", "{\"token\":\"xoxb-test\",\"channel\":\"C1\",\"text\":\"x\"}",
	     NULL, NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "not_authed");
	http_resp_release(&r);
}

static void fake__ratelimit_armed__429_then_ok(void **state)
{
	struct http_resp r;
	json_t *x, *calls;
	const char *msg = "{\"channel\":\"C0TEST\",\"text\":\"hi\"}";

	(void)state;
	x = ctl("/_fake/ratelimit", "{\"method\":\"chat.postMessage\",\"count\":1,\"retry_after\":2}");
	json_decref(x);
	http("/api/chat.postMessage", msg, "xoxb-test", NULL, &r);
	assert_int_equal(r.status, 429);
	assert_string_equal(r.retry_after, "2");
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "ratelimited");
	http_resp_release(&r);

	http("/api/chat.postMessage", msg, "xoxb-test", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	http_resp_release(&r);

	calls = ctl_get("/_fake/calls?method=chat.postMessage");
	assert_int_equal(json_array_size(json_object_get(calls, "calls")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(calls, "calls"), 0), "status")), 429);
	json_decref(calls);
}

static void fake__unacked_slash__operation_timeout(void **state)
{
	struct wsc *c = wsc_open_hello();
	json_t *sent, *env;
	int64_t end;

	(void)state;
	sent = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"payload\":{\"text\":\"status a\"}}");
	env = wsc_next(c, 2000);
	assert_non_null(env);
	assert_int_equal(state_int("operation_timeouts"), 0);
	/* no ack: after --ack-timeout-ms the user would see operation_timeout */
	end = now_ms() + 3000;
	while (now_ms() < end && state_int("operation_timeouts") < 1)
		wsc_pump(c, 50, NULL);
	assert_int_equal(state_int("operation_timeouts"), 1);
	assert_int_equal(state_int("unacked"), 0);
	/* commands are never re-sent */
	json_decref(env);
	env = wsc_next(c, ACK_TIMEOUT_MS);
	if (env)
		assert_string_not_equal(json_string_value(json_object_get(env, "type")),
					"slash_commands");
	/* the fake pings every 200 ms and the client answers */
	assert_true(state_int("pongs") >= 1);
	json_decref(env);
	json_decref(sent);
	wsc_close(c);
}

static void fake__unacked_event__redelivered_with_retry_attempt(void **state)
{
	struct wsc *c = wsc_open_hello();
	json_t *sent, *e1, *e2;
	char ack[128];

	(void)state;
	sent = ctl("/_fake/send", "{\"type\":\"events_api\",\"payload\":{\"type\":\"app_mention\","
				  "\"text\":\"hi\",\"user\":\"U1\",\"channel\":\"C1\"}}");
	e1 = wsc_next(c, 2000);
	assert_non_null(e1);
	assert_string_equal(json_string_value(json_object_get(e1, "type")), "events_api");
	assert_false(json_is_true(json_object_get(e1, "accepts_response_payload")));
	assert_int_equal(json_integer_value(json_object_get(e1, "retry_attempt")), 0);
	assert_string_equal(json_string_value(json_object_get(e1, "retry_reason")), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
		e1, "payload"), "event"), "type")), "app_mention");

	/* no ack: the same event comes back in a new envelope */
	e2 = wsc_next(c, 3000);
	assert_non_null(e2);
	assert_string_equal(json_string_value(json_object_get(e2, "type")), "events_api");
	assert_string_not_equal(json_string_value(json_object_get(e2, "envelope_id")),
				json_string_value(json_object_get(e1, "envelope_id")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(e2, "payload"),
							      "event_id")),
			    json_string_value(json_object_get(sent, "event_id")));
	assert_int_equal(json_integer_value(json_object_get(e2, "retry_attempt")), 1);
	assert_string_equal(json_string_value(json_object_get(e2, "retry_reason")), "timeout");

	snprintf(ack, sizeof(ack), "{\"envelope_id\":\"%s\"}",
		 json_string_value(json_object_get(e2, "envelope_id")));
	wsc_send(c, ack);
	wsc_pump(c, 100, NULL);
	assert_int_equal(state_int("redeliveries"), 1);
	assert_int_equal(state_int("acks"), 1);
	assert_int_equal(state_int("unacked"), 0);
	json_decref(e2);
	json_decref(e1);
	json_decref(sent);
	wsc_close(c);
}

static void fake__ticket_reused__upgrade_refused(void **state)
{
	char *url = connections_open_url();
	struct wsc *a, *b;

	(void)state;
	a = wsc_open_url(url);
	assert_true(a->established);
	b = wsc_open_url(url);
	assert_false(b->established);
	assert_int_equal(state_int("rejected_upgrades"), 1);
	wsc_close(b);
	wsc_close(a);
	free(url);
}

static void fake__trigger_and_response_url__single_use_limits(void **state)
{
	struct http_resp r;
	json_t *sent;
	char body[1024], path[256];
	const char *url;

	(void)state;
	/* queued without a socket: the ids are issued at once */
	sent = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"payload\":{\"text\":\"pipeline create\"}}");
	snprintf(body, sizeof(body),
		 "{\"trigger_id\":\"%s\",\"view\":{\"type\":\"modal\",\"callback_id\":\"pipeline_create\","
		 "\"title\":{\"type\":\"plain_text\",\"text\":\"New pipeline\"},"
		 "\"submit\":{\"type\":\"plain_text\",\"text\":\"Create\"},"
		 "\"blocks\":[{\"type\":\"input\",\"block_id\":\"name\",\"label\":{\"type\":\"plain_text\","
		 "\"text\":\"Service\"},\"element\":{\"type\":\"plain_text_input\",\"action_id\":\"v\"}}]}}",
		 json_string_value(json_object_get(sent, "trigger_id")));
	http("/api/views.open", body, "xoxb-test", NULL, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	assert_non_null(json_string_value(json_object_get(json_object_get(r.json, "view"), "id")));
	assert_non_null(json_string_value(json_object_get(json_object_get(r.json, "view"), "hash")));
	http_resp_release(&r);
	http("/api/views.open", body, "xoxb-test", NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "exchanged_trigger_id");
	http_resp_release(&r);

	url = json_string_value(json_object_get(sent, "response_url"));
	assert_non_null(url);
	assert_non_null(strstr(url, "/response/"));
	snprintf(path, sizeof(path), "%s", strstr(url, "/response/"));
	for (int i = 0; i < 5; i++) {
		http(path, "{\"text\":\"working\",\"response_type\":\"ephemeral\"}", NULL, NULL, &r);
		assert_int_equal(r.status, 200);
		http_resp_release(&r);
	}
	http(path, "{\"text\":\"sixth\"}", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "used_too_many_times");
	http_resp_release(&r);
	json_decref(sent);
}

/* Ack every envelope in c's inbox (and what arrives within ms); returns how many. */
static int ack_all(struct wsc *c, int ms)
{
	int64_t end = now_ms() + ms;
	int n = 0;
	json_t *m;
	char ack[128];

	while (now_ms() < end && (m = wsc_next(c, (int)(end - now_ms()))) != NULL) {
		const char *id = json_string_value(json_object_get(m, "envelope_id"));

		if (id) {
			snprintf(ack, sizeof(ack), "{\"envelope_id\":\"%s\"}", id);
			wsc_send(c, ack);
			n++;
		}
		json_decref(m);
	}
	return n;
}

static void fake__refresh_requested__new_envelopes_avoid_old_socket(void **state)
{
	struct wsc *a = wsc_open_hello(), *b = wsc_open_hello();
	json_t *x, *m;
	int64_t end;

	(void)state;
	x = ctl("/_fake/disconnect", "{\"reason\":\"refresh_requested\",\"which\":\"oldest\","
				     "\"grace_ms\":300}");
	assert_int_equal(json_integer_value(json_object_get(x, "count")), 1);
	json_decref(x);
	m = wsc_next(a, 1000);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "disconnect");
	assert_string_equal(json_string_value(json_object_get(m, "reason")), "refresh_requested");
	json_decref(m);

	for (int i = 0; i < 4; i++) {
		x = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"payload\":{\"text\":\"help\"}}");
		json_decref(x);
	}
	assert_int_equal(ack_all(b, 500), 4);
	/* the old socket got nothing new, and is closed after the grace */
	end = now_ms() + 2000;
	while (now_ms() < end && !a->closed)
		wsc_pump(a, 50, NULL);
	assert_true(a->closed);
	assert_int_equal(json_array_size(a->inbox), 0);
	assert_int_equal(state_int("acks"), 4);
	assert_int_equal(state_int("connections"), 1);
	wsc_close(a);
	wsc_close(b);
}

static void fake__eleventh_socket__too_many_websockets(void **state)
{
	struct wsc *c[11];
	json_t *m;
	int64_t end;

	(void)state;
	for (int i = 0; i < 10; i++)
		c[i] = wsc_open_hello();
	c[10] = wsc_open();
	m = wsc_next(c[10], 1000);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "disconnect");
	assert_string_equal(json_string_value(json_object_get(m, "reason")), "too_many_websockets");
	json_decref(m);
	end = now_ms() + 2000;
	while (now_ms() < end && !c[10]->closed)
		wsc_pump(c[10], 50, NULL);
	assert_true(c[10]->closed);
	assert_int_equal(state_int("connections"), 10);
	for (int i = 0; i < 11; i++)
		wsc_close(c[i]);
}

static void fake__flood__every_envelope_acked(void **state)
{
	struct wsc *c = wsc_open_hello();
	json_t *x, *acks;
	int n = 0;
	int64_t t0 = now_ms(), end = t0 + 5000;

	(void)state;
	x = ctl("/_fake/flood", "{\"count\":200,\"rate\":1000,\"payload\":{\"text\":\"status a\"}}");
	json_decref(x);
	while (n < 200 && now_ms() < end)
		n += ack_all(c, 50);
	assert_int_equal(n, 200);
	/* 200 at 1000/s take about 200 ms: a timer, not a burst */
	assert_true(now_ms() - t0 >= 150);
	wsc_pump(c, 50, NULL);
	acks = ctl_get("/_fake/acks");
	assert_int_equal(json_integer_value(json_object_get(acks, "count")), 200);
	assert_true(json_integer_value(json_object_get(acks, "p99_us")) >=
		    json_integer_value(json_object_get(acks, "p50_us")));
	assert_int_equal(state_int("envelopes_sent"), 200);
	assert_int_equal(state_int("operation_timeouts"), 0);
	json_decref(acks);
	wsc_close(c);
}

static void fake__twice_and_oversized_ack(void **state)
{
	struct wsc *c = wsc_open_hello();
	json_t *x, *m1, *m2;
	char *big;
	size_t n = 21 * 1024;
	int64_t end;

	(void)state;
	x = ctl("/_fake/send", "{\"type\":\"interactive\",\"twice\":true,\"envelope_id\":\"env-twice-1\","
			       "\"payload\":{\"type\":\"block_actions\",\"actions\":[{\"action_id\":\"rollback\","
			       "\"block_id\":\"b\",\"type\":\"button\",\"value\":\"svc\"}]}}");
	json_decref(x);
	m1 = wsc_next(c, 1000);
	m2 = wsc_next(c, 1000);
	assert_non_null(m1);
	assert_non_null(m2);
	assert_string_equal(json_string_value(json_object_get(m1, "envelope_id")), "env-twice-1");
	assert_string_equal(json_string_value(json_object_get(m2, "envelope_id")), "env-twice-1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m1, "payload"),
							      "type")), "block_actions");
	wsc_send(c, "{\"envelope_id\":\"env-twice-1\"}");
	wsc_send(c, "{\"envelope_id\":\"env-twice-1\"}");
	wsc_pump(c, 100, NULL);
	assert_int_equal(state_int("acks"), 2);
	assert_int_equal(state_int("protocol_error_count"), 0);
	json_decref(m1);
	json_decref(m2);

	/* an ack of 20 KB or more is dropped, so the command times out */
	x = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"envelope_id\":\"env-big-1\"}");
	json_decref(x);
	m1 = wsc_next(c, 1000);
	assert_non_null(m1);
	big = malloc(n + 100);
	assert_non_null(big);
	n = (size_t)snprintf(big, 100, "{\"envelope_id\":\"env-big-1\",\"payload\":{\"text\":\"");
	memset(big + n, 'x', 21 * 1024);
	strcpy(big + n + 21 * 1024, "\"}}");
	wsc_send(c, big);
	free(big);
	end = now_ms() + 2000;
	while (now_ms() < end && state_int("operation_timeouts") < 1)
		wsc_pump(c, 50, NULL);
	assert_int_equal(state_int("dropped_acks"), 1);
	assert_int_equal(state_int("operation_timeouts"), 1);
	json_decref(m1);
	wsc_close(c);
}

static void fake__drop_then_pending__delivered_on_reconnect(void **state)
{
	struct wsc *c = wsc_open_hello();
	json_t *x, *m, *acks;
	int64_t end;

	(void)state;
	x = ctl("/_fake/drop", NULL);
	assert_int_equal(json_integer_value(json_object_get(x, "count")), 1);
	json_decref(x);
	end = now_ms() + 2000;
	while (now_ms() < end && !c->closed)
		wsc_pump(c, 50, NULL);
	assert_true(c->closed);
	/* an abrupt end: no disconnect message came first */
	assert_int_equal(json_array_size(c->inbox), 0);
	wsc_close(c);

	x = ctl("/_fake/send", "{\"type\":\"slash_commands\",\"envelope_id\":\"env-pending-1\"}");
	json_decref(x);
	assert_int_equal(state_int("pending"), 1);
	usleep(50 * 1000);
	c = wsc_open_hello();
	m = wsc_next(c, 1000);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "envelope_id")), "env-pending-1");
	wsc_send(c, "{\"envelope_id\":\"env-pending-1\"}");
	wsc_pump(c, 100, NULL);
	acks = ctl_get("/_fake/acks");
	assert_true(json_integer_value(json_object_get(json_array_get(
		json_object_get(acks, "acks"), 0), "waited_us")) >= 50 * 1000);
	json_decref(acks);
	json_decref(m);
	wsc_close(c);
}

/* ---- external file upload ---------------------------------------------- */

#define FORM "application/x-www-form-urlencoded"

/* Step 1 by hand: the upload URL's path (caller frees) and the file id. */
static char *upload_url(const char *form, char *file_id, size_t idlen)
{
	struct http_resp r;
	const char *u;
	char *path;

	http("/api/files.getUploadURLExternal", form, "xoxb-test", FORM, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	u = json_string_value(json_object_get(r.json, "upload_url"));
	assert_non_null(u);
	assert_non_null(strstr(u, "/upload/v1/"));
	/* the URL's secret is not the file id */
	assert_null(strstr(u, json_string_value(json_object_get(r.json, "file_id"))));
	snprintf(file_id, idlen, "%s", json_string_value(json_object_get(r.json, "file_id")));
	path = strdup(strstr(u, "/upload/v1/"));
	http_resp_release(&r);
	return path;
}

static const char *error_of(const char *method, const char *body, const char *ctype)
{
	static char err[64];
	struct http_resp r;
	char path[128];

	snprintf(path, sizeof(path), "/api/%s", method);
	http(path, body, "xoxb-test", ctype, &r);
	assert_int_equal(r.status, 200);
	snprintf(err, sizeof(err), "%s", json_is_true(json_object_get(r.json, "ok")) ? "ok" :
		 json_string_value(json_object_get(r.json, "error")));
	http_resp_release(&r);
	return err;
}

static void fake__get_upload_url__form_only_and_arguments_checked(void **state)
{
	json_t *x;

	(void)state;
	/* JSON is not read: its fields are missing, and the fake says why */
	assert_string_equal(error_of("files.getUploadURLExternal", "{\"filename\":\"a.png\",\"length\":5}", NULL),
			    "invalid_arguments");
	assert_int_equal(state_int("protocol_error_count"), 1);
	assert_string_equal(error_of("files.getUploadURLExternal", "length=5", FORM), "invalid_arguments");
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.png", FORM), "invalid_arguments");
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.png&length=-3", FORM),
			    "invalid_arguments");
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.png&length=0", FORM),
			    "missing_argument");
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.txt&length=2000000&snippet_type=text",
				     FORM), "snippet_too_large");
	x = ctl("/_fake/config", "{\"max_upload_bytes\":10}");
	json_decref(x);
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.png&length=11", FORM),
			    "file_upload_size_restricted");
	x = ctl("/_fake/config", "{\"file_uploads_disabled\":true}");
	json_decref(x);
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a.png&length=5", FORM),
			    "file_uploads_disabled");
	x = ctl("/_fake/reset", NULL);
	json_decref(x);
	assert_string_equal(error_of("files.getUploadURLExternal", "filename=a%20b.png&length=5", FORM), "ok");
}

static void fake__upload_url__exact_length_once_and_no_token_needed(void **state)
{
	char id[32], *path;
	struct http_resp r;
	json_t *files, *f;

	(void)state;
	path = upload_url("filename=chart.png&length=5", id, sizeof(id));
	/* complete before the bytes: not there yet */
	{
		char form[160];
		snprintf(form, sizeof(form), "channel_id=C0TEST&files=%%5B%%7B%%22id%%22%%3A%%22%s%%22%%7D%%5D", id);
		assert_string_equal(error_of("files.completeUploadExternal", form, FORM), "file_not_found");
	}
	http(path, "1234", NULL, "application/octet-stream", &r);
	assert_int_equal(r.status, 400);                 /* 4 bytes, 5 announced */
	http_resp_release(&r);
	http(path, "123456", NULL, "application/octet-stream", &r);
	assert_int_equal(r.status, 400);
	http_resp_release(&r);
	http(path, "12345", NULL, "application/octet-stream", &r);
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	http(path, "12345", NULL, "application/octet-stream", &r);
	assert_int_equal(r.status, 404);                 /* used */
	http_resp_release(&r);
	http("/upload/v1/0123456789abcdef0123456789abcdef", "12345", NULL, "application/octet-stream", &r);
	assert_int_equal(r.status, 404);                 /* never issued */
	http_resp_release(&r);

	files = ctl_get("/_fake/files");
	f = json_array_get(json_object_get(files, "files"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "id")), id);
	assert_true(json_is_true(json_object_get(f, "uploaded")));
	assert_false(json_is_true(json_object_get(f, "completed")));
	assert_int_equal(json_integer_value(json_object_get(f, "bytes")), 5);
	json_decref(files);
	/* protocol errors so far: complete before upload, two wrong lengths */
	assert_int_equal(state_int("protocol_error_count"), 3);
	free(path);
}

static void fake__upload_multipart__file_part_counted(void **state)
{
	char id[32], *path;
	struct http_resp r;
	json_t *files;
	const char *body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
			   "Content-Type: image/png\r\n\r\nhello\r\n--XyZ--\r\n";

	(void)state;
	path = upload_url("filename=a.png&length=5", id, sizeof(id));
	http(path, body, NULL, "multipart/form-data; boundary=XyZ", &r);
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	files = ctl_get("/_fake/files");
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(files, "files"), 0), "multipart")));
	json_decref(files);
	free(path);
	path = upload_url("filename=a.png&length=5", id, sizeof(id));
	http(path, "--XyZ\r\nno end", NULL, "multipart/form-data; boundary=XyZ", &r);
	assert_int_equal(r.status, 400);
	http_resp_release(&r);
	free(path);
}

static void fake__complete__channel_required_existing_and_once(void **state)
{
	char id[32], *path, form[200], ok_form[320];
	struct http_resp r;
	json_t *x, *files, *f;

	(void)state;
	path = upload_url("filename=chart.png&length=3", id, sizeof(id));
	http(path, "abc", "xoxb-test", "application/octet-stream", &r);   /* a token sent: noted */
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	assert_int_equal(state_int("protocol_error_count"), 1);

	snprintf(form, sizeof(form), "files=%%5B%%7B%%22id%%22%%3A%%22%s%%22%%2C%%22title%%22%%3A%%22Chart%%22%%7D%%5D", id);
	assert_string_equal(error_of("files.completeUploadExternal", form, FORM), "invalid_arguments");
	snprintf(ok_form, sizeof(ok_form), "%s&channel_id=C0NOPE", form);
	x = ctl("/_fake/channel", "{\"id\":\"C0NOPE\",\"exists\":false}");
	json_decref(x);
	assert_string_equal(error_of("files.completeUploadExternal", ok_form, FORM), "channel_not_found");
	x = ctl("/_fake/channel", "{\"id\":\"C0OUT\",\"member\":false}");
	json_decref(x);
	snprintf(ok_form, sizeof(ok_form), "%s&channel_id=C0OUT", form);
	assert_string_equal(error_of("files.completeUploadExternal", ok_form, FORM), "not_in_channel");
	/* the same as JSON is not read */
	snprintf(ok_form, sizeof(ok_form), "{\"channel_id\":\"C0TEST\",\"files\":[{\"id\":\"%s\"}]}", id);
	assert_string_equal(error_of("files.completeUploadExternal", ok_form, NULL), "invalid_arguments");
	/* a refused call shared nothing */
	files = ctl_get("/_fake/files");
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(files, "files"), 0), "completed")));
	json_decref(files);

	snprintf(ok_form, sizeof(ok_form), "%s&channel_id=C0TEST&initial_comment=Traffic%%20%%2A7d%%2A", form);
	http("/api/files.completeUploadExternal", ok_form, "xoxb-test", FORM, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "files"), 0),
							      "id")), id);
	http_resp_release(&r);
	assert_string_equal(error_of("files.completeUploadExternal", ok_form, FORM), "file_not_found");  /* twice */

	files = ctl_get("/_fake/files");
	f = json_array_get(json_object_get(files, "files"), 0);
	assert_true(json_is_true(json_object_get(f, "completed")));
	assert_string_equal(json_string_value(json_object_get(f, "channel_id")), "C0TEST");
	assert_string_equal(json_string_value(json_object_get(f, "title")), "Chart");
	assert_string_equal(json_string_value(json_object_get(f, "initial_comment")), "Traffic *7d*");
	json_decref(files);
	{
		char url[128];
		snprintf(url, sizeof(url), "/_fake/file?id=%s", id);
		http(url, NULL, NULL, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, 3);
		assert_memory_equal(r.body, "abc", 3);
		http_resp_release(&r);
	}
	x = ctl("/_fake/reset", NULL);
	json_decref(x);
	files = ctl_get("/_fake/files");
	assert_int_equal(json_array_size(json_object_get(files, "files")), 0);
	json_decref(files);
	free(path);
}

static void fake__sigterm__exits_zero_without_leaks(void **state)
{
	(void)state;
	assert_true(fake_pid > 0);
	kill(fake_pid, SIGTERM);
	/* the sanitized build makes a leak a non-zero exit */
	assert_int_equal(wait_fake(5000), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(fake__envelope_acked__latency_recorded, reset),
		cmocka_unit_test_setup(fake__post_message_51_blocks__invalid_blocks, reset),
		cmocka_unit_test_setup(fake__valid_message__ok_and_update_works, reset),
		cmocka_unit_test_setup(fake__button_text_76_chars__invalid_blocks, reset),
		cmocka_unit_test_setup(fake__bad_tokens__refused, reset),
		cmocka_unit_test_setup(fake__ratelimit_armed__429_then_ok, reset),
		cmocka_unit_test_setup(fake__unacked_slash__operation_timeout, reset),
		cmocka_unit_test_setup(fake__unacked_event__redelivered_with_retry_attempt, reset),
		cmocka_unit_test_setup(fake__ticket_reused__upgrade_refused, reset),
		cmocka_unit_test_setup(fake__trigger_and_response_url__single_use_limits, reset),
		cmocka_unit_test_setup(fake__refresh_requested__new_envelopes_avoid_old_socket, reset),
		cmocka_unit_test_setup(fake__eleventh_socket__too_many_websockets, reset),
		cmocka_unit_test_setup(fake__flood__every_envelope_acked, reset),
		cmocka_unit_test_setup(fake__twice_and_oversized_ack, reset),
		cmocka_unit_test_setup(fake__drop_then_pending__delivered_on_reconnect, reset),
		cmocka_unit_test_setup(fake__get_upload_url__form_only_and_arguments_checked, reset),
		cmocka_unit_test_setup(fake__upload_url__exact_length_once_and_no_token_needed, reset),
		cmocka_unit_test_setup(fake__upload_multipart__file_part_counted, reset),
		cmocka_unit_test_setup(fake__complete__channel_required_existing_and_once, reset),
		cmocka_unit_test(fake__sigterm__exits_zero_without_leaks),
	};

	if (getenv("FAKE_SLACK") && *getenv("FAKE_SLACK"))
		fake_path = getenv("FAKE_SLACK");
	if (argc > 1)
		fake_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, start_fake, stop_fake);
}
