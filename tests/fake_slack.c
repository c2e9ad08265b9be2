/*
 * fake_slack: a faithful fake of Slack's Socket Mode and Web API, for viva's
 * end-to-end tests and benchmark. One process, one libwebsockets vhost on
 * 127.0.0.1:PORT serving plain HTTP (Web API, response_url, control API) and
 * the Socket Mode WebSocket (/link/?ticket=...).
 *
 *   fake_slack --port N [--app-token xapp-test] [--bot-token xoxb-test]
 *              [--ack-timeout-ms 3000] [--ping-ms 10000] [--log FILE] [-v]
 *
 * Prints "READY port=N" on stdout once listening (port 0 picks a free port).
 * Exits 0 on SIGTERM/SIGINT or POST /_fake/shutdown.
 *
 * What it enforces follows /work/shared/slack-protocol.md: bearer tokens in
 * the header only, single-use WSS tickets, at most 10 sockets, acks within
 * the deadline (events_api re-delivered up to 3 times, commands and
 * interactions recorded as operation_timeout), acks of 20 KB or more dropped,
 * Block Kit limits (tests/fake_slack_blocks.c), trigger_id 3 s single use,
 * response_url 5 uses, view hashes, 429 + Retry-After when armed; the
 * three-step external file upload: files.getUploadURLExternal and
 * files.completeUploadExternal form-encoded only, an upload URL on this
 * server that takes one POST of exactly the announced length (raw or
 * multipart), complete only after the bytes arrived and only once, with a
 * channel_id that exists and has the bot in it.
 *
 * Control API (no auth, JSON; see the table ctl_routes[] at the bottom):
 *   POST /_fake/send, /_fake/flood, /_fake/disconnect, /_fake/drop,
 *        /_fake/stall, /_fake/raw, /_fake/ratelimit, /_fake/usergroup, /_fake/config,
 *        /_fake/channel, /_fake/reset, /_fake/shutdown
 *   GET  /_fake/state, /_fake/acks, /_fake/calls[?method=M],
 *        /_fake/files[?id=F] (uploads, without contents), /_fake/file?id=F (the bytes)
 * /_fake/ratelimit also takes the method "file_upload" (the POST of the bytes).
 *
 * Everything runs on the lws service thread: no locks. Every store is capped
 * (oldest entries are evicted), so memory stays bounded under a flood.
 */
#include "tests/fake_slack_blocks.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/thread.h"

#include <jansson.h>
#include <libwebsockets.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- limits ------------------------------------------------------------ */

#define MAX_BODY            (1024 * 1024)    /* request bodies; more -> 413 */
#define MAX_UPLOAD_BODY     (32 * 1024 * 1024) /* bytes POSTed to an upload URL */
#define UPLOAD_BYTES_CAP    (256u * 1024 * 1024) /* file contents kept; the oldest go first */
#define UPLOADS_CAP         10000
#define SNIPPET_MAX         (1024 * 1024)    /* snippet_too_large past it */
#define ALT_TEXT_MAX        1000
#define COMPLETE_FILES_MAX  100
#define DEFAULT_MAX_UPLOAD  MAX_UPLOAD_BODY  /* file_upload_size_restricted past it */
#define MAX_WS_MSG          (1024 * 1024)    /* reassembled ack frame */
#define ACK_MAX_BYTES       (20 * 1024)      /* Slack silently drops acks this big */
#define MAX_SOCKETS         10               /* Socket Mode limit per app */
#define MAX_EVENT_RETRIES   3
#define TRIGGER_TTL_US      (3 * 1000000LL)
#define RURL_MAX_USES       5
#define RURL_TTL_US         (30 * 60 * 1000000LL)
#define DEFAULT_GRACE_MS    5000
#define TICK_US             10000            /* timeouts, grace closes, pings */
#define ACK_LIST_CAP        20000
#define LAT_CAP             2000000
#define CALLS_CAP           20000
#define CALLS_BYTES_CAP     (64u * 1024 * 1024)
#define PERR_CAP            1000
#define STORE_CAP           100000           /* triggers, response urls, messages */
#define VIEWS_CAP           10000
#define TICKETS_CAP         1000
#define ENVS_CAP            200000           /* finished envelopes kept for late acks */
#define FLOOD_MAX           1000000
#define FLOOD_BURST_MAX     10000            /* envelopes one flood timer run may emit */
#define QUERY_ARGS_MAX      64
#define FORM_PAIRS_MAX      1000

static const char TEAM_ID[] = "T0FAKE";
static const char APP_ID[] = "A0FAKE";
static const char BOT_USER[] = "U0BOT";
static const char BOT_ID[] = "B0FAKE";

/* ---- small helpers ----------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t g_rng;

static uint64_t rng_next(void)
{
	/* xorshift64*: ids only need to be unique and unguessable enough for tests */
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 0x2545F4914F6CDD1DULL;
}

static void rand_chars(char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[rng_next() % k];
	out[n] = '\0';
}

static void rand_hex(char *out, size_t n) { rand_chars(out, n, "0123456789abcdef"); }
static void rand_upper(char *out, size_t n) { rand_chars(out, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"); }

/* uuid-v4-looking id, as Slack's envelope_id (37 bytes with NUL) */
static void new_uuid(char out[40])
{
	char h[33];

	rand_hex(h, 32);
	snprintf(out, 40, "%.8s-%.4s-4%.3s-a%.3s-%.12s", h, h + 8, h + 12, h + 15, h + 18);
}

static json_t *err_resp(const char *code)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", code);
}

/* ok:false with response_metadata.messages (msgs stolen). */
static json_t *err_resp_msgs(const char *code, json_t *msgs)
{
	json_t *r = err_resp(code);

	json_object_set_new(r, "response_metadata", json_pack("{s:o}", "messages", msgs));
	return r;
}

static const char *arg_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A boolean that may come as JSON true/false or the strings "true"/"false". */
static bool arg_true(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_true(v))
		return true;
	return json_is_string(v) && strcmp(json_string_value(v), "true") == 0;
}

static json_int_t arg_int(const json_t *o, const char *key, json_int_t dflt)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (json_int_t)json_real_value(v);
	if (json_is_string(v) && *json_string_value(v))
		return (json_int_t)strtoll(json_string_value(v), NULL, 10);
	return dflt;
}

/*
 * A JSON-valued argument: native JSON, or a string holding JSON (form bodies
 * carry blocks/view that way). Returns a new reference or NULL; *bad is set
 * when a string did not parse.
 */
static json_t *arg_json(const json_t *o, const char *key, bool *bad)
{
	const json_t *v = json_object_get(o, key);
	json_t *r;

	*bad = false;
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		return json_incref((json_t *)v);
	if (!*json_string_value(v))
		return NULL;  /* form encoders send empty fields for "not given" */
	r = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
	if (!r)
		*bad = true;
	return r;
}

static void set_default(json_t *o, const char *key, json_t *v)
{
	if (json_object_get(o, key))
		json_decref(v);
	else
		json_object_set_new(o, key, v);
}

