#ifndef VIVA_BOT_LIB_LOG_H
#define VIVA_BOT_LIB_LOG_H

/*
 * One line per event, logfmt: `ts=... level=info msg="..." key=value ...`.
 * The caller writes the key=value part itself with the format string:
 *   log_info("envelope acked", "type=%s id=%s", type, id);
 * The level is checked before anything is formatted. Never pass a token or a
 * whole payload.
 */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* "debug", "info", "warn", "error", "off" -> 0 on success, VIVA_EINVAL else. */
int log_level_parse(const char *s, enum log_level *out);
/* Send log lines to fd (default 2). */
void log_set_fd(int fd);

void log_emit(enum log_level lvl, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, msg, ...) \
	do { if ((lvl) >= log_get_level()) log_emit((lvl), (msg), __VA_ARGS__); } while (0)
#define log_debug(msg, ...) log_at(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_at(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)

#endif
