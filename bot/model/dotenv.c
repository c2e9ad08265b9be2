/* The .env file (see dotenv.h). */
#include "bot/model/dotenv.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dotenv_init(struct dotenv *d)
{
	memset(d, 0, sizeof(*d));
}

void dotenv_release(struct dotenv *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->keys[i]);
		free_secret(d->vals[i]);
	}
	free(d->keys);
	free(d->vals);
	memset(d, 0, sizeof(*d));
}

const char *dotenv_get(const struct dotenv *d, const char *key)
{
	/* Last assignment wins, as in a shell. */
	for (size_t i = d->n; i > 0; i--)
		if (strcmp(d->keys[i - 1], key) == 0)
			return d->vals[i - 1];
	return NULL;
}

/* Takes ownership of val. */
static void dotenv_add(struct dotenv *d, const char *key, size_t klen, char *val)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->keys = xrealloc(d->keys, d->cap * sizeof(*d->keys));
		d->vals = xrealloc(d->vals, d->cap * sizeof(*d->vals));
	}
	d->keys[d->n] = xstrndup(key, klen);
	d->vals[d->n] = val;
	d->n++;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9');
}

/* A loop, not memchr: GCC cannot prove end >= p and warns about the bound. */
static bool has_byte(const char *p, const char *end, char c)
{
	for (; p < end; p++)
		if (*p == c)
			return true;
	return false;
}

/*
 * One .env line (without its newline). On error returns VIVA_EINVAL and sets
 * *why to a static message; the line itself is never quoted because it may
 * hold a secret.
 */
static int dotenv_line(struct dotenv *d, const char *p, const char *end, const char **why)
{
	struct strbuf v;
	const char *key;
	size_t klen;
	int err = VIVA_OK;

	sb_init(&v);
	if (has_byte(p, end, '\0')) {
		*why = "contains a NUL byte";
		err = VIVA_EINVAL;
		goto out;
	}
	while (p < end && is_blank(*p))
		p++;
	if (p == end || *p == '#')
		goto out;
	/* Most likely a pasted value on a line of its own. */
	if (!has_byte(p, end, '=')) {
		*why = "expected KEY=VALUE";
		err = VIVA_EINVAL;
		goto out;
	}
	if (end - p > 7 && memcmp(p, "export", 6) == 0 && is_blank(p[6])) {
		p += 6;
		while (p < end && is_blank(*p))
			p++;
	}
	key = p;
	if (p == end || !is_key_start(*p)) {
		*why = "invalid variable name (letters, digits and '_', not starting with a digit)";
		err = VIVA_EINVAL;
		goto out;
	}
	while (p < end && is_key_char(*p))
		p++;
	klen = (size_t)(p - key);
	if (p < end && !is_blank(*p) && *p != '=') {
		*why = "invalid variable name (letters, digits and '_', not starting with a digit)";
		err = VIVA_EINVAL;
		goto out;
	}
	while (p < end && is_blank(*p))
		p++;
	if (p == end || *p != '=') {
		*why = "expected KEY=VALUE";
		err = VIVA_EINVAL;
		goto out;
	}
	p++;
	while (p < end && is_blank(*p))
		p++;

	if (p < end && (*p == '"' || *p == '\'')) {
		char q = *p++;
		bool closed = false;

		while (p < end) {
			if (q == '"' && *p == '\\' && p + 1 < end) {
				switch (p[1]) {
				case 'n': sb_addc(&v, '\n'); break;
				case '"': sb_addc(&v, '"'); break;
				case '\\': sb_addc(&v, '\\'); break;
				default: /* unknown escapes stay as written */
					sb_addc(&v, '\\');
					sb_addc(&v, p[1]);
				}
				p += 2;
				continue;
			}
			if (*p == q) {
				closed = true;
				p++;
				break;
			}
			sb_addc(&v, *p++);
		}
		if (!closed) {
			*why = q == '"' ? "unterminated double quote" : "unterminated single quote";
			err = VIVA_EINVAL;
			goto out;
		}
		while (p < end && is_blank(*p))
			p++;
		if (p < end && *p != '#') {
			*why = "unexpected text after the closing quote";
			err = VIVA_EINVAL;
			goto out;
		}
	} else {
		const char *s = p, *e = end;

		/* An unquoted value ends at " #", like in a shell. */
		for (const char *c = s; c < end; c++)
			if (*c == '#' && c > s && is_blank(c[-1])) {
				e = c;
				break;
			}
		while (e > s && is_blank(e[-1]))
			e--;
		sb_add(&v, s, (size_t)(e - s));
	}
	dotenv_add(d, key, klen, sb_detach(&v));
out:
	sb_release(&v);
	return err;
}

int dotenv_parse(struct dotenv *d, const char *text, size_t len, const char *name, char *err,
		 size_t errlen)
{
	const char *p = text ? text : "", *end = p + (text ? len : 0);
	size_t lineno = 0;

	if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *why = NULL;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if (dotenv_line(d, p, le, &why)) {
			viva_errf(err, errlen, "%s:%zu: %s", name, lineno, why);
			return VIVA_EINVAL;
		}
		p = nl ? nl + 1 : end;
	}
	return VIVA_OK;
}

int dotenv_load(struct dotenv *d, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	const char *why = NULL;
	size_t len = 0;
	int rc;

	rc = read_regular_file(AT_FDCWD, path, 0, DOTENV_MAX_BYTES, &buf, &len, &why);
	if (rc == VIVA_ENOENT) {
		rc = VIVA_OK;  /* .env is optional */
		goto out;
	}
	if (rc == VIVA_ERANGE) {
		viva_errf(err, errlen, "%s: larger than %d bytes", path, DOTENV_MAX_BYTES);
		rc = VIVA_EINVAL;
		goto out;
	}
	if (rc) {
		viva_errf(err, errlen, "%s: not read: %s", path, why ? why : "cannot be read");
		rc = VIVA_EIO;
		goto out;
	}
	rc = dotenv_parse(d, buf, len, path, err, errlen);
out:
	free_secret(buf);
	return rc;
}
