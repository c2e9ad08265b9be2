/*
 * The resources the fake serves (one table, greppable), and what discovery
 * says about them: the legacy documents (/api, /apis, /api/v1,
 * /apis/GROUP[/VERSION]) and the aggregated ones (apidiscovery.k8s.io/v2,
 * which kubectl 1.32 asks for first), plus /version.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RW "create delete deletecollection get list patch update watch"

static const struct kr table[] = {
	/* core */
	{ "", "v1", "namespaces", "namespace", "Namespace", false, "ns", "create delete get list patch update watch", "",
	  KR_STATUS | KR_UNCOND_UPDATE, "status.phase" },
	{ "", "v1", "nodes", "node", "Node", false, "no", RW, "", KR_STATUS | KR_UNCOND_UPDATE, "spec.unschedulable" },
	{ "", "v1", "pods", "pod", "Pod", true, "po", RW, "all", KR_STATUS | KR_UNCOND_UPDATE,
	  "spec.nodeName spec.restartPolicy spec.schedulerName spec.serviceAccountName spec.hostNetwork "
	  "status.phase status.podIP status.podIPs status.nominatedNodeName" },
	{ "", "v1", "services", "service", "Service", true, "svc", "create delete deletecollection get list patch update watch", "all",
	  KR_STATUS | KR_UNCOND_UPDATE | KR_CREATE_ON_UPDATE, NULL },
	{ "", "v1", "secrets", "secret", "Secret", true, "", RW, "", KR_UNCOND_UPDATE, "type" },
	{ "", "v1", "configmaps", "configmap", "ConfigMap", true, "cm", RW, "", KR_UNCOND_UPDATE, NULL },
	{ "", "v1", "events", "event", "Event", true, "ev", RW, "", KR_UNCOND_UPDATE | KR_CREATE_ON_UPDATE,
	  "involvedObject.kind involvedObject.namespace involvedObject.name involvedObject.uid "
	  "involvedObject.apiVersion involvedObject.resourceVersion involvedObject.fieldPath reason "
	  "reportingComponent source type" },
	{ "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, "sa", RW, "", KR_UNCOND_UPDATE, NULL },
	{ "", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, "pvc", RW, "",
	  KR_STATUS | KR_UNCOND_UPDATE, NULL },
	/* apps */
	{ "apps", "v1", "deployments", "deployment", "Deployment", true, "deploy", RW, "all",
	  KR_GENERATION | KR_STATUS | KR_SCALE | KR_UNCOND_UPDATE | KR_GEN_ANNOTATIONS, NULL },
	{ "apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, "rs", RW, "all",
	  KR_GENERATION | KR_STATUS | KR_SCALE | KR_UNCOND_UPDATE, "status.replicas" },
	{ "apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, "ds", RW, "all",
	  KR_GENERATION | KR_STATUS | KR_UNCOND_UPDATE, NULL },
	{ "apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, "sts", RW, "all",
	  KR_GENERATION | KR_STATUS | KR_SCALE | KR_UNCOND_UPDATE, NULL },
	/* batch */
	{ "batch", "v1", "jobs", "job", "Job", true, "", RW, "all", KR_GENERATION | KR_STATUS | KR_UNCOND_UPDATE,
	  "status.successful" },
	{ "batch", "v1", "cronjobs", "cronjob", "CronJob", true, "cj", RW, "all",
	  KR_GENERATION | KR_STATUS | KR_UNCOND_UPDATE, NULL },
	/* rbac: what deploy/kubernetes/ creates for viva itself */
	{ "rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, "", RW, "", KR_UNCOND_UPDATE, NULL },
	{ "rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true, "", RW, "",
	  KR_UNCOND_UPDATE, NULL },
	{ "rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false, "", RW, "",
	  KR_UNCOND_UPDATE, NULL },
	{ "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false,
	  "", RW, "", KR_UNCOND_UPDATE, NULL },
	/* the rest viva uses */
	{ "coordination.k8s.io", "v1", "leases", "lease", "Lease", true, "", RW, "", KR_CREATE_ON_UPDATE, NULL },
	{ "policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, "pdb", RW, "",
	  KR_GENERATION | KR_STATUS | KR_UNCOND_UPDATE, NULL },
	{ "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
	  "SelfSubjectAccessReview", false, "", "create", "", KR_NO_STORE, NULL },
	{ "authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", false, "",
	  "create", "", KR_NO_STORE, NULL },
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

const struct kr *kr_at(size_t i)
{
	return i < NTABLE ? &table[i] : NULL;
}

const struct kr *kr_find(const char *group, const char *version, const char *resource)
{
	for (size_t i = 0; i < NTABLE; i++)
		if (strcmp(table[i].group, group) == 0 && strcmp(table[i].version, version) == 0 &&
		    strcmp(table[i].resource, resource) == 0)
			return &table[i];
	return NULL;
}

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, " ");
		if (len == n && strncmp(p, w, n) == 0)
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

bool kr_has_verb(const struct kr *r, const char *verb)
{
	return word_in(r->verbs, verb);
}

const struct kr *kr_lookup(const char *name)
{
	char res[128];
	const char *dot;

	if (!name)
		return NULL;
	dot = strchr(name, '.');
	snprintf(res, sizeof(res), "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
	for (size_t i = 0; i < NTABLE; i++) {
		const struct kr *r = &table[i];
		if (dot && strcmp(r->group, dot + 1) != 0)
			continue;
		if (strcasecmp(r->resource, res) == 0 || strcasecmp(r->singular, res) == 0 ||
		    strcasecmp(r->kind, res) == 0 || word_in(r->short_names, res))
			return r;
	}
	return NULL;
}

const struct kr *kr_by_kind(const char *api_version, const char *kind)
{
	if (!api_version || !kind)
		return NULL;
	for (size_t i = 0; i < NTABLE; i++) {
		char av[96];
		kr_api_version(&table[i], av, sizeof(av));
		if (strcmp(av, api_version) == 0 && strcmp(table[i].kind, kind) == 0)
			return &table[i];
	}
	return NULL;
}

void kr_qualified(const struct kr *r, char *out, size_t n)
{
	if (r->group[0])
		snprintf(out, n, "%s.%s", r->resource, r->group);
	else
		snprintf(out, n, "%s", r->resource);
}

void kr_api_version(const struct kr *r, char *out, size_t n)
{
	if (r->group[0])
		snprintf(out, n, "%s/%s", r->group, r->version);
	else
		snprintf(out, n, "%s", r->version);
}

/* ---- discovery ------------------------------------------------------------------------- */

static json_t *words(const char *list)
{
	json_t *a = json_array();

	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, " ");
		if (len)
			json_array_append_new(a, json_stringn(p, len));
		p += len;
		while (*p == ' ')
			p++;
	}
	return a;
}

