/*
 * Targets (see kubeconfig.h for the contract): releasing them, the
 * in-cluster service account, KUBE_API_URL + KUBE_TOKEN + KUBE_CA_FILE, and
 * kube_target_resolve(), which chooses the source of a viva.yaml cluster
 * (a kubeconfig is read by kubeconfig_load() in kubeconfig.c).
 */
#include "bot/clients/kubeconfig.h"
#include "bot/clients/kubeconfig_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/text.h"
#include "bot/model/config.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if (!kube_token_ok(kubeconfig_trim(text))) {
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
		kubeconfig_trim(text);
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
	out->server = kubeconfig_server_url(url, &why);
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
	const char *home = o && o->home ? o->home : kubeconfig_home_dir();
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
