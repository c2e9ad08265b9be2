#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/times.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cron_next accepts `after` in [1800-01-01, 5000-01-01): keeps all civil
 * arithmetic far from overflow. */
#define CRON_T_MIN INT64_C(-5364662400)
#define CRON_T_MAX INT64_C(95617584000)
/* Far more than any expression needs over CRON_SEARCH_YEARS; a safety net. */
#define CRON_STEPS_MAX 1000000

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* ---- cron expressions ----------------------------------------------------- */

enum { F_MIN, F_HOUR, F_MDAY, F_MON, F_WDAY, F_COUNT };

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field_spec {
	const char *name;
	int lo, hi;        /* accepted values */
	int star_hi;       /* top of the implied range of '*' and 'A/S' */
	const char *const *names;
	int name_base;     /* value of names[0] */
	const char *what;  /* for "is not ..." messages */
} fields[F_COUNT] = {
	{ "minute", 0, 59, 59, NULL, 0, "a number" },
	{ "hour", 0, 23, 23, NULL, 0, "a number" },
	{ "day-of-month", 1, 31, 31, NULL, 0, "a number" },
	{ "month", 1, 12, 12, month_names, 1, "a month (1-12 or JAN-DEC)" },
	{ "day-of-week", 0, 7, 6, day_names, 0, "a day of week (0-7 or SUN-SAT)" },
};

