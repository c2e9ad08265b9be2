/*
 * bot/clients/kubeconfig*.c and bot/clients/kube_exec.c: kubeconfig variants
 * (token, tokenFile, client certificates as data and as files, exec
 * plugins), every malformed kubeconfig giving one line that names the
 * cluster and the field (and never a secret), unknown contexts, KUBECONFIG
 * lists, the in-cluster service account with a temporary directory standing
 * in for its mount, KUBE_API_URL, the choice between them; exec plugins as
 * shell scripts in a temporary directory that count their runs: the
 * ExecCredential read, its expiry and the cache, a plugin that hangs, fails,
 * prints garbage or too much.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The PKI and base64 of its parts, made once for the whole file. */
static struct {
	char *dir;                 /* the PKI's directory */
	char *ca_pem, *cert_pem, *key_pem, *other_key_pem;
	char *ca64, *cert64, *key64, *other_key64, *hello64;
} P;

static char *slurp(const char *path)
{
	char *s = NULL;

	assert_int_equal(read_file(path, &s, NULL), VIVA_OK);
	return s;
}

static char *b64(const char *s)
{
	return kube_base64_encode((const unsigned char *)s, strlen(s));
}

static int group_setup(void **state)
{
	int status = -1;
	char *cmd, *out;

	(void)state;
	log_set_level(LOG_ERROR);
	P.dir = test_tmpdir();
	cmd = xasprintf("set -e; exec 2>&1; cd '%s'; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
			"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=viva-test-ca;"
			"openssl req $ec -keyout client.key -out client.csr -subj /CN=viva-client;"
			"openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem;"
			"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.key", P.dir);
	out = test_run(cmd, &status);
	if (status != 0)
		fprintf(stderr, "test PKI not made:\n%s\n", out);
	free(out);
	free(cmd);
	if (status != 0)
		return -1;
#define LOAD(field, name) do { char *p_ = xasprintf("%s/%s", P.dir, name); P.field = slurp(p_); free(p_); } while (0)
	LOAD(ca_pem, "ca.pem");
	LOAD(cert_pem, "client.pem");
	LOAD(key_pem, "client.key");
	LOAD(other_key_pem, "other.key");
#undef LOAD
	P.ca64 = b64(P.ca_pem);
	P.cert64 = b64(P.cert_pem);
	P.key64 = b64(P.key_pem);
	P.other_key64 = b64(P.other_key_pem);
	P.hello64 = b64("hello, not a certificate");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	test_rm_rf(P.dir);
	free(P.dir);
	free(P.ca_pem);
	free(P.cert_pem);
	free(P.key_pem);
	free(P.other_key_pem);
	free(P.ca64);
	free(P.cert64);
	free(P.key64);
	free(P.other_key64);
	free(P.hello64);
	return 0;
}

