/*
 * The fake Kubernetes API server (tests/kube/) driven by the real kubectl:
 * kubectl runs as a child process with a clean environment (PATH, a fresh
 * HOME), a kubeconfig written by the fake, a timeout, and its JSON output
 * is what the tests check. What kubectl cannot send (a wrong Content-Type,
 * a malformed body, an apply without fieldManager, an eviction) goes
 * through libcurl. Every test skips, saying why, when kubectl is missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/times.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KUBECTL_TIMEOUT_MS 60000
#define TOKEN "fake-token-123"

static const char *kubectl_bin;

struct fx {
	struct fake_kube *k;
	char *home;                  /* kubectl's HOME (its discovery cache) */
};

struct run {
	int status;                  /* exit code; -1 on timeout */
	char *out;
	char *err;
};

static void run_release(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* ---- running kubectl -------------------------------------------------------------- */

static void run_argv(struct run *r, const char *home, char **argv, const char *input)
{
	int in[2], out[2], err[2];
	pid_t pid;
	struct strbuf so, se;
	int64_t end = now_ms_mono() + KUBECTL_TIMEOUT_MS;
	bool out_open = true, err_open = true;
	int st = 0;
	char *envhome = xasprintf("HOME=%s", home);
	char *env[] = { "PATH=/usr/bin:/bin", envhome, "LANG=C", NULL };

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execve(argv[0], argv, env);
		_exit(127);
	}
	free(envhome);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (input) {
		size_t n = strlen(input), off = 0;
		while (off < n) {
			ssize_t w = write(in[1], input + off, n - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	close(in[1]);
	sb_init(&so);
	sb_init(&se);
	while ((out_open || err_open) && now_ms_mono() < end) {
		struct pollfd pf[2] = { { .fd = out_open ? out[0] : -1, .events = POLLIN },
					{ .fd = err_open ? err[0] : -1, .events = POLLIN } };
		char buf[8192];
		if (poll(pf, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(i == 0 ? out[0] : err[0], buf, sizeof(buf));
			if (n > 0)
				sb_add(i == 0 ? &so : &se, buf, (size_t)n);
			else if (i == 0)
				out_open = false;
			else
				err_open = false;
		}
	}
	close(out[0]);
	close(err[0]);
	if (out_open || err_open) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		r->status = -1;
	} else {
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	r->out = sb_detach(&so);
	r->err = sb_detach(&se);
}

/* kubectl --kubeconfig KC <args> (split like a shell line, quotes kept) */
static void kubectl_in(struct fx *f, const char *kubeconfig, struct run *r, const char *input, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void kubectl_in(struct fx *f, const char *kubeconfig, struct run *r, const char *input, const char *fmt, ...)
{
	va_list ap;
	char *line, *full;
	int argc;
	char **argv;

	va_start(ap, fmt);
	assert_true(vasprintf(&line, fmt, ap) >= 0);
	va_end(ap);
	full = xasprintf("'%s' --kubeconfig '%s' --request-timeout=20s %s", kubectl_bin, kubeconfig, line);
	assert_int_equal(argv_split(full, 64, &argc, &argv), 0);
	run_argv(r, f->home, argv, input);
	if (r->status != 0 && getenv("KUBE_FAKE_VERBOSE"))
		fprintf(stderr, "kubectl %s -> %d\n%s%s", line, r->status, r->out, r->err);
	argv_free(argv);
	free(line);
	free(full);
}

#define kubectl(f, r, ...) kubectl_in((f), fake_kube_kubeconfig((f)->k), (r), NULL, __VA_ARGS__)
#define kubectl_stdin(f, r, input, ...) kubectl_in((f), fake_kube_kubeconfig((f)->k), (r), (input), __VA_ARGS__)

static json_t *kubectl_json(struct fx *f, const char *fmt, const char *arg)
{
	struct run r;
	json_t *j;

	kubectl(f, &r, fmt, arg);
	if (r.status != 0)
		fprintf(stderr, "kubectl failed (%d): %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, NULL);
	if (!j)
		fprintf(stderr, "not JSON: %s\n", r.out);
	assert_non_null(j);
	run_release(&r);
	return j;
}

/* ---- raw HTTP, for what kubectl never sends ------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	sb_add(arg, p, size * n);
	return size * n;
}

/* method path with a body of content type; the answer parsed (NULL if not JSON), *code set */
static json_t *raw(struct fx *f, const char *method, const char *path, const char *ctype, const char *body, long *code)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct strbuf sb;
	char *url = xasprintf("%s%s", fake_kube_url(f->k), path), *hdr;
	json_t *j;

	sb_init(&sb);
	h = curl_slist_append(h, "Authorization: Bearer " TOKEN);
	if (ctype) {
		hdr = xasprintf("Content-Type: %s", ctype);
		h = curl_slist_append(h, hdr);
		free(hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CAINFO, fake_kube_ca_file(f->k));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	*code = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
	j = json_loads(sb.buf, 0, NULL);
	sb_release(&sb);
	return j;
}

static const char *jstr(json_t *j, const char *path)
{
	char *p = xstrdup(path), *save = NULL, *part;
	json_t *cur = j;
	const char *out;

	for (part = strtok_r(p, ".", &save); part && cur; part = strtok_r(NULL, ".", &save)) {
		char *end;
		long idx = strtol(part, &end, 10);
		cur = (*end == '\0' && json_is_array(cur)) ? json_array_get(cur, (size_t)idx) : json_object_get(cur, part);
	}
	free(p);
	out = json_string_value(cur);
	return out ? out : "";
}

static json_int_t jint(json_t *j, const char *path)
{
	char *p = xstrdup(path), *save = NULL, *part;
	json_t *cur = j;

	for (part = strtok_r(p, ".", &save); part && cur; part = strtok_r(NULL, ".", &save)) {
		char *end;
		long idx = strtol(part, &end, 10);
		cur = (*end == '\0' && json_is_array(cur)) ? json_array_get(cur, (size_t)idx) : json_object_get(cur, part);
	}
	free(p);
	return json_integer_value(cur);
}

/* The condition of a type in status.conditions (borrowed). */
static json_t *condition(json_t *obj, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "status"), "conditions"), i, c)
		if (strcmp(jstr(c, "type"), type) == 0)
			return c;
	return NULL;
}

/* ---- fixtures -------------------------------------------------------------------------- */

static const char DEPLOY[] =
	"apiVersion: apps/v1\n"
	"kind: Deployment\n"
	"metadata:\n"
	"  name: svc-a-blue\n"
	"  labels: {app: svc-a, viva/slot: blue}\n"
	"spec:\n"
	"  replicas: 2\n"
	"  selector: {matchLabels: {app: svc-a, viva/slot: blue}}\n"
	"  template:\n"
	"    metadata: {labels: {app: svc-a, viva/slot: blue}}\n"
	"    spec:\n"
	"      containers:\n"
	"      - name: app\n"
	"        image: registry.local/team/svc-a:%s\n"
	"        ports: [{containerPort: 8080}]\n"
	"        resources: {requests: {cpu: 50m, memory: 1Gi}}\n";

/* The Deployment for name (svc-a-SLOT): labels viva/slot=SLOT, image tag. */
static char *deploy_yaml(const char *name, const char *tag)
{
	char *y = xasprintf(DEPLOY, tag), *out;
	const char *slot = strrchr(name, '-') ? strrchr(name, '-') + 1 : name;
	struct strbuf sb;
	const char *p = y;

	sb_init(&sb);
	for (const char *hit; (hit = strstr(p, "blue")); p = hit + 4) {
		sb_add(&sb, p, (size_t)(hit - p));
		sb_adds(&sb, slot);
	}
	sb_adds(&sb, p);
	out = sb_detach(&sb);
	free(y);
	assert_true(strncmp(name, "svc-a-", 6) == 0);
	return out;
}

static int setup_opts(void **state, const struct fake_kube_opts *o)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->k = fake_kube_start(o);
	assert_non_null(f->k);
	f->home = test_tmpdir();
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct fake_kube_opts o = { .tls = true, .token = TOKEN };
	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	fake_kube_stop(f->k);
	test_rm_rf(f->home);
	free(f->home);
	free(f);
	return 0;
}

#define NEED_KUBECTL()                                                                                   \
	do {                                                                                             \
		if (!kubectl_bin) {                                                                      \
			print_message("kubectl is not installed (make deps installs it): skipped\n");   \
			skip();                                                                          \
		}                                                                                        \
	} while (0)

static void apply_file(struct fx *f, const char *yaml, const char *flags)
{
	struct run r;

	kubectl_stdin(f, &r, yaml, "apply %s -f - -o json", flags);
	if (r.status != 0)
		fprintf(stderr, "apply failed: %s\n", r.err);
	assert_int_equal(r.status, 0);
	run_release(&r);
}

/* ---- discovery and get ----------------------------------------------------------------- */

static void get__namespaces_and_discovery__json_list(void **state)
{
	struct fx *f = *state;
	json_t *l, *log, *e;
	size_t i;
	bool aggregated = false, legacy_v1 = false;

	NEED_KUBECTL();
	l = kubectl_json(f, "get namespaces -o %s", "json");
	assert_string_equal(jstr(l, "kind"), "List");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 4);
	assert_string_equal(jstr(l, "items.0.metadata.name"), "default");
	assert_string_equal(jstr(l, "items.0.status.phase"), "Active");
	json_decref(l);
	/* kubectl 1.32 took the aggregated discovery documents: no /api/v1 resource list needed */
	log = fake_kube_requests(f->k);
	json_array_foreach(log, i, e) {
		if (strcmp(jstr(e, "path"), "/api") == 0)
			aggregated = true;
		if (strcmp(jstr(e, "path"), "/api/v1") == 0)
			legacy_v1 = true;
	}
	assert_true(aggregated);
	assert_false(legacy_v1);
	json_decref(log);
	assert_int_equal(fake_kube_count(f->k, "list", "namespaces"), 1);
	/* what kubeadm publishes for nodes that join: the CA, in kube-public/cluster-info */
	l = fake_kube_get(f->k, "configmaps", "kube-public", "cluster-info");
	assert_non_null(l);
	assert_non_null(strstr(jstr(l, "data.kubeconfig"), "certificate-authority-data: LS0tLS1CRUdJTi"));
	assert_non_null(strstr(jstr(l, "data.kubeconfig"), fake_kube_url(f->k)));
	json_decref(l);
	/* api-resources reads the same documents */
	{
		struct run r;
		kubectl(f, &r, "api-resources -o name");
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "deployments.apps\n"));
		assert_non_null(strstr(r.out, "cronjobs.batch\n"));
		assert_non_null(strstr(r.out, "leases.coordination.k8s.io\n"));
		assert_non_null(strstr(r.out, "poddisruptionbudgets.policy\n"));
		run_release(&r);
	}
}

