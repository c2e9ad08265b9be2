/*
 * Exec credential plugins: running one, reading its ExecCredential, and the
 * per-client cache with its single-flight refresh (see kube_exec.h).
 *
 * The plugin is started with posix_spawn (no fork of a threaded process's
 * whole address space, nothing but exec in the child), in a process group
 * of its own so that a shell script's children die with it on a timeout,
 * with the signal mask and dispositions reset (viva's threads block some
 * signals and ignore SIGPIPE; a plugin must not inherit that).
 */
#include "bot/clients/kube_exec.h"
#include "bot/clients/registry.h"   /* registry_parse_time(): RFC 3339 */
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STDERR_KEEP        2048
#define FAILURE_MEMORY_MS  1000L
#define DEF_MARGIN_S       60L
#define POLL_SLICE_MS      100

void kube_exec_cred_release(struct kube_exec_cred *c)
{
	if (!c)
		return;
	free_secret(c->token);
	free(c->cert_pem);
	free_secret(c->key_pem);
	memset(c, 0, sizeof(*c));
}

static void cred_copy(struct kube_exec_cred *dst, const struct kube_exec_cred *src)
{
	dst->token = xstrdup(src->token);
	dst->cert_pem = xstrdup(src->cert_pem);
	dst->key_pem = xstrdup(src->key_pem);
	dst->expires = src->expires;
}

/* ---- what the plugin is given ----------------------------------------------------- */

/* KUBERNETES_EXEC_INFO: the ExecCredential the plugin reads (caller frees). */
static char *exec_info(const struct kube_target *t)
{
	const struct kube_exec_spec *e = t->exec;
	json_t *j = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion", e->api_version, "kind", "ExecCredential",
			      "spec", "interactive", 0);
	char *s;

	if (e->provide_cluster_info) {
		json_t *cl = json_pack("{s:s}", "server", t->server);
		char *pem = NULL;
		size_t len = 0;

		if (t->ca_pem) {
			pem = xstrdup(t->ca_pem);
			len = strlen(pem);
		} else if (t->ca_file && read_file_max(t->ca_file, (size_t)1 << 20, &pem, &len) != VIVA_OK) {
			pem = NULL;
		}
		if (pem) {
			char *b64 = kube_base64_encode((const unsigned char *)pem, len);
			json_object_set_new(cl, "certificate-authority-data", json_string(b64));
			free(b64);
			free(pem);
		}
		if (t->insecure)
			json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
		if (e->cluster_config)
			json_object_set(cl, "config", e->cluster_config);
		json_object_set_new(json_object_get(j, "spec"), "cluster", cl);
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		abort();
	return s;
}

static bool env_overridden(const char *entry, char *const *over)
{
	size_t n = strcspn(entry, "=");

	if (strncmp(entry, "KUBERNETES_EXEC_INFO=", 21) == 0)
		return true;
	for (char *const *o = over; o && *o; o++)
		if (strncmp(*o, entry, n) == 0 && (*o)[n] == '=')
			return true;
	return false;
}

/* viva's environment, the plugin's env entries over it, and the exec info
 * line (borrowed: the array holds pointers, caller frees the array only). */
static char **build_env(const struct kube_target *t, char *info_line)
{
	size_t n = 0, k = 0, nover = 0;
	char **env;

	for (char **p = environ; p && *p; p++)
		n++;
	for (char **p = t->exec->env; p && *p; p++)
		nover++;
	env = xcalloc(n + nover + 2, sizeof(char *));
	for (char **p = environ; p && *p; p++)
		if (!env_overridden(*p, t->exec->env))
			env[k++] = *p;
	for (char **p = t->exec->env; p && *p; p++)
		env[k++] = *p;
	env[k++] = info_line;
	env[k] = NULL;
	return env;
}

/* ---- running it ------------------------------------------------------------------------ */

struct run {
	pid_t pid;
	int out_fd, err_fd;
	struct strbuf out;        /* standard output (secret) */
	struct strbuf err;        /* the last STDERR_KEEP bytes of standard error */
	bool too_big;
	bool timed_out;
	int status;               /* waitpid's */
};

static void kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

static int spawn(const struct kube_target *t, struct run *r, int *spawn_errno)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, rc;
	sigset_t none, all;
	size_t nargs = 0;
	char **argv, **envp, *info = NULL, *json_info;

	for (char **a = t->exec->args; a && *a; a++)
		nargs++;
	argv = xcalloc(nargs + 2, sizeof(char *));
	argv[0] = t->exec->command;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = t->exec->args[i];
	json_info = exec_info(t);
	info = xasprintf("KUBERNETES_EXEC_INFO=%s", json_info);
	free(json_info);
	envp = build_env(t, info);

	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		*spawn_errno = errno;
		rc = -1;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&r->pid, t->exec->command, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		*spawn_errno = rc;
		rc = -1;
		goto out;
	}
	r->out_fd = outp[0];
	r->err_fd = errp[0];
	outp[0] = errp[0] = -1;
	fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(argv);
	free(envp);
	free(info);
	return rc;
}

