/*
 * `viva serve`: the event loop thread owns the Slack Socket Mode
 * connection(s) and the HTTP endpoint. It parses each envelope,
 * acknowledges it at once (Slack gives 3 s, and the user sees an error when
 * we are late), and queues a job; worker threads do the work. Nothing on
 * this thread blocks or reads a file: apps.connections.open, DNS and the TLS
 * context (CA files) are the connector thread's, de-duplication runs on the
 * worker, a SIGHUP reload is a job, and answers that must go in an ack
 * (view_submission errors) come back through a mutex-guarded outbox.
 */
#include "bot/serve.h"
#include "bot/model/config.h"
#include "bot/slack/envscan.h"
#include "bot/lib/err.h"
#include "bot/httpd.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/queue.h"
#include "bot/reload.h"
#include "bot/runtime.h"
#include "bot/sched_thread.h"
#include "bot/slack/api.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/thread.h"
#include "bot/lib/times.h"

#include <libwebsockets.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS        4          /* live + retiring; Slack allows 10 */
#define RX_MAX           (1 << 20)  /* one envelope, reassembled */
#define TICK_US          (100 * 1000)
#define RETIRE_GRACE_MS  5000       /* keep reading an old socket after the new hello */
#define RETIRE_MAX_MS    30000      /* ...and close it anyway after this */
#define VIEW_ACK_MS      2500       /* answer a view_submission within Slack's 3 s */
#define BACKOFF_CAP_MS   30000
#define CLOSE_WAIT_MS    1500       /* Slack may never answer our close frame */
#define DRAIN_MS         25000      /* running jobs get this long at shutdown */
#define BUSY_NOTIFIERS   4          /* threads telling users "busy", at most */
#define LOOP_NICE        (-5)
#define LOOP_SLICE_US    100
#define LOOP_RT_PRIO     1

struct serve;

struct conn {
	struct serve *s;
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

struct view_ack {
	unsigned conn_id;
	uint64_t token;         /* the job that answers it */
	char *envelope_id;
	int64_t deadline_ms;
	bool done;              /* the worker answered */
	json_t *payload;        /* its answer (NULL: empty ack) */
};

struct serve {
	struct viva_env *env;
	struct lws_context *lws;
	struct lws_vhost *vh_client;    /* ws:// links: no TLS */
	struct lws_vhost *vh_tls;       /* wss:// links; made at the first one */
	SSL_CTX *tls_ctx;               /* vh_tls's, ours to free (lws does not) */
	struct http_server *http;
	struct conn *conns[MAX_CONNS];
	struct queue *q;
	unsigned next_conn_id;
	uint64_t next_token;            /* view_submission jobs */
	lws_sorted_usec_list_t sul_tick;

	/* connector thread */
	pthread_t connector;
	bool connector_started;
	pthread_mutex_t mu;             /* guards the fields down to view_acks */
	pthread_cond_t cv;
	bool want_url;
	bool have_result;
	int result_rc;
	char *result_url;
	char *result_addr;              /* resolved numeric address */
	int retry_after_s;
	char result_error[64];
	struct view_ack *view_acks;
	size_t nview_acks;

	/* loop state */
	bool fetching;                  /* a URL request is with the connector */
	int failures;
	int64_t next_connect_ms;        /* 0 = none scheduled */
	atomic_bool stopping;           /* read by the connector thread too */
	int64_t stop_deadline_ms;
	bool done;
	int exit_code;
	atomic_int busy_notifiers;
	struct job reload_job;          /* SIGHUP's, one at a time */
	atomic_bool reload_busy;
};

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;
static struct lws_context *signal_ctx;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connector thread: apps.connections.open and DNS, off the loop ----- */

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

/* Make the client SSL_CTX once, on the connector thread (s->mu guards it). */
static bool tls_ready(struct serve *s)
{
	SSL_CTX *ctx;
	bool have;

	pthread_mutex_lock(&s->mu);
	have = s->tls_ctx != NULL;
	pthread_mutex_unlock(&s->mu);
	if (have)
		return true;
	ctx = tls_client_ctx_new();
	if (!ctx)
		return false;
	pthread_mutex_lock(&s->mu);
	if (!s->tls_ctx)
		s->tls_ctx = ctx;
	else
		SSL_CTX_free(ctx);
	pthread_mutex_unlock(&s->mu);
	return true;
}

static void *connector_main(void *arg)
{
	struct serve *s = arg;

	for (;;) {
		char *url = NULL, *addr = NULL, *error = NULL;
		int retry_after = 0, rc;

		pthread_mutex_lock(&s->mu);
		while (!s->want_url && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		s->want_url = false;
		pthread_mutex_unlock(&s->mu);

		rc = slack_connections_open_ex(s->env->slack, &url, &retry_after, &error);
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
				if (addr && strcmp(prot, "wss") == 0 && !tls_ready(s)) {
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
		pthread_mutex_lock(&s->mu);
		s->have_result = true;
		s->result_rc = rc;
		free(s->result_url);
		free(s->result_addr);
		s->result_url = rc == VIVA_OK ? url : NULL;
		s->result_addr = rc == VIVA_OK ? addr : NULL;
		if (rc != VIVA_OK) {
			free(url);
			free(addr);
		}
		s->retry_after_s = retry_after;
		snprintf(s->result_error, sizeof(s->result_error), "%s", error ? error : "");
		pthread_mutex_unlock(&s->mu);
		free(error);
		lws_cancel_service(s->lws);
	}
}

/* ---- connections --------------------------------------------------------- */

static int live_conns(struct serve *s, bool count_retiring)
{
	int n = 0;
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i] && !s->conns[i]->closing && (count_retiring || !s->conns[i]->retiring))
			n++;
	return n;
}

static bool any_hello(struct serve *s)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i] && s->conns[i]->hello && !s->conns[i]->closing)
			return true;
	return false;
}

