#ifndef VIVA_BOT_MODEL_SPEC_H
#define VIVA_BOT_MODEL_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* struct spec_resource holds quantity_cpu_parse() / quantity_memory_parse() results. */
#include "bot/lib/quantity.h"

/*
 * Pipeline specs (SPEC section 5): the YAML of one service, its model, and
 * validation that reports every error at once, each with its path and, when
 * the spec came from a file, file:line:
 *   resources.alpha.cpu: "abc" is not a CPU quantity (service-a.yaml:14)
 *
 * The same validation serves YAML files (spec_parse) and the Slack form,
 * which builds the equivalent JSON tree (spec_from_json).
 */

enum spec_type { SPEC_SERVICE = 0, SPEC_BATCH, SPEC_FRONTEND };
enum spec_iface { SPEC_HTTP = 0, SPEC_KAFKA, SPEC_GRPC, SPEC_NONE };

struct spec_kv {
	char *key;
	char *value;
};

struct spec_resource {
	char *env;              /* resources key, e.g. "alpha" */
	int instance;           /* replicas, 0..1000 */
	char *cpu;              /* as written, e.g. "0.05", "50m", "2" */
	int64_t cpu_milli;      /* parsed: millicores */
	char *memory;           /* as written, e.g. "1024MB", "1Gi" */
	int64_t memory_bytes;   /* parsed */
};

struct spec_batch {
	char *name;             /* DNS-1123; the CronJob is SVC-NAME (<= 52 chars) */
	char *schedule;         /* 5-field cron */
	char **command;         /* NULL-terminated */
	size_t ncommand;
};

struct spec {
	char *name;                           /* DNS-1123 label */
	char **owners; size_t nowners;        /* Slack user ids, NULL-terminated */
	char **deploy_managers; size_t ndeploy_managers;
	char *repo_name;                      /* repository.name */
	char *repo_branch;                    /* repository.branch */
	enum spec_type type;                  /* pipeline.type */
	enum spec_iface iface;                /* pipeline.interface */
	char *platform;                       /* pipeline.platform: linux/amd64 | linux/arm64 */
	char *image;                          /* registry repository, e.g. team/service-a */
	struct spec_kv *build_env; size_t nbuild_env;       /* build.environments */
	bool gradle_enabled;                  /* build.gradle.enabled */
	char *gradle_tasks, *gradle_options, *gradle_directory;
	char *java_version;                   /* build.gradle.javaVersion, default "1.8" */
	char *dockerfile;                     /* build.docker.dockerfile, default "Dockerfile" */
	struct spec_kv *docker_args; size_t ndocker_args;   /* build.docker.args */
	struct spec_resource *resources; size_t nresources; /* in file order */
	struct spec_batch *batches; size_t nbatches;
};

struct spec_error {
	char *path;      /* "resources.alpha.cpu", "owners[1]", "" for the document */
	char *message;   /* "\"abc\" is not a CPU quantity" */
	int line;        /* 1-based, 0 when unknown (form input) */
};

struct spec_errors {
	struct spec_error *v;
	size_t n;
	char *file;      /* for messages; may be NULL */
};

void spec_errors_init(struct spec_errors *e, const char *file);
void spec_errors_release(struct spec_errors *e);
/* "path: message (file:line)" lines joined with '\n' (caller frees). */
char *spec_errors_format(const struct spec_errors *e);

/*
 * Parse and validate YAML text. filename is used in messages only (e.g.
 * "service-a.yaml"). On success returns VIVA_OK and *out (spec_free). On
 * failure returns VIVA_EINVAL (validation) or VIVA_EPARSE (not YAML, not a
 * mapping, too large/deep: 256 KiB, depth 32) with every problem in errs,
 * and *out is NULL. Unknown keys are errors. Never crashes on any input.
 */
int spec_parse(const char *yaml, size_t len, const char *filename, struct spec **out,
	       struct spec_errors *errs);

/* The same validation on a JSON tree shaped like the YAML (the form's path). */
int spec_from_json(json_t *tree, struct spec **out, struct spec_errors *errs);

void spec_free(struct spec *s);

/* The spec as a JSON tree shaped like the YAML (caller owns). */
json_t *spec_to_json(const struct spec *s);
/* Canonical YAML, parseable by spec_parse to an equal spec (caller frees). */
char *spec_to_yaml(const struct spec *s);

bool spec_is_owner(const struct spec *s, const char *user_id);
bool spec_is_deploy_manager(const struct spec *s, const char *user_id);

const char *spec_type_name(enum spec_type t);
const char *spec_iface_name(enum spec_iface i);

#endif
