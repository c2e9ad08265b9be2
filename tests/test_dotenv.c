/*
 * Tests for bot/model/dotenv.c: the .env syntax (quotes, export, comments,
 * BOM, CRLF, last assignment wins), errors with file:line that never quote
 * the line, and hostile input (NUL bytes, huge lines and files, binary
 * garbage, a directory where the file should be).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"
#include "bot/model/dotenv.h"

static void parse_ok(struct dotenv *d, const char *text, size_t len)
{
	char err[256] = "";
	int rc;

	dotenv_init(d);
	rc = dotenv_parse(d, text, len, ".env", err, sizeof(err));
	if (rc != VIVA_OK)
		fail_msg("dotenv_parse failed (%d): %s", rc, err);
}

static void expect(const struct dotenv *d, const char *key, const char *want)
{
	const char *got = dotenv_get(d, key);

	if (!want && got)
		fail_msg("%s: got \"%s\", want nothing", key, got);
	if (want && (!got || strcmp(got, want)))
		fail_msg("%s: got %s%s%s, want \"%s\"", key, got ? "\"" : "", got ? got : "nothing",
			 got ? "\"" : "", want);
}

/* ---- the syntax ------------------------------------------------------------ */

static void dotenv__syntax__quotes_export_comments(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF# viva settings\n"
		"\n"
		"   # indented comment\n"
		"export SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
		"export\tTABBED=1\n"
		"SLACK_APP_TOKEN = \"xapp-quoted\"   # trailing comment\n"
		"REGISTRY_PASSWORD=\"a \\\"b\\\" \\\\ c\\\\nd\"\n"
		"NEWLINE=\"x\\ny\"\n"
		"OTHER_ESCAPE=\"a\\tb\\$c\"\n"
		"REGISTRY_USER='robot # not a comment'\r\n"
		"SINGLE='no \\n escapes'\n"
		"VIVA_DB=./data/viva.db   \n"
		"VIVA_TEMPLATES=./t # comment after a space\n"
		"KUBE_CA_FILE=/ca#1\n"
		"URL=http://h/a?b=c&d=e\n"
		"lower_case_ok=1\n"
		"_UNDERSCORE=2\n"
		"export=3\n"
		"VIVA_LOG_LEVEL=warn\n"
		"VIVA_LOG_LEVEL=error\n"
		"EMPTY=\n"
		"EMPTY_QUOTED=\"\"\n"
		"SPACES_INSIDE=\"  a  \"\n"
		"QUOTE_THEN_COMMENT='v' # c\n"
		"LAST=no final newline";
	struct dotenv d;

	(void)state;
	parse_ok(&d, text, strlen(text));
	expect(&d, "SLACK_BOT_TOKEN", "xoxb-from-dotenv");
	expect(&d, "TABBED", "1");
	expect(&d, "SLACK_APP_TOKEN", "xapp-quoted");
	expect(&d, "REGISTRY_PASSWORD", "a \"b\" \\ c\\nd");
	expect(&d, "NEWLINE", "x\ny");
	expect(&d, "OTHER_ESCAPE", "a\\tb\\$c");
	expect(&d, "REGISTRY_USER", "robot # not a comment");
	expect(&d, "SINGLE", "no \\n escapes");
	expect(&d, "VIVA_DB", "./data/viva.db");
	expect(&d, "VIVA_TEMPLATES", "./t");
	expect(&d, "KUBE_CA_FILE", "/ca#1");
	expect(&d, "URL", "http://h/a?b=c&d=e");
	expect(&d, "lower_case_ok", "1");
	expect(&d, "_UNDERSCORE", "2");
	expect(&d, "export", "3");
	expect(&d, "VIVA_LOG_LEVEL", "error");
	expect(&d, "EMPTY", "");
	expect(&d, "EMPTY_QUOTED", "");
	expect(&d, "SPACES_INSIDE", "  a  ");
	expect(&d, "QUOTE_THEN_COMMENT", "v");
	expect(&d, "LAST", "no final newline");
	expect(&d, "NOT_THERE", NULL);
	expect(&d, "viva_log_level", NULL);  /* names are case-sensitive */
	dotenv_release(&d);
	dotenv_release(&d);  /* twice is harmless */
	assert_int_equal(d.n, 0);
}

