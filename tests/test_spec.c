/*
 * Tests for bot/spec.c: pipeline specs (SPEC section 5). The SPEC example,
 * every kind of validation error with its path (and file line for YAML),
 * hostile input (huge, deep, alias bombs, garbage), quantity messages (the
 * parsers themselves: test_quantity.c), the YAML/JSON round trips and the
 * form's JSON path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/err.h"
#include "bot/model/spec.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

/* SPEC section 5, verbatim. */
static const char example_yaml[] =
	"name: service-a\n"
	"owners: [U012AB3CD]          # Slack user ids\n"
	"deployManagers: [U045EF6GH]\n"
	"repository: { name: service-a, branch: develop }\n"
	"pipeline:\n"
	"  type: service              # service | batch | frontend\n"
	"  interface: http            # http | kafka | grpc | none\n"
	"  platform: linux/arm64      # linux/amd64 | linux/arm64\n"
	"image: team/service-a        # registry repository\n"
	"build:\n"
	"  environments: { JAVA_HOME: /opt/jdk-21 }\n"
	"  gradle: { enabled: true, tasks: clean build, options: -Duser.timezone=Asia/Seoul, "
	"directory: ., javaVersion: \"21\" }\n"
	"  docker: { dockerfile: Dockerfile, args: { KEY: value } }\n"
	"resources:\n"
	"  alpha: { instance: 1, cpu: \"0.05\", memory: 1024MB }\n"
	"  prod:  { instance: 4, cpu: \"2\", memory: 4096MB }\n"
	"batches:\n"
	"  - { name: settle-daily, schedule: \"0 3 * * *\", command: [java, -jar, app.jar, settle] }\n";

/* The smallest valid spec; tests append to it. */
#define MINIMAL \
	"name: svc\n" \
	"owners: [U012AB3CD]\n" \
	"repository: { name: svc }\n" \
	"image: team/svc\n"
/* The same without repository, for tests that bring their own. */
#define MINIMAL_NO_REPO \
	"name: svc\n" \
	"owners: [U012AB3CD]\n" \
	"image: team/svc\n"

/* ---- helpers ------------------------------------------------------------ */

static int parse(const char *yaml, struct spec **s, struct spec_errors *e)
{
	spec_errors_init(e, "service-a.yaml");
	return spec_parse(yaml, strlen(yaml), "service-a.yaml", s, e);
}

static struct spec *parse_ok(const char *yaml)
{
	struct spec_errors e;
	struct spec *s = NULL;
	int rc = parse(yaml, &s, &e);

	if (rc != VIVA_OK || !s) {
		char *f = spec_errors_format(&e);

		fail_msg("spec_parse failed (%d):\n%s\n--- input ---\n%s", rc, f, yaml);
	}
	assert_int_equal(e.n, 0);
	spec_errors_release(&e);
	return s;
}

/* Parse text that must fail with rc; errs is the caller's to release. */
static void parse_fail(const char *yaml, int rc, struct spec_errors *e)
{
	struct spec *s = (struct spec *)1;
	int got = parse(yaml, &s, e);

	if (got != rc) {
		char *f = spec_errors_format(e);

		fail_msg("expected %d, got %d:\n%s", rc, got, f);
	}
	assert_null(s);
	assert_true(e->n > 0);
}

static void dump_fail(const struct spec_errors *e, const char *what, const char *path)
{
	char *f = spec_errors_format(e);

	fail_msg("%s %s; errors:\n%s", what, path, f);
}

/* The error at path; fails the test when there is none. */
static const struct spec_error *err_at(const struct spec_errors *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path))
			return &e->v[i];
	dump_fail(e, "no error at", path);
	return NULL;
}

/* An error at path with exactly msg (line -1: any line). */
static void expect_err(const struct spec_errors *e, const char *path, int line, const char *msg)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->v[i].path, path) || strcmp(e->v[i].message, msg))
			continue;
		if (line >= 0 && e->v[i].line != line)
			fail_msg("%s: \"%s\" on line %d, expected line %d", path, msg, e->v[i].line,
				 line);
		return;
	}
	{
		char *f = spec_errors_format(e);

		fail_msg("no error %s: %s; errors:\n%s", path, msg, f);
	}
}

/* An error at path whose message contains sub. */
static void expect_err_sub(const struct spec_errors *e, const char *path, const char *sub)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path) && strstr(e->v[i].message, sub))
			return;
	dump_fail(e, "no error containing the expected text at", path);
}

static void expect_no_err_at(const struct spec_errors *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path))
			dump_fail(e, "unexpected error at", path);
}

/* One validation failure on MINIMAL + extra: returns its errors. */
static void fail_with(const char *extra, struct spec_errors *e)
{
	char *y = xasprintf("%s%s", MINIMAL, extra);

	parse_fail(y, VIVA_EINVAL, e);
	free(y);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void assert_strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
	if (a)
		assert_null(a[na]);
	if (b)
		assert_null(b[nb]);
}

static void assert_kv_equal(const struct spec_kv *a, size_t na, const struct spec_kv *b,
			    size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].key, b[i].key);
		assert_string_equal(a[i].value, b[i].value);
	}
}

static void assert_spec_equal(const struct spec *a, const struct spec *b)
{
	assert_string_equal(a->name, b->name);
	assert_strv_equal(a->owners, a->nowners, b->owners, b->nowners);
	assert_strv_equal(a->deploy_managers, a->ndeploy_managers, b->deploy_managers,
			  b->ndeploy_managers);
	assert_string_equal(a->repo_name, b->repo_name);
	assert_string_equal(a->repo_branch, b->repo_branch);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->iface, b->iface);
	assert_string_equal(a->platform, b->platform);
	assert_string_equal(a->image, b->image);
	assert_kv_equal(a->build_env, a->nbuild_env, b->build_env, b->nbuild_env);
	assert_int_equal(a->gradle_enabled, b->gradle_enabled);
	assert_true(str_eq(a->gradle_tasks, b->gradle_tasks));
	assert_true(str_eq(a->gradle_options, b->gradle_options));
	assert_string_equal(a->gradle_directory, b->gradle_directory);
	assert_string_equal(a->java_version, b->java_version);
	assert_string_equal(a->dockerfile, b->dockerfile);
	assert_kv_equal(a->docker_args, a->ndocker_args, b->docker_args, b->ndocker_args);
	assert_int_equal(a->nresources, b->nresources);
	for (size_t i = 0; i < a->nresources; i++) {
		assert_string_equal(a->resources[i].env, b->resources[i].env);
		assert_int_equal(a->resources[i].instance, b->resources[i].instance);
		assert_string_equal(a->resources[i].cpu, b->resources[i].cpu);
		assert_int_equal(a->resources[i].cpu_milli, b->resources[i].cpu_milli);
		assert_string_equal(a->resources[i].memory, b->resources[i].memory);
		assert_int_equal(a->resources[i].memory_bytes, b->resources[i].memory_bytes);
	}
	assert_int_equal(a->nbatches, b->nbatches);
	for (size_t i = 0; i < a->nbatches; i++) {
		assert_string_equal(a->batches[i].name, b->batches[i].name);
		assert_string_equal(a->batches[i].schedule, b->batches[i].schedule);
		assert_strv_equal(a->batches[i].command, a->batches[i].ncommand,
				  b->batches[i].command, b->batches[i].ncommand);
	}
}

/* to_yaml -> parse -> equal, and to_json -> from_json -> equal. */
static void assert_round_trips(const struct spec *s)
{
	char *y = spec_to_yaml(s), *y2;
	json_t *j = spec_to_json(s);
	struct spec *back = parse_ok(y), *back2 = NULL;
	struct spec_errors e;

	assert_spec_equal(s, back);
	/* Canonical: the second rendering is byte for byte the first. */
	y2 = spec_to_yaml(back);
	assert_string_equal(y, y2);

	spec_errors_init(&e, NULL);
	assert_int_equal(spec_from_json(j, &back2, &e), VIVA_OK);
	assert_int_equal(e.n, 0);
	assert_spec_equal(s, back2);

	spec_errors_release(&e);
	spec_free(back);
	spec_free(back2);
	json_decref(j);
	free(y);
	free(y2);
}

/* ---- the SPEC example --------------------------------------------------- */

