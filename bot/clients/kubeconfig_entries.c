/*
 * The entries of the chosen context (for kubeconfig_load() in kubeconfig.c):
 * the cluster (server, certificate-authority[-data],
 * insecure-skip-tls-verify, the exec extension) and the user (token,
 * tokenFile, client-certificate[-data] + client-key[-data], an exec
 * credential plugin's settings); inline `-data` (base64) against files
 * resolved beside the kubeconfig; the settings viva refuses.
 */
#include "bot/clients/kubeconfig.h"
#include "bot/clients/kubeconfig_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/yamltree.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXEC_EXTENSION       "client.authentication.k8s.io/exec"

/* A file named at field path: resolved against the file's directory, read,
 * checked. *abs gets the resolved path (caller frees). */
static int read_named_file(struct kc *kc, size_t fi, const char *path, const char *name, size_t max,
			   char **abs, char **text, size_t *len)
{
	const char *why = NULL;
	int rc;

	*abs = kubeconfig_resolve_path(kc->f[fi].dir, name);
	if (!*abs)
		return kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "starts with ~ but HOME is not set");
	rc = read_regular_file(AT_FDCWD, *abs, 0, max, text, len, &why);
	if (rc != VIVA_OK)
		return kubeconfig_fail_at(kc, fi, path,
					  rc == VIVA_ENOENT ? VIVA_EINVAL : rc == VIVA_ERANGE ? VIVA_EINVAL : rc,
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
	rc = kubeconfig_get_str(kc, fi, obj, base, dkey, &data);
	if (rc == VIVA_OK)
		rc = kubeconfig_get_str(kc, fi, obj, base, key, &name);
	if (rc != VIVA_OK)
		goto out;
	if (data) {
		/* -data wins over the file, as in kubectl */
		path = yamltree_path_key(base, dkey);
		if (kube_base64_decode(data, &raw, &len) != VIVA_OK) {
			rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "not valid base64");
			goto out;
		}
		if ((why = kube_pem_check((const char *)raw, len, kind))) {
			rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "%s", why);
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
			rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "file %s: %s", abs, why);
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
			int rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "%s", why);
			free(path);
			return rc;
		}
	}
	return VIVA_OK;
}

