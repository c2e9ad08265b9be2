/* The event loop's allocation-free envelope scanner (bot/envscan.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/slack/envscan.h"
#include "tests/envscan_check.h"

static const char SLASH[] =
	"{\"envelope_id\":\"1d5f3a2e-7c1b-4c0e-9a1f-3b2c4d5e6f70\",\"type\":\"slash_commands\","
	"\"accepts_response_payload\":true,\"payload\":{\"token\":\"x\",\"team_id\":\"T0FAKE\","
	"\"command\":\"/viva\",\"text\":\"help \\\"me\\\" \\u00e9t\\u00e9 \xc3\xa9\",\"user_id\":\"U1\","
	"\"response_url\":\"http://127.0.0.1:1/r/abc\",\"trigger_id\":\"1.2.3\",\"n\":-12.5e+3,"
	"\"list\":[1,2,{\"type\":\"inner\"},[],{}],\"none\":null,\"yes\":false}}";

static const char VIEW[] =
	"{ \"type\" : \"interactive\" , \"payload\" : { \"view\" : { \"type\" : \"modal\" } ,"
	" \"type\" : \"view_submission\" } , \"envelope_id\" : \"e-2\" }\n";

static void scan__slash_command__fields(void **state)
{
	struct envelope_head h;

	(void)state;
	assert_int_equal(envelope_scan(SLASH, strlen(SLASH), &h), 0);
	assert_string_equal(h.envelope_id, "1d5f3a2e-7c1b-4c0e-9a1f-3b2c4d5e6f70");
	assert_string_equal(h.type, "slash_commands");
	assert_true(h.has_payload);
	/* the payload has no "type"; the one inside payload.list is not it */
	assert_string_equal(h.payload_type, "");
	assert_null(envscan_check(SLASH, strlen(SLASH)));
}

static void scan__view_submission__payload_type_and_white_space(void **state)
{
	struct envelope_head h;

	(void)state;
	assert_int_equal(envelope_scan(VIEW, strlen(VIEW), &h), 0);
	assert_string_equal(h.envelope_id, "e-2");
	assert_string_equal(h.type, "interactive");
	assert_string_equal(h.payload_type, "view_submission");
	assert_null(envscan_check(VIEW, strlen(VIEW)));
}

/* payload.text: its leading printable ASCII, cut to fit, never past an escape */
static void scan__payload_text__leading_words_only(void **state)
{
	static const struct { const char *frame, *want; } cases[] = {
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"text\":\"pipeline create\"}}",
		  "pipeline create" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"text\":\"tags svc-a "
		  "0123456789012345678901234567890123456789\"}}", "tags svc-a 012345678901234567890123456789012345" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"text\":\"pipe\\u006cine create\"}}",
		  "pipe" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"text\":\"h\xc3\xa9lp\"}}", "h" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"text\":7}}", "" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"text\":\"top level\",\"payload\":{}}", "" },
		{ "{\"type\":\"slash_commands\",\"envelope_id\":\"e\",\"payload\":{\"x\":{\"text\":\"deeper\"}}}", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope_head h;

		assert_int_equal(envelope_scan(cases[i].frame, strlen(cases[i].frame), &h), 0);
		assert_string_equal(h.payload_text, cases[i].want);
	}
}

static void scan__values_not_kept__left_empty(void **state)
{
	static const char *const cases[] = {
		"{\"envelope_id\":\"a\\u0062c\",\"type\":\"events_api\",\"payload\":{}}",  /* escaped */
		"{\"envelope_id\":\"\xc3\xa9\",\"type\":\"events_api\",\"payload\":{}}",    /* not ASCII */
		"{\"envelope_id\":7,\"type\":\"events_api\",\"payload\":{}}",               /* a number */
		"{\"envelope_id\":\"x\",\"type\":\"a_type_name_longer_than_its_field__\",\"payload\":[]}",
	};
	struct envelope_head h;

	(void)state;
	assert_int_equal(envelope_scan(cases[0], strlen(cases[0]), &h), 0);
	assert_string_equal(h.envelope_id, "");
	assert_string_equal(h.type, "events_api");
	assert_int_equal(envelope_scan(cases[1], strlen(cases[1]), &h), 0);
	assert_string_equal(h.envelope_id, "");
	assert_int_equal(envelope_scan(cases[2], strlen(cases[2]), &h), 0);
	assert_string_equal(h.envelope_id, "");
	assert_int_equal(envelope_scan(cases[3], strlen(cases[3]), &h), 0);
	assert_string_equal(h.envelope_id, "x");
	assert_string_equal(h.type, "");
	assert_false(h.has_payload);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_null(envscan_check(cases[i], strlen(cases[i])));
}

