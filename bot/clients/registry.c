/*
 * The OCI distribution (Docker Registry HTTP API v2) client (see registry.h
 * for the contract).
 *
 * Worker threads call this concurrently. The shared object is read-only
 * after registry_new() except for the limits, the token cache and the
 * "registry uses bearer tokens" flag, all behind one mutex that is never held
 * across a network call. Each request uses its own curl easy handle: a
 * handler makes a few registry calls, so connection reuse is not worth the
 * thread-local state.
 *
 * Secrets: the password goes to libcurl for HTTP Basic only (to the registry
 * until it asks for bearer tokens, then only to the token realm); tokens only
 * into an Authorization header built per request and wiped after it. Logs
 * carry the operation, repository, reference and HTTP status, never a header.
 *
 * Registry behaviour this relies on (docker distribution 2.8.2, observed):
 * a GET of a manifest must carry Accept with every manifest type we can take
 * (no Accept gives 400 MANIFEST_INVALID for schema2, a missing OCI type gives
 * 404 for OCI), tags/list may ignore n/last and return everything in one page,
 * header names come in Go's canonical case (Www-Authenticate).
 */
#include "bot/clients/registry.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/clients/tls.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_CONNECT_TIMEOUT_MS  5000L
#define DEF_TIMEOUT_MS          30000L
#define DEF_MAX_PAGES           1000
#define DEF_MAX_TAGS            1000000L
#define PAGE_SIZE               100
#define MAX_MANIFEST_BYTES      ((size_t)4 << 20)
#define MAX_BLOB_BYTES          ((size_t)4 << 20)
/* A registry that ignores n= (2.8.2 does) sends every tag in one page. */
#define MAX_TAGS_PAGE_BYTES     ((size_t)32 << 20)
#define MAX_TOKEN_REPLY_BYTES   ((size_t)1 << 20)
#define MAX_ERROR_BODY_BYTES    ((size_t)64 << 10)
#define MAX_HEADER_VALUE        8192
#define MAX_LINK_BYTES          65536
#define MAX_TOKEN_LEN           65536
#define MAX_TOKENS              64
#define MAX_REDIRECTS           3
#define DEF_TOKEN_TTL_S         60
#define MAX_TOKEN_TTL_S         86400

#define ACCEPT_MANIFESTS \
	"application/vnd.oci.image.index.v1+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

#define MSG_CREDENTIALS "the registry refused viva's credentials (REGISTRY_USER/REGISTRY_PASSWORD)"

/* One cached bearer token: which requests used it (key = repo + pull/push)
 * and the challenge it answers (scope_key = realm, service, scope). */
struct tok {
	char *key;
	char *scope_key;
	char *token;
	int64_t expires_ms;          /* monotonic */
};

struct registry_real {
	struct registry base;        /* first: the public handle */
	char *url;                   /* scheme://authority[/path], no trailing '/' */
	char *origin;                /* scheme://authority */
	char *user;                  /* NULL: no credentials */
	char *password;
	pthread_mutex_t mu;          /* guards lim, bearer_seen, toks */
	struct registry_limits lim;
	bool bearer_seen;            /* the registry asked for a bearer token once */
	struct tok toks[MAX_TOKENS];
	size_t ntoks;
};

struct req {
	const char *op;              /* for logs: "tags", "manifest", ... */
	const char *method;          /* GET, HEAD, PUT */
	const char *url;
	const char *accept;
	const char *content_type;
	const void *body;
	size_t body_len;
	size_t max;                  /* cap on the reply body */
	const char *bearer;          /* token, or NULL */
	bool basic;                  /* send the credentials as HTTP Basic */
};

struct resp {
	long status;                 /* 0: no HTTP answer */
	struct strbuf body;
	size_t max;
	bool too_big;
	char *content_type;
	char *digest;                /* Docker-Content-Digest */
	char *location;
	char *challenge;             /* a Bearer WWW-Authenticate if any, else the first */
	bool challenge_bearer;
	struct strbuf link;          /* every Link value, joined with ", " */
};

struct challenge {
	char *realm;
	char *service;
	char *scope;
};

enum kind { K_TAGS, K_MANIFEST, K_PUT, K_BLOB };

static const struct registry_ops real_ops;

/* ---- errors -------------------------------------------------------------- */

static _Thread_local char last_err[640];

const char *registry_last_error(void)
{
	return last_err;
}

int registry_fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	return rc;
}

static void clear_error(void)
{
	last_err[0] = '\0';
}

/* A wrapper's backstop: a fake that failed without a message still gets one. */
static int ensure_message(int rc)
{
	if (rc < 0 && !last_err[0])
		registry_fail(rc, "registry call failed: %s", viva_strerror(rc));
	return rc;
}

