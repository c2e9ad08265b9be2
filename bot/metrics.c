/*
 * Process metrics in the Prometheus text exposition format 0.0.4.
 *
 * Plain counters and gauges are C11 atomics, so the event loop can count an
 * envelope or an ack without taking a lock. The labelled families keep a
 * small table under a mutex; their label values come partly from outside
 * (envelope types from Slack, method names), so each family holds at most
 * FAMILY_MAX_SETS label sets and anything beyond is counted under "other":
 * a misbehaving peer must not be able to grow our memory or the scrape.
 */
#include "bot/metrics.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY_MAX_SETS 256
#define FAMILY_MAX_LABELS 2
/* Longer label values are cut (at a UTF-8 boundary): they are ids, not text. */
#define LABEL_VALUE_MAX 128

/* ---- labelled counter families ------------------------------------------ */

struct series {
	char *vals[FAMILY_MAX_LABELS];   /* raw (unescaped) label values */
	uint64_t value;
};

struct family {
	const char *name;
	const char *help;
	const char *labels[FAMILY_MAX_LABELS];
	int nlabels;
	pthread_mutex_t mu;
	struct series *v;
	size_t n, cap;
	bool has_other;                  /* the overflow set exists (not counted in the cap) */
};

static struct family fam_envelopes = {
	.name = "viva_envelopes_total",
	.help = "Socket Mode envelopes received, by envelope type.",
	.labels = { "type" }, .nlabels = 1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};
static struct family fam_jobs = {
	.name = "viva_jobs_total",
	.help = "Jobs finished on worker threads, by result (ok, failed, rejected).",
	.labels = { "result" }, .nlabels = 1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};
static struct family fam_api = {
	.name = "viva_slack_api_calls_total",
	.help = "HTTP exchanges with the Slack Web API, by method and HTTP status (\"error\" when no answer).",
	.labels = { "method", "status" }, .nlabels = 2,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static struct family fam_http = {
	.name = "viva_http_requests_total",
	.help = "HTTP exchanges with outside systems, by client (slack, registry, ...) and HTTP status (\"error\" when no answer).",
	.labels = { "client", "status" }, .nlabels = 2,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static struct family fam_replies = {
	.name = "viva_replies_total",
	.help = "Answers to users, by kind (message, post, view) and result (delivered, deferred: kept to try again, undelivered).",
	.labels = { "kind", "result" }, .nlabels = 2,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};
static struct family fam_actions = {
	.name = "viva_actions_total",
	.help = "Commands and clicks run, by outcome (ok, failed, denied, invalid, duplicate).",
	.labels = { "outcome" }, .nlabels = 1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static struct family fam_deploys = {
	.name = "viva_deploys_total",
	.help = "Deploys that ended, by kind (canary, bluegreen, rollback) and outcome (ok, failed, abandoned).",
	.labels = { "kind", "outcome" }, .nlabels = 2,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

/*
 * The value as stored: at most LABEL_VALUE_MAX bytes of valid UTF-8 (the
 * format requires UTF-8; stray bytes become '?'). Escaping happens at render.
 */
static char *label_value_copy(const char *s)
{
	struct strbuf sb;
	size_t len;

	if (!s)
		s = "unknown";
	len = strlen(s);
	sb_init(&sb);
	for (size_t i = 0; i < len;) {
		size_t k = utf8_char_len((const unsigned char *)s + i, len - i);
		if (k == 0) {
			if (sb.len + 1 > LABEL_VALUE_MAX)
				break;
			sb_addc(&sb, '?');
			i++;
			continue;
		}
		if (sb.len + k > LABEL_VALUE_MAX)
			break;
		sb_add(&sb, s + i, k);
		i += k;
	}
	return sb_detach(&sb);
}

/* Printable ASCII that fits: stored exactly as given by label_value_copy. */
static bool label_plain(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= LABEL_VALUE_MAX || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return false;
	return true;
}

static bool series_matches(const struct family *f, const struct series *s, char *const vals[])
{
	for (int i = 0; i < f->nlabels; i++)
		if (strcmp(s->vals[i], vals[i]) != 0)
			return false;
	return true;
}

static void family_inc(struct family *f, const char *v0, const char *v1)
{
	char *vals[FAMILY_MAX_LABELS] = { NULL, NULL };
	struct series *hit = NULL;

	/*
	 * A series already seen, with values stored as given: count it without
	 * copying (the event loop counts every envelope and must not malloc).
	 */
	if (label_plain(v0) && (f->nlabels < 2 || label_plain(v1))) {
		const char *raw[FAMILY_MAX_LABELS] = { v0, f->nlabels > 1 ? v1 : NULL };

		pthread_mutex_lock(&f->mu);
		for (size_t i = 0; i < f->n; i++)
			if (series_matches(f, &f->v[i], (char *const *)raw)) {
				f->v[i].value++;
				pthread_mutex_unlock(&f->mu);
				return;
			}
		pthread_mutex_unlock(&f->mu);
	}
	/* Copy (sanitise) outside the lock: it allocates. */
	vals[0] = label_value_copy(v0);
	if (f->nlabels > 1)
		vals[1] = label_value_copy(v1);

	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++)
		if (series_matches(f, &f->v[i], vals)) {
			hit = &f->v[i];
			break;
		}
	if (!hit && f->n - (f->has_other ? 1 : 0) >= FAMILY_MAX_SETS) {
		/* Full: count it under the overflow set. */
		for (int i = 0; i < f->nlabels; i++) {
			free(vals[i]);
			vals[i] = xstrdup("other");
		}
		for (size_t i = 0; i < f->n; i++)
			if (series_matches(f, &f->v[i], vals)) {
				hit = &f->v[i];
				break;
			}
		if (!hit)
			f->has_other = true;
	}
	if (!hit) {
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 8;
			f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
		}
		hit = &f->v[f->n++];
		memset(hit, 0, sizeof(*hit));
		for (int i = 0; i < f->nlabels; i++) {
			hit->vals[i] = vals[i];
			vals[i] = NULL;   /* now owned by the series */
		}
	}
	hit->value++;
	pthread_mutex_unlock(&f->mu);

	for (int i = 0; i < FAMILY_MAX_LABELS; i++)
		free(vals[i]);
}

static void family_reset(struct family *f)
{
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++)
		for (int k = 0; k < f->nlabels; k++)
			free(f->v[i].vals[k]);
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
	f->has_other = false;
	pthread_mutex_unlock(&f->mu);
}

/* Label value escaping of the text format: \\, \" and \n. */
static void add_label_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': sb_adds(sb, "\\\\"); break;
		case '"':  sb_adds(sb, "\\\""); break;
		case '\n': sb_adds(sb, "\\n"); break;
		default:   sb_addc(sb, *s);
		}
	}
}

