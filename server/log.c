/* SPDX-License-Identifier: MIT */
/* Logging of the daemon: stderr in the foreground, syslog otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_dest { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

static enum log_dest	 log_dest = LOG_TO_STDERR;
static volatile int	 log_verbose;
static int		 log_fd = -1;		/* LOG_TO_FILE */
static char		 log_path[4096];

/* Starts logging to stderr. */
void
log_init(int verbose)
{
	log_dest = LOG_TO_STDERR;
	log_verbose = verbose;
}

/* Switches to syslog or a file once detached. */
int
log_open(const char *target, uid_t owner, gid_t group)
{
	if (strcmp(target, "syslog") == 0) {
		openlog("lockd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_dest = LOG_TO_SYSLOG;
		return 0;
	}
	if (snprintf(log_path, sizeof(log_path), "%s", target) >=
	    (int)sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (log_fd == -1)
		return -1;
	if (owner != (uid_t)-1 && fchown(log_fd, owner, group) == -1) {
		close(log_fd);
		log_fd = -1;
		return -1;
	}
	log_dest = LOG_TO_FILE;
	return 0;
}

/*
 * Reopens the log file after rotation.  dup2() swaps the new file in under
 * the same descriptor in one step, so threads logging meanwhile write to
 * the old file or the new one, never to a closed descriptor.
 */
int
log_reopen(void)
{
	int	fd;

	if (log_dest != LOG_TO_FILE)
		return 0;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (dup2(fd, log_fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* One line per write(): O_APPEND keeps concurrent lines whole. */
static void
log_to_file(const char *msg)
{
	char		line[8400], stamp[32];
	struct tm	tm;
	time_t		now = time(NULL);
	int		n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s lockd[%ld]: %s\n", stamp,
	    (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(log_fd, line, (size_t)n) == -1) {
		/* Nowhere left to report it. */
	}
}

/* Turns debug messages on or off. */
void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

static void vlog(int, const char *, va_list, int)
    __attribute__((format(printf, 2, 0)));

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
	switch (log_dest) {
	case LOG_TO_STDERR:
		fprintf(stderr, "lockd: %s\n", msg);
		break;
	case LOG_TO_SYSLOG:
		syslog(pri, "%s", msg);
		break;
	case LOG_TO_FILE:
		log_to_file(msg);
		break;
	}
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
