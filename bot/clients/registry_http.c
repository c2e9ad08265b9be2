/*
 * The real OCI distribution (Docker Registry HTTP API v2) client behind
 * registry_new_ex() (see registry.h for the contract; registry.c holds the
 * entry points that dispatch to it): the protocol only. Every request goes
 * through one HTTP client of bot/clients/http.h named "registry" (kept-alive
 * connections, timeouts, TLS, Retry-After, retries, logs without secrets,
 * the sentence for a failed exchange). The credentials a request carries
 * are registry_auth.c's; registry_real.h is what the two files share.
 *
 * Batches (registry_head_manifests, registry_images_created) run their
 * requests at once through the layer (registry_send_authed_batch() says in
 * which order credentials are met).
 *
 * Logs carry the operation, repository, reference and HTTP status, never a
 * header.
 *
 * Registry behaviour this relies on (docker distribution 2.8.2, observed):
 * a GET of a manifest must carry Accept with every manifest type we can take
 * (no Accept gives 400 MANIFEST_INVALID for schema2, a missing OCI type gives
 * 404 for OCI), tags/list may ignore n/last and return everything in one page,
 * header names come in Go's canonical case (Www-Authenticate).
 */
#include "bot/clients/registry.h"
#include "bot/clients/registry_impl.h"
#include "bot/clients/registry_real.h"
#include "bot/clients/http.h"
#include "bot/clients/oci.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_CONNECT_TIMEOUT_MS  5000L
#define DEF_TIMEOUT_MS          30000L
#define DEF_MAX_PAGES           1000
#define DEF_MAX_TAGS            1000000L
/* A Retry-After longer than this is not waited for: the user is waiting. */
#define MAX_RETRY_AFTER_MS      10000L
#define DEF_MAX_PARALLEL        8
#define PAGE_SIZE               100
#define MAX_MANIFEST_BYTES      ((size_t)4 << 20)
/* A registry that ignores n= (2.8.2 does) sends every tag in one page. */
#define MAX_TAGS_PAGE_BYTES     ((size_t)32 << 20)
#define MAX_ERROR_BODY_BYTES    ((size_t)64 << 10)
#define MAX_LINK_BYTES          65536
#define MAX_REDIRECTS           3

#define ACCEPT_MANIFESTS \
	OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " OCI_MT_DOCKER_LIST ", " OCI_MT_DOCKER_MANIFEST

/* The answer headers the protocol reads. */
const char *const registry_keep_headers[] = {
	"content-type", "docker-content-digest", "location", "www-authenticate", "link", NULL,
};
const char *const registry_accept_json[] = { "Accept: application/json", NULL };
static const char *const accept_manifests[] = { "Accept: " ACCEPT_MANIFESTS, NULL };

enum kind { K_TAGS, K_MANIFEST, K_PUT, K_BLOB };

static const struct registry_ops real_ops;

/* ---- HTTP, through the layer ------------------------------------------------------ */

void registry_call_init(struct call *c)
{
	memset(c, 0, sizeof(*c));
	http_response_init(&c->rs);
	c->rq.keep = registry_keep_headers;
	c->rc = VIVA_OK;
}

void registry_call_release(struct call *c)
{
	http_response_release(&c->rs);
	free(c->err);
	free(c->url);
	free(c->ctype);
	memset(c, 0, sizeof(*c));
}

/* The exchange failed: keep its message (the layer's sentence, or ours). */
void registry_call_failed(struct call *c, int rc, const char *msg)
{
	c->rc = rc;
	free(c->err);
	c->err = xstrdup(msg && *msg ? msg : viva_strerror(rc));
}

/* The call's exchange as the operation's result: its message if it failed. */
static int call_rc(const struct call *c)
{
	return c->rc < 0 ? registry_fail(c->rc, "%s", c->err ? c->err : viva_strerror(c->rc)) : VIVA_OK;
}

/* Every Link value, joined with ", " (caller frees). */
static char *links_of(const struct http_response *rs)
{
	struct strbuf sb;

	sb_init(&sb);
	for (const char *v = http_header_get(rs, "link"); v; v = http_header_next(rs, "link", v)) {
		if (sb.len + strlen(v) + 2 > MAX_LINK_BYTES)
			break;
		if (sb.len)
			sb_adds(&sb, ", ");
		sb_adds(&sb, v);
	}
	return sb_detach(&sb);
}

