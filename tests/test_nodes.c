/*
 * Tests for bot/nodes: cluster configs (cluster.h: loading, validation with
 * file:line, reload keeping the last good version, the change report,
 * resolution of a host name) and node files (nodefiles.h: rendering from the
 * built-in and an operator's trees).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/model/builtin.h"
#include "bot/nodes/cluster.h"
#include "bot/nodes/nodefiles.h"
#include "tests/helpers.h"

struct fx {
	char *root;       /* the temporary directory */
	char *clusters;   /* root/clusters: cluster_configs */
	char *nodes;      /* root/node: node_templates */
	struct cluster_set *set;
	struct cluster_report rep;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->root = test_tmpdir();
	f->clusters = xasprintf("%s/clusters", f->root);
	f->nodes = xasprintf("%s/node", f->root);
	assert_int_equal(mkdir(f->clusters, 0755), 0);
	cluster_report_init(&f->rep);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cluster_set_unref(f->set);
	cluster_report_release(&f->rep);
	test_rm_rf(f->root);
	free(f->root);
	free(f->clusters);
	free(f->nodes);
	free(f);
	return 0;
}

/* Write name under dir (parents made with mkdir, no shell: some tests write thousands). */
static void put_in(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp;

	for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

static void put(struct fx *f, const char *name, const char *text)
{
	put_in(f->clusters, name, text);
}

/* (Re)load f->clusters over f->set; a fresh report each time. */
static int load(struct fx *f)
{
	struct cluster_set *next = NULL;
	int rc;

	cluster_report_release(&f->rep);
	cluster_report_init(&f->rep);
	f->err[0] = '\0';
	rc = cluster_set_load(f->clusters, f->set, &next, &f->rep, f->err, sizeof(f->err));
	assert_non_null(next);
	cluster_set_unref(f->set);
	f->set = next;
	return rc;
}

/* The errors reported for file (the report's text), or NULL when it is not invalid. */
static const char *invalid_errors(struct fx *f, const char *file)
{
	size_t i;
	json_t *v;

	json_array_foreach(f->rep.invalid, i, v)
		if (strcmp(json_string_value(json_object_get(v, "file")), file) == 0)
			return json_string_value(json_object_get(v, "errors"));
	return NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle)) {
		fprintf(stderr, "expected to find:\n  %s\nin:\n  %s\n", needle, hay ? hay : "(null)");
		fail();
	}
}

static struct node_settings *resolve_ok(struct fx *f, const char *host)
{
	struct node_settings *s = NULL;
	int rc = cluster_resolve(f->set, host, &s, f->err, sizeof(f->err));

	if (rc != VIVA_OK)
		fprintf(stderr, "resolve %s: %s\n", host, f->err);
	assert_int_equal(rc, VIVA_OK);
	assert_non_null(s);
	return s;
}

static const char *var(const struct node_settings *s, const char *key)
{
	return json_string_value(json_object_get(s->vars, key));
}

/* SPEC 10.1's example, grown a little. */
static const char cluster_a[] =
	"common:\n"
	"  cluster: v1.25.6            # Kubernetes version (desired)\n"
	"  runcVersion: 1.1.9\n"
	"  criVersion: 1.7.2\n"
	"  cniPluginVersion: 1.3.0\n"
	"  cudaVersion: \"12.2.1_535.86.10_linux\"\n"
	"  clusterDNS: 10.96.0.10\n"
	"  kubernetesCluster: dev\n"
	"  podSubnet: 10.244.0.0/16\n"
	"master:\n"
	"  k8s-master-dc2: { address: 10.0.0.10, datacenter: dc2 }\n"
	"  k8s-master-dc3: { address: 10.0.0.11 }\n"
	"worker:\n"
	"  kube-a-dc1-gpu-worker01: { gpu: true }\n"
	"  previous-version-node: { version: { kubernetes: 1.21.6 }, runcVersion: v1.1.4 }\n"
	"  kube-a-dc1-plain:\n"
	"groups:\n"
	"  gpu: \"kube-*-*-gpu-*\"\n"
	"  dc1: [\"kube-a-dc1-*\", \"kube-a-dc9-*\"]\n"
	"upgrade:\n"
	"  parallel: 2\n";

/* A config that only sets what common requires. */
static char *minimal(const char *extra)
{
	return xasprintf("common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.1.0.1:6443\n%s",
			 extra ? extra : "");
}

/* ---- resolution ------------------------------------------------------------------ */

static void resolve__naming_convention__worker_with_the_common_settings(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	json_t *j;
	char *dump;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-dc1-worker07");
	assert_string_equal(s->hostname, "kube-a-dc1-worker07");
	assert_string_equal(s->cluster, "a");
	assert_string_equal(s->file, "a.yaml");
	assert_string_equal(s->datacenter, "dc1");
	assert_int_equal(s->role, NODE_WORKER);
	assert_false(s->listed);
	assert_string_equal(s->kubernetes_version, "1.25.6");   /* the v dropped */
	assert_string_equal(s->runc_version, "1.1.9");
	assert_string_equal(s->cri_version, "1.7.2");
	assert_string_equal(s->cni_plugin_version, "1.3.0");
	assert_false(s->gpu);
	assert_string_equal(s->cuda_version, "");                 /* not a GPU node */
	assert_string_equal(s->cluster_dns, "10.96.0.10");
	assert_string_equal(s->api_server, "10.0.0.10:6443");      /* the first master's address */
	assert_string_equal(s->kubernetes_cluster, "dev");
	assert_string_equal(s->address, "");
	assert_int_equal(s->ngroups, 1);
	assert_string_equal(s->groups[0], "dc1");
	/* the variables: the cluster's name, not its version; other scalars too */
	assert_string_equal(var(s, "cluster"), "a");
	assert_string_equal(var(s, "kubernetesVersion"), "1.25.6");
	assert_string_equal(var(s, "podSubnet"), "10.244.0.0/16");
	assert_string_equal(var(s, "gpu"), "false");
	assert_string_equal(var(s, "role"), "worker");
	assert_string_equal(var(s, "groups"), "dc1");
	assert_string_equal(var(s, "nodeLabels"), "viva/cluster=a,viva/datacenter=dc1,viva/gpu=false");
	j = node_settings_json(s);
	dump = json_dumps(s->labels, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump, "{\"viva/cluster\":\"a\",\"viva/datacenter\":\"dc1\",\"viva/gpu\":\"false\"}");
	free(dump);
	/* the API's settings: booleans and lists as JSON */
	assert_true(json_is_false(json_object_get(j, "gpu")));
	assert_true(json_is_false(json_object_get(j, "listed")));
	assert_string_equal(json_string_value(json_object_get(j, "kubernetesVersion")), "1.25.6");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "groups"), 0)), "dc1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"), "viva/cluster")), "a");
	json_decref(j);
	node_settings_free(s);

	/* upper case is folded, as kubelet names the Node; a domain is fine */
	s = resolve_ok(f, "KUBE-A-DC3-Worker01.dc3.a.example.com");
	assert_string_equal(s->hostname, "kube-a-dc3-worker01.dc3.a.example.com");
	assert_string_equal(s->datacenter, "dc3");
	assert_int_equal(s->ngroups, 0);
	node_settings_free(s);
}

static void resolve__listed_hosts__role_and_entry_override_key_by_key(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	/* a master by its listing, whatever its name; datacenter from the entry */
	s = resolve_ok(f, "k8s-master-dc2");
	assert_int_equal(s->role, NODE_MASTER);
	assert_true(s->listed);
	assert_string_equal(s->cluster, "a");
	assert_string_equal(s->datacenter, "dc2");
	assert_string_equal(s->address, "10.0.0.10");
	assert_string_equal(var(s, "address"), "10.0.0.10");
	assert_string_equal(var(s, "role"), "master");
	node_settings_free(s);
	/* no datacenter anywhere: empty, and no label for it */
	s = resolve_ok(f, "k8s-master-dc3");
	assert_string_equal(s->datacenter, "");
	assert_null(json_object_get(s->labels, "viva/datacenter"));
	assert_string_equal(var(s, "nodeLabels"), "viva/cluster=a,viva/gpu=false");
	node_settings_free(s);
	/* version.kubernetes overrides cluster; runcVersion overridden; the rest from common */
	s = resolve_ok(f, "previous-version-node");
	assert_int_equal(s->role, NODE_WORKER);
	assert_true(s->listed);
	assert_string_equal(s->kubernetes_version, "1.21.6");
	assert_string_equal(var(s, "kubernetesVersion"), "1.21.6");
	assert_string_equal(s->runc_version, "1.1.4");
	assert_string_equal(s->cri_version, "1.7.2");
	assert_string_equal(s->cluster_dns, "10.96.0.10");
	assert_null(json_object_get(s->vars, "version"));   /* a mapping is not a variable */
	node_settings_free(s);
	/* listed with nothing: the common settings, listed */
	s = resolve_ok(f, "kube-a-dc1-plain");
	assert_true(s->listed);
	assert_string_equal(s->kubernetes_version, "1.25.6");
	node_settings_free(s);
}

