/*
 * Tests for bot/cron.c (cron expressions, time zones) and bot/sched.c (the
 * scheduler's decisions with a fake clock and an in-memory claim table).
 *
 * Time-zone answers are checked against glibc's localtime_r() with TZ set:
 * this test is single-threaded, so setenv("TZ") is fine here (the code under
 * test never touches it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/sched.h"
#include "bot/lib/alloc.h"

/* ---- helpers ------------------------------------------------------------ */

/* Unix time of a UTC civil time. */
static int64_t U(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm);
}

static struct cron_expr P(const char *s)
{
	struct cron_expr c;
	char err[512];
	int rc = cron_parse(s, &c, err, sizeof(err));

	if (rc)
		fail_msg("cron_parse(\"%s\") failed: %s", s, err);
	return c;
}

static struct tz *Z(const char *name)
{
	struct tz *tz = NULL;
	int rc = tz_load(name, &tz);

	if (rc)
		fail_msg("tz_load(%s): %s", name, viva_strerror(rc));
	return tz;
}

static uint64_t bits(const int *v, int n)
{
	uint64_t b = 0;

	for (int i = 0; i < n; i++)
		b |= UINT64_C(1) << v[i];
	return b;
}
#define BITS(...) bits((const int[]){ __VA_ARGS__ }, (int)(sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int)))

static void assert_expr_eq(const struct cron_expr *a, const struct cron_expr *b)
{
	assert_int_equal(a->minutes, b->minutes);
	assert_int_equal(a->hours, b->hours);
	assert_int_equal(a->mdays, b->mdays);
	assert_int_equal(a->months, b->months);
	assert_int_equal(a->wdays, b->wdays);
	assert_int_equal(a->mday_star, b->mday_star);
	assert_int_equal(a->wday_star, b->wday_star);
}

/* Log lines go to a temporary file while captured. */
struct logcap {
	FILE *f;
};

static void logcap_start(struct logcap *c)
{
	c->f = tmpfile();
	assert_non_null(c->f);
	log_set_fd(fileno(c->f));
}

static char *logcap_stop(struct logcap *c)
{
	int fd = fileno(c->f);
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf;

	log_set_fd(2);
	assert_true(n >= 0);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
	buf[n] = '\0';
	fclose(c->f);
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Deterministic PRNG (xorshift64*) so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717u) >> 33) % n;
}

static void set_glibc_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static long glibc_off(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(localtime_r(&tt, &tm));
	return tm.tm_gmtoff;
}

/* ---- cron_parse: syntax ---------------------------------------------------- */

static void cron_parse__all_stars__every_value_and_both_star_flags(void **state)
{
	struct cron_expr c = P("* * * * *");

	(void)state;
	assert_int_equal(c.minutes, (UINT64_C(1) << 60) - 1);
	assert_int_equal(c.hours, (UINT32_C(1) << 24) - 1);
	assert_int_equal(c.mdays, 0xFFFFFFFEu);
	assert_int_equal(c.months, 0x1FFE);
	assert_int_equal(c.wdays, 0x7F);
	assert_true(c.mday_star);
	assert_true(c.wday_star);
}

static void cron_parse__lists_ranges_steps__exact_sets(void **state)
{
	struct cron_expr c = P("0,15,30-40/5 */6 1-10/3 */2 1-5");

	(void)state;
	assert_int_equal(c.minutes, BITS(0, 15, 30, 35, 40));
	assert_int_equal(c.hours, BITS(0, 6, 12, 18));
	assert_int_equal(c.mdays, BITS(1, 4, 7, 10));
	assert_int_equal(c.months, BITS(1, 3, 5, 7, 9, 11));
	assert_int_equal(c.wdays, BITS(1, 2, 3, 4, 5));
	assert_false(c.mday_star);
	assert_false(c.wday_star);
}

static void cron_parse__value_slash_step__runs_to_field_end(void **state)
{
	struct cron_expr c = P("5/20 3/10 10/10 2/5 1/2");

	(void)state;
	assert_int_equal(c.minutes, BITS(5, 25, 45));
	assert_int_equal(c.hours, BITS(3, 13, 23));
	assert_int_equal(c.mdays, BITS(10, 20, 30));
	assert_int_equal(c.months, BITS(2, 7, 12));
	assert_int_equal(c.wdays, BITS(1, 3, 5)); /* implied range 0-6 */
}

static void cron_parse__month_and_day_names__any_case(void **state)
{
	struct cron_expr c = P("0 0 * jan,Mar-MAY,dec sun,Wed-FRI");
	struct cron_expr d = P("0 0 * JAN-DEC/3 MON-sat/2");

	(void)state;
	assert_int_equal(c.months, BITS(1, 3, 4, 5, 12));
	assert_int_equal(c.wdays, BITS(0, 3, 4, 5));
	assert_int_equal(d.months, BITS(1, 4, 7, 10));
	assert_int_equal(d.wdays, BITS(1, 3, 5));
}

static void cron_parse__day_of_week_7__is_sunday(void **state)
{
	(void)state;
	assert_int_equal(P("0 0 * * 7").wdays, BITS(0));
	assert_int_equal(P("0 0 * * 5-7").wdays, BITS(0, 5, 6));
	assert_int_equal(P("0 0 * * FRI-7").wdays, BITS(0, 5, 6));
	assert_int_equal(P("0 0 * * 1-7/2").wdays, BITS(0, 1, 3, 5));
	assert_int_equal(P("0 0 * * 0-7").wdays, 0x7F);
	assert_int_equal(P("0 0 * * */2").wdays, BITS(0, 2, 4, 6));
}

