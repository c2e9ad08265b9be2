/*
 * viva: ChatOps for services and clusters, from Slack. The subcommands are
 * listed in usage() below; `viva --help` prints them.
 */
#include "bot/model/builtin.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/console.h"
#include "bot/ctx.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/clients/registry.h"
#include "bot/clients/kube.h"
#include "bot/serve.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"
#include "store/store.h"

#include <errno.h>
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
	if (cfg->n_clusters > 0 &&
	    kube_clients_new(cfg, NULL, NULL, &env->kube, err, sizeof(err)) != VIVA_OK) {
		/* a missing or wrong setting: one line naming it (SPEC section 2) */
		fprintf(stderr, "viva: %s\n", err);
		goto fail;
	}
	startup_apply(env);
	return 0;
fail:
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
	kube_clients_free(env->kube);
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
	printf("configuration ok: slash_command=%s workers=%d db=%s templates=%zu "
	       "template_overrides=%zu%s%s slack_tokens=%s http_listen=%s\n",
	       cfg.slash_command, cfg.workers, cfg.db_path, tmpl_set_count(env.tmpl),
	       tmpl_set_overrides(env.tmpl), cfg.templates_dir ? " templates_dir=" : "",
	       cfg.templates_dir ? cfg.templates_dir : "",
	       cfg.slack_app_token && cfg.slack_bot_token ? "set" : "missing",
	       cfg.http_listen ? cfg.http_listen : "(off)");
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
