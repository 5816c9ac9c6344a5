/* SPDX-License-Identifier: MIT */
/* Process life of the daemon: detaching from the terminal, signals. */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void	(*term_cb)(void);
static void	(*hup_cb)(void);

/* Detaches from the terminal; returns in the child only. */
int
daemon_detach(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return -1;
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		return -1;
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Raises the soft RLIMIT_NOFILE towards WANT. */
long
daemon_raise_nofile(long want)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > (rlim_t)want) ? (rlim_t)want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY ? want : (long)rl.rlim_cur;
}

/* Only the async-signal-safe terminate call: no stdio, malloc or logging. */
static void
on_signal(int sig)
{
	int	saved = errno;

	if (sig == SIGHUP) {
		if (hup_cb != NULL)
			hup_cb();
	} else if (term_cb != NULL)
		term_cb();
	errno = saved;
}

/* Installs the daemon's signal dispositions. */
int
daemon_signals(void (*on_term)(void), void (*on_hup)(void))
{
	struct sigaction	sa;

	term_cb = on_term;
	hup_cb = on_hup;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* Abyss writes with send(..., 0): a client that goes away early
	 * would otherwise kill the daemon. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	sa.sa_handler = on_signal;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		return -1;
	return 0;
}
