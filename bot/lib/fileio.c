/* Reading files (see fileio.h). */
#include "bot/lib/fileio.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

int read_file(const char *path, char **out, size_t *len)
{
	return read_file_max(path, SIZE_MAX, out, len);
}

int read_file_max(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct strbuf sb;
	char chunk[8192];
	size_t n;
	int err = VIVA_OK, saved = 0;

	*out = NULL;
	if (len)
		*len = 0;
	if (!f)
		return errno == ENOENT ? VIVA_ENOENT : VIVA_EIO;
	sb_init(&sb);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (n > max - sb.len) {
			err = VIVA_ERANGE;
			break;
		}
		sb_add(&sb, chunk, n);
	}
	if (!err && ferror(f)) {
		saved = errno ? errno : EIO;
		err = VIVA_EIO;
	}
	fclose(f);
	if (err) {
		sb_release(&sb);
		errno = saved;
		return err;
	}
	if (len)
		*len = sb.len;
	*out = sb_detach(&sb);
	return VIVA_OK;
}
