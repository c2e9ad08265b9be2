/* The service catalog: GitOps apply, list, show, the form, authorization. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/auth.h"
#include "bot/model/catalog.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/console.h"
#include "bot/dispatch.h"
#include "bot/slack/api.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "store/audit.h"
#include "store/services.h"
#include "tests/helpers.h"

static const char *spec_a =
	"name: service-a\n"
	"owners: [U012AB3CD]\n"
	"deployManagers: [U045EF6GH]\n"
	"repository: { name: service-a, branch: develop }\n"
	"pipeline:\n"
	"  type: service\n"
	"  interface: http\n"
	"  platform: linux/arm64\n"
	"image: team/service-a\n"
	"build:\n"
	"  environments: { JAVA_HOME: /opt/jdk-21 }\n"
	"  gradle: { enabled: true, tasks: clean build, options: -Duser.timezone=Asia/Seoul, directory: ., javaVersion: \"21\" }\n"
	"  docker: { dockerfile: Dockerfile, args: { KEY: value } }\n"
	"resources:\n"
	"  alpha: { instance: 1, cpu: \"0.05\", memory: 1024MB }\n"
	"  prod:  { instance: 4, cpu: \"2\", memory: 4096MB }\n"
	"batches:\n"
	"  - { name: settle-daily, schedule: \"0 3 * * *\", command: [java, -jar, app.jar, settle] }\n";

static char *spec_named(const char *name, const char *type, const char *owner)
{
	return xasprintf("name: %s\nowners: [%s]\nrepository: { name: %s }\npipeline: { type: %s }\n"
			 "image: team/%s\nresources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n",
			 name, owner, name, type, name);
}

struct fx {
	struct test_env t;
	char *dir;
	char *specs;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	f->specs = xasprintf("%s/pipelines", f->dir);
	free(f->t.cfg.pipelines_dir);
	f->t.cfg.pipelines_dir = xstrdup(f->specs);
	auth_cache_clear();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	test_env_release(&f->t);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f->specs);
	free(f);
	return 0;
}

static void put_file(struct fx *f, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", f->specs, name);
	test_write_file(p, text);
	free(p);
}

/* NAME.yaml with text, written directly (many at once: no directory checks). */
static void p_put(struct fx *f, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s.yaml", f->specs, name);
	FILE *fp = fopen(p, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(p);
}

/* Run a command as user; return the text of the newest reply (caller frees). */
static char *run_as(struct fx *f, const char *user, const char *text)
{
	return test_command(&f->t, user, text);
}

static void apply__add_change_remove_invalid(void **state)
{
	struct fx *f = *state;
	struct spec *s = NULL;
	char *out, *b;

	put_file(f, "service-a.yaml", spec_a);
	b = spec_named("batch-b", "batch", "U0BOB");
	put_file(f, "batch-b.yaml", b);
	free(b);
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "2 added, 0 changed, 0 removed, 0 invalid"));
	assert_non_null(strstr(out, "batch-b, service-a"));
	free(out);
	/* idempotent */
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "0 added, 0 changed, 0 removed, 0 invalid, 2 unchanged"));
	free(out);
	/* change one, break the other, add a mismatched file */
	b = xasprintf("%s", spec_a);
	b[strstr(b, "instance: 4") - b + 10] = '6';
	put_file(f, "service-a.yaml", b);
	free(b);
	put_file(f, "batch-b.yaml", "name: batch-b\nowners: [bob]\nimage: x\n");
	b = spec_named("other-name", "service", "U0BOB");
	put_file(f, "wrong.yaml", b);
	free(b);
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "0 added, 1 changed, 0 removed, 2 invalid"));
	assert_non_null(strstr(out, "batch-b.yaml* is invalid"));
	assert_non_null(strstr(out, "owners[0]"));
	assert_non_null(strstr(out, "does not match the file name"));
	free(out);
	/* the invalid file did not replace the valid stored spec */
	assert_int_equal(catalog_get(&f->t.env, "batch-b", &s), VIVA_OK);
	assert_string_equal(s->owners[0], "U0BOB");
	spec_free(s);
	assert_int_equal(catalog_get(&f->t.env, "service-a", &s), VIVA_OK);
	assert_int_equal(s->resources[1].instance, 6);
	spec_free(s);
	/* removing a file removes the service (kept for the audit log) */
	b = xasprintf("%s/wrong.yaml", f->specs);
	unlink(b);
	free(b);
	b = xasprintf("%s/service-a.yaml", f->specs);
	unlink(b);
	free(b);
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "1 removed"));
	assert_non_null(strstr(out, "*Removed:* service-a"));
	free(out);
	assert_int_equal(catalog_get(&f->t.env, "service-a", &s), VIVA_ENOENT);
	/* apply is audit-logged with who did it */
	out = run_as(f, "U0ALICE", "audit");
	assert_non_null(strstr(out, "pipeline apply"));
	assert_non_null(strstr(out, "<@U0ALICE>"));
	free(out);
}

