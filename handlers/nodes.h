#ifndef VIVA_HANDLERS_NODES_H
#define VIVA_HANDLERS_NODES_H

#include "bot/ctx.h"
#include "bot/ops.h"

/*
 * The node commands (SPEC 10.4). Which cluster a host is in, and the
 * version it should run, come from the cluster configs (env->clusters);
 * what it runs from the cluster's API.
 *   node list [CLUSTER]    nodes with kubelet and desired version, Ready, schedulable, groups
 *   node show HOST         resolved settings, the files it would get, its last reports
 *   node drift [CLUSTER]   nodes whose kubelet differs from the desired version, with
 *                          node_cordon / node_drain buttons
 *   node cordon|uncordon HOST   spec.unschedulable (admins)
 *   node drain HOST        answers with a confirmed node_drain button (admins)
 *   node apply             re-read the cluster configs and report what changed
 */
int cmd_node_list(struct viva_ctx *ctx);
int cmd_node_show(struct viva_ctx *ctx);
int cmd_node_drift(struct viva_ctx *ctx);
int cmd_node_cordon(struct viva_ctx *ctx);
int cmd_node_uncordon(struct viva_ctx *ctx);
int cmd_node_drain(struct viva_ctx *ctx);
int cmd_node_apply(struct viva_ctx *ctx);

/* Buttons: value {"host": HOST}. */
int act_node_cordon(struct viva_ctx *ctx);
int act_node_drain(struct viva_ctx *ctx);

/* A drain as a durable operation (target "node:HOST"): cordon, evict in
 * passes until nothing is left or thresholds.drain_timeout, report. */
extern const struct op_kind op_node_drain;

#endif
