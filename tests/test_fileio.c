/*
 * Tests for bot/lib/fileio.c's writing side: save_output_file(), where the
 * console puts a chart it cannot show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "tests/helpers.h"

static void save__out_dir__new_private_file_with_the_bytes(void **state)
{
	char *dir = test_tmpdir(), *out = xasprintf("%s/charts", dir), *a = NULL, *b = NULL, *got = NULL;
	static const char png[] = "\x89PNG\r\n\x1a\n\0binary";
	struct stat st;
	size_t n = 0;

	(void)state;
	/* the directory is made on first use */
	assert_int_equal(save_output_file(out, "traffic-payments-api", "png", png, sizeof(png), &a, NULL, 0), VIVA_OK);
	assert_int_equal(save_output_file(out, "traffic-payments-api", "png", png, sizeof(png), &b, NULL, 0), VIVA_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, out, strlen(out)), 0);
	assert_non_null(strstr(a, "/traffic-payments-api-"));
	assert_string_equal(a + strlen(a) - 4, ".png");
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(read_file(a, &got, &n), VIVA_OK);
	assert_int_equal(n, sizeof(png));
	assert_memory_equal(got, png, n);
	free(got);
	free(a);
	free(b);
	free(out);
	test_rm_rf(dir);
	free(dir);
}

static void save__hostile_names__kept_inside_the_directory(void **state)
{
	char *dir = test_tmpdir(), *p = NULL;

	(void)state;
	assert_int_equal(save_output_file(dir, "../../etc/passwd", "png/../x", "x", 1, &p, NULL, 0), VIVA_OK);
	assert_int_equal(strncmp(p, dir, strlen(dir)), 0);
	assert_null(strchr(p + strlen(dir) + 1, '/'));
	assert_null(strstr(p, ".."));
	free(p);
	assert_int_equal(save_output_file(dir, "", NULL, "x", 1, &p, NULL, 0), VIVA_OK);
	assert_non_null(strstr(p, "/viva-"));
	assert_string_equal(p + strlen(p) - 4, ".bin");
	free(p);
	assert_int_equal(save_output_file(dir, ".hidden\n\x1b[31m", "png", "", 0, &p, NULL, 0), VIVA_OK);
	assert_null(strstr(p, "/."));
	free(p);
	test_rm_rf(dir);
	free(dir);
}

static void save__no_out_dir__temp_dir(void **state)
{
	char *dir = test_tmpdir(), *p = NULL;

	(void)state;
	setenv("TMPDIR", dir, 1);
	assert_int_equal(save_output_file(NULL, "chart", "png", "x", 1, &p, NULL, 0), VIVA_OK);
	assert_int_equal(strncmp(p, dir, strlen(dir)), 0);
	free(p);
	assert_int_equal(save_output_file("", "chart", "png", "x", 1, &p, NULL, 0), VIVA_OK);
	assert_int_equal(strncmp(p, dir, strlen(dir)), 0);
	free(p);
	unsetenv("TMPDIR");
	test_rm_rf(dir);
	free(dir);
}

static void save__unwritable__eio_with_the_directory_named(void **state)
{
	char err[256] = "", *p = (char *)"x";

	(void)state;
	assert_int_equal(save_output_file("/proc/no/such/dir", "chart", "png", "x", 1, &p, err, sizeof(err)),
			 VIVA_EIO);
	assert_null(p);
	assert_non_null(strstr(err, "/proc/no/such/dir"));
	assert_int_equal(save_output_file("/proc", "chart", "png", "x", 1, &p, err, sizeof(err)), VIVA_EIO);
	assert_non_null(strstr(err, "/proc"));
	assert_int_equal(save_output_file(NULL, "chart", "png", NULL, 3, &p, err, sizeof(err)), VIVA_EINVAL);
	assert_int_equal(save_output_file(NULL, "chart", "png", "x", 1, NULL, err, sizeof(err)), VIVA_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(save__out_dir__new_private_file_with_the_bytes),
		cmocka_unit_test(save__hostile_names__kept_inside_the_directory),
		cmocka_unit_test(save__no_out_dir__temp_dir),
		cmocka_unit_test(save__unwritable__eio_with_the_directory_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
