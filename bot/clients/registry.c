/*
 * The registry client as handlers see it (see registry.h for the contract):
 * the entry points, which check their arguments and dispatch to the
 * struct registry_ops of the registry at hand (the real client, or a test's
 * fake); the batches, with a fallback for a fake that has only the single
 * operations; what is built on the operations (promote, image build times);
 * and the per-thread message of registry_last_error().
 *
 * The client's files:
 *   registry.c       this
 *   oci.c            what the OCI spec defines, no network: names, digests,
 *                    media types, tag order, times (oci.h)
 *   registry_http.c  the real client: requests through bot/clients/http.h,
 *                    the registry's error answers, URLs, the operations and
 *                    their batches, registry_new_ex()
 *   registry_auth.c  the real client's credentials: Basic, bearer
 *                    challenges, the token cache
 *   registry_impl.h  what this file shares with the real client (internal)
 *   registry_real.h  what registry_http.c and registry_auth.c share (internal)
 */
#include "bot/clients/registry.h"
#include "bot/clients/registry_impl.h"
#include "bot/clients/oci.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors -------------------------------------------------------------- */

static _Thread_local char last_err[640];

const char *registry_last_error(void)
{
	return last_err;
}

int registry_fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	return rc;
}

void registry_clear_error(void)
{
	last_err[0] = '\0';
}

/* A wrapper's backstop: a fake that failed without a message still gets one. */
static int ensure_message(int rc)
{
	if (rc < 0 && !last_err[0])
		registry_fail(rc, "registry call failed: %s", viva_strerror(rc));
	return rc;
}

/* User or remote text for a message (text_shown), "(none)" for NULL. */
const char *registry_shown(const char *s, char *buf, size_t bufsz, size_t max)
{
	return text_shown(s ? s : "(none)", buf, bufsz, max);
}
/* ---- names, in messages ------------------------------------------------------ */

/* Messages for names refused before any request. */
int registry_bad_repo(const char *repo)
{
	char b[80];

	return registry_fail(VIVA_EINVAL,
			     "invalid repository name \"%s\" (expected lower-case path components such as team/service-a)",
			     registry_shown(repo, b, sizeof(b), 64));
}

int registry_bad_tag(const char *tag)
{
	char b[80];

	return registry_fail(VIVA_EINVAL,
			     "invalid tag \"%s\" (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')",
			     registry_shown(tag, b, sizeof(b), 64));
}

int registry_bad_ref(const char *ref)
{
	char b[80];

	return registry_fail(VIVA_EINVAL, "invalid tag or digest \"%s\"", registry_shown(ref, b, sizeof(b), 64));
}

int registry_bad_digest(const char *d)
{
	char b[80];

	return registry_fail(VIVA_EINVAL, "invalid digest \"%s\" (expected sha256:<64 hex digits>)",
			     registry_shown(d, b, sizeof(b), 64));
}

/* "team/x:tag" or "team/x@sha256:..." for messages. */
char *registry_ref_display(const char *repo, const char *ref)
{
	return xasprintf("%s%c%s", repo, registry_valid_digest(ref) ? '@' : ':', ref);
}

/* ---- what the calls hand out --------------------------------------------------- */

void registry_tags_free(char **tags, size_t n)
{
	if (!tags)
		return;
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
}

