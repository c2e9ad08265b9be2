/*
 * bot/runtime.c: where a Slack request's answers go. Slack's rules
 * (slack-protocol.md section 3): a response_url takes at most 5 posts; a
 * message that replaces the clicked one falls back to chat.update; an
 * ephemeral answer must never become public. And the outcome of the action
 * is not the delivery of its answer: undelivered answers are counted apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/runtime.h"
#include "bot/slack/api.h"
#include "store/audit.h"
#include "store/store.h"
#include "tests/helpers.h"

/* A Slack Web API that records every call and fails what it is told to. */
struct fake_api {
	struct slack_api base;
	json_t *calls;           /* [{"method": m, "args": {...}}], "response_url" for respond */
	int fail_respond;        /* rc for response_url posts (0 = ok) */
	int fail_calls;          /* rc for every Web API call (0 = ok) */
};

static int fake_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct fake_api *f = (struct fake_api *)api;

	json_array_append_new(f->calls, json_pack("{s:s, s:O}", "method", method, "args", args));
	if (resp)
		*resp = json_pack("{s:b}", "ok", f->fail_calls == 0);
	return f->fail_calls;
}

static int fake_respond(struct slack_api *api, const char *url, json_t *msg)
{
	struct fake_api *f = (struct fake_api *)api;

	json_array_append_new(f->calls, json_pack("{s:s, s:s, s:O}", "method", "response_url", "url", url,
						  "args", msg));
	return f->fail_respond;
}

static const struct slack_api_ops fake_ops = { .call = fake_call, .respond = fake_respond };

struct fx {
	struct test_env t;
	struct fake_api api;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	test_env_init(&f->t);
	f->api.base.ops = &fake_ops;
	f->api.calls = json_array();
	f->t.env.slack = &f->api.base;
	metrics_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	json_decref(f->api.calls);
	test_env_release(&f->t);
	free(f);
	return 0;
}

static const char *method_of(struct fx *f, size_t i)
{
	return json_string_value(json_object_get(json_array_get(f->api.calls, i), "method"));
}

static json_t *args_of(struct fx *f, size_t i)
{
	return json_object_get(json_array_get(f->api.calls, i), "args");
}

static json_t *slash_payload(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "command", "/viva", "text", "help",
			 "user_id", "U0ALICE", "channel_id", "C0CHAN", "trigger_id", "t.1",
			 "response_url", "https://hooks.slack.test/commands/T1/1/secret");
}

static json_t *click_payload(bool ephemeral)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s, s:s, s:b}, s:s, s:[{s:s, s:s}]}",
			 "type", "block_actions", "user", "id", "U0ALICE", "channel", "id", "C0CHAN",
			 "container", "type", "message", "message_ts", "1700000000.000100",
			 "channel_id", "C0CHAN", "is_ephemeral", ephemeral,
			 "response_url", "https://hooks.slack.test/actions/T1/1/secret",
			 "actions", "action_id", "audit_more", "value", "0");
}

static json_t *msg(const char *text)
{
	return json_pack("{s:s}", "text", text);
}

/* Send through the sink the way a handler does. */
static void send(struct fx *f, struct reply *r, const char *text, unsigned flags)
{
	struct viva_ctx ctx;
	json_t *m = msg(text);

	test_ctx(&f->t, &ctx, "U0ALICE");
	ctx.reply = r;
	reply_send(&ctx, m, flags);
	json_decref(m);
}

static void response_url__five_uses__then_ephemeral_post(void **state)
{
	struct fx *f = *state;
	json_t *p = slash_payload();
	struct reply *r = runtime_reply_new(&f->t.env, "slash_commands", p);

	for (int i = 0; i < 7; i++)
		send(f, r, "answer", REPLY_EPHEMERAL);
	assert_int_equal(json_array_size(f->api.calls), 7);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(method_of(f, i), "response_url");
		assert_string_equal(json_string_value(json_object_get(args_of(f, i), "response_type")), "ephemeral");
		assert_true(json_is_false(json_object_get(args_of(f, i), "replace_original")));
	}
	/* the sixth and seventh: the URL is used up, so only the user sees them */
	for (size_t i = 5; i < 7; i++) {
		assert_string_equal(method_of(f, i), "chat.postEphemeral");
		assert_string_equal(json_string_value(json_object_get(args_of(f, i), "channel")), "C0CHAN");
		assert_string_equal(json_string_value(json_object_get(args_of(f, i), "user")), "U0ALICE");
	}
	assert_int_equal(r->answered, 7);
	assert_int_equal(r->undelivered, 0);
	runtime_reply_free(r);
	json_decref(p);
}

