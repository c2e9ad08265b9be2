/*
 * viva: ChatOps for services and clusters, from Slack. The subcommands are
 * listed in usage() below; `viva --help` prints them.
 */
#include "bot/model/builtin.h"
#include "bot/model/catalog.h"
#include "bot/nodes/cluster.h"
#include "bot/reload.h"
#include "bot/model/config.h"
#include "bot/model/render.h"
#include "bot/model/spec.h"
#include "bot/console.h"
#include "bot/ctx.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/clients/registry.h"
#include "bot/clients/kube.h"
#include "bot/clients/prom.h"
#include "bot/doctor.h"
#include "bot/serve.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/text.h"
#include "bot/lib/times.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t real_now(struct viva_clock *self)
{
	(void)self;
	return now_unix();
}

static struct viva_clock real_clock = { .now = real_now };

struct viva_clock *clock_real(void)
{
	return &real_clock;
}

#ifndef VIVA_VERSION
#define VIVA_VERSION "dev"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: viva serve                 connect to Slack (Socket Mode) and run\n"
		"       viva console [--user UID]  local console: slash commands, `click N` for buttons\n"
		"       viva exec [--json] [--user UID] '/viva help'\n"
		"                                  run one slash command locally and print the answer\n"
		"       viva check-config          load the configuration and say what is set\n"
		"       viva templates list        the templates viva uses, and which a directory overrides\n"
		"       viva templates dump DIR [--force]\n"
		"                                  write the built-in templates to DIR, to edit and use as\n"
		"                                  VIVA_TEMPLATES=DIR (existing files are kept unless --force)\n"
		"       viva render SVC [ENV] [--apply | --seed] [--tag TAG]\n"
		"                                  print the Kubernetes objects of a service's spec (from\n"
		"                                  pipelines.dir) in ENV or every environment, as a v1 List;\n"
		"                                  --apply: what `pipeline apply` sends (no image, live colour\n"
		"                                  or idle replicas), --seed: those fields alone. No cluster call\n"
		"       viva doctor                check every configured endpoint: the store, Slack (auth.test,\n"
		"                                  apps.connections.open), each cluster (version, every\n"
		"                                  permission viva needs, missing ones as RBAC rules to add),\n"
		"                                  the registry, Prometheus; exit 0 only if all pass\n"
		"       viva version               the version\n"
		"       viva help | --help         this text\n"
		"exec exits 0 when the action was done, 1 when it failed, 3 when it was not allowed,\n"
		"4 for an invalid request (unknown command, bad arguments, unknown service).\n"
		"Configuration: environment, then .env, then viva.yaml (see .env.example,\n"
		"viva.example.yaml; `make install` puts both in PREFIX/share/viva). Templates are built\n"
		"in; VIVA_TEMPLATES (or templates_dir) names a directory whose files replace them.\n");
}

