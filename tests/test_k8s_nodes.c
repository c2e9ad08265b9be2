/*
 * The Kubernetes side of cluster nodes (bot/k8s/nodes.h) against the fake
 * API server (tests/kube) over TLS with a bearer token, through the real
 * client: bootstrap tokens as kubeadm writes them (and as the fake's
 * authenticator, signer and cleaner, modelled on a kubeadm cluster's, take
 * them), the CA hashes checked against the openssl CLI, nodes listed in
 * pages, cordon and uncordon, label selectors, and drains with DaemonSet,
 * mirror and bare pods and a PodDisruptionBudget that blocks, then allows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/clients/kube.h"
#include "bot/clients/kubeconfig.h"
#include "bot/k8s/nodes.h"
#include "bot/k8s/rollout.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "tests/helpers.h"
#include "tests/kube/fake_kube.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "t0ken-for-the-fake"
#define NOW   1800000000          /* the fake clock's start: 2027-01-15 08:00:00 UTC */

struct fx {
	struct fake_kube *kube;
	struct kube *k;
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .start_time = NOW };
	struct kube_target t;
	char err[512];

	f->dir = test_tmpdir();
	f->kube = fake_kube_start(&o);
	assert_non_null(f->kube);
	assert_int_equal(kubeconfig_load(fake_kube_kubeconfig(f->kube), NULL, "dev", &t, err, sizeof(err)), VIVA_OK);
	f->k = kube_new(&t, NULL, err, sizeof(err));
	assert_non_null(f->k);
	kube_target_release(&t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kube_free(f->k);
	fake_kube_stop(f->kube);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const char *jpath(json_t *o, const char *path)
{
	static char buf[8192];

	return test_json_path(o, path, buf, sizeof(buf));
}

static void seed(struct fx *f, const char *text)
{
	if (fake_kube_seed(f->kube, text) != 0)
		fail_msg("the fake refused: %s", text);
}

static bool matches(const char *re, const char *s)
{
	regex_t r;
	bool ok;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* base64 value of a Secret's data, decoded (caller frees) */
static char *secret_data(json_t *secret, const char *key)
{
	const char *b = json_string_value(json_object_get(json_object_get(secret, "data"), key));
	unsigned char *out = NULL;
	size_t n = 0;

	if (!b)
		fail_msg("the Secret has no data.%s", key);
	assert_int_equal(kube_base64_decode(b, &out, &n), VIVA_OK);
	return (char *)out;
}

/* POST a SelfSubjectReview with a bearer token: the user it names, or NULL and *code. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	sb_add(arg, p, size * n);
	return size * n;
}

static json_t *whoami(struct fx *f, const char *bearer, long *code)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct strbuf sb;
	char *url = xasprintf("%s/apis/authentication.k8s.io/v1/selfsubjectreviews", fake_kube_url(f->kube));
	char *auth = xasprintf("Authorization: Bearer %s", bearer);
	json_t *j;

	sb_init(&sb);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, fake_kube_ca_file(f->kube));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS,
			 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	j = json_loadb(sb.buf ? sb.buf : "", sb.len, 0, NULL);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	sb_release(&sb);
	free(url);
	free(auth);
	return j;
}

static char *run_ok(const char *cmd)
{
	int st;
	char *out = test_run(cmd, &st);

	if (st != 0)
		fail_msg("%s -> %d: %s", cmd, st, out);
	return out;
}

/* ---- bootstrap tokens ------------------------------------------------------------------------------ */

static void token__created__secret_as_kubeadm_writes_it(void **state)
{
	struct fx *f = *state;
	struct k8s_token_opts o = { .host = "kube-a-dc1-worker07", .ttl_s = 1800, .now = fake_kube_now(f->kube) };
	struct k8s_token t;
	char name[64], tok[K8S_TOKEN_LEN + 1], want_exp[32], *v;
	json_t *s, *v2;
	const char *key;
	size_t nkeys = 0;

	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
	assert_true(matches("^[a-z0-9]{6}$", t.id));
	assert_true(matches("^[a-z0-9]{16}$", t.secret));
	assert_int_equal(t.expires, o.now + 1800);
	k8s_token_string(&t, tok, sizeof(tok));
	assert_int_equal(strlen(tok), K8S_TOKEN_LEN);
	assert_true(matches("^[a-z0-9]{6}\\.[a-z0-9]{16}$", tok));
	snprintf(name, sizeof(name), "bootstrap-token-%s", t.id);
	s = fake_kube_get(f->kube, "secrets", "kube-system", name);
	assert_non_null(s);
	assert_string_equal(jpath(s, "type"), "bootstrap.kubernetes.io/token");
	assert_null(json_object_get(s, "stringData"));
	/* exactly kubeadm's keys */
	json_object_foreach(json_object_get(s, "data"), key, v2) {
		nkeys++;
		if (strcmp(key, "token-id") && strcmp(key, "token-secret") && strcmp(key, "usage-bootstrap-authentication") &&
		    strcmp(key, "usage-bootstrap-signing") && strcmp(key, "auth-extra-groups") && strcmp(key, "expiration") &&
		    strcmp(key, "description"))
			fail_msg("unexpected key data.%s", key);
	}
	assert_int_equal(nkeys, 7);
	v = secret_data(s, "token-id");
	assert_string_equal(v, t.id);
	free(v);
	v = secret_data(s, "token-secret");
	assert_string_equal(v, t.secret);
	free(v);
	v = secret_data(s, "usage-bootstrap-authentication");
	assert_string_equal(v, "true");
	free(v);
	v = secret_data(s, "usage-bootstrap-signing");
	assert_string_equal(v, "true");
	free(v);
	v = secret_data(s, "auth-extra-groups");
	assert_string_equal(v, "system:bootstrappers:kubeadm:default-node-token");
	free(v);
	v = secret_data(s, "expiration");
	assert_true(matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", v));
	assert_string_equal(v, k8s_time(o.now + 1800, want_exp, sizeof(want_exp)));
	free(v);
	v = secret_data(s, "description");
	assert_non_null(strstr(v, "viva"));
	assert_non_null(strstr(v, "kube-a-dc1-worker07"));
	free(v);
	json_decref(s);
	/* the cluster takes it: the token authenticates as the bootstrap user... */
	{
		long code = 0;
		json_t *who = whoami(f, tok, &code);
		char want_user[64];

		assert_int_equal(code, 201);
		snprintf(want_user, sizeof(want_user), "system:bootstrap:%s", t.id);
		assert_string_equal(jpath(who, "status.userInfo.username"), want_user);
		assert_string_equal(jpath(who, "status.userInfo.groups.0"), "system:bootstrappers");
		assert_string_equal(jpath(who, "status.userInfo.groups.1"), "system:bootstrappers:kubeadm:default-node-token");
		json_decref(who);
	}
	/* ...and the bootstrap signer signs cluster-info with it, which kubeadm join verifies */
	{
		json_t *cm;
		char key2[64], *cmd, *out, *input, *hdr;
		const char *sig, *kc;
		char *payload;

		fake_kube_step(f->kube, 1);
		cm = fake_kube_get(f->kube, "configmaps", "kube-public", "cluster-info");
		snprintf(key2, sizeof(key2), "jws-kubeconfig-%s", t.id);
		sig = json_string_value(json_object_get(json_object_get(cm, "data"), key2));
		assert_non_null(sig);
		kc = json_string_value(json_object_get(json_object_get(cm, "data"), "kubeconfig"));
		/* the header is go-jose's {"alg":"HS256","kid":"<id>"}, the payload detached */
		hdr = xasprintf("{\"alg\":\"HS256\",\"kid\":\"%s\"}", t.id);
		payload = xasprintf("%s/payload", f->dir);
		test_write_file(payload, kc);
		input = xasprintf("%s/hdr", f->dir);
		test_write_file(input, hdr);
		cmd = xasprintf("h=$(basenc --base64url -w0 < '%s' | tr -d =); p=$(basenc --base64url -w0 < '%s' | tr -d =); "
				"s=$(printf '%%s.%%s' \"$h\" \"$p\" | openssl dgst -sha256 -mac HMAC -macopt key:%s -binary | "
				"basenc --base64url -w0 | tr -d =); printf '%%s..%%s' \"$h\" \"$s\"", input, payload, t.secret);
		out = run_ok(cmd);
		assert_string_equal(sig, out);
		free(out);
		free(cmd);
		free(input);
		free(payload);
		free(hdr);
		json_decref(cm);
	}
	k8s_token_wipe(&t);
	assert_int_equal(t.secret[0], 0);
}

/* Once expired: the API refuses it, the signer drops its signature, the cleaner deletes it. */
static void token__expired__refused_unsigned_then_deleted(void **state)
{
	struct fx *f = *state;
	struct k8s_token_opts o = { .host = "kube-a-dc1-worker07", .ttl_s = 600, .now = fake_kube_now(f->kube) };
	struct k8s_token t;
	char tok[K8S_TOKEN_LEN + 1], name[64], key[64];
	long code = 0;
	json_t *j;

	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
	k8s_token_string(&t, tok, sizeof(tok));
	snprintf(name, sizeof(name), "bootstrap-token-%s", t.id);
	snprintf(key, sizeof(key), "jws-kubeconfig-%s", t.id);
	fake_kube_step(f->kube, 1);
	j = fake_kube_get(f->kube, "configmaps", "kube-public", "cluster-info");
	assert_non_null(json_object_get(json_object_get(j, "data"), key));
	json_decref(j);
	fake_kube_advance(f->kube, 540);
	json_decref(whoami(f, tok, &code));
	assert_int_equal(code, 201);
	fake_kube_advance(f->kube, 61);   /* 601 s: expired */
	json_decref(whoami(f, tok, &code));
	assert_int_equal(code, 401);
	fake_kube_step(f->kube, 1);
	j = fake_kube_get(f->kube, "secrets", "kube-system", name);
	assert_null(j);
	j = fake_kube_get(f->kube, "configmaps", "kube-public", "cluster-info");
	assert_null(json_object_get(json_object_get(j, "data"), key));
	json_decref(j);
	k8s_token_wipe(&t);
}

static void token__ttl__ten_minutes_to_an_hour(void **state)
{
	struct fx *f = *state;
	const long bad[] = { 599, 3601, -1, 86400 };
	const long good[] = { 600, 3600 };
	struct k8s_token t;
	int64_t now = fake_kube_now(f->kube);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct k8s_token_opts o = { .host = "n1", .ttl_s = bad[i], .now = now };

		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EINVAL);
		assert_non_null(strstr(kube_last_error(), "10 minutes to an hour"));
	}
	assert_int_equal(fake_kube_count(f->kube, "create", "secrets"), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct k8s_token_opts o = { .host = "n1", .ttl_s = good[i], .now = now };

		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
		assert_int_equal(t.expires - now, good[i]);
	}
	/* the default: within the bounds */
	{
		struct k8s_token_opts o = { .host = "n1", .now = now };

		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
		assert_true(t.expires - now >= 600 && t.expires - now <= 3600);
		assert_int_equal(t.expires - now, K8S_TOKEN_TTL_DEFAULT);
	}
	/* a host that is no node name, and no clock */
	{
		struct k8s_token_opts o = { .host = "Kube A/../x", .now = now };

		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EINVAL);
		o.host = "n1";
		o.now = 0;
		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EINVAL);
	}
	assert_int_equal(fake_kube_count(f->kube, "create", "secrets"), 3);
}