static void response_url__in_channel_after_limit__posted_publicly(void **state)
{
	struct fx *f = *state;
	json_t *p = slash_payload();
	struct reply *r = runtime_reply_new(&f->t.env, "slash_commands", p);

	for (int i = 0; i < 5; i++)
		send(f, r, "answer", REPLY_IN_CHANNEL);
	assert_string_equal(json_string_value(json_object_get(args_of(f, 4), "response_type")), "in_channel");
	send(f, r, "the sixth", REPLY_IN_CHANNEL);
	assert_string_equal(method_of(f, 5), "chat.postMessage");
	assert_null(json_object_get(args_of(f, 5), "user"));
	runtime_reply_free(r);
	json_decref(p);
}

static void replace__response_url_expired__chat_update_of_the_clicked_message(void **state)
{
	struct fx *f = *state;
	json_t *p = click_payload(false);
	struct reply *r = runtime_reply_new(&f->t.env, "interactive", p);

	f->api.fail_respond = VIVA_EREMOTE;   /* 404: past 30 minutes */
	send(f, r, "promoted", REPLY_REPLACE);
	assert_int_equal(json_array_size(f->api.calls), 2);
	assert_string_equal(method_of(f, 0), "response_url");
	assert_true(json_is_true(json_object_get(args_of(f, 0), "replace_original")));
	assert_string_equal(method_of(f, 1), "chat.update");
	assert_string_equal(json_string_value(json_object_get(args_of(f, 1), "channel")), "C0CHAN");
	assert_string_equal(json_string_value(json_object_get(args_of(f, 1), "ts")), "1700000000.000100");
	assert_int_equal(r->undelivered, 0);
	runtime_reply_free(r);
	json_decref(p);
}

static void ephemeral_message__never_made_public(void **state)
{
	struct fx *f = *state;
	json_t *p = click_payload(true);
	struct reply *r = runtime_reply_new(&f->t.env, "interactive", p);

	/* response_url down: a replacement of an ephemeral message cannot go
	 * through chat.update (Slack refuses it) nor become a public post */
	f->api.fail_respond = VIVA_EUNAVAIL;
	send(f, r, "page 2", REPLY_REPLACE);
	send(f, r, "public?", REPLY_IN_CHANNEL);
	assert_int_equal(json_array_size(f->api.calls), 4);
	assert_string_equal(method_of(f, 1), "chat.postEphemeral");
	assert_string_equal(method_of(f, 3), "chat.postEphemeral");
	for (size_t i = 0; i < json_array_size(f->api.calls); i++) {
		assert_string_not_equal(method_of(f, i), "chat.postMessage");
		assert_string_not_equal(method_of(f, i), "chat.update");
	}
	runtime_reply_free(r);
	json_decref(p);
}

/* A slash command's answer replaced by a fuller one (the tags listing): when
 * the response_url fails, the replacement stays as private as the answer. */
static void slash_answer_replaced__response_url_down__stays_ephemeral(void **state)
{
	struct fx *f = *state;
	json_t *p = slash_payload();
	struct reply *r = runtime_reply_new(&f->t.env, "slash_commands", p);

	send(f, r, "the tags", REPLY_EPHEMERAL);
	f->api.fail_respond = VIVA_EREMOTE;
	send(f, r, "the tags with their build times", REPLY_REPLACE);
	assert_int_equal(json_array_size(f->api.calls), 3);
	assert_string_equal(method_of(f, 0), "response_url");
	assert_string_equal(method_of(f, 1), "response_url");
	assert_true(json_is_true(json_object_get(args_of(f, 1), "replace_original")));
	assert_string_equal(method_of(f, 2), "chat.postEphemeral");
	assert_string_equal(json_string_value(json_object_get(args_of(f, 2), "user")), "U0ALICE");
	/* an in_channel answer's replacement may be public */
	f->api.fail_respond = 0;
	send(f, r, "for everyone", REPLY_IN_CHANNEL);
	f->api.fail_respond = VIVA_EREMOTE;
	send(f, r, "for everyone, complete", REPLY_REPLACE);
	assert_int_equal(json_array_size(f->api.calls), 6);
	assert_string_equal(method_of(f, 5), "chat.postMessage");
	runtime_reply_free(r);
	json_decref(p);
}

