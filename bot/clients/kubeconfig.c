/*
 * Kubernetes targets: kubeconfig files, the in-cluster service account,
 * KUBE_API_URL (see kubeconfig.h for the contract).
 *
 * A kubeconfig is read with bot/lib/yamltree (so errors carry file:line and
 * the field's path, e.g. users[1].user.client-key-data) and only what the
 * chosen context uses is checked in depth, as kubectl does: a broken entry
 * for another cluster does not stop this one.
 */
#include "bot/clients/kubeconfig.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"
#include "bot/model/config.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KUBECONFIG_MAX_BYTES ((size_t)8 << 20)
#define PEM_MAX_BYTES        ((size_t)1 << 20)
#define TOKEN_MAX_BYTES      ((size_t)64 << 10)
#define MAX_FILES            16
#define MAX_NAMES_SHOWN      8
#define EXEC_EXTENSION       "client.authentication.k8s.io/exec"

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

/* ---- targets ------------------------------------------------------------------- */

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void kube_exec_spec_free(struct kube_exec_spec *e)
{
	if (!e)
		return;
	free(e->api_version);
	free(e->command);
	free_strv(e->args);
	/* env values may be secrets (AWS_PROFILE is not, a key would be) */
	for (char **p = e->env; p && *p; p++)
		free_secret(*p);
	free(e->env);
	free(e->install_hint);
	json_decref(e->cluster_config);
	free(e);
}

void kube_target_release(struct kube_target *t)
{
	if (!t)
		return;
	free(t->cluster);
	free(t->source);
	free(t->server);
	free(t->namespace_);
	free(t->context);
	free(t->ca_file);
	free(t->ca_pem);
	free(t->cert_file);
	free(t->cert_pem);
	free(t->key_file);
	free_secret(t->key_pem);
	free_secret(t->token);
	free(t->token_file);
	kube_exec_spec_free(t->exec);
	free(t->auth_source);
	free(t->ca_hint);
	memset(t, 0, sizeof(*t));
}

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
static char *trim(char *s)
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
static char *server_url(const char *s, const char **why)
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

/* ---- reading a kubeconfig --------------------------------------------------------- */

struct kfile {
	char *path;
	char *dir;                    /* relative paths in it resolve here */
	struct yamltree *t;
};

struct kc {
	const char *cluster;          /* viva's name for it */
	const char *shown;            /* the paths as given, for messages */
	struct kfile f[MAX_FILES];
	size_t n;
	char *err;
	size_t errlen;
};

static int fail(struct kc *kc, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct kc *kc, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	viva_errf(kc->err, kc->errlen, "cluster %s: %s", kc->cluster, msg);
	return rc;
}

/* An error about the field at path in file fi: "kubeconfig P:LINE: path: msg". */
static int fail_at(struct kc *kc, size_t fi, const char *path, int rc, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail_at(struct kc *kc, size_t fi, const char *path, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int line = yamltree_line(kc->f[fi].t, path);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		viva_errf(kc->err, kc->errlen, "cluster %s: kubeconfig %s:%d: %s: %s", kc->cluster, kc->f[fi].path, line,
			  path, msg);
	else
		viva_errf(kc->err, kc->errlen, "cluster %s: kubeconfig %s: %s: %s", kc->cluster, kc->f[fi].path, path,
			  msg);
	return rc;
}

static void kc_release(struct kc *kc)
{
	for (size_t i = 0; i < kc->n; i++) {
		free(kc->f[i].path);
		free(kc->f[i].dir);
		yamltree_free(kc->f[i].t);
	}
	kc->n = 0;
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");

	return h && *h ? h : NULL;
}

/* "~/x" -> $HOME/x; absolute stays; else against dir. NULL: no HOME. */
static char *resolve_path(const char *dir, const char *p)
{
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		const char *h = home_dir();
		return h ? xasprintf("%s%s", h, p + 1) : NULL;
	}
	if (p[0] == '/' || !dir)
		return xstrdup(p);
	return xasprintf("%s/%s", dir, p);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *cwd, *d;

	if (slash == path)
		return xstrdup("/");
	if (slash)
		d = xstrndup(path, (size_t)(slash - path));
	else
		d = xstrdup(".");
	if (d[0] == '/')
		return d;
	/* relative to the working directory now, so it cannot move later */
	cwd = getcwd(NULL, 0);
	if (cwd) {
		char *abs = strcmp(d, ".") == 0 ? xstrdup(cwd) : xasprintf("%s/%s", cwd, d);
		free(cwd);
		free(d);
		return abs;
	}
	return d;
}