static void apply__missing_or_empty_dir__refuses_to_empty_catalog(void **state)
{
	struct fx *f = *state;
	struct store_audit_entry *e = NULL;
	struct viva_ctx ctx;
	size_t n = 0;
	char *out, *b;

	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "does not exist"));
	free(out);
	/* the outcome is the apply's, not the delivery of the answer */
	test_ctx(&f->t, &ctx, "U0ALICE");
	assert_int_equal(dispatch_command(&ctx, "pipeline apply"), VIVA_EUNAVAIL);
	assert_int_equal(store_audit_list(f->t.env.store, NULL, 10, &e, &n), VIVA_OK);
	assert_true(n >= 2);
	assert_string_equal(e[0].action, "pipeline apply");
	assert_non_null(strstr(e[0].result, "unavailable: Nothing applied: cannot read the spec directory"));
	assert_non_null(strstr(e[0].result, "it does not exist"));
	store_audit_free(e, n);
	b = spec_named("svc-x", "service", "U0BOB");
	put_file(f, "svc-x.yaml", b);
	free(b);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	b = xasprintf("%s/svc-x.yaml", f->specs);
	unlink(b);
	free(b);
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "refusing to remove all 1 services"));
	free(out);
	assert_int_equal(store_audit_list(f->t.env.store, NULL, 1, &e, &n), VIVA_OK);
	assert_non_null(strstr(e[0].result, "invalid argument: Nothing applied: the spec directory"));
	store_audit_free(e, n);
}

/*
 * A hostile or broken spec directory: a link to /dev/zero (was: out of
 * memory on every start), a FIFO (was: a hang), links out of the directory
 * to /etc/passwd and /proc/self/environ (were read and echoed), a huge file.
 * Each is named in the report with its reason and never read; a link that
 * stays inside the directory (a ConfigMap volume) is read.
 */
