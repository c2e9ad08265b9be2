/*
 * Benchmark: a blue-green deploy's own overhead and the lag audit over
 * 1,000 services, against the fake Kubernetes API server (tests/kube, in
 * this process, TLS and a token), run as the release ./viva exec from an
 * empty working directory with only its environment, viva.yaml and the
 * pipeline specs (bench/README.md says what and why, with figures).
 *
 * N services (BENCH_LAG_SERVICES, default 1000), each with a spec file and
 * its objects in namespace prod as viva renders them (render_service, the
 * built-in templates, linked in here), seeded directly: Service SVC
 * selecting viva/slot=blue, Service SVC-canary, Deployments SVC-blue (live,
 * 2 replicas, tag latest), SVC-green (0) and SVC-canary (1). The canaries:
 * a third run another tag since 12 days (lagging: thresholds.lag_days is
 * 7), a third another tag since 3 days, a third the live tag.
 *
 * Two fakes: one round of the fake's controllers over 1,000 services takes
 * about a second with the fake's lock held, so the lag audit's fake holds
 * all N, settled and not ticking, and the blue-green's fake holds only the
 * services deployed, its controllers every TICK_MS. viva.yaml names one or
 * the other.
 *
 *   start-up   `viva exec '/viva help'` (3 runs): what every exec pays
 *   lag        `viva exec --json '/viva lag'` (3 runs): wall, CPU, requests
 *              by verb, peak RSS; the reply must list the lagging third
 *              (exit 1 otherwise)
 *   blue-green `viva exec --user U0DM '/viva deploy bluegreen svc-NNNN TAG
 *              prod'` on a fresh service each run, BENCH_BG_RUNS (3) runs
 *              with the shipped poll interval (1000 ms) and as many with
 *              VIVA_DEPLOY_POLL_MS=100. A thread here reads the fake every
 *              ~1 ms (in process, uncounted) and stamps viva's first
 *              request (t_api), the idle Deployment's new image (t_set),
 *              its rollout complete as the simulator reports it (t_ready)
 *              and the Service selecting it (t_switch), against t0, the
 *              launcher's clock just before fork. The switch must come
 *              after a sample saw the rollout complete (exit 1 otherwise).
 *
 * Peak RSS: viva is started by the launcher (bench/launcher.h), forked
 * before either fake exists. Results: a table on stdout and
 * bench/out/deploy.json; viva's stderr in bench/out/deploy_viva.log.
 * VIVA_BIN runs another binary (a wrapper for perf, strace...).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/launcher.h"
#include "bench/util.h"
#include "bot/lib/err.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/model/tmpl.h"
#include "tests/kube/fake_kube.h"

#define TOKEN      "bench-token"
#define NS         "prod"
#define REGISTRY   "127.0.0.1:5000"
#define LAG_TAG    "2190-main-aaaaaaa"    /* canaries ahead of live */
#define NEW_TAG    "2200-main-bbbbbbb"    /* what the blue-green deploys */
#define TICK_MS    50
#define MAX_RUNS   9
#define LAG_DAYS   7

static const char *const verbs[] = { "get", "list", "watch", "create", "update", "patch", "delete",
				     "deletecollection" };
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void die(const char *what)
{
	fprintf(stderr, "bench_deploy: %s\n", what);
	exit(1);
}

/* ---- seeding: N services as viva renders them ------------------------------------------ */

static char *spec_text(int i)
{
	char *s = NULL;

	if (asprintf(&s, "name: svc-%04d\nowners: [U0OWNER]\ndeployManagers: [U0DM]\nrepository: { name: svc-%04d }\n"
		     "image: team/svc-%04d\nresources:\n  prod: { instance: 2, cpu: \"0.1\", memory: 256MB }\n",
		     i, i, i) < 0)
		die("out of memory");
	return s;
}

/* Render s in prod (RENDER_CREATE) with tag and deployed-at; a new array. */
static json_t *render(const struct spec *s, struct tmpl_set *ts, const char *tag, int64_t at)
{
	const struct render_target t = { .env = "prod", .namespace_ = NS, .cluster = "dev" };
	const struct render_opts o = { .form = RENDER_CREATE, .registry = REGISTRY, .tag = tag, .live = "blue",
				       .deployed_by = "U0DM", .deployed_at = at };
	json_t *objs = NULL;
	char err[512];

	if (render_service(s, &t, ts, &o, &objs, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "bench_deploy: render: %s\n", err);
		exit(1);
	}
	return objs;
}

