/*
 * The REST semantics of the fake API server: a request's route (group,
 * version, namespace, resource, name, subresource) and verb, then get, list
 * (selectors, limit/continue paging), watch, create, update, patch (four
 * types), delete (propagationPolicy, finalizers, graceful pods),
 * deletecollection, and the status, scale and eviction subresources. Errors
 * are the API server's Status objects with its messages. Runs with k->mu
 * held; never blocks.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char MSG_NOT_FOUND_PATH[] = "the server could not find the requested resource";
static const char MSG_METHOD[] = "the server does not allow this method on the requested resource";
static const char MSG_OPTIMISTIC[] =
	"the object has been modified; please apply your changes to the latest version and try again";

/* ---- Status objects ------------------------------------------------------------------ */

json_t *kf_status(int code, const char *reason, const char *message, json_t *details)
{
	json_t *st = json_pack("{s:s, s:s, s:{}, s:s}", "kind", "Status", "apiVersion", "v1", "metadata", "status",
			       code < 300 ? "Success" : "Failure");

	if (message)
		json_object_set_new(st, "message", json_string(message));
	if (reason && reason[0])
		json_object_set_new(st, "reason", json_string(reason));
	if (details)
		json_object_set_new(st, "details", details);
	json_object_set_new(st, "code", json_integer(code));
	return st;
}

json_t *kf_status_f(int code, const char *reason, json_t *details, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	json_t *st;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	st = kf_status(code, reason, msg ? msg : "", details);
	free(msg);
	return st;
}

int kf_status_code(json_t *status)
{
	return (int)json_integer_value(json_object_get(status, "code"));
}

char *go_quote(const char *s)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_addc(&sb, '"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			sb_addc(&sb, '\\');
			sb_addc(&sb, (char)c);
		} else if (c == '\n') {
			sb_adds(&sb, "\\n");
		} else if (c == '\t') {
			sb_adds(&sb, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			sb_addf(&sb, "\\x%02x", c);
		} else {
			sb_addc(&sb, (char)c);
		}
	}
	sb_addc(&sb, '"');
	return sb_detach(&sb);
}

static json_t *details(const struct kr *r, const char *name)
{
	json_t *d = json_object();

	if (name && name[0])
		json_object_set_new(d, "name", json_string(name));
	if (r && r->group[0])
		json_object_set_new(d, "group", json_string(r->group));
	if (r)
		json_object_set_new(d, "kind", json_string(r->resource));
	return d;
}

json_t *kf_not_found(const struct kr *r, const char *name)
{
	char q[128];
	char *qn = go_quote(name);
	json_t *st;

	kr_qualified(r, q, sizeof(q));
	st = kf_status_f(404, "NotFound", details(r, name), "%s %s not found", q, qn);
	free(qn);
	return st;
}

json_t *kf_conflict(const struct kr *r, const char *name, const char *why)
{
	char q[128];
	char *qn = go_quote(name ? name : "");
	json_t *st;

	kr_qualified(r, q, sizeof(q));
	st = kf_status_f(409, "Conflict", details(r, name), "Operation cannot be fulfilled on %s %s: %s", q, qn, why);
	free(qn);
	return st;
}

static json_t *already_exists(const struct kr *r, const char *name)
{
	char q[128];
	char *qn = go_quote(name);
	json_t *st;

	kr_qualified(r, q, sizeof(q));
	st = kf_status_f(409, "AlreadyExists", details(r, name), "%s %s already exists", q, qn);
	free(qn);
	return st;
}

json_t *kf_bad_request(const char *fmt, ...)
{
	va_list ap;
	char *msg;
	json_t *st;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	st = kf_status(400, "BadRequest", msg ? msg : "", NULL);
	free(msg);
	return st;
}

static json_t *forbidden(const struct kr *r, const char *name, const char *why, json_t *causes)
{
	char q[128];
	char *qn = go_quote(name ? name : "");
	json_t *d = details(r, name), *st;

	if (causes)
		json_object_set_new(d, "causes", causes);
	kr_qualified(r, q, sizeof(q));
	if (name && name[0])
		st = kf_status_f(403, "Forbidden", d, "%s %s is forbidden: %s", q, qn, why);
	else
		st = kf_status_f(403, "Forbidden", d, "%s is forbidden: %s", q, why);
	free(qn);
	return st;
}

static json_t *path_not_found(void)
{
	return kf_status(404, "NotFound", MSG_NOT_FOUND_PATH, json_object());
}

static json_t *method_not_allowed(void)
{
	return kf_status(405, "MethodNotAllowed", MSG_METHOD, json_object());
}

void ferr_init(struct kf_errs *e)
{
	e->causes = json_array();
	e->msgs = json_array();
}

void ferr_release(struct kf_errs *e)
{
	json_decref(e->causes);
	json_decref(e->msgs);
	e->causes = e->msgs = NULL;
}

void ferr_add(struct kf_errs *e, const char *type, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *body;

	va_start(ap, fmt);
	if (vasprintf(&body, fmt, ap) < 0)
		body = NULL;
	va_end(ap);
	json_array_append_new(e->causes, json_pack("{s:s, s:s, s:s}", "reason", type, "message", body ? body : "",
						   "field", field));
	json_array_append_new(e->msgs, json_sprintf("%s: %s", field, body ? body : ""));
	free(body);
}

size_t ferr_count(const struct kf_errs *e)
{
	return json_array_size(e->msgs);
}

json_t *kf_invalid(const char *group, const char *kind, const char *name, struct kf_errs *e)
{
	struct strbuf sb;
	json_t *d = json_object(), *m, *st;
	char *qn = go_quote(name ? name : "");
	size_t i, n = json_array_size(e->msgs);

	sb_init(&sb);
	if (group && group[0])
		sb_addf(&sb, "%s.%s %s is invalid", kind, group, qn);
	else
		sb_addf(&sb, "%s %s is invalid", kind, qn);
	if (n) {
		sb_adds(&sb, ": ");
		if (n > 1)
			sb_addc(&sb, '[');
		json_array_foreach(e->msgs, i, m) {
			if (i)
				sb_adds(&sb, ", ");
			sb_adds(&sb, json_string_value(m));
		}
		if (n > 1)
			sb_addc(&sb, ']');
	}
	if (name && name[0])
		json_object_set_new(d, "name", json_string(name));
	if (group && group[0])
		json_object_set_new(d, "group", json_string(group));
	json_object_set_new(d, "kind", json_string(kind));
	json_object_set(d, "causes", e->causes);
	st = kf_status(422, "Invalid", sb.buf, d);
	sb_release(&sb);
	free(qn);
	ferr_release(e);
	return st;
}

/* ---- routes ------------------------------------------------------------------------------ */

struct route {
	const struct kr *r;
	char ns[256];
	char name[256];
	char sub[32];
	bool has_ns;
	bool has_name;
};

static int split(const char *path, char parts[8][256])
{
	int n = 0;

	for (const char *p = path; *p && n <= 8;) {
		size_t len;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		if (n == 8 || len >= 256)
			return -1;
		memcpy(parts[n], p, len);
		parts[n][len] = '\0';
		n++;
		p += len;
	}
	return n;
}

/* 0, or -1 when the path names no resource the fake serves. */
static int parse_route(const char *path, struct route *rt)
{
	char parts[8][256];
	int n = split(path, parts), i;
	const char *group, *version;

	memset(rt, 0, sizeof(*rt));
	if (n < 3)
		return -1;
	if (strcmp(parts[0], "api") == 0) {
		group = "";
		version = parts[1];
		i = 2;
	} else if (strcmp(parts[0], "apis") == 0 && n >= 4) {
		group = parts[1];
		version = parts[2];
		i = 3;
	} else {
		return -1;
	}
	if (strcmp(parts[i], "namespaces") == 0 && n - i >= 3) {
		/* /namespaces/NS/RES[/NAME[/SUB]], or a namespace's own subresource */
		const struct kr *nsr = kr_find("", "v1", "namespaces");
		if (group[0] == '\0' && n - i == 3 && (strcmp(parts[i + 2], "status") == 0 ||
						       strcmp(parts[i + 2], "finalize") == 0)) {
			rt->r = nsr;
			snprintf(rt->name, sizeof(rt->name), "%s", parts[i + 1]);
			rt->has_name = true;
			snprintf(rt->sub, sizeof(rt->sub), "%s", parts[i + 2]);
			return strcmp(version, "v1") == 0 ? 0 : -1;
		}
		snprintf(rt->ns, sizeof(rt->ns), "%s", parts[i + 1]);
		rt->has_ns = true;
		i += 2;
	}
	rt->r = kr_find(group, version, parts[i]);
	if (!rt->r)
		return -1;
	if (rt->has_ns && !rt->r->namespaced)
		return -1;
	if (n - i >= 2) {
		snprintf(rt->name, sizeof(rt->name), "%s", parts[i + 1]);
		rt->has_name = true;
	}
	if (n - i == 3) {
		snprintf(rt->sub, sizeof(rt->sub), "%s", parts[i + 2]);
		if (strcmp(rt->sub, "status") == 0 && (rt->r->flags & KR_STATUS))
			return 0;
		if (strcmp(rt->sub, "scale") == 0 && (rt->r->flags & KR_SCALE))
			return 0;
		if (strcmp(rt->r->resource, "pods") == 0 && (strcmp(rt->sub, "eviction") == 0 || strcmp(rt->sub, "log") == 0))
			return 0;
		return -1;
	}
	return n - i > 3 ? -1 : 0;
}

/* ---- small helpers on objects ---------------------------------------------------------------- */

static json_t *meta(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(obj, "metadata", m);
	}
	return m;
}

static const char *mstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void set_kind(const struct kr *r, json_t *obj)
{
	char av[96];

	kr_api_version(r, av, sizeof(av));
	json_object_set_new(obj, "apiVersion", json_string(av));
	json_object_set_new(obj, "kind", json_string(r->kind));
}

/* The object with kind and apiVersion first, as the API server writes them. */
static json_t *ordered(json_t *obj)
{
	json_t *out = json_object(), *v;
	const char *key;

	json_object_set(out, "kind", json_object_get(obj, "kind"));
	json_object_set(out, "apiVersion", json_object_get(obj, "apiVersion"));
	json_object_foreach(obj, key, v)
		if (strcmp(key, "kind") && strcmp(key, "apiVersion"))
			json_object_set(out, key, v);
	return out;
}

