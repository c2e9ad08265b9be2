#ifndef VIVA_BOT_COMMANDS_H
#define VIVA_BOT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "bot/ctx.h"

typedef int (*cmd_fn)(struct viva_ctx *ctx);

enum cmd_flags {
	CMD_WRITE   = 1u << 0, /* changes something: audit-logged */
	CMD_CONFIRM = 1u << 1, /* destructive: its button carries a confirm dialog */
	CMD_ADMIN   = 1u << 2, /* admins only */
	CMD_SVC     = 1u << 3, /* argv[0], when present, is a service name (DNS-1123) */
	CMD_DEPLOY  = 1u << 4, /* admins, owners and deploy managers of argv[0] */
	CMD_OWNER   = 1u << 5, /* admins and owners of argv[0] */
	CMD_IMAGE   = 1u << 6, /* a registry action: CMD_DEPLOY/CMD_OWNER are checked against the
				* pipeline that owns argv[0]'s image repository, and it is audited */
	CMD_VIEW    = 1u << 7, /* opens a form with the trigger_id, which Slack honours for 3 s:
				* runs in the urgent lane, ahead of slow jobs */
};

/*
 * Whether a row destroys or switches something live (a deletion, a drain, a
 * rollback, a blue-green switch of production traffic, moving `latest`).
 * Every row says so explicitly (0 is "not declared"). A DESTRUCTIVE button
 * carries ACT_CONFIRM and a confirm dialog wherever a template renders it; a
 * DESTRUCTIVE command carries CMD_CONFIRM and does not act when typed: it
 * answers with such a button (`pipeline delete` -> `pipeline_delete`).
 * tests/test_commands.c holds the tables and the templates to this.
 */
enum danger { DANGER_UNDECLARED = 0, SAFE, DESTRUCTIVE };

/* One slash subcommand: `name` may be several words ("pipeline list"). */
struct cmd {
	const char *name;
	cmd_fn fn;
	int min_args;          /* words after the name */
	int max_args;
	unsigned flags;
	enum danger danger;
	const char *usage;     /* after the slash command: "promote SVC TAG [TARGET]" */
	const char *summary;   /* one line for help */
	const char *example;   /* after the slash command, or NULL */
};

extern const struct cmd cmd_table[];
extern const size_t cmd_table_len;

/*
 * Find the command whose name matches the most leading words of argv.
 * *consumed is set to how many words the name took. NULL when none.
 */
const struct cmd *cmd_lookup(int argc, char *const *argv, int *consumed);
/*
 * Does the command that text (a slash command's words, or their first
 * bytes) names have to answer within seconds (CMD_VIEW)? Cheap and
 * allocation-free: the event loop asks it to pick the urgent lane.
 */
bool cmd_text_is_urgent(const char *text);
/* Commands whose name starts with the word `group` ("pipeline"), for usage. */
size_t cmd_group(const char *group, const struct cmd **out, size_t max);

/* A button or form: action_id (or view callback_id) -> handler. */
typedef int (*act_fn)(struct viva_ctx *ctx);

enum act_flags {
	ACT_WRITE   = 1u << 0, /* changes something: audit-logged, run once per click */
	ACT_CONFIRM = 1u << 1, /* the button carries a confirm dialog */
	ACT_ADMIN   = 1u << 2, /* admins only */
	ACT_VIEW    = 1u << 3, /* a view_submission callback_id, not a button */
	ACT_DEPLOY  = 1u << 4, /* value is {"svc":...}: admins, owners, deploy managers */
	ACT_OWNER   = 1u << 5, /* value is {"svc":...}: admins and owners */
	ACT_IMAGE   = 1u << 6, /* as CMD_IMAGE, for the value's service */
};

struct act {
	const char *action_id;
	act_fn fn;
	unsigned flags;
	enum danger danger;
	const char *summary;
};

extern const struct act act_table[];
extern const size_t act_table_len;

const struct act *act_lookup(const char *action_id);

/*
 * Scheduled tasks: name -> handler. The cron expression comes from
 * viva.yaml `schedules.<name>` when that key exists, else expr_default.
 * The handler runs on a worker as user "scheduler" and reports with
 * reply_post_template() to a channel of its choosing.
 */
struct sched_task {
	const char *name;
	act_fn fn;
	const char *expr_default;
	const char *summary;
};

extern const struct sched_task sched_table[];
extern const size_t sched_table_len;

const struct sched_task *sched_task_lookup(const char *name);

#endif
