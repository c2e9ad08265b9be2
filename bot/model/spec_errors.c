/*
 * Pipeline specs, part of validation (see spec.c for the map of the spec*.c
 * files): the error list of spec.h, the validation context that collects
 * into it (spec_verr and friends, struct vctx in spec_impl.h) and the
 * readers that take typed values out of the tree, reporting what is wrong
 * with each path.
 */
#include "bot/model/spec.h"
#include "bot/model/spec_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this, more errors only bury the first ones (and a Slack message). */
#define SPEC_MAX_ERRORS  100
/* How much of a bad value an error message quotes. */
#define SHOW_MAX         128
/* Paths in error messages are cut here (a key may be very long). */
#define ERR_PATH_MAX     256

/* ---- errors ---------------------------------------------------------------- */

void spec_errors_init(struct spec_errors *e, const char *file)
{
	memset(e, 0, sizeof(*e));
	e->file = xstrdup(file);
}

void spec_errors_release(struct spec_errors *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].path);
		free(e->v[i].message);
	}
	free(e->v);
	free(e->file);
	memset(e, 0, sizeof(*e));
}

char *spec_errors_format(const struct spec_errors *e)
{
	struct strbuf sb;

	sb_init(&sb);
	for (size_t i = 0; e && i < e->n; i++) {
		const struct spec_error *x = &e->v[i];

		if (i)
			sb_addc(&sb, '\n');
		if (x->path && *x->path)
			sb_addf(&sb, "%s: ", x->path);
		sb_adds(&sb, x->message ? x->message : "");
		if (x->line > 0 && e->file)
			sb_addf(&sb, " (%s:%d)", e->file, x->line);
		else if (x->line > 0)
			sb_addf(&sb, " (line %d)", x->line);
	}
	return sb_detach(&sb);
}

static char *cut_path(const char *path)
{
	size_t n = strlen(path);

	if (n <= ERR_PATH_MAX)
		return xstrdup(path);
	n = ERR_PATH_MAX;
	while (n > 0 && ((unsigned char)path[n] & 0xC0) == 0x80)
		n--;
	return xasprintf("%.*s...", (int)n, path);
}

/* Takes msg. */
static void add_err(struct vctx *v, const char *path, int line, char *msg)
{
	struct spec_errors *e = v->errs;

	if (v->count >= SPEC_MAX_ERRORS) {
		v->truncated = true;
		free(msg);
		return;
	}
	e->v = xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
	e->v[e->n].path = cut_path(path ? path : "");
	e->v[e->n].message = msg;
	e->v[e->n].line = line;
	e->n++;
	v->count++;
}

/*
 * The line of path, else of its nearest recorded ancestor (a missing key is
 * reported on its parent's line), else of the document; 0 for form input.
 */
static int line_for(const struct vctx *v, const char *path)
{
	return v->tree ? yamltree_line(v->tree, path) : 0;
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

void spec_verr(struct vctx *v, const char *path, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (v->count >= SPEC_MAX_ERRORS) {  /* spare the work */
		v->truncated = true;
		return;
	}
	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	add_err(v, path, line_for(v, path), msg);
}

void spec_verr_at(struct vctx *v, const char *path, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	add_err(v, path, line, msg);
}

/* A document-level problem that makes the input unusable: VIVA_EPARSE. */
int spec_perr(struct vctx *v, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	v->parse_error = true;
	add_err(v, "", line, msg);
	return VIVA_EPARSE;
}

/* Errors in document order (a stable sort: form errors keep walk order). */
void spec_vctx_finish(struct vctx *v)
{
	/* no error yet: v->errs->v is NULL, and NULL + 0 is undefined */
	struct spec_error *a = v->errs->v ? v->errs->v + v->base : NULL;
	size_t n = v->errs->n - v->base;

	for (size_t i = 1; i < n; i++) {
		struct spec_error x = a[i];
		size_t j = i;

		while (j > 0 && a[j - 1].line > x.line) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
	if (v->truncated) {
		v->count = 0;  /* let the note through */
		add_err(v, "", 0, xasprintf("too many errors: only the first %d are shown",
					    SPEC_MAX_ERRORS));
	}
}

/* A value quoted for a message: "abc", escaped, cut at SHOW_MAX bytes. */
char *spec_show(const char *s)
{
	return text_quote(s, SHOW_MAX);
}

/* path: "<value>" what */
void spec_verr_val(struct vctx *v, const char *path, const char *val, const char *what)
{
	char *q = spec_show(val);

	spec_verr(v, path, "%s %s", q, what);
	free(q);
}

/* ---- paths and json helpers -------------------------------------------------- */

const char *spec_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* obj[key], NULL when absent or null: a null value means "not given". */
json_t *spec_member(const json_t *obj, const char *key)
{
	json_t *j = json_object_get(obj, key);

	return json_is_null(j) ? NULL : j;
}

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

void spec_check_keys(struct vctx *v, json_t *obj, const char *base, const char *const *known)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		if (!in_list(known, key)) {
			char *p = yamltree_path_key(base, key);

			spec_verr(v, p, "unknown key");
			free(p);
		}
	}
}

