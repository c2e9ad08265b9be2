#ifndef VIVA_BOT_MODEL_RENDER_H
#define VIVA_BOT_MODEL_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/model/config.h"
#include "bot/model/spec.h"
#include "bot/model/tmpl.h"

/*
 * A pipeline spec rendered to its Kubernetes objects in one environment
 * (SPEC 5), through the templates k8s/service, k8s/service-canary,
 * k8s/deployment (three times: blue, green, canary) and k8s/cronjob (once
 * per batch): built in, overridable file by file like every template
 * (templates/k8s/README.md lists the variables). No cluster is called here;
 * the caller applies the result with server-side apply.
 *
 * Objects, in this order (Services before the Deployments they front, as
 * Helm orders them), each with metadata.namespace set to the environment's:
 *   pipeline.type service or frontend:
 *     Service SVC, Service SVC-canary,
 *     Deployment SVC-blue, SVC-green, SVC-canary,
 *   every type (a batch pipeline has only these):
 *     CronJob SVC-BATCH for each batch, in the spec's order.
 *
 * What viva relies on is checked on every rendered object, so a broken
 * override is an error that names the template, never a crash or an object
 * that deploys cannot find: an object (not an array, not dropped by "$if"),
 * apiVersion, the expected kind and metadata.name, label app=SVC,
 * metadata.namespace the environment's (filled in when the template leaves
 * it out), and for Deployments and CronJobs named containers (server-side
 * apply merges containers by name).
 *
 * ---- Creation and apply: who owns what --------------------------------------
 *
 * Applying never moves the live Service selector or the running images:
 * those belong to deploys (SPEC 7) and promotions (SPEC 6). They are the
 * *create-only* fields, set when the object is created and never sent by
 * `pipeline apply` afterwards, so that the field manager `viva` never owns
 * them and an apply can neither change nor remove them:
 *   - every object: annotations viva/tag, viva/deployed-at, viva/deployed-by;
 *   - Deployments and CronJobs: "image" of every container (and init
 *     container) whose image is the service's image (the `image` variable;
 *     a sidecar with a fixed image stays the template's);
 *   - Deployments SVC-blue and SVC-green: spec.replicas (a blue-green deploy
 *     scales the idle colour up from the spec, then the old one to zero; an
 *     apply must not wake it: a change of `instance` reaches a colour at its
 *     next blue-green deploy; the canary's replicas, 1 or 0, are applied);
 *   - Service SVC: spec.selector["viva/slot"] (the live colour);
 *   - CronJobs: spec.suspend (a suspended batch stays suspended).
 * This is enforced here, on the rendered objects, not left to the
 * templates: an override cannot make an apply move them.
 *
 * So a render has three forms (render_opts.form):
 *   RENDER_CREATE  whole objects, as a new environment gets them;
 *   RENDER_APPLY   the same without the create-only fields: the body that
 *                  field manager viva applies every time. It depends on the
 *                  spec, the target and the templates only (the creation
 *                  inputs of render_opts are ignored), so rendering twice
 *                  gives byte-identical JSON and a second apply is a no-op;
 *   RENDER_SEED    apiVersion, kind, metadata.name/namespace and the
 *                  create-only fields with their first values; an object
 *                  that has none (Service SVC-canary) is left out. Its
 *                  containers ([{name, image}]) are the ones a deploy or a
 *                  promotion sets the image of.
 *
 * How to apply them (server-side apply, PATCH application/apply-patch+yaml):
 *   object missing:  CREATE form with fieldManager=viva-deploy (creates it
 *                    whole), then the APPLY form with fieldManager=viva
 *                    (viva now co-owns the template's fields), then the SEED
 *                    form with fieldManager=viva-deploy (the deploy side
 *                    keeps only the create-only fields). In this order no
 *                    step leaves a field without an owner: a crash between
 *                    steps leaves a valid object whose only flaw is that
 *                    viva-deploy still co-owns the template's fields too
 *                    (one a template later drops would stay). The SEED step
 *                    belongs right after creation only: later it would put
 *                    the first image back.
 *   object present:  the APPLY form with fieldManager=viva (force=true: the
 *                    spec of record wins over a hand edit of its fields).
 *                    A field a template stops rendering is owned by viva
 *                    alone and so is removed; the create-only fields are
 *                    never viva's and stay as deploys left them.
 *
 * ---- Environments -------------------------------------------------------------
 *
 * A spec renders in the environments that are both in its `resources` and in
 * viva.yaml's `environments` (which give the namespace and cluster). An
 * environment only in viva.yaml is simply not the service's: nothing to say.
 * One only in the spec cannot be placed anywhere: it is skipped with a reason
 * ("resources.beta: no environment \"beta\" in viva.yaml (environments)")
 * that apply reports and `viva render` prints, without holding up the
 * service's other environments (a new environment may be added to specs
 * before viva.yaml; a typo shows up in the report).
 */