static void update_health(struct serve *s)
{
	bool up = any_hello(s);

	metrics_connected(up ? 1 : 0);
	if (s->http)
		http_server_set_health(s->http, up,
				       up ? "connected to Slack" :
				       s->stopping ? "shutting down" :
				       s->failures ? "reconnecting to Slack" : "connecting to Slack");
}

static void request_url(struct serve *s)
{
	if (s->fetching || s->stopping)
		return;
	s->fetching = true;
	s->next_connect_ms = 0;
	pthread_mutex_lock(&s->mu);
	s->want_url = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Exponential backoff with jitter, capped: never a tight loop. */
static void schedule_reconnect(struct serve *s, int min_ms)
{
	int64_t base = 500;
	int64_t ms;

	if (s->stopping || s->next_connect_ms || s->fetching)
		return;
	for (int i = 1; i < s->failures && base < BACKOFF_CAP_MS; i++)
		base *= 2;
	if (base > BACKOFF_CAP_MS)
		base = BACKOFF_CAP_MS;
	ms = base / 2 + (int64_t)(rand() % (int)(base / 2 + 1));
	if (ms < min_ms)
		ms = min_ms;
	s->next_connect_ms = now_ms_mono() + ms;
	log_info("reconnect scheduled", "in_ms=%lld failures=%d", (long long)ms, s->failures);
}

static void conn_free(struct conn *c)
{
	for (size_t i = 0; i < c->nout; i++)
		free(c->outq[i]);
	free(c->outq);
	sb_release(&c->rx);
	free(c);
}

static void conn_gone(struct conn *c, const char *why)
{
	struct serve *s = c->s;
	bool was_main = !c->retiring && !c->closing;

	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	log_info("socket closed", "conn=%u why=\"%s\" hello=%d", c->id, why, c->hello);
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL);
	conn_free(c);
	update_health(s);
	if (s->stopping)
		return;
	if (was_main && live_conns(s, false) == 0) {
		s->failures++;
		metrics_reconnect();
		schedule_reconnect(s, 0);
	}
}

static struct lws_vhost *tls_vhost(struct serve *s);

static int connect_ws(struct serve *s, const char *url, const char *addr)
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
	struct conn *c;

	for (int i = 0; i < MAX_CONNS; i++)
		if (!s->conns[i]) {
			slot = i;
			break;
		}
	if (slot < 0 || lws_parse_uri(buf, &prot, &host, &port, &p)) {
		log_warn("cannot open another socket", "slot=%d", slot);
		rc = VIVA_EINVAL;
		goto out;
	}
	if (strcmp(prot, "wss") == 0 && !tls_vhost(s)) {
		rc = VIVA_EUNAVAIL;   /* logged; the reconnect back-off tries again */
		goto out;
	}
	path = xasprintf("/%s", p);
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->id = ++s->next_conn_id;
	sb_init(&c->rx);
	memset(&ci, 0, sizeof(ci));
	ci.context = s->lws;
	ci.vhost = strcmp(prot, "wss") == 0 ? s->vh_tls : s->vh_client;
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
	s->conns[slot] = c;
	log_info("socket connecting", "conn=%u host=%s", c->id, host);
	if (!lws_client_connect_via_info(&ci)) {
		/* CONNECTION_ERROR may already have freed c through conn_gone. */
		for (int i = 0; i < MAX_CONNS; i++)
			if (s->conns[i] == c) {
				s->conns[i] = NULL;
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
static void conn_send(struct conn *c, const char *text, size_t n)
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

static struct conn *conn_by_id(struct serve *s, unsigned id)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i] && s->conns[i]->id == id)
			return s->conns[i];
	return NULL;
}

static void send_ack(struct conn *c, const char *envelope_id, json_t *payload, int64_t t0)
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
		metrics_ack(now_us() - t0);
	free(text);
	json_decref(ack);
}

/* An empty ack, built on the stack: id is printable ASCII without quotes or
 * backslashes (envelope_scan keeps no other), so it needs no escaping. */
static void send_ack_id(struct conn *c, const char *id, int64_t t0)
{
	char text[sizeof(((struct envelope_head *)0)->envelope_id) + 32];
	int n = snprintf(text, sizeof(text), "{\"envelope_id\":\"%s\"}", id);

	conn_send(c, text, (size_t)n);
	metrics_ack(now_us() - t0);
}

