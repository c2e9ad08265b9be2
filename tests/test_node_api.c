/*
 * The node HTTP API (SPEC 10.3) end to end: `viva serve` as a process, as
 * installed, with VIVA_HTTP_LISTEN and VIVA_NODE_TOKEN, against the fake
 * Slack. Requests are sent as raw bytes (tests/proc.h http_raw), hostile
 * ones included; after each the endpoint and the Slack side still answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <regex.h>
#include <sys/stat.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"
#include "tests/serve_fx.h"

#define TOKEN "node-token-0123456789abcdef"

static int setup(void **state)
{
	return fx_setup(state, "VIVA_NODE_TOKEN=" TOKEN, NULL, true);
}

static int setup_no_token(void **state)
{
	return fx_setup(state, NULL, NULL, true);
}

/* A request of method and path with an optional Authorization value and JSON body. */
static char *req(struct fx *f, const char *method, const char *path, const char *auth, const char *body,
		 long *status)
{
	char *ah = auth ? xasprintf("Authorization: %s\r\n", auth) : xstrdup("");
	char *bh = body ? xasprintf("Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body))
			: xstrdup("");
	char *r = xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n%s", method, path, ah, bh,
			    body ? body : "");
	char *out = http_raw(f->http_port, r, strlen(r), status);

	free(ah);
	free(bh);
	free(r);
	return out;
}

/* The endpoint and the Slack side still answer. */
static void assert_still_serving(struct fx *f)
{
	long st;
	char *b = req(f, "GET", "/healthz", NULL, NULL, &st);

	assert_int_equal(st, 200);
	free(b);
	json_decref(fx_send_slash(f, "help", NULL));
	assert_true(fx_wait_state(f, "acks", 1, 5000));
}

static void assert_error(const char *body, const char *needle)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;

	assert_non_null(j);
	assert_true(json_is_string(json_object_get(j, "error")));
	if (!strstr(json_string_value(json_object_get(j, "error")), needle))
		fail_msg("error %s does not say \"%s\"", body, needle);
	json_decref(j);
}

static void node_api__token__checked_before_anything(void **state)
{
	struct fx *f = *state;
	long st;
	char *b;

	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", NULL, NULL, &st);
	assert_int_equal(st, 401);
	assert_error(b, "Bearer");
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer " TOKEN "x", NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer node-token", NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Basic " TOKEN, NULL, &st);
	assert_int_equal(st, 401);
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer wrong", "{\"phase\":\"join\"}", &st);
	assert_int_equal(st, 401);
	free(b);
	/* the token itself is never echoed or logged */
	{
		char *log = proc_log(&f->viva);
		assert_null(strstr(log, TOKEN));
		free(log);
	}
	assert_still_serving(f);
}

static void node_api__hostile_requests__refused_endpoint_stays_up(void **state)
{
	struct fx *f = *state;
	long st;
	char *b, *big;
	size_t n = 70 * 1024;

	/* a body over 64 KiB, said in Content-Length: 413 before it is read */
	big = xmalloc(n + 1);
	memset(big, 'a', n);
	big[n] = '\0';
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, big, &st);
	assert_int_equal(st, 413);
	free(b);
	/* the same sent chunked (no length up front): 413 once it passes the cap */
	{
		char *r = xasprintf("POST /v1/nodes/kube-a-dc1-worker01/report HTTP/1.1\r\nHost: x\r\n"
				    "Authorization: Bearer " TOKEN "\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
				    n, big);
		b = http_raw(f->http_port, r, strlen(r), &st);
		assert_int_equal(st, 413);
		free(b);
		free(r);
	}
	free(big);
	/* an empty body is answered too, not left waiting for one */
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, "", &st);
	assert_true(st >= 400 && st < 500);
	free(b);
	/* methods */
	b = req(f, "PUT", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, "{}", &st);
	assert_int_equal(st, 405);
	free(b);
	b = req(f, "DELETE", "/v1/bootstrap.sh", NULL, NULL, &st);
	assert_int_equal(st, 405);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/report", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 405);
	assert_error(b, "POST");
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer " TOKEN, "{}", &st);
	assert_int_equal(st, 405);
	free(b);
	/* names that are not node names, paths that lead nowhere */
	b = req(f, "GET", "/v1/nodes/KUBE_bad/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	assert_error(b, "node name");
	free(b);
	b = req(f, "GET", "/v1/nodes/../../etc/passwd", "Bearer " TOKEN, NULL, &st);
	assert_true(st == 404 || st == 400 || st == 403);
	free(b);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap/extra", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	free(b);
	b = req(f, "GET", "/v1/elsewhere", NULL, NULL, &st);
	assert_int_equal(st, 404);
	free(b);
	/* garbage where a request line should be: no crash */
	b = http_raw(f->http_port, "\x01\x02garbage\r\n\r\n", 13, &st);
	free(b);
	assert_still_serving(f);
}