static void add_header(struct strbuf *sb, const char *name, const char *help, const char *type)
{
	/* HELP text is ours (no backslash or newline), so it needs no escaping. */
	sb_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void family_render(struct family *f, struct strbuf *sb)
{
	add_header(sb, f->name, f->help, "counter");
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		sb_adds(sb, f->name);
		sb_addc(sb, '{');
		for (int k = 0; k < f->nlabels; k++) {
			if (k)
				sb_addc(sb, ',');
			sb_adds(sb, f->labels[k]);
			sb_adds(sb, "=\"");
			add_label_value(sb, f->v[i].vals[k]);
			sb_addc(sb, '"');
		}
		sb_addf(sb, "} %" PRIu64 "\n", f->v[i].value);
	}
	pthread_mutex_unlock(&f->mu);
}

/* ---- plain counters, gauges, the ack histogram --------------------------- */

static atomic_uint_fast64_t c_duplicates;
static atomic_uint_fast64_t c_acks;
static atomic_uint_fast64_t c_reconnects;
static atomic_uint_fast64_t c_http_refused;
static atomic_int_fast64_t g_jobs_queued;
static atomic_int_fast64_t g_jobs_running;
static atomic_int g_connected;

/* Upper bounds (le) in microseconds; the last bucket is +Inf. */
static const int64_t ack_bounds_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 50000, 100000, 500000, 1000000,
};
static const char *const ack_bounds_str[] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.05", "0.1", "0.5", "1",
};
#define ACK_NBOUNDS (sizeof(ack_bounds_us) / sizeof(ack_bounds_us[0]))

/* Per-bucket (not cumulative) counts; index ACK_NBOUNDS is the +Inf bucket. */
static atomic_uint_fast64_t ack_buckets[ACK_NBOUNDS + 1];
static atomic_uint_fast64_t ack_sum_us;
static atomic_uint_fast64_t ack_count;

