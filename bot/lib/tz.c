/* IANA time zones from TZif files (see tz.h). */
#include "bot/lib/tz.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"

#include <errno.h>
#include <fcntl.h>
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
	int64_t jan1 = civil_days_from(y, 1, 1), day;

	if (r->kind == 'J') {
		day = jan1 + r->a - 1 + (civil_is_leap(y) && r->a >= 60);
	} else if (r->kind == 'D') {
		day = jan1 + r->a;
	} else {
		int64_t first = civil_days_from(y, (unsigned)r->a, 1);
		int md = 1 + (r->c - (int)civil_weekday(first) + 7) % 7 + (r->b - 1) * 7;

		while (md > (int)civil_month_len(y, (unsigned)r->a))
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
	civil_from_days(civil_floor_div(t + tz->std_off, 86400), &y, &m, &d);
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
int64_t tz_wall_to_utc(const struct tz *tz, int64_t wall)
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

