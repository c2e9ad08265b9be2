/*
 * Pipeline specs, part of validation (see spec.c for the map of the spec*.c
 * files): spec_validate(), the walk over every field that YAML and form
 * input share, with the checks of the top-level fields (name, owners,
 * deployManagers, repository, pipeline, image, the Kubernetes names derived
 * from the service name) and the defaults. build, resources and batches are
 * checked in spec_validate_run.c.
 */
#include "bot/model/spec.h"
#include "bot/model/spec_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"
#include "bot/lib/yamltree.h"
#include "bot/slack/mrkdwn.h"

#include <stdlib.h>
#include <string.h>

/* Service "SVC-canary" is a DNS-1035 label: at most 63, so SVC at most 56. */
#define SERVICE_NAME_MAX (63 - (int)sizeof("-canary") + 1)
#define IMAGE_MAX        255
#define REPO_NAME_MAX    200
#define BRANCH_MAX       255

#define DEF_BRANCH       "develop"
#define DEF_PLATFORM     "linux/amd64"
#define DEF_DIRECTORY    "."
#define DEF_JAVA_VERSION "1.8"
#define DEF_DOCKERFILE   "Dockerfile"

static const char *const platform_names[] = { "linux/amd64", "linux/arm64", NULL };

/* ---- value checks ----------------------------------------------------------- */

bool spec_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || spec_is_digit(c);
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
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || spec_is_digit(c) ||
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

/* ---- validation --------------------------------------------------------------- */

/* owners / deployManagers: Slack user ids, no repeats; *out NULL-terminated. */
static void check_users(struct vctx *v, json_t *root, const char *key, bool required,
			char ***out, size_t *nout)
{
	json_t *list = spec_opt_list(v, root, "", key, required);
	size_t n = 0;

	*out = xcalloc(json_array_size(list) + 1, sizeof(char *));
	if (list && required && json_array_size(list) == 0)
		spec_verr(v, key, "at least one Slack user id is required");
	for (size_t i = 0; list && i < json_array_size(list); i++) {
		char *p = yamltree_path_index(key, i);
		char *id = spec_get_text(v, json_array_get(list, i), p);

		if (id && !is_slack_user_id(id)) {
			spec_verr_val(v, p, id, "is not a Slack user id");
		} else if (id && spec_list_has(*out, n, id)) {
			spec_verr_val(v, p, id, "is listed twice");
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
	q = spec_show(s);
	spec_verr(v, path, "%s is not one of %s", q, sb.buf);
	free(q);
	sb_release(&sb);
	return -1;
}

static void check_repository(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *repo = spec_opt_map(v, root, "", "repository", true);

	if (!repo)
		return;
	spec_check_keys(v, repo, "repository", (const char *const[]){ "name", "branch", NULL });
	if (spec_opt_text(v, repo, "repository", "name", true, &s->repo_name) &&
	    !is_repo_name(s->repo_name))
		spec_verr_val(v, "repository.name", s->repo_name,
			      "is not a repository name (letters, digits, '.', '_', '-', parts joined by '/')");
	if (spec_opt_text(v, repo, "repository", "branch", false, &s->repo_branch) && s->repo_branch &&
	    !is_branch(s->repo_branch))
		spec_verr_val(v, "repository.branch", s->repo_branch, "is not a valid branch name");
}

static void check_pipeline(struct vctx *v, json_t *root, struct spec *s)
{
	json_t *pl = spec_opt_map(v, root, "", "pipeline", false);
	char *t = NULL;
	int i;

	if (!pl)
		return;
	spec_check_keys(v, pl, "pipeline", (const char *const[]){ "type", "interface", "platform", NULL });
	if (spec_opt_text(v, pl, "pipeline", "type", false, &t) && t &&
	    (i = check_enum(v, "pipeline.type", t, spec_type_names)) >= 0)
		s->type = (enum spec_type)i;
	free(t);
	t = NULL;
	if (spec_opt_text(v, pl, "pipeline", "interface", false, &t) && t &&
	    (i = check_enum(v, "pipeline.interface", t, spec_iface_names)) >= 0)
		s->iface = (enum spec_iface)i;
	free(t);
	if (spec_opt_text(v, pl, "pipeline", "platform", false, &s->platform) && s->platform)
		check_enum(v, "pipeline.platform", s->platform, platform_names);
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
		spec_verr(v, "name", "\"%s\" is too long: its Kubernetes Service \"%s-canary\" would be "
			  "longer than 63 characters (at most %d for a service)", s->name, s->name,
			  SERVICE_NAME_MAX);
	else if (!(s->name[0] >= 'a' && s->name[0] <= 'z'))
		spec_verr_val(v, "name", s->name, "must start with a letter: Kubernetes Service names "
			      "(SVC, SVC-canary) do");
}

static void set_default(char **field, const char *def)
{
	if (!*field)
		*field = xstrdup(def);
}

/* The walk shared by YAML and form input. *out only when there is no error. */
void spec_validate(struct vctx *v, json_t *root, struct spec **out)
{
	static const char *const top[] = { "name", "owners", "deployManagers", "repository",
					    "pipeline", "image", "build", "resources", "batches",
					    NULL };
	struct spec *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	spec_check_keys(v, root, "", top);
	if (spec_opt_text(v, root, "", "name", true, &s->name) && !is_dns1123_label(s->name))
		spec_verr_val(v, "name", s->name,
			      "is not a valid service name (lower-case letters, digits and '-', at most 63)");
	check_users(v, root, "owners", true, &s->owners, &s->nowners);
	check_users(v, root, "deployManagers", false, &s->deploy_managers, &s->ndeploy_managers);
	check_repository(v, root, s);
	check_pipeline(v, root, s);
	if (spec_opt_text(v, root, "", "image", true, &s->image) && !is_image_repo(s->image))
		spec_verr_val(v, "image", s->image,
			      "is not a registry repository (lower-case parts joined by '/', e.g. team/service-a)");
	spec_check_build(v, root, s);
	spec_check_resources(v, root, s);
	spec_check_batches(v, root, s);
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
