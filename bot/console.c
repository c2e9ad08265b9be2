#include "bot/console.h"
#include "bot/model/config.h"
#include "bot/dispatch.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/reload.h"
#include "bot/reply.h"
#include "bot/model/tmpl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/text.h"

#include <stdlib.h>
#include <string.h>

struct console {
	struct viva_env *env;
	FILE *out;
	bool json_out;
	json_t *last;        /* the last message shown (with "ts") */
	json_t *buttons;     /* its buttons, numbered from 1 */
	unsigned long seq;   /* message and trigger counter */
	struct reply reply;
	bool confirm_all;    /* exec mode: never prompt */
	FILE *in;            /* for confirm prompts in the REPL */
	char user[32];       /* who the console acts as */
	json_t *view;        /* the open form, if any */
	json_t *form;        /* values typed with `set BLOCK VALUE` */
};

/* ---- rendering ----------------------------------------------------------- */

static void add_entity(struct strbuf *sb, const char **pp)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	};
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t n = strlen(ents[i].ent);
		if (strncmp(*pp, ents[i].ent, n) == 0) {
			sb_addc(sb, ents[i].c);
			*pp += n;
			return;
		}
	}
	sb_addc(sb, *(*pp)++);
}

/* One <...> control sequence, from after '<' to before '>'. */
static void add_control(struct strbuf *sb, const char *s, size_t n)
{
	const char *bar = memchr(s, '|', n);
	char *body = xstrndup(s, n);
	char *label = bar ? xstrndup(bar + 1, n - (size_t)(bar - s) - 1) : NULL;
	char *target = bar ? xstrndup(s, (size_t)(bar - s)) : xstrdup(body);

	if (target[0] == '@') {
		sb_addf(sb, "@%s", label ? label : target + 1);
	} else if (target[0] == '#') {
		sb_addf(sb, "#%s", label && *label ? label : target + 1);
	} else if (strncmp(target, "!date^", 6) == 0) {
		sb_adds(sb, label ? label : target);
	} else if (strncmp(target, "!subteam^", 9) == 0) {
		sb_addf(sb, "@%s", label ? label : target + 9);
	} else if (target[0] == '!') {
		sb_addf(sb, "@%s", target + 1);
	} else if (label) {
		sb_addf(sb, "%s (%s)", label, target);
	} else {
		sb_adds(sb, target);
	}
	free(body);
	free(label);
	free(target);
}

char *console_mrkdwn(const char *s)
{
	struct strbuf sb;

	sb_init(&sb);
	while (s && *s) {
		if (*s == '<') {
			const char *end = strchr(s + 1, '>');
			if (end) {
				struct strbuf inner;
				const char *p = s + 1;
				sb_init(&inner);
				while (p < end)
					add_entity(&inner, &p);
				add_control(&sb, inner.buf, inner.len);
				sb_release(&inner);
				s = end + 1;
				continue;
			}
		}
		if (*s == '&') {
			add_entity(&sb, &s);
			continue;
		}
		sb_addc(&sb, *s++);
	}
	return sb_detach(&sb);
}

static const char *text_of(json_t *textobj)
{
	const char *t = json_string_value(json_object_get(textobj, "text"));
	return t ? t : "";
}

static void add_text(struct strbuf *sb, json_t *textobj, const char *indent)
{
	const char *type = json_string_value(json_object_get(textobj, "type"));
	char *t = type && strcmp(type, "plain_text") == 0 ? xstrdup(text_of(textobj))
							     : console_mrkdwn(text_of(textobj));
	const char *line = t;

	while (*line) {
		size_t n = strcspn(line, "\n");
		sb_addf(sb, "%s%.*s\n", indent, (int)n, line);
		line += n;
		if (*line)
			line++;
	}
	free(t);
}

static void add_button(struct strbuf *sb, json_t *el, const char *block_id, json_t *buttons, int *n)
{
	json_t *confirm = json_object_get(el, "confirm");
	const char *style = json_string_value(json_object_get(el, "style"));

	(*n)++;
	sb_addf(sb, "[%d] %s%s%s  ", *n, text_of(json_object_get(el, "text")),
		style && strcmp(style, "danger") == 0 ? " (!)" : "",
		confirm ? " (asks to confirm)" : "");
	if (buttons)
		json_array_append_new(buttons, json_pack("{s:i, s:s?, s:s?, s:s?, s:s, s:O?}",
			"n", *n, "block_id", block_id,
			"action_id", json_string_value(json_object_get(el, "action_id")),
			"value", json_string_value(json_object_get(el, "value")),
			"text", text_of(json_object_get(el, "text")),
			"confirm", confirm));
}