static void cron_parse__macros__equal_their_expansions(void **state)
{
	static const char *const pairs[][2] = {
		{ "@yearly", "0 0 1 1 *" },   { "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" },  { "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },   { "  @DAILY\t", "0 0 * * *" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct cron_expr a = P(pairs[i][0]), b = P(pairs[i][1]);
		assert_expr_eq(&a, &b);
	}
}

static void cron_parse__tabs_and_padding__accepted(void **state)
{
	struct cron_expr a = P("  0\t10  * *   MON  "), b = P("0 10 * * 1");

	(void)state;
	assert_expr_eq(&a, &b);
}

static void cron_parse__field_starting_with_star__counts_as_unrestricted(void **state)
{
	struct cron_expr a = P("0 0 */2 * MON"), b = P("0 0 1-31/2 * MON");

	(void)state;
	assert_true(a.mday_star); /* Vixie: starts with '*' */
	assert_false(a.wday_star);
	assert_int_equal(a.mdays, b.mdays);
	assert_false(b.mday_star);
	assert_true(P("0 0 * * */2").wday_star);
}

/* ---- cron_parse: errors ---------------------------------------------------- */

static void cron_parse__hour_25__exact_message(void **state)
{
	struct cron_expr c;
	char err[256];

	(void)state;
	memset(&c, 0xAB, sizeof(c));
	assert_int_equal(cron_parse("0 25 * * *", &c, err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "cron \"0 25 * * *\": hour field: 25 is out of range 0-23");
	/* nothing half-parsed is left behind */
	assert_int_equal(c.minutes, 0);
	assert_int_equal(c.hours, 0);
	assert_false(c.mday_star);
}

static void cron_parse__every_error_kind__named_field_and_problem(void **state)
{
	static const struct {
		const char *expr;
		const char *msg;  /* exact message */
	} cases[] = {
		{ "", "cron \"\": empty expression" },
		{ " \t ", "cron \" ? \": empty expression" },
		{ "0 0 * *", "cron \"0 0 * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
		{ "0 0 * * * *", "cron \"0 0 * * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 6" },
		{ "0 10 * * MON foo", "cron \"0 10 * * MON foo\": expected 5 fields (minute hour day-of-month month day-of-week), got 6" },
		{ "60 * * * *", "cron \"60 * * * *\": minute field: 60 is out of range 0-59" },
		{ "0 0 0 * *", "cron \"0 0 0 * *\": day-of-month field: 0 is out of range 1-31" },
		{ "0 0 32 * *", "cron \"0 0 32 * *\": day-of-month field: 32 is out of range 1-31" },
		{ "0 0 * 13 *", "cron \"0 0 * 13 *\": month field: 13 is out of range 1-12" },
		{ "0 0 * 0 *", "cron \"0 0 * 0 *\": month field: 0 is out of range 1-12" },
		{ "0 0 * * 8", "cron \"0 0 * * 8\": day-of-week field: 8 is out of range 0-7" },
		{ "99999999999999999999 * * * *", "cron \"99999999999999999999 * * * *\": minute field: 99999999999999999999 is out of range 0-59" },
		{ "x * * * *", "cron \"x * * * *\": minute field: \"x\" is not a number" },
		{ "0 JAN * * *", "cron \"0 JAN * * *\": hour field: \"JAN\" is not a number" },
		{ "0 0 L * *", "cron \"0 0 L * *\": day-of-month field: \"L\" is not a number" },
		{ "0 0 ? * *", "cron \"0 0 ? * *\": day-of-month field: \"?\" is not a number" },
		{ "-1 * * * *", "cron \"-1 * * * *\": minute field: \"-1\" is not a number" },
		{ "0 0 * FOO *", "cron \"0 0 * FOO *\": month field: \"FOO\" is not a month (1-12 or JAN-DEC)" },
		{ "0 0 * MON *", "cron \"0 0 * MON *\": month field: \"MON\" is not a month (1-12 or JAN-DEC)" },
		{ "0 0 * * JAN", "cron \"0 0 * * JAN\": day-of-week field: \"JAN\" is not a day of week (0-7 or SUN-SAT)" },
		{ "0 0 * * MONDAY", "cron \"0 0 * * MONDAY\": day-of-week field: \"MONDAY\" is not a day of week (0-7 or SUN-SAT)" },
		{ "*/0 * * * *", "cron \"*/0 * * * *\": minute field: step 0 is not allowed" },
		{ "0 1-10/0 * * *", "cron \"0 1-10/0 * * *\": hour field: step 0 is not allowed" },
		{ "*/x * * * *", "cron \"*/x * * * *\": minute field: step \"x\" is not a number" },
		{ "*/ * * * *", "cron \"*/ * * * *\": minute field: step \"\" is not a number" },
		{ "*/61 * * * *", "cron \"*/61 * * * *\": minute field: step 61 is out of range 1-60" },
		{ "0 10-5 * * *", "cron \"0 10-5 * * *\": hour field: range 10-5 is reversed" },
		{ "0 0 * DEC-JAN *", "cron \"0 0 * DEC-JAN *\": month field: range DEC-JAN is reversed" },
		{ "0 0 * * FRI-SUN", "cron \"0 0 * * FRI-SUN\": day-of-week field: range FRI-SUN is reversed; write FRI-7 for a range ending on Sunday" },
		{ "1- * * * *", "cron \"1- * * * *\": minute field: range \"1-\" has no end" },
		{ "5x * * * *", "cron \"5x * * * *\": minute field: unexpected \"x\" after \"5\"" },
		{ "1-2-3 * * * *", "cron \"1-2-3 * * * *\": minute field: unexpected \"-3\" after \"1-2\"" },
		{ "*5 * * * *", "cron \"*5 * * * *\": minute field: unexpected \"5\" after \"*\"" },
		{ "0 0 * * 1#2", "cron \"0 0 * * 1#2\": day-of-week field: unexpected \"#2\" after \"1\"" },
		{ "*/5/2 * * * *", "cron \"*/5/2 * * * *\": minute field: unexpected \"/2\" after \"*/5\"" },
		{ "1,,2 * * * *", "cron \"1,,2 * * * *\": minute field: empty item in list \"1,,2\"" },
		{ "1, * * * *", "cron \"1, * * * *\": minute field: empty item in list \"1,\"" },
		{ ",1 * * * *", "cron \",1 * * * *\": minute field: empty item in list \",1\"" },
		{ "@reboot", "cron \"@reboot\": unknown macro \"@reboot\" (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)" },
		{ "@", "cron \"@\": unknown macro \"@\" (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)" },
		{ "@daily 5", "cron \"@daily 5\": unexpected \"5\" after @daily" },
		{ "0\x01 * * * *", "cron \"0? * * * *\": minute field: unexpected \"?\" after \"0\"" },
		{ "0 0 * * *\n", "cron \"0 0 * * *?\": day-of-week field: unexpected \"?\" after \"*\"" },
	};
	char err[512];
	struct cron_expr c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cron_parse(cases[i].expr, &c, err, sizeof(err));
		if (rc != VIVA_EINVAL || strcmp(err, cases[i].msg) != 0)
			fail_msg("case %zu \"%s\": rc=%d err=[%s] want [%s]", i, cases[i].expr, rc, err,
				 cases[i].msg);
	}
}

static void cron_parse__null_and_too_long__rejected(void **state)
{
	char err[256], longexpr[400];
	struct cron_expr c;

	(void)state;
	assert_int_equal(cron_parse(NULL, &c, err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "cron \"\": empty expression");

	memset(longexpr, ' ', sizeof(longexpr));
	memcpy(longexpr, "0 0 * * *", 9);
	longexpr[257] = '\0'; /* 257 chars, valid apart from the length */
	assert_int_equal(cron_parse(longexpr, &c, err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "cron expression is too long (more than 256 characters)");
	longexpr[256] = '\0'; /* exactly the limit: fine */
	assert_int_equal(cron_parse(longexpr, &c, err, sizeof(err)), VIVA_OK);
}

static void cron_parse__small_or_null_error_buffer__truncated_safely(void **state)
{
	char err[8];
	struct cron_expr c;

	(void)state;
	memset(err, 'Z', sizeof(err));
	assert_int_equal(cron_parse("0 25 * * *", &c, err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "cron \"0");
	assert_int_equal(cron_parse("0 25 * * *", &c, NULL, 0), VIVA_EINVAL);
	assert_int_equal(cron_parse("0 25 * * *", &c, err, 0), VIVA_EINVAL);
	assert_int_equal(cron_parse("0 5 * * *", &c, NULL, 0), VIVA_OK);
}

static void cron_parse__random_garbage__never_crashes(void **state)
{
	static const char alphabet[] = "0123456789*/-,@ \tJANMONsunx?#L\x01\xff";
	char buf[80], err[512];
	struct cron_expr c;
	int ok = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n = rnd(40);
		for (size_t k = 0; k < n; k++)
			buf[k] = alphabet[rnd(sizeof(alphabet) - 1)];
		buf[n] = '\0';
		err[0] = 'Q';
		if (cron_parse(buf, &c, err, sizeof(err)) == VIVA_OK) {
			ok++;
			assert_true(c.minutes && c.hours && c.mdays && c.months && c.wdays);
		} else {
			assert_true(strncmp(err, "cron ", 5) == 0);
		}
	}
	(void)ok;
}

/* ---- cron_next in UTC ---------------------------------------------------- */

static void cron_next__every_minute__strictly_after(void **state)
{
	struct cron_expr c = P("* * * * *");

	(void)state;
	assert_int_equal(cron_next(&c, U(2024, 1, 1, 0, 0) + 30, NULL), U(2024, 1, 1, 0, 1));
	assert_int_equal(cron_next(&c, U(2024, 1, 1, 0, 1), NULL), U(2024, 1, 1, 0, 2));
	assert_int_equal(cron_next(&c, U(2024, 1, 1, 0, 1) - 1, NULL), U(2024, 1, 1, 0, 1));
}

static void cron_next__month_and_year_ends__rolls_over(void **state)
{
	struct cron_expr first = P("0 0 1 * *"), d31 = P("0 12 31 * *"), nye = P("59 23 31 12 *");

	(void)state;
	assert_int_equal(cron_next(&first, U(2024, 1, 31, 12, 0), NULL), U(2024, 2, 1, 0, 0));
	assert_int_equal(cron_next(&first, U(2024, 12, 5, 0, 0), NULL), U(2025, 1, 1, 0, 0));
	/* April has no 31st: straight to May */
	assert_int_equal(cron_next(&d31, U(2024, 4, 1, 0, 0), NULL), U(2024, 5, 31, 12, 0));
	assert_int_equal(cron_next(&d31, U(2024, 5, 31, 12, 0), NULL), U(2024, 7, 31, 12, 0));
	assert_int_equal(cron_next(&nye, U(2024, 6, 1, 0, 0), NULL), U(2024, 12, 31, 23, 59));
	assert_int_equal(cron_next(&nye, U(2024, 12, 31, 23, 59), NULL), U(2025, 12, 31, 23, 59));
}

static void cron_next__feb_29__next_leap_year(void **state)
{
	struct cron_expr c = P("0 0 29 2 *");

	(void)state;
	assert_int_equal(cron_next(&c, U(2023, 3, 1, 0, 0), NULL), U(2024, 2, 29, 0, 0));
	assert_int_equal(cron_next(&c, U(2024, 2, 29, 0, 0), NULL), U(2028, 2, 29, 0, 0));
	/* 2100 is not a leap year: eight years to wait */
	assert_int_equal(cron_next(&c, U(2096, 3, 1, 0, 0), NULL), U(2104, 2, 29, 0, 0));
	/* 2000 was */
	assert_int_equal(cron_next(&c, U(1999, 1, 1, 0, 0), NULL), U(2000, 2, 29, 0, 0));
}

static void cron_next__monday_10_from_sunday_evening__next_morning(void **state)
{
	struct cron_expr c = P("0 10 * * MON");

	(void)state;
	/* 2024-06-02 is a Sunday */
	assert_int_equal(cron_next(&c, U(2024, 6, 2, 20, 0), NULL), U(2024, 6, 3, 10, 0));
	assert_int_equal(cron_next(&c, U(2024, 6, 3, 10, 0), NULL), U(2024, 6, 10, 10, 0));
	assert_int_equal(cron_next(&c, U(2024, 6, 3, 9, 59) + 59, NULL), U(2024, 6, 3, 10, 0));
}

static void cron_next__dom_and_dow_restricted__either_matches(void **state)
{
	struct cron_expr c = P("0 0 13 * FRI");
	struct cron_expr dom = P("0 0 13 * *"), dow = P("0 0 * * FRI");
	struct cron_expr vixie = P("0 0 */2 * FRI");

	(void)state;
	/* October 2024: Friday the 11th, Sunday the 13th, Friday the 18th */
	assert_int_equal(cron_next(&c, U(2024, 10, 5, 0, 0), NULL), U(2024, 10, 11, 0, 0));
	assert_int_equal(cron_next(&c, U(2024, 10, 11, 0, 0), NULL), U(2024, 10, 13, 0, 0));
	assert_int_equal(cron_next(&c, U(2024, 10, 13, 0, 0), NULL), U(2024, 10, 18, 0, 0));
	/* one side '*': both must match */
	assert_int_equal(cron_next(&dom, U(2024, 10, 5, 0, 0), NULL), U(2024, 10, 13, 0, 0));
	assert_int_equal(cron_next(&dow, U(2024, 10, 5, 0, 0), NULL), U(2024, 10, 11, 0, 0));
	/* "*\/2" starts with '*': AND, so odd days that are Fridays (4th is even) */
	assert_int_equal(cron_next(&vixie, U(2024, 10, 1, 0, 0), NULL), U(2024, 10, 11, 0, 0));
}

static void cron_next__impossible_expressions__minus_one(void **state)
{
	static const char *const never[] = { "0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *" };
	struct tz *ny = Z("America/New_York");

	(void)state;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct cron_expr c = P(never[i]);
		assert_int_equal(cron_next(&c, U(2024, 1, 1, 0, 0), NULL), -1);
		assert_int_equal(cron_next(&c, U(2024, 1, 1, 0, 0), ny), -1);
	}
	tz_free(ny);
}

static void cron_next__out_of_range_input__minus_one(void **state)
{
	struct cron_expr c = P("* * * * *");

	(void)state;
	assert_int_equal(cron_next(&c, INT64_MAX, NULL), -1);
	assert_int_equal(cron_next(&c, INT64_MIN, NULL), -1);
	assert_int_equal(cron_next(NULL, 0, NULL), -1);
	assert_false(cron_matches(&c, INT64_MAX, NULL));
	assert_false(cron_matches(&c, INT64_MIN, NULL));
	assert_int_equal(cron_next(&c, 0, NULL), 60);
	assert_int_equal(cron_next(&c, -61, NULL), -60);
}

/* ---- time zones ------------------------------------------------------------ */

static void cron_next__seoul__plus_nine_no_dst(void **state)
{
	struct tz *tz = Z("Asia/Seoul");
	struct cron_expr c = P("0 10 * * *");

	(void)state;
	assert_int_equal(tz_offset_at(tz, U(2024, 1, 1, 0, 0)), 9 * 3600);
	assert_int_equal(tz_offset_at(tz, U(2024, 7, 1, 0, 0)), 9 * 3600);
	assert_int_equal(cron_next(&c, U(2024, 6, 1, 0, 0), tz), U(2024, 6, 1, 1, 0));
	assert_int_equal(cron_next(&c, U(2024, 6, 1, 1, 0), tz), U(2024, 6, 2, 1, 0));
	assert_string_equal(tz_name(tz), "Asia/Seoul");
	tz_free(tz);
}

static void cron_next__new_york_spring_forward__missing_time_skipped(void **state)
{
	struct tz *tz = Z("America/New_York");
	struct cron_expr c = P("30 2 * * *"), q = P("*/15 * * * *");

	(void)state;
	/* 2024-03-10: 02:00 EST becomes 03:00 EDT (07:00 UTC). */
	assert_int_equal(cron_next(&c, U(2024, 3, 9, 8, 0), tz), U(2024, 3, 11, 6, 30));
	assert_int_equal(cron_next(&c, U(2024, 3, 8, 8, 0), tz), U(2024, 3, 9, 7, 30));
	assert_false(cron_matches(&c, U(2024, 3, 10, 7, 30), tz)); /* 03:30 EDT */
	/* 01:45 EST, then 03:00 EDT: the quarter hours in between never exist */
	assert_int_equal(cron_next(&q, U(2024, 3, 10, 6, 45), tz), U(2024, 3, 10, 7, 0));
	tz_free(tz);
}

static void cron_next__new_york_fall_back__repeated_time_fires_once(void **state)
{
	struct tz *tz = Z("America/New_York");
	struct cron_expr c = P("30 1 * * *"), hourly = P("0 * * * *"), every = P("* * * * *");

	(void)state;
	/* 2024-11-03: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens at
	 * 05:30 UTC (EDT) and again at 06:30 UTC (EST). */
	assert_int_equal(cron_next(&c, U(2024, 11, 2, 16, 0), tz), U(2024, 11, 3, 5, 30));
	assert_int_equal(cron_next(&c, U(2024, 11, 3, 5, 30), tz), U(2024, 11, 4, 6, 30));
	/* between the two 01:30s: the second is not a new slot */
	assert_int_equal(cron_next(&c, U(2024, 11, 3, 5, 45), tz), U(2024, 11, 4, 6, 30));
	assert_true(cron_matches(&c, U(2024, 11, 3, 5, 30), tz));
	assert_false(cron_matches(&c, U(2024, 11, 3, 6, 30), tz));
	/* from inside the repeated hour (01:10 EST, second pass): 01:11..01:59
	 * already happened in EDT, so the next new local minute is 02:00 EST */
	assert_int_equal(cron_next(&c, U(2024, 11, 3, 6, 10), tz), U(2024, 11, 4, 6, 30));
	assert_int_equal(cron_next(&every, U(2024, 11, 3, 6, 10), tz), U(2024, 11, 3, 7, 0));
	assert_int_equal(cron_next(&every, U(2024, 11, 3, 5, 58), tz), U(2024, 11, 3, 5, 59));
	assert_int_equal(cron_next(&every, U(2024, 11, 3, 5, 59), tz), U(2024, 11, 3, 7, 0));
	/* hourly: 01:00 EDT, then 02:00 EST; the repeated 01:00 does not fire */
	assert_int_equal(cron_next(&hourly, U(2024, 11, 3, 5, 0), tz), U(2024, 11, 3, 7, 0));
	tz_free(tz);
}

static void cron_next__new_york_daily__follows_dst(void **state)
{
	struct tz *tz = Z("America/New_York");
	struct cron_expr c = P("0 10 * * *");

	(void)state;
	assert_int_equal(cron_next(&c, U(2024, 1, 15, 0, 0), tz), U(2024, 1, 15, 15, 0));
	assert_int_equal(cron_next(&c, U(2024, 7, 15, 0, 0), tz), U(2024, 7, 15, 14, 0));
	/* past the end of explicit transitions in fat files: the footer rule */
	assert_int_equal(cron_next(&c, U(2090, 7, 15, 0, 0), tz), U(2090, 7, 15, 14, 0));
	assert_int_equal(cron_next(&c, U(2090, 12, 15, 0, 0), tz), U(2090, 12, 15, 15, 0));
	tz_free(tz);
}

static void cron_next__utc_zone__same_as_null(void **state)
{
	struct tz *utc = Z("UTC"), *etc = Z("Etc/UTC");
	struct cron_expr c = P("7 */5 * * TUE-THU");
	int64_t a = U(2024, 2, 27, 13, 0), b = a;

	(void)state;
	for (int i = 0; i < 200; i++) {
		int64_t x = cron_next(&c, a, utc), y = cron_next(&c, b, NULL), z = cron_next(&c, b, etc);
		assert_int_equal(x, y);
		assert_int_equal(y, z);
		assert_true(x > a);
		a = x;
		b = y;
	}
	assert_int_equal(tz_offset_at(utc, U(2024, 7, 1, 0, 0)), 0);
	assert_string_equal(tz_name(NULL), "UTC");
	tz_free(utc);
	tz_free(etc);
}

static void tz_load__bad_names__einval_enoent_eparse(void **state)
{
	static const char *const bad[] = {
		"", "/etc/passwd", "../etc/passwd", "America/../../etc/passwd", "Asia//Seoul",
		"Asia/Seoul/", "Asia/./Seoul", "..", "Asia/Se oul", "Asia/Seoul\n",
	};
	struct tz *tz = (struct tz *)1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tz_load(bad[i], &tz), VIVA_EINVAL);
		assert_null(tz);
	}
	assert_int_equal(tz_load(NULL, &tz), VIVA_EINVAL);
	assert_int_equal(tz_load("Not/AZone", &tz), VIVA_ENOENT);
	assert_null(tz);
	assert_int_equal(tz_load("America", &tz), VIVA_ENOENT); /* a directory */
	assert_int_equal(tz_load("zone.tab", &tz), VIVA_EPARSE); /* not TZif */
	assert_null(tz);
	tz_free(NULL);
}

static void tz_offset_at__zones__agree_with_glibc_1900_to_2100(void **state)
{
	static const char *const zones[] = {
		"America/New_York", "Asia/Seoul", "Australia/Sydney", "Europe/Dublin",
		"Europe/London", "Pacific/Chatham", "America/Sao_Paulo", "Africa/Casablanca",
		"Antarctica/Troll", "Asia/Kolkata", "Pacific/Apia", "America/St_Johns",
		"Australia/Lord_Howe", "Europe/Berlin", "UTC",
	};
	char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct tz *tz = Z(zones[z]);
		long mism = 0;

		set_glibc_tz(zones[z]);
		/* coarse over two centuries, with a step that drifts through the day */
		for (int64_t t = U(1900, 1, 2, 0, 0); t < U(2100, 12, 31, 0, 0); t += 11 * 3600 + 13 * 60 + 7)
			if (tz_offset_at(tz, t) != glibc_off(t) && mism++ < 3)
				print_error("%s at %lld: ours %d glibc %ld\n", zones[z], (long long)t,
					    tz_offset_at(tz, t), glibc_off(t));
		/* fine across the end of explicit transitions (2037) and in the future */
		for (int64_t t = U(2036, 1, 1, 0, 0); t < U(2039, 1, 1, 0, 0); t += 1800)
			if (tz_offset_at(tz, t) != glibc_off(t) && mism++ < 3)
				print_error("%s at %lld: ours %d glibc %ld\n", zones[z], (long long)t,
					    tz_offset_at(tz, t), glibc_off(t));
		for (int64_t t = U(2024, 1, 1, 0, 0); t < U(2025, 1, 1, 0, 0); t += 1200)
			if (tz_offset_at(tz, t) != glibc_off(t) && mism++ < 3)
				print_error("%s at %lld: ours %d glibc %ld\n", zones[z], (long long)t,
					    tz_offset_at(tz, t), glibc_off(t));
		assert_int_equal(mism, 0);
		tz_free(tz);
	}
	if (old)
		set_glibc_tz(old);
	else {
		unsetenv("TZ");
		tzset();
	}
	free(old);
}

