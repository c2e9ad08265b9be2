/* /viva tags and promotion, against an in-memory registry (tests/fake_registry.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "bot/model/catalog.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "store/audit.h"
#include "store/envelopes.h"
#include "store/operations.h"
#include "bot/ops.h"
#include "handlers/promote.h"
#include "store/store.h"
#include "tests/fake_registry.h"
#include "tests/helpers.h"

#define REPO "team/service-a"

struct fx {
	struct test_env t;
	struct fake_registry *reg;
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct catalog_report rep;
	char err[256], *path;

	test_env_init(&f->t);
	f->dir = test_tmpdir();
	free(f->t.cfg.pipelines_dir);
	f->t.cfg.pipelines_dir = xstrdup(f->dir);
	path = xasprintf("%s/service-a.yaml", f->dir);
	test_write_file(path, "name: service-a\nowners: [U0OWNER]\ndeployManagers: [U0DM]\n"
			      "repository: { name: service-a }\nimage: " REPO "\n"
			      "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "test", &rep, err, sizeof(err)), VIVA_OK);
	catalog_report_release(&rep);
	f->reg = fake_registry_new();
	f->t.env.registry = &f->reg->base;
	/* builds 2160..2184 pushed out of order, plus a non-numeric tag */
	for (int i = 0; i < 25; i++) {
		char tag[64];
		int b = 2160 + (i * 7) % 25;
		snprintf(tag, sizeof(tag), "%d-develop-%07x", b, b * 4099);
		fake_registry_push(f->reg, REPO, tag, 1700000000 + b * 60);
	}
	fake_registry_push(f->reg, REPO, "nightly", 1690000000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ops_free(f->t.env.ops);
	fake_registry_free(f->reg);
	test_env_release(&f->t);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *run_as(struct fx *f, const char *user, const char *text)
{
	return test_command(&f->t, user, text);
}

/* The accessory button of the section showing `tag` in message i. */
static json_t *promote_button(struct fx *f, size_t i, const char *tag)
{
	json_t *b;
	size_t k;
	json_array_foreach(json_object_get(test_sent_msg(&f->t, i), "blocks"), k, b) {
		const char *txt = json_string_value(json_object_get(json_object_get(b, "text"), "text"));
		if (txt && strstr(txt, tag) && json_object_get(b, "accessory"))
			return json_object_get(b, "accessory");
	}
	return NULL;
}

/*
 * `/viva tags service-a`, with only its final answer kept, as message 0 (a
 * listing whose build times are not all in the store answers twice: the
 * tags, then the same message with the build times).
 */
static void list_tags(struct fx *f)
{
	json_t *last;

	free(run_as(f, "U0ANYONE", "tags service-a"));
	last = json_incref(json_array_get(f->t.sent, json_array_size(f->t.sent) - 1));
	json_array_clear(f->t.sent);
	json_array_append_new(f->t.sent, last);
}

static json_t *click_payload(json_t *button, const char *ts)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:O, s:s}]}",
			 "type", "block_actions", "user", "id", "U0DM",
			 "container", "type", "message", "message_ts", ts, "channel_id", "C0TEST",
			 "actions", "action_id", "tag_promote", "value", json_object_get(button, "value"),
			 "type", "button");
}