/* Decode %XX and '+' in place. */
static void url_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '+') {
			*w++ = ' ';
		} else if (*s == '%' && s[1] && s[2] &&
			   strchr("0123456789abcdefABCDEF", s[1]) &&
			   strchr("0123456789abcdefABCDEF", s[2])) {
			char hex[3] = { s[1], s[2], 0 };
			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* application/x-www-form-urlencoded -> object of strings. */
static json_t *parse_form(const char *body, size_t len)
{
	json_t *o = json_object();
	char *copy = xstrndup(body, len);
	char *save = NULL;
	int n = 0;

	for (char *kv = strtok_r(copy, "&", &save); kv && n < FORM_PAIRS_MAX;
	     kv = strtok_r(NULL, "&", &save), n++) {
		char *eq = strchr(kv, '=');
		char *val = kv + strlen(kv);  /* "key" alone: an empty value in our copy */

		if (eq) {
			*eq = '\0';
			val = eq + 1;
		}
		url_decode(kv);
		url_decode(val);
		if (*kv)
			json_object_set_new(o, kv, json_string(val));
	}
	free(copy);
	return o;
}

/* ---- string map with insertion order (for eviction) ------------------- */

struct sent {
	char *key;
	void *val;
	struct sent *hnext;          /* bucket chain */
	struct sent *older, *newer;  /* insertion order */
};

struct smap {
	struct sent **b;
	size_t nb, n;
	struct sent *oldest, *newest;
	void (*free_val)(void *);
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void smap_init(struct smap *m, void (*free_val)(void *))
{
	memset(m, 0, sizeof(*m));
	m->nb = 64;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	m->free_val = free_val;
}

static struct sent **smap_slot(struct smap *m, const char *k)
{
	struct sent **pp = &m->b[hash_str(k) & (m->nb - 1)];

	while (*pp && strcmp((*pp)->key, k) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void *smap_get(struct smap *m, const char *k)
{
	struct sent *e = k ? *smap_slot(m, k) : NULL;

	return e ? e->val : NULL;
}

static void smap_grow(struct smap *m)
{
	size_t nb = m->nb * 2;
	struct sent **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < m->nb; i++) {
		struct sent *e = m->b[i], *next;

		for (; e; e = next) {
			size_t j = hash_str(e->key) & (nb - 1);

			next = e->hnext;
			e->hnext = b[j];
			b[j] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

/* Insert or replace (a replaced value is freed). */
static void smap_put(struct smap *m, const char *k, void *v)
{
	struct sent **pp = smap_slot(m, k);
	struct sent *e = *pp;

	if (e) {
		if (m->free_val)
			m->free_val(e->val);
		e->val = v;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(k);
	e->val = v;
	*pp = e;
	e->older = m->newest;
	if (m->newest)
		m->newest->newer = e;
	else
		m->oldest = e;
	m->newest = e;
	if (++m->n > m->nb)
		smap_grow(m);
}

/* Remove and return the value (not freed). */
static void *smap_take(struct smap *m, const char *k)
{
	struct sent **pp = smap_slot(m, k);
	struct sent *e = *pp;
	void *v;

	if (!e)
		return NULL;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		m->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		m->newest = e->older;
	m->n--;
	v = e->val;
	free(e->key);
	free(e);
	return v;
}

static void smap_del(struct smap *m, const char *k)
{
	void *v = smap_take(m, k);

	if (v && m->free_val)
		m->free_val(v);
}

static void smap_evict(struct smap *m, size_t cap)
{
	while (m->n > cap && m->oldest)
		smap_del(m, m->oldest->key);
}

static void smap_release(struct smap *m)
{
	struct sent *e = m->oldest, *next;

	for (; e; e = next) {
		next = e->newer;
		if (m->free_val)
			m->free_val(e->val);
		free(e->key);
		free(e);
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- state ------------------------------------------------------------- */

enum etype { ET_SLASH, ET_INTERACTIVE, ET_EVENTS };

static const char *const etype_names[] = { "slash_commands", "interactive", "events_api" };

enum estate {
	ES_PENDING,      /* waiting for a live connection */
	ES_QUEUED,       /* in a connection's out queue, nothing written yet */
	ES_SENT,         /* written at least once, waiting for acks */
	ES_ACKED,
	ES_TIMEOUT,      /* command/interaction not acked: user saw operation_timeout */
	ES_REDELIVERED,  /* event not acked: superseded by a retry envelope */
	ES_FAILED,       /* event not acked after the last retry */
	ES_CANCELLED,    /* forgotten by /_fake/reset */
};

struct envelope {
	char id[40];
	enum etype type;
	char subtype[32];            /* payload.type for interactive */
	char event_id[40];
	int retry_attempt;
	bool accepts_response_payload;
	enum estate state;
	char *frame;                 /* serialized envelope, until finished */
	json_t *payload;             /* kept for events_api only (re-delivery) */
	char *trigger_id;            /* a trigger this fake issued, if any */
	int64_t created_us;
	int64_t waited_us;           /* time spent in the pending queue */
	int deliveries;              /* 1, or 2 for "twice" */
	int n_written, n_acked, queued;
	int64_t written_us[2];
	unsigned conn_id[2];
	struct envelope *p_next;                  /* pending queue */
	struct envelope *i_prev, *i_next;         /* in-flight list, in write order */
	bool in_flight;
};

enum fkind { FK_TEXT, FK_HELLO, FK_CLOSE };

struct frame {
	struct frame *next;
	enum fkind kind;
	struct envelope *env;        /* envelope this frame delivers, or NULL */
	size_t len;
	unsigned char *buf;          /* LWS_PRE + len */
};

struct conn {
	struct conn *prev, *next;
	struct lws *wsi;
	unsigned id;
	int64_t opened_us;
	bool hello_sent;
	bool draining;               /* told to disconnect: gets no new envelopes */
	bool rejected;               /* over the socket limit: being closed */
	bool dropped;
	bool debug_reconnects;
	int64_t close_at_us;         /* grace deadline after refresh_requested */
	int64_t stall_until_us;      /* /_fake/stall: no reads, writes or pings */
	int64_t next_ping_us;
	bool want_ping;
	struct frame *q_head, *q_tail;
	size_t q_len;
	struct strbuf rx;
	bool rx_overflow, rx_binary;
};

struct ack_rec {
	char id[40];
	enum etype type;
	int64_t latency_us, waited_us, t_us;
	unsigned conn;
	bool late;
	json_t *payload;
};

struct call_rec {
	char method[64];
	int64_t t_us;
	int status;
	json_t *body;
	json_t *resp;
	size_t bytes;
};

struct trigger { int64_t issued_us; bool used; };
struct rurl { int64_t created_us; int uses; bool from_slash; };
struct ticket { bool used; };
struct message { char channel[64]; int updates; };
struct view { char hash[48]; char external_id[256]; json_t *view; };
/* An external upload: reserved by files.getUploadURLExternal, its bytes
 * POSTed to the upload URL, then shared by files.completeUploadExternal. */
struct upload {
	char id[16];                 /* F... */
	char *filename, *alt_txt, *snippet_type;
	int64_t length;              /* declared */
	bool uploaded, completed;
	unsigned char *bytes;        /* what arrived (NULL before, or once evicted) */
	size_t nbytes;
	bool evicted;
	bool multipart;              /* the bytes came as a multipart/form-data part */
	char ctype[128];             /* of the POST */
	/* set by files.completeUploadExternal */
	char *title, *channel, *initial_comment, *thread_ts;
	json_t *blocks;
};
/* What /_fake/channel declared about a channel; an undeclared well-formed id
 * exists and has the bot as a member. */
struct chan { bool exists, member, archived; };

/* The next `remaining` calls of a method (or "response_url") are answered
 * with `status` (429 by default; 5xx for an outage), with Retry-After when > 0. */
struct ratelimit { char method[64]; int remaining; int retry_after; int status; };

struct stats {
	uint64_t hellos, envelopes_sent, acks, late_acks, operation_timeouts, redeliveries,
		 event_failures, dropped_acks, connections_opened, rejected_upgrades,
		 disconnects_sent, pongs, pings_sent, perr_total, ignored_ack_payloads,
		 pending_waits;
	int64_t pending_wait_max_us, pending_wait_total_us;
};

static struct fake {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int port;
	const char *app_token, *bot_token;
	int64_t ack_timeout_us, ping_us, trigger_ttl_us;
	int64_t t0_us;
	int64_t last_ts_us;
	uint64_t seq;
	bool shutting_down;

	struct conn *conns;
	unsigned next_conn_id;
	size_t rr;

	struct smap envs;
	struct envelope *p_head, *p_tail;
	size_t n_pending;
	struct envelope *i_head, *i_tail;
	size_t n_inflight;

	struct smap tickets, triggers, rurls, messages, views, usergroups, uploads;
	struct smap upload_urls;     /* secret part of an upload URL -> file id */
	struct smap channels;        /* declared channels (struct chan) */
	size_t upload_bytes;         /* file contents kept, all uploads */
	int64_t max_upload_bytes;    /* file_upload_size_restricted past it */
	bool uploads_disabled;       /* file_uploads_disabled */
	struct ratelimit rl[32];
	size_t n_rl;

	struct stats st;
	struct ack_rec *acks;        /* ring of ACK_LIST_CAP */
	size_t acks_head, acks_n;
	int64_t *lat;
	size_t lat_n, lat_cap;
	int64_t lat_max;
	struct call_rec *calls;      /* ring of CALLS_CAP */
	size_t calls_head, calls_n, calls_bytes;
	json_t *perrs;
	json_t *timeouts;
	json_t *dropped_ids;

	struct {
		bool on;
		int64_t start_us;
		uint64_t total, sent;
		double rate;
		enum etype type;
		json_t *tmpl;
	} flood;

	lws_sorted_usec_list_t sul_tick, sul_flood;
} g;

static int64_t t_ms(int64_t us) { return (us - g.t0_us) / 1000; }

/* ---- records ----------------------------------------------------------- */

static void perr(unsigned conn, const char *error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(unsigned conn, const char *error, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	g.st.perr_total++;
	log_warn("protocol error", "error=%s conn=%u %s", error, conn, detail);
	if (json_array_size(g.perrs) >= PERR_CAP)
		return;
	json_array_append_new(g.perrs, json_pack("{s:I, s:s, s:s, s:I}", "t_ms",
						 (json_int_t)t_ms(mono_us()), "error", error,
						 "detail", detail, "conn", (json_int_t)conn));
}

static void capped_append(json_t *arr, json_t *item)
{
	if (json_array_size(arr) < PERR_CAP)
		json_array_append_new(arr, item);
	else
		json_decref(item);
}

static void record_ack(const struct envelope *e, unsigned conn, int64_t lat, bool late, json_t *payload)
{
	struct ack_rec *r;

	g.st.acks++;
	if (late)
		g.st.late_acks++;
	if (g.lat_n < LAT_CAP) {
		if (g.lat_n == g.lat_cap) {
			g.lat_cap = g.lat_cap ? g.lat_cap * 2 : 4096;
			g.lat = xrealloc(g.lat, g.lat_cap * sizeof(*g.lat));
		}
		g.lat[g.lat_n++] = lat;
	}
	if (lat > g.lat_max)
		g.lat_max = lat;
	if (g.acks_n < ACK_LIST_CAP) {
		r = &g.acks[(g.acks_head + g.acks_n++) % ACK_LIST_CAP];
	} else {
		r = &g.acks[g.acks_head];
		json_decref(r->payload);
		g.acks_head = (g.acks_head + 1) % ACK_LIST_CAP;
	}
	snprintf(r->id, sizeof(r->id), "%s", e->id);
	r->type = e->type;
	r->latency_us = lat;
	r->waited_us = e->waited_us;
	r->t_us = mono_us();
	r->conn = conn;
	r->late = late;
	r->payload = payload ? json_incref(payload) : NULL;
}

static void call_rec_free(struct call_rec *r)
{
	json_decref(r->body);
	json_decref(r->resp);
	memset(r, 0, sizeof(*r));
}

/* Record a Web API / response_url call (body and resp are borrowed). */
static void record_call(const char *method, int64_t t_us, int status, json_t *body,
			json_t *resp, size_t bytes)
{
	struct call_rec *r;

	while (g.calls_n && (g.calls_n == CALLS_CAP || g.calls_bytes + bytes > CALLS_BYTES_CAP)) {
		r = &g.calls[g.calls_head];
		g.calls_bytes -= r->bytes;
		call_rec_free(r);
		g.calls_head = (g.calls_head + 1) % CALLS_CAP;
		g.calls_n--;
	}
	r = &g.calls[(g.calls_head + g.calls_n++) % CALLS_CAP];
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->t_us = t_us;
	r->status = status;
	r->body = body ? json_incref(body) : json_null();
	r->resp = resp ? json_incref(resp) : json_null();
	r->bytes = bytes;
	g.calls_bytes += bytes;
}

/* ---- connections and envelopes ---------------------------------------- */

static bool env_finished(const struct envelope *e)
{
	return e->state >= ES_ACKED;
}

static void env_free(void *p)
{
	struct envelope *e = p;

	free(e->frame);
	json_decref(e->payload);
	free(e->trigger_id);
	free(e);
}

static void inflight_add(struct envelope *e)
{
	if (e->in_flight)
		return;
	e->in_flight = true;
	e->i_next = NULL;
	e->i_prev = g.i_tail;
	if (g.i_tail)
		g.i_tail->i_next = e;
	else
		g.i_head = e;
	g.i_tail = e;
	g.n_inflight++;
}

static void inflight_remove(struct envelope *e)
{
	if (!e->in_flight)
		return;
	if (e->i_prev)
		e->i_prev->i_next = e->i_next;
	else
		g.i_head = e->i_next;
	if (e->i_next)
		e->i_next->i_prev = e->i_prev;
	else
		g.i_tail = e->i_prev;
	e->i_prev = e->i_next = NULL;
	e->in_flight = false;
	g.n_inflight--;
}

static void pending_push(struct envelope *e, bool front)
{
	e->state = ES_PENDING;
	e->p_next = NULL;
	if (front) {
		e->p_next = g.p_head;
		g.p_head = e;
		if (!g.p_tail)
			g.p_tail = e;
	} else {
		if (g.p_tail)
			g.p_tail->p_next = e;
		else
			g.p_head = e;
		g.p_tail = e;
	}
	g.n_pending++;
}

static struct envelope *pending_pop(void)
{
	struct envelope *e = g.p_head;

	if (!e)
		return NULL;
	g.p_head = e->p_next;
	if (!g.p_head)
		g.p_tail = NULL;
	e->p_next = NULL;
	g.n_pending--;
	return e;
}

static void env_finish(struct envelope *e, enum estate st)
{
	inflight_remove(e);
	e->state = st;
	free(e->frame);
	e->frame = NULL;
	json_decref(e->payload);
	e->payload = NULL;
}

/* Drop finished envelopes beyond the cap; the scan is bounded per call. */
static void envs_gc(void)
{
	struct sent *s = g.envs.oldest, *next;
	int steps = 0;

	for (; s && g.envs.n > ENVS_CAP && steps < 10000; s = next, steps++) {
		struct envelope *e = s->val;

		next = s->newer;
		/* an envelope a queued frame still points to must stay */
		if (env_finished(e) && e->queued == 0)
			smap_del(&g.envs, s->key);
	}
}

static void conn_push(struct conn *c, enum fkind kind, const char *text, struct envelope *e)
{
	struct frame *f = xcalloc(1, sizeof(*f));
	size_t len = text ? strlen(text) : 0;

	f->kind = kind;
	f->env = e;
	f->len = len;
	f->buf = xmalloc(LWS_PRE + len + 1);
	if (len)
		memcpy(f->buf + LWS_PRE, text, len);
	if (c->q_tail)
		c->q_tail->next = f;
	else
		c->q_head = f;
	c->q_tail = f;
	c->q_len++;
	if (e)
		e->queued++;
	lws_callback_on_writable(c->wsi);
}

static struct frame *conn_pop(struct conn *c)
{
	struct frame *f = c->q_head;

	if (!f)
		return NULL;
	c->q_head = f->next;
	if (!c->q_head)
		c->q_tail = NULL;
	c->q_len--;
	return f;
}

static void frame_free(struct frame *f)
{
	if (!f)
		return;
	free(f->buf);
	free(f);
}

static bool conn_live(const struct conn *c, int64_t now)
{
	return c->hello_sent && !c->draining && !c->rejected && !c->dropped &&
	       c->stall_until_us <= now && c->close_at_us == 0;
}

static size_t conn_count_open(void)
{
	size_t n = 0;

	for (struct conn *c = g.conns; c; c = c->next)
		if (!c->rejected && !c->dropped)
			n++;
	return n;
}

/* Round-robin over live connections; NULL when none is live. */
static struct conn *pick_conn(void)
{
	struct conn *cand[64];
	size_t n = 0;
	int64_t now = mono_us();

	for (struct conn *c = g.conns; c && n < 64; c = c->next)
		if (conn_live(c, now))
			cand[n++] = c;
	if (!n)
		return NULL;
	return cand[g.rr++ % n];
}

/* Send an envelope to a live connection, or park it in the pending queue. */
static void env_dispatch(struct envelope *e, bool front)
{
	struct conn *c = g.shutting_down ? NULL : pick_conn();

	if (!c) {
		pending_push(e, front);
		return;
	}
	e->state = ES_QUEUED;
	for (int i = 0; i < e->deliveries; i++)
		conn_push(c, FK_TEXT, e->frame, e);
}

static void flush_pending(void)
{
	struct envelope *e;
	int64_t now = mono_us();
	size_t n = g.n_pending;

	/* bounded by the queue length at entry; stops when nothing is live */
	while (n-- && g.p_head && pick_conn()) {
		e = pending_pop();
		e->waited_us += now - e->created_us;
		g.st.pending_waits++;
		g.st.pending_wait_total_us += e->waited_us;
		if (e->waited_us > g.st.pending_wait_max_us)
			g.st.pending_wait_max_us = e->waited_us;
		env_dispatch(e, false);
	}
}

/* A frame carrying e was written to connection c. */
static void env_written(struct envelope *e, struct conn *c)
{
	int64_t now = mono_us();
	struct trigger *t;

	e->queued--;
	if (e->n_written >= 2 || e->state == ES_CANCELLED)
		return;
	e->written_us[e->n_written] = now;
	e->conn_id[e->n_written] = c->id;
	e->n_written++;
	g.st.envelopes_sent++;
	/* trigger_id's 3 seconds start when the payload is sent */
	if (e->n_written == 1 && e->trigger_id && (t = smap_get(&g.triggers, e->trigger_id)))
		t->issued_us = now;
	if (env_finished(e))
		return;
	e->state = ES_SENT;
	inflight_add(e);
}

static struct conn *conn_new(struct lws *wsi)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->wsi = wsi;
	c->id = ++g.next_conn_id;
	c->opened_us = mono_us();
	c->next_ping_us = c->opened_us + g.ping_us;
	sb_init(&c->rx);
	c->next = g.conns;
	if (g.conns)
		g.conns->prev = c;
	g.conns = c;
	return c;
}

/* The socket is gone: unwritten envelopes go back to the pending queue. */
static void conn_closed(struct conn *c)
{
	struct frame *f;
	struct envelope *back[256];
	size_t nback = 0;

	while ((f = conn_pop(c))) {
		struct envelope *e = f->env;

		if (e) {
			e->queued--;
			if (e->state == ES_QUEUED && e->queued == 0 && e->n_written == 0) {
				if (nback < sizeof(back) / sizeof(back[0])) {
					back[nback++] = e;
				} else {
					pending_push(e, false);
				}
			}
		}
		frame_free(f);
	}
	/* keep their original order at the front of the queue */
	while (nback)
		pending_push(back[--nback], true);
	if (c->prev)
		c->prev->next = c->next;
	else
		g.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sb_release(&c->rx);
	log_info("socket closed", "conn=%u", c->id);
	free(c);
	if (!g.shutting_down)
		flush_pending();
}

static void send_disconnect(struct conn *c, const char *reason)
{
	json_t *m = json_pack("{s:s, s:s, s:{s:s}}", "type", "disconnect", "reason", reason,
			      "debug_info", "host", "fake");
	char *s = json_dumps(m, JSON_COMPACT);

	conn_push(c, FK_TEXT, s, NULL);
	g.st.disconnects_sent++;
	free(s);
	json_decref(m);
}

static void send_hello(struct conn *c)
{
	json_t *m = json_pack("{s:s, s:I, s:{s:s}, s:{s:s, s:i, s:i}}", "type", "hello",
			      "num_connections", (json_int_t)conn_count_open(),
			      "connection_info", "app_id", APP_ID, "debug_info", "host", "fake",
			      "build_number", 1, "approximate_connection_time",
			      c->debug_reconnects ? 360 : 18060);
	char *s = json_dumps(m, JSON_COMPACT);

	conn_push(c, FK_HELLO, s, NULL);
	free(s);
	json_decref(m);
}

/* ---- envelopes: payload defaults and creation ------------------------- */

static char *issue_trigger(void)
{
	struct trigger *t = xcalloc(1, sizeof(*t));
	char hex[33];
	char *id;

	rand_hex(hex, 32);
	id = xasprintf("%llu.%lld.%s", (unsigned long long)++g.seq,
		       (long long)(wall_us() / 1000000), hex);
	t->issued_us = mono_us();
	smap_put(&g.triggers, id, t);
	smap_evict(&g.triggers, STORE_CAP);
	return id;
}

static char *issue_response_url(bool from_slash)
{
	struct rurl *r = xcalloc(1, sizeof(*r));
	char id[25];

	rand_hex(id, 24);
	r->created_us = mono_us();
	r->from_slash = from_slash;
	smap_put(&g.rurls, id, r);
	smap_evict(&g.rurls, STORE_CAP);
	return xasprintf("http://127.0.0.1:%d/response/%s", g.port, id);
}

static json_t *user_obj(void)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "id", "U0TEST", "username", "tester",
			 "name", "tester", "team_id", TEAM_ID);
}

static void fill_slash(json_t *p)
{
	set_default(p, "token", json_string("fakeverificationtoken"));
	set_default(p, "team_id", json_string(TEAM_ID));
	set_default(p, "team_domain", json_string("fake"));
	set_default(p, "channel_id", json_string("C0TEST"));
	set_default(p, "channel_name", json_string("test"));
	set_default(p, "user_id", json_string("U0TEST"));
	set_default(p, "user_name", json_string("tester"));
	set_default(p, "command", json_string("/viva"));
	set_default(p, "text", json_string(""));
	set_default(p, "api_app_id", json_string(APP_ID));
	set_default(p, "is_enterprise_install", json_string("false"));
	if (!json_object_get(p, "trigger_id")) {
		char *t = issue_trigger();
		json_object_set_new(p, "trigger_id", json_string(t));
		free(t);
	}
	if (!json_object_get(p, "response_url")) {
		char *u = issue_response_url(true);
		json_object_set_new(p, "response_url", json_string(u));
		free(u);
	}
}

static void fill_interactive(json_t *p)
{
	const char *type;
	char ts[40];

	type = arg_str(p, "type");
	if (!type) {
		json_object_set_new(p, "type", json_string("block_actions"));
		type = "block_actions";
	}
	set_default(p, "team", json_pack("{s:s, s:s}", "id", TEAM_ID, "domain", "fake"));
	set_default(p, "user", user_obj());
	set_default(p, "api_app_id", json_string(APP_ID));
	set_default(p, "token", json_string("fakeverificationtoken"));
	set_default(p, "is_enterprise_install", json_false());
	set_default(p, "enterprise", json_null());
	if (strcmp(type, "view_closed") != 0 && strcmp(type, "block_suggestion") != 0 &&
	    !json_object_get(p, "trigger_id")) {
		char *t = issue_trigger();
		json_object_set_new(p, "trigger_id", json_string(t));
		free(t);
	}
	if (strcmp(type, "block_actions") == 0) {
		json_t *view = json_object_get(p, "view");
		json_t *msg = json_object_get(p, "message");
		const char *mts = json_string_value(json_object_get(msg, "ts"));
		json_t *actions;
		size_t i;
		json_t *a;

		snprintf(ts, sizeof(ts), "%lld.%06lld", (long long)(wall_us() / 1000000),
			 (long long)(wall_us() % 1000000));
		if (view) {
			/* a click in a modal: no channel, no response_url */
			const char *vid = arg_str(view, "id");

			set_default(p, "container", json_pack("{s:s, s:s}", "type", "view",
				"view_id", vid ? vid : "V0TEST"));
		} else {
			const char *ch;

			set_default(p, "channel", json_pack("{s:s, s:s}", "id", "C0TEST", "name", "test"));
			ch = arg_str(json_object_get(p, "channel"), "id");
			set_default(p, "container", json_pack("{s:s, s:s, s:s, s:b}", "type", "message",
				"message_ts", mts ? mts : "1700000000.000100",
				"channel_id", ch ? ch : "C0TEST", "is_ephemeral", 0));
			if (!json_object_get(p, "response_url")) {
				char *u = issue_response_url(false);
				json_object_set_new(p, "response_url", json_string(u));
				free(u);
			}
		}
		set_default(p, "state", json_pack("{s:{}}", "values"));
		set_default(p, "actions", json_array());
		actions = json_object_get(p, "actions");
		json_array_foreach(actions, i, a) {
			if (json_is_object(a))
				set_default(a, "action_ts", json_string(ts));
		}
	} else if (strcmp(type, "view_submission") == 0 || strcmp(type, "view_closed") == 0) {
		json_t *view;

		set_default(p, "view", json_object());
		view = json_object_get(p, "view");
		if (json_is_object(view)) {
			set_default(view, "id", json_string("V0TEST"));
			set_default(view, "type", json_string("modal"));
			set_default(view, "callback_id", json_string(""));
			set_default(view, "private_metadata", json_string(""));
			set_default(view, "hash", json_string("1700000000.fakehash"));
			set_default(view, "state", json_pack("{s:{}}", "values"));
		}
		if (strcmp(type, "view_submission") == 0)
			set_default(p, "response_urls", json_array());
		else
			set_default(p, "is_cleared", json_false());
	}
}

static void fill_event(json_t *p)
{
	char id[16];
	json_t *ev;

	rand_upper(id, 10);
	set_default(p, "token", json_string("fakeverificationtoken"));
	set_default(p, "team_id", json_string(TEAM_ID));
	set_default(p, "api_app_id", json_string(APP_ID));
	set_default(p, "type", json_string("event_callback"));
	set_default(p, "event_id", json_sprintf("Ev%s", id));
	set_default(p, "event_time", json_integer((json_int_t)(wall_us() / 1000000)));
	set_default(p, "authorizations", json_pack("[{s:n, s:s, s:s, s:b, s:b}]", "enterprise_id",
		"team_id", TEAM_ID, "user_id", BOT_USER, "is_bot", 1, "is_enterprise_install", 0));
	set_default(p, "is_ext_shared_channel", json_false());
	set_default(p, "event_context", json_string("4-fake"));
	ev = json_object_get(p, "event");
	if (json_is_object(ev)) {
		char ts[40];

		snprintf(ts, sizeof(ts), "%lld.%06lld", (long long)(wall_us() / 1000000),
			 (long long)(wall_us() % 1000000));
		set_default(ev, "event_ts", json_string(ts));
	}
}

/* A copy of tmpl (may be NULL) with Slack's fields filled in for its type. */
static json_t *payload_prepare(enum etype type, const json_t *tmpl)
{
	json_t *p = tmpl ? json_deep_copy(tmpl) : json_object();

	if (type == ET_EVENTS && !json_object_get(p, "event")) {
		/* a bare event: wrap it the way Slack does */
		json_t *w = json_object();

		json_object_set_new(w, "event", p);
		p = w;
	}
	if (type == ET_SLASH)
		fill_slash(p);
	else if (type == ET_INTERACTIVE)
		fill_interactive(p);
	else
		fill_event(p);
	return p;
}

/*
 * Build an envelope around payload (stolen; defaults already filled) and
 * register it. forced_id may be NULL.
 */
static struct envelope *env_new(enum etype type, json_t *payload, const char *forced_id,
				int retry_attempt, const char *retry_reason, int deliveries)
{
	struct envelope *e = xcalloc(1, sizeof(*e));
	const char *trig = arg_str(payload, "trigger_id");
	json_t *env;

	if (forced_id)
		snprintf(e->id, sizeof(e->id), "%s", forced_id);
	else
		new_uuid(e->id);
	e->type = type;
	snprintf(e->subtype, sizeof(e->subtype), "%s",
		 type == ET_INTERACTIVE && arg_str(payload, "type") ? arg_str(payload, "type") : "");
	if (type == ET_EVENTS && arg_str(payload, "event_id"))
		snprintf(e->event_id, sizeof(e->event_id), "%s", arg_str(payload, "event_id"));
	e->retry_attempt = retry_attempt;
	e->accepts_response_payload =
		type == ET_SLASH ||
		(type == ET_INTERACTIVE && (strcmp(e->subtype, "block_actions") == 0 ||
					    strcmp(e->subtype, "view_submission") == 0 ||
					    strcmp(e->subtype, "block_suggestion") == 0));
	if (trig && smap_get(&g.triggers, trig))
		e->trigger_id = xstrdup(trig);
	e->created_us = mono_us();
	e->deliveries = deliveries == 2 ? 2 : 1;

	env = json_pack("{s:s, s:O, s:s, s:b}", "envelope_id", e->id, "payload", payload,
			"type", etype_names[type], "accepts_response_payload",
			e->accepts_response_payload);
	if (type == ET_EVENTS) {
		json_object_set_new(env, "retry_attempt", json_integer(retry_attempt));
		json_object_set_new(env, "retry_reason", json_string(retry_reason ? retry_reason : ""));
	}
	e->frame = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	if (type == ET_EVENTS)
		e->payload = payload;
	else
		json_decref(payload);
	smap_put(&g.envs, e->id, e);
	envs_gc();
	return e;
}

/* An envelope was not acked in time. */
static void env_timeout(struct envelope *e)
{
	int64_t now = mono_us();

	inflight_remove(e);
	if (e->type == ET_EVENTS) {
		if (e->retry_attempt < MAX_EVENT_RETRIES && e->payload) {
			json_t *p = e->payload;
			struct envelope *r;

			/* the retry carries the same event_id in a new envelope */
			e->payload = NULL;
			r = env_new(ET_EVENTS, p, NULL, e->retry_attempt + 1, "timeout", 1);
			g.st.redeliveries++;
			log_info("event re-delivered", "envelope=%s retry=%s attempt=%d", e->id, r->id,
				 r->retry_attempt);
			env_finish(e, ES_REDELIVERED);
			env_dispatch(r, false);
		} else {
			g.st.event_failures++;
			env_finish(e, ES_FAILED);
		}
		return;
	}
	g.st.operation_timeouts++;
	capped_append(g.timeouts, json_pack("{s:s, s:s, s:I}", "envelope_id", e->id, "type",
					    etype_names[e->type], "t_ms", (json_int_t)t_ms(now)));
	log_info("operation_timeout", "envelope=%s type=%s", e->id, etype_names[e->type]);
	env_finish(e, ES_TIMEOUT);
}

/* ---- acks -------------------------------------------------------------- */

/* What an ack payload may carry, per envelope kind (D-SM "responding"). */
static void check_ack_payload(struct envelope *e, json_t *payload, unsigned conn)
{
	json_t *msgs = NULL;

	if (!payload || json_is_null(payload))
		return;
	if (!json_is_object(payload)) {
		perr(conn, "ack_payload_not_object", "envelope_id=%s", e->id);
		return;
	}
	if (!e->accepts_response_payload) {
		/* Slack ignores it; a client sending one is confused, but it is harmless */
		g.st.ignored_ack_payloads++;
		return;
	}
	msgs = json_array();
	if (e->type == ET_SLASH) {
		const char *rt = arg_str(payload, "response_type");
		json_t *blocks = json_object_get(payload, "blocks");
		const char *text = arg_str(payload, "text");

		if (rt && strcmp(rt, "in_channel") != 0 && strcmp(rt, "ephemeral") != 0)
			perr(conn, "invalid_ack_payload", "envelope_id=%s response_type=%s", e->id, rt);
		if (text && fsb_utf8_len(text) > 40000)
			perr(conn, "invalid_ack_payload", "envelope_id=%s error=msg_too_long", e->id);
		if (blocks && !json_is_array(blocks))
			perr(conn, "invalid_ack_payload", "envelope_id=%s error=invalid_blocks_format", e->id);
		else if (blocks && fsb_check_blocks(blocks, FSB_MESSAGE, "/payload/blocks", msgs))
			perr(conn, "invalid_ack_payload", "envelope_id=%s error=invalid_blocks %s", e->id,
			     json_string_value(json_array_get(msgs, 0)));
	} else if (strcmp(e->subtype, "view_submission") == 0) {
		const char *ra = arg_str(payload, "response_action");
		json_t *view = json_object_get(payload, "view");

		if (!ra) {
			if (json_object_size(payload))
				perr(conn, "invalid_ack_payload", "envelope_id=%s missing response_action", e->id);
		} else if (strcmp(ra, "errors") == 0) {
			json_t *errs = json_object_get(payload, "errors");
			if (!json_is_object(errs) || !json_object_size(errs))
				perr(conn, "invalid_ack_payload", "envelope_id=%s errors must be an object keyed by block_id", e->id);
		} else if (strcmp(ra, "update") == 0 || strcmp(ra, "push") == 0) {
			const char *err = fsb_check_view(view, msgs);
			if (err)
				perr(conn, "invalid_ack_payload", "envelope_id=%s error=%s %s", e->id, err,
				     json_string_value(json_array_get(msgs, 0)) ?
				     json_string_value(json_array_get(msgs, 0)) : "");
		} else if (strcmp(ra, "clear") != 0) {
			perr(conn, "invalid_ack_payload", "envelope_id=%s response_action=%s", e->id, ra);
		}
	} else if (strcmp(e->subtype, "block_suggestion") == 0) {
		json_t *opts = json_object_get(payload, "options");
		json_t *groups = json_object_get(payload, "option_groups");
		if ((opts && !json_is_array(opts)) || (groups && !json_is_array(groups)) ||
		    json_array_size(opts) > 100 || json_array_size(groups) > 100)
			perr(conn, "invalid_ack_payload", "envelope_id=%s bad options", e->id);
	}
	json_decref(msgs);
}

static void handle_ack(struct conn *c, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, 0, &jerr);
	const char *id;
	struct envelope *e;
	json_t *payload;
	int64_t now = mono_us(), lat;
	bool late;
	int idx;

	if (!root) {
		perr(c->id, "malformed_json", "%s", jerr.text);
		goto out;
	}
	id = json_is_object(root) ? arg_str(root, "envelope_id") : NULL;
	if (!id) {
		perr(c->id, "missing_envelope_id", "bytes=%zu", len);
		goto out;
	}
	if (len >= ACK_MAX_BYTES) {
		/* Slack drops these without a word; the envelope stays unacked */
		g.st.dropped_acks++;
		capped_append(g.dropped_ids, json_string(id));
		log_warn("ack dropped", "envelope=%s bytes=%zu", id, len);
		goto out;
	}
	e = smap_get(&g.envs, id);
	if (!e) {
		perr(c->id, "unknown_envelope_id", "envelope_id=%s", id);
		goto out;
	}
	if (e->state == ES_CANCELLED)
		goto out;
	idx = e->n_acked;
	if (idx >= e->n_written) {
		perr(c->id, "duplicate_ack", "envelope_id=%s", id);
		goto out;
	}
	if (e->conn_id[idx] != c->id) {
		/* Slack expects the ack on the socket that carried the envelope */
		perr(c->id, "ack_on_other_connection", "envelope_id=%s sent_on=%u", id, e->conn_id[idx]);
		goto out;
	}
	payload = json_object_get(root, "payload");
	check_ack_payload(e, payload, c->id);
	lat = now - e->written_us[idx];
	late = env_finished(e);
	e->n_acked++;
	record_ack(e, c->id, lat, late, json_is_object(payload) ? payload : NULL);
	log_debug("ack", "envelope=%s latency_us=%lld late=%d", id, (long long)lat, late);
	if (!late) {
		if (e->n_acked >= e->n_written)
			inflight_remove(e);
		if (e->n_acked >= e->deliveries)
			env_finish(e, ES_ACKED);
	}
out:
	json_decref(root);
}

/* ---- timers ------------------------------------------------------------ */

static void tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_us();
	struct conn *c;

	(void)sul;
	/* ack deadlines, oldest first; each envelope leaves the list when handled */
	while (g.i_head &&
	       g.i_head->written_us[g.i_head->n_acked < 2 ? g.i_head->n_acked : 1] +
	       g.ack_timeout_us <= now)
		env_timeout(g.i_head);

	for (c = g.conns; c; c = c->next) {
		if (c->close_at_us && c->close_at_us <= now) {
			c->close_at_us = 0;
			c->rejected = true;
			conn_push(c, FK_CLOSE, NULL, NULL);
		}
		if (c->stall_until_us && c->stall_until_us <= now) {
			c->stall_until_us = 0;
			lws_rx_flow_control(c->wsi, 1);
			lws_callback_on_writable(c->wsi);
		}
		if (g.ping_us > 0 && !c->stall_until_us && now >= c->next_ping_us) {
			c->next_ping_us = now + g.ping_us;
			c->want_ping = true;
			lws_callback_on_writable(c->wsi);
		}
	}
	if (g.n_pending)
		flush_pending();
	envs_gc();
	if (!g.shutting_down)
		lws_sul_schedule(g.ctx, 0, &g.sul_tick, tick, TICK_US);
}

static json_t *flood_payload(void)
{
	return payload_prepare(g.flood.type, g.flood.tmpl);
}

/* Emits flood envelopes on schedule: envelope i is due at start + i/rate. */
static void flood_tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_us();
	uint64_t due, emitted = 0;
	double next_at;

	(void)sul;
	if (!g.flood.on || g.shutting_down)
		return;
	due = (uint64_t)((double)(now - g.flood.start_us) * g.flood.rate / 1e6) + 1;
	if (due > g.flood.total)
		due = g.flood.total;
	while (g.flood.sent < due && emitted < FLOOD_BURST_MAX) {
		struct envelope *e = env_new(g.flood.type, flood_payload(), NULL, 0, NULL, 1);

		env_dispatch(e, false);
		g.flood.sent++;
		emitted++;
	}
	if (g.flood.sent >= g.flood.total) {
		g.flood.on = false;
		json_decref(g.flood.tmpl);
		g.flood.tmpl = NULL;
		log_info("flood done", "sent=%llu", (unsigned long long)g.flood.sent);
		return;
	}
	next_at = (double)g.flood.start_us + (double)g.flood.sent * 1e6 / g.flood.rate;
	lws_sul_schedule(g.ctx, 0, &g.sul_flood, flood_tick,
			 next_at - (double)now > 50 ? (lws_usec_t)(next_at - (double)now) : 50);
}

/* ---- Web API methods --------------------------------------------------- */

struct call {
	json_t *args;        /* borrowed: merged query + body arguments */
	int64_t now_us;
	bool json;           /* the body was JSON (not a form) */
};

static void new_ts(char out[32])
{
	int64_t us = wall_us();

	if (us <= g.last_ts_us)
		us = g.last_ts_us + 1;
	g.last_ts_us = us;
	snprintf(out, 32, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
}

/*
 * The message part of a request (text, blocks, markdown_text), as checked by
 * chat.* and response_url. Returns NULL when fine, else an error response.
 * *blocks_out receives the parsed blocks (new reference) when present.
 */
static json_t *check_message(const json_t *args, size_t text_max, json_t **blocks_out)
{
	const json_t *tv = json_object_get(args, "text");
	const char *text = json_string_value(tv);
	const char *md = arg_str(args, "markdown_text");
	json_t *blocks = NULL, *att = NULL, *msgs = NULL, *resp = NULL;
	bool bad = false, bad_att = false;

	*blocks_out = NULL;
	if (tv && !json_is_string(tv) && !json_is_null(tv)) {
		resp = err_resp_msgs("invalid_arguments",
			json_pack("[s]", "[ERROR] must provide a string [json-pointer:/text]"));
		goto out;
	}
	blocks = arg_json(args, "blocks", &bad);
	if (bad || (blocks && !json_is_array(blocks))) {
		resp = err_resp("invalid_blocks_format");
		goto out;
	}
	att = arg_json(args, "attachments", &bad_att);
	if (bad_att || (att && !json_is_array(att))) {
		resp = err_resp("invalid_attachments");
		goto out;
	}
	if (md && ((text && *text) || blocks)) {
		resp = err_resp("markdown_text_conflict");
		goto out;
	}
	if ((text && fsb_utf8_len(text) > text_max) || (md && fsb_utf8_len(md) > 12000)) {
		resp = err_resp("msg_too_long");
		goto out;
	}
	if ((!text || !*text) && !json_array_size(blocks) && !json_array_size(att) && !md) {
		resp = err_resp("no_text");
		goto out;
	}
	if (blocks) {
		msgs = json_array();
		if (fsb_check_blocks(blocks, FSB_MESSAGE, "/blocks", msgs)) {
			resp = err_resp_msgs("invalid_blocks", msgs);
			msgs = NULL;
			goto out;
		}
	}
	*blocks_out = blocks;
	blocks = NULL;
out:
	json_decref(blocks);
	json_decref(att);
	json_decref(msgs);
	return resp;
}

/* A user id as Slack writes them (U/W and capitals or digits); real ones are longer. */
static bool user_id_ok(const char *s)
{
	return s && (s[0] == 'U' || s[0] == 'W') && s[1] && strlen(s) < 32 &&
	       s[strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + 1] == '\0';
}

/* Channel ids the fake knows how to post to: C/G/D ids, or a user id (DM). */
static bool channel_ok(const char *ch)
{
	return ch && strlen(ch) >= 2 && strlen(ch) < 64 && strchr("CGDUW", ch[0]);
}

/* Why ch cannot be posted to ("channel_not_found", "is_archived",
 * "not_in_channel"), or NULL: what /_fake/channel declared, else any
 * well-formed id exists with the bot in it. */
static const char *channel_error(const char *ch)
{
	const struct chan *c;

	if (!channel_ok(ch))
		return "channel_not_found";
	c = smap_get(&g.channels, ch);
	if (!c)
		return NULL;
	if (!c->exists)
		return "channel_not_found";
	if (c->archived)
		return "is_archived";
	return c->member ? NULL : "not_in_channel";
}

static json_t *m_connections_open(struct call *cl)
{
	struct ticket *t = xcalloc(1, sizeof(*t));
	char ticket[33];
	json_t *r;

	(void)cl;
	rand_hex(ticket, 32);
	smap_put(&g.tickets, ticket, t);
	smap_evict(&g.tickets, TICKETS_CAP);
	r = json_pack("{s:b}", "ok", 1);
	json_object_set_new(r, "url", json_sprintf("ws://127.0.0.1:%d/link/?ticket=%s&app_id=%s",
						  g.port, ticket, APP_ID));
	return r;
}

static json_t *m_auth_test(struct call *cl)
{
	(void)cl;
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "ok", 1,
			 "url", "https://fake.slack.com/", "team", "Fake", "user", "viva",
			 "team_id", TEAM_ID, "user_id", BOT_USER, "bot_id", BOT_ID,
			 "is_enterprise_install", 0);
}

static json_t *m_post_message(struct call *cl)
{
	const char *ch = arg_str(cl->args, "channel");
	json_t *blocks = NULL, *resp, *msg;
	struct message *m;
	char ts[32], dm[64];

	if (channel_error(ch))
		return err_resp(channel_error(ch));
	resp = check_message(cl->args, 40000, &blocks);
	if (resp)
		return resp;
	if (ch[0] == 'U' || ch[0] == 'W') {
		/* posting to a user id lands in the DM with the bot */
		snprintf(dm, sizeof(dm), "D%s", ch + 1);
		ch = dm;
	}
	new_ts(ts);
	m = xcalloc(1, sizeof(*m));
	snprintf(m->channel, sizeof(m->channel), "%s", ch);
	smap_put(&g.messages, ts, m);
	smap_evict(&g.messages, STORE_CAP);
	msg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "message", "text",
			arg_str(cl->args, "text") ? arg_str(cl->args, "text") : "", "user", BOT_USER,
			"bot_id", BOT_ID, "app_id", APP_ID, "ts", ts);
	if (blocks)
		json_object_set_new(msg, "blocks", blocks);
	if (arg_str(cl->args, "thread_ts"))
		json_object_set_new(msg, "thread_ts", json_string(arg_str(cl->args, "thread_ts")));
	return json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "channel", ch, "ts", ts, "message", msg);
}

static json_t *m_update(struct call *cl)
{
	const char *ch = arg_str(cl->args, "channel");
	const char *ts = arg_str(cl->args, "ts");
	const char *text = arg_str(cl->args, "text");
	json_t *blocks = NULL, *resp;
	struct message *m;

	if (!channel_ok(ch))
		return err_resp("channel_not_found");
	m = ts ? smap_get(&g.messages, ts) : NULL;
	if (!m || strcmp(m->channel, ch) != 0)
		return err_resp("message_not_found");
	resp = check_message(cl->args, 4000, &blocks);
	if (resp)
		return resp;
	m->updates++;
	resp = json_pack("{s:b, s:s, s:s, s:s}", "ok", 1, "channel", ch, "ts", ts,
			 "text", text ? text : "");
	json_object_set_new(resp, "message", json_pack("{s:s, s:s, s:s}", "type", "message",
			"text", text ? text : "", "user", BOT_USER));
	if (blocks)
		json_object_set_new(json_object_get(resp, "message"), "blocks", blocks);
	return resp;
}

static json_t *m_post_ephemeral(struct call *cl)
{
	const char *ch = arg_str(cl->args, "channel");
	const char *user = arg_str(cl->args, "user");
	json_t *blocks = NULL, *resp;
	char ts[32];

	if (channel_error(ch))
		return err_resp(channel_error(ch));
	if (!user || !user_id_ok(user))
		return err_resp("user_not_found");
	resp = check_message(cl->args, 40000, &blocks);
	if (resp)
		return resp;
	json_decref(blocks);
	/* ephemeral ts are not stored: chat.update can never edit them */
	new_ts(ts);
	return json_pack("{s:b, s:s}", "ok", 1, "message_ts", ts);
}

/* The view object views.* answer with. */
static json_t *view_reply(const char *id, const struct view *v)
{
	json_t *out = json_deep_copy(v->view);

	json_object_set_new(out, "id", json_string(id));
	json_object_set_new(out, "team_id", json_string(TEAM_ID));
	json_object_set_new(out, "hash", json_string(v->hash));
	json_object_set_new(out, "root_view_id", json_string(id));
	json_object_set_new(out, "previous_view_id", json_null());
	json_object_set_new(out, "app_id", json_string(APP_ID));
	json_object_set_new(out, "bot_id", json_string(BOT_ID));
	json_object_set_new(out, "app_installed_team_id", json_string(TEAM_ID));
	json_object_set_new(out, "state", json_pack("{s:{}}", "values"));
	set_default(out, "private_metadata", json_string(""));
	set_default(out, "callback_id", json_string(""));
	set_default(out, "external_id", json_string(""));
	set_default(out, "clear_on_close", json_false());
	set_default(out, "notify_on_close", json_false());
	set_default(out, "close", json_null());
	set_default(out, "submit", json_null());
	return json_pack("{s:b, s:o}", "ok", 1, "view", out);
}

static void view_free(void *p)
{
	struct view *v = p;

	json_decref(v->view);
	free(v);
}

static void new_hash(char out[48])
{
	char h[17];

	rand_hex(h, 16);
	snprintf(out, 48, "%lld.%s", (long long)(wall_us() / 1000000), h);
}

static bool external_id_taken(const char *ext, const char *except_id)
{
	for (struct sent *s = g.views.oldest; s; s = s->newer) {
		struct view *v = s->val;
		if (v->external_id[0] && strcmp(v->external_id, ext) == 0 &&
		    (!except_id || strcmp(s->key, except_id) != 0))
			return true;
	}
	return false;
}

/* Parse and validate args.view; on failure *err gets the response. */
static json_t *take_view(const json_t *args, json_t **err)
{
	bool bad = false;
	json_t *view = arg_json(args, "view", &bad);
	json_t *msgs;
	const char *code;

	*err = NULL;
	if (!view) {
		*err = bad ? err_resp("invalid_json") : err_resp("invalid_arguments");
		return NULL;
	}
	msgs = json_array();
	code = fsb_check_view(view, msgs);
	if (code) {
		*err = err_resp_msgs(code, msgs);
		json_decref(view);
		return NULL;
	}
	json_decref(msgs);
	return view;
}

/* views.open and views.push: both spend a trigger_id. */
static json_t *m_views_open(struct call *cl)
{
	const char *tid = arg_str(cl->args, "trigger_id");
	struct trigger *t = tid ? smap_get(&g.triggers, tid) : NULL;
	const char *ext;
	json_t *view, *err;
	struct view *v;
	char id[16];

	if (!t)
		return err_resp("invalid_trigger_id");
	if (t->used)
		return err_resp("exchanged_trigger_id");
	if (cl->now_us - t->issued_us >= g.trigger_ttl_us)
		return err_resp("expired_trigger_id");
	view = take_view(cl->args, &err);
	if (!view)
		return err;
	ext = arg_str(view, "external_id");
	if (ext && external_id_taken(ext, NULL)) {
		json_decref(view);
		return err_resp("duplicate_external_id");
	}
	t->used = true;
	v = xcalloc(1, sizeof(*v));
	v->view = view;
	new_hash(v->hash);
	snprintf(v->external_id, sizeof(v->external_id), "%s", ext ? ext : "");
	id[0] = 'V';
	rand_upper(id + 1, 10);
	smap_put(&g.views, id, v);
	smap_evict(&g.views, VIEWS_CAP);
	return view_reply(id, v);
}

static json_t *m_views_update(struct call *cl)
{
	const char *vid = arg_str(cl->args, "view_id");
	const char *ext = arg_str(cl->args, "external_id");
	const char *hash = arg_str(cl->args, "hash");
	const char *new_ext;
	struct view *v = NULL;
	json_t *view, *err;

	if (vid && *vid) {
		v = smap_get(&g.views, vid);
	} else if (ext && *ext) {
		for (struct sent *s = g.views.oldest; s; s = s->newer)
			if (strcmp(((struct view *)s->val)->external_id, ext) == 0) {
				v = s->val;
				vid = s->key;
			}
	} else {
		return err_resp("invalid_arguments");
	}
	if (!v)
		return err_resp("not_found");
	if (hash && *hash && strcmp(hash, v->hash) != 0)
		return err_resp("hash_conflict");
	view = take_view(cl->args, &err);
	if (!view)
		return err;
	new_ext = arg_str(view, "external_id");
	if (new_ext && external_id_taken(new_ext, vid)) {
		json_decref(view);
		return err_resp("duplicate_external_id");
	}
	json_decref(v->view);
	v->view = view;
	if (new_ext)
		snprintf(v->external_id, sizeof(v->external_id), "%s", new_ext);
	new_hash(v->hash);
	return view_reply(vid, v);
}

static json_t *m_usergroup_users(struct call *cl)
{
	const char *id = arg_str(cl->args, "usergroup");
	json_t *users = id ? smap_get(&g.usergroups, id) : NULL;

	if (!users)
		return err_resp("no_such_subteam");
	return json_pack("{s:b, s:O}", "ok", 1, "users", users);
}

static json_t *m_users_info(struct call *cl)
{
	const char *id = arg_str(cl->args, "user");
	char name[64];

	if (!id || !user_id_ok(id))
		return err_resp("user_not_found");
	snprintf(name, sizeof(name), "user-%s", id);
	for (char *p = name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	return json_pack("{s:b, s:{s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:{s:s, s:s}}}", "ok", 1,
			 "user", "id", id, "team_id", TEAM_ID, "name", name, "deleted", 0,
			 "is_bot", 0, "is_admin", 0, "real_name", name, "tz", "UTC",
			 "profile", "display_name", name, "real_name", name);
}

static json_t *m_conversations_open(struct call *cl)
{
	const char *users = arg_str(cl->args, "users");
	const char *ch = arg_str(cl->args, "channel");
	char id[64];

	if (ch && *ch)
		return json_pack("{s:b, s:{s:s}}", "ok", 1, "channel", "id", ch);
	if (!users || !*users)
		return err_resp("users_list_not_supplied");
	if (strchr(users, ',')) {
		id[0] = 'G';
		rand_upper(id + 1, 10);
	} else if (user_id_ok(users)) {
		snprintf(id, sizeof(id), "D%s", users + 1);
	} else {
		return err_resp("user_not_found");
	}
	return json_pack("{s:b, s:{s:s}}", "ok", 1, "channel", "id", id);
}

static void upload_free(void *p)
{
	struct upload *u = p;

	if (!u)
		return;
	g.upload_bytes -= u->nbytes;
	free(u->bytes);
	free(u->filename);
	free(u->alt_txt);
	free(u->snippet_type);
	free(u->title);
	free(u->channel);
	free(u->initial_comment);
	free(u->thread_ts);
	json_decref(u->blocks);
	free(u);
}

/* ok:false, error `code`, with one "[ERROR] ..." line as Slack words them. */
static json_t *err_arg(const char *code, const char *msg)
{
	return err_resp_msgs(code, json_pack("[s]", msg));
}

/*
 * Step 1 of an external upload. Form-encoded only (or URL arguments, as
 * the older page's GET): a JSON body is not read, so its fields are
 * missing, as they would be for Slack, and the fake says why.
 */
static json_t *m_files_upload_url(struct call *cl)
{
	const char *fname = arg_str(cl->args, "filename");
	const char *len_s = arg_str(cl->args, "length");
	const char *alt = arg_str(cl->args, "alt_txt");
	const char *snip = arg_str(cl->args, "snippet_type");
	struct upload *u;
	char tok[33];
	long long len;

	if (cl->json) {
		perr(0, "json_for_form_method", "method=files.getUploadURLExternal");
		return err_arg("invalid_arguments", "[ERROR] this method takes form-encoded arguments "
			       "(application/x-www-form-urlencoded), not JSON");
	}
	if (!fname || !*fname)
		return err_arg("invalid_arguments", "[ERROR] missing required field: filename");
	if (!len_s || !*len_s)
		return err_arg("invalid_arguments", "[ERROR] missing required field: length");
	if (len_s[strspn(len_s, "0123456789")] != '\0' || strlen(len_s) > 15)
		return err_arg("invalid_arguments", "[ERROR] length must be a whole number of bytes");
	len = atoll(len_s);
	if (len == 0)
		return err_resp("missing_argument");
	if (alt && fsb_utf8_len(alt) > ALT_TEXT_MAX)
		return err_arg("invalid_arguments", "[ERROR] alt_txt must be at most 1000 characters");
	if (g.uploads_disabled)
		return err_resp("file_uploads_disabled");
	if (snip && *snip && len > SNIPPET_MAX)
		return err_resp("snippet_too_large");
	if (len > g.max_upload_bytes)
		return err_resp("file_upload_size_restricted");
	u = xcalloc(1, sizeof(*u));
	u->id[0] = 'F';
	rand_upper(u->id + 1, 10);
	u->filename = xstrdup(fname);
	u->alt_txt = alt ? xstrdup(alt) : NULL;
	u->snippet_type = snip && *snip ? xstrdup(snip) : NULL;
	u->length = len;
	/* the URL's secret is not the file id: knowing one gives not the other */
	rand_hex(tok, 32);
	smap_put(&g.upload_urls, tok, xstrdup(u->id));
	smap_evict(&g.upload_urls, UPLOADS_CAP);
	smap_put(&g.uploads, u->id, u);
	smap_evict(&g.uploads, UPLOADS_CAP);
	return json_pack("{s:b, s:o, s:s}", "ok", 1, "upload_url",
			 json_sprintf("http://127.0.0.1:%d/upload/v1/%s", g.port, tok), "file_id", u->id);
}

/*
 * Step 3: share uploaded files in a channel, exactly once. This fake
 * requires channel_id (Slack would keep a file without one private: viva
 * must always say where the file goes, SPEC section 9) and refuses the
 * legacy `channels` list.
 */
static json_t *m_files_complete(struct call *cl)
{
	const char *ch = arg_str(cl->args, "channel_id");
	const char *comment = arg_str(cl->args, "initial_comment");
	const char *thread = arg_str(cl->args, "thread_ts");
	json_t *files = NULL, *blocks = NULL, *out = NULL, *f, *resp = NULL, *msgs;
	bool bad = false;
	size_t i;

	if (cl->json) {
		perr(0, "json_for_form_method", "method=files.completeUploadExternal");
		return err_arg("invalid_arguments", "[ERROR] this method takes form-encoded arguments "
			       "(application/x-www-form-urlencoded), not JSON");
	}
	if (arg_str(cl->args, "channels"))
		perr(0, "channels_instead_of_channel_id", "method=files.completeUploadExternal");
	files = arg_json(cl->args, "files", &bad);
	if (bad || !json_is_array(files) || !json_array_size(files)) {
		resp = err_arg("invalid_arguments", "[ERROR] files must be a JSON array of {\"id\",\"title\"}");
		goto out;
	}
	if (json_array_size(files) > COMPLETE_FILES_MAX) {
		resp = err_resp("too_many_files");
		goto out;
	}
	if (!ch || !*ch) {
		resp = err_arg("invalid_arguments", "[ERROR] missing required field: channel_id "
			       "(this fake requires it: without it the file is shared nowhere)");
		goto out;
	}
	if (channel_error(ch)) {
		resp = err_resp(channel_error(ch));
		goto out;
	}
	if (comment && fsb_utf8_len(comment) > 40000) {
		resp = err_resp("msg_too_long");
		goto out;
	}
	blocks = arg_json(cl->args, "blocks", &bad);
	if (bad || (blocks && !json_is_array(blocks))) {
		resp = err_resp("invalid_blocks_format");
		goto out;
	}
	if (blocks) {
		msgs = json_array();
		if (fsb_check_blocks(blocks, FSB_MESSAGE, "/blocks", msgs)) {
			resp = err_resp_msgs("invalid_blocks", msgs);
			goto out;
		}
		json_decref(msgs);
	}
	/* every file first, so that a refused call changes nothing */
	json_array_foreach(files, i, f) {
		const char *id = arg_str(f, "id");
		const json_t *title = json_object_get(f, "title");
		struct upload *u = id ? smap_get(&g.uploads, id) : NULL;

		if (!json_is_object(f) || !id || (title && !json_is_string(title))) {
			resp = err_arg("invalid_arguments", "[ERROR] each file needs a string id (and a string title)");
			goto out;
		}
		if (!u) {
			resp = err_resp("file_not_found");
			goto out;
		}
		if (!u->uploaded) {
			perr(0, "complete_before_upload", "file=%s", id);
			resp = err_resp("file_not_found");
			goto out;
		}
		if (u->completed) {
			perr(0, "completed_twice", "file=%s", id);
			resp = err_resp("file_not_found");
			goto out;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(arg_str(json_array_get(files, k), "id"), id) == 0) {
				resp = err_arg("invalid_arguments", "[ERROR] a file is listed twice");
				goto out;
			}
		}
	}
	out = json_array();
	json_array_foreach(files, i, f) {
		struct upload *u = smap_get(&g.uploads, arg_str(f, "id"));
		const char *title = arg_str(f, "title");

		u->completed = true;
		u->title = xstrdup(title && *title ? title : u->filename);
		u->channel = xstrdup(ch);
		u->initial_comment = comment ? xstrdup(comment) : NULL;
		u->thread_ts = thread && *thread ? xstrdup(thread) : NULL;
		/* Slack ignores blocks when initial_comment is given */
		u->blocks = comment && *comment ? NULL : json_incref(blocks);
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:I}", "id", u->id, "title", u->title,
						     "name", u->filename, "size", (json_int_t)u->nbytes));
	}
	resp = json_pack("{s:b, s:o}", "ok", 1, "files", out);
