/*
 * Bootstrap tokens, as a cluster set up with kubeadm serves them (the API
 * server with --enable-bootstrap-token-auth, the controller manager with
 * the bootstrapsigner and tokencleaner controllers):
 *
 *   - the authenticator (plugin/pkg/auth/authenticator/token/bootstrap):
 *     a bearer token "id.secret" is system:bootstrap:<id> in the groups
 *     system:bootstrappers and the Secret's auth-extra-groups, when Secret
 *     kube-system/bootstrap-token-<id> is of type bootstrap.kubernetes.io/token,
 *     not being deleted, holds the same token-id and token-secret, has not
 *     expired and says usage-bootstrap-authentication "true";
 *   - the bootstrap signer: ConfigMap kube-public/cluster-info carries
 *     jws-kubeconfig-<id>, a detached JWS (HS256, the token secret as key,
 *     kid the id) of its kubeconfig, for every unexpired token with
 *     usage-bootstrap-signing "true": what `kubeadm join --token`
 *     verifies before it trusts the CA it reads there;
 *   - the token cleaner: expired tokens are deleted.
 *
 * The API server itself validates nothing of a bootstrap token Secret
 * beyond any Secret's rules (its name, data keys): a wrong one is created,
 * and then simply does not work. Times are the fake clock's.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_TYPE     "bootstrap.kubernetes.io/token"
#define TOKEN_PREFIX   "bootstrap-token-"
#define JWS_PREFIX     "jws-kubeconfig-"
#define DEFAULT_GROUP  "system:bootstrappers"

static const struct kr *secrets_r(void)
{
	return kr_find("", "v1", "secrets");
}

static bool all_of(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* data[key] decoded (caller frees), "" when absent or not base64. */
static char *get_data(json_t *secret, const char *key)
{
	const char *b = json_string_value(json_object_get(json_object_get(secret, "data"), key));
	size_t n = b ? strlen(b) : 0;
	unsigned char *out;
	int len;

	if (n == 0 || n % 4 != 0)
		return xstrdup("");
	out = xmalloc(n + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)b, (int)n);
	if (len < 0) {
		free(out);
		return xstrdup("");
	}
	/* EVP_DecodeBlock counts the padding's bytes */
	for (size_t i = n; i > 0 && b[i - 1] == '='; i--)
		len--;
	out[len] = '\0';
	return (char *)out;
}

/* cluster-bootstrap's HasExpired: no expiration never expires, one that does not parse has. */
static bool expired(struct fake_kube *k, json_t *secret)
{
	char *exp = get_data(secret, "expiration");
	int64_t t;
	bool out;

	if (!exp[0]) {
		free(exp);
		return false;
	}
	t = kf_parse_time(exp);
	out = t < 0 || kf_now(k) >= t;
	free(exp);
	return out;
}

