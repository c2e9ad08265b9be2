/*
 * Line charts as PNG (see chart.h for the contract). Everything is drawn
 * in points on a cairo image surface scaled to pixels; the layout is
 * computed from the size, the fonts' measures and the labels, top down:
 * title, range, unit, plot, time labels, time zone caption; the legend in
 * a column at the right.
 *
 * Bounded work: a series is read once (at most CHART_MAX_POINTS points),
 * sorted only when it is not in order already, cut to the range and
 * reduced per pixel column, so the path handed to cairo never has more
 * than about 5 points per column whatever came in. Coordinates handed to
 * cairo are always inside the image (cairo's fixed-point numbers wrap far
 * outside it).
 */
#include "bot/chart/chart.h"
#include "bot/chart/cairo_dl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/text.h"
#include "bot/lib/times.h"
#include "bot/lib/tz.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cairo's functions (cairo_dl.h): chart_png has them before anything is drawn. */
#define CAIRO (cairo_loaded())

#define DEF_W            1200
#define DEF_H            600
#define DEF_SCALE        2.0
#define VMAX             1e300                /* values beyond are drawn at the edge */
#define T_LIMIT          1e12                 /* times beyond (year 33658) are skipped */
#define T_MIN            (-62135596800.0)     /* 0001-01-01: the range is kept within */
#define T_MAX            253402300799.0       /* 9999-12-31 23:59:59 */
#define MIN_SPAN_S       10.0
#define MAX_OFFSET_S     (18 * 3600)
#define MAX_TEXT_BYTES   400                  /* of any text read; more could not fit */
#define MAX_PNG_BYTES    ((size_t)64 << 20)
#define MAX_TICKS        64
#define MAX_PIXELS       16e6                 /* 64 MB of surface: the scale gives way */

/* Tableau 10: ten hues told apart by most readers, colour-blind ones too. */
static const uint8_t palette[CHART_MAX_SERIES][3] = {
	{ 0x4E, 0x79, 0xA7 }, { 0xF2, 0x8E, 0x2B }, { 0xE1, 0x57, 0x59 }, { 0x76, 0xB7, 0xB2 },
	{ 0x59, 0xA1, 0x4F }, { 0xED, 0xC9, 0x48 }, { 0xB0, 0x7A, 0xA1 }, { 0xFF, 0x9D, 0xA7 },
	{ 0x9C, 0x75, 0x5F }, { 0xBA, 0xB0, 0xAC },
};

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void chart_series_rgb(size_t i, uint8_t rgb[3])
{
	memcpy(rgb, palette[i % CHART_MAX_SERIES], 3);
}

/* ---- text ---------------------------------------------------------------- */

/* Printable UTF-8 of at most MAX_TEXT_BYTES of s (caller frees). */
static char *clean_text(const char *s)
{
	char *t;

	if (!s)
		return xstrdup("");
	t = utf8_sanitize(s, strnlen(s, MAX_TEXT_BYTES));
	for (unsigned char *p = (unsigned char *)t; *p; p++) {
		if (*p < 0x20 || *p == 0x7F)
			*p = ' ';
		else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			p[0] = p[1] = ' ';   /* C1 controls, two bytes each */
	}
	return t;
}

static double text_w(cairo_t *cr, const char *s)
{
	cairo_text_extents_t e;

	CAIRO->text_extents(cr, s, &e);
	return e.x_advance;
}

/* s cut at a character boundary, with an ellipsis, to fit maxw (caller frees). */
static char *fit_text(cairo_t *cr, const char *s, double maxw)
{
	static const char ell[] = "\xE2\x80\xA6";
	size_t n = strlen(s), lo = 0, hi = n;
	char *buf;

	if (text_w(cr, s) <= maxw)
		return xstrdup(s);
	buf = xmalloc(n + sizeof(ell));
	/* the longest prefix (in bytes, on a character start) that fits with "…" */
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;
		while (mid > 0 && ((unsigned char)s[mid] & 0xC0) == 0x80)
			mid--;
		if (mid <= lo) {
			hi = lo;
			break;
		}
		memcpy(buf, s, mid);
		memcpy(buf + mid, ell, sizeof(ell));
		if (text_w(cr, buf) <= maxw)
			lo = mid;
		else
			hi = mid - 1;
	}
	while (lo > 0 && ((unsigned char)s[lo] & 0xC0) == 0x80)
		lo--;
	memcpy(buf, s, lo);
	memcpy(buf + lo, ell, sizeof(ell));
	return buf;
}

enum align { LEFT, CENTER, RIGHT };

