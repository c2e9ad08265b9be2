/*
 * The unused-service audit (SPEC section 8), its buttons, and the savings
 * tally.
 *
 * Three rules, one Prometheus query each however many services there are
 * (the PromQL is viva.yaml's promql.unused_*), evaluated at the audit's
 * time:
 *   http    services with interface http or grpc (Istio sees them): no
 *           request in 7 days, i.e. the service's destination_app sums to 0
 *           over every namespace, or is absent
 *   kafka   services with interface kafka: nothing consumed, i.e. the max
 *           rate of its application is 0, or absent
 *   batch   batch services whose every CronJob (SVC-BATCH) was suspended
 *           for the whole window (the query returns those)
 * Services younger than thresholds.unused_days (their spec file's age when
 * viva first loaded it), snoozed, or deleted are skipped. A rule whose query
 * failed, or whose metric has no series at all, flags nobody and the report
 * says its data is missing: an outage never makes every service look unused.
 */
#include "handlers/unused.h"
#include "handlers/pipeline.h"
#include "bot/clients/prom.h"
#include "bot/dispatch.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/config.h"
#include "bot/model/spec.h"
#include "bot/reply.h"
#include "bot/slack/mrkdwn.h"
#include "store/services.h"
#include "store/unused.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS_PER_MSG 20          /* two blocks a row, + headers and notes: within 50 */

enum rule { RULE_HTTP, RULE_KAFKA, RULE_BATCH, NRULES };

static const char *const rule_title[NRULES] = {
	"HTTP: no request in 7 days",
	"Kafka: nothing consumed in 7 days",
	"Batches: every CronJob suspended for 7 days",
};

static const char *rule_query(const struct viva_config *cfg, enum rule r)
{
	return r == RULE_HTTP ? cfg->promql_unused_http : r == RULE_KAFKA ? cfg->promql_unused_kafka
									   : cfg->promql_unused_batch;
}

/* Which rule looks at a spec, or NRULES. */
static enum rule rule_of(const struct spec *s)
{
	if (s->type == SPEC_BATCH)
		return RULE_BATCH;
	if (s->iface == SPEC_KAFKA)
		return RULE_KAFKA;
	if (s->iface == SPEC_HTTP || s->iface == SPEC_GRPC)
		return RULE_HTTP;
	return NRULES;
}

/* The label a rule's answer names services by. */
static const char *rule_label(enum rule r)
{
	return r == RULE_HTTP ? "destination_app" : r == RULE_KAFKA ? "application" : "cronjob";
}

void unused_result_release(struct unused_result *r)
{
	json_decref(r->rows);
	json_decref(r->missing);
	memset(r, 0, sizeof(*r));
}

/* value by name from a vector: sums (http), max (kafka); names for batch. */
static json_t *index_answer(enum rule r, const struct prom_result *res)
{
	json_t *idx = json_object();

	for (size_t i = 0; i < res->n; i++) {
		const char *name = prom_label(&res->series[i], rule_label(r));
		double v = res->series[i].value.v;
		json_t *cur;

		if (!name)
			continue;
		cur = json_object_get(idx, name);
		if (isnan(v))
			v = 0;
		if (!cur)
			json_object_set_new(idx, name, json_real(v));
		else if (r == RULE_HTTP)
			json_real_set(cur, json_real_value(cur) + v);
		else if (v > json_real_value(cur))
			json_real_set(cur, v);
	}
	return idx;
}

/* The evidence for s under rule r, or NULL when s is in use. */
static char *evidence(enum rule r, const struct spec *s, json_t *idx)
{
	struct strbuf sb;

	sb_init(&sb);
	if (r == RULE_BATCH) {
		/* unused only if every CronJob of it was suspended all along */
		if (s->nbatches == 0) {
			sb_release(&sb);
			return NULL;
		}
		for (size_t i = 0; i < s->nbatches; i++) {
			char *cj = xasprintf("%s-%s", s->name, s->batches[i].name);
			bool suspended = json_object_get(idx, cj) != NULL;

			free(cj);
			if (!suspended) {
				sb_release(&sb);
				return NULL;
			}
		}
		sb_addf(&sb, "%zu CronJob%s suspended for all 7 d", s->nbatches, s->nbatches == 1 ? "" : "s");
		return sb_detach(&sb);
	}
	{
		json_t *v = json_object_get(idx, s->name);
		double x = v ? json_real_value(v) : 0;

		if (x > 0) {
			sb_release(&sb);
			return NULL;
		}
		if (r == RULE_HTTP)
			sb_adds(&sb, v ? "0 requests in 7 d" : "no requests recorded in 7 d");
		else
			sb_adds(&sb, v ? "0 records consumed in 7 d" : "no consumption recorded in 7 d");
	}
	return sb_detach(&sb);
}