static void apply__hostile_files__skipped_named_never_read(void **state)
{
	struct fx *f = *state;
	struct catalog_report rep;
	char err[512] = "", *p, *b, *joined;
	json_t *row;
	size_t i;
	struct store_service sv;

	b = spec_named("svc-ok", "service", "U0BOB");
	put_file(f, "svc-ok.yaml", b);
	free(b);
	b = spec_named("svc-in", "service", "U0BOB");
	put_file(f, "shared/svc-in.yaml", b);
	free(b);
	p = xasprintf("%s/svc-in.yaml", f->specs);
	assert_int_equal(symlink("shared/svc-in.yaml", p), 0);
	free(p);
	p = xasprintf("%s/zero.yaml", f->specs);
	assert_int_equal(symlink("/dev/zero", p), 0);
	free(p);
	p = xasprintf("%s/passwd.yaml", f->specs);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);
	p = xasprintf("%s/environ.yaml", f->specs);
	assert_int_equal(symlink("/proc/self/environ", p), 0);
	free(p);
	p = xasprintf("%s/up.yaml", f->specs);
	assert_int_equal(symlink("../outside.yaml", p), 0);
	free(p);
	p = xasprintf("%s/outside.yaml", f->dir);
	test_write_file(p, "name: up\n");
	free(p);
	p = xasprintf("%s/fifo.yaml", f->specs);
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	p = xmalloc(300 * 1024 + 1);
	memset(p, '#', 300 * 1024);
	p[300 * 1024] = '\0';
	put_file(f, "huge.yaml", p);
	free(p);

	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "U0BOB", &rep, err, sizeof(err)), VIVA_OK);
	assert_int_equal(json_array_size(rep.added), 2);   /* svc-ok, and svc-in through its inside link */
	assert_int_equal(json_array_size(rep.invalid), 6);
	joined = json_dumps(rep.invalid, 0);
	assert_null(strstr(joined, "root:"));               /* nothing of /etc/passwd */
	assert_null(strstr(joined, "PATH="));               /* nothing of the environment */
	json_array_foreach(rep.invalid, i, row) {
		const char *file = json_string_value(json_object_get(row, "file"));
		const char *why = json_string_value(json_object_get(row, "errors"));
		if (strcmp(file, "zero.yaml") == 0 || strcmp(file, "passwd.yaml") == 0 ||
		    strcmp(file, "environ.yaml") == 0 || strcmp(file, "up.yaml") == 0)
			assert_string_equal(why, "not read: a link out of the directory");
		else if (strcmp(file, "fifo.yaml") == 0)
			assert_string_equal(why, "not read: not a regular file");
		else if (strcmp(file, "huge.yaml") == 0)
			assert_string_equal(why, "not read: larger than the limit of 256 KiB");
		else
			fail_msg("unexpected invalid file %s: %s", file, why);
	}
	free(joined);
	catalog_report_release(&rep);
	assert_int_equal(store_service_get(f->t.env.store, "svc-in", &sv), VIVA_OK);
	store_service_release(&sv);
	/* and the command says the same */
	joined = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(joined, "fifo.yaml"));
	assert_non_null(strstr(joined, "not a regular file"));
	free(joined);
}

/*
 * More spec files than the old cut of 5,000 (which marked the rest deleted):
 * the listing is sorted and complete; past the limit the apply is refused
 * as a whole and nothing is removed.
 */
static void apply__many_files__complete_or_refused_never_deletes(void **state)
{
	struct fx *f = *state;
	struct catalog_report rep;
	struct store_service *all = NULL;
	char err[512] = "";
	size_t n = 0;

	assert_int_equal(mkdir(f->specs, 0755), 0);
	for (int i = 0; i < 5003; i++) {
		char name[32], *b;
		snprintf(name, sizeof(name), "svc-%05d", i);
		b = spec_named(name, "service", "U0BOB");
		p_put(f, name, b);
		free(b);
	}
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "U0BOB", &rep, err, sizeof(err)), VIVA_OK);
	assert_int_equal(json_array_size(rep.added), 5003);
	assert_int_equal(json_array_size(rep.removed), 0);
	catalog_report_release(&rep);
	assert_int_equal(store_service_list(f->t.env.store, false, &all, &n), VIVA_OK);
	assert_int_equal(n, 5003);
	store_services_free(all, n);
	/* past the limit: refused as a whole, before a file is read */
	for (int i = 5003; i < 20001; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%05d", i);
		p_put(f, name, "");
	}
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "U0BOB", &rep, err, sizeof(err)), VIVA_ERANGE);
	assert_non_null(strstr(err, "has 20001 spec files, more than viva reads (20000)"));
	assert_non_null(strstr(err, "no service was removed"));
	assert_int_equal(json_array_size(rep.removed), 0);
	catalog_report_release(&rep);
	assert_int_equal(store_service_list(f->t.env.store, false, &all, &n), VIVA_OK);
	assert_int_equal(n, 5003);
	store_services_free(all, n);
}

