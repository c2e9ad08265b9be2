#ifndef VIVA_BOT_CLIENTS_KUBECONFIG_H
#define VIVA_BOT_CLIENTS_KUBECONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct viva_config;
struct config_cluster;

/*
 * Where a Kubernetes cluster is and how viva proves who it is, resolved and
 * checked before the first request (SPEC §2: `clusters` in viva.yaml,
 * KUBECONFIG, KUBE_API_URL + KUBE_TOKEN + KUBE_CA_FILE, the in-cluster
 * service account). bot/clients/kube.h builds a client from a target.
 *
 * Three sources:
 *  - a kubeconfig (kubectl's file): the context named in viva.yaml, else
 *    its current-context; that context's cluster (server,
 *    certificate-authority[-data], insecure-skip-tls-verify), user (token,
 *    tokenFile, client-certificate[-data] + client-key[-data], or an exec
 *    credential plugin) and namespace. Relative paths in it resolve against
 *    the directory of the file that holds them, a leading "~/" against
 *    $HOME. A KUBECONFIG-style list ("a:b") is merged as kubectl does: the
 *    first file that names a cluster, context or user wins, and the first
 *    current-context set wins; files of a list that do not exist are
 *    skipped.
 *  - the in-cluster service account: `token`, `ca.crt` and `namespace` in
 *    the service-account directory (KUBE_SA_DIR by default; a parameter so
 *    that tests use a temporary directory), with KUBERNETES_SERVICE_HOST
 *    and KUBERNETES_SERVICE_PORT.
 *  - KUBE_API_URL, KUBE_TOKEN, KUBE_CA_FILE.
 *
 * Checked here, each error one line naming the cluster and the field: a
 * kubeconfig's YAML, the context, cluster and user it refers to, required
 * fields, base64 (OpenSSL's decoder) and PEM (a certificate for a CA or a
 * client certificate, a private key for a key, and that the key belongs to
 * the certificate), readable files, tokens fit for a header, the exec
 * plugin's spec. Files are read with bot/lib/fileio.h (regular files only,
 * size caps). Errors never hold a token, a key or a base64 value:
 *   "cluster prod: kubeconfig /home/u/.kube/config:23: users[1].user.client-key-data: not valid base64"
 *   "cluster prod: context 'prod' not found in kubeconfig /home/u/.kube/config (it has: dev, staging)"
 *
 * Refused with a reason rather than ignored (a silently ignored setting
 * would fail later in a way that names nothing): cluster proxy-url and
 * tls-server-name, user auth-provider, username/password and impersonation
 * (as, as-groups, as-uid).
 */

/* The default service-account directory of a pod. */
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* The ExecCredential API versions viva speaks to a plugin. */
#define KUBE_EXEC_V1      "client.authentication.k8s.io/v1"
#define KUBE_EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"

/* An exec credential plugin (users[].user.exec). */
struct kube_exec_spec {
	char *api_version;        /* KUBE_EXEC_V1 or KUBE_EXEC_V1BETA1 */
	char *command;            /* a path (made absolute) or a name looked up in PATH */
	char **args;              /* NULL-terminated (never NULL) */
	char **env;               /* NULL-terminated "NAME=value" (never NULL): added to viva's */
	char *install_hint;       /* may be NULL */
	bool provide_cluster_info;
	json_t *cluster_config;   /* the cluster's extension client.authentication.k8s.io/exec, or NULL */
};

/* A resolved target. Strings are owned; NULL when not set. */
struct kube_target {
	char *cluster;            /* the viva.yaml cluster name: messages and logs */
	char *source;             /* "kubeconfig /p (context prod)", "KUBE_API_URL", "the in-cluster service account" */
	char *server;             /* http(s)://host[:port][/prefix], no trailing '/' */
	char *namespace_;         /* the default namespace (never NULL once resolved: "default") */
	char *context;            /* the kubeconfig context used, or NULL */
	/* TLS; PEM text wins over a file. Files are passed to libcurl by name,
	 * so a rotated file is read at the next connection. */
	char *ca_file;
	char *ca_pem;
	bool insecure;
	char *cert_file;
	char *cert_pem;
	char *key_file;
	char *key_pem;            /* secret */
	/* credentials: token_file wins over token (a token that cannot be read
	 * falls back to token); exec alone */
	char *token;              /* secret */
	char *token_file;         /* re-read once a minute: projected tokens rotate */
	struct kube_exec_spec *exec;
	/* how messages name the credentials and the CA:
	 * "the token of user 'admin' in kubeconfig /p", "KUBE_TOKEN" */
	char *auth_source;
	char *ca_hint;            /* "set certificate-authority in kubeconfig /p" */
};

