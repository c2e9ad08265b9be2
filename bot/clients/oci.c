/*
 * What the OCI distribution spec defines and needs no network (see oci.h;
 * the public functions are documented in registry.h): digests of bytes,
 * repository, tag and digest names, media types, the order of tags
 * (SPEC §6) and the RFC 3339 times of image configs.
 */
#include "bot/clients/oci.h"
#include "bot/clients/registry.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/times.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* ---- digests ---------------------------------------------------------------- */

void registry_digest_of(const void *data, size_t len, char out[72])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(len ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		/* only a broken libcrypto fails here: as out of memory */
		log_error("sha256 failed", "where=EVP_Digest");
		abort();
	}
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[71] = '\0';
}

/* ---- names ---------------------------------------------------------------- */

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
bool registry_valid_repo(const char *s)
{
	const char *p = s;

	if (!s || !*s || strlen(s) > 255)
		return false;
	for (;;) {
		if (!lower_alnum(*p))
			return false;
		while (lower_alnum(*p))
			p++;
		while (*p == '.' || *p == '_' || *p == '-') {
			if (*p == '.') {
				p++;
			} else if (*p == '_') {
				p++;
				if (*p == '_')
					p++;
			} else {
				while (*p == '-')
					p++;
			}
			if (!lower_alnum(*p))
				return false;
			while (lower_alnum(*p))
				p++;
		}
		if (*p == '\0')
			return true;
		if (*p != '/')
			return false;
		p++;
	}
}

bool registry_valid_tag(const char *t)
{
	size_t i = 0;

	if (!t || !(is_alnum(t[0]) || t[0] == '_'))
		return false;
	for (i = 1; t[i]; i++) {
		if (i >= 128)
			return false;
		if (!(is_alnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	}
	return true;
}

/* algorithm: [a-z0-9]+([+._-][a-z0-9]+)*  ':'  encoded: [a-zA-Z0-9=_-]+ */
bool registry_valid_digest(const char *d)
{
	const char *p = d, *colon;
	size_t n;

	if (!d || strlen(d) > 255)
		return false;
	colon = strchr(d, ':');
	if (!colon || colon == d || !colon[1])
		return false;
	if (!lower_alnum(*p))
		return false;
	for (; p < colon; p++) {
		if (lower_alnum(*p))
			continue;
		if ((*p == '+' || *p == '.' || *p == '_' || *p == '-') && lower_alnum(p[-1]) &&
		    p + 1 < colon && lower_alnum(p[1]))
			continue;
		return false;
	}
	for (p = colon + 1; *p; p++)
		if (!(is_alnum(*p) || *p == '=' || *p == '_' || *p == '-'))
			return false;
	n = strlen(colon + 1);
	if ((size_t)(colon - d) == 6 && strncmp(d, "sha256", 6) == 0) {
		if (n != 64)
			return false;
		for (p = colon + 1; *p; p++)
			if (!is_lower_hex(*p))
				return false;
	} else if ((size_t)(colon - d) == 6 && strncmp(d, "sha512", 6) == 0) {
		if (n != 128)
			return false;
		for (p = colon + 1; *p; p++)
			if (!is_lower_hex(*p))
				return false;
	}
	return true;
}

bool oci_valid_ref(const char *ref)
{
	return registry_valid_tag(ref) || registry_valid_digest(ref);
}

/* ---- media types ------------------------------------------------------------ */

/* A media type as a header value: type/subtype with token characters only. */
bool oci_valid_media_type(const char *m)
{
	size_t i = 0;
	bool slash = false;

	if (!m || !*m)
		return false;
	for (; m[i]; i++) {
		char c = m[i];
		if (i >= 255)
			return false;
		if (c == '/') {
			if (slash || i == 0 || !m[i + 1])
				return false;
			slash = true;
			continue;
		}
		if (!(is_alnum(c) || strchr("!#$&^_.+-", c)))
			return false;
	}
	return slash;
}

bool oci_is_index_type(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0);
}

/* ---- tag order (SPEC §6) -------------------------------------------------- */

/* Length of the leading build number, or 0 when the tag has none: digits
 * followed by '-' or the end. */
static size_t build_number_len(const char *t)
{
	size_t n = 0;

	while (t[n] >= '0' && t[n] <= '9')
		n++;
	return n > 0 && (t[n] == '-' || t[n] == '\0') ? n : 0;
}

static int cmp_tags(const void *pa, const void *pb)
{
	const char *a = *(char *const *)pa, *b = *(char *const *)pb;
	size_t na = build_number_len(a), nb = build_number_len(b);

	if (na && nb) {
		const char *da = a, *db = b;
		int c;

		/* numbers of any length: drop leading zeros, longer is larger */
		while (na > 1 && *da == '0') {
			da++;
			na--;
		}
		while (nb > 1 && *db == '0') {
			db++;
			nb--;
		}
		if (na != nb)
			return na > nb ? -1 : 1;
		c = memcmp(da, db, na);
		if (c)
			return c > 0 ? -1 : 1;
		return strcmp(a, b);
	}
	if (na)
		return -1;
	if (nb)
		return 1;
	return strcmp(a, b);
}

void registry_sort_tags(char **tags, size_t n)
{
	if (tags && n > 1)
		qsort(tags, n, sizeof(*tags), cmp_tags);
}

/* ---- time ------------------------------------------------------------------ */

/* n digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return true;
}

int registry_parse_time(const char *s, int64_t *out)
{
	const char *p = s;
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;

	if (!s || !out)
		return VIVA_EINVAL;
	*out = 0;
	if (!digits(&p, 4, &Y) || *p++ != '-' || !digits(&p, 2, &M) || *p++ != '-' ||
	    !digits(&p, 2, &D))
		return VIVA_EPARSE;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return VIVA_EPARSE;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &m) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return VIVA_EPARSE;
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9' && p - f < 64)
			p++;
		if (p == f)
			return VIVA_EPARSE;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh))
			return VIVA_EPARSE;
		if (*p == ':')
			p++;
		if (!digits(&p, 2, &om))
			return VIVA_EPARSE;
	} else {
		return VIVA_EPARSE;
	}
	if (*p)
		return VIVA_EPARSE;
	if (M < 1 || M > 12 || D < 1 || (unsigned)D > civil_month_len(Y, (unsigned)M) ||
	    h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59)
		return VIVA_EPARSE;
	*out = civil_days_from(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return VIVA_OK;
}
