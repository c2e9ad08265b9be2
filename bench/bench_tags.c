/*
 * Benchmark: /viva tags on a repository with 5,000 tags, end to end, side by
 * side with `skopeo list-tags` on the same registry.
 *
 * Starts the real docker-registry on 127.0.0.1 (temporary storage), pushes
 * 20 distinct newest images and 4,980 older tags, then runs, round after
 * round (BENCH_TAGS_RUNS rounds, 9 by default, at least 7), each as a
 * process, measuring wall time and peak RSS (wait4's ru_maxrss):
 *   cold    the release ./viva exec '/viva tags service-a' with an empty
 *           store (viva.db removed), until its first answer is on stdout:
 *           the page's tags with their digests and Promote buttons (the
 *           list, then 20 HEADs), what a user sees first
 *   cold-full  the same run until it exits: the answer replaced with the
 *           build times read from the config blobs (20 manifests, 20 config
 *           blobs more)
 *   warm    the same again: build times from the store (the list + 20 HEADs)
 *   skopeo  skopeo list-tags --tls-verify=false docker://127.0.0.1:PORT/REPO
 *           (Debian's skopeo: the tag list alone)
 *   paged   warm, through a proxy serving tags/list 100 per page (50 pages)
 *   floor-cold, floor-warm  the registry's part alone: the very requests of
 *           a cold (warm) listing, in the same rounds, made here with
 *           libcurl's multi interface, 8 at once, on new connections, with
 *           no process start, no parsing and no store: what any client
 *           making these requests waits for
 * The runs of a round go back to back, so that a slow moment of the
 * machine hits all of them. Prints the medians (with min and max), the
 * ratios against the goal (cold <= 1.5 x skopeo, warm <= 1.0 x skopeo), and
 * writes bench/out/tags.json. Exit 1 when a run failed, or with
 * BENCH_STRICT=1 when a goal is missed. BENCH_TAGS_ROUNDS=1 prints each
 * floor run's rounds (list, HEADs, manifests, blobs); BENCH_TAGS_HOLD=S keeps
 * the registry up S seconds at the end (its URL on stderr) for profiling.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "tests/registry_proxy.h"
#include "tests/registry_push.h"
#include "tests/registry_server.h"
#include "bench/util.h"

#define REPO "team/service-a"
#define NTAGS 5000
#define NDISTINCT 20
#define MIN_RUNS 7
#define DEF_RUNS 9
#define MAX_RUNS 101
#define GOAL_COLD 1.5
#define GOAL_WARM 1.0

#define RAW_PARALLEL 8
#define RAW_TIMEOUT_MS 10000L
#define ACCEPT_V2 "Accept: " REGPUSH_DOCKER_V2

enum { COLD, COLD_FULL, WARM, SKOPEO, PAGED, FLOOR_COLD, FLOOR_WARM, NKINDS };

static const char *const kind_name[NKINDS] = { "cold", "cold-full", "warm", "skopeo", "paged", "floor-cold",
						"floor-warm" };
static const char *const kind_note[NKINDS] = {
	"viva, empty store, to the first answer: the list, 20 HEADs",
	"the same run to its end: + 20 manifests, 20 config blobs, the answer replaced",
	"viva, build times from the store: the list, 20 HEADs",
	"skopeo list-tags: the tag list alone",
	"viva warm, tags/list 100 per page via a proxy",
	"cold's requests alone (libcurl multi, 8 at once, no process)",
	"warm's requests alone (libcurl multi, 8 at once, no process)",
};

/* The URLs of the requests a listing makes. */
struct raw_urls {
	char *tags[1];
	char *heads[NDISTINCT];          /* the page's tags */
	char *manifests[NDISTINCT];      /* by digest */
	char *blobs[NDISTINCT];          /* config blobs */
};