/* Without VIVA_NODE_TOKEN the node routes are off, and say why; the script is still served. */
static void node_api__no_token__node_routes_off(void **state)
{
	struct fx *f = *state;
	long st;
	char *b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker01/bootstrap", "Bearer anything", NULL, &st);

	assert_int_equal(st, 503);
	assert_error(b, "VIVA_NODE_TOKEN");
	free(b);
	assert_still_serving(f);
}

/* ---- with cluster configs and a cluster: joins ---------------------------------------------- */

#define KTOKEN "kube-token-for-viva"
#define CLUSTER_A \
	"common:\n" \
	"  cluster: 1.25.6\n" \
	"  runcVersion: 1.1.9\n" \
	"  criVersion: 1.7.2\n" \
	"  cniPluginVersion: 1.3.0\n" \
	"  cudaVersion: \"12.2.1_535.86.10_linux\"\n" \
	"  clusterDNS: 10.96.0.10\n" \
	"  kubernetesCluster: dev\n" \
	"master:\n" \
	"  kube-a-dc1-master01: { address: 10.0.0.10 }\n" \
	"worker:\n" \
	"  kube-a-dc1-gpu-worker01: { gpu: true }\n" \
	"  old-node: { version: { kubernetes: 1.21.6 } }\n"

/* viva serving the node API; cluster a (clusters/a.yaml) joins through the fake as dev. */
static int setup_cluster(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = KTOKEN };
	char *path, *yaml;

	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	if (!f->kube)
		return -1;
	path = xasprintf("%s/clusters/a.yaml", f->dir);
	test_write_file(path, CLUSTER_A);
	free(path);
	yaml = xasprintf("channels: { nodes: C0NODES }\nclusters: { dev: { kubeconfig: %s } }\n"
			 "cluster_configs: %s/clusters\n", fake_kube_kubeconfig(f->kube), f->dir);
	fx_start_fake(f);
	fx_start_viva(f, "VIVA_NODE_TOKEN=" TOKEN, yaml);
	free(yaml);
	*state = f;
	return fx_wait_link(f);
}

