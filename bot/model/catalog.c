#include "bot/model/catalog.h"
#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/text.h"
#include "store/services.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SPEC_FILES  20000
/* spec_parse() refuses more anyway; a larger file is never read. */
#define MAX_SPEC_BYTES  ((size_t)256 << 10)

void catalog_report_init(struct catalog_report *r)
{
	r->added = json_array();
	r->changed = json_array();
	r->removed = json_array();
	r->invalid = json_array();
	r->unchanged = 0;
}

void catalog_report_release(struct catalog_report *r)
{
	json_decref(r->added);
	json_decref(r->changed);
	json_decref(r->removed);
	json_decref(r->invalid);
	memset(r, 0, sizeof(*r));
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && strcmp(s + n - m, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every *.yaml / *.yml name in the directory open at dfd, sorted, complete:
 * a limit must never make the catalog forget the services it did not list
 * (that would mark them deleted), so past MAX_SPEC_FILES the caller refuses
 * the whole apply. Hidden names are skipped; nothing is opened here.
 */
static int list_spec_files(int dfd, char ***out, size_t *n)
{
	int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return VIVA_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !(has_suffix(de->d_name, ".yaml") || has_suffix(de->d_name, ".yml")))
			continue;
		if (len + 2 > cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len++] = xstrdup(de->d_name);
		v[len] = NULL;
	}
	closedir(d);
	if (v)
		qsort(v, len, sizeof(*v), cmp_str);
	else
		v = xcalloc(1, sizeof(*v));
	*out = v;
	*n = len;
	return VIVA_OK;
}

static char *stem(const char *fname)
{
	const char *dot = strrchr(fname, '.');
	return xstrndup(fname, dot ? (size_t)(dot - fname) : strlen(fname));
}

static void add_invalid(struct catalog_report *rep, const char *fname, const char *why)
{
	json_array_append_new(rep->invalid, json_pack("{s:s, s:s}", "file", fname, "errors", why));
}

/*
 * Store one parsed spec; classify it in the report. VIVA_ECONFLICT with
 * *image_owner (caller frees) when another pipeline has its image.
 */
static int store_spec(struct viva_env *env, const struct spec *s, const char *yaml, const char *source,
		      const char *author, int64_t born, bool create_only, struct catalog_report *rep,
		      char **image_owner)
{
	struct store_service cur;
	json_t *j = spec_to_json(s);
	char *js = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	struct store_service_put p = {
		.name = s->name, .type = spec_type_name(s->type), .spec_yaml = yaml, .spec_json = js,
		.source = source, .author = author, .create_only = create_only, .image = s->image,
		.now = env->clock->now(env->clock), .image_owner = image_owner, .born = born,
	};
	bool existed = store_service_get(env->store, s->name, &cur) == VIVA_OK && cur.deleted_at == 0;
	bool changed = false;
	int rev = 0, rc;

	store_service_release(&cur);
	rc = store_service_put(env->store, &p, &rev, &changed);
	if (rc == VIVA_OK && rep) {
		if (!existed)
			json_array_append_new(rep->added, json_string(s->name));
		else if (changed)
			json_array_append_new(rep->changed, json_string(s->name));
		else
			rep->unchanged++;
	}
	free(js);
	json_decref(j);
	return rc;
}

/* One spec file of an apply, read and parsed (or why not). */
struct spec_file {
	const char *file;
	char *name;           /* the file's stem */
	char *text;
	struct spec *spec;    /* NULL when invalid */
	bool keeps_image;     /* it is its image's current owner: stored first */
	int64_t mtime;        /* the file's modification time: the service's birth when first loaded */
};

/* The modification time of a file just read (0 when it cannot be told). */
static int64_t file_mtime(int dfd, const char *file)
{
	struct stat st;

	return fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (int64_t)st.st_mtime : 0;
}