static void resolve__gpu__cuda_label_and_groups(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-dc1-gpu-worker01");
	assert_true(s->gpu);
	assert_string_equal(s->cuda_version, "12.2.1_535.86.10_linux");
	assert_string_equal(var(s, "cudaVersion"), "12.2.1_535.86.10_linux");
	assert_string_equal(var(s, "gpu"), "true");
	assert_string_equal(json_string_value(json_object_get(s->labels, "viva/gpu")), "true");
	assert_int_equal(s->ngroups, 2);          /* sorted */
	assert_string_equal(s->groups[0], "dc1");
	assert_string_equal(s->groups[1], "gpu");
	assert_null(s->groups[2]);
	assert_string_equal(var(s, "groups"), "dc1,gpu");
	node_settings_free(s);
	/* the glob alone does not make a GPU node: only gpu: true does */
	s = resolve_ok(f, "kube-a-dc1-gpu-worker02");
	assert_false(s->gpu);
	assert_string_equal(s->cuda_version, "");
	assert_int_equal(s->ngroups, 2);
	node_settings_free(s);
}

static void resolve__api_server__given_overridden_ipv6_default(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	char *b = minimal("worker:\n  kube-b-dc1-w1: { apiServer: \"api.b.example.com:443\" }\n");

	put(f, "b.yaml", b);
	put(f, "c.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: fd00::a\n"
			 "master:\n  kube-c-dc1-m1: { address: \"fd00::10\" }\n");
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-b-dc1-w2");
	assert_string_equal(s->api_server, "10.1.0.1:6443");
	assert_string_equal(s->kubernetes_cluster, "b");   /* the config's own name */
	node_settings_free(s);
	s = resolve_ok(f, "kube-b-dc1-w1");
	assert_string_equal(s->api_server, "api.b.example.com:443");
	node_settings_free(s);
	s = resolve_ok(f, "kube-c-dc1-w9");
	assert_string_equal(s->api_server, "[fd00::10]:6443");
	assert_string_equal(s->cluster_dns, "fd00::a");
	node_settings_free(s);
	free(b);
}

/* Cluster names may hold '-': the longest configured one that leaves {datacenter}-{rest}. */
static void resolve__dashed_cluster_names__longest_match_wins(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	char *m = minimal(NULL);

	put(f, "a.yaml", m);
	put(f, "a-b.yaml", m);
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-b-dc1-w1");
	assert_string_equal(s->cluster, "a-b");
	assert_string_equal(s->datacenter, "dc1");
	node_settings_free(s);
	/* a-b would leave no {rest}: a, datacenter b */
	s = resolve_ok(f, "kube-a-b-w1");
	assert_string_equal(s->cluster, "a");
	assert_string_equal(s->datacenter, "b");
	node_settings_free(s);
	s = resolve_ok(f, "kube-a-dc1-w1-x");
	assert_string_equal(s->cluster, "a");
	assert_string_equal(s->datacenter, "dc1");
	node_settings_free(s);
	free(m);
}

