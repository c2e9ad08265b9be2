/*
 * Pipeline specs (spec.h): the entry points spec_parse() and
 * spec_from_json(), spec_free(), the ownership checks and the type and
 * interface names. The rest of the job is in the other spec*.c files, which
 * share bot/model/spec_impl.h:
 *   spec_errors.c        the error list, the validation context (spec_verr)
 *                        and the readers that take typed values from the tree
 *   spec_validate.c      spec_validate(), the walk over every field; the
 *                        top-level fields and the defaults
 *   spec_validate_run.c  build, resources and batches
 *   spec_write.c         spec_to_json() and spec_to_yaml()
 */
#include "bot/model/spec.h"
#include "bot/model/spec_impl.h"
#include "bot/lib/err.h"
#include "bot/lib/alloc.h"
#include "bot/lib/yamltree.h"

#include <stdlib.h>
#include <string.h>

/*
 * How it works: spec_parse() loads the YAML with bot/lib/yamltree, which
 * gives a jansson tree and the line every path came from
 * ("resources.alpha.cpu" -> 14). spec_validate() then walks the tree, the
 * same code for YAML and for the Slack form's tree (spec_from_json, no
 * positions, so lines are 0), collecting every error instead of stopping at
 * the first: a developer fixing a spec wants the whole list in one round
 * trip.
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

const char *const spec_type_names[] = { "service", "batch", "frontend", NULL };
const char *const spec_iface_names[] = { "http", "kafka", "grpc", "none", NULL };

/* ---- the spec ------------------------------------------------------------- */

const char *spec_type_name(enum spec_type t)
{
	return (unsigned)t < 3 ? spec_type_names[t] : "?";
}

const char *spec_iface_name(enum spec_iface i)
{
	return (unsigned)i < 4 ? spec_iface_names[i] : "?";
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

bool spec_list_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static bool id_in(char *const *v, size_t n, const char *s)
{
	return v && s && spec_list_has(v, n, s);
}

bool spec_is_owner(const struct spec *s, const char *user_id)
{
	return s && id_in(s->owners, s->nowners, user_id);
}

bool spec_is_deploy_manager(const struct spec *s, const char *user_id)
{
	return s && id_in(s->deploy_managers, s->ndeploy_managers, user_id);
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
			return spec_perr(v, e.line, "YAML syntax error at column %d: %s", e.col, e.msg);
		return spec_perr(v, e.line, "%s", e.msg);
	}
	v->tree = *out;
	root = yamltree_root(*out);
	if (json_is_null(root))
		return spec_perr(v, 0, "empty spec");  /* about the whole file: no line */
	if (!json_is_object(root))
		return spec_perr(v, yamltree_line(*out, ""),
				 "the spec must be a mapping (key: value lines), not %s", spec_kind(root));
	/* Only the first value of a repeated key is validated. */
	for (size_t i = 0; i < yamltree_ndups(*out); i++) {
		const struct yamltree_dup *d = yamltree_dup(*out, i);
		char *p = d->parent ? yamltree_path_key(d->parent, d->key) : xstrdup(d->key);

		if (d->first_line > 0)
			spec_verr_at(v, p, d->line, "duplicate key (first at line %d)", d->first_line);
		else
			spec_verr_at(v, p, d->line, "duplicate key");
		free(p);
	}
	return VIVA_OK;
}

static int finish(struct vctx *v, struct spec **out, struct spec *s)
{
	spec_vctx_finish(v);
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
		spec_perr(&v, 0, "the spec is %zu bytes; at most %d KiB are allowed", len,
			  SPEC_MAX_BYTES / 1024);
		goto out;
	}
	if (!yaml || len == 0) {
		spec_perr(&v, 0, "empty spec");
		goto out;
	}
	if (load_tree(&v, yaml, len, &tree))
		goto out;
	spec_validate(&v, yamltree_root(tree), &s);
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
		spec_verr(&v, "", "empty spec");
	else if (!json_is_object(tree))
		spec_verr(&v, "", "the spec must be a mapping, not %s", spec_kind(tree));
	else
		spec_validate(&v, tree, &s);
	err = finish(&v, out, s);
	if (errs == &local)
		spec_errors_release(&local);
	return err;
}
