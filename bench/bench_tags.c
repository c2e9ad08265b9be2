/*
 * Benchmark: /viva tags on a repository with 5,000 tags, end to end.
 * Starts the real docker-registry on 127.0.0.1 (temporary storage), pushes
 * 20 distinct newest images and 4,980 older tags, then runs the release
 * ./viva exec '/viva tags service-a' as a process and measures wall time and
 * peak RSS (wait4's ru_maxrss):
 *   cold   empty store: build times read from the registry's config blobs
 *   warm   second listing: build times from the store (no blob reads)
 *   paged  warm, through a proxy serving tags/list 100 per page (50 pages)
 * Prints a table and writes bench/out/tags.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "tests/registry_proxy.h"
#include "tests/registry_push.h"
#include "tests/registry_server.h"

#define REPO "team/service-a"
#define NTAGS 5000
#define NDISTINCT 20

struct run {
	const char *name;
	double wall_ms;
	long maxrss_kb;
	int status;
	bool ok;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void measure(struct run *r, const char *viva, const char *dir, const char *templates, const char *registry)
{
	char out_path[PATH_MAX];
	double t0 = now_ms();
	struct rusage ru;
	int st = 0;
	pid_t pid;
	char *text = NULL;

	snprintf(out_path, sizeof(out_path), "%s/out-%s.txt", dir, r->name);
	pid = fork();
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		char *env[6];
		char *argv[] = { (char *)viva, "exec", "/viva tags service-a", NULL };
		if (fd < 0 || chdir(dir) != 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		env[0] = xasprintf("VIVA_TEMPLATES=%s", templates);
		env[1] = xasprintf("REGISTRY_URL=%s", registry);
		env[2] = xstrdup("VIVA_LOG_LEVEL=warn");
		env[3] = xstrdup("HOME=/tmp");
		env[4] = xstrdup("PATH=/usr/bin:/bin");
		env[5] = NULL;
		execve(viva, argv, env);
		_exit(127);
	}
	wait4(pid, &st, 0, &ru);
	r->wall_ms = now_ms() - t0;
	r->maxrss_kb = ru.ru_maxrss;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	read_file(out_path, &text, NULL);
	r->ok = r->status == 0 && text && strstr(text, "5000-develop-") && strstr(text, "Older tags");
	if (!r->ok)
		fprintf(stderr, "run %s failed (exit %d):\n%s\n", r->name, r->status, text ? text : "(no output)");
	free(text);
}

int main(void)
{
	struct registry_server reg;
	struct regproxy *proxy = NULL;
	struct regproxy_opts po = { 0 };
	struct regproxy_stats stats;
	char viva[PATH_MAX], templates[PATH_MAX], dir[] = "/tmp/viva-bench-tags-XXXXXX";
	char digest[72], *url, *body = NULL, *path, proxy_base[64];
	struct run runs[3] = { { .name = "cold" }, { .name = "warm" }, { .name = "paged" } };
	double t0, push_ms;
	FILE *json;
	int rc = 1;

	if (!realpath("viva", viva) || !realpath("templates", templates)) {
		fprintf(stderr, "bench_tags: run from the repository root after `make`\n");
		return 1;
	}
	if (!mkdtemp(dir) || registry_server_start(&reg) != 0) {
		fprintf(stderr, "bench_tags: cannot start docker-registry\n");
		return 1;
	}
	t0 = now_ms();
	for (int i = 0; i < NDISTINCT; i++) {
		char tag[64], created[40];
		snprintf(tag, sizeof(tag), "%d-develop-%07x", NTAGS - i, (NTAGS - i) * 4099);
		snprintf(created, sizeof(created), "2026-11-%02dT10:00:00Z", 1 + i % 28);
		if (regpush_image(reg.base, REPO, NULL, tag, REGPUSH_DOCKER_V2, created, "amd64", digest, NULL))
			goto out;
	}
	/* older tags: one image under 4,980 names (PUT of the same bytes) */
	if (regpush_image(reg.base, REPO, NULL, "0-base", REGPUSH_DOCKER_V2, "2026-01-01T00:00:00Z", "amd64",
			  digest, NULL))
		goto out;
	url = xasprintf("%s/v2/" REPO "/manifests/0-base", reg.base);
	regpush_http("GET", url, NULL, REGPUSH_DOCKER_V2, NULL, NULL, 0, &body, NULL, NULL);
	free(url);
	for (int b = NTAGS - NDISTINCT; b >= 2; b--) {
		char tag[64];
		snprintf(tag, sizeof(tag), "%d-develop-%07x", b, b * 4099);
		if (regpush_manifest(reg.base, REPO, NULL, tag, REGPUSH_DOCKER_V2, body, NULL))
			goto out;
	}
	push_ms = now_ms() - t0;
	path = xasprintf("%s/pipelines", dir);
	mkdir(path, 0755);
	free(path);
	path = xasprintf("%s/pipelines/service-a.yaml", dir);
	write_file(path, "name: service-a\nowners: [U0OWNER]\nrepository: { name: service-a }\nimage: " REPO "\n"
			 "resources:\n  alpha: { instance: 1, cpu: 100m, memory: 256Mi }\n");
	free(path);
	path = xasprintf("%s/viva.yaml", dir);
	write_file(path, "pipelines: { dir: ./pipelines }\n");
	free(path);

	measure(&runs[0], viva, dir, templates, reg.base);
	measure(&runs[1], viva, dir, templates, reg.base);
	po.upstream = reg.base;
	po.page_cap = 100;
	proxy = regproxy_start(&po);
	if (!proxy)
		goto out;
	snprintf(proxy_base, sizeof(proxy_base), "http://127.0.0.1:%d", regproxy_port(proxy));
	measure(&runs[2], viva, dir, templates, proxy_base);
	regproxy_stats(proxy, &stats);

	printf("\n/viva tags on %d tags (%d distinct newest images), release build, %.1f s to push\n",
	       NTAGS, NDISTINCT, push_ms / 1000);
	printf("%-6s %10s %12s  %s\n", "run", "wall_ms", "peak_rss_kb", "notes");
	for (int i = 0; i < 3; i++)
		printf("%-6s %10.1f %12ld  %s\n", runs[i].name, runs[i].wall_ms, runs[i].maxrss_kb,
		       i == 0 ? "empty store: config blobs read" : i == 1 ? "build times from the store" :
		       "tags/list paged 100 per page");
	printf("paged run: %d tags/list pages served by the proxy\n", stats.tags_pages);
	mkdir("bench/out", 0755);
	json = fopen("bench/out/tags.json", "w");
	if (json) {
		fprintf(json, "{\"tags\":%d,\"runs\":[", NTAGS);
		for (int i = 0; i < 3; i++)
			fprintf(json, "%s{\"run\":\"%s\",\"wall_ms\":%.1f,\"peak_rss_kb\":%ld,\"ok\":%s}", i ? "," : "",
				runs[i].name, runs[i].wall_ms, runs[i].maxrss_kb, runs[i].ok ? "true" : "false");
		fprintf(json, "],\"pages\":%d}\n", stats.tags_pages);
		fclose(json);
	}
	rc = runs[0].ok && runs[1].ok && runs[2].ok ? 0 : 1;
out:
	if (proxy)
		regproxy_stop(proxy);
	free(body);
	registry_server_stop(&reg);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
		free(cmd);
	}
	return rc;
}
