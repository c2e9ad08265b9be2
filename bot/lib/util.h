#ifndef VIVA_BOT_LIB_UTIL_H
#define VIVA_BOT_LIB_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Allocation that never returns NULL: out of memory logs one line and aborts
 * (error paths in viva cover I/O and remote failures, not malloc).
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);            /* NULL -> NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overwrite a secret (token, password) before freeing it; NULL is fine. */
void free_secret(char *s);

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
/* Give the buffer to the caller (caller frees); sb is empty afterwards. */
char *sb_detach(struct strbuf *sb);

/* Kubernetes DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 chars. */
bool is_dns1123_label(const char *s);
/* Slack user id such as U012AB3CD or W012AB3CD (and the console's U_LOCAL). */
bool is_slack_user_id(const char *s);

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
 * How to show a user in mrkdwn: a mention <@U...> for a Slack user id,
 * escaped text for anything else ("scheduler", NULL -> "someone").
 * Caller frees.
 */
char *mrkdwn_user(const char *user_id);

/* Escape &, < and > for Slack mrkdwn. Returns a new string (caller frees). */
char *mrkdwn_escape(const char *s);
/*
 * How many bytes of s (at most n) fit in `budget` characters once escaped for
 * mrkdwn, cut on a UTF-8 character boundary: for splitting or clipping text
 * that must stay within a Block Kit limit after escaping.
 */
size_t mrkdwn_fit(const char *s, size_t n, size_t budget);

/*
 * Split a command line into words: blanks separate, "double" and 'single'
 * quotes group, backslash escapes inside double quotes. On success *argv is a
 * NULL-terminated array (free with argv_free) and *argc its length.
 * Returns VIVA_EINVAL for an unterminated quote, VIVA_ERANGE past max words.
 */
int argv_split(const char *line, int max, int *argc, char ***argv);
void argv_free(char **argv);

/* Monotonic and wall-clock time. */
int64_t now_ms_mono(void);
int64_t now_unix(void);

/* Read a whole file (caller frees); VIVA_ENOENT / VIVA_EIO. */
int read_file(const char *path, char **out, size_t *len);

/*
 * Scheduling for the calling thread (Linux; best effort, never fatal). The
 * process's nice at thread_sched_init() is the base: threads go back to it,
 * never below it unless asked (lowering needs CAP_SYS_NICE).
 * thread_sched_latency(): a short EEVDF slice (Linux >= 6.12), so the thread
 * preempts busy threads as soon as it wakes instead of waiting up to a full
 * default slice; plus base+nice_delta when permitted, else the base.
 * thread_sched_batch(): SCHED_BATCH at the base nice, for throughput threads
 * that should not preempt on wake-up. thread_sched_realtime(): SCHED_FIFO
 * (needs CAP_SYS_NICE or RLIMIT_RTPRIO). thread_sched_default(): SCHED_OTHER
 * at the base nice and the default slice.
 * All return 0 when applied, -1 (errno set) when the kernel refused.
 */
void thread_sched_init(void);
int thread_sched_latency(unsigned slice_us, int nice_delta);
int thread_sched_batch(void);
int thread_sched_realtime(int prio);
int thread_sched_default(void);
/*
 * pthread_create with SCHED_OTHER set explicitly, so a thread started by a
 * SCHED_FIFO thread does not inherit its policy (nice is still inherited:
 * the new thread calls thread_sched_batch/default). Returns pthread_create's.
 */
int thread_create_normal(pthread_t *t, bool detached, void *(*fn)(void *), void *arg);

#endif
