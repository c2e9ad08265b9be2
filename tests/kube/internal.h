#ifndef VIVA_TESTS_KUBE_INTERNAL_H
#define VIVA_TESTS_KUBE_INTERNAL_H

/*
 * What the files of the fake Kubernetes API server share (tests/kube/):
 *   server.c    sockets, TLS, HTTP/1.1, authentication, faults, the request log
 *   pki.c       the fake's CA, its server certificate, client certificates
 *   api.c       the REST semantics: routes, verbs, create/update/patch/delete,
 *               subresources, list and watch
 *   resources.c the resource table, discovery documents, /version
 *   store.c     objects, resourceVersion, uid, selectors, paging, the event log
 *   schema.c    known fields per kind, list merge keys, defaults, validation
 *   patch.c     JSON merge patch, JSON patch, strategic merge patch
 *   apply.c     server-side apply and managedFields
 *   rollout.c   the controllers: Deployment -> ReplicaSet -> Pods, garbage
 *               collection, namespace termination, eviction
 *   yaml.c      YAML bodies (apply-patch+yaml) to JSON
 * Everything that touches the objects runs under k->mu.
 */
#include "tests/kube/fake_kube.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- resources (resources.c) ----------------------------------------------- */

enum {
	KR_CREATE_ON_UPDATE = 1u << 0,   /* PUT of a missing object creates it */
	KR_UNCOND_UPDATE = 1u << 1,      /* PUT without resourceVersion allowed */
	KR_GENERATION = 1u << 2,         /* metadata.generation tracks spec changes */
	KR_STATUS = 1u << 3,             /* has a status subresource (main writes keep status) */
	KR_SCALE = 1u << 4,              /* has a scale subresource */
	KR_NO_STORE = 1u << 5,           /* create-only virtual resource (reviews) */
	KR_GEN_ANNOTATIONS = 1u << 6,    /* annotation changes bump generation (Deployments) */
};

struct kr {
	const char *group;        /* "" for the core group */
	const char *version;
	const char *resource;     /* plural */
	const char *singular;
	const char *kind;
	bool namespaced;
	const char *short_names;  /* space separated, may be "" */
	const char *verbs;        /* space separated */
	const char *categories;   /* "all" or "" */
	unsigned flags;
	/* field selectors beyond metadata.name/namespace (space separated);
	 * NULL: only those two, with the "is not a known field selector" error */
	const char *fields;
};

const struct kr *kr_find(const char *group, const char *version, const char *resource);
/* "deployments", "deployments.apps", "deploy", "Deployment": for the C API */
const struct kr *kr_lookup(const char *name);
const struct kr *kr_by_kind(const char *api_version, const char *kind);
const struct kr *kr_at(size_t i);     /* NULL past the end */
/* "deployments.apps" / "pods" */
void kr_qualified(const struct kr *r, char *out, size_t n);
/* "apps/v1" / "v1" */
void kr_api_version(const struct kr *r, char *out, size_t n);
bool kr_has_verb(const struct kr *r, const char *verb);

/* Discovery: NULL when path is not a discovery path. *ctype is static. */
json_t *kr_discovery(const char *path, const char *accept, const char **ctype, int *code);

/* ---- objects (store.c) ------------------------------------------------------ */

struct kf_event {
	uint64_t rv;
	char type[10];            /* ADDED MODIFIED DELETED */
	const struct kr *r;
	json_t *obj;              /* reference */
	json_t *prev;             /* MODIFIED: the object before (reference), else NULL */
};

struct kf_store {
	json_t *objs;             /* "group/resource" -> { "ns/name" -> object } */
	uint64_t rv;              /* the last resourceVersion handed out */
	uint64_t writes;          /* committed changes */
	struct kf_event *events;  /* ring, for watch */
	size_t ev_cap, ev_head, ev_len;
	uint64_t uid_seq;
};

