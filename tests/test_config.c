/*
 * Tests for bot/config.c: precedence (environment > .env > viva.yaml >
 * defaults), the .env syntax, and that every error is one line naming the
 * key (and file:line for yaml) without ever quoting a secret.
 *
 * Each test runs in a fresh mkdtemp directory that is also the working
 * directory, so the default ./.env and ./viva.yaml are under its control.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

static const char *const config_vars[] = {
	"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "SLACK_API_BASE", "VIVA_DB", "VIVA_CONFIG",
	"KUBECONFIG", "KUBE_API_URL", "KUBE_TOKEN", "KUBE_CA_FILE", "REGISTRY_URL",
	"REGISTRY_USER", "REGISTRY_PASSWORD", "PROMETHEUS_URL", "VIVA_HTTP_LISTEN",
	"VIVA_NODE_TOKEN", "VIVA_LOG_LEVEL", "VIVA_TEMPLATES", "REGISTRY_CA_FILE",
	"PROMETHEUS_USER", "PROMETHEUS_PASSWORD", "PROMETHEUS_TOKEN", "PROMETHEUS_CA_FILE",
	"VIVA_OUT_DIR",
};

struct fixture {
	char dir[64];
	char oldcwd[PATH_MAX];
	char *old_home;
	struct viva_config cfg;
	char err[512];
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	for (size_t i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++)
		unsetenv(config_vars[i]);
	fx->old_home = xstrdup(getenv("HOME"));
	setenv("HOME", "/home/tester", 1);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/viva-config-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	if (!getcwd(fx->oldcwd, sizeof(fx->oldcwd)) || chdir(fx->dir) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *d;
	struct dirent *de;

	config_release(&fx->cfg);
	if (chdir(fx->oldcwd) != 0)
		return -1;
	d = opendir(fx->dir);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			char *p;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			p = xasprintf("%s/%s", fx->dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(fx->dir);
	for (size_t i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++)
		unsetenv(config_vars[i]);
	if (fx->old_home)
		setenv("HOME", fx->old_home, 1);
	else
		unsetenv("HOME");
	free(fx->old_home);
	free(fx);
	return 0;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static int load(struct fixture *fx)
{
	fx->err[0] = '\0';
	return config_load(&fx->cfg, NULL, fx->err, sizeof(fx->err));
}

/* A failed load: the code, one line, released cfg, and the expected text. */
static void expect_fail(struct fixture *fx, int code, const char *want)
{
	static const struct viva_config zero;
	int rc = load(fx);

	if (rc != code || !strstr(fx->err, want))
		print_error("rc=%d err=[%s] want=[%s]\n", rc, fx->err, want);
	assert_int_equal(rc, code);
	assert_non_null(strstr(fx->err, want));
	assert_null(strchr(fx->err, '\n'));
	assert_memory_equal(&fx->cfg, &zero, sizeof(zero));
}

static void expect_yaml_fail(struct fixture *fx, const char *yaml, int code, const char *want)
{
	write_file("viva.yaml", yaml);
	expect_fail(fx, code, want);
}

static void assert_defaults(const struct viva_config *c)
{
	assert_null(c->slack_app_token);
	assert_null(c->slack_bot_token);
	assert_string_equal(c->slack_api_base, "https://slack.com/api/");
	assert_string_equal(c->db_path, "./viva.db");
	assert_string_equal(c->config_path, "./viva.yaml");
	assert_null(c->kubeconfig);
	assert_null(c->kube_api_url);
	assert_null(c->kube_token);
	assert_null(c->kube_ca_file);
	assert_null(c->registry_url);
	assert_null(c->registry_user);
	assert_null(c->registry_password);
	assert_null(c->registry_ca_file);
	assert_false(c->registry_insecure);
	assert_null(c->prometheus_url);
	assert_null(c->http_listen);
	assert_null(c->node_token);
	assert_string_equal(c->log_level, "info");
	assert_null(c->templates_dir);   /* the built-in templates */
	assert_null(c->out_dir);         /* the temporary directory */
	assert_string_equal(c->slash_command, "/viva");
	assert_string_equal(c->timezone, "UTC");
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->queue_size, 256);
	assert_int_equal(c->operation_workers, 8);
	assert_int_equal(c->http_max_connections, 256);
	assert_int_equal(c->registry_max_concurrent, 0);   /* half the workers, decided at start */
	assert_string_equal(c->loop_priority, "normal");
	assert_non_null(c->admin_users);
	assert_null(c->admin_users[0]);
	assert_null(c->admin_usergroup);
	assert_null(c->channel_deploy);
	assert_null(c->channel_audit);
	assert_null(c->channel_nodes);
	assert_string_equal(c->pipelines_dir, "./pipelines");
	assert_int_equal(c->n_clusters, 0);
	assert_int_equal(c->n_environments, 0);
	assert_string_equal(c->schedule_lag, "0 10 * * *");
	assert_string_equal(c->schedule_unused, "0 10 * * MON");
	assert_int_equal(c->lag_days, 7);
	assert_int_equal(c->unused_days, 7);
	assert_int_equal(c->snooze_days, 30);
	assert_null(c->link_bluegreen);
	assert_string_equal(c->cluster_configs, "./clusters");
	assert_string_equal(c->promql_unused_http,
		"sum by (destination_app, destination_workload_namespace) "
		"(increase(istio_requests_total{reporter=\"destination\"}[7d]))");
	assert_string_equal(c->promql_unused_kafka,
		"max by (application) "
		"(max_over_time(kafka_consumer_fetch_manager_records_consumed_rate[7d]))");
	assert_string_equal(c->promql_unused_batch,
		"min_over_time(kube_cronjob_spec_suspend[7d]) == 1");
	assert_string_equal(c->traffic_api_label, "request_operation");
}

/* ---- defaults and the full example ----------------------------------------- */

static void config__no_files__all_defaults(void **state)
{
	struct fixture *fx = *state;
	struct viva_config d;

	assert_int_equal(load(fx), VIVA_OK);
	assert_defaults(&fx->cfg);

	config_defaults(&d);
	assert_defaults(&d);
	config_release(&d);
}

static void config__release__zeroes_struct(void **state)
{
	static const struct viva_config zero;
	struct viva_config c;

	(void)state;
	config_defaults(&c);
	config_release(&c);
	assert_memory_equal(&c, &zero, sizeof(zero));
	config_release(&c); /* twice is harmless */
	assert_memory_equal(&c, &zero, sizeof(zero));
}

