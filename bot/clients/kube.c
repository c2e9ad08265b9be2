/*
 * The Kubernetes client as handlers see it (see kube.h): the entry points,
 * which check their arguments and call the struct kube_ops of the client at
 * hand (the real one, or a test's fake); what is built on the operations
 * (update with conflict retries, paging, scale, eviction); API paths; the
 * API's Status as one line; the per-thread last error; the clients of the
 * viva.yaml clusters.
 *
 * The client's files:
 *   kube.c          this
 *   kube_http.c     the real client: requests through bot/clients/http.h,
 *                   credentials, retries
 *   kube_exec.c     exec credential plugins and their cache
 *   kubeconfig*.c   targets: kubeconfig, in-cluster, KUBE_API_URL (kubeconfig.c
 *                   lists its files)
 */
#include "bot/clients/kube.h"
#include "bot/clients/kubeconfig.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/model/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_PAGE          500
#define LIST_MAX_ITEMS     100000
#define LIST_MAX_PAGES     10000
#define APPLY_TRIES        3
#define MAX_CAUSES_SHOWN   3
#define NAME_MAX_LEN       253

const struct kube_resource kube_namespaces = { "", "v1", "namespaces", false };
const struct kube_resource kube_nodes = { "", "v1", "nodes", false };
const struct kube_resource kube_pods = { "", "v1", "pods", true };
const struct kube_resource kube_services = { "", "v1", "services", true };
const struct kube_resource kube_secrets = { "", "v1", "secrets", true };
const struct kube_resource kube_configmaps = { "", "v1", "configmaps", true };
const struct kube_resource kube_events = { "", "v1", "events", true };
const struct kube_resource kube_deployments = { "apps", "v1", "deployments", true };
const struct kube_resource kube_cronjobs = { "batch", "v1", "cronjobs", true };
const struct kube_resource kube_jobs = { "batch", "v1", "jobs", true };
const struct kube_resource kube_leases = { "coordination.k8s.io", "v1", "leases", true };
const struct kube_resource kube_pdbs = { "policy", "v1", "poddisruptionbudgets", true };
const struct kube_resource kube_ssar = { "authorization.k8s.io", "v1", "selfsubjectaccessreviews", false };

/* ---- errors ----------------------------------------------------------------------- */

static _Thread_local struct {
	char msg[768];
	long status;
	char reason[64];
} last;

const char *kube_last_error(void)
{
	return last.msg;
}

long kube_last_status(void)
{
	return last.status;
}

const char *kube_last_reason(void)
{
	return last.reason;
}

void kube_clear_error(void)
{
	last.msg[0] = '\0';
	last.status = 0;
	last.reason[0] = '\0';
}

int kube_fail(int rc, long status, const char *reason, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	viva_errf(last.msg, sizeof(last.msg), "%s", msg);
	last.status = status;
	snprintf(last.reason, sizeof(last.reason), "%s", reason ? reason : "");
	return rc;
}

/* A fake that failed without a message still leaves one. */
static int ensure_message(const struct kube *k, int rc)
{
	if (rc < 0 && !last.msg[0])
		kube_fail(rc, last.status, last.reason, "cluster %s: the Kubernetes call failed: %s",
			  k && k->cluster ? k->cluster : "(unnamed)", viva_strerror(rc));
	return rc;
}

const char *kube_resource_name(const struct kube_resource *res, char *buf, size_t n)
{
	if (!res)
		snprintf(buf, n, "(no resource)");
	else if (res->group && *res->group)
		snprintf(buf, n, "%s.%s", res->resource, res->group);
	else
		snprintf(buf, n, "%s", res->resource);
	return buf;
}

static const char *cluster_of(const struct kube *k)
{
	return k && k->cluster ? k->cluster : "(unnamed)";
}

static const char *ns_of(const struct kube *k, const struct kube_ref *ref)
{
	if (!ref->res || !ref->res->namespaced)
		return NULL;
	if (ref->ns)
		return ref->ns;
	return k && k->ns ? k->ns : "default";
}

