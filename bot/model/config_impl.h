#ifndef VIVA_BOT_MODEL_CONFIG_IMPL_H
#define VIVA_BOT_MODEL_CONFIG_IMPL_H

/*
 * Internal to the config loader's own files (bot/model/config*.c): the
 * loader's state, the shape of the viva.yaml key tables, and the helpers
 * the files share. Everything else uses config.h only.
 */
#include "bot/model/config.h"
#include "bot/model/dotenv.h"
#include "bot/lib/yamltree.h"

#include <stdbool.h>
#include <stddef.h>

/* How much of a bad value an error line may quote. */
#define SHOW_MAX           48

/* ---- loader state --------------------------------------------------------- */

struct ld {
	struct viva_config *cfg;
	struct dotenv dotenv;
	const char *env_file;
	const char *yaml_path;         /* as shown in messages */
	const struct yamltree *tree;   /* viva.yaml while it is walked */
	char *err;
	size_t errlen;
};

/* ---- the schema ----------------------------------------------------------- */

/* A value check: NULL when fine, else what is wrong. */
typedef const char *(*check_fn)(const char *v);

struct field;
typedef int (*field_fn)(struct ld *ld, const json_t *v, const char *path);

enum fkind { F_STR, F_INT, F_DUR, F_BOOL, F_MAP, F_FUNC };

struct field {
	const char *key;
	enum fkind kind;
	size_t off;               /* F_STR, F_INT, F_BOOL: offset in the base struct */
	int min, max;             /* F_INT; F_DUR: in seconds */
	check_fn check;           /* F_STR */
	bool quiet;               /* F_STR: do not quote the value in errors */
	bool home;                /* F_STR: expand a leading ~/ */
	const struct field *sub;  /* F_MAP */
	field_fn fn;              /* F_FUNC */
};

#define CFG(m) offsetof(struct viva_config, m)

/* ---- config_value.c: one value -------------------------------------------- */

/* s (n bytes, not a secret) quoted into buf for an error line; returns buf. */
const char *config_show(char *buf, size_t buflen, const char *s, size_t n);
/* Frees *slot and stores v (the slot owns it). */
void config_replace_str(char **slot, char *v);
/* Whether s starts with prefix. */
bool config_has_prefix(const char *s, const char *prefix);
/* Whether s is an http:// or https:// URL with no space or control byte. */
bool config_is_http_url(const char *s);
/* Whether s holds a control character. */
bool config_has_control(const char *s);
/* A whole number of at most 12 characters, an optional '-' first. */
bool config_parse_whole(const char *s, long *out);
/* "~/x" -> "$HOME/x" in place; false when s needs HOME and there is none. */
bool config_expand_home(char **s);

/* ---- config_env.c: environment variables ---------------------------------- */

/* name from the environment, else .env (*from says which); NULL when unset or empty. */
const char *config_lookup(const struct ld *ld, const char *name, const char **from);
/* The environment variables over the config; VIVA_EINVAL with ld->err on a bad one. */
int config_apply_env(struct ld *ld);

/* ---- config_yaml.c: reading viva.yaml ------------------------------------- */

/* "viva.yaml:LINE: message" into ld->err, LINE being where path is; returns VIVA_EINVAL. */
int config_yaml_fail(struct ld *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "a mapping", "a list" or "a scalar", for messages. */
const char *config_node_kind(const json_t *v);
/* A scalar's text (*len its length); NULL for null, lists and mappings. */
const char *config_scalar_text(const json_t *v, size_t *len);
/* VIVA_OK when node is a mapping or null, else an error naming path. */
int config_as_mapping(struct ld *ld, const json_t *node, const char *path);
/* Sets the fields of base from the mapping node, by the table fields; unknown keys are errors. */
int config_walk_map(struct ld *ld, const json_t *node, const char *prefix,
		    const struct field *fields, void *base);
/* Reads ld->yaml_path into ld->cfg; a missing file is fine unless explicit (VIVA_CONFIG set). */
int config_load_yaml(struct ld *ld, bool explicit);

/* ---- config_schema.c: the viva.yaml keys ---------------------------------- */

/* The top level of viva.yaml; its rows name the other sections' tables. */
extern const struct field config_top_fields[];
/* Each environment's cluster is defined under clusters (checked once the file is read). */
int config_check_env_clusters(struct ld *ld);

#endif