static const char spec_yaml[] =
	"slash_command: /viva\n"
	"timezone: UTC                      # for schedules and dates shown\n"
	"workers: 4\n"
	"admins:\n"
	"  users: [U0ADMIN01]               # Slack user ids\n"
	"  usergroup: S0PLATFORM            # optional\n"
	"channels:                          # where reports go (channel ids)\n"
	"  deploy: C0DEPLOY                 # lag alerts, deploy results\n"
	"  audit: C0AUDIT                   # unused-service reports\n"
	"  nodes: C0NODES                   # node join / upgrade reports\n"
	"pipelines:\n"
	"  dir: ./pipelines                 # the spec directory (GitOps)\n"
	"registry:\n"
	"  url: http://127.0.0.1:5000       # REGISTRY_URL overrides\n"
	"prometheus:\n"
	"  url: http://127.0.0.1:9090       # PROMETHEUS_URL overrides\n"
	"clusters:                          # name -> how to reach it\n"
	"  dev:  { kubeconfig: ~/.kube/config, context: dev }\n"
	"  prod: { kubeconfig: ~/.kube/config, context: prod }\n"
	"environments:                      # pipeline resource keys -> cluster + namespace\n"
	"  alpha: { cluster: dev,  namespace: alpha }\n"
	"  prod:  { cluster: prod, namespace: prod }\n"
	"schedules:                         # cron, in `timezone`\n"
	"  lag: \"0 10 * * *\"\n"
	"  unused: \"0 10 * * MON\"\n"
	"thresholds: { lag_days: 7, unused_days: 7, snooze_days: 30 }\n"
	"links:\n"
	"  bluegreen: https://deploy.example.com/{service}/bluegreen\n"
	"cluster_configs: ./clusters        # node lifecycle: one YAML per cluster\n";

static void config__spec_example__every_field_parsed(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;
	char *yaml = xasprintf("%s%s", spec_yaml,
		"queue_size: 512\n"
		"loop_priority: realtime\n"
		"promql:\n"
		"  unused_http: sum(up)\n"
		"  unused_kafka: |\n"
		"    max by (application)\n"
		"      (kafka_x)\n"
		"  unused_batch: min(y) == 1\n"
		"traffic:\n"
		"  api_label: api\n");
	const struct config_env *e;
	const struct config_cluster *cl;

	write_file("viva.yaml", yaml);
	free(yaml);
	assert_int_equal(load(fx), VIVA_OK);

	assert_string_equal(c->slash_command, "/viva");
	assert_string_equal(c->timezone, "UTC");
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->queue_size, 512);
	assert_string_equal(c->loop_priority, "realtime");
	assert_string_equal(c->admin_users[0], "U0ADMIN01");
	assert_null(c->admin_users[1]);
	assert_string_equal(c->admin_usergroup, "S0PLATFORM");
	assert_string_equal(c->channel_deploy, "C0DEPLOY");
	assert_string_equal(c->channel_audit, "C0AUDIT");
	assert_string_equal(c->channel_nodes, "C0NODES");
	assert_string_equal(c->pipelines_dir, "./pipelines");
	assert_string_equal(c->registry_url, "http://127.0.0.1:5000");
	assert_string_equal(c->prometheus_url, "http://127.0.0.1:9090");

	assert_int_equal(c->n_clusters, 2);
	assert_string_equal(c->clusters[0].name, "dev");
	assert_string_equal(c->clusters[0].kubeconfig, "/home/tester/.kube/config");
	assert_string_equal(c->clusters[0].context, "dev");
	assert_string_equal(c->clusters[1].name, "prod");
	assert_string_equal(c->clusters[1].context, "prod");
	cl = config_cluster_find(c, "prod");
	assert_ptr_equal(cl, &c->clusters[1]);
	assert_null(config_cluster_find(c, "staging"));
	assert_null(config_cluster_find(c, NULL));

	assert_int_equal(c->n_environments, 2);
	e = config_env_find(c, "alpha");
	assert_non_null(e);
	assert_string_equal(e->cluster, "dev");
	assert_string_equal(e->namespace_, "alpha");
	e = config_env_find(c, "prod");
	assert_non_null(e);
	assert_string_equal(e->cluster, "prod");
	assert_string_equal(e->namespace_, "prod");
	assert_null(config_env_find(c, "beta"));

	assert_string_equal(c->schedule_lag, "0 10 * * *");
	assert_string_equal(c->schedule_unused, "0 10 * * MON");
	assert_int_equal(c->lag_days, 7);
	assert_int_equal(c->unused_days, 7);
	assert_int_equal(c->snooze_days, 30);
	assert_string_equal(c->link_bluegreen, "https://deploy.example.com/{service}/bluegreen");
	assert_string_equal(c->cluster_configs, "./clusters");
	assert_string_equal(c->promql_unused_http, "sum(up)");
	assert_string_equal(c->promql_unused_kafka, "max by (application)\n  (kafka_x)\n");
	assert_string_equal(c->promql_unused_batch, "min(y) == 1");
	assert_string_equal(c->traffic_api_label, "api");
	/* untouched by yaml */
	assert_string_equal(c->db_path, "./viva.db");
	assert_string_equal(c->slack_api_base, "https://slack.com/api/");
}

static void config__nondefault_values__override_defaults(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	write_file("viva.yaml",
		"slash_command: /ops\n"
		"workers: 64\n"
		"operation_workers: 3\n"
		"http: { max_connections: 40 }\n"
		"registry: { max_concurrent: 5 }\n"
		"admins: { users: [U01, W0ABC] }\n"
		"thresholds:\n"
		"  lag_days: 3650\n"
		"  unused_days: 1\n"
		"  snooze_days: \"14\"\n"
		"pipelines: { dir: ~/specs }\n"
		"clusters:\n"
		"  local:\n"      /* null: the default connection */
		"environments:\n"
		"  alpha: { cluster: local, namespace: team-a }\n"
		"channels:\n"
		"  deploy: C0DEPLOY\n"
		"  audit:\n");      /* null keeps the default */
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->slash_command, "/ops");
	assert_int_equal(c->workers, 64);
	assert_int_equal(c->operation_workers, 3);
	assert_int_equal(c->http_max_connections, 40);
	assert_int_equal(c->registry_max_concurrent, 5);
	assert_string_equal(c->admin_users[0], "U01");
	assert_string_equal(c->admin_users[1], "W0ABC");
	assert_null(c->admin_users[2]);
	assert_int_equal(c->lag_days, 3650);
	assert_int_equal(c->unused_days, 1);
	assert_int_equal(c->snooze_days, 14);
	assert_string_equal(c->pipelines_dir, "/home/tester/specs");
	assert_int_equal(c->n_clusters, 1);
	assert_null(c->clusters[0].kubeconfig);
	assert_null(c->clusters[0].context);
	assert_string_equal(config_env_find(c, "alpha")->namespace_, "team-a");
	assert_string_equal(c->channel_deploy, "C0DEPLOY");
	assert_null(c->channel_audit);
	assert_string_equal(c->timezone, "UTC");
}

