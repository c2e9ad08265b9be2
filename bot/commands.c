#include "bot/commands.h"

#include <stdio.h>
#include <string.h>

#include "handlers/audit.h"
#include "handlers/deploy.h"
#include "handlers/help.h"
#include "handlers/lag.h"
#include "handlers/nodes.h"
#include "handlers/node_upgrade.h"
#include "handlers/housekeeping.h"
#include "handlers/ops.h"
#include "handlers/pipeline.h"
#include "handlers/promote.h"
#include "handlers/tags.h"
#include "handlers/traffic.h"
#include "handlers/unused.h"

/*
 * The command table: every `/viva` subcommand, in the order `help` shows it.
 *
 * To add a command:
 *   1. Write the handler in handlers/<capability>.c (one file per
 *      capability) and declare it in handlers/<capability>.h. It receives
 *      the words after the command name in ctx->argv; lookup, arity,
 *      service-name validation, authorization and audit logging have already
 *      been done by bot/dispatch.c, so the handler does not repeat them.
 *   2. Add a row here: name, handler, min/max words, flags, SAFE or
 *      DESTRUCTIVE, usage, summary, example. Set CMD_WRITE if it changes
 *      anything, CMD_SVC if the first word is a service name, and the
 *      CMD_ADMIN / CMD_DEPLOY / CMD_OWNER permission it needs. A row that
 *      deletes, drains, rolls back or switches live traffic is DESTRUCTIVE
 *      and carries CMD_CONFIRM: its buttons ask before they act.
 *   3. Put its messages in templates/slack/<name>.json.
 *   4. Add tests/test_<capability>.c and list it in the Makefile.
 * tests/test_commands.c checks the table itself (unique names, usage and
 * summary on every row, a declared danger, CONFIRM exactly on DESTRUCTIVE
 * rows, a confirm dialog on every such button in the templates).
 */
