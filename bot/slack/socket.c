/*
 * Slack Socket Mode links (see socket.h). Everything here but
 * connector_main() runs on the event loop thread.
 */
#include "bot/slack/socket.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"
#include "bot/metrics.h"
#include "bot/slack/api.h"
#include "bot/slack/envscan.h"

#include <libwebsockets.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_CONNS        4          /* live + retiring; Slack allows 10 */
#define RX_MAX           (1 << 20)  /* one envelope, reassembled */
#define RETIRE_GRACE_MS  5000       /* keep reading an old socket after the new hello */
#define RETIRE_MAX_MS    30000      /* ...and close it anyway after this */
#define BACKOFF_CAP_MS   30000

struct sm_conn {
	struct sm *m;
	struct lws *wsi;
	unsigned id;
	bool hello;
	bool retiring;          /* told to disconnect; a new link takes over */
	bool closing;           /* we are closing it */
	int64_t retire_at_ms;
	struct strbuf rx;
	char **outq;            /* frames waiting for WRITEABLE */
	size_t nout;
};

struct sm {
	struct lws_context *lws;
	struct slack_api *api;
	struct sm_hooks hooks;
	void *user;
	struct lws_vhost *vh_client;    /* ws:// links: no TLS */
	struct lws_vhost *vh_tls;       /* wss:// links; made at the first one */
	struct sm_conn *conns[MAX_CONNS];
	unsigned next_conn_id;

	/* the connector thread and what it hands over (under mu) */
	pthread_t connector;
	bool connector_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool want_url;
	bool have_result;
	int result_rc;
	char *result_url;
	char *result_addr;              /* resolved numeric address */
	int retry_after_s;
	char result_error[64];
	SSL_CTX *tls_ctx;               /* vh_tls's, ours to free (lws does not) */

	/* loop state */
	bool fetching;                  /* a URL request is with the connector */
	int failures;
	int64_t next_connect_ms;        /* 0 = none scheduled */
	atomic_bool stopping;           /* read by the connector thread too */
	bool fatal;
};

int64_t sm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connector thread: apps.connections.open, DNS, TLS, off the loop ---- */

static char *resolve(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char buf[64];
	char *out = NULL;

	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return NULL;
	if (getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof(buf), NULL, 0, NI_NUMERICHOST) == 0)
		out = xstrdup(buf);
	freeaddrinfo(res);
	return out;
}

/* Make the client SSL_CTX once, on the connector thread (m->mu guards it). */
static bool tls_ready(struct sm *m)
{
	SSL_CTX *ctx;
	bool have;

	pthread_mutex_lock(&m->mu);
	have = m->tls_ctx != NULL;
	pthread_mutex_unlock(&m->mu);
	if (have)
		return true;
	ctx = tls_client_ctx_new();
	if (!ctx)
		return false;
	pthread_mutex_lock(&m->mu);
	if (!m->tls_ctx)
		m->tls_ctx = ctx;
	else
		SSL_CTX_free(ctx);
	pthread_mutex_unlock(&m->mu);
	return true;
}

static void *connector_main(void *arg)
{
	struct sm *m = arg;

	for (;;) {
		char *url = NULL, *addr = NULL, *error = NULL;
		int retry_after = 0, rc;

		pthread_mutex_lock(&m->mu);
		while (!m->want_url && !m->stopping)
			pthread_cond_wait(&m->cv, &m->mu);
		if (m->stopping) {
			pthread_mutex_unlock(&m->mu);
			return NULL;
		}
		m->want_url = false;
		pthread_mutex_unlock(&m->mu);

		rc = slack_connections_open_ex(m->api, &url, &retry_after, &error);
		if (rc == VIVA_EREMOTE && error && slack_error_is_fatal(error))
			rc = VIVA_EAUTH;
		if (rc == VIVA_OK) {
			/* lws resolves on the loop (no async DNS in this build): do it here. */
			char *tmp = xstrdup(url);
			const char *prot, *host, *path;
			int port;
			if (lws_parse_uri(tmp, &prot, &host, &port, &path) == 0) {
				addr = resolve(host);
				/* The TLS context reads CA files: here, not on the loop. */
				if (addr && strcmp(prot, "wss") == 0 && !tls_ready(m)) {
					log_warn("cannot set up TLS for the socket mode link", "err=tls");
					rc = VIVA_EUNAVAIL;
				}
			}
			free(tmp);
			if (!addr) {
				log_warn("cannot resolve the socket mode host", "err=dns");
				rc = VIVA_EUNAVAIL;
			}
		}
		pthread_mutex_lock(&m->mu);
		m->have_result = true;
		m->result_rc = rc;
		free(m->result_url);
		free(m->result_addr);
		m->result_url = rc == VIVA_OK ? url : NULL;
		m->result_addr = rc == VIVA_OK ? addr : NULL;
		if (rc != VIVA_OK) {
			free(url);
			free(addr);
		}
		m->retry_after_s = retry_after;
		snprintf(m->result_error, sizeof(m->result_error), "%s", error ? error : "");
		pthread_mutex_unlock(&m->mu);
		free(error);
		lws_cancel_service(m->lws);
	}
}