/* Read and parse files[i] from the directory open at dfd; an invalid one goes in the report. */
static void load_spec_file(int dfd, const char *dir, struct spec_file *sf, struct catalog_report *rep)
{
	struct spec_errors errs;
	const char *refused = NULL;
	size_t len = 0;

	spec_errors_init(&errs, sf->file);
	sf->mtime = file_mtime(dfd, sf->file);
	/* only a regular file inside the directory, and never a huge one */
	if (read_regular_file(dfd, sf->file, READ_BENEATH, MAX_SPEC_BYTES, &sf->text, &len, &refused) != VIVA_OK) {
		char *msg = xasprintf("not read: %s%s", refused,
				      strcmp(refused, "larger than the limit") == 0 ? " of 256 KiB" : "");
		log_warn("spec file skipped", "dir=%s file=%s why=\"%s\"", dir, sf->file, refused);
		add_invalid(rep, sf->file, msg);
		free(msg);
	} else if (spec_parse(sf->text, len, sf->file, &sf->spec, &errs) != VIVA_OK) {
		char *why = spec_errors_format(&errs);
		add_invalid(rep, sf->file, why);
		free(why);
	} else if (strcmp(sf->spec->name, sf->name) != 0) {
		char *why = xasprintf("name: \"%s\" does not match the file name %s (expected %s.yaml)",
				      sf->spec->name, sf->file, sf->spec->name);
		add_invalid(rep, sf->file, why);
		free(why);
		spec_free(sf->spec);
		sf->spec = NULL;
	}
	spec_errors_release(&errs);
}

static void store_spec_file(struct viva_env *env, const char *author, struct spec_file *sf,
			    struct catalog_report *rep)
{
	char *source = xasprintf("file:%s", sf->file), *owner = NULL;
	int rc = store_spec(env, sf->spec, sf->text, source, author, sf->mtime, false, rep, &owner);

	if (rc == VIVA_ECONFLICT && owner) {
		/* an image repository belongs to one pipeline: the second one is refused */
		char *why = xasprintf("image: %s is already the image of pipeline %s (%s.yaml); a repository "
				      "belongs to one pipeline", sf->spec->image, owner, owner);
		add_invalid(rep, sf->file, why);
		free(why);
	} else if (rc != VIVA_OK) {
		add_invalid(rep, sf->file, "could not be stored (see the log)");
	}
	free(owner);
	free(source);
}

int catalog_apply_dir(struct viva_env *env, const char *author, struct catalog_report *rep,
		      char *err, size_t errlen)
{
	const char *dir = env->cfg->pipelines_dir;
	char **files = NULL;
	struct store_service *all = NULL;
	struct spec_file *sf = NULL;
	size_t nfiles = 0, nall = 0;
	json_t *seen = json_object();
	int dfd, rc;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "cannot read the spec directory %s (pipelines.dir): %s", dir,
			 errno == ENOENT ? "it does not exist" : strerror(errno));
		/* the directory of record is missing: the environment, not the request */
		rc = VIVA_EUNAVAIL;
		goto out;
	}
	rc = list_spec_files(dfd, &files, &nfiles);
	if (rc) {
		snprintf(err, errlen, "cannot list the spec directory %s (pipelines.dir)", dir);
		goto out;
	}
	if (nfiles > MAX_SPEC_FILES) {
		snprintf(err, errlen, "the spec directory %s has %zu spec files, more than viva reads (%d); "
			 "nothing was applied and no service was removed", dir, nfiles, MAX_SPEC_FILES);
		rc = VIVA_ERANGE;
		goto out;
	}
	rc = store_service_list(env->store, false, &all, &nall);
	if (rc) {
		snprintf(err, errlen, "cannot read the catalog");
		goto out;
	}
	if (nfiles == 0 && nall > 0) {
		/* An unmounted or wrongly configured directory must not empty the catalog. */
		snprintf(err, errlen, "the spec directory %s has no spec files; refusing to remove all %zu services",
			 dir, nall);
		rc = VIVA_EINVAL;
		goto out;
	}
	/* 1. read and parse every file; a file for a name, valid or not, keeps it */
	sf = xcalloc(nfiles ? nfiles : 1, sizeof(*sf));
	for (size_t i = 0; i < nfiles; i++) {
		sf[i].file = files[i];
		sf[i].name = stem(files[i]);
		json_object_set_new(seen, sf[i].name, json_true());
		load_spec_file(dfd, dir, &sf[i], rep);
	}
	/* 2. services whose file is gone (their images become free) */
	for (size_t i = 0; i < nall; i++) {
		if (json_object_get(seen, all[i].name))
			continue;
		if (store_service_mark_deleted(env->store, all[i].name, env->clock->now(env->clock)) == VIVA_OK)
			json_array_append_new(rep->removed, json_string(all[i].name));
	}
	/* 3. store: a pipeline that holds its image keeps it, then the others in
	 * name order (the first to name a free image gets it) */
	for (size_t i = 0; i < nfiles; i++) {
		char *owner = NULL;
		if (sf[i].spec && store_service_image_owner(env->store, sf[i].spec->image, &owner) == VIVA_OK)
			sf[i].keeps_image = strcmp(owner, sf[i].name) == 0;
		free(owner);
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nfiles; i++)
			if (sf[i].spec && sf[i].keeps_image == (pass == 0))
				store_spec_file(env, author, &sf[i], rep);
	log_info("pipeline specs applied", "dir=%s added=%zu changed=%zu removed=%zu invalid=%zu unchanged=%d",
		 dir, json_array_size(rep->added), json_array_size(rep->changed),
		 json_array_size(rep->removed), json_array_size(rep->invalid), rep->unchanged);
	rc = VIVA_OK;