/* User or remote text for a message: printable ASCII only, at most max bytes. */
static const char *shown(const char *s, char *buf, size_t bufsz, size_t max)
{
	size_t i = 0;

	if (!s)
		s = "(none)";
	if (max >= bufsz)
		max = bufsz - 1;
	for (; s[i] && i < max; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

/* ---- SHA-256 (FIPS 180-4), for digests ------------------------------------ */

struct sha256 {
	uint32_t h[8];
	uint64_t bits;
};

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

void registry_digest_of(const void *data, size_t len, char out[72])
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	static const char hex[] = "0123456789abcdef";
	struct sha256 s;
	const unsigned char *p = data;
	unsigned char last[128];
	size_t padlen;

	memcpy(s.h, h0, sizeof(h0));
	s.bits = (uint64_t)len * 8;
	for (; len >= 64; p += 64, len -= 64)
		sha_block(&s, p);
	/* the tail, 0x80, zeros, then the bit length: one block or two */
	padlen = len < 56 ? 64 : 128;
	memset(last, 0, sizeof(last));
	if (len)
		memcpy(last, p, len);
	last[len] = 0x80;
	for (int i = 0; i < 8; i++)
		last[padlen - 1 - i] = (unsigned char)(s.bits >> (8 * i));
	sha_block(&s, last);
	if (padlen == 128)
		sha_block(&s, last + 64);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++) {
			unsigned char byte = (unsigned char)(s.h[i] >> (24 - 8 * j));
			out[7 + 8 * i + 2 * j] = hex[byte >> 4];
			out[7 + 8 * i + 2 * j + 1] = hex[byte & 15];
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

static bool valid_ref(const char *ref)
{
	return registry_valid_tag(ref) || registry_valid_digest(ref);
}

/* Messages for names refused before any request. */
static int bad_repo(const char *repo)
{
	char b[80];

	return registry_fail(VIVA_EINVAL,
			     "invalid repository name \"%s\" (expected lower-case path components such as team/service-a)",
			     shown(repo, b, sizeof(b), 64));
}

static int bad_tag(const char *tag)
{
	char b[80];

	return registry_fail(VIVA_EINVAL,
			     "invalid tag \"%s\" (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')",
			     shown(tag, b, sizeof(b), 64));
}

static int bad_ref(const char *ref)
{
	char b[80];

	return registry_fail(VIVA_EINVAL, "invalid tag or digest \"%s\"", shown(ref, b, sizeof(b), 64));
}

static int bad_digest(const char *d)
{
	char b[80];

	return registry_fail(VIVA_EINVAL, "invalid digest \"%s\" (expected sha256:<64 hex digits>)",
			     shown(d, b, sizeof(b), 64));
}

/* A media type as a header value: type/subtype with token characters only. */
static bool valid_media_type(const char *m)
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

/* "team/x:tag" or "team/x@sha256:..." for messages. */
static char *ref_display(const char *repo, const char *ref)
{
	return xasprintf("%s%c%s", repo, registry_valid_digest(ref) ? '@' : ':', ref);
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

void registry_tags_free(char **tags, size_t n)
{
	if (!tags)
		return;
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
}

void registry_manifest_release(struct registry_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	free(m->digest);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* ---- time ------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

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
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	bool leap;

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
	leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) ||
	    h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59)
		return VIVA_EPARSE;
	*out = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return VIVA_OK;
}

/* ---- HTTP exchange ---------------------------------------------------------- */

static void resp_clear_headers(struct resp *rs)
{
	free(rs->content_type);
	free(rs->digest);
	free(rs->location);
	free(rs->challenge);
	rs->content_type = rs->digest = rs->location = rs->challenge = NULL;
	rs->challenge_bearer = false;
	rs->link.len = 0;
	rs->link.buf[0] = '\0';
}

static void resp_init(struct resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	sb_init(&rs->body);
	sb_init(&rs->link);
}

static void resp_reset(struct resp *rs)
{
	resp_clear_headers(rs);
	rs->status = 0;
	rs->body.len = 0;
	rs->body.buf[0] = '\0';
	rs->too_big = false;
}

static void resp_release(struct resp *rs)
{
	resp_clear_headers(rs);
	sb_release(&rs->body);
	sb_release(&rs->link);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *rs = ud;
	size_t n = size * nmemb;

	if (rs->body.len + n > rs->max) {
		rs->too_big = true;
		return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	sb_add(&rs->body, ptr, n);
	return n;
}

static bool header_is(const char *p, size_t nlen, const char *name)
{
	return strlen(name) == nlen && strncasecmp(p, name, nlen) == 0;
}

static bool is_bearer(const char *v)
{
	return strncasecmp(v, "Bearer", 6) == 0 && (v[6] == ' ' || v[6] == '\t' || v[6] == '\0');
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *rs = ud;
	size_t n = size * nmemb, nlen, vlen;
	const char *colon, *v, *end = ptr + n;
	char *val;

	/* A new status line (after 100 Continue) starts a new header set. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		resp_clear_headers(rs);
		return n;
	}
	colon = memchr(ptr, ':', n);
	if (!colon)
		return n;
	nlen = (size_t)(colon - ptr);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	if (vlen > MAX_HEADER_VALUE)
		return n;
	if (header_is(ptr, nlen, "link")) {
		if (rs->link.len + vlen + 2 <= MAX_LINK_BYTES) {
			if (rs->link.len)
				sb_adds(&rs->link, ", ");
			sb_add(&rs->link, v, vlen);
		}
		return n;
	}
	val = xstrndup(v, vlen);
	if (header_is(ptr, nlen, "content-type")) {
		free(rs->content_type);
		rs->content_type = val;
	} else if (header_is(ptr, nlen, "docker-content-digest")) {
		free(rs->digest);
		rs->digest = val;
	} else if (header_is(ptr, nlen, "location")) {
		free(rs->location);
		rs->location = val;
	} else if (header_is(ptr, nlen, "www-authenticate") &&
		   (!rs->challenge || (!rs->challenge_bearer && is_bearer(val)))) {
		free(rs->challenge);
		rs->challenge = val;
		rs->challenge_bearer = is_bearer(val);
	} else {
		free(val);
	}
	return n;
}

/* curl copies the line; NULL means out of memory, which aborts (as xmalloc). */
static struct curl_slist *header_add(struct curl_slist *l, const char *line)
{
	struct curl_slist *nl = curl_slist_append(l, line);

	if (!nl) {
		log_error("out of memory", "where=curl_slist_append");
		abort();
	}
	return nl;
}

static struct registry_limits get_limits(struct registry_real *r)
{
	struct registry_limits lim;

	pthread_mutex_lock(&r->mu);
	lim = r->lim;
	pthread_mutex_unlock(&r->mu);
	return lim;
}

static void format_duration(long ms, char *buf, size_t n)
{
	if (ms % 1000 == 0)
		snprintf(buf, n, "%ld s", ms / 1000);
	else
		snprintf(buf, n, "%ld ms", ms);
}

/*
 * Send rq once. VIVA_OK when an HTTP answer came back (rs->status set, any
 * status); otherwise an error with its message set. peer names the server in
 * messages ("the registry at http://...").
 */
static int exchange(struct registry_real *r, const struct req *rq, struct resp *rs, const char *peer)
{
	struct registry_limits lim = get_limits(r);
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *accept = NULL, *ctype = NULL;
	char dur[32];
	CURL *h;
	CURLcode cc;
	int rc = VIVA_EUNAVAIL;

	resp_reset(rs);
	rs->max = rq->max;
	h = curl_easy_init();
	if (!h) {
		log_error("curl_easy_init failed", "op=%s", rq->op);
		rc = registry_fail(VIVA_EUNAVAIL, "%s is not reachable (libcurl failed to start)", peer);
		goto out;
	}
	if (rq->accept) {
		accept = xasprintf("Accept: %s", rq->accept);
		hdrs = header_add(hdrs, accept);
	}
	if (rq->content_type) {
		ctype = xasprintf("Content-Type: %s", rq->content_type);
		hdrs = header_add(hdrs, ctype);
	}
	hdrs = header_add(hdrs, "Expect:");
	if (rq->bearer) {
		auth = xasprintf("Authorization: Bearer %s", rq->bearer);
		hdrs = header_add(hdrs, auth);
	} else if (rq->basic && r->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, r->password);
	}

	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	tls_curl_ca(h);   /* CAs on demand, not the whole bundle per connection */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* Redirects are followed by hand (get_blob), never with credentials. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "viva/1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 lim.connect_timeout_ms < lim.timeout_ms ? lim.connect_timeout_ms : lim.timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, lim.timeout_ms);
	/* (not for HEAD: its Content-Length is the size of a body never sent) */
	if (strcmp(rq->method, "HEAD") != 0)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);

	cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
		log_debug("registry request", "op=%s method=%s status=%ld bytes=%zu", rq->op,
			  rq->method, rs->status, rs->body.len);
		rc = VIVA_OK;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		format_duration(lim.timeout_ms, dur, sizeof(dur));
		log_warn("registry timeout", "op=%s method=%s timeout_ms=%ld", rq->op, rq->method,
			 lim.timeout_ms);
		rc = registry_fail(VIVA_ETIMEOUT, "%s did not answer within %s", peer, dur);
	} else if (rs->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		log_warn("registry answer too large", "op=%s method=%s max_bytes=%zu", rq->op,
			 rq->method, rq->max);
		rc = registry_fail(VIVA_ERANGE, "%s sent an answer larger than %zu bytes (%s)", peer,
				   rq->max, rq->op);
	} else {
		/* curl_easy_strerror() is a fixed text: no URL, no header. */
		log_warn("registry transport error", "op=%s method=%s error=\"%s\"", rq->op,
			 rq->method, curl_easy_strerror(cc));
		rc = registry_fail(VIVA_EUNAVAIL, "%s is not reachable", peer);
	}
out:
	if (h)
		curl_easy_cleanup(h);
	/* curl's copy of the Authorization line holds the token too. */
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	free_secret(auth);
	free(accept);
	free(ctype);
	return rc;
}

