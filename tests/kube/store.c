/*
 * The fake's object store: objects by resource, namespace and name, one
 * resourceVersion counter for everything (as etcd's revision), uids, a ring
 * of recent changes for watches, and the label and field selectors lists
 * are filtered with.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_CAP 4096      /* the watch cache: older resourceVersions get 410 Expired */

void store_init(struct kf_store *s)
{
	memset(s, 0, sizeof(*s));
	s->objs = json_object();
	s->rv = 1000;
	s->ev_cap = EVENTS_CAP;
	s->events = xcalloc(s->ev_cap, sizeof(*s->events));
}

void store_release(struct kf_store *s)
{
	json_decref(s->objs);
	for (size_t i = 0; i < s->ev_len; i++) {
		json_decref(s->events[(s->ev_head + i) % s->ev_cap].obj);
		json_decref(s->events[(s->ev_head + i) % s->ev_cap].prev);
	}
	free(s->events);
	memset(s, 0, sizeof(*s));
}

static json_t *bucket(struct kf_store *s, const struct kr *r, bool create)
{
	char key[128];
	json_t *b;

	snprintf(key, sizeof(key), "%s/%s", r->group, r->resource);
	b = json_object_get(s->objs, key);
	if (!b && create) {
		b = json_object();
		json_object_set_new(s->objs, key, b);
	}
	return b;
}

static void obj_key(const char *ns, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", ns ? ns : "", name ? name : "");
}

json_t *store_get(struct kf_store *s, const struct kr *r, const char *ns, const char *name)
{
	char key[600];
	json_t *b = bucket(s, r, false);

	if (!b)
		return NULL;
	obj_key(r->namespaced ? ns : "", name, key, sizeof(key));
	return json_object_get(b, key);
}

static void event_add(struct kf_store *s, const char *type, const struct kr *r, json_t *obj, json_t *prev)
{
	struct kf_event *e;

	if (s->ev_len == s->ev_cap) {
		json_decref(s->events[s->ev_head].obj);
		json_decref(s->events[s->ev_head].prev);
		s->ev_head = (s->ev_head + 1) % s->ev_cap;
		s->ev_len--;
	}
	e = &s->events[(s->ev_head + s->ev_len) % s->ev_cap];
	s->ev_len++;
	e->rv = s->rv;
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->r = r;
	e->obj = json_incref(obj);
	e->prev = json_incref(prev);
}

json_t *store_put(struct kf_store *s, const struct kr *r, json_t *obj, bool created)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	char key[600], rv[32];

	obj_key(r->namespaced ? ns : "", name, key, sizeof(key));
	s->rv++;
	s->writes++;
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)s->rv);
	json_object_set_new(meta, "resourceVersion", json_string(rv));
	{
		json_t *prev = json_incref(json_object_get(bucket(s, r, true), key));
		json_object_set_new(bucket(s, r, true), key, obj);
		event_add(s, created || !prev ? "ADDED" : "MODIFIED", r, obj, prev);
		json_decref(prev);
	}
	return obj;
}

void store_remove(struct kf_store *s, const struct kr *r, const char *ns, const char *name)
{
	char key[600], rv[32];
	json_t *b = bucket(s, r, false), *obj;

	obj_key(r->namespaced ? ns : "", name, key, sizeof(key));
	obj = b ? json_object_get(b, key) : NULL;
	if (!obj)
		return;
	/* a watch sees the object as it was, with the deletion's resourceVersion */
	obj = json_deep_copy(obj);
	s->rv++;
	s->writes++;
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)s->rv);
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
	json_object_del(b, key);
	event_add(s, "DELETED", r, obj, NULL);
	json_decref(obj);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *store_all(struct kf_store *s, const struct kr *r, const char *ns)
{
	json_t *b = bucket(s, r, false), *out = json_array(), *v;
	const char **keys;
	const char *key;
	size_t n = 0, prefix_len = 0;
	char prefix[300] = "";

	if (!b)
		return out;
	if (r->namespaced && ns && ns[0]) {
		snprintf(prefix, sizeof(prefix), "%s/", ns);
		prefix_len = strlen(prefix);
	}
	keys = xmalloc((json_object_size(b) + 1) * sizeof(*keys));
	json_object_foreach(b, key, v)
		if (strncmp(key, prefix, prefix_len) == 0)
			keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (size_t i = 0; i < n; i++)
		json_array_append(out, json_object_get(b, keys[i]));
	free(keys);
	return out;
}

