/*
 * Tests for bot/model/render.c: pipeline specs rendered through the
 * templates in templates/k8s/ (built in, overridable) to the Kubernetes
 * objects of SPEC 5, in their three forms (create, apply, seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"
#include "bot/model/builtin.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/model/tmpl.h"
#include "tests/helpers.h"

/* 2024-05-01T10:00:00Z */
#define CREATED_AT INT64_C(1714557600)
#define TAG        "2182-develop-b05419e"

static const char *const example_yaml =
	"name: service-a\n"
	"owners: [U012AB3CD]\n"
	"deployManagers: [U045EF6GH]\n"
	"repository: { name: service-a, branch: develop }\n"
	"pipeline: { type: service, interface: http, platform: linux/amd64 }\n"
	"image: team/service-a\n"
	"resources:\n"
	"  alpha: { instance: 1, cpu: \"0.05\", memory: 1024MB }\n"
	"  prod:  { instance: 4, cpu: \"2\", memory: 4096MB }\n"
	"batches:\n"
	"  - { name: settle-daily, schedule: \"0 3 * * *\", command: [java, -jar, app.jar, settle] }\n"
	"  - { name: report-weekly, schedule: \"30 4 * * MON\", command: [java, -jar, app.jar, report, "
	"--weekly] }\n";

/* ---- helpers ------------------------------------------------------------- */

static struct spec *parse_spec(const char *yaml)
{
	struct spec_errors e;
	struct spec *s = NULL;
	int rc;

	spec_errors_init(&e, "test.yaml");
	rc = spec_parse(yaml, strlen(yaml), "test.yaml", &s, &e);
	if (rc != VIVA_OK) {
		char *f = spec_errors_format(&e);

		fail_msg("spec does not parse (%d):\n%s", rc, f);
	}
	spec_errors_release(&e);
	return s;
}

/* viva.yaml environments: "name:cluster:namespace" ..., NULL-terminated. */
static void config_with_envs(struct viva_config *cfg, ...)
{
	va_list ap;
	const char *e;

	config_defaults(cfg);
	cfg->environments = xcalloc(8, sizeof(*cfg->environments));
	va_start(ap, cfg);
	while ((e = va_arg(ap, const char *)) != NULL) {
		struct config_env *ce = &cfg->environments[cfg->n_environments++];
		const char *c1 = strchr(e, ':'), *c2 = strchr(c1 + 1, ':');

		ce->name = xstrndup(e, (size_t)(c1 - e));
		ce->cluster = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
		ce->namespace_ = xstrdup(c2 + 1);
	}
	va_end(ap);
}

static struct tmpl_set *builtin_set(void)
{
	struct tmpl_set *ts = NULL;
	char err[512];

	if (tmpl_set_load(NULL, &ts, err, sizeof(err)) != VIVA_OK)
		fail_msg("built-in templates: %s", err);
	return ts;
}

/* JSON written with ' for " (test literals stay readable); parsed. */
static json_t *jq(const char *text)
{
	char *t = xstrdup(text);
	json_error_t je;
	json_t *v;

	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(t, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("test JSON does not parse: %s (line %d, column %d):\n%s", je.text, je.line,
			 je.column, t);
	free(t);
	return v;
}

static void assert_json(json_t *got, json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_INDENT(1)) : NULL;
		char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_INDENT(1));

		print_error("got:\n%s\nwant:\n%s\n", g ? g : "(null)", w);
		free(g);
		free(w);
		fail();
	}
}

static void assert_jq(json_t *got, const char *want_text)
{
	json_t *want = jq(want_text);

	assert_json(got, want);
	json_decref(want);
}

static const struct render_opts create_opts = {
	.form = RENDER_CREATE, .registry = "127.0.0.1:5000", .tag = TAG,
	.deployed_by = "U012AB3CD", .deployed_at = CREATED_AT,
};

static json_t *render_ok(const struct spec *s, const struct render_target *t, struct tmpl_set *ts,
			 const struct render_opts *o)
{
	json_t *out = NULL;
	char err[512] = "";
	int rc = render_service(s, t, ts, o, &out, err, sizeof(err));

	if (rc != VIVA_OK)
		fail_msg("render failed (%d): %s", rc, err);
	assert_true(json_is_array(out));
	return out;
}

/* Render, expect rc, and err containing every NULL-terminated string. */
static void render_fails(const struct spec *s, const struct render_target *t, struct tmpl_set *ts,
			 const struct render_opts *o, int want_rc, ...)
{
	json_t *out = (json_t *)1;
	char err[512] = "";
	const char *want;
	va_list ap;
	int rc = render_service(s, t, ts, o, &out, err, sizeof(err));

	if (rc != want_rc)
		fail_msg("render: rc %d, want %d (%s)", rc, want_rc, err);
	assert_null(out);
	va_start(ap, want_rc);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (!strstr(err, want)) {
			va_end(ap);
			fail_msg("error \"%s\" does not contain \"%s\"", err, want);
		}
	va_end(ap);
}

/* A template set: the built-in ones, then name=text pairs replacing or adding. */
static struct tmpl_set *set_with(const char *name, const char *text)
{
	struct tmpl_set *ts = builtin_set();
	char err[512];

	if (tmpl_set_add(ts, name, text, err, sizeof(err)) != VIVA_OK)
		fail_msg("tmpl_set_add %s: %s", name, err);
	return ts;
}

/* The built-in template text with `from` replaced by `to` (once; it must be there). */
static char *builtin_edited(const char *path, const char *from, const char *to)
{
	const struct builtin_file *b = builtin_find(path);
	const char *at;
	char *s;

	assert_non_null(b);
	at = strstr((const char *)b->data, from);
	if (!at)
		fail_msg("%s has no \"%s\"", path, from);
	s = xasprintf("%.*s%s%s", (int)(at - (const char *)b->data), (const char *)b->data, to,
		      at + strlen(from));
	return s;
}

