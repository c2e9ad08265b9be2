/*
 * Pipelines on the clusters, against the fake Kubernetes API server
 * (tests/kube) over TLS with its own CA and a bearer token, through the
 * real client: apply (created, then unchanged with no write), a template
 * change re-rendered without moving images or the live colour, 409 and an
 * API down mid-apply, the guarded delete, batch promotion, viva doctor, and
 * the client-certificate and exec-plugin kubeconfigs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bot/clients/kube.h"
#include "bot/clients/kubeconfig.h"
#include "bot/dispatch.h"
#include "bot/k8s/apply.h"
#include "bot/k8s/doctor.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/yamltree.h"
#include "bot/model/catalog.h"
#include "bot/model/builtin.h"
#include "bot/model/tmpl.h"
#include "bot/ops.h"
#include "store/audit.h"
#include "store/operations.h"
#include "store/services.h"
#include "tests/fake_registry.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#define TOKEN "t0ken-for-the-fake"

struct fx {
	struct test_env t;
	struct fake_kube *kube;
	struct fake_registry *reg;
	char *dir;
};

static void add_cluster(struct viva_config *cfg, const char *name, const char *kubeconfig)
{
	cfg->clusters = xrealloc(cfg->clusters, (cfg->n_clusters + 1) * sizeof(*cfg->clusters));
	cfg->clusters[cfg->n_clusters++] = (struct config_cluster){ .name = xstrdup(name),
		.kubeconfig = xstrdup(kubeconfig), .context = NULL };
}

static void add_env(struct viva_config *cfg, const char *name, const char *cluster, const char *ns)
{
	cfg->environments = xrealloc(cfg->environments, (cfg->n_environments + 1) * sizeof(*cfg->environments));
	cfg->environments[cfg->n_environments++] = (struct config_env){ .name = xstrdup(name),
		.cluster = xstrdup(cluster), .namespace_ = xstrdup(ns) };
}

static void write_spec(struct fx *f, const char *name, const char *extra)
{
	char *path = xasprintf("%s/%s.yaml", f->dir, name);
	char *text = xasprintf("name: %s\nowners: [U0OWNER]\ndeployManagers: [U0DM]\nrepository: { name: %s }\n"
			       "image: team/%s\n%s", name, name, name, extra);

	test_write_file(path, text);
	free(text);
	free(path);
}

static void catalog_reload(struct fx *f)
{
	struct catalog_report rep;
	char err[256];

	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "test", &rep, err, sizeof(err)), VIVA_OK);
	catalog_report_release(&rep);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN };
	char err[512];

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	assert_non_null(f->kube);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"alpha\"}}"), 0);
	assert_int_equal(fake_kube_seed(f->kube, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}"), 0);
	free(f->t.cfg.pipelines_dir);
	f->t.cfg.pipelines_dir = xstrdup(f->dir);
	free(f->t.cfg.registry_url);
	f->t.cfg.registry_url = xstrdup("http://127.0.0.1:5000");
	add_cluster(&f->t.cfg, "dev", fake_kube_kubeconfig(f->kube));
	add_env(&f->t.cfg, "alpha", "dev", "alpha");
	add_env(&f->t.cfg, "prod", "dev", "prod");
	assert_int_equal(kube_clients_new(&f->t.cfg, NULL, NULL, &f->t.env.kube, err, sizeof(err)), VIVA_OK);
	f->reg = fake_registry_new();
	f->t.env.registry = &f->reg->base;
	write_spec(f, "svc-a", "resources:\n  alpha: { instance: 2, cpu: \"0.5\", memory: 512MB }\n"
		   "  prod: { instance: 4, cpu: \"2\", memory: 4096MB }\n");
	catalog_reload(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ops_free(f->t.env.ops);
	f->t.env.ops = NULL;
	kube_clients_free(f->t.env.kube);
	f->t.env.kube = NULL;
	fake_registry_free(f->reg);
	test_env_release(&f->t);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const char *jstr(json_t *o, const char *path)
{
	char *p = xstrdup(path), *save = NULL, *k;
	json_t *cur = o;

	for (k = strtok_r(p, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k)) : json_object_get(cur, k);
	free(p);
	return json_string_value(cur);
}

static char *obj_str(struct fx *f, const char *res, const char *ns, const char *name, const char *path)
{
	json_t *o = fake_kube_get(f->kube, res, ns, name);
	char *v = o && jstr(o, path) ? xstrdup(jstr(o, path)) : NULL;

	json_decref(o);
	return v;
}

static void assert_obj_str(struct fx *f, const char *res, const char *ns, const char *name, const char *path,
			   const char *want)
{
	char *v = obj_str(f, res, ns, name, path);

	if (!v || strcmp(v, want) != 0)
		fail_msg("%s %s/%s %s: got %s, want %s", res, ns, name, path, v ? v : "(none)", want);
	free(v);
}

/* The first time creates everything; the second sends no write. */
static void apply__new_service__created_then_unchanged_without_writes(void **state)
{
	struct fx *f = *state;
	char *out = test_command(&f->t, "U0ANYONE", "pipeline apply --all");

	assert_non_null(strstr(out, "2 created, 0 updated, 0 unchanged, 0 failed"));
	free(out);
	assert_obj_str(f, "deployments", "alpha", "svc-a-blue", "spec.template.spec.containers.0.image",
		       "127.0.0.1:5000/team/svc-a:latest");
	assert_obj_str(f, "deployments", "prod", "svc-a-green", "metadata.labels.viva/slot", "green");
	assert_obj_str(f, "services", "prod", "svc-a", "spec.selector.viva/slot", "blue");
	assert_obj_str(f, "services", "alpha", "svc-a-canary", "metadata.labels.app", "svc-a");
	{
		json_t *d = fake_kube_get(f->kube, "deployments", "prod", "svc-a-blue");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "spec"), "replicas")), 4);
		json_decref(d);
	}
	fake_kube_reset_counts(f->kube);
	out = test_command(&f->t, "U0ANYONE", "pipeline apply --all");
	assert_non_null(strstr(out, "0 created, 0 updated, 2 unchanged, 0 failed"));
	free(out);
	assert_int_equal(fake_kube_count_writes(f->kube), 0);
	assert_true(fake_kube_count(f->kube, "list", NULL) > 0);
}

