/*
 * Tests for bot/lib/quantity.c: Kubernetes CPU and memory quantities as
 * pipeline specs write them (moved here from test_spec.c with the code),
 * and the fault each refused text gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bot/lib/err.h"
#include "bot/lib/quantity.h"

static void quantity__cpu__table(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t milli;
	} cases[] = {
		{ "50m", VIVA_OK, 50 },
		{ "0.05", VIVA_OK, 50 },
		{ "2", VIVA_OK, 2000 },
		{ "0.5", VIVA_OK, 500 },
		{ "1.250", VIVA_OK, 1250 },
		{ "0.0500000", VIVA_OK, 50 },
		{ "007", VIVA_OK, 7000 },
		{ "1m", VIVA_OK, 1 },
		{ "9223372036854775807m", VIVA_OK, INT64_MAX },
		{ "9223372036854775.807", VIVA_OK, INT64_MAX },
		{ "0.0005", VIVA_EINVAL, 0 },  /* not a whole millicore */
		{ "1.5m", VIVA_EINVAL, 0 },
		{ "-1", VIVA_ERANGE, 0 },
		{ "0", VIVA_ERANGE, 0 },
		{ "0m", VIVA_ERANGE, 0 },
		{ "0.000", VIVA_ERANGE, 0 },
		{ "9223372036854775808m", VIVA_ERANGE, 0 },
		{ "9223372036854775.808", VIVA_ERANGE, 0 },
		{ "99999999999999999999", VIVA_ERANGE, 0 },
		{ "", VIVA_EINVAL, 0 },
		{ "abc", VIVA_EINVAL, 0 },
		{ "1e3", VIVA_EINVAL, 0 },     /* exponents: plain decimals only */
		{ "1E3", VIVA_EINVAL, 0 },
		{ ".5", VIVA_EINVAL, 0 },
		{ "5.", VIVA_EINVAL, 0 },
		{ "+1", VIVA_EINVAL, 0 },
		{ " 1", VIVA_EINVAL, 0 },
		{ "1 ", VIVA_EINVAL, 0 },
		{ "1k", VIVA_EINVAL, 0 },
		{ "1Gi", VIVA_EINVAL, 0 },
		{ "1mm", VIVA_EINVAL, 0 },
		{ "--1", VIVA_EINVAL, 0 },
		{ "1.2.3", VIVA_EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t m = -7;
		int rc = quantity_cpu_parse(cases[i].s, &m);

		if (rc != cases[i].rc || (rc == VIVA_OK && m != cases[i].milli))
			fail_msg("cpu \"%s\": rc %d m %lld, expected rc %d m %lld", cases[i].s, rc,
				 (long long)m, cases[i].rc, (long long)cases[i].milli);
		if (rc != VIVA_OK)
			assert_int_equal(m, 0);
	}
	assert_int_equal(quantity_cpu_parse(NULL, NULL), VIVA_EINVAL);
}

static void quantity__memory__table(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t bytes;
	} cases[] = {
		{ "1024MB", VIVA_OK, INT64_C(1) << 30 },
		{ "1Gi", VIVA_OK, INT64_C(1) << 30 },
		{ "512Mi", VIVA_OK, INT64_C(512) << 20 },
		{ "1.5Gi", VIVA_OK, INT64_C(1610612736) },
		{ "1G", VIVA_OK, INT64_C(1000000000) },
		{ "1k", VIVA_OK, 1000 },
		{ "0.5k", VIVA_OK, 500 },
		{ "1Ki", VIVA_OK, 1024 },
		{ "1KB", VIVA_OK, 1024 },
		{ "1GB", VIVA_OK, INT64_C(1) << 30 },
		{ "2TB", VIVA_OK, INT64_C(2) << 40 },
		{ "1Pi", VIVA_OK, INT64_C(1) << 50 },
		{ "7Ei", VIVA_OK, INT64_C(7) << 60 },
		{ "9E", VIVA_OK, INT64_C(9000000000000000000) },
		{ "128974848", VIVA_OK, INT64_C(128974848) },
		{ "0.25Ki", VIVA_OK, 256 },
		{ "9223372036854775807", VIVA_OK, INT64_MAX },
		{ "2", VIVA_OK, 2 },
		{ "0.5", VIVA_EINVAL, 0 },     /* half a byte */
		{ "0.3Ki", VIVA_EINVAL, 0 },   /* 307.2 bytes */
		{ "1e3", VIVA_EINVAL, 0 },
		{ "129e6", VIVA_EINVAL, 0 },
		{ "1K", VIVA_EINVAL, 0 },
		{ "1mi", VIVA_EINVAL, 0 },
		{ "1m", VIVA_EINVAL, 0 },
		{ "1PB", VIVA_EINVAL, 0 },
		{ "1Gb", VIVA_EINVAL, 0 },
		{ "1 Gi", VIVA_EINVAL, 0 },
		{ "", VIVA_EINVAL, 0 },
		{ "abc", VIVA_EINVAL, 0 },
		{ "Gi", VIVA_EINVAL, 0 },
		{ "-1", VIVA_ERANGE, 0 },
		{ "-1Gi", VIVA_ERANGE, 0 },
		{ "0", VIVA_ERANGE, 0 },
		{ "0Mi", VIVA_ERANGE, 0 },
		{ "8Ei", VIVA_ERANGE, 0 },
		{ "10E", VIVA_ERANGE, 0 },
		{ "9223372036854775808", VIVA_ERANGE, 0 },
		{ "99999999999999999999999Ei", VIVA_ERANGE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t b = -7;
		int rc = quantity_memory_parse(cases[i].s, &b);

		if (rc != cases[i].rc || (rc == VIVA_OK && b != cases[i].bytes))
			fail_msg("memory \"%s\": rc %d b %lld, expected rc %d b %lld", cases[i].s, rc,
				 (long long)b, cases[i].rc, (long long)cases[i].bytes);
	}
	assert_int_equal(quantity_memory_parse(NULL, NULL), VIVA_EINVAL);
}