struct series {
	double ms[MAX_RUNS];
	long rss_kb[MAX_RUNS];
	int n;
	int failed;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * Run argv (env: the whole environment) in dir, its stdout read here as it
 * comes and its stderr to a file. When stdout contains `want` and the
 * process exited 0: to `first` the time until `want` was first on stdout,
 * to `full` (may be NULL) the time until it exited, to both its peak RSS.
 * false (and the output on stderr) otherwise. Bounded: a run that takes
 * more than RUN_TIMEOUT_MS is killed.
 */
#define RUN_TIMEOUT_MS 60000.0
static bool measure(struct series *first, struct series *full, const char *name, char *const argv[],
		    char *const env[], const char *dir, const char *want)
{
	char err_path[PATH_MAX];
	struct rusage ru;
	double t0, t_want = -1;
	int st = 0, fds[2];
	pid_t pid;
	char *text = NULL, *errs = NULL;
	size_t len = 0, cap = 0;
	bool ok;

	snprintf(err_path, sizeof(err_path), "%s/err-%s.txt", dir, name);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return false;
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || chdir(dir) != 0)
			_exit(127);
		dup2(fds[1], 1);
		dup2(fd, 2);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return false;
	}
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		double left = t0 + RUN_TIMEOUT_MS - now_ms();
		ssize_t got;

		if (left <= 0 || poll(&p, 1, (int)left + 1) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			text = xrealloc(text, cap);
		}
		got = read(fds[0], text + len, cap - len - 1);
		if (got <= 0)
			break;   /* EOF: the process closed stdout (it exits) */
		len += (size_t)got;
		text[len] = '\0';
		if (t_want < 0 && strstr(text, want))
			t_want = now_ms() - t0;
	}
	close(fds[0]);
	if (wait4(pid, &st, 0, &ru) != pid) {
		free(text);
		return false;
	}
	ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && t_want >= 0;
	if (ok) {
		first->ms[first->n] = t_want;
		first->rss_kb[first->n++] = ru.ru_maxrss;
		if (full) {
			full->ms[full->n] = now_ms() - t0;
			full->rss_kb[full->n++] = ru.ru_maxrss;
		}
	} else {
		read_file(err_path, &errs, NULL);
		first->failed++;
		fprintf(stderr, "run %s failed (status %d):\n%.2000s\n%.2000s\n", name, st, text ? text : "(no output)",
			errs ? errs : "");
	}
	free(text);
	free(errs);
	return ok;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

static long median_long(const long *v, int n)
{
	long s[MAX_RUNS];

	if (n == 0)
		return 0;
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_long);
	return s[n / 2];
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* n requests (HEAD or GET) on m, at most RAW_PARALLEL at once; false when one
 * did not answer 200. Bounded: every transfer has a timeout. */
static bool raw_round(CURLM *m, struct curl_slist *hdrs, char *const *urls, int n, bool head)
{
	int next = 0, running = 0, done = 0;
	bool ok = true;
	double end = now_ms() + 2 * RAW_TIMEOUT_MS;

	while (done < n && now_ms() < end) {
		CURLMsg *msg;
		int still = 0, q = 0;

		while (running < RAW_PARALLEL && next < n) {
			CURL *e = curl_easy_init();
			if (!e)
				return false;
			curl_easy_setopt(e, CURLOPT_URL, urls[next++]);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
			curl_easy_setopt(e, CURLOPT_NOBODY, head ? 1L : 0L);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
			curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, RAW_TIMEOUT_MS);
			curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
			curl_multi_add_handle(m, e);
			running++;
		}
		curl_multi_perform(m, &still);
		while ((msg = curl_multi_info_read(m, &q))) {
			long st = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
			if (msg->data.result != CURLE_OK || st != 200)
				ok = false;
			curl_multi_remove_handle(m, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			running--;
			done++;
		}
		if (done < n)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	return ok && done == n;
}

/* A cold (blobs: true) or warm listing's requests, timed, into s. */
static bool measure_floor(struct series *s, const struct raw_urls *u, bool cold)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, ACCEPT_V2);
	CURLM *m = curl_multi_init();
	double t0 = now_ms(), t[5];
	bool ok;

	t[0] = t0;
	ok = m && hdrs && raw_round(m, hdrs, u->tags, 1, false);
	t[1] = now_ms();
	ok = ok && raw_round(m, hdrs, u->heads, NDISTINCT, true);
	t[2] = now_ms();
	ok = ok && (!cold || raw_round(m, hdrs, u->manifests, NDISTINCT, false));
	t[3] = now_ms();
	ok = ok && (!cold || raw_round(m, hdrs, u->blobs, NDISTINCT, false));
	t[4] = now_ms();
	if (getenv("BENCH_TAGS_ROUNDS"))
		fprintf(stderr, "floor-%s: list %.1f heads %.1f manifests %.1f blobs %.1f ms\n", cold ? "cold" : "warm",
			t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]);

	if (ok) {
		s->ms[s->n] = now_ms() - t0;
		s->rss_kb[s->n] = 0;
		s->n++;
	} else {
		s->failed++;
		fprintf(stderr, "floor run failed\n");
	}
	if (m)
		curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	return ok;
}

