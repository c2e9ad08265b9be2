#ifndef VIVA_HANDLERS_OPS_H
#define VIVA_HANDLERS_OPS_H

#include "bot/ctx.h"
#include "bot/ops.h"

/* /viva ops [TARGET]: durable operations, newest first, with their state. */
int cmd_ops(struct viva_ctx *ctx);

/*
 * "toy" and "toy-unsafe": operations whose three steps sleep data.sleep_ms
 * and then leave a mark in data.dir, appending the step's name to
 * data.dir/journal the first time only. They prove the model (kill -9 in the
 * middle, restart: each step once); toy-unsafe's second step is not safe to
 * run again, so a restart abandons it. `serve` starts one when
 * VIVA_DEBUG_OPS_TOY=KIND:TARGET:DIR:SLEEP_MS is set (tests only).
 */
extern const struct op_kind op_toy;
extern const struct op_kind op_toy_unsafe;

#endif