const struct cmd cmd_table[] = {
	{ "help", cmd_help, 0, 2, 0, SAFE,
	  "help [COMMAND]", "list commands, or explain one", "help audit" },
	{ "pipeline create", cmd_pipeline_create, 0, 0, CMD_VIEW, SAFE,
	  "pipeline create", "open the form that writes a new pipeline spec", NULL },
	{ "pipeline apply", cmd_pipeline_apply, 0, 1, CMD_WRITE, SAFE,
	  "pipeline apply [--all]", "re-read the spec directory (GitOps), apply what changed to the clusters "
	  "and report it; --all re-renders every service (after a template change)", "pipeline apply --all" },
	{ "pipeline list", cmd_pipeline_list, 0, 0, 0, SAFE,
	  "pipeline list", "the catalog of services, grouped by type", NULL },
	{ "pipeline delete", cmd_pipeline_delete, 1, 1, CMD_SVC | CMD_WRITE | CMD_OWNER | CMD_CONFIRM, DESTRUCTIVE,
	  "pipeline delete SVC", "delete a pipeline once no batch is connected (asks for a confirmation)",
	  "pipeline delete service-a" },
	{ "pipeline show", cmd_pipeline_show, 1, 1, CMD_SVC, SAFE,
	  "pipeline show SVC", "one pipeline spec with its owners and revisions", "pipeline show service-a" },
	{ "tags", cmd_tags, 1, 1, CMD_SVC, SAFE,
	  "tags SVC", "newest image tags from the registry, each with a Promote button", "tags service-a" },
	{ "promote", cmd_promote, 2, 3, CMD_SVC | CMD_WRITE | CMD_DEPLOY | CMD_IMAGE, SAFE,
	  "promote SVC TAG [TARGET]", "retag TAG as TARGET (default latest) in the registry",
	  "promote service-a 2182-develop-b05419e" },
	{ "deploy canary", cmd_deploy_canary, 2, 3, CMD_SVC | CMD_WRITE | CMD_DEPLOY, SAFE,
	  "deploy canary SVC TAG [ENV]", "roll the canary to TAG and wait until it is available (live traffic "
	  "is not touched)", "deploy canary service-a 2182-develop-b05419e" },
	/* switches live traffic: typed, it is the confirmation; its buttons ask */
	{ "deploy bluegreen", cmd_deploy_bluegreen, 1, 3, CMD_SVC | CMD_WRITE | CMD_DEPLOY | CMD_CONFIRM, DESTRUCTIVE,
	  "deploy bluegreen SVC [TAG] [ENV]", "deploy TAG (default: the canary's) to the idle colour, switch "
	  "traffic once it is ready, keep the old colour for rollback", "deploy bluegreen service-a" },
	{ "rollback", cmd_rollback, 1, 2, CMD_SVC | CMD_WRITE | CMD_DEPLOY | CMD_CONFIRM, DESTRUCTIVE,
	  "rollback SVC [ENV]", "switch traffic back to the previous colour (scaled back up first if needed)",
	  "rollback service-a" },
	{ "status", cmd_status, 1, 2, CMD_SVC, SAFE,
	  "status SVC [ENV]", "canary, blue and green: tag, replicas ready, which colour is live and since when",
	  "status service-a prod" },
	{ "lag", cmd_lag, 0, 0, 0, SAFE,
	  "lag", "run the lag audit now: services whose canary is ahead of live for more than "
	  "thresholds.lag_days, posted to the deploy channel", NULL },
	{ "unused", cmd_unused, 0, 0, 0, SAFE,
	  "unused", "run the unused-service audit now (Prometheus: HTTP, Kafka, suspended CronJobs), posted to "
	  "the audit channel with keep / confirm buttons", NULL },
	{ "traffic", cmd_traffic, 1, 2, CMD_SVC, SAFE,
	  "traffic SVC [RANGE]", "requests by API and by source, mean duration by source (top 10 each) over RANGE "
	  "(default 7d), with a chart", "traffic service-a 24h" },
	{ "savings", cmd_savings, 0, 0, 0, SAFE,
	  "savings", "services removed and the CPU and memory reclaimed, in total and per month", NULL },
	{ "node list", cmd_node_list, 0, 1, 0, SAFE,
	  "node list [CLUSTER]", "cluster nodes: kubelet and desired version, Ready, schedulable, group",
	  "node list a" },
	{ "node show", cmd_node_show, 1, 1, 0, SAFE,
	  "node show HOST", "one node's resolved settings, the files its bootstrap writes, its last reports",
	  "node show kube-a-dc1-worker01" },
	{ "node drift", cmd_node_drift, 0, 1, 0, SAFE,
	  "node drift [CLUSTER]", "nodes whose kubelet is not the version their cluster config wants, with "
	  "cordon and drain buttons", NULL },
	{ "node cordon", cmd_node_cordon, 1, 1, CMD_WRITE | CMD_ADMIN, SAFE,
	  "node cordon HOST", "mark a node unschedulable (admins)", "node cordon kube-a-dc1-worker01" },
	{ "node uncordon", cmd_node_uncordon, 1, 1, CMD_WRITE | CMD_ADMIN, SAFE,
	  "node uncordon HOST", "make a node schedulable again (admins)", "node uncordon kube-a-dc1-worker01" },
	/* evicts every pod: typed, it answers with a confirmed button */
	{ "node drain", cmd_node_drain, 1, 1, CMD_WRITE | CMD_ADMIN | CMD_CONFIRM, DESTRUCTIVE,
	  "node drain HOST", "cordon, then evict every pod but DaemonSet and mirror pods, PodDisruptionBudgets "
	  "respected (admins; asks for a confirmation)", "node drain kube-a-dc1-worker01" },
	/* drains node after node: typed, it answers with a confirmed button */
	{ "node upgrade", cmd_node_upgrade, 1, 2, CMD_WRITE | CMD_ADMIN | CMD_CONFIRM, DESTRUCTIVE,
	  "node upgrade CLUSTER [GROUP]", "rolling upgrade of the nodes behind their desired version: cordon, "
	  "drain, upgrade, wait until Ready, uncordon, one at a time (admins; asks for a confirmation)",
	  "node upgrade a gpu" },
	{ "node apply", cmd_node_apply, 0, 0, CMD_WRITE, SAFE,
	  "node apply", "re-read the cluster configs (GitOps) and report what changed and what would fail a "
	  "node's bootstrap", NULL },
	{ "ops", cmd_ops, 0, 1, 0, SAFE,
	  "ops [TARGET]", "durable operations (deploys, promotions, drains): state, step, who, outcome",
	  "ops service-a" },
	{ "audit", cmd_audit, 0, 1, CMD_SVC, SAFE,
	  "audit [SVC]", "the audit log: who did what, when, with what result", "audit service-a" },
};
const size_t cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);