static void spec__example__every_field_parsed(void **state)
{
	struct spec *s = parse_ok(example_yaml);

	(void)state;
	assert_string_equal(s->name, "service-a");
	assert_int_equal(s->nowners, 1);
	assert_string_equal(s->owners[0], "U012AB3CD");
	assert_null(s->owners[1]);
	assert_int_equal(s->ndeploy_managers, 1);
	assert_string_equal(s->deploy_managers[0], "U045EF6GH");
	assert_null(s->deploy_managers[1]);
	assert_string_equal(s->repo_name, "service-a");
	assert_string_equal(s->repo_branch, "develop");
	assert_int_equal(s->type, SPEC_SERVICE);
	assert_int_equal(s->iface, SPEC_HTTP);
	assert_string_equal(s->platform, "linux/arm64");
	assert_string_equal(s->image, "team/service-a");
	assert_int_equal(s->nbuild_env, 1);
	assert_string_equal(s->build_env[0].key, "JAVA_HOME");
	assert_string_equal(s->build_env[0].value, "/opt/jdk-21");
	assert_true(s->gradle_enabled);
	assert_string_equal(s->gradle_tasks, "clean build");
	assert_string_equal(s->gradle_options, "-Duser.timezone=Asia/Seoul");
	assert_string_equal(s->gradle_directory, ".");
	assert_string_equal(s->java_version, "21");
	assert_string_equal(s->dockerfile, "Dockerfile");
	assert_int_equal(s->ndocker_args, 1);
	assert_string_equal(s->docker_args[0].key, "KEY");
	assert_string_equal(s->docker_args[0].value, "value");
	assert_int_equal(s->nresources, 2);
	assert_string_equal(s->resources[0].env, "alpha");
	assert_int_equal(s->resources[0].instance, 1);
	assert_string_equal(s->resources[0].cpu, "0.05");
	assert_int_equal(s->resources[0].cpu_milli, 50);
	assert_string_equal(s->resources[0].memory, "1024MB");
	assert_int_equal(s->resources[0].memory_bytes, INT64_C(1024) * 1024 * 1024);
	assert_string_equal(s->resources[1].env, "prod");
	assert_int_equal(s->resources[1].instance, 4);
	assert_string_equal(s->resources[1].cpu, "2");
	assert_int_equal(s->resources[1].cpu_milli, 2000);
	assert_string_equal(s->resources[1].memory, "4096MB");
	assert_int_equal(s->resources[1].memory_bytes, INT64_C(4096) * 1024 * 1024);
	assert_int_equal(s->nbatches, 1);
	assert_string_equal(s->batches[0].name, "settle-daily");
	assert_string_equal(s->batches[0].schedule, "0 3 * * *");
	assert_int_equal(s->batches[0].ncommand, 4);
	assert_string_equal(s->batches[0].command[0], "java");
	assert_string_equal(s->batches[0].command[1], "-jar");
	assert_string_equal(s->batches[0].command[2], "app.jar");
	assert_string_equal(s->batches[0].command[3], "settle");
	assert_null(s->batches[0].command[4]);
	spec_free(s);
}

static void spec__minimal__defaults_applied(void **state)
{
	struct spec *s = parse_ok(MINIMAL);

	(void)state;
	assert_string_equal(s->repo_branch, "develop");
	assert_int_equal(s->type, SPEC_SERVICE);
	assert_int_equal(s->iface, SPEC_HTTP);
	assert_string_equal(s->platform, "linux/amd64");
	assert_false(s->gradle_enabled);
	assert_null(s->gradle_tasks);
	assert_null(s->gradle_options);
	assert_string_equal(s->gradle_directory, ".");
	assert_string_equal(s->java_version, "1.8");
	assert_string_equal(s->dockerfile, "Dockerfile");
	assert_int_equal(s->nbuild_env, 0);
	assert_int_equal(s->ndocker_args, 0);
	assert_int_equal(s->nresources, 0);
	assert_int_equal(s->nbatches, 0);
	/* NULL-terminated even when empty, so callers may simply walk it. */
	assert_int_equal(s->ndeploy_managers, 0);
	assert_non_null(s->deploy_managers);
	assert_null(s->deploy_managers[0]);
	spec_free(s);
}

static void spec__enums_and_block_style__parsed(void **state)
{
	struct spec *s = parse_ok(MINIMAL
				  "deployManagers:\n"
				  "  - W045EF6GH\n"
				  "  - U0ABCDEF1\n"
				  "pipeline:\n"
				  "  type: batch\n"
				  "  interface: kafka\n"
				  "resources:\n"
				  "  qa-1:\n"
				  "    instance: 0\n"
				  "    cpu: 250m\n"
				  "    memory: 1.5Gi\n"
				  "batches:\n"
				  "  - name: a\n"
				  "    schedule: \"*/5 * * * MON-FRI\"\n"
				  "    command:\n"
				  "      - sleep\n"
				  "      - 5\n");

	(void)state;
	assert_int_equal(s->ndeploy_managers, 2);
	assert_string_equal(s->deploy_managers[1], "U0ABCDEF1");
	assert_int_equal(s->type, SPEC_BATCH);
	assert_int_equal(s->iface, SPEC_KAFKA);
	assert_int_equal(s->resources[0].instance, 0);
	assert_int_equal(s->resources[0].cpu_milli, 250);
	assert_int_equal(s->resources[0].memory_bytes, INT64_C(1610612736));
	/* A number in a command stays as written. */
	assert_string_equal(s->batches[0].command[1], "5");
	spec_free(s);

	s = parse_ok(MINIMAL "pipeline: { type: frontend, interface: none }\n");
	assert_int_equal(s->type, SPEC_FRONTEND);
	assert_int_equal(s->iface, SPEC_NONE);
	spec_free(s);
	s = parse_ok(MINIMAL "pipeline: { interface: grpc }\n");
	assert_int_equal(s->iface, SPEC_GRPC);
	assert_string_equal(spec_type_name(SPEC_BATCH), "batch");
	assert_string_equal(spec_iface_name(SPEC_GRPC), "grpc");
	spec_free(s);
}

static void spec__numbers_as_text__kept_as_written(void **state)
{
	struct spec *s = parse_ok(MINIMAL
				  "build: { gradle: { javaVersion: 1.10 } }\n"
				  "resources: { alpha: { instance: 2, cpu: 2, memory: 1073741824 } }\n");

	(void)state;
	/* 1.10 is not 1.1: the text is kept, not a float. */
	assert_string_equal(s->java_version, "1.10");
	assert_string_equal(s->resources[0].cpu, "2");
	assert_int_equal(s->resources[0].cpu_milli, 2000);
	assert_int_equal(s->resources[0].memory_bytes, INT64_C(1073741824));
	spec_free(s);

	s = parse_ok(MINIMAL "build: { gradle: { javaVersion: 21 } }\n");
	assert_string_equal(s->java_version, "21");
	spec_free(s);
}

static void spec__null_values__mean_not_given(void **state)
{
	struct spec *s = parse_ok(MINIMAL
				  "deployManagers:\n"
				  "pipeline:\n"
				  "  platform: ~\n"
				  "build:\n"
				  "  environments: { EMPTY: }\n"
				  "  gradle: { tasks: null, directory: \"\" }\n");

	(void)state;
	assert_int_equal(s->ndeploy_managers, 0);
	assert_string_equal(s->platform, "linux/amd64");
	assert_null(s->gradle_tasks);
	assert_string_equal(s->gradle_directory, ".");
	assert_int_equal(s->nbuild_env, 1);
	assert_string_equal(s->build_env[0].value, "");
	spec_free(s);
}

static void spec__booleans__only_true_and_false(void **state)
{
	struct spec_errors e;
	struct spec *s;

	(void)state;
	fail_with("build: { gradle: { enabled: yes } }\n", &e);
	expect_err(&e, "build.gradle.enabled", 5, "\"yes\" is not a boolean (use true or false)");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);

	fail_with("build: { gradle: { enabled: True } }\n", &e);
	expect_err(&e, "build.gradle.enabled", 5, "\"True\" is not a boolean (use true or false)");
	spec_errors_release(&e);

	fail_with("build: { gradle: { enabled: [true] } }\n", &e);
	expect_err(&e, "build.gradle.enabled", 5, "expected true or false, got a list");
	spec_errors_release(&e);

	/* A boolean where text is expected is refused, not turned into "true". */
	fail_with("pipeline: { platform: true }\n", &e);
	expect_err(&e, "pipeline.platform", 5, "expected a string, got a boolean");
	spec_errors_release(&e);

	s = parse_ok(MINIMAL "build: { gradle: { enabled: false } }\n");
	assert_false(s->gradle_enabled);
	spec_free(s);
	/* The form sends text; "true" as a string is accepted. */
	s = parse_ok(MINIMAL "build: { gradle: { enabled: \"true\" } }\n");
	assert_true(s->gradle_enabled);
	spec_free(s);
}

static void spec__anchor_without_alias__allowed(void **state)
{
	struct spec *s = parse_ok("name: &n svc\n"
				  "owners: [U012AB3CD]\n"
				  "repository: { name: svc }\n"
				  "image: team/svc\n");

	(void)state;
	assert_string_equal(s->name, "svc");
	spec_free(s);
}