/* Remove JSON nulls (Go's typed decoding drops them), except where noted. */
static void strip_nulls(json_t *j)
{
	const char *key;
	void *tmp;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach_safe(j, tmp, key, v) {
			if (json_is_null(v))
				json_object_del(j, key);
			else
				strip_nulls(v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			strip_nulls(v);
	}
}

/* Drop what Go's omitempty drops in ObjectMeta. */
static void tidy_meta(json_t *obj)
{
	static const char *const keys[] = { "labels", "annotations", "finalizers", "ownerReferences", "managedFields",
					    "generateName", "namespace", NULL };
	json_t *m = json_object_get(obj, "metadata");

	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(m, keys[i]);
		if (v && ((json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
			  (json_is_string(v) && json_string_length(v) == 0)))
			json_object_del(m, keys[i]);
	}
}

static const char *manager_of(struct kf_req *req)
{
	static __thread char buf[130];
	const char *fm = q_get(&req->q, "fieldManager");
	size_t n;

	if (fm && fm[0])
		return fm;
	n = req->user_agent ? strcspn(req->user_agent, "/") : 0;
	snprintf(buf, sizeof(buf), "%.*s", (int)(n > 128 ? 128 : n), req->user_agent ? req->user_agent : "");
	return buf;
}

static bool dry_run(struct kf_req *req)
{
	const char *d = q_get(&req->q, "dryRun");
	return d && strcmp(d, "All") == 0;
}

/* ---- request bodies ------------------------------------------------------------------------------ */

static bool ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* A create/update body: JSON or YAML, one object. NULL + *st on failure. */
static json_t *decode_object(struct kf_req *req, const struct kr *r, json_t **st)
{
	json_t *obj = NULL;
	json_error_t jerr;
	const char *ct = req->content_type;

	if (!ct || !ct[0] || ctype_is(ct, "application/json") || ctype_is(ct, "*/*")) {
		obj = json_loadb(req->body ? req->body : "", req->body_len, JSON_DECODE_ANY, &jerr);
		if (!obj) {
			*st = kf_bad_request("couldn't get version/kind; json parse error: %s", jerr.text);
			return NULL;
		}
	} else if (ctype_is(ct, "application/yaml")) {
		char *err = NULL;
		json_t *docs = kf_yaml_to_json(req->body ? req->body : "", req->body_len, &err);
		if (!docs) {
			*st = kf_bad_request("couldn't get version/kind; json parse error: %s", err ? err : "invalid YAML");
			free(err);
			return NULL;
		}
		obj = json_incref(json_array_get(docs, 0));
		json_decref(docs);
		if (!obj)
			obj = json_null();
	} else {
		*st = kf_status(415, "UnsupportedMediaType",
				"the body of the request was in an unknown format - accepted media types include: "
				"application/json, application/yaml, application/vnd.kubernetes.protobuf",
				NULL);
		return NULL;
	}
	if (!json_is_object(obj)) {
		*st = kf_bad_request("couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go value "
				     "of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string "
				     "\"json:\\\"kind,omitempty\\\"\" }",
				     json_is_array(obj) ? "array" : json_is_string(obj) ? "string" : "number");
		json_decref(obj);
		return NULL;
	}
	(void)r;
	return obj;
}

/*
 * Kind and apiVersion default to the endpoint's; a different group/version
 * or kind is refused as the API server refuses it. Then the types of the
 * fields, then unknown fields by fieldValidation. NULL or a Status.
 */
static json_t *check_decoded(struct kf_req *req, const struct kr *r, json_t *obj, struct kf_resp *resp)
{
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *fv = q_get(&req->q, "fieldValidation");
	char want_av[96];
	char *terr;
	json_t *unknown;

	kr_api_version(r, want_av, sizeof(want_av));
	if (fv && fv[0] && strcmp(fv, "Ignore") && strcmp(fv, "Warn") && strcmp(fv, "Strict"))
		return kf_bad_request("fieldValidation: Unsupported value: \"%s\": supported values: \"Ignore\", \"Strict\", \"Warn\"", fv);
	if (av && av[0] && strcmp(av, want_av) != 0) {
		if (kr_by_kind(av, kind ? kind : ""))
			return kf_bad_request("the API version in the data (%s) does not match the expected API version (%s)", av,
					      want_av);
		return kf_bad_request("%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is registered for "
				      "version \"%s\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
				      kind ? kind : "", strchr(av, '/') ? strchr(av, '/') + 1 : av, r->kind, kind ? kind : "", av);
	}
	if (kind && kind[0] && strcmp(kind, r->kind) != 0) {
		if (kr_by_kind(want_av, kind))
			return kf_bad_request("the object provided is unrecognized (must be of type %s): kind %s does not "
					      "match the resource", r->kind, kind);
		return kf_bad_request("%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is registered for "
				      "version \"%s\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
				      kind, r->version, r->kind, kind, want_av);
	}
	set_kind(r, obj);
	terr = schema_type_error(schema_for(r), obj);
	if (terr) {
		json_t *st = kf_bad_request("%s in version \"%s\" cannot be handled as a %s: %s", r->kind, r->version,
					    r->kind, terr);
		free(terr);
		return st;
	}
	unknown = json_array();
	schema_unknown(schema_for(r), obj, "", unknown, true);
	if (json_array_size(unknown)) {
		size_t i;
		json_t *u;
		if (fv && strcmp(fv, "Strict") == 0) {
			struct strbuf sb;
			json_t *st;
			sb_init(&sb);
			json_array_foreach(unknown, i, u)
				sb_addf(&sb, "%sunknown field \"%s\"", i ? ", " : "", json_string_value(u));
			st = kf_bad_request("%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s", r->kind,
					    r->version, r->kind, sb.buf);
			sb_release(&sb);
			json_decref(unknown);
			return st;
		}
		if (!fv || !fv[0] || strcmp(fv, "Warn") == 0) {
			if (!resp->warnings)
				resp->warnings = json_array();
			json_array_foreach(unknown, i, u)
				json_array_append_new(resp->warnings, json_sprintf("unknown field \"%s\"", json_string_value(u)));
		}
	}
	json_decref(unknown);
	strip_nulls(obj);
	return NULL;
}

/* ---- the write path ---------------------------------------------------------------------------------- */

static const char GEN_CHARS[] = "bcdfghjklmnpqrstvwxz2456789";

static json_t *namespace_check(struct fake_kube *k, const struct kr *r, const char *ns, const char *name)
{
	const struct kr *nsr = kr_find("", "v1", "namespaces");
	json_t *nso;

	if (!r->namespaced)
		return NULL;
	nso = store_get(&k->st, nsr, NULL, ns);
	if (!nso)
		return kf_not_found(nsr, ns);
	if (json_object_get(json_object_get(nso, "metadata"), "deletionTimestamp")) {
		char *why = xasprintf("unable to create new content in namespace %s because it is being terminated", ns);
		json_t *st = forbidden(r, name, why,
				       json_pack("[{s:s, s:s, s:s}]", "reason", "NamespaceTerminating", "message",
						 "namespace is being terminated", "field", "metadata.namespace"));
		json_t *c = json_array_get(json_object_get(json_object_get(st, "details"), "causes"), 0);
		json_object_set_new(c, "message", json_sprintf("namespace %s is being terminated", ns));
		free(why);
		return st;
	}
	return NULL;
}

/*
 * A new object as the API server stores it: system fields, defaults,
 * validation, managedFields. obj is modified in place. NULL or a Status.
 */
static json_t *prepare_create(struct fake_kube *k, const struct kr *r, const char *req_ns, json_t *obj,
			      const char *manager, bool keep_status)
{
	json_t *m = meta(obj), *st;
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *gen = json_string_value(json_object_get(m, "generateName"));
	const char *ns = json_string_value(json_object_get(m, "namespace"));
	char ts[32];
	char *uid;

	if (r->namespaced) {
		if (ns && ns[0] && req_ns && req_ns[0] && strcmp(ns, req_ns) != 0)
			return kf_bad_request("the namespace of the provided object does not match the namespace sent on the request");
		if (!ns || !ns[0]) {
			json_object_set_new(m, "namespace", json_string(req_ns ? req_ns : "default"));
			ns = json_string_value(json_object_get(m, "namespace"));
		}
	} else {
		json_object_del(m, "namespace");
	}
	if ((!name || !name[0]) && gen && gen[0]) {
		char suffix[6];
		for (int i = 0; i < 5; i++)
			suffix[i] = GEN_CHARS[(k->pod_seq * 7 + (uint64_t)i * 13 + k->st.rv) % (sizeof(GEN_CHARS) - 1)];
		suffix[5] = '\0';
		k->pod_seq++;
		json_object_set_new(m, "name", json_sprintf("%.58s%s", gen, suffix));
		name = json_string_value(json_object_get(m, "name"));
	}
	if (json_object_get(m, "resourceVersion") && mstr(obj, "resourceVersion") && mstr(obj, "resourceVersion")[0])
		return kf_status(500, "", "resourceVersion should not be set on objects to be created", NULL);
	/* WipeObjectMetaSystemFields, then FillObjectMetaSystemFields */
	json_object_del(m, "deletionTimestamp");
	json_object_del(m, "deletionGracePeriodSeconds");
	json_object_del(m, "selfLink");
	uid = store_new_uid(&k->st);
	json_object_set_new(m, "uid", json_string(uid));
	free(uid);
	kf_rfc3339(kf_now(k), ts);
	json_object_set_new(m, "creationTimestamp", json_string(ts));
	if (r->flags & KR_GENERATION)
		json_object_set_new(m, "generation", json_integer(1));
	else
		json_object_del(m, "generation");
	if ((r->flags & KR_STATUS) && !keep_status)
		json_object_del(obj, "status");
	json_object_del(m, "managedFields");
	tidy_meta(obj);
	schema_default(k, r, obj, NULL);
	st = schema_validate(k, r, obj, NULL);
	if (st)
		return st;
	if (r->namespaced && (st = namespace_check(k, r, ns, name)))
		return st;
	if (store_get(&k->st, r, ns, name))
		return already_exists(r, name);
	ssa_update(k, r, NULL, obj, manager, NULL);
	return NULL;
}

static bool spec_changed(const struct kr *r, json_t *old, json_t *obj)
{
	if (!json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
		return true;
	if (r->flags & KR_GEN_ANNOTATIONS) {
		json_t *a = json_object_get(json_object_get(old, "metadata"), "annotations");
		json_t *b = json_object_get(json_object_get(obj, "metadata"), "annotations");
		if (!(a ? json_equal(a, b) : b == NULL || json_object_size(b) == 0))
			return true;
	}
	/* kinds without spec (ConfigMap, Secret, Lease...) have no generation */
	return false;
}

/*
 * An update of old to obj (both full objects): system fields kept, status
 * or everything but status kept (sub "status"), generation, defaults,
 * validation, managedFields. obj is modified in place. NULL or a Status.
 */
static json_t *prepare_update(struct fake_kube *k, const struct kr *r, json_t *old, json_t *obj,
			      const char *manager, const char *sub, bool is_apply)
{
	json_t *m = meta(obj), *om = json_object_get(old, "metadata"), *st;
	static const char *const keep[] = { "uid", "creationTimestamp", "deletionTimestamp",
					     "deletionGracePeriodSeconds", "generation", NULL };

	for (size_t i = 0; keep[i]; i++) {
		json_t *v = json_object_get(om, keep[i]);
		if (v)
			json_object_set(m, keep[i], v);
		else
			json_object_del(m, keep[i]);
	}
	json_object_del(m, "selfLink");
	if (r->namespaced)
		json_object_set(m, "namespace", json_object_get(om, "namespace"));
	if (sub && strcmp(sub, "status") == 0) {
		/* the status subresource changes status (and managedFields) only */
		json_t *status = json_incref(json_object_get(obj, "status"));
		json_t *mf = json_incref(json_object_get(m, "managedFields"));
		json_object_clear(obj);
		json_object_update(obj, old);
		json_object_set_new(obj, "metadata", json_deep_copy(om));
		m = meta(obj);
		if (mf)
			json_object_set_new(m, "managedFields", mf);
		if (status)
			json_object_set_new(obj, "status", status);
		else
			json_object_del(obj, "status");
	} else if (r->flags & KR_STATUS) {
		json_t *s = json_object_get(old, "status");
		if (s)
			json_object_set(obj, "status", s);
		else
			json_object_del(obj, "status");
	}
	tidy_meta(obj);
	schema_default(k, r, obj, old);
	if ((r->flags & KR_GENERATION) && spec_changed(r, old, obj))
		json_object_set_new(m, "generation",
				    json_integer(json_integer_value(json_object_get(om, "generation")) + 1));
	st = schema_validate(k, r, obj, old);
	if (st)
		return st;
	if (!is_apply)
		ssa_update(k, r, old, obj, manager, sub);
	return NULL;
}

/*
 * Store obj (stolen) in place of old (NULL on create); a change that
 * changes nothing is not written. Returns the stored object (borrowed).
 */
static json_t *commit(struct fake_kube *k, const struct kr *r, json_t *old, json_t *obj, bool dry)
{
	const char *dt;

	if (old) {
		json_object_set(meta(obj), "resourceVersion", json_object_get(json_object_get(old, "metadata"),
										"resourceVersion"));
		if (obj_equal_ignoring_mf_time(old, obj)) {
			json_decref(obj);
			return old;
		}
	}
	if (dry) {
		/* not stored: the caller answers with it; an update keeps the current version */
		if (!old)
			json_object_del(meta(obj), "resourceVersion");
		return obj;
	}
	dt = mstr(obj, "deletionTimestamp");
	if (dt && json_array_size(json_object_get(meta(obj), "finalizers")) == 0 && old) {
		/* the last finalizer went: the object goes */
		json_decref(obj);
		store_remove(&k->st, r, mstr(old, "namespace"), mstr(old, "name"));
		return NULL;
	}
	return store_put(&k->st, r, obj, old == NULL);
}

static void answer(struct kf_resp *resp, int code, json_t *body)
{
	resp->code = code;
	resp->body = body;
}

static void answer_status(struct kf_resp *resp, json_t *st)
{
	resp->code = kf_status_code(st);
	resp->body = st;
}

/* ---- get, list, watch ---------------------------------------------------------------------------------- */

static json_t *item_copy(json_t *obj)
{
	json_t *c = json_copy(obj);

	json_object_del(c, "kind");
	json_object_del(c, "apiVersion");
	return c;
}

/* The continue token: base64 of {"v","rv","start"}, as the API server's. */
static char *make_continue(uint64_t rv, const char *key)
{
	char *js = xasprintf("{\"v\":\"meta.k8s.io/v1\",\"rv\":%llu,\"start\":\"%s\\u0000\"}", (unsigned long long)rv, key);
	size_t n = strlen(js);
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)js, (int)n);
	free(js);
	return out;
}

