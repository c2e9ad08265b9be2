/*
 * Node files (nodefiles.h): a version's tree gathered from the built-in
 * templates/node/ and the operator's directory, each file read within its
 * limits and rendered (the engine is nodefiles_tmpl.c), and the checks that
 * `node apply` runs up front.
 */
#include "bot/nodes/nodefiles.h"
#include "bot/nodes/nodefiles_impl.h"
#include "bot/model/builtin.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX      ((size_t)1 << 20)
#define TREE_IN_MAX   ((size_t)8 << 20)
#define TREE_OUT_MAX  NODETMPL_OUT_MAX
#define TREE_FILES    256
/* Entries looked at in one walk (files, folders, skipped names). */
#define TREE_ENTRIES  4096
#define TREE_DEPTH    8
#define REL_MAX       1024

/* One file of a version's tree: the built-in one, or the operator's. */
struct src {
	char *rel;                      /* under the version folder: "etc/containerd/config.toml" */
	const struct builtin_file *b;   /* NULL: <dir>/<version>/<rel> */
};

struct tree {
	const char *dir;       /* the operator's directory, or NULL */
	int dfd;               /* dir open; -1 when there is none */
	const char *version;
	bool found;            /* a tree exists for the version, here or built in */
	struct src *v;
	size_t n;
	size_t entries;
	char *err;
	size_t errlen;
};

void node_files_release(struct node_files *files)
{
	for (size_t i = 0; files && i < files->n; i++) {
		free(files->v[i].path);
		free(files->v[i].content);
	}
	if (files) {
		free(files->v);
		memset(files, 0, sizeof(*files));
	}
}

json_t *node_files_json(const struct node_files *files)
{
	json_t *a = json_array();

	for (size_t i = 0; i < files->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s%}", "path", files->v[i].path, "mode",
						   files->v[i].mode, "content", files->v[i].content, files->v[i].len));
	return a;
}

/* ---- which files ------------------------------------------------------------------ */

/* A version folder's name: 1.25.6, 1.27.0-rc.1 (never a path). */
static bool version_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64 || !(v[0] >= '0' && v[0] <= '9') || strstr(v, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      v[i] == '.' || v[i] == '-'))
			return false;
	return true;
}

/* A name the walk accepts: [A-Za-z0-9._@+-], not hidden, at most 255. */
static bool component_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      strchr("._@+-", s[i])))
			return false;
	return true;
}

/* Whether rel (under a version folder) is served to a node (nodefiles.h says which are not). */
static bool servable(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return strncmp(rel, "etc/", 4) == 0 && *base && base[0] != '.' && base[strlen(base) - 1] != '~' &&
	       strncmp(base, "README", 6) != 0 && strcmp(base, "kubelet.conf") != 0;
}

/* Add rel, or replace the file already there (the operator's after the built-in one). */
static int add_src(struct tree *t, const char *rel, const struct builtin_file *b)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].rel, rel) == 0) {
			t->v[i].b = b;
			return VIVA_OK;
		}
	if (t->n == TREE_FILES) {
		viva_errf(t->err, t->errlen, "the node files for Kubernetes %s are more than %d files", t->version,
			  TREE_FILES);
		return VIVA_ERANGE;
	}
	t->v[t->n].rel = xstrdup(rel);
	t->v[t->n].b = b;
	t->n++;
	return VIVA_OK;
}

static int collect_builtin(struct tree *t)
{
	char *prefix = xasprintf("node/%s/", t->version);
	size_t n = strlen(prefix);
	int rc = VIVA_OK;

	for (size_t i = 0; i < builtin_files_len && rc == VIVA_OK; i++) {
		const char *path = builtin_files[i].path;

		if (strncmp(path, prefix, n) != 0)
			continue;
		t->found = true;
		if (servable(path + n))
			rc = add_src(t, path + n, &builtin_files[i]);
	}
	free(prefix);
	return rc;
}

static int walk(struct tree *t, int fd, const char *rel, int depth);

