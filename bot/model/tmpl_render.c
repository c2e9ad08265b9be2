/*
 * Rendering a template tree (tmpl.h has the language): the walk over
 * objects and arrays, the directives ($if / $unless, $each / $do, $comment,
 * unknown ones refused), the depth and output-size limits, and the JSON
 * pointer that errors use to name the place. Strings, with their
 * placeholders, are rendered by tmpl_subst.c.
 */
#include "bot/model/tmpl_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Always VIVA_EINVAL: every render failure is a template or data problem. */
int tmpl_fail(struct render *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tmpl_errf(r->err, r->errlen, "template %s: %s at %s", r->name, msg,
		  r->ptr.len ? r->ptr.buf : "(root)");
	return VIVA_EINVAL;
}

static size_t ptr_push_key(struct render *r, const char *key)
{
	size_t old = r->ptr.len;

	sb_addc(&r->ptr, '/');
	for (; *key; key++) {
		if (*key == '~')
			sb_adds(&r->ptr, "~0");
		else if (*key == '/')
			sb_adds(&r->ptr, "~1");
		else
			sb_addc(&r->ptr, *key);
	}
	return old;
}

static size_t ptr_push_index(struct render *r, size_t i)
{
	size_t old = r->ptr.len;

	sb_addf(&r->ptr, "/%zu", i);
	return old;
}

static void ptr_pop(struct render *r, size_t old)
{
	r->ptr.len = old;
	r->ptr.buf[old] = '\0';
}

int tmpl_charge(struct render *r, size_t n)
{
	if (n > r->cost)
		return tmpl_fail(r, "output too large (limit %d bytes)", MAX_COST);
	r->cost -= n;
	return VIVA_OK;
}

static int enter(struct render *r)
{
	if (r->depth >= MAX_DEPTH)
		return tmpl_fail(r, "nested deeper than %d levels", MAX_DEPTH);
	r->depth++;
	return VIVA_OK;
}

static bool truthy(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return json_object_size(v) > 0;
	case JSON_ARRAY:   return json_array_size(v) > 0;
	case JSON_STRING:  return json_string_length(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL:    return json_real_value(v) != 0.0;
	case JSON_TRUE:    return true;
	case JSON_FALSE:
	case JSON_NULL:    return false;
	}
	return false;
}

static int render_value(struct render *r, json_t *t, bool plain, json_t **out);

/* Evaluate "$if" / "$unless" of obj; *keep false means drop the object. */
static int eval_cond(struct render *r, json_t *obj, bool *keep)
{
	static const char *const keys[] = { "$if", "$unless" };
	int err = VIVA_OK;

	*keep = true;
	for (size_t k = 0; k < 2 && !err; k++) {
		json_t *c = json_object_get(obj, keys[k]);
		const char *s;
		char *path = NULL;
		json_t *v = NULL;
		bool neg = false, truth;
		size_t old;

		if (!c)
			continue;
		old = ptr_push_key(r, keys[k]);
		if (!json_is_string(c)) {
			err = tmpl_fail(r, "'%s' must be a string path, not %s", keys[k],
					tmpl_type_name(c));
			goto next;
		}
		s = json_string_value(c);
		while (tmpl_is_blank(*s))
			s++;
		if (*s == '!') {
			neg = true;
			s++;
		}
		path = tmpl_trimmed(s, strlen(s));
		if (!path[0]) {
			err = tmpl_fail(r, "'%s' needs a variable path", keys[k]);
			goto next;
		}
		err = tmpl_lookup(r, path, &v);
		if (err)
			goto next;
		truth = v && truthy(v);
		if (neg)
			truth = !truth;
		if (k == 1)
			truth = !truth;
		if (!truth)
			*keep = false;
next:
		json_decref(v);
		free(path);
		ptr_pop(r, old);
	}
	return err;
}

