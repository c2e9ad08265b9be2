#include "bot/model/builtin.h"
#include "bot/model/tmpl.h"
#include "bot/lib/fileio.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

	if (!v)
		fail_msg("test JSON does not parse: %s (line %d): %s", je.text, je.line, text);
	return v;
}

/* Render template text with data text (NULL = no data) as template "t". */
static int render(const char *tmpl, const char *data, json_t **out, char *err, size_t errlen)
{
	json_t *t = parse(tmpl);
	json_t *d = data ? parse(data) : NULL;
	int rc;

	err[0] = '\0';
	rc = tmpl_render_json("t", t, d, out, err, errlen);
	json_decref(t);
	json_decref(d);
	return rc;
}

static void assert_json(json_t *got, const char *expected)
{
	json_t *want = parse(expected);

	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
		char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		print_error("got:  %s\nwant: %s\n", g ? g : "(null)", w);
		free(g);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

/* Render and compare the whole output. */
static void check(const char *tmpl, const char *data, const char *expected)
{
	char err[512];
	json_t *out = NULL;
	int rc = render(tmpl, data, &out, err, sizeof(err));

	if (rc != 0)
		fail_msg("render failed (%d): %s", rc, err);
	assert_json(out, expected);
	json_decref(out);
}

/* Render, expect VIVA_EINVAL, and every one of the NULL-terminated strings in err. */
static void check_fails(const char *tmpl, const char *data, ...)
{
	char err[512];
	json_t *out = NULL;
	const char *want;
	va_list ap;
	int rc = render(tmpl, data, &out, err, sizeof(err));

	assert_int_equal(rc, VIVA_EINVAL);
	assert_null(out);
	va_start(ap, data);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (!strstr(err, want)) {
			va_end(ap);
			fail_msg("error \"%s\" does not contain \"%s\"", err, want);
		}
	}
	va_end(ap);
}

static void write_text(const char *dir, const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void make_dir(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);

	assert_int_equal(mkdir(path, 0700), 0);
	free(path);
}

/* rm -r for the small trees the tests make (bounded depth). */
static void remove_tree(const char *path, int depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;

	if (depth > 8 || lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		d = opendir(path);
		if (d) {
			while ((de = readdir(d)) != NULL) {
				char *child;

				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				child = xasprintf("%s/%s", path, de->d_name);
				remove_tree(child, depth + 1);
				free(child);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static char *make_tmpdir(void)
{
	char *dir = xstrdup("/tmp/viva_tmpl_test_XXXXXX");

	assert_non_null(mkdtemp(dir));
	return dir;
}

/* ---- interpolation ------------------------------------------------------ */

static void tmpl__plain_path__replaced_in_text(void **state)
{
	(void)state;
	check("{\"text\": \"Hello {{user.name}}, you have {{count}} {{ what }}.\"}",
	      "{\"user\": {\"name\": \"ana\"}, \"count\": 3, \"what\": \"tags\"}",
	      "{\"text\": \"Hello ana, you have 3 tags.\"}");
}

static void tmpl__no_placeholders_null_data__copied(void **state)
{
	(void)state;
	check("{\"blocks\": [{\"type\": \"divider\"}], \"n\": 1.5, \"ok\": true, \"z\": null}",
	      NULL,
	      "{\"blocks\": [{\"type\": \"divider\"}], \"n\": 1.5, \"ok\": true, \"z\": null}");
}

static void tmpl__mrkdwn_text__escaped(void **state)
{
	(void)state;
	check("{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": \"svc {{x}}!\"}}",
	      "{\"x\": \"<script>&\"}",
	      "{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\","
	      " \"text\": \"svc &lt;script&gt;&amp;!\"}}");
	/* The whole string being the placeholder escapes too. */
	check("{\"text\": \"{{x}}\"}", "{\"x\": \"<script>&\"}",
	      "{\"text\": \"&lt;script&gt;&amp;\"}");
}

static void tmpl__plain_text__not_escaped(void **state)
{
	(void)state;
	check("{\"type\": \"header\", \"text\": {\"type\": \"plain_text\", \"text\": \"a {{x}}\"}}",
	      "{\"x\": \"<script>&\"}",
	      "{\"type\": \"header\", \"text\": {\"type\": \"plain_text\","
	      " \"text\": \"a <script>&\"}}");
	/* Only "text" members of non-plain objects are mrkdwn: values, ids and
	 * URLs come back verbatim in a click, so they are not escaped. */
	check("{\"type\": \"button\", \"value\": \"{{x}}\", \"action_id\": \"a-{{x}}\","
	      " \"text\": {\"type\": \"plain_text\", \"text\": \"{{x}}\"}}",
	      "{\"x\": \"<b>&\"}",
	      "{\"type\": \"button\", \"value\": \"<b>&\", \"action_id\": \"a-<b>&\","
	      " \"text\": {\"type\": \"plain_text\", \"text\": \"<b>&\"}}");
	check("{\"text\": \"{{x}}\", \"blocks\": [{\"type\": \"context\", \"elements\":"
	      " [{\"type\": \"mrkdwn\", \"text\": \"{{x}}\"}]}]}",
	      "{\"x\": \"<b>\"}",
	      "{\"text\": \"&lt;b&gt;\", \"blocks\": [{\"type\": \"context\", \"elements\":"
	      " [{\"type\": \"mrkdwn\", \"text\": \"&lt;b&gt;\"}]}]}");
}

static void tmpl__triple_braces__inserted_raw(void **state)
{
	(void)state;
	check("{\"type\": \"mrkdwn\", \"text\": \"by {{{who}}} on {{svc}}\"}",
	      "{\"who\": \"<@U123>\", \"svc\": \"a&b\"}",
	      "{\"type\": \"mrkdwn\", \"text\": \"by <@U123> on a&amp;b\"}");
	check("{\"text\": \"{{{who}}}\"}", "{\"who\": \"<@U123>\"}",
	      "{\"text\": \"<@U123>\"}");
}

static void tmpl__whole_placeholder__keeps_json_type(void **state)
{
	(void)state;
	check("{\"n\": \"{{n}}\", \"r\": \"{{r}}\", \"t\": \"{{t}}\", \"f\": \"{{f}}\","
	      " \"z\": \"{{z}}\", \"o\": \"{{o}}\", \"a\": \"{{{a}}}\", \"s\": \"{{s}}\"}",
	      "{\"n\": 42, \"r\": 2.5, \"t\": true, \"f\": false, \"z\": null,"
	      " \"o\": {\"k\": [1, 2]}, \"a\": [{\"type\": \"divider\"}], \"s\": \"7\"}",
	      "{\"n\": 42, \"r\": 2.5, \"t\": true, \"f\": false, \"z\": null,"
	      " \"o\": {\"k\": [1, 2]}, \"a\": [{\"type\": \"divider\"}], \"s\": \"7\"}");
}

static void tmpl__whole_placeholder__output_is_a_copy(void **state)
{
	char err[256];
	json_t *t = parse("{\"o\": \"{{o}}\"}");
	json_t *d = parse("{\"o\": {\"k\": 1}}");
	json_t *out = NULL;

	(void)state;
	assert_int_equal(tmpl_render_json("t", t, d, &out, err, sizeof(err)), 0);
	assert_ptr_not_equal(json_object_get(out, "o"), json_object_get(d, "o"));
	json_object_set_new(json_object_get(out, "o"), "k", json_integer(2));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "o"), "k")), 1);
	json_decref(out);
	json_decref(t);
	json_decref(d);
}

