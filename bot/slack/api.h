#ifndef VIVA_BOT_SLACK_API_H
#define VIVA_BOT_SLACK_API_H

#include <jansson.h>
#include <stdint.h>

/*
 * The Slack Web API, as handlers and the runtime see it: a narrow interface
 * (tests pass a fake through the same struct).
 *
 * slack_call() POSTs `args` as JSON (Content-Type: application/json;
 * charset=utf-8) to SLACK_API_BASE + method with `Authorization: Bearer`
 * the bot token, and returns the parsed reply in *resp (caller frees; may be
 * NULL on transport errors). Return codes:
 *   VIVA_OK        reply had ok:true
 *   VIVA_EREMOTE   reply had ok:false (the error code is logged with the
 *                  method; *resp carries it: slack_error(*resp))
 *   VIVA_ETIMEOUT  no answer within the call timeout
 *   VIVA_EUNAVAIL  connection failed, HTTP 5xx, or a non-JSON reply
 *   VIVA_EBUSY     still rate limited after the bounded retries
 * HTTP 429 waits Retry-After seconds (capped) and retries, at most a few
 * times and within an overall deadline. Never logs a token.
 */
struct slack_api;
struct slack_file;

struct slack_api_ops {
	int (*call)(struct slack_api *api, const char *method, json_t *args, json_t **resp);
	/* POST a message (borrowed) to an interaction's response_url. */
	int (*respond)(struct slack_api *api, const char *response_url, json_t *msg);
	/* apps.connections.open with the app-level token: a wss:// URL (caller frees). */
	int (*connections_open)(struct slack_api *api, char **url, int *retry_after_s);
	void (*free)(struct slack_api *api);
	/* Share a file in a channel (slack_upload_file()); NULL: cannot. */
	int (*upload)(struct slack_api *api, const struct slack_file *f, char **file_id, char *err,
		      size_t errlen);
};

struct slack_api {
	const struct slack_api_ops *ops;
};

/* The real client, an HTTP client of bot/clients/http.h named "slack".
 * base ends in '/' (one is added if not; NULL = https://slack.com/api/).
 * Tokens are copied; either may be NULL, and a call that needs a missing
 * one returns VIVA_EINVAL. NULL if base is not an http(s) URL without a
 * query, or if libcurl cannot initialise (logged). Safe to use from many
 * threads at once. */
struct slack_api *slack_api_new(const char *base, const char *bot_token, const char *app_token);
void slack_api_free(struct slack_api *api);

/* args may be NULL ({}); resp may be NULL. VIVA_EINVAL for a method name
 * that is not [A-Za-z0-9._] or args that are not an object (nothing sent). */
int slack_call(struct slack_api *api, const char *method, json_t *args, json_t **resp);
/*
 * response_url posts carry no Authorization (Slack documents none). HTTP 200
 * is success whatever the body ("ok" or JSON), unless it is JSON with
 * ok:false. VIVA_EREMOTE: 404/410 (expired or used up: post with
 * chat.postMessage instead) or another 4xx; VIVA_EUNAVAIL: 5xx or no
 * connection; VIVA_ETIMEOUT; VIVA_EBUSY after 429 retries as for calls;
 * VIVA_EINVAL if the URL is not http(s) or msg not an object.
 */
int slack_respond(struct slack_api *api, const char *response_url, json_t *msg);
/* On VIVA_EBUSY (HTTP 429) *retry_after_s says how long to back off; this
 * never sleeps. retry_after_s may be NULL. See slack_connections_open_ex()
 * for telling fatal errors (bad token) from passing ones. */
int slack_connections_open(struct slack_api *api, char **url, int *retry_after_s);
/* The "error" string of an ok:false reply, or "unknown". */
const char *slack_error(json_t *resp);

/* Errors of apps.connections.open after which retrying cannot help. */
int slack_error_is_fatal(const char *error);

/* Limits, tunable for tests (milliseconds). */
struct slack_api_limits {
	long connect_timeout_ms;   /* default 5000 */
	long call_timeout_ms;      /* default 10000 */
	int max_retries;           /* 429 retries, default 3 */
	long max_retry_after_ms;   /* cap on one Retry-After wait, default 60000 */
	/* Added: bound on one call including every retry and wait; 0 = default
	 * 120000. A Retry-After that would end past it is not waited for
	 * (VIVA_EBUSY at once). */
	long deadline_ms;
	/* A Retry-After longer than this is not slept in the call: VIVA_EBUSY
	 * comes back at once and slack_retry_after_s() says how long to wait
	 * (the reply route schedules the retry). Default 2000. */
	long max_sleep_ms;
};
/* After a call or post that returned VIVA_EBUSY on this thread: Slack's
 * Retry-After in seconds (1 when it sent none). */
