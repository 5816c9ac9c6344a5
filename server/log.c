/* SPDX-License-Identifier: MIT */
/* Logging of the daemon: stderr in the foreground, syslog otherwise. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static int	log_stderr = 1;
static volatile int	log_verbose;

/* Starts logging; may be called again after daemonizing. */
void
log_init(int foreground, int verbose)
{
	log_stderr = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog("lockd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Turns debug messages on or off. */
void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

static void
vlog(int pri, const char *fmt, va_list ap, int with_errno)
{
	char	msg[8192];
	int	saved = errno;
	size_t	len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved));
	}
	if (log_stderr)
		fprintf(stderr, "lockd: %s\n", msg);
	else
		syslog(pri, "%s", msg);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/* Escapes untrusted S for a log line; see log.h. */
char *
log_escape(char *out, size_t size, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 o = 0;

	if (size < 8) {
		if (size > 0)
			out[0] = '\0';
		return out;
	}
	for (; *p != '\0'; p++) {
		if (o + 5 > size - 4) {		/* room for "...\0" */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '\\' || *p == '\'') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p >= 0x20 && *p != 0x7f)
			out[o++] = (char)*p;	/* ASCII or UTF-8 byte */
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		}
	}
	out[o] = '\0';
	return out;
}