/* ---- bearer tokens ---------------------------------------------------------- */

static void tok_release(struct tok *t)
{
	free(t->key);
	free(t->scope_key);
	free_secret(t->token);
	memset(t, 0, sizeof(*t));
}

static void tok_remove(struct registry_real *r, size_t i)
{
	tok_release(&r->toks[i]);
	memmove(&r->toks[i], &r->toks[i + 1], (r->ntoks - i - 1) * sizeof(r->toks[0]));
	r->ntoks--;
	memset(&r->toks[r->ntoks], 0, sizeof(r->toks[0]));
}

/* A copy of the valid token used for key, or NULL. */
static char *tok_for_key(struct registry_real *r, const char *key)
{
	int64_t now = now_ms_mono();
	char *t = NULL;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ntoks; i++)
		if (strcmp(r->toks[i].key, key) == 0 && r->toks[i].expires_ms > now) {
			t = xstrdup(r->toks[i].token);
			break;
		}
	pthread_mutex_unlock(&r->mu);
	return t;
}

/* A valid token for the challenge, other than the one just refused. */
static char *tok_for_scope(struct registry_real *r, const char *scope_key, const char *refused,
			   int64_t *expires_ms)
{
	int64_t now = now_ms_mono();
	char *t = NULL;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ntoks; i++) {
		struct tok *k = &r->toks[i];
		if (strcmp(k->scope_key, scope_key) == 0 && k->expires_ms > now &&
		    (!refused || strcmp(k->token, refused) != 0)) {
			t = xstrdup(k->token);
			*expires_ms = k->expires_ms;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return t;
}

/* Remember token for key; entries of the same challenge get it too. */
static void tok_put(struct registry_real *r, const char *key, const char *scope_key,
		    const char *token, int64_t expires_ms)
{
	int64_t now = now_ms_mono();
	size_t i;

	pthread_mutex_lock(&r->mu);
	r->bearer_seen = true;
	for (i = r->ntoks; i-- > 0;)
		if (r->toks[i].expires_ms <= now)
			tok_remove(r, i);
	for (i = 0; i < r->ntoks; i++) {
		struct tok *k = &r->toks[i];
		if (strcmp(k->scope_key, scope_key) == 0 && strcmp(k->token, token) != 0) {
			free_secret(k->token);
			k->token = xstrdup(token);
			k->expires_ms = expires_ms;
		}
	}
	for (i = 0; i < r->ntoks; i++)
		if (strcmp(r->toks[i].key, key) == 0)
			break;
	if (i == r->ntoks) {
		if (r->ntoks == MAX_TOKENS)
			tok_remove(r, 0);   /* the oldest */
		i = r->ntoks++;
		r->toks[i].key = xstrdup(key);
	} else {
		free(r->toks[i].scope_key);
		free_secret(r->toks[i].token);
	}
	r->toks[i].scope_key = xstrdup(scope_key);
	r->toks[i].token = xstrdup(token);
	r->toks[i].expires_ms = expires_ms;
	pthread_mutex_unlock(&r->mu);
}

static void challenge_release(struct challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

/* Bearer realm="...",service="...",scope="..." (RFC 7235 auth-params). */
static int parse_challenge(const char *v, struct challenge *ch)
{
	const char *p = v + 6;   /* after "Bearer" */

	memset(ch, 0, sizeof(*ch));
	while (*p) {
		const char *name;
		size_t nlen;
		struct strbuf val;
		char **slot = NULL;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		name = p;
		while (is_alnum(*p) || *p == '_' || *p == '-')
			p++;
		nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (nlen == 0 || *p != '=')
			goto bad;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		sb_init(&val);
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				sb_addc(&val, *p++);
			}
			if (*p != '"') {
				sb_release(&val);
				goto bad;
			}
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t')
				sb_addc(&val, *p++);
		}
		if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
			slot = &ch->realm;
		else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
			slot = &ch->service;
		else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
			slot = &ch->scope;
		if (slot) {
			free(*slot);
			*slot = sb_detach(&val);
		}
		sb_release(&val);
	}
	if (!ch->realm || (strncasecmp(ch->realm, "http://", 7) != 0 &&
			   strncasecmp(ch->realm, "https://", 8) != 0))
		goto bad;
	for (const char *c = ch->realm; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			goto bad;
	return VIVA_OK;
bad:
	challenge_release(ch);
	return VIVA_EREMOTE;
}

static void add_query_escaped(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (is_alnum((char)c) || c == '-' || c == '_' || c == '.' || c == '~') {
			sb_addc(sb, (char)c);
		} else {
			sb_addc(sb, '%');
			sb_addc(sb, hex[c >> 4]);
			sb_addc(sb, hex[c & 15]);
		}
	}
}

/* scheme://authority of an http(s) URL (caller frees), or NULL. */
static char *origin_of(const char *url)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p)
		return NULL;
	p += 3;
	n = strcspn(p, "/?#");
	return xstrndup(url, (size_t)(p - url) + n);
}

