/*
 * The template set: the built-in templates and an operator's directory of
 * overrides, loaded, reloaded and looked up by name. The set's lock lives
 * here, so tmpl_render() (take a reference to the template, render it, drop
 * the reference) is here too; the rendering itself is in the other files:
 *
 *   tmpl.c         the set: parsing a template's JSON, loading the built-ins
 *                  and the directory (overrides, limits), reload, add, counts,
 *                  tmpl_render() / tmpl_render_ex()
 *   tmpl_render.c  the walk of a template tree: objects, arrays, the $if,
 *                  $unless, $each / $do and $comment directives, the output
 *                  budget, and the JSON pointer by which errors name the place
 *   tmpl_subst.c   strings: {{path}} / {{{path}}} substitution, variable
 *                  lookup in the scopes, values as text, mrkdwn escaping
 *   tmpl_impl.h    what those files share
 */
#include "bot/model/tmpl_impl.h"
#include "bot/model/builtin.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

void tmpl_errf(char *err, size_t errlen, const char *fmt, ...)
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
		tmpl_errf(err, errlen, "template %s: malformed JSON at line %d, column %d: %s",
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
		tmpl_errf(ld->err, ld->errlen, "template directory: more than %d templates",
			  MAX_FILES);
		err = VIVA_ERANGE;
		goto out;
	}
	if (size > MAX_FILE_SIZE) {
		tmpl_errf(ld->err, ld->errlen, "template %s: file too large (%lld bytes, max %d)",
			  name, (long long)size, MAX_FILE_SIZE);
		err = VIVA_ERANGE;
		goto out;
	}
	err = read_file(path, &text, &len);
	if (err) {
		tmpl_errf(ld->err, ld->errlen, "template %s: cannot read %s: %s", name, path,
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
		tmpl_errf(ld->err, ld->errlen, "template file %s: name is not valid UTF-8", path);
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
		tmpl_errf(ld->err, ld->errlen, "template directory %s: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		char *crel, *cpath;
		struct stat st;

		/* ".", "..", and hidden files such as editor locks or swap files. */
		if (de->d_name[0] == '.')
			continue;
		/* node/ holds node file trees (bot/nodes/nodefiles.h reads them):
		 * a *.json there is a file for a node, not a message template */
		if (depth == 0 && strcmp(de->d_name, "node") == 0)
			continue;
		crel = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		cpath = xasprintf("%s/%s", root, crel);
		if (stat(cpath, &st) != 0) {
			if (errno == ENOENT) {
				/* A dangling symlink is not a template; skip it. */
				log_warn("template entry skipped", "path=%s reason=dangling", cpath);
			} else {
				tmpl_errf(ld->err, ld->errlen, "template file %s: %s", cpath,
					  strerror(errno));
				err = VIVA_EIO;
			}
		} else if (S_ISDIR(st.st_mode)) {
			if (depth + 1 > MAX_DIR_DEPTH) {
				tmpl_errf(ld->err, ld->errlen,
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

/* A file of templates/node/ (node file trees, bot/nodes/nodefiles.h), whatever its name. */
static bool is_node_file(const char *path)
{
	return strncmp(path, "node/", 5) == 0;
}

/*
 * The built-in *.json templates, name -> their index in builtin_files: a
 * template is parsed the first time it is rendered (resolve_locked), so a
 * `viva exec` that renders one message does not parse all of them (1.1-1.5
 * ms a start). tests/test_tmpl.c parses every one (tmpl_builtins_check).
 */
static json_t *index_builtins(void)
{
	json_t *map = json_object();

	for (size_t i = 0; i < builtin_files_len; i++) {
		const char *path = builtin_files[i].path;
		char *name;

		if (!ends_with(path, ".json") || is_node_file(path))
			continue;   /* not a message template (node files, scripts) */
		name = xstrndup(path, strlen(path) - strlen(".json"));
		json_object_set_new(map, name, json_integer((json_int_t)i));
		free(name);
	}
	return map;
}

int tmpl_builtins_check(char *err, size_t errlen)
{
	int rc = VIVA_OK;

	for (size_t i = 0; i < builtin_files_len && rc == VIVA_OK; i++) {
		const struct builtin_file *b = &builtin_files[i];
		json_t *t = NULL;
		char *name;

		if (!ends_with(b->path, ".json") || is_node_file(b->path))
			continue;
		name = xstrndup(b->path, strlen(b->path) - strlen(".json"));
		rc = parse_tmpl(name, (const char *)b->data, b->len, &t, err, errlen);
		json_decref(t);
		free(name);
	}
	return rc;
}

/*
 * The tree of template name (ts->lock held; borrowed), parsing a built-in
 * one on its first use: both the current map and the built-in set then
 * hold the tree, so a reload shares it. NULL with err when there is no
 * such template or a built-in does not parse.
 */
static json_t *resolve_locked(struct tmpl_set *ts, const char *name, int *rc, char *err, size_t errlen)
{
	json_t *t = json_object_get(ts->map, name), *tree = NULL;
	json_int_t i;

	*rc = VIVA_OK;
	if (!t) {
		tmpl_errf(err, errlen, "template %s: no such template", name);
		*rc = VIVA_ENOENT;
		return NULL;
	}
	if (!json_is_integer(t))
		return t;
	i = json_integer_value(t);
	if (i < 0 || (size_t)i >= builtin_files_len) {
		tmpl_errf(err, errlen, "template %s: no such template", name);
		*rc = VIVA_ENOENT;
		return NULL;
	}
	*rc = parse_tmpl(name, (const char *)builtin_files[i].data, builtin_files[i].len, &tree, err, errlen);
	if (*rc != VIVA_OK)
		return NULL;
	json_object_set(ts->map, name, tree);
	if (ts->base && json_is_integer(json_object_get(ts->base, name)))
		json_object_set(ts->base, name, tree);
	json_decref(tree);   /* the map holds it */
	return tree;
}

static int open_set(const char *dir, bool builtin, struct tmpl_set **out, char *err, size_t errlen)
{
	struct tmpl_set *ts = NULL;
	int rc;

	*out = NULL;
	if (dir && !dir[0])
		dir = NULL;
	if (!builtin && !dir) {
		tmpl_errf(err, errlen, "template directory not given");
		return VIVA_EINVAL;
	}
	ts = tmpl_set_new();
	ts->dir = xstrdup(dir);
	if (builtin)
		ts->base = index_builtins();
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
	json_t *old, *base;
	size_t n, nover = 0;
	int rc = VIVA_OK;

	if (!ts || (!ts->dir && !ts->base)) {
		tmpl_errf(err, errlen, "template set was not loaded from a directory");
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
	/* a copy: renders fill in ts->base's built-ins as they parse them */
	pthread_mutex_lock(&ts->lock);
	base = ts->base ? json_copy(ts->base) : NULL;
	pthread_mutex_unlock(&ts->lock);
	if (base)
		json_object_update(ld.map, base);
	ld.base = base;
	if (ts->dir) {
		rc = load_dir(&ld, ts->dir, "", 0);
		nover = ld.nfiles;
	}
	json_decref(base);
	ld.base = NULL;
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
		tmpl_errf(err, errlen, "template: name and text are required");
		return VIVA_EINVAL;
	}
	rc = parse_tmpl(name, json_text, strlen(json_text), &t, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&ts->lock);
	rc = json_object_set_new(ts->map, name, t);
	pthread_mutex_unlock(&ts->lock);
	if (rc != 0) {
		tmpl_errf(err, errlen, "template: name is not valid UTF-8");
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

/* ---- rendering a template of the set ------------------------------------- */

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
		tmpl_errf(err, errlen, "template: set, name and output are required");
		return VIVA_EINVAL;
	}
	pthread_mutex_lock(&ts->lock);
	t = json_incref(resolve_locked(ts, name, &rc, err, errlen));
	pthread_mutex_unlock(&ts->lock);
	if (!t)
		return rc;
	rc = tmpl_render_tree(name, t, data, flags, out, err, errlen);
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
