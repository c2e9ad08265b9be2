#ifndef VIVA_BOT_K8S_NODES_H
#define VIVA_BOT_K8S_NODES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The Kubernetes side of cluster nodes (SPEC section 10), on top of
 * bot/clients/kube.h, for the node HTTP API and the node commands:
 *
 *   nodes_join.c   what `kubeadm join` needs: a bootstrap token minted as
 *                  `kubeadm token create` mints one, and the hashes of the
 *                  cluster's CA certificates (--discovery-token-ca-cert-hash)
 *   nodes.c        the nodes (list, one, cordon / uncordon) and label selectors
 *   nodes_drain.c  draining a node through the Eviction API, one pass at a
 *                  time or to the end
 *
 * Errors: every function returns 0 or a negative viva_err (bot/lib/err.h)
 * and leaves one line for a person in kube_last_error(), as the kube client
 * does. No message and no log line ever holds a token's secret.
 */
struct kube;

/* ---- bootstrap tokens (nodes_join.c) ------------------------------------------------- */

/*
 * A token lives at least 10 minutes and at most an hour (SPEC 10.3):
 * enough for a node to fetch its files, install and join, and short-lived
 * because it lets anyone holding it join the cluster.
 */
#define K8S_TOKEN_TTL_MIN     600
#define K8S_TOKEN_TTL_MAX     3600
#define K8S_TOKEN_TTL_DEFAULT 1800
/* Ids tried when one is taken (AlreadyExists) before giving up. */
#define K8S_TOKEN_TRIES       5
/* "abcdef.0123456789abcdef" */
#define K8S_TOKEN_LEN         23

struct k8s_token {
	char id[7];              /* [a-z0-9]{6}: public; the Secret is kube-system/bootstrap-token-<id> */
	char secret[17];         /* [a-z0-9]{16}: for the node only: never logged, never in a message */
	int64_t expires;         /* unix s: the Secret's expiration */
};

/* Fill buf with n random bytes: 0, or -1 when no randomness is to be had. */
typedef int (*k8s_random_fn)(unsigned char *buf, size_t n, void *ud);

struct k8s_token_opts {
	const char *host;        /* the node it is for (a host name): named in the token's description */
	long ttl_s;              /* 0: K8S_TOKEN_TTL_DEFAULT; otherwise within [K8S_TOKEN_TTL_MIN, _MAX] */
	int64_t now;             /* the caller's clock (unix s): expiration = now + ttl */
	k8s_random_fn random;    /* NULL: OpenSSL's RAND_bytes (tests script it) */
	void *random_ud;
};

/*
 * Mint a bootstrap token as `kubeadm token create` does: an id and a
 * secret drawn uniformly from [a-z0-9] (rejection sampling over random
 * bytes), stored as Secret bootstrap-token-<id> of type
 * bootstrap.kubernetes.io/token in kube-system with token-id,
 * token-secret, usage-bootstrap-authentication and usage-bootstrap-signing
 * "true", auth-extra-groups system:bootstrappers:kubeadm:default-node-token,
 * expiration (RFC 3339, UTC) and a description naming viva and the host.
 * An id already taken (409 AlreadyExists) is drawn again, at most
 * K8S_TOKEN_TRIES times in all. VIVA_OK and *out (wipe it with
 * k8s_token_wipe once used); VIVA_EINVAL for a ttl out of range or a bad
 * host; otherwise the client's error, the message naming the id only.
 */
int k8s_token_create(struct kube *k, const struct k8s_token_opts *o, struct k8s_token *out);
/* "id.secret", as kubeadm join --token takes it, into buf (at least K8S_TOKEN_LEN + 1 bytes). */
const char *k8s_token_string(const struct k8s_token *t, char *buf, size_t len);
/* Forget the secret (OPENSSL_cleanse). */
void k8s_token_wipe(struct k8s_token *t);

/* ---- the CA certificate hashes (nodes_join.c) ----------------------------------------------- */