/* ---- jobs ------------------------------------------------------------------ */

/*
 * A queued envelope. On the common path (a frame that fits a pool slot,
 * fewer than JOB_SLOTS in flight) the loop fills it without a single malloc
 * (a slot from the job pool below, the frame copied in, ids picked out by
 * envelope_scan) and the worker parses the frame: glibc's arenas are
 * shared by the loop and the workers, and a worker preempted while holding
 * an arena lock stalled the loop for milliseconds (seen with perf's
 * sched_switch call graphs: malloc -> __lll_lock_wait_private under
 * on_message).
 */
struct env_job {
	struct job job;         /* the queue keeps a pointer to it */
	struct serve *s;
	char envelope_id[128];
	char type[32];
	json_t *payload;        /* NULL until the worker parses text */
	bool view_ack;          /* its answer goes in the ack */
	uint64_t token;         /* matches its struct view_ack */
	int slot;               /* in the job pool, or -1: malloc'd */
	size_t len;
	char text[];            /* the frame (NUL-terminated), when payload is NULL */
};

/*
 * Fixed-size slots, taken only by the loop and given back by any worker:
 * a bitmap the loop sets and workers clear (atomically), so neither side
 * ever waits. The memory is reserved at start and touched as slots are
 * first used. Frames that do not fit, or a full pool, fall back to malloc.
 */
#define JOB_SLOT_SIZE   4096
#define JOB_SLOTS       256
#define JOB_POOL_WORDS  (JOB_SLOTS / 64)

static unsigned char *job_pool;
static atomic_uint_fast64_t job_pool_used[JOB_POOL_WORDS];

/* Under AddressSanitizer a free slot is poisoned, so a job used after it was
 * dropped is caught as it would be with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLOT_POISON(p)   ASAN_POISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#define SLOT_UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#else
#define SLOT_POISON(p)   ((void)(p))
#define SLOT_UNPOISON(p) ((void)(p))
#endif

static struct env_job *job_alloc(struct serve *s, size_t text_len)
{
	size_t need = sizeof(struct env_job) + text_len + 1;
	struct env_job *j = NULL;
	int slot = -1;

	if (job_pool && need <= JOB_SLOT_SIZE)
		for (int w = 0; w < JOB_POOL_WORDS && slot < 0; w++) {
			uint_fast64_t used = atomic_load(&job_pool_used[w]);
			if (~used == 0)
				continue;
			int b = __builtin_ctzll((unsigned long long)~used);
			atomic_fetch_or(&job_pool_used[w], (uint_fast64_t)1 << b);
			slot = w * 64 + b;
		}
	if (slot >= 0) {
		j = (struct env_job *)(job_pool + (size_t)slot * JOB_SLOT_SIZE);
		SLOT_UNPOISON(j);
		memset(j, 0, sizeof(*j));
	} else {
		j = xcalloc(1, need);
	}
	j->s = s;
	j->slot = slot;
	j->len = text_len;
	return j;
}

static void env_job_drop(void *arg)
{
	struct env_job *j = arg;
	int slot = j->slot;

	json_decref(j->payload);
	if (slot < 0) {
		free(j);
		return;
	}
	SLOT_POISON(j);   /* before the slot can be handed out again */
	atomic_fetch_and(&job_pool_used[slot / 64], ~((uint_fast64_t)1 << (slot % 64)));
}