/* A scripted random source: call i fills with chunk i (cycling), a missing byte is `fill`. */
struct script {
	const unsigned char *chunks[8];
	size_t lens[8];
	unsigned char fill[8];
	int n;
	int calls;
	bool broken;
};

static int scripted(unsigned char *buf, size_t n, void *ud)
{
	struct script *s = ud;
	int c = s->calls++ % s->n;

	if (s->broken)
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = i < s->lens[c] ? s->chunks[c][i] : s->fill[c];
	return 0;
}

static void token__random_bytes__rejection_sampled_into_a_z0_9(void **state)
{
	struct fx *f = *state;
	/* 252..255 would favour 0-3: they are drawn again; 251 and 71 are 'z' (x % 36 == 35) */
	static const unsigned char id_bytes[] = { 255, 252, 253, 254, 10, 35, 36, 251, 71, 72 };
	static const unsigned char secret_bytes[] = { 252, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct script sc = { .chunks = { id_bytes, secret_bytes }, .lens = { sizeof(id_bytes), sizeof(secret_bytes) },
			     .fill = { 0, 0 }, .n = 2 };
	struct k8s_token_opts o = { .host = "n1", .now = fake_kube_now(f->kube), .random = scripted, .random_ud = &sc };
	struct k8s_token t;
	json_t *seen = json_object();

	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
	assert_string_equal(t.id, "az0zz0");
	assert_string_equal(t.secret, "0123456789abcdef");
	/* a source that fails, or only ever gives rejected bytes, is an error, not a loop */
	sc.broken = true;
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EIO);
	{
		static const unsigned char high[] = { 255 };
		struct script hi = { .chunks = { high }, .lens = { 1 }, .fill = { 253 }, .n = 1 };

		o.random_ud = &hi;
		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EIO);
		assert_true(hi.calls <= 64);
	}
	/* the real generator: the alphabet, and ids that differ */
	o.random = NULL;
	for (int i = 0; i < 40; i++) {
		assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
		assert_true(matches("^[a-z0-9]{6}$", t.id));
		assert_true(matches("^[a-z0-9]{16}$", t.secret));
		assert_null(json_object_get(seen, t.id));
		json_object_set_new(seen, t.id, json_true());
	}
	json_decref(seen);
}