static void get__missing__not_found_status(void **state)
{
	struct fx *f = *state;
	struct run r;
	json_t *st;
	long code;

	NEED_KUBECTL();
	kubectl(f, &r, "get deployment svc-a-green -o json");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error from server (NotFound): deployments.apps \"svc-a-green\" not found"));
	run_release(&r);
	/* after a 404 kubectl asks for the namespace, and says that one is missing */
	kubectl(f, &r, "get deployment svc-a-green -n prod -o json");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error from server (NotFound): namespaces \"prod\" not found"));
	run_release(&r);
	st = raw(f, "GET", "/apis/apps/v1/namespaces/default/deployments/svc-a-green", NULL, NULL, &code);
	assert_int_equal(code, 404);
	assert_string_equal(jstr(st, "kind"), "Status");
	assert_string_equal(jstr(st, "status"), "Failure");
	assert_string_equal(jstr(st, "reason"), "NotFound");
	assert_string_equal(jstr(st, "message"), "deployments.apps \"svc-a-green\" not found");
	assert_string_equal(jstr(st, "details.name"), "svc-a-green");
	assert_string_equal(jstr(st, "details.group"), "apps");
	assert_string_equal(jstr(st, "details.kind"), "deployments");
	assert_int_equal(jint(st, "code"), 404);
	json_decref(st);
	st = raw(f, "GET", "/apis/apps/v1/namespaces/default/widgets", NULL, NULL, &code);
	assert_int_equal(code, 404);
	assert_string_equal(jstr(st, "message"), "the server could not find the requested resource");
	json_decref(st);
}

static void auth__wrong_token__unauthorized(void **state)
{
	struct fx *f = *state;
	struct run r;
	char *kc = xasprintf("%s/wrong.kubeconfig", f->home);
	char *text;
	json_t *st;
	long code;
	FILE *fp;

	NEED_KUBECTL();
	/* the fake's kubeconfig with another token */
	assert_non_null(fp = fopen(fake_kube_kubeconfig(f->k), "r"));
	text = xcalloc(1, 8192);
	assert_true(fread(text, 1, 8191, fp) > 0);
	fclose(fp);
	{
		char *at = strstr(text, TOKEN);
		assert_non_null(at);
		memcpy(at, "wrong-token-12", strlen(TOKEN));
	}
	test_write_file(kc, text);
	kubectl_in(f, kc, &r, NULL, "get deployments -o json");
	assert_int_equal(r.status, 1);
	/* discovery comes first: client-go words its 401 this way */
	assert_non_null(strstr(r.err, "error: You must be logged in to the server (the server has asked for the client "
				      "to provide credentials)"));
	run_release(&r);
	st = raw(f, "GET", "/api", NULL, NULL, &code);   /* with the right token */
	assert_int_equal(code, 200);
	json_decref(st);
	{
		CURL *c = curl_easy_init();
		char *url = xasprintf("%s/api/v1/namespaces", fake_kube_url(f->k));
		struct strbuf sb;
		sb_init(&sb);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, fake_kube_ca_file(f->k));
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		assert_int_equal(code, 401);
		st = json_loads(sb.buf, 0, NULL);
		assert_string_equal(jstr(st, "kind"), "Status");
		assert_string_equal(jstr(st, "reason"), "Unauthorized");
		assert_string_equal(jstr(st, "message"), "Unauthorized");
		json_decref(st);
		sb_release(&sb);
		curl_easy_cleanup(c);
		free(url);
	}
	free(text);
	free(kc);
}

/* ---- apply ----------------------------------------------------------------------------------- */

static void apply__client_side__creates_then_unchanged(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *d;
	uint64_t writes;

	NEED_KUBECTL();
	apply_file(f, y, "");
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_int_equal(jint(d, "metadata.generation"), 1);
	assert_int_equal(jint(d, "spec.replicas"), 2);
	/* what the API server fills in */
	assert_int_equal(jint(d, "spec.progressDeadlineSeconds"), 600);
	assert_string_equal(jstr(d, "spec.strategy.rollingUpdate.maxSurge"), "25%");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.imagePullPolicy"), "IfNotPresent");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.ports.0.protocol"), "TCP");
	assert_string_equal(jstr(d, "spec.template.spec.restartPolicy"), "Always");
	assert_true(json_is_null(json_object_get(json_object_get(json_object_get(json_object_get(d, "spec"), "template"),
								 "metadata"), "creationTimestamp")));
	assert_true(strlen(jstr(d, "metadata.uid")) == 36);
	json_decref(d);
	/* the same file again: kubectl finds nothing to patch, the store is not written */
	writes = fake_kube_store_writes(f->k);
	fake_kube_reset_counts(f->k);
	kubectl_stdin(f, &r, y, "apply -f -");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "deployment.apps/svc-a-blue unchanged"));
	run_release(&r);
	assert_int_equal(fake_kube_count_writes(f->k), 0);
	assert_int_equal(fake_kube_store_writes(f->k), writes);
	free(y);
	/* a changed image: one strategic merge patch */
	y = deploy_yaml("svc-a-blue", "2");
	apply_file(f, y, "");
	assert_int_equal(fake_kube_count(f->k, "patch", "deployments"), 1);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.image"), "registry.local/team/svc-a:2");
	assert_int_equal(jint(d, "metadata.generation"), 2);
	json_decref(d);
	free(y);
}

/*
 * deploy/kubernetes/viva.yaml, as an operator applies it: the API server
 * (here the fake, strict about field names) accepts every object in a
 * server-side dry run, and nothing is stored.
 */
static void deploy_manifests__server_dry_run__every_object_accepted(void **state)
{
	struct fx *f = *state;
	static const char *const objects[] = {
		"serviceaccount/viva", "clusterrole.rbac.authorization.k8s.io/viva-environment",
		"rolebinding.rbac.authorization.k8s.io/viva", "clusterrole.rbac.authorization.k8s.io/viva-nodes",
		"clusterrolebinding.rbac.authorization.k8s.io/viva-nodes", "role.rbac.authorization.k8s.io/viva-bootstrap-tokens",
		"rolebinding.rbac.authorization.k8s.io/viva-bootstrap-tokens", "role.rbac.authorization.k8s.io/viva-cluster-info",
		"rolebinding.rbac.authorization.k8s.io/viva-cluster-info", "configmap/viva-config", "persistentvolumeclaim/viva-state", "deployment.apps/viva",
	};
	struct run r;
	char *y = NULL;
	size_t len = 0;

	NEED_KUBECTL();
	assert_int_equal(read_file("deploy/kubernetes/viva.yaml", &y, &len), 0);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"viva\"}}"), 0);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}"), 0);
	kubectl_stdin(f, &r, y, "apply --dry-run=server --validate=strict -f -");
	if (r.status != 0)
		fprintf(stderr, "kubectl apply: %s%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		char *line = xasprintf("%s created (server dry run)", objects[i]);

		if (!strstr(r.out, line))
			fail_msg("kubectl's output lacks \"%s\":\n%s", line, r.out);
		free(line);
	}
	run_release(&r);
	kubectl(f, &r, "-n viva get deployment viva");
	assert_int_not_equal(r.status, 0);   /* a dry run stores nothing */
	run_release(&r);
	free(y);
}

