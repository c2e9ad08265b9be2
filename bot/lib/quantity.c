/* Kubernetes resource quantities (see quantity.h). */
#include "bot/lib/quantity.h"
#include "bot/lib/err.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

struct decimal {
	const char *ip;   /* integer digits, leading zeros dropped */
	size_t ni;
	const char *fp;   /* fraction digits, trailing zeros dropped */
	size_t nf;
};

/*
 * "I" or "I.F" at the start of s, digits on both sides of the point (no
 * ".5", "5.", signs or exponents: plain decimals only). The length read, 0
 * when there is none.
 */
static size_t scan_decimal(const char *s, struct decimal *d)
{
	size_t i = 0;

	memset(d, 0, sizeof(*d));
	while (is_digit(s[i]))
		i++;
	if (i == 0)
		return 0;
	d->ip = s;
	d->ni = i;
	d->fp = s + i;
	if (s[i] == '.') {
		size_t j = i + 1;

		while (is_digit(s[j]))
			j++;
		if (j == i + 1)
			return 0;
		d->fp = s + i + 1;
		d->nf = j - i - 1;
		i = j;
	}
	while (d->ni > 1 && d->ip[0] == '0') {
		d->ip++;
		d->ni--;
	}
	while (d->nf > 0 && d->fp[d->nf - 1] == '0')
		d->nf--;
	return i;
}

/*
 * A '-' (read, to be refused as "not positive" rather than as syntax), then
 * a plain decimal; *s moves past the '-'. The decimal's length, 0 when there
 * is none (or s is NULL).
 */
static size_t scan_signed(const char **s, bool *neg, struct decimal *d)
{
	*neg = false;
	memset(d, 0, sizeof(*d));
	if (!*s)
		return 0;
	if (**s == '-') {
		*neg = true;
		(*s)++;
	}
	return scan_decimal(*s, d);
}

/* val > 0 and in range: into *out. */
static enum quantity_fault positive(i128 val, int64_t *out)
{
	if (val > INT64_MAX)
		return QUANTITY_TOO_LARGE;
	if (val == 0)
		return QUANTITY_NOT_POSITIVE;
	if (out)
		*out = (int64_t)val;
	return QUANTITY_OK;
}

/* n <= 36 digits: fits. */
static i128 digits_value(const char *p, size_t n)
{
	i128 v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

static i128 pow10_128(size_t n)
{
	i128 v = 1;

	while (n--)
		v *= 10;
	return v;
}

enum quantity_fault quantity_cpu_check(const char *s, int64_t *millicores)
{
	struct decimal d;
	size_t n;
	bool neg, milli = false;
	i128 val;

	if (millicores)
		*millicores = 0;
	n = scan_signed(&s, &neg, &d);
	if (n == 0)
		return QUANTITY_SYNTAX;
	if (s[n] == 'm') {
		milli = true;
		n++;
	}
	if (s[n])
		return QUANTITY_SYNTAX;
	if (neg)
		return QUANTITY_NOT_POSITIVE;
	if (d.ni > 19)
		return QUANTITY_TOO_LARGE;
	val = digits_value(d.ip, d.ni);
	if (milli) {
		if (d.nf)
			return QUANTITY_FRACTION;
	} else {
		if (d.nf > 3)
			return QUANTITY_FRACTION;
		val = val * 1000 + digits_value(d.fp, d.nf) * pow10_128(3 - d.nf);
	}
	return positive(val, millicores);
}

static const struct {
	const char *suffix;
	int64_t mult;
} mem_suffixes[] = {
	{ "", 1 },
	{ "k", INT64_C(1000) },
	{ "M", INT64_C(1000000) },
	{ "G", INT64_C(1000000000) },
	{ "T", INT64_C(1000000000000) },
	{ "P", INT64_C(1000000000000000) },
	{ "E", INT64_C(1000000000000000000) },
	{ "Ki", INT64_C(1) << 10 },
	{ "Mi", INT64_C(1) << 20 },
	{ "Gi", INT64_C(1) << 30 },
	{ "Ti", INT64_C(1) << 40 },
	{ "Pi", INT64_C(1) << 50 },
	{ "Ei", INT64_C(1) << 60 },
	/* What platform teams write, meaning the binary units. */
	{ "KB", INT64_C(1) << 10 },
	{ "MB", INT64_C(1) << 20 },
	{ "GB", INT64_C(1) << 30 },
	{ "TB", INT64_C(1) << 40 },
};

enum quantity_fault quantity_memory_check(const char *s, int64_t *bytes)
{
	struct decimal d;
	size_t n;
	bool neg;
	int64_t mult = 0;
	i128 val, frac;

	if (bytes)
		*bytes = 0;
	n = scan_signed(&s, &neg, &d);
	if (n == 0)
		return QUANTITY_SYNTAX;
	for (size_t i = 0; i < sizeof(mem_suffixes) / sizeof(mem_suffixes[0]); i++)
		if (!strcmp(s + n, mem_suffixes[i].suffix))
			mult = mem_suffixes[i].mult;
	if (!mult)
		return QUANTITY_SYNTAX;
	if (neg)
		return QUANTITY_NOT_POSITIVE;
	if (d.ni > 19)
		return QUANTITY_TOO_LARGE;
	if (d.nf > 18)
		return QUANTITY_FRACTION;
	/* < 10^19 * 2^60 and < 10^18 * 10^18: both fit in 127 bits. */
	frac = digits_value(d.fp, d.nf) * mult;
	if (frac % pow10_128(d.nf))
		return QUANTITY_FRACTION;
	val = digits_value(d.ip, d.ni) * mult + frac / pow10_128(d.nf);
	return positive(val, bytes);
}

static int fault_err(enum quantity_fault f)
{
	switch (f) {
	case QUANTITY_OK: return VIVA_OK;
	case QUANTITY_NOT_POSITIVE:
	case QUANTITY_TOO_LARGE: return VIVA_ERANGE;
	default: return VIVA_EINVAL;
	}
}

int quantity_cpu_parse(const char *s, int64_t *millicores)
{
	return fault_err(quantity_cpu_check(s, millicores));
}

int quantity_memory_parse(const char *s, int64_t *bytes)
{
	return fault_err(quantity_memory_check(s, bytes));
}

char *quantity_cpu_format(int64_t millicores, char *buf)
{
	if (millicores % 1000 == 0)
		snprintf(buf, QUANTITY_BUF, "%" PRId64, millicores / 1000);
	else
		snprintf(buf, QUANTITY_BUF, "%" PRId64 "m", millicores);
	return buf;
}

/* v as mantissa and suffix, dividing by base while it divides exactly. */
static void mem_form(int64_t v, int64_t base, const char *const *suffixes, char *buf)
{
	int i = 0;

	while (v != 0 && v % base == 0 && suffixes[i + 1]) {
		v /= base;
		i++;
	}
	snprintf(buf, QUANTITY_BUF, "%" PRId64 "%s", v, suffixes[i]);
}

char *quantity_memory_format(int64_t bytes, char *buf)
{
	static const char *const bin[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL };
	static const char *const dec[] = { "", "k", "M", "G", "T", "P", "E", NULL };
	char d[QUANTITY_BUF];

	mem_form(bytes, 1024, bin, buf);
	mem_form(bytes, 1000, dec, d);
	if (strlen(d) < strlen(buf))
		memcpy(buf, d, strlen(d) + 1);
	return buf;
}