/* The subresources of r: [{name, group, version, kind, verbs}] */
static json_t *subresources(const struct kr *r)
{
	json_t *a = json_array();

	if (r->flags & KR_SCALE)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "scale", "group", "autoscaling",
						   "version", "v1", "kind", "Scale", "verbs", "get patch update"));
	if (r->flags & KR_STATUS)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "status", "group", r->group,
						   "version", r->version, "kind", r->kind, "verbs", "get patch update"));
	if (strcmp(r->resource, "pods") == 0) {
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "eviction", "group", "policy",
						   "version", "v1", "kind", "Eviction", "verbs", "create"));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "log", "group", "",
						   "version", "v1", "kind", "Pod", "verbs", "get"));
	}
	if (strcmp(r->resource, "namespaces") == 0)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "finalize", "group", "",
						   "version", "v1", "kind", "Namespace", "verbs", "update"));
	return a;
}

static json_t *legacy_resource_list(const char *group, const char *version)
{
	json_t *res = json_array();
	char gv[96];

	if (group[0])
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	for (size_t i = 0; i < NTABLE; i++) {
		const struct kr *r = &table[i];
		json_t *e, *subs, *s;
		size_t j;

		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->resource, "singularName", r->singular,
			      "namespaced", r->namespaced, "kind", r->kind, "verbs", words(r->verbs));
		if (r->short_names[0])
			json_object_set_new(e, "shortNames", words(r->short_names));
		if (r->categories[0])
			json_object_set_new(e, "categories", words(r->categories));
		json_array_append_new(res, e);
		subs = subresources(r);
		json_array_foreach(subs, j, s) {
			json_t *se = json_pack("{s:s++, s:s, s:b}", "name", r->resource, "/",
					       json_string_value(json_object_get(s, "name")), "singularName", "",
					       "namespaced", r->namespaced);
			const char *sg = json_string_value(json_object_get(s, "group"));
			if (strcmp(sg, r->group) != 0 || strcmp(json_string_value(json_object_get(s, "version")), r->version) != 0) {
				json_object_set_new(se, "group", json_string(sg));
				json_object_set(se, "version", json_object_get(s, "version"));
			}
			json_object_set(se, "kind", json_object_get(s, "kind"));
			json_object_set_new(se, "verbs", words(json_string_value(json_object_get(s, "verbs"))));
			json_array_append_new(res, se);
		}
		json_decref(subs);
	}
	return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", gv,
			 "resources", res);
}

