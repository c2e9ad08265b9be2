#include "bot/lib/log.h"
#include "bot/lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static int log_fd = 2;

void log_set_level(enum log_level lvl) { cur_level = lvl; }
enum log_level log_get_level(void) { return cur_level; }
void log_set_fd(int fd) { log_fd = fd; }

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = { "debug", "info", "warn", "error", "off" };
	for (int i = 0; i <= LOG_OFF; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return VIVA_OK;
		}
	return VIVA_EINVAL;
}

void log_emit(enum log_level lvl, const char *msg, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error", "off" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s msg=\"%s\"",
		     ts.tv_nsec / 1000000, names[lvl], msg);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k : sizeof(line) - n - 1;
	if (fmt && *fmt && n < sizeof(line) - 2) {
		va_list ap;
		line[n++] = ' ';
		va_start(ap, fmt);
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (k > 0)
			n += (size_t)k < sizeof(line) - n ? (size_t)k : sizeof(line) - n - 1;
	}
	/* One line per event, even if a value carried a newline. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A single write keeps lines from different threads whole. */
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
}