/* The page's 20 tags, their manifests' digests and their config blobs. */
static int raw_urls_init(struct raw_urls *u, const char *base)
{
	u->tags[0] = xasprintf("%s/v2/" REPO "/tags/list?n=100", base);
	for (int i = 0; i < NDISTINCT; i++) {
		char *body = NULL, *digest = NULL;
		json_t *j;
		const char *cfg;
		long st;

		u->heads[i] = xasprintf("%s/v2/" REPO "/manifests/%d-develop-%07x", base, NTAGS - i,
					(NTAGS - i) * 4099);
		st = regpush_http("GET", u->heads[i], NULL, REGPUSH_DOCKER_V2, NULL, NULL, 0, &body, &digest, NULL);
		j = body ? json_loads(body, 0, NULL) : NULL;
		cfg = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
		if (st == 200 && digest && cfg) {
			u->manifests[i] = xasprintf("%s/v2/" REPO "/manifests/%s", base, digest);
			u->blobs[i] = xasprintf("%s/v2/" REPO "/blobs/%s", base, cfg);
		}
		json_decref(j);
		free(body);
		free(digest);
		if (!u->manifests[i])
			return -1;
	}
	return 0;
}

static void raw_urls_release(struct raw_urls *u)
{
	free(u->tags[0]);
	for (int i = 0; i < NDISTINCT; i++) {
		free(u->heads[i]);
		free(u->manifests[i]);
		free(u->blobs[i]);
	}
}

