/*
 * bot/registry.c against REAL servers on 127.0.0.1: the Debian
 * docker-registry 2.8.2 (one instance open, one with htpasswd basic auth,
 * one that gets killed mid-way), images pushed by the test over the HTTP API
 * (tests/registry_push.c), and tests/registry_proxy.c in front of the open
 * registry for tags/list pagination (2.8.2 ignores n/last) and for the
 * bearer token flow. Everything lives in a mkdtemp directory and every
 * server is killed at the end, also when a test fails or the process dies
 * (PR_SET_PDEATHSIG, atexit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/times.h"
#include "tests/fake_registry.h"
#include "tests/registry_proxy.h"
#include "tests/registry_push.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPO      "team/service-a"
#define MANY      "team/many"
#define T2180     "2180-develop-0000000"
#define T2181     "2181-develop-10520f4"
#define T2182     "2182-develop-b05419e"
#define T2183     "2183-develop-c0ffee1"
#define TMULTI    "2184-multi"
#define NMANY     130

#define CREATED_2181 1714557600   /* 2024-05-01T10:00:00Z */
#define CREATED_2182 1714646096   /* 2024-05-02T12:34:56.789012345+02:00 */
#define CREATED_2183 1714714200   /* 2024-05-03T00:00:00.5-05:30 */
#define CREATED_AMD  1717228800   /* 2024-06-01T08:00:00Z */

struct server {
	pid_t pid;
	int port;
	char *dir;
	char url[64];
};

static struct {
	char *tmp;
	struct server plain;      /* no auth */
	struct server locked;     /* htpasswd basic auth */
	struct server doomed;     /* killed by a test */
	struct regproxy *pager;   /* pages of 50 in front of plain */
	struct regproxy *bearer;  /* bearer tokens in front of plain */
	char pager_url[64];
	char bearer_url[64];
	char d2180[72], d2181[72], d2182[72], d2183[72];
	char d_arm[72], d_amd[72], d_multi[72];
	char *many_expected[NMANY];
} F;

static pid_t children[8];
static int nchildren;

/* ---- servers ---------------------------------------------------------------- */

static void kill_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void forget_child(pid_t pid)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Run argv with stdout into out_path (stderr to the test's stderr). */
static int run_to_file(char *const argv[], const char *out_path)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		close(fd);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pid_t spawn(char *const argv[], const char *dir, const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		/* die with the test, even if it crashes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (chdir(dir) != 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0 && nchildren < (int)(sizeof(children) / sizeof(children[0])))
		children[nchildren++] = pid;
	return pid;
}

static void print_file(const char *path)
{
	char *s = NULL;
	size_t n = 0;

	if (read_file(path, &s, &n) == 0)
		fprintf(stderr, "---- %s ----\n%s\n", path, s);
	free(s);
}

static int start_registry(struct server *s, const char *name, bool auth)
{
	char *cfg = NULL, *cfg_path = NULL, *log_path = NULL, *pw = NULL;
	char *argv[] = { "docker-registry", "serve", "config.yml", NULL };
	int64_t deadline;
	int rc = -1;

	s->dir = xasprintf("%s/%s", F.tmp, name);
	if (mkdir(s->dir, 0700) != 0)
		return -1;
	s->port = free_port();
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	if (auth) {
		char *hargv[] = { "htpasswd", "-Bbn", "ci", "s3cret", NULL };
		pw = xasprintf("%s/htpasswd", s->dir);
		if (run_to_file(hargv, pw) != 0) {
			fprintf(stderr, "htpasswd failed\n");
			goto out;
		}
	}
	/* FACTS.md §1, with the htpasswd block of §3 */
	cfg = xasprintf("version: 0.1\n"
			"log: {level: info, formatter: text}\n"
			"storage:\n"
			"  filesystem: {rootdirectory: %s/data}\n"
			"  delete: {enabled: true}\n"
			"  cache: {blobdescriptor: inmemory}\n"
			"http:\n"
			"  addr: 127.0.0.1:%d\n"
			"  headers: {X-Content-Type-Options: [nosniff]}\n"
			"%s%s%s",
			s->dir, s->port,
			auth ? "auth: {htpasswd: {realm: testbed-registry, path: " : "",
			auth ? pw : "", auth ? "}}\n" : "");
	cfg_path = xasprintf("%s/config.yml", s->dir);
	write_text(cfg_path, cfg);
	log_path = xasprintf("%s/registry.log", s->dir);
	s->pid = spawn(argv, s->dir, log_path);
	if (s->pid < 0)
		goto out;
	deadline = now_ms_mono() + 10000;
	while (now_ms_mono() < deadline) {
		char *url = xasprintf("%s/v2/", s->url);
		long st = regpush_http("GET", url, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
		free(url);
		if (st == 200 || st == 401) {
			rc = 0;
			break;
		}
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			forget_child(s->pid);
			s->pid = 0;
			break;
		}
		sleep_ms(20);
	}
	if (rc != 0)
		print_file(log_path);
out:
	free(cfg);
	free(cfg_path);
	free(log_path);
	free(pw);
	return rc;
}

static void stop_server(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		forget_child(s->pid);
		s->pid = 0;
	}
	free(s->dir);
	s->dir = NULL;
}

