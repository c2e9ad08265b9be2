#include "tests/fake_registry.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MT_DOCKER "application/vnd.docker.distribution.manifest.v2+json"

static json_t *repo_of(struct fake_registry *f, const char *repo, bool create)
{
	json_t *r = json_object_get(f->repos, repo);
	if (!r && create) {
		r = json_pack("{s:{}, s:{}, s:{}}", "tags", "manifests", "blobs");
		json_object_set_new(f->repos, repo, r);
	}
	return r;
}

static int failing(struct fake_registry *f)
{
	return f->fail_rc ? registry_fail(f->fail_rc, "%s", f->fail_msg ? f->fail_msg : "fake failure") : 0;
}

static const char *resolve(json_t *r, const char *ref)
{
	if (strncmp(ref, "sha256:", 7) == 0)
		return json_object_get(json_object_get(r, "manifests"), ref) ? ref : NULL;
	return json_string_value(json_object_get(json_object_get(r, "tags"), ref));
}

static int fr_list(struct registry *base, const char *repo, char ***tags, size_t *n)
{
	struct fake_registry *f = (struct fake_registry *)base;
	json_t *r, *v;
	const char *k;
	size_t i = 0;

	f->calls_list++;
	if (failing(f))
		return f->fail_rc;
	r = repo_of(f, repo, false);
	if (!r)
		return registry_fail(VIVA_ENOENT, "repository %s not found in the registry", repo);
	*n = json_object_size(json_object_get(r, "tags"));
	*tags = xcalloc(*n + 1, sizeof(char *));
	json_object_foreach(json_object_get(r, "tags"), k, v)
		(*tags)[i++] = xstrdup(k);
	return VIVA_OK;
}

static int fr_get(struct registry *base, const char *repo, const char *ref, struct registry_manifest *out)
{
	struct fake_registry *f = (struct fake_registry *)base;
	json_t *r, *m;
	const char *d;

	f->calls_get++;
	if (failing(f))
		return f->fail_rc;
	r = repo_of(f, repo, false);
	if (!r)
		return registry_fail(VIVA_ENOENT, "repository %s not found in the registry", repo);
	d = resolve(r, ref);
	if (!d)
		return registry_fail(VIVA_ENOENT, "tag %s not found in %s", ref, repo);
	m = json_object_get(json_object_get(r, "manifests"), d);
	out->digest = xstrdup(d);
	out->media_type = xstrdup(json_string_value(json_object_get(m, "media_type")));
	out->len = strlen(json_string_value(json_object_get(m, "data")));
	out->data = (unsigned char *)xstrdup(json_string_value(json_object_get(m, "data")));
	return VIVA_OK;
}

static int fr_put(struct registry *base, const char *repo, const char *tag, const struct registry_manifest *m,
		  char **digest_out)
{
	struct fake_registry *f = (struct fake_registry *)base;
	char digest[72];
	json_t *r;

	f->calls_put++;
	if (failing(f))
		return f->fail_rc;
	r = repo_of(f, repo, true);
	registry_digest_of(m->data, m->len, digest);
	json_object_set_new(json_object_get(r, "manifests"), digest,
			    json_pack("{s:s, s:s%}", "media_type", m->media_type, "data", m->data, m->len));
	json_object_set_new(json_object_get(r, "tags"), tag, json_string(digest));
	if (f->put_answer_lost > 0) {
		f->put_answer_lost--;
		return registry_fail(VIVA_EUNAVAIL, "the registry at http://127.0.0.1:1 reset the connection");
	}
	if (digest_out)
		*digest_out = xstrdup(digest);
	return VIVA_OK;
}

static int fr_head(struct registry *base, const char *repo, const char *ref, char **digest_out)
{
	struct fake_registry *f = (struct fake_registry *)base;
	json_t *r;
	const char *d;

	f->calls_head++;
	if (failing(f))
		return f->fail_rc;
	r = repo_of(f, repo, false);
	d = r ? resolve(r, ref) : NULL;
	if (!d)
		return registry_fail(VIVA_ENOENT, "tag %s not found in %s", ref, repo);
	*digest_out = xstrdup(d);
	return VIVA_OK;
}

static int fr_blob(struct registry *base, const char *repo, const char *digest, char **data, size_t *len, size_t max)
{
	struct fake_registry *f = (struct fake_registry *)base;
	json_t *r;
	const char *b;

	(void)max;
	f->calls_blob++;
	if (failing(f))
		return f->fail_rc;
	r = repo_of(f, repo, false);
	b = r ? json_string_value(json_object_get(json_object_get(r, "blobs"), digest)) : NULL;
	if (!b)
		return registry_fail(VIVA_ENOENT, "blob %s not found", digest);
	*data = xstrdup(b);
	*len = strlen(b);
	return VIVA_OK;
}

static void fr_free(struct registry *base)
{
	fake_registry_free((struct fake_registry *)base);
}

static const struct registry_ops fake_ops = {
	.list_tags = fr_list, .get_manifest = fr_get, .put_manifest = fr_put,
	.head_manifest = fr_head, .get_blob = fr_blob, .free = fr_free,
};

struct fake_registry *fake_registry_new(void)
{
	struct fake_registry *f = xcalloc(1, sizeof(*f));
	f->base.ops = &fake_ops;
	f->repos = json_object();
	return f;
}

void fake_registry_free(struct fake_registry *f)
{
	if (!f)
		return;
	json_decref(f->repos);
	free(f);
}

void fake_registry_push(struct fake_registry *f, const char *repo, const char *tag, int64_t created)
{
	json_t *r = repo_of(f, repo, true);
	char when[40], cdigest[72], *config, *manifest;
	struct registry_manifest m = { 0 };
	time_t t = (time_t)created;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"%s\",\"config\":{\"Labels\":{\"build\":\"%s\"}}}",
			   when, tag);
	registry_digest_of(config, strlen(config), cdigest);
	json_object_set_new(json_object_get(r, "blobs"), cdigest, json_string(config));
	manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
			     "\"application/vnd.docker.container.image.v1+json\",\"size\":%zu,\"digest\":\"%s\"},"
			     "\"layers\":[]}", MT_DOCKER, strlen(config), cdigest);
	m.media_type = (char *)MT_DOCKER;
	m.data = (unsigned char *)manifest;
	m.len = strlen(manifest);
	fr_put(&f->base, repo, tag, &m, NULL);
	f->calls_put--;
	free(config);
	free(manifest);
}

const char *fake_registry_digest(struct fake_registry *f, const char *repo, const char *tag)
{
	json_t *r = repo_of(f, repo, false);
	const char *d = r ? json_string_value(json_object_get(json_object_get(r, "tags"), tag)) : NULL;
	return d ? d : "";
}

int fake_registry_calls(struct fake_registry *f)
{
	return f->calls_list + f->calls_get + f->calls_put + f->calls_head + f->calls_blob;
}