/*
 * A template change re-renders every service; what deploys own (the image,
 * the live colour, the colours' replicas) stays as they left it.
 */
static void apply__template_change__re_rendered_images_and_colour_kept(void **state)
{
	struct fx *f = *state;
	struct tmpl_set *ts = NULL;
	char err[512], *tdir = xasprintf("%s/tpl", f->dir), *path, *out, *v;
	json_t *patch;
	struct kube *k = kube_clients_get(f->t.env.kube, "dev");
	struct kube_ref svc = { .res = &kube_services, .ns = "alpha", .name = "svc-a" };
	struct kube_ref dep = { .res = &kube_deployments, .ns = "alpha", .name = "svc-a-blue" };
	struct kube_write_opts wo = { .field_manager = "viva-deploy" };

	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	/* a deploy moved things: the image and the live colour */
	patch = json_pack("{s:{s:{s:s}}}", "spec", "selector", "viva/slot", "green");
	assert_int_equal(kube_patch(k, &svc, KUBE_PATCH_MERGE, patch, &wo, NULL), VIVA_OK);
	json_decref(patch);
	patch = json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers", "name", "app",
			  "image", "127.0.0.1:5000/team/svc-a:2182-develop-b05419e");
	assert_int_equal(kube_patch(k, &dep, KUBE_PATCH_STRATEGIC, patch, &wo, NULL), VIVA_OK);
	json_decref(patch);
	/* an operator changes the deployment template: a new label */
	path = xasprintf("%s/k8s/deployment.json", tdir);
	{
		const struct builtin_file *b = builtin_find("k8s/deployment.json");
		char *text, *at;

		assert_non_null(b);
		text = xstrndup((const char *)b->data, b->len);
		at = strstr(text, "\"app\": \"{{service}}\"");
		assert_non_null(at);
		{
			char *nt = xasprintf("%.*s\"team\": \"payments\", %s", (int)(at - text), text, at);
			test_write_file(path, nt);
			free(nt);
		}
		free(text);
	}
	assert_int_equal(tmpl_set_load(tdir, &ts, err, sizeof(err)), VIVA_OK);
	tmpl_set_free(f->t.env.tmpl);
	f->t.env.tmpl = ts;
	fake_kube_reset_counts(f->kube);
	out = test_command(&f->t, "U0ANYONE", "pipeline apply --all");
	assert_non_null(strstr(out, "0 created, 2 updated"));
	free(out);
	assert_obj_str(f, "deployments", "alpha", "svc-a-blue", "metadata.labels.team", "payments");
	assert_obj_str(f, "deployments", "alpha", "svc-a-blue", "spec.template.spec.containers.0.image",
		       "127.0.0.1:5000/team/svc-a:2182-develop-b05419e");
	assert_obj_str(f, "services", "alpha", "svc-a", "spec.selector.viva/slot", "green");
	v = obj_str(f, "deployments", "alpha", "svc-a-green", "metadata.labels.team");
	assert_non_null(v);
	free(v);
	free(path);
	free(tdir);
}

/* A 409 on apply is retried; the report says created. */
static void apply__conflict__retried(void **state)
{
	struct fx *f = *state;
	char *out;

	fake_kube_fault(f->kube, "PATCH", "/apis/apps/v1/namespaces/alpha/deployments/*", FK_FAULT_409, 1, 0);
	out = test_command(&f->t, "U0ANYONE", "pipeline apply --all");
	assert_non_null(strstr(out, "2 created, 0 updated, 0 unchanged, 0 failed"));
	free(out);
}

/*
 * The API fails in prod in the middle: the report says alpha was created
 * and prod failed with the API's reason; nothing is lost, and the next
 * apply finishes prod without touching alpha.
 */