static int render_object(struct render *r, json_t *t, json_t **out)
{
	json_t *o = NULL, *v, *type;
	const char *key;
	bool keep, plain;
	int err;

	*out = NULL;
	err = enter(r);
	if (err)
		return err;
	json_object_foreach(t, key, v) {
		size_t old;

		if (key[0] != '$' || !strcmp(key, "$if") || !strcmp(key, "$unless") ||
		    !strcmp(key, "$comment"))
			continue;
		old = ptr_push_key(r, key);
		if (!strcmp(key, "$each"))
			err = tmpl_fail(r, "'$each' is only allowed on an element of an array");
		else if (!strcmp(key, "$do"))
			err = tmpl_fail(r, "'$do' without '$each'");
		else
			err = tmpl_fail(r, "unknown directive '%s'", key);
		ptr_pop(r, old);
		goto out;
	}
	err = eval_cond(r, t, &keep);
	if (err || !keep)
		goto out;
	err = tmpl_charge(r, NODE_COST);
	if (err)
		goto out;
	/*
	 * Slack parses mrkdwn only in the "text" of mrkdwn text objects and in a
	 * message's top-level "text". plain_text is shown verbatim (escaping
	 * would show "&amp;"), and values, ids and URLs are not mrkdwn at all,
	 * so escaping them would corrupt what comes back in a click.
	 */
	type = json_object_get(t, "type");
	plain = json_is_string(type) && !strcmp(json_string_value(type), "plain_text");
	o = json_object();
	json_object_foreach(t, key, v) {
		json_t *c = NULL;
		size_t old;

		if (key[0] == '$')
			continue;
		old = ptr_push_key(r, key);
		err = render_value(r, v, plain || strcmp(key, "text") != 0, &c);
		ptr_pop(r, old);
		if (!err)
			err = tmpl_charge(r, strlen(key));
		if (err) {
			json_decref(c);
			goto out;
		}
		if (c)
			json_object_set_new(o, key, c);
	}
	*out = o;
	o = NULL;
out:
	json_decref(o);
	r->depth--;
	return err;
}

static int render_elements(struct render *r, json_t *t, json_t *dst);

/* {"$each": path, "$do": X} inside an array: append the copies to dst. */
static int render_each(struct render *r, json_t *t, json_t *dst)
{
	json_t *body = json_object_get(t, "$do");
	json_t *path = json_object_get(t, "$each");
	json_t *list = NULL, *item;
	const char *key;
	json_t *v;
	size_t old, i;
	bool keep;
	int err;

	err = enter(r);
	if (err)
		return err;
	json_object_foreach(t, key, v) {
		if (!strcmp(key, "$each") || !strcmp(key, "$do") || !strcmp(key, "$if") ||
		    !strcmp(key, "$unless") || !strcmp(key, "$comment"))
			continue;
		old = ptr_push_key(r, key);
		if (key[0] == '$')
			err = tmpl_fail(r, "unknown directive '%s'", key);
		else
			err = tmpl_fail(r, "an object with '$each' may only hold '$do', '$if', "
					"'$unless' and '$comment', not '%s'", key);
		ptr_pop(r, old);
		goto out;
	}
	if (!body) {
		err = tmpl_fail(r, "'$each' without '$do'");
		goto out;
	}
	err = eval_cond(r, t, &keep);
	if (err || !keep)
		goto out;

	old = ptr_push_key(r, "$each");
	if (!json_is_string(path)) {
		err = tmpl_fail(r, "'$each' must be a string path, not %s", tmpl_type_name(path));
	} else {
		char *p = tmpl_trimmed(json_string_value(path), json_string_length(path));

		if (!p[0])
			err = tmpl_fail(r, "'$each' needs a variable path");
		else
			err = tmpl_lookup(r, p, &list);
		if (!err && list && !json_is_null(list) && !json_is_array(list))
			err = tmpl_fail(r, "'$each' variable '%s' is %s, not an array", p,
					tmpl_type_name(list));
		free(p);
	}
	ptr_pop(r, old);
	if (err || !json_is_array(list))
		goto out;
	if (r->nscopes > MAX_DEPTH) {
		err = tmpl_fail(r, "'$each' nested deeper than %d levels", MAX_DEPTH);
		goto out;
	}

	old = ptr_push_key(r, "$do");
	json_array_foreach(list, i, item) {
		json_t *c = NULL;

		/* Charged even when nothing comes out, so empty bodies cannot spin. */
		err = tmpl_charge(r, NODE_COST);
		if (err)
			break;
		r->scopes[r->nscopes++] = (struct scope){ .v = item, .index = i, .item = true };
		if (json_is_array(body)) {
			err = render_elements(r, body, dst);
		} else {
			err = render_value(r, body, false, &c);
			if (!err && c)
				json_array_append_new(dst, c);
		}
		r->nscopes--;
		if (err)
			break;
	}
	ptr_pop(r, old);
out:
	json_decref(list);
	r->depth--;
	return err;
}

