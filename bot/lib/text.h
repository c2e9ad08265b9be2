#ifndef VIVA_BOT_LIB_TEXT_H
#define VIVA_BOT_LIB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Kubernetes DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 chars. */
bool is_dns1123_label(const char *s);

/*
 * A copy of s (n bytes) that is valid UTF-8: every byte that does not start
 * a well-formed character becomes '?'. Text from a terminal (the console)
 * or a misbehaving client must not make JSON encoding fail later.
 */
char *utf8_sanitize(const char *s, size_t n);
/* Length (1..4) of the well-formed UTF-8 character at s, n >= 1 bytes
 * available; 0 if it is not one (overlong, surrogate, cut short) or a NUL. */
size_t utf8_char_len(const unsigned char *s, size_t n);

/*
 * Remote or user text for a one-line message: s (NULL: "") copied into buf
 * as printable ASCII (any other byte becomes '?'), at most max bytes
 * (bufsz - 1 at most); a longer text ends in "...". Returns buf.
 */
const char *text_shown(const char *s, char *buf, size_t bufsz, size_t max);

/*
 * A value quoted for an error message about a file someone wrote: "abc",
 * with '"' and '\\' escaped, newlines and tabs as \\n and \\t, other
 * control bytes as \\xNN, cut after max bytes (on a UTF-8 character
 * boundary) with "...". Caller frees.
 */
char *text_quote(const char *s, size_t max);

/*
 * Split a command line into words: blanks separate, "double" and 'single'
 * quotes group, backslash escapes inside double quotes. On success *argv is a
 * NULL-terminated array (free with argv_free) and *argc its length.
 * Returns VIVA_EINVAL for an unterminated quote, VIVA_ERANGE past max words.
 */
int argv_split(const char *line, int max, int *argc, char ***argv);
void argv_free(char **argv);

#endif
