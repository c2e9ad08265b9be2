/*
 * Cluster configs, validation (see cluster.c for the map of the files): one
 * file's YAML into a normalized tree, every problem collected with its path
 * and line (someone fixing a file in Git wants the whole list at once).
 */
#include "bot/nodes/cluster_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* One cluster config is a page of YAML; a few thousand listed hosts fit. */
#define CLUSTER_MAX_BYTES  (1024 * 1024)
#define CLUSTER_MAX_DEPTH  16
#define CLUSTER_MAX_NODES  200000

enum kkind { K_VERSION, K_CUDA, K_IP, K_ENDPOINT, K_BOOL, K_LABEL, K_VERSIONS };
enum { IN_COMMON = 1, IN_ENTRY = 2, IN_BOTH = 3 };

/* The keys viva knows in common and in an entry; any other scalar is a template variable. */
static const struct known_key {
	const char *name;
	enum kkind kind;
	unsigned where;
} known_keys[] = {
	{ "cluster", K_VERSION, IN_BOTH },
	{ "runcVersion", K_VERSION, IN_BOTH },
	{ "criVersion", K_VERSION, IN_BOTH },
	{ "cniPluginVersion", K_VERSION, IN_BOTH },
	{ "cudaVersion", K_CUDA, IN_BOTH },
	{ "clusterDNS", K_IP, IN_BOTH },
	{ "apiServer", K_ENDPOINT, IN_BOTH },
	{ "kubernetesCluster", K_LABEL, IN_COMMON },
	{ "gpu", K_BOOL, IN_BOTH },
	{ "datacenter", K_LABEL, IN_BOTH },
	{ "address", K_IP, IN_ENTRY },
	{ "version", K_VERSIONS, IN_ENTRY },
	{ NULL, K_VERSION, 0 },
};

/* Set by the resolution itself (cluster.h: node_settings.vars): never given. */
static const char *const reserved_keys[] = {
	"hostname", "role", "kubernetesVersion", "labels", "nodeLabels", "groups", "listed", "file", NULL,
};

/* What common must hold (an unlisted host has nothing else). */
static const char *const required_common[] = {
	"cluster", "runcVersion", "criVersion", "cniPluginVersion", "clusterDNS", NULL,
};

static const char *const top_keys[] = { "common", "master", "worker", "groups", "upgrade", NULL };

struct pctx {
	struct cluster_errs *errs;
	const struct yamltree *tree;
};

static void verr(struct pctx *p, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An error at path, on its line (or its nearest recorded ancestor's). */
static void verr(struct pctx *p, const char *path, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	cluster_err_add(p->errs, path, p->tree ? yamltree_line(p->tree, path) : 0, "%s", msg);
	free(msg);
}

static void verr_val(struct pctx *p, const char *path, const char *val, const char *what)
{
	char *q = cluster_show(val);

	verr(p, path, "%s %s", q, what);
	free(q);
}

static const char *kind_of(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	default: return "a scalar";
	}
}

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* ---- scalars -------------------------------------------------------------------- */

/* A string scalar's text, checked for NUL and control bytes; NULL (error given) otherwise. */
static const char *text_of(struct pctx *p, const json_t *j, const char *path)
{
	const char *s;

	if (!json_is_string(j)) {
		verr(p, path, "expected a string, got %s", kind_of(j));
		return NULL;
	}
	s = json_string_value(j);
	if (strlen(s) != json_string_length(j)) {
		verr(p, path, "contains a NUL character");
		return NULL;
	}
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			/* a value must not add lines to a node's file */
			verr(p, path, "must be one line without control characters");
			return NULL;
		}
	if (!*s) {
		verr(p, path, "must not be empty (leave the key out)");
		return NULL;
	}
	return s;
}

/* version: { kubernetes: X } */
static json_t *check_versions(struct pctx *p, const json_t *j, const char *path)
{
	json_t *out = json_object();
	const char *key;
	json_t *val;

	if (!json_is_object(j)) {
		verr(p, path, "expected a mapping (version: { kubernetes: 1.25.6 }), got %s", kind_of(j));
		json_decref(out);
		return NULL;
	}
	json_object_foreach((json_t *)j, key, val) {
		char *sub = yamltree_path_key(path, key);
		const char *t, *why;
		char *norm = NULL;

		if (strcmp(key, "kubernetes") != 0) {
			verr(p, sub, "unknown key (known: kubernetes)");
		} else if (!json_is_null(val) && (t = text_of(p, val, sub)) != NULL) {
			if ((why = cluster_check_version(t, &norm)) != NULL)
				verr_val(p, sub, t, why);
			else
				json_object_set_new(out, key, json_string(norm));
		}
		free(norm);
		free(sub);
	}
	return out;
}