/*
 * Build a TZif file: version 0 (v1 only) or '2'; transitions at[] -> type
 * idx[], types with offsets offs[]; footer only for v2.
 */
static size_t put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t tzif_block(unsigned char *p, int ts, int nt, const int64_t *at, const unsigned char *idx,
			 int ntypes, const int32_t *offs, char version)
{
	size_t k = 0;

	memcpy(p, "TZif", 4);
	p[4] = (unsigned char)version;
	memset(p + 5, 0, 15);
	k = 20;
	k += put32(p + k, 0);              /* isutcnt */
	k += put32(p + k, 0);              /* isstdcnt */
	k += put32(p + k, 0);              /* leapcnt */
	k += put32(p + k, (uint32_t)nt);   /* timecnt */
	k += put32(p + k, (uint32_t)ntypes);
	k += put32(p + k, 4);              /* charcnt: "XYZ\0" */
	for (int i = 0; i < nt; i++) {
		if (ts == 8)
			k += put32(p + k, (uint32_t)((uint64_t)at[i] >> 32));
		k += put32(p + k, (uint32_t)at[i]);
	}
	for (int i = 0; i < nt; i++)
		p[k++] = idx[i];
	for (int i = 0; i < ntypes; i++) {
		k += put32(p + k, (uint32_t)offs[i]);
		p[k++] = 0;
		p[k++] = 0;
	}
	memcpy(p + k, "XYZ", 4);
	return k + 4;
}