out:
	for (size_t i = 0; sf && i < nfiles; i++) {
		free(sf[i].name);
		free(sf[i].text);
		spec_free(sf[i].spec);
	}
	free(sf);
	if (dfd >= 0)
		close(dfd);
	json_decref(seen);
	store_services_free(all, nall);
	argv_free(files);
	return rc;
}

int catalog_image_owner(struct viva_env *env, const char *name, char **image, char **owner)
{
	struct spec *s = NULL;
	int rc;

	*image = NULL;
	*owner = NULL;
	rc = catalog_get(env, name, &s);
	if (rc)
		return rc;
	*image = xstrdup(s->image);
	if (store_service_image_owner(env->store, s->image, owner) != VIVA_OK)
		*owner = xstrdup(name);
	spec_free(s);
	return VIVA_OK;
}

int catalog_get(struct viva_env *env, const char *name, struct spec **out)
{
	struct store_service sv;
	struct spec_errors errs;
	int rc;

	*out = NULL;
	rc = store_service_get(env->store, name, &sv);
	if (rc)
		return rc;
	if (sv.deleted_at) {
		store_service_release(&sv);
		return VIVA_ENOENT;
	}
	spec_errors_init(&errs, NULL);
	rc = spec_parse(sv.spec_yaml, strlen(sv.spec_yaml), sv.name, out, &errs);
	if (rc)
		log_error("stored spec no longer parses", "svc=%s", name);
	spec_errors_release(&errs);
	store_service_release(&sv);
	return rc ? VIVA_EIO : VIVA_OK;
}

/* Write path atomically: a reader sees the old file or the new one. */
static int write_atomic(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	size_t n = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = VIVA_OK;

	if (fd < 0) {
		rc = VIVA_EIO;
		goto out;
	}
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0)
		rc = VIVA_EIO;
	close(fd);
	if (rc == VIVA_OK && rename(tmp, path) != 0)
		rc = VIVA_EIO;
	if (rc)
		unlink(tmp);
out:
	free(tmp);
	return rc;
}

int catalog_create(struct viva_env *env, const struct spec *s, const char *author, char **yaml_out,
		   char *err, size_t errlen)
{
	char *yaml = spec_to_yaml(s), *owner = NULL;
	char *path = xasprintf("%s/%s.yaml", env->cfg->pipelines_dir, s->name);
	struct stat stbuf;
	int rc;

	if (yaml_out)
		*yaml_out = NULL;
	if (stat(path, &stbuf) == 0) {
		/* A file of record exists but was not applied (or is invalid): do not overwrite it. */
		snprintf(err, errlen, "%s.yaml already exists in the spec directory", s->name);
		rc = VIVA_ECONFLICT;
		goto out;
	}
	rc = store_spec(env, s, yaml, "form", author, 0, true, NULL, &owner);
	if (rc == VIVA_ECONFLICT && owner) {
		snprintf(err, errlen, "the image %s is already the image of pipeline %s; a repository belongs to "
			 "one pipeline", s->image, owner);
		rc = VIVA_EDENIED;
		goto out;
	}
	if (rc == VIVA_ECONFLICT) {
		snprintf(err, errlen, "a service named %s already exists", s->name);
		goto out;
	}
	if (rc) {
		snprintf(err, errlen, "could not store the spec");
		goto out;
	}
	mkdir(env->cfg->pipelines_dir, 0755);
	if (write_atomic(path, yaml) != VIVA_OK) {
		/* Stored but not written: keep the two in step by undoing. */
		store_service_mark_deleted(env->store, s->name, env->clock->now(env->clock));
		snprintf(err, errlen, "could not write %s", path);
		rc = VIVA_EIO;
		goto out;
	}
	if (yaml_out) {
		*yaml_out = yaml;
		yaml = NULL;
	}
out:
	free(owner);
	free(path);
	free(yaml);
	return rc;
}
