/*
 * Reading viva.yaml: the file (a regular file, bounded), yamltree's refusals
 * and duplicate keys, and the walk of its tree over the key tables of
 * config_schema.c: typed setters for strings, whole numbers, durations and
 * booleans, unknown keys refused. Every error is "file:line: key: ...".
 * Internal to the config*.c files (config_impl.h).
 */
#include "bot/model/config_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/yamltree.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Both files are small hand-written text; anything bigger is a mistake (or
 * /dev/zero) and must not make start-up read forever.
 */
#define CONFIG_MAX_FILE    (1024 * 1024)
/* viva.yaml is at most four levels deep; 32 is generous. */
#define YAML_MAX_DEPTH     32

/* ---- yaml ------------------------------------------------------------------ */

/* "viva.yaml:LINE: message", LINE being where path (or its nearest ancestor) is. */
int config_yaml_fail(struct ld *ld, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int line = yamltree_line(ld->tree, path);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	viva_errf(ld->err, ld->errlen, "%s:%d: %s", ld->yaml_path, line > 0 ? line : 1, msg);
	return VIVA_EINVAL;
}

const char *config_node_kind(const json_t *v)
{
	if (json_is_object(v))
		return "a mapping";
	if (json_is_array(v))
		return "a list";
	return "a scalar";
}

/*
 * A scalar's text. yamltree makes booleans of plain true/false only, so
 * they read back as written; NULL for null, lists and mappings. *len is the
 * text's length (a string may hold a NUL).
 */
const char *config_scalar_text(const json_t *v, size_t *len)
{
	const char *s = NULL;

	if (json_is_string(v)) {
		*len = json_string_length(v);
		return json_string_value(v);
	}
	if (json_is_true(v))
		s = "true";
	else if (json_is_false(v))
		s = "false";
	*len = s ? strlen(s) : 0;
	return s;
}

/*
 * v's text into *s and *len; *s is NULL for a yaml null (the key keeps its
 * default). A list or a mapping is an error: "path: expected <what>, got a list".
 */
static int scalar_of(struct ld *ld, const json_t *v, const char *path, const char *what,
		     const char **s, size_t *len)
{
	*s = config_scalar_text(v, len);
	if (*s || json_is_null(v))
		return VIVA_OK;
	return config_yaml_fail(ld, path, "%s: expected %s, got %s", path, what, config_node_kind(v));
}

/* A scalar as a new string; *out is NULL for a yaml null (the key keeps its default). */
static int get_str(struct ld *ld, const json_t *v, const char *path, char **out)
{
	size_t n;
	const char *s;
	int err = scalar_of(ld, v, path, "a string", &s, &n);

	*out = NULL;
	if (err || !s)
		return err;
	if (strlen(s) != n)
		return config_yaml_fail(ld, path, "%s: contains a NUL character", path);
	if (n == 0)
		return config_yaml_fail(ld, path, "%s: must not be empty", path);
	*out = xstrdup(s);
	return VIVA_OK;
}

/* ---- the walk over the key tables ----------------------------------------- */

static int set_int(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		   void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	size_t len;
	const char *s;
	long n;
	int err = scalar_of(ld, v, path, "a whole number", &s, &len);

	if (err || !s)
		return err;
	if (!config_parse_whole(s, &n) || strlen(s) != len)
		return config_yaml_fail(ld, path, "%s: expected a whole number, got %s", path,
					config_show(qbuf, sizeof(qbuf), s, len));
	if (n < f->min || n > f->max)
		return config_yaml_fail(ld, path, "%s: must be between %d and %d, got %ld", path, f->min,
					f->max, n);
	*(int *)(void *)((char *)base + f->off) = (int)n;
	return VIVA_OK;
}

/*
 * A duration: a whole number with a unit, s, m, h or d ("30m", "90s",
 * "1h"); a bare number is seconds. Stored in seconds.
 */