static void spec__bom_and_crlf__accepted(void **state)
{
	struct spec *s = parse_ok("\xEF\xBB\xBFname: svc\r\nowners: [U012AB3CD]\r\n"
				  "repository: { name: svc }\r\nimage: team/svc\r\n");

	(void)state;
	assert_string_equal(s->name, "svc");
	assert_string_equal(s->image, "team/svc");
	spec_free(s);
}

/* ---- validation errors -------------------------------------------------- */

static void spec__missing_required__each_named(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail("owners: []\n"
		   "repository: {}\n"
		   "resources:\n"
		   "  alpha: { instance: 1 }\n"
		   "  prod:\n"
		   "batches:\n"
		   "  - { name: a }\n",
		   VIVA_EINVAL, &e);
	/* A missing key is reported on its parent's line (the document's: 1). */
	expect_err(&e, "name", 1, "required");
	expect_err(&e, "image", 1, "required");
	expect_err(&e, "owners", 1, "at least one Slack user id is required");
	expect_err(&e, "repository.name", 2, "required");
	expect_err(&e, "resources.alpha.cpu", 4, "required");
	expect_err(&e, "resources.alpha.memory", 4, "required");
	expect_err(&e, "resources.prod", 5, "instance, cpu and memory are required");
	expect_err(&e, "batches[0].schedule", 7, "required");
	expect_err(&e, "batches[0].command", 7, "required");
	assert_int_equal(e.n, 9);
	spec_errors_release(&e);

	parse_fail("name: svc\nimage: a\nowners: [U012AB3CD]\n", VIVA_EINVAL, &e);
	expect_err(&e, "repository", 1, "required");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);

	/* Empty strings are "not given" too. */
	parse_fail("name: \"\"\nowners: [U012AB3CD]\nrepository: { name: svc }\nimage: ''\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "name", 1, "required");
	expect_err(&e, "image", 4, "required");
	spec_errors_release(&e);
}

static void spec__wrong_types__name_the_path(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail("name: [svc]\n"
		   "owners: { a: U012AB3CD }\n"
		   "deployManagers: U012AB3CD\n"
		   "repository: svc\n"
		   "pipeline: [service]\n"
		   "image: { a: b }\n"
		   "build:\n"
		   "  environments: [A]\n"
		   "  gradle: yes\n"
		   "  docker: { dockerfile: [a], args: x }\n"
		   "resources:\n"
		   "  alpha: { instance: true, cpu: [1], memory: { a: 1 } }\n"
		   "  beta: 5\n"
		   "batches: { name: x }\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "name", 1, "expected a string, got a list");
	expect_err(&e, "owners", 2, "expected a list, got a mapping");
	expect_err(&e, "deployManagers", 3, "expected a list, got a string");
	expect_err(&e, "repository", 4, "expected a mapping, got a string");
	expect_err(&e, "pipeline", 5, "expected a mapping, got a list");
	expect_err(&e, "image", 6, "expected a string, got a mapping");
	expect_err(&e, "build.environments", 8, "expected a mapping, got a list");
	expect_err(&e, "build.gradle", 9, "expected a mapping, got a string");
	expect_err(&e, "build.docker.dockerfile", 10, "expected a string, got a list");
	expect_err(&e, "build.docker.args", 10, "expected a mapping, got a string");
	expect_err(&e, "resources.alpha.instance", 12, "expected a whole number, got a boolean");
	expect_err(&e, "resources.alpha.cpu", 12, "expected a string, got a list");
	expect_err(&e, "resources.alpha.memory", 12, "expected a string, got a mapping");
	expect_err(&e, "resources.beta", 13, "expected a mapping, got a string");
	expect_err(&e, "batches", 14, "expected a list, got a mapping");
	assert_int_equal(e.n, 15);
	spec_errors_release(&e);

	parse_fail(MINIMAL "batches:\n  - [a]\n  - 5\n  - { name: b, schedule: '0 3 * * *', "
		   "command: [[x], {a: b}] }\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "batches[0]", 6, "expected a mapping with name, schedule and command, got a list");
	expect_err(&e, "batches[1]", 7, "expected a mapping with name, schedule and command, got a string");
	expect_err(&e, "batches[2].command[0]", 8, "expected a string, got a list");
	expect_err(&e, "batches[2].command[1]", 8, "expected a string, got a mapping");
	spec_errors_release(&e);
}

static void spec__unknown_keys__at_every_depth(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail(MINIMAL
		   "foo: 1\n"                                  /* 5 */
		   "repository: { name: svc, url: x }\n"       /* 6: duplicate key, see below */
		   "pipeline: { kind: x }\n"                   /* 7 */
		   "build:\n"                                  /* 8 */
		   "  cache: true\n"                           /* 9 */
		   "  gradle:\n"                               /* 10 */
		   "    jdk: 21\n"                             /* 11 */
		   "  docker: { file: x }\n"                   /* 12 */
		   "resources:\n"                              /* 13 */
		   "  alpha: { instance: 1, cpu: 1, memory: 1Gi, gpu: 1 }\n" /* 14 */
		   "batches:\n"                                /* 15 */
		   "  - name: a\n"                             /* 16 */
		   "    schedule: '0 3 * * *'\n"               /* 17 */
		   "    command: [x]\n"                        /* 18 */
		   "    timeout: 5\n",                         /* 19 */
		   VIVA_EINVAL, &e);
	expect_err(&e, "foo", 5, "unknown key");
	expect_err(&e, "repository", 6, "duplicate key (first at line 3)");
	expect_err(&e, "pipeline.kind", 7, "unknown key");
	expect_err(&e, "build.cache", 9, "unknown key");
	expect_err(&e, "build.gradle.jdk", 11, "unknown key");
	expect_err(&e, "build.docker.file", 12, "unknown key");
	expect_err(&e, "resources.alpha.gpu", 14, "unknown key");
	expect_err(&e, "batches[0].timeout", 19, "unknown key");
	assert_int_equal(e.n, 8);
	spec_errors_release(&e);

	parse_fail("name: svc\nowners: [U012AB3CD]\nrepository: { name: svc, url: x }\nimage: a\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "repository.url", 3, "unknown key");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);
}

static void spec__bad_names__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail("name: Service_A\nowners: [U012AB3CD]\nrepository: { name: svc }\nimage: a\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "name", 1,
		   "\"Service_A\" is not a valid service name (lower-case letters, digits and '-', "
		   "at most 63)");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);

	parse_fail("name: -svc\nowners: [U012AB3CD]\nrepository: { name: svc }\nimage: a\n",
		   VIVA_EINVAL, &e);
	expect_err_sub(&e, "name", "is not a valid service name");
	spec_errors_release(&e);

	fail_with("resources: { Alpha: { instance: 1, cpu: 1, memory: 1Gi } }\n", &e);
	expect_err(&e, "resources.Alpha", 5,
		   "\"Alpha\" is not a valid environment name (lower-case letters, digits and '-', "
		   "at most 63)");
	spec_errors_release(&e);

	fail_with("batches: [{ name: Nightly_Job, schedule: '0 3 * * *', command: [x] }]\n", &e);
	expect_err_sub(&e, "batches[0].name", "\"Nightly_Job\" is not a valid batch name");
	spec_errors_release(&e);

	parse_fail(MINIMAL_NO_REPO "repository: { name: 'a b', branch: 'feature/../x' }\n",
		   VIVA_EINVAL, &e);
	expect_err_sub(&e, "repository.name", "\"a b\" is not a repository name");
	expect_err(&e, "repository.branch", 4, "\"feature/../x\" is not a valid branch name");
	assert_int_equal(e.n, 2);
	spec_errors_release(&e);
}

static void spec__good_repository_and_branch__accepted(void **state)
{
	struct spec *s = parse_ok(MINIMAL_NO_REPO "repository: { name: Team.Backend/service_a-2, "
						  "branch: feature/ABC-12_x }\n");

	(void)state;
	assert_string_equal(s->repo_name, "Team.Backend/service_a-2");
	assert_string_equal(s->repo_branch, "feature/ABC-12_x");
	spec_free(s);
}

static void spec__bad_owners__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail("name: svc\n"
		   "owners:\n"
		   "  - U012AB3CD\n"
		   "  - bob\n"
		   "  - U012AB3CD\n"
		   "deployManagers: [u045ef6gh, 42, W045EF6GH, W045EF6GH]\n"
		   "repository: { name: svc }\n"
		   "image: a\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "owners[1]", 4, "\"bob\" is not a Slack user id");
	expect_err(&e, "owners[2]", 5, "\"U012AB3CD\" is listed twice");
	expect_err(&e, "deployManagers[0]", 6, "\"u045ef6gh\" is not a Slack user id");
	expect_err(&e, "deployManagers[1]", 6, "\"42\" is not a Slack user id");
	expect_err(&e, "deployManagers[3]", 6, "\"W045EF6GH\" is listed twice");
	assert_int_equal(e.n, 5);
	spec_errors_release(&e);
}

