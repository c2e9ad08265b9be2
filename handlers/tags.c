#include "handlers/tags.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/clients/registry.h"
#include "bot/reply.h"
#include "bot/model/spec.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"
#include "store/images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 20
#define MAX_OFFSET 100000

int tags_image_of(struct viva_ctx *ctx, const char *svc, char **image)
{
	struct spec *s = NULL;
	int rc;

	*image = NULL;
	if (!ctx->env->registry)
		return reply_error(ctx, VIVA_EUNAVAIL, NULL, "No registry is configured: set REGISTRY_URL (and "
				   "REGISTRY_USER / REGISTRY_PASSWORD if it needs them).");
	rc = catalog_get(ctx->env, svc, &s);
	if (rc == VIVA_ENOENT) {
		return reply_error(ctx, rc, NULL, "There is no pipeline named `%s`. `%s pipeline list` shows them all.",
				   svc, dispatch_slash(ctx->env));
	}
	if (rc)
		return rc;
	*image = xstrdup(s->image);
	spec_free(s);
	return VIVA_OK;
}

static char *short_digest(const char *d)
{
	const char *hex = d ? strchr(d, ':') : NULL;
	return hex ? xasprintf("%.12s", hex + 1) : xstrdup("?");
}

/* Build times by image digest (immutable), kept in the store. */
static bool created_cached(void *ud, const char *digest, int64_t *created)
{
	struct viva_ctx *ctx = ud;

	return store_image_created_get(ctx->env->store, digest, created) == VIVA_OK;
}

static void created_keep(void *ud, const char *digest, int64_t created)
{
	struct viva_ctx *ctx = ud;

	store_image_created_put(ctx->env->store, digest, created);
}

/*
 * More build times than this unknown to the store: the page is answered
 * with its tags and digests first, and the answer is replaced once the
 * build times are read (a manifest and a config blob each, which on a busy
 * registry take longer than everything else together). Up to this many,
 * they are read before answering: one message, no flicker.
 */
#define READ_INLINE_MAX 2
#define BUILT_PENDING "_reading…_"

/* One page of a listing: the tags shown, what they and latest point at. */
struct tags_page {
	const char *svc, *image;
	char **tags;
	size_t n, np, page[PAGE];
	struct registry_item items[PAGE + 1], *row;   /* items[0] is latest when the tag exists */
	bool pending[PAGE];                            /* build time still being read */
	const char *latest;                            /* latest's digest, or NULL */
	int offset;
};

/* The template's data for the page as it is known now (caller decrefs). */
static json_t *page_data(const struct tags_page *pg)
{
	json_t *rows = json_array(), *data;

	for (size_t k = 0; k < pg->np; k++) {
		const char *tag = pg->tags[pg->page[k]];
		const char *digest = pg->row[k].rc == VIVA_OK ? pg->row[k].digest : NULL;
		char *sd, *when, *value, *confirm;
		json_t *v;

		sd = short_digest(digest);
		when = pg->pending[k] ? xstrdup(BUILT_PENDING) : mrkdwn_date(digest ? pg->row[k].created : 0);
		v = json_pack("{s:s, s:s, s:s}", "svc", pg->svc, "tag", tag, "target", "latest");
		value = json_dumps(v, JSON_COMPACT);
		json_decref(v);
		confirm = xasprintf("Retag %s of %s as latest in the registry?", tag, pg->image);
		if (strlen(confirm) > 300)   /* Block Kit: confirm text <= 300 */
			strcpy(confirm + 290, "...?");
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
			"tag", tag, "digest", sd, "built", when,
			"mark", pg->latest && digest && strcmp(pg->latest, digest) == 0 ? "  :star: latest" : "",
			"value", value, "confirm", confirm));
		free(sd);
		free(when);
		free(value);
		free(confirm);
	}
	data = json_pack("{s:s, s:s, s:o, s:b, s:i, s:b}", "service", pg->svc, "image", pg->image, "tags", rows,
			 "empty", pg->np == 0, "total", (int)pg->n, "has_latest", pg->latest != NULL);
	if (pg->latest) {
		char *sd = short_digest(pg->latest);
		json_object_set_new(data, "latest_digest", json_string(sd));
		free(sd);
	}
	{
		/* more tags after this page? ("latest" is skipped, so count the rest) */
		size_t shown = 0, i;
		for (i = (size_t)pg->offset; i < pg->n && shown < PAGE; i++)
			if (strcmp(pg->tags[i], "latest") != 0)
				shown++;
		if (i < pg->n && !(i == pg->n - 1 && strcmp(pg->tags[i], "latest") == 0)) {
			json_t *v = json_pack("{s:s, s:i}", "svc", pg->svc, "offset", (int)i);
			char *value = json_dumps(v, JSON_COMPACT);
			json_object_set_new(data, "more", json_string(value));
			free(value);
			json_decref(v);
		}
	}
	return data;
}