void store_init(struct kf_store *s);
void store_release(struct kf_store *s);
/* borrowed, or NULL */
json_t *store_get(struct kf_store *s, const struct kr *r, const char *ns, const char *name);
/* Put obj (stolen) with a fresh resourceVersion; returns it (borrowed). */
json_t *store_put(struct kf_store *s, const struct kr *r, json_t *obj, bool created);
void store_remove(struct kf_store *s, const struct kr *r, const char *ns, const char *name);
/* All objects of r in ns (NULL/"" all), sorted by key: a new array of borrowed refs (incref'd). */
json_t *store_all(struct kf_store *s, const struct kr *r, const char *ns);
char *store_new_uid(struct kf_store *s);

/* label selectors (store.c). NULL error: ok; else a message (caller frees) */
struct kf_sel;
struct kf_sel *sel_parse(const char *text, char **err);
bool sel_match(const struct kf_sel *s, json_t *labels);
/* A LabelSelector object ({matchLabels, matchExpressions}) against labels. */
bool labelselector_match(json_t *sel, json_t *labels, bool empty_matches_all);
void sel_free(struct kf_sel *s);
/* field selectors: "a=b,c!=d" against the object */
struct kf_fsel;
struct kf_fsel *fsel_parse(const struct kr *r, const char *text, char **err);
bool fsel_match(const struct kf_fsel *f, json_t *obj);
void fsel_free(struct kf_fsel *f);

/* ---- time ------------------------------------------------------------------------- */

int64_t kf_now(struct fake_kube *k);            /* the fake clock, unix seconds */
void kf_rfc3339(int64_t t, char out[32]);
int64_t kf_parse_time(const char *s);           /* -1 when not RFC 3339 */

/* ---- Status objects (api.c) ---------------------------------------------------- */