static void spec__bad_quantities__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail(MINIMAL
		   "resources:\n"
		   "  alpha:\n"
		   "    instance: 1\n"
		   "    cpu: \"abc\"\n"          /* 8 */
		   "    memory: 1Gb\n"           /* 9 */
		   "  beta: { instance: 1001, cpu: \"0.0005\", memory: \"0.5\" }\n" /* 10 */
		   "  gamma: { instance: -1, cpu: 0, memory: -1Mi }\n"              /* 11 */
		   "  delta: { instance: 1.5, cpu: 1e3, memory: 99999999999Ei }\n", /* 12 */
		   VIVA_EINVAL, &e);
	expect_err(&e, "resources.alpha.cpu", 8, "\"abc\" is not a CPU quantity");
	expect_err(&e, "resources.alpha.memory", 9, "\"1Gb\" is not a memory quantity");
	expect_err(&e, "resources.beta.instance", 10, "1001 is out of range 0-1000");
	expect_err(&e, "resources.beta.cpu", 10,
		   "\"0.0005\" is not a whole number of millicores (1m is the smallest step)");
	expect_err(&e, "resources.beta.memory", 10, "\"0.5\" is not a whole number of bytes");
	expect_err(&e, "resources.gamma.instance", 11, "-1 is out of range 0-1000");
	expect_err(&e, "resources.gamma.cpu", 11, "\"0\" must be greater than 0");
	expect_err(&e, "resources.gamma.memory", 11, "\"-1Mi\" must be greater than 0");
	expect_err(&e, "resources.delta.instance", 12, "\"1.5\" is not a whole number");
	expect_err(&e, "resources.delta.cpu", 12, "\"1e3\" is not a CPU quantity");
	expect_err(&e, "resources.delta.memory", 12, "\"99999999999Ei\" is too large");
	assert_int_equal(e.n, 11);
	spec_errors_release(&e);
}

static void spec__bad_enums__list_the_choices(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("pipeline:\n  type: worker\n  interface: HTTP\n  platform: linux/386\n", &e);
	expect_err(&e, "pipeline.type", 6, "\"worker\" is not one of service, batch, frontend");
	expect_err(&e, "pipeline.interface", 7, "\"HTTP\" is not one of http, kafka, grpc, none");
	expect_err(&e, "pipeline.platform", 8,
		   "\"linux/386\" is not one of linux/amd64, linux/arm64");
	assert_int_equal(e.n, 3);
	spec_errors_release(&e);
}

static void spec__bad_cron__refused(void **state)
{
	static const struct {
		const char *schedule;
		const char *sub;
	} cases[] = {
		{ "0 25 * * *", "is not a valid cron schedule: hour field: 25 is out of range 0-23" },
		{ "* * *", "it has 3 fields, not 5" },
		{ "0 3 * * * *", "it has 6 fields, not 5" },
		{ "@daily", "is not a cron schedule (5 fields" },
		{ "0 3 * * MON;rm", "is not a cron schedule (5 fields" },
		{ "0 3 * * FOO", "is not a valid cron schedule: day-of-week field" },
		{ "*/0 * * * *", "step 0 is not allowed" },
		{ "5-1 * * * *", "range 5-1 is reversed" },
		{ "0 3 \"x\" * *", "is not a cron schedule (5 fields" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_errors e;
		char *y = xasprintf("batches:\n  - name: a\n    schedule: '%s'\n    command: [x]\n",
				    cases[i].schedule);

		fail_with(y, &e);
		expect_err_sub(&e, "batches[0].schedule", cases[i].sub);
		assert_int_equal(err_at(&e, "batches[0].schedule")->line, 7);
		assert_int_equal(e.n, 1);
		spec_errors_release(&e);
		free(y);
	}
}

static void spec__good_cron__accepted(void **state)
{
	static const char *const good[] = {
		"0 3 * * *", "*/15 * * * *", "0 9-18/3 * * MON-FRI", "0,30 1 1,15 JAN-MAR,dec *",
		"0\t3 * * 7",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		/* The tab goes in as a YAML escape (a raw tab would do too). */
		char *y = xasprintf(MINIMAL "batches: [{ name: a, schedule: \"%s\", command: [x] }]\n",
				    good[i][1] == '\t' ? "0\\t3 * * 7" : good[i]);
		struct spec *s = parse_ok(y);

		assert_string_equal(s->batches[0].schedule, good[i]);
		spec_free(s);
		free(y);
	}
}

static void spec__long_cronjob_name__refused(void **state)
{
	struct spec_errors e;
	struct spec *s;

	(void)state;
	/* "service-with-a-long-name" is 24 characters. */
	parse_fail("name: service-with-a-long-name\n"
		   "owners: [U012AB3CD]\n"
		   "repository: { name: x }\n"
		   "image: a\n"
		   "batches:\n"
		   "  - { name: settle-daily-report-batch-xy, schedule: '0 3 * * *', command: [x] }\n"
		   "  - { name: settle-daily-report-batch-x, schedule: '0 3 * * *', command: [x] }\n",
		   VIVA_EINVAL, &e);
	/* 24 + 1 + 28 = 53: one too many. */
	expect_err(&e, "batches[0]", 6,
		   "CronJob name \"service-with-a-long-name-settle-daily-report-batch-xy\" is longer "
		   "than 52 characters");
	/* 24 + 1 + 27 = 52: exactly at the limit is fine. */
	expect_no_err_at(&e, "batches[1]");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);

	s = parse_ok("name: service-with-a-long-name\nowners: [U012AB3CD]\nrepository: { name: x }\n"
		     "image: a\nbatches:\n"
		     "  - { name: settle-daily-report-batch-x, schedule: '0 3 * * *', command: [x] }\n");
	assert_int_equal(strlen(s->name) + 1 + strlen(s->batches[0].name), 52);
	spec_free(s);
}

/* Service "SVC-canary" must be a DNS-1035 label: 63 characters, a letter first. */
static void spec__service_name_past_kubernetes_limits__refused(void **state)
{
	/* 57 characters: "SVC-canary" would be 64. */
	static const char *const long57 = "a23456789-123456789-123456789-123456789-123456789-1234567";
	struct spec_errors e;
	struct spec *s;
	char *yaml;

	(void)state;
	assert_int_equal(strlen(long57), 57);
	yaml = xasprintf("name: %s\nowners: [U012AB3CD]\nrepository: { name: x }\nimage: a\n", long57);
	parse_fail(yaml, VIVA_EINVAL, &e);
	expect_err_sub(&e, "name", "its Kubernetes Service \"a23456789-");
	expect_err_sub(&e, "name", "-canary\" would be longer than 63 characters (at most 56 for a service)");
	assert_int_equal(e.n, 1);
	assert_int_equal(e.v[0].line, 1);
	spec_errors_release(&e);
	free(yaml);

	/* 56 is fine */
	yaml = xasprintf("name: %.56s\nowners: [U012AB3CD]\nrepository: { name: x }\nimage: a\n", long57);
	s = parse_ok(yaml);
	assert_int_equal(strlen(s->name), 56);
	spec_free(s);
	free(yaml);

	/* a batch-only pipeline has no Service: only its CronJob names count */
	yaml = xasprintf("name: %s\nowners: [U012AB3CD]\nrepository: { name: x }\nimage: a\n"
			 "pipeline: { type: batch }\n", long57);
	s = parse_ok(yaml);
	spec_free(s);
	free(yaml);

	parse_fail("name: 9lives\nowners: [U012AB3CD]\nrepository: { name: x }\nimage: a\n",
		   VIVA_EINVAL, &e);
	expect_err(&e, "name", 1, "\"9lives\" must start with a letter: Kubernetes Service names "
		   "(SVC, SVC-canary) do");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);
}

static void spec__duplicate_batch__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("batches:\n"
		  "  - { name: settle, schedule: '0 3 * * *', command: [a] }\n"
		  "  - { name: other, schedule: '0 4 * * *', command: [b] }\n"
		  "  - { name: settle, schedule: '0 5 * * *', command: [c] }\n",
		  &e);
	expect_err(&e, "batches[2].name", 8, "\"settle\" is used by another batch");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);
}

static void spec__empty_command__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("batches: [{ name: a, schedule: '0 3 * * *', command: [] }]\n", &e);
	expect_err_sub(&e, "batches[0].command", "at least one word is required");
	spec_errors_release(&e);
}

