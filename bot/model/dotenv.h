#ifndef VIVA_BOT_MODEL_DOTENV_H
#define VIVA_BOT_MODEL_DOTENV_H

#include <stddef.h>

/*
 * The `.env` file: variables for viva when they are not in the process
 * environment (config.c decides the precedence).
 *
 * Syntax, one assignment a line:
 *   - blank lines and lines whose first non-blank is '#' are skipped;
 *   - an optional `export ` prefix, then KEY ([A-Za-z_][A-Za-z0-9_]*),
 *     blanks allowed around '=';
 *   - VALUE is 'single quoted' (taken literally), "double quoted" (\n, \"
 *     and \\ decoded, other escapes kept as written), or unquoted: it ends
 *     at " #" (a comment, as in a shell) and loses trailing blanks; after a
 *     closing quote only blanks and a comment may follow;
 *   - a UTF-8 byte order mark at the start and CRLF line ends are fine;
 *   - the last assignment of a key wins, as in a shell.
 * Lines holding a NUL byte are refused.
 *
 * Errors read "NAME:LINE: what", e.g. ".env:3: unterminated double quote",
 * and never quote the line: a .env holds secrets.
 */

#define DOTENV_MAX_BYTES (1024 * 1024)

struct dotenv {
	char **keys;
	char **vals;
	size_t n, cap;
};

void dotenv_init(struct dotenv *d);
/* Frees everything; values are overwritten first (they may be secrets). */
void dotenv_release(struct dotenv *d);

/*
 * Add the assignments of text (len bytes) to d; name is the file's name in
 * messages. VIVA_OK, or VIVA_EINVAL with one line in err (d then holds the
 * lines before the bad one; release it either way).
 */
int dotenv_parse(struct dotenv *d, const char *text, size_t len, const char *name, char *err,
		 size_t errlen);

/*
 * Read and parse the file at path (at most DOTENV_MAX_BYTES). A missing
 * file is fine: VIVA_OK with nothing added. VIVA_EINVAL (bad line, too
 * large) or VIVA_EIO (cannot read), with one line in err.
 */
int dotenv_load(struct dotenv *d, const char *path, char *err, size_t errlen);

/* The value of key (borrowed), NULL when not assigned. */
const char *dotenv_get(const struct dotenv *d, const char *key);

#endif