static bool matches(const char *re, const char *s)
{
	regex_t r;
	bool ok;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = s && regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static json_t *get_bootstrap(struct fx *f, const char *host, long *st)
{
	char *path = xasprintf("/v1/nodes/%s/bootstrap", host);
	char *b = req(f, "GET", path, "Bearer " TOKEN, NULL, st);
	json_t *j = b ? json_loads(b, 0, NULL) : NULL;

	if (!j || *st != 200) {
		char *log = proc_log(&f->viva);
		fprintf(stderr, "GET %s: %ld %s\nviva's log:\n%s\n", path, *st, b ? b : "(nothing)", log);
		free(log);
	}
	if (!j)
		fail_msg("GET %s: %ld %s", path, *st, b ? b : "(nothing)");
	free(b);
	free(path);
	return j;
}

/* The hashes kubeadm would check, from the fake's CA file with the openssl CLI. */
static char *openssl_hash(struct fx *f)
{
	char *cmd = xasprintf("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
			      "sha256sum | cut -d' ' -f1", fake_kube_ca_file(f->kube));
	int status;
	char *out = test_run(cmd, &status), *h;

	assert_int_equal(status, 0);
	out[strcspn(out, "\n")] = '\0';
	h = xasprintf("sha256:%s", out);
	free(out);
	free(cmd);
	return h;
}

static void node_api__bootstrap__settings_files_and_a_fresh_token(void **state)
{
	struct fx *f = *state;
	long st;
	json_t *j = get_bootstrap(f, "kube-a-dc1-worker07", &st), *files, *file, *secret, *j2;
	const char *token, *want_keys[] = { "token-id", "token-secret", "usage-bootstrap-authentication",
					    "usage-bootstrap-signing", "auth-extra-groups", "expiration" };
	char *hash = openssl_hash(f), *log, id[7], *name;
	bool config_toml = false;
	size_t i;

	assert_int_equal(st, 200);
	assert_string_equal(json_string_value(json_object_get(j, "hostname")), "kube-a-dc1-worker07");
	assert_string_equal(json_string_value(json_object_get(j, "cluster")), "a");
	assert_string_equal(json_string_value(json_object_get(j, "datacenter")), "dc1");
	assert_string_equal(json_string_value(json_object_get(j, "role")), "worker");
	assert_true(json_is_false(json_object_get(j, "upgrade")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "settings"), "kubernetesVersion")),
			    "1.25.6");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "settings"), "clusterDNS")),
			    "10.96.0.10");
	files = json_object_get(j, "files");
	assert_true(json_array_size(files) > 3);
	json_array_foreach(files, i, file) {
		const char *p = json_string_value(json_object_get(file, "path"));
		assert_true(p && p[0] == '/');
		assert_true(matches("^0[0-7]{3}$", json_string_value(json_object_get(file, "mode"))));
		assert_true(json_is_string(json_object_get(file, "content")));
		assert_null(strstr(p, "kubelet.conf"));
		if (strcmp(p, "/etc/containerd/config.toml") == 0)
			config_toml = true;
	}
	assert_true(config_toml);
	/* join: the first master's address, a kubeadm-shaped token, the CA's hash as openssl computes it */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "join"), "apiServer")),
			    "10.0.0.10:6443");
	token = json_string_value(json_object_get(json_object_get(j, "join"), "token"));
	assert_true(matches("^[a-z0-9]{6}\\.[a-z0-9]{16}$", token));
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(j, "join"),
									      "caCertHashes"), 0)), hash);
	/* the Secret kubeadm would have made, in the cluster */
	memcpy(id, token, 6);
	id[6] = '\0';
	name = xasprintf("bootstrap-token-%s", id);
	secret = fake_kube_get(f->kube, "secrets", "kube-system", name);
	assert_non_null(secret);
	assert_string_equal(json_string_value(json_object_get(secret, "type")), "bootstrap.kubernetes.io/token");
	for (i = 0; i < sizeof(want_keys) / sizeof(want_keys[0]); i++)
		assert_non_null(json_object_get(json_object_get(secret, "data"), want_keys[i]));
	json_decref(secret);
	free(name);
	/* each bootstrap mints its own */
	j2 = get_bootstrap(f, "kube-a-dc1-worker07", &st);
	assert_int_equal(st, 200);
	assert_string_not_equal(json_string_value(json_object_get(json_object_get(j2, "join"), "token")), token);
	json_decref(j2);
	/* the token's id is logged, its secret never */
	log = proc_log(&f->viva);
	assert_non_null(strstr(log, id));
	assert_null(strstr(log, token + 7));
	free(log);
	/* a GPU worker listed by name, a master */
	j2 = get_bootstrap(f, "kube-a-dc1-gpu-worker01", &st);
	assert_true(json_is_true(json_object_get(json_object_get(j2, "settings"), "gpu")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j2, "settings"), "cudaVersion")),
			    "12.2.1_535.86.10_linux");
	json_decref(j2);
	j2 = get_bootstrap(f, "kube-a-dc1-master01", &st);
	assert_string_equal(json_string_value(json_object_get(j2, "role")), "master");
	json_decref(j2);
	json_decref(j);
	free(hash);
}

