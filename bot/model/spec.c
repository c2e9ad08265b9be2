#include "bot/model/spec.h"
#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/quantity.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"
#include "bot/slack/mrkdwn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * How it works: spec_parse() loads the YAML with bot/lib/yamltree, which
 * gives a jansson tree and the line every path came from
 * ("resources.alpha.cpu" -> 14). validate() then walks the tree, the same
 * code for YAML and for the Slack form's tree (spec_from_json, no positions,
 * so lines are 0), collecting every error instead of stopping at the first:
 * a developer fixing a spec wants the whole list in one round trip.
 *
 * yamltree keeps scalars as strings as written ("0.05", "21", "1.8" stay
 * exact), except plain null/~/empty (null) and plain true/false (booleans).
 * Validation accepts numbers where text is expected, so the form may send
 * either.
 */

/* A spec is one small hand-written file; anything bigger is a mistake. */
#define SPEC_MAX_BYTES   (256 * 1024)
/* The spec is four levels deep; 32 is generous. */
#define SPEC_MAX_DEPTH   32
/* Past this, more errors only bury the first ones (and a Slack message). */
#define SPEC_MAX_ERRORS  100
/* Entries per list or map: keeps the duplicate checks' quadratic cost small. */
#define SPEC_MAX_ENTRIES 256
/* How much of a bad value an error message quotes. */
#define SHOW_MAX         128
/* Paths in error messages are cut here (a key may be very long). */
#define ERR_PATH_MAX     256
/* Kubernetes CronJob names are at most 52 characters (the Job adds 11). */
#define CRONJOB_NAME_MAX 52
/* Service "SVC-canary" is a DNS-1035 label: at most 63, so SVC at most 56. */
#define SERVICE_NAME_MAX (63 - (int)sizeof("-canary") + 1)
#define IMAGE_MAX        255
#define REPO_NAME_MAX    200
#define BRANCH_MAX       255
#define PATH_MAX_LEN     255
#define JAVA_VERSION_MAX 16
#define ENV_NAME_MAX     255

#define DEF_BRANCH       "develop"
#define DEF_PLATFORM     "linux/amd64"
#define DEF_DIRECTORY    "."
#define DEF_JAVA_VERSION "1.8"
#define DEF_DOCKERFILE   "Dockerfile"

static const char *const type_names[] = { "service", "batch", "frontend", NULL };
static const char *const iface_names[] = { "http", "kafka", "grpc", "none", NULL };
static const char *const platform_names[] = { "linux/amd64", "linux/arm64", NULL };

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

/* Validation state, shared by the YAML loading and the tree walk. */
struct vctx {
	struct spec_errors *errs;
	const struct yamltree *tree;  /* where paths came from; NULL for form input */
	size_t base;          /* errs->n when this call started */
	size_t count;         /* errors added by this call */
	bool truncated;
	bool parse_error;     /* -> VIVA_EPARSE rather than VIVA_EINVAL */
};

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

static void verr(struct vctx *v, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verr(struct vctx *v, const char *path, const char *fmt, ...)
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

static void verr_at(struct vctx *v, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void verr_at(struct vctx *v, const char *path, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	add_err(v, path, line, msg);
}

/* A document-level problem that makes the input unusable: VIVA_EPARSE. */
static int perr(struct vctx *v, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct vctx *v, int line, const char *fmt, ...)
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
static void vctx_finish(struct vctx *v)
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
static char *show(const char *s)
{
	struct strbuf sb;
	size_t n = 0;

	sb_init(&sb);
	sb_addc(&sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
		if (n >= SHOW_MAX && (*p & 0xC0) != 0x80) {
			sb_adds(&sb, "...");
			break;
		}
		if (*p == '"' || *p == '\\') {
			sb_addc(&sb, '\\');
			sb_addc(&sb, (char)*p);
		} else if (*p == '\n') {
			sb_adds(&sb, "\\n");
		} else if (*p == '\t') {
			sb_adds(&sb, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			sb_addf(&sb, "\\x%02X", *p);
		} else {
			sb_addc(&sb, (char)*p);
		}
	}
	sb_addc(&sb, '"');
	return sb_detach(&sb);
}

/* path: "<value>" what */
static void verr_val(struct vctx *v, const char *path, const char *val, const char *what)
{
	char *q = show(val);

	verr(v, path, "%s %s", q, what);
	free(q);
}

/* ---- paths and json helpers -------------------------------------------------- */

static const char *kind(const json_t *j)
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
static json_t *member(const json_t *obj, const char *key)
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

static void check_keys(struct vctx *v, json_t *obj, const char *base, const char *const *known)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		if (!in_list(known, key)) {
			char *p = yamltree_path_key(base, key);

			verr(v, p, "unknown key");
			free(p);
		}
	}
}

/* The shortest "%g" text that reads back as d (form input may send 1.8). */
static char *real_text(double d)
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
static char *get_text(struct vctx *v, const json_t *j, const char *path)
{
	switch (json_typeof(j)) {
	case JSON_STRING:
		if (strlen(json_string_value(j)) != json_string_length(j)) {
			verr(v, path, "contains a NUL character");
			return NULL;
		}
		return xstrdup(json_string_value(j));
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(j));
	case JSON_REAL:
		return real_text(json_real_value(j));
	default:
		verr(v, path, "expected a string, got %s", kind(j));
		return NULL;
	}
}