/* Each test: a temporary directory for its kubeconfigs. */
struct fx {
	char *dir;
	char err[640];
	struct kube_target t;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->dir = test_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kube_target_release(&f->t);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Write dir/name with content; the path (caller frees). */
static char *put(struct fx *f, const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", f->dir, name);

	test_write_file(path, content);
	return path;
}

static char *put_exec(struct fx *f, const char *name, const char *content)
{
	char *path = put(f, name, content);

	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

/* A kubeconfig of one context "c" -> cluster "cl" + user "u", with the given
 * cluster and user bodies (each line indented four spaces). */
static char *one_context(struct fx *f, const char *cluster_body, const char *user_body)
{
	char *yaml = xasprintf("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
			       "clusters:\n- name: cl\n  cluster:\n%s"
			       "contexts:\n- name: c\n  context:\n    cluster: cl\n    user: u\n"
			       "users:\n- name: u\n  user:\n%s", cluster_body, user_body);
	char *path = put(f, "config", yaml);

	free(yaml);
	return path;
}

/* ---- base64, PEM ------------------------------------------------------------------ */

static void b64__openssl_codec__strict_alphabet_and_padding(void **state)
{
	unsigned char *out = NULL;
	size_t len = 0;
	char *enc;

	(void)state;
	assert_int_equal(kube_base64_decode("aGVsbG8=", &out, &len), VIVA_OK);
	assert_int_equal(len, 5);
	assert_string_equal((char *)out, "hello");
	free(out);
	/* line breaks and blanks inside are fine (a wrapped value) */
	assert_int_equal(kube_base64_decode("aGVs\nbG8g\r\nd29y bGQ=", &out, &len), VIVA_OK);
	assert_string_equal((char *)out, "hello world");
	free(out);
	assert_int_equal(kube_base64_decode("", &out, &len), VIVA_EINVAL);
	assert_int_equal(kube_base64_decode("aGVsbG8", &out, &len), VIVA_EINVAL);     /* no padding */
	assert_int_equal(kube_base64_decode("aGV*bG8=", &out, &len), VIVA_EINVAL);    /* not the alphabet */
	assert_int_equal(kube_base64_decode("-----BEGIN CERTIFICATE-----", &out, &len), VIVA_EINVAL);
	assert_int_equal(kube_base64_decode("aGVs_G8-", &out, &len), VIVA_EINVAL);    /* URL-safe */
	assert_null(out);
	enc = kube_base64_encode((const unsigned char *)"hello world", 11);
	assert_string_equal(enc, "aGVsbG8gd29ybGQ=");
	free(enc);
}

static void pem__kinds__certificates_keys_and_pairs(void **state)
{
	(void)state;
	assert_null(kube_pem_check(P.ca_pem, strlen(P.ca_pem), KUBE_PEM_CA));
	assert_null(kube_pem_check(P.cert_pem, strlen(P.cert_pem), KUBE_PEM_CERT));
	assert_null(kube_pem_check(P.key_pem, strlen(P.key_pem), KUBE_PEM_KEY));
	assert_string_equal(kube_pem_check(P.key_pem, strlen(P.key_pem), KUBE_PEM_CERT), "not a PEM certificate");
	assert_string_equal(kube_pem_check(P.cert_pem, strlen(P.cert_pem), KUBE_PEM_KEY), "not a PEM private key");
	assert_string_equal(kube_pem_check("hello", 5, KUBE_PEM_CA), "not a PEM certificate");
	assert_string_equal(kube_pem_check("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 58,
					   KUBE_PEM_CERT), "not a PEM certificate");
	assert_null(kube_pem_pair_check(P.cert_pem, strlen(P.cert_pem), P.key_pem, strlen(P.key_pem)));
	assert_string_equal(kube_pem_pair_check(P.cert_pem, strlen(P.cert_pem), P.other_key_pem,
						strlen(P.other_key_pem)),
			    "the client key does not belong to the client certificate");
	assert_true(kube_token_ok("eyJhbGciOi.x-y_z"));
	assert_false(kube_token_ok("a b"));
	assert_false(kube_token_ok("a\r\nX-Evil: 1"));
	assert_false(kube_token_ok(""));
}

/* ---- kubeconfig variants ------------------------------------------------------------- */

static const char *two_contexts =
	"apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
	"preferences: {}\n"
	"clusters:\n"
	"- name: dev-cluster\n  cluster:\n    server: https://127.0.0.1:6443/\n"
	"    certificate-authority-data: %s\n"
	"- name: prod-cluster\n  cluster:\n    server: 10.0.0.1:6443\n    insecure-skip-tls-verify: true\n"
	"    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: prod}\n"
	"contexts:\n"
	"- name: dev\n  context: {cluster: dev-cluster, user: dev-user, namespace: alpha}\n"
	"- name: prod\n  context: {cluster: prod-cluster, user: prod-user}\n"
	"users:\n"
	"- name: dev-user\n  user:\n    token: SECRET-TOKEN-DEV\n"
	"- name: prod-user\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n";

static void kubeconfig__token__current_context_its_cluster_user_and_namespace(void **state)
{
	struct fx *f = *state;
	char *yaml = xasprintf(two_contexts, P.ca64, P.cert64, P.key64);
	char *path = put(f, "config", yaml);
	char *want;

	assert_int_equal(kubeconfig_load(path, NULL, "dev", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.cluster, "dev");
	assert_string_equal(f->t.server, "https://127.0.0.1:6443");   /* no trailing slash */
	assert_string_equal(f->t.context, "dev");
	assert_string_equal(f->t.namespace_, "alpha");
	assert_string_equal(f->t.ca_pem, P.ca_pem);
	assert_null(f->t.ca_file);
	assert_false(f->t.insecure);
	assert_string_equal(f->t.token, "SECRET-TOKEN-DEV");
	assert_null(f->t.token_file);
	assert_null(f->t.exec);
	assert_null(f->t.cert_pem);
	want = xasprintf("kubeconfig %s (context dev)", path);
	assert_string_equal(f->t.source, want);
	free(want);
	want = xasprintf("the token of user 'dev-user' in kubeconfig %s", path);
	assert_string_equal(f->t.auth_source, want);
	free(want);
	free(yaml);
	free(path);
}

static void kubeconfig__named_context__client_certificate_data_and_insecure(void **state)
{
	struct fx *f = *state;
	char *yaml = xasprintf(two_contexts, P.ca64, P.cert64, P.key64);
	char *path = put(f, "config", yaml);

	assert_int_equal(kubeconfig_load(path, "prod", "prod", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.server, "https://10.0.0.1:6443");   /* a bare host:port is https */
	assert_string_equal(f->t.namespace_, "default");
	assert_true(f->t.insecure);
	assert_null(f->t.ca_pem);
	assert_string_equal(f->t.cert_pem, P.cert_pem);
	assert_string_equal(f->t.key_pem, P.key_pem);
	assert_null(f->t.cert_file);
	assert_null(f->t.token);
	assert_contains(f->t.auth_source, "the client certificate of user 'prod-user'");
	free(yaml);
	free(path);
}

static void kubeconfig__files__relative_to_the_kubeconfig_and_home(void **state)
{
	struct fx *f = *state;
	char *old_home = xstrdup(getenv("HOME")), *p, *yaml, *path, *want;
	char cwd[4096];

	/* the kubeconfig lives in sub/; its files beside it, and one in $HOME */
	free(put(f, "sub/pki/ca.pem", P.ca_pem));
	free(put(f, "sub/pki/client.pem", P.cert_pem));
	free(put(f, "sub/pki/client.key", P.key_pem));
	free(put(f, "sub/token", "  SECRET-FILE-TOKEN\n"));
	free(put(f, "home/certs/ca.pem", P.ca_pem));
	yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://h:1\n"
			 "    certificate-authority: pki/ca.pem\n"
			 "- name: cl2\n  cluster:\n    server: https://h:2\n    certificate-authority: ~/certs/ca.pem\n"
			 "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			 "- name: c2\n  context: {cluster: cl2, user: u2}\n"
			 "users:\n- name: u\n  user:\n    client-certificate: pki/client.pem\n"
			 "    client-key: ./pki/client.key\n    tokenFile: token\n    token: SECRET-FALLBACK\n"
			 "- name: u2\n  user: {}\n");
	path = put(f, "sub/config", yaml);
	/* a relative kubeconfig path: its directory is taken from where viva runs */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(kubeconfig_load("sub/config", NULL, "dev", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_int_equal(chdir(cwd), 0);
	p = xasprintf("%s/sub/pki/ca.pem", f->dir);
	assert_string_equal(f->t.ca_file, p);
	free(p);
	p = xasprintf("%s/sub/pki/client.pem", f->dir);
	assert_string_equal(f->t.cert_file, p);
	free(p);
	p = xasprintf("%s/sub/./pki/client.key", f->dir);
	assert_string_equal(f->t.key_file, p);
	free(p);
	p = xasprintf("%s/sub/token", f->dir);
	assert_string_equal(f->t.token_file, p);
	free(p);
	/* the file wins; the token stays as the fallback */
	assert_string_equal(f->t.token, "SECRET-FALLBACK");
	assert_null(f->t.cert_pem);
	assert_null(f->t.key_pem);
	want = xasprintf("the token file %s/sub/token of user 'u'", f->dir);
	assert_contains(f->t.auth_source, want);
	free(want);
	kube_target_release(&f->t);

	p = xasprintf("%s/home", f->dir);
	setenv("HOME", p, 1);
	free(p);
	assert_int_equal(kubeconfig_load(path, "c2", "dev", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	p = xasprintf("%s/home/certs/ca.pem", f->dir);
	assert_string_equal(f->t.ca_file, p);
	free(p);
	assert_contains(f->t.auth_source, "no credentials (user 'u2'");
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_home);
	free(yaml);
	free(path);
}

static void kubeconfig__exec__command_args_env_and_cluster_info_read(void **state)
{
	struct fx *f = *state;
	char *plugin = put_exec(f, "bin/plugin", "#!/bin/sh\nexit 0\n");
	char *yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://h:1\n"
			       "    certificate-authority-data: %s\n"
			       "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
			       "      extension: {audience: dev}\n"
			       "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			       "users:\n- name: u\n  user:\n    exec:\n"
			       "      apiVersion: client.authentication.k8s.io/v1\n      command: bin/plugin\n"
			       "      args: [get-token, --cluster, dev]\n"
			       "      env:\n      - {name: AWS_PROFILE, value: dev}\n      - {name: EMPTY}\n"
			       "      installHint: install the plugin\n      provideClusterInfo: true\n"
			       "      interactiveMode: Never\n", P.ca64);
	char *path = put(f, "config", yaml);

	assert_int_equal(kubeconfig_load(path, NULL, "dev", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_non_null(f->t.exec);
	assert_string_equal(f->t.exec->command, plugin);   /* relative to the kubeconfig */
	assert_string_equal(f->t.exec->api_version, KUBE_EXEC_V1);
	assert_string_equal(f->t.exec->args[0], "get-token");
	assert_string_equal(f->t.exec->args[2], "dev");
	assert_null(f->t.exec->args[3]);
	assert_string_equal(f->t.exec->env[0], "AWS_PROFILE=dev");
	assert_string_equal(f->t.exec->env[1], "EMPTY=");
	assert_null(f->t.exec->env[2]);
	assert_string_equal(f->t.exec->install_hint, "install the plugin");
	assert_true(f->t.exec->provide_cluster_info);
	assert_string_equal(json_string_value(json_object_get(f->t.exec->cluster_config, "audience")), "dev");
	assert_contains(f->t.auth_source, "the credential plugin");
	kube_target_release(&f->t);
	free(yaml);
	/* v1beta1 defaults interactiveMode; a command without '/' is left for PATH */
	yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster: {server: 'https://h:1'}\n"
			 "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			 "users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
			 "command: aws}\n");
	free(path);
	path = put(f, "config", yaml);
	assert_int_equal(kubeconfig_load(path, NULL, "dev", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.exec->command, "aws");
	assert_null(f->t.exec->args[0]);
	assert_null(f->t.exec->env[0]);
	free(yaml);
	free(path);
	free(plugin);
}

/* ---- malformed kubeconfigs ---------------------------------------------------------------------- */

struct bad {
	const char *cluster;       /* cluster body (with %s: P.ca64, etc. by index below) */
	const char *user;
	int rc;
	const char *want;          /* in the message, after "cluster prod: " */
};

/* Placeholders in the bodies: @CA@ @CERT@ @KEY@ @OTHERKEY@ @HELLO@ @DIR@ */
static char *fill(const char *tmpl, const char *dir)
{
	struct strbuf sb;
	static const struct { const char *k; int which; } subs[] = {
		{ "@CA@", 0 }, { "@CERT@", 1 }, { "@KEY@", 2 }, { "@OTHERKEY@", 3 }, { "@HELLO@", 4 }, { "@DIR@", 5 },
	};

	sb_init(&sb);
	for (const char *p = tmpl; *p;) {
		bool done = false;
		for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]) && !done; i++) {
			size_t n = strlen(subs[i].k);
			if (strncmp(p, subs[i].k, n) == 0) {
				const char *v[] = { P.ca64, P.cert64, P.key64, P.other_key64, P.hello64, dir };
				sb_adds(&sb, v[subs[i].which]);
				p += n;
				done = true;
			}
		}
		if (!done)
			sb_addc(&sb, *p++);
	}
	return sb_detach(&sb);
}

#define SRV "    server: https://127.0.0.1:6443\n"
#define TOK "    token: SECRET-T\n"

static const struct bad bad_cases[] = {
	{ "    insecure-skip-tls-verify: true\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.server: required" },
	{ "    server: ftp://h\n", TOK, VIVA_EINVAL, "clusters[0].cluster.server: expected an https:// URL" },
	{ "    server: https://admin:pw@h\n", TOK, VIVA_EINVAL, "clusters[0].cluster.server: credentials do not" },
	{ "    server: https://h/?x=1\n", TOK, VIVA_EINVAL, "server: the URL may not have a query" },
	{ "    server: [a, b]\n", TOK, VIVA_EINVAL, "clusters[0].cluster.server: expected a string" },
	{ SRV "    certificate-authority-data: not*base64\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.certificate-authority-data: not valid base64" },
	{ SRV "    certificate-authority-data: @HELLO@\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.certificate-authority-data: not a PEM certificate" },
	{ SRV "    certificate-authority: nope.pem\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.certificate-authority: file @DIR@/nope.pem does not exist" },
	{ SRV "    certificate-authority: client.key\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.certificate-authority: file @DIR@/client.key: not a PEM certificate" },
	{ SRV "    certificate-authority-data: @CA@\n    insecure-skip-tls-verify: true\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.insecure-skip-tls-verify: cannot be used with a certificate-authority" },
	{ SRV "    insecure-skip-tls-verify: maybe\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.insecure-skip-tls-verify: expected true or false" },
	{ SRV "    proxy-url: http://proxy:3128\n", TOK, VIVA_EINVAL, "clusters[0].cluster.proxy-url: not supported" },
	{ SRV "    tls-server-name: api.internal\n", TOK, VIVA_EINVAL,
	  "clusters[0].cluster.tls-server-name: not supported" },
	{ SRV, "    client-certificate-data: not*base64\n    client-key-data: @KEY@\n", VIVA_EINVAL,
	  "users[0].user.client-certificate-data: not valid base64" },
	{ SRV, "    client-certificate-data: @HELLO@\n    client-key-data: @KEY@\n", VIVA_EINVAL,
	  "users[0].user.client-certificate-data: not a PEM certificate" },
	{ SRV, "    client-certificate-data: @CERT@\n    client-key-data: @CERT@\n", VIVA_EINVAL,
	  "users[0].user.client-key-data: not a PEM private key" },
	{ SRV, "    client-certificate-data: @CERT@\n    client-key-data: =@KEY@\n", VIVA_EINVAL,
	  "users[0].user.client-key-data: not valid base64" },
	{ SRV, "    client-certificate-data: @CERT@\n", VIVA_EINVAL,
	  "users[0].user.client-certificate: a client certificate needs client-key or client-key-data" },
	{ SRV, "    client-key-data: @KEY@\n", VIVA_EINVAL,
	  "users[0].user.client-key: a client key needs client-certificate or client-certificate-data" },
	{ SRV, "    client-certificate-data: @CERT@\n    client-key-data: @OTHERKEY@\n", VIVA_EINVAL,
	  "users[0].user.client-key-data: the client key does not belong to the client certificate" },
	{ SRV, "    client-certificate: missing.pem\n    client-key-data: @KEY@\n", VIVA_EINVAL,
	  "users[0].user.client-certificate: file @DIR@/missing.pem does not exist" },
	{ SRV, "    client-certificate: client.pem\n    client-key: client.pem\n", VIVA_EINVAL,
	  "users[0].user.client-key: file @DIR@/client.pem: not a PEM private key" },
	{ SRV, "    token: \"SECRET a\\nb\"\n", VIVA_EINVAL, "users[0].user.token: not a token" },
	{ SRV, "    tokenFile: nope\n", VIVA_EINVAL, "users[0].user.tokenFile: file @DIR@/nope does not exist" },
	{ SRV, "    tokenFile: empty\n", VIVA_EINVAL, "users[0].user.tokenFile: file @DIR@/empty does not hold a token" },
	{ SRV, "    exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}\n", VIVA_EINVAL,
	  "users[0].user.exec.command: required" },
	{ SRV, "    exec: {command: aws}\n", VIVA_EINVAL, "users[0].user.exec.apiVersion: required" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1alpha1}\n", VIVA_EINVAL,
	  "users[0].user.exec.apiVersion: v1alpha1 is no longer supported" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n", VIVA_EINVAL,
	  "users[0].user.exec.interactiveMode: required with client.authentication.k8s.io/v1" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Always}\n",
	  VIVA_EINVAL, "users[0].user.exec.interactiveMode: Always needs a terminal" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, env: [{value: x}]}\n",
	  VIVA_EINVAL, "users[0].user.exec.env[0]: expected {name: NAME, value: text}" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, args: {a: b}}\n",
	  VIVA_EINVAL, "users[0].user.exec.args: expected a list of strings" },
	{ SRV, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, args: [a, [b]]}\n",
	  VIVA_EINVAL, "users[0].user.exec.args[1]: expected a string" },
	{ SRV, "    exec: {command: ./nope, apiVersion: client.authentication.k8s.io/v1beta1}\n", VIVA_EINVAL,
	  "users[0].user.exec.command: @DIR@/./nope is not an executable file" },
	{ SRV, "    token: SECRET-T\n    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1}\n",
	  VIVA_EINVAL, "users[0].user.token: cannot be used with exec" },
	{ SRV, "    exec: [aws]\n", VIVA_EPARSE, "users[0].user.exec: expected a mapping" },
	{ SRV, "    auth-provider: {name: gcp}\n", VIVA_EINVAL,
	  "users[0].user.auth-provider: not supported: Kubernetes removed the gcp" },
	{ SRV, "    username: admin\n    password: SECRET-PW\n", VIVA_EINVAL,
	  "users[0].user.username: basic authentication is not supported" },
	{ SRV, "    token: SECRET-T\n    as: someone\n", VIVA_EINVAL, "users[0].user.as: impersonation is not supported" },
	{ NULL, NULL, 0, NULL },
};

