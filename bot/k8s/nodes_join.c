/*
 * What `kubeadm join` needs from the cluster (see nodes.h): a bootstrap
 * token, minted the way `kubeadm token create` mints one, and the hashes of
 * the cluster's CA certificates, computed the way kubeadm's
 * --discovery-token-ca-cert-hash checks them.
 */
#include "bot/k8s/nodes.h"
#include "bot/clients/kube.h"
#include "bot/clients/kubeconfig.h"
#include "bot/k8s/rollout.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/yamltree.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What kubeadm writes (k8s.io/cluster-bootstrap/token/api). */
#define TOKEN_NS           "kube-system"
#define TOKEN_TYPE         "bootstrap.kubernetes.io/token"
#define TOKEN_PREFIX       "bootstrap-token-"
#define TOKEN_EXTRA_GROUPS "system:bootstrappers:kubeadm:default-node-token"

static const char *cluster_name(const struct kube *k)
{
	return k && k->cluster ? k->cluster : "(unnamed)";
}

/* ---- bootstrap tokens ------------------------------------------------------------------------ */

static const char TOKEN_CHARS[] = "0123456789abcdefghijklmnopqrstuvwxyz";
/* 256 is not a multiple of 36: a byte at or above 7 * 36 would make the first
 * four characters likelier than the rest, so it is drawn again. */
#define TOKEN_BYTE_LIMIT 252
/* Random bytes asked for at a time, and how many times at most for one
 * string: a source that only gives rejected bytes is broken, not unlucky. */
#define RANDOM_CHUNK 32
#define RANDOM_ROUNDS 16

