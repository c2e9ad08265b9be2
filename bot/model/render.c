/* A pipeline spec rendered to its Kubernetes objects (see render.h). */
#include "bot/model/render.h"
#include "bot/model/tmpl.h"
#include "bot/clients/registry.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/quantity.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_SERVICE        "k8s/service"
#define T_SERVICE_CANARY "k8s/service-canary"
#define T_DEPLOYMENT     "k8s/deployment"
#define T_CRONJOB        "k8s/cronjob"

const char *const render_templates[] = { T_SERVICE, T_SERVICE_CANARY, T_DEPLOYMENT, T_CRONJOB, NULL };

/* What an object is to viva: decides its kind, name and create-only fields. */
enum role {
	ROLE_SERVICE_LIVE,     /* Service SVC */
	ROLE_SERVICE_CANARY,   /* Service SVC-canary */
	ROLE_COLOUR,           /* Deployment SVC-blue / SVC-green */
	ROLE_CANARY,           /* Deployment SVC-canary */
	ROLE_CRONJOB,          /* CronJob SVC-BATCH */
};

/* One object to render. */
struct item {
	enum role role;
	const char *tmpl;
	const char *kind;
	char *name;
	const char *slot;              /* NULL for CronJobs */
	const struct spec_batch *batch;
};

/* Paths, NULL-terminated. */
#define PATH(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define P_ANNOTATIONS  PATH("metadata", "annotations")
#define P_DEPLOY_POD   PATH("spec", "template", "spec")
#define P_CRONJOB_POD  PATH("spec", "jobTemplate", "spec", "template", "spec")

static const char *const create_only_annotations[] = { "viva/tag", "viva/deployed-at",
						       "viva/deployed-by", NULL };

static void oom(const char *what)
{
	log_error("out of memory", "what=%s", what);
	abort();
}

static json_t *jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");

	if (!j)  /* only invalid UTF-8 gets here: spec and config text is checked */
		j = json_string("?");
	if (!j)
		oom("json string");
	return j;
}

static void set(json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) != 0)
		oom("json object");
}

/* ---- environments ------------------------------------------------------------ */

void render_plan_init(struct render_plan *p, const struct spec *s, const struct viva_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->targets = xcalloc(cfg->n_environments + 1, sizeof(*p->targets));
	p->skipped = xcalloc(s->nresources + 1, sizeof(*p->skipped));
	for (size_t i = 0; i < cfg->n_environments; i++) {
		const struct config_env *e = &cfg->environments[i];

		for (size_t k = 0; k < s->nresources; k++) {
			if (strcmp(s->resources[k].env, e->name) != 0)
				continue;
			p->targets[p->ntargets++] = (struct render_target){
				.env = e->name, .namespace_ = e->namespace_, .cluster = e->cluster,
			};
			break;
		}
	}
	for (size_t k = 0; k < s->nresources; k++) {
		const char *env = s->resources[k].env;

		if (config_env_find(cfg, env))
			continue;
		p->skipped[p->nskipped].env = env;
		p->skipped[p->nskipped].reason =
			xasprintf("resources.%s: no environment \"%s\" in viva.yaml (environments), so no "
				  "namespace to render into", env, env);
		p->nskipped++;
	}
}

void render_plan_release(struct render_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nskipped; i++)
		free(p->skipped[i].reason);
	free(p->skipped);
	free(p->targets);
	memset(p, 0, sizeof(*p));
}

char *render_registry_host(const char *url)
{
	const char *s = url, *scheme;
	size_t n;

	if (!s)
		return NULL;
	scheme = strstr(s, "://");
	if (scheme)
		s = scheme + 3;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		n--;
	return n ? xstrndup(s, n) : NULL;
}

/* ---- the data the templates see ------------------------------------------ */

static const struct spec_resource *find_resource(const struct spec *s, const char *env)
{
	for (size_t i = 0; i < s->nresources; i++)
		if (!strcmp(s->resources[i].env, env))
			return &s->resources[i];
	return NULL;
}

