/*
 * Server-side apply and managedFields, after structured-merge-diff in
 * spirit: field sets in the FieldsV1 format ("f:spec", `k:{"name":"app"}`,
 * `v:"x"`, "."), one entry per (manager, operation, subresource).
 *   - apply creates when absent, merges when present (maps and structs
 *     field by field, lists by their keys, sets as unions, atomic values
 *     replaced), removes what the manager applied before and no longer
 *     applies unless another manager owns it, and reports conflicts with
 *     other managers (409, the API server's message) unless force;
 *   - an update (POST, PUT, non-apply PATCH) gives its manager the fields
 *     it changed and takes them from every other manager.
 * Simplified: subtrees the schema leaves open ("*") are atomic here;
 * the status and scale subresources are tracked with the main resource.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what is tracked -------------------------------------------------------------- */

/* A copy of obj without what managedFields never track. */
static json_t *trackable(json_t *obj, const char *sub)
{
	static const char *const meta_skip[] = { "name", "namespace", "uid", "resourceVersion", "generation",
						 "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp",
						 "deletionGracePeriodSeconds", NULL };
	json_t *c = json_deep_copy(obj), *m;

	json_object_del(c, "apiVersion");
	json_object_del(c, "kind");
	m = json_object_get(c, "metadata");
	for (size_t i = 0; meta_skip[i]; i++)
		json_object_del(m, meta_skip[i]);
	if (m && json_object_size(m) == 0)
		json_object_del(c, "metadata");
	if (sub && strcmp(sub, "status") == 0) {
		json_t *st = json_incref(json_object_get(c, "status"));
		json_object_clear(c);
		if (st)
			json_object_set_new(c, "status", st);
	} else {
		json_object_del(c, "status");
	}
	return c;
}

/* ---- keys of associative lists --------------------------------------------------------- */

/* The key of item as `{"a":1,"b":"x"}` (names sorted), or NULL when a key is missing. */
static char *item_key(const char *const *keys, json_t *item)
{
	const char *sorted[8];
	size_t n = 0;
	json_t *obj = json_object();
	char *out;

	for (size_t i = 0; keys && keys[i] && n < 8; i++)
		sorted[n++] = keys[i];
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
			const char *t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(item, sorted[i]);
		if (!v && strcmp(sorted[i], "protocol") == 0)
			v = json_string("TCP");   /* the schema's default, as SSA sees it */
		else if (v)
			json_incref(v);
		if (!v) {
			json_decref(obj);
			return NULL;
		}
		json_object_set_new(obj, sorted[i], v);
	}
	out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	return out;
}

static const struct kf_schema *child_schema(const struct kf_schema *s, const char *field)
{
	return schema_field(s, field);
}

/* ---- building field sets ------------------------------------------------------------------ */

static void fs_build(const struct kf_schema *s, json_t *v, json_t *set);

static void fs_list(const struct kf_schema *ls, json_t *arr, json_t *set)
{
	const char *const *keys = NULL;
	int type = schema_list_type(ls, &keys);
	json_t *it;
	size_t i;

	json_array_foreach(arr, i, it) {
		if (type == 1) {
			char *k = item_key(keys, it);
			json_t *node;
			char *name;
			if (!k)
				continue;
			name = xasprintf("k:%s", k);
			node = json_object_get(set, name);
			if (!node) {
				node = json_object();
				json_object_set_new(set, name, node);
			}
			json_object_set_new(node, ".", json_object());
			if (json_is_object(it))
				fs_build(schema_items(ls), it, node);
			free(name);
			free(k);
		} else if (type == 2) {
			char *js = json_dumps(it, JSON_COMPACT | JSON_ENCODE_ANY);
			char *name = xasprintf("v:%s", js);
			json_object_set_new(set, name, json_object());
			free(name);
			free(js);
		}
	}
}