static size_t make_tzif(unsigned char *buf, char version, int nt, const int64_t *at,
			const unsigned char *idx, int ntypes, const int32_t *offs, const char *footer)
{
	size_t k = tzif_block(buf, 4, nt, at, idx, ntypes, offs, version);

	if (version) {
		k += tzif_block(buf + k, 8, nt, at, idx, ntypes, offs, version);
		k += (size_t)sprintf((char *)buf + k, "\n%s\n", footer ? footer : "");
	}
	return k;
}

static void tz_parse__synthetic_files__v1_v2_and_no_transitions(void **state)
{
	unsigned char buf[1024];
	int64_t at[2] = { 1000000000, 1100000000 };
	unsigned char idx[2] = { 1, 0 };
	int32_t offs[2] = { 3600, 7200 };
	struct tz *tz;
	size_t n;

	(void)state;
	/* v1, no transitions, one type: like UTC but +01:00 */
	n = make_tzif(buf, 0, 0, NULL, NULL, 1, offs, NULL);
	assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
	assert_int_equal(tz_offset_at(tz, 0), 3600);
	assert_int_equal(tz_offset_at(tz, U(2200, 1, 1, 0, 0)), 3600);
	tz_free(tz);

	/* v1 with transitions: type 0 before the first, the last type after */
	n = make_tzif(buf, 0, 2, at, idx, 2, offs, NULL);
	assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
	assert_int_equal(tz_offset_at(tz, 999999999), 3600);
	assert_int_equal(tz_offset_at(tz, 1000000000), 7200);
	assert_int_equal(tz_offset_at(tz, 1099999999), 7200);
	assert_int_equal(tz_offset_at(tz, 1100000000), 3600);
	assert_int_equal(tz_offset_at(tz, 2000000000), 3600);
	tz_free(tz);

	/* v2 with a footer that takes over after the last transition */
	n = make_tzif(buf, '2', 2, at, idx, 2, offs, "<+05>-5");
	assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
	assert_int_equal(tz_offset_at(tz, 1050000000), 7200);
	assert_int_equal(tz_offset_at(tz, 1100000000), 18000);
	tz_free(tz);

	/* v2, empty footer: last type */
	n = make_tzif(buf, '2', 2, at, idx, 2, offs, "");
	assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
	assert_int_equal(tz_offset_at(tz, 2000000000), 3600);
	tz_free(tz);

	/* transitions out of order, type index out of range, no types */
	{
		int64_t rev[2] = { 1100000000, 1000000000 };
		unsigned char badidx[2] = { 0, 5 };

		n = make_tzif(buf, '2', 2, rev, idx, 2, offs, "");
		assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_EPARSE);
		assert_null(tz);
		n = make_tzif(buf, '2', 2, at, badidx, 2, offs, "");
		assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_EPARSE);
		n = make_tzif(buf, 0, 0, NULL, NULL, 0, offs, NULL);
		assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_EPARSE);
	}
	assert_int_equal(tz_parse("X", NULL, 0, &tz), VIVA_EPARSE);
	assert_int_equal(tz_parse("X", "TZif", 4, &tz), VIVA_EPARSE);
}