/* One known key's value, normalized (NULL with an error when it is wrong). */
static json_t *check_known(struct pctx *p, const struct known_key *k, const json_t *val, const char *path)
{
	const char *t, *why = NULL;
	char *norm = NULL;
	json_t *out;

	if (k->kind == K_VERSIONS)
		return check_versions(p, val, path);
	if (k->kind == K_BOOL) {
		if (!json_is_boolean(val)) {
			verr(p, path, "expected true or false, got %s", json_is_string(val) ? "a string" : kind_of(val));
			return NULL;
		}
		return json_boolean(json_is_true(val));
	}
	t = text_of(p, val, path);
	if (!t)
		return NULL;
	switch (k->kind) {
	case K_VERSION: why = cluster_check_version(t, &norm); break;
	case K_CUDA: why = cluster_check_cuda(t); break;
	case K_IP: why = cluster_check_ip(t); break;
	case K_ENDPOINT: why = cluster_check_endpoint(t); break;
	default: why = is_dns1123_label(t) ? NULL : "is not a DNS-1123 label (lower-case letters, digits and '-')";
	}
	if (why) {
		verr_val(p, path, t, why);
		free(norm);
		return NULL;
	}
	out = json_string(norm ? norm : t);
	free(norm);
	return out;
}

/* A template variable's name: [A-Za-z][A-Za-z0-9_]*, at most 63. */
static bool var_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A key viva does not know: a template variable when it may be one (cluster.h), else an error. */
static json_t *check_extra(struct pctx *p, const char *key, const json_t *val, const char *path)
{
	const char *t;

	for (const struct known_key *k = known_keys; k->name; k++)
		if (cluster_near_miss(key, k->name)) {
			verr(p, path, "unknown key; did you mean %s?", k->name);
			return NULL;
		}
	if (in_list(reserved_keys, key)) {
		verr(p, path, "is set by viva for each node and cannot be given");
		return NULL;
	}
	if (!var_name_ok(key) || json_is_object(val) || json_is_array(val)) {
		verr(p, path, "unknown key (an extra key is a template variable: a name [A-Za-z][A-Za-z0-9_]* "
		     "with a scalar value)");
		return NULL;
	}
	if (json_is_boolean(val))
		return json_string(json_is_true(val) ? "true" : "false");
	t = text_of(p, val, path);
	return t ? json_string(t) : NULL;
}

/* common (where = IN_COMMON) or one entry (IN_ENTRY), normalized; null values are "not given". */
static json_t *check_settings(struct pctx *p, const json_t *map, const char *base, unsigned where)
{
	json_t *out = json_object();
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)map, key, val) {
		char *path = yamltree_path_key(base, key);
		const struct known_key *k = known_keys;
		json_t *norm = NULL;

		while (k->name && strcmp(k->name, key) != 0)
			k++;
		if (json_is_null(val)) {
			/* not given */
		} else if (k->name && !(k->where & where)) {
			verr(p, path, "%s", where == IN_COMMON ? "only in a master or worker entry"
				: "only in common (a cluster's nodes join one API)");
		} else if (k->name) {
			norm = check_known(p, k, val, path);
		} else {
			norm = check_extra(p, key, val, path);
		}
		if (norm)
			json_object_set_new(out, key, norm);
		free(path);
	}
	return out;
}

/* ---- sections ------------------------------------------------------------------- */

/* map[key] as a mapping; NULL when absent or null (error when it is something else). */
static const json_t *section(struct pctx *p, const json_t *root, const char *key)
{
	const json_t *j = json_object_get(root, key);

	if (!j || json_is_null(j))
		return NULL;
	if (!json_is_object(j)) {
		verr(p, key, "expected a mapping, got %s", kind_of(j));
		return NULL;
	}
	return j;
}

static json_t *check_common(struct pctx *p, const json_t *root)
{
	const json_t *common = json_object_get(root, "common");
	json_t *out;

	if (!common || json_is_null(common)) {
		verr(p, "common", "required (the settings every node of the cluster starts from)");
		return json_object();
	}
	if (!json_is_object(common)) {
		verr(p, "common", "expected a mapping, got %s", kind_of(common));
		return json_object();
	}
	out = check_settings(p, common, "common", IN_COMMON);
	for (size_t i = 0; required_common[i]; i++) {
		char *path = yamltree_path_key("common", required_common[i]);

		if (!json_object_get(common, required_common[i]))
			verr(p, path, "required");
		free(path);
	}
	return out;
}