/* Load the spec directory of record, when there is one. */
static void startup_apply(struct viva_env *env)
{
	struct catalog_report rep;
	struct stat st;
	char err[512];

	if (stat(env->cfg->pipelines_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_info("no spec directory; the catalog starts as stored", "dir=%s", env->cfg->pipelines_dir);
		return;
	}
	catalog_report_init(&rep);
	if (catalog_apply_dir(env, "viva", &rep, err, sizeof(err)) != VIVA_OK)
		log_warn("spec directory not applied at start-up", "err=\"%s\"", err);
	for (size_t i = 0; i < json_array_size(rep.invalid); i++)
		log_warn("invalid pipeline spec kept out of the catalog", "file=%s",
			 json_string_value(json_object_get(json_array_get(rep.invalid, i), "file")));
	catalog_report_release(&rep);
}

/* The cluster configs (SPEC 10.1), when there is a directory of them. */
static void startup_clusters(struct viva_env *env)
{
	struct cluster_report rep;
	struct cluster_set *set;
	char err[512] = "", **names;
	json_t *missing;
	int rc;

	env->clusters = xcalloc(1, sizeof(*env->clusters));
	cluster_current_init(env->clusters, NULL);
	cluster_report_init(&rep);
	rc = reload_clusters(env, &rep, err, sizeof(err));
	if (rc == VIVA_ENOENT)
		log_info("no cluster config directory; no node joins until there is one", "dir=%s",
			 env->cfg->cluster_configs);
	else if (rc != VIVA_OK)
		log_warn("cluster configs not read at start-up", "err=\"%s\"", err);
	/* invalid files are logged by the load, one line each */
	cluster_report_release(&rep);
	/* a cluster whose API viva.yaml does not name: its nodes cannot join */
	set = cluster_current_get(env->clusters);
	names = xcalloc(env->cfg->n_clusters + 1, sizeof(*names));
	for (size_t i = 0; i < env->cfg->n_clusters; i++)
		names[i] = env->cfg->clusters[i].name;
	missing = cluster_set_check_kube_clusters(set, names, env->cfg->n_clusters);
	for (size_t i = 0; i < json_array_size(missing); i++)
		log_warn("cluster config names no cluster of viva.yaml", "error=\"%s\"",
			 json_string_value(json_object_get(json_array_get(missing, i), "error")));
	json_decref(missing);
	free(names);
	log_info("cluster configs", "clusters=%zu dir=%s", cluster_set_count(set), env->cfg->cluster_configs);
	cluster_set_unref(set);
}

/* Everything a subcommand needs; on failure prints one line and returns non-zero. */
static int env_open(struct viva_config *cfg, struct viva_env *env, bool interactive)
{
	char err[512];
	enum log_level lvl;

	memset(env, 0, sizeof(*env));
	if (config_load(cfg, NULL, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "viva: configuration error: %s\n", err);
		return 1;
	}
	if (log_level_parse(cfg->log_level, &lvl) == VIVA_OK)
		log_set_level(lvl);
	/* At a terminal, info lines would drown the answers. */
	if (interactive && !getenv("VIVA_LOG_LEVEL"))
		log_set_level(LOG_WARN);
	env->cfg = cfg;
	env->clock = clock_real();
	if (tmpl_set_load(cfg->templates_dir, &env->tmpl, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "viva: templates (VIVA_TEMPLATES=%s): %s\n", cfg->templates_dir, err);
		goto fail;
	}
	if (store_open(cfg->db_path, &env->store) != VIVA_OK) {
		fprintf(stderr, "viva: cannot open the database VIVA_DB=%s (see the log line above)\n",
			cfg->db_path);
		goto fail;
	}
	if (cfg->registry_url) {
		struct registry_opts ro = {
			.url = cfg->registry_url, .user = cfg->registry_user, .password = cfg->registry_password,
			.ca_file = cfg->registry_ca_file, .insecure = cfg->registry_insecure,
			.max_concurrent = cfg->registry_max_concurrent > 0 ? cfg->registry_max_concurrent
					  : cfg->workers > 1 ? cfg->workers / 2 : 1,
		};
		if (cfg->registry_ca_file && access(cfg->registry_ca_file, R_OK) != 0) {
			fprintf(stderr, "viva: REGISTRY_CA_FILE / registry.ca_file %s: %s\n", cfg->registry_ca_file,
				strerror(errno));
			goto fail;
		}
		env->registry = registry_new_ex(&ro);
		if (!env->registry) {
			fprintf(stderr, "viva: REGISTRY_URL is not a usable registry URL\n");
			goto fail;
		}
		if (cfg->registry_insecure)
			log_warn("registry TLS certificates are not checked (registry.insecure)", "url=%s",
				 cfg->registry_url);
	}
	if (cfg->prometheus_url) {
		struct prom_opts po = {
			.url = cfg->prometheus_url, .user = cfg->prometheus_user,
			.password = cfg->prometheus_password, .token = cfg->prometheus_token,
			.ca_file = cfg->prometheus_ca_file,
			/* as for the registry: a hung Prometheus holds half the workers */
			.max_concurrent = cfg->workers > 1 ? cfg->workers / 2 : 1,
		};
		env->prom = prom_new(&po, err, sizeof(err));
		if (!env->prom) {
			fprintf(stderr, "viva: %s\n", err);
			goto fail;
		}
	}
	if (cfg->n_clusters > 0 &&
	    kube_clients_new(cfg, NULL, NULL, &env->kube, err, sizeof(err)) != VIVA_OK) {
		/* a missing or wrong setting: one line naming it (SPEC section 2) */
		fprintf(stderr, "viva: %s\n", err);
		goto fail;
	}
	startup_apply(env);
	startup_clusters(env);
	return 0;
fail:
	prom_free(env->prom);
	env->prom = NULL;
	registry_free(env->registry);
	env->registry = NULL;
	store_close(env->store);
	env->store = NULL;
	tmpl_set_free(env->tmpl);
	env->tmpl = NULL;
	config_release(cfg);
	return 1;
}

static void env_close(struct viva_config *cfg, struct viva_env *env)
{
	if (env->clusters) {
		cluster_current_release(env->clusters);
		free(env->clusters);
	}
	kube_clients_free(env->kube);
	prom_free(env->prom);
	registry_free(env->registry);
	store_close(env->store);
	tmpl_set_free(env->tmpl);
	config_release(cfg);
}

/* What `viva exec` tells a script about the action's outcome. */
static int exit_status(int rc)
{
	switch (rc) {
	case VIVA_OK:
		return 0;
	case VIVA_EDENIED:
		return 3;
	case VIVA_EINVAL:
	case VIVA_ENOENT:
	case VIVA_EPARSE:
	case VIVA_ERANGE:
		return 4;
	default:
		return 1;
	}
}

static int run_exec(int argc, char **argv)
{
	struct viva_config cfg;
	struct viva_env env;
	struct console *c;
	bool json_out = false;
	const char *line = NULL, *user = NULL;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json_out = true;
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (!line)
			line = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!line) {
		usage(stderr);
		return 2;
	}
	if (env_open(&cfg, &env, true))
		return 1;
	c = console_new(&env, stdout, json_out);
	if (user)
		console_set_user(c, user);
	rc = console_line(c, line);
	console_free(c);
	env_close(&cfg, &env);
	return exit_status(rc);
}

