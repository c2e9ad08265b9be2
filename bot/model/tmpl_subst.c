/*
 * Strings of a template: {{path}} (escaped for mrkdwn where Slack parses
 * it) and {{{path}}} (raw) substitution, a sole placeholder kept as its
 * JSON value, variable lookup in the scope stack (dotted paths, @index,
 * @number, "."), and values written as text.
 */
#include "bot/model/tmpl_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/slack/mrkdwn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tmpl_type_name(json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER:
	case JSON_REAL:    return "a number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	}
	return "unknown";
}

bool tmpl_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A copy of s[0..n) without surrounding blanks. */
char *tmpl_trimmed(const char *s, size_t n)
{
	while (n && tmpl_is_blank(*s)) {
		s++;
		n--;
	}
	while (n && tmpl_is_blank(s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Resolve path in the scope stack. *val gets a new reference, or NULL when
 * the variable does not exist (the caller decides whether that is an error).
 * Returns an error only for a path that can never be valid.
 */
int tmpl_lookup(struct render *r, const char *path, json_t **val)
{
	char *copy, *seg, *next;
	json_t *v = NULL;

	*val = NULL;
	if (strcmp(path, ".") == 0) {
		*val = json_incref(r->scopes[r->nscopes - 1].v);
		return VIVA_OK;
	}
	if (path[0] == '@') {
		int i;

		if (strcmp(path, "@index") != 0 && strcmp(path, "@number") != 0)
			return tmpl_fail(r, "unknown variable '%s' (only @index and @number exist)",
					 path);
		for (i = r->nscopes - 1; i >= 0 && !r->scopes[i].item; i--)
			;
		if (i < 0)
			return tmpl_fail(r, "'%s' used outside $each", path);
		*val = json_integer((json_int_t)r->scopes[i].index +
				    (path[1] == 'n' ? 1 : 0));
		return VIVA_OK;
	}
	for (const char *p = path; *p; p++) {
		if (tmpl_is_blank(*p) || *p == '{' || *p == '}')
			return tmpl_fail(r, "bad variable name '%s'", path);
	}
	if (path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, ".."))
		return tmpl_fail(r, "bad variable name '%s' (empty part)", path);

	copy = xstrdup(path);
	next = strchr(copy, '.');
	if (next)
		*next++ = '\0';
	/* The first part picks the scope, innermost first; the rest descends. */
	for (int i = r->nscopes - 1; i >= 0 && !v; i--) {
		if (json_is_object(r->scopes[i].v))
			v = json_object_get(r->scopes[i].v, copy);
	}
	while (v && next) {
		seg = next;
		next = strchr(seg, '.');
		if (next)
			*next++ = '\0';
		if (json_is_object(v))
			v = json_object_get(v, seg);
		else if (json_is_array(v) && is_digits(seg) && strlen(seg) < 10)
			v = json_array_get(v, (size_t)strtoul(seg, NULL, 10));
		else
			v = NULL;
	}
	*val = json_incref(v);
	free(copy);
	return VIVA_OK;
}

/* Shortest %g form that reads back as the same double: 0.1, not 0.10000000000000001. */
static void add_real(struct strbuf *sb, double d)
{
	char buf[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	sb_adds(sb, buf);
}

static int add_text(struct render *r, struct strbuf *sb, json_t *v, bool escape,
		    const char *path)
{
	char *esc;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (escape) {
			esc = mrkdwn_escape(json_string_value(v));
			sb_adds(sb, esc);
			free(esc);
		} else {
			sb_add(sb, json_string_value(v), json_string_length(v));
		}
		return VIVA_OK;
	case JSON_INTEGER:
		sb_addf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return VIVA_OK;
	case JSON_REAL:
		add_real(sb, json_real_value(v));
		return VIVA_OK;
	case JSON_TRUE:
		sb_adds(sb, "true");
		return VIVA_OK;
	case JSON_FALSE:
		sb_adds(sb, "false");
		return VIVA_OK;
	case JSON_NULL:
		/* An explicit null reads as nothing; absent is still an error. */
		return VIVA_OK;
	case JSON_OBJECT:
	case JSON_ARRAY:
		break;
	}
	return tmpl_fail(r, "variable '%s' is %s and cannot be put inside text "
			 "(use it as the whole string)", path, tmpl_type_name(v));
}

/* What a deep copy of v costs against the budget; stops early past limit. */
static size_t value_cost(json_t *v, int depth, size_t limit)
{
	size_t c = NODE_COST;
	const char *key;
	json_t *x;
	size_t i;

	if (depth > 2 * MAX_DEPTH)
		return SIZE_MAX;
	if (json_is_string(v))
		return c + json_string_length(v);
	if (json_is_object(v)) {
		json_object_foreach(v, key, x) {
			size_t k = value_cost(x, depth + 1, limit);
			if (k == SIZE_MAX || c + k + strlen(key) > limit)
				return SIZE_MAX;
			c += k + strlen(key);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			size_t k = value_cost(x, depth + 1, limit);
			if (k == SIZE_MAX || c + k > limit)
				return SIZE_MAX;
			c += k;
		}
	}
	return c;
}

int tmpl_render_string(struct render *r, json_t *t, bool plain, json_t **out)
{
	const char *s = json_string_value(t);
	size_t n = json_string_length(t), i = 0;
	struct strbuf sb;
	char *path = NULL;
	json_t *v = NULL;
	int err = VIVA_OK;

	*out = NULL;
	sb_init(&sb);
	while (i < n) {
		const char *open = memmem(s + i, n - i, "{{", 2);
		const char *close;
		size_t at, start, end;
		bool raw;

		if (!open) {
			sb_add(&sb, s + i, n - i);
			break;
		}
		at = (size_t)(open - s);
		sb_add(&sb, s + i, at - i);
		raw = at + 2 < n && s[at + 2] == '{';
		start = at + (raw ? 3 : 2);
		close = memmem(s + start, n - start, raw ? "}}}" : "}}", raw ? 3 : 2);
		if (!close) {
			err = tmpl_fail(r, "unclosed '%s' in \"%.40s\"", raw ? "{{{" : "{{",
					s + at);
			goto out;
		}
		end = (size_t)(close - s) + (raw ? 3 : 2);
		free(path);
		path = tmpl_trimmed(s + start, (size_t)(close - s) - start);
		if (!path[0]) {
			err = tmpl_fail(r, "empty placeholder '%.*s'", (int)(end - at), s + at);
			goto out;
		}
		json_decref(v);
		err = tmpl_lookup(r, path, &v);
		if (err)
			goto out;
		if (!v) {
			err = tmpl_fail(r, "missing variable '%s'", path);
			goto out;
		}
		if (at == 0 && end == n && !json_is_string(v)) {
			/* Sole placeholder: keep the JSON type (numbers, spliced blocks). */
			size_t c = value_cost(v, 0, r->cost);
			err = tmpl_charge(r, c == SIZE_MAX ? r->cost + 1 : c);
			if (err)
				goto out;
			*out = json_deep_copy(v);
			if (!*out)
				err = tmpl_fail(r, "cannot copy variable '%s'", path);
			goto out;
		}
		err = add_text(r, &sb, v, !raw && !plain && !r->verbatim, path);
		if (err)
			goto out;
		i = end;
	}
	err = tmpl_charge(r, NODE_COST + sb.len);
	if (err)
		goto out;
	/* Pieces are valid UTF-8 (template text, jansson strings, ASCII escapes). */
	*out = json_stringn(sb.buf, sb.len);
	if (!*out)
		err = tmpl_fail(r, "rendered text is not valid UTF-8");
out:
	json_decref(v);
	free(path);
	sb_release(&sb);
	return err;
}