/*
 * obj[key] as text into *out. Absent, null and "" all mean "not given":
 * *out stays NULL, and "required" is reported when required. Returns false
 * when an error was reported.
 */
static bool opt_text(struct vctx *v, json_t *obj, const char *base, const char *key,
		     bool required, char **out)
{
	json_t *j = member(obj, key);
	char *p = yamltree_path_key(base, key);
	bool ok = true;

	*out = NULL;
	if (j)
		*out = get_text(v, j, p);
	if (j && !*out)
		ok = false;
	if (*out && !**out) {
		free(*out);
		*out = NULL;
	}
	if (ok && !*out && required) {
		verr(v, p, "required");
		ok = false;
	}
	free(p);
	return ok;
}

/* obj[key] as a mapping, NULL when absent (error when required) or not one. */
static json_t *opt_map(struct vctx *v, json_t *obj, const char *base, const char *key,
		       bool required)
{
	json_t *j = member(obj, key);
	char *p = yamltree_path_key(base, key);

	if (!j && required)
		verr(v, p, "required");
	if (j && !json_is_object(j)) {
		verr(v, p, "expected a mapping, got %s", kind(j));
		j = NULL;
	}
	free(p);
	return j;
}

static json_t *opt_list(struct vctx *v, json_t *obj, const char *base, const char *key,
			bool required)
{
	json_t *j = member(obj, key);
	char *p = yamltree_path_key(base, key);

	if (!j && required)
		verr(v, p, "required");
	if (j && !json_is_array(j)) {
		verr(v, p, "expected a list, got %s", kind(j));
		j = NULL;
	}
	if (j && json_array_size(j) > SPEC_MAX_ENTRIES) {
		verr(v, p, "has %zu entries; at most %d are allowed", json_array_size(j),
		     SPEC_MAX_ENTRIES);
		j = NULL;
	}
	free(p);
	return j;
}

/* ---- value checks ----------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

static bool has_ctrl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/*
 * An OCI distribution repository name: path components of lower-case
 * letters and digits, joined inside a component by '.', '_', '__' or one or
 * more '-'; components joined by '/'.
 */
static bool is_image_repo(const char *s)
{
	size_t n = strlen(s);
	const char *p = s;

	if (n == 0 || n > IMAGE_MAX)
		return false;
	for (;;) {
		/* one component */
		if (!is_lower_alnum(*p))
			return false;
		for (;;) {
			while (is_lower_alnum(*p))
				p++;
			if (*p == '.' || (*p == '_' && p[1] != '_')) {
				p++;
			} else if (*p == '_') {
				p += 2;
			} else if (*p == '-') {
				while (*p == '-')
					p++;
			} else {
				break;
			}
			if (!is_lower_alnum(*p))
				return false;
		}
		if (*p == '\0')
			return true;
		if (*p != '/')
			return false;
		p++;
	}
}

/* A git repository name, possibly "group/name": [A-Za-z0-9._-] parts. */
static bool is_repo_name(const char *s)
{
	size_t n = strlen(s), start = 0;

	if (n == 0 || n > REPO_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '/' || c == '\0') {
			size_t len = i - start;

			if (len == 0 || (len == 1 && s[start] == '.') ||
			    (len == 2 && s[start] == '.' && s[start + 1] == '.'))
				return false;
			start = i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* git check-ref-format's rules, enough to keep a branch safe in a command line. */
static bool is_branch(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BRANCH_MAX || s[0] == '-' || s[0] == '/' || s[n - 1] == '/' ||
	    s[n - 1] == '.' || !strcmp(s, "@") || strstr(s, "..") || strstr(s, "@{") ||
	    strstr(s, "//") || strstr(s, "/.") || s[0] == '.' ||
	    (n >= 5 && !strcmp(s + n - 5, ".lock")) || strstr(s, ".lock/"))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("~^:?*[\\", *p))
			return false;
	return true;
}

/* A path inside the repository: relative, no "..", no control characters. */
static bool is_rel_path(const char *s)
{
	size_t n = strlen(s), start = 0;

	if (n == 0 || n > PATH_MAX_LEN || s[0] == '/' || has_ctrl(s) || strchr(s, '\\'))
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (s[i] == '/' || s[i] == '\0') {
			if (i - start == 2 && s[start] == '.' && s[start + 1] == '.')
				return false;
			start = i + 1;
		}
	}
	return true;
}

static bool is_java_version(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > JAVA_VERSION_MAX || !is_digit(s[0]) || !is_digit(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] == '.' && is_digit(s[i + 1])))
			return false;
	return true;
}

static bool is_env_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ENV_NAME_MAX || is_digit(s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_'))
			return false;
	}
	return true;
}

static void verr_quantity(struct vctx *v, const char *path, const char *val,
			  enum quantity_fault f, bool cpu)
{
	switch (f) {
	case QUANTITY_OK:
		break;
	case QUANTITY_SYNTAX:
		verr_val(v, path, val, cpu ? "is not a CPU quantity" : "is not a memory quantity");
		break;
	case QUANTITY_FRACTION:
		verr_val(v, path, val, cpu ? "is not a whole number of millicores (1m is the smallest step)"
					   : "is not a whole number of bytes");
		break;
	case QUANTITY_NOT_POSITIVE:
		verr_val(v, path, val, "must be greater than 0");
		break;
	case QUANTITY_TOO_LARGE:
		verr_val(v, path, val, "is too large");
		break;
	}
}