static void tmpl__numbers_and_booleans_in_text__formatted(void **state)
{
	(void)state;
	check("{\"text\": \"{{i}}|{{neg}}|{{r}}|{{whole}}|{{big}}|{{t}}|{{f}}|{{z}}.\"}",
	      "{\"i\": 42, \"neg\": -7, \"r\": 0.1, \"whole\": 3.0, \"big\": 1e21,"
	      " \"t\": true, \"f\": false, \"z\": null}",
	      "{\"text\": \"42|-7|0.1|3|1e+21|true|false|.\"}");
}

static void tmpl__array_index_in_path__resolved(void **state)
{
	(void)state;
	check("{\"text\": \"{{tags.1.name}}\"}",
	      "{\"tags\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}",
	      "{\"text\": \"b\"}");
}

/* ---- $each ---------------------------------------------------------------- */

static void tmpl__each_array_body__spliced_with_number(void **state)
{
	(void)state;
	check("{\"blocks\": ["
	      " {\"type\": \"header\"},"
	      " {\"$each\": \"tags\", \"$do\": ["
	      "   {\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\","
	      "    \"text\": \"{{@number}}. {{name}} of {{service}}\"}},"
	      "   {\"type\": \"divider\"}]},"
	      " {\"type\": \"context\"}]}",
	      "{\"service\": \"pay\", \"tags\": [{\"name\": \"v1\"}, {\"name\": \"v<2>\"}]}",
	      "{\"blocks\": ["
	      " {\"type\": \"header\"},"
	      " {\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": \"1. v1 of pay\"}},"
	      " {\"type\": \"divider\"},"
	      " {\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\","
	      "  \"text\": \"2. v&lt;2&gt; of pay\"}},"
	      " {\"type\": \"divider\"},"
	      " {\"type\": \"context\"}]}");
}

static void tmpl__each_object_body__index_and_dot(void **state)
{
	(void)state;
	check("[{\"$each\": \"names\", \"$do\": {\"i\": \"{{@index}}\", \"n\": \"{{@number}}\","
	      " \"v\": \"{{.}}\", \"s\": \"#{{@index}} {{.}}\"}}]",
	      "{\"names\": [\"a\", \"b\"]}",
	      "[{\"i\": 0, \"n\": 1, \"v\": \"a\", \"s\": \"#0 a\"},"
	      " {\"i\": 1, \"n\": 2, \"v\": \"b\", \"s\": \"#1 b\"}]");
}

static void tmpl__nested_each__inner_and_outer_scope(void **state)
{
	(void)state;
	/*
	 * Inner items are strings, so "name" comes from the group (outer item)
	 * and "env.name" from the data; @number is the inner position.
	 */
	check("[{\"$each\": \"groups\", \"$do\": [{\"$each\": \"items\", \"$do\":"
	      "  \"{{env.name}}/{{name}}/{{.}}#{{@number}}\"}]}]",
	      "{\"env\": {\"name\": \"prod\"}, \"groups\": ["
	      " {\"name\": \"g1\", \"items\": [\"x\", \"y\"]},"
	      " {\"name\": \"g2\", \"items\": [\"z\"]}]}",
	      "[\"prod/g1/x#1\", \"prod/g1/y#2\", \"prod/g2/z#1\"]");
}