/* One entry of a walk: a folder to go into, a file to serve, or neither. */
static int walk_entry(struct tree *t, int fd, const char *rel, const char *name, int depth)
{
	char *crel = rel[0] ? xasprintf("%s/%s", rel, name) : xstrdup(name), shown[96];
	struct stat st;
	int rc = VIVA_OK, sub;

	/* only etc/ holds node files: a README or notes beside it are not walked */
	if (strcmp(crel, "etc") != 0 && strncmp(crel, "etc/", 4) != 0)
		goto out;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		viva_errf(t->err, t->errlen, "%s/%s/%s: %s", t->dir, t->version,
			  text_shown(crel, shown, sizeof(shown), 80), strerror(errno));
		rc = VIVA_EIO;
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !servable(crel))
		goto out;   /* README, kubelet.conf, a backup~: never served */
	if (!component_ok(name) || strlen(crel) > REL_MAX) {
		viva_errf(t->err, t->errlen, "%s/%s/%s: not a usable file name (letters, digits and . _ @ + - only)",
			  t->dir, t->version, text_shown(crel, shown, sizeof(shown), 80));
		rc = VIVA_EINVAL;
	} else if (S_ISDIR(st.st_mode)) {
		if (depth + 1 > TREE_DEPTH) {
			viva_errf(t->err, t->errlen, "%s/%s/%s: folders nested deeper than %d", t->dir, t->version,
				  crel, TREE_DEPTH);
			rc = VIVA_ERANGE;
		} else if ((sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			viva_errf(t->err, t->errlen, "%s/%s/%s: %s", t->dir, t->version, crel, strerror(errno));
			rc = VIVA_EIO;
		} else {
			rc = walk(t, sub, crel, depth + 1);
			close(sub);
		}
	} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
		/* a link is read with READ_BENEATH later: inside dir, or refused then */
		rc = add_src(t, crel, NULL);
	} else {
		viva_errf(t->err, t->errlen, "%s/%s/%s: not a regular file", t->dir, t->version, crel);
		rc = VIVA_EINVAL;
	}
out:
	free(crel);
	return rc;
}

/* The folder open at fd (rel under the version folder); hidden names (.git, .x.swp) skipped. */
static int walk(struct tree *t, int fd, const char *rel, int depth)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	struct dirent *de;
	int rc = VIVA_OK;

	if (!d) {
		if (dup >= 0)
			close(dup);
		viva_errf(t->err, t->errlen, "%s/%s/%s: cannot be listed", t->dir, t->version, rel);
		return VIVA_EIO;
	}
	while (rc == VIVA_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (++t->entries > TREE_ENTRIES) {
			viva_errf(t->err, t->errlen, "%s/%s: more than %d entries", t->dir, t->version, TREE_ENTRIES);
			rc = VIVA_ERANGE;
		} else {
			rc = walk_entry(t, fd, rel, de->d_name, depth);
		}
	}
	closedir(d);
	return rc;
}

/* The operator's folder for the version, if any, walked. */
static int collect_dir(struct tree *t)
{
	int fd;
	int rc;

	if (t->dfd < 0)
		return VIVA_OK;
	fd = openat(t->dfd, t->version, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return VIVA_OK;
	if (fd < 0) {
		int e = errno;
		bool odd = e == ELOOP || e == ENOTDIR;

		/* a link or a file: version folders are folders (link the files inside instead) */
		viva_errf(t->err, t->errlen, "%s/%s: not a folder (%s)", t->dir, t->version,
			  odd ? "a link or a file" : strerror(e));
		return odd ? VIVA_EINVAL : VIVA_EIO;
	}
	t->found = true;
	rc = walk(t, fd, "", 0);
	close(fd);
	return rc;
}

/* ---- rendering -------------------------------------------------------------------------- */

static int cmp_src(const void *a, const void *b)
{
	return strcmp(((const struct src *)a)->rel, ((const struct src *)b)->rel);
}

/* Text the API can carry in JSON: no NUL, UTF-8. */
static const char *not_text(const char *s, size_t len)
{
	size_t i = 0;

	if (memchr(s, '\0', len))
		return "contains a NUL byte (node files are text)";
	while (i < len) {
		size_t k = utf8_char_len((const unsigned char *)s + i, len - i);

		if (k == 0)
			return "is not UTF-8 text";
		i += k;
	}
	return NULL;
}

/* One file: read (the operator's within its limits), checked, rendered into nf. */
static int render_src(struct tree *t, const struct src *s, const json_t *vars, size_t *in_left,
		      size_t *out_left, struct node_file *nf)
{
	char *name, *path = NULL, *buf = NULL;
	const char *data, *why = NULL;
	unsigned mode;
	size_t len = 0;
	struct strbuf sb;
	struct stat st;
	int rc = VIVA_OK;

	sb_init(&sb);
	if (s->b) {
		name = xasprintf("templates/node/%s/%s", t->version, s->rel);
		data = (const char *)s->b->data;
		len = s->b->len;
		mode = s->b->mode;
	} else {
		path = xasprintf("%s/%s", t->version, s->rel);
		name = xasprintf("%s/%s", t->dir, path);
		rc = read_regular_file(t->dfd, path, READ_BENEATH, FILE_MAX, &buf, &len, &why);
		if (rc != VIVA_OK) {
			viva_errf(t->err, t->errlen, "%s: %s%s", name, why, rc == VIVA_ERANGE ? " of 1 MiB" : "");
			goto out;
		}
		data = buf;
		/* the mode of what was read: a link's target */
		mode = fstatat(t->dfd, path, &st, 0) == 0 && (st.st_mode & 0111) ? 0755 : 0644;
	}
	if (len > *in_left) {
		viva_errf(t->err, t->errlen, "the node files for Kubernetes %s are larger than 8 MiB in all", t->version);
		rc = VIVA_ERANGE;
		goto out;
	}
	*in_left -= len;
	if ((why = not_text(data, len)) != NULL) {
		viva_errf(t->err, t->errlen, "%s: %s", name, why);
		rc = VIVA_EINVAL;
		goto out;
	}
	rc = nodetmpl_render(name, data, len, vars, out_left, &sb, t->err, t->errlen);
	if (rc != VIVA_OK)
		goto out;
	nf->path = xasprintf("/%s", s->rel);
	snprintf(nf->mode, sizeof(nf->mode), "%04o", mode == 0755 ? 0755 : 0644);
	nf->len = sb.len;
	nf->content = sb_detach(&sb);
out:
	sb_release(&sb);
	free(buf);
	free(path);
	free(name);
	return rc;
}

static char *versions_text(const char *dir)
{
	json_t *vs = NULL, *v;
	struct strbuf sb;
	size_t i;

	nodefiles_versions(dir, &vs, NULL, 0);   /* for a message: what can be listed */
	sb_init(&sb);
	json_array_foreach(vs, i, v)
		sb_addf(&sb, "%s%s", i ? ", " : "", json_string_value(v));
	json_decref(vs);
	if (!sb.len)
		sb_adds(&sb, "none");
	return sb_detach(&sb);
}

static int missing_version(const char *dir, const char *version, char *err, size_t errlen)
{
	char *have = versions_text(dir);

	if (dir)
		viva_errf(err, errlen, "no node files for Kubernetes %s: neither templates/node/%s/ built into viva "
			  "nor %s/%s/ (versions with node files: %s)", version, version, dir, version, have);
	else
		viva_errf(err, errlen, "no node files for Kubernetes %s: no templates/node/%s/ built into viva, and "
			  "no node_templates directory (versions with node files: %s)", version, version, have);
	free(have);
	return VIVA_ENOENT;
}

/* The operator's directory open at *dfd, or -1 when it does not exist (built-ins only). */
static int open_dir(const char *dir, int *dfd, char *err, size_t errlen)
{
	*dfd = -1;
	if (!dir)
		return VIVA_OK;
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd >= 0 || errno == ENOENT)
		return VIVA_OK;
	viva_errf(err, errlen, "the node templates directory %s (node_templates) cannot be read: %s", dir,
		  strerror(errno));
	return VIVA_EIO;
}

