#include "bot/lib/util.h"
#include "bot/lib/err.h"
#include "bot/lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void oom(size_t n)
{
	log_error("out of memory", "bytes=%zu", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

char *xasprintf(const char *fmt, ...)
{
	struct strbuf sb;
	va_list ap;
	int n;

	sb_init(&sb);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return sb_detach(&sb);
	sb.buf = xrealloc(sb.buf, (size_t)n + 1);
	sb.cap = (size_t)n + 1;
	va_start(ap, fmt);
	vsnprintf(sb.buf, sb.cap, fmt, ap);
	va_end(ap);
	sb.len = (size_t)n;
	return sb_detach(&sb);
}

void sb_init(struct strbuf *sb)
{
	sb->cap = 64;
	sb->len = 0;
	sb->buf = xmalloc(sb->cap);
	sb->buf[0] = '\0';
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static void sb_grow(struct strbuf *sb, size_t extra)
{
	if (!sb->buf)
		sb_init(sb);
	if (sb->len + extra + 1 <= sb->cap)
		return;
	while (sb->len + extra + 1 > sb->cap)
		sb->cap *= 2;
	sb->buf = xrealloc(sb->buf, sb->cap);
}

void sb_add(struct strbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	sb_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *sb_detach(struct strbuf *sb)
{
	char *p;

	if (!sb->buf)
		sb_init(sb);
	p = sb->buf;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return p;
}

bool is_dns1123_label(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

bool is_slack_user_id(const char *s)
{
	size_t n;

	if (!s || (s[0] != 'U' && s[0] != 'W'))
		return false;
	/* The local console's user (bot/console.h) owns what it creates. */
	if (strcmp(s, "U_LOCAL") == 0)
		return true;
	n = strlen(s);
	if (n < 3 || n > 21)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

char *mrkdwn_user(const char *user_id)
{
	if (is_slack_user_id(user_id))
		return xasprintf("<@%s>", user_id);
	return mrkdwn_escape(user_id ? user_id : "someone");
}

char *mrkdwn_escape(const char *s)
{
	struct strbuf sb;

	sb_init(&sb);
	for (; s && *s; s++) {
		switch (*s) {
		case '&': sb_adds(&sb, "&amp;"); break;
		case '<': sb_adds(&sb, "&lt;"); break;
		case '>': sb_adds(&sb, "&gt;"); break;
		default: sb_addc(&sb, *s);
		}
	}
	return sb_detach(&sb);
}

size_t utf8_char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return c ? 1 : 0;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

char *utf8_sanitize(const char *s, size_t n)
{
	struct strbuf sb;
	size_t i = 0;

	sb_init(&sb);
	while (i < n && s[i]) {
		size_t k = utf8_char_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			sb_addc(&sb, '?');
			i++;
		} else {
			sb_add(&sb, s + i, k);
			i += k;
		}
	}
	return sb_detach(&sb);
}

size_t mrkdwn_fit(const char *s, size_t n, size_t budget)
{
	size_t used = 0, i = 0, last_ok = 0;

	while (i < n && s[i]) {
		size_t w = s[i] == '&' ? 5 : (s[i] == '<' || s[i] == '>') ? 4 : 1;
		if (used + w > budget)
			break;
		used += w;
		i++;
		/* only ever stop before the first byte of a character */
		if (i >= n || !s[i] || ((unsigned char)s[i] & 0xC0) != 0x80)
			last_ok = i;
	}
	return last_ok;
}

int argv_split(const char *line, int max, int *argc, char ***argv)
{
	char **v = xcalloc((size_t)max + 1, sizeof(*v));
	struct strbuf w;
	int n = 0, err = VIVA_OK;
	const char *p = line ? line : "";

	sb_init(&w);
	for (;;) {
		bool have = false;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		w.len = 0;
		w.buf[0] = '\0';
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p && *p != q) {
					if (q == '"' && *p == '\\' && p[1])
						p++;
					sb_addc(&w, *p++);
				}
				if (*p != q) {
					err = VIVA_EINVAL;
					goto out;
				}
				p++;
				have = true;
				continue;
			}
			sb_addc(&w, *p++);
			have = true;
		}
		if (!have)
			continue;
		if (n >= max) {
			err = VIVA_ERANGE;
			goto out;
		}
		v[n++] = xstrndup(w.buf, w.len);
	}
out:
	sb_release(&w);
	if (err) {
		argv_free(v);
		*argv = NULL;
		*argc = 0;
		return err;
	}
	*argv = v;
	*argc = n;
	return VIVA_OK;
}

void argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int64_t now_ms_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct strbuf sb;
	char chunk[8192];
	size_t n;
	int err = VIVA_OK;

	*out = NULL;
	if (len)
		*len = 0;
	if (!f)
		return errno == ENOENT ? VIVA_ENOENT : VIVA_EIO;
	sb_init(&sb);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sb_add(&sb, chunk, n);
	if (ferror(f))
		err = VIVA_EIO;
	fclose(f);
	if (err) {
		sb_release(&sb);
		return err;
	}
	if (len)
		*len = sb.len;
	*out = sb_detach(&sb);
	return VIVA_OK;
}

/* glibc 2.36 has no sched_setattr wrapper; this is the kernel's ABI
 * (include/uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER0). */
struct viva_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;  /* SCHED_OTHER: the requested slice, ns */
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static int set_sched(unsigned policy, int nice, uint64_t runtime_ns)
{
#ifdef SYS_sched_setattr
	struct viva_sched_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.sched_policy = policy;
	a.sched_nice = nice;
	a.sched_runtime = runtime_ns;
	return (int)syscall(SYS_sched_setattr, 0, &a, 0);
#else
	(void)policy; (void)nice; (void)runtime_ns;
	errno = ENOSYS;
	return -1;
#endif
}

static int base_nice;

void thread_sched_init(void)
{
	errno = 0;
	base_nice = getpriority(PRIO_PROCESS, 0);
	if (errno)
		base_nice = 0;
}

int thread_sched_latency(unsigned slice_us, int nice_delta)
{
	int want = base_nice + nice_delta;

	if (want < -20)
		want = -20;
	/* A lower nice needs CAP_SYS_NICE; without it keep the slice alone. */
	if (set_sched(SCHED_OTHER, want, (uint64_t)slice_us * 1000) == 0)
		return 0;
	return set_sched(SCHED_OTHER, base_nice, (uint64_t)slice_us * 1000);
}

int thread_sched_batch(void)
{
	return set_sched(SCHED_BATCH, base_nice, 0);
}

int thread_sched_realtime(int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	return sched_setscheduler(0, SCHED_FIFO, &sp);
}

int thread_sched_default(void)
{
	return set_sched(SCHED_OTHER, base_nice, 0);
}

int thread_create_normal(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	struct sched_param sp = { .sched_priority = 0 };
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &sp);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}
