/* A node's report: parsing, and the lines worth showing (see report.h). */
#include "bot/nodes/report.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool version_ok(const char *v)
{
	size_t n = strlen(v);

	if (n < 2 || n >= sizeof(((struct node_report *)0)->kubelet_version) || v[0] != 'v' ||
	    v[1] < '0' || v[1] > '9')
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = v[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
		      c == '-' || c == '+'))
			return false;
	}
	return true;
}

int node_report_parse(const char *body, size_t len, struct node_report *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j, *v;
	const char *s;
	int rc = VIVA_EINVAL;

	memset(out, 0, sizeof(*out));
	j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je) : NULL;
	if (!j) {
		snprintf(err, errlen, "the body is not JSON (%s)", body ? je.text : "empty");
		return VIVA_EINVAL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	v = json_object_get(j, "phase");
	s = json_string_value(v);
	if (!s || (strcmp(s, "join") != 0 && strcmp(s, "upgrade") != 0)) {
		snprintf(err, errlen, "phase must be \"join\" or \"upgrade\"");
		goto out;
	}
	snprintf(out->phase, sizeof(out->phase), "%s", s);
	v = json_object_get(j, "ok");
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "ok must be true or false");
		goto out;
	}
	out->ok = json_is_true(v);
	v = json_object_get(j, "kubeletVersion");
	if (v && !json_is_null(v)) {
		s = json_string_value(v);
		if (!s || (*s && !version_ok(s))) {
			snprintf(err, errlen, "kubeletVersion must look like v1.25.6");
			goto out;
		}
		snprintf(out->kubelet_version, sizeof(out->kubelet_version), "%s", s);
	}
	v = json_object_get(j, "output");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		snprintf(err, errlen, "output must be a string");
		goto out;
	}
	out->output = node_report_decisive(json_string_value(v));
	rc = VIVA_OK;
out:
	json_decref(j);
	return rc;
}

void node_report_release(struct node_report *r)
{
	free(r->output);
	r->output = NULL;
}

static bool is_tok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Add one line (at most NODE_REPORT_LINE bytes) to sb, tokens and controls blanked. */
static void add_line(struct strbuf *sb, const char *p, size_t n)
{
	size_t i;

	if (n > NODE_REPORT_LINE)
		n = NODE_REPORT_LINE;
	if (sb->len + n + 1 > NODE_REPORT_MAX)
		return;
	for (i = 0; i < n; i++) {
		/* [a-z0-9]{6} "." [a-z0-9]{16}, not inside a longer word */
		if (i + 23 <= n && (i == 0 || !is_tok(p[i - 1])) && p[i + 6] == '.' &&
		    (i + 23 == n || !is_tok(p[i + 23]))) {
			size_t k;
			for (k = 0; k < 23 && (k == 6 || is_tok(p[i + k])); k++)
				;
			if (k == 23) {
				sb_adds(sb, "<token>");
				i += 22;
				continue;
			}
		}
		sb_addc(sb, (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? ' ' : p[i]);
	}
	sb_addc(sb, '\n');
}

static bool decisive(const char *p, size_t n)
{
	static const char *const marks[] = { "[ERROR", "error execution phase" };

	for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		size_t ml = strlen(marks[m]);
		for (size_t i = 0; i + ml <= n; i++)
			if (memcmp(p + i, marks[m], ml) == 0)
				return true;
	}
	return false;
}

char *node_report_decisive(const char *output)
{
	struct strbuf sb;
	const char *p, *e, *start[NODE_REPORT_TAIL];
	size_t len[NODE_REPORT_TAIL], seen = 0, found = 0;

	sb_init(&sb);
	if (!output)
		return sb_detach(&sb);
	/* the kubeadm lines that decide, in order */
	for (p = output; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		if (decisive(p, (size_t)(e - p))) {
			add_line(&sb, p, (size_t)(e - p));
			found++;
		}
	}
	if (found)
		goto done;
	/* else the last non-empty lines */
	for (p = output; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		if (e - p > 1 || (e - p == 1 && *p != '\r')) {
			start[seen % NODE_REPORT_TAIL] = p;
			len[seen % NODE_REPORT_TAIL] = (size_t)(e - p);
			seen++;
		}
	}
	for (size_t i = seen > NODE_REPORT_TAIL ? seen - NODE_REPORT_TAIL : 0; i < seen; i++)
		add_line(&sb, start[i % NODE_REPORT_TAIL], len[i % NODE_REPORT_TAIL]);
done:
	if (sb.len && sb.buf[sb.len - 1] == '\n')
		sb.buf[--sb.len] = '\0';
	return sb_detach(&sb);
}