/* The key to start after, or NULL when the token is not one of ours. */
static char *parse_continue(const char *tok)
{
	size_t n = strlen(tok);
	unsigned char *buf = xmalloc(n + 4);
	int len = EVP_DecodeBlock(buf, (const unsigned char *)tok, (int)n);
	char *out = NULL;
	json_t *j;

	if (len > 0) {
		while (len > 0 && buf[len - 1] == '\0' && n > 0 && tok[n - 1] == '=') {
			len--;
			n--;
		}
		j = json_loadb((const char *)buf, (size_t)len, JSON_ALLOW_NUL, NULL);
		if (j && json_string_value(json_object_get(j, "start"))) {
			const char *s = json_string_value(json_object_get(j, "start"));
			out = xstrndup(s, strcspn(s, ""));
		}
		json_decref(j);
	}
	free(buf);
	return out;
}

static void list_objects(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	const struct kr *r = rt->r;
	const char *ls = q_get(&req->q, "labelSelector"), *fs = q_get(&req->q, "fieldSelector");
	const char *lim = q_get(&req->q, "limit"), *cont = q_get(&req->q, "continue");
	char *err = NULL, *start = NULL;
	struct kf_sel *sel = sel_parse(ls, &err);
	struct kf_fsel *fsel = NULL;
	json_t *all = NULL, *items = json_array(), *o, *md;
	long limit = lim ? strtol(lim, NULL, 10) : 0;
	size_t i, matched = 0;
	char av[96], rv[32], lastkey[600] = "", kind[96];
	bool more = false;

	if (!sel) {
		answer_status(resp, kf_bad_request("%s", err));
		goto out;
	}
	fsel = fsel_parse(r, fs, &err);
	if (!fsel) {
		answer_status(resp, kf_bad_request("%s", err));
		goto out;
	}
	if (cont && cont[0]) {
		start = parse_continue(cont);
		if (!start) {
			answer_status(resp, kf_bad_request("continue key is not valid: incorrect encoded start "
							   "resourceVersion (version meta.k8s.io/v1)"));
			goto out;
		}
	}
	all = store_all(&k->st, r, rt->has_ns ? rt->ns : NULL);
	json_array_foreach(all, i, o) {
		char key[600];
		snprintf(key, sizeof(key), "%s/%s", r->namespaced ? mstr(o, "namespace") : "", mstr(o, "name"));
		if (start && strcmp(key, start) <= 0)
			continue;
		if (!sel_match(sel, json_object_get(json_object_get(o, "metadata"), "labels")) || !fsel_match(fsel, o))
			continue;
		if (limit > 0 && (long)json_array_size(items) >= limit) {
			more = true;
			matched++;
			continue;
		}
		json_array_append_new(items, item_copy(o));
		snprintf(lastkey, sizeof(lastkey), "%s", key);
	}
	kr_api_version(r, av, sizeof(av));
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)k->st.rv);
	snprintf(kind, sizeof(kind), "%sList", r->kind);
	md = json_pack("{s:s}", "resourceVersion", rv);
	if (more) {
		char *c = make_continue(k->st.rv, lastkey);
		json_object_set_new(md, "continue", json_string(c));
		free(c);
		/* the API server counts the rest only when no selector filters it */
		if ((!ls || !ls[0]) && (!fs || !fs[0]))
			json_object_set_new(md, "remainingItemCount", json_integer((json_int_t)matched));
	}
	resp->body = json_pack("{s:s, s:s, s:o, s:O}", "kind", kind, "apiVersion", av, "metadata", md, "items", items);
	resp->code = 200;
out:
	json_decref(items);
	json_decref(all);
	free(err);
	free(start);
	sel_free(sel);
	fsel_free(fsel);
}

static json_t *watch_event(const char *type, const struct kr *r, json_t *obj)
{
	json_t *o = ordered(obj), *e;
	char *s;

	if (!json_object_get(o, "kind"))
		set_kind(r, o);
	e = json_pack("{s:s, s:o}", "type", type, "object", o);
	s = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	e = json_string(s);
	free(s);
	return e;
}

static bool watch_matches(struct kf_resp *w, const struct kr *r, json_t *obj)
{
	if (r != w->watch_r)
		return false;
	if (w->watch_ns && r->namespaced && strcmp(w->watch_ns, mstr(obj, "namespace") ? mstr(obj, "namespace") : "") != 0)
		return false;
	if (w->watch_name && strcmp(w->watch_name, mstr(obj, "name") ? mstr(obj, "name") : "") != 0)
		return false;
	return sel_match(w->watch_sel, json_object_get(json_object_get(obj, "metadata"), "labels")) &&
	       fsel_match(w->watch_fsel, obj);
}