static void tags__newest_first_with_digest_date_and_promote(void **state)
{
	struct fx *f = *state;
	json_t *msg, *btn, *blocks;
	char *out, *p2184, *p2165;
	int gets, blobs;

	fake_registry_push(f->reg, REPO, "latest", 0);   /* latest -> something else first */
	{
		/* point latest at build 2183 */
		struct registry_manifest m = { 0 };
		assert_int_equal(registry_promote(&f->reg->base, REPO, "2183-develop-0888995", "latest", NULL, NULL), VIVA_OK);
		registry_manifest_release(&m);
	}
	out = run_as(f, "U0ANYONE", "tags service-a");
	msg = test_sent_msg(&f->t, 0);
	blocks = json_object_get(msg, "blocks");
	assert_true(json_array_size(blocks) <= 50);
	/* newest build first; the 20th shown is 2165; older ones are on the next page */
	p2184 = strstr(out, "2184-develop-");
	p2165 = strstr(out, "2165-develop-");
	assert_non_null(p2184);
	assert_non_null(p2165);
	assert_true(p2184 < p2165);
	assert_null(strstr(out, "2164-develop-"));
	assert_null(strstr(out, "nightly"));
	assert_non_null(strstr(out, "2183-develop-0888995`*  :star: latest"));
	assert_non_null(strstr(out, "<!date^"));
	btn = promote_button(f, 0, "2184-develop-");
	assert_non_null(btn);
	assert_string_equal(json_string_value(json_object_get(btn, "action_id")), "tag_promote");
	assert_non_null(json_object_get(btn, "confirm"));
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(json_object_get(btn, "confirm"), "text"), "text")),
			       "as latest"));
	free(out);
	/* a second listing reads build times from the store: no manifest or blob fetches */
	gets = f->reg->calls_get;
	blobs = f->reg->calls_blob;
	free(run_as(f, "U0ANYONE", "tags service-a"));
	assert_int_equal(f->reg->calls_get, gets);
	assert_int_equal(f->reg->calls_blob, blobs);
}

/* The 12 hex digits a listing shows of a digest (in a static buffer). */
static const char *short_of(const char *digest)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "`%.12s`", strchr(digest, ':') ? strchr(digest, ':') + 1 : "?");
	return buf;
}

/*
 * Build times are the slow part of a listing (a manifest and a config blob
 * per image). Unknown to the store, the tags are answered first and the
 * answer replaced once they are read; known, one answer; a couple unknown
 * are read before answering; one that cannot be read shows as unknown with
 * its digest.
 */
static void tags__cold_store__tags_first_then_build_times_in_place(void **state)
{
	struct fx *f = *state;
	json_t *first, *second;
	char *t0, *t1, *out;
	int blobs, gets;

	free(run_as(f, "U0ANYONE", "tags service-a"));
	assert_int_equal(json_array_size(f->t.sent), 2);
	first = json_array_get(f->t.sent, 0);
	second = json_array_get(f->t.sent, 1);
	assert_int_equal(json_integer_value(json_object_get(first, "flags")), REPLY_EPHEMERAL);
	assert_int_equal(json_integer_value(json_object_get(second, "flags")), REPLY_REPLACE);
	t0 = test_sent_text(&f->t, 0);
	t1 = test_sent_text(&f->t, 1);
	/* the first: every tag of the page, its digest and Promote button; no build time yet */
	assert_non_null(strstr(t0, "2184-develop-"));
	assert_non_null(strstr(t0, "2165-develop-"));
	assert_non_null(strstr(t0, "reading"));
	assert_null(strstr(t0, "<!date^"));
	assert_non_null(promote_button(f, 0, "2184-develop-"));
	assert_non_null(strstr(t0, short_of(fake_registry_digest(f->reg, REPO, "2184-develop-0889998"))));
	/* the second: the same tags with their build times (2184 was built at 1700000000 + 2184 * 60) */
	assert_null(strstr(t1, "reading"));
	assert_non_null(strstr(t1, "<!date^1700131040^"));
	assert_non_null(strstr(t1, "2165-develop-"));
	assert_int_equal(f->reg->calls_blob, 20);
	free(t0);
	free(t1);
	/* known now: one answer, no manifest or blob read */
	json_array_clear(f->t.sent);
	blobs = f->reg->calls_blob;
	gets = f->reg->calls_get;
	out = run_as(f, "U0ANYONE", "tags service-a");
	assert_int_equal(json_array_size(f->t.sent), 1);
	assert_non_null(strstr(out, "<!date^1700131040^"));
	assert_int_equal(f->reg->calls_blob, blobs);
	assert_int_equal(f->reg->calls_get, gets);
	free(out);
	/* two new builds: read before answering, one answer */
	fake_registry_push(f->reg, REPO, "2185-develop-0889ffd", 1700000000 + 2185 * 60);
	fake_registry_push(f->reg, REPO, "2186-develop-088a3fc", 1700000000 + 2186 * 60);
	json_array_clear(f->t.sent);
	out = run_as(f, "U0ANYONE", "tags service-a");
	assert_int_equal(json_array_size(f->t.sent), 1);
	assert_non_null(strstr(out, "<!date^1700131160^"));
	assert_null(strstr(out, "reading"));
	assert_int_equal(f->reg->calls_blob, blobs + 2);
	free(out);
	/* a build time that cannot be read: unknown, with the digest; the listing stands */
	fake_registry_push(f->reg, REPO, "2187-develop-088a7fb", 1700000000 + 2187 * 60);
	json_object_clear(json_object_get(json_object_get(f->reg->repos, REPO), "blobs"));
	json_array_clear(f->t.sent);
	out = run_as(f, "U0ANYONE", "tags service-a");
	assert_non_null(strstr(out, "*`2187-develop-088a7fb`*  `"));
	assert_non_null(strstr(out, short_of(fake_registry_digest(f->reg, REPO, "2187-develop-088a7fb"))));
	assert_non_null(strstr(out, "built unknown"));
	assert_non_null(strstr(out, "<!date^1700131160^"));
	free(out);
}

