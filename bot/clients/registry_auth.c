/*
 * The credentials of the real registry client (see registry_real.h): what
 * a request carries, the Bearer challenges of the registry token protocol
 * (WWW-Authenticate: Bearer realm=...) and the cache of the tokens got.
 *
 * Secrets: the password goes to the layer for HTTP Basic only (to the
 * registry until it asks for bearer tokens, then only to the token realm);
 * tokens only as a bearer credential, and are wiped when freed. Logs carry
 * the operation and HTTP status, never a header.
 *
 * Batches: with no token cached and no answer yet that came without a
 * challenge, the first request goes alone (it meets the challenge and gets
 * the token, once), then the rest go together with that token; a 401 inside
 * a batch (a token revoked meanwhile) is redone alone, through the
 * challenge.
 */
#include "bot/clients/registry_real.h"
#include "bot/clients/registry.h"
#include "bot/clients/http.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKEN_REPLY_BYTES   ((size_t)1 << 20)
#define MAX_TOKEN_LEN           65536
#define DEF_TOKEN_TTL_S         60
#define MAX_TOKEN_TTL_S         86400

struct challenge {
	char *realm;
	char *service;
	char *scope;
};

/* ---- the token cache ---------------------------------------------------------- */

static void tok_release(struct tok *t)
{
	free(t->key);
	free(t->scope_key);
	free_secret(t->token);
	memset(t, 0, sizeof(*t));
}

static void tok_remove(struct registry_real *r, size_t i)
{
	tok_release(&r->toks[i]);
	memmove(&r->toks[i], &r->toks[i + 1], (r->ntoks - i - 1) * sizeof(r->toks[0]));
	r->ntoks--;
	memset(&r->toks[r->ntoks], 0, sizeof(r->toks[0]));
}

/* A copy of the valid token used for key, or NULL. */
static char *tok_for_key(struct registry_real *r, const char *key)
{
	int64_t now = now_ms_mono();
	char *t = NULL;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ntoks; i++)
		if (strcmp(r->toks[i].key, key) == 0 && r->toks[i].expires_ms > now) {
			t = xstrdup(r->toks[i].token);
			break;
		}
	pthread_mutex_unlock(&r->mu);
	return t;
}

