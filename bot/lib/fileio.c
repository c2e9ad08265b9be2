/* Reading files safely (see fileio.h). */
#include "bot/lib/fileio.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
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
