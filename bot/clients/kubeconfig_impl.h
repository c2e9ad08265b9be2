#ifndef VIVA_BOT_CLIENTS_KUBECONFIG_IMPL_H
#define VIVA_BOT_CLIENTS_KUBECONFIG_IMPL_H

/*
 * Internal to the kubeconfig*.c files (bot/clients/kubeconfig.c lists
 * them): a kubeconfig being read, and the helpers they share. Everything
 * else (kube.c, kube_exec.c, tests) uses kubeconfig.h only.
 */
#include "bot/clients/kubeconfig.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct yamltree;

#define PEM_MAX_BYTES        ((size_t)1 << 20)
#define TOKEN_MAX_BYTES      ((size_t)64 << 10)
#define MAX_FILES            16

/* ---- reading a kubeconfig --------------------------------------------------------- */

struct kfile {
	char *path;
	char *dir;                    /* relative paths in it resolve here */
	struct yamltree *t;
};

struct kc {
	const char *cluster;          /* viva's name for it */
	const char *shown;            /* the paths as given, for messages */
	struct kfile f[MAX_FILES];
	size_t n;
	char *err;
	size_t errlen;
};

/* kubeconfig_yaml.c */

/* "cluster NAME: msg" in kc's err; returns rc. */
int kubeconfig_fail(struct kc *kc, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "cluster NAME: kubeconfig P[:LINE]: path: msg" (the field at path in file fi); returns rc. */
int kubeconfig_fail_at(struct kc *kc, size_t fi, const char *path, int rc, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Frees the files read into kc (kc itself is the caller's). */
void kubeconfig_kc_release(struct kc *kc);
/* $HOME, or NULL when it is not set or empty. */
const char *kubeconfig_home_dir(void);
/* "~/x" -> $HOME/x; absolute stays; else against dir (caller frees). NULL: no HOME. */
char *kubeconfig_resolve_path(const char *dir, const char *p);
/* Every file of paths (one, or a ':' list whose missing files are skipped) read and parsed into kc. */
int kubeconfig_load_files(struct kc *kc, const char *paths);
/* obj[key] as a string at base.key: NULL when absent, null or "" (borrowed). */
int kubeconfig_get_str(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key,
		       const char **out);
/* obj[key] as a boolean (true/false, True/TRUE, False/FALSE): false when absent. */
int kubeconfig_get_bool(struct kc *kc, size_t fi, const json_t *obj, const char *base, const char *key, bool *out);
/* obj[key] as a mapping (borrowed): NULL when absent or null. */
int kubeconfig_get_map(struct kc *kc, size_t fi, json_t *obj, const char *base, const char *key, json_t **out);
/* The names listed under key (clusters, contexts, users) in every file, for a message. */
void kubeconfig_names_of(struct kc *kc, const char *key, char *buf, size_t n);
/* The entry named name in list key of the first file that has one (VIVA_ENOENT: none). */
int kubeconfig_find_named(struct kc *kc, const char *key, const char *inner, const char *name, size_t *fi_out,
			  char **path_out, json_t **obj_out);

/* kubeconfig_entries.c */

/* clusters[i].cluster into t (server, CA, insecure); *exec_cfg the exec extension (caller frees). */
int kubeconfig_read_cluster(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *cname,
			    struct kube_target *t, json_t **exec_cfg);
/* users[i].user into t (token, tokenFile, client certificate and key, exec, auth_source). */
int kubeconfig_read_user(struct kc *kc, size_t fi, const char *epath, json_t *obj, const char *uname,
			 struct kube_target *t);

/* kubeconfig_check.c */

/* Blanks and line ends off both ends of s, in place; returns s. */
char *kubeconfig_trim(char *s);
/* s as http(s)://host[:port][/prefix] (caller frees), or NULL and *why on refusal. */
char *kubeconfig_server_url(const char *s, const char **why);

#endif
