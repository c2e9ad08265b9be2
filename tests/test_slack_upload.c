/*
 * slack_upload_file() (bot/slack/api.c) against the fake Slack
 * (tests/fake_slack.c) as a process: the three steps in order, each as
 * Slack documents it, the file and its bytes as the fake recorded them,
 * and every way a step can fail: a clear line, and nothing shared.
 *
 * Every test also reads viva's log: never the bot token, never the upload
 * URL (a credential for the file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/chart/chart.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/slack/api.h"
#include "tests/helpers.h"
#include "tests/proc.h"

#define BOT_TOKEN "xoxb-test-upload-SECRET"
#define CHANNEL   "C0TRAFFIC"

static char fake_bin[PATH_MAX];

struct fx {
	char *dir;
	struct proc fake;
	char base[64];               /* http://127.0.0.1:PORT */
	struct slack_api *api;
	char *log_path;
	int log_fd;
	unsigned char *png;          /* a real chart */
	size_t png_len;
};

/* ---- the fake's control API ---------------------------------------------- */

static json_t *ctl_post(struct fx *f, const char *path, const char *body)
{
	char *url = xasprintf("%s/_fake/%s", f->base, path);
	json_t *j = http_post_json(url, body);

	free(url);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "ok")));
	return j;
}

static void ctl(struct fx *f, const char *path, const char *body)
{
	json_decref(ctl_post(f, path, body));
}

static json_t *ctl_get(struct fx *f, const char *path)
{
	char *url = xasprintf("%s/_fake/%s", f->base, path);
	json_t *j = http_get_json(url);

	free(url);
	assert_non_null(j);
	return j;
}

/* The Web API calls and upload POSTs the fake saw, oldest first (borrowed from *keep). */
static json_t *calls(struct fx *f, json_t **keep)
{
	*keep = ctl_get(f, "calls");
	return json_object_get(*keep, "calls");
}

/* "m1,m2,m3": the methods called, in order. */
static char *call_methods(struct fx *f)
{
	json_t *keep, *c = calls(f, &keep), *e;
	struct strbuf sb;
	size_t i;

	sb_init(&sb);
	json_array_foreach(c, i, e)
		sb_addf(&sb, "%s%s", i ? "," : "", json_string_value(json_object_get(e, "method")));
	json_decref(keep);
	return sb_detach(&sb);
}

static json_t *files_of(struct fx *f)
{
	json_t *j = ctl_get(f, "files"), *list = json_incref(json_object_get(j, "files"));

	json_decref(j);
	return list;
}

static size_t protocol_errors(struct fx *f)
{
	json_t *s = ctl_get(f, "state");
	size_t n = json_array_size(json_object_get(s, "protocol_errors"));

	if (n) {
		char *d = json_dumps(json_object_get(s, "protocol_errors"), 0);
		fprintf(stderr, "fake protocol errors: %s\n", d);
		free(d);
	}
	json_decref(s);
	return n;
}

/* ---- fixture ------------------------------------------------------------- */

static void make_png(struct fx *f)
{
	struct chart_point p[200];
	struct chart_series se[2] = { { "checkout-web", p, 200 }, { "mobile-bff", p, 100 } };
	struct chart c = { .title = "Traffic to payments-api", .unit = "requests/s",
			   .start = 1736121600, .end = 1736726400, .series = se, .nseries = 2 };

	for (int i = 0; i < 200; i++)
		p[i] = (struct chart_point){ 1736121600 + i * 3024.0, 100 + (i % 24) * 10 };
	assert_int_equal(chart_png(&c, &f->png, &f->png_len, NULL, 0), VIVA_OK);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char port[16], *log;
	int p = free_port();
	char *argv[] = { fake_bin, "--port", port, "--bot-token", BOT_TOKEN, NULL };
	struct slack_api_limits lim = { .call_timeout_ms = 5000, .max_retries = 2, .deadline_ms = 15000 };

	f->dir = test_tmpdir();
	snprintf(port, sizeof(port), "%d", p);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", p);
	log = xasprintf("%s/fake.log", f->dir);
	assert_int_equal(proc_start(&f->fake, argv, NULL, log), 0);
	assert_true(proc_wait_log(&f->fake, "READY", 10000));
	free(log);
	{
		char *api_base = xasprintf("%s/api/", f->base);
		f->api = slack_api_new(api_base, BOT_TOKEN, NULL);
		free(api_base);
	}
	assert_non_null(f->api);
	slack_api_set_limits(f->api, &lim);
	/* viva's log, all of it, into a file this test reads */
	f->log_path = xasprintf("%s/viva.log", f->dir);
	f->log_fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(f->log_fd >= 0);
	log_set_fd(f->log_fd);
	log_set_level(LOG_DEBUG);
	make_png(f);
	*state = f;
	return 0;
}

