#ifndef VIVA_BOT_MODEL_TMPL_IMPL_H
#define VIVA_BOT_MODEL_TMPL_IMPL_H

/*
 * Internal to the template language's own files (bot/model/tmpl*.c; tmpl.c
 * has the map of which file does what): the limits, the render state, and
 * the helpers they share. Everything else uses tmpl.h only.
 */
#include "bot/model/tmpl.h"
#include "bot/lib/strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Limits that keep a hostile or broken template (or a huge data set) from
 * blowing the stack or memory: rendering recurses once per nesting level, and
 * nested $each multiplies work, so both are bounded.
 */
enum {
	MAX_DEPTH      = 64,        /* template nesting: objects, arrays, $each */
	MAX_COST       = 4 << 20,   /* rendered bytes plus per-node/step charges */
	NODE_COST      = 16,        /* charged per output node, per $each step */
	MAX_DIR_DEPTH  = 16,        /* also stops symlink loops in the tree */
	MAX_FILES      = 4096,
	MAX_FILE_SIZE  = 1 << 20,
};

struct scope {
	json_t *v;      /* borrowed: data or an element of a data array */
	size_t index;   /* position inside $each */
	bool item;      /* pushed by $each (so @index means something) */
};

struct render {
	const char *name;
	struct scope scopes[MAX_DEPTH + 1];
	int nscopes;
	struct strbuf ptr;  /* JSON pointer of the template node being rendered */
	size_t cost;        /* budget left */
	int depth;
	bool verbatim;      /* TMPL_VERBATIM: no mrkdwn escaping anywhere */
	char *err;
	size_t errlen;
};

/* tmpl.c */

/* Format an error message into err (errlen bytes; err may be NULL). */
void tmpl_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* tmpl_render.c: the walk, the directives, the budget */

/* Render tmpl with data and flags; tmpl_render_ex() and tmpl_render_json() call it. */
int tmpl_render_tree(const char *name, json_t *tmpl, json_t *data, unsigned flags, json_t **out,
		     char *err, size_t errlen);
/* Write "template NAME: msg at /pointer" into r->err; always VIVA_EINVAL. */
int tmpl_fail(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Take n from the output budget; an error once it is spent. */
int tmpl_charge(struct render *r, size_t n);

/* tmpl_subst.c: variables and {{path}} / {{{path}}} in strings */

/* Whether c is a space, tab, newline or carriage return. */
bool tmpl_is_blank(char c);
/* A copy of s[0..n) without surrounding blanks (caller frees). */
char *tmpl_trimmed(const char *s, size_t n);
/* Resolve path in the scope stack: *val a new reference, or NULL when absent. */
int tmpl_lookup(struct render *r, const char *path, json_t **val);
/* Render a template string: substitute its placeholders, escaping as asked. */
int tmpl_render_string(struct render *r, json_t *t, bool plain, json_t **out);

#endif
