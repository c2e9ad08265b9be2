#include "bot/model/config.h"
#include "bot/model/dotenv.h"
#include "bot/lib/fileio.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/*
 * Both files are small hand-written text; anything bigger is a mistake (or
 * /dev/zero) and must not make start-up read forever.
 */
#define CONFIG_MAX_FILE    (1024 * 1024)
/* viva.yaml is at most four levels deep; 32 leaves room for aliases & co. */
#define YAML_MAX_DEPTH     32
/* Entries per mapping or list: keeps the duplicate-key check quadratic-safe. */
#define YAML_MAX_ENTRIES   4096
/* How much of a bad value an error line may quote. */
#define SHOW_MAX           48

#define ZONEINFO_DIR       "/usr/share/zoneinfo"

#define DEF_SLACK_API_BASE "https://slack.com/api/"
#define DEF_DB_PATH        "./viva.db"
#define DEF_CONFIG_PATH    "./viva.yaml"
#define DEF_ENV_FILE       "./.env"
#define DEF_LOG_LEVEL      "info"
#define DEF_TEMPLATES      "./templates"
#define DEF_SLASH_COMMAND  "/viva"
#define DEF_TIMEZONE       "UTC"
#define DEF_WORKERS        4
#define DEF_QUEUE_SIZE     256
#define DEF_PIPELINES_DIR  "./pipelines"
#define DEF_SCHEDULE_LAG   "0 10 * * *"
#define DEF_SCHEDULE_UNUSED "0 10 * * MON"
#define DEF_LAG_DAYS       7
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

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The caller prints err as one line: flatten anything that would break it. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

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
	const char *yaml_path;      /* as shown in messages */
	const unsigned char *ybuf;  /* the yaml text, for reader-error positions */
	size_t ylen;
	yaml_document_t *doc;
	size_t *env_lines;          /* line of each environments entry */
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

static int yaml_fail(struct ld *ld, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int yaml_fail(struct ld *ld, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(ld->err, ld->errlen, "%s:%zu: %s", ld->yaml_path,
		node ? node->start_mark.line + 1 : 1, msg);
	return VIVA_EINVAL;
}

static void offset_to_pos(const unsigned char *buf, size_t len, size_t off,
			  size_t *line, size_t *col)
{
	size_t l = 1, c = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int yaml_parse_error(struct ld *ld, const yaml_parser_t *p)
{
	size_t line, col;
	const char *problem = p->problem ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR) {
		set_err(ld->err, ld->errlen, "%s: out of memory while parsing", ld->yaml_path);
		return VIVA_EIO;
	}
	if (p->error == YAML_READER_ERROR) {
		offset_to_pos(ld->ybuf, ld->ylen, p->problem_offset, &line, &col);
	} else {
		line = p->problem_mark.line + 1;
		col = p->problem_mark.column + 1;
	}
	if (p->context)
		set_err(ld->err, ld->errlen, "%s:%zu:%zu: %s (%s at line %zu)", ld->yaml_path,
			line, col, problem, p->context, p->context_mark.line + 1);
	else
		set_err(ld->err, ld->errlen, "%s:%zu:%zu: %s", ld->yaml_path, line, col, problem);
	return VIVA_EPARSE;
}

/*
 * A first pass over the events: reports syntax errors with line:col, and
 * refuses documents nested too deep or more than one document, before the
 * document loader builds anything.
 */
static int yaml_precheck(struct ld *ld)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, err = VIVA_OK;
	bool done = false;
	/* Every event consumes input or closes something opened before. */
	size_t max_events = 4 * ld->ylen + 16;

	if (!yaml_parser_initialize(&p)) {
		set_err(ld->err, ld->errlen, "%s: cannot initialise the yaml parser", ld->yaml_path);
		return VIVA_EIO;
	}
	yaml_parser_set_input_string(&p, ld->ybuf, ld->ylen);
	for (size_t n = 0; !done && !err; n++) {
		if (n > max_events) {
			set_err(ld->err, ld->errlen, "%s: too many yaml events", ld->yaml_path);
			err = VIVA_EPARSE;
			break;
		}
		if (!yaml_parser_parse(&p, &ev)) {
			err = yaml_parse_error(ld, &p);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				set_err(ld->err, ld->errlen, "%s:%zu:%zu: more than one yaml document",
					ld->yaml_path, ev.start_mark.line + 1, ev.start_mark.column + 1);
				err = VIVA_EPARSE;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > YAML_MAX_DEPTH) {
				set_err(ld->err, ld->errlen, "%s:%zu:%zu: nested deeper than %d levels",
					ld->yaml_path, ev.start_mark.line + 1, ev.start_mark.column + 1,
					YAML_MAX_DEPTH);
				err = VIVA_EPARSE;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return err;
}

static bool node_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_SCALAR_NODE: return "a scalar";
	default: return "nothing";
	}
}