/* Ask the realm for a token answering ch. */
static int fetch_token(struct registry_real *r, const struct challenge *ch, char **token,
		       int64_t *expires_ms)
{
	struct req rq = { .op = "token", .method = "GET", .accept = "application/json",
			  .max = MAX_TOKEN_REPLY_BYTES, .basic = true };
	struct strbuf url;
	struct resp rs;
	char *peer = NULL, *origin = NULL;
	json_t *j = NULL;
	const char *t;
	json_int_t ttl = DEF_TOKEN_TTL_S;
	int64_t life_ms;
	int rc;

	*token = NULL;
	sb_init(&url);
	resp_init(&rs);
	sb_adds(&url, ch->realm);
	sb_addc(&url, strchr(ch->realm, '?') ? '&' : '?');
	if (ch->service) {
		sb_adds(&url, "service=");
		add_query_escaped(&url, ch->service);
	}
	if (ch->scope) {
		sb_adds(&url, ch->service ? "&scope=" : "scope=");
		add_query_escaped(&url, ch->scope);
	}
	rq.url = url.buf;
	origin = origin_of(ch->realm);
	peer = xasprintf("the registry's token service at %s", origin ? origin : "(unknown)");
	rc = exchange(r, &rq, &rs, peer);
	if (rc != VIVA_OK)
		goto out;
	if (rs.status == 401 || rs.status == 403) {
		log_warn("registry token refused", "status=%ld", rs.status);
		rc = r->user ? registry_fail(VIVA_EAUTH, MSG_CREDENTIALS " at its token service")
			     : registry_fail(VIVA_EAUTH, "the registry requires credentials: set REGISTRY_USER and REGISTRY_PASSWORD");
		goto out;
	}
	if (rs.status != 200) {
		log_warn("registry token error", "status=%ld", rs.status);
		rc = registry_fail(VIVA_EREMOTE, "%s answered HTTP %ld", peer, rs.status);
		goto out;
	}
	j = json_loadb(rs.body.buf, rs.body.len, 0, NULL);
	t = json_string_value(json_object_get(j, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(j, "access_token"));
	if (!t || !*t || strlen(t) > MAX_TOKEN_LEN) {
		rc = registry_fail(VIVA_EREMOTE, "%s sent no usable token", peer);
		goto out;
	}
	for (const char *c = t; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f) {
			/* It goes into a header line: no spaces, no CR/LF. */
			rc = registry_fail(VIVA_EREMOTE, "%s sent no usable token", peer);
			goto out;
		}
	if (json_is_integer(json_object_get(j, "expires_in")) &&
	    json_integer_value(json_object_get(j, "expires_in")) > 0)
		ttl = json_integer_value(json_object_get(j, "expires_in"));
	if (ttl > MAX_TOKEN_TTL_S)
		ttl = MAX_TOKEN_TTL_S;
	/* Stop using it a little early, so it does not expire in flight. */
	life_ms = (int64_t)ttl * 1000;
	life_ms -= life_ms / 10 < 5000 ? life_ms / 10 : 5000;
	*expires_ms = now_ms_mono() + life_ms;
	*token = xstrdup(t);
	log_info("registry token obtained", "expires_in=%lld", (long long)ttl);
out:
	json_decref(j);
	/* the reply held the token */
	explicit_bzero(rs.body.buf, rs.body.len);
	resp_release(&rs);
	sb_release(&url);
	free(peer);
	free(origin);
	return rc;
}

/*
 * Send rq to the registry with credentials: a cached bearer token for this
 * repository and access if there is one, else Basic (until the registry
 * has asked for tokens). A 401 with a Bearer challenge gets a token (cached,
 * or from the realm) and one retry. VIVA_OK when an HTTP answer is in rs.
 */
static int send_authed(struct registry_real *r, const char *repo, bool push, struct req *rq,
		       struct resp *rs)
{
	struct challenge ch = { 0 };
	char *key = xasprintf("%s\n%s", repo, push ? "push" : "pull");
	char *tok = tok_for_key(r, key), *fresh = NULL, *scope_key = NULL, *peer = NULL;
	int64_t expires_ms = 0;
	bool bearer_seen;
	int rc;

	pthread_mutex_lock(&r->mu);
	bearer_seen = r->bearer_seen;
	pthread_mutex_unlock(&r->mu);
	peer = xasprintf("the registry at %s", r->url);
	rq->bearer = tok;
	rq->basic = !tok && !bearer_seen;
	rc = exchange(r, rq, rs, peer);
	if (rc != VIVA_OK || rs->status != 401 || !rs->challenge || !rs->challenge_bearer)
		goto out;
	if (parse_challenge(rs->challenge, &ch) != VIVA_OK) {
		log_warn("registry bad challenge", "op=%s", rq->op);
		rc = registry_fail(VIVA_EREMOTE, "the registry at %s sent an unusable authentication challenge",
				   r->url);
		goto out;
	}
	scope_key = xasprintf("%s\n%s\n%s", ch.realm, ch.service ? ch.service : "",
			      ch.scope ? ch.scope : "");
	fresh = tok_for_scope(r, scope_key, tok, &expires_ms);
	if (!fresh) {
		rc = fetch_token(r, &ch, &fresh, &expires_ms);
		if (rc != VIVA_OK)
			goto out;
	}
	tok_put(r, key, scope_key, fresh, expires_ms);
	rq->bearer = fresh;
	rq->basic = false;
	rc = exchange(r, rq, rs, peer);
out:
	challenge_release(&ch);
	free_secret(tok);
	free_secret(fresh);
	rq->bearer = NULL;
	free(scope_key);
	free(key);
	free(peer);
	return rc;
}

/* ---- registry errors ---------------------------------------------------------- */

/* The first {"errors":[{"code":..,"message":..}]} entry of an error body. */
static void error_code(const struct resp *rs, char *code, size_t codesz, char *msg, size_t msgsz)
{
	json_t *j = NULL, *e;

	code[0] = msg[0] = '\0';
	if (rs->body.len == 0 || rs->body.len > MAX_ERROR_BODY_BYTES)
		return;
	j = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
	e = json_array_get(json_object_get(j, "errors"), 0);
	if (json_is_string(json_object_get(e, "code")))
		shown(json_string_value(json_object_get(e, "code")), code, codesz, 40);
	if (json_is_string(json_object_get(e, "message")))
		shown(json_string_value(json_object_get(e, "message")), msg, msgsz, 200);
	json_decref(j);
}

/* Map a non-success HTTP answer to a code and a message. */
static int http_error(struct registry_real *r, const struct resp *rs, enum kind k,
		      const char *repo, const char *ref)
{
	char code[48], msg[208];
	char *what = NULL;
	bool digest = ref && registry_valid_digest(ref);
	int rc;

	error_code(rs, code, sizeof(code), msg, sizeof(msg));
	/* a mistyped tag is the user's error, not an incident */
	log_at(rs->status == 404 ? LOG_INFO : LOG_WARN, "registry error",
	       "op=%s repo=%s ref=%s status=%ld code=%s",
	       k == K_TAGS ? "tags" : k == K_PUT ? "put_manifest" : k == K_BLOB ? "blob" : "manifest",
	       repo, ref ? ref : "-", rs->status, code[0] ? code : "-");
	if (rs->status == 401) {
		rc = r->user ? registry_fail(VIVA_EAUTH, MSG_CREDENTIALS)
			     : registry_fail(VIVA_EAUTH, "the registry requires credentials: set REGISTRY_USER and REGISTRY_PASSWORD");
		goto out;
	}
	if (rs->status == 403) {
		rc = registry_fail(VIVA_EAUTH, MSG_CREDENTIALS " (access to %s denied)", repo);
		goto out;
	}
	if (rs->status == 404 && (strcmp(code, "NAME_UNKNOWN") == 0 || (!code[0] && k == K_TAGS))) {
		rc = registry_fail(VIVA_ENOENT, "repository %s not found in the registry", repo);
		goto out;
	}
	if (rs->status == 404 && (k == K_MANIFEST || k == K_PUT) &&
	    (strcmp(code, "MANIFEST_UNKNOWN") == 0 || !code[0])) {
		rc = digest ? registry_fail(VIVA_ENOENT, "manifest %s not found in %s", ref, repo)
			    : registry_fail(VIVA_ENOENT, "tag %s not found in %s", ref, repo);
		goto out;
	}
	if (rs->status == 404 && k == K_BLOB && (strcmp(code, "BLOB_UNKNOWN") == 0 || !code[0])) {
		rc = registry_fail(VIVA_ENOENT, "blob %s not found in %s", ref, repo);
		goto out;
	}
	if (rs->status == 429) {
		rc = registry_fail(VIVA_EBUSY, "the registry is rate limiting viva (HTTP 429); try again later");
		goto out;
	}
	switch (k) {
	case K_TAGS:     what = xasprintf("listing the tags of %s", repo); break;
	case K_MANIFEST: what = ref_display(repo, ref); break;
	case K_PUT:      what = xasprintf("pushing %s:%s", repo, ref); break;
	case K_BLOB:     what = xasprintf("blob %s of %s", ref, repo); break;
	}
	if (code[0])
		rc = registry_fail(VIVA_EREMOTE, "the registry refused %s: HTTP %ld %s%s%s", what,
				   rs->status, code, msg[0] ? ": " : "", msg);
	else
		rc = registry_fail(VIVA_EREMOTE, "the registry answered HTTP %ld to %s", rs->status, what);
out:
	free(what);
	return rc;
}

/* ---- URLs ------------------------------------------------------------------------ */

static bool url_chars_ok(const char *u)
{
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f || *u == '#')
			return false;
	return true;
}

