#ifndef VIVA_BOT_CLIENTS_KUBE_EXEC_H
#define VIVA_BOT_CLIENTS_KUBE_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "bot/clients/kubeconfig.h"

/*
 * Exec credential plugins (client.authentication.k8s.io ExecCredential,
 * v1 and v1beta1), as EKS (`aws eks get-token`), GKE
 * (gke-gcloud-auth-plugin) and AKS (kubelogin) use them.
 *
 * kube_exec_run() runs the plugin once: its command with its args, viva's
 * environment plus the plugin's env entries and KUBERNETES_EXEC_INFO (an
 * ExecCredential with spec.interactive false, and spec.cluster when the
 * kubeconfig asks for provideClusterInfo), stdin from /dev/null, in a
 * process group of its own, signals reset. It is given timeout_ms to
 * finish; then the whole group is killed. At most max_output bytes of
 * standard output are read (more: killed, refused). Its answer must be an
 * ExecCredential of the configured apiVersion with status.token, or
 * status.clientCertificateData + clientKeyData (PEM, checked, the key
 * matching the certificate), and optionally status.expirationTimestamp.
 *
 * Nothing the plugin prints on standard output reaches a log or a message
 * (it holds the token). A failure is one line naming the cluster and the
 * plugin, with the plugin's last line on standard error when it exited
 * non-zero (what `aws` or `gcloud` says went wrong), e.g.
 *   "cluster prod: the credential plugin 'aws' failed (exit status 255): Unable to locate credentials"
 *   "cluster prod: the credential plugin 'slow' did not finish within 30 s"
 *   "cluster prod: the credential plugin 'x' printed something that is not an ExecCredential (JSON expected)"
 *   "cluster prod: the credential plugin 'aws' was not found in PATH (install the AWS CLI)"
 */

struct kube_exec_cred {
	char *token;              /* secret; NULL with a client certificate */
	char *cert_pem;
	char *key_pem;            /* secret */
	int64_t expires;          /* unix seconds; 0: no expiry given (kept until refused) */
};
void kube_exec_cred_release(struct kube_exec_cred *c);

#define KUBE_EXEC_TIMEOUT_MS  30000L
#define KUBE_EXEC_MAX_OUTPUT  ((size_t)1 << 20)

/* Run the plugin of t->exec once. VIVA_OK and *out (caller releases), or:
 *   VIVA_ENOENT    the command does not exist
 *   VIVA_ETIMEOUT  it did not finish in time
 *   VIVA_EAUTH     it failed (non-zero exit, killed by a signal)
 *   VIVA_EPARSE    it printed no usable ExecCredential
 *   VIVA_ERANGE    it printed more than max_output bytes
 * with one line in err. timeout_ms <= 0 and max_output 0 take the defaults. */
int kube_exec_run(const struct kube_target *t, long timeout_ms, size_t max_output, struct kube_exec_cred *out,
		  char *err, size_t errlen);

/*
 * A cached credential per client, refreshed by one thread at a time.
 *
 * kube_exec_cache_get() gives a copy of the credential (caller releases)
 * and its generation: the cached one while it is valid (no expiry, or more
 * than margin_s before its expirationTimestamp), else the plugin is run. A
 * caller whose request was refused with the credential of generation
 * `stale` (HTTP 401) passes it: the plugin runs again unless another thread
 * has already replaced that credential. When a refresh is due, one caller
 * runs the plugin, with no lock held while it runs; the others wait for its
 * result (at most the plugin's timeout). A failed run is remembered for a
 * second, so a broken plugin is not started again by every waiting request.
 *
 * t is borrowed: it must outlive the cache. Safe from many threads.
 */
struct kube_exec_limits {
	long timeout_ms;          /* <= 0: KUBE_EXEC_TIMEOUT_MS */
	size_t max_output;        /* 0: KUBE_EXEC_MAX_OUTPUT */
	long margin_s;            /* refresh this long before expiry; < 0: 60 */
};
struct kube_exec_cache;
struct kube_exec_cache *kube_exec_cache_new(const struct kube_target *t, const struct kube_exec_limits *lim);
void kube_exec_cache_free(struct kube_exec_cache *c);
int kube_exec_cache_get(struct kube_exec_cache *c, unsigned stale, struct kube_exec_cred *out, unsigned *gen,
			char *err, size_t errlen);
/* How many times the plugin has run (tests, metrics). */
int kube_exec_cache_runs(struct kube_exec_cache *c);

#endif
