/* SPDX-License-Identifier: MIT */
/* The pidfile: written atomically, refused while another lockd runs. */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pidfile.h"

/* The pid recorded in PATH, or 0 if there is none that parses. */
static long
pidfile_read(const char *path)
{
	char	buf[32], *end;
	ssize_t	n;
	long	pid;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || pid <= 0 || pid > INT_MAX ||
	    (*end != '\n' && *end != '\0'))
		return 0;
	return pid;
}

/* Whether PID runs and is a lockd (not some process that reused it). */
static int
lockd_running(long pid)
{
	char	path[64], comm[64];
	FILE	*fp;
	int	is_lockd = 1;

	if (pid == (long)getpid())
		return 0;
	if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fgets(comm, sizeof(comm), fp) != NULL)
			is_lockd = strncmp(comm, "lockd", 5) == 0;
		fclose(fp);
	}
	return is_lockd;
}

/* Refuses when PATH names a running lockd. */
int
pidfile_check(const char *path, char *err, size_t errsize)
{
	long	old;

	if ((old = pidfile_read(path)) != 0 && lockd_running(old)) {
		snprintf(err, errsize, "lockd is already running as pid %ld "
		    "(pidfile %s)", old, path);
		return -1;
	}
	return 0;
}

/* Writes our pid to PATH atomically; see pidfile.h. */
int
pidfile_write(const char *path, uid_t owner, gid_t group, char *err,
    size_t errsize)
{
	char	tmp[PATH_MAX], buf[32];
	int	fd, len, e;

	if (pidfile_check(path, err, errsize) == -1)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errsize, "pidfile path too long: %s", path);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1)
		goto fail;
	if (write(fd, buf, (size_t)len) != len ||
	    (owner != (uid_t)-1 && fchown(fd, owner, group) == -1)) {
		e = errno;
		close(fd);
		goto fail_unlink;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		e = errno;
		goto fail_unlink;
	}
	return 0;
fail_unlink:
	unlink(tmp);
	errno = e;
fail:
	snprintf(err, errsize, "cannot write pidfile %s: %s", path,
	    strerror(errno));
	return -1;
}

/* Removes PATH if it still holds our pid. */
void
pidfile_remove(const char *path)
{
	if (pidfile_read(path) == (long)getpid())
		unlink(path);
}