/* Nothing secret in viva's log: the token, or any upload URL the fake gave. */
static void assert_log_clean(struct fx *f)
{
	json_t *keep, *c = calls(f, &keep), *e;
	char *log = NULL;
	size_t i;

	assert_int_equal(read_file(f->log_path, &log, NULL), VIVA_OK);
	assert_null(strstr(log, BOT_TOKEN));
	assert_null(strstr(log, "/upload/v1/"));
	json_array_foreach(c, i, e) {
		const char *u = json_string_value(json_object_get(json_object_get(e, "response"), "upload_url"));
		if (u)
			assert_null(strstr(log, strrchr(u, '/') + 1));
	}
	json_decref(keep);
	free(log);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_log_clean(f);
	log_set_fd(2);
	log_set_level(LOG_OFF);
	close(f->log_fd);
	slack_api_free(f->api);
	proc_stop(&f->fake, SIGTERM, 5000);
	proc_release(&f->fake);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f->log_path);
	free(f->png);
	free(f);
	return 0;
}

static struct slack_file png_file(struct fx *f)
{
	return (struct slack_file){
		.channel_id = CHANNEL, .filename = "traffic-payments-api.png",
		.title = "Traffic to payments-api, 7 d", .alt_text = "Requests per second by source",
		.bytes = f->png, .len = f->png_len,
		.initial_comment = "Requests per second to *payments-api* by source",
	};
}

/* ---- tests --------------------------------------------------------------- */

static void upload__chart__three_steps_in_order_and_the_bytes_shared(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *id = NULL, *methods, *url, *body, num[32];
	json_t *keep, *c, *files, *fl, *arg;
	long st;
	size_t n = 0;
	cairo_surface_t *img;

	assert_int_equal(slack_upload_file(f->api, &sf, &id, err, sizeof(err)), VIVA_OK);
	assert_string_equal(err, "");
	assert_non_null(id);
	assert_int_equal(id[0], 'F');

	methods = call_methods(f);
	assert_string_equal(methods, "files.getUploadURLExternal,file_upload,files.completeUploadExternal");
	free(methods);

	/* step 1: form fields, the exact length */
	c = calls(f, &keep);
	arg = json_object_get(json_array_get(c, 0), "body");
	assert_string_equal(json_string_value(json_object_get(arg, "filename")), "traffic-payments-api.png");
	snprintf(num, sizeof(num), "%zu", f->png_len);
	assert_string_equal(json_string_value(json_object_get(arg, "length")), num);
	assert_string_equal(json_string_value(json_object_get(arg, "alt_txt")), "Requests per second by source");
	/* step 2: the bytes, all of them, accepted */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 1), "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(c, 1), "body"), "bytes")),
			 (json_int_t)f->png_len);
	/* step 3: files as JSON text in a form field, the channel */
	arg = json_object_get(json_array_get(c, 2), "body");
	assert_string_equal(json_string_value(json_object_get(arg, "channel_id")), CHANNEL);
	{
		json_t *fa = json_loads(json_string_value(json_object_get(arg, "files")), 0, NULL);
		assert_non_null(fa);
		assert_int_equal(json_array_size(fa), 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(fa, 0), "id")), id);
		assert_string_equal(json_string_value(json_object_get(json_array_get(fa, 0), "title")),
				    "Traffic to payments-api, 7 d");
		json_decref(fa);
	}
	json_decref(keep);

	/* what the fake keeps: one file, shared, its bytes ours */
	files = files_of(f);
	assert_int_equal(json_array_size(files), 1);
	fl = json_array_get(files, 0);
	assert_string_equal(json_string_value(json_object_get(fl, "id")), id);
	assert_true(json_is_true(json_object_get(fl, "completed")));
	assert_string_equal(json_string_value(json_object_get(fl, "channel_id")), CHANNEL);
	assert_string_equal(json_string_value(json_object_get(fl, "initial_comment")),
			    "Requests per second to *payments-api* by source");
	assert_false(json_is_true(json_object_get(fl, "multipart")));
	json_decref(files);
	url = xasprintf("%s/_fake/file?id=%s", f->base, id);
	body = http_get_n(url, &st, &n);
	assert_int_equal(st, 200);
	assert_int_equal(n, f->png_len);
	assert_memory_equal(body, f->png, n);
	/* and it is still the chart: a PNG cairo reads back, at its size */
	{
		img = test_png_decode(body, n);
		assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
		assert_int_equal(cairo_image_surface_get_width(img), 2400);
		assert_int_equal(cairo_image_surface_get_height(img), 1200);
		cairo_surface_destroy(img);
	}
	free(body);
	free(url);
	assert_int_equal(protocol_errors(f), 0);
	free(id);
}