static void kubeconfig__malformed__one_line_naming_the_field_never_a_secret(void **state)
{
	struct fx *f = *state;
	int n = 0;

	free(put(f, "client.pem", P.cert_pem));
	free(put(f, "client.key", P.key_pem));
	free(put(f, "empty", "\n \n"));
	for (const struct bad *b = bad_cases; b->cluster; b++, n++) {
		char *cl = fill(b->cluster, f->dir), *us = fill(b->user, f->dir), *want = fill(b->want, f->dir);
		char *path = one_context(f, cl, us), *prefix = xasprintf("cluster prod: kubeconfig %s:", path);
		int rc = kubeconfig_load(path, NULL, "prod", &f->t, f->err, sizeof(f->err));

		if (rc != b->rc || !strstr(f->err, want))
			fail_msg("case %d: rc %d (want %d), message \"%s\", want \"%s\"", n, rc, b->rc, f->err, want);
		/* "cluster prod: kubeconfig PATH:LINE: field: what" */
		assert_contains(f->err, prefix);
		assert_null(strchr(f->err, '\n'));
		assert_not_contains(f->err, "SECRET");
		assert_not_contains(f->err, P.key64);
		assert_not_contains(f->err, "LS0tLS1");
		/* nothing is left half filled */
		assert_null(f->t.server);
		assert_null(f->t.token);
		free(cl);
		free(us);
		free(want);
		free(path);
		free(prefix);
	}
}