static void text_at(cairo_t *cr, const char *s, double x, double y, enum align a)
{
	double w = a == LEFT ? 0 : text_w(cr, s);

	CAIRO->move_to(cr, a == LEFT ? x : a == CENTER ? x - w / 2 : x - w, y);
	CAIRO->show_text(cr, s);
}

static void font(cairo_t *cr, double size, bool bold)
{
	CAIRO->select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
			       bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	CAIRO->set_font_size(cr, size);
}

static void grey(cairo_t *cr, double level)
{
	CAIRO->set_source_rgb(cr, level, level, level);
}

/* ---- the data ------------------------------------------------------------ */

/*
 * A series reduced for drawing: per pixel column, in time order, the
 * range of its values there (lo == hi for a single value); a column with
 * lo NaN lifts the pen (a gap).
 */
struct colrange {
	double t, lo, hi;
};

struct line {
	struct colrange *c;
	size_t n, cap;
	double lo, hi;               /* of the finite values */
	bool any;
};

static int cmp_t(const void *a, const void *b)
{
	double x = ((const struct chart_point *)a)->t, y = ((const struct chart_point *)b)->t;

	return (x > y) - (x < y);
}

static double lerp(struct chart_point a, struct chart_point b, double t)
{
	/* a.t < t <= b.t or a.t <= t < b.t, values within +-VMAX: no overflow */
	return a.v + (b.v - a.v) * ((t - a.t) / (b.t - a.t));
}

/*
 * The points of s that matter for [t0, t1], in time order: times finite,
 * values clamped to +-VMAX (NaN for a gap), and where the line crosses an
 * edge of the range a point on the edge, from the neighbours on each side.
 * Returns the count; *out is the caller's.
 */
static size_t clip_points(const struct chart_series *s, double t0, double t1, struct chart_point **out)
{
	size_t n = s->points ? (s->n < CHART_MAX_POINTS ? s->n : CHART_MAX_POINTS) : 0;
	struct chart_point *a = xmalloc((n ? n : 1) * sizeof(*a)), *o;
	size_t k = 0, i = 0, j, m = 0;
	bool sorted = true;

	for (size_t x = 0; x < n; x++) {
		struct chart_point p = s->points[x];

		if (!isfinite(p.t) || fabs(p.t) > T_LIMIT)
			continue;
		if (!isfinite(p.v))
			p.v = NAN;
		else if (p.v > VMAX)
			p.v = VMAX;
		else if (p.v < -VMAX)
			p.v = -VMAX;
		if (k && p.t < a[k - 1].t)
			sorted = false;
		a[k++] = p;
	}
	if (!sorted)
		qsort(a, k, sizeof(*a), cmp_t);
	while (i < k && a[i].t < t0)
		i++;
	for (j = i; j < k && a[j].t <= t1; j++)
		;
	o = xmalloc((j - i + 2) * sizeof(*o));
	if (i > 0 && i < k && !isnan(a[i - 1].v) && !isnan(a[i].v) && a[i].t > t0)
		o[m++] = (struct chart_point){ t0, lerp(a[i - 1], a[i], t0) };
	for (size_t x = i; x < j; x++)
		o[m++] = a[x];
	if (j > 0 && j < k && !isnan(a[j - 1].v) && !isnan(a[j].v) && a[j - 1].t < t1)
		o[m++] = (struct chart_point){ t1, lerp(a[j - 1], a[j], t1) };
	free(a);
	*out = o;
	return m;
}

static void line_push(struct line *ln, struct colrange c)
{
	if (ln->n == ln->cap) {
		ln->cap = ln->cap ? ln->cap * 2 : 256;
		ln->c = xrealloc(ln->c, ln->cap * sizeof(*ln->c));
	}
	ln->c[ln->n++] = c;
	if (!isnan(c.lo)) {
		if (!ln->any || c.lo < ln->lo)
			ln->lo = c.lo;
		if (!ln->any || c.hi > ln->hi)
			ln->hi = c.hi;
		ln->any = true;
	}
}

/*
 * Reduce sorted points to one value range per column of `cols` over
 * [t0, t1] (a column is at most a pixel wide: nothing visible is lost, a
 * spike included). A gap (NaN) lifts the pen only when the points around
 * it are in different columns: a gap narrower than a pixel cannot be seen
 * anyway, and this keeps the result bounded when every other value is NaN.
 * A column's time is its first point's, so that sparse points keep their
 * exact place.
 */
