/*
 * The fake of viva's node HTTP API (see fake_node_api.h).
 */
#include "tests/fake_node_api.h"
#include "tests/http_front.h"
#include "bot/lib/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fake_node_api {
	struct http_front *front;
	char *want_auth;             /* "Bearer <token>" */
	pthread_mutex_t mu;          /* guards everything below */
	long status;
	char *body;
	int fail_boot_n, fail_report_n;
	long fail_boot_status, fail_report_status;
	int bootstraps, report_posts;
	json_t *reports;
	json_t *requests;
};

static void answer_json(struct hf_response *rs, long status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	rs->status = status;
	sb_adds(&rs->headers, "Content-Type: application/json\r\n");
	sb_adds(&rs->body, s);
	free(s);
	json_decref(j);
}

/* The {host} of /v1/nodes/{host}/<what>, or NULL (caller frees). */
static char *host_of(const char *path, const char *what)
{
	const char *pre = "/v1/nodes/", *h, *slash;

	if (strncmp(path, pre, strlen(pre)) != 0)
		return NULL;
	h = path + strlen(pre);
	slash = strchr(h, '/');
	if (!slash || slash == h || strcmp(slash + 1, what) != 0)
		return NULL;
	return xstrndup(h, (size_t)(slash - h));
}

static void handle(void *ud, const struct hf_request *rq, struct hf_response *rs)
{
	struct fake_node_api *f = ud;
	const char *auth = hf_header(rq, "authorization");
	bool authed = auth && strcmp(auth, f->want_auth) == 0;
	char *boot = host_of(rq->path, "bootstrap"), *rep = host_of(rq->path, "report");

	pthread_mutex_lock(&f->mu);
	{
		json_t *r = json_object();

		json_object_set_new(r, "method", json_stringn_nocheck(rq->method, strlen(rq->method)));
		json_object_set_new(r, "path", json_stringn_nocheck(rq->path, strlen(rq->path)));
		json_object_set_new(r, "auth", json_boolean(authed));
		json_array_append_new(f->requests, r);
	}
	if (boot && strcmp(rq->method, "GET") == 0)
		f->bootstraps++;
	if (rep && strcmp(rq->method, "POST") == 0)
		f->report_posts++;
	if (!authed) {
		answer_json(rs, 401, json_pack("{s:s}", "error", "missing or wrong token"));
	} else if (boot && strcmp(rq->method, "GET") == 0) {
		if (f->fail_boot_n > 0) {
			f->fail_boot_n--;
			answer_json(rs, f->fail_boot_status, json_pack("{s:s}", "error", "scripted failure"));
		} else {
			rs->status = f->status;
			sb_adds(&rs->headers, "Content-Type: application/json\r\n");
			sb_adds(&rs->body, f->body ? f->body : "");
		}
	} else if (rep && strcmp(rq->method, "POST") == 0) {
		if (f->fail_report_n > 0) {
			f->fail_report_n--;
			answer_json(rs, f->fail_report_status, json_pack("{s:s}", "error", "scripted failure"));
		} else {
			/* raw as sent, even when it is not UTF-8: the test says why it does not parse */
			json_t *j = json_loadb(rq->body, rq->blen, 0, NULL), *r = json_object();

			json_object_set_new(r, "host", json_stringn_nocheck(rep, strlen(rep)));
			json_object_set_new(r, "raw", json_stringn_nocheck(rq->body, rq->blen));
			json_object_set_new(r, "json", j ? j : json_null());
			json_array_append_new(f->reports, r);
			answer_json(rs, 200, json_pack("{s:b}", "ok", 1));
		}
	} else {
		answer_json(rs, 404, json_pack("{s:s}", "error", "not found"));
	}
	pthread_mutex_unlock(&f->mu);
	free(boot);
	free(rep);
}

struct fake_node_api *fake_node_api_start(const char *token)
{
	struct fake_node_api *f = xcalloc(1, sizeof(*f));

	f->want_auth = xasprintf("Bearer %s", token);
	f->status = 200;
	f->reports = json_array();
	f->requests = json_array();
	pthread_mutex_init(&f->mu, NULL);
	f->front = http_front_start(handle, f);
	if (!f->front) {
		fake_node_api_stop(f);
		return NULL;
	}
	return f;
}

const char *fake_node_api_url(const struct fake_node_api *f)
{
	return http_front_url(f->front);
}

void fake_node_api_set_bootstrap(struct fake_node_api *f, long status, const char *body)
{
	pthread_mutex_lock(&f->mu);
	f->status = status;
	free(f->body);
	f->body = xstrdup(body);
	pthread_mutex_unlock(&f->mu);
}

void fake_node_api_fail_bootstraps(struct fake_node_api *f, int n, long status)
{
	pthread_mutex_lock(&f->mu);
	f->fail_boot_n = n;
	f->fail_boot_status = status;
	pthread_mutex_unlock(&f->mu);
}

void fake_node_api_fail_reports(struct fake_node_api *f, int n, long status)
{
	pthread_mutex_lock(&f->mu);
	f->fail_report_n = n;
	f->fail_report_status = status;
	pthread_mutex_unlock(&f->mu);
}

int fake_node_api_bootstraps(struct fake_node_api *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->bootstraps;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int fake_node_api_reports_count(struct fake_node_api *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->report_posts;
	pthread_mutex_unlock(&f->mu);
	return n;
}

json_t *fake_node_api_reports(struct fake_node_api *f)
{
	json_t *j;

	pthread_mutex_lock(&f->mu);
	j = json_deep_copy(f->reports);
	pthread_mutex_unlock(&f->mu);
	return j;
}

json_t *fake_node_api_requests(struct fake_node_api *f)
{
	json_t *j;

	pthread_mutex_lock(&f->mu);
	j = json_deep_copy(f->requests);
	pthread_mutex_unlock(&f->mu);
	return j;
}

void fake_node_api_stop(struct fake_node_api *f)
{
	if (!f)
		return;
	http_front_stop(f->front);
	pthread_mutex_destroy(&f->mu);
	json_decref(f->reports);
	json_decref(f->requests);
	free(f->body);
	free(f->want_auth);
	free(f);
}