static void scan__duplicate_keys__last_wins_like_jansson(void **state)
{
	static const char s[] = "{\"type\":\"interactive\",\"envelope_id\":\"one\",\"payload\":"
				"{\"type\":\"view_submission\"},\"envelope_id\":\"two\",\"payload\":"
				"{\"type\":\"block_actions\"},\"type\":\"events_api\"}";
	static const char t[] = "{\"envelope_id\":\"x\",\"type\":\"slash_commands\",\"type\":null,"
				"\"payload\":{\"type\":\"a\"},\"payload\":\"gone\"}";
	struct envelope_head h;

	(void)state;
	assert_int_equal(envelope_scan(s, strlen(s), &h), 0);
	assert_string_equal(h.envelope_id, "two");
	assert_string_equal(h.type, "events_api");
	assert_string_equal(h.payload_type, "block_actions");
	assert_int_equal(envelope_scan(t, strlen(t), &h), 0);
	assert_string_equal(h.type, "");
	assert_false(h.has_payload);
	assert_string_equal(h.payload_type, "");
	assert_null(envscan_check(s, strlen(s)));
	assert_null(envscan_check(t, strlen(t)));
}

static void scan__malformed__refused(void **state)
{
	static const char *const bad[] = {
		"", " ", "[]", "\"x\"", "42", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
		"{,\"a\":1}", "{a:1}", "{'a':1}", "{\"a\":1}}", "{\"a\":1} x", "{\"a\":01}",
		"{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}",
		"{\"a\":nul}", "{\"a\":True}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"\xc3\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf5\x80\x80\x80\"}",
		"{\"a\":[1,2}", "{\"a\":[1,,2]}", "{\"a\":[1 2]}", "{\"a\":\"unterminated}",
		"{\"a\":1 \"b\":2}", "{\"a\" 1}",
	};
	struct envelope_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&h, 'x', sizeof(h));
		if (envelope_scan(bad[i], strlen(bad[i]), &h) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_string_equal(h.envelope_id, "");   /* nothing half-filled */
		assert_null(envscan_check(bad[i], strlen(bad[i])));
	}
	assert_int_equal(envelope_scan(NULL, 0, &h), -1);
	/* a NUL byte inside is not the end of the text */
	assert_int_equal(envelope_scan("{\"a\":1}\0{", 9, &h), -1);
	assert_int_equal(envelope_scan("{\"a\":\"\0\"}", 8, &h), -1);
}

/* jansson decodes escaped keys: "typ\u0065" is "type". The scanner says it
 * cannot tell, and the loop then parses the frame with jansson. */
static void scan__escaped_keys__uncertain(void **state)
{
	static const char *const cases[] = {
		"{\"envelope_id\":\"A\",\"type\":\"events_api\",\"typ\\u0065\":\"disconnect\",\"payload\":{}}",
		"{\"envelope_id\":\"A\",\"envelope\\u005fid\":\"B\",\"type\":\"events_api\",\"payload\":{}}",
		"{\"envelope_id\":\"A\",\"type\":\"interactive\",\"payload\":{\"type\":\"block_actions\","
		"\"typ\\u0065\":\"view_submission\"}}",
		"{\"envelope_id\":\"A\",\"type\":\"interactive\",\"payload\":{\"type\":\"block_actions\"},"
		"\"p\\u0061yload\":{\"type\":\"view_submission\"}}",
	};
	static const char deeper[] = "{\"envelope_id\":\"A\",\"type\":\"events_api\",\"payload\":"
				     "{\"event\":{\"typ\\u0065\":\"x\"}}}";
	struct envelope_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(envelope_scan(cases[i], strlen(cases[i]), &h), 0);
		assert_true(h.uncertain);
		assert_null(envscan_check(cases[i], strlen(cases[i])));
	}
	/* below the payload, keys do not matter */
	assert_int_equal(envelope_scan(deeper, strlen(deeper), &h), 0);
	assert_false(h.uncertain);
	assert_string_equal(h.envelope_id, "A");
}