static void apply__server_side__no_write_when_unchanged_and_conflicts(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-green", "1");
	struct run r;
	json_t *d, *mf;
	uint64_t writes;
	const char *rv;
	char *rv1;

	NEED_KUBECTL();
	apply_file(f, y, "--server-side");
	d = kubectl_json(f, "get deployment svc-a-green -o json --show-managed-%s", "fields");
	mf = json_object_get(json_object_get(d, "metadata"), "managedFields");
	assert_int_equal(json_array_size(mf), 1);
	assert_string_equal(jstr(mf, "0.manager"), "kubectl");
	assert_string_equal(jstr(mf, "0.operation"), "Apply");
	assert_non_null(json_object_get(json_object_get(json_object_get(json_array_get(mf, 0), "fieldsV1"), "f:spec"),
					"f:replicas"));
	rv1 = xstrdup(jstr(d, "metadata.resourceVersion"));
	json_decref(d);
	/* the same apply: one PATCH request, nothing written, resourceVersion and generation unchanged */
	writes = fake_kube_store_writes(f->k);
	fake_kube_reset_counts(f->k);
	apply_file(f, y, "--server-side");
	assert_int_equal(fake_kube_count(f->k, "patch", "deployments"), 1);
	assert_int_equal(fake_kube_store_writes(f->k), writes);
	d = kubectl_json(f, "get deployment svc-a-green -o %s", "json");
	rv = jstr(d, "metadata.resourceVersion");
	assert_string_equal(rv, rv1);
	assert_int_equal(jint(d, "metadata.generation"), 1);
	json_decref(d);
	free(rv1);
	/* another manager takes spec.replicas: the next apply conflicts, unless forced */
	kubectl(f, &r, "scale deployment svc-a-green --replicas=5");
	assert_int_equal(r.status, 0);
	run_release(&r);
	assert_int_equal(fake_kube_count(f->k, "patch", "deployments/scale"), 1);
	kubectl_stdin(f, &r, y, "apply --server-side -f -");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1"));
	assert_non_null(strstr(r.err, ": .spec.replicas"));
	run_release(&r);
	apply_file(f, y, "--server-side --force-conflicts");
	d = kubectl_json(f, "get deployment svc-a-green -o %s", "json");
	assert_int_equal(jint(d, "spec.replicas"), 2);
	json_decref(d);
	free(y);
	/* a field the manager stops applying goes */
	y = deploy_yaml("svc-a-green", "1");
	{
		char *cut = strstr(y, "        resources:");
		assert_non_null(cut);
		*cut = '\0';
	}
	apply_file(f, y, "--server-side");
	d = kubectl_json(f, "get deployment svc-a-green -o %s", "json");
	assert_null(json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(json_object_get(
		json_object_get(json_object_get(d, "spec"), "template"), "spec"), "containers"), 0), "resources"), "requests"),
		"cpu"));
	json_decref(d);
	free(y);
}

/* ---- patch --------------------------------------------------------------------------------- */

static void patch__merge_strategic_json__applied(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *d;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	/* merge: labels merge, null removes */
	kubectl(f, &r, "patch deployment svc-a-blue --type merge -p '{\"metadata\":{\"labels\":{\"team\":\"x\",\"app\":null}}}' -o json");
	assert_int_equal(r.status, 0);
	d = json_loads(r.out, 0, NULL);
	assert_string_equal(jstr(d, "metadata.labels.team"), "x");
	assert_null(json_object_get(json_object_get(json_object_get(d, "metadata"), "labels"), "app"));
	assert_string_equal(jstr(d, "metadata.labels.viva/slot"), "blue");
	json_decref(d);
	run_release(&r);
	/* strategic: containers merge by name, $patch: delete removes one */
	kubectl(f, &r, "patch deployment svc-a-blue --type strategic -p "
		       "'{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"side\",\"image\":\"busybox:1\"},"
		       "{\"name\":\"app\",\"image\":\"registry.local/team/svc-a:3\"}]}}}}' -o json");
	assert_int_equal(r.status, 0);
	d = json_loads(r.out, 0, NULL);
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.name"), "app");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.image"), "registry.local/team/svc-a:3");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.ports.0.protocol"), "TCP");
	assert_string_equal(jstr(d, "spec.template.spec.containers.1.name"), "side");
	assert_string_equal(jstr(d, "spec.template.spec.containers.1.imagePullPolicy"), "IfNotPresent");
	json_decref(d);
	run_release(&r);
	kubectl(f, &r, "patch deployment svc-a-blue -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":"
		       "[{\"name\":\"side\",\"$patch\":\"delete\"}]}}}}' -o json");
	assert_int_equal(r.status, 0);
	d = json_loads(r.out, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(json_object_get(d, "spec"),
		"template"), "spec"), "containers")), 1);
	json_decref(d);
	run_release(&r);
	/* json patch: replace, then a failing test op is 422 */
	kubectl(f, &r, "patch deployment svc-a-blue --type json -p '[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":4}]' -o json");
	assert_int_equal(r.status, 0);
	d = json_loads(r.out, 0, NULL);
	assert_int_equal(jint(d, "spec.replicas"), 4);
	assert_int_equal(jint(d, "metadata.generation"), 4);
	json_decref(d);
	run_release(&r);
	kubectl(f, &r, "patch deployment svc-a-blue --type json -p '[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":9}]'");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "the server rejected our request due to an error in our request"));
	run_release(&r);
	/* a wrong type is refused as Go's decoder refuses it */
	kubectl(f, &r, "patch deployment svc-a-blue --type merge -p '{\"spec\":{\"replicas\":\"3\"}}'");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"));
	run_release(&r);
	/* an invalid one as the validation refuses it */
	kubectl(f, &r, "patch deployment svc-a-blue --type merge -p '{\"spec\":{\"replicas\":-1}}'");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "The Deployment \"svc-a-blue\" is invalid: spec.replicas: Invalid value: -1: must be "
				      "greater than or equal to 0"));
	run_release(&r);
	{
		long code;
		json_t *st = raw(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/svc-a-blue",
				 "application/merge-patch+json", "{\"spec\":{\"replicas\":-1,\"template\":{\"spec\":"
				 "{\"containers\":[{\"name\":\"app\",\"image\":\"\"}]}}}}", &code);
		assert_int_equal(code, 422);
		assert_string_equal(jstr(st, "reason"), "Invalid");
		assert_string_equal(jstr(st, "message"), "Deployment.apps \"svc-a-blue\" is invalid: [spec.replicas: Invalid "
							 "value: -1: must be greater than or equal to 0, "
							 "spec.template.spec.containers[0].image: Required value]");
		assert_string_equal(jstr(st, "details.kind"), "Deployment");
		assert_string_equal(jstr(st, "details.causes.1.field"), "spec.template.spec.containers[0].image");
		assert_string_equal(jstr(st, "details.causes.1.reason"), "FieldValueRequired");
		json_decref(st);
	}
}