/* The fields of object v (schema s) into set. */
static void fs_build(const struct kf_schema *s, json_t *v, json_t *set)
{
	const char *key;
	json_t *x;

	json_object_foreach(v, key, x) {
		const struct kf_schema *cs = child_schema(s, key);
		char *name = xasprintf("f:%s", key);
		json_t *node = json_object();
		int lt = schema_list_type(cs, NULL);

		if (json_is_object(x) && json_object_size(x) > 0 && cs && (schema_is_map(cs) || schema_go_name(cs)))
			fs_build(cs, x, node);
		else if (json_is_array(x) && lt != 0)
			fs_list(cs, x, node);
		json_object_set_new(set, name, node);
		free(name);
	}
}

/* Leaf paths of a set: arrays of elements; "." marks a list item itself. */
static void leaves_under(json_t *set, json_t *prefix, json_t *out)
{
	const char *key;
	json_t *child;

	json_object_foreach(set, key, child) {
		json_t *p = json_copy(prefix);
		json_array_append_new(p, json_string(key));
		if (json_object_size(child) == 0)
			json_array_append(out, p);
		else
			leaves_under(child, p, out);
		json_decref(p);
	}
}

static void fs_leaves(json_t *set, json_t *out)
{
	json_t *prefix = json_array();

	leaves_under(set, prefix, out);
	json_decref(prefix);
}

static bool fs_has(json_t *set, json_t *path)
{
	json_t *cur = set, *e;
	size_t i;

	json_array_foreach(path, i, e) {
		cur = json_object_get(cur, json_string_value(e));
		if (!cur)
			return false;
	}
	return json_object_size(cur) == 0;
}

static void fs_add(json_t *set, json_t *path)
{
	json_t *cur = set, *e;
	size_t i;

	json_array_foreach(path, i, e) {
		json_t *n = json_object_get(cur, json_string_value(e));
		if (!n) {
			n = json_object();
			json_object_set_new(cur, json_string_value(e), n);
		}
		cur = n;
	}
}

/* Remove a leaf; parents left empty go too. */
static void fs_remove(json_t *set, json_t *path, size_t depth)
{
	const char *k = json_string_value(json_array_get(path, depth));
	json_t *n = k ? json_object_get(set, k) : NULL;

	if (!n)
		return;
	if (depth + 1 == json_array_size(path)) {
		if (json_object_size(n) == 0)
			json_object_del(set, k);
		return;
	}
	fs_remove(n, path, depth + 1);
	if (json_object_size(n) == 0)
		json_object_del(set, k);
}

/* ---- values at paths ---------------------------------------------------------------------------- */

static json_t *find_item(json_t *arr, const char *keyjson, const struct kf_schema *ls)
{
	const char *const *keys = NULL;
	json_t *it;
	size_t i;

	schema_list_type(ls, &keys);
	json_array_foreach(arr, i, it) {
		char *k = item_key(keys, it);
		bool hit = k && strcmp(k, keyjson) == 0;
		free(k);
		if (hit)
			return it;
	}
	return NULL;
}

static json_t *find_value(json_t *arr, const char *js)
{
	json_t *want = json_loads(js, JSON_DECODE_ANY, NULL), *it, *out = NULL;
	size_t i;

	json_array_foreach(arr, i, it)
		if (json_equal(it, want)) {
			out = it;
			break;
		}
	json_decref(want);
	return out;
}

/* The value at path (borrowed) or NULL; *ls follows the schema. */
static json_t *value_at(const struct kf_schema *s, json_t *obj, json_t *path)
{
	json_t *cur = obj, *e;
	const struct kf_schema *cs = s;
	size_t i;

	json_array_foreach(path, i, e) {
		const char *el = json_string_value(e);
		if (!cur)
			return NULL;
		if (strncmp(el, "f:", 2) == 0) {
			cur = json_is_object(cur) ? json_object_get(cur, el + 2) : NULL;
			cs = child_schema(cs, el + 2);
		} else if (strncmp(el, "k:", 2) == 0) {
			cur = json_is_array(cur) ? find_item(cur, el + 2, cs) : NULL;
			cs = schema_items(cs);
		} else if (strncmp(el, "v:", 2) == 0) {
			cur = json_is_array(cur) ? find_value(cur, el + 2) : NULL;
		}
	}
	return cur;
}

