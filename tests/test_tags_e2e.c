/*
 * /viva tags and promote end to end: viva as a process (exec and console)
 * against the real docker-registry, with images pushed over its HTTP API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/alloc.h"
#include "tests/helpers.h"
#include "tests/registry_push.h"
#include "tests/registry_server.h"

#define REPO "team/service-a"

struct fx {
	struct registry_server reg;
	char *dir;
	char bin[PATH_MAX];
	char d2181[72], d2182[72], d2183[72];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	const char *bin = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";
	char *path;

	if (!realpath(bin, f->bin) || registry_server_start(&f->reg) != 0) {
		free(f);
		return -1;
	}
	f->dir = test_tmpdir();
	path = xasprintf("%s/pipelines/service-a.yaml", f->dir);
	test_write_file(path, "name: service-a\nowners: [U0OWNER]\nrepository: { name: service-a }\n"
			      "image: " REPO "\nresources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	path = xasprintf("%s/viva.yaml", f->dir);
	test_write_file(path, "pipelines: { dir: ./pipelines }\n");
	free(path);
	if (regpush_image(f->reg.base, REPO, NULL, "2181-develop-10520f4", REGPUSH_DOCKER_V2,
			  "2026-11-20T10:00:00Z", "amd64", f->d2181, NULL) ||
	    regpush_image(f->reg.base, REPO, NULL, "2182-develop-b05419e", REGPUSH_DOCKER_V2,
			  "2026-11-21T10:00:00.123+02:00", "amd64", f->d2182, NULL) ||
	    regpush_image(f->reg.base, REPO, NULL, "2183-develop-c0ffee1", REGPUSH_OCI,
			  "2026-11-22T10:00:00Z", "amd64", f->d2183, NULL))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	registry_server_stop(&f->reg);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Run viva in the fixture directory; stdin from `input` when not NULL. */
static char *viva(struct fx *f, const char *args, const char *input, int *status)
{
	char *in = input ? xasprintf("printf '%s' | ", input) : xstrdup("");
	char *cmd = xasprintf("cd '%s' && %senv -i PATH=/usr/bin:/bin HOME=/tmp "
			      "REGISTRY_URL='%s' '%s' %s", f->dir, in, f->reg.base, f->bin, args);
	char *out = test_run(cmd, status);
	free(cmd);
	free(in);
	return out;
}

static char *latest_digest(struct fx *f)
{
	char *url = xasprintf("%s/v2/" REPO "/manifests/latest", f->reg.base), *digest = NULL;
	long st = regpush_http("HEAD", url, NULL,
			       REGPUSH_DOCKER_V2 ", " REGPUSH_OCI, NULL, NULL, 0, NULL, &digest, NULL);
	free(url);
	if (st != 200) {
		free(digest);
		return xstrdup("");
	}
	return digest;
}

static void tags__real_registry__newest_first_with_promote_buttons(void **state)
{
	struct fx *f = *state;
	int st;
	char *out = viva(f, "exec '/viva tags service-a'", NULL, &st), *a, *b, *c;

	assert_int_equal(st, 0);
	a = strstr(out, "2183-develop-c0ffee1");
	b = strstr(out, "2182-develop-b05419e");
	c = strstr(out, "2181-develop-10520f4");
	assert_true(a && b && c && a < b && b < c);
	assert_non_null(strstr(out, "[1] Promote (asks to confirm)"));
	assert_non_null(strstr(out, "[3] Promote (asks to confirm)"));
	assert_non_null(strstr(out, "No `latest` tag yet."));
	assert_non_null(strstr(out, "2026-11-21 08:00 UTC"));   /* created, offset applied */
	free(out);
}

static void promote__command__digest_verified_in_registry(void **state)
{
	struct fx *f = *state;
	int st;
	char *out, *latest;

	out = viva(f, "exec --user U0OWNER '/viva promote service-a 2182-develop-b05419e'", NULL, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "promoted *`2182-develop-b05419e`* of *service-a* to `latest`"));
	assert_non_null(strstr(out, f->d2182));
	free(out);
	latest = latest_digest(f);
	assert_string_equal(latest, f->d2182);
	free(latest);
	/* the listing now marks latest */
	out = viva(f, "exec '/viva tags service-a'", NULL, &st);
	assert_non_null(strstr(out, "2182-develop-b05419e`*  :star: latest"));
	free(out);
	/* someone who is not an owner is refused, and nothing moves */
	out = viva(f, "exec --user U0STRANGER '/viva promote service-a 2183-develop-c0ffee1'", NULL, &st);
	assert_non_null(strstr(out, "Sorry, only the owners and deploy managers of service-a"));
	free(out);
	latest = latest_digest(f);
	assert_string_equal(latest, f->d2182);
	free(latest);
}