char *store_new_uid(struct kf_store *s)
{
	/* uuid-v4-shaped and unique within the fake */
	uint64_t n = ++s->uid_seq;
	uint64_t h = n * 0x9E3779B97F4A7C15ULL;

	return xasprintf("%08llx-%04llx-4%03llx-8%03llx-%012llx", (unsigned long long)(h >> 32),
			 (unsigned long long)((h >> 16) & 0xffff), (unsigned long long)(h & 0xfff),
			 (unsigned long long)((n >> 48) & 0xfff), (unsigned long long)(n & 0xffffffffffffULL));
}

/* ---- label selectors ------------------------------------------------------------------ */

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS, OP_GT, OP_LT };

struct req {
	char *key;
	enum op op;
	char **vals;
	size_t nvals;
};

struct kf_sel {
	struct req *reqs;
	size_t n;
};

void sel_free(struct kf_sel *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->reqs[i].key);
		for (size_t j = 0; j < s->reqs[i].nvals; j++)
			free(s->reqs[i].vals[j]);
		free(s->reqs[i].vals);
	}
	free(s->reqs);
	free(s);
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* A key or a value: what may appear in one (qualified names, values). */
static char *token(const char **p)
{
	const char *s = *p;

	while (**p && (isalnum((unsigned char)**p) || strchr("-_./", **p)))
		(*p)++;
	return *p > s ? xstrndup(s, (size_t)(*p - s)) : NULL;
}

static bool valid_label_value(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return true;
	if (n > 63 || !isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i]))
			return false;
	return true;
}

struct kf_sel *sel_parse(const char *text, char **err)
{
	struct kf_sel *s = xcalloc(1, sizeof(*s));
	const char *p = text ? text : "";