/* A scalar as a new string; *out is NULL for a yaml null (the key keeps its default). */
static int get_str(struct ld *ld, const yaml_node_t *v, const char *path, char **out)
{
	*out = NULL;
	if (v->type != YAML_SCALAR_NODE)
		return yaml_fail(ld, v, "%s: expected a string, got %s", path, node_kind(v));
	if (node_is_null(v))
		return VIVA_OK;
	if (memchr(v->data.scalar.value, '\0', v->data.scalar.length))
		return yaml_fail(ld, v, "%s: contains a NUL character", path);
	if (v->data.scalar.length == 0)
		return yaml_fail(ld, v, "%s: must not be empty", path);
	*out = xstrndup((const char *)v->data.scalar.value, v->data.scalar.length);
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

/* "~/x" -> "$HOME/x". */
static int expand_home(struct ld *ld, const yaml_node_t *node, const char *path, char **s)
{
	const char *home;
	size_t hl;

	if (!(*s)[0] || (*s)[0] != '~' || ((*s)[1] && (*s)[1] != '/'))
		return VIVA_OK;
	home = getenv("HOME");
	if (!home || !*home) {
		if (node)
			return yaml_fail(ld, node, "%s: uses ~ but HOME is not set", path);
		set_err(ld->err, ld->errlen, "%s: uses ~ but HOME is not set", path);
		return VIVA_EINVAL;
	}
	hl = strlen(home);
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	replace_str(s, xasprintf("%.*s%s", (int)hl, home, *s + 1));
	return VIVA_OK;
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
static const char *check_cron(const char *v)
{
	int fields = 0;
	bool in = false;

	for (const char *p = v; *p; p++) {
		if (*p == ' ' || *p == '\t') {
			in = false;
		} else if (!in) {
			in = true;
			fields++;
		}
	}
	return fields == 5 ? NULL : "expected a cron expression with 5 fields, e.g. \"0 10 * * *\"";
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
typedef int (*field_fn)(struct ld *ld, const yaml_node_t *v, const char *path);

enum fkind { F_STR, F_INT, F_MAP, F_FUNC };

struct field {
	const char *key;
	enum fkind kind;
	size_t off;               /* F_STR, F_INT: offset in the base struct */
	int min, max;             /* F_INT */
	check_fn check;           /* F_STR */
	bool quiet;               /* F_STR: do not quote the value in errors */
	bool home;                /* F_STR: expand a leading ~/ */
	const struct field *sub;  /* F_MAP */
	field_fn fn;              /* F_FUNC */
};

#define CFG(m) offsetof(struct viva_config, m)

static int parse_admin_users(struct ld *ld, const yaml_node_t *v, const char *path);
static int parse_clusters(struct ld *ld, const yaml_node_t *v, const char *path);
static int parse_environments(struct ld *ld, const yaml_node_t *v, const char *path);

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
	{ .key = NULL }
};

static const struct field prometheus_fields[] = {
	{ .key = "url", .kind = F_STR, .off = CFG(prometheus_url), .check = check_url, .quiet = true },
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

static void join_path(char *buf, size_t len, const char *prefix, const char *key)
{
	snprintf(buf, len, "%s%s%s", prefix, *prefix ? "." : "", key);
}

static int walk_map(struct ld *ld, const yaml_node_t *node, const char *prefix,
		    const struct field *fields, void *base);

static int set_field(struct ld *ld, const struct field *f, const yaml_node_t *v,
		     const char *path, void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	char *s = NULL;
	const char *why;
	long n;
	int err = VIVA_OK;

	switch (f->kind) {
	case F_MAP:
		err = walk_map(ld, v, path, f->sub, base);
		break;
	case F_FUNC:
		err = f->fn(ld, v, path);
		break;
	case F_INT:
		if (v->type != YAML_SCALAR_NODE) {
			err = yaml_fail(ld, v, "%s: expected a whole number, got %s", path, node_kind(v));
			break;
		}
		if (node_is_null(v))
			break;
		if (!parse_whole((const char *)v->data.scalar.value, &n) ||
		    strlen((const char *)v->data.scalar.value) != v->data.scalar.length) {
			err = yaml_fail(ld, v, "%s: expected a whole number, got %s", path,
					show(qbuf, sizeof(qbuf), (const char *)v->data.scalar.value,
					     v->data.scalar.length));
			break;
		}
		if (n < f->min || n > f->max) {
			err = yaml_fail(ld, v, "%s: must be between %d and %d, got %ld", path,
					f->min, f->max, n);
			break;
		}
		*(int *)(void *)((char *)base + f->off) = (int)n;
		break;
	case F_STR:
		err = get_str(ld, v, path, &s);
		if (err || !s)
			break;
		if (f->home) {
			err = expand_home(ld, v, path, &s);
			if (err)
				break;
		}
		why = f->check ? f->check(s) : NULL;
		if (why) {
			if (f->quiet)
				err = yaml_fail(ld, v, "%s: %s", path, why);
			else
				err = yaml_fail(ld, v, "%s: %s, got %s", path, why,
						show(qbuf, sizeof(qbuf), s, strlen(s)));
			break;
		}
		replace_str((char **)(void *)((char *)base + f->off), s);
		s = NULL;
		break;
	}
	free(s);
	return err;
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

/*
 * Checks that node is a mapping whose keys are distinct scalars; a yaml
 * null counts as an empty mapping. On success pairs and n describe it.
 */
static int as_mapping(struct ld *ld, const yaml_node_t *node, const char *what,
		      yaml_node_pair_t **pairs, size_t *n)
{
	*pairs = NULL;
	*n = 0;
	if (node_is_null(node))
		return VIVA_OK;
	if (node->type != YAML_MAPPING_NODE)
		return yaml_fail(ld, node, "%s: expected a mapping, got %s", what, node_kind(node));
	*pairs = node->data.mapping.pairs.start;
	*n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	if (*n > YAML_MAX_ENTRIES)
		return yaml_fail(ld, node, "%s: more than %d entries", what, YAML_MAX_ENTRIES);
	for (size_t i = 0; i < *n; i++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, (*pairs)[i].key);
		char qbuf[SHOW_MAX * 2 + 8];

		if (!k || k->type != YAML_SCALAR_NODE)
			return yaml_fail(ld, k ? k : node, "%s: keys must be strings, got %s", what,
					 k ? node_kind(k) : "nothing");
		for (size_t j = 0; j < i; j++) {
			yaml_node_t *o = yaml_document_get_node(ld->doc, (*pairs)[j].key);
			if (o->data.scalar.length == k->data.scalar.length &&
			    memcmp(o->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
				return yaml_fail(ld, k, "%s: duplicate key %s (first at line %zu)", what,
						 show(qbuf, sizeof(qbuf), (const char *)k->data.scalar.value,
						      k->data.scalar.length),
						 o->start_mark.line + 1);
		}
	}
	return VIVA_OK;
}

static int walk_map(struct ld *ld, const yaml_node_t *node, const char *prefix,
		    const struct field *fields, void *base)
{
	yaml_node_pair_t *pairs;
	size_t n;
	int err;

	err = as_mapping(ld, node, *prefix ? prefix : "top level", &pairs, &n);
	for (size_t i = 0; !err && i < n; i++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pairs[i].key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, pairs[i].value);
		const char *key = (const char *)k->data.scalar.value;
		const struct field *f = NULL;
		char path[256];

		for (const struct field *c = fields; c->key; c++)
			if (strlen(c->key) == k->data.scalar.length && strcmp(c->key, key) == 0) {
				f = c;
				break;
			}
		if (!f) {
			char known[512], qbuf[SHOW_MAX * 2 + 8];
			known_keys(known, sizeof(known), fields);
			show(qbuf, sizeof(qbuf), key, k->data.scalar.length);
			/* qbuf is "..." quoted; the message wants 'prefix.key'. */
			qbuf[strlen(qbuf) - 1] = '\0';
			err = yaml_fail(ld, k, "unknown key '%s%s%s' (known: %s)", prefix,
					*prefix ? "." : "", qbuf + 1, known);
			break;
		}
		if (!v) {
			err = yaml_fail(ld, k, "%s: missing value", f->key);
			break;
		}
		join_path(path, sizeof(path), prefix, f->key);
		err = set_field(ld, f, v, path, base);
	}
	return err;
}

static int parse_admin_users(struct ld *ld, const yaml_node_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	char qbuf[SHOW_MAX * 2 + 8];
	char **users = NULL;
	size_t n, k = 0;
	int err = VIVA_OK;

	if (node_is_null(v))
		goto out;
	if (v->type != YAML_SEQUENCE_NODE) {
		err = yaml_fail(ld, v, "%s: expected a list of Slack user ids, got %s", path,
				node_kind(v));
		goto out;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > YAML_MAX_ENTRIES) {
		err = yaml_fail(ld, v, "%s: more than %d entries", path, YAML_MAX_ENTRIES);
		goto out;
	}
	users = xcalloc(n + 1, sizeof(*users));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
		char ipath[300];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!it) {
			err = yaml_fail(ld, v, "%s: missing", ipath);
			goto out;
		}
		if (it->type != YAML_SCALAR_NODE) {
			err = yaml_fail(ld, it, "%s: expected a Slack user id, got %s", ipath,
					node_kind(it));
			goto out;
		}
		if (!is_slack_user_id((const char *)it->data.scalar.value) ||
		    strlen((const char *)it->data.scalar.value) != it->data.scalar.length) {
			err = yaml_fail(ld, it, "%s: expected a Slack user id such as U012AB3CD, got %s",
					ipath, show(qbuf, sizeof(qbuf),
						    (const char *)it->data.scalar.value,
						    it->data.scalar.length));
			goto out;
		}
		users[k++] = xstrndup((const char *)it->data.scalar.value, it->data.scalar.length);
	}
	argv_free(c->admin_users);
	c->admin_users = users;
	users = NULL;
out:
	argv_free(users);
	return err;
}

static int parse_clusters(struct ld *ld, const yaml_node_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	yaml_node_pair_t *pairs;
	size_t n;
	int err;

	err = as_mapping(ld, v, path, &pairs, &n);
	if (err || n == 0)
		return err;
	c->clusters = xcalloc(n, sizeof(*c->clusters));
	for (size_t i = 0; !err && i < n; i++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pairs[i].key);
		yaml_node_t *val = yaml_document_get_node(ld->doc, pairs[i].value);
		struct config_cluster *cl = &c->clusters[c->n_clusters];
		const char *name = (const char *)k->data.scalar.value;
		char qbuf[SHOW_MAX * 2 + 8], sub[300];

		if (!is_dns1123_label(name) || strlen(name) != k->data.scalar.length) {
			err = yaml_fail(ld, k, "%s: cluster name %s: expected a DNS-1123 label "
					"(lower-case letters, digits and '-')", path,
					show(qbuf, sizeof(qbuf), name, k->data.scalar.length));
			break;
		}
		cl->name = xstrdup(name);
		c->n_clusters++;
		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		if (!val) {
			err = yaml_fail(ld, k, "%s: missing value", sub);
			break;
		}
		err = walk_map(ld, val, sub, cluster_fields, cl);
	}
	return err;
}

static int parse_environments(struct ld *ld, const yaml_node_t *v, const char *path)
{
	struct viva_config *c = ld->cfg;
	yaml_node_pair_t *pairs;
	size_t n;
	int err;

	err = as_mapping(ld, v, path, &pairs, &n);
	if (err || n == 0)
		return err;
	c->environments = xcalloc(n, sizeof(*c->environments));
	ld->env_lines = xcalloc(n, sizeof(*ld->env_lines));
	for (size_t i = 0; !err && i < n; i++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pairs[i].key);
		yaml_node_t *val = yaml_document_get_node(ld->doc, pairs[i].value);
		struct config_env *e = &c->environments[c->n_environments];
		const char *name = (const char *)k->data.scalar.value;
		char qbuf[SHOW_MAX * 2 + 8], sub[300];

		if (!is_dns1123_label(name) || strlen(name) != k->data.scalar.length) {
			err = yaml_fail(ld, k, "%s: environment name %s: expected a DNS-1123 label "
					"(lower-case letters, digits and '-')", path,
					show(qbuf, sizeof(qbuf), name, k->data.scalar.length));
			break;
		}
		e->name = xstrdup(name);
		ld->env_lines[c->n_environments] = k->start_mark.line + 1;
		c->n_environments++;
		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		if (!val) {
			err = yaml_fail(ld, k, "%s: missing value", sub);
			break;
		}
		err = walk_map(ld, val, sub, env_fields, e);
		if (err)
			break;
		if (!e->cluster)
			err = yaml_fail(ld, val, "%s.cluster: required (a name under clusters)", sub);
		else if (!e->namespace_)
			err = yaml_fail(ld, val, "%s.namespace: required (a Kubernetes namespace)", sub);
	}
	return err;
}