/* The shortest "%g" text that reads back as d (form input may send 1.8). */
char *spec_real_text(double d)
{
	char buf[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return xstrdup(buf);
}

/*
 * A scalar as text: strings as they are, numbers as written (javaVersion: 21,
 * cpu: 2). NULL, with an error, for anything else.
 */
char *spec_get_text(struct vctx *v, const json_t *j, const char *path)
{
	switch (json_typeof(j)) {
	case JSON_STRING:
		if (strlen(json_string_value(j)) != json_string_length(j)) {
			spec_verr(v, path, "contains a NUL character");
			return NULL;
		}
		return xstrdup(json_string_value(j));
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(j));
	case JSON_REAL:
		return spec_real_text(json_real_value(j));
	default:
		spec_verr(v, path, "expected a string, got %s", spec_kind(j));
		return NULL;
	}
}

/*
 * obj[key] as text into *out. Absent, null and "" all mean "not given":
 * *out stays NULL, and "required" is reported when required. Returns false
 * when an error was reported.
 */
bool spec_opt_text(struct vctx *v, json_t *obj, const char *base, const char *key,
		   bool required, char **out)
{
	json_t *j = spec_member(obj, key);
	char *p = yamltree_path_key(base, key);
	bool ok = true;

	*out = NULL;
	if (j)
		*out = spec_get_text(v, j, p);
	if (j && !*out)
		ok = false;
	if (*out && !**out) {
		free(*out);
		*out = NULL;
	}
	if (ok && !*out && required) {
		spec_verr(v, p, "required");
		ok = false;
	}
	free(p);
	return ok;
}

/* obj[key] as a mapping, NULL when absent (error when required) or not one. */
json_t *spec_opt_map(struct vctx *v, json_t *obj, const char *base, const char *key,
		     bool required)
{
	json_t *j = spec_member(obj, key);
	char *p = yamltree_path_key(base, key);

	if (!j && required)
		spec_verr(v, p, "required");
	if (j && !json_is_object(j)) {
		spec_verr(v, p, "expected a mapping, got %s", spec_kind(j));
		j = NULL;
	}
	free(p);
	return j;
}

json_t *spec_opt_list(struct vctx *v, json_t *obj, const char *base, const char *key,
		      bool required)
{
	json_t *j = spec_member(obj, key);
	char *p = yamltree_path_key(base, key);

	if (!j && required)
		spec_verr(v, p, "required");
	if (j && !json_is_array(j)) {
		spec_verr(v, p, "expected a list, got %s", spec_kind(j));
		j = NULL;
	}
	if (j && json_array_size(j) > SPEC_MAX_ENTRIES) {
		spec_verr(v, p, "has %zu entries; at most %d are allowed", json_array_size(j),
			  SPEC_MAX_ENTRIES);
		j = NULL;
	}
	free(p);
	return j;
}