/* "sha256:" and 64 lower-case hex digits */
#define K8S_CA_HASH_LEN 71
/* Certificates read from one bundle at most. */
#define K8S_CA_MAX      16

/*
 * The hashes `kubeadm join --discovery-token-ca-cert-hash` checks, one per
 * CA certificate of the cluster: "sha256:" + hex SHA-256 of the
 * certificate's DER SubjectPublicKeyInfo. The CA comes from ConfigMap
 * kube-public/cluster-info (data.kubeconfig, clusters[0].cluster.
 * certificate-authority-data), where kubeadm init publishes it. *hashes
 * (caller decrefs) is an array of strings, in the bundle's order.
 * VIVA_ENOENT when the ConfigMap is missing (not a kubeadm cluster),
 * VIVA_EPARSE when what it holds is not a kubeconfig with certificates,
 * otherwise the client's error.
 */
int k8s_ca_hashes(struct kube *k, json_t **hashes);
/* The same from a kubeconfig's text (cluster-info's data.kubeconfig). */
int k8s_ca_hashes_of_kubeconfig(const char *text, size_t len, json_t **hashes);
/* The same from PEM text: every CERTIFICATE block (other blocks are passed over, as kubeadm does). */
int k8s_ca_hashes_of_pem(const char *pem, size_t len, json_t **hashes);

/* ---- nodes (nodes.c) -------------------------------------------------------------------------- */

/* Nodes listed at most. */
#define K8S_NODES_MAX 10000

enum k8s_ready {
	K8S_READY_UNKNOWN,       /* no Ready condition, or its status Unknown (the node stopped reporting) */
	K8S_READY_TRUE,
	K8S_READY_FALSE,
};

struct k8s_node {
	char *name;
	char *kubelet_version;   /* status.nodeInfo.kubeletVersion ("v1.25.6"); "" when not reported */
	enum k8s_ready ready;    /* the Ready condition */
	char *ready_reason;      /* its reason ("KubeletNotReady"); "" when none */
	bool schedulable;        /* !spec.unschedulable (cordoned: false) */
	json_t *labels;          /* metadata.labels: an object, {} when none (the struct's reference) */
	int64_t created;         /* metadata.creationTimestamp, unix s; 0 when unreadable */
};

struct k8s_node_list {
	struct k8s_node *v;
	size_t n;
};

/* Node name into *out (VIVA_ENOENT: no such node). */
int k8s_node_get(struct kube *k, const char *name, struct k8s_node *out);
/*
 * Every node (label_selector may be NULL), page after page (page items a
 * request; 0: 500), sorted by name, at most K8S_NODES_MAX (more is
 * VIVA_ERANGE).
 */
int k8s_nodes_list(struct kube *k, const char *label_selector, long page, struct k8s_node_list *out);
void k8s_node_release(struct k8s_node *n);
void k8s_node_list_release(struct k8s_node_list *l);
/* {name, kubeletVersion, ready ("True"|"False"|"Unknown"), readyReason, schedulable, labels, created (RFC 3339)} */
json_t *k8s_node_json(const struct k8s_node *n);
const char *k8s_ready_name(enum k8s_ready r);

/*
 * Cordon (spec.unschedulable: true) or uncordon (the field removed, as
 * kubectl uncordon does) node name with a merge patch. Nothing is written
 * when the node is already so: *changed (may be NULL) says whether it was.
 */
int k8s_node_cordon(struct kube *k, const char *name, bool cordon, bool *changed);

/*
 * A metav1.LabelSelector (matchLabels, matchExpressions with In, NotIn,
 * Exists, DoesNotExist) against an object's labels, as the API server
 * matches a PodDisruptionBudget's: an empty selector matches everything,
 * a missing (NULL or null) one nothing, an invalid one nothing.
 */
bool k8s_selector_matches(json_t *selector, json_t *labels);

/* ---- drain (nodes_drain.c) ------------------------------------------------------------------ */