/* Send c once through the layer (with its retries). VIVA_OK when an HTTP
 * answer is in c->rs, any status; otherwise the layer's sentence is the
 * message. */
int registry_exchange(struct registry_real *r, struct call *c)
{
	c->rc = http_do(r->http, &c->rq, &c->rs);
	if (c->rc < 0)
		registry_call_failed(c, c->rc, c->rs.error);
	return call_rc(c);
}

/* ---- registry errors ---------------------------------------------------------- */

/* The first {"errors":[{"code":..,"message":..}]} entry of an error body. */
static void error_code(const struct http_response *rs, char *code, size_t codesz, char *msg, size_t msgsz)
{
	json_t *j = NULL, *e;

	code[0] = msg[0] = '\0';
	if (rs->body.len == 0 || rs->body.len > MAX_ERROR_BODY_BYTES)
		return;
	j = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
	e = json_array_get(json_object_get(j, "errors"), 0);
	if (json_is_string(json_object_get(e, "code")))
		registry_shown(json_string_value(json_object_get(e, "code")), code, codesz, 40);
	if (json_is_string(json_object_get(e, "message")))
		registry_shown(json_string_value(json_object_get(e, "message")), msg, msgsz, 200);
	json_decref(j);
}

/* Map a non-success HTTP answer to a code and a message. */
static int http_error(struct registry_real *r, const struct http_response *rs, enum kind k,
		      const char *repo, const char *ref)
{
	char code[48], msg[208];
	char *what = NULL;
	bool digest = ref && registry_valid_digest(ref);
	int rc;

	error_code(rs, code, sizeof(code), msg, sizeof(msg));
	/* a mistyped tag is the user's error, not an incident */
	log_at(rs->status == 404 ? LOG_INFO : LOG_WARN, "registry error",
	       "op=%s repo=%s ref=%s status=%ld code=%s",
	       k == K_TAGS ? "tags" : k == K_PUT ? "put_manifest" : k == K_BLOB ? "blob" : "manifest",
	       repo, ref ? ref : "-", rs->status, code[0] ? code : "-");
	if (rs->status == 401) {
		rc = r->user ? registry_fail(VIVA_EAUTH, REGISTRY_MSG_CREDENTIALS)
			     : registry_fail(VIVA_EAUTH, REGISTRY_MSG_NO_CREDENTIALS);
		goto out;
	}
	if (rs->status == 403) {
		rc = registry_fail(VIVA_EAUTH, REGISTRY_MSG_CREDENTIALS " (access to %s denied)", repo);
		goto out;
	}
	if (rs->status == 404 && (strcmp(code, "NAME_UNKNOWN") == 0 || (!code[0] && k == K_TAGS))) {
		rc = registry_fail(VIVA_ENOENT, "repository %s not found in the registry", repo);
		goto out;
	}
	if (rs->status == 404 && (k == K_MANIFEST || k == K_PUT) &&
	    (strcmp(code, "MANIFEST_UNKNOWN") == 0 || !code[0])) {
		rc = digest ? registry_fail(VIVA_ENOENT, "manifest %s not found in %s", ref, repo)
			    : registry_fail(VIVA_ENOENT, "tag %s not found in %s", ref, repo);
		goto out;
	}
	if (rs->status == 404 && k == K_BLOB && (strcmp(code, "BLOB_UNKNOWN") == 0 || !code[0])) {
		rc = registry_fail(VIVA_ENOENT, "blob %s not found in %s", ref, repo);
		goto out;
	}
	if (rs->status == 429) {
		rc = registry_fail(VIVA_EBUSY, "the registry is rate limiting viva (HTTP 429); try again later");
		goto out;
	}
	switch (k) {
	case K_TAGS:     what = xasprintf("listing the tags of %s", repo); break;
	case K_MANIFEST: what = registry_ref_display(repo, ref); break;
	case K_PUT:      what = xasprintf("pushing %s:%s", repo, ref); break;
	case K_BLOB:     what = xasprintf("blob %s of %s", ref, repo); break;
	}
	if (code[0])
		rc = registry_fail(VIVA_EREMOTE, "the registry refused %s: HTTP %ld %s%s%s", what,
				   rs->status, code, msg[0] ? ": " : "", msg);
	else
		rc = registry_fail(VIVA_EREMOTE, "the registry answered HTTP %ld to %s", rs->status, what);
out:
	free(what);
	return rc;
}

