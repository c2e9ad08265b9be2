/*
 * CA certificates for viva's TLS clients, loaded on demand (see tls.h).
 */
#include "bot/clients/tls.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *ca_file;     /* NULL: none */
static const char *ca_dir;

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* "5ad8a5d6.0": the names c_rehash / openssl rehash give certificates. */
static bool hashed_name(const char *n)
{
	int i;

	for (i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)n[i]))
			return false;
	return n[8] == '.' && isdigit((unsigned char)n[9]);
}

/* Does any directory in the ':'-separated list hold a hashed certificate? */
static bool dir_has_hashes(const char *list)
{
	char *copy = xstrdup(list), *save = NULL;
	bool found = false;

	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		DIR *dp = opendir(d);
		struct dirent *e;

		if (!dp)
			continue;
		while (!found && (e = readdir(dp)))
			found = hashed_name(e->d_name);
		closedir(dp);
	}
	free(copy);
	return found;
}

static void choose(void)
{
	ca_file = env_nonempty("SSL_CERT_FILE");
	if (!ca_file)
		ca_file = env_nonempty("CURL_CA_BUNDLE");
	if (ca_file && access(ca_file, R_OK) != 0) {
		/* a stale variable must not break every TLS link: say so, go on */
		log_warn("CA bundle named by SSL_CERT_FILE / CURL_CA_BUNDLE is not readable; ignored",
			 "file=%s errno=%d", ca_file, errno);
		ca_file = NULL;
	}
	ca_dir = env_nonempty(X509_get_default_cert_dir_env());   /* SSL_CERT_DIR */
	if (!ca_dir)
		ca_dir = X509_get_default_cert_dir();
	/* Once, at the first TLS set-up: a directory listing is cheap. */
	if (!ca_file && !dir_has_hashes(ca_dir)) {
		ca_file = X509_get_default_cert_file();
		log_warn("no hashed CA certificates in the directory; loading the whole bundle",
			 "dir=%s file=%s", ca_dir, ca_file);
	}
	log_debug("tls trust", "file=%s dir=%s", ca_file ? ca_file : "none", ca_dir);
}

const char *tls_ca_file(void)
{
	pthread_once(&once, choose);
	return ca_file;
}

const char *tls_ca_dir(void)
{
	pthread_once(&once, choose);
	return ca_dir;
}

void tls_curl_ca(CURL *h)
{
	/*
	 * Debian's libcurl is built with both a CAINFO (the bundle) and a
	 * CAPATH default. With CAINFO, libcurl 7.88 parses the whole bundle
	 * into every connection's SSL_CTX (lib/vtls/openssl.c,
	 * populate_x509_store); with only CAPATH it adds OpenSSL's hashed-
	 * directory lookup, which reads the one issuer a handshake needs.
	 */
	curl_easy_setopt(h, CURLOPT_CAINFO, tls_ca_file());
	curl_easy_setopt(h, CURLOPT_CAPATH, tls_ca_dir());
}

static void log_ssl_error(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	log_error("tls set-up failed", "step=%s error=\"%s\"", what, e ? buf : "unknown");
	ERR_clear_error();
}

SSL_CTX *tls_client_ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *file = tls_ca_file();
	const char *dir = tls_ca_dir();

	if (!ctx) {
		log_ssl_error("SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		log_ssl_error("min_proto_version");
		goto fail;
	}
	/* libwebsockets sets this per SSL too; here it holds for any SSL. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* An idle Socket Mode link then holds no read/write buffers (~34 KB). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (file && !SSL_CTX_load_verify_file(ctx, file)) {
		log_ssl_error("CA file");
		goto fail;
	}
	/* Only adds the lookup: nothing is read from the directory yet. */
	if (!SSL_CTX_load_verify_dir(ctx, dir)) {
		log_ssl_error("CA directory");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