/*
 * The whole CREATE list of the example in one environment, written out:
 * ns, the live colour's replicas, the canary's, cpu, memory.
 */
static json_t *expected_create(const char *ns, int live_replicas, int canary_replicas, const char *cpu,
			       const char *mem)
{
	struct strbuf sb;
	static const char *const slots[] = { "blue", "green", "canary" };
	json_t *v;

	sb_init(&sb);
	sb_addf(&sb,
		"[{'apiVersion': 'v1', 'kind': 'Service',"
		"  'metadata': {'name': 'service-a', 'namespace': '%s',"
		"               'labels': {'app': 'service-a', 'app.kubernetes.io/managed-by': 'viva'}},"
		"  'spec': {'type': 'ClusterIP', 'selector': {'app': 'service-a', 'viva/slot': 'blue'},"
		"           'ports': [{'name': 'http', 'port': 80, 'targetPort': 'http'}]}},"
		" {'apiVersion': 'v1', 'kind': 'Service',"
		"  'metadata': {'name': 'service-a-canary', 'namespace': '%s',"
		"               'labels': {'app': 'service-a', 'viva/slot': 'canary',"
		"                          'app.kubernetes.io/managed-by': 'viva'}},"
		"  'spec': {'type': 'ClusterIP', 'selector': {'app': 'service-a', 'viva/slot': 'canary'},"
		"           'ports': [{'name': 'http', 'port': 80, 'targetPort': 'http'}]}},",
		ns, ns);
	for (int i = 0; i < 3; i++)
		sb_addf(&sb,
			" {'apiVersion': 'apps/v1', 'kind': 'Deployment',"
			"  'metadata': {'name': 'service-a-%s', 'namespace': '%s',"
			"               'labels': {'app': 'service-a', 'viva/slot': '%s',"
			"                          'app.kubernetes.io/managed-by': 'viva'},"
			"               'annotations': {'viva/tag': '" TAG "',"
			"                               'viva/deployed-at': '2024-05-01T10:00:00Z',"
			"                               'viva/deployed-by': 'U012AB3CD'}},"
			"  'spec': {'replicas': %d, 'revisionHistoryLimit': 3,"
			"           'selector': {'matchLabels': {'app': 'service-a', 'viva/slot': '%s'}},"
			"           'template': {"
			"             'metadata': {'labels': {'app': 'service-a', 'viva/slot': '%s'}},"
			"             'spec': {"
			"               'nodeSelector': {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64'},"
			"               'containers': [{'name': 'app',"
			"                 'image': '127.0.0.1:5000/team/service-a:" TAG "',"
			"                 'ports': [{'name': 'http', 'containerPort': 8080}],"
			"                 'resources': {'requests': {'cpu': '%s', 'memory': '%s'}}}]}}}},",
			slots[i], ns, slots[i], i == 0 ? live_replicas : i == 1 ? 0 : canary_replicas,
			slots[i], slots[i], cpu, mem);
	for (int i = 0; i < 2; i++) {
		const char *batch = i == 0 ? "settle-daily" : "report-weekly";

		sb_addf(&sb,
			" {'apiVersion': 'batch/v1', 'kind': 'CronJob',"
			"  'metadata': {'name': 'service-a-%s', 'namespace': '%s',"
			"               'labels': {'app': 'service-a', 'viva/batch': '%s',"
			"                          'app.kubernetes.io/managed-by': 'viva'}},"
			"  'spec': {'schedule': '%s', 'concurrencyPolicy': 'Forbid',"
			"           'startingDeadlineSeconds': 600, 'successfulJobsHistoryLimit': 3,"
			"           'failedJobsHistoryLimit': 3, 'suspend': false,"
			"           'jobTemplate': {"
			"             'metadata': {'labels': {'app': 'service-a', 'viva/batch': '%s'}},"
			"             'spec': {'backoffLimit': 0, 'template': {"
			"               'metadata': {'labels': {'app': 'service-a', 'viva/batch': '%s'}},"
			"               'spec': {'restartPolicy': 'Never',"
			"                 'nodeSelector': {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64'},"
			"                 'containers': [{'name': 'app',"
			"                   'image': '127.0.0.1:5000/team/service-a:" TAG "',"
			"                   'command': %s,"
			"                   'resources': {'requests': {'cpu': '%s', 'memory': '%s'}}}]}}}}}}%s",
			batch, ns, batch, i == 0 ? "0 3 * * *" : "30 4 * * MON", batch, batch,
			i == 0 ? "['java', '-jar', 'app.jar', 'settle']"
			       : "['java', '-jar', 'app.jar', 'report', '--weekly']",
			cpu, mem, i == 0 ? "," : "]");
	}
	v = jq(sb.buf);
	sb_release(&sb);
	return v;
}

/* The object named name in list (borrowed), failing when absent. */
static json_t *find(json_t *list, const char *kind, const char *name)
{
	json_t *o;
	size_t i;

	json_array_foreach(list, i, o) {
		if (!strcmp(json_string_value(json_object_get(o, "kind")), kind) &&
		    !strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), name))
			return o;
	}
	fail_msg("no %s %s in the list", kind, name);
	return NULL;
}

static char *dumps(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	assert_non_null(s);
	return s;
}

/* ---- the objects --------------------------------------------------------- */