/* A v1 Status; details may be NULL (stolen). */
json_t *kf_status(int code, const char *reason, const char *message, json_t *details);
json_t *kf_status_f(int code, const char *reason, json_t *details, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
json_t *kf_not_found(const struct kr *r, const char *name);
json_t *kf_conflict(const struct kr *r, const char *name, const char *why);
json_t *kf_bad_request(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kf_status_code(json_t *status);

/*
 * Field errors, as k8s.io/apimachinery's field.ErrorList prints them:
 * ferr_add(e, "FieldValueRequired", "spec.selector", "Required value").
 */
struct kf_errs {
	json_t *causes;           /* [{reason, message, field}] */
	json_t *msgs;             /* ["spec.selector: Required value", ...] */
};
void ferr_init(struct kf_errs *e);
void ferr_release(struct kf_errs *e);
void ferr_add(struct kf_errs *e, const char *type, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
size_t ferr_count(const struct kf_errs *e);
/* 422 Invalid: `Kind.group "name" is invalid: [a, b]`; releases e. */
json_t *kf_invalid(const char *group, const char *kind, const char *name, struct kf_errs *e);
/* Go's %q of s (the common cases: quotes, backslashes, control bytes). Caller frees. */
char *go_quote(const char *s);

/* ---- schema, defaults, validation (schema.c) ---------------------------------------- */

struct kf_schema;
void schema_init(void);
/* The schema node of a kind's root ("Deployment"), or NULL (open). */
const struct kf_schema *schema_for(const struct kr *r);
const struct kf_schema *schema_named(const char *go_name);   /* "Scale" */
/* The child schema of a field / a list's items; NULL when open. */
const struct kf_schema *schema_field(const struct kf_schema *s, const char *name);
const struct kf_schema *schema_items(const struct kf_schema *s);
/* List semantics: 0 atomic (or not a list), 1 keyed map (keys set), 2 set of scalars */
int schema_list_type(const struct kf_schema *s, const char *const **keys);
bool schema_is_map(const struct kf_schema *s);   /* string map (labels) */
/*
 * Unknown fields of obj: appended to `unknown` as "spec.foo" paths (strict
 * decoding's words), and removed from obj when prune.
 */
void schema_unknown(const struct kf_schema *s, json_t *obj, const char *path, json_t *unknown, bool prune);
/*
 * The first value of the wrong JSON type, in the words of Go's decoder
 * ("json: cannot unmarshal string into Go struct field
 * DeploymentSpec.spec.replicas of type int32"); NULL when all fit. Caller frees.
 */
char *schema_type_error(const struct kf_schema *s, json_t *obj);
/* The Go type name of an object schema ("DeploymentSpec"), or NULL. */
const char *schema_go_name(const struct kf_schema *s);
/* Defaults the real API server fills in (on create: old NULL; and update). */
void schema_default(struct fake_kube *k, const struct kr *r, json_t *obj, json_t *old);
/* Validation: NULL or a 422 Invalid Status (or 400). old is NULL on create. */
json_t *schema_validate(struct fake_kube *k, const struct kr *r, json_t *obj, json_t *old);
/* "a lowercase RFC 1123 ..." checks */
bool is_dns_subdomain(const char *s);
bool is_dns_label(const char *s);

/* ---- patches (patch.c) ------------------------------------------------------------- */

/* RFC 7386; returns a new value. */
json_t *merge_patch(json_t *target, json_t *patch);
/* RFC 6902 on a copy of doc; NULL + *err (caller frees) on failure, *code 400 or 422 */
json_t *json_patch(json_t *doc, json_t *ops, char **err, int *code);
/* strategic merge patch on a copy of doc; NULL + *err on failure */
json_t *strategic_merge(const struct kf_schema *s, json_t *doc, json_t *patch, char **err);

/* ---- server-side apply and managed fields (apply.c) ----------------------------------- */

/*
 * Apply `cfg` as manager onto `live` (NULL when absent). Returns the new
 * object (new reference) or NULL with *status set (a 409 on conflicts
 * unless force, 400/422 on a bad configuration).
 */
json_t *ssa_apply(struct fake_kube *k, const struct kr *r, json_t *live, json_t *cfg, const char *manager,
		  bool force, const char *subresource, json_t **status);
/* After a non-apply write: give `manager` the fields that changed (operation Update). */
void ssa_update(struct fake_kube *k, const struct kr *r, json_t *old, json_t *obj, const char *manager,
		const char *subresource);
/* Equal but for managedFields' timestamps: nothing changed. */
bool obj_equal_ignoring_mf_time(json_t *a, json_t *b);

/* ---- YAML (yaml.c) --------------------------------------------------------------------- */

/* YAML 1.2 core schema text to JSON; NULL + *err (caller frees). */
json_t *kf_yaml_to_json(const char *text, size_t len, char **err);

/* ---- controllers (rollout.c) ------------------------------------------------------------- */

/* One round of every controller; returns how many objects it changed. */
int rollout_step(struct fake_kube *k);
/* The eviction subresource: NULL or a Status. */
json_t *rollout_evict(struct fake_kube *k, const char *ns, const char *name, json_t *body, int *code);
bool rollout_image_never_ready(struct fake_kube *k, const char *image);
/* Store nw (stolen) over old as a controller's write (manager, subresource); 1 when it changed something. */
int rollout_save_as(struct fake_kube *k, const struct kr *r, json_t *old, json_t *nw, const char *manager,
		    const char *subresource);

/* ---- bootstrap tokens (bootstrap.c) ------------------------------------------------------- */

/*
 * The bootstrap token authenticator: a bearer token "id.secret" matching a
 * valid Secret kube-system/bootstrap-token-<id> authenticates as
 * system:bootstrap:<id>. *user and *groups ("a,b": system:bootstrappers and
 * the extra groups, sorted) are the caller's. With k->mu held.
 */
bool bootstrap_authenticate(struct fake_kube *k, const char *token, char **user, char **groups);
/* The token cleaner and the bootstrap signer, one round; returns the changes. With k->mu held. */
int bootstrap_step(struct fake_kube *k);

/* ---- requests (api.c) ----------------------------------------------------------------- */

struct kf_query {
	char *k[64];
	char *v[64];
	int n;
};
const char *q_get(const struct kf_query *q, const char *key);

struct kf_req {
	char method[12];
	char *path;               /* decoded path without the query */
	char *raw_target;
	struct kf_query q;
	char *content_type;
	char *accept;
	char *user_agent;
	char *user;               /* authenticated user, or "system:anonymous" */
	char *groups;             /* its groups ("a,b"), NULL: system:masters */
	char *body;
	size_t body_len;
};

struct kf_resp {
	int code;
	json_t *body;             /* JSON answer, or NULL with raw */
	char *raw;
	const char *ctype;        /* static; default application/json */
	json_t *warnings;         /* array of strings or NULL */
	/* a watch: the server streams events after the head */
	bool watch;
	const struct kr *watch_r;
	char *watch_ns;
	struct kf_sel *watch_sel;
	struct kf_fsel *watch_fsel;
	uint64_t watch_rv;
	int watch_timeout_s;
	char *watch_name;
	/* for the request log */
	char verb[20];
	char resource[64];
	char subresource[32];
	char ns[256];
	char name[256];
};

void kf_resp_release(struct kf_resp *r);
/* Handle one request (not watch streaming) under k->mu. */
void api_handle(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp);
/* Only name the request's verb, resource, namespace and name (a fault answers it). */
void api_classify(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp);
/* Events for a watch after rv, each already serialized: a new array of
 * JSON strings; *rv advanced. With k->mu held. */
json_t *api_watch_events(struct fake_kube *k, struct kf_resp *w, uint64_t *rv);

/* ---- PKI (pki.c) ------------------------------------------------------------------------ */

/* A CA and a server certificate for 127.0.0.1/localhost, as PEM files in dir. */
int pki_init(const char *dir, char **ca_cert, char **ca_key, char **srv_cert, char **srv_key);
/* A client certificate signed by the CA (CN=user, O=group each). */
int pki_client(const char *ca_cert, const char *ca_key, const char *cn, const char *const *orgs,
	       const char *cert_path, const char *key_path, int days);
/* A self-signed CA certificate (PEM, caller frees; its key is thrown away): EC P-256, or RSA 2048. */
char *pki_throwaway_ca(const char *cn, bool rsa);

/* ---- the fake ------------------------------------------------------------------------------- */

struct kf_fault {
	char method[12];
	char *glob;
	enum fake_kube_fault kind;
	int left;
	int ms;
};

struct kf_token {
	char *token;
	char *user;
};

struct fake_kube {
	pthread_mutex_t mu;
	struct fake_kube_opts o;
	char *dir;
	bool own_dir;
	char url[64];
	int port;
	int listen_fd;
	void *ssl_ctx;            /* SSL_CTX * */
	char *ca_cert, *ca_key, *srv_cert, *srv_key;
	char *kubeconfig;
	pthread_t accept_th, tick_th;
	bool tick_started;
	atomic_bool stop;
	atomic_int active;        /* connection threads */

	struct kf_token *tokens;
	size_t ntokens;

	struct kf_store st;
	int64_t clock_offset;     /* added to the real clock */
	int64_t fixed_now;        /* when non-zero: the fake clock stands still here */

	json_t *never_ready;      /* {image: true} */
	json_t *denied;           /* ["verb resource", ...] for SelfSubjectAccessReview */
	struct kf_fault *faults;
	size_t nfaults;

	json_t *log;              /* the request log (capped) */
	json_t *counts;           /* "verb" -> n, "verb resource" -> n */
	uint64_t log_dropped;
	uint64_t pod_seq;         /* pod-name suffixes */
	uint64_t ip_seq;          /* clusterIPs and pod IPs */
};

#define KF_LOG_CAP 100000

#endif