static long debug_delay_ms(void)
{
	/* Simulates slow jobs for tests and the benchmark; off by default. */
	const char *v = getenv("VIVA_DEBUG_JOB_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	return ms > 0 && ms < 60000 ? ms : 0;
}

static void env_job_run(void *arg)
{
	struct env_job *j = arg;
	struct serve *s = j->s;
	json_t *ackp = NULL;
	long delay = debug_delay_ms();
	int rc;

	if (delay) {
		struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (!j->payload) {
		json_error_t jerr;
		json_t *msg = json_loadb(j->text, j->len, 0, &jerr);
		bool parsed = msg != NULL;

		j->payload = json_incref(json_object_get(msg, "payload"));
		json_decref(msg);
		if (!json_is_object(j->payload)) {
			/* acked already; should not happen: the scanner only passes
			 * frames jansson reads (tests/envscan_check.h checks it) */
			log_warn("envelope not parseable; dropped", "envelope_id=%s type=%s err=\"%s\"",
				 j->envelope_id, j->type, parsed ? "payload is not an object" : jerr.text);
			metrics_job_done("failed");
			env_job_drop(j);
			return;
		}
	}
	rc = runtime_run_envelope(s->env, j->envelope_id, j->type, j->payload, j->view_ack ? &ackp : NULL);
	metrics_job_done(rc == VIVA_OK || rc == VIVA_EDUP ? "ok" : "failed");
	/* A duplicate delivery answers nothing: its twin holds the real answer,
	 * and the deadline acks this copy. */
	if (j->view_ack && rc != VIVA_EDUP) {
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->nview_acks; i++)
			if (s->view_acks[i].token == j->token && !s->view_acks[i].done) {
				s->view_acks[i].done = true;
				s->view_acks[i].payload = ackp;
				ackp = NULL;
			}
		pthread_mutex_unlock(&s->mu);
		json_decref(ackp);  /* too late: the fallback ack went already */
		lws_cancel_service(s->lws);
	}
	env_job_drop(j);
}

struct busy_note {
	struct serve *s;
	json_t *payload;
};

static void *busy_main(void *arg)
{
	struct busy_note *b = arg;

	thread_sched_default();   /* the loop's nice, if any, was inherited */
	runtime_tell_busy(b->s->env, b->payload);
	atomic_fetch_sub(&b->s->busy_notifiers, 1);
	json_decref(b->payload);
	free(b);
	return NULL;
}

/* The queue is full: say so through response_url, off the loop, bounded. */
static void tell_busy(struct serve *s, json_t *payload)
{
	struct busy_note *b;
	pthread_t t;

	if (atomic_fetch_add(&s->busy_notifiers, 1) >= BUSY_NOTIFIERS) {
		atomic_fetch_sub(&s->busy_notifiers, 1);
		log_warn("busy and cannot even say so", "notifiers=%d", BUSY_NOTIFIERS);
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->payload = json_incref(payload);
	if (thread_create_normal(&t, true, busy_main, b) != 0) {
		atomic_fetch_sub(&s->busy_notifiers, 1);
		json_decref(b->payload);
		free(b);
		return;
	}
}

/*
 * The loop acks; it should run the moment a frame arrives, not after a busy
 * thread's slice. realtime: SCHED_FIFO (the loop never spins; what it does
 * per frame is bounded), which needs CAP_SYS_NICE. normal, or realtime
 * refused: a short EEVDF slice (Linux >= 6.12) and nice -5 where permitted.
 * Called after the connector and scheduler threads are started; threads the
 * loop starts later (workers, busy notes) are created SCHED_OTHER and go
 * back to the base nice themselves.
 */
static void apply_loop_priority(const char *want)
{
	if (want && strcmp(want, "realtime") == 0) {
		if (thread_sched_realtime(LOOP_RT_PRIO) == 0) {
			log_info("event loop scheduling", "policy=SCHED_FIFO priority=%d", LOOP_RT_PRIO);
			return;
		}
		log_warn("loop_priority realtime refused; running at normal priority",
			 "errno=%d hint=\"needs CAP_SYS_NICE\"", errno);
	}
	if (thread_sched_latency(LOOP_SLICE_US, LOOP_NICE) != 0)
		log_debug("event loop scheduling hint refused", "errno=%d", errno);
}

/* ---- messages from Slack ---------------------------------------------------- */

static void on_hello(struct conn *c, json_t *msg)
{
	struct serve *s = c->s;
	json_t *dbg = json_object_get(msg, "debug_info");

	c->hello = true;
	s->failures = 0;
	log_info("socket mode connected", "conn=%u num_connections=%lld approximate_connection_time=%lld",
		 c->id, (long long)json_integer_value(json_object_get(msg, "num_connections")),
		 (long long)json_integer_value(json_object_get(dbg, "approximate_connection_time")));
	/* The new link is up: old ones may still carry envelopes for a moment. */
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *o = s->conns[i];
		if (o && o != c && o->retiring && o->retire_at_ms > now_ms_mono() + RETIRE_GRACE_MS)
			o->retire_at_ms = now_ms_mono() + RETIRE_GRACE_MS;
	}
	update_health(s);
}

static void close_conn(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void on_disconnect(struct conn *c, json_t *msg)
{
	struct serve *s = c->s;
	const char *reason = json_string_value(json_object_get(msg, "reason"));

	if (!reason)
		reason = "(none)";
	log_info("slack asked to disconnect", "conn=%u reason=%s", c->id, reason);
	if (strcmp(reason, "link_disabled") == 0) {
		fprintf(stderr, "viva: Slack disabled Socket Mode for this app (link_disabled): "
			"turn it on in the app settings, then start viva again\n");
		s->exit_code = 1;
		s->stopping = true;
		return;
	}
	if (strcmp(reason, "too_many_websockets") == 0) {
		/* Close first, then reconnect after a backoff. */
		close_conn(c);
		s->failures++;
		schedule_reconnect(s, 1000);
		return;
	}
	/* refresh_requested, warning, anything else: new link first, then close. */
	if (!c->retiring) {
		c->retiring = true;
		c->retire_at_ms = now_ms_mono() + RETIRE_MAX_MS;
		request_url(s);
	}
}

static void on_message_full(struct conn *c, const char *text, size_t len, int64_t t0);

static void on_envelope(struct conn *c, json_t *msg, int64_t t0)
{
	struct serve *s = c->s;
	const char *id = json_string_value(json_object_get(msg, "envelope_id"));
	const char *type = json_string_value(json_object_get(msg, "type"));
	json_t *payload = json_object_get(msg, "payload");
	const char *ptype = json_string_value(json_object_get(payload, "type"));
	struct env_job *j;
	bool view_ack, spawn = false;
	int rc;

	if (!type)
		type = "unknown";
	metrics_envelope(type);
	if (strcmp(type, "slash_commands") && strcmp(type, "interactive") && strcmp(type, "events_api")) {
		/* Ack what we do not understand, so Slack does not retry it. */
		send_ack(c, id, NULL, t0);
		log_info("envelope of unknown type acked", "type=%s", type);
		return;
	}
	if (!json_is_object(payload)) {
		send_ack(c, id, NULL, t0);
		log_warn("envelope without a payload object", "type=%s envelope_id=%s", type, id);
		return;
	}
	view_ack = strcmp(type, "interactive") == 0 && ptype && strcmp(ptype, "view_submission") == 0;
	if (strlen(id) >= sizeof(j->envelope_id)) {
		/* Slack's ids are UUIDs: ack it (or Slack re-sends it), run nothing */
		send_ack(c, id, NULL, t0);
		log_warn("envelope id too long; acked, not run", "bytes=%zu type=%s", strlen(id), type);
		return;
	}
	j = job_alloc(s, 0);
	snprintf(j->envelope_id, sizeof(j->envelope_id), "%s", id);
	snprintf(j->type, sizeof(j->type), "%s", type);
	j->payload = json_incref(payload);
	j->view_ack = view_ack;
	if (view_ack) {
		struct view_ack va = { .conn_id = c->id, .envelope_id = xstrdup(id),
				       .deadline_ms = t0 / 1000 + VIEW_ACK_MS, .token = ++s->next_token };
		j->token = va.token;
		pthread_mutex_lock(&s->mu);
		s->view_acks = xrealloc(s->view_acks, (s->nview_acks + 1) * sizeof(*s->view_acks));
		s->view_acks[s->nview_acks++] = va;
		pthread_mutex_unlock(&s->mu);
	}
	j->job.run = env_job_run;
	j->job.drop = env_job_drop;
	j->job.arg = j;
	rc = queue_push_later(s->q, &j->job, &spawn);
	if (rc != VIVA_OK) {
		json_t *busy = NULL;
		metrics_job_done("rejected");
		log_warn("queue full; envelope refused", "type=%s envelope_id=%s", type, id);
		if (strcmp(type, "slash_commands") == 0)
			busy = json_pack("{s:s}", "text", ":hourglass: viva is busy right now; "
					 "please try again in a minute.");
		else if (strcmp(type, "interactive") == 0)
			tell_busy(s, payload);
		if (view_ack) {
			pthread_mutex_lock(&s->mu);
			s->view_acks[s->nview_acks - 1].done = true;
			s->view_acks[s->nview_acks - 1].payload = json_pack(
				"{s:s, s:{s:s, s:{s:s, s:s}, s:[{s:s, s:{s:s, s:s}}]}}",
				"response_action", "update", "view", "type", "modal", "title",
				"type", "plain_text", "text", "viva is busy", "blocks", "type", "section",
				"text", "type", "mrkdwn", "text", "viva is busy right now; please submit again in a minute.");
			pthread_mutex_unlock(&s->mu);
			lws_cancel_service(s->lws);
		} else {
			send_ack(c, id, busy, t0);
		}
		json_decref(busy);
		env_job_drop(j);
		return;
	}
	if (!view_ack)
		send_ack(c, id, NULL, t0);
	if (spawn)
		queue_spawn_worker(s->q);   /* after the ack, as on the fast path */
}

/*
 * The common case, without a JSON tree or a malloc (see struct env_job):
 * copy the frame into a pooled job, queue it, ack it. Anything unusual (a
 * full queue, a view_submission whose answer goes in the ack) takes the
 * full path below.
 */
static bool on_envelope_fast(struct conn *c, const struct envelope_head *h, const char *text,
			     size_t len, int64_t t0)
{
	struct serve *s = c->s;
	struct env_job *j;
	bool spawn = false;

	if (h->uncertain || !h->envelope_id[0] || !h->has_payload ||
	    (strcmp(h->type, "slash_commands") && strcmp(h->type, "events_api") &&
	     strcmp(h->type, "interactive")) ||
	    (strcmp(h->type, "interactive") == 0 &&
	     (!h->payload_type[0] || strcmp(h->payload_type, "view_submission") == 0)))
		return false;
	j = job_alloc(s, len);
	memcpy(j->envelope_id, h->envelope_id, sizeof(j->envelope_id));
	memcpy(j->type, h->type, sizeof(j->type));
	memcpy(j->text, text, len);
	j->text[len] = '\0';
	j->job.run = env_job_run;
	j->job.drop = env_job_drop;
	j->job.arg = j;
	if (queue_push_later(s->q, &j->job, &spawn) != VIVA_OK) {
		env_job_drop(j);
		return false;   /* the full path tells the user viva is busy */
	}
	metrics_envelope(h->type);
	send_ack_id(c, h->envelope_id, t0);
	/* a new worker thread, if this job needs one, only after the ack */
	if (spawn)
		queue_spawn_worker(s->q);
	return true;
}

static void on_message(struct conn *c, const char *text, size_t len, int64_t t0)
{
	struct envelope_head h;

	if (envelope_scan(text, len, &h) == 0 && on_envelope_fast(c, &h, text, len, t0))
		return;
	on_message_full(c, text, len, t0);
}

static void on_message_full(struct conn *c, const char *text, size_t len, int64_t t0)
{
	json_error_t jerr;
	json_t *msg = json_loadb(text, len, 0, &jerr);
	const char *type;

	if (!json_is_object(msg)) {
		log_warn("malformed frame ignored", "conn=%u bytes=%zu err=\"%s\"", c->id, len, jerr.text);
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(msg, "type"));
	if (json_is_string(json_object_get(msg, "envelope_id")))
		on_envelope(c, msg, t0);
	else if (type && strcmp(type, "hello") == 0)
		on_hello(c, msg);
	else if (type && strcmp(type, "disconnect") == 0)
		on_disconnect(c, msg);
	else
		log_info("frame ignored", "conn=%u type=%s", c->id, type ? type : "(none)");
	json_decref(msg);
}

static void drain_outbox(struct serve *s);

static int cb_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c)
			log_info("socket open", "conn=%u", c->id);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int64_t t0 = now_us();
		if (!c)
			break;
		if (c->rx.len + len > RX_MAX) {
			log_warn("frame too large; dropping the connection", "conn=%u", c->id);
			return -1;
		}
		sb_add(&c->rx, in, len);
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			on_message(c, c->rx.buf, c->rx.len, t0);
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
		struct serve *s = wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
		if (s && !s->done) {
			if (got_stop)
				s->stopping = true;
			drain_outbox(s);
		}
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
static struct lws_vhost *tls_vhost(struct serve *s)
{
	struct lws_context_creation_info info;
	SSL_CTX *ctx;

	if (s->vh_tls)
		return s->vh_tls;
	/* made by the connector thread before it handed over a wss:// URL */
	pthread_mutex_lock(&s->mu);
	ctx = s->tls_ctx;
	pthread_mutex_unlock(&s->mu);
	if (!ctx)
		return NULL;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.vhost_name = "slack-tls";
	info.provided_client_ssl_ctx = ctx;
	s->vh_tls = lws_create_vhost(s->lws, &info);
	if (!s->vh_tls)
		log_error("cannot set up the TLS client (libwebsockets vhost)", "vhost=%s", info.vhost_name);
	else
		log_info("tls client ready", "ca_file=%s ca_dir=%s",
			 tls_ca_file() ? tls_ca_file() : "none", tls_ca_dir());
	return s->vh_tls;
}

/* ---- the loop's own work: results from other threads, timers ------------ */

static void drain_outbox(struct serve *s)
{
	bool have;
	int rc = VIVA_OK, retry_after = 0;
	char error[64] = "";
	char *url = NULL, *addr = NULL;
	int64_t now = now_ms_mono();

	pthread_mutex_lock(&s->mu);
	have = s->have_result;
	if (have) {
		s->have_result = false;
		rc = s->result_rc;
		url = s->result_url;
		addr = s->result_addr;
		s->result_url = s->result_addr = NULL;
		retry_after = s->retry_after_s;
		snprintf(error, sizeof(error), "%s", s->result_error);
	}
	/* view_submission answers that are ready, or out of time */
	for (size_t i = 0; i < s->nview_acks;) {
		struct view_ack *va = &s->view_acks[i];
		if (va->done || now >= va->deadline_ms) {
			struct conn *c = conn_by_id(s, va->conn_id);
			if (!va->done)
				log_warn("view_submission answered late; closing the view", "envelope_id=%s",
					 va->envelope_id);
			if (c)
				send_ack(c, va->envelope_id, va->payload, 0);
			json_decref(va->payload);
			free(va->envelope_id);
			s->view_acks[i] = s->view_acks[--s->nview_acks];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&s->mu);

	if (!have)
		return;
	s->fetching = false;
	if (rc == VIVA_OK) {
		if (connect_ws(s, url, addr) != VIVA_OK) {
			s->failures++;
			schedule_reconnect(s, 0);
		}
	} else if (rc == VIVA_EAUTH) {
		fprintf(stderr, "viva: Slack refused SLACK_APP_TOKEN (apps.connections.open: %s): "
			"check the app-level token and its connections:write scope\n", error);
		s->exit_code = 1;
		s->stopping = true;
	} else {
		s->failures++;
		schedule_reconnect(s, retry_after * 1000);
	}
	free(url);
	free(addr);
}

static void begin_stop(struct serve *s)
{
	if (s->stop_deadline_ms)
		return;
	s->stopping = true;
	s->stop_deadline_ms = now_ms_mono() + CLOSE_WAIT_MS;
	log_info("shutting down", "queued=%zu running=%d", queue_length(s->q), queue_running(s->q));
	pthread_mutex_lock(&s->mu);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i])
			close_conn(s->conns[i]);
	update_health(s);
}