void registry_manifest_release(struct registry_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	free(m->digest);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* ---- items ---------------------------------------------------------------------- */

void registry_item_start(struct registry_item *it)
{
	it->rc = VIVA_OK;
	it->digest = NULL;
	it->created = 0;
	it->error = NULL;
}

/* The item failed with rc; its message is the thread's last one. */
void registry_item_fail(struct registry_item *it, int rc)
{
	it->rc = rc;
	free(it->error);
	it->error = xstrdup(last_err[0] ? last_err : viva_strerror(rc));
}

/* A sub-request's outcome becomes the item's (its message, and its digest
 * when the item has none yet); src keeps nothing of it. */
static void item_take(struct registry_item *dst, struct registry_item *src)
{
	dst->rc = src->rc;
	free(dst->error);
	dst->error = src->error;
	src->error = NULL;
	if (!dst->digest) {
		dst->digest = src->digest;
		src->digest = NULL;
	}
}

/* An item's outcome as a call's result (its message in registry_last_error()). */
int registry_item_rc(const struct registry_item *it)
{
	return it->rc < 0 ? registry_fail(it->rc, "%s", it->error ? it->error : viva_strerror(it->rc)) : VIVA_OK;
}

void registry_items_release(struct registry_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		free(items[i].digest);
		free(items[i].error);
		items[i].digest = items[i].error = NULL;
	}
}

/* ---- the public entry points (they dispatch, so fakes work too) ---------- */

void registry_free(struct registry *r)
{
	if (r && r->ops && r->ops->free)
		r->ops->free(r);
}

/* A NULL registry (none configured) or a fake without this operation. */
static int no_registry(void)
{
	return registry_fail(VIVA_EUNAVAIL, "no registry is configured (set REGISTRY_URL)");
}

int registry_list_tags(struct registry *r, const char *repo, char ***tags, size_t *n)
{
	int rc;

	registry_clear_error();
	if (!tags || !n)
		return registry_fail(VIVA_EINVAL, "registry_list_tags: no output");
	*tags = NULL;
	*n = 0;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!r || !r->ops || !r->ops->list_tags)
		return no_registry();
	rc = r->ops->list_tags(r, repo, tags, n);
	if (rc < 0) {
		registry_tags_free(*tags, *n);
		*tags = NULL;
		*n = 0;
		return ensure_message(rc);
	}
	registry_sort_tags(*tags, *n);
	return VIVA_OK;
}

int registry_get_manifest(struct registry *r, const char *repo, const char *ref,
			  struct registry_manifest *out)
{
	int rc;

	registry_clear_error();
	if (!out)
		return registry_fail(VIVA_EINVAL, "registry_get_manifest: no output");
	memset(out, 0, sizeof(*out));
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!oci_valid_ref(ref))
		return registry_bad_ref(ref);
	if (!r || !r->ops || !r->ops->get_manifest)
		return no_registry();
	rc = r->ops->get_manifest(r, repo, ref, out);
	if (rc < 0)
		registry_manifest_release(out);
	return ensure_message(rc);
}

int registry_put_manifest(struct registry *r, const char *repo, const char *tag,
			  const struct registry_manifest *m, char **digest_out)
{
	int rc;

	registry_clear_error();
	if (digest_out)
		*digest_out = NULL;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!registry_valid_tag(tag))
		return registry_bad_tag(tag);
	if (!m || !m->data || !m->len)
		return registry_fail(VIVA_EINVAL, "no manifest to push to %s:%s", repo, tag);
	if (!r || !r->ops || !r->ops->put_manifest)
		return no_registry();
	rc = r->ops->put_manifest(r, repo, tag, m, digest_out);
	if (rc < 0 && digest_out) {
		free(*digest_out);
		*digest_out = NULL;
	}
	return ensure_message(rc);
}

int registry_ping(struct registry *r)
{
	registry_clear_error();
	if (!r || !r->ops || !r->ops->ping)
		return no_registry();
	return r->ops->ping(r);
}

int registry_head_manifest(struct registry *r, const char *repo, const char *ref, char **digest_out)
{
	int rc;

	registry_clear_error();
	if (!digest_out)
		return registry_fail(VIVA_EINVAL, "registry_head_manifest: no output");
	*digest_out = NULL;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!oci_valid_ref(ref))
		return registry_bad_ref(ref);
	if (!r || !r->ops || !r->ops->head_manifest)
		return no_registry();
	rc = r->ops->head_manifest(r, repo, ref, digest_out);
	if (rc < 0) {
		free(*digest_out);
		*digest_out = NULL;
	}
	return ensure_message(rc);
}

