#ifndef VIVA_BOT_MODEL_CATALOG_H
#define VIVA_BOT_MODEL_CATALOG_H

#include <jansson.h>

#include "bot/ctx.h"
#include "bot/model/spec.h"

/*
 * The service catalog: pipeline specs of record. The spec directory
 * (viva.yaml pipelines.dir, one SVC.yaml per service) is the source of
 * truth (GitOps); the store keeps the parsed specs and every revision.
 */

struct catalog_report {
	json_t *added;      /* ["svc", ...] */
	json_t *changed;    /* ["svc", ...] */
	json_t *removed;    /* ["svc", ...] */
	json_t *invalid;    /* [{"file": "x.yaml", "errors": "path: message (x.yaml:3)\n..."}] */
	int unchanged;
};

void catalog_report_init(struct catalog_report *r);
void catalog_report_release(struct catalog_report *r);

/*
 * Re-read the spec directory: valid files are stored (a new revision when
 * the text changed), invalid files are reported and never replace a valid
 * stored spec, services whose file is gone are marked removed. A missing
 * directory, or an empty one while the catalog has services, is refused
 * (VIVA_ENOENT / VIVA_EINVAL with err) rather than emptying the catalog.
 */
int catalog_apply_dir(struct viva_env *env, const char *author, struct catalog_report *rep,
		      char *err, size_t errlen);

/*
 * Who answers for the registry repository of service `name`: the active
 * pipeline that owns its image (*owner, caller frees; normally `name`
 * itself, but an old database may hold two pipelines naming one image, and
 * then the first one owns it). *image (caller frees) is the repository.
 * VIVA_ENOENT when there is no such service.
 */
int catalog_image_owner(struct viva_env *env, const char *name, char **image, char **owner);

/* The active spec of `name` (spec_free), VIVA_ENOENT when there is none. */
int catalog_get(struct viva_env *env, const char *name, struct spec **out);

/*
 * Create a new service from a validated spec: stored (VIVA_ECONFLICT when
 * the name is taken, VIVA_EDENIED when another pipeline has its image: a
 * repository belongs to one pipeline) and written as SVC.yaml into the spec
 * directory.
 * *yaml_out (may be NULL) receives the YAML written (caller frees).
 */
int catalog_create(struct viva_env *env, const struct spec *s, const char *author, char **yaml_out,
		   char *err, size_t errlen);

#endif