static void kubeconfig__malformed__lines_point_at_the_field(void **state)
{
	struct fx *f = *state;
	char *us = fill("    client-certificate-data: @CERT@\n    client-key-data: not*base64\n", f->dir);
	char *path = one_context(f, SRV, us), *want;

	/* apiVersion is line 1 ... the user's client-key-data line 17 */
	assert_int_equal(kubeconfig_load(path, NULL, "prod", &f->t, f->err, sizeof(f->err)), VIVA_EINVAL);
	want = xasprintf("cluster prod: kubeconfig %s:17: users[0].user.client-key-data: not valid base64", path);
	assert_string_equal(f->err, want);
	free(want);
	free(us);
	free(path);
}

static void kubeconfig__malformed_shape__contexts_files_and_yaml(void **state)
{
	static const struct { const char *yaml; int rc; const char *want; } cases[] = {
		{ "current-context: c\nclusters: []\ncontexts:\n- name: c\n  context: {user: u}\n", VIVA_EINVAL,
		  "contexts[0].context.cluster: required (context 'c' names no cluster)" },
		{ "current-context: c\ncontexts:\n- name: c\n  context: {cluster: cl}\n", VIVA_EINVAL,
		  "contexts[0].context.user: required" },
		{ "current-context: c\ncontexts:\n- name: c\n  context: {cluster: cl, user: u, namespace: Bad_NS}\n",
		  VIVA_EINVAL, "contexts[0].context.namespace: not a namespace name" },
		{ "current-context: c\ncontexts:\n- name: c\n  context: {cluster: cl2, user: u}\n"
		  "clusters:\n- name: cl\n  cluster: {server: 'https://h'}\n", VIVA_ENOENT,
		  "context 'c' names cluster 'cl2', which is not in kubeconfig" },
		{ "current-context: c\ncontexts:\n- name: c\n  context: {cluster: cl, user: u9}\n"
		  "clusters:\n- name: cl\n  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user: {}\n",
		  VIVA_ENOENT, "context 'c' names user 'u9', which is not in kubeconfig" },
		{ "current-context: c\ncontexts: {c: x}\n", VIVA_EPARSE, "contexts: expected a list" },
		{ "current-context: c\ncontexts:\n- context: {cluster: cl, user: u}\n", VIVA_EINVAL,
		  "contexts[0].name: required" },
		{ "current-context: c\ncontexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
		  "clusters:\n- name: cl\n  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user: token\n",
		  VIVA_EPARSE, "users[0].user: expected a mapping" },
		{ "clusters: [\n", VIVA_EPARSE, ":2: " },
		{ "- a\n- b\n", VIVA_EPARSE, "not a kubeconfig" },
		{ "current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://a\n    server: https://b\n",
		  VIVA_EPARSE, "key 'server' repeated" },
		{ "apiVersion: v1\nclusters: []\n", VIVA_EINVAL, "has no current-context; name one with clusters.prod.context" },
		{ NULL, 0, NULL },
	};
	struct fx *f = *state;

	for (int i = 0; cases[i].yaml; i++) {
		char *path = put(f, "config", cases[i].yaml);
		int rc = kubeconfig_load(path, NULL, "prod", &f->t, f->err, sizeof(f->err));

		if (rc != cases[i].rc || !strstr(f->err, cases[i].want) || strncmp(f->err, "cluster prod: ", 14) != 0)
			fail_msg("case %d: rc %d (want %d), message \"%s\", want \"%s\"", i, rc, cases[i].rc, f->err,
				 cases[i].want);
		free(path);
	}
}