/* Groups in table order, "" (core) excluded. */
static json_t *group_names(void)
{
	json_t *names = json_array();

	for (size_t i = 0; i < NTABLE; i++) {
		bool seen = false;
		size_t j;
		json_t *n;

		if (!table[i].group[0])
			continue;
		json_array_foreach(names, j, n)
			if (strcmp(json_string_value(n), table[i].group) == 0)
				seen = true;
		if (!seen)
			json_array_append_new(names, json_string(table[i].group));
	}
	return names;
}

static json_t *legacy_group(const char *g)
{
	char gv[96];

	snprintf(gv, sizeof(gv), "%s/v1", g);
	return json_pack("{s:s, s:[{s:s, s:s}], s:{s:s, s:s}}", "name", g, "versions", "groupVersion", gv, "version",
			 "v1", "preferredVersion", "groupVersion", gv, "version", "v1");
}

static json_t *aggregated_version(const char *group, const char *version)
{
	json_t *res = json_array();

	for (size_t i = 0; i < NTABLE; i++) {
		const struct kr *r = &table[i];
		json_t *e, *subs, *s, *sa;
		size_t j;

		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		e = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}", "resource", r->resource, "responseKind", "group",
			      r->group, "version", r->version, "kind", r->kind, "scope",
			      r->namespaced ? "Namespaced" : "Cluster", "singularResource", r->singular, "verbs",
			      words(r->verbs));
		if (r->short_names[0])
			json_object_set_new(e, "shortNames", words(r->short_names));
		if (r->categories[0])
			json_object_set_new(e, "categories", words(r->categories));
		subs = subresources(r);
		sa = json_array();
		json_array_foreach(subs, j, s)
			json_array_append_new(sa, json_pack("{s:O, s:{s:O, s:O, s:O}, s:o}", "subresource",
				json_object_get(s, "name"), "responseKind", "group", json_object_get(s, "group"),
				"version", json_object_get(s, "version"), "kind", json_object_get(s, "kind"), "verbs",
				words(json_string_value(json_object_get(s, "verbs")))));
		json_decref(subs);
		if (json_array_size(sa))
			json_object_set_new(e, "subresources", sa);
		else
			json_decref(sa);
		json_array_append_new(res, e);
	}
	return json_pack("{s:s, s:o, s:s}", "version", version, "resources", res, "freshness", "Current");
}

static json_t *aggregated(bool core)
{
	json_t *items = json_array();

	if (core) {
		json_array_append_new(items, json_pack("{s:{s:n}, s:[o]}", "metadata", "creationTimestamp", "versions",
						       aggregated_version("", "v1")));
	} else {
		json_t *names = group_names(), *n;
		size_t i;
		json_array_foreach(names, i, n)
			json_array_append_new(items, json_pack("{s:{s:O, s:n}, s:[o]}", "metadata", "name", n,
							       "creationTimestamp", "versions",
							       aggregated_version(json_string_value(n), "v1")));
		json_decref(names);
	}
	return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
			 "apidiscovery.k8s.io/v2", "metadata", "items", items);
}

