#ifndef VIVA_BOT_NODES_CLUSTER_H
#define VIVA_BOT_NODES_CLUSTER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Cluster configs (SPEC 10.1): one <cluster>.yaml per cluster in the
 * cluster_configs directory (GitOps), loaded into an immutable set, and the
 * resolution of a host name into a node's settings. Pure model: no network,
 * no store, no Slack.
 *
 * The file (every key optional but common.cluster and the versions):
 *
 *   common:
 *     cluster: 1.25.6            # Kubernetes version (a leading v is accepted and dropped)
 *     runcVersion: 1.1.9         # versions: MAJOR.MINOR.PATCH[-pre], leading v dropped
 *     criVersion: 1.7.2
 *     cniPluginVersion: 1.3.0
 *     cudaVersion: "12.2.1_535.86.10_linux"   # needed when a node has gpu: true
 *     clusterDNS: 10.96.0.10     # an IPv4 or IPv6 address
 *     apiServer: 10.0.0.10:6443  # HOST:PORT; default: the first master's address, port 6443
 *     kubernetesCluster: dev     # the viva.yaml clusters entry; default: the file's name
 *     gpu: false                 # default for every node
 *     datacenter: dc1            # default: from the host name (below)
 *     podSubnet: 10.244.0.0/16   # any other scalar: a template variable (SPEC 10.2)
 *   master:
 *     k8s-master-dc2: { address: 10.0.0.10 }
 *   worker:
 *     kube-a-dc1-gpu-worker01: { gpu: true }
 *     previous-version-node: { version: { kubernetes: 1.21.6 } }
 *   groups:                      # name (DNS-1123 label) -> a glob or a list of globs
 *     gpu: "kube-*-*-gpu-*"
 *   upgrade:
 *     parallel: 1                # nodes upgraded at once, 1..100 (default 1)
 *
 * An entry under master/worker takes every key of common (but
 * kubernetesCluster) plus address (an IP) and version.kubernetes, and
 * overrides common key by key; version.kubernetes overrides cluster. A
 * null entry (`host:`) lists the host with the common settings.
 *
 * Unknown keys are errors, with one exception that SPEC 10.2 asks for: a
 * scalar key of common or of an entry that viva does not know is a template
 * variable for the node files ({{podSubnet}}). So that a typo does not
 * become a variable silently, such a key must look like one
 * ([A-Za-z][A-Za-z0-9_]*, at most 63), may not be a name viva sets itself
 * (hostname, role, kubernetesVersion, labels, ...), and may not be one edit
 * or a change of case away from a known key ("runcVerison: did you mean
 * runcVersion?"); a list or a mapping there is an unknown key. Scalars hold
 * no control characters (a value must not add lines to a node's file).
 * YAML anchors and aliases are allowed (bounded), merge keys (<<) are not.
 *
 * Errors name the path and file:line, like pipeline specs, one per line:
 *   common.cluster: "1.25" is not a version (MAJOR.MINOR.PATCH, e.g. 1.25.6) (a.yaml:2)
 *
 * THREADING. A struct cluster_set is immutable once cluster_set_load()
 * returned it, and reference counted (atomically): any thread may read a set
 * it holds a reference to, and drop it with cluster_set_unref() whenever it
 * likes; the last reference frees it. Configs are shared between sets (a
 * reload keeps the old object of an invalid file). Nothing
 * returned by the accessors (strings, json_t) may be modified, and json_t
 * values are borrowed: copy (json_deep_copy) what must outlive the set.
 * struct node_settings is the caller's own copy and outlives the set.
 * struct cluster_current below is the one mutable place: readers take a
 * reference under its lock, a reload publishes a new set under it.
 */

struct cluster_set;
struct cluster_config;

enum node_role { NODE_WORKER = 0, NODE_MASTER = 1 };

/* "worker" / "master". */
const char *node_role_name(enum node_role role);

/* ---- loading ----------------------------------------------------------------- */

/*
 * What a load changed, for `/viva node apply` and the log. Every array is
 * sorted by cluster name (file name for invalid and skipped).
 */
struct cluster_report {
	json_t *added;      /* ["a", ...] */
	json_t *removed;    /* ["b", ...]: their file is gone */
	json_t *changed;    /* [{"cluster": "a", "keys": ["common.cluster", "worker.kube-a-dc1-w1"]}] */
	json_t *invalid;    /* [{"file": "c.yaml", "cluster": "c", "errors": "path: msg (c.yaml:3)\n...",
	                     *   "kept": true}]: kept = its last good version stays in use */
	json_t *skipped;    /* [{"file": "d.yml", "reason": "..."}]: files that are not cluster configs
	                     * but look meant to be (*.yml) */
	json_t *conflicts;  /* ["kube-x is listed in a.yaml:7 and b.yaml:9", ...]: such a host does
	                     * not resolve until one of them drops it */
	size_t unchanged;   /* valid files equal to the version in use */
};

void cluster_report_init(struct cluster_report *r);
void cluster_report_release(struct cluster_report *r);
/* The report as lines for a person: "added: a, b", "c.yaml is invalid (its last good version
 * stays in use):", its errors indented, ... "" when nothing happened (caller frees). */
char *cluster_report_format(const struct cluster_report *r);

/*
 * Read every <cluster>.yaml in dir (hidden names are ignored; *.yml files
 * are named in rep->skipped; at most 1,000 files, 1 MiB each and 16 MiB in
 * all). The file's name is its cluster's name: a DNS-1123 label, at most
 * 40 characters (kube-{cluster}-... must stay a valid host name). Each file
 * is read with read_regular_file(READ_BENEATH): a FIFO, a device, a link
 * out of the directory or a file too large is invalid, named with why.
 *
 * prev (may be NULL: the first load) is the set in use. The new set holds
 * every valid file, and for an invalid one the version prev had (if any:
 * rep->invalid says "kept"); clusters whose file is gone are dropped. prev
 * itself is not changed.
 *
 * *out is always a set the caller owns a reference to (never NULL), so it
 * can be published as it is. Returns VIVA_OK (invalid files included: they
 * are in rep), or, with err and *out a new reference to prev (an empty set
 * when prev is NULL) so that nothing is lost:
 *   VIVA_ENOENT  the directory does not exist
 *   VIVA_EIO     it cannot be read
 *   VIVA_ERANGE  more .yaml files than viva reads: none is applied
 *   VIVA_EINVAL  it holds no .yaml file while prev has clusters (an unmounted
 *                volume must not remove every cluster)
 * rep may be NULL.
 */
int cluster_set_load(const char *dir, const struct cluster_set *prev, struct cluster_set **out,
		     struct cluster_report *rep, char *err, size_t errlen);

/* A set with no cluster (a new reference). */
struct cluster_set *cluster_set_empty(void);
/* Another reference to set (returned); NULL-safe. */
struct cluster_set *cluster_set_ref(const struct cluster_set *set);
/* Drop a reference; the last one frees the set. NULL-safe. */
void cluster_set_unref(struct cluster_set *set);

/* The clusters, sorted by name. */
size_t cluster_set_count(const struct cluster_set *set);
const struct cluster_config *cluster_set_at(const struct cluster_set *set, size_t i);
/* The cluster named name, or NULL. */
const struct cluster_config *cluster_set_find(const struct cluster_set *set, const char *name);
/* The errors of name's current file when the set holds its last good version instead
 * (borrowed), else NULL. */
const char *cluster_set_stale(const struct cluster_set *set, const char *name);

/*
 * The configs whose kubernetesCluster is not one of viva.yaml's clusters
 * (names[0..n)): [{"cluster": "a", "kubernetesCluster": "dev", "file": "a.yaml",
 * "line": 7, "error": "a.yaml:7: common.kubernetesCluster: \"dev\" is not a cluster of
 * viva.yaml (clusters: prod, staging)"}], [] when all are (caller owns). The line is
 * 0 when the name is the file's own (no kubernetesCluster key).
 */
json_t *cluster_set_check_kube_clusters(const struct cluster_set *set, char *const *names, size_t n);

/* ---- one cluster's config (borrowed from its set) ------------------------------ */

const char *cluster_config_name(const struct cluster_config *c);    /* "a" */
const char *cluster_config_file(const struct cluster_config *c);    /* "a.yaml" */
/* The desired Kubernetes version: common.cluster, without a leading v. */
const char *cluster_config_version(const struct cluster_config *c);
/* kubernetesCluster, else the config's own name. */
const char *cluster_config_kube_cluster(const struct cluster_config *c);
/* upgrade.parallel: 1 by default. */
int cluster_config_parallel(const struct cluster_config *c);
/* The hosts listed under master and worker, masters first, each in file order. */
size_t cluster_config_host_count(const struct cluster_config *c);
const char *cluster_config_host(const struct cluster_config *c, size_t i, enum node_role *role);
/* The groups, sorted by name. */
size_t cluster_config_group_count(const struct cluster_config *c);
const char *cluster_config_group(const struct cluster_config *c, size_t i);
/* The config as validated (versions without v, upgrade.parallel filled in); borrowed. */
const json_t *cluster_config_tree(const struct cluster_config *c);

/* ---- resolving a node ------------------------------------------------------------ */

/* A node's resolved settings (SPEC 10.1): the caller's own copy (node_settings_free). */
struct node_settings {
	char *hostname;            /* lower-case */
	char *cluster;             /* the cluster's name (not its version) */
	char *file;                /* the config it came from: "a.yaml" */
	char *datacenter;          /* "" when neither given nor in the host name */
	enum node_role role;
	bool listed;               /* under master/worker; else a worker by its name */
	char *kubernetes_version;  /* "1.25.6": version.kubernetes, else cluster; no leading v */
	char *runc_version;
	char *cri_version;
	char *cni_plugin_version;
	char *cuda_version;        /* "" unless gpu */
	bool gpu;
	char *cluster_dns;
	char *api_server;          /* HOST:PORT */
	char *kubernetes_cluster;  /* the viva.yaml clusters entry whose API the node joins */
	char *address;             /* "" when not given */
	char **groups;             /* the groups whose glob matches, sorted; NULL-terminated */
	size_t ngroups;
	json_t *labels;            /* {"viva/cluster": "a", "viva/datacenter": "dc1" (when known),
	                            *  "viva/gpu": "true"|"false"} */
	json_t *vars;              /* the template variables, name -> string (SPEC 10.2): the
	                            * merged entry's other scalar keys, then hostname, cluster,
	                            * datacenter, role, kubernetesVersion, runcVersion, criVersion,
	                            * cniPluginVersion, cudaVersion, gpu ("true"|"false"),
	                            * clusterDNS, apiServer, kubernetesCluster, address, groups
	                            * (comma-separated) and nodeLabels ("viva/cluster=a,..."),
	                            * which win over keys of the same name */
};

/*
 * The settings of host hostname (ASCII letters are folded to lower case, as
 * kubelet names its Node). Which cluster:
 *   1. a host listed under master or worker of a config belongs to it, with
 *      that role, whatever its name;
 *   2. else its first DNS label must read kube-{cluster}-{datacenter}-{rest},
 *      {cluster} being a configured cluster; cluster names may hold '-', so
 *      the longest configured name that leaves a non-empty {datacenter} and
 *      {rest} wins (with clusters "a" and "a-b", kube-a-b-dc1-w1 is in a-b,
 *      datacenter dc1; kube-a-b-w1 is in a, datacenter b). It is a worker
 *      with the common settings.
 * The datacenter is the merged entry's datacenter, else {datacenter} of
 * kube-{this cluster}-{datacenter}-{rest}, else "".
 *
 * Returns VIVA_OK and *out, or with err (a reason fit for the HTTP answer,
 * e.g. "kube-zz-dc1-w1: no cluster config for it: it is not listed in any and no configured
 * cluster matches kube-{cluster}-{datacenter}-{rest} (clusters: a, b)") and *out NULL:
 *   VIVA_EINVAL     hostname is not a host name (an answer of 404 suits it)
 *   VIVA_ENOENT     no config lists it or matches its name (404)
 *   VIVA_ECONFLICT  two configs list it (409, or 404 with the reason)
 */
int cluster_resolve(const struct cluster_set *set, const char *hostname, struct node_settings **out,
		    char *err, size_t errlen);

/*
 * The same, within the named cluster: its entry when it lists hostname, else
 * a worker with the common settings whatever the name (for checks of a
 * cluster's node files with a sample host, and tests). VIVA_ENOENT when
 * there is no such cluster.
 */
int cluster_resolve_in(const struct cluster_set *set, const char *cluster, const char *hostname,
		       struct node_settings **out, char *err, size_t errlen);

void node_settings_free(struct node_settings *s);

/*
 * The settings as the bootstrap API's "settings" (caller owns): every
 * template variable (strings), but gpu a boolean, labels an object and
 * groups a list, plus "listed" and "file".
 */
json_t *node_settings_json(const struct node_settings *s);

/* ---- the set in use, shared between threads ---------------------------------------- */

/*
 * One published set: readers call cluster_current_get() and drop the
 * reference when done (a request may finish on a set a reload has replaced
 * since); cluster_current_publish() swaps a new one in. The lock is held
 * only for the pointer swap and a reference count increment.
 */
struct cluster_current {
	pthread_mutex_t lock;
	struct cluster_set *set;
};

/* initial is taken (NULL: an empty set). */
void cluster_current_init(struct cluster_current *cur, struct cluster_set *initial);
/* A new reference to the set in use (never NULL). */
struct cluster_set *cluster_current_get(struct cluster_current *cur);
/* Publish set (taken); the old one goes when its last reader lets it go. */
void cluster_current_publish(struct cluster_current *cur, struct cluster_set *set);
void cluster_current_release(struct cluster_current *cur);

#endif
