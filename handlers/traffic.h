#ifndef VIVA_HANDLERS_TRAFFIC_H
#define VIVA_HANDLERS_TRAFFIC_H

#include <stdint.h>

#include "bot/ctx.h"

/* /viva traffic SVC [RANGE] (SPEC section 9; see traffic.c). */
int cmd_traffic(struct viva_ctx *ctx);
/* A range as Prometheus writes it ("7d", "24h", "90m", "2w", 5m..90d) in seconds; 0 if it is not one. */
int64_t traffic_parse_range(const char *s);

#endif