/* Read and parse one file into kc->f[kc->n]. VIVA_ENOENT when it is not there. */
static int load_file(struct kc *kc, const char *path, bool missing_ok)
{
	struct yamltree_limits lim = { .max_bytes = KUBECONFIG_MAX_BYTES, .aliases = true };
	struct yamltree_error ye;
	struct kfile *f;
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (kc->n >= MAX_FILES)
		return fail(kc, VIVA_ERANGE, "KUBECONFIG lists more than %d files", MAX_FILES);
	rc = read_regular_file(AT_FDCWD, path, 0, KUBECONFIG_MAX_BYTES, &text, &len, &why);
	if (rc == VIVA_ENOENT && missing_ok)
		return VIVA_ENOENT;
	if (rc != VIVA_OK)
		return fail(kc, rc == VIVA_ERANGE ? VIVA_EINVAL : rc, "kubeconfig %s %s", path,
			    why ? why : "cannot be read");
	f = &kc->f[kc->n];
	memset(f, 0, sizeof(*f));
	rc = yamltree_parse(text, len, &lim, &f->t, &ye);
	free_secret(text);   /* it may hold tokens and keys */
	if (rc != VIVA_OK) {
		if (ye.line > 0)
			return fail(kc, VIVA_EPARSE, "kubeconfig %s:%d: %s", path, ye.line, ye.msg);
		return fail(kc, VIVA_EPARSE, "kubeconfig %s: %s", path, ye.msg);
	}
	f->path = xstrdup(path);
	f->dir = dir_of(path);
	kc->n++;
	if (yamltree_ndups(f->t) > 0) {
		const struct yamltree_dup *d = yamltree_dup(f->t, 0);
		return fail(kc, VIVA_EPARSE, "kubeconfig %s:%d: key '%s' repeated%s%s", path, d->line, d->key,
			    d->parent && *d->parent ? " in " : "", d->parent && *d->parent ? d->parent : "");
	}
	{
		json_t *root = yamltree_root(f->t);
		if (!json_is_object(root) && !json_is_null(root))
			return fail(kc, VIVA_EPARSE, "kubeconfig %s: not a kubeconfig (expected a mapping with "
				    "clusters, contexts and users)", path);
	}
	return VIVA_OK;
}

/* Every file of paths (one, or a ':' list) into kc. */
static int load_files(struct kc *kc, const char *paths)
{
	bool list = strchr(paths, ':') != NULL;
	const char *p = paths;
	int rc = VIVA_OK;

	while (*p) {
		size_t n = strcspn(p, ":");
		char *one = xstrndup(p, n), *path;

		p += n;
		if (*p == ':')
			p++;
		if (!*one) {
			free(one);
			continue;
		}
		path = resolve_path(NULL, one);
		free(one);
		if (!path)
			return fail(kc, VIVA_EINVAL, "kubeconfig path starts with ~ but HOME is not set");
		rc = load_file(kc, path, list);
		free(path);
		if (rc == VIVA_ENOENT && list)
			continue;
		if (rc != VIVA_OK)
			return rc;
	}
	if (kc->n == 0)
		return fail(kc, VIVA_ENOENT, "none of the kubeconfig files %s exists", paths);
	return VIVA_OK;
}

/* obj[key] as a string at base.key: NULL when absent, null or "". */
static int get_str(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key,
		   const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return VIVA_OK;
	if (!json_is_string(v)) {
		char *path = yamltree_path_key(base, key);
		int rc = fail_at(kc, fi, path, VIVA_EINVAL, "expected a string");
		free(path);
		return rc;
	}
	if (json_string_length(v) > 0)
		*out = json_string_value(v);
	return VIVA_OK;
}

static int get_bool(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	*out = false;
	if (!v || json_is_null(v))
		return VIVA_OK;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return VIVA_OK;
	}
	s = json_string_value(v);
	if (s && (strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)) {
		*out = true;
		return VIVA_OK;
	}
	if (s && (strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0))
		return VIVA_OK;
	{
		char *path = yamltree_path_key(base, key);
		int rc = fail_at(kc, fi, path, VIVA_EINVAL, "expected true or false");
		free(path);
		return rc;
	}
}

/* A mapping member that must be a mapping (null counts as an empty one). */
static int get_map(struct kc *kc, size_t fi, json_t *obj, const char *base, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return VIVA_OK;
	if (!json_is_object(v)) {
		char *path = yamltree_path_key(base, key);
		int rc = fail_at(kc, fi, path, VIVA_EPARSE, "expected a mapping");
		free(path);
		return rc;
	}
	*out = v;
	return VIVA_OK;
}

/* The names listed under key (clusters, contexts, users) in every file, for a message. */
static void names_of(struct kc *kc, const char *key, char *buf, size_t n)
{
	struct strbuf sb;
	int shown = 0, more = 0;

	sb_init(&sb);
	for (size_t fi = 0; fi < kc->n; fi++) {
		json_t *list = json_object_get(yamltree_root(kc->f[fi].t), key), *e;
		size_t i;

		json_array_foreach(list, i, e) {
			const char *name = json_string_value(json_object_get(e, "name"));
			if (!name)
				continue;
			if (shown >= MAX_NAMES_SHOWN) {
				more++;
				continue;
			}
			sb_addf(&sb, "%s%s", shown ? ", " : "", name);
			shown++;
		}
	}
	if (more)
		sb_addf(&sb, " and %d more", more);
	snprintf(buf, n, "%s", shown ? sb.buf : "none");
	sb_release(&sb);
}

/*
 * The entry named name in list key of the first file that has one: its
 * file, its path ("users[1]", caller frees) and its inner mapping (the
 * entry's `inner` member: cluster, context, user).
 */
