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
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *bin = getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva";

	if (!realpath(bin, f->bin)) {
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

/* Run viva in the fixture's (empty) directory with a clean environment:
 * nothing of the repository around it, as when installed. */
static char *viva_env(struct fixture *f, const char *env, const char *args, int *status)
{
	char *cmd = xasprintf("cd '%s' && env -i PATH=/usr/bin:/bin HOME=/tmp "
			      "ASAN_OPTIONS=detect_leaks=1 %s '%s' %s", f->dir, env, f->bin, args);
	char *out = test_run(cmd, status);
	free(cmd);
	return out;
}

static char *viva(struct fixture *f, const char *args, int *status)
{
	return viva_env(f, "", args, status);
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

/* Prometheus's credentials: check-config says which kind is set, never
 * what; half of them, or both kinds, stop start-up with one line. */
static void check_config__prometheus_credentials__said_never_shown(void **state)
{
	static const struct {
		const char *env;
		int ok;
		const char *says;
	} cases[] = {
		{ "", 1, "prometheus=(off) prometheus_credentials=none" },
		{ "PROMETHEUS_URL=http://127.0.0.1:9 ", 1, "prometheus=http://127.0.0.1:9 prometheus_credentials=none" },
		{ "PROMETHEUS_URL=http://127.0.0.1:9 PROMETHEUS_USER=viewer PROMETHEUS_PASSWORD=pw-SECRET-9 ", 1,
		  "prometheus_credentials=basic" },
		{ "PROMETHEUS_URL=http://127.0.0.1:9 PROMETHEUS_TOKEN=tok-SECRET-9 ", 1, "prometheus_credentials=bearer" },
		{ "REGISTRY_URL=http://127.0.0.1:9 REGISTRY_USER=robot REGISTRY_PASSWORD=pw-SECRET-9 ", 1,
		  "registry=http://127.0.0.1:9 registry_credentials=set" },
		{ "PROMETHEUS_URL=http://127.0.0.1:9 PROMETHEUS_USER=viewer ", 0,
		  "viva: configuration error: PROMETHEUS_USER is set without PROMETHEUS_PASSWORD" },
		{ "PROMETHEUS_USER=viewer PROMETHEUS_PASSWORD=pw-SECRET-9 PROMETHEUS_TOKEN=tok-SECRET-9 ", 0,
		  "viva: configuration error: PROMETHEUS_USER and PROMETHEUS_TOKEN are both set" },
		{ "PROMETHEUS_URL=http://127.0.0.1:9 PROMETHEUS_CA_FILE=/nonexistent/ca.pem ", 0,
		  "viva: prometheus.ca_file /nonexistent/ca.pem: No such file or directory" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st;
		char *env = xasprintf("VIVA_DB=%s/viva.db %s", f->dir, cases[i].env);
		char *out = viva_env(f, env, "check-config", &st);

		if ((st == 0) != cases[i].ok || !strstr(out, cases[i].says) || strstr(out, "SECRET"))
			fail_msg("case %zu: exit %d, output:\n%s", i, st, out);
		/* one line */
		assert_true(strchr(out, '\n') == out + strlen(out) - 1);
		free(out);
		free(env);
	}
}

static void exec__help__lists_every_subcommand(void **state)
{
	struct fixture *f = *state;
	static const char *const subs[] = { "viva serve", "viva console", "viva exec", "viva check-config",
					    "viva templates list", "viva templates dump", "viva render", "viva version",
					    NULL };
	int st;
	char *out = viva(f, "--help", &st);

	assert_int_equal(st, 0);
	for (size_t i = 0; subs[i]; i++)
		assert_non_null(strstr(out, subs[i]));
	free(out);
	out = viva(f, "version", &st);
	assert_int_equal(st, 0);
	assert_int_equal(strncmp(out, "viva ", 5), 0);
	free(out);
}

/* The operator's path: dump the built-in set, edit one file, point viva at it. */
static void exec__templates_dump_edit_override(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/mine/slack/help_command.json", f->dir);
	int st;
	char *out = viva(f, "templates dump mine", &st);

	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "wrote "));
	free(out);
	test_write_file(path, "{\"text\": \"x\", \"blocks\": [{\"type\": \"header\", \"text\": "
			"{\"type\": \"plain_text\", \"text\": \"OURS {{name}}\"}}]}");
	/* without the setting, the built-in one */
	out = viva(f, "exec '/viva help audit'", &st);
	assert_int_equal(st, 0);
	assert_null(strstr(out, "OURS"));
	free(out);
	out = viva_env(f, "VIVA_TEMPLATES=mine", "exec '/viva help audit'", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "== OURS audit =="));
	free(out);
	out = viva_env(f, "VIVA_TEMPLATES=mine", "templates list", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "mine/slack/help_command.json"));
	free(out);
	/* a directory that is not there was asked for: say so, do not start */
	out = viva_env(f, "VIVA_TEMPLATES=nowhere", "exec '/viva help'", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "viva: templates (VIVA_TEMPLATES=nowhere)"));
	free(out);
	free(path);
}