static void rm_rf(const char *path)
{
	char *argv[] = { "rm", "-rf", (char *)path, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* ---- test data ---------------------------------------------------------------- */

static int push_fixtures(void)
{
	const char *b = F.plain.url;
	size_t arm_len = 0, amd_len = 0, n = 0;
	char *index = NULL;
	char tags[NMANY][40];
	char dmany[72];
	int rc = -1;

	if (regpush_image(b, REPO, NULL, T2180, REGPUSH_DOCKER_V2, NULL, "amd64", F.d2180, NULL) ||
	    regpush_image(b, REPO, NULL, T2181, REGPUSH_DOCKER_V2, "2024-05-01T10:00:00Z", "amd64",
			  F.d2181, NULL) ||
	    regpush_image(b, REPO, NULL, T2182, REGPUSH_DOCKER_V2, "2024-05-02T12:34:56.789012345+02:00",
			  "amd64", F.d2182, NULL) ||
	    regpush_image(b, REPO, NULL, T2183, REGPUSH_OCI, "2024-05-03T00:00:00.5-05:30", "amd64",
			  F.d2183, NULL) ||
	    regpush_image(b, REPO, NULL, NULL, REGPUSH_OCI, "2020-01-01T00:00:00Z", "arm64", F.d_arm, &arm_len) ||
	    regpush_image(b, REPO, NULL, NULL, REGPUSH_OCI, "2024-06-01T08:00:00Z", "amd64", F.d_amd, &amd_len))
		goto out;
	/* multi-arch: arm64 first, so "first linux/amd64" is not "first" */
	index = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
			  "{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
			  "{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
			  REGPUSH_OCI_INDEX, REGPUSH_OCI, arm_len, F.d_arm, REGPUSH_OCI, amd_len, F.d_amd);
	if (regpush_manifest(b, REPO, NULL, TMULTI, REGPUSH_OCI_INDEX, index, F.d_multi))
		goto out;

	/* team/many: 120 build-numbered tags in scrambled order, 10 others */
	for (int i = 0; i < 118; i++)
		snprintf(tags[n++], sizeof(tags[0]), "%d-develop-%07x", 1000 + (i * 37 % 118) * 7, i * 4099);
	snprintf(tags[n++], sizeof(tags[0]), "0999-hotfix");
	snprintf(tags[n++], sizeof(tags[0]), "12");
	{
		static const char *const others[] = { "stable", "latest", "v1.2.0", "main", "release-2024",
						      "_private", "Zeta", "alpha", "1.2.3", "rc" };
		for (size_t i = 0; i < 10; i++)
			snprintf(tags[n++], sizeof(tags[0]), "%s", others[i]);
	}
	if (regpush_image(b, MANY, NULL, tags[0], REGPUSH_DOCKER_V2, NULL, "amd64", dmany, NULL))
		goto out;
	{
		char *url = xasprintf("%s/v2/%s/manifests/%s", b, MANY, tags[0]), *body = NULL;
		long st = regpush_http("GET", url, NULL, REGPUSH_DOCKER_V2, NULL, NULL, 0, &body, NULL, NULL);
		free(url);
		for (size_t i = 1; st == 200 && i < n; i++)
			if (regpush_manifest(b, MANY, NULL, tags[i], REGPUSH_DOCKER_V2, body, NULL)) {
				st = 0;
				break;
			}
		free(body);
		if (st != 200)
			goto out;
	}
	/* the SPEC order, written out independently of registry_sort_tags() */
	n = 0;
	for (int k = 117; k >= 0; k--)
		for (int i = 0; i < 118; i++)
			if (i * 37 % 118 == k)
				F.many_expected[n++] = xasprintf("%d-develop-%07x", 1000 + k * 7, i * 4099);
	{
		static const char *const tail[] = { "0999-hotfix", "12", "1.2.3", "Zeta", "_private", "alpha",
						    "latest", "main", "rc", "release-2024", "stable", "v1.2.0" };
		for (size_t i = 0; i < 12; i++)
			F.many_expected[n++] = xstrdup(tail[i]);
	}
	if (n != NMANY)
		goto out;

	/* the basic-auth registry holds one image */
	if (regpush_image(F.locked.url, REPO, "ci:s3cret", T2182, REGPUSH_DOCKER_V2,
			  "2024-05-02T12:34:56.789012345+02:00", "amd64", dmany, NULL))
		goto out;
	rc = 0;
out:
	free(index);
	return rc;
}

static int group_teardown(void **state);

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/viva-test-registry-XXXXXX";
	struct regproxy_opts po = { 0 };

	(void)state;
	log_set_level(getenv("VIVA_TEST_LOG") ? LOG_DEBUG : LOG_OFF);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atexit(kill_children);
	if (!mkdtemp(tmpl))
		return -1;
	F.tmp = xstrdup(tmpl);
	if (start_registry(&F.plain, "plain", false) || start_registry(&F.locked, "locked", true) ||
	    start_registry(&F.doomed, "doomed", false)) {
		fprintf(stderr, "could not start docker-registry\n");
		goto fail;
	}
	if (push_fixtures()) {
		fprintf(stderr, "could not push the test images\n");
		goto fail;
	}
	po.upstream = F.plain.url;
	po.page_cap = 50;
	F.pager = regproxy_start(&po);
	po.page_cap = 0;
	po.bearer = true;
	po.user = "ci";
	po.password = "s3cret";
	po.expires_in = 60;
	F.bearer = regproxy_start(&po);
	if (!F.pager || !F.bearer)
		goto fail;
	snprintf(F.pager_url, sizeof(F.pager_url), "http://127.0.0.1:%d", regproxy_port(F.pager));
	snprintf(F.bearer_url, sizeof(F.bearer_url), "http://127.0.0.1:%d", regproxy_port(F.bearer));
	return 0;
fail:
	/* cmocka skips the group teardown when the setup fails */
	group_teardown(state);
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	regproxy_stop(F.pager);
	regproxy_stop(F.bearer);
	stop_server(&F.plain);
	stop_server(&F.locked);
	stop_server(&F.doomed);
	kill_children();
	if (F.tmp)
		rm_rf(F.tmp);
	free(F.tmp);
	for (int i = 0; i < NMANY; i++)
		free(F.many_expected[i]);
	curl_global_cleanup();
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static struct registry *client(const char *url, const char *user, const char *pw)
{
	struct registry *r = registry_new(url, user, pw);
	struct registry_limits lim = { .connect_timeout_ms = 2000, .timeout_ms = 5000 };

	assert_non_null(r);
	registry_set_limits(r, &lim);
	return r;
}

static bool has_tag(char **tags, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tags[i], t) == 0)
			return true;
	return false;
}

#define assert_error_contains(needle) do { \
	const char *e_ = registry_last_error(); \
	if (!strstr(e_, (needle))) \
		fail_msg("error \"%s\" does not contain \"%s\"", e_, (needle)); \
} while (0)

/* What the registry itself says (not through bot/registry.c). */
static void raw_head_digest(const char *base, const char *repo, const char *ref, const char *cred,
			    char **digest)
{
	char *url = xasprintf("%s/v2/%s/manifests/%s", base, repo, ref);
	long st = regpush_http("HEAD", url, cred,
			       REGPUSH_DOCKER_V2 ", " REGPUSH_OCI ", " REGPUSH_OCI_INDEX,
			       NULL, NULL, 0, NULL, digest, NULL);

	free(url);
	assert_int_equal(st, 200);
	assert_non_null(*digest);
}

static json_t *raw_tags(const char *base, const char *repo, const char *cred)
{
	char *url = xasprintf("%s/v2/%s/tags/list", base, repo), *body = NULL;
	long st = regpush_http("GET", url, cred, NULL, NULL, NULL, 0, &body, NULL, NULL);
	json_t *j = json_loads(body, 0, NULL);

	free(url);
	free(body);
	assert_int_equal(st, 200);
	assert_non_null(j);
	return j;
}

