/*
 * bot/clients/kube.c and kube_http.c against a scripted responder in this
 * process (127.0.0.1 only): it answers each request with the next answer
 * of a script and records the method, the path with its query, the
 * Authorization and Content-Type headers and the body. The tests check
 * request paths and headers per verb and patch type, the API's Status as
 * one line, 409 on update retried on a fresh read (bounded), 5xx and 429
 * retried with backoff (bounded, never a POST), timeouts, paging with
 * continue, credentials refreshed once on 401 (token file, exec plugin),
 * TLS with a client certificate through tests/tls_front.c, the clients of
 * viva.yaml's clusters and environments, and a fake through the same ops.
 * (The fake Kubernetes API server kubectl can drive is another file's.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/clients/kube.h"
#include "bot/clients/kube_exec.h"
#include "bot/clients/kubeconfig.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"
#include "bot/model/config.h"
#include "tests/helpers.h"
#include "tests/tls_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SCRIPT 32
#define MAX_REC    64
#define IO_MS      10000
#define POLL_MS    50

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) \
		fail_msg("expected \"%s\" in \"%s\"", n_, h_ ? h_ : "(null)"); \
} while (0)

#define assert_not_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ && strstr(h_, n_)) \
		fail_msg("did not expect \"%s\" in \"%s\"", n_, h_); \
} while (0)

/* ---- the scripted responder ------------------------------------------------------------ */

struct answer {
	int status;
	const char *body;
	const char *headers;         /* extra lines, each ending in \r\n */
	bool hang;                   /* never answer */
};

struct rec {
	char method[16];
	char target[1024];           /* path and query */
	char auth[256];
	char ctype[128];
	char *body;
};

struct srv {
	int lfd, port;
	pthread_t th;
	atomic_bool stop;
	atomic_int active;
	pthread_mutex_t mu;
	struct answer script[MAX_SCRIPT];
	int nscript, next;
	struct rec rec[MAX_REC];
	int nrec;
	char base[64];
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static bool send_all(int fd, const char *p, size_t n)
{
	int64_t end = now_ms_mono() + IO_MS;

	while (n > 0 && now_ms_mono() < end) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, POLL_MS);
		} else {
			return false;
		}
	}
	return n == 0;
}

static void header_value(const char *head, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);

	out[0] = '\0';
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, len) == 0 && l[2 + len] == ':') {
			const char *v = l + 3 + len;
			while (*v == ' ')
				v++;
			snprintf(out, n, "%.*s", (int)strcspn(v, "\r\n"), v);
			return;
		}
	}
}

/* Answer one request; false: close the connection. */
static bool serve_one(struct srv *s, int fd, const char *head, const char *body, size_t blen)
{
	struct answer a = { 500, "{\"kind\":\"Status\",\"message\":\"script exhausted\"}" };
	struct strbuf out;

	pthread_mutex_lock(&s->mu);
	if (s->nrec < MAX_REC) {
		struct rec *r = &s->rec[s->nrec++];
		sscanf(head, "%15s %1023s", r->method, r->target);
		header_value(head, "Authorization", r->auth, sizeof(r->auth));
		header_value(head, "Content-Type", r->ctype, sizeof(r->ctype));
		r->body = xstrndup(body, blen);
	}
	if (s->next < s->nscript)
		a = s->script[s->next++];
	pthread_mutex_unlock(&s->mu);
	if (a.hang) {
		while (!atomic_load(&s->stop)) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			char b[256];
			if (poll(&pf, 1, POLL_MS) > 0 && recv(fd, b, sizeof(b), 0) <= 0)
				break;
		}
		return false;
	}
	sb_init(&out);
	sb_addf(&out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s", a.status,
		a.body ? strlen(a.body) : 0, a.headers ? a.headers : "", a.body ? a.body : "");
	send_all(fd, out.buf, out.len);
	sb_release(&out);
	return true;
}

struct conn {
	struct srv *s;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct srv *s = c->s;
	struct strbuf in;
	int64_t idle_end = now_ms_mono() + IO_MS;

	sb_init(&in);
	while (!atomic_load(&s->stop) && now_ms_mono() < idle_end) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		char buf[16384], *eoh, cl[32];
		size_t hlen, blen = 0;
		ssize_t k;

		eoh = strstr(in.buf, "\r\n\r\n");
		if (eoh) {
			hlen = (size_t)(eoh - in.buf) + 4;
			*eoh = '\0';
			header_value(in.buf, "Content-Length", cl, sizeof(cl));
			blen = strtoul(cl, NULL, 10);
			*eoh = '\r';
			if (in.len >= hlen + blen) {
				char *head = xstrndup(in.buf, hlen - 2);
				bool keep = serve_one(s, c->fd, head, in.buf + hlen, blen);
				free(head);
				memmove(in.buf, in.buf + hlen + blen, in.len - hlen - blen + 1);
				in.len -= hlen + blen;
				if (!keep)
					break;
				idle_end = now_ms_mono() + IO_MS;
				continue;
			}
		}
		if (poll(&pf, 1, POLL_MS) <= 0)
			continue;
		k = recv(c->fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		sb_add(&in, buf, (size_t)k);
	}
	sb_release(&in);
	close(c->fd);
	atomic_fetch_sub(&s->active, 1);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pf = { .fd = s->lfd, .events = POLLIN };
		struct conn *c;
		pthread_t th;
		int fd;

		if (poll(&pf, 1, POLL_MS) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		c = xcalloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		atomic_fetch_add(&s->active, 1);
		if (pthread_create(&th, NULL, conn_main, c) != 0) {
			atomic_fetch_sub(&s->active, 1);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static struct srv *srv_start(void)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, accept_main, s), 0);
	return s;
}

static void srv_reset(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nrec; i++)
		free(s->rec[i].body);
	s->nrec = 0;
	s->nscript = 0;
	s->next = 0;
	pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
	int64_t end;

	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	close(s->lfd);
	end = now_ms_mono() + 5000;
	while (atomic_load(&s->active) > 0 && now_ms_mono() < end)
		sleep_ms(10);
	srv_reset(s);
	if (atomic_load(&s->active) > 0)
		return;   /* still used by a connection thread: left to the exit */
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void srv_script(struct srv *s, const struct answer *a, int n)
{
	srv_reset(s);
	pthread_mutex_lock(&s->mu);
	assert_true(n <= MAX_SCRIPT);
	memcpy(s->script, a, (size_t)n * sizeof(*a));
	s->nscript = n;
	pthread_mutex_unlock(&s->mu);
}

#define SCRIPT(s, ...) srv_script((s), (const struct answer[]){ __VA_ARGS__ }, \
	(int)(sizeof((const struct answer[]){ __VA_ARGS__ }) / sizeof(struct answer)))