static void tags__more_button__next_page(void **state)
{
	struct fx *f = *state;
	json_t *blocks, *last, *payload;
	struct viva_ctx ctx;
	char *out;

	list_tags(f);
	blocks = json_object_get(test_sent_msg(&f->t, 0), "blocks");
	last = json_array_get(blocks, json_array_size(blocks) - 1);
	payload = json_pack("{s:s, s:[{s:s, s:O}]}", "type", "block_actions", "actions", "action_id", "tags_more",
			    "value", json_object_get(json_array_get(json_object_get(last, "elements"), 0), "value"));
	test_ctx(&f->t, &ctx, "U0ANYONE");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	json_decref(payload);
	/* the page replaces the clicked message, as every answer to the click does */
	for (size_t i = 1; i < json_array_size(f->t.sent); i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(f->t.sent, i), "flags")),
				 REPLY_REPLACE);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "2164-develop-"));
	assert_non_null(strstr(out, "nightly"));
	assert_null(strstr(out, "2184-develop-"));
	free(out);
}

static void promote__button__retags_verifies_reports_once(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload;
	char *out;
	const char *tag = "2184-develop-0889998";
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	int puts;

	list_tags(f);
	payload = click_payload(promote_button(f, 0, tag), "1700000000.000100");
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), fake_registry_digest(f->reg, REPO, tag));
	/* the clicked message is replaced (button gone), and the channel sees it */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f->t.sent, 1), "flags")), REPLY_REPLACE);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f->t.sent, 2), "flags")), REPLY_IN_CHANNEL);
	out = test_sent_text(&f->t, 1);
	assert_non_null(strstr(out, "<@U0DM> promoted *`2184-develop-0889998`*"));
	assert_non_null(strstr(out, fake_registry_digest(f->reg, REPO, tag)));
	assert_non_null(strstr(out, "verified"));
	free(out);
	out = json_dumps(test_sent_msg(&f->t, 1), 0);
	assert_null(strstr(out, "tag_promote"));   /* the used button is gone */
	free(out);
	/* a second click on the same button promotes nothing and says so */
	puts = f->reg->calls_put;
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	assert_int_equal(f->reg->calls_put, puts);
	out = test_sent_text(&f->t, 3);
	assert_non_null(strstr(out, "Already done"));
	assert_non_null(strstr(out, "<@U0DM>"));
	free(out);
	json_decref(payload);
	/* audit: who, what, target, digest */
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_true(n >= 1);
	assert_string_equal(e[0].action, "tag_promote");
	assert_string_equal(e[0].user_id, "U0DM");
	assert_string_equal(e[0].result, "ok");
	assert_non_null(strstr(e[0].params_json, "sha256:"));
	store_audit_free(e, n);
}