	*err = NULL;
	skip_ws(&p);
	while (*p) {
		struct req r = { 0 };

		if (s->n >= 100) {
			*err = xstrdup("too many requirements");
			goto fail;
		}
		skip_ws(&p);
		if (*p == '!') {
			p++;
			skip_ws(&p);
			r.key = token(&p);
			r.op = OP_NOTEXISTS;
			if (!r.key) {
				*err = xasprintf("unable to parse requirement: found '%c', expected: identifier", *p ? *p : ' ');
				goto fail;
			}
		} else {
			r.key = token(&p);
			if (!r.key) {
				*err = xasprintf("unable to parse requirement: found '%c', expected: !, identifier, or 'end of string'",
						 *p ? *p : ' ');
				goto fail;
			}
			skip_ws(&p);
			if (*p == ',' || !*p) {
				r.op = OP_EXISTS;
			} else if (strncmp(p, "==", 2) == 0 || strncmp(p, "!=", 2) == 0 || *p == '=' || *p == '>' || *p == '<') {
				char *v;
				if (strncmp(p, "!=", 2) == 0) {
					r.op = OP_NE;
					p += 2;
				} else if (strncmp(p, "==", 2) == 0) {
					r.op = OP_EQ;
					p += 2;
				} else {
					r.op = *p == '=' ? OP_EQ : *p == '>' ? OP_GT : OP_LT;
					p++;
				}
				skip_ws(&p);
				v = token(&p);
				r.vals = xcalloc(1, sizeof(char *));
				r.vals[0] = v ? v : xstrdup("");
				r.nvals = 1;
			} else if (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0) {
				r.op = p[0] == 'i' ? OP_IN : OP_NOTIN;
				p += r.op == OP_IN ? 2 : 5;
				skip_ws(&p);
				if (*p != '(') {
					*err = xasprintf("unable to parse requirement: found '%c', expected: '('", *p ? *p : ' ');
					free(r.key);
					goto fail;
				}
				p++;
				for (int guard = 0; guard < 1000; guard++) {
					char *v;
					skip_ws(&p);
					v = token(&p);
					r.vals = xrealloc(r.vals, (r.nvals + 1) * sizeof(char *));
					r.vals[r.nvals++] = v ? v : xstrdup("");
					skip_ws(&p);
					if (*p == ',') {
						p++;
						continue;
					}
					if (*p == ')') {
						p++;
						break;
					}
					*err = xasprintf("unable to parse requirement: found '%c', expected: ',', or ')'", *p ? *p : ' ');
					s->reqs = xrealloc(s->reqs, (s->n + 1) * sizeof(r));
					s->reqs[s->n++] = r;
					goto fail;
				}
			} else {
				*err = xasprintf("unable to parse requirement: found '%c', expected: in, notin, =, ==, !=, gt, lt",
						 *p);
				free(r.key);
				goto fail;
			}
		}
		for (size_t i = 0; i < r.nvals; i++)
			if (!valid_label_value(r.vals[i])) {
				*err = xasprintf("unable to parse requirement: values[%zu][%s]: Invalid value: \"%s\": a valid label must be "
						 "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
						 "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
						 "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
						 i, r.key, r.vals[i]);
				s->reqs = xrealloc(s->reqs, (s->n + 1) * sizeof(r));
				s->reqs[s->n++] = r;
				goto fail;
			}
		s->reqs = xrealloc(s->reqs, (s->n + 1) * sizeof(r));
		s->reqs[s->n++] = r;
		skip_ws(&p);
		if (*p == ',') {
			p++;
			skip_ws(&p);
			if (!*p) {
				*err = xstrdup("unable to parse requirement: found '', expected: identifier");
				goto fail;
			}
		} else if (*p) {
			*err = xasprintf("unable to parse requirement: found '%c', expected: ',' or 'end of string'", *p);
			goto fail;
		}
	}
	return s;
fail:
	sel_free(s);
	return NULL;
}

static bool has_val(const struct req *r, const char *v)
{
	for (size_t i = 0; i < r->nvals; i++)
		if (strcmp(r->vals[i], v) == 0)
			return true;
	return false;
}

