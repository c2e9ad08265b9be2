#ifndef VIVA_STORE_IMAGES_H
#define VIVA_STORE_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- image build times (registry config blobs, cached by digest) ----------- */
int store_image_created_get(struct store *st, const char *digest, int64_t *created);
int store_image_created_put(struct store *st, const char *digest, int64_t created);

#endif