static int find_named(struct kc *kc, const char *key, const char *inner, const char *name, size_t *fi_out,
		      char **path_out, json_t **obj_out)
{
	*path_out = NULL;
	*obj_out = NULL;
	for (size_t fi = 0; fi < kc->n; fi++) {
		json_t *root = yamltree_root(kc->f[fi].t), *list = json_object_get(root, key), *e;
		size_t i;

		if (!list || json_is_null(list))
			continue;
		if (!json_is_array(list))
			return fail_at(kc, fi, key, VIVA_EPARSE, "expected a list");
		json_array_foreach(list, i, e) {
			char *path = yamltree_path_index(key, i);
			json_t *nm = json_object_get(e, "name"), *obj = NULL;
			int rc;

			if (!json_is_object(e)) {
				rc = fail_at(kc, fi, path, VIVA_EPARSE, "expected a mapping with name and %s", inner);
				free(path);
				return rc;
			}
			if (!json_is_string(nm) || json_string_length(nm) == 0) {
				char *np = yamltree_path_key(path, "name");
				rc = fail_at(kc, fi, np, VIVA_EINVAL, "required (a string)");
				free(np);
				free(path);
				return rc;
			}
			if (strcmp(json_string_value(nm), name) != 0) {
				free(path);
				continue;
			}
			rc = get_map(kc, fi, e, path, inner, &obj);
			if (rc != VIVA_OK) {
				free(path);
				return rc;
			}
			*fi_out = fi;
			*path_out = path;
			*obj_out = obj;   /* NULL: an empty entry */
			return VIVA_OK;
		}
	}
	return VIVA_ENOENT;
}

/* A file named at field path: resolved against the file's directory, read,
 * checked. *abs gets the resolved path (caller frees). */
static int read_named_file(struct kc *kc, size_t fi, const char *path, const char *name, size_t max,
			   char **abs, char **text, size_t *len)
{
	const char *why = NULL;
	int rc;

	*abs = resolve_path(kc->f[fi].dir, name);
	if (!*abs)
		return fail_at(kc, fi, path, VIVA_EINVAL, "starts with ~ but HOME is not set");
	rc = read_regular_file(AT_FDCWD, *abs, 0, max, text, len, &why);
	if (rc != VIVA_OK)
		return fail_at(kc, fi, path, rc == VIVA_ENOENT ? VIVA_EINVAL : rc == VIVA_ERANGE ? VIVA_EINVAL : rc,
			       "file %s %s", *abs, why ? why : "cannot be read");
	return VIVA_OK;
}

/*
 * PEM from `<key>-data` (base64) or from the file `<key>` at base. *pem or
 * *file is set (caller frees); *pem_len its length. Neither when absent.
 */
static int pem_field(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key,
		     enum kube_pem_kind kind, char **pem, size_t *pem_len, char **file)
{
	char *dkey = xasprintf("%s-data", key), *path = NULL;
	const char *data = NULL, *name = NULL, *why;
	unsigned char *raw = NULL;
	char *text = NULL, *abs = NULL;
	size_t len = 0;
	int rc;

	*pem = NULL;
	*file = NULL;
	*pem_len = 0;
	rc = get_str(kc, fi, obj, base, dkey, &data);
	if (rc == VIVA_OK)
		rc = get_str(kc, fi, obj, base, key, &name);
	if (rc != VIVA_OK)
		goto out;
	if (data) {
		/* -data wins over the file, as in kubectl */
		path = yamltree_path_key(base, dkey);
		if (kube_base64_decode(data, &raw, &len) != VIVA_OK) {
			rc = fail_at(kc, fi, path, VIVA_EINVAL, "not valid base64");
			goto out;
		}
		if ((why = kube_pem_check((const char *)raw, len, kind))) {
			rc = fail_at(kc, fi, path, VIVA_EINVAL, "%s", why);
			goto out;
		}
		*pem = (char *)raw;
		*pem_len = len;
		raw = NULL;
	} else if (name) {
		path = yamltree_path_key(base, key);
		rc = read_named_file(kc, fi, path, name, PEM_MAX_BYTES, &abs, &text, &len);
		if (rc != VIVA_OK)
			goto out;
		if ((why = kube_pem_check(text, len, kind))) {
			rc = fail_at(kc, fi, path, VIVA_EINVAL, "file %s: %s", abs, why);
			goto out;
		}
		*file = abs;
		abs = NULL;
		if (kind == KUBE_PEM_CERT || kind == KUBE_PEM_KEY) {
			/* kept for the pair check; the file is what libcurl reads */
			*pem = text;
			*pem_len = len;
			text = NULL;
		}
	}
out:
	if (raw) {
		explicit_bzero(raw, len);
		free(raw);
	}
	free_secret(text);
	free(abs);
	free(path);
	free(dkey);
	return rc;
}

static int refuse_keys(struct kc *kc, size_t fi, const json_t *obj, const char *base,
		       const char *const *keys, const char *why)
{
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(obj, *k);
		if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
			char *path = yamltree_path_key(base, *k);
			int rc = fail_at(kc, fi, path, VIVA_EINVAL, "%s", why);
			free(path);
			return rc;
		}
	}
	return VIVA_OK;
}