void metrics_envelope(const char *type) { family_inc(&fam_envelopes, type, NULL); }
void metrics_duplicate(void) { atomic_fetch_add(&c_duplicates, 1); }
void metrics_jobs_queued(int delta) { atomic_fetch_add(&g_jobs_queued, delta); }
void metrics_jobs_running(int delta) { atomic_fetch_add(&g_jobs_running, delta); }
void metrics_job_done(const char *result) { family_inc(&fam_jobs, result, NULL); }
void metrics_reply(const char *kind, int rc)
{
	family_inc(&fam_replies, kind, rc == VIVA_OK ? "delivered" : rc == VIVA_EDEFERRED ? "deferred" : "undelivered");
}
void metrics_action(const char *outcome) { family_inc(&fam_actions, outcome, NULL); }
void metrics_http_refused(void) { atomic_fetch_add(&c_http_refused, 1); }
void metrics_reconnect(void) { atomic_fetch_add(&c_reconnects, 1); }
void metrics_connected(int up) { atomic_store(&g_connected, up ? 1 : 0); }

/* An HTTP status as a label value: "200", or "error" when no answer came. */
static void status_label(int http_status, char out[16])
{
	if (http_status > 0 && http_status < 1000)
		snprintf(out, 16, "%d", http_status);
	else
		strcpy(out, "error");
}

void metrics_api_call(const char *method, int http_status)
{
	char status[16];

	status_label(http_status, status);
	family_inc(&fam_api, method, status);
}

void metrics_http_request(const char *client, int http_status)
{
	char status[16];

	status_label(http_status, status);
	family_inc(&fam_http, client, status);
}

void metrics_ack(int64_t latency_us)
{
	size_t b = ACK_NBOUNDS;

	if (latency_us < 0)
		latency_us = 0;   /* a clock step must not corrupt the sum */
	for (size_t i = 0; i < ACK_NBOUNDS; i++)
		if (latency_us <= ack_bounds_us[i]) {
			b = i;
			break;
		}
	/*
	 * Count first, bucket after: render reads buckets before the count, so a
	 * scrape racing with an observation never shows a bucket above _count
	 * (the +Inf bucket is rendered as _count itself).
	 */
	atomic_fetch_add(&ack_count, 1);
	atomic_fetch_add(&ack_buckets[b], 1);
	atomic_fetch_add(&ack_sum_us, (uint_fast64_t)latency_us);
	atomic_fetch_add(&c_acks, 1);
}

/* Deploy durations: one histogram per kind, seconds. */
static const char *const deploy_kinds[] = { "canary", "bluegreen", "rollback" };
#define DEPLOY_NKINDS (sizeof(deploy_kinds) / sizeof(deploy_kinds[0]))
static const int64_t deploy_bounds_s[] = { 5, 10, 30, 60, 120, 300, 600, 1200, 1800 };
#define DEPLOY_NBOUNDS (sizeof(deploy_bounds_s) / sizeof(deploy_bounds_s[0]))
static atomic_uint_fast64_t deploy_buckets[DEPLOY_NKINDS][DEPLOY_NBOUNDS + 1];
static atomic_uint_fast64_t deploy_sum_s[DEPLOY_NKINDS];
static atomic_uint_fast64_t deploy_count[DEPLOY_NKINDS];

void metrics_deploy(const char *kind, const char *outcome, int64_t seconds)
{
	size_t k, b = DEPLOY_NBOUNDS;

	family_inc(&fam_deploys, kind, outcome);
	for (k = 0; k < DEPLOY_NKINDS && strcmp(deploy_kinds[k], kind) != 0; k++)
		;
	if (k == DEPLOY_NKINDS || seconds < 0)
		return;
	for (size_t i = 0; i < DEPLOY_NBOUNDS; i++)
		if (seconds <= deploy_bounds_s[i]) {
			b = i;
			break;
		}
	atomic_fetch_add(&deploy_count[k], 1);
	atomic_fetch_add(&deploy_buckets[k][b], 1);
	atomic_fetch_add(&deploy_sum_s[k], (uint_fast64_t)seconds);
}