static void tmpl__dotted_path__first_scope_with_head_wins(void **state)
{
	(void)state;
	/* The item has "svc" (without "name"): the path does not fall back outwards. */
	check_fails("[{\"$each\": \"items\", \"$do\": \"{{svc.name}}\"}]",
		    "{\"svc\": {\"name\": \"outer\"}, \"items\": [{\"svc\": {}}]}",
		    "missing variable 'svc.name'", "at /0/$do", NULL);
	/* Innermost wins when both have it. */
	check("[{\"$each\": \"items\", \"$do\": \"{{svc.name}}\"}]",
	      "{\"svc\": {\"name\": \"outer\"}, \"items\": [{\"svc\": {\"name\": \"inner\"}}, 1]}",
	      "[\"inner\", \"outer\"]");
}

static void tmpl__each_absent_or_null__repeats_nothing(void **state)
{
	(void)state;
	check("[1, {\"$each\": \"nope\", \"$do\": \"{{.}}\"},"
	      " {\"$each\": \"z\", \"$do\": \"{{.}}\"},"
	      " {\"$each\": \"empty\", \"$do\": \"{{.}}\"}, 2]",
	      "{\"z\": null, \"empty\": []}",
	      "[1, 2]");
}

static void tmpl__each_non_array__einval(void **state)
{
	(void)state;
	check_fails("{\"blocks\": [{\"$each\": \"svc\", \"$do\": {}}]}",
		    "{\"svc\": {\"name\": \"pay\"}}",
		    "template t:", "'$each' variable 'svc' is an object, not an array",
		    "at /blocks/0/$each", NULL);
	check_fails("[{\"$each\": \"n\", \"$do\": {}}]", "{\"n\": 3}", "is a number", NULL);
}

static void tmpl__each_misuse__einval(void **state)
{
	(void)state;
	check_fails("{\"list\": {\"$each\": \"a\", \"$do\": 1}}", "{\"a\": []}",
		    "'$each' is only allowed on an element of an array", "at /list/$each", NULL);
	check_fails("[{\"$do\": 1}]", NULL, "'$do' without '$each'", "at /0/$do", NULL);
	check_fails("[{\"$each\": \"a\"}]", "{\"a\": []}", "'$each' without '$do'", "at /0",
		    NULL);
	check_fails("[{\"$each\": \"a\", \"$do\": 1, \"type\": \"x\"}]", "{\"a\": []}",
		    "may only hold", "at /0/type", NULL);
	check_fails("[{\"$each\": 5, \"$do\": 1}]", NULL, "must be a string path",
		    "at /0/$each", NULL);
	check_fails("{\"text\": \"{{@index}}\"}", NULL, "'@index' used outside $each",
		    "at /text", NULL);
}

static void tmpl__each_with_if__guarded(void **state)
{
	(void)state;
	check("[{\"$if\": \"show\", \"$each\": \"a\", \"$do\": \"{{.}}\"},"
	      " {\"$unless\": \"show\", \"$each\": \"a\", \"$do\": \"-{{.}}\"}]",
	      "{\"show\": false, \"a\": [\"x\"]}",
	      "[\"-x\"]");
}

/* ---- conditions ----------------------------------------------------------- */

static void tmpl__if_unless__drop_blocks_and_keys(void **state)
{
	(void)state;
	check("{\"blocks\": ["
	      " {\"$if\": \"yes\", \"type\": \"a\"},"
	      " {\"$if\": \"no\", \"type\": \"b\"},"
	      " {\"$if\": \"!no\", \"type\": \"c\"},"
	      " {\"$if\": \"! yes\", \"type\": \"d\"},"
	      " {\"$unless\": \"yes\", \"type\": \"e\"},"
	      " {\"$unless\": \"no\", \"type\": \"f\"},"
	      " {\"$if\": \"absent\", \"type\": \"g\", \"text\": \"{{absent}}\"}],"
	      " \"accessory\": {\"$if\": \"button\", \"type\": \"button\"},"
	      " \"image\": {\"$if\": \"img\", \"url\": \"{{img}}\"}}",
	      "{\"yes\": 1, \"no\": 0, \"button\": null, \"img\": \"p\"}",
	      "{\"blocks\": [{\"type\": \"a\"}, {\"type\": \"c\"}, {\"type\": \"f\"}],"
	      " \"image\": {\"url\": \"p\"}}");
}

static void tmpl__if__falsy_and_truthy_values(void **state)
{
	(void)state;
	check("[{\"$if\": \"a\", \"k\": \"a\"}, {\"$if\": \"b\", \"k\": \"b\"},"
	      " {\"$if\": \"c\", \"k\": \"c\"}, {\"$if\": \"d\", \"k\": \"d\"},"
	      " {\"$if\": \"e\", \"k\": \"e\"}, {\"$if\": \"f\", \"k\": \"f\"},"
	      " {\"$if\": \"g\", \"k\": \"g\"}, {\"$if\": \"h\", \"k\": \"h\"},"
	      " {\"$if\": \"i\", \"k\": \"i\"}, {\"$if\": \"j\", \"k\": \"j\"},"
	      " {\"$if\": \"x.y\", \"k\": \"xy\"}, {\"$if\": \"x.q\", \"k\": \"xq\"}]",
	      "{\"a\": null, \"b\": false, \"c\": 0, \"d\": \"\", \"e\": [], \"f\": {},"
	      " \"g\": 0.5, \"h\": \"0\", \"i\": [0], \"j\": {\"k\": 0}, \"x\": {\"y\": true}}",
	      "[{\"k\": \"g\"}, {\"k\": \"h\"}, {\"k\": \"i\"}, {\"k\": \"j\"}, {\"k\": \"xy\"}]");
}

