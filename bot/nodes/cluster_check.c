/*
 * Cluster configs, value checks (see cluster.c for the map of the files):
 * versions, addresses, HOST:PORT, host names, globs, and the near-miss test
 * that keeps a misspelt key from becoming a template variable.
 */
#include "bot/nodes/cluster_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How much of a bad value a message quotes. */
#define SHOW_MAX 96

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

/* digits at *p (1..6 of them, no leading zero but "0"); advances *p */
static bool number(const char **p)
{
	const char *s = *p;
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	if (n == 0 || n > 6 || (n > 1 && s[0] == '0'))
		return false;
	*p = s + n;
	return true;
}

/*
 * [v]MAJOR.MINOR.PATCH[-pre], pre being dot-separated [0-9A-Za-z]+ (1.27.0-rc.1).
 * The result names a folder of node files, so it must stay this plain.
 */
const char *cluster_check_version(const char *v, char **norm)
{
	static const char why[] = "is not a version (MAJOR.MINOR.PATCH, e.g. 1.25.6)";
	const char *p = v;

	if (norm)
		*norm = NULL;
	if (*p == 'v')
		p++;
	if (strlen(p) > 64 || !number(&p) || *p++ != '.' || !number(&p) || *p++ != '.' || !number(&p))
		return why;
	if (*p == '-') {
		bool part = false;

		for (p++; *p; p++) {
			if (isalnum((unsigned char)*p))
				part = true;
			else if (*p == '.' && part)
				part = false;
			else
				return why;
		}
		if (!part)
			return why;
	}
	if (*p)
		return why;
	if (norm)
		*norm = xstrdup(v[0] == 'v' ? v + 1 : v);
	return NULL;
}

/* CUDA's own names: 12.2.1_535.86.10_linux, 12.2, 12.2.1-1. */
const char *cluster_check_cuda(const char *v)
{
	static const char why[] = "is not a CUDA version (e.g. 12.2.1_535.86.10_linux)";
	const char *p = v;

	if (strlen(v) > 64 || !number(&p) || *p++ != '.' || !number(&p))
		return why;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+-", *p))
			return why;
	return NULL;
}

const char *cluster_check_ip(const char *v)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
		return NULL;
	return "is not an IP address";
}

/* A lower-case DNS-1123 subdomain: labels of [a-z0-9-], not starting or ending in '-'. */
const char *cluster_check_host(const char *v)
{
	size_t n = strlen(v), label = 0;

	if (n == 0 || n > 253)
		return "is not a host name (at most 253 characters)";
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (c == '.') {
			if (label == 0 || v[i - 1] == '-')
				return "is not a host name (lower-case DNS labels separated by dots)";
			label = 0;
		} else if (is_lower_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return "is not a host name (a label is at most 63 characters)";
		} else {
			return "is not a host name (lower-case letters, digits, '-' and '.')";
		}
	}
	if (label == 0 || v[n - 1] == '-')
		return "is not a host name (lower-case DNS labels separated by dots)";
	return NULL;
}

/* HOST:PORT, HOST an IPv4 address, a [IPv6] one or a host name; PORT 1..65535. */
const char *cluster_check_endpoint(const char *v)
{
	static const char why[] = "is not HOST:PORT (e.g. 10.0.0.10:6443 or [fd00::10]:6443)";
	const char *colon = strrchr(v, ':');
	char *host;
	long port;
	char *end;
	bool ok;

	if (!colon || !colon[1] || strlen(v) > 260)
		return why;
	port = strtol(colon + 1, &end, 10);
	if (*end || !is_digit(colon[1]) || port < 1 || port > 65535)
		return why;
	if (v[0] == '[') {
		unsigned char buf[16];

		if (colon - v < 3 || colon[-1] != ']')
			return why;
		host = xstrndup(v + 1, (size_t)(colon - v - 2));
		ok = inet_pton(AF_INET6, host, buf) == 1;
	} else {
		host = xstrndup(v, (size_t)(colon - v));
		ok = !strchr(host, ':') && (cluster_check_ip(host) == NULL || cluster_check_host(host) == NULL);
	}
	free(host);
	return ok ? NULL : why;
}

/*
 * A glob on host names (fnmatch): host-name characters and * ? [ ] ! - ^,
 * every '[' closed. fnmatch itself accepts anything; this catches the
 * pattern that could never match what was meant.
 */
const char *cluster_check_glob(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253)
		return "is not a host name glob (1 to 253 characters)";
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (c == '[') {
			/* at least one character in the class: "[]x]" holds a ']' */
			const char *close = i + 2 <= n ? strchr(v + i + 2, ']') : NULL;

			if (!close)
				return "is not a host name glob: a '[' is not closed";
			i = (size_t)(close - v);
			continue;
		}
		if (!is_lower_alnum(c) && !strchr(".-*?", c))
			return "is not a host name glob (lower-case letters, digits, '-', '.', * ? and [...])";
	}
	return NULL;
}

/* a and b equal but for case, or one insert, delete, substitute or swap of neighbours apart */
bool cluster_near_miss(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), i = 0;

	if (strcasecmp(a, b) == 0)
		return true;
	if (n < 4 || m < 4)
		return false;  /* short names are too close to everything */
	while (i < n && i < m && a[i] == b[i])
		i++;
	if (n == m) {
		if (strcmp(a + i + 1, b + i + 1) == 0)
			return true;                      /* substitute */
		return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] &&
		       strcmp(a + i + 2, b + i + 2) == 0;  /* swap */
	}
	if (n == m + 1)
		return strcmp(a + i + 1, b + i) == 0;   /* a has one more */
	if (m == n + 1)
		return strcmp(a + i, b + i + 1) == 0;
	return false;
}

char *cluster_show(const char *s)
{
	return text_quote(s, SHOW_MAX);
}
