/* The command and action tables, and the dispatcher in front of them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bot/auth.h"
#include "bot/commands.h"
#include "bot/model/builtin.h"
#include "bot/lib/cron.h"
#include "bot/sched_thread.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"
#include "store/audit.h"
#include "store/envelopes.h"
#include "tests/helpers.h"

/*
 * What a command row must satisfy; the number of problems, each printed.
 * Kept as a function so that a test can show it catches a bad row.
 */
static int check_cmd_rows(const struct cmd *t, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const struct cmd *c = &t[i];
		const char *why = NULL;

		if (!c->name || !c->fn || !c->usage || !c->summary || strlen(c->summary) <= 5)
			why = "name, handler, usage and a summary are required";
		else if (strncmp(c->usage, c->name, strlen(c->name)) != 0)
			why = "usage must start with the command's name";
		else if (c->min_args < 0 || c->min_args > c->max_args)
			why = "bad arity";
		else if (c->danger != SAFE && c->danger != DESTRUCTIVE)
			why = "danger not declared (SAFE or DESTRUCTIVE)";
		else if (c->danger == DESTRUCTIVE && !(c->flags & CMD_CONFIRM))
			why = "DESTRUCTIVE without CMD_CONFIRM";
		else if (c->danger == SAFE && (c->flags & CMD_CONFIRM))
			why = "CMD_CONFIRM on a SAFE row";
		else if (c->danger == DESTRUCTIVE && !(c->flags & CMD_WRITE))
			why = "DESTRUCTIVE but not CMD_WRITE (not audit-logged)";
		else if ((c->flags & (CMD_DEPLOY | CMD_OWNER)) && !(c->flags & CMD_SVC))
			why = "a service permission on a row without a service";
		for (size_t j = i + 1; !why && c->name && j < n; j++)
			if (t[j].name && strcmp(c->name, t[j].name) == 0)
				why = "duplicate name";
		if (why) {
			print_error("command row \"%s\": %s\n", c->name ? c->name : "(null)", why);
			bad++;
		}
	}
	return bad;
}

static int check_act_rows(const struct act *t, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const struct act *a = &t[i];
		const char *why = NULL;

		if (!a->fn || !a->summary || !a->action_id || !*a->action_id || strlen(a->action_id) > 255)
			why = "handler, summary and an action_id of 1..255 characters are required";
		else if (a->danger != SAFE && a->danger != DESTRUCTIVE)
			why = "danger not declared (SAFE or DESTRUCTIVE)";
		else if (a->danger == DESTRUCTIVE && !((a->flags & ACT_CONFIRM) && (a->flags & ACT_WRITE)))
			why = "DESTRUCTIVE without ACT_CONFIRM and ACT_WRITE";
		else if (a->danger == SAFE && (a->flags & ACT_CONFIRM))
			why = "ACT_CONFIRM on a SAFE row";
		for (size_t j = i + 1; !why && j < n; j++)
			if (t[j].action_id && strcmp(a->action_id, t[j].action_id) == 0)
				why = "duplicate action_id";
		if (why) {
			print_error("action row \"%s\": %s\n", a->action_id ? a->action_id : "(null)", why);
			bad++;
		}
	}
	return bad;
}

/*
 * Buttons of DESTRUCTIVE actions anywhere in template tree t (path for
 * messages) that carry no confirm dialog. Action ids are literal in
 * templates; a templated one ({{...}}) cannot be checked and is refused.
 */
static int unconfirmed_buttons(json_t *t, const char *where, const struct act *acts, size_t nacts)
{
	int bad = 0;
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_array(t)) {
		json_array_foreach(t, i, v)
			bad += unconfirmed_buttons(v, where, acts, nacts);
		return bad;
	}
	if (!json_is_object(t))
		return 0;
	if (json_is_string(json_object_get(t, "action_id"))) {
		const char *id = json_string_value(json_object_get(t, "action_id"));

		if (strstr(id, "{{")) {
			print_error("%s: action_id %s is templated; the confirm check needs it literal\n", where, id);
			bad++;
		}
		for (size_t a = 0; a < nacts; a++)
			if (strcmp(acts[a].action_id, id) == 0 && acts[a].danger == DESTRUCTIVE &&
			    !json_is_object(json_object_get(t, "confirm"))) {
				print_error("%s: button %s is DESTRUCTIVE but has no confirm dialog\n", where, id);
				bad++;
			}
	}
	json_object_foreach(t, k, v)
		bad += unconfirmed_buttons(v, where, acts, nacts);
	return bad;
}