/* 0: lagging (12 days, another tag), 1: another tag since 3 days, 2: the live tag. */
static int kind_of(int i)
{
	return i % 3;
}

/*
 * Write pipelines/svc-NNNN.yaml (when spec_file) and seed the service's
 * objects: rendered with tag latest, deployed 20 days ago, but
 * SVC-canary rendered with its own tag and time. Returns 1 when the
 * canary should be reported.
 */
static int seed_service(struct fake_kube *k, struct tmpl_set *ts, const char *dir, int i, int64_t now, bool spec_file)
{
	char *text = spec_text(i), path[PATH_MAX];
	struct spec_errors errs;
	struct spec *s = NULL;
	json_t *base, *canary, *list, *o;
	const char *ctag = kind_of(i) == 2 ? "latest" : LAG_TAG;
	int64_t cat = now - (kind_of(i) == 1 ? 3 : 12) * 86400 - 3600;
	char *body;
	size_t j;

	snprintf(path, sizeof(path), "%s/pipelines/svc-%04d.yaml", dir, i);
	if (spec_file)
		bench_write_file(path, text);
	spec_errors_init(&errs, path);
	if (spec_parse(text, strlen(text), path, &s, &errs) != VIVA_OK) {
		char *e = spec_errors_format(&errs);

		fprintf(stderr, "bench_deploy: %s\n", e);
		exit(1);
	}
	spec_errors_release(&errs);
	base = render(s, ts, "latest", now - 20 * 86400);
	canary = render(s, ts, ctag, cat);
	list = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "List", "items");
	json_array_foreach(base, j, o) {
		const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
		const char *kind = json_string_value(json_object_get(o, "kind"));
		bool is_canary = strcmp(kind, "Deployment") == 0 && strlen(name) > 7 &&
				 strcmp(name + strlen(name) - 7, "-canary") == 0;

		json_array_append(json_object_get(list, "items"), is_canary ? json_array_get(canary, j) : o);
	}
	body = json_dumps(list, JSON_COMPACT);
	if (fake_kube_seed(k, body) != 0)
		die("the fake refused a rendered object (see above)");
	free(body);
	json_decref(list);
	json_decref(canary);
	json_decref(base);
	spec_free(s);
	free(text);
	return kind_of(i) == 0;
}

/* ---- runs -------------------------------------------------------------------------------- */

struct counts {
	int total, by_verb[NVERBS];
};

static void counts_read(struct fake_kube *k, struct counts *c)
{
	c->total = fake_kube_count(k, NULL, NULL);
	for (size_t i = 0; i < NVERBS; i++)
		c->by_verb[i] = fake_kube_count(k, verbs[i], NULL);
}

/* "get 12, patch 2" (the verbs that occurred) into buf. */
static const char *counts_text(const struct counts *c, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NVERBS && off < len; i++)
		if (c->by_verb[i])
			off += (size_t)snprintf(buf + off, len - off, "%s%s %d", off ? ", " : "", verbs[i], c->by_verb[i]);
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

static json_t *counts_json(const struct counts *c)
{
	json_t *o = json_pack("{s:i}", "total", c->total);

	for (size_t i = 0; i < NVERBS; i++)
		if (c->by_verb[i])
			json_object_set_new(o, verbs[i], json_integer(c->by_verb[i]));
	return o;
}

struct bench {
	struct launcher L;
	struct fake_kube *k;
	const char *viva;
	char dir[64], out[PATH_MAX], log[PATH_MAX + 64];
	long floor_kb;
};