static void tmpl__if_inside_each__uses_item(void **state)
{
	(void)state;
	check("[{\"$each\": \"tags\", \"$do\": {\"$if\": \"latest\", \"t\": \"{{name}}\"}}]",
	      "{\"tags\": [{\"name\": \"a\", \"latest\": false}, {\"name\": \"b\", \"latest\": true}]}",
	      "[{\"t\": \"b\"}]");
}

static void tmpl__top_level_if_false__empty_object(void **state)
{
	(void)state;
	check("{\"$if\": \"x\", \"text\": \"{{x}}\"}", "{\"x\": \"\"}", "{}");
	check("{\"$if\": \"x\", \"text\": \"{{x}}\"}", "{\"x\": \"hi\"}", "{\"text\": \"hi\"}");
}

static void tmpl__bad_condition__einval(void **state)
{
	(void)state;
	check_fails("[{\"$if\": true, \"a\": 1}]", NULL, "'$if' must be a string path",
		    "at /0/$if", NULL);
	check_fails("[{\"$unless\": \"!\", \"a\": 1}]", NULL, "needs a variable path",
		    "at /0/$unless", NULL);
	check_fails("[{\"$if\": \"{{x}}\", \"a\": 1}]", "{\"x\": 1}", "bad variable name",
		    NULL);
}

/* ---- errors --------------------------------------------------------------- */

static void tmpl__missing_variable__einval_with_pointer(void **state)
{
	struct tmpl_set *ts = tmpl_set_new();
	char err[512] = "";
	json_t *data = parse("{\"tag\": {\"name\": \"v1\"}}");
	json_t *out = NULL;

	(void)state;
	assert_int_equal(tmpl_set_add(ts, "tags_list",
		"{\"blocks\": [{\"type\": \"header\"}, {\"type\": \"divider\"},"
		" {\"type\": \"divider\"},"
		" {\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\","
		"  \"text\": \"{{tag.name}} {{tag.digest}}\"}}]}", err, sizeof(err)), 0);
	assert_int_equal(tmpl_render(ts, "tags_list", data, &out, err, sizeof(err)),
			 VIVA_EINVAL);
	assert_null(out);
	assert_string_equal(err, "template tags_list: missing variable 'tag.digest' "
			    "at /blocks/3/text/text");
	json_decref(data);
	tmpl_set_free(ts);
}

static void tmpl__pointer__escapes_tilde_and_slash(void **state)
{
	(void)state;
	check_fails("{\"a/b\": {\"c~d\": \"{{x}}\"}}", NULL, "at /a~1b/c~0d", NULL);
}

static void tmpl__unknown_directive__einval(void **state)
{
	(void)state;
	check_fails("{\"blocks\": [{\"type\": \"x\", \"$iff\": \"a\"}]}", NULL,
		    "template t: unknown directive '$iff' at /blocks/0/$iff", NULL);
	check_fails("[{\"$each\": \"a\", \"$do\": 1, \"$sort\": \"x\"}]", "{\"a\": []}",
		    "unknown directive '$sort'", NULL);
}

/* "$comment" documents a template and never reaches the output. */
static void tmpl__comment__dropped_anywhere(void **state)
{
	(void)state;
	check("{\"$comment\": [\"what this renders\", \"variables: x\"], \"a\": \"{{x}}\","
	      " \"b\": {\"$comment\": \"inner\", \"c\": 1},"
	      " \"l\": [{\"$each\": \"xs\", \"$comment\": {\"any\": 1}, \"$do\": \"{{.}}\"}]}",
	      "{\"x\": \"v\", \"xs\": [1, 2]}",
	      "{\"a\": \"v\", \"b\": {\"c\": 1}, \"l\": [1, 2]}");
	/* A comment is not a value: it is never rendered, so it may mention {{x}}. */
	check("{\"$comment\": \"uses {{undefined}}\", \"a\": 1}", NULL, "{\"a\": 1}");
}