static void patch__raw__media_types_options_and_bodies_refused(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	const char *path = "/apis/apps/v1/namespaces/default/deployments/svc-a-blue";
	json_t *st;
	long code;

	(void)y;
	assert_int_equal(fake_kube_seed(f->k, y), 0);
	free(y);
	st = raw(f, "PATCH", path, "application/json", "{\"spec\":{}}", &code);
	assert_int_equal(code, 415);
	assert_string_equal(jstr(st, "reason"), "UnsupportedMediaType");
	assert_string_equal(jstr(st, "message"), "the body of the request was in an unknown format - accepted media types "
						 "include: application/json-patch+json, application/merge-patch+json, "
						 "application/strategic-merge-patch+json, application/apply-patch+yaml");
	json_decref(st);
	st = raw(f, "PATCH", path, "application/apply-patch+yaml", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}", &code);
	assert_int_equal(code, 422);
	assert_string_equal(jstr(st, "message"),
			    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
	json_decref(st);
	st = raw(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/svc-a-blue?force=true",
		 "application/merge-patch+json", "{}", &code);
	assert_int_equal(code, 422);
	assert_string_equal(jstr(st, "message"),
			    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch");
	json_decref(st);
	st = raw(f, "PATCH", path, "application/merge-patch+json", "{\"spec\":", &code);
	assert_int_equal(code, 400);
	assert_string_equal(jstr(st, "reason"), "BadRequest");
	json_decref(st);
	st = raw(f, "PATCH", path, "application/json-patch+json", "{\"op\":\"add\"}", &code);
	assert_int_equal(code, 400);
	json_decref(st);
	st = raw(f, "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", "not json", &code);
	assert_int_equal(code, 400);
	assert_non_null(strstr(jstr(st, "message"), "couldn't get version/kind; json parse error"));
	json_decref(st);
	st = raw(f, "POST", "/apis/apps/v1/namespaces/default/deployments", "text/plain", "{}", &code);
	assert_int_equal(code, 415);
	json_decref(st);
	/* a renamed object and a namespace moved by a patch */
	st = raw(f, "PATCH", path, "application/merge-patch+json", "{\"metadata\":{\"name\":\"other\"}}", &code);
	assert_int_equal(code, 400);
	assert_string_equal(jstr(st, "message"), "the name of the object (other) does not match the name on the URL (svc-a-blue)");
	json_decref(st);
	/* a stale resourceVersion in a patch is a precondition */
	st = raw(f, "PATCH", path, "application/merge-patch+json", "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"replicas\":3}}",
		 &code);
	assert_int_equal(code, 409);
	assert_string_equal(jstr(st, "message"), "Operation cannot be fulfilled on deployments.apps \"svc-a-blue\": the object "
						 "has been modified; please apply your changes to the latest version and try again");
	json_decref(st);
	/* server-side apply of an unknown field, and of a quantity the API refuses */
	st = raw(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/svc-a-blue?fieldManager=viva",
		 "application/apply-patch+yaml",
		 "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"svc-a-blue\"},\"spec\":{\"replicaz\":1}}",
		 &code);
	assert_int_equal(code, 500);
	assert_non_null(strstr(jstr(st, "message"), ".spec.replicaz: field not declared in schema"));
	json_decref(st);
	st = raw(f, "POST", "/api/v1/namespaces/default/pods", "application/json",
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
		 "\"image\":\"x:1\",\"resources\":{\"requests\":{\"memory\":\"1024MB\"}}}]}}", &code);
	assert_int_equal(code, 400);
	assert_non_null(strstr(jstr(st, "message"), "quantities must match the regular expression"));
	json_decref(st);
}

/* ---- scale, delete, selectors, paging, conflicts -------------------------------------------------- */

static void scale_and_delete__subresource_then_garbage_collected(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *d, *l;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	kubectl(f, &r, "scale deployment svc-a-blue --replicas=3");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "deployment.apps/svc-a-blue scaled"));
	run_release(&r);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_int_equal(jint(d, "spec.replicas"), 3);
	json_decref(d);
	fake_kube_settle(f->k, 20);
	l = kubectl_json(f, "get pods -l app=svc-a -o %s", "json");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 3);
	assert_string_equal(jstr(l, "items.0.metadata.ownerReferences.0.kind"), "ReplicaSet");
	json_decref(l);
	kubectl(f, &r, "delete deployment svc-a-blue");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "deployment.apps \"svc-a-blue\" deleted"));
	run_release(&r);
	fake_kube_settle(f->k, 20);
	l = kubectl_json(f, "get replicasets,pods -o %s", "json");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
	json_decref(l);
	kubectl(f, &r, "delete deployment svc-a-blue");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "deployments.apps \"svc-a-blue\" not found"));
	run_release(&r);
}

static void list__label_selectors_and_chunks(void **state)
{
	struct fx *f = *state;
	json_t *l, *log, *e;
	size_t i;
	int lists = 0;

	NEED_KUBECTL();
	for (int n = 0; n < 5; n++) {
		char *cm = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-%d\","
				     "\"labels\":{\"app\":\"%s\",\"tier\":\"t%d\"}},\"data\":{\"k\":\"v\"}}",
				     n, n % 2 ? "odd" : "even", n);
		assert_int_equal(fake_kube_seed(f->k, cm), 0);
		free(cm);
	}
	l = kubectl_json(f, "get configmaps -l %s -o json", "app=odd");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	l = kubectl_json(f, "get configmaps -l %s -o json", "'tier in (t0,t4),app!=odd'");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	assert_string_equal(jstr(l, "items.0.metadata.name"), "cm-0");
	assert_string_equal(jstr(l, "items.1.metadata.name"), "cm-4");
	json_decref(l);
	l = kubectl_json(f, "get configmaps --field-selector %s -o json", "metadata.name=cm-3");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	fake_kube_reset_counts(f->k);
	l = kubectl_json(f, "get configmaps --chunk-size=%s -o json", "2");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 5);
	for (int n = 0; n < 5; n++) {
		char name[16];
		snprintf(name, sizeof(name), "cm-%d", n);
		assert_string_equal(jstr(json_array_get(json_object_get(l, "items"), (size_t)n), "metadata.name"), name);
	}
	json_decref(l);
	log = fake_kube_requests(f->k);
	json_array_foreach(log, i, e)
		if (strcmp(jstr(e, "verb"), "list") == 0) {
			lists++;
			assert_non_null(strstr(jstr(e, "query"), "limit=2"));
		}
	assert_int_equal(lists, 3);
	json_decref(log);
	{
		struct run r;
		kubectl(f, &r, "get pods --field-selector spec.bogus=x");
		assert_int_equal(r.status, 1);
		assert_non_null(strstr(r.err, "field label not supported: spec.bogus"));
		run_release(&r);
	}
}

static void replace__stale_resource_version__conflict(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	char *old;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	kubectl(f, &r, "get deployment svc-a-blue -o json");
	assert_int_equal(r.status, 0);
	old = xstrdup(r.out);
	run_release(&r);
	kubectl(f, &r, "scale deployment svc-a-blue --replicas=4");
	run_release(&r);
	kubectl_stdin(f, &r, old, "replace -f -");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error from server (Conflict): error when replacing \"STDIN\": Operation cannot be "
				      "fulfilled on deployments.apps \"svc-a-blue\": the object has been modified; please apply "
				      "your changes to the latest version and try again"));
	run_release(&r);
	free(old);
	/* a Lease may not be updated without a resourceVersion */
	{
		json_t *st;
		long code;
		assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
						      "\"metadata\":{\"name\":\"viva-scheduler\"},\"spec\":{\"holderIdentity\":\"a\"}}"), 0);
		st = raw(f, "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/viva-scheduler", "application/json",
			 "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"viva-scheduler\"},"
			 "\"spec\":{\"holderIdentity\":\"b\"}}", &code);
		assert_int_equal(code, 422);
		assert_string_equal(jstr(st, "message"), "leases.coordination.k8s.io \"viva-scheduler\" is invalid: "
							 "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
		json_decref(st);
	}
}

/* ---- the rollout simulator ---------------------------------------------------------------------- */

static void rollout__ready_then_never_ready_image_exceeds_deadline(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *d, *c;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_null(json_object_get(json_object_get(d, "status"), "observedGeneration"));
	json_decref(d);
	fake_kube_settle(f->k, 20);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_int_equal(jint(d, "status.observedGeneration"), 1);
	assert_int_equal(jint(d, "status.replicas"), 2);
	assert_int_equal(jint(d, "status.updatedReplicas"), 2);
	assert_int_equal(jint(d, "status.readyReplicas"), 2);
	assert_int_equal(jint(d, "status.availableReplicas"), 2);
	c = condition(d, "Available");
	assert_string_equal(jstr(c, "status"), "True");
	c = condition(d, "Progressing");
	assert_string_equal(jstr(c, "reason"), "NewReplicaSetAvailable");
	json_decref(d);
	kubectl(f, &r, "rollout status deployment/svc-a-blue --timeout=10s");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "successfully rolled out"));
	run_release(&r);
	/* an image that never gets ready: the old pods stay, the deadline passes */
	fake_kube_never_ready(f->k, "registry.local/team/svc-a:bad", true);
	y = deploy_yaml("svc-a-blue", "bad");
	apply_file(f, y, "");
	free(y);
	fake_kube_settle(f->k, 20);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_int_equal(jint(d, "status.observedGeneration"), 2);
	assert_int_equal(jint(d, "status.updatedReplicas"), 1);
	assert_int_equal(jint(d, "status.availableReplicas"), 2);
	assert_string_equal(jstr(condition(d, "Progressing"), "reason"), "ReplicaSetUpdated");
	json_decref(d);
	fake_kube_advance(f->k, 601);
	fake_kube_step(f->k, 1);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	c = condition(d, "Progressing");
	assert_string_equal(jstr(c, "status"), "False");
	assert_string_equal(jstr(c, "reason"), "ProgressDeadlineExceeded");
	assert_non_null(strstr(jstr(c, "message"), "has timed out progressing."));
	assert_string_equal(jstr(condition(d, "Available"), "status"), "True");
	json_decref(d);
	kubectl(f, &r, "rollout status deployment/svc-a-blue --timeout=10s");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "exceeded its progress deadline"));
	run_release(&r);
	d = kubectl_json(f, "get pods -l app=svc-a -o %s", "json");
	assert_int_equal(json_array_size(json_object_get(d, "items")), 3);
	json_decref(d);
}