static void promote__stranger__refused_and_audited(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload;
	char *out;
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	const char *before = fake_registry_digest(f->reg, REPO, "latest");

	list_tags(f);
	payload = click_payload(promote_button(f, 0, "2184-develop-"), "1700000000.000200");
	json_object_set_new(json_object_get(payload, "user"), "id", json_string("U0STRANGER"));
	test_ctx(&f->t, &ctx, "U0STRANGER");
	dispatch_interaction(&ctx, payload);
	json_decref(payload);
	out = test_sent_text(&f->t, 1);
	assert_non_null(strstr(out, "only the owners and deploy managers of service-a"));
	free(out);
	assert_int_equal(f->reg->calls_put, 0);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), before);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].action, "tag_promote");
	assert_string_equal(e[0].user_id, "U0STRANGER");
	assert_string_equal(e[0].result, "denied: only the owners and deploy managers of service-a "
			    "(or viva admins) may do this");
	store_audit_free(e, n);
	/* the command is refused the same way */
	out = run_as(f, "U0STRANGER", "promote service-a 2184-develop-0889998");
	assert_non_null(strstr(out, "Sorry, only the owners and deploy managers"));
	free(out);
}

static void promote__command__custom_target_and_errors(void **state)
{
	struct fx *f = *state;
	char *out;

	out = run_as(f, "U0OWNER", "promote service-a 2170-develop-087b96e stable");
	assert_non_null(strstr(out, "promoted *`2170-develop-087b96e`* of *service-a* to `stable`"));
	free(out);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "stable"),
			    fake_registry_digest(f->reg, REPO, "2170-develop-087b96e"));
	out = run_as(f, "U0OWNER", "promote service-a nope-tag");
	assert_non_null(strstr(out, "tag nope-tag not found in team/service-a"));
	free(out);
	out = run_as(f, "U0OWNER", "promote service-a ../etc");
	assert_non_null(strstr(out, "not a valid image tag"));
	free(out);
	out = run_as(f, "U0OWNER", "promote nosuch 2170-develop-087b96e");
	assert_non_null(strstr(out, "no service named nosuch"));
	free(out);
	f->reg->fail_rc = VIVA_EUNAVAIL;
	f->reg->fail_msg = "the registry at http://127.0.0.1:1 is not reachable";
	out = run_as(f, "U0OWNER", "tags service-a");
	assert_non_null(strstr(out, "Could not list the tags of `team/service-a`: the registry at http://127.0.0.1:1 is not reachable"));
	free(out);
	f->reg->fail_rc = 0;
	f->t.env.registry = NULL;
	out = run_as(f, "U0OWNER", "tags service-a");
	assert_non_null(strstr(out, "No registry is configured: set REGISTRY_URL"));
	free(out);
	f->t.env.registry = &f->reg->base;
}

/*
 * The registry is down when the button is pressed: the audit log says the
 * promotion failed (not "ok" because the error reply was delivered), the
 * button stays usable, and pressing it again once the registry is back
 * promotes.
 */
static void promote__registry_down__audited_failed_and_button_usable_again(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload;
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	const char *tag = "2183-develop-0888995";
	char *out;

	list_tags(f);
	payload = click_payload(promote_button(f, 0, tag), "1700000000.000300");
	f->reg->fail_rc = VIVA_EUNAVAIL;
	f->reg->fail_msg = "the registry at http://127.0.0.1:1 is not reachable";
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EUNAVAIL);
	out = test_sent_text(&f->t, 1);
	assert_non_null(strstr(out, "Promotion of `2183-develop-0888995` to `latest` failed"));
	free(out);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].action, "tag_promote");
	assert_string_equal(e[0].result, "unavailable: Promotion of `2183-develop-0888995` to `latest` failed: "
			    "the registry at http://127.0.0.1:1 is not reachable.");
	store_audit_free(e, n);
	/* the same button, the registry back: it runs, once */
	f->reg->fail_rc = 0;
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), fake_registry_digest(f->reg, REPO, tag));
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].result, "ok");
	store_audit_free(e, n);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	json_decref(payload);
}

