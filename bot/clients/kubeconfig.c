/*
 * Reading a kubeconfig (see kubeconfig.h for the contract):
 * kubeconfig_load() takes the context (the one named, else the first
 * current-context of the files), finds the cluster and the user it names
 * and builds the target from them.
 *
 * A kubeconfig is read with bot/lib/yamltree (so errors carry file:line and
 * the field's path, e.g. users[1].user.client-key-data) and only what the
 * chosen context uses is checked in depth, as kubectl does: a broken entry
 * for another cluster does not stop this one.
 *
 * The files of the targets:
 *   kubeconfig.c          this
 *   kubeconfig_yaml.c     the files of a KUBECONFIG list and their YAML:
 *                         paths, typed fields, entries by name, errors that
 *                         name the file, line and field
 *   kubeconfig_entries.c  the cluster entry (server, CA) and the user entry
 *                         (token, tokenFile, client certificate and key,
 *                         exec plugin settings): inline data or files
 *   kubeconfig_check.c    base64 and PEM (OpenSSL), tokens, server URLs
 *   kubeconfig_target.c   releasing a target, the in-cluster service
 *                         account, KUBE_API_URL, and choosing the source of
 *                         a viva.yaml cluster (kube_target_resolve)
 *   kubeconfig_impl.h     what these files share (internal to them)
 */
#include "bot/clients/kubeconfig.h"
#include "bot/clients/kubeconfig_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"

#include <stdlib.h>
#include <string.h>

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
		rc = kubeconfig_fail(&kc, VIVA_EINVAL, "no kubeconfig path");
		goto out;
	}
	rc = kubeconfig_load_files(&kc, paths);
	if (rc != VIVA_OK)
		goto out;
	if (!ctx_name) {
		for (size_t fi = 0; fi < kc.n && !ctx_name; fi++) {
			rc = kubeconfig_get_str(&kc, fi, yamltree_root(kc.f[fi].t), "", "current-context", &ctx_name);
			if (rc != VIVA_OK)
				goto out;
		}
		if (!ctx_name) {
			rc = kubeconfig_fail(&kc, VIVA_EINVAL, "kubeconfig %s has no current-context; name one with "
					     "clusters.%s.context in viva.yaml", paths, kc.cluster);
			goto out;
		}
	}
	rc = kubeconfig_find_named(&kc, "contexts", "context", ctx_name, &cfi, &cpath, &cobj);
	if (rc == VIVA_ENOENT) {
		kubeconfig_names_of(&kc, "contexts", names, sizeof(names));
		rc = kubeconfig_fail(&kc, VIVA_ENOENT, "context '%s' not found in kubeconfig %s (it has: %s)", ctx_name,
				     paths, names);
	}
	if (rc != VIVA_OK)
		goto out;
	{
		char *base = yamltree_path_key(cpath, "context");
		rc = kubeconfig_get_str(&kc, cfi, cobj, base, "cluster", &cname);
		if (rc == VIVA_OK)
			rc = kubeconfig_get_str(&kc, cfi, cobj, base, "user", &uname);
		if (rc == VIVA_OK)
			rc = kubeconfig_get_str(&kc, cfi, cobj, base, "namespace", &ns);
		if (rc == VIVA_OK && (!cname || !uname)) {
			char *p = yamltree_path_key(base, !cname ? "cluster" : "user");
			rc = kubeconfig_fail_at(&kc, cfi, p, VIVA_EINVAL, "required (context '%s' names no %s)",
						ctx_name, !cname ? "cluster" : "user");
			free(p);
		}
		if (rc == VIVA_OK && ns && !is_dns1123_label(ns)) {
			char *p = yamltree_path_key(base, "namespace");
			rc = kubeconfig_fail_at(&kc, cfi, p, VIVA_EINVAL, "not a namespace name (a DNS-1123 label)");
			free(p);
		}
		free(base);
		if (rc != VIVA_OK)
			goto out;
	}
	rc = kubeconfig_find_named(&kc, "clusters", "cluster", cname, &clfi, &clpath, &clobj);
	if (rc == VIVA_ENOENT) {
		kubeconfig_names_of(&kc, "clusters", names, sizeof(names));
		rc = kubeconfig_fail(&kc, VIVA_ENOENT, "context '%s' names cluster '%s', which is not in kubeconfig %s "
				     "(it has: %s)", ctx_name, cname, paths, names);
	}
	if (rc == VIVA_OK)
		rc = kubeconfig_read_cluster(&kc, clfi, clpath, clobj, cname, out, &exec_cfg);
	if (rc != VIVA_OK)
		goto out;
	rc = kubeconfig_find_named(&kc, "users", "user", uname, &ufi, &upath, &uobj);
	if (rc == VIVA_ENOENT) {
		kubeconfig_names_of(&kc, "users", names, sizeof(names));
		rc = kubeconfig_fail(&kc, VIVA_ENOENT,
				     "context '%s' names user '%s', which is not in kubeconfig %s (it has: %s)",
				     ctx_name, uname, paths, names);
	}
	if (rc == VIVA_OK)
		rc = kubeconfig_read_user(&kc, ufi, upath, uobj, uname, out);
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
	kubeconfig_kc_release(&kc);
	return rc;
}
