/* The local console: terminal rendering of Block Kit, and `click N`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/console.h"
#include "bot/lib/err.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "store/audit.h"
#include "tests/helpers.h"

static void mrkdwn__links_mentions_dates_entities__readable(void **state)
{
	char *s;
	(void)state;
	s = console_mrkdwn("hi <@U012AB3CD> in <#C123|deploys>: see <https://x.example/a|the page> "
			   "or <https://y.example> at <!date^1700000000^{date}|2023-11-14> &lt;b&gt; &amp; <!here>");
	assert_string_equal(s, "hi @U012AB3CD in #deploys: see the page (https://x.example/a) or "
			       "https://y.example at 2023-11-14 <b> & @here");
	free(s);
	s = console_mrkdwn("unclosed <tag and a & alone");
	assert_string_equal(s, "unclosed <tag and a & alone");
	free(s);
	s = console_mrkdwn(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void render__blocks__header_sections_fields_context_buttons(void **state)
{
	json_t *buttons = json_array();
	json_error_t jerr;
	json_t *msg = json_loads(
		"{\"text\":\"fallback\",\"blocks\":["
		"{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":\"Tags of svc-a\"}},"
		"{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"*2182* by <@U1>\\nsecond line\"},"
		" \"accessory\":{\"type\":\"button\",\"action_id\":\"tag_promote\",\"value\":\"2182\","
		"  \"text\":{\"type\":\"plain_text\",\"text\":\"Promote\"},"
		"  \"confirm\":{\"title\":{\"type\":\"plain_text\",\"text\":\"Sure?\"},\"text\":{\"type\":\"plain_text\",\"text\":\"x\"},"
		"   \"confirm\":{\"type\":\"plain_text\",\"text\":\"Yes\"},\"deny\":{\"type\":\"plain_text\",\"text\":\"No\"}}}},"
		"{\"type\":\"section\",\"fields\":[{\"type\":\"mrkdwn\",\"text\":\"f1\"},{\"type\":\"plain_text\",\"text\":\"f2 &lt;\"}]},"
		"{\"type\":\"divider\"},"
		"{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":\"small print\"}]},"
		"{\"type\":\"actions\",\"block_id\":\"b1\",\"elements\":["
		" {\"type\":\"button\",\"action_id\":\"more\",\"text\":{\"type\":\"plain_text\",\"text\":\"More\"}},"
		" {\"type\":\"button\",\"action_id\":\"del\",\"style\":\"danger\",\"text\":{\"type\":\"plain_text\",\"text\":\"Delete\"}}]}"
		"]}", 0, &jerr);
	char *s;
	(void)state;

	assert_non_null(msg);
	s = console_render(msg, buttons);
	assert_string_equal(s,
		"== Tags of svc-a ==\n"
		"*2182* by @U1\n"
		"second line\n"
		"  [1] Promote (asks to confirm)  \n"
		"  f1\n"
		"  f2 &lt;\n"
		"----\n"
		"  . small print\n"
		"[2] More  [3] Delete (!)  \n");
	assert_int_equal(json_array_size(buttons), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(buttons, 0), "action_id")), "tag_promote");
	assert_string_equal(json_string_value(json_object_get(json_array_get(buttons, 0), "value")), "2182");
	assert_non_null(json_object_get(json_array_get(buttons, 0), "confirm"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(buttons, 2), "block_id")), "b1");
	free(s);
	json_decref(msg);
	json_decref(buttons);
}

static void render__no_blocks__falls_back_to_text(void **state)
{
	json_t *msg = json_pack("{s:s}", "text", "just &amp; text");
	char *s = console_render(msg, NULL);
	(void)state;
	assert_string_equal(s, "just & text\n");
	free(s);
	json_decref(msg);
	msg = json_pack("{s:i, s:[i, s, {}]}", "text", 5, "blocks", 1, "x");
	s = console_render(msg, NULL);   /* malformed: no crash */
	assert_non_null(s);
	free(s);
	json_decref(msg);
}

/* Run console lines, return everything printed (caller frees). */
static char *console_session(struct test_env *t, const char **lines, bool json_out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	struct console *c = console_new(&t->env, out, json_out);

	for (const char **l = lines; *l; l++)
		console_line(c, *l);
	console_free(c);
	fclose(out);
	return buf;
}