static void add_element(struct strbuf *sb, json_t *el, const char *block_id, json_t *buttons, int *n)
{
	const char *type = json_string_value(json_object_get(el, "type"));

	if (!type)
		return;
	if (strcmp(type, "button") == 0) {
		add_button(sb, el, block_id, buttons, n);
	} else if (strstr(type, "select") || strcmp(type, "overflow") == 0) {
		sb_addf(sb, "<%s>  ", text_of(json_object_get(el, "placeholder")));
	} else if (strcmp(type, "image") == 0) {
		sb_addf(sb, "[image: %s]  ", json_string_value(json_object_get(el, "alt_text")) ?
			json_string_value(json_object_get(el, "alt_text")) : "");
	}
}

char *console_render(json_t *msg, json_t *buttons)
{
	struct strbuf sb;
	json_t *blocks = json_object_get(msg, "blocks"), *b;
	size_t i;
	int n = buttons ? (int)json_array_size(buttons) : 0;
	const char *title = text_of(json_object_get(msg, "title"));

	sb_init(&sb);
	if (*title)
		sb_addf(&sb, "+-- %s --+\n", title);
	if (!json_is_array(blocks) || json_array_size(blocks) == 0) {
		char *t = console_mrkdwn(json_string_value(json_object_get(msg, "text")));
		sb_addf(&sb, "%s\n", t);
		free(t);
		return sb_detach(&sb);
	}
	json_array_foreach(blocks, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const char *block_id = json_string_value(json_object_get(b, "block_id"));
		json_t *x;
		size_t k;

		if (!type)
			continue;
		if (strcmp(type, "header") == 0) {
			sb_addf(&sb, "== %s ==\n", text_of(json_object_get(b, "text")));
		} else if (strcmp(type, "section") == 0) {
			json_t *acc = json_object_get(b, "accessory");
			if (json_object_get(b, "text"))
				add_text(&sb, json_object_get(b, "text"), "");
			json_array_foreach(json_object_get(b, "fields"), k, x)
				add_text(&sb, x, "  ");
			if (acc) {
				sb_adds(&sb, "  ");
				add_element(&sb, acc, block_id, buttons, &n);
				sb_addc(&sb, '\n');
			}
		} else if (strcmp(type, "context") == 0) {
			json_array_foreach(json_object_get(b, "elements"), k, x)
				if (json_object_get(x, "text"))
					add_text(&sb, x, "  . ");
		} else if (strcmp(type, "divider") == 0) {
			sb_adds(&sb, "----\n");
		} else if (strcmp(type, "actions") == 0) {
			json_array_foreach(json_object_get(b, "elements"), k, x)
				add_element(&sb, x, block_id, buttons, &n);
			sb_addc(&sb, '\n');
		} else if (strcmp(type, "input") == 0) {
			sb_addf(&sb, "%s%s: ____\n", text_of(json_object_get(b, "label")),
				json_is_true(json_object_get(b, "optional")) ? " (optional)" : "");
		} else if (strcmp(type, "image") == 0) {
			sb_addf(&sb, "[image: %s]\n", json_string_value(json_object_get(b, "alt_text")) ?
				json_string_value(json_object_get(b, "alt_text")) : "");
		} else if (strcmp(type, "rich_text") != 0) {
			sb_addf(&sb, "[%s block]\n", type);
		}
	}
	return sb_detach(&sb);
}

/* ---- the reply sink -------------------------------------------------------- */

