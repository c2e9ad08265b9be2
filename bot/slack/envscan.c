#include "bot/slack/envscan.h"
#include "bot/lib/text.h"

#include <stdint.h>
#include <string.h>

/*
 * A validating JSON scanner over a byte range: no tree, no allocation. It
 * accepts what jansson's json_loadb(..., 0) accepts for the shapes Slack
 * sends, so a frame the loop acked is one the worker can parse; the worker
 * still checks (jansson also refuses integers out of range, for instance).
 */

struct scan {
	const unsigned char *p, *end;
};

/* Where a string value goes, if it is one we keep. */
struct sink {
	char *out;
	size_t cap;
	bool escaped;   /* set when the string had an escape */
	bool prefix;    /* keep the leading printable ASCII, cut to fit */
};

static void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A string at sc->p (the opening quote). Plain ones are copied to the sink. */
static int scan_string(struct scan *sc, struct sink *sk)
{
	const unsigned char *start;
	bool plain = true;

	if (sc->p >= sc->end || *sc->p != '"')
		return -1;
	start = ++sc->p;
	while (sc->p < sc->end && *sc->p != '"') {
		unsigned char c = *sc->p;

		if (c < 0x20)
			return -1;
		if (c == '\\') {
			unsigned u, lo;

			plain = false;
			if (sk)
				sk->escaped = true;
			if (sc->end - sc->p < 2)
				return -1;
			c = sc->p[1];
			if (c != 'u') {
				if (!strchr("\"\\/bfnrt", c) || c == '\0')
					return -1;
				sc->p += 2;
				continue;
			}
			if (sc->end - sc->p < 6 || hex4(sc->p + 2, &u) < 0 || u == 0)
				return -1;
			sc->p += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return -1;           /* a lone low surrogate */
			if (u >= 0xd800 && u <= 0xdbff) {
				if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' ||
				    hex4(sc->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				sc->p += 6;
			}
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_char_len(sc->p, (size_t)(sc->end - sc->p));

			if (!k)
				return -1;
			plain = false;
			sc->p += k;
			continue;
		}
		if (c == 0x7f)
			plain = false;   /* DEL: not printable */
		sc->p++;
	}
	if (sc->p >= sc->end)
		return -1;
	if (sk) {
		size_t len = (size_t)(sc->p - start);

		if (plain && len < sk->cap) {
			memcpy(sk->out, start, len);
			sk->out[len] = '\0';
		} else if (sk->prefix) {
			size_t k = 0;

			while (k < len && k + 1 < sk->cap && start[k] >= 0x20 && start[k] < 0x7f && start[k] != '\\')
				k++;
			memcpy(sk->out, start, k);
			sk->out[k] = '\0';
		} else {
			sk->out[0] = '\0';
		}
	}
	sc->p++;   /* the closing quote */
	return 0;
}

/*
 * JSON's number syntax, and what jansson can hold: an integer of 19 digits
 * or more may not fit a long long, a number whose integer digits and
 * exponent add up past 300 may overflow a double. Those are refused here (a frame with one takes the loop's jansson
 * path, as before), so the worker never meets a frame the loop acked but
 * jansson cannot read.
 */
static int scan_number(struct scan *sc)
{
	const unsigned char *p = sc->p, *e = sc->end, *int_start;
	ptrdiff_t int_len;

	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return -1;
	int_start = p;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	} else {
		return -1;
	}
	if (p - int_start > 18)
		return -1;
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	int_len = p - int_start;
	if (p < e && (*p == 'e' || *p == 'E')) {
		int ex = 0;
		bool negative = false;

		p++;
		if (p < e && (*p == '+' || *p == '-'))
			negative = *p++ == '-';
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9') {
			if (ex <= 300)
				ex = ex * 10 + (*p - '0');
			p++;
		}
		/* 1000000000e300 has a small exponent and still overflows */
		if (ex > 300 || (!negative && int_len - 1 + ex > 300))
			return -1;
	}
	sc->p = p;
	return 0;
}

static int scan_literal(struct scan *sc, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return -1;
	sc->p += n;
	return 0;
}

/* After a member or element: 1 for another (',' eaten), 0 at the close
 * (eaten), -1 for anything else. */