static void resolve__unknown_hosts__not_found_with_the_reason(void **state)
{
	struct fx *f = *state;
	struct node_settings *s = (struct node_settings *)1;
	char *m = minimal(NULL);

	/* nothing loaded yet */
	f->set = cluster_set_empty();
	assert_int_equal(cluster_resolve(f->set, "kube-a-dc1-w1", &s, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_null(s);
	assert_contains(f->err, "no cluster config is loaded");

	put(f, "a.yaml", m);
	put(f, "b.yaml", m);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(cluster_resolve(f->set, "kube-zz-dc1-w1", &s, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_contains(f->err, "kube-zz-dc1-w1: not listed in any cluster config, and no configured cluster "
			"matches kube-{cluster}-{datacenter}-{rest} (clusters: a, b)");
	assert_int_equal(cluster_resolve(f->set, "kube-a-dc1", &s, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_int_equal(cluster_resolve(f->set, "kube-a--w1", &s, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_int_equal(cluster_resolve(f->set, "web01", &s, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_contains(f->err, "web01: not listed in any cluster config, and the name does not follow");
	/* not a host name at all: refused before any lookup */
	assert_int_equal(cluster_resolve(f->set, "kube-a-dc1-w1/../x", &s, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_contains(f->err, "is not a host name");
	assert_int_equal(cluster_resolve(f->set, "", &s, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_int_equal(cluster_resolve(f->set, "kube-a-dc1-w1\n", &s, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_null(strchr(f->err, '\n'));
	assert_int_equal(cluster_resolve(f->set, NULL, &s, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_null(s);
	/* within a named cluster */
	assert_int_equal(cluster_resolve_in(f->set, "zz", "kube-a-dc1-w1", &s, f->err, sizeof(f->err)),
			 VIVA_ENOENT);
	assert_contains(f->err, "no cluster config named zz");
	assert_int_equal(cluster_resolve_in(f->set, "b", "sample", &s, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(s->cluster, "b");
	assert_string_equal(s->datacenter, "");
	node_settings_free(s);
	free(m);
}

static void resolve__host_listed_twice__conflict_named(void **state)
{
	struct fx *f = *state;
	struct node_settings *s = NULL;
	char *a = minimal("worker:\n  shared-node: {}\n");
	char *b = minimal("master:\n  other: { address: 10.0.0.1 }\n  shared-node: { address: 10.0.0.2 }\n");

	put(f, "a.yaml", a);
	put(f, "b.yaml", b);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(json_array_size(f->rep.conflicts), 1);
	assert_string_equal(json_string_value(json_array_get(f->rep.conflicts, 0)),
			    "shared-node is listed in a.yaml:9 and b.yaml:10");
	assert_int_equal(cluster_resolve(f->set, "shared-node", &s, f->err, sizeof(f->err)), VIVA_ECONFLICT);
	assert_null(s);
	assert_contains(f->err, "shared-node is listed in two cluster configs, a.yaml:9 and b.yaml:10");
	/* a comment moves the host down a line: the same settings, the new line */
	{
		char *a2 = xasprintf("# owned by the platform team\n%s", a);

		put(f, "a.yaml", a2);
		assert_int_equal(load(f), VIVA_OK);
		assert_int_equal(f->rep.unchanged, 2);
		assert_string_equal(json_string_value(json_array_get(f->rep.conflicts, 0)),
				    "shared-node is listed in a.yaml:10 and b.yaml:10");
		free(a2);
	}
	free(a);
	free(b);
}

/* ---- validation: every error with its path and file:line ----------------------------- */

static void load__malformed_yaml__syntax_error_with_the_line(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL);

	put(f, "good.yaml", m);
	put(f, "bad.yaml", "common:\n  cluster: 1.25.6\n  runcVersion: [1.1.9\n");
	put(f, "empty.yaml", "");
	put(f, "list.yaml", "- a\n- b\n");
	put(f, "tabs.yaml", "common:\n\tcluster: 1.25.6\n");
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(cluster_set_count(f->set), 1);   /* the good one */
	assert_contains(invalid_errors(f, "bad.yaml"), "YAML syntax error at column ");
	assert_contains(invalid_errors(f, "bad.yaml"), "(bad.yaml:4)");
	assert_string_equal(invalid_errors(f, "empty.yaml"), "empty cluster config");
	assert_string_equal(invalid_errors(f, "list.yaml"),
			    "a cluster config is a mapping (common:, master:, worker:, ...), not a list (list.yaml:1)");
	assert_contains(invalid_errors(f, "tabs.yaml"), "(tabs.yaml:2)");
	assert_null(invalid_errors(f, "good.yaml"));
	free(m);
}

/* One file with a mistake on each line: every one listed, in line order, with path and line. */
static void load__every_mistake__listed_with_path_and_line(void **state)
{
	struct fx *f = *state;
	const char *e;

	put(f, "x.yaml",
	    "common:\n"                                   /* 1 */
	    "  cluster: \"1.25\"\n"                       /* 2 */
	    "  runcVerison: 1.1.9\n"                      /* 3 */
	    "  criVersion: latest\n"                      /* 4 */
	    "  cniPluginVersion: 1.3.0\n"                 /* 5 */
	    "  clusterDNS: 10.96.0.300\n"                 /* 6 */
	    "  apiServer: 10.0.0.10\n"                    /* 7 */
	    "  gpu: yes\n"                                /* 8 */
	    "  address: 10.0.0.1\n"                       /* 9 */
	    "  hostname: x\n"                             /* 10 */
	    "  extra: [a, b]\n"                           /* 11 */
	    "  cudaVersion: cuda12\n"                     /* 12 */
	    "masters:\n"                                  /* 13 */
	    "  m1: {}\n"                                  /* 14 */
	    "master:\n"                                   /* 15 */
	    "  Bad_Host: {}\n"                            /* 16 */
	    "  m2: { address: nowhere, kubernetesCluster: dev }\n"  /* 17 */
	    "worker:\n"                                   /* 18 */
	    "  m2: {}\n"                                  /* 19 */
	    "  w1: { version: { kubernetes: 1.x, runc: 1.1.9 } }\n" /* 20 */
	    "  w2: { gpu: true }\n"                       /* 21 */
	    "  w3: [a]\n"                                 /* 22 */
	    "groups:\n"                                   /* 23 */
	    "  GPU: \"kube-*\"\n"                         /* 24 */
	    "  bad: \"kube-[a\"\n"                        /* 25 */
	    "  empty: []\n"                               /* 26 */
	    "upgrade:\n"                                  /* 27 */
	    "  parallel: 0\n"                             /* 28 */
	    "  drain: fast\n"                             /* 29 */
	    "common:\n");                                 /* 30 */
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(cluster_set_count(f->set), 0);
	e = invalid_errors(f, "x.yaml");
	assert_non_null(e);
	assert_contains(e, "common.cluster: \"1.25\" is not a version (MAJOR.MINOR.PATCH, e.g. 1.25.6) (x.yaml:2)");
	assert_contains(e, "common.runcVerison: unknown key; did you mean runcVersion? (x.yaml:3)");
	assert_contains(e, "common.criVersion: \"latest\" is not a version (MAJOR.MINOR.PATCH, e.g. 1.25.6) (x.yaml:4)");
	assert_contains(e, "common.clusterDNS: \"10.96.0.300\" is not an IP address (x.yaml:6)");
	assert_contains(e, "common.apiServer: \"10.0.0.10\" is not HOST:PORT (e.g. 10.0.0.10:6443 or [fd00::10]:6443) "
			"(x.yaml:7)");
	assert_contains(e, "common.gpu: expected true or false, got a string (x.yaml:8)");
	assert_contains(e, "common.address: only in a master or worker entry (x.yaml:9)");
	assert_contains(e, "common.hostname: is set by viva for each node and cannot be given (x.yaml:10)");
	assert_contains(e, "common.extra: unknown key (an extra key is a template variable: a name "
			"[A-Za-z][A-Za-z0-9_]* with a scalar value) (x.yaml:11)");
	assert_contains(e, "common.cudaVersion: \"cuda12\" is not a CUDA version (e.g. 12.2.1_535.86.10_linux) (x.yaml:12)");
	assert_contains(e, "masters: unknown key (known: common, master, worker, groups, upgrade) (x.yaml:13)");
	assert_contains(e, "master.Bad_Host: \"Bad_Host\" is not a host name (lower-case letters, digits, '-' and '.') "
			"(x.yaml:16)");
	assert_contains(e, "master.m2.address: \"nowhere\" is not an IP address (x.yaml:17)");
	assert_contains(e, "master.m2.kubernetesCluster: only in common (a cluster's nodes join one API) (x.yaml:17)");
	assert_contains(e, "worker.m2: also listed under master (line 17); a host has one role (x.yaml:19)");
	assert_contains(e, "worker.w1.version.kubernetes: \"1.x\" is not a version");
	assert_contains(e, "worker.w1.version.runc: unknown key (known: kubernetes) (x.yaml:20)");
	assert_contains(e, "worker.w3: expected a mapping of settings (or nothing), got a list (x.yaml:22)");
	assert_contains(e, "groups.GPU: \"GPU\" is not a group name");
	assert_contains(e, "groups.bad: \"kube-[a\" is not a host name glob: a '[' is not closed (x.yaml:25)");
	assert_contains(e, "groups.empty: expected a host name glob or a list of 1 to 64");
	assert_contains(e, "upgrade.parallel: \"0\" is not a whole number from 1 to 100 (nodes upgraded at once) (x.yaml:28)");
	assert_contains(e, "upgrade.drain: unknown key (known: parallel) (x.yaml:29)");
	assert_contains(e, "common: duplicate key (first at line 1) (x.yaml:30)");
	/* required keys are named on their parent's line */
	assert_contains(e, "common.runcVersion: required (x.yaml:1)");
	/* in line order */
	assert_true(strstr(e, "(x.yaml:2)") < strstr(e, "(x.yaml:3)"));
	assert_true(strstr(e, "(x.yaml:19)") < strstr(e, "(x.yaml:28)"));
	/* kept out of the set, and not "kept" (nothing came before) */
	assert_true(json_is_false(json_object_get(json_array_get(f->rep.invalid, 0), "kept")));
}

static void load__cross_checks__gpu_needs_cuda_api_server_needs_an_address(void **state)
{
	struct fx *f = *state;
	char *a = xasprintf("common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			    "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n"
			    "worker:\n  w1: { gpu: true }\n");
	char *b = xasprintf("common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			    "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  gpu: true\n"
			    "master:\n  m1: {}\n  m2: { address: 10.0.0.2 }\n");

	put(f, "a.yaml", a);
	put(f, "b.yaml", b);
	assert_int_equal(load(f), VIVA_OK);
	assert_contains(invalid_errors(f, "a.yaml"), "worker.w1: gpu: true needs a cudaVersion (in the entry or in "
			"common) (a.yaml:8)");
	assert_contains(invalid_errors(f, "a.yaml"), "common.apiServer: required when no master is listed");
	assert_contains(invalid_errors(f, "b.yaml"), "common.gpu: true needs common.cudaVersion (b.yaml:7)");
	assert_contains(invalid_errors(f, "b.yaml"), "master.m1: address: required, since common.apiServer is not "
			"set (the default is the first master's address, port 6443) (b.yaml:9)");
	free(a);
	free(b);
}

static void load__file_names__are_cluster_names(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL);
	char *longname = xasprintf("%s.yaml", "a123456789b123456789c123456789d123456789e");

	put(f, "Bad_Name.yaml", m);
	put(f, longname, m);
	put(f, "ok-1.yaml", m);
	put(f, "notes.yml", m);
	put(f, ".hidden.yaml", "{ broken");
	put(f, "README.md", "# the cluster configs\n");
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(cluster_set_count(f->set), 1);
	assert_non_null(cluster_set_find(f->set, "ok-1"));
	assert_contains(invalid_errors(f, "Bad_Name.yaml"), "\"Bad_Name\" is not a cluster name: the file name must be "
			"a DNS-1123 label");
	assert_contains(invalid_errors(f, longname), "at most 40 characters");
	/* a .yml file is named, not read; hidden files and other files are not cluster configs */
	assert_int_equal(json_array_size(f->rep.skipped), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(f->rep.skipped, 0), "file")), "notes.yml");
	assert_int_equal(json_array_size(f->rep.invalid), 2);
	free(longname);
	free(m);
}

/* ---- hostile directories ------------------------------------------------------------------ */

static void load__hostile_files__refused_and_named(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL), *p, *big;
	size_t n = (size_t)2 << 20;

	put(f, "ok.yaml", m);
	put_in(f->root, "outside.yaml", m);
	put_in(f->clusters, "shared/inner.yaml", m);
	p = xasprintf("%s/escape.yaml", f->clusters);
	assert_int_equal(symlink("../outside.yaml", p), 0);
	free(p);
	p = xasprintf("%s/abs.yaml", f->clusters);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);
	p = xasprintf("%s/zero.yaml", f->clusters);
	assert_int_equal(symlink("/dev/zero", p), 0);
	free(p);
	p = xasprintf("%s/inside.yaml", f->clusters);   /* a link that stays inside is fine */
	assert_int_equal(symlink("shared/inner.yaml", p), 0);
	free(p);
	p = xasprintf("%s/fifo.yaml", f->clusters);
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	p = xasprintf("%s/dir.yaml", f->clusters);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	big = xmalloc(n + 1);
	memset(big, '#', n);
	big[n] = '\0';
	put(f, "huge.yaml", big);
	free(big);

	assert_int_equal(load(f), VIVA_OK);   /* and it did not hang on the FIFO */
	assert_int_equal(cluster_set_count(f->set), 2);
	assert_non_null(cluster_set_find(f->set, "ok"));
	assert_non_null(cluster_set_find(f->set, "inside"));
	assert_string_equal(invalid_errors(f, "escape.yaml"), "not read: a link out of the directory");
	assert_string_equal(invalid_errors(f, "abs.yaml"), "not read: a link out of the directory");
	assert_string_equal(invalid_errors(f, "zero.yaml"), "not read: a link out of the directory");
	assert_string_equal(invalid_errors(f, "fifo.yaml"), "not read: not a regular file");
	assert_string_equal(invalid_errors(f, "dir.yaml"), "not read: not a regular file");
	assert_string_equal(invalid_errors(f, "huge.yaml"), "not read: larger than the limit of 1 MiB");
	assert_int_equal(json_array_size(f->rep.invalid), 6);
	free(m);
}

/* 10,000 files: nothing applied, the set in use stays, and the reason names the limit. */
static void load__ten_thousand_files__bounded_and_reported(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL);
	const struct cluster_config *before;

	put(f, "a.yaml", m);
	assert_int_equal(load(f), VIVA_OK);
	before = cluster_set_find(f->set, "a");
	for (int i = 0; i < 10000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "c%05d.yaml", i);
		put(f, name, "common: {}\n");
	}
	assert_int_equal(load(f), VIVA_ERANGE);
	assert_contains(f->err, "has more than 1000 .yaml/.yml files; nothing was applied");
	assert_contains(f->err, f->clusters);
	assert_int_equal(cluster_set_count(f->set), 1);
	assert_ptr_equal(cluster_set_find(f->set, "a"), before);
	assert_int_equal(json_array_size(f->rep.added) + json_array_size(f->rep.invalid) +
			 json_array_size(f->rep.removed), 0);
	free(m);
}

static void load__missing_or_emptied_directory__set_in_use_stays(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL), *gone = xasprintf("%s/nope", f->root), *a = xasprintf("%s/a.yaml", f->clusters);
	struct cluster_set *out = NULL;

	/* the first load: an empty set, never NULL */
	assert_int_equal(cluster_set_load(gone, NULL, &out, NULL, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_non_null(out);
	assert_int_equal(cluster_set_count(out), 0);
	assert_contains(f->err, "cannot read the cluster config directory ");
	assert_contains(f->err, "/nope (cluster_configs): it does not exist");
	cluster_set_unref(out);

	put(f, "a.yaml", m);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(load(f), VIVA_EINVAL);
	assert_contains(f->err, "has no .yaml file; refusing to remove all 1 clusters");
	assert_int_equal(cluster_set_count(f->set), 1);
	assert_int_equal(cluster_set_load(gone, f->set, &out, NULL, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_ptr_equal(out, f->set);   /* the same set, one more reference */
	cluster_set_unref(out);
	free(a);
	free(gone);
	free(m);
}

/* ---- reload: the last good version, and what changed ----------------------------------------- */

static void reload__invalid_file__keeps_its_last_good_version(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	json_t *inv;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	assert_null(cluster_set_stale(f->set, "a"));
	/* broken in Git: the old settings go on */
	put(f, "a.yaml", "common:\n  cluster: 1.26\n");
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(cluster_set_count(f->set), 1);
	inv = json_array_get(f->rep.invalid, 0);
	assert_string_equal(json_string_value(json_object_get(inv, "file")), "a.yaml");
	assert_string_equal(json_string_value(json_object_get(inv, "cluster")), "a");
	assert_true(json_is_true(json_object_get(inv, "kept")));
	assert_contains(json_string_value(json_object_get(inv, "errors")), "common.cluster: \"1.26\" is not a version");
	assert_int_equal(json_array_size(f->rep.changed) + json_array_size(f->rep.removed), 0);
	assert_contains(cluster_set_stale(f->set, "a"), "common.cluster: \"1.26\" is not a version "
			"(MAJOR.MINOR.PATCH, e.g. 1.25.6) (a.yaml:2)");
	s = resolve_ok(f, "kube-a-dc1-w1");
	assert_string_equal(s->kubernetes_version, "1.25.6");
	node_settings_free(s);
	/* still broken at the next reload: still the same good version */
	assert_int_equal(load(f), VIVA_OK);
	assert_true(json_is_true(json_object_get(json_array_get(f->rep.invalid, 0), "kept")));
	s = resolve_ok(f, "kube-a-dc1-w1");
	assert_string_equal(s->kubernetes_version, "1.25.6");
	node_settings_free(s);
	/* unreadable now (a FIFO in its place): the same */
	{
		char *p = xasprintf("%s/a.yaml", f->clusters);

		assert_int_equal(unlink(p), 0);
		assert_int_equal(mkfifo(p, 0644), 0);
		assert_int_equal(load(f), VIVA_OK);
		assert_true(json_is_true(json_object_get(json_array_get(f->rep.invalid, 0), "kept")));
		assert_int_equal(cluster_set_count(f->set), 1);
		assert_int_equal(unlink(p), 0);
		free(p);
	}
	/* fixed: the new version, reported as a change, not stale any more */
	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(json_array_size(f->rep.invalid), 0);
	assert_int_equal(f->rep.unchanged, 1);
	assert_null(cluster_set_stale(f->set, "a"));
}

static void reload__change_report__added_removed_changed_keys(void **state)
{
	struct fx *f = *state;
	char *b = minimal(NULL), *a2, *text;
	json_t *ch, *b_before;

	put(f, "a.yaml", cluster_a);
	put(f, "b.yaml", b);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(json_array_size(f->rep.added), 2);
	assert_string_equal(json_string_value(json_array_get(f->rep.added, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(f->rep.added, 1)), "b");
	b_before = json_deep_copy(cluster_config_tree(cluster_set_find(f->set, "b")));

	/* a: a new version, one worker more, one group changed, parallel; b: gone; c: new */
	a2 = xstrdup(cluster_a);
	text = strstr(a2, "v1.25.6");
	memcpy(text, "v1.26.3", 7);
	text = strstr(a2, "parallel: 2");
	text[10] = '3';
	text = strstr(a2, "  kube-a-dc1-plain:\n");
	memcpy(text, "  kube-a-dc1-other:\n", 20);
	put(f, "a.yaml", a2);
	put(f, "c.yaml", b);
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(json_array_size(f->rep.added), 1);
	assert_string_equal(json_string_value(json_array_get(f->rep.added, 0)), "c");
	assert_int_equal(json_array_size(f->rep.changed), 0 + 1);
	ch = json_array_get(f->rep.changed, 0);
	assert_string_equal(json_string_value(json_object_get(ch, "cluster")), "a");
	text = json_dumps(json_object_get(ch, "keys"), JSON_COMPACT);
	assert_string_equal(text, "[\"common.cluster\",\"worker.kube-a-dc1-other\",\"worker.kube-a-dc1-plain\","
			    "\"upgrade.parallel\"]");
	free(text);
	assert_int_equal(f->rep.unchanged, 1);                  /* b */
	assert_int_equal(json_array_size(f->rep.removed), 0);   /* b.yaml is still there */
	/* unchanged: the same settings (a new object: a reader of the old set keeps its own) */
	assert_true(json_equal(cluster_config_tree(cluster_set_find(f->set, "b")), b_before));
	text = cluster_report_format(&f->rep);
	assert_string_equal(text, "added: c\nchanged: a (common.cluster, worker.kube-a-dc1-other, "
			    "worker.kube-a-dc1-plain, upgrade.parallel)");
	free(text);
	assert_string_equal(cluster_config_version(cluster_set_find(f->set, "a")), "1.26.3");
	assert_int_equal(cluster_config_parallel(cluster_set_find(f->set, "a")), 3);

	{
		char *p = xasprintf("%s/b.yaml", f->clusters);

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(load(f), VIVA_OK);
	assert_int_equal(json_array_size(f->rep.removed), 1);
	assert_string_equal(json_string_value(json_array_get(f->rep.removed, 0)), "b");
	assert_int_equal(f->rep.unchanged, 2);
	assert_null(cluster_set_find(f->set, "b"));
	text = cluster_report_format(&f->rep);
	assert_string_equal(text, "removed: b");
	free(text);

	/* the formatted report of a mixed load */
	put(f, "d.yaml", "common: {cluster: nope}\n");
	put(f, "e.yml", "x: 1\n");
	put(f, "c.yaml", "common:\n  cluster: x\n");
	assert_int_equal(load(f), VIVA_OK);
	text = cluster_report_format(&f->rep);
	assert_contains(text, "c.yaml is invalid (its last good version stays in use):\n  common.runcVersion: required "
			"(c.yaml:1)\n");
	assert_contains(text, "\n  common.cluster: \"x\" is not a version (MAJOR.MINOR.PATCH, e.g. 1.25.6) (c.yaml:2)");
	assert_contains(text, "\nd.yaml is invalid:\n  common.cluster: \"nope\"");
	assert_contains(text, "\ne.yml skipped: not read: cluster configs are <cluster>.yaml files");
	free(text);
	json_decref(b_before);
	free(a2);
	free(b);
}

static void accessors__config__hosts_groups_parallel_tree(void **state)
{
	struct fx *f = *state;
	const struct cluster_config *c;
	enum node_role role = NODE_WORKER;
	char *dump;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	c = cluster_set_at(f->set, 0);
	assert_non_null(c);
	assert_null(cluster_set_at(f->set, 1));
	assert_string_equal(cluster_config_name(c), "a");
	assert_string_equal(cluster_config_file(c), "a.yaml");
	assert_string_equal(cluster_config_version(c), "1.25.6");
	assert_string_equal(cluster_config_kube_cluster(c), "dev");
	assert_int_equal(cluster_config_parallel(c), 2);
	assert_int_equal(cluster_config_host_count(c), 5);
	assert_string_equal(cluster_config_host(c, 0, &role), "k8s-master-dc2");
	assert_int_equal(role, NODE_MASTER);
	assert_string_equal(cluster_config_host(c, 1, &role), "k8s-master-dc3");
	assert_string_equal(cluster_config_host(c, 2, &role), "kube-a-dc1-gpu-worker01");
	assert_int_equal(role, NODE_WORKER);
	assert_string_equal(cluster_config_host(c, 4, NULL), "kube-a-dc1-plain");
	assert_null(cluster_config_host(c, 5, NULL));
	assert_int_equal(cluster_config_group_count(c), 2);
	assert_string_equal(cluster_config_group(c, 0), "dc1");
	assert_string_equal(cluster_config_group(c, 1), "gpu");
	dump = json_dumps(json_object_get(cluster_config_tree(c), "upgrade"), JSON_COMPACT);
	assert_string_equal(dump, "{\"parallel\":2}");
	free(dump);
	dump = json_dumps(json_object_get(cluster_config_tree(c), "groups"), JSON_COMPACT);
	assert_string_equal(dump, "{\"gpu\":[\"kube-*-*-gpu-*\"],\"dc1\":[\"kube-a-dc1-*\",\"kube-a-dc9-*\"]}");
	free(dump);
	assert_string_equal(node_role_name(NODE_MASTER), "master");
	assert_string_equal(node_role_name(NODE_WORKER), "worker");
}

static void kube_clusters__configs_naming_a_missing_one__reported(void **state)
{
	struct fx *f = *state;
	char *m = minimal(NULL);
	char *names[] = { "dev", "prod" };
	json_t *probs, *p;

	put(f, "a.yaml", cluster_a);          /* kubernetesCluster: dev */
	put(f, "prod.yaml", m);               /* its own name */
	put(f, "staging.yaml", m);            /* its own name, not in viva.yaml */
	put(f, "x.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.1.0.1:6443\n"
			 "  kubernetesCluster: qa\n");
	assert_int_equal(load(f), VIVA_OK);
	probs = cluster_set_check_kube_clusters(f->set, names, 2);
	assert_int_equal(json_array_size(probs), 2);
	p = json_array_get(probs, 0);
	assert_string_equal(json_string_value(json_object_get(p, "cluster")), "staging");
	assert_int_equal(json_integer_value(json_object_get(p, "line")), 0);
	assert_string_equal(json_string_value(json_object_get(p, "error")),
			    "staging.yaml: no cluster \"staging\" in viva.yaml (clusters: dev, prod) and no "
			    "common.kubernetesCluster naming one: node API calls for it cannot be made");
	p = json_array_get(probs, 1);
	assert_string_equal(json_string_value(json_object_get(p, "kubernetesCluster")), "qa");
	assert_string_equal(json_string_value(json_object_get(p, "error")),
			    "x.yaml:8: common.kubernetesCluster: \"qa\" is not a cluster of viva.yaml (clusters: dev, prod)");
	json_decref(probs);
	probs = cluster_set_check_kube_clusters(f->set, NULL, 0);
	assert_int_equal(json_array_size(probs), 4);
	json_decref(probs);
	free(m);
}

/* A reader keeps its set through a reload on another thread. */
struct reader {
	struct cluster_current *cur;
	int rounds;
	int ok;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		struct cluster_set *s = cluster_current_get(r->cur);
		struct node_settings *ns = NULL;
		char err[256];

		if (cluster_resolve(s, "kube-a-dc1-w1", &ns, err, sizeof(err)) == VIVA_OK &&
		    strcmp(ns->cluster, "a") == 0)
			r->ok++;
		node_settings_free(ns);
		cluster_set_unref(s);
	}
	return NULL;
}

static void current__readers_and_reloads__each_holds_its_set(void **state)
{
	struct fx *f = *state;
	struct cluster_current cur;
	struct reader r = { .cur = &cur, .rounds = 2000 };
	struct cluster_set *held;
	pthread_t t;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	cluster_current_init(&cur, cluster_set_ref(f->set));
	held = cluster_current_get(&cur);
	assert_int_equal(pthread_create(&t, NULL, read_loop, &r), 0);
	for (int i = 0; i < 50; i++) {
		struct cluster_set *next = NULL;

		assert_int_equal(cluster_set_load(f->clusters, held, &next, NULL, f->err, sizeof(f->err)), VIVA_OK);
		cluster_current_publish(&cur, next);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.ok, r.rounds);
	/* the first set is still whole after many swaps */
	assert_non_null(cluster_set_find(held, "a"));
	cluster_set_unref(held);
	cluster_current_release(&cur);
}

/* ---- node files ---------------------------------------------------------------------------- */

/* f->nodes/<rel> (the operator's node_templates). */
static void put_node(struct fx *f, const char *rel, const char *text)
{
	assert_true(mkdir(f->nodes, 0755) == 0 || errno == EEXIST);
	put_in(f->nodes, rel, text);
}

/* The file at path in files, or NULL. */
static const struct node_file *file_at(const struct node_files *files, const char *path)
{
	for (size_t i = 0; i < files->n; i++)
		if (strcmp(files->v[i].path, path) == 0)
			return &files->v[i];
	return NULL;
}

static const char *content_at(const struct node_files *files, const char *path)
{
	const struct node_file *nf = file_at(files, path);

	return nf ? nf->content : NULL;
}

static void render_ok(struct fx *f, const char *dir, const struct node_settings *s, struct node_files *out)
{
	int rc = nodefiles_render(dir, s, out, f->err, sizeof(f->err));

	if (rc != VIVA_OK)
		fprintf(stderr, "render: %s\n", f->err);
	assert_int_equal(rc, VIVA_OK);
}

/* Render host with dir and expect failure rc; the error text is f->err. Nothing is served. */
static void render_fails(struct fx *f, const char *dir, const char *host, int rc)
{
	struct node_settings *s = resolve_ok(f, host);
	struct node_files out = { (struct node_file *)1, 7 };

	assert_int_equal(nodefiles_render(dir, s, &out, f->err, sizeof(f->err)), rc);
	assert_int_equal(out.n, 0);
	assert_null(out.v);
	node_settings_free(s);
}

static const char *const tree_paths[] = {
	"/etc/NetworkManager/conf.d/k8s-cni.conf",
	"/etc/containerd/config.toml",
	"/etc/crictl.yaml",
	"/etc/default/kubelet",
	"/etc/kubernetes/kubelet-config.yaml",
	"/etc/modules-load.d/k8s.conf",
	"/etc/sysctl.d/99-kubernetes.conf",
	"/etc/systemd/system/containerd.service",
	"/etc/systemd/system/kubelet.service.d/10-viva.conf",
	NULL,
};

static void render__builtin_tree__sorted_with_the_node_values(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	struct node_files files;
	const char *c;
	json_t *j;
	size_t n = 0;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-dc1-worker07");
	render_ok(f, NULL, s, &files);
	while (tree_paths[n])
		n++;
	assert_int_equal(files.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(files.v[i].path, tree_paths[i]);
		assert_string_equal(files.v[i].mode, "0644");
		assert_int_equal(strlen(files.v[i].content), files.v[i].len);
		/* every placeholder replaced, every section tag gone */
		assert_null(strstr(files.v[i].content, "{{"));
		assert_null(strstr(files.v[i].content, "}}"));
	}
	c = content_at(&files, "/etc/kubernetes/kubelet-config.yaml");
	assert_contains(c, "\nclusterDNS:\n  - 10.96.0.10\n");
	assert_contains(c, "\ncgroupDriver: systemd\n");
	assert_contains(c, "# The kubelet's configuration on kube-a-dc1-worker07 (worker of cluster a),\n"
			"# Kubernetes 1.25.6, written by viva.\n");
	c = content_at(&files, "/etc/containerd/config.toml");
	assert_contains(c, "# containerd 1.7.2, runc 1.1.9 (/usr/local/sbin/runc),\n# CNI plugins 1.3.0 in /opt/cni/bin.");
	assert_contains(c, "sandbox_image = \"registry.k8s.io/pause:3.8\"");
	assert_contains(c, "default_runtime_name = \"runc\"\n");
	assert_contains(c, "        SystemdCgroup = true\n\n  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n");
	assert_null(strstr(c, "nvidia"));
	assert_string_equal(content_at(&files, "/etc/default/kubelet"),
			    "# Read by kubeadm's kubelet drop-in (EnvironmentFile), written by viva for kube-a-dc1-worker07.\n"
			    "# The node labels viva keys on: cluster, datacenter, GPU.\n"
			    "KUBELET_EXTRA_ARGS=\"--node-labels=viva/cluster=a,viva/datacenter=dc1,viva/gpu=false\"\n");
	assert_contains(content_at(&files, "/etc/systemd/system/kubelet.service.d/10-viva.conf"),
			"Environment=\"KUBELET_CONFIG_ARGS=--config=/etc/kubernetes/kubelet-config.yaml\"\n");
	/* the API's list */
	j = node_files_json(&files);
	assert_int_equal(json_array_size(j), n);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 3), "path")), "/etc/default/kubelet");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 3), "mode")), "0644");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 3), "content")), files.v[3].content);
	json_decref(j);
	node_files_release(&files);
	assert_int_equal(files.n, 0);
	node_settings_free(s);
}

static void render__gpu_and_master__sections_and_optional_values(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	struct node_files files;
	const char *c;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-dc1-gpu-worker01");
	render_ok(f, NULL, s, &files);
	c = content_at(&files, "/etc/containerd/config.toml");
	assert_contains(c, "default_runtime_name = \"nvidia\"\n");
	/* the section's own lines gone, its inside kept, no blank line added */
	assert_contains(c, "        SystemdCgroup = true\n"
			"\n"
			"    # GPU node: the NVIDIA container runtime (CUDA 12.2.1_535.86.10_linux) is the\n"
			"    # default, so the device plugin and GPU pods need no RuntimeClass\n"
			"    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n");
	assert_contains(c, "        BinaryName = \"/usr/bin/nvidia-container-runtime\"\n"
			"        SystemdCgroup = true\n"
			"\n"
			"  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n");
	assert_contains(content_at(&files, "/etc/default/kubelet"), "viva/gpu=true\"\n");
	node_files_release(&files);
	node_settings_free(s);
	/* a master with an address: --node-ip; no datacenter label */
	s = resolve_ok(f, "k8s-master-dc3");
	render_ok(f, NULL, s, &files);
	assert_contains(content_at(&files, "/etc/default/kubelet"),
			"KUBELET_EXTRA_ARGS=\"--node-labels=viva/cluster=a,viva/gpu=false --node-ip=10.0.0.11\"\n");
	assert_contains(content_at(&files, "/etc/kubernetes/kubelet-config.yaml"), "(master of cluster a)");
	node_files_release(&files);
	node_settings_free(s);
}

/* The same node and trees give the same bytes, whatever came in between. */
static void render__twice__identical_bytes(void **state)
{
	struct fx *f = *state;
	struct node_settings *s, *other;
	struct node_files one, two, three;
	char *ja, *jb;
	json_t *j;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	put_node(f, "1.25.6/etc/zz/extra.conf", "x={{podSubnet}}\n");
	put_node(f, "1.25.6/etc/aa/first.conf", "{{#gpu}}gpu{{/gpu}}{{^gpu}}cpu{{/gpu}} {{hostname}}\n");
	s = resolve_ok(f, "kube-a-dc1-worker07");
	other = resolve_ok(f, "kube-a-dc1-gpu-worker01");
	render_ok(f, f->nodes, s, &one);
	render_ok(f, f->nodes, other, &three);
	render_ok(f, f->nodes, s, &two);
	assert_int_equal(one.n, two.n);
	assert_int_equal(one.n, 11);
	for (size_t i = 0; i < one.n; i++) {
		assert_string_equal(one.v[i].path, two.v[i].path);
		assert_string_equal(one.v[i].mode, two.v[i].mode);
		assert_int_equal(one.v[i].len, two.v[i].len);
		assert_memory_equal(one.v[i].content, two.v[i].content, one.v[i].len);
	}
	j = node_files_json(&one);
	ja = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = node_files_json(&two);
	jb = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_string_equal(ja, jb);
	/* and the operator's files sort in with the built-in ones */
	assert_string_equal(one.v[0].path, "/etc/NetworkManager/conf.d/k8s-cni.conf");
	assert_string_equal(one.v[1].path, "/etc/aa/first.conf");
	assert_string_equal(one.v[1].content, "cpu kube-a-dc1-worker07\n");
	assert_string_equal(one.v[10].path, "/etc/zz/extra.conf");
	assert_string_equal(one.v[10].content, "x=10.244.0.0/16\n");
	assert_string_equal(content_at(&three, "/etc/aa/first.conf"), "gpu kube-a-dc1-gpu-worker01\n");
	free(ja);
	free(jb);
	node_files_release(&one);
	node_files_release(&two);
	node_files_release(&three);
	node_settings_free(s);
	node_settings_free(other);
}

static void render__missing_version__error_names_it(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	struct node_files files;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	render_fails(f, NULL, "previous-version-node", VIVA_ENOENT);
	assert_string_equal(f->err, "no node files for Kubernetes 1.21.6: no templates/node/1.21.6/ built into viva, "
			    "and no node_templates directory (versions with node files: 1.25.6, 1.26.3)");
	put_node(f, "1.9.0/etc/a.conf", "a\n");
	put_node(f, "1.27.1/etc/b.conf", "b\n");
	render_fails(f, f->nodes, "previous-version-node", VIVA_ENOENT);
	assert_contains(f->err, "no node files for Kubernetes 1.21.6: neither templates/node/1.21.6/ built into viva nor ");
	assert_contains(f->err, "/node/1.21.6/ (versions with node files: 1.9.0, 1.25.6, 1.26.3, 1.27.1)");
	/* the version is the node's: 1.26.3 has its own pause image */
	put(f, "a.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n");
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-a-dc1-w1");
	render_ok(f, NULL, s, &files);
	assert_contains(content_at(&files, "/etc/containerd/config.toml"), "pause:3.9");
	assert_contains(content_at(&files, "/etc/kubernetes/kubelet-config.yaml"), "Kubernetes 1.26.3");
	node_files_release(&files);
	node_settings_free(s);
}

static void render__operator_directory__overrides_adds_and_skips(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	struct node_files files, builtin;
	char *p;
	json_t *vs;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	put_node(f, "1.25.6/etc/crictl.yaml", "runtime-endpoint: unix:///run/containerd/containerd.sock\n"
					      "# {{hostname}} in {{datacenter}}\n");
	put_node(f, "1.25.6/etc/chrony/chrony.conf", "server ntp.{{datacenter}}.example.com iburst\n");
	put_node(f, "1.25.6/etc/profile.d/viva-node.sh", "export VIVA_CLUSTER={{cluster}}\n");
	p = xasprintf("%s/1.25.6/etc/profile.d/viva-node.sh", f->nodes);
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
	/* never served */
	put_node(f, "1.25.6/README.md", "# my trees {{nope}}\n");
	put_node(f, "1.25.6/notes/x.conf", "{{nope}}\n");
	put_node(f, "1.25.6/etc/README.md", "{{nope}}\n");
	put_node(f, "1.25.6/etc/kubernetes/README", "{{nope}}\n");
	put_node(f, "1.25.6/etc/kubernetes/kubelet.conf", "{{nope}}\n");
	put_node(f, "1.25.6/etc/crictl.yaml~", "{{nope}}\n");
	put_node(f, "1.25.6/etc/.crictl.yaml.swp", "{{nope}}\n");
	put_node(f, "1.25.6/etc/.git/config", "{{nope}}\n");
	s = resolve_ok(f, "kube-a-dc1-worker07");
	render_ok(f, f->nodes, s, &files);
	render_ok(f, NULL, s, &builtin);
	assert_int_equal(files.n, builtin.n + 2);
	assert_string_equal(content_at(&files, "/etc/crictl.yaml"),
			    "runtime-endpoint: unix:///run/containerd/containerd.sock\n# kube-a-dc1-worker07 in dc1\n");
	assert_string_equal(content_at(&files, "/etc/chrony/chrony.conf"), "server ntp.dc1.example.com iburst\n");
	assert_string_equal(file_at(&files, "/etc/chrony/chrony.conf")->mode, "0644");
	assert_string_equal(file_at(&files, "/etc/profile.d/viva-node.sh")->mode, "0755");
	/* the others are the built-in ones, byte for byte */
	for (size_t i = 0; i < builtin.n; i++)
		if (strcmp(builtin.v[i].path, "/etc/crictl.yaml") != 0)
			assert_string_equal(content_at(&files, builtin.v[i].path), builtin.v[i].content);
	for (size_t i = 0; i < files.n; i++) {
		assert_null(strstr(files.v[i].path, "README"));
		assert_null(strstr(files.v[i].path, "kubelet.conf"));
		assert_null(strstr(files.v[i].path, "notes"));
		assert_null(strstr(files.v[i].path, "~"));
		assert_null(strstr(files.v[i].path, "/."));
	}
	node_files_release(&files);
	node_files_release(&builtin);
	/* a link inside the directory shares a file between versions */
	put_node(f, "1.26.3/etc/placeholder", "x\n");
	p = xasprintf("%s/1.26.3/etc/chrony.conf", f->nodes);
	assert_int_equal(symlink("../../1.25.6/etc/chrony/chrony.conf", p), 0);
	free(p);
	node_settings_free(s);
	put(f, "b.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n");
	assert_int_equal(load(f), VIVA_OK);
	s = resolve_ok(f, "kube-b-dc7-w1");
	render_ok(f, f->nodes, s, &files);
	assert_string_equal(content_at(&files, "/etc/chrony.conf"), "server ntp.dc7.example.com iburst\n");
	node_files_release(&files);
	node_settings_free(s);
	/* a missing directory: the built-in trees */
	s = resolve_ok(f, "kube-a-dc1-worker07");
	p = xasprintf("%s/absent", f->root);
	render_ok(f, p, s, &files);
	assert_int_equal(files.n, 9);
	node_files_release(&files);
	free(p);
	node_settings_free(s);
	assert_int_equal(nodefiles_versions(f->nodes, &vs, f->err, sizeof(f->err)), VIVA_OK);
	p = json_dumps(vs, JSON_COMPACT);
	assert_string_equal(p, "[\"1.25.6\",\"1.26.3\"]");
	free(p);
	json_decref(vs);
	/* README.md is built in (dumped for operators) but never a node's file */
	assert_non_null(builtin_find("node/README.md"));
}

/* An operator file with text at line 3 of f->nodes/1.25.6/etc/t.conf, rendered for a plain worker. */
static void expect_template_error(struct fx *f, const char *text, const char *want)
{
	char *want_full = xasprintf("%s/1.25.6/etc/t.conf:%s", f->nodes, want);

	put_node(f, "1.25.6/etc/t.conf", text);
	render_fails(f, f->nodes, "kube-a-dc1-worker07", VIVA_EINVAL);
	if (strcmp(f->err, want_full) != 0) {
		fprintf(stderr, "for %s\nwant %s\ngot  %s\n", text, want_full, f->err);
		fail();
	}
	free(want_full);
}

static void render__template_errors__file_line_and_key(void **state)
{
	struct fx *f = *state;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	expect_template_error(f, "a\nb\nc={{nope}}\n",
			      "3: unknown placeholder {{nope}}: not a setting of the node nor a key of its cluster config");
	/* even where the node would not render it (a worker without a GPU) */
	expect_template_error(f, "a\n{{#gpu}}\n{{ cudaVersoin }}\n{{/gpu}}\n",
			      "3: unknown placeholder {{cudaVersoin}}: not a setting of the node nor a key of its "
			      "cluster config");
	expect_template_error(f, "{{#nope}}x{{/nope}}\n",
			      "1: unknown placeholder {{nope}}: not a setting of the node nor a key of its cluster config");
	expect_template_error(f, "x\n\ny {{ host name }}\n",
			      "3: malformed placeholder {{ host name }} (a placeholder is {{key}}, {{#key}}, {{^key}} or "
			      "{{/key}}, key being [A-Za-z_][A-Za-z0-9_]*)");
	expect_template_error(f, "{{{hostname}}}\n", "1: malformed placeholder {{{hostname}} (a placeholder is "
			      "{{key}}, {{#key}}, {{^key}} or {{/key}}, key being [A-Za-z_][A-Za-z0-9_]*)");
	expect_template_error(f, "a {{hostname\n}}\n", "1: a {{ without its }} on the same line");
	expect_template_error(f, "x\n{{#gpu}}\ny\n", "2: {{#gpu}} is not closed (no {{/gpu}})");
	expect_template_error(f, "{{^gpu}}\n", "1: {{^gpu}} is not closed (no {{/gpu}})");
	expect_template_error(f, "{{#gpu}}{{#role}}{{/gpu}}{{/role}}\n", "1: {{/gpu}} does not close {{#role}} of line 1");
	expect_template_error(f, "a\n{{/gpu}}\n", "2: {{/gpu}} closes no section");
	{
		char deep[512] = "";

		for (int i = 0; i < 17; i++)
			strcat(deep, "{{#gpu}}");
		expect_template_error(f, deep, "1: sections nested deeper than 16");
	}
	/* not text */
	put_node(f, "1.25.6/etc/t.conf", "caf\xe9\n");
	render_fails(f, f->nodes, "kube-a-dc1-worker07", VIVA_EINVAL);
	assert_contains(f->err, "/1.25.6/etc/t.conf: is not UTF-8 text");
	{
		char *p = xasprintf("%s/1.25.6/etc/t.conf", f->nodes);
		FILE *fp = fopen(p, "w");

		assert_non_null(fp);
		fwrite("a\0b", 1, 3, fp);
		fclose(fp);
		free(p);
	}
	render_fails(f, f->nodes, "kube-a-dc1-worker07", VIVA_EINVAL);
	assert_contains(f->err, "/1.25.6/etc/t.conf: contains a NUL byte (node files are text)");
}

static void render__syntax__sections_spaces_crlf_and_verbatim_values(void **state)
{
	struct fx *f = *state;
	struct node_settings *s;
	struct node_files files;
	/* a value is never read as a template: {{lbrace}} gives a literal "{{" */
	char *cfg = xasprintf("common:\n  cluster: 1.25.6\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			"  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n"
			"  lbrace: \"{{\"\n  tricky: \"{{hostname}} & <b> \\\"q\\\" $x\"\n  empty_ok: \"false\"\n");
	put(f, "a.yaml", cfg);
	assert_int_equal(load(f), VIVA_OK);
	put_node(f, "1.25.6/etc/t.conf",
		 "lit={{lbrace}}x}}\n"
		 "raw={{ tricky }}\n"
		 "  {{#gpu}}  \n"
		 "gpu only\n"
		 "  {{/gpu}}\n"
		 "{{^gpu}}\n"
		 "no gpu\n"
		 "{{/gpu}}\n"
		 "inline=[{{#gpu}}g{{/gpu}}{{^gpu}}c{{/gpu}}]\n"
		 "{{#role}}{{^empty_ok}}nested {{role}}{{/empty_ok}}{{/role}}\n"
		 "crlf\r\n"
		 "{{#role}}\r\n"
		 "in\r\n"
		 "{{/role}}\r\n"
		 "end {{hostname}}");
	s = resolve_ok(f, "kube-a-dc1-w1");
	render_ok(f, f->nodes, s, &files);
	assert_string_equal(content_at(&files, "/etc/t.conf"),
			    "lit={{x}}\n"
			    "raw={{hostname}} & <b> \"q\" $x\n"
			    "no gpu\n"
			    "inline=[c]\n"
			    "nested worker\n"
			    "crlf\r\n"
			    "in\r\n"
			    "end kube-a-dc1-w1");
	node_files_release(&files);
	node_settings_free(s);
	free(cfg);
}

static void render__hostile_operator_files__refused_never_cut(void **state)
{
	struct fx *f = *state;
	char *p, *big;
	size_t n = (size_t)2 << 20;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	put_in(f->root, "secret.conf", "password\n");
	put_node(f, "1.25.6/etc/ok.conf", "ok\n");
	/* a link out of the directory, absolute or relative, or to a device */
	p = xasprintf("%s/1.25.6/etc/evil.conf", f->nodes);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EDENIED);
	assert_contains(f->err, "/1.25.6/etc/evil.conf: a link out of the directory");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("../../../secret.conf", p), 0);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EDENIED);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/dev/zero", p), 0);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EDENIED);
	assert_int_equal(unlink(p), 0);
	/* a FIFO: refused at once, never waited on */
	assert_int_equal(mkfifo(p, 0644), 0);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EINVAL);
	assert_contains(f->err, "/1.25.6/etc/evil.conf: not a regular file");
	assert_int_equal(unlink(p), 0);
	/* a linked folder */
	assert_int_equal(symlink("/etc", p), 0);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EDENIED);
	assert_int_equal(unlink(p), 0);
	free(p);
	/* a file too large */
	big = xmalloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	put_node(f, "1.25.6/etc/big.conf", big);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_ERANGE);
	assert_contains(f->err, "/1.25.6/etc/big.conf: larger than the limit of 1 MiB");
	p = xasprintf("%s/1.25.6/etc/big.conf", f->nodes);
	assert_int_equal(unlink(p), 0);
	free(p);
	/* 8 MiB in all */
	big[1000000] = '\0';
	for (int i = 0; i < 9; i++) {
		char name[64];

		snprintf(name, sizeof(name), "1.25.6/etc/big/%d.conf", i);
		put_node(f, name, big);
	}
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_ERANGE);
	assert_string_equal(f->err, "the node files for Kubernetes 1.25.6 are larger than 8 MiB in all");
	p = xasprintf("%s/1.25.6/etc/big", f->nodes);
	test_rm_rf(p);
	free(p);
	free(big);
	/* names that could mean something else somewhere */
	put_node(f, "1.25.6/etc/bad name.conf", "x\n");
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EINVAL);
	assert_contains(f->err, "/1.25.6/etc/bad name.conf: not a usable file name (letters, digits and . _ @ + - only)");
	p = xasprintf("%s/1.25.6/etc/bad name.conf", f->nodes);
	assert_int_equal(unlink(p), 0);
	free(p);
	put_node(f, "1.25.6/etc/new\nline", "x\n");
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_EINVAL);
	assert_contains(f->err, "/1.25.6/etc/new?line: not a usable file name");
	assert_null(strchr(f->err, '\n'));
	p = xasprintf("%s/1.25.6/etc/new\nline", f->nodes);
	assert_int_equal(unlink(p), 0);
	free(p);
	/* the version folder itself a link */
	p = xasprintf("%s/1.26.3", f->nodes);
	assert_int_equal(symlink("1.25.6", p), 0);
	free(p);
	put(f, "b.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n");
	assert_int_equal(load(f), VIVA_OK);
	render_fails(f, f->nodes, "kube-b-dc1-w1", VIVA_EINVAL);
	assert_contains(f->err, "/1.26.3: not a folder (a link or a file)");
	/* what is left is fine again */
	{
		struct node_settings *s = resolve_ok(f, "kube-a-dc1-w1");
		struct node_files files;

		render_ok(f, f->nodes, s, &files);
		assert_string_equal(content_at(&files, "/etc/ok.conf"), "ok\n");
		node_files_release(&files);
		node_settings_free(s);
	}
}