/* ---- URLs ------------------------------------------------------------------------ */

static bool url_chars_ok(const char *u)
{
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f || *u == '#')
			return false;
	return true;
}

/* Resolve a Link or Location target against the registry: a path ("/v2/...")
 * or an absolute URL. same_origin: refuse other hosts. NULL if unusable. */
static char *resolve(struct registry_real *r, const char *target, bool same_origin)
{
	size_t n = strlen(r->origin);

	if (!target || !*target || !url_chars_ok(target))
		return NULL;
	if (target[0] == '/' && target[1] != '/')
		return xasprintf("%s%s", r->origin, target);
	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return NULL;
	if (same_origin && !(strncasecmp(target, r->origin, n) == 0 &&
			     (target[n] == '/' || target[n] == '?' || target[n] == '\0')))
		return NULL;
	return xstrdup(target);
}

static bool same_origin(struct registry_real *r, const char *url)
{
	char *u = resolve(r, url, true);
	bool ok = u != NULL;

	free(u);
	return ok;
}

/* scheme://authority of an http(s) URL (caller frees), or NULL. */
char *registry_origin_of(const char *url)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p)
		return NULL;
	p += 3;
	n = strcspn(p, "/?#");
	return xstrndup(url, (size_t)(p - url) + n);
}

/* The rel="next" target of a Link header value (caller frees), or NULL. */
static char *link_next(const char *v)
{
	const char *p = v;

	while (p && *p) {
		const char *u, *ue;
		bool next = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p != '<')
			return NULL;
		u = ++p;
		ue = strchr(u, '>');
		if (!ue)
			return NULL;
		p = ue + 1;
		/* params up to the next ',' outside quotes */
		while (*p && *p != ',') {
			const char *name;
			size_t nlen;

			while (*p == ' ' || *p == '\t' || *p == ';')
				p++;
			name = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
				p++;
			nlen = (size_t)(p - name);
			while (*p == ' ')
				p++;
			if (*p != '=')
				continue;
			p++;
			while (*p == ' ')
				p++;
			{
				const char *vs, *ve;
				if (*p == '"') {
					vs = ++p;
					while (*p && *p != '"')
						p++;
					ve = p;
					if (*p == '"')
						p++;
				} else {
					vs = p;
					while (*p && *p != ';' && *p != ',' && *p != ' ')
						p++;
					ve = p;
				}
				if (nlen == 3 && strncasecmp(name, "rel", 3) == 0) {
					/* rel may list several space-separated relations */
					const char *q = vs;
					while (q < ve) {
						const char *w = q;
						while (q < ve && *q != ' ')
							q++;
						if (q - w == 4 && strncasecmp(w, "next", 4) == 0)
							next = true;
						while (q < ve && *q == ' ')
							q++;
					}
				}
			}
		}
		if (next)
			return xstrndup(u, (size_t)(ue - u));
	}
	return NULL;
}

/* ---- the operations -------------------------------------------------------------- */