static void spec__bad_env_keys__refused(void **state)
{
	struct spec_errors e;
	struct spec *s;

	(void)state;
	fail_with("build:\n"
		  "  environments:\n"
		  "    1BAD: x\n"             /* 7 */
		  "    WITH-DASH: y\n"        /* 8 */
		  "    GOOD_1: z\n"
		  "    _ok: [1]\n"            /* 10 */
		  "  docker:\n"
		  "    args: { 'a.b': 1, OK: 2 }\n", /* 12 */
		  &e);
	expect_err(&e, "build.environments.1BAD", 7,
		   "\"1BAD\" is not an environment variable name (letters, digits and '_', not "
		   "starting with a digit)");
	expect_err_sub(&e, "build.environments.WITH-DASH", "is not an environment variable name");
	assert_int_equal(err_at(&e, "build.environments.WITH-DASH")->line, 8);
	expect_err(&e, "build.environments._ok", 10, "expected a string, got a list");
	expect_err_sub(&e, "build.docker.args.a.b", "\"a.b\" is not a build argument name");
	assert_int_equal(e.n, 4);
	spec_errors_release(&e);

	s = parse_ok(MINIMAL "build: { environments: { _X: 1, lower_case: 2 }, "
			     "docker: { args: { VERSION: 1.2.3 } } }\n");
	assert_int_equal(s->nbuild_env, 2);
	assert_string_equal(s->build_env[0].value, "1");
	assert_string_equal(s->build_env[1].key, "lower_case");
	assert_string_equal(s->docker_args[0].value, "1.2.3");
	spec_free(s);
}

static void spec__bad_paths_and_versions__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("build:\n"
		  "  gradle: { directory: ../other, javaVersion: jdk17 }\n" /* 6 */
		  "  docker: { dockerfile: /etc/passwd }\n",              /* 7 */
		  &e);
	expect_err(&e, "build.gradle.directory", 6,
		   "\"../other\" is not a relative path inside the repository");
	expect_err(&e, "build.gradle.javaVersion", 6,
		   "\"jdk17\" is not a Java version such as 1.8, 17 or 21");
	expect_err(&e, "build.docker.dockerfile", 7,
		   "\"/etc/passwd\" is not a relative path inside the repository");
	assert_int_equal(e.n, 3);
	spec_errors_release(&e);
}

static void spec__image__oci_repository_rules(void **state)
{
	static const char *const good[] = {
		"a", "team/service-a", "a.b/c__d/e--f", "x_y/z.w-1", "0/1/2",
	};
	static const char *const bad[] = {
		"Team/a", "a//b", "a/", "/a", "-a", "a-", "a_-b", "a___b", "a..b",
		"localhost:5000/a", "a b", "a/.b",
	};
	char longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *y = xasprintf("name: s\nowners: [U012AB3CD]\nrepository: {name: s}\nimage: \"%s\"\n",
				    good[i]);
		struct spec *s = parse_ok(y);

		assert_string_equal(s->image, good[i]);
		spec_free(s);
		free(y);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *y = xasprintf("name: s\nowners: [U012AB3CD]\nrepository: {name: s}\nimage: \"%s\"\n",
				    bad[i]);
		struct spec_errors e;

		parse_fail(y, VIVA_EINVAL, &e);
		expect_err_sub(&e, "image", "is not a registry repository");
		assert_int_equal(err_at(&e, "image")->line, 4);
		spec_errors_release(&e);
		free(y);
	}
	/* 256 characters: one past the limit. */
	memset(longname, 'a', 256);
	longname[256] = '\0';
	{
		char *y = xasprintf("name: s\nowners: [U012AB3CD]\nrepository: {name: s}\nimage: %s\n",
				    longname);
		struct spec_errors e;

		parse_fail(y, VIVA_EINVAL, &e);
		expect_err_sub(&e, "image", "is not a registry repository");
		spec_errors_release(&e);
		free(y);
	}
}

static void spec__duplicate_yaml_key__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("resources:\n"
		  "  alpha: { instance: 1, cpu: 1, memory: 1Gi }\n"
		  "  alpha: { instance: 2, cpu: x, memory: 1Gi }\n",
		  &e);
	expect_err(&e, "resources.alpha", 7, "duplicate key (first at line 6)");
	/* The second value is dropped, so its bad cpu is not reported. */
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);
}

static void spec__nul_in_value__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	fail_with("build: { gradle: { tasks: \"clean\\0build\" } }\n", &e);
	expect_err(&e, "build.gradle.tasks", 5, "contains a NUL character");
	spec_errors_release(&e);
}

static void spec__many_errors__all_reported_in_line_order(void **state)
{
	struct spec_errors e;
	char *f;

	(void)state;
	parse_fail("name: Service_A\n"                                     /* 1 */
		   "owners: [bob, U012AB3CD, U012AB3CD]\n"                 /* 2 */
		   "foo: 1\n"                                              /* 3 */
		   "repository:\n"                                         /* 4 */
		   "  branch: \"a..b\"\n"                                  /* 5 */
		   "pipeline:\n"                                           /* 6 */
		   "  type: worker\n"                                      /* 7 */
		   "image: Team/A\n"                                       /* 8 */
		   "resources:\n"                                          /* 9 */
		   "  alpha: { instance: 5000, cpu: \"abc\", memory: 0 }\n" /* 10 */
		   "batches:\n"                                            /* 11 */
		   "  - { name: x, schedule: \"0 25 * * *\", command: [] }\n", /* 12 */
		   VIVA_EINVAL, &e);
	assert_int_equal(e.n, 13);
	for (size_t i = 1; i < e.n; i++)
		assert_true(e.v[i - 1].line <= e.v[i].line);
	f = spec_errors_format(&e);
	assert_string_equal(
		f,
		"name: \"Service_A\" is not a valid service name (lower-case letters, digits and "
		"'-', at most 63) (service-a.yaml:1)\n"
		"owners[0]: \"bob\" is not a Slack user id (service-a.yaml:2)\n"
		"owners[2]: \"U012AB3CD\" is listed twice (service-a.yaml:2)\n"
		"foo: unknown key (service-a.yaml:3)\n"
		"repository.name: required (service-a.yaml:4)\n"
		"repository.branch: \"a..b\" is not a valid branch name (service-a.yaml:5)\n"
		"pipeline.type: \"worker\" is not one of service, batch, frontend (service-a.yaml:7)\n"
		"image: \"Team/A\" is not a registry repository (lower-case parts joined by '/', e.g. "
		"team/service-a) (service-a.yaml:8)\n"
		"resources.alpha.instance: 5000 is out of range 0-1000 (service-a.yaml:10)\n"
		"resources.alpha.cpu: \"abc\" is not a CPU quantity (service-a.yaml:10)\n"
		"resources.alpha.memory: \"0\" must be greater than 0 (service-a.yaml:10)\n"
		"batches[0].schedule: \"0 25 * * *\" is not a valid cron schedule: hour field: 25 is "
		"out of range 0-23 (service-a.yaml:12)\n"
		"batches[0].command: at least one word is required, e.g. [java, -jar, app.jar] "
		"(service-a.yaml:12)");
	free(f);
	spec_errors_release(&e);
}

static void spec__too_many_errors__capped_with_a_note(void **state)
{
	struct strbuf sb;
	struct spec_errors e;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, MINIMAL "resources:\n");
	for (int i = 0; i < 150; i++)
		sb_addf(&sb, "  e%d: { instance: 1, cpu: x, memory: 1Gi }\n", i);
	parse_fail(sb.buf, VIVA_EINVAL, &e);
	assert_int_equal(e.n, 101);
	assert_string_equal(e.v[0].path, "resources.e0.cpu");
	assert_string_equal(e.v[100].path, "");
	assert_string_equal(e.v[100].message, "too many errors: only the first 100 are shown");
	spec_errors_release(&e);
	sb_release(&sb);
}

static void spec__too_many_entries__refused(void **state)
{
	struct strbuf sb;
	struct spec_errors e;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "name: s\nrepository: {name: s}\nimage: a\nowners:\n");
	for (int i = 0; i < 300; i++)
		sb_addf(&sb, "  - U%07d\n", i);
	parse_fail(sb.buf, VIVA_EINVAL, &e);
	expect_err(&e, "owners", 4, "has 300 entries; at most 256 are allowed");
	assert_int_equal(e.n, 1);
	spec_errors_release(&e);
	sb_release(&sb);
}

/* ---- hostile and malformed input ---------------------------------------- */