/*
 * `viva render`: a spec's Kubernetes objects without a cluster, through the
 * built-in templates and then an operator's override of one of them.
 */
static void render__spec_dir_and_override__printed_as_a_list(void **state)
{
	struct fixture *f = *state;
	char *p, *out, *tmpl;
	json_t *list, *items, *svc;
	int st;

	p = xasprintf("%s/viva.yaml", f->dir);
	test_write_file(p, "pipelines: { dir: ./specs }\n"
			   "registry: { url: \"http://127.0.0.1:5000/\" }\n"
			   "clusters: { dev: {} }\n"
			   "environments:\n"
			   "  alpha: { cluster: dev, namespace: team-alpha }\n"
			   "  prod: { cluster: dev, namespace: prod }\n");
	free(p);
	p = xasprintf("%s/specs/service-a.yaml", f->dir);
	test_write_file(p, "name: service-a\nowners: [U012AB3CD]\nrepository: { name: service-a }\n"
			   "image: team/service-a\npipeline: { platform: linux/arm64 }\n"
			   "resources:\n  alpha: { instance: 2, cpu: \"0.25\", memory: 2048MB }\n"
			   "  beta: { instance: 1, cpu: 1, memory: 1Gi }\n"
			   "batches: [{ name: nightly, schedule: \"0 1 * * *\", command: [run] }]\n");
	free(p);

	out = viva(f, "render service-a alpha --tag 7-main-abc 2>/dev/null", &st);
	assert_int_equal(st, 0);
	list = json_loads(out, 0, NULL);
	assert_non_null(list);
	assert_string_equal(json_string_value(json_object_get(list, "kind")), "List");
	items = json_object_get(list, "items");
	assert_int_equal(json_array_size(items), 6);   /* 2 Services, 3 Deployments, 1 CronJob */
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(items, 2),
					      "metadata"), "name")), "service-a-blue");
	assert_non_null(strstr(out, "\"image\": \"127.0.0.1:5000/team/service-a:7-main-abc\""));
	assert_non_null(strstr(out, "\"kubernetes.io/arch\": \"arm64\""));
	assert_non_null(strstr(out, "\"memory\": \"2Gi\""));
	assert_non_null(strstr(out, "\"namespace\": \"team-alpha\""));
	json_decref(list);
	free(out);

	/* every environment: the one only in the spec is named, the rest render */
	out = viva(f, "render service-a >/dev/null 2>err.txt; echo \"exit $?\"; cat err.txt", &st);
	assert_non_null(strstr(out, "exit 0"));
	assert_non_null(strstr(out, "viva: service-a: skipped: resources.beta: no environment \"beta\" in "
				    "viva.yaml"));
	free(out);
	out = viva(f, "render service-a prod", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "viva: service-a does not run in prod: its spec has no resources.prod"));
	free(out);
	out = viva(f, "render nobody", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "no spec for nobody in ./specs"));
	free(out);

	/* an operator's Service template: used, and the apply body still leaves the colour alone */
	out = viva(f, "templates dump mine", &st);
	assert_int_equal(st, 0);
	free(out);
	p = xasprintf("%s/mine/k8s/service.json", f->dir);
	test_write_file(p, "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n"
			   " \"metadata\": {\"name\": \"{{name}}\", \"labels\": {\"app\": \"{{service}}\", \"tier\": \"web\"}},\n"
			   " \"spec\": {\"selector\": {\"app\": \"{{service}}\", \"viva/slot\": \"{{slot}}\"},\n"
			   "          \"ports\": [{\"port\": 8080}]}}\n");
	out = viva_env(f, "VIVA_TEMPLATES=mine", "render service-a alpha --apply 2>/dev/null", &st);
	assert_int_equal(st, 0);
	list = json_loads(out, 0, NULL);
	assert_non_null(list);
	svc = json_array_get(json_object_get(list, "items"), 0);
	tmpl = json_dumps(svc, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(tmpl, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"labels\":"
			    "{\"app\":\"service-a\",\"tier\":\"web\"},\"name\":\"service-a\",\"namespace\":"
			    "\"team-alpha\"},\"spec\":{\"ports\":[{\"port\":8080}],\"selector\":{\"app\":"
			    "\"service-a\"}}}");
	free(tmpl);
	json_decref(list);
	free(out);
	out = viva_env(f, "VIVA_TEMPLATES=mine", "templates list", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "mine/k8s/service.json"));
	assert_non_null(strstr(out, "k8s/README.md"));
	free(out);

	/* a broken one: one clear line, exit 1 */
	test_write_file(p, "{\"apiVersion\": \"v1\", \"kind\": \"Srevice\", \"metadata\": {\"name\": \"{{name}}\"}}");
	out = viva_env(f, "VIVA_TEMPLATES=mine", "render service-a alpha", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "viva: service-a in alpha: template k8s/service renders kind \"Srevice\", "
				    "not Service"));
	free(out);
	test_write_file(p, "{\"apiVersion\": \"v1\",");
	out = viva_env(f, "VIVA_TEMPLATES=mine", "render service-a alpha", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "template k8s/service: malformed JSON at line 1"));
	free(out);
	free(p);
}

