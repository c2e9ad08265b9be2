#ifndef VIVA_BOT_LIB_FILEIO_H
#define VIVA_BOT_LIB_FILEIO_H

#include <stddef.h>

/* Read a whole file (caller frees); VIVA_ENOENT / VIVA_EIO. */
int read_file(const char *path, char **out, size_t *len);

/*
 * The same for a file of at most max bytes: VIVA_ERANGE for a larger one,
 * found without reading much past max (a settings file that is /dev/zero
 * must not hang start-up). On VIVA_ENOENT and VIVA_EIO, errno tells why.
 */
int read_file_max(const char *path, size_t max, char **out, size_t *len);

#endif
