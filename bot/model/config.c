/*
 * viva's configuration (the contract is in config.h): the entry points.
 * config_load() reads the sources in order (defaults, .env, viva.yaml, the
 * environment); config_defaults(), config_release() and the lookups.
 *
 * The loader's parts, internal to the config*.c files (config_impl.h):
 *   config_env.c     environment variables and .env: their table and checks
 *   config_yaml.c    reading viva.yaml: the file, the walk over the key tables
 *   config_schema.c  the viva.yaml keys: the tables, the value checks, the
 *                    sections with a parser of their own (clusters, environments)
 *   config_value.c   helpers for one value (quoting it in an error, URLs, ~/)
 */
#include "bot/model/config.h"
#include "bot/model/config_impl.h"
#include "bot/model/dotenv.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define DEF_SLACK_API_BASE "https://slack.com/api/"
#define DEF_DB_PATH        "./viva.db"
#define DEF_CONFIG_PATH    "./viva.yaml"
#define DEF_ENV_FILE       "./.env"
#define DEF_LOG_LEVEL      "info"
#define DEF_SLASH_COMMAND  "/viva"
#define DEF_TIMEZONE       "UTC"
#define DEF_WORKERS        4
#define DEF_QUEUE_SIZE     256
#define DEF_OPERATION_WORKERS 8
#define DEF_HTTP_MAX_CONNECTIONS 256
#define DEF_PIPELINES_DIR  "./pipelines"
#define DEF_SCHEDULE_LAG   "0 10 * * *"
#define DEF_SCHEDULE_UNUSED "0 10 * * MON"
#define DEF_LAG_DAYS       7
#define DEF_ROLLBACK_WINDOW_S (30 * 60)
#define DEF_DEPLOY_TIMEOUT_S  (10 * 60)
#define DEF_DRAIN_TIMEOUT_S   (10 * 60)
#define DEF_UNUSED_DAYS    7
#define DEF_SNOOZE_DAYS    30
#define DEF_CLUSTER_CONFIGS "./clusters"
#define DEF_PROMQL_HTTP \
	"sum by (destination_app, destination_workload_namespace) " \
	"(increase(istio_requests_total{reporter=\"destination\"}[7d]))"
#define DEF_PROMQL_KAFKA \
	"max by (application) " \
	"(max_over_time(kafka_consumer_fetch_manager_records_consumed_rate[7d]))"
#define DEF_PROMQL_BATCH   "min_over_time(kube_cronjob_spec_suspend[7d]) == 1"
#define DEF_API_LABEL      "request_operation"

/* ---- public ---------------------------------------------------------------- */

void config_defaults(struct viva_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->slack_api_base = xstrdup(DEF_SLACK_API_BASE);
	cfg->db_path = xstrdup(DEF_DB_PATH);
	cfg->config_path = xstrdup(DEF_CONFIG_PATH);
	cfg->log_level = xstrdup(DEF_LOG_LEVEL);
	cfg->slash_command = xstrdup(DEF_SLASH_COMMAND);
	cfg->loop_priority = xstrdup("normal");
	cfg->timezone = xstrdup(DEF_TIMEZONE);
	cfg->workers = DEF_WORKERS;
	cfg->queue_size = DEF_QUEUE_SIZE;
	cfg->operation_workers = DEF_OPERATION_WORKERS;
	cfg->http_max_connections = DEF_HTTP_MAX_CONNECTIONS;
	cfg->admin_users = xcalloc(1, sizeof(*cfg->admin_users));
	cfg->pipelines_dir = xstrdup(DEF_PIPELINES_DIR);
	cfg->schedule_lag = xstrdup(DEF_SCHEDULE_LAG);
	cfg->schedule_unused = xstrdup(DEF_SCHEDULE_UNUSED);
	cfg->lag_days = DEF_LAG_DAYS;
	cfg->rollback_window_s = DEF_ROLLBACK_WINDOW_S;
	cfg->deploy_timeout_s = DEF_DEPLOY_TIMEOUT_S;
	cfg->drain_timeout_s = DEF_DRAIN_TIMEOUT_S;
	cfg->unused_days = DEF_UNUSED_DAYS;
	cfg->snooze_days = DEF_SNOOZE_DAYS;
	cfg->cluster_configs = xstrdup(DEF_CLUSTER_CONFIGS);
	cfg->promql_unused_http = xstrdup(DEF_PROMQL_HTTP);
	cfg->promql_unused_kafka = xstrdup(DEF_PROMQL_KAFKA);
	cfg->promql_unused_batch = xstrdup(DEF_PROMQL_BATCH);
	cfg->traffic_api_label = xstrdup(DEF_API_LABEL);
}

