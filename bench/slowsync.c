/* SPDX-License-Identifier: MIT */
/*
 * slowsync -- an LD_PRELOAD shim that makes every fsync() and fdatasync()
 * of a process cost SLOWSYNC_US microseconds more (default 2000), one at
 * a time, as a disk whose cache flush takes that long and serves one
 * flush at a time (the local SSD or disk of a real server; this machine's
 * virtual disk flushes in about 0.1 ms).  For benchmarks only: it shows
 * what a design's number of flushes costs there.
 *
 *     cc -O2 -shared -fPIC -o slowsync.so bench/slowsync.c -ldl -pthread
 *     LD_PRELOAD=$PWD/slowsync.so SLOWSYNC_US=2000 lockd ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t	flush = PTHREAD_MUTEX_INITIALIZER;

/* The flush: the real call, then the device's time, one at a time. */
static int
slow(const char *name, int fd)
{
	static long	 us = -1;
	int		(*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
	struct timespec	 ts;
	const char	*v;
	int		 rc;

	if (us == -1)
		us = (v = getenv("SLOWSYNC_US")) != NULL ? atol(v) : 2000;
	pthread_mutex_lock(&flush);
	rc = real(fd);
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&flush);
	return rc;
}

int
fsync(int fd)
{
	return slow("fsync", fd);
}

int
fdatasync(int fd)
{
	return slow("fdatasync", fd);
}