/* The channel refuses at step 3: the bytes went up, nothing was shared. */
static void upload__not_in_channel__clear_error_and_nothing_shared(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *id = (char *)"x";
	json_t *files;

	ctl(f, "channel", "{\"id\":\"" CHANNEL "\",\"member\":false}");
	assert_int_equal(slack_upload_file(f->api, &sf, &id, err, sizeof(err)), VIVA_EREMOTE);
	assert_null(id);
	assert_non_null(strstr(err, "files.completeUploadExternal: not_in_channel"));
	assert_non_null(strstr(err, "invite the bot"));
	files = files_of(f);
	assert_int_equal(json_array_size(files), 1);
	assert_false(json_is_true(json_object_get(json_array_get(files, 0), "completed")));
	json_decref(files);

	ctl(f, "channel", "{\"id\":\"C0GONE\",\"exists\":false}");
	sf.channel_id = "C0GONE";
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_EREMOTE);
	assert_non_null(strstr(err, "channel_not_found"));
	assert_int_equal(protocol_errors(f), 0);
}

/* Step 1 refused: no bytes sent, nothing completed. */
static void upload__uploads_disabled__stops_at_step_one(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *methods;

	ctl(f, "config", "{\"file_uploads_disabled\":true}");
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_EREMOTE);
	assert_non_null(strstr(err, "files.getUploadURLExternal: file_uploads_disabled"));
	methods = call_methods(f);
	assert_string_equal(methods, "files.getUploadURLExternal");
	free(methods);

	ctl(f, "config", "{\"file_uploads_disabled\":false,\"max_upload_bytes\":100}");
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_EREMOTE);
	assert_non_null(strstr(err, "file_upload_size_restricted"));
	assert_non_null(strstr(err, "larger than this workspace allows"));
}

/* Step 2 fails (the upload host is down): complete is never called. */
static void upload__bytes_refused__no_complete(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *methods;
	json_t *files;

	ctl(f, "ratelimit", "{\"method\":\"file_upload\",\"count\":1,\"status\":500}");
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_EUNAVAIL);
	assert_non_null(strstr(err, "the upload URL"));
	assert_null(strstr(err, "/upload/"));
	methods = call_methods(f);
	assert_string_equal(methods, "files.getUploadURLExternal,file_upload");
	free(methods);
	files = files_of(f);
	assert_false(json_is_true(json_object_get(json_array_get(files, 0), "uploaded")));
	assert_false(json_is_true(json_object_get(json_array_get(files, 0), "completed")));
	json_decref(files);
}

/* A 429 on the bytes or on complete is waited out, and each step runs once in effect. */
static void upload__rate_limited_steps__waited_out_and_shared_once(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *methods;
	json_t *files;

	ctl(f, "ratelimit", "{\"method\":\"file_upload\",\"count\":1,\"retry_after\":1}");
	ctl(f, "ratelimit", "{\"method\":\"files.completeUploadExternal\",\"count\":1,\"retry_after\":1}");
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_OK);
	methods = call_methods(f);
	assert_string_equal(methods, "files.getUploadURLExternal,file_upload,file_upload,"
				     "files.completeUploadExternal,files.completeUploadExternal");
	free(methods);
	files = files_of(f);
	assert_int_equal(json_array_size(files), 1);
	assert_true(json_is_true(json_object_get(json_array_get(files, 0), "completed")));
	json_decref(files);
	assert_int_equal(protocol_errors(f), 0);
}

static void upload__blocks_and_thread__passed_on(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	json_t *blocks = json_pack("[{s:s, s:{s:s, s:s}}]", "type", "section", "text", "type", "mrkdwn",
				   "text", "Traffic to *payments-api*");
	json_t *files, *fl;
	char err[256] = "";

	sf.initial_comment = NULL;
	sf.blocks = blocks;
	sf.thread_ts = "1736726400.000100";
	sf.title = NULL;
	assert_int_equal(slack_upload_file(f->api, &sf, NULL, err, sizeof(err)), VIVA_OK);
	files = files_of(f);
	fl = json_array_get(files, 0);
	assert_true(json_equal(json_object_get(fl, "blocks"), blocks));
	assert_string_equal(json_string_value(json_object_get(fl, "thread_ts")), "1736726400.000100");
	assert_string_equal(json_string_value(json_object_get(fl, "title")), "traffic-payments-api.png");
	json_decref(files);
	json_decref(blocks);
}