json_t *api_watch_events(struct fake_kube *k, struct kf_resp *w, uint64_t *rv)
{
	json_t *out = json_array();
	struct kf_store *s = &k->st;

	if (s->ev_len && *rv + 1 < s->events[s->ev_head].rv && *rv < s->rv) {
		json_t *st = kf_status_f(410, "Expired", NULL, "too old resource version: %llu (%llu)",
					 (unsigned long long)*rv, (unsigned long long)s->events[s->ev_head].rv - 1);
		json_t *e = json_pack("{s:s, s:o}", "type", "ERROR", "object", st);
		char *str = json_dumps(e, JSON_COMPACT);
		json_array_append_new(out, json_string(str));
		free(str);
		json_decref(e);
		*rv = s->rv;
		return out;
	}
	for (size_t i = 0; i < s->ev_len; i++) {
		struct kf_event *e = &s->events[(s->ev_head + i) % s->ev_cap];
		bool now, before;
		if (e->rv <= *rv)
			continue;
		now = watch_matches(w, e->r, e->obj);
		before = e->prev && watch_matches(w, e->r, e->prev);
		/* as the watch cache filters: entering the selection is ADDED, leaving it DELETED */
		if (strcmp(e->type, "MODIFIED") == 0 && now && !before)
			json_array_append_new(out, watch_event("ADDED", e->r, e->obj));
		else if (strcmp(e->type, "MODIFIED") == 0 && !now && before)
			json_array_append_new(out, watch_event("DELETED", e->r, e->obj));
		else if (now)
			json_array_append_new(out, watch_event(e->type, e->r, e->obj));
	}
	*rv = s->rv;
	return out;
}

static void watch_objects(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	const char *ls = q_get(&req->q, "labelSelector"), *fs = q_get(&req->q, "fieldSelector");
	const char *rvs = q_get(&req->q, "resourceVersion"), *to = q_get(&req->q, "timeoutSeconds");
	char *err = NULL;

	resp->watch_sel = sel_parse(ls, &err);
	if (!resp->watch_sel) {
		answer_status(resp, kf_bad_request("%s", err));
		free(err);
		return;
	}
	resp->watch_fsel = fsel_parse(rt->r, fs, &err);
	if (!resp->watch_fsel) {
		answer_status(resp, kf_bad_request("%s", err));
		free(err);
		return;
	}
	resp->watch = true;
	resp->watch_r = rt->r;
	resp->watch_ns = rt->has_ns ? xstrdup(rt->ns) : NULL;
	resp->watch_name = rt->has_name ? xstrdup(rt->name) : NULL;
	resp->watch_timeout_s = to ? atoi(to) : 300;
	if (resp->watch_timeout_s <= 0 || resp->watch_timeout_s > 600)
		resp->watch_timeout_s = 600;
	resp->code = 200;
	if (!rvs || !rvs[0] || strcmp(rvs, "0") == 0) {
		/* state first: ADDED for what exists, then changes */
		json_t *all = store_all(&k->st, rt->r, resp->watch_ns), *o;
		size_t i;
		resp->body = json_array();
		json_array_foreach(all, i, o)
			if (watch_matches(resp, rt->r, o))
				json_array_append_new(resp->body, watch_event("ADDED", rt->r, o));
		json_decref(all);
		resp->watch_rv = k->st.rv;
	} else {
		resp->watch_rv = strtoull(rvs, NULL, 10);
	}
}

/* ---- Table (kubectl get without -o) ------------------------------------------------------------------------- */

static bool wants_table(struct kf_req *req)
{
	return req->accept && strstr(req->accept, "as=Table");
}

static char *age(struct fake_kube *k, json_t *obj)
{
	int64_t t = kf_parse_time(mstr(obj, "creationTimestamp")), d = t < 0 ? 0 : kf_now(k) - t;

	if (t < 0)
		return xstrdup("<unknown>");
	if (d < 120)
		return xasprintf("%llds", (long long)d);
	if (d < 7200)
		return xasprintf("%lldm", (long long)(d / 60));
	if (d < 172800)
		return xasprintf("%lldh", (long long)(d / 3600));
	return xasprintf("%lldd", (long long)(d / 86400));
}

static json_t *to_table(struct fake_kube *k, const struct kr *r, json_t *body)
{
	json_t *items = json_object_get(body, "items"), *rows = json_array(), *o, *single = NULL;
	size_t i;

	if (!items) {
		single = json_pack("[O]", body);
		items = single;
	}
	json_array_foreach(items, i, o) {
		char *a = age(k, o);
		json_t *pm = json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion", "meta.k8s.io/v1",
				       "metadata", json_object_get(o, "metadata"));
		json_array_append_new(rows, json_pack("{s:[s, s], s:o}", "cells", mstr(o, "name") ? mstr(o, "name") : "", a,
						      "object", pm));
		free(a);
	}
	json_decref(single);
	(void)r;
	return json_pack("{s:s, s:s, s:O, s:[{s:s, s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:s, s:i}], s:o}", "kind",
			 "Table", "apiVersion", "meta.k8s.io/v1", "metadata",
			 json_object_get(body, "metadata") ? json_object_get(body, "metadata") : json_object(),
			 "columnDefinitions", "name", "Name", "type", "string", "format", "name", "description",
			 "Name must be unique within a namespace.", "priority", 0, "name", "Age", "type", "string", "format",
			 "", "description", "CreationTimestamp is a timestamp representing the server time when this object was "
			 "created.", "priority", 0, "rows", rows);
}

/* ---- scale ------------------------------------------------------------------------------------------------------------ */

static char *selector_string(json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels"), *v;
	const char *key, **keys;
	size_t n = 0;
	struct strbuf sb;

	keys = xmalloc((json_object_size(ml) + 1) * sizeof(*keys));
	json_object_foreach(ml, key, v)
		keys[n++] = key;
	/* labels.Set.String(): sorted keys */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	sb_init(&sb);
	for (size_t i = 0; i < n; i++)
		sb_addf(&sb, "%s%s=%s", i ? "," : "", keys[i], json_string_value(json_object_get(ml, keys[i])));
	free(keys);
	return sb_detach(&sb);
}

static json_t *scale_of(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");
	json_t *spec = json_object_get(obj, "spec"), *status = json_object_get(obj, "status");
	char *sel = selector_string(json_object_get(spec, "selector"));
	json_t *sc = json_pack("{s:s, s:s, s:{s:O?, s:O?, s:O?, s:O?, s:O?}, s:{s:I}, s:{s:I, s:s}}", "kind", "Scale",
			       "apiVersion", "autoscaling/v1", "metadata", "name", json_object_get(m, "name"), "namespace",
			       json_object_get(m, "namespace"), "uid", json_object_get(m, "uid"), "resourceVersion",
			       json_object_get(m, "resourceVersion"), "creationTimestamp",
			       json_object_get(m, "creationTimestamp"), "spec", "replicas",
			       json_integer_value(json_object_get(spec, "replicas")), "status", "replicas",
			       json_integer_value(json_object_get(status, "replicas")), "selector", sel);
	free(sel);
	return sc;
}

/* ---- patches ------------------------------------------------------------------------------------------------------------ */

static const char PATCH_TYPES[] = "application/json-patch+json, application/merge-patch+json, "
				  "application/strategic-merge-patch+json, application/apply-patch+yaml";

enum ptype { PT_JSON, PT_MERGE, PT_SMP, PT_APPLY, PT_NONE };

static enum ptype patch_type(const char *ct)
{
	if (ctype_is(ct, "application/json-patch+json"))
		return PT_JSON;
	if (ctype_is(ct, "application/merge-patch+json"))
		return PT_MERGE;
	if (ctype_is(ct, "application/strategic-merge-patch+json"))
		return PT_SMP;
	if (ctype_is(ct, "application/apply-patch+yaml"))
		return PT_APPLY;
	return PT_NONE;
}

/* PatchOptions validation (422 PatchOptions.meta.k8s.io "" is invalid). */
static json_t *check_patch_options(struct kf_req *req, enum ptype pt)
{
	struct kf_errs e;
	const char *fm = q_get(&req->q, "fieldManager"), *force = q_get(&req->q, "force");
	const char *fv = q_get(&req->q, "fieldValidation"), *dr = q_get(&req->q, "dryRun");

	ferr_init(&e);
	if (pt == PT_APPLY) {
		if (!fm || !fm[0])
			ferr_add(&e, "FieldValueRequired", "fieldManager", "Required value: is required for apply patch");
	} else if (force) {
		ferr_add(&e, "FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch");
	}
	if (fm && strlen(fm) > 128)
		ferr_add(&e, "FieldValueTooLong", "fieldManager", "Too long: may not be more than 128 bytes");
	if (dr && strcmp(dr, "All") != 0)
		ferr_add(&e, "FieldValueNotSupported", "dryRun", "Unsupported value: \"%s\": supported values: \"All\"", dr);
	if (fv && fv[0] && strcmp(fv, "Ignore") && strcmp(fv, "Warn") && strcmp(fv, "Strict"))
		ferr_add(&e, "FieldValueNotSupported", "fieldValidation",
			 "Unsupported value: \"%s\": supported values: \"Ignore\", \"Strict\", \"Warn\"", fv);
	if (ferr_count(&e))
		return kf_invalid("meta.k8s.io", "PatchOptions", "", &e);
	ferr_release(&e);
	return NULL;
}

/* Go's %+v of a decoded JSON value: map[a:1 b:map[c:x]] (keys sorted), [x y], <nil>. */
static void go_fmt(struct strbuf *sb, json_t *v)
{
	const char *key, **keys;
	json_t *x;
	size_t i, n = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		keys = xmalloc((json_object_size(v) + 1) * sizeof(*keys));
		json_object_foreach(v, key, x)
			keys[n++] = key;
		for (i = 1; i < n; i++)
			for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
				const char *t = keys[j];
				keys[j] = keys[j - 1];
				keys[j - 1] = t;
			}
		sb_adds(sb, "map[");
		for (i = 0; i < n; i++) {
			sb_addf(sb, "%s%s:", i ? " " : "", keys[i]);
			go_fmt(sb, json_object_get(v, keys[i]));
		}
		sb_addc(sb, ']');
		free(keys);
		break;
	case JSON_ARRAY:
		sb_addc(sb, '[');
		json_array_foreach(v, i, x) {
			if (i)
				sb_addc(sb, ' ');
			go_fmt(sb, x);
		}
		sb_addc(sb, ']');
		break;
	case JSON_STRING: sb_adds(sb, json_string_value(v)); break;
	case JSON_INTEGER: sb_addf(sb, "%lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: sb_addf(sb, "%g", json_real_value(v)); break;
	case JSON_TRUE: sb_adds(sb, "true"); break;
	case JSON_FALSE: sb_adds(sb, "false"); break;
	default: sb_adds(sb, "<nil>"); break;
	}
}

