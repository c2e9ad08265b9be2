#include "bot/model/tmpl.h"
#include "bot/model/builtin.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/slack/mrkdwn.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * Limits that keep a hostile or broken template (or a huge data set) from
 * blowing the stack or memory: rendering recurses once per nesting level, and
 * nested $each multiplies work, so both are bounded.
 */
enum {
	MAX_DEPTH      = 64,        /* template nesting: objects, arrays, $each */
	MAX_COST       = 4 << 20,   /* rendered bytes plus per-node/step charges */
	NODE_COST      = 16,        /* charged per output node, per $each step */
	MAX_DIR_DEPTH  = 16,        /* also stops symlink loops in the tree */
	MAX_FILES      = 4096,
	MAX_FILE_SIZE  = 1 << 20,
};

struct tmpl_set {
	/*
	 * Guards map and every reference drop on a template. Renders take a
	 * reference to one template under the lock and walk it outside, so a
	 * reload swapping map never waits for a render.
	 */
	pthread_mutex_t lock;
	json_t *map;       /* object: name -> template tree */
	char *dir;         /* the override directory; NULL for none */
	json_t *base;      /* the built-in templates, parsed once; NULL: none */
	size_t overrides;  /* how many of map came from dir (under lock) */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- loading ------------------------------------------------------------ */

static int parse_tmpl(const char *name, const char *text, size_t len, json_t **out,
		      char *err, size_t errlen)
{
	json_error_t je;
	json_t *t;

	/* Duplicate keys in a template are almost always a copy-paste slip. */
	t = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!t) {
		set_err(err, errlen, "template %s: malformed JSON at line %d, column %d: %s",
			name, je.line, je.column, je.text);
		*out = NULL;
		return VIVA_EPARSE;
	}
	*out = t;
	return VIVA_OK;
}