/* By rule, then by name: the report groups consecutive rows of a rule. */
static int by_rule(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t rx = json_integer_value(json_object_get(x, "rule")), ry = json_integer_value(json_object_get(y, "rule"));

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "service")), json_string_value(json_object_get(y, "service")));
}

static void sort_rows(json_t *rows)
{
	size_t n = json_array_size(rows);
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(rows, i));
	qsort(v, n, sizeof(*v), by_rule);
	json_array_clear(rows);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(rows, v[i]);
	free(v);
}

/* The spec of a listed service, from the row in hand (catalog_get would read it again). */
static struct spec *listed_spec(const struct store_service *sv)
{
	struct spec *s = NULL;

	if (spec_parse(sv->spec_yaml, strlen(sv->spec_yaml), sv->name, &s, NULL) != VIVA_OK)
		log_error("stored spec no longer parses", "svc=%s", sv->name);
	return s;
}

int unused_collect(struct viva_env *env, int64_t now, struct unused_result *r)
{
	const struct viva_config *cfg = env->cfg;
	json_t *idx[NRULES] = { NULL };
	struct store_service *all = NULL;
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->rows = json_array();
	r->missing = json_array();
	for (int k = 0; k < NRULES; k++) {
		struct prom_result res;
		int q;

		if (!env->prom) {
			json_array_append_new(r->missing, json_sprintf("%s: Prometheus is not configured (PROMETHEUS_URL)",
								       rule_title[k]));
			continue;
		}
		q = prom_query(env->prom, rule_query(cfg, (enum rule)k), now, &res);
		r->queries++;
		if (q != VIVA_OK) {
			json_array_append_new(r->missing, json_sprintf("%s: %s", rule_title[k], prom_last_error()));
			continue;
		}
		if (res.type != PROM_VECTOR) {
			json_array_append_new(r->missing, json_sprintf("%s: the query does not answer a vector",
								       rule_title[k]));
		} else if (res.n == 0 && k != RULE_BATCH) {
			/* no series at all: missing data, not an idle world */
			json_array_append_new(r->missing, json_sprintf("%s: no series at all (is the metric scraped?)",
								       rule_title[k]));
		} else {
			idx[k] = index_answer((enum rule)k, &res);
		}
		prom_result_release(&res);
	}
	rc = store_service_list(env->store, false, &all, &n);
	for (size_t i = 0; rc == VIVA_OK && i < n; i++) {
		struct spec *s = NULL;
		enum rule k;
		int64_t until = 0;
		char *ev;

		if ((s = listed_spec(&all[i])) == NULL)
			continue;
		k = rule_of(s);
		r->services++;
		if (k == NRULES || !idx[k]) {
			spec_free(s);
			continue;
		}
		if (all[i].created_at > now - (int64_t)cfg->unused_days * 86400) {
			r->young++;
		} else if (store_snooze_get(env->store, s->name, &until, NULL) == VIVA_OK && until > now) {
			r->snoozed++;
		} else if ((ev = evidence(k, s, idx[k])) != NULL) {
			char *owners = mrkdwn_users(s->owners, s->nowners, "no owner named");
			json_t *v = json_pack("{s:s}", "svc", s->name);
			char *value = json_dumps(v, JSON_COMPACT);

			json_array_append_new(r->rows, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "rule", (int)k,
								 "service", s->name, "owners", owners, "evidence", ev,
								 "value", value, "block_id", s->name));
			json_decref(v);
			free(value);
			free(owners);
			free(ev);
		}
		spec_free(s);
	}
	store_services_free(all, n);
	for (int k = 0; k < NRULES; k++)
		json_decref(idx[k]);
	sort_rows(r->rows);
	return rc;
}

/* ---- the report ------------------------------------------------------------------------ */