static void nothing_delivered__counted_apart__outcome_stands(void **state)
{
	struct fx *f = *state;
	json_t *p = slash_payload();
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	char *text;

	f->api.fail_respond = VIVA_EUNAVAIL;
	f->api.fail_calls = VIVA_EUNAVAIL;
	/* help answers through the reply sink of a real envelope */
	assert_int_equal(runtime_run_envelope(&f->t.env, "env-1", "slash_commands", p, NULL), VIVA_OK);
	text = metrics_render();
	assert_non_null(strstr(text, "viva_replies_total{kind=\"message\",result=\"undelivered\"} 1\n"));
	assert_null(strstr(text, "result=\"delivered\""));
	assert_non_null(strstr(text, "viva_actions_total{outcome=\"ok\"} 1\n"));
	free(text);
	/* a write whose answer is lost is still audited as what it was */
	json_object_set_new(p, "text", json_string("pipeline apply"));
	assert_int_equal(runtime_run_envelope(&f->t.env, "env-2", "slash_commands", p, NULL), VIVA_EUNAVAIL);
	assert_int_equal(store_audit_list(f->t.env.store, NULL, 5, &e, &n), VIVA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].action, "pipeline apply");
	assert_non_null(strstr(e[0].result, "unavailable: Nothing applied"));
	store_audit_free(e, n);
	text = metrics_render();
	assert_non_null(strstr(text, "viva_actions_total{outcome=\"failed\"} 1\n"));
	free(text);
	json_decref(p);
}

/* Fail closed: an envelope that cannot be recorded as seen (a full disk, no
 * id at all) could run twice, so it does not run, and the user is told. */
static void envelope_not_recorded__not_run_and_said(void **state)
{
	struct fx *f = *state;
	json_t *p = slash_payload();
	char *s;

	json_object_set_new(p, "text", json_string("pipeline apply"));
	assert_int_equal(store_test_refuse_writes(f->t.env.store, 1), VIVA_OK);
	assert_int_equal(runtime_run_envelope(&f->t.env, "env-9", "slash_commands", p, NULL), VIVA_EIO);
	assert_int_equal(json_array_size(f->api.calls), 1);
	s = json_dumps(args_of(f, 0), 0);
	assert_non_null(strstr(s, "could not record this request"));
	free(s);
	assert_int_equal(store_test_refuse_writes(f->t.env.store, 0), VIVA_OK);
	/* no envelope id: nothing tells a second delivery apart, so nothing runs */
	assert_int_equal(runtime_run_envelope(&f->t.env, "", "slash_commands", p, NULL), VIVA_EINVAL);
	s = json_dumps(args_of(f, 1), 0);
	assert_non_null(strstr(s, "without an envelope id"));
	free(s);
	/* recorded: it runs (and fails on its own merits: no spec directory) */
	assert_int_equal(runtime_run_envelope(&f->t.env, "env-9", "slash_commands", p, NULL), VIVA_EUNAVAIL);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(response_url__five_uses__then_ephemeral_post, setup, teardown),
		cmocka_unit_test_setup_teardown(response_url__in_channel_after_limit__posted_publicly, setup, teardown),
		cmocka_unit_test_setup_teardown(replace__response_url_expired__chat_update_of_the_clicked_message,
						setup, teardown),
		cmocka_unit_test_setup_teardown(ephemeral_message__never_made_public, setup, teardown),
		cmocka_unit_test_setup_teardown(slash_answer_replaced__response_url_down__stays_ephemeral, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_delivered__counted_apart__outcome_stands, setup, teardown),
		cmocka_unit_test_setup_teardown(envelope_not_recorded__not_run_and_said, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