/* clusters[i].cluster */
int kubeconfig_read_cluster(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *cname,
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
		rc = kubeconfig_fail_at(kc, fi, epath, VIVA_EINVAL, "cluster.server: required");
		goto out;
	}
	rc = kubeconfig_get_str(kc, fi, obj, base, "server", &server);
	if (rc != VIVA_OK)
		goto out;
	if (!server) {
		char *p = yamltree_path_key(base, "server");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "required (the API server's URL)");
		free(p);
		goto out;
	}
	t->server = kubeconfig_server_url(server, &why);
	if (!t->server) {
		char *p = yamltree_path_key(base, "server");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "%s", why);
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
	rc = kubeconfig_get_bool(kc, fi, obj, base, "insecure-skip-tls-verify", &t->insecure);
	if (rc != VIVA_OK)
		goto out;
	if (t->insecure && (t->ca_file || t->ca_pem)) {
		char *p = yamltree_path_key(base, "insecure-skip-tls-verify");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL,
					"cannot be used with a certificate-authority (trust the CA, or skip checks, "
					"not both)");
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
	rc = kubeconfig_get_str(kc, fi, obj, base, "apiVersion", &s);
	if (rc != VIVA_OK)
		goto out;
	if (!s || (strcmp(s, KUBE_EXEC_V1) != 0 && strcmp(s, KUBE_EXEC_V1BETA1) != 0)) {
		p = yamltree_path_key(base, "apiVersion");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "%s (use %s)",
					!s ? "required" : strcmp(s, "client.authentication.k8s.io/v1alpha1") == 0
					? "v1alpha1 is no longer supported" : "not a version viva knows", KUBE_EXEC_V1);
		goto out;
	}
	e->api_version = xstrdup(s);
	rc = kubeconfig_get_str(kc, fi, obj, base, "command", &s);
	if (rc != VIVA_OK)
		goto out;
	if (!s) {
		p = yamltree_path_key(base, "command");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "required (the plugin to run)");
		goto out;
	}
	if (strchr(s, '/')) {
		/* a path: relative to the kubeconfig, as kubectl does; a bare
		 * name is looked up in PATH when it runs */
		e->command = kubeconfig_resolve_path(kc->f[fi].dir, s);
		if (!e->command || access(e->command, X_OK) != 0) {
			p = yamltree_path_key(base, "command");
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "%s is not an executable file",
						e->command ? e->command : s);
			goto out;
		}
	} else {
		e->command = xstrdup(s);
	}
	list = json_object_get(obj, "args");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list)) {
			p = yamltree_path_key(base, "args");
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "expected a list of strings");
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
				rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "expected a string");
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
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "expected a list of {name, value}");
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
				rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "expected {name: NAME, value: text}");
				goto out;
			}
			e->env[i] = xasprintf("%s=%s", name, json_string_value(val) ? json_string_value(val) : "");
			e->env[i + 1] = NULL;
			free(p);
			p = NULL;
		}
	}
	rc = kubeconfig_get_str(kc, fi, obj, base, "installHint", &s);
	if (rc != VIVA_OK)
		goto out;
	e->install_hint = xstrdup(s);
	rc = kubeconfig_get_bool(kc, fi, obj, base, "provideClusterInfo", &e->provide_cluster_info);
	if (rc != VIVA_OK)
		goto out;
	rc = kubeconfig_get_str(kc, fi, obj, base, "interactiveMode", &s);
	if (rc != VIVA_OK)
		goto out;
	p = yamltree_path_key(base, "interactiveMode");
	if (!s && strcmp(e->api_version, KUBE_EXEC_V1) == 0) {
		/* v1 has no default, as kubectl says */
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "required with %s (Never or IfAvailable)",
					KUBE_EXEC_V1);
		goto out;
	}
	if (s && strcmp(s, "Always") == 0) {
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "Always needs a terminal, and viva runs without one "
					"(use Never or IfAvailable)");
		goto out;
	}
	if (s && strcmp(s, "Never") != 0 && strcmp(s, "IfAvailable") != 0) {
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "expected Never, IfAvailable or Always");
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
int kubeconfig_read_user(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *uname,
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
		rc = kubeconfig_get_str(kc, fi, obj, base, "token", &token);
	if (rc == VIVA_OK)
		rc = kubeconfig_get_str(kc, fi, obj, base, "tokenFile", &token_file);
	if (rc == VIVA_OK)
		rc = kubeconfig_get_map(kc, fi, obj, base, "exec", &exec);
	if (rc != VIVA_OK)
		goto out;
	if (exec && (token || token_file)) {
		p = yamltree_path_key(base, token ? "token" : "tokenFile");
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL,
					"cannot be used with exec (keep one way to get a token)");
		goto out;
	}
	if (token) {
		if (!kube_token_ok(token)) {
			p = yamltree_path_key(base, "token");
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL,
						"not a token (it holds blanks or control characters)");
			goto out;
		}
		t->token = xstrdup(token);
	}
	if (token_file) {
		p = yamltree_path_key(base, "tokenFile");
		rc = read_named_file(kc, fi, p, token_file, TOKEN_MAX_BYTES, &abs, &text, &len);
		if (rc != VIVA_OK)
			goto out;
		if (!kube_token_ok(kubeconfig_trim(text))) {
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "file %s does not hold a token", abs);
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
		rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "%s needs %s as well",
					cert ? "a client certificate" : "a client key",
					cert ? "client-key or client-key-data"
					: "client-certificate or client-certificate-data");
		goto out;
	}
	if (cert) {
		const char *why = kube_pem_pair_check(cert, cert_len, key, key_len);
		if (why) {
			p = yamltree_path_key(base, key_file ? "client-key" : "client-key-data");
			rc = kubeconfig_fail_at(kc, fi, p, VIVA_EINVAL, "%s", why);
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