static void tz_parse__posix_footer_rules__agree_with_glibc(void **state)
{
	static const char *const rules[] = {
		"EST5EDT,M3.2.0,M11.1.0",
		"AEST-10AEDT,M10.1.0,M4.1.0/3",        /* southern */
		"IST-1GMT0,M10.5.0,M3.5.0/1",          /* negative DST (Dublin) */
		"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		"AAA-1BBB,J60/0,J300/0",               /* Julian, no 29 Feb */
		"AAA-1BBB,59/0,299/0",                 /* zero-based, counts 29 Feb */
		"EST5EDT,M3.2.0/-1,M11.1.0/26",        /* RFC 8536 extended hours */
		"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",    /* America/Nuuk style */
		"XXX3:30YYY2:30,M4.1.0,M10.5.0",
		"<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",    /* Antarctica/Troll */
	};
	unsigned char buf[512];
	int32_t off0 = 0;
	char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;

	(void)state;
	for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
		struct tz *tz;
		size_t n = make_tzif(buf, '2', 0, NULL, NULL, 1, &off0, rules[r]);
		long mism = 0;

		assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
		set_glibc_tz(rules[r]);
		for (int64_t t = U(1999, 12, 1, 0, 0); t < U(2030, 1, 1, 0, 0); t += 2 * 3600 + 7)
			if (tz_offset_at(tz, t) != glibc_off(t) && mism++ < 3)
				print_error("%s at %lld: ours %d glibc %ld\n", rules[r], (long long)t,
					    tz_offset_at(tz, t), glibc_off(t));
		assert_int_equal(mism, 0);
		tz_free(tz);
	}
	if (old)
		set_glibc_tz(old);
	else {
		unsetenv("TZ");
		tzset();
	}
	free(old);
}

/* glibc answers "XST5XDT" from its posixrules file, so check by hand. */
static void tz_parse__footer_without_rule__us_default(void **state)
{
	unsigned char buf[512];
	int32_t off0 = 0;
	struct tz *tz;
	size_t n = make_tzif(buf, '2', 0, NULL, NULL, 1, &off0, "XST5XDT");

	(void)state;
	assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
	assert_int_equal(tz_offset_at(tz, U(2024, 3, 10, 7, 0) - 1), -18000);
	assert_int_equal(tz_offset_at(tz, U(2024, 3, 10, 7, 0)), -14400);
	assert_int_equal(tz_offset_at(tz, U(2024, 11, 3, 6, 0) - 1), -14400);
	assert_int_equal(tz_offset_at(tz, U(2024, 11, 3, 6, 0)), -18000);
	tz_free(tz);
}

static void tz_parse__bad_footer__falls_back_to_last_type(void **state)
{
	static const char *const bad[] = { "EST", "5", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0",
					   "EST5EDT,M3.2.0,M11.1.0x", "<AB>5", "EST25" };
	unsigned char buf[512];
	int32_t off0 = 3600;

	(void)state;
	log_set_level(LOG_ERROR); /* the fallback warns; keep the output clean */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tz *tz;
		size_t n = make_tzif(buf, '2', 0, NULL, NULL, 1, &off0, bad[i]);

		assert_int_equal(tz_parse("X", buf, n, &tz), VIVA_OK);
		assert_int_equal(tz_offset_at(tz, U(2024, 7, 1, 0, 0)), 3600);
		tz_free(tz);
	}
	log_set_level(LOG_WARN);
}

static void tz_parse__truncated_and_corrupted_zone__no_crash(void **state)
{
	FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "rb");
	unsigned char data[8192], copy[8192];
	size_t n;
	struct tz *tz;

	(void)state;
	assert_non_null(f);
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	assert_true(n > 100 && n < sizeof(data));
	log_set_level(LOG_ERROR);
	for (size_t len = 0; len < n; len++) {
		int rc = tz_parse("X", data, len, &tz);
		if (rc == VIVA_OK) {
			(void)tz_offset_at(tz, U(2024, 7, 1, 0, 0));
			tz_free(tz);
		} else {
			assert_int_equal(rc, VIVA_EPARSE);
		}
	}
	for (int i = 0; i < 3000; i++) {
		memcpy(copy, data, n);
		for (int k = 0; k < 4; k++)
			copy[rnd((uint32_t)n)] = (unsigned char)rnd(256);
		if (tz_parse("X", copy, n, &tz) == VIVA_OK) {
			struct cron_expr c = P("30 2 * * *");
			(void)tz_offset_at(tz, U(2024, 7, 1, 0, 0));
			(void)tz_offset_at(tz, INT64_MAX);
			(void)tz_offset_at(tz, INT64_MIN);
			(void)cron_next(&c, U(2024, 3, 9, 0, 0), tz);
			tz_free(tz);
		}
	}
	log_set_level(LOG_WARN);
}

/* Brute force: walk minutes with glibc, keep a local minute only at its
 * first occurrence. */
static int64_t brute_next(const struct cron_expr *c, int64_t after, int64_t horizon)
{
	int64_t start = after - after % 60 - 2 * 86400, maxwall = INT64_MIN;

	for (int64_t t = start; t <= after + horizon; t += 60) {
		time_t tt = (time_t)t;
		struct tm tm;
		int64_t w;
		bool md, wd, day;

		localtime_r(&tt, &tm);
		w = t + tm.tm_gmtoff;
		w -= ((w % 60) + 60) % 60;
		if (w <= maxwall)
			continue;
		maxwall = w;
		if (t <= after)
			continue;
		md = c->mdays >> tm.tm_mday & 1;
		wd = c->wdays >> tm.tm_wday & 1;
		day = (c->mday_star || c->wday_star) ? md && wd : md || wd;
		if (day && (c->months >> (tm.tm_mon + 1) & 1) && (c->hours >> tm.tm_hour & 1) &&
		    (c->minutes >> tm.tm_min & 1))
			return t;
	}
	return -1;
}

static void random_field(char *out, size_t cap, int lo, int hi)
{
	int a = lo + (int)rnd((uint32_t)(hi - lo + 1)), b = lo + (int)rnd((uint32_t)(hi - lo + 1));
	int s = 1 + (int)rnd(7);

	if (a > b) {
		int x = a;
		a = b;
		b = x;
	}
	switch (rnd(6)) {
	case 0: snprintf(out, cap, "*"); break;
	case 1: snprintf(out, cap, "%d", a); break;
	case 2: snprintf(out, cap, "%d,%d", a, b); break;
	case 3: snprintf(out, cap, "*/%d", s); break;
	case 4: snprintf(out, cap, "%d-%d", a, b); break;
	default: snprintf(out, cap, "%d-%d/%d", a, b, s); break;
	}
}