/* ---- the spec ------------------------------------------------------------- */

const char *spec_type_name(enum spec_type t)
{
	return (unsigned)t < 3 ? type_names[t] : "?";
}

const char *spec_iface_name(enum spec_iface i)
{
	return (unsigned)i < 4 ? iface_names[i] : "?";
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_kv(struct spec_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void spec_free(struct spec *s)
{
	if (!s)
		return;
	free(s->name);
	free_strv(s->owners, s->nowners);
	free_strv(s->deploy_managers, s->ndeploy_managers);
	free(s->repo_name);
	free(s->repo_branch);
	free(s->platform);
	free(s->image);
	free_kv(s->build_env, s->nbuild_env);
	free(s->gradle_tasks);
	free(s->gradle_options);
	free(s->gradle_directory);
	free(s->java_version);
	free(s->dockerfile);
	free_kv(s->docker_args, s->ndocker_args);
	for (size_t i = 0; s->resources && i < s->nresources; i++) {
		free(s->resources[i].env);
		free(s->resources[i].cpu);
		free(s->resources[i].memory);
	}
	free(s->resources);
	for (size_t i = 0; s->batches && i < s->nbatches; i++) {
		free(s->batches[i].name);
		free(s->batches[i].schedule);
		free_strv(s->batches[i].command, s->batches[i].ncommand);
	}
	free(s->batches);
	free(s);
}

static bool list_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static bool id_in(char *const *v, size_t n, const char *s)
{
	return v && s && list_has(v, n, s);
}

bool spec_is_owner(const struct spec *s, const char *user_id)
{
	return s && id_in(s->owners, s->nowners, user_id);
}

bool spec_is_deploy_manager(const struct spec *s, const char *user_id)
{
	return s && id_in(s->deploy_managers, s->ndeploy_managers, user_id);
}

/* ---- validation --------------------------------------------------------------- */

/* owners / deployManagers: Slack user ids, no repeats; *out NULL-terminated. */
static void check_users(struct vctx *v, json_t *root, const char *key, bool required,
			char ***out, size_t *nout)
{
	json_t *list = opt_list(v, root, "", key, required);
	size_t n = 0;

	*out = xcalloc(json_array_size(list) + 1, sizeof(char *));
	if (list && required && json_array_size(list) == 0)
		verr(v, key, "at least one Slack user id is required");
	for (size_t i = 0; list && i < json_array_size(list); i++) {
		char *p = yamltree_path_index(key, i);
		char *id = get_text(v, json_array_get(list, i), p);

		if (id && !is_slack_user_id(id)) {
			verr_val(v, p, id, "is not a Slack user id");
		} else if (id && list_has(*out, n, id)) {
			verr_val(v, p, id, "is listed twice");
		} else if (id) {
			(*out)[n++] = id;
			id = NULL;
		}
		free(id);
		free(p);
	}
	*nout = n;
}

/* Returns the index of s in names (NULL-terminated), or -1 after an error. */
static int check_enum(struct vctx *v, const char *path, const char *s, const char *const *names)
{
	struct strbuf sb;
	char *q;

	for (int i = 0; names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	sb_init(&sb);
	for (int i = 0; names[i]; i++)
		sb_addf(&sb, "%s%s", i ? ", " : "", names[i]);
	q = show(s);
	verr(v, path, "%s is not one of %s", q, sb.buf);
	free(q);
	sb_release(&sb);
	return -1;
}

static void check_repository(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *repo = opt_map(v, root, "", "repository", true);

	if (!repo)
		return;
	check_keys(v, repo, "repository", (const char *const[]){ "name", "branch", NULL });
	if (opt_text(v, repo, "repository", "name", true, &s->repo_name) &&
	    !is_repo_name(s->repo_name))
		verr_val(v, "repository.name", s->repo_name,
			 "is not a repository name (letters, digits, '.', '_', '-', parts joined by '/')");
	if (opt_text(v, repo, "repository", "branch", false, &s->repo_branch) && s->repo_branch &&
	    !is_branch(s->repo_branch))
		verr_val(v, "repository.branch", s->repo_branch, "is not a valid branch name");
}

static void check_pipeline(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *pl = opt_map(v, root, "", "pipeline", false);
	char *t = NULL;
	int i;

	if (!pl)
		return;
	check_keys(v, pl, "pipeline", (const char *const[]){ "type", "interface", "platform", NULL });
	if (opt_text(v, pl, "pipeline", "type", false, &t) && t &&
	    (i = check_enum(v, "pipeline.type", t, type_names)) >= 0)
		s->type = (enum spec_type)i;
	free(t);
	t = NULL;
	if (opt_text(v, pl, "pipeline", "interface", false, &t) && t &&
	    (i = check_enum(v, "pipeline.interface", t, iface_names)) >= 0)
		s->iface = (enum spec_iface)i;
	free(t);
	if (opt_text(v, pl, "pipeline", "platform", false, &s->platform) && s->platform)
		check_enum(v, "pipeline.platform", s->platform, platform_names);
}

/* build.environments and build.docker.args: NAME -> text. */
static void check_kv_map(struct vctx *v, json_t *obj, const char *base, const char *key,
			 const char *what, struct spec_kv **out, size_t *nout)
{
	json_t *map = opt_map(v, obj, base, key, false);
	char *mpath = yamltree_path_key(base, key);
	const char *k;
	json_t *val;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	if (map && json_object_size(map) > SPEC_MAX_ENTRIES) {
		verr(v, mpath, "has %zu entries; at most %d are allowed", json_object_size(map),
		     SPEC_MAX_ENTRIES);
		map = NULL;
	}
	if (!map) {
		free(mpath);
		return;
	}
	*out = xcalloc(json_object_size(map) + 1, sizeof(**out));
	json_object_foreach(map, k, val) {
		char *p = yamltree_path_key(mpath, k);
		/* A key with no value (KEY:) is an empty value. */
		char *text = json_is_null(val) ? xstrdup("") : get_text(v, val, p);

		if (!is_env_name(k)) {
			char *q = show(k);

			verr(v, p, "%s is not %s (letters, digits and '_', not starting with a digit)",
			     q, what);
			free(q);
		} else if (text) {
			(*out)[n].key = xstrdup(k);
			(*out)[n].value = text;
			n++;
			text = NULL;
		}
		free(text);
		free(p);
	}
	*nout = n;
	free(mpath);
}

static void check_build(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *build = opt_map(v, root, "", "build", false);
	json_t *gradle, *docker, *en;

	if (!build)
		return;
	check_keys(v, build, "build", (const char *const[]){ "environments", "gradle", "docker", NULL });
	check_kv_map(v, build, "build", "environments", "an environment variable name",
		     &s->build_env, &s->nbuild_env);

	gradle = opt_map(v, build, "build", "gradle", false);
	if (gradle) {
		check_keys(v, gradle, "build.gradle",
			   (const char *const[]){ "enabled", "tasks", "options", "directory",
						  "javaVersion", NULL });
		en = member(gradle, "enabled");
		/* Only true/false: "yes", "on" and friends surprise people. */
		if (json_is_boolean(en))
			s->gradle_enabled = json_is_true(en);
		else if (json_is_string(en) && !strcmp(json_string_value(en), "true"))
			s->gradle_enabled = true;
		else if (json_is_string(en) && !strcmp(json_string_value(en), "false"))
			s->gradle_enabled = false;
		else if (json_is_string(en))
			verr_val(v, "build.gradle.enabled", json_string_value(en),
				 "is not a boolean (use true or false)");
		else if (en)
			verr(v, "build.gradle.enabled", "expected true or false, got %s", kind(en));
		opt_text(v, gradle, "build.gradle", "tasks", false, &s->gradle_tasks);
		opt_text(v, gradle, "build.gradle", "options", false, &s->gradle_options);
		if (opt_text(v, gradle, "build.gradle", "directory", false, &s->gradle_directory) &&
		    s->gradle_directory && !is_rel_path(s->gradle_directory))
			verr_val(v, "build.gradle.directory", s->gradle_directory,
				 "is not a relative path inside the repository");
		if (opt_text(v, gradle, "build.gradle", "javaVersion", false, &s->java_version) &&
		    s->java_version && !is_java_version(s->java_version))
			verr_val(v, "build.gradle.javaVersion", s->java_version,
				 "is not a Java version such as 1.8, 17 or 21");
	}

	docker = opt_map(v, build, "build", "docker", false);
	if (docker) {
		check_keys(v, docker, "build.docker", (const char *const[]){ "dockerfile", "args", NULL });
		if (opt_text(v, docker, "build.docker", "dockerfile", false, &s->dockerfile) &&
		    s->dockerfile && !is_rel_path(s->dockerfile))
			verr_val(v, "build.docker.dockerfile", s->dockerfile,
				 "is not a relative path inside the repository");
		check_kv_map(v, docker, "build.docker", "args", "a build argument name",
			     &s->docker_args, &s->ndocker_args);
	}
}

/* A whole number in lo..hi from a number or its text ("4" from the form). */
static bool check_int(struct vctx *v, json_t *j, const char *path, int lo, int hi, int *out)
{
	json_int_t x = 0;

	if (json_is_integer(j)) {
		x = json_integer_value(j);
	} else if (json_is_string(j)) {
		const char *s = json_string_value(j);
		size_t n = strlen(s), i = s[0] == '-';

		if (n == i || n - i > 10 || n != json_string_length(j)) {
			verr_val(v, path, s, "is not a whole number");
			return false;
		}
		for (size_t k = i; k < n; k++) {
			if (!is_digit(s[k])) {
				verr_val(v, path, s, "is not a whole number");
				return false;
			}
			x = x * 10 + (s[k] - '0');
		}
		if (i)
			x = -x;
	} else if (json_is_real(j)) {
		char *t = real_text(json_real_value(j));

		verr_val(v, path, t, "is not a whole number");
		free(t);
		return false;
	} else {
		verr(v, path, "expected a whole number, got %s", kind(j));
		return false;
	}
	if (x < lo || x > hi) {
		verr(v, path, "%" JSON_INTEGER_FORMAT " is out of range %d-%d", x, lo, hi);
		return false;
	}
	*out = (int)x;
	return true;
}

static void check_resources(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *res = opt_map(v, root, "", "resources", false);
	const char *env;
	json_t *val;

	if (res && json_object_size(res) > SPEC_MAX_ENTRIES) {
		verr(v, "resources", "has %zu entries; at most %d are allowed",
		     json_object_size(res), SPEC_MAX_ENTRIES);
		res = NULL;
	}
	if (!res)
		return;
	s->resources = xcalloc(json_object_size(res) + 1, sizeof(*s->resources));
	json_object_foreach(res, env, val) {
		struct spec_resource *r = &s->resources[s->nresources];
		char *p = yamltree_path_key("resources", env), *pi;
		int64_t q;
		enum quantity_fault qf;

		if (!is_dns1123_label(env))
			verr_val(v, p, env,
				 "is not a valid environment name (lower-case letters, digits and '-', at most 63)");
		if (!json_is_object(val)) {
			if (json_is_null(val))
				verr(v, p, "instance, cpu and memory are required");
			else
				verr(v, p, "expected a mapping, got %s", kind(val));
			free(p);
			continue;
		}
		check_keys(v, val, p, (const char *const[]){ "instance", "cpu", "memory", NULL });
		r->env = xstrdup(env);
		s->nresources++;
		pi = yamltree_path_key(p, "instance");
		if (!member(val, "instance"))
			verr(v, pi, "required");
		else
			check_int(v, member(val, "instance"), pi, 0, 1000, &r->instance);
		free(pi);
		if (opt_text(v, val, p, "cpu", true, &r->cpu)) {
			char *pc = yamltree_path_key(p, "cpu");

			qf = quantity_cpu_check(r->cpu, &q);
			verr_quantity(v, pc, r->cpu, qf, true);
			r->cpu_milli = q;
			free(pc);
		}
		if (opt_text(v, val, p, "memory", true, &r->memory)) {
			char *pm = yamltree_path_key(p, "memory");

			qf = quantity_memory_check(r->memory, &q);
			verr_quantity(v, pm, r->memory, qf, false);
			r->memory_bytes = q;
			free(pm);
		}
		free(p);
	}
}

/*
 * A 5-field cron line (k8s CronJob schedule). Macros are refused so every
 * schedule reads the same way; cron_parse does the field-by-field checks.
 */
static void check_schedule(struct vctx *v, const char *path, const char *s)
{
	char err[512];
	struct cron_expr c;
	int fields = 0;
	bool in = false;
	const char *why;

	for (const char *p = s; *p; p++) {
		bool blank = *p == ' ' || *p == '\t';

		if (!blank && !strchr("0123456789*/,-", *p) &&
		    !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
			verr_val(v, path, s, "is not a cron schedule (5 fields: minute hour "
					     "day-of-month month day-of-week, e.g. \"0 3 * * *\")");
			return;
		}
		if (!blank && !in)
			fields++;
		in = !blank;
	}
	if (fields != 5) {
		char *q = show(s);

		verr(v, path, "%s is not a cron schedule: it has %d fields, not 5 (minute hour "
			      "day-of-month month day-of-week, e.g. \"0 3 * * *\")", q, fields);
		free(q);
		return;
	}
	if (cron_parse(s, &c, err, sizeof(err)) == VIVA_OK)
		return;
	/* err reads `cron "EXPR": what`; EXPR has no '"' (checked above). */
	why = strstr(err, "\": ");
	why = why ? why + 3 : err;
	{
		char *q = show(s);

		verr(v, path, "%s is not a valid cron schedule: %s", q, why);
		free(q);
	}
}

static void check_batches(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *list = opt_list(v, root, "", "batches", false);
	size_t n = json_array_size(list);

	if (!list)
		return;
	s->batches = xcalloc(n + 1, sizeof(*s->batches));
	for (size_t i = 0; i < n; i++) {
		json_t *b = json_array_get(list, i), *cmd;
		struct spec_batch *sb;
		char *p = yamltree_path_index("batches", i), *pn, *pc;

		if (!json_is_object(b)) {
			verr(v, p, "expected a mapping with name, schedule and command, got %s", kind(b));
			free(p);
			continue;
		}
		sb = &s->batches[s->nbatches++];
		check_keys(v, b, p, (const char *const[]){ "name", "schedule", "command", NULL });
		pn = yamltree_path_key(p, "name");
		if (opt_text(v, b, p, "name", true, &sb->name)) {
			bool dup = false;

			for (size_t k = 0; k + 1 < s->nbatches && !dup; k++)
				dup = s->batches[k].name && !strcmp(s->batches[k].name, sb->name);
			if (!is_dns1123_label(sb->name))
				verr_val(v, pn, sb->name,
					 "is not a valid batch name (lower-case letters, digits and '-', at most 63)");
			else if (dup)
				verr_val(v, pn, sb->name, "is used by another batch");
			else if (s->name && is_dns1123_label(s->name) &&
				 strlen(s->name) + 1 + strlen(sb->name) > CRONJOB_NAME_MAX)
				verr(v, p, "CronJob name \"%s-%s\" is longer than %d characters",
				     s->name, sb->name, CRONJOB_NAME_MAX);
		}
		free(pn);
		if (opt_text(v, b, p, "schedule", true, &sb->schedule)) {
			char *ps = yamltree_path_key(p, "schedule");

			check_schedule(v, ps, sb->schedule);
			free(ps);
		}
		pc = yamltree_path_key(p, "command");
		cmd = opt_list(v, b, p, "command", true);
		if (cmd && json_array_size(cmd) == 0)
			verr(v, pc, "at least one word is required, e.g. [java, -jar, app.jar]");
		sb->command = xcalloc(json_array_size(cmd) + 1, sizeof(char *));
		for (size_t k = 0; cmd && k < json_array_size(cmd); k++) {
			char *pk = yamltree_path_index(pc, k);
			char *w = get_text(v, json_array_get(cmd, k), pk);

			if (w)
				sb->command[sb->ncommand++] = w;
			free(pk);
		}
		free(pc);
		free(p);
	}
}

/*
 * The names SPEC 5 derives from the service name must be valid Kubernetes
 * names, or the service could never be applied: say so here, with the path,
 * not later as an API error. A service (not a batch) gets the Services
 * SVC and SVC-canary, DNS-1035 labels: at most 63 characters, starting with a
 * letter. (Deployments SVC-blue/-green/-canary fit whenever the Service does;
 * CronJobs SVC-BATCH are checked with the batches.)
 */
static void check_k8s_names(struct vctx *v, const struct spec *s)
{
	if (!s->name || !is_dns1123_label(s->name) || s->type == SPEC_BATCH)
		return;
	if (strlen(s->name) > SERVICE_NAME_MAX)
		verr(v, "name", "\"%s\" is too long: its Kubernetes Service \"%s-canary\" would be "
		     "longer than 63 characters (at most %d for a service)", s->name, s->name,
		     SERVICE_NAME_MAX);
	else if (!(s->name[0] >= 'a' && s->name[0] <= 'z'))
		verr_val(v, "name", s->name, "must start with a letter: Kubernetes Service names "
			 "(SVC, SVC-canary) do");
}

static void set_default(char **field, const char *def)
{
	if (!*field)
		*field = xstrdup(def);
}

/* The walk shared by YAML and form input. *out only when there is no error. */
static void validate(struct vctx *v, json_t *root, struct spec **out)
{
	static const char *const top[] = { "name", "owners", "deployManagers", "repository",
					    "pipeline", "image", "build", "resources", "batches",
					    NULL };
	struct spec *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	check_keys(v, root, "", top);
	if (opt_text(v, root, "", "name", true, &s->name) && !is_dns1123_label(s->name))
		verr_val(v, "name", s->name,
			 "is not a valid service name (lower-case letters, digits and '-', at most 63)");
	check_users(v, root, "owners", true, &s->owners, &s->nowners);
	check_users(v, root, "deployManagers", false, &s->deploy_managers, &s->ndeploy_managers);
	check_repository(v, root, s);
	check_pipeline(v, root, s);
	if (opt_text(v, root, "", "image", true, &s->image) && !is_image_repo(s->image))
		verr_val(v, "image", s->image,
			 "is not a registry repository (lower-case parts joined by '/', e.g. team/service-a)");
	check_build(v, root, s);
	check_resources(v, root, s);
	check_batches(v, root, s);
	check_k8s_names(v, s);

	set_default(&s->repo_branch, DEF_BRANCH);
	set_default(&s->platform, DEF_PLATFORM);
	set_default(&s->gradle_directory, DEF_DIRECTORY);
	set_default(&s->java_version, DEF_JAVA_VERSION);
	set_default(&s->dockerfile, DEF_DOCKERFILE);

	if (v->count || v->truncated || v->parse_error)
		spec_free(s);
	else
		*out = s;
}

/* ---- YAML -------------------------------------------------------------------- */

/* The YAML as a tree of one mapping; VIVA_EPARSE (errors recorded) otherwise. */
static int load_tree(struct vctx *v, const char *yaml, size_t len, struct yamltree **out)
{
	/* Aliases are refused: a spec has no use for them and they are how
	 * "billion laughs" explodes. */
	static const struct yamltree_limits lim = {
		.max_bytes = SPEC_MAX_BYTES, .max_depth = SPEC_MAX_DEPTH, .aliases = false,
	};
	struct yamltree_error e;
	json_t *root;

	if (yamltree_parse(yaml, len, &lim, out, &e)) {
		if (e.syntax)
			return perr(v, e.line, "YAML syntax error at column %d: %s", e.col, e.msg);
		return perr(v, e.line, "%s", e.msg);
	}
	v->tree = *out;
	root = yamltree_root(*out);
	if (json_is_null(root))
		return perr(v, 0, "empty spec");  /* about the whole file: no line */
	if (!json_is_object(root))
		return perr(v, yamltree_line(*out, ""),
			    "the spec must be a mapping (key: value lines), not %s", kind(root));
	/* Only the first value of a repeated key is validated. */
	for (size_t i = 0; i < yamltree_ndups(*out); i++) {
		const struct yamltree_dup *d = yamltree_dup(*out, i);
		char *p = d->parent ? yamltree_path_key(d->parent, d->key) : xstrdup(d->key);

		if (d->first_line > 0)
			verr_at(v, p, d->line, "duplicate key (first at line %d)", d->first_line);
		else
			verr_at(v, p, d->line, "duplicate key");
		free(p);
	}
	return VIVA_OK;
}

static int finish(struct vctx *v, struct spec **out, struct spec *s)
{
	vctx_finish(v);
	if (v->parse_error) {
		spec_free(s);
		return VIVA_EPARSE;
	}
	if (!s)
		return VIVA_EINVAL;
	*out = s;
	return VIVA_OK;
}

int spec_parse(const char *yaml, size_t len, const char *filename, struct spec **out,
	       struct spec_errors *errs)
{
	struct spec_errors local;
	struct vctx v = { 0 };
	struct yamltree *tree = NULL;
	struct spec *s = NULL;
	int err;

	*out = NULL;
	if (!errs) {
		spec_errors_init(&local, filename);
		errs = &local;
	}
	if (!errs->file && filename)
		errs->file = xstrdup(filename);
	v.errs = errs;
	v.base = errs->n;
	if (len > SPEC_MAX_BYTES) {
		perr(&v, 0, "the spec is %zu bytes; at most %d KiB are allowed", len,
		     SPEC_MAX_BYTES / 1024);
		goto out;
	}
	if (!yaml || len == 0) {
		perr(&v, 0, "empty spec");
		goto out;
	}
	if (load_tree(&v, yaml, len, &tree))
		goto out;
	validate(&v, yamltree_root(tree), &s);
out:
	err = finish(&v, out, s);
	yamltree_free(tree);
	if (errs == &local)
		spec_errors_release(&local);
	return err;
}

int spec_from_json(json_t *tree, struct spec **out, struct spec_errors *errs)
{
	struct spec_errors local;
	struct vctx v = { 0 };
	struct spec *s = NULL;
	int err;

	*out = NULL;
	if (!errs) {
		spec_errors_init(&local, NULL);
		errs = &local;
	}
	v.errs = errs;
	v.base = errs->n;
	if (!tree || json_is_null(tree))
		verr(&v, "", "empty spec");
	else if (!json_is_object(tree))
		verr(&v, "", "the spec must be a mapping, not %s", kind(tree));
	else
		validate(&v, tree, &s);
	err = finish(&v, out, s);
	if (errs == &local)
		spec_errors_release(&local);
	return err;
}

/* ---- output -------------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;

	return j ? j : json_null();
}

static json_t *jstrv(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; v && i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static json_t *jkv(const struct spec_kv *kv, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; kv && i < n; i++)
		if (kv[i].key)
			json_object_set_new(o, kv[i].key, jstr(kv[i].value));
	return o;
}

json_t *spec_to_json(const struct spec *s)
{
	json_t *j, *gradle, *res, *batches;

	if (!s)
		return NULL;
	j = json_object();
	json_object_set_new(j, "name", jstr(s->name));
	json_object_set_new(j, "owners", jstrv(s->owners, s->nowners));
	json_object_set_new(j, "deployManagers", jstrv(s->deploy_managers, s->ndeploy_managers));
	json_object_set_new(j, "repository", json_pack("{s:o, s:o}", "name", jstr(s->repo_name),
						       "branch", jstr(s->repo_branch)));
	json_object_set_new(j, "pipeline",
			    json_pack("{s:s, s:s, s:o}", "type", spec_type_name(s->type),
				      "interface", spec_iface_name(s->iface), "platform",
				      jstr(s->platform)));
	json_object_set_new(j, "image", jstr(s->image));
	gradle = json_pack("{s:b}", "enabled", s->gradle_enabled);
	if (s->gradle_tasks)
		json_object_set_new(gradle, "tasks", jstr(s->gradle_tasks));
	if (s->gradle_options)
		json_object_set_new(gradle, "options", jstr(s->gradle_options));
	json_object_set_new(gradle, "directory", jstr(s->gradle_directory));
	json_object_set_new(gradle, "javaVersion", jstr(s->java_version));
	json_object_set_new(j, "build",
			    json_pack("{s:o, s:o, s:{s:o, s:o}}", "environments",
				      jkv(s->build_env, s->nbuild_env), "gradle", gradle, "docker",
				      "dockerfile", jstr(s->dockerfile), "args",
				      jkv(s->docker_args, s->ndocker_args)));
	res = json_object();
	for (size_t i = 0; s->resources && i < s->nresources; i++) {
		const struct spec_resource *r = &s->resources[i];

		if (r->env)
			json_object_set_new(res, r->env,
					    json_pack("{s:i, s:o, s:o}", "instance", r->instance,
						      "cpu", jstr(r->cpu), "memory", jstr(r->memory)));
	}
	json_object_set_new(j, "resources", res);
	batches = json_array();
	for (size_t i = 0; s->batches && i < s->nbatches; i++) {
		const struct spec_batch *b = &s->batches[i];

		json_array_append_new(batches,
				      json_pack("{s:o, s:o, s:o}", "name", jstr(b->name),
						"schedule", jstr(b->schedule), "command",
						jstrv(b->command, b->ncommand)));
	}
	json_object_set_new(j, "batches", batches);
	return j;
}

/* Decode one UTF-8 character; -1 (one byte) when malformed. */
static long utf8_next(const unsigned char *p, size_t *len)
{
	unsigned char c = p[0];
	long cp;
	size_t n;

	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		cp = c & 0x07;
	} else {
		*len = 1;
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			*len = 1;
			return -1;
		}
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	*len = n;
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		*len = 1;
		return -1;
	}
	return cp;
}

/*
 * A YAML double-quoted scalar. Line breaks, controls and the characters YAML
 * treats as breaks or refuses (U+0085, U+2028, U+2029, U+FEFF, U+FFFE/F) are
 * escaped, so the text reads back byte for byte.
 */
static void yq(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	sb_addc(sb, '"');
	while (*p) {
		size_t n;
		long cp = utf8_next(p, &n);

		if (cp < 0)
			sb_addf(sb, "\\x%02X", *p);  /* not UTF-8: nothing better to do */
		else if (cp == '"')
			sb_adds(sb, "\\\"");
		else if (cp == '\\')
			sb_adds(sb, "\\\\");
		else if (cp == '\n')
			sb_adds(sb, "\\n");
		else if (cp == '\t')
			sb_adds(sb, "\\t");
		else if (cp == '\r')
			sb_adds(sb, "\\r");
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xA0))
			sb_addf(sb, "\\x%02lX", cp);
		else if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF)
			sb_addf(sb, "\\u%04lX", cp);
		else
			sb_add(sb, (const char *)p, n);
		p += n;
	}
	sb_addc(sb, '"');
}