static void list__grouped_by_type_and_paged_under_50_blocks(void **state)
{
	struct fx *f = *state;
	json_t *msg, *blocks, *last;
	struct viva_ctx ctx;
	json_t *payload;
	char *out;

	for (int i = 0; i < 90; i++) {
		char name[32], file[40];
		char *b;
		snprintf(name, sizeof(name), "svc-%03d", i);
		snprintf(file, sizeof(file), "%s.yaml", name);
		b = spec_named(name, i % 3 == 0 ? "batch" : "service", "U0BOB");
		put_file(f, file, b);
		free(b);
	}
	free(run_as(f, "U0ALICE", "pipeline apply"));
	out = run_as(f, "U0ALICE", "pipeline list");
	assert_non_null(strstr(out, "Pipelines (90)"));
	assert_non_null(strstr(out, "*batch* (30)"));
	assert_non_null(strstr(out, "*service* (10)"));
	assert_non_null(strstr(out, "Showing 1-40 of 90"));
	free(out);
	msg = test_sent_msg(&f->t, json_array_size(f->t.sent) - 1);
	blocks = json_object_get(msg, "blocks");
	assert_true(json_array_size(blocks) <= 50);
	last = json_array_get(blocks, json_array_size(blocks) - 1);
	payload = json_pack("{s:s, s:[{s:s, s:s, s:O}]}", "type", "block_actions", "actions",
			    "action_id", "pipeline_list_more", "type", "button",
			    "value", json_object_get(json_array_get(json_object_get(last, "elements"), 0), "value"));
	test_ctx(&f->t, &ctx, "U0ALICE");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	json_decref(payload);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "Showing 41-80 of 90"));
	free(out);
}

static void show__spec_owners_and_revisions(void **state)
{
	struct fx *f = *state;
	char *out;

	put_file(f, "service-a.yaml", spec_a);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	out = run_as(f, "U0ALICE", "pipeline show service-a");
	assert_non_null(strstr(out, "<@U012AB3CD>"));
	assert_non_null(strstr(out, "<@U045EF6GH>"));
	assert_non_null(strstr(out, "team/service-a"));
	assert_non_null(strstr(out, "settle-daily"));
	assert_non_null(strstr(out, "#1 "));
	free(out);
	out = run_as(f, "U0ALICE", "pipeline show nope");
	assert_non_null(strstr(out, "no pipeline named `nope`"));
	free(out);
	out = run_as(f, "U0ALICE", "pipeline show");
	assert_non_null(strstr(out, "/viva pipeline show SVC"));
	free(out);
	out = run_as(f, "U0ALICE", "pipeline");
	assert_non_null(strstr(out, "/viva pipeline list"));
	free(out);
}

