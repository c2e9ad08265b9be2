#ifndef VIVA_HANDLERS_NODE_UPGRADE_H
#define VIVA_HANDLERS_NODE_UPGRADE_H

#include "bot/ctx.h"
#include "bot/ops.h"

/*
 * The rolling upgrade (SPEC 10.5), admins only:
 *   node upgrade CLUSTER [GROUP]  answers with a confirmed node_upgrade button
 *                                 (value {"cluster": C, "group": G})
 *   node_upgrade                  starts the run: operation node-upgrade on target "nodes:CLUSTER"
 *   node_upgrade_stop             ({"op": ID}) the run finishes its nodes in progress and stops
 *   node_upgrade_resume           ({"op": ID}, a failed or stopped run) a new run on the same
 *                                 target continues its plan: the failed node is retried from its
 *                                 cordon (from its uncordon when only that failed), nodes that
 *                                 were in progress beside it (parallel > 1) go on from their
 *                                 phase, the nodes done stay done. Only the target's newest run
 *                                 resumes, so a second click starts nothing.
 *
 * The run's data (op_data, saved at every phase with op_save) holds the
 * plan: [{host, role, from, to, phase, ...}], phase one of pending, cordon,
 * drain, mark, wait, uncordon, done, skipped. A restart runs the step again
 * from the saved phases, so no node is upgraded twice; a node found at its
 * desired version when its turn comes is skipped.
 */
int cmd_node_upgrade(struct viva_ctx *ctx);
int act_node_upgrade(struct viva_ctx *ctx);
int act_node_upgrade_stop(struct viva_ctx *ctx);
int act_node_upgrade_resume(struct viva_ctx *ctx);

/* How long a node has to report its upgrade and be Ready with the new kubelet, once wanted. */
#define NODE_UPGRADE_TIMEOUT_S 1800
/* Polls while nothing moves: from MIN doubling up to MAX. */
#define NODE_UPGRADE_POLL_MIN_MS 100
#define NODE_UPGRADE_POLL_MAX_MS 2000

extern const struct op_kind op_node_upgrade;

#endif
