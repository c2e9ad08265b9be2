#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZ_FILE_MAX (1 << 20)      /* real zone files are a few KiB */
#define TZ_NAME_MAX 255
/* RFC 8536 3.2: utoff should lie in [-89999, 93599]. */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599

/* cron_next accepts `after` in [1800-01-01, 5000-01-01): keeps all civil
 * arithmetic far from overflow. */
#define CRON_T_MIN INT64_C(-5364662400)
#define CRON_T_MAX INT64_C(95617584000)
/* Far more than any expression needs over CRON_SEARCH_YEARS; a safety net. */
#define CRON_STEPS_MAX 1000000

/* ---- civil calendar (proleptic Gregorian, days since 1970-01-01) -------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* H. Hinnant's days_from_civil / civil_from_days: exact for any year here. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static unsigned weekday(int64_t days)
{
	return (unsigned)(days + 4 - floor_div(days + 4, 7) * 7);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_len(int64_t y, unsigned m)
{
	static const unsigned char len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* ---- time zones ---------------------------------------------------------- */

/* One date rule of a POSIX TZ string: Jn, n or Mm.w.d, then a local time. */
struct tz_rule {
	char kind;        /* 'J' (1-365, no 29 Feb), 'D' (0-365), 'M' (month.week.day) */
	int a, b, c;      /* J/D: a = day; M: a = month, b = week 1-5, c = weekday */
	int32_t secs;     /* local time of day of the change, may be < 0 or > 24h */
};

struct tz {
	char *name;
	size_t n;          /* number of transitions */
	int64_t *at;       /* transition instants, strictly ascending */
	int32_t *off;      /* offset in effect from at[i] */
	int32_t off0;      /* before at[0]: time type 0 (RFC 8536) */
	bool has_rule;     /* footer understood: it rules from at[n-1] on */
	bool rule_dst;
	int32_t std_off;   /* seconds east */
	int32_t dst_off;
	struct tz_rule start, end;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The six counts of a TZif header, in file order. */
struct tzif_hdr {
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/*
 * Read the 44-byte header at data[pos] and the size of the data block after
 * it (ts = 4 for v1 times, 8 for v2+). false if it does not fit in len.
 */
static bool tzif_header(const unsigned char *data, size_t len, size_t pos, int ts,
			struct tzif_hdr *h, uint64_t *block)
{
	const unsigned char *p;