static void table__rows__complete_unique_and_danger_declared(void **state)
{
	(void)state;
	assert_true(cmd_table_len > 0);
	assert_int_equal(check_cmd_rows(cmd_table, cmd_table_len), 0);
	assert_int_equal(check_act_rows(act_table, act_table_len), 0);
	for (size_t i = 0; i < act_table_len; i++)
		assert_ptr_equal(act_lookup(act_table[i].action_id), &act_table[i]);
	assert_null(act_lookup("no_such_action"));
	assert_null(act_lookup(NULL));
}

/* SPEC section 4: these buttons carry a confirm dialog, whatever the table says. */
static void table__spec_confirm_buttons__declared_destructive(void **state)
{
	static const char *spec_confirm[] = { "tag_promote", "bluegreen_trigger", "unused_confirm",
					      "pipeline_delete", "node_drain", "node_upgrade", "node_upgrade_resume",
					      NULL };
	(void)state;
	for (const char **d = spec_confirm; *d; d++) {
		const struct act *a = act_lookup(*d);
		if (a)   /* rows that exist yet */
			assert_int_equal(a->danger, DESTRUCTIVE);
	}
}

static void table__destructive_buttons_in_templates__all_confirm(void **state)
{
	int checked = 0;
	(void)state;
	for (size_t i = 0; i < builtin_files_len; i++) {
		json_t *t;

		if (!strstr(builtin_files[i].path, ".json"))
			continue;
		t = json_loadb((const char *)builtin_files[i].data, builtin_files[i].len, 0, NULL);
		assert_non_null(t);
		assert_int_equal(unconfirmed_buttons(t, builtin_files[i].path, act_table, act_table_len), 0);
		json_decref(t);
		checked++;
	}
	assert_true(checked > 0);
}

static int row_fn(struct viva_ctx *ctx)
{
	(void)ctx;
	return VIVA_OK;
}

/* The checks above can fail: rows a careless edit could write are caught. */
static void table__checker__catches_bad_rows_and_unconfirmed_buttons(void **state)
{
	const struct cmd bad_cmds[] = {
		/* a blue-green switch declared destructive but without CONFIRM */
		{ "deploy bluegreen", row_fn, 1, 3, CMD_SVC | CMD_WRITE | CMD_DEPLOY, DESTRUCTIVE,
		  "deploy bluegreen SVC [TAG]", "switch live traffic to the idle colour", NULL },
		/* a row that never said */
		{ "node drain", row_fn, 1, 1, CMD_WRITE | CMD_ADMIN, DANGER_UNDECLARED,
		  "node drain HOST", "evict every pod from a node", NULL },
		{ "status", row_fn, 1, 2, CMD_SVC | CMD_CONFIRM, SAFE, "status SVC", "colours and replicas", NULL },
	};
	const struct act bad_acts[] = {
		{ "rollback", row_fn, ACT_WRITE | ACT_DEPLOY, DESTRUCTIVE, "switch back" },
		{ "tags_more", row_fn, 0, DANGER_UNDECLARED, "older tags" },
	};
	const struct act acts[] = { { "rollback", row_fn, ACT_WRITE | ACT_CONFIRM, DESTRUCTIVE, "switch back" } };
	json_t *tmpl = json_pack("{s:[{s:s, s:[{s:s, s:s}]}]}", "blocks", "type", "actions", "elements",
				 "type", "button", "action_id", "rollback");
	(void)state;
	assert_int_equal(check_cmd_rows(bad_cmds, 3), 3);
	assert_int_equal(check_act_rows(bad_acts, 2), 2);
	assert_int_equal(unconfirmed_buttons(tmpl, "test", acts, 1), 1);
	json_object_set_new(json_array_get(json_object_get(json_array_get(json_object_get(tmpl, "blocks"), 0),
							   "elements"), 0),
			    "confirm", json_pack("{s:{s:s, s:s}}", "title", "type", "plain_text", "text", "Sure?"));
	assert_int_equal(unconfirmed_buttons(tmpl, "test", acts, 1), 0);
	json_decref(tmpl);
}

