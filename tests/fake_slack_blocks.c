/*
 * Block Kit validator for the fake Slack server. See fake_slack_blocks.h.
 *
 * The walk keeps a JSON pointer of where it is, so that each problem names
 * its place exactly as Slack's "[json-pointer:/blocks/0/text/text]" does.
 * Limits come from /work/shared/slack-protocol.md section 6.
 */
#include "tests/fake_slack_blocks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where an element sits: decides which element types are allowed. */
enum where {
	IN_ACCESSORY,  /* section accessory */
	IN_ACTIONS,    /* actions block */
	IN_INPUT,      /* input block element */
};

/* Which kinds of text object a field takes. */
enum text_kind {
	TEXT_ANY,    /* plain_text or mrkdwn */
	TEXT_PLAIN,  /* plain_text only */
};

struct vctx {
	json_t *msgs;           /* borrowed: where problems go */
	int nerr;
	enum fsb_surface surface;
	char ptr[1024];         /* current JSON pointer */
	size_t plen;
	json_t *block_ids;      /* object used as a set: block_ids seen so far */
	bool has_input;         /* an input block was seen (modal needs submit) */
};

size_t fsb_utf8_len(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static void verr(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void verr(struct vctx *c, const char *fmt, ...)
{
	char what[256];
	char line[1400];
	va_list ap;

	c->nerr++;
	if (json_array_size(c->msgs) >= FSB_MAX_MESSAGES)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "[ERROR] %s [json-pointer:%s]", what,
		 c->plen ? c->ptr : "/");
	json_array_append_new(c->msgs, json_string(line));
}

/* Push one pointer segment (escaped per RFC 6901); returns the old length. */
static size_t push(struct vctx *c, const char *seg)
{
	size_t old = c->plen;
	size_t room = sizeof(c->ptr) - 1;

	if (c->plen < room)
		c->ptr[c->plen++] = '/';
	for (; *seg && c->plen + 2 < room; seg++) {
		if (*seg == '~' || *seg == '/') {
			c->ptr[c->plen++] = '~';
			c->ptr[c->plen++] = *seg == '~' ? '0' : '1';
		} else {
			c->ptr[c->plen++] = *seg;
		}
	}
	c->ptr[c->plen] = '\0';
	return old;
}

static size_t push_idx(struct vctx *c, size_t i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%zu", i);
	return push(c, buf);
}

static void pop(struct vctx *c, size_t old)
{
	c->plen = old;
	c->ptr[old] = '\0';
}

/* Report every key of obj that is not in allowed (NULL-terminated). */
static void check_keys(struct vctx *c, const json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		(void)v;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0) {
				ok = true;
				break;
			}
		if (!ok)
			verr(c, "invalid additional property: %s", key);
	}
}

/*
 * A string field: type, presence and length in characters. Returns the
 * string when present and a string, else NULL.
 */
static const char *check_str(struct vctx *c, const json_t *obj, const char *key,
			     bool required, size_t min, size_t max)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = NULL;
	size_t old, n;

	if (!v || json_is_null(v)) {
		if (required) {
			verr(c, "missing required field: %s", key);
		}
		return NULL;
	}
	old = push(c, key);
	if (!json_is_string(v)) {
		verr(c, "must provide a string");
		goto out;
	}
	s = json_string_value(v);
	n = fsb_utf8_len(s);
	if (n < min)
		verr(c, "must be more than %zu characters", min ? min - 1 : 0);
	else if (n > max)
		verr(c, "must be less than %zu characters", max + 1);
out:
	pop(c, old);
	return s;
}

static void check_bool(struct vctx *c, const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	size_t old;

	if (!v || json_is_boolean(v))
		return;
	old = push(c, key);
	verr(c, "must provide a boolean");
	pop(c, old);
}

static void check_int(struct vctx *c, const json_t *obj, const char *key,
		      json_int_t min, json_int_t max)
{
	const json_t *v = json_object_get(obj, key);
	size_t old;

	if (!v)
		return;
	old = push(c, key);
	if (!json_is_integer(v))
		verr(c, "must provide an integer");
	else if (json_integer_value(v) < min)
		verr(c, "must be at least %lld", (long long)min);
	else if (json_integer_value(v) > max)
		verr(c, "must be at most %lld", (long long)max);
	pop(c, old);
}