static void node_api__bootstrap_refusals__reasons_and_no_token(void **state)
{
	struct fx *f = *state;
	long st;
	json_t *secrets;
	char *b;

	/* a cluster nobody configured; a host that matches nothing */
	b = req(f, "GET", "/v1/nodes/kube-zz-dc1-worker01/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	assert_error(b, "kube-zz-dc1-worker01");
	free(b);
	b = req(f, "GET", "/v1/nodes/somebox/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 404);
	free(b);
	/* a version without node files: 422 naming it */
	b = req(f, "GET", "/v1/nodes/old-node/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 422);
	assert_error(b, "1.21.6");
	free(b);
	/* none of these minted a token */
	secrets = fake_kube_list(f->kube, "secrets", "kube-system", NULL);
	assert_int_equal(json_array_size(json_object_get(secrets, "items")), 0);
	json_decref(secrets);
	/* the cluster's API failing: 503 with the reason (the script tries again) */
	fake_kube_fault(f->kube, "POST", "/api/v1/namespaces/kube-system/secrets", FK_FAULT_500, 10, 0);
	b = req(f, "GET", "/v1/nodes/kube-a-dc1-worker02/bootstrap", "Bearer " TOKEN, NULL, &st);
	assert_int_equal(st, 503);
	assert_error(b, "cluster dev");
	free(b);
	fake_kube_clear_faults(f->kube);
	secrets = fake_kube_list(f->kube, "secrets", "kube-system", NULL);
	assert_int_equal(json_array_size(json_object_get(secrets, "items")), 0);
	json_decref(secrets);
	assert_still_serving(f);
}

/* The script viva serves, run as a node runs it: files written, kubeadm join called, the report posted. */
static void node_api__bootstrap_sh__joins_and_reports(void **state)
{
	struct fx *f = *state;
	char *url = xasprintf("http://127.0.0.1:%d/v1/bootstrap.sh", f->http_port);
	char *script, *root = xasprintf("%s/node", f->dir), *bin = xasprintf("%s/bin", f->dir), *path, *cmd;
	char *out, *calls, *content = NULL, *reported;
	json_t *posts, *v;
	long st;
	int status;
	size_t i;

	script = http_get(url, &st);
	assert_int_equal(st, 200);
	assert_non_null(strstr(script, "#!/bin/sh"));
	path = xasprintf("%s/bootstrap.sh", f->dir);
	test_write_file(path, script);
	free(script);
	/* stubs: kubeadm joins (and says it did), systemctl and kubelet answer */
	cmd = xasprintf("mkdir -p %s %s && cd %s && "
			"printf '#!/bin/sh\\necho \"$(basename $0) $*\" >> %s/calls\\n"
			"case \"$(basename $0) $1\" in \"kubelet --version\") echo Kubernetes v1.25.6;; "
			"\"kubeadm join\") echo \"This node has joined the cluster\";; esac\\nexit 0\\n' > stub && "
			"chmod 755 stub && ln -s stub kubeadm && ln -s stub systemctl && ln -s stub kubelet",
			root, bin, bin, f->dir);
	free(test_run(cmd, &status));
	assert_int_equal(status, 0);
	free(cmd);
	cmd = xasprintf("cd %s && env -i PATH=%s:/usr/bin:/bin VIVA_URL=http://127.0.0.1:%d VIVA_NODE_TOKEN=%s "
			"NODE_NAME=kube-a-dc1-worker09 NODE_ROOT=%s sh %s 2>&1", f->dir, bin, f->http_port, TOKEN,
			root, path);
	out = test_run(cmd, &status);
	if (status != 0)
		fail_msg("bootstrap.sh exited %d:\n%s", status, out);
	/* the files, under NODE_ROOT */
	free(path);
	path = xasprintf("%s/etc/containerd/config.toml", root);
	assert_int_equal(read_file(path, &content, NULL), 0);
	assert_non_null(strstr(content, "SystemdCgroup"));
	free(content);
	/* kubeadm join with the API server and a hash */
	free(path);
	path = xasprintf("%s/calls", f->dir);
	assert_int_equal(read_file(path, &calls, NULL), 0);
	assert_true(matches("kubeadm join 10\\.0\\.0\\.10:6443 --token [a-z0-9]{6}\\.[a-z0-9]{16} "
			    "--discovery-token-ca-cert-hash sha256:[0-9a-f]{64}", calls));
	free(calls);
	/* the report: in the nodes channel */
	assert_true(fx_wait_calls(f, "chat.postMessage", 1, 10000) >= 1);
	posts = fx_calls(f, "chat.postMessage");
	reported = NULL;
	json_array_foreach(posts, i, v) {
		char *b = json_dumps(json_object_get(v, "body"), 0);
		if (strstr(b, "C0NODES") && strstr(b, "kube-a-dc1-worker09 joined cluster a as a worker, kubelet v1.25.6"))
			reported = b;
		else
			free(b);
	}
	if (!reported)
		fail_msg("no join report in C0NODES:\n%s\nscript said:\n%s", json_dumps(posts, 0), out);
	free(reported);
	json_decref(posts);
	free(out);
	free(cmd);
	free(path);
	free(root);
	free(bin);
	free(url);
}

static void node_api__failed_join_report__decisive_lines_posted(void **state)
{
	struct fx *f = *state;
	long st;
	char *b;
	json_t *posts, *v;
	bool seen = false;
	size_t i;
	const char *body =
		"{\"phase\":\"join\",\"ok\":false,\"kubeletVersion\":\"\",\"output\":"
		"\"[preflight] Running pre-flight checks\\nerror execution phase preflight: some fatal errors\\n"
		"\\t[ERROR Port-10250]: Port 10250 is in use <script>\\nnoise\\n\"}";

	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker03/report", "Bearer " TOKEN, body, &st);
	assert_int_equal(st, 200);
	free(b);
	assert_true(fx_wait_calls(f, "chat.postMessage", 1, 10000) >= 1);
	posts = fx_calls(f, "chat.postMessage");
	json_array_foreach(posts, i, v) {
		char *t = json_dumps(json_object_get(v, "body"), 0);
		if (strstr(t, "kube-a-dc1-worker03 failed to join cluster a")) {
			seen = true;
			assert_non_null(strstr(t, "[ERROR Port-10250]: Port 10250 is in use &lt;script&gt;"));
			assert_non_null(strstr(t, "error execution phase preflight"));
			assert_null(strstr(t, "noise"));
			assert_null(strstr(t, "Running pre-flight"));
		}
		free(t);
	}
	assert_true(seen);
	json_decref(posts);
	/* malformed, unknown: refused, nothing posted */
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker03/report", "Bearer " TOKEN, "{\"phase\":\"join\"", &st);
	assert_int_equal(st, 400);
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker03/report", "Bearer " TOKEN, "{\"phase\":\"boot\",\"ok\":true}",
		&st);
	assert_int_equal(st, 400);
	assert_error(b, "phase");
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-zz-dc1-w1/report", "Bearer " TOKEN, "{\"phase\":\"join\",\"ok\":true}",
		&st);
	assert_int_equal(st, 404);
	free(b);
	fx_sleep_ms(300);
	assert_int_equal(fx_calls_n(f, "chat.postMessage"), 1);
	assert_still_serving(f);
}

/* SPEC 10.5: upgrade: true while a rolling upgrade wants the node's upgrade, until its successful report. */
static void node_api__upgrade_wanted__flag_until_successful_upgrade_report(void **state)
{
	struct fx *f = *state;
	long st;
	json_t *j;
	char *b;

	j = get_bootstrap(f, "kube-a-dc1-worker05", &st);
	assert_true(json_is_false(json_object_get(j, "upgrade")));
	json_decref(j);
	/* what handlers/node_upgrade.c records once the node is drained */
	fx_db_exec(f, "INSERT INTO node_upgrades(hostname, run_id, wanted_version, since) "
		      "VALUES ('kube-a-dc1-worker05', 1, '1.25.6', 1)");
	j = get_bootstrap(f, "kube-a-dc1-worker05", &st);
	assert_true(json_is_true(json_object_get(j, "upgrade")));
	json_decref(j);
	j = get_bootstrap(f, "kube-a-dc1-worker06", &st);   /* only that node */
	assert_true(json_is_false(json_object_get(j, "upgrade")));
	json_decref(j);
	/* a failed upgrade, or a join, leaves it wanted */
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker05/report", "Bearer " TOKEN,
		"{\"phase\":\"upgrade\",\"ok\":false,\"kubeletVersion\":\"\",\"output\":\"error execution phase x\"}", &st);
	assert_int_equal(st, 200);
	free(b);
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker05/report", "Bearer " TOKEN,
		"{\"phase\":\"join\",\"ok\":true,\"kubeletVersion\":\"v1.25.6\",\"output\":\"\"}", &st);
	assert_int_equal(st, 200);
	free(b);
	j = get_bootstrap(f, "kube-a-dc1-worker05", &st);
	assert_true(json_is_true(json_object_get(j, "upgrade")));
	json_decref(j);
	/* its successful upgrade report clears it */
	b = req(f, "POST", "/v1/nodes/kube-a-dc1-worker05/report", "Bearer " TOKEN,
		"{\"phase\":\"upgrade\",\"ok\":true,\"kubeletVersion\":\"v1.25.6\",\"output\":\"\"}", &st);
	assert_int_equal(st, 200);
	free(b);
	j = get_bootstrap(f, "kube-a-dc1-worker05", &st);
	assert_true(json_is_false(json_object_get(j, "upgrade")));
	json_decref(j);
	fx_db_expect(f, "SELECT count(*) FROM node_upgrades", "0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(node_api__token__checked_before_anything, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__hostile_requests__refused_endpoint_stays_up, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__no_token__node_routes_off, setup_no_token, fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__bootstrap__settings_files_and_a_fresh_token, setup_cluster,
						fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__bootstrap_refusals__reasons_and_no_token, setup_cluster,
						fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__bootstrap_sh__joins_and_reports, setup_cluster, fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__upgrade_wanted__flag_until_successful_upgrade_report,
						setup_cluster, fx_teardown),
		cmocka_unit_test_setup_teardown(node_api__failed_join_report__decisive_lines_posted, setup_cluster,
						fx_teardown),
	};

	if (fx_find_bins("test_node_api"))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