/* The example spec with two environments and two batches, object for object. */
static void render__two_envs_two_batches__exact_objects(void **state)
{
	struct spec *s = parse_spec(example_yaml);
	struct viva_config cfg;
	struct render_plan plan;
	struct tmpl_set *ts = builtin_set();
	json_t *got, *want;

	(void)state;
	config_with_envs(&cfg, "alpha:dev:alpha", "prod:prod:prod", NULL);
	render_plan_init(&plan, s, &cfg);
	assert_int_equal(plan.ntargets, 2);
	assert_int_equal(plan.nskipped, 0);
	assert_string_equal(plan.targets[0].env, "alpha");
	assert_string_equal(plan.targets[1].namespace_, "prod");
	assert_string_equal(plan.targets[1].cluster, "prod");

	/* alpha: 0.05 CPU, 1024MB; one instance: blue 1, green 0, canary 1 */
	got = render_ok(s, &plan.targets[0], ts, &create_opts);
	want = expected_create("alpha", 1, 1, "50m", "1Gi");
	assert_json(got, want);
	json_decref(want);
	json_decref(got);

	/* prod: 2 CPUs, 4096MB; four instances: blue 4, green 0, canary 1 */
	got = render_ok(s, &plan.targets[1], ts, &create_opts);
	want = expected_create("prod", 4, 1, "2", "4Gi");
	assert_json(got, want);
	json_decref(want);
	json_decref(got);

	render_plan_release(&plan);
	config_release(&cfg);
	tmpl_set_free(ts);
	spec_free(s);
}

/* What field manager viva applies every time: no create-only field at all. */
static void render__apply_form__leaves_out_create_only_fields(void **state)
{
	struct spec *s = parse_spec(example_yaml);
	struct render_target t = { .env = "prod", .namespace_ = "prod", .cluster = "prod" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts = builtin_set();
	json_t *got;

	(void)state;
	o.form = RENDER_APPLY;
	got = render_ok(s, &t, ts, &o);
	assert_int_equal(json_array_size(got), 7);
	/* the live Service: no viva/slot in its selector */
	assert_jq(find(got, "Service", "service-a"),
		  "{'apiVersion': 'v1', 'kind': 'Service',"
		  " 'metadata': {'name': 'service-a', 'namespace': 'prod',"
		  "              'labels': {'app': 'service-a', 'app.kubernetes.io/managed-by': 'viva'}},"
		  " 'spec': {'type': 'ClusterIP', 'selector': {'app': 'service-a'},"
		  "          'ports': [{'name': 'http', 'port': 80, 'targetPort': 'http'}]}}");
	/* the canary Service has nothing create-only */
	assert_jq(json_object_get(find(got, "Service", "service-a-canary"), "spec"),
		  "{'type': 'ClusterIP', 'selector': {'app': 'service-a', 'viva/slot': 'canary'},"
		  " 'ports': [{'name': 'http', 'port': 80, 'targetPort': 'http'}]}");
	/* a colour: no replicas, no image, no viva/ annotations (and no empty map) */
	assert_jq(find(got, "Deployment", "service-a-green"),
		  "{'apiVersion': 'apps/v1', 'kind': 'Deployment',"
		  " 'metadata': {'name': 'service-a-green', 'namespace': 'prod',"
		  "              'labels': {'app': 'service-a', 'viva/slot': 'green',"
		  "                         'app.kubernetes.io/managed-by': 'viva'}},"
		  " 'spec': {'revisionHistoryLimit': 3,"
		  "          'selector': {'matchLabels': {'app': 'service-a', 'viva/slot': 'green'}},"
		  "          'template': {"
		  "            'metadata': {'labels': {'app': 'service-a', 'viva/slot': 'green'}},"
		  "            'spec': {"
		  "              'nodeSelector': {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64'},"
		  "              'containers': [{'name': 'app',"
		  "                'ports': [{'name': 'http', 'containerPort': 8080}],"
		  "                'resources': {'requests': {'cpu': '2', 'memory': '4Gi'}}}]}}}}");
	/* the canary keeps its replicas (the spec's), not its image */
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(find(got, "Deployment", "service-a-canary"), "spec"), "replicas")), 1);
	assert_null(json_object_get(json_object_get(find(got, "Deployment", "service-a-canary"),
						    "metadata"), "annotations"));
	/* a CronJob: schedule and command yes, suspend and image no */
	assert_jq(find(got, "CronJob", "service-a-settle-daily"),
		  "{'apiVersion': 'batch/v1', 'kind': 'CronJob',"
		  " 'metadata': {'name': 'service-a-settle-daily', 'namespace': 'prod',"
		  "              'labels': {'app': 'service-a', 'viva/batch': 'settle-daily',"
		  "                         'app.kubernetes.io/managed-by': 'viva'}},"
		  " 'spec': {'schedule': '0 3 * * *', 'concurrencyPolicy': 'Forbid',"
		  "          'startingDeadlineSeconds': 600, 'successfulJobsHistoryLimit': 3,"
		  "          'failedJobsHistoryLimit': 3,"
		  "          'jobTemplate': {"
		  "            'metadata': {'labels': {'app': 'service-a', 'viva/batch': 'settle-daily'}},"
		  "            'spec': {'backoffLimit': 0, 'template': {"
		  "              'metadata': {'labels': {'app': 'service-a', 'viva/batch': 'settle-daily'}},"
		  "              'spec': {'restartPolicy': 'Never',"
		  "                'nodeSelector': {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64'},"
		  "                'containers': [{'name': 'app',"
		  "                  'command': ['java', '-jar', 'app.jar', 'settle'],"
		  "                  'resources': {'requests': {'cpu': '2', 'memory': '4Gi'}}}]}}}}}}");
	json_decref(got);
	tmpl_set_free(ts);
	spec_free(s);
}

