#ifndef VIVA_BOT_NODES_NODEFILES_IMPL_H
#define VIVA_BOT_NODES_NODEFILES_IMPL_H

/*
 * Internal to the node files' own files (bot/nodes/nodefiles*.c): the
 * template engine that nodefiles.c runs over each file of a tree. Its
 * syntax and rules are nodefiles.h's.
 */
#include <jansson.h>
#include <stddef.h>

#include "bot/lib/strbuf.h"

/* What one tree may render to, in all. */
#define NODETMPL_OUT_MAX   ((size_t)8 << 20)
/* Sections open at once. */
#define NODETMPL_MAX_DEPTH 16

/*
 * Render text (len bytes, no NUL inside) with vars (name -> string) onto
 * out. name is the file for messages ("templates/node/1.25.6/etc/x.toml").
 * *budget is how many bytes out may still take; it is decremented.
 * Returns VIVA_OK, VIVA_EINVAL (err: "NAME:LINE: what", e.g. an unknown
 * placeholder, an unclosed section) or VIVA_ERANGE (past the budget).
 */
int nodetmpl_render(const char *name, const char *text, size_t len, const json_t *vars, size_t *budget,
		    struct strbuf *out, char *err, size_t errlen);

#endif