static const struct {
	const char *name;
	const char *expansion;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

struct pctx {
	const char *expr;  /* the whole input, for messages */
	size_t exprlen;
	char *err;
	size_t errlen;
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Copy s[0..n) into dst[cap] (truncating), unprintable bytes as '?'. */
static void printable(char *dst, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[k++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[k] = '\0';
}

/* Write `cron "EXPR": [FIELD field: ]MESSAGE` into err; field < 0: none. */
static int fail(const struct pctx *p, int field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct pctx *p, int field, const char *fmt, ...)
{
	char ex[CRON_EXPR_MAX + 1], msg[160];
	va_list ap;

	if (!p->err || p->errlen == 0)
		return VIVA_EINVAL;
	printable(ex, sizeof(ex), p->expr, p->exprlen);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field >= 0)
		snprintf(p->err, p->errlen, "cron \"%s\": %s field: %s", ex, fields[field].name, msg);
	else
		snprintf(p->err, p->errlen, "cron \"%s\": %s", ex, msg);
	return VIVA_EINVAL;
}

/* A short printable copy of s[0..n) for a message. */
static const char *snip(char *buf, size_t cap, const char *s, size_t n)
{
	printable(buf, cap, s, n);
	return buf;
}

/* One value: digits, or a three-letter name where the field has names. */
static int parse_value(const struct pctx *p, int f, const char **qp, const char *e, int *out)
{
	const struct field_spec *fs = &fields[f];
	const char *q = *qp, *s = q;
	char t[40];

	if (q < e && is_digit(*q)) {
		long v = 0;

		while (q < e && is_digit(*q)) {
			if (v <= 100000)
				v = v * 10 + (*q - '0');
			q++;
		}
		if (v < fs->lo || v > fs->hi) {
			if (v > 100000)
				return fail(p, f, "%s is out of range %d-%d",
					    snip(t, sizeof(t), s, (size_t)(q - s)), fs->lo, fs->hi);
			return fail(p, f, "%ld is out of range %d-%d", v, fs->lo, fs->hi);
		}
		*qp = q;
		*out = (int)v;
		return VIVA_OK;
	}
	while (q < e && (is_alpha(*q) || is_digit(*q)))
		q++;
	if (q == s) {
		/* Not a value at all ("-5", "#", "?"): show the rest of the item. */
		while (q < e && *q != ',')
			q++;
		return fail(p, f, "\"%s\" is not %s", snip(t, sizeof(t), s, (size_t)(q - s)), fs->what);
	}
	if (fs->names && q - s == 3) {
		for (int i = 0; fs->names[i]; i++)
			if (strncasecmp(s, fs->names[i], 3) == 0) {
				*qp = q;
				*out = fs->name_base + i;
				return VIVA_OK;
			}
	}
	return fail(p, f, "\"%s\" is not %s", snip(t, sizeof(t), s, (size_t)(q - s)), fs->what);
}

/* One list item [s, e): '*', N or A-B, optionally /S. Adds to *bits. */
static int parse_item(const struct pctx *p, int f, const char *s, const char *e, uint64_t *bits)
{
	const struct field_spec *fs = &fields[f];
	const char *q = s;
	int lo, hi, step = 1, err;
	bool star = false, range = false;
	char t1[40], t2[40];

	if (*q == '*') {
		star = true;
		q++;
		lo = fs->lo;
		hi = fs->star_hi;
	} else {
		if ((err = parse_value(p, f, &q, e, &lo)))
			return err;
		hi = lo;
		if (q < e && *q == '-') {
			const char *dash = q++;

			range = true;
			if (q == e || *q == '/')
				return fail(p, f, "range \"%s\" has no end",
					    snip(t1, sizeof(t1), s, (size_t)(e - s)));
			if ((err = parse_value(p, f, &q, e, &hi)))
				return err;
			if (hi < lo) {
				if (f == F_WDAY && hi == 0)
					return fail(p, f, "range %s is reversed; write %.*s-7 for a range ending on Sunday",
						    snip(t1, sizeof(t1), s, (size_t)(q - s)), (int)(dash - s), s);
				return fail(p, f, "range %s is reversed", snip(t1, sizeof(t1), s, (size_t)(q - s)));
			}
		}
	}
	if (q < e && *q == '/') {
		const char *st = ++q;
		int span = fs->star_hi - fs->lo + 1;
		long v = 0;

		while (q < e && is_digit(*q)) {
			if (v <= 100000)
				v = v * 10 + (*q - '0');
			q++;
		}
		if (q == st) {
			while (q < e && *q != ',')
				q++;
			return fail(p, f, "step \"%s\" is not a number", snip(t1, sizeof(t1), st, (size_t)(q - st)));
		}
		if (v == 0)
			return fail(p, f, "step 0 is not allowed");
		if (v > span)
			return fail(p, f, "step %s is out of range 1-%d",
				    snip(t1, sizeof(t1), st, (size_t)(q - st)), span);
		step = (int)v;
		if (!star && !range)
			hi = lo > fs->star_hi ? lo : fs->star_hi; /* "A/S": A through the end */
	}
	if (q < e)
		return fail(p, f, "unexpected \"%s\" after \"%s\"", snip(t1, sizeof(t1), q, (size_t)(e - q)),
			    snip(t2, sizeof(t2), s, (size_t)(q - s)));
	for (int v = lo; v <= hi; v += step)
		*bits |= UINT64_C(1) << (f == F_WDAY && v == 7 ? 0 : v);
	return VIVA_OK;
}

static int parse_field(const struct pctx *p, int f, const char *s, const char *e, uint64_t *bits)
{
	const char *item = s;
	char t[40];
	int err;

	for (;;) {
		const char *ie = item;

		while (ie < e && *ie != ',')
			ie++;
		if (ie == item)
			return fail(p, f, "empty item in list \"%s\"", snip(t, sizeof(t), s, (size_t)(e - s)));
		if ((err = parse_item(p, f, item, ie, bits)))
			return err;
		if (ie == e)
			return VIVA_OK;
		item = ie + 1;
		if (item == e)
			return fail(p, f, "empty item in list \"%s\"", snip(t, sizeof(t), s, (size_t)(e - s)));
	}
}

/* Parse the five fields of [s, e) (already known to be short). */
static int parse_fields(const struct pctx *p, const char *s, const char *e, struct cron_expr *out)
{
	const char *fs[F_COUNT], *fe[F_COUNT];
	uint64_t bits[F_COUNT] = { 0 };
	int n = 0, err;
	const char *q = s;

	for (;;) {
		while (q < e && is_blank(*q))
			q++;
		if (q == e)
			break;
		if (n < F_COUNT)
			fs[n] = q;
		while (q < e && !is_blank(*q))
			q++;
		if (n < F_COUNT)
			fe[n] = q;
		n++;
	}
	if (n != F_COUNT)
		return fail(p, -1, "expected 5 fields (minute hour day-of-month month day-of-week), got %d", n);
	for (int f = 0; f < F_COUNT; f++)
		if ((err = parse_field(p, f, fs[f], fe[f], &bits[f])))
			return err;
	out->minutes = bits[F_MIN];
	out->hours = (uint32_t)bits[F_HOUR];
	out->mdays = (uint32_t)bits[F_MDAY];
	out->months = (uint16_t)bits[F_MON];
	out->wdays = (uint8_t)bits[F_WDAY];
	/* Vixie cron: a field that starts with '*' is unrestricted. */
	out->mday_star = *fs[F_MDAY] == '*';
	out->wday_star = *fs[F_WDAY] == '*';
	return VIVA_OK;
}

int cron_parse(const char *expr, struct cron_expr *out, char *err, size_t errlen)
{
	struct pctx p = { expr ? expr : "", 0, err, errlen };
	const char *s, *e;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!expr)
		return fail(&p, -1, "empty expression");
	n = strnlen(expr, CRON_EXPR_MAX + 1);
	if (n > CRON_EXPR_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "cron expression is too long (more than %d characters)",
				 CRON_EXPR_MAX);
		return VIVA_EINVAL;
	}
	p.exprlen = n;
	s = expr;
	e = expr + n;
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	if (s == e)
		return fail(&p, -1, "empty expression");
	if (*s == '@') {
		const char *w = s;
		char t[40];

		while (w < e && !is_blank(*w))
			w++;
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
			if (strlen(macros[i].name) == (size_t)(w - s) &&
			    strncasecmp(macros[i].name, s, (size_t)(w - s)) == 0) {
				if (w != e)
					return fail(&p, -1, "unexpected \"%s\" after %s",
						    snip(t, sizeof(t), w + 1, (size_t)(e - w - 1)), macros[i].name);
				const char *x = macros[i].expansion;
				rc = parse_fields(&p, x, x + strlen(x), out);
				goto out;
			}
		}
		return fail(&p, -1, "unknown macro \"%s\" (use @hourly, @daily, @midnight, @weekly, "
			    "@monthly, @yearly or @annually)", snip(t, sizeof(t), s, (size_t)(w - s)));
	}
	rc = parse_fields(&p, s, e, out);
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