/* A view_submission payload as Slack sends it (values by block id, then action id). */
static json_t *submission(const char *name, const char *cpu, const char *owners_csv)
{
	json_t *owners = json_array();
	char *dup = xstrdup(owners_csv ? owners_csv : ""), *save = NULL;

	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(owners, json_string(tok));
	free(dup);
#define TXT(v) "{s:{s:s, s:s?}}", "value", "type", "plain_text_input", "value", v
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s, s:{s:{"
			 "s:{s:{s:s, s:s?}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:n}},"
			 "s:{s:{s:s, s:[{s:s}, {s:s}]}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}},"
			 "s:{s:{s:s, s:o}}, s:{s:{s:s, s:[]}},"
			 "s:{s:{s:s, s:s}}, s:{s:{s:s, s:s?}}, s:{s:{s:s, s:s}},"
			 "s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}"
			 "}}}}",
			 "type", "view_submission", "user", "id", "U0CREATOR",
			 "view", "id", "V1", "callback_id", "pipeline_create", "private_metadata", "{\"channel\":\"C0TEST\"}",
			 "state", "values",
			 "name", "value", "type", "plain_text_input", "value", name,
			 "repo", "value", "type", "plain_text_input", "value", "service-z",
			 "branch", "value", "type", "plain_text_input", "value", "main",
			 "image", "value", "type", "plain_text_input", "value",
			 "options", "value", "type", "checkboxes", "selected_options", "value", "gradle", "value", "arm64",
			 "build_env", "value", "type", "plain_text_input", "value", "JAVA_HOME=/opt/jdk\nLANG = C.UTF-8",
			 "docker_args", "value", "type", "plain_text_input", "value", "A=1",
			 "owners", "value", "type", "multi_users_select", "selected_users", owners,
			 "deploy_managers", "value", "type", "multi_users_select", "selected_users",
			 "res_alpha_instance", "value", "type", "plain_text_input", "value", "2",
			 "res_alpha_cpu", "value", "type", "plain_text_input", "value", cpu,
			 "res_alpha_memory", "value", "type", "plain_text_input", "value", "512Mi",
			 "res_prod_instance", "value", "type", "plain_text_input", "value", "3",
			 "res_prod_cpu", "value", "type", "plain_text_input", "value", "1",
			 "res_prod_memory", "value", "type", "plain_text_input", "value", "2Gi");
#undef TXT
}

static void form__open__modal_with_fields(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *sent, *view;
	char *s;

	test_ctx(&f->t, &ctx, "U0ALICE");
	dispatch_command(&ctx, "pipeline create");
	sent = json_array_get(f->t.sent, 0);
	view = json_object_get(sent, "view");
	assert_non_null(view);
	assert_string_equal(json_string_value(json_object_get(view, "callback_id")), "pipeline_create");
	assert_string_equal(json_string_value(json_object_get(view, "type")), "modal");
	assert_true(json_array_size(json_object_get(view, "blocks")) <= 100);
	s = json_dumps(view, 0);
	for (const char *b = "name\0repo\0branch\0options\0build_env\0gradle_tasks\0gradle_options\0gradle_dir\0"
			     "java_version\0dockerfile\0docker_args\0owners\0deploy_managers\0res_alpha_cpu\0"
			     "res_prod_memory\0"; *b; b += strlen(b) + 1) {
		char *needle = xasprintf("\"block_id\": \"%s\"", b);
		assert_non_null(strstr(s, needle));
		free(needle);
	}
	assert_non_null(strstr(s, "C0TEST"));   /* where the confirmation will go */
	free(s);
}

static void form__invalid__errors_keyed_by_block_id(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *p = submission("Bad_Name", "lots", "bob"), *resp, *errors;

	test_ctx(&f->t, &ctx, "U0CREATOR");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EINVAL);
	json_decref(p);
	resp = json_object_get(json_array_get(f->t.sent, 0), "view_response");
	assert_non_null(resp);
	assert_string_equal(json_string_value(json_object_get(resp, "response_action")), "errors");
	errors = json_object_get(resp, "errors");
	assert_non_null(strstr(json_string_value(json_object_get(errors, "name")), "not a valid service name"));
	assert_non_null(strstr(json_string_value(json_object_get(errors, "res_alpha_cpu")), "not a CPU quantity"));
	assert_non_null(json_object_get(errors, "owners"));
	/* nothing was stored or written */
	{
		struct store_service *all = NULL;
		size_t n = 0;
		assert_int_equal(store_service_list(f->t.env.store, true, &all, &n), VIVA_OK);
		assert_int_equal(n, 0);
	}
}

static void form__valid__saved_written_and_confirmed(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *p = submission("service-z", "250m", NULL), *post;
	struct spec *s = NULL;
	char *path, *text = NULL, *out;

	test_ctx(&f->t, &ctx, "U0CREATOR");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	/* no errors in the ack; a confirmation in the channel with the YAML */
	post = json_array_get(f->t.sent, 0);
	assert_string_equal(json_string_value(json_object_get(post, "post")), "C0TEST");
	out = test_sent_text(&f->t, 0);
	assert_non_null(strstr(out, "Pipeline *service-z* created by <@U0CREATOR>"));
	assert_non_null(strstr(out, "name: \"service-z\"") ? strstr(out, "name: \"service-z\"") : strstr(out, "name: service-z"));
	free(out);
	assert_int_equal(catalog_get(&f->t.env, "service-z", &s), VIVA_OK);
	assert_string_equal(s->owners[0], "U0CREATOR");          /* self-service owner */
	assert_string_equal(s->platform, "linux/arm64");
	assert_true(s->gradle_enabled);
	assert_string_equal(s->java_version, "1.8");             /* default when not chosen */
	assert_string_equal(s->image, "service-z");
	assert_int_equal(s->nbuild_env, 2);
	assert_int_equal(s->resources[0].cpu_milli, 250);
	spec_free(s);
	path = xasprintf("%s/service-z.yaml", f->specs);
	assert_int_equal(read_file(path, &text, NULL), VIVA_OK);
	assert_non_null(strstr(text, "service-z"));
	free(text);
	free(path);
	/* the same name again: an error on the name field */
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EINVAL);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(
		json_object_get(json_array_get(f->t.sent, 1), "view_response"), "errors"), "name")), "already exists"));
	json_decref(p);
	/* and the next apply sees the written file as unchanged */
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "0 added, 0 changed, 0 removed, 0 invalid, 1 unchanged"));
	free(out);
}