/* The deploy side's part at creation: identity and the create-only fields. */
static void render__seed_form__only_create_only_fields(void **state)
{
	struct spec *s = parse_spec(example_yaml);
	struct render_target t = { .env = "alpha", .namespace_ = "alpha", .cluster = "dev" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts = builtin_set();
	json_t *got;

	(void)state;
	o.form = RENDER_SEED;
	o.live = "green";
	got = render_ok(s, &t, ts, &o);
	assert_jq(got,
		  "[{'apiVersion': 'v1', 'kind': 'Service',"
		  "  'metadata': {'name': 'service-a', 'namespace': 'alpha'},"
		  "  'spec': {'selector': {'viva/slot': 'green'}}},"
		  " {'apiVersion': 'apps/v1', 'kind': 'Deployment',"
		  "  'metadata': {'name': 'service-a-blue', 'namespace': 'alpha',"
		  "               'annotations': {'viva/tag': '" TAG "',"
		  "                               'viva/deployed-at': '2024-05-01T10:00:00Z',"
		  "                               'viva/deployed-by': 'U012AB3CD'}},"
		  "  'spec': {'replicas': 0, 'template': {'spec': {'containers': [{'name': 'app',"
		  "           'image': '127.0.0.1:5000/team/service-a:" TAG "'}]}}}},"
		  " {'apiVersion': 'apps/v1', 'kind': 'Deployment',"
		  "  'metadata': {'name': 'service-a-green', 'namespace': 'alpha',"
		  "               'annotations': {'viva/tag': '" TAG "',"
		  "                               'viva/deployed-at': '2024-05-01T10:00:00Z',"
		  "                               'viva/deployed-by': 'U012AB3CD'}},"
		  "  'spec': {'replicas': 1, 'template': {'spec': {'containers': [{'name': 'app',"
		  "           'image': '127.0.0.1:5000/team/service-a:" TAG "'}]}}}},"
		  " {'apiVersion': 'apps/v1', 'kind': 'Deployment',"
		  "  'metadata': {'name': 'service-a-canary', 'namespace': 'alpha',"
		  "               'annotations': {'viva/tag': '" TAG "',"
		  "                               'viva/deployed-at': '2024-05-01T10:00:00Z',"
		  "                               'viva/deployed-by': 'U012AB3CD'}},"
		  "  'spec': {'template': {'spec': {'containers': [{'name': 'app',"
		  "           'image': '127.0.0.1:5000/team/service-a:" TAG "'}]}}}},"
		  " {'apiVersion': 'batch/v1', 'kind': 'CronJob',"
		  "  'metadata': {'name': 'service-a-settle-daily', 'namespace': 'alpha'},"
		  "  'spec': {'suspend': false, 'jobTemplate': {'spec': {'template': {'spec': {"
		  "           'containers': [{'name': 'app', 'image': '127.0.0.1:5000/team/service-a:" TAG "'}]}}}}}},"
		  " {'apiVersion': 'batch/v1', 'kind': 'CronJob',"
		  "  'metadata': {'name': 'service-a-report-weekly', 'namespace': 'alpha'},"
		  "  'spec': {'suspend': false, 'jobTemplate': {'spec': {'template': {'spec': {"
		  "           'containers': [{'name': 'app', 'image': '127.0.0.1:5000/team/service-a:" TAG "'}]}}}}}}]");
	json_decref(got);
	tmpl_set_free(ts);
	spec_free(s);
}

/* The create form is exactly the apply form plus the seed: nothing lost, nothing twice. */
static void render__create_is_apply_plus_seed(void **state)
{
	struct spec *s = parse_spec(example_yaml);
	struct render_target t = { .env = "prod", .namespace_ = "prod", .cluster = "prod" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts = builtin_set();
	json_t *create, *apply, *seed, *obj;
	size_t i;

	(void)state;
	create = render_ok(s, &t, ts, &o);
	o.form = RENDER_APPLY;
	apply = render_ok(s, &t, ts, &o);
	o.form = RENDER_SEED;
	seed = render_ok(s, &t, ts, &o);
	assert_int_equal(json_array_size(create), json_array_size(apply));
	/* every object but the canary Service has a seed */
	assert_int_equal(json_array_size(seed), json_array_size(create) - 1);
	json_array_foreach(create, i, obj) {
		json_t *a = json_array_get(apply, i), *merged = json_deep_copy(a), *sd;
		const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
		size_t k;

		/* merge the seed into the apply body the way server-side apply would */
		json_array_foreach(seed, k, sd) {
			const char *sn = json_string_value(json_object_get(json_object_get(sd, "metadata"), "name"));
			json_t *stack_a[16], *stack_b[16];
			int n = 0;

			/* Deployment and Service service-a-canary share a name */
			if (strcmp(sn, name) != 0 || !json_equal(json_object_get(sd, "kind"),
								 json_object_get(obj, "kind")))
				continue;
			stack_a[n] = merged;
			stack_b[n] = sd;
			n++;
			while (n > 0) {
				json_t *dst = stack_a[--n], *src = stack_b[n], *v;
				const char *key;

				json_object_foreach(src, key, v) {
					json_t *d = json_object_get(dst, key);

					if (json_is_object(v) && json_is_object(d)) {
						assert_true(n < 16);
						stack_a[n] = d;
						stack_b[n++] = v;
					} else if (json_is_array(v) && json_is_array(d)) {
						/* containers by name: add the image to the same-named one */
						json_t *c, *dc;
						size_t ci, di;

						json_array_foreach(v, ci, c) {
							json_array_foreach(d, di, dc) {
								if (json_equal(json_object_get(dc, "name"),
									       json_object_get(c, "name"))) {
									/* the apply body never has it */
									assert_null(json_object_get(dc, "image"));
									json_object_set(dc, "image",
											json_object_get(c, "image"));
								}
							}
						}
					} else {
						/* a create-only field is never in the apply body */
						if (strcmp(key, "apiVersion") && strcmp(key, "kind") &&
						    strcmp(key, "name") && strcmp(key, "namespace"))
							assert_null(d);
						json_object_set(dst, key, v);
					}
				}
			}
		}
		/* key order differs (merged fields come last): compare as values */
		assert_json(merged, obj);
		json_decref(merged);
	}
	json_decref(create);
	json_decref(apply);
	json_decref(seed);
	tmpl_set_free(ts);
	spec_free(s);
}

static void render__arm64_frontend_grpc__node_selector_and_port(void **state)
{
	struct spec *s = parse_spec("name: web\nowners: [U012AB3CD]\nrepository: { name: web }\n"
				    "image: team/web\n"
				    "pipeline: { type: frontend, interface: grpc, platform: linux/arm64 }\n"
				    "resources: { alpha: { instance: 2, cpu: 500m, memory: 512Mi } }\n");
	struct render_target t = { .env = "alpha", .namespace_ = "front", .cluster = "dev" };
	struct render_opts o = { .form = RENDER_CREATE };   /* no registry, first tag latest */
	struct tmpl_set *ts = builtin_set();
	json_t *got, *d;

	(void)state;
	got = render_ok(s, &t, ts, &o);
	assert_int_equal(json_array_size(got), 5);   /* no batches */
	d = find(got, "Deployment", "web-blue");
	assert_jq(json_object_get(json_object_get(json_object_get(d, "spec"), "template"), "spec"),
		  "{'nodeSelector': {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'arm64'},"
		  " 'containers': [{'name': 'app', 'image': 'team/web:latest',"
		  "   'ports': [{'name': 'grpc', 'containerPort': 8080}],"
		  "   'resources': {'requests': {'cpu': '500m', 'memory': '512Mi'}}}]}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "spec"), "replicas")), 2);
	assert_jq(json_object_get(json_object_get(d, "metadata"), "annotations"),
		  "{'viva/tag': 'latest', 'viva/deployed-at': '1970-01-01T00:00:00Z', 'viva/deployed-by': 'viva'}");
	assert_jq(json_object_get(json_object_get(find(got, "Service", "web"), "spec"), "ports"),
		  "[{'name': 'grpc', 'port': 80, 'targetPort': 'grpc'}]");
	json_decref(got);
	tmpl_set_free(ts);
	spec_free(s);
}

/* A batch pipeline is its CronJobs only: no Deployments, no Services. */
static void render__batch_pipeline__cronjobs_only(void **state)
{
	struct spec *s = parse_spec("name: settler\nowners: [U012AB3CD]\nrepository: { name: settler }\n"
				    "image: team/settler\n"
				    "pipeline: { type: batch, interface: none, platform: linux/arm64 }\n"
				    "resources: { alpha: { instance: 0, cpu: \"1.5\", memory: 1536MB } }\n"
				    "batches:\n"
				    "  - { name: nightly, schedule: \"15 1 * * *\", command: [./run, --all] }\n");
	struct render_target t = { .env = "alpha", .namespace_ = "alpha", .cluster = "dev" };
	struct tmpl_set *ts = builtin_set();
	json_t *got, *c, *pod;

	(void)state;
	got = render_ok(s, &t, ts, &create_opts);
	assert_int_equal(json_array_size(got), 1);
	c = json_array_get(got, 0);
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "CronJob");
	assert_jq(json_object_get(c, "metadata"),
		  "{'name': 'settler-nightly', 'namespace': 'alpha',"
		  " 'labels': {'app': 'settler', 'viva/batch': 'nightly', 'app.kubernetes.io/managed-by': 'viva'}}");
	pod = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
		json_object_get(c, "spec"), "jobTemplate"), "spec"), "template"), "spec"), "containers");
	assert_jq(pod, "[{'name': 'app', 'image': '127.0.0.1:5000/team/settler:" TAG "',"
		       "  'command': ['./run', '--all'],"
		       "  'resources': {'requests': {'cpu': '1500m', 'memory': '1536Mi'}}}]");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "spec"), "schedule")),
			    "15 1 * * *");
	json_decref(got);

	/* without batches there is nothing to render, and that is not an error */
	spec_free(s);
	s = parse_spec("name: settler\nowners: [U012AB3CD]\nrepository: { name: settler }\n"
		       "image: team/settler\npipeline: { type: batch }\n"
		       "resources: { alpha: { instance: 0, cpu: 1, memory: 1Gi } }\n");
	got = render_ok(s, &t, ts, &create_opts);
	assert_int_equal(json_array_size(got), 0);
	json_decref(got);
	tmpl_set_free(ts);
	spec_free(s);
}

