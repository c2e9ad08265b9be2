/*
 * The real Kubernetes client: requests through bot/clients/http.h (see
 * kube.h for the contract).
 *
 * A call is one request, sent again only when that is safe: a 5xx on a
 * request that may be repeated (backoff doubling, bounded by max_retries
 * and the deadline), and a 401 once, with fresh credentials, when they can
 * be refreshed (a token file re-read, an exec plugin run again). Retry-After
 * on 429/503 and failed connections are the HTTP layer's.
 *
 * Worker threads share a client. What changes after kube_new() (the token
 * read from a file, the connection holding an exec plugin's client
 * certificate) sits behind one mutex that is never held across a request
 * or a plugin run (the exec cache has its own single-flight).
 */
#include "bot/clients/kube.h"
#include "bot/clients/http.h"
#include "bot/clients/kube_exec.h"
#include "bot/clients/kubeconfig.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEF_CONNECT_TIMEOUT_MS   5000L
#define DEF_TIMEOUT_MS           30000L
#define DEF_DEADLINE_MS          60000L
#define DEF_MAX_RETRIES          3
#define DEF_BACKOFF_MS           200L
#define MAX_BACKOFF_MS           5000L
#define DEF_MAX_RETRY_AFTER_MS   10000L
#define DEF_MAX_CALLERS          8
#define TOKEN_FILE_TTL_MS        60000L
#define TOKEN_MAX_BYTES          ((size_t)64 << 10)
#define MAX_BODY_OBJECT          ((size_t)8 << 20)
#define MAX_BODY_LIST            ((size_t)64 << 20)

/* An HTTP client and the calls using it: an exec plugin's client
 * certificate lives in a client of its own, replaced when the plugin gives
 * a new one; the old one goes when its last call ends. */
struct conn {
	struct http_client *http;
	int refs;
	bool retired;
};

struct kube_real {
	struct kube base;            /* first: the public handle */
	struct kube_target t;        /* owned */
	struct kube_limits lim;
	char *peer;
	char *name;                  /* "kube:<cluster>": logs and metrics */
	struct http_client_opts ho;  /* for the exec plugin's certificate clients */
	struct http_client *http;    /* the target's TLS */
	struct kube_exec_cache *exec;
	pthread_mutex_t mu;          /* guards the fields below */
	char *file_token;            /* read from t.token_file (secret) */
	int64_t file_read_ms;        /* monotonic; 0: never */
	struct conn *cert_conn;      /* for the exec credential of generation cert_gen */
	unsigned cert_gen;
};

static struct kube_real *real(struct kube *k)
{
	return (struct kube_real *)k;
}

static const char *const keep_headers[] = { "retry-after", NULL };

/* ---- credentials --------------------------------------------------------------------- */

struct creds {
	char *bearer;                /* secret */
	struct conn *conn;           /* NULL: r->http */
	unsigned gen;                /* the exec credential's generation */
	bool refreshable;            /* a 401 may be cured by fresh credentials */
};

static void creds_release(struct kube_real *r, struct creds *c)
{
	struct conn *drop = NULL;

	free_secret(c->bearer);
	c->bearer = NULL;
	if (c->conn) {
		pthread_mutex_lock(&r->mu);
		if (--c->conn->refs == 0 && c->conn->retired)
			drop = c->conn;
		pthread_mutex_unlock(&r->mu);
		c->conn = NULL;
	}
	if (drop) {
		http_client_free(drop->http);
		free(drop);
	}
}

/* The token of t.token_file: re-read after TOKEN_FILE_TTL_MS or when forced
 * (a 401). A file that cannot be read keeps the last token, else t.token. */