static int real_list_tags(struct registry *reg, const char *repo, char ***tags_out, size_t *n_out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct call c;
	char **tags = NULL, *url = NULL, *target = NULL, *next = NULL, *links = NULL;
	size_t n = 0, cap = 0, skipped = 0;
	json_t *j = NULL;
	int pages = 0, max_pages, rc = VIVA_OK;
	long max_tags;

	*tags_out = NULL;
	*n_out = 0;
	registry_call_init(&c);
	pthread_mutex_lock(&r->mu);
	max_pages = r->max_pages;
	max_tags = r->max_tags;
	pthread_mutex_unlock(&r->mu);
	if (!registry_valid_repo(repo)) {
		rc = registry_bad_repo(repo);
		goto out;
	}
	url = xasprintf("%s/v2/%s/tags/list?n=%d", r->url, repo, PAGE_SIZE);
	c.rq = (struct http_request){ .op = "tags", .method = "GET", .headers = registry_accept_json,
				      .max_body = MAX_TAGS_PAGE_BYTES, .keep = registry_keep_headers };
	for (;;) {
		json_t *arr, *v;
		size_t i;

		if (pages >= max_pages) {
			rc = registry_fail(VIVA_ERANGE, "%s has more than %d pages of tags; viva stopped reading",
					   repo, max_pages);
			goto out;
		}
		pages++;
		c.rq.url = url;
		c.rc = VIVA_OK;
		rc = registry_send_authed(r, repo, false, &c);
		if (rc != VIVA_OK)
			goto out;
		if (c.rs.status != 200) {
			rc = http_error(r, &c.rs, K_TAGS, repo, NULL);
			goto out;
		}
		json_decref(j);
		j = json_loadb(c.rs.body.buf, c.rs.body.len, 0, NULL);
		arr = json_object_get(j, "tags");
		if (!json_is_object(j) || !(json_is_array(arr) || json_is_null(arr) || !arr)) {
			rc = registry_fail(VIVA_EREMOTE, "the registry sent a malformed tag list for %s", repo);
			goto out;
		}
		json_array_foreach(arr, i, v) {
			const char *t = json_string_value(v);
			if (!registry_valid_tag(t)) {
				/* never pass a name we could not put in a URL or a message */
				skipped++;
				continue;
			}
			if ((long)n >= max_tags) {
				rc = registry_fail(VIVA_ERANGE, "%s has more than %ld tags; viva stopped reading",
						   repo, max_tags);
				goto out;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				tags = xrealloc(tags, cap * sizeof(*tags));
			}
			tags[n++] = xstrdup(t);
		}
		free(target);
		free(links);
		links = links_of(&c.rs);
		target = link_next(links);
		if (!target)
			break;
		free(next);
		next = resolve(r, target, true);
		if (!next) {
			char b[120];
			log_warn("registry bad link", "repo=%s", repo);
			rc = registry_fail(VIVA_EREMOTE,
					   "the registry sent a next-page link viva does not follow (%s)",
					   registry_shown(target, b, sizeof(b), 100));
			goto out;
		}
		if (strcmp(next, url) == 0) {
			rc = registry_fail(VIVA_EREMOTE, "the registry's tag pages for %s loop", repo);
			goto out;
		}
		free(url);
		url = next;
		next = NULL;
	}
	if (skipped)
		log_warn("registry tags skipped", "repo=%s count=%zu reason=invalid_name", repo, skipped);
	*tags_out = tags;
	*n_out = n;
	tags = NULL;
	n = 0;
out:
	registry_tags_free(tags, n);
	json_decref(j);
	registry_call_release(&c);
	free(url);
	free(next);
	free(target);
	free(links);
	return rc;
}

/* A media type without parameters ("application/json; charset=utf-8" -> "application/json"). */
static char *bare_media_type(const char *ct)
{
	size_t n;

	if (!ct)
		return NULL;
	n = strcspn(ct, "; \t");
	return n ? xstrndup(ct, n) : NULL;
}

/* GET (or HEAD) of a manifest, by tag or digest. */
static void manifest_call(struct registry_real *r, const char *repo, const char *ref, bool head, struct call *c)
{
	c->url = xasprintf("%s/v2/%s/manifests/%s", r->url, repo, ref);
	c->rq.op = head ? "head_manifest" : "manifest";
	c->rq.method = head ? "HEAD" : "GET";
	c->rq.url = c->url;
	c->rq.headers = accept_manifests;
	c->rq.max_body = head ? MAX_ERROR_BODY_BYTES : MAX_MANIFEST_BYTES;
}

static int manifest_result(struct registry_real *r, const char *repo, const char *ref, struct call *c,
			   struct registry_manifest *out)
{
	const struct http_response *rs = &c->rs;
	const char *digest = http_header_get(rs, "docker-content-digest");
	char computed[72];
	char *mt = NULL, *disp = registry_ref_display(repo, ref);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = call_rc(c);
	if (rc != VIVA_OK)
		goto out;
	if (rs->status != 200) {
		rc = http_error(r, rs, K_MANIFEST, repo, ref);
		goto out;
	}
	if (rs->body.len == 0) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent an empty manifest for %s", disp);
		goto out;
	}
	registry_digest_of(rs->body.buf, rs->body.len, computed);
	if (digest && !registry_valid_digest(digest)) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent a malformed digest for %s", disp);
		goto out;
	}
	/* Content addressing: what we hold must be what the digest names. */
	if ((digest && strncmp(digest, "sha256:", 7) == 0 && strcmp(digest, computed) != 0) ||
	    (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, computed) != 0)) {
		rc = registry_fail(VIVA_EREMOTE, "the manifest of %s does not match its digest", disp);
		goto out;
	}
	mt = bare_media_type(http_header_get(rs, "content-type"));
	if (!mt || strcmp(mt, "application/json") == 0 || strcmp(mt, "text/plain") == 0) {
		/* no useful Content-Type: the manifest names its own type */
		j = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
		if (json_is_string(json_object_get(j, "mediaType"))) {
			free(mt);
			mt = xstrdup(json_string_value(json_object_get(j, "mediaType")));
		}
	}
	if (!oci_valid_media_type(mt)) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent no usable media type for %s", disp);
		goto out;
	}
	out->media_type = mt;
	mt = NULL;
	out->digest = xstrdup(digest ? digest : computed);
	out->len = c->rs.body.len;
	out->data = (unsigned char *)sb_detach(&c->rs.body);
