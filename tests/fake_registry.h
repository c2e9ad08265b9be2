#ifndef VIVA_TESTS_FAKE_REGISTRY_H
#define VIVA_TESTS_FAKE_REGISTRY_H

#include <jansson.h>

#include "bot/clients/registry.h"

/*
 * An in-memory registry behind struct registry_ops, for handler tests: it
 * stores manifests by repository and tag (bytes, media type, digest computed
 * like a registry does), config blobs with a "created" time, counts every
 * call, and can be told to fail.
 */
struct fake_registry {
	struct registry base;
	json_t *repos;        /* repo -> {"tags": {tag: digest}, "manifests": {digest: {...}}, "blobs": {...}} */
	int calls_list, calls_get, calls_put, calls_head, calls_blob;
	int fail_rc;          /* non-zero: every call fails with it */
	int put_answer_lost;  /* > 0: that many PUTs are applied, then answered with a
			       * reset connection (VIVA_EUNAVAIL), as a registry whose
			       * answer is cut off after it stored the manifest */
	const char *fail_msg;
};

struct fake_registry *fake_registry_new(void);
void fake_registry_free(struct fake_registry *f);
/* Push an image: a config blob with `created` (unix seconds) and a manifest under tag. */
void fake_registry_push(struct fake_registry *f, const char *repo, const char *tag, int64_t created);
/* The digest a tag points at ("" when none; borrowed). */
const char *fake_registry_digest(struct fake_registry *f, const char *repo, const char *tag);
int fake_registry_calls(struct fake_registry *f);

#endif