/* ---- links ------------------------------------------------------------------ */

static int live_conns(struct sm *m, bool count_retiring)
{
	int n = 0;

	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i] && !m->conns[i]->closing && (count_retiring || !m->conns[i]->retiring))
			n++;
	return n;
}

static bool any_hello(struct sm *m)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i] && m->conns[i]->hello && !m->conns[i]->closing)
			return true;
	return false;
}

static void update_health(struct sm *m)
{
	bool up = any_hello(m);

	metrics_connected(up ? 1 : 0);
	if (m->hooks.health)
		m->hooks.health(m->user, up,
				up ? "connected to Slack" :
				m->stopping ? "shutting down" :
				m->failures ? "reconnecting to Slack" : "connecting to Slack");
}

static void request_url(struct sm *m)
{
	if (m->fetching || m->stopping)
		return;
	m->fetching = true;
	m->next_connect_ms = 0;
	pthread_mutex_lock(&m->mu);
	m->want_url = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* Exponential backoff with jitter, capped: never a tight loop. */
static void schedule_reconnect(struct sm *m, int min_ms)
{
	int64_t base = 500;
	int64_t ms;

	if (m->stopping || m->next_connect_ms || m->fetching)
		return;
	for (int i = 1; i < m->failures && base < BACKOFF_CAP_MS; i++)
		base *= 2;
	if (base > BACKOFF_CAP_MS)
		base = BACKOFF_CAP_MS;
	ms = base / 2 + (int64_t)(rand() % (int)(base / 2 + 1));
	if (ms < min_ms)
		ms = min_ms;
	m->next_connect_ms = now_ms_mono() + ms;
	log_info("reconnect scheduled", "in_ms=%lld failures=%d", (long long)ms, m->failures);
}

static void conn_free(struct sm_conn *c)
{
	for (size_t i = 0; i < c->nout; i++)
		free(c->outq[i]);
	free(c->outq);
	sb_release(&c->rx);
	free(c);
}

static void conn_gone(struct sm_conn *c, const char *why)
{
	struct sm *m = c->m;
	bool was_main = !c->retiring && !c->closing;

	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i] == c)
			m->conns[i] = NULL;
	log_info("socket closed", "conn=%u why=\"%s\" hello=%d", c->id, why, c->hello);
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL);
	conn_free(c);
	update_health(m);
	if (m->stopping)
		return;
	if (was_main && live_conns(m, false) == 0) {
		m->failures++;
		metrics_reconnect();
		schedule_reconnect(m, 0);
	}
}

static const struct lws_protocols client_protocols[];

/*
 * The TLS client vhost, made at the first wss:// link and kept. Not at
 * start: a client SSL_CTX as lws builds it loads the whole system CA bundle
 * (~1.4 MB resident), which a ws:// run (tests, the benchmark) never uses.
 * The connector thread makes the SSL_CTX (bot/clients/tls.c: CAs read
 * from the hashed directory on demand; reading files is not the loop's
 * job) and we lend it to lws with provided_client_ssl_ctx; lws 4.1.6 then
 * marks it user-supplied and never frees it (lib/tls/tls-client.c,
 * lib/tls/openssl/openssl-ssl.c), and still checks the host name on every
 * connection (X509_VERIFY_PARAM_set1_host in openssl-client.c). The vhost
 * needs DO_SSL_GLOBAL_INIT in its own options, or lws ignores the context.
 */
static struct lws_vhost *tls_vhost(struct sm *m)
{
	struct lws_context_creation_info info;
	SSL_CTX *ctx;