static void spec__malformed_yaml__eparse_with_line(void **state)
{
	static const struct {
		const char *yaml;
		size_t len;
		int line;
		const char *sub;
	} cases[] = {
		{ "name: \"abc\nowners: []\n", 0, 3, "while scanning a quoted scalar" },
		{ "name: a\nowners:\n\t- U012AB3CD\n", 0, 3, "not tabs" },
		{ "name: a\n  owners: b\n", 0, 2, "YAML syntax error" },
		{ "name: [a, b\n", 0, 2, "YAML syntax error" },
		{ "name: a\nb: {x: 1\n", 0, 3, "YAML syntax error" },
		{ "\x00\x01\xff\xfe garbage", 12, 1, "not a YAML text" },
		{ "name: ok\nimage: \xff\xfe\n", 0, 2, "not a YAML text" },
		{ "name: a\n\x7f\n", 0, 2, "not a YAML text" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_errors e;
		struct spec *s = (struct spec *)1;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].yaml);
		int rc;

		spec_errors_init(&e, "x.yaml");
		rc = spec_parse(cases[i].yaml, len, "x.yaml", &s, &e);
		if (rc != VIVA_EPARSE || e.n != 1 || e.v[0].line != cases[i].line ||
		    !strstr(e.v[0].message, cases[i].sub)) {
			char *f = spec_errors_format(&e);

			fail_msg("case %zu: rc %d:\n%s", i, rc, f);
		}
		assert_null(s);
		assert_string_equal(e.v[0].path, "");
		spec_errors_release(&e);
	}
}

static void spec__document_shape__eparse(void **state)
{
	static const struct {
		const char *yaml;
		const char *msg;
		int line;
	} cases[] = {
		{ "", "empty spec", 0 },
		{ "# only a comment\n", "empty spec", 0 },
		{ "---\n", "empty spec", 0 },
		{ "~\n", "empty spec", 0 },
		{ "- a\n- b\n", "the spec must be a mapping (key: value lines), not a list", 1 },
		{ "\n\njust text\n", "the spec must be a mapping (key: value lines), not a string", 3 },
		{ "name: a\n---\nname: b\n", "more than one YAML document (one per file)", 2 },
		{ "? [a]\n: b\n", "keys must be plain text, not lists or mappings", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_errors e;

		parse_fail(cases[i].yaml, VIVA_EPARSE, &e);
		assert_int_equal(e.n, 1);
		expect_err(&e, "", cases[i].line, cases[i].msg);
		spec_errors_release(&e);
	}
}

static void spec__huge_input__refused(void **state)
{
	size_t n = 300 * 1024;
	char *big = xmalloc(n + 1);
	struct spec_errors e;
	struct spec *s = (struct spec *)1;
	struct strbuf sb;

	(void)state;
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 64 == 63) ? '\n' : (i % 64 == 0 ? '#' : 'x');
	big[n] = '\0';
	spec_errors_init(&e, "big.yaml");
	assert_int_equal(spec_parse(big, n, "big.yaml", &s, &e), VIVA_EPARSE);
	assert_null(s);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.v[0].message, "the spec is 307200 bytes; at most 256 KiB are allowed");
	spec_errors_release(&e);
	free(big);

	/* Just under the limit is fine, comments and all. */
	sb_init(&sb);
	sb_adds(&sb, example_yaml);
	while (sb.len < 255 * 1024)
		sb_adds(&sb, "# padding padding padding padding padding padding padding padding\n");
	s = parse_ok(sb.buf);
	assert_string_equal(s->name, "service-a");
	spec_free(s);
	sb_release(&sb);
}

static void spec__deep_nesting__refused(void **state)
{
	struct strbuf sb;
	struct spec_errors e;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "name: ");
	for (int i = 0; i < 10000; i++)
		sb_addc(&sb, '[');
	parse_fail(sb.buf, VIVA_EPARSE, &e);
	assert_int_equal(e.n, 1);
	expect_err(&e, "", 1, "nested deeper than 32 levels");
	spec_errors_release(&e);
	sb_release(&sb);

	/* Block mappings, 40 deep: refused at the 33rd level, on its line. */
	sb_init(&sb);
	for (int i = 0; i < 40; i++)
		sb_addf(&sb, "%*sk%d:\n", 2 * i, "", i);
	parse_fail(sb.buf, VIVA_EPARSE, &e);
	expect_err(&e, "", 33, "nested deeper than 32 levels");
	spec_errors_release(&e);
	sb_release(&sb);

	/* 32 levels deep is parsed (and then refused as unknown keys, cleanly). */
	sb_init(&sb);
	sb_adds(&sb, MINIMAL "build: ");
	for (int i = 0; i < 31; i++)
		sb_addc(&sb, '[');
	for (int i = 0; i < 31; i++)
		sb_addc(&sb, ']');
	sb_addc(&sb, '\n');
	parse_fail(sb.buf, VIVA_EINVAL, &e);
	expect_err(&e, "build", 5, "expected a mapping, got a list");
	spec_errors_release(&e);
	sb_release(&sb);
}

static void spec__alias_bomb__refused(void **state)
{
	struct spec_errors e;

	(void)state;
	parse_fail("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		   "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		   "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		   "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		   "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		   "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		   "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
		   VIVA_EPARSE, &e);
	assert_int_equal(e.n, 1);
	expect_err(&e, "", 2, "aliases are not allowed (write the value out)");
	spec_errors_release(&e);

	parse_fail(MINIMAL "deployManagers: &m [U012AB3CD]\nx: *m\n", VIVA_EPARSE, &e);
	expect_err(&e, "", 6, "aliases are not allowed (write the value out)");
	spec_errors_release(&e);
}

/* Every prefix and many one-byte changes of the example: never a crash or leak. */
static void spec__mutated_example__never_crashes(void **state)
{
	static const char subst[] = { '\0', '\t', '\n', ':', '[', '{', '"', '\'', '&', '*', '-',
				      '#', '!', '|', '>', '%', '@', '\\', ' ', '\xff', '\xc3' };
	size_t n = strlen(example_yaml);
	char *buf = xmalloc(n + 1);
	size_t ok = 0;

	(void)state;
	for (size_t len = 0; len <= n; len++) {
		struct spec_errors e;
		struct spec *s = NULL;
		int rc;

		spec_errors_init(&e, "m.yaml");
		rc = spec_parse(example_yaml, len, "m.yaml", &s, &e);
		assert_true(rc == VIVA_OK || rc == VIVA_EINVAL || rc == VIVA_EPARSE);
		assert_true((rc == VIVA_OK) == (s != NULL));
		assert_true((rc == VIVA_OK) == (e.n == 0));
		ok += rc == VIVA_OK;
		spec_free(s);
		spec_errors_release(&e);
	}
	for (size_t pos = 0; pos < n; pos++) {
		for (size_t k = 0; k < sizeof(subst); k++) {
			struct spec_errors e;
			struct spec *s = NULL;
			char *f;
			int rc;

			memcpy(buf, example_yaml, n + 1);
			buf[pos] = subst[k];
			spec_errors_init(&e, "m.yaml");
			rc = spec_parse(buf, n, "m.yaml", &s, &e);
			assert_true((rc == VIVA_OK) == (s != NULL));
			f = spec_errors_format(&e);
			free(f);
			if (s) {
				char *y = spec_to_yaml(s);
				struct spec *back = parse_ok(y);

				assert_spec_equal(s, back);
				spec_free(back);
				free(y);
			}
			spec_free(s);
			spec_errors_release(&e);
		}
	}
	/* At least the full text is valid. */
	assert_true(ok >= 1);
	free(buf);
}

/*
 * A 100 KiB key above a list of 60 000 items: the line table must not grow
 * with key length times item count, and the error path is cut.
 */
static void spec__long_key_over_big_list__bounded(void **state)
{
	struct strbuf sb;
	struct spec_errors e;
	const struct spec_error *x = NULL;

	(void)state;
	sb_init(&sb);
	/* An explicit key: implicit ones stop at 1024 characters. */
	sb_adds(&sb, MINIMAL "? ");
	for (int i = 0; i < 100000; i++)
		sb_addc(&sb, 'k');
	sb_adds(&sb, "\n: [");
	for (int i = 0; i < 60000; i++)
		sb_adds(&sb, "1,");
	sb_adds(&sb, "1]\n");
	parse_fail(sb.buf, VIVA_EINVAL, &e);
	assert_int_equal(e.n, 1);
	x = &e.v[0];
	assert_string_equal(x->message, "unknown key");
	/* Too long a path to track: the line falls back to the document's. */
	assert_int_equal(x->line, 1);
	assert_int_equal(strlen(x->path), 256 + 3);
	assert_string_equal(x->path + 256, "...");
	spec_errors_release(&e);
	sb_release(&sb);
}

/* ---- round trips and output ---------------------------------------------- */

static void spec__example__round_trips(void **state)
{
	struct spec *s = parse_ok(example_yaml);

	(void)state;
	assert_round_trips(s);
	spec_free(s);
	s = parse_ok(MINIMAL);
	assert_round_trips(s);
	spec_free(s);
}

