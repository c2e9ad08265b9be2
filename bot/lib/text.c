/* Text: UTF-8, names, command-line words (see text.h). */
#include "bot/lib/text.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <stdlib.h>
#include <string.h>

const char *text_shown(const char *s, char *buf, size_t bufsz, size_t max)
{
	size_t i = 0;

	if (!s)
		s = "";
	if (max >= bufsz)
		max = bufsz - 1;
	for (; s[i] && i < max; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

bool is_dns1123_label(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

size_t utf8_char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return c ? 1 : 0;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

char *utf8_sanitize(const char *s, size_t n)
{
	struct strbuf sb;
	size_t i = 0;

	sb_init(&sb);
	while (i < n && s[i]) {
		size_t k = utf8_char_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			sb_addc(&sb, '?');
			i++;
		} else {
			sb_add(&sb, s + i, k);
			i += k;
		}
	}
	return sb_detach(&sb);
}

int argv_split(const char *line, int max, int *argc, char ***argv)
{
	char **v = xcalloc((size_t)max + 1, sizeof(*v));
	struct strbuf w;
	int n = 0, err = VIVA_OK;
	const char *p = line ? line : "";

	sb_init(&w);
	for (;;) {
		bool have = false;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		w.len = 0;
		w.buf[0] = '\0';
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p && *p != q) {
					if (q == '"' && *p == '\\' && p[1])
						p++;
					sb_addc(&w, *p++);
				}
				if (*p != q) {
					err = VIVA_EINVAL;
					goto out;
				}
				p++;
				have = true;
				continue;
			}
			sb_addc(&w, *p++);
			have = true;
		}
		if (!have)
			continue;
		if (n >= max) {
			err = VIVA_ERANGE;
			goto out;
		}
		v[n++] = xstrndup(w.buf, w.len);
	}
out:
	sb_release(&w);
	if (err) {
		argv_free(v);
		*argv = NULL;
		*argc = 0;
		return err;
	}
	*argv = v;
	*argc = n;
	return VIVA_OK;
}

void argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

char *text_quote(const char *s, size_t max)
{
	struct strbuf sb;
	size_t n = 0;

	sb_init(&sb);
	sb_addc(&sb, '"');
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++, n++) {
		if (n >= max && (*p & 0xC0) != 0x80) {
			sb_adds(&sb, "...");
			break;
		}
		if (*p == '"' || *p == '\\') {
			sb_addc(&sb, '\\');
			sb_addc(&sb, (char)*p);
		} else if (*p == '\n') {
			sb_adds(&sb, "\\n");
		} else if (*p == '\t') {
			sb_adds(&sb, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			sb_addf(&sb, "\\x%02X", *p);
		} else {
			sb_addc(&sb, (char)*p);
		}
	}
	sb_addc(&sb, '"');
	return sb_detach(&sb);
}