/* Read both pipes until they close, the output is too big or the deadline. */
static void collect(struct run *r, int64_t deadline, size_t max_output)
{
	char buf[16384];

	while (r->out_fd >= 0 || r->err_fd >= 0) {
		struct pollfd pf[2];
		int n = 0, left = (int)(deadline - now_ms_mono());

		if (left <= 0) {
			r->timed_out = true;
			return;
		}
		if (r->out_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
		if (r->err_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
		if (poll(pf, (nfds_t)n, left < POLL_SLICE_MS ? left : POLL_SLICE_MS) < 0 && errno != EINTR)
			return;
		for (int i = 0; i < n; i++) {
			bool is_out = pf[i].fd == r->out_fd;
			ssize_t k;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(pf[i].fd, buf, sizeof(buf));
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (k <= 0) {
				close(pf[i].fd);
				if (is_out)
					r->out_fd = -1;
				else
					r->err_fd = -1;
				continue;
			}
			if (is_out) {
				if (r->out.len + (size_t)k > max_output) {
					r->too_big = true;
					return;
				}
				sb_add(&r->out, buf, (size_t)k);
			} else {
				sb_add(&r->err, buf, (size_t)k);
				if (r->err.len > STDERR_KEEP) {
					size_t drop = r->err.len - STDERR_KEEP;
					memmove(r->err.buf, r->err.buf + drop, STDERR_KEEP + 1);
					r->err.len = STDERR_KEEP;
				}
			}
		}
	}
}

/*
 * Wait for the plugin to exit by the deadline, else kill its group. The
 * plugin is waited for without being reaped (WNOWAIT) until its group is
 * killed: while it is a zombie its pid, the group's id, cannot be reused by
 * another process, so the kill reaches only what the plugin left behind.
 */
static void reap(struct run *r, int64_t deadline, bool kill_now)
{
	bool exited = false;

	while (!kill_now && !exited && now_ms_mono() < deadline) {
		siginfo_t si;
		int w;

		memset(&si, 0, sizeof(si));
		w = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if ((w == 0 && si.si_pid == r->pid) || (w < 0 && errno != EINTR))
			exited = true;
		else
			poll(NULL, 0, 10);
	}
	if (!kill_now && !exited)
		r->timed_out = true;
	kill_group(r->pid);
	while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
		;
	if (r->out_fd >= 0)
		close(r->out_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	r->out_fd = r->err_fd = -1;
}

/* The last non-empty line of standard error, printable, at most 200 bytes. */
static void last_line(const struct strbuf *sb, char *buf, size_t n)
{
	const char *s = sb->buf ? sb->buf : "", *end = s + sb->len, *start;
	size_t k = 0;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	for (; start < end && k + 1 < n && k < 200; start++)
		buf[k++] = (*start >= 0x20 && *start < 0x7f) ? *start : '?';
	buf[k] = '\0';
}

/* ---- its answer -------------------------------------------------------------------------- */

static int parse_cred(const struct kube_target *t, const char *text, size_t len, struct kube_exec_cred *out,
		      const char **why)
{
	json_t *j = json_loadb(text, len, 0, NULL), *st;
	const char *kind, *ver, *tok, *cert, *key, *exp;
	int rc = VIVA_EPARSE;

	*why = NULL;
	if (!json_is_object(j)) {
		*why = "printed something that is not an ExecCredential (JSON expected)";
		goto out;
	}
	kind = json_string_value(json_object_get(j, "kind"));
	ver = json_string_value(json_object_get(j, "apiVersion"));
	if (!kind || strcmp(kind, "ExecCredential") != 0) {
		*why = "printed JSON that is not an ExecCredential (kind)";
		goto out;
	}
	if (!ver || strcmp(ver, t->exec->api_version) != 0) {
		*why = "answered with another apiVersion than the kubeconfig's exec.apiVersion";
		goto out;
	}
	st = json_object_get(j, "status");
	if (!json_is_object(st)) {
		*why = "printed an ExecCredential without a status";
		goto out;
	}
	tok = json_string_value(json_object_get(st, "token"));
	cert = json_string_value(json_object_get(st, "clientCertificateData"));
	key = json_string_value(json_object_get(st, "clientKeyData"));
	exp = json_string_value(json_object_get(st, "expirationTimestamp"));
	if (tok && !*tok)
		tok = NULL;
	if (cert && !*cert)
		cert = NULL;
	if (key && !*key)
		key = NULL;
	if (!tok && !cert && !key) {
		*why = "printed neither status.token nor status.clientCertificateData and clientKeyData";
		goto out;
	}
	if (!cert != !key) {
		*why = cert ? "printed status.clientCertificateData without clientKeyData"
			    : "printed status.clientKeyData without clientCertificateData";
		goto out;
	}
	if (tok && !kube_token_ok(tok)) {
		*why = "printed a status.token that cannot be sent in a header";
		goto out;
	}
	if (cert) {
		if ((*why = kube_pem_check(cert, strlen(cert), KUBE_PEM_CERT)))
			goto why_cert;
		if ((*why = kube_pem_check(key, strlen(key), KUBE_PEM_KEY)))
			goto why_key;
		if ((*why = kube_pem_pair_check(cert, strlen(cert), key, strlen(key))))
			goto why_key;
	}
	if (exp && registry_parse_time(exp, &out->expires) != VIVA_OK) {
		*why = "printed a status.expirationTimestamp that is not an RFC 3339 time";
		goto out;
	}
	out->token = xstrdup(tok);
	out->cert_pem = xstrdup(cert);
	out->key_pem = xstrdup(key);
	rc = VIVA_OK;
	goto out;
why_cert:
	*why = "printed a status.clientCertificateData that is not a PEM certificate";
	goto out;
why_key:
	*why = strcmp(*why, "the client key does not belong to the client certificate") == 0
	       ? "printed a status.clientKeyData that does not belong to its certificate"
	       : "printed a status.clientKeyData that is not a PEM private key";
out:
	json_decref(j);
	return rc;
}

int kube_exec_run(const struct kube_target *t, long timeout_ms, size_t max_output, struct kube_exec_cred *out,
		  char *err, size_t errlen)
{
	struct run r = { .pid = -1, .out_fd = -1, .err_fd = -1 };
	const char *cluster = t && t->cluster ? t->cluster : "(unnamed)", *why = NULL;
	/* messages name the plugin as people call it: aws, gke-gcloud-auth-plugin */
	const char *cmd = t && t->exec ? (strrchr(t->exec->command, '/') ? strrchr(t->exec->command, '/') + 1
					  : t->exec->command) : "?";
	int64_t t0 = now_ms_mono(), deadline;
	int serr = 0, rc;
	char line[256], dur[32];

	memset(out, 0, sizeof(*out));
	if (!t || !t->exec) {
		viva_errf(err, errlen, "cluster %s: no credential plugin", cluster);
		return VIVA_EINVAL;
	}
	if (timeout_ms <= 0)
		timeout_ms = KUBE_EXEC_TIMEOUT_MS;
	if (max_output == 0)
		max_output = KUBE_EXEC_MAX_OUTPUT;
	deadline = t0 + timeout_ms;
	sb_init(&r.out);
	sb_init(&r.err);
	if (spawn(t, &r, &serr) != 0) {
		const char *hint = t->exec->install_hint;
		if (serr == ENOENT)
			viva_errf(err, errlen, "cluster %s: the credential plugin '%s' was not found%s%s%s%s", cluster, cmd,
				  strchr(t->exec->command, '/') ? "" : " in PATH", hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		else
			viva_errf(err, errlen, "cluster %s: the credential plugin '%s' could not be started: %s", cluster,
				  cmd, strerror(serr));
		log_warn("kube exec plugin not started", "cluster=%s errno=%d", cluster, serr);
		rc = serr == ENOENT ? VIVA_ENOENT : VIVA_EAUTH;
		goto out;
	}
	collect(&r, deadline, max_output);
	reap(&r, deadline, r.too_big || r.timed_out);
	snprintf(dur, sizeof(dur), timeout_ms % 1000 == 0 ? "%ld s" : "%ld ms",
		 timeout_ms % 1000 == 0 ? timeout_ms / 1000 : timeout_ms);
	if (r.timed_out) {
		viva_errf(err, errlen, "cluster %s: the credential plugin '%s' did not finish within %s", cluster, cmd,
			  dur);
		rc = VIVA_ETIMEOUT;
		goto failed;
	}
	if (r.too_big) {
		viva_errf(err, errlen, "cluster %s: the credential plugin '%s' printed more than %zu bytes", cluster,
			  cmd, max_output);
		rc = VIVA_ERANGE;
		goto failed;
	}
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
		char what[48];

		last_line(&r.err, line, sizeof(line));
		if (WIFSIGNALED(r.status))
			snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(r.status));
		else
			snprintf(what, sizeof(what), "exit status %d", WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1);
		viva_errf(err, errlen, "cluster %s: the credential plugin '%s' failed (%s)%s%s", cluster, cmd, what,
			  line[0] ? ": " : "", line);
		rc = VIVA_EAUTH;
		goto failed;
	}
	rc = parse_cred(t, r.out.buf, r.out.len, out, &why);
	if (rc != VIVA_OK) {
		viva_errf(err, errlen, "cluster %s: the credential plugin '%s' %s", cluster, cmd, why);
		goto failed;
	}
	log_info("kube exec credential", "cluster=%s ms=%lld expires_in_s=%lld kind=%s", cluster,
		 (long long)(now_ms_mono() - t0), out->expires ? (long long)(out->expires - now_unix()) : -1LL,
		 out->token ? "token" : "certificate");
	goto out;
failed:
	/* the reason, never the output */
	log_warn("kube exec plugin failed", "cluster=%s rc=%s ms=%lld", cluster, viva_strerror(rc),
		 (long long)(now_ms_mono() - t0));
out:
	if (r.out.buf)
		explicit_bzero(r.out.buf, r.out.len);
	sb_release(&r.out);
	sb_release(&r.err);
	return rc;
}

/* ---- the cache ------------------------------------------------------------------------------ */

struct kube_exec_cache {
	const struct kube_target *t;
	long timeout_ms;
	size_t max_output;
	long margin_s;
	pthread_mutex_t mu;            /* guards everything below; never held while the plugin runs */
	pthread_cond_t done;           /* a run ended */
	bool running;
	bool have;
	struct kube_exec_cred cred;
	unsigned gen;
	int runs;
	int fail_rc;
	int64_t fail_until_ms;         /* monotonic */
	char fail_msg[512];
};

struct kube_exec_cache *kube_exec_cache_new(const struct kube_target *t, const struct kube_exec_limits *lim)
{
	struct kube_exec_cache *c = xcalloc(1, sizeof(*c));
	pthread_condattr_t ca;

	c->t = t;
	c->timeout_ms = lim && lim->timeout_ms > 0 ? lim->timeout_ms : KUBE_EXEC_TIMEOUT_MS;
	c->max_output = lim && lim->max_output ? lim->max_output : KUBE_EXEC_MAX_OUTPUT;
	c->margin_s = lim && lim->margin_s >= 0 ? lim->margin_s : DEF_MARGIN_S;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->done, &ca);
	pthread_condattr_destroy(&ca);
	return c;
}

void kube_exec_cache_free(struct kube_exec_cache *c)
{
	if (!c)
		return;
	kube_exec_cred_release(&c->cred);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->done);
	free(c);
}