out:
	json_decref(files);
	json_decref(blocks);
	return resp;
}

enum token_kind { TOK_BOT, TOK_APP, TOK_ANY };

static const struct method {
	const char *name;
	enum token_kind token;
	json_t *(*fn)(struct call *cl);
} methods[] = {
	{ "apps.connections.open",        TOK_APP, m_connections_open },
	{ "auth.test",                    TOK_ANY, m_auth_test },
	{ "chat.postMessage",             TOK_BOT, m_post_message },
	{ "chat.update",                  TOK_BOT, m_update },
	{ "chat.postEphemeral",           TOK_BOT, m_post_ephemeral },
	{ "views.open",                   TOK_BOT, m_views_open },
	{ "views.push",                   TOK_BOT, m_views_open },
	{ "views.update",                 TOK_BOT, m_views_update },
	{ "usergroups.users.list",        TOK_BOT, m_usergroup_users },
	{ "users.info",                   TOK_BOT, m_users_info },
	{ "conversations.open",           TOK_BOT, m_conversations_open },
	{ "files.getUploadURLExternal",   TOK_BOT, m_files_upload_url },
	{ "files.completeUploadExternal", TOK_BOT, m_files_complete },
};

static const struct method *find_method(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

static struct ratelimit *find_rl(const char *method)
{
	for (size_t i = 0; i < g.n_rl; i++)
		if (strcmp(g.rl[i].method, method) == 0)
			return &g.rl[i];
	return NULL;
}

/* ---- HTTP plumbing ----------------------------------------------------- */

struct req {
	bool active;
	int method;                  /* LWSHUMETH_*, -1 unknown */
	char path[512];
	json_t *query;               /* decoded URL arguments */
	char ctype[128];
	char auth[512];
	bool has_auth;
	struct strbuf body;
	size_t max_body;             /* MAX_BODY, or MAX_UPLOAD_BODY for an upload URL */
	bool too_big;
	/* the answer, written from LWS_CALLBACK_HTTP_WRITEABLE */
	bool resp_ready;
	int status;
	char resp_ctype[64];
	char *resp;
	size_t resp_len;
	int retry_after;             /* >0: add Retry-After */
	bool close_after;
	bool stop_after;
};

struct pss {
	struct conn *conn;           /* WebSocket connections */
	bool debug_reconnects;
	struct req req;              /* HTTP transactions */
};

static void req_release(struct req *r)
{
	if (!r->active)
		return;
	json_decref(r->query);
	sb_release(&r->body);
	free(r->resp);
	memset(r, 0, sizeof(*r));
}

static void req_init(struct req *r, struct lws *wsi, const char *uri)
{
	char *uri_ptr = NULL;
	int uri_len = 0;
	char arg[2048];

	req_release(r);
	r->active = true;
	sb_init(&r->body);
	r->query = json_object();
	r->method = lws_http_get_uri_and_method(wsi, &uri_ptr, &uri_len);
	snprintf(r->path, sizeof(r->path), "%s", uri ? uri : "");
	r->max_body = strncmp(r->path, "/upload/", 8) == 0 ? MAX_UPLOAD_BODY : MAX_BODY;
	if (lws_hdr_copy(wsi, r->ctype, sizeof(r->ctype), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
		r->ctype[0] = '\0';
	r->has_auth = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0;
	if (!r->has_auth ||
	    lws_hdr_copy(wsi, r->auth, sizeof(r->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		r->auth[0] = '\0';
	for (int i = 0; i < QUERY_ARGS_MAX; i++) {
		char *eq;

		if (lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
			break;
		eq = strchr(arg, '=');
		if (eq)
			*eq = '\0';
		if (arg[0])
			json_object_set_new(r->query, arg, json_string(eq ? eq + 1 : ""));
	}
}

/* Queue the answer; it goes out when the socket is writable. */
static void respond_raw(struct lws *wsi, struct req *r, int status, const char *ctype,
			char *body, size_t len)
{
	free(r->resp);
	r->resp = body;
	r->resp_len = len;
	r->status = status;
	snprintf(r->resp_ctype, sizeof(r->resp_ctype), "%s", ctype);
	r->resp_ready = true;
	lws_callback_on_writable(wsi);
}

/* Serialize and queue a JSON answer (resp is borrowed). */
static size_t respond(struct lws *wsi, struct req *r, int status, json_t *resp)
{
	char *s = json_dumps(resp, JSON_COMPACT);

	if (!s)
		s = xstrdup("{\"ok\":false,\"error\":\"internal_error\"}");
	respond_raw(wsi, r, status, "application/json; charset=utf-8", s, strlen(s));
	return r->resp_len;
}

static int http_write(struct lws *wsi, struct req *r)
{
	unsigned char hbuf[LWS_PRE + 1024];
	unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
	unsigned char *body;
	char ra[16];
	int n;

	if (!r->resp_ready)
		return 0;
	r->resp_ready = false;
	if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->resp_ctype,
					(lws_filepos_t)r->resp_len, &p, end))
		return -1;
	if (r->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", r->retry_after);
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"Retry-After:",
						(const unsigned char *)ra, (int)strlen(ra), &p, end))
			return -1;
	}
	if (r->close_after &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"Connection:",
					(const unsigned char *)"close", 5, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	body = xmalloc(LWS_PRE + r->resp_len + 1);
	memcpy(body + LWS_PRE, r->resp, r->resp_len);
	n = lws_write(wsi, body + LWS_PRE, r->resp_len, LWS_WRITE_HTTP_FINAL);
	free(body);
	if (n < 0)
		return -1;
	if (r->stop_after)
		g_stop = 1;
	if (r->close_after)
		return -1;
	req_release(r);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static bool ctype_is(const char *ctype, const char *want)
{
	return strncasecmp(ctype, want, strlen(want)) == 0;
}

/*
 * Arguments of a Web API call: JSON or form body, plus URL arguments.
 * Returns NULL and sets *err ("invalid_json"/"json_not_object") on a bad body.
 */
static json_t *parse_args(struct req *r, const char **err)
{
	json_t *args = NULL;
	const char *key;
	json_t *v;

	*err = NULL;
	if (r->body.len == 0) {
		args = json_object();
	} else if (ctype_is(r->ctype, "application/json")) {
		args = json_loadb(r->body.buf, r->body.len, JSON_DECODE_ANY, NULL);
		if (!args) {
			*err = "invalid_json";
			return NULL;
		}
		if (!json_is_object(args)) {
			json_decref(args);
			*err = "json_not_object";
			return NULL;
		}
	} else {
		/* Slack reads anything that is not JSON as a form */
		args = parse_form(r->body.buf, r->body.len);
	}
	json_object_foreach(r->query, key, v) {
		if (!json_object_get(args, key))
			json_object_set(args, key, v);
	}
	return args;
}

/* Missing -> not_authed; anything but the expected bearer token -> invalid_auth. */
static const char *check_auth(const struct req *r, enum token_kind kind)
{
	const char *tok;

	if (!r->has_auth || !r->auth[0])
		return "not_authed";
	if (strncasecmp(r->auth, "Bearer ", 7) != 0)
		return "not_authed";
	tok = r->auth + 7;
	while (*tok == ' ')
		tok++;
	if (kind == TOK_APP)
		return strcmp(tok, g.app_token) == 0 ? NULL : "invalid_auth";
	if (kind == TOK_ANY && strcmp(tok, g.app_token) == 0)
		return NULL;
	return strcmp(tok, g.bot_token) == 0 ? NULL : "invalid_auth";
}

static void handle_web_api(struct lws *wsi, struct req *r, const char *name)
{
	int64_t now = mono_us();
	const struct method *m = find_method(name);
	const char *perr_code = NULL, *auth_err;
	json_t *args = NULL, *resp = NULL, *rec_body = NULL;
	struct ratelimit *rl;
	struct call cl;
	int status = 200;
	size_t n;

	args = parse_args(r, &perr_code);
	rec_body = args ? json_incref(args) :
		json_pack("{s:s%}", "_raw", r->body.buf, r->body.len < 1000 ? r->body.len : 1000);
	if (!rec_body)
		rec_body = json_pack("{s:b}", "_unreadable", 1);
	if (json_object_get(r->query, "token"))
		perr(0, "token_in_query", "method=%s", name);
	if (args && json_object_get(args, "token") && !json_object_get(r->query, "token"))
		perr(0, "token_in_body", "method=%s", name);
	if (!m) {
		resp = err_resp("unknown_method");
		goto out;
	}
	auth_err = check_auth(r, m->token);
	if (auth_err) {
		resp = err_resp(auth_err);
		goto out;
	}
	rl = find_rl(name);
	if (rl && rl->remaining > 0) {
		rl->remaining--;
		status = rl->status;
		r->retry_after = rl->retry_after;
		resp = err_resp(status == 429 ? "ratelimited" : "service_unavailable");
		goto out;
	}
	if (!args) {
		resp = err_resp(perr_code);
		goto out;
	}
	json_object_del(args, "token");
	cl.args = args;
	cl.now_us = now;
	cl.json = r->body.len > 0 && ctype_is(r->ctype, "application/json");
	resp = m->fn(&cl);
	if (json_is_true(json_object_get(resp, "ok")) && ctype_is(r->ctype, "application/json") &&
	    !strcasestr(r->ctype, "charset")) {
		/* what Slack says about a JSON body without a charset */
		json_object_set_new(resp, "warning", json_string("missing_charset"));
		json_object_set_new(resp, "response_metadata",
				    json_pack("{s:[s]}", "warnings", "missing_charset"));
	}
out:
	n = respond(wsi, r, status, resp);
	record_call(name, now, status, rec_body, resp, n + r->body.len);
	log_debug("web api", "method=%s status=%d ok=%d", name, status,
		  json_is_true(json_object_get(resp, "ok")));
	json_decref(rec_body);
	json_decref(args);
	json_decref(resp);
}

/* POST /response/<id>: a message for the conversation the payload came from. */
static void handle_response_url(struct lws *wsi, struct req *r, const char *id)
{
	int64_t now = mono_us();
	struct rurl *u = smap_get(&g.rurls, id);
	json_t *body = NULL, *resp = NULL, *blocks = NULL, *rec_body;
	struct ratelimit *rl;
	const char *rt;
	int status = 200;
	size_t n;

	if (r->body.len)
		body = json_loadb(r->body.buf, r->body.len, JSON_DECODE_ANY, NULL);
	rec_body = body ? json_incref(body) :
		json_pack("{s:s%}", "_raw", r->body.buf ? r->body.buf : "",
			  r->body.len < 1000 ? r->body.len : 1000);
	if (!rec_body)
		rec_body = json_pack("{s:b}", "_unreadable", 1);
	if (!u) {
		status = 404;
		resp = err_resp("invalid_url");
		goto out;
	}
	if (now - u->created_us > RURL_TTL_US) {
		status = 404;
		resp = err_resp("expired_url");
		goto out;
	}
	rl = find_rl("response_url");
	if (rl && rl->remaining > 0) {
		rl->remaining--;
		status = rl->status;
		r->retry_after = rl->retry_after;
		resp = err_resp(status == 429 ? "rate_limited" : "service_unavailable");
		goto out;
	}
	if (u->uses >= RURL_MAX_USES) {
		status = 404;
		resp = err_resp("used_too_many_times");
		perr(0, "response_url_overused", "url=%s", id);
		goto out;
	}
	if (!json_is_object(body)) {
		status = 400;
		resp = err_resp("invalid_payload");
		goto out;
	}
	if (arg_true(body, "delete_original")) {
		if (json_object_size(body) != 1) {
			status = 400;
			resp = err_resp_msgs("invalid_arguments", json_pack("[s]",
				"[ERROR] delete_original must be the only field [json-pointer:/]"));
		} else if (u->from_slash) {
			status = 400;
			resp = err_resp("cannot_delete_slash_command_message");
		}
		goto done;
	}
	rt = arg_str(body, "response_type");
	if (rt && strcmp(rt, "in_channel") != 0 && strcmp(rt, "ephemeral") != 0) {
		status = 400;
		resp = err_resp("invalid_response_type");
		goto out;
	}
	resp = check_message(body, 40000, &blocks);
	if (resp)
		status = 400;
	json_decref(blocks);
done:
	if (!resp) {
		u->uses++;
		resp = json_pack("{s:b}", "ok", 1);
	}
out:
	n = respond(wsi, r, status, resp);
	record_call("response_url", now, status, rec_body, resp, n + r->body.len);
	json_decref(rec_body);
	json_decref(body);
	json_decref(resp);
}

/*
 * The file part of a multipart/form-data body: *data and *len point into
 * body. false when the body is not a well-formed multipart body with a part.
 */
static bool multipart_file(const char *ctype, const char *body, size_t blen, const char **data, size_t *len)
{
	const char *b = strcasestr(ctype, "boundary=");
	char delim[128];
	const char *p, *end, *hdr_end;
	size_t n;

	if (!b)
		return false;
	b += 9;
	n = strcspn(b, "; ");
	if (n >= 2 && b[0] == '"' && b[n - 1] == '"') {
		b++;
		n -= 2;
	}
	if (n == 0 || n > 70)
		return false;
	snprintf(delim, sizeof(delim), "--%.*s", (int)n, b);
	n = strlen(delim);
	if (blen < n || memcmp(body, delim, n) != 0)
		return false;
	p = body + n;
	if (blen - n < 2 || memcmp(p, "\r\n", 2) != 0)
		return false;
	hdr_end = memmem(p, blen - (size_t)(p - body), "\r\n\r\n", 4);
	if (!hdr_end)
		return false;
	p = hdr_end + 4;
	/* the part ends at CRLF + delimiter */
	snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(n - 2), b);
	end = memmem(p, blen - (size_t)(p - body), delim, strlen(delim));
	if (!end)
		return false;
	*data = p;
	*len = (size_t)(end - p);
	return true;
}

/* Drop the contents of the oldest uploads until the kept bytes fit the cap. */
static void uploads_trim(void)
{
	for (struct sent *e = g.uploads.oldest; e && g.upload_bytes > UPLOAD_BYTES_CAP; e = e->newer) {
		struct upload *u = e->val;

		if (!u->bytes)
			continue;
		g.upload_bytes -= u->nbytes;
		free(u->bytes);
		u->bytes = NULL;
		u->evicted = true;
	}
}

/*
 * POST /upload/v1/<secret>: step 2 of the external upload. Slack documents
 * no token here and HTTP 200 as success; the bytes come raw or as a
 * multipart/form-data part, and must be exactly the length announced in
 * step 1. A URL takes one upload: used, it is gone.
 */
static void handle_upload(struct lws *wsi, struct req *r, const char *tok)
{
	const char *id = smap_get(&g.upload_urls, tok);
	struct upload *u = id ? smap_get(&g.uploads, id) : NULL;
	const char *data = r->body.buf ? r->body.buf : "";
	size_t len = r->body.len;
	struct ratelimit *rl = find_rl("file_upload");
	json_t *rec = json_pack("{s:s, s:I}", "file_id", u ? u->id : "", "bytes", (json_int_t)r->body.len);
	const char *why = NULL;
	int status = 200;
	bool multipart = ctype_is(r->ctype, "multipart/form-data");

	if (r->has_auth)
		perr(0, "token_sent_to_upload_url", "file=%s", u ? u->id : "?");
	if (r->method != LWSHUMETH_POST) {
		status = 405;
		why = "method_not_allowed";
	} else if (!u || u->uploaded) {
		status = 404;
		why = u ? "upload_url_used" : "invalid_upload_url";
	} else if (rl && rl->remaining > 0) {
		rl->remaining--;
		status = rl->status;
		r->retry_after = rl->retry_after;
		why = status == 429 ? "ratelimited" : "service_unavailable";
	} else if (multipart && !multipart_file(r->ctype, r->body.buf ? r->body.buf : "", r->body.len,
						 &data, &len)) {
		status = 400;
		why = "invalid_multipart";
	} else if ((int64_t)len != u->length) {
		status = 400;
		why = "length_mismatch";
		perr(0, "upload_length_mismatch", "file=%s announced=%lld posted=%zu", u->id,
		     (long long)u->length, len);
	}
	if (why) {
		json_object_set_new(rec, "error", json_string(why));
		record_call("file_upload", mono_us(), status, rec, NULL, 64);
		respond_raw(wsi, r, status, "text/plain", xstrdup(why), strlen(why));
	} else {
		char *text = xasprintf("OK - %zu", len);

		u->uploaded = true;
		u->multipart = multipart;
		snprintf(u->ctype, sizeof(u->ctype), "%s", r->ctype);
		u->bytes = xmalloc(len ? len : 1);
		memcpy(u->bytes, data, len);
		u->nbytes = len;
		g.upload_bytes += len;
		uploads_trim();
		record_call("file_upload", mono_us(), 200, rec, NULL, 64);
		respond_raw(wsi, r, 200, "text/plain", text, strlen(text));
	}
	json_decref(rec);
}

/* ---- control API ------------------------------------------------------- */

static int parse_etype(const char *s, enum etype *out)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, etype_names[i]) == 0) {
			*out = (enum etype)i;
			return 0;
		}
	return -1;
}

static int ctl_send(json_t *body, json_t **resp)
{
	enum etype type;
	json_t *p = json_object_get(body, "payload");
	const char *forced = arg_str(body, "envelope_id");
	struct envelope *e, *old;

	if (parse_etype(arg_str(body, "type"), &type) < 0) {
		*resp = err_resp("bad_type");
		return 400;
	}
	if (p && !json_is_object(p)) {
		*resp = err_resp("payload_not_object");
		return 400;
	}
	if (forced && (!*forced || strlen(forced) >= sizeof(e->id))) {
		*resp = err_resp("bad_envelope_id");
		return 400;
	}
	old = forced ? smap_get(&g.envs, forced) : NULL;
	if (old) {
		/* Slack has re-sent a finished envelope under its old id [OBS] */
		if (!env_finished(old) || old->queued) {
			*resp = err_resp("envelope_id_in_use");
			return 409;
		}
		smap_del(&g.envs, forced);
	}
	p = payload_prepare(type, p);
	*resp = json_pack("{s:b, s:O?, s:O?, s:O?}", "ok", 1,
			  "trigger_id", json_object_get(p, "trigger_id"),
			  "response_url", json_object_get(p, "response_url"),
			  "event_id", json_object_get(p, "event_id"));
	e = env_new(type, p, forced, (int)arg_int(body, "retry_attempt", 0),
		    arg_str(body, "retry_reason"), arg_true(body, "twice") ? 2 : 1);
	json_object_set_new(*resp, "envelope_id", json_string(e->id));
	env_dispatch(e, false);
	return 200;
}

static int ctl_flood(json_t *body, json_t **resp)
{
	json_int_t count = arg_int(body, "count", 0);
	const json_t *rate = json_object_get(body, "rate");
	double r = json_is_number(rate) ? json_number_value(rate) : 0;
	const json_t *p = json_object_get(body, "payload");
	enum etype type = ET_SLASH;

	if (arg_str(body, "type") && parse_etype(arg_str(body, "type"), &type) < 0) {
		*resp = err_resp("bad_type");
		return 400;
	}
	if (count <= 0 || count > FLOOD_MAX || !(r > 0 && r <= 1e6) || (p && !json_is_object(p))) {
		*resp = err_resp("bad_flood");
		return 400;
	}
	json_decref(g.flood.tmpl);
	g.flood.tmpl = p ? json_deep_copy(p) : NULL;
	g.flood.type = type;
	g.flood.on = true;
	g.flood.start_us = mono_us();
	g.flood.total = (uint64_t)count;
	g.flood.sent = 0;
	g.flood.rate = r;
	lws_sul_schedule(g.ctx, 0, &g.sul_flood, flood_tick, 1);
	*resp = json_pack("{s:b, s:I, s:f}", "ok", 1, "count", count, "rate", r);
	return 200;
}

static int ctl_disconnect(json_t *body, json_t **resp)
{
	static const char *const reasons[] = { "refresh_requested", "warning", "link_disabled",
					       "too_many_websockets", NULL };
	const char *reason = arg_str(body, "reason");
	const char *which = arg_str(body, "which");
	json_int_t grace = arg_int(body, "grace_ms", DEFAULT_GRACE_MS);
	struct conn *oldest = NULL;
	int64_t now = mono_us();
	int count = 0;
	bool known = false;

	for (const char *const *x = reasons; reason && *x; x++)
		known |= strcmp(*x, reason) == 0;
	if (!known || (which && strcmp(which, "oldest") != 0 && strcmp(which, "all") != 0) ||
	    grace < 0 || grace > 3600000) {
		*resp = err_resp("bad_disconnect");
		return 400;
	}
	for (struct conn *c = g.conns; c; c = c->next)
		if (c->hello_sent && !c->rejected && !c->dropped && !c->draining &&
		    (!oldest || c->opened_us <= oldest->opened_us))
			oldest = c;
	for (struct conn *c = g.conns; c; c = c->next) {
		if (!c->hello_sent || c->rejected || c->dropped || c->draining)
			continue;
		if ((!which || strcmp(which, "oldest") == 0) && c != oldest)
			continue;
		send_disconnect(c, reason);
		count++;
		if (strcmp(reason, "warning") == 0)
			continue;
		c->draining = true;
		if (strcmp(reason, "refresh_requested") == 0) {
			/* Slack keeps the old socket a while; envelopes go elsewhere */
			c->close_at_us = now + grace * 1000;
			if (grace == 0) {
				c->close_at_us = 0;
				c->rejected = true;
				conn_push(c, FK_CLOSE, NULL, NULL);
			}
		} else {
			c->rejected = true;
			conn_push(c, FK_CLOSE, NULL, NULL);
		}
	}
	*resp = json_pack("{s:b, s:i}", "ok", 1, "count", count);
	return 200;
}

static int ctl_drop(json_t *body, json_t **resp)
{
	int count = 0;

	(void)body;
	for (struct conn *c = g.conns; c; c = c->next) {
		if (c->dropped)
			continue;
		/* no close frame, no disconnect message: the TCP stream just ends */
		c->dropped = true;
		shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		count++;
	}
	*resp = json_pack("{s:b, s:i}", "ok", 1, "count", count);
	return 200;
}

/* POST /_fake/raw {"text": "..."}: one text frame, as given, to every live
 * connection that got hello (malformed-envelope tests). */
static int ctl_raw(json_t *body, json_t **resp)
{
	const char *text = arg_str(body, "text");
	int count = 0;

	if (!text) {
		*resp = err_resp("bad_raw");
		return 400;
	}
	for (struct conn *c = g.conns; c; c = c->next) {
		if (c->dropped)
			continue;
		conn_push(c, FK_TEXT, text, NULL);
		count++;
	}
	*resp = json_pack("{s:b, s:i}", "ok", 1, "count", count);
	return 200;
}

static int ctl_stall(json_t *body, json_t **resp)
{
	json_int_t ms = arg_int(body, "ms", 0);
	const char *which = arg_str(body, "which");
	struct conn *oldest = NULL;
	int count = 0;

	if (ms <= 0 || ms > 3600000) {
		*resp = err_resp("bad_stall");
		return 400;
	}
	for (struct conn *c = g.conns; c; c = c->next)
		if (!c->dropped && (!oldest || c->opened_us <= oldest->opened_us))
			oldest = c;
	for (struct conn *c = g.conns; c; c = c->next) {
		if (c->dropped || (which && strcmp(which, "oldest") == 0 && c != oldest))
			continue;
		/* a half-open socket: nothing read (so no pongs), nothing written */
		c->stall_until_us = mono_us() + ms * 1000;
		lws_rx_flow_control(c->wsi, 0);
		count++;
	}
	*resp = json_pack("{s:b, s:i}", "ok", 1, "count", count);
	return 200;
}

static int ctl_ratelimit(json_t *body, json_t **resp)
{
	const char *method = arg_str(body, "method");
	json_int_t count = arg_int(body, "count", 1);
	json_int_t ra = arg_int(body, "retry_after", 1);
	json_int_t st = arg_int(body, "status", 429);
	struct ratelimit *rl;

	if (!method || !*method || strlen(method) >= sizeof(rl->method) || count < 0 ||
	    count > 1000000 || ra < 0 || ra > 3600 || (st != 429 && (st < 500 || st > 504))) {
		*resp = err_resp("bad_ratelimit");
		return 400;
	}
	rl = find_rl(method);
	if (!rl) {
		if (g.n_rl == sizeof(g.rl) / sizeof(g.rl[0])) {
			*resp = err_resp("too_many_ratelimits");
			return 400;
		}
		rl = &g.rl[g.n_rl++];
		snprintf(rl->method, sizeof(rl->method), "%s", method);
	}
	rl->remaining = (int)count;
	rl->retry_after = (int)ra;
	rl->status = (int)st;
	*resp = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int ctl_usergroup(json_t *body, json_t **resp)
{
	const char *id = arg_str(body, "id");
	json_t *users = json_object_get(body, "users");
	size_t i;
	json_t *u;

	if (!id || !*id || !json_is_array(users)) {
		*resp = err_resp("bad_usergroup");
		return 400;
	}
	json_array_foreach(users, i, u) {
		if (!json_is_string(u)) {
			*resp = err_resp("bad_usergroup");
			return 400;
		}
	}
	smap_put(&g.usergroups, id, json_deep_copy(users));
	smap_evict(&g.usergroups, 1000);
	*resp = json_pack("{s:b}", "ok", 1);
	return 200;
}

/* POST /_fake/channel {"id":"C1", "exists":true, "member":true, "archived":false} */
static int ctl_channel(json_t *body, json_t **resp)
{
	const char *id = arg_str(body, "id");
	const json_t *ex = json_object_get(body, "exists"), *mem = json_object_get(body, "member");
	struct chan *c;

	if (!channel_ok(id)) {
		*resp = err_resp("bad_channel");
		return 400;
	}
	c = xcalloc(1, sizeof(*c));
	c->exists = !ex || json_is_true(ex);
	c->member = !mem || json_is_true(mem);
	c->archived = json_is_true(json_object_get(body, "archived"));
	smap_put(&g.channels, id, c);
	smap_evict(&g.channels, 10000);
	*resp = json_pack("{s:b}", "ok", 1);
	return 200;
}

static json_t *upload_json(const struct upload *u)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:b, s:b, s:s}", "id", u->id,
			      "filename", u->filename, "length", (json_int_t)u->length,
			      "bytes", (json_int_t)u->nbytes, "uploaded", u->uploaded,
			      "completed", u->completed, "multipart", u->multipart,
			      "content_evicted", u->evicted, "content_type", u->ctype);

	json_object_set_new(o, "title", u->title ? json_string(u->title) : json_null());
	json_object_set_new(o, "alt_txt", u->alt_txt ? json_string(u->alt_txt) : json_null());
	json_object_set_new(o, "snippet_type", u->snippet_type ? json_string(u->snippet_type) : json_null());
	json_object_set_new(o, "channel_id", u->channel ? json_string(u->channel) : json_null());
	json_object_set_new(o, "initial_comment", u->initial_comment ? json_string(u->initial_comment)
									 : json_null());
	json_object_set_new(o, "thread_ts", u->thread_ts ? json_string(u->thread_ts) : json_null());
	json_object_set_new(o, "blocks", u->blocks ? json_incref(u->blocks) : json_null());
	return o;
}