/* Buttons and forms, by action_id (SPEC section 4). */
const struct act act_table[] = {
	{ "audit_more", act_audit_more, 0, SAFE, "show older audit log entries" },
	{ "pipeline_list_more", act_pipeline_list_more, 0, SAFE, "next page of the pipeline list" },
	{ "pipeline_create", act_pipeline_create, ACT_VIEW | ACT_WRITE, SAFE, "create a pipeline from the form" },
	{ "pipeline_delete", act_pipeline_delete, ACT_WRITE | ACT_CONFIRM | ACT_OWNER, DESTRUCTIVE,
	  "delete a pipeline's objects and mark its spec deleted" },
	{ "pipeline_delete_confirm", act_pipeline_delete_confirm, ACT_VIEW | ACT_WRITE | ACT_CONFIRM, DESTRUCTIVE,
	  "delete a production pipeline, its name typed in the form" },
	/* moves `latest`, which batch CronJobs and deploys pull: a live switch */
	{ "tag_promote", act_tag_promote, ACT_WRITE | ACT_CONFIRM | ACT_DEPLOY | ACT_IMAGE, DESTRUCTIVE,
	  "promote a tag to latest" },
	{ "tags_more", act_tags_more, 0, SAFE, "older image tags" },
	{ "unused_keep", act_unused_keep, ACT_WRITE | ACT_DEPLOY, SAFE,
	  "still in use: leave the service out of the unused audit for thresholds.snooze_days" },
	{ "unused_confirm", act_unused_confirm, ACT_WRITE | ACT_CONFIRM | ACT_OWNER, DESTRUCTIVE,
	  "confirm unused: the guarded deletion, into the savings tally" },
	{ "bluegreen_trigger", act_bluegreen_trigger, ACT_WRITE | ACT_CONFIRM | ACT_DEPLOY, DESTRUCTIVE,
	  "blue-green to the canary's tag" },
	{ "rollback", act_rollback, ACT_WRITE | ACT_CONFIRM | ACT_DEPLOY, DESTRUCTIVE,
	  "switch live traffic back to the previous colour" },
	{ "node_cordon", act_node_cordon, ACT_WRITE | ACT_ADMIN, SAFE, "cordon a node (from node drift)" },
	{ "node_drain", act_node_drain, ACT_WRITE | ACT_ADMIN | ACT_CONFIRM, DESTRUCTIVE,
	  "drain a node: cordon, then evict its pods" },
	{ "node_upgrade", act_node_upgrade, ACT_WRITE | ACT_ADMIN | ACT_CONFIRM, DESTRUCTIVE,
	  "start a rolling upgrade of a cluster's nodes" },
	/* drains the nodes left, the failed one first */
	{ "node_upgrade_resume", act_node_upgrade_resume, ACT_WRITE | ACT_ADMIN | ACT_CONFIRM, DESTRUCTIVE,
	  "resume a failed or stopped rolling upgrade: the failed node again, then the rest" },
	{ "node_upgrade_stop", act_node_upgrade_stop, ACT_WRITE | ACT_ADMIN, SAFE,
	  "stop a rolling upgrade once its nodes in progress are done" },
};
const size_t act_table_len = sizeof(act_table) / sizeof(act_table[0]);

