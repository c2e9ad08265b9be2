#ifndef VIVA_BOT_HTTPD_H
#define VIVA_BOT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "bot/ctx.h"

/*
 * viva's small HTTP endpoint (VIVA_HTTP_LISTEN), served by libwebsockets on
 * the event loop thread:
 *   GET /healthz  200 {"status":"ok",...} while connected to Slack,
 *                 503 {"status":"unavailable","reason":"..."} otherwise
 *   GET /metrics  Prometheus text format (bot/metrics.h)
 * Anything else: 404 with a JSON reason; other methods: 405.
 */
struct lws_context;
struct http_server;

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
