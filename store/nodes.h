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

#endif