static void upload__bad_calls__einval_and_nothing_sent(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f), bad;
	struct slack_api *no_token = NULL;
	char err[256], *methods, *api_base;
	json_t *blocks = json_array();

	assert_int_equal(slack_upload_file(f->api, NULL, NULL, err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "nothing to upload"));
	bad = sf;
	bad.channel_id = NULL;
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	bad.channel_id = "#general";
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	bad = sf;
	bad.len = 0;
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "empty file"));
	bad = sf;
	bad.filename = "";
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	bad = sf;
	bad.blocks = blocks;   /* with initial_comment: Slack would drop them */
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	bad = sf;
	bad.thread_ts = "yesterday";
	assert_int_equal(slack_upload_file(f->api, &bad, NULL, err, sizeof(err)), VIVA_EINVAL);
	api_base = xasprintf("%s/api/", f->base);
	no_token = slack_api_new(api_base, NULL, NULL);
	assert_int_equal(slack_upload_file(no_token, &sf, NULL, err, sizeof(err)), VIVA_EINVAL);
	assert_non_null(strstr(err, "SLACK_BOT_TOKEN"));
	slack_api_free(no_token);
	free(api_base);
	methods = call_methods(f);
	assert_string_equal(methods, "");
	free(methods);
	json_decref(blocks);
}

/* Slack not there at all: a line that says so, naming no URL. */
static void upload__slack_unreachable__eunavail(void **state)
{
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[256] = "", *base = xasprintf("http://127.0.0.1:%d/api/", free_port());
	struct slack_api *api = slack_api_new(base, BOT_TOKEN, NULL);

	assert_int_equal(slack_upload_file(api, &sf, NULL, err, sizeof(err)), VIVA_EUNAVAIL);
	assert_non_null(strstr(err, "not reachable"));
	assert_non_null(strstr(err, "files.getUploadURLExternal"));
	slack_api_free(api);
	free(base);
}

/* A client without the upload operation (a test double) says so. */
static void upload__client_without_upload__einval(void **state)
{
	static const struct slack_api_ops ops = { 0 };
	struct slack_api api = { &ops };
	struct fx *f = *state;
	struct slack_file sf = png_file(f);
	char err[128];
	char *id = (char *)"x";

	assert_int_equal(slack_upload_file(&api, &sf, &id, err, sizeof(err)), VIVA_EINVAL);
	assert_null(id);
	assert_non_null(strstr(err, "cannot upload"));
	assert_int_equal(slack_upload_file(NULL, &sf, NULL, NULL, 0), VIVA_EINVAL);
}

static void form__fields__percent_encoded(void **state)
{
	struct strbuf sb;

	(void)state;
	sb_init(&sb);
	sb_add_form(&sb, "files", "[{\"id\":\"F1\",\"title\":\"a b&c=d\"}]");
	sb_add_form(&sb, "t", "\xc3\xa9/~._-+");
	sb_add_form(&sb, "e", NULL);
	assert_string_equal(sb.buf, "files=%5B%7B%22id%22%3A%22F1%22%2C%22title%22%3A%22a%20b%26c%3Dd%22%7D%5D"
				    "&t=%C3%A9%2F~._-%2B&e=");
	sb_release(&sb);
}

int main(void)
{
	const char *fb = getenv("FAKE_SLACK") ? getenv("FAKE_SLACK") : "build/san/tests/fake_slack";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(upload__chart__three_steps_in_order_and_the_bytes_shared, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upload__not_in_channel__clear_error_and_nothing_shared, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upload__uploads_disabled__stops_at_step_one, setup, teardown),
		cmocka_unit_test_setup_teardown(upload__bytes_refused__no_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(upload__rate_limited_steps__waited_out_and_shared_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upload__blocks_and_thread__passed_on, setup, teardown),
		cmocka_unit_test_setup_teardown(upload__bad_calls__einval_and_nothing_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(upload__slack_unreachable__eunavail, setup, teardown),
		cmocka_unit_test_setup_teardown(upload__client_without_upload__einval, setup, teardown),
		cmocka_unit_test(form__fields__percent_encoded),
	};

	if (!realpath(fb, fake_bin)) {
		fprintf(stderr, "test_slack_upload: need %s\n", fb);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
