/* The built-in templates (see builtin.h); the table itself is generated. */
#include "bot/model/builtin.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct builtin_file *builtin_find(const char *path)
{
	for (size_t i = 0; path && i < builtin_files_len; i++)
		if (strcmp(builtin_files[i].path, path) == 0)
			return &builtin_files[i];
	return NULL;
}

/* mkdir -p of the directories above path (path itself is a file). */
static int make_parents(const char *path, char *err, size_t errlen)
{
	char *p = xstrdup(path);
	int rc = VIVA_OK;

	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
			rc = VIVA_EIO;
			break;
		}
		*s = '/';
	}
	free(p);
	return rc;
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

int builtin_dump(const char *dir, int overwrite, size_t *written, size_t *skipped,
		 char *err, size_t errlen)
{
	size_t nw = 0, ns = 0;
	int rc = VIVA_OK;

	for (size_t i = 0; i < builtin_files_len && rc == VIVA_OK; i++) {
		const struct builtin_file *b = &builtin_files[i];
		char *path = xasprintf("%s/%s", dir, b->path);
		int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
		int fd;

		rc = make_parents(path, err, errlen);
		if (rc == VIVA_OK) {
			fd = open(path, flags, (mode_t)b->mode);
			if (fd < 0 && errno == EEXIST && !overwrite) {
				ns++;
			} else if (fd < 0) {
				snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
				rc = VIVA_EIO;
			} else {
				if (write_all(fd, b->data, b->len) != 0 || fchmod(fd, (mode_t)b->mode) != 0) {
					snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
					rc = VIVA_EIO;
				} else {
					nw++;
				}
				close(fd);
			}
		}
		free(path);
	}
	if (written)
		*written = nw;
	if (skipped)
		*skipped = ns;
	return rc;
}