/* The command's outcome is the registry's, whatever the reply did. */
static void promote__command_registry_down__returns_failure(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	struct store_audit_entry *e = NULL;
	size_t n = 0;

	f->reg->fail_rc = VIVA_ETIMEOUT;
	f->reg->fail_msg = "the registry at http://127.0.0.1:1 did not answer within 30 s";
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_command(&ctx, "promote service-a 2170-develop-087b96e"), VIVA_ETIMEOUT);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].action, "promote");
	assert_non_null(strstr(e[0].result, "timed out: "));
	assert_non_null(strstr(e[0].result, "did not answer within 30 s"));
	store_audit_free(e, n);
	/* refused: EDENIED, audited as such */
	test_ctx(&f->t, &ctx, "U0STRANGER");
	assert_int_equal(dispatch_command(&ctx, "promote service-a 2170-develop-087b96e"), VIVA_EDENIED);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].action, "promote");
	assert_non_null(strstr(e[0].result, "denied: "));
	store_audit_free(e, n);
}

/*
 * A database from before the rule may hold two pipelines naming one
 * repository (the takeover: `evil` with image team/service-a). Registry
 * actions answer to the repository's owning pipeline, the first one: evil's
 * own owner is refused, and the attempt is audited under service-a with the
 * repository, where `/viva audit service-a` shows it.
 */
static void promote__legacy_duplicate_image__authorized_by_owning_pipeline(void **state)
{
	struct fx *f = *state;
	char *db = xasprintf("%s/viva.db", f->dir), *out, *sql, *errmsg = NULL;
	struct catalog_report rep;
	struct store_audit_entry *e = NULL;
	sqlite3 *raw = NULL;
	char err[256], *path;
	size_t n = 0;
	const char *before = fake_registry_digest(f->reg, REPO, "latest");

	store_close(f->t.env.store);
	assert_int_equal(store_open(db, &f->t.env.store), VIVA_OK);
	path = xasprintf("%s/evil.yaml", f->dir);
	test_write_file(path, "name: evil\nowners: [U0EVIL]\nrepository: { name: evil }\nimage: team/evil\n"
			      "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	catalog_report_init(&rep);
	assert_int_equal(catalog_apply_dir(&f->t.env, "test", &rep, err, sizeof(err)), VIVA_OK);
	catalog_report_release(&rep);
	/* what an old viva let in: evil's stored spec names team/service-a */
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	sql = xasprintf("UPDATE services SET created_at = created_at + 10, image = '%s', "
			"spec_yaml = replace(spec_yaml, 'team/evil', '%s') WHERE name = 'evil'", REPO, REPO);
	assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, &errmsg), SQLITE_OK);
	free(sql);
	sqlite3_close(raw);

	out = run_as(f, "U0EVIL", "promote evil 2181-develop-088698f");
	assert_non_null(strstr(out, "only the owners and deploy managers of service-a"));
	free(out);
	assert_int_equal(f->reg->calls_put, 0);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), before);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].action, "promote");
	assert_string_equal(e[0].user_id, "U0EVIL");
	assert_non_null(strstr(e[0].result, "denied: "));
	assert_non_null(strstr(e[0].params_json, "\"image\":\"team/service-a\""));
	assert_non_null(strstr(e[0].params_json, "\"service\":\"evil\""));
	store_audit_free(e, n);
	/* the owner of the repository may, and it is audited under service-a */
	out = run_as(f, "U0OWNER", "promote service-a 2181-develop-088698f");
	assert_non_null(strstr(out, "promoted"));
	free(out);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].result, "ok");
	assert_non_null(strstr(e[0].params_json, "\"image\":\"team/service-a\""));
	store_audit_free(e, n);
	free(db);
}

/*
 * A full disk (any write refused): the audit row and the click cannot be
 * recorded, so the promotion does not run, and the user is told why.
 * Before, the promote ran with no audit row and a click delivered twice
 * did two PUTs.
 */
