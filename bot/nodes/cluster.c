/*
 * Cluster configs (cluster.h): the immutable set, loading the directory
 * with the last good version of an invalid file kept, the change report,
 * and the published set. The rest is in the other cluster*.c files, which
 * share bot/nodes/cluster_impl.h:
 *   cluster_parse.c    one file: YAML to a validated, normalized tree, errors
 *                      with file:line
 *   cluster_config.c   one config: built from that tree, its references and
 *                      accessors; a file's error list
 *   cluster_check.c    value checks (versions, addresses, globs, near misses)
 *   cluster_resolve.c  a host name to its settings; the settings as JSON
 */
#include "bot/nodes/cluster_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More files than this is a wrong directory, not a fleet: nothing is applied. */
#define CLUSTER_MAX_FILES   1000
#define CLUSTER_FILE_MAX    ((size_t)1 << 20)
#define CLUSTER_TOTAL_MAX   ((size_t)16 << 20)

struct cluster_set {
	atomic_int refs;
	struct cluster_config **v;   /* sorted by name */
	char **stale;                /* per v[i]: its current file's errors when v[i] is the last good version */
	size_t n;
};

const char *node_role_name(enum node_role role)
{
	return role == NODE_MASTER ? "master" : "worker";
}

/* ---- the set ------------------------------------------------------------------------ */

static struct cluster_set *set_new(size_t cap)
{
	struct cluster_set *s = xcalloc(1, sizeof(*s));

	atomic_init(&s->refs, 1);
	s->v = xcalloc(cap + 1, sizeof(*s->v));
	s->stale = xcalloc(cap + 1, sizeof(*s->stale));
	return s;
}

struct cluster_set *cluster_set_empty(void)
{
	return set_new(0);
}

