#ifndef VIVA_BOT_HTTPD_H
#define VIVA_BOT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "bot/ctx.h"
#include "bot/queue.h"

#include <stdint.h>

/*
 * viva's small HTTP endpoint (VIVA_HTTP_LISTEN), served by libwebsockets on
 * the event loop thread:
 *   GET /healthz  200 {"status":"ok",...} while connected to Slack,
 *                 503 {"status":"unavailable","reason":"..."} otherwise
 *   GET /metrics  Prometheus text format (bot/metrics.h)
 *   GET, POST /v1/...  the node API (SPEC 10.3), answered by a worker
 *                 (http_server_set_api); unset: 404
 * Anything else: 404 with a JSON reason; other methods: 405.
 *
 * The loop never reads a file or waits on a network call, so a request
 * under /v1/ is checked here (method, size, the bearer token for
 * /v1/nodes/) and handed over whole, body read, to a worker; the worker
 * answers with http_request_answer() from its thread, and the loop writes
 * the answer when it next runs. Errors the loop decides itself, with a JSON
 * {"error": "..."} body and nothing handed over:
 *   401  /v1/nodes/... without "Authorization: Bearer <VIVA_NODE_TOKEN>"
 *   503  /v1/nodes/... while VIVA_NODE_TOKEN is not set; the queue is full
 *   413  a body over HTTP_MAX_BODY (the connection is closed after it)
 *   405  a method other than GET or POST, or a body sent to GET-only paths
 */
struct lws_context;
struct http_server;

#define HTTP_MAX_BODY (64 * 1024)

/* A request handed to a worker: read what is there, then answer it once. */
struct http_request {
	struct job job;           /* for the route's queue; the route fills run/drop/arg */
	struct http_server *srv;
	void *user;               /* the route's user pointer */
	uint64_t id;              /* which waiting connection gets the answer */
	bool post;                /* POST (with body), else GET */
	char *path;               /* the URI path, as sent, without the query */
	char *body;               /* POST: NUL-terminated, body_len bytes; GET: NULL */
	size_t body_len;
	/* the answer, set by http_request_answer() */
	unsigned status;
	char *ctype;
	char *answer;
	struct http_request *next;
};

/*
 * route runs on the loop for each request under /v1/ that passed the
 * checks above, and must only queue it (never block): VIVA_OK when it did
 * (the request is the route's until it is answered), else the loop answers
 * 503 and frees it. token: VIVA_NODE_TOKEN (copied; NULL or "": the node
 * routes answer 503).
 */
typedef int (*http_route_fn)(void *user, struct http_request *req);
void http_server_set_api(struct http_server *h, const char *token, http_route_fn route, void *user);
/* Any thread, once per request: status, a content type and the body (taken;
 * NULL: empty). A connection that has gone meanwhile just frees it. */
void http_request_answer(struct http_request *req, unsigned status, const char *ctype, char *body);
/* A request that will not be answered (its job dropped): frees it; the
 * connection, if still there, is answered 503. */
void http_request_drop(struct http_request *req);

/*
 * listen is "HOST:PORT"; at most max_conns connections are open at once
 * (<= 0: HTTP_MAX_CONNS_DEFAULT), more are hung up on as they come, and
 * idle ones are closed after 5 s, so a flood of connections cannot take the
 * descriptors the Slack link needs. On failure err says why (one line).
 */
#define HTTP_MAX_CONNS_DEFAULT 256
int http_server_start(struct lws_context *lws, struct viva_env *env, const char *listen, int max_conns,
		      struct http_server **out, char *err, size_t errlen);
/* Called by the loop when the Slack link goes up or down. reason is copied. */
void http_server_set_health(struct http_server *h, bool connected, const char *reason);
void http_server_free(struct http_server *h);

#endif
