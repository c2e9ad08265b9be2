/*
 * The Slack Web API (see api.h for the contract): its protocol only. The
 * HTTP side (handles and kept-alive connections, timeouts, 429 and its
 * Retry-After, retries that never repeat a post, logs, TLS) is the client
 * layer's, bot/clients/http.c, with one client named "slack".
 *
 * Secrets: the tokens only ever go to the layer as a bearer credential.
 * Nothing here logs a URL of a call, a header, or a body; logs carry the
 * method name, the HTTP status and Slack's error code.
 */
#include "bot/slack/api.h"
#include "bot/clients/http.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_CONNECT_TIMEOUT_MS   5000L
#define DEF_CALL_TIMEOUT_MS      10000L
#define DEF_MAX_RETRIES          3
#define DEF_MAX_RETRY_AFTER_MS   60000L
#define DEF_DEADLINE_MS          120000L
#define DEF_MAX_SLEEP_MS         2000L
#define MAX_RETRIES_CAP          10
/* Slack's replies are small; this only stops a broken or hostile peer. */
#define MAX_REPLY_BYTES          ((size_t)4 << 20)
/* 429 without Retry-After (Slack always sends one): a short wait for calls,
 * and for apps.connections.open (Tier 1) what the Python SDK assumes. */
#define DEF_RETRY_AFTER_MS       1000L
#define DEF_CONN_RETRY_AFTER_S   30L
/* Idle sessions (kept-alive connections) the client keeps for the workers. */
#define POOL_SIZE                8

struct slack_api_real {
	struct slack_api base;           /* first: the public handle */
	char *base_url;                  /* ends in '/' */
	char *bot_token;                 /* may be NULL */
	char *app_token;                 /* may be NULL */
	struct http_client *http;
};

