/*
 * The viva.yaml keys (SPEC section 2): one table per section (the top
 * level's and the tables it names) saying each key's kind, bounds and
 * check; the value checks those rows name; and the sections that need a
 * parser of their own (admins.users, clusters, environments, and the check
 * that each environment's cluster exists). To add a key: its member in
 * struct viva_config (config.h), a row here, its default in
 * config_defaults() and, for a string, its free in config_release()
 * (config.c), and a line in viva.example.yaml.
 * Internal to the config*.c files (config_impl.h).
 */
#include "bot/model/config_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"
#include "bot/slack/mrkdwn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ZONEINFO_DIR       "/usr/share/zoneinfo"

/* ---- value checks: NULL when fine, else what is wrong ----------------------- */

static const char *check_slash(const char *v)
{
	size_t n = strlen(v);

	if (v[0] != '/' || n < 2 || n > 32)
		return "must start with '/' and be at most 32 characters, e.g. /viva";
	for (size_t i = 1; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == '/')
			return "must be one word after the '/', e.g. /viva";
	return NULL;
}

static const char *check_loop_priority(const char *v)
{
	if (strcmp(v, "normal") != 0 && strcmp(v, "realtime") != 0)
		return "must be normal or realtime";
	return NULL;
}

static const char *check_timezone(const char *v)
{
	struct stat st;
	char *path;
	bool ok;

	if (strcmp(v, "UTC") == 0)
		return NULL;
	if (v[0] == '/' || strstr(v, ".."))
		return "unknown time zone (a name under " ZONEINFO_DIR ", e.g. Asia/Seoul)";
	for (const char *p = v; *p; p++) {
		char c = *p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return "unknown time zone (a name under " ZONEINFO_DIR ", e.g. Asia/Seoul)";
	}
	path = xasprintf("%s/%s", ZONEINFO_DIR, v);
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok ? NULL : "unknown time zone (a name under " ZONEINFO_DIR ", e.g. Asia/Seoul)";
}