/* TMPL_VERBATIM: no mrkdwn escaping, even in a "text" member. */
static void tmpl__verbatim__never_escapes(void **state)
{
	struct tmpl_set *ts = tmpl_set_new();
	json_t *data = parse("{\"x\": \"<a> & \\\"b\\\"\"}"), *out = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(tmpl_set_add(ts, "k", "{\"text\": \"{{x}}\", \"data\": {\"text\": \"t {{x}}\"}}",
				      err, sizeof(err)), 0);
	assert_int_equal(tmpl_render_ex(ts, "k", data, TMPL_VERBATIM, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"text\": \"<a> & \\\"b\\\"\", \"data\": {\"text\": \"t <a> & \\\"b\\\"\"}}");
	json_decref(out);
	/* The same template without the flag is a Slack message: escaped. */
	assert_int_equal(tmpl_render(ts, "k", data, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"text\": \"&lt;a&gt; &amp; \\\"b\\\"\", "
		    "\"data\": {\"text\": \"t &lt;a&gt; &amp; \\\"b\\\"\"}}");
	json_decref(out);
	json_decref(data);
	tmpl_set_free(ts);
}

static void tmpl__malformed_placeholder__einval(void **state)
{
	(void)state;
	check_fails("{\"x\": [\"ok\", \"hi {{name\"]}", "{\"name\": 1}",
		    "unclosed '{{'", "at /x/1", NULL);
	check_fails("{\"x\": \"{{{name}}\"}", "{\"name\": 1}", "unclosed '{{{'", "at /x", NULL);
	check_fails("{\"x\": \"a {{}} b\"}", NULL, "empty placeholder '{{}}'", "at /x", NULL);
	check_fails("{\"x\": \"{{  }}\"}", NULL, "empty placeholder", NULL);
	check_fails("{\"x\": \"{{a b}}\"}", "{\"a\": 1}", "bad variable name 'a b'", NULL);
	check_fails("{\"x\": \"{{a..b}}\"}", "{\"a\": 1}", "bad variable name", NULL);
	check_fails("{\"x\": \"{{@foo}}\"}", NULL, "unknown variable '@foo'", NULL);
	/* A lone closing brace pair is just text. */
	check("{\"x\": \"a }} b\"}", NULL, "{\"x\": \"a }} b\"}");
}

static void tmpl__object_in_text__einval(void **state)
{
	(void)state;
	check_fails("{\"x\": \"list: {{a}}\"}", "{\"a\": [1]}",
		    "variable 'a' is an array and cannot be put inside text", NULL);
}

static void tmpl__malformed_json__eparse_with_line_column(void **state)
{
	struct tmpl_set *ts = tmpl_set_new();
	char err[512] = "";

	(void)state;
	assert_int_equal(tmpl_set_add(ts, "help", "{\n  \"a\": 1,\n  \"b\": ]\n}", err,
				      sizeof(err)), VIVA_EPARSE);
	assert_non_null(strstr(err, "template help: malformed JSON at line 3, column "));
	assert_int_equal(tmpl_set_count(ts), 0);
	assert_int_equal(tmpl_set_add(ts, "dup", "{\"a\": 1, \"a\": 2}", err, sizeof(err)),
			 VIVA_EPARSE);
	assert_non_null(strstr(err, "template dup: malformed JSON"));
	tmpl_set_free(ts);
}

static void tmpl__unknown_template__enoent(void **state)
{
	struct tmpl_set *ts = tmpl_set_new();
	char err[256] = "";
	json_t *out = NULL;

	(void)state;
	assert_int_equal(tmpl_render(ts, "nope", NULL, &out, err, sizeof(err)), VIVA_ENOENT);
	assert_null(out);
	assert_non_null(strstr(err, "nope"));
	tmpl_set_free(ts);
}

static void tmpl__deep_template__einval_not_crash(void **state)
{
	struct strbuf sb;
	char err[256];
	json_t *out = NULL;
	int rc;

	(void)state;
	sb_init(&sb);
	for (int i = 0; i < 500; i++)
		sb_adds(&sb, "[");
	for (int i = 0; i < 500; i++)
		sb_adds(&sb, "]");
	rc = render(sb.buf, NULL, &out, err, sizeof(err));
	sb_release(&sb);
	assert_int_equal(rc, VIVA_EINVAL);
	assert_null(out);
	assert_non_null(strstr(err, "nested deeper than 64"));
}

static void tmpl__huge_output__einval(void **state)
{
	struct strbuf sb;
	json_t *data = json_object(), *items = json_array(), *t;
	char err[256];
	json_t *out = NULL;

	(void)state;
	sb_init(&sb);
	for (int i = 0; i < 64 * 1024; i++)
		sb_addc(&sb, 'x');
	for (int i = 0; i < 100; i++)
		json_array_append_new(items, json_integer(i));
	json_object_set_new(data, "big", json_string(sb.buf));
	json_object_set_new(data, "items", items);
	sb_release(&sb);
	/* 100 x 100 x 64 KiB would be 640 MiB: must stop early. */
	t = parse("[{\"$each\": \"items\", \"$do\": [{\"$each\": \"items\", \"$do\": \"{{big}}\"}]}]");
	assert_int_equal(tmpl_render_json("t", t, data, &out, err, sizeof(err)), VIVA_EINVAL);
	assert_null(out);
	assert_non_null(strstr(err, "output too large"));
	json_decref(t);
	json_decref(data);
}

static void tmpl__empty_bodies__work_is_bounded(void **state)
{
	json_t *data = json_object(), *items = json_array(), *t;
	char err[256];
	json_t *out = NULL;

	(void)state;
	for (int i = 0; i < 3000; i++)
		json_array_append_new(items, json_integer(i));
	json_object_set_new(data, "items", items);
	/* 9 million iterations that output nothing must still hit the budget. */
	t = parse("[{\"$each\": \"items\", \"$do\": [{\"$each\": \"items\", \"$do\": []}]}]");
	assert_int_equal(tmpl_render_json("t", t, data, &out, err, sizeof(err)), VIVA_EINVAL);
	assert_null(out);
	json_decref(t);
	json_decref(data);
}

/* ---- sets, directories, reload ------------------------------------------- */

static void tmpl__load_dir__relative_names_and_render(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	json_t *data = parse("{\"who\": \"ana\"}");
	json_t *out = NULL;

	(void)state;
	make_dir(dir, "slack");
	make_dir(dir, "slack/sub");
	write_text(dir, "slack/help.json", "{\"text\": \"help for {{who}}\"}");
	write_text(dir, "slack/sub/deep.json", "[\"{{who}}\"]");
	write_text(dir, "top.json", "{\"n\": 1}");
	write_text(dir, "notes.txt", "not a template {");
	write_text(dir, ".hidden.json", "{ broken");

	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), 0);
	assert_non_null(ts);
	assert_int_equal(tmpl_set_count(ts), 3);
	assert_int_equal(tmpl_render(ts, "slack/help", data, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"text\": \"help for ana\"}");
	json_decref(out);
	assert_int_equal(tmpl_render(ts, "slack/sub/deep", data, &out, err, sizeof(err)), 0);
	assert_json(out, "[\"ana\"]");
	json_decref(out);
	assert_int_equal(tmpl_render(ts, "top", NULL, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"n\": 1}");
	json_decref(out);
	assert_int_equal(tmpl_render(ts, "notes", NULL, &out, err, sizeof(err)), VIVA_ENOENT);

	json_decref(data);
	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

static void tmpl__load_dir_malformed__eparse_names_file(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = (struct tmpl_set *)1;
	char err[512] = "";

	(void)state;
	make_dir(dir, "slack");
	write_text(dir, "slack/ok.json", "{}");
	write_text(dir, "slack/x.json", "{\n  \"blocks\": [\n    {\"type\": \"divider\",}\n  ]\n}\n");
	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), VIVA_EPARSE);
	assert_null(ts);
	assert_non_null(strstr(err, "template slack/x: malformed JSON at line 3, column "));
	remove_tree(dir, 0);
	free(dir);
}

/* node/ beside the message templates holds node file trees (a .json there is a node's file). */
static void tmpl__load_dir__node_subdir_is_not_templates(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";

	(void)state;
	make_dir(dir, "slack");
	make_dir(dir, "node");
	make_dir(dir, "node/1.25.6");
	write_text(dir, "slack/ok.json", "{}");
	write_text(dir, "node/1.25.6/daemon.json", "{\"max\": {{maxPods}}}");
	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_count(ts), 1);
	tmpl_set_free(ts);
	/* only the top level's node/: a deeper one is an ordinary folder */
	make_dir(dir, "slack/node");
	write_text(dir, "slack/node/x.json", "[1]");
	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_count(ts), 2);
	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