static void kubeconfig__unknown_context__names_the_ones_there(void **state)
{
	struct fx *f = *state;
	char *yaml = xasprintf(two_contexts, P.ca64, P.cert64, P.key64);
	char *path = put(f, "config", yaml), *want;

	assert_int_equal(kubeconfig_load(path, "staging", "stage", &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	want = xasprintf("cluster stage: context 'staging' not found in kubeconfig %s (it has: dev, prod)", path);
	assert_string_equal(f->err, want);
	free(want);
	free(path);
	/* a missing file names itself */
	path = xasprintf("%s/nope", f->dir);
	assert_int_equal(kubeconfig_load(path, NULL, "stage", &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	want = xasprintf("cluster stage: kubeconfig %s does not exist", path);
	assert_string_equal(f->err, want);
	free(want);
	free(path);
	/* a directory is not a kubeconfig */
	assert_int_equal(kubeconfig_load(f->dir, NULL, "stage", &f->t, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_contains(f->err, "not a regular file");
	free(yaml);
}

static void kubeconfig__list__first_file_wins_missing_skipped(void **state)
{
	struct fx *f = *state;
	char *a = put(f, "a", "current-context: one\n"
		      "contexts:\n- name: one\n  context: {cluster: c1, user: u1, namespace: first}\n"
		      "clusters:\n- name: c1\n  cluster: {server: 'https://first:1'}\n"
		      "users:\n- name: u1\n  user: {token: SECRET-A}\n");
	char *b = put(f, "b", "current-context: two\n"
		      "contexts:\n- name: one\n  context: {cluster: c1, user: u1, namespace: second}\n"
		      "- name: two\n  context: {cluster: c2, user: u1}\n"
		      "clusters:\n- name: c1\n  cluster: {server: 'https://second:1'}\n"
		      "- name: c2\n  cluster: {server: 'https://second:2'}\n"
		      "users:\n- name: u1\n  user: {token: SECRET-B}\n");
	char *list = xasprintf("%s/missing:%s:%s", f->dir, a, b), *missing;

	assert_int_equal(kubeconfig_load(list, NULL, "x", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.context, "one");
	assert_string_equal(f->t.namespace_, "first");
	assert_string_equal(f->t.server, "https://first:1");
	assert_string_equal(f->t.token, "SECRET-A");
	kube_target_release(&f->t);
	/* a context from the second file, with a user from the first */
	assert_int_equal(kubeconfig_load(list, "two", "x", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.server, "https://second:2");
	assert_string_equal(f->t.token, "SECRET-A");
	kube_target_release(&f->t);
	missing = xasprintf("%s/m1:%s/m2", f->dir, f->dir);
	assert_int_equal(kubeconfig_load(missing, NULL, "x", &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_contains(f->err, "cluster x: none of the kubeconfig files");
	free(missing);
	free(list);
	free(a);
	free(b);
}

/* ---- in-cluster, environment, the choice ------------------------------------------------------ */

static void in_cluster__temp_dir_for_the_mount(void **state)
{
	struct fx *f = *state;
	char *sa = xasprintf("%s/sa", f->dir), *p;

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(put(f, "sa/token", "SECRET-SA-TOKEN\n"));
	free(put(f, "sa/ca.crt", P.ca_pem));
	free(put(f, "sa/namespace", "viva\n"));
	assert_false(kube_in_cluster(sa));
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_string_equal(f->err, "cluster home: not running in a pod (KUBERNETES_SERVICE_HOST and "
			    "KUBERNETES_SERVICE_PORT are not set)");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_true(kube_in_cluster(sa));
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.server, "https://10.96.0.1:443");
	assert_string_equal(f->t.namespace_, "viva");
	p = xasprintf("%s/token", sa);
	assert_string_equal(f->t.token_file, p);
	free(p);
	p = xasprintf("%s/ca.crt", sa);
	assert_string_equal(f->t.ca_file, p);
	free(p);
	assert_null(f->t.token);
	assert_contains(f->t.source, "the in-cluster service account");
	kube_target_release(&f->t);

	/* IPv6, no namespace file */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	p = xasprintf("%s/namespace", sa);
	unlink(p);
	free(p);
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.server, "https://[fd00::1]:443");
	assert_string_equal(f->t.namespace_, "default");
	kube_target_release(&f->t);

	/* a CA that is not one; no token */
	free(put(f, "sa/ca.crt", "garbage"));
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_EINVAL);
	p = xasprintf("cluster home: the service account CA %s/ca.crt: not a PEM certificate", sa);
	assert_string_equal(f->err, p);
	free(p);
	free(put(f, "sa/ca.crt", P.ca_pem));
	p = xasprintf("%s/token", sa);
	unlink(p);
	free(p);
	assert_false(kube_in_cluster(sa));
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_contains(f->err, "the service account token");
	assert_contains(f->err, "does not exist");
	setenv("KUBERNETES_SERVICE_PORT", "44x3", 1);
	assert_int_equal(kube_target_in_cluster(sa, "home", &f->t, f->err, sizeof(f->err)), VIVA_EINVAL);
	assert_contains(f->err, "KUBERNETES_SERVICE_PORT is not a port");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(sa);
}

static void env__kube_api_url_token_and_ca_file(void **state)
{
	struct fx *f = *state;
	char *ca = put(f, "ca.pem", P.ca_pem), *bad = put(f, "bad.pem", "nope");

	assert_int_equal(kube_target_from_env("https://k8s.example:6443/", "SECRET-ENV", ca, "prod", &f->t, f->err,
					      sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.server, "https://k8s.example:6443");
	assert_string_equal(f->t.token, "SECRET-ENV");
	assert_string_equal(f->t.ca_file, ca);
	assert_string_equal(f->t.namespace_, "default");
	assert_string_equal(f->t.auth_source, "KUBE_TOKEN");
	assert_string_equal(f->t.ca_hint, "set KUBE_CA_FILE");
	kube_target_release(&f->t);
	assert_int_equal(kube_target_from_env("ftp://x", "SECRET-ENV", NULL, "prod", &f->t, f->err, sizeof(f->err)),
			 VIVA_EINVAL);
	assert_string_equal(f->err, "cluster prod: KUBE_API_URL: expected an https:// URL");
	assert_int_equal(kube_target_from_env("https://x", "SECRET ENV", NULL, "prod", &f->t, f->err, sizeof(f->err)),
			 VIVA_EINVAL);
	assert_contains(f->err, "KUBE_TOKEN is not a token");
	assert_not_contains(f->err, "SECRET");
	assert_int_equal(kube_target_from_env("https://x", "t", bad, "prod", &f->t, f->err, sizeof(f->err)),
			 VIVA_EINVAL);
	assert_contains(f->err, "cluster prod: KUBE_CA_FILE ");
	assert_contains(f->err, "not a PEM certificate");
	free(ca);
	free(bad);
}

static void resolve__sources_in_order(void **state)
{
	struct fx *f = *state;
	struct viva_config cfg;
	struct config_cluster cl = { .name = "prod" };
	char *yaml = xasprintf(two_contexts, P.ca64, P.cert64, P.key64);
	char *kc = put(f, "kc/config", yaml), *home = xasprintf("%s/home", f->dir);
	char *sa = xasprintf("%s/sa", f->dir);
	struct kube_resolve_opts o = { .sa_dir = sa, .home = home };

	config_defaults(&cfg);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	/* nothing at all */
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_string_equal(f->err, "cluster prod: no way to reach it: set clusters.prod.kubeconfig in viva.yaml, "
			    "KUBECONFIG, or KUBE_API_URL and KUBE_TOKEN");
	/* 6. ~/.kube/config */
	free(put(f, "home/.kube/config", yaml));
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.context, "dev");
	kube_target_release(&f->t);
	/* 5. in-cluster beats it */
	free(put(f, "sa/token", "SECRET-SA\n"));
	free(put(f, "sa/ca.crt", P.ca_pem));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_contains(f->t.source, "in-cluster");
	kube_target_release(&f->t);
	/* 4. KUBECONFIG beats in-cluster */
	cfg.kubeconfig = xstrdup(kc);
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_contains(f->t.source, kc);
	assert_string_equal(f->t.context, "dev");
	kube_target_release(&f->t);
	/* 3. KUBE_API_URL beats KUBECONFIG */
	cfg.kube_api_url = xstrdup("https://api:6443");
	cfg.kube_token = xstrdup("SECRET-ENV");
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.source, "KUBE_API_URL");
	assert_string_equal(f->t.server, "https://api:6443");
	kube_target_release(&f->t);
	/* 2. a context in viva.yaml means a kubeconfig: KUBECONFIG's */
	cl.context = "prod";
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(f->t.context, "prod");
	assert_string_equal(f->t.server, "https://10.0.0.1:6443");
	kube_target_release(&f->t);
	/* 1. the cluster's own kubeconfig; an unknown context there is one line */
	cl.kubeconfig = xasprintf("%s/home/.kube/config", f->dir);
	cl.context = "nope";
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_contains(f->err, "cluster prod: context 'nope' not found in kubeconfig");
	cl.context = NULL;
	assert_int_equal(kube_target_resolve(&cfg, &cl, &o, &f->t, f->err, sizeof(f->err)), VIVA_OK);
	assert_contains(f->t.source, "/home/.kube/config (context dev)");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(cl.kubeconfig);
	config_release(&cfg);
	free(yaml);
	free(kc);
	free(home);
	free(sa);
}

/* ---- exec plugins --------------------------------------------------------------------------------- */

/* The plugin: counts its runs, keeps what it was given, prints answer.json. */
static const char *plugin_sh =
	"#!/bin/sh\n"
	"echo run >> \"$PLUGIN_DIR/runs\"\n"
	"printf '%s\\n' \"$@\" > \"$PLUGIN_DIR/args\"\n"
	"printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$PLUGIN_DIR/info\"\n"
	"printf '%s' \"$PLUGIN_SECRET\" > \"$PLUGIN_DIR/env\"\n"
	"[ -f \"$PLUGIN_DIR/sleep\" ] && sleep \"$(cat \"$PLUGIN_DIR/sleep\")\"\n"
	"cat \"$PLUGIN_DIR/answer.json\"\n";

/* A target whose user runs plugin `script` (written to dir/plugin). */
static void exec_target(struct fx *f, const char *script, const char *api_version, bool cluster_info)
{
	char *plugin = put_exec(f, "plugin", script);
	char *yaml = xasprintf("current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://h:6443\n"
			       "    certificate-authority-data: %s\n"
			       "contexts:\n- name: c\n  context: {cluster: cl, user: u}\n"
			       "users:\n- name: u\n  user:\n    exec:\n      apiVersion: %s\n"
			       "      command: ./plugin\n      args: [token, --for, 'two words']\n"
			       "      env:\n      - {name: PLUGIN_DIR, value: '%s'}\n      - {name: PLUGIN_SECRET, value: s3}\n"
			       "      provideClusterInfo: %s\n      interactiveMode: IfAvailable\n"
			       "      installHint: see the wiki\n",
			       P.ca64, api_version, f->dir, cluster_info ? "true" : "false");
	char *path = put(f, "config", yaml);

	assert_int_equal(kubeconfig_load(path, NULL, "eks", &f->t, f->err, sizeof(f->err)), VIVA_OK);
	free(plugin);
	free(yaml);
	free(path);
}

static void answer(struct fx *f, const char *json)
{
	free(put(f, "answer.json", json));
}

static char *rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[64];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

static int runs(struct fx *f)
{
	char *p = xasprintf("%s/runs", f->dir), *s = NULL;
	int n = 0;

	if (read_file(p, &s, NULL) == VIVA_OK)
		for (char *q = s; (q = strstr(q, "run")); q += 3)
			n++;
	free(s);
	free(p);
	return n;
}

static char *plugin_file(struct fx *f, const char *name)
{
	char *p = xasprintf("%s/%s", f->dir, name), *s = NULL;

	assert_int_equal(read_file(p, &s, NULL), VIVA_OK);
	free(p);
	return s;
}

static void exec__token__args_env_and_exec_info_passed(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cred c;
	int64_t exp = now_unix() + 3600;
	char *when = rfc3339(exp), *json, *s;
	json_t *info;

	exec_target(f, plugin_sh, KUBE_EXEC_V1, true);
	json = xasprintf("{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
			 "\"status\":{\"token\":\"SECRET-EXEC-1\",\"expirationTimestamp\":\"%s\"}}", when);
	answer(f, json);
	assert_int_equal(kube_exec_run(&f->t, 5000, 0, &c, f->err, sizeof(f->err)), VIVA_OK);
	assert_string_equal(c.token, "SECRET-EXEC-1");
	assert_int_equal(c.expires, exp);
	assert_null(c.cert_pem);
	kube_exec_cred_release(&c);
	s = plugin_file(f, "args");
	assert_string_equal(s, "token\n--for\ntwo words\n");
	free(s);
	s = plugin_file(f, "env");
	assert_string_equal(s, "s3");
	free(s);
	s = plugin_file(f, "info");
	info = json_loads(s, 0, NULL);
	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "kind")), "ExecCredential");
	assert_string_equal(json_string_value(json_object_get(info, "apiVersion")), KUBE_EXEC_V1);
	assert_true(json_is_false(json_object_get(json_object_get(info, "spec"), "interactive")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(info, "spec"), "cluster"),
							      "server")), "https://h:6443");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(info, "spec"), "cluster"),
							      "certificate-authority-data")), P.ca64);
	json_decref(info);
	free(s);
	free(json);
	free(when);
}