out:
	json_decref(j);
	free(mt);
	free(disp);
	return rc;
}

static int head_result(struct registry_real *r, const char *repo, const char *ref, struct call *c,
		       char **digest_out)
{
	const char *digest = http_header_get(&c->rs, "docker-content-digest");
	int rc = call_rc(c);

	*digest_out = NULL;
	if (rc != VIVA_OK)
		return rc;
	if (c->rs.status != 200)
		return http_error(r, &c->rs, K_MANIFEST, repo, ref);
	if (!digest || !registry_valid_digest(digest))
		return registry_fail(VIVA_EREMOTE, "the registry sent no Docker-Content-Digest for %s:%s", repo, ref);
	*digest_out = xstrdup(digest);
	return VIVA_OK;
}

static void blob_call(struct registry_real *r, const char *repo, const char *digest, size_t max, struct call *c)
{
	c->url = xasprintf("%s/v2/%s/blobs/%s", r->url, repo, digest);
	c->rq.op = "blob";
	c->rq.method = "GET";
	c->rq.url = c->url;
	c->rq.max_body = max ? max : REGISTRY_MAX_BLOB_BYTES;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/*
 * The blob from the first answer in c: registries on object storage
 * redirect blobs to a signed URL, so follow a few hops, with credentials
 * only while on the registry's own origin. Then check the digest.
 */
static int blob_finish(struct registry_real *r, const char *repo, const char *digest, struct call *c,
		       char **data, size_t *len)
{
	char computed[72];
	char *peer = NULL;
	int rc = call_rc(c);

	*data = NULL;
	*len = 0;
	for (int hop = 0; rc == VIVA_OK && is_redirect(c->rs.status); hop++) {
		char *next;

		if (hop >= MAX_REDIRECTS) {
			rc = registry_fail(VIVA_EREMOTE, "the registry redirected blob %s of %s too often", digest, repo);
			goto out;
		}
		next = resolve(r, http_header_get(&c->rs, "location"), false);
		if (!next) {
			rc = registry_fail(VIVA_EREMOTE, "the registry redirected blob %s of %s to an unusable URL",
					   digest, repo);
			goto out;
		}
		free(c->url);
		c->url = next;
		c->rq.url = next;
		c->rc = VIVA_OK;
		if (same_origin(r, next)) {
			c->rq.peer = NULL;
			rc = registry_send_authed(r, repo, false, c);
		} else {
			char *o = registry_origin_of(next);
			free(peer);
			peer = xasprintf("the registry's blob storage at %s", o ? o : "(unknown)");
			free(o);
			c->rq.peer = peer;
			registry_set_credentials(r, &c->rq, NULL, true);
			rc = registry_exchange(r, c);
		}
	}
	if (rc != VIVA_OK)
		goto out;
	if (c->rs.status != 200) {
		rc = http_error(r, &c->rs, K_BLOB, repo, digest);
		goto out;
	}
	if (strncmp(digest, "sha256:", 7) == 0) {
		registry_digest_of(c->rs.body.buf, c->rs.body.len, computed);
		if (strcmp(computed, digest) != 0) {
			rc = registry_fail(VIVA_EREMOTE, "blob %s of %s does not match its digest", digest, repo);
			goto out;
		}
	}
	*len = c->rs.body.len;
	*data = sb_detach(&c->rs.body);
out:
	c->rq.peer = NULL;
	free(peer);
	return rc;
}

/* ---- items: one request each, sent together ------------------------------------------ */

enum call_kind { C_MANIFEST, C_BLOB };

/*
 * The real client's batches: one request per item, all sent together
 * (registry_send_authed_batch), each answer read as the single operation
 * reads it. Out: items[i].rc/error, and per kind: C_MANIFEST
 * items[i].digest and mout[i] (a HEAD for digest_only items: the digest
 * alone), C_BLOB data[i]/lens[i] (items[i].ref is the digest).
 */
static void real_many(struct registry *reg, const char *repo, enum call_kind k, struct registry_item *items,
		      size_t n, struct registry_manifest *mout, size_t max, char **data, size_t *lens)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct call *calls = n ? xcalloc(n, sizeof(*calls)) : NULL;
	size_t *idx = n ? xcalloc(n, sizeof(*idx)) : NULL, m = 0;

	for (size_t i = 0; i < n; i++) {
		const char *ref = items[i].ref;
		int rc = VIVA_OK;

		registry_item_start(&items[i]);
		if (mout)
			memset(&mout[i], 0, sizeof(mout[i]));
		if (data) {
			data[i] = NULL;
			lens[i] = 0;
		}
		if (!registry_valid_repo(repo))
			rc = registry_bad_repo(repo);
		else if (k == C_BLOB ? !registry_valid_digest(ref) : !oci_valid_ref(ref))
			rc = k == C_BLOB ? registry_bad_digest(ref) : registry_bad_ref(ref);
		if (rc < 0) {
			registry_item_fail(&items[i], rc);
			continue;
		}
		registry_call_init(&calls[m]);
		if (k == C_BLOB)
			blob_call(r, repo, ref, max, &calls[m]);
		else
			manifest_call(r, repo, ref, items[i].digest_only, &calls[m]);
		idx[m++] = i;
	}
	registry_send_authed_batch(r, repo, calls, m);
	for (size_t j = 0; j < m; j++) {
		struct registry_item *it = &items[idx[j]];
		int rc;

		registry_clear_error();
		if (k == C_BLOB) {
			rc = blob_finish(r, repo, it->ref, &calls[j], &data[idx[j]], &lens[idx[j]]);
		} else if (it->digest_only) {
			rc = head_result(r, repo, it->ref, &calls[j], &it->digest);
		} else {
			rc = manifest_result(r, repo, it->ref, &calls[j], &mout[idx[j]]);
			if (rc == VIVA_OK)
				it->digest = xstrdup(mout[idx[j]].digest);
		}
		if (rc < 0)
			registry_item_fail(it, rc);
		registry_call_release(&calls[j]);
	}
	free(calls);
	free(idx);
}