/*
 * An image repository belongs to one pipeline. The defect: anyone could
 * create a pipeline `evil` whose image is team/service-a and then move
 * team/service-a:latest with `/viva promote evil ...`. The form refuses an
 * image already used, beside the image field.
 */
static void form__image_of_another_pipeline__refused_beside_the_field(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *p = submission("evil", "250m", "U0EVIL"), *errors;
	struct spec *s = NULL;
	char *b = spec_named("service-a", "service", "U0OWNER"), *out;

	put_file(f, "service-a.yaml", b);
	free(b);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	json_object_set_new(json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
		p, "view"), "state"), "values"), "image"), "value"), "value", json_string("team/service-a"));
	test_ctx(&f->t, &ctx, "U0EVIL");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EINVAL);
	errors = json_object_get(json_object_get(json_array_get(f->t.sent, json_array_size(f->t.sent) - 1),
						 "view_response"), "errors");
	assert_non_null(strstr(json_string_value(json_object_get(errors, "image")),
			       "the image team/service-a is already the image of pipeline service-a"));
	assert_int_equal(catalog_get(&f->t.env, "evil", &s), VIVA_ENOENT);
	json_decref(p);
	out = run_as(f, "U0ALICE", "pipeline list");
	assert_null(strstr(out, "evil"));
	free(out);
}

/*
 * GitOps: the second spec naming a repository is invalid and says which
 * spec holds it; the holder keeps it even when the newcomer sorts first.
 */
static void apply__second_spec_naming_an_image__invalid_names_the_holder(void **state)
{
	struct fx *f = *state;
	char *b = spec_named("service-a", "service", "U0OWNER"), *out;
	struct catalog_report rep;
	char err[256];
	char *owner = NULL;

	put_file(f, "service-a.yaml", b);
	free(b);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	/* "aaa" sorts before "service-a" and names its image */
	put_file(f, "aaa.yaml", "name: aaa\nowners: [U0EVIL]\nrepository: { name: aaa }\nimage: team/service-a\n"
				"resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	/* two newcomers on one free image: the first in name order gets it */
	put_file(f, "free-b.yaml", "name: free-b\nowners: [U0B]\nrepository: { name: b }\nimage: team/free\n"
				   "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	put_file(f, "free-a.yaml", "name: free-a\nowners: [U0A]\nrepository: { name: a }\nimage: team/free\n"
				   "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "U0ALICE", &rep, err, sizeof(err)), VIVA_OK);
	out = json_dumps(rep.invalid, 0);
	assert_int_equal(json_array_size(rep.invalid), 2);
	assert_non_null(strstr(out, "\"file\": \"aaa.yaml\""));
	assert_non_null(strstr(out, "image: team/service-a is already the image of pipeline service-a (service-a.yaml)"));
	assert_non_null(strstr(out, "\"file\": \"free-b.yaml\""));
	assert_non_null(strstr(out, "image: team/free is already the image of pipeline free-a (free-a.yaml)"));
	free(out);
	catalog_report_release(&rep);
	assert_int_equal(store_service_image_owner(f->t.env.store, "team/service-a", &owner), VIVA_OK);
	assert_string_equal(owner, "service-a");
	free(owner);
	/* the holder's file removed: its image is free for the other in the same apply */
	b = xasprintf("%s/service-a.yaml", f->specs);
	unlink(b);
	free(b);
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "U0ALICE", &rep, err, sizeof(err)), VIVA_OK);
	assert_int_equal(store_service_image_owner(f->t.env.store, "team/service-a", &owner), VIVA_OK);
	assert_string_equal(owner, "aaa");
	free(owner);
	catalog_report_release(&rep);
}

