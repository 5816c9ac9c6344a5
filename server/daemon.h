/* SPDX-License-Identifier: MIT */
/* Process life of the daemon: detaching from the terminal, signals. */
#ifndef DAEMON_H
#define DAEMON_H

/* Detaches: fork, setsid, chdir /, stdio to /dev/null.  Returns in the
 * child only; -1 with errno on failure. */
int	daemon_detach(void);

/*
 * Raises the soft limit on open files to at least WANT (as far as the hard
 * limit allows).  Returns the resulting soft limit, or -1 with errno.
 */
long	daemon_raise_nofile(long want);

/* Ignores SIGPIPE, makes SIGTERM/SIGINT call ON_TERM and SIGHUP call
 * ON_HUP; both callbacks must be async-signal-safe. */
int	daemon_signals(void (*on_term)(void), void (*on_hup)(void));

#endif /* DAEMON_H */