/* GET /_fake/files[?id=F..]: every upload (or one), oldest first, without contents. */
static int ctl_files(json_t *query, json_t **resp)
{
	const char *only = arg_str(query, "id");
	json_t *list = json_array();

	for (struct sent *e = g.uploads.oldest; e; e = e->newer) {
		const struct upload *u = e->val;

		if (!only || strcmp(only, u->id) == 0)
			json_array_append_new(list, upload_json(u));
	}
	*resp = json_pack("{s:b, s:o}", "ok", 1, "files", list);
	return 200;
}

static int ctl_config(json_t *body, json_t **resp)
{
	json_int_t v;
	const json_t *dis = json_object_get(body, "file_uploads_disabled");

	if ((v = arg_int(body, "ack_timeout_ms", -1)) > 0)
		g.ack_timeout_us = v * 1000;
	if ((v = arg_int(body, "ping_ms", -1)) >= 0)
		g.ping_us = v * 1000;
	if ((v = arg_int(body, "trigger_ttl_ms", -1)) > 0)
		g.trigger_ttl_us = v * 1000;
	if ((v = arg_int(body, "max_upload_bytes", -1)) > 0)
		g.max_upload_bytes = v;
	if (json_is_boolean(dis))
		g.uploads_disabled = json_is_true(dis);
	*resp = json_pack("{s:b, s:I, s:I, s:I, s:I, s:b}", "ok", 1,
			  "ack_timeout_ms", (json_int_t)(g.ack_timeout_us / 1000),
			  "ping_ms", (json_int_t)(g.ping_us / 1000),
			  "trigger_ttl_ms", (json_int_t)(g.trigger_ttl_us / 1000),
			  "max_upload_bytes", (json_int_t)g.max_upload_bytes,
			  "file_uploads_disabled", g.uploads_disabled);
	return 200;
}

