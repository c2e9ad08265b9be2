/*
 * The envelope scanner judged against jansson, the parser the workers use:
 * shared by tests/test_envscan.c and tests/fuzz/fuzz_envscan.c. Returns NULL
 * when they agree, else what differs.
 */
#ifndef VIVA_ENVSCAN_CHECK_H
#define VIVA_ENVSCAN_CHECK_H

#include <jansson.h>
#include <string.h>

#include "bot/slack/envscan.h"

static int envscan_check_depth(const json_t *j)
{
	int d = 0;

	if (json_is_object(j)) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)j, k, v) {
			int x = envscan_check_depth(v);
			if (x > d)
				d = x;
		}
		return d + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach(j, i, v) {
			int x = envscan_check_depth(v);
			if (x > d)
				d = x;
		}
		return d + 1;
	}
	return 0;
}

/* Crude: a run of 19+ digits, or an exponent of 3+ digits, which the scanner
 * refuses on purpose (jansson may not hold them). */
static int envscan_check_big_number(const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (++run >= 19)
				return 1;
			continue;
		}
		run = 0;
		if ((s[i] == 'e' || s[i] == 'E') && i + 3 < n) {
			size_t k = i + 1;
			if (s[k] == '+' || s[k] == '-')
				k++;
			if (k + 2 < n && s[k] >= '0' && s[k] <= '9' && s[k + 1] >= '0' && s[k + 1] <= '9' &&
			    s[k + 2] >= '0' && s[k + 2] <= '9')
				return 1;
		}
	}
	return 0;
}

/* A field the scanner picked out must be jansson's value, exactly. */
static const char *envscan_check_field(const json_t *v, const char *got, const char *what)
{
	if (!got[0])
		return NULL;   /* nothing kept: not a plain string, or escaped */
	if (!json_is_string(v) || strcmp(json_string_value(v), got) != 0)
		return what;
	return NULL;
}

static const char *envscan_check(const char *s, size_t n)
{
	struct envelope_head h;
	json_error_t err;
	int rc = envelope_scan(s, n, &h);
	json_t *j = json_loadb(s, n, 0, &err);
	const char *bad = NULL;

	if (rc == 0) {
		json_t *p;

		if (!j) {
			bad = "scanner accepted what jansson refused";
			goto out;
		}
		if (!json_is_object(j)) {
			bad = "scanner accepted a non-object";
			goto out;
		}
		if (h.uncertain)
			goto out;   /* it claims nothing about the fields */
		p = json_object_get(j, "payload");
		if (h.has_payload != json_is_object(p)) {
			bad = "payload object flag";
			goto out;
		}
		bad = envscan_check_field(json_object_get(j, "envelope_id"), h.envelope_id, "envelope_id");
		if (!bad)
			bad = envscan_check_field(json_object_get(j, "type"), h.type, "type");
		if (!bad)
			bad = envscan_check_field(json_is_object(p) ? json_object_get(p, "type") : NULL,
						  h.payload_type, "payload.type");
		if (!bad && !json_is_object(p) && h.payload_type[0])
			bad = "payload.type without a payload object";
	} else if (j && json_is_object(j) && envscan_check_depth(j) <= ENVSCAN_MAX_DEPTH &&
		   !memchr(s, '\0', n) && !envscan_check_big_number(s, n)) {
		/* (jansson lets a NUL byte after a number pass; JSON does not. A
		 * frame the scanner refuses takes the loop's jansson path anyway.) */
		bad = "scanner refused an object jansson read";
	}
out:
	json_decref(j);
	return bad;
}

#endif