/*
 * SIGHUP: re-read templates and specs. That reads files and parses, so it
 * is a job like any other and the loop only queues it; signals that come
 * while one is queued or running fold into it. A full queue leaves the
 * signal pending for the next tick.
 */
static void reload_job_run(void *arg)
{
	struct serve *s = arg;
	struct reload_report rep;

	reload_all(s->env, "sighup", &rep);
	metrics_job_done(rep.error[0] ? "failed" : "ok");
	atomic_store(&s->reload_busy, false);
}

static void reload_job_drop(void *arg)
{
	struct serve *s = arg;

	atomic_store(&s->reload_busy, false);
}

static void queue_reload(struct serve *s)
{
	if (atomic_exchange(&s->reload_busy, true))
		return;   /* one is queued or running; got_hup stays set for after it */
	got_hup = 0;
	s->reload_job.run = reload_job_run;
	s->reload_job.drop = reload_job_drop;
	s->reload_job.arg = s;
	if (queue_push(s->q, &s->reload_job) != VIVA_OK) {
		atomic_store(&s->reload_busy, false);
		got_hup = 1;
		log_warn("reload postponed: the queue is full", "queued=%zu", queue_length(s->q));
	} else {
		log_info("reload queued", "why=SIGHUP");
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct serve *s = lws_container_of(sul, struct serve, sul_tick);
	int64_t now = now_ms_mono();

	if (got_stop)
		s->stopping = true;
	if (got_hup && !s->stopping)
		queue_reload(s);
	drain_outbox(s);
	if (s->stopping) {
		bool open = false;
		begin_stop(s);
		/* Closing sockets still flush their last acks and the close frame. */
		for (int i = 0; i < MAX_CONNS; i++)
			if (s->conns[i])
				open = true;
		if (!open || now >= s->stop_deadline_ms) {
			s->done = true;
			lws_cancel_service(s->lws);
			return;
		}
	} else {
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = s->conns[i];
			if (c && c->retiring && !c->closing && now >= c->retire_at_ms) {
				log_info("closing the old socket", "conn=%u", c->id);
				close_conn(c);
			}
		}
		if (s->next_connect_ms && now >= s->next_connect_ms)
			request_url(s);
	}
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
}