static void exec__client_certificate__read_and_checked(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cred c;
	json_t *j;
	char *s;

	exec_target(f, plugin_sh, KUBE_EXEC_V1BETA1, false);
	j = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", KUBE_EXEC_V1BETA1, "kind", "ExecCredential", "status",
		      "clientCertificateData", P.cert_pem, "clientKeyData", P.key_pem);
	s = json_dumps(j, 0);
	answer(f, s);
	assert_int_equal(kube_exec_run(&f->t, 5000, 0, &c, f->err, sizeof(f->err)), VIVA_OK);
	assert_null(c.token);
	assert_string_equal(c.cert_pem, P.cert_pem);
	assert_string_equal(c.key_pem, P.key_pem);
	assert_int_equal(c.expires, 0);
	kube_exec_cred_release(&c);
	free(s);
	/* no cluster info unless asked */
	s = plugin_file(f, "info");
	assert_null(strstr(s, "\"cluster\""));
	free(s);
	/* a key of another certificate */
	json_object_set_new(json_object_get(j, "status"), "clientKeyData", json_string(P.other_key_pem));
	s = json_dumps(j, 0);
	answer(f, s);
	assert_int_equal(kube_exec_run(&f->t, 5000, 0, &c, f->err, sizeof(f->err)), VIVA_EPARSE);
	assert_string_equal(f->err, "cluster eks: the credential plugin 'plugin' printed a status.clientKeyData "
			    "that does not belong to its certificate");
	free(s);
	json_decref(j);
}