/*
 * The build times of the page's images the store does not know: their
 * manifests (by the digest the HEAD gave) and config blobs, each round sent
 * at once; every one read is kept in the store. One that cannot be read
 * shows as unknown, never costs the listing.
 */
static void read_build_times(struct viva_ctx *ctx, struct tags_page *pg)
{
	const struct registry_created_cache keep = { NULL, created_keep, ctx };
	struct registry_item sub[PAGE] = { { 0 } };
	size_t at[PAGE], m = 0;

	for (size_t k = 0; k < pg->np; k++)
		if (pg->pending[k]) {
			sub[m] = (struct registry_item){ .ref = pg->row[k].digest };
			at[m++] = k;
		}
	registry_images_created(ctx->env->registry, pg->image, sub, m, &keep);
	for (size_t j = 0; j < m; j++) {
		size_t k = at[j];

		pg->pending[k] = false;
		if (sub[j].rc == VIVA_OK)
			pg->row[k].created = sub[j].created;
		else
			log_warn("image build time unknown", "image=%s tag=%s err=\"%s\"", pg->image, pg->row[k].ref,
				 sub[j].error ? sub[j].error : "");
	}
	registry_items_release(sub, m);
}

static int show_tags(struct viva_ctx *ctx, const char *svc, int offset, unsigned flags)
{
	struct tags_page pg = { .svc = svc, .offset = offset };
	char *image = NULL;
	size_t pending = 0, nitems;
	json_t *data = NULL;
	int rc;

	rc = tags_image_of(ctx, svc, &image);
	if (rc)
		goto out;
	pg.image = image;
	rc = registry_list_tags(ctx->env->registry, image, &pg.tags, &pg.n);
	if (rc) {
		rc = reply_error(ctx, rc, NULL, "Could not list the tags of `%s`: %s.", image, registry_last_error());
		goto out;
	}
	/* the page's tags ("latest" is marked, not listed) */
	pg.row = pg.items;
	for (size_t i = 0; i < pg.n; i++)
		if (strcmp(pg.tags[i], "latest") == 0) {
			pg.items[0] = (struct registry_item){ .ref = "latest" };
			pg.row = &pg.items[1];
		}
	for (size_t i = (size_t)offset; i < pg.n && pg.np < PAGE; i++)
		if (strcmp(pg.tags[i], "latest") != 0) {
			pg.row[pg.np] = (struct registry_item){ .ref = pg.tags[i] };
			pg.page[pg.np++] = i;
		}
	/*
	 * What latest and each tag point at: a HEAD each, sent at once (a HEAD
	 * is no "pull" for a registry's rate limit or retention). A tag whose
	 * HEAD fails only loses its digest and date, never the listing. Build
	 * times come from the store by digest (digests are immutable).
	 */
	nitems = pg.np + (size_t)(pg.row - pg.items);
	registry_head_manifests(ctx->env->registry, image, pg.items, nitems);
	if (pg.row != pg.items && pg.items[0].rc == VIVA_OK)
		pg.latest = pg.items[0].digest;
	for (size_t k = 0; k < pg.np; k++) {
		if (pg.row[k].rc != VIVA_OK) {
			log_warn("image digest unknown", "image=%s tag=%s err=\"%s\"", image, pg.row[k].ref,
				 pg.row[k].error ? pg.row[k].error : "");
			continue;
		}
		if (!created_cached(ctx, pg.row[k].digest, &pg.row[k].created)) {
			pg.pending[k] = true;
			pending++;
		}
	}
	if (pending > READ_INLINE_MAX) {
		/* the tags now, the build times in place when they are read */
		data = page_data(&pg);
		rc = reply_template(ctx, "slack/tags_list", data, flags);
		json_decref(data);
		data = NULL;
		if (rc)
			goto out;
		flags |= REPLY_REPLACE;
	}
	if (pending > 0)
		read_build_times(ctx, &pg);
	data = page_data(&pg);
	rc = reply_template(ctx, "slack/tags_list", data, flags);
out:
	registry_items_release(pg.items, PAGE + 1);
	json_decref(data);
	registry_tags_free(pg.tags, pg.n);
	free(image);
	return rc;
}

int cmd_tags(struct viva_ctx *ctx)
{
	return show_tags(ctx, ctx->argv[0], 0, REPLY_EPHEMERAL);
}

int act_tags_more(struct viva_ctx *ctx)
{
	json_t *v = json_loads(json_string_value(json_object_get(ctx->action, "value")) ?
			       json_string_value(json_object_get(ctx->action, "value")) : "", 0, NULL);
	const char *svc = json_string_value(json_object_get(v, "svc"));
	json_int_t off = json_integer_value(json_object_get(v, "offset"));
	int rc;

	if (!svc || !is_dns1123_label(svc) || off < 0 || off > MAX_OFFSET)
		rc = reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	else
		rc = show_tags(ctx, svc, (int)off, REPLY_REPLACE);
	json_decref(v);
	return rc;
}
