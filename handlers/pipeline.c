#include "handlers/pipeline.h"
#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/reply.h"
#include "bot/model/spec.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/slack/mrkdwn.h"
#include "store/services.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_PAGE 40           /* services per message: 40 + group rows stay under 50 blocks */
#define MAX_INVALID_SHOWN 10
#define YAML_PART 2800         /* a section's text is at most 3000 characters */

/* "<@U1>, <@U2>" for valid ids; "nobody" for none. */
static char *mentions(char **ids, size_t n)
{
	struct strbuf sb;

	if (n == 0)
		return xstrdup("nobody");
	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		if (i == 20) {   /* a field holds 2000 characters */
			sb_addf(&sb, " and %zu more", n - 20);
			break;
		}
		if (is_slack_user_id(ids[i]))
			sb_addf(&sb, "%s<@%s>", sb.len ? ", " : "", ids[i]);
	}
	return sb_detach(&sb);
}

/*
 * Split long text into parts that each fit a section once escaped (on line
 * breaks where possible, never inside a UTF-8 character).
 */
static json_t *split_parts(const char *text)
{
	json_t *parts = json_array();
	size_t n = strlen(text);

	while (n > 0 && json_array_size(parts) < 20) {
		size_t take = mrkdwn_fit(text, n, YAML_PART);
		if (take == 0)
			break;
		if (take < n)
			for (size_t i = take; i > take / 2; i--)
				if (text[i - 1] == '\n') {
					take = i;
					break;
				}
		json_array_append_new(parts, json_stringn(text, take));
		text += take;
		n -= take;
	}
	return parts;
}

/* s clipped to what fits `budget` escaped characters, with a mark when cut. */
static char *clip_escaped(const char *s, size_t budget)
{
	size_t n = strlen(s), fit = mrkdwn_fit(s, n, budget);
	return fit == n ? xstrdup(s) : xasprintf("%.*s...", (int)fit, s);
}

/* "a, b, c": as many names as fit a section (3000 characters), then "and N more". */
#define NAMES_BUDGET 2700

static char *join_names(json_t *arr)
{
	struct strbuf sb;
	json_t *v;
	size_t i;

	sb_init(&sb);
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(v);
		if (sb.len + strlen(name) + 2 > NAMES_BUDGET) {
			sb_addf(&sb, " and %zu more", json_array_size(arr) - i);
			break;
		}
		sb_addf(&sb, "%s%s", i ? ", " : "", name);
	}
	return sb_detach(&sb);
}

/* ---- pipeline apply --------------------------------------------------------- */

/* Every active service, as a JSON array of names. */
static json_t *all_names(struct viva_env *env)
{
	struct store_service *all = NULL;
	json_t *names = json_array();
	size_t n = 0;

	if (store_service_list(env->store, false, &all, &n) == VIVA_OK)
		for (size_t i = 0; i < n; i++)
			json_array_append_new(names, json_string(all[i].name));
	store_services_free(all, n);
	return names;
}