/* CPU and memory as Kubernetes writes them back, and replicas from instance. */
static void render__quantities_and_replicas__kubernetes_forms(void **state)
{
	static const struct {
		const char *cpu, *memory;
		int instance;
		const char *want_cpu, *want_memory;
		int blue, canary;
	} cases[] = {
		{ "\"0.05\"", "1024MB", 1, "50m", "1Gi", 1, 1 },
		{ "\"2\"", "4096MB", 4, "2", "4Gi", 4, 1 },
		{ "2500m", "1536MB", 3, "2500m", "1536Mi", 3, 1 },
		{ "\"0.001\"", "1G", 0, "1m", "1G", 0, 0 },
		{ "4", "1.5Gi", 1000, "4", "1536Mi", 1000, 1 },
	};
	struct render_target t = { .env = "alpha", .namespace_ = "alpha" };
	struct tmpl_set *ts = builtin_set();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *yaml = xasprintf("name: q\nowners: [U012AB3CD]\nrepository: { name: q }\nimage: q\n"
				       "resources: { alpha: { instance: %d, cpu: %s, memory: %s } }\n",
				       cases[i].instance, cases[i].cpu, cases[i].memory);
		struct spec *s = parse_spec(yaml);
		json_t *got = render_ok(s, &t, ts, &create_opts), *spec, *req;

		spec = json_object_get(find(got, "Deployment", "q-blue"), "spec");
		req = json_object_get(json_object_get(json_array_get(json_object_get(json_object_get(
			json_object_get(spec, "template"), "spec"), "containers"), 0), "resources"), "requests");
		assert_string_equal(json_string_value(json_object_get(req, "cpu")), cases[i].want_cpu);
		assert_string_equal(json_string_value(json_object_get(req, "memory")), cases[i].want_memory);
		assert_int_equal(json_integer_value(json_object_get(spec, "replicas")), cases[i].blue);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(
			find(got, "Deployment", "q-canary"), "spec"), "replicas")), cases[i].canary);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(
			find(got, "Deployment", "q-green"), "spec"), "replicas")), 0);
		json_decref(got);
		spec_free(s);
		free(yaml);
	}
	tmpl_set_free(ts);
}