/* clusters[i].cluster */
static int read_cluster(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *cname,
			struct kube_target *t, json_t **exec_cfg)
{
	static const char *const unsupported[] = { "proxy-url", "tls-server-name", NULL };
	char *base = yamltree_path_key(epath, "cluster"), *file = NULL, *pem = NULL;
	const char *server = NULL, *why = NULL;
	size_t pem_len = 0;
	json_t *ext, *e;
	size_t i;
	int rc;

	if (!obj) {
		rc = fail_at(kc, fi, epath, VIVA_EINVAL, "cluster.server: required");
		goto out;
	}
	rc = get_str(kc, fi, obj, base, "server", &server);
	if (rc != VIVA_OK)
		goto out;
	if (!server) {
		char *p = yamltree_path_key(base, "server");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "required (the API server's URL)");
		free(p);
		goto out;
	}
	t->server = server_url(server, &why);
	if (!t->server) {
		char *p = yamltree_path_key(base, "server");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "%s", why);
		free(p);
		goto out;
	}
	rc = refuse_keys(kc, fi, obj, base, unsupported,
			 "not supported by viva (reach the server directly, or set HTTPS_PROXY)");
	if (rc != VIVA_OK)
		goto out;
	rc = pem_field(kc, fi, obj, base, "certificate-authority", KUBE_PEM_CA, &pem, &pem_len, &file);
	if (rc != VIVA_OK)
		goto out;
	t->ca_pem = file ? NULL : pem;
	if (file)
		free(pem);
	pem = NULL;
	t->ca_file = file;
	rc = get_bool(kc, fi, obj, base, "insecure-skip-tls-verify", &t->insecure);
	if (rc != VIVA_OK)
		goto out;
	if (t->insecure && (t->ca_file || t->ca_pem)) {
		char *p = yamltree_path_key(base, "insecure-skip-tls-verify");
		rc = fail_at(kc, fi, p, VIVA_EINVAL,
			     "cannot be used with a certificate-authority (trust the CA, or skip checks, not both)");
		free(p);
		goto out;
	}
	t->ca_hint = xasprintf("set certificate-authority of cluster '%s' in kubeconfig %s", cname, kc->f[fi].path);
	/* what an exec plugin gets as spec.cluster.config */
	ext = json_object_get(obj, "extensions");
	json_array_foreach(ext, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n && strcmp(n, EXEC_EXTENSION) == 0 && json_object_get(e, "extension")) {
			*exec_cfg = json_deep_copy(json_object_get(e, "extension"));
			break;
		}
	}
out:
	free(base);
	return rc;
}

/* users[i].user.exec */
static int read_exec(struct kc *kc, size_t fi, const char *base, json_t *obj, struct kube_exec_spec **out)
{
	struct kube_exec_spec *e = xcalloc(1, sizeof(*e));
	const char *s = NULL;
	json_t *list, *item;
	size_t i, n;
	char *p = NULL;
	int rc;

	*out = NULL;
	e->args = xcalloc(1, sizeof(char *));
	e->env = xcalloc(1, sizeof(char *));
	rc = get_str(kc, fi, obj, base, "apiVersion", &s);
	if (rc != VIVA_OK)
		goto out;
	if (!s || (strcmp(s, KUBE_EXEC_V1) != 0 && strcmp(s, KUBE_EXEC_V1BETA1) != 0)) {
		p = yamltree_path_key(base, "apiVersion");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "%s (use %s)",
			     !s ? "required" : strcmp(s, "client.authentication.k8s.io/v1alpha1") == 0
			     ? "v1alpha1 is no longer supported" : "not a version viva knows", KUBE_EXEC_V1);
		goto out;
	}
	e->api_version = xstrdup(s);
	rc = get_str(kc, fi, obj, base, "command", &s);
	if (rc != VIVA_OK)
		goto out;
	if (!s) {
		p = yamltree_path_key(base, "command");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "required (the plugin to run)");
		goto out;
	}
	if (strchr(s, '/')) {
		/* a path: relative to the kubeconfig, as kubectl does; a bare
		 * name is looked up in PATH when it runs */
		e->command = resolve_path(kc->f[fi].dir, s);
		if (!e->command || access(e->command, X_OK) != 0) {
			p = yamltree_path_key(base, "command");
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "%s is not an executable file", e->command ? e->command : s);
			goto out;
		}
	} else {
		e->command = xstrdup(s);
	}
	list = json_object_get(obj, "args");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list)) {
			p = yamltree_path_key(base, "args");
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "expected a list of strings");
			goto out;
		}
		n = json_array_size(list);
		e->args = xrealloc(e->args, (n + 1) * sizeof(char *));
		json_array_foreach(list, i, item) {
			if (!json_is_string(item)) {
				char *ap = yamltree_path_key(base, "args");
				p = yamltree_path_index(ap, i);
				free(ap);
				e->args[i] = NULL;
				rc = fail_at(kc, fi, p, VIVA_EINVAL, "expected a string");
				goto out;
			}
			e->args[i] = xstrdup(json_string_value(item));
			e->args[i + 1] = NULL;
		}
	}
	list = json_object_get(obj, "env");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list)) {
			p = yamltree_path_key(base, "env");
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "expected a list of {name, value}");
			goto out;
		}
		n = json_array_size(list);
		e->env = xrealloc(e->env, (n + 1) * sizeof(char *));
		e->env[0] = NULL;
		json_array_foreach(list, i, item) {
			const char *name = json_string_value(json_object_get(item, "name"));
			json_t *val = json_object_get(item, "value");
			char *ep = yamltree_path_key(base, "env");

			p = yamltree_path_index(ep, i);
			free(ep);
			if (!json_is_object(item) || !name || !*name || strchr(name, '=') ||
			    (val && !json_is_null(val) && !json_is_string(val))) {
				rc = fail_at(kc, fi, p, VIVA_EINVAL, "expected {name: NAME, value: text}");
				goto out;
			}
			e->env[i] = xasprintf("%s=%s", name, json_string_value(val) ? json_string_value(val) : "");
			e->env[i + 1] = NULL;
			free(p);
			p = NULL;
		}
	}
	rc = get_str(kc, fi, obj, base, "installHint", &s);
	if (rc != VIVA_OK)
		goto out;
	e->install_hint = xstrdup(s);
	rc = get_bool(kc, fi, obj, base, "provideClusterInfo", &e->provide_cluster_info);
	if (rc != VIVA_OK)
		goto out;
	rc = get_str(kc, fi, obj, base, "interactiveMode", &s);
	if (rc != VIVA_OK)
		goto out;
	p = yamltree_path_key(base, "interactiveMode");
	if (!s && strcmp(e->api_version, KUBE_EXEC_V1) == 0) {
		/* v1 has no default, as kubectl says */
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "required with %s (Never or IfAvailable)", KUBE_EXEC_V1);
		goto out;
	}
	if (s && strcmp(s, "Always") == 0) {
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "Always needs a terminal, and viva runs without one "
			     "(use Never or IfAvailable)");
		goto out;
	}
	if (s && strcmp(s, "Never") != 0 && strcmp(s, "IfAvailable") != 0) {
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "expected Never, IfAvailable or Always");
		goto out;
	}
	*out = e;
	e = NULL;
