/* `viva doctor`: see doctor.h. */
#include "bot/doctor.h"
#include "bot/clients/kube.h"
#include "bot/clients/prom.h"
#include "bot/clients/registry.h"
#include "bot/k8s/doctor.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"
#include "bot/slack/api.h"
#include "store/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A check's name: a URL or a path in it. */
#define WHAT_MAX 4200
/* One request of a check: a person waits at a terminal. */
#define CHECK_TIMEOUT_MS 10000

struct tally {
	int passed, failed, skipped;
};

static void ok(struct tally *t, FILE *out, const char *what, const char *detail)
{
	fprintf(out, "%s: ok (%s)\n", what, detail);
	t->passed++;
}

static void failed(struct tally *t, FILE *out, const char *what, const char *why)
{
	fprintf(out, "%s: FAILED: %s\n", what, why);
	t->failed++;
}

static void skipped(struct tally *t, FILE *out, const char *what, const char *why)
{
	fprintf(out, "%s: not configured (%s)\n", what, why);
	t->skipped++;
}

/*
 * A URL as a line may show it: scheme://host[:port]/path, without
 * user:password@ (refused anyway, but the label comes first) and without
 * the query (it may carry a token).
 */
static const char *url_shown(const char *url, char *buf, size_t len)
{
	const char *host = strstr(url, "://"), *at, *end;
	char raw[WHAT_MAX];

	host = host ? host + 3 : url;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	snprintf(raw, sizeof(raw), "%.*s%s", (int)(host - url), url, at ? at + 1 : host);
	raw[strcspn(raw, "?#")] = '\0';
	return text_shown(raw, buf, len, 300);
}

/* ---- the store ------------------------------------------------------------------------- */