static int run_console(int argc, char **argv)
{
	struct viva_config cfg;
	struct viva_env env;
	struct console *c;
	const char *user = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
			user = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (env_open(&cfg, &env, true))
		return 1;
	c = console_new(&env, stdout, false);
	if (user)
		console_set_user(c, user);
	console_repl(c, stdin);
	console_free(c);
	env_close(&cfg, &env);
	return 0;
}

static int run_check_config(void)
{
	struct viva_config cfg;
	struct viva_env env;

	if (env_open(&cfg, &env, true))
		return 1;
	/* whether secrets are set, never what they are; the URLs hold none
	 * (registry_new_ex and prom_new refuse user:password@) */
	printf("configuration ok: slash_command=%s workers=%d db=%s templates=%zu "
	       "template_overrides=%zu%s%s slack_tokens=%s http_listen=%s registry=%s registry_credentials=%s "
	       "prometheus=%s prometheus_credentials=%s\n",
	       cfg.slash_command, cfg.workers, cfg.db_path, tmpl_set_count(env.tmpl),
	       tmpl_set_overrides(env.tmpl), cfg.templates_dir ? " templates_dir=" : "",
	       cfg.templates_dir ? cfg.templates_dir : "",
	       cfg.slack_app_token && cfg.slack_bot_token ? "set" : "missing",
	       cfg.http_listen ? cfg.http_listen : "(off)", cfg.registry_url ? cfg.registry_url : "(off)",
	       cfg.registry_user ? "set" : "none", cfg.prometheus_url ? cfg.prometheus_url : "(off)",
	       cfg.prometheus_token ? "bearer" : cfg.prometheus_user ? "basic" : "none");
	env_close(&cfg, &env);
	return 0;
}

static int run_serve(void)
{
	struct viva_config cfg;
	struct viva_env env;
	int rc;

	if (env_open(&cfg, &env, false))
		return 1;
	rc = serve_run(&env);
	env_close(&cfg, &env);
	return rc;
}