/* ---- OpenAPI v3 ---------------------------------------------------------------------------
 * Only what kubectl reads: the root's list of group-versions, and per
 * group-version the paths with their operations, each carrying
 * x-kubernetes-group-version-kind and its query parameters (kubectl checks
 * that PATCH takes fieldValidation, then validates on the server). No
 * component schemas: kubectl then builds strategic merge patches from its
 * compiled-in types, as it does for any server without them.
 */

static json_t *op(const struct kr *r, const char *action, const char *params)
{
	json_t *ps = json_array();

	for (const char *p = params; *p;) {
		size_t len = strcspn(p, " ");
		json_array_append_new(ps, json_pack("{s:s#, s:s, s:{s:s}}", "name", p, (int)len, "in", "query", "schema",
						    "type", "string"));
		p += len;
		while (*p == ' ')
			p++;
	}
	return json_pack("{s:s++, s:o, s:{s:{s:s}}, s:s, s:{s:s, s:s, s:s}}", "operationId", action, r->kind, "",
			 "parameters", ps, "responses", "200", "description", "OK", "x-kubernetes-action", action,
			 "x-kubernetes-group-version-kind", "group", r->group, "version", r->version, "kind", r->kind);
}

static json_t *openapi_gv(const char *group, const char *version)
{
	json_t *paths = json_object();
	char base[128];

	if (group[0])
		snprintf(base, sizeof(base), "/apis/%s/%s", group, version);
	else
		snprintf(base, sizeof(base), "/api/%s", version);
	for (size_t i = 0; i < NTABLE; i++) {
		const struct kr *r = &table[i];
		char coll[256], item[300], sub[330];
		json_t *c, *it;

		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		if (r->namespaced)
			snprintf(coll, sizeof(coll), "%s/namespaces/{namespace}/%s", base, r->resource);
		else
			snprintf(coll, sizeof(coll), "%s/%s", base, r->resource);
		snprintf(item, sizeof(item), "%s/{name}", coll);
		c = json_object();
		if (kr_has_verb(r, "list"))
			json_object_set_new(c, "get", op(r, "list", "labelSelector fieldSelector limit continue resourceVersion watch"));
		if (kr_has_verb(r, "create"))
			json_object_set_new(c, "post", op(r, "post", "dryRun fieldManager fieldValidation"));
		if (kr_has_verb(r, "deletecollection"))
			json_object_set_new(c, "delete", op(r, "deletecollection", "dryRun labelSelector fieldSelector propagationPolicy"));
		json_object_set_new(paths, coll, c);
		if (r->flags & KR_NO_STORE)
			continue;
		it = json_object();
		json_object_set_new(it, "get", op(r, "get", ""));
		json_object_set_new(it, "put", op(r, "put", "dryRun fieldManager fieldValidation"));
		json_object_set_new(it, "patch", op(r, "patch", "dryRun fieldManager fieldValidation force"));
		json_object_set_new(it, "delete", op(r, "delete", "dryRun gracePeriodSeconds propagationPolicy"));
		json_object_set_new(paths, item, it);
		if (r->flags & KR_STATUS) {
			snprintf(sub, sizeof(sub), "%s/status", item);
			json_object_set_new(paths, sub, json_pack("{s:o, s:o, s:o}", "get", op(r, "get", ""), "put",
								  op(r, "put", "dryRun fieldManager fieldValidation"), "patch",
								  op(r, "patch", "dryRun fieldManager fieldValidation force")));
		}
		if (r->namespaced && kr_has_verb(r, "list")) {
			snprintf(sub, sizeof(sub), "%s/%s", base, r->resource);
			json_object_set_new(paths, sub, json_pack("{s:o}", "get", op(r, "list", "labelSelector fieldSelector limit continue")));
		}
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title", "Kubernetes", "version",
			 "v1.32.0", "paths", paths, "components", "schemas");
}

