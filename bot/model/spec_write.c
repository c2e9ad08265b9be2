/*
 * Pipeline specs, the output side (see spec.c for the map of the spec*.c
 * files): spec_to_json() and spec_to_yaml(), with the YAML quoting that
 * lets any text read back byte for byte.
 */
#include "bot/model/spec.h"
#include "bot/lib/strbuf.h"

#include <stddef.h>

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