static int set_dur(struct ld *ld, const struct field *f, const json_t *v, const char *path, void *base)
{
	char qbuf[SHOW_MAX * 2 + 8], num[24];
	size_t len, digits;
	const char *s;
	long n, unit = 1;
	int err = scalar_of(ld, v, path, "a duration", &s, &len);

	if (err || !s)
		return err;
	digits = strspn(s, "0123456789");
	if (digits > 0 && digits < sizeof(num) && len == digits + 1 && strchr("smhd", s[digits]))
		unit = s[digits] == 's' ? 1 : s[digits] == 'm' ? 60 : s[digits] == 'h' ? 3600 : 86400;
	else if (digits == 0 || digits >= sizeof(num) || len != digits)
		return config_yaml_fail(ld, path, "%s: expected a duration such as 30m, 90s or 1h, got %s", path,
					config_show(qbuf, sizeof(qbuf), s, len));
	memcpy(num, s, digits);
	num[digits] = '\0';
	if (!config_parse_whole(num, &n) || n > f->max / unit || n * unit < f->min || n * unit > f->max)
		return config_yaml_fail(ld, path, "%s: must be between %ds and %ds, got %s", path, f->min, f->max,
					config_show(qbuf, sizeof(qbuf), s, len));
	*(int *)(void *)((char *)base + f->off) = (int)(n * unit);
	return VIVA_OK;
}

/* true or false; quoted "true" / "false" too. yes/no/on/off are refused, not guessed. */
static int set_bool(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		    void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	size_t len;
	const char *s;
	int err = scalar_of(ld, v, path, "true or false", &s, &len);

	if (err || !s)
		return err;
	if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
		return config_yaml_fail(ld, path, "%s: expected true or false, got %s", path,
					config_show(qbuf, sizeof(qbuf), s, len));
	*(bool *)(void *)((char *)base + f->off) = s[0] == 't';
	return VIVA_OK;
}

static int set_str(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		   void *base)
{
	char qbuf[SHOW_MAX * 2 + 8];
	char *s = NULL;
	const char *why;
	int err;

	err = get_str(ld, v, path, &s);
	if (err || !s)
		goto out;
	if (f->home && !config_expand_home(&s)) {
		err = config_yaml_fail(ld, path, "%s: uses ~ but HOME is not set", path);
		goto out;
	}
	why = f->check ? f->check(s) : NULL;
	if (why) {
		if (f->quiet)
			err = config_yaml_fail(ld, path, "%s: %s", path, why);
		else
			err = config_yaml_fail(ld, path, "%s: %s, got %s", path, why,
					       config_show(qbuf, sizeof(qbuf), s, strlen(s)));
		goto out;
	}
	config_replace_str((char **)(void *)((char *)base + f->off), s);
	s = NULL;
out:
	free(s);
	return err;
}

static int set_field(struct ld *ld, const struct field *f, const json_t *v, const char *path,
		     void *base)
{
	switch (f->kind) {
	case F_MAP:
		return config_walk_map(ld, v, path, f->sub, base);
	case F_FUNC:
		return f->fn(ld, v, path);
	case F_INT:
		return set_int(ld, f, v, path, base);
	case F_DUR:
		return set_dur(ld, f, v, path, base);
	case F_BOOL:
		return set_bool(ld, f, v, path, base);
	case F_STR:
		return set_str(ld, f, v, path, base);
	}
	return VIVA_OK;
}