/* libwebsockets' own log lines, into ours. */
static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	char buf[512];

	snprintf(buf, sizeof(buf), "%.*s", (int)(n && line[n - 1] == '\n' ? n - 1 : n), line);
	if (level & LLL_ERR)
		log_warn("libwebsockets", "line=\"%s\"", buf);
	else
		log_debug("libwebsockets", "line=\"%s\"", buf);
}

/*
 * The last worker retired after a minute without work. A burst leaves curl
 * handles with open connections in the pool and freed memory in the malloc
 * arenas (the retired threads' caches went back to them): close the idle
 * handles and hand the free heap pages back to the kernel. Calls still
 * running (the connector, a "busy" note) keep their handles. Cheap, and at
 * most once per idle period.
 */
static void workers_idle(void *arg)
{
	struct serve *s = arg;

	slack_api_thread_cleanup();
	malloc_trim(0);
	log_debug("workers idle; curl pool and heap trimmed", "queued=%zu", queue_length(s->q));
}

/*
 * A wrong bot token would only show when the first answer fails: check it
 * once at start. Slack being unreachable is not fatal (we retry later).
 */
static int check_bot_token(struct viva_env *env)
{
	json_t *args = json_object(), *resp = NULL;
	int rc = slack_call(env->slack, "auth.test", args, &resp);

	if (rc == VIVA_EREMOTE && slack_error_is_fatal(slack_error(resp))) {
		fprintf(stderr, "viva: Slack refused SLACK_BOT_TOKEN (auth.test: %s): check the bot token "
			"(xoxb-...) of the installed app\n", slack_error(resp));
	} else {
		if (rc != VIVA_OK)
			log_warn("auth.test failed; going on", "err=%s", resp ? slack_error(resp) : viva_strerror(rc));
		else
			log_info("bot token ok", "team=%s user_id=%s",
				 json_string_value(json_object_get(resp, "team")) ?
				 json_string_value(json_object_get(resp, "team")) : "",
				 json_string_value(json_object_get(resp, "user_id")) ?
				 json_string_value(json_object_get(resp, "user_id")) : "");
		rc = VIVA_OK;
	}
	json_decref(args);
	json_decref(resp);
	return rc;
}