/* A valid token for the challenge, other than the one just refused. */
static char *tok_for_scope(struct registry_real *r, const char *scope_key, const char *refused,
			   int64_t *expires_ms)
{
	int64_t now = now_ms_mono();
	char *t = NULL;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ntoks; i++) {
		struct tok *k = &r->toks[i];
		if (strcmp(k->scope_key, scope_key) == 0 && k->expires_ms > now &&
		    (!refused || strcmp(k->token, refused) != 0)) {
			t = xstrdup(k->token);
			*expires_ms = k->expires_ms;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return t;
}

/* Remember token for key; entries of the same challenge get it too. */
static void tok_put(struct registry_real *r, const char *key, const char *scope_key,
		    const char *token, int64_t expires_ms)
{
	int64_t now = now_ms_mono();
	size_t i;

	pthread_mutex_lock(&r->mu);
	r->bearer_seen = true;
	for (i = r->ntoks; i-- > 0;)
		if (r->toks[i].expires_ms <= now)
			tok_remove(r, i);
	for (i = 0; i < r->ntoks; i++) {
		struct tok *k = &r->toks[i];
		if (strcmp(k->scope_key, scope_key) == 0 && strcmp(k->token, token) != 0) {
			free_secret(k->token);
			k->token = xstrdup(token);
			k->expires_ms = expires_ms;
		}
	}
	for (i = 0; i < r->ntoks; i++)
		if (strcmp(r->toks[i].key, key) == 0)
			break;
	if (i == r->ntoks) {
		if (r->ntoks == REGISTRY_MAX_TOKENS)
			tok_remove(r, 0);   /* the oldest */
		i = r->ntoks++;
		r->toks[i].key = xstrdup(key);
	} else {
		free(r->toks[i].scope_key);
		free_secret(r->toks[i].token);
	}
	r->toks[i].scope_key = xstrdup(scope_key);
	r->toks[i].token = xstrdup(token);
	r->toks[i].expires_ms = expires_ms;
	pthread_mutex_unlock(&r->mu);
}

static char *tok_key(const char *repo, bool push)
{
	return xasprintf("%s\n%s", repo, push ? "push" : "pull");
}

void registry_auth_release(struct registry_real *r)
{
	for (size_t i = 0; i < r->ntoks; i++)
		tok_release(&r->toks[i]);
}

/* ---- challenges ------------------------------------------------------------------ */

/* ASCII letters and digits (not isalnum(): that one follows the locale). */
static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The first Bearer challenge of the answer, else the first challenge. */
static const char *challenge_of(const struct http_response *rs, bool *bearer)
{
	const char *first = http_header_get(rs, "www-authenticate");

	for (const char *v = first; v; v = http_header_next(rs, "www-authenticate", v))
		if (strncasecmp(v, "Bearer", 6) == 0 && (v[6] == ' ' || v[6] == '\t' || v[6] == '\0')) {
			*bearer = true;
			return v;
		}
	*bearer = false;
	return first;
}

static void challenge_release(struct challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

/* Bearer realm="...",service="...",scope="..." (RFC 7235 auth-params). */
static int parse_challenge(const char *v, struct challenge *ch)
{
	const char *p = v + 6;   /* after "Bearer" */

	memset(ch, 0, sizeof(*ch));
	while (*p) {
		const char *name;
		size_t nlen;
		struct strbuf val;
		char **slot = NULL;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		name = p;
		while (is_alnum(*p) || *p == '_' || *p == '-')
			p++;
		nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (nlen == 0 || *p != '=')
			goto bad;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		sb_init(&val);
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				sb_addc(&val, *p++);
			}
			if (*p != '"') {
				sb_release(&val);
				goto bad;
			}
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t')
				sb_addc(&val, *p++);
		}
		if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
			slot = &ch->realm;
		else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
			slot = &ch->service;
		else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
			slot = &ch->scope;
		if (slot) {
			free(*slot);
			*slot = sb_detach(&val);
		}
		sb_release(&val);
	}
	if (!ch->realm || (strncasecmp(ch->realm, "http://", 7) != 0 &&
			   strncasecmp(ch->realm, "https://", 8) != 0))
		goto bad;
	for (const char *c = ch->realm; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			goto bad;
	return VIVA_OK;
bad:
	challenge_release(ch);
	return VIVA_EREMOTE;
}

/* Ask the realm for a token answering ch. */
static int fetch_token(struct registry_real *r, const struct challenge *ch, char **token,
		       int64_t *expires_ms)
{
	struct strbuf url;
	struct call c;
	char *peer = NULL, *origin = NULL;
	json_t *j = NULL;
	const char *t;
	json_int_t ttl = DEF_TOKEN_TTL_S;
	int64_t life_ms;
	int rc;

	*token = NULL;
	sb_init(&url);
	registry_call_init(&c);
	sb_adds(&url, ch->realm);
	sb_addc(&url, strchr(ch->realm, '?') ? '&' : '?');
	if (ch->service) {
		sb_adds(&url, "service=");
		sb_add_pct(&url, ch->service);
	}
	if (ch->scope) {
		sb_adds(&url, ch->service ? "&scope=" : "scope=");
		sb_add_pct(&url, ch->scope);
	}
	origin = registry_origin_of(ch->realm);
	peer = xasprintf("the registry's token service at %s", origin ? origin : "(unknown)");
	c.rq = (struct http_request){ .op = "token", .method = "GET", .url = url.buf, .headers = registry_accept_json,
				      .user = r->user, .password = r->password, .max_body = MAX_TOKEN_REPLY_BYTES,
				      .keep = registry_keep_headers, .peer = peer };
	rc = registry_exchange(r, &c);
	if (rc != VIVA_OK)
		goto out;
	if (c.rs.status == 401 || c.rs.status == 403) {
		log_warn("registry token refused", "status=%ld", c.rs.status);
		rc = r->user ? registry_fail(VIVA_EAUTH, REGISTRY_MSG_CREDENTIALS " at its token service")
			     : registry_fail(VIVA_EAUTH, REGISTRY_MSG_NO_CREDENTIALS);
		goto out;
	}
	if (c.rs.status != 200) {
		log_warn("registry token error", "status=%ld", c.rs.status);
		rc = registry_fail(VIVA_EREMOTE, "%s answered HTTP %ld", peer, c.rs.status);
		goto out;
	}
	j = json_loadb(c.rs.body.buf, c.rs.body.len, 0, NULL);
	t = json_string_value(json_object_get(j, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(j, "access_token"));
	if (!t || !*t || strlen(t) > MAX_TOKEN_LEN) {
		rc = registry_fail(VIVA_EREMOTE, "%s sent no usable token", peer);
		goto out;
	}
	for (const char *ch2 = t; *ch2; ch2++)
		if (*ch2 <= 0x20 || *ch2 >= 0x7f) {
			/* It goes into a header line: no spaces, no CR/LF. */
			rc = registry_fail(VIVA_EREMOTE, "%s sent no usable token", peer);
			goto out;
		}
	if (json_is_integer(json_object_get(j, "expires_in")) &&
	    json_integer_value(json_object_get(j, "expires_in")) > 0)
		ttl = json_integer_value(json_object_get(j, "expires_in"));
	if (ttl > MAX_TOKEN_TTL_S)
		ttl = MAX_TOKEN_TTL_S;
	/* Stop using it a little early, so it does not expire in flight. */
	life_ms = (int64_t)ttl * 1000;
	life_ms -= life_ms / 10 < 5000 ? life_ms / 10 : 5000;
	*expires_ms = now_ms_mono() + life_ms;
	*token = xstrdup(t);
	log_info("registry token obtained", "expires_in=%lld", (long long)ttl);
out:
	json_decref(j);
	/* the reply held the token */
	if (c.rs.body.buf)
		explicit_bzero(c.rs.body.buf, c.rs.body.len);
	registry_call_release(&c);
	sb_release(&url);
	free(peer);
	free(origin);
	return rc;
}

/* ---- credentials on requests ----------------------------------------------------- */

/* The credentials a request carries: token, else Basic (until the registry
 * asked for tokens), else none. */
void registry_set_credentials(struct registry_real *r, struct http_request *rq, const char *tok,
			      bool bearer_seen)
{
	rq->bearer = tok;
	rq->user = !tok && !bearer_seen ? r->user : NULL;
	rq->password = rq->user ? r->password : NULL;
}

static void note_answer(struct registry_real *r, const struct call *c)
{
	if (c->rc == VIVA_OK && c->rs.status != 401 && !c->rq.bearer) {
		pthread_mutex_lock(&r->mu);
		r->plain_ok = true;
		pthread_mutex_unlock(&r->mu);
	}
}

/*
 * Send c to the registry with credentials: a cached bearer token for this
 * repository and access if there is one, else Basic (until the registry
 * has asked for tokens). A 401 with a Bearer challenge gets a token (cached,
 * or from the realm) and one retry. VIVA_OK when an HTTP answer is in c->rs;
 * otherwise c->err holds the message (also registry_last_error()).
 */
int registry_send_authed(struct registry_real *r, const char *repo, bool push, struct call *c)
{
	struct challenge ch = { 0 };
	char *key = tok_key(repo, push);
	char *tok = tok_for_key(r, key), *fresh = NULL, *scope_key = NULL;
	const char *challenge;
	int64_t expires_ms = 0;
	bool bearer_seen, bearer = false;
	int rc;

	pthread_mutex_lock(&r->mu);
	bearer_seen = r->bearer_seen;
	pthread_mutex_unlock(&r->mu);
	registry_set_credentials(r, &c->rq, tok, bearer_seen);
	rc = registry_exchange(r, c);
	note_answer(r, c);
	if (rc != VIVA_OK || c->rs.status != 401)
		goto out;
	challenge = challenge_of(&c->rs, &bearer);
	if (!challenge || !bearer)
		goto out;
	if (parse_challenge(challenge, &ch) != VIVA_OK) {
		log_warn("registry bad challenge", "op=%s", c->rq.op);
		rc = registry_fail(VIVA_EREMOTE, "the registry at %s sent an unusable authentication challenge",
				   r->url);
		goto out;
	}
	scope_key = xasprintf("%s\n%s\n%s", ch.realm, ch.service ? ch.service : "",
			      ch.scope ? ch.scope : "");
	fresh = tok_for_scope(r, scope_key, tok, &expires_ms);
	if (!fresh) {
		rc = fetch_token(r, &ch, &fresh, &expires_ms);
		if (rc != VIVA_OK)
			goto out;
	}
	tok_put(r, key, scope_key, fresh, expires_ms);
	registry_set_credentials(r, &c->rq, fresh, true);
	rc = registry_exchange(r, c);
out:
	if (rc < 0 && c->rc == VIVA_OK)
		registry_call_failed(c, rc, registry_last_error());   /* (a token or challenge failure) */
	challenge_release(&ch);
	free_secret(tok);
	free_secret(fresh);
	registry_set_credentials(r, &c->rq, NULL, true);
	free(scope_key);
	free(key);
	return rc;
}

/*
 * Send n pull requests for repo at once. With no token cached and nothing
 * yet answered without a challenge, the first goes alone through
 * registry_send_authed() (which meets the challenge and gets the token,
 * once); the others then go together with the token (or Basic, or nothing,
 * as the registry showed). A 401 among them is redone alone through
 * registry_send_authed(). Each call's rc and err say how its exchange went.
 */
void registry_send_authed_batch(struct registry_real *r, const char *repo, struct call *calls, size_t n)
{
	struct http_request *rqs = NULL;
	struct http_response *rss = NULL;
	int *rcs = NULL;
	char *key = tok_key(repo, false), *tok = tok_for_key(r, key);
	bool bearer_seen, plain_ok;
	size_t first = 0, m;

	pthread_mutex_lock(&r->mu);
	bearer_seen = r->bearer_seen;
	plain_ok = r->plain_ok;
	pthread_mutex_unlock(&r->mu);
	if (n > 0 && !tok && !plain_ok) {
		registry_send_authed(r, repo, false, &calls[0]);
		first = 1;
		tok = tok_for_key(r, key);
		pthread_mutex_lock(&r->mu);
		bearer_seen = r->bearer_seen;
		pthread_mutex_unlock(&r->mu);
	}
	m = n - first;
	if (m > 0) {
		/* the layer takes arrays of requests and answers */
		rqs = xcalloc(m, sizeof(*rqs));
		rss = xcalloc(m, sizeof(*rss));
		rcs = xcalloc(m, sizeof(*rcs));
		for (size_t i = 0; i < m; i++) {
			registry_set_credentials(r, &calls[first + i].rq, tok, bearer_seen);
			rqs[i] = calls[first + i].rq;
			rss[i] = calls[first + i].rs;
		}
		http_do_batch(r->http, rqs, rss, rcs, m);
		for (size_t i = 0; i < m; i++) {
			struct call *c = &calls[first + i];
			c->rs = rss[i];
			c->rc = rcs[i];
			if (c->rc < 0) {
				registry_call_failed(c, c->rc, c->rs.error);
				continue;
			}
			note_answer(r, c);
			registry_set_credentials(r, &c->rq, NULL, true);
			if (c->rs.status == 401)
				registry_send_authed(r, repo, false, c);
		}
	}
	for (size_t i = 0; i < n; i++)
		registry_set_credentials(r, &calls[i].rq, NULL, true);
	free(rqs);
	free(rss);
	free(rcs);
	free_secret(tok);
	free(key);
}
