#include "bot/model/config.h"
#include "bot/model/dotenv.h"
#include "bot/lib/fileio.h"
#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/yamltree.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * Both files are small hand-written text; anything bigger is a mistake (or
 * /dev/zero) and must not make start-up read forever.
 */
#define CONFIG_MAX_FILE    (1024 * 1024)
/* viva.yaml is at most four levels deep; 32 is generous. */
#define YAML_MAX_DEPTH     32
/* How much of a bad value an error line may quote. */
#define SHOW_MAX           48

#define ZONEINFO_DIR       "/usr/share/zoneinfo"

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

/* ---- small helpers -------------------------------------------------------- */

/*
 * Quote a (non-secret) value for an error line: at most SHOW_MAX bytes,
 * quotes and backslashes escaped, control bytes as '?'.
 */
static const char *show(char *buf, size_t buflen, const char *s, size_t n)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < n && o + 6 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static void replace_str(char **slot, char *v)
{
	free(*slot);
	*slot = v;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_http_url(const char *s)
{
	const char *rest;

	if (has_prefix(s, "http://"))
		rest = s + 7;
	else if (has_prefix(s, "https://"))
		rest = s + 8;
	else
		return false;
	if (!*rest)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Tokens go into HTTP headers verbatim: a space or CR/LF would break them. */
static bool is_token_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ---- loader state ----------------------------------------------------------- */

struct ld {
	struct viva_config *cfg;
	struct dotenv dotenv;
	const char *env_file;
	const char *yaml_path;         /* as shown in messages */
	const struct yamltree *tree;   /* viva.yaml while it is walked */
	char *err;
	size_t errlen;
};

/*
 * The process environment wins over .env. A variable set to the empty string
 * counts as set (so `SLACK_BOT_TOKEN= viva` disables a token from .env), and
 * an empty value then means "not configured": returns NULL.
 */
static const char *lookup(const struct ld *ld, const char *name, const char **from)
{
	const char *v = getenv(name);

	*from = "the environment";
	if (!v) {
		v = dotenv_get(&ld->dotenv, name);
		*from = ld->env_file;
	}
	return v && *v ? v : NULL;
}

/* ---- yaml ------------------------------------------------------------------ */

/* "viva.yaml:LINE: message", LINE being where path (or its nearest ancestor) is. */
static int yaml_fail(struct ld *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int yaml_fail(struct ld *ld, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int line = yamltree_line(ld->tree, path);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	viva_errf(ld->err, ld->errlen, "%s:%d: %s", ld->yaml_path, line > 0 ? line : 1, msg);
	return VIVA_EINVAL;
}

static const char *node_kind(const json_t *v)
{
	if (json_is_object(v))
		return "a mapping";
	if (json_is_array(v))
		return "a list";
	return "a scalar";
}

/*
 * A scalar's text. yamltree makes booleans of plain true/false only, so
 * they read back as written; NULL for null, lists and mappings. *len is the
 * text's length (a string may hold a NUL).
 */
static const char *scalar_text(const json_t *v, size_t *len)
{
	const char *s = NULL;

	if (json_is_string(v)) {
		*len = json_string_length(v);
		return json_string_value(v);
	}
	if (json_is_true(v))
		s = "true";
	else if (json_is_false(v))
		s = "false";
	*len = s ? strlen(s) : 0;
	return s;
}

/*
 * v's text into *s and *len; *s is NULL for a yaml null (the key keeps its
 * default). A list or a mapping is an error: "path: expected <what>, got a list".
 */
static int scalar_of(struct ld *ld, const json_t *v, const char *path, const char *what,
		     const char **s, size_t *len)
{
	*s = scalar_text(v, len);
	if (*s || json_is_null(v))
		return VIVA_OK;
	return yaml_fail(ld, path, "%s: expected %s, got %s", path, what, node_kind(v));
}

/* A scalar as a new string; *out is NULL for a yaml null (the key keeps its default). */
static int get_str(struct ld *ld, const json_t *v, const char *path, char **out)
{
	size_t n;
	const char *s;
	int err = scalar_of(ld, v, path, "a string", &s, &n);

	*out = NULL;
	if (err || !s)
		return err;
	if (strlen(s) != n)
		return yaml_fail(ld, path, "%s: contains a NUL character", path);
	if (n == 0)
		return yaml_fail(ld, path, "%s: must not be empty", path);
	*out = xstrdup(s);
	return VIVA_OK;
}

static bool parse_whole(const char *s, long *out)
{
	long v = 0;
	bool neg = false;
	size_t i = 0, n = strlen(s);

	if (n == 0 || n > 12)
		return false;
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* "~/x" -> "$HOME/x". false when s needs HOME and there is none. */
static bool expand_home(char **s)
{
	const char *home;
	size_t hl;

	if (!(*s)[0] || (*s)[0] != '~' || ((*s)[1] && (*s)[1] != '/'))
		return true;
	home = getenv("HOME");
	if (!home || !*home)
		return false;
	hl = strlen(home);
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	replace_str(s, xasprintf("%.*s%s", (int)hl, home, *s + 1));
	return true;
}
/* ---- value checks: NULL when fine, else what is wrong ----------------------- */

typedef const char *(*check_fn)(const char *v);

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
	return is_http_url(v) ? NULL : "expected an http:// or https:// URL";
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
	return has_control(v) ? "must not contain control characters" : NULL;
}

/* ---- the schema ------------------------------------------------------------- */

struct field;
typedef int (*field_fn)(struct ld *ld, const json_t *v, const char *path);

enum fkind { F_STR, F_INT, F_DUR, F_BOOL, F_MAP, F_FUNC };

struct field {
	const char *key;
	enum fkind kind;
	size_t off;               /* F_STR, F_INT, F_BOOL: offset in the base struct */
	int min, max;             /* F_INT; F_DUR: in seconds */
	check_fn check;           /* F_STR */
	bool quiet;               /* F_STR: do not quote the value in errors */
	bool home;                /* F_STR: expand a leading ~/ */
	const struct field *sub;  /* F_MAP */
	field_fn fn;              /* F_FUNC */
};

#define CFG(m) offsetof(struct viva_config, m)

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

static const struct field top_fields[] = {
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

static int walk_map(struct ld *ld, const json_t *node, const char *prefix,
		    const struct field *fields, void *base);

static int set_int(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		   void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	size_t len;
	const char *s;
	long n;
	int err = scalar_of(ld, v, path, "a whole number", &s, &len);

	if (err || !s)
		return err;
	if (!parse_whole(s, &n) || strlen(s) != len)
		return yaml_fail(ld, path, "%s: expected a whole number, got %s", path,
				 show(qbuf, sizeof(qbuf), s, len));
	if (n < f->min || n > f->max)
		return yaml_fail(ld, path, "%s: must be between %d and %d, got %ld", path, f->min,
				 f->max, n);
	*(int *)(void *)((char *)base + f->off) = (int)n;
	return VIVA_OK;
}

/*
 * A duration: a whole number with a unit, s, m, h or d ("30m", "90s",
 * "1h"); a bare number is seconds. Stored in seconds.
 */
static int set_dur(struct ld *ld, const struct field *f, const json_t *v, const char *path, void *base)
{
	char qbuf[SHOW_MAX * 2 + 8], num[24];
	size_t len, digits;
	const char *s;
	long n, unit = 1;
	int err = scalar_of(ld, v, path, "a duration", &s, &len);

	if (err || !s)
		return err;
	digits = strspn(s, "0123456789");
	if (digits > 0 && digits < sizeof(num) && len == digits + 1 && strchr("smhd", s[digits]))
		unit = s[digits] == 's' ? 1 : s[digits] == 'm' ? 60 : s[digits] == 'h' ? 3600 : 86400;
	else if (digits == 0 || digits >= sizeof(num) || len != digits)
		return yaml_fail(ld, path, "%s: expected a duration such as 30m, 90s or 1h, got %s", path,
				 show(qbuf, sizeof(qbuf), s, len));
	memcpy(num, s, digits);
	num[digits] = '\0';
	if (!parse_whole(num, &n) || n > f->max / unit || n * unit < f->min || n * unit > f->max)
		return yaml_fail(ld, path, "%s: must be between %ds and %ds, got %s", path, f->min, f->max,
				 show(qbuf, sizeof(qbuf), s, len));
	*(int *)(void *)((char *)base + f->off) = (int)(n * unit);
	return VIVA_OK;
}

/* true or false; quoted "true" / "false" too. yes/no/on/off are refused, not guessed. */
static int set_bool(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		    void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	size_t len;
	const char *s;
	int err = scalar_of(ld, v, path, "true or false", &s, &len);

	if (err || !s)
		return err;
	if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
		return yaml_fail(ld, path, "%s: expected true or false, got %s", path,
				 show(qbuf, sizeof(qbuf), s, len));
	*(bool *)(void *)((char *)base + f->off) = s[0] == 't';
	return VIVA_OK;
}

static int set_str(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		   void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	char *s = NULL;
	const char *why;
	int err;

	err = get_str(ld, v, path, &s);
	if (err || !s)
		goto out;
	if (f->home && !expand_home(&s)) {
		err = yaml_fail(ld, path, "%s: uses ~ but HOME is not set", path);
		goto out;
	}
	why = f->check ? f->check(s) : NULL;
	if (why) {
		if (f->quiet)
			err = yaml_fail(ld, path, "%s: %s", path, why);
		else
			err = yaml_fail(ld, path, "%s: %s, got %s", path, why,
					show(qbuf, sizeof(qbuf), s, strlen(s)));
		goto out;
	}
	replace_str((char **)(void *)((char *)base + f->off), s);
	s = NULL;
out:
	free(s);
	return err;
}

static int set_field(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		     void *base)
{
	switch (f->kind) {
	case F_MAP:
		return walk_map(ld, v, path, f->sub, base);
	case F_FUNC:
		return f->fn(ld, v, path);
	case F_INT:
		return set_int(ld, f, v, path, base);
	case F_DUR:
		return set_dur(ld, f, v, path, base);
	case F_BOOL:
		return set_bool(ld, f, v, path, base);
	case F_STR:
		return set_str(ld, f, v, path, base);
	}
	return VIVA_OK;
}

static void known_keys(char *buf, size_t len, const struct field *fields)
{
	size_t o = 0;

	buf[0] = '\0';
	for (const struct field *f = fields; f->key && o < len; f++) {
		int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", f->key);
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

/* node must be a mapping; a yaml null counts as an empty one. */
static int as_mapping(struct ld *ld, const json_t *node, const char *path)
{
	if (json_is_null(node) || json_is_object(node))
		return VIVA_OK;
	return yaml_fail(ld, path, "%s: expected a mapping, got %s", *path ? path : "top level",
			 node_kind(node));
}

static int walk_map(struct ld *ld, const json_t *node, const char *prefix,
		    const struct field *fields, void *base)
{
	const char *key;
	json_t *v;
	int err;

	err = as_mapping(ld, node, prefix);
	if (err || json_is_null(node))
		return err;
	json_object_foreach((json_t *)node, key, v) {
		const struct field *f = NULL;
		char *path = yamltree_path_key(prefix, key);

		for (const struct field *c = fields; c->key; c++)
			if (strcmp(c->key, key) == 0) {
				f = c;
				break;
			}
		if (f) {
			err = set_field(ld, f, v, path, base);
		} else {
			char known[512], qbuf[SHOW_MAX * 2 + 8];

			known_keys(known, sizeof(known), fields);
			show(qbuf, sizeof(qbuf), key, strlen(key));
			/* qbuf is "..." quoted; the message wants 'prefix.key'. */
			qbuf[strlen(qbuf) - 1] = '\0';
			err = yaml_fail(ld, path, "unknown key '%s%s%s' (known: %s)", prefix,
					*prefix ? "." : "", qbuf + 1, known);
		}
		free(path);
		if (err)
			break;
	}
	return err;
}

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
		err = yaml_fail(ld, path, "%s: expected a list of Slack user ids, got %s", path,
				node_kind(v));
		goto out;
	}
	n = json_array_size(v);
	users = xcalloc(n + 1, sizeof(*users));
	for (size_t i = 0; i < n && !err; i++) {
		const json_t *it = json_array_get(v, i);
		char *ipath = yamltree_path_index(path, i);
		size_t len = 0;
		/* An empty item ("- ") is null: shown as "". */
		const char *id = json_is_null(it) ? "" : scalar_text(it, &len);

		if (!id)
			err = yaml_fail(ld, ipath, "%s: expected a Slack user id, got %s", ipath,
					node_kind(it));
		else if (!is_slack_user_id(id) || strlen(id) != len)
			err = yaml_fail(ld, ipath, "%s: expected a Slack user id such as U012AB3CD, got %s",
					ipath, show(qbuf, sizeof(qbuf), id, len));
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
	int err = as_mapping(ld, v, path);

	json_object_foreach((json_t *)v, name, val) {
		char *sub;

		if (err || is_dns1123_label(name))
			continue;
		sub = yamltree_path_key(path, name);
		err = yaml_fail(ld, sub, "%s: %s name %s: expected a DNS-1123 label "
				"(lower-case letters, digits and '-')", path, what,
				show(qbuf, sizeof(qbuf), name, strlen(name)));
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
		err = walk_map(ld, val, sub, cluster_fields, cl);
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
		err = walk_map(ld, val, sub, env_fields, e);
		if (!err && !e->cluster)
			err = yaml_fail(ld, sub, "%s.cluster: required (a name under clusters)", sub);
		else if (!err && !e->namespace_)
			err = yaml_fail(ld, sub, "%s.namespace: required (a Kubernetes namespace)", sub);
		free(sub);
		if (err)
			break;
	}
	return err;
}

/* Environments may come before clusters in the file: check references at the end. */
static int check_env_clusters(struct ld *ld)
{
	const struct viva_config *c = ld->cfg;
	int err = VIVA_OK;

	for (size_t i = 0; i < c->n_environments && !err; i++) {
		const struct config_env *e = &c->environments[i];
		char *path;

		if (config_cluster_find(c, e->cluster))
			continue;
		path = yamltree_path_key("environments", e->name);
		err = yaml_fail(ld, path, "%s.cluster: unknown cluster '%s' (define it under clusters)",
				path, e->cluster);
		free(path);
	}
	return err;
}

/* The loader's own refusals (syntax, limits, shapes) and repeated keys. */
static int yaml_refused(struct ld *ld, const struct yamltree_error *e)
{
	if (e->line > 0)
		viva_errf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->yaml_path, e->line, e->col, e->msg);
	else
		viva_errf(ld->err, ld->errlen, "%s: %s", ld->yaml_path, e->msg);
	return VIVA_EPARSE;
}

static int yaml_dup(struct ld *ld, const struct yamltree_dup *d)
{
	char qbuf[SHOW_MAX * 2 + 8], first[32] = "";

	show(qbuf, sizeof(qbuf), d->key, strlen(d->key));
	if (d->first_line > 0)
		snprintf(first, sizeof(first), " (first at line %d)", d->first_line);
	if (d->parent)
		viva_errf(ld->err, ld->errlen, "%s:%d: %s: duplicate key %s%s", ld->yaml_path, d->line,
			*d->parent ? d->parent : "top level", qbuf, first);
	else
		viva_errf(ld->err, ld->errlen, "%s:%d: duplicate key %s%s", ld->yaml_path, d->line, qbuf,
			first);
	return VIVA_EINVAL;
}

static int load_yaml(struct ld *ld, bool explicit)
{
	/* Aliases are allowed (a kubeconfig shared by clusters), bounded by yamltree. */
	static const struct yamltree_limits lim = {
		.max_bytes = CONFIG_MAX_FILE, .max_depth = YAML_MAX_DEPTH, .aliases = true,
	};
	struct yamltree *tree = NULL;
	struct yamltree_error ye;
	char *buf = NULL;
	const char *why = NULL;
	size_t len = 0;
	int err;
	json_t *root;

	/* a regular file only (a FIFO or /dev/zero must not hang or fill
	 * start-up); a symlink is fine: ConfigMap volumes are made of them */
	err = read_regular_file(AT_FDCWD, ld->yaml_path, 0, CONFIG_MAX_FILE, &buf, &len, &why);
	if (err == VIVA_ENOENT && !explicit) {
		err = VIVA_OK; /* no viva.yaml: every key keeps its default */
		goto out;
	}
	if (err == VIVA_ENOENT) {
		viva_errf(ld->err, ld->errlen, "VIVA_CONFIG: %s: no such file", ld->yaml_path);
		err = VIVA_EIO;
		goto out;
	}
	if (err == VIVA_ERANGE) {
		viva_errf(ld->err, ld->errlen, "%s: larger than %d bytes", ld->yaml_path, CONFIG_MAX_FILE);
		err = VIVA_EINVAL;
		goto out;
	}
	if (err) {
		viva_errf(ld->err, ld->errlen, "%s: not read: %s", ld->yaml_path, why ? why : "cannot be read");
		err = VIVA_EIO;
		goto out;
	}
	if (yamltree_parse(buf, len, &lim, &tree, &ye)) {
		err = yaml_refused(ld, &ye);
		goto out;
	}
	if (yamltree_ndups(tree)) {
		err = yaml_dup(ld, yamltree_dup(tree, 0));
		goto out;
	}
	ld->tree = tree;
	root = yamltree_root(tree);
	if (json_is_null(root))
		goto out; /* empty file, or only comments */
	if (!json_is_object(root)) {
		err = yaml_fail(ld, "", "top level must be a mapping of keys, got %s "
				"(see viva.example.yaml)", node_kind(root));
		goto out;
	}
	err = walk_map(ld, root, "", top_fields, ld->cfg);
	if (err)
		goto out;
	err = check_env_clusters(ld);
out:
	ld->tree = NULL;
	yamltree_free(tree);
	free(buf);
	return err;
}

/* ---- environment variables ---------------------------------------------------- */

static int check_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	long port;

	if (!colon || colon == v || has_control(v) || strchr(v, ' '))
		return VIVA_EINVAL;
	/* "[::1]:8080": a bracketed IPv6 host must close right before the port. */
	if (v[0] == '[' && colon[-1] != ']')
		return VIVA_EINVAL;
	if (v[0] != '[' && memchr(v, ':', (size_t)(colon - v)))
		return VIVA_EINVAL;
	if (!parse_whole(colon + 1, &port) || colon[1] == '-' || port < 1 || port > 65535)
		return VIVA_EINVAL;
	return VIVA_OK;
}

enum {
	V_SECRET = 1 << 0,  /* never quoted; printable, no spaces */
	V_URL    = 1 << 1,  /* http:// or https:// */
	V_HOME   = 1 << 2,  /* expand a leading ~/ */
};

static const struct {
	const char *name;
	size_t off;
	int flags;
	const char *prefix;      /* required prefix, for the Slack tokens */
	const char *prefix_what;
} env_vars[] = {
	{ "SLACK_APP_TOKEN", CFG(slack_app_token), V_SECRET, "xapp-", "an app-level token" },
	{ "SLACK_BOT_TOKEN", CFG(slack_bot_token), V_SECRET, "xoxb-", "a bot token" },
	{ "SLACK_API_BASE", CFG(slack_api_base), V_URL, NULL, NULL },
	{ "VIVA_DB", CFG(db_path), 0, NULL, NULL },
	{ "KUBECONFIG", CFG(kubeconfig), V_HOME, NULL, NULL },
	{ "KUBE_API_URL", CFG(kube_api_url), V_URL, NULL, NULL },
	{ "KUBE_TOKEN", CFG(kube_token), V_SECRET, NULL, NULL },
	{ "KUBE_CA_FILE", CFG(kube_ca_file), V_HOME, NULL, NULL },
	{ "REGISTRY_URL", CFG(registry_url), V_URL, NULL, NULL },
	{ "REGISTRY_CA_FILE", CFG(registry_ca_file), V_HOME, NULL, NULL },
	{ "REGISTRY_USER", CFG(registry_user), 0, NULL, NULL },
	{ "REGISTRY_PASSWORD", CFG(registry_password), 0, NULL, NULL },
	{ "PROMETHEUS_URL", CFG(prometheus_url), V_URL, NULL, NULL },
	{ "PROMETHEUS_USER", CFG(prometheus_user), 0, NULL, NULL },
	{ "PROMETHEUS_PASSWORD", CFG(prometheus_password), 0, NULL, NULL },
	{ "PROMETHEUS_TOKEN", CFG(prometheus_token), V_SECRET, NULL, NULL },
	{ "PROMETHEUS_CA_FILE", CFG(prometheus_ca_file), V_HOME, NULL, NULL },
	{ "VIVA_HTTP_LISTEN", CFG(http_listen), 0, NULL, NULL },
	{ "VIVA_NODE_TOKEN", CFG(node_token), V_SECRET, NULL, NULL },
	{ "VIVA_LOG_LEVEL", CFG(log_level), 0, NULL, NULL },
	{ "VIVA_TEMPLATES", CFG(templates_dir), 0, NULL, NULL },
	{ "VIVA_OUT_DIR", CFG(out_dir), V_HOME, NULL, NULL },
};

static int apply_env(struct ld *ld)
{
	struct viva_config *c = ld->cfg;

	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *name = env_vars[i].name;
		int flags = env_vars[i].flags;
		const char *from;
		const char *v = lookup(ld, name, &from);
		char *s;

		if (!v)
			continue;
		/* Checks come first and never print v: some of these are secrets. */
		if (has_control(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): must not contain control characters",
				name, from);
			return VIVA_EINVAL;
		}
		if ((flags & V_SECRET) && !is_token_text(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): must not contain spaces or "
				"non-ASCII characters", name, from);
			return VIVA_EINVAL;
		}
		if (env_vars[i].prefix && !has_prefix(v, env_vars[i].prefix)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): expected %s starting with %s",
				name, from, env_vars[i].prefix_what, env_vars[i].prefix);
			return VIVA_EINVAL;
		}
		if ((flags & V_URL) && !is_http_url(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): expected an http:// or https:// URL",
				name, from);
			return VIVA_EINVAL;
		}
		s = xstrdup(v);
		if ((flags & V_HOME) && !expand_home(&s)) {
			free(s);
			viva_errf(ld->err, ld->errlen, "%s: uses ~ but HOME is not set", name);
			return VIVA_EINVAL;
		}
		replace_str((char **)(void *)((char *)c + env_vars[i].off), s);
	}

	/* Callers append method names: "https://slack.com/api/" + "chat.postMessage". */
	if (c->slack_api_base[strlen(c->slack_api_base) - 1] != '/')
		replace_str(&c->slack_api_base, xasprintf("%s/", c->slack_api_base));

	/* Prometheus's credentials: basic auth (both) or a bearer token (alone) */
	if (!c->prometheus_user != !c->prometheus_password) {
		viva_errf(ld->err, ld->errlen, "%s is set without %s: set both for basic auth, or "
			"PROMETHEUS_TOKEN alone", c->prometheus_user ? "PROMETHEUS_USER" : "PROMETHEUS_PASSWORD",
			c->prometheus_user ? "PROMETHEUS_PASSWORD" : "PROMETHEUS_USER");
		return VIVA_EINVAL;
	}
	if (c->prometheus_user && c->prometheus_token) {
		viva_errf(ld->err, ld->errlen, "PROMETHEUS_USER and PROMETHEUS_TOKEN are both set: use basic "
			"auth or a bearer token, not both");
		return VIVA_EINVAL;
	}
	if (c->http_listen && check_listen(c->http_listen) != VIVA_OK) {
		viva_errf(ld->err, ld->errlen, "VIVA_HTTP_LISTEN: expected HOST:PORT with a port "
			"1..65535, e.g. 127.0.0.1:8080");
		return VIVA_EINVAL;
	}
	if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
	    strcmp(c->log_level, "warn") && strcmp(c->log_level, "error")) {
		char qbuf[SHOW_MAX * 2 + 8];
		viva_errf(ld->err, ld->errlen, "VIVA_LOG_LEVEL: expected debug, info, warn or error, got %s",
			show(qbuf, sizeof(qbuf), c->log_level, strlen(c->log_level)));
		return VIVA_EINVAL;
	}
	return VIVA_OK;
}

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

	cpath = lookup(&ld, "VIVA_CONFIG", &from);
	explicit = cpath != NULL;
	if (cpath)
		replace_str(&cfg->config_path, xstrdup(cpath));
	ld.yaml_path = cfg->config_path;
	rc = load_yaml(&ld, explicit);
	if (rc)
		goto out;
	rc = apply_env(&ld);
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
		&cfg->link_bluegreen, &cfg->cluster_configs, &cfg->promql_unused_http,
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

