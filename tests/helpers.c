#include "tests/helpers.h"
#include "tests/fake_slack_blocks.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/model/catalog.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "store/store.h"
#include "tests/kube/fake_kube.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/*
 * Every message a handler sends in a unit test must pass the same Block Kit
 * checks the fake Slack applies (tests/fake_slack_blocks.c): a template
 * that only the end-to-end tests would catch is caught here for all of them.
 */
static void check_message(json_t *msg)
{
	json_t *msgs = json_array(), *blocks = json_object_get(msg, "blocks");
	const char *text = json_string_value(json_object_get(msg, "text"));
	size_t i;
	json_t *m;

	if (blocks && !json_is_array(blocks))
		fail_msg("message blocks is not an array");
	if (!text && !blocks)
		fail_msg("message has neither text nor blocks (no_text)");
	if (text && fsb_utf8_len(text) > 4000)
		fail_msg("message text longer than 4000 characters");
	if (blocks && fsb_check_blocks(blocks, FSB_MESSAGE, "/blocks", msgs) > 0) {
		json_array_foreach(msgs, i, m)
			print_error("%s\n", json_string_value(m));
		json_decref(msgs);
		fail_msg("message rejected as Slack would (invalid_blocks)");
	}
	json_decref(msgs);
}

static void check_view(json_t *view)
{
	json_t *msgs = json_array(), *m;
	size_t i;

	if (fsb_check_view(view, msgs)) {
		json_array_foreach(msgs, i, m)
			print_error("%s\n", json_string_value(m));
		json_decref(msgs);
		fail_msg("view rejected as Slack would");
	}
	json_decref(msgs);
}

static int rec_send(struct reply *r, json_t *msg, unsigned flags)
{
	struct test_env *t = r->self;

	check_message(msg);
	json_array_append_new(t->sent, json_pack("{s:i, s:O}", "flags", (int)flags, "msg", msg));
	return VIVA_OK;
}

static int rec_post(struct reply *r, const char *channel, json_t *msg)
{
	struct test_env *t = r->self;

	check_message(msg);
	json_array_append_new(t->sent, json_pack("{s:s, s:O}", "post", channel ? channel : "", "msg", msg));
	return VIVA_OK;
}

static int rec_view(struct reply *r, json_t *view)
{
	struct test_env *t = r->self;

	check_view(view);
	json_array_append_new(t->sent, json_pack("{s:O, s:O}", "view", view, "msg", view));
	return VIVA_OK;
}

static int rec_view_response(struct reply *r, json_t *resp)
{
	struct test_env *t = r->self;
	json_array_append_new(t->sent, json_pack("{s:O, s:O}", "view_response", resp, "msg", resp));
	return VIVA_OK;
}

static const struct reply_ops rec_ops = { .send = rec_send, .post = rec_post, .open_view = rec_view,
					  .view_response = rec_view_response };

static int64_t fake_now(struct viva_clock *c)
{
	struct test_env *t = (struct test_env *)((char *)c - offsetof(struct test_env, clock));
	return t->now;
}

void test_env_init(struct test_env *t)
{
	char err[512];

	memset(t, 0, sizeof(*t));
	config_defaults(&t->cfg);
	t->env.cfg = &t->cfg;
	t->now = 1795554900;
	t->clock.now = fake_now;
	t->env.clock = &t->clock;
	/* the templates built into viva, as it runs when installed */
	if (tmpl_set_load(NULL, &t->env.tmpl, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "templates: %s\n", err);
		fail();
	}
	assert_int_equal(store_open(":memory:", &t->env.store), VIVA_OK);
	t->reply.ops = &rec_ops;
	t->reply.self = t;
	t->sent = json_array();
}

void test_env_release(struct test_env *t)
{
	store_close(t->env.store);
	tmpl_set_free(t->env.tmpl);
	config_release(&t->cfg);
	json_decref(t->sent);
}

void test_ctx(struct test_env *t, struct viva_ctx *ctx, const char *user_id)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->env = &t->env;
	ctx->reply = &t->reply;
	ctx->user_id = user_id;
	ctx->channel_id = "C0TEST";
	ctx->trigger_id = "trigger.test";
}

char *test_command(struct test_env *t, const char *user, const char *text)
{
	struct viva_ctx ctx;
	size_t before = json_array_size(t->sent);

	test_ctx(t, &ctx, user);
	dispatch_command(&ctx, text);
	assert_true(json_array_size(t->sent) > before);
	return test_sent_text(t, json_array_size(t->sent) - 1);
}

json_t *test_sent_msg(struct test_env *t, size_t i)
{
	return json_object_get(json_array_get(t->sent, i), "msg");
}

