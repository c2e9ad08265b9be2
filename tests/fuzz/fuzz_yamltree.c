/* libFuzzer: the YAML loader. Any input, with and without aliases: no crash,
 * no leak, one-line errors, and a tree whose positions answer for every path
 * the tree itself has. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"
#include "bot/lib/yamltree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Ask where every node is, as a validator would (bounded by the node cap). */
static void walk(const struct yamltree *t, json_t *j, const char *path, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (yamltree_line(t, path) < 0 || depth > YAMLTREE_MAX_DEPTH + 1)
		abort();
	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			char *p = yamltree_path_key(path, key);

			walk(t, v, p, depth + 1);
			free(p);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			char *p = yamltree_path_index(path, i);

			walk(t, v, p, depth + 1);
			free(p);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small node cap: alias-heavy inputs stay quick to walk. */
	struct yamltree_limits lim = { .max_nodes = 5000, .aliases = size > 0 && (data[0] & 1) };
	struct yamltree *t = NULL;
	struct yamltree_error e;
	int rc;

	log_set_level(LOG_OFF);
	rc = yamltree_parse((const char *)data, size, &lim, &t, &e);
	if (rc != VIVA_OK) {
		if (t || rc != VIVA_EPARSE || memchr(e.msg, '\n', strlen(e.msg)))
			abort();
		return 0;
	}
	if (!yamltree_root(t))
		abort();
	walk(t, yamltree_root(t), "", 0);
	for (size_t i = 0; i < yamltree_ndups(t); i++)
		if (!yamltree_dup(t, i)->key || yamltree_dup(t, i)->line < 1)
			abort();
	yamltree_free(t);
	return 0;
}
