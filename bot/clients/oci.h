#ifndef VIVA_BOT_CLIENTS_OCI_H
#define VIVA_BOT_CLIENTS_OCI_H

#include <stdbool.h>

/*
 * What the OCI distribution spec (and Docker's manifest formats before it)
 * defines, with no network: names, digests, the manifest media types, tag
 * order, the times in image configs. bot/clients/oci.c implements it.
 *
 * The functions the rest of viva calls keep their home in
 * bot/clients/registry.h, beside the client their callers use, and are
 * documented there: registry_valid_repo(), registry_valid_tag(),
 * registry_valid_digest(), registry_sort_tags() (SPEC §6),
 * registry_parse_time(), registry_digest_of(). This header holds what only
 * the registry client's own files need.
 */

/* The manifest media types viva reads and writes. */
#define OCI_MT_INDEX           "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST        "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* An index of images (OCI index, Docker manifest list), not one image. */
bool oci_is_index_type(const char *media_type);

/* A tag or a digest (registry_valid_tag() or registry_valid_digest()). */
bool oci_valid_ref(const char *ref);

/* A media type fit for a header value: type/subtype, token characters only,
 * at most 255 characters. */
bool oci_valid_media_type(const char *media_type);

#endif