static void apply__api_down_mid_apply__partial_report_then_finished(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	char *out;

	fake_kube_fault(f->kube, NULL, "/apis/apps/v1/namespaces/prod/*", FK_FAULT_500, 1000, 0);
	test_ctx(&f->t, &ctx, "U0ANYONE");
	assert_int_equal(dispatch_command(&ctx, "pipeline apply --all"), VIVA_EREMOTE);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "1 created, 0 updated, 0 unchanged, 1 failed"));
	assert_non_null(strstr(out, "svc-a in prod: failed: cluster dev: Internal error occurred"));
	free(out);
	fake_kube_clear_faults(f->kube);
	fake_kube_reset_counts(f->kube);
	out = test_command(&f->t, "U0ANYONE", "pipeline apply --all");
	assert_non_null(strstr(out, "1 created, 0 updated, 1 unchanged, 0 failed"));
	free(out);
}

/* What a deploy does to one colour (bot/k8s's business, not apply's): its image, tag and replicas. */
static void fake_deploy(struct fx *f, const char *ns, const char *slot, const char *tag, int replicas)
{
	struct kube *k = kube_clients_get(f->t.env.kube, "dev");
	char *name = xasprintf("svc-a-%s", slot), *image = xasprintf("127.0.0.1:5000/team/svc-a:%s", tag);
	struct kube_ref dep = { .res = &kube_deployments, .ns = ns, .name = name };
	struct kube_write_opts wo = { .field_manager = "viva-deploy" };
	json_t *patch = json_pack("{s:{s:{s:s}}, s:{s:i, s:{s:{s:[{s:s, s:s}]}}}}", "metadata", "annotations",
				  "viva/tag", tag, "spec", "replicas", replicas, "template", "spec", "containers",
				  "name", "app", "image", image);

	assert_int_equal(kube_patch(k, &dep, KUBE_PATCH_STRATEGIC, patch, &wo, NULL), VIVA_OK);
	json_decref(patch);
	free(image);
	free(name);
}

/* The Service svc-a of ns selects slot (a deploy's switch). */
static void fake_switch(struct fx *f, const char *ns, const char *slot)
{
	struct kube *k = kube_clients_get(f->t.env.kube, "dev");
	struct kube_ref svc = { .res = &kube_services, .ns = ns, .name = "svc-a" };
	struct kube_write_opts wo = { .field_manager = "viva-deploy" };
	json_t *patch = json_pack("{s:{s:{s:s}}}", "spec", "selector", "viva/slot", slot);

	assert_int_equal(kube_patch(k, &svc, KUBE_PATCH_MERGE, patch, &wo, NULL), VIVA_OK);
	json_decref(patch);
}

static void assert_contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("wanted \"%s\" in:\n%s", want, text);
}

/*
 * pipeline show: per environment, the colour the Service selects, and each
 * colour's ready/desired replicas and tag, as the cluster has them after
 * deploys moved them.
 */
static void show__live_state__colour_replicas_and_tags_per_env(void **state)
{
	struct fx *f = *state;
	char *out;

	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	/* alpha: green deployed and live; a canary that never becomes ready */
	fake_deploy(f, "alpha", "green", "2200-develop-c0ffee1", 3);
	fake_switch(f, "alpha", "green");
	fake_kube_never_ready(f->kube, "127.0.0.1:5000/team/svc-a:2201-develop-bad0001", true);
	fake_deploy(f, "alpha", "canary", "2201-develop-bad0001", 1);
	fake_kube_settle(f->kube, 50);
	out = test_command(&f->t, "U0ANYONE", "pipeline show svc-a");
	assert_contains(out, "*alpha* (namespace `alpha`)\nlive colour: green\n"
			"blue: 2/2 ready, tag latest\n"
			"canary: 0/1 ready, tag 2201-develop-bad0001\n"
			"green (live): 3/3 ready, tag 2200-develop-c0ffee1\n");
	/* prod: as created, blue live with every instance */
	assert_contains(out, "*prod* (namespace `prod`)\nlive colour: blue\n"
			"blue (live): 4/4 ready, tag latest\n"
			"canary: 1/1 ready, tag latest\n"
			"green: 0/0 ready, tag latest\n");
	/* and the spec, as without clusters */
	assert_contains(out, "*Image*\n`team/svc-a`");
	assert_null(strstr(out, "unavailable"));
	free(out);
}

/*
 * A cluster that does not answer: the spec is shown all the same, each
 * environment says why its live state is missing, and a cluster that did
 * not answer for one environment is not asked again for the next.
 */