static bool json_has_string(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* ---- pure functions ------------------------------------------------------------ */

static void registry__sort_tags__build_numbers_newest_first_then_names(void **state)
{
	char *t[] = { "latest", "2181-develop-10520f4", "v1.0", "2182-develop-b05419e", "10000-x",
		      "0999-y", "2182-alpha", "1.2.3", "abc", "99", "2183" };
	const char *want[] = { "10000-x", "2183", "2182-alpha", "2182-develop-b05419e",
			       "2181-develop-10520f4", "0999-y", "99", "1.2.3", "abc", "latest", "v1.0" };

	(void)state;
	registry_sort_tags(t, sizeof(t) / sizeof(t[0]));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(t[i], want[i]);
	registry_sort_tags(NULL, 0);
}

static void registry__names__follow_the_oci_grammar(void **state)
{
	const char *good_repos[] = { "team/service-a", "a", "a/b/c", "a.b_c__d---e/f0", "0x/1", NULL };
	const char *bad_repos[] = { "", "Team/x", "team//x", "/team", "team/", "../x", "a..b", "a___b",
				    "-a", "a-", "a/.b", "a b", "a?b", "a%2fb", NULL };
	const char *good_tags[] = { "latest", "2182-develop-b05419e", "_x", "A.b-C_d", NULL };
	const char *bad_tags[] = { "", ".x", "-x", "a/b", "a b", "a:b", "a\nb", "é", NULL };
	char long_tag[130];

	(void)state;
	for (int i = 0; good_repos[i]; i++)
		assert_true(registry_valid_repo(good_repos[i]));
	for (int i = 0; bad_repos[i]; i++)
		assert_false(registry_valid_repo(bad_repos[i]));
	assert_false(registry_valid_repo(NULL));
	for (int i = 0; good_tags[i]; i++)
		assert_true(registry_valid_tag(good_tags[i]));
	for (int i = 0; bad_tags[i]; i++)
		assert_false(registry_valid_tag(bad_tags[i]));
	memset(long_tag, 'a', 128);
	long_tag[128] = '\0';
	assert_true(registry_valid_tag(long_tag));
	long_tag[128] = 'a';
	long_tag[129] = '\0';
	assert_false(registry_valid_tag(long_tag));
	assert_true(registry_valid_digest(F.d2182));
	assert_false(registry_valid_digest("sha256:abc"));
	assert_false(registry_valid_digest("sha256:../../../../etc/passwd0000000000000000000000000000000000000"));
	assert_false(registry_valid_digest("SHA256:0000000000000000000000000000000000000000000000000000000000000000"));
	assert_false(registry_valid_digest(":x"));
	assert_true(registry_valid_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"));
}

static void registry__parse_time__rfc3339_variants(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(registry_parse_time("2024-05-01T10:00:00Z", &t), 0);
	assert_int_equal(t, CREATED_2181);
	assert_int_equal(registry_parse_time("2024-05-02T12:34:56.789012345+02:00", &t), 0);
	assert_int_equal(t, CREATED_2182);
	assert_int_equal(registry_parse_time("2024-05-03t00:00:00.5-05:30", &t), 0);
	assert_int_equal(t, CREATED_2183);
	assert_int_equal(registry_parse_time("2000-02-29 23:59:59z", &t), 0);
	assert_int_equal(t, 951868799);
	assert_int_equal(registry_parse_time("2000-01-01T00:00:00+0100", &t), 0);
	assert_int_equal(t, 946681200);
	assert_int_equal(registry_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(registry_parse_time("2023-02-29T00:00:00Z", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("2024-05-01T10:00:00", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("2024-05-01T10:00:00.Z", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("2024-13-01T10:00:00Z", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("2024-05-01T24:00:00Z", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("2024-05-01T10:00:00Zjunk", &t), VIVA_EPARSE);
	assert_int_equal(registry_parse_time("", &t), VIVA_EPARSE);
}

static void registry__digest_of__is_sha256(void **state)
{
	char d[72];

	(void)state;
	registry_digest_of("abc", 3, d);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	registry_digest_of("", 0, d);
	assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- tags --------------------------------------------------------------------------- */

static void registry__list_tags__follows_link_pages_and_sorts(void **state)
{
	struct registry *r = client(F.pager_url, NULL, NULL);
	struct regproxy_stats before, after;
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	regproxy_set_link(F.pager, REGPROXY_LINK_RELATIVE);
	regproxy_stats(F.pager, &before);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), 0);
	regproxy_stats(F.pager, &after);
	/* 130 tags, n=100 asked, at most 50 served: 50 + 50 + 30 */
	assert_int_equal(after.tags_pages - before.tags_pages, 3);
	assert_int_equal(n, NMANY);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(tags[i], F.many_expected[i]);
	assert_string_equal(tags[0], "1819-develop-0033099");
	registry_tags_free(tags, n);
	registry_free(r);
}

static void registry__list_tags__absolute_same_origin_link_followed(void **state)
{
	struct registry *r = client(F.pager_url, NULL, NULL);
	struct regproxy_stats before, after;
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	regproxy_set_link(F.pager, REGPROXY_LINK_ABSOLUTE);
	regproxy_stats(F.pager, &before);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), 0);
	regproxy_stats(F.pager, &after);
	regproxy_set_link(F.pager, REGPROXY_LINK_RELATIVE);
	assert_int_equal(after.tags_pages - before.tags_pages, 3);
	assert_int_equal(n, NMANY);
	registry_tags_free(tags, n);
	registry_free(r);
}

static void registry__list_tags__foreign_link_refused(void **state)
{
	struct registry *r = client(F.pager_url, NULL, NULL);
	struct regproxy_stats before, after;
	char **tags = (char **)1;
	size_t n = 7;

	(void)state;
	regproxy_set_link(F.pager, REGPROXY_LINK_FOREIGN);
	regproxy_stats(F.pager, &before);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), VIVA_EREMOTE);
	regproxy_stats(F.pager, &after);
	regproxy_set_link(F.pager, REGPROXY_LINK_RELATIVE);
	assert_null(tags);
	assert_int_equal(n, 0);
	assert_int_equal(after.tags_pages - before.tags_pages, 1);
	assert_error_contains("next-page link viva does not follow");
	registry_free(r);
}

static void registry__list_tags__loop_and_page_limit_stop(void **state)
{
	struct registry *r = client(F.pager_url, NULL, NULL);
	struct registry_limits lim = { .timeout_ms = 5000, .max_pages = 2 };
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	regproxy_set_link(F.pager, REGPROXY_LINK_LOOP);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), VIVA_EREMOTE);
	assert_error_contains("loop");
	regproxy_set_link(F.pager, REGPROXY_LINK_RELATIVE);
	registry_set_limits(r, &lim);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), VIVA_ERANGE);
	assert_error_contains("more than 2 pages");
	lim.max_pages = 0;
	lim.max_tags = 60;
	registry_set_limits(r, &lim);
	assert_int_equal(registry_list_tags(r, MANY, &tags, &n), VIVA_ERANGE);
	assert_error_contains("more than 60 tags");
	assert_null(tags);
	registry_free(r);
}

