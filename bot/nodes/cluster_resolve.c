/*
 * Cluster configs, resolution (see cluster.c for the map of the files): a
 * host name to the cluster, role and merged settings of its node, and the
 * settings as the bootstrap API's JSON. Reads an immutable set only.
 */
#include "bot/nodes/cluster_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* Clusters a "not found" reason names before "...". */
#define NAMES_SHOWN 10

static const struct cluster_host *listed_in(const struct cluster_config *c, const char *host)
{
	json_t *i = json_object_get(c->host_index, host);

	return i ? &c->hosts[json_integer_value(i)] : NULL;
}

/* hostname lower-cased when it is a host name; NULL with err otherwise. */
static char *host_key(const char *hostname, char *err, size_t errlen)
{
	char *h = xstrdup(hostname ? hostname : ""), *q;
	const char *why;

	for (char *p = h; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	why = cluster_check_host(h);
	if (!why)
		return h;
	q = cluster_show(hostname ? hostname : "");
	viva_errf(err, errlen, "%s %s", q, why);
	free(q);
	free(h);
	return NULL;
}

/*
 * {datacenter} when host's first label reads kube-{cluster}-{datacenter}-{rest}
 * with a non-empty datacenter and rest (caller frees), else NULL.
 */
static char *convention_dc(const char *host, const char *cluster)
{
	size_t label = strcspn(host, "."), n = strlen(cluster);
	const char *p, *end = host + label, *dash;

	if (label < 5 + n + 1 || strncmp(host, "kube-", 5) != 0 || strncmp(host + 5, cluster, n) != 0 ||
	    host[5 + n] != '-')
		return NULL;
	p = host + 5 + n + 1;
	dash = memchr(p, '-', (size_t)(end - p));
	if (!dash || dash == p || dash + 1 >= end)
		return NULL;
	return xstrndup(p, (size_t)(dash - p));
}

static char *text_or(const json_t *obj, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return xstrdup(v ? v : dflt);
}

static void set_var(json_t *vars, const char *key, const char *value)
{
	json_object_set_new(vars, key, json_string(value));
}

/* The merged entry: common, then the entry key by key. */
static json_t *merge(const struct cluster_config *c, const struct cluster_host *h)
{
	json_t *m = json_object();

	json_object_update(m, (json_t *)c->common);
	if (h)
		json_object_update(m, (json_t *)h->entry);
	return m;
}

static void match_groups(const struct cluster_config *c, struct node_settings *s)
{
	s->groups = xcalloc(c->ngroups + 1, sizeof(*s->groups));
	for (size_t i = 0; i < c->ngroups; i++) {   /* c->groups is sorted: so is the result */
		bool hit = false;

		for (size_t j = 0; j < c->groups[i].nglobs && !hit; j++)
			hit = fnmatch(c->groups[i].globs[j], s->hostname, 0) == 0;
		if (hit)
			s->groups[s->ngroups++] = xstrdup(c->groups[i].name);
	}
}

/* labels, and the template variables: the merged entry's scalars, then what viva sets. */
static void fill_vars(struct node_settings *s, const json_t *merged)
{
	struct strbuf sb;
	const char *key;
	json_t *val;

	s->labels = json_pack("{s:s, s:s}", "viva/cluster", s->cluster, "viva/gpu", s->gpu ? "true" : "false");
	if (*s->datacenter)
		json_object_set_new(s->labels, "viva/datacenter", json_string(s->datacenter));
	s->vars = json_object();
	json_object_foreach((json_t *)merged, key, val) {
		if (json_is_string(val))   /* a copy: the settings outlive the set */
			set_var(s->vars, key, json_string_value(val));
		else if (json_is_boolean(val))
			set_var(s->vars, key, json_is_true(val) ? "true" : "false");
	}
	set_var(s->vars, "hostname", s->hostname);
	set_var(s->vars, "cluster", s->cluster);
	set_var(s->vars, "datacenter", s->datacenter);
	set_var(s->vars, "role", node_role_name(s->role));
	set_var(s->vars, "kubernetesVersion", s->kubernetes_version);
	set_var(s->vars, "runcVersion", s->runc_version);
	set_var(s->vars, "criVersion", s->cri_version);
	set_var(s->vars, "cniPluginVersion", s->cni_plugin_version);
	set_var(s->vars, "cudaVersion", s->cuda_version);
	set_var(s->vars, "gpu", s->gpu ? "true" : "false");
	set_var(s->vars, "clusterDNS", s->cluster_dns);
	set_var(s->vars, "apiServer", s->api_server);
	set_var(s->vars, "kubernetesCluster", s->kubernetes_cluster);
	set_var(s->vars, "address", s->address);
	sb_init(&sb);
	for (size_t i = 0; i < s->ngroups; i++)
		sb_addf(&sb, "%s%s", i ? "," : "", s->groups[i]);
	set_var(s->vars, "groups", sb.buf ? sb.buf : "");
	sb_release(&sb);
	/* kubelet's --node-labels, in a fixed order */
	sb_init(&sb);
	sb_addf(&sb, "viva/cluster=%s", s->cluster);
	if (*s->datacenter)
		sb_addf(&sb, ",viva/datacenter=%s", s->datacenter);
	sb_addf(&sb, ",viva/gpu=%s", s->gpu ? "true" : "false");
	set_var(s->vars, "nodeLabels", sb.buf);
	sb_release(&sb);
}

/* host (a host key) as a node of c: listed (h) or a worker by its name (h NULL). */
static struct node_settings *settings_of(const struct cluster_config *c, const char *host,
					 const struct cluster_host *h)
{
	struct node_settings *s = xcalloc(1, sizeof(*s));
	json_t *m = merge(c, h);
	const json_t *k8s = h ? json_object_get(json_object_get(h->entry, "version"), "kubernetes") : NULL;
	char *dc;

	s->hostname = xstrdup(host);
	s->cluster = xstrdup(c->name);
	s->file = xstrdup(c->file);
	s->role = h ? h->role : NODE_WORKER;
	s->listed = h != NULL;
	s->kubernetes_version = k8s ? xstrdup(json_string_value(k8s)) : text_or(m, "cluster", "");
	s->runc_version = text_or(m, "runcVersion", "");
	s->cri_version = text_or(m, "criVersion", "");
	s->cni_plugin_version = text_or(m, "cniPluginVersion", "");
	s->gpu = json_is_true(json_object_get(m, "gpu"));
	s->cuda_version = s->gpu ? text_or(m, "cudaVersion", "") : xstrdup("");
	s->cluster_dns = text_or(m, "clusterDNS", "");
	s->api_server = text_or(m, "apiServer", c->api_server);
	s->kubernetes_cluster = xstrdup(c->kube_cluster);
	s->address = text_or(m, "address", "");
	dc = convention_dc(host, c->name);
	s->datacenter = text_or(m, "datacenter", dc ? dc : "");
	free(dc);
	match_groups(c, s);
	/* the merged entry's version mapping is not a scalar: not a variable */
	json_object_del(m, "version");
	fill_vars(s, m);
	json_decref(m);
	return s;
}

/* "a, b, c, ..." of the set's cluster names (caller frees). */
static char *names_of(const struct cluster_set *set)
{
	struct strbuf sb;
	size_t n = cluster_set_count(set);

	sb_init(&sb);
	for (size_t i = 0; i < n && i < NAMES_SHOWN; i++)
		sb_addf(&sb, "%s%s", i ? ", " : "", cluster_config_name(cluster_set_at(set, i)));
	if (n > NAMES_SHOWN)
		sb_addf(&sb, ", ... (%zu in all)", n);
	return sb_detach(&sb);
}

static int not_found(const struct cluster_set *set, const char *host, char *err, size_t errlen)
{
	char *names = names_of(set);

	if (cluster_set_count(set) == 0)
		viva_errf(err, errlen, "%s: no cluster config is loaded (the cluster_configs directory has none "
			  "that is valid)", host);
	else if (strncmp(host, "kube-", 5) == 0)
		viva_errf(err, errlen, "%s: not listed in any cluster config, and no configured cluster matches "
			  "kube-{cluster}-{datacenter}-{rest} (clusters: %s)", host, names);
	else
		viva_errf(err, errlen, "%s: not listed in any cluster config, and the name does not follow "
			  "kube-{cluster}-{datacenter}-{rest}", host);
	free(names);
	return VIVA_ENOENT;
}

int cluster_resolve(const struct cluster_set *set, const char *hostname, struct node_settings **out,
		    char *err, size_t errlen)
{
	const struct cluster_config *in = NULL, *best = NULL;
	const struct cluster_host *h = NULL;
	char *host = host_key(hostname, err, errlen);
	int rc = VIVA_OK;

	*out = NULL;
	if (!host)
		return VIVA_EINVAL;
	for (size_t i = 0; i < cluster_set_count(set); i++) {
		const struct cluster_config *c = cluster_set_at(set, i);
		const struct cluster_host *x = listed_in(c, host);

		if (x && in) {
			viva_errf(err, errlen, "%s is listed in two cluster configs, %s:%d and %s:%d; remove it from "
				  "one", host, in->file, h->line, c->file, x->line);
			rc = VIVA_ECONFLICT;
			goto out;
		}
		if (x) {
			in = c;
			h = x;
		}
	}
	if (in) {
		*out = settings_of(in, host, h);
		goto out;
	}
	/* the naming convention: the longest cluster name that leaves {datacenter}-{rest} */
	for (size_t i = 0; i < cluster_set_count(set); i++) {
		const struct cluster_config *c = cluster_set_at(set, i);
		char *dc = convention_dc(host, c->name);

		if (dc && (!best || strlen(c->name) > strlen(best->name)))
			best = c;
		free(dc);
	}
	if (best)
		*out = settings_of(best, host, NULL);
	else
		rc = not_found(set, host, err, errlen);
out:
	free(host);
	return rc;
}

int cluster_resolve_in(const struct cluster_set *set, const char *cluster, const char *hostname,
		       struct node_settings **out, char *err, size_t errlen)
{
	const struct cluster_config *c = cluster_set_find(set, cluster);
	char *host;

	*out = NULL;
	if (!c) {
		viva_errf(err, errlen, "no cluster config named %s", cluster ? cluster : "(none)");
		return VIVA_ENOENT;
	}
	host = host_key(hostname, err, errlen);
	if (!host)
		return VIVA_EINVAL;
	*out = settings_of(c, host, listed_in(c, host));
	free(host);
	return VIVA_OK;
}

void node_settings_free(struct node_settings *s)
{
	if (!s)
		return;
	free(s->hostname);
	free(s->cluster);
	free(s->file);
	free(s->datacenter);
	free(s->kubernetes_version);
	free(s->runc_version);
	free(s->cri_version);
	free(s->cni_plugin_version);
	free(s->cuda_version);
	free(s->cluster_dns);
	free(s->api_server);
	free(s->kubernetes_cluster);
	free(s->address);
	for (size_t i = 0; i < s->ngroups; i++)
		free(s->groups[i]);
	free(s->groups);
	json_decref(s->labels);
	json_decref(s->vars);
	free(s);
}

json_t *node_settings_json(const struct node_settings *s)
{
	json_t *j = json_deep_copy(s->vars), *groups = json_array();

	for (size_t i = 0; i < s->ngroups; i++)
		json_array_append_new(groups, json_string(s->groups[i]));
	json_object_set_new(j, "gpu", json_boolean(s->gpu));
	json_object_set_new(j, "groups", groups);
	json_object_set_new(j, "labels", json_deep_copy(s->labels));
	json_object_set_new(j, "listed", json_boolean(s->listed));
	json_object_set_new(j, "file", json_string(s->file));
	return j;
}