/*
 * `make install` with PREFIX and DESTDIR: the binary and the examples, and
 * the installed binary runs from anywhere with nothing beside it.
 */
static void install__prefix_destdir__binary_runs_from_anywhere(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("make --no-print-directory -s install DESTDIR='%s/dest' PREFIX=/opt/viva "
			      "INSTALL_BIN='%s' 2>&1", f->dir, f->bin);
	char *out, *bin = xasprintf("%s/dest/opt/viva/bin/viva", f->dir);
	int st;

	out = test_run(cmd, &st);
	assert_int_equal(st, 0);
	free(out);
	for (const char *const *p = (const char *const[]){ "share/viva/viva.example.yaml", "share/viva/env.example",
							    "share/viva/slack-app-manifest.yaml",
							    "share/viva/viva.service", NULL }; *p; p++) {
		char *path = xasprintf("%s/dest/opt/viva/%s", f->dir, *p);
		assert_int_equal(access(path, R_OK), 0);
		free(path);
	}
	assert_int_equal(access(bin, X_OK), 0);
	free(cmd);
	cmd = xasprintf("cd / && env -i PATH=/usr/bin:/bin HOME=/tmp VIVA_DB=%s/x.db '%s' exec '/viva help'", f->dir,
			bin);
	out = test_run(cmd, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "== viva: ChatOps for services and clusters =="));
	free(out);
	free(cmd);
	free(bin);
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
		cmocka_unit_test_setup_teardown(check_config__prometheus_credentials__said_never_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__help__lists_every_subcommand, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__templates_dump_edit_override, setup, teardown),
		cmocka_unit_test_setup_teardown(render__spec_dir_and_override__printed_as_a_list, setup, teardown),
		cmocka_unit_test_setup_teardown(install__prefix_destdir__binary_runs_from_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__no_arguments__usage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