bool sel_match(const struct kf_sel *s, json_t *labels)
{
	if (!s)
		return true;
	for (size_t i = 0; i < s->n; i++) {
		const struct req *r = &s->reqs[i];
		const char *v = json_string_value(json_object_get(labels, r->key));
		bool ok;

		switch (r->op) {
		case OP_EQ: ok = v && strcmp(v, r->vals[0]) == 0; break;
		case OP_NE: ok = !v || strcmp(v, r->vals[0]) != 0; break;
		case OP_IN: ok = v && has_val(r, v); break;
		case OP_NOTIN: ok = !v || !has_val(r, v); break;
		case OP_EXISTS: ok = v != NULL; break;
		case OP_NOTEXISTS: ok = v == NULL; break;
		case OP_GT: ok = v && atoll(v) > atoll(r->vals[0]); break;
		case OP_LT: ok = v && atoll(v) < atoll(r->vals[0]); break;
		default: ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

bool labelselector_match(json_t *sel, json_t *labels, bool empty_matches_all)
{
	json_t *ml = json_object_get(sel, "matchLabels"), *me = json_object_get(sel, "matchExpressions"), *v, *e;
	const char *key;
	size_t i;

	if (json_object_size(ml) == 0 && json_array_size(me) == 0)
		return empty_matches_all;
	json_object_foreach(ml, key, v) {
		const char *have = json_string_value(json_object_get(labels, key));
		if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
			return false;
	}
	json_array_foreach(me, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *op = json_string_value(json_object_get(e, "operator"));
		const char *have = k ? json_string_value(json_object_get(labels, k)) : NULL;
		json_t *vals = json_object_get(e, "values"), *x;
		bool in = false;
		size_t j;

		json_array_foreach(vals, j, x)
			if (have && json_is_string(x) && strcmp(json_string_value(x), have) == 0)
				in = true;
		if (!op)
			return false;
		if (strcmp(op, "In") == 0 && !in)
			return false;
		if (strcmp(op, "NotIn") == 0 && in)
			return false;
		if (strcmp(op, "Exists") == 0 && !have)
			return false;
		if (strcmp(op, "DoesNotExist") == 0 && have)
			return false;
	}
	return true;
}

/* ---- field selectors --------------------------------------------------------------------- */

struct freq {
	char *field;
	bool neq;
	char *val;
};

struct kf_fsel {
	struct freq *reqs;
	size_t n;
};

void fsel_free(struct kf_fsel *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->reqs[i].field);
		free(f->reqs[i].val);
	}
	free(f->reqs);
	free(f);
}

static bool field_known(const struct kr *r, const char *field)
{
	size_t n = strlen(field);

	if (strcmp(field, "metadata.name") == 0 || (r->namespaced && strcmp(field, "metadata.namespace") == 0))
		return true;
	for (const char *p = r->fields; p && *p;) {
		size_t len = strcspn(p, " ");
		if (len == n && strncmp(p, field, n) == 0)
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

struct kf_fsel *fsel_parse(const struct kr *r, const char *text, char **err)
{
	struct kf_fsel *f = xcalloc(1, sizeof(*f));
	const char *p = text ? text : "";

	*err = NULL;
	while (*p && f->n < 100) {
		size_t len = strcspn(p, ",");
		char *term = xstrndup(p, len), *op;
		struct freq q = { 0 };

		if ((op = strstr(term, "!="))) {
			q.neq = true;
			q.val = xstrdup(op + 2);
		} else if ((op = strstr(term, "=="))) {
			q.val = xstrdup(op + 2);
		} else if ((op = strchr(term, '='))) {
			q.val = xstrdup(op + 1);
		} else {
			*err = xasprintf("invalid selector: '%s'; can't understand '%s'", text, term);
			free(term);
			fsel_free(f);
			return NULL;
		}
		*op = '\0';
		q.field = xstrdup(term);
		free(term);
		if (!field_known(r, q.field)) {
			if (!r->fields)
				*err = xasprintf("\"%s\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
						 q.field);
			else
				*err = xasprintf("field label not supported: %s", q.field);
			free(q.field);
			free(q.val);
			fsel_free(f);
			return NULL;
		}
		f->reqs = xrealloc(f->reqs, (f->n + 1) * sizeof(q));
		f->reqs[f->n++] = q;
		p += len;
		if (*p == ',')
			p++;
	}
	return f;
}

/* The value of a dotted field as a string ("" when absent): what field selectors compare. */
static char *field_value(json_t *obj, const char *field)
{
	char *path = xstrdup(field), *save = NULL, *part;
	json_t *cur = obj;
	char *out;

	for (part = strtok_r(path, ".", &save); part && cur; part = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, part);
	free(path);
	if (json_is_string(cur))
		out = xstrdup(json_string_value(cur));
	else if (json_is_boolean(cur))
		out = xstrdup(json_is_true(cur) ? "true" : "false");
	else if (json_is_integer(cur))
		out = xasprintf("%lld", (long long)json_integer_value(cur));
	else
		out = xstrdup("");
	return out;
}

bool fsel_match(const struct kf_fsel *f, json_t *obj)
{
	if (!f)
		return true;
	for (size_t i = 0; i < f->n; i++) {
		char *v;
		bool eq;

		if (strcmp(f->reqs[i].field, "spec.unschedulable") == 0 || strcmp(f->reqs[i].field, "spec.hostNetwork") == 0) {
			/* booleans that default to false */
			json_t *b = json_object_get(json_object_get(obj, "spec"), f->reqs[i].field + 5);
			v = xstrdup(json_is_true(b) ? "true" : "false");
		} else if (strcmp(f->reqs[i].field, "source") == 0) {
			v = field_value(obj, "source.component");
		} else {
			v = field_value(obj, f->reqs[i].field);
		}
		eq = strcmp(v, f->reqs[i].val) == 0;
		free(v);
		if (eq == f->reqs[i].neq)
			return false;
	}
	return true;
}