static void token__id_taken__drawn_again_then_given_up(void **state)
{
	struct fx *f = *state;
	static const unsigned char a[] = { 10 }, b[] = { 11 }, c[] = { 12 }, d[] = { 13 };
	struct script sc = { .chunks = { a, b, c, d }, .lens = { 1, 1, 1, 1 }, .fill = { 10, 11, 12, 13 }, .n = 4 };
	struct k8s_token_opts o = { .host = "n1", .now = fake_kube_now(f->kube), .random = scripted, .random_ud = &sc };
	struct k8s_token t;
	json_t *s;

	/* someone's token aaaaaa is there already */
	seed(f, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"bootstrap-token-aaaaaa\","
		"\"namespace\":\"kube-system\"},\"type\":\"bootstrap.kubernetes.io/token\",\"stringData\":{\"token-id\":"
		"\"aaaaaa\",\"token-secret\":\"zzzzzzzzzzzzzzzz\"}}");
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
	assert_string_equal(t.id, "cccccc");
	assert_string_equal(t.secret, "dddddddddddddddd");
	assert_int_equal(fake_kube_count(f->kube, "create", "secrets"), 2);
	s = fake_kube_get(f->kube, "secrets", "kube-system", "bootstrap-token-aaaaaa");
	assert_string_equal(jpath(s, "data.token-secret"), "enp6enp6enp6enp6enp6eg==");   /* untouched */
	json_decref(s);
	/* every id drawn is taken: given up after K8S_TOKEN_TRIES, the secret in no message */
	sc.n = 2;
	sc.calls = 0;
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_ECONFLICT);
	assert_int_equal(fake_kube_count(f->kube, "create", "secrets"), 2 + K8S_TOKEN_TRIES);
	assert_non_null(strstr(kube_last_error(), "aaaaaa"));
	assert_null(strstr(kube_last_error(), "bbbbbbbbbbbbbbbb"));
	assert_string_equal(t.id, "");
}

/* Failures name the token id, never its secret: not in kube_last_error(), not in the log. */
static void token__api_fails__id_in_the_message_never_the_secret(void **state)
{
	struct fx *f = *state;
	static const unsigned char a[] = { 10 }, b[] = { 11 };
	struct script sc = { .chunks = { a, b }, .lens = { 1, 1 }, .fill = { 10, 11 }, .n = 2 };
	struct k8s_token_opts o = { .host = "n1", .now = fake_kube_now(f->kube), .random = scripted, .random_ud = &sc };
	struct k8s_token t;
	char *logpath = xasprintf("%s/log", f->dir), *log = NULL, *b64;
	size_t len = 0;
	int fd = open(logpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
	enum log_level was = log_get_level();
	const char *secret = "bbbbbbbbbbbbbbbb";

	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);
	fake_kube_fault(f->kube, "POST", "/api/v1/namespaces/kube-system/secrets", FK_FAULT_500, 1, 0);
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_EREMOTE);
	assert_non_null(strstr(kube_last_error(), "bootstrap token aaaaaa for node n1"));
	assert_null(strstr(kube_last_error(), secret));
	/* a 409 that is not AlreadyExists (a conflict) is no id collision: not drawn again */
	sc.calls = 0;
	fake_kube_fault(f->kube, "POST", "/api/v1/namespaces/kube-system/secrets", FK_FAULT_409, 1, 0);
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_ECONFLICT);
	assert_int_equal(fake_kube_count(f->kube, "create", "secrets"), 2);
	assert_null(strstr(kube_last_error(), secret));
	/* and a success logs the id only */
	sc.calls = 0;
	assert_int_equal(k8s_token_create(f->k, &o, &t), VIVA_OK);
	assert_string_equal(t.secret, secret);
	log_set_level(was);
	log_set_fd(2);
	close(fd);
	assert_int_equal(read_file(logpath, &log, &len), 0);
	assert_non_null(strstr(log, "token_id=aaaaaa"));
	b64 = kube_base64_encode((const unsigned char *)secret, strlen(secret));
	assert_null(strstr(log, secret));
	assert_null(strstr(log, b64));
	assert_null(strstr(log, "YmJiYmJiYmJiYmJiYmJi"));   /* any cut of its base64 */
	free(b64);
	free(log);
	free(logpath);
}