/* ---- hostile values ---------------------------------------------------------- */

/*
 * Command words (free text in a spec), the creator's name and an operator's
 * namespace come out as the very same strings, one JSON value each: no
 * quote, brace, newline or placeholder in them adds a key or breaks a string.
 */
static void render__hostile_values__stay_inside_their_strings(void **state)
{
	struct strbuf yaml, longw;
	struct spec *s;
	struct render_target t = { .env = "alpha", .namespace_ = "alpha", .cluster = "c\"},{\"x" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts;
	json_t *got, *back, *cj, *cmd, *d;
	char *text;
	static const char *const words[] = {
		"\"quoted\"", "{\"kind\": \"Secret\"}", "a\nb\r\nc", "{{service}}", "{{{image}}}",
		"}}, \"evil\": {{", "back\\slash", "tab\there", "<&>", "$each", "\xc3\xa9t\xc3\xa9",
	};

	(void)state;
	sb_init(&longw);
	for (int i = 0; i < 20000; i++)
		sb_adds(&longw, "x\"}{");
	sb_init(&yaml);
	sb_adds(&yaml, "name: service-a\nowners: [U012AB3CD]\nrepository: { name: service-a }\n"
		       "image: team/service-a\n"
		       "resources: { alpha: { instance: 1, cpu: 1, memory: 1Gi } }\n"
		       "batches:\n  - name: evil\n    schedule: \"0 3 * * *\"\n    command:\n");
	sb_adds(&yaml, "      - '\"quoted\"'\n"
		       "      - '{\"kind\": \"Secret\"}'\n"
		       "      - \"a\\nb\\r\\nc\"\n"
		       "      - '{{service}}'\n"
		       "      - '{{{image}}}'\n"
		       "      - '}}, \"evil\": {{'\n"
		       "      - 'back\\slash'\n"
		       "      - \"tab\\there\"\n"
		       "      - '<&>'\n"
		       "      - '$each'\n"
		       "      - '\xc3\xa9t\xc3\xa9'\n");
	sb_addf(&yaml, "      - '%s'\n", longw.buf);
	s = parse_spec(yaml.buf);
	assert_int_equal(s->batches[0].ncommand, 12);
	ts = builtin_set();
	o.deployed_by = "U1\",\"viva/tag\":\"pwned\n}";

	got = render_ok(s, &t, ts, &o);
	/* the output is JSON that reads back the same */
	text = dumps(got);
	back = json_loads(text, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, got));
	json_decref(back);
	free(text);

	cj = find(got, "CronJob", "service-a-evil");
	cmd = json_object_get(json_array_get(json_object_get(json_object_get(json_object_get(
		json_object_get(json_object_get(json_object_get(cj, "spec"), "jobTemplate"), "spec"),
		"template"), "spec"), "containers"), 0), "command");
	assert_int_equal(json_array_size(cmd), 12);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		assert_string_equal(json_string_value(json_array_get(cmd, i)), words[i]);
	assert_string_equal(json_string_value(json_array_get(cmd, 11)), longw.buf);
	/* the container has exactly the template's keys: nothing injected */
	assert_int_equal(json_object_size(json_array_get(json_object_get(json_object_get(json_object_get(
		json_object_get(json_object_get(json_object_get(cj, "spec"), "jobTemplate"), "spec"),
		"template"), "spec"), "containers"), 0)), 4);

	d = find(got, "Deployment", "service-a-blue");
	assert_jq(json_object_get(json_object_get(d, "metadata"), "annotations"),
		  "{'viva/tag': '" TAG "', 'viva/deployed-at': '2024-05-01T10:00:00Z',"
		  " 'viva/deployed-by': 'U1\\',\\'viva/tag\\':\\'pwned\\n}'}");
	assert_int_equal(json_object_size(json_object_get(d, "metadata")), 4);
	assert_int_equal(json_object_size(d), 4);
	json_decref(got);

	/* a hostile tag is refused, not inserted */
	o.tag = "1.0\"}";
	render_fails(s, &t, ts, &o, VIVA_EINVAL, "service-a in alpha: \"1.0\"}\" is not an image tag",
		     NULL);
	o.tag = TAG;
	o.live = "red";
	render_fails(s, &t, ts, &o, VIVA_EINVAL, "the live colour is blue or green, not \"red\"", NULL);

	tmpl_set_free(ts);
	spec_free(s);
	sb_release(&yaml);
	sb_release(&longw);
}

/* ---- templates: overrides and broken ones --------------------------------------- */