static void promote__store_cannot_write__action_not_run(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload;
	char *out;

	list_tags(f);
	payload = click_payload(promote_button(f, 0, "2184-develop-"), "1700000000.000900");
	assert_int_equal(store_test_refuse_writes(f->t.env.store, 1), VIVA_OK);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EIO);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "could not record this click"));
	free(out);
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_command(&ctx, "promote service-a 2170-develop-087b96e"), VIVA_EIO);
	out = test_sent_text(&f->t, json_array_size(f->t.sent) - 1);
	assert_non_null(strstr(out, "could not write its audit log"));
	assert_non_null(strstr(out, "did nothing"));
	free(out);
	assert_int_equal(f->reg->calls_put, 0);
	/* the disk has room again: the same button works, once, audited */
	assert_int_equal(store_test_refuse_writes(f->t.env.store, 0), VIVA_OK);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	assert_int_equal(f->reg->calls_put, 1);
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	assert_int_equal(f->reg->calls_put, 1);
	json_decref(payload);
}

/* Forged clicks are refused and on the record, never audited as ok. */
static void promote__forged_values__refused_and_audited(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	json_t *p = json_pack("{s:s, s:{s:s}, s:{s:s, s:s}, s:[{s:s, s:s}]}", "type", "block_actions",
			      "user", "id", "U0DM", "container", "message_ts", "1700000000.000777", "channel_id", "C0T",
			      "actions", "action_id", "tag_promote", "value", "{\"svc\":\"../etc\"}");

	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EINVAL);
	assert_int_equal(store_audit_list(f->t.env.store, NULL, 5, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].action, "tag_promote");
	assert_non_null(strstr(e[0].result, "invalid argument: That button carries a value viva did not write"));
	assert_non_null(strstr(e[0].params_json, "../etc"));
	store_audit_free(e, n);
	/* a real service but no tag: refused by the handler, audited as invalid */
	json_object_set_new(json_array_get(json_object_get(p, "actions"), 0), "value",
			    json_string("{\"svc\":\"service-a\"}"));
	test_ctx(&f->t, &ctx, "U0DM");
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_EINVAL);
	assert_int_equal(store_audit_list(f->t.env.store, NULL, 5, &e, &n), VIVA_OK);
	assert_int_equal(n, 2);
	assert_non_null(strstr(e[0].result, "invalid argument"));
	store_audit_free(e, n);
	assert_int_equal(f->reg->calls_put, 0);
	json_decref(p);
}

/*
 * A PUT the registry applied before the connection was reset: the answer is
 * lost, not the change. The target's digest is read back and decides: the
 * promote succeeded, and says so (before: reported as failed, though latest
 * had moved).
 */
static void promote__put_applied_answer_lost__read_back_decides(void **state)
{
	struct fx *f = *state;
	const char *tag = "2180-develop-088598c";
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	char *out;

	f->reg->put_answer_lost = 1;
	out = run_as(f, "U0DM", "promote service-a 2180-develop-088598c");
	(void)tag;
	assert_non_null(strstr(out, "promoted"));
	assert_null(strstr(out, "failed"));
	free(out);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"),
			    fake_registry_digest(f->reg, REPO, "2180-develop-088598c"));
	assert_int_equal(f->reg->calls_put, 1);   /* not put twice */
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].result, "ok");
	store_audit_free(e, n);
}

/* What a process that died after `step` steps of a promote left behind. */
static int64_t promote_left_by_dead_process(struct fx *f, const char *tag, int step, const char *click_key,
					    int64_t audit_id)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "service", "service-a", "image", REPO, "tag", tag,
			      "target", "latest", "source_digest", fake_registry_digest(f->reg, REPO, tag),
			      "target_before", fake_registry_digest(f->reg, REPO, "latest"));
	char *data = json_dumps(d, JSON_COMPACT);
	struct store_op_new nw = { .kind = "promote", .target = "service-a", .data = data, .started_by = "U0DM",
				   .channel = "C0TEST", .holder = "gone-host:1", .audit_id = audit_id,
				   .click_key = click_key, .now = f->t.now - 100 };
	int64_t id = 0;

	assert_int_equal(store_op_begin(f->t.env.store, &nw, &id, NULL), VIVA_OK);
	if (step > 0)
		assert_int_equal(store_op_advance(f->t.env.store, id, "gone-host:1", step, data, f->t.now - 100),
				 VIVA_OK);
	free(data);
	json_decref(d);
	return id;
}