static int post_report(struct viva_ctx *ctx, const char *channel, const struct unused_result *r, int *posted)
{
	size_t nrows = json_array_size(r->rows), nmsg = nrows ? (nrows + ROWS_PER_MSG - 1) / ROWS_PER_MSG : 1;
	struct strbuf missing;
	int rc = VIVA_OK;

	*posted = 0;
	sb_init(&missing);
	for (size_t i = 0; i < json_array_size(r->missing); i++)
		sb_addf(&missing, "%s%s", i ? "\n" : "", json_string_value(json_array_get(r->missing, i)));
	for (size_t m = 0; m < nmsg && rc == VIVA_OK; m++) {
		json_t *groups = json_array(), *data;
		int last = -1;

		for (size_t i = m * ROWS_PER_MSG; i < nrows && i < (m + 1) * ROWS_PER_MSG; i++) {
			json_t *row = json_array_get(r->rows, i);
			int k = (int)json_integer_value(json_object_get(row, "rule"));

			if (k != last) {
				json_array_append_new(groups, json_pack("{s:s, s:[]}", "title", rule_title[k], "rows"));
				last = k;
			}
			json_array_append(json_object_get(json_array_get(groups, json_array_size(groups) - 1), "rows"), row);
		}
		data = json_pack("{s:I, s:I, s:I, s:I, s:o, s:b, s:s, s:I, s:I, s:b, s:I}", "count", (json_int_t)nrows,
				 "services", (json_int_t)r->services, "days", (json_int_t)ctx->env->cfg->unused_days,
				 "snoozed", (json_int_t)r->snoozed, "groups", groups, "first", m == 0, "missing",
				 missing.len ? missing.buf : "", "part", (json_int_t)(m + 1), "parts", (json_int_t)nmsg,
				 "none", nrows == 0, "young", (json_int_t)r->young);
		rc = channel ? reply_post_template(ctx, channel, "slack/unused_report", data)
			     : reply_template(ctx, "slack/unused_report", data, REPLY_IN_CHANNEL);
		if (rc == VIVA_OK)
			(*posted)++;
		json_decref(data);
	}
	sb_release(&missing);
	return rc;
}

static int run_audit(struct viva_ctx *ctx, bool scheduled)
{
	const char *channel = ctx->env->cfg->channel_audit;
	struct unused_result r;
	int posted = 0, rc;

	if (scheduled && !channel) {
		log_warn("unused audit not posted", "why=\"channels.audit is not set in viva.yaml\"");
		return VIVA_OK;
	}
	rc = unused_collect(ctx->env, ctx->env->clock->now(ctx->env->clock), &r);
	if (rc == VIVA_OK)
		rc = post_report(ctx, channel, &r, &posted);
	log_info("unused audit", "services=%d unused=%zu missing=%zu queries=%d messages=%d scheduled=%d",
		 r.services, json_array_size(r.rows), json_array_size(r.missing), r.queries, posted, scheduled);
	if (!scheduled && rc == VIVA_OK && channel)
		reply_text(ctx, REPLY_EPHEMERAL, "Unused audit: %zu of %d services look unused%s; posted to <#%s>.",
			   json_array_size(r.rows), r.services, json_array_size(r.missing) ? " (some data is missing)" : "",
			   channel);
	else if (rc != VIVA_OK && !scheduled)
		rc = reply_error(ctx, rc, NULL, "The unused audit could not be completed (%s).", viva_strerror(rc));
	unused_result_release(&r);
	return rc;
}

int cmd_unused(struct viva_ctx *ctx)
{
	return run_audit(ctx, false);
}

int task_unused(struct viva_ctx *ctx)
{
	return run_audit(ctx, true);
}

/* ---- the buttons --------------------------------------------------------------------------- */