static void collect(json_t *j, struct strbuf *sb)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		sb_adds(sb, json_string_value(j));
		sb_addc(sb, '\n');
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if (strcmp(k, "type") != 0 && strcmp(k, "block_id") != 0)
				collect(v, sb);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			collect(v, sb);
	}
}

char *test_sent_text(struct test_env *t, size_t i)
{
	struct strbuf sb;
	sb_init(&sb);
	collect(test_sent_msg(t, i), &sb);
	return sb_detach(&sb);
}

char *test_tmpdir(void)
{
	char tmpl[] = "/tmp/viva-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

void test_rm_rf(const char *path)
{
	char *cmd;
	if (!path || strncmp(path, "/tmp/", 5) != 0)
		return;
	cmd = xasprintf("rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
	free(cmd);
}

void test_write_file(const char *path, const char *content)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	FILE *f;

	if (slash) {
		*slash = '\0';
		char *cmd = xasprintf("mkdir -p '%s'", dir);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

char *test_run(const char *cmdline, int *status)
{
	char *full = xasprintf("%s 2>&1", cmdline);
	FILE *p = popen(full, "r");
	struct strbuf sb;
	char buf[4096];
	size_t n;
	int st;

	free(full);
	assert_non_null(p);
	sb_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		sb_add(&sb, buf, n);
	st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return sb_detach(&sb);
}

void test_cfg_add_cluster(struct viva_config *cfg, const char *name, const char *kubeconfig)
{
	cfg->clusters = xrealloc(cfg->clusters, (cfg->n_clusters + 1) * sizeof(*cfg->clusters));
	cfg->clusters[cfg->n_clusters++] = (struct config_cluster){ .name = xstrdup(name),
		.kubeconfig = xstrdup(kubeconfig), .context = NULL };
}

void test_cfg_add_env(struct viva_config *cfg, const char *name, const char *cluster, const char *ns)
{
	cfg->environments = xrealloc(cfg->environments, (cfg->n_environments + 1) * sizeof(*cfg->environments));
	cfg->environments[cfg->n_environments++] = (struct config_env){ .name = xstrdup(name),
		.cluster = xstrdup(cluster), .namespace_ = xstrdup(ns) };
}

void test_catalog_reload(struct test_env *t)
{
	struct catalog_report rep;
	char err[256];

	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&t->env, "test", &rep, err, sizeof(err)), VIVA_OK);
	catalog_report_release(&rep);
}

const char *test_json_path(json_t *o, const char *path, char *buf, size_t len)
{
	char *p = xstrdup(path), *save = NULL, *k;
	json_t *cur = o;

	for (k = strtok_r(p, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k)) : json_object_get(cur, k);
	free(p);
	if (json_is_integer(cur))
		snprintf(buf, len, "%lld", (long long)json_integer_value(cur));
	else
		snprintf(buf, len, "%s", json_string_value(cur) ? json_string_value(cur) : "(none)");
	return buf;
}

void test_kube_expect(struct fake_kube *k, const char *res, const char *ns, const char *name, const char *path,
		      const char *want)
{
	json_t *o = fake_kube_get(k, res, ns, name);
	char buf[256];

	if (!o || strcmp(test_json_path(o, path, buf, sizeof(buf)), want) != 0)
		fail_msg("%s %s/%s %s: got %s, want %s", res, ns, name, path, o ? buf : "(no object)", want);
	json_decref(o);
}

int test_request_index(json_t *log, const char *method, const char *resource, const char *name, int from)
{
	for (size_t i = (size_t)from; i < json_array_size(log); i++) {
		json_t *r = json_array_get(log, i);
		const char *m = json_string_value(json_object_get(r, "method"));
		const char *res = json_string_value(json_object_get(r, "resource"));
		const char *nm = json_string_value(json_object_get(r, "name"));

		if (m && res && nm && strcmp(m, method) == 0 && strcmp(res, resource) == 0 && strcmp(nm, name) == 0)
			return (int)i;
	}
	return -1;
}

struct png_reader {
	const unsigned char *p;
	size_t len, off;
};

static cairo_status_t read_png(void *closure, unsigned char *data, unsigned int length)
{
	struct png_reader *r = closure;

	if (length > r->len - r->off)
		return CAIRO_STATUS_READ_ERROR;
	memcpy(data, r->p + r->off, length);
	r->off += length;
	return CAIRO_STATUS_SUCCESS;
}

cairo_surface_t *test_png_decode(const void *png, size_t len)
{
	struct png_reader r = { png, len, 0 };
	cairo_surface_t *s = cairo_image_surface_create_from_png_stream(read_png, &r);

	cairo_surface_flush(s);
	return s;
}
