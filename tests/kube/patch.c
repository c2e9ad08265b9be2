/*
 * The three patch types of PATCH (besides server-side apply, in apply.c):
 * JSON merge patch (RFC 7386), JSON patch (RFC 6902, with the API server's
 * answers: a patch that does not apply is 422), and strategic merge patch:
 * lists merged by their patchMergeKey (containers by name, ports by
 * containerPort/port, env by name...), sets merged, and the directives
 * $patch (replace, delete, merge), $retainKeys, $setElementOrder/FIELD and
 * $deleteFromPrimitiveList/FIELD that kubectl sends.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- RFC 7386 ---------------------------------------------------------------------- */

json_t *merge_patch(json_t *target, json_t *patch)
{
	json_t *out, *v;
	const char *key;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	out = json_is_object(target) ? json_deep_copy(target) : json_object();
	json_object_foreach(patch, key, v) {
		if (json_is_null(v)) {
			json_object_del(out, key);
		} else {
			json_t *m = merge_patch(json_object_get(out, key), v);
			json_object_set_new(out, key, m);
		}
	}
	return out;
}

/* ---- RFC 6902 ------------------------------------------------------------------------ */

static const char REJECTED[] = "the server rejected our request due to an error in our request";

/* Split a JSON pointer into unescaped tokens (a new array of strings), NULL when malformed. */
static json_t *pointer(const char *p)
{
	json_t *toks = json_array();

	if (!p)
		goto bad;
	if (!p[0])
		return toks;
	if (p[0] != '/')
		goto bad;
	for (p++;;) {
		size_t len = strcspn(p, "/");
		struct strbuf sb;
		sb_init(&sb);
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '~' && i + 1 < len && p[i + 1] == '0') {
				sb_addc(&sb, '~');
				i++;
			} else if (p[i] == '~' && i + 1 < len && p[i + 1] == '1') {
				sb_addc(&sb, '/');
				i++;
			} else {
				sb_addc(&sb, p[i]);
			}
		}
		json_array_append_new(toks, json_string(sb.buf));
		sb_release(&sb);
		if (json_array_size(toks) > 64)
			goto bad;
		p += len;
		if (!*p)
			break;
		p++;
	}
	return toks;
bad:
	json_decref(toks);
	return NULL;
}

static bool array_index(const char *tok, size_t *out)
{
	char *end;
	unsigned long v;

	if (!tok[0] || (tok[0] == '0' && tok[1]) || tok[0] == '-' || tok[0] == '+')
		return false;
	v = strtoul(tok, &end, 10);
	if (*end)
		return false;
	*out = v;
	return true;
}

