/* YAML text -> jansson tree with positions (see yamltree.h). */
#include "bot/lib/yamltree.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/*
 * How it works: libyaml's event parser (not its document loader, which
 * expands nothing but keeps the whole node graph and gives no hook for
 * limits) feeds a stack of open lists and mappings. Each node is attached
 * to the innermost open one as it completes, and its path -> position goes
 * into a table. Limits are checked as events arrive, so hostile input is
 * refused before it costs anything.
 *
 * The position table is bounded so that hostile input (a 100 KiB key above
 * a list of 60 000 items) cannot make it quadratic: paths longer than
 * TRACK_PATH_MAX and nodes past TRACK_NODES_MAX are not recorded, and
 * yamltree_where() answers for them with the nearest recorded ancestor.
 * Real files stay far below both.
 */
#define TRACK_PATH_MAX  512
#define TRACK_NODES_MAX 20000
/* How much of a tag or an anchor name a message quotes. */
#define NAME_SHOW_MAX   40

#define CORE_TAG        "tag:yaml.org,2002:"

struct pos {
	int line, col;
};

struct yamltree {
	json_t *root;
	struct pos root_pos;
	json_t *where;          /* path -> integer index into pos */
	struct pos *pos;
	size_t npos, cappos;
	struct yamltree_dup *dups;
	size_t ndups;
};

struct frame {
	json_t *node;        /* our reference */
	char *path;          /* NULL when longer than TRACK_PATH_MAX */
	char *key;           /* mapping: the key waiting for its value */
	struct pos key_pos;
	char *anchor;        /* registered when the node closes */
	size_t weight;       /* nodes it stands for, aliases expanded */
	size_t index;        /* list: the next item's index */
	bool dropped;        /* under a repeated key: built, never attached */
};

struct builder {
	const char *text;
	size_t len;
	struct yamltree_limits lim;
	struct yamltree *t;
	struct frame *st;
	int depth;
	json_t *anchors;     /* name -> node (only when aliases are allowed) */
	json_t *weights;     /* name -> its weight */
	size_t nodes;
	bool have_root;
	struct yamltree_error *err;
};

/* ---- paths ------------------------------------------------------------------ */

char *yamltree_path_key(const char *base, const char *key)
{
	return base && *base ? xasprintf("%s.%s", base, key) : xstrdup(key);
}

char *yamltree_path_index(const char *base, size_t i)
{
	return xasprintf("%s[%zu]", base ? base : "", i);
}

/* ---- errors ----------------------------------------------------------------- */

static int to_int(size_t n)
{
	return n > INT_MAX ? INT_MAX : (int)n;
}

static struct pos mark_pos(yaml_mark_t m)
{
	struct pos p = { to_int(m.line + 1), to_int(m.column + 1) };

	return p;
}

static int fail(struct builder *b, struct pos at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct builder *b, struct pos at, const char *fmt, ...)
{
	va_list ap;

	if (b->err) {
		b->err->line = at.line;
		b->err->col = at.col;
		b->err->syntax = false;
		va_start(ap, fmt);
		vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
		va_end(ap);
	}
	return VIVA_EPARSE;
}

/* A tag or anchor name for a message: printable ASCII, cut short. */
static const char *show_name(char *buf, size_t buflen, const char *s)
{
	size_t o = 0;

	for (; *s && o + 4 < buflen; s++) {
		unsigned char c = (unsigned char)*s;

		if (o == NAME_SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (c > ' ' && c < 0x7f) ? (char)c : '?';
	}
	buf[o] = '\0';
	return buf;
}

static void offset_pos(const char *buf, size_t len, size_t off, struct pos *p)
{
	size_t l = 1, c = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	p->line = to_int(l);
	p->col = to_int(c);
}

static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "syntax error";
	const char *hint = "";
	struct pos at;
	int err;

	if (p->error == YAML_MEMORY_ERROR) {
		/* Out of memory aborts, as everywhere in viva. */
		log_error("out of memory", "where=%s", "yaml parser");
		abort();
	}
	if (p->error == YAML_READER_ERROR) {
		offset_pos(b->text, b->len, p->problem_offset, &at);
		return fail(b, at, "not a YAML text: %s", problem);
	}
	/* The classic mistake gets named: YAML refuses tabs for indentation. */
	if (p->problem_mark.index < b->len && b->text[p->problem_mark.index] == '\t')
		hint = " (YAML indents with spaces, not tabs)";
	at = mark_pos(p->problem_mark);
	if (p->context)
		err = fail(b, at, "%s %s that started at line %zu%s", problem, p->context,
			   p->context_mark.line + 1, hint);
	else
		err = fail(b, at, "%s%s", problem, hint);
	if (b->err)
		b->err->syntax = true;
	return err;
}