static void lookup__multiword__takes_longest_match(void **state)
{
	char *one[] = { "help", "audit", NULL };
	char *none[] = { "frobnicate", NULL };
	int used = -1;
	(void)state;
	assert_string_equal(cmd_lookup(2, one, &used)->name, "help");
	assert_int_equal(used, 1);
	assert_null(cmd_lookup(1, none, &used));
	assert_int_equal(used, 0);
}

/* Dispatch `text` as U0ALICE; return the text of the single reply (caller frees). */
static char *run(struct test_env *t, const char *text, int *rc, unsigned *flags)
{
	struct viva_ctx ctx;
	size_t before = json_array_size(t->sent);

	test_ctx(t, &ctx, "U0ALICE");
	*rc = dispatch_command(&ctx, text);
	assert_int_equal(json_array_size(t->sent), before + 1);
	if (flags)
		*flags = (unsigned)json_integer_value(json_object_get(json_array_get(t->sent, before), "flags"));
	return test_sent_text(t, before);
}

static void dispatch__unknown_command__ephemeral_error_with_hint(void **state)
{
	struct test_env t;
	unsigned flags = 99;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "frobnicate now", &rc, &flags);
	assert_non_null(strstr(s, "Unknown command `frobnicate`"));
	assert_non_null(strstr(s, "/viva help"));
	assert_int_equal(flags, REPLY_EPHEMERAL);
	free(s);
	test_env_release(&t);
}

static void dispatch__too_many_args__shows_usage(void **state)
{
	struct test_env t;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "audit a b", &rc, NULL);
	assert_non_null(strstr(s, "fewer arguments"));
	assert_non_null(strstr(s, "/viva audit [SVC]"));
	free(s);
	test_env_release(&t);
}

static void dispatch__bad_service_name__refused_before_handler(void **state)
{
	struct test_env t;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "audit Bad_Name;DROP", &rc, NULL);
	assert_non_null(strstr(s, "is not a valid service name"));
	free(s);
	s = run(&t, "audit \"a b\"", &rc, NULL);
	assert_non_null(strstr(s, "is not a valid service name"));
	free(s);
	s = run(&t, "audit 'unterminated", &rc, NULL);
	assert_non_null(strstr(s, "unterminated quote"));
	free(s);
	test_env_release(&t);
}

static void dispatch__bare_command__is_help(void **state)
{
	struct test_env t;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "   ", &rc, NULL);
	assert_int_equal(rc, VIVA_OK);
	for (size_t i = 0; i < cmd_table_len; i++) {
		char *u = xasprintf("/viva %s", cmd_table[i].usage);
		assert_non_null(strstr(s, u));
		free(u);
	}
	free(s);
	test_env_release(&t);
}

static void help__one_command__usage_and_example(void **state)
{
	struct test_env t;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "help audit", &rc, NULL);
	assert_int_equal(rc, VIVA_OK);
	assert_non_null(strstr(s, "/viva audit [SVC]"));
	assert_non_null(strstr(s, "/viva audit service-a"));
	free(s);
	s = run(&t, "help nosuch", &rc, NULL);
	assert_non_null(strstr(s, "There is no command `nosuch`"));
	free(s);
	test_env_release(&t);
}

static void audit__entries__listed_newest_first_and_escaped(void **state)
{
	struct test_env t;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	s = run(&t, "audit", &rc, NULL);
	assert_non_null(strstr(s, "Nothing recorded yet"));
	free(s);
	assert_int_equal(store_audit_add(t.env.store, 100, "U0BOB", "promote", "svc-a",
					 "{\"tag\":\"<script>&\"}", "ok"), VIVA_OK);
	assert_int_equal(store_audit_add(t.env.store, 200, "U0CAROL", "deploy", "svc-b", NULL, "ok"), VIVA_OK);
	s = run(&t, "audit", &rc, NULL);
	assert_non_null(strstr(s, "<@U0BOB>"));
	assert_non_null(strstr(s, "&lt;script&gt;&amp;"));
	assert_null(strstr(s, "<script>"));
	assert_true(strstr(s, "deploy") < strstr(s, "promote"));  /* newest first */
	free(s);
	s = run(&t, "audit svc-a", &rc, NULL);
	assert_non_null(strstr(s, "promote"));
	assert_null(strstr(s, "U0CAROL"));
	free(s);
	test_env_release(&t);
}