/* `deployments.apps "svc-a" in namespace prod`, for messages made here. */
static void describe(const struct kube *k, const struct kube_ref *ref, char *buf, size_t n)
{
	char res[128], name[96];
	const char *ns = ns_of(k, ref);

	kube_resource_name(ref->res, res, sizeof(res));
	if (ref->name)
		snprintf(buf, n, "%s \"%s\"%s%s%s%s", res, text_shown(ref->name, name, sizeof(name), 80),
			 ref->sub ? " " : "", ref->sub ? ref->sub : "", ns && *ns ? " in namespace " : "",
			 ns && *ns ? ns : "");
	else
		snprintf(buf, n, "%s%s%s", res, ns && *ns ? " in namespace " : "", ns && *ns ? ns : "");
}

static int code_rc(long status, const char *reason)
{
	switch (status) {
	case 400: case 405: case 406: case 415: case 422:
		return VIVA_EINVAL;
	case 401: case 403:
		return VIVA_EAUTH;
	case 404:
		return VIVA_ENOENT;
	case 409: case 410:
		return VIVA_ECONFLICT;
	case 413:
		return VIVA_ERANGE;
	case 429:
		return VIVA_EBUSY;
	case 503:
		return VIVA_EUNAVAIL;
	case 504:
		return VIVA_ETIMEOUT;
	default:
		break;
	}
	if (reason && strcmp(reason, "Timeout") == 0)
		return VIVA_ETIMEOUT;
	return VIVA_EREMOTE;
}

int kube_status_error(const struct kube *k, const struct kube_ref *ref, const char *verb, long status,
		      const char *body, size_t len)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *reason = json_string_value(json_object_get(j, "reason"));
	const char *message = json_string_value(json_object_get(j, "message"));
	const char *ns = ref ? ns_of(k, ref) : NULL;
	char msg[512], what[256], rbuf[64];
	struct strbuf sb;
	int rc;

	if (!kind || strcmp(kind, "Status") != 0)
		reason = message = NULL;
	rc = code_rc(status, reason);
	snprintf(rbuf, sizeof(rbuf), "%s", reason ? reason : "");
	if (ref)
		describe(k, ref, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "the API");
	sb_init(&sb);
	if (status == 401) {
		sb_addf(&sb, "cluster %s refused viva's credentials", cluster_of(k));
		if (k && k->creds)
			sb_addf(&sb, " (%s)", k->creds);
	} else if (message && *message) {
		text_shown(message, msg, sizeof(msg), 400);
		if (status == 404 || status == 409 || status == 400 || status == 422) {
			/* the API's own words, e.g. deployments.apps "x" not found,
			 * with the namespace it leaves out */
			sb_adds(&sb, msg);
			if (ns && *ns && (status == 404 || (reason && strcmp(reason, "AlreadyExists") == 0)) &&
			    !strstr(msg, "namespace"))
				sb_addf(&sb, " in namespace %s", ns);
		} else {
			sb_addf(&sb, "cluster %s: %s", cluster_of(k), msg);
		}
		/* an eviction or a validation says why in its causes */
		{
			json_t *causes = json_object_get(json_object_get(j, "details"), "causes"), *c;
			size_t i;
			int n = 0;

			json_array_foreach(causes, i, c) {
				const char *cm = json_string_value(json_object_get(c, "message"));
				const char *field = json_string_value(json_object_get(c, "field"));
				if (!cm || n >= MAX_CAUSES_SHOWN || strstr(msg, text_shown(cm, what, sizeof(what), 200)))
					continue;
				sb_addf(&sb, "%s%s%s%s", n ? "; " : ": ", field ? field : "", field ? " " : "",
					text_shown(cm, what, sizeof(what), 200));
				n++;
			}
		}
	} else if (status == 404) {
		char res[128];
		/* no Status: the path itself is unknown (a resource the cluster does not serve) */
		kube_resource_name(ref ? ref->res : NULL, res, sizeof(res));
		if (ref && ref->name) {
			char name[96];
			sb_addf(&sb, "%s \"%s\" not found%s%s", res, text_shown(ref->name, name, sizeof(name), 80),
				ns && *ns ? " in namespace " : "", ns && *ns ? ns : "");
		}
		else
			sb_addf(&sb, "cluster %s does not serve %s/%s", cluster_of(k), res,
				ref && ref->res ? ref->res->version : "?");
	} else {
		sb_addf(&sb, "cluster %s answered HTTP %ld to %s %s", cluster_of(k), status, verb ? verb : "a request",
			what);
	}
	kube_fail(rc, status, rbuf, "%s", sb.buf);
	sb_release(&sb);
	json_decref(j);
	return rc;
}

/* ---- paths -------------------------------------------------------------------------- */