#define K8S_DRAIN_TIMEOUT_S  600     /* SPEC drain_timeout's default */
#define K8S_DRAIN_MAX_PODS   1000    /* pods on one node at most (the kubelet's default is 110) */
#define K8S_DRAIN_MAX_PASSES 10000
#define K8S_DRAIN_BACKOFF_MS 1000    /* the first wait between passes, doubling */
#define K8S_DRAIN_BACKOFF_MAX_MS 10000

struct k8s_drain_opts {
	long timeout_s;          /* k8s_drain_node: stop after this long (0: K8S_DRAIN_TIMEOUT_S) */
	bool set_grace;          /* evict with grace_seconds; otherwise each pod's own grace period */
	long grace_seconds;
	size_t max_pods;         /* 0: K8S_DRAIN_MAX_PODS; more pods on the node is VIVA_ERANGE */
	/* The clock: monotonic milliseconds and a sleep; NULL: the real ones (tests inject theirs). */
	int64_t (*now_ms)(void *ud);
	void (*sleep_ms)(void *ud, long ms);
	void *clock_ud;
	/* k8s_drain_pass: evict nothing more once now_ms() reaches this (0: no limit); the
	 * pods not tried are in `untried`. k8s_drain_node sets it from timeout_s. */
	int64_t deadline_ms;
};

/*
 * What a drain did and what is left, as arrays of {namespace, name, ...}
 * (the struct's references; k8s_drain_init makes them empty).
 */
struct k8s_drain {
	json_t *evicted;         /* {namespace, name}: evicted (201) */
	json_t *warnings;        /* {namespace, name, message}: bare pods (no controller) evicted: nothing recreates them */
	json_t *blocked;         /* {namespace, name, pdb, message}: 429: a PodDisruptionBudget forbids it now
	                          * (pdb: the budget whose selector matches the pod; "" if none was found) */
	json_t *terminating;     /* {namespace, name}: evicted or deleted, still on the node */
	json_t *failed;          /* {namespace, name, message}: another refusal (more than one budget, 5xx...) */
	json_t *untried;         /* {namespace, name}: not tried before the deadline */
	json_t *skipped;         /* {namespace, name, why}: DaemonSet and mirror pods, which stay */
	bool done;               /* nothing is left on the node but skipped pods */
	int passes;
};

void k8s_drain_init(struct k8s_drain *d);
void k8s_drain_release(struct k8s_drain *d);

/*
 * One pass over the pods on node (all namespaces, fieldSelector
 * spec.nodeName): DaemonSet pods and mirror pods are skipped, pods already
 * terminating are waited for, every other pod is evicted once (bare pods
 * too, with a warning). *out (initialised here) says what this pass did;
 * out->done when nothing was left to go. A durable operation calls it
 * until done or its deadline. VIVA_OK when the pass ran, even if pods are
 * blocked; the list's error, or a cluster-wide one met while evicting
 * (unreachable, timed out, credentials refused: the pass stops there).
 */
int k8s_drain_pass(struct kube *k, const char *node, const struct k8s_drain_opts *o, struct k8s_drain *out);
/*
 * `node drain`: cordon, then passes with backoff (K8S_DRAIN_BACKOFF_MS
 * doubling up to K8S_DRAIN_BACKOFF_MAX_MS) until nothing is left or
 * timeout_s has passed (the last pass, started at the deadline, may run
 * K8S_DRAIN_BACKOFF_MAX_MS longer before it leaves pods untried). *out:
 * every pod evicted and warned about over all
 * passes; blocked, terminating, failed, untried and skipped as the last
 * pass left them. VIVA_OK when drained; VIVA_ETIMEOUT when pods remain at
 * the deadline (the message counts them and names the budgets that block);
 * otherwise the error that stopped it.
 */
int k8s_drain_node(struct kube *k, const char *node, const struct k8s_drain_opts *o, struct k8s_drain *out);

#endif