int cmd_pipeline_apply(struct viva_ctx *ctx)
{
	struct catalog_report rep;
	char err[512] = "";
	json_t *data = NULL, *invalid, *names, *k8s = NULL;
	char *added = NULL, *changed = NULL, *removed = NULL, *who = NULL;
	bool all = ctx->argc > 0 && strcmp(ctx->argv[0], "--all") == 0;
	size_t ninv;
	int rc, krc;

	if (ctx->argc > 0 && !all)
		return reply_error(ctx, VIVA_EINVAL, "/viva pipeline apply [--all]", "`%s` is not an option of "
				   "pipeline apply.", ctx->argv[0]);
	who = mrkdwn_user(ctx->user_id);
	catalog_report_init(&rep);
	rc = catalog_apply_dir(ctx->env, ctx->user_id, &rep, err, sizeof(err));
	if (rc) {
		rc = reply_error(ctx, rc, NULL, "Nothing applied: %s.", err);
		goto out;
	}
	ninv = json_array_size(rep.invalid);
	invalid = json_array();
	for (size_t i = 0; i < ninv && i < MAX_INVALID_SHOWN; i++) {
		json_t *row = json_array_get(rep.invalid, i);
		const char *errs = json_string_value(json_object_get(row, "errors"));
		char *clipped = clip_escaped(errs, 2500);
		json_array_append_new(invalid, json_pack("{s:O, s:s}", "file", json_object_get(row, "file"),
							 "errors", clipped));
		free(clipped);
	}
	added = join_names(rep.added);
	changed = join_names(rep.changed);
	removed = join_names(rep.removed);
	data = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:o, s:i}",
			 "dir", ctx->env->cfg->pipelines_dir, "who", who,
			 "n_added", (int)json_array_size(rep.added), "n_changed", (int)json_array_size(rep.changed),
			 "n_removed", (int)json_array_size(rep.removed), "n_invalid", (int)ninv,
			 "unchanged", rep.unchanged, "added", added, "changed", changed, "removed", removed,
			 "invalid", invalid, "more_invalid", ninv > MAX_INVALID_SHOWN ? (int)(ninv - MAX_INVALID_SHOWN) : 0);
	dispatch_audit(ctx, NULL, json_pack("{s:O, s:O, s:O, s:i}", "added", rep.added, "changed", rep.changed,
				      "removed", rep.removed, "invalid", (int)ninv));
	/* the clusters: what changed (or, with --all, every service: after a
	 * template change); unchanged objects cost a read and no write */
	if (all) {
		names = all_names(ctx->env);
	} else {
		names = json_copy(rep.added);
		json_array_extend(names, rep.changed);
	}
	krc = pipeline_apply_clusters(ctx, names, &k8s);
	json_decref(names);
	if (k8s) {
		const char *key;
		json_t *v;

		json_object_set_new(data, "k8s", json_true());
		json_object_foreach(k8s, key, v) {
			char *k = xasprintf("k8s_%s", key);
			json_object_set_new(data, k, json_incref(v));
			free(k);
		}
		json_object_set_new(data, "k8s_all", json_boolean(all));
		dispatch_audit(ctx, NULL, json_pack("{s:O, s:O, s:O, s:O}", "created", json_object_get(k8s, "created"),
						    "updated", json_object_get(k8s, "updated"), "failed",
						    json_object_get(k8s, "failed"), "all", json_boolean(all)));
	}
	rc = reply_template(ctx, "slack/pipeline_apply", data, REPLY_IN_CHANNEL);
	if (rc == VIVA_OK && krc != VIVA_OK) {
		/* the specs are read, some clusters refused: the action failed, partly */
		free(ctx->outcome_detail);
		ctx->outcome_detail = xasprintf("%lld environment(s) failed to apply (see the report)",
						(long long)json_integer_value(json_object_get(k8s, "failed")));
		rc = krc;
	}
out:
	json_decref(data);
	json_decref(k8s);
	free(added);
	free(changed);
	free(removed);
	free(who);
	catalog_report_release(&rep);
	return rc;
}

/* ---- pipeline list ---------------------------------------------------------- */

