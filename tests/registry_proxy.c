/*
 * The paginating / bearer-token front for a real registry (see
 * registry_proxy.h), on the small test server of tests/http_front.h.
 */
#include "tests/registry_proxy.h"
#include "tests/http_front.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOKENS      64

struct regproxy {
	char *upstream;
	char *user;
	char *password;
	bool bearer;
	int page_cap;
	int port;
	struct http_front *front;
	pthread_mutex_t mu;          /* guards everything below */
	enum regproxy_link link;
	int expires_in;
	bool access_token;
	struct regproxy_stats st;
	char *tokens[MAX_TOKENS];
	int ntokens;
	int serial;
	char *blob_redirect;
	int hold_puts;
	long hold_ms;
};

/* The answer headers a client of the registry reads. */
static const char *const keep_headers[] = {
	"content-type", "docker-content-digest", "location", "www-authenticate",
	"link", "etag", "docker-distribution-api-version", NULL,
};

static void forward(struct regproxy *p, const char *method, const char *target, const struct hf_request *rq,
		    struct hf_response *rs)
{
	http_front_forward(p->upstream, method, target, rq, keep_headers, rs);
}

/* ---- the handlers -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "/v2/<name>/<rest>" -> name (caller frees), for the known endpoints. */
static char *repo_of(const char *path)
{
	static const char *const ends[] = { "/tags/list", "/manifests/", "/blobs/", NULL };
	const char *best = NULL;

	if (strncmp(path, "/v2/", 4) != 0)
		return NULL;
	for (int i = 0; ends[i]; i++) {
		const char *e = strstr(path + 4, ends[i]);
		if (e && (!best || e < best))
			best = e;
	}
	return best && best > path + 4 ? xstrndup(path + 4, (size_t)(best - path - 4)) : NULL;
}

