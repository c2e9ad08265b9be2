#ifndef VIVA_BOT_CLIENTS_TLS_H
#define VIVA_BOT_CLIENTS_TLS_H

#include <curl/curl.h>
#include <openssl/ssl.h>

/*
 * Where viva's TLS clients (libwebsockets for Socket Mode, libcurl for the
 * Web API and the registry) find the CA certificates they trust.
 *
 * By default a hashed certificate directory: SSL_CERT_DIR when set, else
 * OpenSSL's built-in one (/usr/lib/ssl/certs -> /etc/ssl/certs on Debian).
 * OpenSSL reads a certificate from it only when a handshake needs that
 * issuer, so a process that talks to Slack holds the root or two it uses
 * rather than the whole ~140-certificate bundle, parsed, once per TLS
 * context (about 1 MB of heap per copy, and a few ms of CPU to parse).
 *
 * An operator who points SSL_CERT_FILE (or CURL_CA_BUNDLE, as curl's own
 * tool reads it) at a bundle gets that file loaded as a whole, as before.
 * A directory with no hashed names in it (a bare image with only the bundle
 * file) falls back to OpenSSL's default bundle file, so TLS keeps working.
 * An empty variable counts as unset.
 */

/* The bundle file to load whole, or NULL: the directory alone. */
const char *tls_ca_file(void);
/* The hashed directory (or ':'-separated list) to look certificates up in. */
const char *tls_ca_dir(void);

/*
 * Set h's CA options (CAINFO, CAPATH) as above. Call it after every
 * curl_easy_init() and curl_easy_reset(): a reset brings back libcurl's
 * built-in bundle file.
 */
void tls_curl_ca(CURL *h);

/*
 * A new client SSL_CTX: peer verification on, TLS 1.2 at least, CAs as
 * above, buffers released while a connection is idle. Host names are
 * checked per connection (libwebsockets does that on each SSL it makes from
 * the context). NULL on failure (logged). The caller frees it with
 * SSL_CTX_free().
 */
SSL_CTX *tls_client_ctx_new(void);

#endif
