#ifndef VIVA_BOT_CONSOLE_H
#define VIVA_BOT_CONSOLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "bot/ctx.h"

/*
 * The local console: run slash commands without a Slack workspace, as user
 * U_LOCAL in channel C_LOCAL. Answers are Block Kit messages rendered for a
 * terminal; buttons are numbered so that `click N` can press them, which
 * dispatches the same block_actions payload Slack would send.
 */
#define CONSOLE_USER    "U_LOCAL"
#define CONSOLE_CHANNEL "C_LOCAL"

/*
 * Render a Block Kit message (or modal view) as terminal text (caller
 * frees). Each button found is appended to `buttons` (may be NULL) as
 * {"n":N, "block_id", "action_id", "value", "text", "confirm"}; numbering
 * starts at json_array_size(buttons) + 1.
 */
char *console_render(json_t *msg, json_t *buttons);

/* Convert Slack mrkdwn to terminal text: links, mentions, dates, entities. */
char *console_mrkdwn(const char *s);

struct console;
struct console *console_new(struct viva_env *env, FILE *out, bool json_out);
void console_free(struct console *c);
/* Act as another user id (default U_LOCAL); copied. */
void console_set_user(struct console *c, const char *user_id);
/*
 * Run one console line: "/viva help", "help" (the slash command may be left
 * out), "click N", "json on|off", "reload" (re-read the template overrides and the spec
 * directory, as SIGHUP does). Returns 0,
 * or a viva_err.
 */
int console_line(struct console *c, const char *line);
/* The REPL: prompt, read lines from in until EOF or "quit". */
int console_repl(struct console *c, FILE *in);

#endif
