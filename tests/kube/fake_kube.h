#ifndef VIVA_TESTS_KUBE_FAKE_KUBE_H
#define VIVA_TESTS_KUBE_FAKE_KUBE_H

/*
 * A fake Kubernetes API server, in-process for cmocka tests or as the
 * standalone tests/fake_kube, that the real kubectl (1.32) can drive.
 * tests/kube/README.md says what it implements and what it does not.
 *
 * Listens on 127.0.0.1 only (an ephemeral port unless opts.port), plain
 * HTTP or TLS with a CA of its own. Objects live in memory. Requests are
 * served on threads of the fake; the controllers (the rollout simulator)
 * run on fake_kube_step() or every opts.tick_ms.
 *
 * Every function is thread-safe. Strings returned as `const char *` belong
 * to the fake and live until fake_kube_stop(); json_t * returned are new
 * references the caller decrefs.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct fake_kube;

struct fake_kube_opts {
	bool tls;                 /* https, with its own CA (fake_kube_ca_file) */
	const char *token;        /* a bearer token accepted (user "token-user"); NULL: none */
	/* Accept client certificates signed by the fake's CA (TLS only): the
	 * user is the certificate's CN. A certificate from another CA fails
	 * the handshake, as on a real API server. */
	bool client_cert;
	/* With neither token nor client_cert every request is anonymous and
	 * allowed. With either, a request without valid credentials gets 401. */
	const char *dir;          /* ca.crt, kubeconfig...; NULL: a fresh /tmp/viva-kube-XXXXXX, removed at stop */
	int port;                 /* 0: ephemeral */
	int tick_ms;              /* > 0: the controllers run every tick_ms on a thread of the fake */
	bool control;             /* serve the /_fake/ control API (no auth): see tests/kube/README.md */
	int64_t start_time;       /* the fake clock's start (unix s); 0: the real clock */
	bool verbose;             /* one line per request on stderr */
	/* Default: the namespaces default, kube-system, kube-public and
	 * kube-node-lease exist, and with TLS the ConfigMap
	 * kube-public/cluster-info holds a kubeconfig with the fake's CA and
	 * URL, as kubeadm publishes it. */
	bool no_default_namespaces;
};

/* NULL on failure (a line on stderr says why). */
struct fake_kube *fake_kube_start(const struct fake_kube_opts *o);
/* Stop listening, end every connection (bounded), free; NULL is fine. */
void fake_kube_stop(struct fake_kube *k);

const char *fake_kube_url(const struct fake_kube *k);        /* "https://127.0.0.1:PORT" */
int fake_kube_port(const struct fake_kube *k);
const char *fake_kube_dir(const struct fake_kube *k);
const char *fake_kube_ca_file(const struct fake_kube *k);    /* PEM; NULL without TLS */
const char *fake_kube_ca_key_file(const struct fake_kube *k);
/*
 * A kubeconfig written at start (context "fake", namespace default): the
 * token user when opts.token, else a client certificate (CN "cert-user",
 * O "system:masters") when opts.client_cert, else no credentials.
 */
const char *fake_kube_kubeconfig(const struct fake_kube *k);
/* Issue a client certificate signed by the fake's CA, valid `days` days
 * (negative: already expired). 0 or -1. */
int fake_kube_client_cert(struct fake_kube *k, const char *cn, const char *org, const char *cert_path,
			  const char *key_path, int days);
/* More bearer tokens (exec plugins rotate them), or take one back. */
void fake_kube_add_token(struct fake_kube *k, const char *token, const char *user);
void fake_kube_remove_token(struct fake_kube *k, const char *token);

/* ---- objects ---------------------------------------------------------------------- */

/*
 * Create objects as a POST would (defaults, uid, resourceVersion, generation,
 * managedFields for manager "fake-seed"), bypassing authentication, faults
 * and the request counters. text is JSON or YAML: one object, a List, or
 * several YAML documents. Returns 0, or the HTTP code of the first failure
 * (its Status message on stderr).
 */