/* Resolve a Link or Location target against the registry: a path ("/v2/...")
 * or an absolute URL. same_origin: refuse other hosts. NULL if unusable. */
static char *resolve(struct registry_real *r, const char *target, bool same_origin)
{
	size_t n = strlen(r->origin);

	if (!target || !*target || !url_chars_ok(target))
		return NULL;
	if (target[0] == '/' && target[1] != '/')
		return xasprintf("%s%s", r->origin, target);
	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return NULL;
	if (same_origin && !(strncasecmp(target, r->origin, n) == 0 &&
			     (target[n] == '/' || target[n] == '?' || target[n] == '\0')))
		return NULL;
	return xstrdup(target);
}

static bool same_origin(struct registry_real *r, const char *url)
{
	char *u = resolve(r, url, true);
	bool ok = u != NULL;

	free(u);
	return ok;
}

/* The rel="next" target of a Link header value (caller frees), or NULL. */
static char *link_next(const char *v)
{
	const char *p = v;

	while (p && *p) {
		const char *u, *ue;
		bool next = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p != '<')
			return NULL;
		u = ++p;
		ue = strchr(u, '>');
		if (!ue)
			return NULL;
		p = ue + 1;
		/* params up to the next ',' outside quotes */
		while (*p && *p != ',') {
			const char *name;
			size_t nlen;

			while (*p == ' ' || *p == '\t' || *p == ';')
				p++;
			name = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
				p++;
			nlen = (size_t)(p - name);
			while (*p == ' ')
				p++;
			if (*p != '=')
				continue;
			p++;
			while (*p == ' ')
				p++;
			{
				const char *vs, *ve;
				if (*p == '"') {
					vs = ++p;
					while (*p && *p != '"')
						p++;
					ve = p;
					if (*p == '"')
						p++;
				} else {
					vs = p;
					while (*p && *p != ';' && *p != ',' && *p != ' ')
						p++;
					ve = p;
				}
				if (nlen == 3 && strncasecmp(name, "rel", 3) == 0) {
					/* rel may list several space-separated relations */
					const char *q = vs;
					while (q < ve) {
						const char *w = q;
						while (q < ve && *q != ' ')
							q++;
						if (q - w == 4 && strncasecmp(w, "next", 4) == 0)
							next = true;
						while (q < ve && *q == ' ')
							q++;
					}
				}
			}
		}
		if (next)
			return xstrndup(u, (size_t)(ue - u));
	}
	return NULL;
}

/* ---- the operations -------------------------------------------------------------- */

static int real_list_tags(struct registry *reg, const char *repo, char ***tags_out, size_t *n_out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct registry_limits lim = get_limits(r);
	struct req rq = { .op = "tags", .method = "GET", .accept = "application/json",
			  .max = MAX_TAGS_PAGE_BYTES };
	struct resp rs;
	char **tags = NULL, *url = NULL, *target = NULL, *next = NULL;
	size_t n = 0, cap = 0, skipped = 0;
	json_t *j = NULL;
	int pages = 0, rc = VIVA_OK;

	*tags_out = NULL;
	*n_out = 0;
	resp_init(&rs);
	if (!registry_valid_repo(repo)) {
		rc = bad_repo(repo);
		goto out;
	}
	url = xasprintf("%s/v2/%s/tags/list?n=%d", r->url, repo, PAGE_SIZE);
	for (;;) {
		json_t *arr, *v;
		size_t i;

		if (pages >= lim.max_pages) {
			rc = registry_fail(VIVA_ERANGE, "%s has more than %d pages of tags; viva stopped reading",
					   repo, lim.max_pages);
			goto out;
		}
		pages++;
		rq.url = url;
		rc = send_authed(r, repo, false, &rq, &rs);
		if (rc != VIVA_OK)
			goto out;
		if (rs.status != 200) {
			rc = http_error(r, &rs, K_TAGS, repo, NULL);
			goto out;
		}
		json_decref(j);
		j = json_loadb(rs.body.buf, rs.body.len, 0, NULL);
		arr = json_object_get(j, "tags");
		if (!json_is_object(j) || !(json_is_array(arr) || json_is_null(arr) || !arr)) {
			rc = registry_fail(VIVA_EREMOTE, "the registry sent a malformed tag list for %s", repo);
			goto out;
		}
		json_array_foreach(arr, i, v) {
			const char *t = json_string_value(v);
			if (!registry_valid_tag(t)) {
				/* never pass a name we could not put in a URL or a message */
				skipped++;
				continue;
			}
			if ((long)n >= lim.max_tags) {
				rc = registry_fail(VIVA_ERANGE, "%s has more than %ld tags; viva stopped reading",
						   repo, lim.max_tags);
				goto out;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				tags = xrealloc(tags, cap * sizeof(*tags));
			}
			tags[n++] = xstrdup(t);
		}
		free(target);
		target = link_next(rs.link.buf);
		if (!target)
			break;
		free(next);
		next = resolve(r, target, true);
		if (!next) {
			char b[120];
			log_warn("registry bad link", "repo=%s", repo);
			rc = registry_fail(VIVA_EREMOTE,
					   "the registry sent a next-page link viva does not follow (%s)",
					   shown(target, b, sizeof(b), 100));
			goto out;
		}
		if (strcmp(next, url) == 0) {
			rc = registry_fail(VIVA_EREMOTE, "the registry's tag pages for %s loop", repo);
			goto out;
		}
		free(url);
		url = next;
		next = NULL;
	}
	if (skipped)
		log_warn("registry tags skipped", "repo=%s count=%zu reason=invalid_name", repo, skipped);
	*tags_out = tags;
	*n_out = n;
	tags = NULL;
	n = 0;
out:
	registry_tags_free(tags, n);
	json_decref(j);
	resp_release(&rs);
	free(url);
	free(next);
	free(target);
	return rc;
}

/* A media type without parameters ("application/json; charset=utf-8" -> "application/json"). */
static char *bare_media_type(const char *ct)
{
	size_t n;

	if (!ct)
		return NULL;
	n = strcspn(ct, "; \t");
	return n ? xstrndup(ct, n) : NULL;
}