static void cron_next__random_expressions__agree_with_brute_force(void **state)
{
	static const char *const zones[] = { "America/New_York", "Australia/Sydney",
					     "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Seoul" };
	char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
	const int64_t horizon = 3 * 86400;

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct tz *tz = Z(zones[z]);
		int64_t around[8] = { U(2024, 6, 10, 12, 0) }; /* an ordinary day, then transitions */
		uint32_t na = 1;

		set_glibc_tz(zones[z]);
		/* the zone's 2024-2025 transitions, as glibc sees them */
		for (int64_t t = U(2024, 1, 1, 0, 0); t < U(2026, 1, 1, 0, 0) && na < 8; t += 900)
			if (glibc_off(t) != glibc_off(t - 900))
				around[na++] = t;
		for (int i = 0; i < 80; i++) {
			char f[5][24], expr[160];
			struct cron_expr c;
			int64_t after, want, got;

			random_field(f[0], sizeof(f[0]), 0, 59);
			random_field(f[1], sizeof(f[1]), 0, 23);
			snprintf(f[2], sizeof(f[2]), "%s", rnd(4) ? "*" : (rnd(2) ? "1-15" : "3,17"));
			snprintf(f[3], sizeof(f[3]), "*");
			snprintf(f[4], sizeof(f[4]), "%s", rnd(3) ? "*" : (rnd(2) ? "1-5" : "0,6"));
			snprintf(expr, sizeof(expr), "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
			c = P(expr);
			/* half of them within 90 minutes of a transition, where the
			 * gap and the repeated hour are */
			if (i % 2)
				after = around[rnd(na)] - 2 * 86400 + (int64_t)rnd(4 * 86400);
			else
				after = around[rnd(na)] - 5400 + (int64_t)rnd(3 * 5400);
			want = brute_next(&c, after, horizon);
			got = cron_next(&c, after, tz);
			if (want >= 0 ? got != want : (got >= 0 && got <= after + horizon))
				fail_msg("%s \"%s\" after %lld: got %lld want %lld", zones[z], expr,
					 (long long)after, (long long)got, (long long)want);
			/* cron_matches agrees with cron_next on the slot and the minute before */
			if (got >= 0) {
				assert_true(cron_matches(&c, got, tz));
				assert_true(cron_matches(&c, got + 59, tz));
				if (cron_matches(&c, got - 60, tz))
					assert_int_equal(cron_next(&c, got - 61, tz), got - 60);
			}
		}
		tz_free(tz);
	}
	if (old)
		set_glibc_tz(old);
	else {
		unsetenv("TZ");
		tzset();
	}
	free(old);
}

static void cron_matches__slot_minute_only(void **state)
{
	struct cron_expr c = P("0 10 * * MON");
	struct tz *seoul = Z("Asia/Seoul");

	(void)state;
	assert_true(cron_matches(&c, U(2024, 6, 3, 10, 0), NULL));
	assert_true(cron_matches(&c, U(2024, 6, 3, 10, 0) + 59, NULL));
	assert_false(cron_matches(&c, U(2024, 6, 3, 10, 1), NULL));
	assert_false(cron_matches(&c, U(2024, 6, 4, 10, 0), NULL));
	assert_true(cron_matches(&c, U(2024, 6, 3, 1, 0), seoul));
	assert_false(cron_matches(&c, U(2024, 6, 3, 10, 0), seoul));
	tz_free(seoul);
}

/* ---- sched with a fake clock and an in-memory claim table ------------------ */

struct claim_row {
	char name[16];
	int64_t slot;
};

/* Shared by every "process" in a test, like the SQLite file. */
struct claim_table {
	struct claim_row rows[256];
	int n;
	int fail_claims;  /* this many claims fail with VIVA_EIO */
	int fail_last;    /* this many last() calls fail */
};

struct fake {
	struct claim_table *tab;
	int64_t now;
	int fired;
	char fired_name[32][16];
	int64_t fired_slot[32];
};

static int fake_claim(void *self, const char *name, int64_t slot)
{
	struct fake *f = self;
	struct claim_table *t = f->tab;

	if (t->fail_claims > 0) {
		t->fail_claims--;
		return VIVA_EIO;
	}
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].name, name) == 0 && t->rows[i].slot == slot)
			return VIVA_EDUP;
	assert_true(t->n < 256);
	snprintf(t->rows[t->n].name, sizeof(t->rows[t->n].name), "%s", name);
	t->rows[t->n].slot = slot;
	t->n++;
	return VIVA_OK;
}

static int fake_last(void *self, const char *name, int64_t *slot)
{
	struct fake *f = self;
	struct claim_table *t = f->tab;

	*slot = 0;
	if (t->fail_last > 0) {
		t->fail_last--;
		return VIVA_EIO;
	}
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].name, name) == 0 && t->rows[i].slot > *slot)
			*slot = t->rows[i].slot;
	return VIVA_OK;
}

static void fake_fire(void *self, const char *name, int64_t slot)
{
	struct fake *f = self;

	assert_true(f->fired < 32);
	snprintf(f->fired_name[f->fired], sizeof(f->fired_name[0]), "%s", name);
	f->fired_slot[f->fired] = slot;
	f->fired++;
}

static int64_t fake_now(void *self)
{
	return ((struct fake *)self)->now;
}

static const struct sched_ops fake_ops = { fake_claim, fake_last, fake_fire, fake_now };

/* A "process": a fresh scheduler over the shared table. */
static struct sched *proc(struct fake *f, struct claim_table *tab, int64_t now, const struct tz *tz)
{
	struct sched *s;
	char err[256];

	memset(f, 0, sizeof(*f));
	f->tab = tab;
	f->now = now;
	s = sched_new(&fake_ops, f, tz);
	assert_int_equal(sched_add(s, "lag", "0 10 * * *", err, sizeof(err)), VIVA_OK);
	assert_int_equal(sched_add(s, "unused", "0 10 * * MON", err, sizeof(err)), VIVA_OK);
	return s;
}

static void claim_preset(struct claim_table *t, const char *name, int64_t slot)
{
	snprintf(t->rows[t->n].name, sizeof(t->rows[0].name), "%s", name);
	t->rows[t->n++].slot = slot;
}

static void sched_tick__due_slot__fires_once_per_slot(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 4, 9, 59), NULL); /* a Tuesday */

	(void)state;
	assert_int_equal(sched_tick(s), 0);
	f.now = U(2024, 6, 4, 10, 0);
	assert_int_equal(sched_tick(s), 1);
	assert_string_equal(f.fired_name[0], "lag");
	assert_int_equal(f.fired_slot[0], U(2024, 6, 4, 10, 0));
	/* same minute again, and the minutes after */
	f.now += 30;
	assert_int_equal(sched_tick(s), 0);
	f.now = U(2024, 6, 4, 10, 1);
	assert_int_equal(sched_tick(s), 0);
	f.now = U(2024, 6, 4, 23, 0);
	assert_int_equal(sched_tick(s), 0);
	/* next day */
	f.now = U(2024, 6, 5, 10, 0) + 2;
	assert_int_equal(sched_tick(s), 1);
	assert_int_equal(f.fired_slot[1], U(2024, 6, 5, 10, 0));
	assert_int_equal(f.fired, 2);
	assert_int_equal(tab.n, 2);
	sched_free(s);
}

static void sched_tick__monday__both_entries_fire(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 3, 10, 0), NULL);

	(void)state;
	assert_int_equal(sched_tick(s), 2);
	assert_string_equal(f.fired_name[0], "lag");
	assert_string_equal(f.fired_name[1], "unused");
	assert_int_equal(sched_tick(s), 0);
	sched_free(s);
}

