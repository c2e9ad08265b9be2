/*
 * The checks of values that every source of a target shares, and the exec
 * plugin code with them (see kubeconfig.h for the contract): base64 and PEM
 * through OpenSSL (never a hand-rolled codec), a private key against its
 * certificate, tokens fit for a header, blanks trimmed off a file's text,
 * the API server's URL.
 */
#include "bot/clients/kubeconfig.h"
#include "bot/clients/kubeconfig_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- base64 and PEM (OpenSSL) ------------------------------------------------- */

int kube_base64_decode(const char *in, unsigned char **out, size_t *len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	size_t n = in ? strlen(in) : 0;
	int outl = 0, fin = 0, rc = VIVA_EINVAL;

	*out = NULL;
	if (len)
		*len = 0;
	if (n == 0)
		return VIVA_EINVAL;
	if (n > (size_t)INT_MAX / 2)
		return VIVA_ERANGE;
	/* OpenSSL's decoder stops quietly at '-' (the PEM end line): refuse
	 * anything outside the alphabet first, so that pasted PEM text or a
	 * URL-safe encoding is an error, not a shorter value */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!isalnum(c) && c != '+' && c != '/' && c != '=' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return VIVA_EINVAL;
	}
	ctx = EVP_ENCODE_CTX_new();
	if (!ctx)
		abort();
	buf = xmalloc(n + 4);
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &outl, (const unsigned char *)in, (int)n) < 0)
		goto out;
	if (EVP_DecodeFinal(ctx, buf + outl, &fin) < 0)
		goto out;
	if (outl + fin <= 0)
		goto out;
	buf[outl + fin] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = (size_t)(outl + fin);
	rc = VIVA_OK;
out:
	free(buf);
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

char *kube_base64_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	if (len > (size_t)INT_MAX / 2)
		abort();
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* A key protected by a passphrase is refused, never prompted for. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

const char *kube_pem_check(const char *pem, size_t len, enum kube_pem_kind what)
{
	BIO *b;
	const char *why = NULL;

	if (!pem || len == 0 || len > (size_t)INT_MAX)
		return what == KUBE_PEM_KEY ? "not a PEM private key" : "not a PEM certificate";
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		abort();
	if (what == KUBE_PEM_KEY) {
		EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
		if (!k)
			why = memmem(pem, len, "ENCRYPTED", 9) ? "an encrypted private key (viva needs it unencrypted)"
							      : "not a PEM private key";
		EVP_PKEY_free(k);
	} else {
		X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
		if (!x)
			why = "not a PEM certificate";
		X509_free(x);
	}
	BIO_free(b);
	ERR_clear_error();
	return why;
}

const char *kube_pem_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len)
{
	BIO *cb = NULL, *kb = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	const char *why = NULL;

	if (cert_len > (size_t)INT_MAX || key_len > (size_t)INT_MAX)
		return "too large";
	cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
	kb = BIO_new_mem_buf(key_pem, (int)key_len);
	if (!cb || !kb)
		abort();
	x = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL);
	k = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL);
	if (!x || !k)
		why = "cannot be read";
	else if (X509_check_private_key(x, k) != 1)
		why = "the client key does not belong to the client certificate";
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return why;
}

/* ---- tokens and URLs ------------------------------------------------------------ */

/* A token fit for an Authorization header: visible ASCII, no blanks. */
bool kube_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Blanks and line ends off both ends, in place (as client-go's TrimSpace). */
char *kubeconfig_trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (*p && isspace((unsigned char)*p))
		p++;
	if (p != s)
		memmove(s, p, strlen(p) + 1);
	return s;
}

/*
 * http(s)://host[:port][/prefix] with no credentials, query or fragment; a
 * bare host[:port] is https, as kubectl takes it. NULL and *why on refusal.
 */
char *kubeconfig_server_url(const char *s, const char **why)
{
	const char *auth;
	size_t alen, n;
	char *u;

	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			*why = "not a URL (it contains blanks or control characters)";
			return NULL;
		}
	if (!strstr(s, "://"))
		u = xasprintf("https://%s", s);
	else
		u = xstrdup(s);
	if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0) {
		*why = "expected an https:// URL";
		free(u);
		return NULL;
	}
	auth = strstr(u, "://") + 3;
	alen = strcspn(auth, "/?#");
	if (alen == 0 || memchr(auth, '@', alen)) {
		*why = alen ? "credentials do not belong in the URL" : "the URL has no host";
		free(u);
		return NULL;
	}
	if (strpbrk(auth, "?#")) {
		*why = "the URL may not have a query or a fragment";
		free(u);
		return NULL;
	}
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	return u;
}
