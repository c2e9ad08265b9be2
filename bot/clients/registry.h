#ifndef VIVA_BOT_CLIENTS_REGISTRY_H
#define VIVA_BOT_CLIENTS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An OCI distribution (Docker Registry HTTP API v2) registry, as handlers see
 * it: a narrow interface, so tests pass a fake through the same struct.
 *
 * Errors: every call returns 0 or a negative viva_err, and on failure leaves
 * one sentence for a person in registry_last_error() (per thread, so worker
 * threads do not see each other's messages). The messages name the
 * repository, tag or URL concerned and never carry a password or a token:
 *   VIVA_EINVAL    bad repository name, tag or digest (nothing was sent)
 *   VIVA_ENOENT    "repository team/x not found in the registry",
 *                  "tag x not found in team/y", blob/manifest digest unknown
 *   VIVA_EAUTH     "the registry refused viva's credentials
 *                  (REGISTRY_USER/REGISTRY_PASSWORD)", or credentials needed
 *   VIVA_EUNAVAIL  "the registry at URL is not reachable"
 *   VIVA_ETIMEOUT  no answer within the request timeout
 *   VIVA_EBUSY     HTTP 429 (rate limited)
 *   VIVA_ERANGE    an answer larger than its cap, or too many tag pages/tags
 *   VIVA_ECONFLICT a promotion whose target digest does not match its source
 *   VIVA_EREMOTE   any other refusal, with the registry's error code and
 *                  message (or a malformed answer)
 */

/* A manifest exactly as the registry stored it. Embedded: release with
 * registry_manifest_release(). */
struct registry_manifest {
	char *media_type;        /* Content-Type, e.g. application/vnd.oci.image.manifest.v1+json */
	char *digest;            /* "sha256:<hex>" (Docker-Content-Digest) */
	unsigned char *data;     /* the bytes (NUL-terminated for convenience; not counted in len) */
	size_t len;
};
void registry_manifest_release(struct registry_manifest *m);

struct registry;

/*
 * One reference of a batch (registry_head_manifests, registry_images_created):
 * ref is the caller's; the outputs are set by the call (whatever they held
 * before is overwritten, not freed) and released with registry_items_release().
 */
struct registry_item {
	const char *ref;         /* in: a tag or a digest (borrowed) */
	bool digest_only;        /* in: only the digest is wanted (a HEAD, no build time) */
	int rc;                  /* out: 0 or a viva_err */
	char *digest;            /* out: what ref resolves to */
	int64_t created;         /* out (registry_images_created): unix seconds, 0 unknown */
	char *error;             /* out: the message when rc < 0 */
};
void registry_items_release(struct registry_item *items, size_t n);

struct registry_ops {
	/* Every tag of repo, following Link pagination. *tags (caller frees
	 * with registry_tags_free) holds *n strings. */
	int (*list_tags)(struct registry *r, const char *repo, char ***tags, size_t *n);
	/* ref: a tag or a digest. *out is filled (caller releases) on success. */
	int (*get_manifest)(struct registry *r, const char *repo, const char *ref,
			    struct registry_manifest *out);
	/* PUT m's bytes under tag with m's media type; *digest_out (caller frees;
	 * may be NULL) is the digest the registry stored. */
	int (*put_manifest)(struct registry *r, const char *repo, const char *tag,
			    const struct registry_manifest *m, char **digest_out);
	/* The digest ref points at (caller frees). */
	int (*head_manifest)(struct registry *r, const char *repo, const char *ref, char **digest_out);
	/* A blob's bytes, at most max of them (0: 4 MiB). *data (caller frees)
	 * is NUL-terminated; *len excludes the NUL. */
	int (*get_blob)(struct registry *r, const char *repo, const char *digest,
			char **data, size_t *len, size_t max);
	void (*free)(struct registry *r);
	/*
	 * Optional batches: the single operation for every item, at once.
	 * NULL (a fake): the wrappers call the single operation for each item
	 * in turn. Each sets items[i].rc and .error. get_manifests: the
	 * manifest of each item into out[i] (caller releases) and its digest
	 * into items[i].digest; for an item marked digest_only a HEAD, which
	 * sets the digest alone. get_blobs (items[i].ref is a digest): data[i]
	 * (caller frees) and lens[i].
	 */
	void (*get_manifests)(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			      struct registry_manifest *out);
	void (*get_blobs)(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			  size_t max, char **data, size_t *lens);
	/* Optional: GET /v2/ with the client's credentials (viva doctor). */
	int (*ping)(struct registry *r);
};

struct registry {
	const struct registry_ops *ops;
};

/*
 * The real client over libcurl. base_url is http(s)://host[:port][/path]
 * (a trailing "/" or "/v2/" is dropped; user:password@ in the URL is
 * refused). user may be NULL or "" for no credentials; password NULL is "".
 * Credentials are sent as HTTP Basic to the registry until it asks for a
 * bearer token (WWW-Authenticate: Bearer realm=...), then only to the token
 * realm. Tokens are cached per scope until they expire. NULL for a bad URL
 * or if libcurl cannot initialise (logged). Safe to use from many threads.
 */
struct registry *registry_new(const char *base_url, const char *user, const char *password);
void registry_free(struct registry *r);

/*
 * registry_new() with TLS settings (strings are copied; NULL/"" for none):
 * with neither ca_file nor ca_pem the system's CAs are trusted (the hashed
 * directory of bot/clients/tls.h); a client certificate and key, as files
 * or PEM text, for a registry that requires one; insecure turns certificate
 * checks off (a lab registry; logged as a warning). NULL also when a TLS
 * file is not readable (logged). max_parallel bounds the requests a batch
 * sends at once (0: 8).
 */
struct registry_opts {
	const char *url;
	const char *user;
	const char *password;
	const char *ca_file;
	const char *ca_pem;
	const char *cert_file;
	const char *cert_pem;
	const char *key_file;
	const char *key_pem;
	bool insecure;
	int max_parallel;
	/* A bulkhead: calls (a listing, a batch, a promote) on this registry
	 * at once; one more waits 2 s, then is refused with a sentence. 0: no
	 * bound. A hung registry then holds this many workers and no more. */
	int max_concurrent;
};
struct registry *registry_new_ex(const struct registry_opts *o);

/* Limits of the real client (tests shorten them). A field <= 0 keeps its
 * default. Ignored for a fake. */
struct registry_limits {
	long connect_timeout_ms;   /* default 5000 */
	long timeout_ms;           /* one request, all of it; default 30000 */
	int max_pages;             /* tags/list pages followed; default 1000 */
	long max_tags;             /* default 1000000 */
};
void registry_set_limits(struct registry *r, const struct registry_limits *lim);

/* The wrappers: they clear registry_last_error(), check arguments and call
 * the ops; outputs are NULL/0 on failure. registry_list_tags() returns the
 * tags sorted with registry_sort_tags(). */
int registry_list_tags(struct registry *r, const char *repo, char ***tags, size_t *n);
int registry_get_manifest(struct registry *r, const char *repo, const char *ref,
			  struct registry_manifest *out);
int registry_put_manifest(struct registry *r, const char *repo, const char *tag,
			  const struct registry_manifest *m, char **digest_out);
int registry_head_manifest(struct registry *r, const char *repo, const char *ref, char **digest_out);
/* viva doctor: does the registry answer its API (GET /v2/) and take viva's
 * credentials? VIVA_OK, or why not (registry_last_error()). */
int registry_ping(struct registry *r);
int registry_get_blob(struct registry *r, const char *repo, const char *digest,
		      char **data, size_t *len, size_t max);
void registry_tags_free(char **tags, size_t n);

/*
 * Batches: what registry_head_manifest() (digests) and
 * registry_image_created() (digests and build times) give, for n refs of one
 * repository, with the requests of each round sent concurrently by the real
 * client (a fake without the batch operations is called once per item, in
 * order). Every item gets its own rc and message. Returns VIVA_OK when every
 * item succeeded, else the first failed item's code, with its message in
 * registry_last_error().
 *
 * registry_images_created() runs its requests in rounds: with a cache, a
 * HEAD of every ref first (a HEAD is no "pull" for a registry's rate limit
 * or retention), after which an item marked digest_only, or an image whose
 * build time the cache knows (digests are immutable), is done; then the
 * manifests still wanted (by digest; without a cache by ref, and a HEAD
 * for digest_only items); the image manifests that indexes point at; the
 * config blobs, each distinct one once. Every build time read from a blob
 * is handed to the cache. registry_head_manifests() marks every item
 * digest_only.
 */
struct registry_created_cache {
	/* true and *created when the image's build time is known */
	bool (*get)(void *ud, const char *digest, int64_t *created);
	/* a build time just read from the registry (may be NULL) */
	void (*put)(void *ud, const char *digest, int64_t created);
	void *ud;
};
int registry_head_manifests(struct registry *r, const char *repo, struct registry_item *items, size_t n);
int registry_images_created(struct registry *r, const char *repo, struct registry_item *items, size_t n,
			    const struct registry_created_cache *cache);

/*
 * Promote: GET the manifest of tag (OCI index and manifest, Docker manifest
 * list and v2 manifest accepted), PUT the identical bytes with the returned
 * media type under target, then HEAD target. *digest_before is the source
 * digest and *digest_after what target points at afterwards (both caller's;
 * either pointer may be NULL). VIVA_ECONFLICT if they differ (someone pushed
 * target at the same moment); the digests are still returned then.
 */
int registry_promote(struct registry *r, const char *repo, const char *tag, const char *target,
		     char **digest_before, char **digest_after);

/*
 * When the image tag_or_digest was built: the "created" field of its config
 * blob (RFC 3339), as unix seconds. For an index (multi-arch) the first
 * linux/amd64 entry is used, else the first entry. A config without a
 * (parseable) "created", or one before 1970, gives 0. *digest (caller's; may
 * be NULL) is the digest tag_or_digest resolves to (the index's, for an
 * index).
 */
int registry_image_created(struct registry *r, const char *repo, const char *tag_or_digest,
			   int64_t *created_unix, char **digest);

/*
 * SPEC §6 order: tags that start with a build number followed by '-' or the
 * end ("2182-develop-b05419e", "2182") come first, largest number first
 * (equal numbers by name); all others follow by name, ascending ("latest"
 * is just another name). Sorts in place.
 */
void registry_sort_tags(char **tags, size_t n);

/* Names as the OCI distribution spec defines them. */
bool registry_valid_repo(const char *repo);      /* a/b-c/d.e, at most 255 chars */
bool registry_valid_tag(const char *tag);        /* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
bool registry_valid_digest(const char *digest);  /* algo:hex; sha256 needs 64 lower-case hex */

/* The message for the last failed registry_* call on this thread ("" if the
 * last call succeeded). Valid until the next registry call on this thread. */
const char *registry_last_error(void);
/* For implementations and fakes: set that message; returns rc unchanged. */
int registry_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "sha256:<64 hex>" of data, into out (at least 72 bytes). */
void registry_digest_of(const void *data, size_t len, char out[72]);

/* RFC 3339 ("2024-05-02T12:34:56.789+02:00", 'Z', 't', ' ' accepted) to unix
 * seconds (fraction dropped). VIVA_EPARSE if s is not such a time. */
int registry_parse_time(const char *s, int64_t *out);

#endif
