#ifndef VIVA_BOT_NODES_NODEFILES_H
#define VIVA_BOT_NODES_NODEFILES_H

#include <jansson.h>
#include <stddef.h>

#include "bot/nodes/cluster.h"

/*
 * Node files (SPEC 10.2): the files a node writes under /etc before it
 * joins, rendered from a tree of templates per Kubernetes version.
 *
 * Where the trees come from: the built-in templates/node/<version>/ (built
 * into viva, bot/model/builtin.h), overridden file by file by the
 * operator's directory (viva.yaml node_templates, by default node/ in
 * templates_dir; cfg->node_templates): <dir>/<version>/etc/... replaces the
 * built-in file of the same path, adds one that is not built in, and a
 * <dir>/<version>/ alone adds a version. A dir that does not exist means
 * the built-in trees only. A built-in file cannot be removed, only
 * replaced.
 *
 * What is served: the regular files under <version>/etc/, as /etc/...,
 * sorted by path (byte order). Never: hidden names (.x), editor backups
 * (x~), README files (README, README.md, ...: they document a tree), and
 * kubelet.conf (kubeadm join writes it; SPEC 10.2). Anything outside etc/
 * in a version folder (a README beside etc/) is not a node file either.
 * mode is "0755" for a file with an execute bit (the built-in file's, or
 * the operator file's), else "0644".
 *
 * Templates: {{key}} (spaces inside the braces allowed) is replaced by the
 * node's variable key (struct node_settings.vars: its settings and the
 * other scalar keys of its merged entry), as is, never re-read as a
 * template. {{#key}}...{{/key}} keeps what is between when key is true (a
 * value other than "" and "false"), {{^key}}...{{/key}} when it is not;
 * sections nest (16 deep), and a section tag alone on its line takes its
 * whole line with it, so a GPU-only block leaves no blank line behind.
 * A key no variable has is an error naming the file, the line and the key
 * — never silently empty: a node must not boot with a half-written
 * config — even inside a section that is not rendered, so that whether a
 * template is right does not depend on which node asks. So is any other
 * "{{" (there is no escape: a literal "{{" can come from a variable, e.g.
 * `lbrace: "{{"` in common, written {{lbrace}}). Rendering is byte for
 * byte deterministic: the same node and trees give the same files.
 *
 * Limits (someone else writes the operator's files): each file is read
 * with read_regular_file(READ_BENEATH) relative to dir, so a link may
 * point inside dir (1.26.3/etc/x -> ../../1.25.6/etc/x shares a file) but
 * never out of it, and a FIFO or device is refused; at most 1 MiB a file,
 * 256 files and 8 MiB in and 8 MiB out per tree, folders 8 deep; names of
 * [A-Za-z0-9._@+-] only. Going past one is an error that names it: a
 * tree is never served cut short. Template files must be UTF-8 text
 * without NUL bytes (the API carries them in JSON).
 *
 * Threading: no state; every call reads the directory anew, so an edit
 * there takes effect at the next render with no reload.
 */

struct node_file {
	char *path;       /* absolute: "/etc/containerd/config.toml" */
	char mode[5];     /* "0644" or "0755" */
	char *content;    /* NUL-terminated UTF-8 */
	size_t len;       /* of content, without the NUL */
};

struct node_files {
	struct node_file *v;   /* sorted by path */
	size_t n;
};

void node_files_release(struct node_files *files);
/* [{"path": "/etc/...", "mode": "0644", "content": "..."}] (caller owns). */
json_t *node_files_json(const struct node_files *files);

/*
 * Render the files of node s from the trees of its kubernetes_version. dir
 * is the operator's directory (cfg->node_templates) or NULL. On VIVA_OK
 * *out is filled (node_files_release); else *out is empty and err says why:
 *   VIVA_ENOENT  no tree for the version, in viva or in dir: err names the
 *                version ("no node files for Kubernetes 1.21.6: ..."; the
 *                bootstrap API answers 422 with it)
 *   VIVA_EINVAL  a template error: "node/1.25.6/etc/x.toml:12: unknown
 *                placeholder {{foo}} (...)", or a file that is not UTF-8 text
 *   VIVA_ERANGE  past a limit above (named)
 *   VIVA_EDENIED / VIVA_EIO  an operator file that cannot be read: a link out
 *                of dir, a FIFO, a device ("<dir>/1.25.6/etc/x: not a
 *                regular file")
 */
int nodefiles_render(const char *dir, const struct node_settings *s, struct node_files *out,
		     char *err, size_t errlen);

/*
 * The versions with a tree, built in or in dir, sorted as versions
 * ("1.9.0" before "1.25.6"): *out is always a list (caller owns). VIVA_OK,
 * or with err VIVA_EIO (dir cannot be read) or VIVA_ERANGE (more than
 * 4,096 entries in dir: the list would miss some), *out then holding what
 * was found.
 */
int nodefiles_versions(const char *dir, json_t **out, char *err, size_t errlen);

/*
 * Check every version tree (built in and in dir) with the variables of a
 * sample node (its version is not used): each problem (an unknown
 * placeholder, an unreadable file, a limit) is appended to problems as
 * {"version": "1.25.6", "error": "..."} ({"error": "..."} when dir cannot
 * be listed). VIVA_OK when there is none, else
 * VIVA_EINVAL.
 */
int nodefiles_check(const char *dir, const struct node_settings *sample, json_t *problems);

/*
 * What `node apply` reports up front: for every cluster of set, a worker
 * with its common settings and every listed host, resolved, and its
 * version's tree rendered. Problems go to problems as {"cluster": "a",
 * "host": "previous-version-node" (absent for the common settings),
 * "version": "1.21.6", "error": "..."}; hosts that would repeat a problem
 * already listed for their cluster are left out. VIVA_OK when there is
 * none, else VIVA_EINVAL.
 */
int nodefiles_check_set(const char *dir, const struct cluster_set *set, json_t *problems);

#endif