static int nrec(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nrec;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Request i (the struct stays valid until the next script). */
static const struct rec *rec(struct srv *s, int i)
{
	assert_true(i < nrec(s));
	return &s->rec[i];
}

/* A port that was just free and has no listener. */
static int dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static struct {
	struct srv *srv;
	char *dir;                   /* PKI and scratch files */
	char *ca_pem, *cert_pem, *key_pem;
} G;

static const struct kube_limits fast = {
	.connect_timeout_ms = 1000, .timeout_ms = 3000, .deadline_ms = 8000, .max_retries = 3, .backoff_ms = 20,
	.max_retry_after_ms = 2000, .exec_timeout_ms = 5000,
};

static char *slurp(const char *path)
{
	char *s = NULL;

	assert_int_equal(read_file(path, &s, NULL), VIVA_OK);
	return s;
}

static int group_setup(void **state)
{
	int status = -1;
	char *cmd, *out, *p;

	(void)state;
	log_set_level(LOG_ERROR);
	G.srv = srv_start();
	G.dir = test_tmpdir();
	cmd = xasprintf("set -e; exec 2>&1; cd '%s'; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
			"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=viva-test-ca;"
			"for h in ip:subjectAltName=IP:127.0.0.1 client:extendedKeyUsage=clientAuth; do"
			"  n=${h%%%%:*}; ext=${h#*:};"
			"  openssl req $ec -keyout $n.key -out $n.csr -subj /CN=viva-test-$n;"
			"  printf '%%s\\n' \"$ext\" > $n.ext;"
			"  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
			"    -extfile $n.ext -out $n.pem;"
			"done", G.dir);
	out = test_run(cmd, &status);
	if (status != 0)
		fprintf(stderr, "test PKI not made:\n%s\n", out);
	free(out);
	free(cmd);
	if (status != 0)
		return -1;
	p = xasprintf("%s/ca.pem", G.dir);
	G.ca_pem = slurp(p);
	free(p);
	p = xasprintf("%s/client.pem", G.dir);
	G.cert_pem = slurp(p);
	free(p);
	p = xasprintf("%s/client.key", G.dir);
	G.key_pem = slurp(p);
	free(p);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	srv_stop(G.srv);
	test_rm_rf(G.dir);
	free(G.dir);
	free(G.ca_pem);
	free(G.cert_pem);
	free(G.key_pem);
	return 0;
}

/* A client on the scripted responder with a token, namespace prod. */
static struct kube *client_at(const char *base, const struct kube_limits *lim)
{
	struct kube_target t = { 0 };
	char err[512];
	struct kube *k;

	t.cluster = xstrdup("prod");
	t.server = xstrdup(base);
	t.namespace_ = xstrdup("prod");
	t.token = xstrdup("SECRET-TOKEN");
	t.auth_source = xstrdup("the token of user 'admin' in kubeconfig /k");
	k = kube_new(&t, lim ? lim : &fast, err, sizeof(err));
	if (!k)
		fail_msg("kube_new: %s", err);
	assert_null(t.server);   /* moved */
	return k;
}

static struct kube *client(void)
{
	return client_at(G.srv->base, NULL);
}

static const struct kube_ref deploy_a = { .res = &kube_deployments, .name = "svc-a-green" };

/* ---- paths and names ------------------------------------------------------------------------- */

static void paths__core_groups_namespaces_subresources(void **state)
{
	struct kube k = { .cluster = "prod", .ns = "prod" };
	static const struct { struct kube_ref ref; const char *want; } cases[] = {
		{ { &kube_pods, NULL, NULL, NULL }, "/api/v1/namespaces/prod/pods" },
		{ { &kube_pods, "alpha", "p-1", "eviction" }, "/api/v1/namespaces/alpha/pods/p-1/eviction" },
		{ { &kube_pods, "", NULL, NULL }, "/api/v1/pods" },
		{ { &kube_nodes, "ignored", "kube-a-dc1-worker01", NULL }, "/api/v1/nodes/kube-a-dc1-worker01" },
		{ { &kube_namespaces, NULL, "prod", NULL }, "/api/v1/namespaces/prod" },
		{ { &kube_deployments, NULL, "svc-a-green", "scale" },
		  "/apis/apps/v1/namespaces/prod/deployments/svc-a-green/scale" },
		{ { &kube_cronjobs, "alpha", NULL, NULL }, "/apis/batch/v1/namespaces/alpha/cronjobs" },
		{ { &kube_leases, NULL, "viva-scheduler", NULL },
		  "/apis/coordination.k8s.io/v1/namespaces/prod/leases/viva-scheduler" },
		{ { &kube_ssar, NULL, NULL, NULL }, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" },
		{ { &kube_secrets, "kube-system", "bootstrap-token-abc123", NULL },
		  "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abc123" },
	};
	static const struct kube_ref bad[] = {
		{ &kube_pods, NULL, "a/b", NULL },
		{ &kube_pods, NULL, "..", NULL },
		{ &kube_pods, NULL, "a b", NULL },
		{ &kube_pods, NULL, "a?x=1", NULL },
		{ &kube_pods, NULL, "a%2F", NULL },
		{ &kube_pods, "Prod", "a", NULL },
		{ &kube_pods, "a/b", "a", NULL },
		{ &kube_pods, "", "a", NULL },
		{ &kube_pods, NULL, "a", "Scale" },
		{ &kube_pods, NULL, NULL, "scale" },
		{ NULL, NULL, "a", NULL },
	};
	char *p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = kube_path(&k, &cases[i].ref);
		assert_non_null(p);
		assert_string_equal(p, cases[i].want);
		free(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = kube_path(&k, &bad[i]);
		if (p)
			fail_msg("bad case %zu gave %s", i, p);
	}
}

static void names__refused_before_any_request(void **state)
{
	struct kube *k = client();
	json_t *out = NULL;

	(void)state;
	SCRIPT(G.srv, { 200, "{}" });
	assert_int_equal(kube_get(k, &(struct kube_ref){ &kube_pods, NULL, "../../secrets", NULL }, &out), VIVA_EINVAL);
	assert_string_equal(kube_last_error(), "'../../secrets' is not an object name");
	assert_int_equal(kube_list(k, &(struct kube_ref){ &kube_pods, "Bad NS", NULL, NULL }, NULL, &out), VIVA_EINVAL);
	assert_int_equal(kube_get(k, &(struct kube_ref){ &kube_pods, NULL, NULL, NULL }, &out), VIVA_EINVAL);
	assert_int_equal(kube_list(k, &deploy_a, NULL, &out), VIVA_EINVAL);
	{
		json_t *notalist = json_object();
		assert_int_equal(kube_patch(k, &deploy_a, KUBE_PATCH_JSON, notalist, NULL, &out), VIVA_EINVAL);
		json_decref(notalist);
	}
	assert_int_equal(kube_delete(k, &deploy_a, &(struct kube_write_opts){ .propagation = "Now" }, &out), VIVA_EINVAL);
	assert_int_equal(kube_get(NULL, &deploy_a, &out), VIVA_EUNAVAIL);
	assert_string_equal(kube_last_error(), "no Kubernetes cluster is configured");
	assert_null(out);
	assert_int_equal(nrec(G.srv), 0);
	kube_free(k);
}

/* ---- verbs ---------------------------------------------------------------------------------- */

static void get__path_token_accept_and_answer(void **state)
{
	struct kube *k = client();
	json_t *out = NULL;

	(void)state;
	SCRIPT(G.srv, { 200, "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"svc-a-green\"}}" });
	assert_int_equal(kube_get(k, &deploy_a, &out), VIVA_OK);
	assert_string_equal(json_string_value(json_object_get(out, "kind")), "Deployment");
	assert_string_equal(rec(G.srv, 0)->method, "GET");
	assert_string_equal(rec(G.srv, 0)->target, "/apis/apps/v1/namespaces/prod/deployments/svc-a-green");
	assert_string_equal(rec(G.srv, 0)->auth, "Bearer SECRET-TOKEN");
	assert_string_equal(kube_last_error(), "");
	json_decref(out);
	kube_free(k);
}

static void list__selectors_limit_continue_encoded(void **state)
{
	struct kube *k = client();
	struct kube_list_opts o = { .label_selector = "app=svc-a,viva/slot in (blue,green)",
				    .field_selector = "spec.nodeName=kube-a-dc1-worker01", .limit = 50,
				    .continue_token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ==" };
	json_t *out = NULL;

	(void)state;
	SCRIPT(G.srv, { 200, "{\"kind\":\"PodList\",\"items\":[]}" });
	assert_int_equal(kube_list(k, &(struct kube_ref){ &kube_pods, KUBE_ALL_NAMESPACES, NULL, NULL }, &o, &out),
			 VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->target,
			    "/api/v1/pods?labelSelector=app%3Dsvc-a%2Cviva%2Fslot%20in%20%28blue%2Cgreen%29"
			    "&fieldSelector=spec.nodeName%3Dkube-a-dc1-worker01&limit=50"
			    "&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ%3D%3D");
	json_decref(out);
	kube_free(k);
}

static void list_all__follows_continue_bounded(void **state)
{
	struct kube *k = client();
	struct kube_ref pods = { &kube_pods, NULL, NULL, NULL };
	json_t *items = NULL;

	(void)state;
	SCRIPT(G.srv,
	       { 200, "{\"items\":[{\"n\":1},{\"n\":2}],\"metadata\":{\"continue\":\"c1\"}}" },
	       { 200, "{\"items\":[{\"n\":3},{\"n\":4}],\"metadata\":{\"continue\":\"c2\"}}" },
	       { 200, "{\"items\":[{\"n\":5}],\"metadata\":{\"continue\":\"\"}}" });
	assert_int_equal(kube_list_all(k, &pods, &(struct kube_list_opts){ .label_selector = "app=a", .limit = 2 }, 0,
				       &items), VIVA_OK);
	assert_int_equal(json_array_size(items), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 4), "n")), 5);
	assert_int_equal(nrec(G.srv), 3);
	assert_string_equal(rec(G.srv, 0)->target, "/api/v1/namespaces/prod/pods?labelSelector=app%3Da&limit=2");
	assert_string_equal(rec(G.srv, 1)->target,
			    "/api/v1/namespaces/prod/pods?labelSelector=app%3Da&limit=2&continue=c1");
	assert_string_equal(rec(G.srv, 2)->target,
			    "/api/v1/namespaces/prod/pods?labelSelector=app%3Da&limit=2&continue=c2");
	json_decref(items);

	/* more than asked for */
	SCRIPT(G.srv,
	       { 200, "{\"items\":[{},{}],\"metadata\":{\"continue\":\"c1\"}}" },
	       { 200, "{\"items\":[{},{}],\"metadata\":{\"continue\":\"c2\"}}" });
	assert_int_equal(kube_list_all(k, &pods, &(struct kube_list_opts){ .limit = 2 }, 3, &items), VIVA_ERANGE);
	assert_string_equal(kube_last_error(), "more than 3 pods in namespace prod");
	assert_null(items);

	/* a server that repeats its continue token */
	SCRIPT(G.srv,
	       { 200, "{\"items\":[{}],\"metadata\":{\"continue\":\"same\"}}" },
	       { 200, "{\"items\":[{}],\"metadata\":{\"continue\":\"same\"}}" });
	assert_int_equal(kube_list_all(k, &pods, &(struct kube_list_opts){ .limit = 1 }, 0, &items), VIVA_EREMOTE);
	assert_contains(kube_last_error(), "the same continue token twice");
	assert_int_equal(nrec(G.srv), 2);

	/* an expired continue token: the whole list once more, unpaged */
	SCRIPT(G.srv,
	       { 200, "{\"items\":[{\"n\":1}],\"metadata\":{\"continue\":\"c1\"}}" },
	       { 410, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410,"
		      "\"message\":\"The provided continue parameter is too old\"}" },
	       { 200, "{\"items\":[{\"n\":1},{\"n\":2},{\"n\":3}],\"metadata\":{}}" });
	assert_int_equal(kube_list_all(k, &pods, &(struct kube_list_opts){ .limit = 1 }, 0, &items), VIVA_OK);
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(rec(G.srv, 2)->target, "/api/v1/namespaces/prod/pods");
	json_decref(items);
	kube_free(k);
}