/* The text object itself (c->ptr already points at it). */
static void check_text_obj(struct vctx *c, const json_t *t, enum text_kind kind, size_t max)
{
	static const char *const keys[] = { "type", "text", "emoji", "verbatim", NULL };
	const char *type;
	size_t old;

	if (!json_is_object(t)) {
		verr(c, "must provide an object");
		return;
	}
	check_keys(c, t, keys);
	type = check_str(c, t, "type", true, 1, 64);
	if (type) {
		bool plain = strcmp(type, "plain_text") == 0;
		bool mrkdwn = strcmp(type, "mrkdwn") == 0;

		old = push(c, "type");
		if (kind == TEXT_PLAIN && !plain)
			verr(c, "must be one of: plain_text");
		else if (!plain && !mrkdwn)
			verr(c, "must be one of: plain_text, mrkdwn");
		pop(c, old);
		/* emoji belongs to plain_text, verbatim to mrkdwn */
		if (mrkdwn && json_object_get(t, "emoji"))
			verr(c, "invalid additional property: emoji");
		if (plain && json_object_get(t, "verbatim"))
			verr(c, "invalid additional property: verbatim");
	}
	check_str(c, t, "text", true, 1, max);
	check_bool(c, t, "emoji");
	check_bool(c, t, "verbatim");
}

/* A text object held in obj[key]. */
static void check_text(struct vctx *c, const json_t *obj, const char *key,
		       bool required, enum text_kind kind, size_t max)
{
	const json_t *t = json_object_get(obj, key);
	size_t old;

	if (!t || json_is_null(t)) {
		if (required)
			verr(c, "missing required field: %s", key);
		return;
	}
	old = push(c, key);
	check_text_obj(c, t, kind, max);
	pop(c, old);
}

/* Confirmation dialog object in obj["confirm"], if any. */
static void check_confirm(struct vctx *c, const json_t *obj)
{
	static const char *const keys[] = { "title", "text", "confirm", "deny", "style", NULL };
	const json_t *cf = json_object_get(obj, "confirm");
	const char *style;
	size_t old;

	if (!cf)
		return;
	old = push(c, "confirm");
	if (!json_is_object(cf)) {
		verr(c, "must provide an object");
		goto out;
	}
	check_keys(c, cf, keys);
	check_text(c, cf, "title", true, TEXT_PLAIN, 100);
	check_text(c, cf, "text", true, TEXT_ANY, 300);
	check_text(c, cf, "confirm", true, TEXT_PLAIN, 30);
	check_text(c, cf, "deny", true, TEXT_PLAIN, 30);
	style = check_str(c, cf, "style", false, 0, 16);
	if (style && strcmp(style, "primary") != 0 && strcmp(style, "danger") != 0) {
		size_t o2 = push(c, "style");
		verr(c, "must be one of: primary, danger");
		pop(c, o2);
	}
out:
	pop(c, old);
}

/* One option object (c->ptr points at it). */
static void check_option(struct vctx *c, const json_t *o, enum text_kind kind, bool allow_url)
{
	static const char *const keys[] = { "text", "value", "description", NULL };
	static const char *const keys_url[] = { "text", "value", "description", "url", NULL };

	if (!json_is_object(o)) {
		verr(c, "must provide an object");
		return;
	}
	check_keys(c, o, allow_url ? keys_url : keys);
	check_text(c, o, "text", true, kind, 75);
	check_str(c, o, "value", true, 1, 150);
	check_text(c, o, "description", false, kind, 75);
	if (allow_url)
		check_str(c, o, "url", false, 1, 3000);
}

/* An array of options in obj[key]; returns it when it is a valid-shaped array. */
static const json_t *check_options(struct vctx *c, const json_t *obj, const char *key,
				   bool required, size_t min, size_t max,
				   enum text_kind kind, bool allow_url)
{
	const json_t *arr = json_object_get(obj, key);
	size_t old, i;
	json_t *o;

	if (!arr) {
		if (required)
			verr(c, "missing required field: %s", key);
		return NULL;
	}
	old = push(c, key);
	if (!json_is_array(arr)) {
		verr(c, "must provide an array");
		pop(c, old);
		return NULL;
	}
	if (json_array_size(arr) < min)
		verr(c, "must provide at least %zu items", min);
	else if (json_array_size(arr) > max)
		verr(c, "no more than %zu items allowed", max);
	json_array_foreach(arr, i, o) {
		size_t o2 = push_idx(c, i);
		check_option(c, o, kind, allow_url);
		pop(c, o2);
		if (i >= 200)  /* the count error is already reported */
			break;
	}
	pop(c, old);
	return arr;
}

