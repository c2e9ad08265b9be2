#ifndef VIVA_BOT_CLIENTS_REGISTRY_REAL_H
#define VIVA_BOT_CLIENTS_REGISTRY_REAL_H

/*
 * Internal to the real registry client: shared by registry_http.c (the
 * requests, the operations, registry_new_ex) and registry_auth.c (the
 * credentials a request carries, bearer challenges, the token cache).
 * Nothing else includes it: registry.c and the fakes see struct registry
 * and its ops only.
 *
 * Worker threads call the client concurrently. The shared object is
 * read-only after registry_new() except for the limits, the token cache and
 * what the registry has shown about credentials, all behind one mutex that
 * is never held across a network call.
 */
#include "bot/clients/registry.h"
#include "bot/clients/http.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGISTRY_MAX_TOKENS       64

#define REGISTRY_MSG_CREDENTIALS \
	"the registry refused viva's credentials (REGISTRY_USER/REGISTRY_PASSWORD)"
#define REGISTRY_MSG_NO_CREDENTIALS \
	"the registry requires credentials: set REGISTRY_USER and REGISTRY_PASSWORD"

/* One cached bearer token: which requests used it (key = repo + pull/push)
 * and the challenge it answers (scope_key = realm, service, scope). */
struct tok {
	char *key;
	char *scope_key;
	char *token;
	int64_t expires_ms;          /* monotonic */
};

struct registry_real {
	struct registry base;        /* first: the public handle */
	char *url;                   /* scheme://authority[/path], no trailing '/' */
	char *origin;                /* scheme://authority */
	char *user;                  /* NULL: no credentials */
	char *password;
	struct http_client *http;
	pthread_mutex_t mu;          /* guards the fields below */
	int max_pages;
	long max_tags;
	bool bearer_seen;            /* the registry asked for a bearer token once */
	bool plain_ok;               /* it answered a request without a token, no challenge */
	struct tok toks[REGISTRY_MAX_TOKENS];
	size_t ntoks;
};

/* One request and its answer, as the operations describe and read them. */
struct call {
	struct http_request rq;
	struct http_response rs;
	int rc;                      /* the exchange: VIVA_OK when an answer is in rs */
	char *err;                   /* the message when rc < 0 */
	char *url;
	char *ctype;                 /* "Content-Type: ..." line of a PUT */
	const char *hdrs[2];
};

/* ---- registry_http.c ---- */

/* The answer headers the protocol reads (NULL-terminated). */
extern const char *const registry_keep_headers[];
/* Request headers: Accept: application/json (NULL-terminated). */
extern const char *const registry_accept_json[];

/* An empty call (rc VIVA_OK, keeping registry_keep_headers); release it
 * with registry_call_release(), which frees what the call owns. */
void registry_call_init(struct call *c);
void registry_call_release(struct call *c);
/* The exchange failed with rc: c keeps msg (NULL or "": rc's name). */
void registry_call_failed(struct call *c, int rc, const char *msg);
/* Send c once through the layer (with its retries), with the credentials
 * c->rq carries. VIVA_OK when an HTTP answer is in c->rs, any status;
 * otherwise the layer's sentence is c->err and registry_last_error(). */
int registry_exchange(struct registry_real *r, struct call *c);
/* scheme://authority of an http(s) URL (caller frees), or NULL. */
char *registry_origin_of(const char *url);

/* ---- registry_auth.c ---- */

/* The credentials rq carries: the bearer token tok, else Basic (until the
 * registry asked for tokens, bearer_seen), else none. Borrows tok and r's
 * credentials: reset with tok NULL and bearer_seen true before they go. */
void registry_set_credentials(struct registry_real *r, struct http_request *rq, const char *tok,
			      bool bearer_seen);
/* Send c with credentials, meeting a Bearer challenge once (see
 * registry_auth.c). VIVA_OK when an HTTP answer is in c->rs; otherwise
 * c->err holds the message (also registry_last_error()). */
int registry_send_authed(struct registry_real *r, const char *repo, bool push, struct call *c);
/*
 * Send n pull requests for repo at once, with the credentials the first one
 * establishes (see registry_auth.c). Each call's rc and err say how its
 * exchange went.
 */
void registry_send_authed_batch(struct registry_real *r, const char *repo, struct call *calls, size_t n);
/* Free r's token cache (r is going away). */
void registry_auth_release(struct registry_real *r);

#endif