static void create__post_json_with_field_manager(void **state)
{
	struct kube *k = client();
	json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", "c");
	json_t *out = NULL, *sent;

	(void)state;
	SCRIPT(G.srv, { 201, "{\"kind\":\"ConfigMap\"}" });
	assert_int_equal(kube_create(k, &(struct kube_ref){ &kube_configmaps, "alpha", NULL, NULL }, obj, &out), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->method, "POST");
	assert_string_equal(rec(G.srv, 0)->target, "/api/v1/namespaces/alpha/configmaps?fieldManager=viva");
	assert_string_equal(rec(G.srv, 0)->ctype, "application/json");
	sent = json_loads(rec(G.srv, 0)->body, 0, NULL);
	assert_true(json_equal(sent, obj));
	json_decref(sent);
	json_decref(out);
	json_decref(obj);
	kube_free(k);
}

static void patch__content_type_per_type_and_apply_query(void **state)
{
	static const struct { enum kube_patch type; const char *ctype; } types[] = {
		{ KUBE_PATCH_MERGE, "application/merge-patch+json" },
		{ KUBE_PATCH_STRATEGIC, "application/strategic-merge-patch+json" },
		{ KUBE_PATCH_JSON, "application/json-patch+json" },
		{ KUBE_PATCH_APPLY, "application/apply-patch+yaml" },
	};
	struct kube *k = client();
	json_t *obj = json_pack("{s:{s:i}}", "spec", "replicas", 3);
	json_t *ops = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/spec/template/spec/containers/0/image",
				"value", "team/a:2");

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		json_t *body = types[i].type == KUBE_PATCH_JSON ? ops : obj, *sent;

		SCRIPT(G.srv, { 200, "{}" });
		assert_int_equal(kube_patch(k, &deploy_a, types[i].type, body, NULL, NULL), VIVA_OK);
		assert_string_equal(rec(G.srv, 0)->method, "PATCH");
		assert_string_equal(rec(G.srv, 0)->ctype, types[i].ctype);
		assert_string_equal(rec(G.srv, 0)->target,
				    "/apis/apps/v1/namespaces/prod/deployments/svc-a-green?fieldManager=viva");
		sent = json_loads(rec(G.srv, 0)->body, 0, NULL);
		assert_true(json_equal(sent, body));
		json_decref(sent);
	}
	/* server-side apply: viva's field manager, forced; or as told */
	SCRIPT(G.srv, { 200, "{}" }, { 200, "{}" });
	assert_int_equal(kube_apply(k, &deploy_a, obj, NULL, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->ctype, "application/apply-patch+yaml");
	assert_string_equal(rec(G.srv, 0)->target,
			    "/apis/apps/v1/namespaces/prod/deployments/svc-a-green?fieldManager=viva&force=true");
	assert_int_equal(kube_apply(k, &deploy_a, obj, &(struct kube_write_opts){ .field_manager = "viva-test",
										 .dry_run = true }, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 1)->target,
			    "/apis/apps/v1/namespaces/prod/deployments/svc-a-green?fieldManager=viva-test&dryRun=All");
	/* a forced apply that meets a conflict is sent again, bounded */
	SCRIPT(G.srv,
	       { 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"Operation cannot be "
		      "fulfilled on deployments.apps \\\"svc-a-green\\\": the object has been modified\"}" },
	       { 200, "{\"kind\":\"Deployment\"}" });
	assert_int_equal(kube_apply(k, &deploy_a, obj, NULL, NULL), VIVA_OK);
	assert_int_equal(nrec(G.srv), 2);
	SCRIPT(G.srv,
	       { 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"modified\"}" },
	       { 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"modified\"}" },
	       { 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"modified\"}" },
	       { 200, "{}" });
	assert_int_equal(kube_apply(k, &deploy_a, obj, NULL, NULL), VIVA_ECONFLICT);
	assert_int_equal(nrec(G.srv), 3);
	json_decref(obj);
	json_decref(ops);
	kube_free(k);
}

