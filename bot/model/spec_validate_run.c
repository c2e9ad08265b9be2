/*
 * Pipeline specs, part of validation (see spec.c for the map of the spec*.c
 * files): how the service is built and run, the build, resources and
 * batches fields (spec_check_build, spec_check_resources,
 * spec_check_batches), which spec_validate() calls in its walk.
 */
#include "bot/model/spec.h"
#include "bot/model/spec_impl.h"
#include "bot/lib/cron.h"
#include "bot/lib/err.h"
#include "bot/lib/quantity.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"

#include <stdlib.h>
#include <string.h>

/* Kubernetes CronJob names are at most 52 characters (the Job adds 11). */
#define CRONJOB_NAME_MAX 52
#define PATH_MAX_LEN     255
#define JAVA_VERSION_MAX 16
#define ENV_NAME_MAX     255

/* ---- value checks ----------------------------------------------------------- */

static bool has_ctrl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
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

	if (n == 0 || n > JAVA_VERSION_MAX || !spec_is_digit(s[0]) || !spec_is_digit(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!spec_is_digit(s[i]) && !(s[i] == '.' && spec_is_digit(s[i + 1])))
			return false;
	return true;
}

static bool is_env_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ENV_NAME_MAX || spec_is_digit(s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || spec_is_digit(c) || c == '_'))
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
		spec_verr_val(v, path, val, cpu ? "is not a CPU quantity" : "is not a memory quantity");
		break;
	case QUANTITY_FRACTION:
		spec_verr_val(v, path, val, cpu ? "is not a whole number of millicores (1m is the smallest step)"
						: "is not a whole number of bytes");
		break;
	case QUANTITY_NOT_POSITIVE:
		spec_verr_val(v, path, val, "must be greater than 0");
		break;
	case QUANTITY_TOO_LARGE:
		spec_verr_val(v, path, val, "is too large");
		break;
	}
}

/* ---- validation --------------------------------------------------------------- */