static int show_list(struct viva_ctx *ctx, int offset, unsigned flags)
{
	struct store_service *all = NULL;
	size_t n = 0;
	json_t *groups = json_array(), *group = NULL, *data = NULL;
	const char *cur_type = NULL;
	int rc;

	rc = store_service_list(ctx->env->store, false, &all, &n);
	if (rc)
		goto out;
	if (offset < 0 || (size_t)offset > n)
		offset = 0;
	for (size_t i = (size_t)offset; i < n && i < (size_t)offset + LIST_PAGE; i++) {
		struct spec *s = NULL;
		struct spec_errors errs;
		char *owners;

		spec_errors_init(&errs, NULL);
		if (spec_parse(all[i].spec_yaml, strlen(all[i].spec_yaml), all[i].name, &s, &errs) != VIVA_OK) {
			spec_errors_release(&errs);
			continue;
		}
		spec_errors_release(&errs);
		if (!cur_type || strcmp(cur_type, all[i].type) != 0) {
			cur_type = all[i].type;
			group = json_pack("{s:s, s:i, s:[]}", "type", cur_type, "count", 0, "services");
			json_array_append_new(groups, group);
		}
		owners = mentions(s->owners, s->nowners);
		json_array_append_new(json_object_get(group, "services"),
				      json_pack("{s:s, s:s, s:s}", "name", s->name, "image", s->image, "owners", owners));
		json_object_set_new(group, "count", json_integer((json_int_t)json_array_size(json_object_get(group, "services"))));
		free(owners);
		spec_free(s);
	}
	data = json_pack("{s:i, s:b, s:O, s:i, s:i, s:b, s:s, s:s}",
			 "total", (int)n, "empty", n == 0, "groups", groups,
			 "first", n ? offset + 1 : 0, "last", (int)((size_t)offset + LIST_PAGE < n ? (size_t)offset + LIST_PAGE : n),
			 "more", (size_t)offset + LIST_PAGE < n, "slash", dispatch_slash(ctx->env), "next", "");
	if ((size_t)offset + LIST_PAGE < n) {
		char next[32];
		snprintf(next, sizeof(next), "%d", offset + LIST_PAGE);
		json_object_set_new(data, "next", json_string(next));
	}
	rc = reply_template(ctx, "slack/pipeline_list", data, flags);
out:
	json_decref(groups);
	json_decref(data);
	store_services_free(all, n);
	return rc;
}

int cmd_pipeline_list(struct viva_ctx *ctx)
{
	return show_list(ctx, 0, REPLY_EPHEMERAL);
}

int act_pipeline_list_more(struct viva_ctx *ctx)
{
	const char *v = json_string_value(json_object_get(ctx->action, "value"));
	char *end = NULL;
	long off = v ? strtol(v, &end, 10) : -1;

	if (!v || !end || *end || off < 0 || off > 1000000)
		return reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	return show_list(ctx, (int)off, REPLY_REPLACE);
}

/* ---- pipeline show -------------------------------------------------------------- */

int cmd_pipeline_show(struct viva_ctx *ctx)
{
	const char *name = ctx->argv[0];
	struct store_service sv;
	struct store_revision *revs = NULL;
	struct spec *s = NULL;
	size_t nrev = 0;
	json_t *data = NULL;
	struct strbuf rl;
	char *owners = NULL, *dms = NULL, *source = NULL;
	int rc;

	sb_init(&rl);
	rc = store_service_get(ctx->env->store, name, &sv);
	if (rc == VIVA_ENOENT || (rc == VIVA_OK && sv.deleted_at)) {
		rc = reply_error(ctx, VIVA_ENOENT, NULL, "There is no pipeline named `%s`. `%s pipeline list` shows them all.",
				 name, dispatch_slash(ctx->env));
		goto out;
	}
	if (rc)
		goto out;
	rc = catalog_get(ctx->env, name, &s);
	if (rc)
		goto out;
	store_service_revisions(ctx->env->store, name, 10, &revs, &nrev);
	for (size_t i = 0; i < nrev; i++) {
		char date[32];
		time_t t = (time_t)revs[i].ts;
		struct tm tm;
		char *who = mrkdwn_user(revs[i].author);
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		sb_addf(&rl, "%s#%d %s by %s", i ? ", " : "", revs[i].revision, date, who);
		free(who);
	}
	owners = mentions(s->owners, s->nowners);
	dms = mentions(s->deploy_managers, s->ndeploy_managers);
	source = mrkdwn_escape(sv.source);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:s}",
			 "name", s->name, "type", spec_type_name(s->type), "interface", spec_iface_name(s->iface),
			 "platform", s->platform, "image", s->image, "owners", owners, "deploy_managers", dms,
			 "repository", s->repo_name, "branch", s->repo_branch ? s->repo_branch : "",
			 "source", sv.source, "revision", sv.revision, "yaml_parts", split_parts(sv.spec_yaml),
			 "revisions", rl.buf);
	json_object_set_new(data, "live", pipeline_live_state(ctx, s));
	rc = reply_template(ctx, "slack/pipeline_show", data, REPLY_EPHEMERAL);