static void known_keys(char *buf, size_t len, const struct field *fields)
{
	size_t o = 0;

	buf[0] = '\0';
	for (const struct field *f = fields; f->key && o < len; f++) {
		int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", f->key);
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

/* node must be a mapping; a yaml null counts as an empty one. */
int config_as_mapping(struct ld *ld, const json_t *node, const char *path)
{
	if (json_is_null(node) || json_is_object(node))
		return VIVA_OK;
	return config_yaml_fail(ld, path, "%s: expected a mapping, got %s", *path ? path : "top level",
				config_node_kind(node));
}

int config_walk_map(struct ld *ld, const json_t *node, const char *prefix,
			   const struct field *fields, void *base)
{
	const char *key;
	json_t *v;
	int err;

	err = config_as_mapping(ld, node, prefix);
	if (err || json_is_null(node))
		return err;
	json_object_foreach((json_t *)node, key, v) {
		const struct field *f = NULL;
		char *path = yamltree_path_key(prefix, key);

		for (const struct field *c = fields; c->key; c++)
			if (strcmp(c->key, key) == 0) {
				f = c;
				break;
			}
		if (f) {
			err = set_field(ld, f, v, path, base);
		} else {
			char known[512], qbuf[SHOW_MAX * 2 + 8];

			known_keys(known, sizeof(known), fields);
			config_show(qbuf, sizeof(qbuf), key, strlen(key));
			/* qbuf is "..." quoted; the message wants 'prefix.key'. */
			qbuf[strlen(qbuf) - 1] = '\0';
			err = config_yaml_fail(ld, path, "unknown key '%s%s%s' (known: %s)", prefix,
					       *prefix ? "." : "", qbuf + 1, known);
		}
		free(path);
		if (err)
			break;
	}
	return err;
}

/* ---- the file ------------------------------------------------------------- */

/* The loader's own refusals (syntax, limits, shapes) and repeated keys. */
static int yaml_refused(struct ld *ld, const struct yamltree_error *e)
{
	if (e->line > 0)
		viva_errf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->yaml_path, e->line, e->col, e->msg);
	else
		viva_errf(ld->err, ld->errlen, "%s: %s", ld->yaml_path, e->msg);
	return VIVA_EPARSE;
}

static int yaml_dup(struct ld *ld, const struct yamltree_dup *d)
{
	char qbuf[SHOW_MAX * 2 + 8], first[32] = "";

	config_show(qbuf, sizeof(qbuf), d->key, strlen(d->key));
	if (d->first_line > 0)
		snprintf(first, sizeof(first), " (first at line %d)", d->first_line);
	if (d->parent)
		viva_errf(ld->err, ld->errlen, "%s:%d: %s: duplicate key %s%s", ld->yaml_path, d->line,
			*d->parent ? d->parent : "top level", qbuf, first);
	else
		viva_errf(ld->err, ld->errlen, "%s:%d: duplicate key %s%s", ld->yaml_path, d->line, qbuf,
			first);
	return VIVA_EINVAL;
}

int config_load_yaml(struct ld *ld, bool explicit)
{
	/* Aliases are allowed (a kubeconfig shared by clusters), bounded by yamltree. */
	static const struct yamltree_limits lim = {
		.max_bytes = CONFIG_MAX_FILE, .max_depth = YAML_MAX_DEPTH, .aliases = true,
	};
	struct yamltree *tree = NULL;
	struct yamltree_error ye;
	char *buf = NULL;
	const char *why = NULL;
	size_t len = 0;
	int err;
	json_t *root;

	/* a regular file only (a FIFO or /dev/zero must not hang or fill
	 * start-up); a symlink is fine: ConfigMap volumes are made of them */
	err = read_regular_file(AT_FDCWD, ld->yaml_path, 0, CONFIG_MAX_FILE, &buf, &len, &why);
	if (err == VIVA_ENOENT && !explicit) {
		err = VIVA_OK; /* no viva.yaml: every key keeps its default */
		goto out;
	}
	if (err == VIVA_ENOENT) {
		viva_errf(ld->err, ld->errlen, "VIVA_CONFIG: %s: no such file", ld->yaml_path);
		err = VIVA_EIO;
		goto out;
	}
	if (err == VIVA_ERANGE) {
		viva_errf(ld->err, ld->errlen, "%s: larger than %d bytes", ld->yaml_path, CONFIG_MAX_FILE);
		err = VIVA_EINVAL;
		goto out;
	}
	if (err) {
		viva_errf(ld->err, ld->errlen, "%s: not read: %s", ld->yaml_path, why ? why : "cannot be read");
		err = VIVA_EIO;
		goto out;
	}
	if (yamltree_parse(buf, len, &lim, &tree, &ye)) {
		err = yaml_refused(ld, &ye);
		goto out;
	}
	if (yamltree_ndups(tree)) {
		err = yaml_dup(ld, yamltree_dup(tree, 0));
		goto out;
	}
	ld->tree = tree;
	root = yamltree_root(tree);
	if (json_is_null(root))
		goto out; /* empty file, or only comments */
	if (!json_is_object(root)) {
		err = config_yaml_fail(ld, "", "top level must be a mapping of keys, got %s "
				       "(see viva.example.yaml)", config_node_kind(root));
		goto out;
	}
	err = config_walk_map(ld, root, "", config_top_fields, ld->cfg);
	if (err)
		goto out;
	err = config_check_env_clusters(ld);
out:
	ld->tree = NULL;
	yamltree_free(tree);
	free(buf);
	return err;
}