static void show(struct console *c, json_t *msg, const char *banner)
{
	json_t *copy = json_deep_copy(msg);
	char ts[32];

	snprintf(ts, sizeof(ts), "1700000000.%06lu", ++c->seq);
	json_object_set_new(copy, "ts", json_string(ts));
	json_decref(c->last);
	c->last = copy;
	json_array_clear(c->buttons);
	if (banner)
		fprintf(c->out, "%s\n", banner);
	if (c->json_out) {
		char *s = json_dumps(msg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fprintf(c->out, "%s\n", s);
		free(s);
		/* still number the buttons so `click N` works in JSON mode */
		free(console_render(msg, c->buttons));
	} else {
		char *s = console_render(msg, c->buttons);
		fputs(s, c->out);
		free(s);
	}
	fflush(c->out);
}

static int sink_send(struct reply *r, json_t *msg, unsigned flags)
{
	struct console *c = r->self;

	show(c, msg, flags & REPLY_REPLACE ? "(the message above is now:)" : NULL);
	return VIVA_OK;
}

static int sink_post(struct reply *r, const char *channel, json_t *msg)
{
	struct console *c = r->self;
	char banner[128];

	snprintf(banner, sizeof(banner), "(posted to #%s:)", channel ? channel : "?");
	show(c, msg, banner);
	return VIVA_OK;
}

static int sink_open_view(struct reply *r, json_t *view)
{
	struct console *c = r->self;
	json_t *b;
	size_t i;

	show(c, view, "(a form opens:)");
	json_decref(c->view);
	json_decref(c->form);
	c->view = json_deep_copy(view);
	c->form = json_object();
	fprintf(c->out, "Fill it with `set FIELD VALUE` (lists: comma-separated), then `submit`. Fields:");
	json_array_foreach(json_object_get(view, "blocks"), i, b)
		if (json_object_get(b, "block_id") && json_object_get(b, "element"))
			fprintf(c->out, " %s", json_string_value(json_object_get(b, "block_id")));
	fprintf(c->out, "\n");
	fflush(c->out);
	return VIVA_OK;
}

static int sink_view_response(struct reply *r, json_t *response)
{
	struct console *c = r->self;
	const char *k;
	json_t *v;

	fprintf(c->out, "The form has errors; fix them with `set` and `submit` again:\n");
	json_object_foreach(json_object_get(response, "errors"), k, v)
		fprintf(c->out, "  %s: %s\n", k, json_string_value(v) ? json_string_value(v) : "");
	fflush(c->out);
	return VIVA_OK;
}

static const struct reply_ops console_ops = {
	.send = sink_send,
	.post = sink_post,
	.open_view = sink_open_view,
	.view_response = sink_view_response,
};

struct console *console_new(struct viva_env *env, FILE *out, bool json_out)
{
	struct console *c = xcalloc(1, sizeof(*c));

	c->env = env;
	c->out = out;
	c->json_out = json_out;
	c->buttons = json_array();
	c->reply.ops = &console_ops;
	c->reply.self = c;
	c->confirm_all = true;
	snprintf(c->user, sizeof(c->user), "%s", CONSOLE_USER);
	return c;
}

void console_set_user(struct console *c, const char *user_id)
{
	snprintf(c->user, sizeof(c->user), "%s", user_id);
}

void console_free(struct console *c)
{
	if (!c)
		return;
	json_decref(c->last);
	json_decref(c->buttons);
	json_decref(c->view);
	json_decref(c->form);
	free(c);
}

static void ctx_init(struct console *c, struct viva_ctx *ctx, char *trigger)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->env = c->env;
	ctx->reply = &c->reply;
	ctx->user_id = c->user;
	ctx->channel_id = CONSOLE_CHANNEL;
	ctx->trigger_id = trigger;
}

/* The block_actions payload Slack would send for a click on button b. */
static json_t *click_payload(struct console *c, json_t *b, const char *trigger)
{
	json_t *action = json_pack("{s:s, s:s?, s:s?, s:{s:s, s:s}, s:s, s:s}",
				   "type", "button",
				   "action_id", json_string_value(json_object_get(b, "action_id")),
				   "block_id", json_string_value(json_object_get(b, "block_id")),
				   "text", "type", "plain_text", "text",
				   json_string_value(json_object_get(b, "text")),
				   "action_ts", "1700000000.000000",
				   "value", json_string_value(json_object_get(b, "value")) ?
					    json_string_value(json_object_get(b, "value")) : "");
	const char *ts = json_string_value(json_object_get(c->last, "ts"));

	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:{s:s, s:s}, "
			 "s:{s:s, s:s, s:s, s:b}, s:{s:s, s:s}, s:O, s:{s:{}}, s:s, s:[o]}",
			 "type", "block_actions",
			 "user", "id", c->user, "username", "local", "name", "local", "team_id", "T_LOCAL",
			 "api_app_id", "A_LOCAL",
			 "trigger_id", trigger,
			 "team", "id", "T_LOCAL", "domain", "local",
			 "container", "type", "message", "message_ts", ts ? ts : "", "channel_id",
			 CONSOLE_CHANNEL, "is_ephemeral", 0,
			 "channel", "id", CONSOLE_CHANNEL, "name", "console",
			 "message", c->last,
			 "state", "values",
			 "response_url", "",
			 "actions", action);
}

