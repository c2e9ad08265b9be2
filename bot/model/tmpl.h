#ifndef VIVA_BOT_MODEL_TMPL_H
#define VIVA_BOT_MODEL_TMPL_H

#include <jansson.h>
#include <stddef.h>

/*
 * Block Kit (and other JSON) templates, rendered on the jansson tree so the
 * output is always valid JSON.
 *
 * A template is a JSON file, templates/slack/NAME.json. Rendering walks it
 * and, with a data object (json_t, the "scope"):
 *
 *  - Strings: every `{{path}}` is replaced by the value at `path` in the
 *    scope (dotted: `service.name`; `@index` is the 0-based and `@number` the
 *    1-based position inside `$each`; `.` is the current item itself).
 *    Strings and numbers are inserted as text, true/false as "true"/"false".
 *    Inserted text is escaped for mrkdwn (& < >) where Slack parses mrkdwn:
 *    in a member named "text" of an object whose "type" is not "plain_text"
 *    (mrkdwn text objects, a message's fallback text). Elsewhere (plain_text,
 *    button values, action ids, URLs) it is inserted as is, because Slack
 *    shows or returns it verbatim. `{{{path}}}` inserts the value raw (for mrkdwn the code built on
 *    purpose, e.g. mentions `<@U123>`), never escaped.
 *    A string that is exactly one `{{path}}` / `{{{path}}}` and whose value
 *    is an object, array, number, boolean or null is replaced by that JSON
 *    value itself (so a number stays a number, a list of blocks is spliced in
 *    whole).
 *  - Lists: inside an array, an object {"$each": "path", "$do": X} repeats X
 *    once per element of the array at `path`, with that element pushed onto
 *    the scope; if X is an array its elements are spliced in. An absent or
 *    null `path` repeats nothing; a non-array is an error.
 *  - Conditions: an object with "$if": "path" is dropped (removed from its
 *    array, or its key removed from its parent object) when the value at path
 *    is falsy (absent, null, false, 0, "", [] or {}); "$if": "!path" negates.
 *    "$unless": "path" is the opposite of "$if". The directive keys are
 *    removed from the output.
 *  - Comments: a "$comment" member (any value: a string, or an array of
 *    lines) is dropped from the output. Templates that operators edit
 *    (templates/k8s/) say in it what they render and which variables exist.
 *  - Any other key starting with '$' is an error (typo protection).
 *
 * Lookup goes from the innermost scope outwards. A missing variable is an
 * error; use "$if" to guard optional ones.
 *
 * Values are put into the tree, never into the template's text: whatever a
 * value holds (quotes, braces, newlines, "{{x}}"), it stays one JSON string
 * (or is spliced as one JSON value) and is never read as template syntax,
 * so it cannot add keys or break out of the string it lands in. Object keys
 * are never templated.
 *
 * Errors name the template and the place as a JSON pointer:
 *   "template tags_list: missing variable 'tag.digest' at /blocks/3/text/text"
 *   "template help: malformed JSON at line 4, column 7: ..."
 */

struct tmpl_set;

/* What v is, for messages: "an object", "a string", ... ("nothing" for NULL). */
const char *tmpl_type_name(json_t *v);

/*
 * The templates viva runs with: the built-in ones (bot/model/builtin.h),
 * each replaced by the file of the same name in dir when dir is not NULL
 * (VIVA_TEMPLATES / templates_dir: an operator's overrides). Files in dir
 * are every *.json under it (recursively, name = relative path without
 * ".json", e.g. "slack/help"), except under the top-level node/ (node
 * file trees, bot/nodes/nodefiles.h, not message templates). A malformed
 * file fails the whole load with VIVA_EPARSE and a message naming the
 * file, line and column; a dir that does not exist is VIVA_ENOENT (it was
 * asked for: say so).
 */
int tmpl_set_load(const char *dir, struct tmpl_set **out, char *err, size_t errlen);
/* Parse every built-in template (a set parses each at its first use):
 * VIVA_OK, or the first that does not parse, with why in err. */
int tmpl_builtins_check(char *err, size_t errlen);
/* Only the templates in dir, no built-ins (tests of the loader). */
int tmpl_set_load_dir(const char *dir, struct tmpl_set **out, char *err, size_t errlen);
/*
 * Re-read the directory (the built-ins stay). On success the new templates
 * replace the old ones atomically; on failure the old ones stay and err says
 * why. Thread-safe against concurrent tmpl_render().
 */
int tmpl_set_reload(struct tmpl_set *ts, char *err, size_t errlen);
/* How many templates the directory supplied at the last (re)load. */
size_t tmpl_set_overrides(struct tmpl_set *ts);
/* The override directory (borrowed), or NULL. */
const char *tmpl_set_dir(const struct tmpl_set *ts);
void tmpl_set_free(struct tmpl_set *ts);
/* Add or replace one template from JSON text (tests, built-ins). */
int tmpl_set_add(struct tmpl_set *ts, const char *name, const char *json_text,
		 char *err, size_t errlen);
/* Empty set (tests). */
struct tmpl_set *tmpl_set_new(void);
/* Number of templates loaded. */
size_t tmpl_set_count(struct tmpl_set *ts);

/*
 * Render template `name` with `data` (borrowed; may be NULL = empty scope).
 * On success *out is a new reference the caller owns. On failure returns
 * VIVA_ENOENT (no such template) or VIVA_EINVAL (missing variable, bad
 * directive) and writes the reason into err.
 */
int tmpl_render(struct tmpl_set *ts, const char *name, json_t *data, json_t **out,
		char *err, size_t errlen);

/* Rendering flags for tmpl_render_ex(). */
enum {
	/*
	 * No mrkdwn escaping anywhere: for output that is not a Slack message
	 * (Kubernetes objects), where "&", "<" and ">" are ordinary characters
	 * and a member named "text" means nothing special.
	 */
	TMPL_VERBATIM = 1u << 0,
};

/* tmpl_render() with flags (TMPL_VERBATIM); tmpl_render() is flags 0. */
int tmpl_render_ex(struct tmpl_set *ts, const char *name, json_t *data, unsigned flags,
		   json_t **out, char *err, size_t errlen);

/* Render a template tree that is not in a set (name is used in errors). */
int tmpl_render_json(const char *name, json_t *tmpl, json_t *data, json_t **out,
		     char *err, size_t errlen);

#endif