static void delete__propagation_policy_in_delete_options(void **state)
{
	struct kube *k = client();
	json_t *sent;

	(void)state;
	SCRIPT(G.srv, { 200, "{\"kind\":\"Status\",\"status\":\"Success\"}" }, { 200, "{}" });
	assert_int_equal(kube_delete(k, &deploy_a, &(struct kube_write_opts){ .propagation = "Foreground",
									     .set_grace = true, .grace_seconds = 0 },
				     NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->method, "DELETE");
	assert_string_equal(rec(G.srv, 0)->target, "/apis/apps/v1/namespaces/prod/deployments/svc-a-green");
	assert_string_equal(rec(G.srv, 0)->ctype, "application/json");
	sent = json_loads(rec(G.srv, 0)->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(sent, "kind")), "DeleteOptions");
	assert_string_equal(json_string_value(json_object_get(sent, "propagationPolicy")), "Foreground");
	assert_int_equal(json_integer_value(json_object_get(sent, "gracePeriodSeconds")), 0);
	json_decref(sent);
	/* no options: no body */
	assert_int_equal(kube_delete(k, &deploy_a, NULL, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 1)->body, "");
	kube_free(k);
}

static void scale__subresource_read_and_merge_patched(void **state)
{
	struct kube *k = client();
	long n = -1;

	(void)state;
	SCRIPT(G.srv, { 200, "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"spec\":{\"replicas\":4}}" },
	       { 200, "{\"kind\":\"Scale\",\"spec\":{\"replicas\":0}}" });
	assert_int_equal(kube_get_scale(k, &deploy_a, &n), VIVA_OK);
	assert_int_equal(n, 4);
	assert_string_equal(rec(G.srv, 0)->target, "/apis/apps/v1/namespaces/prod/deployments/svc-a-green/scale");
	assert_int_equal(kube_scale(k, &deploy_a, 0, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 1)->method, "PATCH");
	assert_string_equal(rec(G.srv, 1)->target,
			    "/apis/apps/v1/namespaces/prod/deployments/svc-a-green/scale?fieldManager=viva");
	assert_string_equal(rec(G.srv, 1)->ctype, "application/merge-patch+json");
	assert_string_equal(rec(G.srv, 1)->body, "{\"spec\":{\"replicas\":0}}");
	assert_int_equal(kube_scale(k, &deploy_a, -1, NULL), VIVA_EINVAL);
	kube_free(k);
}

static void evict__eviction_api_pdb_429_at_once(void **state)
{
	struct kube *k = client();
	json_t *sent;

	(void)state;
	SCRIPT(G.srv, { 201, "{\"kind\":\"Status\",\"status\":\"Success\"}" },
	       { 429, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"Cannot evict "
		      "pod as it would violate the pod's disruption budget.\",\"reason\":\"TooManyRequests\","
		      "\"details\":{\"causes\":[{\"reason\":\"DisruptionBudget\",\"message\":\"The disruption budget "
		      "svc-a-pdb needs 2 healthy pods and has 2 currently\"}]},\"code\":429}",
		 "Retry-After: 0\r\n" },
	       { 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404,\"message\":\"pods \\\"p-2\\\" not found\"}" });
	assert_int_equal(kube_evict(k, "alpha", "p-1", 30), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->method, "POST");
	assert_string_equal(rec(G.srv, 0)->target, "/api/v1/namespaces/alpha/pods/p-1/eviction");
	sent = json_loads(rec(G.srv, 0)->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(sent, "apiVersion")), "policy/v1");
	assert_string_equal(json_string_value(json_object_get(sent, "kind")), "Eviction");
	assert_string_equal(json_string_value(json_object_get(json_object_get(sent, "metadata"), "name")), "p-1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(sent, "metadata"), "namespace")), "alpha");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sent, "deleteOptions"),
							    "gracePeriodSeconds")), 30);
	json_decref(sent);
	/* the budget's refusal comes back at once, with its words */
	assert_int_equal(kube_evict(k, "alpha", "p-1", -1), VIVA_EBUSY);
	assert_int_equal(nrec(G.srv), 2);
	assert_string_equal(kube_last_error(), "cluster prod: Cannot evict pod as it would violate the pod's disruption "
			    "budget.: The disruption budget svc-a-pdb needs 2 healthy pods and has 2 currently");
	assert_string_equal(kube_last_reason(), "TooManyRequests");
	assert_int_equal(kube_last_status(), 429);
	assert_int_equal(kube_evict(k, "alpha", "p-2", -1), VIVA_ENOENT);
	assert_string_equal(kube_last_error(), "pods \"p-2\" not found in namespace alpha");
	kube_free(k);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void status__api_status_as_one_line(void **state)
{
	static const struct { int status; const char *body; int rc; const char *want; const char *reason; } cases[] = {
		{ 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
		       "\"message\":\"deployments.apps \\\"svc-a-green\\\" not found\",\"reason\":\"NotFound\","
		       "\"details\":{\"name\":\"svc-a-green\",\"group\":\"apps\",\"kind\":\"deployments\"},\"code\":404}",
		  VIVA_ENOENT, "deployments.apps \"svc-a-green\" not found in namespace prod", "NotFound" },
		{ 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"deployments.apps \\\"svc-a-green\\\" "
		       "already exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
		  VIVA_ECONFLICT, "deployments.apps \"svc-a-green\" already exists in namespace prod", "AlreadyExists" },
		{ 403, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"deployments.apps \\\"svc-a-green\\\" is "
		       "forbidden: User \\\"system:serviceaccount:viva:viva\\\" cannot get resource \\\"deployments\\\" in "
		       "API group \\\"apps\\\" in the namespace \\\"prod\\\"\",\"reason\":\"Forbidden\",\"code\":403}",
		  VIVA_EAUTH, "cluster prod: deployments.apps \"svc-a-green\" is forbidden: User "
		  "\"system:serviceaccount:viva:viva\" cannot get resource \"deployments\"", "Forbidden" },
		{ 401, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\","
		       "\"code\":401}",
		  VIVA_EAUTH, "cluster prod refused viva's credentials (the token of user 'admin' in kubeconfig /k)",
		  "Unauthorized" },
		{ 422, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Deployment.apps \\\"svc-a-green\\\" is "
		       "invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\",\"reason\":"
		       "\"Invalid\",\"details\":{\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: "
		       "-1: must be greater than or equal to 0\",\"field\":\"spec.replicas\"}]},\"code\":422}",
		  VIVA_EINVAL, "Deployment.apps \"svc-a-green\" is invalid: spec.replicas: Invalid value: -1: must be "
		  "greater than or equal to 0", "Invalid" },
		{ 404, "404 page not found", VIVA_ENOENT,
		  "deployments.apps \"svc-a-green\" not found in namespace prod", "" },
		{ 400, "<html>bad</html>", VIVA_EINVAL,
		  "cluster prod answered HTTP 400 to get deployments.apps \"svc-a-green\" in namespace prod", "" },
		{ 200, "<html>not json</html>", VIVA_EREMOTE,
		  "cluster prod answered get deployments.apps with something that is not JSON", "" },
	};
	struct kube *k = client();
	json_t *out = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		srv_script(G.srv, &(struct answer){ cases[i].status, cases[i].body }, 1);
		rc = kube_get(k, &deploy_a, &out);
		if (rc != cases[i].rc || strncmp(kube_last_error(), cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: rc %d (want %d), \"%s\", want \"%s\"", i, rc, cases[i].rc, kube_last_error(),
				 cases[i].want);
		assert_string_equal(kube_last_reason(), cases[i].reason);
		assert_null(out);
		assert_null(strchr(kube_last_error(), '\n'));
		assert_not_contains(kube_last_error(), "SECRET");
	}
	/* a list of a resource the cluster does not serve */
	SCRIPT(G.srv, { 404, "404 page not found" });
	assert_int_equal(kube_list(k, &(struct kube_ref){ &kube_cronjobs, NULL, NULL, NULL }, NULL, &out), VIVA_ENOENT);
	assert_string_equal(kube_last_error(), "cluster prod does not serve cronjobs.batch/v1");
	kube_free(k);
}

