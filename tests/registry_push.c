/*
 * Pushing test images to a real registry (see registry_push.h). The sequence
 * is the one FACTS.md §3 checked against docker-registry 2.8.2: a monolithic
 * upload is POST /blobs/uploads/ (Location, with ?_state=) then PUT
 * Location&digest=; a POST with ?digest= alone is not supported there.
 */
#include "tests/registry_push.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct got {
	struct strbuf body;
	char *digest;
	char *location;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct got *g = ud;

	sb_add(&g->body, p, size * n);
	return size * n;
}

static char *header_value(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);
	const char *v, *end = p + n;

	if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
		return NULL;
	v = p + k + 1;
	while (v < end && *v == ' ')
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	return xstrndup(v, (size_t)(end - v));
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct got *g = ud;
	char *v;

	if ((v = header_value(p, size * n, "docker-content-digest"))) {
		free(g->digest);
		g->digest = v;
	} else if ((v = header_value(p, size * n, "location"))) {
		free(g->location);
		g->location = v;
	}
	return size * n;
}

long regpush_http(const char *method, const char *url, const char *cred, const char *accept,
		  const char *content_type, const void *body, size_t len,
		  char **body_out, char **digest_out, char **location_out)
{
	struct curl_slist *h = NULL;
	struct got g = { 0 };
	char *a = NULL, *c = NULL;
	long status = 0;
	CURL *curl = curl_easy_init();

	sb_init(&g.body);
	if (!curl)
		goto out;
	if (accept) {
		a = xasprintf("Accept: %s", accept);
		h = curl_slist_append(h, a);
	}
	if (content_type) {
		c = xasprintf("Content-Type: %s", content_type);
		h = curl_slist_append(h, c);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	if (cred)
		curl_easy_setopt(curl, CURLOPT_USERPWD, cred);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &g);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &g);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
out:
	if (body_out)
		*body_out = sb_detach(&g.body);
	if (digest_out)
		*digest_out = g.digest;
	else
		free(g.digest);
	if (location_out)
		*location_out = g.location;
	else
		free(g.location);
	sb_release(&g.body);
	curl_slist_free_all(h);
	free(a);
	free(c);
	if (curl)
		curl_easy_cleanup(curl);
	return status;
}

int regpush_blob(const char *base, const char *repo, const char *cred,
		 const void *data, size_t len, char digest[72])
{
	char *url = NULL, *loc = NULL, *put = NULL;
	long st;
	int rc = -1;

	registry_digest_of(data, len, digest);
	url = xasprintf("%s/v2/%s/blobs/%s", base, repo, digest);
	if (regpush_http("HEAD", url, cred, NULL, NULL, NULL, 0, NULL, NULL, NULL) == 200) {
		rc = 0;
		goto out;
	}
	free(url);
	url = xasprintf("%s/v2/%s/blobs/uploads/", base, repo);
	st = regpush_http("POST", url, cred, NULL, NULL, NULL, 0, NULL, NULL, &loc);
	if (st != 202 || !loc) {
		fprintf(stderr, "regpush: POST %s -> %ld\n", url, st);
		goto out;
	}
	/* Location is absolute in 2.8.2, relative in newer registries */
	put = xasprintf("%s%s%cdigest=%s", loc[0] == '/' ? base : "", loc,
			strchr(loc, '?') ? '&' : '?', digest);
	st = regpush_http("PUT", put, cred, NULL, "application/octet-stream", data, len, NULL, NULL, NULL);
	if (st != 201) {
		fprintf(stderr, "regpush: PUT blob %s -> %ld\n", digest, st);
		goto out;
	}
	rc = 0;
out:
	free(url);
	free(loc);
	free(put);
	return rc;
}

int regpush_manifest(const char *base, const char *repo, const char *cred, const char *ref,
		     const char *media_type, const char *body, char digest[72])
{
	char *url = xasprintf("%s/v2/%s/manifests/%s", base, repo, ref), *dcd = NULL;
	long st = regpush_http("PUT", url, cred, NULL, media_type, body, strlen(body), NULL, &dcd, NULL);
	int rc = 0;

	if (st != 201 || !dcd) {
		fprintf(stderr, "regpush: PUT manifest %s:%s -> %ld\n", repo, ref, st);
		rc = -1;
	} else if (digest) {
		snprintf(digest, 72, "%s", dcd);
	}
	free(dcd);
	free(url);
	return rc;
}

int regpush_image(const char *base, const char *repo, const char *cred, const char *tag,
		  const char *media_type, const char *created, const char *arch,
		  char digest[72], size_t *size)
{
	bool docker = strcmp(media_type, REGPUSH_DOCKER_V2) == 0;
	char cdig[72], ldig[72], mdig[72];
	char *layer = NULL, *config = NULL, *manifest = NULL, *c = NULL;
	int rc = -1;

	/* The registry checks digests and sizes, not layer contents. */
	layer = xasprintf("layer of %s %s\n", tag ? tag : "(untagged)", arch);
	c = created ? xasprintf("\"created\":\"%s\",", created) : xstrdup("");
	config = xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",%s\"config\":{\"Labels\":"
			   "{\"build\":\"%s\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
			   arch, c, tag ? tag : "untagged");
	if (regpush_blob(base, repo, cred, config, strlen(config), cdig) != 0 ||
	    regpush_blob(base, repo, cred, layer, strlen(layer), ldig) != 0)
		goto out;
	manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
			     "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":\"%s\",\"size\":%zu,"
			     "\"digest\":\"%s\"}]}",
			     media_type,
			     docker ? "application/vnd.docker.container.image.v1+json"
				    : "application/vnd.oci.image.config.v1+json",
			     strlen(config), cdig,
			     docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
				    : "application/vnd.oci.image.layer.v1.tar+gzip",
			     strlen(layer), ldig);
	registry_digest_of(manifest, strlen(manifest), mdig);
	if (regpush_manifest(base, repo, cred, tag ? tag : mdig, media_type, manifest, digest) != 0)
		goto out;
	if (strcmp(digest, mdig) != 0) {
		fprintf(stderr, "regpush: registry digest %s != local %s\n", digest, mdig);
		goto out;
	}
	if (size)
		*size = strlen(manifest);
	rc = 0;
out:
	free(layer);
	free(config);
	free(manifest);
	free(c);
	return rc;
}
