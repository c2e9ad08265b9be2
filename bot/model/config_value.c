/*
 * Small helpers for one configuration value, shared by the parts of the
 * config loader (config_env.c, config_yaml.c, config_schema.c): quoting a
 * value for an error line, URL and control-character tests, whole numbers,
 * a leading ~/. Internal to the config*.c files (config_impl.h).
 */
#include "bot/model/config_impl.h"
#include "bot/lib/alloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers -------------------------------------------------------- */

/*
 * Quote a (non-secret) value for an error line: at most SHOW_MAX bytes,
 * quotes and backslashes escaped, control bytes as '?'.
 */
const char *config_show(char *buf, size_t buflen, const char *s, size_t n)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < n && o + 6 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void config_replace_str(char **slot, char *v)
{
	free(*slot);
	*slot = v;
}

bool config_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool config_is_http_url(const char *s)
{
	const char *rest;

	if (config_has_prefix(s, "http://"))
		rest = s + 7;
	else if (config_has_prefix(s, "https://"))
		rest = s + 8;
	else
		return false;
	if (!*rest)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

bool config_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool config_parse_whole(const char *s, long *out)
{
	long v = 0;
	bool neg = false;
	size_t i = 0, n = strlen(s);

	if (n == 0 || n > 12)
		return false;
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* "~/x" -> "$HOME/x". false when s needs HOME and there is none. */
bool config_expand_home(char **s)
{
	const char *home;
	size_t hl;

	if (!(*s)[0] || (*s)[0] != '~' || ((*s)[1] && (*s)[1] != '/'))
		return true;
	home = getenv("HOME");
	if (!home || !*home)
		return false;
	hl = strlen(home);
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	config_replace_str(s, xasprintf("%.*s%s", (int)hl, home, *s + 1));
	return true;
}