static void render_deploy_histogram(struct strbuf *sb)
{
	static const char *name = "viva_deploy_duration_seconds";

	add_header(sb, name, "Time from the start of a deploy to its end (for a blue-green: to the switch), by kind.",
		   "histogram");
	for (size_t k = 0; k < DEPLOY_NKINDS; k++) {
		uint64_t cum = 0, count;

		for (size_t i = 0; i < DEPLOY_NBOUNDS; i++) {
			cum += atomic_load(&deploy_buckets[k][i]);
			sb_addf(sb, "%s_bucket{kind=\"%s\",le=\"%" PRId64 "\"} %" PRIu64 "\n", name, deploy_kinds[k],
				deploy_bounds_s[i], cum);
		}
		count = atomic_load(&deploy_count[k]);
		sb_addf(sb, "%s_bucket{kind=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, deploy_kinds[k], count);
		sb_addf(sb, "%s_sum{kind=\"%s\"} %" PRIu64 "\n", name, deploy_kinds[k],
			(uint64_t)atomic_load(&deploy_sum_s[k]));
		sb_addf(sb, "%s_count{kind=\"%s\"} %" PRIu64 "\n", name, deploy_kinds[k], count);
	}
}

static void render_histogram(struct strbuf *sb)
{
	static const char *name = "viva_ack_latency_seconds";
	uint64_t cum = 0, sum_us, count;

	add_header(sb, name, "Time from receiving an envelope to writing its ack.", "histogram");
	for (size_t i = 0; i < ACK_NBOUNDS; i++) {
		cum += atomic_load(&ack_buckets[i]);
		sb_addf(sb, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, ack_bounds_str[i], cum);
	}
	sum_us = atomic_load(&ack_sum_us);
	count = atomic_load(&ack_count);
	sb_addf(sb, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
	/* Integer formatting keeps the sum exact (no float rounding). */
	sb_addf(sb, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name, sum_us / 1000000, sum_us % 1000000);
	sb_addf(sb, "%s_count %" PRIu64 "\n", name, count);
}

static void render_counter(struct strbuf *sb, const char *name, const char *help, uint64_t v)
{
	add_header(sb, name, help, "counter");
	sb_addf(sb, "%s %" PRIu64 "\n", name, v);
}

static void render_gauge(struct strbuf *sb, const char *name, const char *help, int64_t v)
{
	add_header(sb, name, help, "gauge");
	sb_addf(sb, "%s %" PRId64 "\n", name, v);
}

char *metrics_render(void)
{
	struct strbuf sb;

	sb_init(&sb);
	family_render(&fam_envelopes, &sb);
	render_counter(&sb, "viva_envelopes_duplicate_total",
		       "Envelopes skipped because they were already processed.",
		       atomic_load(&c_duplicates));
	render_counter(&sb, "viva_acks_total", "Envelope acks written.", atomic_load(&c_acks));
	render_histogram(&sb);
	render_gauge(&sb, "viva_jobs_queued", "Jobs waiting for a worker.",
		     (int64_t)atomic_load(&g_jobs_queued));
	render_gauge(&sb, "viva_jobs_running", "Jobs running on workers.",
		     (int64_t)atomic_load(&g_jobs_running));
	family_render(&fam_jobs, &sb);
	family_render(&fam_api, &sb);
	family_render(&fam_http, &sb);
	family_render(&fam_replies, &sb);
	family_render(&fam_actions, &sb);
	family_render(&fam_deploys, &sb);
	render_deploy_histogram(&sb);
	render_counter(&sb, "viva_http_connections_refused_total",
		       "Connections to the HTTP endpoint hung up on because too many were open.",
		       atomic_load(&c_http_refused));
	render_counter(&sb, "viva_reconnects_total", "Socket Mode reconnects.",
		       atomic_load(&c_reconnects));
	render_gauge(&sb, "viva_connected", "1 while a Socket Mode connection is up.",
		     atomic_load(&g_connected));
	return sb_detach(&sb);
}

void metrics_reset(void)
{
	family_reset(&fam_envelopes);
	family_reset(&fam_jobs);
	family_reset(&fam_api);
	family_reset(&fam_http);
	family_reset(&fam_replies);
	family_reset(&fam_actions);
	family_reset(&fam_deploys);
	for (size_t k = 0; k < DEPLOY_NKINDS; k++) {
		for (size_t i = 0; i <= DEPLOY_NBOUNDS; i++)
			atomic_store(&deploy_buckets[k][i], 0);
		atomic_store(&deploy_sum_s[k], 0);
		atomic_store(&deploy_count[k], 0);
	}
	atomic_store(&c_duplicates, 0);
	atomic_store(&c_acks, 0);
	atomic_store(&c_reconnects, 0);
	atomic_store(&c_http_refused, 0);
	atomic_store(&g_jobs_queued, 0);
	atomic_store(&g_jobs_running, 0);
	atomic_store(&g_connected, 0);
	for (size_t i = 0; i <= ACK_NBOUNDS; i++)
		atomic_store(&ack_buckets[i], 0);
	atomic_store(&ack_sum_us, 0);
	atomic_store(&ack_count, 0);
}