static void registry__list_tags__real_registry_one_page(void **state)
{
	/* 2.8.2 itself: every tag at once, no Link; a base URL with "/v2/" works */
	char *base = xasprintf("%s/v2/", F.plain.url);
	struct registry *r = client(base, NULL, NULL);
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), 0);
	assert_true(n >= 5);
	assert_string_equal(tags[0], TMULTI);
	assert_string_equal(tags[1], T2183);
	assert_string_equal(tags[2], T2182);
	assert_string_equal(tags[3], T2181);
	assert_string_equal(tags[4], T2180);
	assert_string_equal(registry_last_error(), "");
	registry_tags_free(tags, n);
	registry_free(r);
	free(base);
}

/* ---- manifests ------------------------------------------------------------------------ */

static void registry__get_manifest__docker_v2(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_manifest m;
	char d[72];

	(void)state;
	assert_int_equal(registry_get_manifest(r, REPO, T2182, &m), 0);
	assert_string_equal(m.media_type, REGPUSH_DOCKER_V2);
	assert_string_equal(m.digest, F.d2182);
	registry_digest_of(m.data, m.len, d);
	assert_string_equal(d, F.d2182);
	assert_non_null(strstr((char *)m.data, "\"schemaVersion\":2"));
	registry_manifest_release(&m);
	assert_null(m.data);
	registry_free(r);
}

static void registry__get_manifest__oci_by_tag_and_digest(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_manifest m;
	char *d = NULL;

	(void)state;
	assert_int_equal(registry_get_manifest(r, REPO, T2183, &m), 0);
	assert_string_equal(m.media_type, REGPUSH_OCI);
	assert_string_equal(m.digest, F.d2183);
	registry_manifest_release(&m);
	assert_int_equal(registry_get_manifest(r, REPO, F.d2183, &m), 0);
	assert_string_equal(m.digest, F.d2183);
	registry_manifest_release(&m);
	assert_int_equal(registry_get_manifest(r, REPO, TMULTI, &m), 0);
	assert_string_equal(m.media_type, REGPUSH_OCI_INDEX);
	assert_string_equal(m.digest, F.d_multi);
	registry_manifest_release(&m);
	assert_int_equal(registry_head_manifest(r, REPO, T2183, &d), 0);
	assert_string_equal(d, F.d2183);
	free(d);
	registry_free(r);
}

static void registry__promote__to_latest_verified_on_the_registry(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	char *before = NULL, *after = NULL, *raw = NULL;
	json_t *tags;

	(void)state;
	assert_int_equal(registry_promote(r, REPO, T2182, "latest", &before, &after), 0);
	assert_string_equal(before, F.d2182);
	assert_string_equal(after, F.d2182);
	/* read back with plain HTTP, not with the client under test */
	raw_head_digest(F.plain.url, REPO, "latest", NULL, &raw);
	assert_string_equal(raw, F.d2182);
	tags = raw_tags(F.plain.url, REPO, NULL);
	assert_true(json_has_string(json_object_get(tags, "tags"), "latest"));
	json_decref(tags);
	free(raw);
	free(before);
	free(after);
	registry_free(r);
}

static void registry__promote__custom_target_and_index(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_manifest m;
	char *before = NULL, *after = NULL, *raw = NULL;

	(void)state;
	assert_int_equal(registry_promote(r, REPO, T2183, "qa-approved", &before, &after), 0);
	assert_string_equal(before, F.d2183);
	assert_string_equal(after, F.d2183);
	raw_head_digest(F.plain.url, REPO, "qa-approved", NULL, &raw);
	assert_string_equal(raw, F.d2183);
	assert_int_equal(registry_get_manifest(r, REPO, "qa-approved", &m), 0);
	assert_string_equal(m.media_type, REGPUSH_OCI);
	registry_manifest_release(&m);
	free(before);
	free(after);
	free(raw);
	raw = NULL;
	/* a multi-arch index keeps its digest too */
	assert_int_equal(registry_promote(r, REPO, TMULTI, "multi-stable", NULL, &after), 0);
	assert_string_equal(after, F.d_multi);
	raw_head_digest(F.plain.url, REPO, "multi-stable", NULL, &raw);
	assert_string_equal(raw, F.d_multi);
	free(after);
	free(raw);
	registry_free(r);
}

static void registry__image_created__reads_the_config(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	int64_t t = -1;
	char *d = NULL;

	(void)state;
	assert_int_equal(registry_image_created(r, REPO, T2182, &t, &d), 0);
	assert_int_equal(t, CREATED_2182);
	assert_string_equal(d, F.d2182);
	free(d);
	assert_int_equal(registry_image_created(r, REPO, T2181, &t, NULL), 0);
	assert_int_equal(t, CREATED_2181);
	assert_int_equal(registry_image_created(r, REPO, T2183, &t, NULL), 0);
	assert_int_equal(t, CREATED_2183);
	assert_int_equal(registry_image_created(r, REPO, F.d2183, &t, NULL), 0);
	assert_int_equal(t, CREATED_2183);
	/* no "created" in the config */
	t = -1;
	assert_int_equal(registry_image_created(r, REPO, T2180, &t, &d), 0);
	assert_int_equal(t, 0);
	assert_string_equal(d, F.d2180);
	free(d);
	/* index: the linux/amd64 entry (the second), digest of the index */
	assert_int_equal(registry_image_created(r, REPO, TMULTI, &t, &d), 0);
	assert_int_equal(t, CREATED_AMD);
	assert_string_equal(d, F.d_multi);
	free(d);
	registry_free(r);
}