int serve_run(struct viva_env *env)
{
	struct lws_context_creation_info info;
	struct serve *s = NULL;
	struct sched_thread *sched = NULL;
	const struct viva_config *cfg = env->cfg;
	struct sigaction sa;
	int rc = 1;

	if (!cfg->slack_app_token || !*cfg->slack_app_token) {
		fprintf(stderr, "viva: SLACK_APP_TOKEN is not set (xapp-..., see README: Install the Slack app)\n");
		return 1;
	}
	if (!cfg->slack_bot_token || !*cfg->slack_bot_token) {
		fprintf(stderr, "viva: SLACK_BOT_TOKEN is not set (xoxb-..., see README: Install the Slack app)\n");
		return 1;
	}
	/* Workers are many but short-lived in what they allocate: a few shared
	 * malloc arenas keep the peak resident size down (glibc makes up to
	 * 8 per core otherwise). */
	mallopt(M_ARENA_MAX, 2);
	thread_sched_init();   /* the nice viva was started with is the base */
	srand((unsigned)(now_us() ^ getpid()));
	s = xcalloc(1, sizeof(*s));
	s->env = env;
	{
		pthread_mutexattr_t ma;

		/* the SCHED_FIFO loop and SCHED_BATCH workers share it: a worker
		 * holding it runs at the loop's priority until it lets go */
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&s->mu, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	pthread_cond_init(&s->cv, NULL);
	env->slack = slack_api_new(cfg->slack_api_base, cfg->slack_bot_token, cfg->slack_app_token);
	if (!env->slack) {
		fprintf(stderr, "viva: cannot set up the Slack Web API client (SLACK_API_BASE)\n");
		goto out;
	}
	if (check_bot_token(env) != VIVA_OK)
		goto out;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof(info));
	/* DO_SSL_GLOBAL_INIT here only initialises OpenSSL and lws's ex_data
	 * indexes, which a TLS vhost added later relies on; it loads no
	 * certificate. */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = s;
	s->lws = lws_create_context(&info);
	if (!s->lws) {
		fprintf(stderr, "viva: cannot create the event loop (libwebsockets)\n");
		goto out;
	}
	/* Without DO_SSL_GLOBAL_INIT in its options the vhost gets no client
	 * SSL_CTX: ws:// only. wss:// goes through tls_vhost(). */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.vhost_name = "slack";
	s->vh_client = lws_create_vhost(s->lws, &info);
	if (!s->vh_client) {
		fprintf(stderr, "viva: cannot set up the Slack client (libwebsockets)\n");
		goto out;
	}
	if (cfg->http_listen) {
		char err[256];
		if (http_server_start(s->lws, env, cfg->http_listen, &s->http, err, sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: VIVA_HTTP_LISTEN=%s: %s\n", cfg->http_listen, err);
			goto out;
		}
	}
	s->q = queue_new((size_t)cfg->queue_size);
	/* large: calloc maps it, pages are touched as slots are first used */
	job_pool = xcalloc(JOB_SLOTS, JOB_SLOT_SIZE);
	for (int i = 0; i < JOB_SLOTS; i++)
		SLOT_POISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
	queue_on_idle(s->q, workers_idle, s);
	if (queue_start_workers(s->q, cfg->workers) != VIVA_OK)
		goto out;
	if (pthread_create(&s->connector, NULL, connector_main, s) != 0)
		goto out;
	s->connector_started = true;
	if (sched_thread_start(env, s->q, &sched) != VIVA_OK)
		goto out;

	signal_ctx = s->lws;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The loop acks; it goes first when the machine is busy (root or
	 * CAP_SYS_NICE only; workers are lowered in bot/queue.c either way). */
	apply_loop_priority(cfg->loop_priority);
	log_info("viva starting", "workers=%d queue=%d http=%s", cfg->workers, cfg->queue_size,
		 cfg->http_listen ? cfg->http_listen : "off");
	update_health(s);
	request_url(s);
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
	while (!s->done) {
		if (lws_service(s->lws, 0) < 0)
			break;
	}
	rc = s->exit_code;
out:
	/* Stop taking work, let what is queued and running finish (bounded). */
	if (s->lws)
		lws_sul_cancel(&s->sul_tick);
	sched_thread_stop(sched);
	if (s->q) {
		queue_close(s->q);
		if (queue_join(s->q, DRAIN_MS) != VIVA_OK) {
			/* A job still runs and uses the store, the Web API client and
			 * this struct: freeing them under it would crash. Leave now. */
			log_error("jobs still running after the drain time; exiting without cleanup",
				  "drain_ms=%d", DRAIN_MS);
			_exit(1);
		}
		queue_free(s->q);
	}
	if (job_pool)
		for (int i = 0; i < JOB_SLOTS; i++)
			SLOT_UNPOISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
	free(job_pool);   /* every job has run or been dropped */
	job_pool = NULL;
	/* "viva is busy" notes in flight use the Web API client: let them end. */
	for (int i = 0; i < 500 && atomic_load(&s->busy_notifiers) > 0; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->busy_notifiers) > 0)
		_exit(1);
	if (s->connector_started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->connector, NULL);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i]) {
			if (s->conns[i]->wsi)
				lws_set_opaque_user_data(s->conns[i]->wsi, NULL);
			conn_free(s->conns[i]);
			s->conns[i] = NULL;
		}
	http_server_free(s->http);
	signal_ctx = NULL;
	if (s->lws)
		lws_context_destroy(s->lws);
	/* After the vhost that borrowed it is gone (lws never frees it). */
	SSL_CTX_free(s->tls_ctx);
	for (size_t i = 0; i < s->nview_acks; i++) {
		json_decref(s->view_acks[i].payload);
		free(s->view_acks[i].envelope_id);
	}
	free(s->view_acks);
	free(s->result_url);
	free(s->result_addr);
	slack_api_free(env->slack);
	env->slack = NULL;
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	log_info("viva stopped", "exit=%d", rc);
	return rc;
}