static void tmpl__load_missing_dir__enoent(void **state)
{
	struct tmpl_set *ts = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(tmpl_set_load("/nonexistent/viva/templates", &ts, err, sizeof(err)),
			 VIVA_ENOENT);
	assert_null(ts);
	assert_non_null(strstr(err, "/nonexistent/viva/templates"));
}

static void tmpl__reload__replaces_or_keeps_old_set(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	json_t *out = NULL;

	(void)state;
	write_text(dir, "a.json", "{\"v\": 1}");
	write_text(dir, "b.json", "{\"v\": 2}");
	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), 0);
	assert_int_equal(tmpl_set_count(ts), 2);

	/* Change a, remove b, add c. */
	write_text(dir, "a.json", "{\"v\": 10}");
	write_text(dir, "c.json", "{\"v\": 3}");
	{
		char *b = xasprintf("%s/b.json", dir);
		assert_int_equal(unlink(b), 0);
		free(b);
	}
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), 0);
	assert_int_equal(tmpl_set_count(ts), 2);
	assert_int_equal(tmpl_render(ts, "a", NULL, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"v\": 10}");
	json_decref(out);
	assert_int_equal(tmpl_render(ts, "b", NULL, &out, err, sizeof(err)), VIVA_ENOENT);

	/* One bad file: the reload fails and the previous set stays whole. */
	write_text(dir, "a.json", "{\"v\": 100}");
	write_text(dir, "bad.json", "{\"v\": ");
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), VIVA_EPARSE);
	assert_non_null(strstr(err, "template bad: malformed JSON at line 1"));
	assert_int_equal(tmpl_set_count(ts), 2);
	assert_int_equal(tmpl_render(ts, "a", NULL, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"v\": 10}");
	json_decref(out);
	assert_int_equal(tmpl_render(ts, "c", NULL, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"v\": 3}");
	json_decref(out);

	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

static void tmpl__reload_without_dir__einval(void **state)
{
	struct tmpl_set *ts = tmpl_set_new();
	char err[256] = "";

	(void)state;
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), VIVA_EINVAL);
	assert_int_equal(tmpl_set_add(ts, "x", "{\"a\": 1}", err, sizeof(err)), 0);
	assert_int_equal(tmpl_set_add(ts, "x", "{\"a\": 2}", err, sizeof(err)), 0);
	assert_int_equal(tmpl_set_count(ts), 1);
	tmpl_set_free(ts);
}

struct render_thread {
	struct tmpl_set *ts;
	int iterations;
	int ok;
	int bad;
};

static void *render_loop(void *arg)
{
	struct render_thread *rt = arg;
	json_t *data = json_pack("{s:[s,s,s]}", "items", "a", "b", "c");

	for (int i = 0; i < rt->iterations; i++) {
		char err[256];
		json_t *out = NULL;
		json_t *v;

		if (tmpl_render(rt->ts, "list", data, &out, err, sizeof(err)) != 0) {
			rt->bad++;
			continue;
		}
		/* Either version of the template, never a mix or garbage. */
		v = json_object_get(out, "v");
		if (json_array_size(json_object_get(out, "items")) == 3 &&
		    (json_integer_value(v) == 1 || json_integer_value(v) == 2))
			rt->ok++;
		else
			rt->bad++;
		json_decref(out);
	}
	json_decref(data);
	return NULL;
}