	if (m->vh_tls)
		return m->vh_tls;
	/* made by the connector thread before it handed over a wss:// URL */
	pthread_mutex_lock(&m->mu);
	ctx = m->tls_ctx;
	pthread_mutex_unlock(&m->mu);
	if (!ctx)
		return NULL;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.vhost_name = "slack-tls";
	info.provided_client_ssl_ctx = ctx;
	info.user = m;
	m->vh_tls = lws_create_vhost(m->lws, &info);
	if (!m->vh_tls)
		log_error("cannot set up the TLS client (libwebsockets vhost)", "vhost=%s", info.vhost_name);
	else
		log_info("tls client ready", "ca_file=%s ca_dir=%s",
			 tls_ca_file() ? tls_ca_file() : "none", tls_ca_dir());
	return m->vh_tls;
}

static int connect_ws(struct sm *m, const char *url, const char *addr)
{
	struct lws_client_connect_info ci;
	static const uint32_t retry_table[] = { 1000 };
	static const lws_retry_bo_t idle = {
		.retry_ms_table = retry_table,
		.retry_ms_table_count = 1,
		.secs_since_valid_ping = 10,    /* ping when quiet this long */
		.secs_since_valid_hangup = 30,  /* dead after this (as Slack's SDKs) */
	};
	char *buf = xstrdup(url), *path = NULL;
	const char *prot, *host, *p;
	int port, slot = -1, rc = VIVA_OK;
	struct sm_conn *c;

	for (int i = 0; i < MAX_CONNS; i++)
		if (!m->conns[i]) {
			slot = i;
			break;
		}
	if (slot < 0 || lws_parse_uri(buf, &prot, &host, &port, &p)) {
		log_warn("cannot open another socket", "slot=%d", slot);
		rc = VIVA_EINVAL;
		goto out;
	}
	if (strcmp(prot, "wss") == 0 && !tls_vhost(m)) {
		rc = VIVA_EUNAVAIL;   /* logged; the reconnect back-off tries again */
		goto out;
	}
	path = xasprintf("/%s", p);
	c = xcalloc(1, sizeof(*c));
	c->m = m;
	c->id = ++m->next_conn_id;
	sb_init(&c->rx);
	memset(&ci, 0, sizeof(ci));
	ci.context = m->lws;
	ci.vhost = strcmp(prot, "wss") == 0 ? m->vh_tls : m->vh_client;
	ci.address = addr;
	ci.host = host;
	ci.origin = "https://api.slack.com";
	ci.port = port;
	ci.path = path;
	ci.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
	ci.protocol = NULL;
	ci.local_protocol_name = "slack-socket";
	ci.ietf_version_or_minus_one = -1;
	ci.opaque_user_data = c;
	ci.retry_and_idle_policy = &idle;
	ci.pwsi = &c->wsi;
	m->conns[slot] = c;
	log_info("socket connecting", "conn=%u host=%s", c->id, host);
	if (!lws_client_connect_via_info(&ci)) {
		/* CONNECTION_ERROR may already have freed c through conn_gone. */
		for (int i = 0; i < MAX_CONNS; i++)
			if (m->conns[i] == c) {
				m->conns[i] = NULL;
				conn_free(c);
			}
		rc = VIVA_EUNAVAIL;
	}
out:
	free(path);
	free(buf);
	return rc;
}

/* Write one text frame now if the socket takes it, else queue it. */
static void conn_send(struct sm_conn *c, const char *text, size_t n)
{
	unsigned char *buf;

	if (!c->wsi || c->closing)
		return;
	if (c->nout == 0 && !lws_send_pipe_choked(c->wsi)) {
		unsigned char small[LWS_PRE + 256];

		/* acks fit on the stack: the loop's hot path makes no malloc */
		buf = n <= sizeof(small) - LWS_PRE ? small : xmalloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, text, n);
		/* One unfragmented frame: Slack does not reassemble continuations. */
		if (lws_write(c->wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
			log_warn("socket write failed", "conn=%u", c->id);
		if (buf != small)
			free(buf);
		return;
	}
	c->outq = xrealloc(c->outq, (c->nout + 1) * sizeof(*c->outq));
	c->outq[c->nout++] = xstrndup(text, n);
	lws_callback_on_writable(c->wsi);
}

unsigned sm_conn_id(const struct sm_conn *c)
{
	return c->id;
}

struct sm_conn *sm_conn_by_id(struct sm *m, unsigned id)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i] && m->conns[i]->id == id)
			return m->conns[i];
	return NULL;
}

