/*
 * viva's environment variables (SPEC section 2): the process environment
 * over the .env file, the table of variables (env_vars[]) with their checks,
 * and the checks that span several of them (Prometheus's credentials,
 * VIVA_HTTP_LISTEN, VIVA_LOG_LEVEL). A variable wins over its viva.yaml key.
 * Internal to the config*.c files (config_impl.h); secrets are never put
 * into an error message.
 */
#include "bot/model/config_impl.h"
#include "bot/model/dotenv.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- environment variables ---------------------------------------------------- */

/*
 * The process environment wins over .env. A variable set to the empty string
 * counts as set (so `SLACK_BOT_TOKEN= viva` disables a token from .env), and
 * an empty value then means "not configured": returns NULL.
 */
const char *config_lookup(const struct ld *ld, const char *name, const char **from)
{
	const char *v = getenv(name);

	*from = "the environment";
	if (!v) {
		v = dotenv_get(&ld->dotenv, name);
		*from = ld->env_file;
	}
	return v && *v ? v : NULL;
}

/* Tokens go into HTTP headers verbatim: a space or CR/LF would break them. */
static bool is_token_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int check_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	long port;

	if (!colon || colon == v || config_has_control(v) || strchr(v, ' '))
		return VIVA_EINVAL;
	/* "[::1]:8080": a bracketed IPv6 host must close right before the port. */
	if (v[0] == '[' && colon[-1] != ']')
		return VIVA_EINVAL;
	if (v[0] != '[' && memchr(v, ':', (size_t)(colon - v)))
		return VIVA_EINVAL;
	if (!config_parse_whole(colon + 1, &port) || colon[1] == '-' || port < 1 || port > 65535)
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

int config_apply_env(struct ld *ld)
{
	struct viva_config *c = ld->cfg;

	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *name = env_vars[i].name;
		int flags = env_vars[i].flags;
		const char *from;
		const char *v = config_lookup(ld, name, &from);
		char *s;

		if (!v)
			continue;
		/* Checks come first and never print v: some of these are secrets. */
		if (config_has_control(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): must not contain control characters",
				name, from);
			return VIVA_EINVAL;
		}
		if ((flags & V_SECRET) && !is_token_text(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): must not contain spaces or "
				"non-ASCII characters", name, from);
			return VIVA_EINVAL;
		}
		if (env_vars[i].prefix && !config_has_prefix(v, env_vars[i].prefix)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): expected %s starting with %s",
				name, from, env_vars[i].prefix_what, env_vars[i].prefix);
			return VIVA_EINVAL;
		}
		if ((flags & V_URL) && !config_is_http_url(v)) {
			viva_errf(ld->err, ld->errlen, "%s (from %s): expected an http:// or https:// URL",
				name, from);
			return VIVA_EINVAL;
		}
		s = xstrdup(v);
		if ((flags & V_HOME) && !config_expand_home(&s)) {
			free(s);
			viva_errf(ld->err, ld->errlen, "%s: uses ~ but HOME is not set", name);
			return VIVA_EINVAL;
		}
		config_replace_str((char **)(void *)((char *)c + env_vars[i].off), s);
	}

	/* Callers append method names: "https://slack.com/api/" + "chat.postMessage". */
	if (c->slack_api_base[strlen(c->slack_api_base) - 1] != '/')
		config_replace_str(&c->slack_api_base, xasprintf("%s/", c->slack_api_base));

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
			config_show(qbuf, sizeof(qbuf), c->log_level, strlen(c->log_level)));
		return VIVA_EINVAL;
	}
	return VIVA_OK;
}