static int render_elements(struct render *r, json_t *t, json_t *dst)
{
	json_t *el;
	size_t i;
	int err = VIVA_OK;

	json_array_foreach(t, i, el) {
		size_t old = ptr_push_index(r, i);

		if (json_is_object(el) && json_object_get(el, "$each")) {
			err = render_each(r, el, dst);
		} else {
			json_t *c = NULL;

			err = render_value(r, el, false, &c);
			if (!err && c)
				json_array_append_new(dst, c);
		}
		ptr_pop(r, old);
		if (err)
			break;
	}
	return err;
}

static int render_array(struct render *r, json_t *t, json_t **out)
{
	json_t *a = NULL;
	int err;

	*out = NULL;
	err = enter(r);
	if (err)
		return err;
	err = tmpl_charge(r, NODE_COST);
	if (err)
		goto out;
	a = json_array();
	err = render_elements(r, t, a);
	if (err)
		goto out;
	*out = a;
	a = NULL;
out:
	json_decref(a);
	r->depth--;
	return err;
}

/* *out NULL with success means "dropped by $if". */
static int render_value(struct render *r, json_t *t, bool plain, json_t **out)
{
	*out = NULL;
	switch (json_typeof(t)) {
	case JSON_OBJECT:
		return render_object(r, t, out);
	case JSON_ARRAY:
		return render_array(r, t, out);
	case JSON_STRING:
		return tmpl_render_string(r, t, plain, out);
	default:
		/* A fresh node: the caller may change its output without touching t. */
		*out = json_copy(t);
		return tmpl_charge(r, NODE_COST);
	}
}

int tmpl_render_tree(const char *name, json_t *tmpl, json_t *data, unsigned flags, json_t **out,
		     char *err, size_t errlen)
{
	struct render r = { 0 };
	json_t *empty = NULL, *res = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!tmpl || !out) {
		tmpl_errf(err, errlen, "template %s: nothing to render", name ? name : "?");
		return VIVA_EINVAL;
	}
	r.name = name ? name : "?";
	r.verbatim = (flags & TMPL_VERBATIM) != 0;
	r.err = err;
	r.errlen = errlen;
	r.cost = MAX_COST;
	sb_init(&r.ptr);
	if (!data)
		data = empty = json_object();
	r.scopes[0] = (struct scope){ .v = data };
	r.nscopes = 1;

	rc = render_value(&r, tmpl, false, &res);
	/* Only a top-level object whose "$if" failed renders to nothing. */
	if (!rc && !res)
		res = json_object();
	if (!rc)
		*out = res;
	sb_release(&r.ptr);
	json_decref(empty);
	return rc;
}

int tmpl_render_json(const char *name, json_t *tmpl, json_t *data, json_t **out,
		     char *err, size_t errlen)
{
	return tmpl_render_tree(name, tmpl, data, 0, out, err, errlen);
}
