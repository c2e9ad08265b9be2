/*
 * Cluster configs, one config (see cluster.c for the map of the files): the
 * parts the resolution reads, built from a validated tree (hosts, groups,
 * defaults), its reference count and accessors, and the error list of a
 * file.
 */
#include "bot/nodes/cluster_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------ */

void cluster_err_add(struct cluster_errs *e, const char *path, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (e->n >= CLUSTER_MAX_ERRORS) {
		e->truncated = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	e->v = xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
	e->v[e->n].path = xstrdup(path ? path : "");
	e->v[e->n].msg = msg;
	e->v[e->n].line = line;
	e->n++;
}

char *cluster_errs_format(struct cluster_errs *e, const char *file)
{
	struct strbuf sb;

	/* by line, and in walk order on one line: an insertion sort (stable; lists are short) */
	for (size_t i = 1; i < e->n; i++) {
		struct cluster_err x = e->v[i];
		size_t j = i;

		while (j > 0 && e->v[j - 1].line > x.line) {
			e->v[j] = e->v[j - 1];
			j--;
		}
		e->v[j] = x;
	}
	sb_init(&sb);
	for (size_t i = 0; i < e->n; i++) {
		const struct cluster_err *x = &e->v[i];

		if (i)
			sb_addc(&sb, '\n');
		if (*x->path)
			sb_addf(&sb, "%s: ", x->path);
		sb_adds(&sb, x->msg);
		if (x->line > 0)
			sb_addf(&sb, " (%s:%d)", file, x->line);
	}
	if (e->truncated)
		sb_addf(&sb, "\ntoo many errors: only the first %d are shown", CLUSTER_MAX_ERRORS);
	return sb_detach(&sb);
}

void cluster_errs_release(struct cluster_errs *e)
{
	for (size_t i = 0; e && i < e->n; i++) {
		free(e->v[i].path);
		free(e->v[i].msg);
	}
	if (e) {
		free(e->v);
		memset(e, 0, sizeof(*e));
	}
}

/* ---- the config ---------------------------------------------------------------- */

bool cluster_name_ok(const char *name, const char **why)
{
	if (!is_dns1123_label(name)) {
		*why = "is not a cluster name: the file name must be a DNS-1123 label (lower-case letters, "
		       "digits and '-') with .yaml after it";
		return false;
	}
	if (strlen(name) > CLUSTER_NAME_MAX) {
		*why = "is not a cluster name: at most 40 characters, so that kube-{cluster}-{datacenter}-{rest} "
		       "stays a host name";
		return false;
	}
	return true;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct cluster_group *)a)->name, ((const struct cluster_group *)b)->name);
}

static void add_hosts(struct cluster_config *c, const char *section, enum node_role role,
		      const struct yamltree *t)
{
	const char *host;
	json_t *entry;

	json_object_foreach(json_object_get(c->tree, section), host, entry) {
		struct cluster_host *h = &c->hosts[c->nhosts];
		char *path = yamltree_path_key(section, host);

		h->name = xstrdup(host);
		h->role = role;
		h->entry = entry;
		h->line = yamltree_line(t, path);
		json_object_set_new(c->host_index, host, json_integer((json_int_t)c->nhosts));
		c->nhosts++;
		free(path);
	}
}

/* The parts the resolution reads, from a valid tree (which c takes). */
static struct cluster_config *build(const char *name, const char *file, json_t *tree, const struct yamltree *t)
{
	struct cluster_config *c = xcalloc(1, sizeof(*c));
	json_t *groups = json_object_get(tree, "groups"), *globs;
	const json_t *kc, *api;
	const char *gname;
	size_t n;