static void show__cluster_unreachable__spec_and_live_state_unavailable(void **state)
{
	struct fx *f = *state;
	json_t *log, *r;
	size_t i;
	char *out;

	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	fake_kube_reset_counts(f->kube);
	fake_kube_fault(f->kube, NULL, "*", FK_FAULT_CLOSE, 1000, 0);
	out = test_command(&f->t, "U0ANYONE", "pipeline show svc-a");
	assert_contains(out, "*Image*\n`team/svc-a`");
	assert_contains(out, "*alpha* (namespace `alpha`)\nlive state unavailable: ");
	assert_contains(out, "*prod* (namespace `prod`)\nlive state unavailable: ");
	free(out);
	log = fake_kube_requests(f->kube);
	assert_true(json_array_size(log) > 0);
	json_array_foreach(log, i, r)
		assert_string_equal(json_string_value(json_object_get(r, "namespace")), "alpha");
	json_decref(log);
	/* gone altogether: connection refused, named */
	fake_kube_stop(f->kube);
	f->kube = NULL;
	out = test_command(&f->t, "U0ANYONE", "pipeline show svc-a");
	assert_contains(out, "*Image*\n`team/svc-a`");
	assert_contains(out, "*alpha* (namespace `alpha`)\nlive state unavailable: the Kubernetes API of cluster dev");
	assert_contains(out, "*prod* (namespace `prod`)\nlive state unavailable: the Kubernetes API of cluster dev");
	assert_contains(out, "is not reachable");
	free(out);
}

/* The pipeline form (handlers/pipeline.c), submitted with a name and two environments. */
static json_t *create_form(const char *name)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s, s:{s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}},"
			 "s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}},"
			 "s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}}}}",
			 "type", "view_submission", "user", "id", "U0CREATOR",
			 "view", "id", "V1", "callback_id", "pipeline_create", "private_metadata", "{\"channel\":\"C0TEST\"}",
			 "state", "values",
			 "name", "value", "type", "plain_text_input", "value", name,
			 "repo", "value", "type", "plain_text_input", "value", name,
			 "res_alpha_instance", "value", "type", "plain_text_input", "value", "1",
			 "res_alpha_cpu", "value", "type", "plain_text_input", "value", "0.25",
			 "res_alpha_memory", "value", "type", "plain_text_input", "value", "256Mi",
			 "res_prod_instance", "value", "type", "plain_text_input", "value", "3",
			 "res_prod_cpu", "value", "type", "plain_text_input", "value", "1",
			 "res_prod_memory", "value", "type", "plain_text_input", "value", "1Gi");
}

/* The newest operation on target, once it has ended: its state, and its outcome in *outcome. */
static enum store_op_state op_wait(struct fx *f, const char *target, const char *kind, char **outcome)
{
	enum store_op_state st = OP_RUNNING;

	*outcome = NULL;
	for (int i = 0; i < 1000 && st == OP_RUNNING; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		struct store_op *v = NULL;
		size_t n = 0;

		assert_int_equal(store_op_list(f->t.env.store, target, 1, &v, &n), VIVA_OK);
		assert_int_equal(n, 1);
		assert_string_equal(v[0].kind, kind);
		st = v[0].state;
		if (st != OP_RUNNING)
			*outcome = v[0].outcome ? xstrdup(v[0].outcome) : NULL;
		store_ops_free(v, n);
		if (st == OP_RUNNING)
			nanosleep(&ts, NULL);
	}
	return st;
}

/*
 * pipeline create: the submitted form writes the spec and, on the operation
 * pool (the form's ack does not wait for the clusters), applies it in every
 * environment; the operation's report says created.
 */
static void create__form_submitted__applied_in_every_environment(void **state)
{
	struct fx *f = *state;
	static const char *const objs[][2] = {
		{ "deployments", "svc-new-blue" }, { "deployments", "svc-new-green" },
		{ "deployments", "svc-new-canary" }, { "services", "svc-new" }, { "services", "svc-new-canary" },
	};
	struct viva_ctx ctx;
	json_t *sub = create_form("svc-new"), *o;
	char *out, *outcome = NULL;

	assert_int_equal(ops_new(&f->t.env, 1, &f->t.env.ops), VIVA_OK);
	test_ctx(&f->t, &ctx, "U0CREATOR");
	assert_int_equal(dispatch_interaction(&ctx, sub), VIVA_OK);
	json_decref(sub);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_contains(out, "Pipeline *svc-new* created by <@U0CREATOR>");
	assert_contains(out, "being applied to the clusters");
	free(out);
	assert_int_equal(op_wait(f, "svc-new", "pipeline-apply", &outcome), OP_DONE);
	assert_non_null(outcome);
	assert_contains(outcome, "svc-new in alpha: created (5 created, 0 updated, 0 unchanged)");
	assert_contains(outcome, "svc-new in prod: created (5 created, 0 updated, 0 unchanged)");
	free(outcome);
	for (size_t e = 0; e < 2; e++)
		for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
			const char *ns = e ? "prod" : "alpha";

			o = fake_kube_get(f->kube, objs[i][0], ns, objs[i][1]);
			if (!o)
				fail_msg("%s %s/%s not created", objs[i][0], ns, objs[i][1]);
			json_decref(o);
		}
	assert_obj_str(f, "deployments", "prod", "svc-new-blue", "metadata.annotations.viva/deployed-by", "U0CREATOR");
	{
		json_t *d = fake_kube_get(f->kube, "deployments", "prod", "svc-new-blue");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "spec"), "replicas")), 3);
		json_decref(d);
	}
}