static enum store_op_state op_wait_end(struct fx *f, int64_t id, char **outcome)
{
	struct store_op op;
	enum store_op_state st = OP_RUNNING;

	for (int i = 0; i < 500 && st == OP_RUNNING; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		assert_int_equal(store_op_get(f->t.env.store, id, &op), VIVA_OK);
		st = op.state;
		if (st != OP_RUNNING && outcome)
			*outcome = op.outcome ? xstrdup(op.outcome) : NULL;
		store_op_release(&op);
		if (st == OP_RUNNING)
			nanosleep(&ts, NULL);
	}
	return st;
}

/*
 * kill -9 in the middle of a promote, three ways, each settled at the next
 * start by reading the target's digest:
 *  - after step 1 (nothing PUT yet): the PUT is made, once;
 *  - after the PUT but before it was recorded: no second PUT;
 *  - someone else moved latest meanwhile: nothing is overwritten, failed.
 * The audit row, left "running", gets the real result; the button's claim
 * is settled by the operation (failed: released).
 */
static void promote__crash_mid_operation__settled_at_start(void **state)
{
	struct fx *f = *state;
	const char *tag = "2181-develop-088698f", *tag2 = "2182-develop-0887992", *tag3 = "2183-develop-0888995";
	int64_t audit = 0, id;
	char *outcome = NULL, *user = NULL, *result = NULL;
	int64_t ts, op_id;
	struct store_audit_entry *e = NULL;
	size_t n = 0;

	assert_non_null(fake_registry_digest(f->reg, REPO, tag2)[0] ? "ok" : NULL);
	/* 1. died after reading the source */
	assert_int_equal(store_audit_begin(f->t.env.store, f->t.now - 100, "U0DM", "promote", "service-a", "{}",
					   &audit), VIVA_OK);
	assert_int_equal(store_action_claim(f->t.env.store, "k1", "U0DM", f->t.now - 100), VIVA_OK);
	id = promote_left_by_dead_process(f, tag, 1, "k1", audit);
	assert_int_equal(ops_new(&f->t.env, 1, &f->t.env.ops), VIVA_OK);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(op_wait_end(f, id, &outcome), OP_DONE);
	assert_non_null(strstr(outcome, "is now 2181-develop-088698f"));
	free(outcome);
	outcome = NULL;
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), fake_registry_digest(f->reg, REPO, tag));
	assert_int_equal(f->reg->calls_put, 1);
	assert_int_equal(store_audit_list(f->t.env.store, "service-a", 10, &e, &n), VIVA_OK);
	assert_string_equal(e[0].result, "ok (finished after a restart)");
	store_audit_free(e, n);
	assert_int_equal(store_action_get(f->t.env.store, "k1", &user, &ts, &result, &op_id), VIVA_OK);
	assert_int_equal(op_id, id);
	assert_non_null(result);
	assert_non_null(strstr(result, "done: "));
	free(user);
	free(result);
	/* a second start finds nothing to do */
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(f->reg->calls_put, 1);

	/* 2. died after the PUT, before recording it: read back, no second PUT */
	id = promote_left_by_dead_process(f, tag2, 1, NULL, 0);
	{
		struct registry_manifest m = { 0 };
		assert_int_equal(registry_get_manifest(f->t.env.registry, REPO, tag2, &m), VIVA_OK);
		assert_int_equal(registry_put_manifest(f->t.env.registry, REPO, "latest", &m, NULL), VIVA_OK);
		registry_manifest_release(&m);
	}
	assert_int_equal(f->reg->calls_put, 2);
	assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
	assert_int_equal(op_wait_end(f, id, NULL), OP_DONE);
	assert_int_equal(f->reg->calls_put, 2);
	assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), fake_registry_digest(f->reg, REPO, tag2));

	/* 3. someone pushed latest while viva was down: not overwritten */
	assert_int_equal(store_action_claim(f->t.env.store, "k3", "U0DM", f->t.now - 100), VIVA_OK);
	id = promote_left_by_dead_process(f, tag3, 1, "k3", 0);
	fake_registry_push(f->reg, REPO, "latest", 1600000000);
	{
		char *pushed = xstrdup(fake_registry_digest(f->reg, REPO, "latest"));
		int puts = f->reg->calls_put;

		assert_int_equal(ops_resume(f->t.env.ops), VIVA_OK);
		assert_int_equal(op_wait_end(f, id, &outcome), OP_FAILED);
		assert_non_null(strstr(outcome, "was moved by someone else"));
		assert_string_equal(fake_registry_digest(f->reg, REPO, "latest"), pushed);
		assert_int_equal(f->reg->calls_put, puts);
		free(pushed);
		free(outcome);
	}
	/* a failed operation releases its button */
	assert_int_equal(store_action_get(f->t.env.store, "k3", &user, &ts, &result, &op_id), VIVA_ENOENT);
}

