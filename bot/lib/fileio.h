#ifndef VIVA_BOT_LIB_FILEIO_H
#define VIVA_BOT_LIB_FILEIO_H

#include <stddef.h>

/* Read a whole file (caller frees); VIVA_ENOENT / VIVA_EIO. */
int read_file(const char *path, char **out, size_t *len);

#endif