static void exec__bad_plugins__one_line_each_never_the_output(void **state)
{
	static const struct { const char *script; int rc; const char *want; } cases[] = {
		{ "#!/bin/sh\necho 'SECRET-OUT {\"token\":'\n", VIVA_EPARSE,
		  "printed something that is not an ExecCredential (JSON expected)" },
		{ "#!/bin/sh\necho '{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"status\":{\"token\":\"SECRET-X\"}}'\n",
		  VIVA_EPARSE, "printed JSON that is not an ExecCredential (kind)" },
		{ "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
		  "\"status\":{\"token\":\"SECRET-X\"}}'\n", VIVA_EPARSE,
		  "answered with another apiVersion than the kubeconfig's exec.apiVersion" },
		{ "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\"}'\n",
		  VIVA_EPARSE, "printed an ExecCredential without a status" },
		{ "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
		  "\"status\":{}}'\n", VIVA_EPARSE, "printed neither status.token nor" },
		{ "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
		  "\"status\":{\"token\":\"SECRET X\"}}'\n", VIVA_EPARSE, "printed a status.token that cannot be sent" },
		{ "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
		  "\"status\":{\"token\":\"SECRET-X\",\"expirationTimestamp\":\"tomorrow\"}}'\n", VIVA_EPARSE,
		  "printed a status.expirationTimestamp that is not an RFC 3339 time" },
		{ "#!/bin/sh\necho SECRET-OUT\necho 'first line' >&2\necho 'Unable to locate credentials' >&2\nexit 255\n",
		  VIVA_EAUTH, "failed (exit status 255): Unable to locate credentials" },
		{ "#!/bin/sh\nkill -9 $$\n", VIVA_EAUTH, "failed (killed by signal 9)" },
		{ "#!/bin/sh\nhead -c 3000000 /dev/zero\n", VIVA_ERANGE, "printed more than 1048576 bytes" },
		{ NULL, 0, NULL },
	};
	struct fx *f = *state;
	struct kube_exec_cred c;

	for (int i = 0; cases[i].script; i++) {
		char *want = xasprintf("cluster eks: the credential plugin 'plugin' %s", cases[i].want);
		int rc;

		kube_target_release(&f->t);
		exec_target(f, cases[i].script, KUBE_EXEC_V1, false);
		rc = kube_exec_run(&f->t, 5000, 0, &c, f->err, sizeof(f->err));
		if (rc != cases[i].rc || !strstr(f->err, want))
			fail_msg("case %d: rc %d (want %d), message \"%s\", want \"%s\"", i, rc, cases[i].rc, f->err, want);
		assert_not_contains(f->err, "SECRET");
		assert_null(c.token);
		free(want);
	}
}

static void exec__hanging_plugin__killed_with_its_children_at_the_timeout(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cred c;
	int64_t t0;
	char *pidfile = xasprintf("%s/child.pid", f->dir), *script, *pid = NULL;
	int status = -1;

	/* a shell that starts a child (which keeps the pipe open) and waits */
	script = xasprintf("#!/bin/sh\nsleep 30 &\necho $! > '%s'\nwait\n", pidfile);
	exec_target(f, script, KUBE_EXEC_V1, false);
	t0 = now_ms_mono();
	assert_int_equal(kube_exec_run(&f->t, 300, 0, &c, f->err, sizeof(f->err)), VIVA_ETIMEOUT);
	assert_true(now_ms_mono() - t0 < 3000);
	assert_string_equal(f->err, "cluster eks: the credential plugin 'plugin' did not finish within 300 ms");
	/* the child went with its group */
	assert_int_equal(read_file(pidfile, &pid, NULL), VIVA_OK);
	{
		/* gone, or a zombie waiting for whoever reaps orphans here */
		char *cmd = xasprintf("for i in 1 2 3 4 5 6 7 8 9 10; do s=$(ps -o stat= -p %d); "
				      "case \"$s\" in ''|Z*) exit 0;; esac; sleep 0.1; done; ps -o pid,pgid,stat,comm -p %d; exit 1",
				      atoi(pid), atoi(pid));
		char *o = test_run(cmd, &status);
		if (status != 0)
			fprintf(stderr, "child still there: %s\n", o);
		free(o);
		free(cmd);
	}
	assert_int_equal(status, 0);
	free(pid);
	free(script);
	free(pidfile);
}