void sm_ack(struct sm_conn *c, const char *envelope_id, json_t *payload, int64_t t0)
{
	json_t *ack = json_pack("{s:s}", "envelope_id", envelope_id);
	char *text;

	if (payload)
		json_object_set(ack, "payload", payload);
	text = json_dumps(ack, JSON_COMPACT);
	if (strlen(text) >= 20000) {
		/* Slack silently drops acks of 20 KB or more. */
		log_warn("ack payload too large; sent without it", "envelope_id=%s", envelope_id);
		free(text);
		json_object_del(ack, "payload");
		text = json_dumps(ack, JSON_COMPACT);
	}
	conn_send(c, text, strlen(text));
	if (t0)
		metrics_ack(sm_now_us() - t0);
	free(text);
	json_decref(ack);
}

void sm_ack_id(struct sm_conn *c, const char *id, int64_t t0)
{
	char text[sizeof(((struct envelope_head *)0)->envelope_id) + 32];
	int n = snprintf(text, sizeof(text), "{\"envelope_id\":\"%s\"}", id);

	conn_send(c, text, (size_t)n);
	metrics_ack(sm_now_us() - t0);
}

/* ---- control frames ------------------------------------------------------------ */

static void close_conn(struct sm_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void on_hello(struct sm_conn *c, json_t *msg)
{
	struct sm *m = c->m;
	json_t *dbg = json_object_get(msg, "debug_info");

	c->hello = true;
	m->failures = 0;
	log_info("socket mode connected", "conn=%u num_connections=%lld approximate_connection_time=%lld",
		 c->id, (long long)json_integer_value(json_object_get(msg, "num_connections")),
		 (long long)json_integer_value(json_object_get(dbg, "approximate_connection_time")));
	/* The new link is up: old ones may still carry envelopes for a moment. */
	for (int i = 0; i < MAX_CONNS; i++) {
		struct sm_conn *o = m->conns[i];
		if (o && o != c && o->retiring && o->retire_at_ms > now_ms_mono() + RETIRE_GRACE_MS)
			o->retire_at_ms = now_ms_mono() + RETIRE_GRACE_MS;
	}
	update_health(m);
}

static void on_disconnect(struct sm_conn *c, json_t *msg)
{
	struct sm *m = c->m;
	const char *reason = json_string_value(json_object_get(msg, "reason"));

	if (!reason)
		reason = "(none)";
	log_info("slack asked to disconnect", "conn=%u reason=%s", c->id, reason);
	if (strcmp(reason, "link_disabled") == 0) {
		fprintf(stderr, "viva: Slack disabled Socket Mode for this app (link_disabled): "
			"turn it on in the app settings, then start viva again\n");
		m->fatal = true;
		m->stopping = true;
		return;
	}
	if (strcmp(reason, "too_many_websockets") == 0) {
		/* Close first, then reconnect after a backoff. */
		close_conn(c);
		m->failures++;
		schedule_reconnect(m, 1000);
		return;
	}
	/* refresh_requested, warning, anything else: new link first, then close. */
	if (!c->retiring) {
		c->retiring = true;
		c->retire_at_ms = now_ms_mono() + RETIRE_MAX_MS;
		request_url(m);
	}
}

void sm_control(struct sm_conn *c, json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));

	if (type && strcmp(type, "hello") == 0)
		on_hello(c, msg);
	else if (type && strcmp(type, "disconnect") == 0)
		on_disconnect(c, msg);
	else
		log_info("frame ignored", "conn=%u type=%s", c->id, type ? type : "(none)");
}

/* ---- libwebsockets ---------------------------------------------------------------- */