/*
 * A patch's decoding outcome for the patched object: a wrong type or (with
 * fieldValidation=Strict) an unknown field is 422 on "patch", whose value
 * is the patched object for JSON and merge patches and the patch (Go's
 * %+v) for strategic ones; unknown fields otherwise warn and are dropped.
 */
static json_t *patched_unknown(struct kf_req *req, const struct kf_schema *sch, json_t *patched, json_t *patch_doc,
			       bool smp, struct kf_resp *resp)
{
	const char *fv = q_get(&req->q, "fieldValidation");
	json_t *unknown = json_array(), *u;
	size_t i;
	char *terr = schema_type_error(sch, patched), *q;
	struct strbuf shown;

	sb_init(&shown);
	if (smp) {
		go_fmt(&shown, patch_doc);
	} else {
		char *js = json_dumps(patched, JSON_COMPACT);
		sb_adds(&shown, js);
		free(js);
	}
	q = go_quote(shown.buf);
	sb_release(&shown);
	if (terr) {
		struct kf_errs e;
		ferr_init(&e);
		ferr_add(&e, "FieldValueInvalid", "patch", "Invalid value: %s: %s", q, terr);
		free(q);
		free(terr);
		json_decref(unknown);
		return kf_invalid("", "", "", &e);
	}
	schema_unknown(sch, patched, "", unknown, true);
	if (json_array_size(unknown)) {
		if (fv && strcmp(fv, "Strict") == 0) {
			struct kf_errs e;
			struct strbuf sb;
			sb_init(&sb);
			json_array_foreach(unknown, i, u)
				sb_addf(&sb, "%sunknown field \"%s\"", i ? ", " : "", json_string_value(u));
			ferr_init(&e);
			ferr_add(&e, "FieldValueInvalid", "patch", "Invalid value: %s: strict decoding error: %s", q, sb.buf);
			sb_release(&sb);
			free(q);
			json_decref(unknown);
			return kf_invalid("", "", "", &e);
		}
		if (!fv || !fv[0] || strcmp(fv, "Warn") == 0) {
			if (!resp->warnings)
				resp->warnings = json_array();
			json_array_foreach(unknown, i, u)
				json_array_append_new(resp->warnings, json_sprintf("unknown field \"%s\"", json_string_value(u)));
		}
	}
	free(q);
	json_decref(unknown);
	return NULL;
}

/* Apply a JSON, merge or strategic patch to cur (a copy is made): the patched object or NULL + *st. */
static json_t *apply_patch(struct kf_req *req, enum ptype pt, json_t *cur, json_t **st,
			   struct kf_resp *resp, const struct kf_schema *sch)
{
	json_error_t jerr;
	json_t *p = json_loadb(req->body ? req->body : "", req->body_len, JSON_DECODE_ANY, &jerr), *out = NULL;
	char *err = NULL;
	int code = 0;

	if (!p) {
		if (pt == PT_JSON)
			*st = kf_bad_request("error decoding patch: %s", jerr.text);
		else if (pt == PT_MERGE)
			*st = kf_bad_request("error decoding patch: %s", jerr.text);
		else
			*st = kf_bad_request("%s", jerr.text);
		return NULL;
	}
	switch (pt) {
	case PT_JSON:
		if (!json_is_array(p)) {
			*st = kf_bad_request("json: cannot unmarshal %s into Go value of type jsonpatch.Patch",
					     json_is_object(p) ? "object" : "string");
			break;
		}
		out = json_patch(cur, p, &err, &code);
		if (!out) {
			if (code == 400)
				*st = kf_bad_request("%s", err);
			else
				*st = kf_status(422, "Invalid", err, NULL);
		}
		break;
	case PT_MERGE:
		if (!json_is_object(p)) {
			*st = kf_bad_request("Invalid JSON Patch");
			break;
		}
		out = merge_patch(cur, p);
		break;
	case PT_SMP:
		if (!json_is_object(p)) {
			*st = kf_bad_request("json: cannot unmarshal %s into Go value of type map[string]interface {}",
					     json_is_array(p) ? "array" : "string");
			break;
		}
		out = strategic_merge(sch, cur, p, &err);
		if (!out)
			*st = kf_bad_request("%s", err);
		break;
	default:
		break;
	}
	if (out && !json_is_object(out)) {
		json_decref(out);
		out = NULL;
		*st = kf_status(422, "Invalid", "the patched document is not an object", NULL);
	}
	if (out) {
		*st = patched_unknown(req, sch, out, p, pt == PT_SMP, resp);
		if (*st) {
			json_decref(out);
			out = NULL;
		}
	}
	free(err);
	json_decref(p);
	return out;
}

/* A patched object keeps its name, namespace; a resourceVersion in it is a precondition. */
static json_t *check_patched(const struct route *rt, json_t *cur, json_t *patched)
{
	const char *name = mstr(patched, "name"), *ns = mstr(patched, "namespace");
	const char *rv = mstr(patched, "resourceVersion"), *crv = mstr(cur, "resourceVersion");
	const char *uid = mstr(patched, "uid"), *cuid = mstr(cur, "uid");

	if (rt->r->namespaced && ns && ns[0] && strcmp(ns, rt->ns) != 0)
		return kf_bad_request("the namespace of the provided object does not match the namespace sent on the request");
	if (!name || strcmp(name, rt->name) != 0)
		return kf_bad_request("the name of the object (%s) does not match the name on the URL (%s)", name ? name : "",
				      rt->name);
	if (uid && uid[0] && cuid && strcmp(uid, cuid) != 0) {
		char *why = xasprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, cuid);
		json_t *st = kf_conflict(rt->r, rt->name, why);
		free(why);
		return st;
	}
	if (rv && rv[0] && crv && strcmp(rv, crv) != 0)
		return kf_conflict(rt->r, rt->name, MSG_OPTIMISTIC);
	return NULL;
}

/* ---- the verbs --------------------------------------------------------------------------------------------------------- */

static void do_get(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	json_t *obj = store_get(&k->st, rt->r, rt->ns, rt->name);

	if (!obj || (rt->r->flags & KR_NO_STORE)) {
		answer_status(resp, kf_not_found(rt->r, rt->name));
		return;
	}
	if (strcmp(rt->sub, "scale") == 0) {
		answer(resp, 200, scale_of(obj));
		return;
	}
	if (strcmp(rt->sub, "log") == 0) {
		resp->code = 200;
		resp->raw = xstrdup("");
		resp->ctype = "text/plain";
		return;
	}
	(void)req;
	answer(resp, 200, ordered(obj));
}

static void do_create(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	json_t *st = NULL, *obj = decode_object(req, rt->r, &st), *stored;
	const char *name;

	if (!obj) {
		answer_status(resp, st);
		return;
	}
	if ((st = check_decoded(req, rt->r, obj, resp))) {
		json_decref(obj);
		answer_status(resp, st);
		return;
	}
	if (rt->r->flags & KR_NO_STORE) {
		/* reviews: answered, never stored */
		json_t *spec = json_object_get(obj, "spec"), *ra = json_object_get(spec, "resourceAttributes");
		json_object_set_new(meta(obj), "creationTimestamp", json_null());
		if (strcmp(rt->r->resource, "selfsubjectreviews") == 0) {
			json_t *groups = json_array();
			char *gs = xstrdup(req->groups ? req->groups : "system:masters"), *save = NULL, *g;
			for (g = strtok_r(gs, ",", &save); g; g = strtok_r(NULL, ",", &save))
				json_array_append_new(groups, json_string(g));
			json_array_append_new(groups, json_string("system:authenticated"));
			free(gs);
			json_object_set_new(obj, "status", json_pack("{s:{s:s, s:o}}", "userInfo", "username",
								      req->user, "groups", groups));
		} else {
			const char *verb = json_string_value(json_object_get(ra, "verb"));
			const char *res = json_string_value(json_object_get(ra, "resource"));
			const char *sub = json_string_value(json_object_get(ra, "subresource"));
			char want1[160], want2[160], want3[160];
			bool denied = false;
			size_t i;
			json_t *d;
			snprintf(want1, sizeof(want1), "%s %s%s%s", verb ? verb : "", res ? res : "", sub && sub[0] ? "/" : "",
				 sub ? sub : "");
			snprintf(want2, sizeof(want2), "* %s%s%s", res ? res : "", sub && sub[0] ? "/" : "", sub ? sub : "");
			snprintf(want3, sizeof(want3), "%s *", verb ? verb : "");
			json_array_foreach(k->denied, i, d)
				if (strcmp(json_string_value(d), want1) == 0 || strcmp(json_string_value(d), want2) == 0 ||
				    strcmp(json_string_value(d), want3) == 0 || strcmp(json_string_value(d), "* *") == 0)
					denied = true;
			if (denied)
				json_object_set_new(obj, "status", json_pack("{s:b, s:s}", "allowed", 0, "reason", ""));
			else
				json_object_set_new(obj, "status", json_pack("{s:b, s:s}", "allowed", 1, "reason",
									      "RBAC: allowed by the fake"));
		}
		answer(resp, 201, ordered(obj));
		json_decref(obj);
		return;
	}
	if (rt->has_name) {
		json_decref(obj);
		answer_status(resp, method_not_allowed());
		return;
	}
	if (rt->r->namespaced && !rt->has_ns) {
		json_decref(obj);
		answer_status(resp, method_not_allowed());
		return;
	}
	st = prepare_create(k, rt->r, rt->ns, obj, manager_of(req), false);
	if (st) {
		json_decref(obj);
		answer_status(resp, st);
		return;
	}
	name = mstr(obj, "name");
	snprintf(resp->name, sizeof(resp->name), "%s", name ? name : "");
	stored = commit(k, rt->r, NULL, obj, dry_run(req));
	answer(resp, 201, ordered(stored));
	if (dry_run(req))
		json_decref(stored);
}