static bool option_in(const json_t *opt, const json_t *options)
{
	const char *v = json_string_value(json_object_get(opt, "value"));
	size_t i;
	json_t *o;

	if (!v)
		return false;
	json_array_foreach(options, i, o) {
		const char *ov = json_string_value(json_object_get(o, "value"));
		if (ov && strcmp(ov, v) == 0)
			return true;
	}
	return false;
}

/* initial_option / initial_options must be among the element's options. */
static void check_initial(struct vctx *c, const json_t *el, const json_t *options, bool multi)
{
	const char *key = multi ? "initial_options" : "initial_option";
	const json_t *init = json_object_get(el, key);
	size_t old, i;
	json_t *o;

	if (!init)
		return;
	old = push(c, key);
	if (multi) {
		if (!json_is_array(init)) {
			verr(c, "must provide an array");
		} else {
			json_array_foreach(init, i, o) {
				size_t o2 = push_idx(c, i);
				if (options && !option_in(o, options))
					verr(c, "must match one of the provided options");
				pop(c, o2);
				if (i >= 100)
					break;
			}
		}
	} else if (!json_is_object(init)) {
		verr(c, "must provide an object");
	} else if (options && !option_in(init, options)) {
		verr(c, "must match one of the provided options");
	}
	pop(c, old);
}

static void check_action_id(struct vctx *c, const json_t *el, json_t *seen)
{
	const char *id = check_str(c, el, "action_id", false, 1, 255);
	size_t old;

	if (!id || !seen)
		return;
	if (json_object_get(seen, id)) {
		old = push(c, "action_id");
		verr(c, "duplicate action_id: %s", id);
		pop(c, old);
		return;
	}
	json_object_set_new(seen, id, json_true());
}

static void check_button(struct vctx *c, const json_t *el)
{
	static const char *const keys[] = { "type", "text", "action_id", "url", "value", "style",
					    "confirm", "accessibility_label", NULL };
	const char *style;

	check_keys(c, el, keys);
	check_text(c, el, "text", true, TEXT_PLAIN, 75);
	check_str(c, el, "url", false, 1, 3000);
	check_str(c, el, "value", false, 1, 2000);
	check_str(c, el, "accessibility_label", false, 1, 75);
	style = check_str(c, el, "style", false, 0, 16);
	if (style && strcmp(style, "primary") != 0 && strcmp(style, "danger") != 0) {
		size_t old = push(c, "style");
		verr(c, "must be one of: primary, danger");
		pop(c, old);
	}
	check_confirm(c, el);
}

static void check_static_select(struct vctx *c, const json_t *el, bool multi)
{
	static const char *const keys[] = { "type", "action_id", "options", "option_groups",
					    "initial_option", "confirm", "focus_on_load",
					    "placeholder", NULL };
	static const char *const mkeys[] = { "type", "action_id", "options", "option_groups",
					     "initial_options", "confirm", "focus_on_load",
					     "placeholder", "max_selected_items", NULL };
	const json_t *options = NULL;
	const json_t *groups = json_object_get(el, "option_groups");
	bool has_options = json_object_get(el, "options") != NULL;
	size_t i;
	json_t *g;

	check_keys(c, el, multi ? mkeys : keys);
	check_text(c, el, "placeholder", false, TEXT_PLAIN, 150);
	if (has_options && groups) {
		verr(c, "must provide either options or option_groups, not both");
	} else if (!has_options && !groups) {
		verr(c, "must provide either options or option_groups");
	}
	if (has_options)
		options = check_options(c, el, "options", false, 1, 100, TEXT_PLAIN, false);
	if (groups) {
		size_t old = push(c, "option_groups");

		if (!json_is_array(groups)) {
			verr(c, "must provide an array");
		} else {
			if (json_array_size(groups) > 100)
				verr(c, "no more than 100 items allowed");
			json_array_foreach(groups, i, g) {
				static const char *const gkeys[] = { "label", "options", NULL };
				size_t o2 = push_idx(c, i);

				if (!json_is_object(g)) {
					verr(c, "must provide an object");
				} else {
					check_keys(c, g, gkeys);
					check_text(c, g, "label", true, TEXT_PLAIN, 75);
					check_options(c, g, "options", true, 1, 100, TEXT_PLAIN, false);
				}
				pop(c, o2);
				if (i >= 100)
					break;
			}
		}
		pop(c, old);
	}
	if (options)
		check_initial(c, el, options, multi);
	if (multi)
		check_int(c, el, "max_selected_items", 1, 100);
	check_confirm(c, el);
	check_bool(c, el, "focus_on_load");
}

