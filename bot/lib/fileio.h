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

/*
 * Write len bytes to a new file for a person to open (the console saves a
 * chart it cannot show): in dir when it is given (cfg->out_dir,
 * VIVA_OUT_DIR; created 0700 if missing, one level), else in $TMPDIR or
 * /tmp. The name is
 * "<stem>-XXXXXX.<ext>" with 6 random characters, stem and ext reduced to
 * [A-Za-z0-9._-] without a leading or double dot (at most 64 and 16 bytes;
 * "viva" and "bin" when nothing is left). The file is created with O_EXCL, mode 0600 (mkostemps): never
 * an existing file, never through a link someone planted in a shared
 * directory. On VIVA_OK *path is its absolute path (caller frees); else
 * *path is NULL, nothing is left behind, and err (may be NULL) says which
 * directory and why: VIVA_EIO (also for a directory that cannot be made
 * or written), VIVA_EINVAL for NULL data or path.
 */
int save_output_file(const char *dir, const char *stem, const char *ext, const void *data, size_t len,
		     char **path, char *err, size_t errlen);

#endif
