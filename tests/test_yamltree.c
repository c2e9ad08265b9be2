/*
 * Tests for bot/lib/yamltree.c: how scalars are typed, where every node came
 * from (paths, lines, columns, the fallback to ancestors), every limit, and
 * hostile input: alias bombs, deep nesting, oversized text, invalid UTF-8,
 * NUL bytes, tabs, repeated keys, several documents, tags, very long keys,
 * and mangled documents that must never crash or leak.
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
#include "bot/lib/yamltree.h"

/* ---- helpers ------------------------------------------------------------ */

static struct yamltree *parse_lim(const char *yaml, size_t len, const struct yamltree_limits *lim)
{
	struct yamltree *t = (struct yamltree *)1;
	struct yamltree_error e;
	int rc = yamltree_parse(yaml, len, lim, &t, &e);

	if (rc != VIVA_OK)
		fail_msg("yamltree_parse failed (%d) at %d:%d: %s\n--- input ---\n%.300s", rc, e.line,
			 e.col, e.msg, yaml);
	assert_non_null(t);
	assert_non_null(yamltree_root(t));
	return t;
}

static struct yamltree *parse(const char *yaml)
{
	return parse_lim(yaml, strlen(yaml), NULL);
}

static const struct yamltree_limits with_aliases = { .aliases = true };

/* A refused text: VIVA_EPARSE, no tree, the position, a message containing sub. */
static void refuse_lim(const char *yaml, size_t len, const struct yamltree_limits *lim, int line,
		       int col, const char *sub)
{
	struct yamltree *t = (struct yamltree *)1;
	struct yamltree_error e;
	int rc = yamltree_parse(yaml, len, lim, &t, &e);

	if (rc != VIVA_EPARSE || e.line != line || (col >= 0 && e.col != col) ||
	    !strstr(e.msg, sub))
		fail_msg("rc %d at %d:%d: [%s]; want %d:%d [%s]\n--- input ---\n%.300s", rc, e.line,
			 e.col, e.msg, line, col, sub, yaml);
	assert_null(t);
	assert_null(strchr(e.msg, '\n'));
}

static void refuse(const char *yaml, int line, int col, const char *sub)
{
	refuse_lim(yaml, strlen(yaml), NULL, line, col, sub);
}