static const char *const json_headers[] = { "Content-Type: application/json; charset=utf-8", NULL };
static const char *const form_headers[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
static const char *const bytes_headers[] = { "Content-Type: application/octet-stream", NULL };

/* ---- small helpers ------------------------------------------------------- */

/* Slack method names: "chat.postMessage"; nothing that could change the path. */
static bool valid_method(const char *m)
{
	size_t n = 0;

	if (!m || !*m)
		return false;
	for (; m[n]; n++) {
		char c = m[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_'))
			return false;
	}
	return n <= 64;
}

static bool is_http_url(const char *u)
{
	return u && (strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0);
}

/* A short error code from a non-JSON body ("expired_url"), or NULL. */
static const char *short_code(const char *body, size_t len, char *out, size_t outlen)
{
	size_t i = 0;

	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
		len--;
	if (len == 0 || len >= outlen || len > 64)
		return NULL;
	for (; i < len; i++) {
		char c = body[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return NULL;
		out[i] = c;
	}
	out[i] = '\0';
	return out;
}

const char *slack_error(json_t *resp)
{
	const char *e = json_string_value(json_object_get(resp, "error"));

	return e && *e ? e : "unknown";
}

int slack_error_is_fatal(const char *error)
{
	/* Union of what the Node and Go SDKs stop on, plus the token-shape errors
	 * of apps.connections.open: retrying with the same token cannot help. */
	static const char *const fatal[] = {
		"not_authed", "invalid_auth", "account_inactive", "user_removed_from_team",
		"team_disabled", "token_revoked", "missing_args", "forbidden_team", NULL,
	};

	if (!error)
		return 0;
	for (size_t i = 0; fatal[i]; i++)
		if (strcmp(error, fatal[i]) == 0)
			return 1;
	return 0;
}

char *slack_redact_url(const char *url)
{
	struct strbuf sb;
	const char *q, *p;

	if (!url)
		return NULL;
	q = strchr(url, '?');
	if (!q)
		return xstrdup(url);
	sb_init(&sb);
	sb_add(&sb, url, (size_t)(q - url) + 1);
	p = q + 1;
	while (*p) {
		size_t n = strcspn(p, "&#");
		size_t k = strcspn(p, "=&#");
		if (k < n && k == 6 && strncasecmp(p, "ticket", 6) == 0) {
			sb_adds(&sb, "ticket=REDACTED");
		} else {
			sb_add(&sb, p, n);
		}
		p += n;
		if (*p == '&') {
			sb_addc(&sb, '&');
			p++;
		} else if (*p == '#') {
			/* a fragment is never part of a Socket Mode URL; drop it */
			break;
		}
	}
	return sb_detach(&sb);
}

/* The reply body as a JSON object, or NULL. */
static json_t *parse_object(const struct http_response *r)
{
	json_error_t jerr;
	json_t *j;

	if (r->body.len == 0)
		return NULL;
	j = json_loadb(r->body.buf, r->body.len, 0, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static _Thread_local long last_retry_after_s = 1;

long slack_retry_after_s(void)
{
	return last_retry_after_s;
}

/*
 * POST body to url through the layer. VIVA_OK: an answer other than 429 is
 * in rs (any status); VIVA_EBUSY: still 429 after the layer's retries (or at
 * once with report_429); else no answer (VIVA_ETIMEOUT, VIVA_EUNAVAIL).
 */
static int post(struct slack_api_real *a, const char *label, const char *url, const char *const *headers,
		const char *body, const char *token, bool report_429, const char *peer,
		struct http_response *rs)
{
	struct http_request rq = {
		.op = label, .method = "POST", .url = url, .headers = headers,
		.body = body, .body_len = strlen(body), .bearer = token,
		.max_body = MAX_REPLY_BYTES, .no_retry_429 = report_429, .peer = peer,
	};
	int rc = http_do(a->http, &rq, rs);

	if (rc == VIVA_ERANGE)
		rc = VIVA_EUNAVAIL;   /* a broken peer, as api.h says */
	if (rc == VIVA_OK && rs->status == 429) {
		rc = VIVA_EBUSY;
		last_retry_after_s = rs->retry_after_s > 0 ? rs->retry_after_s : 1;
	}
	return rc;
}

/*
 * Map a Web API answer (not 429) to a return code. *out gets the parsed
 * object when there is one.
 */
static int web_api_result(const char *method, const struct http_response *r, json_t **out)
{
	json_t *j = parse_object(r);
	json_t *ok = json_object_get(j, "ok");
	int rc;

	if (r->status >= 500) {
		log_warn("slack api unavailable", "method=%s status=%ld", method, r->status);
		rc = VIVA_EUNAVAIL;
	} else if (!j || !json_is_boolean(ok)) {
		log_warn("slack api bad reply", "method=%s status=%ld bytes=%zu", method, r->status, r->body.len);
		rc = VIVA_EUNAVAIL;
	} else if (json_is_false(ok)) {
		log_warn("slack api error", "method=%s error=%s", method, slack_error(j));
		rc = VIVA_EREMOTE;
	} else if (r->status != 200) {
		/* ok:true on an error status: not something Slack does. */
		log_warn("slack api bad reply", "method=%s status=%ld", method, r->status);
		rc = VIVA_EUNAVAIL;
	} else {
		const char *w = json_string_value(json_object_get(j, "warning"));
		if (w)
			log_debug("slack api warning", "method=%s warning=%s", method, w);
		rc = VIVA_OK;
	}
	*out = j;
	return rc;
}

/* ---- the operations ------------------------------------------------------ */

static int real_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	struct http_response r;
	char *url = NULL, *body = NULL;
	json_t *j = NULL;
	int rc;

	http_response_init(&r);
	if (!valid_method(method) || (args && !json_is_object(args))) {
		log_warn("slack api bad call", "method=%s", valid_method(method) ? method : "(invalid)");
		rc = VIVA_EINVAL;
		goto out;
	}
	if (!a->bot_token) {
		log_warn("slack api bad call", "method=%s reason=no_bot_token", method);
		rc = VIVA_EINVAL;
		goto out;
	}
	body = args ? json_dumps(args, JSON_COMPACT) : xstrdup("{}");
	if (!body) {
		rc = VIVA_EINVAL;
		goto out;
	}
	url = xasprintf("%s%s", a->base_url, method);
	rc = post(a, method, url, json_headers, body, a->bot_token, false, NULL, &r);
	if (rc == VIVA_OK)
		rc = web_api_result(method, &r, &j);
	else if (rc == VIVA_EBUSY)
		j = parse_object(&r);
out:
	if (resp)
		*resp = j;
	else
		json_decref(j);
	free(url);
	free(body);
	http_response_release(&r);
	return rc;
}

static int real_respond(struct slack_api *api, const char *response_url, json_t *msg)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	struct http_response r;
	char *body = NULL;
	char code[72];
	json_t *j = NULL;
	int rc;

	http_response_init(&r);
	if (!is_http_url(response_url) || !json_is_object(msg)) {
		log_warn("response_url post refused", "reason=%s",
			 json_is_object(msg) ? "not an http(s) url" : "message is not an object");
		rc = VIVA_EINVAL;
		goto out;
	}
	body = json_dumps(msg, JSON_COMPACT);
	if (!body) {
		rc = VIVA_EINVAL;
		goto out;
	}
	/* Slack documents no Authorization for response_url: the URL is the
	 * secret, so messages name it without its path. */
	rc = post(a, "response_url", response_url, json_headers, body, NULL, false, "Slack's response_url", &r);
	if (rc != VIVA_OK)
		goto out;
	j = parse_object(&r);
	if (r.status == 404 || r.status == 410) {
		/* Past 30 minutes or 5 uses; the caller falls back to chat.postMessage. */
		log_warn("response_url expired", "status=%ld error=%s", r.status,
			 j ? slack_error(j) : short_code(r.body.buf, r.body.len, code, sizeof(code))
			     ? code : "unknown");
		rc = VIVA_EREMOTE;
	} else if (r.status >= 500) {
		log_warn("response_url unavailable", "status=%ld", r.status);
		rc = VIVA_EUNAVAIL;
	} else if (r.status == 200) {
		/* The body may be plain "ok"; only an explicit ok:false is a refusal. */
		if (j && json_is_false(json_object_get(j, "ok"))) {
			log_warn("response_url refused", "status=200 error=%s", slack_error(j));
			rc = VIVA_EREMOTE;
		}
	} else {
		log_warn("response_url refused", "status=%ld error=%s", r.status,
			 j ? slack_error(j) : short_code(r.body.buf, r.body.len, code, sizeof(code))
			     ? code : "unknown");
		rc = VIVA_EREMOTE;
	}
out:
	json_decref(j);
	free(body);
	http_response_release(&r);
	return rc;
}

static int connections_open(struct slack_api_real *a, char **url, int *retry_after_s, char **error)
{
	static const char method[] = "apps.connections.open";
	struct http_response r;
	char *endpoint = NULL, *shown = NULL;
	json_t *j = NULL;
	const char *u;
	int rc;

	http_response_init(&r);
	if (!a->app_token) {
		log_warn("slack api bad call", "method=%s reason=no_app_token", method);
		rc = VIVA_EINVAL;
		goto out;
	}
	endpoint = xasprintf("%s%s", a->base_url, method);
	/* As in Slack's Socket Mode example: an empty form body, token in the
	 * header. A 429 comes back at once: the reconnect loop backs off
	 * itself and must not be stuck in here. */
	rc = post(a, method, endpoint, form_headers, "", a->app_token, true, NULL, &r);
	if (rc == VIVA_EBUSY) {
		long s = r.retry_after_s >= 0 ? r.retry_after_s : DEF_CONN_RETRY_AFTER_S;
		if (retry_after_s)
			*retry_after_s = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
		log_warn("slack api rate limited", "method=%s retry_after_s=%ld", method, s);
		goto out;
	}
	if (rc != VIVA_OK)
		goto out;
	rc = web_api_result(method, &r, &j);
	if (rc == VIVA_EREMOTE) {
		if (error)
			*error = xstrdup(slack_error(j));
		goto out;
	}
	if (rc != VIVA_OK)
		goto out;
	u = json_string_value(json_object_get(j, "url"));
	if (!u || (strncasecmp(u, "wss://", 6) != 0 && strncasecmp(u, "ws://", 5) != 0)) {
		log_warn("slack api bad reply", "method=%s reason=%s", method, u ? "url is not ws(s)" : "no url");
		rc = VIVA_EUNAVAIL;
		goto out;
	}
	shown = slack_redact_url(u);
	log_info("socket mode url obtained", "url=%s", shown);
	*url = xstrdup(u);
out:
	free(shown);
	free(endpoint);
	json_decref(j);
	http_response_release(&r);
	return rc;
}

static int real_connections_open(struct slack_api *api, char **url, int *retry_after_s)
{
	return connections_open((struct slack_api_real *)api, url, retry_after_s, NULL);
}

/* ---- files -------------------------------------------------------------- */

/* Slack ids (C0123ABC, F0123ABC): letters and digits, nothing else. */
static bool valid_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* What a person can do about an error code of the upload methods, or NULL. */
static const char *upload_hint(const char *code)
{
	static const struct { const char *code, *hint; } hints[] = {
		{ "not_in_channel", "invite the bot to the channel" },
		{ "channel_not_found", "the channel does not exist, or the bot cannot see it" },
		{ "is_archived", "the channel is archived" },
		{ "missing_scope", "the Slack app needs the files:write scope (reinstall it)" },
		{ "not_authed", "check SLACK_BOT_TOKEN" },
		{ "invalid_auth", "check SLACK_BOT_TOKEN" },
		{ "token_revoked", "check SLACK_BOT_TOKEN" },
		{ "file_uploads_disabled", "file uploads are disabled in this workspace" },
		{ "file_upload_size_restricted", "the file is larger than this workspace allows" },
		{ "invalid_blocks", "the message with the file is not valid Block Kit" },
	};

	for (size_t i = 0; code && i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strcmp(code, hints[i].code) == 0)
			return hints[i].hint;
	return NULL;
}

/* One line for a step that failed with rc (r: its answer, j: its parsed reply). */
static void upload_failed(const char *step, int rc, const struct http_response *r, json_t *j, char *err,
			  size_t errlen)
{
	char code[72], dur[32];
	const char *c = NULL, *hint;

	if (rc == VIVA_EREMOTE) {
		if (j)
			c = slack_error(j);
		else if (!(c = short_code(r->body.buf, r->body.len, code, sizeof(code))))
			c = "error";
		hint = upload_hint(c);
		if (r->status == 200 || !r->status)
			viva_errf(err, errlen, "Slack refused the file upload (%s: %s)%s%s", step, c,
				  hint ? ": " : "", hint ? hint : "");
		else
			viva_errf(err, errlen, "Slack refused the file upload (%s: HTTP %ld, %s)", step, r->status, c);
	} else if (rc == VIVA_EBUSY) {
		viva_errf(err, errlen, "Slack is rate limiting file uploads (%s): try again in %ld s", step,
			  slack_retry_after_s());
	} else if (rc == VIVA_ETIMEOUT && strcmp(step, "files.completeUploadExternal") == 0) {
		/* the file was uploaded; whether Slack shared it before the
		 * timeout is unknown, and a second complete is refused anyway */
		viva_errf(err, errlen, "Slack did not confirm the file upload in time (%s): the file may still "
			  "appear in the channel", step);
	} else if (r->error[0]) {
		viva_errf(err, errlen, "%s (%s)", r->error, step);
	} else if (r->status >= 500) {
		viva_errf(err, errlen, "Slack is unavailable (%s: HTTP %ld): try again later", step, r->status);
	} else {
		http_format_ms(r->ms, dur, sizeof(dur));
		viva_errf(err, errlen, "Slack gave an answer that makes no sense (%s: HTTP %ld after %s)", step,
			  r->status, dur);
	}
	log_warn("slack file upload failed", "step=\"%s\" result=\"%s\" status=%ld error=%s", step,
		 viva_strerror(rc), r->status, c ? c : "-");
}

/* A call that cannot work: nothing is sent. */
static int upload_check(const struct slack_api_real *a, const struct slack_file *f, char *err, size_t errlen)
{
	const char *why = NULL;

	if (!f)
		why = "nothing to upload";
	else if (!a->bot_token)
		why = "no SLACK_BOT_TOKEN";
	else if (!valid_id(f->channel_id))
		why = "no channel id (C..., G... or D...)";
	else if (!f->filename || !*f->filename || strlen(f->filename) > 255)
		why = "no file name, or one longer than 255 bytes";
	else if (!f->bytes || f->len == 0)
		why = "an empty file";
	else if (f->len > SLACK_UPLOAD_MAX)
		why = "a file larger than 1 GB";
	else if (f->blocks && (!json_is_array(f->blocks) || (f->initial_comment && *f->initial_comment)))
		why = "blocks that are not an array, or blocks with initial_comment (Slack would ignore them)";
	else if (f->thread_ts && *f->thread_ts && strspn(f->thread_ts, "0123456789.") != strlen(f->thread_ts))
		why = "a thread_ts that is not a message timestamp";
	if (!why)
		return VIVA_OK;
	viva_errf(err, errlen, "viva cannot upload this file: %s", why);
	log_warn("slack file upload refused", "reason=\"%s\"", why);
	return VIVA_EINVAL;
}

/* POST a form body to a Web API method: as slack_call(), form-encoded. */
static int form_call(struct slack_api_real *a, const char *method, const char *body, struct http_response *r,
		     json_t **j)
{
	char *url = xasprintf("%s%s", a->base_url, method);
	int rc = post(a, method, url, form_headers, body, a->bot_token, false, NULL, r);

	if (rc == VIVA_OK)
		rc = web_api_result(method, r, j);
	free(url);
	return rc;
}

/* Step 3's files argument: [{"id":..., "title":...}] (caller frees). */
static char *files_arg(const char *id, const struct slack_file *f)
{
	const char *t = f->title && *f->title ? f->title : f->filename;
	char *title = utf8_sanitize(t, strlen(t));
	json_t *j = json_pack("[{s:s, s:s}]", "id", id, "title", title);
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	free(title);
	return s;
}

static int real_upload(struct slack_api *api, const struct slack_file *f, char **file_id, char *err,
		       size_t errlen)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	const char *step = "files.getUploadURLExternal";
	struct http_response r;
	struct http_request rq;
	struct strbuf form;
	char *upload_url = NULL, *id = NULL, *files = NULL, *blocks = NULL;
	char num[32];
	json_t *j = NULL;
	const char *u, *fid;
	int rc;

	http_response_init(&r);
	sb_init(&form);
	rc = upload_check(a, f, err, errlen);
	if (rc != VIVA_OK)
		goto out;

	/* 1: a place for the bytes */
	snprintf(num, sizeof(num), "%zu", f->len);
	sb_add_form(&form, "filename", f->filename);
	sb_add_form(&form, "length", num);
	if (f->alt_text && *f->alt_text)
		sb_add_form(&form, "alt_txt", f->alt_text);
	rc = form_call(a, step, form.buf, &r, &j);
	if (rc != VIVA_OK)
		goto failed;
	u = json_string_value(json_object_get(j, "upload_url"));
	fid = json_string_value(json_object_get(j, "file_id"));
	if (!is_http_url(u) || !valid_id(fid)) {
		log_warn("slack api bad reply", "method=%s reason=no upload_url or file_id", step);
		viva_errf(err, errlen, "Slack answered %s without an upload URL or a file id", step);
		rc = VIVA_EUNAVAIL;
		goto out;
	}
	upload_url = xstrdup(u);
	id = xstrdup(fid);
	json_decref(j);
	j = NULL;

	/* 2: the bytes, to a URL that is itself the credential (no token);
	 * the layer retries a POST only when nothing could be sent */
	step = "the upload URL";
	rq = (struct http_request){
		.op = "file_upload", .method = "POST", .url = upload_url, .headers = bytes_headers,
		.body = f->bytes, .body_len = f->len, .max_body = 65536, .peer = "Slack's file upload URL",
	};
	rc = http_do(a->http, &rq, &r);
	if (rc == VIVA_ERANGE)
		rc = VIVA_EUNAVAIL;
	if (rc == VIVA_OK && r.status == 429) {
		rc = VIVA_EBUSY;
		last_retry_after_s = r.retry_after_s > 0 ? r.retry_after_s : 1;
	} else if (rc == VIVA_OK && r.status >= 500) {
		rc = VIVA_EUNAVAIL;
	} else if (rc == VIVA_OK && r.status != 200) {
		rc = VIVA_EREMOTE;
	}
	if (rc != VIVA_OK)
		goto failed;

	/* 3: share it, once */
	step = "files.completeUploadExternal";
	files = files_arg(id, f);
	sb_release(&form);
	sb_init(&form);
	sb_add_form(&form, "files", files);
	sb_add_form(&form, "channel_id", f->channel_id);
	if (f->initial_comment && *f->initial_comment)
		sb_add_form(&form, "initial_comment", f->initial_comment);
	if (f->blocks) {
		blocks = json_dumps(f->blocks, JSON_COMPACT);
		sb_add_form(&form, "blocks", blocks ? blocks : "[]");
	}
	if (f->thread_ts && *f->thread_ts)
		sb_add_form(&form, "thread_ts", f->thread_ts);
	rc = form_call(a, step, form.buf, &r, &j);
	if (rc != VIVA_OK)
		goto failed;
	fid = json_string_value(json_object_get(json_array_get(json_object_get(j, "files"), 0), "id"));
	if (!fid || strcmp(fid, id) != 0)
		log_warn("slack api odd reply", "method=%s reason=another file id", step);
	log_info("slack file shared", "file=%s channel=%s bytes=%zu", id, f->channel_id, f->len);
	if (file_id) {
		*file_id = id;
		id = NULL;
	}
	goto out;
failed:
	upload_failed(step, rc, &r, j, err, errlen);
out:
	json_decref(j);
	free(upload_url);
	free(id);
	free(files);
	free(blocks);
	sb_release(&form);
	http_response_release(&r);
	return rc;
}

static void real_free(struct slack_api *api)
{
	struct slack_api_real *a = (struct slack_api_real *)api;

	http_client_free(a->http);
	free(a->base_url);
	free_secret(a->bot_token);
	free_secret(a->app_token);
	free(a);
}

static const struct slack_api_ops real_ops = {
	.call = real_call,
	.respond = real_respond,
	.connections_open = real_connections_open,
	.free = real_free,
	.upload = real_upload,
};

/* The layer's limits for the api's. */
static struct http_limits http_limits_of(const struct slack_api_limits *l)
{
	return (struct http_limits){
		.connect_timeout_ms = l->connect_timeout_ms > 0 ? l->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS,
		.timeout_ms = l->call_timeout_ms > 0 ? l->call_timeout_ms : DEF_CALL_TIMEOUT_MS,
		.deadline_ms = l->deadline_ms > 0 ? l->deadline_ms : DEF_DEADLINE_MS,
		.max_retries = l->max_retries < 0 ? DEF_MAX_RETRIES
			       : l->max_retries > MAX_RETRIES_CAP ? MAX_RETRIES_CAP : l->max_retries,
		.max_retry_after_ms = l->max_retry_after_ms > 0 ? l->max_retry_after_ms : DEF_MAX_RETRY_AFTER_MS,
		.default_retry_after_ms = DEF_RETRY_AFTER_MS,
		.max_sleep_ms = l->max_sleep_ms > 0 ? l->max_sleep_ms : DEF_MAX_SLEEP_MS,
	};
}

struct slack_api *slack_api_new(const char *base, const char *bot_token, const char *app_token)
{
	struct slack_api_limits lim = { .max_retries = -1 };
	struct http_client_opts o = { .name = "slack", .pool_size = POOL_SIZE, .on_attempt = metrics_api_call };
	struct slack_api_real *a;
	struct http_client *http;
	const char *host;
	char *peer;
	size_t n;

	if (!base || !*base)
		base = "https://slack.com/api/";
	/* messages name the origin only ("Slack at https://slack.com") */
	host = strstr(base, "://") ? strstr(base, "://") + 3 : base;
	peer = xasprintf("Slack at %.*s", (int)((size_t)(host - base) + strcspn(host, "/?#")), base);
	o.peer = peer;
	o.base_url = base;
	o.limits = http_limits_of(&lim);
	http = http_client_new(&o);
	free(peer);
	if (!http)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	a->base.ops = &real_ops;
	a->http = http;
	n = strlen(base);
	a->base_url = base[n - 1] == '/' ? xstrdup(base) : xasprintf("%s/", base);
	a->bot_token = bot_token && *bot_token ? xstrdup(bot_token) : NULL;
	a->app_token = app_token && *app_token ? xstrdup(app_token) : NULL;
	return &a->base;
}

void slack_api_set_limits(struct slack_api *api, const struct slack_api_limits *lim)
{
	struct slack_api_real *a = (struct slack_api_real *)api;
	struct http_limits l;

	if (!api || api->ops != &real_ops || !lim)
		return;
	l = http_limits_of(lim);
	http_client_set_limits(a->http, &l);
}

void slack_api_thread_cleanup(void)
{
	http_trim_all();
}

/* ---- the public entry points (they dispatch, so fakes work too) ---------- */

void slack_api_free(struct slack_api *api)
{
	if (api && api->ops && api->ops->free)
		api->ops->free(api);
}

int slack_call(struct slack_api *api, const char *method, json_t *args, json_t **resp)
{
	if (resp)
		*resp = NULL;
	if (!api || !api->ops || !api->ops->call)
		return VIVA_EINVAL;
	return api->ops->call(api, method, args, resp);
}

int slack_respond(struct slack_api *api, const char *response_url, json_t *msg)
{
	if (!api || !api->ops || !api->ops->respond)
		return VIVA_EINVAL;
	return api->ops->respond(api, response_url, msg);
}

int slack_upload_file(struct slack_api *api, const struct slack_file *f, char **file_id, char *err,
		      size_t errlen)
{
	if (file_id)
		*file_id = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!api || !api->ops || !api->ops->upload) {
		viva_errf(err, errlen, "viva cannot upload files here (no Slack client)");
		return VIVA_EINVAL;
	}
	return api->ops->upload(api, f, file_id, err, errlen);
}

int slack_connections_open(struct slack_api *api, char **url, int *retry_after_s)
{
	return slack_connections_open_ex(api, url, retry_after_s, NULL);
}

int slack_connections_open_ex(struct slack_api *api, char **url, int *retry_after_s, char **error)
{
	int rc;

	if (error)
		*error = NULL;
	if (retry_after_s)
		*retry_after_s = 0;
	if (!url)
		return VIVA_EINVAL;
	*url = NULL;
	if (!api || !api->ops || !api->ops->connections_open)
		return VIVA_EINVAL;
	if (api->ops == &real_ops)
		return connections_open((struct slack_api_real *)api, url, retry_after_s, error);
	rc = api->ops->connections_open(api, url, retry_after_s);
	if (rc == VIVA_EREMOTE && error)
		*error = xstrdup("unknown");
	return rc;
}