int registry_get_blob(struct registry *r, const char *repo, const char *digest,
		      char **data, size_t *len, size_t max)
{
	int rc;

	registry_clear_error();
	if (!data || !len)
		return registry_fail(VIVA_EINVAL, "registry_get_blob: no output");
	*data = NULL;
	*len = 0;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!registry_valid_digest(digest))
		return registry_bad_digest(digest);
	if (!r || !r->ops || !r->ops->get_blob)
		return no_registry();
	rc = r->ops->get_blob(r, repo, digest, data, len, max);
	if (rc < 0) {
		free(*data);
		*data = NULL;
		*len = 0;
	}
	return ensure_message(rc);
}

/* ---- batches (the real client sends them at once; fakes one by one) ------- */

/* The first failed item's code and message, or VIVA_OK. */
static int items_outcome(struct registry_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].rc < 0) {
			if (!items[i].error)
				items[i].error = xasprintf("registry call failed: %s", viva_strerror(items[i].rc));
			return registry_item_rc(&items[i]);
		}
	registry_clear_error();
	return VIVA_OK;
}

/* Checks common to the batch wrappers: false when every item failed already. */
static bool items_begin(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			bool (*has_op)(const struct registry_ops *))
{
	int rc = VIVA_OK;

	registry_clear_error();
	for (size_t i = 0; i < n; i++)
		registry_item_start(&items[i]);
	if (!registry_valid_repo(repo))
		rc = registry_bad_repo(repo);
	else if (!r || !r->ops || !has_op(r->ops))
		rc = no_registry();
	if (rc == VIVA_OK)
		return true;
	for (size_t i = 0; i < n; i++)
		registry_item_fail(&items[i], rc);
	return false;
}

static bool has_get(const struct registry_ops *o) { return o->get_manifest || o->get_manifests; }
static bool has_blob(const struct registry_ops *o) { return o->get_blob || o->get_blobs; }

/* get_manifests with the fallback (out[i] is the caller's to release): a
 * manifest and its digest per item, or the digest alone (digest_only). */
static void many_get_manifests(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			       struct registry_manifest *out)
{
	memset(out, 0, n * sizeof(*out));
	if (!items_begin(r, repo, items, n, has_get))
		return;
	if (r->ops->get_manifests) {
		r->ops->get_manifests(r, repo, items, n, out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].digest_only) {
			items[i].rc = registry_head_manifest(r, repo, items[i].ref, &items[i].digest);
		} else {
			items[i].rc = registry_get_manifest(r, repo, items[i].ref, &out[i]);
			if (items[i].rc == VIVA_OK)
				items[i].digest = xstrdup(out[i].digest);
		}
		if (items[i].rc < 0)
			registry_item_fail(&items[i], items[i].rc);
	}
}

int registry_head_manifests(struct registry *r, const char *repo, struct registry_item *items, size_t n)
{
	struct registry_manifest *none;

	if (!items && n)
		return registry_fail(VIVA_EINVAL, "registry_head_manifests: no items");
	none = xcalloc(n ? n : 1, sizeof(*none));
	for (size_t i = 0; i < n; i++)
		items[i].digest_only = true;
	many_get_manifests(r, repo, items, n, none);
	free(none);
	return items_outcome(items, n);
}

static void many_get_blobs(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			   size_t max, char **data, size_t *lens)
{
	memset(data, 0, n * sizeof(*data));
	memset(lens, 0, n * sizeof(*lens));
	if (!items_begin(r, repo, items, n, has_blob))
		return;
	if (r->ops->get_blobs) {
		r->ops->get_blobs(r, repo, items, n, max, data, lens);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].rc = registry_get_blob(r, repo, items[i].ref, &data[i], &lens[i], max);
		if (items[i].rc < 0)
			registry_item_fail(&items[i], items[i].rc);
	}
}

/* ---- built on the operations ------------------------------------------------ */

