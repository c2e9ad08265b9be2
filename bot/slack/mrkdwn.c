/* Slack's mrkdwn and user ids (see mrkdwn.h). */
#include "bot/slack/mrkdwn.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

bool is_slack_user_id(const char *s)
{
	size_t n;

	if (!s || (s[0] != 'U' && s[0] != 'W'))
		return false;
	/* The local console's user (bot/console.h) owns what it creates. */
	if (strcmp(s, "U_LOCAL") == 0)
		return true;
	n = strlen(s);
	if (n < 3 || n > 21)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

char *mrkdwn_user(const char *user_id)
{
	if (is_slack_user_id(user_id))
		return xasprintf("<@%s>", user_id);
	return mrkdwn_escape(user_id ? user_id : "someone");
}

char *mrkdwn_escape(const char *s)
{
	struct strbuf sb;

	sb_init(&sb);
	for (; s && *s; s++) {
		switch (*s) {
		case '&': sb_adds(&sb, "&amp;"); break;
		case '<': sb_adds(&sb, "&lt;"); break;
		case '>': sb_adds(&sb, "&gt;"); break;
		default: sb_addc(&sb, *s);
		}
	}
	return sb_detach(&sb);
}

char *mrkdwn_date(int64_t ts)
{
	char buf[40];
	time_t t = (time_t)ts;
	struct tm tm;

	if (ts <= 0)
		return xstrdup("unknown");
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	return xasprintf("<!date^%lld^{date_short_pretty} {time}|%s>", (long long)ts, buf);
}

size_t mrkdwn_fit(const char *s, size_t n, size_t budget)
{
	size_t used = 0, i = 0, last_ok = 0;

	while (i < n && s[i]) {
		size_t w = s[i] == '&' ? 5 : (s[i] == '<' || s[i] == '>') ? 4 : 1;
		if (used + w > budget)
			break;
		used += w;
		i++;
		/* only ever stop before the first byte of a character */
		if (i >= n || !s[i] || ((unsigned char)s[i] & 0xC0) != 0x80)
			last_ok = i;
	}
	return last_ok;
}

char *mrkdwn_escape_keep_mentions(const char *s)
{
	char *e = mrkdwn_escape(s), *out = xmalloc(strlen(e) + 1), *o = out;
	const char *p = e;

	while (*p) {
		/* "&lt;@U0ABC&gt;" back to "<@U0ABC>" (and a channel's "<#C0ABC>"): a mention viva wrote */
		if ((strncmp(p, "&lt;@", 5) == 0 && (p[5] == 'U' || p[5] == 'W')) ||
		    (strncmp(p, "&lt;#", 5) == 0 && (p[5] == 'C' || p[5] == 'G' || p[5] == 'D'))) {
			size_t n = strspn(p + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

			if (n >= 2 && n <= 20 && strncmp(p + 6 + n, "&gt;", 4) == 0) {
				*o++ = '<';
				*o++ = p[4];
				memcpy(o, p + 5, n + 1);
				o += n + 1;
				*o++ = '>';
				p += 6 + n + 4;
				continue;
			}
		}
		*o++ = *p++;
	}
	*o = '\0';
	free(e);
	return out;
}

char *mrkdwn_users(char *const *ids, size_t n, const char *none)
{
	struct strbuf sb;

	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		char *m = mrkdwn_user(ids[i]);

		sb_addf(&sb, "%s%s", i ? " " : "", m);
		free(m);
	}
	if (!sb.len)
		sb_adds(&sb, none ? none : "");
	return sb_detach(&sb);
}