/* A full object for PUT on the main resource or status; scale handled apart. */
static void do_update(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	json_t *st = NULL, *obj = decode_object(req, rt->r, &st), *old, *stored;
	const char *name, *ns, *rv;

	if (!obj) {
		answer_status(resp, st);
		return;
	}
	if (strcmp(rt->sub, "scale") == 0) {
		json_t *spec_r = json_object_get(json_object_get(obj, "spec"), "replicas");
		json_t *cur = store_get(&k->st, rt->r, rt->ns, rt->name), *nw;
		const char *srv = mstr(obj, "resourceVersion");
		if (!cur) {
			json_decref(obj);
			answer_status(resp, kf_not_found(rt->r, rt->name));
			return;
		}
		if (srv && srv[0] && strcmp(srv, mstr(cur, "resourceVersion")) != 0) {
			json_decref(obj);
			answer_status(resp, kf_conflict(rt->r, rt->name, MSG_OPTIMISTIC));
			return;
		}
		nw = json_deep_copy(cur);
		json_object_set_new(json_object_get(nw, "spec"), "replicas", json_integer(json_integer_value(spec_r)));
		json_decref(obj);
		if ((st = prepare_update(k, rt->r, cur, nw, manager_of(req), "scale", false))) {
			json_decref(nw);
			answer_status(resp, st);
			return;
		}
		stored = commit(k, rt->r, cur, nw, dry_run(req));
		answer(resp, 200, scale_of(stored));
		if (dry_run(req) && stored != cur)
			json_decref(stored);
		return;
	}
	if ((st = check_decoded(req, rt->r, obj, resp))) {
		json_decref(obj);
		answer_status(resp, st);
		return;
	}
	name = mstr(obj, "name");
	ns = mstr(obj, "namespace");
	if (rt->r->namespaced && ns && ns[0] && strcmp(ns, rt->ns) != 0) {
		json_decref(obj);
		answer_status(resp, kf_bad_request("the namespace of the provided object does not match the namespace sent on the request"));
		return;
	}
	if (!name || strcmp(name, rt->name) != 0) {
		answer_status(resp, kf_bad_request("the name of the object (%s) does not match the name on the URL (%s)",
						   name ? name : "", rt->name));
		json_decref(obj);
		return;
	}
	old = store_get(&k->st, rt->r, rt->ns, rt->name);
	if (!old) {
		if (!(rt->r->flags & KR_CREATE_ON_UPDATE) || rt->sub[0]) {
			json_decref(obj);
			answer_status(resp, kf_not_found(rt->r, rt->name));
			return;
		}
		json_object_del(meta(obj), "resourceVersion");
		if ((st = prepare_create(k, rt->r, rt->ns, obj, manager_of(req), false))) {
			json_decref(obj);
			answer_status(resp, st);
			return;
		}
		stored = commit(k, rt->r, NULL, obj, dry_run(req));
		answer(resp, 201, ordered(stored));
		if (dry_run(req))
			json_decref(stored);
		return;
	}
	rv = mstr(obj, "resourceVersion");
	if (!rv || !rv[0]) {
		if (!(rt->r->flags & KR_UNCOND_UPDATE)) {
			struct kf_errs e;
			ferr_init(&e);
			ferr_add(&e, "FieldValueInvalid", "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update");
			json_decref(obj);
			answer_status(resp, kf_invalid(rt->r->group, rt->r->resource, rt->name, &e));
			return;
		}
	} else if (strcmp(rv, mstr(old, "resourceVersion")) != 0) {
		json_decref(obj);
		answer_status(resp, kf_conflict(rt->r, rt->name, MSG_OPTIMISTIC));
		return;
	}
	{
		const char *uid = mstr(obj, "uid");
		if (uid && uid[0] && strcmp(uid, mstr(old, "uid")) != 0) {
			char *why = xasprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid,
					      mstr(old, "uid"));
			json_decref(obj);
			answer_status(resp, kf_conflict(rt->r, rt->name, why));
			free(why);
			return;
		}
	}
	/* managedFields sent back are kept as sent (kubectl replace sends them) */
	if ((st = prepare_update(k, rt->r, old, obj, manager_of(req), rt->sub[0] ? rt->sub : NULL, false))) {
		json_decref(obj);
		answer_status(resp, st);
		return;
	}
	stored = commit(k, rt->r, old, obj, dry_run(req));
	answer(resp, 200, stored ? ordered(stored) : kf_status(200, "", NULL, details(rt->r, rt->name)));
	if (dry_run(req) && stored != old)
		json_decref(stored);
}

static void do_patch(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	enum ptype pt = patch_type(req->content_type);
	json_t *st, *cur, *patched = NULL, *stored;
	bool scale = strcmp(rt->sub, "scale") == 0;

	if (pt == PT_NONE) {
		answer_status(resp, kf_status_f(415, "UnsupportedMediaType", NULL,
						"the body of the request was in an unknown format - accepted media types include: %s",
						PATCH_TYPES));
		return;
	}
	if ((st = check_patch_options(req, pt))) {
		answer_status(resp, st);
		return;
	}
	cur = store_get(&k->st, rt->r, rt->ns, rt->name);
	if (pt == PT_APPLY) {
		char *err = NULL;
		json_t *docs = kf_yaml_to_json(req->body ? req->body : "", req->body_len, &err), *cfg;
		const char *force = q_get(&req->q, "force");

		if (!docs || json_array_size(docs) != 1 || !json_is_object(json_array_get(docs, 0))) {
			answer_status(resp, kf_bad_request("error decoding patch: %s",
							   err ? err : "the apply configuration must be one object"));
			free(err);
			json_decref(docs);
			return;
		}
		cfg = json_incref(json_array_get(docs, 0));
		json_decref(docs);
		if (scale) {
			json_decref(cfg);
			answer_status(resp, kf_bad_request("the fake does not apply to the scale subresource"));
			return;
		}
		if (!cur && rt->sub[0]) {
			json_decref(cfg);
			answer_status(resp, kf_not_found(rt->r, rt->name));
			return;
		}
		if (!cur && rt->r->namespaced && (st = namespace_check(k, rt->r, rt->ns, rt->name))) {
			json_decref(cfg);
			answer_status(resp, st);
			return;
		}
		patched = ssa_apply(k, rt->r, cur, cfg, q_get(&req->q, "fieldManager"), force && strcmp(force, "true") == 0,
				    rt->sub[0] ? rt->sub : NULL, &st);
		json_decref(cfg);
		if (!patched) {
			answer_status(resp, st);
			return;
		}
		if ((st = check_patched(rt, cur ? cur : patched, patched))) {
			json_decref(patched);
			answer_status(resp, st);
			return;
		}
		if (!cur) {
			json_object_del(meta(patched), "resourceVersion");
			/* the manager's entry was made by ssa_apply: keep it through prepare_create */
			json_t *mf = json_incref(json_object_get(meta(patched), "managedFields"));
			if ((st = prepare_create(k, rt->r, rt->ns, patched, q_get(&req->q, "fieldManager"), false))) {
				json_decref(mf);
				json_decref(patched);
				answer_status(resp, st);
				return;
			}
			json_object_set_new(meta(patched), "managedFields", mf);
			stored = commit(k, rt->r, NULL, patched, dry_run(req));
			snprintf(resp->name, sizeof(resp->name), "%s", rt->name);
			answer(resp, 201, ordered(stored));
			if (dry_run(req))
				json_decref(stored);
			return;
		}
		if ((st = prepare_update(k, rt->r, cur, patched, q_get(&req->q, "fieldManager"), rt->sub[0] ? rt->sub : NULL,
					 true))) {
			json_decref(patched);
			answer_status(resp, st);
			return;
		}
		stored = commit(k, rt->r, cur, patched, dry_run(req));
		answer(resp, 200, stored ? ordered(stored) : kf_status(200, "", NULL, details(rt->r, rt->name)));
		if (dry_run(req) && stored != cur)
			json_decref(stored);
		return;
	}
	if (!cur) {
		answer_status(resp, kf_not_found(rt->r, rt->name));
		return;
	}
	if (scale) {
		json_t *sc = scale_of(cur), *psc, *nw;
		psc = apply_patch(req, pt, sc, &st, resp, schema_named("Scale"));
		json_decref(sc);
		if (!psc) {
			answer_status(resp, st);
			return;
		}
		if ((st = check_patched(rt, cur, psc))) {
			json_decref(psc);
			answer_status(resp, st);
			return;
		}
		nw = json_deep_copy(cur);
		json_object_set_new(json_object_get(nw, "spec"), "replicas",
				    json_integer(json_integer_value(json_object_get(json_object_get(psc, "spec"), "replicas"))));
		json_decref(psc);
		if ((st = prepare_update(k, rt->r, cur, nw, manager_of(req), "scale", false))) {
			json_decref(nw);
			answer_status(resp, st);
			return;
		}
		stored = commit(k, rt->r, cur, nw, dry_run(req));
		answer(resp, 200, scale_of(stored));
		if (dry_run(req) && stored != cur)
			json_decref(stored);
		return;
	}
	patched = apply_patch(req, pt, cur, &st, resp, schema_for(rt->r));
	if (!patched) {
		answer_status(resp, st);
		return;
	}
	if ((st = check_patched(rt, cur, patched))) {
		json_decref(patched);
		answer_status(resp, st);
		return;
	}
	set_kind(rt->r, patched);
	strip_nulls(patched);
	if ((st = prepare_update(k, rt->r, cur, patched, manager_of(req), rt->sub[0] ? rt->sub : NULL, false))) {
		json_decref(patched);
		answer_status(resp, st);
		return;
	}
	stored = commit(k, rt->r, cur, patched, dry_run(req));
	answer(resp, 200, stored ? ordered(stored) : kf_status(200, "", NULL, details(rt->r, rt->name)));
	if (dry_run(req) && stored != cur)
		json_decref(stored);
}

/* ---- delete ------------------------------------------------------------------------------------------------------------- */

static bool returns_deleted_object(const struct kr *r)
{
	return strcmp(r->resource, "pods") == 0 || strcmp(r->resource, "serviceaccounts") == 0 ||
	       strcmp(r->resource, "namespaces") == 0;
}

/*
 * Delete one object as the API server does. Returns the answer body and
 * sets *code; *gone says whether it left the store now.
 */