/* Remove what path names from obj (a "." removes the list item). */
static void remove_at(const struct kf_schema *s, json_t *obj, json_t *path)
{
	json_t *cur = obj, *parent = NULL, *e;
	const struct kf_schema *cs = s, *pcs = NULL;
	size_t n = json_array_size(path);
	const char *last;

	if (n == 0)
		return;
	last = json_string_value(json_array_get(path, n - 1));
	if (strcmp(last, ".") == 0) {
		n--;
		if (n == 0)
			return;
		last = json_string_value(json_array_get(path, n - 1));
	}
	for (size_t i = 0; i + 1 < n && cur; i++) {
		const char *el;
		e = json_array_get(path, i);
		el = json_string_value(e);
		parent = cur;
		pcs = cs;
		if (strncmp(el, "f:", 2) == 0) {
			cur = json_is_object(cur) ? json_object_get(cur, el + 2) : NULL;
			cs = child_schema(cs, el + 2);
		} else if (strncmp(el, "k:", 2) == 0) {
			cur = json_is_array(cur) ? find_item(cur, el + 2, cs) : NULL;
			cs = schema_items(cs);
		} else {
			cur = NULL;
		}
	}
	(void)parent;
	(void)pcs;
	if (!cur)
		return;
	if (strncmp(last, "f:", 2) == 0 && json_is_object(cur)) {
		json_object_del(cur, last + 2);
	} else if ((strncmp(last, "k:", 2) == 0 || strncmp(last, "v:", 2) == 0) && json_is_array(cur)) {
		json_t *it = last[0] == 'k' ? find_item(cur, last + 2, cs) : find_value(cur, last + 2);
		size_t i;
		json_t *x;
		json_array_foreach(cur, i, x)
			if (x == it) {
				json_array_remove(cur, i);
				break;
			}
	}
}

/*
 * A struct or map the manager owned as a whole (applied empty) that others
 * have filled since: what they own is not the manager's to remove.
 */
static bool filled_struct(const struct kf_schema *s, json_t *obj, json_t *path)
{
	const struct kf_schema *cs = s;
	json_t *e, *v = value_at(s, obj, path);
	size_t i;

	json_array_foreach(path, i, e) {
		const char *el = json_string_value(e);
		if (strncmp(el, "f:", 2) == 0)
			cs = child_schema(cs, el + 2);
		else if (strncmp(el, "k:", 2) == 0)
			cs = schema_items(cs);
	}
	if (strcmp(json_string_value(json_array_get(path, json_array_size(path) - 1)), ".") == 0)
		return false;
	return cs && (schema_is_map(cs) || schema_go_name(cs)) && json_is_object(v) && json_object_size(v) > 0;
}

/* fieldpath.Path.String(): .spec.template.spec.containers[name="app"].image */
static char *path_string(json_t *path)
{
	struct strbuf sb;
	json_t *e;
	size_t i;

	sb_init(&sb);
	json_array_foreach(path, i, e) {
		const char *el = json_string_value(e);
		if (strncmp(el, "f:", 2) == 0) {
			sb_addf(&sb, ".%s", el + 2);
		} else if (strncmp(el, "k:", 2) == 0) {
			json_t *k = json_loads(el + 2, 0, NULL), *v;
			const char *name;
			bool first = true;
			sb_addc(&sb, '[');
			json_object_foreach(k, name, v) {
				char *js = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				sb_addf(&sb, "%s%s=%s", first ? "" : ",", name, js);
				free(js);
				first = false;
			}
			sb_addc(&sb, ']');
			json_decref(k);
		} else if (strncmp(el, "v:", 2) == 0) {
			sb_addf(&sb, "[=%s]", el + 2);
		}
	}
	return sb_detach(&sb);
}

/* ---- merging an applied configuration ------------------------------------------------------------- */

static void ssa_merge(const struct kf_schema *s, json_t *live, json_t *cfg);