	if (len < 44 || pos > len - 44)
		return false;
	p = data + pos;
	if (memcmp(p, "TZif", 4) != 0)
		return false;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	/* Counts are 32-bit, so this sum cannot overflow 64 bits. */
	*block = (uint64_t)h->timecnt * (uint64_t)(ts + 1) + (uint64_t)h->typecnt * 6 +
		 h->charcnt + (uint64_t)h->leapcnt * (uint64_t)(ts + 4) + h->isstdcnt + h->isutcnt;
	return *block <= len - 44 - pos;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Unsigned decimal of 1..ndig digits, value <= max. */
static bool posix_num(const char **pp, int ndig, int max, int *out)
{
	const char *p = *pp;
	int v = 0, k = 0;

	while (is_digit(*p) && k < ndig) {
		v = v * 10 + (*p++ - '0');
		k++;
	}
	if (k == 0 || v > max || is_digit(*p))
		return false;
	*pp = p;
	*out = v;
	return true;
}

/* Zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static bool posix_name(const char **pp)
{
	const char *p = *pp, *s;

	if (*p == '<') {
		s = ++p;
		while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-')
			p++;
		if (*p != '>' || p - s < 3)
			return false;
		p++;
	} else {
		s = p;
		while (is_alpha(*p))
			p++;
		if (p - s < 3)
			return false;
	}
	*pp = p;
	return true;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; value in seconds, sign applied. */
static bool posix_hms(const char **pp, int maxh, int32_t *out)
{
	const char *p = *pp;
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!posix_num(&p, 3, maxh, &h))
		return false;
	if (*p == ':') {
		p++;
		if (!posix_num(&p, 2, 59, &m))
			return false;
		if (*p == ':') {
			p++;
			if (!posix_num(&p, 2, 59, &s))
				return false;
		}
	}
	*pp = p;
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

static bool posix_rule(const char **pp, struct tz_rule *r)
{
	const char *p = *pp;

	memset(r, 0, sizeof(*r));
	if (*p == 'J') {
		p++;
		r->kind = 'J';
		if (!posix_num(&p, 3, 365, &r->a) || r->a < 1)
			return false;
	} else if (*p == 'M') {
		p++;
		r->kind = 'M';
		if (!posix_num(&p, 2, 12, &r->a) || r->a < 1 || *p++ != '.' ||
		    !posix_num(&p, 1, 5, &r->b) || r->b < 1 || *p++ != '.' ||
		    !posix_num(&p, 1, 6, &r->c))
			return false;
	} else {
		r->kind = 'D';
		if (!posix_num(&p, 3, 365, &r->a))
			return false;
	}
	r->secs = 7200;
	/* RFC 8536 3.3.1 allows -167..167 hours here (POSIX only 0..24). */
	if (*p == '/') {
		p++;
		if (!posix_hms(&p, 167, &r->secs))
			return false;
	}
	*pp = p;
	return true;
}

/* Parse a POSIX TZ string (the TZif footer) into tz's rule fields. */
static bool posix_tz(const char *p, struct tz *tz)
{
	int32_t v;

	if (!posix_name(&p) || !posix_hms(&p, 24, &v))
		return false;
	tz->std_off = -v; /* POSIX counts west of Greenwich */
	tz->dst_off = tz->std_off;
	tz->rule_dst = false;
	if (*p == '\0')
		return true;
	if (!posix_name(&p))
		return false;
	tz->rule_dst = true;
	tz->dst_off = tz->std_off + 3600;
	if (*p != ',' && *p != '\0') {
		if (!posix_hms(&p, 24, &v))
			return false;
		tz->dst_off = -v;
	}
	if (*p == '\0') {
		/* No rule given: the traditional US default, as glibc does. */
		tz->start = (struct tz_rule){ 'M', 3, 2, 0, 7200 };
		tz->end = (struct tz_rule){ 'M', 11, 1, 0, 7200 };
		return true;
	}
	if (*p++ != ',' || !posix_rule(&p, &tz->start) || *p++ != ',' || !posix_rule(&p, &tz->end))
		return false;
	return *p == '\0';
}

/* The instant (UTC) of rule r in year y, its local time read at offset lo. */
static int64_t rule_at(const struct tz_rule *r, int64_t y, int32_t lo)
{
	int64_t jan1 = days_from_civil(y, 1, 1), day;

	if (r->kind == 'J') {
		day = jan1 + r->a - 1 + (is_leap(y) && r->a >= 60);
	} else if (r->kind == 'D') {
		day = jan1 + r->a;
	} else {
		int64_t first = days_from_civil(y, (unsigned)r->a, 1);
		int md = 1 + (r->c - (int)weekday(first) + 7) % 7 + (r->b - 1) * 7;

		while (md > (int)month_len(y, (unsigned)r->a))
			md -= 7;
		day = first + md - 1;
	}
	return day * 86400 + r->secs - lo;
}

static int32_t rule_offset(const struct tz *tz, int64_t t)
{
	int64_t y, s, e;
	unsigned m, d;

	if (!tz->rule_dst)
		return tz->std_off;
	/* Absurd instants get some year's answer instead of overflowing. */
	if (t > INT64_C(1) << 40)
		t = INT64_C(1) << 40;
	if (t < -(INT64_C(1) << 40))
		t = -(INT64_C(1) << 40);
	civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
	s = rule_at(&tz->start, y, tz->std_off);
	e = rule_at(&tz->end, y, tz->dst_off);
	if (s < e)
		return t >= s && t < e ? tz->dst_off : tz->std_off;
	/* Southern hemisphere (or negative DST): summer spans the new year. */
	return t >= e && t < s ? tz->std_off : tz->dst_off;
}

int32_t tz_offset_at(const struct tz *tz, int64_t t)
{
	size_t lo, hi;

	if (!tz)
		return 0;
	if (tz->n == 0)
		return tz->has_rule ? rule_offset(tz, t) : tz->off0;
	if (t < tz->at[0])
		return tz->off0;
	if (t >= tz->at[tz->n - 1])
		return tz->has_rule ? rule_offset(tz, t) : tz->off[tz->n - 1];
	/* Largest i with at[i] <= t; at[0] <= t < at[n-1] here. */
	lo = 0;
	hi = tz->n - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->off[lo];
}

const char *tz_name(const struct tz *tz)
{
	return tz && tz->name ? tz->name : "UTC";
}

void tz_free(struct tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->at);
	free(tz->off);
	free(tz);
}

int tz_parse(const char *name, const void *data, size_t len, struct tz **out)
{
	const unsigned char *d = data, *times, *idx, *types;
	struct tzif_hdr h;
	uint64_t block;
	size_t pos = 0;
	int ts = 4;
	struct tz *tz = NULL;
	int err = VIVA_EPARSE;

	*out = NULL;
	if (!d || !tzif_header(d, len, 0, 4, &h, &block))
		goto out;
	if (d[4] != 0) {
		/* v2+: skip the v1 block, use the 64-bit one (RFC 8536 4). */
		pos = 44 + (size_t)block;
		ts = 8;
		if (!tzif_header(d, len, pos, 8, &h, &block))
			goto out;
	}
	if (h.typecnt == 0 || h.typecnt > 256)
		goto out;
	times = d + pos + 44;
	idx = times + (size_t)h.timecnt * (size_t)ts;
	types = idx + h.timecnt;

	tz = xcalloc(1, sizeof(*tz));
	tz->name = xstrdup(name ? name : "");
	tz->n = h.timecnt;
	if (tz->n) {
		tz->at = xcalloc(tz->n, sizeof(*tz->at));
		tz->off = xcalloc(tz->n, sizeof(*tz->off));
	}
	for (uint32_t i = 0; i < h.typecnt; i++) {
		int32_t u = (int32_t)be32(types + 6 * (size_t)i);
		if (u < UTOFF_MIN || u > UTOFF_MAX)
			goto out;
	}
	tz->off0 = (int32_t)be32(types);
	for (size_t i = 0; i < tz->n; i++) {
		tz->at[i] = ts == 8 ? be64(times + 8 * i) : (int64_t)(int32_t)be32(times + 4 * i);
		if (i > 0 && tz->at[i] <= tz->at[i - 1])
			goto out;
		if (idx[i] >= h.typecnt)
			goto out;
		tz->off[i] = (int32_t)be32(types + 6 * (size_t)idx[i]);
	}
	if (ts == 8) {
		/* Footer: "\n" TZ-string "\n" right after the v2 block. */
		const char *f = (const char *)d + pos + 44 + (size_t)block;
		size_t left = len - (pos + 44 + (size_t)block), k;
		char buf[128];

		if (left >= 2 && f[0] == '\n') {
			for (k = 1; k < left && f[k] != '\n'; k++)
				;
			if (k < left && k - 1 < sizeof(buf) && k > 1) {
				memcpy(buf, f + 1, k - 1);
				buf[k - 1] = '\0';
				tz->has_rule = posix_tz(buf, tz);
				if (!tz->has_rule)
					log_warn("time zone rule not understood, using its last transition",
						 "zone=%s", tz->name);
			}
		}
	}
	err = VIVA_OK;
out:
	if (err) {
		tz_free(tz);
		tz = NULL;
	}
	*out = tz;
	return err;
}

/* An IANA name: relative, components of [A-Za-z0-9_+.-], none "." or "..". */
static bool tz_name_ok(const char *name)
{
	size_t n = strnlen(name, TZ_NAME_MAX + 1), comp = 0;

	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];

