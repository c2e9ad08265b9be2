#include "handlers/help.h"
#include "bot/commands.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/reply.h"

#include <string.h>

static const char *who_may(unsigned flags)
{
	if (flags & CMD_ADMIN)
		return "admins only";
	if (flags & CMD_OWNER)
		return "the service's owners and admins";
	if (flags & CMD_DEPLOY)
		return "the service's owners, deploy managers and admins";
	return NULL;
}

static json_t *command_data(struct viva_ctx *ctx, const struct cmd *c)
{
	char *usage = dispatch_usage(ctx->env, c->usage);
	char *example = c->example ? dispatch_usage(ctx->env, c->example) : NULL;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b}",
			      "name", c->name, "usage", usage, "summary", c->summary,
			      "example", example, "who", who_may(c->flags),
			      "destructive", (c->flags & CMD_CONFIRM) != 0);
	free(usage);
	free(example);
	return o;
}

int cmd_help(struct viva_ctx *ctx)
{
	json_t *data = NULL, *list;
	int rc;

	if (ctx->argc > 0) {
		/* help for one command, or for a group ("help pipeline") */
		int used = 0;
		const struct cmd *c = cmd_lookup(ctx->argc, ctx->argv, &used);
		const struct cmd *rows[32];
		size_t n;

		if (c && used == ctx->argc) {
			data = command_data(ctx, c);
			rc = reply_template(ctx, "slack/help_command", data, REPLY_EPHEMERAL);
			goto out;
		}
		n = ctx->argc == 1 ? cmd_group(ctx->argv[0], rows, 32) : 0;
		if (n == 0) {
			rc = reply_error(ctx, VIVA_EINVAL, NULL, "There is no command `%s`. Try `%s help`.",
					 ctx->argv[0], dispatch_slash(ctx->env));
			goto out;
		}
		list = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, command_data(ctx, rows[i]));
		data = json_pack("{s:s, s:s, s:o}", "title", ctx->argv[0], "slash", dispatch_slash(ctx->env), "commands", list);
		rc = reply_template(ctx, "slack/help", data, REPLY_EPHEMERAL);
		goto out;
	}
	list = json_array();
	for (size_t i = 0; i < cmd_table_len; i++)
		json_array_append_new(list, command_data(ctx, &cmd_table[i]));
	data = json_pack("{s:s, s:s, s:o}", "title", "all", "slash", dispatch_slash(ctx->env), "commands", list);
	rc = reply_template(ctx, "slack/help", data, REPLY_EPHEMERAL);
out:
	json_decref(data);
	return rc;
}