static void promote__console_click__confirm_then_retag(void **state)
{
	struct fx *f = *state;
	int st;
	char *out, *latest;

	/* click 1 = the newest tag; the console asks for confirmation like Slack's dialog */
	out = viva(f, "console --user U0OWNER", "/viva tags service-a\\nclick 1\\ny\\nquit\\n", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "Promote to latest?: Retag 2183-develop-c0ffee1 of team/service-a as latest"));
	assert_non_null(strstr(out, "promoted *`2183-develop-c0ffee1`*"));
	free(out);
	latest = latest_digest(f);
	assert_string_equal(latest, f->d2183);
	free(latest);
	/* declining the dialog does nothing */
	out = viva(f, "console --user U0OWNER", "/viva tags service-a\\nclick 3\\nn\\nquit\\n", &st);
	assert_non_null(strstr(out, "Not confirmed; nothing done."));
	free(out);
	latest = latest_digest(f);
	assert_string_equal(latest, f->d2183);
	free(latest);
}

static void tags__registry_stopped__clear_error(void **state)
{
	struct fx *f = *state;
	int st;
	char *out;

	registry_server_stop(&f->reg);
	out = viva(f, "exec '/viva tags service-a'", NULL, &st);
	assert_non_null(strstr(out, "Could not list the tags of `team/service-a`: the registry at"));
	assert_non_null(strstr(out, "is not reachable"));
	free(out);
}

/*
 * A registry behind TLS with a private CA: refused with the hint to set
 * REGISTRY_CA_FILE, trusted with it (then the registry's own answer comes
 * back), and reached unchecked with registry.insecure.
 */
static void tags__tls_registry__ca_file_or_insecure(void **state)
{
	struct fx *f = *state;
	struct registry_server tls;
	char *pki = xasprintf("%s/pki", f->dir), *cmd, *out, *run;
	int st;

	cmd = xasprintf("set -e; exec 2>&1; mkdir -p '%s'; cd '%s';"
			"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
			"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=viva-test-ca;"
			"openssl req $ec -keyout srv.key -out srv.csr -subj /CN=127.0.0.1;"
			"printf 'subjectAltName=IP:127.0.0.1\\n' > srv.ext;"
			"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
			" -extfile srv.ext -out srv.pem", pki, pki);
	out = test_run(cmd, &st);
	assert_int_equal(st, 0);
	free(out);
	free(cmd);
	cmd = xasprintf("%s/srv.pem", pki);
	run = xasprintf("%s/srv.key", pki);
	assert_int_equal(registry_server_start_tls(&tls, cmd, run), 0);
	free(cmd);
	free(run);
	run = xasprintf("cd '%s' && env -i PATH=/usr/bin:/bin HOME=/tmp SSL_CERT_FILE= SSL_CERT_DIR=/nonexistent "
			"REGISTRY_URL='%s' ", f->dir, tls.base);
	cmd = xasprintf("%s '%s' exec '/viva tags service-a'", run, f->bin);
	out = test_run(cmd, &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "not trusted"));
	assert_non_null(strstr(out, "REGISTRY_CA_FILE"));
	free(out);
	free(cmd);
	/* with the CA: TLS holds, and the registry answers (an empty one) */
	cmd = xasprintf("%s REGISTRY_CA_FILE='%s/ca.pem' '%s' exec '/viva tags service-a'", run, pki, f->bin);
	out = test_run(cmd, &st);
	assert_non_null(strstr(out, "repository team/service-a not found in the registry"));
	assert_null(strstr(out, "not trusted"));
	free(out);
	free(cmd);
	/* a CA file that is not there stops start-up with one line */
	cmd = xasprintf("%s REGISTRY_CA_FILE=/nonexistent/ca.pem '%s' exec '/viva help'", run, f->bin);
	out = test_run(cmd, &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "REGISTRY_CA_FILE / registry.ca_file /nonexistent/ca.pem"));
	free(out);
	free(cmd);
	/* registry.insecure: no check at all (and a warning) */
	out = xasprintf("%s/viva.yaml", f->dir);
	test_write_file(out, "pipelines: { dir: ./pipelines }\nregistry: { insecure: true }\n");
	free(out);
	cmd = xasprintf("%s VIVA_LOG_LEVEL=warn '%s' exec '/viva tags service-a'", run, f->bin);
	out = test_run(cmd, &st);
	assert_non_null(strstr(out, "not found in the registry"));
	assert_non_null(strstr(out, "registry TLS certificates are not checked"));
	free(out);
	free(cmd);
	free(run);
	free(pki);
	registry_server_stop(&tls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tags__real_registry__newest_first_with_promote_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__command__digest_verified_in_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__console_click__confirm_then_retag, setup, teardown),
		cmocka_unit_test_setup_teardown(tags__registry_stopped__clear_error, setup, teardown),
		cmocka_unit_test_setup_teardown(tags__tls_registry__ca_file_or_insecure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