/* Numbers jansson may not hold are refused, so they keep the jansson path. */
static void scan__numbers_out_of_range__refused(void **state)
{
	static const char *const refused[] = {
		"{\"n\":1234567890123456789}", "{\"n\":-9223372036854775809}",
		"{\"n\":1e400}", "{\"n\":-2.5E+0301}", "{\"n\":1234567890123456789.5}",
		"{\"n\":1000000000e300}", "{\"n\":-123e299}",
	};
	static const char *const kept[] = {
		"{\"n\":123456789012345678}", "{\"n\":-1e300}", "{\"n\":0.0000000000000000000001}",
		"{\"n\":1E-300}",
	};
	struct envelope_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (envelope_scan(refused[i], strlen(refused[i]), &h) != -1)
			fail_msg("accepted: %s", refused[i]);
		assert_null(envscan_check(refused[i], strlen(refused[i])));
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		if (envelope_scan(kept[i], strlen(kept[i]), &h) != 0)
			fail_msg("refused: %s", kept[i]);
		assert_null(envscan_check(kept[i], strlen(kept[i])));
	}
	/* DEL is not printable: such a value is not kept */
	{
		static const char del[] = "{\"type\":\"a\x7f\"}";
		assert_int_equal(envelope_scan(del, strlen(del), &h), 0);
	}
	assert_string_equal(h.type, "");
}

static void scan__nesting__bounded(void **state)
{
	char buf[512];
	struct envelope_head h;
	size_t n;

	(void)state;
	/* the frame is depth 1; 63 more arrays inside it are fine, 64 are not */
	for (int extra = 63; extra <= 64; extra++) {
		n = (size_t)snprintf(buf, sizeof(buf), "{\"a\":");
		for (int i = 0; i < extra; i++)
			buf[n++] = '[';
		for (int i = 0; i < extra; i++)
			buf[n++] = ']';
		buf[n++] = '}';
		assert_int_equal(envelope_scan(buf, n, &h), extra == 63 ? 0 : -1);
		assert_null(envscan_check(buf, n));
	}
}

/*
 * Mutations of real envelopes (bytes changed to JSON's own punctuation,
 * dropped, doubled, cut), each judged against jansson. Fixed seed, bounded.
 */
static void scan__mutated_envelopes__agree_with_jansson(void **state)
{
	static const char alphabet[] = "{}[]\":,\\/ \t\n0123456789-+.eEtrufalsn\x80\xc3\xa9u";
	const char *seeds[] = { SLASH, VIEW };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char buf[2048];
	int accepted = 0;

	(void)state;
	for (int i = 0; i < 40000; i++) {
		const char *seed = seeds[i % 2];
		size_t n = strlen(seed);
		int muts;

		memcpy(buf, seed, n);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		muts = 1 + (int)(x % 3);
		for (int m = 0; m < muts && n > 0; m++) {
			size_t at;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			at = (size_t)(x >> 8) % n;
			switch (x % 4) {
			case 0:
				buf[at] = alphabet[(x >> 40) % (sizeof(alphabet) - 1)];
				break;
			case 1:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			case 2:
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					n++;
				}
				break;
			default:
				n = at;
				break;
			}
		}
		const char *bad = envscan_check(buf, n);
		if (bad)
			fail_msg("%s: %.*s", bad, (int)n, buf);
		struct envelope_head h;
		accepted += envelope_scan(buf, n, &h) == 0;
	}
	/* the mutations are not all fatal: both sides of the check were used */
	assert_true(accepted > 1000);
	assert_true(accepted < 39000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scan__slash_command__fields),
		cmocka_unit_test(scan__view_submission__payload_type_and_white_space),
		cmocka_unit_test(scan__payload_text__leading_words_only),
		cmocka_unit_test(scan__values_not_kept__left_empty),
		cmocka_unit_test(scan__duplicate_keys__last_wins_like_jansson),
		cmocka_unit_test(scan__malformed__refused),
		cmocka_unit_test(scan__escaped_keys__uncertain),
		cmocka_unit_test(scan__numbers_out_of_range__refused),
		cmocka_unit_test(scan__nesting__bounded),
		cmocka_unit_test(scan__mutated_envelopes__agree_with_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
