/*
 * Node files, the template engine (nodefiles.h has the syntax): {{key}},
 * {{#key}}...{{/key}}, {{^key}}...{{/key}}. Two passes: the tags are found
 * first, each with the range of text it takes (a section tag alone on its
 * line takes the line), then the text between them is written out when
 * every enclosing section is on. Every tag is checked in both on and off
 * sections, so a template's errors do not depend on the node.
 */
#include "bot/nodes/nodefiles_impl.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 63

enum tag_kind { TAG_VAR, TAG_OPEN, TAG_INVERTED, TAG_CLOSE };

struct tag {
	enum tag_kind kind;
	size_t start, end;          /* the text it takes: [start, end) */
	char name[NAME_MAX_LEN + 1];
	int line;
};

struct tags {
	struct tag *v;
	size_t n, cap;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return false;
	return true;
}

/*
 * A section tag alone on its line (blanks around it) takes the whole line,
 * its newline included: [*start, *end) grows to it.
 */
static void standalone(const char *text, size_t len, size_t *start, size_t *end)
{
	size_t ls = *start, le = *end;

	while (ls > 0 && is_blank(text[ls - 1]))
		ls--;
	if (ls > 0 && text[ls - 1] != '\n')
		return;
	while (le < len && is_blank(text[le]))
		le++;
	if (le < len && text[le] == '\r' && le + 1 < len && text[le + 1] == '\n')
		le++;
	if (le < len && text[le] != '\n')
		return;
	*start = ls;
	*end = le < len ? le + 1 : le;
}

/* One tag whose "{{" is at a, on line `line`; VIVA_EINVAL with err when it is not one. */
static int parse_tag(const char *name, const char *text, size_t len, size_t a, int line, struct tag *t,
		     char *err, size_t errlen)
{
	const char *nl = memchr(text + a, '\n', len - a);
	size_t lim = nl ? (size_t)(nl - text) : len, b = a + 2, s, e;
	char shown[64];

	while (b + 1 < lim && !(text[b] == '}' && text[b + 1] == '}'))
		b++;
	if (b + 1 >= lim) {
		viva_errf(err, errlen, "%s:%d: a {{ without its }} on the same line", name, line);
		return VIVA_EINVAL;
	}
	s = a + 2;
	e = b;
	while (s < e && is_blank(text[s]))
		s++;
	while (e > s && is_blank(text[e - 1]))
		e--;
	t->kind = TAG_VAR;
	if (s < e && strchr("#^/", text[s])) {
		t->kind = text[s] == '#' ? TAG_OPEN : text[s] == '^' ? TAG_INVERTED : TAG_CLOSE;
		for (s++; s < e && is_blank(text[s]); s++)
			;
	}
	if (!name_ok(text + s, e - s)) {
		char *raw = xstrndup(text + a, b + 2 - a);

		viva_errf(err, errlen, "%s:%d: malformed placeholder %s (a placeholder is {{key}}, {{#key}}, "
			  "{{^key}} or {{/key}}, key being [A-Za-z_][A-Za-z0-9_]*)", name, line,
			  text_shown(raw, shown, sizeof(shown), 40));
		free(raw);
		return VIVA_EINVAL;
	}
	memcpy(t->name, text + s, e - s);
	t->name[e - s] = '\0';
	t->line = line;
	t->start = a;
	t->end = b + 2;
	if (t->kind != TAG_VAR)
		standalone(text, len, &t->start, &t->end);
	return VIVA_OK;
}

static int find_tags(const char *name, const char *text, size_t len, struct tags *tags, char *err, size_t errlen)
{
	size_t pos = 0;
	int line = 1;

	for (;;) {
		const char *open = len - pos >= 2 ? memmem(text + pos, len - pos, "{{", 2) : NULL;
		struct tag t;
		int rc;

		if (!open)
			return VIVA_OK;
		for (const char *p = text + pos; p < open; p++)
			line += *p == '\n';
		rc = parse_tag(name, text, len, (size_t)(open - text), line, &t, err, errlen);
		if (rc)
			return rc;
		if (tags->n == tags->cap) {
			tags->cap = tags->cap ? tags->cap * 2 : 16;
			tags->v = xrealloc(tags->v, tags->cap * sizeof(*tags->v));
		}
		tags->v[tags->n++] = t;
		/* a standalone tag took its newline: count it */
		for (size_t p = (size_t)(open - text); p < t.end; p++)
			line += text[p] == '\n';
		pos = t.end;
	}
}