/* ---- faults ---------------------------------------------------------------------------------- */

static void faults__500_409_hang_close__then_recovered(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *d;

	NEED_KUBECTL();
	apply_file(f, y, "");
	fake_kube_fault(f->k, "GET", "/apis/apps/v1/namespaces/*/deployments/svc-a-blue", FK_FAULT_500, 1, 0);
	kubectl(f, &r, "get deployment svc-a-blue -o json");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error from server (InternalError)"));
	run_release(&r);
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	json_decref(d);
	/* a conflict on the next patch: kubectl apply reads again and patches again */
	free(y);
	y = deploy_yaml("svc-a-blue", "2");
	fake_kube_reset_counts(f->k);
	fake_kube_fault(f->k, "PATCH", "*/deployments/svc-a-blue", FK_FAULT_409, 1, 0);
	kubectl_stdin(f, &r, y, "apply -f -");
	assert_int_equal(r.status, 0);
	run_release(&r);
	assert_int_equal(fake_kube_count(f->k, "patch", "deployments"), 2);
	/* two in a row: it gives up after its retries, with the API's message */
	fake_kube_fault(f->k, "PATCH", "*/deployments/svc-a-blue", FK_FAULT_409, 10, 0);
	free(y);
	y = deploy_yaml("svc-a-blue", "3");
	kubectl_stdin(f, &r, y, "apply -f -");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Operation cannot be fulfilled on deployments.apps \"svc-a-blue\": the object has "
				      "been modified"));
	run_release(&r);
	fake_kube_clear_faults(f->k);
	/* a hang longer than the client waits, then a closed connection */
	fake_kube_fault(f->k, "GET", "*/deployments/svc-a-blue", FK_FAULT_HANG, 1, 3000);
	kubectl_in(f, fake_kube_kubeconfig(f->k), &r, NULL, "get deployment svc-a-blue --request-timeout=1s -o json");
	assert_int_equal(r.status, 1);
	run_release(&r);
	/* client-go retries a GET on a closed connection; a PATCH it does not */
	fake_kube_fault(f->k, "GET", "*/deployments/svc-a-blue", FK_FAULT_CLOSE, 1, 0);
	kubectl(f, &r, "get deployment svc-a-blue -o json");
	assert_int_equal(r.status, 0);
	run_release(&r);
	fake_kube_fault(f->k, "PATCH", "*/deployments/svc-a-blue", FK_FAULT_CLOSE, 1, 0);
	kubectl(f, &r, "patch deployment svc-a-blue --type merge -p '{\"spec\":{\"paused\":false}}'");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "EOF"));
	run_release(&r);
	{
		json_t *log = fake_kube_requests(f->k), *e;
		size_t i;
		int hang = 0, closed = 0;
		json_array_foreach(log, i, e) {
			hang += strcmp(jstr(e, "fault"), "hang") == 0;
			closed += strcmp(jstr(e, "fault"), "close") == 0;
		}
		assert_int_equal(hang, 1);
		assert_int_equal(closed, 2);
		json_decref(log);
	}
	apply_file(f, y, "");
	d = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_string_equal(jstr(d, "spec.template.spec.containers.0.image"), "registry.local/team/svc-a:3");
	json_decref(d);
	free(y);
}

/* ---- eviction and namespaces ---------------------------------------------------------------------- */

static void eviction__disruption_budget__too_many_requests(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	json_t *pods, *st;
	long code;
	char *path;

	assert_int_equal(fake_kube_seed(f->k, y), 0);
	free(y);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\","
					      "\"metadata\":{\"name\":\"svc-a\"},\"spec\":{\"minAvailable\":2,"
					      "\"selector\":{\"matchLabels\":{\"app\":\"svc-a\"}}}}"), 0);
	fake_kube_settle(f->k, 20);
	pods = fake_kube_list(f->k, "pods", "default", "app=svc-a");
	assert_int_equal(json_array_size(pods), 2);
	path = xasprintf("/api/v1/namespaces/default/pods/%s/eviction", jstr(pods, "0.metadata.name"));
	st = raw(f, "POST", path, "application/json", "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\"}", &code);
	assert_int_equal(code, 429);
	assert_string_equal(jstr(st, "reason"), "TooManyRequests");
	assert_string_equal(jstr(st, "message"), "Cannot evict pod as it would violate the pod's disruption budget.");
	assert_string_equal(jstr(st, "details.causes.0.reason"), "DisruptionBudget");
	assert_string_equal(jstr(st, "details.causes.0.message"), "The disruption budget svc-a needs 2 healthy pods and has 2 currently");
	json_decref(st);
	free(path);
	/* scaled up, one may go */
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}"), 0);
	{
		char *p2 = xasprintf("/api/v1/namespaces/default/pods/%s/eviction", jstr(pods, "1.metadata.name"));
		json_t *sc = raw(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/svc-a-blue/scale",
				 "application/merge-patch+json", "{\"spec\":{\"replicas\":3}}", &code);
		assert_int_equal(code, 200);
		assert_string_equal(jstr(sc, "kind"), "Scale");
		assert_int_equal(jint(sc, "spec.replicas"), 3);
		json_decref(sc);
		fake_kube_settle(f->k, 20);
		st = raw(f, "POST", p2, "application/json", "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\"}", &code);
		assert_int_equal(code, 201);
		assert_string_equal(jstr(st, "status"), "Success");
		json_decref(st);
		free(p2);
	}
	json_decref(pods);
	/* a namespace being deleted takes no new objects, then goes with its content */
	st = raw(f, "DELETE", "/api/v1/namespaces/prod", NULL, NULL, &code);
	assert_int_equal(code, 200);
	assert_string_equal(jstr(st, "status.phase"), "Terminating");
	json_decref(st);
	st = raw(f, "POST", "/api/v1/namespaces/prod/configmaps", "application/json",
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}", &code);
	assert_int_equal(code, 403);
	assert_string_equal(jstr(st, "message"), "configmaps \"c\" is forbidden: unable to create new content in namespace "
						 "prod because it is being terminated");
	json_decref(st);
	fake_kube_settle(f->k, 10);
	st = fake_kube_get(f->k, "namespaces", NULL, "prod");
	assert_null(st);
	st = raw(f, "DELETE", "/api/v1/namespaces/default", NULL, NULL, &code);
	assert_int_equal(code, 403);
	json_decref(st);
}

/*
 * Evicting unready pods, as the API server decides it: by default
 * (IfHealthyBudget) only while the budget is met, with AlwaysAllow always;
 * the pod gets the DisruptionTarget condition.
 */
static void eviction__unready_pods__unhealthy_pod_eviction_policy(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "bad"), *path;
	json_t *pods, *st, *p;
	long code;

	fake_kube_never_ready(f->k, "registry.local/team/svc-a:bad", true);
	assert_int_equal(fake_kube_seed(f->k, y), 0);
	free(y);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\","
					      "\"metadata\":{\"name\":\"svc-a\"},\"spec\":{\"minAvailable\":1,"
					      "\"selector\":{\"matchLabels\":{\"app\":\"svc-a\"}}}}"), 0);
	fake_kube_settle(f->k, 20);
	pods = fake_kube_list(f->k, "pods", "default", "app=svc-a");
	assert_int_equal(json_array_size(pods), 2);
	path = xasprintf("/api/v1/namespaces/default/pods/%s/eviction", jstr(pods, "0.metadata.name"));
	/* no pod healthy, one wanted: the budget is not met, an unready pod may not go either */
	st = raw(f, "POST", path, "application/json", "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\"}", &code);
	assert_int_equal(code, 429);
	assert_string_equal(jstr(st, "details.causes.0.message"), "The disruption budget svc-a needs 1 healthy pods and has 0 currently");
	json_decref(st);
	st = raw(f, "PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/svc-a", "application/merge-patch+json",
		 "{\"spec\":{\"unhealthyPodEvictionPolicy\":\"AlwaysAllow\"}}", &code);
	assert_int_equal(code, 200);
	json_decref(st);
	st = raw(f, "POST", path, "application/json", "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\"}", &code);
	assert_int_equal(code, 201);
	json_decref(st);
	p = fake_kube_get(f->k, "pods", "default", jstr(pods, "0.metadata.name"));
	assert_true(jstr(p, "metadata.deletionTimestamp")[0] != '\0');
	assert_string_equal(jstr(condition(p, "DisruptionTarget"), "reason"), "EvictionByEvictionAPI");
	json_decref(p);
	free(path);
	json_decref(pods);
}