out:
	store_service_release(&sv);
	json_decref(data);
	free(owners);
	free(dms);
	free(source);
	sb_release(&rl);
	spec_free(s);
	store_revisions_free(revs, nrev);
	return rc;
}

/* ---- pipeline create: the form ------------------------------------------------- */

int cmd_pipeline_create(struct viva_ctx *ctx)
{
	const struct viva_config *cfg = ctx->env->cfg;
	json_t *envs = json_array(), *data, *view = NULL;
	char *meta;
	int rc;

	if (cfg->n_environments == 0) {
		json_array_append_new(envs, json_pack("{s:s, s:s, s:s, s:s}", "name", "alpha", "instance", "1",
						      "cpu", "0.5", "memory", "1Gi"));
		json_array_append_new(envs, json_pack("{s:s, s:s, s:s, s:s}", "name", "prod", "instance", "2",
						      "cpu", "1", "memory", "2Gi"));
	}
	for (size_t i = 0; i < cfg->n_environments && i < 20; i++)
		json_array_append_new(envs, json_pack("{s:s, s:s, s:s, s:s}", "name", cfg->environments[i].name,
						      "instance", "1", "cpu", "0.5", "memory", "1Gi"));
	/* Where to post the confirmation once the form is submitted. */
	data = json_pack("{s:s?}", "channel", ctx->channel_id);
	meta = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	data = json_pack("{s:o, s:s}", "environments", envs, "private_metadata", meta);
	rc = reply_render(ctx, "slack/pipeline_form", data, &view);
	if (rc == VIVA_OK)
		rc = reply_open_view(ctx, view);
	if (rc != VIVA_OK)
		rc = reply_error(ctx, rc, NULL, "Could not open the form (%s). Try again: a form must open within "
				 "3 seconds of the command.", viva_strerror(rc));
	json_decref(view);
	json_decref(data);
	free(meta);
	return rc;
}

/* ---- pipeline create: the submission ------------------------------------------ */

/* view.state.values[block]["value"] */
static json_t *field(json_t *values, const char *block)
{
	return json_object_get(json_object_get(values, block), "value");
}

static const char *text_field(json_t *values, const char *block)
{
	const char *v = json_string_value(json_object_get(field(values, block), "value"));
	while (v && isspace((unsigned char)*v))
		v++;
	return v && *v ? v : NULL;
}

/* KEY=VALUE lines into an object; a bad line is an error on that block. */
static int parse_kv_lines(const char *text, json_t *out, char *err, size_t errlen)
{
	int line = 0;

	while (text && *text) {
		size_t n = strcspn(text, "\n");
		char *l = xstrndup(text, n), *eq, *k;
		line++;
		text += n;
		if (*text)
			text++;
		for (k = l; isspace((unsigned char)*k); k++)
			;
		if (!*k) {
			free(l);
			continue;
		}
		eq = strchr(k, '=');
		if (!eq || eq == k) {
			snprintf(err, errlen, "line %d: expected KEY=VALUE", line);
			free(l);
			return VIVA_EINVAL;
		}
		*eq = '\0';
		for (char *e = eq - 1; e > k && isspace((unsigned char)*e); e--)
			*e = '\0';
		json_object_set_new(out, k, json_string(eq + 1));
		free(l);
	}
	return VIVA_OK;
}

static bool checked(json_t *values, const char *block, const char *option)
{
	json_t *opts = json_object_get(field(values, block), "selected_options"), *o;
	size_t i;

	json_array_foreach(opts, i, o) {
		const char *v = json_string_value(json_object_get(o, "value"));
		if (v && strcmp(v, option) == 0)
			return true;
	}
	return false;
}

static json_t *users(json_t *values, const char *block)
{
	json_t *u = json_object_get(field(values, block), "selected_users");
	return json_is_array(u) ? json_deep_copy(u) : json_array();
}