static void auth__owners_deploy_managers_admins(void **state)
{
	struct fx *f = *state;
	char why[256];
	char *admins[] = { "U0ADMIN01", NULL };
	char **saved = f->t.cfg.admin_users;
	static const struct { const char *user; unsigned flags; int want; } table[] = {
		{ "U012AB3CD", CMD_DEPLOY, VIVA_OK },      /* owner deploys */
		{ "U012AB3CD", CMD_OWNER, VIVA_OK },       /* owner deletes */
		{ "U045EF6GH", CMD_DEPLOY, VIVA_OK },      /* deploy manager deploys */
		{ "U045EF6GH", CMD_OWNER, VIVA_EDENIED },  /* ...but does not delete */
		{ "U0STRANGER", CMD_DEPLOY, VIVA_EDENIED },
		{ "U0STRANGER", CMD_OWNER, VIVA_EDENIED },
		{ "U0STRANGER", 0, VIVA_OK },              /* read-only: anyone */
		{ "U0ADMIN01", CMD_OWNER, VIVA_OK },       /* admins: everything */
		{ "U0ADMIN01", CMD_ADMIN, VIVA_OK },
		{ "U012AB3CD", CMD_ADMIN, VIVA_EDENIED },  /* owners are not admins */
	};

	put_file(f, "service-a.yaml", spec_a);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	f->t.cfg.admin_users = admins;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int rc = auth_check(&f->t.env, table[i].user, table[i].flags, "service-a", why, sizeof(why));
		if (rc != table[i].want)
			fail_msg("row %zu: %s flags %u got %d want %d", i, table[i].user, table[i].flags, rc, table[i].want);
	}
	assert_int_equal(auth_check(&f->t.env, "U012AB3CD", CMD_DEPLOY, "nope", why, sizeof(why)), VIVA_ENOENT);
	assert_non_null(strstr(why, "no service named nope"));
	f->t.cfg.admin_users = saved;
}

static void console__form__set_submit_errors_then_created(void **state)
{
	struct fx *f = *state;
	const char *lines[] = { "/viva pipeline create", "set name svc-con", "set repo svc-con",
				"set options gradle,arm64", "set res_alpha_cpu lots", "submit",
				"set res_alpha_cpu 200m", "submit", NULL };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	struct console *c = console_new(&f->t.env, out, false);
	struct spec *s = NULL;

	console_set_user(c, "U0CONSOLE");
	for (const char **l = lines; *l; l++)
		console_line(c, *l);
	console_free(c);
	fclose(out);
	assert_non_null(strstr(buf, "(a form opens:)"));
	assert_non_null(strstr(buf, "Fill it with `set FIELD VALUE`"));
	assert_non_null(strstr(buf, "res_alpha_cpu: \"lots\" is not a CPU quantity"));
	assert_non_null(strstr(buf, "(posted to #C_LOCAL:)"));
	assert_non_null(strstr(buf, "Pipeline *svc-con* created by @U0CONSOLE"));
	free(buf);
	assert_int_equal(catalog_get(&f->t.env, "svc-con", &s), VIVA_OK);
	assert_string_equal(s->platform, "linux/arm64");
	assert_int_equal(s->resources[0].cpu_milli, 200);
	spec_free(s);
}

/* A Slack Web API that answers usergroups.users.list from a table and counts calls. */
struct fake_api {
	struct slack_api base;
	int calls;
	bool down;
};

static int fake_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct fake_api *f = (struct fake_api *)api;
	const char *group = json_string_value(json_object_get(args, "usergroup"));

	f->calls++;
	*resp = NULL;
	if (f->down)
		return VIVA_EUNAVAIL;
	if (strcmp(method, "usergroups.users.list") == 0 && group && strcmp(group, "S0PLATFORM") == 0) {
		*resp = json_pack("{s:b, s:[s, s]}", "ok", 1, "users", "U0GROUPIE", "U0OTHER");
		return VIVA_OK;
	}
	*resp = json_pack("{s:b, s:s}", "ok", 0, "error", "no_such_subteam");
	return VIVA_EREMOTE;
}

static const struct slack_api_ops fake_api_ops = { .call = fake_call };

