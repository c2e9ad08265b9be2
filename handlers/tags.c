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

static int show_tags(struct viva_ctx *ctx, const char *svc, int offset, unsigned flags)
{
	char *image = NULL, *latest = NULL, **tags = NULL;
	size_t n = 0, np = 0, page[PAGE];
	struct registry_item items[PAGE + 1] = { { 0 } }, *latest_item = NULL, *row = items;
	const struct registry_created_cache cache = { created_cached, created_keep, ctx };
	bool has_latest_tag = false;
	json_t *rows = json_array(), *data = NULL;
	int rc;

	rc = tags_image_of(ctx, svc, &image);
	if (rc)
		goto out;
	rc = registry_list_tags(ctx->env->registry, image, &tags, &n);
	if (rc) {
		rc = reply_error(ctx, rc, NULL, "Could not list the tags of `%s`: %s.", image, registry_last_error());
		goto out;
	}
	/* the page's tags ("latest" is marked, not listed) */
	for (size_t i = 0; i < n; i++)
		if (strcmp(tags[i], "latest") == 0)
			has_latest_tag = true;
	for (size_t i = (size_t)offset; i < n && np < PAGE; i++)
		if (strcmp(tags[i], "latest") != 0)
			page[np++] = i;
	/*
	 * What latest (only its digest: a HEAD, when the tag exists) and each
	 * tag point at, with the build times the store does not know yet, each
	 * round of requests sent at once. A tag that fails only loses its
	 * digest and date, never the listing.
	 */
	if (has_latest_tag) {
		latest_item = &items[0];
		*latest_item = (struct registry_item){ .ref = "latest", .digest_only = true };
		row = &items[1];
	}
	for (size_t k = 0; k < np; k++)
		row[k] = (struct registry_item){ .ref = tags[page[k]] };
	registry_images_created(ctx->env->registry, image, items, np + (latest_item ? 1 : 0), &cache);
	if (latest_item && latest_item->rc == VIVA_OK) {
		latest = latest_item->digest;
		latest_item->digest = NULL;
	}
	for (size_t k = 0; k < np; k++)
		if (row[k].rc != VIVA_OK)
			log_warn("image build time unknown", "image=%s tag=%s err=\"%s\"", image, row[k].ref,
				 row[k].error ? row[k].error : "");
	for (size_t k = 0; k < np; k++) {
		size_t i = page[k];
		const char *digest = row[k].rc == VIVA_OK ? row[k].digest : NULL;
		char *sd, *when, *value, *confirm;
		json_t *v;

		sd = short_digest(digest);
		when = mrkdwn_date(row[k].rc == VIVA_OK ? row[k].created : 0);
		v = json_pack("{s:s, s:s, s:s}", "svc", svc, "tag", tags[i], "target", "latest");
		value = json_dumps(v, JSON_COMPACT);
		json_decref(v);
		confirm = xasprintf("Retag %s of %s as latest in the registry?", tags[i], image);
		if (strlen(confirm) > 300)   /* Block Kit: confirm text <= 300 */
			strcpy(confirm + 290, "...?");
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
			"tag", tags[i], "digest", sd, "built", when,
			"mark", latest && digest && strcmp(latest, digest) == 0 ? "  :star: latest" : "",
			"value", value, "confirm", confirm));
		free(sd);
		free(when);
		free(value);
		free(confirm);
	}
	data = json_pack("{s:s, s:s, s:o, s:b, s:i, s:b}", "service", svc, "image", image, "tags", rows,
			 "empty", json_array_size(rows) == 0, "total", (int)n, "has_latest", latest != NULL);
	rows = NULL;
	if (latest) {
		char *sd = short_digest(latest);
		json_object_set_new(data, "latest_digest", json_string(sd));
		free(sd);
	}
	{
		/* more tags after this page? ("latest" is skipped, so count the rest) */
		size_t shown = 0, i;
		for (i = (size_t)offset; i < n && shown < PAGE; i++)
			if (strcmp(tags[i], "latest") != 0)
				shown++;
		if (i < n && !(i == n - 1 && strcmp(tags[i], "latest") == 0)) {
			json_t *v = json_pack("{s:s, s:i}", "svc", svc, "offset", (int)i);
			char *value = json_dumps(v, JSON_COMPACT);
			json_object_set_new(data, "more", json_string(value));
			free(value);
			json_decref(v);
		}
	}
	rc = reply_template(ctx, "slack/tags_list", data, flags);
out:
	registry_items_release(items, PAGE + 1);
	json_decref(rows);
	json_decref(data);
	registry_tags_free(tags, n);
	free(image);
	free(latest);
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
