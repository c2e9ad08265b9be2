#ifndef VIVA_BENCH_UTIL_H
#define VIVA_BENCH_UTIL_H

#include <stddef.h>

#include <jansson.h>

/* What every benchmark in bench/ needs beside the launcher: files and medians. */

/* Write text to path, or say why on stderr and exit 1. */
void bench_write_file(const char *path, const char *text);
/* The whole of path (at most 256 MB, NUL-terminated; caller frees), or NULL. */
char *bench_read_file(const char *path, size_t *len);

/*
 * The blocks of `viva exec --json` output at path (its messages one after
 * another, at most max_msgs read): fn(block, ud) for each block of each
 * message, and the number of messages in *messages. 0, or -1 when the file
 * cannot be read or a message is not JSON (said on stderr, as `who`).
 */
int bench_exec_blocks(const char *path, const char *who, int max_msgs, void (*fn)(json_t *block, void *ud),
		      void *ud, int *messages);

/* qsort's comparison of doubles. */
int bench_cmp_double(const void *a, const void *b);
/* The median (the mean of the middle two for an even n), smallest, largest of n values; 0 when n <= 0. */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

#endif