static void tmpl__concurrent_render_during_reload__consistent(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	struct render_thread rt = { .iterations = 2000 };
	pthread_t th;

	(void)state;
	write_text(dir, "list.json",
		   "{\"v\": 1, \"items\": [{\"$each\": \"items\", \"$do\": \"{{.}}\"}]}");
	assert_int_equal(tmpl_set_load_dir(dir, &ts, err, sizeof(err)), 0);
	rt.ts = ts;
	assert_int_equal(pthread_create(&th, NULL, render_loop, &rt), 0);
	for (int i = 0; i < 100; i++) {
		/* Write a new file next to it and rename, as an editor or deploy would. */
		char *tmp = xasprintf("%s/.list.tmp", dir);
		char *dst = xasprintf("%s/list.json", dir);
		FILE *f = fopen(tmp, "w");

		assert_non_null(f);
		fprintf(f, "{\"v\": %d, \"items\": [{\"$each\": \"items\", \"$do\": \"{{.}}\"}]}",
			i % 2 + 1);
		fclose(f);
		assert_int_equal(rename(tmp, dst), 0);
		free(tmp);
		free(dst);
		assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), 0);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(rt.bad, 0);
	assert_int_equal(rt.ok, rt.iterations);
	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

struct builtin_thread {
	struct tmpl_set *ts;
	const char *name;
	int ok;
};

static void *render_builtin_loop(void *arg)
{
	struct builtin_thread *bt = arg;
	json_t *data = json_pack("{s:s}", "message", "boom");

	for (int i = 0; i < 300; i++) {
		char err[256];
		json_t *out = NULL;

		if (tmpl_render(bt->ts, bt->name, data, &out, err, sizeof(err)) == 0 && json_is_object(out))
			bt->ok++;
		json_decref(out);
	}
	json_decref(data);
	return NULL;
}

/*
 * Built-in templates are parsed at their first use, under the set's lock:
 * threads rendering the same not-yet-parsed built-in, while the directory
 * is re-read over and over, each get a whole tree (no double parse left
 * behind, nothing freed under a reader: the sanitizers watch).
 */