struct loader {
	json_t *map;
	json_t *base;      /* built-ins being overridden, or NULL */
	size_t nfiles;
	char *err;
	size_t errlen;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_file(struct loader *ld, const char *path, const char *rel, off_t size)
{
	char *name = xstrndup(rel, strlen(rel) - strlen(".json"));
	char *text = NULL;
	size_t len = 0;
	json_t *t = NULL;
	int err;

	if (++ld->nfiles > MAX_FILES) {
		set_err(ld->err, ld->errlen, "template directory: more than %d templates",
			MAX_FILES);
		err = VIVA_ERANGE;
		goto out;
	}
	if (size > MAX_FILE_SIZE) {
		set_err(ld->err, ld->errlen, "template %s: file too large (%lld bytes, max %d)",
			name, (long long)size, MAX_FILE_SIZE);
		err = VIVA_ERANGE;
		goto out;
	}
	err = read_file(path, &text, &len);
	if (err) {
		set_err(ld->err, ld->errlen, "template %s: cannot read %s: %s", name, path,
			viva_strerror(err));
		goto out;
	}
	err = parse_tmpl(name, text, len, &t, ld->err, ld->errlen);
	if (err)
		goto out;
	/* A misspelt override would silently change nothing: say so. */
	if (ld->base && !json_object_get(ld->base, name))
		log_warn("template in the override directory replaces no built-in one", "file=%s name=%s",
			 path, name);
	if (json_object_set_new(ld->map, name, t) != 0) {
		t = NULL; /* stolen even on failure */
		set_err(ld->err, ld->errlen, "template file %s: name is not valid UTF-8", path);
		err = VIVA_EPARSE;
		goto out;
	}
	t = NULL;
out:
	json_decref(t);
	free(text);
	free(name);
	return err;
}

static int load_dir(struct loader *ld, const char *root, const char *rel, int depth)
{
	char *path = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = NULL;
	struct dirent *de;
	int err = VIVA_OK;

	d = opendir(path);
	if (!d) {
		err = errno == ENOENT ? VIVA_ENOENT : VIVA_EIO;
		set_err(ld->err, ld->errlen, "template directory %s: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		char *crel, *cpath;
		struct stat st;

		/* ".", "..", and hidden files such as editor locks or swap files. */
		if (de->d_name[0] == '.')
			continue;
		crel = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		cpath = xasprintf("%s/%s", root, crel);
		if (stat(cpath, &st) != 0) {
			if (errno == ENOENT) {
				/* A dangling symlink is not a template; skip it. */
				log_warn("template entry skipped", "path=%s reason=dangling", cpath);
			} else {
				set_err(ld->err, ld->errlen, "template file %s: %s", cpath,
					strerror(errno));
				err = VIVA_EIO;
			}
		} else if (S_ISDIR(st.st_mode)) {
			if (depth + 1 > MAX_DIR_DEPTH) {
				set_err(ld->err, ld->errlen,
					"template directory %s: nested deeper than %d levels",
					cpath, MAX_DIR_DEPTH);
				err = VIVA_ERANGE;
			} else {
				err = load_dir(ld, root, crel, depth + 1);
			}
		} else if (S_ISREG(st.st_mode) && ends_with(de->d_name, ".json")) {
			err = load_file(ld, cpath, crel, st.st_size);
		}
		free(crel);
		free(cpath);
		if (err)
			goto out;
	}
out:
	if (d)
		closedir(d);
	free(path);
	return err;
}

struct tmpl_set *tmpl_set_new(void)
{
	struct tmpl_set *ts = xcalloc(1, sizeof(*ts));

	pthread_mutex_init(&ts->lock, NULL);
	ts->map = json_object();
	if (!ts->map) {
		log_error("out of memory", "what=%s", "template map");
		abort();
	}
	return ts;
}

void tmpl_set_free(struct tmpl_set *ts)
{
	if (!ts)
		return;
	pthread_mutex_destroy(&ts->lock);
	json_decref(ts->map);
	json_decref(ts->base);
	free(ts->dir);
	free(ts);
}

/* Parse every built-in *.json into an object name -> tree. */
static int parse_builtins(json_t **out, char *err, size_t errlen)
{
	json_t *map = json_object();
	int rc = VIVA_OK;

	for (size_t i = 0; i < builtin_files_len && rc == VIVA_OK; i++) {
		const struct builtin_file *b = &builtin_files[i];
		char *name;
		json_t *t = NULL;

		if (!ends_with(b->path, ".json"))
			continue;   /* not a message template (node files, scripts) */
		name = xstrndup(b->path, strlen(b->path) - strlen(".json"));
		rc = parse_tmpl(name, (const char *)b->data, b->len, &t, err, errlen);
		if (rc == VIVA_OK)
			json_object_set_new(map, name, t);
		free(name);
	}
	if (rc) {
		json_decref(map);
		map = NULL;
	}
	*out = map;
	return rc;
}

static int open_set(const char *dir, bool builtin, struct tmpl_set **out, char *err, size_t errlen)
{
	struct tmpl_set *ts = NULL;
	int rc;

	*out = NULL;
	if (dir && !dir[0])
		dir = NULL;
	if (!builtin && !dir) {
		set_err(err, errlen, "template directory not given");
		return VIVA_EINVAL;
	}
	ts = tmpl_set_new();
	ts->dir = xstrdup(dir);
	if (builtin) {
		rc = parse_builtins(&ts->base, err, errlen);
		if (rc)
			goto fail;
	}
	rc = tmpl_set_reload(ts, err, errlen);
	if (rc)
		goto fail;
	*out = ts;
	return VIVA_OK;
fail:
	tmpl_set_free(ts);
	return rc;
}

int tmpl_set_load(const char *dir, struct tmpl_set **out, char *err, size_t errlen)
{
	return open_set(dir, true, out, err, errlen);
}

int tmpl_set_load_dir(const char *dir, struct tmpl_set **out, char *err, size_t errlen)
{
	return open_set(dir, false, out, err, errlen);
}

int tmpl_set_reload(struct tmpl_set *ts, char *err, size_t errlen)
{
	struct loader ld = { .err = err, .errlen = errlen };
	json_t *old;
	size_t n, nover = 0;
	int rc = VIVA_OK;

	if (!ts || (!ts->dir && !ts->base)) {
		set_err(err, errlen, "template set was not loaded from a directory");
		return VIVA_EINVAL;
	}
	/* Build the whole new map first so a bad file never leaves a half set.
	 * Templates are never modified once parsed, so the built-in trees are
	 * shared, not copied. */
	ld.map = json_object();
	if (!ld.map) {
		log_error("out of memory", "what=%s", "template map");
		abort();
	}
	if (ts->base)
		json_object_update(ld.map, ts->base);
	ld.base = ts->base;
	if (ts->dir) {
		rc = load_dir(&ld, ts->dir, "", 0);
		nover = ld.nfiles;
	}
	if (rc) {
		json_decref(ld.map);
		return rc;
	}
	n = json_object_size(ld.map);
	pthread_mutex_lock(&ts->lock);
	old = ts->map;
	ts->map = ld.map;
	ts->overrides = nover;
	/* Under the lock: see tmpl_render() for why references drop here. */
	json_decref(old);
	pthread_mutex_unlock(&ts->lock);
	log_debug("templates loaded", "dir=%s count=%zu from_dir=%zu", ts->dir ? ts->dir : "(built-in only)", n,
		  nover);
	return VIVA_OK;
}

size_t tmpl_set_overrides(struct tmpl_set *ts)
{
	size_t n;

	if (!ts)
		return 0;
	pthread_mutex_lock(&ts->lock);
	n = ts->overrides;
	pthread_mutex_unlock(&ts->lock);
	return n;
}

const char *tmpl_set_dir(const struct tmpl_set *ts)
{
	return ts ? ts->dir : NULL;
}

int tmpl_set_add(struct tmpl_set *ts, const char *name, const char *json_text,
		 char *err, size_t errlen)
{
	json_t *t = NULL;
	int rc;

	if (!ts || !name || !name[0] || !json_text) {
		set_err(err, errlen, "template: name and text are required");
		return VIVA_EINVAL;
	}
	rc = parse_tmpl(name, json_text, strlen(json_text), &t, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&ts->lock);
	rc = json_object_set_new(ts->map, name, t);
	pthread_mutex_unlock(&ts->lock);
	if (rc != 0) {
		set_err(err, errlen, "template: name is not valid UTF-8");
		return VIVA_EINVAL;
	}
	return VIVA_OK;
}

size_t tmpl_set_count(struct tmpl_set *ts)
{
	size_t n;

	if (!ts)
		return 0;
	pthread_mutex_lock(&ts->lock);
	n = json_object_size(ts->map);
	pthread_mutex_unlock(&ts->lock);
	return n;
}

/* ---- rendering ---------------------------------------------------------- */

struct scope {
	json_t *v;      /* borrowed: data or an element of a data array */
	size_t index;   /* position inside $each */
	bool item;      /* pushed by $each (so @index means something) */
};

struct render {
	const char *name;
	struct scope scopes[MAX_DEPTH + 1];
	int nscopes;
	struct strbuf ptr;  /* JSON pointer of the template node being rendered */
	size_t cost;        /* budget left */
	int depth;
	bool verbatim;      /* TMPL_VERBATIM: no mrkdwn escaping anywhere */
	char *err;
	size_t errlen;
};

static int fail(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Always VIVA_EINVAL: every render failure is a template or data problem. */
static int fail(struct render *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(r->err, r->errlen, "template %s: %s at %s", r->name, msg,
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

static int charge(struct render *r, size_t n)
{
	if (n > r->cost)
		return fail(r, "output too large (limit %d bytes)", MAX_COST);
	r->cost -= n;
	return VIVA_OK;
}

static int enter(struct render *r)
{
	if (r->depth >= MAX_DEPTH)
		return fail(r, "nested deeper than %d levels", MAX_DEPTH);
	r->depth++;
	return VIVA_OK;
}

static const char *type_name(json_t *v)
{
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

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A copy of s[0..n) without surrounding blanks. */
static char *trimmed(const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
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
static int lookup(struct render *r, const char *path, json_t **val)
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
			return fail(r, "unknown variable '%s' (only @index and @number exist)",
				    path);
		for (i = r->nscopes - 1; i >= 0 && !r->scopes[i].item; i--)
			;
		if (i < 0)
			return fail(r, "'%s' used outside $each", path);
		*val = json_integer((json_int_t)r->scopes[i].index +
				    (path[1] == 'n' ? 1 : 0));
		return VIVA_OK;
	}
	for (const char *p = path; *p; p++) {
		if (is_blank(*p) || *p == '{' || *p == '}')
			return fail(r, "bad variable name '%s'", path);
	}
	if (path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, ".."))
		return fail(r, "bad variable name '%s' (empty part)", path);

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
	return fail(r, "variable '%s' is %s and cannot be put inside text "
		    "(use it as the whole string)", path, type_name(v));
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

static int render_value(struct render *r, json_t *t, bool plain, json_t **out);

static int render_string(struct render *r, json_t *t, bool plain, json_t **out)
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
			err = fail(r, "unclosed '%s' in \"%.40s\"", raw ? "{{{" : "{{", s + at);
			goto out;
		}
		end = (size_t)(close - s) + (raw ? 3 : 2);
		free(path);
		path = trimmed(s + start, (size_t)(close - s) - start);
		if (!path[0]) {
			err = fail(r, "empty placeholder '%.*s'", (int)(end - at), s + at);
			goto out;
		}
		json_decref(v);
		err = lookup(r, path, &v);
		if (err)
			goto out;
		if (!v) {
			err = fail(r, "missing variable '%s'", path);
			goto out;
		}
		if (at == 0 && end == n && !json_is_string(v)) {
			/* Sole placeholder: keep the JSON type (numbers, spliced blocks). */
			size_t c = value_cost(v, 0, r->cost);
			err = charge(r, c == SIZE_MAX ? r->cost + 1 : c);
			if (err)
				goto out;
			*out = json_deep_copy(v);
			if (!*out)
				err = fail(r, "cannot copy variable '%s'", path);
			goto out;
		}
		err = add_text(r, &sb, v, !raw && !plain && !r->verbatim, path);
		if (err)
			goto out;
		i = end;
	}
	err = charge(r, NODE_COST + sb.len);
	if (err)
		goto out;
	/* Pieces are valid UTF-8 (template text, jansson strings, ASCII escapes). */
	*out = json_stringn(sb.buf, sb.len);
	if (!*out)
		err = fail(r, "rendered text is not valid UTF-8");
out:
	json_decref(v);
	free(path);
	sb_release(&sb);
	return err;
}

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
			err = fail(r, "'%s' must be a string path, not %s", keys[k], type_name(c));
			goto next;
		}
		s = json_string_value(c);
		while (is_blank(*s))
			s++;
		if (*s == '!') {
			neg = true;
			s++;
		}
		path = trimmed(s, strlen(s));
		if (!path[0]) {
			err = fail(r, "'%s' needs a variable path", keys[k]);
			goto next;
		}
		err = lookup(r, path, &v);
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
			err = fail(r, "'$each' is only allowed on an element of an array");
		else if (!strcmp(key, "$do"))
			err = fail(r, "'$do' without '$each'");
		else
			err = fail(r, "unknown directive '%s'", key);
		ptr_pop(r, old);
		goto out;
	}
	err = eval_cond(r, t, &keep);
	if (err || !keep)
		goto out;
	err = charge(r, NODE_COST);
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
			err = charge(r, strlen(key));
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
			err = fail(r, "unknown directive '%s'", key);
		else
			err = fail(r, "an object with '$each' may only hold '$do', '$if', "
				   "'$unless' and '$comment', not '%s'", key);
		ptr_pop(r, old);
		goto out;
	}
	if (!body) {
		err = fail(r, "'$each' without '$do'");
		goto out;
	}
	err = eval_cond(r, t, &keep);
	if (err || !keep)
		goto out;

	old = ptr_push_key(r, "$each");
	if (!json_is_string(path)) {
		err = fail(r, "'$each' must be a string path, not %s", type_name(path));
	} else {
		char *p = trimmed(json_string_value(path), json_string_length(path));

		if (!p[0])
			err = fail(r, "'$each' needs a variable path");
		else
			err = lookup(r, p, &list);
		if (!err && list && !json_is_null(list) && !json_is_array(list))
			err = fail(r, "'$each' variable '%s' is %s, not an array", p,
				   type_name(list));
		free(p);
	}
	ptr_pop(r, old);
	if (err || !json_is_array(list))
		goto out;
	if (r->nscopes > MAX_DEPTH) {
		err = fail(r, "'$each' nested deeper than %d levels", MAX_DEPTH);
		goto out;
	}

	old = ptr_push_key(r, "$do");
	json_array_foreach(list, i, item) {
		json_t *c = NULL;

		/* Charged even when nothing comes out, so empty bodies cannot spin. */
		err = charge(r, NODE_COST);
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
	err = charge(r, NODE_COST);
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
		return render_string(r, t, plain, out);
	default:
		/* A fresh node: the caller may change its output without touching t. */
		*out = json_copy(t);
		return charge(r, NODE_COST);
	}
}