/* system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9] */
static bool group_ok(const char *g)
{
	size_t p = strlen(DEFAULT_GROUP ":"), n = strlen(g);

	if (strncmp(g, DEFAULT_GROUP ":", p) != 0 || n == p || n - p > 256)
		return false;
	for (size_t i = p; i < n; i++)
		if (!((g[i] >= 'a' && g[i] <= 'z') || (g[i] >= '0' && g[i] <= '9') || g[i] == ':' || g[i] == '-'))
			return false;
	return (g[n - 1] >= 'a' && g[n - 1] <= 'z') || (g[n - 1] >= '0' && g[n - 1] <= '9');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The default group and the extra ones, sorted, without repeats ("a,b"); NULL when one is invalid. */
static char *groups_of(json_t *secret)
{
	char *extra = get_data(secret, "auth-extra-groups"), *save = NULL, *g;
	char *list[64];
	size_t n = 0;
	struct strbuf sb;

	list[n++] = DEFAULT_GROUP;
	/* Go's strings.Split keeps empty names, which are invalid */
	if (extra[0] && (extra[0] == ',' || extra[strlen(extra) - 1] == ',' || strstr(extra, ",,"))) {
		free(extra);
		return NULL;
	}
	for (g = strtok_r(extra, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
		if (!group_ok(g) || n == 64) {
			free(extra);
			return NULL;
		}
		list[n++] = g;
	}
	qsort(list, n, sizeof(list[0]), cmp_str);
	sb_init(&sb);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(list[i], list[i - 1]) != 0)
			sb_addf(&sb, "%s%s", sb.len ? "," : "", list[i]);
	free(extra);
	return sb_detach(&sb);
}

bool bootstrap_authenticate(struct fake_kube *k, const char *token, char **user, char **groups)
{
	char id[7], name[64], *ts = NULL, *tid = NULL, *usage = NULL, *gs = NULL;
	const char *dot = token ? strchr(token, '.') : NULL;
	json_t *s;
	bool ok = false;

	*user = *groups = NULL;
	if (!dot || dot - token != 6 || !all_of(dot + 1, 16))
		return false;
	memcpy(id, token, 6);
	id[6] = '\0';
	if (!all_of(id, 6))
		return false;
	snprintf(name, sizeof(name), TOKEN_PREFIX "%s", id);
	s = store_get(&k->st, secrets_r(), "kube-system", name);
	if (!s || json_object_get(json_object_get(s, "metadata"), "deletionTimestamp") ||
	    !json_is_string(json_object_get(s, "type")) || strcmp(json_string_value(json_object_get(s, "type")), TOKEN_TYPE) != 0)
		return false;
	ts = get_data(s, "token-secret");
	tid = get_data(s, "token-id");
	usage = get_data(s, "usage-bootstrap-authentication");
	if (strlen(ts) == 16 && CRYPTO_memcmp(ts, dot + 1, 16) == 0 && strcmp(tid, id) == 0 && !expired(k, s) &&
	    strcmp(usage, "true") == 0 && (gs = groups_of(s)) != NULL) {
		*user = xasprintf("system:bootstrap:%s", id);
		*groups = gs;
		ok = true;
	}
	free_secret(ts);
	free(tid);
	free(usage);
	return ok;
}

/* ---- the controllers ---------------------------------------------------------------------------- */

static char *b64url(const unsigned char *in, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t len;

	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '=')
		out[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

/*
 * cluster-bootstrap's ComputeDetachedSignature: a compact JWS of content
 * with header {"alg":"HS256","kid":"<id>"} (go-jose writes its keys in this
 * order), the payload left out: "header..signature".
 */
static char *detached_jws(const char *content, const char *id, const char *secret)
{
	char *hjson = xasprintf("{\"alg\":\"HS256\",\"kid\":\"%s\"}", id);
	char *h = b64url((const unsigned char *)hjson, strlen(hjson));
	char *p = b64url((const unsigned char *)content, strlen(content));
	char *input = xasprintf("%s.%s", h, p), *sig, *out;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input, strlen(input), mac, &maclen);
	sig = b64url(mac, maclen);
	out = xasprintf("%s..%s", h, sig);
	free(hjson);
	free(h);
	free(p);
	free(input);
	free(sig);
	return out;
}

/* The token cleaner: expired tokens go. */
static int token_cleaner(struct fake_kube *k)
{
	json_t *all = store_all(&k->st, secrets_r(), "kube-system"), *s;
	size_t i;
	int changes = 0;

	json_array_foreach(all, i, s) {
		const char *type = json_string_value(json_object_get(s, "type"));

		if (type && strcmp(type, TOKEN_TYPE) == 0 && expired(k, s)) {
			store_remove(&k->st, secrets_r(), "kube-system",
				     json_string_value(json_object_get(json_object_get(s, "metadata"), "name")));
			changes++;
		}
	}
	json_decref(all);
	return changes;
}

/* The bootstrap signer: a signature per signing token on cluster-info, stale ones removed. */
static int bootstrap_signer(struct fake_kube *k)
{
	const struct kr *cmr = kr_find("", "v1", "configmaps");
	json_t *cm = store_get(&k->st, cmr, "kube-public", "cluster-info"), *nw, *data, *all, *s, *v;
	const char *content, *key;
	void *tmp;
	size_t i;

	if (!cm)
		return 0;
	content = json_string_value(json_object_get(json_object_get(cm, "data"), "kubeconfig"));
	if (!content)
		return 0;
	nw = json_deep_copy(cm);
	data = json_object_get(nw, "data");
	json_object_foreach_safe(data, tmp, key, v)
		if (strncmp(key, JWS_PREFIX, strlen(JWS_PREFIX)) == 0)
			json_object_del(data, key);
	all = store_all(&k->st, secrets_r(), "kube-system");
	json_array_foreach(all, i, s) {
		const char *type = json_string_value(json_object_get(s, "type"));
		const char *name = json_string_value(json_object_get(json_object_get(s, "metadata"), "name"));
		char *id, *secret, *usage;

		if (!type || strcmp(type, TOKEN_TYPE) != 0 || !name || strncmp(name, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 ||
		    !all_of(name + strlen(TOKEN_PREFIX), 6))
			continue;
		id = get_data(s, "token-id");
		secret = get_data(s, "token-secret");
		usage = get_data(s, "usage-bootstrap-signing");
		if (id[0] && strcmp(id, name + strlen(TOKEN_PREFIX)) == 0 && secret[0] && !expired(k, s) &&
		    strcmp(usage, "true") == 0) {
			char *sig = detached_jws(content, id, secret), *sk = xasprintf(JWS_PREFIX "%s", id);

			json_object_set_new(data, sk, json_string(sig));
			free(sig);
			free(sk);
		}
		free(id);
		free_secret(secret);
		free(usage);
	}
	json_decref(all);
	return rollout_save_as(k, cmr, cm, nw, "kube-controller-manager", NULL);
}

int bootstrap_step(struct fake_kube *k)
{
	int changes = token_cleaner(k);

	return changes + bootstrap_signer(k);
}

/* ---- cluster-info with other CAs ------------------------------------------------------------------ */

int fake_kube_seed_cluster_info(struct fake_kube *k, int extra_cas, const char *bundle_path)
{
	const struct kr *cmr = kr_find("", "v1", "configmaps");
	struct strbuf pem;
	char *b64 = NULL, *kc = NULL, *text = NULL;
	json_t *cm;
	int rc = -1;

	sb_init(&pem);
	if (k->ca_cert) {
		FILE *f = fopen(k->ca_cert, "r");
		char buf[4096];
		size_t n;

		if (!f)
			goto out;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			sb_add(&pem, buf, n);
		fclose(f);
	}
	for (int i = 0; i < extra_cas && i < 8; i++) {
		char cn[64], *ca;

		snprintf(cn, sizeof(cn), "throwaway-ca-%d", i + 1);
		ca = pki_throwaway_ca(cn, i % 2 == 1);
		if (!ca)
			goto out;
		sb_adds(&pem, ca);
		free(ca);
	}
	if (pem.len == 0)
		goto out;
	if (bundle_path) {
		FILE *f = fopen(bundle_path, "w");

		if (!f || fwrite(pem.buf, 1, pem.len, f) != pem.len) {
			if (f)
				fclose(f);
			goto out;
		}
		fclose(f);
	}
	b64 = xmalloc(4 * ((pem.len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pem.buf, (int)pem.len);
	kc = xasprintf("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: %s\n"
		       "  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n",
		       b64, k->url);
	cm = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name",
		       "cluster-info", "namespace", "kube-public", "data", "kubeconfig", kc);
	text = json_dumps(cm, JSON_COMPACT);
	json_decref(cm);
	pthread_mutex_lock(&k->mu);
	if (store_get(&k->st, cmr, "kube-public", "cluster-info"))
		store_remove(&k->st, cmr, "kube-public", "cluster-info");
	pthread_mutex_unlock(&k->mu);
	rc = fake_kube_seed(k, text) == 0 ? 0 : -1;
out:
	free(text);
	free(kc);
	free(b64);
	sb_release(&pem);
	return rc;
}