struct cluster_set *cluster_set_ref(const struct cluster_set *set)
{
	/* immutable but for the count, which is atomic */
	struct cluster_set *s = (struct cluster_set *)set;

	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void cluster_set_unref(struct cluster_set *set)
{
	if (!set || atomic_fetch_sub(&set->refs, 1) != 1)
		return;
	for (size_t i = 0; i < set->n; i++) {
		cluster_config_unref(set->v[i]);
		free(set->stale[i]);
	}
	free(set->v);
	free(set->stale);
	free(set);
}

size_t cluster_set_count(const struct cluster_set *set)
{
	return set ? set->n : 0;
}

const struct cluster_config *cluster_set_at(const struct cluster_set *set, size_t i)
{
	return set && i < set->n ? set->v[i] : NULL;
}

static long find_index(const struct cluster_set *set, const char *name)
{
	size_t lo = 0, hi = set ? set->n : 0;

	while (name && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->v[mid]->name, name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct cluster_config *cluster_set_find(const struct cluster_set *set, const char *name)
{
	long i = find_index(set, name);

	return i < 0 ? NULL : set->v[i];
}

const char *cluster_set_stale(const struct cluster_set *set, const char *name)
{
	long i = find_index(set, name);

	return i < 0 ? NULL : set->stale[i];
}

/* ---- the report ----------------------------------------------------------------------- */

void cluster_report_init(struct cluster_report *r)
{
	memset(r, 0, sizeof(*r));
	r->added = json_array();
	r->removed = json_array();
	r->changed = json_array();
	r->invalid = json_array();
	r->skipped = json_array();
	r->conflicts = json_array();
}

void cluster_report_release(struct cluster_report *r)
{
	if (!r)
		return;
	json_decref(r->added);
	json_decref(r->removed);
	json_decref(r->changed);
	json_decref(r->invalid);
	json_decref(r->skipped);
	json_decref(r->conflicts);
	memset(r, 0, sizeof(*r));
}

static void add_names(struct strbuf *sb, const char *what, const json_t *names)
{
	size_t i;
	json_t *v;

	if (!json_array_size(names))
		return;
	sb_addf(sb, "%s%s: ", sb->len ? "\n" : "", what);
	json_array_foreach(names, i, v)
		sb_addf(sb, "%s%s", i ? ", " : "", json_string_value(v));
}

char *cluster_report_format(const struct cluster_report *r)
{
	struct strbuf sb;
	size_t i;
	json_t *v;

	sb_init(&sb);
	add_names(&sb, "added", r->added);
	json_array_foreach(r->changed, i, v) {
		json_t *keys = json_object_get(v, "keys"), *k;
		size_t j;

		sb_addf(&sb, "%schanged: %s (", sb.len ? "\n" : "", json_string_value(json_object_get(v, "cluster")));
		json_array_foreach(keys, j, k)
			sb_addf(&sb, "%s%s", j ? ", " : "", json_string_value(k));
		sb_addc(&sb, ')');
	}
	add_names(&sb, "removed", r->removed);
	json_array_foreach(r->invalid, i, v) {
		const char *errs = json_string_value(json_object_get(v, "errors"));

		sb_addf(&sb, "%s%s is invalid%s:\n  ", sb.len ? "\n" : "", json_string_value(json_object_get(v, "file")),
			json_is_true(json_object_get(v, "kept")) ? " (its last good version stays in use)" : "");
		for (const char *p = errs; *p; p++) {
			sb_addc(&sb, *p);
			if (*p == '\n')
				sb_adds(&sb, "  ");
		}
	}
	json_array_foreach(r->skipped, i, v)
		sb_addf(&sb, "%s%s skipped: %s", sb.len ? "\n" : "", json_string_value(json_object_get(v, "file")),
			json_string_value(json_object_get(v, "reason")));
	json_array_foreach(r->conflicts, i, v)
		sb_addf(&sb, "%sconflict: %s", sb.len ? "\n" : "", json_string_value(v));
	return sb_detach(&sb);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of one section that differ, as "section.key" sorted (the file's order helps nobody here). */
static void diff_section(const json_t *a, const json_t *b, const char *section, json_t *out)
{
	size_t n = 0, cap = json_object_size(a) + json_object_size(b);
	const char **keys = xcalloc(cap + 1, sizeof(*keys));
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)b, k, v)
		if (!json_equal(v, json_object_get(a, k)))
			keys[n++] = k;
	json_object_foreach((json_t *)a, k, v)
		if (!json_object_get(b, k))
			keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, json_sprintf("%s.%s", section, keys[i]));
	free(keys);
}

/* What differs between two versions of a config: ["common.cluster", "upgrade.parallel", ...]. */
static json_t *diff_configs(const struct cluster_config *a, const struct cluster_config *b)
{
	static const char *const sections[] = { "common", "master", "worker", "groups", "upgrade", NULL };
	json_t *keys = json_array();

	for (size_t i = 0; sections[i]; i++)
		diff_section(json_object_get(a->tree, sections[i]), json_object_get(b->tree, sections[i]),
			     sections[i], keys);
	return keys;
}

/* ---- loading the directory --------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* By cluster name, the set's order: "a.yaml" before "a-b.yaml" as "a" < "a-b". */
static int cmp_stem(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t n = strlen(x) - strlen(".yaml"), m = strlen(y) - strlen(".yaml");
	int c = memcmp(x, y, n < m ? n : m);

	return c ? c : (n > m) - (n < m);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The *.yaml names of the directory open at dfd, sorted (hidden ones left
 * out; *.yml named in rep). Past CLUSTER_MAX_FILES the listing stops and
 * VIVA_ERANGE says so: a partial list would drop clusters silently.
 */
static int list_files(int dfd, char ***out, size_t *n, struct cluster_report *rep)
{
	int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	char **v = xcalloc(CLUSTER_MAX_FILES + 1, sizeof(*v));
	char **yml = xcalloc(CLUSTER_MAX_FILES + 1, sizeof(*yml));
	size_t len = 0, nyml = 0;
	struct dirent *de;
	int rc = VIVA_OK;

	*out = v;
	*n = 0;
	if (!d) {
		if (dup >= 0)
			close(dup);
		free(yml);
		return VIVA_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (has_suffix(de->d_name, ".yaml") || has_suffix(de->d_name, ".yml")) {
			if (len + nyml == CLUSTER_MAX_FILES) {
				rc = VIVA_ERANGE;
				break;
			}
			if (has_suffix(de->d_name, ".yaml"))
				v[len++] = xstrdup(de->d_name);
			else
				yml[nyml++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	qsort(v, len, sizeof(*v), cmp_stem);
	qsort(yml, nyml, sizeof(*yml), cmp_str);
	*n = len;
	for (size_t i = 0; rc == VIVA_OK && rep && i < nyml; i++)
		json_array_append_new(rep->skipped, json_pack("{s:s, s:s}", "file", yml[i], "reason",
			"not read: cluster configs are <cluster>.yaml files"));
	strv_free(yml, nyml);
	return rc;
}

/* One load in progress. */
struct loading {
	int dfd;
	const char *dir;
	const struct cluster_set *prev;
	struct cluster_set *set;      /* being filled, in file (name) order */
	struct cluster_report *rep;   /* never NULL here */
	size_t total;                 /* bytes read so far */
};

/* file is invalid (errors): its last good version stays when prev has one. */
static void add_invalid(struct loading *ld, const char *file, const char *name, const char *errors)
{
	long pi = name ? find_index(ld->prev, name) : -1;
	struct cluster_set *s = ld->set;

	if (pi >= 0) {
		s->v[s->n] = cluster_config_ref(ld->prev->v[pi]);
		s->stale[s->n] = xstrdup(errors);
		s->n++;
	}
	json_array_append_new(ld->rep->invalid, json_pack("{s:s, s:s?, s:s, s:b}", "file", file, "cluster", name,
							  "errors", errors, "kept", pi >= 0));
	{
		/* the first error on the line; all of them are in the report (`node apply`) */
		char first[300];
		size_t n = strcspn(errors, "\n");

		snprintf(first, sizeof(first), "%.*s", (int)(n < sizeof(first) - 1 ? n : sizeof(first) - 1), errors);
		log_warn("cluster config invalid", "dir=%s file=%s kept=%s error=\"%s\"", ld->dir, file,
			 pi >= 0 ? "last-good" : "none", first);
	}
}

/* A valid config c (taken) against the version in use. */
static void add_valid(struct loading *ld, struct cluster_config *c)
{
	long pi = find_index(ld->prev, c->name);
	struct cluster_set *s = ld->set;

	/* the new object even when nothing changed: its lines are the file's now (a comment
	 * added above a host moves it), and readers of the old set keep theirs */
	if (pi >= 0 && json_equal(ld->prev->v[pi]->tree, c->tree))
		ld->rep->unchanged++;
	else if (pi >= 0)
		json_array_append_new(ld->rep->changed, json_pack("{s:s, s:o}", "cluster", c->name, "keys",
								  diff_configs(ld->prev->v[pi], c)));
	else
		json_array_append_new(ld->rep->added, json_string(c->name));
	s->v[s->n++] = c;
}

static void load_one(struct loading *ld, const char *file)
{
	char *name = xstrndup(file, strlen(file) - strlen(".yaml")), *text = NULL, *msg = NULL;
	struct cluster_errs errs = { 0 };
	struct cluster_config *c = NULL;
	const char *why = NULL;
	size_t len = 0;
	int rc;

	if (!cluster_name_ok(name, &why)) {
		char *q = cluster_show(name);

		msg = xasprintf("%s %s", q, why);
		free(q);
		add_invalid(ld, file, NULL, msg);
		goto out;
	}
	/* only a regular file inside the directory, and never a huge one */
	rc = read_regular_file(ld->dfd, file, READ_BENEATH, CLUSTER_FILE_MAX, &text, &len, &why);
	if (rc == VIVA_OK && (ld->total += len) > CLUSTER_TOTAL_MAX) {
		why = "the cluster configs are larger than 16 MiB in all";
		rc = VIVA_ERANGE;
	} else if (rc == VIVA_ERANGE) {
		why = "larger than the limit of 1 MiB";
	}
	if (rc != VIVA_OK) {
		msg = xasprintf("not read: %s", why);
		add_invalid(ld, file, name, msg);
		goto out;
	}
	if (cluster_parse(name, file, text, len, &c, &errs) != VIVA_OK) {
		msg = cluster_errs_format(&errs, file);
		add_invalid(ld, file, name, msg);
		goto out;
	}
	add_valid(ld, c);
out:
	cluster_errs_release(&errs);
	free(msg);
	free(text);
	free(name);
}

/* Hosts that two configs list: they resolve nowhere until one drops them. */
static void find_conflicts(const struct cluster_set *s, json_t *out)
{
	json_t *seen = json_object();

	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->v[i]->nhosts; j++) {
			const struct cluster_host *h = &s->v[i]->hosts[j];
			json_t *first = json_object_get(seen, h->name);
			char *where = xasprintf("%s:%d", s->v[i]->file, h->line);

			if (first)
				json_array_append_new(out, json_sprintf("%s is listed in %s and %s", h->name,
									json_string_value(first), where));
			else
				json_object_set_new(seen, h->name, json_string(where));
			free(where);
		}
	json_decref(seen);
}

/* Clusters of prev whose file is gone (every file, valid or not, keeps its name). */
static void find_removed(const struct cluster_set *prev, char **files, size_t nfiles, json_t *out)
{
	for (size_t i = 0; prev && i < prev->n; i++) {
		char *file = xasprintf("%s.yaml", prev->v[i]->name);
		bool found = bsearch(&file, files, nfiles, sizeof(*files), cmp_stem) != NULL;

		if (!found)
			json_array_append_new(out, json_string(prev->v[i]->name));
		free(file);
	}
}

int cluster_set_load(const char *dir, const struct cluster_set *prev, struct cluster_set **out,
		     struct cluster_report *rep, char *err, size_t errlen)
{
	struct cluster_report local;
	struct loading ld = { .dfd = -1, .dir = dir, .prev = prev };
	char **files = NULL;
	size_t nfiles = 0;
	int rc;

	if (!rep) {
		cluster_report_init(&local);
		rep = &local;
	}
	ld.rep = rep;
	ld.dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (ld.dfd < 0) {
		int e = dir ? errno : ENOENT;

		rc = e == ENOENT ? VIVA_ENOENT : VIVA_EIO;
		viva_errf(err, errlen, "cannot read the cluster config directory %s (cluster_configs): %s",
			  dir ? dir : "(none)", e == ENOENT ? "it does not exist" : strerror(e));
		goto out;
	}
	rc = list_files(ld.dfd, &files, &nfiles, rep);
	if (rc == VIVA_ERANGE) {
		viva_errf(err, errlen, "the cluster config directory %s has more than %d .yaml/.yml files; nothing "
			  "was applied", dir, CLUSTER_MAX_FILES);
		goto out;
	}
	if (rc != VIVA_OK) {
		viva_errf(err, errlen, "cannot list the cluster config directory %s (cluster_configs)", dir);
		goto out;
	}
	if (nfiles == 0 && cluster_set_count(prev) > 0) {
		viva_errf(err, errlen, "the cluster config directory %s has no .yaml file; refusing to remove all %zu "
			  "clusters", dir, prev->n);
		rc = VIVA_EINVAL;
		goto out;
	}
	ld.set = set_new(nfiles);
	for (size_t i = 0; i < nfiles; i++)
		load_one(&ld, files[i]);
	find_removed(prev, files, nfiles, rep->removed);
	find_conflicts(ld.set, rep->conflicts);
	log_info("cluster configs loaded", "dir=%s clusters=%zu added=%zu changed=%zu removed=%zu invalid=%zu "
		 "unchanged=%zu conflicts=%zu", dir, ld.set->n, json_array_size(rep->added),
		 json_array_size(rep->changed), json_array_size(rep->removed), json_array_size(rep->invalid),
		 rep->unchanged, json_array_size(rep->conflicts));
out:
	if (rc != VIVA_OK) {
		/* nothing lost: the set in use goes on */
		cluster_set_unref(ld.set);
		ld.set = prev ? cluster_set_ref(prev) : cluster_set_empty();
		/* no directory is how a viva without nodes runs: not worth a warning */
		if (rc == VIVA_ENOENT)
			log_debug("no cluster config directory", "dir=%s", dir ? dir : "");
		else
			log_warn("cluster configs not reloaded", "dir=%s rc=%d err=\"%s\"", dir ? dir : "", rc, err);
	}
	*out = ld.set;
	strv_free(files, nfiles);
	if (ld.dfd >= 0)
		close(ld.dfd);
	if (rep == &local)
		cluster_report_release(&local);
	return rc;
}

/* ---- the published set ----------------------------------------------------------------- */

void cluster_current_init(struct cluster_current *cur, struct cluster_set *initial)
{
	pthread_mutex_init(&cur->lock, NULL);
	cur->set = initial ? initial : cluster_set_empty();
}

struct cluster_set *cluster_current_get(struct cluster_current *cur)
{
	struct cluster_set *s;

	pthread_mutex_lock(&cur->lock);
	s = cluster_set_ref(cur->set);
	pthread_mutex_unlock(&cur->lock);
	return s;
}

void cluster_current_publish(struct cluster_current *cur, struct cluster_set *set)
{
	struct cluster_set *old;

	pthread_mutex_lock(&cur->lock);
	old = cur->set;
	cur->set = set ? set : cluster_set_empty();
	pthread_mutex_unlock(&cur->lock);
	/* outside the lock: freeing a set must not hold up readers */
	cluster_set_unref(old);
}

void cluster_current_release(struct cluster_current *cur)
{
	cluster_set_unref(cur->set);
	cur->set = NULL;
	pthread_mutex_destroy(&cur->lock);
}

/* ---- viva.yaml's clusters ---------------------------------------------------------------- */

json_t *cluster_set_check_kube_clusters(const struct cluster_set *set, char *const *names, size_t n)
{
	json_t *out = json_array();
	struct strbuf known;

	sb_init(&known);
	for (size_t i = 0; i < n; i++)
		sb_addf(&known, "%s%s", i ? ", " : "", names[i]);
	for (size_t i = 0; set && i < set->n; i++) {
		const struct cluster_config *c = set->v[i];
		bool found = false;
		char *msg;

		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(names[j], c->kube_cluster) == 0;
		if (found)
			continue;
		if (c->kube_cluster_line > 0)
			msg = xasprintf("%s:%d: common.kubernetesCluster: \"%s\" is not a cluster of viva.yaml "
					"(clusters: %s)", c->file, c->kube_cluster_line, c->kube_cluster,
					n ? known.buf : "none");
		else
			msg = xasprintf("%s: no cluster \"%s\" in viva.yaml (clusters: %s) and no "
					"common.kubernetesCluster naming one: node API calls for it cannot be made",
					c->file, c->kube_cluster, n ? known.buf : "none");
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:i, s:s}", "cluster", c->name,
						     "kubernetesCluster", c->kube_cluster, "file", c->file,
						     "line", c->kube_cluster_line, "error", msg));
		free(msg);
	}
	sb_release(&known);
	return out;
}