static void registry__get_blob__capped_and_verified(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_manifest m;
	json_t *j;
	const char *cfg;
	char *data = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(registry_get_manifest(r, REPO, T2182, &m), 0);
	j = json_loadb((char *)m.data, m.len, 0, NULL);
	cfg = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
	assert_non_null(cfg);
	assert_int_equal(registry_get_blob(r, REPO, cfg, &data, &len, 0), 0);
	assert_non_null(strstr(data, "\"created\":\"2024-05-02T12:34:56.789012345+02:00\""));
	assert_int_equal(len, strlen(data));
	free(data);
	assert_int_equal(registry_get_blob(r, REPO, cfg, &data, &len, 10), VIVA_ERANGE);
	assert_null(data);
	assert_error_contains("larger than 10 bytes");
	assert_int_equal(registry_get_blob(r, REPO,
			 "sha256:0000000000000000000000000000000000000000000000000000000000000000",
			 &data, &len, 0), VIVA_ENOENT);
	assert_error_contains("not found in team/service-a");
	json_decref(j);
	registry_manifest_release(&m);
	registry_free(r);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void registry__unknown_repository__enoent(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(registry_list_tags(r, "team/nope", &tags, &n), VIVA_ENOENT);
	assert_string_equal(registry_last_error(), "repository team/nope not found in the registry");
	assert_null(tags);
	registry_free(r);
}

static void registry__unknown_tag__enoent(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_manifest m;
	char *d = NULL, *before = NULL;
	int64_t t = 5;

	(void)state;
	assert_int_equal(registry_get_manifest(r, REPO, "nope", &m), VIVA_ENOENT);
	assert_string_equal(registry_last_error(), "tag nope not found in team/service-a");
	assert_null(m.data);
	assert_int_equal(registry_head_manifest(r, REPO, "nope", &d), VIVA_ENOENT);
	assert_string_equal(registry_last_error(), "tag nope not found in team/service-a");
	assert_null(d);
	assert_int_equal(registry_promote(r, REPO, "nope", "latest", &before, NULL), VIVA_ENOENT);
	assert_string_equal(registry_last_error(), "tag nope not found in team/service-a");
	assert_null(before);
	assert_int_equal(registry_image_created(r, REPO, "nope", &t, NULL), VIVA_ENOENT);
	assert_int_equal(t, 0);
	registry_free(r);
}

static void registry__invalid_names__rejected_before_any_request(void **state)
{
	struct registry *r = client(F.pager_url, NULL, NULL);
	struct regproxy_stats before, after;
	struct registry_manifest m = { .media_type = "application/json", .data = (unsigned char *)"{}", .len = 2 };
	char **tags = NULL, *d = NULL, *data = NULL;
	size_t n = 0;
	int64_t t;
	char long_tag[140];

	(void)state;
	memset(long_tag, 'a', 129);
	long_tag[129] = '\0';
	regproxy_stats(F.pager, &before);
	assert_int_equal(registry_list_tags(r, "Team/X", &tags, &n), VIVA_EINVAL);
	assert_error_contains("invalid repository name \"Team/X\"");
	assert_int_equal(registry_list_tags(r, "../../etc", &tags, &n), VIVA_EINVAL);
	assert_int_equal(registry_list_tags(r, NULL, &tags, &n), VIVA_EINVAL);
	assert_int_equal(registry_get_manifest(r, REPO, "../x", &m), VIVA_EINVAL);
	assert_error_contains("invalid tag or digest");
	assert_int_equal(registry_get_manifest(r, REPO, long_tag, &m), VIVA_EINVAL);
	assert_int_equal(registry_head_manifest(r, REPO, "a b", &d), VIVA_EINVAL);
	assert_int_equal(registry_head_manifest(r, "team/x?y", "latest", &d), VIVA_EINVAL);
	m = (struct registry_manifest){ .media_type = "application/json", .data = (unsigned char *)"{}", .len = 2 };
	assert_int_equal(registry_put_manifest(r, REPO, "-bad", &m, &d), VIVA_EINVAL);
	assert_error_contains("invalid tag \"-bad\"");
	assert_int_equal(registry_put_manifest(r, REPO, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
					       &m, &d), VIVA_EINVAL);
	assert_int_equal(registry_get_blob(r, REPO, "sha256:xyz", &data, &n, 0), VIVA_EINVAL);
	assert_error_contains("invalid digest");
	assert_int_equal(registry_promote(r, REPO, T2182, "lat\nest", &d, NULL), VIVA_EINVAL);
	assert_error_contains("invalid tag \"lat?est\"");
	assert_int_equal(registry_promote(r, "team/", T2182, "latest", NULL, NULL), VIVA_EINVAL);
	assert_int_equal(registry_image_created(r, REPO, "", &t, NULL), VIVA_EINVAL);
	/* the ops themselves check too, for callers that skip the wrappers */
	assert_int_equal(r->ops->list_tags(r, "a//b", &tags, &n), VIVA_EINVAL);
	assert_int_equal(r->ops->get_blob(r, REPO, "md5:", &data, &n, 0), VIVA_EINVAL);
	regproxy_stats(F.pager, &after);
	assert_int_equal(after.requests, before.requests);
	registry_free(r);
}

static void registry__basic_auth__good_credentials_work(void **state)
{
	struct registry *r = client(F.locked.url, "ci", "s3cret");
	char **tags = NULL, *before = NULL, *after = NULL, *raw = NULL;
	size_t n = 0;
	int64_t t = 0;

	(void)state;
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(tags[0], T2182);
	registry_tags_free(tags, n);
	assert_int_equal(registry_promote(r, REPO, T2182, "latest", &before, &after), 0);
	assert_string_equal(before, after);
	raw_head_digest(F.locked.url, REPO, "latest", "ci:s3cret", &raw);
	assert_string_equal(raw, before);
	assert_int_equal(registry_image_created(r, REPO, "latest", &t, NULL), 0);
	assert_int_equal(t, CREATED_2182);
	free(before);
	free(after);
	free(raw);
	registry_free(r);
}

static void registry__basic_auth__wrong_or_missing_credentials_eauth(void **state)
{
	struct registry *r = client(F.locked.url, "ci", "wrong");
	struct registry_manifest m;
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), VIVA_EAUTH);
	assert_string_equal(registry_last_error(),
			    "the registry refused viva's credentials (REGISTRY_USER/REGISTRY_PASSWORD)");
	assert_int_equal(registry_get_manifest(r, REPO, T2182, &m), VIVA_EAUTH);
	assert_null(strstr(registry_last_error(), "wrong"));
	registry_free(r);
	r = client(F.locked.url, NULL, NULL);
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), VIVA_EAUTH);
	assert_error_contains("requires credentials");
	registry_free(r);
}

/* ---- bearer tokens ------------------------------------------------------------------------ */

static void registry__bearer__token_fetched_once_and_reused(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "s3cret");
	struct regproxy_stats before, after;
	struct registry_manifest m;
	char **tags = NULL, *b = NULL, *a = NULL;
	size_t n = 0;
	int64_t t = 0;

	(void)state;
	regproxy_set_token_reply(F.bearer, 60, false);
	regproxy_stats(F.bearer, &before);
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), 0);
	assert_true(has_tag(tags, n, T2182));
	registry_tags_free(tags, n);
	assert_int_equal(registry_get_manifest(r, REPO, T2183, &m), 0);
	assert_string_equal(m.digest, F.d2183);
	registry_manifest_release(&m);
	assert_int_equal(registry_promote(r, REPO, T2181, "bearer-promoted", &b, &a), 0);
	assert_string_equal(b, F.d2181);
	assert_string_equal(a, F.d2181);
	assert_int_equal(registry_image_created(r, REPO, T2182, &t, NULL), 0);
	assert_int_equal(t, CREATED_2182);
	regproxy_stats(F.bearer, &after);
	assert_int_equal(after.token_requests - before.token_requests, 1);
	assert_int_equal(after.token_refused, before.token_refused);
	assert_string_equal(after.last_scope, "repository:team/service-a:pull,push");
	assert_string_equal(after.last_service, "test-registry");
	/* the first request, and the first push (new access), met a challenge */
	assert_int_equal(after.unauthorized - before.unauthorized, 2);
	free(b);
	free(a);
	registry_free(r);
}