static int cb_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct sm_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c)
			log_info("socket open", "conn=%u", c->id);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int64_t t0 = sm_now_us();
		if (!c)
			break;
		if (c->rx.len + len > RX_MAX) {
			log_warn("frame too large; dropping the connection", "conn=%u", c->id);
			return -1;
		}
		sb_add(&c->rx, in, len);
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			c->m->hooks.frame(c->m->user, c, c->rx.buf, c->rx.len, t0);
			c->rx.len = 0;
			c->rx.buf[0] = '\0';
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c)
			break;
		while (c->nout > 0 && !lws_send_pipe_choked(wsi)) {
			char *f = c->outq[0];
			size_t n = strlen(f);
			unsigned char *buf = xmalloc(LWS_PRE + n);
			memcpy(buf + LWS_PRE, f, n);
			lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
			free(buf);
			free(f);
			memmove(c->outq, c->outq + 1, (c->nout - 1) * sizeof(*c->outq));
			c->nout--;
		}
		if (c->nout > 0) {
			lws_callback_on_writable(wsi);
			break;
		}
		if (c->closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c)
			conn_gone(c, in ? (const char *)in : "connection error");
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c)
			conn_gone(c, "closed");
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
		/* Another thread has news (connector result, view answer, signal). */
		struct sm *m = wsi ? lws_get_vhost_user(lws_get_vhost(wsi)) : NULL;
		if (m && m->hooks.wake)
			m->hooks.wake(m->user);
		break;
	}
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {
	{ "slack-socket", cb_socket, 0, 64 * 1024, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- the loop's turn ------------------------------------------------------------- */

void sm_poll(struct sm *m)
{
	bool have;
	int rc = VIVA_OK, retry_after = 0;
	char error[64] = "";
	char *url = NULL, *addr = NULL;
	int64_t now = now_ms_mono();

	pthread_mutex_lock(&m->mu);
	have = m->have_result;
	if (have) {
		m->have_result = false;
		rc = m->result_rc;
		url = m->result_url;
		addr = m->result_addr;
		m->result_url = m->result_addr = NULL;
		retry_after = m->retry_after_s;
		snprintf(error, sizeof(error), "%s", m->result_error);
	}
	pthread_mutex_unlock(&m->mu);
	if (have) {
		m->fetching = false;
		if (rc == VIVA_OK) {
			if (connect_ws(m, url, addr) != VIVA_OK) {
				m->failures++;
				schedule_reconnect(m, 0);
			}
		} else if (rc == VIVA_EAUTH) {
			fprintf(stderr, "viva: Slack refused SLACK_APP_TOKEN (apps.connections.open: %s): "
				"check the app-level token and its connections:write scope\n", error);
			m->fatal = true;
			m->stopping = true;
		} else {
			m->failures++;
			schedule_reconnect(m, retry_after * 1000);
		}
		free(url);
		free(addr);
	}
	if (m->stopping)
		return;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct sm_conn *c = m->conns[i];
		if (c && c->retiring && !c->closing && now >= c->retire_at_ms) {
			log_info("closing the old socket", "conn=%u", c->id);
			close_conn(c);
		}
	}
	if (m->next_connect_ms && now >= m->next_connect_ms)
		request_url(m);
}

void sm_connect(struct sm *m)
{
	update_health(m);
	request_url(m);
}

void sm_close_all(struct sm *m)
{
	m->stopping = true;
	pthread_mutex_lock(&m->mu);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i])
			close_conn(m->conns[i]);
	update_health(m);
}

bool sm_any_open(const struct sm *m)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i])
			return true;
	return false;
}

bool sm_fatal(const struct sm *m)
{
	return m->fatal;
}

int sm_new(struct lws_context *lws, struct slack_api *api, const struct sm_hooks *hooks, void *user,
	   struct sm **out)
{
	struct lws_context_creation_info info;
	pthread_mutexattr_t ma;
	struct sm *m = xcalloc(1, sizeof(*m));

	*out = NULL;
	m->lws = lws;
	m->api = api;
	m->hooks = *hooks;
	m->user = user;
	/* the SCHED_FIFO loop and the connector share it: the connector
	 * holding it runs at the loop's priority until it lets go */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&m->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&m->cv, NULL);
	/* Without DO_SSL_GLOBAL_INIT in its options the vhost gets no client
	 * SSL_CTX: ws:// only. wss:// goes through tls_vhost(). */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.vhost_name = "slack";
	info.user = m;
	m->vh_client = lws_create_vhost(lws, &info);
	if (!m->vh_client) {
		fprintf(stderr, "viva: cannot set up the Slack client (libwebsockets)\n");
		goto fail;
	}
	if (pthread_create(&m->connector, NULL, connector_main, m) != 0) {
		fprintf(stderr, "viva: cannot start the Socket Mode connector thread\n");
		goto fail;
	}
	m->connector_started = true;
	*out = m;
	return VIVA_OK;
fail:
	sm_shutdown(m);
	sm_free(m);
	return VIVA_EIO;
}

void sm_shutdown(struct sm *m)
{
	if (!m)
		return;
	if (m->connector_started) {
		pthread_mutex_lock(&m->mu);
		m->stopping = true;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->connector, NULL);
		m->connector_started = false;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (m->conns[i]) {
			if (m->conns[i]->wsi)
				lws_set_opaque_user_data(m->conns[i]->wsi, NULL);
			conn_free(m->conns[i]);
			m->conns[i] = NULL;
		}
}

void sm_free(struct sm *m)
{
	if (!m)
		return;
	/* After the vhost that borrowed it is gone (lws never frees it). */
	SSL_CTX_free(m->tls_ctx);
	free(m->result_url);
	free(m->result_addr);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}