enum render_form {
	RENDER_CREATE = 0,
	RENDER_APPLY,
	RENDER_SEED,
};

/* Where a spec renders: borrowed strings. */
struct render_target {
	const char *env;         /* resources key and viva.yaml environment, e.g. "alpha" */
	const char *namespace_;  /* Kubernetes namespace (DNS-1123 label) */
	const char *cluster;     /* viva.yaml clusters entry; NULL reads as "" */
};

struct render_opts {
	enum render_form form;
	/* Registry host (and path) before spec.image in image references, e.g.
	 * "registry.example.com:5000" (render_registry_host() of REGISTRY_URL);
	 * NULL or "": the bare repository. */
	const char *registry;
	/* Creation inputs, used by RENDER_CREATE and RENDER_SEED only (the
	 * APPLY form renders with the defaults, which it then strips). */
	const char *tag;          /* the first image tag; NULL: "latest" */
	const char *live;         /* the first live colour: "blue" (NULL) or "green" */
	const char *deployed_by;  /* viva/deployed-by: the creator; NULL: "viva" */
	int64_t deployed_at;      /* viva/deployed-at, Unix seconds (RFC 3339 UTC in the object) */
};

/*
 * Render spec s in target t with the templates ts (borrowed; the k8s/ ones,
 * rendered with TMPL_VERBATIM). On success *out is a new JSON array of the
 * objects in the order above (caller owns; possibly empty: a batch pipeline
 * without batches). On failure *out is NULL and err says what and where:
 *   VIVA_ENOENT  s has no resources.ENV for t->env, or a template is missing
 *   VIVA_EINVAL  bad options (a tag that is not a tag, a colour that is not
 *                blue or green), or a template that does not render or
 *                renders something viva cannot use, e.g.
 *                "service-a in alpha: template k8s/deployment: missing
 *                variable 'replica' at /spec/replicas"
 *                "service-a in alpha: template k8s/service renders kind
 *                \"Servic\", not Service"
 */
int render_service(const struct spec *s, const struct render_target *t, struct tmpl_set *ts,
		   const struct render_opts *o, json_t **out, char *err, size_t errlen);

struct render_skip {
	const char *env;   /* borrowed from the spec */
	char *reason;      /* "resources.beta: no environment \"beta\" in viva.yaml (environments)" */
};

/* The environments a spec renders in (see above). Borrows from s and cfg. */
struct render_plan {
	struct render_target *targets;  /* in viva.yaml's order */
	size_t ntargets;
	struct render_skip *skipped;    /* in the spec's order */
	size_t nskipped;
};

void render_plan_init(struct render_plan *p, const struct spec *s, const struct viva_config *cfg);
void render_plan_release(struct render_plan *p);

/*
 * The part of a registry URL that prefixes image references: the scheme
 * and trailing '/' removed ("http://127.0.0.1:5000/" -> "127.0.0.1:5000",
 * "https://r.example.com/team" -> "r.example.com/team"). NULL for NULL or
 * an empty result. Caller frees.
 */
char *render_registry_host(const char *url);

/* The template names render_service() uses, NULL-terminated. */
extern const char *const render_templates[];

#endif