static void registry__bearer__revoked_token_replaced_once(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "s3cret");
	struct regproxy_stats s0, s1, s2;
	char *d = NULL;

	(void)state;
	regproxy_set_token_reply(F.bearer, 60, false);
	regproxy_stats(F.bearer, &s0);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	free(d);
	regproxy_stats(F.bearer, &s1);
	assert_int_equal(s1.token_requests - s0.token_requests, 1);
	regproxy_revoke_tokens(F.bearer);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	assert_string_equal(d, F.d2182);
	free(d);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	free(d);
	regproxy_stats(F.bearer, &s2);
	assert_int_equal(s2.token_requests - s1.token_requests, 1);
	registry_free(r);
}

static void registry__bearer__expired_token_fetched_again(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "s3cret");
	struct regproxy_stats s0, s1;
	char *d = NULL;

	(void)state;
	/* "access_token" spelling, and a 1 s lifetime */
	regproxy_set_token_reply(F.bearer, 1, true);
	regproxy_stats(F.bearer, &s0);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	free(d);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	free(d);
	sleep_ms(1000);
	assert_int_equal(registry_head_manifest(r, REPO, T2182, &d), 0);
	free(d);
	regproxy_stats(F.bearer, &s1);
	regproxy_set_token_reply(F.bearer, 60, false);
	assert_int_equal(s1.token_requests - s0.token_requests, 2);
	registry_free(r);
}

static void registry__bearer__wrong_password_eauth(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "nope");
	struct regproxy_stats s0, s1;
	char **tags = NULL;
	size_t n = 0;

	(void)state;
	regproxy_stats(F.bearer, &s0);
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), VIVA_EAUTH);
	assert_error_contains("the registry refused viva's credentials (REGISTRY_USER/REGISTRY_PASSWORD)");
	regproxy_stats(F.bearer, &s1);
	assert_int_equal(s1.token_refused - s0.token_refused, 1);
	registry_free(r);
}

static void registry__get_blob__redirect_followed_without_credentials(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "s3cret");
	struct regproxy_stats b0, b1, p0, p1;
	int64_t t = 0;

	(void)state;
	/* blobs "live" behind the pager: another origin, which needs no token */
	regproxy_set_blob_redirect(F.bearer, F.pager_url);
	regproxy_stats(F.bearer, &b0);
	regproxy_stats(F.pager, &p0);
	assert_int_equal(registry_image_created(r, REPO, T2181, &t, NULL), 0);
	regproxy_stats(F.bearer, &b1);
	regproxy_stats(F.pager, &p1);
	regproxy_set_blob_redirect(F.bearer, NULL);
	assert_int_equal(t, CREATED_2181);
	assert_int_equal(b1.redirected - b0.redirected, 1);
	assert_int_equal(p1.requests - p0.requests, 1);
	/* neither the token nor the password went to the other origin */
	assert_int_equal(p1.with_authorization, p0.with_authorization);
	registry_free(r);
}

/* ---- outages ------------------------------------------------------------------------------ */

static void registry__registry_stopped_midway__eunavail(void **state)
{
	struct registry *r;
	char **tags = NULL, d[72], *msg;
	size_t n = 0;

	(void)state;
	assert_int_equal(regpush_image(F.doomed.url, REPO, NULL, T2182, REGPUSH_DOCKER_V2, NULL, "amd64",
				       d, NULL), 0);
	r = client(F.doomed.url, NULL, NULL);
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), 0);
	assert_int_equal(n, 1);
	registry_tags_free(tags, n);
	stop_server(&F.doomed);
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), VIVA_EUNAVAIL);
	msg = xasprintf("the registry at %s is not reachable (connection refused)", F.doomed.url);
	assert_string_equal(registry_last_error(), msg);
	free(msg);
	assert_int_equal(registry_promote(r, REPO, T2182, "latest", NULL, NULL), VIVA_EUNAVAIL);
	registry_free(r);
}

static void registry__silent_server__etimeout(void **state)
{
	/* a socket that listens but never accepts: the kernel completes the
	 * handshake, then nothing ever answers */
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct registry_limits lim = { .connect_timeout_ms = 300, .timeout_ms = 300 };
	struct registry *r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[64], **tags = NULL;
	size_t n = 0;
	int64_t t0;

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	r = registry_new(url, NULL, NULL);
	registry_set_limits(r, &lim);
	t0 = now_ms_mono();
	assert_int_equal(registry_list_tags(r, REPO, &tags, &n), VIVA_ETIMEOUT);
	assert_true(now_ms_mono() - t0 < 3000);
	assert_error_contains("did not answer within 300 ms");
	assert_error_contains(url);
	registry_free(r);
	close(fd);
}

/* ---- threads -------------------------------------------------------------------------------- */

struct worker {
	struct registry *r;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 5; i++) {
		struct registry_manifest m;
		char *d = NULL;
		int rc = registry_get_manifest(w->r, REPO, i % 2 ? T2182 : T2183, &m);

		if (rc == 0 && strcmp(m.digest, i % 2 ? F.d2182 : F.d2183) == 0 &&
		    registry_head_manifest(w->r, REPO, T2181, &d) == 0 && strcmp(d, F.d2181) == 0 &&
		    registry_last_error()[0] == '\0')
			w->ok++;
		registry_manifest_release(&m);
		free(d);
		/* each thread keeps its own message */
		if (registry_get_manifest(w->r, REPO, "missing", &m) == VIVA_ENOENT &&
		    strcmp(registry_last_error(), "tag missing not found in team/service-a") == 0)
			w->ok++;
	}
	return NULL;
}

static void registry__threads__share_one_client(void **state)
{
	struct registry *plain = client(F.plain.url, NULL, NULL);
	struct registry *bearer = client(F.bearer_url, "ci", "s3cret");
	struct worker w[8];
	pthread_t th[8];
	struct regproxy_stats s0, s1;
	char *d = NULL;

	(void)state;
	regproxy_set_token_reply(F.bearer, 60, false);
	assert_int_equal(registry_head_manifest(bearer, REPO, T2181, &d), 0);
	free(d);
	regproxy_stats(F.bearer, &s0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .r = i % 2 ? bearer : plain };
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, 10);
	}
	regproxy_stats(F.bearer, &s1);
	/* the cached pull token served every thread */
	assert_int_equal(s1.token_requests, s0.token_requests);
	registry_free(plain);
	registry_free(bearer);
}

/* ---- batches ------------------------------------------------------------------------------ */