/* build.environments and build.docker.args: NAME -> text. */
static void check_kv_map(struct vctx *v, json_t *obj, const char *base, const char *key,
			 const char *what, struct spec_kv **out, size_t *nout)
{
	json_t *map = spec_opt_map(v, obj, base, key, false);
	char *mpath = yamltree_path_key(base, key);
	const char *k;
	json_t *val;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	if (map && json_object_size(map) > SPEC_MAX_ENTRIES) {
		spec_verr(v, mpath, "has %zu entries; at most %d are allowed", json_object_size(map),
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
		char *text = json_is_null(val) ? xstrdup("") : spec_get_text(v, val, p);

		if (!is_env_name(k)) {
			char *q = spec_show(k);

			spec_verr(v, p, "%s is not %s (letters, digits and '_', not starting with a digit)",
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

void spec_check_build(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *build = spec_opt_map(v, root, "", "build", false);
	json_t *gradle, *docker, *en;

	if (!build)
		return;
	spec_check_keys(v, build, "build", (const char *const[]){ "environments", "gradle", "docker", NULL });
	check_kv_map(v, build, "build", "environments", "an environment variable name",
		     &s->build_env, &s->nbuild_env);

	gradle = spec_opt_map(v, build, "build", "gradle", false);
	if (gradle) {
		spec_check_keys(v, gradle, "build.gradle",
				(const char *const[]){ "enabled", "tasks", "options", "directory",
						       "javaVersion", NULL });
		en = spec_member(gradle, "enabled");
		/* Only true/false: "yes", "on" and friends surprise people. */
		if (json_is_boolean(en))
			s->gradle_enabled = json_is_true(en);
		else if (json_is_string(en) && !strcmp(json_string_value(en), "true"))
			s->gradle_enabled = true;
		else if (json_is_string(en) && !strcmp(json_string_value(en), "false"))
			s->gradle_enabled = false;
		else if (json_is_string(en))
			spec_verr_val(v, "build.gradle.enabled", json_string_value(en),
				      "is not a boolean (use true or false)");
		else if (en)
			spec_verr(v, "build.gradle.enabled", "expected true or false, got %s", spec_kind(en));
		spec_opt_text(v, gradle, "build.gradle", "tasks", false, &s->gradle_tasks);
		spec_opt_text(v, gradle, "build.gradle", "options", false, &s->gradle_options);
		if (spec_opt_text(v, gradle, "build.gradle", "directory", false, &s->gradle_directory) &&
		    s->gradle_directory && !is_rel_path(s->gradle_directory))
			spec_verr_val(v, "build.gradle.directory", s->gradle_directory,
				      "is not a relative path inside the repository");
		if (spec_opt_text(v, gradle, "build.gradle", "javaVersion", false, &s->java_version) &&
		    s->java_version && !is_java_version(s->java_version))
			spec_verr_val(v, "build.gradle.javaVersion", s->java_version,
				      "is not a Java version such as 1.8, 17 or 21");
	}

	docker = spec_opt_map(v, build, "build", "docker", false);
	if (docker) {
		spec_check_keys(v, docker, "build.docker", (const char *const[]){ "dockerfile", "args", NULL });
		if (spec_opt_text(v, docker, "build.docker", "dockerfile", false, &s->dockerfile) &&
		    s->dockerfile && !is_rel_path(s->dockerfile))
			spec_verr_val(v, "build.docker.dockerfile", s->dockerfile,
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
			spec_verr_val(v, path, s, "is not a whole number");
			return false;
		}
		for (size_t k = i; k < n; k++) {
			if (!spec_is_digit(s[k])) {
				spec_verr_val(v, path, s, "is not a whole number");
				return false;
			}
			x = x * 10 + (s[k] - '0');
		}
		if (i)
			x = -x;
	} else if (json_is_real(j)) {
		char *t = spec_real_text(json_real_value(j));

		spec_verr_val(v, path, t, "is not a whole number");
		free(t);
		return false;
	} else {
		spec_verr(v, path, "expected a whole number, got %s", spec_kind(j));
		return false;
	}
	if (x < lo || x > hi) {
		spec_verr(v, path, "%" JSON_INTEGER_FORMAT " is out of range %d-%d", x, lo, hi);
		return false;
	}
	*out = (int)x;
	return true;
}

void spec_check_resources(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *res = spec_opt_map(v, root, "", "resources", false);
	const char *env;
	json_t *val;

	if (res && json_object_size(res) > SPEC_MAX_ENTRIES) {
		spec_verr(v, "resources", "has %zu entries; at most %d are allowed",
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
			spec_verr_val(v, p, env,
				      "is not a valid environment name (lower-case letters, digits and '-', at most 63)");
		if (!json_is_object(val)) {
			if (json_is_null(val))
				spec_verr(v, p, "instance, cpu and memory are required");
			else
				spec_verr(v, p, "expected a mapping, got %s", spec_kind(val));
			free(p);
			continue;
		}
		spec_check_keys(v, val, p, (const char *const[]){ "instance", "cpu", "memory", NULL });
		r->env = xstrdup(env);
		s->nresources++;
		pi = yamltree_path_key(p, "instance");
		if (!spec_member(val, "instance"))
			spec_verr(v, pi, "required");
		else
			check_int(v, spec_member(val, "instance"), pi, 0, 1000, &r->instance);
		free(pi);
		if (spec_opt_text(v, val, p, "cpu", true, &r->cpu)) {
			char *pc = yamltree_path_key(p, "cpu");

			qf = quantity_cpu_check(r->cpu, &q);
			verr_quantity(v, pc, r->cpu, qf, true);
			r->cpu_milli = q;
			free(pc);
		}
		if (spec_opt_text(v, val, p, "memory", true, &r->memory)) {
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
			spec_verr_val(v, path, s, "is not a cron schedule (5 fields: minute hour "
						  "day-of-month month day-of-week, e.g. \"0 3 * * *\")");
			return;
		}
		if (!blank && !in)
			fields++;
		in = !blank;
	}
	if (fields != 5) {
		char *q = spec_show(s);

		spec_verr(v, path, "%s is not a cron schedule: it has %d fields, not 5 (minute hour "
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
		char *q = spec_show(s);

		spec_verr(v, path, "%s is not a valid cron schedule: %s", q, why);
		free(q);
	}
}

void spec_check_batches(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *list = spec_opt_list(v, root, "", "batches", false);
	size_t n = json_array_size(list);

	if (!list)
		return;
	s->batches = xcalloc(n + 1, sizeof(*s->batches));
	for (size_t i = 0; i < n; i++) {
		json_t *b = json_array_get(list, i), *cmd;
		struct spec_batch *sb;
		char *p = yamltree_path_index("batches", i), *pn, *pc;

		if (!json_is_object(b)) {
			spec_verr(v, p, "expected a mapping with name, schedule and command, got %s", spec_kind(b));
			free(p);
			continue;
		}
		sb = &s->batches[s->nbatches++];
		spec_check_keys(v, b, p, (const char *const[]){ "name", "schedule", "command", NULL });
		pn = yamltree_path_key(p, "name");
		if (spec_opt_text(v, b, p, "name", true, &sb->name)) {
			bool dup = false;

			for (size_t k = 0; k + 1 < s->nbatches && !dup; k++)
				dup = s->batches[k].name && !strcmp(s->batches[k].name, sb->name);
			if (!is_dns1123_label(sb->name))
				spec_verr_val(v, pn, sb->name,
					      "is not a valid batch name (lower-case letters, digits and '-', at most 63)");
			else if (dup)
				spec_verr_val(v, pn, sb->name, "is used by another batch");
			else if (s->name && is_dns1123_label(s->name) &&
				 strlen(s->name) + 1 + strlen(sb->name) > CRONJOB_NAME_MAX)
				spec_verr(v, p, "CronJob name \"%s-%s\" is longer than %d characters",
					  s->name, sb->name, CRONJOB_NAME_MAX);
		}
		free(pn);
		if (spec_opt_text(v, b, p, "schedule", true, &sb->schedule)) {
			char *ps = yamltree_path_key(p, "schedule");

			check_schedule(v, ps, sb->schedule);
			free(ps);
		}
		pc = yamltree_path_key(p, "command");
		cmd = spec_opt_list(v, b, p, "command", true);
		if (cmd && json_array_size(cmd) == 0)
			spec_verr(v, pc, "at least one word is required, e.g. [java, -jar, app.jar]");
		sb->command = xcalloc(json_array_size(cmd) + 1, sizeof(char *));
		for (size_t k = 0; cmd && k < json_array_size(cmd); k++) {
			char *pk = yamltree_path_index(pc, k);
			char *w = spec_get_text(v, json_array_get(cmd, k), pk);

			if (w)
				sb->command[sb->ncommand++] = w;
			free(pk);
		}
		free(pc);
		free(p);
	}
}