static int real_get_manifest(struct registry *reg, const char *repo, const char *ref,
			     struct registry_manifest *out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct req rq = { .op = "manifest", .method = "GET", .accept = ACCEPT_MANIFESTS,
			  .max = MAX_MANIFEST_BYTES };
	struct resp rs;
	char computed[72];
	char *url = NULL, *mt = NULL, *disp = NULL;
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	resp_init(&rs);
	if (!registry_valid_repo(repo)) {
		rc = bad_repo(repo);
		goto out;
	}
	if (!valid_ref(ref)) {
		rc = bad_ref(ref);
		goto out;
	}
	disp = ref_display(repo, ref);
	url = xasprintf("%s/v2/%s/manifests/%s", r->url, repo, ref);
	rq.url = url;
	rc = send_authed(r, repo, false, &rq, &rs);
	if (rc != VIVA_OK)
		goto out;
	if (rs.status != 200) {
		rc = http_error(r, &rs, K_MANIFEST, repo, ref);
		goto out;
	}
	if (rs.body.len == 0) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent an empty manifest for %s", disp);
		goto out;
	}
	registry_digest_of(rs.body.buf, rs.body.len, computed);
	if (rs.digest && !registry_valid_digest(rs.digest)) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent a malformed digest for %s", disp);
		goto out;
	}
	/* Content addressing: what we hold must be what the digest names. */
	if ((rs.digest && strncmp(rs.digest, "sha256:", 7) == 0 && strcmp(rs.digest, computed) != 0) ||
	    (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, computed) != 0)) {
		rc = registry_fail(VIVA_EREMOTE, "the manifest of %s does not match its digest", disp);
		goto out;
	}
	mt = bare_media_type(rs.content_type);
	if (!mt || strcmp(mt, "application/json") == 0 || strcmp(mt, "text/plain") == 0) {
		/* no useful Content-Type: the manifest names its own type */
		j = json_loadb(rs.body.buf, rs.body.len, 0, NULL);
		if (json_is_string(json_object_get(j, "mediaType"))) {
			free(mt);
			mt = xstrdup(json_string_value(json_object_get(j, "mediaType")));
		}
	}
	if (!valid_media_type(mt)) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent no usable media type for %s", disp);
		goto out;
	}
	out->media_type = mt;
	mt = NULL;
	out->digest = xstrdup(rs.digest ? rs.digest : computed);
	out->len = rs.body.len;
	out->data = (unsigned char *)sb_detach(&rs.body);
out:
	json_decref(j);
	resp_release(&rs);
	free(url);
	free(mt);
	free(disp);
	return rc;
}

static int real_put_manifest(struct registry *reg, const char *repo, const char *tag,
			     const struct registry_manifest *m, char **digest_out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct req rq = { .op = "put_manifest", .method = "PUT", .max = MAX_ERROR_BODY_BYTES };
	struct resp rs;
	char computed[72];
	char *url = NULL;
	int rc;

	if (digest_out)
		*digest_out = NULL;
	resp_init(&rs);
	if (!registry_valid_repo(repo)) {
		rc = bad_repo(repo);
		goto out;
	}
	if (!registry_valid_tag(tag)) {
		rc = bad_tag(tag);
		goto out;
	}
	if (!m || !m->data || m->len == 0 || m->len > MAX_MANIFEST_BYTES || !valid_media_type(m->media_type)) {
		rc = registry_fail(VIVA_EINVAL, "no valid manifest to push to %s:%s", repo, tag);
		goto out;
	}
	registry_digest_of(m->data, m->len, computed);
	url = xasprintf("%s/v2/%s/manifests/%s", r->url, repo, tag);
	rq.url = url;
	rq.content_type = m->media_type;
	rq.body = m->data;
	rq.body_len = m->len;
	rc = send_authed(r, repo, true, &rq, &rs);
	if (rc != VIVA_OK)
		goto out;
	if (rs.status < 200 || rs.status > 299) {
		rc = http_error(r, &rs, K_PUT, repo, tag);
		goto out;
	}
	if (rs.digest && (!registry_valid_digest(rs.digest) ||
			  (strncmp(rs.digest, "sha256:", 7) == 0 && strcmp(rs.digest, computed) != 0))) {
		rc = registry_fail(VIVA_EREMOTE, "the registry stored %s:%s under an unexpected digest", repo, tag);
		goto out;
	}
	log_info("registry manifest pushed", "repo=%s tag=%s digest=%s", repo, tag,
		 rs.digest ? rs.digest : computed);
	if (digest_out)
		*digest_out = xstrdup(rs.digest ? rs.digest : computed);
out:
	resp_release(&rs);
	free(url);
	return rc;
}

static int real_head_manifest(struct registry *reg, const char *repo, const char *ref, char **digest_out)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct req rq = { .op = "head_manifest", .method = "HEAD", .accept = ACCEPT_MANIFESTS,
			  .max = MAX_ERROR_BODY_BYTES };
	struct resp rs;
	char *url = NULL;
	int rc;

	*digest_out = NULL;
	resp_init(&rs);
	if (!registry_valid_repo(repo)) {
		rc = bad_repo(repo);
		goto out;
	}
	if (!valid_ref(ref)) {
		rc = bad_ref(ref);
		goto out;
	}
	url = xasprintf("%s/v2/%s/manifests/%s", r->url, repo, ref);
	rq.url = url;
	rc = send_authed(r, repo, false, &rq, &rs);
	if (rc != VIVA_OK)
		goto out;
	if (rs.status != 200) {
		rc = http_error(r, &rs, K_MANIFEST, repo, ref);
		goto out;
	}
	if (!rs.digest || !registry_valid_digest(rs.digest)) {
		rc = registry_fail(VIVA_EREMOTE, "the registry sent no Docker-Content-Digest for %s:%s", repo, ref);
		goto out;
	}
	*digest_out = xstrdup(rs.digest);
out:
	resp_release(&rs);
	free(url);
	return rc;
}

static int real_get_blob(struct registry *reg, const char *repo, const char *digest,
			 char **data, size_t *len, size_t max)
{
	struct registry_real *r = (struct registry_real *)reg;
	struct req rq = { .op = "blob", .method = "GET" };
	struct resp rs;
	char computed[72];
	char *url = NULL, *next = NULL, *peer = NULL;
	int rc = VIVA_OK;

	*data = NULL;
	*len = 0;
	resp_init(&rs);
	if (!registry_valid_repo(repo)) {
		rc = bad_repo(repo);
		goto out;
	}
	if (!registry_valid_digest(digest)) {
		rc = bad_digest(digest);
		goto out;
	}
	rq.max = max ? max : MAX_BLOB_BYTES;
	url = xasprintf("%s/v2/%s/blobs/%s", r->url, repo, digest);
	/* Registries on object storage redirect blobs to a signed URL: follow a
	 * few hops, with credentials only while on the registry's own origin. */
	for (int hop = 0;; hop++) {
		rq.url = url;
		if (hop == 0 || same_origin(r, url)) {
			rc = send_authed(r, repo, false, &rq, &rs);
		} else {
			char *o = origin_of(url);
			free(peer);
			peer = xasprintf("the registry's blob storage at %s", o ? o : "(unknown)");
			free(o);
			rq.bearer = NULL;
			rq.basic = false;
			rc = exchange(r, &rq, &rs, peer);
		}
		if (rc != VIVA_OK)
			goto out;
		if (rs.status == 301 || rs.status == 302 || rs.status == 303 || rs.status == 307 ||
		    rs.status == 308) {
			if (hop >= MAX_REDIRECTS) {
				rc = registry_fail(VIVA_EREMOTE, "the registry redirected blob %s of %s too often",
						   digest, repo);
				goto out;
			}
			next = resolve(r, rs.location, false);
			if (!next) {
				rc = registry_fail(VIVA_EREMOTE, "the registry redirected blob %s of %s to an unusable URL",
						   digest, repo);
				goto out;
			}
			free(url);
			url = next;
			next = NULL;
			continue;
		}
		break;
	}
	if (rs.status != 200) {
		rc = http_error(r, &rs, K_BLOB, repo, digest);
		goto out;
	}
	if (strncmp(digest, "sha256:", 7) == 0) {
		registry_digest_of(rs.body.buf, rs.body.len, computed);
		if (strcmp(computed, digest) != 0) {
			rc = registry_fail(VIVA_EREMOTE, "blob %s of %s does not match its digest", digest, repo);
			goto out;
		}
	}
	*len = rs.body.len;
	*data = sb_detach(&rs.body);
out:
	resp_release(&rs);
	free(url);
	free(next);
	free(peer);
	return rc;
}