/* An operator's file replaces the built-in one; the others stay built in. */
static void render__override_file_by_file__used(void **state)
{
	char *dir = test_tmpdir(), *path = xasprintf("%s/k8s/deployment.json", dir), *text;
	struct spec *s = parse_spec(example_yaml);
	struct render_target t = { .env = "alpha", .namespace_ = "alpha", .cluster = "dev" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts = NULL;
	char err[512];
	json_t *got, *pod;

	(void)state;
	/* a team label, and a sidecar with its own fixed image */
	text = builtin_edited("k8s/deployment.json", "\"app.kubernetes.io/managed-by\": \"viva\"",
			      "\"app.kubernetes.io/managed-by\": \"viva\", \"team\": \"{{environment}}-team\"");
	{
		char *t2 = xstrdup(text), *at = strstr(t2, "\"containers\": [");

		assert_non_null(at);
		at += strlen("\"containers\": [");
		free(text);
		text = xasprintf("%.*s{ \"name\": \"proxy\", \"image\": \"envoyproxy/envoy:v1.29\" },%s",
				 (int)(at - t2), t2, at);
		free(t2);
	}
	test_write_file(path, text);
	assert_int_equal(tmpl_set_load(dir, &ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_overrides(ts), 1);

	got = render_ok(s, &t, ts, &o);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
		find(got, "Deployment", "service-a-green"), "metadata"), "labels"), "team")), "alpha-team");
	/* the Services still come from the built-in templates */
	assert_null(json_object_get(json_object_get(json_object_get(
		find(got, "Service", "service-a"), "metadata"), "labels"), "team"));
	json_decref(got);

	/* apply: the service's image goes, the sidecar's fixed image stays the template's */
	o.form = RENDER_APPLY;
	got = render_ok(s, &t, ts, &o);
	pod = json_object_get(json_object_get(json_object_get(find(got, "Deployment", "service-a-blue"),
							      "spec"), "template"), "spec");
	assert_jq(json_object_get(pod, "containers"),
		  "[{'name': 'proxy', 'image': 'envoyproxy/envoy:v1.29'},"
		  " {'name': 'app', 'ports': [{'name': 'http', 'containerPort': 8080}],"
		  "  'resources': {'requests': {'cpu': '50m', 'memory': '1Gi'}}}]");
	json_decref(got);

	/* seed: only the service's container */
	o.form = RENDER_SEED;
	got = render_ok(s, &t, ts, &o);
	pod = json_object_get(json_object_get(json_object_get(find(got, "Deployment", "service-a-blue"),
							      "spec"), "template"), "spec");
	assert_jq(json_object_get(pod, "containers"),
		  "[{'name': 'app', 'image': '127.0.0.1:5000/team/service-a:" TAG "'}]");
	json_decref(got);

	/* a broken override fails the load, naming the file and the place */
	test_write_file(path, "{\n  \"apiVersion\": \"apps/v1\",\n  \"kind\": \"Deployment\",,\n}\n");
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), VIVA_EPARSE);
	assert_non_null(strstr(err, "template k8s/deployment: malformed JSON at line 3"));
	tmpl_set_free(ts);
	ts = NULL;
	assert_int_equal(tmpl_set_load(dir, &ts, err, sizeof(err)), VIVA_EPARSE);
	assert_null(ts);

	free(text);
	free(path);
	spec_free(s);
	test_rm_rf(dir);
	free(dir);
}

/* Templates that parse but render something viva cannot use: a clear error each. */
static void render__broken_templates__clear_errors(void **state)
{
	struct spec *s = parse_spec(example_yaml);
	struct render_target t = { .env = "alpha", .namespace_ = "alpha", .cluster = "dev" };
	struct tmpl_set *ts;
	char *text;

	(void)state;
	ts = set_with("k8s/service", "[\"not\", \"an\", \"object\"]");
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "service-a in alpha: template k8s/service renders an array, not a Kubernetes object",
		     NULL);
	tmpl_set_free(ts);

	text = builtin_edited("k8s/deployment.json", "\"{{replicas}}\"", "\"{{replica}}\"");
	ts = set_with("k8s/deployment", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "service-a in alpha: template k8s/deployment: missing variable 'replica' at /spec/replicas",
		     NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/service.json", "\"kind\": \"Service\"", "\"kind\": \"Servic\"");
	ts = set_with("k8s/service", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/service renders kind \"Servic\", not Service", NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/cronjob.json", "\"apiVersion\": \"batch/v1\",", "");
	ts = set_with("k8s/cronjob", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/cronjob renders an object without apiVersion", NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/deployment.json", "\"name\": \"{{name}}\"", "\"name\": \"{{service}}\"");
	ts = set_with("k8s/deployment", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/deployment renders metadata.name \"service-a\", not \"service-a-blue\" "
		     "(use {{name}})", NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/service-canary.json", "\"namespace\": \"{{namespace}}\"",
			      "\"namespace\": \"kube-system\"");
	ts = set_with("k8s/service-canary", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/service-canary renders metadata.namespace \"kube-system\", not the "
		     "environment's \"alpha\"", NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/cronjob.json", "\"app\": \"{{service}}\",\n      \"viva/batch\"",
			      "\"viva/batch\"");
	ts = set_with("k8s/cronjob", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/cronjob renders service-a-settle-daily without the label app=service-a",
		     NULL);
	tmpl_set_free(ts);
	free(text);

	text = builtin_edited("k8s/deployment.json", "\"name\": \"app\",", "");
	ts = set_with("k8s/deployment", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/deployment has a container without a name at "
		     "/spec/template/spec/containers/0", NULL);
	tmpl_set_free(ts);
	free(text);

	ts = set_with("k8s/deployment", "{\"$if\": \"nothing\", \"kind\": \"Deployment\"}");
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/deployment renders an object without apiVersion", NULL);
	tmpl_set_free(ts);

	/* a template put inside a text where a list is: the engine says so */
	text = builtin_edited("k8s/cronjob.json", "\"{{command}}\"", "\"run {{command}}\"");
	ts = set_with("k8s/cronjob", text);
	render_fails(s, &t, ts, &create_opts, VIVA_EINVAL,
		     "template k8s/cronjob: variable 'command' is an array and cannot be put inside text",
		     NULL);
	tmpl_set_free(ts);
	free(text);

	/* no Kubernetes templates at all (a set without the built-ins) */
	ts = tmpl_set_new();
	render_fails(s, &t, ts, &create_opts, VIVA_ENOENT, "template k8s/service: no such template", NULL);
	tmpl_set_free(ts);
	spec_free(s);
}

/* ---- determinism, environments ------------------------------------------------ */