static void spec__tricky_strings__round_trip(void **state)
{
	static const char *const tricky[] = {
		"He said \"hi\": #not a comment",
		"line1\nline2\n",
		"tab\there\r\n",
		"unicode \xed\x95\x9c\xea\xb8\x80 \xe2\x9c\x93 \xf0\x9f\x98\x80",
		" leading and trailing ",
		"back\\slash \\n not a newline",
		"- dash", "{braces}", "[x]", "&anchor *alias !tag %dir @at `tick`",
		"null", "true", "~", "", "'single'", "key: value", "? q", "|", ">",
		"ctrl \x01\x1b\x7f",
		"nel \xc2\x85 ls \xe2\x80\xa8 ps \xe2\x80\xa9 bom \xef\xbb\xbf nbsp \xc2\xa0",
		"noncharacter \xef\xbf\xbe",
		"---", "...", "#",
	};
	json_t *tree = json_pack("{s:s, s:[s], s:{s:s}, s:s}", "name", "svc", "owners", "U012AB3CD",
				 "repository", "name", "svc", "image", "a");
	json_t *env = json_object(), *args = json_object(), *cmd = json_array();
	struct spec_errors e;
	struct spec *s = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		char key[16];

		snprintf(key, sizeof(key), "K%zu", i);
		json_object_set_new(env, key, json_string(tricky[i]));
		json_object_set_new(args, key, json_string(tricky[i]));
		json_array_append_new(cmd, json_string(tricky[i]));
	}
	json_object_set_new(tree, "build",
			    json_pack("{s:o, s:{s:s, s:s}, s:{s:o}}", "environments", env, "gradle",
				      "tasks", tricky[0], "options", tricky[1], "docker", "args", args));
	json_object_set_new(tree, "batches",
			    json_pack("[{s:s, s:s, s:o}]", "name", "b", "schedule", "0 3 * * *",
				      "command", cmd));
	spec_errors_init(&e, NULL);
	if (spec_from_json(tree, &s, &e) != VIVA_OK) {
		char *f = spec_errors_format(&e);

		fail_msg("from_json:\n%s", f);
	}
	assert_int_equal(s->nbuild_env, sizeof(tricky) / sizeof(tricky[0]));
	assert_string_equal(s->build_env[1].value, "line1\nline2\n");
	assert_string_equal(s->batches[0].command[13], "");
	assert_round_trips(s);
	spec_errors_release(&e);
	spec_free(s);
	json_decref(tree);
}

static void spec__to_yaml__canonical_text(void **state)
{
	struct spec *s = parse_ok(MINIMAL "pipeline: { platform: linux/arm64 }\n"
					  "resources: { prod: { instance: 3, cpu: 500m, memory: 2Gi } }\n");
	char *y = spec_to_yaml(s);

	(void)state;
	assert_string_equal(y,
			    "name: \"svc\"\n"
			    "owners:\n"
			    "  - \"U012AB3CD\"\n"
			    "deployManagers: []\n"
			    "repository:\n"
			    "  name: \"svc\"\n"
			    "  branch: \"develop\"\n"
			    "pipeline:\n"
			    "  type: \"service\"\n"
			    "  interface: \"http\"\n"
			    "  platform: \"linux/arm64\"\n"
			    "image: \"team/svc\"\n"
			    "build:\n"
			    "  environments: {}\n"
			    "  gradle:\n"
			    "    enabled: false\n"
			    "    directory: \".\"\n"
			    "    javaVersion: \"1.8\"\n"
			    "  docker:\n"
			    "    dockerfile: \"Dockerfile\"\n"
			    "    args: {}\n"
			    "resources:\n"
			    "  \"prod\":\n"
			    "    instance: 3\n"
			    "    cpu: \"500m\"\n"
			    "    memory: \"2Gi\"\n"
			    "batches: []\n");
	free(y);
	spec_free(s);
	assert_null(spec_to_yaml(NULL));
	assert_null(spec_to_json(NULL));
	spec_free(NULL);
}

static void spec__to_json__mirrors_yaml_shape(void **state)
{
	struct spec *s = parse_ok(example_yaml);
	json_t *j = spec_to_json(s);

	(void)state;
	assert_string_equal(json_string_value(json_object_get(j, "name")), "service-a");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "deployManagers"), 0)),
			    "U045EF6GH");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "repository"), "branch")),
			    "develop");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "pipeline"), "platform")),
			    "linux/arm64");
	{
		json_t *g = json_object_get(json_object_get(j, "build"), "gradle");

		assert_true(json_is_true(json_object_get(g, "enabled")));
		assert_string_equal(json_string_value(json_object_get(g, "javaVersion")), "21");
	}
	{
		json_t *r = json_object_get(json_object_get(j, "resources"), "prod");

		assert_int_equal(json_integer_value(json_object_get(r, "instance")), 4);
		assert_string_equal(json_string_value(json_object_get(r, "cpu")), "2");
		assert_string_equal(json_string_value(json_object_get(r, "memory")), "4096MB");
	}
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_array_get(json_object_get(j, "batches"), 0), "command"), 3)),
		"settle");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(j, "build"), "docker"),
						    "args"),
				    "KEY")),
			    "value");
	json_decref(j);
	spec_free(s);
}

/* ---- the form's path ------------------------------------------------------ */

static void spec__from_json__form_tree_errors_have_no_line(void **state)
{
	json_error_t jerr;
	json_t *tree = json_loads(
		"{\"name\": \"Bad_Name\", \"owners\": [\"bob\"], \"repository\": {\"name\": \"svc\"},"
		" \"image\": \"team/svc\", \"nope\": 1,"
		" \"build\": {\"gradle\": {\"enabled\": 1, \"javaVersion\": 1.8}},"
		" \"resources\": {\"alpha\": {\"instance\": \"two\", \"cpu\": \"abc\", \"memory\": \"1Gi\"}},"
		" \"batches\": [{\"name\": \"x\", \"schedule\": \"bad\", \"command\": [\"a\"]}]}",
		0, &jerr);
	struct spec_errors e;
	struct spec *s = (struct spec *)1;

	(void)state;
	assert_non_null(tree);
	spec_errors_init(&e, NULL);
	assert_int_equal(spec_from_json(tree, &s, &e), VIVA_EINVAL);
	assert_null(s);
	expect_err(&e, "name", 0,
		   "\"Bad_Name\" is not a valid service name (lower-case letters, digits and '-', at "
		   "most 63)");
	expect_err(&e, "owners[0]", 0, "\"bob\" is not a Slack user id");
	expect_err(&e, "nope", 0, "unknown key");
	expect_err(&e, "build.gradle.enabled", 0, "expected true or false, got a number");
	expect_err(&e, "resources.alpha.instance", 0, "\"two\" is not a whole number");
	expect_err(&e, "resources.alpha.cpu", 0, "\"abc\" is not a CPU quantity");
	expect_err_sub(&e, "batches[0].schedule", "it has 1 fields, not 5");
	assert_int_equal(e.n, 7);
	for (size_t i = 0; i < e.n; i++)
		assert_int_equal(e.v[i].line, 0);
	{
		/* No file, no line: no parenthesis. */
		char *f = spec_errors_format(&e);

		assert_non_null(strstr(f, "nope: unknown key\n"));
		assert_null(strstr(f, "("
				      "line"));
		free(f);
	}
	spec_errors_release(&e);
	json_decref(tree);
}