static int next_item(struct scan *sc, unsigned char close)
{
	skip_ws(sc);
	if (sc->p >= sc->end)
		return -1;
	if (*sc->p == ',' || *sc->p == close)
		return *sc->p++ == ',';
	return -1;
}

/*
 * level 0 is the frame itself, level 1 the top-level "payload" object; other
 * objects keep nothing (h == NULL).
 */
static int scan_value(struct scan *sc, int depth, struct envelope_head *h, int level,
		      struct sink *sk);

static int scan_object(struct scan *sc, int depth, struct envelope_head *h, int level)
{
	char key[16];
	struct sink ksink = { key, sizeof(key), false };
	int r;

	if (depth > ENVSCAN_MAX_DEPTH)
		return -1;
	sc->p++;   /* '{' */
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return 0;
	}
	for (;;) {
		struct sink vsink = { NULL, 0 }, *vs = NULL;
		struct envelope_head *sub = NULL;
		int sublevel = -1;

		skip_ws(sc);
		ksink.escaped = false;
		if (scan_string(sc, h ? &ksink : NULL) < 0)
			return -1;
		/* "typ\u0065" is "type" to jansson: do not guess, say so */
		if (h && ksink.escaped)
			h->uncertain = true;
		skip_ws(sc);
		if (sc->p >= sc->end || *sc->p != ':')
			return -1;
		sc->p++;
		skip_ws(sc);
		if (h && level == 0 && strcmp(key, "envelope_id") == 0) {
			vsink = (struct sink){ h->envelope_id, sizeof(h->envelope_id) };
			vs = &vsink;
		} else if (h && strcmp(key, "type") == 0) {
			vsink = level == 0 ? (struct sink){ h->type, sizeof(h->type) }
					   : (struct sink){ h->payload_type, sizeof(h->payload_type) };
			vs = &vsink;
		} else if (h && level == 1 && strcmp(key, "text") == 0) {
			vsink = (struct sink){ h->payload_text, sizeof(h->payload_text), false, true };
			vs = &vsink;
		} else if (h && level == 0 && strcmp(key, "payload") == 0) {
			sub = h;
			sublevel = 1;
			h->has_payload = sc->p < sc->end && *sc->p == '{';
			h->payload_type[0] = '\0';
			h->payload_text[0] = '\0';
		}
		if (vs && (sc->p >= sc->end || *sc->p != '"'))
			vs->out[0] = '\0';   /* not a string: nothing kept */
		if (scan_value(sc, depth, sub, sublevel, vs && sc->p < sc->end && *sc->p == '"' ? vs : NULL) < 0)
			return -1;
		if ((r = next_item(sc, '}')) != 1)
			return r;
	}
}

static int scan_array(struct scan *sc, int depth)
{
	int r;

	if (depth > ENVSCAN_MAX_DEPTH)
		return -1;
	sc->p++;   /* '[' */
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == ']') {
		sc->p++;
		return 0;
	}
	for (;;) {
		skip_ws(sc);
		if (scan_value(sc, depth, NULL, -1, NULL) < 0)
			return -1;
		if ((r = next_item(sc, ']')) != 1)
			return r;
	}
}

static int scan_value(struct scan *sc, int depth, struct envelope_head *h, int level,
		      struct sink *sk)
{
	if (sc->p >= sc->end)
		return -1;
	switch (*sc->p) {
	case '{':
		return scan_object(sc, depth + 1, level >= 0 ? h : NULL, level);
	case '[':
		return scan_array(sc, depth + 1);
	case '"':
		return scan_string(sc, sk);
	case 't':
		return scan_literal(sc, "true");
	case 'f':
		return scan_literal(sc, "false");
	case 'n':
		return scan_literal(sc, "null");
	default:
		return scan_number(sc);
	}
}

int envelope_scan(const char *s, size_t n, struct envelope_head *h)
{
	struct scan sc = { (const unsigned char *)s, (const unsigned char *)s + n };

	memset(h, 0, sizeof(*h));
	if (!s)
		return -1;
	skip_ws(&sc);
	if (sc.p >= sc.end || *sc.p != '{')
		return -1;
	if (scan_object(&sc, 1, h, 0) < 0) {
		memset(h, 0, sizeof(*h));
		return -1;
	}
	skip_ws(&sc);
	if (sc.p != sc.end) {
		memset(h, 0, sizeof(*h));
		return -1;
	}
	return 0;
}
