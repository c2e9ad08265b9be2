#ifndef VIVA_TESTS_HTTP_FRONT_H
#define VIVA_TESTS_HTTP_FRONT_H

#include <stdbool.h>
#include <stddef.h>

#include "bot/lib/strbuf.h"

/*
 * A small HTTP/1.1 server run in a thread of the test, on 127.0.0.1 with a
 * port of its own: one connection at a time, each request answered with
 * Content-Length and Connection: close. A handler the test gives sees every
 * request and fills the answer, itself or by forwarding the request to a
 * real server (http_front_forward). The fronts of real servers
 * (tests/registry_proxy.c, tests/prom_proxy.c) and fakes that answer canned
 * bodies are built on it. Reads are bounded (64 KiB of head, 8 MiB of body,
 * 5 s without a byte).
 */
struct hf_header {
	char *name;                  /* as sent */
	char *value;                 /* without leading blanks */
};

struct hf_request {
	char method[16];
	char *target;                /* path?query, as sent */
	char *path;                  /* target without its query */
	const char *query;           /* what follows '?' in target, "" when none */
	struct hf_header *headers;
	size_t nheaders;
	char *body;                  /* NUL-terminated */
	size_t blen;
};

/* The first header called name (any case), or NULL. */
const char *hf_header(const struct hf_request *rq, const char *name);
/* The decoded value of key in an "a=1&b=2" string (a query or a form body;
 * '+' is a space), or NULL (caller frees). */
char *hf_param(const char *form, const char *key);

/* "Basic <base64 of user:password>", an Authorization value (caller frees). */
char *hf_basic(const char *user, const char *password);

enum hf_action {
	HF_ANSWER = 0,               /* send status, headers and body */
	HF_CLOSE,                    /* close the connection without an answer */
};

struct hf_response {
	long status;                 /* 200 unless the handler says otherwise */
	struct strbuf headers;       /* "Name: value\r\n" lines */
	struct strbuf body;
	bool head;                   /* an answer to HEAD: no body sent */
	char *head_length;           /* Content-Length to announce for HEAD (forwarded) */
	enum hf_action action;
	long delay_ms;               /* wait this long first (cut short when the client hangs
				      * up, or by http_front_stop) */
};

/* Called on the front's thread for every request. */
typedef void (*hf_handler)(void *ud, const struct hf_request *rq, struct hf_response *rs);

struct http_front;

/* Listening on 127.0.0.1 (any free port); NULL on failure. */
struct http_front *http_front_start(hf_handler fn, void *ud);
int http_front_port(const struct http_front *f);
/* "http://127.0.0.1:PORT" (borrowed). */
const char *http_front_url(const struct http_front *f);
/*
 * refuse: stop listening, so that connections are refused (a server that
 * went down), once the request being answered, if any, is done; false:
 * listen again on the same port. Safe from the handler and from the test.
 */
void http_front_refuse(struct http_front *f, bool refuse);
/* Stop the thread (bounded by a delay being waited), close, free. NULL is fine. */
void http_front_stop(struct http_front *f);

/*
 * Send rq to upstream ("http://127.0.0.1:PORT") as method and target (NULL:
 * rq's own), with rq's body and its Accept and Content-Type headers. The
 * answer's status, body and the headers named in keep (NULL-terminated, any
 * case; NULL: Content-Type only) go into rs, with the upstream's
 * Content-Length kept for HEAD. 502 when upstream gave no answer.
 */
void http_front_forward(const char *upstream, const char *method, const char *target,
			const struct hf_request *rq, const char *const *keep, struct hf_response *rs);

#endif