static void audit__more_button__pages_older_entries(void **state)
{
	struct test_env t;
	struct viva_ctx ctx;
	json_t *payload, *blocks, *last, *btn;
	int rc;
	char *s;
	(void)state;

	test_env_init(&t);
	for (int i = 0; i < 20; i++) {
		char target[16];
		snprintf(target, sizeof(target), "svc-%02d", i);
		store_audit_add(t.env.store, 1000 + i, "U0BOB", "promote", target, NULL, "ok");
	}
	s = run(&t, "audit", &rc, NULL);
	assert_non_null(strstr(s, "svc-19"));
	assert_null(strstr(s, "svc-00"));
	free(s);
	blocks = json_object_get(test_sent_msg(&t, 0), "blocks");
	last = json_array_get(blocks, json_array_size(blocks) - 1);
	btn = json_array_get(json_object_get(last, "elements"), 0);
	assert_string_equal(json_string_value(json_object_get(btn, "action_id")), "audit_more");
	payload = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "type", "block_actions", "actions",
			    "action_id", "audit_more", "type", "button",
			    "value", json_string_value(json_object_get(btn, "value")));
	test_ctx(&t, &ctx, "U0ALICE");
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_OK);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(t.sent, 1), "flags")), REPLY_REPLACE);
	s = test_sent_text(&t, 1);
	assert_non_null(strstr(s, "svc-00"));
	assert_null(strstr(s, "svc-19"));
	free(s);
	/* a forged value is refused, not trusted */
	json_object_set_new(json_array_get(json_object_get(payload, "actions"), 0), "value",
			    json_string("5 ../../etc"));
	assert_int_equal(dispatch_interaction(&ctx, payload), VIVA_EINVAL);
	s = test_sent_text(&t, 2);
	assert_non_null(strstr(s, "did not write"));
	free(s);
	json_decref(payload);
	test_env_release(&t);
}

static void interaction__unknown_action__error_not_crash(void **state)
{
	struct test_env t;
	struct viva_ctx ctx;
	json_t *p;
	char *s;
	(void)state;

	test_env_init(&t);
	test_ctx(&t, &ctx, "U0ALICE");
	p = json_pack("{s:s, s:[{s:s}]}", "type", "block_actions", "actions", "action_id", "nope");
	dispatch_interaction(&ctx, p);
	json_decref(p);
	s = test_sent_text(&t, 0);
	assert_non_null(strstr(s, "does not know the action `nope`"));
	free(s);
	/* malformed payloads: no actions, wrong types, not an interaction */
	p = json_pack("{s:s, s:i}", "type", "block_actions", "actions", 3);
	dispatch_interaction(&ctx, p);
	json_decref(p);
	p = json_pack("{s:i}", "type", 7);
	assert_int_equal(dispatch_interaction(&ctx, p), VIVA_OK);
	json_decref(p);
	test_env_release(&t);
}

static void auth__admins_and_refusals(void **state)
{
	struct test_env t;
	char why[256];
	char *admins[] = { "U0ADMIN01", NULL };
	char **saved;
	(void)state;

	test_env_init(&t);
	saved = t.cfg.admin_users;
	t.cfg.admin_users = admins;
	assert_true(auth_is_admin(&t.env, "U0ADMIN01"));
	assert_false(auth_is_admin(&t.env, "U0ALICE"));
	assert_false(auth_is_admin(&t.env, NULL));
	assert_int_equal(auth_check(&t.env, "U0ALICE", 0, NULL, why, sizeof(why)), VIVA_OK);
	assert_int_equal(auth_check(&t.env, "U0ALICE", CMD_ADMIN, NULL, why, sizeof(why)), VIVA_EDENIED);
	assert_non_null(strstr(why, "admins"));
	assert_int_equal(auth_check(&t.env, "U0ADMIN01", CMD_ADMIN, NULL, why, sizeof(why)), VIVA_OK);
	/* service-scoped rights need the service (tests/test_pipeline.c covers owners) */
	assert_int_equal(auth_check(&t.env, "U0ALICE", CMD_OWNER | CMD_SVC, "svc-a", why, sizeof(why)),
			 VIVA_ENOENT);
	assert_non_null(strstr(why, "no service named svc-a"));
	t.cfg.admin_users = saved;
	test_env_release(&t);
}