/* ---- the position table ----------------------------------------------------- */

static void record(struct yamltree *t, const char *path, struct pos at)
{
	if (t->npos >= TRACK_NODES_MAX)
		return;
	if (t->npos == t->cappos) {
		t->cappos = t->cappos ? t->cappos * 2 : 64;
		t->pos = xrealloc(t->pos, t->cappos * sizeof(*t->pos));
	}
	/* Keys are valid UTF-8 (libyaml checks the text); a failure only loses a line. */
	if (json_object_set_new(t->where, path, json_integer((json_int_t)t->npos)) == 0)
		t->pos[t->npos++] = at;
}

static bool lookup(const struct yamltree *t, const char *path, struct pos *at)
{
	json_t *j = json_object_get(t->where, path);

	if (!j)
		return false;
	*at = t->pos[json_integer_value(j)];
	return true;
}

/* ---- building --------------------------------------------------------------- */

static void frame_release(struct frame *f)
{
	json_decref(f->node);
	free(f->path);
	free(f->key);
	free(f->anchor);
	memset(f, 0, sizeof(*f));
}

static int count(struct builder *b, size_t n, struct pos at)
{
	if (n > b->lim.max_nodes - b->nodes)
		return fail(b, at, "more than %zu YAML nodes%s", b->lim.max_nodes,
			    b->lim.aliases ? " (aliases count as what they stand for)" : "");
	b->nodes += n;
	return VIVA_OK;
}

static bool event_is(const yaml_event_t *ev, const char *s)
{
	return ev->data.scalar.length == strlen(s) &&
	       !memcmp(ev->data.scalar.value, s, ev->data.scalar.length);
}

/* The typing rules of yamltree.h. NULL when the text is not valid UTF-8. */
static json_t *scalar_json(const yaml_event_t *ev)
{
	/* libyaml calls `! true` plain_implicit too; YAML says `!` means text. */
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.plain_implicit &&
	    !ev->data.scalar.tag) {
		if (event_is(ev, "") || event_is(ev, "~") || event_is(ev, "null") ||
		    event_is(ev, "Null") || event_is(ev, "NULL"))
			return json_null();
		if (event_is(ev, "true"))
			return json_true();
		if (event_is(ev, "false"))
			return json_false();
	}
	return json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
}

/* tag may be NULL; core is "str", "seq" or "map". */
static int check_tag(struct builder *b, const yaml_char_t *tag, const char *core, struct pos at)
{
	const char *t = (const char *)tag;
	char buf[NAME_SHOW_MAX + 8];

	if (!t || !strcmp(t, "!") ||
	    (!strncmp(t, CORE_TAG, strlen(CORE_TAG)) && !strcmp(t + strlen(CORE_TAG), core)))
		return VIVA_OK;
	if (!strncmp(t, CORE_TAG, strlen(CORE_TAG)))
		return fail(b, at, "tag !!%s is not supported here (viva reads text, lists and "
			    "mappings; remove the tag)", show_name(buf, sizeof(buf), t + strlen(CORE_TAG)));
	return fail(b, at, "tag %s is not supported (viva reads text, lists and mappings; "
		    "remove the tag)", show_name(buf, sizeof(buf), t));
}

/* The path of top's next child; NULL when too long to track. */
static char *child_path(const struct frame *top)
{
	size_t n;

	if (!top->path)
		return NULL;
	n = strlen(top->path);
	if (json_is_object(top->node))
		return n + strlen(top->key) + 2 <= TRACK_PATH_MAX ?
			yamltree_path_key(top->path, top->key) : NULL;
	return n + 24 <= TRACK_PATH_MAX ? yamltree_path_index(top->path, top->index) : NULL;
}

static void add_dup(struct builder *b, const struct frame *top)
{
	struct yamltree *t = b->t;
	struct yamltree_dup *d;
	struct pos first = { 0, 0 };
	char *p = child_path(top);

	if (t->ndups >= YAMLTREE_MAX_DUPS) {
		free(p);
		return;
	}
	if (p)
		lookup(t, p, &first);
	free(p);
	t->dups = xrealloc(t->dups, (t->ndups + 1) * sizeof(*t->dups));
	d = &t->dups[t->ndups++];
	d->parent = xstrdup(top->path);
	d->key = xstrdup(top->key);
	d->line = top->key_pos.line;
	d->col = top->key_pos.col;
	d->first_line = first.line;
	d->first_col = first.col;
}

/*
 * Put node (weight nodes) under the innermost open container. *path gets
 * its path (caller frees; NULL when not tracked, may be NULL to skip) and
 * *dropped whether it went nowhere (under a repeated key).
 */