int kube_exec_cache_runs(struct kube_exec_cache *c)
{
	int n;

	pthread_mutex_lock(&c->mu);
	n = c->runs;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static bool usable(const struct kube_exec_cache *c, unsigned stale)
{
	if (!c->have || (stale && c->gen == stale))
		return false;
	return c->cred.expires == 0 || now_unix() < c->cred.expires - c->margin_s;
}

int kube_exec_cache_get(struct kube_exec_cache *c, unsigned stale, struct kube_exec_cred *out, unsigned *gen,
			char *err, size_t errlen)
{
	struct timespec until = timespec_in(CLOCK_MONOTONIC, c->timeout_ms + 1000);
	struct kube_exec_cred fresh;
	char msg[512] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (usable(c, stale)) {
			cred_copy(out, &c->cred);
			if (gen)
				*gen = c->gen;
			pthread_mutex_unlock(&c->mu);
			return VIVA_OK;
		}
		if (!c->running) {
			/* a run that just failed answers the callers that waited for it */
			if (c->fail_rc && now_ms_mono() < c->fail_until_ms && !(stale && c->gen == stale)) {
				rc = c->fail_rc;
				viva_errf(err, errlen, "%s", c->fail_msg);
				pthread_mutex_unlock(&c->mu);
				return rc;
			}
			break;
		}
		if (pthread_cond_timedwait(&c->done, &c->mu, &until) == ETIMEDOUT && c->running) {
			pthread_mutex_unlock(&c->mu);
			viva_errf(err, errlen, "cluster %s: waited too long for the credential plugin",
				  c->t->cluster ? c->t->cluster : "(unnamed)");
			return VIVA_ETIMEOUT;
		}
	}
	c->running = true;
	pthread_mutex_unlock(&c->mu);

	rc = kube_exec_run(c->t, c->timeout_ms, c->max_output, &fresh, msg, sizeof(msg));
	if (rc != VIVA_OK)
		viva_errf(err, errlen, "%s", msg);

	pthread_mutex_lock(&c->mu);
	c->running = false;
	c->runs++;
	if (rc == VIVA_OK) {
		kube_exec_cred_release(&c->cred);
		c->cred = fresh;
		c->have = true;
		c->gen++;
		if (c->gen == 0)
			c->gen = 1;   /* 0 means "none" to callers */
		c->fail_rc = 0;
		cred_copy(out, &c->cred);
		if (gen)
			*gen = c->gen;
	} else {
		c->fail_rc = rc;
		c->fail_until_ms = now_ms_mono() + FAILURE_MEMORY_MS;
		snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", msg);
	}
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->mu);
	return rc;
}