static void decimate(const struct chart_point *p, size_t n, double t0, double t1, size_t cols, struct line *ln)
{
	double w = (t1 - t0) / (double)cols;
	struct colrange c = { 0, 0, 0 };
	bool have = false, gap = false;
	size_t cur = 0;

	for (size_t i = 0; i < n; i++) {
		double f;
		size_t col;

		if (isnan(p[i].v)) {
			gap = true;
			continue;
		}
		f = floor((p[i].t - t0) / w);
		col = f < 0 ? 0 : f >= (double)cols ? cols - 1 : (size_t)f;
		if (have && col == cur) {
			c.lo = fmin(c.lo, p[i].v);
			c.hi = fmax(c.hi, p[i].v);
			gap = false;
			continue;
		}
		if (have) {
			line_push(ln, c);
			if (gap)
				line_push(ln, (struct colrange){ p[i].t, NAN, NAN });
		}
		have = true;
		gap = false;
		cur = col;
		c = (struct colrange){ p[i].t, p[i].v, p[i].v };
	}
	if (have)
		line_push(ln, c);
}

/* ---- scales -------------------------------------------------------------- */

struct yscale {
	double lo, hi, step;
	int nticks;
	double ticks[16];
	char labels[16][32];
};

/* A round step near span/5: 1, 2, 2.5 or 5 times a power of ten. */
static double nice_step(double span)
{
	double raw = span / 5, e = floor(log10(raw)), p = pow(10, e), f = raw / p;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

static void format_value(double v, double step, double big, char *out, size_t n)
{
	static const struct { double div; const char *sfx; } si[] = {
		{ 1e12, "T" }, { 1e9, "G" }, { 1e6, "M" }, { 1e4, "k" },
	};
	double div = 1;
	const char *sfx = "";
	int d = 0;

	if (v == 0 || fabs(v) < step * 1e-9) {
		snprintf(out, n, "0");
		return;
	}
	if (big >= 1e15 || step < 1e-6) {
		snprintf(out, n, "%.3g", v);
		return;
	}
	for (size_t i = 0; i < sizeof(si) / sizeof(si[0]); i++) {
		if (big >= si[i].div) {
			div = si[i].div == 1e4 ? 1e3 : si[i].div;
			sfx = si[i].div == 1e4 ? "k" : si[i].sfx;
			break;
		}
	}
	/* as many decimals as the step needs: 0.25 -> 2, 1.5k -> 1 */
	for (double x = step / div; d < 9; d++, x *= 10)
		if (fabs(x - round(x)) < 1e-6 * (x > 1 ? x : 1))
			break;
	snprintf(out, n, "%.*f%s", d, v / div, sfx);
}

static void y_scale(double lo, double hi, struct yscale *ys)
{
	double step, base = 0, big;
	long long k0, k1;

	if (lo > 0)
		lo = 0;      /* traffic starts from nothing */
	if (hi < 0)
		hi = 0;
	if (hi - lo < 1e-200) {
		/* nothing but zeros: a unit scale */
		lo = 0;
		hi = 1;
	}
	step = nice_step(hi - lo);
	if (step > 0 && isfinite(step) && (hi - lo) / step <= 12) {
		k0 = (long long)floor(lo / step + 1e-9);
		k1 = (long long)ceil(hi / step - 1e-9);
		if (k1 <= k0)
			k1 = k0 + 1;
	} else {
		/* a span too small for round steps: four plain ones */
		base = lo;
		step = (hi - lo) / 4;
		k0 = 0;
		k1 = 4;
	}
	big = fmax(fabs(base + (double)k0 * step), fabs(base + (double)k1 * step));
	ys->step = step;
	ys->nticks = 0;
	for (long long k = k0; k <= k1 && ys->nticks < 16; k++) {
		double v = base + (double)k * step;

		ys->ticks[ys->nticks] = v;
		format_value(v, step, big, ys->labels[ys->nticks], sizeof(ys->labels[0]));
		ys->nticks++;
	}
	ys->lo = ys->ticks[0];
	ys->hi = ys->ticks[ys->nticks - 1];
}

/* ---- time ---------------------------------------------------------------- */

struct civ {
	int64_t y, days;
	unsigned mo, d, wd, hh, mi, ss;
};

static void civ_of(int64_t wall, struct civ *o)
{
	int64_t days = civil_floor_div(wall, 86400), secs = wall - days * 86400;

	civil_from_days(days, &o->y, &o->mo, &o->d);
	o->days = days;
	o->wd = civil_weekday(days);
	o->hh = (unsigned)(secs / 3600);
	o->mi = (unsigned)(secs % 3600 / 60);
	o->ss = (unsigned)(secs % 60);
}

struct timeaxis {
	const struct tz *tz;
	int off;                     /* when tz is NULL */
};

static int64_t wall_of(const struct timeaxis *ta, int64_t t)
{
	return t + (ta->tz ? tz_offset_at(ta->tz, t) : ta->off);
}

/* The instant of a local wall time, INT64_MIN when it does not exist. */
static int64_t utc_of(const struct timeaxis *ta, int64_t wall)
{
	return ta->tz ? tz_wall_to_utc(ta->tz, wall) : wall - ta->off;
}

struct tick {
	double t;
	char l1[32], l2[32];
};

enum tick_kind { TK_SECONDS, TK_DAYS, TK_MONTHS };

static const int64_t sec_steps[] = {
	1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
};
static const int64_t day_steps[] = { 1, 2, 7, 14 };
static const int64_t month_steps[] = { 1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200, 2400, 6000, 12000, 24000 };

static void tick_label(enum tick_kind kind, int64_t step, int64_t wall, const struct civ *prev,
		       struct tick *tk)
{
	struct civ c;

	civ_of(wall, &c);
	tk->l2[0] = '\0';
	if (kind == TK_SECONDS) {
		if (step < 60)
			snprintf(tk->l1, sizeof(tk->l1), "%02u:%02u:%02u", c.hh, c.mi, c.ss);
		else
			snprintf(tk->l1, sizeof(tk->l1), "%02u:%02u", c.hh, c.mi);
		if (!prev || prev->days != c.days)
			snprintf(tk->l2, sizeof(tk->l2), "%s %u %s", wdays[c.wd], c.d, months[c.mo - 1]);
	} else if (kind == TK_DAYS) {
		snprintf(tk->l1, sizeof(tk->l1), "%s %u", wdays[c.wd], c.d);
		if (!prev || prev->mo != c.mo)
			snprintf(tk->l2, sizeof(tk->l2), "%s %lld", months[c.mo - 1], (long long)c.y);
	} else if (step < 12) {
		snprintf(tk->l1, sizeof(tk->l1), "%s", months[c.mo - 1]);
		if (!prev || prev->y != c.y)
			snprintf(tk->l2, sizeof(tk->l2), "%lld", (long long)c.y);
	} else {
		snprintf(tk->l1, sizeof(tk->l1), "%lld", (long long)c.y);
	}
}

/*
 * Ticks on round local times over [t0, t1], about `target` of them at most.
 * Returns how many were written to tk (at most MAX_TICKS).
 */
static size_t time_ticks(const struct timeaxis *ta, double t0, double t1, double target, struct tick *tk)
{
	double span = t1 - t0;
	enum tick_kind kind = TK_MONTHS;
	int64_t step = month_steps[sizeof(month_steps) / sizeof(month_steps[0]) - 1];
	int64_t w0 = wall_of(ta, (int64_t)floor(t0)), w1 = wall_of(ta, (int64_t)ceil(t1)), first;
	struct civ prev, c;
	bool have_prev = false;
	size_t n = 0;

	if (target < 2)
		target = 2;
	for (size_t i = 0; i < sizeof(sec_steps) / sizeof(sec_steps[0]); i++) {
		if (span / (double)sec_steps[i] <= target) {
			kind = TK_SECONDS;
			step = sec_steps[i];
			goto chosen;
		}
	}
	for (size_t i = 0; i < sizeof(day_steps) / sizeof(day_steps[0]); i++) {
		if (span / (double)(day_steps[i] * 86400) <= target) {
			kind = TK_DAYS;
			step = day_steps[i];
			goto chosen;
		}
	}
	for (size_t i = 0; i < sizeof(month_steps) / sizeof(month_steps[0]); i++) {
		if (span / ((double)month_steps[i] * 30.44 * 86400) <= target) {
			step = month_steps[i];
			break;
		}
	}
chosen:
	/* the first round wall time at or after the range's start, then one
	 * step at a time; weeks start on Monday (1970-01-05 is day 4) */
	if (kind == TK_SECONDS) {
		first = civil_floor_div(w0 - 1, step) + 1;
	} else if (kind == TK_DAYS) {
		int64_t d0 = civil_floor_div(w0 - 1, 86400) + 1;
		first = 4 - civil_floor_div(4 - d0, step) * step;
	} else {
		struct civ s;
		int64_t m0;

		civ_of(w0, &s);
		m0 = s.y * 12 + (int64_t)s.mo - 1;
		if (s.d != 1 || s.hh || s.mi || s.ss)
			m0++;                      /* the next first of a month */
		first = -civil_floor_div(-m0, step) * step;
	}
	/* bounded even when a zone's offset moves by hours inside a short range */
	for (int64_t k = 0; k < 4 * MAX_TICKS && n < MAX_TICKS; k++) {
		int64_t wall, u;

		if (kind == TK_SECONDS) {
			wall = (first + k) * step;
		} else if (kind == TK_DAYS) {
			wall = (first + k * step) * 86400;
		} else {
			int64_t m = first + k * step, y = civil_floor_div(m, 12);
			wall = civil_days_from(y, (unsigned)(m - y * 12) + 1, 1) * 86400;
		}
		if (wall > w1)
			break;
		u = utc_of(ta, wall);
		if (u == INT64_MIN && kind != TK_SECONDS)
			u = utc_of(ta, wall + 3600);   /* midnight skipped by a clock change */
		if (u == INT64_MIN || (double)u < t0 || (double)u > t1)
			continue;
		tk[n].t = (double)u;
		tick_label(kind, step, wall, have_prev ? &prev : NULL, &tk[n]);
		civ_of(wall, &c);
		prev = c;
		have_prev = true;
		n++;
	}
	return n;
}

static void format_instant(const struct timeaxis *ta, double t, char *out, size_t n)
{
	struct civ c;

	civ_of(wall_of(ta, (int64_t)floor(t)), &c);
	snprintf(out, n, "%u %s %lld %02u:%02u", c.d, months[c.mo - 1], (long long)c.y, c.hh, c.mi);
}

static void zone_label(const struct timeaxis *ta, char *out, size_t n)
{
	int off = ta->off < 0 ? -ta->off : ta->off;

	if (ta->tz)
		snprintf(out, n, "%s", tz_name(ta->tz));
	else if (ta->off == 0)
		snprintf(out, n, "UTC");
	else
		snprintf(out, n, "UTC%c%02d:%02d", ta->off < 0 ? '-' : '+', off / 3600, off % 3600 / 60);
}

/* ---- PNG ------------------------------------------------------------------ */

struct png_buf {
	unsigned char *p;
	size_t len, cap;
};

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int length)
{
	struct png_buf *b = closure;

	if (length > MAX_PNG_BYTES - b->len)
		return CAIRO_STATUS_WRITE_ERROR;
	if (b->len + length > b->cap) {
		while (b->len + length > b->cap)
			b->cap = b->cap ? b->cap * 2 : 65536;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, length);
	b->len += length;
	return CAIRO_STATUS_SUCCESS;
}

