/* SPDX-License-Identifier: MIT */
/*
 * Logging of the daemon: stderr in the foreground, syslog or a file once
 * detached; a file, too, when nobody listens on the syslog socket.
 */
#ifndef LOG_H
#define LOG_H

#include <sys/types.h>

#include <stddef.h>
#include <syslog.h>

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif
/* Where "log syslog" goes when no syslog daemon listens on /dev/log. */
#define LOG_FALLBACK_FILE	LOCALSTATEDIR "/log/lockd.log"

#define LOG_ATTR(f, a)	__attribute__((format(printf, f, a)))

/* Starts logging to stderr; VERBOSE also logs debug messages. */
void	log_init(int verbose);

/*
 * Switches to TARGET once detached: "syslog" (LOG_DAEMON) or the absolute
 * path of a file, opened for appending and given to OWNER (unless it is
 * (uid_t)-1) so that it can be reopened after root is dropped.  "syslog"
 * with no syslog daemon listening on /dev/log says so on stderr and logs
 * to LOG_FALLBACK_FILE instead.  0, or -1 with errno.
 */
int	log_open(const char *target, uid_t owner, gid_t group);

/*
 * Moves logging to TARGET ("syslog" or a file) on a reload.  0, or -1
 * when logging stays where it was (in the foreground, no syslog daemon,
 * a file that cannot be opened); the reason is logged either way.
 */
int	log_switch(const char *target);

/* Reopens the log file after rotation (SIGHUP); 0, or -1 with errno. */
int	log_reopen(void);

/* Turns debug messages on or off (SIGHUP may change it). */
void	log_set_verbose(int verbose);

/*
 * Logs at syslog priority PRI (LOG_DEBUG only when verbose), with
 * ": strerror(errno)" appended when WITH_ERRNO; errno is preserved.
 * Callers use the four macros: log_warn appends strerror, the rest not.
 */
void	log_msg(int pri, int with_errno, const char *, ...) LOG_ATTR(3, 4);
#define log_warn(...)	log_msg(LOG_WARNING, 1, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_WARNING, 0, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, 0, __VA_ARGS__)

/* Logs and exits 1; only during startup or on a broken invariant. */
void	fatal(const char *, ...) LOG_ATTR(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_ATTR(1, 2) __attribute__((noreturn));

/*
 * Copies untrusted S into OUT (SIZE bytes) with every byte that is not
 * printable ASCII or UTF-8 written as \xNN and '\\' and '\'' escaped;
 * a long string is cut with "...".  Returns OUT.
 */
char	*log_escape(char *out, size_t size, const char *s);

#endif /* LOG_H */
