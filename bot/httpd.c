#include "bot/httpd.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/lib/alloc.h"

#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_server {
	struct viva_env *env;
	struct lws_vhost *vh;
	char *iface;
	bool connected;
	char reason[128];
	int conns;          /* open connections (the loop thread only) */
	int max_conns;
	uint64_t refused;   /* connections hung up on at the cap */
};

/* One response, written from HTTP_WRITEABLE. */
struct http_pss {
	char *body;
	size_t len;
};

static int respond(struct lws *wsi, struct http_pss *pss, unsigned status, const char *ctype, char *body)
{
	unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];

	pss->body = body;
	pss->len = strlen(body);
	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)pss->len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
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

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct http_pss *pss = user;
	struct http_server *h = wsi ? lws_get_vhost_user(lws_get_vhost(wsi)) : NULL;
	(void)len;

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
	case LWS_CALLBACK_HTTP: {
		const char *uri = in;
		if (!h || !pss)
			return 1;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
			return respond(wsi, pss, 405, "application/json",
				       json_body(json_pack("{s:s}", "error", "method not allowed")));
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
			if (w < 0 || lws_http_transaction_completed(wsi))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss) {
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
	h->iface = xstrndup(listen, (size_t)(colon - listen));
	h->max_conns = max_conns > 0 ? max_conns : HTTP_MAX_CONNS_DEFAULT;
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

void http_server_free(struct http_server *h)
{
	if (!h)
		return;
	free(h->iface);
	free(h);
}
