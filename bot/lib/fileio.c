/* Reading files safely, writing a file for a person (see fileio.h). */
#include "bot/lib/fileio.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define READ_FILE_MAX ((size_t)64 << 20)

/*
 * openat2(2) with RESOLVE_BENEATH: the kernel refuses (EXDEV) any path that
 * would leave dirfd, symlinks included. Without it (Linux before 5.6, or a
 * seccomp profile that hides it) no symlink is followed at all.
 */
static int open_beneath(int dirfd, const char *path, int oflags)
{
#ifdef SYS_openat2
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)oflags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd;
#endif
	if (path[0] == '/' || strstr(path, "..")) {
		errno = EXDEV;
		return -1;
	}
	return openat(dirfd, path, oflags | O_NOFOLLOW);
}

static int refuse(int rc, const char *text, const char **why)
{
	if (why)
		*why = text;
	return rc;
}

int read_regular_file(int dirfd, const char *path, unsigned flags, size_t max, char **out, size_t *len,
		      const char **why)
{
	/* O_NONBLOCK: opening a FIFO with no writer must not hang the caller */
	int oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	struct stat st;
	char *buf = NULL;
	size_t got = 0, cap;
	int fd, rc = VIVA_OK;

	*out = NULL;
	if (len)
		*len = 0;
	if (why)
		*why = NULL;
	if (!path || !*path)
		return refuse(VIVA_ENOENT, "does not exist", why);
	fd = (flags & READ_BENEATH) ? open_beneath(dirfd, path, oflags) : openat(dirfd, path, oflags);
	if (fd < 0) {
		switch (errno) {
		case ENOENT:
		case ENOTDIR:
			return refuse(VIVA_ENOENT, "does not exist", why);
		case EXDEV:
		case ELOOP:
			return refuse(VIVA_EDENIED, "a link out of the directory", why);
		case ENXIO:    /* a socket, or a FIFO opened for writing only */
			return refuse(VIVA_EINVAL, "not a regular file", why);
		default:
			return refuse(VIVA_EIO, "cannot be read", why);
		}
	}
	if (fstat(fd, &st) != 0) {
		rc = refuse(VIVA_EIO, "cannot be read", why);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = refuse(VIVA_EINVAL, "not a regular file", why);
		goto out;
	}
	if ((uintmax_t)st.st_size > (uintmax_t)max) {
		rc = refuse(VIVA_ERANGE, "larger than the limit", why);
		goto out;
	}
	/* room for one byte more than fstat said (a file that grows past max
	 * is caught), and for the NUL */
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (got == cap) {
			if (got > max) {
				rc = refuse(VIVA_ERANGE, "larger than the limit", why);
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = refuse(VIVA_EIO, "cannot be read", why);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max) {
			rc = refuse(VIVA_ERANGE, "larger than the limit", why);
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
out:
	free(buf);
	close(fd);
	return rc;
}

int read_file(const char *path, char **out, size_t *len)
{
	return read_regular_file(AT_FDCWD, path, 0, READ_FILE_MAX, out, len, NULL);
}

int read_file_max(const char *path, size_t max, char **out, size_t *len)
{
	return read_regular_file(AT_FDCWD, path, 0, max, out, len, NULL);
}

/* s reduced to [A-Za-z0-9._-], at most max bytes, no leading or double dot; dflt when empty. */
static void safe_name(const char *s, size_t max, const char *dflt, char *out)
{
	size_t n = 0;

	for (; s && *s && n < max; s++) {
		char c = *s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || (c == '.' && n > 0 && out[n - 1] != '.'))
			out[n++] = c;
	}
	if (n == 0)
		n = (size_t)sprintf(out, "%s", dflt);
	out[n] = '\0';
}

int save_output_file(const char *dir, const char *stem, const char *ext, const void *data, size_t len,
		     char **path, char *err, size_t errlen)
{
	char st[65], ex[17], *tmpl = NULL, *abs = NULL;
	size_t off = 0;
	int fd = -1, rc = VIVA_OK;
	bool created = false;

	if (path)
		*path = NULL;
	if (!path || (!data && len)) {
		viva_errf(err, errlen, "viva has nothing to save");
		return VIVA_EINVAL;
	}
	if (dir && *dir) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			viva_errf(err, errlen, "viva cannot create the directory %s: %s", dir, strerror(errno));
			return VIVA_EIO;
		}
	} else {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
	}
	safe_name(stem, 64, "viva", st);
	safe_name(ext, 16, "bin", ex);
	tmpl = xasprintf("%s/%s-XXXXXX.%s", dir, st, ex);
	fd = mkostemps(tmpl, (int)strlen(ex) + 1, O_CLOEXEC);
	if (fd < 0) {
		viva_errf(err, errlen, "viva cannot create a file in %s: %s", dir, strerror(errno));
		rc = VIVA_EIO;
		goto out;
	}
	created = true;
	while (off < len) {
		ssize_t k = write(fd, (const char *)data + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			viva_errf(err, errlen, "viva cannot write %s: %s", tmpl, k < 0 ? strerror(errno) : "no space");
			rc = VIVA_EIO;
			goto out;
		}
		off += (size_t)k;
	}
	if (close(fd) != 0) {
		fd = -1;
		viva_errf(err, errlen, "viva cannot write %s: %s", tmpl, strerror(errno));
		rc = VIVA_EIO;
		goto out;
	}
	fd = -1;
	abs = realpath(tmpl, NULL);
	*path = abs ? abs : xstrdup(tmpl);
out:
	if (fd >= 0)
		close(fd);
	if (rc != VIVA_OK && created)
		unlink(tmpl);
	free(tmpl);
	return rc;
}
