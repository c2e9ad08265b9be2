#ifndef VIVA_BOT_CLIENTS_REGISTRY_IMPL_H
#define VIVA_BOT_CLIENTS_REGISTRY_IMPL_H

/*
 * Internal to the registry client's own files (bot/clients/registry*.c):
 * what the entry points of registry.c share with the real client behind
 * them, so that both word their messages and keep batch items alike.
 * Handlers, fakes and tests use registry.h only.
 */
#include "bot/clients/registry.h"

#include <stddef.h>

/* The most a config blob read for a build time may hold (what get_blob's
 * max of 0 means too). */
#define REGISTRY_MAX_BLOB_BYTES ((size_t)4 << 20)

/* registry_last_error() becomes "" (a call or a step of an item starts). */
void registry_clear_error(void);

/* s (user or remote text; NULL is "(none)") fit for a message: printable
 * ASCII only, at most max bytes, "..." where it was cut. Written into buf
 * (bufsz bytes), which is returned. */
const char *registry_shown(const char *s, char *buf, size_t bufsz, size_t max);

/* The message for a name refused before any request was sent, in
 * registry_last_error(); they return VIVA_EINVAL. */
int registry_bad_repo(const char *repo);
int registry_bad_tag(const char *tag);
int registry_bad_ref(const char *ref);
int registry_bad_digest(const char *digest);

/* "team/x:tag" or "team/x@sha256:..." for messages (caller frees). */
char *registry_ref_display(const char *repo, const char *ref);

/* A batch's item before its requests: rc VIVA_OK, outputs NULL/0 (what
 * they held is overwritten, not freed). */
void registry_item_start(struct registry_item *it);
/* The item failed with rc; its message is a copy of registry_last_error()
 * (or rc's name when that is empty). */
void registry_item_fail(struct registry_item *it, int rc);
/* The item's outcome as a call's result: rc, with the item's message put
 * into registry_last_error(). */
int registry_item_rc(const struct registry_item *it);

#endif