static int openssl_random(unsigned char *buf, size_t n, void *ud)
{
	(void)ud;
	return n <= INT_MAX && RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* n characters of [a-z0-9], each equally likely, into out (n + 1 bytes). */
static int draw(k8s_random_fn rnd, void *ud, char *out, size_t n)
{
	unsigned char buf[RANDOM_CHUNK];
	size_t used = sizeof(buf), got = 0;
	int rounds = 0, rc = 0;

	while (got < n) {
		if (used == sizeof(buf)) {
			if (++rounds > RANDOM_ROUNDS || rnd(buf, sizeof(buf), ud) != 0) {
				rc = -1;
				break;
			}
			used = 0;
		}
		if (buf[used] < TOKEN_BYTE_LIMIT)
			out[got++] = TOKEN_CHARS[buf[used] % 36];
		used++;
	}
	out[got] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* A node name: a DNS-1123 subdomain (lower case), as the API takes it. */
static bool host_ok(const char *h)
{
	size_t n = h ? strlen(h) : 0;

	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.' || h[n - 1] == '-' || h[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '.'))
			return false;
	return true;
}

/* Overwrite the strings of obj's data before it is freed: they carry the secret. */
static void scrub_data(json_t *secret)
{
	json_t *data = json_object_get(secret, "data"), *v;
	const char *key;

	json_object_foreach(data, key, v)
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

static void put_b64(json_t *data, const char *key, const char *value)
{
	char *b = kube_base64_encode((const unsigned char *)value, strlen(value));

	json_object_set_new(data, key, json_string(b));
	OPENSSL_cleanse(b, strlen(b));
	free(b);
}

/* The Secret kubeadm's BootstrapTokenToSecret writes: data, base64. */
static json_t *token_secret(const char *id, const char *secret, const char *expiration, const char *host)
{
	json_t *data = json_object();
	char *desc = xasprintf("viva: bootstrap token for node %s", host);
	char name[64];

	snprintf(name, sizeof(name), TOKEN_PREFIX "%s", id);
	put_b64(data, "token-id", id);
	put_b64(data, "token-secret", secret);
	put_b64(data, "description", desc);
	put_b64(data, "expiration", expiration);
	put_b64(data, "usage-bootstrap-authentication", "true");
	put_b64(data, "usage-bootstrap-signing", "true");
	put_b64(data, "auth-extra-groups", TOKEN_EXTRA_GROUPS);
	free(desc);
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "apiVersion", "v1", "kind", "Secret", "metadata", "name",
			 name, "namespace", TOKEN_NS, "type", TOKEN_TYPE, "data", data);
}

int k8s_token_create(struct kube *k, const struct k8s_token_opts *o, struct k8s_token *out)
{
	struct kube_ref ref = { .res = &kube_secrets, .ns = TOKEN_NS };
	k8s_random_fn rnd = o && o->random ? o->random : openssl_random;
	long ttl;
	char expiration[32], id[7] = "";

	memset(out, 0, sizeof(*out));
	kube_clear_error();
	if (!o || !host_ok(o->host))
		return kube_fail(VIVA_EINVAL, 0, "", "a bootstrap token is for a node: its name must be a lower-case DNS name");
	ttl = o->ttl_s == 0 ? K8S_TOKEN_TTL_DEFAULT : o->ttl_s;
	if (ttl < K8S_TOKEN_TTL_MIN || ttl > K8S_TOKEN_TTL_MAX)
		return kube_fail(VIVA_EINVAL, 0, "",
				 "a bootstrap token lives %d to %d seconds (10 minutes to an hour), not %ld",
				 K8S_TOKEN_TTL_MIN, K8S_TOKEN_TTL_MAX, o->ttl_s);
	if (o->now <= 0 || !k8s_time(o->now + ttl, expiration, sizeof(expiration))[0])
		return kube_fail(VIVA_EINVAL, 0, "", "a bootstrap token needs the time it is made");
	for (int tries = 0; tries < K8S_TOKEN_TRIES; tries++) {
		char secret[17];
		json_t *obj;
		int rc;

		if (draw(rnd, o->random_ud, id, 6) != 0 || draw(rnd, o->random_ud, secret, 16) != 0) {
			OPENSSL_cleanse(secret, sizeof(secret));
			return kube_fail(VIVA_EIO, 0, "", "no random bytes for a bootstrap token (the system's generator failed)");
		}
		obj = token_secret(id, secret, expiration, o->host);
		rc = kube_create(k, &ref, obj, NULL);
		scrub_data(obj);
		json_decref(obj);
		if (rc == VIVA_OK) {
			memcpy(out->id, id, sizeof(out->id));
			memcpy(out->secret, secret, sizeof(out->secret));
			out->expires = o->now + ttl;
			OPENSSL_cleanse(secret, sizeof(secret));
			log_info("bootstrap token created", "cluster=%s token_id=%s host=%s expires=%s", cluster_name(k), id,
				 o->host, expiration);
			return VIVA_OK;
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		if (rc == VIVA_ECONFLICT && strcmp(kube_last_reason(), "AlreadyExists") == 0) {
			/* two ids alike among 36^6: draw again */
			log_info("bootstrap token id taken, drawing another", "cluster=%s token_id=%s", cluster_name(k), id);
			continue;
		}
		{
			char msg[768], reason[64];
			long status = kube_last_status();

			snprintf(msg, sizeof(msg), "%s", kube_last_error());
			snprintf(reason, sizeof(reason), "%s", kube_last_reason());
			return kube_fail(rc, status, reason, "cluster %s: bootstrap token %s for node %s not created: %s",
					 cluster_name(k), id, o->host, msg);
		}
	}
	return kube_fail(VIVA_ECONFLICT, 409, "AlreadyExists",
			 "cluster %s: %d bootstrap token ids in a row were taken already (the last %s): is something "
			 "creating tokens with predictable ids?", cluster_name(k), K8S_TOKEN_TRIES, id);
}

const char *k8s_token_string(const struct k8s_token *t, char *buf, size_t len)
{
	if (len > 0)
		snprintf(buf, len, "%s.%s", t->id, t->secret);
	return buf;
}

void k8s_token_wipe(struct k8s_token *t)
{
	if (t)
		OPENSSL_cleanse(t, sizeof(*t));
}

/* ---- the CA certificate hashes ---------------------------------------------------------------- */

/* "sha256:<hex>" of the certificate's DER SubjectPublicKeyInfo, or NULL. */
static char *spki_hash(X509 *x)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	char *out = NULL;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
		out = xmalloc(K8S_CA_HASH_LEN + 1);
		memcpy(out, "sha256:", 7);
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	}
	OPENSSL_free(der);
	return out;
}

/* Every CERTIFICATE block of pem, as Go's certutil.ParseCertsPEM reads them; `what` starts messages. */
static int pem_hashes(const char *what, const char *pem, size_t len, json_t **hashes)
{
	BIO *b = NULL;
	json_t *out = json_array();
	int rc = VIVA_OK, blocks = 0;

	*hashes = NULL;
	if (!pem || len == 0 || len > ((size_t)1 << 20)) {
		rc = kube_fail(VIVA_EPARSE, 0, "", "%s: %s", what, len ? "more than 1 MiB of certificates" : "empty");
		goto out;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		abort();
	ERR_clear_error();
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		if (!PEM_read_bio(b, &name, &header, &data, &dlen)) {
			unsigned long e = ERR_peek_last_error();

			ERR_clear_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;   /* no more blocks */
			rc = kube_fail(VIVA_EPARSE, 0, "", "%s: PEM block %d is damaged (its base64 does not decode)", what,
				       blocks + 1);
			goto out;
		}
		blocks++;
		if (strcmp(name, "CERTIFICATE") == 0 && (!header || !header[0])) {
			const unsigned char *p = data;
			X509 *x = dlen > 0 ? d2i_X509(NULL, &p, dlen) : NULL;
			char *h = x && p == data + dlen ? spki_hash(x) : NULL;

			X509_free(x);
			ERR_clear_error();
			if (!h) {
				rc = kube_fail(VIVA_EPARSE, 0, "", "%s: PEM block %d is not an X.509 certificate", what, blocks);
			} else if (json_array_size(out) >= K8S_CA_MAX) {
				rc = kube_fail(VIVA_ERANGE, 0, "", "%s: more than %d certificates", what, K8S_CA_MAX);
			} else {
				json_array_append_new(out, json_string(h));
			}
			free(h);
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (rc != VIVA_OK)
			goto out;
	}
	if (json_array_size(out) == 0) {
		rc = kube_fail(VIVA_EPARSE, 0, "", "%s: no PEM certificate in it", what);
		goto out;
	}
	*hashes = out;
	out = NULL;
out:
	BIO_free(b);
	json_decref(out);
	return rc;
}

int k8s_ca_hashes_of_pem(const char *pem, size_t len, json_t **hashes)
{
	kube_clear_error();
	return pem_hashes("the CA certificates", pem, len, hashes);
}

static int kubeconfig_hashes(const char *what, const char *text, size_t len, json_t **hashes)
{
	struct yamltree *t = NULL;
	struct yamltree_error err;
	json_t *ca;
	unsigned char *pem = NULL;
	size_t pemlen = 0;
	char *where = NULL;
	int rc;

	*hashes = NULL;
	if (!text || len == 0)
		return kube_fail(VIVA_EPARSE, 0, "", "%s: empty", what);
	if (yamltree_parse(text, len, NULL, &t, &err) != VIVA_OK)
		return kube_fail(VIVA_EPARSE, 0, "", "%s: not a kubeconfig: YAML line %d: %s", what, err.line, err.msg);
	ca = json_object_get(json_object_get(json_array_get(json_object_get(yamltree_root(t), "clusters"), 0), "cluster"),
			     "certificate-authority-data");
	if (!json_is_string(ca) || json_string_length(ca) == 0) {
		rc = kube_fail(VIVA_EPARSE, 0, "", "%s: no clusters[0].cluster.certificate-authority-data", what);
		goto out;
	}
	if (kube_base64_decode(json_string_value(ca), &pem, &pemlen) != VIVA_OK) {
		rc = kube_fail(VIVA_EPARSE, 0, "", "%s: clusters[0].cluster.certificate-authority-data is not base64", what);
		goto out;
	}
	where = xasprintf("%s: clusters[0].cluster.certificate-authority-data", what);
	rc = pem_hashes(where, (const char *)pem, pemlen, hashes);
out:
	free(where);
	free(pem);
	yamltree_free(t);
	return rc;
}

int k8s_ca_hashes_of_kubeconfig(const char *text, size_t len, json_t **hashes)
{
	kube_clear_error();
	return kubeconfig_hashes("the kubeconfig", text, len, hashes);
}

int k8s_ca_hashes(struct kube *k, json_t **hashes)
{
	struct kube_ref ref = { .res = &kube_configmaps, .ns = "kube-public", .name = "cluster-info" };
	json_t *cm = NULL, *kc;
	char *what;
	int rc;

	*hashes = NULL;
	rc = kube_get(k, &ref, &cm);
	if (rc == VIVA_ENOENT)
		return kube_fail(VIVA_ENOENT, 404, "NotFound",
				 "cluster %s has no ConfigMap kube-public/cluster-info, where `kubeadm init` publishes the "
				 "cluster's CA: nodes join clusters set up with kubeadm", cluster_name(k));
	if (rc != VIVA_OK)
		return rc;
	what = xasprintf("cluster %s: ConfigMap kube-public/cluster-info: data.kubeconfig", cluster_name(k));
	kc = json_object_get(json_object_get(cm, "data"), "kubeconfig");
	if (!json_is_string(kc))
		rc = kube_fail(VIVA_EPARSE, 0, "", "%s: missing", what);
	else
		rc = kubeconfig_hashes(what, json_string_value(kc), json_string_length(kc), hashes);
	free(what);
	json_decref(cm);
	return rc;
}
