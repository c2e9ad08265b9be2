/* Files and medians for the benchmarks (see util.h). */
#include "bench/util.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

char *bench_read_file(const char *path, size_t *len)
{
	char *buf = NULL;

	*len = 0;
	return read_file_max(path, (size_t)256 << 20, &buf, len) == VIVA_OK ? buf : NULL;
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
	double *s, m;

	if (n <= 0)
		return 0;
	s = malloc((size_t)n * sizeof(*s));
	if (!s)
		return 0;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), bench_cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

double bench_min(const double *v, int n)
{
	double m = n > 0 ? v[0] : 0;

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double bench_max(const double *v, int n)
{
	double m = n > 0 ? v[0] : 0;

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

int bench_exec_blocks(const char *path, const char *who, int max_msgs, void (*fn)(json_t *block, void *ud),
		      void *ud, int *messages)
{
	size_t len = 0, off = 0;
	char *buf = bench_read_file(path, &len);
	int rc = 0;

	*messages = 0;
	if (!buf)
		return -1;
	for (int i = 0; i < max_msgs && off < len; i++) {
		json_error_t e;
		json_t *msg, *blk;
		size_t j;

		while (off < len && (buf[off] == '\n' || buf[off] == ' '))
			off++;
		if (off >= len)
			break;
		msg = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &e);
		if (!msg) {
			fprintf(stderr, "%s: the reply is not JSON at byte %zu: %s\n", who, off, e.text);
			rc = -1;
			break;
		}
		off += (size_t)e.position;
		(*messages)++;
		json_array_foreach(json_object_get(msg, "blocks"), j, blk)
			fn(blk, ud);
		json_decref(msg);
	}
	free(buf);
	return rc;
}
