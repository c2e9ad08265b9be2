#include "handlers/audit.h"
#include "bot/lib/err.h"
#include "bot/reply.h"
#include "bot/lib/alloc.h"
#include "bot/lib/text.h"
#include "bot/slack/mrkdwn.h"
#include "store/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 15
#define MAX_OFFSET 600

/* Long parameters or results would push a section past 3000 characters. */
static char *clip(const char *s, size_t max)
{
	if (strlen(s) <= max)
		return xstrdup(s);
	return xasprintf("%.*s...", (int)max, s);
}

static int show_page(struct viva_ctx *ctx, const char *svc, int offset, unsigned flags)
{
	struct store_audit_entry *e = NULL;
	size_t n = 0;
	json_t *data = NULL, *rows;
	int rc;

	rc = store_audit_list(ctx->env->store, svc, offset + PAGE + 1, &e, &n);
	if (rc)
		goto out;
	rows = json_array();
	for (size_t i = (size_t)offset; i < n && i < (size_t)offset + PAGE; i++) {
		char *w = mrkdwn_user(e[i].user_id), *t = mrkdwn_date(e[i].ts);
		char *p = clip(e[i].params_json, 300), *r = clip(e[i].result, 300);
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
			"who", w, "when", t, "action", e[i].action, "target", e[i].target,
			"params", p, "result", r));
		free(w);
		free(t);
		free(p);
		free(r);
	}
	data = json_pack("{s:s?, s:o, s:b, s:b}", "service", svc, "entries", rows,
			 "empty", json_array_size(rows) == 0, "more", n > (size_t)offset + PAGE);
	if (n > (size_t)offset + PAGE) {
		char *v = xasprintf("%d %s", offset + PAGE, svc ? svc : "");
		json_object_set_new(data, "more_value", json_string(v));
		free(v);
	}
	rc = reply_template(ctx, "slack/audit_list", data, flags);
out:
	json_decref(data);
	store_audit_free(e, n);
	return rc;
}

int cmd_audit(struct viva_ctx *ctx)
{
	return show_page(ctx, ctx->argc > 0 ? ctx->argv[0] : NULL, 0, REPLY_EPHEMERAL);
}

int act_audit_more(struct viva_ctx *ctx)
{
	const char *value = json_string_value(json_object_get(ctx->action, "value"));
	char svc[64] = "";
	int offset = 0;

	/* value is "OFFSET [SVC]", written by show_page; still, it came back
	 * from the outside, so check it again. */
	if (!value || sscanf(value, "%d %63s", &offset, svc) < 1 || offset < 0 || offset > MAX_OFFSET ||
	    (svc[0] && !is_dns1123_label(svc)))
		return reply_error(ctx, VIVA_EINVAL, NULL, "That button carries a value viva did not write.");
	return show_page(ctx, svc[0] ? svc : NULL, offset, REPLY_REPLACE);
}