out:
	free(p);
	kube_exec_spec_free(e);
	return rc;
}

/* users[i].user */
static int read_user(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *uname,
		     struct kube_target *t)
{
	static const char *const basic[] = { "username", "password", NULL };
	static const char *const imp[] = { "as", "as-groups", "as-uid", "as-user-extra", NULL };
	char *base = yamltree_path_key(epath, "user"), *p = NULL, *cert = NULL, *key = NULL;
	char *cert_file = NULL, *key_file = NULL, *text = NULL, *abs = NULL;
	const char *token = NULL, *token_file = NULL;
	size_t cert_len = 0, key_len = 0, len = 0;
	json_t *exec = NULL;
	const char *file = kc->f[fi].path;
	int rc = VIVA_OK;

	if (!obj) {
		t->auth_source = xasprintf("no credentials (user '%s' in kubeconfig %s has none)", uname, file);
		goto out;
	}
	rc = refuse_keys(kc, fi, obj, base, (const char *const[]){ "auth-provider", NULL },
			 "not supported: Kubernetes removed the gcp, azure and oidc providers; use an exec "
			 "plugin (gke-gcloud-auth-plugin, kubelogin, aws eks get-token)");
	if (rc == VIVA_OK)
		rc = refuse_keys(kc, fi, obj, base, basic, "basic authentication is not supported (use a token, "
				 "a client certificate or an exec plugin)");
	if (rc == VIVA_OK)
		rc = refuse_keys(kc, fi, obj, base, imp, "impersonation is not supported by viva");
	if (rc == VIVA_OK)
		rc = get_str(kc, fi, obj, base, "token", &token);
	if (rc == VIVA_OK)
		rc = get_str(kc, fi, obj, base, "tokenFile", &token_file);
	if (rc == VIVA_OK)
		rc = get_map(kc, fi, obj, base, "exec", &exec);
	if (rc != VIVA_OK)
		goto out;
	if (exec && (token || token_file)) {
		p = yamltree_path_key(base, token ? "token" : "tokenFile");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "cannot be used with exec (keep one way to get a token)");
		goto out;
	}
	if (token) {
		if (!kube_token_ok(token)) {
			p = yamltree_path_key(base, "token");
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "not a token (it holds blanks or control characters)");
			goto out;
		}
		t->token = xstrdup(token);
	}
	if (token_file) {
		p = yamltree_path_key(base, "tokenFile");
		rc = read_named_file(kc, fi, p, token_file, TOKEN_MAX_BYTES, &abs, &text, &len);
		if (rc != VIVA_OK)
			goto out;
		if (!kube_token_ok(trim(text))) {
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "file %s does not hold a token", abs);
			goto out;
		}
		t->token_file = abs;
		abs = NULL;
		free(p);
		p = NULL;
	}
	rc = pem_field(kc, fi, obj, base, "client-certificate", KUBE_PEM_CERT, &cert, &cert_len, &cert_file);
	if (rc == VIVA_OK)
		rc = pem_field(kc, fi, obj, base, "client-key", KUBE_PEM_KEY, &key, &key_len, &key_file);
	if (rc != VIVA_OK)
		goto out;
	if (!cert != !key) {
		p = yamltree_path_key(base, cert ? "client-certificate" : "client-key");
		rc = fail_at(kc, fi, p, VIVA_EINVAL, "%s needs %s as well", cert ? "a client certificate" : "a client key",
			     cert ? "client-key or client-key-data" : "client-certificate or client-certificate-data");
		goto out;
	}
	if (cert) {
		const char *why = kube_pem_pair_check(cert, cert_len, key, key_len);
		if (why) {
			p = yamltree_path_key(base, key_file ? "client-key" : "client-key-data");
			rc = fail_at(kc, fi, p, VIVA_EINVAL, "%s", why);
			goto out;
		}
		/* a file is handed to libcurl by name (rotation), data as text */
		if (cert_file) {
			t->cert_file = cert_file;
			cert_file = NULL;
		} else {
			t->cert_pem = cert;
			cert = NULL;
		}
		if (key_file) {
			t->key_file = key_file;
			key_file = NULL;
		} else {
			t->key_pem = key;
			key = NULL;
		}
	}
	if (exec) {
		p = yamltree_path_key(base, "exec");
		rc = read_exec(kc, fi, p, exec, &t->exec);
		if (rc != VIVA_OK)
			goto out;
	}
	if (t->exec)
		t->auth_source = xasprintf("the credential plugin '%s' of user '%s' in kubeconfig %s",
					   strrchr(t->exec->command, '/') ? strrchr(t->exec->command, '/') + 1
					   : t->exec->command, uname, file);
	else if (t->token_file)
		t->auth_source = xasprintf("the token file %s of user '%s' in kubeconfig %s", t->token_file, uname, file);
	else if (t->token)
		t->auth_source = xasprintf("the token of user '%s' in kubeconfig %s", uname, file);
	else if (t->cert_file || t->cert_pem)
		t->auth_source = xasprintf("the client certificate of user '%s' in kubeconfig %s", uname, file);
	else
		t->auth_source = xasprintf("no credentials (user '%s' in kubeconfig %s has none)", uname, file);