/* ---- CA hashes ---------------------------------------------------------------------------------------- */

/* What the kubeadm documentation says to run, for one PEM file. */
static char *openssl_hash(const char *pem_path)
{
	char *cmd = xasprintf("openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | "
			      "cut -d' ' -f1", pem_path);
	char *out = run_ok(cmd), *h;

	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 64);
	h = xasprintf("sha256:%s", out);
	free(out);
	free(cmd);
	return h;
}

static void ca_hash__cluster_info__equals_the_openssl_cli(void **state)
{
	struct fx *f = *state;
	json_t *hashes = NULL;
	char *want = openssl_hash(fake_kube_ca_file(f->kube));

	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_OK);
	assert_int_equal(json_array_size(hashes), 1);
	assert_string_equal(json_string_value(json_array_get(hashes, 0)), want);
	assert_true(matches("^sha256:[0-9a-f]{64}$", want));
	assert_int_equal(strlen(want), K8S_CA_HASH_LEN);
	json_decref(hashes);
	free(want);
}

static void ca_hash__bundle_of_three__one_hash_each_in_order(void **state)
{
	struct fx *f = *state;
	char *bundle = xasprintf("%s/bundle.pem", f->dir), *text = NULL, *p;
	json_t *hashes = NULL;
	size_t len = 0;
	int i = 0;

	assert_int_equal(fake_kube_seed_cluster_info(f->kube, 2, bundle), 0);
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_OK);
	assert_int_equal(json_array_size(hashes), 3);
	/* each certificate of the bundle on its own through the CLI */
	assert_int_equal(read_file(bundle, &text, &len), 0);
	for (p = strstr(text, "-----BEGIN CERTIFICATE-----"); p; p = strstr(p + 1, "-----BEGIN CERTIFICATE-----"), i++) {
		char *end = strstr(p, "-----END CERTIFICATE-----"), *one, *path = xasprintf("%s/ca%d.pem", f->dir, i);
		char *want;

		assert_non_null(end);
		one = xstrndup(p, (size_t)(end - p) + strlen("-----END CERTIFICATE-----\n"));
		test_write_file(path, one);
		want = openssl_hash(path);
		assert_string_equal(json_string_value(json_array_get(hashes, (size_t)i)), want);
		free(want);
		free(one);
		free(path);
	}
	assert_int_equal(i, 3);
	assert_string_not_equal(json_string_value(json_array_get(hashes, 0)), json_string_value(json_array_get(hashes, 1)));
	json_decref(hashes);
	/* the same through the PEM entry point, with a key block in the middle passed over */
	{
		char *mixed = xasprintf("%.*s-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n%s",
					(int)(strstr(text, "-----END CERTIFICATE-----") + 26 - text), text,
					strstr(text, "-----END CERTIFICATE-----") + 26);

		assert_int_equal(k8s_ca_hashes_of_pem(mixed, strlen(mixed), &hashes), VIVA_OK);
		assert_int_equal(json_array_size(hashes), 3);
		json_decref(hashes);
		free(mixed);
	}
	free(text);
	free(bundle);
}

static void put_cluster_info(struct fx *f, const char *kubeconfig)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
			       "name", "cluster-info", "namespace", "kube-public", "data", "kubeconfig", kubeconfig);
	char *text = json_dumps(cm, JSON_COMPACT);

	fake_kube_remove(f->kube, "configmaps", "kube-public", "cluster-info");
	seed(f, text);
	free(text);
	json_decref(cm);
}

static char *kubeconfig_with_ca(const char *ca_data)
{
	return xasprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
			 "    server: https://10.0.0.10:6443\n  name: \"\"\n", ca_data);
}

static void ca_hash__missing_or_garbage_cluster_info__clear_errors(void **state)
{
	struct fx *f = *state;
	json_t *hashes = NULL;
	char *kc, *b64;
	const char *junk_cert = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";

	assert_int_equal(fake_kube_remove(f->kube, "configmaps", "kube-public", "cluster-info"), 0);
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_ENOENT);
	assert_null(hashes);
	assert_non_null(strstr(kube_last_error(), "cluster dev has no ConfigMap kube-public/cluster-info"));
	assert_non_null(strstr(kube_last_error(), "kubeadm"));

	seed(f, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cluster-info\",\"namespace\":"
		"\"kube-public\"},\"data\":{\"other\":\"x\"}}");
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_string_equal(kube_last_error(), "cluster dev: ConfigMap kube-public/cluster-info: data.kubeconfig: missing");

	put_cluster_info(f, "clusters: [ {cluster: \n  - ]: :");
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "data.kubeconfig: not a kubeconfig: YAML line"));

	put_cluster_info(f, "apiVersion: v1\nkind: Config\nclusters: []\n");
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "no clusters[0].cluster.certificate-authority-data"));

	kc = kubeconfig_with_ca("not*base64");
	put_cluster_info(f, kc);
	free(kc);
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "certificate-authority-data is not base64"));

	kc = kubeconfig_with_ca("aGVsbG8gd29ybGQ=");   /* "hello world" */
	put_cluster_info(f, kc);
	free(kc);
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "certificate-authority-data: no PEM certificate in it"));

	b64 = kube_base64_encode((const unsigned char *)junk_cert, strlen(junk_cert));
	kc = kubeconfig_with_ca(b64);
	put_cluster_info(f, kc);
	free(kc);
	free(b64);
	assert_int_equal(k8s_ca_hashes(f->k, &hashes), VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "PEM block 1 is not an X.509 certificate"));
	assert_null(hashes);

	/* the pure entry points */
	assert_int_equal(k8s_ca_hashes_of_pem("", 0, &hashes), VIVA_EPARSE);
	assert_int_equal(k8s_ca_hashes_of_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", 58, &hashes),
			 VIVA_EPARSE);
	assert_non_null(strstr(kube_last_error(), "PEM block 1 is damaged"));
	assert_int_equal(k8s_ca_hashes_of_kubeconfig("kind: Config\n", 13, &hashes), VIVA_EPARSE);
	assert_null(hashes);
}

