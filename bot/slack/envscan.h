#ifndef VIVA_BOT_SLACK_ENVSCAN_H
#define VIVA_BOT_SLACK_ENVSCAN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What the event loop needs from a Socket Mode frame to ack it and queue it,
 * read without building a JSON tree: the loop then makes no allocation for
 * an envelope, so it never waits on an allocator lock that a preempted
 * worker holds (the worker parses the frame itself).
 */
struct envelope_head {
	char envelope_id[128];   /* "" unless a plain string that fits */
	char type[32];
	char payload_type[32];   /* payload.type, e.g. view_submission */
	char payload_text[48];   /* the leading printable ASCII of payload.text (a slash
				    command's words), cut at an escape, a byte past ASCII
				    or 47 bytes: enough to tell the command, never more */
	bool has_payload;        /* payload is an object */
	bool uncertain;          /* a key of the frame or its payload has escapes:
				    the fields above may not be what jansson reads */
};

/*
 * Checks that s[0..n) is exactly one JSON object (RFC 8259: strings with
 * valid escapes and UTF-8, no U+0000, paired surrogates; numbers; literals;
 * nesting at most ENVSCAN_MAX_DEPTH; white space around) and fills h with
 * the top-level "envelope_id" and "type" and the "type" inside the top-level
 * "payload" object. A value is picked out only if it is a string of printable
 * ASCII without escapes that fits its field; otherwise the field stays "".
 * Duplicate keys: the last one wins, as in jansson; a key with escapes at
 * either level sets uncertain (callers then use jansson). Integers of 19
 * digits or more and exponents past 300 are refused (jansson may not hold
 * them). Returns 0, or -1 when the text is not a well-formed JSON object (or
 * has such a number). Never allocates.
 */
#define ENVSCAN_MAX_DEPTH 64
int envelope_scan(const char *s, size_t n, struct envelope_head *h);

#endif