static void console__help__renders_for_terminal(void **state)
{
	struct test_env t;
	const char *lines[] = { "/viva help", NULL };
	char *out;
	(void)state;

	test_env_init(&t);
	out = console_session(&t, lines, false);
	assert_non_null(strstr(out, "== viva: ChatOps for services and clusters =="));
	assert_non_null(strstr(out, "*`/viva audit [SVC]`*"));
	assert_null(strstr(out, "\"blocks\""));
	free(out);
	test_env_release(&t);
}

static void console__click__dispatches_block_actions(void **state)
{
	struct test_env t;
	const char *lines[] = { "audit", "click 1", "click 9", "click x", NULL };
	char *out;
	(void)state;

	test_env_init(&t);
	for (int i = 0; i < 20; i++)
		store_audit_add(t.env.store, 1000 + i, "U0BOB", "promote", i < 5 ? "old-svc" : "new-svc", NULL, "ok");
	out = console_session(&t, lines, false);
	/* first page: newest entries and the button */
	assert_non_null(strstr(out, "[1] Older entries"));
	/* the click replaced the message with the older page */
	assert_non_null(strstr(out, "(the message above is now:)"));
	assert_non_null(strstr(strstr(out, "(the message above is now:)"), "old-svc"));
	assert_non_null(strstr(out, "No button 9: the last message has 0 button(s)."));
	assert_non_null(strstr(out, "No button x"));
	free(out);
	test_env_release(&t);
}

static void console__json_mode__prints_block_kit(void **state)
{
	struct test_env t;
	const char *lines[] = { "help audit", NULL };
	json_error_t jerr;
	json_t *j;
	char *out;
	(void)state;

	test_env_init(&t);
	out = console_session(&t, lines, true);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	assert_true(json_is_array(json_object_get(j, "blocks")));
	json_decref(j);
	free(out);
	test_env_release(&t);
}

static void console__other_slash_command__explains(void **state)
{
	struct test_env t;
	const char *lines[] = { "/other help", NULL };
	char *out;
	(void)state;

	test_env_init(&t);
	out = console_session(&t, lines, false);
	assert_non_null(strstr(out, "This console runs /viva commands"));
	free(out);
	test_env_release(&t);
}

static void console__reload__picks_up_edited_templates(void **state)
{
	struct test_env t;
	char *dir = test_tmpdir(), *cmd, *path, *out, err[512];
	const char *lines[] = { "help audit", "reload", "help audit", NULL };
	const char *bad[] = { "reload", "help audit", NULL };
	struct tmpl_set *orig;
	int st;
	(void)state;

	test_env_init(&t);
	/* the operator's way: dump the built-in set, edit one file */
	cmd = xasprintf("'%s' templates dump '%s'", getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "build/san/viva", dir);
	free(test_run(cmd, &st));
	assert_int_equal(st, 0);
	orig = t.env.tmpl;
	assert_int_equal(tmpl_set_load(dir, &t.env.tmpl, err, sizeof(err)), VIVA_OK);
	path = xasprintf("%s/slack/help_command.json", dir);
	out = console_session(&t, lines, false);   /* loads, then reload is a no-op */
	free(out);
	test_write_file(path, "{\"text\": \"x\", \"blocks\": [{\"type\": \"header\", \"text\": "
			"{\"type\": \"plain_text\", \"text\": \"EDITED {{name}}\"}}]}");
	out = console_session(&t, lines, false);
	assert_non_null(strstr(out, "Templates reloaded"));
	assert_non_null(strstr(out, "== EDITED audit =="));
	free(out);
	test_write_file(path, "{ not json");
	out = console_session(&t, bad, false);
	assert_non_null(strstr(out, "Reload failed, the old templates stay"));
	assert_non_null(strstr(out, "slack/help_command"));
	assert_non_null(strstr(out, "== EDITED audit =="));
	free(out);
	tmpl_set_free(t.env.tmpl);
	t.env.tmpl = orig;
	free(path);
	free(cmd);
	test_rm_rf(dir);
	free(dir);
	test_env_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mrkdwn__links_mentions_dates_entities__readable),
		cmocka_unit_test(render__blocks__header_sections_fields_context_buttons),
		cmocka_unit_test(render__no_blocks__falls_back_to_text),
		cmocka_unit_test(console__help__renders_for_terminal),
		cmocka_unit_test(console__click__dispatches_block_actions),
		cmocka_unit_test(console__json_mode__prints_block_kit),
		cmocka_unit_test(console__other_slash_command__explains),
		cmocka_unit_test(console__reload__picks_up_edited_templates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
