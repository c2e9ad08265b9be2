#ifndef VIVA_STORE_SERVICES_H
#define VIVA_STORE_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- service catalog ----------------------------------------------------- */
/*
 * One row per service (pipeline spec), with every revision kept. A deleted
 * service keeps its row (deleted_at set) for the audit log and the savings
 * tally; putting it again revives it with a new revision.
 */
struct store_service {
	char *name;
	char *type;          /* service | batch | frontend */
	char *spec_yaml;     /* the text of record */
	char *spec_json;     /* the parsed spec, JSON */
	int revision;        /* 1, 2, ... */
	char *source;        /* "file:service-a.yaml", "form" */
	int64_t created_at;
	int64_t updated_at;
	int64_t deleted_at;  /* 0 while active */
};

struct store_service_put {
	const char *name, *type, *spec_yaml, *spec_json, *source, *author;
	const char *image;   /* its registry repository; NULL: none */
	int64_t now;         /* the caller's clock, > 0 */
	/* When the service came to be, for a new (or revived) row's created_at:
	 * its spec file's modification time when viva first loads it, so a
	 * freshly installed viva does not take every service for new; 0 (or
	 * later than now): now. */
	int64_t born;
	bool create_only;    /* VIVA_ECONFLICT when an active service has the name */
	/* An image repository belongs to one pipeline: when another active
	 * service has `image`, the put is refused with VIVA_ECONFLICT and, if
	 * this is not NULL, *image_owner names that service (caller frees). */
	char **image_owner;
};

/* VIVA_ENOENT when there is no such row (deleted rows are returned). */
int store_service_get(struct store *st, const char *name, struct store_service *out);
/*
 * Insert or update (and revive). Unchanged text is not a new revision:
 * *changed is false then. *revision gets the current revision.
 */
int store_service_put(struct store *st, const struct store_service_put *p, int *revision, bool *changed);
/* All services ordered by type then name; deleted ones only when asked. */
int store_service_list(struct store *st, bool include_deleted, struct store_service **out, size_t *n);
/*
 * The active service whose image is `image` (the earliest created, should
 * an old database hold two), in *name (caller frees); VIVA_ENOENT if none.
 */
int store_service_image_owner(struct store *st, const char *image, char **name);
/* Mark deleted; VIVA_ENOENT when no active service has the name. */
int store_service_mark_deleted(struct store *st, const char *name, int64_t now);
void store_service_release(struct store_service *sv);
void store_services_free(struct store_service *v, size_t n);

struct store_revision {
	int revision;
	char *author;
	char *source;
	int64_t ts;
};
/* Newest first, at most limit. */
int store_service_revisions(struct store *st, const char *name, int limit,
			    struct store_revision **out, size_t *n);
void store_revisions_free(struct store_revision *v, size_t n);

#endif
