#ifndef VIVA_TESTS_REGISTRY_PROXY_H
#define VIVA_TESTS_REGISTRY_PROXY_H

#include <stdbool.h>

/*
 * A small HTTP front for a real registry, run in a thread of the test:
 *  - tags/list pagination: docker-registry 2.8.2 ignores n= and last=, so
 *    the proxy fetches the whole list, sorts it and serves pages of at most
 *    min(n, page_cap) tags with a Link: <...>; rel="next" header;
 *  - the bearer token flow: with bearer set, every /v2/ request without a
 *    token the proxy issued gets 401 and
 *    Www-Authenticate: Bearer realm="http://127.0.0.1:P/token",
 *      service="test-registry",scope="repository:<name>:pull,push"
 *    and GET /token (Basic user:password) issues tokens;
 *  - everything else is passed through to the registry unchanged.
 * One connection at a time, Connection: close. Listens on 127.0.0.1:0.
 */
enum regproxy_link {
	REGPROXY_LINK_RELATIVE = 0,  /* </v2/...> */
	REGPROXY_LINK_ABSOLUTE,      /* <http://127.0.0.1:P/v2/...> */
	REGPROXY_LINK_FOREIGN,       /* <http://foreign.invalid:P/v2/...>: must not be followed */
	REGPROXY_LINK_LOOP,          /* the next page is the first page again */
};

struct regproxy_opts {
	const char *upstream;        /* http://127.0.0.1:PORT of the registry */
	int page_cap;                /* 0: tags/list passes through */
	enum regproxy_link link;
	bool bearer;
	const char *user;            /* Basic credentials /token accepts; NULL: anyone */
	const char *password;
	int expires_in;              /* in token replies; 0: field left out */
	bool access_token;           /* reply "access_token" instead of "token" */
};

struct regproxy_stats {
	int requests;                /* every request, /token included */
	int tags_pages;              /* tags/list pages served */
	int token_requests;
	int token_refused;           /* /token with wrong or no credentials */
	int unauthorized;            /* 401s sent for missing/unknown tokens */
	int with_authorization;      /* requests that carried an Authorization header */
	int redirected;              /* blob GETs answered with a redirect */
	int manifest_puts;           /* PUT .../manifests/... passed to the registry */
	char last_scope[256];        /* as decoded from the last /token query */
	char last_service[64];
};

struct regproxy;

struct regproxy *regproxy_start(const struct regproxy_opts *o);  /* NULL on failure */
int regproxy_port(const struct regproxy *p);
void regproxy_stats(struct regproxy *p, struct regproxy_stats *out);
void regproxy_set_link(struct regproxy *p, enum regproxy_link link);
void regproxy_set_token_reply(struct regproxy *p, int expires_in, bool access_token);
/* Answer blob GETs with 307 to base + the same path (NULL: serve them). */
void regproxy_set_blob_redirect(struct regproxy *p, const char *base);
/* The next `count` manifest PUTs are passed to the registry (which stores
 * them) and their answer is held for ms before it is sent: a process
 * killed meanwhile never learns the PUT was applied. */
void regproxy_hold_puts(struct regproxy *p, int count, long ms);
/* Forget every issued token (the registry "revoked" them). */
void regproxy_revoke_tokens(struct regproxy *p);
void regproxy_stop(struct regproxy *p);

#endif