/* `viva templates list|dump`: needs no configuration beyond templates_dir. */
static int run_templates(int argc, char **argv)
{
	struct viva_config cfg;
	char err[512];

	if (argc >= 1 && strcmp(argv[0], "dump") == 0) {
		size_t written = 0, skipped = 0;
		bool force = false;
		const char *dir = NULL;

		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--force") == 0)
				force = true;
			else if (!dir)
				dir = argv[i];
			else
				dir = "";
		}
		if (!dir || !*dir) {
			usage(stderr);
			return 2;
		}
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "viva: cannot create %s: %s\n", dir, strerror(errno));
			return 1;
		}
		if (builtin_dump(dir, force, &written, &skipped, err, sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: %s\n", err);
			return 1;
		}
		printf("wrote %zu template files to %s", written, dir);
		if (skipped)
			printf(" (%zu already there and kept; --force overwrites them)", skipped);
		printf("\nuse them with VIVA_TEMPLATES=%s (a file there replaces the built-in one of the same "
		       "name)\n", dir);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		struct tmpl_set *ts = NULL;

		if (config_load(&cfg, NULL, err, sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: configuration error: %s\n", err);
			return 1;
		}
		if (tmpl_set_load(cfg.templates_dir, &ts, err, sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: templates (VIVA_TEMPLATES=%s): %s\n", cfg.templates_dir, err);
			config_release(&cfg);
			return 1;
		}
		for (size_t i = 0; i < builtin_files_len; i++) {
			const char *p = builtin_files[i].path;
			char *over = cfg.templates_dir ? xasprintf("%s/%s", cfg.templates_dir, p) : NULL;
			struct stat st;
			bool overridden = over && stat(over, &st) == 0 && S_ISREG(st.st_mode);

			printf("%-40s %s\n", p, overridden ? over : "built-in");
			free(over);
		}
		tmpl_set_free(ts);
		config_release(&cfg);
		return 0;
	}
	usage(stderr);
	return 2;
}

/* SVC.yaml (or SVC.yml) from the spec directory, parsed; prints why not. */
static struct spec *load_spec(const char *dir, const char *svc)
{
	static const char *const exts[] = { "yaml", "yml", NULL };
	struct spec_errors errs;
	struct spec *s = NULL;
	char *text = NULL, *file = NULL;
	size_t len = 0;
	const char *why = NULL;
	int dfd, rc = VIVA_ENOENT;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "viva: the spec directory %s (pipelines.dir): %s\n", dir, strerror(errno));
		return NULL;
	}
	for (size_t i = 0; exts[i] && rc == VIVA_ENOENT; i++) {
		free(file);
		file = xasprintf("%s.%s", svc, exts[i]);
		/* The catalog's own limit for a spec file. */
		rc = read_regular_file(dfd, file, READ_BENEATH, (size_t)256 << 10, &text, &len, &why);
	}
	close(dfd);
	if (rc == VIVA_ENOENT) {
		fprintf(stderr, "viva: no spec for %s in %s (looked for %s.yaml and %s.yml)\n", svc, dir, svc, svc);
		goto out;
	}
	if (rc != VIVA_OK) {
		fprintf(stderr, "viva: %s/%s: %s\n", dir, file, why ? why : viva_strerror(rc));
		goto out;
	}
	spec_errors_init(&errs, file);
	if (spec_parse(text, len, file, &s, &errs) != VIVA_OK) {
		char *msg = spec_errors_format(&errs);

		fprintf(stderr, "viva: %s/%s is not a valid spec:\n%s\n", dir, file, msg);
		free(msg);
	}
	spec_errors_release(&errs);
out:
	free(text);
	free(file);
	return s;
}

/*
 * `viva render SVC [ENV]`: what a service's spec becomes in Kubernetes,
 * without a cluster, the store or Slack (the configuration, the templates
 * and the spec directory only), so an operator can check a template change.
 */
/* `viva doctor`: every configured endpoint (bot/doctor.h); 0 when all pass, 1 otherwise. */
static int run_doctor(void)
{
	struct viva_config cfg;
	char err[1024];
	int rc;

	if (config_load(&cfg, NULL, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "viva: configuration error: %s\n", err);
		return 1;
	}
	log_set_level(LOG_WARN);
	rc = viva_doctor(&cfg, stdout);
	config_release(&cfg);
	return rc;
}