static void attach(struct builder *b, json_t *node, size_t weight, struct pos at, char **path,
		   bool *dropped)
{
	struct frame *top;
	char *p = NULL;

	*dropped = false;
	if (b->depth == 0) {
		if (!b->have_root) {
			b->t->root = json_incref(node);
			b->t->root_pos = at;
			b->have_root = true;
			record(b->t, "", at);
		}
		if (path)
			*path = xstrdup("");
		return;
	}
	top = &b->st[b->depth - 1];
	top->weight += weight;
	*dropped = top->dropped;
	/* A scalar's path is only worth building while the table has room. */
	if (path || b->t->npos < TRACK_NODES_MAX)
		p = child_path(top);
	if (json_is_object(top->node)) {
		at = top->key_pos;
		if (json_object_get(top->node, top->key)) {
			if (!top->dropped)
				add_dup(b, top);
			*dropped = true;
		} else {
			json_object_set(top->node, top->key, node);
		}
		free(top->key);
		top->key = NULL;
	} else {
		top->index++;
		json_array_append(top->node, node);
	}
	if (!*dropped && p)
		record(b->t, p, at);
	if (path)
		*path = p;
	else
		free(p);
}

/* When aliases are allowed: remember node under name for later aliases. */
static int add_anchor(struct builder *b, const yaml_char_t *name, json_t *node, size_t weight,
		      struct pos at)
{
	char buf[NAME_SHOW_MAX + 8];

	if (!name || !b->lim.aliases)
		return VIVA_OK;
	if (json_object_set(b->anchors, (const char *)name, node) ||
	    json_object_set_new(b->weights, (const char *)name, json_integer((json_int_t)weight)))
		return fail(b, at, "anchor &%s: not a usable name",
			    show_name(buf, sizeof(buf), (const char *)name));
	return VIVA_OK;
}

static bool waiting_for_key(const struct builder *b)
{
	const struct frame *top = b->depth ? &b->st[b->depth - 1] : NULL;

	return top && json_is_object(top->node) && !top->key;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct pos at = mark_pos(ev->start_mark);
	json_t *j = NULL;
	bool dropped;
	int err;

	err = count(b, 1, at);
	if (!err)
		err = check_tag(b, ev->data.scalar.tag, "str", at);
	if (err)
		return err;
	j = scalar_json(ev);
	if (!j)
		return fail(b, at, "a value is not valid UTF-8");
	err = add_anchor(b, ev->data.scalar.anchor, j, 1, at);
	if (err)
		goto out;
	if (waiting_for_key(b)) {
		struct frame *top = &b->st[b->depth - 1];

		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			err = fail(b, at, "a key contains a NUL character");
			goto out;
		}
		top->key = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		top->key_pos = at;
		top->weight++;
		goto out;
	}
	attach(b, j, 1, at, NULL, &dropped);
out:
	json_decref(j);
	return err;
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	struct pos at = mark_pos(ev->start_mark);
	const char *name = (const char *)ev->data.alias.anchor;
	char buf[NAME_SHOW_MAX + 8];
	json_t *node;
	size_t weight;
	bool dropped;
	int err;

	if (!b->lim.aliases)
		return fail(b, at, "aliases are not allowed (write the value out)");
	node = json_object_get(b->anchors, name);
	if (!node)
		return fail(b, at, "alias *%s: no anchor &%s before it",
			    show_name(buf, sizeof(buf), name), buf);
	if (waiting_for_key(b))
		return fail(b, at, "keys must be plain text, not aliases");
	weight = (size_t)json_integer_value(json_object_get(b->weights, name));
	err = count(b, weight, at);
	if (err)
		return err;
	attach(b, node, weight, at, NULL, &dropped);
	return VIVA_OK;
}

static int on_open(struct builder *b, const yaml_event_t *ev)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	struct pos at = mark_pos(ev->start_mark);
	struct frame *f;
	int err;

	if (waiting_for_key(b))
		return fail(b, at, "keys must be plain text, not lists or mappings");
	if (b->depth >= b->lim.max_depth)
		return fail(b, at, "nested deeper than %d levels", b->lim.max_depth);
	err = count(b, 1, at);
	if (!err)
		err = check_tag(b, map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag,
				map ? "map" : "seq", at);
	if (err)
		return err;
	f = &b->st[b->depth];
	memset(f, 0, sizeof(*f));
	f->node = map ? json_object() : json_array();
	f->weight = 1;
	f->anchor = xstrdup((const char *)(map ? ev->data.mapping_start.anchor
					       : ev->data.sequence_start.anchor));
	/* The parent counts this node's weight when it closes. */
	attach(b, f->node, 0, at, &f->path, &f->dropped);
	b->depth++;
	return VIVA_OK;
}