/* ---- nodes ---------------------------------------------------------------------------------------------- */

static void seed_node(struct fx *f, const char *name, const char *version, const char *ready, bool unschedulable,
		      const char *labels)
{
	char *text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":%s},"
			       "\"spec\":{%s},\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"%s\"},\"conditions\":[%s]}}",
			       name, labels ? labels : "{}", unschedulable ? "\"unschedulable\":true" : "", version,
			       ready ? ready : "");

	seed(f, text);
	free(text);
}

#define READY_TRUE  "{\"type\":\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}"
#define READY_FALSE "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"KubeletNotReady\"}"
#define READY_UNK   "{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"NodeStatusUnknown\"}"

static void nodes__listed_in_pages__fields_read(void **state)
{
	struct fx *f = *state;
	struct k8s_node_list l;
	struct k8s_node n;
	json_t *j;

	seed_node(f, "kube-a-dc1-worker03", "v1.25.6", READY_TRUE, false, "{\"viva/gpu\":\"true\"}");
	seed_node(f, "kube-a-dc1-worker01", "v1.25.6", READY_TRUE, false, NULL);
	seed_node(f, "kube-a-dc1-worker02", "v1.24.9", READY_FALSE, true, NULL);
	seed_node(f, "kube-a-dc1-master01", "v1.25.6", READY_TRUE, false, "{\"node-role.kubernetes.io/control-plane\":\"\"}");
	seed_node(f, "kube-a-dc2-worker01", "v1.25.6", READY_UNK, false, "{\"viva/gpu\":\"true\"}");
	seed_node(f, "kube-a-dc2-worker02", "", NULL, false, NULL);
	seed_node(f, "kube-a-dc2-worker03", "v1.25.6", READY_TRUE, false, NULL);
	fake_kube_reset_counts(f->kube);
	assert_int_equal(k8s_nodes_list(f->k, NULL, 3, &l), VIVA_OK);
	assert_int_equal(fake_kube_count(f->kube, "list", "nodes"), 3);   /* 3 + 3 + 1 */
	assert_int_equal(l.n, 7);
	assert_string_equal(l.v[0].name, "kube-a-dc1-master01");
	assert_string_equal(l.v[1].name, "kube-a-dc1-worker01");
	assert_string_equal(l.v[2].name, "kube-a-dc1-worker02");
	assert_string_equal(l.v[2].kubelet_version, "v1.24.9");
	assert_int_equal(l.v[2].ready, K8S_READY_FALSE);
	assert_string_equal(l.v[2].ready_reason, "KubeletNotReady");
	assert_false(l.v[2].schedulable);
	assert_int_equal(l.v[1].ready, K8S_READY_TRUE);
	assert_true(l.v[1].schedulable);
	assert_true(l.v[1].created >= NOW - 5 && l.v[1].created <= NOW + 60);
	assert_int_equal(l.v[4].ready, K8S_READY_UNKNOWN);   /* dc2-worker01: Unknown */
	assert_int_equal(l.v[5].ready, K8S_READY_UNKNOWN);   /* dc2-worker02: no condition at all */
	assert_string_equal(l.v[5].kubelet_version, "");
	assert_string_equal(jpath(l.v[3].labels, "viva/gpu"), "true");
	j = k8s_node_json(&l.v[2]);
	assert_string_equal(jpath(j, "name"), "kube-a-dc1-worker02");
	assert_string_equal(jpath(j, "kubeletVersion"), "v1.24.9");
	assert_string_equal(jpath(j, "ready"), "False");
	assert_true(json_is_false(json_object_get(j, "schedulable")));
	assert_true(matches("^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$", jpath(j, "created")));
	json_decref(j);
	k8s_node_list_release(&l);
	/* a label selector, one page */
	assert_int_equal(k8s_nodes_list(f->k, "viva/gpu=true", 0, &l), VIVA_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "kube-a-dc1-worker03");
	assert_string_equal(l.v[1].name, "kube-a-dc2-worker01");
	k8s_node_list_release(&l);
	/* one node */
	assert_int_equal(k8s_node_get(f->k, "kube-a-dc1-worker02", &n), VIVA_OK);
	assert_false(n.schedulable);
	k8s_node_release(&n);
	assert_int_equal(k8s_node_get(f->k, "kube-a-dc9-worker99", &n), VIVA_ENOENT);
	assert_non_null(strstr(kube_last_error(), "nodes \"kube-a-dc9-worker99\" not found"));
	k8s_node_release(&n);
}