struct bump {
	int calls;
	bool unchanged;
};

static int bump_replicas(json_t *obj, void *ud)
{
	struct bump *b = ud;
	json_t *spec = json_object_get(obj, "spec");

	b->calls++;
	if (b->unchanged)
		return KUBE_UNCHANGED;
	json_object_set_new(spec, "replicas", json_integer(json_integer_value(json_object_get(spec, "replicas")) + 1));
	return VIVA_OK;
}

#define CONFLICT "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Conflict\",\"code\":409,\"message\":" \
	"\"Operation cannot be fulfilled on deployments.apps \\\"svc-a-green\\\": the object has been modified; " \
	"please apply your changes to the latest version and try again\"}"

static void update__409_retried_on_a_fresh_read_bounded(void **state)
{
	struct kube *k = client();
	struct bump b = { 0 };
	json_t *out = NULL, *sent;

	(void)state;
	SCRIPT(G.srv,
	       { 200, "{\"metadata\":{\"name\":\"svc-a-green\",\"resourceVersion\":\"10\"},\"spec\":{\"replicas\":1}}" },
	       { 409, CONFLICT },
	       { 200, "{\"metadata\":{\"name\":\"svc-a-green\",\"resourceVersion\":\"11\"},\"spec\":{\"replicas\":5}}" },
	       { 200, "{\"metadata\":{\"resourceVersion\":\"12\"},\"spec\":{\"replicas\":6}}" });
	assert_int_equal(kube_update(k, &deploy_a, bump_replicas, &b, &out), VIVA_OK);
	assert_int_equal(b.calls, 2);
	assert_int_equal(nrec(G.srv), 4);
	assert_string_equal(rec(G.srv, 1)->method, "PUT");
	assert_string_equal(rec(G.srv, 1)->target,
			    "/apis/apps/v1/namespaces/prod/deployments/svc-a-green?fieldManager=viva");
	/* the second write is built on the second read */
	sent = json_loads(rec(G.srv, 3)->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(sent, "metadata"), "resourceVersion")), "11");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sent, "spec"), "replicas")), 6);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion")), "12");
	json_decref(sent);
	json_decref(out);

	/* always in conflict: KUBE_CONFLICT_TRIES reads and writes, then one line */
	{
		struct answer a[2 * KUBE_CONFLICT_TRIES + 1];
		for (int i = 0; i < KUBE_CONFLICT_TRIES; i++) {
			a[2 * i] = (struct answer){ 200, "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{}}" };
			a[2 * i + 1] = (struct answer){ 409, CONFLICT };
		}
		a[2 * KUBE_CONFLICT_TRIES] = (struct answer){ 200, "{}" };
		srv_script(G.srv, a, 2 * KUBE_CONFLICT_TRIES + 1);
	}
	b.calls = 0;
	assert_int_equal(kube_update(k, &deploy_a, bump_replicas, &b, &out), VIVA_ECONFLICT);
	assert_int_equal(nrec(G.srv), 2 * KUBE_CONFLICT_TRIES);
	assert_string_equal(kube_last_error(), "deployments.apps \"svc-a-green\" in namespace prod kept changing while "
			    "viva updated it (5 tries); try again");
	assert_null(out);

	/* nothing to change: nothing written */
	SCRIPT(G.srv, { 200, "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"replicas\":1}}" });
	b = (struct bump){ .unchanged = true };
	assert_int_equal(kube_update(k, &deploy_a, bump_replicas, &b, &out), VIVA_OK);
	assert_int_equal(nrec(G.srv), 1);
	assert_non_null(out);
	json_decref(out);
	/* another refusal of the write is not retried */
	SCRIPT(G.srv, { 200, "{\"metadata\":{},\"spec\":{}}" },
	       { 422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"code\":422,\"message\":\"bad\"}" });
	b = (struct bump){ 0 };
	assert_int_equal(kube_update(k, &deploy_a, bump_replicas, &b, &out), VIVA_EINVAL);
	assert_int_equal(nrec(G.srv), 2);
	kube_free(k);
}

static void retries__5xx_with_backoff_bounded_never_a_post(void **state)
{
	struct kube *k = client();
	json_t *obj = json_object(), *out = NULL;
	int64_t t0;

	(void)state;
	/* GET: 500, 502 then an answer; the waits double from 20 ms */
	SCRIPT(G.srv, { 500, "{}" }, { 502, "bad gateway" }, { 200, "{\"ok\":true}" });
	t0 = now_ms_mono();
	assert_int_equal(kube_get(k, &deploy_a, &out), VIVA_OK);
	assert_true(now_ms_mono() - t0 >= 60);
	assert_int_equal(nrec(G.srv), 3);
	json_decref(out);
	/* bounded: 1 + max_retries attempts */
	SCRIPT(G.srv, { 500, "{}" }, { 500, "{}" }, { 500, "{}" }, { 504, "{}" }, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, &out), VIVA_ETIMEOUT);
	assert_int_equal(nrec(G.srv), 4);
	assert_string_equal(kube_last_error(),
			    "cluster prod answered HTTP 504 to get deployments.apps \"svc-a-green\" in namespace prod");
	/* a POST or a JSON patch is not sent twice */
	SCRIPT(G.srv, { 500, "{\"kind\":\"Status\",\"message\":\"etcdserver: request timed out\",\"code\":500}" },
	       { 201, "{}" });
	assert_int_equal(kube_create(k, &(struct kube_ref){ &kube_configmaps, NULL, NULL, NULL }, obj, NULL),
			 VIVA_EREMOTE);
	assert_string_equal(kube_last_error(), "cluster prod: etcdserver: request timed out");
	assert_int_equal(nrec(G.srv), 1);
	SCRIPT(G.srv, { 502, "" }, { 200, "{}" });
	{
		json_t *ops = json_array();
		assert_int_equal(kube_patch(k, &deploy_a, KUBE_PATCH_JSON, ops, NULL, NULL), VIVA_EREMOTE);
		json_decref(ops);
	}
	assert_int_equal(nrec(G.srv), 1);
	/* a merge patch is */
	SCRIPT(G.srv, { 502, "" }, { 200, "{}" });
	assert_int_equal(kube_patch(k, &deploy_a, KUBE_PATCH_MERGE, obj, NULL, NULL), VIVA_OK);
	assert_int_equal(nrec(G.srv), 2);
	/* 429 and 503 with Retry-After: the HTTP layer waits and sends again */
	SCRIPT(G.srv, { 429, "{}", "Retry-After: 0\r\n" }, { 503, "{}", "Retry-After: 0\r\n" }, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_int_equal(nrec(G.srv), 3);
	/* a 429 that lasts is EBUSY, bounded */
	SCRIPT(G.srv, { 429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429,\"message\":\"too many "
			     "requests\"}", "Retry-After: 0\r\n" },
	       { 429, "{}", "Retry-After: 0\r\n" }, { 429, "{}", "Retry-After: 0\r\n" },
	       { 429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429,\"message\":\"too many "
		      "requests\"}", "Retry-After: 0\r\n" }, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_EBUSY);
	assert_int_equal(nrec(G.srv), 4);
	assert_string_equal(kube_last_error(), "cluster prod: too many requests");
	json_decref(obj);
	kube_free(k);
}