static void check_choice(struct vctx *c, const json_t *el, bool checkboxes)
{
	static const char *const ckeys[] = { "type", "action_id", "options", "initial_options",
					     "confirm", "focus_on_load", NULL };
	static const char *const rkeys[] = { "type", "action_id", "options", "initial_option",
					     "confirm", "focus_on_load", NULL };
	const json_t *options;

	check_keys(c, el, checkboxes ? ckeys : rkeys);
	options = check_options(c, el, "options", true, 1, 10, TEXT_ANY, false);
	if (options)
		check_initial(c, el, options, checkboxes);
	check_confirm(c, el);
	check_bool(c, el, "focus_on_load");
}

static void check_text_input(struct vctx *c, const json_t *el)
{
	static const char *const keys[] = { "type", "action_id", "initial_value", "multiline",
					    "min_length", "max_length", "dispatch_action_config",
					    "focus_on_load", "placeholder", NULL };
	const json_t *mn = json_object_get(el, "min_length");
	const json_t *mx = json_object_get(el, "max_length");
	const json_t *dac = json_object_get(el, "dispatch_action_config");

	check_keys(c, el, keys);
	check_text(c, el, "placeholder", false, TEXT_PLAIN, 150);
	check_str(c, el, "initial_value", false, 0, 3000);
	check_bool(c, el, "multiline");
	check_bool(c, el, "focus_on_load");
	check_int(c, el, "min_length", 0, 3000);
	check_int(c, el, "max_length", 1, 3000);
	if (json_is_integer(mn) && json_is_integer(mx) &&
	    json_integer_value(mn) > json_integer_value(mx)) {
		size_t old = push(c, "min_length");
		verr(c, "must be less than or equal to max_length");
		pop(c, old);
	}
	if (dac && !json_is_object(dac)) {
		size_t old = push(c, "dispatch_action_config");
		verr(c, "must provide an object");
		pop(c, old);
	}
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void check_picker(struct vctx *c, const json_t *el, bool date)
{
	static const char *const dkeys[] = { "type", "action_id", "initial_date", "confirm",
					     "focus_on_load", "placeholder", NULL };
	static const char *const tkeys[] = { "type", "action_id", "initial_time", "confirm",
					     "focus_on_load", "placeholder", "timezone", NULL };
	const char *key = date ? "initial_date" : "initial_time";
	const char *v;

	check_keys(c, el, date ? dkeys : tkeys);
	check_text(c, el, "placeholder", false, TEXT_PLAIN, 150);
	v = check_str(c, el, key, false, 1, 10);
	if (v) {
		bool ok = date ? (strlen(v) == 10 && digits(v, 4) && v[4] == '-' &&
				  digits(v + 5, 2) && v[7] == '-' && digits(v + 8, 2))
			       : (strlen(v) == 5 && digits(v, 2) && v[2] == ':' && digits(v + 3, 2));
		if (!ok) {
			size_t old = push(c, key);
			verr(c, "must match format %s", date ? "YYYY-MM-DD" : "HH:mm");
			pop(c, old);
		}
	}
	check_confirm(c, el);
	check_bool(c, el, "focus_on_load");
}

/* Image element (context, section accessory). */
static void check_image_el(struct vctx *c, const json_t *el)
{
	static const char *const keys[] = { "type", "image_url", "slack_file", "alt_text", NULL };

	check_keys(c, el, keys);
	if (!json_object_get(el, "image_url") && !json_object_get(el, "slack_file"))
		verr(c, "must provide either image_url or slack_file");
	check_str(c, el, "image_url", false, 1, 3000);
	check_str(c, el, "alt_text", true, 1, 2000);
}

/* Types accepted with only the common checks (action_id, placeholder). */
static bool is_lenient_select(const char *t)
{
	static const char *const names[] = {
		"users_select", "multi_users_select", "conversations_select",
		"multi_conversations_select", "channels_select", "multi_channels_select",
		"external_select", "multi_external_select", "datetimepicker", NULL,
	};
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, t) == 0)
			return true;
	return false;
}