/* ---- drawing ------------------------------------------------------------- */

struct layout {
	double W, H, u;
	double x0, x1, y0, y1;       /* the plot */
	double t0, t1;
	struct yscale ys;
};

static double xmap(const struct layout *L, double t)
{
	double x = L->x0 + (t - L->t0) / (L->t1 - L->t0) * (L->x1 - L->x0);

	return x < L->x0 ? L->x0 : x > L->x1 ? L->x1 : x;
}

static double ymap(const struct layout *L, double v)
{
	double f = (v - L->ys.lo) / (L->ys.hi - L->ys.lo);
	double y = L->y1 - f * (L->y1 - L->y0);

	/* a little outside is fine (the clip hides it); far outside is not */
	return y < L->y0 - 10 ? L->y0 - 10 : y > L->y1 + 10 ? L->y1 + 10 : y;
}

/*
 * A run between gaps is drawn as the outline of its band: along the tops
 * of its columns, back along their bottoms, filled and stroked. Where each
 * column holds one value the band is the line itself (stroked twice over);
 * where a column holds many, the band is what a line through all of them
 * would cover. One zigzag stroke through thousands of full-height spikes
 * would do the same, but cairo's stroker takes seconds over it: here the
 * edges stay short, and the cost follows the number of columns.
 */