static void merge_list(const struct kf_schema *ls, json_t *live, json_t *cfg)
{
	const char *const *keys = NULL;
	int type = schema_list_type(ls, &keys);
	json_t *it;
	size_t i;

	json_array_foreach(cfg, i, it) {
		if (type == 1) {
			char *k = item_key(keys, it);
			json_t *have = k ? find_item(live, k, ls) : NULL;
			free(k);
			if (have && json_is_object(have) && json_is_object(it))
				ssa_merge(schema_items(ls), have, it);
			else
				json_array_append_new(live, json_deep_copy(it));
		} else {
			size_t j;
			json_t *x;
			bool have = false;
			json_array_foreach(live, j, x)
				if (json_equal(x, it))
					have = true;
			if (!have)
				json_array_append_new(live, json_deep_copy(it));
		}
	}
}

static void ssa_merge(const struct kf_schema *s, json_t *live, json_t *cfg)
{
	const char *key;
	json_t *v;

	json_object_foreach(cfg, key, v) {
		const struct kf_schema *cs = child_schema(s, key);
		json_t *cur = json_object_get(live, key);
		int lt = schema_list_type(cs, NULL);

		if (json_is_object(v) && cs && (schema_is_map(cs) || schema_go_name(cs)) && json_is_object(cur)) {
			ssa_merge(cs, cur, v);
		} else if (json_is_array(v) && lt != 0 && json_is_array(cur)) {
			merge_list(cs, cur, v);
		} else {
			json_object_set_new(live, key, json_deep_copy(v));
		}
	}
}

/* ---- managedFields entries -------------------------------------------------------------------------- */

static bool entry_is(json_t *e, const char *manager, const char *op, const char *sub)
{
	const char *m = json_string_value(json_object_get(e, "manager"));
	const char *o = json_string_value(json_object_get(e, "operation"));
	const char *s = json_string_value(json_object_get(e, "subresource"));

	return m && o && strcmp(m, manager) == 0 && strcmp(o, op) == 0 &&
	       strcmp(s ? s : "", sub ? sub : "") == 0;
}

static json_t *entry_set(json_t *e)
{
	json_t *s = json_object_get(e, "fieldsV1");

	if (!json_is_object(s)) {
		s = json_object();
		json_object_set_new(e, "fieldsV1", s);
	}
	return s;
}

static json_t *new_entry(struct fake_kube *k, const struct kr *r, const char *manager, const char *op, const char *sub)
{
	char av[96], ts[32];
	json_t *e;

	kr_api_version(r, av, sizeof(av));
	kf_rfc3339(kf_now(k), ts);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "manager", manager, "operation", op, "apiVersion", av, "time", ts,
		      "fieldsType", "FieldsV1", "fieldsV1");
	if (sub && sub[0])
		json_object_set_new(e, "subresource", json_string(sub));
	return e;
}

static void touch_entry(struct fake_kube *k, const struct kr *r, json_t *e)
{
	char av[96], ts[32];

	kr_api_version(r, av, sizeof(av));
	kf_rfc3339(kf_now(k), ts);
	json_object_set_new(e, "apiVersion", json_string(av));
	json_object_set_new(e, "time", json_string(ts));
}

/* Entries without fields go. */
static json_t *prune_entries(json_t *mf)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(mf, i, e)
		if (json_object_size(json_object_get(e, "fieldsV1")) > 0)
			json_array_append(out, e);
	return out;
}

/* Go's %q printManager of an entry. */
static char *print_manager(json_t *e)
{
	const char *m = json_string_value(json_object_get(e, "manager"));
	const char *op = json_string_value(json_object_get(e, "operation"));
	const char *sub = json_string_value(json_object_get(e, "subresource"));
	char *q = go_quote(m ? m : ""), *out;

	if (sub && sub[0]) {
		char *qs = go_quote(sub);
		char *t = xasprintf("%s with subresource %s", q, qs);
		free(q);
		free(qs);
		q = t;
	}
	if (op && strcmp(op, "Update") == 0) {
		const char *t = json_string_value(json_object_get(e, "time"));
		out = t ? xasprintf("%s using %s at %s", q, json_string_value(json_object_get(e, "apiVersion")), t)
			: xasprintf("%s using %s", q, json_string_value(json_object_get(e, "apiVersion")));
		free(q);
		return out;
	}
	return q;
}