/* viva.yaml: environment prod in namespace prod of fake k; later runs talk to k. */
static void use_fake(struct bench *b, struct fake_kube *k)
{
	char path[PATH_MAX], *yaml = NULL;

	if (asprintf(&yaml, "pipelines: { dir: ./pipelines }\nclusters:\n  dev: { kubeconfig: %s }\n"
		     "environments:\n  prod: { cluster: dev, namespace: " NS " }\nthresholds: { lag_days: %d }\n",
		     fake_kube_kubeconfig(k), LAG_DAYS) < 0)
		die("out of memory");
	snprintf(path, sizeof(path), "%s/viva.yaml", b->dir);
	bench_write_file(path, yaml);
	free(yaml);
	b->k = k;
}

static struct fake_kube *fake_start(int tick_ms)
{
	struct fake_kube_opts o = { .tls = true, .token = TOKEN, .tick_ms = tick_ms };
	struct fake_kube *k = fake_kube_start(&o);

	if (!k)
		die("cannot start the fake API server");
	if (fake_kube_seed(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\"}}") != 0)
		die("cannot create the namespace");
	return k;
}

/* One run of viva with the request counters reset before. */
static void run(struct bench *b, char *const argv[], char *const extra_env[], struct launched *l, struct counts *c)
{
	fake_kube_reset_counts(b->k);
	if (!launcher_run(&b->L, argv, extra_env, b->out, b->log, l) || l->status < 0)
		die("could not run viva");
	b->floor_kb = l->floor_kb;
	counts_read(b->k, c);
}

/* Rows of the lag report in exec --json output: blocks with a block_id lag:SVC:ENV. */
static void count_lag_row(json_t *blk, void *ud)
{
	const char *id = json_string_value(json_object_get(blk, "block_id"));

	if (id && strncmp(id, "lag:", 4) == 0)
		(*(int *)ud)++;
}

static int lag_rows(const char *path, int *messages)
{
	int rows = 0;

	return bench_exec_blocks(path, "bench_deploy", 10000, count_lag_row, &rows, messages) == 0 ? rows : -1;
}

/* ---- blue-green: the watcher ------------------------------------------------------------------ */

struct watch {
	struct fake_kube *k;
	char deploy[64], service[64], image[160];
	atomic_bool stop;
	double t_api, t_set, t_ready, t_switch;   /* 0: not seen */
	bool switched_unready;             /* the Service selected green before a sample saw its rollout complete */
	long samples;
};