/*
 * A click on a button whose operation is still running is told so, and
 * never runs it again, however old the claim: the button is tied to the
 * operation, not to a 10-minute age.
 */
static void promote__click_while_operation_runs__told_its_state(void **state)
{
	struct fx *f = *state;
	struct viva_ctx ctx;
	json_t *payload, *button;
	const char *tag = "2184-develop-0889998";
	char *key, *out;
	int64_t id;

	list_tags(f);
	button = promote_button(f, 0, tag);
	payload = click_payload(button, "1700000000.000900");
	key = xasprintf("tag_promote|1700000000.000900|%s", json_string_value(json_object_get(button, "value")));
	/* an hour ago, a click started an operation that still runs (its holder beats) */
	assert_int_equal(store_action_claim(f->t.env.store, key, "U0DM", f->t.now - 3600), VIVA_OK);
	{
		struct store_op_new nw = { .kind = "promote", .target = "service-a", .data = "{}", .started_by = "U0DM",
					   .holder = ops_holder(), .click_key = key, .now = f->t.now - 3600 };
		assert_int_equal(store_op_begin(f->t.env.store, &nw, &id, NULL), VIVA_OK);
	}
	test_ctx(&f->t, &ctx, "U0OWNER");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EDUP);
	assert_int_equal(f->reg->calls_put, 0);
	out = test_sent_text(&f->t, 1);
	{
		char *want = xasprintf("promote #%lld is still running (step 1 of 4)", (long long)id);
		assert_non_null(strstr(out, want));
		free(want);
	}
	free(out);
	json_decref(payload);
	free(key);
}

/* A refusal for a service that does not exist is on the record too. */
static void promote__unknown_service__refused_and_audited(void **state)
{
	struct fx *f = *state;
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	char *out = run_as(f, "U0DM", "promote ghost 2184-develop-0889998");

	assert_non_null(strstr(out, "ghost"));
	free(out);
	assert_int_equal(f->reg->calls_put, 0);
	assert_int_equal(store_audit_list(f->t.env.store, "ghost", 10, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].action, "promote");
	assert_string_equal(e[0].user_id, "U0DM");
	assert_non_null(strstr(e[0].result, "not found: "));
	store_audit_free(e, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(promote__put_applied_answer_lost__read_back_decides, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__unknown_service__refused_and_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__crash_mid_operation__settled_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__click_while_operation_runs__told_its_state, setup, teardown),
		cmocka_unit_test_setup_teardown(tags__newest_first_with_digest_date_and_promote, setup, teardown),
		cmocka_unit_test_setup_teardown(tags__cold_store__tags_first_then_build_times_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(tags__more_button__next_page, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__button__retags_verifies_reports_once, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__stranger__refused_and_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__command__custom_target_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__registry_down__audited_failed_and_button_usable_again,
						setup, teardown),
		cmocka_unit_test_setup_teardown(promote__command_registry_down__returns_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__legacy_duplicate_image__authorized_by_owning_pipeline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(promote__store_cannot_write__action_not_run, setup, teardown),
		cmocka_unit_test_setup_teardown(promote__forged_values__refused_and_audited, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
