#include "bot/lib/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *viva_strerror(int err)
{
	switch (err) {
	case VIVA_OK:        return "ok";
	case VIVA_EINVAL:    return "invalid argument";
	case VIVA_ENOENT:    return "not found";
	case VIVA_EIO:       return "i/o error";
	case VIVA_EPARSE:    return "malformed input";
	case VIVA_ETIMEOUT:  return "timed out";
	case VIVA_EREMOTE:   return "remote error";
	case VIVA_EAUTH:     return "unauthorized";
	case VIVA_EDENIED:   return "not allowed";
	case VIVA_EBUSY:     return "busy";
	case VIVA_EDUP:      return "already done";
	case VIVA_ECONFLICT: return "conflict";
	case VIVA_ERANGE:    return "out of range";
	case VIVA_EUNAVAIL:  return "unavailable";
	case VIVA_EDEFERRED: return "deferred";
	}
	return "unknown error";
}

void viva_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}