static json_t *click(struct fx *f, const char *action_id, const char *value, const char *ts)
{
	(void)f;
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:[{s:s, s:s, s:s}]}", "type", "block_actions",
			 "user", "id", "U0OWNER", "container", "type", "message", "message_ts", ts, "channel_id",
			 "C0TEST", "trigger_id", "1.2.3", "actions", "action_id", action_id, "value", value, "type",
			 "button");
}

/* Deletion: refused while CronJobs are connected; once they are gone, one click deletes, once. */
static void delete__refused_with_cronjobs_then_deleted_once(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	struct store_service sv;
	json_t *payload;
	char *out;

	write_spec(f, "batchy", "pipeline: { type: service }\nresources:\n  alpha: { instance: 1, cpu: \"0.1\", memory: 128MB }\n"
		   "batches:\n  - { name: settle, schedule: \"0 3 * * *\", command: [run, settle] }\n");
	catalog_reload(f);
	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	assert_obj_str(f, "cronjobs", "alpha", "batchy-settle", "metadata.labels.app", "batchy");
	out = test_command(&f->t, "U0OWNER", "pipeline delete batchy");
	assert_non_null(strstr(out, "cannot be deleted while batches are connected"));
	assert_non_null(strstr(out, "alpha/batchy-settle"));
	free(out);
	assert_int_equal(fake_kube_remove(f->kube, "cronjobs", "alpha", "batchy-settle"), 0);
	out = test_command(&f->t, "U0OWNER", "pipeline delete batchy");
	assert_non_null(strstr(out, "asked to delete pipeline *batchy*"));
	free(out);
	payload = click(f, "pipeline_delete", "{\"svc\":\"batchy\"}", "1700000000.000100");
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	json_t *gone = fake_kube_get(f->kube, "deployments", "alpha", "batchy-blue");
	assert_null(gone);
	assert_null(fake_kube_get(f->kube, "services", "alpha", "batchy"));
	assert_int_equal(store_service_get(f->t.env.store, "batchy", &sv), VIVA_OK);
	assert_true(sv.deleted_at > 0);
	store_service_release(&sv);
	/* the other service is untouched */
	assert_obj_str(f, "deployments", "alpha", "svc-a-blue", "metadata.labels.app", "svc-a");
	/* a second click deletes nothing, and is told who deleted it, when, and how it went
	 * (not "no pipeline named batchy": the button's state answers before the catalog) */
	fake_kube_reset_counts(f->kube);
	f->t.now += 3600;
	test_ctx(&f->t, &ctx, "U0SOMEONE");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	assert_int_equal(fake_kube_count_writes(f->kube), 0);
	assert_int_equal(fake_kube_count(f->kube, NULL, NULL), 0);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_contains(out, "Already done (");
	assert_contains(out, "by <@U0OWNER> <!date^1795554900^");
	assert_contains(out, "pipeline-delete #1 done: pipeline batchy deleted (alpha: Service/batchy, Service/batchy-canary, "
			"Deployment/batchy-blue, Deployment/batchy-green, Deployment/batchy-canary)");
	assert_null(strstr(out, "no pipeline"));
	free(out);
	json_decref(payload);
}

/* A service in prod: the button opens a form that asks for the name. */
static void delete__prod__name_typed_in_a_form(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload, *last, *sub;
	char *out;

	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	payload = click(f, "pipeline_delete", "{\"svc\":\"svc-a\"}", "1700000000.000200");
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	last = json_array_get(f->t.sent, json_array_size(f->t.sent) - 1);
	assert_non_null(json_object_get(last, "view"));
	assert_string_equal(jstr(last, "view.callback_id"), "pipeline_delete_confirm");
	{
		json_t *d = fake_kube_get(f->kube, "deployments", "prod", "svc-a-blue");
		assert_non_null(d);
		json_decref(d);
	}
	/* a wrong name: the form says so, nothing deleted */
	sub = json_pack("{s:s, s:{s:s}, s:{s:s, s:O, s:{s:{s:{s:{s:s}}}}}}", "type", "view_submission", "user", "id",
			"U0OWNER", "view", "callback_id", "pipeline_delete_confirm", "private_metadata",
			json_object_get(json_object_get(last, "view"), "private_metadata"), "state", "values",
			"confirm_name", "value", "value", "svc-b");
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, sub), VIVA_EINVAL);
	json_decref(sub);
	{
		json_t *d = fake_kube_get(f->kube, "deployments", "prod", "svc-a-blue");
		assert_non_null(d);
		json_decref(d);
	}
	/* the right name: deleted everywhere */
	sub = json_pack("{s:s, s:{s:s}, s:{s:s, s:O, s:{s:{s:{s:{s:s}}}}}}", "type", "view_submission", "user", "id",
			"U0OWNER", "view", "callback_id", "pipeline_delete_confirm", "private_metadata",
			json_object_get(json_object_get(last, "view"), "private_metadata"), "state", "values",
			"confirm_name", "value", "value", "svc-a");
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, sub), VIVA_OK);
	assert_null(fake_kube_get(f->kube, "deployments", "prod", "svc-a-blue"));
	assert_null(fake_kube_get(f->kube, "deployments", "alpha", "svc-a-green"));
	/* the same form submitted again (a second modal from the same button): told in the form */
	fake_kube_reset_counts(f->kube);
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, sub), VIVA_EDUP);
	out = json_dumps(json_array_get(f->t.sent, json_array_size(f->t.sent) - 1), 0);
	assert_contains(out, "already asked for from the same message");
	free(out);
	assert_int_equal(fake_kube_count_writes(f->kube), 0);
	json_decref(sub);
	/* the button the form answered for is settled: a second click is told it was done */
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_contains(out, "Already done (");
	assert_contains(out, "by <@U0OWNER> <!date^");
	assert_contains(out, "done: pipeline svc-a deleted");
	free(out);
	assert_int_equal(fake_kube_count_writes(f->kube), 0);
	json_decref(payload);
}

