/*
 * `/viva traffic SVC [RANGE]` (SPEC section 9): requests by API operation
 * (traffic.api_label), by source application, and mean duration by source,
 * all on destination_app="SVC" over RANGE (default 7d), largest first, top
 * 10 each; and a chart of requests per second over the range, one line per
 * top source. Four queries however busy the service is: three instant ones
 * at now and one range query for the chart.
 */
#include "handlers/traffic.h"
#include "bot/chart/chart.h"
#include "bot/clients/prom.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/model/config.h"
#include "bot/reply.h"
#include "bot/slack/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP          10
#define MAX_RANGE_S  (90 * 86400)
#define CHART_POINTS 240

/* "7d", "24h", "90m", "2w" -> seconds; 0 when it is not a range. */
int64_t traffic_parse_range(const char *s)
{
	char *end = NULL;
	long n;
	int64_t unit;

	if (!s || !*s || *s < '0' || *s > '9' || strlen(s) > 8)
		return 0;
	n = strtol(s, &end, 10);
	if (!end || end[0] == '\0' || end[1] != '\0' || n <= 0)
		return 0;
	unit = end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : end[0] == 'w' ? 7 * 86400 : 0;
	if (!unit || n > MAX_RANGE_S / unit)
		return 0;
	return n * unit < 300 ? 0 : n * unit;
}

struct row {
	char *name;
	double v;
};

static int by_value(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The vector as rows by label, NaN and empty names dropped, largest first. */
static size_t rows_of(const struct prom_result *res, const char *label, struct row **out)
{
	size_t n = 0;

	*out = xcalloc(res->n + 1, sizeof(**out));
	for (size_t i = 0; i < res->n; i++) {
		const char *name = prom_label(&res->series[i], label);
		double v = res->series[i].value.v;

		if (isnan(v) || isinf(v))
			continue;
		(*out)[n].name = xstrdup(name && *name ? name : "(unknown)");
		(*out)[n].v = v;
		n++;
	}
	qsort(*out, n, sizeof(**out), by_value);
	return n;
}

static void rows_free(struct row *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].name);
	free(r);
}

/* "1,234,567" or "12.5" */
static void fmt_num(char *buf, size_t len, double v)
{
	char raw[64], *p = raw;
	size_t digits, o = 0;

	if (v >= 1000 || v == floor(v)) {
		snprintf(raw, sizeof(raw), "%.0f", v);
		digits = strlen(raw);
		for (size_t i = 0; i < digits && o + 2 < len; i++) {
			buf[o++] = *p++;
			if ((digits - i - 1) % 3 == 0 && i + 1 < digits)
				buf[o++] = ',';
		}
		buf[o] = '\0';
	} else {
		snprintf(buf, len, "%.1f", v);
	}
}

/* One table as mrkdwn lines: "`name` 1,234 unit". */
static char *table(const struct row *r, size_t n, const char *unit)
{
	struct strbuf sb;

	sb_init(&sb);
	for (size_t i = 0; i < n && i < TOP; i++) {
		char num[64];

		fmt_num(num, sizeof(num), r[i].v);
		sb_addf(&sb, "%s`%s` %s%s", i ? "\n" : "", r[i].name, num, unit);
	}
	if (!sb.len)
		sb_adds(&sb, "none");
	return sb_detach(&sb);
}

static int query(struct viva_ctx *ctx, const char *q, int64_t at, struct prom_result *res, const char *what)
{
	int rc = prom_query(ctx->env->prom, q, at, res);

	if (rc != VIVA_OK)
		log_warn("traffic query failed", "what=%s err=\"%s\"", what, prom_last_error());
	return rc;
}

/* The chart: requests per second per top source over the range. */
static int chart(struct viva_ctx *ctx, const char *svc, const char *range, int64_t span, int64_t now,
		 const struct row *sources, size_t nsources, unsigned char **png, size_t *len, char *err, size_t errlen)
{
	char *sel = xasprintf("istio_requests_total{reporter=\"destination\",destination_app=\"%s\"}", svc);
	int64_t step = span / CHART_POINTS < 60 ? 60 : span / CHART_POINTS;
	char *q = xasprintf("sum by (source_app) (rate(%s[%llds]))", sel, (long long)(step < 300 ? 300 : step));
	struct prom_result res;
	struct chart_series series[TOP];
	struct chart_point *pts[TOP] = { NULL };
	struct chart c = { 0 };
	size_t ns = 0;
	char *title;
	int rc = prom_query_range(ctx->env->prom, q, now - span, now, step, &res);

	free(q);
	free(sel);
	if (rc != VIVA_OK) {
		snprintf(err, errlen, "%s", prom_last_error());
		return rc;
	}
	/* one line per top source, in the order of the table */
	for (size_t i = 0; i < nsources && ns < TOP; i++)
		for (size_t j = 0; j < res.n; j++) {
			const char *name = prom_label(&res.series[j], "source_app");

			if (!name || strcmp(name, sources[i].name) != 0 || res.series[j].npoints == 0)
				continue;
			pts[ns] = xcalloc(res.series[j].npoints, sizeof(*pts[ns]));
			for (size_t k = 0; k < res.series[j].npoints; k++)
				pts[ns][k] = (struct chart_point){ res.series[j].points[k].t, res.series[j].points[k].v };
			series[ns] = (struct chart_series){ sources[i].name, pts[ns], res.series[j].npoints };
			ns++;
			break;
		}
	title = xasprintf("%s: requests per second by source, last %s", svc, range);
	c.title = title;
	c.unit = "requests/s";
	c.start = now - span;
	c.end = now;
	c.series = series;
	c.nseries = ns;
	rc = chart_png(&c, png, len, err, errlen);
	free(title);
	for (size_t i = 0; i < ns; i++)
		free(pts[i]);
	prom_result_release(&res);
	return rc;
}