static void real_get_manifests(struct registry *reg, const char *repo, struct registry_item *items, size_t n,
			       struct registry_manifest *out)
{
	real_many(reg, repo, C_MANIFEST, items, n, out, 0, NULL, NULL);
}

static void real_get_blobs(struct registry *reg, const char *repo, struct registry_item *items, size_t n,
			   size_t max, char **data, size_t *lens)
{
	real_many(reg, repo, C_BLOB, items, n, NULL, max, data, lens);
}

/* The single operations are batches of one. */
static int real_get_manifest(struct registry *reg, const char *repo, const char *ref,
			     struct registry_manifest *out)
{
	struct registry_item it = { .ref = ref };
	int rc;

	real_get_manifests(reg, repo, &it, 1, out);
	rc = registry_item_rc(&it);
	registry_items_release(&it, 1);
	return rc;
}

static int real_head_manifest(struct registry *reg, const char *repo, const char *ref, char **digest_out)
{
	struct registry_item it = { .ref = ref, .digest_only = true };
	int rc;

	real_get_manifests(reg, repo, &it, 1, NULL);
	rc = registry_item_rc(&it);
	*digest_out = it.digest;
	it.digest = NULL;
	registry_items_release(&it, 1);
	return rc;
}

static int real_get_blob(struct registry *reg, const char *repo, const char *digest,
			 char **data, size_t *len, size_t max)
{
	struct registry_item it = { .ref = digest };
	int rc;

	real_get_blobs(reg, repo, &it, 1, max, data, len);
	rc = registry_item_rc(&it);
	registry_items_release(&it, 1);
	return rc;
}