out:
	free(base);
	free(p);
	free_secret(cert);
	free_secret(key);
	free(cert_file);
	free(key_file);
	free_secret(text);
	free(abs);
	return rc;
}

int kubeconfig_load(const char *paths, const char *context, const char *cluster, struct kube_target *out,
		    char *err, size_t errlen)
{
	struct kc kc = { .cluster = cluster ? cluster : "(unnamed)", .shown = paths, .err = err, .errlen = errlen };
	const char *ctx_name = context && *context ? context : NULL;
	const char *cname = NULL, *uname = NULL, *ns = NULL;
	json_t *cobj = NULL, *clobj = NULL, *uobj = NULL, *exec_cfg = NULL;
	char *cpath = NULL, *clpath = NULL, *upath = NULL, names[512];
	size_t cfi = 0, clfi = 0, ufi = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!paths || !*paths) {
		rc = fail(&kc, VIVA_EINVAL, "no kubeconfig path");
		goto out;
	}
	rc = load_files(&kc, paths);
	if (rc != VIVA_OK)
		goto out;
	if (!ctx_name) {
		for (size_t fi = 0; fi < kc.n && !ctx_name; fi++) {
			rc = get_str(&kc, fi, yamltree_root(kc.f[fi].t), "", "current-context", &ctx_name);
			if (rc != VIVA_OK)
				goto out;
		}
		if (!ctx_name) {
			rc = fail(&kc, VIVA_EINVAL, "kubeconfig %s has no current-context; name one with "
				  "clusters.%s.context in viva.yaml", paths, kc.cluster);
			goto out;
		}
	}
	rc = find_named(&kc, "contexts", "context", ctx_name, &cfi, &cpath, &cobj);
	if (rc == VIVA_ENOENT) {
		names_of(&kc, "contexts", names, sizeof(names));
		rc = fail(&kc, VIVA_ENOENT, "context '%s' not found in kubeconfig %s (it has: %s)", ctx_name, paths,
			  names);
	}
	if (rc != VIVA_OK)
		goto out;
	{
		char *base = yamltree_path_key(cpath, "context");
		rc = get_str(&kc, cfi, cobj, base, "cluster", &cname);
		if (rc == VIVA_OK)
			rc = get_str(&kc, cfi, cobj, base, "user", &uname);
		if (rc == VIVA_OK)
			rc = get_str(&kc, cfi, cobj, base, "namespace", &ns);
		if (rc == VIVA_OK && (!cname || !uname)) {
			char *p = yamltree_path_key(base, !cname ? "cluster" : "user");
			rc = fail_at(&kc, cfi, p, VIVA_EINVAL, "required (context '%s' names no %s)", ctx_name,
				     !cname ? "cluster" : "user");
			free(p);
		}
		if (rc == VIVA_OK && ns && !is_dns1123_label(ns)) {
			char *p = yamltree_path_key(base, "namespace");
			rc = fail_at(&kc, cfi, p, VIVA_EINVAL, "not a namespace name (a DNS-1123 label)");
			free(p);
		}
		free(base);
		if (rc != VIVA_OK)
			goto out;
	}
	rc = find_named(&kc, "clusters", "cluster", cname, &clfi, &clpath, &clobj);
	if (rc == VIVA_ENOENT) {
		names_of(&kc, "clusters", names, sizeof(names));
		rc = fail(&kc, VIVA_ENOENT, "context '%s' names cluster '%s', which is not in kubeconfig %s "
			  "(it has: %s)", ctx_name, cname, paths, names);
	}
	if (rc == VIVA_OK)
		rc = read_cluster(&kc, clfi, clpath, clobj, cname, out, &exec_cfg);
	if (rc != VIVA_OK)
		goto out;
	rc = find_named(&kc, "users", "user", uname, &ufi, &upath, &uobj);
	if (rc == VIVA_ENOENT) {
		names_of(&kc, "users", names, sizeof(names));
		rc = fail(&kc, VIVA_ENOENT, "context '%s' names user '%s', which is not in kubeconfig %s (it has: %s)",
			  ctx_name, uname, paths, names);
	}
	if (rc == VIVA_OK)
		rc = read_user(&kc, ufi, upath, uobj, uname, out);
	if (rc != VIVA_OK)
		goto out;
	if (out->exec) {
		out->exec->cluster_config = exec_cfg;
		exec_cfg = NULL;
	}
	out->cluster = xstrdup(kc.cluster);
	out->context = xstrdup(ctx_name);
	out->namespace_ = xstrdup(ns ? ns : "default");
	out->source = xasprintf("kubeconfig %s (context %s)", paths, ctx_name);