static void render__limits__count_depth_and_output_bounded(void **state)
{
	struct fx *f = *state;
	char *cfg, *big, *tmpl, *p;
	size_t n = 600 * 1000;

	put(f, "a.yaml", cluster_a);
	assert_int_equal(load(f), VIVA_OK);
	for (int i = 0; i < 300; i++) {
		char name[64];

		snprintf(name, sizeof(name), "1.25.6/etc/many/f%03d.conf", i);
		put_node(f, name, "x\n");
	}
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_ERANGE);
	assert_string_equal(f->err, "the node files for Kubernetes 1.25.6 are more than 256 files");
	p = xasprintf("%s/1.25.6/etc/many", f->nodes);
	test_rm_rf(p);
	free(p);
	put_node(f, "1.25.6/etc/a/b/c/d/e/f/g/h/i/deep.conf", "x\n");
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_ERANGE);
	assert_contains(f->err, "folders nested deeper than 8");
	p = xasprintf("%s/1.25.6/etc/a", f->nodes);
	test_rm_rf(p);
	free(p);
	/* a 600 KB value used 15 times: past 8 MiB out */
	big = xmalloc(n + 1);
	memset(big, 'v', n);
	big[n] = '\0';
	cfg = xasprintf("common:\n  cluster: 1.25.6\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			"  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n  big: %s\n", big);
	put(f, "a.yaml", cfg);
	assert_int_equal(load(f), VIVA_OK);
	tmpl = xstrdup("");
	for (int i = 0; i < 15; i++) {
		char *next = xasprintf("%s{{big}}\n", tmpl);

		free(tmpl);
		tmpl = next;
	}
	put_node(f, "1.25.6/etc/out.conf", tmpl);
	render_fails(f, f->nodes, "kube-a-dc1-w1", VIVA_ERANGE);
	assert_contains(f->err, "/1.25.6/etc/out.conf: the node files would be larger than 8 MiB");
	free(tmpl);
	/* a directory too big to list: said, not listed in part */
	for (int i = 0; i < 4100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "junk%04d", i);
		put_node(f, name, "");
	}
	{
		struct node_settings *s = resolve_ok(f, "kube-a-dc1-w1");
		json_t *vs = NULL, *probs = json_array();

		assert_int_equal(nodefiles_versions(f->nodes, &vs, f->err, sizeof(f->err)), VIVA_ERANGE);
		assert_contains(f->err, "(node_templates) has more than 4096 entries");
		assert_non_null(vs);
		assert_int_equal(nodefiles_check(f->nodes, s, probs), VIVA_EINVAL);
		assert_contains(json_string_value(json_object_get(json_array_get(probs, 0), "error")),
				"has more than 4096 entries");
		json_decref(vs);
		json_decref(probs);
		node_settings_free(s);
	}
	free(cfg);
	free(big);
}