static void real_free(struct registry *reg)
{
	struct registry_real *r = (struct registry_real *)reg;

	for (size_t i = 0; i < r->ntoks; i++)
		tok_release(&r->toks[i]);
	free(r->url);
	free(r->origin);
	free_secret(r->user);
	free_secret(r->password);
	pthread_mutex_destroy(&r->mu);
	free(r);
	/* libcurl counts inits; this undoes the one in registry_new(). */
	curl_global_cleanup();
}

static const struct registry_ops real_ops = {
	.list_tags = real_list_tags,
	.get_manifest = real_get_manifest,
	.put_manifest = real_put_manifest,
	.head_manifest = real_head_manifest,
	.get_blob = real_get_blob,
	.free = real_free,
};

struct registry *registry_new(const char *base_url, const char *user, const char *password)
{
	struct registry_real *r;
	const char *auth;
	size_t alen, n;
	char *url;
	CURLcode cc;

	if (!base_url || (strncasecmp(base_url, "http://", 7) != 0 &&
			  strncasecmp(base_url, "https://", 8) != 0) || !url_chars_ok(base_url)) {
		log_error("registry url invalid", "reason=%s", "expected an http:// or https:// URL");
		return NULL;
	}
	auth = strstr(base_url, "://") + 3;
	alen = strcspn(auth, "/?#");
	if (alen == 0 || memchr(auth, '@', alen)) {
		/* never log the URL: it may hold a password */
		log_error("registry url invalid", "reason=%s",
			  alen ? "credentials belong in REGISTRY_USER/REGISTRY_PASSWORD" : "no host");
		return NULL;
	}
	if (auth[alen] == '?') {
		log_error("registry url invalid", "reason=%s", "query not allowed");
		return NULL;
	}
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		log_error("curl_global_init failed", "error=\"%s\"", curl_easy_strerror(cc));
		return NULL;
	}
	url = xstrndup(base_url, (size_t)(auth - base_url) + alen + strcspn(auth + alen, "?#"));
	n = strlen(url);
	while (n > (size_t)(auth - base_url) + alen && url[n - 1] == '/')
		url[--n] = '\0';
	if (n >= 3 && strcmp(url + n - 3, "/v2") == 0 && n - 3 >= (size_t)(auth - base_url) + alen) {
		n -= 3;
		url[n] = '\0';
		while (n > (size_t)(auth - base_url) + alen && url[n - 1] == '/')
			url[--n] = '\0';
	}
	r = xcalloc(1, sizeof(*r));
	r->base.ops = &real_ops;
	r->url = url;
	r->origin = xstrndup(base_url, (size_t)(auth - base_url) + alen);
	if (user && *user) {
		r->user = xstrdup(user);
		r->password = xstrdup(password ? password : "");
	}
	pthread_mutex_init(&r->mu, NULL);
	r->lim.connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	r->lim.timeout_ms = DEF_TIMEOUT_MS;
	r->lim.max_pages = DEF_MAX_PAGES;
	r->lim.max_tags = DEF_MAX_TAGS;
	return &r->base;
}

void registry_set_limits(struct registry *reg, const struct registry_limits *lim)
{
	struct registry_real *r = (struct registry_real *)reg;

	if (!reg || reg->ops != &real_ops || !lim)
		return;
	pthread_mutex_lock(&r->mu);
	r->lim.connect_timeout_ms = lim->connect_timeout_ms > 0 ? lim->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS;
	r->lim.timeout_ms = lim->timeout_ms > 0 ? lim->timeout_ms : DEF_TIMEOUT_MS;
	r->lim.max_pages = lim->max_pages > 0 ? lim->max_pages : DEF_MAX_PAGES;
	r->lim.max_tags = lim->max_tags > 0 ? lim->max_tags : DEF_MAX_TAGS;
	pthread_mutex_unlock(&r->mu);
}

/* ---- the public entry points (they dispatch, so fakes work too) ---------- */

void registry_free(struct registry *r)
{
	if (r && r->ops && r->ops->free)
		r->ops->free(r);
}

/* A NULL registry (none configured) or a fake without this operation. */
static int no_registry(void)
{
	return registry_fail(VIVA_EUNAVAIL, "no registry is configured (set REGISTRY_URL)");
}

int registry_list_tags(struct registry *r, const char *repo, char ***tags, size_t *n)
{
	int rc;

	clear_error();
	if (!tags || !n)
		return registry_fail(VIVA_EINVAL, "registry_list_tags: no output");
	*tags = NULL;
	*n = 0;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!r || !r->ops || !r->ops->list_tags)
		return no_registry();
	rc = r->ops->list_tags(r, repo, tags, n);
	if (rc < 0) {
		registry_tags_free(*tags, *n);
		*tags = NULL;
		*n = 0;
		return ensure_message(rc);
	}
	registry_sort_tags(*tags, *n);
	return VIVA_OK;
}

int registry_get_manifest(struct registry *r, const char *repo, const char *ref,
			  struct registry_manifest *out)
{
	int rc;

	clear_error();
	if (!out)
		return registry_fail(VIVA_EINVAL, "registry_get_manifest: no output");
	memset(out, 0, sizeof(*out));
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!valid_ref(ref))
		return bad_ref(ref);
	if (!r || !r->ops || !r->ops->get_manifest)
		return no_registry();
	rc = r->ops->get_manifest(r, repo, ref, out);
	if (rc < 0)
		registry_manifest_release(out);
	return ensure_message(rc);
}

int registry_put_manifest(struct registry *r, const char *repo, const char *tag,
			  const struct registry_manifest *m, char **digest_out)
{
	int rc;

	clear_error();
	if (digest_out)
		*digest_out = NULL;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!registry_valid_tag(tag))
		return bad_tag(tag);
	if (!m || !m->data || !m->len)
		return registry_fail(VIVA_EINVAL, "no manifest to push to %s:%s", repo, tag);
	if (!r || !r->ops || !r->ops->put_manifest)
		return no_registry();
	rc = r->ops->put_manifest(r, repo, tag, m, digest_out);
	if (rc < 0 && digest_out) {
		free(*digest_out);
		*digest_out = NULL;
	}
	return ensure_message(rc);
}