void kube_target_release(struct kube_target *t);
void kube_exec_spec_free(struct kube_exec_spec *e);

/*
 * Resolve cluster `cluster` (the viva.yaml name, for messages) from the
 * kubeconfig at paths (one file, or a ':' list), with context `context`
 * (NULL or "": the current-context). VIVA_OK and *out filled (release with
 * kube_target_release), or an error with one line in err and *out empty:
 *   VIVA_ENOENT  the file (or every file of a list) does not exist, the
 *                context, or the cluster or user it names, is not there
 *   VIVA_EPARSE  not YAML, or not a kubeconfig (its shape)
 *   VIVA_EINVAL  a field is missing or wrong (named)
 *   VIVA_EIO     a file cannot be read
 */
int kubeconfig_load(const char *paths, const char *context, const char *cluster, struct kube_target *out,
		    char *err, size_t errlen);

/* The in-cluster service account: sa_dir (NULL: KUBE_SA_DIR) holds a token
 * and ca.crt (namespace optional: "default"); KUBERNETES_SERVICE_HOST and
 * _PORT name the server. kube_in_cluster() says whether a pod's setting is
 * there at all (the variables and the token file). */
bool kube_in_cluster(const char *sa_dir);
int kube_target_in_cluster(const char *sa_dir, const char *cluster, struct kube_target *out, char *err,
			   size_t errlen);

/* KUBE_API_URL (required), KUBE_TOKEN (NULL or "": no token), KUBE_CA_FILE
 * (NULL or "": the system's CAs). */
int kube_target_from_env(const char *url, const char *token, const char *ca_file, const char *cluster,
			 struct kube_target *out, char *err, size_t errlen);

/*
 * The target of a viva.yaml cluster, choosing the source:
 *   1. clusters.NAME.kubeconfig: that file, with clusters.NAME.context;
 *   2. clusters.NAME.context alone: KUBECONFIG (else ~/.kube/config) with it;
 *   3. KUBE_API_URL (+ KUBE_TOKEN, KUBE_CA_FILE);
 *   4. KUBECONFIG, its current-context;
 *   5. the in-cluster service account, when the pod's setting is there;
 *   6. ~/.kube/config, when it exists;
 * else VIVA_ENOENT with what to set. The variables are read from cfg (the
 * environment and .env as config_load() merged them), the pod's
 * KUBERNETES_SERVICE_* from the environment.
 */
struct kube_resolve_opts {
	const char *sa_dir;       /* NULL: $VIVA_KUBE_SA_DIR, else KUBE_SA_DIR */
	const char *home;         /* NULL: $HOME (for ~/.kube/config) */
};
int kube_target_resolve(const struct viva_config *cfg, const struct config_cluster *cl,
			const struct kube_resolve_opts *o, struct kube_target *out, char *err, size_t errlen);

/*
 * Helpers shared with the exec plugin code (OpenSSL underneath, never a
 * hand-rolled codec). kube_base64_decode: standard base64, whitespace and
 * line breaks ignored; *out (caller frees, NUL-terminated, *len without
 * the NUL). kube_base64_encode: one line, caller frees. kube_pem_check: NULL
 * when pem (len bytes) holds what `what` asks for, else a short reason.
 */
int kube_base64_decode(const char *in, unsigned char **out, size_t *len);
char *kube_base64_encode(const unsigned char *in, size_t len);
enum kube_pem_kind { KUBE_PEM_CA, KUBE_PEM_CERT, KUBE_PEM_KEY };
const char *kube_pem_check(const char *pem, size_t len, enum kube_pem_kind what);
/* A token fit for an Authorization header: visible ASCII, no blanks, not empty. */
bool kube_token_ok(const char *s);
/* NULL when the private key belongs to the certificate (both PEM), else a reason. */
const char *kube_pem_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len);

#endif