/* master: or worker: host -> entry (a mapping, or null for "the common settings"). */
static json_t *check_hosts(struct pctx *p, const json_t *root, const char *key, const json_t *masters)
{
	const json_t *hosts = section(p, root, key);
	json_t *out = json_object();
	const char *host;
	json_t *val;

	if (hosts && json_object_size(hosts) > CLUSTER_MAX_HOSTS) {
		verr(p, key, "lists %zu hosts; at most %d", json_object_size(hosts), CLUSTER_MAX_HOSTS);
		return out;
	}
	json_object_foreach((json_t *)hosts, host, val) {
		char *path = yamltree_path_key(key, host);
		const char *why = cluster_check_host(host);

		if (why) {
			verr_val(p, path, host, why);
		} else if (masters && json_object_get(masters, host)) {
			char *mpath = yamltree_path_key("master", host);

			verr(p, path, "also listed under master (line %d); a host has one role",
			     yamltree_line(p->tree, mpath));
			free(mpath);
		} else if (!json_is_null(val) && !json_is_object(val)) {
			verr(p, path, "expected a mapping of settings (or nothing), got %s", kind_of(val));
		} else {
			json_object_set_new(out, host, json_is_null(val) ? json_object()
					    : check_settings(p, val, path, IN_ENTRY));
		}
		free(path);
	}
	return out;
}

static json_t *check_groups(struct pctx *p, const json_t *root)
{
	const json_t *groups = section(p, root, "groups");
	json_t *out = json_object();
	const char *name;
	json_t *val;

	if (groups && json_object_size(groups) > CLUSTER_MAX_GROUPS) {
		verr(p, "groups", "has %zu groups; at most %d", json_object_size(groups), CLUSTER_MAX_GROUPS);
		return out;
	}
	json_object_foreach((json_t *)groups, name, val) {
		char *path = yamltree_path_key("groups", name);
		json_t *globs = json_array();
		bool ok = true;

		if (!is_dns1123_label(name)) {
			verr_val(p, path, name, "is not a group name (a DNS-1123 label: lower-case letters, digits, '-')");
			ok = false;
		} else if (json_is_string(val)) {
			json_array_append(globs, val);
		} else if (json_is_array(val) && json_array_size(val) > 0 && json_array_size(val) <= CLUSTER_MAX_GLOBS) {
			json_array_extend(globs, val);
		} else {
			verr(p, path, "expected a host name glob or a list of 1 to %d, got %s", CLUSTER_MAX_GLOBS,
			     json_is_array(val) ? "a list of another size" : kind_of(val));
			ok = false;
		}
		for (size_t i = 0; ok && i < json_array_size(globs); i++) {
			char *sub = json_is_array(val) ? yamltree_path_index(path, i) : xstrdup(path);
			const char *t = text_of(p, json_array_get(globs, i), sub), *why;

			if (!t)
				ok = false;
			else if ((why = cluster_check_glob(t)) != NULL) {
				verr_val(p, sub, t, why);
				ok = false;
			}
			free(sub);
		}
		if (ok)
			json_object_set_new(out, name, globs);
		else
			json_decref(globs);
		free(path);
	}
	return out;
}

static json_t *check_upgrade(struct pctx *p, const json_t *root)
{
	const json_t *up = section(p, root, "upgrade");
	long parallel = 1;
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)up, key, val) {
		char *path = yamltree_path_key("upgrade", key);
		const char *t;
		char *end = NULL;

		if (strcmp(key, "parallel") != 0) {
			verr(p, path, "unknown key (known: parallel)");
		} else if (!json_is_null(val) && (t = text_of(p, val, path)) != NULL) {
			parallel = strtol(t, &end, 10);
			if (*end || !(t[0] >= '0' && t[0] <= '9') || parallel < 1 || parallel > CLUSTER_MAX_PARALLEL) {
				verr_val(p, path, t, "is not a whole number from 1 to 100 (nodes upgraded at once)");
				parallel = 1;
			}
		}
		free(path);
	}
	return json_pack("{s:I}", "parallel", (json_int_t)parallel);
}

/* ---- whole file ------------------------------------------------------------------ */

static const json_t *get_set(const json_t *entry, const json_t *common, const char *key)
{
	const json_t *v = json_object_get(entry, key);

	return v ? v : json_object_get(common, key);
}