/* Why a text is refused: validators give each fault its own message. */
static void quantity__faults__named(void **state)
{
	static const struct {
		const char *s;
		enum quantity_fault cpu, mem;
	} cases[] = {
		{ "1", QUANTITY_OK, QUANTITY_OK },
		{ "abc", QUANTITY_SYNTAX, QUANTITY_SYNTAX },
		{ "", QUANTITY_SYNTAX, QUANTITY_SYNTAX },
		{ "1Gi", QUANTITY_SYNTAX, QUANTITY_OK },
		{ "50m", QUANTITY_OK, QUANTITY_SYNTAX },
		{ "0.0005", QUANTITY_FRACTION, QUANTITY_FRACTION },
		{ "1.5m", QUANTITY_FRACTION, QUANTITY_SYNTAX },
		{ "0.1", QUANTITY_OK, QUANTITY_FRACTION },
		{ "0", QUANTITY_NOT_POSITIVE, QUANTITY_NOT_POSITIVE },
		{ "-2", QUANTITY_NOT_POSITIVE, QUANTITY_NOT_POSITIVE },
		{ "-x", QUANTITY_SYNTAX, QUANTITY_SYNTAX },
		{ "99999999999999999999", QUANTITY_TOO_LARGE, QUANTITY_TOO_LARGE },
		{ "9223372036854775808m", QUANTITY_TOO_LARGE, QUANTITY_SYNTAX },
		{ "8Ei", QUANTITY_SYNTAX, QUANTITY_TOO_LARGE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		enum quantity_fault c = quantity_cpu_check(cases[i].s, &v);
		enum quantity_fault m;

		if (c != cases[i].cpu)
			fail_msg("cpu \"%s\": fault %d, expected %d", cases[i].s, c, cases[i].cpu);
		if (c != QUANTITY_OK)
			assert_int_equal(v, 0);
		v = -1;
		m = quantity_memory_check(cases[i].s, &v);
		if (m != cases[i].mem)
			fail_msg("memory \"%s\": fault %d, expected %d", cases[i].s, m, cases[i].mem);
		if (m != QUANTITY_OK)
			assert_int_equal(v, 0);
	}
	/* the value pointer is optional, the text may be NULL */
	assert_int_equal(quantity_cpu_check("2", NULL), QUANTITY_OK);
	assert_int_equal(quantity_memory_check("2Ki", NULL), QUANTITY_OK);
	assert_int_equal(quantity_cpu_check(NULL, NULL), QUANTITY_SYNTAX);
	assert_int_equal(quantity_memory_check(NULL, NULL), QUANTITY_SYNTAX);
}

/* From what a spec says to the text Kubernetes keeps (so a second apply is a no-op). */
static void quantity__format__canonical_kubernetes_text(void **state)
{
	static const struct {
		const char *in;
		const char *cpu;     /* NULL: not a CPU case */
		const char *memory;  /* NULL: not a memory case */
	} cases[] = {
		{ "0.05", "50m", NULL },
		{ "50m", "50m", NULL },
		{ "2", "2", NULL },
		{ "2000m", "2", NULL },
		{ "1.5", "1500m", NULL },
		{ "0.001", "1m", NULL },
		{ "1024MB", NULL, "1Gi" },
		{ "4096MB", NULL, "4Gi" },
		{ "1536MB", NULL, "1536Mi" },
		{ "1.5Gi", NULL, "1536Mi" },
		{ "512Mi", NULL, "512Mi" },
		{ "1G", NULL, "1G" },
		{ "1500M", NULL, "1500M" },
		{ "1T", NULL, "1T" },         /* 10^12 divides by 1024 too: decimal is shorter */
		{ "1Ti", NULL, "1Ti" },
		{ "1000", NULL, "1k" },
		{ "1024", NULL, "1Ki" },
		{ "1", NULL, "1" },
		{ "1500", NULL, "1500" },
		{ "8Ei", NULL, NULL },        /* too large: not formatted here */
		{ "7Ei", NULL, "7Ei" },
	};
	char buf[QUANTITY_BUF];
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].cpu) {
			assert_int_equal(quantity_cpu_parse(cases[i].in, &v), 0);
			assert_string_equal(quantity_cpu_format(v, buf), cases[i].cpu);
			/* the text reads back as the same value */
			assert_int_equal(quantity_cpu_parse(buf, &v), 0);
		}
		if (cases[i].memory) {
			int64_t back;

			assert_int_equal(quantity_memory_parse(cases[i].in, &v), 0);
			assert_string_equal(quantity_memory_format(v, buf), cases[i].memory);
			assert_int_equal(quantity_memory_parse(buf, &back), 0);
			assert_true(back == v);
		}
	}
	/* the extremes fit the buffer */
	assert_string_equal(quantity_memory_format(INT64_MAX, buf), "9223372036854775807");
	assert_int_equal(strlen(quantity_cpu_format(INT64_MAX, buf)), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantity__cpu__table),
		cmocka_unit_test(quantity__memory__table),
		cmocka_unit_test(quantity__faults__named),
		cmocka_unit_test(quantity__format__canonical_kubernetes_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