static bool confirmed(struct console *c, json_t *confirm)
{
	char answer[16];

	if (!confirm || c->confirm_all || !c->in)
		return true;
	fprintf(c->out, "%s: %s [y/N] ", text_of(json_object_get(confirm, "title")),
		text_of(json_object_get(confirm, "text")));
	fflush(c->out);
	if (!fgets(answer, sizeof(answer), c->in))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

static int click(struct console *c, const char *arg)
{
	char *end = NULL;
	long n = strtol(arg, &end, 10);
	json_t *b, *payload;
	struct viva_ctx ctx;
	char trigger[64];
	int rc;

	if (!end || end == arg || *end || n < 1 || (size_t)n > json_array_size(c->buttons)) {
		fprintf(c->out, "No button %s: the last message has %zu button(s).\n", arg,
			json_array_size(c->buttons));
		return VIVA_EINVAL;
	}
	b = json_incref(json_array_get(c->buttons, (size_t)n - 1));
	if (!confirmed(c, json_object_get(b, "confirm"))) {
		fprintf(c->out, "Not confirmed; nothing done.\n");
		json_decref(b);
		return VIVA_OK;
	}
	snprintf(trigger, sizeof(trigger), "local.trigger.%lu", ++c->seq);
	payload = click_payload(c, b, trigger);
	ctx_init(c, &ctx, trigger);
	rc = dispatch_interaction(&ctx, payload);
	json_decref(payload);
	json_decref(b);
	return rc;
}

/* The state Slack would report for one input element, from typed text. */
static json_t *element_state(json_t *el, const char *typed)
{
	const char *type = json_string_value(json_object_get(el, "type"));
	json_t *out, *opt, *list;
	char **words = NULL;
	int n = 0;
	size_t i;

	if (!type)
		return NULL;
	out = json_pack("{s:s}", "type", type);
	if (!typed) {
		/* Untouched fields submit their initial values, as in Slack. */
		static const char *const initial[][2] = {
			{ "initial_value", "value" }, { "initial_options", "selected_options" },
			{ "initial_option", "selected_option" }, { "initial_users", "selected_users" },
			{ "initial_user", "selected_user" },
		};
		for (i = 0; i < sizeof(initial) / sizeof(initial[0]); i++)
			if (json_object_get(el, initial[i][0]))
				json_object_set(out, initial[i][1], json_object_get(el, initial[i][0]));
		if (strcmp(type, "plain_text_input") == 0 && !json_object_get(out, "value"))
			json_object_set_new(out, "value", json_null());
		return out;
	}
	if (strcmp(type, "plain_text_input") == 0) {
		json_object_set_new(out, "value", *typed ? json_string(typed) : json_null());
		return out;
	}
	if (typed) {
		char *spaced = xstrdup(typed);
		for (char *p = spaced; *p; p++)
			if (*p == ',')
				*p = ' ';
		argv_split(spaced, 64, &n, &words);
		free(spaced);
	}
	if (strcmp(type, "checkboxes") == 0 || strcmp(type, "static_select") == 0) {
		list = json_array();
		json_array_foreach(json_object_get(el, "options"), i, opt)
			for (int w = 0; w < n; w++)
				if (strcmp(json_string_value(json_object_get(opt, "value")) ?
					   json_string_value(json_object_get(opt, "value")) : "", words[w]) == 0)
					json_array_append(list, opt);
		if (strcmp(type, "checkboxes") == 0)
			json_object_set(out, "selected_options", list);
		else
			json_object_set(out, "selected_option",
					json_array_size(list) ? json_array_get(list, 0) : json_null());
		json_decref(list);
	} else if (strcmp(type, "multi_users_select") == 0) {
		list = json_array();
		for (int w = 0; w < n; w++)
			json_array_append_new(list, json_string(words[w]));
		json_object_set_new(out, "selected_users", list);
	} else if (strcmp(type, "users_select") == 0) {
		json_object_set_new(out, "selected_user", n ? json_string(words[0]) : json_null());
	}
	argv_free(words);
	return out;
}

/* The view_submission payload Slack would send for the open form. */
static int submit(struct console *c)
{
	json_t *values = json_object(), *b, *payload;
	struct viva_ctx ctx;
	char trigger[64];
	size_t i;
	int rc;

	if (!c->view) {
		fprintf(c->out, "No form is open.\n");
		json_decref(values);
		return VIVA_EINVAL;
	}
	json_array_foreach(json_object_get(c->view, "blocks"), i, b) {
		const char *bid = json_string_value(json_object_get(b, "block_id"));
		json_t *el = json_object_get(b, "element");
		const char *aid = json_string_value(json_object_get(el, "action_id"));
		json_t *st;

		if (!bid || !aid)
			continue;
		st = element_state(el, json_string_value(json_object_get(c->form, bid)));
		if (st)
			json_object_set_new(values, bid, json_pack("{s:o}", aid, st));
	}
	payload = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s, s:s?, s:s?, s:{s:o}}}",
			    "type", "view_submission", "user", "id", c->user,
			    "view", "id", "V_LOCAL", "type", "modal", "hash", "local",
			    "callback_id", json_string_value(json_object_get(c->view, "callback_id")),
			    "private_metadata", json_string_value(json_object_get(c->view, "private_metadata")),
			    "state", "values", values);
	snprintf(trigger, sizeof(trigger), "local.trigger.%lu", ++c->seq);
	ctx_init(c, &ctx, trigger);
	rc = dispatch_interaction(&ctx, payload);
	json_decref(payload);
	return rc;
}

