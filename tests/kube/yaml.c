/*
 * YAML request bodies (application/apply-patch+yaml, application/yaml)
 * and seed files to JSON, typed as the API server's YAML decoder types
 * plain scalars (YAML 1.2 core schema: null, booleans, integers, floats;
 * everything else a string). JSON text is read by jansson directly. Several
 * documents give several values. Bounded: nesting, node count, size.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_NODES 200000

struct build {
	yaml_document_t *doc;
	size_t nodes;
	char *err;
};

static bool is_int(const char *s)
{
	const char *p = s;

	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o'))
		return p[2] != '\0';
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

static json_t *plain_scalar(const char *s)
{
	char *end;

	if (!s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return json_false();
	if (is_int(s)) {
		long long v;
		errno = 0;
		if (strstr(s, "0o"))
			v = strtoll(strstr(s, "0o") + 2, &end, 8) * (s[0] == '-' ? -1 : 1);
		else
			v = strtoll(s, &end, 0);
		if (!errno && !*end)
			return json_integer(v);
	}
	if (strcmp(s, ".inf") == 0 || strcmp(s, "+.inf") == 0 || strcmp(s, "-.inf") == 0 || strcmp(s, ".nan") == 0)
		return json_string(s);   /* JSON has no infinities: kept as text */
	if ((isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+' || s[0] == '.') && s[1])) &&
	    strspn(s, "0123456789+-.eE") == strlen(s)) {
		double d;
		errno = 0;
		d = strtod(s, &end);
		if (!errno && !*end && isfinite(d))
			return json_real(d);
	}
	return json_string(s);
}

static json_t *node_json(struct build *b, yaml_node_t *n, int depth)
{
	json_t *out;

	if (!n || depth > MAX_DEPTH || ++b->nodes > MAX_NODES) {
		if (!b->err)
			b->err = xstrdup(depth > MAX_DEPTH ? "YAML nested too deep" : "YAML has too many nodes");
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		/* libyaml's loader tags every untagged scalar !!str, so an explicit
		 * !!str on a plain scalar is not seen: manifests quote instead */
		const char *s = (const char *)n->data.scalar.value;
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_stringn(s, n->data.scalar.length);
		return plain_scalar(s);
	}
	case YAML_SEQUENCE_NODE:
		out = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			json_t *v = node_json(b, yaml_document_get_node(b->doc, *it), depth + 1);
			if (!v) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, v);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *kn = yaml_document_get_node(b->doc, p->key);
			json_t *v;
			if (!kn || kn->type != YAML_SCALAR_NODE) {
				if (!b->err)
					b->err = xstrdup("YAML mapping key is not a scalar");
				json_decref(out);
				return NULL;
			}
			v = node_json(b, yaml_document_get_node(b->doc, p->value), depth + 1);
			if (!v) {
				json_decref(out);
				return NULL;
			}
			json_object_setn_new(out, (const char *)kn->data.scalar.value, kn->data.scalar.length, v);
		}
		return out;
	default:
		return json_null();
	}
}

json_t *kf_yaml_to_json(const char *text, size_t len, char **err)
{
	yaml_parser_t parser;
	json_t *docs = json_array();
	size_t skip = 0;

	*err = NULL;
	while (skip < len && isspace((unsigned char)text[skip]))
		skip++;
	if (skip < len && (text[skip] == '{' || text[skip] == '[')) {
		json_error_t jerr;
		json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
		if (j) {
			json_array_append_new(docs, j);
			return docs;
		}
		/* not JSON after all: YAML flow style reads it */
	}
	if (len > 8 * 1024 * 1024) {
		*err = xstrdup("YAML document too large");
		json_decref(docs);
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		json_decref(docs);
		*err = xstrdup("cannot initialize the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (int guard = 0; guard < 10000; guard++) {
		yaml_document_t doc;
		yaml_node_t *root;
		struct build b = { .doc = &doc };
		json_t *v;

		if (!yaml_parser_load(&parser, &doc)) {
			*err = xasprintf("error converting YAML to JSON: yaml: line %zu: %s", parser.problem_mark.line + 1,
					 parser.problem ? parser.problem : "syntax error");
			json_decref(docs);
			docs = NULL;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		v = node_json(&b, root, 0);
		yaml_document_delete(&doc);
		if (!v) {
			*err = b.err ? b.err : xstrdup("cannot convert YAML");
			json_decref(docs);
			docs = NULL;
			break;
		}
		free(b.err);
		json_array_append_new(docs, v);
	}
	yaml_parser_delete(&parser);
	return docs;
}