static void check__versions_and_set__problems_listed_up_front(void **state)
{
	struct fx *f = *state;
	struct node_settings *sample;
	json_t *probs = json_array(), *p;
	char *dump;

	put(f, "a.yaml", cluster_a);
	put(f, "b.yaml", "common:\n  cluster: 1.26.3\n  runcVersion: 1.1.9\n  criVersion: 1.7.2\n"
			 "  cniPluginVersion: 1.3.0\n  clusterDNS: 10.96.0.10\n  apiServer: 10.0.0.1:6443\n"
			 "worker:\n  w1: {}\n  w2: {}\n  w3: { version: { kubernetes: 1.20.1 } }\n");
	assert_int_equal(load(f), VIVA_OK);
	/* the built-in trees need nothing but what every node has */
	assert_int_equal(cluster_resolve_in(f->set, "b", "kube-b-x-y", &sample, f->err, sizeof(f->err)), VIVA_OK);
	assert_int_equal(nodefiles_check(NULL, sample, probs), VIVA_OK);
	assert_int_equal(json_array_size(probs), 0);
	assert_int_equal(nodefiles_check(f->nodes, sample, probs), VIVA_OK);   /* no such directory yet */
	/* an operator's version using a key only cluster a has */
	put_node(f, "1.26.3/etc/pods.conf", "cidr={{podSubnet}}\n");
	put_node(f, "1.27.1/etc/x.conf", "{{oops}}\n");
	assert_int_equal(nodefiles_check(f->nodes, sample, probs), VIVA_EINVAL);
	assert_int_equal(json_array_size(probs), 2);
	p = json_array_get(probs, 0);
	assert_string_equal(json_string_value(json_object_get(p, "version")), "1.26.3");
	assert_contains(json_string_value(json_object_get(p, "error")), "/1.26.3/etc/pods.conf:1: unknown placeholder "
			"{{podSubnet}}");
	assert_string_equal(json_string_value(json_object_get(json_array_get(probs, 1), "version")), "1.27.1");
	node_settings_free(sample);
	json_array_clear(probs);

	/* the set: a's nodes run 1.25.6 (fine) and 1.21.6 (no tree); b's run 1.26.3 (podSubnet unknown)
	 * and 1.20.1 (no tree); w1 and w2 repeat b's common problem and are left out */
	assert_int_equal(nodefiles_check_set(f->nodes, f->set, probs), VIVA_EINVAL);
	dump = json_dumps(probs, JSON_COMPACT | JSON_SORT_KEYS);
	assert_int_equal(json_array_size(probs), 3);
	p = json_array_get(probs, 0);
	assert_string_equal(json_string_value(json_object_get(p, "cluster")), "a");
	assert_string_equal(json_string_value(json_object_get(p, "host")), "previous-version-node");
	assert_string_equal(json_string_value(json_object_get(p, "version")), "1.21.6");
	assert_contains(json_string_value(json_object_get(p, "error")), "no node files for Kubernetes 1.21.6");
	p = json_array_get(probs, 1);
	assert_string_equal(json_string_value(json_object_get(p, "cluster")), "b");
	assert_null(json_object_get(p, "host"));
	assert_contains(json_string_value(json_object_get(p, "error")), "unknown placeholder {{podSubnet}}");
	p = json_array_get(probs, 2);
	assert_string_equal(json_string_value(json_object_get(p, "host")), "w3");
	assert_contains(json_string_value(json_object_get(p, "error")), "no node files for Kubernetes 1.20.1");
	free(dump);
	json_decref(probs);
}