out:
	if (rc != VIVA_OK)
		kube_target_release(out);
	json_decref(exec_cfg);
	free(cpath);
	free(clpath);
	free(upath);
	kc_release(&kc);
	return rc;
}

/* ---- in-cluster and environment --------------------------------------------------------- */

static const char *sa_dir_or_default(const char *sa_dir)
{
	const char *env;

	if (sa_dir && *sa_dir)
		return sa_dir;
	env = getenv("VIVA_KUBE_SA_DIR");
	return env && *env ? env : KUBE_SA_DIR;
}

bool kube_in_cluster(const char *sa_dir)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok;
	bool ok;

	if (!host || !*host || !port || !*port)
		return false;
	tok = xasprintf("%s/token", sa_dir_or_default(sa_dir));
	ok = access(tok, R_OK) == 0;
	free(tok);
	return ok;
}

static int fail_plain(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_plain(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	viva_errf(err, errlen, "%s", msg);
	return rc;
}

/* A CA bundle file (KUBE_CA_FILE, ca.crt): readable and PEM. */
static int check_ca_file(const char *cluster, const char *what, const char *path, char *err, size_t errlen)
{
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = read_regular_file(AT_FDCWD, path, 0, PEM_MAX_BYTES, &text, &len, &why);

	if (rc != VIVA_OK)
		return fail_plain(err, errlen, rc == VIVA_ERANGE ? VIVA_EINVAL : rc, "cluster %s: %s %s %s", cluster,
				  what, path, why ? why : "cannot be read");
	why = kube_pem_check(text, len, KUBE_PEM_CA);
	free(text);
	if (why)
		return fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: %s %s: %s", cluster, what, path, why);
	return VIVA_OK;
}

int kube_target_in_cluster(const char *sa_dir, const char *cluster, struct kube_target *out, char *err,
			   size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = sa_dir_or_default(sa_dir), *why = NULL;
	char *tok_path = NULL, *ca_path = NULL, *ns_path = NULL, *text = NULL;
	int rc = VIVA_OK;

	memset(out, 0, sizeof(*out));
	cluster = cluster ? cluster : "(unnamed)";
	if (!host || !*host || !port || !*port) {
		rc = fail_plain(err, errlen, VIVA_ENOENT, "cluster %s: not running in a pod "
				"(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)", cluster);
		goto out;
	}
	for (const char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':') {
			rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: KUBERNETES_SERVICE_HOST is not a host",
					cluster);
			goto out;
		}
	for (const char *p = port; *p; p++)
		if (!isdigit((unsigned char)*p) || p - port > 5) {
			rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: KUBERNETES_SERVICE_PORT is not a port",
					cluster);
			goto out;
		}
	tok_path = xasprintf("%s/token", dir);
	ca_path = xasprintf("%s/ca.crt", dir);
	ns_path = xasprintf("%s/namespace", dir);
	rc = read_regular_file(AT_FDCWD, tok_path, 0, TOKEN_MAX_BYTES, &text, NULL, &why);
	if (rc != VIVA_OK) {
		rc = fail_plain(err, errlen, rc == VIVA_ERANGE ? VIVA_EINVAL : rc,
				"cluster %s: the service account token %s %s", cluster, tok_path, why);
		goto out;
	}
	if (!kube_token_ok(trim(text))) {
		rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: the service account token %s does not hold a token",
				cluster, tok_path);
		goto out;
	}
	free_secret(text);
	text = NULL;
	rc = check_ca_file(cluster, "the service account CA", ca_path, err, errlen);
	if (rc != VIVA_OK)
		goto out;
	rc = read_regular_file(AT_FDCWD, ns_path, 0, 256, &text, NULL, &why);
	if (rc == VIVA_OK) {
		trim(text);
		if (*text && !is_dns1123_label(text)) {
			rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: %s does not hold a namespace name", cluster,
					ns_path);
			goto out;
		}
		out->namespace_ = xstrdup(*text ? text : "default");
	} else if (rc == VIVA_ENOENT) {
		out->namespace_ = xstrdup("default");
		rc = VIVA_OK;
	} else {
		rc = fail_plain(err, errlen, rc == VIVA_ERANGE ? VIVA_EINVAL : rc, "cluster %s: %s %s", cluster,
				ns_path, why);
		goto out;
	}
	out->cluster = xstrdup(cluster);
	out->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port) : xasprintf("https://%s:%s", host, port);
	out->token_file = tok_path;
	tok_path = NULL;
	out->ca_file = ca_path;
	ca_path = NULL;
	out->source = xasprintf("the in-cluster service account (%s)", dir);
	out->auth_source = xasprintf("the service account token in %s", dir);
	out->ca_hint = xasprintf("the service account's ca.crt in %s does not sign it", dir);
