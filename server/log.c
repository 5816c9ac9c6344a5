/* SPDX-License-Identifier: MIT */
/*
 * Logging of the daemon: stderr in the foreground, syslog or a file once
 * detached; a file, too, when nobody listens on the syslog socket.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

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

/* Set by the reload thread, read by every thread: an int store. */
static volatile enum log_dest log_dest = LOG_TO_STDERR;
static volatile int	 log_verbose;
static int		 log_fd = -1;		/* LOG_TO_FILE; dup2()'ed
						   over, never closed */
static char		 log_path[4096];

/* Starts logging to stderr. */
void
log_init(int verbose)
{
	log_dest = LOG_TO_STDERR;
	log_verbose = verbose;
}

/*
 * Whether a syslog daemon takes messages on _PATH_LOG (/dev/log).  Without
 * one, syslog(3) drops every message without a word: the audit trail
 * would be lost.  glibc tries a datagram socket, then a stream one.
 */
static int
log_syslog_listens(void)
{
	static const int	types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un	sun;
	size_t			i;
	int			fd, ok = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
	for (i = 0; i < sizeof(types) / sizeof(types[0]) && !ok; i++) {
		if ((fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0)) == -1)
			continue;
		ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		close(fd);
	}
	return ok;
}

/* Opens TARGET for appending into log_path and *FD; 0, or -1 with errno. */
static int
log_open_file(const char *target, int *fd)
{
	if (strlen(target) >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (*fd == -1)
		return -1;
	snprintf(log_path, sizeof(log_path), "%s", target);
	return 0;
}

/* Switches to syslog or a file once detached; see log.h. */
int
log_open(const char *target, uid_t owner, gid_t group)
{
	int	fallback = 0;

	if (strcmp(target, "syslog") == 0) {
		if (log_syslog_listens()) {
			openlog("lockd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
			log_dest = LOG_TO_SYSLOG;
			return 0;
		}
		/* Still attached: whoever starts lockd reads this. */
		fprintf(stderr, "lockd: no syslog daemon listens on %s: "
		    "logging to %s instead\n", _PATH_LOG, LOG_FALLBACK_FILE);
		target = LOG_FALLBACK_FILE;
		fallback = 1;
	}
	if (log_open_file(target, &log_fd) == -1) {
		if (fallback)
			fprintf(stderr, "lockd: cannot open %s: %s (set \"log\" "
			    "to a file lockd may write, or start a syslog "
			    "daemon)\n", target, strerror(errno));
		return -1;
	}
	if (owner != (uid_t)-1 && fchown(log_fd, owner, group) == -1) {
		close(log_fd);
		log_fd = -1;
		return -1;
	}
	log_dest = LOG_TO_FILE;
	if (fallback)
		log_warnx("no syslog daemon listens on %s: logging here "
		    "instead (set \"log\" in the configuration to choose)",
		    _PATH_LOG);
	return 0;
}

/*
 * Moves logging to TARGET on SIGHUP, so that the reload's own messages
 * reach the new destination.  A new file is opened as the user lockd runs
 * as by now; what cannot be opened leaves logging where it is, and says
 * so there.
 */
int
log_switch(const char *target)
{
	char	was[sizeof(log_path)];
	int	fd;

	if (log_dest == LOG_TO_STDERR) {
		log_warnx("reload: log changed to %s; in the foreground lockd "
		    "logs to stderr", target);
		return -1;
	}
	snprintf(was, sizeof(was), "%s",
	    log_dest == LOG_TO_SYSLOG ? "syslog" : log_path);
	if (strcmp(target, "syslog") == 0) {
		if (!log_syslog_listens()) {
			log_warnx("reload: no syslog daemon listens on %s; "
			    "logging stays in %s", _PATH_LOG, was);
			return -1;
		}
		log_info("reload: logging moves to syslog");
		openlog("lockd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_dest = LOG_TO_SYSLOG;
	} else {
		if (log_open_file(target, &fd) == -1) {
			log_warn("reload: cannot open log %s; logging stays in "
			    "%s (restart lockd to apply it)", target, was);
			return -1;
		}
		log_info("reload: logging moves to %s", target);
		/* Threads logging meanwhile write to one file or the other. */
		if (log_fd == -1)
			log_fd = fd;
		else if (dup2(fd, log_fd) == -1) {
			close(fd);
			log_warn("reload: cannot switch to log %s", target);
			return -1;
		} else
			close(fd);
		log_dest = LOG_TO_FILE;
	}
	log_info("reload: logging moved here from %s", was);
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

/* Logs FMT at priority PRI; see log.h. */
void
log_msg(int pri, int with_errno, const char *fmt, ...)
{
	va_list	ap;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vlog(pri, fmt, ap, with_errno);
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
