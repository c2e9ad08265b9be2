#include "bot/httpd.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/lib/alloc.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_pss;

struct http_server {
	struct viva_env *env;
	struct lws_vhost *vh;
	struct lws_context *lws;
	char *iface;
	bool connected;
	char reason[128];
	int conns;          /* open connections (the loop thread only) */
	int max_conns;
	uint64_t refused;   /* connections hung up on at the cap */

	/* the node API (http_server_set_api) */
	http_route_fn route;
	void *route_user;
	char *token;                 /* VIVA_NODE_TOKEN; NULL: node routes off */
	uint64_t next_id;
	struct http_pss *waiting;    /* connections whose request a worker has (the loop only) */
	pthread_mutex_t mu;          /* guards done */
	struct http_request *done;   /* answered, not yet written */
};

/* One connection's request and its response, written from HTTP_WRITEABLE. */
struct http_pss {
	struct lws *wsi;
	char *body;          /* the response */
	size_t len;
	bool close_after;    /* hang up once it is written (a body left unread) */
	/* a request for the node API, while its body arrives */
	char *path;
	char *in;
	size_t in_len;
	bool post;
	bool api;            /* under /v1/: handed over once whole */
	/* handed over: the id a worker answers, and the waiting list */
	uint64_t waiting_id;
	struct http_pss *next_wait;
};

