#ifndef VIVA_BOT_MODEL_BUILTIN_H
#define VIVA_BOT_MODEL_BUILTIN_H

#include <stddef.h>

/*
 * The files of templates/ as built into ./viva (bot/model/embed.sh makes
 * the table at build time): Block Kit messages (slack/), Kubernetes objects
 * (k8s/, with their README.md), node files later. viva needs no file beside it; an operator's directory
 * (VIVA_TEMPLATES / templates_dir) overrides them file by file, and
 * `viva templates dump DIR` writes them out to start from.
 */
struct builtin_file {
	const char *path;              /* under templates/: "slack/help.json" */
	const unsigned char *data;     /* NUL-terminated */
	size_t len;                    /* without the NUL */
	unsigned mode;                 /* 0644, or 0755 for scripts */
};

extern const struct builtin_file builtin_files[];
extern const size_t builtin_files_len;

/* The built-in file at path, or NULL. */
const struct builtin_file *builtin_find(const char *path);

/*
 * Write every built-in file under dir (created as needed). Existing files
 * are left alone unless overwrite is set; *written and *skipped count them
 * (either may be NULL). VIVA_EIO with err set when a file cannot be written.
 */
int builtin_dump(const char *dir, int overwrite, size_t *written, size_t *skipped,
		 char *err, size_t errlen);

#endif