static int real_put_manifest(struct registry *reg, const char *repo, const char *tag,
			     const struct registry_manifest *m, char **digest_out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct call c;
	char computed[72];
	const char *digest;
	int rc;

	if (digest_out)
		*digest_out = NULL;
	registry_call_init(&c);
	if (!registry_valid_repo(repo)) {
		rc = registry_bad_repo(repo);
		goto out;
	}
	if (!registry_valid_tag(tag)) {
		rc = registry_bad_tag(tag);
		goto out;
	}
	if (!m || !m->data || m->len == 0 || m->len > MAX_MANIFEST_BYTES || !oci_valid_media_type(m->media_type)) {
		rc = registry_fail(VIVA_EINVAL, "no valid manifest to push to %s:%s", repo, tag);
		goto out;
	}
	registry_digest_of(m->data, m->len, computed);
	c.url = xasprintf("%s/v2/%s/manifests/%s", r->url, repo, tag);
	c.ctype = xasprintf("Content-Type: %s", m->media_type);
	c.hdrs[0] = c.ctype;
	c.rq.op = "put_manifest";
	c.rq.method = "PUT";
	c.rq.url = c.url;
	c.rq.headers = c.hdrs;
	c.rq.body = m->data;
	c.rq.body_len = m->len;
	c.rq.max_body = MAX_ERROR_BODY_BYTES;
	rc = registry_send_authed(r, repo, true, &c);
	if (rc != VIVA_OK)
		goto out;
	if (c.rs.status < 200 || c.rs.status > 299) {
		rc = http_error(r, &c.rs, K_PUT, repo, tag);
		goto out;
	}
	digest = http_header_get(&c.rs, "docker-content-digest");
	if (digest && (!registry_valid_digest(digest) ||
		       (strncmp(digest, "sha256:", 7) == 0 && strcmp(digest, computed) != 0))) {
		rc = registry_fail(VIVA_EREMOTE, "the registry stored %s:%s under an unexpected digest", repo, tag);
		goto out;
	}
	log_info("registry manifest pushed", "repo=%s tag=%s digest=%s", repo, tag, digest ? digest : computed);
	if (digest_out)
		*digest_out = xstrdup(digest ? digest : computed);
out:
	registry_call_release(&c);
	return rc;
}

static void real_free(struct registry *reg)
{
	struct registry_real *r = (struct registry_real *)reg;

	registry_auth_release(r);
	http_client_free(r->http);
	free(r->url);
	free(r->origin);
	free_secret(r->user);
	free_secret(r->password);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* GET /v2/ (viva doctor): the registry answers its API, and takes viva's credentials. */
static int real_ping(struct registry *reg)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct call c;
	char *url = xasprintf("%s/v2/", r->url);
	int rc;

	registry_call_init(&c);
	c.rq = (struct http_request){ .op = "ping", .method = "GET", .url = url, .headers = registry_accept_json,
				      .max_body = 64 * 1024, .keep = registry_keep_headers };
	rc = registry_send_authed(r, "", false, &c);
	if (rc != VIVA_OK)
		goto out;
	if (c.rs.status == 401)
		rc = r->user ? registry_fail(VIVA_EAUTH, REGISTRY_MSG_CREDENTIALS)
			     : registry_fail(VIVA_EAUTH, REGISTRY_MSG_NO_CREDENTIALS);
	else if (c.rs.status == 404)
		rc = registry_fail(VIVA_EREMOTE, "%s answered HTTP 404 to /v2/: no registry API there (is "
				   "REGISTRY_URL the registry's own address?)", r->url);
	else if (c.rs.status != 200)
		rc = registry_fail(c.rs.status >= 500 ? VIVA_EUNAVAIL : VIVA_EREMOTE,
				   "%s answered HTTP %ld to /v2/", r->url, c.rs.status);
out:
	registry_call_release(&c);
	free(url);
	return rc;
}

static const struct registry_ops real_ops = {
	.list_tags = real_list_tags,
	.get_manifest = real_get_manifest,
	.put_manifest = real_put_manifest,
	.head_manifest = real_head_manifest,
	.get_blob = real_get_blob,
	.free = real_free,
	.get_manifests = real_get_manifests,
	.get_blobs = real_get_blobs,
	.ping = real_ping,
};