/* Same input, same bytes; and the apply body does not depend on who or when. */
static void render__same_input__byte_identical(void **state)
{
	struct spec *s1 = parse_spec(example_yaml), *s2 = parse_spec(example_yaml);
	struct render_target t = { .env = "prod", .namespace_ = "prod", .cluster = "prod" };
	struct render_opts o = create_opts;
	struct tmpl_set *ts1 = builtin_set(), *ts2 = builtin_set();
	json_t *a, *b;
	char *ta, *tb;

	(void)state;
	for (int form = RENDER_CREATE; form <= RENDER_SEED; form++) {
		o = create_opts;
		o.form = (enum render_form)form;
		a = render_ok(s1, &t, ts1, &o);
		b = render_ok(s2, &t, ts2, &o);
		ta = dumps(a);
		tb = dumps(b);
		assert_string_equal(ta, tb);
		free(ta);
		free(tb);
		json_decref(a);
		json_decref(b);
	}
	/* the apply form: another creator, time, tag and colour change nothing */
	o = create_opts;
	o.form = RENDER_APPLY;
	a = render_ok(s1, &t, ts1, &o);
	o.tag = "9999-main-0000000";
	o.live = "green";
	o.deployed_by = "U0OTHER";
	o.deployed_at = CREATED_AT + 86400 * 365;
	b = render_ok(s1, &t, ts1, &o);
	ta = dumps(a);
	tb = dumps(b);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	json_decref(a);
	json_decref(b);
	tmpl_set_free(ts1);
	tmpl_set_free(ts2);
	spec_free(s1);
	spec_free(s2);
}

/*
 * Environments in both the spec and viva.yaml render (viva.yaml's order);
 * one only in viva.yaml is not the service's; one only in the spec is
 * skipped with a reason.
 */
static void render__environments__both_render_spec_only_skipped(void **state)
{
	struct spec *s = parse_spec("name: service-a\nowners: [U012AB3CD]\nrepository: { name: x }\n"
				    "image: team/service-a\n"
				    "resources:\n"
				    "  prod: { instance: 2, cpu: 1, memory: 1Gi }\n"
				    "  beta: { instance: 1, cpu: 1, memory: 1Gi }\n"
				    "  alpha: { instance: 1, cpu: 1, memory: 1Gi }\n");
	struct viva_config cfg;
	struct render_plan plan;
	struct render_target t = { .env = "staging", .namespace_ = "staging" };
	struct tmpl_set *ts = builtin_set();

	(void)state;
	config_with_envs(&cfg, "alpha:dev:team-alpha", "staging:dev:staging", "prod:prod:prod", NULL);
	render_plan_init(&plan, s, &cfg);
	assert_int_equal(plan.ntargets, 2);
	assert_string_equal(plan.targets[0].env, "alpha");
	assert_string_equal(plan.targets[0].namespace_, "team-alpha");
	assert_string_equal(plan.targets[0].cluster, "dev");
	assert_string_equal(plan.targets[1].env, "prod");
	assert_int_equal(plan.nskipped, 1);
	assert_string_equal(plan.skipped[0].env, "beta");
	assert_string_equal(plan.skipped[0].reason,
			    "resources.beta: no environment \"beta\" in viva.yaml (environments), so no "
			    "namespace to render into");
	render_plan_release(&plan);
	render_plan_release(&plan);   /* released twice: harmless */

	/* asked for an environment the spec does not have */
	render_fails(s, &t, ts, &create_opts, VIVA_ENOENT,
		     "service-a in staging: the spec has no resources.staging", NULL);
	config_release(&cfg);
	tmpl_set_free(ts);
	spec_free(s);
}

static void render__registry_host__scheme_and_slashes_removed(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "http://127.0.0.1:5000", "127.0.0.1:5000" },
		{ "https://registry.example.com/", "registry.example.com" },
		{ "https://r.example.com/team//", "r.example.com/team" },
		{ "registry.local:5000", "registry.local:5000" },
		{ "http://", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = render_registry_host(cases[i].url);

		if (cases[i].want)
			assert_string_equal(got, cases[i].want);
		else
			assert_null(got);
		free(got);
	}
}

/* The Kubernetes templates are built in, dumped and documented. */
static void render__templates__built_in_and_documented(void **state)
{
	char *dir = test_tmpdir();
	size_t written = 0;
	char err[512];

	(void)state;
	for (size_t i = 0; render_templates[i]; i++) {
		char *file = xasprintf("%s.json", render_templates[i]);
		const struct builtin_file *b = builtin_find(file);
		json_t *t;

		assert_non_null(b);
		t = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(t);
		/* each says what it is and which variables exist */
		assert_true(json_is_array(json_object_get(t, "$comment")));
		json_decref(t);
		free(file);
	}
	assert_non_null(builtin_find("k8s/README.md"));
	assert_int_equal(builtin_dump(dir, 0, &written, NULL, err, sizeof(err)), VIVA_OK);
	assert_int_equal(written, builtin_files_len);
	{
		char *p = xasprintf("%s/k8s/cronjob.json", dir);
		FILE *f = fopen(p, "r");

		assert_non_null(f);
		fclose(f);
		free(p);
	}
	test_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render__two_envs_two_batches__exact_objects),
		cmocka_unit_test(render__apply_form__leaves_out_create_only_fields),
		cmocka_unit_test(render__seed_form__only_create_only_fields),
		cmocka_unit_test(render__create_is_apply_plus_seed),
		cmocka_unit_test(render__arm64_frontend_grpc__node_selector_and_port),
		cmocka_unit_test(render__batch_pipeline__cronjobs_only),
		cmocka_unit_test(render__quantities_and_replicas__kubernetes_forms),
		cmocka_unit_test(render__hostile_values__stay_inside_their_strings),
		cmocka_unit_test(render__override_file_by_file__used),
		cmocka_unit_test(render__broken_templates__clear_errors),
		cmocka_unit_test(render__same_input__byte_identical),
		cmocka_unit_test(render__environments__both_render_spec_only_skipped),
		cmocka_unit_test(render__registry_host__scheme_and_slashes_removed),
		cmocka_unit_test(render__templates__built_in_and_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