/* Across sections: GPU nodes need a CUDA version, the API server needs an address. */
static void check_cross(struct pctx *p, json_t *tree)
{
	const json_t *common = json_object_get(tree, "common");
	const char *sections[] = { "master", "worker" };
	const char *host;
	json_t *entry;

	if (json_is_true(json_object_get(common, "gpu")) && !json_object_get(common, "cudaVersion"))
		verr(p, "common.gpu", "true needs common.cudaVersion");
	for (size_t s = 0; s < 2; s++)
		json_object_foreach(json_object_get(tree, sections[s]), host, entry) {
			char *path = yamltree_path_key(sections[s], host);

			if (json_is_true(get_set(entry, common, "gpu")) && !get_set(entry, common, "cudaVersion") &&
			    !json_is_true(json_object_get(common, "gpu")))
				verr(p, path, "gpu: true needs a cudaVersion (in the entry or in common)");
			free(path);
		}
	if (!json_object_get(common, "apiServer")) {
		json_t *masters = json_object_get(tree, "master");
		void *it = json_object_iter(masters);

		if (!it) {
			verr(p, "common.apiServer", "required when no master is listed (the default is the first "
			     "master's address, port 6443)");
		} else if (!json_object_get(json_object_iter_value(it), "address")) {
			char *path = yamltree_path_key("master", json_object_iter_key(it));

			verr(p, path, "address: required, since common.apiServer is not set (the default is the "
			     "first master's address, port 6443)");
			free(path);
		}
	}
}

/* The YAML as a mapping, or VIVA_EPARSE with the error recorded. */
static int load_tree(struct pctx *p, const char *text, size_t len, struct yamltree **out)
{
	static const struct yamltree_limits lim = {
		.max_bytes = CLUSTER_MAX_BYTES, .max_depth = CLUSTER_MAX_DEPTH,
		.max_nodes = CLUSTER_MAX_NODES, .aliases = true,
	};
	struct yamltree_error e;
	json_t *root;

	if (!text || len == 0) {
		cluster_err_add(p->errs, "", 0, "empty cluster config");
		return VIVA_EPARSE;
	}
	if (yamltree_parse(text, len, &lim, out, &e)) {
		if (e.syntax)
			cluster_err_add(p->errs, "", e.line, "YAML syntax error at column %d: %s", e.col, e.msg);
		else
			cluster_err_add(p->errs, "", e.line, "%s", e.msg);
		return VIVA_EPARSE;
	}
	p->tree = *out;
	root = yamltree_root(*out);
	if (json_is_null(root)) {
		cluster_err_add(p->errs, "", 0, "empty cluster config");
		return VIVA_EPARSE;
	}
	if (!json_is_object(root)) {
		cluster_err_add(p->errs, "", yamltree_line(*out, ""),
				"a cluster config is a mapping (common:, master:, worker:, ...), not %s", kind_of(root));
		return VIVA_EPARSE;
	}
	for (size_t i = 0; i < yamltree_ndups(*out); i++) {
		const struct yamltree_dup *d = yamltree_dup(*out, i);
		char *path = d->parent ? yamltree_path_key(d->parent, d->key) : xstrdup(d->key);

		if (d->first_line > 0)
			cluster_err_add(p->errs, path, d->line, "duplicate key (first at line %d)", d->first_line);
		else
			cluster_err_add(p->errs, path, d->line, "duplicate key");
		free(path);
	}
	return VIVA_OK;
}

/* The validated tree of root (errors into p). */
static json_t *validate(struct pctx *p, const json_t *root)
{
	json_t *tree = json_object(), *masters;
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)root, key, val)
		if (!in_list(top_keys, key))
			verr(p, key, "unknown key (known: common, master, worker, groups, upgrade)");
	json_object_set_new(tree, "common", check_common(p, root));
	masters = check_hosts(p, root, "master", NULL);
	json_object_set_new(tree, "master", masters);
	json_object_set_new(tree, "worker", check_hosts(p, root, "worker", masters));
	json_object_set_new(tree, "groups", check_groups(p, root));
	json_object_set_new(tree, "upgrade", check_upgrade(p, root));
	check_cross(p, tree);
	return tree;
}

int cluster_validate(const char *text, size_t len, struct cluster_errs *errs, struct yamltree **t, json_t **tree)
{
	struct pctx p = { .errs = errs };
	size_t before = errs->n;
	int rc;

	*t = NULL;
	*tree = NULL;
	rc = load_tree(&p, text, len, t);
	if (rc != VIVA_OK) {
		yamltree_free(*t);
		*t = NULL;
		return rc;
	}
	*tree = validate(&p, yamltree_root(*t));
	if (errs->n == before && !errs->truncated)
		return VIVA_OK;
	json_decref(*tree);
	*tree = NULL;
	yamltree_free(*t);
	*t = NULL;
	return VIVA_EINVAL;
}