int registry_promote(struct registry *r, const char *repo, const char *tag, const char *target,
		     char **digest_before, char **digest_after)
{
	struct registry_manifest m = { 0 };
	char *put = NULL, *head = NULL;
	int rc;

	registry_clear_error();
	if (digest_before)
		*digest_before = NULL;
	if (digest_after)
		*digest_after = NULL;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!registry_valid_tag(tag))
		return registry_bad_tag(tag);
	if (!registry_valid_tag(target))
		return registry_bad_tag(target);
	rc = registry_get_manifest(r, repo, tag, &m);
	if (rc != VIVA_OK)
		goto out;
	rc = registry_put_manifest(r, repo, target, &m, &put);
	if (rc != VIVA_OK)
		goto out;
	rc = registry_head_manifest(r, repo, target, &head);
	if (rc != VIVA_OK)
		goto out;
	if (strcmp(head, m.digest) != 0 || (put && strcmp(put, m.digest) != 0)) {
		log_warn("registry promote conflict", "repo=%s tag=%s target=%s source=%s target_digest=%s",
			 repo, tag, target, m.digest, head);
		rc = registry_fail(VIVA_ECONFLICT,
				   "%s:%s now points at %s, not at %s (the digest of %s); someone may have pushed %s at the same time",
				   repo, target, head, m.digest, tag, target);
	} else {
		log_info("registry image promoted", "repo=%s tag=%s target=%s digest=%s", repo, tag,
			 target, m.digest);
	}
	if (digest_before) {
		*digest_before = m.digest;
		m.digest = NULL;
	}
	if (digest_after) {
		*digest_after = head;
		head = NULL;
	}
out:
	registry_manifest_release(&m);
	free(put);
	free(head);
	return rc;
}

static bool is_index(const struct registry_manifest *m, json_t *j)
{
	if (oci_is_index_type(m->media_type))
		return true;
	return json_is_array(json_object_get(j, "manifests")) && !json_object_get(j, "config");
}

/* The digest of the index entry to use: the first linux/amd64, else the first. */
static const char *pick_entry(json_t *index)
{
	json_t *arr = json_object_get(index, "manifests"), *e;
	const char *first = NULL;
	size_t i;

	json_array_foreach(arr, i, e) {
		const char *d = json_string_value(json_object_get(e, "digest"));
		json_t *pf = json_object_get(e, "platform");
		const char *os = json_string_value(json_object_get(pf, "os"));
		const char *arch = json_string_value(json_object_get(pf, "architecture"));

		if (!registry_valid_digest(d))
			continue;
		if (!first)
			first = d;
		if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0)
			return d;
	}
	return first;
}

/*
 * What an image manifest (not an index) names as its config blob, or a
 * failure for it. j is the parsed manifest, disp its name for messages.
 */
static int config_digest_of(json_t *j, const char *disp, const char **cdigest)
{
	*cdigest = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
	if (!registry_valid_digest(*cdigest))
		return registry_fail(VIVA_EREMOTE, "the manifest of %s names no config blob", disp);
	return VIVA_OK;
}

/* The build time in a config blob (0 when it has none we can read). */
static int created_of(const char *repo, const char *ref, const char *disp, const char *blob, size_t blen,
		      int64_t *created)
{
	json_t *cfg = json_loadb(blob, blen, 0, NULL);
	const char *when;
	int64_t t = 0;
	int rc = VIVA_OK;

	*created = 0;
	if (!json_is_object(cfg)) {
		rc = registry_fail(VIVA_EREMOTE, "the config of %s is not a JSON object", disp);
		goto out;
	}
	when = json_string_value(json_object_get(cfg, "created"));
	if (when && registry_parse_time(when, &t) != VIVA_OK) {
		char b[80];
		log_warn("registry created unparseable", "repo=%s ref=%s created=\"%s\"", repo, ref,
			 registry_shown(when, b, sizeof(b), 64));
		t = 0;
	}
	*created = t > 0 ? t : 0;
out:
	json_decref(cfg);
	return rc;
}