static int set_field(struct console *c, const char *arg)
{
	size_t n = strcspn(arg, " ");
	char *field = xstrndup(arg, n);
	const char *value = arg + n;

	while (*value == ' ')
		value++;
	if (!c->form) {
		fprintf(c->out, "No form is open.\n");
		free(field);
		return VIVA_EINVAL;
	}
	json_object_set_new(c->form, field, json_string(value));
	free(field);
	return VIVA_OK;
}

int console_line(struct console *c, const char *line)
{
	const char *slash = dispatch_slash(c->env);
	size_t sl = strlen(slash);
	struct viva_ctx ctx;
	char trigger[64];

	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, "click ", 6) == 0)
		return click(c, line + 6);
	if (strncmp(line, "set ", 4) == 0)
		return set_field(c, line + 4);
	if (strcmp(line, "submit") == 0)
		return submit(c);
	if (strcmp(line, "reload") == 0) {
		/* Operators edit their template overrides or the spec directory and
		 * see the result without a restart: what SIGHUP does to `serve`. */
		struct reload_report rep;
		int rc = reload_all(c->env, c->user, &rep);

		if (rep.templates_rc == VIVA_OK)
			fprintf(c->out, "Templates reloaded (%zu, %zu from %s).\n", rep.templates, rep.overrides,
				tmpl_set_dir(c->env->tmpl) ? tmpl_set_dir(c->env->tmpl) : "no directory: all built in");
		else
			fprintf(c->out, "Reload failed, the old templates stay: %s\n", rep.error);
		if (rep.specs_rc == VIVA_OK)
			fprintf(c->out, "Pipeline specs: %d added, %d changed, %d removed, %d invalid.\n", rep.added,
				rep.changed, rep.removed, rep.invalid);
		else if (rep.specs_rc != VIVA_ENOENT)
			fprintf(c->out, "Pipeline specs not applied: %s\n", rep.error);
		return rc;
	}
	if (strcmp(line, "json on") == 0 || strcmp(line, "json off") == 0) {
		c->json_out = line[6] == 'n';
		return VIVA_OK;
	}
	if (strncmp(line, slash, sl) == 0 && (line[sl] == ' ' || line[sl] == '\0'))
		line += sl;
	else if (line[0] == '/') {
		fprintf(c->out, "This console runs %s commands, e.g. `%s help`.\n", slash, slash);
		return VIVA_EINVAL;
	}
	snprintf(trigger, sizeof(trigger), "local.trigger.%lu", ++c->seq);
	ctx_init(c, &ctx, trigger);
	return dispatch_command(&ctx, line);
}

int console_repl(struct console *c, FILE *in)
{
	char line[4096];
	const char *slash = dispatch_slash(c->env);

	c->in = in;
	c->confirm_all = false;
	fprintf(c->out, "viva local console: type %s commands (e.g. `%s help`), `click N` to press "
		"button N, `set FIELD VALUE` and `submit` for forms, `json on|off`, `reload` (templates and specs), `quit` to leave.\n", slash, slash);
	for (;;) {
		size_t n;
		fprintf(c->out, "viva> ");
		fflush(c->out);
		if (!fgets(line, sizeof(line), in))
			break;
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0)
			break;
		if (line[0] == '\0')
			continue;
		console_line(c, line);
	}
	fprintf(c->out, "\n");
	return VIVA_OK;
}
