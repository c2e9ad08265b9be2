/*
 * The node HTTP API (SPEC 10.3) end to end: `viva serve` as a process, as
 * installed, with VIVA_HTTP_LISTEN and VIVA_NODE_TOKEN, against the fake
 * Slack. Requests are sent as raw bytes (tests/proc.h http_raw), hostile
 * ones included; after each the endpoint and the Slack side still answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/alloc.h"
#include "tests/helpers.h"
#include "tests/serve_fx.h"

#define TOKEN "node-token-0123456789abcdef"

static int setup(void **state)
{
	return fx_setup(state, "VIVA_NODE_TOKEN=" TOKEN, NULL, true);
}

static int setup_no_token(void **state)
{
	return fx_setup(state, NULL, NULL, true);
}

/* A request of method and path with an optional Authorization value and JSON body. */
static char *req(struct fx *f, const char *method, const char *path, const char *auth, const char *body,
		 long *status)
{
	char *ah = auth ? xasprintf("Authorization: %s\r\n", auth) : xstrdup("");
	char *bh = body ? xasprintf("Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body))
			: xstrdup("");
	char *r = xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n%s", method, path, ah, bh,
			    body ? body : "");
	char *out = http_raw(f->http_port, r, strlen(r), status);

	free(ah);
	free(bh);
	free(r);
	return out;
}

/* The endpoint and the Slack side still answer. */
static void assert_still_serving(struct fx *f)
{
	long st;
	char *b = req(f, "GET", "/healthz", NULL, NULL, &st);

	assert_int_equal(st, 200);
	free(b);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
}

static void assert_error(const char *body, const char *needle)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;

	assert_non_null(j);
	assert_true(json_is_string(json_object_get(j, "error")));
	if (!strstr(json_string_value(json_object_get(j, "error")), needle))
		fail_msg("error %s does not say \"%s\"", body, needle);
	json_decref(j);
}

static void node_api__token__checked_before_anything(void **state)
{
	struct fx *f = *state;
	long st;
	char *b;

	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", NULL, NULL, &st);
	assert_int_equal(st, 401);
	assert_error(b, "Bearer");
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer " TOKEN "x", NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer node-token", NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Basic " TOKEN, NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer wrong", "{\"phase\":\"join\"}", &st);
	assert_int_equal(st, 401);
	free(b);
	/* the token itself is never echoed or logged */
	{
		char *log = proc_log(&f->viva);
		assert_null(strstr(log, TOKEN));
		free(log);
	}
	assert_still_serving(f);
}

static void node_api__hostile_requests__refused_endpoint_stays_up(void **state)
{
	struct fx *f = *state;
	long st;
	char *b, *big;
	size_t n = 70 * 1024;

	/* a body over 64 KiB, said in Content-Length: 413 before it is read */
	big = xmalloc(n + 1);
	memset(big, 'a', n);
	big[n] = '\0';
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, big, &st);
	assert_int_equal(st, 413);
	free(b);
	/* the same sent chunked (no length up front): 413 once it passes the cap */
	{
		char *r = xasprintf("POST /v1/nodes/kube-a-dc1-worker01/report HTTP/1.1\r\nHost: x\r\n"
				    "Authorization: Bearer " TOKEN "\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
				    n, big);
		b = http_raw(f->http_port, r, strlen(r), &st);
		assert_int_equal(st, 413);
		free(b);
		free(r);
	}
	free(big);
	/* an empty body is answered too, not left waiting for one */
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, "", &st);
	assert_true(st >= 400 && st < 500);
	free(b);
	/* methods */
	b = req(f, "PUT", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, "{}", &st);
	assert_int_equal(st, 405);
	free(b);
	b = req(f, "DELETE", "/v1/bootstrap.sh", NULL, NULL, &st);
	assert_int_equal(st, 405);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 405);
	assert_error(b, "POST");
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer " TOKEN, "{}", &st);
	assert_int_equal(st, 405);
	free(b);
	/* names that are not node names, paths that lead nowhere */
	b = req(f, "GET", "/v1/nodes/KUBE_bad/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	assert_error(b, "node name");
	free(b);
	b = req(f, "GET", "/v1/nodes/../../etc/passwd", "Bearer " TOKEN, NULL, &st);
	assert_true(st == 404 || st == 400 || st == 403);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap/extra", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	free(b);
	b = req(f, "GET", "/v1/elsewhere", NULL, NULL, &st);
	assert_int_equal(st, 404);
	free(b);
	/* garbage where a request line should be: no crash */
	b = http_raw(f->http_port, "\x01\x02garbage\r\n\r\n", 13, &st);
	free(b);
	assert_still_serving(f);
}

/* Without VIVA_NODE_TOKEN the node routes are off, and say why; the script is still served. */
static void node_api__no_token__node_routes_off(void **state)
{
	struct fx *f = *state;
	long st;
	char *b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer anything", NULL, &st);

	assert_int_equal(st, 503);
	assert_error(b, "VIVA_NODE_TOKEN");
	free(b);
	assert_still_serving(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(node_api__token__checked_before_anything, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__hostile_requests__refused_endpoint_stays_up, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__no_token__node_routes_off, setup_no_token, fx_teardown),
	};

	if (fx_find_bins("test_node_api"))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
