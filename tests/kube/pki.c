/*
 * The fake API server's certificates, made in-process with OpenSSL (no
 * openssl(1) child): an EC P-256 CA, a server certificate for 127.0.0.1
 * and localhost (what Go's verifier, hence kubectl, checks), and client
 * certificates with CN = user and O = groups, as kubeadm issues them.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return 0;
}

/* A certificate for key, signed by (issuer, ikey), or self-signed when issuer is NULL. */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, const char *cn, const char *const *orgs,
		       int days, bool ca, const char *san, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = -1;

	if (!x || !name)
		goto out;
	X509_set_version(x, 2);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(x, ai);
	if (days >= 0) {
		X509_gmtime_adj(X509_getm_notBefore(x), -3600);
		X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	} else {
		/* expired: valid two days, ended |days| days ago */
		X509_gmtime_adj(X509_getm_notBefore(x), (long)(days - 2) * 86400);
		X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	}
	for (size_t i = 0; orgs && orgs[i]; i++)
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)orgs[i], -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	if (ca) {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
		    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
		    add_ext(x, x, NID_subject_key_identifier, "hash"))
			goto out;
	} else {
		if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
		    add_ext(x, issuer, NID_ext_key_usage, eku) ||
		    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
			goto out;
		if (san && add_ext(x, issuer, NID_subject_alt_name, san))
			goto out;
	}
	if (X509_sign(x, issuer ? ikey : key, EVP_sha256()) <= 0)
		goto out;
	rc = 0;
out:
	X509_NAME_free(name);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	if (rc) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	chmod(path, 0600);
	ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return ok == 1 ? 0 : -1;
}

int pki_init(const char *dir, char **ca_cert, char **ca_key, char **srv_cert, char **srv_key)
{
	EVP_PKEY *cak = new_key(), *sk = new_key();
	X509 *ca = NULL, *srv = NULL;
	int rc = -1;

	*ca_cert = xasprintf("%s/ca.crt", dir);
	*ca_key = xasprintf("%s/ca.key", dir);
	*srv_cert = xasprintf("%s/apiserver.crt", dir);
	*srv_key = xasprintf("%s/apiserver.key", dir);
	if (!cak || !sk)
		goto out;
	ca = make_cert(cak, NULL, NULL, "fake-kube-ca", NULL, 30, true, NULL, NULL);
	srv = make_cert(sk, ca, cak, "kube-apiserver", NULL, 30, false,
			"IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default", "serverAuth");
	if (!ca || !srv)
		goto out;
	if (write_pem(*ca_cert, ca, NULL) || write_pem(*ca_key, NULL, cak) || write_pem(*srv_cert, srv, NULL) ||
	    write_pem(*srv_key, NULL, sk))
		goto out;
	rc = 0;
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	ERR_clear_error();
	return rc;
}

int pki_client(const char *ca_cert, const char *ca_key, const char *cn, const char *const *orgs,
	       const char *cert_path, const char *key_path, int days)
{
	FILE *f;
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *cak = NULL, *key = new_key();
	int rc = -1;

	f = fopen(ca_cert, "r");
	if (f) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	f = fopen(ca_key, "r");
	if (f) {
		cak = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!ca || !cak || !key)
		goto out;
	x = make_cert(key, ca, cak, cn, orgs, days, false, NULL, "clientAuth");
	if (!x || write_pem(cert_path, x, NULL) || write_pem(key_path, NULL, key))
		goto out;
	rc = 0;
out:
	X509_free(ca);
	X509_free(x);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

char *pki_throwaway_ca(const char *cn, bool rsa)
{
	EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : new_key();
	X509 *ca = key ? make_cert(key, NULL, NULL, cn, NULL, 30, true, NULL, NULL) : NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	long n;

	if (ca && b && PEM_write_bio_X509(b, ca) == 1 && (n = BIO_get_mem_data(b, &p)) > 0)
		out = xstrndup(p, (size_t)n);
	BIO_free(b);
	X509_free(ca);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return out;
}