static bool upper_alnum_id(const char *v, const char *first)
{
	size_t n = strlen(v);

	if (n < 3 || n > 24 || !strchr(first, v[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9')))
			return false;
	return true;
}

static const char *check_usergroup(const char *v)
{
	return upper_alnum_id(v, "S") ? NULL : "expected a Slack user group id such as S0PLATFORM";
}

static const char *check_channel(const char *v)
{
	return upper_alnum_id(v, "CGD") ? NULL : "expected a Slack channel id such as C0DEPLOY";
}

static const char *check_url(const char *v)
{
	return config_is_http_url(v) ? NULL : "expected an http:// or https:// URL";
}

/* Full cron parsing is the scheduler's; catching a wrong field count here gives a line number. */
/* The scheduler's own parser decides: "60 99 * * *" and "*\/0 * * * *" are refused here,
 * not accepted and then never run. */
static const char *check_cron(const char *v)
{
	static _Thread_local char why[192];
	struct cron_expr e;

	if (cron_parse(v, &e, why, sizeof(why)) != VIVA_OK)
		return why;
	return NULL;
}

static const char *check_label(const char *v)
{
	for (const char *p = v; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (p > v && c >= '0' && c <= '9')))
			return "expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)";
	}
	return NULL;
}

static const char *check_dns(const char *v)
{
	return is_dns1123_label(v) ? NULL
		: "expected a DNS-1123 label (lower-case letters, digits and '-', at most 63)";
}

static const char *check_oneline(const char *v)
{
	return config_has_control(v) ? "must not contain control characters" : NULL;
}

/* ---- the schema ------------------------------------------------------------- */

static int parse_admin_users(struct ld *ld, const json_t *v, const char *path);
static int parse_clusters(struct ld *ld, const json_t *v, const char *path);
static int parse_environments(struct ld *ld, const json_t *v, const char *path);

static const struct field admins_fields[] = {
	{ .key = "users", .kind = F_FUNC, .fn = parse_admin_users },
	{ .key = "usergroup", .kind = F_STR, .off = CFG(admin_usergroup), .check = check_usergroup },
	{ .key = NULL }
};

static const struct field channels_fields[] = {
	{ .key = "deploy", .kind = F_STR, .off = CFG(channel_deploy), .check = check_channel },
	{ .key = "audit", .kind = F_STR, .off = CFG(channel_audit), .check = check_channel },
	{ .key = "nodes", .kind = F_STR, .off = CFG(channel_nodes), .check = check_channel },
	{ .key = NULL }
};

static const struct field pipelines_fields[] = {
	{ .key = "dir", .kind = F_STR, .off = CFG(pipelines_dir), .check = check_oneline, .home = true },
	{ .key = NULL }
};

/* URLs may carry user:password@, so they are never quoted back. */
static const struct field registry_fields[] = {
	{ .key = "url", .kind = F_STR, .off = CFG(registry_url), .check = check_url, .quiet = true },
	{ .key = "ca_file", .kind = F_STR, .off = CFG(registry_ca_file), .check = check_oneline, .home = true },
	{ .key = "insecure", .kind = F_BOOL, .off = CFG(registry_insecure) },
	{ .key = "max_concurrent", .kind = F_INT, .off = CFG(registry_max_concurrent), .min = 1, .max = 64 },
	{ .key = NULL }
};

static const struct field http_fields[] = {
	{ .key = "max_connections", .kind = F_INT, .off = CFG(http_max_connections), .min = 1, .max = 10000 },
	{ .key = NULL }
};

static const struct field prometheus_fields[] = {
	{ .key = "url", .kind = F_STR, .off = CFG(prometheus_url), .check = check_url, .quiet = true },
	{ .key = "ca_file", .kind = F_STR, .off = CFG(prometheus_ca_file), .check = check_oneline, .home = true },
	{ .key = NULL }
};

static const struct field schedules_fields[] = {
	{ .key = "lag", .kind = F_STR, .off = CFG(schedule_lag), .check = check_cron },
	{ .key = "unused", .kind = F_STR, .off = CFG(schedule_unused), .check = check_cron },
	{ .key = NULL }
};

static const struct field thresholds_fields[] = {
	{ .key = "lag_days", .kind = F_INT, .off = CFG(lag_days), .min = 1, .max = 3650 },
	{ .key = "unused_days", .kind = F_INT, .off = CFG(unused_days), .min = 1, .max = 3650 },
	{ .key = "snooze_days", .kind = F_INT, .off = CFG(snooze_days), .min = 1, .max = 3650 },
	{ .key = "rollback_window", .kind = F_DUR, .off = CFG(rollback_window_s), .min = 0, .max = 7 * 86400 },
	{ .key = "deploy_timeout", .kind = F_DUR, .off = CFG(deploy_timeout_s), .min = 1, .max = 86400 },
	{ .key = "drain_timeout", .kind = F_DUR, .off = CFG(drain_timeout_s), .min = 1, .max = 86400 },
	{ .key = NULL }
};

static const struct field links_fields[] = {
	{ .key = "bluegreen", .kind = F_STR, .off = CFG(link_bluegreen), .check = check_url, .quiet = true },
	{ .key = NULL }
};

/* Multi-line block scalars are fine here: PromQL treats newlines as spaces. */
static const struct field promql_fields[] = {
	{ .key = "unused_http", .kind = F_STR, .off = CFG(promql_unused_http) },
	{ .key = "unused_kafka", .kind = F_STR, .off = CFG(promql_unused_kafka) },
	{ .key = "unused_batch", .kind = F_STR, .off = CFG(promql_unused_batch) },
	{ .key = NULL }
};

static const struct field traffic_fields[] = {
	{ .key = "api_label", .kind = F_STR, .off = CFG(traffic_api_label), .check = check_label },
	{ .key = NULL }
};

const struct field config_top_fields[] = {
	{ .key = "slash_command", .kind = F_STR, .off = CFG(slash_command), .check = check_slash },
	{ .key = "timezone", .kind = F_STR, .off = CFG(timezone), .check = check_timezone },
	{ .key = "workers", .kind = F_INT, .off = CFG(workers), .min = 1, .max = 64 },
	{ .key = "queue_size", .kind = F_INT, .off = CFG(queue_size), .min = 1, .max = 100000 },
	{ .key = "operation_workers", .kind = F_INT, .off = CFG(operation_workers), .min = 1, .max = 64 },
	{ .key = "http", .kind = F_MAP, .sub = http_fields },
	{ .key = "loop_priority", .kind = F_STR, .off = CFG(loop_priority), .check = check_loop_priority },
	{ .key = "admins", .kind = F_MAP, .sub = admins_fields },
	{ .key = "channels", .kind = F_MAP, .sub = channels_fields },
	{ .key = "pipelines", .kind = F_MAP, .sub = pipelines_fields },
	{ .key = "registry", .kind = F_MAP, .sub = registry_fields },
	{ .key = "prometheus", .kind = F_MAP, .sub = prometheus_fields },
	{ .key = "clusters", .kind = F_FUNC, .fn = parse_clusters },
	{ .key = "environments", .kind = F_FUNC, .fn = parse_environments },
	{ .key = "schedules", .kind = F_MAP, .sub = schedules_fields },
	{ .key = "thresholds", .kind = F_MAP, .sub = thresholds_fields },
	{ .key = "links", .kind = F_MAP, .sub = links_fields },
	{ .key = "cluster_configs", .kind = F_STR, .off = CFG(cluster_configs), .check = check_oneline, .home = true },
	{ .key = "node_templates", .kind = F_STR, .off = CFG(node_templates), .check = check_oneline, .home = true },
	{ .key = "promql", .kind = F_MAP, .sub = promql_fields },
	{ .key = "traffic", .kind = F_MAP, .sub = traffic_fields },
	{ .key = "templates_dir", .kind = F_STR, .off = CFG(templates_dir), .check = check_oneline, .home = true },
	{ .key = NULL }
};

static const struct field cluster_fields[] = {
	{ .key = "kubeconfig", .kind = F_STR, .off = offsetof(struct config_cluster, kubeconfig),
	  .check = check_oneline, .home = true },
	{ .key = "context", .kind = F_STR, .off = offsetof(struct config_cluster, context),
	  .check = check_oneline },
	{ .key = NULL }
};

static const struct field env_fields[] = {
	{ .key = "cluster", .kind = F_STR, .off = offsetof(struct config_env, cluster), .check = check_dns },
	{ .key = "namespace", .kind = F_STR, .off = offsetof(struct config_env, namespace_), .check = check_dns },
	{ .key = NULL }
};

/* ---- the sections with a parser of their own ------------------------------ */

static int parse_admin_users(struct ld *ld, const json_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	char qbuf[SHOW_MAX * 2 + 8];
	char **users = NULL;
	size_t n, k = 0;
	int err = VIVA_OK;

	if (json_is_null(v))
		goto out;
	if (!json_is_array(v)) {
		err = config_yaml_fail(ld, path, "%s: expected a list of Slack user ids, got %s", path,
				       config_node_kind(v));
		goto out;
	}
	n = json_array_size(v);
	users = xcalloc(n + 1, sizeof(*users));
	for (size_t i = 0; i < n && !err; i++) {
		const json_t *it = json_array_get(v, i);
		char *ipath = yamltree_path_index(path, i);
		size_t len = 0;
		/* An empty item ("- ") is null: shown as "". */
		const char *id = json_is_null(it) ? "" : config_scalar_text(it, &len);

		if (!id)
			err = config_yaml_fail(ld, ipath, "%s: expected a Slack user id, got %s", ipath,
					       config_node_kind(it));
		else if (!is_slack_user_id(id) || strlen(id) != len)
			err = config_yaml_fail(ld, ipath, "%s: expected a Slack user id such as U012AB3CD, got %s",
					       ipath, config_show(qbuf, sizeof(qbuf), id, len));
		else
			users[k++] = xstrdup(id);
		free(ipath);
	}
	if (err)
		goto out;
	argv_free(c->admin_users);
	c->admin_users = users;
	users = NULL;
out:
	argv_free(users);
	return err;
}

/*
 * A mapping of DNS-1123 names (clusters, environments): checks the shape and
 * each name; the caller fills its entries. what is "cluster" or "environment".
 */
static int check_names(struct ld *ld, const json_t *v, const char *path, const char *what)
{
	char qbuf[SHOW_MAX * 2 + 8];
	const char *name;
	json_t *val;
	int err = config_as_mapping(ld, v, path);

	json_object_foreach((json_t *)v, name, val) {
		char *sub;

		if (err || is_dns1123_label(name))
			continue;
		sub = yamltree_path_key(path, name);
		err = config_yaml_fail(ld, sub, "%s: %s name %s: expected a DNS-1123 label "
				       "(lower-case letters, digits and '-')", path, what,
				config_show(qbuf, sizeof(qbuf), name, strlen(name)));
		free(sub);
	}
	return err;
}

static int parse_clusters(struct ld *ld, const json_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	const char *name;
	json_t *val;
	int err = check_names(ld, v, path, "cluster");

	if (err || !json_object_size(v))
		return err;
	c->clusters = xcalloc(json_object_size(v), sizeof(*c->clusters));
	json_object_foreach((json_t *)v, name, val) {
		struct config_cluster *cl = &c->clusters[c->n_clusters++];
		char *sub = yamltree_path_key(path, name);

		cl->name = xstrdup(name);
		err = config_walk_map(ld, val, sub, cluster_fields, cl);
		free(sub);
		if (err)
			break;
	}
	return err;
}

static int parse_environments(struct ld *ld, const json_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	const char *name;
	json_t *val;
	int err = check_names(ld, v, path, "environment");

	if (err || !json_object_size(v))
		return err;
	c->environments = xcalloc(json_object_size(v), sizeof(*c->environments));
	json_object_foreach((json_t *)v, name, val) {
		struct config_env *e = &c->environments[c->n_environments++];
		char *sub = yamltree_path_key(path, name);

		e->name = xstrdup(name);
		err = config_walk_map(ld, val, sub, env_fields, e);
		if (!err && !e->cluster)
			err = config_yaml_fail(ld, sub, "%s.cluster: required (a name under clusters)", sub);
		else if (!err && !e->namespace_)
			err = config_yaml_fail(ld, sub, "%s.namespace: required (a Kubernetes namespace)", sub);
		free(sub);
		if (err)
			break;
	}
	return err;
}

/* Environments may come before clusters in the file: check references at the end. */
int config_check_env_clusters(struct ld *ld)
{
	const struct viva_config *c = ld->cfg;
	int err = VIVA_OK;

	for (size_t i = 0; i < c->n_environments && !err; i++) {
		const struct config_env *e = &c->environments[i];
		char *path;

		if (config_cluster_find(c, e->cluster))
			continue;
		path = yamltree_path_key("environments", e->name);
		err = config_yaml_fail(ld, path, "%s.cluster: unknown cluster '%s' (define it under clusters)",
				       path, e->cluster);
		free(path);
	}
	return err;
}