/* Types that only exist inside input blocks. */
static bool is_input_only(const char *t)
{
	static const char *const names[] = {
		"plain_text_input", "email_text_input", "url_text_input", "number_input",
		"rich_text_input", "file_input", NULL,
	};
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, t) == 0)
			return true;
	return false;
}

/* One interactive element at c->ptr. seen collects action_ids (may be NULL). */
static void check_element(struct vctx *c, const json_t *el, enum where where, json_t *seen)
{
	const char *type;
	size_t old;

	if (!json_is_object(el)) {
		verr(c, "must provide an object");
		return;
	}
	type = check_str(c, el, "type", true, 1, 64);
	if (!type)
		return;
	old = push(c, "type");
	if (is_input_only(type) && where != IN_INPUT) {
		verr(c, "%s is only allowed in input blocks", type);
		pop(c, old);
		return;
	}
	if (where == IN_INPUT && (strcmp(type, "button") == 0 || strcmp(type, "overflow") == 0 ||
				  strcmp(type, "image") == 0)) {
		verr(c, "unsupported type in input block: %s", type);
		pop(c, old);
		return;
	}
	if (where == IN_ACTIONS && strcmp(type, "image") == 0) {
		verr(c, "unsupported type in actions block: %s", type);
		pop(c, old);
		return;
	}
	pop(c, old);

	if (strcmp(type, "image") == 0) {
		check_image_el(c, el);
		return;  /* images carry no action_id */
	}
	check_action_id(c, el, seen);
	if (strcmp(type, "button") == 0) {
		check_button(c, el);
	} else if (strcmp(type, "static_select") == 0) {
		check_static_select(c, el, false);
	} else if (strcmp(type, "multi_static_select") == 0) {
		check_static_select(c, el, true);
	} else if (strcmp(type, "overflow") == 0) {
		static const char *const keys[] = { "type", "action_id", "options", "confirm", NULL };
		check_keys(c, el, keys);
		check_options(c, el, "options", true, 1, 5, TEXT_PLAIN, true);
		check_confirm(c, el);
	} else if (strcmp(type, "checkboxes") == 0) {
		check_choice(c, el, true);
	} else if (strcmp(type, "radio_buttons") == 0) {
		check_choice(c, el, false);
	} else if (strcmp(type, "plain_text_input") == 0) {
		check_text_input(c, el);
	} else if (strcmp(type, "datepicker") == 0) {
		check_picker(c, el, true);
	} else if (strcmp(type, "timepicker") == 0) {
		check_picker(c, el, false);
	} else if (is_lenient_select(type) || is_input_only(type)) {
		check_text(c, el, "placeholder", false, TEXT_PLAIN, 150);
	} else {
		old = push(c, "type");
		verr(c, "unsupported type: %s", type);
		pop(c, old);
	}
}

/* obj[key] must be an array of min..max items; returns it or NULL. */
static const json_t *check_array(struct vctx *c, const json_t *obj, const char *key,
				 size_t min, size_t max)
{
	const json_t *arr = json_object_get(obj, key);
	size_t old;

	if (!arr) {
		verr(c, "missing required field: %s", key);
		return NULL;
	}
	old = push(c, key);
	if (!json_is_array(arr)) {
		verr(c, "must provide an array");
		pop(c, old);
		return NULL;
	}
	if (json_array_size(arr) < min)
		verr(c, "must provide at least %zu items", min);
	else if (json_array_size(arr) > max)
		verr(c, "no more than %zu items allowed", max);
	pop(c, old);
	return arr;
}

static void check_section(struct vctx *c, const json_t *b)
{
	static const char *const keys[] = { "type", "block_id", "text", "fields", "accessory",
					    "expand", NULL };
	const json_t *fields = json_object_get(b, "fields");
	const json_t *acc = json_object_get(b, "accessory");
	size_t old, i;
	json_t *f;

	check_keys(c, b, keys);
	if (!json_object_get(b, "text") && !fields)
		verr(c, "must provide either text or fields");
	check_text(c, b, "text", false, TEXT_ANY, 3000);
	if (fields) {
		old = push(c, "fields");
		if (!json_is_array(fields)) {
			verr(c, "must provide an array");
		} else {
			if (json_array_size(fields) < 1)
				verr(c, "must provide at least 1 items");
			else if (json_array_size(fields) > 10)
				verr(c, "no more than 10 items allowed");
			json_array_foreach(fields, i, f) {
				size_t o2 = push_idx(c, i);
				check_text_obj(c, f, TEXT_ANY, 2000);
				pop(c, o2);
				if (i >= 50)
					break;
			}
		}
		pop(c, old);
	}
	if (acc) {
		old = push(c, "accessory");
		check_element(c, acc, IN_ACCESSORY, NULL);
		pop(c, old);
	}
	check_bool(c, b, "expand");
}