static void cordon__twice__second_writes_nothing_then_uncordoned(void **state)
{
	struct fx *f = *state;
	bool changed = false;
	json_t *n;

	seed_node(f, "kube-a-dc1-worker01", "v1.25.6", READY_TRUE, false, NULL);
	fake_kube_reset_counts(f->kube);
	assert_int_equal(k8s_node_cordon(f->k, "kube-a-dc1-worker01", true, &changed), VIVA_OK);
	assert_true(changed);
	assert_int_equal(k8s_node_cordon(f->k, "kube-a-dc1-worker01", true, &changed), VIVA_OK);
	assert_false(changed);
	assert_int_equal(fake_kube_count(f->kube, "patch", "nodes"), 1);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker01");
	assert_true(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
	json_decref(n);
	assert_int_equal(k8s_node_cordon(f->k, "kube-a-dc1-worker01", false, &changed), VIVA_OK);
	assert_true(changed);
	assert_int_equal(k8s_node_cordon(f->k, "kube-a-dc1-worker01", false, &changed), VIVA_OK);
	assert_false(changed);
	assert_int_equal(fake_kube_count(f->kube, "patch", "nodes"), 2);
	n = fake_kube_get(f->kube, "nodes", NULL, "kube-a-dc1-worker01");
	assert_null(json_object_get(json_object_get(n, "spec"), "unschedulable"));   /* removed, as kubectl does */
	json_decref(n);
	assert_int_equal(k8s_node_cordon(f->k, "nope", true, &changed), VIVA_ENOENT);
	assert_false(changed);
}

static void selector__labels_and_expressions__as_the_api_matches(void **state)
{
	static const struct {
		const char *sel, *labels;
		bool want;
	} cases[] = {
		{ "{}", "{}", true },
		{ "{}", "{\"a\":\"1\"}", true },
		{ "null", "{\"a\":\"1\"}", false },
		{ "{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\",\"x\":\"y\"}", true },
		{ "{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"db\"}", false },
		{ "{\"matchLabels\":{\"app\":\"web\"}}", "{}", false },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]}]}", "{\"tier\":\"b\"}", true },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"a\"]}]}", "{}", false },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}", "{}", true },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}", "{\"tier\":\"a\"}", false },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Exists\"}]}", "{\"tier\":\"\"}", true },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"DoesNotExist\"}]}", "{\"tier\":\"\"}", false },
		/* invalid selectors match nothing */
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[]}]}", "{\"tier\":\"a\"}", false },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Exists\",\"values\":[\"a\"]}]}", "{\"tier\":\"a\"}", false },
		{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}", "{\"tier\":\"2\"}", false },
		{ "{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"v\",\"operator\":\"In\",\"values\":[\"2\"]}]}",
		  "{\"app\":\"web\",\"v\":\"1\"}", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_loads(cases[i].sel, JSON_DECODE_ANY, NULL), *l = json_loads(cases[i].labels, 0, NULL);

		if (k8s_selector_matches(s, l) != cases[i].want)
			fail_msg("case %zu: %s against %s: want %d", i, cases[i].sel, cases[i].labels, cases[i].want);
		json_decref(s);
		json_decref(l);
	}
}

/* ---- drain -------------------------------------------------------------------------------------------------- */

static char *uid_of(struct fx *f, const char *res, const char *ns, const char *name)
{
	json_t *o = fake_kube_get(f->kube, res, ns, name);
	char *uid;

	assert_non_null(o);
	uid = xstrdup(jpath(o, "metadata.uid"));
	json_decref(o);
	return uid;
}

static void seed_pod(struct fx *f, const char *name, const char *node, const char *labels, const char *owner_kind,
		     const char *owner_name, const char *owner_uid, const char *annotations)
{
	char *owners = owner_kind ? xasprintf(",\"ownerReferences\":[{\"apiVersion\":\"%s\",\"kind\":\"%s\",\"name\":\"%s\","
					      "\"uid\":\"%s\",\"controller\":true}]",
					      strcmp(owner_kind, "Node") == 0 ? "v1" : strcmp(owner_kind, "Job") == 0 ? "batch/v1"
														 : "apps/v1",
					      owner_kind, owner_name, owner_uid)
				  : xstrdup("");
	char *text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
			       "\"labels\":%s,\"annotations\":%s%s},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"c\","
			       "\"image\":\"registry.example.com/%s:1\"}]},\"status\":{\"phase\":\"Pending\"}}",
			       name, labels ? labels : "{}", annotations ? annotations : "{}", owners, node, name);

	seed(f, text);
	free(text);
	free(owners);
}

/*
 * Node n1 runs: web-1, web-2 (a StatefulSet's, guarded by PodDisruptionBudget
 * web, minAvailable 3, with web-3 on n2), agent-n1 (a DaemonSet's), the
 * kubelet's mirror pod etcd-n1, a bare pod, and a finished Job's pod.
 */
static void seed_drain_world(struct fx *f)
{
	char *sts, *ds, *job, *node;

	seed_node(f, "n1", "v1.25.6", READY_TRUE, false, NULL);
	seed_node(f, "n2", "v1.25.6", READY_TRUE, false, NULL);
	seed(f, "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
		"\"spec\":{\"serviceName\":\"web\",\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}");
	seed(f, "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"agent\",\"namespace\":\"default\"},"
		"\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}}}}");
	seed(f, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"once\",\"namespace\":\"default\"},"
		"\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}}}");
	sts = uid_of(f, "statefulsets", "default", "web");
	ds = uid_of(f, "daemonsets", "default", "agent");
	job = uid_of(f, "jobs", "default", "once");
	node = uid_of(f, "nodes", NULL, "n1");
	seed_pod(f, "web-1", "n1", "{\"app\":\"web\"}", "StatefulSet", "web", sts, NULL);
	seed_pod(f, "web-2", "n1", "{\"app\":\"web\"}", "StatefulSet", "web", sts, NULL);
	seed_pod(f, "web-3", "n2", "{\"app\":\"web\"}", "StatefulSet", "web", sts, NULL);
	seed_pod(f, "agent-n1", "n1", "{\"app\":\"agent\"}", "DaemonSet", "agent", ds, NULL);
	seed_pod(f, "etcd-n1", "n1", "{\"component\":\"etcd\"}", "Node", "n1", node,
		 "{\"kubernetes.io/config.mirror\":\"0123abcd\"}");
	seed_pod(f, "scratch", "n1", "{\"app\":\"scratch\"}", NULL, NULL, NULL, NULL);
	seed_pod(f, "once-x1", "n1", "{\"job-name\":\"once\"}", "Job", "once", job, NULL);
	seed(f, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"web\","
		"\"namespace\":\"default\"},\"spec\":{\"minAvailable\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}");
	seed(f, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"other\","
		"\"namespace\":\"default\"},\"spec\":{\"minAvailable\":1,\"selector\":{\"matchLabels\":{\"app\":\"other\"}}}}");
	fake_kube_settle(f->kube, 20);
	{
		json_t *st = json_pack("{s:s}", "phase", "Succeeded");
		assert_int_equal(fake_kube_set_status(f->kube, "pods", "default", "once-x1", st), 0);
		json_decref(st);
	}
	test_kube_expect(f->kube, "pods", "default", "web-1", "status.phase", "Running");
	free(sts);
	free(ds);
	free(job);
	free(node);
}