/* Promoting a batch service's tag moves its CronJobs' image too, in every environment. */
static void promote__batch_service__cronjobs_patched(void **state)
{
	struct fx *f = *state;
	char *out;

	write_spec(f, "nightly", "pipeline: { type: batch }\nresources:\n  alpha: { instance: 1, cpu: \"0.1\", memory: 128MB }\n"
		   "  prod: { instance: 1, cpu: \"0.1\", memory: 128MB }\n"
		   "batches:\n  - { name: settle, schedule: \"0 3 * * *\", command: [run, settle] }\n"
		   "  - { name: report, schedule: \"0 4 * * *\", command: [run, report] }\n");
	catalog_reload(f);
	free(test_command(&f->t, "U0ANYONE", "pipeline apply --all"));
	fake_registry_push(f->reg, "team/nightly", "2190-develop-abcdef1", 1700000000);
	out = test_command(&f->t, "U0OWNER", "promote nightly 2190-develop-abcdef1");
	assert_non_null(strstr(out, "promoted"));
	free(out);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "alpha/nightly-settle"));
	assert_non_null(strstr(out, "prod/nightly-report"));
	free(out);
	assert_obj_str(f, "cronjobs", "alpha", "nightly-settle", "spec.jobTemplate.spec.template.spec.containers.0.image",
		       "127.0.0.1:5000/team/nightly:2190-develop-abcdef1");
	assert_obj_str(f, "cronjobs", "prod", "nightly-report", "spec.jobTemplate.spec.template.spec.containers.0.image",
		       "127.0.0.1:5000/team/nightly:2190-develop-abcdef1");
	/* svc-a's objects are not batch jobs: untouched */
	assert_obj_str(f, "deployments", "alpha", "svc-a-blue", "spec.template.spec.containers.0.image",
		       "127.0.0.1:5000/team/svc-a:latest");
}

/* viva doctor: the version, and what is missing as RBAC rules. */
static void doctor__missing_verb__printed_as_a_rule(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_int_equal(k8s_doctor(&f->t.cfg, f->t.env.kube, out), 0);
	fclose(out);
	assert_non_null(strstr(buf, "cluster dev: Kubernetes v1."));
	assert_non_null(strstr(buf, "namespace prod (environment prod): every permission viva needs is there"));
	free(buf);
	buf = NULL;
	fake_kube_deny(f->kube, "delete", "deployments");
	out = open_memstream(&buf, &len);
	assert_int_equal(k8s_doctor(&f->t.cfg, f->t.env.kube, out), 1);
	fclose(out);
	assert_non_null(strstr(buf, "missing in namespace alpha"));
	assert_non_null(strstr(buf, "resources: [\"deployments\"]\n    verbs: [\"delete\"]"));
	assert_non_null(strstr(buf, "  cluster-wide: every permission viva needs is there\n"));
	assert_non_null(strstr(buf, "  namespace kube-system: every permission viva needs is there\n"));
	free(buf);
	buf = NULL;
	/* node permissions: cluster-wide, and a Role in a fixed namespace, with the one object named */
	fake_kube_deny(f->kube, "create", "pods/eviction");
	fake_kube_deny(f->kube, "get", "configmaps");
	out = open_memstream(&buf, &len);
	assert_int_equal(k8s_doctor(&f->t.cfg, f->t.env.kube, out), 1);
	fclose(out);
	assert_non_null(strstr(buf, "  FAILED: missing cluster-wide: add to a ClusterRole bound to viva's user:\n  rules:\n"
				    "  - apiGroups: [\"\"]\n    resources: [\"pods/eviction\"]\n    verbs: [\"create\"]"));
	assert_non_null(strstr(buf, "  FAILED: missing in namespace kube-public: add to a Role there bound to viva's user:\n"
				    "  rules:\n  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n"
				    "    resourceNames: [\"cluster-info\"]\n    verbs: [\"get\"]"));
	assert_non_null(strstr(buf, "  namespace kube-system: every permission viva needs is there\n"));
	free(buf);
}