static void serve_tags(struct regproxy *p, const char *name, const struct hf_request *rq, struct hf_response *rs)
{
	char *up = xasprintf("/v2/%s/tags/list", name);
	char *nq = hf_param(rq->query, "n"), *last = hf_param(rq->query, "last");
	json_t *j = NULL, *out = NULL, *arr;
	char **tags = NULL;
	size_t ntags = 0, start = 0, i;
	int n = nq ? atoi(nq) : 0, limit;
	enum regproxy_link link;

	forward(p, "GET", up, rq, rs);
	if (rs->status != 200)
		goto out;
	j = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
	arr = json_object_get(j, "tags");
	tags = xcalloc(json_array_size(arr) + 1, sizeof(*tags));
	for (i = 0; i < json_array_size(arr); i++)
		if (json_is_string(json_array_get(arr, i)))
			tags[ntags++] = (char *)json_string_value(json_array_get(arr, i));
	/* pages in lexical order, as the distribution spec has it */
	qsort(tags, ntags, sizeof(*tags), cmp_str);
	while (last && start < ntags && strcmp(tags[start], last) <= 0)
		start++;
	limit = p->page_cap;
	if (n > 0 && n < limit)
		limit = n;
	out = json_pack("{s:s, s:[]}", "name", name, "tags");
	for (i = start; i < ntags && (int)(i - start) < limit; i++)
		json_array_append_new(json_object_get(out, "tags"), json_string(tags[i]));
	pthread_mutex_lock(&p->mu);
	p->st.tags_pages++;
	link = p->link;
	pthread_mutex_unlock(&p->mu);
	rs->headers.len = 0;
	rs->headers.buf[0] = '\0';
	sb_adds(&rs->headers, "Content-Type: application/json; charset=utf-8\r\n");
	if (i < ntags) {
		int nn = n > 0 ? n : p->page_cap;
		switch (link) {
		case REGPROXY_LINK_RELATIVE:
			sb_addf(&rs->headers, "Link: </v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_ABSOLUTE:
			sb_addf(&rs->headers,
				"Link: <http://127.0.0.1:%d/v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				p->port, name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_FOREIGN:
			sb_addf(&rs->headers,
				"Link: <http://foreign.invalid:%d/v2/%s/tags/list?n=%d&last=%s>; rel=\"next\"\r\n",
				p->port, name, nn, tags[i - 1]);
			break;
		case REGPROXY_LINK_LOOP:
			sb_addf(&rs->headers, "Link: </v2/%s/tags/list?n=%d>; rel=\"next\"\r\n", name, nn);
			break;
		}
	}
	rs->body.len = 0;
	rs->body.buf[0] = '\0';
	{
		char *s = json_dumps(out, JSON_COMPACT);
		sb_adds(&rs->body, s);
		free(s);
	}
out:
	free(tags);
	json_decref(j);
	json_decref(out);
	free(up);
	free(nq);
	free(last);
}

static void serve_token(struct regproxy *p, const struct hf_request *rq, struct hf_response *rs)
{
	char *want = NULL, *service = hf_param(rq->query, "service");
	char *scope = hf_param(rq->query, "scope");
	bool ok = true;

	if (p->user) {
		want = hf_basic(p->user, p->password);
		ok = hf_header(rq, "authorization") && strcmp(hf_header(rq, "authorization"), want) == 0;
	}
	pthread_mutex_lock(&p->mu);
	p->st.token_requests++;
	snprintf(p->st.last_scope, sizeof(p->st.last_scope), "%s", scope ? scope : "");
	snprintf(p->st.last_service, sizeof(p->st.last_service), "%s", service ? service : "");
	if (!ok) {
		p->st.token_refused++;
		rs->status = 401;
		sb_adds(&rs->headers, "Content-Type: application/json\r\n");
		sb_adds(&rs->body, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}");
	} else {
		char *tok = xasprintf("tok-%d-%s", ++p->serial, "c2VjcmV0");
		json_t *o = json_object();
		char *s;

		json_object_set_new(o, p->access_token ? "access_token" : "token", json_string(tok));
		if (p->expires_in)
			json_object_set_new(o, "expires_in", json_integer(p->expires_in));
		if (p->ntokens == MAX_TOKENS) {
			free(p->tokens[0]);
			memmove(p->tokens, p->tokens + 1, (MAX_TOKENS - 1) * sizeof(p->tokens[0]));
			p->ntokens--;
		}
		p->tokens[p->ntokens++] = tok;
		s = json_dumps(o, JSON_COMPACT);
		rs->status = 200;
		sb_adds(&rs->headers, "Content-Type: application/json\r\n");
		sb_adds(&rs->body, s);
		free(s);
		json_decref(o);
	}
	pthread_mutex_unlock(&p->mu);
	free(want);
	free(service);
	free(scope);
}

static bool token_ok(struct regproxy *p, const char *authorization)
{
	bool ok = false;

	if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
		return false;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->ntokens && !ok; i++)
		ok = strcmp(p->tokens[i], authorization + 7) == 0;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static void handle(void *ud, const struct hf_request *rq, struct hf_response *rs)
{
	struct regproxy *p = ud;
	const char *path = rq->path, *authorization = hf_header(rq, "authorization");
	char *name = repo_of(path);
	size_t plen = strlen(path);

	pthread_mutex_lock(&p->mu);
	p->st.requests++;
	if (authorization)
		p->st.with_authorization++;
	pthread_mutex_unlock(&p->mu);
	if (strcmp(path, "/token") == 0) {
		serve_token(p, rq, rs);
		goto out;
	}
	if (p->bearer && strncmp(path, "/v2/", 4) == 0 && !token_ok(p, authorization)) {
		pthread_mutex_lock(&p->mu);
		p->st.unauthorized++;
		pthread_mutex_unlock(&p->mu);
		rs->status = 401;
		sb_adds(&rs->headers, "Content-Type: application/json; charset=utf-8\r\n");
		/* spelled as Go canonicalises it, like the real registry */
		sb_addf(&rs->headers, "Www-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			"service=\"test-registry\"", p->port);
		if (name)
			sb_addf(&rs->headers, ",scope=\"repository:%s:pull,push\"", name);
		sb_adds(&rs->headers, "\r\n");
		sb_adds(&rs->body, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}");
		goto out;
	}
	if (name && strcmp(rq->method, "GET") == 0 && strstr(path, "/blobs/sha256:")) {
		bool done = false;

		/* like a registry on object storage: the blob lives elsewhere */
		pthread_mutex_lock(&p->mu);
		if (p->blob_redirect) {
			p->st.redirected++;
			rs->status = 307;
			sb_addf(&rs->headers, "Location: %s%s\r\n", p->blob_redirect, rq->target);
			done = true;
		}
		pthread_mutex_unlock(&p->mu);
		if (done)
			goto out;
	}
	if (p->page_cap > 0 && name && plen > 10 && strcmp(path + plen - 10, "/tags/list") == 0 &&
	    strcmp(rq->method, "GET") == 0) {
		serve_tags(p, name, rq, rs);
		goto out;
	}
	forward(p, rq->method, rq->target, rq, rs);
	if (name && strcmp(rq->method, "PUT") == 0 && strstr(path, "/manifests/")) {
		pthread_mutex_lock(&p->mu);
		p->st.manifest_puts++;
		if (p->hold_puts > 0) {
			/* applied by the registry; the answer is held */
			p->hold_puts--;
			rs->delay_ms = p->hold_ms;
		}
		pthread_mutex_unlock(&p->mu);
	}
out:
	free(name);
}

void regproxy_hold_puts(struct regproxy *p, int count, long ms)
{
	pthread_mutex_lock(&p->mu);
	p->hold_puts = count;
	p->hold_ms = ms;
	pthread_mutex_unlock(&p->mu);
}

/* ---- life cycle -------------------------------------------------------------- */

struct regproxy *regproxy_start(const struct regproxy_opts *o)
{
	struct regproxy *p = xcalloc(1, sizeof(*p));

	p->upstream = xstrdup(o->upstream);
	p->user = xstrdup(o->user);
	p->password = xstrdup(o->password);
	p->bearer = o->bearer;
	p->page_cap = o->page_cap;
	p->link = o->link;
	p->expires_in = o->expires_in;
	p->access_token = o->access_token;
	pthread_mutex_init(&p->mu, NULL);
	p->front = http_front_start(handle, p);
	if (!p->front)
		goto fail;
	/* no request comes before the caller knows the port */
	p->port = http_front_port(p->front);
	return p;
fail:
	free(p->upstream);
	free(p->user);
	free(p->password);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return NULL;
}

int regproxy_port(const struct regproxy *p)
{
	return p->port;
}

void regproxy_stats(struct regproxy *p, struct regproxy_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_link(struct regproxy *p, enum regproxy_link link)
{
	pthread_mutex_lock(&p->mu);
	p->link = link;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_token_reply(struct regproxy *p, int expires_in, bool access_token)
{
	pthread_mutex_lock(&p->mu);
	p->expires_in = expires_in;
	p->access_token = access_token;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_set_blob_redirect(struct regproxy *p, const char *base)
{
	pthread_mutex_lock(&p->mu);
	free(p->blob_redirect);
	p->blob_redirect = xstrdup(base);
	pthread_mutex_unlock(&p->mu);
}

void regproxy_revoke_tokens(struct regproxy *p)
{
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->ntokens; i++)
		free(p->tokens[i]);
	p->ntokens = 0;
	pthread_mutex_unlock(&p->mu);
}

void regproxy_stop(struct regproxy *p)
{
	if (!p)
		return;
	http_front_stop(p->front);
	regproxy_revoke_tokens(p);
	free(p->blob_redirect);
	free(p->upstream);
	free(p->user);
	free(p->password);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