/* The built-in trees as shipped: in viva, one per version, README beside them. */
static void builtin__node_trees__embedded_with_modes(void **state)
{
	const struct builtin_file *b = builtin_find("node/1.25.6/etc/containerd/config.toml");
	size_t per_version[2] = { 0, 0 };

	(void)state;
	assert_non_null(b);
	assert_int_equal(b->mode, 0644);
	assert_non_null(builtin_find("node/1.26.3/etc/kubernetes/kubelet-config.yaml"));
	for (size_t i = 0; i < builtin_files_len; i++) {
		if (strncmp(builtin_files[i].path, "node/1.25.6/", 12) == 0)
			per_version[0]++;
		if (strncmp(builtin_files[i].path, "node/1.26.3/", 12) == 0)
			per_version[1]++;
		/* no kubelet.conf is shipped, and no .json: it would look like a message template */
		if (strncmp(builtin_files[i].path, "node/", 5) == 0) {
			assert_null(strstr(builtin_files[i].path, "kubelet.conf"));
			assert_null(strstr(builtin_files[i].path, ".json"));
		}
	}
	assert_int_equal(per_version[0], 9);
	assert_int_equal(per_version[1], 9);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(resolve__naming_convention__worker_with_the_common_settings),
		T(resolve__listed_hosts__role_and_entry_override_key_by_key),
		T(resolve__gpu__cuda_label_and_groups),
		T(resolve__api_server__given_overridden_ipv6_default),
		T(resolve__dashed_cluster_names__longest_match_wins),
		T(resolve__unknown_hosts__not_found_with_the_reason),
		T(resolve__host_listed_twice__conflict_named),
		T(load__malformed_yaml__syntax_error_with_the_line),
		T(load__every_mistake__listed_with_path_and_line),
		T(load__cross_checks__gpu_needs_cuda_api_server_needs_an_address),
		T(load__file_names__are_cluster_names),
		T(load__hostile_files__refused_and_named),
		T(load__ten_thousand_files__bounded_and_reported),
		T(load__missing_or_emptied_directory__set_in_use_stays),
		T(reload__invalid_file__keeps_its_last_good_version),
		T(reload__change_report__added_removed_changed_keys),
		T(accessors__config__hosts_groups_parallel_tree),
		T(kube_clusters__configs_naming_a_missing_one__reported),
		T(current__readers_and_reloads__each_holds_its_set),
		T(render__builtin_tree__sorted_with_the_node_values),
		T(render__gpu_and_master__sections_and_optional_values),
		T(render__twice__identical_bytes),
		T(render__missing_version__error_names_it),
		T(render__operator_directory__overrides_adds_and_skips),
		T(render__template_errors__file_line_and_key),
		T(render__syntax__sections_spaces_crlf_and_verbatim_values),
		T(render__hostile_operator_files__refused_never_cut),
		T(render__limits__count_depth_and_output_bounded),
		T(check__versions_and_set__problems_listed_up_front),
		T(builtin__node_trees__embedded_with_modes),
	};

	/* the loads log each skipped file; the report is what is checked */
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