/* The drain's clock: fake milliseconds; each sleep runs the fake's controllers once (the kubelet ends
 * terminating pods) and, from relax_at on, lets budget web allow disruptions. */
struct clk {
	struct fx *f;
	int64_t ms;
	int64_t relax_at;        /* 0: never */
	int sleeps;
	long slept[64];
};

static int64_t clk_now(void *ud)
{
	return ((struct clk *)ud)->ms;
}

static void clk_sleep(void *ud, long ms)
{
	struct clk *c = ud;

	if (c->sleeps < 64)
		c->slept[c->sleeps] = ms;
	c->sleeps++;
	c->ms += ms;
	if (c->relax_at && c->ms >= c->relax_at) {
		c->relax_at = 0;
		fake_kube_remove(c->f->kube, "poddisruptionbudgets", "default", "web");
		seed(c->f, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"web\","
			   "\"namespace\":\"default\"},\"spec\":{\"minAvailable\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}");
	}
	fake_kube_step(c->f->kube, 1);
}

static bool has_pod(json_t *arr, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(arr, i, e)
		if (strcmp(jpath(e, "name"), name) == 0)
			return true;
	return false;
}

static int evictions_of(struct fx *f, const char *pod)
{
	json_t *log = fake_kube_requests(f->kube), *e;
	size_t i;
	int n = 0;

	json_array_foreach(log, i, e)
		if (strcmp(jpath(e, "subresource"), "eviction") == 0 && strcmp(jpath(e, "name"), pod) == 0)
			n++;
	json_decref(log);
	return n;
}

static void drain__budget_blocks__timeout_reported_with_its_name(void **state)
{
	struct fx *f = *state;
	struct clk c = { .f = f };
	struct k8s_drain_opts o = { .timeout_s = 30, .now_ms = clk_now, .sleep_ms = clk_sleep, .clock_ud = &c };
	struct k8s_drain d;
	int attempts;

	seed_drain_world(f);
	assert_int_equal(k8s_drain_node(f->k, "n1", &o, &d), VIVA_ETIMEOUT);
	assert_non_null(strstr(kube_last_error(), "cluster dev: node n1 is not drained after 30 s: 2 pods left; "
						  "2 blocked by a PodDisruptionBudget (web)"));
	assert_false(d.done);
	/* evicted: the bare pod (with a warning) and the finished Job's pod */
	assert_int_equal(json_array_size(d.evicted), 2);
	assert_true(has_pod(d.evicted, "scratch"));
	assert_true(has_pod(d.evicted, "once-x1"));
	assert_int_equal(json_array_size(d.warnings), 1);
	assert_string_equal(jpath(d.warnings, "0.name"), "scratch");
	assert_non_null(strstr(jpath(d.warnings, "0.message"), "nothing will recreate it"));
	/* blocked, naming the budget and the API's reason */
	assert_int_equal(json_array_size(d.blocked), 2);
	assert_string_equal(jpath(d.blocked, "0.name"), "web-1");
	assert_string_equal(jpath(d.blocked, "0.namespace"), "default");
	assert_string_equal(jpath(d.blocked, "0.pdb"), "web");
	assert_non_null(strstr(jpath(d.blocked, "0.message"), "The disruption budget web needs 3 healthy pods and has 3 currently"));
	/* left alone: the DaemonSet's and the mirror pod */
	assert_int_equal(json_array_size(d.skipped), 2);
	assert_true(has_pod(d.skipped, "agent-n1"));
	assert_true(has_pod(d.skipped, "etcd-n1"));
	assert_int_equal(json_array_size(d.terminating), 0);
	assert_int_equal(json_array_size(d.failed), 0);
	assert_int_equal(evictions_of(f, "agent-n1") + evictions_of(f, "etcd-n1") + evictions_of(f, "web-3"), 0);
	/* 429s asked again with backoff (1, 2, 4, 8, 10... s), bounded by the timeout */
	assert_int_equal(c.sleeps, 6);
	assert_int_equal(c.slept[0], 1000);
	assert_int_equal(c.slept[1], 2000);
	assert_int_equal(c.slept[2], 4000);
	assert_int_equal(c.slept[3], 8000);
	assert_int_equal(c.slept[4], 10000);
	assert_int_equal(c.slept[5], 5000);   /* what is left: the last pass at the deadline */
	assert_int_equal(c.ms, 30000);
	attempts = evictions_of(f, "web-1");
	assert_int_equal(attempts, 7);
	assert_int_equal(d.passes, 7);
	assert_int_equal(evictions_of(f, "scratch"), 1);
	/* the node stays cordoned, the pods that could go are gone */
	{
		json_t *n = fake_kube_get(f->kube, "nodes", NULL, "n1");
		assert_true(json_is_true(json_object_get(json_object_get(n, "spec"), "unschedulable")));
		json_decref(n);
	}
	assert_null(fake_kube_get(f->kube, "pods", "default", "scratch"));
	k8s_drain_release(&d);
}