static void sched_tick__restart_5_minutes_after_missed_slot__fires_it_once(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f1, f2, f3;
	struct sched *s;

	(void)state;
	claim_preset(&tab, "lag", U(2024, 6, 3, 10, 0));
	/* the process was down at 10:00 on the 4th and comes back at 10:05 */
	s = proc(&f1, &tab, U(2024, 6, 4, 10, 5), NULL);
	assert_int_equal(sched_tick(s), 1);
	assert_int_equal(f1.fired_slot[0], U(2024, 6, 4, 10, 0));
	sched_free(s);
	/* and restarts once more at 10:06: nothing again */
	s = proc(&f2, &tab, U(2024, 6, 4, 10, 6), NULL);
	assert_int_equal(sched_tick(s), 0);
	sched_free(s);
	/* a first start ever, 5 minutes after a slot: that slot runs too */
	memset(&tab, 0, sizeof(tab));
	s = proc(&f3, &tab, U(2024, 6, 4, 10, 5), NULL);
	assert_int_equal(sched_tick(s), 1);
	assert_int_equal(f3.fired_slot[0], U(2024, 6, 4, 10, 0));
	sched_free(s);
}

static void sched_tick__catchup_window_edge__inclusive(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s;
	char *log;

	(void)state;
	s = proc(&f, &tab, U(2024, 6, 4, 10, 15), NULL);
	assert_int_equal(sched_tick(s), 1);
	sched_free(s);
	memset(&tab, 0, sizeof(tab));
	s = proc(&f, &tab, U(2024, 6, 4, 10, 15) + 1, NULL);
	assert_int_equal(sched_tick(s), 0);
	sched_free(s);
	/* with yesterday on record: the edge slot runs and is not also reported */
	memset(&tab, 0, sizeof(tab));
	claim_preset(&tab, "lag", U(2024, 6, 3, 10, 0));
	s = proc(&f, &tab, U(2024, 6, 4, 10, 15), NULL);
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 1);
	log = logcap_stop(&cap);
	assert_null(strstr(log, "skipped"));
	free(log);
	sched_free(s);
	memset(&tab, 0, sizeof(tab));
	claim_preset(&tab, "lag", U(2024, 6, 3, 10, 0));
	s = proc(&f, &tab, U(2024, 6, 4, 10, 15) + 1, NULL);
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 0);
	log = logcap_stop(&cap);
	assert_int_equal(count_of(log, "msg=\"schedule slot skipped\" name=lag "), 1);
	free(log);
	sched_free(s);
	/* a window of 0: only an on-time tick runs it */
	memset(&tab, 0, sizeof(tab));
	s = proc(&f, &tab, U(2024, 6, 4, 10, 1), NULL);
	sched_set_catchup(s, 0);
	assert_int_equal(sched_tick(s), 0);
	f.now = U(2024, 6, 5, 10, 0);
	assert_int_equal(sched_tick(s), 1);
	sched_free(s);
}

static void sched_tick__restart_2_days_later__no_burst_skips_logged(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s;
	char *log, want[96];

	(void)state;
	claim_preset(&tab, "lag", U(2024, 6, 1, 10, 0));
	/* down from the 1st until the 4th at noon: 2nd, 3rd, 4th missed, all old */
	s = proc(&f, &tab, U(2024, 6, 4, 12, 0), NULL);
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 0);
	log = logcap_stop(&cap);
	assert_int_equal(count_of(log, "msg=\"schedule slot skipped\" name=lag "), 3);
	for (int d = 2; d <= 4; d++) {
		snprintf(want, sizeof(want), "name=lag slot=%lld at=2024-06-0%dT10:00:00Z",
			 (long long)U(2024, 6, d, 10, 0), d);
		assert_non_null(strstr(log, want));
	}
	/* "unused" has no record: nothing before the window is reported */
	assert_null(strstr(log, "name=unused"));
	free(log);
	/* the next tick does not repeat the report */
	f.now += 60;
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 0);
	log = logcap_stop(&cap);
	assert_null(strstr(log, "skipped"));
	free(log);
	/* and the next slot runs normally */
	f.now = U(2024, 6, 5, 10, 0);
	assert_int_equal(sched_tick(s), 1);
	sched_free(s);
}

static void sched_tick__restart_2_days_later_within_window__only_newest_fires(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s;
	char *log;

	(void)state;
	claim_preset(&tab, "lag", U(2024, 6, 1, 10, 0));
	s = proc(&f, &tab, U(2024, 6, 4, 10, 5), NULL);
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 1);
	log = logcap_stop(&cap);
	assert_int_equal(f.fired, 1);
	assert_int_equal(f.fired_slot[0], U(2024, 6, 4, 10, 0));
	assert_int_equal(count_of(log, "msg=\"schedule slot skipped\" name=lag "), 2);
	assert_non_null(strstr(log, "at=2024-06-02T10:00:00Z"));
	assert_non_null(strstr(log, "at=2024-06-03T10:00:00Z"));
	free(log);
	sched_free(s);
}

static void sched_tick__every_minute_after_long_outage__one_run_bounded_log(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s;
	char *log;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.tab = &tab;
	claim_preset(&tab, "tick", U(2023, 6, 1, 0, 0));
	f.now = U(2024, 6, 1, 0, 0) + 20; /* a year of minutes missed */
	s = sched_new(&fake_ops, &f, NULL);
	assert_int_equal(sched_add(s, "tick", "* * * * *", NULL, 0), VIVA_OK);
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 1);
	log = logcap_stop(&cap);
	assert_int_equal(f.fired_slot[0], U(2024, 6, 1, 0, 0));
	/* five lines one by one, then one summary line */
	assert_int_equal(count_of(log, "msg=\"schedule slot skipped\""), 5);
	assert_int_equal(count_of(log, "msg=\"schedule slots skipped\""), 1);
	assert_non_null(strstr(log, "count=10014+ first=2023-06-01T00:01:00Z"));
	free(log);
	f.now += 40;
	assert_int_equal(sched_tick(s), 1); /* 00:01 */
	assert_int_equal(sched_tick(s), 0);
	sched_free(s);
}

static void sched_tick__two_processes_share_claims__slot_fires_once(void **state)
{
	struct claim_table tab = { 0 };
	struct fake fa, fb;
	struct sched *a, *b;

	(void)state;
	a = proc(&fa, &tab, U(2024, 6, 3, 10, 0), NULL);
	b = proc(&fb, &tab, U(2024, 6, 3, 10, 0), NULL);
	assert_int_equal(sched_tick(a) + sched_tick(b), 2); /* lag and unused, once each */
	assert_int_equal(fa.fired + fb.fired, 2);
	/* next day, other order and b's clock a little ahead */
	fa.now = U(2024, 6, 4, 10, 0) + 1;
	fb.now = U(2024, 6, 4, 10, 0) + 20;
	assert_int_equal(sched_tick(b), 1);
	assert_int_equal(sched_tick(a), 0);
	assert_int_equal(fa.fired + fb.fired, 3);
	assert_int_equal(tab.n, 3);
	sched_free(a);
	sched_free(b);
}

static void sched_tick__claim_fails__not_fired_then_retried(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 4, 10, 0), NULL);
	char *log;

	(void)state;
	tab.fail_claims = 1;
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 0);
	log = logcap_stop(&cap);
	assert_non_null(strstr(log, "msg=\"schedule claim failed\" name=lag"));
	free(log);
	assert_int_equal(f.fired, 0);
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 4, 10, 0) + SCHED_RETRY_S);
	f.now += 30;
	assert_int_equal(sched_tick(s), 1);
	assert_int_equal(f.fired_slot[0], U(2024, 6, 4, 10, 0));
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 5, 10, 0));
	sched_free(s);
}

static void sched_tick__last_unknown__still_fires_once(void **state)
{
	struct claim_table tab = { 0 };
	struct logcap cap;
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 4, 10, 2), NULL);
	char *log;

	(void)state;
	tab.fail_last = 2;
	logcap_start(&cap);
	assert_int_equal(sched_tick(s), 1);
	log = logcap_stop(&cap);
	assert_non_null(strstr(log, "msg=\"schedule last run unknown\" name=lag"));
	free(log);
	sched_free(s);
	/* a restart that cannot read the record either: the claim still holds */
	s = proc(&f, &tab, U(2024, 6, 4, 10, 3), NULL);
	tab.fail_last = 2;
	log_set_level(LOG_ERROR);
	assert_int_equal(sched_tick(s), 0);
	log_set_level(LOG_WARN);
	sched_free(s);
}

