#ifndef VIVA_HANDLERS_HELP_H
#define VIVA_HANDLERS_HELP_H

#include "bot/ctx.h"

/* /viva help [COMMAND]: generated from the command table. */
int cmd_help(struct viva_ctx *ctx);

#endif