	atomic_init(&c->refs, 1);
	c->name = xstrdup(name);
	c->file = xstrdup(file);
	c->tree = tree;
	c->common = json_object_get(tree, "common");
	n = json_object_size(json_object_get(tree, "master")) + json_object_size(json_object_get(tree, "worker"));
	c->hosts = xcalloc(n ? n : 1, sizeof(*c->hosts));
	c->host_index = json_object();
	add_hosts(c, "master", NODE_MASTER, t);
	add_hosts(c, "worker", NODE_WORKER, t);
	c->groups = xcalloc(json_object_size(groups) + 1, sizeof(*c->groups));
	json_object_foreach(groups, gname, globs) {
		struct cluster_group *g = &c->groups[c->ngroups++];

		g->name = xstrdup(gname);
		g->nglobs = json_array_size(globs);
		g->globs = xcalloc(g->nglobs + 1, sizeof(*g->globs));
		for (size_t i = 0; i < g->nglobs; i++)
			g->globs[i] = xstrdup(json_string_value(json_array_get(globs, i)));
	}
	qsort(c->groups, c->ngroups, sizeof(*c->groups), cmp_group);
	c->parallel = (int)json_integer_value(json_object_get(json_object_get(tree, "upgrade"), "parallel"));
	kc = json_object_get(c->common, "kubernetesCluster");
	c->kube_cluster = xstrdup(kc ? json_string_value(kc) : name);
	c->kube_cluster_line = kc ? yamltree_line(t, "common.kubernetesCluster") : 0;
	api = json_object_get(c->common, "apiServer");
	if (api) {
		c->api_server = xstrdup(json_string_value(api));
	} else {
		/* check_cross made sure the first master has an address */
		const char *addr = json_string_value(json_object_get(c->hosts[0].entry, "address"));

		c->api_server = strchr(addr, ':') ? xasprintf("[%s]:6443", addr) : xasprintf("%s:6443", addr);
	}
	return c;
}

int cluster_parse(const char *name, const char *file, const char *text, size_t len,
		  struct cluster_config **out, struct cluster_errs *errs)
{
	struct yamltree *t = NULL;
	json_t *tree = NULL;
	int rc = cluster_validate(text, len, errs, &t, &tree);

	*out = rc == VIVA_OK ? build(name, file, tree, t) : NULL;
	yamltree_free(t);
	return rc;
}

struct cluster_config *cluster_config_ref(struct cluster_config *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void cluster_config_unref(struct cluster_config *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i].name);
	free(c->hosts);
	for (size_t i = 0; i < c->ngroups; i++) {
		for (size_t j = 0; j < c->groups[i].nglobs; j++)
			free(c->groups[i].globs[j]);
		free(c->groups[i].globs);
		free(c->groups[i].name);
	}
	free(c->groups);
	json_decref(c->host_index);
	json_decref(c->tree);
	free(c->name);
	free(c->file);
	free(c->kube_cluster);
	free(c->api_server);
	free(c);
}

/* ---- one config's accessors ----------------------------------------------------------- */

const char *cluster_config_name(const struct cluster_config *c)
{
	return c->name;
}

const char *cluster_config_file(const struct cluster_config *c)
{
	return c->file;
}

const char *cluster_config_version(const struct cluster_config *c)
{
	return json_string_value(json_object_get(c->common, "cluster"));
}

const char *cluster_config_kube_cluster(const struct cluster_config *c)
{
	return c->kube_cluster;
}

int cluster_config_parallel(const struct cluster_config *c)
{
	return c->parallel;
}

size_t cluster_config_host_count(const struct cluster_config *c)
{
	return c->nhosts;
}

const char *cluster_config_host(const struct cluster_config *c, size_t i, enum node_role *role)
{
	if (i >= c->nhosts)
		return NULL;
	if (role)
		*role = c->hosts[i].role;
	return c->hosts[i].name;
}

size_t cluster_config_group_count(const struct cluster_config *c)
{
	return c->ngroups;
}

const char *cluster_config_group(const struct cluster_config *c, size_t i)
{
	return i < c->ngroups ? c->groups[i].name : NULL;
}

const json_t *cluster_config_tree(const struct cluster_config *c)
{
	return c->tree;
}