/* ---- client certificates ------------------------------------------------------------------------ */

static int setup_cert(void **state)
{
	struct fake_kube_opts o = { .tls = true, .client_cert = true, .token = TOKEN };
	return setup_opts(state, &o);
}

static void auth__client_certificate__signed_by_ca_only(void **state)
{
	struct fx *f = *state;
	char *crt = xasprintf("%s/u.crt", f->home), *key = xasprintf("%s/u.key", f->home);
	char *kc = xasprintf("%s/cert.kubeconfig", f->home), *text;
	struct run r;
	json_t *st;
	long code;

	NEED_KUBECTL();
	assert_int_equal(fake_kube_client_cert(f->k, "alice", "system:masters", crt, key, 1), 0);
	text = xasprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n"
			 "    certificate-authority: %s\nusers:\n- name: u\n  user:\n    client-certificate: %s\n"
			 "    client-key: %s\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
			 fake_kube_url(f->k), fake_kube_ca_file(f->k), crt, key);
	test_write_file(kc, text);
	kubectl_in(f, kc, &r, NULL, "get namespaces -o name");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "namespace/default"));
	run_release(&r);
	st = raw(f, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "application/json",
		 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}", &code);
	assert_int_equal(code, 201);
	assert_string_equal(jstr(st, "status.userInfo.username"), "token-user");
	json_decref(st);
	/* the same review over the certificate (kubectl auth whoami sends protobuf) */
	{
		CURL *c = curl_easy_init();
		char *url = xasprintf("%s/apis/authentication.k8s.io/v1/selfsubjectreviews", fake_kube_url(f->k));
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
		struct strbuf sb;
		sb_init(&sb);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, fake_kube_ca_file(f->k));
		curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		st = json_loads(sb.buf, 0, NULL);
		assert_string_equal(jstr(st, "status.userInfo.username"), "alice");
		json_decref(st);
		sb_release(&sb);
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
		free(url);
	}
	/* a certificate of another CA fails the handshake */
	{
		struct fake_kube_opts o = { .tls = true };
		struct fake_kube *other = fake_kube_start(&o);
		char *ocrt = xasprintf("%s/o.crt", f->home), *okey = xasprintf("%s/o.key", f->home);
		char *otext;
		assert_non_null(other);
		assert_int_equal(fake_kube_client_cert(other, "mallory", "system:masters", ocrt, okey, 1), 0);
		otext = xasprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n"
				  "    certificate-authority: %s\nusers:\n- name: u\n  user:\n    client-certificate: %s\n"
				  "    client-key: %s\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
				  fake_kube_url(f->k), fake_kube_ca_file(f->k), ocrt, okey);
		test_write_file(kc, otext);
		kubectl_in(f, kc, &r, NULL, "get namespaces -o name");
		assert_int_equal(r.status, 1);
		assert_null(strstr(r.out, "namespace/default"));
		run_release(&r);
		fake_kube_stop(other);
		free(otext);
		free(ocrt);
		free(okey);
	}
	free(text);
	free(kc);
	free(crt);
	free(key);
}

static const char OBJS[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: svc-a, labels: {app: svc-a}}\n"
	"spec:\n"
	"  selector: {app: svc-a, viva/slot: blue}\n"
	"  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	"---\n"
	"apiVersion: batch/v1\n"
	"kind: CronJob\n"
	"metadata: {name: svc-a-settle-daily, labels: {app: svc-a}}\n"
	"spec:\n"
	"  schedule: \"0 3 * * *\"\n"
	"  jobTemplate:\n"
	"    spec:\n"
	"      template:\n"
	"        spec:\n"
	"          restartPolicy: OnFailure\n"
	"          containers: [{name: job, image: \"registry.local/team/svc-a:1\", command: [java, -jar, app.jar]}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Secret\n"
	"metadata: {name: sec}\n"
	"stringData: {pw: hunter2}\n";

static void apply__server_side__service_cronjob_secret_idempotent(void **state)
{
	struct fx *f = *state;
	uint64_t writes;
	json_t *o;
	struct run r;

	NEED_KUBECTL();
	apply_file(f, OBJS, "--server-side");
	writes = fake_kube_store_writes(f->k);
	apply_file(f, OBJS, "--server-side");
	assert_int_equal(fake_kube_store_writes(f->k), writes);
	o = kubectl_json(f, "get service svc-a -o %s", "json");
	assert_string_equal(jstr(o, "spec.type"), "ClusterIP");
	assert_string_equal(jstr(o, "spec.ports.0.protocol"), "TCP");
	assert_int_equal(jint(o, "spec.ports.0.targetPort"), 8080);
	assert_true(strncmp(jstr(o, "spec.clusterIP"), "10.96.", 6) == 0);
	json_decref(o);
	o = kubectl_json(f, "get secret sec -o %s", "json");
	assert_string_equal(jstr(o, "data.pw"), "aHVudGVyMg==");
	assert_string_equal(jstr(o, "type"), "Opaque");
	json_decref(o);
	o = kubectl_json(f, "get cronjob svc-a-settle-daily -o %s", "json");
	assert_string_equal(jstr(o, "spec.concurrencyPolicy"), "Allow");
	assert_int_equal(jint(o, "spec.successfulJobsHistoryLimit"), 3);
	assert_string_equal(jstr(o, "spec.jobTemplate.spec.template.spec.containers.0.imagePullPolicy"), "IfNotPresent");
	json_decref(o);
	/* batch promotion: the CronJob's image, patched as viva will */
	kubectl(f, &r, "patch cronjob svc-a-settle-daily --type strategic -p "
		       "'{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":"
		       "[{\"name\":\"job\",\"image\":\"registry.local/team/svc-a:2\"}]}}}}}}' -o json");
	assert_int_equal(r.status, 0);
	o = json_loads(r.out, 0, NULL);
	assert_string_equal(jstr(o, "spec.jobTemplate.spec.template.spec.containers.0.image"), "registry.local/team/svc-a:2");
	assert_string_equal(jstr(o, "spec.jobTemplate.spec.template.spec.containers.0.command.0"), "java");
	assert_int_equal(jint(o, "metadata.generation"), 2);
	json_decref(o);
	run_release(&r);
	/* a schedule the API refuses */
	kubectl(f, &r, "patch cronjob svc-a-settle-daily --type merge -p '{\"spec\":{\"schedule\":\"0 25 * * *\"}}'");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "spec.schedule: Invalid value: \"0 25 * * *\""));
	run_release(&r);
}

static void delete__cascade_foreground_and_orphan(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *o, *l;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	y = deploy_yaml("svc-a-green", "1");
	apply_file(f, y, "");
	free(y);
	fake_kube_settle(f->k, 20);
	/* foreground: the Deployment waits for its dependents */
	kubectl(f, &r, "delete deployment svc-a-blue --cascade=foreground --wait=false");
	assert_int_equal(r.status, 0);
	run_release(&r);
	o = kubectl_json(f, "get deployment svc-a-blue -o %s", "json");
	assert_string_equal(jstr(o, "metadata.finalizers.0"), "foregroundDeletion");
	assert_true(jstr(o, "metadata.deletionTimestamp")[0] != '\0');
	json_decref(o);
	fake_kube_settle(f->k, 20);
	kubectl(f, &r, "get deployment svc-a-blue");
	assert_int_equal(r.status, 1);
	run_release(&r);
	/* orphan: the ReplicaSet stays, without its owner */
	kubectl(f, &r, "delete deployment svc-a-green --cascade=orphan");
	assert_int_equal(r.status, 0);
	run_release(&r);
	fake_kube_settle(f->k, 20);
	l = kubectl_json(f, "get replicasets -l viva/slot=%s -o json", "green");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	assert_null(json_object_get(json_object_get(json_array_get(json_object_get(l, "items"), 0), "metadata"),
				    "ownerReferences"));
	json_decref(l);
	l = kubectl_json(f, "get pods -l viva/slot=%s -o json", "blue");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
	json_decref(l);
}