void ssa_update(struct fake_kube *k, const struct kr *r, json_t *old, json_t *obj, const char *manager,
		const char *sub)
{
	const struct kf_schema *s = schema_for(r);
	json_t *m = json_object_get(obj, "metadata");
	json_t *sent = json_object_get(m, "managedFields");
	json_t *oldmf = old ? json_object_get(json_object_get(old, "metadata"), "managedFields") : NULL;
	json_t *mf, *tn, *to, *sn, *so, *leaves, *lp, *e, *own = NULL, *changed = json_array(), *pruned;
	size_t i, j;

	if (!manager || !manager[0])
		manager = "unknown";
	/* managedFields sent differently from what is stored replace it; sent as is, they are ignored */
	mf = json_deep_copy(sent && (!oldmf || !json_equal(sent, oldmf)) ? sent : oldmf);
	if (!json_is_array(mf)) {
		json_decref(mf);
		mf = json_array();
	}
	tn = trackable(obj, sub);
	to = old ? trackable(old, sub) : json_object();
	sn = json_object();
	so = json_object();
	fs_build(s, tn, sn);
	fs_build(s, to, so);
	leaves = json_array();
	fs_leaves(sn, leaves);
	json_array_foreach(leaves, i, lp) {
		json_t *a = value_at(s, tn, lp), *b = old ? value_at(s, to, lp) : NULL;
		if (!old || !b || !json_equal(a, b))
			json_array_append(changed, lp);
	}
	json_decref(leaves);
	leaves = json_array();
	fs_leaves(so, leaves);
	json_array_foreach(leaves, i, lp)
		if (!fs_has(sn, lp))
			json_array_append(changed, lp);   /* removed: every owner lets go */
	json_decref(leaves);
	json_array_foreach(mf, i, e) {
		if (entry_is(e, manager, "Update", sub)) {
			own = e;
			continue;
		}
		json_array_foreach(changed, j, lp)
			fs_remove(entry_set(e), lp, 0);
	}
	if (json_array_size(changed) > 0) {
		if (!own) {
			own = new_entry(k, r, manager, "Update", sub);
			json_array_append_new(mf, own);
		}
		touch_entry(k, r, own);
		json_array_foreach(changed, j, lp) {
			if (fs_has(sn, lp))
				fs_add(entry_set(own), lp);
			else
				fs_remove(entry_set(own), lp, 0);
		}
	}
	pruned = prune_entries(mf);
	if (json_array_size(pruned))
		json_object_set_new(m, "managedFields", pruned);
	else {
		json_decref(pruned);
		json_object_del(m, "managedFields");
	}
	json_decref(mf);
	json_decref(changed);
	json_decref(tn);
	json_decref(to);
	json_decref(sn);
	json_decref(so);
}

/* Remove JSON nulls: an applied configuration's null sets nothing. */
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

static char *gvk_nn(const struct kr *r, json_t *cfg)
{
	json_t *m = json_object_get(cfg, "metadata");
	const char *ns = json_string_value(json_object_get(m, "namespace"));
	const char *name = json_string_value(json_object_get(m, "name"));
	char av[96];

	kr_api_version(r, av, sizeof(av));
	return xasprintf("%s/%s; %s, Kind=%s", ns ? ns : "", name ? name : "", av, r->kind);
}