/* Environments may come before clusters in the file: check references at the end. */
static int check_env_clusters(struct ld *ld)
{
	const struct viva_config *c = ld->cfg;

	for (size_t i = 0; i < c->n_environments; i++) {
		const struct config_env *e = &c->environments[i];
		if (config_cluster_find(c, e->cluster))
			continue;
		set_err(ld->err, ld->errlen,
			"%s:%zu: environments.%s.cluster: unknown cluster '%s' (define it under clusters)",
			ld->yaml_path, ld->env_lines ? ld->env_lines[i] : 0, e->name, e->cluster);
		return VIVA_EINVAL;
	}
	return VIVA_OK;
}

static int load_yaml(struct ld *ld, bool explicit)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	bool have_parser = false, have_doc = false;
	char *buf = NULL;
	size_t len = 0;
	int errnum = 0, err;
	yaml_node_t *root;

	err = read_file_max(ld->yaml_path, CONFIG_MAX_FILE, &buf, &len);
	errnum = errno;
	if (err == VIVA_ENOENT && !explicit) {
		err = VIVA_OK; /* no viva.yaml: every key keeps its default */
		goto out;
	}
	if (err == VIVA_ENOENT) {
		set_err(ld->err, ld->errlen, "VIVA_CONFIG: %s: no such file", ld->yaml_path);
		err = VIVA_EIO;
		goto out;
	}
	if (err == VIVA_ERANGE) {
		set_err(ld->err, ld->errlen, "%s: larger than %d bytes", ld->yaml_path, CONFIG_MAX_FILE);
		err = VIVA_EINVAL;
		goto out;
	}
	if (err) {
		set_err(ld->err, ld->errlen, "%s: cannot read: %s", ld->yaml_path, strerror(errnum));
		err = VIVA_EIO;
		goto out;
	}
	ld->ybuf = (const unsigned char *)buf;
	ld->ylen = len;
	err = yaml_precheck(ld);
	if (err)
		goto out;

	if (!yaml_parser_initialize(&parser)) {
		set_err(ld->err, ld->errlen, "%s: cannot initialise the yaml parser", ld->yaml_path);
		err = VIVA_EIO;
		goto out;
	}
	have_parser = true;
	yaml_parser_set_input_string(&parser, ld->ybuf, ld->ylen);
	if (!yaml_parser_load(&parser, &doc)) {
		err = yaml_parse_error(ld, &parser);
		goto out;
	}
	have_doc = true;
	ld->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root || node_is_null(root))
		goto out; /* empty file, or only comments */
	if (root->type != YAML_MAPPING_NODE) {
		err = yaml_fail(ld, root, "top level must be a mapping of keys, got %s "
				"(see viva.example.yaml)", node_kind(root));
		goto out;
	}
	err = walk_map(ld, root, "", top_fields, ld->cfg);
	if (err)
		goto out;
	err = check_env_clusters(ld);
