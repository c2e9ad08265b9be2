#ifndef VIVA_BENCH_UTIL_H
#define VIVA_BENCH_UTIL_H

#include <stddef.h>

/* What every benchmark in bench/ needs beside the launcher: files and medians. */

/* Write text to path, or say why on stderr and exit 1. */
void bench_write_file(const char *path, const char *text);
/* The whole of path (at most 256 MB, NUL-terminated; caller frees), or NULL. */
char *bench_read_file(const char *path, size_t *len);

/* qsort's comparison of doubles. */
int bench_cmp_double(const void *a, const void *b);
/* The median (the mean of the middle two for an even n), smallest, largest of n values; 0 when n <= 0. */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

#endif