static void dotenv__empty_inputs__nothing_added(void **state)
{
	static const char *const texts[] = { "", "\n", "\r\n", "\xEF\xBB\xBF", "# only\n\n   \n\t\n" };
	struct dotenv d;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		parse_ok(&d, texts[i], strlen(texts[i]));
		assert_int_equal(d.n, 0);
		dotenv_release(&d);
	}
	parse_ok(&d, NULL, 0);
	assert_int_equal(d.n, 0);
	dotenv_release(&d);
}

/* Each bad line: its line number and what is wrong, never the secret on it. */
static void dotenv__bad_lines__line_and_reason_without_the_value(void **state)
{
	static const struct { const char *body; const char *want; } cases[] = {
		{ "VIVA_DB=x\nxoxb-leaked-secret-123\n", ".env:2: expected KEY=VALUE" },
		{ "# c\n\nBAD-KEY=leaked-secret-123\n", ".env:3: invalid variable name" },
		{ "1KEY=leaked-secret-123\n", ".env:1: invalid variable name" },
		{ "=leaked-secret-123\n", ".env:1: invalid variable name" },
		{ "K\xc3\xa9Y=leaked-secret-123\n", ".env:1: invalid variable name" },
		{ "export =leaked-secret-123\n", ".env:1: invalid variable name" },
		{ "SLACK_BOT_TOKEN=\"xoxb-leaked-secret-123\n", ".env:1: unterminated double quote" },
		{ "A=1\nSLACK_BOT_TOKEN='xoxb-leaked-secret-123\n", ".env:2: unterminated single quote" },
		{ "A=\"leaked-secret-123\\\"\n", ".env:1: unterminated double quote" },
		{ "SLACK_BOT_TOKEN=\"xoxb\" leaked-secret-123\n", ".env:1: unexpected text after the closing quote" },
		{ "export\n", ".env:1: expected KEY=VALUE" },
		{ "MY KEY=leaked-secret-123\n", ".env:1: expected KEY=VALUE" },
		{ "A=1\r\nB=2\r\nC leaked-secret-123\r\n", ".env:3: expected KEY=VALUE" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dotenv d;
		char err[256] = "";
		int rc;

		dotenv_init(&d);
		rc = dotenv_parse(&d, cases[i].body, strlen(cases[i].body), ".env", err, sizeof(err));
		if (rc != VIVA_EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("case %zu: rc %d err [%s], want [%s]", i, rc, err, cases[i].want);
		assert_null(strstr(err, "leaked-secret"));
		assert_null(strchr(err, '\n'));
		dotenv_release(&d);
	}
}

static void dotenv__nul_bytes__refused_with_line(void **state)
{
	static const char text[] = "A=1\nB=top\0secret\nC=3\n";
	static const char comment[] = "A=1\n# x\0y\n";
	struct dotenv d;
	char err[256];

	(void)state;
	dotenv_init(&d);
	assert_int_equal(dotenv_parse(&d, text, sizeof(text) - 1, "x.env", err, sizeof(err)),
			 VIVA_EINVAL);
	assert_string_equal(err, "x.env:2: contains a NUL byte");
	/* the lines before stay; the caller releases */
	expect(&d, "A", "1");
	expect(&d, "C", NULL);
	dotenv_release(&d);

	dotenv_init(&d);
	assert_int_equal(dotenv_parse(&d, comment, sizeof(comment) - 1, "x.env", err, sizeof(err)),
			 VIVA_EINVAL);
	assert_string_equal(err, "x.env:2: contains a NUL byte");
	dotenv_release(&d);

	/* a NULL error buffer is fine */
	dotenv_init(&d);
	assert_int_equal(dotenv_parse(&d, text, sizeof(text) - 1, "x.env", NULL, 0), VIVA_EINVAL);
	dotenv_release(&d);
}

static void dotenv__huge_and_many__handled(void **state)
{
	struct strbuf sb;
	struct dotenv d;

	(void)state;
	/* one 512 KiB value */
	sb_init(&sb);
	sb_adds(&sb, "BIG=");
	for (int i = 0; i < 512 * 1024; i++)
		sb_addc(&sb, 'x');
	sb_adds(&sb, "\nAFTER=1\n");
	parse_ok(&d, sb.buf, sb.len);
	assert_int_equal(strlen(dotenv_get(&d, "BIG")), 512 * 1024);
	expect(&d, "AFTER", "1");
	dotenv_release(&d);
	sb_release(&sb);

	/* 20 000 assignments of one key: the last wins */
	sb_init(&sb);
	for (int i = 0; i < 20000; i++)
		sb_addf(&sb, "K=%d\n", i);
	parse_ok(&d, sb.buf, sb.len);
	assert_int_equal(d.n, 20000);
	expect(&d, "K", "19999");
	dotenv_release(&d);
	sb_release(&sb);

	/* a CR alone does not end a line: the value keeps it (config refuses it later) */
	parse_ok(&d, "A=1\rB=2\n", 8);
	expect(&d, "A", "1\rB=2");
	expect(&d, "B", NULL);
	dotenv_release(&d);
}

static void dotenv__random_bytes__never_crash(void **state)
{
	static const char alphabet[] = "AB_=#'\" \t\\\nxe\r\x01\xc3\xff";
	unsigned int seed = 4242;
	char buf[200];

	(void)state;
	for (int round = 0; round < 5000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		struct dotenv d;
		char err[128];
		int rc;

		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		dotenv_init(&d);
		rc = dotenv_parse(&d, buf, len, "r.env", err, sizeof(err));
		assert_true(rc == VIVA_OK || rc == VIVA_EINVAL);
		if (rc)
			assert_null(strchr(err, '\n'));
		dotenv_release(&d);
	}
}

/* ---- files ------------------------------------------------------------------- */

static void dotenv__load__missing_dir_and_oversized(void **state)
{
	char dir[] = "/tmp/viva-dotenv-XXXXXX";
	char *file, *sub, *big, *odd;
	struct dotenv d;
	char err[512];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	file = xasprintf("%s/.env", dir);
	sub = xasprintf("%s/sub", dir);
	big = xasprintf("%s/big.env", dir);
	odd = xasprintf("%s/line\nbreak.env", dir);

	/* missing: fine, nothing added */
	dotenv_init(&d);
	assert_int_equal(dotenv_load(&d, file, err, sizeof(err)), VIVA_OK);
	assert_int_equal(d.n, 0);

	f = fopen(file, "w");
	assert_non_null(f);
	fputs("A=1\nB='two'\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(dotenv_load(&d, file, err, sizeof(err)), VIVA_OK);
	expect(&d, "B", "two");
	dotenv_release(&d);

	/* a directory */
	assert_int_equal(mkdir(sub, 0700), 0);
	dotenv_init(&d);
	assert_int_equal(dotenv_load(&d, sub, err, sizeof(err)), VIVA_EIO);
	assert_non_null(strstr(err, "not read: not a regular file"));
	dotenv_release(&d);

	/* a FIFO: refused at once, not waited on */
	{
		char *fifo = xasprintf("%s.fifo", sub);
		assert_int_equal(mkfifo(fifo, 0600), 0);
		dotenv_init(&d);
		assert_int_equal(dotenv_load(&d, fifo, err, sizeof(err)), VIVA_EIO);
		assert_non_null(strstr(err, "not read: not a regular file"));
		unlink(fifo);
		free(fifo);
	}
	dotenv_release(&d);

	/* just over the size cap */
	f = fopen(big, "w");
	assert_non_null(f);
	for (size_t i = 0; i <= DOTENV_MAX_BYTES; i += 8)
		fputs("#comment", f);
	assert_int_equal(fclose(f), 0);
	dotenv_init(&d);
	assert_int_equal(dotenv_load(&d, big, err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	dotenv_release(&d);

	/* a file name with a line break still makes a one-line error */
	f = fopen(odd, "w");
	assert_non_null(f);
	fputs("bad line\n", f);
	assert_int_equal(fclose(f), 0);
	dotenv_init(&d);
	assert_int_equal(dotenv_load(&d, odd, err, sizeof(err)), VIVA_EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "break.env:1: expected KEY=VALUE"));
	dotenv_release(&d);

	unlink(file);
	unlink(big);
	unlink(odd);
	rmdir(sub);
	rmdir(dir);
	free(file);
	free(sub);
	free(big);
	free(odd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dotenv__syntax__quotes_export_comments),
		cmocka_unit_test(dotenv__empty_inputs__nothing_added),
		cmocka_unit_test(dotenv__bad_lines__line_and_reason_without_the_value),
		cmocka_unit_test(dotenv__nul_bytes__refused_with_line),
		cmocka_unit_test(dotenv__huge_and_many__handled),
		cmocka_unit_test(dotenv__random_bytes__never_crash),
		cmocka_unit_test(dotenv__load__missing_dir_and_oversized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
