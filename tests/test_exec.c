/* `viva exec` as a process: what a newcomer sees first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "tests/helpers.h"

struct fixture {
	char *dir;      /* temporary working directory */
	char bin[PATH_MAX];
	char templates[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *bin = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";

	if (!realpath(bin, f->bin) || !realpath("templates", f->templates)) {
		free(f);
		return -1;
	}
	f->dir = test_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Run viva in the fixture's directory with a clean environment. */
static char *viva(struct fixture *f, const char *args, int *status)
{
	char *cmd = xasprintf("cd '%s' && env -i PATH=/usr/bin:/bin HOME=/tmp VIVA_TEMPLATES='%s' "
			      "ASAN_OPTIONS=detect_leaks=1 '%s' %s", f->dir, f->templates, f->bin, args);
	char *out = test_run(cmd, status);
	free(cmd);
	return out;
}

static void exec__help__prints_terminal_rendering(void **state)
{
	struct fixture *f = *state;
	int st;
	char *out = viva(f, "exec '/viva help'", &st);

	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "== viva: ChatOps for services and clusters =="));
	assert_non_null(strstr(out, "*`/viva help [COMMAND]`*"));
	assert_non_null(strstr(out, "*`/viva audit [SVC]`*"));
	assert_non_null(strstr(out, "e.g. `/viva audit service-a`"));
	assert_null(strstr(out, "\"type\""));        /* not JSON */
	assert_null(strstr(out, "ERROR"));
	free(out);
}

static void exec__json__prints_block_kit(void **state)
{
	struct fixture *f = *state;
	json_error_t jerr;
	json_t *j;
	int st;
	char *out = viva(f, "exec --json '/viva help'", &st);

	assert_int_equal(st, 0);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "blocks"), 0), "type")),
			    "header");
	json_decref(j);
	free(out);
}

static void exec__unknown_command__says_so_and_fails(void **state)
{
	struct fixture *f = *state;
	int st;
	char *out = viva(f, "exec '/viva frobnicate'", &st);

	assert_int_equal(st, 4);   /* an invalid request: scripts must not take it for done */
	assert_non_null(strstr(out, "Unknown command `frobnicate`"));
	free(out);
}

/*
 * Scripts and cron jobs read the exit status: 0 only when the action was
 * done; a failure (the spec directory missing, the registry down) is 1, a
 * refusal 3, and the audit log says the same.
 */
static void exec__failed_or_refused_action__non_zero_exit(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/pipelines/service-a.yaml", f->dir);
	char *out;
	int st;

	out = viva(f, "exec '/viva pipeline apply'", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "Nothing applied"));
	free(out);
	test_write_file(path, "name: service-a\nowners: [U0OWNER]\nrepository: { name: service-a }\n"
			      "image: team/service-a\nresources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	out = viva(f, "exec '/viva pipeline apply'", &st);
	assert_int_equal(st, 0);
	free(out);
	out = viva(f, "exec --user U0STRANGER '/viva promote service-a 2182-develop-b05419e'", &st);
	assert_int_equal(st, 3);
	assert_non_null(strstr(out, "Sorry, only the owners and deploy managers of service-a"));
	free(out);
	/* nothing listens on port 1: the registry is down */
	out = viva(f, "exec --user U0OWNER '/viva promote service-a 2182-develop-b05419e'", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "No registry is configured"));
	free(out);
	out = viva(f, "exec '/viva audit service-a'", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "denied: only the owners and deploy managers of service-a"));
	assert_non_null(strstr(out, "unavailable: No registry is configured"));
	free(out);
	free(path);
}

static void exec__bad_config__one_clear_line(void **state)
{
	struct fixture *f = *state;
	int st;
	char *path = xasprintf("%s/viva.yaml", f->dir);
	char *out;

	test_write_file(path, "workers: many\n");
	out = viva(f, "exec '/viva help'", &st);
	assert_int_not_equal(st, 0);
	assert_non_null(strstr(out, "viva: configuration error:"));
	assert_non_null(strstr(out, "workers"));
	assert_non_null(strstr(out, ":1"));
	free(out);
	free(path);
}

static void exec__no_arguments__usage(void **state)
{
	struct fixture *f = *state;
	int st;
	char *out = viva(f, "exec", &st);

	assert_int_equal(st, 2);
	assert_non_null(strstr(out, "usage: viva"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(exec__help__prints_terminal_rendering, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__json__prints_block_kit, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__unknown_command__says_so_and_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__failed_or_refused_action__non_zero_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__bad_config__one_clear_line, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__no_arguments__usage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
