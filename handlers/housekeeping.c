#include "handlers/housekeeping.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "store/envelopes.h"
#include "store/inbox.h"

#define KEEP_SECONDS (7 * 24 * 3600)

int task_housekeeping(struct viva_ctx *ctx)
{
	int removed = 0, inbox = 0;
	int64_t now = ctx->env->clock->now(ctx->env->clock);
	int rc = store_envelope_prune(ctx->env->store, now - KEEP_SECONDS, &removed);

	if (rc == VIVA_OK)
		rc = store_inbox_prune(ctx->env->store, now - KEEP_SECONDS, &inbox);
	if (rc == VIVA_OK)
		log_info("housekeeping", "envelopes_pruned=%d inbox_pruned=%d", removed, inbox);
	return rc;
}