static int render_tree(const char *name, json_t *tmpl, json_t *data, unsigned flags, json_t **out,
		       char *err, size_t errlen)
{
	struct render r = { 0 };
	json_t *empty = NULL, *res = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!tmpl || !out) {
		set_err(err, errlen, "template %s: nothing to render", name ? name : "?");
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
	return render_tree(name, tmpl, data, 0, out, err, errlen);
}

int tmpl_render(struct tmpl_set *ts, const char *name, json_t *data, json_t **out,
		char *err, size_t errlen)
{
	return tmpl_render_ex(ts, name, data, 0, out, err, errlen);
}

int tmpl_render_ex(struct tmpl_set *ts, const char *name, json_t *data, unsigned flags,
		   json_t **out, char *err, size_t errlen)
{
	json_t *t = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!ts || !name || !out) {
		set_err(err, errlen, "template: set, name and output are required");
		return VIVA_EINVAL;
	}
	pthread_mutex_lock(&ts->lock);
	t = json_incref(json_object_get(ts->map, name));
	pthread_mutex_unlock(&ts->lock);
	if (!t) {
		set_err(err, errlen, "template %s: no such template", name);
		return VIVA_ENOENT;
	}
	rc = render_tree(name, t, data, flags, out, err, errlen);
	/*
	 * Drop the reference under the lock too. jansson's decref is a release
	 * with no acquire on the last drop, so whichever thread frees the old
	 * tree (here or in reload) would not be ordered after the other's
	 * reads; the mutex orders them.
	 */
	pthread_mutex_lock(&ts->lock);
	json_decref(t);
	pthread_mutex_unlock(&ts->lock);
	return rc;
}