static void draw_line(cairo_t *cr, const struct layout *L, const struct line *ln, size_t color)
{
	double u = L->u;

	CAIRO->set_source_rgb(cr, palette[color][0] / 255.0, palette[color][1] / 255.0, palette[color][2] / 255.0);
	CAIRO->set_line_width(cr, 2.5 * u);
	CAIRO->set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
	CAIRO->set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	for (size_t i = 0, j; i < ln->n; i = j) {
		if (isnan(ln->c[i].lo)) {
			j = i + 1;
			continue;
		}
		for (j = i; j < ln->n && !isnan(ln->c[j].lo); j++)
			;
		CAIRO->new_path(cr);
		if (j - i == 1 && ln->c[i].lo == ln->c[i].hi) {
			/* a point alone between gaps: a dot a little wider than the line */
			CAIRO->arc(cr, xmap(L, ln->c[i].t), ymap(L, ln->c[i].lo), 2.5 * u, 0, 2 * M_PI);
			CAIRO->fill(cr);
			continue;
		}
		CAIRO->move_to(cr, xmap(L, ln->c[i].t), ymap(L, ln->c[i].hi));
		for (size_t k = i + 1; k < j; k++)
			CAIRO->line_to(cr, xmap(L, ln->c[k].t), ymap(L, ln->c[k].hi));
		for (size_t k = j; k-- > i;)
			CAIRO->line_to(cr, xmap(L, ln->c[k].t), ymap(L, ln->c[k].lo));
		CAIRO->close_path(cr);
		CAIRO->fill_preserve(cr);
		CAIRO->stroke(cr);
	}
}

