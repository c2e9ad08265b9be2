#ifndef VIVA_BOT_LIB_ERR_H
#define VIVA_BOT_LIB_ERR_H

#include <stddef.h>

/*
 * One error space for all of viva: functions return 0 on success or one of
 * these negative codes. bool is kept for predicates only.
 */
enum viva_err {
	VIVA_OK        = 0,
	VIVA_EINVAL    = -1,  /* bad argument or bad input from a user */
	VIVA_ENOENT    = -2,  /* no such thing (service, template, row) */
	VIVA_EIO       = -3,  /* local I/O failed (file, database) */
	VIVA_EPARSE    = -4,  /* malformed input (JSON, YAML, template) */
	VIVA_ETIMEOUT  = -5,  /* an outside call did not answer in time */
	VIVA_EREMOTE   = -6,  /* an outside system answered with an error */
	VIVA_EAUTH     = -7,  /* credentials refused by an outside system */
	VIVA_EDENIED   = -8,  /* the user is not allowed to do this */
	VIVA_EBUSY     = -9,  /* queue full, lock held, try later */
	VIVA_EDUP      = -10, /* already done (duplicate envelope, click) */
	VIVA_ECONFLICT = -11, /* state changed under us */
	VIVA_ERANGE    = -12, /* value out of range or too large */
	VIVA_EUNAVAIL  = -13, /* dependency not configured or not reachable */
	VIVA_EDEFERRED = -14, /* not done yet: kept and tried again later */
};

/* A short, lower-case description; never NULL. */
const char *viva_strerror(int err);

/*
 * Format a one-line error message into err (errlen bytes, cut to fit; err
 * may be NULL). Control characters become spaces, so a file name or a
 * quoted value cannot break the one-line contract of the caller's message.
 */
void viva_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
