#ifndef VIVA_BOT_NODES_CLUSTER_IMPL_H
#define VIVA_BOT_NODES_CLUSTER_IMPL_H

/*
 * Internal to the cluster config's own files (bot/nodes/cluster*.c;
 * cluster.c has the map of which file does what). Everything else uses
 * cluster.h only.
 */
#include "bot/nodes/cluster.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct yamltree;

/* A cluster name leaves room in a 63-byte host label for kube-{cluster}-{dc}-{rest}. */
#define CLUSTER_NAME_MAX   40
/* Errors listed per file; past this, more only bury the first ones. */
#define CLUSTER_MAX_ERRORS 100
/* Hosts listed in one file, globs per group, groups per file. */
#define CLUSTER_MAX_HOSTS  10000
#define CLUSTER_MAX_GLOBS  64
#define CLUSTER_MAX_GROUPS 256
#define CLUSTER_MAX_PARALLEL 100

/* A host listed under master or worker. */
struct cluster_host {
	char *name;
	enum node_role role;
	const json_t *entry;    /* its validated entry in the config's tree (an object) */
	int line;
};

struct cluster_group {
	char *name;
	char **globs;           /* NULL-terminated */
	size_t nglobs;
};

/*
 * One valid file, parsed. Immutable once parsed; shared between sets (a
 * reload keeps it while its file is invalid), hence counted.
 */
struct cluster_config {
	atomic_int refs;
	char *name;             /* the file's stem */
	char *file;             /* "a.yaml" */
	json_t *tree;           /* normalized: {"common": {}, "master": {}, "worker": {}, "groups":
	                         * {name: [globs]}, "upgrade": {"parallel": "N"}}, strings and booleans */
	const json_t *common;   /* tree.common */
	struct cluster_host *hosts;   /* masters then workers, file order */
	size_t nhosts;
	json_t *host_index;     /* name -> index in hosts */
	struct cluster_group *groups; /* sorted by name */
	size_t ngroups;
	int parallel;
	char *kube_cluster;     /* kubernetesCluster, else name */
	int kube_cluster_line;  /* 0: the default */
	char *api_server;       /* common.apiServer, else the first master's address:6443 */
};

/* One file's errors: "path: message (file:line)". */
struct cluster_err {
	char *path;
	char *msg;
	int line;
};

struct cluster_errs {
	struct cluster_err *v;
	size_t n;
	bool truncated;
};

/* cluster_parse.c */

/*
 * Validate one file's text (len bytes): on VIVA_OK *tree is the normalized
 * tree (caller owns) and *t the YAML it came from (yamltree_free; for
 * lines); else every problem is in errs (VIVA_EINVAL, or VIVA_EPARSE when
 * it is not a YAML mapping at all) and both are NULL.
 */
int cluster_validate(const char *text, size_t len, struct cluster_errs *errs, struct yamltree **t, json_t **tree);

/* cluster_config.c */

/*
 * Parse and validate one file's text (len bytes). name is the cluster (the
 * file's stem, already checked), file the name for messages. On VIVA_OK
 * *out holds one reference; else errs has every problem (VIVA_EINVAL or
 * VIVA_EPARSE) and *out is NULL.
 */
int cluster_parse(const char *name, const char *file, const char *text, size_t len,
		  struct cluster_config **out, struct cluster_errs *errs);
/* Add an error (fmt is printf's); past CLUSTER_MAX_ERRORS only counted as truncated. */
void cluster_err_add(struct cluster_errs *e, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Errors in line order, one per line, "path: message (file:line)" (caller frees). */
char *cluster_errs_format(struct cluster_errs *e, const char *file);
void cluster_errs_release(struct cluster_errs *e);
/* Whether name can be a cluster's (file) name; why not into *why (static text). */
bool cluster_name_ok(const char *name, const char **why);
struct cluster_config *cluster_config_ref(struct cluster_config *c);
void cluster_config_unref(struct cluster_config *c);

/* cluster_check.c: value checks; NULL when fine, else what is wrong */

/* A version: [v]MAJOR.MINOR.PATCH[-pre]; *norm is it without the v (caller frees). */
const char *cluster_check_version(const char *v, char **norm);
const char *cluster_check_cuda(const char *v);
const char *cluster_check_ip(const char *v);
const char *cluster_check_endpoint(const char *v);
const char *cluster_check_host(const char *v);
const char *cluster_check_glob(const char *v);
/* Whether a and b are one edit (insert, delete, substitute, swap) or a case apart. */
bool cluster_near_miss(const char *a, const char *b);
/* A value quoted for a message: "abc", escaped, cut (caller frees). */
char *cluster_show(const char *s);

#endif