static size_t count_open_with_hello(void)
{
	size_t n = 0;

	for (struct conn *c = g.conns; c; c = c->next)
		if (c->hello_sent && !c->rejected && !c->dropped)
			n++;
	return n;
}

static int ctl_state(json_t *body, json_t **resp)
{
	size_t live = 0;
	int64_t now = mono_us();

	(void)body;
	for (struct conn *c = g.conns; c; c = c->next)
		live += conn_live(c, now);
	*resp = json_object();
	json_object_set_new(*resp, "ok", json_true());
	json_object_set_new(*resp, "connections", json_integer((json_int_t)count_open_with_hello()));
	json_object_set_new(*resp, "live_connections", json_integer((json_int_t)live));
	json_object_set_new(*resp, "sockets", json_integer((json_int_t)conn_count_open()));
	json_object_set_new(*resp, "hellos", json_integer((json_int_t)g.st.hellos));
	json_object_set_new(*resp, "envelopes_sent", json_integer((json_int_t)g.st.envelopes_sent));
	json_object_set_new(*resp, "acks", json_integer((json_int_t)g.st.acks));
	json_object_set_new(*resp, "late_acks", json_integer((json_int_t)g.st.late_acks));
	json_object_set_new(*resp, "pending", json_integer((json_int_t)g.n_pending));
	json_object_set_new(*resp, "unacked", json_integer((json_int_t)g.n_inflight));
	json_object_set_new(*resp, "operation_timeouts", json_integer((json_int_t)g.st.operation_timeouts));
	json_object_set_new(*resp, "timed_out", json_deep_copy(g.timeouts));
	json_object_set_new(*resp, "redeliveries", json_integer((json_int_t)g.st.redeliveries));
	json_object_set_new(*resp, "event_failures", json_integer((json_int_t)g.st.event_failures));
	json_object_set_new(*resp, "protocol_errors", json_deep_copy(g.perrs));
	json_object_set_new(*resp, "protocol_error_count", json_integer((json_int_t)g.st.perr_total));
	json_object_set_new(*resp, "dropped_acks", json_integer((json_int_t)g.st.dropped_acks));
	json_object_set_new(*resp, "dropped_ack_ids", json_deep_copy(g.dropped_ids));
	json_object_set_new(*resp, "ignored_ack_payloads", json_integer((json_int_t)g.st.ignored_ack_payloads));
	json_object_set_new(*resp, "connections_opened", json_integer((json_int_t)g.st.connections_opened));
	json_object_set_new(*resp, "rejected_upgrades", json_integer((json_int_t)g.st.rejected_upgrades));
	json_object_set_new(*resp, "disconnects_sent", json_integer((json_int_t)g.st.disconnects_sent));
	json_object_set_new(*resp, "pings_sent", json_integer((json_int_t)g.st.pings_sent));
	json_object_set_new(*resp, "pongs", json_integer((json_int_t)g.st.pongs));
	json_object_set_new(*resp, "pending_waits", json_integer((json_int_t)g.st.pending_waits));
	json_object_set_new(*resp, "pending_wait_max_us", json_integer(g.st.pending_wait_max_us));
	json_object_set_new(*resp, "pending_wait_total_us", json_integer(g.st.pending_wait_total_us));
	json_object_set_new(*resp, "flood_running", json_boolean(g.flood.on));
	json_object_set_new(*resp, "flood_sent", json_integer((json_int_t)g.flood.sent));
	json_object_set_new(*resp, "ack_timeout_ms", json_integer(g.ack_timeout_us / 1000));
	return 200;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int ctl_acks(json_t *body, json_t **resp)
{
	int64_t *sorted = NULL;
	int64_t p50 = 0, p99 = 0;
	json_t *list = json_array();

	(void)body;
	if (g.lat_n) {
		sorted = xmalloc(g.lat_n * sizeof(*sorted));
		memcpy(sorted, g.lat, g.lat_n * sizeof(*sorted));
		qsort(sorted, g.lat_n, sizeof(*sorted), cmp_i64);
		p50 = sorted[(g.lat_n - 1) * 50 / 100];
		p99 = sorted[(g.lat_n - 1) * 99 / 100];
	}
	for (size_t i = 0; i < g.acks_n; i++) {
		const struct ack_rec *r = &g.acks[(g.acks_head + i) % ACK_LIST_CAP];

		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:O?}",
			"envelope_id", r->id, "type", etype_names[r->type],
			"latency_us", (json_int_t)r->latency_us, "waited_us", (json_int_t)r->waited_us,
			"t_ms", (json_int_t)t_ms(r->t_us), "conn", (json_int_t)r->conn,
			"late", r->late, "payload", r->payload));
	}
	*resp = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "ok", 1,
			  "count", (json_int_t)g.st.acks, "p50_us", (json_int_t)p50,
			  "p99_us", (json_int_t)p99, "max_us", (json_int_t)g.lat_max, "acks", list);
	free(sorted);
	return 200;
}