static void builtin__first_use_parse_during_reloads__consistent(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	struct builtin_thread bt[3];
	pthread_t th[3];

	(void)state;
	write_text(dir, "other.json", "{\"text\": \"unrelated\"}");
	assert_int_equal(tmpl_set_load(dir, &ts, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		bt[i] = (struct builtin_thread){ .ts = ts, .name = "slack/error" };
		assert_int_equal(pthread_create(&th[i], NULL, render_builtin_loop, &bt[i]), 0);
	}
	for (int i = 0; i < 100; i++)
		assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(bt[i].ok, 300);
	}
	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

/*
 * The templates viva runs with are built in: every built-in file parses,
 * the Slack ones are all there with no directory at all, and a directory
 * replaces them file by file (the rest stay built in), also on reload.
 */
static void builtin__every_file_parses_and_serves_without_a_directory(void **state)
{
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	size_t json_files = 0;
	json_t *out = NULL;

	(void)state;
	assert_true(builtin_files_len > 0);
	for (size_t i = 0; i < builtin_files_len; i++) {
		assert_non_null(builtin_find(builtin_files[i].path));
		assert_int_equal(strlen((const char *)builtin_files[i].data), builtin_files[i].len);
		if (strstr(builtin_files[i].path, ".json"))
			json_files++;
	}
	assert_null(builtin_find("slack/nope.json"));
	/* a set parses each at its first use: every one parses */
	if (tmpl_builtins_check(err, sizeof(err)) != VIVA_OK)
		fail_msg("a built-in template does not parse: %s", err);
	assert_int_equal(tmpl_set_load(NULL, &ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_count(ts), json_files);
	assert_int_equal(tmpl_set_overrides(ts), 0);
	assert_null(tmpl_set_dir(ts));
	assert_int_equal(tmpl_render(ts, "slack/error", NULL, &out, err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "missing variable 'message'"));
	json_decref(out);
	out = NULL;
	tmpl_set_free(ts);
}

static void builtin__directory_overrides_file_by_file_and_reload_rereads_it(void **state)
{
	char *dir = make_tmpdir();
	struct tmpl_set *ts = NULL;
	char err[512] = "";
	json_t *data = parse("{\"who\": \"U1\", \"when\": \"today\", \"result\": \"ok\", \"action\": \"promote\"}");
	json_t *out = NULL;
	char *s;

	(void)state;
	make_dir(dir, "slack");
	write_text(dir, "slack/already_done.json", "{\"text\": \"OVERRIDDEN {{action}}\"}");
	assert_int_equal(tmpl_set_load(dir, &ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_overrides(ts), 1);
	assert_string_equal(tmpl_set_dir(ts), dir);
	assert_int_equal(tmpl_render(ts, "slack/already_done", data, &out, err, sizeof(err)), 0);
	assert_json(out, "{\"text\": \"OVERRIDDEN promote\"}");
	json_decref(out);
	/* the others are still the built-in ones */
	assert_int_equal(tmpl_render(ts, "slack/error", data, &out, err, sizeof(err)), VIVA_EINVAL);
	json_decref(out);
	out = NULL;
	/* removed from the directory: the built-in one is back after a reload */
	s = xasprintf("%s/slack/already_done.json", dir);
	assert_int_equal(unlink(s), 0);
	free(s);
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), VIVA_OK);
	assert_int_equal(tmpl_set_overrides(ts), 0);
	assert_int_equal(tmpl_render(ts, "slack/already_done", data, &out, err, sizeof(err)), 0);
	s = json_dumps(out, 0);
	assert_null(strstr(s, "OVERRIDDEN"));
	assert_non_null(strstr(s, "promote"));
	free(s);
	json_decref(out);
	/* a broken override: the reload fails and the last good set stays */
	write_text(dir, "slack/already_done.json", "{ broken");
	assert_int_equal(tmpl_set_reload(ts, err, sizeof(err)), VIVA_EPARSE);
	assert_non_null(strstr(err, "template slack/already_done: malformed JSON"));
	assert_int_equal(tmpl_render(ts, "slack/already_done", data, &out, err, sizeof(err)), 0);
	json_decref(out);
	json_decref(data);
	tmpl_set_free(ts);
	remove_tree(dir, 0);
	free(dir);
}

/* `viva templates dump` writes what is built in, byte for byte. */
static void builtin__dump__writes_every_file_and_keeps_existing_ones(void **state)
{
	char *dir = make_tmpdir();
	char err[512] = "";
	size_t written = 0, skipped = 0;

	(void)state;
	assert_int_equal(builtin_dump(dir, 0, &written, &skipped, err, sizeof(err)), VIVA_OK);
	assert_int_equal(written, builtin_files_len);
	assert_int_equal(skipped, 0);
	for (size_t i = 0; i < builtin_files_len; i++) {
		char *path = xasprintf("%s/%s", dir, builtin_files[i].path), *text = NULL;
		size_t len = 0;

		assert_int_equal(read_file(path, &text, &len), VIVA_OK);
		assert_int_equal(len, builtin_files[i].len);
		assert_memory_equal(text, builtin_files[i].data, len);
		free(text);
		free(path);
	}
	write_text(dir, "slack/help.json", "{\"mine\": true}");
	assert_int_equal(builtin_dump(dir, 0, &written, &skipped, err, sizeof(err)), VIVA_OK);
	assert_int_equal(written, 0);
	assert_int_equal(skipped, builtin_files_len);
	assert_int_equal(builtin_dump(dir, 1, &written, &skipped, err, sizeof(err)), VIVA_OK);
	assert_int_equal(written, builtin_files_len);
	/* a directory that cannot be written: a clear error */
	assert_int_equal(builtin_dump("/proc/viva-cannot-write", 0, &written, &skipped, err, sizeof(err)),
			 VIVA_EIO);
	assert_non_null(strstr(err, "/proc/viva-cannot-write"));
	remove_tree(dir, 0);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin__every_file_parses_and_serves_without_a_directory),
		cmocka_unit_test(builtin__directory_overrides_file_by_file_and_reload_rereads_it),
		cmocka_unit_test(builtin__dump__writes_every_file_and_keeps_existing_ones),
		cmocka_unit_test(tmpl__plain_path__replaced_in_text),
		cmocka_unit_test(tmpl__no_placeholders_null_data__copied),
		cmocka_unit_test(tmpl__mrkdwn_text__escaped),
		cmocka_unit_test(tmpl__plain_text__not_escaped),
		cmocka_unit_test(tmpl__triple_braces__inserted_raw),
		cmocka_unit_test(tmpl__whole_placeholder__keeps_json_type),
		cmocka_unit_test(tmpl__whole_placeholder__output_is_a_copy),
		cmocka_unit_test(tmpl__numbers_and_booleans_in_text__formatted),
		cmocka_unit_test(tmpl__array_index_in_path__resolved),
		cmocka_unit_test(tmpl__each_array_body__spliced_with_number),
		cmocka_unit_test(tmpl__each_object_body__index_and_dot),
		cmocka_unit_test(tmpl__nested_each__inner_and_outer_scope),
		cmocka_unit_test(tmpl__dotted_path__first_scope_with_head_wins),
		cmocka_unit_test(tmpl__each_absent_or_null__repeats_nothing),
		cmocka_unit_test(tmpl__each_non_array__einval),
		cmocka_unit_test(tmpl__each_misuse__einval),
		cmocka_unit_test(tmpl__each_with_if__guarded),
		cmocka_unit_test(tmpl__if_unless__drop_blocks_and_keys),
		cmocka_unit_test(tmpl__if__falsy_and_truthy_values),
		cmocka_unit_test(tmpl__if_inside_each__uses_item),
		cmocka_unit_test(tmpl__top_level_if_false__empty_object),
		cmocka_unit_test(tmpl__bad_condition__einval),
		cmocka_unit_test(tmpl__missing_variable__einval_with_pointer),
		cmocka_unit_test(tmpl__pointer__escapes_tilde_and_slash),
		cmocka_unit_test(tmpl__comment__dropped_anywhere),
		cmocka_unit_test(tmpl__verbatim__never_escapes),
		cmocka_unit_test(tmpl__unknown_directive__einval),
		cmocka_unit_test(tmpl__malformed_placeholder__einval),
		cmocka_unit_test(tmpl__object_in_text__einval),
		cmocka_unit_test(tmpl__malformed_json__eparse_with_line_column),
		cmocka_unit_test(tmpl__unknown_template__enoent),
		cmocka_unit_test(tmpl__deep_template__einval_not_crash),
		cmocka_unit_test(tmpl__huge_output__einval),
		cmocka_unit_test(tmpl__empty_bodies__work_is_bounded),
		cmocka_unit_test(tmpl__load_dir__relative_names_and_render),
		cmocka_unit_test(tmpl__load_dir_malformed__eparse_names_file),
		cmocka_unit_test(tmpl__load_dir__node_subdir_is_not_templates),
		cmocka_unit_test(tmpl__load_missing_dir__enoent),
		cmocka_unit_test(tmpl__reload__replaces_or_keeps_old_set),
		cmocka_unit_test(tmpl__reload_without_dir__einval),
		cmocka_unit_test(tmpl__concurrent_render_during_reload__consistent),
		cmocka_unit_test(builtin__first_use_parse_during_reloads__consistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
