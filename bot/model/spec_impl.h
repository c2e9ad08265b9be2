#ifndef VIVA_BOT_MODEL_SPEC_IMPL_H
#define VIVA_BOT_MODEL_SPEC_IMPL_H

/*
 * Internal to the spec's own files (bot/model/spec*.c; spec.c has the map of
 * which file does what): the validation context and the helpers they share.
 * Everything outside them uses spec.h only.
 */
#include "bot/model/spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct yamltree;

/* Entries per list or map: keeps the duplicate checks' quadratic cost small. */
#define SPEC_MAX_ENTRIES 256

/* Validation state, shared by the YAML loading and the tree walk. */
struct vctx {
	struct spec_errors *errs;
	const struct yamltree *tree;  /* where paths came from; NULL for form input */
	size_t base;          /* errs->n when this call started */
	size_t count;         /* errors added by this call */
	bool truncated;
	bool parse_error;     /* -> VIVA_EPARSE rather than VIVA_EINVAL */
};

/* spec.c */

/* pipeline.type names by enum spec_type, NULL-terminated. */
extern const char *const spec_type_names[];
/* pipeline.interface names by enum spec_iface, NULL-terminated. */
extern const char *const spec_iface_names[];
/* Whether s is one of v[0..n). */
bool spec_list_has(char *const *v, size_t n, const char *s);

/* spec_errors.c: errors into v->errs (at most SPEC_MAX_ERRORS, then a note) */

/* An error at path, on the line of path or of its nearest recorded ancestor. */
void spec_verr(struct vctx *v, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error at path on the given line. */
void spec_verr_at(struct vctx *v, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A document-level problem that makes the input unusable; returns VIVA_EPARSE. */
int spec_perr(struct vctx *v, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Puts this call's errors in document order and adds the "too many" note. */
void spec_vctx_finish(struct vctx *v);
/* A value quoted for a message: "abc", escaped, cut (caller frees). */
char *spec_show(const char *s);
/* The error path: "<value>" what. */
void spec_verr_val(struct vctx *v, const char *path, const char *val, const char *what);

/* spec_errors.c: reading the tree, reporting at base.key */

/* What j is, for messages: "a mapping", "a list", "a string", ... */
const char *spec_kind(const json_t *j);
/* obj[key], NULL when absent or null: a null value means "not given". */
json_t *spec_member(const json_t *obj, const char *key);
/* Reports each key of obj that is not in known (NULL-terminated). */
void spec_check_keys(struct vctx *v, json_t *obj, const char *base, const char *const *known);
/* The shortest "%g" text that reads back as d (caller frees). */
char *spec_real_text(double d);
/* A scalar as text (caller frees); NULL, with an error, for anything else. */
char *spec_get_text(struct vctx *v, const json_t *j, const char *path);
/* obj[key] as text into *out (NULL when not given); false when an error was reported. */
bool spec_opt_text(struct vctx *v, json_t *obj, const char *base, const char *key,
		   bool required, char **out);
/* obj[key] as a mapping, NULL when absent (error when required) or not one. */
json_t *spec_opt_map(struct vctx *v, json_t *obj, const char *base, const char *key,
		     bool required);
/* obj[key] as a list of at most SPEC_MAX_ENTRIES, NULL when absent or not one. */
json_t *spec_opt_list(struct vctx *v, json_t *obj, const char *base, const char *key,
		      bool required);

/* spec_validate.c */

/* Whether c is an ASCII digit. */
bool spec_is_digit(char c);
/* The walk shared by YAML and form input. *out only when there is no error. */
void spec_validate(struct vctx *v, json_t *root, struct spec **out);

/* spec_validate_run.c: one top-level field each, into s */

/* build: environments, gradle, docker. */
void spec_check_build(struct vctx *v, json_t *root, struct spec *s);
/* resources: per environment instance, cpu and memory. */
void spec_check_resources(struct vctx *v, json_t *root, struct spec *s);
/* batches: name, schedule and command of each CronJob. */
void spec_check_batches(struct vctx *v, json_t *root, struct spec *s);

#endif
