#ifndef VIVA_BOT_CLIENTS_KUBE_H
#define VIVA_BOT_CLIENTS_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * The Kubernetes API, as handlers see it: a narrow interface (struct
 * kube_ops), so tests pass an in-process fake through the same struct, and
 * entry points on top of it that work the same for any client: GET, LIST
 * (label and field selectors, limit/continue paging), POST, PUT, PATCH
 * (JSON merge, strategic merge, JSON patch, server-side apply), DELETE
 * (propagationPolicy), the scale and eviction subresources, an update that
 * re-reads and retries on 409 Conflict, and the paging helper.
 *
 * The real client (kube_new) goes through bot/clients/http.h: timeouts on
 * every attempt and a deadline on every call, Retry-After on 429/503,
 * bounded retries with backoff on 500/502/504 for requests that are safe to
 * repeat (GET, LIST, PUT, DELETE, merge and strategic patches, apply; never
 * a POST or a JSON patch), a bulkhead, logs without tokens. Credentials
 * come from its struct kube_target (bot/clients/kubeconfig.h): a bearer
 * token, a token file re-read once a minute, an exec plugin's cached
 * credential (token or client certificate), or a client certificate. On a
 * 401 a token file is re-read and an exec plugin run again, once.
 *
 * Errors: every call returns 0 or a negative viva_err and leaves one line
 * for a person in kube_last_error() (per thread), the HTTP status in
 * kube_last_status() (0: no answer) and the API's Status reason
 * ("NotFound", "AlreadyExists", "Conflict", "Expired", ...) in
 * kube_last_reason(). The API's Status becomes one line:
 *   VIVA_ENOENT    404 `deployments.apps "svc-a-green" not found in namespace prod`
 *   VIVA_ECONFLICT 409 (Conflict, AlreadyExists: `... "x" already exists in namespace prod`), 410 Expired
 *   VIVA_EAUTH     401 "cluster prod refused viva's credentials (the token of user 'admin' in kubeconfig /p)",
 *                  403 the API's message ("... is forbidden: User ... cannot patch ...") and the cluster;
 *                  a credential plugin that failed
 *   VIVA_EINVAL    400, 422 (the API's message: what is invalid); a bad name, nothing sent
 *   VIVA_EBUSY     429 left after the retries (an eviction blocked by a PodDisruptionBudget: its cause)
 *   VIVA_EUNAVAIL  503, or no answer: "the Kubernetes API of cluster prod at https://h:6443 is not
 *                  reachable (connection refused)"
 *   VIVA_ETIMEOUT  no answer in time; 504
 *   VIVA_EREMOTE   another refusal, or an answer that is not JSON
 *   VIVA_ERANGE    an answer larger than its cap; a list with more items than asked for
 * Messages never hold a token, a key or a whole answer.
 */

struct kube_target;
struct viva_config;
struct kube_resolve_opts;

/* A kind of object: where its API lives. */
struct kube_resource {
	const char *group;           /* "" for the core group */
	const char *version;         /* "v1" */
	const char *resource;        /* plural, lower case: "deployments" */
	bool namespaced;
};

/* The resources viva uses. */
extern const struct kube_resource kube_namespaces;
extern const struct kube_resource kube_nodes;
extern const struct kube_resource kube_pods;
extern const struct kube_resource kube_services;
extern const struct kube_resource kube_secrets;
extern const struct kube_resource kube_configmaps;
extern const struct kube_resource kube_events;
extern const struct kube_resource kube_deployments;
extern const struct kube_resource kube_cronjobs;
extern const struct kube_resource kube_jobs;
extern const struct kube_resource kube_leases;
extern const struct kube_resource kube_pdbs;
extern const struct kube_resource kube_ssar;   /* selfsubjectaccessreviews */

/* A list across every namespace: kube_ref.ns = KUBE_ALL_NAMESPACES. */
#define KUBE_ALL_NAMESPACES ""

/* One object, or a collection. */
struct kube_ref {
	const struct kube_resource *res;
	const char *ns;              /* namespaced: NULL = the client's namespace; "" = all (lists) */
	const char *name;            /* NULL: the collection (list, create) */
	const char *sub;             /* a subresource: "scale", "status", "eviction"; NULL */
};

enum kube_patch {
	KUBE_PATCH_MERGE,            /* application/merge-patch+json (RFC 7386) */
	KUBE_PATCH_STRATEGIC,        /* application/strategic-merge-patch+json */
	KUBE_PATCH_JSON,             /* application/json-patch+json (RFC 6902): not retried on 5xx */
	KUBE_PATCH_APPLY,            /* application/apply-patch+yaml: server-side apply */
};

struct kube_list_opts {
	const char *label_selector;  /* "app=svc-a,viva/slot in (blue,green)" */
	const char *field_selector;  /* "spec.nodeName=kube-a-dc1-worker01" */
	long limit;                  /* items per page; 0: no limit */
	const char *continue_token;  /* the previous page's metadata.continue */
};

struct kube_write_opts {
	const char *field_manager;   /* NULL: "viva" (sent on every create, update and patch) */
	bool force;                  /* apply: take over fields other managers own */
	bool dry_run;                /* dryRun=All: checked and answered, not stored */
	const char *propagation;     /* delete: "Foreground", "Background", "Orphan"; NULL: the default */
	bool set_grace;              /* delete, evict: send grace_seconds */
	long grace_seconds;
};

struct kube;

/*
 * What a client does. Each operation is one request: *out (caller
 * decrefs; may be NULL to ignore it) is the API's answer. Failures set the
 * message (kube_fail, kube_status_error) and return a viva_err. ref is
 * checked by the entry points before an operation is called.
 */
struct kube_ops {
	int (*get)(struct kube *k, const struct kube_ref *ref, json_t **out);
	/* one page: the List object (items, metadata.continue) */
	int (*list)(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, json_t **out);
	int (*create)(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
		      json_t **out);
	int (*replace)(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
		       json_t **out);
	int (*patch)(struct kube *k, const struct kube_ref *ref, enum kube_patch type, json_t *patch,
		     const struct kube_write_opts *o, json_t **out);
	int (*del)(struct kube *k, const struct kube_ref *ref, const struct kube_write_opts *o, json_t **out);
	/* GET of an API path that is no object: /version, /apis */
	int (*get_path)(struct kube *k, const char *path, json_t **out);
	void (*free)(struct kube *k);
};

struct kube {
	const struct kube_ops *ops;
	const char *cluster;         /* the viva.yaml name: messages */
	const char *ns;              /* the default namespace */
	const char *creds;           /* how messages name the credentials (may be NULL) */
};

/* ---- the real client ---------------------------------------------------------------- */

/* Limits; a field <= 0 keeps its default (max_retries: 0 means none, < 0 default). */
struct kube_limits {
	long connect_timeout_ms;     /* 5000 */
	long timeout_ms;             /* one attempt: 30000 */
	long deadline_ms;            /* one call with every retry and wait: 60000 */
	int max_retries;             /* retries of a 5xx (and of a 429/503 by the HTTP layer): 3 */
	long backoff_ms;             /* first wait after a 5xx, doubling: 200 (at most 5 s) */
	long max_retry_after_ms;     /* a longer Retry-After is not waited for: 10000 */
	int max_callers;             /* requests to this cluster at once (a bulkhead): 8 */
	long exec_timeout_ms;        /* a credential plugin's run: 30000 */
	long exec_margin_s;          /* refresh a plugin's credential this long before it expires: 60 */
};

/*
 * A client for target t. The target moves into the client (*t is emptied,
 * even on failure). NULL with one line in err when its TLS settings cannot
 * be used or libcurl cannot start. Safe to use from many threads.
 */
struct kube *kube_new(struct kube_target *t, const struct kube_limits *lim, char *err, size_t errlen);
/* Any client: its free op (nothing for NULL or a fake without one). */
void kube_free(struct kube *k);

/* ---- clients per cluster, chosen per environment ------------------------------------------ */

struct kube_clients;

/*
 * One real client per cluster of viva.yaml (kube_target_resolve() for
 * each; lim and o may be NULL). VIVA_OK and *out (possibly with no
 * cluster), or the first cluster's error in err: a missing or wrong
 * setting stops start-up with one line.
 */
int kube_clients_new(const struct viva_config *cfg, const struct kube_resolve_opts *o,
		     const struct kube_limits *lim, struct kube_clients **out, char *err, size_t errlen);
/* An empty set, for tests to fill with fakes (kube_clients_add takes k). */
struct kube_clients *kube_clients_empty(void);
void kube_clients_add(struct kube_clients *s, const char *cluster, struct kube *k);
void kube_clients_free(struct kube_clients *s);
/* The client of a cluster (borrowed), or NULL. */
struct kube *kube_clients_get(struct kube_clients *s, const char *cluster);
/* The client and namespace (borrowed) of a viva.yaml environment.
 * VIVA_ENOENT for an environment viva.yaml does not name, VIVA_EUNAVAIL for
 * a cluster without a client; the message in kube_last_error(). */
int kube_for_env(struct kube_clients *s, const struct viva_config *cfg, const char *env, struct kube **k,
		 const char **ns);

/* ---- the entry points (any client) -------------------------------------------------------- */

int kube_get(struct kube *k, const struct kube_ref *ref, json_t **out);
/* One page of a list (ref->name NULL). */
int kube_list(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, json_t **out);
/*
 * Every item of a list, page after page (o->limit per page; 0: 500),
 * following metadata.continue: *items (caller decrefs) is one array. More
 * than max_items (0: 100000) is VIVA_ERANGE; a continue token that repeats
 * stops it. When a continue token has expired (410) the list is read again
 * whole, once, as kubectl's pager does.
 */
int kube_list_all(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, size_t max_items,
		  json_t **items);
int kube_create(struct kube *k, const struct kube_ref *ref, json_t *obj, json_t **out);
/* PUT: obj carries metadata.resourceVersion; a stale one is 409 Conflict. */
int kube_replace(struct kube *k, const struct kube_ref *ref, json_t *obj, json_t **out);
/* o may be NULL. */
int kube_patch(struct kube *k, const struct kube_ref *ref, enum kube_patch type, json_t *patch,
	       const struct kube_write_opts *o, json_t **out);
/*
 * Server-side apply of obj (its apiVersion, kind and metadata.name set)
 * with fieldManager=viva; o NULL also forces (viva owns what it renders). A
 * forced apply that meets 409 is sent again, at most three times.
 */
int kube_apply(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
	       json_t **out);
/* o may be NULL (the server's default propagation). */
int kube_delete(struct kube *k, const struct kube_ref *ref, const struct kube_write_opts *o, json_t **out);

/*
 * Read, change, write back, and on 409 Conflict start over from a fresh
 * read, at most KUBE_CONFLICT_TRIES times. mutate changes obj in place and
 * returns VIVA_OK to write it, KUBE_UNCHANGED to write nothing (*out is
 * then the object read), or a negative viva_err to stop (its own message
 * through kube_fail, else a generic one).
 */
#define KUBE_CONFLICT_TRIES 5
#define KUBE_UNCHANGED      1
typedef int (*kube_mutate_fn)(json_t *obj, void *ud);
int kube_update(struct kube *k, const struct kube_ref *ref, kube_mutate_fn mutate, void *ud, json_t **out);

/* The scale subresource of a Deployment (or anything scalable): spec.replicas. */
int kube_get_scale(struct kube *k, const struct kube_ref *ref, long *replicas);
int kube_scale(struct kube *k, const struct kube_ref *ref, long replicas, json_t **out);

/*
 * Evict a pod through the Eviction API (policy/v1). A PodDisruptionBudget
 * that forbids it now is VIVA_EBUSY at once (no retry here: the drain
 * backs off), with the budget's own words; a pod already gone VIVA_ENOENT.
 * grace_seconds < 0: the pod's own.
 */
int kube_evict(struct kube *k, const char *ns, const char *pod, long grace_seconds);

/* GET /version: *out is the server's {major, minor, gitVersion, ...}. */
int kube_version(struct kube *k, json_t **out);

/* ---- errors ------------------------------------------------------------------------------ */

const char *kube_last_error(void);
long kube_last_status(void);
const char *kube_last_reason(void);
void kube_clear_error(void);
/* For clients and fakes: set the message (one line), status and reason; returns rc. */
int kube_fail(int rc, long status, const char *reason, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * For clients and fakes: the error of an API answer (status, its body) to
 * `verb` on ref, as the table above says; returns the viva_err.
 */
int kube_status_error(const struct kube *k, const struct kube_ref *ref, const char *verb, long status,
		      const char *body, size_t len);

/* How messages name a resource ("deployments.apps", "pods") into buf. */
const char *kube_resource_name(const struct kube_resource *res, char *buf, size_t n);
/*
 * The API path of ref for client k ("/apis/apps/v1/namespaces/prod/deployments/svc-a/scale";
 * caller frees), or NULL with the message set (VIVA_EINVAL) for a name,
 * namespace or resource that cannot be one.
 */
char *kube_path(const struct kube *k, const struct kube_ref *ref);

#endif