static int ctl_calls(json_t *query, json_t **resp)
{
	const char *only = arg_str(query, "method");
	json_t *list = json_array();

	for (size_t i = 0; i < g.calls_n; i++) {
		const struct call_rec *r = &g.calls[(g.calls_head + i) % CALLS_CAP];

		if (only && strcmp(only, r->method) != 0)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:O, s:i, s:O}",
			"method", r->method, "t_ms", (json_int_t)t_ms(r->t_us),
			"t_us", (json_int_t)(r->t_us - g.t0_us), "body", r->body,
			"status", r->status, "response", r->resp));
	}
	*resp = json_pack("{s:b, s:o}", "ok", 1, "calls", list);
	return 200;
}

static int ctl_reset(json_t *body, json_t **resp)
{
	struct envelope *e;

	(void)body;
	/* in-flight envelopes are forgotten, so a test's leftovers can't time out in the next */
	while ((e = pending_pop()))
		e->state = ES_CANCELLED;
	while (g.i_head) {
		e = g.i_head;
		inflight_remove(e);
		e->state = ES_CANCELLED;
	}
	for (struct sent *s = g.envs.oldest; s; s = s->newer) {
		e = s->val;
		if (!env_finished(e))
			e->state = ES_CANCELLED;
	}
	g.flood.on = false;
	json_decref(g.flood.tmpl);
	g.flood.tmpl = NULL;
	g.flood.sent = 0;
	lws_sul_cancel(&g.sul_flood);
	memset(&g.st, 0, sizeof(g.st));
	for (size_t i = 0; i < g.acks_n; i++)
		json_decref(g.acks[(g.acks_head + i) % ACK_LIST_CAP].payload);
	memset(g.acks, 0, ACK_LIST_CAP * sizeof(*g.acks));
	g.acks_head = g.acks_n = 0;
	g.lat_n = 0;
	g.lat_max = 0;
	for (size_t i = 0; i < g.calls_n; i++)
		call_rec_free(&g.calls[(g.calls_head + i) % CALLS_CAP]);
	g.calls_head = g.calls_n = g.calls_bytes = 0;
	json_array_clear(g.perrs);
	json_array_clear(g.timeouts);
	json_array_clear(g.dropped_ids);
	g.n_rl = 0;
	/* files and declared channels belong to the test that made them */
	smap_release(&g.uploads);
	smap_release(&g.upload_urls);
	smap_release(&g.channels);
	smap_init(&g.uploads, upload_free);
	smap_init(&g.upload_urls, free);
	smap_init(&g.channels, free);
	g.upload_bytes = 0;
	g.uploads_disabled = false;
	g.max_upload_bytes = DEFAULT_MAX_UPLOAD;
	*resp = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int ctl_shutdown(json_t *body, json_t **resp)
{
	(void)body;
	*resp = json_pack("{s:b}", "ok", 1);
	return 200;
}

static const struct ctl_route {
	int method;                  /* LWSHUMETH_GET / LWSHUMETH_POST */
	const char *path;
	int (*fn)(json_t *body, json_t **resp);
} ctl_routes[] = {
	{ LWSHUMETH_POST, "/_fake/send",       ctl_send },
	{ LWSHUMETH_POST, "/_fake/flood",      ctl_flood },
	{ LWSHUMETH_POST, "/_fake/disconnect", ctl_disconnect },
	{ LWSHUMETH_POST, "/_fake/drop",       ctl_drop },
	{ LWSHUMETH_POST, "/_fake/stall",      ctl_stall },
	{ LWSHUMETH_POST, "/_fake/raw",        ctl_raw },
	{ LWSHUMETH_POST, "/_fake/ratelimit",  ctl_ratelimit },
	{ LWSHUMETH_POST, "/_fake/usergroup",  ctl_usergroup },
	{ LWSHUMETH_POST, "/_fake/config",     ctl_config },
	{ LWSHUMETH_POST, "/_fake/channel",    ctl_channel },
	{ LWSHUMETH_POST, "/_fake/reset",      ctl_reset },
	{ LWSHUMETH_POST, "/_fake/shutdown",   ctl_shutdown },
	{ LWSHUMETH_GET,  "/_fake/state",      ctl_state },
	{ LWSHUMETH_GET,  "/_fake/acks",       ctl_acks },
	{ LWSHUMETH_GET,  "/_fake/calls",      ctl_calls },
	{ LWSHUMETH_GET,  "/_fake/files",      NULL },   /* ctl_files: takes the query */
	{ LWSHUMETH_GET,  "/_fake/file",       NULL },   /* the raw bytes of ?id= */
};

static void handle_control(struct lws *wsi, struct req *r)
{
	const struct ctl_route *rt = NULL;
	json_t *body = NULL, *resp = NULL;
	int status;

	for (size_t i = 0; i < sizeof(ctl_routes) / sizeof(ctl_routes[0]); i++)
		if (strcmp(ctl_routes[i].path, r->path) == 0)
			rt = &ctl_routes[i];
	if (!rt) {
		status = 404;
		resp = err_resp("no_such_control");
		goto out;
	}
	if (rt->method != r->method) {
		status = 405;
		resp = err_resp("method_not_allowed");
		goto out;
	}
	if (rt->fn == ctl_calls) {
		status = ctl_calls(r->query, &resp);
		goto out;
	}
	if (strcmp(rt->path, "/_fake/files") == 0) {
		status = ctl_files(r->query, &resp);
		goto out;
	}
	if (strcmp(rt->path, "/_fake/file") == 0) {
		const struct upload *u = smap_get(&g.uploads, arg_str(r->query, "id"));

		if (u && u->bytes) {
			unsigned char *copy = xmalloc(u->nbytes ? u->nbytes : 1);

			memcpy(copy, u->bytes, u->nbytes);
			respond_raw(wsi, r, 200, "application/octet-stream", (char *)copy, u->nbytes);
			return;
		}
		status = 404;
		resp = err_resp(u ? "no_content" : "file_not_found");
		goto out;
	}
	/* NUL allowed: a test may send what Slack may send, "\u0000" in text */
	body = r->body.len ? json_loadb(r->body.buf, r->body.len, JSON_ALLOW_NUL, NULL) : json_object();
	if (!json_is_object(body)) {
		status = 400;
		resp = err_resp("invalid_json");
		goto out;
	}
	status = rt->fn(body, &resp);
	if (rt->fn == ctl_shutdown)
		r->stop_after = true;
out:
	respond(wsi, r, status, resp);
	json_decref(body);
	json_decref(resp);
}

static void handle_request(struct lws *wsi, struct req *r)
{
	json_t *resp = NULL;

	if (r->too_big) {
		resp = err_resp("request_too_large");
		respond(wsi, r, 413, resp);
	} else if (strncmp(r->path, "/api/", 5) == 0) {
		if (r->method != LWSHUMETH_GET && r->method != LWSHUMETH_POST) {
			resp = err_resp("method_not_allowed");
			respond(wsi, r, 405, resp);
		} else {
			handle_web_api(wsi, r, r->path + 5);
		}
	} else if (strncmp(r->path, "/response/", 10) == 0 && r->method == LWSHUMETH_POST) {
		handle_response_url(wsi, r, r->path + 10);
	} else if (strncmp(r->path, "/upload/v1/", 11) == 0) {
		handle_upload(wsi, r, r->path + 11);
	} else if (strncmp(r->path, "/_fake/", 7) == 0) {
		handle_control(wsi, r);
	} else {
		resp = err_resp("not_found");
		respond(wsi, r, 404, resp);
	}
	json_decref(resp);
}

/* ---- WebSocket plumbing ------------------------------------------------ */

/* Upgrade filter: only /link/ with a ticket this fake issued and nobody used. */
static int ws_filter(struct lws *wsi, struct pss *pss)
{
	char uri[256], ticket[128], dbg[64];
	struct ticket *t;
	const char *tv;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
	    (strcmp(uri, "/link/") != 0 && strcmp(uri, "/link") != 0)) {
		g.st.rejected_upgrades++;
		return -1;
	}
	tv = lws_get_urlarg_by_name(wsi, "ticket=", ticket, (int)sizeof(ticket));
	t = tv ? smap_get(&g.tickets, tv) : NULL;
	if (!t || t->used) {
		g.st.rejected_upgrades++;
		perr(0, t ? "ticket_reused" : "unknown_ticket", "ticket_len=%zu", tv ? strlen(tv) : 0);
		return -1;
	}
	t->used = true;
	tv = lws_get_urlarg_by_name(wsi, "debug_reconnects=", dbg, (int)sizeof(dbg));
	pss->debug_reconnects = tv && strcmp(tv, "true") == 0;
	return 0;
}