static void registry__batch__head_manifests_each_item_its_outcome(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_item it[5] = { { .ref = T2181 }, { .ref = "nope" }, { .ref = T2183 },
				       { .ref = "bad tag" }, { .ref = TMULTI } };

	(void)state;
	assert_int_equal(registry_head_manifests(r, REPO, it, 5), VIVA_ENOENT);
	/* the first failure is the call's message */
	assert_string_equal(registry_last_error(), "tag nope not found in team/service-a");
	assert_int_equal(it[0].rc, 0);
	assert_string_equal(it[0].digest, F.d2181);
	assert_int_equal(it[1].rc, VIVA_ENOENT);
	assert_null(it[1].digest);
	assert_string_equal(it[1].error, "tag nope not found in team/service-a");
	assert_string_equal(it[2].digest, F.d2183);
	assert_int_equal(it[3].rc, VIVA_EINVAL);
	assert_non_null(strstr(it[3].error, "invalid tag or digest"));
	assert_string_equal(it[4].digest, F.d_multi);
	registry_items_release(it, 5);
	/* every item of a bad repository fails, nothing is sent */
	assert_int_equal(registry_head_manifests(r, "Bad/Repo", it, 2), VIVA_EINVAL);
	assert_int_equal(it[0].rc, VIVA_EINVAL);
	assert_int_equal(it[1].rc, VIVA_EINVAL);
	registry_items_release(it, 2);
	assert_int_equal(registry_head_manifests(r, REPO, NULL, 0), VIVA_OK);
	registry_free(r);
}

struct cache_log {
	const char *known;          /* a digest the cache knows */
	int gets, puts;
	char put_digests[8][72];
};

static bool cache_get(void *ud, const char *digest, int64_t *created)
{
	struct cache_log *c = ud;

	c->gets++;
	if (c->known && strcmp(digest, c->known) == 0) {
		*created = 42;
		return true;
	}
	return false;
}

static void cache_put(void *ud, const char *digest, int64_t created)
{
	struct cache_log *c = ud;

	(void)created;
	if (c->puts < 8)
		snprintf(c->put_digests[c->puts], sizeof(c->put_digests[0]), "%s", digest);
	c->puts++;
}

/* T2182, the index TMULTI, T2183, T2182 by digest, a missing tag. */
static void check_created_items(struct registry_item *it)
{
	assert_int_equal(it[0].rc, 0);
	assert_int_equal(it[0].created, CREATED_2182);
	assert_string_equal(it[0].digest, F.d2182);
	assert_int_equal(it[1].rc, 0);
	assert_int_equal(it[1].created, CREATED_AMD);   /* linux/amd64, not the first entry */
	assert_string_equal(it[1].digest, F.d_multi);
	assert_int_equal(it[2].created, CREATED_2183);
	assert_int_equal(it[3].created, CREATED_2182);
	assert_string_equal(it[3].digest, F.d2182);
	assert_int_equal(it[4].rc, VIVA_ENOENT);
	assert_null(it[4].digest);
	assert_int_equal(it[4].created, 0);
}

static void registry__batch__images_created_rounds_cache_and_index(void **state)
{
	struct registry *r = client(F.plain.url, NULL, NULL);
	struct registry_item it[5];
	struct cache_log log = { 0 };
	const struct registry_created_cache cache = { cache_get, cache_put, &log };

	(void)state;
#define ITEMS() do { \
	it[0] = (struct registry_item){ .ref = T2182 }; \
	it[1] = (struct registry_item){ .ref = TMULTI }; \
	it[2] = (struct registry_item){ .ref = T2183 }; \
	it[3] = (struct registry_item){ .ref = F.d2182 }; \
	it[4] = (struct registry_item){ .ref = "missing" }; \
} while (0)
	ITEMS();
	assert_int_equal(registry_images_created(r, REPO, it, 5, NULL), VIVA_ENOENT);
	check_created_items(it);
	registry_items_release(it, 5);
	/* with a cache: asked for every image, told every build time read */
	ITEMS();
	assert_int_equal(registry_images_created(r, REPO, it, 5, &cache), VIVA_ENOENT);
	check_created_items(it);
	assert_int_equal(log.gets, 4);
	assert_int_equal(log.puts, 4);
	assert_string_equal(log.put_digests[1], F.d_multi);
	registry_items_release(it, 5);
	/* an image the cache knows takes its time from there */
	log = (struct cache_log){ .known = F.d2182 };
	ITEMS();
	registry_images_created(r, REPO, it, 5, &cache);
	assert_int_equal(it[0].created, 42);
	assert_int_equal(it[3].created, 42);
	assert_int_equal(it[1].created, CREATED_AMD);
	assert_int_equal(log.puts, 2);
	registry_items_release(it, 5);
	registry_free(r);
}

static void registry__batch__fake_without_batch_ops_one_by_one(void **state)
{
	struct fake_registry *fr = fake_registry_new();
	struct registry_item it[3] = { { .ref = "a" }, { .ref = "b" }, { .ref = "c" } };
	struct cache_log log = { 0 };
	const struct registry_created_cache cache = { cache_get, cache_put, &log };

	(void)state;
	fake_registry_push(fr, REPO, "a", 1700000000);
	fake_registry_push(fr, REPO, "b", 1700000600);
	assert_int_equal(registry_images_created(&fr->base, REPO, it, 3, &cache), VIVA_ENOENT);
	assert_int_equal(it[0].created, 1700000000);
	assert_int_equal(it[1].created, 1700000600);
	assert_string_equal(it[1].digest, fake_registry_digest(fr, REPO, "b"));
	assert_int_equal(it[2].rc, VIVA_ENOENT);
	/* HEADs first, then a GET and a blob per unknown image */
	assert_int_equal(fr->calls_head, 3);
	assert_int_equal(fr->calls_get, 2);
	assert_int_equal(fr->calls_blob, 2);
	assert_int_equal(log.puts, 2);
	registry_items_release(it, 3);
	fake_registry_free(fr);
}

static void registry__batch__bearer_token_once_then_together_401_redone(void **state)
{
	struct registry *r = client(F.bearer_url, "ci", "s3cret");
	struct registry_item it[4] = { { .ref = T2181 }, { .ref = T2182 }, { .ref = T2183 }, { .ref = TMULTI } };
	struct regproxy_stats s0, s1, s2;

	(void)state;
	regproxy_set_token_reply(F.bearer, 60, false);
	regproxy_stats(F.bearer, &s0);
	/* first contact in a batch: one request meets the challenge, alone */
	assert_int_equal(registry_images_created(r, REPO, it, 4, NULL), VIVA_OK);
	assert_int_equal(it[0].created, CREATED_2181);
	assert_int_equal(it[3].created, CREATED_AMD);
	registry_items_release(it, 4);
	regproxy_stats(F.bearer, &s1);
	assert_int_equal(s1.token_requests - s0.token_requests, 1);
	assert_int_equal(s1.unauthorized - s0.unauthorized, 1);
	/* the token revoked meanwhile: the 401s are redone, one token fetched */
	regproxy_revoke_tokens(F.bearer);
	assert_int_equal(registry_head_manifests(r, REPO, it, 4), VIVA_OK);
	assert_string_equal(it[1].digest, F.d2182);
	assert_string_equal(it[3].digest, F.d_multi);
	registry_items_release(it, 4);
	regproxy_stats(F.bearer, &s2);
	assert_int_equal(s2.token_requests - s1.token_requests, 1);
	assert_int_equal(s2.token_refused, s0.token_refused);
	registry_free(r);
}