static void timeouts__silent_server_and_unreachable_name_the_cluster(void **state)
{
	struct kube_limits lim = fast;
	struct kube *k;
	char base[64], *want;
	int64_t t0;

	(void)state;
	lim.timeout_ms = 300;
	lim.max_retries = 0;
	k = client_at(G.srv->base, &lim);
	SCRIPT(G.srv, { .hang = true });
	t0 = now_ms_mono();
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_ETIMEOUT);
	assert_true(now_ms_mono() - t0 < 2500);
	want = xasprintf("the Kubernetes API of cluster prod at %s did not answer within 300 ms", G.srv->base);
	assert_string_equal(kube_last_error(), want);
	assert_int_equal(kube_last_status(), 0);
	free(want);
	kube_free(k);

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", dead_port());
	k = client_at(base, &fast);
	assert_int_equal(kube_version(k, NULL), VIVA_EUNAVAIL);
	want = xasprintf("the Kubernetes API of cluster prod at %s is not reachable (connection refused)", base);
	assert_string_equal(kube_last_error(), want);
	free(want);
	kube_free(k);
}

static void version__get_path(void **state)
{
	struct kube *k = client();
	json_t *v = NULL;

	(void)state;
	SCRIPT(G.srv, { 200, "{\"major\":\"1\",\"minor\":\"29\",\"gitVersion\":\"v1.29.2\"}" });
	assert_int_equal(kube_version(k, &v), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->target, "/version");
	assert_string_equal(json_string_value(json_object_get(v, "gitVersion")), "v1.29.2");
	json_decref(v);
	kube_free(k);
}

/* ---- credentials ---------------------------------------------------------------------------- */

#define UNAUTHORIZED "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":" \
	"\"Unauthorized\",\"code\":401}"

static void token_file__reread_once_on_401(void **state)
{
	char *dir = test_tmpdir(), *tok = xasprintf("%s/token", dir), err[512];
	struct kube_target t = { 0 };
	struct kube *k;

	(void)state;
	test_write_file(tok, "SECRET-OLD\n");
	t.cluster = xstrdup("prod");
	t.server = xstrdup(G.srv->base);
	t.namespace_ = xstrdup("prod");
	t.token_file = xstrdup(tok);
	t.auth_source = xasprintf("the token file %s", tok);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_non_null(k);
	SCRIPT(G.srv, { 200, "{}" }, { 401, UNAUTHORIZED }, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->auth, "Bearer SECRET-OLD");
	/* rotated: the cached token is refused, the file read again */
	test_write_file(tok, "SECRET-NEW\n");
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 1)->auth, "Bearer SECRET-OLD");
	assert_string_equal(rec(G.srv, 2)->auth, "Bearer SECRET-NEW");
	/* a token that stays refused: one retry, then one line naming the source */
	SCRIPT(G.srv, { 401, UNAUTHORIZED }, { 401, UNAUTHORIZED }, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_EAUTH);
	assert_int_equal(nrec(G.srv), 2);
	assert_contains(kube_last_error(), "cluster prod refused viva's credentials (the token file ");
	assert_not_contains(kube_last_error(), "SECRET");
	kube_free(k);
	test_rm_rf(dir);
	free(dir);
	free(tok);
}

static void exec_plugin__cached_token_rerun_once_on_401(void **state)
{
	char *dir = test_tmpdir(), *plugin = xasprintf("%s/plugin", dir), *kc = xasprintf("%s/config", dir);
	char *yaml, err[512], *script;
	struct kube_target t;
	struct kube *k;

	(void)state;
	/* each run prints the next token: SECRET-1, SECRET-2, ... */
	script = xasprintf("#!/bin/sh\necho run >> '%s/runs'\nn=$(wc -l < '%s/runs')\n"
			   "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			   "\"status\":{\"token\":\"SECRET-%%s\"}}' $n\n", dir, dir);
	test_write_file(plugin, script);
	assert_int_equal(chmod(plugin, 0755), 0);
	yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster: {server: '%s'}\n"
			 "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			 "users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, "
			 "command: ./plugin, interactiveMode: Never}\n", G.srv->base);
	test_write_file(kc, yaml);
	assert_int_equal(kubeconfig_load(kc, NULL, "eks", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_non_null(k);
	SCRIPT(G.srv, { 200, "{}" }, { 200, "{}" }, { 401, UNAUTHORIZED }, { 200, "{}" }, { 401, UNAUTHORIZED },
	       { 401, UNAUTHORIZED });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->auth, "Bearer SECRET-1");
	assert_string_equal(rec(G.srv, 1)->auth, "Bearer SECRET-1");
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 2)->auth, "Bearer SECRET-1");
	assert_string_equal(rec(G.srv, 3)->auth, "Bearer SECRET-2");
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_EAUTH);
	assert_string_equal(rec(G.srv, 5)->auth, "Bearer SECRET-3");
	assert_contains(kube_last_error(), "cluster eks refused viva's credentials (the credential plugin 'plugin'");
	{
		char *runs = xasprintf("%s/runs", dir), *s = slurp(runs);
		assert_string_equal(s, "run\nrun\nrun\n");
		free(s);
		free(runs);
	}
	kube_free(k);

	/* a plugin that fails: the request fails with its line, nothing sent */
	test_write_file(plugin, "#!/bin/sh\necho 'token expired, run aws sso login' >&2\nexit 1\n");
	assert_int_equal(kubeconfig_load(kc, NULL, "eks", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	SCRIPT(G.srv, { 200, "{}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_EAUTH);
	assert_string_equal(kube_last_error(), "cluster eks: the credential plugin 'plugin' failed (exit status 1): "
			    "token expired, run aws sso login");
	assert_int_equal(nrec(G.srv), 0);
	kube_free(k);
	test_rm_rf(dir);
	free(dir);
	free(plugin);
	free(kc);
	free(yaml);
	free(script);
}

struct worker {
	struct kube *k;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 3; i++)
		if (kube_get(w->k, &deploy_a, NULL) == VIVA_OK)
			w->ok++;
	return NULL;
}

static void exec_plugin__threads_share_one_run(void **state)
{
	char *dir = test_tmpdir(), *plugin = xasprintf("%s/plugin", dir), *kc = xasprintf("%s/config", dir);
	char *yaml, *script, err[512], *runs;
	struct answer a[24];
	struct worker w[8];
	pthread_t th[8];
	struct kube_target t;
	struct kube *k;

	(void)state;
	script = xasprintf("#!/bin/sh\necho run >> '%s/runs'\nsleep 0.2\n"
			   "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			   "\"status\":{\"token\":\"SECRET-ONE\"}}'\n", dir);
	test_write_file(plugin, script);
	assert_int_equal(chmod(plugin, 0755), 0);
	yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster: {server: '%s'}\n"
			 "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			 "users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, "
			 "command: ./plugin, interactiveMode: Never}\n", G.srv->base);
	test_write_file(kc, yaml);
	assert_int_equal(kubeconfig_load(kc, NULL, "eks", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_non_null(k);
	for (int i = 0; i < 24; i++)
		a[i] = (struct answer){ 200, "{}" };
	srv_script(G.srv, a, 24);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .k = k };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, 3);
	}
	assert_int_equal(nrec(G.srv), 24);
	for (int i = 0; i < 24; i++)
		assert_string_equal(rec(G.srv, i)->auth, "Bearer SECRET-ONE");
	runs = xasprintf("%s/runs", dir);
	free(yaml);
	yaml = slurp(runs);
	assert_string_equal(yaml, "run\n");
	kube_free(k);
	test_rm_rf(dir);
	free(runs);
	free(dir);
	free(plugin);
	free(kc);
	free(yaml);
	free(script);
}