/* vars[name], or NULL with the error. */
static const char *lookup(const char *name, const json_t *vars, const struct tag *t, char *err, size_t errlen)
{
	const char *v = json_string_value(json_object_get(vars, t->name));

	if (!v)
		viva_errf(err, errlen, "%s:%d: unknown placeholder {{%s}}: not a setting of the node nor a key "
			  "of its cluster config", name, t->line, t->name);
	return v;
}

static int emit(struct strbuf *out, const char *s, size_t n, size_t *budget, const char *name, char *err,
		size_t errlen)
{
	if (n > *budget) {
		viva_errf(err, errlen, "%s: the node files would be larger than %zu MiB", name, NODETMPL_OUT_MAX >> 20);
		return VIVA_ERANGE;
	}
	*budget -= n;
	sb_add(out, s, n);
	return VIVA_OK;
}

struct open_section {
	const struct tag *tag;
	bool on;       /* this section and every one around it are on */
};

/* The walk over the tags: sections, variables, and the text between them. */
static int expand(const char *name, const char *text, size_t len, const struct tags *tags, const json_t *vars,
		  size_t *budget, struct strbuf *out, char *err, size_t errlen)
{
	struct open_section stack[NODETMPL_MAX_DEPTH];
	size_t depth = 0, pos = 0;
	int rc = VIVA_OK;

	for (size_t i = 0; i <= tags->n && rc == VIVA_OK; i++) {
		const struct tag *t = i < tags->n ? &tags->v[i] : NULL;
		bool on = depth == 0 || stack[depth - 1].on;
		size_t upto = t ? t->start : len;
		const char *v;

		if (on && upto > pos)
			rc = emit(out, text + pos, upto - pos, budget, name, err, errlen);
		if (!t || rc)
			break;
		pos = t->end;
		if (t->kind == TAG_CLOSE) {
			if (depth == 0 || strcmp(stack[depth - 1].tag->name, t->name) != 0) {
				if (depth == 0)
					viva_errf(err, errlen, "%s:%d: {{/%s}} closes no section", name, t->line, t->name);
				else
					viva_errf(err, errlen, "%s:%d: {{/%s}} does not close {{#%s}} of line %d", name,
						  t->line, t->name, stack[depth - 1].tag->name, stack[depth - 1].tag->line);
				rc = VIVA_EINVAL;
			} else {
				depth--;
			}
			continue;
		}
		v = lookup(name, vars, t, err, errlen);
		if (!v) {
			rc = VIVA_EINVAL;
		} else if (t->kind == TAG_VAR) {
			if (on)
				rc = emit(out, v, strlen(v), budget, name, err, errlen);
		} else if (depth == NODETMPL_MAX_DEPTH) {
			viva_errf(err, errlen, "%s:%d: sections nested deeper than %d", name, t->line, NODETMPL_MAX_DEPTH);
			rc = VIVA_EINVAL;
		} else {
			bool truthy = *v && strcmp(v, "false") != 0;

			stack[depth].tag = t;
			stack[depth].on = on && (t->kind == TAG_OPEN ? truthy : !truthy);
			depth++;
		}
	}
	if (rc == VIVA_OK && depth > 0) {
		viva_errf(err, errlen, "%s:%d: {{%c%s}} is not closed (no {{/%s}})", name, stack[depth - 1].tag->line,
			  stack[depth - 1].tag->kind == TAG_OPEN ? '#' : '^', stack[depth - 1].tag->name,
			  stack[depth - 1].tag->name);
		rc = VIVA_EINVAL;
	}
	return rc;
}

int nodetmpl_render(const char *name, const char *text, size_t len, const json_t *vars, size_t *budget,
		    struct strbuf *out, char *err, size_t errlen)
{
	struct tags tags = { 0 };
	int rc = find_tags(name, text, len, &tags, err, errlen);

	if (rc == VIVA_OK)
		rc = expand(name, text, len, &tags, vars, budget, out, err, errlen);
	free(tags.v);
	return rc;
}