static void remove_store(const char *dir)
{
	static const char *const files[] = { "viva.db", "viva.db-wal", "viva.db-shm" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = xasprintf("%s/%s", dir, files[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			perror(p);
		free(p);
	}
}

static int push_images(const struct registry_server *reg, double *push_ms)
{
	char digest[72], *url, *body = NULL;
	double t0 = now_ms();
	int rc = -1;

	for (int i = 0; i < NDISTINCT; i++) {
		char tag[64], created[40];
		snprintf(tag, sizeof(tag), "%d-develop-%07x", NTAGS - i, (NTAGS - i) * 4099);
		snprintf(created, sizeof(created), "2026-11-%02dT10:00:00Z", 1 + i % 28);
		if (regpush_image(reg->base, REPO, NULL, tag, REGPUSH_DOCKER_V2, created, "amd64", digest, NULL))
			goto out;
	}
	/* older tags: one image under 4,980 names (PUT of the same bytes) */
	if (regpush_image(reg->base, REPO, NULL, "0-base", REGPUSH_DOCKER_V2, "2026-01-01T00:00:00Z", "amd64",
			  digest, NULL))
		goto out;
	url = xasprintf("%s/v2/" REPO "/manifests/0-base", reg->base);
	regpush_http("GET", url, NULL, REGPUSH_DOCKER_V2, NULL, NULL, 0, &body, NULL, NULL);
	free(url);
	for (int b = NTAGS - NDISTINCT; b >= 2; b--) {
		char tag[64];
		snprintf(tag, sizeof(tag), "%d-develop-%07x", b, b * 4099);
		if (regpush_manifest(reg->base, REPO, NULL, tag, REGPUSH_DOCKER_V2, body, NULL))
			goto out;
	}
	rc = 0;
out:
	free(body);
	*push_ms = now_ms() - t0;
	return rc;
}

int main(void)
{
	struct registry_server reg;
	struct regproxy *proxy = NULL;
	struct regproxy_opts po = { 0 };
	struct regproxy_stats stats = { 0 };
	struct raw_urls raw = { 0 };
	static struct series ser[NKINDS];
	char viva[PATH_MAX], dir[] = "/tmp/viva-bench-tags-XXXXXX";
	char *path, proxy_base[64], *skopeo_ref = NULL, *env_reg = NULL, *env_proxy = NULL;
	const char *skopeo = "/usr/bin/skopeo";
	double push_ms = 0, med[NKINDS], r_cold = 0, r_warm = 0;
	int runs = getenv("BENCH_TAGS_RUNS") ? atoi(getenv("BENCH_TAGS_RUNS")) : DEF_RUNS;
	bool strict = getenv("BENCH_STRICT") && strcmp(getenv("BENCH_STRICT"), "1") == 0, failed = false;
	FILE *json;
	int rc = 1;

	if (runs < MIN_RUNS)
		runs = MIN_RUNS;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	if (!realpath("viva", viva)) {
		fprintf(stderr, "bench_tags: run from the repository root after `make`\n");
		return 1;
	}
	if (access(skopeo, X_OK) != 0) {
		fprintf(stderr, "bench_tags: %s not found (make bench installs Debian's skopeo)\n", skopeo);
		return 1;
	}
	if (!mkdtemp(dir) || registry_server_start(&reg) != 0) {
		fprintf(stderr, "bench_tags: cannot start docker-registry\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (push_images(&reg, &push_ms) != 0 || raw_urls_init(&raw, reg.base) != 0)
		goto out;
	path = xasprintf("%s/pipelines", dir);
	mkdir(path, 0755);
	free(path);
	path = xasprintf("%s/pipelines/service-a.yaml", dir);
	bench_write_file(path, "name: service-a\nowners: [U0OWNER]\nrepository: { name: service-a }\nimage: " REPO "\n"
			 "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	path = xasprintf("%s/viva.yaml", dir);
	bench_write_file(path, "pipelines: { dir: ./pipelines }\n");
	free(path);
	po.upstream = reg.base;
	po.page_cap = 100;
	proxy = regproxy_start(&po);
	if (!proxy)
		goto out;
	snprintf(proxy_base, sizeof(proxy_base), "http://127.0.0.1:%d", regproxy_port(proxy));

	env_reg = xasprintf("REGISTRY_URL=%s", reg.base);
	env_proxy = xasprintf("REGISTRY_URL=%s", proxy_base);
	skopeo_ref = xasprintf("docker://127.0.0.1:%d/" REPO, reg.port);
	{
		char *viva_argv[] = { viva, "exec", "/viva tags service-a", NULL };
		char *skopeo_argv[] = { (char *)skopeo, "list-tags", "--tls-verify=false", skopeo_ref, NULL };
		/* viva as installed: its templates built in (no VIVA_TEMPLATES) */
		char *viva_env[] = { env_reg, "VIVA_LOG_LEVEL=warn", "HOME=/tmp", "PATH=/usr/bin:/bin", NULL };
		char *paged_env[] = { env_proxy, "VIVA_LOG_LEVEL=warn", "HOME=/tmp", "PATH=/usr/bin:/bin", NULL };
		char *skopeo_env[] = { "HOME=/tmp", "PATH=/usr/bin:/bin", NULL };
		const char *want_viva = "Older tags";

		for (int i = 0; i < runs; i++) {
			remove_store(dir);
			if (!measure(&ser[COLD], &ser[COLD_FULL], "cold", viva_argv, viva_env, dir, want_viva) ||
			    !measure(&ser[WARM], NULL, "warm", viva_argv, viva_env, dir, want_viva) ||
			    !measure(&ser[SKOPEO], NULL, "skopeo", skopeo_argv, skopeo_env, dir, "\"5000-develop-") ||
			    !measure(&ser[PAGED], NULL, "paged", viva_argv, paged_env, dir, want_viva) ||
			    !measure_floor(&ser[FLOOR_COLD], &raw, true) || !measure_floor(&ser[FLOOR_WARM], &raw, false)) {
				failed = true;
				break;
			}
		}
	}
	regproxy_stats(proxy, &stats);
	if (getenv("BENCH_TAGS_HOLD")) {
		int hold = atoi(getenv("BENCH_TAGS_HOLD"));
		fprintf(stderr, "bench_tags: the registry stays up at %s for %d s\n", reg.base, hold);
		sleep(hold > 0 && hold <= 3600 ? (unsigned)hold : 0);
	}

	for (int k = 0; k < NKINDS; k++)
		med[k] = bench_median(ser[k].ms, ser[k].n);
	if (med[SKOPEO] > 0) {
		r_cold = med[COLD] / med[SKOPEO];
		r_warm = med[WARM] / med[SKOPEO];
	}
	printf("\n/viva tags on %d tags (%d distinct newest images) next to skopeo list-tags, same registry,\n"
	       "release build, medians of %d rounds (%.1f s to push)\n", NTAGS, NDISTINCT, ser[COLD].n, push_ms / 1000);
	printf("%-10s %10s %9s %9s %12s  %s\n", "run", "median_ms", "min_ms", "max_ms", "peak_rss_kb", "what");
	for (int k = 0; k < NKINDS; k++)
		printf("%-10s %10.1f %9.1f %9.1f %12ld  %s\n", kind_name[k], med[k], bench_min(ser[k].ms, ser[k].n),
		       bench_max(ser[k].ms, ser[k].n), median_long(ser[k].rss_kb, ser[k].n), kind_note[k]);
	printf("cold / skopeo  %.2f  (goal <= %.1f)  %s  (to the first answer; to the build times in place: %.2f)\n",
	       r_cold, GOAL_COLD, r_cold <= GOAL_COLD ? "pass" : "MISS", med[SKOPEO] > 0 ? med[COLD_FULL] / med[SKOPEO] : 0);
	printf("warm / skopeo  %.2f  (goal <= %.1f)  %s\n", r_warm, GOAL_WARM, r_warm <= GOAL_WARM ? "pass" : "MISS");
	printf("paged runs: %d tags/list pages served by the proxy (%d per run)\n", stats.tags_pages,
	       ser[PAGED].n ? stats.tags_pages / ser[PAGED].n : 0);
	printf("viva above the floor: cold-full %+.1f ms, warm %+.1f ms (process start, parsing, sorting, store, reply)\n",
	       med[COLD_FULL] - med[FLOOR_COLD], med[WARM] - med[FLOOR_WARM]);
	printf("the floor against skopeo: cold %.2f, warm %.2f (what these requests cost on this registry)\n",
	       med[SKOPEO] > 0 ? med[FLOOR_COLD] / med[SKOPEO] : 0, med[SKOPEO] > 0 ? med[FLOOR_WARM] / med[SKOPEO] : 0);
	mkdir("bench/out", 0755);
	json = fopen("bench/out/tags.json", "w");
	if (json) {
		fprintf(json, "{\"tags\":%d,\"rounds\":%d,\"runs\":[", NTAGS, ser[COLD].n);
		for (int k = 0; k < NKINDS; k++) {
			fprintf(json, "%s{\"run\":\"%s\",\"median_ms\":%.1f,\"peak_rss_kb\":%ld,\"ms\":[", k ? "," : "",
				kind_name[k], med[k], median_long(ser[k].rss_kb, ser[k].n));
			for (int i = 0; i < ser[k].n; i++)
				fprintf(json, "%s%.1f", i ? "," : "", ser[k].ms[i]);
			fprintf(json, "]}");
		}
		fprintf(json, "],\"cold_over_skopeo\":%.3f,\"warm_over_skopeo\":%.3f,\"goal_cold\":%.1f,\"goal_warm\":%.1f}\n",
			r_cold, r_warm, GOAL_COLD, GOAL_WARM);
		fclose(json);
	}
	rc = failed ? 1 : 0;
	if (strict && (r_cold > GOAL_COLD || r_warm > GOAL_WARM))
		rc = 1;
out:
	if (proxy)
		regproxy_stop(proxy);
	registry_server_stop(&reg);
	free(skopeo_ref);
	free(env_reg);
	free(env_proxy);
	raw_urls_release(&raw);
	curl_global_cleanup();
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
		free(cmd);
	}
	return rc;
}