json_t *ssa_apply(struct fake_kube *k, const struct kr *r, json_t *live, json_t *cfg_in, const char *manager,
		  bool force, const char *subresource, json_t **status)
{
	const struct kf_schema *s = schema_for(r);
	const char *av = json_string_value(json_object_get(cfg_in, "apiVersion"));
	const char *kind = json_string_value(json_object_get(cfg_in, "kind"));
	char want[96];
	json_t *cfg = NULL, *tc = NULL, *set = NULL, *mf = NULL, *own = NULL, *leaves = NULL, *lp, *e, *out = NULL;
	json_t *conflicts = NULL, *tl = NULL, *pruned;
	size_t i, j;
	char *err;

	*status = NULL;
	kr_api_version(r, want, sizeof(want));
	if (!av || strcmp(av, want) != 0) {
		*status = kf_bad_request("Incorrect version specified in apply patch. Specified patch version: %s, expected: %s",
					 av ? av : "", want);
		return NULL;
	}
	if (!kind || strcmp(kind, r->kind) != 0) {
		char *g = gvk_nn(r, cfg_in);
		*status = kf_status_f(500, "", NULL, "failed to create typed patch object (%s): no kind %s for %s", g,
				      kind ? kind : "\"\"", want);
		free(g);
		return NULL;
	}
	if (json_object_get(json_object_get(cfg_in, "metadata"), "managedFields")) {
		*status = kf_bad_request("metadata.managedFields must be nil");
		return NULL;
	}
	cfg = json_deep_copy(cfg_in);
	strip_nulls(cfg);
	err = schema_type_error(s, cfg);
	if (err) {
		char *g = gvk_nn(r, cfg);
		*status = kf_status_f(500, "", NULL, "failed to create typed patch object (%s): %s", g, err);
		free(g);
		free(err);
		goto out;
	}
	{
		json_t *unknown = json_array();
		schema_unknown(s, cfg, "", unknown, false);
		if (json_array_size(unknown)) {
			char *g = gvk_nn(r, cfg);
			*status = kf_status_f(500, "", NULL, "failed to create typed patch object (%s): .%s: field not declared in schema",
					      g, json_string_value(json_array_get(unknown, 0)));
			free(g);
			json_decref(unknown);
			goto out;
		}
		json_decref(unknown);
	}
	tc = trackable(cfg, subresource);
	set = json_object();
	fs_build(s, tc, set);
	leaves = json_array();
	fs_leaves(set, leaves);

	if (!live) {
		json_t *m;
		out = cfg;
		cfg = NULL;
		e = new_entry(k, r, manager, "Apply", subresource);
		json_object_set(e, "fieldsV1", set);
		m = json_object_get(out, "metadata");
		if (!json_is_object(m)) {
			m = json_object();
			json_object_set_new(out, "metadata", m);
		}
		json_object_set_new(m, "managedFields", json_pack("[o]", e));
		goto out;
	}

	mf = json_deep_copy(json_object_get(json_object_get(live, "metadata"), "managedFields"));
	if (!json_is_array(mf)) {
		json_decref(mf);
		mf = json_array();
	}
	tl = trackable(live, subresource);
	conflicts = json_array();
	json_array_foreach(mf, i, e) {
		if (entry_is(e, manager, "Apply", subresource)) {
			own = e;
			continue;
		}
		json_array_foreach(leaves, j, lp) {
			const char *last = json_string_value(json_array_get(lp, json_array_size(lp) - 1));
			if (strcmp(last, ".") == 0 || !fs_has(entry_set(e), lp))
				continue;
			if (json_equal(value_at(s, tc, lp), value_at(s, tl, lp)))
				continue;   /* the same value: shared ownership */
			json_array_append_new(conflicts, json_pack("{s:O, s:O}", "entry", e, "path", lp));
		}
	}
	if (json_array_size(conflicts) && !force) {
		struct strbuf msg;
		json_t *causes = json_array(), *c;
		size_t n = json_array_size(conflicts);

		sb_init(&msg);
		json_array_foreach(conflicts, i, c) {
			char *pm = print_manager(json_object_get(c, "entry"));
			char *ps = path_string(json_object_get(c, "path"));
			json_array_append_new(causes, json_pack("{s:s, s:s+, s:s}", "reason", "FieldManagerConflict", "message",
								"conflict with ", pm, "field", ps));
			if (n == 1)
				sb_addf(&msg, "Apply failed with 1 conflict: conflict with %s: %s", pm, ps);
			free(pm);
			free(ps);
		}
		if (n > 1) {
			/* grouped by manager, managers sorted */
			json_t *by = json_object(), *paths;
			const char *mname;
			const char **names;
			size_t nn = 0;

			json_array_foreach(conflicts, i, c) {
				char *pm = print_manager(json_object_get(c, "entry"));
				char *ps = path_string(json_object_get(c, "path"));
				json_t *l = json_object_get(by, pm);
				if (!l) {
					l = json_array();
					json_object_set_new(by, pm, l);
				}
				json_array_append_new(l, json_string(ps));
				free(pm);
				free(ps);
			}
			names = xmalloc((json_object_size(by) + 1) * sizeof(*names));
			json_object_foreach(by, mname, paths)
				names[nn++] = mname;
			for (size_t a = 1; a < nn; a++)
				for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
					const char *t = names[b];
					names[b] = names[b - 1];
					names[b - 1] = t;
				}
			sb_addf(&msg, "Apply failed with %zu conflicts: ", n);
			for (size_t a = 0; a < nn; a++) {
				json_t *p;
				sb_addf(&msg, "%sconflicts with %s:", a ? "\n" : "", names[a]);
				json_array_foreach(json_object_get(by, names[a]), j, p)
					sb_addf(&msg, "\n- %s", json_string_value(p));
			}
			free(names);
			json_decref(by);
		}
		*status = kf_status(409, "Conflict", msg.buf, json_pack("{s:o}", "causes", causes));
		sb_release(&msg);
		goto out;
	}
	/* force: the fields move to this manager */
	json_array_foreach(conflicts, i, e) {
		json_t *c = e;
		json_t *ent = json_object_get(c, "entry");
		json_t *me;
		size_t x;
		json_array_foreach(mf, x, me)
			if (me == ent)
				fs_remove(entry_set(me), json_object_get(c, "path"), 0);
	}
	out = json_deep_copy(live);
	if (own) {
		/* what this manager applied before and applies no more goes, unless someone else owns it */
		json_t *old_leaves = json_array();
		fs_leaves(entry_set(own), old_leaves);
		json_array_foreach(old_leaves, i, lp) {
			bool others = false;
			if (fs_has(set, lp))
				continue;
			json_array_foreach(mf, j, e)
				if (e != own && fs_has(entry_set(e), lp))
					others = true;
			if (!others && !filled_struct(s, out, lp))
				remove_at(s, out, lp);
		}
		json_decref(old_leaves);
	}
	ssa_merge(s, out, cfg);
	if (!own) {
		own = new_entry(k, r, manager, "Apply", subresource);
		json_array_append_new(mf, own);
	}
	if (!json_equal(entry_set(own), set))
		touch_entry(k, r, own);
	json_object_set(own, "fieldsV1", set);
	pruned = prune_entries(mf);
	json_object_set_new(json_object_get(out, "metadata"), "managedFields", pruned);
out:
	json_decref(cfg);
	json_decref(tc);
	json_decref(set);
	json_decref(mf);
	json_decref(leaves);
	json_decref(conflicts);
	json_decref(tl);
	if (*status) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- equality ---------------------------------------------------------------------------------------- */

static json_t *without_times(json_t *obj)
{
	json_t *c = json_copy(obj), *m = json_copy(json_object_get(obj, "metadata")), *mf, *e;
	size_t i;

	json_object_del(m, "resourceVersion");
	mf = json_deep_copy(json_object_get(m, "managedFields"));
	json_array_foreach(mf, i, e)
		json_object_del(e, "time");
	if (mf)
		json_object_set_new(m, "managedFields", mf);
	json_object_set_new(c, "metadata", m);
	return c;
}

bool obj_equal_ignoring_mf_time(json_t *a, json_t *b)
{
	json_t *x = without_times(a), *y = without_times(b);
	bool eq = json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return eq;
}