/* The layer's limits for the registry's request limits. */
static struct http_limits http_limits_of(long connect_timeout_ms, long timeout_ms, int max_parallel)
{
	return (struct http_limits){
		.connect_timeout_ms = connect_timeout_ms,
		.timeout_ms = timeout_ms,
		/* every retry and wait of one request: two timeouts' worth */
		.deadline_ms = 2 * timeout_ms,
		.max_retries = -1,
		.max_retry_after_ms = MAX_RETRY_AFTER_MS,
		.max_parallel = max_parallel,
	};
}

struct registry *registry_new_ex(const struct registry_opts *o)
{
	struct http_client_opts ho = { .name = "registry", .tls_hint = "set REGISTRY_CA_FILE" };
	struct registry_real *r;
	const char *auth, *base_url = o ? o->url : NULL;
	struct http_client *http;
	size_t alen, n;
	char *url, *peer;

	if (!base_url || (strncasecmp(base_url, "http://", 7) != 0 &&
			  strncasecmp(base_url, "https://", 8) != 0) || !url_chars_ok(base_url)) {
		log_error("registry url invalid", "reason=%s", "expected an http:// or https:// URL");
		return NULL;
	}
	auth = strstr(base_url, "://") + 3;
	alen = strcspn(auth, "/?#");
	if (alen == 0 || memchr(auth, '@', alen)) {
		/* never log the URL: it may hold a password */
		log_error("registry url invalid", "reason=%s",
			  alen ? "credentials belong in REGISTRY_USER/REGISTRY_PASSWORD" : "no host");
		return NULL;
	}
	if (auth[alen] == '?') {
		log_error("registry url invalid", "reason=%s", "query not allowed");
		return NULL;
	}
	url = xstrndup(base_url, (size_t)(auth - base_url) + alen + strcspn(auth + alen, "?#"));
	n = strlen(url);
	while (n > (size_t)(auth - base_url) + alen && url[n - 1] == '/')
		url[--n] = '\0';
	if (n >= 3 && strcmp(url + n - 3, "/v2") == 0 && n - 3 >= (size_t)(auth - base_url) + alen) {
		n -= 3;
		url[n] = '\0';
		while (n > (size_t)(auth - base_url) + alen && url[n - 1] == '/')
			url[--n] = '\0';
	}
	peer = xasprintf("the registry at %s", url);
	ho.peer = peer;
	ho.base_url = url;
	ho.limits = http_limits_of(DEF_CONNECT_TIMEOUT_MS, DEF_TIMEOUT_MS,
				   o->max_parallel > 0 ? o->max_parallel : DEF_MAX_PARALLEL);
	ho.pool_size = 4;
	ho.max_callers = o->max_concurrent > 0 ? o->max_concurrent : 0;
	ho.tls = (struct http_tls){ .ca_file = o->ca_file, .ca_pem = o->ca_pem, .cert_file = o->cert_file,
				    .cert_pem = o->cert_pem, .key_file = o->key_file, .key_pem = o->key_pem,
				    .insecure = o->insecure };
	http = http_client_new(&ho);
	free(peer);
	if (!http) {
		free(url);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->base.ops = &real_ops;
	r->url = url;
	r->origin = xstrndup(base_url, (size_t)(auth - base_url) + alen);
	r->http = http;
	if (o->user && *o->user) {
		r->user = xstrdup(o->user);
		r->password = xstrdup(o->password ? o->password : "");
	}
	pthread_mutex_init(&r->mu, NULL);
	r->max_pages = DEF_MAX_PAGES;
	r->max_tags = DEF_MAX_TAGS;
	return &r->base;
}

struct registry *registry_new(const char *base_url, const char *user, const char *password)
{
	struct registry_opts o = { .url = base_url, .user = user, .password = password };

	return registry_new_ex(&o);
}

void registry_set_limits(struct registry *reg, const struct registry_limits *lim)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct http_limits hl;

	if (!reg || reg->ops != &real_ops || !lim)
		return;
	hl = http_client_limits(r->http);
	hl = http_limits_of(lim->connect_timeout_ms > 0 ? lim->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS,
			    lim->timeout_ms > 0 ? lim->timeout_ms : DEF_TIMEOUT_MS, hl.max_parallel);
	http_client_set_limits(r->http, &hl);
	pthread_mutex_lock(&r->mu);
	r->max_pages = lim->max_pages > 0 ? lim->max_pages : DEF_MAX_PAGES;
	r->max_tags = lim->max_tags > 0 ? lim->max_tags : DEF_MAX_TAGS;
	pthread_mutex_unlock(&r->mu);
}