static int render_version(const char *dir, const char *version, const json_t *vars, struct node_files *out,
			  char *err, size_t errlen)
{
	struct tree t = { .dir = dir, .dfd = -1, .version = version, .err = err, .errlen = errlen };
	size_t in_left = TREE_IN_MAX, out_left = TREE_OUT_MAX;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!version || !version_ok(version)) {
		viva_errf(err, errlen, "no node files for Kubernetes %s: not a version", version ? version : "(none)");
		return VIVA_ENOENT;
	}
	rc = open_dir(dir, &t.dfd, err, errlen);
	if (rc)
		return rc;
	t.v = xcalloc(TREE_FILES, sizeof(*t.v));
	rc = collect_builtin(&t);
	if (rc == VIVA_OK)
		rc = collect_dir(&t);
	if (rc == VIVA_OK && !t.found)
		rc = missing_version(dir, version, err, errlen);
	if (rc == VIVA_OK) {
		qsort(t.v, t.n, sizeof(*t.v), cmp_src);
		out->v = xcalloc(t.n + 1, sizeof(*out->v));
		for (size_t i = 0; i < t.n && rc == VIVA_OK; i++) {
			rc = render_src(&t, &t.v[i], vars, &in_left, &out_left, &out->v[i]);
			if (rc == VIVA_OK)
				out->n++;
		}
	}
	if (rc != VIVA_OK)
		node_files_release(out);
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].rel);
	free(t.v);
	if (t.dfd >= 0)
		close(t.dfd);
	return rc;
}

int nodefiles_render(const char *dir, const struct node_settings *s, struct node_files *out,
		     char *err, size_t errlen)
{
	return render_version(dir, s->kubernetes_version, s->vars, out, err, errlen);
}

/* ---- versions and checks ------------------------------------------------------------------ */

static int cmp_version(const void *a, const void *b)
{
	return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

/* Add name to v (n of cap) unless it is there. */
static void add_unique(char ***v, size_t *n, size_t *cap, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], name) == 0)
			return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(name);
}