int registry_head_manifest(struct registry *r, const char *repo, const char *ref, char **digest_out)
{
	int rc;

	clear_error();
	if (!digest_out)
		return registry_fail(VIVA_EINVAL, "registry_head_manifest: no output");
	*digest_out = NULL;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!valid_ref(ref))
		return bad_ref(ref);
	if (!r || !r->ops || !r->ops->head_manifest)
		return no_registry();
	rc = r->ops->head_manifest(r, repo, ref, digest_out);
	if (rc < 0) {
		free(*digest_out);
		*digest_out = NULL;
	}
	return ensure_message(rc);
}

int registry_get_blob(struct registry *r, const char *repo, const char *digest,
		      char **data, size_t *len, size_t max)
{
	int rc;

	clear_error();
	if (!data || !len)
		return registry_fail(VIVA_EINVAL, "registry_get_blob: no output");
	*data = NULL;
	*len = 0;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!registry_valid_digest(digest))
		return bad_digest(digest);
	if (!r || !r->ops || !r->ops->get_blob)
		return no_registry();
	rc = r->ops->get_blob(r, repo, digest, data, len, max);
	if (rc < 0) {
		free(*data);
		*data = NULL;
		*len = 0;
	}
	return ensure_message(rc);
}

/* ---- built on the operations ------------------------------------------------ */

int registry_promote(struct registry *r, const char *repo, const char *tag, const char *target,
		     char **digest_before, char **digest_after)
{
	struct registry_manifest m = { 0 };
	char *put = NULL, *head = NULL;
	int rc;

	clear_error();
	if (digest_before)
		*digest_before = NULL;
	if (digest_after)
		*digest_after = NULL;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!registry_valid_tag(tag))
		return bad_tag(tag);
	if (!registry_valid_tag(target))
		return bad_tag(target);
	rc = registry_get_manifest(r, repo, tag, &m);
	if (rc != VIVA_OK)
		goto out;
	rc = registry_put_manifest(r, repo, target, &m, &put);
	if (rc != VIVA_OK)
		goto out;
	rc = registry_head_manifest(r, repo, target, &head);
	if (rc != VIVA_OK)
		goto out;
	if (strcmp(head, m.digest) != 0 || (put && strcmp(put, m.digest) != 0)) {
		log_warn("registry promote conflict", "repo=%s tag=%s target=%s source=%s target_digest=%s",
			 repo, tag, target, m.digest, head);
		rc = registry_fail(VIVA_ECONFLICT,
				   "%s:%s now points at %s, not at %s (the digest of %s); someone may have pushed %s at the same time",
				   repo, target, head, m.digest, tag, target);
	} else {
		log_info("registry image promoted", "repo=%s tag=%s target=%s digest=%s", repo, tag,
			 target, m.digest);
	}
	if (digest_before) {
		*digest_before = m.digest;
		m.digest = NULL;
	}
	if (digest_after) {
		*digest_after = head;
		head = NULL;
	}
out:
	registry_manifest_release(&m);
	free(put);
	free(head);
	return rc;
}

static bool is_index(const struct registry_manifest *m, json_t *j)
{
	if (m->media_type && (strcmp(m->media_type, "application/vnd.oci.image.index.v1+json") == 0 ||
			      strcmp(m->media_type, "application/vnd.docker.distribution.manifest.list.v2+json") == 0))
		return true;
	return json_is_array(json_object_get(j, "manifests")) && !json_object_get(j, "config");
}

/* The digest of the index entry to use: the first linux/amd64, else the first. */
static const char *pick_entry(json_t *index)
{
	json_t *arr = json_object_get(index, "manifests"), *e;
	const char *first = NULL;
	size_t i;

	json_array_foreach(arr, i, e) {
		const char *d = json_string_value(json_object_get(e, "digest"));
		json_t *pf = json_object_get(e, "platform");
		const char *os = json_string_value(json_object_get(pf, "os"));
		const char *arch = json_string_value(json_object_get(pf, "architecture"));

		if (!registry_valid_digest(d))
			continue;
		if (!first)
			first = d;
		if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0)
			return d;
	}
	return first;
}

int registry_image_created(struct registry *r, const char *repo, const char *tag_or_digest,
			   int64_t *created_unix, char **digest)
{
	struct registry_manifest top = { 0 }, child = { 0 };
	const struct registry_manifest *m = &top;
	json_t *j = NULL, *cfg = NULL;
	char *blob = NULL, *disp = NULL;
	size_t blen = 0;
	const char *cdigest, *created;
	int64_t t = 0;
	int rc;

	clear_error();
	if (created_unix)
		*created_unix = 0;
	if (digest)
		*digest = NULL;
	if (!registry_valid_repo(repo))
		return bad_repo(repo);
	if (!valid_ref(tag_or_digest))
		return bad_ref(tag_or_digest);
	disp = ref_display(repo, tag_or_digest);
	rc = registry_get_manifest(r, repo, tag_or_digest, &top);
	if (rc != VIVA_OK)
		goto out;
	j = json_loadb((const char *)top.data, top.len, 0, NULL);
	if (!json_is_object(j)) {
		rc = registry_fail(VIVA_EREMOTE, "the manifest of %s is not a JSON object", disp);
		goto out;
	}
	if (is_index(&top, j)) {
		const char *d = pick_entry(j);
		char *dd;

		if (!d) {
			rc = registry_fail(VIVA_EREMOTE, "the index %s lists no image", disp);
			goto out;
		}
		dd = xstrdup(d);
		rc = registry_get_manifest(r, repo, dd, &child);
		free(dd);
		if (rc != VIVA_OK)
			goto out;
		json_decref(j);
		j = json_loadb((const char *)child.data, child.len, 0, NULL);
		m = &child;
		if (!json_is_object(j) || is_index(m, j)) {
			rc = registry_fail(VIVA_EREMOTE, "the index %s does not point at an image manifest", disp);
			goto out;
		}
	}
	cdigest = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
	if (!registry_valid_digest(cdigest)) {
		rc = registry_fail(VIVA_EREMOTE, "the manifest of %s names no config blob", disp);
		goto out;
	}
	rc = registry_get_blob(r, repo, cdigest, &blob, &blen, MAX_BLOB_BYTES);
	if (rc != VIVA_OK)
		goto out;
	cfg = json_loadb(blob, blen, 0, NULL);
	if (!json_is_object(cfg)) {
		rc = registry_fail(VIVA_EREMOTE, "the config of %s is not a JSON object", disp);
		goto out;
	}
	created = json_string_value(json_object_get(cfg, "created"));
	if (created && registry_parse_time(created, &t) != VIVA_OK) {
		char b[80];
		log_warn("registry created unparseable", "repo=%s ref=%s created=\"%s\"", repo,
			 tag_or_digest, shown(created, b, sizeof(b), 64));
		t = 0;
	}
	if (created_unix)
		*created_unix = t > 0 ? t : 0;
	if (digest)
		*digest = xstrdup(top.digest);
out:
	json_decref(j);
	json_decref(cfg);
	free(blob);
	free(disp);
	registry_manifest_release(&top);
	registry_manifest_release(&child);
	return rc;
}