static bool lower_token(const char *s, bool dots)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || (dots && *s == '.')))
			return false;
	return true;
}

/* An object name viva may put in a path: no '/', '%', '?', '#', blanks,
 * control characters; not "." or "..". (RBAC names hold ':'.) */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.' || *s == '_' || *s == ':' || *s == '@'))
			return false;
	return true;
}

char *kube_path(const struct kube *k, const struct kube_ref *ref)
{
	const struct kube_resource *r = ref ? ref->res : NULL;
	const char *ns;
	char buf[96];
	struct strbuf sb;

	if (!r || !lower_token(r->resource, false) || !lower_token(r->version, false) ||
	    (r->group && *r->group && !lower_token(r->group, true))) {
		kube_fail(VIVA_EINVAL, 0, "", "cluster %s: not a resource viva can name", cluster_of(k));
		return NULL;
	}
	ns = ns_of(k, ref);
	if (ns && *ns && !is_dns1123_label(ns)) {
		kube_fail(VIVA_EINVAL, 0, "", "'%s' is not a namespace name", text_shown(ns, buf, sizeof(buf), 64));
		return NULL;
	}
	if (ns && !*ns && ref->name) {
		kube_fail(VIVA_EINVAL, 0, "", "cluster %s: an object needs a namespace", cluster_of(k));
		return NULL;
	}
	if (ref->name && !name_ok(ref->name)) {
		kube_fail(VIVA_EINVAL, 0, "", "'%s' is not an object name", text_shown(ref->name, buf, sizeof(buf), 64));
		return NULL;
	}
	if (ref->sub && (!ref->name || !lower_token(ref->sub, false))) {
		kube_fail(VIVA_EINVAL, 0, "", "cluster %s: not a subresource viva can name", cluster_of(k));
		return NULL;
	}
	sb_init(&sb);
	if (r->group && *r->group)
		sb_addf(&sb, "/apis/%s/%s", r->group, r->version);
	else
		sb_addf(&sb, "/api/%s", r->version);
	if (ns && *ns)
		sb_addf(&sb, "/namespaces/%s", ns);
	sb_addf(&sb, "/%s", r->resource);
	if (ref->name)
		sb_addf(&sb, "/%s", ref->name);
	if (ref->sub)
		sb_addf(&sb, "/%s", ref->sub);
	return sb_detach(&sb);
}

/* ---- entry points ------------------------------------------------------------------------- */

/* Common checks: a client with the operation, a ref that makes a path. */
static int check(struct kube *k, const struct kube_ref *ref, const void *op, bool named)
{
	char *p;

	kube_clear_error();
	if (!k || !k->ops)
		return kube_fail(VIVA_EUNAVAIL, 0, "", "no Kubernetes cluster is configured");
	if (!op)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: this client cannot do that", cluster_of(k));
	if (!ref)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: no object named", cluster_of(k));
	if (named != (ref->name != NULL))
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: %s", cluster_of(k),
				 named ? "the object has no name" : "a collection has no name");
	p = kube_path(k, ref);
	if (!p)
		return VIVA_EINVAL;
	free(p);
	return VIVA_OK;
}

static void out_null(json_t **out)
{
	if (out)
		*out = NULL;
}

int kube_get(struct kube *k, const struct kube_ref *ref, json_t **out)
{
	int rc;

	out_null(out);
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->get : NULL, true);
	if (rc == VIVA_OK)
		rc = k->ops->get(k, ref, out);
	return ensure_message(k, rc);
}

int kube_list(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, json_t **out)
{
	struct kube_list_opts none = { 0 };
	int rc;

	out_null(out);
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->list : NULL, false);
	if (rc == VIVA_OK)
		rc = k->ops->list(k, ref, o ? o : &none, out);
	return ensure_message(k, rc);
}

int kube_create(struct kube *k, const struct kube_ref *ref, json_t *obj, json_t **out)
{
	int rc;

	out_null(out);
	/* a subresource (eviction) is created under a named object */
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->create : NULL, ref && ref->sub);
	if (rc == VIVA_OK && !json_is_object(obj))
		rc = kube_fail(VIVA_EINVAL, 0, "", "cluster %s: nothing to create", cluster_of(k));
	if (rc == VIVA_OK)
		rc = k->ops->create(k, ref, obj, NULL, out);
	return ensure_message(k, rc);
}