static json_t *openapi(const char *path, int *code)
{
	if (strcmp(path, "/openapi/v3") == 0 || strcmp(path, "/openapi/v3/") == 0) {
		json_t *paths = json_object(), *names = group_names(), *n;
		size_t i;
		json_object_set_new(paths, "api/v1", json_pack("{s:s}", "serverRelativeURL", "/openapi/v3/api/v1?hash=FAKE"));
		json_array_foreach(names, i, n) {
			char key[128], url[160];
			snprintf(key, sizeof(key), "apis/%s/v1", json_string_value(n));
			snprintf(url, sizeof(url), "/openapi/v3/%s?hash=FAKE", key);
			json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
		}
		json_decref(names);
		return json_pack("{s:o}", "paths", paths);
	}
	if (strcmp(path, "/openapi/v3/api/v1") == 0)
		return openapi_gv("", "v1");
	if (strncmp(path, "/openapi/v3/apis/", 17) == 0) {
		char g[96] = "", v[32] = "";
		if (sscanf(path + 17, "%95[^/]/%31s", g, v) == 2 && strcmp(v, "v1") == 0) {
			json_t *names = group_names(), *n;
			size_t i;
			bool known = false;
			json_array_foreach(names, i, n)
				if (strcmp(json_string_value(n), g) == 0)
					known = true;
			json_decref(names);
			if (known)
				return openapi_gv(g, v);
		}
	}
	*code = 404;
	return NULL;
}

static bool wants_aggregated(const char *accept)
{
	/* the first acceptable type wins; kubectl lists v2 first */
	return accept && strstr(accept, "as=APIGroupDiscoveryList") && strstr(accept, "g=apidiscovery.k8s.io") &&
	       strstr(accept, "v=v2");
}

json_t *kr_discovery(const char *path, const char *accept, const char **ctype, int *code)
{
	*ctype = "application/json";
	*code = 200;
	if (strcmp(path, "/version") == 0 || strcmp(path, "/version/") == 0)
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor", "32",
				 "emulationMajor", "1", "emulationMinor", "32", "gitVersion", "v1.32.0-fake",
				 "gitCommit", "0000000000000000000000000000000000000000", "gitTreeState", "clean",
				 "buildDate", "2024-12-11T00:00:00Z", "goVersion", "go1.23.3", "compiler", "gc",
				 "platform", "linux/amd64");
	if (strncmp(path, "/openapi/v3", 11) == 0)
		return openapi(path, code);
	if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
		if (wants_aggregated(accept)) {
			*ctype = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
			return aggregated(true);
		}
		return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
				 "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress", "127.0.0.1:6443");
	}
	if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0) {
		json_t *groups, *names, *n;
		size_t i;

		if (wants_aggregated(accept)) {
			*ctype = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
			return aggregated(false);
		}
		groups = json_array();
		names = group_names();
		json_array_foreach(names, i, n)
			json_array_append_new(groups, legacy_group(json_string_value(n)));
		json_decref(names);
		return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups);
	}
	if (strcmp(path, "/api/v1") == 0 || strcmp(path, "/api/v1/") == 0)
		return legacy_resource_list("", "v1");
	if (strncmp(path, "/apis/", 6) == 0) {
		char g[96] = "", v[32] = "", extra[8] = "";
		int n = sscanf(path + 6, "%95[^/]/%31[^/]/%7s", g, v, extra);
		json_t *names = group_names(), *nm;
		bool known = false;
		size_t i;

		json_array_foreach(names, i, nm)
			if (strcmp(json_string_value(nm), g) == 0)
				known = true;
		json_decref(names);
		if (!known)
			return NULL;
		if (n == 1) {
			json_t *grp = legacy_group(g);
			json_object_set_new(grp, "kind", json_string("APIGroup"));
			json_object_set_new(grp, "apiVersion", json_string("v1"));
			return grp;
		}
		if (n == 2 && strcmp(v, "v1") == 0)
			return legacy_resource_list(g, v);
	}
	return NULL;
}
