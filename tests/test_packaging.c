/*
 * What deploy/ hands an operator, checked with the tools that will read it:
 * the systemd unit with systemd-analyze (it loads, and its exposure is low).
 * The Kubernetes manifests are checked in test_kube_fake.c (a server dry
 * run with kubectl) and test_k8s.c (their RBAC rules are viva's needs).
 */
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
#include "bot/lib/fileio.h"
#include "tests/helpers.h"

struct fx {
	char *dir;
	char *unit;     /* dir/viva.service: deploy/viva.service run against the built viva */
};

/*
 * deploy/viva.service with ExecStart at the viva under test (systemd-analyze
 * checks that the program exists) and its EnvironmentFile optional (there
 * is no /etc/viva here); nothing else changed.
 */
static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	const char *bin = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";
	char real[PATH_MAX], *text = NULL, *p, *out;
	size_t len = 0;

	if (!realpath(bin, real) || read_file("deploy/viva.service", &text, &len) != 0)
		return -1;
	p = strstr(text, "ExecStart=/usr/local/bin/viva serve\n");
	if (!p || !strstr(text, "EnvironmentFile=/etc/viva/env\n"))
		return -1;
	*p = '\0';
	out = xasprintf("%sExecStart=%s serve\n%s", text, real, p + strlen("ExecStart=/usr/local/bin/viva serve\n"));
	free(text);
	p = strstr(out, "EnvironmentFile=/etc/viva/env\n");
	*p = '\0';
	f->dir = test_tmpdir();
	f->unit = xasprintf("%s/viva.service", f->dir);
	text = xasprintf("%sEnvironmentFile=-/etc/viva/env\n%s", out, p + strlen("EnvironmentFile=/etc/viva/env\n"));
	test_write_file(f->unit, text);
	free(text);
	free(out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	test_rm_rf(f->dir);
	free(f->dir);
	free(f->unit);
	free(f);
	return 0;
}

/* systemd loads the unit without a word: no unknown key, no bad value. */
static void systemd_unit__verify__loads_without_a_warning(void **state)
{
	struct fx *f = *state;
	char *cmd = xasprintf("systemd-analyze verify '%s' 2>&1", f->unit);
	int st = -1;
	char *out = test_run(cmd, &st);

	if (st != 0 || *out)
		fail_msg("systemd-analyze verify (exit %d):\n%s", st, out);
	free(out);
	free(cmd);
	/* the check itself can fail: an unknown key is reported */
	test_write_file(f->unit, "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\nProtectSytem=strict\n");
	out = test_run(cmd = xasprintf("systemd-analyze verify '%s' 2>&1", f->unit), &st);
	assert_non_null(strstr(out, "Unknown key 'ProtectSytem'"));
	free(out);
	free(cmd);
}

/* Hardened: systemd's own exposure score (0 best, 10 worst) at most 2. */
static void systemd_unit__security__exposure_at_most_2(void **state)
{
	struct fx *f = *state;
	char *cmd = xasprintf("systemd-analyze security --offline=true '%s' 2>&1", f->unit);
	int st = -1;
	char *out = test_run(cmd, &st);
	const char *p = strstr(out, "Overall exposure level for viva.service: ");
	double level;

	if (!p)
		fail_msg("systemd-analyze security (exit %d):\n%s", st, out);
	level = strtod(p + strlen("Overall exposure level for viva.service: "), NULL);
	if (level > 2.0)
		fail_msg("exposure %.1f, more than 2.0:\n%s", level, out);
	free(out);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(systemd_unit__verify__loads_without_a_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(systemd_unit__security__exposure_at_most_2, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