static bool day_matches(const struct cron_expr *c, unsigned mday, unsigned wday)
{
	bool md = c->mdays >> mday & 1, wd = c->wdays >> wday & 1;

	if (c->mday_star || c->wday_star)
		return md && wd;
	return md || wd;
}

/* Smallest set bit >= from, or -1. */
static int next_bit(uint64_t bits, int from, int max)
{
	for (int b = from; b <= max; b++)
		if (bits >> b & 1)
			return b;
	return -1;
}

int64_t cron_next(const struct cron_expr *c, int64_t after, const struct tz *tz)
{
	int64_t wall, limit;

	if (!c || after < CRON_T_MIN || after > CRON_T_MAX)
		return -1;
	/* Wall minutes before the current one all happened already (at their
	 * first occurrence), so the search walks local time from the next one. */
	wall = civil_floor_div(after + tz_offset_at(tz, after), 60) * 60 + 60;
	limit = wall + (int64_t)CRON_SEARCH_YEARS * 366 * 86400;
	for (int steps = 0; steps < CRON_STEPS_MAX && wall <= limit; steps++) {
		int64_t days = civil_floor_div(wall, 86400), y, t;
		int secs = (int)(wall - days * 86400), h = secs / 3600, mi = secs % 3600 / 60;
		unsigned m, d;
		int nh, nm;

		civil_from_days(days, &y, &m, &d);
		if (!(c->months >> m & 1)) {
			wall = civil_days_from(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
			continue;
		}
		if (!day_matches(c, d, civil_weekday(days))) {
			wall = (days + 1) * 86400;
			continue;
		}
		nh = next_bit(c->hours, h, 23);
		if (nh < 0) {
			wall = (days + 1) * 86400;
			continue;
		}
		if (nh > h) {
			wall = days * 86400 + nh * 3600;
			continue;
		}
		nm = next_bit(c->minutes, mi, 59);
		if (nm < 0) {
			wall = days * 86400 + (h + 1) * 3600;
			continue;
		}
		wall = days * 86400 + h * 3600 + nm * 60;
		t = tz_wall_to_utc(tz, wall);
		/* INT64_MIN: in the spring-forward gap; <= after: a repeat of a
		 * wall time that already fired before falling back. */
		if (t != INT64_MIN && t > after)
			return t;
		wall += 60;
	}
	return -1;
}

bool cron_matches(const struct cron_expr *c, int64_t t, const struct tz *tz)
{
	int64_t wall, days, y, first;
	unsigned m, d;
	int secs;

	if (!c || t < CRON_T_MIN || t > CRON_T_MAX)
		return false;
	wall = civil_floor_div(t + tz_offset_at(tz, t), 60) * 60;
	days = civil_floor_div(wall, 86400);
	secs = (int)(wall - days * 86400);
	civil_from_days(days, &y, &m, &d);
	if (!(c->months >> m & 1) || !day_matches(c, d, civil_weekday(days)) ||
	    !(c->hours >> (secs / 3600) & 1) || !(c->minutes >> (secs % 3600 / 60) & 1))
		return false;
	first = tz_wall_to_utc(tz, wall);
	return first != INT64_MIN && t >= first && t - first < 60;
}