/* Durable operation kinds (bot/ops.h), by name as the store records them. */
const struct op_kind *const op_kinds[] = {
	&op_promote,
	&op_deploy_canary,
	&op_deploy_bluegreen,
	&op_rollback,
	&op_pipeline_apply,
	&op_pipeline_delete,
	&op_node_drain,
	&op_node_upgrade,
	&op_toy,
	&op_toy_unsafe,
	NULL,
};

/* Scheduled tasks (bot/sched_thread.c runs them). */
const struct sched_task sched_table[] = {
	{ "unused", task_unused, "0 10 * * MON",
	  "the unused-service audit (schedules.unused), posted to channels.audit" },
	{ "lag", task_lag, "0 10 * * *",
	  "the lag audit (schedules.lag): canaries ahead of live for more than thresholds.lag_days" },
	{ "housekeeping", task_housekeeping, "17 * * * *",
	  "forget processed envelope ids and finished inbox entries older than 7 days" },
};
const size_t sched_table_len = sizeof(sched_table) / sizeof(sched_table[0]);

const struct sched_task *sched_task_lookup(const char *name)
{
	for (size_t i = 0; name && i < sched_table_len; i++)
		if (strcmp(sched_table[i].name, name) == 0)
			return &sched_table[i];
	return NULL;
}

/* How many leading words of argv spell `name` (0 if they do not). */
static int name_matches(const char *name, int argc, char *const *argv)
{
	int used = 0;
	const char *p = name;

	while (*p) {
		size_t n = strcspn(p, " ");
		if (used >= argc || strlen(argv[used]) != n || strncmp(argv[used], p, n) != 0)
			return 0;
		used++;
		p += n;
		while (*p == ' ')
			p++;
	}
	return used;
}

bool cmd_text_is_urgent(const char *text)
{
	char buf[64], *words[4];
	int n = 0;
	size_t i = 0;
	const struct cmd *c;

	if (!text)
		return false;
	snprintf(buf, sizeof(buf), "%s", text);
	while (buf[i] && n < 4) {
		while (buf[i] == ' ' || buf[i] == '\t')
			buf[i++] = '\0';
		if (!buf[i])
			break;
		words[n++] = &buf[i];
		while (buf[i] && buf[i] != ' ' && buf[i] != '\t')
			i++;
	}
	c = cmd_lookup(n, words, NULL);
	return c && (c->flags & CMD_VIEW);
}

const struct cmd *cmd_lookup(int argc, char *const *argv, int *consumed)
{
	const struct cmd *best = NULL;
	int best_n = 0;

	for (size_t i = 0; i < cmd_table_len; i++) {
		int n = name_matches(cmd_table[i].name, argc, argv);
		if (n > best_n) {
			best = &cmd_table[i];
			best_n = n;
		}
	}
	if (consumed)
		*consumed = best_n;
	return best;
}

size_t cmd_group(const char *group, const struct cmd **out, size_t max)
{
	size_t n = 0, glen = strlen(group);

	for (size_t i = 0; i < cmd_table_len && n < max; i++) {
		const char *name = cmd_table[i].name;
		if (strncmp(name, group, glen) == 0 && (name[glen] == ' ' || name[glen] == '\0'))
			out[n++] = &cmd_table[i];
	}
	return n;
}

const struct act *act_lookup(const char *action_id)
{
	if (!action_id)
		return NULL;
	for (size_t i = 0; i < act_table_len; i++)
		if (strcmp(act_table[i].action_id, action_id) == 0)
			return &act_table[i];
	return NULL;
}