/* ---- construction and fakes ---------------------------------------------------------------- */

static void registry__new__refuses_bad_urls(void **state)
{
	(void)state;
	assert_null(registry_new(NULL, NULL, NULL));
	assert_null(registry_new("ftp://127.0.0.1", NULL, NULL));
	assert_null(registry_new("http://", NULL, NULL));
	assert_null(registry_new("http://robot:hunter2@127.0.0.1:5000", NULL, NULL));
	assert_null(registry_new("http://127.0.0.1:5000?x=1", NULL, NULL));
	assert_null(registry_new("http://127.0.0.1:5000/ a", NULL, NULL));
}

/* A fake whose target ends up at another digest (a concurrent push). */
static int fake_get(struct registry *r, const char *repo, const char *ref, struct registry_manifest *out)
{
	(void)r;
	(void)repo;
	(void)ref;
	out->media_type = xstrdup(REGPUSH_OCI);
	out->digest = xstrdup("sha256:1111111111111111111111111111111111111111111111111111111111111111");
	out->data = (unsigned char *)xstrdup("{}");
	out->len = 2;
	return 0;
}

static int fake_put(struct registry *r, const char *repo, const char *tag,
		    const struct registry_manifest *m, char **digest_out)
{
	(void)r;
	(void)repo;
	(void)tag;
	*digest_out = xstrdup(m->digest);
	return 0;
}

static int fake_head(struct registry *r, const char *repo, const char *ref, char **digest_out)
{
	(void)r;
	(void)repo;
	(void)ref;
	*digest_out = xstrdup("sha256:2222222222222222222222222222222222222222222222222222222222222222");
	return 0;
}

static int fake_list_fails(struct registry *r, const char *repo, char ***tags, size_t *n)
{
	(void)r;
	(void)repo;
	*tags = xcalloc(1, sizeof(char *));
	(*tags)[0] = xstrdup("half");
	*n = 1;
	return VIVA_EREMOTE;   /* no message: the wrapper supplies one, and frees */
}

static void registry__promote__conflict_through_a_fake(void **state)
{
	static const struct registry_ops ops = {
		.list_tags = fake_list_fails, .get_manifest = fake_get, .put_manifest = fake_put,
		.head_manifest = fake_head,
	};
	struct registry fake = { .ops = &ops };
	char *before = NULL, *after = NULL, **tags = NULL, *data = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(registry_promote(&fake, REPO, T2182, "latest", &before, &after), VIVA_ECONFLICT);
	assert_string_equal(before, "sha256:1111111111111111111111111111111111111111111111111111111111111111");
	assert_string_equal(after, "sha256:2222222222222222222222222222222222222222222222222222222222222222");
	assert_error_contains("team/service-a:latest now points at sha256:2222");
	free(before);
	free(after);
	assert_int_equal(registry_list_tags(&fake, REPO, &tags, &n), VIVA_EREMOTE);
	assert_null(tags);
	assert_int_equal(n, 0);
	assert_string_equal(registry_last_error(), "registry call failed: remote error");
	assert_int_equal(registry_get_blob(&fake, REPO, F.d2182, &data, &n, 0), VIVA_EUNAVAIL);
	assert_error_contains("no registry is configured");
	assert_int_equal(registry_list_tags(NULL, REPO, &tags, &n), VIVA_EUNAVAIL);
	registry_set_limits(&fake, &(struct registry_limits){ .timeout_ms = 1 });
	registry_free(&fake);   /* no free op: nothing happens */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry__sort_tags__build_numbers_newest_first_then_names),
		cmocka_unit_test(registry__names__follow_the_oci_grammar),
		cmocka_unit_test(registry__parse_time__rfc3339_variants),
		cmocka_unit_test(registry__digest_of__is_sha256),
		cmocka_unit_test(registry__new__refuses_bad_urls),
		cmocka_unit_test(registry__promote__conflict_through_a_fake),
		cmocka_unit_test(registry__list_tags__follows_link_pages_and_sorts),
		cmocka_unit_test(registry__list_tags__absolute_same_origin_link_followed),
		cmocka_unit_test(registry__list_tags__foreign_link_refused),
		cmocka_unit_test(registry__list_tags__loop_and_page_limit_stop),
		cmocka_unit_test(registry__list_tags__real_registry_one_page),
		cmocka_unit_test(registry__get_manifest__docker_v2),
		cmocka_unit_test(registry__get_manifest__oci_by_tag_and_digest),
		cmocka_unit_test(registry__promote__to_latest_verified_on_the_registry),
		cmocka_unit_test(registry__promote__custom_target_and_index),
		cmocka_unit_test(registry__image_created__reads_the_config),
		cmocka_unit_test(registry__get_blob__capped_and_verified),
		cmocka_unit_test(registry__unknown_repository__enoent),
		cmocka_unit_test(registry__unknown_tag__enoent),
		cmocka_unit_test(registry__invalid_names__rejected_before_any_request),
		cmocka_unit_test(registry__basic_auth__good_credentials_work),
		cmocka_unit_test(registry__basic_auth__wrong_or_missing_credentials_eauth),
		cmocka_unit_test(registry__bearer__token_fetched_once_and_reused),
		cmocka_unit_test(registry__bearer__revoked_token_replaced_once),
		cmocka_unit_test(registry__bearer__expired_token_fetched_again),
		cmocka_unit_test(registry__bearer__wrong_password_eauth),
		cmocka_unit_test(registry__get_blob__redirect_followed_without_credentials),
		cmocka_unit_test(registry__threads__share_one_client),
		cmocka_unit_test(registry__batch__head_manifests_each_item_its_outcome),
		cmocka_unit_test(registry__batch__images_created_rounds_cache_and_index),
		cmocka_unit_test(registry__batch__fake_without_batch_ops_one_by_one),
		cmocka_unit_test(registry__batch__bearer_token_once_then_together_401_redone),
		cmocka_unit_test(registry__silent_server__etimeout),
		cmocka_unit_test(registry__registry_stopped_midway__eunavail),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