static void config__aliases__resolved(void **state)
{
	struct fixture *fx = *state;

	write_file("viva.yaml",
		"clusters:\n"
		"  dev:  { kubeconfig: &kc /etc/kube/config, context: dev }\n"
		"  prod: { kubeconfig: *kc, context: prod }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.clusters[1].kubeconfig, "/etc/kube/config");
}

/* A hostile viva.yaml (a FIFO, /dev/zero behind a link) stops start-up with
 * one line at once: it never hangs it or fills memory. A link to a regular
 * file (a ConfigMap volume) is read. */
static void config__yaml_not_a_regular_file__refused_at_once(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(mkfifo("viva.yaml", 0600), 0);
	expect_fail(fx, VIVA_EIO, "viva.yaml: not read: not a regular file");
	unlink("viva.yaml");
	assert_int_equal(symlink("/dev/zero", "viva.yaml"), 0);
	expect_fail(fx, VIVA_EIO, "viva.yaml: not read: not a regular file");
	unlink("viva.yaml");
	write_file("real.yaml", "workers: 3\n");
	assert_int_equal(symlink("real.yaml", "viva.yaml"), 0);
	assert_int_equal(load(fx), VIVA_OK);
	assert_int_equal(fx->cfg.workers, 3);
	unlink("real.yaml");
}

static void config__empty_yaml__ok(void **state)
{
	struct fixture *fx = *state;
	static const char *const bodies[] = {
		"", "# only a comment\n\n", "---\n", "---\n...\n", "~\n",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		int rc;

		write_file("viva.yaml", bodies[i]);
		rc = load(fx);
		if (rc != VIVA_OK)
			print_error("body %zu: %s\n", i, fx->err);
		assert_int_equal(rc, VIVA_OK);
		assert_defaults(&fx->cfg);
		config_release(&fx->cfg);
	}
}

static void config__timezone__real_zone_accepted(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	if (stat("/usr/share/zoneinfo/Asia/Seoul", &st) != 0)
		skip();
	write_file("viva.yaml", "timezone: Asia/Seoul\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.timezone, "Asia/Seoul");
}

/* ---- precedence ---------------------------------------------------------------- */

static void config__precedence__env_beats_dotenv_beats_yaml(void **state)
{
	struct fixture *fx = *state;

	write_file("viva.yaml",
		"registry: { url: http://yaml.example:5000 }\n"
		"prometheus: { url: http://yaml.example:9090 }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.registry_url, "http://yaml.example:5000");
	assert_string_equal(fx->cfg.prometheus_url, "http://yaml.example:9090");
	config_release(&fx->cfg);

	write_file(".env",
		"REGISTRY_URL=http://dotenv.example:5000\n"
		"PROMETHEUS_URL=http://dotenv.example:9090\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.registry_url, "http://dotenv.example:5000");
	assert_string_equal(fx->cfg.prometheus_url, "http://dotenv.example:9090");
	config_release(&fx->cfg);

	setenv("REGISTRY_URL", "http://env.example:5000", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.registry_url, "http://env.example:5000");
	assert_string_equal(fx->cfg.prometheus_url, "http://dotenv.example:9090");
	config_release(&fx->cfg);

	/* set but empty in the environment: wins over .env, means "not set" */
	setenv("PROMETHEUS_URL", "", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.prometheus_url, "http://yaml.example:9090");
}

static void config__viva_config_from_dotenv__used(void **state)
{
	struct fixture *fx = *state;
	char *env_path = xasprintf("%s/custom.env", fx->dir);

	write_file("other.yaml", "workers: 9\n");
	write_file("custom.env", "VIVA_CONFIG=other.yaml\n");
	assert_int_equal(config_load(&fx->cfg, env_path, fx->err, sizeof(fx->err)), VIVA_OK);
	assert_int_equal(fx->cfg.workers, 9);
	assert_string_equal(fx->cfg.config_path, "other.yaml");
	free(env_path);
}

static void config__env_values__applied_and_normalised(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	setenv("SLACK_APP_TOKEN", "xapp-1-A1-2-abc", 1);
	setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc", 1);
	setenv("SLACK_API_BASE", "http://127.0.0.1:8099/api", 1);
	setenv("VIVA_DB", "/var/lib/viva/viva.db", 1);
	setenv("KUBECONFIG", "~/.kube/other", 1);
	setenv("KUBE_API_URL", "https://127.0.0.1:6443", 1);
	setenv("KUBE_TOKEN", "kube-token-1", 1);
	setenv("KUBE_CA_FILE", "/etc/ca.crt", 1);
	setenv("REGISTRY_USER", "robot", 1);
	setenv("REGISTRY_PASSWORD", "pass word!", 1);
	setenv("VIVA_HTTP_LISTEN", "127.0.0.1:8080", 1);
	setenv("VIVA_NODE_TOKEN", "node-token-1", 1);
	setenv("VIVA_LOG_LEVEL", "debug", 1);
	setenv("VIVA_TEMPLATES", "/usr/share/viva/templates", 1);
	setenv("VIVA_OUT_DIR", "~/charts", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->slack_app_token, "xapp-1-A1-2-abc");
	assert_string_equal(c->slack_bot_token, "xoxb-1-2-abc");
	assert_string_equal(c->slack_api_base, "http://127.0.0.1:8099/api/");
	assert_string_equal(c->db_path, "/var/lib/viva/viva.db");
	assert_string_equal(c->kubeconfig, "/home/tester/.kube/other");
	assert_string_equal(c->kube_api_url, "https://127.0.0.1:6443");
	assert_string_equal(c->kube_token, "kube-token-1");
	assert_string_equal(c->kube_ca_file, "/etc/ca.crt");
	assert_string_equal(c->registry_user, "robot");
	assert_string_equal(c->registry_password, "pass word!");
	assert_string_equal(c->http_listen, "127.0.0.1:8080");
	assert_string_equal(c->node_token, "node-token-1");
	assert_string_equal(c->log_level, "debug");
	assert_string_equal(c->templates_dir, "/usr/share/viva/templates");
	assert_string_equal(c->out_dir, "/home/tester/charts");
	config_release(c);

	setenv("SLACK_API_BASE", "https://slack.example/api/", 1);
	setenv("VIVA_HTTP_LISTEN", "[::1]:9000", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->slack_api_base, "https://slack.example/api/");
	assert_string_equal(c->http_listen, "[::1]:9000");
}

/* ---- .env syntax ------------------------------------------------------------- */

static void config__dotenv__quotes_export_comments(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	write_file(".env",
		"\xEF\xBB\xBF# viva settings\n"
		"\n"
		"   # indented comment\n"
		"export SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
		"SLACK_APP_TOKEN = \"xapp-quoted\"   # trailing comment\n"
		"REGISTRY_PASSWORD=\"a \\\"b\\\" \\\\ c\\\\nd\"\n"
		"REGISTRY_USER='robot # not a comment'\r\n"
		"VIVA_DB=./data/viva.db   \n"
		"VIVA_TEMPLATES=./t # comment after a space\n"
		"VIVA_OUT_DIR=./out\n"
		"KUBE_CA_FILE=/ca#1\n"
		"SOME_OTHER_TOOL=ignored\n"
		"lower_case_ok=1\n"
		"VIVA_LOG_LEVEL=warn\n"
		"VIVA_LOG_LEVEL=error\n"
		"VIVA_NODE_TOKEN=\n"
		"KUBE_API_URL=\"\"");  /* no final newline */
	setenv("VIVA_TEMPLATES", "/from/env", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->slack_bot_token, "xoxb-from-dotenv");
	assert_string_equal(c->slack_app_token, "xapp-quoted");
	assert_string_equal(c->registry_password, "a \"b\" \\ c\\nd");
	assert_string_equal(c->registry_user, "robot # not a comment");
	assert_string_equal(c->db_path, "./data/viva.db");
	assert_string_equal(c->templates_dir, "/from/env");
	assert_string_equal(c->out_dir, "./out");
	assert_string_equal(c->kube_ca_file, "/ca#1");
	assert_string_equal(c->log_level, "error");
	assert_null(c->node_token);
	assert_null(c->kube_api_url);
	config_release(c);

	unsetenv("VIVA_TEMPLATES");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->templates_dir, "./t");
}

static void config__dotenv_newline_escape__rejected_for_header_values(void **state)
{
	struct fixture *fx = *state;

	/* "\n" decodes to a newline; a password with one would break a header. */
	write_file(".env", "REGISTRY_PASSWORD=\"top\\nsecret-pw\"\n");
	expect_fail(fx, VIVA_EINVAL, "REGISTRY_PASSWORD");
	assert_null(strstr(fx->err, "secret-pw"));
}

static void config__dotenv_bad_line__error_with_line_no_value(void **state)
{
	struct fixture *fx = *state;
	static const struct { const char *body; const char *want; } cases[] = {
		{ "VIVA_DB=x\nxoxb-leaked-secret-123\n", ".env:2: expected KEY=VALUE" },
		{ "# c\n\nBAD-KEY=leaked-secret-123\n", ".env:3: invalid variable name" },
		{ "1KEY=leaked-secret-123\n", ".env:1: invalid variable name" },
		{ "SLACK_BOT_TOKEN=\"xoxb-leaked-secret-123\n", ".env:1: unterminated double quote" },
		{ "A=1\nSLACK_BOT_TOKEN='xoxb-leaked-secret-123\n", ".env:2: unterminated single quote" },
		{ "SLACK_BOT_TOKEN=\"xoxb\" leaked-secret-123\n", ".env:1: unexpected text" },
		{ "export\n", ".env:1: expected KEY=VALUE" },
		{ "MY KEY=leaked-secret-123\n", ".env:1:" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(".env", cases[i].body);
		expect_fail(fx, VIVA_EINVAL, cases[i].want);
		assert_null(strstr(fx->err, "leaked-secret-123"));
	}
}

/* ---- environment value checks ------------------------------------------------- */

static void config__bad_token_prefix__names_variable_not_value(void **state)
{
	struct fixture *fx = *state;

	setenv("SLACK_BOT_TOKEN", "xapp-very-secret-value-42", 1);
	expect_fail(fx, VIVA_EINVAL, "SLACK_BOT_TOKEN");
	assert_non_null(strstr(fx->err, "xoxb-"));
	assert_null(strstr(fx->err, "very-secret-value-42"));
	unsetenv("SLACK_BOT_TOKEN");

	write_file(".env", "SLACK_APP_TOKEN=xoxb-very-secret-value-42\n");
	expect_fail(fx, VIVA_EINVAL, "SLACK_APP_TOKEN");
	assert_non_null(strstr(fx->err, "xapp-"));
	assert_null(strstr(fx->err, "very-secret-value-42"));

	write_file(".env", "SLACK_APP_TOKEN=\"xapp-very secret-value-42\"\n");
	expect_fail(fx, VIVA_EINVAL, "SLACK_APP_TOKEN");
	assert_null(strstr(fx->err, "secret-value-42"));

	write_file(".env", "KUBE_TOKEN=\"very-secret-value-42 \"\n");
	expect_fail(fx, VIVA_EINVAL, "KUBE_TOKEN");
	assert_null(strstr(fx->err, "very-secret-value-42"));
}

static void config__bad_env_values__name_the_variable(void **state)
{
	struct fixture *fx = *state;
	static const struct { const char *var, *val; } cases[] = {
		{ "SLACK_API_BASE", "slack.com/api" },
		{ "SLACK_API_BASE", "ftp://x/" },
		{ "REGISTRY_URL", "127.0.0.1:5000" },
		{ "PROMETHEUS_URL", "http://" },
		{ "KUBE_API_URL", "https://user:pw@host/ x" },
		{ "VIVA_HTTP_LISTEN", "8080" },
		{ "VIVA_HTTP_LISTEN", ":8080" },
		{ "VIVA_HTTP_LISTEN", "127.0.0.1:0" },
		{ "VIVA_HTTP_LISTEN", "127.0.0.1:65536" },
		{ "VIVA_HTTP_LISTEN", "127.0.0.1:http" },
		{ "VIVA_HTTP_LISTEN", "::1:8080" },
		{ "VIVA_LOG_LEVEL", "verbose" },
		{ "VIVA_LOG_LEVEL", "off" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv(cases[i].var, cases[i].val, 1);
		expect_fail(fx, VIVA_EINVAL, cases[i].var);
		unsetenv(cases[i].var);
	}
}

/* ---- templates and registry TLS ---------------------------------------------- */

static void config__templates_dir__env_beats_yaml_none_means_built_in(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	/* neither: NULL, the templates built into viva */
	write_file("viva.yaml", "templates_dir: ~\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_null(c->templates_dir);
	config_release(c);

	write_file("viva.yaml", "workers: 2\ntemplates_dir: ~/viva/templates\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->templates_dir, "/home/tester/viva/templates");
	config_release(c);

	write_file(".env", "VIVA_TEMPLATES=/from/dotenv\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->templates_dir, "/from/dotenv");
	config_release(c);

	setenv("VIVA_TEMPLATES", "/from/env", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->templates_dir, "/from/env");
	config_release(c);

	/* set but empty: "not set", so the yaml value stands */
	setenv("VIVA_TEMPLATES", "", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->templates_dir, "/home/tester/viva/templates");
	config_release(c);
	unsetenv("VIVA_TEMPLATES");
	unlink(".env");

	expect_yaml_fail(fx, "workers: 2\ntemplates_dir: \"a\\nb\"\n", VIVA_EINVAL,
			 "viva.yaml:2: templates_dir: must not contain control characters");
	expect_yaml_fail(fx, "templates_dir: [a]\n", VIVA_EINVAL,
			 "viva.yaml:1: templates_dir: expected a string, got a list");
	expect_yaml_fail(fx, "templates_dir: \"\"\n", VIVA_EINVAL,
			 "viva.yaml:1: templates_dir: must not be empty");
	expect_yaml_fail(fx, "template_dir: ./t\n", VIVA_EINVAL,
			 "viva.yaml:1: unknown key 'template_dir' (known: ");
	assert_non_null(strstr(fx->err, "templates_dir"));
}

/* node_templates: its own key, else node/ in the templates directory, else the built-in trees. */
static void config__node_templates__key_else_beside_templates_dir(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	write_file("viva.yaml", "workers: 2\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_null(c->node_templates);   /* the built-in trees only */
	config_release(c);

	write_file("viva.yaml", "templates_dir: /srv/viva/templates\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->node_templates, "/srv/viva/templates/node");
	config_release(c);

	/* VIVA_TEMPLATES moves the default with it */
	setenv("VIVA_TEMPLATES", "/from/env", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->node_templates, "/from/env/node");
	config_release(c);

	/* the key wins over the default */
	write_file("viva.yaml", "templates_dir: /srv/t\nnode_templates: ~/nodes\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->node_templates, "/home/tester/nodes");
	config_release(c);
	unsetenv("VIVA_TEMPLATES");

	expect_yaml_fail(fx, "workers: 2\nnode_templates: \"a\\nb\"\n", VIVA_EINVAL,
			 "viva.yaml:2: node_templates: must not contain control characters");
	expect_yaml_fail(fx, "node_templates: [a]\n", VIVA_EINVAL,
			 "viva.yaml:1: node_templates: expected a string, got a list");
}

static void config__registry_tls__ca_file_and_insecure(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	write_file("viva.yaml",
		   "registry:\n"
		   "  url: https://registry.example:5000\n"
		   "  ca_file: ~/certs/registry-ca.pem\n"
		   "  insecure: true\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->registry_url, "https://registry.example:5000");
	assert_string_equal(c->registry_ca_file, "/home/tester/certs/registry-ca.pem");
	assert_true(c->registry_insecure);
	config_release(c);

	/* REGISTRY_CA_FILE overrides registry.ca_file, from .env or the environment */
	write_file(".env", "REGISTRY_CA_FILE=/etc/ssl/from-dotenv.pem\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->registry_ca_file, "/etc/ssl/from-dotenv.pem");
	config_release(c);
	setenv("REGISTRY_CA_FILE", "~/env-ca.pem", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->registry_ca_file, "/home/tester/env-ca.pem");
	assert_true(c->registry_insecure);   /* no variable for this one */
	config_release(c);
	unsetenv("REGISTRY_CA_FILE");
	unlink(".env");

	write_file("viva.yaml", "registry: { insecure: false }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_false(c->registry_insecure);
	assert_null(c->registry_ca_file);
	config_release(c);
	write_file("viva.yaml", "registry: { insecure: \"true\" }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_true(c->registry_insecure);
	config_release(c);
	write_file("viva.yaml", "registry: { insecure: ~ }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_false(c->registry_insecure);
	config_release(c);

	/* YAML 1.1 booleans are not guessed */
	expect_yaml_fail(fx, "registry:\n  insecure: yes\n", VIVA_EINVAL,
			 "viva.yaml:2: registry.insecure: expected true or false, got \"yes\"");
	expect_yaml_fail(fx, "registry: { insecure: 1 }\n", VIVA_EINVAL,
			 "viva.yaml:1: registry.insecure: expected true or false, got \"1\"");
	expect_yaml_fail(fx, "registry: { insecure: True }\n", VIVA_EINVAL,
			 "registry.insecure: expected true or false, got \"True\"");
	expect_yaml_fail(fx, "registry: { insecure: [true] }\n", VIVA_EINVAL,
			 "registry.insecure: expected true or false, got a list");
	expect_yaml_fail(fx, "registry:\n  ca_file: \"a\\tb\"\n", VIVA_EINVAL,
			 "viva.yaml:2: registry.ca_file: must not contain control characters");
	expect_yaml_fail(fx, "registry:\n  cafile: /x\n", VIVA_EINVAL,
			 "viva.yaml:2: unknown key 'registry.cafile' (known: url, ca_file, insecure, max_concurrent)");
	write_file("viva.yaml", "workers: 2\n");
	setenv("REGISTRY_CA_FILE", "/etc/ca\n.pem", 1);
	expect_fail(fx, VIVA_EINVAL, "REGISTRY_CA_FILE (from the environment): must not contain "
		    "control characters");
	unsetenv("REGISTRY_CA_FILE");
	unsetenv("HOME");
	setenv("REGISTRY_CA_FILE", "~/ca.pem", 1);
	expect_fail(fx, VIVA_EINVAL, "REGISTRY_CA_FILE: uses ~ but HOME is not set");
}

static void config__prometheus_credentials__basic_or_bearer_never_echoed(void **state)
{
	struct fixture *fx = *state;
	struct viva_config *c = &fx->cfg;

	write_file("viva.yaml", "prometheus:\n  url: https://prom.example:9090/prometheus\n"
		   "  ca_file: ~/certs/prom-ca.pem\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->prometheus_url, "https://prom.example:9090/prometheus");
	assert_string_equal(c->prometheus_ca_file, "/home/tester/certs/prom-ca.pem");
	assert_null(c->prometheus_user);
	assert_null(c->prometheus_password);
	assert_null(c->prometheus_token);
	config_release(c);

	/* basic auth from .env, the CA file from the environment (it wins over the yaml) */
	write_file(".env", "PROMETHEUS_USER=viewer\nPROMETHEUS_PASSWORD=\"pw with spaces-secret-77\"\n");
	setenv("PROMETHEUS_CA_FILE", "/etc/ssl/prom.pem", 1);
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->prometheus_user, "viewer");
	assert_string_equal(c->prometheus_password, "pw with spaces-secret-77");
	assert_string_equal(c->prometheus_ca_file, "/etc/ssl/prom.pem");
	config_release(c);
	unsetenv("PROMETHEUS_CA_FILE");

	/* a bearer token alone */
	write_file(".env", "PROMETHEUS_TOKEN=tok-secret-77\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(c->prometheus_token, "tok-secret-77");
	config_release(c);

	/* half of basic auth, or both kinds: start-up stops with one line, no secret */
	write_file(".env", "PROMETHEUS_USER=viewer\n");
	expect_fail(fx, VIVA_EINVAL, "PROMETHEUS_USER is set without PROMETHEUS_PASSWORD: set both for "
		    "basic auth, or PROMETHEUS_TOKEN alone");
	write_file(".env", "PROMETHEUS_PASSWORD=pw-secret-77\n");
	expect_fail(fx, VIVA_EINVAL, "PROMETHEUS_PASSWORD is set without PROMETHEUS_USER");
	assert_null(strstr(fx->err, "secret-77"));
	write_file(".env", "PROMETHEUS_USER=viewer\nPROMETHEUS_PASSWORD=pw-secret-77\n"
		   "PROMETHEUS_TOKEN=tok-secret-77\n");
	expect_fail(fx, VIVA_EINVAL, "PROMETHEUS_USER and PROMETHEUS_TOKEN are both set: use basic auth or "
		    "a bearer token, not both");
	assert_null(strstr(fx->err, "secret-77"));
	/* a token goes into a header: no spaces */
	write_file(".env", "PROMETHEUS_TOKEN=\"tok secret-77\"\n");
	expect_fail(fx, VIVA_EINVAL, "PROMETHEUS_TOKEN (from ./.env): must not contain spaces");
	assert_null(strstr(fx->err, "secret-77"));
	unlink(".env");
	expect_yaml_fail(fx, "prometheus:\n  ca_file: \"a\\tb\"\n", VIVA_EINVAL,
			 "viva.yaml:2: prometheus.ca_file: must not contain control characters");
}

/* ---- yaml errors -------------------------------------------------------------- */

static void config__unknown_key__error_with_line(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "workers: 4\nslash_comand: /viva\n", VIVA_EINVAL,
			 "viva.yaml:2: unknown key 'slash_comand' (known: slash_command");
	expect_yaml_fail(fx, "admins:\n  users: [U01]\n  user: [U02]\n", VIVA_EINVAL,
			 "viva.yaml:3: unknown key 'admins.user' (known: users, usergroup)");
	expect_yaml_fail(fx, "clusters:\n  dev:\n    kubeconfig: /k\n    ctx: dev\n", VIVA_EINVAL,
			 "viva.yaml:4: unknown key 'clusters.dev.ctx'");
	expect_yaml_fail(fx, "thresholds: { lag_days: 7, lagdays: 8 }\n", VIVA_EINVAL,
			 "viva.yaml:1: unknown key 'thresholds.lagdays'");
}

static void config__wrong_type__error_with_line(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "workers: 4\n\n\n\n\nthresholds:\n  lag_days: x\n", VIVA_EINVAL,
			 "viva.yaml:7: thresholds.lag_days: expected a whole number, got \"x\"");
	expect_yaml_fail(fx, "workers: 4.5\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: expected a whole number, got \"4.5\"");
	expect_yaml_fail(fx, "queue_size: [1]\n", VIVA_EINVAL,
			 "viva.yaml:1: queue_size: expected a whole number, got a list");
	expect_yaml_fail(fx, "workers: 4\nslash_command: [a, b]\n", VIVA_EINVAL,
			 "viva.yaml:2: slash_command: expected a string, got a list");
	expect_yaml_fail(fx, "channels: C0DEPLOY\n", VIVA_EINVAL,
			 "viva.yaml:1: channels: expected a mapping, got a scalar");
	expect_yaml_fail(fx, "admins:\n  users: U01\n", VIVA_EINVAL,
			 "viva.yaml:2: admins.users: expected a list");
	expect_yaml_fail(fx, "admins:\n  users:\n    - U01\n    - { id: U02 }\n", VIVA_EINVAL,
			 "viva.yaml:4: admins.users[1]: expected a Slack user id, got a mapping");
	expect_yaml_fail(fx, "environments:\n  alpha: [dev, alpha]\n", VIVA_EINVAL,
			 "viva.yaml:2: environments.alpha: expected a mapping, got a list");
	expect_yaml_fail(fx, "- workers\n- 4\n", VIVA_EINVAL,
			 "viva.yaml:1: top level must be a mapping");
	expect_yaml_fail(fx, "just a string\n", VIVA_EINVAL,
			 "viva.yaml:1: top level must be a mapping");
	expect_yaml_fail(fx, "slash_command: \"\"\n", VIVA_EINVAL,
			 "viva.yaml:1: slash_command: must not be empty");
	expect_yaml_fail(fx, "[a]: 1\n", VIVA_EPARSE,
			 "viva.yaml:1:1: keys must be plain text, not lists or mappings");
}

static void config__out_of_range__error(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "workers: 0\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: must be between 1 and 64, got 0");
	expect_yaml_fail(fx, "workers: 65\n", VIVA_EINVAL, "workers: must be between 1 and 64");
	expect_yaml_fail(fx, "workers: -3\n", VIVA_EINVAL, "workers: must be between 1 and 64");
	expect_yaml_fail(fx, "workers: 99999999999999999999\n", VIVA_EINVAL,
			 "workers: expected a whole number");
	expect_yaml_fail(fx, "queue_size: 100001\n", VIVA_EINVAL,
			 "queue_size: must be between 1 and 100000");
	expect_yaml_fail(fx, "operation_workers: 0\n", VIVA_EINVAL,
			 "operation_workers: must be between 1 and 64");
	expect_yaml_fail(fx, "http: { max_connections: 0 }\n", VIVA_EINVAL,
			 "http.max_connections: must be between 1 and 10000");
	expect_yaml_fail(fx, "registry: { max_concurrent: 65 }\n", VIVA_EINVAL,
			 "registry.max_concurrent: must be between 1 and 64");
	expect_yaml_fail(fx, "loop_priority: fast\n", VIVA_EINVAL,
			 "viva.yaml:1: loop_priority: must be normal or realtime");
	expect_yaml_fail(fx, "thresholds:\n  snooze_days: 3651\n", VIVA_EINVAL,
			 "viva.yaml:2: thresholds.snooze_days: must be between 1 and 3650");
	expect_yaml_fail(fx, "thresholds: { unused_days: 0 }\n", VIVA_EINVAL,
			 "thresholds.unused_days: must be between 1 and 3650");
}

static void config__bad_values__error_with_line(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "slash_command: viva\n", VIVA_EINVAL,
			 "viva.yaml:1: slash_command: must start with '/'");
	expect_yaml_fail(fx, "slash_command: /viva ops\n", VIVA_EINVAL,
			 "viva.yaml:1: slash_command:");
	expect_yaml_fail(fx, "admins:\n  users: [U01, bob]\n", VIVA_EINVAL,
			 "viva.yaml:2: admins.users[1]: expected a Slack user id such as U012AB3CD, got \"bob\"");
	expect_yaml_fail(fx, "admins: { usergroup: platform }\n", VIVA_EINVAL,
			 "admins.usergroup: expected a Slack user group id");
	expect_yaml_fail(fx, "channels:\n  deploy: \"#deploy\"\n", VIVA_EINVAL,
			 "viva.yaml:2: channels.deploy: expected a Slack channel id");
	expect_yaml_fail(fx, "schedules: { lag: \"0 10 * *\" }\n", VIVA_EINVAL,
			 "schedules.lag: cron \"0 10 * *\": expected 5 fields");
	/* five fields are not enough: what the scheduler could never run is refused */
	expect_yaml_fail(fx, "schedules: { lag: \"60 99 * * *\" }\n", VIVA_EINVAL,
			 "schedules.lag: cron \"60 99 * * *\": minute field: 60 is out of range 0-59");
	expect_yaml_fail(fx, "schedules: { unused: \"*/0 * * * *\" }\n", VIVA_EINVAL,
			 "schedules.unused: cron \"*/0 * * * *\": minute field: step 0 is not allowed");
	expect_yaml_fail(fx, "traffic: { api_label: \"a-b\" }\n", VIVA_EINVAL,
			 "traffic.api_label: expected a Prometheus label name");
	expect_yaml_fail(fx, "environments:\n  alpha: { cluster: dev }\nclusters: { dev: {} }\n",
			 VIVA_EINVAL, "viva.yaml:2: environments.alpha.namespace: required");
	expect_yaml_fail(fx, "clusters: { dev: {} }\nenvironments:\n  alpha: { namespace: a }\n",
			 VIVA_EINVAL, "viva.yaml:3: environments.alpha.cluster: required");
	expect_yaml_fail(fx, "clusters: { Dev_1: {} }\n", VIVA_EINVAL,
			 "viva.yaml:1: clusters: cluster name \"Dev_1\"");
	expect_yaml_fail(fx, "clusters: { dev: {} }\nenvironments:\n  alpha: { cluster: dev, namespace: A }\n",
			 VIVA_EINVAL, "viva.yaml:3: environments.alpha.namespace: expected a DNS-1123 label");
	expect_yaml_fail(fx, "workers: 4\nworkers: 5\n", VIVA_EINVAL,
			 "viva.yaml:2: top level: duplicate key \"workers\" (first at line 1)");
}

static void config__url_in_yaml__never_echoed(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "registry:\n  url: robot:hunter2-pw@registry\n", VIVA_EINVAL,
			 "viva.yaml:2: registry.url: expected an http:// or https:// URL");
	assert_null(strstr(fx->err, "hunter2-pw"));
}

static void config__malformed_yaml__eparse_with_line_col(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "workers: 4\nadmins:\n  users: [U01\nchannels: {}\n", VIVA_EPARSE,
			 "viva.yaml:4:");
	expect_yaml_fail(fx, "workers: 4\nslash_command: \"/viva\n", VIVA_EPARSE,
			 "viva.yaml:3:1: found unexpected end of stream");
	expect_yaml_fail(fx, "a: 1\n b: 2\n", VIVA_EPARSE, "viva.yaml:2:3:");
	expect_yaml_fail(fx, "workers: *nope\n", VIVA_EPARSE, "viva.yaml:1:10:");
	expect_yaml_fail(fx, "workers: 4\n---\nworkers: 5\n", VIVA_EPARSE,
			 "viva.yaml:2:1: more than one YAML document");
	expect_yaml_fail(fx, "workers: 4\nslash_command: \"/v\xff\"\n", VIVA_EPARSE, "viva.yaml:2:");
}

static void config__explicit_config_missing__error_names_it(void **state)
{
	struct fixture *fx = *state;
	char *path = xasprintf("%s/nope/prod.yaml", fx->dir);

	setenv("VIVA_CONFIG", path, 1);
	expect_fail(fx, VIVA_EIO, path);
	assert_non_null(strstr(fx->err, "VIVA_CONFIG"));
	unsetenv("VIVA_CONFIG");

	/* named in .env counts as explicit too */
	write_file(".env", "VIVA_CONFIG=./missing.yaml\n");
	expect_fail(fx, VIVA_EIO, "./missing.yaml");

	/* a directory is not a config file */
	write_file(".env", "VIVA_CONFIG=/tmp\n");
	expect_fail(fx, VIVA_EIO, "/tmp");
	free(path);
}

static void config__environment_unknown_cluster__error(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx,
		"environments:\n"
		"  alpha: { cluster: dev, namespace: alpha }\n"
		"  beta:  { cluster: staging, namespace: beta }\n"
		"clusters:\n"
		"  dev: { context: dev }\n",
		VIVA_EINVAL, "viva.yaml:3: environments.beta.cluster: unknown cluster 'staging'");
	expect_yaml_fail(fx, "environments:\n  alpha: { cluster: dev, namespace: alpha }\n",
			 VIVA_EINVAL, "environments.alpha.cluster: unknown cluster 'dev'");
}

static void config__bad_timezone__error(void **state)
{
	struct fixture *fx = *state;

	expect_yaml_fail(fx, "workers: 2\ntimezone: Mars/Olympus\n", VIVA_EINVAL,
			 "viva.yaml:2: timezone: unknown time zone");
	expect_yaml_fail(fx, "timezone: ../../../etc/passwd\n", VIVA_EINVAL,
			 "timezone: unknown time zone");
	expect_yaml_fail(fx, "timezone: /etc/localtime\n", VIVA_EINVAL, "timezone: unknown time zone");
	expect_yaml_fail(fx, "timezone: Asia\n", VIVA_EINVAL, "timezone: unknown time zone");
}

static void config__home_unset__tilde_is_an_error(void **state)
{
	struct fixture *fx = *state;

	unsetenv("HOME");
	expect_yaml_fail(fx, "clusters:\n  dev: { kubeconfig: ~/.kube/config }\n", VIVA_EINVAL,
			 "viva.yaml:2: clusters.dev.kubeconfig: uses ~ but HOME is not set");
}

static void config__deep_nesting__error_not_crash(void **state)
{
	struct fixture *fx = *state;
	struct strbuf sb;

	sb_init(&sb);
	for (int i = 0; i < 10000; i++)
		sb_addc(&sb, '[');
	write_file("viva.yaml", sb.buf);
	expect_fail(fx, VIVA_EPARSE, "nested deeper than 32 levels");

	sb.len = 0;
	sb_adds(&sb, "workers: ");
	for (int i = 0; i < 10000; i++)
		sb_adds(&sb, "{a: ");
	write_file("viva.yaml", sb.buf);
	expect_fail(fx, VIVA_EPARSE, "viva.yaml:1:");

	/* block style: one more level per line */
	sb.len = 0;
	for (int i = 0; i < 100; i++) {
		for (int j = 0; j < i; j++)
			sb_addc(&sb, ' ');
		sb_adds(&sb, "k:\n");
	}
	write_file("viva.yaml", sb.buf);
	expect_fail(fx, VIVA_EPARSE, "viva.yaml:33:");
	sb_release(&sb);
}

static void config__huge_file__refused(void **state)
{
	struct fixture *fx = *state;
	struct strbuf sb;

	sb_init(&sb);
	while (sb.len <= 1024 * 1024)
		sb_adds(&sb, "# padding padding padding padding padding padding padding\n");
	write_file("viva.yaml", sb.buf);
	sb_release(&sb);
	expect_fail(fx, VIVA_EINVAL, "larger than");
}

static void config__many_aliases__bounded(void **state)
{
	struct fixture *fx = *state;

	/* "billion laughs": the schema walk never expands aliases it does not need */
	write_file("viva.yaml",
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
	expect_fail(fx, VIVA_EINVAL, "viva.yaml:1: unknown key 'a'");
}

/* viva.yaml goes through bot/lib/yamltree: its refusals come with line:col. */
static void config__yaml_refusals__line_col_no_values(void **state)
{
	struct fixture *fx = *state;
	struct strbuf sb;

	expect_yaml_fail(fx, "workers: !!int 4\n", VIVA_EPARSE,
			 "viva.yaml:1:10: tag !!int is not supported");
	expect_yaml_fail(fx, "workers: 4\nadmins:\n\tusers: [U01]\n", VIVA_EPARSE,
			 "viva.yaml:3:1: ");
	assert_non_null(strstr(fx->err, "(YAML indents with spaces, not tabs)"));
	expect_yaml_fail(fx, "clusters:\n  dev: { context: dev }\n  dev: { context: x }\n",
			 VIVA_EINVAL, "viva.yaml:3: clusters: duplicate key \"dev\" (first at line 2)");
	expect_yaml_fail(fx, "registry:\n  url: http://robot:hunter2-pw@registry\n"
			 "  url: http://robot:hunter2-pw@registry\n", VIVA_EINVAL,
			 "viva.yaml:3: registry: duplicate key \"url\" (first at line 2)");
	assert_null(strstr(fx->err, "hunter2"));
	expect_yaml_fail(fx, "registry:\n  url: http://robot:hunter2-pw@registry\n  x: [1\n",
			 VIVA_EPARSE, "viva.yaml:4:1: ");
	assert_null(strstr(fx->err, "hunter2"));
	expect_yaml_fail(fx, "\"work\\0ers\": 4\n", VIVA_EPARSE,
			 "viva.yaml:1:1: a key contains a NUL character");

	/* aliases are allowed in viva.yaml, but bounded: nine levels of nine */
	sb_init(&sb);
	sb_adds(&sb, "a: &a [x, x, x, x, x, x, x, x, x]\n");
	for (char c = 'b'; c <= 'i'; c++)
		sb_addf(&sb, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c,
			c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	write_file("viva.yaml", sb.buf);
	expect_fail(fx, VIVA_EPARSE, "viva.yaml:6:8: more than 100000 YAML nodes");
	sb_release(&sb);
}

/* Plain true/false are booleans in the tree; where text is expected they read as written. */
static void config__scalars__typed_by_yamltree(void **state)
{
	struct fixture *fx = *state;

	write_file("viva.yaml",
		   "clusters:\n"
		   "  dev: { context: true, kubeconfig: \"~\" }\n"
		   "thresholds: { lag_days: '12', unused_days: ~ }\n");
	assert_int_equal(load(fx), VIVA_OK);
	assert_string_equal(fx->cfg.clusters[0].context, "true");
	assert_string_equal(fx->cfg.clusters[0].kubeconfig, "/home/tester");
	assert_int_equal(fx->cfg.lag_days, 12);
	assert_int_equal(fx->cfg.unused_days, 7);
	config_release(&fx->cfg);

	expect_yaml_fail(fx, "workers: yes\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: expected a whole number, got \"yes\"");
	expect_yaml_fail(fx, "workers: 0x1F\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: expected a whole number, got \"0x1F\"");
	expect_yaml_fail(fx, "workers: 1e3\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: expected a whole number, got \"1e3\"");
	expect_yaml_fail(fx, "workers: true\n", VIVA_EINVAL,
			 "viva.yaml:1: workers: expected a whole number, got \"true\"");
	expect_yaml_fail(fx, "admins:\n  users:\n    -\n", VIVA_EINVAL,
			 "viva.yaml:3: admins.users[0]: expected a Slack user id such as U012AB3CD, got \"\"");
	expect_yaml_fail(fx, "slash_command: \"/v\\0x\"\n", VIVA_EINVAL,
			 "viva.yaml:1: slash_command: contains a NUL character");
}

/* The shipped examples must load: they document every key and variable. */
static void config__example_files__load_cleanly(void **state)
{
	struct fixture *fx = *state;
	char *yaml = xasprintf("%s/viva.example.yaml", fx->oldcwd);
	char *env = xasprintf("%s/.env.example", fx->oldcwd);
	struct viva_config d;
	struct stat st;
	int rc;

	if (stat(yaml, &st) != 0 || stat(env, &st) != 0) {
		free(yaml);
		free(env);
		skip();
	}
	setenv("VIVA_CONFIG", yaml, 1);
	rc = config_load(&fx->cfg, env, fx->err, sizeof(fx->err));
	if (rc)
		print_error("%s\n", fx->err);
	assert_int_equal(rc, VIVA_OK);
	config_defaults(&d);
	assert_int_equal(fx->cfg.n_clusters, 2);
	assert_int_equal(fx->cfg.n_environments, 2);
	assert_null(fx->cfg.slack_bot_token);
	assert_null(fx->cfg.http_listen);
	assert_string_equal(fx->cfg.promql_unused_http, d.promql_unused_http);
	assert_string_equal(fx->cfg.promql_unused_kafka, d.promql_unused_kafka);
	assert_string_equal(fx->cfg.promql_unused_batch, d.promql_unused_batch);
	assert_string_equal(fx->cfg.traffic_api_label, d.traffic_api_label);
	assert_int_equal(fx->cfg.queue_size, d.queue_size);
	assert_string_equal(fx->cfg.loop_priority, d.loop_priority);
	/* templates built in; registry TLS keys shown but left at their defaults */
	assert_null(fx->cfg.templates_dir);
	assert_null(fx->cfg.registry_ca_file);
	assert_false(fx->cfg.registry_insecure);
	config_release(&d);
	free(yaml);
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(config__no_files__all_defaults),
		T(config__release__zeroes_struct),
		T(config__spec_example__every_field_parsed),
		T(config__nondefault_values__override_defaults),
		T(config__aliases__resolved),
		T(config__yaml_not_a_regular_file__refused_at_once),
		T(config__empty_yaml__ok),
		T(config__timezone__real_zone_accepted),
		T(config__precedence__env_beats_dotenv_beats_yaml),
		T(config__viva_config_from_dotenv__used),
		T(config__env_values__applied_and_normalised),
		T(config__dotenv__quotes_export_comments),
		T(config__dotenv_newline_escape__rejected_for_header_values),
		T(config__dotenv_bad_line__error_with_line_no_value),
		T(config__bad_token_prefix__names_variable_not_value),
		T(config__bad_env_values__name_the_variable),
		T(config__templates_dir__env_beats_yaml_none_means_built_in),
		T(config__node_templates__key_else_beside_templates_dir),
		T(config__registry_tls__ca_file_and_insecure),
		T(config__prometheus_credentials__basic_or_bearer_never_echoed),
		T(config__unknown_key__error_with_line),
		T(config__wrong_type__error_with_line),
		T(config__out_of_range__error),
		T(config__bad_values__error_with_line),
		T(config__url_in_yaml__never_echoed),
		T(config__malformed_yaml__eparse_with_line_col),
		T(config__explicit_config_missing__error_names_it),
		T(config__environment_unknown_cluster__error),
		T(config__bad_timezone__error),
		T(config__home_unset__tilde_is_an_error),
		T(config__deep_nesting__error_not_crash),
		T(config__huge_file__refused),
		T(config__many_aliases__bounded),
		T(config__yaml_refusals__line_col_no_values),
		T(config__scalars__typed_by_yamltree),
		T(config__example_files__load_cleanly),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