static void drain__budget_allows_later__drained(void **state)
{
	struct fx *f = *state;
	struct clk c = { .f = f, .relax_at = 5000 };
	struct k8s_drain_opts o = { .now_ms = clk_now, .sleep_ms = clk_sleep, .clock_ud = &c };
	struct k8s_drain d;

	seed_drain_world(f);
	assert_int_equal(k8s_drain_node(f->k, "n1", &o, &d), VIVA_OK);
	assert_true(d.done);
	assert_int_equal(json_array_size(d.evicted), 4);
	assert_true(has_pod(d.evicted, "web-1"));
	assert_true(has_pod(d.evicted, "web-2"));
	assert_int_equal(json_array_size(d.blocked), 0);
	assert_int_equal(json_array_size(d.terminating), 0);
	assert_int_equal(json_array_size(d.skipped), 2);
	assert_true(evictions_of(f, "web-1") >= 2);   /* refused, then taken */
	assert_int_equal(evictions_of(f, "web-1"), 4);
	assert_int_equal(evictions_of(f, "web-2"), 4);
	/* 1, 2, 4 s refused (the budget relaxed during the third wait), then both went: 1 s to see them gone */
	assert_int_equal(c.sleeps, 4);
	assert_int_equal(c.slept[2], 4000);
	assert_int_equal(c.slept[3], 1000);
	assert_int_equal(c.ms, 8000);
	assert_null(fake_kube_get(f->kube, "pods", "default", "web-1"));
	test_kube_expect(f->kube, "pods", "default", "web-3", "status.phase", "Running");
	test_kube_expect(f->kube, "pods", "default", "agent-n1", "status.phase", "Running");
	k8s_drain_release(&d);
}

/* One pass at a time, as a durable operation runs it. */
static void drain__passes__stepwise_and_bounded(void **state)
{
	struct fx *f = *state;
	struct clk c = { .f = f, .ms = 1000 };
	struct k8s_drain_opts o = { .now_ms = clk_now, .sleep_ms = clk_sleep, .clock_ud = &c };
	struct k8s_drain d;

	seed_drain_world(f);
	/* past its deadline a pass evicts nothing */
	o.deadline_ms = 1000;
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_OK);
	assert_false(d.done);
	assert_int_equal(json_array_size(d.untried), 4);
	assert_int_equal(json_array_size(d.evicted), 0);
	assert_int_equal(fake_kube_count(f->kube, "create", "pods/eviction"), 0);
	k8s_drain_release(&d);
	o.deadline_ms = 0;
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_OK);
	assert_int_equal(json_array_size(d.evicted), 2);
	assert_int_equal(json_array_size(d.blocked), 2);
	assert_false(d.done);
	k8s_drain_release(&d);
	/* before the kubelet ends them, the evicted pods are still there, terminating */
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_OK);
	assert_int_equal(json_array_size(d.terminating), 2);
	assert_int_equal(json_array_size(d.evicted), 0);
	k8s_drain_release(&d);
	fake_kube_step(f->kube, 1);
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_OK);
	assert_int_equal(json_array_size(d.terminating), 0);
	assert_int_equal(json_array_size(d.blocked), 2);
	k8s_drain_release(&d);
	/* more pods than allowed: refused before any eviction */
	fake_kube_reset_counts(f->kube);
	o.max_pods = 3;
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_ERANGE);
	assert_non_null(strstr(kube_last_error(), "node n1 has more than 3 pods"));
	assert_int_equal(fake_kube_count(f->kube, "create", "pods/eviction"), 0);
	k8s_drain_release(&d);
	/* a node that does not exist is not "drained" */
	assert_int_equal(k8s_drain_node(f->k, "n9", &o, &d), VIVA_ENOENT);
	k8s_drain_release(&d);
	/* the API down mid-way: the pass stops at the first pod it could not evict */
	o.max_pods = 0;
	fake_kube_fault(f->kube, "POST", "/api/v1/namespaces/*/pods/*/eviction", FK_FAULT_503, 100, 0);
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_EUNAVAIL);
	assert_int_equal(json_array_size(d.failed), 1);
	k8s_drain_release(&d);
	fake_kube_clear_faults(f->kube);
	/* two budgets over one pod: the API refuses (500), the pass goes on with the others */
	seed(f, "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"web-too\","
		"\"namespace\":\"default\"},\"spec\":{\"maxUnavailable\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}");
	assert_int_equal(k8s_drain_pass(f->k, "n1", &o, &d), VIVA_OK);
	assert_int_equal(json_array_size(d.failed), 2);
	assert_non_null(strstr(jpath(d.failed, "1.message"), "more than one PodDisruptionBudget"));
	assert_int_equal(json_array_size(d.blocked), 0);
	assert_false(d.done);
	k8s_drain_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(token__created__secret_as_kubeadm_writes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(token__expired__refused_unsigned_then_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(token__ttl__ten_minutes_to_an_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(token__random_bytes__rejection_sampled_into_a_z0_9, setup, teardown),
		cmocka_unit_test_setup_teardown(token__id_taken__drawn_again_then_given_up, setup, teardown),
		cmocka_unit_test_setup_teardown(token__api_fails__id_in_the_message_never_the_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_hash__cluster_info__equals_the_openssl_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_hash__bundle_of_three__one_hash_each_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_hash__missing_or_garbage_cluster_info__clear_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(nodes__listed_in_pages__fields_read, setup, teardown),
		cmocka_unit_test_setup_teardown(cordon__twice__second_writes_nothing_then_uncordoned, setup, teardown),
		cmocka_unit_test(selector__labels_and_expressions__as_the_api_matches),
		cmocka_unit_test_setup_teardown(drain__budget_blocks__timeout_reported_with_its_name, setup, teardown),
		cmocka_unit_test_setup_teardown(drain__budget_allows_later__drained, setup, teardown),
		cmocka_unit_test_setup_teardown(drain__passes__stepwise_and_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