int nodefiles_versions(const char *dir, json_t **out, char *err, size_t errlen)
{
	char **v = NULL;
	size_t n = 0, cap = 0, seen = 0;
	int dfd = -1, rc;
	DIR *d = NULL;
	struct dirent *de;

	*out = json_array();
	for (size_t i = 0; i < builtin_files_len; i++) {
		const char *p = builtin_files[i].path, *slash;
		char *name;

		if (strncmp(p, "node/", 5) != 0 || !(slash = strchr(p + 5, '/')))
			continue;
		name = xstrndup(p + 5, (size_t)(slash - p - 5));
		if (version_ok(name))
			add_unique(&v, &n, &cap, name);
		free(name);
	}
	rc = open_dir(dir, &dfd, err, errlen);
	if (rc == VIVA_OK && dfd >= 0 && !(d = fdopendir(dfd))) {
		close(dfd);
		viva_errf(err, errlen, "the node templates directory %s (node_templates) cannot be listed", dir);
		rc = VIVA_EIO;
	}
	while (d && rc == VIVA_OK && (de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (++seen > TREE_ENTRIES) {
			/* the versions past the limit would be missed: say so rather than list some */
			viva_errf(err, errlen, "the node templates directory %s (node_templates) has more than %d "
				  "entries", dir, TREE_ENTRIES);
			rc = VIVA_ERANGE;
		} else if (version_ok(de->d_name) && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   S_ISDIR(st.st_mode)) {
			add_unique(&v, &n, &cap, de->d_name);
		}
	}
	if (d)
		closedir(d);   /* and dfd */
	if (n)
		qsort(v, n, sizeof(*v), cmp_version);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(*out, json_string(v[i]));
		free(v[i]);
	}
	free(v);
	return rc;
}

int nodefiles_check(const char *dir, const struct node_settings *sample, json_t *problems)
{
	json_t *vs = NULL, *v;
	size_t i, before = json_array_size(problems);
	char err[512];

	if (nodefiles_versions(dir, &vs, err, sizeof(err)) != VIVA_OK)
		json_array_append_new(problems, json_pack("{s:s}", "error", err));
	json_array_foreach(vs, i, v) {
		struct node_files files;

		if (render_version(dir, json_string_value(v), sample->vars, &files, err, sizeof(err)) != VIVA_OK)
			json_array_append_new(problems, json_pack("{s:O, s:s}", "version", v, "error", err));
		node_files_release(&files);
	}
	json_decref(vs);
	return json_array_size(problems) > before ? VIVA_EINVAL : VIVA_OK;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What a render's errors depend on: the version and the names of the variables. */
static char *signature(const struct node_settings *s)
{
	size_t n = json_object_size(s->vars), k = 0;
	const char **keys = xcalloc(n + 1, sizeof(*keys));
	struct strbuf sb;
	const char *key;
	json_t *val;

	json_object_foreach(s->vars, key, val)
		keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_name);
	sb_init(&sb);
	sb_adds(&sb, s->kubernetes_version);
	for (size_t i = 0; i < k; i++)
		sb_addf(&sb, ",%s", keys[i]);
	free(keys);
	return sb_detach(&sb);
}

/* One node of cluster c (host NULL: a worker with the common settings). */
static void check_node(const char *dir, const struct cluster_set *set, const char *cluster, const char *host,
		       json_t *seen, json_t *problems)
{
	char *sample = host ? NULL : xasprintf("kube-%s-sample-node", cluster), *sig = NULL, err[512];
	struct node_settings *s = NULL;
	struct node_files files;

	if (cluster_resolve_in(set, cluster, host ? host : sample, &s, err, sizeof(err)) != VIVA_OK)
		goto out;   /* the set's own hosts and clusters always resolve */
	sig = signature(s);
	if (json_object_get(seen, sig))
		goto out;
	json_object_set_new(seen, sig, json_true());
	if (render_version(dir, s->kubernetes_version, s->vars, &files, err, sizeof(err)) != VIVA_OK) {
		json_t *p = json_pack("{s:s, s:s, s:s}", "cluster", cluster, "version", s->kubernetes_version,
				      "error", err);

		if (host)
			json_object_set_new(p, "host", json_string(host));
		json_array_append_new(problems, p);
	}
	node_files_release(&files);
out:
	node_settings_free(s);
	free(sig);
	free(sample);
}

int nodefiles_check_set(const char *dir, const struct cluster_set *set, json_t *problems)
{
	size_t before = json_array_size(problems);

	for (size_t i = 0; i < cluster_set_count(set); i++) {
		const struct cluster_config *c = cluster_set_at(set, i);
		json_t *seen = json_object();

		check_node(dir, set, cluster_config_name(c), NULL, seen, problems);
		for (size_t j = 0; j < cluster_config_host_count(c); j++)
			check_node(dir, set, cluster_config_name(c), cluster_config_host(c, j, NULL), seen, problems);
		json_decref(seen);
	}
	return json_array_size(problems) > before ? VIVA_EINVAL : VIVA_OK;
}