static void auth__usergroup_admins__resolved_and_cached(void **state)
{
	struct fx *f = *state;
	struct fake_api api = { .base = { .ops = &fake_api_ops } };
	char why[256];

	f->t.env.slack = &api.base;
	free(f->t.cfg.admin_usergroup);
	f->t.cfg.admin_usergroup = xstrdup("S0PLATFORM");
	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_false(auth_is_admin(&f->t.env, "U0NOTIN"));
	assert_int_equal(auth_check(&f->t.env, "U0GROUPIE", CMD_ADMIN, NULL, why, sizeof(why)), VIVA_OK);
	assert_int_equal(api.calls, 1);                 /* cached: one lookup */
	/* after the TTL it asks again; an outage keeps the last known members */
	f->t.now += 301;
	api.down = true;
	assert_true(auth_is_admin(&f->t.env, "U0GROUPIE"));
	assert_int_equal(api.calls, 2);
	f->t.env.slack = NULL;
	auth_cache_clear();
}

/* Every section of message i fits Block Kit: text <= 3000, at most 50 blocks. */
static void assert_block_kit_limits(struct fx *f, size_t i)
{
	json_t *blocks = json_object_get(test_sent_msg(&f->t, i), "blocks"), *b;
	size_t k;

	assert_true(json_array_size(blocks) <= 50);
	json_array_foreach(blocks, k, b) {
		const char *t = json_string_value(json_object_get(json_object_get(b, "text"), "text"));
		if (t && strlen(t) > 3000)
			fail_msg("block %zu has %zu characters", k, strlen(t));
	}
}

static void limits__long_apply_report_and_escaped_yaml_fit(void **state)
{
	struct fx *f = *state;
	struct strbuf args;
	char *out, *b;

	for (int i = 0; i < 180; i++) {
		char name[48], file[56];
		snprintf(name, sizeof(name), "service-with-a-long-name-%03d", i);
		snprintf(file, sizeof(file), "%s.yaml", name);
		b = spec_named(name, "service", "U0BOB");
		put_file(f, file, b);
		free(b);
	}
	out = run_as(f, "U0ALICE", "pipeline apply");
	assert_non_null(strstr(out, "180 added"));
	assert_non_null(strstr(out, " more"));      /* the list is cut to fit, with a count */
	free(out);
	assert_block_kit_limits(f, json_array_size(f->t.sent) - 1);
	/* a spec whose YAML grows a lot when escaped (& -> &amp;) */
	sb_init(&args);
	sb_adds(&args, "name: amp-heavy\nowners: [U0BOB]\nrepository: { name: amp }\nimage: team/amp\n"
		       "build:\n  docker:\n    args:\n");
	for (int i = 0; i < 200; i++)
		sb_addf(&args, "      K%03d: \"a&&b<c>&&d&&e&&f&&g&&h\"\n", i);
	sb_adds(&args, "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	put_file(f, "amp-heavy.yaml", args.buf);
	sb_release(&args);
	free(run_as(f, "U0ALICE", "pipeline apply"));
	out = run_as(f, "U0ALICE", "pipeline show amp-heavy");
	assert_non_null(strstr(out, "K199"));       /* nothing lost: the YAML is split, not cut */
	free(out);
	assert_block_kit_limits(f, json_array_size(f->t.sent) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(apply__add_change_remove_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__missing_or_empty_dir__refuses_to_empty_catalog, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__hostile_files__skipped_named_never_read, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__many_files__complete_or_refused_never_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(form__image_of_another_pipeline__refused_beside_the_field, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__second_spec_naming_an_image__invalid_names_the_holder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(list__grouped_by_type_and_paged_under_50_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(show__spec_owners_and_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(form__open__modal_with_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(form__invalid__errors_keyed_by_block_id, setup, teardown),
		cmocka_unit_test_setup_teardown(form__valid__saved_written_and_confirmed, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__owners_deploy_managers_admins, setup, teardown),
		cmocka_unit_test_setup_teardown(console__form__set_submit_errors_then_created, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__usergroup_admins__resolved_and_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(limits__long_apply_report_and_escaped_yaml_fit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