long slack_retry_after_s(void);
/* A field <= 0 keeps its default, except max_retries: 0 means no retry and
 * < 0 the default; it is capped at 10. Ignored for a fake api. */
void slack_api_set_limits(struct slack_api *api, const struct slack_api_limits *lim);

/*
 * Keep-alive: the real client (an HTTP client of bot/clients/http.h named
 * "slack") keeps a small pool of sessions (curl handles and their open
 * connections) that calls borrow and give back. This closes the idle ones
 * of every HTTP client of the process (http_trim_all()); slack_api_free()
 * closes its own. No call may be running when the last slack_api_free()
 * runs (it releases libcurl's global state).
 */
void slack_api_thread_cleanup(void);

/*
 * slack_connections_open() plus the reason: on VIVA_EREMOTE, *error is
 * Slack's error code ("invalid_auth", ...; caller frees), so the caller can
 * ask slack_error_is_fatal(); otherwise *error is NULL. On VIVA_EBUSY (HTTP
 * 429) *retry_after_s is Slack's Retry-After (30 if it sent none), without
 * sleeping. With a fake api, *error is "unknown" on VIVA_EREMOTE.
 */
int slack_connections_open_ex(struct slack_api *api, char **url, int *retry_after_s, char **error);

/*
 * Files (SPEC section 9: the traffic chart). Slack's three steps, each on
 * the client's HTTP layer with its timeouts and retries:
 *   1. files.getUploadURLExternal, form-encoded: filename, length (and
 *      alt_txt): Slack answers an upload URL and a file id;
 *   2. the bytes POSTed to that URL (application/octet-stream, no token:
 *      Slack documents none for it); HTTP 200 is success;
 *   3. files.completeUploadExternal, form-encoded: files=[{"id","title"}],
 *      channel_id (and initial_comment or blocks, thread_ts), which shares
 *      the file in the channel.
 * Step 3 runs only once steps 1 and 2 succeeded, and once: a file Slack
 * never hears of in step 3 is discarded by Slack, so a failed upload
 * leaves nothing half posted in the channel. A 429 is waited out as for
 * any call (the upload URL's POST too: Slack did not take the bytes).
 *
 * Neither the upload URL (it is a credential for the file) nor a token is
 * ever logged or put in a message: logs carry the step, the HTTP status
 * and Slack's error code.
 */
#define SLACK_UPLOAD_MAX ((size_t)1 << 30)   /* Slack's limit: 1 GB a file */

struct slack_file {
	const char *channel_id;      /* required: C..., G... or D... (where the file is shared) */
	const char *filename;        /* required, with its extension: "traffic-payments-api.png" */
	const char *title;           /* shown above the file; NULL: the filename */
	const char *alt_text;        /* for screen readers (images); NULL: none; at most 1000 characters */
	const void *bytes;           /* required */
	size_t len;                  /* 1 .. SLACK_UPLOAD_MAX */
	const char *initial_comment; /* a message posted with the file (mrkdwn); NULL: none */
	json_t *blocks;              /* or Block Kit blocks for it (borrowed); not with initial_comment */
	const char *thread_ts;       /* share in this thread; NULL: in the channel */
};

/*
 * Upload f and share it in f->channel_id. On VIVA_OK *file_id is Slack's
 * id of the file ("F0..."; caller frees; file_id may be NULL). Otherwise
 * *file_id is NULL and err (errlen bytes; may be NULL) holds one line for
 * a person that names the step and what to do, e.g. "Slack refused the
 * file upload (files.completeUploadExternal: not_in_channel): invite the
 * bot to the channel". Return codes:
 *   VIVA_EINVAL    a bad call (no channel, no bytes, too large, no bot
 *                  token, blocks with initial_comment): nothing sent
 *   VIVA_EREMOTE   Slack refused a step (ok:false, or the upload URL
 *                  answered an error status)
 *   VIVA_ETIMEOUT  a step got no answer in time (if it was step 3, the
 *                  file may or may not appear: the message says so)
 *   VIVA_EUNAVAIL  Slack not reachable, 5xx, or an answer that makes no sense
 *   VIVA_EBUSY     still rate limited after the retries
 */
int slack_upload_file(struct slack_api *api, const struct slack_file *f, char **file_id, char *err,
		      size_t errlen);

/* A copy of a Socket Mode URL safe to log: the ticket value is replaced by
 * "REDACTED" (caller frees; NULL -> NULL). */
char *slack_redact_url(const char *url);

#endif
