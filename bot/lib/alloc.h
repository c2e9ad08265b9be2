#ifndef VIVA_BOT_LIB_ALLOC_H
#define VIVA_BOT_LIB_ALLOC_H

#include <stddef.h>

/*
 * Allocation that never returns NULL: out of memory logs one line and aborts
 * (error paths in viva cover I/O and remote failures, not malloc).
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);            /* NULL -> NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overwrite a secret (token, password) before freeing it; NULL is fine. */
void free_secret(char *s);

#endif