static void check_store(const struct viva_config *cfg, struct tally *t, FILE *out)
{
	char what[WHAT_MAX], why[512], shown[320], *dir, *slash;
	struct store_health h;

	snprintf(what, sizeof(what), "store (VIVA_DB=%s)", text_shown(cfg->db_path, shown, sizeof(shown), 300));
	if (strcmp(cfg->db_path, ":memory:") == 0) {
		ok(t, out, what, "in memory: nothing survives a restart; set VIVA_DB to a file for production");
		return;
	}
	dir = xstrdup(cfg->db_path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (access(slash ? dir : ".", W_OK | X_OK) != 0) {
		snprintf(why, sizeof(why), "its directory %s: %s: create it, writable by viva's user",
			 slash ? dir : ".", strerror(errno));
		failed(t, out, what, why);
		free(dir);
		return;
	}
	free(dir);
	/* looked at, never created or migrated: that is viva serve's business,
	 * as its user (a doctor run as root must not leave a file root owns) */
	if (store_inspect(cfg->db_path, &h, why, sizeof(why)) != VIVA_OK) {
		failed(t, out, what, why);
		return;
	}
	if (h.missing)
		ok(t, out, what, "no database yet: viva serve creates it there");
	else if (h.version < h.latest)
		snprintf(why, sizeof(why), "schema %d, which this viva migrates to %d when it starts; journal %s, "
			 "writable, whole", h.version, h.latest, h.journal);
	else
		snprintf(why, sizeof(why), "schema %d, journal %s, writable, whole", h.version, h.journal);
	if (!h.missing)
		ok(t, out, what, why);
}

/* ---- Slack ------------------------------------------------------------------------------- */

/* What to do about an error code of auth.test or apps.connections.open. */
static const char *slack_hint(const char *code, bool app)
{
	if (strcmp(code, "not_allowed_token_type") == 0)
		return app ? "SLACK_APP_TOKEN must be an app-level token (xapp-...) with the connections:write scope"
			   : "SLACK_BOT_TOKEN must be the bot token (xoxb-...)";
	if (strcmp(code, "invalid_auth") == 0 || strcmp(code, "not_authed") == 0 ||
	    strcmp(code, "token_revoked") == 0 || strcmp(code, "token_expired") == 0)
		return app ? "copy the app-level token (xapp-...) again from the app's Basic Information page"
			   : "copy the Bot User OAuth Token (xoxb-...) again from the app's OAuth & Permissions page";
	if (strcmp(code, "account_inactive") == 0 || strcmp(code, "team_disabled") == 0)
		return "the workspace or the app was deactivated: reinstall the app";
	if (strcmp(code, "missing_scope") == 0)
		return "the token lacks a scope: add it in the app's settings and reinstall";
	return "see https://api.slack.com/methods for this error";
}

/* One line for a Slack call that did not succeed. */
static void slack_failed(struct tally *t, FILE *out, const char *what, const struct viva_config *cfg, int rc,
			 const char *code, bool app)
{
	char why[768], shown[320];

	if (rc == VIVA_EREMOTE && code)
		snprintf(why, sizeof(why), "Slack answered %s: %s", text_shown(code, shown, sizeof(shown), 64),
			 slack_hint(code, app));
	else if (rc == VIVA_EBUSY)
		snprintf(why, sizeof(why), "Slack is rate limiting viva: try again in a minute");
	else if (rc == VIVA_ETIMEOUT)
		snprintf(why, sizeof(why), "Slack at %s did not answer in time: check the network and any proxy "
			 "(HTTPS_PROXY)", url_shown(cfg->slack_api_base, shown, sizeof(shown)));
	else if (rc == VIVA_EREMOTE)
		snprintf(why, sizeof(why), "%s answered, but not as Slack's Web API does: check SLACK_API_BASE",
			 url_shown(cfg->slack_api_base, shown, sizeof(shown)));
	else
		snprintf(why, sizeof(why), "no answer from Slack at %s, or it is failing (HTTP 5xx): check "
			 "SLACK_API_BASE, the network, DNS and any proxy (HTTPS_PROXY), then "
			 "https://slack-status.com", url_shown(cfg->slack_api_base, shown, sizeof(shown)));
	failed(t, out, what, why);
}

static void check_slack(const struct viva_config *cfg, struct tally *t, FILE *out)
{
	struct slack_api *api;
	json_t *resp = NULL;
	char detail[256], *url = NULL, *code = NULL;
	int rc, retry = 0;

	if (!cfg->slack_bot_token && !cfg->slack_app_token) {
		skipped(t, out, "slack", "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are unset: viva serve needs both; the "
			"console and exec do not");
		return;
	}
	api = slack_api_new(cfg->slack_api_base, cfg->slack_bot_token, cfg->slack_app_token);
	if (!api) {
		failed(t, out, "slack", "SLACK_API_BASE is not an http(s) URL without a query");
		return;
	}
	slack_api_set_limits(api, &(struct slack_api_limits){ .call_timeout_ms = CHECK_TIMEOUT_MS, .max_retries = 1,
							      .deadline_ms = 2 * CHECK_TIMEOUT_MS });
	if (!cfg->slack_bot_token) {
		failed(t, out, "slack auth.test (SLACK_BOT_TOKEN)", "SLACK_BOT_TOKEN is unset: viva serve needs the "
		       "bot token (xoxb-...) from the app's OAuth & Permissions page");
	} else {
		rc = slack_call(api, "auth.test", NULL, &resp);
		if (rc == VIVA_OK) {
			const char *team = json_string_value(json_object_get(resp, "team"));
			const char *user = json_string_value(json_object_get(resp, "user_id"));
			char tm[72], u[40];

			snprintf(detail, sizeof(detail), "workspace %s, bot user %s",
				 text_shown(team ? team : "?", tm, sizeof(tm), 64),
				 text_shown(user ? user : "?", u, sizeof(u), 32));
			ok(t, out, "slack auth.test (SLACK_BOT_TOKEN)", detail);
		} else {
			slack_failed(t, out, "slack auth.test (SLACK_BOT_TOKEN)", cfg, rc,
				     resp ? slack_error(resp) : NULL, false);
		}
		json_decref(resp);
	}
	if (!cfg->slack_app_token) {
		failed(t, out, "slack apps.connections.open (SLACK_APP_TOKEN)", "SLACK_APP_TOKEN is unset: viva serve "
		       "needs an app-level token (xapp-...) with the connections:write scope");
	} else {
		/* a Socket Mode URL is handed out; unused, it expires */
		rc = slack_connections_open_ex(api, &url, &retry, &code);
		if (rc == VIVA_OK)
			ok(t, out, "slack apps.connections.open (SLACK_APP_TOKEN)", "Socket Mode may connect");
		else
			slack_failed(t, out, "slack apps.connections.open (SLACK_APP_TOKEN)", cfg, rc, code, true);
		free(url);
		free(code);
	}
	slack_api_free(api);
}

/* ---- clusters ---------------------------------------------------------------------------- */

static void check_clusters(const struct viva_config *cfg, struct tally *t, FILE *out)
{
	struct kube_clients *clients = NULL;
	char err[1024];
	int bad;

	if (cfg->n_clusters == 0) {
		skipped(t, out, "clusters", "no clusters: in viva.yaml");
		return;
	}
	if (kube_clients_new(cfg, NULL, NULL, &clients, err, sizeof(err)) != VIVA_OK) {
		failed(t, out, "clusters", err);
		return;
	}
	bad = k8s_doctor(cfg, clients, out);   /* a check per cluster */
	t->failed += bad;
	t->passed += (int)cfg->n_clusters - bad;
	kube_clients_free(clients);
}

/* ---- the registry ---------------------------------------------------------------------- */

static void check_registry(const struct viva_config *cfg, struct tally *t, FILE *out)
{
	struct registry_opts ro = {
		.url = cfg->registry_url, .user = cfg->registry_user, .password = cfg->registry_password,
		.ca_file = cfg->registry_ca_file, .insecure = cfg->registry_insecure, .max_concurrent = 1,
	};
	struct registry *r;
	char what[WHAT_MAX], why[512], shown[320];

	if (!cfg->registry_url) {
		skipped(t, out, "registry", "REGISTRY_URL is unset: tags and promotion need it");
		return;
	}
	snprintf(what, sizeof(what), "registry (REGISTRY_URL=%s)", url_shown(cfg->registry_url, shown, sizeof(shown)));
	if (cfg->registry_ca_file && access(cfg->registry_ca_file, R_OK) != 0) {
		snprintf(why, sizeof(why), "REGISTRY_CA_FILE %s: %s", cfg->registry_ca_file, strerror(errno));
		failed(t, out, what, why);
		return;
	}
	r = registry_new_ex(&ro);
	if (!r) {
		failed(t, out, what, "not a usable registry URL (http(s)://host[:port][/path], no user:password@)");
		return;
	}
	registry_set_limits(r, &(struct registry_limits){ .timeout_ms = CHECK_TIMEOUT_MS });
	if (registry_ping(r) == VIVA_OK)
		ok(t, out, what, cfg->registry_user ? "/v2/ answered, viva's credentials taken"
		   : "/v2/ answered, without credentials");
	else
		failed(t, out, what, registry_last_error());
	registry_free(r);
}

/* ---- Prometheus --------------------------------------------------------------------------- */

static void check_prometheus(const struct viva_config *cfg, struct tally *t, FILE *out)
{
	struct prom_opts po = {
		.url = cfg->prometheus_url, .user = cfg->prometheus_user, .password = cfg->prometheus_password,
		.token = cfg->prometheus_token, .ca_file = cfg->prometheus_ca_file, .max_concurrent = 1,
		.timeout_ms = CHECK_TIMEOUT_MS,
	};
	struct prom_result res = { 0 };
	struct prom *p;
	char what[WHAT_MAX], why[768], shown[320];

	if (!cfg->prometheus_url) {
		skipped(t, out, "prometheus", "PROMETHEUS_URL is unset: the unused-service audit and traffic need it");
		return;
	}
	snprintf(what, sizeof(what), "prometheus (PROMETHEUS_URL=%s)",
		 url_shown(cfg->prometheus_url, shown, sizeof(shown)));
	p = prom_new(&po, why, sizeof(why));
	if (!p) {
		failed(t, out, what, why);
		return;
	}
	if (prom_ready(p) != VIVA_OK) {
		failed(t, out, what, prom_last_error());
	} else if (prom_query(p, "vector(1)", (int64_t)time(NULL), &res) != VIVA_OK) {
		snprintf(why, sizeof(why), "ready, but a query failed: %s", prom_last_error());
		failed(t, out, what, why);
	} else if (res.n != 1) {
		snprintf(why, sizeof(why), "ready, but the query vector(1) gave %zu series instead of 1: is it "
			 "Prometheus's query API?", res.n);
		failed(t, out, what, why);
	} else {
		ok(t, out, what, "ready, and a query answered");
	}
	prom_result_release(&res);
	prom_free(p);
}

int viva_doctor(const struct viva_config *cfg, FILE *out)
{
	struct tally t = { 0 };

	check_store(cfg, &t, out);
	check_slack(cfg, &t, out);
	check_clusters(cfg, &t, out);
	check_registry(cfg, &t, out);
	check_prometheus(cfg, &t, out);
	if (t.failed)
		fprintf(out, "\n%d check%s failed, %d passed", t.failed, t.failed == 1 ? "" : "s", t.passed);
	else
		fprintf(out, "\nevery check passed (%d)", t.passed);
	if (t.skipped)
		fprintf(out, ", %d not configured", t.skipped);
	fprintf(out, "\n");
	fflush(out);
	return t.failed ? 1 : 0;
}