static void draw_time_axis(cairo_t *cr, const struct layout *L, const struct timeaxis *ta, const char *zone)
{
	double u = L->u, right = -1e9, fs = 18 * u;
	struct tick *tk = xcalloc(MAX_TICKS, sizeof(*tk));
	size_t n = time_ticks(ta, L->t0, L->t1, (L->x1 - L->x0) / (100 * u), tk);
	char *caption = xasprintf("time (%s)", zone);

	font(cr, fs, false);
	for (size_t i = 0; i < n; i++) {
		double x = xmap(L, tk[i].t), w = fmax(text_w(cr, tk[i].l1), text_w(cr, tk[i].l2));

		CAIRO->set_line_width(cr, 1 * u);
		grey(cr, 0.93);
		CAIRO->move_to(cr, x, L->y0);
		CAIRO->line_to(cr, x, L->y1);
		CAIRO->stroke(cr);
		grey(cr, 0.55);
		CAIRO->move_to(cr, x, L->y1);
		CAIRO->line_to(cr, x, L->y1 + 6 * u);
		CAIRO->stroke(cr);
		/* a label that would overlap the previous one is left out */
		if (x - w / 2 < right + 12 * u || x + w / 2 > L->W - 4 * u)
			continue;
		right = x + w / 2;
		grey(cr, 0.25);
		text_at(cr, tk[i].l1, x, L->y1 + 8 * u + fs, CENTER);
		grey(cr, 0.45);
		if (tk[i].l2[0])
			text_at(cr, tk[i].l2, x, L->y1 + 8 * u + fs + 24 * u, CENTER);
	}
	font(cr, 16 * u, false);
	grey(cr, 0.45);
	text_at(cr, caption, (L->x0 + L->x1) / 2, L->H - 16 * u, CENTER);
	free(caption);
	free(tk);
}

static void draw_y_axis(cairo_t *cr, const struct layout *L, bool labels)
{
	double u = L->u;

	font(cr, 18 * u, false);
	CAIRO->set_line_width(cr, 1 * u);
	for (int i = 0; labels && i < L->ys.nticks; i++) {
		double y = ymap(L, L->ys.ticks[i]);

		grey(cr, 0.88);
		CAIRO->move_to(cr, L->x0, y);
		CAIRO->line_to(cr, L->x1, y);
		CAIRO->stroke(cr);
		grey(cr, 0.25);
		text_at(cr, L->ys.labels[i], L->x0 - 10 * u, y + 6 * u, RIGHT);
	}
	grey(cr, 0.45);
	CAIRO->set_line_width(cr, 1.5 * u);
	CAIRO->move_to(cr, L->x0, L->y1);
	CAIRO->line_to(cr, L->x1, L->y1);
	CAIRO->stroke(cr);
}

/* Width the legend needs (0: none), names measured at the legend's font. */
static double legend_width(cairo_t *cr, char *const *names, size_t n, double u)
{
	double w = 0;

	if (!n)
		return 0;
	font(cr, 18 * u, false);
	for (size_t i = 0; i < n; i++)
		w = fmax(w, text_w(cr, names[i]));
	return 38 * u + fmin(w, 250 * u);
}

