#ifndef VIVA_BOT_LIB_YAMLTREE_H
#define VIVA_BOT_LIB_YAMLTREE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * YAML text -> a jansson tree, plus where every node came from, so that a
 * validator can say `viva.yaml:7: thresholds.lag_days: ...` or
 * `resources.alpha.cpu: "abc" is not a CPU quantity (service-a.yaml:14)`.
 * One loader for every YAML file viva reads (viva.yaml, pipeline specs,
 * cluster configs); the validators walk the tree.
 *
 * Scalars are typed the same way for every file, and deliberately little:
 *   - plain (unquoted, untagged) `~`, `null`, `Null`, `NULL` and an empty
 *     value are JSON null;
 *   - plain `true` and `false`, exactly so, are JSON booleans;
 *   - everything else is a JSON string holding the text as written. Numbers
 *     stay text ("0.05", "21", "1.8", "007", "0x1F", "1e3", ".inf"), so
 *     nothing is rounded and the validator decides what a number is; YAML
 *     1.1's yes/no/on/off/y/n and True/FALSE are strings too (no "Norway
 *     problem").
 *   - quoted scalars, and scalars tagged !!str or `!`, are always strings
 *     ("true", "~" and "" included).
 *   - mapping keys are always strings, as written.
 * Tags other than !!str, !!seq and !!map (on the matching node) and `!` are
 * refused (!!binary, !!int, !custom): viva reads text, lists and mappings.
 * Merge keys (`<<`) have no special meaning.
 *
 * Anchors and aliases: refused when limits.aliases is false (an alias is an
 * error; an anchor alone is harmless). When true, an alias shares the
 * anchored node (json_incref, no copy) and counts as every node it stands
 * for against max_nodes, so "billion laughs" stops at max_nodes, and a
 * consumer that walks the whole tree never walks more than that. Treat the
 * tree as read-only: aliased nodes are shared.
 *
 * Refused outright (yamltree_parse fails with one error, with line and
 * column): text over max_bytes, nesting deeper than max_depth, more than
 * max_nodes nodes, more than one document, keys that are lists or mappings
 * or aliases or hold a NUL, aliases (see above) or an alias naming no
 * earlier anchor, unsupported tags, and everything libyaml refuses (syntax,
 * invalid UTF-8, NUL and other control characters, tabs as indentation).
 *
 * Kept but reported: a key repeated in one mapping. The first value stays;
 * later ones are dropped, unvalidated. The repeats are listed
 * (yamltree_ndups) and callers must treat each as an error.
 *
 * Error messages never quote a value from the text (values may be secrets);
 * they may quote a tag or an anchor name, cut short.
 *
 * Paths: "" is the root, "a.b" a mapping member, "a[1]" a list item, e.g.
 * "resources.alpha.cpu", "batches[0].command[2]". Keys holding '.' or '['
 * are not escaped: paths are for messages. yamltree_path_key() and
 * yamltree_path_index() build them the same way for validators.
 */

/* Defaults for zero fields of struct yamltree_limits. */
#define YAMLTREE_MAX_BYTES (1024 * 1024)
#define YAMLTREE_MAX_DEPTH 32
#define YAMLTREE_MAX_NODES 100000
/* Repeated keys listed at most (later ones are still dropped). */
#define YAMLTREE_MAX_DUPS  100

struct yamltree_limits {
	size_t max_bytes;   /* 0: YAMLTREE_MAX_BYTES */
	int max_depth;      /* lists and mappings open at once; 0: YAMLTREE_MAX_DEPTH */
	size_t max_nodes;   /* scalars, keys, lists, mappings, aliases expanded; 0: default */
	bool aliases;       /* allow aliases (bounded by max_nodes) */
};

struct yamltree_error {
	int line;       /* 1-based; 0 when about the whole text (too large) */
	int col;        /* 1-based; 0 when there is none */
	bool syntax;    /* libyaml's parser refused the text (a syntax error) */
	char msg[384];  /* one line, no position, e.g. "nested deeper than 32 levels" */
};

/* A key repeated in one mapping. Strings belong to the tree. */
struct yamltree_dup {
	char *parent;          /* path of the mapping ("" top level); NULL when too long to keep */
	char *key;             /* the key as written */
	int line, col;         /* of the repeat */
	int first_line, first_col;  /* of the first; 0 when not recorded */
};

struct yamltree;

/*
 * Parse text (len bytes; need not be NUL-terminated). limits may be NULL
 * (defaults, no aliases). On success returns VIVA_OK and *out (free with
 * yamltree_free). On failure returns VIVA_EPARSE (VIVA_EINVAL for a NULL
 * text with len > 0), fills *err (may be NULL) and sets *out to NULL.
 * Never crashes or leaks on any input; out of memory aborts.
 */
int yamltree_parse(const char *text, size_t len, const struct yamltree_limits *limits,
		   struct yamltree **out, struct yamltree_error *err);

void yamltree_free(struct yamltree *t);

/* The document (borrowed); JSON null for an empty text. Never NULL for a tree. */
json_t *yamltree_root(const struct yamltree *t);

/*
 * Where path came from: for a mapping member the position of its key, for a
 * list item and the root their own. A path that was not recorded (a missing
 * key, a node inside an alias, past the bounds that keep the table small
 * for hostile input) takes the position of its nearest recorded ancestor,
 * else the root's. Returns true when path itself was recorded. line and
 * col are 0 for a NULL tree or an empty text; either pointer may be NULL.
 */
bool yamltree_where(const struct yamltree *t, const char *path, int *line, int *col);
/* yamltree_where's line. */
int yamltree_line(const struct yamltree *t, const char *path);

/* Repeated keys, in the order they appear. */
size_t yamltree_ndups(const struct yamltree *t);
const struct yamltree_dup *yamltree_dup(const struct yamltree *t, size_t i);

/* Paths as yamltree records them (caller frees): "base.key" ("key" for the
 * root), "base[i]". */
char *yamltree_path_key(const char *base, const char *key);
char *yamltree_path_index(const char *base, size_t i);

#endif
