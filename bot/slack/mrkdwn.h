#ifndef VIVA_BOT_SLACK_MRKDWN_H
#define VIVA_BOT_SLACK_MRKDWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slack user id such as U012AB3CD or W012AB3CD (and the console's U_LOCAL). */
bool is_slack_user_id(const char *s);

/*
 * How to show a user in mrkdwn: a mention <@U...> for a Slack user id,
 * escaped text for anything else ("scheduler", NULL -> "someone").
 * Caller frees.
 */
char *mrkdwn_user(const char *user_id);
/* n user ids as mentions separated by spaces, or `none` when n is 0 (caller frees). */
char *mrkdwn_users(char *const *ids, size_t n, const char *none);

/* Escape &, < and > for Slack mrkdwn. Returns a new string (caller frees). */
char *mrkdwn_escape(const char *s);
/* The same, but a user mention (<@U...>, <@W...>) or a channel's (<#C...>)
 * stays one: for viva's own sentences that quote user text and name people
 * and channels. */
char *mrkdwn_escape_keep_mentions(const char *s);
/*
 * How many bytes of s (at most n) fit in `budget` characters once escaped for
 * mrkdwn, cut on a UTF-8 character boundary: for splitting or clipping text
 * that must stay within a Block Kit limit after escaping.
 */
size_t mrkdwn_fit(const char *s, size_t n, size_t budget);
/*
 * A time (unix seconds) as Slack shows it in the reader's time zone, with
 * "2024-05-01 10:00 UTC" as the fallback text; "unknown" when ts <= 0.
 * Caller frees.
 */
char *mrkdwn_date(int64_t ts);

#endif