static char *file_token(struct kube_real *r, bool force)
{
	char *tok = NULL, *text = NULL;
	const char *why = NULL;
	int64_t now = now_ms_mono();

	pthread_mutex_lock(&r->mu);
	if (!force && r->file_token && now - r->file_read_ms < TOKEN_FILE_TTL_MS) {
		tok = xstrdup(r->file_token);
		pthread_mutex_unlock(&r->mu);
		return tok;
	}
	/* a small local file: read under the lock so one thread reads it */
	if (read_regular_file(AT_FDCWD, r->t.token_file, 0, TOKEN_MAX_BYTES, &text, NULL, &why) == VIVA_OK) {
		char *s = text, *e;
		while (*s && isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (kube_token_ok(s)) {
			free_secret(r->file_token);
			r->file_token = xstrdup(s);
			r->file_read_ms = now;
		} else {
			why = "does not hold a token";
		}
	}
	if (why)
		log_warn("kube token file not read", "cluster=%s reason=\"%s\"", r->base.cluster, why);
	free_secret(text);
	tok = xstrdup(r->file_token ? r->file_token : r->t.token);
	pthread_mutex_unlock(&r->mu);
	return tok;
}

/* The client for the exec credential of generation gen (certificate in cred). */
static struct conn *cert_conn(struct kube_real *r, const struct kube_exec_cred *cred, unsigned gen, char *err,
			      size_t errlen)
{
	struct conn *c = NULL, *old = NULL, *made = NULL;
	struct http_client_opts ho = r->ho;

	pthread_mutex_lock(&r->mu);
	if (r->cert_conn && r->cert_gen == gen) {
		c = r->cert_conn;
		c->refs++;
	}
	pthread_mutex_unlock(&r->mu);
	if (c)
		return c;
	ho.tls.cert_pem = cred->cert_pem;
	ho.tls.key_pem = cred->key_pem;
	ho.tls.cert_file = NULL;
	ho.tls.key_file = NULL;
	made = xcalloc(1, sizeof(*made));
	made->http = http_client_new(&ho);
	if (!made->http) {
		free(made);
		viva_errf(err, errlen, "cluster %s: the client certificate of the credential plugin cannot be used",
			  r->base.cluster);
		return NULL;
	}
	pthread_mutex_lock(&r->mu);
	if (r->cert_conn && r->cert_gen == gen) {
		/* another thread made one meanwhile: use it */
		c = r->cert_conn;
		c->refs++;
	} else {
		if (r->cert_conn) {
			old = r->cert_conn;
			old->retired = true;
			if (old->refs > 0)
				old = NULL;   /* its last call frees it */
		}
		r->cert_conn = made;
		r->cert_gen = gen;
		made->refs = 1;
		c = made;
		made = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (made) {
		http_client_free(made->http);
		free(made);
	}
	if (old) {
		http_client_free(old->http);
		free(old);
	}
	return c;
}

/* Credentials for one request. stale: the exec generation a 401 refused. */
static int creds_get(struct kube_real *r, unsigned stale, bool force_file, struct creds *c)
{
	char err[640] = "";

	memset(c, 0, sizeof(*c));
	if (r->exec) {
		struct kube_exec_cred cred;
		int rc = kube_exec_cache_get(r->exec, stale, &cred, &c->gen, err, sizeof(err));

		if (rc != VIVA_OK)
			/* whatever went wrong, viva has no credentials for the cluster */
			return kube_fail(VIVA_EAUTH, 0, "", "%s", err);
		c->refreshable = true;
		if (cred.token) {
			c->bearer = cred.token;
			cred.token = NULL;
		} else {
			c->conn = cert_conn(r, &cred, c->gen, err, sizeof(err));
			if (!c->conn) {
				kube_exec_cred_release(&cred);
				return kube_fail(VIVA_EAUTH, 0, "", "%s", err);
			}
		}
		kube_exec_cred_release(&cred);
		return VIVA_OK;
	}
	if (r->t.token_file) {
		c->bearer = file_token(r, force_file);
		c->refreshable = true;
		return VIVA_OK;
	}
	c->bearer = xstrdup(r->t.token);
	return VIVA_OK;
}

/* ---- one call ------------------------------------------------------------------------------ */

struct call {
	const char *verb;            /* for messages: get, list, create, ... */
	const char *method;
	const struct kube_ref *ref;  /* NULL for get_path */
	char *url;                   /* path and query */
	json_t *body;                /* borrowed */
	const char *ctype;           /* Content-Type of the body */
	bool safe;                   /* may be sent again after a 5xx */
	bool no_retry_429;
	size_t max_body;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static bool retryable_5xx(long status)
{
	return status == 500 || status == 502 || status == 504;
}

static int call(struct kube_real *r, const struct call *c, json_t **out)
{
	const char *hdrs[3] = { "Accept: application/json", NULL, NULL };
	char *ctype = NULL, *payload = NULL, res[128];
	struct http_response rs;
	int64_t deadline = now_ms_mono() + r->lim.deadline_ms;
	unsigned stale = 0;
	bool retried_401 = false, force_file = false;
	int rc = VIVA_OK;

	if (out)
		*out = NULL;
	if (c->body) {
		payload = json_dumps(c->body, JSON_COMPACT);
		if (!payload)
			return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: the object cannot be written as JSON",
					 r->base.cluster);
		ctype = xasprintf("Content-Type: %s", c->ctype);
		hdrs[1] = ctype;
	}
	kube_resource_name(c->ref ? c->ref->res : NULL, res, sizeof(res));
	http_response_init(&rs);
	for (int attempt = 0;; attempt++) {
		struct creds cr;
		struct http_request rq = {
			.op = c->verb, .method = c->method, .url = c->url, .headers = hdrs,
			.body = payload, .body_len = payload ? strlen(payload) : 0,
			.max_body = c->max_body, .keep = keep_headers, .idempotent = c->safe,
			.no_retry_429 = c->no_retry_429,
		};
		long wait;

		rc = creds_get(r, stale, force_file, &cr);
		if (rc != VIVA_OK)
			break;
		rq.bearer = cr.bearer;
		rc = http_do(cr.conn ? cr.conn->http : r->http, &rq, &rs);
		stale = cr.gen;
		creds_release(r, &cr);
		if (rc != VIVA_OK) {
			/* no answer: the HTTP layer's sentence names the cluster's API */
			kube_fail(rc, 0, "", "%s", rs.error);
			break;
		}
		if (rs.status >= 200 && rs.status < 300) {
			json_t *j = rs.body.len ? json_loadb(rs.body.buf, rs.body.len, 0, NULL) : json_object();
			if (!j) {
				rc = kube_fail(VIVA_EREMOTE, rs.status, "", "cluster %s answered %s %s with something that "
					       "is not JSON", r->base.cluster, c->verb, res);
				break;
			}
			if (out)
				*out = j;
			else
				json_decref(j);
			rc = VIVA_OK;
			break;
		}
		if (rs.status == 401 && cr.refreshable && !retried_401) {
			/* an expired token: fresh credentials, once */
			log_info("kube credentials refused, refreshing", "cluster=%s", r->base.cluster);
			retried_401 = true;
			force_file = true;
			continue;
		}
		force_file = false;
		stale = 0;
		if (retryable_5xx(rs.status) && c->safe && attempt < r->lim.max_retries) {
			long want = rs.retry_after_s >= 0 ? rs.retry_after_s * 1000L
							  : r->lim.backoff_ms << (attempt < 5 ? attempt : 5);
			wait = want > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : want;
			if (now_ms_mono() + wait + 100 < deadline && want <= r->lim.max_retry_after_ms) {
				log_info("kube retry", "cluster=%s verb=%s resource=%s status=%ld wait_ms=%ld attempt=%d",
					 r->base.cluster, c->verb, res, rs.status, wait, attempt + 1);
				sleep_ms(wait);
				continue;
			}
		}
		rc = kube_status_error(&r->base, c->ref, c->verb, rs.status, rs.body.buf, rs.body.len);
		/* "not there" and "changed meanwhile" are answers callers expect */
		log_at(rs.status == 404 || rs.status == 409 ? LOG_INFO : LOG_WARN, "kube request refused",
		       "cluster=%s verb=%s resource=%s status=%ld reason=%s", r->base.cluster, c->verb, res, rs.status,
		       kube_last_reason());
		break;
	}
	/* a Secret (a bootstrap token) may have travelled in either */
	if (rs.body.buf)
		explicit_bzero(rs.body.buf, rs.body.len);
	http_response_release(&rs);
	free(ctype);
	free_secret(payload);
	return rc;
}

/* ---- requests --------------------------------------------------------------------------------- */

static void add_query(struct strbuf *sb, bool *first, const char *key, const char *value)
{
	if (!value)
		return;
	sb_addc(sb, *first ? '?' : '&');
	*first = false;
	sb_adds(sb, key);
	sb_addc(sb, '=');
	sb_add_pct(sb, value);
}

/* The URL of ref with the write options' query (fieldManager, force, dryRun). */
static char *url_of(struct kube_real *r, const struct kube_ref *ref, const struct kube_write_opts *o,
		    bool manager, bool force)
{
	char *path = kube_path(&r->base, ref);
	struct strbuf sb;
	bool first = true;

	if (!path)
		return NULL;
	sb_init(&sb);
	sb_adds(&sb, path);
	free(path);
	if (manager)
		add_query(&sb, &first, "fieldManager", o && o->field_manager ? o->field_manager : "viva");
	if (force)
		add_query(&sb, &first, "force", "true");
	if (o && o->dry_run)
		add_query(&sb, &first, "dryRun", "All");
	return sb_detach(&sb);
}

static int op_get(struct kube *k, const struct kube_ref *ref, json_t **out)
{
	struct call c = { .verb = "get", .method = "GET", .ref = ref, .safe = true, .max_body = MAX_BODY_OBJECT };
	int rc;

	c.url = url_of(real(k), ref, NULL, false, false);
	if (!c.url)
		return VIVA_EINVAL;
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static int op_list(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, json_t **out)
{
	struct call c = { .verb = "list", .method = "GET", .ref = ref, .safe = true, .max_body = MAX_BODY_LIST };
	char *path = kube_path(k, ref), num[32];
	struct strbuf sb;
	bool first = true;
	int rc;

	if (!path)
		return VIVA_EINVAL;
	sb_init(&sb);
	sb_adds(&sb, path);
	free(path);
	add_query(&sb, &first, "labelSelector", o->label_selector && *o->label_selector ? o->label_selector : NULL);
	add_query(&sb, &first, "fieldSelector", o->field_selector && *o->field_selector ? o->field_selector : NULL);
	if (o->limit > 0) {
		snprintf(num, sizeof(num), "%ld", o->limit);
		add_query(&sb, &first, "limit", num);
	}
	add_query(&sb, &first, "continue", o->continue_token && *o->continue_token ? o->continue_token : NULL);
	c.url = sb_detach(&sb);
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static int op_create(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
		     json_t **out)
{
	bool evict = ref->sub && strcmp(ref->sub, "eviction") == 0;
	struct call c = { .verb = evict ? "evict" : "create", .method = "POST", .ref = ref, .body = obj,
			  .ctype = "application/json", .safe = false, .max_body = MAX_BODY_OBJECT,
			  /* a PodDisruptionBudget's 429 is the drain's to wait out */
			  .no_retry_429 = evict };
	int rc;

	c.url = url_of(real(k), ref, o, !evict, false);
	if (!c.url)
		return VIVA_EINVAL;
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static int op_replace(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
		      json_t **out)
{
	struct call c = { .verb = "update", .method = "PUT", .ref = ref, .body = obj, .ctype = "application/json",
			  .safe = true, .max_body = MAX_BODY_OBJECT };
	int rc;

	c.url = url_of(real(k), ref, o, true, false);
	if (!c.url)
		return VIVA_EINVAL;
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static int op_patch(struct kube *k, const struct kube_ref *ref, enum kube_patch type, json_t *patch,
		    const struct kube_write_opts *o, json_t **out)
{
	static const char *const ctypes[] = {
		[KUBE_PATCH_MERGE] = "application/merge-patch+json",
		[KUBE_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
		[KUBE_PATCH_JSON] = "application/json-patch+json",
		[KUBE_PATCH_APPLY] = "application/apply-patch+yaml",
	};
	bool apply = type == KUBE_PATCH_APPLY;
	struct call c = { .verb = apply ? "apply" : "patch", .method = "PATCH", .ref = ref, .body = patch,
			  .ctype = ctypes[type], .max_body = MAX_BODY_OBJECT,
			  /* a JSON patch may add to a list: not safe to send twice */
			  .safe = type != KUBE_PATCH_JSON };
	int rc;

	/* JSON is YAML: an apply body is sent as JSON */
	c.url = url_of(real(k), ref, o, true, apply && o && o->force);
	if (!c.url)
		return VIVA_EINVAL;
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static int op_del(struct kube *k, const struct kube_ref *ref, const struct kube_write_opts *o, json_t **out)
{
	struct call c = { .verb = "delete", .method = "DELETE", .ref = ref, .ctype = "application/json", .safe = true,
			  .max_body = MAX_BODY_OBJECT };
	json_t *body = NULL;
	int rc;

	if (o && (o->propagation || o->set_grace)) {
		body = json_pack("{s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
		if (o->propagation)
			json_object_set_new(body, "propagationPolicy", json_string(o->propagation));
		if (o->set_grace)
			json_object_set_new(body, "gracePeriodSeconds", json_integer(o->grace_seconds));
		c.body = body;
	}
	c.url = url_of(real(k), ref, o, false, false);
	if (!c.url) {
		json_decref(body);
		return VIVA_EINVAL;
	}
	rc = call(real(k), &c, out);
	free(c.url);
	json_decref(body);
	return rc;
}

static int op_get_path(struct kube *k, const char *path, json_t **out)
{
	struct call c = { .verb = "get", .method = "GET", .safe = true, .max_body = MAX_BODY_OBJECT };
	int rc;

	if (!path || path[0] != '/' || strstr(path, "..") || strpbrk(path, "?# \t\r\n%"))
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: not an API path", k->cluster);
	c.url = xstrdup(path);
	rc = call(real(k), &c, out);
	free(c.url);
	return rc;
}

static void op_free(struct kube *k)
{
	struct kube_real *r = real(k);

	kube_exec_cache_free(r->exec);
	http_client_free(r->http);
	if (r->cert_conn) {
		http_client_free(r->cert_conn->http);
		free(r->cert_conn);
	}
	free_secret(r->file_token);
	free(r->peer);
	free(r->name);
	pthread_mutex_destroy(&r->mu);
	kube_target_release(&r->t);
	free(r);
}

static const struct kube_ops real_ops = {
	.get = op_get,
	.list = op_list,
	.create = op_create,
	.replace = op_replace,
	.patch = op_patch,
	.del = op_del,
	.get_path = op_get_path,
	.free = op_free,
};

static long pos_or(long v, long def)
{
	return v > 0 ? v : def;
}

struct kube *kube_new(struct kube_target *t, const struct kube_limits *lim, char *err, size_t errlen)
{
	struct kube_limits l = lim ? *lim : (struct kube_limits){ .max_retries = -1 };
	struct kube_real *r;

	if (!t || !t->server || !t->cluster) {
		viva_errf(err, errlen, "cluster %s: no API server", t && t->cluster ? t->cluster : "(unnamed)");
		if (t)
			kube_target_release(t);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->t = *t;
	memset(t, 0, sizeof(*t));
	l.connect_timeout_ms = pos_or(l.connect_timeout_ms, DEF_CONNECT_TIMEOUT_MS);
	l.timeout_ms = pos_or(l.timeout_ms, DEF_TIMEOUT_MS);
	l.deadline_ms = pos_or(l.deadline_ms, DEF_DEADLINE_MS);
	l.max_retries = l.max_retries < 0 ? DEF_MAX_RETRIES : l.max_retries > 10 ? 10 : l.max_retries;
	l.backoff_ms = pos_or(l.backoff_ms, DEF_BACKOFF_MS);
	l.max_retry_after_ms = pos_or(l.max_retry_after_ms, DEF_MAX_RETRY_AFTER_MS);
	l.max_callers = l.max_callers > 0 ? l.max_callers : DEF_MAX_CALLERS;
	r->lim = l;
	r->peer = xasprintf("the Kubernetes API of cluster %s at %s", r->t.cluster, r->t.server);
	r->name = xasprintf("kube:%s", r->t.cluster);
	/* kept: an exec plugin's client certificate gets a client like this one */
	r->ho = (struct http_client_opts){
		.name = r->name, .peer = r->peer, .base_url = r->t.server, .tls_hint = r->t.ca_hint,
		.limits = {
			.connect_timeout_ms = l.connect_timeout_ms, .timeout_ms = l.timeout_ms,
			.deadline_ms = l.deadline_ms, .max_retries = l.max_retries,
			.max_retry_after_ms = l.max_retry_after_ms, .max_sleep_ms = l.max_retry_after_ms,
		},
		.tls = {
			.ca_file = r->t.ca_file, .ca_pem = r->t.ca_pem, .cert_file = r->t.cert_file,
			.cert_pem = r->t.cert_pem, .key_file = r->t.key_file, .key_pem = r->t.key_pem,
			.insecure = r->t.insecure,
		},
		.max_callers = l.max_callers,
	};
	pthread_mutex_init(&r->mu, NULL);
	r->http = http_client_new(&r->ho);
	if (!r->http) {
		viva_errf(err, errlen, "cluster %s: the TLS settings from %s cannot be used (see the log)", r->t.cluster,
			  r->t.source ? r->t.source : "its configuration");
		op_free(&r->base);
		return NULL;
	}
	if (r->t.exec)
		r->exec = kube_exec_cache_new(&r->t, &(struct kube_exec_limits){
			.timeout_ms = l.exec_timeout_ms, .margin_s = l.exec_margin_s > 0 ? l.exec_margin_s : -1 });
	r->base.ops = &real_ops;
	r->base.cluster = r->t.cluster;
	r->base.ns = r->t.namespace_;
	r->base.creds = r->t.auth_source;
	log_info("kube client", "cluster=%s source=\"%s\" namespace=%s", r->t.cluster, r->t.source ? r->t.source : "",
		 r->t.namespace_ ? r->t.namespace_ : "default");
	return &r->base;
}