int fake_kube_seed(struct fake_kube *k, const char *text);
/* resource: "deployments", "deployments.apps", "deploy" or a Kind; ns NULL for cluster-scoped. */
json_t *fake_kube_get(struct fake_kube *k, const char *resource, const char *ns, const char *name);
/* All objects (an array), ns NULL: every namespace; selector NULL: all. */
json_t *fake_kube_list(struct fake_kube *k, const char *resource, const char *ns, const char *label_selector);
/* Remove at once (no finalizers, no garbage collection); 0 or -1 when absent. */
int fake_kube_remove(struct fake_kube *k, const char *resource, const char *ns, const char *name);
/* Replace an object's status (as the status subresource would). 0 or -1. */
int fake_kube_set_status(struct fake_kube *k, const char *resource, const char *ns, const char *name,
			 json_t *status);
/*
 * ConfigMap kube-public/cluster-info as kubeadm init publishes it (a
 * kubeconfig: the server's URL, certificate-authority-data), its CA bundle
 * being the fake's CA (with TLS) followed by extra_cas (at most 8)
 * throwaway CAs made here (EC P-256 and RSA 2048 in turn), as a cluster
 * in the middle of a CA rotation has. The bundle (PEM) is also written to
 * bundle_path unless NULL. Replaces what was there. 0 or -1.
 */
int fake_kube_seed_cluster_info(struct fake_kube *k, int extra_cas, const char *bundle_path);
/* The current resourceVersion of the whole store. */
uint64_t fake_kube_resource_version(struct fake_kube *k);

/* ---- what was asked ------------------------------------------------------------------ */

/*
 * Requests counted by Kubernetes verb (get list watch create update patch
 * delete deletecollection) and resource ("deployments", subresources as
 * "deployments/scale"); NULL matches any. Discovery and other non-resource
 * requests are not counted here (they are in the log).
 */
int fake_kube_count(struct fake_kube *k, const char *verb, const char *resource);
/* Requests with a verb that writes (create update patch delete deletecollection). */
int fake_kube_count_writes(struct fake_kube *k);
/* Changes committed to the store (a no-op apply commits none), by anyone. */
uint64_t fake_kube_store_writes(struct fake_kube *k);
/* The request log: [{method, path, query, verb, resource, subresource,
 * namespace, name, code, user, content_type, fault}] (new reference). */
json_t *fake_kube_requests(struct fake_kube *k);
void fake_kube_reset_counts(struct fake_kube *k);

/* ---- faults ----------------------------------------------------------------------------- */

enum fake_kube_fault {
	FK_FAULT_500,       /* 500 InternalError Status */
	FK_FAULT_409,       /* 409 Conflict Status (the optimistic-lock message) */
	FK_FAULT_429,       /* 429 TooManyRequests, Retry-After: ms/1000 (at least 1) */
	FK_FAULT_503,       /* 503 ServiceUnavailable */
	FK_FAULT_HANG,      /* read the request, answer nothing for ms, then close */
	FK_FAULT_SLOW,      /* wait ms, then answer normally */
	FK_FAULT_CLOSE,     /* close the connection without an answer */
};

/*
 * The next `times` requests whose method matches (NULL or "" any) and whose
 * path (without the query) matches path_glob (fnmatch(3), e.g.
 * "/apis/apps/v1/namespaces/NS/deployments/NAME" with * for NS and NAME)
 * get the fault. Faults are checked after authentication. Returns 0.
 */
int fake_kube_fault(struct fake_kube *k, const char *method, const char *path_glob, enum fake_kube_fault kind,
		    int times, int ms);
void fake_kube_clear_faults(struct fake_kube *k);

/* SelfSubjectAccessReview answers allowed=false for this verb on this
 * resource ("deployments", "deployments/scale"; group ignored). */
void fake_kube_deny(struct fake_kube *k, const char *verb, const char *resource);

/* ---- the rollout simulator ------------------------------------------------------------------ */

/* Pods of this image (exact string) start but never become ready. */
void fake_kube_never_ready(struct fake_kube *k, const char *image, bool on);
/* Run every controller n rounds; returns the changes made. */
int fake_kube_step(struct fake_kube *k, int n);
/* Run rounds until nothing changes (at most max_rounds); returns the rounds run. */
int fake_kube_settle(struct fake_kube *k, int max_rounds);
/* Move the fake clock forward (progress deadlines, minReadySeconds, lease times). */
void fake_kube_advance(struct fake_kube *k, int64_t seconds);
int64_t fake_kube_now(struct fake_kube *k);

#endif