static int ws_established(struct lws *wsi, struct pss *pss)
{
	struct conn *c = conn_new(wsi);

	pss->conn = c;
	c->debug_reconnects = pss->debug_reconnects;
	g.st.connections_opened++;
	if (conn_count_open() > MAX_SOCKETS) {
		c->rejected = true;
		send_disconnect(c, "too_many_websockets");
		conn_push(c, FK_CLOSE, NULL, NULL);
		log_info("socket refused", "conn=%u reason=too_many_websockets", c->id);
		return 0;
	}
	send_hello(c);
	log_info("socket open", "conn=%u", c->id);
	return 0;
}

static int ws_writeable(struct lws *wsi, struct conn *c)
{
	struct frame *f;
	int n;

	if (c->dropped)
		return -1;
	if (c->stall_until_us)
		return 0;
	if (c->want_ping) {
		unsigned char ping[LWS_PRE + 32];
		int len = snprintf((char *)ping + LWS_PRE, 32, "Ping from fake %u", c->id);

		c->want_ping = false;
		if (lws_write(wsi, ping + LWS_PRE, (size_t)len, LWS_WRITE_PING) < 0)
			return -1;
		g.st.pings_sent++;
		if (c->q_head)
			lws_callback_on_writable(wsi);
		return 0;
	}
	f = conn_pop(c);
	if (!f)
		return 0;
	if (f->kind == FK_CLOSE) {
		frame_free(f);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
	if (n < 0) {
		if (f->env)
			f->env->queued--;
		frame_free(f);
		return -1;
	}
	if (f->env) {
		env_written(f->env, c);
	} else if (f->kind == FK_HELLO) {
		c->hello_sent = true;
		g.st.hellos++;
		flush_pending();
	}
	frame_free(f);
	if (c->q_head)
		lws_callback_on_writable(wsi);
	return 0;
}

static void ws_receive(struct lws *wsi, struct conn *c, const void *in, size_t len)
{
	if (c->rx.len == 0 && !c->rx_overflow)
		c->rx_binary = lws_frame_is_binary(wsi);
	if (!c->rx_overflow) {
		if (c->rx.len + len > MAX_WS_MSG) {
			c->rx_overflow = true;
			sb_release(&c->rx);
			sb_init(&c->rx);
		} else {
			sb_add(&c->rx, in, len);
		}
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	if (c->rx_overflow) {
		g.st.dropped_acks++;
		perr(c->id, "message_too_large", "limit=%d", MAX_WS_MSG);
	} else if (c->rx_binary) {
		perr(c->id, "binary_frame", "bytes=%zu", c->rx.len);
	} else {
		handle_ack(c, c->rx.buf ? c->rx.buf : "", c->rx.len);
	}
	sb_release(&c->rx);
	sb_init(&c->rx);
	c->rx_overflow = false;
	c->rx_binary = false;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	struct pss *pss = user;

	/* every reason handled below comes with its connection's pss */
	if (!pss)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		req_init(&pss->req, wsi, in);
		if (pss->req.method == LWSHUMETH_POST) {
			char cl[32];

			if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
				/* lws 4.1 does not decode chunked request bodies */
				json_t *resp = err_resp("length_required");

				pss->req.close_after = true;
				respond(wsi, &pss->req, 411, resp);
				json_decref(resp);
				return 0;
			}
			if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
				/*
				 * No length means no body (RFC 9112 6.3), but lws waits
				 * for 100 MB: answer now and close so it never reads one.
				 */
				pss->req.close_after = true;
				handle_request(wsi, &pss->req);
				return 0;
			}
			if (cl[strspn(cl, "0123456789")] != '\0') {
				/* lws takes a negative length as "no body" and never completes */
				json_t *resp = err_resp("bad_content_length");

				pss->req.close_after = true;
				respond(wsi, &pss->req, 400, resp);
				json_decref(resp);
				return 0;
			}
			if (atoll(cl) > (long long)pss->req.max_body) {
				/* the body still arrives (and is dropped) before the answer */
				pss->req.too_big = true;
			}
			/* explicit lengths: the body arrives in HTTP_BODY callbacks */
			return 0;
		}
		if (pss->req.method != LWSHUMETH_GET) {
			json_t *resp = err_resp("method_not_allowed");

			pss->req.close_after = true;
			respond(wsi, &pss->req, 405, resp);
			json_decref(resp);
			return 0;
		}
		handle_request(wsi, &pss->req);
		return 0;

	case LWS_CALLBACK_HTTP_BODY:
		if (!pss->req.active || pss->req.too_big)
			return 0;
		if (pss->req.body.len + len > pss->req.max_body) {
			/* keep reading (lws discards nothing for us) but store no more */
			pss->req.too_big = true;
			sb_release(&pss->req.body);
			sb_init(&pss->req.body);
			return 0;
		}
		if (len)
			sb_add(&pss->req.body, in, len);
		return 0;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->req.active && !pss->req.resp_ready)
			handle_request(wsi, &pss->req);
		return 0;

	case LWS_CALLBACK_HTTP_WRITEABLE:
		return pss->req.active ? http_write(wsi, &pss->req) : 0;

	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			req_release(&pss->req);
		return 0;

	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return ws_filter(wsi, pss);

	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(wsi, pss);

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->conn ? ws_writeable(wsi, pss->conn) : 0;

	case LWS_CALLBACK_RECEIVE:
		if (pss->conn && !pss->conn->dropped)
			ws_receive(wsi, pss->conn, in, len);
		return 0;

	case LWS_CALLBACK_RECEIVE_PONG:
		g.st.pongs++;
		return 0;

	case LWS_CALLBACK_CLOSED:
		if (pss->conn) {
			conn_closed(pss->conn);
			pss->conn = NULL;
		}
		return 0;

	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "fake-slack", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- main -------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void lws_log_to_ours(int level, const char *line)
{
	char buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (level & LLL_ERR)
		log_error("lws", "line=\"%s\"", buf);
	else
		log_debug("lws", "line=\"%s\"", buf);
}