int kube_replace(struct kube *k, const struct kube_ref *ref, json_t *obj, json_t **out)
{
	int rc;

	out_null(out);
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->replace : NULL, true);
	if (rc == VIVA_OK && !json_is_object(obj))
		rc = kube_fail(VIVA_EINVAL, 0, "", "cluster %s: nothing to write", cluster_of(k));
	if (rc == VIVA_OK)
		rc = k->ops->replace(k, ref, obj, NULL, out);
	return ensure_message(k, rc);
}

int kube_patch(struct kube *k, const struct kube_ref *ref, enum kube_patch type, json_t *patch,
	       const struct kube_write_opts *o, json_t **out)
{
	int rc;

	out_null(out);
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->patch : NULL, true);
	if (rc == VIVA_OK && !(type == KUBE_PATCH_JSON ? json_is_array(patch) : json_is_object(patch)))
		rc = kube_fail(VIVA_EINVAL, 0, "", "cluster %s: a %s patch must be %s", cluster_of(k),
			       type == KUBE_PATCH_JSON ? "JSON" : "merge or apply",
			       type == KUBE_PATCH_JSON ? "a list of operations" : "an object");
	if (rc == VIVA_OK && (type < KUBE_PATCH_MERGE || type > KUBE_PATCH_APPLY))
		rc = kube_fail(VIVA_EINVAL, 0, "", "cluster %s: unknown patch type", cluster_of(k));
	if (rc == VIVA_OK)
		rc = k->ops->patch(k, ref, type, patch, o, out);
	return ensure_message(k, rc);
}

int kube_apply(struct kube *k, const struct kube_ref *ref, json_t *obj, const struct kube_write_opts *o,
	       json_t **out)
{
	struct kube_write_opts force = { .force = true };
	const struct kube_write_opts *w = o ? o : &force;
	int rc = VIVA_OK;

	for (int i = 1; i <= APPLY_TRIES; i++) {
		rc = kube_patch(k, ref, KUBE_PATCH_APPLY, obj, w, out);
		/* a forced apply owns every field it sends: a 409 is an object
		 * that changed under it (a resourceVersion precondition), and
		 * sending the same intent again is the fresh attempt */
		if (rc != VIVA_ECONFLICT || !w->force || strcmp(kube_last_reason(), "Conflict") != 0)
			break;
		if (i < APPLY_TRIES) {
			struct timespec ts = { 0, 20000000L * i };
			log_info("kube apply conflict, sending again", "cluster=%s try=%d", cluster_of(k), i);
			nanosleep(&ts, NULL);
		}
	}
	return rc;
}

int kube_delete(struct kube *k, const struct kube_ref *ref, const struct kube_write_opts *o, json_t **out)
{
	int rc;

	out_null(out);
	rc = check(k, ref, k && k->ops ? (const void *)k->ops->del : NULL, true);
	if (rc == VIVA_OK && o && o->propagation && strcmp(o->propagation, "Foreground") != 0 &&
	    strcmp(o->propagation, "Background") != 0 && strcmp(o->propagation, "Orphan") != 0)
		rc = kube_fail(VIVA_EINVAL, 0, "", "cluster %s: propagationPolicy must be Foreground, Background "
			       "or Orphan", cluster_of(k));
	if (rc == VIVA_OK)
		rc = k->ops->del(k, ref, o, out);
	return ensure_message(k, rc);
}

int kube_update(struct kube *k, const struct kube_ref *ref, kube_mutate_fn mutate, void *ud, json_t **out)
{
	char what[256];
	int rc = VIVA_OK;

	out_null(out);
	if (!mutate)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: no change to make", cluster_of(k));
	for (int i = 1; i <= KUBE_CONFLICT_TRIES; i++) {
		json_t *obj = NULL;
		int mrc;

		rc = kube_get(k, ref, &obj);
		if (rc != VIVA_OK)
			return rc;
		kube_clear_error();
		mrc = mutate(obj, ud);
		if (mrc < 0) {
			json_decref(obj);
			return ensure_message(k, mrc);
		}
		if (mrc == KUBE_UNCHANGED) {
			if (out)
				*out = obj;
			else
				json_decref(obj);
			return VIVA_OK;
		}
		/* obj keeps the resourceVersion it was read with: a write over
		 * someone else's change is refused (409), never lost */
		rc = kube_replace(k, ref, obj, out);
		json_decref(obj);
		if (rc != VIVA_ECONFLICT || strcmp(kube_last_reason(), "Conflict") != 0)
			return rc;
		log_info("kube update conflict, reading again", "cluster=%s try=%d", cluster_of(k), i);
		if (i < KUBE_CONFLICT_TRIES) {
			struct timespec ts = { 0, 10000000L * i };
			nanosleep(&ts, NULL);
		}
	}
	describe(k, ref, what, sizeof(what));
	return kube_fail(VIVA_ECONFLICT, 409, "Conflict", "%s kept changing while viva updated it (%d tries); "
			 "try again", what, KUBE_CONFLICT_TRIES);
}