static void y_field(struct strbuf *sb, int indent, const char *key, const char *val)
{
	sb_addf(sb, "%*s%s: ", indent, "", key);
	yq(sb, val);
	sb_addc(sb, '\n');
}

static void y_list(struct strbuf *sb, int indent, const char *key, char *const *v, size_t n)
{
	sb_addf(sb, "%*s%s:", indent, "", key);
	if (!n || !v) {
		sb_adds(sb, " []\n");
		return;
	}
	sb_addc(sb, '\n');
	for (size_t i = 0; i < n; i++) {
		sb_addf(sb, "%*s  - ", indent, "");
		yq(sb, v[i]);
		sb_addc(sb, '\n');
	}
}

static void y_kv(struct strbuf *sb, int indent, const char *key, const struct spec_kv *kv,
		 size_t n)
{
	sb_addf(sb, "%*s%s:", indent, "", key);
	if (!n || !kv) {
		sb_adds(sb, " {}\n");
		return;
	}
	sb_addc(sb, '\n');
	for (size_t i = 0; i < n; i++) {
		sb_addf(sb, "%*s  ", indent, "");
		yq(sb, kv[i].key);
		sb_adds(sb, ": ");
		yq(sb, kv[i].value);
		sb_addc(sb, '\n');
	}
}