/* Which input block shows the error at spec path `path`. */
static char *block_for_path(const char *path)
{
	static const struct { const char *prefix; const char *block; } map[] = {
		{ "name", "name" }, { "repository.name", "repo" }, { "repository.branch", "branch" },
		{ "repository", "repo" }, { "image", "image" }, { "owners", "owners" },
		{ "deployManagers", "deploy_managers" }, { "build.environments", "build_env" },
		{ "build.gradle.tasks", "gradle_tasks" }, { "build.gradle.options", "gradle_options" },
		{ "build.gradle.directory", "gradle_dir" }, { "build.gradle.javaVersion", "java_version" },
		{ "build.gradle", "options" }, { "build.docker.dockerfile", "dockerfile" },
		{ "build.docker.args", "docker_args" }, { "pipeline", "options" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].prefix);
		if (strncmp(path, map[i].prefix, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '['))
			return xstrdup(map[i].block);
	}
	if (strncmp(path, "resources.", 10) == 0) {
		const char *env = path + 10, *dot = strchr(env, '.');
		if (dot)
			return xasprintf("res_%.*s_%s", (int)(dot - env), env, dot + 1);
	}
	return xstrdup("name");
}

static void add_error(json_t *errors, const char *block, const char *msg)
{
	const char *old = json_string_value(json_object_get(errors, block));
	char *joined = old ? xasprintf("%s; %s", old, msg) : xstrdup(msg);

	/* Keep it readable beside the field, and whole characters only. */
	joined[mrkdwn_fit(joined, strlen(joined), 300)] = '\0';
	json_object_set_new(errors, block, json_string(joined));
	free(joined);
}

/* The spec tree (shaped like the YAML) from the form's values. */
static json_t *tree_from_form(struct viva_ctx *ctx, json_t *values, json_t *errors)
{
	const struct viva_config *cfg = ctx->env->cfg;
	const char *name = text_field(values, "name");
	json_t *t = json_object(), *build = json_object(), *gradle = json_object(), *docker = json_object();
	json_t *envs = json_object(), *args = json_object(), *res = json_object(), *owners = users(values, "owners");
	const char *v;
	char err[128];
	const char *key;
	json_t *val;

	if (name)
		json_object_set_new(t, "name", json_string(name));
	if (json_array_size(owners) == 0 && ctx->user_id)
		json_array_append_new(owners, json_string(ctx->user_id));   /* self-service: the creator owns it */
	json_object_set_new(t, "owners", owners);
	json_object_set_new(t, "deployManagers", users(values, "deploy_managers"));
	json_object_set_new(t, "repository", json_pack("{s:s?, s:s?}", "name", text_field(values, "repo"),
						      "branch", text_field(values, "branch")));
	json_object_set_new(t, "pipeline", json_pack("{s:s, s:s, s:s}",
		"type", checked(values, "options", "frontend") ? "frontend" : "service",
		"interface", "http",
		"platform", checked(values, "options", "arm64") ? "linux/arm64" : "linux/amd64"));
	v = text_field(values, "image");
	if (v || name)
		json_object_set_new(t, "image", json_string(v ? v : name));
	if (parse_kv_lines(text_field(values, "build_env"), envs, err, sizeof(err)) != VIVA_OK)
		add_error(errors, "build_env", err);
	json_object_set(build, "environments", envs);
	json_object_set_new(gradle, "enabled", json_boolean(checked(values, "options", "gradle")));
	if ((v = text_field(values, "gradle_tasks")))
		json_object_set_new(gradle, "tasks", json_string(v));
	if ((v = text_field(values, "gradle_options")))
		json_object_set_new(gradle, "options", json_string(v));
	if ((v = text_field(values, "gradle_dir")))
		json_object_set_new(gradle, "directory", json_string(v));
	v = json_string_value(json_object_get(json_object_get(field(values, "java_version"), "selected_option"), "value"));
	json_object_set_new(gradle, "javaVersion", json_string(v ? v : "1.8"));
	json_object_set(build, "gradle", gradle);
	if ((v = text_field(values, "dockerfile")))
		json_object_set_new(docker, "dockerfile", json_string(v));
	if (parse_kv_lines(text_field(values, "docker_args"), args, err, sizeof(err)) != VIVA_OK)
		add_error(errors, "docker_args", err);
	json_object_set(docker, "args", args);
	json_object_set(build, "docker", docker);
	json_object_set_new(t, "build", build);
	/* every block named res_<env>_<field> belongs to an environment */
	json_object_foreach(values, key, val) {
		char envname[64], what[16];
		const char *txt;
		json_t *e;
		if (sscanf(key, "res_%63[a-z0-9-]_%15[a-z]", envname, what) != 2)
			continue;
		if (!(e = json_object_get(res, envname))) {
			e = json_object();
			json_object_set_new(res, envname, e);
		}
		txt = text_field(values, key);
		if (!txt)
			continue;
		if (strcmp(what, "instance") == 0 && strspn(txt, "0123456789") == strlen(txt) && strlen(txt) < 7)
			json_object_set_new(e, what, json_integer(atoi(txt)));
		else
			json_object_set_new(e, what, json_string(txt));
	}
	(void)cfg;
	json_object_set_new(t, "resources", res);
	json_decref(envs);
	json_decref(gradle);
	json_decref(docker);
	json_decref(args);
	return t;
}

