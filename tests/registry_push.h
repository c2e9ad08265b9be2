#ifndef VIVA_TESTS_REGISTRY_PUSH_H
#define VIVA_TESTS_REGISTRY_PUSH_H

#include <stddef.h>

/*
 * Pushing images to a real registry over its HTTP API, without docker (a C
 * port of the push script in FACTS.md §3): blobs by POST + PUT ?digest=,
 * then the manifest. These use libcurl directly, not bot/registry.c, so the
 * tests check the client against an independent view of the registry.
 * base is "http://127.0.0.1:PORT"; cred is "user:password" or NULL.
 * Functions return 0 or -1 (the reason is printed to stderr).
 */

#define REGPUSH_DOCKER_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define REGPUSH_OCI       "application/vnd.oci.image.manifest.v1+json"
#define REGPUSH_OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* One HTTP request; returns the status (0 on transport error). body_out,
 * digest_out (Docker-Content-Digest) and location_out may be NULL; the
 * strings are the caller's. */
long regpush_http(const char *method, const char *url, const char *cred, const char *accept,
		  const char *content_type, const void *body, size_t len,
		  char **body_out, char **digest_out, char **location_out);

/* Upload a blob (skipped if it exists); its digest into digest. */
int regpush_blob(const char *base, const char *repo, const char *cred,
		 const void *data, size_t len, char digest[72]);

/* PUT a manifest under ref (tag or digest); its digest into digest (may be NULL). */
int regpush_manifest(const char *base, const char *repo, const char *cred, const char *ref,
		     const char *media_type, const char *body, char digest[72]);

/*
 * A one-layer image: config {"architecture":arch,"os":"linux","created":..}
 * ("created" left out when created is NULL), manifest of media_type
 * (REGPUSH_DOCKER_V2 or REGPUSH_OCI) put under tag, or under its own digest
 * when tag is NULL. *size gets the manifest's length (may be NULL).
 */
int regpush_image(const char *base, const char *repo, const char *cred, const char *tag,
		  const char *media_type, const char *created, const char *arch,
		  char digest[72], size_t *size);

#endif