int kube_list_all(struct kube *k, const struct kube_ref *ref, const struct kube_list_opts *o, size_t max_items,
		  json_t **items)
{
	struct kube_list_opts lo = o ? *o : (struct kube_list_opts){ 0 };
	json_t *all = json_array();
	char *cont = NULL, what[256];
	bool restarted = false;
	int rc = VIVA_OK;
	long pages = 0, max_pages;

	if (items)
		*items = NULL;
	if (max_items == 0)
		max_items = LIST_MAX_ITEMS;
	if (lo.limit <= 0)
		lo.limit = LIST_PAGE;
	max_pages = (long)(max_items / (size_t)lo.limit) + 2;
	if (max_pages > LIST_MAX_PAGES)
		max_pages = LIST_MAX_PAGES;
	lo.continue_token = NULL;
	for (;;) {
		json_t *page = NULL, *arr, *it;
		const char *next;
		size_t i;

		if (pages++ >= max_pages) {
			describe(k, ref, what, sizeof(what));
			rc = kube_fail(VIVA_ERANGE, 0, "", "%s: more than %ld pages of %ld", what, max_pages, lo.limit);
			break;
		}
		lo.continue_token = cont;
		rc = kube_list(k, ref, &lo, &page);
		if (rc == VIVA_ECONFLICT && cont && !restarted && kube_last_status() == 410) {
			/* the continue token expired: read the list again, whole */
			log_info("kube list continue expired, listing again", "cluster=%s", cluster_of(k));
			restarted = true;
			json_array_clear(all);
			free(cont);
			cont = NULL;
			lo.limit = 0;
			pages = 0;
			continue;
		}
		if (rc != VIVA_OK)
			break;
		arr = json_object_get(page, "items");
		if (arr && !json_is_array(arr) && !json_is_null(arr)) {
			json_decref(page);
			rc = kube_fail(VIVA_EREMOTE, 200, "", "cluster %s answered a list without items", cluster_of(k));
			break;
		}
		json_array_foreach(arr, i, it)
			json_array_append(all, it);
		if (json_array_size(all) > max_items) {
			json_decref(page);
			describe(k, ref, what, sizeof(what));
			rc = kube_fail(VIVA_ERANGE, 0, "", "more than %zu %s", max_items, what);
			break;
		}
		next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
		if (!next || !*next || lo.limit == 0) {
			json_decref(page);
			break;
		}
		if (cont && strcmp(next, cont) == 0) {
			json_decref(page);
			rc = kube_fail(VIVA_EREMOTE, 200, "", "cluster %s answered the same continue token twice",
				       cluster_of(k));
			break;
		}
		free(cont);
		cont = xstrdup(next);
		json_decref(page);
	}
	free(cont);
	if (rc == VIVA_OK && items)
		*items = all;
	else
		json_decref(all);
	return rc;
}

int kube_get_scale(struct kube *k, const struct kube_ref *ref, long *replicas)
{
	struct kube_ref r = *ref;
	json_t *s = NULL, *v;
	int rc;

	if (replicas)
		*replicas = 0;
	r.sub = "scale";
	rc = kube_get(k, &r, &s);
	if (rc != VIVA_OK)
		return rc;
	v = json_object_get(json_object_get(s, "spec"), "replicas");
	if (replicas)
		*replicas = json_is_integer(v) ? (long)json_integer_value(v) : 0;
	json_decref(s);
	return VIVA_OK;
}

int kube_scale(struct kube *k, const struct kube_ref *ref, long replicas, json_t **out)
{
	struct kube_ref r = *ref;
	json_t *p;
	int rc;

	out_null(out);
	if (replicas < 0)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: replicas cannot be negative", cluster_of(k));
	r.sub = "scale";
	p = json_pack("{s:{s:I}}", "spec", "replicas", (json_int_t)replicas);
	rc = kube_patch(k, &r, KUBE_PATCH_MERGE, p, NULL, out);
	json_decref(p);
	return rc;
}