static int on_close(struct builder *b, const yaml_event_t *ev)
{
	struct frame *f;
	int err;

	if (b->depth == 0)
		return VIVA_OK;  /* cannot happen: libyaml pairs them */
	f = &b->st[--b->depth];
	err = add_anchor(b, (const yaml_char_t *)f->anchor, f->node, f->weight,
			 mark_pos(ev->start_mark));
	if (b->depth > 0)
		b->st[b->depth - 1].weight += f->weight;
	frame_release(f);
	return err;
}

static int build(struct builder *b)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, err = VIVA_OK;
	bool done = false;

	if (!yaml_parser_initialize(&p)) {
		log_error("out of memory", "where=%s", "yaml_parser_initialize");
		abort();
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)b->text, b->len);
	/* Every event makes a node (counted), closes one, or is one of the few
	 * stream and document events: max_nodes bounds the loop. */
	while (!done && !err) {
		if (!yaml_parser_parse(&p, &ev)) {
			err = syntax_error(b, &p);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				err = fail(b, mark_pos(ev.start_mark),
					   "more than one YAML document (one per file)");
			break;
		case YAML_ALIAS_EVENT:
			err = on_alias(b, &ev);
			break;
		case YAML_SCALAR_EVENT:
			err = on_scalar(b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			err = on_open(b, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			err = on_close(b, &ev);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return err;
}

int yamltree_parse(const char *text, size_t len, const struct yamltree_limits *limits,
		   struct yamltree **out, struct yamltree_error *err)
{
	struct builder b = { 0 };
	struct yamltree *t = NULL;
	int rc;

	*out = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	if (limits)
		b.lim = *limits;
	if (!b.lim.max_bytes)
		b.lim.max_bytes = YAMLTREE_MAX_BYTES;
	if (b.lim.max_depth <= 0)
		b.lim.max_depth = YAMLTREE_MAX_DEPTH;
	if (!b.lim.max_nodes)
		b.lim.max_nodes = YAMLTREE_MAX_NODES;
	b.err = err;
	if (!text && len) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "no text");
		return VIVA_EINVAL;
	}
	b.text = text ? text : "";
	b.len = len;
	if (len > b.lim.max_bytes) {
		struct pos whole = { 0, 0 };

		return fail(&b, whole, "the YAML text is %zu bytes; at most %zu are allowed", len,
			    b.lim.max_bytes);
	}
	t = xcalloc(1, sizeof(*t));
	t->where = json_object();
	b.t = t;
	b.st = xcalloc((size_t)b.lim.max_depth, sizeof(*b.st));
	if (b.lim.aliases) {
		b.anchors = json_object();
		b.weights = json_object();
	}
	rc = build(&b);
	while (b.depth > 0)
		frame_release(&b.st[--b.depth]);
	free(b.st);
	json_decref(b.anchors);
	json_decref(b.weights);
	if (rc) {
		yamltree_free(t);
		return rc;
	}
	if (!t->root)
		t->root = json_null();
	*out = t;
	return VIVA_OK;
}

void yamltree_free(struct yamltree *t)
{
	if (!t)
		return;
	json_decref(t->root);
	json_decref(t->where);
	free(t->pos);
	for (size_t i = 0; i < t->ndups; i++) {
		free(t->dups[i].parent);
		free(t->dups[i].key);
	}
	free(t->dups);
	free(t);
}

/* ---- queries ---------------------------------------------------------------- */

json_t *yamltree_root(const struct yamltree *t)
{
	return t ? t->root : NULL;
}

bool yamltree_where(const struct yamltree *t, const char *path, int *line, int *col)
{
	struct pos at = { 0, 0 };
	bool exact = false;
	char *p;

	if (t) {
		at = t->root_pos;
		p = xstrdup(path ? path : "");
		/* Every round shortens p. */
		for (bool first = true; *p; first = false) {
			char *dot, *br, *cut;

			if (lookup(t, p, &at)) {
				exact = first;
				break;
			}
			dot = strrchr(p, '.');
			br = strrchr(p, '[');
			cut = dot > br ? dot : br;
			if (!cut) {
				at = t->root_pos;
				break;
			}
			*cut = '\0';
		}
		if (!*p && path && !*path)
			exact = t->npos > 0;
		free(p);
	}
	if (line)
		*line = at.line;
	if (col)
		*col = at.col;
	return exact;
}

int yamltree_line(const struct yamltree *t, const char *path)
{
	int line;

	yamltree_where(t, path, &line, NULL);
	return line;
}

size_t yamltree_ndups(const struct yamltree *t)
{
	return t ? t->ndups : 0;
}

const struct yamltree_dup *yamltree_dup(const struct yamltree *t, size_t i)
{
	return t && i < t->ndups ? &t->dups[i] : NULL;
}
