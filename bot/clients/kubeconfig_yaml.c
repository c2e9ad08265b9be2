/*
 * Reading kubeconfig files and walking their YAML (bot/lib/yamltree), for
 * kubeconfig.c and kubeconfig_entries.c: the files of a KUBECONFIG list,
 * paths relative to a file or "~/", the errors that name the file, line and
 * field, typed fields, and the cluster, context or user entry of a name.
 */
#include "bot/clients/kubeconfig.h"
#include "bot/clients/kubeconfig_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/yamltree.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KUBECONFIG_MAX_BYTES ((size_t)8 << 20)
#define MAX_NAMES_SHOWN      8

int kubeconfig_fail(struct kc *kc, int rc, const char *fmt, ...)
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
int kubeconfig_fail_at(struct kc *kc, size_t fi, const char *path, int rc, const char *fmt, ...)
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

void kubeconfig_kc_release(struct kc *kc)
{
	for (size_t i = 0; i < kc->n; i++) {
		free(kc->f[i].path);
		free(kc->f[i].dir);
		yamltree_free(kc->f[i].t);
	}
	kc->n = 0;
}

const char *kubeconfig_home_dir(void)
{
	const char *h = getenv("HOME");

	return h && *h ? h : NULL;
}

/* "~/x" -> $HOME/x; absolute stays; else against dir. NULL: no HOME. */
char *kubeconfig_resolve_path(const char *dir, const char *p)
{
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		const char *h = kubeconfig_home_dir();
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
		return kubeconfig_fail(kc, VIVA_ERANGE, "KUBECONFIG lists more than %d files", MAX_FILES);
	rc = read_regular_file(AT_FDCWD, path, 0, KUBECONFIG_MAX_BYTES, &text, &len, &why);
	if (rc == VIVA_ENOENT && missing_ok)
		return VIVA_ENOENT;
	if (rc != VIVA_OK)
		return kubeconfig_fail(kc, rc == VIVA_ERANGE ? VIVA_EINVAL : rc, "kubeconfig %s %s", path,
				       why ? why : "cannot be read");
	f = &kc->f[kc->n];
	memset(f, 0, sizeof(*f));
	rc = yamltree_parse(text, len, &lim, &f->t, &ye);
	free_secret(text);   /* it may hold tokens and keys */
	if (rc != VIVA_OK) {
		if (ye.line > 0)
			return kubeconfig_fail(kc, VIVA_EPARSE, "kubeconfig %s:%d: %s", path, ye.line, ye.msg);
		return kubeconfig_fail(kc, VIVA_EPARSE, "kubeconfig %s: %s", path, ye.msg);
	}
	f->path = xstrdup(path);
	f->dir = dir_of(path);
	kc->n++;
	if (yamltree_ndups(f->t) > 0) {
		const struct yamltree_dup *d = yamltree_dup(f->t, 0);
		return kubeconfig_fail(kc, VIVA_EPARSE, "kubeconfig %s:%d: key '%s' repeated%s%s", path, d->line,
				       d->key, d->parent && *d->parent ? " in " : "",
				       d->parent && *d->parent ? d->parent : "");
	}
	{
		json_t *root = yamltree_root(f->t);
		if (!json_is_object(root) && !json_is_null(root))
			return kubeconfig_fail(kc, VIVA_EPARSE, "kubeconfig %s: not a kubeconfig (expected a "
					       "mapping with clusters, contexts and users)", path);
	}
	return VIVA_OK;
}

/* Every file of paths (one, or a ':' list) into kc. */
int kubeconfig_load_files(struct kc *kc, const char *paths)
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
		path = kubeconfig_resolve_path(NULL, one);
		free(one);
		if (!path)
			return kubeconfig_fail(kc, VIVA_EINVAL, "kubeconfig path starts with ~ but HOME is not set");
		rc = load_file(kc, path, list);
		free(path);
		if (rc == VIVA_ENOENT && list)
			continue;
		if (rc != VIVA_OK)
			return rc;
	}
	if (kc->n == 0)
		return kubeconfig_fail(kc, VIVA_ENOENT, "none of the kubeconfig files %s exists", paths);
	return VIVA_OK;
}

/* obj[key] as a string at base.key: NULL when absent, null or "". */
int kubeconfig_get_str(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key,
		       const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return VIVA_OK;
	if (!json_is_string(v)) {
		char *path = yamltree_path_key(base, key);
		int rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "expected a string");
		free(path);
		return rc;
	}
	if (json_string_length(v) > 0)
		*out = json_string_value(v);
	return VIVA_OK;
}

int kubeconfig_get_bool(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key, bool *out)
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
		int rc = kubeconfig_fail_at(kc, fi, path, VIVA_EINVAL, "expected true or false");
		free(path);
		return rc;
	}
}

/* A mapping member that must be a mapping (null counts as an empty one). */
int kubeconfig_get_map(struct kc *kc, size_t fi, json_t *obj, const char *base, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return VIVA_OK;
	if (!json_is_object(v)) {
		char *path = yamltree_path_key(base, key);
		int rc = kubeconfig_fail_at(kc, fi, path, VIVA_EPARSE, "expected a mapping");
		free(path);
		return rc;
	}
	*out = v;
	return VIVA_OK;
}

/* The names listed under key (clusters, contexts, users) in every file, for a message. */
void kubeconfig_names_of(struct kc *kc, const char *key, char *buf, size_t n)
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
int kubeconfig_find_named(struct kc *kc, const char *key, const char *inner, const char *name, size_t *fi_out,
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
			return kubeconfig_fail_at(kc, fi, key, VIVA_EPARSE, "expected a list");
		json_array_foreach(list, i, e) {
			char *path = yamltree_path_index(key, i);
			json_t *nm = json_object_get(e, "name"), *obj = NULL;
			int rc;

			if (!json_is_object(e)) {
				rc = kubeconfig_fail_at(kc, fi, path, VIVA_EPARSE,
							"expected a mapping with name and %s", inner);
				free(path);
				return rc;
			}
			if (!json_is_string(nm) || json_string_length(nm) == 0) {
				char *np = yamltree_path_key(path, "name");
				rc = kubeconfig_fail_at(kc, fi, np, VIVA_EINVAL, "required (a string)");
				free(np);
				free(path);
				return rc;
			}
			if (strcmp(json_string_value(nm), name) != 0) {
				free(path);
				continue;
			}
			rc = kubeconfig_get_map(kc, fi, e, path, inner, &obj);
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