int kube_evict(struct kube *k, const char *ns, const char *pod, long grace_seconds)
{
	struct kube_ref r = { .res = &kube_pods, .ns = ns, .name = pod, .sub = "eviction" };
	const char *n = ns ? ns : k && k->ns ? k->ns : "default";
	json_t *ev;
	int rc;

	if (!pod)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: no pod to evict", cluster_of(k));
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "policy/v1", "kind", "Eviction", "metadata", "name",
		       pod, "namespace", n);
	if (!ev)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: the pod name is not text", cluster_of(k));
	if (grace_seconds >= 0)
		json_object_set_new(ev, "deleteOptions", json_pack("{s:I}", "gracePeriodSeconds", (json_int_t)grace_seconds));
	rc = kube_create(k, &r, ev, NULL);
	json_decref(ev);
	return rc;
}

int kube_version(struct kube *k, json_t **out)
{
	int rc;

	out_null(out);
	kube_clear_error();
	if (!k || !k->ops)
		return kube_fail(VIVA_EUNAVAIL, 0, "", "no Kubernetes cluster is configured");
	if (!k->ops->get_path)
		return kube_fail(VIVA_EINVAL, 0, "", "cluster %s: this client cannot do that", cluster_of(k));
	rc = k->ops->get_path(k, "/version", out);
	return ensure_message(k, rc);
}

void kube_free(struct kube *k)
{
	if (k && k->ops && k->ops->free)
		k->ops->free(k);
}

/* ---- clients per cluster ------------------------------------------------------------------ */

struct kube_clients {
	char **names;
	struct kube **clients;
	size_t n;
};

struct kube_clients *kube_clients_empty(void)
{
	return xcalloc(1, sizeof(struct kube_clients));
}

void kube_clients_add(struct kube_clients *s, const char *cluster, struct kube *k)
{
	s->names = xrealloc(s->names, (s->n + 1) * sizeof(char *));
	s->clients = xrealloc(s->clients, (s->n + 1) * sizeof(struct kube *));
	s->names[s->n] = xstrdup(cluster);
	s->clients[s->n] = k;
	s->n++;
}

void kube_clients_free(struct kube_clients *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->names[i]);
		kube_free(s->clients[i]);
	}
	free(s->names);
	free(s->clients);
	free(s);
}

struct kube *kube_clients_get(struct kube_clients *s, const char *cluster)
{
	for (size_t i = 0; s && cluster && i < s->n; i++)
		if (strcmp(s->names[i], cluster) == 0)
			return s->clients[i];
	return NULL;
}

int kube_clients_new(const struct viva_config *cfg, const struct kube_resolve_opts *o,
		     const struct kube_limits *lim, struct kube_clients **out, char *err, size_t errlen)
{
	struct kube_clients *s = kube_clients_empty();

	*out = NULL;
	for (size_t i = 0; cfg && i < cfg->n_clusters; i++) {
		struct kube_target t;
		struct kube *k;
		int rc = kube_target_resolve(cfg, &cfg->clusters[i], o, &t, err, errlen);

		if (rc != VIVA_OK) {
			kube_clients_free(s);
			return rc;
		}
		k = kube_new(&t, lim, err, errlen);
		if (!k) {
			kube_clients_free(s);
			return VIVA_EINVAL;
		}
		kube_clients_add(s, cfg->clusters[i].name, k);
	}
	*out = s;
	return VIVA_OK;
}

int kube_for_env(struct kube_clients *s, const struct viva_config *cfg, const char *env, struct kube **k,
		 const char **ns)
{
	const struct config_env *e = cfg && env ? config_env_find(cfg, env) : NULL;
	char buf[96];

	kube_clear_error();
	*k = NULL;
	if (ns)
		*ns = NULL;
	if (!e)
		return kube_fail(VIVA_ENOENT, 0, "", "viva.yaml has no environment '%s' (add it under environments)",
				 text_shown(env, buf, sizeof(buf), 63));
	*k = kube_clients_get(s, e->cluster);
	if (!*k)
		return kube_fail(VIVA_EUNAVAIL, 0, "", "cluster %s of environment %s has no Kubernetes client", e->cluster,
				 e->name);
	if (ns)
		*ns = e->namespace_ ? e->namespace_ : (*k)->ns;
	return VIVA_OK;
}