out:
	if (rc != VIVA_OK)
		kube_target_release(out);
	free(tok_path);
	free(ca_path);
	free(ns_path);
	free_secret(text);
	return rc;
}

int kube_target_from_env(const char *url, const char *token, const char *ca_file, const char *cluster,
			 struct kube_target *out, char *err, size_t errlen)
{
	const char *why = NULL;
	int rc = VIVA_OK;

	memset(out, 0, sizeof(*out));
	cluster = cluster ? cluster : "(unnamed)";
	if (!url || !*url) {
		rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: KUBE_API_URL is not set", cluster);
		goto out;
	}
	out->server = server_url(url, &why);
	if (!out->server) {
		rc = fail_plain(err, errlen, VIVA_EINVAL, "cluster %s: KUBE_API_URL: %s", cluster, why);
		goto out;
	}
	if (token && *token) {
		if (!kube_token_ok(token)) {
			rc = fail_plain(err, errlen, VIVA_EINVAL,
					"cluster %s: KUBE_TOKEN is not a token (it holds blanks or control characters)",
					cluster);
			goto out;
		}
		out->token = xstrdup(token);
	}
	if (ca_file && *ca_file) {
		rc = check_ca_file(cluster, "KUBE_CA_FILE", ca_file, err, errlen);
		if (rc != VIVA_OK)
			goto out;
		out->ca_file = xstrdup(ca_file);
	}
	out->cluster = xstrdup(cluster);
	out->namespace_ = xstrdup("default");
	out->source = xstrdup("KUBE_API_URL");
	out->auth_source = xstrdup(out->token ? "KUBE_TOKEN" : "no credentials (KUBE_TOKEN is not set)");
	out->ca_hint = xstrdup("set KUBE_CA_FILE");
out:
	if (rc != VIVA_OK)
		kube_target_release(out);
	return rc;
}

int kube_target_resolve(const struct viva_config *cfg, const struct config_cluster *cl,
			const struct kube_resolve_opts *o, struct kube_target *out, char *err, size_t errlen)
{
	const char *name = cl && cl->name ? cl->name : "(unnamed)";
	const char *sa_dir = o ? o->sa_dir : NULL;
	const char *home = o && o->home ? o->home : home_dir();
	char *home_cfg = home ? xasprintf("%s/.kube/config", home) : NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cl && cl->kubeconfig && *cl->kubeconfig) {
		rc = kubeconfig_load(cl->kubeconfig, cl->context, name, out, err, errlen);
	} else if (cl && cl->context && *cl->context) {
		if (cfg && cfg->kubeconfig && *cfg->kubeconfig)
			rc = kubeconfig_load(cfg->kubeconfig, cl->context, name, out, err, errlen);
		else if (home_cfg)
			rc = kubeconfig_load(home_cfg, cl->context, name, out, err, errlen);
		else
			rc = fail_plain(err, errlen, VIVA_ENOENT, "cluster %s: context '%s' needs a kubeconfig: set "
					"clusters.%s.kubeconfig or KUBECONFIG", name, cl->context, name);
	} else if (cfg && cfg->kube_api_url && *cfg->kube_api_url) {
		rc = kube_target_from_env(cfg->kube_api_url, cfg->kube_token, cfg->kube_ca_file, name, out, err, errlen);
	} else if (cfg && cfg->kubeconfig && *cfg->kubeconfig) {
		rc = kubeconfig_load(cfg->kubeconfig, NULL, name, out, err, errlen);
	} else if (kube_in_cluster(sa_dir)) {
		rc = kube_target_in_cluster(sa_dir, name, out, err, errlen);
	} else if (home_cfg && access(home_cfg, F_OK) == 0) {
		rc = kubeconfig_load(home_cfg, NULL, name, out, err, errlen);
	} else {
		rc = fail_plain(err, errlen, VIVA_ENOENT, "cluster %s: no way to reach it: set clusters.%s.kubeconfig "
				"in viva.yaml, KUBECONFIG, or KUBE_API_URL and KUBE_TOKEN", name, name);
	}
	free(home_cfg);
	return rc;
}
