#ifndef VIVA_BOT_SERVE_H
#define VIVA_BOT_SERVE_H

#include "bot/ctx.h"

/*
 * `viva serve`: connect to Slack in Socket Mode, serve the HTTP endpoint,
 * run workers and the scheduler until SIGTERM/SIGINT. Returns the process
 * exit code.
 */
int serve_run(struct viva_env *env);

#endif