static json_t *delete_one(struct fake_kube *k, const struct kr *r, json_t *cur, const char *policy, long grace,
			  json_t *pre, bool dry, int *code)
{
	const char *name = mstr(cur, "name"), *ns = mstr(cur, "namespace");
	json_t *nw, *fin;
	char ts[32];

	*code = 200;
	if (pre) {
		const char *puid = json_string_value(json_object_get(pre, "uid"));
		const char *prv = json_string_value(json_object_get(pre, "resourceVersion"));
		if (puid && strcmp(puid, mstr(cur, "uid")) != 0) {
			char *why = xasprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", puid,
					      mstr(cur, "uid"));
			json_t *st = kf_conflict(r, name, why);
			free(why);
			*code = 409;
			return st;
		}
		if (prv && strcmp(prv, mstr(cur, "resourceVersion")) != 0) {
			char *why = xasprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in "
					      "object meta: %s", prv, mstr(cur, "resourceVersion"));
			json_t *st = kf_conflict(r, name, why);
			free(why);
			*code = 409;
			return st;
		}
	}
	if (strcmp(r->resource, "namespaces") == 0 &&
	    (strcmp(name, "default") == 0 || strcmp(name, "kube-system") == 0 || strcmp(name, "kube-public") == 0)) {
		*code = 403;
		return forbidden(r, name, "this namespace may not be deleted", NULL);
	}
	if (mstr(cur, "deletionTimestamp")) {
		/* already going */
		return ordered(cur);
	}
	if (dry)
		return returns_deleted_object(r) ? ordered(cur) : kf_status(200, "", NULL, details(r, name));
	kf_rfc3339(kf_now(k), ts);
	nw = json_deep_copy(cur);
	fin = json_object_get(meta(nw), "finalizers");
	if (strcmp(r->resource, "namespaces") == 0) {
		/* the namespace controller empties it, then it goes */
		json_object_set_new(meta(nw), "deletionTimestamp", json_string(ts));
		json_object_set_new(meta(nw), "deletionGracePeriodSeconds", json_integer(0));
		{
			json_t *s = json_object_get(nw, "status");
			if (!json_is_object(s)) {
				s = json_object();
				json_object_set_new(nw, "status", s);
			}
			json_object_set_new(s, "phase", json_string("Terminating"));
		}
		return ordered(store_put(&k->st, r, nw, false));
	}
	if (policy && strcmp(policy, "Foreground") == 0) {
		if (!fin) {
			fin = json_array();
			json_object_set_new(meta(nw), "finalizers", fin);
		}
		json_array_append_new(fin, json_string("foregroundDeletion"));
	} else if (policy && strcmp(policy, "Orphan") == 0) {
		/* dependents lose their owner reference now */
		for (size_t i = 0; kr_at(i); i++) {
			const struct kr *dr = kr_at(i);
			json_t *all = store_all(&k->st, dr, dr->namespaced ? ns : NULL), *o;
			size_t j;
			json_array_foreach(all, j, o) {
				json_t *refs = json_object_get(json_object_get(o, "metadata"), "ownerReferences"), *ref;
				size_t x;
				bool hit = false;
				json_array_foreach(refs, x, ref)
					if (json_equal(json_object_get(ref, "uid"), json_object_get(meta(cur), "uid")))
						hit = true;
				if (hit) {
					json_t *c = json_deep_copy(o), *nrefs = json_array();
					json_array_foreach(json_object_get(meta(c), "ownerReferences"), x, ref)
						if (!json_equal(json_object_get(ref, "uid"), json_object_get(meta(cur), "uid")))
							json_array_append(nrefs, ref);
					json_object_set_new(meta(c), "ownerReferences", nrefs);
					tidy_meta(c);
					store_put(&k->st, dr, c, false);
				}
			}
			json_decref(all);
		}
	}
	if (strcmp(r->resource, "pods") == 0 && grace != 0) {
		/* graceful: the kubelet (the controllers' next round) finishes it */
		json_t *spec = json_object_get(nw, "spec");
		const char *node = json_string_value(json_object_get(spec, "nodeName"));
		long g = grace > 0 ? grace : (json_object_get(spec, "terminationGracePeriodSeconds")
						      ? (long)json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds"))
						      : 30);
		if (node && node[0] && g > 0) {
			kf_rfc3339(kf_now(k) + g, ts);
			json_object_set_new(meta(nw), "deletionTimestamp", json_string(ts));
			json_object_set_new(meta(nw), "deletionGracePeriodSeconds", json_integer(g));
			return ordered(store_put(&k->st, r, nw, false));
		}
	}
	if (json_array_size(json_object_get(meta(nw), "finalizers")) > 0) {
		json_object_set_new(meta(nw), "deletionTimestamp", json_string(ts));
		json_object_set_new(meta(nw), "deletionGracePeriodSeconds", json_integer(0));
		return ordered(store_put(&k->st, r, nw, false));
	}
	json_decref(nw);
	{
		json_t *ret = returns_deleted_object(r) ? ordered(cur) : NULL;
		json_t *d = details(r, name);
		json_object_set(d, "uid", json_object_get(meta(cur), "uid"));
		store_remove(&k->st, r, ns, name);
		if (ret) {
			json_decref(d);
			return ret;
		}
		return kf_status(200, "", NULL, d);
	}
}

static void do_delete(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp,
		      bool collection)
{
	json_t *opts = NULL, *pre = NULL;
	const char *policy = q_get(&req->q, "propagationPolicy"), *g = q_get(&req->q, "gracePeriodSeconds");
	long grace = g ? strtol(g, NULL, 10) : -1;
	bool dry = dry_run(req);
	int code;

	if (req->body_len) {
		json_error_t jerr;
		opts = json_loadb(req->body, req->body_len, 0, &jerr);
		if (!json_is_object(opts)) {
			json_decref(opts);
			answer_status(resp, kf_bad_request("couldn't get version/kind; json parse error: %s", jerr.text));
			return;
		}
		if (json_string_value(json_object_get(opts, "propagationPolicy")))
			policy = json_string_value(json_object_get(opts, "propagationPolicy"));
		if (json_is_integer(json_object_get(opts, "gracePeriodSeconds")))
			grace = (long)json_integer_value(json_object_get(opts, "gracePeriodSeconds"));
		pre = json_object_get(opts, "preconditions");
		if (json_is_array(json_object_get(opts, "dryRun")) &&
		    json_string_value(json_array_get(json_object_get(opts, "dryRun"), 0)) &&
		    strcmp(json_string_value(json_array_get(json_object_get(opts, "dryRun"), 0)), "All") == 0)
			dry = true;
	}
	if (policy && strcmp(policy, "Foreground") && strcmp(policy, "Background") && strcmp(policy, "Orphan")) {
		struct kf_errs e;
		ferr_init(&e);
		ferr_add(&e, "FieldValueNotSupported", "propagationPolicy",
			 "Unsupported value: \"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"", policy);
		answer_status(resp, kf_invalid("meta.k8s.io", "DeleteOptions", "", &e));
		json_decref(opts);
		return;
	}
	if (!policy && strcmp(rt->r->resource, "jobs") == 0)
		policy = "Orphan";   /* batch/v1 Jobs orphan their pods unless told otherwise */
	if (!collection) {
		json_t *cur = store_get(&k->st, rt->r, rt->ns, rt->name), *body;
		if (!cur) {
			answer_status(resp, kf_not_found(rt->r, rt->name));
			json_decref(opts);
			return;
		}
		body = delete_one(k, rt->r, cur, policy, grace, pre, dry, &code);
		answer(resp, code, body);
	} else {
		const char *ls = q_get(&req->q, "labelSelector"), *fs = q_get(&req->q, "fieldSelector");
		char *err = NULL;
		struct kf_sel *sel = sel_parse(ls, &err);
		struct kf_fsel *fsel = sel ? fsel_parse(rt->r, fs, &err) : NULL;
		json_t *all, *o, *items = json_array();
		size_t i;
		char av[96], kind[96];

		if (!sel || !fsel) {
			answer_status(resp, kf_bad_request("%s", err));
			free(err);
			sel_free(sel);
			json_decref(items);
			json_decref(opts);
			return;
		}
		all = store_all(&k->st, rt->r, rt->has_ns ? rt->ns : NULL);
		json_array_foreach(all, i, o) {
			json_t *b;
			if (!sel_match(sel, json_object_get(json_object_get(o, "metadata"), "labels")) || !fsel_match(fsel, o))
				continue;
			json_array_append_new(items, item_copy(o));
			b = delete_one(k, rt->r, o, policy, grace, NULL, dry, &code);
			json_decref(b);
		}
		json_decref(all);
		sel_free(sel);
		fsel_free(fsel);
		kr_api_version(rt->r, av, sizeof(av));
		snprintf(kind, sizeof(kind), "%sList", rt->r->kind);
		answer(resp, 200, json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind, "apiVersion", av, "metadata",
					    "resourceVersion", "", "items", items));
	}
	json_decref(opts);
}

static void do_evict(struct fake_kube *k, const struct route *rt, struct kf_req *req, struct kf_resp *resp)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr), *st;
	int code = 201;
	const char *name;

	if (!json_is_object(body)) {
		json_decref(body);
		answer_status(resp, kf_bad_request("couldn't get version/kind; json parse error: %s", jerr.text));
		return;
	}
	name = mstr(body, "name");
	if (name && strcmp(name, rt->name) != 0) {
		json_decref(body);
		answer_status(resp, kf_bad_request("name in URL does not match name in Eviction object"));
		return;
	}
	st = rollout_evict(k, rt->ns, rt->name, body, &code);
	json_decref(body);
	answer(resp, code, st);
}

/* ---- the entry point --------------------------------------------------------------------------------------------------- */

static void non_resource(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp)
{
	const char *p = req->path;
	const char *ctype = NULL;
	int code;
	json_t *d;

	(void)k;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		answer_status(resp, kf_status(404, "NotFound", "404 page not found", NULL));
		return;
	}
	if (strcmp(p, "/healthz") == 0 || strcmp(p, "/livez") == 0 || strcmp(p, "/readyz") == 0) {
		resp->code = 200;
		resp->raw = xstrdup("ok");
		resp->ctype = "text/plain; charset=utf-8";
		return;
	}
	d = kr_discovery(p, req->accept, &ctype, &code);
	if (d) {
		resp->code = code;
		resp->body = d;
		resp->ctype = ctype;
		return;
	}
	resp->code = 404;
	resp->raw = xstrdup("404 page not found\n");
	resp->ctype = "text/plain; charset=utf-8";
	if (strncmp(p, "/api/", 5) == 0 || strncmp(p, "/apis/", 6) == 0) {
		free(resp->raw);
		resp->raw = NULL;
		resp->body = path_not_found();
		resp->ctype = NULL;
	}
}