static void usage(void)
{
	fprintf(stderr, "usage: fake_slack --port N [--app-token T] [--bot-token T]\n"
			"                  [--ack-timeout-ms MS] [--ping-ms MS] [--log FILE] [-v]\n");
}

static int parse_ms(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || !end || *end || v < 0 || v > 3600000)
		return -1;
	*out = v;
	return 0;
}

static void fake_release(void)
{
	for (size_t i = 0; i < g.acks_n; i++)
		json_decref(g.acks[(g.acks_head + i) % ACK_LIST_CAP].payload);
	for (size_t i = 0; i < g.calls_n; i++)
		call_rec_free(&g.calls[(g.calls_head + i) % CALLS_CAP]);
	free(g.acks);
	free(g.calls);
	free(g.lat);
	json_decref(g.perrs);
	json_decref(g.timeouts);
	json_decref(g.dropped_ids);
	json_decref(g.flood.tmpl);
	smap_release(&g.envs);
	smap_release(&g.tickets);
	smap_release(&g.triggers);
	smap_release(&g.rurls);
	smap_release(&g.messages);
	smap_release(&g.views);
	smap_release(&g.usergroups);
	smap_release(&g.uploads);
	smap_release(&g.upload_urls);
	smap_release(&g.channels);
}

static void json_free_val(void *p) { json_decref(p); }

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	int64_t ack_ms = 3000, ping_ms = 10000, port = -1;
	const char *log_path = NULL;
	bool verbose = false;
	int log_fd = -1, rc = 1;

	g.app_token = "xapp-test";
	g.bot_token = "xoxb-test";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-v") == 0) {
			verbose = true;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--port") == 0 && parse_ms(v, &port) == 0 && port <= 65535)
			continue;
		if (strcmp(a, "--app-token") == 0 && *v)
			g.app_token = v;
		else if (strcmp(a, "--bot-token") == 0 && *v)
			g.bot_token = v;
		else if (strcmp(a, "--ack-timeout-ms") == 0 && parse_ms(v, &ack_ms) == 0 && ack_ms > 0)
			continue;
		else if (strcmp(a, "--ping-ms") == 0 && parse_ms(v, &ping_ms) == 0)
			continue;
		else if (strcmp(a, "--log") == 0)
			log_path = v;
		else {
			usage();
			return 2;
		}
	}
	if (port < 0) {
		usage();
		return 2;
	}

	log_set_level(LOG_OFF);
	if (log_path) {
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "fake_slack: cannot open log file %s: %s\n", log_path,
				strerror(errno));
			return 2;
		}
		log_set_fd(log_fd);
		log_set_level(verbose ? LOG_DEBUG : LOG_INFO);
	} else if (verbose) {
		log_set_level(LOG_DEBUG);
	}
	lws_set_log_level(verbose ? (LLL_ERR | LLL_WARN) : 0, lws_log_to_ours);

	if (getrandom(&g_rng, sizeof(g_rng), 0) != sizeof(g_rng) || !g_rng)
		g_rng = (uint64_t)wall_us() | 1;
	g.t0_us = mono_us();
	g.ack_timeout_us = ack_ms * 1000;
	g.ping_us = ping_ms * 1000;
	g.trigger_ttl_us = TRIGGER_TTL_US;
	smap_init(&g.envs, env_free);
	smap_init(&g.tickets, free);
	smap_init(&g.triggers, free);
	smap_init(&g.rurls, free);
	smap_init(&g.messages, free);
	smap_init(&g.views, view_free);
	smap_init(&g.usergroups, json_free_val);
	smap_init(&g.uploads, upload_free);
	smap_init(&g.upload_urls, free);
	smap_init(&g.channels, free);
	g.max_upload_bytes = DEFAULT_MAX_UPLOAD;
	g.acks = xcalloc(ACK_LIST_CAP, sizeof(*g.acks));
	g.calls = xcalloc(CALLS_CAP, sizeof(*g.calls));
	g.perrs = json_array();
	g.timeouts = json_array();
	g.dropped_ids = json_array();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&info, 0, sizeof(info));
	info.port = (int)port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.vhost_name = "fake-slack";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.max_http_header_data = 8192;
	info.max_http_header_pool = 64;
	info.timeout_secs = 10;
	g.ctx = lws_create_context(&info);
	if (!g.ctx) {
		fprintf(stderr, "fake_slack: cannot listen on 127.0.0.1:%lld\n", (long long)port);
		goto out;
	}
	g.vh = lws_get_vhost_by_name(g.ctx, "fake-slack");
	g.port = g.vh ? lws_get_vhost_listen_port(g.vh) : (int)port;
	lws_sul_schedule(g.ctx, 0, &g.sul_tick, tick, TICK_US);
	printf("READY port=%d\n", g.port);
	fflush(stdout);
	log_info("listening", "port=%d", g.port);
	/* Slack's servers do not share viva's CPUs; this one does. A short
	 * scheduler slice lets it read an ack as soon as it arrives instead of
	 * waiting behind the process it measures (same nice as everything). */
	if (thread_sched_latency(100, 0) != 0)
		log_debug("scheduling hint refused", "errno=%d", errno);

	/* the 10 ms tick wakes the loop, so a signal is seen promptly */
	while (!g_stop)
		if (lws_service(g.ctx, 0) < 0)
			break;
	rc = 0;
	log_info("stopping", "port=%d", g.port);
out:
	g.shutting_down = true;
	if (g.ctx) {
		lws_sul_cancel(&g.sul_tick);
		lws_sul_cancel(&g.sul_flood);
		lws_context_destroy(g.ctx);
	}
	fake_release();
	if (log_fd >= 0)
		close(log_fd);
	return rc;
}