out:
	ld->doc = NULL;
	ld->ybuf = NULL;
	ld->ylen = 0;
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
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
	{ "REGISTRY_USER", CFG(registry_user), 0, NULL, NULL },
	{ "REGISTRY_PASSWORD", CFG(registry_password), 0, NULL, NULL },
	{ "PROMETHEUS_URL", CFG(prometheus_url), V_URL, NULL, NULL },
	{ "VIVA_HTTP_LISTEN", CFG(http_listen), 0, NULL, NULL },
	{ "VIVA_NODE_TOKEN", CFG(node_token), V_SECRET, NULL, NULL },
	{ "VIVA_LOG_LEVEL", CFG(log_level), 0, NULL, NULL },
	{ "VIVA_TEMPLATES", CFG(templates_dir), 0, NULL, NULL },
};

static int apply_env(struct ld *ld)
{
	struct viva_config *c = ld->cfg;
	int err = VIVA_OK;

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
			set_err(ld->err, ld->errlen, "%s (from %s): must not contain control characters",
				name, from);
			return VIVA_EINVAL;
		}
		if ((flags & V_SECRET) && !is_token_text(v)) {
			set_err(ld->err, ld->errlen, "%s (from %s): must not contain spaces or "
				"non-ASCII characters", name, from);
			return VIVA_EINVAL;
		}
		if (env_vars[i].prefix && !has_prefix(v, env_vars[i].prefix)) {
			set_err(ld->err, ld->errlen, "%s (from %s): expected %s starting with %s",
				name, from, env_vars[i].prefix_what, env_vars[i].prefix);
			return VIVA_EINVAL;
		}
		if ((flags & V_URL) && !is_http_url(v)) {
			set_err(ld->err, ld->errlen, "%s (from %s): expected an http:// or https:// URL",
				name, from);
			return VIVA_EINVAL;
		}
		s = xstrdup(v);
		if (flags & V_HOME) {
			err = expand_home(ld, NULL, name, &s);
			if (err) {
				free(s);
				return err;
			}
		}
		replace_str((char **)(void *)((char *)c + env_vars[i].off), s);
	}

	/* Callers append method names: "https://slack.com/api/" + "chat.postMessage". */
	if (c->slack_api_base[strlen(c->slack_api_base) - 1] != '/')
		replace_str(&c->slack_api_base, xasprintf("%s/", c->slack_api_base));

	if (c->http_listen && check_listen(c->http_listen) != VIVA_OK) {
		set_err(ld->err, ld->errlen, "VIVA_HTTP_LISTEN: expected HOST:PORT with a port "
			"1..65535, e.g. 127.0.0.1:8080");
		return VIVA_EINVAL;
	}
	if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
	    strcmp(c->log_level, "warn") && strcmp(c->log_level, "error")) {
		char qbuf[SHOW_MAX * 2 + 8];
		set_err(ld->err, ld->errlen, "VIVA_LOG_LEVEL: expected debug, info, warn or error, got %s",
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
	cfg->templates_dir = xstrdup(DEF_TEMPLATES);
	cfg->slash_command = xstrdup(DEF_SLASH_COMMAND);
	cfg->loop_priority = xstrdup("normal");
	cfg->timezone = xstrdup(DEF_TIMEZONE);
	cfg->workers = DEF_WORKERS;
	cfg->queue_size = DEF_QUEUE_SIZE;
	cfg->admin_users = xcalloc(1, sizeof(*cfg->admin_users));
	cfg->pipelines_dir = xstrdup(DEF_PIPELINES_DIR);
	cfg->schedule_lag = xstrdup(DEF_SCHEDULE_LAG);
	cfg->schedule_unused = xstrdup(DEF_SCHEDULE_UNUSED);
	cfg->lag_days = DEF_LAG_DAYS;
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
	free(ld.env_lines);
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
		&cfg->registry_user, &cfg->registry_password, &cfg->prometheus_url,
		&cfg->http_listen, &cfg->node_token, &cfg->log_level, &cfg->templates_dir,
		&cfg->slash_command, &cfg->timezone, &cfg->admin_usergroup, &cfg->loop_priority,
		&cfg->channel_deploy, &cfg->channel_audit, &cfg->channel_nodes,
		&cfg->pipelines_dir, &cfg->schedule_lag, &cfg->schedule_unused,
		&cfg->link_bluegreen, &cfg->cluster_configs, &cfg->promql_unused_http,
		&cfg->promql_unused_kafka, &cfg->promql_unused_batch, &cfg->traffic_api_label,
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