/* ---- TLS ----------------------------------------------------------------------------------------- */

static void tls__client_certificate_from_kubeconfig_and_exec(void **state)
{
	char *cert = xasprintf("%s/ip.pem", G.dir), *key = xasprintf("%s/ip.key", G.dir);
	char *ca = xasprintf("%s/ca.pem", G.dir), *dir = test_tmpdir(), *kc = xasprintf("%s/config", dir);
	struct tls_front_opts o = { .upstream_port = G.srv->port, .api_cert = cert, .api_key = key, .link_cert = cert,
				    .link_key = key, .api_client_ca = ca };
	struct tls_front *front = tls_front_start(&o);
	char base[64], err[512], *yaml, *ca64, *cert64, *key64, *answer, *plugin;
	struct kube_target t;
	struct kube *k;
	json_t *j;

	(void)state;
	assert_non_null(front);
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", tls_front_api_port(front));
	ca64 = kube_base64_encode((const unsigned char *)G.ca_pem, strlen(G.ca_pem));
	cert64 = kube_base64_encode((const unsigned char *)G.cert_pem, strlen(G.cert_pem));
	key64 = kube_base64_encode((const unsigned char *)G.key_pem, strlen(G.key_pem));

	/* three contexts on one cluster: client-certificate-data + client-key-data
	 * (the CA as data), a token alone, an exec plugin */
	{
		char *full = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster: {server: '%s', "
				       "certificate-authority-data: %s}\ncontexts:\n"
				       "- name: c\n  context: {cluster: cl, user: u}\n"
				       "- name: nocert\n  context: {cluster: cl, user: nocert}\n"
				       "- name: exec\n  context: {cluster: cl, user: exec}\n"
				       "users:\n- name: u\n  user: {client-certificate-data: %s, client-key-data: %s}\n"
				       "- name: nocert\n  user: {token: SECRET-T}\n"
				       "- name: exec\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
				       "command: ./plugin}\n", base, ca64, cert64, key64);
		test_write_file(kc, full);
		free(full);
	}
	SCRIPT(G.srv, { 200, "{\"major\":\"1\"}" }, { 200, "{\"major\":\"1\"}" }, { 200, "{\"major\":\"1\"}" },
	       { 200, "{\"major\":\"1\"}" });
	assert_int_equal(kubeconfig_load(kc, "c", "tls", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_non_null(k);
	/* twice: a second connection resumes the TLS session */
	assert_int_equal(kube_version(k, NULL), VIVA_OK);
	assert_int_equal(kube_version(k, NULL), VIVA_OK);
	kube_free(k);

	/* no client certificate: refused by the server's TLS, one line */
	assert_int_equal(kubeconfig_load(kc, "nocert", "tls", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_int_equal(kube_version(k, NULL), VIVA_EUNAVAIL);
	assert_contains(kube_last_error(), "the Kubernetes API of cluster tls at https://127.0.0.1:");
	assert_contains(kube_last_error(), "client certificate");
	kube_free(k);

	/* an exec plugin that gives a client certificate */
	j = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", KUBE_EXEC_V1BETA1, "kind", "ExecCredential", "status",
		      "clientCertificateData", G.cert_pem, "clientKeyData", G.key_pem);
	answer = json_dumps(j, 0);
	json_decref(j);
	{
		char *ans = xasprintf("%s/answer.json", dir);
		test_write_file(ans, answer);
		plugin = xasprintf("%s/plugin", dir);
		yaml = xasprintf("#!/bin/sh\ncat '%s'\n", ans);
		test_write_file(plugin, yaml);
		assert_int_equal(chmod(plugin, 0755), 0);
		free(ans);
		free(yaml);
	}
	assert_int_equal(kubeconfig_load(kc, "exec", "tls", &t, err, sizeof(err)), VIVA_OK);
	k = kube_new(&t, &fast, err, sizeof(err));
	assert_int_equal(kube_version(k, NULL), VIVA_OK);
	assert_int_equal(kube_version(k, NULL), VIVA_OK);
	assert_int_equal(nrec(G.srv), 4);
	assert_string_equal(rec(G.srv, 3)->target, "/version");
	assert_string_equal(rec(G.srv, 3)->auth, "");
	kube_free(k);

	tls_front_stop(front);
	test_rm_rf(dir);
	free(dir);
	free(kc);
	free(plugin);
	free(answer);
	free(ca64);
	free(cert64);
	free(key64);
	free(cert);
	free(key);
	free(ca);
}

/* ---- clusters and environments --------------------------------------------------------------------- */

static void clients__one_per_cluster_chosen_per_environment(void **state)
{
	char *dir = test_tmpdir(), *kc = xasprintf("%s/config", dir), *yaml, err[512];
	struct viva_config cfg;
	struct kube_clients *set = NULL;
	struct kube *k = NULL;
	const char *ns = NULL;

	(void)state;
	yaml = xasprintf("current-context: dev\nclusters:\n- name: d\n  cluster: {server: '%s'}\n"
			 "- name: p\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
			 "contexts:\n- name: dev\n  context: {cluster: d, user: u, namespace: alpha}\n"
			 "- name: prod\n  context: {cluster: p, user: u}\n"
			 "users:\n- name: u\n  user: {token: SECRET-T}\n", G.srv->base);
	test_write_file(kc, yaml);
	config_defaults(&cfg);
	cfg.n_clusters = 2;
	cfg.clusters = xcalloc(2, sizeof(*cfg.clusters));
	cfg.clusters[0] = (struct config_cluster){ xstrdup("dev"), xstrdup(kc), xstrdup("dev") };
	cfg.clusters[1] = (struct config_cluster){ xstrdup("prod"), xstrdup(kc), xstrdup("prod") };
	cfg.n_environments = 2;
	cfg.environments = xcalloc(2, sizeof(*cfg.environments));
	cfg.environments[0] = (struct config_env){ xstrdup("alpha"), xstrdup("dev"), xstrdup("alpha") };
	cfg.environments[1] = (struct config_env){ xstrdup("prod"), xstrdup("prod"), xstrdup("prod") };
	assert_int_equal(kube_clients_new(&cfg, NULL, &fast, &set, err, sizeof(err)), VIVA_OK);
	assert_int_equal(kube_for_env(set, &cfg, "alpha", &k, &ns), VIVA_OK);
	assert_string_equal(k->cluster, "dev");
	assert_string_equal(ns, "alpha");
	SCRIPT(G.srv, { 200, "{}" });
	assert_int_equal(kube_get(k, &(struct kube_ref){ &kube_deployments, ns, "svc-a-blue", NULL }, NULL), VIVA_OK);
	assert_string_equal(rec(G.srv, 0)->target, "/apis/apps/v1/namespaces/alpha/deployments/svc-a-blue");
	assert_int_equal(kube_for_env(set, &cfg, "prod", &k, &ns), VIVA_OK);
	assert_string_equal(k->cluster, "prod");
	assert_ptr_equal(kube_clients_get(set, "prod"), k);
	assert_int_equal(kube_for_env(set, &cfg, "staging", &k, &ns), VIVA_ENOENT);
	assert_string_equal(kube_last_error(), "viva.yaml has no environment 'staging' (add it under environments)");
	kube_clients_free(set);

	/* one cluster that cannot be resolved stops it all, naming it */
	free(cfg.clusters[1].context);
	cfg.clusters[1].context = xstrdup("nope");
	assert_int_equal(kube_clients_new(&cfg, NULL, &fast, &set, err, sizeof(err)), VIVA_ENOENT);
	assert_contains(err, "cluster prod: context 'nope' not found in kubeconfig");
	assert_null(set);
	config_release(&cfg);
	test_rm_rf(dir);
	free(dir);
	free(kc);
	free(yaml);
}

/* ---- a fake through the same ops --------------------------------------------------------------------- */

struct fake {
	struct kube base;
	json_t *obj;
	int gets, replaces, conflicts_left;
};

static int fake_get(struct kube *k, const struct kube_ref *ref, json_t **out)
{
	struct fake *f = (struct fake *)k;

	(void)ref;
	f->gets++;
	*out = json_deep_copy(f->obj);
	return VIVA_OK;
}

static int fake_replace(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
			json_t **out)
{
	struct fake *f = (struct fake *)k;
	static const char conflict[] = "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"modified\"}";

	(void)o;
	f->replaces++;
	if (f->conflicts_left-- > 0)
		return kube_status_error(k, ref, "update", 409, conflict, sizeof(conflict) - 1);
	json_decref(f->obj);
	f->obj = json_deep_copy(obj);
	if (out)
		*out = json_deep_copy(obj);
	return VIVA_OK;
}

static int fake_del(struct kube *k, const struct kube_ref *ref, const struct kube_write_opts *o, json_t **out)
{
	(void)k;
	(void)ref;
	(void)o;
	(void)out;
	return VIVA_EREMOTE;   /* and no message: the entry point supplies one */
}

static const struct kube_ops fake_ops = { .get = fake_get, .replace = fake_replace, .del = fake_del };

static void fake__entry_points_work_through_any_ops(void **state)
{
	struct fake f = { .base = { .ops = &fake_ops, .cluster = "fake", .ns = "alpha" }, .conflicts_left = 2 };
	struct bump b = { 0 };
	json_t *out = NULL;

	(void)state;
	f.obj = json_pack("{s:{s:i}}", "spec", "replicas", 1);
	assert_int_equal(kube_update(&f.base, &deploy_a, bump_replicas, &b, &out), VIVA_OK);
	assert_int_equal(f.gets, 3);
	assert_int_equal(f.replaces, 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(f.obj, "spec"), "replicas")), 2);
	json_decref(out);
	assert_int_equal(kube_delete(&f.base, &deploy_a, NULL, NULL), VIVA_EREMOTE);
	assert_string_equal(kube_last_error(), "cluster fake: the Kubernetes call failed: remote error");
	assert_int_equal(kube_list(&f.base, &(struct kube_ref){ &kube_pods, NULL, NULL, NULL }, NULL, &out), VIVA_EINVAL);
	assert_string_equal(kube_last_error(), "cluster fake: this client cannot do that");
	kube_free(&f.base);   /* no free op: nothing happens */
	json_decref(f.obj);
}

/* ---- logs ---------------------------------------------------------------------------------------------- */

static void logs__never_a_token(void **state)
{
	char path[] = "/tmp/viva-kube-log-XXXXXX", *logged = NULL;
	int fd = mkstemp(path);
	enum log_level old = log_get_level();
	struct kube *k;

	(void)state;
	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);
	k = client();
	SCRIPT(G.srv, { 500, "{}" }, { 401, UNAUTHORIZED }, { 404, "{\"kind\":\"Status\",\"code\":404,\"reason\":"
							  "\"NotFound\",\"message\":\"x\"}" });
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_EAUTH);
	assert_int_equal(kube_get(k, &deploy_a, NULL), VIVA_ENOENT);
	kube_free(k);
	log_set_fd(2);
	log_set_level(old);
	close(fd);
	logged = slurp(path);
	unlink(path);
	assert_contains(logged, "cluster=prod");
	assert_not_contains(logged, "SECRET");
	assert_not_contains(logged, "svc-a-green");
	free(logged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths__core_groups_namespaces_subresources),
		cmocka_unit_test(names__refused_before_any_request),
		cmocka_unit_test(get__path_token_accept_and_answer),
		cmocka_unit_test(list__selectors_limit_continue_encoded),
		cmocka_unit_test(list_all__follows_continue_bounded),
		cmocka_unit_test(create__post_json_with_field_manager),
		cmocka_unit_test(patch__content_type_per_type_and_apply_query),
		cmocka_unit_test(delete__propagation_policy_in_delete_options),
		cmocka_unit_test(scale__subresource_read_and_merge_patched),
		cmocka_unit_test(evict__eviction_api_pdb_429_at_once),
		cmocka_unit_test(status__api_status_as_one_line),
		cmocka_unit_test(update__409_retried_on_a_fresh_read_bounded),
		cmocka_unit_test(retries__5xx_with_backoff_bounded_never_a_post),
		cmocka_unit_test(timeouts__silent_server_and_unreachable_name_the_cluster),
		cmocka_unit_test(version__get_path),
		cmocka_unit_test(token_file__reread_once_on_401),
		cmocka_unit_test(exec_plugin__cached_token_rerun_once_on_401),
		cmocka_unit_test(exec_plugin__threads_share_one_run),
		cmocka_unit_test(tls__client_certificate_from_kubeconfig_and_exec),
		cmocka_unit_test(clients__one_per_cluster_chosen_per_environment),
		cmocka_unit_test(fake__entry_points_work_through_any_ops),
		cmocka_unit_test(logs__never_a_token),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