static void sched_tick__clock_steps_back__no_second_run(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 4, 10, 0), NULL);

	(void)state;
	assert_int_equal(sched_tick(s), 1);
	f.now = U(2024, 6, 4, 9, 30);
	assert_int_equal(sched_tick(s), 0);
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 5, 10, 0));
	f.now = U(2024, 6, 4, 10, 0);
	assert_int_equal(sched_tick(s), 0);
	sched_free(s);
}

static void sched_tick__seoul_zone__fires_at_local_ten(void **state)
{
	struct tz *tz = Z("Asia/Seoul");
	struct claim_table tab = { 0 };
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 4, 0, 59), tz);

	(void)state;
	assert_int_equal(sched_tick(s), 0);
	f.now = U(2024, 6, 4, 1, 0);
	assert_int_equal(sched_tick(s), 1);
	assert_int_equal(f.fired_slot[0], U(2024, 6, 4, 1, 0));
	/* Monday 10:00 KST is Monday 01:00 UTC */
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 5, 1, 0));
	f.now = U(2024, 6, 10, 1, 0);
	log_set_level(LOG_ERROR); /* the 5th to 9th are skipped, with warnings */
	assert_int_equal(sched_tick(s), 2);
	log_set_level(LOG_WARN);
	sched_free(s);
	tz_free(tz);
}

static void sched_next_wakeup__earliest_across_entries(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f;
	struct sched *s = proc(&f, &tab, U(2024, 6, 2, 12, 0), NULL); /* Sunday */
	struct sched *empty;

	(void)state;
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 3, 10, 0));
	f.now = U(2024, 6, 3, 11, 0);
	assert_int_equal(sched_next_wakeup(s), U(2024, 6, 4, 10, 0));
	sched_free(s);
	empty = sched_new(&fake_ops, &f, NULL);
	assert_int_equal(sched_next_wakeup(empty), -1);
	assert_int_equal(sched_tick(empty), 0);
	sched_free(empty);
}

static void sched_add__bad_input__clear_errors(void **state)
{
	struct claim_table tab = { 0 };
	struct fake f = { .tab = &tab, .now = U(2024, 6, 2, 12, 0) };
	struct sched *s = sched_new(&fake_ops, &f, NULL);
	char err[512], name[80];

	(void)state;
	assert_int_equal(sched_add(s, "lag", "0 25 * * *", err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "schedule lag: cron \"0 25 * * *\": hour field: 25 is out of range 0-23");
	assert_int_equal(sched_add(s, "lag", "0 0 31 2 *", err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "schedule lag: cron \"0 0 31 2 *\" never fires");
	assert_int_equal(sched_add(s, "Lag", "0 10 * * *", err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "schedule name is not valid"));
	assert_int_equal(sched_add(s, "", "0 10 * * *", err, sizeof(err)), VIVA_EINVAL);
	assert_int_equal(sched_add(s, NULL, "0 10 * * *", err, sizeof(err)), VIVA_EINVAL);
	memset(name, 'a', sizeof(name));
	name[65] = '\0';
	assert_int_equal(sched_add(s, name, "0 10 * * *", err, sizeof(err)), VIVA_EINVAL);
	name[64] = '\0';
	assert_int_equal(sched_add(s, name, "0 10 * * *", err, sizeof(err)), VIVA_OK);
	assert_int_equal(sched_add(s, "lag", "0 10 * * *", err, sizeof(err)), VIVA_OK);
	assert_int_equal(sched_add(s, "lag", "0 11 * * *", err, sizeof(err)), VIVA_EINVAL);
	assert_string_equal(err, "schedule lag: defined twice");
	assert_int_equal(sched_add(s, "x", NULL, NULL, 0), VIVA_EINVAL);
	for (int i = 2; i < SCHED_ENTRIES_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(sched_add(s, name, "@daily", NULL, 0), VIVA_OK);
	}
	assert_int_equal(sched_add(s, "one-more", "@daily", err, sizeof(err)), VIVA_ERANGE);
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cron_parse__all_stars__every_value_and_both_star_flags),
		cmocka_unit_test(cron_parse__lists_ranges_steps__exact_sets),
		cmocka_unit_test(cron_parse__value_slash_step__runs_to_field_end),
		cmocka_unit_test(cron_parse__month_and_day_names__any_case),
		cmocka_unit_test(cron_parse__day_of_week_7__is_sunday),
		cmocka_unit_test(cron_parse__macros__equal_their_expansions),
		cmocka_unit_test(cron_parse__tabs_and_padding__accepted),
		cmocka_unit_test(cron_parse__field_starting_with_star__counts_as_unrestricted),
		cmocka_unit_test(cron_parse__hour_25__exact_message),
		cmocka_unit_test(cron_parse__every_error_kind__named_field_and_problem),
		cmocka_unit_test(cron_parse__null_and_too_long__rejected),
		cmocka_unit_test(cron_parse__small_or_null_error_buffer__truncated_safely),
		cmocka_unit_test(cron_parse__random_garbage__never_crashes),
		cmocka_unit_test(cron_next__every_minute__strictly_after),
		cmocka_unit_test(cron_next__month_and_year_ends__rolls_over),
		cmocka_unit_test(cron_next__feb_29__next_leap_year),
		cmocka_unit_test(cron_next__monday_10_from_sunday_evening__next_morning),
		cmocka_unit_test(cron_next__dom_and_dow_restricted__either_matches),
		cmocka_unit_test(cron_next__impossible_expressions__minus_one),
		cmocka_unit_test(cron_next__out_of_range_input__minus_one),
		cmocka_unit_test(cron_next__seoul__plus_nine_no_dst),
		cmocka_unit_test(cron_next__new_york_spring_forward__missing_time_skipped),
		cmocka_unit_test(cron_next__new_york_fall_back__repeated_time_fires_once),
		cmocka_unit_test(cron_next__new_york_daily__follows_dst),
		cmocka_unit_test(cron_next__utc_zone__same_as_null),
		cmocka_unit_test(cron_next__random_expressions__agree_with_brute_force),
		cmocka_unit_test(cron_matches__slot_minute_only),
		cmocka_unit_test(tz_load__bad_names__einval_enoent_eparse),
		cmocka_unit_test(tz_offset_at__zones__agree_with_glibc_1900_to_2100),
		cmocka_unit_test(tz_parse__synthetic_files__v1_v2_and_no_transitions),
		cmocka_unit_test(tz_parse__posix_footer_rules__agree_with_glibc),
		cmocka_unit_test(tz_parse__footer_without_rule__us_default),
		cmocka_unit_test(tz_parse__bad_footer__falls_back_to_last_type),
		cmocka_unit_test(tz_parse__truncated_and_corrupted_zone__no_crash),
		cmocka_unit_test(sched_tick__due_slot__fires_once_per_slot),
		cmocka_unit_test(sched_tick__monday__both_entries_fire),
		cmocka_unit_test(sched_tick__restart_5_minutes_after_missed_slot__fires_it_once),
		cmocka_unit_test(sched_tick__catchup_window_edge__inclusive),
		cmocka_unit_test(sched_tick__restart_2_days_later__no_burst_skips_logged),
		cmocka_unit_test(sched_tick__restart_2_days_later_within_window__only_newest_fires),
		cmocka_unit_test(sched_tick__every_minute_after_long_outage__one_run_bounded_log),
		cmocka_unit_test(sched_tick__two_processes_share_claims__slot_fires_once),
		cmocka_unit_test(sched_tick__claim_fails__not_fired_then_retried),
		cmocka_unit_test(sched_tick__last_unknown__still_fires_once),
		cmocka_unit_test(sched_tick__clock_steps_back__no_second_run),
		cmocka_unit_test(sched_tick__seoul_zone__fires_at_local_ten),
		cmocka_unit_test(sched_next_wakeup__earliest_across_entries),
		cmocka_unit_test(sched_add__bad_input__clear_errors),
	};

	/* Quiet "schedule fired" info lines; warnings are captured where asserted. */
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