static int respond(struct lws *wsi, struct http_pss *pss, unsigned status, const char *ctype, char *body)
{
	unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];

	free(pss->body);
	pss->body = body ? body : xstrdup("");
	pss->len = strlen(pss->body);
	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)pss->len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    (pss->close_after &&
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
					 (const unsigned char *)"close", 5, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static char *json_body(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	char *out = xasprintf("%s\n", s);
	free(s);
	json_decref(j);
	return out;
}

static int respond_error(struct lws *wsi, struct http_pss *pss, unsigned status, const char *msg)
{
	return respond(wsi, pss, status, "application/json", json_body(json_pack("{s:s}", "error", msg)));
}

/* The request's own state, once it has been answered or its connection goes. */
static void pss_clear_request(struct http_pss *pss)
{
	free(pss->path);
	free(pss->in);
	pss->path = NULL;
	pss->in = NULL;
	pss->in_len = 0;
	pss->api = false;
}

static void unwait(struct http_server *h, struct http_pss *pss)
{
	for (struct http_pss **pp = &h->waiting; *pp; pp = &(*pp)->next_wait)
		if (*pp == pss) {
			*pp = pss->next_wait;
			break;
		}
	pss->next_wait = NULL;
	pss->waiting_id = 0;
}

/* Constant-time comparison of the Authorization header with "Bearer TOKEN". */
static bool bearer_ok(struct lws *wsi, const char *token)
{
	char got[512];
	int n = lws_hdr_copy(wsi, got, sizeof(got), WSI_TOKEN_HTTP_AUTHORIZATION);
	size_t tl = strlen(token), i;
	unsigned char diff = 0;

	if (n < 7 || strncasecmp(got, "Bearer ", 7) != 0 || (size_t)n - 7 != tl)
		return false;
	for (i = 0; i < tl; i++)
		diff |= (unsigned char)(got[7 + i] ^ token[i]);
	return diff == 0;
}

static int api_hand_over(struct http_server *h, struct lws *wsi, struct http_pss *pss);

/* A request under /v1/, headers read: decide what the loop can, else wait for its body. */
static int api_begin(struct http_server *h, struct lws *wsi, struct http_pss *pss, const char *uri, bool post)
{
	char cl[32];

	if (strncmp(uri, "/v1/nodes/", 10) == 0) {
		if (!h->token)
			return respond_error(wsi, pss, 503, "the node API is off: VIVA_NODE_TOKEN is not set");
		if (!bearer_ok(wsi, h->token))
			return respond_error(wsi, pss, 401, "a valid Authorization: Bearer token is required");
	}
	if (post && lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
	    strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
		pss->close_after = true;
		return respond_error(wsi, pss, 413, "the body is larger than 64 KiB");
	}
	pss->api = true;
	pss->post = post;
	pss->path = xstrdup(uri);
	/* a GET has no body to wait for; a POST's completes with its body */
	return post ? 0 : api_hand_over(h, wsi, pss);
}

/* The whole request is in: hand it to the route (on the loop, never blocking). */
static int api_hand_over(struct http_server *h, struct lws *wsi, struct http_pss *pss)
{
	struct http_request *req = xcalloc(1, sizeof(*req));

	req->srv = h;
	req->user = h->route_user;
	req->id = ++h->next_id;
	req->post = pss->post;
	req->path = pss->path;
	pss->path = NULL;
	if (pss->post) {
		req->body = pss->in ? pss->in : xstrdup("");
		req->body_len = pss->in_len;
		pss->in = NULL;
	}
	pss_clear_request(pss);
	if (h->route(h->route_user, req) != VIVA_OK) {
		free(req->path);
		free(req->body);
		free(req);
		return respond_error(wsi, pss, 503, "viva is busy; try again shortly");
	}
	pss->waiting_id = req->id;
	pss->next_wait = h->waiting;
	h->waiting = pss;
	return 0;
}

static void request_free(struct http_request *req)
{
	free(req->path);
	free(req->body);
	free(req->ctype);
	free(req->answer);
	free(req);
}

/* On the loop: write the answers workers have finished. */
static void write_answers(struct http_server *h)
{
	struct http_request *list, *next;

	pthread_mutex_lock(&h->mu);
	list = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->mu);
	for (; list; list = next) {
		struct http_pss *pss = h->waiting;
		next = list->next;
		while (pss && pss->waiting_id != list->id)
			pss = pss->next_wait;
		if (pss) {
			unwait(h, pss);
			if (respond(pss->wsi, pss, list->status, list->ctype, list->answer))
				lws_set_timeout(pss->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
			list->answer = NULL;
		}
		request_free(list);
	}
}

void http_request_answer(struct http_request *req, unsigned status, const char *ctype, char *body)
{
	struct http_server *h = req->srv;

	req->status = status;
	req->ctype = xstrdup(ctype ? ctype : "application/json");
	free(req->answer);
	req->answer = body;
	free(req->body);
	req->body = NULL;
	pthread_mutex_lock(&h->mu);
	req->next = h->done;
	h->done = req;
	pthread_mutex_unlock(&h->mu);
	lws_cancel_service(h->lws);
}

void http_request_drop(struct http_request *req)
{
	http_request_answer(req, 503, "application/json",
			    json_body(json_pack("{s:s}", "error", "viva is stopping; try again shortly")));
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct http_pss *pss = user;
	struct http_server *h = wsi ? lws_get_vhost_user(lws_get_vhost(wsi)) : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* A flood must not take the descriptors the Slack link and the
		 * outside calls need: past the cap, hang up at once. */
		if (h && h->conns >= h->max_conns) {
			if (h->refused++ % 1000 == 0)
				log_warn("http connection refused: too many open", "open=%d max=%d refused=%llu",
					 h->conns, h->max_conns, (unsigned long long)h->refused);
			metrics_http_refused();
			return 1;
		}
		break;
	case LWS_CALLBACK_WSI_CREATE:
		if (h)
			h->conns++;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (h && h->conns > 0)
			h->conns--;
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (h && h->route)
			write_answers(h);
		break;
	case LWS_CALLBACK_HTTP: {
		const char *uri = in;
		bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
		bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
		if (!h || !pss)
			return 1;
		pss->wsi = wsi;
		if (h->route && strncmp(uri, "/v1/", 4) == 0 && (get || post))
			return api_begin(h, wsi, pss, uri, post);
		if (!get) {
			pss->close_after = post;   /* its body is never read */
			return respond_error(wsi, pss, 405, "method not allowed");
		}
		if (strcmp(uri, "/healthz") == 0) {
			json_t *j = json_pack("{s:s, s:b, s:s}", "status", h->connected ? "ok" : "unavailable",
					      "slack_connected", h->connected, "reason", h->reason);
			return respond(wsi, pss, h->connected ? 200 : 503, "application/json", json_body(j));
		}
		if (strcmp(uri, "/metrics") == 0)
			return respond(wsi, pss, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_render());
		return respond(wsi, pss, 404, "application/json",
			       json_body(json_pack("{s:s, s:s}", "error", "not found", "path", uri)));
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!h || !pss || !pss->api || !pss->post || !in || !len)
			break;
		if (pss->in_len + len > HTTP_MAX_BODY) {
			pss_clear_request(pss);
			pss->close_after = true;
			return respond_error(wsi, pss, 413, "the body is larger than 64 KiB");
		}
		pss->in = xrealloc(pss->in, pss->in_len + len + 1);
		memcpy(pss->in + pss->in_len, in, len);
		pss->in_len += len;
		pss->in[pss->in_len] = '\0';
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!h || !pss || !pss->api)
			break;
		return api_hand_over(h, wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->body)
			break;
		{
			unsigned char *buf = xmalloc(LWS_PRE + pss->len + 1);
			int w;
			memcpy(buf + LWS_PRE, pss->body, pss->len);
			w = lws_write(wsi, buf + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL);
			free(buf);
			free(pss->body);
			pss->body = NULL;
			if (w < 0 || pss->close_after || lws_http_transaction_completed(wsi))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss) {
			if (h && pss->waiting_id)
				unwait(h, pss);
			pss_clear_request(pss);
			free(pss->body);
			pss->body = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols http_protocols[] = {
	{ "http", cb_http, sizeof(struct http_pss), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int http_server_start(struct lws_context *lws, struct viva_env *env, const char *listen, int max_conns,
		      struct http_server **out, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct http_server *h;
	const char *colon = strrchr(listen, ':');
	long port;
	char *end = NULL;

	*out = NULL;
	if (!colon || colon == listen) {
		snprintf(err, errlen, "expected HOST:PORT");
		return VIVA_EINVAL;
	}
	port = strtol(colon + 1, &end, 10);
	if (!end || *end || port < 1 || port > 65535) {
		snprintf(err, errlen, "bad port");
		return VIVA_EINVAL;
	}
	h = xcalloc(1, sizeof(*h));
	h->env = env;
	h->lws = lws;
	h->iface = xstrndup(listen, (size_t)(colon - listen));
	h->max_conns = max_conns > 0 ? max_conns : HTTP_MAX_CONNS_DEFAULT;
	pthread_mutex_init(&h->mu, NULL);
	snprintf(h->reason, sizeof(h->reason), "starting");
	memset(&info, 0, sizeof(info));
	info.port = (int)port;
	info.iface = h->iface;
	info.protocols = http_protocols;
	info.vhost_name = "http";
	info.user = h;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	/* idle connections go: a request must come within 5 s, and a kept-alive
	 * connection is closed after 5 s without one */
	info.keepalive_timeout = 5;
	info.timeout_secs = 10;
	info.timeout_secs_ah_idle = 5;
	h->vh = lws_create_vhost(lws, &info);
	if (!h->vh) {
		snprintf(err, errlen, "cannot listen (address in use or not local?)");
		pthread_mutex_destroy(&h->mu);
		free(h->iface);
		free(h);
		return VIVA_EIO;
	}
	log_info("http endpoint listening", "listen=%s", listen);
	*out = h;
	return VIVA_OK;
}

void http_server_set_health(struct http_server *h, bool connected, const char *reason)
{
	h->connected = connected;
	snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "");
}

void http_server_set_api(struct http_server *h, const char *token, http_route_fn route, void *user)
{
	free(h->token);
	h->token = token && *token ? xstrdup(token) : NULL;
	h->route = route;
	h->route_user = user;
}

void http_server_free(struct http_server *h)
{
	struct http_request *r, *next;

	if (!h)
		return;
	for (r = h->done; r; r = next) {
		next = r->next;
		request_free(r);
	}
	pthread_mutex_destroy(&h->mu);
	free(h->token);
	free(h->iface);
	free(h);
}
