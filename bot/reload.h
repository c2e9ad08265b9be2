#ifndef VIVA_BOT_RELOAD_H
#define VIVA_BOT_RELOAD_H

#include <stddef.h>

#include "bot/ctx.h"

/*
 * What SIGHUP and the console's `reload` re-read: the template overrides
 * (VIVA_TEMPLATES), then the pipeline spec directory of record (later the
 * cluster configs), and with clusters configured every service is applied
 * again (a template change re-renders them all). Each part keeps its last good state when its new one is
 * broken, and says why in the report. Reads files and parses: it runs on a
 * worker (serve pushes it as a job), never on the event loop.
 */
struct reload_report {
	int templates_rc;       /* VIVA_OK or the error */
	size_t templates;       /* templates in use afterwards */
	size_t overrides;       /* of those, from the directory */
	int specs_rc;           /* VIVA_OK, VIVA_ENOENT (no spec directory: nothing to do), or the error */
	int added, changed, removed, invalid;
	/* the clusters, when viva has some: every service rendered again */
	int k8s_rc;             /* VIVA_OK, or VIVA_EREMOTE when an environment failed */
	int k8s_updated;        /* service-environments created or updated */
	int k8s_failed;
	/* the cluster configs (cluster_configs): VIVA_OK, VIVA_ENOENT (no directory), or the error */
	int clusters_rc;
	size_t clusters;        /* in use afterwards */
	int clusters_invalid;   /* files refused (their last good version, if any, kept) */
	char error[640];        /* the first failure, for a person; "" when none */
};

/* Re-read everything above; returns VIVA_OK when every part reloaded. */
int reload_all(struct viva_env *env, const char *author, struct reload_report *rep);

struct cluster_report;
/*
 * Re-read the cluster configs (cluster_configs) against the set in use and
 * publish the result in env->clusters (at start-up, on SIGHUP, on `node
 * apply`): an invalid file keeps its last good version, and a directory
 * that cannot be read keeps the whole set (bot/nodes/cluster.h). rep (may
 * be NULL) says what changed; err says why on failure: VIVA_ENOENT when
 * there is no such directory, VIVA_EUNAVAIL when env has no cluster set.
 * Reloads are serialised.
 */
int reload_clusters(struct viva_env *env, struct cluster_report *rep, char *err, size_t errlen);

#endif
