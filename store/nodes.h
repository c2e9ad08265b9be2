#ifndef VIVA_STORE_NODES_H
#define VIVA_STORE_NODES_H

/*
 * What nodes reported through the node API (POST /v1/nodes/{host}/report):
 * the node history. Each host keeps its newest NODE_REPORTS_KEPT reports;
 * older ones go as new ones come, so a node that reports in a loop cannot
 * fill the disk. output is what viva kept of the command's output (the
 * decisive lines), never a secret. Times are unix seconds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define NODE_REPORTS_KEPT 20

struct store_node_report {
	int64_t id;
	char *hostname;
	char *cluster;
	char *phase;             /* "join" | "upgrade" */
	bool ok;
	char *kubelet_version;   /* "" when the node did not say */
	char *output;
	int64_t received;
};

/* Record one report (r->id is ignored; *id, may be NULL, gets the new row's). */
int store_node_report_add(struct store *st, const struct store_node_report *r, int64_t *id);
/* A host's reports, newest first, at most limit. Free with store_node_reports_free(). */
int store_node_reports(struct store *st, const char *hostname, int limit, struct store_node_report **out,
		       size_t *n);
void store_node_reports_free(struct store_node_report *v, size_t n);

/*
 * Rolling upgrades (SPEC 10.5). A node's upgrade is wanted from the moment
 * a run has drained it until its successful `phase: upgrade` report is
 * accepted: meanwhile its bootstrap answers "upgrade": true. One row per
 * host (a later run replaces it).
 */
/* Want host's upgrade to version for run run_id (since: now, unix s). */
int store_node_upgrade_want(struct store *st, const char *hostname, int64_t run_id, const char *version,
			    int64_t now);
/* Whether host's upgrade is wanted: VIVA_OK and *run_id (may be NULL) and *version (may be NULL;
 * caller frees), or VIVA_ENOENT. */
int store_node_upgrade_get(struct store *st, const char *hostname, int64_t *run_id, char **version);
/* Its upgrade is no longer wanted (nothing to do when it was not). */
int store_node_upgrade_clear(struct store *st, const char *hostname);
/* The Stop button: run run_id is asked to stop once its nodes in progress are done (the first
 * asker is kept). */
int store_node_upgrade_stop(struct store *st, int64_t run_id, const char *by, int64_t now);
/* Whether run_id was asked to stop: VIVA_OK and *by (may be NULL; caller frees), or VIVA_ENOENT. */
int store_node_upgrade_stopped(struct store *st, int64_t run_id, char **by);

#endif