		if (c == '/' || c == '\0') {
			if (comp == 0)
				return false;
			if ((comp == 1 && name[i - 1] == '.') ||
			    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return false;
			comp = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '.')
			return false;
		comp++;
	}
	return true;
}

/* Whole regular file, at most TZ_FILE_MAX bytes. */
static int read_zone_file(const char *path, unsigned char **out, size_t *len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	int fd, err = VIVA_OK;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? VIVA_ENOENT : VIVA_EIO;
	if (fstat(fd, &st) != 0) {
		err = VIVA_EIO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = VIVA_ENOENT; /* a directory such as "America" is not a zone */
		goto out;
	}
	if (st.st_size > TZ_FILE_MAX) {
		err = VIVA_EPARSE;
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = VIVA_EIO;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
out:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = got;
	return VIVA_OK;
}

int tz_load(const char *name, struct tz **out)
{
	char path[sizeof(ZONEINFO_DIR) + TZ_NAME_MAX + 2];
	unsigned char *data = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if (!name || !tz_name_ok(name))
		return VIVA_EINVAL;
	snprintf(path, sizeof(path), "%s/%s", ZONEINFO_DIR, name);
	err = read_zone_file(path, &data, &len);
	if (err == VIVA_ENOENT && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) {
		/* Minimal containers ship without tzdata; UTC needs no data. */
		struct tz *tz = xcalloc(1, sizeof(*tz));
		tz->name = xstrdup(name);
		*out = tz;
		return VIVA_OK;
	}
	if (err)
		return err;
	err = tz_parse(name, data, len, out);
	free(data);
	return err;
}

/*
 * The earliest instant whose local wall time (seconds since the epoch as if
 * local were UTC) is `wall`, or INT64_MIN when `wall` falls in a gap.
 * Solutions lie within a day of `wall`, and zones change offset at most once
 * in a couple of days, so the offsets found a day either side and at `wall`
 * itself are all the candidates.
 */
static int64_t wall_to_utc_first(const struct tz *tz, int64_t wall)
{
	int32_t cand[3];
	int64_t best = INT64_MAX;

	if (!tz)
		return wall;
	cand[0] = tz_offset_at(tz, wall - 86400);
	cand[1] = tz_offset_at(tz, wall);
	cand[2] = tz_offset_at(tz, wall + 86400);
	for (int i = 0; i < 3; i++) {
		int64_t t = wall - cand[i];
		if (tz_offset_at(tz, t) == cand[i] && t < best)
			best = t;
	}
	return best == INT64_MAX ? INT64_MIN : best;
}

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
	wall = floor_div(after + tz_offset_at(tz, after), 60) * 60 + 60;
	limit = wall + (int64_t)CRON_SEARCH_YEARS * 366 * 86400;
	for (int steps = 0; steps < CRON_STEPS_MAX && wall <= limit; steps++) {
		int64_t days = floor_div(wall, 86400), y, t;
		int secs = (int)(wall - days * 86400), h = secs / 3600, mi = secs % 3600 / 60;
		unsigned m, d;
		int nh, nm;

		civil_from_days(days, &y, &m, &d);
		if (!(c->months >> m & 1)) {
			wall = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
			continue;
		}
		if (!day_matches(c, d, weekday(days))) {
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
		t = wall_to_utc_first(tz, wall);
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
	wall = floor_div(t + tz_offset_at(tz, t), 60) * 60;
	days = floor_div(wall, 86400);
	secs = (int)(wall - days * 86400);
	civil_from_days(days, &y, &m, &d);
	if (!(c->months >> m & 1) || !day_matches(c, d, weekday(days)) ||
	    !(c->hours >> (secs / 3600) & 1) || !(c->minutes >> (secs % 3600 / 60) & 1))
		return false;
	first = wall_to_utc_first(tz, wall);
	return first != INT64_MIN && t >= first && t - first < 60;
}