static const char *verb_of(const char *method, const struct route *rt, struct kf_req *req)
{
	const char *w = q_get(&req->q, "watch");

	if (strcmp(method, "GET") == 0) {
		if (w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0))
			return "watch";
		return rt->has_name ? "get" : "list";
	}
	if (strcmp(method, "POST") == 0)
		return "create";
	if (strcmp(method, "PUT") == 0)
		return "update";
	if (strcmp(method, "PATCH") == 0)
		return "patch";
	if (strcmp(method, "DELETE") == 0)
		return rt->has_name ? "delete" : "deletecollection";
	return NULL;
}

static void handle(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp, bool classify_only)
{
	struct route rt;
	const char *verb;

	resp->code = 200;
	if (strncmp(req->path, "/api/", 5) != 0 && strncmp(req->path, "/apis/", 6) != 0) {
		non_resource(k, req, resp);
		return;
	}
	if (parse_route(req->path, &rt) != 0) {
		non_resource(k, req, resp);
		return;
	}
	verb = verb_of(req->method, &rt, req);
	if (!classify_only && req->accept && req->accept[0] && !strstr(req->accept, "json") && !strstr(req->accept, "*/*")) {
		/* answers are JSON only: a client that takes nothing else is told so */
		answer_status(resp, kf_status(406, "NotAcceptable",
					      "only the following media types are accepted: application/json, "
					      "application/yaml, application/vnd.kubernetes.protobuf", NULL));
		return;
	}
	if (!verb) {
		answer_status(resp, method_not_allowed());
		return;
	}
	snprintf(resp->verb, sizeof(resp->verb), "%s", verb);
	snprintf(resp->resource, sizeof(resp->resource), "%s", rt.r->resource);
	snprintf(resp->subresource, sizeof(resp->subresource), "%s", rt.sub);
	snprintf(resp->ns, sizeof(resp->ns), "%s", rt.ns);
	snprintf(resp->name, sizeof(resp->name), "%s", rt.name);
	if (classify_only)
		return;
	if (rt.sub[0]) {
		bool ok = false;
		if (strcmp(rt.sub, "eviction") == 0)
			ok = strcmp(verb, "create") == 0;
		else if (strcmp(rt.sub, "log") == 0)
			ok = strcmp(verb, "get") == 0;
		else if (strcmp(rt.sub, "finalize") == 0)
			ok = strcmp(verb, "update") == 0;
		else
			ok = strcmp(verb, "get") == 0 || strcmp(verb, "update") == 0 || strcmp(verb, "patch") == 0;
		if (!ok) {
			answer_status(resp, method_not_allowed());
			return;
		}
	} else if (!kr_has_verb(rt.r, verb) || (rt.r->flags & KR_NO_STORE && strcmp(verb, "create") != 0)) {
		answer_status(resp, method_not_allowed());
		return;
	}
	if (strcmp(verb, "get") == 0)
		do_get(k, &rt, req, resp);
	else if (strcmp(verb, "list") == 0)
		list_objects(k, &rt, req, resp);
	else if (strcmp(verb, "watch") == 0)
		watch_objects(k, &rt, req, resp);
	else if (strcmp(verb, "create") == 0 && strcmp(rt.sub, "eviction") == 0)
		do_evict(k, &rt, req, resp);
	else if (strcmp(verb, "create") == 0)
		do_create(k, &rt, req, resp);
	else if (strcmp(verb, "update") == 0 && strcmp(rt.sub, "finalize") == 0)
		do_update(k, &rt, req, resp);
	else if (strcmp(verb, "update") == 0)
		do_update(k, &rt, req, resp);
	else if (strcmp(verb, "patch") == 0)
		do_patch(k, &rt, req, resp);
	else
		do_delete(k, &rt, req, resp, strcmp(verb, "deletecollection") == 0);
	if (!resp->watch && resp->body && resp->code < 300 && req->accept && strstr(req->accept, "as=PartialObjectMetadata") &&
	    !wants_table(req) && (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0) && !rt.sub[0]) {
		json_t *b = resp->body, *items = json_object_get(b, "items"), *out, *o;
		size_t i;
		if (items) {
			json_t *pm = json_array();
			json_array_foreach(items, i, o)
				json_array_append_new(pm, json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
								    "meta.k8s.io/v1", "metadata", json_object_get(o, "metadata")));
			out = json_pack("{s:s, s:s, s:O, s:o}", "kind", "PartialObjectMetadataList", "apiVersion", "meta.k8s.io/v1",
					"metadata", json_object_get(b, "metadata"), "items", pm);
			resp->ctype = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
		} else {
			out = json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion", "meta.k8s.io/v1",
					"metadata", json_object_get(b, "metadata"));
			resp->ctype = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io";
		}
		json_decref(b);
		resp->body = out;
		return;
	}
	if (!resp->watch && resp->body && resp->code < 300 && wants_table(req) &&
	    (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0) && !rt.sub[0]) {
		json_t *t = to_table(k, rt.r, resp->body);
		json_decref(resp->body);
		resp->body = t;
		resp->ctype = "application/json;as=Table;v=v1;g=meta.k8s.io";
	}
}

void api_handle(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp)
{
	handle(k, req, resp, false);
}

void api_classify(struct fake_kube *k, struct kf_req *req, struct kf_resp *resp)
{
	handle(k, req, resp, true);
}

/* ---- the C API: objects ------------------------------------------------------------------------------------------------ */

static int seed_one(struct fake_kube *k, json_t *obj)
{
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const struct kr *r = kr_by_kind(av, kind);
	json_t *st = NULL, *c;
	int code;

	if (!r) {
		fprintf(stderr, "fake_kube_seed: unknown kind %s %s\n", av ? av : "?", kind ? kind : "?");
		return 400;
	}
	c = json_deep_copy(obj);
	{
		char *terr = schema_type_error(schema_for(r), c);
		st = terr ? kf_bad_request("%s", terr) : NULL;
		free(terr);
	}
	if (!st) {
		json_t *unknown = json_array();
		schema_unknown(schema_for(r), c, "", unknown, true);
		if (json_array_size(unknown))
			fprintf(stderr, "fake_kube_seed: %s %s: unknown fields dropped (%s...)\n", kind, mstr(c, "name"),
				json_string_value(json_array_get(unknown, 0)));
		json_decref(unknown);
		strip_nulls(c);
		st = prepare_create(k, r, mstr(c, "namespace") ? mstr(c, "namespace") : "default", c, "fake-seed", true);
	}
	if (st) {
		code = kf_status_code(st);
		fprintf(stderr, "fake_kube_seed: %s: %s\n", kind, json_string_value(json_object_get(st, "message")));
		json_decref(st);
		json_decref(c);
		return code;
	}
	commit(k, r, NULL, c, false);
	return 0;
}

int fake_kube_seed(struct fake_kube *k, const char *text)
{
	char *err = NULL;
	json_t *docs = kf_yaml_to_json(text, strlen(text), &err), *d;
	size_t i;
	int rc = 0;

	if (!docs) {
		fprintf(stderr, "fake_kube_seed: %s\n", err ? err : "cannot parse");
		free(err);
		return 400;
	}
	pthread_mutex_lock(&k->mu);
	json_array_foreach(docs, i, d) {
		const char *kind = json_string_value(json_object_get(d, "kind"));
		if (json_is_null(d))
			continue;
		if (kind && strcmp(kind, "List") == 0) {
			json_t *it;
			size_t j;
			json_array_foreach(json_object_get(d, "items"), j, it)
				if (!rc)
					rc = seed_one(k, it);
		} else if (!rc) {
			rc = seed_one(k, d);
		}
	}
	pthread_mutex_unlock(&k->mu);
	json_decref(docs);
	return rc;
}

json_t *fake_kube_get(struct fake_kube *k, const char *resource, const char *ns, const char *name)
{
	const struct kr *r = kr_lookup(resource);
	json_t *o, *out = NULL;

	if (!r)
		return NULL;
	pthread_mutex_lock(&k->mu);
	o = store_get(&k->st, r, ns, name);
	if (o)
		out = json_deep_copy(o);
	pthread_mutex_unlock(&k->mu);
	return out;
}

json_t *fake_kube_list(struct fake_kube *k, const char *resource, const char *ns, const char *label_selector)
{
	const struct kr *r = kr_lookup(resource);
	char *err = NULL;
	struct kf_sel *sel;
	json_t *all, *out = json_array(), *o;
	size_t i;

	if (!r)
		return out;
	sel = sel_parse(label_selector, &err);
	free(err);
	pthread_mutex_lock(&k->mu);
	all = store_all(&k->st, r, ns);
	json_array_foreach(all, i, o)
		if (sel_match(sel, json_object_get(json_object_get(o, "metadata"), "labels")))
			json_array_append_new(out, json_deep_copy(o));
	json_decref(all);
	pthread_mutex_unlock(&k->mu);
	sel_free(sel);
	return out;
}

int fake_kube_remove(struct fake_kube *k, const char *resource, const char *ns, const char *name)
{
	const struct kr *r = kr_lookup(resource);
	int rc = -1;

	if (!r)
		return -1;
	pthread_mutex_lock(&k->mu);
	if (store_get(&k->st, r, ns, name)) {
		store_remove(&k->st, r, ns, name);
		rc = 0;
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

int fake_kube_set_status(struct fake_kube *k, const char *resource, const char *ns, const char *name, json_t *status)
{
	const struct kr *r = kr_lookup(resource);
	json_t *o, *c;
	int rc = -1;

	if (!r)
		return -1;
	pthread_mutex_lock(&k->mu);
	o = store_get(&k->st, r, ns, name);
	if (o) {
		c = json_deep_copy(o);
		json_object_set_new(c, "status", json_deep_copy(status));
		commit(k, r, o, c, false);
		rc = 0;
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

uint64_t fake_kube_resource_version(struct fake_kube *k)
{
	uint64_t rv;

	pthread_mutex_lock(&k->mu);
	rv = k->st.rv;
	pthread_mutex_unlock(&k->mu);
	return rv;
}