int config_load(struct viva_config *cfg, const char *env_file, char *err, size_t errlen)
{
	struct ld ld;
	const char *from, *cpath;
	bool explicit;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(cfg);
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.err = err;
	ld.errlen = errlen;
	ld.env_file = env_file ? env_file : DEF_ENV_FILE;

	dotenv_init(&ld.dotenv);
	rc = dotenv_load(&ld.dotenv, ld.env_file, err, errlen);
	if (rc)
		goto out;

	cpath = config_lookup(&ld, "VIVA_CONFIG", &from);
	explicit = cpath != NULL;
	if (cpath)
		config_replace_str(&cfg->config_path, xstrdup(cpath));
	ld.yaml_path = cfg->config_path;
	rc = config_load_yaml(&ld, explicit);
	if (rc)
		goto out;
	rc = config_apply_env(&ld);
	/* after the environment: VIVA_TEMPLATES moves the default too */
	if (rc == VIVA_OK && !cfg->node_templates && cfg->templates_dir)
		cfg->node_templates = xasprintf("%s/node", cfg->templates_dir);
out:
	dotenv_release(&ld.dotenv);
	if (rc)
		config_release(cfg);
	return rc;
}

void config_release(struct viva_config *cfg)
{
	char **strs[] = {
		&cfg->slack_app_token, &cfg->slack_bot_token, &cfg->slack_api_base,
		&cfg->db_path, &cfg->config_path, &cfg->kubeconfig, &cfg->kube_api_url,
		&cfg->kube_token, &cfg->kube_ca_file, &cfg->registry_url,
		&cfg->registry_user, &cfg->registry_password, &cfg->registry_ca_file, &cfg->prometheus_url,
		&cfg->prometheus_user, &cfg->prometheus_password, &cfg->prometheus_token, &cfg->prometheus_ca_file,
		&cfg->http_listen, &cfg->node_token, &cfg->log_level, &cfg->templates_dir,
		&cfg->slash_command, &cfg->timezone, &cfg->admin_usergroup, &cfg->loop_priority,
		&cfg->channel_deploy, &cfg->channel_audit, &cfg->channel_nodes,
		&cfg->pipelines_dir, &cfg->schedule_lag, &cfg->schedule_unused,
		&cfg->link_bluegreen, &cfg->cluster_configs, &cfg->node_templates, &cfg->promql_unused_http,
		&cfg->promql_unused_kafka, &cfg->promql_unused_batch, &cfg->traffic_api_label,
		&cfg->out_dir,
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	argv_free(cfg->admin_users);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		free(cfg->clusters[i].name);
		free(cfg->clusters[i].kubeconfig);
		free(cfg->clusters[i].context);
	}
	free(cfg->clusters);
	for (size_t i = 0; i < cfg->n_environments; i++) {
		free(cfg->environments[i].name);
		free(cfg->environments[i].cluster);
		free(cfg->environments[i].namespace_);
	}
	free(cfg->environments);
	memset(cfg, 0, sizeof(*cfg));
}

const struct config_env *config_env_find(const struct viva_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_environments; i++)
		if (strcmp(cfg->environments[i].name, name) == 0)
			return &cfg->environments[i];
	return NULL;
}

const struct config_cluster *config_cluster_find(const struct viva_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_clusters; i++)
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	return NULL;
}