static const char *mfield(json_t *doc, const char *a, const char *b)
{
	const char *v = json_string_value(b ? json_object_get(json_object_get(doc, a), b) : json_object_get(doc, a));

	return v ? v : "";
}

/*
 * The rules deploy/kubernetes/viva.yaml grants viva, as "SCOPE group
 * resource verb[ name]" keys. SCOPE: "cluster" for a ClusterRole bound by a
 * ClusterRoleBinding, "ns:NS" for a Role bound in its namespace NS, "env"
 * for a ClusterRole bound by a RoleBinding (the environment role, bound in
 * each environment's namespace). A role that no binding names, a binding
 * that names no role of the file, and a binding to anyone but viva's
 * ServiceAccount fail the test.
 */
static void manifest_rules(json_t *set)
{
	char *text = NULL, *doc, *save = NULL;
	size_t len = 0, i;
	json_t *docs = json_array(), *roles = json_object(), *bound = json_object(), *d, *v;
	const char *key;

	assert_int_equal(read_file("deploy/kubernetes/viva.yaml", &text, &len), 0);
	/* documents one at a time (yamltree reads one): each "---" line becomes a separator */
	for (char *p = strstr(text, "\n---\n"); p; p = strstr(p + 1, "\n---\n"))
		memcpy(p + 1, "\x01\x01\x01", 3);
	for (doc = strtok_r(text, "\x01", &save); doc; doc = strtok_r(NULL, "\x01", &save)) {
		struct yamltree *t = NULL;
		struct yamltree_error err;

		if (yamltree_parse(doc, strlen(doc), NULL, &t, &err) != VIVA_OK)
			fail_msg("deploy/kubernetes/viva.yaml: line %d: %s", err.line, err.msg);
		json_array_append_new(docs, json_deep_copy(yamltree_root(t)));
		yamltree_free(t);
	}
	free(text);
	json_array_foreach(docs, i, d) {
		const char *kind = mfield(d, "kind", NULL);
		char *k;

		if (strcmp(kind, "Role") == 0)
			k = xasprintf("Role/%s/%s", mfield(d, "metadata", "namespace"), mfield(d, "metadata", "name"));
		else if (strcmp(kind, "ClusterRole") == 0)
			k = xasprintf("ClusterRole/%s", mfield(d, "metadata", "name"));
		else
			continue;
		json_object_set(roles, k, json_object_get(d, "rules"));
		free(k);
	}
	json_array_foreach(docs, i, d) {
		const char *kind = mfield(d, "kind", NULL), *ref_kind = mfield(d, "roleRef", "kind");
		json_t *rules, *rule, *subj;
		char *k, *scope;
		size_t j;

		if (strcmp(kind, "RoleBinding") != 0 && strcmp(kind, "ClusterRoleBinding") != 0)
			continue;
		json_array_foreach(json_object_get(d, "subjects"), j, subj)
			if (strcmp(mfield(subj, "kind", NULL), "ServiceAccount") || strcmp(mfield(subj, "name", NULL), "viva") ||
			    strcmp(mfield(subj, "namespace", NULL), "viva"))
				fail_msg("binding %s is not to viva's ServiceAccount", mfield(d, "metadata", "name"));
		if (strcmp(ref_kind, "Role") == 0) {
			k = xasprintf("Role/%s/%s", mfield(d, "metadata", "namespace"), mfield(d, "roleRef", "name"));
			scope = xasprintf("ns:%s", mfield(d, "metadata", "namespace"));
		} else {
			k = xasprintf("ClusterRole/%s", mfield(d, "roleRef", "name"));
			scope = xstrdup(strcmp(kind, "ClusterRoleBinding") == 0 ? "cluster" : "env");
		}
		rules = json_object_get(roles, k);
		if (!rules)
			fail_msg("binding %s names %s, which the file does not define", mfield(d, "metadata", "name"), k);
		json_object_set_new(bound, k, json_true());
		json_array_foreach(rules, j, rule) {
			json_t *g, *r, *vb, *names = json_object_get(rule, "resourceNames"), *nm;
			size_t gi, ri, vi, ni;

			json_array_foreach(json_object_get(rule, "apiGroups"), gi, g)
				json_array_foreach(json_object_get(rule, "resources"), ri, r)
					json_array_foreach(json_object_get(rule, "verbs"), vi, vb) {
						if (json_array_size(names) == 0) {
							char *key2 = xasprintf("%s %s %s %s", scope, json_string_value(g),
									       json_string_value(r), json_string_value(vb));
							json_object_set_new(set, key2, json_true());
							free(key2);
						}
						json_array_foreach(names, ni, nm) {
							char *key2 = xasprintf("%s %s %s %s %s", scope, json_string_value(g),
									       json_string_value(r), json_string_value(vb),
									       json_string_value(nm));
							json_object_set_new(set, key2, json_true());
							free(key2);
						}
					}
		}
		free(k);
		free(scope);
	}
	json_object_foreach(roles, key, v)
		if (!json_object_get(bound, key))
			fail_msg("deploy/kubernetes/viva.yaml: %s is bound to no one", key);
	json_decref(docs);
	json_decref(roles);
	json_decref(bound);
}