int act_unused_keep(struct viva_ctx *ctx)
{
	const char *svc = json_string_value(json_object_get(ctx->value, "svc"));
	int64_t now = ctx->env->clock->now(ctx->env->clock);
	int64_t until = now + (int64_t)ctx->env->cfg->snooze_days * 86400;
	char *note, day[32];
	time_t tt = (time_t)until;
	struct tm tm;
	int rc = store_snooze_set(ctx->env->store, svc, until, ctx->user_id ? ctx->user_id : "", now);

	if (rc != VIVA_OK)
		return reply_error(ctx, rc, NULL, "`%s` could not be snoozed (%s).", svc, viva_strerror(rc));
	gmtime_r(&tt, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	dispatch_audit(ctx, svc, json_pack("{s:s, s:I}", "until", day, "days", (json_int_t)ctx->env->cfg->snooze_days));
	note = xasprintf(":raised_hand: Kept by <@%s>: still in use; left out of the audit until %s.",
			 ctx->user_id ? ctx->user_id : "", day);
	reply_update_row(ctx, note, true);
	free(note);
	return VIVA_OK;
}

int act_unused_confirm(struct viva_ctx *ctx)
{
	return pipeline_delete_flow(ctx, json_string_value(json_object_get(ctx->value, "svc")), "unused audit");
}

/* ---- savings ----------------------------------------------------------------------------------- */

/* "1280", "0.5" */
static char *amount(double v)
{
	return v == floor(v) ? xasprintf("%.0f", v) : xasprintf("%.1f", v);
}

int cmd_savings(struct viva_ctx *ctx)
{
	struct store_saving *v = NULL;
	size_t n = 0;
	int64_t cpu = 0, mem = 0;
	json_t *months = json_array(), *rows = json_array(), *data;
	char *cores, *gib, last_month[8] = "";
	int rc = store_savings_list(ctx->env->store, 100000, &v, &n);

	if (rc != VIVA_OK) {
		json_decref(months);
		json_decref(rows);
		return reply_error(ctx, rc, NULL, "The savings tally could not be read (%s).", viva_strerror(rc));
	}
	for (size_t i = 0; i < n; i++) {
		time_t tt = (time_t)v[i].removed_at;
		struct tm tm;
		char month[8], day[16];
		json_t *cur;

		cpu += v[i].cpu_milli;
		mem += v[i].memory_bytes;
		gmtime_r(&tt, &tm);
		strftime(month, sizeof(month), "%Y-%m", &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		if (strcmp(month, last_month) != 0) {
			json_array_append_new(months, json_pack("{s:s, s:i, s:I, s:I}", "month", month, "services", 0,
								"cpu", (json_int_t)0, "mem", (json_int_t)0));
			snprintf(last_month, sizeof(last_month), "%s", month);
		}
		cur = json_array_get(months, json_array_size(months) - 1);
		json_object_set_new(cur, "services", json_integer(json_integer_value(json_object_get(cur, "services")) + 1));
		json_object_set_new(cur, "cpu", json_integer(json_integer_value(json_object_get(cur, "cpu")) + v[i].cpu_milli));
		json_object_set_new(cur, "mem", json_integer(json_integer_value(json_object_get(cur, "mem")) +
							    v[i].memory_bytes));
		if (i < 30) {
			char *c = amount(v[i].cpu_milli / 1000.0), *g = amount(v[i].memory_bytes / 1073741824.0);
			char *who = mrkdwn_user(v[i].confirmed_by);

			json_array_append_new(rows, json_sprintf("%s · *%s* · %s cores, %s GiB · confirmed by %s (%s)", day,
								 v[i].service, c, g, who, v[i].via));
			free(who);
			free(c);
			free(g);
		}
	}
	{
		json_t *m;
		size_t i;

		json_array_foreach(months, i, m) {
			char *c = amount(json_integer_value(json_object_get(m, "cpu")) / 1000.0);
			char *g = amount(json_integer_value(json_object_get(m, "mem")) / 1073741824.0);

			json_object_set_new(m, "line", json_sprintf("%s: %d service%s, %s cores, %s GiB",
								json_string_value(json_object_get(m, "month")),
								(int)json_integer_value(json_object_get(m, "services")),
								json_integer_value(json_object_get(m, "services")) == 1 ? "" : "s",
								c, g));
			free(c);
			free(g);
		}
	}
	cores = amount(cpu / 1000.0);
	gib = amount(mem / 1073741824.0);
	{
		struct strbuf pm;
		json_t *m;
		size_t i;

		sb_init(&pm);
		json_array_foreach(months, i, m)
			sb_addf(&pm, "%s%s", i ? "\n" : "", json_string_value(json_object_get(m, "line")));
		data = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:b}", "summary", "", "count", (json_int_t)n, "cores",
				 cores, "gib", gib, "per_month", pm.len ? pm.buf : "", "rows", rows, "none", n == 0);
		sb_release(&pm);
		json_decref(months);
	}
	json_object_set_new(data, "summary", json_sprintf("%zu service%s removed, %s cores, %s GiB reclaimed", n,
							  n == 1 ? "" : "s", cores, gib));
	rc = reply_template(ctx, "slack/savings", data, REPLY_IN_CHANNEL);
	json_decref(data);
	free(cores);
	free(gib);
	store_savings_free(v, n);
	return rc;
}
