#ifndef VIVA_BOT_CTX_H
#define VIVA_BOT_CTX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What a handler sees of the world. Handlers never include curl,
 * libwebsockets or sqlite headers: they reach the outside only through the
 * narrow interfaces below, so tests pass fakes through the same seams.
 */
struct viva_config;
struct store;
struct tmpl_set;
struct reply;
struct slack_api;
struct registry;
struct kube_clients;
struct prom;
struct cmd;
struct act;
struct ops;
struct cluster_current;

/* Wall clock, injectable (scheduler and audit tests). */
struct viva_clock {
	int64_t (*now)(struct viva_clock *self);  /* unix seconds */
};
/* The process-wide real clock. */
struct viva_clock *clock_real(void);

/* Long-lived services shared by every request. */
struct viva_env {
	const struct viva_config *cfg;
	struct store *store;
	struct tmpl_set *tmpl;
	struct slack_api *slack;        /* NULL in the local console */
	struct registry *registry;      /* NULL when REGISTRY_URL is not set */
	struct kube_clients *kube;      /* a client per viva.yaml cluster (kube_for_env); NULL when none */
	struct prom *prom;              /* Prometheus (bot/clients/prom.h); NULL when no PROMETHEUS_URL */
	struct cluster_current *clusters; /* the cluster configs in use (bot/nodes/cluster.h); NULL: none loaded */
	struct ops *ops;                /* the operation pool of `serve`; NULL: operations run inline */
	struct timers *timers;          /* jobs for later (deferred answers); NULL outside `serve` */
	struct viva_clock *clock;
};

/* One request: a slash command, a button click, a form submission. */
struct viva_ctx {
	struct viva_env *env;
	struct reply *reply;            /* where answers go */

	const char *user_id;            /* who asked (Slack user id) */
	const char *channel_id;         /* where (may be NULL) */
	const char *trigger_id;         /* for views.open (may be NULL) */

	/* slash command: words after the command name, e.g. {"SVC", "TAG"} */
	const struct cmd *cmd;
	int argc;
	char **argv;

	/* interaction: the action table row, the payload (borrowed) and the
	 * actions[0] element of a block_actions payload */
	const struct act *act;
	json_t *payload;
	json_t *action;
	json_t *value;                  /* the action's value parsed as JSON, when it is */

	/* Set by the handler for the audit log: the target (service, node)
	 * and a JSON object of parameters (owned by ctx, freed by dispatch). */
	char *audit_target;
	json_t *audit_params;
	/* Why the action failed, in a sentence (set by reply_error(); owned by
	 * ctx, freed by dispatch): the audit log keeps it with the outcome. */
	char *outcome_detail;
	/* The audit row of the change being run (set by dispatch), so that a
	 * durable operation it starts can finish the row after a restart. */
	int64_t audit_id;
	/* A one-time button's claim (set by dispatch, borrowed): a handler that
	 * starts an operation passes it on (op_request.click_key) and sets
	 * op_id, and the operation, not dispatch, then settles the claim. */
	const char *action_key;
	int64_t op_id;
	/* The handler started operation op_id on the pool and returned: the
	 * operation writes the audit row's outcome when it ends. */
	bool op_async;
};

#endif