static void housekeeping__prunes_envelopes_older_than_a_week(void **state)
{
	struct test_env t;
	(void)state;

	test_env_init(&t);
	assert_int_equal(store_envelope_claim(t.env.store, "old", "slash_commands", t.now - 8 * 86400), VIVA_OK);
	assert_int_equal(store_envelope_claim(t.env.store, "new", "slash_commands", t.now - 3600), VIVA_OK);
	assert_int_equal(sched_run_task(&t.env, "housekeeping", 0), VIVA_OK);
	/* the old id is forgotten (claimable again), the recent one is not */
	assert_int_equal(store_envelope_claim(t.env.store, "old", "slash_commands", t.now), VIVA_OK);
	assert_int_equal(store_envelope_claim(t.env.store, "new", "slash_commands", t.now), VIVA_EDUP);
	assert_int_equal(sched_run_task(&t.env, "no-such-task", 0), VIVA_ENOENT);
	test_env_release(&t);
}

static void sched_table__tasks_have_valid_cron_defaults(void **state)
{
	struct cron_expr ce;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sched_table_len; i++) {
		assert_non_null(sched_table[i].fn);
		assert_int_equal(cron_parse(sched_table[i].expr_default, &ce, err, sizeof(err)), VIVA_OK);
		assert_ptr_equal(sched_task_lookup(sched_table[i].name), &sched_table[i]);
	}
}

static void utf8__invalid_bytes__replaced_and_commands_still_answered(void **state)
{
	struct test_env t;
	char *s;
	int rc;
	(void)state;

	s = utf8_sanitize("ok \xc3\xa9 \xc1 \xed\xa0\x80 \xf0\x9f\x98\x80 \xe2\x82", 19);
	assert_string_equal(s, "ok \xc3\xa9 ? ??? \xf0\x9f\x98\x80 ??");
	free(s);
	/* found by tests/fuzz/fuzz_dispatch: invalid UTF-8 from a terminal */
	test_env_init(&t);
	s = run(&t, "pip\xc1line list", &rc, NULL);
	assert_non_null(strstr(s, "Unknown command `pip?line`"));
	free(s);
	test_env_release(&t);
}

/* the event loop's lane choice: only commands that open a form are urgent */
static void commands__urgent_text__only_forms(void **state)
{
	(void)state;
	assert_true(cmd_text_is_urgent("pipeline create"));
	assert_true(cmd_text_is_urgent("  pipeline\tcreate  extra words"));
	assert_false(cmd_text_is_urgent("pipeline list"));
	assert_false(cmd_text_is_urgent("pipeline"));
	assert_false(cmd_text_is_urgent("tags svc"));
	assert_false(cmd_text_is_urgent(""));
	assert_false(cmd_text_is_urgent(NULL));
	for (size_t i = 0; i < cmd_table_len; i++)
		if (cmd_table[i].flags & CMD_VIEW)
			assert_true(cmd_text_is_urgent(cmd_table[i].name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commands__urgent_text__only_forms),
		cmocka_unit_test(table__rows__complete_unique_and_danger_declared),
		cmocka_unit_test(table__spec_confirm_buttons__declared_destructive),
		cmocka_unit_test(table__destructive_buttons_in_templates__all_confirm),
		cmocka_unit_test(table__checker__catches_bad_rows_and_unconfirmed_buttons),
		cmocka_unit_test(lookup__multiword__takes_longest_match),
		cmocka_unit_test(dispatch__unknown_command__ephemeral_error_with_hint),
		cmocka_unit_test(dispatch__too_many_args__shows_usage),
		cmocka_unit_test(dispatch__bad_service_name__refused_before_handler),
		cmocka_unit_test(dispatch__bare_command__is_help),
		cmocka_unit_test(help__one_command__usage_and_example),
		cmocka_unit_test(audit__entries__listed_newest_first_and_escaped),
		cmocka_unit_test(audit__more_button__pages_older_entries),
		cmocka_unit_test(interaction__unknown_action__error_not_crash),
		cmocka_unit_test(auth__admins_and_refusals),
		cmocka_unit_test(housekeeping__prunes_envelopes_older_than_a_week),
		cmocka_unit_test(sched_table__tasks_have_valid_cron_defaults),
		cmocka_unit_test(utf8__invalid_bytes__replaced_and_commands_still_answered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
