/*
 * Benchmark: `pipeline apply --all` of 500 services x 2 environments
 * against the fake Kubernetes API server (tests/kube, in this process, over
 * TLS with a token), run as the release ./viva exec from an empty working
 * directory with only its environment and config.
 *
 *   first    everything is created (per object: create as viva-deploy,
 *            apply as viva, seed as viva-deploy)
 *   second   nothing changed: must send no write
 *
 * Prints wall time, requests by verb (as the API server counted them),
 * writes, and viva's peak RSS for each, and writes bench/out/apply.json.
 * BENCH_APPLY_SERVICES changes the count (default 500). Exit 1 when a run
 * failed or the second run wrote anything.
 *
 * Peak RSS is wait4's ru_maxrss of viva, started by the launcher
 * (bench/launcher.h) forked first thing in main, while this process is
 * still small: forked from here, which holds the fake API server and every
 * object of the first run, the second run would "peak" at this process's
 * size. The launcher's own peak RSS is printed as the floor under which no
 * figure can go.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/launcher.h"
#include "bench/util.h"
#include "tests/kube/fake_kube.h"

#define TOKEN "bench-token"

struct run {
	double wall_ms;
	long rss_kb;
	int status;
	int requests, writes, lists, patches;
	uint64_t committed;
};

static bool run_viva(struct launcher *L, const char *viva, struct fake_kube *k, struct run *r, long *floor_kb)
{
	char *argv[] = { (char *)viva, "exec", "/viva pipeline apply --all", NULL };
	uint64_t c0 = fake_kube_store_writes(k);
	struct launched l;

	fake_kube_reset_counts(k);
	if (!launcher_run(L, argv, NULL, NULL, NULL, &l) || l.status < 0)
		return false;
	r->wall_ms = l.wall_ms;
	r->rss_kb = l.rss_kb;
	r->status = l.status;
	*floor_kb = l.floor_kb;
	r->requests = fake_kube_count(k, NULL, NULL);
	r->writes = fake_kube_count_writes(k);
	r->lists = fake_kube_count(k, "list", NULL);
	r->patches = fake_kube_count(k, "patch", NULL);
	r->committed = fake_kube_store_writes(k) - c0;
	return true;
}

int main(void)
{
	const char *n_env = getenv("BENCH_APPLY_SERVICES");
	int n = n_env ? atoi(n_env) : 500;
	struct fake_kube_opts o = { .tls = true, .token = TOKEN };
	struct fake_kube *k;
	char dir[] = "/tmp/viva-bench-apply-XXXXXX", viva[PATH_MAX], path[PATH_MAX + 64], *yaml, *envv[8];
	struct run first, second;
	struct launcher L;
	long floor_kb = 0;
	json_t *out;
	int rc = 0;

	if (n < 1 || n > 100000 || !realpath("viva", viva) || !mkdtemp(dir)) {
		fprintf(stderr, "bench_apply: run from the repository after `make viva`\n");
		return 1;
	}
	envv[0] = "PATH=/usr/bin:/bin";
	envv[1] = "HOME=/nonexistent";
	envv[2] = "VIVA_LOG_LEVEL=warn";
	envv[3] = "REGISTRY_URL=http://127.0.0.1:5000";
	envv[4] = NULL;
	/* before the fake exists: see the comment at the top */
	if (!launcher_start(&L, dir, envv)) {
		fprintf(stderr, "bench_apply: cannot start the launcher: %s\n", strerror(errno));
		return 1;
	}
	k = fake_kube_start(&o);
	if (!k)
		return 1;
	fake_kube_seed(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"alpha\"}}");
	fake_kube_seed(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}");
	snprintf(path, sizeof(path), "%s/pipelines", dir);
	mkdir(path, 0755);
	for (int i = 0; i < n; i++) {
		char spec[1024];

		snprintf(path, sizeof(path), "%s/pipelines/svc-%04d.yaml", dir, i);
		snprintf(spec, sizeof(spec), "name: svc-%04d\nowners: [U0OWNER]\nrepository: { name: svc-%04d }\n"
			 "image: team/svc-%04d\nresources:\n  alpha: { instance: 1, cpu: \"0.1\", memory: 256MB }\n"
			 "  prod: { instance: 3, cpu: \"1\", memory: 2048MB }\n", i, i, i);
		bench_write_file(path, spec);
	}
	yaml = NULL;
	if (asprintf(&yaml, "pipelines: { dir: ./pipelines }\nclusters:\n  dev: { kubeconfig: %s }\n"
		     "environments:\n  alpha: { cluster: dev, namespace: alpha }\n"
		     "  prod: { cluster: dev, namespace: prod }\n", fake_kube_kubeconfig(k)) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/viva.yaml", dir);
	bench_write_file(path, yaml);
	free(yaml);
	if (!run_viva(&L, viva, k, &first, &floor_kb) || !run_viva(&L, viva, k, &second, &floor_kb)) {
		fprintf(stderr, "bench_apply: could not run viva\n");
		rc = 1;
	} else {
		printf("pipeline apply --all: %d services x 2 environments against the fake API server (TLS, token)\n", n);
		printf("%-8s %10s %10s %8s %8s %8s %10s %10s %6s\n", "run", "wall ms", "requests", "lists", "patches",
		       "writes", "committed", "peak RSS", "exit");
		printf("%-8s %10.0f %10d %8d %8d %8d %10llu %7ld KB %6d\n", "first", first.wall_ms, first.requests,
		       first.lists, first.patches, first.writes, (unsigned long long)first.committed, first.rss_kb,
		       first.status);
		printf("%-8s %10.0f %10d %8d %8d %8d %10llu %7ld KB %6d\n", "second", second.wall_ms, second.requests,
		       second.lists, second.patches, second.writes, (unsigned long long)second.committed,
		       second.rss_kb, second.status);
		printf("peak RSS: viva's ru_maxrss, started by a launcher whose own peak is %ld KB (the floor)\n",
		       floor_kb);
		if (second.writes != 0 || first.status != 0 || second.status != 0) {
			printf("FAILED: the second run must exit 0 and send no write\n");
			rc = 1;
		} else {
			printf("ok: the second run sent no write\n");
		}
		mkdir("bench/out", 0755);
		out = json_pack("{s:i, s:i, s:{s:f, s:i, s:i, s:i}, s:{s:f, s:i, s:i, s:i}}", "services", n,
				"rss_floor_kb", (int)floor_kb,
				"first", "wall_ms", first.wall_ms, "requests", first.requests, "writes", first.writes,
				"rss_kb", (int)first.rss_kb, "second", "wall_ms", second.wall_ms, "requests",
				second.requests, "writes", second.writes, "rss_kb", (int)second.rss_kb);
		json_dump_file(out, "bench/out/apply.json", JSON_INDENT(2));
		json_decref(out);
	}
	launcher_stop(&L);
	fake_kube_stop(k);
	{
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_apply: could not remove %s\n", dir);
	}
	return rc;
}