/*
 * The chart where the user is: shared in the channel on Slack
 * (files.getUploadURLExternal, the bytes, files.completeUploadExternal),
 * saved to a file in the console (its path said).
 */
static void deliver_chart(struct viva_ctx *ctx, const char *svc, const char *range, const unsigned char *png,
			  size_t len)
{
	char err[512] = "", *name = xasprintf("%s-traffic-%s.png", svc, range), *path = NULL, *file_id = NULL;
	char *title = xasprintf("Requests per second of %s by source, last %s", svc, range);

	if (ctx->env->slack && ctx->channel_id) {
		struct slack_file f = { .channel_id = ctx->channel_id, .filename = name, .title = title,
					.alt_text = title, .bytes = png, .len = len };

		if (slack_upload_file(ctx->env->slack, &f, &file_id, err, sizeof(err)) != VIVA_OK) {
			log_warn("traffic chart not shared", "svc=%s err=\"%s\"", svc, err);
			reply_text(ctx, REPLY_EPHEMERAL, "The chart could not be shared: %s", err);
		}
	} else {
		char *stem = xasprintf("%s-traffic-%s", svc, range);

		if (save_output_file(ctx->env->cfg->out_dir, stem, "png", png, len, &path, err, sizeof(err)) == VIVA_OK)
			reply_text(ctx, REPLY_IN_CHANNEL, "Chart (PNG, %zu bytes): %s", len, path);
		else
			reply_text(ctx, REPLY_EPHEMERAL, "The chart could not be saved: %s", err);
		free(stem);
	}
	free(file_id);
	free(path);
	free(title);
	free(name);
}

int cmd_traffic(struct viva_ctx *ctx)
{
	const char *svc = ctx->argv[0], *range = ctx->argc > 1 ? ctx->argv[1] : "7d";
	const char *api = ctx->env->cfg->traffic_api_label;
	int64_t span = traffic_parse_range(range), now = ctx->env->clock->now(ctx->env->clock);
	struct prom_result by_api = { 0 }, by_src = { 0 }, dur = { 0 };
	struct row *ra = NULL, *rs = NULL, *rd = NULL;
	size_t na = 0, ns = 0, nd = 0;
	char *sel, *q, *ta = NULL, *ts = NULL, *td = NULL;
	double total = 0;
	json_t *data;
	int rc;

	if (!span)
		return reply_error(ctx, VIVA_EINVAL, "/viva traffic SVC [RANGE]", "`%s` is not a range: a number and m, h, "
				   "d or w, from 5m to 90d (7d, 24h, 2w).", range);
	if (!ctx->env->prom)
		return reply_error(ctx, VIVA_EUNAVAIL, NULL, "Traffic comes from Prometheus, and none is configured "
				   "(PROMETHEUS_URL).");
	sel = xasprintf("{reporter=\"destination\",destination_app=\"%s\"}[%s]", svc, range);
	q = xasprintf("sum by (%s) (increase(istio_requests_total%s))", api, sel);
	rc = query(ctx, q, now, &by_api, "by api");
	free(q);
	if (rc == VIVA_OK) {
		q = xasprintf("sum by (source_app) (increase(istio_requests_total%s))", sel);
		rc = query(ctx, q, now, &by_src, "by source");
		free(q);
	}
	if (rc == VIVA_OK) {
		q = xasprintf("sum by (source_app) (increase(istio_request_duration_milliseconds_sum%s)) / sum by "
			      "(source_app) (increase(istio_request_duration_milliseconds_count%s))", sel, sel);
		rc = query(ctx, q, now, &dur, "duration");
		free(q);
	}
	free(sel);
	if (rc != VIVA_OK) {
		rc = reply_error(ctx, rc, NULL, "Traffic of `%s` could not be read: %s.", svc, prom_last_error());
		goto out;
	}
	na = rows_of(&by_api, api, &ra);
	ns = rows_of(&by_src, "source_app", &rs);
	nd = rows_of(&dur, "source_app", &rd);
	for (size_t i = 0; i < ns; i++)
		total += rs[i].v;
	if (total <= 0) {
		reply_text(ctx, REPLY_IN_CHANNEL, "`%s` had no traffic in the last %s (no request recorded by Istio for "
			   "destination_app=\"%s\").", svc, range, svc);
		goto out;
	}
	ta = table(ra, na, "");
	ts = table(rs, ns, "");
	td = table(rd, nd, " ms");
	{
		char tot[64];

		fmt_num(tot, sizeof(tot), total);
		data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "service", svc, "range", range, "total", tot,
				 "api_label", api, "by_api", ta, "by_source", ts, "duration", td);
	}
	rc = reply_template(ctx, "slack/traffic", data, REPLY_IN_CHANNEL);
	json_decref(data);
	{
		unsigned char *png = NULL;
		size_t len = 0;
		char err[512] = "";

		if (chart(ctx, svc, range, span, now, rs, ns, &png, &len, err, sizeof(err)) == VIVA_OK)
			deliver_chart(ctx, svc, range, png, len);
		else
			reply_text(ctx, REPLY_EPHEMERAL, "No chart this time: %s", err);
		free(png);
	}
out:
	prom_result_release(&by_api);
	prom_result_release(&by_src);
	prom_result_release(&dur);
	rows_free(ra, na);
	rows_free(rs, ns);
	rows_free(rd, nd);
	free(ta);
	free(ts);
	free(td);
	return rc;
}
