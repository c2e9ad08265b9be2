#ifndef VIVA_BOT_LIB_QUANTITY_H
#define VIVA_BOT_LIB_QUANTITY_H

#include <stdint.h>

/*
 * Kubernetes resource quantities, as pipeline specs write them.
 *
 * CPU: "2", "0.05", "50m" -> millicores (must be a whole number of
 * millicores, > 0). Memory: plain bytes, decimal suffixes k M G T P E,
 * binary Ki Mi Gi Ti Pi Ei, and (as platform teams write them) KB MB GB TB
 * taken as the binary Ki Mi Gi Ti -> bytes (> 0). Plain decimals only (no
 * '+', exponents, ".5" or "5."); a leading '-' reads as "not positive".
 */

/* Why a text is not a quantity; validators turn each into its own message. */
enum quantity_fault {
	QUANTITY_OK = 0,
	QUANTITY_SYNTAX,        /* not a quantity at all */
	QUANTITY_FRACTION,      /* finer than 1 millicore / 1 byte */
	QUANTITY_NOT_POSITIVE,  /* zero or negative */
	QUANTITY_TOO_LARGE,     /* past INT64_MAX */
};

/* The value into *out (may be NULL; 0 unless QUANTITY_OK). s may be NULL. */
enum quantity_fault quantity_cpu_check(const char *s, int64_t *millicores);
enum quantity_fault quantity_memory_check(const char *s, int64_t *bytes);

/* The same as viva error codes: VIVA_OK, VIVA_EINVAL when not a quantity
 * (or too fine), VIVA_ERANGE when not positive or too large. */
int quantity_cpu_parse(const char *s, int64_t *millicores);
int quantity_memory_parse(const char *s, int64_t *bytes);

/*
 * The canonical Kubernetes text of a quantity (what the API server writes
 * back, so applying it twice changes nothing), into buf of at least
 * QUANTITY_BUF bytes; returns buf.
 *   CPU: whole cores as "2", else millicores "50m", "1500m".
 *   Memory: the shorter of the binary form (the largest of Ki..Ei that
 *   divides it: 1024MB -> "1Gi", 1536MB -> "1536Mi") and the decimal one
 *   (k..E: 1G -> "1G"), binary on a tie; plain bytes when neither divides.
 */
enum { QUANTITY_BUF = 32 };
char *quantity_cpu_format(int64_t millicores, char *buf);
char *quantity_memory_format(int64_t bytes, char *buf);

#endif