/* The container of the last token (borrowed), or NULL. */
static json_t *parent_of(json_t *doc, json_t *toks)
{
	json_t *cur = doc;
	size_t n = json_array_size(toks);

	for (size_t i = 0; i + 1 < n && cur; i++) {
		const char *t = json_string_value(json_array_get(toks, i));
		size_t idx;
		if (json_is_object(cur))
			cur = json_object_get(cur, t);
		else if (json_is_array(cur) && array_index(t, &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
	}
	return cur;
}

static json_t *value_at(json_t *doc, json_t *toks)
{
	json_t *par;
	const char *last;
	size_t idx;

	if (json_array_size(toks) == 0)
		return doc;
	par = parent_of(doc, toks);
	last = json_string_value(json_array_get(toks, json_array_size(toks) - 1));
	if (json_is_object(par))
		return json_object_get(par, last);
	if (json_is_array(par) && array_index(last, &idx))
		return json_array_get(par, idx);
	return NULL;
}

/* add (steals v): 0 or -1 */
static int op_add(json_t **doc, json_t *toks, json_t *v)
{
	json_t *par;
	const char *last;
	size_t idx;

	if (json_array_size(toks) == 0) {
		json_decref(*doc);
		*doc = v;
		return 0;
	}
	par = parent_of(*doc, toks);
	last = json_string_value(json_array_get(toks, json_array_size(toks) - 1));
	if (json_is_object(par))
		return json_object_set_new(par, last, v);
	if (json_is_array(par)) {
		if (strcmp(last, "-") == 0)
			return json_array_append_new(par, v);
		if (array_index(last, &idx) && idx <= json_array_size(par))
			return json_array_insert_new(par, idx, v);
	}
	json_decref(v);
	return -1;
}

static int op_remove(json_t *doc, json_t *toks)
{
	json_t *par;
	const char *last;
	size_t idx;

	if (json_array_size(toks) == 0)
		return -1;
	par = parent_of(doc, toks);
	last = json_string_value(json_array_get(toks, json_array_size(toks) - 1));
	if (json_is_object(par) && json_object_get(par, last))
		return json_object_del(par, last);
	if (json_is_array(par) && array_index(last, &idx) && idx < json_array_size(par))
		return json_array_remove(par, idx);
	return -1;
}

json_t *json_patch(json_t *doc_in, json_t *ops, char **err, int *code)
{
	json_t *doc = json_deep_copy(doc_in), *op;
	size_t i;

	*err = NULL;
	*code = 0;
	if (json_array_size(ops) > 10000) {
		*err = xasprintf("The allowed maximum operations in a JSON patch is 10000, got %zu", json_array_size(ops));
		*code = 413;
		goto fail;
	}
	json_array_foreach(ops, i, op) {
		const char *kind = json_string_value(json_object_get(op, "op"));
		const char *path = json_string_value(json_object_get(op, "path"));
		const char *from = json_string_value(json_object_get(op, "from"));
		json_t *value = json_object_get(op, "value"), *toks, *ftoks = NULL;
		int rc = -1;

		if (!json_is_object(op)) {
			*err = xstrdup("json: cannot unmarshal non-object into Go value of type jsonpatch.Operation");
			*code = 400;
			goto fail;
		}
		toks = pointer(path);
		if (!toks || !kind) {
			json_decref(toks);
			*err = xstrdup(REJECTED);
			*code = 422;
			goto fail;
		}
		if (strcmp(kind, "add") == 0 && value) {
			rc = op_add(&doc, toks, json_deep_copy(value));
		} else if (strcmp(kind, "remove") == 0) {
			rc = op_remove(doc, toks);
		} else if (strcmp(kind, "replace") == 0 && value) {
			if (value_at(doc, toks)) {
				if (json_array_size(toks) == 0)
					rc = op_add(&doc, toks, json_deep_copy(value));
				else if (op_remove(doc, toks) == 0)
					rc = op_add(&doc, toks, json_deep_copy(value));
			}
		} else if ((strcmp(kind, "move") == 0 || strcmp(kind, "copy") == 0) && (ftoks = pointer(from))) {
			json_t *v = value_at(doc, ftoks);
			if (v) {
				v = json_deep_copy(v);
				if (strcmp(kind, "move") == 0 && op_remove(doc, ftoks) != 0) {
					json_decref(v);
				} else {
					rc = op_add(&doc, toks, v);
				}
			}
		} else if (strcmp(kind, "test") == 0) {
			json_t *v = value_at(doc, toks);
			rc = (v && json_equal(v, value)) || (!v && json_is_null(value)) ? 0 : -1;
		}
		json_decref(toks);
		json_decref(ftoks);
		if (rc != 0) {
			*err = xstrdup(REJECTED);
			*code = 422;
			goto fail;
		}
	}
	return doc;
fail:
	json_decref(doc);
	return NULL;
}

/* ---- strategic merge patch -------------------------------------------------------------------- */

static bool is_directive(const char *key)
{
	return key[0] == '$';
}

/* An item's value for the merge key; NULL when missing. */
static json_t *key_of(json_t *item, const char *mk)
{
	return json_is_object(item) ? json_object_get(item, mk) : NULL;
}

static json_t *smp_map(const struct kf_schema *s, json_t *orig, json_t *patch, char **err);

static int find_by_key(json_t *list, const char *mk, json_t *kv)
{
	size_t i;
	json_t *it;

	json_array_foreach(list, i, it)
		if (json_equal(key_of(it, mk), kv))
			return (int)i;
	return -1;
}

/* Reorder list: items named by order first (in that order), then the rest. */
static json_t *set_order(json_t *list, json_t *order, const char *mk)
{
	json_t *out = json_array(), *used = json_array(), *o, *it;
	size_t i, j;

	json_array_foreach(order, i, o) {
		json_array_foreach(list, j, it) {
			bool hit = mk ? json_equal(key_of(it, mk), key_of(o, mk)) : json_equal(it, o);
			if (hit && !json_is_true(json_array_get(used, j))) {
				json_array_append(out, it);
				while (json_array_size(used) <= j)
					json_array_append_new(used, json_false());
				json_array_set_new(used, j, json_true());
				break;
			}
		}
	}
	json_array_foreach(list, j, it)
		if (!json_is_true(json_array_get(used, j)))
			json_array_append(out, it);
	json_decref(used);
	return out;
}

static json_t *smp_list(const struct kf_schema *ls, json_t *orig, json_t *patch, char **err)
{
	const char *const *keys = NULL;
	int type = schema_list_type(ls, &keys);
	json_t *out, *p;
	size_t i;

	/* {"$patch": "replace"} as an element replaces the whole list */
	json_array_foreach(patch, i, p) {
		const char *d = json_string_value(json_object_get(p, "$patch"));
		if (json_is_object(p) && d && strcmp(d, "replace") == 0) {
			json_t *rep = json_array(), *q;
			size_t j;
			json_array_foreach(patch, j, q)
				if (j != i)
					json_array_append_new(rep, json_deep_copy(q));
			return rep;
		}
	}
	if (type == 2) {
		/* a set: union */
		out = json_is_array(orig) ? json_deep_copy(orig) : json_array();
		json_array_foreach(patch, i, p) {
			bool have = false;
			size_t j;
			json_t *q;
			json_array_foreach(out, j, q)
				if (json_equal(p, q))
					have = true;
			if (!have)
				json_array_append_new(out, json_deep_copy(p));
		}
		return out;
	}
	if (type != 1 || !keys || !keys[0])
		return json_deep_copy(patch);
	out = json_is_array(orig) ? json_deep_copy(orig) : json_array();
	json_array_foreach(patch, i, p) {
		const char *d = json_string_value(json_object_get(p, "$patch"));
		json_t *kv = key_of(p, keys[0]);
		int at;

		if (!json_is_object(p)) {
			*err = xasprintf("unable to find api field in struct for the list item: %s",
					 json_is_string(p) ? json_string_value(p) : "?");
			json_decref(out);
			return NULL;
		}
		if (!kv) {
			if (d && strcmp(d, "delete") == 0)
				continue;
			*err = xasprintf("map: %s does not contain declared merge key: %s", "item", keys[0]);
			json_decref(out);
			return NULL;
		}
		at = find_by_key(out, keys[0], kv);
		if (d && strcmp(d, "delete") == 0) {
			if (at >= 0)
				json_array_remove(out, (size_t)at);
			continue;
		}
		if (at >= 0) {
			json_t *m = smp_map(schema_items(ls), json_array_get(out, (size_t)at), p, err);
			if (!m) {
				json_decref(out);
				return NULL;
			}
			json_array_set_new(out, (size_t)at, m);
		} else {
			json_t *m = smp_map(schema_items(ls), NULL, p, err);
			if (!m) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, m);
		}
	}
	return out;
}

static json_t *smp_map(const struct kf_schema *s, json_t *orig, json_t *patch, char **err)
{
	json_t *out, *v, *retain = NULL;
	const char *key, *d = json_string_value(json_object_get(patch, "$patch"));

	if (d && strcmp(d, "replace") == 0) {
		out = json_deep_copy(patch);
		json_object_del(out, "$patch");
		return out;
	}
	if (d && strcmp(d, "delete") == 0)
		return json_null();
	if (d && strcmp(d, "merge") != 0) {
		*err = xasprintf("Unknown patch type: %s in map: %s", d, "patch");
		return NULL;
	}
	out = json_is_object(orig) ? json_deep_copy(orig) : json_object();
	json_object_foreach(patch, key, v) {
		const struct kf_schema *fs;
		json_t *cur;

		if (is_directive(key)) {
			if (strcmp(key, "$retainKeys") == 0) {
				if (!json_is_array(v)) {
					*err = xstrdup("invalid patch format for retainKeys");
					json_decref(out);
					return NULL;
				}
				retain = v;
			}
			continue;
		}
		fs = schema_field(s, key);
		cur = json_object_get(out, key);
		if (json_is_null(v)) {
			json_object_del(out, key);
		} else if (json_is_object(v) && (cur == NULL || json_is_object(cur))) {
			json_t *m = smp_map(fs, cur, v, err);
			if (!m) {
				json_decref(out);
				return NULL;
			}
			if (json_is_null(m)) {
				json_decref(m);
				json_object_del(out, key);
			} else {
				json_object_set_new(out, key, m);
			}
		} else if (json_is_array(v)) {
			json_t *m = smp_list(fs, json_is_array(cur) ? cur : NULL, v, err);
			if (!m) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, key, m);
		} else {
			json_object_set_new(out, key, json_deep_copy(v));
		}
	}
	/* directives naming a list field */
	json_object_foreach(patch, key, v) {
		if (strncmp(key, "$setElementOrder/", 17) == 0) {
			const char *field = key + 17;
			json_t *list = json_object_get(out, field);
			const char *const *keys = NULL;
			int type = schema_list_type(schema_field(s, field) ? schema_field(s, field) : NULL, &keys);
			if (!json_is_array(v)) {
				*err = xstrdup("invalid patch format for setElementOrder list");
				json_decref(out);
				return NULL;
			}
			if (json_is_array(list))
				json_object_set_new(out, field, set_order(list, v, type == 1 && keys ? keys[0] : NULL));
		} else if (strncmp(key, "$deleteFromPrimitiveList/", 25) == 0) {
			json_t *list = json_object_get(out, key + 25), *x;
			size_t i, j;
			if (!json_is_array(v)) {
				*err = xstrdup("invalid patch format for primitive list");
				json_decref(out);
				return NULL;
			}
			json_array_foreach(v, i, x)
				for (j = json_array_size(list); j-- > 0;)
					if (json_equal(json_array_get(list, j), x))
						json_array_remove(list, j);
		}
	}
	if (retain) {
		void *tmp;
		json_object_foreach_safe(out, tmp, key, v) {
			bool keep = false;
			size_t i;
			json_t *r;
			json_array_foreach(retain, i, r)
				if (json_is_string(r) && strcmp(json_string_value(r), key) == 0)
					keep = true;
			if (!keep)
				json_object_del(out, key);
		}
	}
	return out;
}

json_t *strategic_merge(const struct kf_schema *s, json_t *doc, json_t *patch, char **err)
{
	json_t *out;

	*err = NULL;
	out = smp_map(s, doc, patch, err);
	if (out && json_is_null(out)) {
		json_decref(out);
		out = json_object();
	}
	if (!out && !*err)
		*err = xstrdup("strategic merge patch failed");
	return out;
}