static json_int_t jint(json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static bool rollout_complete(json_t *d)
{
	json_int_t want = jint(d, "spec", "replicas");

	return want == 2 && jint(d, "status", "observedGeneration") >= jint(d, "metadata", "generation") &&
	       jint(d, "status", "updatedReplicas") == want && jint(d, "status", "availableReplicas") == want;
}

static const char *image_of(json_t *d)
{
	json_t *c = json_array_get(json_object_get(json_object_get(json_object_get(json_object_get(d, "spec"),
		"template"), "spec"), "containers"), 0);

	return json_string_value(json_object_get(c, "image"));
}

/* Read the idle Deployment, then the Service, every ~1 ms until stopped (bounded: 10 minutes). */
static void *watch_main(void *arg)
{
	struct watch *w = arg;
	const struct timespec nap = { 0, 1000000 };
	double end = launcher_now_ms() + 600e3;

	while (!atomic_load(&w->stop) && launcher_now_ms() < end) {
		json_t *d = fake_kube_get(w->k, "deployments", NS, w->deploy);
		double td = launcher_now_ms();
		json_t *s = fake_kube_get(w->k, "services", NS, w->service);
		double ts = launcher_now_ms();
		const char *img = d ? image_of(d) : NULL;
		const char *slot = s ? json_string_value(json_object_get(json_object_get(json_object_get(s, "spec"),
				       "selector"), "viva/slot")) : NULL;
		bool set = img && strcmp(img, w->image) == 0;

		w->samples++;
		if (!w->t_api && fake_kube_count(w->k, NULL, NULL) > 0)
			w->t_api = launcher_now_ms();
		/* strict: the rollout must have been seen complete in an earlier sample */
		if (slot && strcmp(slot, "green") == 0 && !w->t_switch) {
			w->t_switch = ts;
			if (!w->t_ready)
				w->switched_unready = true;
		}
		if (set && !w->t_set)
			w->t_set = td;
		if (set && !w->t_ready && rollout_complete(d))
			w->t_ready = td;
		json_decref(d);
		json_decref(s);
		if (w->t_switch)
			break;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

struct bg_run {
	int poll_ms;
	char service[32];
	double wall, to_api, to_set, rollout, notice, after, to_switch, overhead, op_overhead, cpu_ms;
	long rss_kb;
	int status;
	struct counts c;
	long samples;
};

static bool bluegreen(struct bench *b, int idx, int poll_ms, struct bg_run *r)
{
	char cmd[128], env[64], *argv[] = { (char *)b->viva, "exec", "--user", "U0DM", cmd, NULL };
	char *extra[] = { env, NULL };
	struct watch w;
	struct launched l;
	pthread_t th;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	r->poll_ms = poll_ms;
	snprintf(r->service, sizeof(r->service), "svc-%04d", idx);
	snprintf(cmd, sizeof(cmd), "/viva deploy bluegreen %s %s prod", r->service, NEW_TAG);
	snprintf(env, sizeof(env), "VIVA_DEPLOY_POLL_MS=%d", poll_ms);
	w.k = b->k;
	snprintf(w.deploy, sizeof(w.deploy), "%s-green", r->service);
	snprintf(w.service, sizeof(w.service), "%s", r->service);
	snprintf(w.image, sizeof(w.image), "%s/team/%s:%s", REGISTRY, r->service, NEW_TAG);
	atomic_init(&w.stop, false);
	fake_kube_reset_counts(b->k);   /* before the watcher looks at them */
	if (pthread_create(&th, NULL, watch_main, &w) != 0)
		die("cannot start the watcher thread");
	run(b, argv, poll_ms == 1000 ? NULL : extra, &l, &r->c);
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	r->wall = l.wall_ms;
	r->rss_kb = l.rss_kb;
	r->cpu_ms = l.cpu_ms;
	r->status = l.status;
	r->samples = w.samples;
	if (l.status != 0 || !w.t_set || !w.t_ready || !w.t_switch) {
		printf("FAILED: blue-green of %s (poll %d ms): exit %d, image set %s, rollout complete %s, switched %s "
		       "(bench/out/deploy_viva.log has viva's log)\n", r->service, poll_ms, l.status, w.t_set ? "yes" : "no",
		       w.t_ready ? "yes" : "no", w.t_switch ? "yes" : "no");
		return false;
	}
	if (w.switched_unready || w.t_switch <= w.t_ready) {
		printf("FAILED: blue-green of %s: the Service selected green before a sample saw its rollout complete\n",
		       r->service);
		ok = false;
	}
	r->to_api = w.t_api ? w.t_api - l.t_start_ms : 0;
	r->to_set = w.t_set - l.t_start_ms;
	r->rollout = w.t_ready - w.t_set;
	r->notice = w.t_switch - w.t_ready;
	r->to_switch = w.t_switch - l.t_start_ms;
	r->after = l.t_end_ms - w.t_switch;
	r->overhead = r->to_switch - r->rollout;
	r->op_overhead = r->overhead - r->to_api;
	return ok;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int env_int(const char *name, int dflt, int lo, int hi)
{
	const char *v = getenv(name);
	int n = v ? atoi(v) : dflt;

	return n >= lo && n <= hi ? n : dflt;
}

struct series {
	double wall[MAX_RUNS], rss[MAX_RUNS], cpu[MAX_RUNS];
	struct counts c[MAX_RUNS];
	int n;
};

int main(void)
{
	int n = env_int("BENCH_LAG_SERVICES", 1000, 3, 100000), bg_runs = env_int("BENCH_BG_RUNS", 3, 1, MAX_RUNS);
	static const int polls[] = { 1000, 100 };
	struct fake_kube *lag_k, *bg_k;
	char viva[PATH_MAX], viva_out[PATH_MAX], path[PATH_MAX + 64], *envv[8], buf[256], loadavg[128];
	struct series help = { 0 }, lag = { 0 };
	struct bg_run bg[2][MAX_RUNS];
	struct tmpl_set *ts = NULL;
	struct bench b;
	int expected = 0, rows[MAX_RUNS], messages = 0, rc = 0, settle_rounds, next_svc = 0;
	double seed_ms, settle_ms, step_ms, t;
	json_t *out, *jl, *jb, *jm;
	int64_t now = (int64_t)time(NULL);

	{
		FILE *f = fopen("/proc/loadavg", "r");

		if (!f || !fgets(loadavg, sizeof(loadavg), f))
			snprintf(loadavg, sizeof(loadavg), "unknown");
		loadavg[strcspn(loadavg, "\n")] = '\0';
		if (f)
			fclose(f);
	}
	if (n < 2 * bg_runs)
		die("BENCH_LAG_SERVICES must be at least twice BENCH_BG_RUNS (a fresh service per blue-green)");
	memset(&b, 0, sizeof(b));
	snprintf(b.dir, sizeof(b.dir), "/tmp/viva-bench-deploy-XXXXXX");
	if (!realpath(getenv("VIVA_BIN") ? getenv("VIVA_BIN") : "viva", viva) || !mkdtemp(b.dir) ||
	    (mkdir("bench/out", 0755) != 0 && errno != EEXIST))
		die("run from the repository after `make viva`");
	b.viva = viva;
	snprintf(b.out, sizeof(b.out), "%s/reply.out", b.dir);
	if (!realpath("bench/out", viva_out))
		die("no bench/out");
	snprintf(b.log, sizeof(b.log), "%s/deploy_viva.log", viva_out);
	bench_write_file(b.log, "");
	envv[0] = "PATH=/usr/bin:/bin";
	envv[1] = "HOME=/nonexistent";
	envv[2] = "VIVA_LOG_LEVEL=warn";
	envv[3] = "REGISTRY_URL=http://" REGISTRY;
	envv[4] = NULL;
	/* before the fake exists and before any thread: bench/launcher.h says why */
	if (!launcher_start(&b.L, b.dir, envv))
		die("cannot start the launcher");
	b.L.timeout_s = 300;
	if (tmpl_set_load(NULL, &ts, buf, sizeof(buf)) != VIVA_OK)
		die(buf);
	snprintf(path, sizeof(path), "%s/pipelines", b.dir);
	mkdir(path, 0755);
	/* the lag audit's fake: N services, settled, no controller ticking (see the README) */
	lag_k = fake_start(0);
	t = launcher_now_ms();
	for (int i = 0; i < n; i++)
		expected += seed_service(lag_k, ts, b.dir, i, now, true);
	seed_ms = launcher_now_ms() - t;
	t = launcher_now_ms();
	settle_rounds = fake_kube_settle(lag_k, 100);
	settle_ms = launcher_now_ms() - t;
	if (settle_rounds >= 100)
		die("the rollout simulator did not settle in 100 rounds");
	t = launcher_now_ms();
	fake_kube_step(lag_k, 1);
	step_ms = launcher_now_ms() - t;
	/* the blue-green's fake: the services it deploys, controllers every TICK_MS */
	bg_k = fake_start(TICK_MS);
	for (int i = 0; i < 2 * bg_runs; i++)
		seed_service(bg_k, ts, b.dir, i, now, false);
	if (fake_kube_settle(bg_k, 100) >= 100)
		die("the rollout simulator did not settle in 100 rounds");
	tmpl_set_free(ts);
	use_fake(&b, lag_k);

	/* the first exec stores the catalog of N specs: not measured */
	{
		char *argv[] = { viva, "exec", "/viva help", NULL };
		struct launched l;
		struct counts c;

		run(&b, argv, NULL, &l, &c);
		if (l.status != 0)
			die("viva exec '/viva help' failed (bench/out/deploy_viva.log)");
	}
	for (int i = 0; i < 3; i++) {
		char *argv[] = { viva, "exec", "/viva help", NULL };
		struct launched l;

		run(&b, argv, NULL, &l, &help.c[i]);
		help.wall[i] = l.wall_ms;
		help.rss[i] = (double)l.rss_kb;
		help.cpu[i] = l.cpu_ms;
		help.n++;
	}
	for (int i = 0; i < 3; i++) {
		char *argv[] = { viva, "exec", "--json", "/viva lag", NULL };
		struct launched l;

		run(&b, argv, NULL, &l, &lag.c[i]);
		lag.wall[i] = l.wall_ms;
		lag.rss[i] = (double)l.rss_kb;
		lag.cpu[i] = l.cpu_ms;
		lag.n++;
		rows[i] = lag_rows(b.out, &messages);
		if (l.status != 0 || rows[i] != expected) {
			printf("FAILED: lag run %d: exit %d, %d rows listed, %d expected\n", i + 1, l.status, rows[i],
			       expected);
			rc = 1;
		}
	}
	use_fake(&b, bg_k);
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < bg_runs; i++)
			if (!bluegreen(&b, next_svc++, polls[p], &bg[p][i]))
				rc = 1;

	printf("load average at start: %s (%ld CPUs, shared by viva, the fakes and this benchmark)\n", loadavg,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("lag audit: %d services in namespace %s of the fake API server (TLS, token): %d Deployments, %d Services\n"
	       "as viva renders them (seeded in %.0f ms, settled in %d rounds, %.0f ms). Its controllers do not tick:\n"
	       "one round over these objects takes %.0f ms, with every request waiting for it.\n", n, NS, 3 * n, 2 * n,
	       seed_ms, settle_rounds, settle_ms, step_ms);
	printf("%-22s %8s %7s %7s %7s %9s  %s\n", "run (3 each)", "wall ms", "min", "max", "CPU ms", "peak RSS",
	       "requests");
	printf("%-22s %8.0f %7.0f %7.0f %7.0f %6.0f KB  %d: %s\n", "start-up (/viva help)", bench_median(help.wall, help.n),
	       bench_min(help.wall, help.n), bench_max(help.wall, help.n), bench_median(help.cpu, help.n), bench_median(help.rss, help.n),
	       help.c[1].total, counts_text(&help.c[1], buf, sizeof(buf)));
	printf("%-22s %8.0f %7.0f %7.0f %7.0f %6.0f KB  %d: %s\n", "lag audit", bench_median(lag.wall, lag.n),
	       bench_min(lag.wall, lag.n), bench_max(lag.wall, lag.n), bench_median(lag.cpu, lag.n), bench_median(lag.rss, lag.n),
	       lag.c[1].total, counts_text(&lag.c[1], buf, sizeof(buf)));
	printf("(wall, CPU and RSS: medians; CPU: viva's user + system time)\n");
	printf("lag rows: %d %d %d listed in %d messages, %d expected (the canaries 12 days ahead): %s\n", rows[0],
	       rows[1], rows[2], messages, expected, rows[0] == expected && rows[1] == expected && rows[2] == expected ?
	       "ok" : "WRONG");
	printf("peak RSS: ru_maxrss of viva, started by a launcher whose own peak is %ld KB (the floor)\n\n", b.floor_kb);

	printf("blue-green of a 2-replica service (TAG given) on a second fake holding the %d services deployed, its\n"
	       "controllers every %d ms; a fresh service each run; the same %d specs in the catalog;\n"
	       "ms from t0 (fork of exec)\n",
	       2 * bg_runs, TICK_MS, n);
	printf("%-5s %-9s %6s %6s %6s %8s %7s %8s %8s %6s %6s %5s %7s %3s  %s\n", "poll", "service", "total", "t_api",
	       "t_set", "rollout", "notice", "t_switch", "overhead", "op ovh", "exit->", "CPU", "RSS KB", "rc", "requests");
	jm = json_array();
	for (int p = 0; p < 2; p++) {
		double v[10][MAX_RUNS], m[10];

		for (int i = 0; i < bg_runs; i++) {
			struct bg_run *r = &bg[p][i];

			printf("%-5d %-9s %6.0f %6.0f %6.0f %8.0f %7.0f %8.0f %8.0f %6.0f %6.0f %5.0f %7ld %3d  %d: %s\n",
			       r->poll_ms, r->service, r->wall, r->to_api, r->to_set, r->rollout, r->notice, r->to_switch,
			       r->overhead, r->op_overhead, r->after, r->cpu_ms, r->rss_kb, r->status, r->c.total,
			       counts_text(&r->c, buf, sizeof(buf)));
			v[0][i] = r->wall;
			v[1][i] = r->to_api;
			v[2][i] = r->to_set;
			v[3][i] = r->rollout;
			v[4][i] = r->notice;
			v[5][i] = r->to_switch;
			v[6][i] = r->overhead;
			v[7][i] = r->op_overhead;
			v[8][i] = r->after;
			v[9][i] = r->cpu_ms;
		}
		for (int j = 0; j < 10; j++)
			m[j] = bench_median(v[j], bg_runs);
		printf("%-5d %-9s %6.0f %6.0f %6.0f %8.0f %7.0f %8.0f %8.0f %6.0f %6.0f %5.0f\n", polls[p], "median", m[0],
		       m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]);
		json_array_append_new(jm, json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "poll_ms",
						    polls[p], "runs", bg_runs, "wall_ms", m[0], "t_api_ms", m[1], "t_set_ms",
						    m[2], "rollout_ms", m[3], "notice_ms", m[4], "t_switch_ms", m[5],
						    "overhead_ms", m[6], "op_overhead_ms", m[7], "after_switch_ms", m[8],
						    "cpu_ms", m[9]));
	}
	printf("t_api: the fake counted viva's first request (start-up); t_set: idle image changed (+ plan + patch);\n"
	       "rollout: t_set -> rollout complete on the fake;\n"
	       "notice: rollout complete -> Service switched (viva's poll, then its checks and the switch);\n"
	       "overhead = t_switch - rollout (viva's own time to switch); op ovh = overhead - t_api (without exec's\n"
	       "start-up: what a click on a serving viva costs); exit->: switch -> exec exited;\n"
	       "CPU: viva's user + system ms\n");
	printf(rc ? "FAILED (see above)\n" : "ok: every lag report listed the expected rows; every switch came after the "
	       "rollout was complete\n");

	jl = json_array();
	for (int i = 0; i < lag.n; i++)
		json_array_append_new(jl, json_pack("{s:f, s:f, s:i, s:i, s:o}", "wall_ms", lag.wall[i], "cpu_ms", lag.cpu[i],
						    "rss_kb", (int)lag.rss[i],
						    "rows", rows[i], "requests", counts_json(&lag.c[i])));
	jb = json_array();
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < bg_runs; i++) {
			struct bg_run *r = &bg[p][i];

			json_array_append_new(jb, json_pack("{s:i, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:o}",
							    "poll_ms", r->poll_ms, "service", r->service, "exit", r->status,
							    "wall_ms", r->wall, "t_api_ms", r->to_api, "t_set_ms", r->to_set, "rollout_ms",
							    r->rollout, "notice_ms", r->notice, "t_switch_ms", r->to_switch,
							    "overhead_ms", r->overhead, "op_overhead_ms", r->op_overhead,
							    "after_switch_ms", r->after,
							    "cpu_ms", r->cpu_ms,
							    "rss_kb", (int)r->rss_kb, "requests", counts_json(&r->c)));
		}
	out = json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:{s:f, s:f, s:f, s:o}, s:{s:f, s:f, s:f, s:i, s:o}, s:o, s:o, s:b}",
			"loadavg", loadavg, "services", n, "tick_ms", TICK_MS, "lag_expected_rows", expected,
			"rss_floor_kb", (int)b.floor_kb,
			"controller_round_ms", step_ms,
			"startup", "median_wall_ms", bench_median(help.wall, help.n), "median_cpu_ms", bench_median(help.cpu, help.n),
			"median_rss_kb", bench_median(help.rss, help.n),
			"requests", counts_json(&help.c[1]),
			"lag", "median_wall_ms", bench_median(lag.wall, lag.n), "median_cpu_ms", bench_median(lag.cpu, lag.n),
			"median_rss_kb", bench_median(lag.rss, lag.n),
			"messages", messages, "runs", jl,
			"bluegreen_medians", jm, "bluegreen", jb, "ok", rc == 0);
	json_dump_file(out, "bench/out/deploy.json", JSON_INDENT(2));
	json_decref(out);

	launcher_stop(&b.L);
	fake_kube_stop(lag_k);
	fake_kube_stop(bg_k);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_deploy: could not remove %s\n", b.dir);
	}
	return rc;
}
