#ifndef VIVA_HANDLERS_NODE_API_H
#define VIVA_HANDLERS_NODE_API_H

#include "bot/ctx.h"
#include "bot/httpd.h"

/*
 * The node HTTP API (SPEC 10.3), run on a worker for each request
 * bot/httpd.c hands over (method, size and, for /v1/nodes/, the bearer
 * token already checked on the loop). Answers req exactly once:
 *   GET  /v1/bootstrap.sh              the script nodes run at boot (no token)
 *   GET  /v1/nodes/{hostname}/bootstrap  settings, files, join parameters
 *   POST /v1/nodes/{hostname}/report     a join or upgrade outcome
 * Errors are JSON {"error": "..."}: 404 an unknown path, host or cluster;
 * 405 the wrong method; 400 a malformed body; 422 a node whose files
 * cannot be made; 503 a cluster viva cannot reach.
 */
void node_api_serve(struct viva_env *env, struct http_request *req);

/*
 * A parsed report of the node ns, accepted (what POST .../report does once
 * the request is read): kept in the store, the node's wanted upgrade
 * cleared when it is a successful `phase: upgrade` report (SPEC 10.5),
 * posted to channels.nodes (*posted, may be NULL, says whether it was),
 * audited. VIVA_OK, or the store's error when it could not be kept
 * (nothing else is done then).
 */
struct node_settings;
struct node_report;
int node_api_accept_report(struct viva_env *env, const struct node_settings *ns, const struct node_report *r,
			   bool *posted);

#endif