static void exec__not_in_path__names_it_with_the_install_hint(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cred c;

	exec_target(f, plugin_sh, KUBE_EXEC_V1, false);
	free(f->t.exec->command);
	f->t.exec->command = xstrdup("viva-no-such-plugin");
	assert_int_equal(kube_exec_run(&f->t, 5000, 0, &c, f->err, sizeof(f->err)), VIVA_ENOENT);
	assert_string_equal(f->err, "cluster eks: the credential plugin 'viva-no-such-plugin' was not found in PATH "
			    "(see the wiki)");
}

static void exec_cache__expiry__counts_runs(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cache *cache;
	struct kube_exec_cred c;
	unsigned g1 = 0, g2 = 0, g3 = 0;
	char *when, *json;

	exec_target(f, plugin_sh, KUBE_EXEC_V1, false);
	/* an hour ahead: one run for many requests */
	when = rfc3339(now_unix() + 3600);
	json = xasprintf("{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"SECRET-1\","
			 "\"expirationTimestamp\":\"%s\"}}", KUBE_EXEC_V1, when);
	answer(f, json);
	cache = kube_exec_cache_new(&f->t, &(struct kube_exec_limits){ .timeout_ms = 5000, .margin_s = 60 });
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kube_exec_cache_get(cache, 0, &c, &g1, f->err, sizeof(f->err)), VIVA_OK);
		assert_string_equal(c.token, "SECRET-1");
		kube_exec_cred_release(&c);
	}
	assert_int_equal(runs(f), 1);
	assert_int_equal(kube_exec_cache_runs(cache), 1);
	/* refused (401) with it: run again; a second caller with the same stale
	 * generation gets the new one without another run */
	assert_int_equal(kube_exec_cache_get(cache, g1, &c, &g2, f->err, sizeof(f->err)), VIVA_OK);
	kube_exec_cred_release(&c);
	assert_int_equal(runs(f), 2);
	assert_true(g2 != g1);
	assert_int_equal(kube_exec_cache_get(cache, g1, &c, &g3, f->err, sizeof(f->err)), VIVA_OK);
	kube_exec_cred_release(&c);
	assert_int_equal(g3, g2);
	assert_int_equal(runs(f), 2);
	kube_exec_cache_free(cache);
	free(json);
	free(when);

	/* thirty seconds ahead is within the minute's margin: every request runs it */
	when = rfc3339(now_unix() + 30);
	json = xasprintf("{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"SECRET-2\","
			 "\"expirationTimestamp\":\"%s\"}}", KUBE_EXEC_V1, when);
	answer(f, json);
	cache = kube_exec_cache_new(&f->t, &(struct kube_exec_limits){ .timeout_ms = 5000, .margin_s = 60 });
	for (int i = 0; i < 2; i++) {
		assert_int_equal(kube_exec_cache_get(cache, 0, &c, NULL, f->err, sizeof(f->err)), VIVA_OK);
		kube_exec_cred_release(&c);
	}
	assert_int_equal(runs(f), 4);
	kube_exec_cache_free(cache);
	free(json);
	free(when);

	/* no expiry: kept */
	answer(f, "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		  "\"status\":{\"token\":\"SECRET-3\"}}");
	cache = kube_exec_cache_new(&f->t, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kube_exec_cache_get(cache, 0, &c, NULL, f->err, sizeof(f->err)), VIVA_OK);
		kube_exec_cred_release(&c);
	}
	assert_int_equal(runs(f), 5);
	kube_exec_cache_free(cache);
}

struct racer {
	struct kube_exec_cache *cache;
	int rc;
	char token[64];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct kube_exec_cred c;
	char err[256];

	r->rc = kube_exec_cache_get(r->cache, 0, &c, NULL, err, sizeof(err));
	snprintf(r->token, sizeof(r->token), "%s", c.token ? c.token : "");
	kube_exec_cred_release(&c);
	return NULL;
}

static void exec_cache__concurrent_callers__one_run(void **state)
{
	struct fx *f = *state;
	struct kube_exec_cache *cache;
	struct racer r[8];
	pthread_t th[8];
	struct kube_exec_cred c;

	exec_target(f, plugin_sh, KUBE_EXEC_V1, false);
	answer(f, "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		  "\"status\":{\"token\":\"SECRET-R\"}}");
	free(put(f, "sleep", "0.3"));
	cache = kube_exec_cache_new(&f->t, &(struct kube_exec_limits){ .timeout_ms = 5000 });
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){ .cache = cache };
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, VIVA_OK);
		assert_string_equal(r[i].token, "SECRET-R");
	}
	assert_int_equal(runs(f), 1);
	kube_exec_cache_free(cache);

	/* a failing plugin: callers right after it get its failure, not another run */
	answer(f, "garbage");
	cache = kube_exec_cache_new(&f->t, &(struct kube_exec_limits){ .timeout_ms = 5000 });
	assert_int_equal(kube_exec_cache_get(cache, 0, &c, NULL, f->err, sizeof(f->err)), VIVA_EPARSE);
	assert_int_equal(kube_exec_cache_get(cache, 0, &c, NULL, f->err, sizeof(f->err)), VIVA_EPARSE);
	assert_contains(f->err, "not an ExecCredential");
	assert_int_equal(kube_exec_cache_runs(cache), 1);
	kube_exec_cache_free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64__openssl_codec__strict_alphabet_and_padding),
		cmocka_unit_test(pem__kinds__certificates_keys_and_pairs),
		cmocka_unit_test_setup_teardown(kubeconfig__token__current_context_its_cluster_user_and_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__named_context__client_certificate_data_and_insecure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__files__relative_to_the_kubeconfig_and_home, setup, teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__exec__command_args_env_and_cluster_info_read, setup, teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__malformed__one_line_naming_the_field_never_a_secret, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__malformed__lines_point_at_the_field, setup, teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__malformed_shape__contexts_files_and_yaml, setup, teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__unknown_context__names_the_ones_there, setup, teardown),
		cmocka_unit_test_setup_teardown(kubeconfig__list__first_file_wins_missing_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(in_cluster__temp_dir_for_the_mount, setup, teardown),
		cmocka_unit_test_setup_teardown(env__kube_api_url_token_and_ca_file, setup, teardown),
		cmocka_unit_test_setup_teardown(resolve__sources_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__token__args_env_and_exec_info_passed, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__client_certificate__read_and_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__bad_plugins__one_line_each_never_the_output, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__hanging_plugin__killed_with_its_children_at_the_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(exec__not_in_path__names_it_with_the_install_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_cache__expiry__counts_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_cache__concurrent_callers__one_run, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