/* The tree as compact JSON, keys in file order (caller frees). */
static char *dump(const struct yamltree *t)
{
	return json_dumps(yamltree_root(t), JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

static void expect_json(const char *yaml, const char *want)
{
	struct yamltree *t = parse(yaml);
	char *got = dump(t);

	if (strcmp(got, want))
		fail_msg("yaml [%s]: got %s, want %s", yaml, got, want);
	free(got);
	yamltree_free(t);
}

static void expect_where(const struct yamltree *t, const char *path, bool exact, int line, int col)
{
	int l = -1, c = -1;
	bool got = yamltree_where(t, path, &l, &c);

	if (got != exact || l != line || c != col)
		fail_msg("where(\"%s\"): %s %d:%d, want %s %d:%d", path, got ? "exact" : "ancestor",
			 l, c, exact ? "exact" : "ancestor", line, col);
	assert_int_equal(yamltree_line(t, path), line);
}

/* ---- scalar typing ---------------------------------------------------------- */

static void yamltree__scalars__typed_deterministically(void **state)
{
	static const struct { const char *yaml, *json; } cases[] = {
		/* nulls: plain only */
		{ "a: ~", "{\"a\":null}" },
		{ "a: null", "{\"a\":null}" },
		{ "a: Null", "{\"a\":null}" },
		{ "a: NULL", "{\"a\":null}" },
		{ "a:", "{\"a\":null}" },
		{ "a: nULL", "{\"a\":\"nULL\"}" },
		{ "a: '~'", "{\"a\":\"~\"}" },
		{ "a: \"null\"", "{\"a\":\"null\"}" },
		{ "a: ''", "{\"a\":\"\"}" },
		{ "a: !!str ~", "{\"a\":\"~\"}" },
		/* booleans: plain true/false, nothing else */
		{ "a: true", "{\"a\":true}" },
		{ "a: false", "{\"a\":false}" },
		{ "a: True", "{\"a\":\"True\"}" },
		{ "a: FALSE", "{\"a\":\"FALSE\"}" },
		{ "a: yes", "{\"a\":\"yes\"}" },
		{ "a: no", "{\"a\":\"no\"}" },
		{ "a: on", "{\"a\":\"on\"}" },
		{ "a: off", "{\"a\":\"off\"}" },
		{ "a: y", "{\"a\":\"y\"}" },
		{ "country: NO", "{\"country\":\"NO\"}" },
		{ "a: \"true\"", "{\"a\":\"true\"}" },
		{ "a: !!str false", "{\"a\":\"false\"}" },
		{ "a: ! true", "{\"a\":\"true\"}" },
		/* numbers keep their text */
		{ "a: 0x1F", "{\"a\":\"0x1F\"}" },
		{ "a: 1e3", "{\"a\":\"1e3\"}" },
		{ "a: 0.05", "{\"a\":\"0.05\"}" },
		{ "a: 007", "{\"a\":\"007\"}" },
		{ "a: -12", "{\"a\":\"-12\"}" },
		{ "a: .inf", "{\"a\":\".inf\"}" },
		{ "a: 1.80", "{\"a\":\"1.80\"}" },
		{ "a: 99999999999999999999999", "{\"a\":\"99999999999999999999999\"}" },
		/* keys are always text as written */
		{ "true: 1", "{\"true\":\"1\"}" },
		{ "~: 1", "{\"~\":\"1\"}" },
		{ "1: x", "{\"1\":\"x\"}" },
		{ "? \n: x", "{\"\":\"x\"}" },
		/* block scalars, flow, and a bare scalar document */
		{ "a: |\n  x\n  y\n", "{\"a\":\"x\\ny\\n\"}" },
		{ "a: >-\n  x\n  y\n", "{\"a\":\"x y\"}" },
		{ "[a, 'b', ~, true, {c: d}]", "[\"a\",\"b\",null,true,{\"c\":\"d\"}]" },
		{ "just text", "\"just text\"" },
		{ "!!map {a: 1}", "{\"a\":\"1\"}" },
		{ "!!seq [1]", "[\"1\"]" },
		/* BOM and CRLF */
		{ "\xEF\xBB\xBF" "a: 1\r\nb: 2\r\n", "{\"a\":\"1\",\"b\":\"2\"}" },
		/* NUL written as an escape stays in the value (validators refuse it) */
		{ "a: \"x\\0y\"", "{\"a\":\"x\\u0000y\"}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_json(cases[i].yaml, cases[i].json);
}

static void yamltree__empty_text__null_root(void **state)
{
	/* No document at all has no position; "---" starts one holding an empty value. */
	static const struct { const char *yaml; int line; } empty[] = {
		{ "", 0 }, { "# only a comment\n", 0 }, { "\n\n", 0 },
		{ "---\n", 2 }, { "# c\n---\n...\n", 3 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct yamltree *t = parse(empty[i].yaml);
		int col = empty[i].line ? 1 : 0;

		assert_true(json_is_null(yamltree_root(t)));
		expect_where(t, "", empty[i].line > 0, empty[i].line, col);
		expect_where(t, "a.b", false, empty[i].line, col);
		assert_int_equal(yamltree_ndups(t), 0);
		yamltree_free(t);
	}
	/* A NULL text of length 0 is an empty text; with a length it is a mistake. */
	{
		struct yamltree *t = NULL;
		struct yamltree_error e;

		assert_int_equal(yamltree_parse(NULL, 0, NULL, &t, &e), VIVA_OK);
		assert_true(json_is_null(yamltree_root(t)));
		yamltree_free(t);
		assert_int_equal(yamltree_parse(NULL, 5, NULL, &t, &e), VIVA_EINVAL);
		assert_null(t);
		assert_int_equal(yamltree_parse(NULL, 5, NULL, &t, NULL), VIVA_EINVAL);
	}
	/* A scalar "~" is a document holding null, on its line. */
	{
		struct yamltree *t = parse("\n~\n");

		assert_true(json_is_null(yamltree_root(t)));
		expect_where(t, "", true, 2, 1);
		yamltree_free(t);
	}
	/* NULL trees answer politely. */
	assert_null(yamltree_root(NULL));
	assert_int_equal(yamltree_line(NULL, "a"), 0);
	assert_int_equal(yamltree_ndups(NULL), 0);
	assert_null(yamltree_dup(NULL, 0));
	yamltree_free(NULL);
}

/* ---- positions ---------------------------------------------------------------- */

static const char service_yaml[] =
	"name: service-a\n"                                   /* 1 */
	"owners: [U012AB3CD, U045EF6GH]\n"                    /* 2 */
	"resources:\n"                                        /* 3 */
	"  alpha: { instance: 1, cpu: \"0.05\" }\n"           /* 4 */
	"  prod:\n"                                           /* 5 */
	"    instance: 4\n"                                   /* 6 */
	"    cpu: abc\n"                                      /* 7 */
	"batches:\n"                                          /* 8 */
	"  - name: settle\n"                                  /* 9 */
	"    command:\n"                                      /* 10 */
	"      - java\n"                                      /* 11 */
	"      -   -jar\n";                                   /* 12 */

static void yamltree__paths__line_and_column(void **state)
{
	struct yamltree *t = parse(service_yaml);

	(void)state;
	expect_where(t, "", true, 1, 1);
	expect_where(t, "name", true, 1, 1);
	expect_where(t, "owners", true, 2, 1);
	expect_where(t, "owners[0]", true, 2, 10);
	expect_where(t, "owners[1]", true, 2, 21);
	/* a member is where its key is, even when the value starts below */
	expect_where(t, "resources", true, 3, 1);
	expect_where(t, "resources.alpha", true, 4, 3);
	expect_where(t, "resources.alpha.cpu", true, 4, 25);
	expect_where(t, "resources.prod", true, 5, 3);
	expect_where(t, "resources.prod.cpu", true, 7, 5);
	expect_where(t, "batches[0]", true, 9, 5);
	expect_where(t, "batches[0].name", true, 9, 5);
	expect_where(t, "batches[0].command[0]", true, 11, 9);
	expect_where(t, "batches[0].command[1]", true, 12, 11);
	/* not there: the nearest ancestor that is */
	expect_where(t, "resources.prod.memory", false, 5, 3);
	expect_where(t, "batches[0].command[7]", false, 10, 5);
	expect_where(t, "batches[3].schedule", false, 8, 1);
	expect_where(t, "image", false, 1, 1);
	expect_where(t, "nope.deeper[2].x", false, 1, 1);
	expect_where(t, "[0]", false, 1, 1);
	/* a NULL pointer for what the caller does not want */
	assert_true(yamltree_where(t, "owners[1]", NULL, NULL));
	yamltree_free(t);
}

static void yamltree__path_helpers__same_syntax_as_recorded(void **state)
{
	char *a = yamltree_path_key("", "name");
	char *b = yamltree_path_key("resources.alpha", "cpu");
	char *c = yamltree_path_index("owners", 1);
	char *d = yamltree_path_key(NULL, "x");
	struct yamltree *t = parse(service_yaml);

	(void)state;
	assert_string_equal(a, "name");
	assert_string_equal(b, "resources.alpha.cpu");
	assert_string_equal(c, "owners[1]");
	assert_string_equal(d, "x");
	assert_true(yamltree_where(t, a, NULL, NULL));
	assert_true(yamltree_where(t, c, NULL, NULL));
	free(a);
	free(b);
	free(c);
	free(d);
	yamltree_free(t);
}

/* ---- repeated keys ---------------------------------------------------------- */

static void yamltree__duplicate_keys__listed_with_both_lines(void **state)
{
	struct yamltree *t = parse("workers: 4\n"                    /* 1 */
				   "resources:\n"                    /* 2 */
				   "  alpha: { cpu: 1 }\n"           /* 3 */
				   "  alpha:\n"                      /* 4 */
				   "    cpu: x\n"                    /* 5 */
				   "    cpu: y\n"                    /* 6: inside a dropped value */
				   "workers: 5\n"                    /* 7 */
				   "list: [{a: 1, a: 2}]\n");        /* 8 */
	const struct yamltree_dup *d;
	char *j;

	(void)state;
	assert_int_equal(yamltree_ndups(t), 3);
	d = yamltree_dup(t, 0);
	assert_string_equal(d->parent, "resources");
	assert_string_equal(d->key, "alpha");
	assert_int_equal(d->line, 4);
	assert_int_equal(d->col, 3);
	assert_int_equal(d->first_line, 3);
	assert_int_equal(d->first_col, 3);
	d = yamltree_dup(t, 1);
	assert_string_equal(d->parent, "");
	assert_string_equal(d->key, "workers");
	assert_int_equal(d->line, 7);
	assert_int_equal(d->first_line, 1);
	d = yamltree_dup(t, 2);
	assert_string_equal(d->parent, "list[0]");
	assert_string_equal(d->key, "a");
	assert_int_equal(d->line, 8);
	assert_int_equal(d->col, 15);
	assert_int_equal(d->first_col, 9);
	assert_null(yamltree_dup(t, 3));
	/* the first value stays */
	j = dump(t);
	assert_string_equal(j, "{\"workers\":\"4\",\"resources\":{\"alpha\":{\"cpu\":\"1\"}},"
			       "\"list\":[{\"a\":\"1\"}]}");
	free(j);
	yamltree_free(t);
}

static void yamltree__many_duplicate_keys__list_bounded(void **state)
{
	struct strbuf sb;
	struct yamltree *t;

	(void)state;
	sb_init(&sb);
	for (int i = 0; i < 5000; i++)
		sb_adds(&sb, "k: v\n");
	t = parse(sb.buf);
	assert_int_equal(yamltree_ndups(t), YAMLTREE_MAX_DUPS);
	assert_int_equal(yamltree_dup(t, YAMLTREE_MAX_DUPS - 1)->line, YAMLTREE_MAX_DUPS + 1);
	yamltree_free(t);
	sb_release(&sb);
}

/* ---- aliases ------------------------------------------------------------------ */

static void yamltree__aliases_off__refused_where_used(void **state)
{
	(void)state;
	refuse("a: &x 1\nb: *x\n", 2, 4, "aliases are not allowed (write the value out)");
	/* an anchor alone is harmless */
	expect_json("a: &x 1\nb: &y [2]\n", "{\"a\":\"1\",\"b\":[\"2\"]}");
}

static void yamltree__aliases_on__shared_and_positioned(void **state)
{
	const char *yaml = "dev:  &d { kubeconfig: /k, context: dev }\n"
			   "prod: *d\n"
			   "name: &n svc\n"
			   "again: [*n, *n]\n";
	struct yamltree *t = parse_lim(yaml, strlen(yaml), &with_aliases);
	json_t *root = yamltree_root(t);
	char *j = dump(t);

	(void)state;
	assert_string_equal(j, "{\"dev\":{\"kubeconfig\":\"/k\",\"context\":\"dev\"},"
			       "\"prod\":{\"kubeconfig\":\"/k\",\"context\":\"dev\"},"
			       "\"name\":\"svc\",\"again\":[\"svc\",\"svc\"]}");
	free(j);
	/* shared, not copied */
	assert_ptr_equal(json_object_get(root, "dev"), json_object_get(root, "prod"));
	/* inside an alias: the alias's position */
	expect_where(t, "prod", true, 2, 1);
	expect_where(t, "prod.context", false, 2, 1);
	expect_where(t, "again[1]", true, 4, 13);
	yamltree_free(t);
}

static void yamltree__alias_errors__named(void **state)
{
	const char *undefined = "a: *nope\n";
	const char *self = "a: &a [1, *a]\n";
	const char *later = "a: *b\nb: &b 1\n";
	const char *key = "a: &k x\n*k : 1\n";

	(void)state;
	refuse_lim(undefined, strlen(undefined), &with_aliases, 1, 4, "alias *nope: no anchor &nope");
	/* an anchor is usable once its node is complete: no cycles */
	refuse_lim(self, strlen(self), &with_aliases, 1, 11, "alias *a: no anchor &a");
	refuse_lim(later, strlen(later), &with_aliases, 1, 4, "alias *b: no anchor");
	refuse_lim(key, strlen(key), &with_aliases, 2, 1, "keys must be plain text, not aliases");
}

static void yamltree__alias_bomb__bounded_by_node_cap(void **state)
{
	const char *bomb =
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	const char *small = "a: &a [x, x, x]\nb: [*a, *a]\n";   /* 2 + 4 + 1 + 1 + 2*4 = 16 */
	struct yamltree_limits lim = { .aliases = true, .max_nodes = 16 };
	struct yamltree *t;

	(void)state;
	/* a stands for 10 nodes, b 91, c 820, d 7381, e 66430: 74740 nodes up to
	 * f's list, and f's first *e passes 100000 */
	refuse_lim(bomb, strlen(bomb), &with_aliases, 6, 8,
		   "more than 100000 YAML nodes (aliases count as what they stand for)");
	/* refused with aliases off, at the first alias */
	refuse_lim(bomb, strlen(bomb), NULL, 2, 8, "aliases are not allowed");
	/* the count is exact: 16 fits, 15 does not */
	t = parse_lim(small, strlen(small), &lim);
	yamltree_free(t);
	lim.max_nodes = 15;
	refuse_lim(small, strlen(small), &lim, 2, 9, "more than 15 YAML nodes");
}

/* ---- limits --------------------------------------------------------------------- */

static void yamltree__size_cap__just_over_refused(void **state)
{
	struct yamltree_limits lim = { .max_bytes = 4096 };
	struct strbuf sb;
	struct yamltree *t;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "a: 1\n");
	while (sb.len < 4096)
		sb_addc(&sb, '#');
	assert_int_equal(sb.len, 4096);
	t = parse_lim(sb.buf, sb.len, &lim);
	yamltree_free(t);
	sb_addc(&sb, '\n');
	refuse_lim(sb.buf, sb.len, &lim, 0, 0, "the YAML text is 4097 bytes; at most 4096 are allowed");
	sb_release(&sb);

	/* the default cap: 1 MiB */
	sb_init(&sb);
	while (sb.len <= YAMLTREE_MAX_BYTES)
		sb_adds(&sb, "# padding padding padding padding padding padding padding\n");
	refuse_lim(sb.buf, sb.len, NULL, 0, 0, "at most 1048576 are allowed");
	sb_release(&sb);
}

static void yamltree__depth_cap__refused_at_the_level(void **state)
{
	struct strbuf sb;
	struct yamltree_limits lim = { .max_depth = 3 };
	struct yamltree *t;

	(void)state;
	/* 10 000 deep, flow */
	sb_init(&sb);
	sb_adds(&sb, "a: ");
	for (int i = 0; i < 10000; i++)
		sb_addc(&sb, '[');
	refuse(sb.buf, 1, 35, "nested deeper than 32 levels");
	sb_release(&sb);

	sb_init(&sb);
	for (int i = 0; i < 10000; i++)
		sb_adds(&sb, "{a: ");
	refuse(sb.buf, 1, -1, "nested deeper than 32 levels");
	sb_release(&sb);

	/* block style, 40 deep: refused on the 33rd level's line */
	sb_init(&sb);
	for (int i = 0; i < 40; i++)
		sb_addf(&sb, "%*sk%d:\n", 2 * i, "", i);
	refuse(sb.buf, 33, 65, "nested deeper than 32 levels");
	sb_release(&sb);

	/* exactly the limit is fine */
	t = parse_lim("a: [[1]]", 8, &lim);
	yamltree_free(t);
	refuse_lim("a: [[[1]]]", 10, &lim, 1, 6, "nested deeper than 3 levels");
}

static void yamltree__node_cap__counts_every_node(void **state)
{
	struct yamltree_limits lim = { .max_nodes = 10 };
	struct yamltree *t;

	(void)state;
	/* root + 9 items = 10 */
	t = parse_lim("[1,2,3,4,5,6,7,8,9]", 19, &lim);
	yamltree_free(t);
	refuse_lim("[1,2,3,4,5,6,7,8,9,10]", 22, &lim, 1, 20, "more than 10 YAML nodes");
	/* keys count: root + 4 keys + 4 values = 9; one more pair is 11 */
	t = parse_lim("{a: 1, b: 2, c: 3, d: 4}", 24, &lim);
	yamltree_free(t);
	refuse_lim("{a: 1, b: 2, c: 3, d: 4, e: 5}", 30, &lim, 1, 29, "more than 10 YAML nodes");
}

/* ---- refused shapes ----------------------------------------------------------- */

static void yamltree__bad_shapes__refused_with_position(void **state)
{
	(void)state;
	refuse("name: a\n---\nname: b\n", 2, 1, "more than one YAML document (one per file)");
	refuse("a: 1\n...\n---\nb: 2\n", 3, 1, "more than one YAML document");
	refuse("? [a]\n: b\n", 1, 3, "keys must be plain text, not lists or mappings");
	refuse("{[a]: 1}", 1, 2, "keys must be plain text, not lists or mappings");
	refuse("x:\n  ? {a: 1}\n  : b\n", 2, 5, "keys must be plain text");
	refuse("\"a\\0b\": 1\n", 1, 1, "a key contains a NUL character");
	refuse("a: !!binary aGVsbG8=\n", 1, 4,
	       "tag !!binary is not supported here (viva reads text, lists and mappings; remove the tag)");
	refuse("a: !!int 5\n", 1, 4, "tag !!int is not supported");
	refuse("a: !custom x\n", 1, 4, "tag !custom is not supported");
	refuse("a: !!map [1]\n", 1, 4, "tag !!map is not supported");
	refuse("a: !!seq {b: 1}\n", 1, 4, "tag !!seq is not supported");
	refuse("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n", 3, 4,
	       "tag tag:example.com,2000:x is not supported");
	refuse("a: !<tag:yaml.org,2002:binary> x\n", 1, 4, "tag !!binary");
}

static void yamltree__libyaml_errors__line_column_and_hint(void **state)
{
	struct yamltree_error e;
	struct yamltree *t = NULL;

	(void)state;
	refuse("name: \"abc\nowners: []\n", 3, 1,
	       "found unexpected end of stream while scanning a quoted scalar that started at line 1");
	refuse("name: a\nowners:\n\t- U012AB3CD\n", 3, 1, "(YAML indents with spaces, not tabs)");
	refuse("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed in this context");
	refuse("name: [a, b\n", 2, 1, "while parsing a flow sequence that started at line 1");
	/* the reader: invalid UTF-8, NUL and other control characters */
	refuse_lim("\x00\x01\xff\xfe garbage", 12, NULL, 1, 1, "not a YAML text");
	refuse("name: ok\nimage: \xff\xfe\n", 2, 8, "not a YAML text: invalid leading UTF-8 octet");
	refuse("name: ok\nimage: a\xc3(\n", 2, 10, "not a YAML text: invalid trailing UTF-8 octet");
	refuse_lim("a: 1\nb: x\0y\n", 11, NULL, 2, 5, "not a YAML text: control characters are not allowed");
	refuse("name: a\n\x7f\n", 2, 1, "not a YAML text");
	refuse("a: \"\\ud800\"\n", 1, -1, "invalid Unicode character escape code");
	/* the syntax flag tells a parser error from the rest */
	assert_int_equal(yamltree_parse("a: [1\n", 6, NULL, &t, &e), VIVA_EPARSE);
	assert_true(e.syntax);
	assert_int_equal(yamltree_parse("a: \xff\n", 5, NULL, &t, &e), VIVA_EPARSE);
	assert_false(e.syntax);
	assert_int_equal(yamltree_parse("a: 1\n---\nb\n", 11, NULL, &t, &e), VIVA_EPARSE);
	assert_false(e.syntax);
	/* no error struct: still refused, no crash */
	assert_int_equal(yamltree_parse("a: [1\n", 6, NULL, &t, NULL), VIVA_EPARSE);
	assert_null(t);
}

/* Messages never quote a value: values may be passwords or tokens. */
static void yamltree__errors__never_quote_values(void **state)
{
	static const char *const bad[] = {
		"url: http://robot:hunter2-pw@registry\n  bad: indent\n",
		"password: hunter2-pw\npassword: hunter2-pw\n---\n",
		"token: \"hunter2-pw\n",
		"token: hunter2-pw\nx: !!binary hunter2-pw\n",
		"token: [hunter2-pw, {a: b]\n",
		"token: hunter2-pw\xff\n",
		"token: &a hunter2-pw\nb: *a\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct yamltree *t = NULL;
		struct yamltree_error e;
		int rc = yamltree_parse(bad[i], strlen(bad[i]), NULL, &t, &e);

		if (rc != VIVA_EPARSE || strstr(e.msg, "hunter2"))
			fail_msg("case %zu: rc %d, msg [%s]", i, rc, e.msg);
		assert_null(t);
	}
}

/* ---- very long keys -------------------------------------------------------------- */

static void yamltree__long_key_over_big_list__table_bounded(void **state)
{
	struct strbuf sb;
	struct yamltree *t;
	json_t *list;
	const char *key;
	json_t *val;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "name: x\n? ");
	for (int i = 0; i < 100000; i++)
		sb_addc(&sb, 'k');
	sb_adds(&sb, "\n: [");
	for (int i = 0; i < 60000; i++)
		sb_adds(&sb, "1,");
	sb_adds(&sb, "1]\n");
	t = parse(sb.buf);
	json_object_foreach(yamltree_root(t), key, val) {
		if (strlen(key) == 100000)
			break;
	}
	assert_non_null(key);
	list = json_object_get(yamltree_root(t), key);
	assert_int_equal(json_array_size(list), 60001);
	/* too long a path to record: the root answers for it */
	{
		char *p = yamltree_path_index(key, 59999);

		expect_where(t, p, false, 1, 1);
		free(p);
	}
	expect_where(t, "name", true, 1, 1);
	yamltree_free(t);
	sb_release(&sb);

	/* an implicit key stops at 1024 characters: libyaml refuses the ':' after it */
	sb_init(&sb);
	for (int i = 0; i < 2000; i++)
		sb_addc(&sb, 'k');
	sb_adds(&sb, ": 1\n");
	refuse(sb.buf, 1, 2001, "mapping values are not allowed in this context");
	sb_release(&sb);
}

static void yamltree__many_nodes__positions_past_the_budget_fall_back(void **state)
{
	struct strbuf sb;
	struct yamltree *t;

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "list:\n");
	for (int i = 0; i < 30000; i++)
		sb_adds(&sb, "  - x\n");
	sb_adds(&sb, "last: y\n");
	t = parse(sb.buf);
	expect_where(t, "list[0]", true, 2, 5);
	expect_where(t, "list[1000]", true, 1002, 5);
	/* past the budget: the nearest recorded ancestor */
	expect_where(t, "list[29999]", false, 1, 1);
	expect_where(t, "last", false, 1, 1);
	assert_int_equal(json_array_size(json_object_get(yamltree_root(t), "list")), 30000);
	yamltree_free(t);
	sb_release(&sb);
}

/* ---- never a crash ------------------------------------------------------------------ */

static void yamltree__mangled_documents__never_crash(void **state)
{
	static const char subst[] = { '\0', '\t', '\n', ':', '[', ']', '{', '}', '"', '\'', '&',
				      '*', '-', '#', '!', '|', '>', '%', '@', '?', ',', '\\', ' ',
				      '\xff', '\xc3' };
	const char *doc =
		"a: &x [1, {b: c}]\n"
		"d: *x\n"
		"e: |\n  text\n"
		"f: !!str g\n"
		"? h\n: i\n";
	size_t n = strlen(doc);
	char *buf = xmalloc(n + 1);
	size_t ok = 0;

	(void)state;
	for (int aliases = 0; aliases < 2; aliases++) {
		struct yamltree_limits lim = { .aliases = aliases, .max_nodes = 50 };

		for (size_t len = 0; len <= n; len++) {
			struct yamltree *t = NULL;
			struct yamltree_error e;
			int rc = yamltree_parse(doc, len, &lim, &t, &e);

			assert_true(rc == VIVA_OK || rc == VIVA_EPARSE);
			assert_true((rc == VIVA_OK) == (t != NULL));
			ok += rc == VIVA_OK;
			yamltree_free(t);
		}
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t k = 0; k < sizeof(subst); k++) {
				struct yamltree *t = NULL;
				struct yamltree_error e;
				int rc;

				memcpy(buf, doc, n + 1);
				buf[pos] = subst[k];
				rc = yamltree_parse(buf, n, &lim, &t, &e);
				assert_true((rc == VIVA_OK) == (t != NULL));
				if (rc)
					assert_null(strchr(e.msg, '\n'));
				else
					yamltree_line(t, "a[1].b");
				yamltree_free(t);
			}
		}
	}
	assert_true(ok > 2);
	free(buf);
}