static void draw_legend(cairo_t *cr, const struct layout *L, char *const *names, size_t n, size_t more,
			double lx, double lw)
{
	double u = L->u, y = L->y0 + 16 * u;

	font(cr, 18 * u, false);
	for (size_t i = 0; i < n; i++, y += 30 * u) {
		char *s = fit_text(cr, names[i], lw - 38 * u);

		CAIRO->set_source_rgb(cr, palette[i][0] / 255.0, palette[i][1] / 255.0, palette[i][2] / 255.0);
		CAIRO->rectangle(cr, lx, y - 10 * u, 28 * u, 8 * u);
		CAIRO->fill(cr);
		grey(cr, 0.2);
		text_at(cr, s, lx + 38 * u, y, LEFT);
		free(s);
	}
	if (more) {
		char buf[48];

		snprintf(buf, sizeof(buf), "+%zu more not shown", more);
		grey(cr, 0.45);
		text_at(cr, buf, lx, y, LEFT);
	}
}

/* The time range: the caller's, or the points' own. */
static void time_range(const struct chart *c, double *t0, double *t1)
{
	double lo = INFINITY, hi = -INFINITY;

	*t0 = (double)c->start;
	*t1 = (double)c->end;
	if (!(*t1 > *t0)) {
		for (size_t s = 0; s < c->nseries && s < CHART_MAX_SERIES; s++) {
			const struct chart_series *se = &c->series[s];
			size_t n = se->points ? (se->n < CHART_MAX_POINTS ? se->n : CHART_MAX_POINTS) : 0;
			for (size_t i = 0; i < n; i++) {
				double t = se->points[i].t;
				if (isfinite(t) && fabs(t) <= T_LIMIT) {
					lo = fmin(lo, t);
					hi = fmax(hi, t);
				}
			}
		}
		if (lo <= hi) {
			*t0 = lo;
			*t1 = hi;
		} else {
			*t1 = *t0 + 3600;
		}
		if (*t1 - *t0 < MIN_SPAN_S) {
			*t0 -= 1800;
			*t1 += 1800;
		}
	}
	*t0 = fmax(T_MIN, fmin(*t0, T_MAX - MIN_SPAN_S));
	*t1 = fmin(T_MAX, fmax(*t1, *t0 + MIN_SPAN_S));
}