char *spec_to_yaml(const struct spec *s)
{
	struct strbuf sb;

	if (!s)
		return NULL;
	sb_init(&sb);
	y_field(&sb, 0, "name", s->name);
	y_list(&sb, 0, "owners", s->owners, s->nowners);
	y_list(&sb, 0, "deployManagers", s->deploy_managers, s->ndeploy_managers);
	sb_adds(&sb, "repository:\n");
	y_field(&sb, 2, "name", s->repo_name);
	y_field(&sb, 2, "branch", s->repo_branch);
	sb_adds(&sb, "pipeline:\n");
	y_field(&sb, 2, "type", spec_type_name(s->type));
	y_field(&sb, 2, "interface", spec_iface_name(s->iface));
	y_field(&sb, 2, "platform", s->platform);
	y_field(&sb, 0, "image", s->image);
	sb_adds(&sb, "build:\n");
	y_kv(&sb, 2, "environments", s->build_env, s->nbuild_env);
	sb_adds(&sb, "  gradle:\n");
	sb_addf(&sb, "    enabled: %s\n", s->gradle_enabled ? "true" : "false");
	if (s->gradle_tasks)
		y_field(&sb, 4, "tasks", s->gradle_tasks);
	if (s->gradle_options)
		y_field(&sb, 4, "options", s->gradle_options);
	y_field(&sb, 4, "directory", s->gradle_directory);
	y_field(&sb, 4, "javaVersion", s->java_version);
	sb_adds(&sb, "  docker:\n");
	y_field(&sb, 4, "dockerfile", s->dockerfile);
	y_kv(&sb, 4, "args", s->docker_args, s->ndocker_args);
	sb_adds(&sb, "resources:");
	sb_adds(&sb, s->nresources && s->resources ? "\n" : " {}\n");
	for (size_t i = 0; s->resources && i < s->nresources; i++) {
		const struct spec_resource *r = &s->resources[i];

		sb_adds(&sb, "  ");
		yq(&sb, r->env);
		sb_adds(&sb, ":\n");
		sb_addf(&sb, "    instance: %d\n", r->instance);
		y_field(&sb, 4, "cpu", r->cpu);
		y_field(&sb, 4, "memory", r->memory);
	}
	sb_adds(&sb, "batches:");
	sb_adds(&sb, s->nbatches && s->batches ? "\n" : " []\n");
	for (size_t i = 0; s->batches && i < s->nbatches; i++) {
		const struct spec_batch *b = &s->batches[i];

		sb_adds(&sb, "  - name: ");
		yq(&sb, b->name);
		sb_addc(&sb, '\n');
		y_field(&sb, 4, "schedule", b->schedule);
		y_list(&sb, 4, "command", b->command, b->ncommand);
	}
	return sb_detach(&sb);
}