static void check_actions(struct vctx *c, const json_t *b)
{
	static const char *const keys[] = { "type", "block_id", "elements", NULL };
	const json_t *els;
	json_t *seen = json_object();
	size_t old, i;
	json_t *el;

	check_keys(c, b, keys);
	els = check_array(c, b, "elements", 1, 25);
	if (els) {
		old = push(c, "elements");
		json_array_foreach(els, i, el) {
			size_t o2 = push_idx(c, i);
			check_element(c, el, IN_ACTIONS, seen);
			pop(c, o2);
			if (i >= 50)
				break;
		}
		pop(c, old);
	}
	json_decref(seen);
}

static void check_context(struct vctx *c, const json_t *b)
{
	static const char *const keys[] = { "type", "block_id", "elements", NULL };
	const json_t *els;
	size_t old, i;
	json_t *el;

	check_keys(c, b, keys);
	els = check_array(c, b, "elements", 1, 10);
	if (!els)
		return;
	old = push(c, "elements");
	json_array_foreach(els, i, el) {
		size_t o2 = push_idx(c, i);
		const char *t = json_string_value(json_object_get(el, "type"));

		if (!json_is_object(el)) {
			verr(c, "must provide an object");
		} else if (t && strcmp(t, "image") == 0) {
			check_image_el(c, el);
		} else if (t && (strcmp(t, "plain_text") == 0 || strcmp(t, "mrkdwn") == 0)) {
			check_text_obj(c, el, TEXT_ANY, 3000);
		} else {
			verr(c, "unsupported type: %s", t ? t : "(none)");
		}
		pop(c, o2);
		if (i >= 20)
			break;
	}
	pop(c, old);
}

static void check_input(struct vctx *c, const json_t *b)
{
	static const char *const keys[] = { "type", "block_id", "label", "element",
					    "dispatch_action", "hint", "optional", NULL };
	const json_t *el = json_object_get(b, "element");
	size_t old;

	check_keys(c, b, keys);
	check_text(c, b, "label", true, TEXT_PLAIN, 2000);
	check_text(c, b, "hint", false, TEXT_PLAIN, 2000);
	check_bool(c, b, "optional");
	check_bool(c, b, "dispatch_action");
	if (!el) {
		verr(c, "missing required field: element");
		return;
	}
	old = push(c, "element");
	check_element(c, el, IN_INPUT, NULL);
	pop(c, old);
}

static void check_image_block(struct vctx *c, const json_t *b)
{
	static const char *const keys[] = { "type", "block_id", "image_url", "slack_file",
					    "alt_text", "title", NULL };

	check_keys(c, b, keys);
	if (!json_object_get(b, "image_url") && !json_object_get(b, "slack_file"))
		verr(c, "must provide either image_url or slack_file");
	check_str(c, b, "image_url", false, 1, 3000);
	check_str(c, b, "alt_text", true, 1, 2000);
	check_text(c, b, "title", false, TEXT_PLAIN, 2000);
}

static void check_block(struct vctx *c, const json_t *b)
{
	const char *type, *bid;
	size_t old;

	if (!json_is_object(b)) {
		verr(c, "must provide an object");
		return;
	}
	type = check_str(c, b, "type", true, 1, 64);
	bid = check_str(c, b, "block_id", false, 1, 255);
	if (bid) {
		if (json_object_get(c->block_ids, bid)) {
			old = push(c, "block_id");
			verr(c, "duplicate block_id: %s", bid);
			pop(c, old);
		} else {
			json_object_set_new(c->block_ids, bid, json_true());
		}
	}
	if (!type)
		return;
	if (strcmp(type, "section") == 0) {
		check_section(c, b);
	} else if (strcmp(type, "header") == 0) {
		static const char *const keys[] = { "type", "block_id", "text", NULL };
		check_keys(c, b, keys);
		check_text(c, b, "text", true, TEXT_PLAIN, 150);
	} else if (strcmp(type, "divider") == 0) {
		static const char *const keys[] = { "type", "block_id", NULL };
		check_keys(c, b, keys);
	} else if (strcmp(type, "actions") == 0) {
		check_actions(c, b);
	} else if (strcmp(type, "context") == 0) {
		check_context(c, b);
	} else if (strcmp(type, "image") == 0) {
		check_image_block(c, b);
	} else if (strcmp(type, "input") == 0 && c->surface == FSB_MODAL) {
		c->has_input = true;
		check_input(c, b);
	} else if (strcmp(type, "rich_text") == 0) {
		static const char *const keys[] = { "type", "block_id", "elements", NULL };
		check_keys(c, b, keys);
		check_array(c, b, "elements", 0, 100);
	} else if (strcmp(type, "markdown") == 0 && c->surface == FSB_MESSAGE) {
		static const char *const keys[] = { "type", "block_id", "text", NULL };
		check_keys(c, b, keys);
		check_str(c, b, "text", true, 1, 12000);
	} else {
		old = push(c, "type");
		verr(c, "unsupported type: %s", type);
		pop(c, old);
	}
}

