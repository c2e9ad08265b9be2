#ifndef VIVA_BOT_LIB_FILEIO_H
#define VIVA_BOT_LIB_FILEIO_H

#include <stddef.h>

/*
 * Reading files that someone else controls (the spec directory of record,
 * viva.yaml, .env, template overrides, later cluster configs) without
 * letting them take viva down: only a regular file is read (a FIFO, a
 * device, a directory is refused before a byte is read, and opening never
 * blocks), its size is checked before reading and while reading (a file
 * that grows), and with READ_BENEATH the path may not leave the directory
 * it is relative to, not even through a symlink (symlinks that stay inside,
 * as Kubernetes ConfigMap volumes make them, are fine). Nothing here
 * follows /proc's magic links.
 */
enum {
	READ_BENEATH = 1u << 0,
};

/*
 * Read `path` (relative to the directory open at dirfd, or AT_FDCWD) into
 * *out (NUL-terminated, caller frees) and *len (may be NULL), at most max
 * bytes. Returns VIVA_OK, or on refusal, with *why a short reason for a
 * report (static text, never NULL on failure):
 *   VIVA_ENOENT   "does not exist"
 *   VIVA_EDENIED  "a link out of the directory"
 *   VIVA_EINVAL   "not a regular file"
 *   VIVA_ERANGE   "larger than the limit"
 *   VIVA_EIO      "cannot be read"
 * why may be NULL.
 */
int read_regular_file(int dirfd, const char *path, unsigned flags, size_t max, char **out, size_t *len,
		      const char **why);

/* A regular file of at most 64 MiB, symlinks followed: read_regular_file()
 * relative to the working directory. VIVA_ENOENT / VIVA_EINVAL / ... */
int read_file(const char *path, char **out, size_t *len);

/* The same for a file of at most max bytes (VIVA_ERANGE past it). */
int read_file_max(const char *path, size_t max, char **out, size_t *len);

#endif