int act_pipeline_create(struct viva_ctx *ctx)
{
	json_t *view = json_object_get(ctx->payload, "view");
	json_t *values = json_object_get(json_object_get(view, "state"), "values");
	json_t *errors = json_object(), *tree = NULL, *meta = NULL, *data = NULL;
	struct spec *s = NULL;
	struct spec_errors errs;
	char err[256] = "", *yaml = NULL, *who = NULL, *file = NULL;
	const char *channel;
	int rc;

	spec_errors_init(&errs, NULL);
	if (!json_is_object(values)) {
		add_error(errors, "name", "the form arrived without its values; please submit again");
		goto errors;
	}
	tree = tree_from_form(ctx, values, errors);
	rc = spec_from_json(tree, &s, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		char *block = block_for_path(errs.v[i].path);
		add_error(errors, block, errs.v[i].message);
		free(block);
	}
	if (rc != VIVA_OK || json_object_size(errors) > 0)
		goto errors;
	dispatch_audit(ctx, s->name, NULL);
	rc = catalog_create(ctx->env, s, ctx->user_id ? ctx->user_id : "", &yaml, err, sizeof(err));
	if (rc == VIVA_EDENIED) {
		/* someone else's image repository: the field says whose */
		add_error(errors, "image", err);
		goto errors;
	}
	if (rc == VIVA_ECONFLICT) {
		add_error(errors, "name", err);
		goto errors;
	}
	if (rc) {
		add_error(errors, "name", err[0] ? err : "could not save the pipeline; try again");
		goto errors;
	}
	dispatch_audit(ctx, NULL, spec_to_json(s));
	meta = json_loads(json_string_value(json_object_get(view, "private_metadata")) ?
			  json_string_value(json_object_get(view, "private_metadata")) : "", 0, NULL);
	channel = json_string_value(json_object_get(meta, "channel"));
	who = mrkdwn_user(ctx->user_id);
	file = xasprintf("%s/%s.yaml", ctx->env->cfg->pipelines_dir, s->name);
	data = json_pack("{s:s, s:s, s:i, s:s, s:o, s:b}", "name", s->name, "who", who, "revision", 1,
			 "file", file, "yaml_parts", split_parts(yaml), "k8s", ctx->env->kube != NULL);
	/* The modal closes with the (empty) ack; the channel sees the result. */
	if (channel && reply_post_template(ctx, channel, "slack/pipeline_created", data) != VIVA_OK)
		log_warn("pipeline created but the confirmation was not posted", "svc=%s channel=%s", s->name, channel);
	/* its objects go to the clusters on the operation pool: the form's ack does not wait */
	pipeline_apply_later(ctx, s->name, channel);
	rc = VIVA_OK;
	goto out;
errors:
	/* The form stays open with the errors beside the fields; the audit log
	 * records the refused submission as invalid. */
	reply_view_errors(ctx, errors);
	rc = VIVA_EINVAL;
out:
	spec_errors_release(&errs);
	spec_free(s);
	json_decref(errors);
	json_decref(tree);
	json_decref(meta);
	json_decref(data);
	free(yaml);
	free(who);
	free(file);
	return rc;
}
