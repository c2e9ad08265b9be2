#ifndef VIVA_BOT_MODEL_CONFIG_H
#define VIVA_BOT_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * viva's configuration (SPEC section 2).
 *
 * Sources, highest precedence first:
 *   1. the process environment,
 *   2. the `.env` file (bot/model/dotenv.h),
 *   3. `viva.yaml` (VIVA_CONFIG, default ./viva.yaml) for structure, read
 *      with bot/lib/yamltree (its scalar rules; aliases allowed, bounded).
 * viva.yaml is optional: every key has a default. Where a value exists both
 * as a variable and a yaml key (REGISTRY_URL / registry.url,
 * REGISTRY_CA_FILE / registry.ca_file, PROMETHEUS_URL / prometheus.url,
 * PROMETHEUS_CA_FILE / prometheus.ca_file,
 * VIVA_TEMPLATES / templates_dir) the variable wins.
 *
 * Every error names the key and, for yaml, file:line, e.g.
 *   "viva.yaml:7: thresholds.lag_days: expected a whole number, got \"x\"".
 * Unknown yaml keys are errors (a typo must not silently keep a default).
 * Secrets (tokens, passwords) are never put into an error message.
 */

struct config_cluster {
	char *name;
	char *kubeconfig;
	char *context;
};

struct config_env {
	char *name;        /* pipeline resource key, e.g. "alpha" */
	char *cluster;     /* a name in clusters */
	char *namespace_;  /* Kubernetes namespace */
};

struct viva_config {
	/* environment (and .env) */
	char *slack_app_token;    /* SLACK_APP_TOKEN, xapp-... (secret) */
	char *slack_bot_token;    /* SLACK_BOT_TOKEN, xoxb-... (secret) */
	char *slack_api_base;     /* SLACK_API_BASE, default https://slack.com/api/ ; always ends in '/' */
	char *db_path;            /* VIVA_DB, default ./viva.db */
	char *config_path;        /* VIVA_CONFIG, default ./viva.yaml */
	char *kubeconfig;         /* KUBECONFIG */
	char *kube_api_url;       /* KUBE_API_URL */
	char *kube_token;         /* KUBE_TOKEN (secret) */
	char *kube_ca_file;       /* KUBE_CA_FILE */
	char *registry_url;       /* REGISTRY_URL, else registry.url */
	char *registry_user;      /* REGISTRY_USER */
	char *registry_password;  /* REGISTRY_PASSWORD (secret) */
	char *registry_ca_file;   /* REGISTRY_CA_FILE, else registry.ca_file: CA bundle for https */
	char *prometheus_url;     /* PROMETHEUS_URL, else prometheus.url */
	char *prometheus_user;    /* PROMETHEUS_USER: basic auth, with the password */
	char *prometheus_password; /* PROMETHEUS_PASSWORD (secret) */
	char *prometheus_token;   /* PROMETHEUS_TOKEN (secret): a bearer token, not with a user */
	char *prometheus_ca_file; /* PROMETHEUS_CA_FILE, else prometheus.ca_file: CA bundle for https */
	char *http_listen;        /* VIVA_HTTP_LISTEN, e.g. 127.0.0.1:8080; NULL = no endpoint */
	char *node_token;         /* VIVA_NODE_TOKEN (secret) */
	char *log_level;          /* VIVA_LOG_LEVEL, default info */
	char *templates_dir;      /* VIVA_TEMPLATES, else templates_dir; NULL: the built-in
	                           * templates (a directory only overrides them file by file) */
	char *out_dir;            /* VIVA_OUT_DIR: where the console saves files it cannot show
	                           * (traffic charts); NULL: the temporary directory */

	/* viva.yaml */
	char *slash_command;      /* slash_command, default /viva */
	char *timezone;           /* timezone, default UTC */
	int workers;              /* workers, default 4, 1..64 */
	int queue_size;           /* queue_size, default 256 */
	int operation_workers;    /* operation_workers, default 8, 1..64: the durable operations' pool */
	int http_max_connections; /* http.max_connections, default 256: the HTTP endpoint's cap */
	int registry_max_concurrent; /* registry.max_concurrent: calls on the registry at once;
	                           * 0 (default): half the workers, at least 1, so a
	                           * hung registry leaves the other half answering */
	char *loop_priority;      /* loop_priority: normal (default) or realtime */
	char **admin_users;       /* admins.users, NULL-terminated (may be empty) */
	char *admin_usergroup;    /* admins.usergroup, may be NULL */
	char *channel_deploy;     /* channels.deploy, may be NULL */
	char *channel_audit;      /* channels.audit */
	char *channel_nodes;      /* channels.nodes */
	char *pipelines_dir;      /* pipelines.dir, default ./pipelines */
	struct config_cluster *clusters; size_t n_clusters;        /* clusters */
	struct config_env *environments; size_t n_environments;     /* environments */
	char *schedule_lag;       /* schedules.lag, default "0 10 * * *" */
	char *schedule_unused;    /* schedules.unused, default "0 10 * * MON" */
	int lag_days;             /* thresholds.lag_days, default 7 */
	int unused_days;          /* thresholds.unused_days, default 7 */
	int snooze_days;          /* thresholds.snooze_days, default 30 */
	int rollback_window_s;    /* thresholds.rollback_window, default 30m: the old colour stays up */
	int deploy_timeout_s;     /* thresholds.deploy_timeout, default 10m: a rollout that takes longer fails */
	int drain_timeout_s;      /* thresholds.drain_timeout, default 10m: a drain still blocked then fails */
	char *link_bluegreen;     /* links.bluegreen, may be NULL */
	char *cluster_configs;    /* cluster_configs, default ./clusters */
	char *node_templates;     /* node_templates: the operator's node file trees, one
	                           * <kubernetes version>/etc/... per folder, overriding the
	                           * built-in templates/node/ file by file (SPEC 10.2).
	                           * Default: "<templates_dir>/node" when templates_dir (or
	                           * VIVA_TEMPLATES) is set, so one dumped directory holds
	                           * the Slack, Kubernetes and node templates alike; else
	                           * NULL, the built-in trees only */
	char *promql_unused_http;   /* promql.unused_http (default in SPEC 8) */
	char *promql_unused_kafka;  /* promql.unused_kafka */
	char *promql_unused_batch;  /* promql.unused_batch */
	char *traffic_api_label;    /* traffic.api_label, default request_operation */
	bool registry_insecure;     /* registry.insecure, default false: do not verify the
	                             * registry's TLS certificate (a lab registry, never prod) */
};

/*
 * Load the configuration. env_file is the .env path (NULL: "./.env"; a
 * missing .env is fine). On error returns VIVA_EINVAL / VIVA_EPARSE /
 * VIVA_EIO and writes one line into err (never a secret); cfg is then
 * released already. On success the caller calls config_release().
 */
int config_load(struct viva_config *cfg, const char *env_file, char *err, size_t errlen);

/* Defaults only (no environment, no files); used by tests and the console. */
void config_defaults(struct viva_config *cfg);

void config_release(struct viva_config *cfg);

/* Lookup helpers; NULL when unknown. */
const struct config_env *config_env_find(const struct viva_config *cfg, const char *name);
const struct config_cluster *config_cluster_find(const struct viva_config *cfg, const char *name);

#endif