int chart_png(const struct chart *c, unsigned char **png, size_t *len, char *err, size_t errlen)
{
	cairo_surface_t *surf = NULL;
	cairo_t *cr = NULL;
	struct png_buf buf = { 0 };
	struct line lines[CHART_MAX_SERIES];
	char *names[CHART_MAX_SERIES] = { 0 };
	char *title = NULL, *unit = NULL, *empty = NULL, *s = NULL;
	char zone[64], from[48], to[48], range[192];
	struct timeaxis ta = { 0 };
	struct layout L = { 0 };
	size_t ns = 0, more = 0, cols;
	double scale, lo = 0, hi = 0, lw, ylw = 0;
	bool any = false;
	cairo_status_t st;
	int rc = VIVA_OK;

	memset(lines, 0, sizeof(lines));
	if (png)
		*png = NULL;
	if (len)
		*len = 0;
	if (!c || !png || !len || (c->nseries && !c->series)) {
		viva_errf(err, errlen, "chart: nothing to draw (a bad call)");
		return VIVA_EINVAL;
	}
	{
		char why[256];

		if (!cairo_dl(why, sizeof(why))) {
			viva_errf(err, errlen, "chart: cannot draw (%s)", why);
			log_warn("chart failed", "error=\"%s\"", why);
			return VIVA_EUNAVAIL;
		}
	}
	L.W = c->width > 0 ? (c->width < 300 ? 300 : c->width > 4000 ? 4000 : c->width) : DEF_W;
	L.H = c->height > 0 ? (c->height < 300 ? 300 : c->height > 4000 ? 4000 : c->height) : DEF_H;
	scale = c->scale > 0 && isfinite(c->scale) ? fmin(fmax(c->scale, 1), 4) : DEF_SCALE;
	if (L.W * L.H * scale * scale > MAX_PIXELS)
		scale = sqrt(MAX_PIXELS / ((L.W + 1) * (L.H + 1)));   /* +1: the pixels are rounded up */
	L.u = fmin(L.W / DEF_W, L.H / DEF_H);
	ta.tz = c->tz;
	ta.off = c->utc_offset_s < -MAX_OFFSET_S || c->utc_offset_s > MAX_OFFSET_S ? 0 : c->utc_offset_s;
	time_range(c, &L.t0, &L.t1);

	/* the data first: the y scale decides the left margin */
	ns = c->nseries < CHART_MAX_SERIES ? c->nseries : CHART_MAX_SERIES;
	more = c->nseries - ns;
	cols = (size_t)ceil(L.W * scale);
	for (size_t i = 0; i < ns; i++) {
		struct chart_point *p = NULL;
		size_t n = clip_points(&c->series[i], L.t0, L.t1, &p);

		decimate(p, n, L.t0, L.t1, cols, &lines[i]);
		free(p);
		if (lines[i].any) {
			lo = any ? fmin(lo, lines[i].lo) : lines[i].lo;
			hi = any ? fmax(hi, lines[i].hi) : lines[i].hi;
			any = true;
		}
		names[i] = clean_text(c->series[i].name ? c->series[i].name : "(unnamed)");
	}
	y_scale(lo, hi, &L.ys);

	surf = CAIRO->image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(L.W * scale), (int)ceil(L.H * scale));
	cr = CAIRO->create(surf);
	CAIRO->scale(cr, scale, scale);
	CAIRO->set_source_rgb(cr, 1, 1, 1);
	CAIRO->paint(cr);

	title = clean_text(c->title);
	unit = clean_text(c->unit);
	empty = clean_text(c->empty_text ? c->empty_text : "no traffic");
	zone_label(&ta, zone, sizeof(zone));
	format_instant(&ta, L.t0, from, sizeof(from));
	format_instant(&ta, L.t1, to, sizeof(to));
	snprintf(range, sizeof(range), "%s \xE2\x80\x93 %s (%s)", from, to, zone);

	/* margins */
	font(cr, 18 * L.u, false);
	for (int i = 0; any && i < L.ys.nticks; i++)
		ylw = fmax(ylw, text_w(cr, L.ys.labels[i]));
	lw = any ? legend_width(cr, names, ns, L.u) : 0;
	L.x0 = 24 * L.u + fmax(ylw, 20 * L.u) + 14 * L.u;
	L.x1 = L.W - 24 * L.u - (lw > 0 ? lw + 24 * L.u : 30 * L.u);
	L.y0 = 132 * L.u;
	L.y1 = L.H - 92 * L.u;

	/* title, range, unit */
	font(cr, 28 * L.u, true);
	grey(cr, 0.1);
	s = fit_text(cr, title, L.W - 48 * L.u);
	text_at(cr, s, 24 * L.u, 24 * L.u + 26 * L.u, LEFT);
	free(s);
	font(cr, 17 * L.u, false);
	grey(cr, 0.4);
	s = fit_text(cr, range, L.W - 48 * L.u);
	text_at(cr, s, 24 * L.u, 80 * L.u, LEFT);
	free(s);
	font(cr, 18 * L.u, false);
	grey(cr, 0.3);
	s = fit_text(cr, unit, L.x1 - 24 * L.u);
	text_at(cr, s, 24 * L.u, L.y0 - 16 * L.u, LEFT);
	free(s);
	s = NULL;

	draw_y_axis(cr, &L, any);
	draw_time_axis(cr, &L, &ta, zone);
	if (any) {
		CAIRO->save(cr);
		CAIRO->rectangle(cr, L.x0 - 4 * L.u, L.y0 - 4 * L.u, L.x1 - L.x0 + 8 * L.u, L.y1 - L.y0 + 4 * L.u);
		CAIRO->clip(cr);
		/* the first series (the largest) last, on top */
		for (size_t i = ns; i-- > 0;)
			draw_line(cr, &L, &lines[i], i);
		CAIRO->restore(cr);
		draw_legend(cr, &L, names, ns, more, L.x1 + 24 * L.u, lw);
	} else {
		font(cr, 30 * L.u, false);
		grey(cr, 0.5);
		s = fit_text(cr, empty, L.x1 - L.x0 - 20 * L.u);
		text_at(cr, s, (L.x0 + L.x1) / 2, (L.y0 + L.y1) / 2 + 10 * L.u, CENTER);
		free(s);
	}

	st = CAIRO->status(cr);
	if (st == CAIRO_STATUS_SUCCESS)
		st = CAIRO->surface_write_to_png_stream(surf, png_write, &buf);
	if (st != CAIRO_STATUS_SUCCESS) {
		viva_errf(err, errlen, "chart: cannot draw the image (cairo: %s)", CAIRO->status_to_string(st));
		log_warn("chart failed", "error=\"%s\"", CAIRO->status_to_string(st));
		free(buf.p);
		rc = VIVA_EIO;
		goto out;
	}
	*png = buf.p;
	*len = buf.len;
out:
	CAIRO->destroy(cr);
	CAIRO->surface_destroy(surf);
	for (size_t i = 0; i < CHART_MAX_SERIES; i++) {
		free(lines[i].c);
		free(names[i]);
	}
	free(title);
	free(unit);
	free(empty);
	return rc;
}