static void vctx_init(struct vctx *c, enum fsb_surface surface, const char *ptr, json_t *msgs)
{
	memset(c, 0, sizeof(*c));
	c->msgs = msgs;
	c->surface = surface;
	c->block_ids = json_object();
	snprintf(c->ptr, sizeof(c->ptr), "%s", ptr ? ptr : "");
	c->plen = strlen(c->ptr);
}

static void walk_blocks(struct vctx *c, const json_t *blocks)
{
	size_t max = c->surface == FSB_MODAL ? 100 : 50;
	size_t i;
	json_t *b;

	if (json_array_size(blocks) > max)
		verr(c, "no more than %zu items allowed", max);
	json_array_foreach(blocks, i, b) {
		size_t old = push_idx(c, i);
		check_block(c, b);
		pop(c, old);
		/* past the limit every block is already wrong; bound the work */
		if (i >= max + 50)
			break;
	}
}

int fsb_check_blocks(const json_t *blocks, enum fsb_surface surface,
		     const char *ptr, json_t *msgs)
{
	struct vctx c;

	vctx_init(&c, surface, ptr, msgs);
	walk_blocks(&c, blocks);
	json_decref(c.block_ids);
	return c.nerr;
}

const char *fsb_check_view(const json_t *view, json_t *msgs)
{
	static const char *const keys[] = { "type", "title", "blocks", "close", "submit",
					    "private_metadata", "callback_id", "clear_on_close",
					    "notify_on_close", "external_id", "submit_disabled", NULL };
	const char *err = NULL;
	const char *type;
	const json_t *blocks;
	struct vctx c;
	char *dump = NULL;
	size_t old;

	vctx_init(&c, FSB_MODAL, "/view", msgs);
	if (!json_is_object(view)) {
		verr(&c, "must provide an object");
		err = "invalid_arguments";
		goto out;
	}
	dump = json_dumps(view, JSON_COMPACT);
	if (dump && strlen(dump) > FSB_VIEW_MAX_BYTES) {
		verr(&c, "must be less than %d bytes", FSB_VIEW_MAX_BYTES + 1);
		err = "view_too_large";
		goto out;
	}
	check_keys(&c, view, keys);
	type = check_str(&c, view, "type", true, 1, 16);
	if (type && strcmp(type, "modal") != 0) {
		old = push(&c, "type");
		verr(&c, "must be one of: modal");
		pop(&c, old);
	}
	check_text(&c, view, "title", true, TEXT_PLAIN, 24);
	check_text(&c, view, "close", false, TEXT_PLAIN, 24);
	check_text(&c, view, "submit", false, TEXT_PLAIN, 24);
	check_str(&c, view, "private_metadata", false, 0, 3000);
	check_str(&c, view, "callback_id", false, 0, 255);
	check_str(&c, view, "external_id", false, 1, 255);
	check_bool(&c, view, "clear_on_close");
	check_bool(&c, view, "notify_on_close");
	check_bool(&c, view, "submit_disabled");
	/* the count is checked by walk_blocks, with the other block checks */
	blocks = check_array(&c, view, "blocks", 0, (size_t)-1);
	if (blocks) {
		old = push(&c, "blocks");
		walk_blocks(&c, blocks);
		pop(&c, old);
	}
	if (c.has_input && !json_object_get(view, "submit"))
		verr(&c, "must provide submit when the view has input blocks");
	if (c.nerr)
		err = "invalid_arguments";
out:
	free(dump);
	json_decref(c.block_ids);
	return err;
}