/*
 * Three rounds, each sent at once: the manifests of every ref; the image
 * manifests that indexes among them point at; the config blobs (each
 * distinct one once). An item fails at the first step that fails for it.
 */
int registry_images_created(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			    const struct registry_created_cache *cache)
{
	struct registry_manifest *top = NULL, *child = NULL;
	struct registry_item *sub = NULL;
	json_t **js = NULL;
	const char **cfg = NULL;
	char **disp = NULL, **blobs = NULL;
	size_t *lens = NULL, *at = NULL, m = 0;
	bool *done = NULL;

	if (!items && n)
		return registry_fail(VIVA_EINVAL, "registry_images_created: no items");
	if (n == 0)
		return items_outcome(items, n);
	top = xcalloc(n, sizeof(*top));
	child = xcalloc(n, sizeof(*child));
	sub = xcalloc(n, sizeof(*sub));
	js = xcalloc(n, sizeof(*js));
	cfg = xcalloc(n, sizeof(*cfg));
	disp = xcalloc(n, sizeof(*disp));
	blobs = xcalloc(n, sizeof(*blobs));
	lens = xcalloc(n, sizeof(*lens));
	at = xcalloc(n, sizeof(*at));
	done = xcalloc(n, sizeof(*done));

	for (size_t i = 0; i < n; i++) {
		registry_item_start(&items[i]);
		if (!oci_valid_ref(items[i].ref))
			registry_item_fail(&items[i], registry_bad_ref(items[i].ref));   /* alone: the others still go */
	}
	/*
	 * 0 (with a cache): what every ref points at, by HEAD, which a
	 * registry does not count as a pull (Docker Hub's rate limit, Harbor's
	 * "last pulled"); an image the cache knows is done then.
	 */
	if (cache && cache->get) {
		for (size_t i = 0; i < n; i++)
			if (items[i].rc == VIVA_OK) {
				sub[m] = (struct registry_item){ .ref = items[i].ref, .digest_only = true };
				at[m++] = i;
			}
		many_get_manifests(r, repo, sub, m, child);
		for (size_t k = 0; k < m; k++) {
			size_t i = at[k];

			item_take(&items[i], &sub[k]);
			if (items[i].rc == VIVA_OK &&
			    (items[i].digest_only || cache->get(cache->ud, items[i].digest, &items[i].created)))
				done[i] = true;
		}
		registry_items_release(sub, m);
		m = 0;
	}
	/* 1: the manifests still wanted (by digest when it is known), into child[] for now */
	for (size_t i = 0; i < n; i++)
		if (items[i].rc == VIVA_OK && !done[i]) {
			sub[m] = (struct registry_item){ .ref = items[i].digest ? items[i].digest : items[i].ref,
							 .digest_only = items[i].digest_only };
			at[m++] = i;
		}
	many_get_manifests(r, repo, sub, m, child);
	for (size_t k = 0; k < m; k++) {
		size_t i = at[k];

		item_take(&items[i], &sub[k]);
		top[i] = child[k];
		memset(&child[k], 0, sizeof(child[k]));
		if (items[i].rc == VIVA_OK && items[i].digest_only)
			done[i] = true;   /* only the digest was wanted */
	}
	registry_items_release(sub, m);
	for (size_t i = 0; i < n; i++) {
		if (items[i].rc < 0 || done[i])
			continue;
		disp[i] = registry_ref_display(repo, items[i].ref);
		js[i] = json_loadb((const char *)top[i].data, top[i].len, 0, NULL);
		registry_clear_error();
		if (!json_is_object(js[i]))
			registry_item_fail(&items[i], registry_fail(VIVA_EREMOTE, "the manifest of %s is not a JSON object", disp[i]));
	}
	/* 2: the image manifests that indexes point at */
	m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *d;

		if (items[i].rc < 0 || done[i] || !is_index(&top[i], js[i]))
			continue;
		d = pick_entry(js[i]);
		if (!d) {
			registry_clear_error();
			registry_item_fail(&items[i], registry_fail(VIVA_EREMOTE, "the index %s lists no image", disp[i]));
			continue;
		}
		sub[m] = (struct registry_item){ .ref = d };
		at[m++] = i;
	}
	if (m > 0) {
		many_get_manifests(r, repo, sub, m, child);
		for (size_t k = 0; k < m; k++) {
			size_t i = at[k];
			json_t *cj;

			if (sub[k].rc < 0) {
				item_take(&items[i], &sub[k]);
				continue;
			}
			cj = json_loadb((const char *)child[k].data, child[k].len, 0, NULL);
			if (!json_is_object(cj) || is_index(&child[k], cj)) {
				json_decref(cj);
				registry_clear_error();
				registry_item_fail(&items[i], registry_fail(VIVA_EREMOTE,
					  "the index %s does not point at an image manifest", disp[i]));
				continue;
			}
			/* the item reads its config from the image manifest now */
			json_decref(js[i]);
			js[i] = cj;
		}
		registry_items_release(sub, m);
	}
	/* 3: the config blobs, each distinct one once */
	m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (items[i].rc < 0 || done[i])
			continue;
		registry_clear_error();
		if (config_digest_of(js[i], disp[i], &cfg[i]) != VIVA_OK) {
			registry_item_fail(&items[i], VIVA_EREMOTE);
			continue;
		}
		for (k = 0; k < m && strcmp(sub[k].ref, cfg[i]) != 0; k++)
			;
		if (k == m)
			sub[m++] = (struct registry_item){ .ref = cfg[i] };
	}
	if (m > 0)
		many_get_blobs(r, repo, sub, m, REGISTRY_MAX_BLOB_BYTES, blobs, lens);
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (items[i].rc < 0 || done[i])
			continue;
		for (k = 0; k < m && strcmp(sub[k].ref, cfg[i]) != 0; k++)
			;
		if (k == m)
			continue;   /* (cannot happen: every config was asked for) */
		if (sub[k].rc < 0) {
			items[i].rc = sub[k].rc;
			items[i].error = xstrdup(sub[k].error ? sub[k].error : viva_strerror(sub[k].rc));
			continue;
		}
		registry_clear_error();
		if (created_of(repo, items[i].ref, disp[i], blobs[k], lens[k], &items[i].created) != VIVA_OK) {
			registry_item_fail(&items[i], VIVA_EREMOTE);
			continue;
		}
		if (cache && cache->put)
			cache->put(cache->ud, items[i].digest, items[i].created);
	}
	/* a failed item has no digest either */
	for (size_t i = 0; i < n; i++)
		if (items[i].rc < 0) {
			free(items[i].digest);
			items[i].digest = NULL;
		}
	registry_items_release(sub, m);
	for (size_t i = 0; i < n; i++) {
		registry_manifest_release(&top[i]);
		registry_manifest_release(&child[i]);
		json_decref(js[i]);
		free(disp[i]);
		free(blobs[i]);
	}
	free(top);
	free(child);
	free(sub);
	free(js);
	free(cfg);
	free(disp);
	free(blobs);
	free(lens);
	free(at);
	free(done);
	return items_outcome(items, n);
}

int registry_image_created(struct registry *r, const char *repo, const char *tag_or_digest,
			   int64_t *created_unix, char **digest)
{
	struct registry_item it = { .ref = tag_or_digest };
	int rc;

	registry_clear_error();
	if (created_unix)
		*created_unix = 0;
	if (digest)
		*digest = NULL;
	if (!registry_valid_repo(repo))
		return registry_bad_repo(repo);
	if (!oci_valid_ref(tag_or_digest))
		return registry_bad_ref(tag_or_digest);
	rc = registry_images_created(r, repo, &it, 1, NULL);
	if (rc == VIVA_OK) {
		if (created_unix)
			*created_unix = it.created;
		if (digest) {
			*digest = it.digest;
			it.digest = NULL;
		}
	}
	registry_items_release(&it, 1);
	return rc;
}
