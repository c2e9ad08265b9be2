#ifndef VIVA_BOT_LIB_STRBUF_H
#define VIVA_BOT_LIB_STRBUF_H

#include <stddef.h>

/* Growable string, always NUL-terminated. Embedded: sb_init/sb_release. */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
void sb_init(struct strbuf *sb);
void sb_release(struct strbuf *sb);
void sb_add(struct strbuf *sb, const char *s, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s percent-encoded for a URL query or a form body: RFC 3986's unreserved
 * characters as they are, every other byte as %XX. */
void sb_add_pct(struct strbuf *sb, const char *s);
/*
 * One field of an application/x-www-form-urlencoded body: "&" when sb is
 * not empty, then key=value, both percent-encoded (every byte but
 * A-Z a-z 0-9 - . _ ~ becomes %XX; a space is %20).
 */
void sb_add_form(struct strbuf *sb, const char *key, const char *value);
/* Give the buffer to the caller (caller frees); sb is empty afterwards. */
char *sb_detach(struct strbuf *sb);

#endif