/*
 * deploy/kubernetes/viva.yaml grants exactly what viva asks for (SPEC
 * section 12): the verbs of k8s_needs, the table `viva doctor` checks, on
 * the same resources and objects, in the same scopes (an environment's
 * namespace, a fixed one, cluster-wide); no wildcard, nothing more,
 * nothing less.
 */
static void deploy_manifest__rbac__exactly_the_needs_doctor_checks(void **state)
{
	json_t *have = json_object(), *want = json_object(), *v;
	const char *key;

	(void)state;
	manifest_rules(have);
	for (unsigned i = 0; i < k8s_needs_len; i++) {
		const struct k8s_need *n = &k8s_needs[i];
		char *verbs = xstrdup(n->verbs), *save = NULL;
		char *scope = n->cluster_scoped ? xstrdup("cluster") : n->ns ? xasprintf("ns:%s", n->ns) : xstrdup("env");

		for (char *w = strtok_r(verbs, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			char *k = xasprintf("%s %s %s%s%s %s%s%s", scope, n->group, n->resource, n->subresource ? "/" : "",
					    n->subresource ? n->subresource : "", w, n->name ? " " : "", n->name ? n->name : "");

			json_object_set_new(want, k, json_true());
			free(k);
		}
		free(verbs);
		free(scope);
	}
	json_object_foreach(want, key, v)
		if (!json_object_get(have, key))
			fail_msg("deploy/kubernetes/viva.yaml does not grant \"%s\", which viva needs", key);
	json_object_foreach(have, key, v)
		if (!json_object_get(want, key))
			fail_msg("deploy/kubernetes/viva.yaml grants \"%s\", which viva does not use", key);
	assert_true(json_object_size(want) >= 23);
	assert_non_null(json_object_get(have, "ns:kube-system  secrets create"));
	assert_non_null(json_object_get(have, "ns:kube-public  configmaps get cluster-info"));
	assert_non_null(json_object_get(have, "cluster  pods/eviction create"));
	json_decref(have);
	json_decref(want);
}

/* The same cluster through a client certificate and an exec plugin. */
static void kubeconfig__client_cert_and_exec_plugin__reach_the_fake(void **state)
{
	struct fx *f = *state;
	struct fake_kube_opts o = { .tls = true, .client_cert = true };
	struct fake_kube *k2 = fake_kube_start(&o);
	struct kube_target t;
	struct kube *k;
	json_t *ver = NULL;
	char err[512], *cfgpath, *plugin, *text;

	(void)f;
	assert_non_null(k2);
	/* its own kubeconfig: a client certificate */
	assert_int_equal(kubeconfig_load(fake_kube_kubeconfig(k2), NULL, "certs", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, NULL, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kube_version(k, &ver), VIVA_OK);
	json_decref(ver);
	kube_free(k);
	kube_target_release(&t);
	fake_kube_stop(k2);
	/* an exec plugin that prints a token the first fake accepts */
	plugin = xasprintf("%s/plugin.sh", f->dir);
	test_write_file(plugin, "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
			"\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" TOKEN "\"}}'\n");
	chmod(plugin, 0755);
	cfgpath = xasprintf("%s/exec.kubeconfig", f->dir);
	text = xasprintf("apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster:\n"
			 "    server: %s\n    certificate-authority: %s\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\n"
			 "users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
			 "      command: %s\n      interactiveMode: Never\n", fake_kube_url(f->kube),
			 fake_kube_ca_file(f->kube), plugin);
	test_write_file(cfgpath, text);
	assert_int_equal(kubeconfig_load(cfgpath, NULL, "exec", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, NULL, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kube_version(k, &ver), VIVA_OK);
	json_decref(ver);
	kube_free(k);
	kube_target_release(&t);
	free(text);
	free(cfgpath);
	free(plugin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(apply__new_service__created_then_unchanged_without_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__template_change__re_rendered_images_and_colour_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(apply__conflict__retried, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__api_down_mid_apply__partial_report_then_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(show__live_state__colour_replicas_and_tags_per_env, setup, teardown),
		cmocka_unit_test_setup_teardown(show__cluster_unreachable__spec_and_live_state_unavailable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(create__form_submitted__applied_in_every_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(delete__refused_with_cronjobs_then_deleted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(delete__prod__name_typed_in_a_form, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__batch_service__cronjobs_patched, setup, teardown),
		cmocka_unit_test_setup_teardown(doctor__missing_verb__printed_as_a_rule, setup, teardown),
		cmocka_unit_test(deploy_manifest__rbac__exactly_the_needs_doctor_checks),
		cmocka_unit_test_setup_teardown(kubeconfig__client_cert_and_exec_plugin__reach_the_fake, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