static int run_render(int argc, char **argv)
{
	struct viva_config cfg;
	struct render_opts o = { .form = RENDER_CREATE, .deployed_by = "viva" };
	struct render_plan plan = { 0 };
	struct tmpl_set *ts = NULL;
	struct spec *s = NULL;
	const char *svc = NULL, *env = NULL;
	char *registry = NULL, err[1024];
	json_t *items = NULL, *list = NULL;
	size_t done = 0;
	int rc = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--apply") == 0) {
			o.form = RENDER_APPLY;
		} else if (strcmp(argv[i], "--seed") == 0) {
			o.form = RENDER_SEED;
		} else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc) {
			o.tag = argv[++i];
		} else if (argv[i][0] == '-' || (svc && env)) {
			usage(stderr);
			return 2;
		} else if (!svc) {
			svc = argv[i];
		} else {
			env = argv[i];
		}
	}
	if (!svc) {
		usage(stderr);
		return 2;
	}
	/* Names become file names: only what a service or an environment can be. */
	if (!is_dns1123_label(svc) || (env && !is_dns1123_label(env))) {
		fprintf(stderr, "viva: \"%s\" is not a %s name (lower-case letters, digits and '-')\n",
			is_dns1123_label(svc) ? env : svc, is_dns1123_label(svc) ? "environment" : "service");
		return 2;
	}
	if (config_load(&cfg, NULL, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "viva: configuration error: %s\n", err);
		return 1;
	}
	if (tmpl_set_load(cfg.templates_dir, &ts, err, sizeof(err)) != VIVA_OK) {
		fprintf(stderr, "viva: templates (VIVA_TEMPLATES=%s): %s\n", cfg.templates_dir, err);
		goto out;
	}
	s = load_spec(cfg.pipelines_dir, svc);
	if (!s)
		goto out;
	registry = render_registry_host(cfg.registry_url);
	o.registry = registry;
	o.deployed_at = now_unix();
	render_plan_init(&plan, s, &cfg);
	items = json_array();
	for (size_t i = 0; i < plan.nskipped; i++) {
		if (!env || strcmp(env, plan.skipped[i].env) == 0)
			fprintf(stderr, "viva: %s: skipped: %s\n", svc, plan.skipped[i].reason);
	}
	for (size_t i = 0; i < plan.ntargets; i++) {
		json_t *objs = NULL;

		if (env && strcmp(env, plan.targets[i].env) != 0)
			continue;
		if (render_service(s, &plan.targets[i], ts, &o, &objs, err, sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: %s\n", err);
			goto out;
		}
		json_array_extend(items, objs);
		json_decref(objs);
		done++;
	}
	if (env && done == 0) {
		bool skipped = false;

		for (size_t i = 0; i < plan.nskipped; i++)
			skipped = skipped || strcmp(env, plan.skipped[i].env) == 0;
		if (skipped)
			;   /* the reason is printed above */
		else if (config_env_find(&cfg, env))
			fprintf(stderr, "viva: %s does not run in %s: its spec has no resources.%s\n", svc, env,
				env);
		else
			fprintf(stderr, "viva: no environment \"%s\": not in viva.yaml (environments), not in "
				"the spec's resources\n", env);
		goto out;
	}
	if (plan.ntargets == 0)
		fprintf(stderr, "viva: %s renders in no environment: none of its resources is in viva.yaml "
			"(environments)\n", svc);
	list = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
	if (!list || json_dumpf(list, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "viva: cannot write the objects: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	json_decref(list);
	json_decref(items);
	render_plan_release(&plan);
	spec_free(s);
	free(registry);
	tmpl_set_free(ts);
	config_release(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "exec") == 0)
		return run_exec(argc - 2, argv + 2);
	if (strcmp(argv[1], "console") == 0)
		return run_console(argc - 2, argv + 2);
	if (strcmp(argv[1], "check-config") == 0)
		return run_check_config();
	if (strcmp(argv[1], "serve") == 0)
		return run_serve();
	if (strcmp(argv[1], "templates") == 0)
		return run_templates(argc - 2, argv + 2);
	if (strcmp(argv[1], "doctor") == 0 && argc == 2)
		return run_doctor();
	if (strcmp(argv[1], "render") == 0)
		return run_render(argc - 2, argv + 2);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("viva %s\n", VIVA_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "viva: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