static void faults__429_retried_503_reported(void **state)
{
	struct fx *f = *state;
	struct run r;
	json_t *l;

	NEED_KUBECTL();
	/* 429 with Retry-After: client-go waits and asks again */
	fake_kube_reset_counts(f->k);
	fake_kube_fault(f->k, "GET", "/api/v1/namespaces/default/configmaps", FK_FAULT_429, 1, 1000);
	l = kubectl_json(f, "get configmaps -o %s", "json");
	json_decref(l);
	assert_int_equal(fake_kube_count(f->k, "list", "configmaps"), 2);
	fake_kube_fault(f->k, "GET", "/api/v1/namespaces/default/configmaps", FK_FAULT_503, 1, 0);
	kubectl(f, &r, "get configmaps -o json");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error from server (ServiceUnavailable)"));
	run_release(&r);
}

static int setup_ticking(void **state)
{
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = 100 };
	return setup_opts(state, &o);
}

static void rollout__status_watches_until_ready(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *log, *e;
	size_t i;
	bool watched = false;

	NEED_KUBECTL();
	apply_file(f, y, "");
	free(y);
	kubectl(f, &r, "rollout status deployment/svc-a-blue --timeout=20s");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "successfully rolled out"));
	run_release(&r);
	log = fake_kube_requests(f->k);
	json_array_foreach(log, i, e)
		if (strcmp(jstr(e, "verb"), "watch") == 0 && strcmp(jstr(e, "resource"), "deployments") == 0)
			watched = true;
	json_decref(log);
	assert_true(watched);
}

static void drain__cordons_evicts_and_respects_the_budget(void **state)
{
	struct fx *f = *state;
	char *y = deploy_yaml("svc-a-blue", "1");
	struct run r;
	json_t *n, *l;

	NEED_KUBECTL();
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
					      "\"kube-a-dc1-worker01\"},\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"v1.25.6\"},"
					      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"), 0);
	apply_file(f, y, "");
	free(y);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\","
					      "\"metadata\":{\"name\":\"svc-a\"},\"spec\":{\"minAvailable\":2,"
					      "\"selector\":{\"matchLabels\":{\"app\":\"svc-a\"}}}}"), 0);
	fake_kube_settle(f->k, 20);
	l = kubectl_json(f, "get pods --field-selector spec.nodeName=%s -o json", "kube-a-dc1-worker01");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	kubectl(f, &r, "drain kube-a-dc1-worker01 --timeout=2s");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Cannot evict pod as it would violate the pod's disruption budget."));
	run_release(&r);
	n = kubectl_json(f, "get node %s -o json", "kube-a-dc1-worker01");
	assert_true(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	assert_string_equal(jstr(n, "status.nodeInfo.kubeletVersion"), "v1.25.6");
	json_decref(n);
	kubectl(f, &r, "delete pdb svc-a");
	assert_int_equal(r.status, 0);
	run_release(&r);
	kubectl(f, &r, "drain kube-a-dc1-worker01 --timeout=20s --disable-eviction=false");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "evicted"));
	assert_non_null(strstr(r.out, "node/kube-a-dc1-worker01 drained"));
	run_release(&r);
	/* at least one refused by the budget, then both */
	assert_true(fake_kube_count(f->k, "create", "pods/eviction") >= 3);
	kubectl(f, &r, "uncordon kube-a-dc1-worker01");
	assert_int_equal(r.status, 0);
	run_release(&r);
}

/* ---- nodes and bootstrap tokens ------------------------------------------------------------------ */

static void nodes__get_cordon_uncordon__as_kubectl_does(void **state)
{
	struct fx *f = *state;
	struct run r;
	json_t *l, *n;

	NEED_KUBECTL();
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
					      "\"kube-a-dc1-worker01\",\"labels\":{\"viva/gpu\":\"true\"}},\"status\":{\"nodeInfo\":"
					      "{\"kubeletVersion\":\"v1.25.6\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"), 0);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
					      "\"kube-a-dc1-worker02\"},\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"v1.24.9\"},"
					      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}"), 0);
	l = kubectl_json(f, "get nodes -o %s", "json");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	assert_string_equal(jstr(l, "items.0.metadata.name"), "kube-a-dc1-worker01");
	assert_string_equal(jstr(l, "items.1.status.nodeInfo.kubeletVersion"), "v1.24.9");
	assert_string_equal(jstr(l, "items.1.status.conditions.0.status"), "False");
	json_decref(l);
	l = kubectl_json(f, "get nodes -l %s -o json", "viva/gpu=true");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	fake_kube_reset_counts(f->k);
	kubectl(f, &r, "cordon kube-a-dc1-worker01");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "node/kube-a-dc1-worker01 cordoned"));
	run_release(&r);
	kubectl(f, &r, "cordon kube-a-dc1-worker01");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "node/kube-a-dc1-worker01 already cordoned"));
	run_release(&r);
	assert_int_equal(fake_kube_count(f->k, "patch", "nodes"), 1);
	l = kubectl_json(f, "get nodes --field-selector %s -o json", "spec.unschedulable=true");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	assert_string_equal(jstr(l, "items.0.metadata.name"), "kube-a-dc1-worker01");
	json_decref(l);
	kubectl(f, &r, "uncordon kube-a-dc1-worker01");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "node/kube-a-dc1-worker01 uncordoned"));
	run_release(&r);
	n = fake_kube_get(f->k, "nodes", NULL, "kube-a-dc1-worker01");
	assert_null(json_object_get(json_object_get(n, "spec"), "unschedulable"));
	json_decref(n);
	kubectl(f, &r, "cordon kube-a-dc9-worker99");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "nodes \"kube-a-dc9-worker99\" not found"));
	run_release(&r);
}

/* The example of the Kubernetes documentation ("Authenticating with Bootstrap Tokens"). */
static const char BOOTSTRAP_SECRET[] =
	"apiVersion: v1\n"
	"kind: Secret\n"
	"metadata:\n"
	"  name: bootstrap-token-07401b\n"
	"  namespace: kube-system\n"
	"type: bootstrap.kubernetes.io/token\n"
	"stringData:\n"
	"  description: \"The default bootstrap token generated by 'kubeadm init'.\"\n"
	"  token-id: 07401b\n"
	"  token-secret: f395accd246ae52d\n"
	"  expiration: 2099-03-10T03:22:11Z\n"
	"  usage-bootstrap-authentication: \"true\"\n"
	"  usage-bootstrap-signing: \"true\"\n"
	"  auth-extra-groups: system:bootstrappers:worker,system:bootstrappers:ingress\n";

static const char WHOAMI[] = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}";

static void bootstrap_token__created_authenticates_and_signs_cluster_info(void **state)
{
	struct fx *f = *state;
	struct run r;
	json_t *j;

	NEED_KUBECTL();
	kubectl_stdin(f, &r, BOOTSTRAP_SECRET, "create -f - -o json");
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, NULL);
	/* stringData merged into data, base64, as the API server stores it */
	assert_string_equal(jstr(j, "data.token-id"), "MDc0MDFi");
	assert_null(json_object_get(j, "stringData"));
	json_decref(j);
	run_release(&r);
	j = kubectl_json(f, "-n kube-system get secret %s -o json", "bootstrap-token-07401b");
	assert_string_equal(jstr(j, "type"), "bootstrap.kubernetes.io/token");
	assert_string_equal(jstr(j, "data.usage-bootstrap-authentication"), "dHJ1ZQ==");
	json_decref(j);
	/* the token authenticates as the bootstrap user, in its groups (sorted) */
	/* --validate=false: the fake's OpenAPI documents leave authentication.k8s.io out */
	kubectl_stdin(f, &r, WHOAMI, "--token 07401b.f395accd246ae52d create --validate=false -f - -o json");
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, NULL);
	assert_string_equal(jstr(j, "status.userInfo.username"), "system:bootstrap:07401b");
	assert_string_equal(jstr(j, "status.userInfo.groups.0"), "system:bootstrappers");
	assert_string_equal(jstr(j, "status.userInfo.groups.1"), "system:bootstrappers:ingress");
	assert_string_equal(jstr(j, "status.userInfo.groups.2"), "system:bootstrappers:worker");
	assert_string_equal(jstr(j, "status.userInfo.groups.3"), "system:authenticated");
	json_decref(j);
	run_release(&r);
	kubectl(f, &r, "--token 07401b.f395accd246ae52e get ns");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Unauthorized"));
	run_release(&r);
	/* the API server takes a token Secret it cannot use (it validates only what any Secret has)... */
	kubectl_stdin(f, &r,
		      "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"bootstrap-token-zzzzzz\","
		      "\"namespace\":\"kube-system\"},\"type\":\"bootstrap.kubernetes.io/token\",\"stringData\":{\"token-id\":"
		      "\"abcdef\",\"token-secret\":\"0123456789abcdef\",\"usage-bootstrap-authentication\":\"true\"}}",
		      "create -f - -o json");
	assert_int_equal(r.status, 0);
	run_release(&r);
	/* ...which then authenticates nobody: its name is not bootstrap-token-<its id> */
	kubectl(f, &r, "--token abcdef.0123456789abcdef get ns");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Unauthorized"));
	run_release(&r);
	/* the bootstrap signer: cluster-info signed with the usable token only */
	fake_kube_step(f->k, 1);
	j = kubectl_json(f, "-n kube-public get configmap %s -o json", "cluster-info");
	assert_true(strncmp(jstr(j, "data.jws-kubeconfig-07401b"), "eyJhbGciOiJIUzI1NiIsImtpZCI6IjA3NDAxYiJ9..", 42) == 0);
	assert_null(json_object_get(json_object_get(j, "data"), "jws-kubeconfig-zzzzzz"));
	assert_null(json_object_get(json_object_get(j, "data"), "jws-kubeconfig-abcdef"));
	json_decref(j);
}