static void spec__from_json__form_values_accepted(void **state)
{
	/* What the modal sends: text everywhere, numbers where a number is natural. */
	json_t *tree = json_pack(
		"{s:s, s:[s,s], s:[], s:{s:s, s:s}, s:{s:s, s:s}, s:s,"
		" s:{s:{s:s}, s:{s:b, s:s, s:s, s:f}, s:{s:s, s:{}}},"
		" s:{s:{s:s, s:s, s:s}, s:{s:i, s:i, s:s}}}",
		"name", "svc", "owners", "U012AB3CD", "U045EF6GH", "deployManagers",
		"repository", "name", "svc", "branch", "",
		"pipeline", "type", "frontend", "platform", "linux/arm64",
		"image", "team/svc",
		"build", "environments", "TZ", "Asia/Seoul",
		"gradle", "enabled", 1, "tasks", "", "options", "-x", "javaVersion", 1.8,
		"docker", "dockerfile", "docker/Dockerfile", "args",
		"resources", "alpha", "instance", "2", "cpu", "0.5", "memory", "512Mi",
		"prod", "instance", 4, "cpu", 2, "memory", "1Gi");
	struct spec_errors e;
	struct spec *s = NULL;

	(void)state;
	assert_non_null(tree);
	spec_errors_init(&e, NULL);
	if (spec_from_json(tree, &s, &e) != VIVA_OK) {
		char *f = spec_errors_format(&e);

		fail_msg("from_json:\n%s", f);
	}
	assert_int_equal(s->nowners, 2);
	assert_int_equal(s->ndeploy_managers, 0);
	assert_string_equal(s->repo_branch, "develop");  /* "" means not chosen */
	assert_int_equal(s->type, SPEC_FRONTEND);
	assert_true(s->gradle_enabled);
	assert_null(s->gradle_tasks);
	assert_string_equal(s->java_version, "1.8");
	assert_string_equal(s->dockerfile, "docker/Dockerfile");
	assert_int_equal(s->resources[0].instance, 2);
	assert_int_equal(s->resources[0].cpu_milli, 500);
	assert_int_equal(s->resources[1].instance, 4);
	assert_string_equal(s->resources[1].cpu, "2");
	assert_int_equal(s->resources[1].cpu_milli, 2000);
	/* The tree is not changed. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(tree, "repository"),
							      "branch")),
			    "");
	assert_round_trips(s);
	spec_free(s);
	spec_errors_release(&e);
	json_decref(tree);
}

static void spec__from_json__not_an_object(void **state)
{
	struct spec_errors e;
	struct spec *s = (struct spec *)1;
	json_t *arr = json_array();

	(void)state;
	spec_errors_init(&e, NULL);
	assert_int_equal(spec_from_json(NULL, &s, &e), VIVA_EINVAL);
	assert_null(s);
	expect_err(&e, "", 0, "empty spec");
	assert_int_equal(spec_from_json(arr, &s, &e), VIVA_EINVAL);
	expect_err(&e, "", 0, "the spec must be a mapping, not a list");
	assert_int_equal(e.n, 2);
	spec_errors_release(&e);
	/* errs may be NULL: the errors are dropped, the code stays. */
	assert_int_equal(spec_from_json(arr, &s, NULL), VIVA_EINVAL);
	assert_int_equal(spec_parse("x", 1, "f", &s, NULL), VIVA_EPARSE);
	assert_null(s);
	json_decref(arr);
}

/* ---- predicates and formatting ------------------------------------------- */

static void spec__owner_and_deploy_manager__predicates(void **state)
{
	struct spec *s = parse_ok(example_yaml);

	(void)state;
	assert_true(spec_is_owner(s, "U012AB3CD"));
	assert_false(spec_is_owner(s, "U045EF6GH"));
	assert_false(spec_is_owner(s, "U012AB3C"));
	assert_false(spec_is_owner(s, ""));
	assert_false(spec_is_owner(s, NULL));
	assert_false(spec_is_owner(NULL, "U012AB3CD"));
	assert_true(spec_is_deploy_manager(s, "U045EF6GH"));
	/* Deploy managers are their own list; owners are not implied. */
	assert_false(spec_is_deploy_manager(s, "U012AB3CD"));
	assert_false(spec_is_deploy_manager(s, NULL));
	assert_false(spec_is_deploy_manager(NULL, "U045EF6GH"));
	spec_free(s);

	s = parse_ok(MINIMAL);
	assert_false(spec_is_deploy_manager(s, "U012AB3CD"));
	spec_free(s);
}

static void spec__errors_format__file_line_and_plain(void **state)
{
	struct spec_errors e;
	char *f;

	(void)state;
	fail_with("resources:\n  alpha: { instance: 1, cpu: \"abc\", memory: 1Gi }\n", &e);
	f = spec_errors_format(&e);
	assert_string_equal(f, "resources.alpha.cpu: \"abc\" is not a CPU quantity (service-a.yaml:6)");
	free(f);
	spec_errors_release(&e);

	/* No file name: the line alone. */
	spec_errors_init(&e, NULL);
	{
		struct spec *s = NULL;
		const char *y = MINIMAL "foo: 1\n";

		assert_int_equal(spec_parse(y, strlen(y), NULL, &s, &e), VIVA_EINVAL);
	}
	f = spec_errors_format(&e);
	assert_string_equal(f, "foo: unknown key (line 5)");
	free(f);
	spec_errors_release(&e);

	/* The filename argument names the file when errs has none. */
	spec_errors_init(&e, NULL);
	{
		struct spec *s = NULL;
		const char *y = MINIMAL "foo: 1\n";

		assert_int_equal(spec_parse(y, strlen(y), "svc.yaml", &s, &e), VIVA_EINVAL);
	}
	f = spec_errors_format(&e);
	assert_string_equal(f, "foo: unknown key (svc.yaml:5)");
	free(f);
	spec_errors_release(&e);

	spec_errors_init(&e, NULL);
	f = spec_errors_format(&e);
	assert_string_equal(f, "");
	free(f);
	spec_errors_release(&e);
	spec_errors_release(NULL);
}

static void spec__long_bad_value__quoted_and_cut(void **state)
{
	struct strbuf sb;
	struct spec_errors e;
	const struct spec_error *x;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, MINIMAL "pipeline: { type: \"");
	for (int i = 0; i < 500; i++)
		sb_addc(&sb, 'w');
	sb_adds(&sb, "\\n\\\"\" }\n");
	parse_fail(sb.buf, VIVA_EINVAL, &e);
	x = err_at(&e, "pipeline.type");
	assert_true(strlen(x->message) < 260);
	assert_non_null(strstr(x->message, "...\" is not one of service, batch, frontend"));
	assert_null(strchr(x->message, '\n'));
	spec_errors_release(&e);
	sb_release(&sb);

	fail_with("pipeline: { type: \"a\\nb\\\"c\" }\n", &e);
	expect_err(&e, "pipeline.type", 5, "\"a\\nb\\\"c\" is not one of service, batch, frontend");
	spec_errors_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spec__example__every_field_parsed),
		cmocka_unit_test(spec__minimal__defaults_applied),
		cmocka_unit_test(spec__enums_and_block_style__parsed),
		cmocka_unit_test(spec__numbers_as_text__kept_as_written),
		cmocka_unit_test(spec__null_values__mean_not_given),
		cmocka_unit_test(spec__booleans__only_true_and_false),
		cmocka_unit_test(spec__anchor_without_alias__allowed),
		cmocka_unit_test(spec__bom_and_crlf__accepted),
		cmocka_unit_test(spec__missing_required__each_named),
		cmocka_unit_test(spec__wrong_types__name_the_path),
		cmocka_unit_test(spec__unknown_keys__at_every_depth),
		cmocka_unit_test(spec__bad_names__refused),
		cmocka_unit_test(spec__good_repository_and_branch__accepted),
		cmocka_unit_test(spec__bad_owners__refused),
		cmocka_unit_test(spec__bad_quantities__refused),
		cmocka_unit_test(spec__bad_enums__list_the_choices),
		cmocka_unit_test(spec__bad_cron__refused),
		cmocka_unit_test(spec__good_cron__accepted),
		cmocka_unit_test(spec__long_cronjob_name__refused),
		cmocka_unit_test(spec__service_name_past_kubernetes_limits__refused),
		cmocka_unit_test(spec__duplicate_batch__refused),
		cmocka_unit_test(spec__empty_command__refused),
		cmocka_unit_test(spec__bad_env_keys__refused),
		cmocka_unit_test(spec__bad_paths_and_versions__refused),
		cmocka_unit_test(spec__image__oci_repository_rules),
		cmocka_unit_test(spec__duplicate_yaml_key__refused),
		cmocka_unit_test(spec__nul_in_value__refused),
		cmocka_unit_test(spec__many_errors__all_reported_in_line_order),
		cmocka_unit_test(spec__too_many_errors__capped_with_a_note),
		cmocka_unit_test(spec__too_many_entries__refused),
		cmocka_unit_test(spec__malformed_yaml__eparse_with_line),
		cmocka_unit_test(spec__document_shape__eparse),
		cmocka_unit_test(spec__huge_input__refused),
		cmocka_unit_test(spec__deep_nesting__refused),
		cmocka_unit_test(spec__alias_bomb__refused),
		cmocka_unit_test(spec__mutated_example__never_crashes),
		cmocka_unit_test(spec__long_key_over_big_list__bounded),
		cmocka_unit_test(spec__example__round_trips),
		cmocka_unit_test(spec__tricky_strings__round_trip),
		cmocka_unit_test(spec__to_yaml__canonical_text),
		cmocka_unit_test(spec__to_json__mirrors_yaml_shape),
		cmocka_unit_test(spec__from_json__form_tree_errors_have_no_line),
		cmocka_unit_test(spec__from_json__form_values_accepted),
		cmocka_unit_test(spec__from_json__not_an_object),
		cmocka_unit_test(spec__owner_and_deploy_manager__predicates),
		cmocka_unit_test(spec__errors_format__file_line_and_plain),
		cmocka_unit_test(spec__long_bad_value__quoted_and_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