static const char *port_name(enum spec_iface i)
{
	switch (i) {
	case SPEC_HTTP: return "http";
	case SPEC_GRPC: return "grpc";
	case SPEC_KAFKA:
	case SPEC_NONE: break;
	}
	/* Istio reads the protocol from the port name: plain TCP for the rest. */
	return "tcp";
}

/* Variables every template sees (templates/k8s/README.md). */
static json_t *base_data(const struct spec *s, const struct render_target *t,
			 const struct spec_resource *res, const char *registry, const char *tag,
			 const char *deployed_by, int64_t deployed_at)
{
	json_t *d = json_object();
	const char *platform = s->platform ? s->platform : "linux/amd64";
	const char *slash = strchr(platform, '/');
	char *os = slash ? xstrndup(platform, (size_t)(slash - platform)) : xstrdup(platform);
	char *repo = registry && registry[0] ? xasprintf("%s/%s", registry, s->image) : xstrdup(s->image);
	char *image = xasprintf("%s:%s", repo, tag);
	char cpu[QUANTITY_BUF], mem[QUANTITY_BUF], when[32];
	time_t tt = (time_t)deployed_at;
	struct tm tm;

	if (!d)
		oom("json object");
	if (!gmtime_r(&tt, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "1970-01-01T00:00:00Z");
	set(d, "service", jstr(s->name));
	set(d, "namespace", jstr(t->namespace_));
	set(d, "environment", jstr(t->env));
	set(d, "cluster", jstr(t->cluster));
	set(d, "type", jstr(spec_type_name(s->type)));
	set(d, "interface", jstr(spec_iface_name(s->iface)));
	set(d, "platform", jstr(platform));
	set(d, "os", jstr(os));
	set(d, "arch", jstr(slash ? slash + 1 : "amd64"));
	set(d, "registry", jstr(registry));
	set(d, "imageRepository", jstr(repo));
	set(d, "tag", jstr(tag));
	set(d, "image", jstr(image));
	set(d, "instance", json_integer(res->instance));
	set(d, "cpu", jstr(quantity_cpu_format(res->cpu_milli, cpu)));
	set(d, "memory", jstr(quantity_memory_format(res->memory_bytes, mem)));
	set(d, "portName", jstr(port_name(s->iface)));
	set(d, "deployedAt", jstr(when));
	set(d, "deployedBy", jstr(deployed_by));
	free(os);
	free(repo);
	free(image);
	return d;
}

/* The base plus this object's own variables (a new object). */
static json_t *item_data(json_t *base, const struct item *it, const char *live, int instance)
{
	json_t *d = json_copy(base);

	if (!d)
		oom("json object");
	set(d, "name", jstr(it->name));
	if (it->role == ROLE_SERVICE_LIVE)
		set(d, "slot", jstr(live));
	else if (it->slot)
		set(d, "slot", jstr(it->slot));
	if (it->role == ROLE_COLOUR || it->role == ROLE_CANARY) {
		bool is_live = it->role == ROLE_COLOUR && !strcmp(it->slot, live);
		int replicas = it->role == ROLE_CANARY ? (instance > 0 ? 1 : 0) : is_live ? instance : 0;

		set(d, "live", json_boolean(is_live));
		set(d, "replicas", json_integer(replicas));
	}
	if (it->batch) {
		json_t *cmd = json_array();

		if (!cmd)
			oom("json array");
		for (size_t i = 0; i < it->batch->ncommand; i++)
			if (json_array_append_new(cmd, jstr(it->batch->command[i])) != 0)
				oom("json array");
		set(d, "batch", jstr(it->batch->name));
		set(d, "schedule", jstr(it->batch->schedule));
		set(d, "command", cmd);
	}
	return d;
}

/* ---- checking what a template made ---------------------------------------- */

/* The value at path (objects all the way), or NULL. */
static json_t *at(json_t *root, const char *const *path)
{
	json_t *v = root;

	for (; v && *path; path++)
		v = json_is_object(v) ? json_object_get(v, *path) : NULL;
	return v;
}

static bool str_is(json_t *v, const char *want)
{
	return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* The named containers a pod spec must have; msg says what is wrong. */
static bool check_pod(json_t *obj, const char *const *podpath, const char *where, char *msg,
		      size_t len)
{
	json_t *pod = at(obj, podpath), *cs, *c;
	size_t i;

	cs = json_object_get(pod, "containers");
	if (!json_is_array(cs) || json_array_size(cs) == 0) {
		snprintf(msg, len, "has no containers at %s/containers", where);
		return false;
	}
	json_array_foreach(cs, i, c) {
		json_t *name = json_object_get(c, "name");

		if (!json_is_string(name) || json_string_length(name) == 0) {
			snprintf(msg, len, "has a container without a name at %s/containers/%zu "
				 "(server-side apply merges containers by name)", where, i);
			return false;
		}
	}
	return true;
}

/* Whether obj is what viva needs from it->tmpl; fills in the namespace. */
static bool check_obj(json_t *obj, const struct item *it, const char *svc, const char *ns,
		      char *msg, size_t len)
{
	json_t *meta, *v;

	if (!json_is_object(obj)) {
		snprintf(msg, len, "renders %s, not a Kubernetes object", tmpl_type_name(obj));
		return false;
	}
	v = json_object_get(obj, "apiVersion");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(msg, len, "renders an object without apiVersion");
		return false;
	}
	v = json_object_get(obj, "kind");
	if (!str_is(v, it->kind)) {
		if (json_is_string(v))
			snprintf(msg, len, "renders kind \"%.64s\", not %s", json_string_value(v), it->kind);
		else
			snprintf(msg, len, "renders an object without kind (%s expected)", it->kind);
		return false;
	}
	meta = json_object_get(obj, "metadata");
	if (!json_is_object(meta)) {
		snprintf(msg, len, "renders a %s without metadata", it->kind);
		return false;
	}
	v = json_object_get(meta, "name");
	if (!str_is(v, it->name)) {
		if (json_is_string(v))
			snprintf(msg, len, "renders metadata.name \"%.80s\", not \"%s\" (use {{name}})",
				 json_string_value(v), it->name);
		else
			snprintf(msg, len, "renders a %s without metadata.name (use {{name}})", it->kind);
		return false;
	}
	v = json_object_get(meta, "namespace");
	if (!v) {
		set(meta, "namespace", jstr(ns));
	} else if (!str_is(v, ns)) {
		snprintf(msg, len, "renders metadata.namespace %s%.80s%s, not the environment's \"%s\" "
			 "(use {{namespace}})", json_is_string(v) ? "\"" : "",
			 json_is_string(v) ? json_string_value(v) : tmpl_type_name(v), json_is_string(v) ? "\"" : "",
			 ns);
		return false;
	}
	if (!str_is(at(meta, PATH("labels", "app")), svc)) {
		snprintf(msg, len, "renders %s without the label app=%s (viva finds the service's "
			 "objects by it)", it->name, svc);
		return false;
	}
	if (!strcmp(it->kind, "Deployment"))
		return check_pod(obj, P_DEPLOY_POD, "/spec/template/spec", msg, len);
	if (!strcmp(it->kind, "CronJob"))
		return check_pod(obj, P_CRONJOB_POD, "/spec/jobTemplate/spec/template/spec", msg, len);
	return true;
}

/* ---- create-only fields --------------------------------------------------------- */

/*
 * Applied to a whole (CREATE) object: APPLY removes the create-only fields
 * from it, SEED copies them into seed (which starts as the object's
 * identity). took tells whether there were any.
 */
struct split {
	enum render_form form;
	json_t *seed;
	bool took;
};

/* The object at path in the seed, made as needed. */
static json_t *seed_at(json_t *seed, const char *const *path)
{
	json_t *v = seed;

	for (; *path; path++) {
		json_t *next = json_object_get(v, *path);

		if (!next) {
			next = json_object();
			set(v, *path, next);
		}
		v = next;
	}
	return v;
}

static void take_key(struct split *sp, json_t *obj, const char *const *path, const char *key)
{
	json_t *parent = at(obj, path), *v = json_object_get(parent, key);

	if (!json_is_object(parent) || !v)
		return;
	sp->took = true;
	if (sp->form == RENDER_SEED)
		set(seed_at(sp->seed, path), key, json_deep_copy(v));
	else
		json_object_del(parent, key);
}

/* "image" of the containers that run the service's image. */
static void take_images(struct split *sp, json_t *obj, const char *const *podpath, const char *image)
{
	static const char *const lists[] = { "initContainers", "containers", NULL };
	json_t *pod = at(obj, podpath);

	for (size_t l = 0; lists[l]; l++) {
		json_t *cs = json_object_get(pod, lists[l]), *c, *seeds = NULL;
		size_t i;

		json_array_foreach(cs, i, c) {
			json_t *img = json_object_get(c, "image"), *one;

			if (!str_is(img, image))
				continue;
			sp->took = true;
			if (sp->form != RENDER_SEED) {
				json_object_del(c, "image");
				continue;
			}
			if (!seeds) {
				seeds = json_array();
				set(seed_at(sp->seed, podpath), lists[l], seeds);
			}
			one = json_object();
			if (!one)
				oom("json object");
			set(one, "name", json_deep_copy(json_object_get(c, "name")));
			set(one, "image", json_deep_copy(img));
			if (json_array_append_new(seeds, one) != 0)
				oom("json array");
		}
	}
}

static void split_obj(struct split *sp, json_t *obj, const struct item *it, const char *image)
{
	json_t *ann;

	for (size_t i = 0; create_only_annotations[i]; i++)
		take_key(sp, obj, P_ANNOTATIONS, create_only_annotations[i]);
	/* An emptied map is dropped rather than claimed as an empty map. */
	ann = at(obj, P_ANNOTATIONS);
	if (sp->form == RENDER_APPLY && json_is_object(ann) && json_object_size(ann) == 0)
		json_object_del(json_object_get(obj, "metadata"), "annotations");
	switch (it->role) {
	case ROLE_SERVICE_LIVE:
		take_key(sp, obj, PATH("spec", "selector"), "viva/slot");
		break;
	case ROLE_SERVICE_CANARY:
		break;
	case ROLE_COLOUR:
		take_key(sp, obj, PATH("spec"), "replicas");
		take_images(sp, obj, P_DEPLOY_POD, image);
		break;
	case ROLE_CANARY:
		take_images(sp, obj, P_DEPLOY_POD, image);
		break;
	case ROLE_CRONJOB:
		take_key(sp, obj, PATH("spec"), "suspend");
		take_images(sp, obj, P_CRONJOB_POD, image);
		break;
	}
}

/* The identity of obj: what a SEED object starts from. */
static json_t *identity(json_t *obj)
{
	json_t *id = json_object(), *meta = json_object(), *m = json_object_get(obj, "metadata");

	if (!id || !meta)
		oom("json object");
	set(id, "apiVersion", json_deep_copy(json_object_get(obj, "apiVersion")));
	set(id, "kind", json_deep_copy(json_object_get(obj, "kind")));
	set(meta, "name", json_deep_copy(json_object_get(m, "name")));
	set(meta, "namespace", json_deep_copy(json_object_get(m, "namespace")));
	set(id, "metadata", meta);
	return id;
}

/* ---- rendering ------------------------------------------------------------------ */

static size_t plan_items(const struct spec *s, struct item *items)
{
	static const char *const slots[] = { "blue", "green", "canary" };
	size_t n = 0;

	if (s->type != SPEC_BATCH) {
		items[n++] = (struct item){ ROLE_SERVICE_LIVE, T_SERVICE, "Service",
					    xstrdup(s->name), NULL, NULL };
		items[n++] = (struct item){ ROLE_SERVICE_CANARY, T_SERVICE_CANARY, "Service",
					    xasprintf("%s-canary", s->name), "canary", NULL };
		for (size_t i = 0; i < 3; i++)
			items[n++] = (struct item){ i < 2 ? ROLE_COLOUR : ROLE_CANARY, T_DEPLOYMENT,
						    "Deployment", xasprintf("%s-%s", s->name, slots[i]),
						    slots[i], NULL };
	}
	for (size_t i = 0; i < s->nbatches; i++)
		items[n++] = (struct item){ ROLE_CRONJOB, T_CRONJOB, "CronJob",
					    xasprintf("%s-%s", s->name, s->batches[i].name), NULL,
					    &s->batches[i] };
	return n;
}

int render_service(const struct spec *s, const struct render_target *t, struct tmpl_set *ts,
		   const struct render_opts *o, json_t **out, char *err, size_t errlen)
{
	static const struct render_opts defaults = { .form = RENDER_CREATE };
	const struct spec_resource *res;
	struct item *items = NULL;
	size_t nitems = 0;
	json_t *base = NULL, *list = NULL, *data = NULL, *obj = NULL;
	const char *tag, *live, *by, *image;
	int64_t at_time;
	char msg[512], terr[512];
	int rc = VIVA_OK;

	if (out)
		*out = NULL;
	if (!s || !t || !t->env || !t->namespace_ || !ts || !out) {
		viva_errf(err, errlen, "render: spec, target, templates and output are required");
		return VIVA_EINVAL;
	}
	if (!o)
		o = &defaults;
	if (o->form != RENDER_CREATE && o->form != RENDER_APPLY && o->form != RENDER_SEED) {
		viva_errf(err, errlen, "render: unknown form %d", (int)o->form);
		return VIVA_EINVAL;
	}
	res = find_resource(s, t->env);
	if (!res) {
		viva_errf(err, errlen, "%s in %s: the spec has no resources.%s", s->name, t->env, t->env);
		return VIVA_ENOENT;
	}
	/* The APPLY form must not depend on who renders it when: fixed inputs. */
	tag = o->form == RENDER_APPLY || !o->tag ? "latest" : o->tag;
	live = o->form == RENDER_APPLY || !o->live ? "blue" : o->live;
	by = o->form == RENDER_APPLY || !o->deployed_by ? "viva" : o->deployed_by;
	at_time = o->form == RENDER_APPLY ? 0 : o->deployed_at;
	if (!registry_valid_tag(tag)) {
		viva_errf(err, errlen, "%s in %s: \"%.80s\" is not an image tag", s->name, t->env, tag);
		return VIVA_EINVAL;
	}
	if (strcmp(live, "blue") != 0 && strcmp(live, "green") != 0) {
		viva_errf(err, errlen, "%s in %s: the live colour is blue or green, not \"%.32s\"", s->name,
			  t->env, live);
		return VIVA_EINVAL;
	}

	items = xcalloc(5 + s->nbatches, sizeof(*items));
	nitems = plan_items(s, items);
	base = base_data(s, t, res, o->registry, tag, by, at_time);
	image = json_string_value(json_object_get(base, "image"));
	list = json_array();
	if (!list)
		oom("json array");
	for (size_t i = 0; i < nitems; i++) {
		const struct item *it = &items[i];
		struct split sp = { .form = o->form };

		data = item_data(base, it, live, res->instance);
		rc = tmpl_render_ex(ts, it->tmpl, data, TMPL_VERBATIM, &obj, terr, sizeof(terr));
		if (rc) {
			viva_errf(err, errlen, "%s in %s: %s", s->name, t->env, terr);
			goto out;
		}
		if (!check_obj(obj, it, s->name, t->namespace_, msg, sizeof(msg))) {
			viva_errf(err, errlen, "%s in %s: template %s %s", s->name, t->env, it->tmpl, msg);
			rc = VIVA_EINVAL;
			goto out;
		}
		if (o->form == RENDER_SEED)
			sp.seed = identity(obj);
		if (o->form != RENDER_CREATE)
			split_obj(&sp, obj, it, image);
		if (o->form == RENDER_SEED) {
			json_decref(obj);
			obj = sp.took ? sp.seed : NULL;
			if (!sp.took)
				json_decref(sp.seed);
		}
		if (obj && json_array_append_new(list, obj) != 0)
			oom("json array");
		obj = NULL;
		json_decref(data);
		data = NULL;
	}
	*out = list;
	list = NULL;
out:
	json_decref(obj);
	json_decref(data);
	json_decref(list);
	json_decref(base);
	for (size_t i = 0; i < nitems; i++)
		free(items[i].name);
	free(items);
	return rc;
}