/* What kubectl drain makes of DaemonSet, mirror and bare pods on the fake. */
static void drain__daemonset_mirror_and_bare_pods__kubectl_filters(void **state)
{
	struct fx *f = *state;
	struct run r;
	json_t *ds, *node;
	char *pod;

	NEED_KUBECTL();
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}"), 0);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":"
					      "\"agent\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}}}}"), 0);
	ds = fake_kube_get(f->k, "daemonsets", "default", "agent");
	node = fake_kube_get(f->k, "nodes", NULL, "n1");
	pod = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"agent-n1\",\"ownerReferences\":"
			"[{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"name\":\"agent\",\"uid\":\"%s\",\"controller\":"
			"true}]},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"agent:1\"}]},"
			"\"status\":{\"phase\":\"Pending\"}}", jstr(ds, "metadata.uid"));
	assert_int_equal(fake_kube_seed(f->k, pod), 0);
	free(pod);
	pod = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"etcd-n1\",\"annotations\":"
			"{\"kubernetes.io/config.mirror\":\"0123abcd\"},\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":"
			"\"Node\",\"name\":\"n1\",\"uid\":\"%s\",\"controller\":true}]},\"spec\":{\"nodeName\":\"n1\","
			"\"containers\":[{\"name\":\"c\",\"image\":\"etcd:3\"}]},\"status\":{\"phase\":\"Pending\"}}",
			jstr(node, "metadata.uid"));
	assert_int_equal(fake_kube_seed(f->k, pod), 0);
	free(pod);
	json_decref(ds);
	json_decref(node);
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"scratch\"},"
					      "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]},"
					      "\"status\":{\"phase\":\"Pending\"}}"), 0);
	/* a mirror pod names its node: the API refuses one without */
	assert_int_equal(fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"m2\","
					      "\"annotations\":{\"kubernetes.io/config.mirror\":\"x\"}},\"spec\":{\"containers\":"
					      "[{\"name\":\"c\",\"image\":\"x:1\"}]}}"), 422);
	fake_kube_settle(f->k, 10);
	kubectl(f, &r, "drain n1 --timeout=10s");
	assert_int_equal(r.status, 1);
	/* (kubectl 1.32's own words, "cannot delete" twice) */
	assert_non_null(strstr(r.err, "Pods that declare no controller (use --force to override): default/scratch"));
	assert_non_null(strstr(r.err, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "
				      "default/agent-n1"));
	run_release(&r);
	kubectl(f, &r, "drain n1 --timeout=10s --ignore-daemonsets --force");
	/* one "Warning:" line whose parts come in either order (kubectl walks a map) */
	if (r.status != 0 || !strstr(r.err, "Warning: ") ||
	    !strstr(r.err, "ignoring DaemonSet-managed Pods: default/agent-n1"))
		fail_msg("kubectl drain: status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	assert_non_null(strstr(r.err, "deleting Pods that declare no controller: default/scratch"));
	assert_non_null(strstr(r.out, "pod/scratch evicted"));
	assert_null(strstr(r.out, "etcd-n1"));
	run_release(&r);
	assert_null(fake_kube_get(f->k, "pods", "default", "scratch"));
	{
		json_t *p = fake_kube_get(f->k, "pods", "default", "etcd-n1");
		assert_non_null(p);
		json_decref(p);
	}
}

static void *watch_changes(void *arg)
{
	struct fx *f = arg;
	long code;
	json_t *st;
	struct timespec ts = { 1, 200 * 1000000L };

	nanosleep(&ts, NULL);
	fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w1\",\"labels\":{\"app\":\"w\"}}}");
	st = raw(f, "PATCH", "/api/v1/namespaces/default/configmaps/w1", "application/merge-patch+json",
		 "{\"metadata\":{\"labels\":{\"app\":\"other\"}}}", &code);
	json_decref(st);
	fake_kube_seed(f->k, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w2\",\"labels\":{\"app\":\"x\"}}}");
	st = raw(f, "PATCH", "/api/v1/namespaces/default/configmaps/w2", "application/merge-patch+json",
		 "{\"metadata\":{\"labels\":{\"app\":\"w\"}}}", &code);
	json_decref(st);
	st = raw(f, "DELETE", "/api/v1/namespaces/default/configmaps/w2", NULL, NULL, &code);
	json_decref(st);
	return NULL;
}

static void watch__selector__entering_added_leaving_deleted(void **state)
{
	struct fx *f = *state;
	struct run r;
	pthread_t th;
	json_error_t err;
	const char *p;
	const char *want[][2] = { { "ADDED", "w1" }, { "DELETED", "w1" }, { "ADDED", "w2" }, { "DELETED", "w2" } };
	size_t n = 0;

	NEED_KUBECTL();
	assert_int_equal(pthread_create(&th, NULL, watch_changes, f), 0);
	kubectl(f, &r, "get configmaps -l app=w --watch --output-watch-events -o json --request-timeout=4s");
	pthread_join(th, NULL);
	/* one JSON event after another on stdout */
	p = r.out;
	while (*p && n < 8) {
		json_t *e = json_loads(p, JSON_DISABLE_EOF_CHECK, &err);
		if (!e)
			break;
		assert_true(n < 4);
		assert_string_equal(jstr(e, "type"), want[n][0]);
		assert_string_equal(jstr(e, "object.metadata.name"), want[n][1]);
		n++;
		json_decref(e);
		p += err.position;
		while (*p == '\n' || *p == ' ')
			p++;
	}
	if (n != 4)
		fprintf(stderr, "watch saw:\n%s%s", r.out, r.err);
	assert_int_equal(n, 4);
	run_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(get__namespaces_and_discovery__json_list, setup, teardown),
		cmocka_unit_test_setup_teardown(get__missing__not_found_status, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__wrong_token__unauthorized, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__client_side__creates_then_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(deploy_manifests__server_dry_run__every_object_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(apply__server_side__no_write_when_unchanged_and_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(patch__merge_strategic_json__applied, setup, teardown),
		cmocka_unit_test_setup_teardown(patch__raw__media_types_options_and_bodies_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(scale_and_delete__subresource_then_garbage_collected, setup, teardown),
		cmocka_unit_test_setup_teardown(list__label_selectors_and_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(replace__stale_resource_version__conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(rollout__ready_then_never_ready_image_exceeds_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(faults__500_409_hang_close__then_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(eviction__disruption_budget__too_many_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(eviction__unready_pods__unhealthy_pod_eviction_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__client_certificate__signed_by_ca_only, setup_cert, teardown),
		cmocka_unit_test_setup_teardown(apply__server_side__service_cronjob_secret_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(delete__cascade_foreground_and_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(faults__429_retried_503_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(rollout__status_watches_until_ready, setup_ticking, teardown),
		cmocka_unit_test_setup_teardown(drain__cordons_evicts_and_respects_the_budget, setup_ticking, teardown),
		cmocka_unit_test_setup_teardown(watch__selector__entering_added_leaving_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__get_cordon_uncordon__as_kubectl_does, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_token__created_authenticates_and_signs_cluster_info, setup,
						teardown),
		cmocka_unit_test_setup_teardown(drain__daemonset_mirror_and_bare_pods__kubectl_filters, setup_ticking,
						teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (access("/usr/bin/kubectl", X_OK) == 0)
		kubectl_bin = "/usr/bin/kubectl";
	else if (access("/usr/local/bin/kubectl", X_OK) == 0)
		kubectl_bin = "/usr/local/bin/kubectl";
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