/* Random bytes from a fixed seed: any answer but a crash or a leak. */
static void yamltree__random_bytes__never_crash(void **state)
{
	static const char alphabet[] = "ab: -[]{},&*!|>'\"#?\n\t\\~%@`\x01\xc3\xa9\xff";
	unsigned int seed = 12345;
	char buf[256];

	(void)state;
	for (int round = 0; round < 3000; round++) {
		struct yamltree_limits lim = { .aliases = round & 1, .max_depth = 8, .max_nodes = 64 };
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		struct yamltree *t = NULL;
		int rc;

		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		rc = yamltree_parse(buf, len, &lim, &t, NULL);
		assert_true(rc == VIVA_OK || rc == VIVA_EPARSE);
		assert_true((rc == VIVA_OK) == (t != NULL));
		yamltree_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yamltree__scalars__typed_deterministically),
		cmocka_unit_test(yamltree__empty_text__null_root),
		cmocka_unit_test(yamltree__paths__line_and_column),
		cmocka_unit_test(yamltree__path_helpers__same_syntax_as_recorded),
		cmocka_unit_test(yamltree__duplicate_keys__listed_with_both_lines),
		cmocka_unit_test(yamltree__many_duplicate_keys__list_bounded),
		cmocka_unit_test(yamltree__aliases_off__refused_where_used),
		cmocka_unit_test(yamltree__aliases_on__shared_and_positioned),
		cmocka_unit_test(yamltree__alias_errors__named),
		cmocka_unit_test(yamltree__alias_bomb__bounded_by_node_cap),
		cmocka_unit_test(yamltree__size_cap__just_over_refused),
		cmocka_unit_test(yamltree__depth_cap__refused_at_the_level),
		cmocka_unit_test(yamltree__node_cap__counts_every_node),
		cmocka_unit_test(yamltree__bad_shapes__refused_with_position),
		cmocka_unit_test(yamltree__libyaml_errors__line_column_and_hint),
		cmocka_unit_test(yamltree__errors__never_quote_values),
		cmocka_unit_test(yamltree__long_key_over_big_list__table_bounded),
		cmocka_unit_test(yamltree__many_nodes__positions_past_the_budget_fall_back),
		cmocka_unit_test(yamltree__mangled_documents__never_crash),
		cmocka_unit_test(yamltree__random_bytes__never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
